/*
 * The nodes of a cluster tell each other what changed (issue 11).  Every change to a
 * registration or a connection sends NOTIFY flowgate, '<kind>:<id>' inside its own transaction,
 * so only a committed change is told; each node LISTENs on a second PostgreSQL connection of its
 * own, polled by the event loop, and forgets exactly what changed.  The listening connection is
 * never used synchronously on the loop after the start: a break is noticed, the connection
 * reopened with libpq's non-blocking reset, and since changes may have been missed meanwhile,
 * the registry (apps and their connections' state) is read anew each second while it is down,
 * and every cache (tokens and end users' sessions too) is dropped when it listens again.
 * On SQLite (one node) nothing of this runs.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "daemon.h"
#include "log.h"

#define CLUSTER_NOTIFY_CHANNEL	"flowgate"
#define CLUSTER_NOTIFY_STUCK_S	5	/* a reset or LISTEN unanswered this long starts over */
#define CLUSTER_NOTIFY_PAYLOAD	48

enum cluster_notify_state {
	CN_OFF,			/* SQLite, or not started */
	CN_LISTENING,
	CN_RESETTING,		/* PQresetStart done, PQresetPoll until ready */
	CN_SUBSCRIBING,		/* LISTEN sent, its result not yet read */
	CN_BROKEN		/* to be reset at the next tick */
};

static struct {
	PGconn			*conn;
	enum cluster_notify_state state;
	PostgresPollingStatusType poll;		/* what PQresetPoll waits for */
	int			 waited;	/* seconds in RESETTING or SUBSCRIBING */
} cn;

static const char SQL_NOTIFY[] = "SELECT pg_notify('" CLUSTER_NOTIFY_CHANNEL "', ?1)";

/*
 * Tell the other nodes that (kind, id) changed; called inside the change's transaction, so the
 * notification goes out with its commit or not at all.  0 on SQLite; -1 when it cannot be sent
 * (the change is then rolled back rather than left untold).
 */
int
cluster_notify_send(const char *kind, int64_t id)
{
	struct db_stmt	*st;
	char		 payload[CLUSTER_NOTIFY_PAYLOAD];
	int		 r;

	if (db_dialect() != DB_POSTGRESQL)
		return 0;
	if ((strcmp(kind, "conn") == 0 || strcmp(kind, "stop") == 0) &&
	    token_lease_forget(id) == -1)
		return -1;
	if ((st = store_prepare(SQL_NOTIFY)) == NULL)
		return -1;
	snprintf(payload, sizeof(payload), "%s:%lld", kind, (long long)id);
	db_bind_text(st, 1, payload, -1, DB_STATIC);
	r = db_step(st);
	db_reset(st);
	return r == DB_ROW ? 0 : -1;
}

/*
 * Changes may have been missed: forget the registry (a revocation or a stop is then read within
 * a second), and when all, the tokens and the end users' sessions too.  Tokens are not dropped
 * each second: every upstream request in flight would be asked again, and again.
 */
static void
cluster_notify_drop(int all)
{
	app_cache_drop(0, 0);
	if (!all)
		return;
	keyring_follow();
	token_drop_connection(0, NULL);
	oidc_session_forget(0);
	connhealth_changed();
}

/* Forget what one notification says changed; anything not understood drops everything. */
void
cluster_notify_apply(const char *payload)
{
	char		 kind[CLUSTER_KIND_MAX];
	int64_t		 id;

	if (cluster_payload_parse(payload, kind, &id) == -1) {
		fg_log_warn("cluster: unknown notification '%.40s': every cache dropped", payload);
		cluster_notify_drop(1);
		return;
	}
	if (strcmp(kind, "token") == 0)
		token_lease_notified(id);
	else if (strcmp(kind, "app") == 0)
		app_cache_drop(id, 0);
	else if (strcmp(kind, "usess") == 0)
		oidc_session_forget(id);
	else if (strcmp(kind, "key") == 0)
		keyring_follow();
	else if (strcmp(kind, "stop") == 0)
		json_decref(gate_stop(id));
	else if (strcmp(kind, "conn") == 0 || strcmp(kind, "resume") == 0) {
		app_cache_drop(0, id);
		token_drop_connection(id, NULL);
		connhealth_changed();
	} else
		cluster_notify_drop(1);
}

/* Send LISTEN without waiting for its answer. */
static void
cluster_notify_subscribe(void)
{
	if (PQsetnonblocking(cn.conn, 1) == 0 &&
	    PQsendQuery(cn.conn, "LISTEN " CLUSTER_NOTIFY_CHANNEL) == 1) {
		cn.state = CN_SUBSCRIBING;
		PQflush(cn.conn);
	} else
		cn.state = CN_BROKEN;
}

/* The connection broke: say so once, and reset it at the next tick. */
static void
cluster_notify_broke(void)
{
	const char *why = PQerrorMessage(cn.conn);

	if (cn.state == CN_LISTENING)	/* libpq's first line says it */
		fg_log_warn("cluster: the listening connection to PostgreSQL broke (%.*s); "
		    "the registry is read anew each second until it is back",
		    (int)strcspn(why, "\n"), why);
	cn.state = CN_BROKEN;
	cluster_notify_drop(0);
}

