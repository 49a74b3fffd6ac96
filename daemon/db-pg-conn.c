/*
 * The PostgreSQL backend's connection: one PGconn shared by the event loop and the audit writer
 * thread, used only under db_pg_conn.mu.  It sets up the session the statements rely on, and
 * comes back by itself after a break (a server restart, a dropped socket), at most one try a
 * second, but never silently across a transaction: a break inside one leaves in_transaction()
 * true and every statement refused until the caller's ROLLBACK, so no half of a transaction
 * is ever followed by the rest of it on a new connection.
 */
#include "config.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "db-pg.h"
#include "log.h"
#include "util.h"

#define DB_PG_SERVER_MIN	130000	/* PostgreSQL 13 */
#define DB_PG_RETRY_MS		1000	/* between failed reconnections */

static struct {
	pthread_mutex_t		 mu;
	struct db_pg_link	 link;
	int			 ready;		/* the session is set up on this connection */
	int			 in_txn;	/* after the last command: inside a transaction */
	int			 lost_txn;	/* the connection broke inside one, not yet rolled back */
	int			 pid;		/* the server process, read without the lock */
	long long		 retry_at;	/* no reconnection before (monotime_ms) */
	PostgresPollingStatusType resetting;	/* a reconnection under way: what it waits for */
	int			 outage;	/* the server is away (atomic: read without the lock) */
} db_pg_conn = { .mu = PTHREAD_MUTEX_INITIALIZER, .resetting = PGRES_POLLING_OK };

/* Per thread, so the writer's failure never replaces the message the loop is about to log,
 * and changes() answers for the caller's own last statement. */
static _Thread_local char	 db_pg_conn_err[512];
static _Thread_local int64_t	 db_pg_conn_nchanges;

/* Keep a message for errmsg(), on one line. */
void
db_pg_conn_seterr(const char *prefix, const char *msg)
{
	char	*r, *w;

	snprintf(db_pg_conn_err, sizeof(db_pg_conn_err), "%s%s", prefix, msg != NULL ? msg : "");
	/* libpq's lines end in "\n" and go on after a tab: one space for each run of them */
	for (r = w = db_pg_conn_err; *r != '\0'; r++) {
		if ((unsigned char)*r <= ' ' && (w == db_pg_conn_err || w[-1] == ' '))
			continue;
		*w++ = (unsigned char)*r < ' ' ? ' ' : *r;
	}
	while (w > db_pg_conn_err && w[-1] == ' ')
		w--;
	*w = '\0';
}

void
db_pg_conn_clearerr(void)
{
	db_pg_conn_err[0] = '\0';
}

const char *
db_pg_conn_errmsg(void)
{
	return db_pg_conn_err[0] != '\0' ? db_pg_conn_err : "not an error";
}

/* Note a command's row count for changes(), as SQLite counts them: writes only. */
static void
db_pg_conn_counted(const PGresult *res)
{
	const char	*cmd = PQcmdStatus((PGresult *)res);

	if (strncmp(cmd, "INSERT ", 7) == 0 || strncmp(cmd, "UPDATE ", 7) == 0 ||
	    strncmp(cmd, "DELETE ", 7) == 0 || strncmp(cmd, "MERGE ", 6) == 0)
		db_pg_conn_nchanges = strtoll(PQcmdTuples((PGresult *)res), NULL, 10);
}

int64_t
db_pg_conn_changes(void)
{
	return db_pg_conn_nchanges;
}

/* The server's notices (e.g. "table does not exist, skipping") go to the debug log. */
static void
db_pg_conn_notice(void *arg, const char *msg)
{
	(void)arg;
	fg_log_debug("postgresql: %.*s", (int)strcspn(msg, "\n"), msg);
}

/* The session the statements rely on: hex bytea, UTF-8, standard strings; -1 (errmsg). */
static int
db_pg_conn_session(PGconn *conn)
{
	PGresult	*res;
	int		 ok;

	PQsetNoticeProcessor(conn, db_pg_conn_notice, NULL);
	res = PQexec(conn, "SET bytea_output = 'hex'; SET client_encoding = 'UTF8'; "
	    "SET standard_conforming_strings = on");
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		db_pg_conn_seterr("cannot set up the PostgreSQL session: ", PQresultErrorMessage(res));
	PQclear(res);
	return ok ? 0 : -1;
}

