/*
 * Token issuance: authenticate the app, check its request against its registration and the
 * policy, and answer from a cache keyed by (connection, exact canonical scope set).  A miss
 * starts at most one upstream request per key; everyone who asks meanwhile waits on it.
 * Tokens are refreshed ahead of expiry, and while the upstream is down a cached token is
 * served until it expires.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"

#define TOKEN_BUCKETS		256
#define TOKEN_MIN_LEFT		5	/* never hand out a token with less life than this */
#define TOKEN_RETRY_S		2	/* after a failed fetch, refuse fast for this long */

struct tok_entry {
	int64_t			 conn_id;
	char			 conn_name[FG_NAME_MAX + 1];
	char			 scopes[FG_SCOPES_MAX];
	struct fg_secret	*token;
	char			 fp[FG_FP_LEN];
	time_t			 expires_at;	/* monotonic seconds */
	time_t			 last_used;
	time_t			 retry_at;
	char			 last_error[64];
	char			 last_message[256];
	int			 fetching;
	uint64_t		 gen, fetch_gen;
	struct token_req	*waiters;
	struct tok_entry	*next;
};

static struct tok_entry	*token_table[TOKEN_BUCKETS];
static struct {
	uint64_t hits, misses, issued, refused, coalesced;
} token_st;

static time_t
token_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static unsigned int
token_bucket(int64_t conn_id, const char *scopes)
{
	uint32_t h = 2166136261u ^ (uint32_t)conn_id;

	for (; *scopes != '\0'; scopes++)
		h = (h ^ (uint8_t)*scopes) * 16777619u;
	return h % TOKEN_BUCKETS;
}

/* The cache entry for (connection, scope set), created empty on first use. */
static struct tok_entry *
token_entry(int64_t conn_id, const char *conn_name, const char *scopes)
{
	unsigned int		 b = token_bucket(conn_id, scopes);
	struct tok_entry	*e;

	for (e = token_table[b]; e != NULL; e = e->next)
		if (e->conn_id == conn_id && strcmp(e->scopes, scopes) == 0)
			return e;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->conn_id = conn_id;
	snprintf(e->conn_name, sizeof(e->conn_name), "%s", conn_name);
	snprintf(e->scopes, sizeof(e->scopes), "%s", scopes);
	e->next = token_table[b];
	token_table[b] = e;
	return e;
}

/* The "token" verb's ending: the token as an RFC 6749 answer, sent after the audit commit. */
static void
token_reply(const struct token_req *w, const struct token_grant *g, const char *code,
    const char *message)
{
	char	body[FG_TOKEN_MAX + FG_SCOPES_MAX + 128];
	int	n;

	if (g == NULL) {
		server_reply_error(&w->ctx, code, "%s", message);
		return;
	}
	/* safe to print as JSON: the token is b64token characters, the scopes scope-tokens */
	n = snprintf(body, sizeof(body), "{\"ok\":true,\"access_token\":\"%s\",\"token_type\":"
	    "\"Bearer\",\"expires_in\":%ld,\"scope\":\"%s\"}", g->token, g->expires_in,
	    g->scopes);
	server_reply_audited_raw(&w->ctx, body, n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0);
	sodium_memzero(body, sizeof(body));
}

/* Record an issuance and hand the token to the requester's ending. */
static void
token_issue(const struct token_req *w, struct tok_entry *e, const char *source)
{
	struct audit_rec	 rec = { w->actor, "token.issue", w->app, e->conn_name, e->scopes,
				    "issued", NULL, e->fp };
	struct token_grant	 g = { e->token->buf, (long)(e->expires_at - token_now()), e->scopes,
				    e->fp, e->conn_name };
	char			 detail[160];

	snprintf(detail, sizeof(detail), "source=%s remote=%s%s%s", source, w->remote,
	    w->purpose ? " for=" : "", w->purpose ? w->purpose : "");
	rec.detail = detail;
	if (audit_append(&rec) == -1) {
		token_st.refused++;
		w->done(w, NULL, "server_error", "audit record could not be written");
		return;
	}
	token_st.issued++;
	e->last_used = token_now();
	app_usage_note(w->app);
	w->done(w, &g, NULL, NULL);
}

