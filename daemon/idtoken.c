/*
 * The ID token of a login, checked in full (OIDC Core 3.1.3.7): its signature against the
 * issuer's published keys (jwks.c, keys from discovery.c), then its claims (issuer, audience,
 * azp, nonce, times: answer_id_claims).  A token naming a key we lack makes us refetch the
 * issuer's document and keys once (discovery.c rate-limits it), so a rotated signing key is
 * picked up without a restart; a key still unknown after that is refused.
 * The ID token of a refresh is checked the same way (OIDC Core 12.2), but its subject must be
 * the login's and its nonce is not checked: the session does not keep the login's nonce, and a
 * refresh answer comes straight from the token endpoint, where no replay it guards against fits.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "discovery.h"

#define IDTOKEN_SUB_MAX		256	/* as the session keeps them (oidc.c) */
#define IDTOKEN_USER_MAX	128

struct idtoken_req {
	struct conn_rec	 conn;
	const char	*jwt;		/* the caller's, alive until cb */
	char		 nonce[128];
	int		 refresh;	/* a refresh's ID token: no nonce, the sub below */
	char		 sub[IDTOKEN_SUB_MAX];
	int		 refreshed;	/* the keys were fetched again */
	idtoken_cb	 cb;
	void		*arg;
};

/* Tell the caller and forget the request. */
static void
idtoken_done(struct idtoken_req *r, const char *why, const char *sub, const char *user)
{
	r->cb(r->arg, why, sub, user);
	free(r);
}

/* The issuer's document and keys are at hand (or why not): check the token with them. */
static void
idtoken_keys(void *arg, const struct discovery_view *v)
{
	struct idtoken_req	*r = arg;
	char			 why[400], sub[IDTOKEN_SUB_MAX], user[IDTOKEN_USER_MAX];
	const char		*bad;
	enum jwks_verdict	 verdict;

	if (v->why != NULL) {
		snprintf(why, sizeof(why), "the ID token cannot be checked: %s", v->why);
		idtoken_done(r, why, NULL, NULL);
		return;
	}
	verdict = jwks_verify(v->keys, v->doc->id_token_algs, r->jwt, why, sizeof(why));
	if (verdict == JWKS_UNKNOWN_KEY && !r->refreshed) {
		r->refreshed = 1;	/* a rotated key? fetch the issuer's keys again, once */
		if (discovery_get(&r->conn, DISCOVERY_KEYS | DISCOVERY_REFRESH, idtoken_keys,
		    r) == -1)
			idtoken_done(r, "too many logins wait on the issuer's keys", NULL, NULL);
		return;
	}
	if (verdict != JWKS_OK) {
		idtoken_done(r, why, NULL, NULL);
		return;
	}
	bad = answer_id_claims(r->jwt, v->doc->issuer, r->conn.client_id,
	    r->refresh ? NULL : r->nonce, time(NULL), sub, sizeof(sub), user, sizeof(user));
	if (bad == NULL && r->refresh && strcmp(sub, r->sub) != 0)
		bad = "the refreshed ID token names another subject than the login's";
	idtoken_done(r, bad, bad == NULL ? sub : NULL, bad == NULL ? user : NULL);
}

/* Start checking jwt for c: with nonce for a login, with sub (nonce NULL) for a refresh. */
static int
idtoken_start(const struct conn_rec *c, const char *jwt, const char *nonce, const char *sub,
    idtoken_cb cb, void *arg)
{
	struct idtoken_req *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	r->conn = *c;
	r->jwt = jwt;
	r->refresh = nonce == NULL;
	snprintf(r->nonce, sizeof(r->nonce), "%s", nonce != NULL ? nonce : "");
	snprintf(r->sub, sizeof(r->sub), "%s", sub != NULL ? sub : "");
	r->cb = cb;
	r->arg = arg;
	if (discovery_get(c, DISCOVERY_KEYS, idtoken_keys, r) == -1) {
		free(r);
		return -1;
	}
	return 0;
}

/*
 * Check jwt (kept alive by the caller) as the ID token of a login to c with nonce; cb(arg, why,
 * sub, user) says how it went, maybe before this returns: why NULL and the subject and user
 * name, or why not.  -1 (cb not called) when the check cannot even wait.
 */
int
idtoken_check(const struct conn_rec *c, const char *jwt, const char *nonce, idtoken_cb cb,
    void *arg)
{
	return idtoken_start(c, jwt, nonce, NULL, cb, arg);
}

/* The same for the ID token of a refresh of the login of subject sub (any nonce). */
int
idtoken_check_refresh(const struct conn_rec *c, const char *jwt, const char *sub,
    idtoken_cb cb, void *arg)
{
	return idtoken_start(c, jwt, NULL, sub, cb, arg);
}
