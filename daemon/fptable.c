/*
 * A bounded table of fingerprints (of tokens or tickets flowgate handed out), each with the
 * app and connection it went to and when it expires: bearer.c's issued tokens and
 * relayticket.c's tickets.  Entries are the caller's allocations that begin with a struct
 * fpent; the table frees them when it sweeps.  Only fingerprints are kept, never secrets.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "util.h"

/* The bucket of a fingerprint (its hex digits are already uniform). */
static struct fpent **
fptable_bucket(struct fptable *t, const char *fp)
{
	return &t->bucket[strtoul(fp + strlen(fp) - 4, NULL, 16) % FPTABLE_BUCKETS];
}

/* The first entry with fingerprint fp, or NULL; more follow through fptable_next(). */
struct fpent *
fptable_find(struct fptable *t, const char *fp)
{
	struct fpent *e;

	for (e = *fptable_bucket(t, fp); e != NULL && strcmp(e->fp, fp) != 0; e = e->next)
		;
	return e;
}

/* The next entry after e with the same fingerprint, or NULL. */
struct fpent *
fptable_next(struct fpent *e)
{
	const char *fp = e->fp;

	for (e = e->next; e != NULL && strcmp(e->fp, fp) != 0; e = e->next)
		;
	return e;
}

/* Drop (and free) the entries for which drop(entry, arg) is true. */
void
fptable_drop(struct fptable *t, int (*drop)(const struct fpent *, const void *), const void *arg)
{
	struct fpent	**pp, *e;
	int		  i;

	for (i = 0; i < FPTABLE_BUCKETS; i++) {
		for (pp = &t->bucket[i]; (e = *pp) != NULL;) {
			if (drop(e, arg)) {
				*pp = e->next;
				free(e);
				t->n--;
			} else
				pp = &e->next;
		}
	}
}

struct fptable_which {
	int64_t	conn_id;
	time_t	now;
};

static int
fptable_swept(const struct fpent *e, const void *arg)
{
	const struct fptable_which *w = arg;

	return w->conn_id != 0 ? e->conn_id == w->conn_id : e->expires_at <= w->now;
}

/* Drop (and free) the entries of conn_id, or with conn_id 0 the expired ones. */
void
fptable_sweep(struct fptable *t, int64_t conn_id)
{
	struct fptable_which w = { conn_id, monotime() };

	fptable_drop(t, fptable_swept, &w);
}

/* Add e (fp, app, connection and expiry set); -1 when the table is full of live entries. */
int
fptable_add(struct fptable *t, struct fpent *e)
{
	struct fpent **b;

	if (t->n >= t->max)
		fptable_sweep(t, 0);
	if (t->n >= t->max)
		return -1;
	b = fptable_bucket(t, e->fp);
	e->next = *b;
	*b = e;
	t->n++;
	return 0;
}

/* Unlink and return the entry with fingerprint fp (the caller frees it), or NULL. */
struct fpent *
fptable_take(struct fptable *t, const char *fp)
{
	struct fpent **pp, *e;

	for (pp = fptable_bucket(t, fp); (e = *pp) != NULL; pp = &e->next) {
		if (strcmp(e->fp, fp) == 0) {
			*pp = e->next;
			t->n--;
			return e;
		}
	}
	return NULL;
}

/* Free every entry (at exit). */
void
fptable_clear(struct fptable *t)
{
	struct fpent	*e, *next;
	int		 i;

	for (i = 0; i < FPTABLE_BUCKETS; i++) {
		for (e = t->bucket[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
		t->bucket[i] = NULL;
	}
	t->n = 0;
}
