/*
 * End users' sessions in the database, so a restart or an upgrade logs nobody out.  A row is
 * found by the keyed hash of the session id (the id itself is only in the browser's cookie);
 * the refresh token is sealed with associated data naming the row and its generation, which
 * goes up on every rotation.  oidc.c keeps the live sessions in memory and writes through.
 * Writes take writer_lock(): the audit writer thread shares the database handle.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"

static const char SQL_INSERT[] =
    "INSERT INTO user_sessions (id_hash, app_id, conn_id, username, sub, refresh, refresh_gen, "
    "created_at, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?7, 1, ?6, ?6) RETURNING id";
static const char SQL_SEAL[] =
    "UPDATE user_sessions SET refresh = ?1, refresh_gen = ?2 WHERE id = ?3";
static const char SQL_GET[] =
    "SELECT id, app_id, conn_id, username, sub, refresh, refresh_gen, created_at, last_seen "
    "FROM user_sessions WHERE id_hash = ?1";
static const char SQL_GET_ID[] =
    "SELECT id, app_id, conn_id, username, sub, refresh, refresh_gen, created_at, last_seen "
    "FROM user_sessions WHERE id = ?1";
static const char SQL_TOUCH[] = "UPDATE user_sessions SET last_seen = ?1 WHERE id = ?2";
static const char SQL_DELETE[] = "DELETE FROM user_sessions WHERE id = ?1";
static const char SQL_EXPIRED[] =
    "SELECT id FROM user_sessions WHERE last_seen < ?1 OR created_at < ?2 ORDER BY id LIMIT ?3";

/* Run a statement binding two integers (?1, ?2); 0 when done. */
static int
oidcstore_exec(const char *sql, int64_t a, int64_t b)
{
	struct db_stmt	*st;
	int		 r = -1;

	writer_lock();
	if ((st = store_prepare(sql)) != NULL) {
		db_bind_int64(st, 1, a);
		db_bind_int64(st, 2, b);
		r = db_step(st) == DB_DONE ? 0 : -1;
		db_reset(st);
	}
	writer_unlock();
	return r;
}

/* Seal refresh for row r->id at generation gen and store it (the caller holds the lock). */
static int
oidcstore_seal(const struct oidc_row *r, int64_t gen, const struct fg_secret *refresh)
{
	struct db_stmt	*st;
	uint8_t		*sealed = NULL;
	size_t		 len;
	int		 ok = 0;

	if (seal_refresh(r->id, gen, refresh, &sealed, &len) == -1 ||
	    (st = store_prepare(SQL_SEAL)) == NULL) {
		free(sealed);
		return -1;
	}
	db_bind_blob(st, 1, sealed, (int)len, DB_STATIC);
	db_bind_int64(st, 2, gen);
	db_bind_int64(st, 3, r->id);
	ok = db_step(st) == DB_DONE && db_changes() == 1;
	db_reset(st);
	free(sealed);
	return ok ? 0 : -1;
}

/* Store a new session (r->refresh sealed to its new row); fills r->id and r->gen; 0 if stored. */
int
oidcstore_insert(const uint8_t hash[32], struct oidc_row *r)
{
	struct db_stmt	*st;
	int		 ok;

	writer_lock();
	if (store_begin() == -1) {
		writer_unlock();
		return -1;
	}
	ok = (st = store_prepare(SQL_INSERT)) != NULL;
	if (ok) {
		db_bind_blob(st, 1, hash, 32, DB_STATIC);
		db_bind_int64(st, 2, r->app_id);
		db_bind_int64(st, 3, r->conn_id);
		db_bind_text(st, 4, r->username, -1, DB_STATIC);
		db_bind_text(st, 5, r->sub, -1, DB_STATIC);
		db_bind_int64(st, 6, r->created);
		db_bind_blob(st, 7, "", 0, DB_STATIC);	/* sealed once the id is known */
		if ((ok = db_step(st) == DB_ROW))
			r->id = db_column_int64(st, 0);
		db_reset(st);
	}
	r->gen = 1;
	ok = ok && oidcstore_seal(r, r->gen, r->refresh) == 0 && store_commit() == 0;
	if (!ok) {
		store_rollback();
		fg_log_warn("cannot store a user session: %s", db_errmsg());
	}
	writer_unlock();
	return ok ? 0 : -1;
}

