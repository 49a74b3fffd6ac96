/*
 * Upstream answers are data.  A token endpoint's answer, an interaction answer and an ID
 * token's claims come from a server flowgate does not control: each is parsed here from bytes
 * into a validated result, or refused with a reason in flowgate's words.  Nothing here does
 * I/O, so the parsers are unit tested and fuzzed alone (tests/unit/test_answer.c, tests/fuzz/).
 * A reason never holds a token or a secret; upstream text quoted in one is cleaned first.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "daemon.h"

#define ANSWER_RETRY_DEFAULT	5	/* a 429 without a usable Retry-After */
#define ANSWER_RETRY_MAX	3600
#define ANSWER_QUOTE_MAX	96	/* upstream text quoted in a message, bytes */
#define ANSWER_ID_MAX		128	/* interactionId */
#define ANSWER_WS_MAX		2048	/* websocketUrl */
#define ANSWER_JWT_PART_MAX	8192	/* a decoded JWT header or payload */
#define ANSWER_SUB_MAX		255	/* OIDC Core 2: at most 255 ASCII characters */
#define ANSWER_SKEW_S		120
#define ANSWER_B64URL		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#define ANSWER_TIME_MAX		253402300799LL	/* 9999-12-31: later times are garbage */

/* Copy in (inlen bytes) to out as printable ASCII, anything else as '?', bounded by outlen. */
static void
answer_clean(char *out, size_t outlen, const char *in, size_t inlen)
{
	size_t i;

	if (outlen == 0)
		return;
	for (i = 0; i < inlen && i + 1 < outlen; i++)
		out[i] = (unsigned char)in[i] >= 0x20 && (unsigned char)in[i] < 0x7f &&
		    in[i] != '"' && in[i] != '\\' ? in[i] : '?';
	out[i] = '\0';
}

/*
 * True when s is an RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" )
 * *"=".  JWTs and opaque Keycloak tokens are; nothing else may reach a header or a reply.
 */
int
answer_token_ok(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || n > FG_TOKEN_MAX)
		return 0;
	while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
	    (s[i] >= '0' && s[i] <= '9') || (s[i] != '\0' && strchr("-._~+/", s[i]) != NULL)))
		i++;
	if (i == 0)
		return 0;
	while (i < n && s[i] == '=')
		i++;
	return i == n;
}

/* True for a character that may appear in a word quoted back to a browser or a log. */
static int
answer_safe_char(char c)
{
	return c > 0x20 && c < 0x7f && strchr("\"'\\<>`", c) == NULL;
}

/* v as a string of 1..max safe characters (see answer_safe_char), or NULL. */
static const char *
answer_word(json_t *v, size_t max)
{
	const char	*s = json_string_value(v);
	size_t		 i, n = json_string_length(v);

	if (s == NULL || n == 0 || n > max)
		return NULL;
	for (i = 0; i < n; i++)
		if (!answer_safe_char(s[i]))
			return NULL;
	return s;
}

/* Parse an upstream body as one JSON object; NULL and *why when it is anything else. */
static json_t *
answer_object(const char *body, size_t len, const char **why)
{
	json_error_t	 err;
	json_t		*j = NULL;
	size_t		 i;

	for (i = 0; i < len && body[i] != '\0' && strchr(" \t\r\n", body[i]) != NULL; i++)
		;
	*why = NULL;
	if (i == len)
		*why = "the upstream's answer is empty";
	else if (memchr(body, '\0', len) != NULL)
		*why = "the upstream's answer contains a NUL byte";
	else if (body[i] == '<')
		*why = "the upstream's answer is HTML, not JSON";
	else if ((j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err)) == NULL)
		/* jansson's text may quote the input (a token): only the kind of error is told */
		*why = strstr(err.text, "duplicate") != NULL ? "the upstream's answer repeats a "
		    "key" : "the upstream's answer is not valid JSON";
	else if (!json_is_object(j)) {
		*why = "the upstream's answer is not a JSON object";
		json_decref(j);
	}
	return *why == NULL ? j : NULL;
}

