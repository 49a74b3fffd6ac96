/*
 * The "token" verb (RFC 6749 §4.4, and §4.3 for apps registered for ROPC): the request's shape,
 * then the gate, then token.c's cache; and the answers, a token held until its audit record
 * commits or an OAuth error.  The verb's table entry is here, next to its handler.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"

/* An error reply for a failed token request; 503s carry when to retry. */
void
token_fail_reply(const struct fg_reqctx *ctx, const struct token_fail *f)
{
	json_t *reply = json_pack("{sbssss}", "ok", 0, "error", f->code, "message",
	    f->message ? f->message : "");

	if (reply != NULL && strcmp(f->code, "temporarily_unavailable") == 0)
		json_object_set_new(reply, "retry_after", json_integer(f->retry_after > 0 ?
		    f->retry_after : 5));
	server_reply(ctx, reply);
}

/* The "token" verb's ending: the token as an RFC 6749 answer, held until the audit commit. */
static void
token_reply(const struct token_req *w, const struct token_grant *g, const struct token_fail *f)
{
	char	body[FG_TOKEN_MAX + FG_SCOPES_MAX + 128];
	size_t	len;
	int	n;

	if (g == NULL) {
		token_fail_reply(&w->ctx, f);
		return;
	}
	/* safe to print as JSON: the token is b64token characters, the scopes scope-tokens */
	n = snprintf(body, sizeof(body), "{\"ok\":true,\"access_token\":\"%s\",\"token_type\":"
	    "\"Bearer\",\"expires_in\":%ld,\"scope\":\"%s\"}", g->token, g->expires_in,
	    g->scopes);
	len = n > 0 ? (size_t)n : 0;
	hold_reply_raw(&w->ctx, g->conn_id, body, len < sizeof(body) ? len : 0);
	/* only what snprintf wrote (cut or not), not the whole 16 KiB buffer each time */
	sodium_memzero(body, len < sizeof(body) ? len : sizeof(body));
}

/* Refuse a request whose shape is wrong before it reaches the gate. */
static void
token_shape_refused(const struct fg_reqctx *ctx, json_t *req, const char *code,
    const char *message)
{
	const char		*cid = json_string_value(json_object_get(req, "client_id"));
	const char		*remote = json_string_value(json_object_get(req, "remote"));
	char			 actor[96];
	struct audit_rec	 rec = { actor, "token.refuse", NULL, NULL, NULL, code, message,
				    NULL };
	struct token_fail	 f = { code, message, 0 };

	snprintf(actor, sizeof(actor), "app:%.90s", cid ? cid : "-");
	token_count_refusal();
	refusal_note(&rec, remote ? remote : "-", "token");	/* before authentication */
	token_fail_reply(ctx, &f);
}

/* The "token" verb: the grant's shape, then the gate, then the token. */
static void
token_handle(const struct fg_reqctx *ctx, json_t *req)
{
	const char		*grant = json_string_value(json_object_get(req, "grant_type"));
	struct gate_pass	 p;
	int			 password = strcmp(grant, "password") == 0;

	if (!password && strcmp(grant, "client_credentials") != 0) {
		token_shape_refused(ctx, req, "unsupported_grant_type", "grant_type must be "
		    "client_credentials (or password for an app registered for ROPC)");
		return;
	}
	if (password && (json_object_get(req, "username") == NULL ||
	    json_object_get(req, "password") == NULL)) {
		token_shape_refused(ctx, req, "invalid_request", "grant_type password needs "
		    "username and password");
		return;
	}
	p.route = password ? GATE_ROPC : GATE_TOKEN;
	p.login_app_id = 0;
	realm_scope(req);
	if (gate_open(ctx, &p, req) == 0 && realm_check(&p, req) == 0)
		gate_token(&p, token_reply, NULL, req, 1);
	sodium_memzero(&p, sizeof(p));
}

/* The "token" verb's entry in the dispatcher's table (verbs.c). */
static const struct verb_field token_fields[] = {
	{ "client_id", VERB_STR, 1, 128 },
	{ "client_secret", VERB_STR, 1, 256 },
	{ "grant_type", VERB_STR, 1, 64 },
	{ "scope", VERB_STR, 0, 512 },
	{ "remote", VERB_STR, 0, 64 },
	{ "username", VERB_STR, 0, 256 },
	{ "password", VERB_STR, 0, 1024 },
	{ "tenant", VERB_STR, 0, FG_NAME_MAX },	/* the realm route's (realm.c) */
	VERB_FIELDS_END
};
const struct verb_entry token_verb_entry = {
	.name = "token",
	.peers = PEER_WEB | PEER_ADMIN,
	.fn = token_handle,
	.fields = token_fields
};
