/*
 * The master key and what is derived from it.  Each purpose gets its own subkey (crypto_kdf);
 * connection secrets are sealed with XChaCha20-Poly1305 whose associated data names the row
 * and version, so a ciphertext moved to another row or version does not open.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon.h"

#define SEAL_KEYLEN	crypto_kdf_KEYBYTES
#define SEAL_NONCELEN	crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define SEAL_TAGLEN	crypto_aead_xchacha20poly1305_ietf_ABYTES

/* SUB_SECRET first: a region's start is its sealing key.  The others are the hash keys. */
enum { SUB_SECRET, SUB_APPCRED, SUB_AUDIT, SUB_SESSION, SUB_COUNT };
#define SEAL_HASHKEYS_LEN	((size_t)(SUB_COUNT - 1) * SEAL_KEYLEN)

static const struct {
	uint64_t	id;
	const char	ctx[crypto_kdf_CONTEXTBYTES + 1];
} seal_purposes[SUB_COUNT] = {
	{ 1, "fgsecret" },
	{ 2, "fgappcrd" },
	{ 3, "fgaudit_" },
	{ 4, "fgsessn_" },
};

/* All subkeys live in one guarded, read-only region; the master key itself is not kept. */
static uint8_t *seal_keys;
/* A rotation's region until it commits: the new key's sealing key, the hash keys carried over. */
static uint8_t *seal_next;
static const char *const seal_what_kind[] = { "connection-secret", "user-refresh" };

static uint8_t *
seal_subkey(int which)
{
	return seal_keys + (size_t)which * SEAL_KEYLEN;
}

/* Derive every subkey from key and forget key. */
int
seal_init_key(const uint8_t *key, size_t keylen)
{
	int i;

	if (keylen != SEAL_KEYLEN || sodium_init() < 0)
		return -1;
	seal_shutdown();
	if ((seal_keys = sodium_malloc((size_t)SUB_COUNT * SEAL_KEYLEN)) == NULL)
		return -1;
	for (i = 0; i < SUB_COUNT; i++)
		crypto_kdf_derive_from_key(seal_subkey(i), SEAL_KEYLEN, seal_purposes[i].id,
		    seal_purposes[i].ctx, key);
	sodium_mprotect_readonly(seal_keys);
	return 0;
}

/*
 * Read a master key file, from a descriptor checked to be only ours (privsep_open_secret), into
 * guarded memory.  1 when the file does not exist and absent_ok, -1 and err on any other failure.
 */
int
seal_key_read(const char *path, int absent_ok, uint8_t **out, char *err, size_t errlen)
{
	struct stat	 st;
	uint8_t		*key;
	ssize_t		 n;
	char		 extra;
	int		 fd;

	*out = NULL;
	if (absent_ok && lstat(path, &st) == -1 && errno == ENOENT)
		return 1;
	if ((fd = privsep_open_secret(path, "key file", &st, err, errlen)) == -1)
		return -1;
	if ((key = sodium_malloc(SEAL_KEYLEN)) == NULL) {
		close(fd);
		snprintf(err, errlen, "out of guarded memory");
		return -1;
	}
	n = read(fd, key, SEAL_KEYLEN);
	if (n != SEAL_KEYLEN || read(fd, &extra, 1) != 0) {
		snprintf(err, errlen, "key file %s: must hold exactly %d bytes", path, SEAL_KEYLEN);
		sodium_free(key);
		key = NULL;
	}
	close(fd);
	*out = key;
	return key != NULL ? 0 : -1;
}

/* A key's id: a one-way fingerprint that names it in the database and in logs. */
void
seal_key_id(const uint8_t *key, char out[SEAL_KEYID_LEN])
{
	uint8_t id[16];

	crypto_kdf_derive_from_key(id, sizeof(id), 5, "fgkeyid_", key);
	memcpy(out, "k1:", 3);
	sodium_bin2hex(out + 3, SEAL_KEYID_LEN - 3, id, sizeof(id));
}