/* Set a failed result; the secrets already taken from the answer are dropped. */
__attribute__((format(printf, 4, 5)))
static void
answer_fail(struct upstream_token *t, enum upstream_outcome outcome, const char *code,
    const char *fmt, ...)
{
	va_list ap;

	t->outcome = outcome;
	snprintf(t->code, sizeof(t->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(t->message, sizeof(t->message), fmt, ap);
	va_end(ap);
	seal_secret_free(t->access_token);
	seal_secret_free(t->refresh_token);
	seal_secret_free(t->id_token);
	t->access_token = t->refresh_token = t->id_token = NULL;
	t->expires_in = 0;
	t->scope_given = 0;
	t->scope[0] = '\0';
}

/* A token-like field into guarded memory: 0 (absent or taken), -1 unusable, -2 no memory. */
static int
answer_take(json_t *j, const char *name, struct fg_secret **out)
{
	json_t *v = json_object_get(j, name);

	if (v == NULL)
		return 0;
	if (!json_is_string(v) || !answer_token_ok(json_string_value(v), json_string_length(v)))
		return -1;
	*out = seal_secret_from(json_string_value(v), json_string_length(v));
	return *out != NULL ? 0 : -2;
}

/*
 * expires_in into seconds: a whole or fractional (floored) count of at least 1, clamped to
 * UPSTREAM_EXPIRES_MAX so adding it to a time never overflows.  RFC 6749 §5.1 only
 * RECOMMENDS the field: without it the token is taken to live UPSTREAM_EXPIRES_DEFAULT seconds,
 * short enough that a shorter real lifetime costs one refused call at most.
 */
static const char *
answer_expires(json_t *v, long *out)
{
	json_int_t	i;
	double		d;

	if (v == NULL) {
		*out = UPSTREAM_EXPIRES_DEFAULT;
		return NULL;
	}
	if (json_is_integer(v)) {
		if ((i = json_integer_value(v)) < 1)
			return "the upstream's expires_in is zero or negative";
		*out = i > UPSTREAM_EXPIRES_MAX ? UPSTREAM_EXPIRES_MAX : (long)i;
		return NULL;
	}
	if (!json_is_real(v))
		return "the upstream's expires_in is not a number";
	if (!((d = json_real_value(v)) >= 1))
		return "the upstream's expires_in is less than one second";
	*out = d >= UPSTREAM_EXPIRES_MAX ? UPSTREAM_EXPIRES_MAX : (long)d;
	return NULL;
}

/* The granted scope (canonical, as given: nothing added); NULL, or why it is unusable. */
static const char *
answer_scope(json_t *v, struct upstream_token *t)
{
	if (v == NULL)
		return NULL;	/* RFC 6749 §5.1: omitted means as requested */
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v) ||
	    scope_canonical(json_string_value(v), t->scope, sizeof(t->scope), 0) == -1 ||
	    t->scope[0] == '\0')
		return "the upstream's scope is not a list of scope tokens (at most 16, 255 bytes)";
	t->scope_given = 1;
	return NULL;
}

/* Read a 200 answer: RFC 6749 §5.1 fields only; other fields (Keycloak's extras) ignored. */
static void
answer_token_ok200(const char *body, size_t len, struct upstream_token *t)
{
	json_t		*j, *tt;
	const char	*bad = NULL;
	int		 r;

	if ((j = answer_object(body, len, &bad)) == NULL) {
		answer_fail(t, UPSTREAM_BAD_RESPONSE, "temporarily_unavailable", "%s", bad);
		return;
	}
	tt = json_object_get(j, "token_type");
	if (json_object_get(j, "access_token") == NULL)
		bad = "the upstream's token answer has no access_token";
	else if ((r = answer_take(j, "access_token", &t->access_token)) != 0)
		bad = r == -2 ? "out of memory" : "the upstream's access_token is not an RFC 6750 "
		    "token of at most 16384 bytes";
	else if (!json_is_string(tt) || strcasecmp(json_string_value(tt), "bearer") != 0 ||
	    json_string_length(tt) != 6)
		bad = "the upstream's token_type is not Bearer";
	else if ((bad = answer_expires(json_object_get(j, "expires_in"), &t->expires_in)) != NULL)
		;
	else if ((bad = answer_scope(json_object_get(j, "scope"), t)) != NULL)
		;
	else if ((r = answer_take(j, "refresh_token", &t->refresh_token)) != 0 ||
	    (r = answer_take(j, "id_token", &t->id_token)) != 0)
		bad = r == -2 ? "out of memory" : "the upstream's refresh_token or id_token is not "
		    "an RFC 6750 token of at most 16384 bytes";
	json_decref(j);	/* jansson's copies are zeroed by the daemon's allocator */
	if (bad != NULL) {
		answer_fail(t, UPSTREAM_BAD_RESPONSE, "temporarily_unavailable", "%s", bad);
		return;
	}
	t->outcome = UPSTREAM_OK;
	t->code[0] = '\0';
}

