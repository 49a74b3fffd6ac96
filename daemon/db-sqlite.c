/*
 * The SQLite backend of the storage interface: each call is SQLite's own, so the default
 * store costs one indirect call per operation.  The handle is opened with SQLITE_OPEN_FULLMUTEX
 * by store-sqlite.c, which is what lets the audit writer share it with the loop.
 */
#include "config.h"

#include <stddef.h>

#include <sqlite3.h>

#include "db.h"

static sqlite3 *db_sqlite_db;

/* The handle store-sqlite.c opened (NULL to forget it once closed). */
void
db_sqlite_set(sqlite3 *h)
{
	db_sqlite_db = h;
}

sqlite3 *
db_sqlite_handle(void)
{
	return db_sqlite_db;
}

#define ST(st)	((sqlite3_stmt *)(void *)(st))

static int
db_sqlite_prepare(const char *sql, int persistent, struct db_stmt **out)
{
	sqlite3_stmt	*st = NULL;
	int		 r;

	r = sqlite3_prepare_v3(db_sqlite_db, sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0,
	    &st, NULL);
	*out = (struct db_stmt *)(void *)st;
	return r == SQLITE_OK ? DB_OK : DB_ERROR;
}

static void
db_sqlite_finalize(struct db_stmt *st)
{
	sqlite3_finalize(ST(st));
}

static int
db_sqlite_reset(struct db_stmt *st)
{
	return sqlite3_reset(ST(st)) == SQLITE_OK ? DB_OK : DB_ERROR;
}

static void
db_sqlite_clear_bindings(struct db_stmt *st)
{
	sqlite3_clear_bindings(ST(st));
}

static int
db_sqlite_bind_int64(struct db_stmt *st, int i, int64_t v)
{
	return sqlite3_bind_int64(ST(st), i, v) == SQLITE_OK ? DB_OK : DB_ERROR;
}

static int
db_sqlite_bind_text(struct db_stmt *st, int i, const char *v, int len, int copy)
{
	return sqlite3_bind_text(ST(st), i, v, len, copy ? SQLITE_TRANSIENT : SQLITE_STATIC) ==
	    SQLITE_OK ? DB_OK : DB_ERROR;
}

static int
db_sqlite_bind_blob(struct db_stmt *st, int i, const void *v, int len, int copy)
{
	return sqlite3_bind_blob(ST(st), i, v, len, copy ? SQLITE_TRANSIENT : SQLITE_STATIC) ==
	    SQLITE_OK ? DB_OK : DB_ERROR;
}

static int
db_sqlite_bind_null(struct db_stmt *st, int i)
{
	return sqlite3_bind_null(ST(st), i) == SQLITE_OK ? DB_OK : DB_ERROR;
}

static int
db_sqlite_step(struct db_stmt *st)
{
	int r = sqlite3_step(ST(st));

	return r == SQLITE_ROW || r == SQLITE_DONE ? r : DB_ERROR;
}

static int
db_sqlite_writes(struct db_stmt *st)
{
	return !sqlite3_stmt_readonly(ST(st));
}

static const char *
db_sqlite_sql(struct db_stmt *st)
{
	return sqlite3_sql(ST(st));
}

static int
db_sqlite_column_type(struct db_stmt *st, int col)
{
	return sqlite3_column_type(ST(st), col);
}

static int64_t
db_sqlite_column_int64(struct db_stmt *st, int col)
{
	return sqlite3_column_int64(ST(st), col);
}

static const unsigned char *
db_sqlite_column_text(struct db_stmt *st, int col)
{
	return sqlite3_column_text(ST(st), col);
}

static const void *
db_sqlite_column_blob(struct db_stmt *st, int col)
{
	return sqlite3_column_blob(ST(st), col);
}

static int
db_sqlite_column_bytes(struct db_stmt *st, int col)
{
	return sqlite3_column_bytes(ST(st), col);
}

static int64_t
db_sqlite_stmt_steps(struct db_stmt *st)
{
	return sqlite3_stmt_status(ST(st), SQLITE_STMTSTATUS_VM_STEP, 1);
}

static int
db_sqlite_exec(const char *sql)
{
	return sqlite3_exec(db_sqlite_db, sql, NULL, NULL, NULL) == SQLITE_OK ? DB_OK : DB_ERROR;
}

static int64_t
db_sqlite_changes(void)
{
	return sqlite3_changes64(db_sqlite_db);
}

static int
db_sqlite_in_transaction(void)
{
	return !sqlite3_get_autocommit(db_sqlite_db);
}

static const char *
db_sqlite_errmsg(void)
{
	return sqlite3_errmsg(db_sqlite_db);
}

/* A file is always there: its failures are errors, not outages. */
static int
db_sqlite_reachable(void)
{
	return 1;
}

static void
db_sqlite_release_memory(void)
{
	sqlite3_db_release_memory(db_sqlite_db);
}

static void
db_sqlite_close(void)
{
	if (db_sqlite_db != NULL)
		sqlite3_close(db_sqlite_db);
	db_sqlite_db = NULL;
}

const struct db_backend db_sqlite_backend = {
	.name = "sqlite",
	.dialect = DB_SQLITE,
	.prepare = db_sqlite_prepare,
	.finalize = db_sqlite_finalize,
	.reset = db_sqlite_reset,
	.clear_bindings = db_sqlite_clear_bindings,
	.bind_int64 = db_sqlite_bind_int64,
	.bind_text = db_sqlite_bind_text,
	.bind_blob = db_sqlite_bind_blob,
	.bind_null = db_sqlite_bind_null,
	.step = db_sqlite_step,
	.writes = db_sqlite_writes,
	.sql = db_sqlite_sql,
	.column_type = db_sqlite_column_type,
	.column_int64 = db_sqlite_column_int64,
	.column_text = db_sqlite_column_text,
	.column_blob = db_sqlite_column_blob,
	.column_bytes = db_sqlite_column_bytes,
	.stmt_steps = db_sqlite_stmt_steps,
	.exec = db_sqlite_exec,
	.changes = db_sqlite_changes,
	.in_transaction = db_sqlite_in_transaction,
	.errmsg = db_sqlite_errmsg,
	.reachable = db_sqlite_reachable,
	.release_memory = db_sqlite_release_memory,
	.close = db_sqlite_close,
};
