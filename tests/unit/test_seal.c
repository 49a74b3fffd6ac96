/* Sealing: round trip, wrong key, a ciphertext moved to another row or version, tampering. */
#include "config.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon.h"
#include "tap.h"

const struct fg_config *fg_cfg;

static int
opens(int64_t row, int64_t version, const uint8_t *c, size_t clen, const char *want)
{
	struct fg_secret	*s;
	int			 ok;

	if (seal_open(row, version, c, clen, &s) == -1)
		return 0;
	ok = s->len == strlen(want) && memcmp(s->buf, want, s->len) == 0;
	seal_secret_free(s);
	return ok;
}

/* Whether a sealed refresh token opens for (row, gen) to want. */
static int
refresh_opens(int64_t row, int64_t gen, const uint8_t *c, size_t clen, const char *want)
{
	struct fg_secret	*s;
	int			 ok;

	if (seal_refresh_open(row, gen, c, clen, &s) == -1)
		return 0;
	ok = s->len == strlen(want) && memcmp(s->buf, want, s->len) == 0;
	seal_secret_free(s);
	return ok;
}

/* A rotation from key to key2: re-sealed values open under key2 only, hash keys carry over. */
static void
rotation_cases(const uint8_t *key, const uint8_t *key2, const struct fg_secret *pt,
    const char *secret)
{
	uint8_t	*c, *r, *hk, h1[32], h2[32];
	size_t	 clen, rlen, hklen;
	char	 id1[SEAL_KEYID_LEN], id2[SEAL_KEYID_LEN];

	seal_key_id(key, id1);
	seal_key_id(key2, id2);
	tap_ok(strncmp(id1, "k1:", 3) == 0 && strlen(id1) == 35 && strcmp(id1, id2) != 0,
	    "a key id is k1: and 32 hex digits, one per key: %s", id1);
	seal_init_key(key, 32);
	seal_app_hash("fgs_abc", 7, h1);
	if (seal_secret(7, 1, pt, &c, &clen) == -1 || seal_stage(key2) == -1)
		exit(1);
	TEST_START("a staged rotation re-seals for the same row and version");
	ASSERT_INT_EQ(seal_reseal(SEAL_CONNECTION_SECRET, 7, 1, c, clen, &r, &rlen), 0);
	TEST_DONE();
	tap_ok(seal_reseal(SEAL_CONNECTION_SECRET, 8, 1, c, clen, &hk, &hklen) == -1,
	    "a value stored under another row is not re-sealed");
	tap_ok(seal_reseal(SEAL_USER_REFRESH, 7, 1, c, clen, &hk, &hklen) == -1,
	    "a connection secret does not re-seal as a refresh token");
	tap_ok(!opens(7, 1, r, rlen, secret), "until the switch, the key in use does not open it");
	if (seal_hash_keys_seal(&hk, &hklen) == -1)
		exit(1);
	seal_switch();
	tap_ok(opens(7, 1, r, rlen, secret), "after the switch it opens");
	tap_ok(!opens(7, 1, c, clen, secret), "and the old ciphertext does not");
	seal_app_hash("fgs_abc", 7, h2);
	TEST_START("the app credential hash key carries over the switch");
	ASSERT_MEM_EQ(h1, h2, 32);
	TEST_DONE();
	seal_init_key(key2, 32);	/* a restart with the new key: hash keys from the database */
	seal_app_hash("fgs_abc", 7, h2);
	tap_ok(memcmp(h1, h2, 32) != 0, "derived from the new key alone, the hash key differs");
	TEST_START("the carried-over hash keys open under the new key and restore the hash");
	ASSERT_INT_EQ(seal_hash_keys_open(hk, hklen), 0);
	seal_app_hash("fgs_abc", 7, h2);
	ASSERT_MEM_EQ(h1, h2, 32);
	TEST_DONE();
	seal_init_key(key, 32);
	tap_ok(seal_hash_keys_open(hk, hklen) == -1, "they do not open under the old key");
	free(c);
	free(r);
	free(hk);
}

