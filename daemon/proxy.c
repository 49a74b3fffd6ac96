/*
 * The backend proxy: a caller (app credential or user session) asks for one API call; the
 * daemon checks the app's rule (method and path prefix) before anything is sent, injects the
 * token and Tenant-Name itself, and answers with the status, the content type and the body.
 * Bodies are bounded both ways (they travel in one frame), and so is the time.  The caller's
 * own credential never leaves: the upstream sees only the daemon's token.
 *
 * "proxy.authorize" is the same decision for the data plane (nginx relays the call itself,
 * streamed): the reply carries the upstream URL, the Tenant-Name and the token for nginx to
 * inject, held until the token's issuance record is durable.  nginx caps every body at
 * FG_PROXY_BODY_MAX_MIB; each app's own cap is checked here from the Content-Length nginx
 * passes on, before anything reaches the upstream.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

#define PROXY_BODY_MAX		(24 * 1024)	/* request body, decoded */
#define PROXY_RESPONSE_MAX	(40 * 1024)	/* response body: base64 must fit one frame */
#define PROXY_AUTHORIZE_MAX	(FG_TOKEN_MAX + 8192)	/* the authorize reply */
#define PROXY_LENGTH_DIGITS	15	/* a Content-Length up to 999 TB: far above any cap */
#define PROXY_MIB		(1024ULL * 1024)

struct proxy_op {
	struct fg_reqctx	 ctx;
	char			 method[8];
	char			 url[6400];
	char			 path[2100];
	char			 query[2100];
	char			 content_type[128];
	uint8_t			*body;
	size_t			 bodylen;
	unsigned long long	 length;	/* the body's length, known before it is sent */
	int			 chunked;	/* or not known: a chunked body, streamed */
	struct conn_rec		 conn;
	char			 app[FG_NAME_MAX + 1];
	char			 actor[96];
	char			 scopes[FG_SCOPES_MAX];
	char			 fp[FG_FP_LEN];
	long			 retry_after;	/* the upstream's advice, on a refusal */
	int64_t			 app_id;
	uint64_t		 epoch;
};

static const char SQL_RULE[] =
    "SELECT proxy_methods, proxy_paths, proxy_body_max_mib FROM apps "
    "WHERE name = ? AND revoked_at IS NULL";

static void
proxy_op_free(struct proxy_op *op)
{
	if (op->body != NULL) {
		sodium_memzero(op->body, op->bodylen);
		free(op->body);
	}
	free(op);
}

/*
 * True when word is one of the space-separated list, or with prefix, starts with one of them
 * at a path segment boundary ("/interactions" allows "/interactions/1", not "/interactionsX").
 */
static int
proxy_listed(const char *list, const char *word, int prefix)
{
	size_t n, w = strlen(word);

	while (list != NULL && *list != '\0') {
		n = strcspn(list, " ");
		if (prefix ? (n <= w && strncmp(list, word, n) == 0 && (n == w || word[n] == '/' ||
		    (n > 0 && list[n - 1] == '/'))) : (n == w && strncmp(list, word, n) == 0))
			return 1;
		list += n + (list[n] == ' ');
	}
	return 0;
}

/*
 * A path we forward: "/" then unreserved characters, ':' (Corti's "message:stream") and "/",
 * no dot segments, no "//".
 */
int
proxy_path_ok(const char *p)
{
	size_t i;

	if (p[0] != '/' || strlen(p) > 2048)
		return 0;
	for (i = 0; p[i] != '\0'; i++) {
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= '0' && p[i] <= '9') || strchr("-._~/:", p[i]) != NULL))
			return 0;
		if (p[i] == '/' && (p[i + 1] == '/' ||
		    (p[i + 1] == '.' && (p[i + 2] == '/' || p[i + 2] == '\0' ||
		    (p[i + 2] == '.' && (p[i + 3] == '/' || p[i + 3] == '\0'))))))
			return 0;
	}
	return 1;
}

/* A query we forward: visible ASCII without '#'; it was percent-encoded by the client. */
static int
proxy_query_ok(const char *q)
{
	for (; q != NULL && *q != '\0'; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f || *q == '#' ||
		    *q == '"' || *q == '\\')
			return 0;
	return 1;
}

/* A content type like "application/json; charset=utf-8": no line breaks, bounded. */
static int
proxy_type_ok(const char *t)
{
	for (; t != NULL && *t != '\0'; t++)
		if ((unsigned char)*t < 0x20 || (unsigned char)*t >= 0x7f)
			return 0;
	return 1;
}