/* Record a refusal and hand it to the requester's ending. */
static void
token_refuse(const struct token_req *w, const char *conn, const char *scopes, const char *code,
    const char *message)
{
	struct audit_rec rec = { w->actor, "token.refuse", w->app[0] ? w->app : NULL, conn, scopes,
	    code, message, NULL };

	token_st.refused++;
	audit_append(&rec);
	w->done(w, NULL, code, message);
}

static void token_fetched(void *arg, struct upstream_token *t);

/* Start the one upstream request for e; the secret is opened only for this moment. */
static int
token_fetch(struct tok_entry *e)
{
	struct conn_rec		 c;
	struct fg_secret	*secret;
	int			 r;

	if (connection_get_id(e->conn_id, &c) == -1 || connection_open_secret(&c, &secret) == -1) {
		snprintf(e->last_message, sizeof(e->last_message),
		    "connection %s has no usable secret", e->conn_name);
		return -1;
	}
	r = upstream_request_token(c.token_url, c.client_id, secret, e->scopes, token_fetched, e);
	seal_secret_free(secret);
	if (r == -1) {
		snprintf(e->last_message, sizeof(e->last_message), "cannot start upstream request");
		return -1;
	}
	e->fetching = 1;
	e->fetch_gen = e->gen;
	return 0;
}

/* Answer everyone waiting on e: from its token if it has a live one, else with the failure. */
static void
token_release(struct tok_entry *e, const char *code, const char *message)
{
	struct token_req	*w, *next;
	time_t			 now = token_now();

	for (w = e->waiters; w != NULL; w = next) {
		next = w->next;
		if (e->token != NULL && e->expires_at - now > TOKEN_MIN_LEFT)
			token_issue(w, e, "upstream");
		else
			token_refuse(w, e->conn_name, e->scopes, code, message);
		free(w);
	}
	e->waiters = NULL;
}

/* Check what the upstream granted against what was asked: never broader, never less. */
static int
token_check_scope(struct tok_entry *e, struct upstream_token *t, char *why, size_t whylen)
{
	char missing[FG_NAME_MAX + 1];

	if (t->scope[0] == '\0')
		return 0;	/* RFC 6749 §5.1: omitted means as requested */
	if (!scope_subset(t->scope, e->scopes, missing, sizeof(missing))) {
		snprintf(why, whylen, "upstream granted a broader scope than asked (%s); refused",
		    missing);
		return -1;
	}
	if (!scope_subset(e->scopes, t->scope, missing, sizeof(missing))) {
		snprintf(why, whylen, "the upstream did not grant scope '%s'", missing);
		return -2;
	}
	return 0;
}

/* Take a fresh token into e. */
static void
token_store(struct tok_entry *e, struct upstream_token *t)
{
	seal_secret_free(e->token);
	e->token = t->access_token;
	t->access_token = NULL;
	seal_fingerprint(e->token->buf, e->token->len, e->fp);
	e->expires_at = token_now() + t->expires_in;
	e->retry_at = 0;
}

/* Map an upstream failure to what the app is told. */
static const char *
token_failure_code(struct upstream_token *t, int scope_check)
{
	if (scope_check == -2 || (t->outcome == UPSTREAM_REFUSED &&
	    strcmp(t->error, "invalid_scope") == 0))
		return "invalid_scope";
	return "temporarily_unavailable";
}