/* Note whether the server is away, for db_pg_conn_reachable(). */
static void
db_pg_conn_set_outage(int on)
{
	__atomic_store_n(&db_pg_conn.outage, on, __ATOMIC_RELAXED);
}

/* Whether the socket is ready for what the reconnection waits for: never wait, on the loop. */
static int
db_pg_conn_poll_ready(PGconn *conn)
{
	struct pollfd p = { PQsocket(conn), db_pg_conn.resetting == PGRES_POLLING_READING ?
	    POLLIN : POLLOUT, 0 };

	return p.fd >= 0 && poll(&p, 1, 0) == 1;
}

/*
 * Move a reconnection on by one non-blocking step (PQresetStart, then PQresetPoll whenever its
 * socket is ready): a database that does not answer costs the loop nothing.  0 once connected
 * and set up; -1 (and why) meanwhile or when it failed.  Under the lock.
 */
static int
db_pg_conn_reconnect(void)
{
	PGconn	*conn = db_pg_conn.link.conn;

	if (db_pg_conn.resetting == PGRES_POLLING_OK) {
		if (monotime_ms() < db_pg_conn.retry_at) {
			db_pg_conn_seterr("PostgreSQL is unreachable (retrying): ",
			    PQerrorMessage(conn));
			return -1;
		}
		db_pg_conn.ready = 0;
		db_pg_conn.resetting = PQresetStart(conn) ? PGRES_POLLING_WRITING :
		    PGRES_POLLING_FAILED;
	}
	if (db_pg_conn.resetting != PGRES_POLLING_FAILED && db_pg_conn_poll_ready(conn))
		db_pg_conn.resetting = PQresetPoll(conn);
	if (db_pg_conn.resetting == PGRES_POLLING_READING ||
	    db_pg_conn.resetting == PGRES_POLLING_WRITING) {
		db_pg_conn_seterr("", "PostgreSQL is unreachable (reconnecting)");
		return -1;
	}
	db_pg_conn.resetting = PGRES_POLLING_OK;
	if (PQstatus(conn) != CONNECTION_OK) {
		db_pg_conn_seterr("cannot reconnect to PostgreSQL: ", PQerrorMessage(conn));
		db_pg_conn.retry_at = monotime_ms() + DB_PG_RETRY_MS;
		return -1;
	}
	db_pg_conn.link.gen++;
	__atomic_store_n(&db_pg_conn.pid, PQbackendPID(conn), __ATOMIC_RELAXED);
	if (db_pg_conn_session(conn) != 0) {
		db_pg_conn.retry_at = monotime_ms() + DB_PG_RETRY_MS;
		return -1;
	}
	db_pg_conn.ready = 1;
	db_pg_conn.lost_txn = db_pg_conn.in_txn = 0;
	db_pg_conn_set_outage(0);
	fg_log_info("postgresql: reconnected");
	return 0;
}

/* Take the lock (always: db_pg_conn_unlock() releases it) and the connection, if usable. */
struct db_pg_link *
db_pg_conn_lock(enum db_pg_use use)
{
	pthread_mutex_lock(&db_pg_conn.mu);
	if (db_pg_conn.link.conn == NULL) {
		db_pg_conn_seterr("", "not connected to PostgreSQL");
		return NULL;
	}
	if (PQstatus(db_pg_conn.link.conn) == CONNECTION_OK && db_pg_conn.ready)
		return &db_pg_conn.link;
	db_pg_conn_set_outage(1);
	if (use == DB_PG_PEEK)
		return NULL;
	if (db_pg_conn.lost_txn) {
		db_pg_conn_seterr("", "the connection to PostgreSQL broke inside a transaction: "
		    "roll it back");
		return NULL;
	}
	return db_pg_conn_reconnect() == 0 ? &db_pg_conn.link : NULL;
}

/* SQLSTATE classes of a server going away: 08 connection exceptions, 57P01-03 shutdowns. */
static int
db_pg_conn_is_outage(const char *state)
{
	return state == NULL || strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
	    strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0;
}

/*
 * Whether the server answered the last statement (or reconnection): read without the lock,
 * so the loop asks without waiting for the writer's commit.
 */
