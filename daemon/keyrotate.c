/*
 * key.rotate: re-seal every sealed value under a new master key, online, in one transaction.
 * flowgatectl writes the new key to <key_file>.next (fsynced) first; the daemon reads it,
 * re-seals every connection secret and every user session's refresh token for its own row
 * (the same associated data, so each stays bound to its row), records the new key's id (with
 * the hash keys sealed under it) and appends the key.rotate audit record, in one commit.
 * Before that commit the database names the old key (key_file), after it the new one
 * (key_file.next until flowgatectl renames it): a start after a crash at any point finds the
 * key it needs (keyring.c).  It runs on the loop in one step; the reply says how long it held
 * the loop (25 to 90 ms for 1,001 connection secrets on a busy 2-core machine).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

struct keyrotate_val {
	int64_t	 row, version;
	uint8_t	*sealed;
	size_t	 len;
};

struct keyrotate_job {
	char	new_id[SEAL_KEYID_LEN];
	int	secrets, refresh;
	char	why[1280];
};

static const char SQL_SECRETS[] = "SELECT connection_id, version, sealed FROM connection_secrets";
static const char SQL_SET_SECRET[] = "UPDATE connection_secrets SET sealed = ?1 "
    "WHERE connection_id = ?2 AND version = ?3";
/* the tokens a cluster's nodes share are a cache: dropped, not re-sealed (asked for again) */
static const char SQL_DROP_SHARED[] = "UPDATE token_lease SET sealed = NULL";
static const char SQL_REFRESHES[] = "SELECT id, refresh_gen, refresh FROM user_sessions";
static const char SQL_SET_REFRESH[] = "UPDATE user_sessions SET refresh = ?1 "
    "WHERE id = ?2 AND refresh_gen = ?3";

/* Each step of a rotation, named: a debug line, and where the crash test stops the daemon. */
__attribute__((noinline)) void
keyrotate_step(enum keyrotate_point p)
{
	static const char *const name[] = { "the new key is read",
	    "the connection secrets are re-sealed", "everything is re-sealed and the new key recorded",
	    "committed" };

	fg_log_debug("key rotation: %s", name[p]);
}

/* Re-seal one stored value under the staged key and write it back to its row. */
static int
keyrotate_one(const char *upd, enum seal_what what, const struct keyrotate_val *v, char *why,
    size_t whylen)
{
	struct db_stmt	*st;
	uint8_t		*out;
	size_t		 outlen;
	int		 ok;

	if (seal_reseal(what, v->row, v->version, v->sealed, v->len, &out, &outlen) == -1) {
		snprintf(why, whylen, "%s %lld (version %lld) does not open under the key in use",
		    what == SEAL_CONNECTION_SECRET ? "the secret of connection" :
		    "the refresh token of user session", (long long)v->row, (long long)v->version);
		return -1;
	}
	if ((st = store_prepare(upd)) == NULL) {
		free(out);
		return -1;
	}
	db_bind_blob(st, 1, out, (int)outlen, DB_STATIC);
	db_bind_int64(st, 2, v->row);
	db_bind_int64(st, 3, v->version);
	ok = db_step(st) == DB_DONE && db_changes() == 1;
	db_reset(st);
	free(out);
	return ok ? 0 : -1;
}

/* Read every (row, version, sealed) sel selects; the rows are read before any is rewritten. */
static int
keyrotate_read(const char *sel, struct keyrotate_val **out, size_t *n)
{
	struct db_stmt		*st = store_prepare(sel);
	struct keyrotate_val	*v = NULL, *nv;
	size_t			 cap = 0;
	int			 r = DB_DONE;

	*n = 0;
	while (st != NULL && (r = db_step(st)) == DB_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL)
				break;
			v = nv;
		}
		v[*n].row = db_column_int64(st, 0);
		v[*n].version = db_column_int64(st, 1);
		v[*n].len = (size_t)db_column_bytes(st, 2);
		if ((v[*n].sealed = malloc(v[*n].len + 1)) == NULL)
			break;
		memcpy(v[*n].sealed, db_column_blob(st, 2), v[*n].len);
		(*n)++;
	}
	if (st != NULL)
		db_reset(st);
	*out = v;
	return st != NULL && r == DB_DONE ? 0 : -1;
}

/* Re-seal every value of one table's sealed column; *count is how many. */
static int
keyrotate_table(const char *sel, const char *upd, enum seal_what what, int *count, char *why,
    size_t whylen)
{
	struct keyrotate_val	*v;
	size_t			 n, i;
	int			 ok;

	ok = keyrotate_read(sel, &v, &n) == 0;
	for (i = 0; ok && i < n; i++)
		ok = keyrotate_one(upd, what, &v[i], why, whylen) == 0;
	for (i = 0; i < n; i++)
		free(v[i].sealed);
	free(v);
	*count = (int)n;
	return ok ? 0 : -1;
}

