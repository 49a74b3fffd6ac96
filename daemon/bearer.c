/*
 * Tokens flowgate issued, by fingerprint: which app received which token, on which
 * connection, until when.  token.c notes every issuance from its cache; the gate looks a
 * caller's "Authorization: Bearer" up here (a token flowgate handed to that app and still
 * valid is that app's credential on the proxy).  Only fingerprints are kept, never tokens.
 * A token the cache shared with several apps names no single caller and is refused.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

#define BEARER_BUCKETS	256
#define BEARER_MAX	4096	/* issuances remembered at once */

struct bearer_rec {
	char			 fp[FG_FP_LEN];
	int64_t			 app_id, conn_id;
	time_t			 expires_at;	/* monotonic seconds */
	struct bearer_rec	*next;
};

static struct bearer_rec	*bearer_table[BEARER_BUCKETS];
static size_t			 bearer_n;

/* The bucket of a fingerprint (its hex digits are already uniform). */
static unsigned int
bearer_bucket(const char *fp)
{
	return (unsigned int)strtoul(fp + strlen(fp) - 4, NULL, 16) % BEARER_BUCKETS;
}

/* Drop the records of conn_id (or, with conn_id 0, the expired ones). */
static void
bearer_sweep(int64_t conn_id)
{
	struct bearer_rec	**pp, *b;
	time_t			  now = monotime();
	int			  i;

	for (i = 0; i < BEARER_BUCKETS; i++) {
		for (pp = &bearer_table[i]; (b = *pp) != NULL;) {
			if (conn_id != 0 ? b->conn_id == conn_id : b->expires_at <= now) {
				*pp = b->next;
				free(b);
				bearer_n--;
			} else
				pp = &b->next;
		}
	}
}

/* Note that the token with fingerprint fp went to app_id, valid for expires_in seconds. */
void
bearer_note(const char *fp, int64_t app_id, int64_t conn_id, long expires_in)
{
	unsigned int		 h = bearer_bucket(fp);
	struct bearer_rec	*b;

	for (b = bearer_table[h]; b != NULL; b = b->next)
		if (b->app_id == app_id && strcmp(b->fp, fp) == 0)
			return;
	if (bearer_n >= BEARER_MAX)
		bearer_sweep(0);
	if (bearer_n >= BEARER_MAX || (b = calloc(1, sizeof(*b))) == NULL)
		return;		/* the token still works upstream; only not as a proxy credential */
	snprintf(b->fp, sizeof(b->fp), "%s", fp);
	b->app_id = app_id;
	b->conn_id = conn_id;
	b->expires_at = monotime() + expires_in;
	b->next = bearer_table[h];
	bearer_table[h] = b;
	bearer_n++;
}

/*
 * The app a bearer token was issued to: 0 and *app_id when exactly one app received it and it
 * has not expired; -1 when unknown, expired, or shared by several apps (*why says which).
 */
int
bearer_find(const char *token, int64_t *app_id, const char **why)
{
	char			 fp[FG_FP_LEN];
	struct bearer_rec	*b;
	time_t			 now = monotime();
	int			 found = 0;

	seal_fingerprint(token, strlen(token), fp);
	*why = "the bearer token is not one flowgate issued, or it expired";
	for (b = bearer_table[bearer_bucket(fp)]; b != NULL; b = b->next) {
		if (strcmp(b->fp, fp) != 0 || b->expires_at <= now)
			continue;
		if (found++ > 0) {
			*why = "the bearer token was issued to several apps; authenticate with the "
			    "app's credential instead";
			return -1;
		}
		*app_id = b->app_id;
	}
	return found == 1 ? 0 : -1;
}

/* A connection's tokens were dropped (rotation, stop, removal): so are their records. */
void
bearer_drop_connection(int64_t conn_id)
{
	if (conn_id != 0)
		bearer_sweep(conn_id);
}

/* Free every record at exit. */
void
bearer_shutdown(void)
{
	struct bearer_rec	*b, *next;
	int			 i;

	for (i = 0; i < BEARER_BUCKETS; i++) {
		for (b = bearer_table[i]; b != NULL; b = next) {
			next = b->next;
			free(b);
		}
		bearer_table[i] = NULL;
	}
	bearer_n = 0;
}
