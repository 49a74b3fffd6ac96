/*
 * Verifying the audit chain without stalling the loop.  A walk of a million records takes
 * seconds, so it runs as one job in steps of a few milliseconds per loop turn; everyone who
 * asks meanwhile waits on the same job.  A full walk starts at the first record; an incremental
 * one (the dashboard's) at the checkpoint, a verified prefix whose seq and hash are MAC'd.  The
 * walk fails on any broken link, a record that does not match its hash, a gap, the anchored head
 * or an operator's anchor not matching, a missing head while records exist, and any tampering
 * the daemon recorded at start (audit.tamper).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

#define VERIFY_SHARE_NS		250000	/* loop time one share of a turn may spend walking */
#define VERIFY_BATCH		64	/* records per query */
#define VERIFY_WAITERS_MAX	32
#define VERIFY_DASHBOARD_S	60	/* the dashboard's result is at most this old */

struct verify_waiter {
	struct fg_reqctx	 ctx;
	int64_t			 anchor_seq;	/* 0: none */
	uint8_t			 anchor_hash[AUDIT_HASHLEN];
};

static struct {
	int			 active, full;
	int64_t			 seq;		/* verified up to here */
	uint8_t			 prev[AUDIT_HASHLEN];
	int64_t			 target;	/* the committed head when the job started */
	int64_t			 head_seq;	/* the anchored head (MAC checked), 0: none */
	uint8_t			 head_hash[AUDIT_HASHLEN];
	int			 failed;
	int64_t			 bad_seq;	/* the first bad record, 0: none in particular */
	char			 why[256];
	struct verify_waiter	 waiters[VERIFY_WAITERS_MAX];
	int			 nwaiters;
} verify_job;

static struct {
	time_t	 at;
	int	 ok;
	int64_t	 records;
	char	 message[256];
} verify_last;

static const char SQL_ROWS[] =
    "SELECT seq, ts, actor, event, app, connection, scopes, outcome, detail, token_fp, "
    "prev_hash, hash FROM audit WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3";
static const char SQL_HASH_AT[] = "SELECT hash FROM audit WHERE seq = ?";
static const char SQL_CKPT[] = "SELECT seq, hash, mac FROM audit_checkpoint WHERE id = 1";
static const char SQL_SET_CKPT[] =
    "INSERT INTO audit_checkpoint (id, seq, hash, mac) VALUES (1, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac";