/* Audit the call: who, method, path, the upstream's status (0: none, or nginx relays it). */
static void
proxy_audit(struct proxy_op *op, long status, const char *outcome)
{
	char			 detail[2300];
	struct audit_rec	 rec = { op->actor, "proxy.call", op->app, op->conn.name, op->scopes,
				    outcome, detail, op->fp[0] ? op->fp : NULL };

	snprintf(detail, sizeof(detail), "%s %s status=%ld", op->method, op->path, status);
	audit_append(&rec);
}

/* Audit the call and answer it. */
static void
proxy_finish(struct proxy_op *op, long status, const char *code, const char *message,
    const struct upstream_reply *r)
{
	char		*b64 = NULL;
	size_t		 cap;
	json_t		*reply;

	proxy_audit(op, status, code ? code : "ok");
	if (code != NULL) {
		server_reply_status(&op->ctx, code, message, status, op->retry_after);
		return;
	}
	cap = sodium_base64_ENCODED_LEN(r->len, sodium_base64_VARIANT_ORIGINAL);
	if ((b64 = malloc(cap)) == NULL) {
		server_reply_error(&op->ctx, "server_error", "out of memory");
		return;
	}
	sodium_bin2base64(b64, cap, (const uint8_t *)(r->body ? r->body : ""), r->len,
	    sodium_base64_VARIANT_ORIGINAL);
	reply = json_pack("{sbsIssss}", "ok", 1, "status", (json_int_t)r->status, "content_type",
	    proxy_type_ok(r->content_type) ? r->content_type : "application/octet-stream",
	    "body_b64", b64);
	free(b64);
	hold_reply(&op->ctx, op->conn.id, reply);
}

/* The API answered (or did not). */
static void
proxy_answered(void *arg, struct upstream_reply *r)
{
	struct proxy_op	*op = arg;
	const char	*why;

	if ((why = gate_still(op->app_id, op->epoch)) != NULL)
		proxy_finish(op, 503, "temporarily_unavailable", why, NULL);
	else if (r->overflow)
		proxy_finish(op, 502, "upstream_error", "the upstream's answer is larger than the "
		    "proxy passes on", NULL);
	else if (r->cc == 28)	/* CURLE_OPERATION_TIMEDOUT */
		proxy_finish(op, 504, "upstream_timeout", "the upstream did not answer in time", NULL);
	else if (r->cc != 0)
		proxy_finish(op, 502, "temporarily_unavailable", r->message, NULL);
	else
		proxy_finish(op, r->status, NULL, NULL, r);
	proxy_op_free(op);
}

/* The token is here and its record committed: make the call. */
static void
proxy_have_token(const struct token_req *w, const struct token_grant *g,
    const struct token_fail *f)
{
	struct proxy_op		*op = w->arg;
	struct upstream_call	 call;
	int			 r;

	if (g == NULL) {
		op->retry_after = f->retry_after;
		proxy_finish(op, 0, f->code, f->message, NULL);
		proxy_op_free(op);
		return;
	}
	snprintf(op->fp, sizeof(op->fp), "%s", g->fp);
	snprintf(op->scopes, sizeof(op->scopes), "%s", g->scopes);
	memset(&call, 0, sizeof(call));
	call.method = op->method;
	call.url = op->url;
	call.bearer = g->token;
	call.tenant = op->conn.tenant;
	call.accept = "*/*";
	call.content_type = op->content_type[0] ? op->content_type : NULL;
	call.body = (const char *)op->body;
	call.bodylen = op->bodylen;
	call.max_response = PROXY_RESPONSE_MAX;
	call.conn_id = op->conn.id;
	if ((r = upstream_http(&call, proxy_answered, op)) != 0) {
		proxy_finish(op, r == UPSTREAM_BUSY ? 503 : 502, "temporarily_unavailable",
		    r == UPSTREAM_BUSY ? "too many calls to the API are in flight for this "
		    "connection; retry shortly" : "cannot reach the API", NULL);
		proxy_op_free(op);
	}
}

/*
 * The body fits the app's cap of mib MiB; otherwise answer 413, or 411 for a chunked body
 * when the cap is below nginx's ceiling: nginx counts a streamed body only against its one
 * client_max_body_size, so no cap but that one can hold for a body of unknown length.
 */
static int
proxy_body_fits(struct proxy_op *op, int mib)
{
	char msg[200];

	if (op->chunked && mib < FG_PROXY_BODY_MAX_MIB) {
		snprintf(msg, sizeof(msg), "this app's request bodies are capped at %d MiB: send "
		    "a Content-Length (a chunked body's size cannot be checked before it is "
		    "relayed)", mib);
		proxy_finish(op, 411, "invalid_request", msg, NULL);
		return -1;
	}
	if (op->length > (unsigned long long)mib * PROXY_MIB) {
		snprintf(msg, sizeof(msg), "the request body (%llu bytes) is larger than this "
		    "app's cap of %d MiB", op->length, mib);
		proxy_finish(op, 413, "invalid_request", msg, NULL);
		return -1;
	}
	return 0;
}

