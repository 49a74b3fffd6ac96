/*
 * Connections, the stored part: upstream credentials (environment, tenant, client_id, a sealed
 * secret per version), looked up, opened for a moment, added, rotated with a grace period,
 * stopped, removed, and the previous secrets retired when their grace ends.  No function here
 * returns a secret to a peer; the verbs that change and show connections are connverb.c's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

static const char SQL_BY_NAME[] =
    "SELECT id, name, environment, tenant, client_id, token_url, secret_version, stopped, "
    "api_base FROM connections WHERE name = ?";
static const char SQL_BY_ID[] =
    "SELECT id, name, environment, tenant, client_id, token_url, secret_version, stopped, "
    "api_base FROM connections WHERE id = ?";
static const char SQL_SECRET[] =
    "SELECT sealed FROM connection_secrets WHERE connection_id = ? AND version = ? "
    "AND state = 'current'";
static const char SQL_INSERT[] =
    "INSERT INTO connections (name, environment, tenant, client_id, token_url, api_base, "
    "secret_version, created_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?) RETURNING id";
static const char SQL_INSERT_SECRET[] =
    "INSERT INTO connection_secrets (connection_id, version, state, sealed, created_at) "
    "VALUES (?, ?, 'current', ?, ?)";
const char connection_sql_drop_previous[] =
    "DELETE FROM connection_secrets WHERE connection_id = ? AND state = 'previous'";
static const char SQL_DEMOTE[] =
    "UPDATE connection_secrets SET state = 'previous', retire_at = ? "
    "WHERE connection_id = ? AND state = 'current'";
static const char SQL_BUMP[] =
    "UPDATE connections SET secret_version = ?, rotated_at = ? WHERE id = ?";

/* The Corti token URL for an environment and tenant. */
void
connection_default_token_url(char *out, size_t outlen, const char *env, const char *tenant)
{
	snprintf(out, outlen, "https://auth.%s.corti.app/realms/%s/protocol/openid-connect/token",
	    env, tenant);
}

/* Fill out from a row of SQL_BY_NAME / SQL_BY_ID. */
static void
connection_row(struct db_stmt *st, struct conn_rec *out)
{
	memset(out, 0, sizeof(*out));
	out->id = db_column_int64(st, 0);
	snprintf(out->name, sizeof(out->name), "%s", db_column_text(st, 1));
	snprintf(out->client_id, sizeof(out->client_id), "%s", db_column_text(st, 4));
	if (db_column_type(st, 5) != DB_NULL)
		snprintf(out->token_url, sizeof(out->token_url), "%s", db_column_text(st, 5));
	else
		connection_default_token_url(out->token_url, sizeof(out->token_url),
		    (const char *)db_column_text(st, 2),
		    (const char *)db_column_text(st, 3));
	out->secret_version = db_column_int64(st, 6);
	out->stopped = db_column_int(st, 7);
	snprintf(out->tenant, sizeof(out->tenant), "%s", db_column_text(st, 3));
	if (db_column_type(st, 8) != DB_NULL)
		snprintf(out->api_base, sizeof(out->api_base), "%s", db_column_text(st, 8));
	else
		snprintf(out->api_base, sizeof(out->api_base), "https://api.%s.corti.app/v2",
		    db_column_text(st, 2));
}

static int
connection_fetch(struct db_stmt *st, struct conn_rec *out)
{
	int r = -1;

	if (st != NULL && db_step(st) == DB_ROW) {
		connection_row(st, out);
		r = 0;
	}
	if (st != NULL)
		db_reset(st);
	return r;
}

/* Look a connection up by name; -1 if there is none. */
int
connection_get(const char *name, struct conn_rec *out)
{
	struct db_stmt *st = store_prepare(SQL_BY_NAME);

	if (st != NULL)
		db_bind_text(st, 1, name, -1, DB_STATIC);
	return connection_fetch(st, out);
}

/* Look a connection up by id; -1 if there is none. */
int
connection_get_id(int64_t id, struct conn_rec *out)
{
	struct db_stmt *st = store_prepare(SQL_BY_ID);

	if (st != NULL)
		db_bind_int64(st, 1, id);
	return connection_fetch(st, out);
}

