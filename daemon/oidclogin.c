/*
 * The login of a user-present flow: Authorization Code with PKCE (S256), the daemon as a
 * token-mediating backend.  "login.begin" makes state, nonce and verifier once the issuer's
 * discovery document is at hand and answers where to send the browser; "login.callback" takes
 * the pending login of its state (bound to the browser's cookie, one use), exchanges the code
 * with the connection's secret, checks the ID token (idtoken.c: signature, issuer, audience,
 * azp, nonce, times) and starts the user's session (oidc.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "discovery.h"
#include "oidc.h"

#define OIDCLOGIN_PENDING_MAX	4096
#define OIDCLOGIN_PENDING_MS	600000	/* a login must come back within 10 minutes */

struct oidclogin_pending {
	uint8_t			 state_hash[32];
	int64_t			 app_id;
	char			 nonce[OIDC_RANDOM_LEN + 1];
	char			 verifier[OIDC_RANDOM_LEN + 1];
	int64_t			 created;
	struct oidclogin_pending	*next;
};

/* A code exchange in flight. */
struct oidclogin_exchange {
	struct fg_reqctx	 ctx;
	struct oidc_app		 app;
	char			 nonce[OIDC_RANDOM_LEN + 1];
	char			 remote[64];
	struct fg_secret	*id_token, *refresh;	/* from the token endpoint, being checked */
};

/* A login.begin waiting for the issuer's discovery document. */
struct oidclogin_begin {
	struct fg_reqctx	 ctx;
	struct oidc_app		 app;
};

static struct oidclogin_pending	*oidclogin_pending_list;
static size_t			 oidclogin_npending;

/* Append "&name=value" to a URL, form-encoding the value. */
static void
oidclogin_query(char *url, size_t cap, const char *name, const char *value)
{
	static const char	hex[] = "0123456789ABCDEF";
	size_t			o = strlen(url);

	o += (size_t)snprintf(url + o, cap - o, "%c%s=", strchr(url, '?') ? '&' : '?', name);
	for (; *value != '\0' && o + 4 < cap; value++) {
		unsigned char c = (unsigned char)*value;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			url[o++] = (char)c;
		else {
			url[o++] = '%';
			url[o++] = hex[c >> 4];
			url[o++] = hex[c & 15];
		}
	}
	url[o] = '\0';
}

/*
 * Drop pending logins older than the limit, and the oldest beyond OIDCLOGIN_PENDING_MAX: the list
 * is newest first, so those are at its tail.  A full table makes room for a new login by
 * forgetting the one started longest ago, never the new one, or every real login would fail
 * once someone had started enough of them.
 */
static void
oidclogin_pending_expire(void)
{
	struct oidclogin_pending	**pp, *p;
	int64_t			  now = store_now_ms();
	size_t			  kept = 0;

	for (pp = &oidclogin_pending_list; (p = *pp) != NULL;) {
		if (now - p->created > OIDCLOGIN_PENDING_MS || kept == OIDCLOGIN_PENDING_MAX) {
			*pp = p->next;
			sodium_memzero(p, sizeof(*p));
			free(p);
			oidclogin_npending--;
		} else {
			kept++;
			pp = &p->next;
		}
	}
}

/* The issuer's document (and keys) are at hand, or why not: where to send the browser. */
static void
oidclogin_begin_found(void *arg, const struct discovery_view *v)
{
	struct oidclogin_begin	*b = arg;
	const struct fg_reqctx	*ctx = &b->ctx;
	const struct oidc_app	*a = &b->app;
	struct oidclogin_pending	*p;
	char			 state[OIDC_RANDOM_LEN + 1], url[8192], scope[FG_SCOPES_MAX + 32];
	char			 challenge[OIDC_RANDOM_LEN + 1];
	uint8_t			 h[crypto_hash_sha256_BYTES];

	if (v->why != NULL) {
		server_reply_error(ctx, "temporarily_unavailable", "the sign-in of app %s cannot "
		    "start: %s", a->name, v->why);
		free(b);
		return;
	}
	snprintf(url, sizeof(url), "%s", v->doc->authorization_endpoint);
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		server_reply_error(ctx, "server_error", "out of memory");
		free(b);
		return;
	}
	oidc_random(state);
	oidc_random(p->nonce);
	oidc_random(p->verifier);
	crypto_hash_sha256(h, (const uint8_t *)p->verifier, OIDC_RANDOM_LEN);
	sodium_bin2base64(challenge, sizeof(challenge), h, sizeof(h),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	seal_session_hash(state, OIDC_RANDOM_LEN, p->state_hash);
	p->app_id = a->id;
	p->created = store_now_ms();
	p->next = oidclogin_pending_list;
	oidclogin_pending_list = p;
	oidclogin_npending++;
	oidclogin_pending_expire();	/* after the insert: the oldest goes if the table is full */
	snprintf(scope, sizeof(scope), "%s offline_access", a->scopes);
	oidclogin_query(url, sizeof(url), "response_type", "code");
	oidclogin_query(url, sizeof(url), "client_id", a->conn.client_id);
	oidclogin_query(url, sizeof(url), "redirect_uri", a->redirect_uri);
	oidclogin_query(url, sizeof(url), "scope", scope);
	oidclogin_query(url, sizeof(url), "state", state);
	oidclogin_query(url, sizeof(url), "nonce", p->nonce);
	oidclogin_query(url, sizeof(url), "code_challenge", challenge);
	oidclogin_query(url, sizeof(url), "code_challenge_method", "S256");
	server_reply(ctx, json_pack("{sbssss}", "ok", 1, "authorize_url", url, "state", state));
	free(b);
}

