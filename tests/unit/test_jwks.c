/* The issuer's keys and documents as data: jwks_parse, jwks_verify and discovery_parse. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "discovery.h"
#include "jwks_fixture.h"
#include "tap.h"

const struct fg_config *fg_cfg;

#define ALL	0x1ffu
#define ISS	"https://idp.test/realms/r"
#define TOK	ISS "/protocol/openid-connect/token"
#define DOC(extra) "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS "/auth\"," \
	"\"token_endpoint\":\"" TOK "\",\"jwks_uri\":\"" ISS "/certs\"" extra "}"
#define ALGS	",\"id_token_signing_alg_values_supported\":[\"RS256\",\"none\",\"HS256\"]"

/* Verify jwt against set with allowed algorithms; the verdict, and why must contain want. */
static void
verify_case(const char *name, const struct jwks_set *set, unsigned allowed, const char *jwt,
    enum jwks_verdict want, const char *why_has)
{
	char why[400] = "";

	TEST_START(name);
	ASSERT_INT_EQ(jwks_verify(set, allowed, jwt, why, sizeof(why)), want);
	if (why_has != NULL)
		ASSERT_PTR_NE(strstr(why, why_has), NULL);
	TEST_DONE();
}

/* Signatures: the good ones pass, each kind of bad one has its own verdict and reason. */
static void
verify(void)
{
	struct jwks_set	set, any;
	char		why[400];

	TEST_START("jwks: the fixture keys load, the 1024-bit one left out");
	ASSERT_PTR_EQ(jwks_parse(JWKS, strlen(JWKS), &set), NULL);
	ASSERT_INT_EQ(set.n, 2);
	ASSERT_STRING_EQ(set.key[0].kid, "k1");
	ASSERT_INT_EQ(set.key[0].algs, JWKS_RS256);
	ASSERT_INT_EQ(set.key[1].algs, JWKS_ES256);
	ASSERT_PTR_EQ(jwks_parse(JWKS_ANY, strlen(JWKS_ANY), &any), NULL);
	ASSERT_INT_EQ(any.key[0].algs, JWKS_RSA_ALGS);
	TEST_DONE();
	verify_case("RS256 by k1", &set, ALL, RS256, JWKS_OK, NULL);
	verify_case("ES256 by k2", &set, ALL, ES256, JWKS_OK, NULL);
	verify_case("no kid, one RSA key", &any, ALL, NOKID, JWKS_OK, NULL);
	verify_case("no kid, the only RS256 key of the set", &set, ALL, NOKID, JWKS_OK, NULL);
	verify_case("tampered payload", &set, ALL, TAMPERED, JWKS_REFUSED, "bad signature");
	verify_case("unknown kid", &set, ALL, UNKNOWN, JWKS_UNKNOWN_KEY, "kid \"k9\"");
	verify_case("a key too small to be kept", &set, ALL, SMALL, JWKS_UNKNOWN_KEY, "k3");
	verify_case("alg none", &set, ALL, NONE, JWKS_REFUSED, "alg none");
	verify_case("HS256 with the RSA key's kid", &set, ALL, HS256, JWKS_REFUSED,
	    "shared secret (HS256)");
	verify_case("RS384 where the key says RS256", &set, ALL, RS384, JWKS_REFUSED,
	    "does not fit");
	verify_case("RS384 by a key of any RSA alg", &any, ALL, RS384, JWKS_OK, NULL);
	verify_case("RS384 not offered by discovery", &any, JWKS_RS256, RS384, JWKS_REFUSED,
	    "id_token_signing_alg_values_supported");
	verify_case("ES256 header on the RSA key's kid", &set, ALL, ES_ON_RSA, JWKS_REFUSED,
	    "does not fit");
	verify_case("not a JWS", &set, ALL, "garbage", JWKS_REFUSED, "header");
	verify_case("empty", &set, ALL, "", JWKS_REFUSED, "header");
	verify_case("header only", &set, ALL, "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.", JWKS_REFUSED,
	    "well-formed");
	TEST_START("an empty set knows no key");
	jwks_clear(&any);	/* releases its keys, then empties it */
	ASSERT_INT_EQ(jwks_verify(&any, ALL, RS256, why, sizeof(why)), JWKS_UNKNOWN_KEY);
	TEST_DONE();
	jwks_clear(&set);
}