/* The upstream answered (or failed) for e. */
static void
token_fetched(void *arg, struct upstream_token *t)
{
	struct tok_entry	*e = arg;
	char			 why[256];
	int			 sc = 0;

	e->fetching = 0;
	if (e->fetch_gen != e->gen) {
		/* the connection changed (rotation) while this was in flight: ask again */
		if (e->waiters != NULL && token_fetch(e) == -1)
			token_release(e, "temporarily_unavailable", e->last_message);
		return;
	}
	snprintf(why, sizeof(why), "%s", t->message);
	if (t->outcome == UPSTREAM_OK && (sc = token_check_scope(e, t, why, sizeof(why))) == 0) {
		token_store(e, t);
		token_release(e, NULL, NULL);
		return;
	}
	e->retry_at = token_now() + TOKEN_RETRY_S;
	snprintf(e->last_error, sizeof(e->last_error), "%s", token_failure_code(t, sc));
	snprintf(e->last_message, sizeof(e->last_message), "%s", why);
	token_release(e, e->last_error, e->last_message);
}

/* Authenticate and check the request; on refusal answer it and return -1. */
static int
token_check(const struct token_req *w, json_t *req, struct app_rec *app, char *scopes,
    size_t scopeslen)
{
	const char	*grant_type = json_string_value(json_object_get(req, "grant_type"));
	const char	*asked = json_string_value(json_object_get(req, "scope"));
	const char	*grant;
	char		 missing[FG_NAME_MAX + 1], msg[256];

	if (app_authenticate(json_string_value(json_object_get(req, "client_id")),
	    json_string_value(json_object_get(req, "client_secret")), app) == -1) {
		token_refuse(w, NULL, NULL, "invalid_client", "client authentication failed");
		return -1;
	}
	grant = policy_grant(app->flow);
	if (strcmp(grant_type, "client_credentials") != 0 && strcmp(grant_type, "password") != 0) {
		token_refuse(w, app->connection, NULL, "unsupported_grant_type",
		    "grant_type must be client_credentials");
		return -1;
	}
	if (grant == NULL || strcmp(grant, grant_type) != 0 ||
	    (strcmp(grant_type, "client_credentials") == 0 && strcmp(app->kind, "backend") != 0)) {
		snprintf(msg, sizeof(msg), "this app is registered for flow %s, which does not "
		    "allow grant_type %s", app->flow, grant_type);
		token_refuse(w, app->connection, NULL, "unauthorized_client", msg);
		return -1;
	}
	if (strcmp(grant_type, "password") == 0 &&
	    (json_object_get(req, "username") == NULL || json_object_get(req, "password") == NULL)) {
		token_refuse(w, app->connection, NULL, "invalid_request",
		    "grant_type password needs username and password");
		return -1;
	}
	if (scope_normalize(asked != NULL ? asked : app->scopes, scopes, scopeslen) == -1) {
		token_refuse(w, app->connection, NULL, "invalid_scope", "scope is malformed");
		return -1;
	}
	if (!scope_subset(scopes, app->scopes, missing, sizeof(missing))) {
		snprintf(msg, sizeof(msg), "scope '%s' is not allowed for this app", missing);
		token_refuse(w, app->connection, scopes, "invalid_scope", msg);
		return -1;
	}
	if (app->connection_stopped) {
		token_refuse(w, app->connection, scopes, "temporarily_unavailable",
		    "issuing is stopped for this connection");
		return -1;
	}
	return 0;
}

/* Who asks (request, remote address) and what happens with the outcome: done(arg, ...). */
void
token_req_init(struct token_req *w, const struct fg_reqctx *ctx, json_t *req, token_done done,
    void *arg, const char *purpose)
{
	const char *remote = json_string_value(json_object_get(req, "remote"));
	const char *cid = json_string_value(json_object_get(req, "client_id"));

	memset(w, 0, sizeof(*w));
	w->ctx = *ctx;
	w->done = done;
	w->arg = arg;
	w->purpose = purpose;
	if (cid != NULL)
		snprintf(w->actor, sizeof(w->actor), "app:%s", cid);
	snprintf(w->remote, sizeof(w->remote), "%s", remote ? remote : "-");
}

/*
 * A token for an authenticated app and a checked canonical scope set, from the cache or the
 * one upstream request for it; w (copied) says who asked and what to do with the outcome.
 */
