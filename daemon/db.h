/*
 * The storage interface: every module reads and writes rows through these calls, and
 * db.c sends each to the backend chosen in flowgated.conf ([storage] backend): SQLite
 * (db-sqlite.c, the default) or PostgreSQL (db-pg.c).  The calls mirror SQLite's own so
 * that the SQLite backend is a thin pass-through and the token path costs nothing extra.
 *
 * SQL is written once, in the dialect both backends accept: parameters as ?1, ?2 ...
 * (the PostgreSQL backend rewrites them to $1, $2 ...), new ids by INSERT ... RETURNING id,
 * no PRAGMAs outside the backends.  Where a statement must differ, db_sql() picks it.
 */
#ifndef FG_DB_H
#define FG_DB_H

#include <stddef.h>
#include <stdint.h>

/* Result codes: the same numbers as SQLite's, so its backend returns them unchanged. */
#define DB_OK		0
#define DB_ERROR	1
#define DB_ROW		100
#define DB_DONE		101

/* Column types, again SQLite's numbers. */
#define DB_INTEGER	1
#define DB_FLOAT	2
#define DB_TEXT		3
#define DB_BLOB		4
#define DB_NULL		5

/* Bound text and blobs: kept by pointer until the next reset (STATIC) or copied (COPY). */
#define DB_STATIC	0
#define DB_COPY		1

enum db_dialect {
	DB_SQLITE,
	DB_POSTGRESQL
};

struct db_stmt;

/*
 * One backend.  A statement keeps its own result, so the column calls need no lock;
 * prepare, step, exec, changes and errmsg are called under the backend's own lock (the audit
 * writer thread shares the one connection with the loop).  writes() and sql() let db.c refuse
 * a write its guard does not allow (db_set_write_guard: the daemon's writer_lock).
 */
struct db_backend {
	const char	*name;
	enum db_dialect	 dialect;
	int		 (*prepare)(const char *sql, int persistent, struct db_stmt **out);
	void		 (*finalize)(struct db_stmt *st);
	int		 (*reset)(struct db_stmt *st);
	void		 (*clear_bindings)(struct db_stmt *st);
	int		 (*bind_int64)(struct db_stmt *st, int i, int64_t v);
	int		 (*bind_text)(struct db_stmt *st, int i, const char *v, int len, int copy);
	int		 (*bind_blob)(struct db_stmt *st, int i, const void *v, int len, int copy);
	int		 (*bind_null)(struct db_stmt *st, int i);
	int		 (*step)(struct db_stmt *st);
	int		 (*writes)(struct db_stmt *st);	/* may change the database */
	const char	*(*sql)(struct db_stmt *st);	/* its text, for messages */
	int		 (*column_type)(struct db_stmt *st, int col);
	int64_t		 (*column_int64)(struct db_stmt *st, int col);
	const unsigned char *(*column_text)(struct db_stmt *st, int col);
	const void	*(*column_blob)(struct db_stmt *st, int col);
	int		 (*column_bytes)(struct db_stmt *st, int col);
	int64_t		 (*stmt_steps)(struct db_stmt *st);	/* work done, -1 when unknown */
	int		 (*exec)(const char *sql);
	int64_t		 (*changes)(void);
	int		 (*in_transaction)(void);
	const char	*(*errmsg)(void);
	int		 (*reachable)(void);	/* 0 while the server cannot be reached */
	void		 (*release_memory)(void);
	void		 (*close)(void);
};

extern const struct db_backend db_sqlite_backend;
struct sqlite3;
void		 db_sqlite_set(struct sqlite3 *h);
struct sqlite3	*db_sqlite_handle(void);
extern const struct db_backend db_pg_backend;

/* db-pg.c: connect the PostgreSQL backend (conninfo: libpq keywords or a URI) */
int		 db_pg_open(const char *conninfo, char *err, size_t errlen);
int		 db_pg_pid(void);	/* the shared connection's server process */

/* db.c: the chosen backend, and one call per operation */
void		 db_use(const struct db_backend *be);
enum db_dialect	 db_dialect(void);
const char	*db_sql(const char *sqlite, const char *pg);
int		 db_prepare(const char *sql, struct db_stmt **out);
int		 db_prepare_persistent(const char *sql, struct db_stmt **out);
void		 db_finalize(struct db_stmt *st);
int		 db_reset(struct db_stmt *st);
void		 db_clear_bindings(struct db_stmt *st);
int		 db_bind_int64(struct db_stmt *st, int i, int64_t v);
int		 db_bind_int(struct db_stmt *st, int i, int v);
int		 db_bind_text(struct db_stmt *st, int i, const char *v, int len, int copy);
int		 db_bind_blob(struct db_stmt *st, int i, const void *v, int len, int copy);
int		 db_bind_null(struct db_stmt *st, int i);
int		 db_step(struct db_stmt *st);
int		 db_column_type(struct db_stmt *st, int col);
int64_t		 db_column_int64(struct db_stmt *st, int col);
int		 db_column_int(struct db_stmt *st, int col);
const unsigned char *db_column_text(struct db_stmt *st, int col);
const void	*db_column_blob(struct db_stmt *st, int col);
int		 db_column_bytes(struct db_stmt *st, int col);
int64_t		 db_stmt_steps(struct db_stmt *st);
int		 db_exec(const char *sql);
int		 db_sql_writes(const char *sql);
void		 db_set_write_guard(int (*may_write)(void));
int64_t		 db_changes(void);
int		 db_in_transaction(void);
const char	*db_errmsg(void);
int		 db_reachable(void);
void		 db_release_memory(void);
void		 db_close(void);

#endif
