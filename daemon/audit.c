/*
 * The audit log: append-only rows, each carrying a keyed BLAKE2b over the previous hash and
 * its own fields, and a MAC'd head so that edits, deletions and cut-off tails all show.  Token
 * issuance appends in memory and the event loop commits once per turn; replies that depend on
 * a record are only sent after that commit (fail-closed).  On SQLite the head is anchored once
 * a second rather than per commit (it costs a page per commit): only the last second is
 * unanchored.  On PostgreSQL several nodes share the chain: a record's seq at append is only
 * this node's count (what held replies wait for); each commit group numbers and hashes its
 * records from the tail it takes under a cluster-wide lock, and the head is moved, under that
 * lock too, to the cluster's newest record once a second by each node that committed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "audit.h"
#include "log.h"

#define AUDIT_BATCH_MAX	4096	/* records per hand-over to the writer */
static struct audit_row	*audit_batch;	/* this turn's records, not handed over yet */
static int		 audit_nbatch, audit_capbatch;
static int64_t		 audit_head_seq, audit_done_seq, audit_anchored_seq;
static uint8_t		 audit_head_hash[AUDIT_HASHLEN], audit_done_hash[AUDIT_HASHLEN];

static const char SQL_HEAD[] = "SELECT seq, hash FROM audit_head WHERE id = 1";

/* Append a length-prefixed field (or the NULL marker) to a growing buffer. */
static size_t
audit_put(uint8_t *buf, size_t off, size_t cap, const char *s)
{
	uint32_t n = s ? (uint32_t)strlen(s) : 0xffffffffu;

	if (off + 4 > cap)
		return cap + 1;
	buf[off] = n >> 24;
	buf[off + 1] = n >> 16;
	buf[off + 2] = n >> 8;
	buf[off + 3] = n;
	off += 4;
	if (s == NULL)
		return off;
	if (off + n > cap)
		return cap + 1;
	memcpy(buf + off, s, n);
	return off + n;
}

/* hash = MAC(prev || seq || ts || fields), one encoding shared by append, commit and verify. */
int
audit_hash(int64_t seq, int64_t ts, char *const f[AUDIT_FIELDS], const uint8_t prev[AUDIT_HASHLEN],
    uint8_t out[AUDIT_HASHLEN])
{
	uint8_t	 buf[8192];
	char	 num[48];
	size_t	 off = AUDIT_HASHLEN;
	int	 i;

	memcpy(buf, prev, AUDIT_HASHLEN);
	snprintf(num, sizeof(num), "%lld:%lld", (long long)seq, (long long)ts);
	off = audit_put(buf, off, sizeof(buf), num);
	for (i = 0; i < AUDIT_FIELDS && off <= sizeof(buf); i++)
		off = audit_put(buf, off, sizeof(buf), f[i]);
	if (off > sizeof(buf))
		return -1;
	seal_audit_mac(buf, off, out);
	return 0;
}

/*
 * The MAC of a point of the chain (domain "head:" or "ckpt:"): binds a record count to the
 * hash of its last record, so neither can be moved without the key.
 */
void
audit_point_mac(const char *domain, int64_t seq, const uint8_t hash[AUDIT_HASHLEN],
    uint8_t out[AUDIT_HASHLEN])
{
	uint8_t buf[8 + AUDIT_HASHLEN + 5];

	memcpy(buf, domain, 5);
	for (int i = 0; i < 8; i++)
		buf[5 + i] = (uint8_t)((uint64_t)seq >> (56 - 8 * i));
	memcpy(buf + 13, hash, AUDIT_HASHLEN);
	seal_audit_mac(buf, sizeof(buf), out);
}

/*
 * The committed head: its record count, and its hash into hash.  On PostgreSQL other nodes
 * commit too, so it is read from the database (-1 when it cannot be).
 */