/* The row st was bound to, its refresh token opened; -1 if none (r->id 0) or it does not open. */
static int
oidcstore_read(struct db_stmt *st, struct oidc_row *r)
{
	int rc = -1;

	if (db_step(st) == DB_ROW) {
		r->id = db_column_int64(st, 0);
		r->app_id = db_column_int64(st, 1);
		r->conn_id = db_column_int64(st, 2);
		snprintf(r->username, sizeof(r->username), "%s", db_column_text(st, 3));
		snprintf(r->sub, sizeof(r->sub), "%s", db_column_text(st, 4));
		r->gen = db_column_int64(st, 6);
		r->created = db_column_int64(st, 7);
		r->last_seen = db_column_int64(st, 8);
		rc = seal_refresh_open(r->id, r->gen, db_column_blob(st, 5),
		    (size_t)db_column_bytes(st, 5), &r->refresh);
		if (rc == -1)
			fg_log_warn("user session %lld: its refresh token does not open",
			    (long long)r->id);
	}
	db_reset(st);
	return rc;
}

/* The stored session of hash, its refresh token opened; -1 if none or it does not open. */
int
oidcstore_load(const uint8_t hash[32], struct oidc_row *r)
{
	struct db_stmt *st = store_prepare(SQL_GET);

	memset(r, 0, sizeof(*r));
	if (st == NULL)
		return -1;
	db_bind_blob(st, 1, hash, 32, DB_STATIC);
	return oidcstore_read(st, r);
}

/* The stored session of row id, as oidcstore_load (r->id is 0 when there is none). */
int
oidcstore_load_id(int64_t id, struct oidc_row *r)
{
	struct db_stmt *st = store_prepare(SQL_GET_ID);

	memset(r, 0, sizeof(*r));
	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, id);
	return oidcstore_read(st, r);
}

/* Tell the cluster's other nodes that stored session id changed, right after its commit. */
static void
oidcstore_told(int64_t id)
{
	if (db_dialect() != DB_POSTGRESQL)	/* one node: nobody to tell, no lock to wait for */
		return;
	writer_lock();
	cluster_notify_send("usess", id);
	writer_unlock();
}

/* The upstream rotated the refresh token: seal the new one at the next generation. */
int
oidcstore_rotate(struct oidc_row *r, const struct fg_secret *refresh)
{
	int rc;

	writer_lock();
	rc = oidcstore_seal(r, r->gen + 1, refresh);
	writer_unlock();
	if (rc == 0) {
		r->gen++;
		oidcstore_told(r->id);
	}
	else
		fg_log_warn("user session %lld: cannot store its rotated refresh token",
		    (long long)r->id);
	return rc;
}

/* Note a session's use (for the idle timeout across restarts). */
void
oidcstore_touch(int64_t id, int64_t now)
{
	oidcstore_exec(SQL_TOUCH, now, id);
}

/* Forget a session (logout, timeout, the upstream ended it). */
void
oidcstore_delete(int64_t id)
{
	oidcstore_exec(SQL_DELETE, id, 0);
	oidcstore_told(id);
}

/* Up to max stored sessions idle since idle_before or created before created_before. */
size_t
oidcstore_expired(int64_t idle_before, int64_t created_before, int64_t *rows, size_t max)
{
	struct db_stmt	*st = store_prepare(SQL_EXPIRED);
	size_t		 n = 0;

	if (st == NULL)
		return 0;
	db_bind_int64(st, 1, idle_before);
	db_bind_int64(st, 2, created_before);
	db_bind_int64(st, 3, (int64_t)max);
	while (n < max && db_step(st) == DB_ROW)
		rows[n++] = db_column_int64(st, 0);
	db_reset(st);
	return n;
}
