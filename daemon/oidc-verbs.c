/*
 * What a logged-in end user's browser asks through the front end ("enduser.*"): a
 * limited-scope token, the embedded Assistant's token set, logout.  Each token goes through
 * the gate (gate_token), which queues it on the user's session (oidc.c).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "oidc.h"

/*
 * A token for the user of session sid, for a scope set the gate checked; w (copied) says what
 * happens next.  Called by gate_token only.
 */
void
oidc_user_token(const char *sid, const struct token_req *w, const char *scopes)
{
	oidc_queue(sid, w, scopes, 0);
}

/*
 * The embedded Assistant's credentials: the user's whole token set, refreshed once however
 * many tabs ask (the session's queue); its failures end in w->done.  Called by gate_token only.
 */
void
oidc_assistant_token(const char *sid, const struct token_req *w)
{
	oidc_queue(sid, w, "", 1);
}

/* The "enduser.token" verb's ending: an RFC 6749-shaped answer, held until the audit commit. */
static void
oidc_verbs_reply(const struct token_req *w, const struct token_grant *g, const struct token_fail *f)
{
	if (g == NULL) {
		token_fail_reply(&w->ctx, f);
		return;
	}
	hold_reply(&w->ctx, g->conn_id, json_pack("{sbsssssIss}", "ok", 1, "access_token",
	    g->token, "token_type", "Bearer", "expires_in", (json_int_t)g->expires_in, "scope",
	    g->scopes));
}

/* "enduser.token": session, scope?, remote? — a limited-scope token for the logged-in user. */
static void
oidc_verbs_token(const struct fg_reqctx *ctx, json_t *req)
{
	struct gate_pass gp = { .route = GATE_SESSION_TOKEN };

	if (json_object_get(req, "scope") == NULL)
		json_object_set_new(req, "scope", json_string("transcribe streams"));
	if (gate_open(ctx, &gp, req) == 0)
		gate_token(&gp, oidc_verbs_reply, NULL, req, 1);
	sodium_memzero(&gp, sizeof(gp));
}

/* "enduser.assistant": session, remote? — the Assistant's credentials for the logged-in user. */
static void
oidc_verbs_assistant(const struct fg_reqctx *ctx, json_t *req)
{
	struct gate_pass gp = { .route = GATE_ASSISTANT };

	if (gate_open(ctx, &gp, req) == 0)
		gate_token(&gp, oidc_verbs_reply, NULL, req, 1);
	sodium_memzero(&gp, sizeof(gp));
}

/* "enduser.logout": session — ends it here and revokes its refresh token upstream. */
static void
oidc_verbs_logout(const struct fg_reqctx *ctx, json_t *req)
{
	struct oidc_session	*s = oidc_session_get(json_string_value(json_object_get(req,
				    "session")));
	const char		*remote = json_string_value(json_object_get(req, "remote"));
	char			 actor[160], detail[80];
	struct audit_rec	 rec = { actor, "user.logout", NULL, NULL, NULL, "ok", NULL, NULL };

	if (s == NULL) {
		server_reply_error(ctx, "unauthenticated", "no user session");
		return;
	}
	snprintf(actor, sizeof(actor), "oidc:%s", s->username);
	snprintf(detail, sizeof(detail), "remote=%s", remote ? remote : "-");
	rec.app = s->app;
	rec.detail = detail;
	audit_append(&rec);
	oidc_session_revoke(s, "logout");
	server_reply(ctx, json_pack("{sb}", "ok", 1));
}

/* The entries of the end users' verbs (verbs.c). */
static const struct verb_field oidc_token_fields[] = {
	{ "session", VERB_STR, 1, 64 }, { "scope", VERB_STR, 0, 512 }, { "remote", VERB_STR, 0, 64 },
	VERB_FIELDS_END
};
const struct verb_entry oidc_token_entry = {
	.name = "enduser.token",
	.peers = PEER_WEB,
	.fn = oidc_verbs_token,
	.fields = oidc_token_fields
};
static const struct verb_field oidc_logout_fields[] = {
	{ "session", VERB_STR, 1, 64 }, { "remote", VERB_STR, 0, 64 }, VERB_FIELDS_END
};
const struct verb_entry oidc_logout_entry = {
	.name = "enduser.logout",
	.peers = PEER_WEB,
	.fn = oidc_verbs_logout,
	.fields = oidc_logout_fields
};
static const struct verb_field oidc_assistant_fields[] = {
	{ "session", VERB_STR, 1, 64 }, { "remote", VERB_STR, 0, 64 }, VERB_FIELDS_END
};
const struct verb_entry oidc_assistant_entry = {
	.name = "enduser.assistant",
	.peers = PEER_WEB,
	.fn = oidc_verbs_assistant,
	.fields = oidc_assistant_fields
};
