/*
 * One upstream request per cold (connection, scope set) across the nodes of a cluster, and one
 * refresh ahead of expiry (issue 11).  A node that would ask the upstream first takes the lease
 * of the pair's token_lease row: one statement that succeeds only while no other node holds an
 * unexpired lease and no stored token has enough life left (expiry by the database's clock).  The
 * holder asks, stores the token sealed under the master key with associated data naming the row
 * and its generation (the database never sees it in clear), and NOTIFYs token:<connection> in
 * the same statement; the others wait for that, bounded, without blocking the loop (token.c),
 * and read the row.  A failed request is left there too, with how long it holds everyone back,
 * so a failing upstream is asked once cluster-wide as well.  Rotation, stop and removal delete
 * the connection's rows in their transaction.
 *
 * On SQLite there is one node: every take is the caller's and nothing is stored.  On PostgreSQL
 * each call is one short synchronous statement on the shared connection, made only on a cache
 * miss or a refresh; writes take writer_lock() as every write of the loop's does.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"

#define TOKEN_LEASE_NOW	"CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
#define TOKEN_LEASE_SLACK_MS	2000	/* beyond the upstream's own timeouts */

static char token_lease_holder[48];	/* this node, for this run */

/* Take the lease unless another node holds it or a stored token has min_left seconds left. */
static const char SQL_TAKE[] =
    "INSERT INTO token_lease (connection_id, scopes, holder, lease_until) "
    "VALUES (?1, ?2, ?3, " TOKEN_LEASE_NOW " + ?4) ON CONFLICT (connection_id, scopes) DO UPDATE "
    "SET holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until "
    "WHERE token_lease.lease_until < " TOKEN_LEASE_NOW " AND token_lease.retry_until <= "
    TOKEN_LEASE_NOW " AND (token_lease.sealed IS NULL OR "
    "token_lease.expires_at - " TOKEN_LEASE_NOW " <= ?5 * 1000) RETURNING id, gen";
static const char SQL_READ[] =
    "SELECT id, gen, sealed, granted, (expires_at - " TOKEN_LEASE_NOW ") / 1000, lifetime "
    "FROM token_lease WHERE connection_id = ?1 AND scopes = ?2 AND sealed IS NOT NULL AND "
    "expires_at - " TOKEN_LEASE_NOW " > ?3 * 1000";
static const char SQL_FAILED[] =
    "SELECT error, message, (retry_until - " TOKEN_LEASE_NOW " + 999) / 1000 FROM token_lease "
    "WHERE connection_id = ?1 AND scopes = ?2 AND retry_until > " TOKEN_LEASE_NOW;
static const char SQL_PUT[] =
    "WITH u AS (UPDATE token_lease SET gen = ?3, sealed = ?4, granted = ?5, expires_at = "
    TOKEN_LEASE_NOW " + ?6 * 1000, lifetime = ?6, holder = NULL, lease_until = 0, "
    "error = NULL, message = NULL, retry_until = 0 "
    "WHERE id = ?1 AND gen = ?2 AND holder = ?7 RETURNING id) "
    "SELECT pg_notify('flowgate', ?8) FROM u";
static const char SQL_RELEASE[] =
    "WITH u AS (UPDATE token_lease SET holder = NULL, lease_until = 0, error = ?4, "
    "message = ?5, retry_until = " TOKEN_LEASE_NOW " + ?6 "
    "WHERE id = ?1 AND holder = ?2 RETURNING id) SELECT pg_notify('flowgate', ?3) FROM u";
static const char SQL_FORGET[] = "DELETE FROM token_lease WHERE connection_id = ?1";
static const char SQL_ISSUED[] =
    "INSERT INTO token_issued (fp, app_id, expires_at) VALUES (?1, ?2, " TOKEN_LEASE_NOW
    " + ?3 * 1000) ON CONFLICT (fp, app_id) DO NOTHING";
static const char SQL_ELSEWHERE[] =
    "SELECT count(*) FROM token_issued WHERE fp = ?1 AND app_id <> ?2 AND expires_at > "
    TOKEN_LEASE_NOW;
static const char SQL_PRUNE[] = "DELETE FROM token_issued WHERE expires_at < " TOKEN_LEASE_NOW;
static const char SQL_SPOILED[] = "UPDATE token_lease SET sealed = NULL WHERE id = ?1 AND gen = ?2";

/* This node's name as a lease holder: its pid and random bytes, new at each start. */
static const char *
token_lease_me(void)
{
	uint8_t r[12];

	if (token_lease_holder[0] == '\0') {
		randombytes_buf(r, sizeof(r));
		snprintf(token_lease_holder, sizeof(token_lease_holder), "%ld-", (long)getpid());
		sodium_bin2hex(token_lease_holder + strlen(token_lease_holder), 25, r, sizeof(r));
	}
	return token_lease_holder;
}

/* The payload that wakes the nodes waiting on this connection's tokens. */
static void
token_lease_payload(int64_t conn_id, char *buf, size_t buflen)
{
	snprintf(buf, buflen, "token:%lld", (long long)conn_id);
}

