/* Upstream answers as data: token answers, interaction answers and ID token claims. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "tap.h"

const struct fg_config *fg_cfg;

#define OK		UPSTREAM_OK
#define REFUSED		UPSTREAM_REFUSED
#define DOWN		UPSTREAM_UNAVAILABLE
#define BAD		UPSTREAM_BAD_RESPONSE
#define TU		"temporarily_unavailable"
#define AT		"\"access_token\":\"eyJ.a-b_c~d+e/f==\""
#define BEARER		"\"token_type\":\"Bearer\""

/* One token answer and what must come of it (scope NULL: none given). */
static const struct {
	const char		*name;
	long			 status;
	const char		*body;
	size_t			 len;		/* 0: strlen(body) */
	const char		*retry_after;
	enum upstream_outcome	 outcome;
	const char		*code;
	long			 expires_in;
	const char		*scope;
	long			 retry;
} cases[] = {
	{ "a plain answer", 200, "{" AT "," BEARER ",\"expires_in\":300,\"scope\":\"openid "
	    "streams\"}", 0, NULL, OK, "", 300, "openid streams", 0 },
	{ "scope as granted: no openid added, sorted, de-duplicated", 200, "{" AT "," BEARER
	    ",\"expires_in\":300,\"scope\":\"transcribe streams  streams\"}", 0, NULL, OK, "", 300,
	    "streams transcribe", 0 },
	{ "no scope: as requested", 200, "{" AT "," BEARER ",\"expires_in\":300}", 0, NULL, OK, "",
	    300, NULL, 0 },
	{ "Keycloak's extra fields are ignored", 200, "{" AT "," BEARER ",\"expires_in\":300,"
	    "\"refresh_expires_in\":0,\"not-before-policy\":0,\"session_state\":{\"a\":[1]}}", 0,
	    NULL, OK, "", 300, NULL, 0 },
	{ "token_type BEARER", 200, "{" AT ",\"token_type\":\"BEARER\",\"expires_in\":300}", 0,
	    NULL, OK, "", 300, NULL, 0 },
	{ "token_type bearer", 200, "{" AT ",\"token_type\":\"bearer\",\"expires_in\":300}", 0,
	    NULL, OK, "", 300, NULL, 0 },
	{ "token_type mac", 200, "{" AT ",\"token_type\":\"mac\",\"expires_in\":300}", 0, NULL,
	    BAD, TU, 0, NULL, 0 },
	{ "token_type 42", 200, "{" AT ",\"token_type\":42,\"expires_in\":300}", 0, NULL, BAD, TU,
	    0, NULL, 0 },
	{ "token_type missing", 200, "{" AT ",\"expires_in\":300}", 0, NULL, BAD, TU, 0, NULL, 0 },
	{ "token_type Bearer with more", 200, "{" AT ",\"token_type\":\"Bearerx\",\"expires_in\":"
	    "300}", 0, NULL, BAD, TU, 0, NULL, 0 },
	{ "expires_in missing: 60 s", 200, "{" AT "," BEARER "}", 0, NULL, OK, "", 60, NULL, 0 },
	{ "expires_in 0", 200, "{" AT "," BEARER ",\"expires_in\":0}", 0, NULL, BAD, TU, 0, NULL,
	    0 },
	{ "expires_in -1", 200, "{" AT "," BEARER ",\"expires_in\":-1}", 0, NULL, BAD, TU, 0, NULL,
	    0 },
	{ "expires_in 1", 200, "{" AT "," BEARER ",\"expires_in\":1}", 0, NULL, OK, "", 1, NULL,
	    0 },
	{ "expires_in 5", 200, "{" AT "," BEARER ",\"expires_in\":5}", 0, NULL, OK, "", 5, NULL,
	    0 },
	{ "expires_in 2.5: floored", 200, "{" AT "," BEARER ",\"expires_in\":2.5}", 0, NULL, OK,
	    "", 2, NULL, 0 },
	{ "expires_in 0.5", 200, "{" AT "," BEARER ",\"expires_in\":0.5}", 0, NULL, BAD, TU, 0,
	    NULL, 0 },
	{ "expires_in \"300\"", 200, "{" AT "," BEARER ",\"expires_in\":\"300\"}", 0, NULL, BAD, TU,
	    0, NULL, 0 },
	{ "expires_in true", 200, "{" AT "," BEARER ",\"expires_in\":true}", 0, NULL, BAD, TU, 0,
	    NULL, 0 },
	{ "expires_in null", 200, "{" AT "," BEARER ",\"expires_in\":null}", 0, NULL, BAD, TU, 0,
	    NULL, 0 },
	{ "expires_in {}", 200, "{" AT "," BEARER ",\"expires_in\":{}}", 0, NULL, BAD, TU, 0, NULL,
	    0 },
	{ "expires_in 1e300: clamped", 200, "{" AT "," BEARER ",\"expires_in\":1e300}", 0, NULL,
	    OK, "", UPSTREAM_EXPIRES_MAX, NULL, 0 },
	{ "expires_in 2^62: clamped", 200, "{" AT "," BEARER ",\"expires_in\":4611686018427387904}",
	    0, NULL, OK, "", UPSTREAM_EXPIRES_MAX, NULL, 0 },
	{ "expires_in 86401: clamped", 200, "{" AT "," BEARER ",\"expires_in\":86401}", 0, NULL,
	    OK, "", UPSTREAM_EXPIRES_MAX, NULL, 0 },
	{ "expires_in beyond int64", 200, "{" AT "," BEARER ",\"expires_in\":99999999999999999999"
	    "}", 0, NULL, BAD, TU, 0, NULL, 0 },
	{ "scope not a string", 200, "{" AT "," BEARER ",\"expires_in\":300,\"scope\":[\"openid\"]"
	    "}", 0, NULL, BAD, TU, 0, NULL, 0 },
	{ "scope empty", 200, "{" AT "," BEARER ",\"expires_in\":300,\"scope\":\"\"}", 0, NULL, BAD,
	    TU, 0, NULL, 0 },
	{ "scope with a quote", 200, "{" AT "," BEARER ",\"expires_in\":300,\"scope\":\"a\\\"b\"}",
	    0, NULL, BAD, TU, 0, NULL, 0 },
	{ "access_token missing", 200, "{" BEARER ",\"expires_in\":300}", 0, NULL, BAD, TU, 0, NULL,
	    0 },
	{ "access_token a number", 200, "{\"access_token\":42," BEARER ",\"expires_in\":300}", 0,
	    NULL, BAD, TU, 0, NULL, 0 },
	{ "access_token with a quote", 200, "{\"access_token\":\"a\\\"b\"," BEARER
	    ",\"expires_in\":300}", 0, NULL, BAD, TU, 0, NULL, 0 },
	{ "access_token with a newline", 200, "{\"access_token\":\"a\\nb\"," BEARER
	    ",\"expires_in\":300}", 0, NULL, BAD, TU, 0, NULL, 0 },
	{ "access_token with unicode", 200, "{\"access_token\":\"a\\u00e9b\"," BEARER ",\"expires_in"
	    "\":300}", 0, NULL, BAD, TU, 0, NULL, 0 },
	{ "access_token empty", 200, "{\"access_token\":\"\"," BEARER ",\"expires_in\":300}", 0,
	    NULL, BAD, TU, 0, NULL, 0 },
	{ "refresh_token an object", 200, "{" AT "," BEARER ",\"expires_in\":300,\"refresh_token\":"
	    "{}}", 0, NULL, BAD, TU, 0, NULL, 0 },
	{ "duplicate access_token", 200, "{" AT "," AT "," BEARER ",\"expires_in\":300}", 0, NULL,
	    BAD, TU, 0, NULL, 0 },
	{ "duplicate expires_in", 200, "{" AT "," BEARER ",\"expires_in\":300,\"expires_in\":1}", 0,
	    NULL, BAD, TU, 0, NULL, 0 },
	{ "an array", 200, "[{" AT "," BEARER ",\"expires_in\":300}]", 0, NULL, BAD, TU, 0, NULL,
	    0 },
	{ "nested: the token inside an object", 200, "{\"data\":{" AT "," BEARER ",\"expires_in\":"
	    "300}}", 0, NULL, BAD, TU, 0, NULL, 0 },
	{ "a string", 200, "\"" AT "\"", 0, NULL, BAD, TU, 0, NULL, 0 },
	{ "HTML 200", 200, "<!DOCTYPE html><html><body>Login</body></html>", 0, NULL, BAD, TU, 0,
	    NULL, 0 },
	{ "empty 200", 200, "", 0, NULL, BAD, TU, 0, NULL, 0 },
	{ "a NUL byte", 200, "{" AT "," BEARER ",\"expires_in\":300}\0", 0, NULL, BAD, TU, 0, NULL,
	    0 },
	{ "\\u0000 in a string", 200, "{\"access_token\":\"ab\\u0000cd\"," BEARER ",\"expires_in"
	    "\":300}", 0, NULL, BAD, TU, 0, NULL, 0 },
	{ "trailing garbage", 200, "{" AT "," BEARER ",\"expires_in\":300} x", 0, NULL, BAD, TU, 0,
	    NULL, 0 },
	{ "400 invalid_scope", 400, "{\"error\":\"invalid_scope\"}", 0, NULL, REFUSED,
	    "invalid_scope", 0, NULL, 0 },
	{ "400 scope_invalid (glewlwyd)", 400, "{\"error\":\"scope_invalid\"}", 0, NULL, REFUSED,
	    "invalid_scope", 0, NULL, 0 },
	{ "400 unauthorized_client", 400, "{\"error\":\"unauthorized_client\"}", 0, NULL, REFUSED,
	    "unauthorized_client", 0, NULL, 0 },
	{ "400 unsupported_grant_type", 400, "{\"error\":\"unsupported_grant_type\"}", 0, NULL,
	    REFUSED, "unauthorized_client", 0, NULL, 0 },
	{ "400 invalid_request", 400, "{\"error\":\"invalid_request\",\"error_description\":"
	    "\"grant not allowed\"}", 0, NULL, REFUSED, "unauthorized_client", 0, NULL, 0 },
	{ "400 invalid_grant", 400, "{\"error\":\"invalid_grant\"}", 0, NULL, REFUSED,
	    "invalid_grant", 0, NULL, 0 },
	{ "401 invalid_client", 401, "{\"error\":\"invalid_client\"}", 0, NULL, REFUSED, TU, 0,
	    NULL, 0 },
	{ "empty 401", 401, "", 0, NULL, REFUSED, TU, 0, NULL, 0 },
	{ "empty 403", 403, "", 0, NULL, REFUSED, TU, 0, NULL, 0 },
	{ "HTML 403", 403, "<html>Forbidden</html>", 0, NULL, REFUSED, TU, 0, NULL, 0 },
	{ "400 an unknown error", 400, "{\"error\":\"no_idea\"}", 0, NULL, REFUSED, TU, 0, NULL,
	    0 },
	{ "400 error not a string", 400, "{\"error\":[\"invalid_scope\"]}", 0, NULL, REFUSED, TU, 0,
	    NULL, 0 },
	{ "404 invalid_scope is not trusted", 404, "{\"error\":\"invalid_scope\"}", 0, NULL, REFUSED,
	    TU, 0, NULL, 0 },
	{ "429 Retry-After 7", 429, "", 0, "7", DOWN, TU, 0, NULL, 7 },
	{ "429 without Retry-After: 5", 429, "slow down", 0, NULL, DOWN, TU, 0, NULL, 5 },
	{ "429 Retry-After 0: 1", 429, "", 0, "0", DOWN, TU, 0, NULL, 1 },
	{ "429 Retry-After huge: 3600", 429, "", 0, "99999999999999", DOWN, TU, 0, NULL, 3600 },
	{ "429 Retry-After a date: 5", 429, "", 0, "Wed, 21 Oct 2015 07:28:00 GMT", DOWN, TU, 0,
	    NULL, 5 },
	{ "429 Retry-After -3: 5", 429, "", 0, "-3", DOWN, TU, 0, NULL, 5 },
	{ "500", 500, "<html>oops</html>", 0, NULL, DOWN, TU, 0, NULL, 0 },
	{ "503 Retry-After 30", 503, "", 0, "30", DOWN, TU, 0, NULL, 30 },
	{ "302", 302, "", 0, NULL, BAD, TU, 0, NULL, 0 },
	{ "201 is not a token answer", 201, "{" AT "," BEARER ",\"expires_in\":300}", 0, NULL, BAD,
	    TU, 0, NULL, 0 },
};

