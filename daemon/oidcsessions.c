/*
 * The live user sessions as a whole: ending one by its row (an admin's revocation, a timeout),
 * forgetting copies another node changed, the minute's sweep, an emergency stop's drop, and
 * who a session is for the gate.  One session's life (login, queue, refresh) is oidc.c's.
 */
#include "config.h"

#include <stdio.h>

#include "daemon.h"
#include "oidc.h"

#define OIDC_REVOKE_BATCH	64	/* expired sessions revoked upstream per sweep */

/*
 * End the user session of row (an admin's revocation, a timeout) at once, here and in the
 * database, and revoke its refresh token upstream; -1 if there is no such session.
 */
int
oidc_session_end(int64_t row, const char *cause)
{
	struct oidc_session	*s;
	struct oidc_row		 r;

	for (s = oidc_sessions_head(); s != NULL && s->row != row; s = s->next)
		;
	if (s != NULL) {
		oidc_session_revoke(s, cause);
		return 0;
	}
	if (oidcstore_load_id(row, &r) == -1 && r.id == 0)
		return -1;
	if (r.refresh != NULL)	/* else its seal did not open: nothing to revoke */
		oidc_revoke_upstream(r.app_id, r.id, r.username, r.refresh, cause);
	seal_secret_free(r.refresh);
	oidcstore_delete(row);
	return 0;
}

/*
 * Another node of the cluster ended or refreshed the stored session of row (0: any may have):
 * forget this copy; the next request reads the row again.
 */
void
oidc_session_forget(int64_t row)
{
	struct oidc_session *s, *next;

	for (s = oidc_sessions_head(); s != NULL; s = next) {
		next = s->next;
		if (row == 0 || s->row == row)
			oidc_session_unlink(s);
	}
}

/*
 * Drop idle and too old sessions and stale pending logins (once a minute).  Expired sessions
 * leave memory here; their rows end a batch a sweep, each refresh token revoked upstream, so a
 * wave of timeouts never floods the upstream (an expired row is never used meanwhile).
 */
void
oidc_sweep(void)
{
	struct oidc_session	*s, *next;
	int64_t			 now = store_now_ms(), rows[OIDC_REVOKE_BATCH];
	size_t			 i, n;

	oidclogin_sweep();
	for (s = oidc_sessions_head(); s != NULL; s = next) {
		next = s->next;
		if (!s->busy && (now - s->last_seen > fg_cfg->session_idle_s * 1000 ||
		    now - s->created > fg_cfg->session_max_s * 1000))
			oidc_session_unlink(s);
		else if (s->last_seen > s->seen_stored) {
			oidcstore_touch(s->row, s->last_seen);
			s->seen_stored = s->last_seen;
		}
	}
	if (!lease_held())	/* the stored ones are the cluster's: one node ends them */
		return;
	n = oidcstore_expired(now - fg_cfg->session_idle_s * 1000,
	    now - fg_cfg->session_max_s * 1000, rows, OIDC_REVOKE_BATCH);
	for (i = 0; i < n; i++)
		oidc_session_end(rows[i], "expired");
}

/* Free everything at exit (after upstream_shutdown answered the refreshes); stored ones stay. */
void
oidc_shutdown(void)
{
	while (oidc_sessions_head() != NULL)
		oidc_session_unlink(oidc_sessions_head());
	oidclogin_shutdown();
}

/* Who a session is (its app and audit actor), for the gate; -1 without a live session. */
int
oidc_session_who(const char *sid, int64_t *app_id, char *actor, size_t actorlen)
{
	struct oidc_session *s = oidc_session_get(sid);

	if (s == NULL)
		return -1;
	*app_id = s->app_id;
	snprintf(actor, actorlen, "oidc:%.90s", s->username);
	return 0;
}

/* An emergency stop: forget the cached tokens of every session on the connection. */
size_t
oidc_drop_connection(int64_t conn_id)
{
	struct oidc_session	*s;
	size_t			 n = 0;
	int			 i;

	for (s = oidc_sessions_head(); s != NULL; s = s->next) {
		if (s->conn_id != conn_id)
			continue;
		for (i = 0; i < OIDC_CACHE; i++) {
			seal_secret_free(s->cache[i].token);
			s->cache[i].token = NULL;
		}
		oidc_set_clear(&s->set);
		n++;
	}
	return n;
}