/*
 * A stored token that does not open (sealed under another master key, or altered) would keep
 * every node waiting until it expires: clear it, so the next take succeeds.
 */
static void
token_lease_spoiled(int64_t row, int64_t gen)
{
	struct db_stmt *st;

	fg_log_warn("token lease %lld: the stored token does not open; cleared", (long long)row);
	writer_lock();
	if ((st = store_prepare(SQL_SPOILED)) != NULL) {
		db_bind_int64(st, 1, row);
		db_bind_int64(st, 2, gen);
		db_step(st);
		db_reset(st);
	}
	writer_unlock();
}

/* A stored token of k with more than min_left seconds left: 0 and *out, else -1. */
int
token_lease_read(const struct token_lease_key *k, long min_left, struct token_lease_tok *out)
{
	struct db_stmt	*st;
	int64_t		 row = 0, gen = 0;
	int		 r = -1;

	memset(out, 0, sizeof(*out));
	if (db_dialect() != DB_POSTGRESQL || (st = store_prepare(SQL_READ)) == NULL)
		return -1;
	db_bind_int64(st, 1, k->conn_id);
	db_bind_text(st, 2, k->scopes, -1, DB_STATIC);
	db_bind_int64(st, 3, min_left);
	if (db_step(st) == DB_ROW) {
		row = db_column_int64(st, 0);
		gen = db_column_int64(st, 1);
		if (seal_token_open(row, gen, db_column_blob(st, 2), (size_t)db_column_bytes(st, 2),
		    &out->token) == 0) {
			app_column(st, 3, out->granted, sizeof(out->granted));
			out->expires_in = (long)db_column_int64(st, 4);
			out->lifetime = (long)db_column_int64(st, 5);
			r = 0;
		}
	}
	db_reset(st);
	if (row != 0 && r == -1)
		token_lease_spoiled(row, gen);
	return r;
}

/* Another node's request for k failed and holds everyone back a while: 0 and why in *out. */
static int
token_lease_failed(const struct token_lease_key *k, struct token_lease_tok *out)
{
	struct db_stmt	*st;
	int		 r = -1;

	if ((st = store_prepare(SQL_FAILED)) == NULL)
		return -1;
	db_bind_int64(st, 1, k->conn_id);
	db_bind_text(st, 2, k->scopes, -1, DB_STATIC);
	if (db_step(st) == DB_ROW) {
		app_column(st, 0, out->error, sizeof(out->error));
		app_column(st, 1, out->message, sizeof(out->message));
		out->retry_after = (long)db_column_int64(st, 2);
		r = out->error[0] != '\0' ? 0 : -1;
	}
	db_reset(st);
	return r;
}

/* Whether this node asks the upstream for k, or another node's token or request serves it. */
enum token_lease_got
token_lease_take(struct token_lease_key *k, long min_left, struct token_lease_tok *out)
{
	struct db_stmt	*st;
	int		 r;

	memset(out, 0, sizeof(*out));
	if (db_dialect() != DB_POSTGRESQL)
		return TOKEN_LEASE_MINE;
	writer_lock();
	if ((st = store_prepare(SQL_TAKE)) == NULL) {
		writer_unlock();
		return TOKEN_LEASE_FAILED;
	}
	db_bind_int64(st, 1, k->conn_id);
	db_bind_text(st, 2, k->scopes, -1, DB_STATIC);
	db_bind_text(st, 3, token_lease_me(), -1, DB_STATIC);
	db_bind_int64(st, 4, fg_cfg->connect_timeout_ms + fg_cfg->timeout_ms + TOKEN_LEASE_SLACK_MS);
	db_bind_int64(st, 5, min_left);
	if ((r = db_step(st)) == DB_ROW) {
		k->row = db_column_int64(st, 0);
		k->gen = db_column_int64(st, 1);
	}
	db_reset(st);
	writer_unlock();
	if (r == DB_ROW)
		return TOKEN_LEASE_MINE;
	if (r != DB_DONE) {
		fg_log_warn("token lease: %s", db_errmsg());
		return TOKEN_LEASE_FAILED;
	}
	if (token_lease_read(k, min_left, out) == 0)
		return TOKEN_LEASE_STORED;
	return token_lease_failed(k, out) == 0 ? TOKEN_LEASE_REFUSED : TOKEN_LEASE_OTHER;
}

