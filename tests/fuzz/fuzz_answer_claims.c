/*
 * Fuzz target for answer_id_claims (daemon/answer.c): the bytes as a whole JWT, and as the
 * payload of a JWT with a signed header.  What it accepts must be sound: a subject and a user
 * name of safe characters that fit their buffers.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Abort unless s is a word of safe characters. */
static void
fuzz_check_word(const char *s, size_t max)
{
	if (*s == '\0' || strlen(s) > max)
		abort();
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    strchr("\"'\\<>`", *s) != NULL)
			abort();
}

/* Check one JWT against issuer "I", client "C" at time 1000000, as a login's and a refresh's. */
static void
fuzz_claims(const char *jwt)
{
	static const char	*nonce[] = { "N", NULL };
	char			 sub[256], user[128];
	size_t			 i;

	for (i = 0; i < 2; i++) {
		if (answer_id_claims(jwt, "I", "C", nonce[i], 1000000, sub, sizeof(sub), user,
		    sizeof(user)) != NULL)
			continue;
		fuzz_check_word(sub, 255);
		fuzz_check_word(user, 127);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	 head[] = "eyJhbGciOiJSUzI1NiJ9.";
	char			*jwt;
	size_t			 n;

	if (size > 8192 || (jwt = malloc(sodium_base64_ENCODED_LEN(size,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING) + sizeof(head) + 8)) == NULL)
		return 0;
	memcpy(jwt, data, size);
	jwt[size] = '\0';
	fuzz_claims(jwt);
	memcpy(jwt, head, sizeof(head) - 1);
	sodium_bin2base64(jwt + sizeof(head) - 1, sodium_base64_ENCODED_LEN(size,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING), data, size,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	n = strlen(jwt);
	memcpy(jwt + n, ".c2ln", 6);
	fuzz_claims(jwt);
	free(jwt);
	return 0;
}
