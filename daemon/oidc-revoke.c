/*
 * A user's refresh token revoked upstream (RFC 7009) when a session ends: logout, an admin's
 * revocation, expiry, or a refresh token rotated after its session ended.  Never waited for:
 * the local end stands whatever the upstream answers, and the outcome is audited
 * (user.revoke_upstream).  Right after a start the issuer's document may not be fetched yet;
 * then the revocation waits for it instead of being skipped.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "discovery.h"
#include "log.h"
#include "oidc.h"

/* An upstream revocation in flight: what its audit record names. */
struct oidc_revoke {
	int64_t			 row;
	char			 app[FG_NAME_MAX + 1];
	char			 conn[FG_NAME_MAX + 1];
	char			 username[128];
	char			 cause[16];
	int64_t			 app_id;	/* while it waits for the issuer's document: */
	struct fg_secret	*refresh;	/* its copy of the refresh token */
};

/* Audit an upstream revocation's outcome; a failure is logged too (the local end stands). */
static void
oidc_revoke_audit(const struct oidc_revoke *v, const char *failed)
{
	char			 detail[400];
	struct audit_rec	 rec = { "daemon", "user.revoke_upstream",
				    v->app[0] ? v->app : NULL, v->conn[0] ? v->conn : NULL, NULL,
				    failed ? "failed" : "ok", detail, NULL };

	snprintf(detail, sizeof(detail), "user=%s session=%lld cause=%s%s%s", v->username,
	    (long long)v->row, v->cause, failed ? " error=" : "", failed ? failed : "");
	if (failed != NULL)
		fg_log_warn("could not revoke user session %lld of app %s upstream: %s",
		    (long long)v->row, v->app, failed);
	audit_append(&rec);
}

/* The upstream answered a revocation (or could not be reached). */
static void
oidc_revoke_answered(void *arg, struct upstream_token *t)
{
	struct oidc_revoke *v = arg;

	oidc_revoke_audit(v, t->outcome == UPSTREAM_OK ? NULL : t->message[0] ? t->message :
	    "the upstream refused the revocation");
	free(v);
}

static const char *oidc_revoke_start(struct oidc_revoke *, int64_t, const struct fg_secret *,
    int);

/* The issuer's document came (a revocation right after a start): revoke now, or say why not. */
static void
oidc_revoke_found(void *arg, const struct discovery_view *dv)
{
	struct oidc_revoke	*v = arg;
	const char		*why;

	why = dv->why != NULL ? dv->why : oidc_revoke_start(v, v->app_id, v->refresh, 0);
	if (why != NULL)
		oidc_revoke_audit(v, why);
	seal_secret_free(v->refresh);
	free(v);
}

/* Wait for the issuer's document (not fetched yet) with a copy of refresh; NULL, or why not. */
static const char *
oidc_revoke_wait(const struct oidc_revoke *v, const struct conn_rec *c, int64_t app_id,
    const struct fg_secret *refresh)
{
	struct oidc_revoke *w;

	if ((w = malloc(sizeof(*w))) == NULL)
		return "out of memory";
	*w = *v;
	w->app_id = app_id;
	if ((w->refresh = seal_secret_from(refresh->buf, refresh->len)) != NULL &&
	    discovery_get(c, 0, oidc_revoke_found, w) == 0)
		return NULL;
	seal_secret_free(w->refresh);
	free(w);
	return "the issuer's discovery document is not at hand";
}

/*
 * Start revoking refresh upstream with v's names filled in; NULL, or why it did not start.
 * may_wait: when the issuer's document is not fetched yet, fetch it first.
 */
static const char *
oidc_revoke_start(struct oidc_revoke *v, int64_t app_id, const struct fg_secret *refresh,
    int may_wait)
{
	struct oidc_app		 a;
	struct oidc_revoke	*copy;
	struct fg_secret	*secret = NULL;
	char			 url[2100];
	int			 r;
	struct upstream_param	 p[] = {
		{ "token", refresh->buf, refresh->len },
		{ "token_type_hint", "refresh_token", 13 },
	};

	if (oidc_app_get(NULL, app_id, &a) == -1)
		return "the app or its connection is gone";
	snprintf(v->app, sizeof(v->app), "%s", a.name);
	snprintf(v->conn, sizeof(v->conn), "%s", a.conn.name);
	if (discovery_endpoint(&a.conn, "revoke", url, sizeof(url)) == -1)
		/* no token endpoint either: the document is not fetched yet (a start) */
		return may_wait && discovery_endpoint(&a.conn, "token", url, sizeof(url)) == -1 ?
		    oidc_revoke_wait(v, &a.conn, app_id, refresh) :
		    "the issuer names no revocation endpoint";
	if ((copy = malloc(sizeof(*copy))) == NULL)
		return "out of memory";
	*copy = *v;
	copy->refresh = NULL;
	r = connection_open_secret(&a.conn, &secret) == -1 ? -2 :
	    upstream_revoke(url, a.conn.client_id, secret, p, 2, oidc_revoke_answered, copy);
	seal_secret_free(secret);
	if (r != 0)
		free(copy);
	return r == 0 ? NULL : r == -2 ? "the connection's secret does not open" :
	    "too many upstream requests in flight";
}

/* Revoke a user's refresh token upstream, never waiting for the answer; cause: why it ends. */
void
oidc_revoke_upstream(int64_t app_id, int64_t row, const char *username,
    const struct fg_secret *refresh, const char *cause)
{
	struct oidc_revoke	 v = { .row = row };
	const char		*why;

	snprintf(v.username, sizeof(v.username), "%s", username);
	snprintf(v.cause, sizeof(v.cause), "%s", cause);
	if ((why = oidc_revoke_start(&v, app_id, refresh, 1)) != NULL)
		oidc_revoke_audit(&v, why);
}