/*
 * "login.begin": app, remote? — where to send the browser, and the state to bind to it, once
 * the issuer's discovery document and keys are at hand (fetched now if not cached).
 */
static void
oidclogin_verb_begin(const struct fg_reqctx *ctx, json_t *req)
{
	struct oidclogin_begin	*b;
	struct gate_pass	 gp = { .route = GATE_LOGIN };

	if (gate_open(ctx, &gp, req) == -1)
		return;
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		server_reply_error(ctx, "server_error", "out of memory");
		return;
	}
	if (oidc_app_get(NULL, gp.app.id, &b->app) == -1 || b->app.redirect_uri[0] == '\0') {
		server_reply_error(ctx, "not_found", "app %s has no redirect URI for user logins",
		    gp.app.name);
		free(b);
		return;
	}
	b->ctx = *ctx;
	if (discovery_get(&b->app.conn, DISCOVERY_KEYS, oidclogin_begin_found, b) == -1) {
		server_reply_error(ctx, "temporarily_unavailable", "too many sign-ins wait on the "
		    "issuer of app %s", b->app.name);
		free(b);
	}
}

/* Take the pending login of state (one use only); NULL if unknown, expired or unbound. */
static struct oidclogin_pending *
oidclogin_pending_take(const char *state, const char *cookie)
{
	struct oidclogin_pending	**pp, *p;
	uint8_t			  h[32];

	if (state == NULL || cookie == NULL || strlen(state) != OIDC_RANDOM_LEN ||
	    strlen(cookie) != OIDC_RANDOM_LEN || sodium_memcmp(state, cookie, OIDC_RANDOM_LEN) != 0)
		return NULL;
	oidclogin_pending_expire();
	seal_session_hash(state, OIDC_RANDOM_LEN, h);
	for (pp = &oidclogin_pending_list; (p = *pp) != NULL; pp = &p->next) {
		if (sodium_memcmp(p->state_hash, h, 32) == 0) {
			*pp = p->next;
			oidclogin_npending--;
			return p;
		}
	}
	return NULL;
}

/* Record a failed login and tell the browser's front end. */
static void
oidclogin_failed(struct oidclogin_exchange *x, const char *why)
{
	char			 detail[400];
	struct audit_rec	 rec = { "oidc:-", "user.login", x->app.name, x->app.conn.name,
				    NULL, "failed", detail, NULL };

	snprintf(detail, sizeof(detail), "%s remote=%s", why, x->remote);
	audit_append(&rec);
	server_reply_error(&x->ctx, "login_failed", "%s", why);
}

/* Forget a code exchange and the tokens it still holds. */
static void
oidclogin_exchange_free(struct oidclogin_exchange *x)
{
	seal_secret_free(x->id_token);
	seal_secret_free(x->refresh);
	free(x);
}

/* The ID token was checked (idtoken.c): start the session, or tell why not. */
static void
oidclogin_id_checked(void *arg, const char *why, const char *sub, const char *user)
{
	struct oidclogin_exchange	*x = arg;
	struct oidc_session		*s = NULL;
	char				 sid[OIDC_RANDOM_LEN + 1], actor[300], detail[96];
	struct audit_rec		 rec = { actor, "user.login", x->app.name,
					    x->app.conn.name, NULL, "ok", detail, NULL };

	if (why == NULL)
		s = oidc_session_start(&x->app, sub, user, &x->refresh, sid, &why);
	if (s == NULL) {
		oidclogin_failed(x, why);
		oidclogin_exchange_free(x);
		return;
	}
	snprintf(actor, sizeof(actor), "oidc:%s", s->username);
	snprintf(detail, sizeof(detail), "remote=%s", x->remote);
	audit_append(&rec);
	hold_reply(&x->ctx, x->app.conn.id, json_pack("{sbssssssss}", "ok", 1, "session", sid,
	    "return_url", x->app.return_url, "user", s->username, "app", s->app));
	sodium_memzero(sid, sizeof(sid));
	oidclogin_exchange_free(x);
}