/* Seconds from a Retry-After header (delta-seconds only), bounded; def when unusable. */
static long
answer_retry_after(const char *h, long def)
{
	long	v = 0;
	int	digits = 0;

	if (h == NULL)
		return def;
	while (*h == ' ' || *h == '\t')
		h++;
	for (; *h >= '0' && *h <= '9'; h++)
		if (++digits <= 9)
			v = v * 10 + (*h - '0');
	while (*h == ' ' || *h == '\t' || *h == '\r' || *h == '\n')
		h++;
	if (digits == 0 || *h != '\0')
		return def;	/* an HTTP-date, or garbage */
	return digits > 9 || v > ANSWER_RETRY_MAX ? ANSWER_RETRY_MAX : v < 1 ? 1 : v;
}

/* The upstream's 4xx error codes flowgate understands, and what its own caller is told. */
static const struct {
	const char	*upstream;
	const char	*code;
	const char	*what;
} answer_errors[] = {
	{ "invalid_scope", "invalid_scope", "the upstream refused the scope" },
	{ "scope_invalid", "invalid_scope", "the upstream refused the scope" },	/* glewlwyd */
	{ "unauthorized_client", "unauthorized_client",
	    "the upstream does not allow this grant for flowgate's client" },
	{ "unsupported_grant_type", "unauthorized_client",
	    "the upstream does not allow this grant for flowgate's client" },
	{ "invalid_request", "unauthorized_client", "the upstream refused the request as invalid" },
	{ "invalid_grant", "invalid_grant", "the upstream refused the grant" },
	{ "invalid_client", "temporarily_unavailable",
	    "the upstream refused flowgate's own credential for this connection; an operator must "
	    "fix the connection's secret" },
};

/* Read a 4xx answer (400, 401, 403: RFC 6749 §5.2) into the error flowgate's caller gets. */
static void
answer_token_refused(long status, const char *body, size_t len, struct upstream_token *t)
{
	json_t		*j = NULL, *e, *d;
	char		 quote[ANSWER_QUOTE_MAX + 1] = "";
	const char	*why;
	size_t		 i;

	if (len > 0 && (j = answer_object(body, len, &why)) != NULL) {
		e = json_object_get(j, "error");
		d = json_object_get(j, "error_description");
		for (i = 0; json_is_string(e) && json_string_value(e)[i] != '\0' &&
		    i + 1 < sizeof(t->error); i++)
			t->error[i] = json_string_value(e)[i];
		answer_clean(t->error, sizeof(t->error), t->error, i);
		if (json_is_string(d))
			answer_clean(quote, sizeof(quote), json_string_value(d),
			    json_string_length(d));
		json_decref(j);
	}
	for (i = 0; i < sizeof(answer_errors) / sizeof(answer_errors[0]); i++) {
		if (strcmp(t->error, answer_errors[i].upstream) == 0 && (status == 400 ||
		    status == 401 || status == 403)) {
			answer_fail(t, UPSTREAM_REFUSED, answer_errors[i].code,
			    "%s (HTTP %ld %s%s%s)", answer_errors[i].what, status, t->error,
			    *quote ? ": " : "", quote);
			return;
		}
	}
	if (status == 401 || status == 403)	/* Corti: no body, the reason in WWW-Authenticate */
		answer_fail(t, UPSTREAM_REFUSED, "temporarily_unavailable", "the upstream refused "
		    "flowgate's own credential for this connection (HTTP %ld%s%s); an operator "
		    "must fix the connection's secret", status, *t->error ? " " : "", t->error);
	else
		answer_fail(t, UPSTREAM_REFUSED, "temporarily_unavailable", "the upstream refused "
		    "the token request (HTTP %ld%s%s)", status, *t->error ? " " : "", t->error);
}

/*
 * Turn a token endpoint's answer (HTTP status, body, Retry-After header or NULL) into t: a
 * validated token (outcome UPSTREAM_OK, code "") or the error flowgate's caller gets.
 */
