/*
 * Tokens flowgate issued, by fingerprint: which app received which token, on which
 * connection, until when.  token.c notes every issuance from its cache; the gate looks a
 * caller's "Authorization: Bearer" up here (a token flowgate handed to that app and still
 * valid is that app's credential on the proxy).  Only fingerprints are kept, never tokens.
 * A token the cache shared with several apps names no single caller and is refused; in a
 * cluster, where nodes share tokens through the database, the database says who else got it.
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

static struct fptable	bearer_table = { .max = BEARER_MAX };

/* Note that the token with fingerprint fp went to app_id, valid for expires_in seconds. */
void
bearer_note(const char *fp, int64_t app_id, int64_t conn_id, long expires_in)
{
	struct fpent *e;

	for (e = fptable_find(&bearer_table, fp); e != NULL; e = fptable_next(e))
		if (e->app_id == app_id)
			return;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return;
	snprintf(e->fp, sizeof(e->fp), "%s", fp);
	e->app_id = app_id;
	e->conn_id = conn_id;
	e->expires_at = monotime() + expires_in;
	if (fptable_add(&bearer_table, e) == -1)
		free(e);	/* the token still works upstream; only not as a proxy credential */
	else
		token_lease_issued(fp, app_id, expires_in);	/* other nodes may share it */
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
