/*
 * Health per connection: when each connection's credentials last got a token from the upstream,
 * when they last failed and why (in flowgate's words), kept in memory from the token fetches,
 * connection tests and verifications.  A connection is "ok" when its latest outcome is a
 * success, "degraded" when it is a failure, "stopped" when an operator stopped it, "unknown"
 * before any outcome since the daemon started.  Reports are bounded: the n connections most in
 * trouble (degraded first, most recent failure first; then stopped; unknown; ok, oldest secret
 * first) and counts over all of them.  Making one reads every connection's row (about 8 ms for
 * 11,000 connections here), so a report is reused for a second unless a state changed: a load
 * balancer polling /healthz does not stall the loop.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "util.h"

#define CONNHEALTH_BUCKETS	256
#define CONNHEALTH_TOP_MAX	64
#define CONNHEALTH_REUSE_MS	1000	/* a report is reused this long unless a state changed */

enum connhealth_state { CH_DEGRADED, CH_STOPPED, CH_UNKNOWN, CH_OK, CH_NSTATES };

static const char *const connhealth_names[CH_NSTATES] = { "degraded", "stopped", "unknown", "ok" };

struct connhealth {
	int64_t			 conn_id;
	time_t			 ok_at, fail_at;	/* wall clock seconds; 0: never */
	int			 failing;		/* the latest outcome was a failure */
	char			 why[256];
	struct connhealth	*next;
};

/* One connection's row in a report, before it becomes JSON; h is a copy (next unused). */
struct connhealth_row {
	enum connhealth_state	 state;
	struct connhealth	 h;
	int			 has_h;
	char			 name[FG_NAME_MAX + 1];
	int64_t			 secret_at;	/* ms */
	int			 stopped;
};

/* The last report made: the rows most in trouble and the counts over all connections. */
static struct {
	struct connhealth_row	 top[CONNHEALTH_TOP_MAX];
	int			 len;
	json_int_t		 count[CH_NSTATES], total, warned;
	int64_t			 now_ms, warn_ms;
	long long		 made_at;	/* monotime_ms; 0: none yet */
	uint64_t		 gen;
} connhealth_last;

static struct connhealth	*connhealth_table[CONNHEALTH_BUCKETS];
static uint64_t			 connhealth_gen = 1;	/* bumped when a state changes */