/* Read the master key file and derive every subkey from it. */
int
seal_init(const char *key_file, char *err, size_t errlen)
{
	uint8_t	*key;
	int	 rc;

	if (seal_key_read(key_file, 0, &key, err, errlen) != 0)
		return -1;
	if ((rc = seal_init_key(key, SEAL_KEYLEN)) == -1)
		snprintf(err, errlen, "cannot initialise libsodium");
	sodium_free(key);
	return rc;
}

/* Forget every subkey. */
void
seal_shutdown(void)
{
	seal_unstage();
	if (seal_keys != NULL) {
		sodium_free(seal_keys);
		seal_keys = NULL;
	}
}

/* Create a new random master key file, never overwriting one. */
int
seal_create_keyfile(const char *path, char *err, size_t errlen)
{
	uint8_t	key[SEAL_KEYLEN];
	int	fd, rc = 0;

	if (sodium_init() < 0) {
		snprintf(err, errlen, "cannot initialise libsodium");
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		snprintf(err, errlen, "key file %s: %s", path, strerror(errno));
		return -1;
	}
	crypto_kdf_keygen(key);
	if (write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) || fsync(fd) == -1) {
		snprintf(err, errlen, "key file %s: %s", path, strerror(errno));
		rc = -1;
	}
	sodium_memzero(key, sizeof(key));
	if (close(fd) == -1 && rc == 0) {
		snprintf(err, errlen, "key file %s: %s", path, strerror(errno));
		rc = -1;
	}
	if (rc == -1)
		unlink(path);
	return rc;
}

/* The associated data that binds a sealed secret of one kind to its row and version. */
static size_t
seal_ad(const char *kind, int64_t row, int64_t version, char *ad, size_t adlen)
{
	int n;

	n = snprintf(ad, adlen, "flowgate:%s:v1:%lld:%lld", kind, (long long)row,
	    (long long)version);
	return n > 0 && (size_t)n < adlen ? (size_t)n : 0;
}

/* Seal pt of kind for (row, version) under keys; *out is nonce || ciphertext || tag, malloc'd. */
static int
seal_kind_with(const uint8_t *keys, const char *kind, int64_t row, int64_t version,
    const struct fg_secret *pt, uint8_t **out, size_t *outlen)
{
	char			ad[96];
	size_t			adl;
	unsigned long long	clen;
	uint8_t			*p;

	if (keys == NULL || (adl = seal_ad(kind, row, version, ad, sizeof(ad))) == 0)
		return -1;
	if ((p = malloc(SEAL_NONCELEN + pt->len + SEAL_TAGLEN)) == NULL)
		return -1;
	randombytes_buf(p, SEAL_NONCELEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(p + SEAL_NONCELEN, &clen,
	    (const uint8_t *)pt->buf, pt->len, (const uint8_t *)ad, adl, NULL, p, keys);
	*out = p;
	*outlen = SEAL_NONCELEN + (size_t)clen;
	return 0;
}

/* Open a sealed secret of kind and (row, version) into guarded memory; -1 if anything differs. */
static int
seal_open_with(const uint8_t *keys, const char *kind, int64_t row, int64_t version,
    const uint8_t *in, size_t inlen, struct fg_secret **out)
{
	char			 ad[96];
	size_t			 adl;
	unsigned long long	 mlen;
	struct fg_secret	*s;

	*out = NULL;
	/* the longest thing sealed is an access token a cluster's nodes share */
	if (keys == NULL || inlen < SEAL_NONCELEN + SEAL_TAGLEN ||
	    inlen - SEAL_NONCELEN - SEAL_TAGLEN > FG_TOKEN_MAX)
		return -1;
	if ((adl = seal_ad(kind, row, version, ad, sizeof(ad))) == 0)
		return -1;
	if ((s = seal_secret_new(inlen - SEAL_NONCELEN - SEAL_TAGLEN)) == NULL)
		return -1;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((uint8_t *)s->buf, &mlen, NULL,
	    in + SEAL_NONCELEN, inlen - SEAL_NONCELEN, (const uint8_t *)ad, adl, in, keys) != 0) {
		seal_secret_free(s);
		return -1;
	}
	s->len = (size_t)mlen;
	s->buf[s->len] = '\0';
	*out = s;
	return 0;
}