/* The code came back as tokens: keep them while the ID token is checked. */
static void
oidclogin_exchanged(void *arg, struct upstream_token *t)
{
	struct oidclogin_exchange	*x = arg;
	const char		*why = NULL;

	if (t->outcome != UPSTREAM_OK)
		why = t->outcome == UPSTREAM_REFUSED ? "the upstream refused the code" : t->message;
	else if (t->id_token == NULL)
		why = "the upstream returned no ID token";
	else if (t->refresh_token == NULL)
		why = "the upstream returned no refresh token (is offline_access allowed?)";
	if (why != NULL) {
		oidclogin_id_checked(x, why, NULL, NULL);
		return;
	}
	x->id_token = t->id_token;
	x->refresh = t->refresh_token;
	t->id_token = t->refresh_token = NULL;
	if (idtoken_check(&x->app.conn, x->id_token->buf, x->nonce, oidclogin_id_checked, x) == -1)
		oidclogin_id_checked(x, "too many logins wait on the issuer's keys", NULL, NULL);
}

/* "login.callback": code, state, state_cookie, remote? — exchange the code (PKCE). */
static void
oidclogin_verb_callback(const struct fg_reqctx *ctx, json_t *req)
{
	struct oidclogin_pending	*p;
	struct oidclogin_exchange	*x;
	struct fg_secret	*secret = NULL;
	const char		*code = json_string_value(json_object_get(req, "code"));
	const char		*remote = json_string_value(json_object_get(req, "remote"));
	struct gate_pass	 gp = { .route = GATE_LOGIN };
	int			 r = -1;

	p = oidclogin_pending_take(json_string_value(json_object_get(req, "state")),
	    json_string_value(json_object_get(req, "state_cookie")));
	if (p == NULL) {
		server_reply_error(ctx, "invalid_state", "this login is unknown, expired, already "
		    "used, or was started in another browser");
		return;
	}
	gp.login_app_id = p->app_id;
	if (gate_open(ctx, &gp, req) == -1) {
		sodium_memzero(p, sizeof(*p));
		free(p);
		return;
	}
	if ((x = calloc(1, sizeof(*x))) == NULL || oidc_app_get(NULL, p->app_id, &x->app) == -1) {
		free(x);
		sodium_memzero(p, sizeof(*p));
		free(p);
		server_reply_error(ctx, "not_found", "the app of this login is gone");
		return;
	}
	x->ctx = *ctx;
	snprintf(x->nonce, sizeof(x->nonce), "%s", p->nonce);
	snprintf(x->remote, sizeof(x->remote), "%s", remote ? remote : "-");
	if (connection_open_secret(&x->app.conn, &secret) == 0) {
		struct upstream_param q[] = {
			{ "grant_type", "authorization_code", 18 },
			{ "code", code, strlen(code) },
			{ "redirect_uri", x->app.redirect_uri, strlen(x->app.redirect_uri) },
			{ "code_verifier", p->verifier, OIDC_RANDOM_LEN },
		};

		r = upstream_token(x->app.conn.token_url, x->app.conn.client_id, secret, q, 4,
		    oidclogin_exchanged, x);
	}
	seal_secret_free(secret);
	sodium_memzero(p, sizeof(*p));
	free(p);
	if (r == -1) {
		free(x);
		server_reply_error(ctx, "temporarily_unavailable", "cannot reach the upstream");
	}
}

/* Drop stale pending logins (the sessions' sweep, once a minute). */
void
oidclogin_sweep(void)
{
	oidclogin_pending_expire();
}

/* Forget every pending login at exit. */
void
oidclogin_shutdown(void)
{
	struct oidclogin_pending *p;

	while ((p = oidclogin_pending_list) != NULL) {
		oidclogin_pending_list = p->next;
		sodium_memzero(p, sizeof(*p));
		free(p);
	}
	oidclogin_npending = 0;
}

/* The entries of the login verbs (verbs.c). */
static const struct verb_field oidclogin_begin_fields[] = {
	{ "app", VERB_STR, 1, FG_NAME_MAX }, { "remote", VERB_STR, 0, 64 }, VERB_FIELDS_END
};
const struct verb_entry oidclogin_begin_entry = {
	.name = "login.begin",
	.peers = PEER_WEB,
	.fn = oidclogin_verb_begin,
	.fields = oidclogin_begin_fields
};
static const struct verb_field oidclogin_callback_fields[] = {
	{ "code", VERB_STR, 1, 2048 }, { "state", VERB_STR, 1, 64 },
	{ "state_cookie", VERB_STR, 1, 64 }, { "remote", VERB_STR, 0, 64 }, VERB_FIELDS_END
};
const struct verb_entry oidclogin_callback_entry = {
	.name = "login.callback",
	.peers = PEER_WEB,
	.fn = oidclogin_verb_callback,
	.fields = oidclogin_callback_fields
};