int64_t
audit_committed_head(uint8_t hash[AUDIT_HASHLEN])
{
	if (db_dialect() == DB_SQLITE) {
		memcpy(hash, audit_done_hash, AUDIT_HASHLEN);
		return audit_done_seq;
	}
	return audit_sink_last(hash);
}

/* The chain's newest committed record, whichever node wrote it. */
int64_t
audit_last_seq(void)
{
	uint8_t hash[AUDIT_HASHLEN];

	return audit_committed_head(hash);
}

static const char SQL_AFTER[] = "SELECT seq, hash FROM audit WHERE seq > ? ORDER BY seq";

/* Records committed after the last anchor (a crash within that second) extend the head. */
static int
audit_catch_up(void)
{
	struct db_stmt *st = store_prepare(SQL_AFTER);

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, audit_head_seq);
	while (db_step(st) == DB_ROW && db_column_bytes(st, 1) == AUDIT_HASHLEN) {
		audit_head_seq = audit_done_seq = db_column_int64(st, 0);
		memcpy(audit_head_hash, db_column_blob(st, 1), AUDIT_HASHLEN);
		memcpy(audit_done_hash, audit_head_hash, AUDIT_HASHLEN);
	}
	db_reset(st);
	return 0;
}

static const char SQL_TRIGGERS[] =
    "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit' AND "
    "name IN ('audit_no_update', 'audit_no_delete') AND sql LIKE '%RAISE(ABORT%'";
static const char SQL_MAKE_TRIGGERS[] =
    "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit WHEN OLD.seq > "
    "coalesce((SELECT seq FROM audit_base WHERE id = 1), 0) "
    "BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;";
/* PostgreSQL: the same protections as schema/pg 001 and 006, TRUNCATE included */
static const char SQL_TRIGGERS_PG[] =
    "SELECT count(*) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
    "WHERE t.tgrelid = 'audit'::regclass AND NOT t.tgisinternal AND t.tgenabled <> 'D' "
    "AND t.tgname IN ('audit_no_update', 'audit_no_delete', 'audit_no_truncate') "
    "AND p.prosrc LIKE '%RAISE EXCEPTION ''audit records are append-only''%'";
static const char SQL_MAKE_TRIGGERS_PG[] =
    "DROP TRIGGER IF EXISTS audit_no_update ON audit; "
    "DROP TRIGGER IF EXISTS audit_no_delete ON audit; "
    "DROP TRIGGER IF EXISTS audit_no_truncate ON audit; "
    "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit records are append-only' "
    "USING ERRCODE = 'integrity_constraint_violation'; END $$; "
    "CREATE OR REPLACE FUNCTION audit_delete_guard() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN IF OLD.seq > coalesce((SELECT seq FROM audit_base WHERE id = 1), 0) THEN "
    "RAISE EXCEPTION 'audit records are append-only' "
    "USING ERRCODE = 'integrity_constraint_violation'; END IF; RETURN OLD; END $$; "
    "CREATE OR REPLACE FUNCTION audit_truncate_guard() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN IF EXISTS (SELECT 1 FROM audit WHERE seq > "
    "coalesce((SELECT seq FROM audit_base WHERE id = 1), 0)) THEN "
    "RAISE EXCEPTION 'audit records are append-only' "
    "USING ERRCODE = 'integrity_constraint_violation'; END IF; RETURN NULL; END $$; "
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit FOR EACH ROW "
    "EXECUTE FUNCTION audit_append_only(); "
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit FOR EACH ROW "
    "EXECUTE FUNCTION audit_delete_guard(); "
    "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT "
    "EXECUTE FUNCTION audit_truncate_guard();";

/* Record, in the chain itself, what was found changed while the daemon was not running. */
static int
audit_tamper(const char *what)
{
	struct audit_rec rec = { "flowgated", "audit.tamper", NULL, NULL, NULL, "detected", what,
	    NULL };

	fg_log_warn("audit: %s", what);
	return audit_append(&rec) == 0 && audit_flush() == 0 ? 0 : -1;
}