void
answer_token(long http_status, const char *body, size_t len, const char *retry_after,
    struct upstream_token *t)
{
	t->http_status = http_status;
	if (body == NULL)
		len = 0;
	if (http_status == 200)
		answer_token_ok200(body, len, t);
	else if (http_status == 429) {
		t->retry_after = answer_retry_after(retry_after, ANSWER_RETRY_DEFAULT);
		answer_fail(t, UPSTREAM_UNAVAILABLE, "temporarily_unavailable", "the upstream is "
		    "limiting flowgate's request rate (HTTP 429); retry after %ld s",
		    t->retry_after);
	} else if (http_status >= 400 && http_status < 500)
		answer_token_refused(http_status, body, len, t);
	else if (http_status >= 500 && http_status < 600) {
		t->retry_after = http_status == 503 ? answer_retry_after(retry_after, 0) : 0;
		answer_fail(t, UPSTREAM_UNAVAILABLE, "temporarily_unavailable",
		    "the upstream failed (HTTP %ld)", http_status);
	} else if (http_status >= 300 && http_status < 400)
		answer_fail(t, UPSTREAM_BAD_RESPONSE, "temporarily_unavailable", "the upstream "
		    "answered with a redirect (HTTP %ld), which flowgate does not follow",
		    http_status);
	else
		answer_fail(t, UPSTREAM_BAD_RESPONSE, "temporarily_unavailable", "the upstream "
		    "answered HTTP %ld, not a token answer", http_status);
}

/* Split an URL's authority after its scheme into host and port; -1 when it has none. */
static int
answer_authority(const char *after, const char **host, size_t *hostlen, long *port)
{
	size_t		 n = strcspn(after, "/?#"), h;
	const char	*colon;
	char		*end;

	if (n == 0 || memchr(after, '@', n) != NULL)
		return -1;
	if (after[0] == '[') {		/* an IPv6 literal */
		const char *close = memchr(after, ']', n);

		if (close == NULL)
			return -1;
		h = (size_t)(close - after) + 1;
	} else
		h = (colon = memchr(after, ':', n)) != NULL ? (size_t)(colon - after) : n;
	*host = after;
	*hostlen = h;
	*port = 443;
	if (h == n)
		return h > 0 ? 0 : -1;
	if (after[h] != ':' || h + 1 == n || !(after[h + 1] >= '1' && after[h + 1] <= '9'))
		return -1;	/* no port, or one written with a sign or leading zeros */
	*port = strtol(after + h + 1, &end, 10);
	return h > 0 && end == after + n && *port > 0 && *port < 65536 ? 0 : -1;
}

/* True when ws is wss:// on the same host and port as api_base (https://). */
static int
answer_same_origin(const char *ws, const char *api_base)
{
	const char	*wh, *ah;
	size_t		 wn, an;
	long		 wp, ap;

	return strncmp(ws, "wss://", 6) == 0 && strncmp(api_base, "https://", 8) == 0 &&
	    answer_authority(ws + 6, &wh, &wn, &wp) == 0 &&
	    answer_authority(api_base + 8, &ah, &an, &ap) == 0 &&
	    wn == an && strncasecmp(wh, ah, wn) == 0 && wp == ap;
}

/*
 * Read the upstream's answer to an interaction create: interactionId (a short word) and
 * websocketUrl (wss:// on the API's own host and port, at most 2048 bytes, nothing odd in
 * it).  NULL and both copied out, or why not.
 */
const char *
answer_interaction(const char *body, size_t len, const char *api_base, char *id, size_t idlen,
    char *ws, size_t wslen)
{
	json_t		*j;
	const char	*i, *w, *bad = NULL;

	if ((j = answer_object(body ? body : "", body ? len : 0, &bad)) == NULL)
		return bad;
	i = answer_word(json_object_get(j, "interactionId"), ANSWER_ID_MAX);
	w = answer_word(json_object_get(j, "websocketUrl"), ANSWER_WS_MAX);
	if (i == NULL || strlen(i) >= idlen)
		bad = "the upstream's interactionId is missing or not a short word";
	else if (w == NULL || strlen(w) >= wslen)
		bad = "the upstream's websocketUrl is missing, too long or has odd characters";
	else if (!answer_same_origin(w, api_base))
		bad = "the upstream's websocketUrl is not wss:// on the connection's API host; "
		    "refused";
	else {
		snprintf(id, idlen, "%s", i);
		snprintf(ws, wslen, "%s", w);
	}
	json_decref(j);
	return bad;
}

