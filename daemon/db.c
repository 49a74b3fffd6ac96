/*
 * The storage interface's dispatch: one call per operation, sent to the backend flowgated.conf
 * chose.  Nothing here knows SQL or files; see db.h for the contract both backends keep.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "log.h"

static const struct db_backend *db_be = &db_sqlite_backend;
static int (*db_may_write)(void);	/* NULL: every caller may write */

void
db_use(const struct db_backend *be)
{
	db_be = be;
}

enum db_dialect
db_dialect(void)
{
	return db_be->dialect;
}

/* The statement for this backend's dialect; both are constants, so caches key on them. */
const char *
db_sql(const char *sqlite, const char *pg)
{
	return db_be->dialect == DB_POSTGRESQL ? pg : sqlite;
}

int
db_prepare(const char *sql, struct db_stmt **out)
{
	return db_be->prepare(sql, 0, out);
}

int
db_prepare_persistent(const char *sql, struct db_stmt **out)
{
	return db_be->prepare(sql, 1, out);
}

void
db_finalize(struct db_stmt *st)
{
	if (st != NULL)
		db_be->finalize(st);
}

int
db_reset(struct db_stmt *st)
{
	return db_be->reset(st);
}

void
db_clear_bindings(struct db_stmt *st)
{
	db_be->clear_bindings(st);
}

int
db_bind_int64(struct db_stmt *st, int i, int64_t v)
{
	return db_be->bind_int64(st, i, v);
}

int
db_bind_int(struct db_stmt *st, int i, int v)
{
	return db_be->bind_int64(st, i, v);
}

int
db_bind_text(struct db_stmt *st, int i, const char *v, int len, int copy)
{
	return db_be->bind_text(st, i, v, len, copy);
}

int
db_bind_blob(struct db_stmt *st, int i, const void *v, int len, int copy)
{
	return db_be->bind_blob(st, i, v, len, copy);
}

int
db_bind_null(struct db_stmt *st, int i)
{
	return db_be->bind_null(st, i);
}

/*
 * Who may write: the daemon's loop shares its one connection with the audit writer thread, so
 * a write of the loop's outside writer_lock() would land inside the writer's open transaction
 * and be committed, or lost, with someone else's records.  Checked here, for every statement.
 */
void
db_set_write_guard(int (*may_write)(void))
{
	db_may_write = may_write;
}

/*
 * Whether sql may change the database or its transaction: anything but a plain SELECT; one
 * that notifies or takes an advisory lock acts at its transaction's end, as a write does.
 */
int
db_sql_writes(const char *sql)
{
	sql += strspn(sql, " \t\r\n(");
	return strncasecmp(sql, "SELECT", 6) != 0 || strcasestr(sql, "pg_notify(") != NULL ||
	    strcasestr(sql, "advisory") != NULL;
}

/* Whether the guard refuses a write here (a bug of the caller's, said loudly). */
static int
db_write_refused(void)
{
	return db_may_write != NULL && !db_may_write();
}

/* The refusal's answer. */
static int
db_write_refusal(const char *what)
{
	fg_log_warn("BUG: a write outside the audit writer's lock, refused: %.80s", what);
	return DB_ERROR;
}

int
db_step(struct db_stmt *st)
{
	if (db_write_refused() && db_be->writes(st))
		return db_write_refusal(db_be->sql(st));
	return db_be->step(st);
}

int
db_column_type(struct db_stmt *st, int col)
{
	return db_be->column_type(st, col);
}

int64_t
db_column_int64(struct db_stmt *st, int col)
{
	return db_be->column_int64(st, col);
}

int
db_column_int(struct db_stmt *st, int col)
{
	return (int)db_be->column_int64(st, col);
}

const unsigned char *
db_column_text(struct db_stmt *st, int col)
{
	return db_be->column_text(st, col);
}

const void *
db_column_blob(struct db_stmt *st, int col)
{
	return db_be->column_blob(st, col);
}

int
db_column_bytes(struct db_stmt *st, int col)
{
	return db_be->column_bytes(st, col);
}

int64_t
db_stmt_steps(struct db_stmt *st)
{
	return db_be->stmt_steps(st);
}

int
db_exec(const char *sql)
{
	if (db_write_refused() && db_sql_writes(sql))
		return db_write_refusal(sql);
	return db_be->exec(sql);
}

int64_t
db_changes(void)
{
	return db_be->changes();
}

int
db_in_transaction(void)
{
	return db_be->in_transaction();
}

const char *
db_errmsg(void)
{
	return db_be->errmsg();
}

int
db_reachable(void)
{
	return db_be->reachable();
}

void
db_release_memory(void)
{
	db_be->release_memory();
}

void
db_close(void)
{
	db_be->close();
}
