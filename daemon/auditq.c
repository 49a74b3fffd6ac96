/*
 * Reading the audit log for people: pages of records, newest or oldest first, filtered by
 * time, app, connection, actor, outcome and event ("audit.query", "audit.tail"), and the
 * recent refusals the dashboard shows.  Every page fits one frame; a page filtered by app or
 * actor reads their index, any other looks at a bounded window of records, so a rare filter
 * never walks the whole table at once.  The chain
 * itself (appending, hashing, the head) is audit.c's; its verification is verify.c's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

/*
 * app and actor are tested with '=' when given, so SQLite reads their index (schema 007); the
 * CASTs type a parameter whose first use is IS NULL, which PostgreSQL needs.
 */
#define AUDITQ_COLS(app, actor) \
    "SELECT seq, ts, actor, event, app, connection, scopes, outcome, detail, token_fp " \
    "FROM audit WHERE (CAST(?2 AS BIGINT) IS NULL OR ts >= ?2) AND " \
    "(CAST(?3 AS BIGINT) IS NULL OR ts <= ?3) " \
    "AND " app " AND (CAST(?5 AS TEXT) IS NULL OR connection = ?5) " \
    "AND " actor " AND (CAST(?7 AS TEXT) IS NULL OR outcome = ?7) " \
    "AND (CAST(?8 AS TEXT) IS NULL OR event = ?8) "
#define AUDITQ_OLDER	"AND seq < ?1 AND seq >= ?10 ORDER BY seq DESC LIMIT ?9"
#define AUDITQ_NEWER	"AND seq > ?1 AND seq <= ?10 ORDER BY seq LIMIT ?9"
#define AUDITQ_ANY_APP		"(CAST(?4 AS TEXT) IS NULL OR app = ?4)"
#define AUDITQ_ANY_ACTOR	"(CAST(?6 AS TEXT) IS NULL OR actor = ?6)"

/* [no index, by app, by actor][older, newer] */
static const char *const auditq_sql[3][2] = {
	{ AUDITQ_COLS(AUDITQ_ANY_APP, AUDITQ_ANY_ACTOR) AUDITQ_OLDER,
	  AUDITQ_COLS(AUDITQ_ANY_APP, AUDITQ_ANY_ACTOR) AUDITQ_NEWER },
	{ AUDITQ_COLS("app = ?4", AUDITQ_ANY_ACTOR) AUDITQ_OLDER,
	  AUDITQ_COLS("app = ?4", AUDITQ_ANY_ACTOR) AUDITQ_NEWER },
	{ AUDITQ_COLS(AUDITQ_ANY_APP, "actor = ?6") AUDITQ_OLDER,
	  AUDITQ_COLS(AUDITQ_ANY_APP, "actor = ?6") AUDITQ_NEWER },
};

/* records a page looks at, at most: a rare filter over millions costs ~30 ms a page, not seconds */
#define AUDITQ_SCAN_MAX	100000
#define AUDITQ_FIELDS	8	/* actor event app connection scopes outcome detail fp */

/* One record as a JSON object. */
static json_t *
auditq_row_json(struct db_stmt *st)
{
	static const char	*names[AUDITQ_FIELDS] = { "actor", "event", "app", "connection",
				    "scopes", "outcome", "detail", "token_fp" };
	json_t			*o;
	int			 i;

	o = json_pack("{sIsI}", "seq", (json_int_t)db_column_int64(st, 0),
	    "ts", (json_int_t)db_column_int64(st, 1));
	for (i = 0; i < AUDITQ_FIELDS; i++) {
		if (db_column_type(st, 2 + i) == DB_NULL)
			continue;
		json_object_set_new(o, names[i],
		    json_string((const char *)db_column_text(st, 2 + i)));
	}
	return o;
}

/* Whether a text filter is given (an empty one matches everything, as an absent one). */
static int
auditq_given(json_t *req, const char *key)
{
	json_t *v = json_object_get(req, key);

	return json_is_string(v) && json_string_length(v) > 0;
}

/* Bind an optional integer or text filter; absent means NULL, which matches everything. */
static void
auditq_bind_opt(struct db_stmt *st, int i, json_t *v)
{
	if (json_is_integer(v))
		db_bind_int64(st, i, json_integer_value(v));
	else if (json_is_string(v) && json_string_length(v) > 0)
		db_bind_text(st, i, json_string_value(v), -1, DB_COPY);
}

/*
 * One page of the records matching req's filters: older than "before" (the newest when
 * neither cursor is given) or newer than "after", taken from the cursor outwards; oldest
 * first when asked, else newest first.  Filtered by app or actor, a page reads that index;
 * otherwise it looks at AUDITQ_SCAN_MAX records at most: when it stops there, "next" is where
 * it stopped, however few rows it found.  NULL after refusing a bad cursor.
 */