/* Under the current master key (its secret subkey comes first in seal_keys). */
static int
seal_kind(const char *kind, int64_t row, int64_t version, const struct fg_secret *pt,
    uint8_t **out, size_t *outlen)
{
	return seal_kind_with(seal_keys, kind, row, version, pt, out, outlen);
}

static int
seal_open_kind(const char *kind, int64_t row, int64_t version, const uint8_t *in, size_t inlen,
    struct fg_secret **out)
{
	return seal_open_with(seal_keys, kind, row, version, in, inlen, out);
}

/* Seal a connection secret for (row, version). */
int
seal_secret(int64_t row, int64_t version, const struct fg_secret *pt, uint8_t **out,
    size_t *outlen)
{
	return seal_kind("connection-secret", row, version, pt, out, outlen);
}

/* Open a connection secret sealed for (row, version). */
int
seal_open(int64_t row, int64_t version, const uint8_t *in, size_t inlen, struct fg_secret **out)
{
	return seal_open_kind("connection-secret", row, version, in, inlen, out);
}

/* Seal a user's refresh token for its session row and generation. */
int
seal_refresh(int64_t row, int64_t gen, const struct fg_secret *pt, uint8_t **out,
    size_t *outlen)
{
	return seal_kind("user-refresh", row, gen, pt, out, outlen);
}

/* Open a user's refresh token sealed for its session row and generation. */
int
seal_refresh_open(int64_t row, int64_t gen, const uint8_t *in, size_t inlen,
    struct fg_secret **out)
{
	return seal_open_kind("user-refresh", row, gen, in, inlen, out);
}

/*
 * Stage a rotation to key: values are re-sealed under it while the current key stays in use.
 * The keyed hashes cannot be recomputed without what they hash, so their keys carry over.
 */
int
seal_stage(const uint8_t *key)
{
	seal_unstage();
	if (seal_keys == NULL || (seal_next = sodium_malloc((size_t)SUB_COUNT * SEAL_KEYLEN)) == NULL)
		return -1;
	crypto_kdf_derive_from_key(seal_next, SEAL_KEYLEN, seal_purposes[SUB_SECRET].id,
	    seal_purposes[SUB_SECRET].ctx, key);
	memcpy(seal_next + SEAL_KEYLEN, seal_subkey(SUB_APPCRED), SEAL_HASHKEYS_LEN);
	sodium_mprotect_readonly(seal_next);
	return 0;
}

/* Forget a staged rotation (it failed, or the daemon stops). */
void
seal_unstage(void)
{
	if (seal_next != NULL) {
		sodium_free(seal_next);
		seal_next = NULL;
	}
}

/* The rotation committed: seal under the staged key from now on. */
void
seal_switch(void)
{
	if (seal_next == NULL)
		return;
	sodium_free(seal_keys);
	seal_keys = seal_next;
	seal_next = NULL;
}

/* Open a stored value under the current key and seal it, for the same row, under the staged one. */
int
seal_reseal(enum seal_what what, int64_t row, int64_t version, const uint8_t *in, size_t inlen,
    uint8_t **out, size_t *outlen)
{
	struct fg_secret	*pt;
	int			 r;

	if (seal_open_with(seal_keys, seal_what_kind[what], row, version, in, inlen, &pt) == -1)
		return -1;
	r = seal_kind_with(seal_next, seal_what_kind[what], row, version, pt, out, outlen);
	seal_secret_free(pt);
	return r;
}

/* The hash keys sealed under the staged key, for the master_key row (id 1). */
int
seal_hash_keys_seal(uint8_t **out, size_t *outlen)
{
	struct fg_secret pt;

	if (seal_next == NULL)
		return -1;
	pt.buf = (char *)seal_next + SEAL_KEYLEN;
	pt.len = SEAL_HASHKEYS_LEN;
	return seal_kind_with(seal_next, "hash-keys", 1, 0, &pt, out, outlen);
}

