/*
 * Tokens flowgate issued, by fingerprint: which app received which token, on which
 * connection, until when.  token.c notes every issuance from its cache; the gate looks a
 * caller's "Authorization: Bearer" up here (a token flowgate handed to that app and still
 * valid is that app's credential on the proxy).  Only fingerprints are kept, never tokens.
 * A token the cache shared with several apps names no single caller and is refused; in a
 * cluster, where nodes share tokens through the database, the database says who else got it:
 * a token leaves a node only once its token_issued row is durable, committed with its audit
 * record, and a record lost takes the note it carried with it (fail-closed).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

#define BEARER_MAX	4096	/* issuances remembered at once */

struct bearer_ent {
	struct fpent	e;	/* fingerprint, app, connection, expiry */
	int64_t		seq;	/* the audit record of the issuance */
};

static struct fptable	bearer_table = { .max = BEARER_MAX };

/*
 * Note that the token with fingerprint fp went to app_id, valid for expires_in seconds, as the
 * audit record just appended says.  Returns 1 when that is new here (the record's commit must
 * then say so to the cluster, token_lease_issued), 0 when this node noted it before.
 */
int
bearer_note(const char *fp, int64_t app_id, int64_t conn_id, long expires_in)
{
	struct fpent		*e;
	struct bearer_ent	*b;

	for (e = fptable_find(&bearer_table, fp); e != NULL; e = fptable_next(e))
		if (e->app_id == app_id)
			return 0;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return 1;
	snprintf(b->e.fp, sizeof(b->e.fp), "%s", fp);
	b->e.app_id = app_id;
	b->e.conn_id = conn_id;
	b->e.expires_at = monotime() + expires_in;
	b->seq = audit_head();
	if (fptable_add(&bearer_table, &b->e) == -1)
		free(b);	/* the token still works upstream; only not as a proxy credential */
	return 1;
}

static int
bearer_undone(const struct fpent *e, const void *durable)
{
	return ((const struct bearer_ent *)e)->seq > *(const int64_t *)durable;
}

/*
 * The audit records after durable were lost, and the replies held on them refused: forget what
 * they noted, so the next issuance notes it again, with its token_issued row.
 */
void
bearer_lost(int64_t durable)
{
	fptable_drop(&bearer_table, bearer_undone, &durable);
}

/*
 * The app a bearer token was issued to: 0 and *app_id when exactly one app received it and it
 * has not expired; -1 when unknown, expired, or shared by several apps (*why says which).
 */
int
bearer_find(const char *token, int64_t *app_id, const char **why)
{
	char		 fp[FG_FP_LEN];
	struct fpent	*e;
	time_t		 now = monotime();
	int		 found = 0;

	seal_fingerprint(token, strlen(token), fp);
	*why = "the bearer token is not one flowgate issued, or it expired";
	for (e = fptable_find(&bearer_table, fp); e != NULL; e = fptable_next(e)) {
		if (e->expires_at <= now)
			continue;
		if (found++ > 0) {
			*why = "the bearer token was issued to several apps; authenticate with the "
			    "app's credential instead";
			return -1;
		}
		*app_id = e->app_id;
	}
	if (found == 1 && token_lease_elsewhere(fp, *app_id)) {
		*why = "the bearer token was issued to several apps (on several nodes); "
		    "authenticate with the app's credential instead";
		return -1;
	}
	return found == 1 ? 0 : -1;
}

/* A connection's tokens were dropped (rotation, stop, removal): so are their records. */
void
bearer_drop_connection(int64_t conn_id)
{
	if (conn_id != 0)
		fptable_sweep(&bearer_table, conn_id);
}

/* Free every record at exit. */
void
bearer_shutdown(void)
{
	fptable_clear(&bearer_table);
}