/* Fail the running job at seq with why (the first failure is the one reported). */
static void
verify_fail(int64_t seq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
verify_fail(int64_t seq, const char *fmt, ...)
{
	va_list ap;

	if (verify_job.failed)
		return;
	verify_job.failed = 1;
	verify_job.bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(verify_job.why, sizeof(verify_job.why), fmt, ap);
	va_end(ap);
}

/* The verified prefix to start an incremental walk from; 0 with seq 0 when there is none. */
static void
verify_checkpoint(int64_t *seq, uint8_t hash[AUDIT_HASHLEN])
{
	struct db_stmt	*st = store_prepare(SQL_CKPT);
	uint8_t		 mac[AUDIT_HASHLEN];

	*seq = 0;
	memset(hash, 0, AUDIT_HASHLEN);
	if (st == NULL)
		return;
	if (db_step(st) == DB_ROW && db_column_bytes(st, 1) == AUDIT_HASHLEN &&
	    db_column_bytes(st, 2) == AUDIT_HASHLEN) {
		audit_point_mac("ckpt:", db_column_int64(st, 0), db_column_blob(st, 1),
		    mac);
		if (sodium_memcmp(mac, db_column_blob(st, 2), AUDIT_HASHLEN) == 0) {
			*seq = db_column_int64(st, 0);
			memcpy(hash, db_column_blob(st, 1), AUDIT_HASHLEN);
		}
	}
	db_reset(st);
}

/* Remember a verified prefix, so the next incremental walk starts there. */
static void
verify_save_checkpoint(void)
{
	struct db_stmt	*st = store_prepare(SQL_SET_CKPT);
	uint8_t		 mac[AUDIT_HASHLEN];

	if (st == NULL || verify_job.seq == 0)
		return;
	audit_point_mac("ckpt:", verify_job.seq, verify_job.prev, mac);
	db_bind_int64(st, 1, verify_job.seq);
	db_bind_blob(st, 2, verify_job.prev, AUDIT_HASHLEN, DB_STATIC);
	db_bind_blob(st, 3, mac, AUDIT_HASHLEN, DB_STATIC);
	writer_lock();
	if (db_step(st) != DB_DONE)
		fg_log_warn("audit checkpoint not saved: %s", db_errmsg());
	db_reset(st);
	writer_unlock();
}

/* An incremental walk starts at the checkpoint, if it lies past the base. */
static void
verify_checkpoint_after_base(void)
{
	uint8_t	hash[AUDIT_HASHLEN];
	int64_t	seq;

	verify_checkpoint(&seq, hash);
	if (seq > verify_job.seq) {
		verify_job.seq = seq;
		memcpy(verify_job.prev, hash, AUDIT_HASHLEN);
	}
}

/* Start a walk: full from the first record (or the base), or from the checkpoint. */
static void
verify_start(int full)
{
	uint8_t target_hash[AUDIT_HASHLEN];

	memset(&verify_job, 0, sizeof(verify_job));
	verify_job.active = 1;
	verify_job.full = full;
	if (audit_flush() == -1)
		verify_fail(0, "the audit batch could not be committed before the walk");
	/* the head before the target: other nodes may move both meanwhile, never backwards */
	if (audit_read_head(&verify_job.head_seq, verify_job.head_hash) == -1)
		verify_fail(0, "the chain head's MAC is wrong (head forged)");
	if ((verify_job.target = audit_committed_head(target_hash)) < 0)
		verify_fail(0, "the chain's head cannot be read");
	else if (verify_job.head_seq < 0 && verify_job.target > 0)
		verify_fail(1, "the chain's head is missing while records exist: records may have "
		    "been cut off the end");
	/* the chain in the table starts at the base: what was archived and pruned before it */
	if (archive_base(&verify_job.seq, verify_job.prev) == -1)
		verify_fail(0, "the audit table's base MAC is wrong (base forged)");
	if (!full)
		verify_checkpoint_after_base();
}

/* Check one row against the chain so far; 0 to go on. */
static int
verify_row(struct db_stmt *st)
{
	uint8_t		 hash[AUDIT_HASHLEN];
	int64_t		 seq = db_column_int64(st, 0);
	const char	*event = (const char *)db_column_text(st, 3);
	char		 why[160] = "";

	if (seq != verify_job.seq + 1) {
		verify_fail(verify_job.seq + 1, "records %lld..%lld are missing (sequence gap)",
		    (long long)verify_job.seq + 1, (long long)seq - 1);
		return -1;
	}
	if (audit_check_row(st, seq, verify_job.prev, hash, why, sizeof(why)) == -1) {
		verify_fail(seq, "%s", why);
		return -1;
	}
	if (seq == verify_job.head_seq && sodium_memcmp(hash, verify_job.head_hash,
	    AUDIT_HASHLEN) != 0) {
		verify_fail(seq, "record differs from the anchored head");
		return -1;
	}
	if (event != NULL && strcmp(event, "audit.tamper") == 0)
		verify_fail(seq, "tampering was recorded: %.200s", db_column_text(st, 8));
	memcpy(verify_job.prev, hash, AUDIT_HASHLEN);
	verify_job.seq = seq;
	return verify_job.failed ? -1 : 0;
}

/* Walk one batch; 1 when more remain, 0 when the walk has ended. */
static int
verify_batch(void)
{
	struct db_stmt	*st = store_prepare(SQL_ROWS);
	int		 r, rows = 0;

	if (st == NULL) {
		verify_fail(verify_job.seq + 1, "cannot read the audit table");
		return 0;
	}
	db_bind_int64(st, 1, verify_job.seq);
	db_bind_int64(st, 2, verify_job.target);
	db_bind_int(st, 3, VERIFY_BATCH);
	while ((r = db_step(st)) == DB_ROW) {
		rows++;
		if (verify_row(st) == -1)
			break;
	}
	db_reset(st);
	if (verify_job.failed)
		return 0;
	if (r != DB_DONE && r != DB_ROW) {
		verify_fail(verify_job.seq + 1, "cannot read the audit table: %s",
		    db_errmsg());
		return 0;
	}
	return rows == VERIFY_BATCH;
}

/* An operator's anchor: the record at its seq must exist with its hash. */
static const char *
verify_anchor(const struct verify_waiter *w, char *buf, size_t buflen)
{
	struct db_stmt	*st;
	int		 ok = 0;

	if (w->anchor_seq == 0)
		return NULL;
	if (w->anchor_seq > verify_job.seq) {
		snprintf(buf, buflen, "records %lld..%lld are missing: the anchor names %lld",
		    (long long)verify_job.seq + 1, (long long)w->anchor_seq,
		    (long long)w->anchor_seq);
		return buf;
	}
	if ((st = store_prepare(SQL_HASH_AT)) != NULL) {
		db_bind_int64(st, 1, w->anchor_seq);
		ok = db_step(st) == DB_ROW && db_column_bytes(st, 0) == AUDIT_HASHLEN &&
		    sodium_memcmp(db_column_blob(st, 0), w->anchor_hash, AUDIT_HASHLEN) == 0;
		db_reset(st);
	}
	if (ok)
		return NULL;
	snprintf(buf, buflen, "record %lld differs from the anchor", (long long)w->anchor_seq);
	return buf;
}

/* The walk ended: judge the tail, remember the result, answer everyone who waited. */
static void
verify_finish(void)
{
	char		 buf[256];
	const char	*why;
	int		 i;

	if (!verify_job.failed && verify_job.seq < verify_job.target)
		verify_fail(verify_job.seq + 1, "records %lld..%lld are missing (sequence gap)",
		    (long long)verify_job.seq + 1, (long long)verify_job.target);
	if (!verify_job.failed && verify_job.head_seq > verify_job.seq)
		verify_fail(verify_job.seq + 1, "records %lld..%lld are missing: the chain was cut "
		    "off", (long long)verify_job.seq + 1, (long long)verify_job.head_seq);
	if (!verify_job.failed && lease_held())	/* one node of a cluster keeps it */
		verify_save_checkpoint();
	verify_last.at = time(NULL);
	verify_last.ok = !verify_job.failed;
	verify_last.records = verify_job.seq;
	snprintf(verify_last.message, sizeof(verify_last.message), "%s", verify_job.why);
	for (i = 0; i < verify_job.nwaiters; i++) {
		struct verify_waiter *w = &verify_job.waiters[i];

		why = verify_job.failed ? verify_job.why : verify_anchor(w, buf, sizeof(buf));
		if (why == NULL)
			server_reply(&w->ctx, json_pack("{sbsI}", "ok", 1, "records",
			    (json_int_t)verify_job.seq));
		else
			server_reply(&w->ctx, json_pack("{sbsssssIsI}", "ok", 0, "error",
			    "audit_broken", "message", why, "bad_seq", (json_int_t)(verify_job.failed ?
			    verify_job.bad_seq : w->anchor_seq), "records",
			    (json_int_t)verify_job.seq));
	}
	verify_job.active = 0;
}

/* A turn's shares of the walk (one while requests come in, eight when idle), if one runs. */
void
verify_step(int shares)
{
	int64_t deadline = monotime_ns() + shares * VERIFY_SHARE_NS;

	if (!verify_job.active)
		return;
	while (!verify_job.failed && verify_batch())
		if (monotime_ns() >= deadline)
			return;
	verify_finish();
}

/* True while a walk runs: the loop must not sleep. */
int
verify_busy(void)
{
	return verify_job.active;
}

/*
 * Ask for a verification: join the running walk (a full one serves an incremental request,
 * not the other way round), or start one.  -1 when too many are waiting already.
 */
int
verify_request(const struct fg_reqctx *ctx, int full, int64_t anchor_seq,
    const uint8_t anchor_hash[AUDIT_HASHLEN])
{
	struct verify_waiter *w;

	if (verify_job.active && full && !verify_job.full)
		return -1;	/* asked again when the incremental walk has ended */
	if (verify_job.nwaiters == VERIFY_WAITERS_MAX)
		return -1;
	if (!verify_job.active)
		verify_start(full);
	w = &verify_job.waiters[verify_job.nwaiters++];
	w->ctx = *ctx;
	w->anchor_seq = anchor_seq;
	if (anchor_seq != 0)
		memcpy(w->anchor_hash, anchor_hash, AUDIT_HASHLEN);
	return 0;
}

/* The latest walk's result for the dashboard; starts an incremental one when it is stale. */
json_t *
verify_summary(void)
{
	time_t now = time(NULL);

	if (!verify_job.active && (verify_last.at == 0 || now - verify_last.at >=
	    VERIFY_DASHBOARD_S))
		verify_start(0);
	return json_pack("{sbsIsssIsb}", "ok", verify_last.at == 0 || verify_last.ok, "records",
	    (json_int_t)verify_last.records, "message", verify_last.at == 0 ?
	    "being verified" : verify_last.message, "checked_at", (json_int_t)verify_last.at,
	    "running", verify_job.active);
}

/* "SEQ:HEX" (an anchor printed by audit.anchor) into seq and hash; -1 when malformed. */
static int
verify_parse_anchor(const char *s, int64_t *seq, uint8_t hash[AUDIT_HASHLEN])
{
	char	*end;
	size_t	 n;

	*seq = strtoll(s, &end, 10);
	if (*seq < 1 || *end != ':' || strlen(end + 1) != 2 * AUDIT_HASHLEN)
		return -1;
	return sodium_hex2bin(hash, AUDIT_HASHLEN, end + 1, 2 * AUDIT_HASHLEN, NULL, &n, NULL) ==
	    0 && n == AUDIT_HASHLEN ? 0 : -1;
}

/* "audit.verify": full? (default true), anchor? ("SEQ:HEX") — answered when the walk ends. */
static void
verify_verb(const struct fg_reqctx *ctx, json_t *req)
{
	json_t		*full = json_object_get(req, "full");
	const char	*anchor = json_string_value(json_object_get(req, "anchor"));
	int64_t		 seq = 0;
	uint8_t		 hash[AUDIT_HASHLEN];

	if (anchor != NULL && verify_parse_anchor(anchor, &seq, hash) == -1) {
		server_reply_error(ctx, "bad_request", "the anchor must be SEQ:HASH as audit anchor "
		    "prints it");
		return;
	}
	if (verify_request(ctx, full == NULL || json_is_true(full), seq, hash) == -1)
		server_reply_error(ctx, "temporarily_unavailable", "a verification is running; ask "
		    "again when it has ended");
}

static const struct verb_field verify_fields[] = {
	{ "full", VERB_BOOL, 0, 0 },
	{ "anchor", VERB_STR, 0, 128 },
	VERB_FIELDS_END
};
const struct verb_entry audit_verify_entry = {
	.name = "audit.verify",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ANY,
	.fn = verify_verb,
	.fields = verify_fields
};

/* "audit.anchor": the committed head as SEQ:HEX, for an operator to keep elsewhere. */
static void
verify_anchor_verb(const struct fg_reqctx *ctx, json_t *req)
{
	uint8_t		 hash[AUDIT_HASHLEN];
	char		 hex[2 * AUDIT_HASHLEN + 1], anchor[2 * AUDIT_HASHLEN + 32];
	int64_t		 seq;

	(void)req;
	if (audit_flush() == -1) {
		server_reply_error(ctx, "server_error", "the audit batch could not be committed");
		return;
	}
	seq = audit_committed_head(hash);
	sodium_bin2hex(hex, sizeof(hex), hash, AUDIT_HASHLEN);
	snprintf(anchor, sizeof(anchor), "%lld:%s", (long long)seq, hex);
	server_reply(ctx, json_pack("{sbsIss}", "ok", 1, "seq", (json_int_t)seq, "anchor",
	    anchor));
}

const struct verb_entry audit_anchor_entry = {
	.name = "audit.anchor",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ANY,
	.fn = verify_anchor_verb
};
