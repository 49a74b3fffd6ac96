/*
 * Retention of the audit log: an operator moves the oldest records into an archive and prunes
 * them from the table, and the chain stays verifiable end to end.  The archive is an SQLite file
 * (readable with sqlite3, like a backup) holding the records as they were, hashes included, and
 * its anchors: the hash the segment chains onto and a MAC over its last record.  The table then
 * starts at a MAC'd base (audit_base) that verification walks from.  Every record is checked as
 * it is copied; copying, pruning and checking an archive later (audit.verify_archive) all run
 * in steps per loop turn, one job at a time.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"

#define ARCHIVE_ROWS	250	/* records copied, pruned or checked per share of a turn */

enum archive_phase { ARCHIVE_IDLE, ARCHIVE_COPY, ARCHIVE_PRUNE, ARCHIVE_CHECK };

static struct {
	enum archive_phase	 phase;
	struct fg_reqctx	 ctx;
	char			 actor[96];
	char			 path[1025];
	int64_t			 from, to, done;	/* the segment, and how far the phase got */
	uint8_t			 prev[AUDIT_HASHLEN];	/* the hash the next record chains onto */
	uint8_t			 end[AUDIT_HASHLEN];	/* a checked archive's last hash */
} archive_job;
static int archive_rows = ARCHIVE_ROWS;	/* this turn's rows */

static const char SQL_BASE[] = "SELECT seq, hash, mac FROM audit_base WHERE id = 1";
static const char SQL_SET_BASE[] =
    "INSERT INTO audit_base (id, seq, hash, mac) VALUES (1, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac";
static const char SQL_COPY[] =
    "INSERT INTO arch.audit SELECT * FROM main.audit WHERE seq > ?1 AND seq <= ?2 ORDER BY seq "
    "LIMIT ?3";
static const char SQL_PRUNE[] = "DELETE FROM main.audit WHERE seq > ?1 AND seq <= ?2";
static const char SQL_ARCH_ROWS[] =
    "SELECT seq, ts, actor, event, app, connection, scopes, outcome, detail, token_fp, "
    "prev_hash, hash FROM arch.audit WHERE seq > ?1 ORDER BY seq LIMIT ?2";
static const char SQL_SET_ANCHOR[] = "INSERT INTO arch.anchor VALUES (?, ?, ?, ?, ?)";
static const char SQL_ANCHOR[] =
    "SELECT from_seq, prev_hash, to_seq, end_hash, mac FROM arch.anchor";
static const char SQL_NEW_ARCHIVE[] =
    "CREATE TABLE arch.audit AS SELECT * FROM main.audit WHERE 0;"
    "CREATE TABLE arch.anchor (from_seq INTEGER, prev_hash BLOB, to_seq INTEGER, "
    "end_hash BLOB, mac BLOB);";

/* The table's base: 0 and seq 0 when nothing was pruned, 1 with its seq and hash, -1 forged. */
int
archive_base(int64_t *seq, uint8_t hash[AUDIT_HASHLEN])
{
	struct db_stmt	*st = store_prepare(SQL_BASE);
	uint8_t		 mac[AUDIT_HASHLEN];
	int		 rc = 0;

	*seq = 0;
	memset(hash, 0, AUDIT_HASHLEN);
	if (st == NULL)
		return -1;
	if (db_step(st) == DB_ROW) {
		rc = -1;
		if (db_column_bytes(st, 1) == AUDIT_HASHLEN &&
		    db_column_bytes(st, 2) == AUDIT_HASHLEN) {
			audit_point_mac("base:", db_column_int64(st, 0),
			    db_column_blob(st, 1), mac);
			if (sodium_memcmp(mac, db_column_blob(st, 2), AUDIT_HASHLEN) == 0) {
				*seq = db_column_int64(st, 0);
				memcpy(hash, db_column_blob(st, 1), AUDIT_HASHLEN);
				rc = 1;
			}
		}
	}
	db_reset(st);
	return rc;
}

/* Step st to its end in a transaction of its own (never inside the writer's); 0 when done. */
static int
archive_step_alone(struct db_stmt *st)
{
	int r;

	writer_lock();
	r = db_step(st);
	db_reset(st);
	writer_unlock();
	return r == DB_DONE ? 0 : -1;
}