/*
 * What protects the chain must still be there at start: the append-only triggers (put back
 * if missing or changed) and the head whenever records exist.  Either missing means the file
 * was changed behind the daemon's back: that is recorded as audit.tamper, which every later
 * verification reports, so it cannot be made to look intact again.
 */
static int
audit_check_protection(int head_present)
{
	struct db_stmt	*st = store_prepare(db_sql(SQL_TRIGGERS, SQL_TRIGGERS_PG));
	int		 want = db_dialect() == DB_SQLITE ? 2 : 3, n = 0, rc = 0;

	if (st == NULL)
		return -1;
	if (db_step(st) == DB_ROW)
		n = db_column_int(st, 0);
	db_reset(st);
	if (n != want) {
		if (store_exec_write(db_sql(SQL_MAKE_TRIGGERS, SQL_MAKE_TRIGGERS_PG)) != DB_OK)
			return -1;
		rc |= audit_tamper("the append-only triggers of the audit table were missing or "
		    "changed at start (put back): records may have been changed or deleted");
	}
	if (!head_present && audit_head_seq > 0)
		rc |= audit_tamper("the chain's head was missing at start while records existed: "
		    "records may have been cut off the end");
	if (!head_present || n != want)
		audit_anchored_seq = -1;	/* write the head now */
	audit_anchor();
	return rc;
}

/* Load the chain's head from the database and check what protects it. */
int
audit_init(void)
{
	struct db_stmt	*st = store_prepare(SQL_HEAD);
	int		 head_present = 0;

	audit_head_seq = 0;
	memset(audit_head_hash, 0, AUDIT_HASHLEN);
	if (st == NULL)
		return -1;
	if (db_step(st) == DB_ROW && db_column_bytes(st, 1) == AUDIT_HASHLEN) {
		audit_head_seq = db_column_int64(st, 0);
		memcpy(audit_head_hash, db_column_blob(st, 1), AUDIT_HASHLEN);
		head_present = 1;
	}
	db_reset(st);
	audit_done_seq = audit_anchored_seq = audit_head_seq;
	memcpy(audit_done_hash, audit_head_hash, AUDIT_HASHLEN);
	if (audit_catch_up() == -1)
		return -1;
	return audit_check_protection(head_present);
}

static char *
audit_dup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void
audit_row_free(struct audit_row *r)
{
	for (int i = 0; i < AUDIT_FIELDS; i++) {
		free(r->f[i]);
		r->f[i] = NULL;
	}
}

/* Room for more records in this turn's batch. */
static int
audit_grow(void)
{
	struct audit_row	*p;
	int			 cap = audit_capbatch ? audit_capbatch * 2 : 64;

	if (cap > AUDIT_BATCH_MAX)
		cap = AUDIT_BATCH_MAX;
	if ((p = realloc(audit_batch, cap * sizeof(*p))) == NULL)
		return -1;
	audit_batch = p;
	audit_capbatch = cap;
	return 0;
}

/* Chain a record onto the in-memory head; the writer makes it durable after this turn. */
int
audit_append(const struct audit_rec *rec)
{
	struct audit_row	*r;
	const char		*src[AUDIT_FIELDS] = { rec->actor, rec->event, rec->app,
				    rec->connection, rec->scopes, rec->outcome, rec->detail,
				    rec->token_fp };
	int			 i;

	/* a record without an event or outcome would fail the whole batch at commit */
	if (rec->event == NULL || rec->outcome == NULL)
		return -1;
	if (audit_nbatch == AUDIT_BATCH_MAX && audit_submit() == -1)
		return -1;
	if (audit_nbatch == audit_capbatch && audit_grow() == -1)
		return -1;
	r = &audit_batch[audit_nbatch];
	r->seq = audit_head_seq + 1;
	r->ts = store_now_ms();
	r->issued_app = 0;
	for (i = 0; i < AUDIT_FIELDS; i++) {
		if ((r->f[i] = audit_dup(src[i])) == NULL && src[i] != NULL) {
			audit_row_free(r);
			return -1;
		}
	}
	memcpy(r->prev, audit_head_hash, AUDIT_HASHLEN);
	if (audit_hash(r->seq, r->ts, r->f, r->prev, r->hash) == -1) {
		audit_row_free(r);
		return -1;
	}
	audit_head_seq = r->seq;
	memcpy(audit_head_hash, r->hash, AUDIT_HASHLEN);
	audit_nbatch++;
	return 0;
}

