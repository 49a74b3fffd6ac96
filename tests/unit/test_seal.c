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
	tap_ok(seal_init_key(key, sizeof(key)) == 0, "a 32-byte key is accepted");
	tap_ok(seal_init_key(key, 16) == -1, "a short key is refused");
	seal_init_key(key, sizeof(key));
	pt = seal_secret_from(secret, strlen(secret));
	tap_ok(seal_secret(7, 1, pt, &c, &clen) == 0 && clen == strlen(secret) + 24 + 16,
	    "sealing adds a 24-byte nonce and a 16-byte tag");
	tap_ok(memmem(c, clen, secret, strlen(secret)) == NULL, "the ciphertext does not hold the secret");
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

	seal_app_hash("fgs_abc", 7, h1);
	seal_init_key(key, sizeof(key));
	seal_app_hash("fgs_abc", 7, h2);
	tap_ok(memcmp(h1, h2, 32) != 0, "app credential hashes are keyed by the master key");
	seal_app_hash("fgs_abd", 7, h1);
	tap_ok(memcmp(h1, h2, 32) != 0, "different secrets hash differently");
	seal_fingerprint("token", 5, fp);
	tap_ok(strncmp(fp, "sha256:", 7) == 0 && strlen(fp) == 39 && strstr(fp, "token") == NULL,
	    "a fingerprint is sha256: and 32 hex digits, not the token");

	snprintf(path, sizeof(path), "%s/master.key", dir);
	tap_ok(seal_create_keyfile(path, err, sizeof(err)) == 0, "a key file is created");
	tap_ok(seal_create_keyfile(path, err, sizeof(err)) == -1, "an existing key file is never replaced");
	tap_ok(seal_init(path, err, sizeof(err)) == 0, "a 0600 key file is accepted");
	chmod(path, 0640);
	tap_ok(seal_init(path, err, sizeof(err)) == -1 && strstr(err, "group or others") != NULL,
	    "a group-readable key file is refused: %s", err);
	chmod(path, 0604);
	tap_ok(seal_init(path, err, sizeof(err)) == -1, "a world-readable key file is refused");
	chmod(path, 0600);
	if (truncate(path, 31) == -1)
		return 1;
	tap_ok(seal_init(path, err, sizeof(err)) == -1, "a key file of the wrong size is refused");
	unlink(path);
	rmdir(dir);
	seal_secret_free(pt);
	seal_shutdown();
	return tap_done();
}