/* Inside audit_tx's transaction: every sealed value, then the row naming the new key. */
static int
keyrotate_change(void *arg)
{
	struct keyrotate_job	*j = arg;
	uint8_t			*hk;
	size_t			 hklen;
	int			 r;

	if (keyrotate_table(SQL_SECRETS, SQL_SET_SECRET, SEAL_CONNECTION_SECRET, &j->secrets,
	    j->why, sizeof(j->why)) == -1)
		return -1;
	keyrotate_step(KEYROTATE_SECRETS);
	if (keyrotate_table(SQL_REFRESHES, SQL_SET_REFRESH, SEAL_USER_REFRESH, &j->refresh,
	    j->why, sizeof(j->why)) == -1 || db_exec(SQL_DROP_SHARED) != DB_OK ||
	    seal_hash_keys_seal(&hk, &hklen) == -1)
		return -1;
	r = keyring_record(j->new_id, hk, hklen);
	free(hk);
	if (r == 0)	/* the other nodes follow once this commits (keyring_follow) */
		r = cluster_notify_send("key", 0);
	if (r == 0)
		keyrotate_step(KEYROTATE_RECORDED);
	return r;
}

/* Read and stage the new key from <key_file>.next; -1 with the refusal in why. */
static int
keyrotate_stage(struct keyrotate_job *j)
{
	char	 path[1100], err[512];
	uint8_t	*key;
	int	 r;

	keyring_path(keyring_base_path(), KEYRING_NEXT, path, sizeof(path));
	if ((r = seal_key_read(path, 1, &key, err, sizeof(err))) != 0) {
		snprintf(j->why, sizeof(j->why), "%s", r == 1 ? "no new key: flowgatectl key "
		    "rotate writes it to key_file.next first" : err);
		return -1;
	}
	seal_key_id(key, j->new_id);
	r = -1;
	if (strcmp(j->new_id, keyring_current()) == 0)
		snprintf(j->why, sizeof(j->why), "%s is already the key in use", path);
	else if ((r = seal_stage(key)) == -1)
		snprintf(j->why, sizeof(j->why), "out of guarded memory");
	sodium_free(key);
	return r;
}

/* "key.rotate": re-seal everything under <key_file>.next; the reply names the new key. */
static void
keyrotate_verb(const struct fg_reqctx *ctx, json_t *req)
{
	struct keyrotate_job	 j = { .why = "the database could not be written" };
	char			 actor[96], old_id[SEAL_KEYID_LEN], detail[96];
	struct audit_rec	 rec = { actor, "key.rotate", NULL, NULL, NULL, "ok", detail, NULL };
	long long		 t0, held_us;

	(void)req;
	server_actor(ctx, actor, sizeof(actor));
	snprintf(old_id, sizeof(old_id), "%s", keyring_current());
	if (keyrotate_stage(&j) == -1) {
		server_reply_error(ctx, "failed", "%s", j.why);
		return;
	}
	keyrotate_step(KEYROTATE_READ);
	snprintf(detail, sizeof(detail), "%s -> %s", old_id, j.new_id);
	t0 = monotime_ns();
	if (audit_tx(keyrotate_change, &j, &rec) == -1) {
		seal_unstage();
		rec.outcome = "failed";
		audit_append(&rec);
		fg_log_warn("key rotation to %s failed: %s", j.new_id, j.why);
		server_reply_error(ctx, "failed", "%s; nothing changed, the key in use is still %s",
		    j.why, old_id);
		return;
	}
	held_us = (monotime_ns() - t0) / 1000;
	keyrotate_step(KEYROTATE_COMMITTED);
	seal_switch();
	keyring_switched(j.new_id);
	fg_log_info("master key rotated %s: %d connection secrets and %d refresh tokens re-sealed "
	    "in one transaction that held the loop %lld.%03lld ms", detail, j.secrets, j.refresh,
	    held_us / 1000, held_us % 1000);
	server_reply(ctx, json_pack("{sbsssssisisf}", "ok", 1, "key_id", j.new_id, "old_key_id",
	    old_id, "connection_secrets", j.secrets, "user_sessions", j.refresh, "held_ms",
	    (double)held_us / 1000.0));
}

static const struct verb_field keyrotate_fields[] = {
	VERB_FIELDS_END
};
const struct verb_entry key_rotate_entry = {
	.name = "key.rotate",
	.peers = PEER_ADMIN,
	.fn = keyrotate_verb,
	.fields = keyrotate_fields
};