void
token_for_app(const struct token_req *w, const struct app_rec *app, const char *scopes)
{
	struct token_req	*qw;
	struct tok_entry	*e;
	time_t			 now = token_now();

	if ((e = token_entry(app->connection_id, app->connection, scopes)) == NULL) {
		token_refuse(w, app->connection, scopes, "server_error", "out of memory");
		return;
	}
	if (e->token != NULL && e->expires_at - now > TOKEN_MIN_LEFT) {
		token_st.hits++;
		token_issue(w, e, "cache");
		if (e->expires_at - now <= fg_cfg->refresh_ahead_s && !e->fetching &&
		    now >= e->retry_at)
			token_fetch(e);
		return;
	}
	token_st.misses++;
	if (!e->fetching && now < e->retry_at) {
		token_refuse(w, e->conn_name, scopes, e->last_error, e->last_message);
		return;
	}
	if ((qw = malloc(sizeof(*qw))) == NULL) {
		token_refuse(w, e->conn_name, scopes, "server_error", "out of memory");
		return;
	}
	*qw = *w;
	qw->next = e->waiters;
	e->waiters = qw;
	if (e->fetching)
		token_st.coalesced++;
	else if (token_fetch(e) == -1)
		token_release(e, "temporarily_unavailable", e->last_message);
}

/* A password grant in flight: the requester and the user it is for. */
struct token_ropc {
	struct token_req	 w;
	char			 scopes[FG_SCOPES_MAX];
	char			 username[257];
	char			 conn[FG_NAME_MAX + 1];
};

/* The upstream answered a password grant: audited with the user name, never the password. */
static void
token_ropc_done(void *arg, struct upstream_token *t)
{
	struct token_ropc	*r = arg;
	char			 detail[400], fp[FG_FP_LEN];
	struct audit_rec	 rec = { r->w.actor, "token.issue", r->w.app, r->conn, r->scopes,
				    "issued", detail, fp };
	struct token_grant	 g = { NULL, 0, r->scopes, fp, r->conn };
	char			 missing[FG_NAME_MAX + 1];

	snprintf(detail, sizeof(detail), "grant=password user=%s remote=%s", r->username,
	    r->w.remote);
	if (t->outcome == UPSTREAM_OK && t->scope[0] != '\0' &&
	    !scope_subset(t->scope, r->scopes, missing, sizeof(missing))) {
		t->outcome = UPSTREAM_BAD_RESPONSE;
		snprintf(t->message, sizeof(t->message), "upstream granted a broader scope (%s)",
		    missing);
	}
	if (t->outcome != UPSTREAM_OK) {
		rec.event = "token.refuse";
		rec.outcome = t->outcome == UPSTREAM_REFUSED && strcmp(t->error, "invalid_grant") == 0 ?
		    "invalid_grant" : "temporarily_unavailable";
		rec.token_fp = NULL;
		token_st.refused++;
		audit_append(&rec);
		r->w.done(&r->w, NULL, rec.outcome, strcmp(rec.outcome, "invalid_grant") == 0 ?
		    "the user name or password was refused by the upstream" : t->message);
		free(r);
		return;
	}
	seal_fingerprint(t->access_token->buf, t->access_token->len, fp);
	g.token = t->access_token->buf;
	g.expires_in = t->expires_in;
	token_st.issued++;
	app_usage_note(r->w.app);
	if (audit_append(&rec) == -1)
		r->w.done(&r->w, NULL, "server_error", "audit record could not be written");
	else
		r->w.done(&r->w, &g, NULL, NULL);
	free(r);
}

/*
 * ROPC for an app registered for it: one upstream password grant per request (a token for a
 * user is never shared through the cache); the password lives in guarded memory only.
 */
