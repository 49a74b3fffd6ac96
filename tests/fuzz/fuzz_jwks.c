/*
 * Fuzz target for jwks_parse and jwks_verify (daemon/jwks.c): the bytes as an issuer's JWKS,
 * and as an ID token checked against the fixed keys of tests/unit/jwks_fixture.h.  What is
 * accepted must be sound: kept keys within bounds with a kid of safe characters, and no token
 * verified unless its algorithm is one flowgate verifies.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "discovery.h"
#include "../unit/jwks_fixture.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The bytes as a JWKS: every kept key is usable and named safely. */
static void
fuzz_parse(const char *s, size_t n)
{
	struct jwks_set	set;
	size_t		i, j;

	if (jwks_parse(s, n, &set) == NULL && set.n == 0)
		abort();
	if (set.n > JWKS_KEYS_MAX)
		abort();
	for (i = 0; i < set.n; i++) {
		if (set.key[i].jwk == NULL || set.key[i].algs == 0 ||
		    strlen(set.key[i].kid) > JWKS_KID_MAX)
			abort();
		for (j = 0; set.key[i].kid[j] != '\0'; j++)
			if ((unsigned char)set.key[i].kid[j] <= 0x20 ||
			    (unsigned char)set.key[i].kid[j] >= 0x7f)
				abort();
	}
	jwks_clear(&set);
}

/* The bytes as a token: verified only with an algorithm flowgate verifies. */
static void
fuzz_verify(const char *jwt)
{
	static struct jwks_set	set;
	static int		loaded;
	char			why[400];

	if (!loaded && jwks_parse(JWKS, strlen(JWKS), &set) != NULL)
		abort();
	loaded = 1;
	if (jwks_verify(&set, 0x1ffu, jwt, why, sizeof(why)) == JWKS_OK && strcmp(jwt, RS256) != 0 &&
	    strcmp(jwt, ES256) != 0 && strcmp(jwt, NOKID) != 0)
		abort();	/* only the fixture's own tokens can carry a valid signature */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size > 70000 || (s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_parse(s, size);
	fuzz_verify(s);
	free(s);
	return 0;
}
