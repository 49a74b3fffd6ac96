/*
 * Where the audit's commit groups write (the writer thread's, audit_tx's) and the MAC'd head.
 * On SQLite the one writer's records arrive chained and numbered.  On PostgreSQL several nodes
 * append to one chain: each commit group takes the chain's tail under a cluster-wide advisory
 * lock held until its transaction ends (audit_chain_tail(), schema/pg 009, one round trip) and
 * numbers and hashes its records from there; the head is moved to the cluster's newest record
 * under the same lock, if it is free, once a second.  A record that hands a token to an app for
 * the first time on this node writes that (token_issued) in the same commit.
 */
#include "config.h"

#include <string.h>

#include "daemon.h"
#include "audit.h"
#include "log.h"

static const char SQL_INSERT[] =
    "INSERT INTO audit (seq, ts, actor, event, app, connection, scopes, outcome, detail, "
    "token_fp, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
static const char SQL_SET_HEAD[] =
    "INSERT INTO audit_head (id, seq, hash, mac) VALUES (1, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac";
/* PostgreSQL: the chain's tail under its lock (schema/pg 009), and as last committed */
static const char SQL_TAIL_LOCKED[] = "SELECT tail_seq, tail_hash FROM audit_chain_tail()";
static const char SQL_TRY_LOCK[] = "SELECT pg_try_advisory_xact_lock(4605)";
static const char SQL_TAIL[] =
    "SELECT seq, hash FROM (SELECT seq, hash FROM audit_head WHERE id = 1 UNION ALL "
    "SELECT seq, hash FROM (SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1) t) u "
    "ORDER BY seq DESC LIMIT 1";

/* The chain's tail: the newer of the head row and the newest record (0 when empty). */
static int
audit_sink_tail(struct db_stmt *st, int64_t *seq, uint8_t hash[AUDIT_HASHLEN])
{
	int r;

	*seq = 0;
	memset(hash, 0, AUDIT_HASHLEN);
	if ((r = db_step(st)) == DB_ROW && db_column_bytes(st, 1) == AUDIT_HASHLEN) {
		*seq = db_column_int64(st, 0);
		memcpy(hash, db_column_blob(st, 1), AUDIT_HASHLEN);
	}
	db_reset(st);
	return r == DB_ROW || r == DB_DONE ? 0 : -1;
}

/* PostgreSQL: the chain's newest committed record, whichever node wrote it; -1 on error. */
int64_t
audit_sink_last(uint8_t hash[AUDIT_HASHLEN])
{
	struct db_stmt	*st;
	int64_t		 seq;

	if ((st = store_prepare(SQL_TAIL)) == NULL || audit_sink_tail(st, &seq, hash) == -1)
		return -1;
	return seq;
}

/* A statement of the writer thread's own (the cache belongs to the loop). */
static struct db_stmt *
audit_sink_own(const char *sql)
{
	struct db_stmt *st = NULL;

	if (db_prepare_persistent(sql, &st) != DB_OK)
		return NULL;
	return st;
}

/* The statements of a commit group: the writer's own (own), or the loop's cached ones. */
int
audit_sink_open(struct audit_sink *s, int own)
{
	struct db_stmt *(*get)(const char *) = own ? audit_sink_own : store_prepare;

	memset(s, 0, sizeof(*s));
	if ((s->insert = get(SQL_INSERT)) == NULL)
		return -1;
	if (db_dialect() == DB_SQLITE)
		return 0;
	return (s->tail = get(SQL_TAIL_LOCKED)) != NULL &&
	    (s->issued = get(token_lease_issued_sql())) != NULL ? 0 : -1;
}

/* Free the writer's own statements. */
void
audit_sink_close(struct audit_sink *s)
{
	db_finalize(s->insert);
	db_finalize(s->tail);
	db_finalize(s->issued);
	memset(s, 0, sizeof(*s));
}

/*
 * PostgreSQL: several nodes append to one chain, so each commit group takes the tail under a
 * cluster-wide lock held until its transaction ends (audit_chain_tail(), one round trip), and
 * numbers and hashes its records from there.  SQLite has one writer, whose records are chained
 * at append.
 */
