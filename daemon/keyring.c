/*
 * Which master key opens the database.  The database records the id of the key that sealed it
 * (the master_key row); at start the daemon takes, of key_file and the two names a rotation
 * uses beside it (<key_file>.next: the new key, <key_file>.old: the one it replaced), the one
 * whose id is recorded, so a crash at any step of a rotation leaves a key that opens
 * everything.  key_file may instead name a systemd credential: "credential:NAME", read from
 * $CREDENTIALS_DIRECTORY/NAME (and NAME.next, NAME.old).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"

#define KEYRING_PREFIX	"credential:"

static const char *const keyring_suffix[KEYRING_NAMES] = { "", ".next", ".old" };
static const char *const keyring_label[KEYRING_NAMES] = { "key_file", "next", "old" };
static char keyring_base[1024];			/* key_file, resolved */
static char keyring_id[SEAL_KEYID_LEN];		/* the key in use: what the database records */

static const char SQL_GET[] = "SELECT key_id, hash_keys FROM master_key WHERE id = 1";
static const char SQL_SET[] = "INSERT INTO master_key (id, key_id, hash_keys, recorded_at) "
    "VALUES (1, ?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id, "
    "hash_keys = excluded.hash_keys, recorded_at = excluded.recorded_at";
static const char SQL_SAMPLE_SECRET[] =
    "SELECT connection_id, version, sealed FROM connection_secrets LIMIT 1";
static const char SQL_SAMPLE_REFRESH[] =
    "SELECT id, refresh_gen, refresh FROM user_sessions LIMIT 1";