int
db_pg_conn_reachable(void)
{
	return !__atomic_load_n(&db_pg_conn.outage, __ATOMIC_RELAXED);
}


/* Note where the last command left the transaction, then let the other thread in. */
void
db_pg_conn_unlock(void)
{
	PGconn	*conn = db_pg_conn.link.conn;

	if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
		db_pg_conn.in_txn = PQtransactionStatus(conn) != PQTRANS_IDLE;
	else if (conn != NULL && !db_pg_conn.lost_txn && db_pg_conn.in_txn) {
		fg_log_warn("postgresql: the connection broke inside a transaction");
		db_pg_conn.lost_txn = 1;
	}
	pthread_mutex_unlock(&db_pg_conn.mu);
}

/* Whether sql is a ROLLBACK of a transaction a break lost: done already, by the server. */
static int
db_pg_conn_lost_rollback(const char *sql)
{
	int	lost;

	if (strncasecmp(sql, "ROLLBACK", 8) != 0)
		return 0;
	pthread_mutex_lock(&db_pg_conn.mu);
	if ((lost = db_pg_conn.lost_txn))
		db_pg_conn.lost_txn = db_pg_conn.in_txn = 0;
	pthread_mutex_unlock(&db_pg_conn.mu);
	return lost;
}

/* Whether sql is a COMMIT (or its synonym END). */
static int
db_pg_conn_is_commit(const char *sql)
{
	size_t	n;

	sql += strspn(sql, " \t\r\n");
	n = strncasecmp(sql, "COMMIT", 6) == 0 ? 6 : strncasecmp(sql, "END", 3) == 0 ? 3 : 0;
	return n > 0 && (sql[n] == '\0' || strchr(" \t\r\n;", sql[n]) != NULL);
}

/* What a statement's result means to the interface: DB_OK, or DB_ERROR with errmsg set to the
 * server's own sentence (as SQLite gives a trigger's).  A COMMIT the server answered with
 * ROLLBACK, because a statement of the transaction had failed, is an error: nothing was kept. */
int
db_pg_conn_result(const char *sql, const PGresult *res)
{
	const char	*msg;

	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY:
		break;
	default:
		msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		db_pg_conn_seterr("", msg != NULL ? msg : PQresultErrorMessage(res));
		db_pg_conn_set_outage(db_pg_conn_is_outage(PQresultErrorField(res,
		    PG_DIAG_SQLSTATE)));
		return DB_ERROR;
	}
	db_pg_conn_set_outage(0);
	if (strcmp(PQcmdStatus((PGresult *)res), "ROLLBACK") == 0 && db_pg_conn_is_commit(sql)) {
		db_pg_conn_seterr("", "COMMIT failed: a statement of the transaction had failed, "
		    "so PostgreSQL rolled it back");
		return DB_ERROR;
	}
	db_pg_conn_counted(res);
	return DB_OK;
}

/* Run sql on conn: DB_OK, or DB_ERROR (errmsg says why). */
static int
db_pg_conn_run(PGconn *conn, const char *sql)
{
	PGresult	*res;
	int		 rc;

	if ((res = PQexec(conn, sql)) == NULL) {
		db_pg_conn_seterr("", PQerrorMessage(conn));
		return DB_ERROR;
	}
	rc = db_pg_conn_result(sql, res);
	PQclear(res);
	return rc;
}

/* Several statements in one string, no parameters, results dropped (sqlite3_exec). */
int
db_pg_conn_exec(const char *sql)
{
	struct db_pg_link	*l;
	int			 rc = DB_ERROR;

	db_pg_conn_clearerr();
	if (db_pg_conn_lost_rollback(sql))
		return DB_OK;
	if ((l = db_pg_conn_lock(DB_PG_USE)) != NULL)
		rc = db_pg_conn_run(l->conn, sql);
	db_pg_conn_unlock();
	return rc;
}

/* An aborted transaction (PQTRANS_INERROR) counts, and so does one a break lost: the caller
 * must still roll it back. */