/* True when s is printable ASCII of at least one character. */
static int
printable(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

/* Run one token answer and compare it with the table. */
static void
token_case(size_t i)
{
	struct upstream_token	 t;
	size_t			 len = cases[i].len ? cases[i].len : strlen(cases[i].body);
	int			 ok;

	if (strcmp(cases[i].name, "a NUL byte") == 0)
		len = strlen(cases[i].body) + 1;
	memset(&t, 0, sizeof(t));
	answer_token(cases[i].status, cases[i].body, len, cases[i].retry_after, &t);
	ok = t.outcome == cases[i].outcome && strcmp(t.code, cases[i].code) == 0 &&
	    t.expires_in == cases[i].expires_in && t.retry_after == cases[i].retry &&
	    t.scope_given == (cases[i].scope != NULL) &&
	    strcmp(t.scope, cases[i].scope ? cases[i].scope : "") == 0 &&
	    (t.access_token != NULL) == (cases[i].outcome == OK) &&
	    (t.outcome == OK ? t.message[0] == '\0' : printable(t.message)) &&
	    strstr(t.message, "eyJ") == NULL;
	if (!tap_ok(ok, "token answer: %s", cases[i].name))
		printf("# got outcome %d code '%s' expires_in %ld retry_after %ld scope_given %d "
		    "scope '%s' message '%s'\n", t.outcome, t.code, t.expires_in, t.retry_after,
		    t.scope_given, t.scope, t.message);
	seal_secret_free(t.access_token);
	seal_secret_free(t.refresh_token);
	seal_secret_free(t.id_token);
}

/* Tokens at and over the size limit; the message of a refusal quotes the upstream cleaned. */
static void
token_edges(void)
{
	struct upstream_token	 t;
	char			*body = malloc(FG_TOKEN_MAX + 200);
	const char		*e;
	size_t			 n;

	n = (size_t)snprintf(body, 40, "{\"access_token\":\"");
	memset(body + n, 'a', FG_TOKEN_MAX);
	snprintf(body + n + FG_TOKEN_MAX, 100, "\"," BEARER ",\"expires_in\":9}");
	memset(&t, 0, sizeof(t));
	answer_token(200, body, strlen(body), NULL, &t);
	TEST_START("an access token of FG_TOKEN_MAX bytes is taken");
	ASSERT_INT_EQ(t.outcome, OK);
	ASSERT_PTR_NE(t.access_token, NULL);
	ASSERT_INT_EQ(t.access_token->len, FG_TOKEN_MAX);
	TEST_DONE();
	seal_secret_free(t.access_token);
	n = (size_t)snprintf(body, 40, "{\"access_token\":\"");
	memset(body + n, 'a', FG_TOKEN_MAX + 1);
	snprintf(body + n + FG_TOKEN_MAX + 1, 100, "\"," BEARER ",\"expires_in\":9}");
	memset(&t, 0, sizeof(t));
	answer_token(200, body, strlen(body), NULL, &t);
	TEST_START("one byte more is refused");
	ASSERT_INT_EQ(t.outcome, BAD);
	ASSERT_PTR_EQ(t.access_token, NULL);
	TEST_DONE();
	free(body);
	e = "{\"error\":\"invalid_scope\",\"error_description\":\"no \\\"x\\\"\\n\\u0007 <b>\"}";
	memset(&t, 0, sizeof(t));
	answer_token(400, e, strlen(e), NULL, &t);
	tap_ok(printable(t.message) && strchr(t.message, '"') == NULL &&
	    strstr(t.message, "invalid_scope") != NULL && strcmp(t.error, "invalid_scope") == 0,
	    "the upstream's description is quoted cleaned: %s", t.message);
	e = "{\"error\":\"invalid\\u0001scope\\\"\"}";
	memset(&t, 0, sizeof(t));
	answer_token(400, e, strlen(e), NULL, &t);
	tap_ok(printable(t.error) && strchr(t.error, '"') == NULL, "the upstream's error code is "
	    "kept cleaned: %s", t.error);
}

/* One interaction answer: NULL want means refused. */
static int
interaction(const char *body, const char *api, const char *want_ws)
{
	char		 id[129], ws[2049];
	const char	*why = answer_interaction(body, strlen(body), api, id, sizeof(id), ws,
			    sizeof(ws));

	if (want_ws == NULL)
		return why != NULL && printable(why);
	return why == NULL && strcmp(ws, want_ws) == 0 && strcmp(id, "i-1") == 0;
}

static void
interactions(void)
{
	const char	*api = "https://api.eu.corti.app/v2", *lo = "https://127.0.0.1:8443/api/v2";
	char		 body[3000], url[2100];

	tap_ok(interaction("{\"interactionId\":\"i-1\",\"websocketUrl\":\"wss://api.eu.corti.app/"
	    "audio-bridge/v2/interactions/i-1/streams?tenant-name=t\"}", api, "wss://api.eu.corti."
	    "app/audio-bridge/v2/interactions/i-1/streams?tenant-name=t"),
	    "interaction: wss on the API host");
	tap_ok(interaction("{\"interactionId\":\"i-1\",\"websocketUrl\":\"wss://API.EU.corti.app:443"
	    "/x\"}", api, "wss://API.EU.corti.app:443/x"), "interaction: host in another case, "
	    "default port written out");
	tap_ok(interaction("{\"interactionId\":\"i-1\",\"websocketUrl\":\"wss://127.0.0.1:8443/api/"
	    "v2/interactions/i-1/streams\"}", lo, "wss://127.0.0.1:8443/api/v2/interactions/i-1/"
	    "streams"), "interaction: same host and port");
	tap_ok(interaction("{\"interactionId\":\"i-1\",\"websocketUrl\":\"wss://evil.example/x\"}",
	    api, NULL), "interaction: another host is refused");
	tap_ok(interaction("{\"interactionId\":\"i-1\",\"websocketUrl\":\"wss://api.eu.corti.app."
	    "evil.example/x\"}", api, NULL), "interaction: a host with the API host as prefix is "
	    "refused");
	tap_ok(interaction("{\"interactionId\":\"i-1\",\"websocketUrl\":\"wss://api.eu.corti.app@"
	    "evil.example/x\"}", api, NULL), "interaction: userinfo is refused");
	tap_ok(interaction("{\"interactionId\":\"i-1\",\"websocketUrl\":\"wss://127.0.0.1:8444/x\"}",
	    lo, NULL), "interaction: another port is refused");
	tap_ok(interaction("{\"interactionId\":\"i-1\",\"websocketUrl\":\"wss://127.0.0.1/x\"}", lo,
	    NULL), "interaction: the default port is another port");
	tap_ok(interaction("{\"interactionId\":\"i-1\",\"websocketUrl\":\"ws://api.eu.corti.app/x\"}",
	    api, NULL), "interaction: ws:// is refused");
	tap_ok(interaction("{\"interactionId\":\"i-1\",\"websocketUrl\":\"wss://api.eu.corti.app/a "
	    "b\"}", api, NULL), "interaction: a space is refused");
	tap_ok(interaction("{\"interactionId\":\"i-1\",\"websocketUrl\":\"wss://api.eu.corti.app/a\\"
	    "\"b\"}", api, NULL), "interaction: a quote is refused");
	tap_ok(interaction("{\"interactionId\":\"i-1\",\"websocketUrl\":\"wss://api.eu.corti.app/a\\"
	    "\\b\"}", api, NULL), "interaction: a backslash is refused");
	tap_ok(interaction("{\"interactionId\":\"i-1\",\"websocketUrl\":\"wss://api.eu.corti.app/a\\"
	    "u0001\"}", api, NULL), "interaction: a control character is refused");
	tap_ok(interaction("{\"interactionId\":\"i-1\",\"websocketUrl\":\"wss://api.eu.corti.app:x/"
	    "\"}", api, NULL), "interaction: a port that is not a number is refused");
	tap_ok(interaction("{\"interactionId\":\"i 1\",\"websocketUrl\":\"wss://api.eu.corti.app/\"}",
	    api, NULL), "interaction: an id with a space is refused");
	tap_ok(interaction("{\"interactionId\":7,\"websocketUrl\":\"wss://api.eu.corti.app/\"}", api,
	    NULL), "interaction: an id that is a number is refused");
	tap_ok(interaction("{\"interactionId\":\"i-1\",\"interactionId\":\"i-2\",\"websocketUrl\":"
	    "\"wss://api.eu.corti.app/\"}", api, NULL), "interaction: a repeated key is refused");
	tap_ok(interaction("[]", api, NULL), "interaction: an array is refused");
	tap_ok(interaction("", api, NULL), "interaction: an empty body is refused");
	tap_ok(interaction("<html></html>", api, NULL), "interaction: HTML is refused");
	memset(url, 'a', sizeof(url));
	memcpy(url, "wss://api.eu.corti.app/", 23);
	url[2049] = '\0';
	snprintf(body, sizeof(body), "{\"interactionId\":\"i-1\",\"websocketUrl\":\"%s\"}", url);
	tap_ok(interaction(body, api, NULL), "interaction: a websocketUrl over 2048 is refused");
	url[2048] = '\0';
	snprintf(body, sizeof(body), "{\"interactionId\":\"i-1\",\"websocketUrl\":\"%s\"}", url);
	tap_ok(interaction(body, api, url), "interaction: a websocketUrl of 2048 is taken");
}

/* A JWT with this payload (header {"alg":"RS256"}, a dummy signature); static buffer. */
static const char *
jwt(const char *payload)
{
	static char	out[8192];
	char		p[4096];

	sodium_bin2base64(p, sizeof(p), (const unsigned char *)payload, strlen(payload),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(out, sizeof(out), "eyJhbGciOiJSUzI1NiJ9.%s.c2ln", p);
	return out;
}

/* The reason claims are refused against issuer I, client C, nonce N at time 1000000, or "". */
static const char *
claims_why(const char *token)
{
	char		 sub[256], user[128];
	const char	*why = answer_id_claims(token, "I", "C", "N", 1000000, sub, sizeof(sub), user,
			    sizeof(user));

	return why != NULL ? why : "";
}

/* Check claims against issuer I, client C, nonce N at time 1000000; want the user or NULL. */
static int
claims(const char *token, const char *want_user)
{
	char		 sub[256], user[128];
	const char	*why = answer_id_claims(token, "I", "C", "N", 1000000, sub, sizeof(sub), user,
			    sizeof(user));

	if (want_user == NULL)
		return why != NULL;
	return why == NULL && strcmp(user, want_user) == 0;
}

#define GOOD	"\"iss\":\"I\",\"aud\":\"C\",\"nonce\":\"N\",\"exp\":1000100,\"iat\":999990"

/* Each refusal names what was wrong. */
static void
id_claims_reasons(void)
{
	static const struct {
		const char	*name, *payload, *why_has;
	} c[] = {
		{ "issuer", "{\"iss\":\"J\",\"aud\":\"C\",\"nonce\":\"N\",\"exp\":1000100,"
		    "\"iat\":999990,\"sub\":\"u\"}", "issuer" },
		{ "audience", "{\"iss\":\"I\",\"aud\":\"D\",\"nonce\":\"N\",\"exp\":1000100,"
		    "\"iat\":999990,\"sub\":\"u\"}", "audience" },
		{ "azp", "{\"iss\":\"I\",\"aud\":\"C\",\"azp\":\"D\",\"nonce\":\"N\","
		    "\"exp\":1000100,\"iat\":999990,\"sub\":\"u\"}", "authorized party (azp)" },
		{ "nonce", "{\"iss\":\"I\",\"aud\":\"C\",\"nonce\":\"M\",\"exp\":1000100,"
		    "\"iat\":999990,\"sub\":\"u\"}", "nonce" },
		{ "expiry", "{\"iss\":\"I\",\"aud\":\"C\",\"nonce\":\"N\",\"exp\":999000,"
		    "\"iat\":999990,\"sub\":\"u\"}", "expired" },
	};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		tap_ok(strstr(claims_why(jwt(c[i].payload)), c[i].why_has) != NULL,
		    "claims: a wrong %s is named as such", c[i].name);
}

/* A refresh's ID token (nonce NULL): any nonce or none; a login's must carry its own. */
static void
id_claims_refresh(void)
{
	char		 sub[256], user[128];
	const char	*none = jwt("{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1000100,"
			    "\"iat\":999990,\"sub\":\"u\"}");

	tap_ok(answer_id_claims(none, "I", "C", NULL, 1000000, sub, sizeof(sub), user,
	    sizeof(user)) == NULL && strcmp(sub, "u") == 0, "claims: a refresh's without nonce");
	tap_ok(strstr(claims_why(none), "nonce") != NULL, "claims: a login's without nonce is "
	    "refused");
	tap_ok(answer_id_claims(jwt("{\"iss\":\"I\",\"aud\":\"C\",\"nonce\":\"M\",\"exp\":"
	    "1000100,\"iat\":999990,\"sub\":\"u\"}"), "I", "C", NULL, 1000000, sub, sizeof(sub),
	    user, sizeof(user)) == NULL, "claims: a refresh's nonce is not checked");
	tap_ok(answer_id_claims(jwt("{\"iss\":\"I\",\"aud\":\"D\",\"exp\":1000100,"
	    "\"iat\":999990,\"sub\":\"u\"}"), "I", "C", NULL, 1000000, sub, sizeof(sub), user,
	    sizeof(user)) != NULL, "claims: a refresh's for another audience is refused");
}

static void
id_claims(void)
{
	char big[400];

	tap_ok(claims(jwt("{" GOOD ",\"sub\":\"u-1\",\"preferred_username\":\"alice\"}"), "alice"),
	    "claims: a good ID token");
	tap_ok(claims(jwt("{" GOOD ",\"sub\":\"u-1\"}"), "u-1"), "claims: no username: sub");
	tap_ok(claims(jwt("{" GOOD ",\"sub\":\"u-1\",\"preferred_username\":\"a<b>\"}"), "u-1"),
	    "claims: an odd username falls back to sub");
	tap_ok(claims(jwt("{" GOOD ",\"sub\":\"u-1\",\"preferred_username\":\"a b\"}"), "u-1"),
	    "claims: a username with a space falls back to sub");
	tap_ok(claims(jwt("{" GOOD ",\"sub\":\"u-1\",\"preferred_username\":7}"), "u-1"),
	    "claims: a username that is no string falls back to sub");
	tap_ok(claims(jwt("{\"iss\":\"I\",\"aud\":[\"C\",\"x\"],\"azp\":\"C\",\"nonce\":\"N\","
	    "\"exp\":1000100,\"iat\":999990,\"sub\":\"u\"}"), "u"), "claims: aud array with azp");
	tap_ok(claims(jwt("{\"iss\":\"I\",\"aud\":[\"C\"],\"nonce\":\"N\",\"exp\":1000100,"
	    "\"iat\":999990,\"sub\":\"u\"}"), NULL), "claims: aud array without azp is refused");
	tap_ok(claims(jwt("{\"iss\":\"I\",\"aud\":\"C\",\"azp\":\"D\",\"nonce\":\"N\",\"exp\":"
	    "1000100,\"iat\":999990,\"sub\":\"u\"}"), NULL), "claims: another azp is refused");
	tap_ok(claims(jwt("{\"iss\":\"I\",\"aud\":[\"C\",7],\"azp\":\"C\",\"nonce\":\"N\",\"exp\":"
	    "1000100,\"iat\":999990,\"sub\":\"u\"}"), NULL), "claims: a non-string audience is "
	    "refused");
	tap_ok(claims(jwt("{\"iss\":\"J\",\"aud\":\"C\",\"nonce\":\"N\",\"exp\":1000100,\"iat\":"
	    "999990,\"sub\":\"u\"}"), NULL), "claims: another issuer is refused");
	tap_ok(claims(jwt("{\"iss\":[\"I\"],\"aud\":\"C\",\"nonce\":\"N\",\"exp\":1000100,\"iat\":"
	    "999990,\"sub\":\"u\"}"), NULL), "claims: a non-string issuer is refused");
	tap_ok(claims(jwt("{\"iss\":\"I\",\"aud\":\"C\",\"nonce\":\"M\",\"exp\":1000100,\"iat\":"
	    "999990,\"sub\":\"u\"}"), NULL), "claims: another nonce is refused");
	tap_ok(claims(jwt("{\"iss\":\"I\",\"aud\":\"C\",\"nonce\":1,\"exp\":1000100,\"iat\":999990,"
	    "\"sub\":\"u\"}"), NULL), "claims: a non-string nonce is refused");
	tap_ok(claims(jwt("{\"iss\":\"I\",\"aud\":\"C\",\"nonce\":\"N\",\"exp\":999000,\"iat\":"
	    "999990,\"sub\":\"u\"}"), NULL), "claims: an expired token is refused");
	tap_ok(claims(jwt("{\"iss\":\"I\",\"aud\":\"C\",\"nonce\":\"N\",\"exp\":1000100.5,\"iat\":"
	    "999990,\"sub\":\"u\"}"), NULL), "claims: a fractional exp is refused");
	tap_ok(claims(jwt("{\"iss\":\"I\",\"aud\":\"C\",\"nonce\":\"N\",\"exp\":9223372036854775807,"
	    "\"iat\":999990,\"sub\":\"u\"}"), NULL), "claims: a huge exp is refused");
	tap_ok(claims(jwt("{\"iss\":\"I\",\"aud\":\"C\",\"nonce\":\"N\",\"exp\":1000100,\"iat\":"
	    "\"999990\",\"sub\":\"u\"}"), NULL), "claims: a string iat is refused");
	tap_ok(claims(jwt("{\"iss\":\"I\",\"aud\":\"C\",\"nonce\":\"N\",\"exp\":1000100,\"iat\":"
	    "1000500,\"sub\":\"u\"}"), NULL), "claims: an iat in the future is refused");
	tap_ok(claims(jwt("{" GOOD ",\"sub\":7}"), NULL), "claims: a non-string sub is refused");
	tap_ok(claims(jwt("{" GOOD "}"), NULL), "claims: no sub is refused");
	memset(big, 'x', sizeof(big));
	memcpy(big, "{" GOOD ",\"sub\":\"", sizeof(GOOD) + 8);
	snprintf(big + sizeof(GOOD) + 8 + 256, 10, "\"}");
	tap_ok(claims(jwt(big), NULL), "claims: a sub over 255 characters is refused");
	tap_ok(claims(jwt("{" GOOD ",\"sub\":\"u\",\"sub\":\"v\"}"), NULL),
	    "claims: a repeated key is refused");
	tap_ok(claims(jwt("[\"I\"]"), NULL), "claims: a payload that is no object is refused");
	tap_ok(claims("eyJhbGciOiJSUzI1NiJ9.e30", NULL), "claims: two parts are refused");
	tap_ok(claims("eyJhbGciOiJSUzI1NiJ9.e30.c2ln.x", NULL), "claims: four parts are refused");
	tap_ok(claims("eyJhbGciOiJSUzI1NiJ9.e3=0.c2ln", NULL), "claims: bad base64url is refused");
	tap_ok(claims("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1In0.", NULL), "claims: an unsigned token "
	    "is refused");
	tap_ok(claims("not a jwt", NULL), "claims: no JWT at all is refused");
}

int
main(void)
{
	size_t i;

	if (sodium_init() < 0)
		return 1;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		token_case(i);
	token_edges();
	interactions();
	id_claims();
	id_claims_reasons();
	id_claims_refresh();
	return tap_done();
}
