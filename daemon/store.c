/*
 * The store, whichever backend holds it: the embedded migrations, the statement cache, and
 * transactions.  Files and pragmas are store-sqlite.c's; the connection string is store-pg's;
 * every module reads and writes through db.h's calls on the statements prepared here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "log.h"

#define STORE_STMTS_MAX	96	/* distinct statements the daemon prepares; fatal when exceeded */

static struct {
	const char	*sql;
	struct db_stmt	*stmt;
} store_stmts[STORE_STMTS_MAX];

/* Wall-clock milliseconds, for timestamps in rows. */
int64_t
store_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The first column of a one-row query, or -1. */
static int64_t
store_scalar(const char *sql)
{
	struct db_stmt	*st;
	int64_t		 v = -1;

	if (db_prepare(sql, &st) != DB_OK)
		return -1;
	if (db_step(st) == DB_ROW)
		v = db_column_int64(st, 0);
	db_finalize(st);
	return v;
}

/* The schema version the database is at; -1 when it cannot be read. */
static int
store_version(void)
{
	if (db_dialect() == DB_SQLITE)
		return (int)store_scalar("PRAGMA user_version");
	if (db_exec("CREATE TABLE IF NOT EXISTS flowgate_schema (version BIGINT NOT NULL)") != DB_OK)
		return -1;
	return (int)store_scalar("SELECT COALESCE(MAX(version), 0) FROM flowgate_schema");
}

/* Apply migration i (0-based) and record its number, in one transaction. */
static int
store_migrate_one(const char *const *list, int i)
{
	char sql[96];

	if (db_dialect() == DB_SQLITE)
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", i + 1);
	else
		snprintf(sql, sizeof(sql), "INSERT INTO flowgate_schema (version) VALUES (%d)", i + 1);
	if (db_exec(db_sql("BEGIN IMMEDIATE", "BEGIN")) != DB_OK ||
	    (db_dialect() == DB_POSTGRESQL &&
	    db_exec("SELECT pg_advisory_xact_lock(4604)") != DB_OK) ||
	    (store_version() == i && (db_exec(list[i]) != DB_OK || db_exec(sql) != DB_OK)) ||
	    db_exec("COMMIT") != DB_OK)
		return -1;
	return 0;
}

/*
 * Apply every embedded migration newer than the database's version.  On PostgreSQL several
 * nodes may start at once: each migration runs under an advisory lock and rechecks the version.
 */
int
store_migrate(char *err, size_t errlen)
{
	const char *const	*list = db_dialect() == DB_SQLITE ? fg_schema_migrations :
	    fg_schema_migrations_pg;
	int			 have, want, i;

	if ((have = store_version()) < 0) {
		snprintf(err, errlen, "cannot read schema version: %s", db_errmsg());
		return -1;
	}
	for (want = 0; list[want] != NULL; want++)
		;
	if (have > want) {
		snprintf(err, errlen, "database schema version %d is newer than this flowgate (%d)",
		    have, want);
		return -1;
	}
	for (i = have; i < want; i++) {
		if (store_migrate_one(list, i) == -1) {
			snprintf(err, errlen, "migration %d failed: %s", i + 1, db_errmsg());
			db_exec("ROLLBACK");
			return -1;
		}
		fg_log_info("database migrated to schema version %d", i + 1);
	}
	return 0;
}

/* Finalize cached statements and close the backend (SQLite checkpoints its WAL). */
void
store_close(void)
{
	int i;

	for (i = 0; i < STORE_STMTS_MAX && store_stmts[i].sql != NULL; i++) {
		db_finalize(store_stmts[i].stmt);
		store_stmts[i].sql = NULL;
		store_stmts[i].stmt = NULL;
	}
	db_close();
}

/*
 * A prepared statement for a constant SQL string, prepared once and reset for reuse: the token
 * path runs the same few statements thousands of times a second.
 */
struct db_stmt *
store_prepare(const char *sql)
{
	int i;

	for (i = 0; i < STORE_STMTS_MAX && store_stmts[i].sql != NULL; i++) {
		if (store_stmts[i].sql == sql) {
			db_reset(store_stmts[i].stmt);
			db_clear_bindings(store_stmts[i].stmt);
			return store_stmts[i].stmt;
		}
	}
	if (i == STORE_STMTS_MAX)
		fg_fatal("statement cache full: raise STORE_STMTS_MAX");
	if (db_prepare_persistent(sql, &store_stmts[i].stmt) != DB_OK) {
		fg_log_warn("cannot prepare statement: %s", db_errmsg());
		return NULL;
	}
	store_stmts[i].sql = sql;
	return store_stmts[i].stmt;
}

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_BEGIN_PG[] = "BEGIN";
static const char SQL_COMMIT[] = "COMMIT";

/* Run a prepared transaction-control statement (parsed once: this runs per loop turn). */
static int
store_step_once(const char *sql)
{
	struct db_stmt	*st = store_prepare(sql);
	int		 r;

	if (st == NULL)
		return -1;
	r = db_step(st);
	db_reset(st);
	return r == DB_DONE ? 0 : -1;
}

/* Every row of sql (its ?1 bound to name, NULL for all) as the JSON objects row() makes. */
json_t *
store_select(const char *sql, const char *name, json_t *(*row)(struct db_stmt *))
{
	struct db_stmt	*st = store_prepare(sql);
	json_t		*arr = json_array();

	if (st == NULL)
		return arr;
	if (name != NULL)
		db_bind_text(st, 1, name, -1, DB_STATIC);
	while (db_step(st) == DB_ROW)
		json_array_append_new(arr, row(st));
	db_reset(st);
	return arr;
}

int
store_begin(void)
{
	return store_step_once(db_sql(SQL_BEGIN, SQL_BEGIN_PG));
}

int
store_commit(void)
{
	if (store_step_once(SQL_COMMIT) == 0)
		return 0;
	fg_log_warn("commit failed: %s", db_errmsg());
	store_rollback();
	return -1;
}

void
store_rollback(void)
{
	if (db_in_transaction())
		db_exec("ROLLBACK");
}

/*
 * Whether the store answers.  While PostgreSQL is away each call moves the (non-blocking)
 * reconnection on by a step, so asking is also what brings it back; SQLite always answers.
 */
int
store_reachable(void)
{
	return db_reachable() || db_exec("SELECT 1") == DB_OK;
}

/* Step a write statement of the loop's own under writer_lock(), as db.c demands. */
int
store_step_write(struct db_stmt *st)
{
	int r;

	writer_lock();
	r = db_step(st);
	writer_unlock();
	return r;
}

/* The same for SQL run whole (db_exec). */
int
store_exec_write(const char *sql)
{
	int r;

	writer_lock();
	r = db_exec(sql);
	writer_unlock();
	return r;
}

/* True when a write transaction can be started and ended: what /healthz reports. */
int
store_writable(void)
{
	int ok;

	writer_lock();
	if ((ok = store_begin() == 0))
		store_rollback();
	writer_unlock();
	return ok;
}