/*
 * The record just appended handed its token to app_id for expires_in seconds: its commit
 * writes that too (token_issued), so the reply held on it leaves only once both are durable.
 */
void
audit_issued(int64_t app_id, long expires_in)
{
	if (audit_nbatch == 0)
		return;
	audit_batch[audit_nbatch - 1].issued_app = app_id;
	audit_batch[audit_nbatch - 1].issued_s = expires_in;
}

int
audit_pending(void)
{
	return audit_nbatch;
}

/* The newest record appended, durable or not: what a reply held now depends on. */
int64_t
audit_head(void)
{
	return audit_head_seq;
}

/* The newest durable record. */
int64_t
audit_durable_seq(void)
{
	return audit_done_seq;
}

/* Free records that were handed over or dropped. */
void
audit_rows_free(struct audit_row *rows, int n)
{
	for (int i = 0; i < n; i++)
		audit_row_free(&rows[i]);
	free(rows);
}

/*
 * Move the MAC'd head to the newest committed record, if this node committed since it last
 * did (on PostgreSQL: to the cluster's newest, whichever node wrote it).
 */
void
audit_anchor(void)
{
	int ok;

	if (audit_done_seq == audit_anchored_seq)
		return;
	writer_lock();	/* its own transaction, never inside one of the writer's */
	ok = db_dialect() == DB_SQLITE ? audit_sink_head(audit_done_seq, audit_done_hash) == 0 :
	    audit_sink_anchor() == 0;
	writer_unlock();
	if (ok)
		audit_anchored_seq = audit_done_seq;
}

/* Forget this turn's records (not handed over) and go back to the durable head. */
static void
audit_forget(void)
{
	for (int i = 0; i < audit_nbatch; i++)
		audit_row_free(&audit_batch[i]);
	audit_nbatch = 0;
	audit_head_seq = audit_done_seq;
	memcpy(audit_head_hash, audit_done_hash, AUDIT_HASHLEN);
}

/* The writer made the chain durable up to seq. */
void
audit_durable(int64_t seq, const uint8_t hash[AUDIT_HASHLEN])
{
	audit_done_seq = seq;
	memcpy(audit_done_hash, hash, AUDIT_HASHLEN);
}

/*
 * A commit failed: every record not durable yet is lost (later ones chain onto it), and every
 * reply held on one of them is refused.
 */
void
audit_lost_all(void)
{
	fg_log_warn("audit: records %lld..%lld could not be written; what depended on them is "
	    "refused", (long long)audit_done_seq + 1, (long long)audit_head_seq);
	audit_forget();
	hold_lost(audit_done_seq);
	bearer_lost(audit_done_seq);
}

/* Hand this turn's records to the writer; -1 (and they are lost) when it cannot take them. */
int
audit_submit(void)
{
	struct audit_row	*rows = audit_batch;
	int			 n = audit_nbatch;

	if (n == 0)
		return 0;
	audit_batch = NULL;
	audit_nbatch = audit_capbatch = 0;
	if (writer_submit(rows, n, audit_head_seq, audit_head_hash) == 0)
		return 0;
	audit_lost_all();
	return -1;
}

/*
 * Run change(arg) and append rec in one transaction of the loop's own: both happen or
 * neither.  Everything before is made durable first so the chain stays in order.
 */