/* Decode one base64url part of a JWT into a JSON object; NULL if it is not one. */
static json_t *
answer_jwt_part(const char *p, size_t n)
{
	uint8_t	 buf[ANSWER_JWT_PART_MAX];
	size_t	 len;
	json_t	*j;

	if (n == 0 || sodium_base642bin(buf, sizeof(buf), p, n, NULL, &len, NULL,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return NULL;
	j = memchr(buf, '\0', len) == NULL ? json_loadb((const char *)buf, len,
	    JSON_REJECT_DUPLICATES, NULL) : NULL;
	sodium_memzero(buf, sizeof(buf));
	if (!json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* A JWT's claims: three base64url parts, a signed header, a JSON object payload; or NULL. */
static json_t *
answer_jwt_claims(const char *jwt)
{
	const char	*a = strchr(jwt, '.'), *b, *alg;
	json_t		*h, *c = NULL;

	if (a == NULL || (b = strchr(a + 1, '.')) == NULL || b[1] == '\0' ||
	    strspn(b + 1, ANSWER_B64URL) != strlen(b + 1) ||
	    (h = answer_jwt_part(jwt, (size_t)(a - jwt))) == NULL)
		return NULL;
	alg = json_string_value(json_object_get(h, "alg"));
	if (alg != NULL && strcmp(alg, "none") != 0)
		c = answer_jwt_part(a + 1, (size_t)(b - a - 1));
	json_decref(h);
	return c;
}

/* True when the aud claim is client_id or holds it (then azp must be there, checked apart). */
static int
answer_audience_ok(json_t *c, const char *client_id)
{
	json_t	*aud = json_object_get(c, "aud"), *v, *azp = json_object_get(c, "azp");
	size_t	 i;
	int	 found = 0;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), client_id) == 0;
	if (!json_is_array(aud))
		return 0;
	json_array_foreach(aud, i, v) {
		if (!json_is_string(v))
			return 0;
		found |= strcmp(json_string_value(v), client_id) == 0;
	}
	return found && azp != NULL;
}

/* A time claim as seconds since the epoch; -1 when absent, not an integer or absurd. */
static json_int_t
answer_time(json_t *c, const char *name)
{
	json_t *v = json_object_get(c, name);

	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > ANSWER_TIME_MAX)
		return -1;
	return json_integer_value(v);
}

/* True when the string claim name is exactly want. */
static int
answer_claim_is(json_t *c, const char *name, const char *want)
{
	json_t *v = json_object_get(c, name);

	return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
	    strcmp(json_string_value(v), want) == 0;
}

/* Why the claims c are not a valid ID token for this login (nonce NULL: a refresh); or NULL. */
static const char *
answer_claims_why(json_t *c, const char *issuer, const char *client_id, const char *nonce,
    time_t now)
{
	json_int_t exp = answer_time(c, "exp"), iat = answer_time(c, "iat");

	if (!answer_claim_is(c, "iss", issuer))
		return "the ID token's issuer is not the connection's realm";
	if (json_object_get(c, "azp") != NULL && !answer_claim_is(c, "azp", client_id))
		return "the ID token's authorized party (azp) is not this client";
	if (!answer_audience_ok(c, client_id))
		return "the ID token's audience is not this client (or names others without azp)";
	if (nonce != NULL && !answer_claim_is(c, "nonce", nonce))
		return "the ID token's nonce does not match this login";
	if (exp == -1 || iat == -1 || (json_object_get(c, "nbf") != NULL &&
	    answer_time(c, "nbf") == -1))
		return "the ID token's exp, iat or nbf is not a time";
	if (exp + ANSWER_SKEW_S < (json_int_t)now || iat > (json_int_t)now + ANSWER_SKEW_S ||
	    (json_object_get(c, "nbf") != NULL &&
	    answer_time(c, "nbf") > (json_int_t)now + ANSWER_SKEW_S))
		return "the ID token has expired or is not valid yet";
	if (answer_word(json_object_get(c, "sub"), ANSWER_SUB_MAX) == NULL)
		return "the ID token names no usable subject";
	return NULL;
}

/*
 * Check an ID token's claims for a login (issuer, client, nonce, times; its signature was
 * checked before: daemon/idtoken.c); NULL when good, with sub and the user's name (its
 * preferred_username when that is a plain word, else sub) copied out; else why not.  A NULL
 * nonce (a refresh's ID token, OIDC Core 12.2) leaves the nonce claim unchecked.
 */
const char *
answer_id_claims(const char *jwt, const char *issuer, const char *client_id, const char *nonce,
    time_t now, char *sub, size_t sublen, char *user, size_t userlen)
{
	json_t		*c = answer_jwt_claims(jwt);
	const char	*why, *s, *name;

	if (c == NULL)
		return "the ID token cannot be read";
	if ((why = answer_claims_why(c, issuer, client_id, nonce, now)) == NULL) {
		s = json_string_value(json_object_get(c, "sub"));
		name = answer_word(json_object_get(c, "preferred_username"), userlen - 1);
		if (strlen(s) >= sublen || strlen(s) >= userlen)
			why = "the ID token's subject is too long";
		else {
			snprintf(sub, sublen, "%s", s);
			snprintf(user, userlen, "%s", name != NULL ? name : s);
		}
	}
	json_decref(c);
	return why;
}