/* JWKS documents: what is kept, what is refused. */
static void
parse(void)
{
	static const struct {
		const char	*name, *body;
		const char	*why_has;	/* NULL: accepted */
	} c[] = {
		{ "not JSON", "{\"keys\":", "not a JSON object" },
		{ "an array", "[]", "not a JSON object" },
		{ "no keys", "{}", "no \"keys\" list" },
		{ "keys not a list", "{\"keys\":{}}", "no \"keys\" list" },
		{ "only a shared secret", "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}",
		    "no signing key" },
		{ "an encryption key", "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"enc\","
		    "\"x\":\"a\",\"y\":\"b\"}]}", "no signing key" },
		{ "a private key", "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"d\":\"a\","
		    "\"x\":\"a\",\"y\":\"b\"}]}", "no signing key" },
		{ "a duplicate member", "{\"keys\":[],\"keys\":[]}", "not a JSON object" },
		{ "an odd curve", "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"secp256k1\"}]}",
		    "no signing key" },
	};
	struct jwks_set	 set;
	const char	*why;
	size_t		 i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		TEST_START(c[i].name);
		why = jwks_parse(c[i].body, strlen(c[i].body), &set);
		ASSERT_PTR_NE(why, NULL);
		ASSERT_PTR_NE(strstr(why, c[i].why_has), NULL);
		ASSERT_INT_EQ(set.n, 0);
		TEST_DONE();
	}
	TEST_START("a JWKS over 64 KiB is refused unread");
	ASSERT_PTR_NE(strstr(jwks_parse(JWKS, JWKS_DOC_MAX + 1, &set), "64 KiB"), NULL);
	TEST_DONE();
}

/* Discovery documents: the issuer, the token URL, the endpoints and the algorithms. */
static void
discovery(void)
{
	static const struct {
		const char	*name, *body, *why_has;
	} c[] = {
		{ "not JSON", "<html>", "not JSON" },
		{ "not an object", "[1]", "not a JSON object" },
		{ "no issuer", "{\"token_endpoint\":\"" TOK "\"}", "names no issuer" },
		{ "another issuer", "{\"issuer\":\"https://evil.test/realms/r\"}", "another issuer" },
		{ "a longer issuer", "{\"issuer\":\"" ISS "x\"}", "another issuer" },
		{ "an http endpoint", "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":"
		    "\"http://idp.test/auth\"}", "authorization_endpoint" },
		{ "no jwks_uri", "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS
		    "/a\",\"token_endpoint\":\"" TOK "\"" ALGS "}", "jwks_uri" },
		{ "a token endpoint elsewhere", "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":"
		    "\"" ISS "/a\",\"token_endpoint\":\"https://evil.test/token\",\"jwks_uri\":\""
		    ISS "/certs\"" ALGS "}", "not the connection's token URL" },
		{ "a URL with a quote", DOC(",\"revocation_endpoint\":\"https://idp.test/\\\"x\""),
		    "revocation_endpoint" },
		{ "no algorithms", DOC(""), "no id_token_signing_alg_values_supported" },
		{ "only none and HS256", DOC(",\"id_token_signing_alg_values_supported\":[\"none\","
		    "\"HS256\"]"), "no algorithm flowgate accepts" },
	};
	struct discovery_doc	 d;
	const char		*why;
	size_t			 i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		TEST_START(c[i].name);
		why = discovery_parse(c[i].body, strlen(c[i].body), ISS, TOK, &d);
		ASSERT_PTR_NE(why, NULL);
		ASSERT_PTR_NE(strstr(why, c[i].why_has), NULL);
		TEST_DONE();
	}
	TEST_START("a good document: endpoints kept, only RS256 of the algorithms");
	why = discovery_parse(DOC(ALGS ",\"end_session_endpoint\":\"" ISS "/logout\""),
	    strlen(DOC(ALGS ",\"end_session_endpoint\":\"" ISS "/logout\"")), ISS, TOK, &d);
	ASSERT_PTR_EQ(why, NULL);
	ASSERT_STRING_EQ(d.authorization_endpoint, ISS "/auth");
	ASSERT_STRING_EQ(d.jwks_uri, ISS "/certs");
	ASSERT_STRING_EQ(d.end_session_endpoint, ISS "/logout");
	ASSERT_STRING_EQ(d.revocation_endpoint, "");
	ASSERT_INT_EQ(d.id_token_algs, JWKS_RS256);
	TEST_DONE();
	TEST_START("a document over 64 KiB is refused unread");
	ASSERT_PTR_NE(strstr(discovery_parse("{}", DISCOVERY_DOC_MAX + 1, ISS, TOK, &d),
	    "64 KiB"), NULL);
	TEST_DONE();
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	verify();
	parse();
	discovery();
	return tap_done();
}