/* The entry of a connection; created when make is set, else NULL when there is none. */
static struct connhealth *
connhealth_find(int64_t conn_id, int make)
{
	struct connhealth	**slot = &connhealth_table[(uint64_t)conn_id % CONNHEALTH_BUCKETS];
	struct connhealth	 *h;

	for (h = *slot; h != NULL; h = h->next) {
		if (h->conn_id == conn_id)
			return h;
	}
	if (!make || (h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->conn_id = conn_id;
	h->next = *slot;
	*slot = h;
	connhealth_gen++;
	return h;
}

/* A connection was added, stopped, resumed or rotated: the next report is made afresh. */
void
connhealth_changed(void)
{
	connhealth_gen++;
}

/* The connection's credentials just got an answer that shows they work. */
void
connhealth_ok(int64_t conn_id)
{
	struct connhealth	*h;

	if ((h = connhealth_find(conn_id, 1)) == NULL)
		return;
	h->ok_at = time(NULL);
	if (h->failing)
		connhealth_gen++;
	h->failing = 0;
}

/* The connection's credentials just failed to get a token; why is flowgate's sentence. */
void
connhealth_fail(int64_t conn_id, const char *why)
{
	struct connhealth	*h;

	if ((h = connhealth_find(conn_id, 1)) == NULL)
		return;
	h->fail_at = time(NULL);
	if (!h->failing)
		connhealth_gen++;
	h->failing = 1;
	snprintf(h->why, sizeof(h->why), "%s", why != NULL && *why != '\0' ? why :
	    "the upstream gave no token");
}

/* Forget a removed connection (its id may be given to another one later). */
void
connhealth_forget(int64_t conn_id)
{
	struct connhealth	**slot = &connhealth_table[(uint64_t)conn_id % CONNHEALTH_BUCKETS];
	struct connhealth	 *h;

	connhealth_gen++;
	for (; (h = *slot) != NULL; slot = &h->next) {
		if (h->conn_id == conn_id) {
			*slot = h->next;
			free(h);
			return;
		}
	}
}

/* Whether row a is more in trouble than row b (shown first). */
static int
connhealth_before(const struct connhealth_row *a, const struct connhealth_row *b)
{
	if (a->state != b->state)
		return a->state < b->state;
	if (a->state == CH_DEGRADED && a->h.fail_at != b->h.fail_at)
		return a->h.fail_at > b->h.fail_at;
	if (a->secret_at != b->secret_at)
		return a->secret_at < b->secret_at;
	return strcmp(a->name, b->name) < 0;
}

/* Put row into top (n rows kept, in order, *len of them so far). */
static void
connhealth_keep(struct connhealth_row *top, int n, int *len, const struct connhealth_row *row)
{
	int	i = *len;

	if (i == n && !connhealth_before(row, &top[n - 1]))
		return;
	if (i == n)
		i--;
	else
		(*len)++;
	for (; i > 0 && connhealth_before(row, &top[i - 1]); i--)
		top[i] = top[i - 1];
	top[i] = *row;
}

/* One row as JSON: name, state, secret age, the last success and failure with why. */
static json_t *
connhealth_json(const struct connhealth_row *r, int64_t now_ms, int64_t warn_ms)
{
	json_t	*o;

	o = json_pack("{sssssIsbsb}", "name", r->name, "status", connhealth_names[r->state],
	    "secret_age_s", (json_int_t)((now_ms - r->secret_at) / 1000), "secret_warn",
	    now_ms - r->secret_at > warn_ms, "stopped", r->stopped);
	if (r->h.ok_at != 0)
		json_object_set_new(o, "last_ok_at", json_integer((json_int_t)r->h.ok_at));
	if (r->h.fail_at != 0) {
		json_object_set_new(o, "last_failure_at", json_integer((json_int_t)r->h.fail_at));
		json_object_set_new(o, "last_failure", json_string(r->h.why));
	}
	return o;
}

/* The state of a connection from its row and its outcomes. */
static enum connhealth_state
connhealth_state(const struct connhealth_row *r)
{
	if (r->stopped)
		return CH_STOPPED;
	if (!r->has_h)
		return CH_UNKNOWN;
	return r->h.failing ? CH_DEGRADED : CH_OK;
}

/* Connections in the store, read here: the only columns health needs. */
static const char SQL_CONNHEALTH[] =
    "SELECT id, name, coalesce(rotated_at, created_at), stopped FROM connections";

/* Read every connection into connhealth_last: the most troubled rows and the counts. */
static void
connhealth_make(void)
{
	struct db_stmt		*st = store_prepare(SQL_CONNHEALTH);
	struct connhealth_row	 row;
	const struct connhealth	*h;

	memset(&connhealth_last, 0, sizeof(connhealth_last));
	connhealth_last.now_ms = store_now_ms();
	connhealth_last.warn_ms = fg_cfg->secret_warn_days * 86400000;
	while (st != NULL && db_step(st) == DB_ROW) {
		memset(&row, 0, sizeof(row));
		snprintf(row.name, sizeof(row.name), "%s", db_column_text(st, 1));
		if ((h = connhealth_find(db_column_int64(st, 0), 0)) != NULL) {
			row.h = *h;
			row.has_h = 1;
		}
		row.secret_at = db_column_int64(st, 2);
		row.stopped = db_column_int(st, 3) != 0;
		row.state = connhealth_state(&row);
		connhealth_last.count[row.state]++;
		connhealth_last.total++;
		connhealth_last.warned += connhealth_last.now_ms - row.secret_at >
		    connhealth_last.warn_ms;
		connhealth_keep(connhealth_last.top, CONNHEALTH_TOP_MAX, &connhealth_last.len,
		    &row);
	}
	if (st != NULL)
		db_reset(st);
	connhealth_last.made_at = monotime_ms();
	connhealth_last.gen = connhealth_gen;
}

/*
 * The n (at most CONNHEALTH_TOP_MAX) connections most in trouble and the counts:
 * {"status": ok|degraded, "connections": [...], "counts": {total, ok, degraded, stopped,
 * unknown, warn}}.  "degraded" when any connection's latest outcome is a failure.
 */
json_t *
connhealth_report(int n)
{
	const json_int_t	*c = connhealth_last.count;
	json_t			*list = json_array();
	int			 i;

	if (connhealth_last.made_at == 0 || connhealth_last.gen != connhealth_gen ||
	    monotime_ms() - connhealth_last.made_at >= CONNHEALTH_REUSE_MS)
		connhealth_make();
	n = n < 1 ? 1 : n > CONNHEALTH_TOP_MAX ? CONNHEALTH_TOP_MAX : n;
	for (i = 0; i < n && i < connhealth_last.len; i++)
		json_array_append_new(list, connhealth_json(&connhealth_last.top[i],
		    connhealth_last.now_ms, connhealth_last.warn_ms));
	return json_pack("{sssos{sIsIsIsIsIsI}}", "status", c[CH_DEGRADED] > 0 ? "degraded" :
	    "ok", "connections", list, "counts", "total", connhealth_last.total, "ok", c[CH_OK],
	    "degraded", c[CH_DEGRADED], "stopped", c[CH_STOPPED], "unknown", c[CH_UNKNOWN],
	    "warn", connhealth_last.warned);
}