int
audit_tx(int (*change)(void *), void *arg, const struct audit_rec *rec)
{
	struct audit_sink	s;
	int			ok;

	if (audit_flush() == -1)
		return -1;
	writer_lock();
	ok = store_begin() == 0 && (change == NULL || change(arg) == 0) &&
	    audit_append(rec) == 0 && audit_sink_open(&s, 0) == 0 &&
	    audit_sink_begin(&s) == 0 && audit_sink_insert(&s, audit_batch, audit_nbatch) == 0 &&
	    store_commit() == 0;
	if (!ok)
		store_rollback();
	writer_unlock();
	if (!ok) {
		/* only this change's own record was pending: nothing held depended on it */
		audit_forget();
		return -1;
	}
	audit_durable(audit_head_seq, audit_head_hash);
	audit_forget();
	return 0;
}

/* Make every record appended so far durable now (waiting for the writer); -1 on failure. */
int
audit_flush(void)
{
	int64_t want = audit_head_seq;

	if (audit_submit() == -1 || writer_drain() == -1)
		return -1;
	return audit_done_seq >= want ? 0 : -1;
}

/* Free this turn's buffer at exit (after the writer has written what was handed over). */
void
audit_shutdown(void)
{
	audit_forget();
	free(audit_batch);
	audit_batch = NULL;
	audit_capbatch = 0;
}

static const char SQL_HEAD_FULL[] = "SELECT seq, hash, mac FROM audit_head WHERE id = 1";

/* Recompute one row's hash from its columns; 0 when it matches and chains onto prev. */
int
audit_check_row(struct db_stmt *st, int64_t seq, const uint8_t prev[AUDIT_HASHLEN],
    uint8_t hash[AUDIT_HASHLEN], char *why, size_t whylen)
{
	char	*f[AUDIT_FIELDS];
	uint8_t	 calc[AUDIT_HASHLEN];
	int	 i, rc;

	if (db_column_bytes(st, 10) != AUDIT_HASHLEN ||
	    db_column_bytes(st, 11) != AUDIT_HASHLEN ||
	    sodium_memcmp(db_column_blob(st, 10), prev, AUDIT_HASHLEN) != 0) {
		snprintf(why, whylen, "previous-hash link broken");
		return -1;
	}
	for (i = 0; i < AUDIT_FIELDS; i++)
		f[i] = (char *)db_column_text(st, 2 + i);
	rc = audit_hash(seq, db_column_int64(st, 1), f, prev, calc);
	if (rc == -1 || sodium_memcmp(calc, db_column_blob(st, 11), AUDIT_HASHLEN) != 0) {
		snprintf(why, whylen, "record contents do not match its hash");
		return -1;
	}
	memcpy(hash, calc, AUDIT_HASHLEN);
	return 0;
}

/*
 * Read the anchored head: 0 with its seq and hash, or with *seq = -1 when there is no head
 * row at all; -1 when its MAC is wrong.
 */
int
audit_read_head(int64_t *seq, uint8_t hash[AUDIT_HASHLEN])
{
	struct db_stmt	*st = store_prepare(SQL_HEAD_FULL);
	uint8_t		 mac[AUDIT_HASHLEN];
	int		 rc = 0;

	*seq = -1;
	if (st == NULL)
		return -1;
	if (db_step(st) == DB_ROW) {
		if (db_column_bytes(st, 1) != AUDIT_HASHLEN ||
		    db_column_bytes(st, 2) != AUDIT_HASHLEN)
			rc = -1;
		else {
			*seq = db_column_int64(st, 0);
			memcpy(hash, db_column_blob(st, 1), AUDIT_HASHLEN);
			audit_point_mac("head:", *seq, hash, mac);
			rc = sodium_memcmp(db_column_blob(st, 2), mac, AUDIT_HASHLEN) == 0 ? 0 : -1;
		}
	}
	db_reset(st);
	return rc;
}