/* The app's rule allows method on path, and its cap the body; otherwise answer, -1. */
static int
proxy_rule(struct proxy_op *op)
{
	struct db_stmt	*st = store_prepare(SQL_RULE);
	int		 ok = 0, mib = 0;

	if (st != NULL) {
		db_bind_text(st, 1, op->app, -1, DB_STATIC);
		if (db_step(st) == DB_ROW) {
			ok = proxy_listed((const char *)db_column_text(st, 0), op->method, 0) &&
			    proxy_listed((const char *)db_column_text(st, 1), op->path, 1);
			mib = db_column_int(st, 2);
		}
		db_reset(st);
	}
	if (!ok) {
		proxy_finish(op, 403, "forbidden", "this app's proxy rule does not allow that method "
		    "on that path", NULL);
		return -1;
	}
	return proxy_body_fits(op, mib);
}

/* After the gate: the connection in the path is the app's, and its rule allows the call. */
static int
proxy_start(struct proxy_op *op, const struct gate_pass *gp, json_t *req)
{
	const char *want = json_string_value(json_object_get(req, "connection"));

	snprintf(op->app, sizeof(op->app), "%s", gp->app.name);
	snprintf(op->actor, sizeof(op->actor), "%s", gp->actor);
	snprintf(op->scopes, sizeof(op->scopes), "%s", gp->scopes);
	op->app_id = gp->app.id;
	op->epoch = gp->epoch;
	if (connection_get_id(gp->app.connection_id, &op->conn) == -1) {
		server_reply_error(&op->ctx, "server_error", "the app's connection is gone");
		return -1;
	}
	if (strcmp(want, op->conn.name) != 0) {
		proxy_finish(op, 403, "forbidden", "this app is not on that connection", NULL);
		return -1;
	}
	if (proxy_rule(op) == -1)
		return -1;
	snprintf(op->url, sizeof(op->url), "%s%s%s%s", op->conn.api_base, op->path,
	    op->query[0] ? "?" : "", op->query);
	return 0;
}

