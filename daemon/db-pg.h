/*
 * The PostgreSQL backend's two halves, for each other only (the rest of the daemon uses db.h):
 * db-pg.c prepares, runs and reads statements; db-pg-conn.c owns the one connection, its lock,
 * its reconnection and the errors and counts the interface reports.
 */
#ifndef FG_DB_PG_H
#define FG_DB_PG_H

#include <stdint.h>

#include <libpq-fe.h>

/* The shared connection, as db_pg_conn_lock() hands it out. */
struct db_pg_link {
	PGconn		*conn;
	uint64_t	 gen;		/* bumped at each (re)connect: server-side names die with it */
	uint64_t	 names;		/* the last server-side statement name given */
};

/* What a caller of db_pg_conn_lock() will do with a broken connection. */
enum db_pg_use {
	DB_PG_USE,		/* reconnect it, unless that would hide a lost transaction */
	DB_PG_PEEK		/* leave it */
};

struct db_pg_link *db_pg_conn_lock(enum db_pg_use use);
void		 db_pg_conn_unlock(void);
void		 db_pg_conn_seterr(const char *prefix, const char *msg);
void		 db_pg_conn_clearerr(void);
int		 db_pg_conn_result(const char *sql, const PGresult *res);
int		 db_pg_conn_exec(const char *sql);
int64_t		 db_pg_conn_changes(void);
int		 db_pg_conn_in_transaction(void);
int		 db_pg_conn_reachable(void);
const char	*db_pg_conn_errmsg(void);
void		 db_pg_conn_close(void);

#endif
