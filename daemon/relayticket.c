/*
 * Relay tickets ("relay.ticket"): an app backend asks, through the gate (route relay_ticket),
 * for a single-use, short-lived ticket a browser on another origin presents when it opens
 * /ws/{connection}/transcribe or /ws/{connection}/streams/{id}.  Only the ticket's fingerprint
 * is kept, in a bounded table; the ticket is bound to the app, connection, relay kind and
 * interaction, consumed by its first presentation, and the gate asks again at use (relay.c),
 * so a revoked app or a stopped connection refuses a ticket issued before.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

#define RELAYTICKET_BYTES	32	/* random bytes of a ticket: 43 base64url characters */
#define RELAYTICKET_LEN		sodium_base64_ENCODED_LEN(RELAYTICKET_BYTES, \
				    sodium_base64_VARIANT_URLSAFE_NO_PADDING)

struct relayticket {
	struct fpent	 e;		/* fingerprint, app, connection, expiry */
	char		 kind[16];
	char		 interaction[FG_NAME_MAX + 1];
};

static struct fptable	relayticket_table;

/* Refuse a ticket at use: audited with the app once known (else as an anonymous refusal). */
static int
relayticket_refuse(const struct fg_reqctx *ctx, const char *remote, const char *app,
    const char *client_id, const char *conn, const char *fp, const char *code, const char *why)
{
	char			 detail[300], actor[96];
	struct audit_rec	 rec = { actor, "relay.ticket", app, conn, NULL, code, detail,
				    fp };

	snprintf(actor, sizeof(actor), "%s%.90s", client_id ? "app:" : "-", client_id ?
	    client_id : "");
	snprintf(detail, sizeof(detail), "use refused remote=%s: %s", remote ? remote : "-",
	    why);
	token_count_refusal();
	if (app == NULL)
		refusal_note(&rec, remote ? remote : "-", "relay");
	else
		audit_append(&rec);
	server_reply_error(ctx, code, "%s", why);
	return -1;
}

/*
 * Consume the ticket req names for the relay it asks (connection, kind, interaction): 0 and
 * *app_id when it was issued for exactly that and is still valid; -1 after refusing.  Any
 * presentation consumes it, so a replay or a probe of another relay finds nothing.
 */
int
relayticket_take(const struct fg_reqctx *ctx, json_t *req, int64_t *app_id, char fp[FG_FP_LEN])
{
	const char		*ticket = json_string_value(json_object_get(req, "ticket"));
	const char		*conn = json_string_value(json_object_get(req, "connection"));
	const char		*kind = json_string_value(json_object_get(req, "kind"));
	const char		*ia = json_string_value(json_object_get(req, "interaction"));
	const char		*remote = json_string_value(json_object_get(req, "remote"));
	struct relayticket	*t;
	struct conn_rec		 c;
	struct app_rec		 a;
	int			 fits;

	seal_fingerprint(ticket, strlen(ticket), fp);
	if ((t = (struct relayticket *)fptable_take(&relayticket_table, fp)) == NULL)
		return relayticket_refuse(ctx, remote, NULL, NULL, NULL, fp, "invalid_client",
		    "the relay ticket is unknown or was used already");
	fits = strcmp(t->kind, kind) == 0 && strcmp(t->interaction, ia ? ia : "") == 0 &&
	    connection_get_id(t->e.conn_id, &c) == 0 && strcmp(c.name, conn) == 0;
	*app_id = t->e.app_id;
	if (app_lookup(NULL, t->e.app_id, &a) == -1) {
		snprintf(a.name, sizeof(a.name), "-");
		snprintf(a.client_id, sizeof(a.client_id), "-");
	}
	if (t->e.expires_at <= monotime()) {
		free(t);
		return relayticket_refuse(ctx, remote, a.name, a.client_id, conn, fp,
		    "invalid_client", "the relay ticket expired");
	}
	free(t);
	if (!fits)
		return relayticket_refuse(ctx, remote, a.name, a.client_id, conn, fp,
		    "forbidden", "the relay ticket was issued for another connection, relay or "
		    "interaction");
	return 0;
}

/* A connection's tokens were dropped (stop, removal): so are its tickets. */
void
relayticket_drop_connection(int64_t conn_id)
{
	if (conn_id != 0)
		fptable_sweep(&relayticket_table, conn_id);
}

/* Free every ticket at exit. */
void
relayticket_shutdown(void)
{
	fptable_clear(&relayticket_table);
}