/* Open the current secret into guarded memory; the caller frees it as soon as it can. */
int
connection_open_secret(const struct conn_rec *c, struct fg_secret **out)
{
	struct db_stmt	*st = store_prepare(SQL_SECRET);
	int		 r = -1;

	*out = NULL;
	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, c->id);
	db_bind_int64(st, 2, c->secret_version);
	if (db_step(st) == DB_ROW)
		r = seal_open(c->id, c->secret_version, db_column_blob(st, 0),
		    (size_t)db_column_bytes(st, 0), out);
	db_reset(st);
	if (r == -1)
		fg_log_warn("connection %s: sealed secret v%lld does not open", c->name,
		    (long long)c->secret_version);
	return r;
}


/* Seal and insert the current secret of (conn_id, version). */
static int
connection_put_secret(int64_t conn_id, int64_t version, const struct fg_secret *secret)
{
	struct db_stmt	*st;
	uint8_t		*sealed;
	size_t		 sealedlen;
	int		 r;

	if (seal_secret(conn_id, version, secret, &sealed, &sealedlen) == -1 ||
	    (st = store_prepare(SQL_INSERT_SECRET)) == NULL)
		return -1;
	db_bind_int64(st, 1, conn_id);
	db_bind_int64(st, 2, version);
	db_bind_blob(st, 3, sealed, (int)sealedlen, DB_STATIC);
	db_bind_int64(st, 4, store_now_ms());
	r = db_step(st) == DB_DONE ? 0 : -1;
	db_reset(st);
	free(sealed);
	return r;
}

/* Run one statement bound to the given int64 values; 0 when it completed. */
int
connection_exec(const char *sql, int n, const int64_t *v)
{
	struct db_stmt	*st = store_prepare(sql);
	int		 i, r;

	if (st == NULL)
		return -1;
	for (i = 0; i < n; i++)
		db_bind_int64(st, i + 1, v[i]);
	r = db_step(st) == DB_DONE ? 0 : -1;
	db_reset(st);
	return r;
}


static const char SQL_ACTIVE_APPS[] =
    "SELECT count(*) FROM apps WHERE connection_id = ? AND revoked_at IS NULL";
const char connection_sql_stopped[] = "UPDATE connections SET stopped = ? WHERE id = ?";

/* Active apps on a connection: it may be removed only when there are none; -1 on failure. */
int64_t
connection_active_apps(int64_t id)
{
	struct db_stmt	*st = store_prepare(SQL_ACTIVE_APPS);
	int64_t		 n = -1;

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, id);
	if (db_step(st) == DB_ROW)
		n = db_column_int64(st, 0);
	db_reset(st);
	return n;
}

static const char SQL_DEL_APPS[] = "DELETE FROM apps WHERE connection_id = ?";
static const char SQL_DEL_SECRETS[] = "DELETE FROM connection_secrets WHERE connection_id = ?";
static const char SQL_DEL[] = "DELETE FROM connections WHERE id = ?";

/* Delete a connection's (revoked) apps, its sealed secrets and itself (inside audit_tx). */
int
connection_store_remove(void *arg)
{
	int64_t *id = arg;

	return cluster_notify_send("conn", *id) == -1 ||
	    connection_exec(SQL_DEL_APPS, 1, id) == -1 ||
	    connection_exec(SQL_DEL_SECRETS, 1, id) == -1 ||
	    connection_exec(SQL_DEL, 1, id) == -1 ? -1 : 0;
}


static const char SQL_DUE[] =
    "SELECT c.name, s.connection_id, s.version FROM connection_secrets s "
    "JOIN connections c ON c.id = s.connection_id "
    "WHERE s.state = 'previous' AND s.retire_at <= ? LIMIT 1";
static const char SQL_RETIRE[] =
    "DELETE FROM connection_secrets WHERE connection_id = ? AND version = ?";

static int
connection_retire_one(void *arg)
{
	return connection_exec(SQL_RETIRE, 2, arg);
}

/* Erase previous secrets whose grace period has ended, one audited transaction each. */
void
connection_sweep(void)
{
	struct audit_rec	 rec = { "daemon", "connection.secret_retired", NULL, NULL, NULL,
				    "ok", NULL, NULL };
	struct db_stmt		*st;
	char			 name[FG_NAME_MAX + 1], detail[192];
	int64_t			 key[2];

	while ((st = store_prepare(SQL_DUE)) != NULL) {
		db_bind_int64(st, 1, store_now_ms());
		if (db_step(st) != DB_ROW) {
			db_reset(st);
			return;
		}
		snprintf(name, sizeof(name), "%s", db_column_text(st, 0));
		key[0] = db_column_int64(st, 1);
		key[1] = db_column_int64(st, 2);
		db_reset(st);
		snprintf(detail, sizeof(detail), "version=%lld node=%s", (long long)key[1],
		    lease_node());
		rec.connection = name;
		rec.detail = detail;
		if (audit_tx(connection_retire_one, key, &rec) == -1)
			return;
	}
}