static json_t *
auditq_page(const struct fg_reqctx *ctx, json_t *req, int limit, const char *key,
    int oldest_first)
{
	static const char	*names[] = { "from_ms", "to_ms", "app", "connection", "actor",
				    "outcome", "event" };
	json_t			*before = json_object_get(req, "before");
	json_t			*after = json_object_get(req, "after");
	struct db_stmt		*st;
	struct page		 p;
	int64_t			 from, edge;
	json_t			*o;
	int			 i, by, steps;

	if ((before != NULL && json_integer_value(before) < 1) ||
	    (after != NULL && json_integer_value(after) < 0)) {
		server_reply_error(ctx, "bad_request", "before and after are record numbers");
		return NULL;
	}
	by = auditq_given(req, "app") ? 1 : auditq_given(req, "actor") ? 2 : 0;
	if (audit_flush() == -1 || (st = store_prepare(auditq_sql[by][after != NULL])) == NULL) {
		server_reply_error(ctx, "server_error", "the audit log cannot be read");
		return NULL;
	}
	from = after ? json_integer_value(after) : before ? json_integer_value(before) :
	    audit_last_seq() + 1;
	if (by != 0)	/* an index: only that app's or actor's records are read */
		edge = after == NULL ? 0 : INT64_MAX;
	else if (after == NULL)
		edge = from - AUDITQ_SCAN_MAX;
	else
		edge = from > INT64_MAX - AUDITQ_SCAN_MAX ? INT64_MAX : from + AUDITQ_SCAN_MAX;
	db_bind_int64(st, 1, from);
	for (i = 0; i < 7; i++)
		auditq_bind_opt(st, i + 2, json_object_get(req, names[i]));
	db_bind_int(st, 9, limit + 1);
	db_bind_int64(st, 10, edge);
	page_init(&p, limit, 0);
	while (db_step(st) == DB_ROW && page_add(&p, auditq_row_json(st),
	    json_integer(db_column_int64(st, 0))) == 0)
		;
	steps = db_stmt_steps(st);
	db_reset(st);
	/* the window ended before the log did: go on from its edge */
	if (after ? edge < audit_last_seq() : edge > 1)
		page_more(&p, json_integer(edge));
	o = page_finish(&p, key, oldest_first == (after == NULL));
	/* the work the page took, so its cost can be seen (and tested) */
	json_object_set_new(o, "steps", json_integer(steps));
	return o;
}

/*
 * "audit.query": filters, before? | after?, limit? (1..500, default 100) — newest first.
 * A record takes about 300 bytes, 48 KiB at the very most; the byte budget decides then.
 */
static void
auditq_verb_query(const struct fg_reqctx *ctx, json_t *req)
{
	json_t	*reply;
	int	 limit;

	if ((limit = page_limit(ctx, req, "limit", 100, 500)) != -1 &&
	    (reply = auditq_page(ctx, req, limit, "records", 0)) != NULL)
		server_reply(ctx, reply);
}

static const struct verb_field auditq_query_fields[] = {
	{ "from_ms", VERB_INT, 0, 0 }, { "to_ms", VERB_INT, 0, 0 },
	{ "before", VERB_INT, 0, 0 }, { "after", VERB_INT, 0, 0 }, { "limit", VERB_INT, 0, 0 },
	{ "app", VERB_STR, 0, FG_NAME_MAX }, { "connection", VERB_STR, 0, FG_NAME_MAX },
	{ "actor", VERB_STR, 0, 128 }, { "outcome", VERB_STR, 0, 64 }, { "event", VERB_STR, 0, 64 },
	VERB_FIELDS_END
};
const struct verb_entry audit_query_entry = {
	.name = "audit.query",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ANY,
	.fn = auditq_verb_query,
	.fields = auditq_query_fields
};

/* "audit.tail": n? (1..1000, default 20), before? | after? — oldest first. */
static void
auditq_verb_tail(const struct fg_reqctx *ctx, json_t *req)
{
	json_t	*reply;
	int	 n;

	if ((n = page_limit(ctx, req, "n", 20, 1000)) != -1 &&
	    (reply = auditq_page(ctx, req, n, "records", 1)) != NULL)
		server_reply(ctx, reply);
}

static const struct verb_field auditq_tail_fields[] = {
	{ "n", VERB_INT, 0, 0 }, { "before", VERB_INT, 0, 0 }, { "after", VERB_INT, 0, 0 },
	VERB_FIELDS_END
};
const struct verb_entry audit_tail_entry = {
	.name = "audit.tail",
	.peers = PEER_ADMIN,
	.fn = auditq_verb_tail,
	.fields = auditq_tail_fields
};

static const char SQL_REFUSALS[] =
    "SELECT seq, ts, actor, event, app, connection, scopes, outcome, detail, token_fp "
    "FROM audit WHERE outcome NOT IN ('ok', 'issued') AND seq > ? ORDER BY seq DESC LIMIT ?";

/*
 * The newest n refusals and failures among the last AUDITQ_SCAN_MAX records (a log of nothing
 * but issuances is not walked to its start on every dashboard view), newest first, within
 * budget bytes.
 */
json_t *
auditq_refusals(int n, size_t budget)
{
	struct db_stmt	*st;
	struct page	 p;
	json_t		*o, *arr;

	page_init(&p, n, budget);
	if (audit_flush() == 0 && (st = store_prepare(SQL_REFUSALS)) != NULL) {
		db_bind_int64(st, 1, audit_last_seq() - AUDITQ_SCAN_MAX);
		db_bind_int(st, 2, n);
		while (db_step(st) == DB_ROW &&
		    page_add(&p, auditq_row_json(st), NULL) == 0)
			;
		db_reset(st);
	}
	o = page_finish(&p, "records", 0);
	arr = json_incref(json_object_get(o, "records"));
	json_decref(o);
	return arr;
}