/* A new ticket for the pass's app, kept by fingerprint; -1 when the table is full. */
static int
relayticket_new(const struct gate_pass *gp, const char *kind, const char *ia, long life,
    char out[RELAYTICKET_LEN], char fp[FG_FP_LEN])
{
	uint8_t			 raw[RELAYTICKET_BYTES];
	struct relayticket	*t;

	relayticket_table.max = (size_t)fg_cfg->relay_tickets_max;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, RELAYTICKET_LEN, raw, sizeof(raw),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	seal_fingerprint(out, strlen(out), fp);
	snprintf(t->e.fp, sizeof(t->e.fp), "%s", fp);
	t->e.app_id = gp->app.id;
	t->e.conn_id = gp->app.connection_id;
	snprintf(t->kind, sizeof(t->kind), "%s", kind);
	snprintf(t->interaction, sizeof(t->interaction), "%s", ia ? ia : "");
	t->e.expires_at = monotime() + life;
	if (fptable_add(&relayticket_table, &t->e) == -1) {
		free(t);
		return -1;
	}
	return 0;
}

/* The lifetime a request asks (at most the configured one), or -1 when malformed. */
static long
relayticket_life(json_t *req)
{
	json_t	*e = json_object_get(req, "expires_in");
	long	 max = fg_cfg->relay_ticket_lifetime_s;

	if (e == NULL)
		return max;
	if (json_integer_value(e) < 1 || json_integer_value(e) > max)
		return -1;
	return (long)json_integer_value(e);
}

/* "relay.ticket": an app asks a ticket for one relay of its own connection. */
static void
relayticket_verb(const struct fg_reqctx *ctx, json_t *req)
{
	const char		*kind = json_string_value(json_object_get(req, "kind"));
	const char		*want = json_string_value(json_object_get(req, "connection"));
	const char		*ia = json_string_value(json_object_get(req, "interaction"));
	int			 streams = strcmp(kind, "streams") == 0;
	long			 life = relayticket_life(req);
	struct gate_pass	 gp = { .route = GATE_RELAY_TICKET };
	char			 ticket[RELAYTICKET_LEN], fp[FG_FP_LEN], detail[128], body[256];
	struct audit_rec	 rec = { NULL, "relay.ticket", NULL, NULL, NULL, "issued", detail,
				    fp };
	struct conn_rec		 c;
	int			 n;

	if ((!streams && strcmp(kind, "transcribe") != 0) || streams != (ia != NULL) ||
	    (ia != NULL && !fg_name_ok(ia, strlen(ia))) || life == -1) {
		server_reply_error(ctx, "invalid_request", "kind is transcribe, or streams with "
		    "an interaction id; expires_in is 1 to %ld seconds",
		    fg_cfg->relay_ticket_lifetime_s);
		return;
	}
	if (gate_open(ctx, &gp, req) == -1)
		return;
	if (connection_get_id(gp.app.connection_id, &c) == -1 || strcmp(c.name, want) != 0) {
		server_reply_error(ctx, "forbidden", "this app is not on that connection");
		return;
	}
	if (!scope_subset(kind, gp.app.scopes, NULL, 0)) {
		server_reply_error(ctx, "invalid_scope", "this app is not registered for scope %s",
		    kind);
		return;
	}
	if (relayticket_new(&gp, kind, ia, life, ticket, fp) == -1) {
		server_reply_status(ctx, "temporarily_unavailable", "the relay ticket table is "
		    "full ([relay] tickets_max outstanding); retry when some are used or expire", 0,
		    fg_cfg->relay_ticket_lifetime_s);
		return;
	}
	snprintf(detail, sizeof(detail), "%s%s%s expires_in=%ld", kind, ia ? " " : "",
	    ia ? ia : "", life);
	rec.actor = gp.actor;
	rec.app = gp.app.name;
	rec.connection = c.name;
	audit_append(&rec);
	n = snprintf(body, sizeof(body), "{\"ok\":true,\"ticket\":\"%s\",\"expires_in\":%ld}",
	    ticket, life);
	hold_reply_raw(ctx, c.id, body, (size_t)n);
	sodium_memzero(ticket, sizeof(ticket));
	sodium_memzero(body, sizeof(body));
	sodium_memzero(&gp, sizeof(gp));
}

/* The "relay.ticket" verb's entry (verbs.c). */
static const struct verb_field relayticket_fields[] = {
	{ "client_id", VERB_STR, 0, 128 }, { "client_secret", VERB_STR, 0, 256 },
	{ "connection", VERB_STR, 1, FG_NAME_MAX }, { "kind", VERB_STR, 1, 15 },
	{ "interaction", VERB_STR, 0, FG_NAME_MAX }, { "expires_in", VERB_INT, 0, 0 },
	{ "remote", VERB_STR, 0, 64 },
	VERB_FIELDS_END
};
const struct verb_entry relay_ticket_entry = {
	.name = "relay.ticket",
	.peers = PEER_WEB | PEER_ADMIN,
	.fn = relayticket_verb,
	.fields = relayticket_fields
};