static void
token_ropc(const struct token_req *w, const struct app_rec *app, const char *scopes, json_t *req)
{
	json_t			*pw = json_object_get(req, "password");
	struct token_ropc	*r;
	struct conn_rec		 c;
	struct fg_secret	*secret = NULL, *password;
	const char		*user = json_string_value(json_object_get(req, "username"));
	int			 rc = -1;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (password = seal_secret_from(json_string_value(pw), json_string_length(pw))) == NULL) {
		free(r);
		token_refuse(w, app->connection, scopes, "server_error", "out of memory");
		return;
	}
	r->w = *w;
	snprintf(r->scopes, sizeof(r->scopes), "%s", scopes);
	snprintf(r->username, sizeof(r->username), "%s", user);
	snprintf(r->conn, sizeof(r->conn), "%s", app->connection);
	if (connection_get_id(app->connection_id, &c) == 0 &&
	    connection_open_secret(&c, &secret) == 0) {
		struct upstream_param p[] = {
			{ "grant_type", "password", 8 },
			{ "username", user, strlen(user) },
			{ "password", password->buf, password->len },
			{ "scope", scopes, strlen(scopes) },
		};

		rc = upstream_token(c.token_url, c.client_id, secret, p, 4, token_ropc_done, r);
	}
	seal_secret_free(secret);
	seal_secret_free(password);
	if (rc == -1) {
		free(r);
		token_refuse(w, app->connection, scopes, "temporarily_unavailable",
		    "cannot reach the upstream");
	}
}

/* The "token" verb. */
void
token_handle(const struct fg_reqctx *ctx, json_t *req)
{
	struct token_req	w;
	struct app_rec		app;
	char			scopes[FG_SCOPES_MAX];

	token_req_init(&w, ctx, req, token_reply, NULL, NULL);
	if (token_check(&w, req, &app, scopes, sizeof(scopes)) == -1)
		return;
	snprintf(w.app, sizeof(w.app), "%s", app.name);
	if (strcmp(json_string_value(json_object_get(req, "grant_type")), "password") == 0)
		token_ropc(&w, &app, scopes, req);
	else
		token_for_app(&w, &app, scopes);
}

/* A connection's secret changed or it was removed: forget its tokens. */
void
token_drop_connection(int64_t conn_id)
{
	struct tok_entry	*e;
	int			 b;

	for (b = 0; b < TOKEN_BUCKETS; b++) {
		for (e = token_table[b]; e != NULL; e = e->next) {
			if (e->conn_id != conn_id)
				continue;
			seal_secret_free(e->token);
			e->token = NULL;
			e->retry_at = 0;
			e->gen++;
		}
	}
}

/* Refresh tokens that are in use and close to expiry, so requests never wait for them. */
void
token_refresh_due(void)
{
	struct tok_entry	*e;
	time_t			 now = token_now();
	int			 b;

	for (b = 0; b < TOKEN_BUCKETS; b++)
		for (e = token_table[b]; e != NULL; e = e->next)
			if (e->token != NULL && !e->fetching && now >= e->retry_at &&
			    e->expires_at - now <= fg_cfg->refresh_ahead_s &&
			    now - e->last_used < 600)
				token_fetch(e);
}

/* Counters for /metrics. */
json_t *
token_stats(void)
{
	return json_pack("{sIsIsIsIsI}", "cache_hits", (json_int_t)token_st.hits, "cache_misses",
	    (json_int_t)token_st.misses, "tokens_issued", (json_int_t)token_st.issued,
	    "tokens_refused", (json_int_t)token_st.refused, "requests_coalesced",
	    (json_int_t)token_st.coalesced);
}

/* Free the cache at exit (tokens are zeroed by seal_secret_free). */
void
token_shutdown(void)
{
	struct tok_entry	*e, *next;
	struct token_req	*w, *wn;
	int			 b;

	for (b = 0; b < TOKEN_BUCKETS; b++) {
		for (e = token_table[b]; e != NULL; e = next) {
			next = e->next;
			for (w = e->waiters; w != NULL; w = wn) {
				wn = w->next;
				free(w);
			}
			seal_secret_free(e->token);
			free(e);
		}
		token_table[b] = NULL;
	}
}
