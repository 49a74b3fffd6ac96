/*
 * The issuer of each connection and what it publishes: its OpenID Connect discovery document
 * ({issuer}/.well-known/openid-configuration) and the JWKS it names, fetched through the
 * upstream's curl multi (never blocking the loop), cached per connection for an hour, and
 * refetched early (at most every few seconds) when an ID token names a key we lack.  One
 * fetch at a time per connection: logins that need it meanwhile wait on it.
 *
 * Where the issuer is comes from the connection's token URL (Keycloak's layout: the realm's
 * URL); everything else comes from the document, which must name that issuer exactly and that
 * token URL as its token endpoint, so the client secret only ever goes where the operator
 * configured it.  Both documents are capped in size before they are parsed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon.h"
#include "discovery.h"
#include "log.h"
#include "util.h"

#define DISCOVERY_TTL_MS	3600000	/* document and keys are refetched after an hour */
#define DISCOVERY_REFRESH_MS	10000	/* an unknown kid refetches at most this often */
#define DISCOVERY_ENTRIES_MAX	64	/* connections cached; the least recently used goes */
#define DISCOVERY_WAITERS_MAX	1024	/* logins waiting on one connection's fetch */
#define DISCOVERY_SUFFIX	"/protocol/openid-connect/token"
#define DISCOVERY_PATH		"/.well-known/openid-configuration"

enum discovery_fetch { FETCH_NONE, FETCH_DOC, FETCH_KEYS };

struct discovery_waiter {
	discovery_cb		 cb;
	void			*arg;
	int			 flags;
	struct discovery_waiter	*next;
};

struct discovery_entry {
	int64_t			 conn_id;
	char			 conn[FG_NAME_MAX + 1];
	char			 issuer[DISCOVERY_URL_MAX + 1];		/* expected */
	char			 token_url[DISCOVERY_URL_MAX + 1];
	struct discovery_doc	 doc;
	struct jwks_set		 keys;
	int			 have_doc, have_keys;
	long long		 doc_at, keys_at, refreshed_at, used_at;
	enum discovery_fetch	 fetching;
	int			 serving;	/* waiters being answered: not to be evicted */
	struct discovery_waiter	*waiters;	/* oldest first */
	size_t			 nwaiters;
	struct discovery_entry	*next;
};

static struct discovery_entry	*discovery_list;
static size_t			 discovery_n;

/* True when s is an https URL of printable characters that fits. */
static int
discovery_url_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n <= 8 || n > DISCOVERY_URL_MAX || strncmp(s, "https://", 8) != 0)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    strchr("\"'<>\\`", *s) != NULL)
			return 0;
	return 1;
}

/* Copy URL member name of j into out; -1 if present but not a usable URL, or absent and needed. */
static int
discovery_url(json_t *j, const char *name, int needed, char out[DISCOVERY_URL_MAX + 1])
{
	json_t *v = json_object_get(j, name);

	out[0] = '\0';
	if (v == NULL)
		return needed ? -1 : 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
	    !discovery_url_ok(json_string_value(v)))
		return -1;
	snprintf(out, DISCOVERY_URL_MAX + 1, "%s", json_string_value(v));
	return 0;
}

/* The JWKS_* bits of the algorithms a list names; 0 when none is one flowgate verifies. */
static unsigned
discovery_algs(json_t *list)
{
	json_t		*v;
	size_t		 i;
	unsigned	 bits = 0;

	json_array_foreach(list, i, v)
		bits |= jwks_alg_bit(json_string_value(v));
	return bits;
}

/* The document's endpoints, each checked; NULL when all are good, else why not. */
static const char *
discovery_endpoints(json_t *j, struct discovery_doc *d)
{
	if (discovery_url(j, "authorization_endpoint", 1, d->authorization_endpoint) == -1)
		return "the discovery document has no usable authorization_endpoint (an https URL)";
	if (discovery_url(j, "token_endpoint", 1, d->token_endpoint) == -1)
		return "the discovery document has no usable token_endpoint (an https URL)";
	if (discovery_url(j, "jwks_uri", 1, d->jwks_uri) == -1)
		return "the discovery document has no usable jwks_uri (an https URL)";
	if (discovery_url(j, "revocation_endpoint", 0, d->revocation_endpoint) == -1)
		return "the discovery document's revocation_endpoint is not an https URL";
	if (discovery_url(j, "end_session_endpoint", 0, d->end_session_endpoint) == -1)
		return "the discovery document's end_session_endpoint is not an https URL";
	if (discovery_url(j, "userinfo_endpoint", 0, d->userinfo_endpoint) == -1)
		return "the discovery document's userinfo_endpoint is not an https URL";
	return NULL;
}