/* Read LISTEN's answer; once it came, changes missed meanwhile are covered by a full drop. */
static void
cluster_notify_subscribed(void)
{
	PGresult	*res;
	int		 ok = 1;

	if (PQisBusy(cn.conn))
		return;
	while ((res = PQgetResult(cn.conn)) != NULL) {
		ok &= PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
	}
	if (!ok) {
		cluster_notify_broke();
		return;
	}
	cn.state = CN_LISTENING;
	cluster_notify_drop(1);
	fg_log_info("cluster: listening for changes again; every cache dropped");
}

/* Take every notification that arrived and apply it. */
static void
cluster_notify_drain(void)
{
	PGnotify	*nt;
	PGresult	*res;

	while ((res = PQgetResult(cn.conn)) != NULL)	/* nothing is asked: only errors come */
		PQclear(res);
	while ((nt = PQnotifies(cn.conn)) != NULL) {
		/* this node's own changes were applied here already, as they committed */
		if (strcmp(nt->relname, CLUSTER_NOTIFY_CHANNEL) == 0 && nt->be_pid != db_pg_pid())
			cluster_notify_apply(nt->extra);
		PQfreemem(nt);
	}
}

/* The listening socket has events: go on with whatever the connection is doing. */
void
cluster_notify_ready(void)
{
	if (cn.state == CN_RESETTING) {
		cn.poll = PQresetPoll(cn.conn);
		if (cn.poll == PGRES_POLLING_OK)
			cluster_notify_subscribe();
		else if (cn.poll == PGRES_POLLING_FAILED)
			cn.state = CN_BROKEN;
		return;
	}
	if (cn.state != CN_LISTENING && cn.state != CN_SUBSCRIBING)
		return;
	if (PQconsumeInput(cn.conn) == 0 || PQstatus(cn.conn) != CONNECTION_OK) {
		cluster_notify_broke();
		return;
	}
	if (cn.state == CN_SUBSCRIBING)
		cluster_notify_subscribed();
	if (cn.state == CN_LISTENING)
		cluster_notify_drain();
}

/* The socket to poll and for what (1 read, 2 write, 3 both), or -1 while there is none. */
int
cluster_notify_fd(int *events)
{
	if (cn.state == CN_OFF || cn.state == CN_BROKEN || cn.conn == NULL)
		return -1;
	*events = cn.state == CN_RESETTING && cn.poll == PGRES_POLLING_WRITING ? 2 :
	    cn.state == CN_SUBSCRIBING && PQflush(cn.conn) == 1 ? 3 : 1;
	return PQsocket(cn.conn);
}

/*
 * Once a second: while the connection is down, the registry cached is trusted for no longer
 * than this second (so no revocation or stop waits longer than that), and a reset is started
 * (again, when the last one has had no answer for a few seconds).
 */
void
cluster_notify_tick(void)
{
	if (cn.state == CN_OFF || cn.state == CN_LISTENING)
		return;
	cluster_notify_drop(0);
	if (cn.state != CN_BROKEN && ++cn.waited < CLUSTER_NOTIFY_STUCK_S)
		return;
	cn.waited = 0;
	cn.state = CN_BROKEN;
	if (PQresetStart(cn.conn) == 1) {
		cn.state = CN_RESETTING;
		cn.poll = PGRES_POLLING_WRITING;
	}
}

/*
 * At the start, on PostgreSQL: the listening connection, opened (blocking: the loop is not
 * running yet) with the same connection string as the store's.  -1 and err when it fails.
 */
int
cluster_notify_open(const char *conninfo_file, char *err, size_t errlen)
{
	char		 conninfo[4096];
	const char	*keys[] = { "dbname", "fallback_application_name", NULL };
	const char	*vals[] = { conninfo, "flowgated-listen", NULL };
	PGresult	*res;
	int		 ok;

	if (db_dialect() != DB_POSTGRESQL)
		return 0;
	if (store_pg_read(conninfo_file, conninfo, sizeof(conninfo), err, errlen) == -1)
		return -1;
	cn.conn = PQconnectdbParams(keys, vals, 1);
	explicit_bzero(conninfo, sizeof(conninfo));
	if (cn.conn == NULL || PQstatus(cn.conn) != CONNECTION_OK) {
		snprintf(err, errlen, "cluster: cannot open the listening connection to PostgreSQL");
		cluster_notify_shutdown();
		return -1;
	}
	res = PQexec(cn.conn, "LISTEN " CLUSTER_NOTIFY_CHANNEL);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok || PQsetnonblocking(cn.conn, 1) != 0) {
		snprintf(err, errlen, "cluster: LISTEN failed: %.200s", PQerrorMessage(cn.conn));
		cluster_notify_shutdown();
		return -1;
	}
	cn.state = CN_LISTENING;
	return 0;
}

void
cluster_notify_shutdown(void)
{
	PQfinish(cn.conn);
	cn.conn = NULL;
	cn.state = CN_OFF;
}