/* Take the hash keys an earlier rotation carried over, sealed under the current key. */
int
seal_hash_keys_open(const uint8_t *in, size_t inlen)
{
	struct fg_secret	*s;
	int			 ok;

	if (seal_open_with(seal_keys, "hash-keys", 1, 0, in, inlen, &s) == -1)
		return -1;
	if ((ok = s->len == SEAL_HASHKEYS_LEN)) {
		sodium_mprotect_readwrite(seal_keys);
		memcpy(seal_subkey(SUB_APPCRED), s->buf, SEAL_HASHKEYS_LEN);
		sodium_mprotect_readonly(seal_keys);
	}
	seal_secret_free(s);
	return ok ? 0 : -1;
}

/* Seal an access token a cluster's nodes share (token-lease.c) for its row and generation. */
int
seal_token(int64_t row, int64_t gen, const struct fg_secret *pt, uint8_t **out, size_t *outlen)
{
	return seal_kind("access-token", row, gen, pt, out, outlen);
}

/* Open an access token sealed for its row and generation. */
int
seal_token_open(int64_t row, int64_t gen, const uint8_t *in, size_t inlen,
    struct fg_secret **out)
{
	return seal_open_kind("access-token", row, gen, in, inlen, out);
}

/* A guarded buffer for len bytes of secret plus a NUL. */
struct fg_secret *
seal_secret_new(size_t len)
{
	struct fg_secret *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->buf = sodium_malloc(len + 1)) == NULL) {
		free(s);
		return NULL;
	}
	memset(s->buf, 0, len + 1);
	s->len = len;
	return s;
}

/* Copy len bytes of a secret into guarded memory. */
struct fg_secret *
seal_secret_from(const char *src, size_t len)
{
	struct fg_secret *s;

	if ((s = seal_secret_new(len)) == NULL)
		return NULL;
	memcpy(s->buf, src, len);
	return s;
}

/* Zero and release a secret (sodium_free zeroes before unmapping). */
void
seal_secret_free(struct fg_secret *s)
{
	if (s == NULL)
		return;
	sodium_free(s->buf);
	free(s);
}

/* Keyed BLAKE2b of an app credential: what the database stores instead of the secret. */
void
seal_app_hash(const char *secret, size_t len, uint8_t out[32])
{
	crypto_generichash(out, 32, (const uint8_t *)secret, len, seal_subkey(SUB_APPCRED),
	    SEAL_KEYLEN);
}

/* Keyed BLAKE2b for the audit chain: without the key nobody can re-chain edited records. */
void
seal_audit_mac(const uint8_t *data, size_t len, uint8_t out[32])
{
	crypto_generichash(out, 32, data, len, seal_subkey(SUB_AUDIT), SEAL_KEYLEN);
}

/* "sha256:" and the first 16 bytes of SHA-256(token) in hex: names a token, cannot replay it. */
void
seal_fingerprint(const char *token, size_t len, char out[FG_FP_LEN])
{
	uint8_t h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const uint8_t *)token, len);
	memcpy(out, "sha256:", 7);
	sodium_bin2hex(out + 7, FG_FP_LEN - 7, h, 16);
}

/* Keyed BLAKE2b of a session id: what the sessions table stores. */
void
seal_session_hash(const char *sid, size_t len, uint8_t out[32])
{
	crypto_generichash(out, 32, (const uint8_t *)sid, len, seal_subkey(SUB_SESSION),
	    SEAL_KEYLEN);
}

/* A session's CSRF token: derived from its id under the session key, so it is never stored. */
void
seal_csrf(const char *sid, size_t len, char out[33])
{
	crypto_generichash_state	st;
	uint8_t				h[16];

	crypto_generichash_init(&st, seal_subkey(SUB_SESSION), SEAL_KEYLEN, sizeof(h));
	crypto_generichash_update(&st, (const uint8_t *)"csrf:", 5);
	crypto_generichash_update(&st, (const uint8_t *)sid, len);
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(out, 33, h, sizeof(h));
}