static const char SQL_AGES[] =
    "SELECT name, coalesce(rotated_at, created_at), stopped FROM connections "
    "ORDER BY 2, name LIMIT ?";
static const char SQL_AGE_COUNTS[] =
    "SELECT count(*), coalesce(sum(stopped), 0), "
    "coalesce(sum(CASE WHEN coalesce(rotated_at, created_at) < ? THEN 1 ELSE 0 END), 0) "
    "FROM connections";

/*
 * For the dashboard, bounded: the n connections with the oldest secrets (name, secret age,
 * state), and how many there are, how many are stopped and how many are due for rotation.
 */
json_t *
connection_ages(int n)
{
	struct db_stmt	*st = store_prepare(SQL_AGES);
	json_t		*out = json_array(), *counts;
	int64_t		 now = store_now_ms(), warn_ms = fg_cfg->secret_warn_days * 86400000;
	json_int_t	 age;

	if (st != NULL) {
		db_bind_int(st, 1, n);
		while (db_step(st) == DB_ROW) {
			age = (json_int_t)((now - db_column_int64(st, 1)) / 1000);
			json_array_append_new(out, json_pack("{sssIsbsb}", "name",
			    db_column_text(st, 0), "secret_age_s", age, "secret_warn",
			    age * 1000 > warn_ms, "stopped", db_column_int(st, 2)));
		}
		db_reset(st);
	}
	counts = json_pack("{sosososo}", "oldest", out, "count", json_integer(0), "stopped",
	    json_integer(0), "warn", json_integer(0));
	if ((st = store_prepare(SQL_AGE_COUNTS)) != NULL) {
		db_bind_int64(st, 1, now - warn_ms);
		if (db_step(st) == DB_ROW) {
			json_object_set_new(counts, "count",
			    json_integer(db_column_int64(st, 0)));
			json_object_set_new(counts, "stopped",
			    json_integer(db_column_int64(st, 1)));
			json_object_set_new(counts, "warn",
			    json_integer(db_column_int64(st, 2)));
		}
		db_reset(st);
	}
	return counts;
}


/* Insert a verified connection's row and its first secret (inside audit_tx); sets n->id. */
int
connection_store_add(struct conn_new *n)
{
	struct db_stmt *st = store_prepare(SQL_INSERT);

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, n->name, -1, DB_STATIC);
	db_bind_text(st, 2, n->environment, -1, DB_STATIC);
	db_bind_text(st, 3, n->tenant, -1, DB_STATIC);
	db_bind_text(st, 4, n->client_id, -1, DB_STATIC);
	db_bind_text(st, 5, n->token_url, -1, DB_STATIC);
	db_bind_text(st, 6, n->api_base, -1, DB_STATIC);
	db_bind_int64(st, 7, store_now_ms());
	if (db_step(st) != DB_ROW) {
		db_reset(st);
		return -1;
	}
	n->id = db_column_int64(st, 0);
	db_reset(st);
	return connection_put_secret(n->id, 1, n->secret);
}

/*
 * Swap a verified secret in (inside audit_tx): demote the current one, insert the new, bump the
 * version; -1 when the connection was removed or rotated meanwhile.
 */
int
connection_store_rotate(int64_t id, int64_t version, long grace_s,
    const struct fg_secret *secret)
{
	struct conn_rec	c;
	int64_t		now = store_now_ms();
	int64_t		drop[] = { id };
	int64_t		demote[] = { now + (int64_t)grace_s * 1000, id };
	int64_t		bump[] = { version + 1, now, id };

	if (connection_get_id(id, &c) == -1 || c.secret_version != version)
		return -1;
	return connection_exec(connection_sql_drop_previous, 1, drop) == -1 ||
	    connection_exec(SQL_DEMOTE, 2, demote) == -1 ||
	    connection_put_secret(id, version + 1, secret) == -1 ||
	    connection_exec(SQL_BUMP, 3, bump) == -1 ? -1 : 0;
}