/* Run sql the same way. */
static int
archive_exec(const char *sql)
{
	int r;

	writer_lock();
	r = db_exec(sql);
	writer_unlock();
	return r == DB_OK ? 0 : -1;
}

/* Check a turn's share of the archive's records from done on; -1 and why on a bad one. */
static int
archive_walk(char *why, size_t whylen)
{
	struct db_stmt	*st = store_prepare(SQL_ARCH_ROWS);
	uint8_t		 hash[AUDIT_HASHLEN];
	int		 r, n = 0;

	if (st == NULL) {
		snprintf(why, whylen, "the archive cannot be read");
		return -1;
	}
	db_bind_int64(st, 1, archive_job.done);
	db_bind_int(st, 2, archive_rows);
	while ((r = db_step(st)) == DB_ROW) {
		if (db_column_int64(st, 0) != archive_job.done + 1) {
			snprintf(why, whylen, "record %lld is missing", (long long)archive_job.done + 1);
			break;
		}
		if (audit_check_row(st, archive_job.done + 1, archive_job.prev, hash, why,
		    whylen) == -1)
			break;
		memcpy(archive_job.prev, hash, AUDIT_HASHLEN);
		archive_job.done++;
		n++;
	}
	db_reset(st);
	return r == DB_ROW ? -1 : n;
}

/* End the job: detach the file, record how an archiving went, answer. */
static void
archive_finish(const char *why)
{
	char			 detail[1200];
	struct audit_rec	 rec = { archive_job.actor, "audit.archive", NULL, NULL, NULL,
				    why ? "failed" : "ok", detail, NULL };

	archive_exec("DETACH DATABASE arch");
	if (why != NULL && archive_job.phase == ARCHIVE_COPY)
		unlink(archive_job.path);
	if (archive_job.phase != ARCHIVE_CHECK) {
		snprintf(detail, sizeof(detail), "records %lld..%lld to %.1024s%s%s",
		    (long long)archive_job.from, (long long)archive_job.to, archive_job.path,
		    why ? ": " : "", why ? why : "");
		audit_append(&rec);
	}
	if (why != NULL)
		server_reply_error(&archive_job.ctx, "failed", "%s", why);
	else
		server_reply(&archive_job.ctx, json_pack("{sbsIsIss}", "ok", 1, "from",
		    (json_int_t)archive_job.from, "to", (json_int_t)archive_job.to, "path",
		    archive_job.path));
	archive_job.phase = ARCHIVE_IDLE;
}

/* The copy is complete and checked: anchor the archive, then move the table's base past it. */
static const char *
archive_anchor(const uint8_t chain_in[AUDIT_HASHLEN])
{
	struct db_stmt	*st = NULL;
	uint8_t		 mac[AUDIT_HASHLEN];
	int		 r = DB_ERROR;

	audit_point_mac("arch:", archive_job.to, archive_job.prev, mac);
	writer_lock();
	if (db_prepare(SQL_SET_ANCHOR, &st) == DB_OK) {
		db_bind_int64(st, 1, archive_job.from);
		db_bind_blob(st, 2, chain_in, AUDIT_HASHLEN, DB_STATIC);
		db_bind_int64(st, 3, archive_job.to);
		db_bind_blob(st, 4, archive_job.prev, AUDIT_HASHLEN, DB_STATIC);
		db_bind_blob(st, 5, mac, AUDIT_HASHLEN, DB_STATIC);
		r = db_step(st);
	}
	db_finalize(st);
	writer_unlock();
	if (r != DB_DONE || (st = store_prepare(SQL_SET_BASE)) == NULL)
		return "cannot anchor the archive";
	audit_point_mac("base:", archive_job.to, archive_job.prev, mac);
	db_bind_int64(st, 1, archive_job.to);
	db_bind_blob(st, 2, archive_job.prev, AUDIT_HASHLEN, DB_STATIC);
	db_bind_blob(st, 3, mac, AUDIT_HASHLEN, DB_STATIC);
	return archive_step_alone(st) == 0 ? NULL : "cannot move the audit table's base";
}

