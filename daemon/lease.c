/*
 * The cluster's lease: work that must run once per cluster (the grace-period sweep of previous
 * secrets, the expired user-session sweep, the audit checkpoint) runs only on the node holding
 * it.  On PostgreSQL the lease is a row naming its holder and its end by the database's own
 * clock (Vault's PostgreSQL HA lock): the holder renews it every LEASE_RENEW_S, another node
 * takes it once it has run out, so a node that died hands it over within LEASE_TTL_S.  The
 * holder stops counting itself one well before the row runs out, measured on its own monotonic
 * clock from before its last renewal was sent: two holders never overlap.  A single SQLite
 * node always holds it.  A node is named hostname:pid:random, shown by "status".
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

#define LEASE_NAME	"singleton"
#define LEASE_TTL_S	10	/* the row's validity from each renewal, by the database's clock */
#define LEASE_RENEW_S	2	/* the holder renews, and the others try, this often */
#define LEASE_TRUST_S	6	/* the holder counts itself one this long after a renewal */

static char		 lease_node_id[128];
static int		 lease_holding;
static long long	 lease_renewed_ns;	/* monotonic, taken before the renewal was sent */
static long long	 lease_tried_ns;

static const char SQL_TAKE[] =
    "INSERT INTO cluster_lease (name, holder, expires_at) "
    "VALUES (?1, ?2, now() + CAST(?3 AS INTEGER) * interval '1 second') "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
    "WHERE cluster_lease.holder = excluded.holder OR cluster_lease.expires_at < now() "
    "RETURNING holder";
static const char SQL_HOLDER[] =
    "SELECT holder FROM cluster_lease WHERE name = ?1 AND expires_at > now()";
static const char SQL_RELEASE[] = "DELETE FROM cluster_lease WHERE name = ?1 AND holder = ?2";

/*
 * Name this node: hostname, pid and a random part (a restarted pid is another node); and try
 * the lease at once, so a node that starts alone holds it before its first request.
 */
void
lease_init(void)
{
	char		host[64] = "localhost";
	uint32_t	r = randombytes_random();

	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(lease_node_id, sizeof(lease_node_id), "%s:%ld:%08x", host, (long)getpid(),
	    (unsigned)r);
	lease_tick();
}

const char *
lease_node(void)
{
	return lease_node_id;
}

/* Renew the lease, or take it if it ran out; 1 when this node holds it now. */
static int
lease_take(void)
{
	struct db_stmt	*st = store_prepare(SQL_TAKE);
	int		 r;

	if (st == NULL)
		return 0;
	db_bind_text(st, 1, LEASE_NAME, -1, DB_STATIC);
	db_bind_text(st, 2, lease_node_id, -1, DB_STATIC);
	db_bind_int(st, 3, LEASE_TTL_S);
	writer_lock();	/* a statement of its own, never inside one of the writer's */
	r = db_step(st);
	db_reset(st);
	writer_unlock();
	if (r != DB_ROW && r != DB_DONE && lease_holding)	/* said once, not every try */
		fg_log_warn("lease: cannot renew: %s", db_errmsg());
	return r == DB_ROW;
}

/*
 * Once a second from the loop: renew or try to take the lease when due.  Returns 1 when this
 * node has just taken it, so the singleton work a dead holder left runs at once.
 */
int
lease_tick(void)
{
	long long	now = monotime_ns();
	int		was = lease_held();

	if (db_dialect() == DB_SQLITE) {
		lease_holding = 1;
		return 0;
	}
	if (now - lease_tried_ns < LEASE_RENEW_S * 1000000000LL)
		return 0;
	lease_tried_ns = now;
	if ((lease_holding = lease_take()))
		lease_renewed_ns = now;
	if (was && !lease_held())
		fg_log_warn("lease: no longer the holder of the cluster's singleton work");
	if (!was && lease_held())
		fg_log_info("lease: this node (%s) now runs the cluster's singleton work",
		    lease_node_id);
	return !was && lease_held();
}

/* Whether singleton work may run here now. */
int
lease_held(void)
{
	if (db_dialect() == DB_SQLITE)
		return 1;
	return lease_holding && monotime_ns() - lease_renewed_ns < LEASE_TRUST_S * 1000000000LL;
}

/* Hand the lease over at a clean exit, so another node need not wait for it to run out. */
void
lease_release(void)
{
	struct db_stmt *st;

	if (db_dialect() == DB_SQLITE || !lease_holding ||
	    (st = store_prepare(SQL_RELEASE)) == NULL)
		return;
	db_bind_text(st, 1, LEASE_NAME, -1, DB_STATIC);
	db_bind_text(st, 2, lease_node_id, -1, DB_STATIC);
	writer_lock();
	if (db_step(st) != DB_DONE)
		fg_log_warn("lease: cannot release: %s", db_errmsg());
	db_reset(st);
	writer_unlock();
	lease_holding = 0;
}

/* For "status": this node's name, whether it holds the lease, and who does (null: nobody). */
json_t *
lease_status(void)
{
	struct db_stmt	*st;
	json_t		*holder = json_null();

	if (db_dialect() == DB_SQLITE)
		holder = json_string(lease_node_id);
	else if ((st = store_prepare(SQL_HOLDER)) != NULL) {
		db_bind_text(st, 1, LEASE_NAME, -1, DB_STATIC);
		if (db_step(st) == DB_ROW)
			holder = json_string((const char *)db_column_text(st, 0));
		db_reset(st);
	}
	return json_pack("{sssbso}", "node", lease_node_id, "lease_held", lease_held(),
	    "lease_holder", holder);
}