int
db_pg_conn_in_transaction(void)
{
	int	in;

	pthread_mutex_lock(&db_pg_conn.mu);
	if (db_pg_conn.link.conn != NULL && PQstatus(db_pg_conn.link.conn) == CONNECTION_OK)
		in = PQtransactionStatus(db_pg_conn.link.conn) != PQTRANS_IDLE;
	else
		in = db_pg_conn.lost_txn || db_pg_conn.in_txn;
	pthread_mutex_unlock(&db_pg_conn.mu);
	return in;
}

/* The shared connection's server process: a NOTIFY from it is this node's own.  No lock, so the
 * loop never waits for the writer's commit to ask. */
int
db_pg_pid(void)
{
	return __atomic_load_n(&db_pg_conn.pid, __ATOMIC_RELAXED);
}

/* Put conn (NULL: none) in place of the shared connection, closing the old one. */
static void
db_pg_conn_replace(PGconn *conn)
{
	pthread_mutex_lock(&db_pg_conn.mu);
	PQfinish(db_pg_conn.link.conn);
	db_pg_conn.link.conn = conn;
	db_pg_conn.link.gen++;
	__atomic_store_n(&db_pg_conn.pid, conn != NULL ? PQbackendPID(conn) : 0, __ATOMIC_RELAXED);
	db_pg_conn.ready = conn != NULL;
	db_pg_conn.lost_txn = db_pg_conn.in_txn = 0;
	pthread_mutex_unlock(&db_pg_conn.mu);
}

void
db_pg_conn_close(void)
{
	db_pg_conn_replace(NULL);
}

/* libpq's message for err, unless it quotes the password (it never should; cheap to check). */
static void
db_pg_conn_failed(char *err, size_t errlen, PGconn *conn, const char *password)
{
	db_pg_conn_seterr("", PQerrorMessage(conn));
	if (password != NULL && password[0] != '\0' && strstr(db_pg_conn_err, password) != NULL)
		db_pg_conn_seterr("", "(message not shown: it quotes the password)");
	snprintf(err, errlen, "cannot connect to PostgreSQL: %s", db_pg_conn_err);
}

/* The password conninfo gives, if any; NULL when conninfo does not parse. */
static PQconninfoOption *
db_pg_conn_parse(const char *conninfo, const char **password)
{
	PQconninfoOption	*opts, *o;
	char			*perr = NULL;

	*password = NULL;
	if ((opts = PQconninfoParse(conninfo, &perr)) == NULL) {
		PQfreemem(perr);
		return NULL;
	}
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0)
			*password = o->val;
	return opts;
}

/* A new connection to conninfo, checked and set up; NULL (err says why) otherwise. */
static PGconn *
db_pg_conn_connect(const char *conninfo, const char *password, char *err, size_t errlen)
{
	const char	*keys[] = { "dbname", "fallback_application_name", NULL };
	const char	*vals[] = { conninfo, "flowgated", NULL };
	PGconn		*conn;
	int		 v;

	if ((conn = PQconnectdbParams(keys, vals, 1)) == NULL) {
		snprintf(err, errlen, "cannot connect to PostgreSQL: out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK)
		db_pg_conn_failed(err, errlen, conn, password);
	else if ((v = PQserverVersion(conn)) < DB_PG_SERVER_MIN)
		snprintf(err, errlen, "PostgreSQL server %d.%d is too old: flowgate needs 13 or newer",
		    v / 10000, v % 10000);
	else if (db_pg_conn_session(conn) != 0)
		snprintf(err, errlen, "%s", db_pg_conn_err);
	else
		return conn;
	PQfinish(conn);
	return NULL;
}

/* Connect to conninfo (libpq keywords or a URI) and make it the backend's connection; a
 * failure leaves the connection there was. */
int
db_pg_open(const char *conninfo, char *err, size_t errlen)
{
	const char		*password;
	PQconninfoOption	*opts;
	PGconn			*conn;

	/* libpq's parse errors quote the text around the fault, which may be the password */
	if ((opts = db_pg_conn_parse(conninfo, &password)) == NULL) {
		snprintf(err, errlen, "the PostgreSQL connection string does not parse "
		    "(not shown: it may hold a password)");
		return -1;
	}
	conn = db_pg_conn_connect(conninfo, password, err, errlen);
	PQconninfoFree(opts);
	if (conn == NULL)
		return -1;
	db_pg_conn_replace(conn);
	return 0;
}
