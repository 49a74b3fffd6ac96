/*
 * Health per connection: when each connection's credentials last got a token from the upstream,
 * when they last failed and why (in flowgate's words), kept in memory from the token fetches,
 * connection tests and verifications.  A connection is "ok" when its latest outcome is a
 * success, "degraded" when it is a failure, "stopped" when an operator stopped it, "unknown"
 * before any outcome since the daemon started.  Reports are bounded: the n connections most in
 * trouble (degraded first, most recent failure first; then stopped; unknown; ok, oldest secret
 * first) and counts over all of them.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"

#define CONNHEALTH_BUCKETS	256
#define CONNHEALTH_TOP_MAX	64

enum connhealth_state { CH_DEGRADED, CH_STOPPED, CH_UNKNOWN, CH_OK, CH_NSTATES };

static const char *const connhealth_names[CH_NSTATES] = { "degraded", "stopped", "unknown", "ok" };

struct connhealth {
	int64_t			 conn_id;
	time_t			 ok_at, fail_at;	/* wall clock seconds; 0: never */
	int			 failing;		/* the latest outcome was a failure */
	char			 why[256];
	struct connhealth	*next;
};

/* One connection's row in a report, before it becomes JSON. */
struct connhealth_row {
	enum connhealth_state		 state;
	const struct connhealth		*h;
	char				 name[FG_NAME_MAX + 1];
	int64_t				 secret_at;	/* ms */
	int				 stopped;
};

static struct connhealth	*connhealth_table[CONNHEALTH_BUCKETS];

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
	return h;
}

/* The connection's credentials just got an answer that shows they work. */
void
connhealth_ok(int64_t conn_id)
{
	struct connhealth	*h;

	if ((h = connhealth_find(conn_id, 1)) == NULL)
		return;
	h->ok_at = time(NULL);
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
	if (a->state == CH_DEGRADED && a->h->fail_at != b->h->fail_at)
		return a->h->fail_at > b->h->fail_at;
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
	if (r->h != NULL && r->h->ok_at != 0)
		json_object_set_new(o, "last_ok_at", json_integer((json_int_t)r->h->ok_at));
	if (r->h != NULL && r->h->fail_at != 0) {
		json_object_set_new(o, "last_failure_at", json_integer((json_int_t)r->h->fail_at));
		json_object_set_new(o, "last_failure", json_string(r->h->why));
	}
	return o;
}

/* The state of a connection from its row and its outcomes. */
static enum connhealth_state
connhealth_state(const struct connhealth_row *r)
{
	if (r->stopped)
		return CH_STOPPED;
	if (r->h == NULL)
		return CH_UNKNOWN;
	return r->h->failing ? CH_DEGRADED : CH_OK;
}

/* Connections in the store, read here: the only columns health needs. */
static const char SQL_CONNHEALTH[] =
    "SELECT id, name, coalesce(rotated_at, created_at), stopped FROM connections";

/*
 * The n (at most CONNHEALTH_TOP_MAX) connections most in trouble and the counts:
 * {"status": ok|degraded, "connections": [...], "counts": {total, ok, degraded, stopped,
 * unknown, warn}}.  "degraded" when any connection's latest outcome is a failure.
 */
json_t *
connhealth_report(int n)
{
	struct connhealth_row	 top[CONNHEALTH_TOP_MAX], row;
	sqlite3_stmt		*st = store_prepare(SQL_CONNHEALTH);
	int64_t			 now = store_now_ms(), warn = fg_cfg->secret_warn_days * 86400000;
	json_int_t		 count[CH_NSTATES] = { 0 }, total = 0, warned = 0;
	json_t			*list = json_array();
	int			 len = 0, i;

	n = n < 1 ? 1 : n > CONNHEALTH_TOP_MAX ? CONNHEALTH_TOP_MAX : n;
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		snprintf(row.name, sizeof(row.name), "%s", sqlite3_column_text(st, 1));
		row.h = connhealth_find(sqlite3_column_int64(st, 0), 0);
		row.secret_at = sqlite3_column_int64(st, 2);
		row.stopped = sqlite3_column_int(st, 3) != 0;
		row.state = connhealth_state(&row);
		count[row.state]++;
		total++;
		warned += now - row.secret_at > warn;
		connhealth_keep(top, n, &len, &row);
	}
	if (st != NULL)
		sqlite3_reset(st);
	for (i = 0; i < len; i++)
		json_array_append_new(list, connhealth_json(&top[i], now, warn));
	return json_pack("{sssos{sIsIsIsIsIsI}}", "status", count[CH_DEGRADED] > 0 ? "degraded" :
	    "ok", "connections", list, "counts", "total", total, "ok", count[CH_OK], "degraded",
	    count[CH_DEGRADED], "stopped", count[CH_STOPPED], "unknown", count[CH_UNKNOWN],
	    "warn", warned);
}