/* One turn of copying: the next records into the archive, each checked once there. */
static const char *
archive_copy_step(const uint8_t chain_in[AUDIT_HASHLEN])
{
	static char	 why[200];
	struct db_stmt	*cp = store_prepare(SQL_COPY);

	if (cp == NULL)
		return "cannot read the audit table";
	db_bind_int64(cp, 1, archive_job.done);
	db_bind_int64(cp, 2, archive_job.to);
	db_bind_int(cp, 3, archive_rows);
	if (archive_step_alone(cp) == -1)
		return "cannot write the archive";
	if (archive_walk(why, sizeof(why)) == -1)
		return why;	/* a tampered segment is never archived, nor pruned */
	if (archive_job.done < archive_job.to)
		return NULL;
	archive_job.phase = ARCHIVE_PRUNE;
	archive_job.done = archive_job.from - 1;
	return archive_anchor(chain_in);
}

/* A turn's shares of the job (one while requests come in, eight when idle), if one runs. */
void
archive_step(int shares)
{
	static uint8_t	 chain_in[AUDIT_HASHLEN];
	char		 why[200] = "";
	struct db_stmt	*st;
	int64_t		 upto;
	const char	*err = NULL;
	int		 n;

	archive_rows = shares * ARCHIVE_ROWS;
	switch (archive_job.phase) {
	case ARCHIVE_IDLE:
		return;
	case ARCHIVE_COPY:
		if (archive_job.done == archive_job.from - 1)
			memcpy(chain_in, archive_job.prev, AUDIT_HASHLEN);
		if ((err = archive_copy_step(chain_in)) != NULL)
			break;
		return;
	case ARCHIVE_PRUNE:
		upto = archive_job.done + archive_rows < archive_job.to ?
		    archive_job.done + archive_rows : archive_job.to;
		if ((st = store_prepare(SQL_PRUNE)) == NULL)
			err = "cannot prune the audit table";
		else {
			db_bind_int64(st, 1, archive_job.done);
			db_bind_int64(st, 2, upto);
			if (archive_step_alone(st) == -1)
				err = "cannot prune the audit table";
		}
		archive_job.done = upto;
		if (err == NULL && upto < archive_job.to)
			return;
		break;
	case ARCHIVE_CHECK:
		if ((n = archive_walk(why, sizeof(why))) == -1)
			err = why;
		else if (n == archive_rows)
			return;
		else if (archive_job.done != archive_job.to ||
		    sodium_memcmp(archive_job.prev, archive_job.end, AUDIT_HASHLEN) != 0)
			err = "the archive does not reach its anchored end: records are missing";
		break;
	}
	if (err != NULL)
		fg_log_warn("audit archive %s: %s", archive_job.path, err);
	archive_finish(err);
}

/* True while a job runs: the loop must not sleep. */
int
archive_busy(void)
{
	return archive_job.phase != ARCHIVE_IDLE;
}

/*
 * Attach path as "arch"; a new file is made here first (the database is opened without
 * SQLITE_OPEN_CREATE, which ATTACH inherits), never over an existing one, then its tables.
 */
/* ATTACH takes its file name as an expression: bound, so no quoting to get wrong. */
static int
archive_attach_file(const char *path)
{
	struct db_stmt	*st = NULL;
	int		 r = DB_ERROR;

	writer_lock();
	if (db_prepare("ATTACH DATABASE ?1 AS arch", &st) == DB_OK) {
		db_bind_text(st, 1, path, -1, DB_STATIC);
		r = db_step(st);
	}
	db_finalize(st);
	writer_unlock();
	return r == DB_DONE ? 0 : -1;
}

static int
archive_attach(const char *path, int create)
{
	int	 fd, r;

	if (create) {
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0600)) == -1)
			return -1;
		close(fd);
	}
	r = archive_attach_file(path);
	if (create && (r == -1 || archive_exec(SQL_NEW_ARCHIVE) == -1)) {
		archive_exec("DETACH DATABASE arch");
		unlink(path);
		return -1;
	}
	return r;
}

