/*
 * An issuer's signing keys (its JWKS, RFC 7517) and the check of a compact JWS against them,
 * with cjose doing the cryptography.  Both inputs are untrusted data: the JWKS comes from the
 * issuer's jwks_uri, the JWS is the ID token a token endpoint sent.  Only public-key algorithms
 * are verified; the algorithm must be one the key allows (its kty, crv and alg) and one the
 * caller allows (the issuer's id_token_signing_alg_values_supported).  "none" and HS* are
 * refused before cjose sees them: an HMAC "verified" with a public key is the classic forgery.
 * Nothing here does I/O (tests/unit/test_jwks.c, tests/fuzz/fuzz_jwks.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjose/jws.h>
#include <jansson.h>
#include <sodium.h>

#include "daemon.h"
#include "discovery.h"

#define JWKS_ENTRIES_MAX	64	/* entries of a JWKS looked at; the rest are ignored */
#define JWKS_RSA_N_MIN		342	/* base64url characters of a 2048-bit modulus */
#define JWKS_HEADER_MAX		2048	/* a decoded JWS header */

static const struct {
	const char	*name;
	unsigned	 bit;
} jwks_algs[] = {
	{ "RS256", JWKS_RS256 }, { "RS384", JWKS_RS384 }, { "RS512", JWKS_RS512 },
	{ "PS256", JWKS_PS256 }, { "PS384", JWKS_PS384 }, { "PS512", JWKS_PS512 },
	{ "ES256", JWKS_ES256 }, { "ES384", JWKS_ES384 }, { "ES512", JWKS_ES512 },
};

/* The bit of a JWS algorithm flowgate verifies; 0 for any other (none, HS*, unknown). */
unsigned
jwks_alg_bit(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(jwks_algs) / sizeof(jwks_algs[0]); i++)
		if (strcmp(name, jwks_algs[i].name) == 0)
			return jwks_algs[i].bit;
	return 0;
}

/* True when s is a short run of printable ASCII without quotes or backslashes. */
static int
jwks_word(const char *s, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > max)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '"' ||
		    *s == '\\')
			return 0;
	return 1;
}

/*
 * True when s (n bytes) is base64url cjose can decode without aborting: its decoder asserts
 * (a crash, not an error) on a length of 4k+1 and on '=' after one character of a group.
 */
static int
jwks_b64u_ok(const char *s, size_t n)
{
	static const char	alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				    "0123456789-_";
	size_t			i;

	for (i = 0; i < n; i++)
		if (s[i] == '\0' || strchr(alphabet, s[i]) == NULL)
			return 0;
	return n % 4 != 1;
}

/* True when member name of k is a string of base64url cjose can decode. */
static int
jwks_member_ok(json_t *k, const char *name)
{
	json_t *v = json_object_get(k, name);

	return json_is_string(v) && jwks_b64u_ok(json_string_value(v), json_string_length(v));
}

/* What a JWK may verify, from its kty, crv, size and alg; 0 when flowgate cannot use it. */
static unsigned
jwks_key_algs(json_t *k)
{
	const char	*kty = json_string_value(json_object_get(k, "kty"));
	const char	*crv = json_string_value(json_object_get(k, "crv"));
	const char	*n = json_string_value(json_object_get(k, "n"));
	json_t		*use = json_object_get(k, "use"), *alg = json_object_get(k, "alg");
	unsigned	 algs = 0;

	if (kty == NULL || (use != NULL && !(json_is_string(use) &&
	    strcmp(json_string_value(use), "sig") == 0)) || json_object_get(k, "d") != NULL ||
	    json_object_get(k, "p") != NULL || json_object_get(k, "q") != NULL ||
	    json_object_get(k, "dp") != NULL || json_object_get(k, "dq") != NULL ||
	    json_object_get(k, "qi") != NULL)
		return 0;	/* an encryption key, or a private one that has no place here */
	if (strcmp(kty, "RSA") == 0 && n != NULL && strlen(n) >= JWKS_RSA_N_MIN &&
	    jwks_member_ok(k, "n") && jwks_member_ok(k, "e"))
		algs = JWKS_RSA_ALGS;
	else if (strcmp(kty, "EC") == 0 && crv != NULL && jwks_member_ok(k, "x") &&
	    jwks_member_ok(k, "y"))
		algs = strcmp(crv, "P-256") == 0 ? JWKS_ES256 : strcmp(crv, "P-384") == 0 ?
		    JWKS_ES384 : strcmp(crv, "P-521") == 0 ? JWKS_ES512 : 0;
	if (alg != NULL)
		algs &= jwks_alg_bit(json_string_value(alg));
	return algs;
}