/* Check and copy the call's shape into op; NULL when fine, else why. */
static const char *
proxy_parse(struct proxy_op *op, json_t *req)
{
	const char	*method = json_string_value(json_object_get(req, "method"));
	const char	*path = json_string_value(json_object_get(req, "path"));
	const char	*query = json_string_value(json_object_get(req, "query"));
	const char	*type = json_string_value(json_object_get(req, "content_type"));
	const char	*length = json_string_value(json_object_get(req, "content_length"));
	json_t		*b64 = json_object_get(req, "body_b64");
	size_t		 n;

	if (!proxy_listed("GET POST PUT PATCH DELETE", method, 0))
		return "method must be GET, POST, PUT, PATCH or DELETE";
	if (!proxy_path_ok(path) || !proxy_query_ok(query))
		return "the path must be plain (no dot segments, //, or encoded characters) and "
		    "the query visible ASCII";
	if (!proxy_type_ok(type))
		return "the content type is malformed";
	snprintf(op->method, sizeof(op->method), "%s", method);
	snprintf(op->path, sizeof(op->path), "%s", path);
	snprintf(op->query, sizeof(op->query), "%s", query ? query : "");
	snprintf(op->content_type, sizeof(op->content_type), "%s", type ? type : "");
	if (b64 != NULL && json_string_length(b64) > 0) {
		if ((op->body = malloc(PROXY_BODY_MAX)) == NULL ||
		    sodium_base642bin(op->body, PROXY_BODY_MAX, json_string_value(b64),
		    json_string_length(b64), NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
			return "the body is not base64 or is over 24 KiB";
		op->bodylen = n;
	}
	op->length = op->bodylen;
	op->chunked = json_is_true(json_object_get(req, "chunked"));
	/* the front end's word on the data plane's body: digits only, and one of the two */
	if (length != NULL && fg_decimal(length, PROXY_LENGTH_DIGITS, &op->length) == -1)
		return "content_length must be 1 to 15 digits";
	if (length != NULL && op->chunked)
		return "a body has a content_length or is chunked, not both";
	return NULL;
}

/*
 * The data plane's ending: the URL, Tenant-Name and token for nginx, in a reply held until the
 * issuance record is committed.  The call is audited here, as authorised and streamed.
 */
static void
proxy_authorized(const struct token_req *w, const struct token_grant *g,
    const struct token_fail *f)
{
	struct proxy_op	*op = w->arg;
	static char	 body[PROXY_AUTHORIZE_MAX];
	char		*head = NULL;
	json_t		*reply;
	int		 n = -1;

	if (g == NULL) {
		op->retry_after = f->retry_after;
		proxy_finish(op, 0, f->code, f->message, NULL);
		proxy_op_free(op);
		return;
	}
	snprintf(op->fp, sizeof(op->fp), "%s", g->fp);
	snprintf(op->scopes, sizeof(op->scopes), "%s", g->scopes);
	proxy_audit(op, 0, "authorized");
	reply = json_pack("{sbssss}", "ok", 1, "url", op->url, "tenant", op->conn.tenant);
	if (reply != NULL && (head = json_dumps(reply, JSON_COMPACT)) != NULL)
		/* the token is b64token characters: safe inside a JSON string as it is */
		n = snprintf(body, sizeof(body), "%.*s,\"token\":\"%s\"}",
		    (int)strlen(head) - 1, head, g->token);
	hold_reply_raw(&op->ctx, op->conn.id, body, n > 0 && (size_t)n < sizeof(body) ?
	    (size_t)n : 0);
	sodium_memzero(body, sizeof(body));
	free(head);
	json_decref(reply);
	proxy_op_free(op);
}

/*
 * "proxy" and "proxy.authorize": connection, method, path, query?, content_type?, body_b64?,
 * and client_id + client_secret, bearer (a token flowgate issued to the app) or session;
 * remote?  proxy.authorize also: content_length? (the caller's Content-Length, as nginx sent
 * it) or chunked? (a body without one).  The token request may finish (and free op) at once.
 */
static void
proxy_begin(const struct fg_reqctx *ctx, json_t *req, token_done done)
{
	struct proxy_op		*op;
	struct gate_pass	 gp = { .route = GATE_PROXY };
	const char		*why;

	if ((op = calloc(1, sizeof(*op))) == NULL) {
		server_reply_error(ctx, "server_error", "out of memory");
		return;
	}
	op->ctx = *ctx;
	if ((why = proxy_parse(op, req)) != NULL) {
		server_reply_error(ctx, "invalid_request", "%s", why);
		proxy_op_free(op);
		return;
	}
	if (gate_open(ctx, &gp, req) == -1 || proxy_start(op, &gp, req) == -1)
		proxy_op_free(op);
	else
		gate_token(&gp, done, op, req, done == proxy_authorized);
	sodium_memzero(&gp, sizeof(gp));
}

/* "proxy": the call made here, its answer in the reply; the body's length is its own. */
static void
proxy_verb(const struct fg_reqctx *ctx, json_t *req)
{
	if (json_object_get(req, "content_length") != NULL ||
	    json_object_get(req, "chunked") != NULL) {
		server_reply_error(ctx, "invalid_request", "the body here is body_b64; "
		    "content_length and chunked are the data plane's");
		return;
	}
	proxy_begin(ctx, req, proxy_have_token);
}

/* "proxy.authorize": the same checks; nginx makes the call (no body here). */
static void
proxy_authorize_verb(const struct fg_reqctx *ctx, json_t *req)
{
	if (json_object_get(req, "body_b64") != NULL) {
		server_reply_error(ctx, "invalid_request", "the data plane carries the body");
		return;
	}
	proxy_begin(ctx, req, proxy_authorized);
}

/* The "proxy" verb's entry (verbs.c). */
static const struct verb_field proxy_fields[] = {
	{ "client_id", VERB_STR, 0, 128 }, { "client_secret", VERB_STR, 0, 256 },
	{ "session", VERB_STR, 0, 64 }, { "connection", VERB_STR, 1, FG_NAME_MAX },
	{ "method", VERB_STR, 1, 7 }, { "path", VERB_STR, 1, 2048 }, { "query", VERB_STR, 0, 2048 },
	{ "content_type", VERB_STR, 0, 127 }, { "body_b64", VERB_STR, 0, 33000 },
	{ "remote", VERB_STR, 0, 64 }, { "bearer", VERB_STR, 0, FG_TOKEN_MAX },
	{ "content_length", VERB_STR, 0, 32 }, { "chunked", VERB_BOOL, 0, 0 },
	VERB_FIELDS_END
};
const struct verb_entry proxy_entry = {
	.name = "proxy",
	.peers = PEER_WEB | PEER_ADMIN,
	.fn = proxy_verb,
	.fields = proxy_fields
};
const struct verb_entry proxy_authorize_entry = {
	.name = "proxy.authorize",
	.peers = PEER_WEB | PEER_ADMIN,
	.fn = proxy_authorize_verb,
	.fields = proxy_fields
};