/* "audit.archive": before, path — records up to before into a new archive file, then pruned. */
static void
archive_verb(const struct fg_reqctx *ctx, json_t *req)
{
	const char	*path = json_string_value(json_object_get(req, "path"));
	int64_t		 before = json_integer_value(json_object_get(req, "before")), base;

	if (db_dialect() != DB_SQLITE) {
		server_reply_error(ctx, "failed", "audit archives are SQLite files made with "
		    "ATTACH: not yet available on the postgresql backend");
		return;
	}
	if (archive_job.phase != ARCHIVE_IDLE) {
		server_reply_error(ctx, "temporarily_unavailable", "an archive job is running");
		return;
	}
	if (path[0] != '/' || access(path, F_OK) == 0) {
		server_reply_error(ctx, "bad_request", "the archive path must be absolute and new");
		return;
	}
	if (audit_flush() == -1 || archive_base(&base, archive_job.prev) == -1) {
		server_reply_error(ctx, "failed", "the audit table's base does not verify");
		return;
	}
	if (before <= base || before > audit_last_seq()) {
		server_reply_error(ctx, "bad_request", "before must be a record after %lld and at "
		    "most %lld", (long long)base, (long long)audit_last_seq());
		return;
	}
	if (archive_attach(path, 1) == -1) {
		server_reply_error(ctx, "failed", "cannot create the archive %s", path);
		return;
	}
	archive_job.phase = ARCHIVE_COPY;
	archive_job.ctx = *ctx;
	server_actor(ctx, archive_job.actor, sizeof(archive_job.actor));
	snprintf(archive_job.path, sizeof(archive_job.path), "%s", path);
	archive_job.from = base + 1;
	archive_job.to = before;
	archive_job.done = base;
}

static const struct verb_field archive_fields[] = {
	{ "before", VERB_INT, 1, 0 }, { "path", VERB_STR, 1, 1024 }, VERB_FIELDS_END
};
const struct verb_entry audit_archive_entry = {
	.name = "audit.archive",
	.peers = PEER_ADMIN,
	.fn = archive_verb,
	.fields = archive_fields
};

/* Read an archive's anchors into the job; NULL when they are there and their MAC holds. */
static const char *
archive_read_anchor(void)
{
	struct db_stmt	*st = store_prepare(SQL_ANCHOR);
	uint8_t		 mac[AUDIT_HASHLEN];
	const char	*why = "the archive has no anchors";

	if (st != NULL && db_step(st) == DB_ROW &&
	    db_column_bytes(st, 1) == AUDIT_HASHLEN &&
	    db_column_bytes(st, 3) == AUDIT_HASHLEN &&
	    db_column_bytes(st, 4) == AUDIT_HASHLEN) {
		archive_job.from = db_column_int64(st, 0);
		archive_job.to = db_column_int64(st, 2);
		memcpy(archive_job.prev, db_column_blob(st, 1), AUDIT_HASHLEN);
		memcpy(archive_job.end, db_column_blob(st, 3), AUDIT_HASHLEN);
		audit_point_mac("arch:", archive_job.to, archive_job.end, mac);
		why = sodium_memcmp(mac, db_column_blob(st, 4), AUDIT_HASHLEN) == 0 ? NULL :
		    "the archive's anchor MAC is wrong (forged, or another key)";
	}
	if (st != NULL)
		db_reset(st);
	return why;
}

/* "audit.verify_archive": path — check an archive's chain against its anchors. */
static void
archive_verify_verb(const struct fg_reqctx *ctx, json_t *req)
{
	const char *path = json_string_value(json_object_get(req, "path")), *why;

	if (archive_job.phase != ARCHIVE_IDLE) {
		server_reply_error(ctx, "temporarily_unavailable", "an archive job is running");
		return;
	}
	if (access(path, R_OK) != 0 || archive_attach(path, 0) == -1) {
		server_reply_error(ctx, "failed", "cannot open the archive %s", path);
		return;
	}
	archive_job.phase = ARCHIVE_CHECK;
	archive_job.ctx = *ctx;
	snprintf(archive_job.path, sizeof(archive_job.path), "%s", path);
	if ((why = archive_read_anchor()) != NULL) {
		archive_finish(why);
		return;
	}
	archive_job.done = archive_job.from - 1;
}

static const struct verb_field archive_verify_fields[] = {
	{ "path", VERB_STR, 1, 1024 }, VERB_FIELDS_END
};
const struct verb_entry audit_verify_archive_entry = {
	.name = "audit.verify_archive",
	.peers = PEER_ADMIN,
	.fn = archive_verify_verb,
	.fields = archive_verify_fields
};