int
main(void)
{
	uint8_t			 key[32], key2[32], *c, h1[32], h2[32];
	size_t			 clen;
	struct fg_secret	*pt;
	char			 dir[] = "/tmp/fg-seal-XXXXXX", path[256], err[256], fp[FG_FP_LEN];
	const char		*secret = "conn-secret-0123456789";

	if (sodium_init() < 0 || mkdtemp(dir) == NULL)
		return 1;
	randombytes_buf(key, sizeof(key));
	randombytes_buf(key2, sizeof(key2));
	TEST_START("a 32-byte key is accepted");
	ASSERT_INT_EQ(seal_init_key(key, sizeof(key)), 0);
	TEST_DONE();
	TEST_START("a short key is refused");
	ASSERT_INT_EQ(seal_init_key(key, 16), -1);
	TEST_DONE();
	seal_init_key(key, sizeof(key));
	pt = seal_secret_from(secret, strlen(secret));
	TEST_START("sealing adds a 24-byte nonce and a 16-byte tag");
	ASSERT_INT_EQ(seal_secret(7, 1, pt, &c, &clen), 0);
	ASSERT_INT_EQ(clen, strlen(secret) + 24 + 16);
	TEST_DONE();
	TEST_START("the ciphertext does not hold the secret");
	ASSERT_PTR_EQ(memmem(c, clen, secret, strlen(secret)), NULL);
	TEST_DONE();
	tap_ok(opens(7, 1, c, clen, secret), "it opens for its own row and version");
	tap_ok(!opens(8, 1, c, clen, secret), "moved to another row it does not open");
	tap_ok(!opens(7, 2, c, clen, secret), "moved to another version it does not open");
	c[30] ^= 1;
	tap_ok(!opens(7, 1, c, clen, secret), "a flipped bit does not open");
	c[30] ^= 1;
	tap_ok(!opens(7, 1, c, 20, secret), "a truncated ciphertext does not open");
	seal_init_key(key2, sizeof(key2));
	tap_ok(!opens(7, 1, c, clen, secret), "under another master key it does not open");
	free(c);

	/* a user's refresh token, sealed to its session row and generation */
	seal_init_key(key, sizeof(key));
	TEST_START("a refresh token seals and opens for its row and generation");
	ASSERT_INT_EQ(seal_refresh(7, 1, pt, &c, &clen), 0);
	ASSERT_INT_EQ(refresh_opens(7, 1, c, clen, secret), 1);
	TEST_DONE();
	tap_ok(!refresh_opens(8, 1, c, clen, secret), "a refresh token moved to another session "
	    "row does not open");
	tap_ok(!refresh_opens(7, 2, c, clen, secret), "an older generation (rotated out) does not "
	    "open as the current one");
	tap_ok(!opens(7, 1, c, clen, secret), "a sealed refresh token does not open as a "
	    "connection secret of the same numbers");
	free(c);
	seal_init_key(key2, sizeof(key2));	/* as before: the hash cases below start under key2 */

	seal_app_hash("fgs_abc", 7, h1);
	seal_init_key(key, sizeof(key));
	seal_app_hash("fgs_abc", 7, h2);
	TEST_START("app credential hashes are keyed by the master key");
	ASSERT_MEM_NE(h1, h2, 32);
	TEST_DONE();
	seal_app_hash("fgs_abd", 7, h1);
	TEST_START("different secrets hash differently");
	ASSERT_MEM_NE(h1, h2, 32);
	TEST_DONE();
	seal_fingerprint("token", 5, fp);
	TEST_START("a fingerprint is sha256: and 32 hex digits, not the token");
	ASSERT_INT_EQ(strncmp(fp, "sha256:", 7), 0);
	ASSERT_INT_EQ(strlen(fp), 39);
	ASSERT_PTR_EQ(strstr(fp, "token"), NULL);
	TEST_DONE();

	snprintf(path, sizeof(path), "%s/master.key", dir);
	TEST_START("a key file is created");
	ASSERT_INT_EQ(seal_create_keyfile(path, err, sizeof(err)), 0);
	TEST_DONE();
	TEST_START("an existing key file is never replaced");
	ASSERT_INT_EQ(seal_create_keyfile(path, err, sizeof(err)), -1);
	TEST_DONE();
	TEST_START("a 0600 key file is accepted");
	ASSERT_INT_EQ(seal_init(path, err, sizeof(err)), 0);
	TEST_DONE();
	chmod(path, 0640);
	tap_ok(seal_init(path, err, sizeof(err)) == -1 && strstr(err, "group or others") != NULL,
	    "a group-readable key file is refused: %s", err);
	chmod(path, 0604);
	TEST_START("a world-readable key file is refused");
	ASSERT_INT_EQ(seal_init(path, err, sizeof(err)), -1);
	TEST_DONE();
	chmod(path, 0600);
	if (truncate(path, 31) == -1)
		return 1;
	TEST_START("a key file of the wrong size is refused");
	ASSERT_INT_EQ(seal_init(path, err, sizeof(err)), -1);
	TEST_DONE();
	unlink(path);
	rmdir(dir);
	rotation_cases(key, key2, pt, secret);
	seal_secret_free(pt);
	seal_shutdown();
	return tap_done();
}