int
audit_sink_begin(struct audit_sink *s)
{
	if (db_dialect() == DB_SQLITE)
		return 0;
	if (audit_sink_tail(s->tail, &s->seq, s->hash) == -1) {
		fg_log_warn("audit: cannot take the chain's tail: %s", db_errmsg());
		return -1;
	}
	return 0;
}

/* PostgreSQL: number and hash a record from the tail taken under the lock. */
static int
audit_sink_rechain(struct audit_sink *s, struct audit_row *r)
{
	r->seq = s->seq + 1;
	memcpy(r->prev, s->hash, AUDIT_HASHLEN);
	if (audit_hash(r->seq, r->ts, r->f, r->prev, r->hash) == -1)
		return -1;
	s->seq = r->seq;
	memcpy(s->hash, r->hash, AUDIT_HASHLEN);
	return 0;
}

/* Insert records through s, inside the caller's transaction (on either thread). */
int
audit_sink_insert(struct audit_sink *s, struct audit_row *rows, int n)
{
	struct db_stmt	*st = s->insert;
	int		 i, j, r;

	for (i = 0; i < n; i++) {
		struct audit_row *row = &rows[i];

		if (db_dialect() == DB_POSTGRESQL && audit_sink_rechain(s, row) == -1)
			return -1;
		db_reset(st);
		db_clear_bindings(st);
		db_bind_int64(st, 1, row->seq);
		db_bind_int64(st, 2, row->ts);
		for (j = 0; j < AUDIT_FIELDS; j++)
			db_bind_text(st, 3 + j, row->f[j], -1, DB_STATIC);
		db_bind_blob(st, 11, row->prev, AUDIT_HASHLEN, DB_STATIC);
		db_bind_blob(st, 12, row->hash, AUDIT_HASHLEN, DB_STATIC);
		r = db_step(st);
		db_reset(st);
		if (r != DB_DONE) {
			fg_log_warn("audit insert failed: %s", db_errmsg());
			return -1;
		}
		if (row->issued_app != 0 && token_lease_issued_row(s->issued, row->f[7],
		    row->issued_app, row->issued_s) == -1)
			return -1;
	}
	return 0;
}

/* Write the MAC'd head: seq and the hash of that record. */
int
audit_sink_head(int64_t seq, const uint8_t hash[AUDIT_HASHLEN])
{
	struct db_stmt	*st = store_prepare(SQL_SET_HEAD);
	uint8_t		 mac[AUDIT_HASHLEN];
	int		 r;

	if (st == NULL)
		return -1;
	audit_point_mac("head:", seq, hash, mac);
	db_bind_int64(st, 1, seq);
	db_bind_blob(st, 2, hash, AUDIT_HASHLEN, DB_STATIC);
	db_bind_blob(st, 3, mac, AUDIT_HASHLEN, DB_STATIC);
	r = db_step(st);
	db_reset(st);
	if (r != DB_DONE)
		fg_log_warn("audit head update failed: %s", db_errmsg());
	return r == DB_DONE ? 0 : -1;
}

/*
 * PostgreSQL: move the head to the cluster's tail, under the chain's lock; the loop never
 * waits for that lock: while another node commits, the head moves at a later second.
 */
int
audit_sink_anchor(void)
{
	struct db_stmt	*st;
	uint8_t		 hash[AUDIT_HASHLEN];
	int64_t		 seq;
	int		 ok, locked = 0;

	if (store_begin() == -1)
		return -1;
	if ((st = store_prepare(SQL_TRY_LOCK)) != NULL) {
		locked = db_step(st) == DB_ROW && db_column_int(st, 0) == 1;
		db_reset(st);
	}
	ok = locked && (st = store_prepare(SQL_TAIL)) != NULL &&
	    audit_sink_tail(st, &seq, hash) == 0 && audit_sink_head(seq, hash) == 0 &&
	    store_commit() == 0;
	if (!ok)
		store_rollback();
	return ok ? 0 : -1;
}
