/*
 * Tokens for requests that passed the gate (gate.c): a cache keyed by (connection, exact
 * canonical scope set), at most one upstream request per key with everyone who asks meanwhile
 * waiting on it, refresh ahead of expiry, and cached tokens served while the upstream is down
 * until they expire.  Every issuance is audited with the token's fingerprint before the token
 * leaves: a direct ending only builds a held reply (hold.c); any other receives the token after
 * the record is committed and the pass was checked again (token_hand_over).
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

#define TOKEN_BUCKETS		256
#define TOKEN_MIN_LEFT		5	/* a cached token with less life than this is fetched anew */
#define TOKEN_RETRY_S		2	/* after a failed fetch, refuse fast for this long */
#define TOKEN_RETRY_MAX_S	60	/* the most an upstream's Retry-After holds us back */

struct tok_entry {
	int64_t			 conn_id;
	char			 conn_name[FG_NAME_MAX + 1];
	char			 scopes[FG_SCOPES_MAX];		/* asked: the key */
	char			 granted[FG_SCOPES_MAX];	/* what the upstream granted */
	struct fg_secret	*token;
	char			 fp[FG_FP_LEN];
	time_t			 expires_at;	/* monotonic seconds */
	time_t			 lifetime;	/* what the upstream gave the token */
	time_t			 last_used;
	time_t			 retry_at;	/* a failure holds requests back until then */
	char			 last_error[32];
	char			 last_message[256];
	int			 fetching;
	int			 remote;	/* fetching means: another node of the cluster is */
	long			 remote_min;	/* the life a stored token must have to serve */
	int64_t			 lease_row, lease_gen;	/* the cluster's lease this node holds */
	uint64_t		 gen, fetch_gen;
	struct token_req	*waiters;
	struct tok_entry	*next;
};

/* A token on its way to an ending that uses it: released after the commit. */
struct token_delivery {
	struct token_req	 w;
	struct fg_secret	*token;
	long			 expires_in;
	char			 scopes[FG_SCOPES_MAX];
	char			 fp[FG_FP_LEN];
};

static struct tok_entry	*token_table[TOKEN_BUCKETS];
static long		 token_nentries;
static struct {
	uint64_t hits, misses, issued, refused, coalesced;
} token_st;

static unsigned int
token_bucket(int64_t conn_id, const char *scopes)
{
	uint32_t h = 2166136261u ^ (uint32_t)conn_id;

	for (; *scopes != '\0'; scopes++)
		h = (h ^ (uint8_t)*scopes) * 16777619u;
	return h % TOKEN_BUCKETS;
}

/* True when e's token was asked for within its last two lifetimes. */
static int
token_in_use(const struct tok_entry *e, time_t now)
{
	return now - e->last_used < 2 * e->lifetime;
}

/* True when nobody needs e any more: no live token, nothing in flight, nobody waiting. */
static int
token_idle(const struct tok_entry *e, time_t now)
{
	return !e->fetching && e->waiters == NULL && (e->token == NULL || e->expires_at <= now ||
	    !token_in_use(e, now));
}

/* How long before expiry e's token is refreshed: refresh_ahead_s, or half its life. */
static time_t
token_margin(const struct tok_entry *e)
{
	return fg_cfg->refresh_ahead_s < e->lifetime / 2 ? fg_cfg->refresh_ahead_s :
	    e->lifetime / 2;
}

/*
 * True when e's token, in use, is close enough to expiry to be fetched anew now: refresh_ahead_s
 * before, or half its life for short-lived tokens (never a fetch every turn).
 */
static int
token_due(const struct tok_entry *e, time_t now)
{
	return e->token != NULL && !e->fetching && now >= e->retry_at && e->expires_at > now &&
	    e->expires_at - now <= token_margin(e) && token_in_use(e, now);
}

/* Free the idle entries (all of them, or only while the cache is at its bound). */
static void
token_sweep(int all)
{
	struct tok_entry	**pp, *e;
	time_t			  now = monotime();
	int			  b;

	for (b = 0; b < TOKEN_BUCKETS; b++) {
		for (pp = &token_table[b]; (e = *pp) != NULL;) {
			if ((all || token_nentries >= fg_cfg->token_cache_max) && token_idle(e, now)) {
				*pp = e->next;
				seal_secret_free(e->token);
				free(e);
				token_nentries--;
			} else
				pp = &e->next;
		}
	}
}