/* Store the token this node fetched under its lease, sealed, and wake the waiting nodes. */
void
token_lease_put(const struct token_lease_key *k, const struct fg_secret *token,
    const char *granted, long expires_in)
{
	struct db_stmt	*st;
	uint8_t		*sealed = NULL;
	size_t		 len;
	char		 payload[48];

	if (db_dialect() != DB_POSTGRESQL || k->row == 0)
		return;
	if (seal_token(k->row, k->gen + 1, token, &sealed, &len) == -1) {
		token_lease_release(k, NULL, NULL, 0);
		return;
	}
	token_lease_payload(k->conn_id, payload, sizeof(payload));
	writer_lock();
	if ((st = store_prepare(SQL_PUT)) != NULL) {
		db_bind_int64(st, 1, k->row);
		db_bind_int64(st, 2, k->gen);
		db_bind_int64(st, 3, k->gen + 1);
		db_bind_blob(st, 4, sealed, (int)len, DB_STATIC);
		db_bind_text(st, 5, granted, -1, DB_STATIC);
		db_bind_int64(st, 6, expires_in);
		db_bind_text(st, 7, token_lease_me(), -1, DB_STATIC);
		db_bind_text(st, 8, payload, -1, DB_STATIC);
		if (db_step(st) == DB_ERROR)
			fg_log_warn("token lease: cannot store the token: %s", db_errmsg());
		db_reset(st);
	}
	writer_unlock();
	free(sealed);
}

/*
 * This node's request was overtaken (error NULL: another may ask at once) or failed (the others
 * answer error and message for retry_s seconds without asking): give the lease back.
 */
void
token_lease_release(const struct token_lease_key *k, const char *error, const char *message,
    long retry_s)
{
	struct db_stmt	*st;
	char		 payload[48];

	if (db_dialect() != DB_POSTGRESQL || k->row == 0)
		return;
	token_lease_payload(k->conn_id, payload, sizeof(payload));
	writer_lock();
	if ((st = store_prepare(SQL_RELEASE)) != NULL) {
		db_bind_int64(st, 1, k->row);
		db_bind_text(st, 2, token_lease_me(), -1, DB_STATIC);
		db_bind_text(st, 3, payload, -1, DB_STATIC);
		if (error != NULL) {
			db_bind_text(st, 4, error, -1, DB_STATIC);
			db_bind_text(st, 5, message, -1, DB_STATIC);
		} else {
			db_bind_null(st, 4);
			db_bind_null(st, 5);
		}
		db_bind_int64(st, 6, error != NULL ? retry_s * 1000 : 0);
		db_step(st);
		db_reset(st);
	}
	writer_unlock();
}

/* A connection's tokens are no longer good (inside the transaction that changed it). */
int
token_lease_forget(int64_t conn_id)
{
	struct db_stmt	*st;
	int		 r;

	if (db_dialect() != DB_POSTGRESQL)
		return 0;
	if ((st = store_prepare(SQL_FORGET)) == NULL)
		return -1;
	db_bind_int64(st, 1, conn_id);
	r = db_step(st);
	db_reset(st);
	return r == DB_DONE ? 0 : -1;
}

/*
 * The issuance just audited handed its token to app_id, a first here (bearer.c): in a cluster
 * another node may hand the same shared token to another app, so the database keeps who
 * received it, written in the record's own commit (token_lease_issued_row): the token leaves
 * only once both are durable, and not at all if either fails.  One SQLite node shares nothing.
 */
void
token_lease_issued(int64_t app_id, long expires_in)
{
	if (db_dialect() == DB_POSTGRESQL)
		audit_issued(app_id, expires_in);
}

/* The statement that writes an issuance, for the audit's commit groups (audit-sink.c). */
const char *
token_lease_issued_sql(void)
{
	return SQL_ISSUED;
}

/* Write that app_id received the token of fp, through st inside a commit group; -1 fails it. */
int
token_lease_issued_row(struct db_stmt *st, const char *fp, int64_t app_id, long expires_in)
{
	int r;

	if (st == NULL || fp == NULL)
		return -1;
	db_reset(st);
	db_clear_bindings(st);
	db_bind_text(st, 1, fp, -1, DB_STATIC);
	db_bind_int64(st, 2, app_id);
	db_bind_int64(st, 3, expires_in);
	r = db_step(st);
	db_reset(st);
	if (r != DB_DONE)
		fg_log_warn("token lease: cannot record an issuance: %s", db_errmsg());
	return r == DB_DONE ? 0 : -1;
}

/* Whether a node handed the token of fp to an app other than app_id (or it cannot be told). */
int
token_lease_elsewhere(const char *fp, int64_t app_id)
{
	struct db_stmt	*st;
	int		 others = 1;

	if (db_dialect() != DB_POSTGRESQL)
		return 0;
	if ((st = store_prepare(SQL_ELSEWHERE)) == NULL)
		return 1;
	db_bind_text(st, 1, fp, -1, DB_STATIC);
	db_bind_int64(st, 2, app_id);
	if (db_step(st) == DB_ROW)
		others = db_column_int64(st, 0) != 0;
	db_reset(st);
	return others;
}

/* Forget issuances of expired tokens (once a minute). */
void
token_lease_prune(void)
{
	struct db_stmt *st;

	if (db_dialect() != DB_POSTGRESQL)
		return;
	writer_lock();
	if ((st = store_prepare(SQL_PRUNE)) != NULL) {
		db_step(st);
		db_reset(st);
	}
	writer_unlock();
}
