/*
 * The WebSocket relay's question ("relay.authorize"): nginx relays /ws/{connection}/transcribe
 * and /ws/{connection}/streams/{interactionId} itself, after the gate let the caller open a
 * transcribe or stream session (routes transcribe_session and stream_session: their fixed,
 * limited scopes).  The reply carries the upstream WebSocket URL with the token in its query,
 * as Corti authenticates WebSockets, held until the issuance record is committed.  Every
 * opening is audited (relay.open, with the token's fingerprint, the relay ticket's if one was
 * used, and nginx's request id, which the relay's relay.close record names too: relayclose.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

#define RELAY_REPLY_MAX	(FG_TOKEN_MAX + 8192)

struct relay_op {
	char		 url[4096];	/* without the token */
	char		 kind[16];
	char		 tenant[FG_NAME_MAX + 1];
	char		 conn[FG_NAME_MAX + 1];
	char		 detail[160];	/* kind, the ticket's fingerprint, nginx's request id */
	char		 rid[33];	/* nginx's request id: relay.close finds the opener */
	int64_t		 conn_id;
};

/* The upstream URL of the relay: the API's host, https (nginx adds the Upgrade). */
static int
relay_url(struct relay_op *op, const struct conn_rec *c, const char *interaction)
{
	const char	*host = c->api_base + 8;	/* after "https://" */
	size_t		 n = strcspn(host, "/");
	int		 w;

	if (strncmp(c->api_base, "https://", 8) != 0 || n == 0)
		return -1;
	if (interaction == NULL)
		w = snprintf(op->url, sizeof(op->url), "https://%.*s/audio-bridge/v2/transcribe"
		    "?tenant-name=%s", (int)n, host, c->tenant);
	else
		w = snprintf(op->url, sizeof(op->url), "%s/interactions/%s/streams?tenant-name=%s",
		    c->api_base, interaction, c->tenant);
	return w > 0 && (size_t)w < sizeof(op->url) ? 0 : -1;
}

/* The token is audited: the URL with it, for nginx, held until the commit. */
static void
relay_authorized(const struct token_req *w, const struct token_grant *g,
    const struct token_fail *f)
{
	struct relay_op		*op = w->arg;
	static char		 body[RELAY_REPLY_MAX];
	struct audit_rec	 rec = { w->actor, "relay.open", w->app, op->conn, NULL,
				    "authorized", op->detail, NULL };
	int			 n;

	if (g == NULL) {
		token_fail_reply(&w->ctx, f);
		free(op);
		return;
	}
	rec.scopes = g->scopes;
	rec.token_fp = g->fp;
	audit_append(&rec);
	relayclose_note(op->rid, w->actor, w->app, op->conn, op->detail);
	/* URL, tenant and token are visible ASCII without quotes or backslashes (checked) */
	n = snprintf(body, sizeof(body), "{\"ok\":true,\"url\":\"%s&token=Bearer%%20%s\","
	    "\"tenant\":\"%s\"}", op->url, g->token, op->tenant);
	hold_reply_raw(&w->ctx, op->conn_id, body, n > 0 && (size_t)n < sizeof(body) ?
	    (size_t)n : 0);
	sodium_memzero(body, sizeof(body));
	free(op);
}

/* True when s is visible ASCII without '"', '\\', '&', '#' or '%' (a plain URL part). */
static int
relay_plain(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    strchr("\"\\&#%", *s) != NULL)
			return 0;
	return 1;
}

/*
 * A relay ticket in req, if any, consumed: it alone names the caller (relayticket.c), so the
 * gate then asks about its app.  -1 after refusing.
 */
static int
relay_ticket(const struct fg_reqctx *ctx, json_t *req, struct gate_pass *gp, char fp[FG_FP_LEN])
{
	static const char *const others[] = { "client_id", "client_secret", "session", "bearer" };
	size_t i;

	if (json_object_get(req, "ticket") == NULL)
		return 0;
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		json_object_del(req, others[i]);
	return relayticket_take(ctx, req, &gp->ticket_app_id, fp);
}

/* "relay.authorize": connection, kind (transcribe | streams), interaction? and the caller. */
static void
relay_verb(const struct fg_reqctx *ctx, json_t *req)
{
	const char		*kind = json_string_value(json_object_get(req, "kind"));
	const char		*want = json_string_value(json_object_get(req, "connection"));
	const char		*ia = json_string_value(json_object_get(req, "interaction"));
	int			 streams = strcmp(kind, "streams") == 0;
	const char		*rid = json_string_value(json_object_get(req, "request_id"));
	struct gate_pass	 gp = { .route = streams ? GATE_STREAM : GATE_TRANSCRIBE };
	struct relay_op		*op;
	struct conn_rec		 c;
	char			 tfp[FG_FP_LEN] = "";

	if ((!streams && strcmp(kind, "transcribe") != 0) || streams != (ia != NULL) ||
	    (ia != NULL && !fg_name_ok(ia, strlen(ia)))) {
		server_reply_error(ctx, "invalid_request", "kind is transcribe, or streams with "
		    "an interaction id");
		return;
	}
	if (rid != NULL && !relay_plain(rid)) {
		server_reply_error(ctx, "invalid_request", "request_id is not plain ASCII");
		return;
	}
	if (relay_ticket(ctx, req, &gp, tfp) == -1 || gate_open(ctx, &gp, req) == -1)
		return;
	if (connection_get_id(gp.app.connection_id, &c) == -1 || strcmp(c.name, want) != 0) {
		server_reply_error(ctx, "forbidden", "this app is not on that connection");
		return;
	}
	if ((op = calloc(1, sizeof(*op))) == NULL || relay_url(op, &c, ia) == -1 ||
	    !relay_plain(op->url + 8) || !relay_plain(c.tenant)) {
		free(op);
		server_reply_error(ctx, "server_error", "the connection's API base has no "
		    "WebSocket URL");
		return;
	}
	snprintf(op->kind, sizeof(op->kind), "%s", kind);
	snprintf(op->rid, sizeof(op->rid), "%s", rid ? rid : "");
	snprintf(op->detail, sizeof(op->detail), "%s%s%s%s%s", kind, tfp[0] ? " ticket=" : "",
	    tfp, rid ? " request=" : "", rid ? rid : "");
	snprintf(op->tenant, sizeof(op->tenant), "%s", c.tenant);
	snprintf(op->conn, sizeof(op->conn), "%s", c.name);
	op->conn_id = c.id;
	gate_token(&gp, relay_authorized, op, req, 1);
	sodium_memzero(&gp, sizeof(gp));
}

/* The "relay.authorize" verb's entry (verbs.c). */
static const struct verb_field relay_fields[] = {
	{ "client_id", VERB_STR, 0, 128 }, { "client_secret", VERB_STR, 0, 256 },
	{ "session", VERB_STR, 0, 64 }, { "bearer", VERB_STR, 0, FG_TOKEN_MAX },
	{ "connection", VERB_STR, 1, FG_NAME_MAX }, { "kind", VERB_STR, 1, 15 },
	{ "interaction", VERB_STR, 0, FG_NAME_MAX }, { "remote", VERB_STR, 0, 64 },
	{ "ticket", VERB_STR, 0, 64 }, { "request_id", VERB_STR, 0, 64 },
	VERB_FIELDS_END
};
const struct verb_entry relay_authorize_entry = {
	.name = "relay.authorize",
	.peers = PEER_WEB | PEER_ADMIN,
	.fn = relay_verb,
	.fields = relay_fields
};