/*
 * Parse a discovery document (untrusted bytes) into d for the expected issuer, whose token
 * endpoint must be token_url; NULL when it is good, else why not.
 */
const char *
discovery_parse(const char *body, size_t len, const char *issuer, const char *token_url,
    struct discovery_doc *d)
{
	json_t		*j, *algs;
	const char	*why;

	memset(d, 0, sizeof(*d));
	if (len > DISCOVERY_DOC_MAX)
		return "the discovery document is larger than 64 KiB";
	if ((j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return "the discovery document is not JSON";
	algs = json_object_get(j, "id_token_signing_alg_values_supported");
	if (!json_is_object(j))
		why = "the discovery document is not a JSON object";
	else if (discovery_url(j, "issuer", 1, d->issuer) == -1)
		why = "the discovery document names no issuer";
	else if (strcmp(d->issuer, issuer) != 0)
		why = "the discovery document names another issuer than the connection's realm; "
		    "refused";
	else if ((why = discovery_endpoints(j, d)) != NULL)
		;
	else if (strcmp(d->token_endpoint, token_url) != 0)
		why = "the discovery document's token_endpoint is not the connection's token URL; "
		    "refused";
	else if (!json_is_array(algs))
		why = "the discovery document has no id_token_signing_alg_values_supported";
	else if ((d->id_token_algs = discovery_algs(algs)) == 0)
		why = "the issuer signs ID tokens with no algorithm flowgate accepts (RS*, PS*, "
		    "ES*; never none or HS*)";
	json_decref(j);
	return why;
}

/* The issuer of connection c: the realm's URL before its token path; -1 if not that shape. */
int
discovery_issuer(const struct conn_rec *c, char *out, size_t outlen)
{
	size_t n = strlen(c->token_url), s = sizeof(DISCOVERY_SUFFIX) - 1;

	if (n <= s || strcmp(c->token_url + n - s, DISCOVERY_SUFFIX) != 0 ||
	    n - s > DISCOVERY_URL_MAX)
		return -1;
	snprintf(out, outlen, "%.*s", (int)(n - s), c->token_url);
	return 0;
}

/* Free an entry (no fetch in flight, no waiters). */
static void
discovery_entry_free(struct discovery_entry *e)
{
	jwks_clear(&e->keys);
	free(e);
}

/* Unlink the least recently used idle entry, to make room; -1 if every one is busy. */
static int
discovery_evict(void)
{
	struct discovery_entry **pp, **victim = NULL;

	for (pp = &discovery_list; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->fetching == FETCH_NONE && (*pp)->waiters == NULL && !(*pp)->serving &&
		    (victim == NULL || (*pp)->used_at < (*victim)->used_at))
			victim = pp;
	if (victim == NULL)
		return -1;
	discovery_entry_free(*victim);
	*victim = (*victim)->next;
	discovery_n--;
	return 0;
}

/* The entry of connection c (issuer expected), made if needed; NULL when none can be. */
static struct discovery_entry *
discovery_entry(const struct conn_rec *c, const char *issuer, int make)
{
	struct discovery_entry *e;

	for (e = discovery_list; e != NULL; e = e->next)
		if (e->conn_id == c->id)
			break;
	if (e != NULL && strcmp(e->issuer, issuer) != 0 && e->fetching == FETCH_NONE &&
	    e->waiters == NULL && !e->serving) {
		e->have_doc = e->have_keys = 0;	/* the token URL changed: another issuer */
		jwks_clear(&e->keys);
		snprintf(e->issuer, sizeof(e->issuer), "%s", issuer);
		snprintf(e->token_url, sizeof(e->token_url), "%s", c->token_url);
	}
	if (e != NULL || !make)
		return e != NULL && strcmp(e->issuer, issuer) == 0 ? e : NULL;
	if ((discovery_n >= DISCOVERY_ENTRIES_MAX && discovery_evict() == -1) ||
	    (e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->conn_id = c->id;
	snprintf(e->conn, sizeof(e->conn), "%s", c->name);
	snprintf(e->issuer, sizeof(e->issuer), "%s", issuer);
	snprintf(e->token_url, sizeof(e->token_url), "%s", c->token_url);
	e->next = discovery_list;
	discovery_list = e;
	discovery_n++;
	return e;
}

/* Answer every waiter of e with why (a fetch failed); their callbacks may queue new ones. */
static void
discovery_fail_all(struct discovery_entry *e, const char *why)
{
	struct discovery_waiter		*w, *list = e->waiters;
	struct discovery_view		 v = { NULL, NULL, why };

	e->waiters = NULL;
	e->nwaiters = 0;
	e->serving++;
	while ((w = list) != NULL) {
		list = w->next;
		w->cb(w->arg, &v);
		free(w);
	}
	e->serving--;
}

static void discovery_fetched(void *arg, struct upstream_reply *h);

/* Start fetching url for e (what: FETCH_DOC or FETCH_KEYS); -1 (waiters failed) if it cannot. */
static int
discovery_start(struct discovery_entry *e, enum discovery_fetch what)
{
	struct upstream_call c = {
		.method = "GET", .url = what == FETCH_DOC ? NULL : e->doc.jwks_uri,
		.accept = "application/json", .max_response = what == FETCH_DOC ?
		    DISCOVERY_DOC_MAX : JWKS_DOC_MAX, .conn_id = e->conn_id,
	};
	char url[DISCOVERY_URL_MAX + sizeof(DISCOVERY_PATH)];

	snprintf(url, sizeof(url), "%s" DISCOVERY_PATH, e->issuer);
	if (what == FETCH_DOC)
		c.url = url;
	e->fetching = what;
	if (upstream_http(&c, discovery_fetched, e) == 0)
		return 0;
	e->fetching = FETCH_NONE;
	fg_log_warn("connection %s: cannot start fetching the issuer's %s", e->conn,
	    what == FETCH_DOC ? "discovery document" : "JWKS");
	discovery_fail_all(e, what == FETCH_DOC ? "cannot start fetching the issuer's discovery "
	    "document (too many upstream requests in flight)" : "cannot start fetching the "
	    "issuer's JWKS (too many upstream requests in flight)");
	return -1;
}

/* Answer the waiters of e that can be answered, in order; start the fetch the next one needs. */
static void
discovery_serve(struct discovery_entry *e)
{
	struct discovery_waiter	*w;
	struct discovery_view	 v;
	long long		 now = monotime_ms();

	e->serving++;
	while (e->fetching == FETCH_NONE && (w = e->waiters) != NULL) {
		if (!e->have_doc || now - e->doc_at > DISCOVERY_TTL_MS) {
			discovery_start(e, FETCH_DOC);
			continue;
		}
		if ((w->flags & DISCOVERY_KEYS) && (!e->have_keys ||
		    now - e->keys_at > DISCOVERY_TTL_MS)) {
			discovery_start(e, FETCH_KEYS);
			continue;
		}
		e->waiters = w->next;
		e->nwaiters--;
		v = (struct discovery_view){ &e->doc, (w->flags & DISCOVERY_KEYS) ? &e->keys :
		    NULL, NULL };
		w->cb(w->arg, &v);
		free(w);
	}
	e->serving--;
}

/* Why a finished fetch's answer is no good (NULL: it is), into why. */
static const char *
discovery_answer_why(const struct upstream_reply *h, const char *what, char *why,
    size_t whylen)
{
	if (h->cc != 0)
		snprintf(why, whylen, "cannot fetch the issuer's %s: %s", what, h->message);
	else if (h->status != 200)
		snprintf(why, whylen, "the issuer's %s answered HTTP %ld", what, h->status);
	else
		return NULL;
	return why;
}

/* A fetch of e's document or keys ended: keep what it brought, then serve the waiters. */
static void
discovery_fetched(void *arg, struct upstream_reply *h)
{
	struct discovery_entry	*e = arg;
	enum discovery_fetch	 what = e->fetching;
	char			 why[DISCOVERY_URL_MAX + 512], jwks_uri[DISCOVERY_URL_MAX + 1];
	const char		*bad;
	struct discovery_doc	 d;

	e->fetching = FETCH_NONE;
	snprintf(jwks_uri, sizeof(jwks_uri), "%s", e->doc.jwks_uri);
	if ((bad = discovery_answer_why(h, what == FETCH_DOC ? "discovery document" : "JWKS",
	    why, sizeof(why))) == NULL && what == FETCH_DOC &&
	    (bad = discovery_parse(h->body, h->len, e->issuer, e->token_url, &d)) == NULL) {
		e->doc = d;
		e->have_doc = 1;
		e->doc_at = monotime_ms();
		if (strcmp(jwks_uri, d.jwks_uri) != 0)
			e->have_keys = 0;	/* another key set: fetch it before use */
	} else if (bad == NULL && what == FETCH_KEYS) {
		jwks_clear(&e->keys);
		if ((bad = jwks_parse(h->body, h->len, &e->keys)) == NULL) {
			e->have_keys = 1;
			e->keys_at = monotime_ms();
		}
	}
	if (bad == NULL) {
		discovery_serve(e);
		return;
	}
	if (what == FETCH_DOC)
		e->have_doc = 0;
	e->have_keys = 0;
	if (bad != why)
		snprintf(why, sizeof(why), "%.300s (issuer %s)", bad, e->issuer);
	fg_log_warn("connection %s: %s", e->conn, why);
	discovery_fail_all(e, why);
}

/*
 * Hand cb(arg, view) the discovery document of c's issuer (and with DISCOVERY_KEYS its keys),
 * at once when cached, else when fetched; DISCOVERY_REFRESH refetches both unless that was done
 * within DISCOVERY_REFRESH_MS.  Failures reach cb too, with why; -1 (cb not called) only when
 * no more can wait.
 */
int
discovery_get(const struct conn_rec *c, int flags, discovery_cb cb, void *arg)
{
	struct discovery_entry	*e;
	struct discovery_waiter	*w, **tail;
	struct discovery_view	 v = { NULL, NULL, NULL };
	char			 issuer[DISCOVERY_URL_MAX + 1];
	long long		 now = monotime_ms();

	if (discovery_issuer(c, issuer, sizeof(issuer)) == -1) {
		v.why = "the connection's token URL is not a realm's (…/realms/R/protocol/"
		    "openid-connect/token), so its issuer is unknown";
		cb(arg, &v);
		return 0;
	}
	if ((e = discovery_entry(c, issuer, 1)) == NULL || e->nwaiters >= DISCOVERY_WAITERS_MAX ||
	    (w = calloc(1, sizeof(*w))) == NULL)
		return -1;
	e->used_at = now;
	if ((flags & DISCOVERY_REFRESH) && now - e->refreshed_at >= DISCOVERY_REFRESH_MS) {
		e->refreshed_at = now;
		e->doc_at = e->keys_at = now - DISCOVERY_TTL_MS - 1;	/* stale: refetch */
	}
	w->cb = cb;
	w->arg = arg;
	w->flags = flags;
	for (tail = &e->waiters; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = w;
	e->nwaiters++;
	discovery_serve(e);
	return 0;
}

/* Nothing to do: a fetch started only to have the document at hand later. */
static void
discovery_ignore(void *arg, const struct discovery_view *v)
{
	(void)arg;
	(void)v;
}

/*
 * The endpoint what ("auth", "token", "revoke", "logout", "userinfo"; NULL: the issuer) of c
 * from its cached document; -1 when it has none or the document is not at hand (a fetch is
 * then started for next time).
 */
int
discovery_endpoint(const struct conn_rec *c, const char *what, char *out, size_t outlen)
{
	struct discovery_entry	*e;
	char			 issuer[DISCOVERY_URL_MAX + 1];
	const char		*v = NULL;

	if (discovery_issuer(c, issuer, sizeof(issuer)) == -1)
		return -1;
	if (what == NULL) {
		snprintf(out, outlen, "%s", issuer);
		return 0;
	}
	if ((e = discovery_entry(c, issuer, 0)) == NULL || !e->have_doc ||
	    monotime_ms() - e->doc_at > DISCOVERY_TTL_MS)
		discovery_get(c, 0, discovery_ignore, NULL);
	if (e == NULL || !e->have_doc)
		return -1;
	if (strcmp(what, "auth") == 0)
		v = e->doc.authorization_endpoint;
	else if (strcmp(what, "token") == 0)
		v = e->doc.token_endpoint;
	else if (strcmp(what, "revoke") == 0)
		v = e->doc.revocation_endpoint;
	else if (strcmp(what, "logout") == 0)
		v = e->doc.end_session_endpoint;
	else if (strcmp(what, "userinfo") == 0)
		v = e->doc.userinfo_endpoint;
	if (v == NULL || *v == '\0' || strlen(v) >= outlen)
		return -1;
	snprintf(out, outlen, "%s", v);
	return 0;
}

static const char SQL_WARM[] =
    "SELECT DISTINCT connection_id FROM apps WHERE revoked_at IS NULL AND redirect_uri IS NOT NULL "
    "LIMIT 64";

/*
 * At start, fetch the documents and keys of the connections that have user logins, so that
 * what needs an endpoint at once (a logout's revocation after a restart) finds it.
 */
void
discovery_warm(void)
{
	struct db_stmt	*st = store_prepare(SQL_WARM);
	struct conn_rec	 c;

	if (st == NULL)
		return;
	while (db_step(st) == DB_ROW)
		if (connection_get_id(db_column_int64(st, 0), &c) == 0)
			discovery_get(&c, DISCOVERY_KEYS, discovery_ignore, NULL);
	db_reset(st);
}

/* Free every entry at exit (after upstream_shutdown failed the fetches in flight). */
void
discovery_shutdown(void)
{
	struct discovery_entry *e;

	while ((e = discovery_list) != NULL) {
		discovery_list = e->next;
		discovery_fail_all(e, "daemon shutting down");
		discovery_entry_free(e);
	}
	discovery_n = 0;
}