/* The cache entry for (connection, scope set), created empty on first use; NULL when full. */
static struct tok_entry *
token_entry(int64_t conn_id, const char *conn_name, const char *scopes)
{
	unsigned int		 b = token_bucket(conn_id, scopes);
	struct tok_entry	*e;

	for (e = token_table[b]; e != NULL; e = e->next)
		if (e->conn_id == conn_id && strcmp(e->scopes, scopes) == 0)
			return e;
	if (token_nentries >= fg_cfg->token_cache_max)
		token_sweep(0);
	if (token_nentries >= fg_cfg->token_cache_max || (e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	token_nentries++;
	e->conn_id = conn_id;
	snprintf(e->conn_name, sizeof(e->conn_name), "%s", conn_name);
	snprintf(e->scopes, sizeof(e->scopes), "%s", scopes);
	e->next = token_table[b];
	token_table[b] = e;
	return e;
}

/* The commit came (or not): check the pass again, then hand the token over. */
static void
token_deliver(void *arg, int status)
{
	struct token_delivery	*d = arg;
	struct token_grant	 g = { d->token->buf, d->expires_in, d->scopes, d->fp,
				    d->w.conn_id };
	struct token_fail	 f = { "temporarily_unavailable", NULL, 0 };

	if (status != HOLD_OK) {
		f.code = hold_code(status);
		f.message = hold_why(status);
	} else
		f.message = gate_still(d->w.app_id, d->w.epoch);
	d->w.done(&d->w, f.message == NULL ? &g : NULL, &f);
	seal_secret_free(d->token);
	free(d);
}

/*
 * Hand an audited token to w's ending: a direct ending at once (it holds its reply), any
 * other after the commit.
 */
void
token_hand_over(const struct token_req *w, const struct token_grant *g)
{
	struct token_delivery	*d;
	struct token_fail	 f = { "temporarily_unavailable", "too many requests are waiting",
				    0 };

	token_st.issued++;
	if (w->direct) {
		w->done(w, g, NULL);
		return;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->token = seal_secret_from(g->token, strlen(g->token))) == NULL) {
		free(d);
		w->done(w, NULL, &f);
		return;
	}
	d->w = *w;
	d->expires_in = g->expires_in;
	snprintf(d->scopes, sizeof(d->scopes), "%s", g->scopes);
	snprintf(d->fp, sizeof(d->fp), "%s", g->fp);
	if (hold_call(w->conn_id, token_deliver, d) == -1) {
		seal_secret_free(d->token);
		free(d);
		w->done(w, NULL, &f);
	}
}

/* How long a failure holds requests back: what was asked, within TOKEN_RETRY_S..MAX_S. */
static long
token_retry_s(long asked)
{
	return asked < TOKEN_RETRY_S ? TOKEN_RETRY_S : asked > TOKEN_RETRY_MAX_S ?
	    TOKEN_RETRY_MAX_S : asked;
}

/* Record an issuance from e and hand the token over. */
static void
token_issue(const struct token_req *w, struct tok_entry *e, const char *source)
{
	char			 detail[600];
	struct audit_rec	 rec = { w->actor, "token.issue", w->app, e->conn_name, e->granted,
				    "issued", detail, e->fp };
	struct token_grant	 g = { e->token->buf, (long)(e->expires_at - monotime()),
				    e->granted, e->fp, e->conn_id };
	struct token_fail	 f = { "server_error", "audit record could not be written", 0 };

	snprintf(detail, sizeof(detail), "source=%s remote=%s%s%s%s%s", source, w->remote,
	    w->purpose ? " for=" : "", w->purpose ? w->purpose : "",
	    strcmp(e->granted, e->scopes) != 0 ? " asked=" : "",
	    strcmp(e->granted, e->scopes) != 0 ? e->scopes : "");
	if (g.expires_in < 1)
		g.expires_in = 1;
	if (audit_append(&rec) == -1) {
		token_st.refused++;
		w->done(w, NULL, &f);
		return;
	}
	e->last_used = monotime();
	/* the token endpoint's: the app itself holds it; its first time here, the record says so */
	if (w->purpose == NULL && bearer_note(e->fp, w->app_id, e->conn_id, g.expires_in))
		token_lease_issued(w->app_id, g.expires_in);
	app_usage_note(w->app);
	token_hand_over(w, &g);
}

/* Count a refusal made before a token request was formed (the gate's). */
void
token_count_refusal(void)
{
	token_st.refused++;
}

/* Record a refusal and hand it to the requester's ending. */
void
token_refused(const struct token_req *w, const char *conn, const char *scopes,
    const struct token_fail *f)
{
	struct audit_rec rec = { w->actor, "token.refuse", w->app[0] ? w->app : NULL, conn, scopes,
	    f->code, f->message, NULL };

	token_st.refused++;
	audit_append(&rec);
	w->done(w, NULL, f);
}

static void token_fetched(void *arg, struct upstream_token *t);

/* Start the one upstream request for e; the secret is opened only for this moment. */
static int
token_fetch(struct tok_entry *e)
{
	struct conn_rec		 c;
	struct fg_secret	*secret;
	int			 r;

	if (connection_get_id(e->conn_id, &c) == -1 || c.stopped ||
	    connection_open_secret(&c, &secret) == -1) {
		snprintf(e->last_message, sizeof(e->last_message),
		    "connection %s is stopped or has no usable secret", e->conn_name);
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

/* The first scope w asked for (besides openid) that the grant lacks; NULL when none. */
static const char *
token_strict_missing(const struct tok_entry *e, char *tok, size_t toklen)
{
	const char	*s = e->scopes;
	size_t		 n;

	while (*s != '\0') {
		n = strcspn(s, " ");
		snprintf(tok, toklen, "%.*s", (int)n, s);
		if (strcmp(tok, "openid") != 0 && !scope_contains(e->granted, tok))
			return tok;
		s += n + (s[n] == ' ');
	}
	return NULL;
}

/* Answer w from e: its token if e has a live one and the pass still holds, else fail. */
static void
token_answer(struct tok_entry *e, const struct token_req *w, const struct token_fail *fail,
    const char *source)
{
	struct token_fail	 f = *fail;
	char			 msg[160], tok[FG_NAME_MAX + 1];
	const char		*miss;

	if ((f.message = gate_still(w->app_id, w->epoch)) != NULL)
		f.code = "temporarily_unavailable";
	else if (e->token == NULL || e->expires_at <= monotime())
		f = *fail;
	else if (w->strict && (miss = token_strict_missing(e, tok, sizeof(tok))) != NULL) {
		snprintf(msg, sizeof(msg), "the upstream did not grant scope '%s'", miss);
		f.code = "invalid_scope";
		f.message = msg;
	} else {
		token_issue(w, e, source);
		return;
	}
	token_refused(w, e->conn_name, e->scopes, &f);
}

/* Answer everyone waiting on e: from its token if it has a live one, else with fail. */
static void
token_release(struct tok_entry *e, const struct token_fail *fail)
{
	struct token_req *w, *next;

	w = e->waiters;
	e->waiters = NULL;
	for (; w != NULL; w = next) {
		next = w->next;
		token_answer(e, w, fail, "upstream");
		free(w);
	}
}

/* What the upstream granted, into e->granted; -1 and why when broader than asked. */
static int
token_check_scope(struct tok_entry *e, struct upstream_token *t, char *why, size_t whylen)
{
	char missing[FG_NAME_MAX + 1];

	if (!t->scope_given) {	/* RFC 6749 §5.1: omitted means as requested */
		snprintf(e->granted, sizeof(e->granted), "%s", e->scopes);
		return 0;
	}
	if (!scope_subset(t->scope, e->scopes, missing, sizeof(missing))) {
		snprintf(why, whylen, "the upstream granted a broader scope than asked (%s); "
		    "refused", missing);
		return -1;
	}
	snprintf(e->granted, sizeof(e->granted), "%s", t->scope);
	return 0;
}

/* Take a fresh token into e (e owns it from now). */
static void
token_keep(struct tok_entry *e, struct fg_secret *token, long expires_in, long lifetime)
{
	seal_secret_free(e->token);
	e->token = token;
	seal_fingerprint(e->token->buf, e->token->len, e->fp);
	e->expires_at = monotime() + expires_in;
	e->lifetime = lifetime;
	e->retry_at = 0;
}

/* Keep the upstream's fresh token, and leave it sealed for the cluster's other nodes. */
static void
token_store(struct tok_entry *e, struct upstream_token *t)
{
	struct token_lease_key k = { e->conn_id, e->scopes, e->lease_row, e->lease_gen };

	token_keep(e, t->access_token, t->expires_in, t->expires_in);
	t->access_token = NULL;
	token_lease_put(&k, e->token, e->granted, e->lifetime);
	e->lease_row = 0;
}

/*
 * This node's upstream request for e ended without a token to share: let another node ask at
 * once, or when failed, tell the others its failure for as long as it holds this node back.
 */
static void
token_unlease(struct tok_entry *e, int failed)
{
	struct token_lease_key k = { e->conn_id, e->scopes, e->lease_row, e->lease_gen };

	token_lease_release(&k, failed ? e->last_error : NULL, e->last_message,
	    (long)(e->retry_at - monotime()));
	e->lease_row = 0;
}

/*
 * Get e a token and answer its waiters: from a token another node of the cluster stored, by
 * waiting for another node's request, or by this node's upstream request under the cluster's
 * lease (token-lease.c; on one SQLite node always the last).  min_left: the life a stored
 * token needs to serve.  -1 (e->last_message says why) when nothing was started.
 */
static int
token_start(struct tok_entry *e, long min_left)
{
	struct token_lease_key	 k = { e->conn_id, e->scopes, 0, 0 };
	struct token_lease_tok	 got;
	struct token_fail	 f = { "temporarily_unavailable", "the token stored by another "
				    "node expired before it could be handed out", 0 };

	switch (token_lease_take(&k, min_left, &got)) {
	case TOKEN_LEASE_MINE:
		e->lease_row = k.row;
		e->lease_gen = k.gen;
		if (token_fetch(e) == 0)
			return 0;
		token_unlease(e, 0);
		return -1;
	case TOKEN_LEASE_STORED:
		snprintf(e->granted, sizeof(e->granted), "%s", got.granted);
		token_keep(e, got.token, got.expires_in, got.lifetime);
		token_release(e, &f);
		return 0;
	case TOKEN_LEASE_REFUSED:
		snprintf(e->last_error, sizeof(e->last_error), "%s", got.error);
		snprintf(e->last_message, sizeof(e->last_message), "%s", got.message);
		e->retry_at = monotime() + token_retry_s(got.retry_after);
		f = (struct token_fail){ e->last_error, e->last_message,
		    token_retry_s(got.retry_after) };
		token_release(e, &f);
		return 0;
	case TOKEN_LEASE_OTHER:
		e->fetching = e->remote = 1;
		e->remote_min = min_left;
		e->fetch_gen = e->gen;
		return 0;
	default:
		snprintf(e->last_message, sizeof(e->last_message), "the database did not answer");
		return -1;
	}
}

/* Another node may have stored e's token, or given up its lease: look again. */
static void
token_remote_check(struct tok_entry *e)
{
	struct token_fail f = { "temporarily_unavailable", NULL, 0 };

	e->fetching = e->remote = 0;
	if (token_start(e, e->remote_min) == -1) {
		f.message = e->last_message;
		token_release(e, &f);
	}
}

/* A node stored a token of conn_id, or gave its lease up (token:<id>): look at once. */
void
token_lease_notified(int64_t conn_id)
{
	struct tok_entry	*e;
	int			 b;

	for (b = 0; b < TOKEN_BUCKETS; b++)
		for (e = token_table[b]; e != NULL; e = e->next)
			if (e->conn_id == conn_id && e->remote)
				token_remote_check(e);
}

/* The upstream answered (or failed) for e. */
static void
token_fetched(void *arg, struct upstream_token *t)
{
	struct tok_entry	*e = arg;
	struct token_fail	 f = { "temporarily_unavailable", NULL, 0 };
	char			 why[256];

	e->fetching = 0;
	if (e->fetch_gen != e->gen) {
		/* the connection changed (rotation or stop) while this was in flight: ask again */
		token_unlease(e, 0);
		if (e->waiters != NULL && token_start(e, TOKEN_MIN_LEFT) == -1) {
			f.message = e->last_message;
			token_release(e, &f);
		}
		return;
	}
	snprintf(why, sizeof(why), "%s", t->message);
	if (t->outcome == UPSTREAM_OK)
		connhealth_ok(e->conn_id);
	else if (strcmp(t->code, "invalid_scope") != 0)	/* one scope says nothing of the rest */
		connhealth_fail(e->conn_id, why);
	if (t->outcome == UPSTREAM_OK && token_check_scope(e, t, why, sizeof(why)) == 0) {
		token_store(e, t);
		f.message = "the upstream's token expired before it could be handed out";
		token_release(e, &f);
		return;
	}
	e->retry_at = monotime() + token_retry_s(t->retry_after);
	snprintf(e->last_error, sizeof(e->last_error), "%s", t->outcome != UPSTREAM_OK &&
	    t->code[0] != '\0' ? t->code : "temporarily_unavailable");
	snprintf(e->last_message, sizeof(e->last_message), "%s", why);
	token_unlease(e, 1);
	f.code = e->last_error;
	f.message = e->last_message;
	f.retry_after = token_retry_s(t->retry_after);	/* told what the node waits */
	token_release(e, &f);
}

/* Who asks: the gate's pass, its ending, and the audit detail of the route. */
void
token_req_init(struct token_req *w, const struct gate_pass *p, token_done done, void *arg,
    const char *purpose)
{
	memset(w, 0, sizeof(*w));
	w->ctx = p->ctx;
	w->done = done;
	w->arg = arg;
	w->purpose = purpose;
	w->app_id = p->app.id;
	w->conn_id = p->app.connection_id;
	w->epoch = p->epoch;
	snprintf(w->actor, sizeof(w->actor), "%s", p->actor);
	snprintf(w->app, sizeof(w->app), "%s", p->app.name);
	snprintf(w->remote, sizeof(w->remote), "%s", p->remote);
}

/*
 * A token for a pass's app and checked canonical scope set, from the cache or the one
 * upstream request for it; w (copied) says who asked and what to do with the outcome.
 */
void
token_for_app(const struct token_req *w, const struct app_rec *app, const char *scopes)
{
	struct token_req	*qw;
	struct tok_entry	*e;
	struct token_fail	 f = { "temporarily_unavailable", "too many distinct scope sets are "
				    "in use at once; try again shortly", 0 };
	time_t			 now = monotime();

	if ((e = token_entry(app->connection_id, app->connection, scopes)) == NULL) {
		token_refused(w, app->connection, scopes, &f);
		return;
	}
	if (e->token != NULL && e->expires_at - now > TOKEN_MIN_LEFT) {
		token_st.hits++;
		token_answer(e, w, &f, "cache");
		if (token_due(e, now))
			token_start(e, token_margin(e));
		return;
	}
	token_st.misses++;
	if (!e->fetching && now < e->retry_at) {
		f = (struct token_fail){ e->last_error, e->last_message, e->retry_at - now };
		token_refused(w, e->conn_name, scopes, &f);
		return;
	}
	if ((qw = malloc(sizeof(*qw))) == NULL) {
		f = (struct token_fail){ "server_error", "out of memory", 0 };
		token_refused(w, e->conn_name, scopes, &f);
		return;
	}
	*qw = *w;
	qw->next = e->waiters;
	e->waiters = qw;
	if (e->fetching)
		token_st.coalesced++;
	else if (token_start(e, TOKEN_MIN_LEFT) == -1) {
		f = (struct token_fail){ "temporarily_unavailable", e->last_message, 0 };
		token_release(e, &f);
	}
}

/* A connection's secret changed, it stopped or was removed (0: any may have): forget its tokens. */
size_t
token_drop_connection(int64_t conn_id, size_t *inflight)
{
	struct tok_entry	*e;
	size_t			 n = 0, busy = 0;
	int			 b;

	for (b = 0; b < TOKEN_BUCKETS; b++) {
		for (e = token_table[b]; e != NULL; e = e->next) {
			if (conn_id != 0 && e->conn_id != conn_id)
				continue;
			n += e->token != NULL;
			busy += e->fetching;
			seal_secret_free(e->token);
			e->token = NULL;
			e->retry_at = 0;
			e->gen++;
		}
	}
	if (inflight != NULL)
		*inflight = busy;
	bearer_drop_connection(conn_id);
	return n;
}

/*
 * Refresh tokens that are in use and close to expiry, so requests never wait for them; once a
 * minute, free the entries nobody uses any more.
 */
void
token_refresh_due(void)
{
	static time_t		 last_sweep;
	struct tok_entry	*e;
	time_t			 now = monotime();
	int			 b;

	if (now - last_sweep >= 60) {
		last_sweep = now;
		token_sweep(1);
		token_lease_prune();
	}
	for (b = 0; b < TOKEN_BUCKETS; b++)
		for (e = token_table[b]; e != NULL; e = e->next)
			if (e->remote)		/* the notification may be late, or lost */
				token_remote_check(e);
			else if (token_due(e, now))
				token_start(e, token_margin(e));
}

/* Counters for /metrics. */
json_t *
token_stats(void)
{
	return json_pack("{sIsIsIsIsIsI}", "cache_hits", (json_int_t)token_st.hits,
	    "cache_misses", (json_int_t)token_st.misses, "tokens_issued",
	    (json_int_t)token_st.issued, "tokens_refused", (json_int_t)token_st.refused,
	    "requests_coalesced", (json_int_t)token_st.coalesced, "token_cache_entries",
	    (json_int_t)token_nentries);
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
	token_nentries = 0;
	bearer_shutdown();
}