/* Forget a key set. */
void
jwks_clear(struct jwks_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		cjose_jwk_release(set->key[i].jwk);
	memset(set, 0, sizeof(*set));
}

/* Keep JWK k in set when flowgate can verify with it. */
static void
jwks_add(struct jwks_set *set, json_t *k)
{
	struct jwks_key	*key = &set->key[set->n];
	json_t		*kid = json_object_get(k, "kid");
	cjose_err	 err;

	if (!json_is_object(k) || (kid != NULL && !jwks_word(json_string_value(kid),
	    JWKS_KID_MAX)) || (key->algs = jwks_key_algs(k)) == 0 ||
	    (key->jwk = cjose_jwk_import_json((cjose_header_t *)k, &err)) == NULL)
		return;
	snprintf(key->kid, sizeof(key->kid), "%s", kid != NULL ? json_string_value(kid) : "");
	set->n++;
}

/*
 * Parse a JWKS answer into set (cleared first): its usable signing keys, at most
 * JWKS_KEYS_MAX.  NULL when it holds at least one, else why not.
 */
const char *
jwks_parse(const char *body, size_t len, struct jwks_set *set)
{
	json_t		*j, *keys, *k;
	size_t		 i;
	const char	*why = NULL;

	memset(set, 0, sizeof(*set));
	if (len > JWKS_DOC_MAX)
		return "the issuer's JWKS is larger than 64 KiB";
	if ((j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(j)) {
		json_decref(j);
		return "the issuer's JWKS is not a JSON object";
	}
	if (!json_is_array(keys = json_object_get(j, "keys")))
		why = "the issuer's JWKS has no \"keys\" list";
	else {
		json_array_foreach(keys, i, k) {
			if (i == JWKS_ENTRIES_MAX || set->n == JWKS_KEYS_MAX)
				break;
			jwks_add(set, k);
		}
		if (set->n == 0)
			why = "the issuer's JWKS holds no signing key flowgate can use (RSA of "
			    "2048 bits or more, or EC P-256, P-384, P-521)";
	}
	json_decref(j);
	return why;
}

/* The protected header of a compact JWS as a JSON object; NULL if it is not one. */
static json_t *
jwks_header(const char *jwt)
{
	const char	*dot = strchr(jwt, '.');
	uint8_t		 buf[JWKS_HEADER_MAX];
	size_t		 len;
	json_t		*h;

	if (dot == NULL || dot == jwt || sodium_base642bin(buf, sizeof(buf), jwt,
	    (size_t)(dot - jwt), NULL, &len, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return NULL;
	h = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(h)) {
		json_decref(h);
		return NULL;
	}
	return h;
}

/* Why the algorithm alg may not be used at all, or NULL; *bit is its bit. */
static const char *
jwks_alg_why(const char *alg, unsigned allowed, unsigned *bit, char *why, size_t whylen)
{
	*bit = jwks_alg_bit(alg);
	if (alg == NULL || !jwks_word(alg, 16))
		snprintf(why, whylen, "the ID token names no signing algorithm");
	else if (strcmp(alg, "none") == 0)
		snprintf(why, whylen, "the ID token is unsigned (alg none); refused");
	else if (strncmp(alg, "HS", 2) == 0)
		snprintf(why, whylen, "the ID token is signed with a shared secret (%s); only the "
		    "issuer's public-key signatures are accepted", alg);
	else if (*bit == 0)
		snprintf(why, whylen, "the ID token's signing algorithm %s is not supported", alg);
	else if ((*bit & allowed) == 0)
		snprintf(why, whylen, "the ID token's signing algorithm %s is not in the issuer's "
		    "id_token_signing_alg_values_supported; refused", alg);
	else
		return NULL;
	return why;
}

/* The key of set that kid (NULL: none named) designates; NULL if none or ambiguous. */
static const struct jwks_key *
jwks_find(const struct jwks_set *set, const char *kid, unsigned bit)
{
	const struct jwks_key	*found = NULL;
	size_t			 i;

	for (i = 0; i < set->n; i++) {
		if (kid != NULL ? strcmp(set->key[i].kid, kid) != 0 : !(set->key[i].algs & bit))
			continue;
		if (found != NULL && kid == NULL)
			return NULL;	/* no kid and several candidates: refuse to guess */
		if (found == NULL || (set->key[i].algs & bit))
			found = &set->key[i];
	}
	return found;
}

/* True when jwt is three parts of base64url cjose can decode, separated by dots. */
static int
jwks_compact_ok(const char *jwt)
{
	const char	*a = strchr(jwt, '.'), *b = a != NULL ? strchr(a + 1, '.') : NULL;

	return b != NULL && jwks_b64u_ok(jwt, (size_t)(a - jwt)) &&
	    jwks_b64u_ok(a + 1, (size_t)(b - a - 1)) && jwks_b64u_ok(b + 1, strlen(b + 1));
}

/* Check the signature of jwt with key; JWKS_OK or JWKS_REFUSED (why set). */
static enum jwks_verdict
jwks_check(const struct jwks_key *key, unsigned bit, const char *alg, const char *jwt,
    char *why, size_t whylen)
{
	cjose_jws_t		*jws = NULL;
	cjose_err		 err;
	enum jwks_verdict	 v = JWKS_REFUSED;

	if (!(key->algs & bit)) {
		snprintf(why, whylen, "the ID token's algorithm %s does not fit the issuer's key "
		    "(kid \"%s\"); refused", alg, key->kid);
		return v;
	}
	if (!jwks_compact_ok(jwt) || (jws = cjose_jws_import(jwt, strlen(jwt), &err)) == NULL)
		snprintf(why, whylen, "the ID token is not a well-formed JWS");
	else if (!cjose_jws_verify(jws, key->jwk, &err))
		snprintf(why, whylen, "the ID token's signature does not verify with the issuer's "
		    "key (kid \"%s\"): bad signature, refused", key->kid);
	else
		v = JWKS_OK;
	cjose_jws_release(jws);
	return v;
}

/*
 * Verify the compact JWS jwt against set with an algorithm in allowed (JWKS_* bits).
 * JWKS_UNKNOWN_KEY when it names a key the set lacks (the caller may refetch the JWKS once);
 * why says what was wrong whenever the answer is not JWKS_OK.
 */
enum jwks_verdict
jwks_verify(const struct jwks_set *set, unsigned allowed, const char *jwt, char *why,
    size_t whylen)
{
	json_t			*h = jwks_header(jwt);
	json_t			*kidv = json_object_get(h, "kid");
	const char		*alg = json_string_value(json_object_get(h, "alg"));
	const char		*kid = json_string_value(kidv);
	const struct jwks_key	*key;
	enum jwks_verdict	 v = JWKS_REFUSED;
	unsigned		 bit;

	if (h == NULL)
		snprintf(why, whylen, "the ID token's header cannot be read");
	else if (jwks_alg_why(alg, allowed, &bit, why, whylen) != NULL)
		;
	else if (kidv != NULL && !jwks_word(kid, JWKS_KID_MAX))
		snprintf(why, whylen, "the ID token's key id (kid) is malformed");
	else if ((key = jwks_find(set, kid, bit)) == NULL) {
		v = JWKS_UNKNOWN_KEY;
		if (kid != NULL)
			snprintf(why, whylen, "the ID token was signed by a key (kid \"%s\") the "
			    "issuer does not publish in its JWKS; refused", kid);
		else
			snprintf(why, whylen, "the ID token names no key (kid) and the issuer's "
			    "JWKS has no single key for %s; refused", alg);
	} else
		v = jwks_check(key, bit, alg, jwt, why, whylen);
	json_decref(h);
	return v;
}