/* The credentials directory systemd made for us: a directory only we (or root) own and enter. */
static int
keyring_credentials_dir(const char **dir, char *err, size_t errlen)
{
	struct stat st;

	if ((*dir = getenv("CREDENTIALS_DIRECTORY")) == NULL || **dir != '/') {
		snprintf(err, errlen, "key_file names a systemd credential but $CREDENTIALS_DIRECTORY "
		    "is not set: start flowgated from its unit with LoadCredential= (or "
		    "LoadCredentialEncrypted=) naming it");
		return -1;
	}
	if (stat(*dir, &st) == -1) {
		snprintf(err, errlen, "credentials directory %s: %s", *dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "credentials directory %s: not a directory", *dir);
		return -1;
	}
	if ((st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & (S_IRWXG | S_IRWXO))) {
		snprintf(err, errlen, "credentials directory %s: owned by uid %u with mode %04o; it "
		    "must be the daemon's (or root's) and closed to group and others", *dir,
		    (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* key_file as a path: itself, or credential:NAME under the credentials directory. */
int
keyring_resolve(const char *key_file, char *out, size_t outlen, char *err, size_t errlen)
{
	const char	*name, *dir;
	size_t		 plen = strlen(KEYRING_PREFIX);

	if (strncmp(key_file, KEYRING_PREFIX, plen) != 0) {
		snprintf(out, outlen, "%s", key_file);
		return 0;
	}
	name = key_file + plen;
	if (*name == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || strlen(name) > 200) {
		snprintf(err, errlen, "key_file %s: a credential name is 1 to 200 characters "
		    "without '/'", key_file);
		return -1;
	}
	if (keyring_credentials_dir(&dir, err, errlen) == -1)
		return -1;
	snprintf(out, outlen, "%s/%s", dir, name);
	return 0;
}

/* True when key_file names a systemd credential (its files are systemd's, not ours to move). */
int
keyring_is_credential(const char *key_file)
{
	return strncmp(key_file, KEYRING_PREFIX, strlen(KEYRING_PREFIX)) == 0;
}

/* The path of one of key_file's names. */
void
keyring_path(const char *base, enum keyring_name which, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s%s", base, keyring_suffix[which]);
}

/* Record which key sealed the database (and the hash keys sealed under it), in the caller's txn. */
int
keyring_record(const char *id, const uint8_t *hash_keys, size_t len)
{
	struct db_stmt	*st = store_prepare(SQL_SET);
	int		 r;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, id, -1, DB_STATIC);
	if (hash_keys != NULL)
		db_bind_blob(st, 2, hash_keys, (int)len, DB_STATIC);
	else
		db_bind_null(st, 2);
	db_bind_int64(st, 3, store_now_ms());
	r = db_step(st);
	db_reset(st);
	return r == DB_DONE ? 0 : -1;
}

/* The id of the key in use, and where its files are. */
const char *
keyring_current(void)
{
	return keyring_id;
}

const char *
keyring_base_path(void)
{
	return keyring_base;
}

/* A rotation committed: the key of id is the one in use. */
void
keyring_switched(const char *id)
{
	snprintf(keyring_id, sizeof(keyring_id), "%s", id);
}

/* 1 if the first value sql selects opens under the key in use, 0 if there is none, else -1. */
static int
keyring_sample(const char *sql, int (*open)(int64_t, int64_t, const uint8_t *, size_t,
    struct fg_secret **))
{
	struct db_stmt		*st = store_prepare(sql);
	struct fg_secret	*s = NULL;
	int			 r = 0;

	if (st == NULL)
		return -1;
	if (db_step(st) == DB_ROW)
		r = open(db_column_int64(st, 0), db_column_int64(st, 1),
		    db_column_blob(st, 2), (size_t)db_column_bytes(st, 2), &s) == 0 ? 1 : -1;
	db_reset(st);
	seal_secret_free(s);
	return r;
}

/* A database from before key ids: key_file must open what is sealed in it; then record its id. */
static int
keyring_adopt(char *err, size_t errlen)
{
	uint8_t	*key;

	if (seal_key_read(keyring_base, 0, &key, err, errlen) != 0)
		return -1;
	seal_key_id(key, keyring_id);
	seal_init_key(key, crypto_kdf_KEYBYTES);
	sodium_free(key);
	if (keyring_sample(SQL_SAMPLE_SECRET, seal_open) == -1 ||
	    keyring_sample(SQL_SAMPLE_REFRESH, seal_refresh_open) == -1) {
		snprintf(err, errlen, "key file %s does not open the secrets sealed in the database: "
		    "it is not the master key that sealed them", keyring_base);
		return -1;
	}
	if (keyring_record(keyring_id, NULL, 0) == -1) {
		snprintf(err, errlen, "cannot record the master key's id: %s",
		    db_errmsg());
		return -1;
	}
	fg_log_info("master key %s recorded as the one that seals this database", keyring_id);
	return 0;
}

/* Of key_file's names, take the key the database records (want); a clear refusal if none is. */
static int
keyring_pick(const char *want, char *err, size_t errlen)
{
	char	 path[1100], id[SEAL_KEYID_LEN], why[512] = "", msg[512];
	uint8_t	*key;
	int	 i, r;

	for (i = 0; i < KEYRING_NAMES; i++) {
		keyring_path(keyring_base, i, path, sizeof(path));
		r = seal_key_read(path, 1, &key, msg, sizeof(msg));
		if (r == -1 && why[0] == '\0')	/* the first file that could not be read, named */
			snprintf(why, sizeof(why), "%s", msg);
		if (r != 0)
			continue;
		seal_key_id(key, id);
		if (strcmp(id, want) == 0) {
			seal_init_key(key, crypto_kdf_KEYBYTES);
			sodium_free(key);
			snprintf(keyring_id, sizeof(keyring_id), "%s", id);
			if (i != KEYRING_CURRENT)
				fg_log_warn("master key taken from %s (a rotation did not finish: run "
				    "flowgatectl key rotate again to complete it)", path);
			return 0;
		}
		sodium_free(key);
	}
	snprintf(err, errlen, "no master key opens this database: it was sealed by key %s and "
	    "none of %s, %s.next, %s.old is that key%s%s", want, keyring_base, keyring_base,
	    keyring_base, why[0] ? "; " : "", why);
	return -1;
}

/*
 * Load the master key the database names, unless it is the one in use already.  At start
 * (adopt) a database that names none records key_file's.  -1 when no key file holds the key
 * named, -2 when the database could not be asked.
 */
static int
keyring_load(int adopt, char *err, size_t errlen)
{
	struct db_stmt	*st;
	char		 want[SEAL_KEYID_LEN] = "";
	uint8_t		*hk = NULL;
	size_t		 hklen = 0;
	int		 r;

	if ((st = store_prepare(SQL_GET)) == NULL) {
		snprintf(err, errlen, "cannot read the master key's id: %s",
		    db_errmsg());
		return -2;
	}
	if (db_step(st) == DB_ROW) {
		snprintf(want, sizeof(want), "%s", (const char *)db_column_text(st, 0));
		hklen = (size_t)db_column_bytes(st, 1);
		if (hklen > 0 && (hk = malloc(hklen)) != NULL)
			memcpy(hk, db_column_blob(st, 1), hklen);
	}
	db_reset(st);
	if (want[0] == '\0' || strcmp(want, keyring_id) == 0) {
		free(hk);
		return want[0] == '\0' && adopt ? keyring_adopt(err, errlen) : 0;
	}
	r = keyring_pick(want, err, errlen);
	if (r == 0 && hklen > 0 && (hk == NULL || seal_hash_keys_open(hk, hklen) == -1)) {
		snprintf(err, errlen, "the hash keys recorded with master key %s do not open", want);
		r = -1;
	}
	free(hk);
	return r;
}

/* At start, after the store is open: load the master key the database was sealed with. */
int
keyring_init(const char *key_file, char *err, size_t errlen)
{
	if (keyring_resolve(key_file, keyring_base, sizeof(keyring_base), err, errlen) == -1)
		return -1;
	return keyring_load(1, err, errlen) == 0 ? 0 : -1;
}

/*
 * Another node of the cluster rotated the master key (its notification, or a listener that was
 * down): follow it, from this node's key_file.next.  A node without that key could only seal
 * what the others cannot open, so it stops, saying which key it needs.
 */
void
keyring_follow(void)
{
	char	before[SEAL_KEYID_LEN], err[1024];

	snprintf(before, sizeof(before), "%s", keyring_id);
	if (keyring_load(0, err, sizeof(err)) == -1)	/* -2: asked again with the next change */
		fg_fatal("the cluster's master key changed and this node cannot follow: %s", err);
	if (strcmp(before, keyring_id) != 0)
		fg_log_info("master key: now %s, as another node's rotation committed", keyring_id);
}

/* One of key_file's names: absent, unreadable (why), the key in use, or another key. */
static json_t *
keyring_file(enum keyring_name which)
{
	char	 path[1100], id[SEAL_KEYID_LEN], why[512];
	uint8_t	*key;
	int	 r;

	keyring_path(keyring_base, which, path, sizeof(path));
	if ((r = seal_key_read(path, 1, &key, why, sizeof(why))) == 1)
		return json_pack("{ssss}", "path", path, "state", "absent");
	if (r == -1)
		return json_pack("{sssss}", "path", path, "state", "unreadable", "why", why);
	seal_key_id(key, id);
	sodium_free(key);
	return json_pack("{sssssb}", "path", path, "key_id", id, "in_use",
	    strcmp(id, keyring_id) == 0);
}

/* "key.status": the key in use and what each of key_file's names holds now. */
static void
keyring_status_verb(const struct fg_reqctx *ctx, json_t *req)
{
	json_t	*files = json_object();
	int	 i;

	(void)req;
	for (i = 0; i < KEYRING_NAMES; i++)
		json_object_set_new(files, keyring_label[i], keyring_file(i));
	server_reply(ctx, json_pack("{sbsssbso}", "ok", 1, "key_id", keyring_id, "credential",
	    keyring_is_credential(fg_cfg->key_file), "files", files));
}

static const struct verb_field keyring_status_fields[] = {
	VERB_FIELDS_END
};
const struct verb_entry key_status_entry = {
	.name = "key.status",
	.peers = PEER_ADMIN,
	.fn = keyring_status_verb,
	.fields = keyring_status_fields
};
