/* Unit tests of fcgi/form.c: form bodies, HTTP Basic credentials and Content-Type matching. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fcgi.h"
#include "tests/unit/tap.h"

/* Parse a copy of s (the parser writes into its buffer); returns the form_parse result. */
static int
parse(const char *s, struct form *f)
{
	static char	buf[HTTP_BODY_MAX + 1];
	size_t		len = strlen(s);

	memcpy(buf, s, len + 1);
	return form_parse(buf, len, f);
}

/* Whether parameter key has exactly the value want (NULL: absent or empty). */
static int
has(const struct form *f, const char *key, const char *want)
{
	const char	*v = form_get(f, key);

	if (want == NULL)
		return v == NULL;
	return v != NULL && strcmp(v, want) == 0;
}

/* Well-formed bodies. */
static void
test_form_valid(void)
{
	struct form	f;

	tap_ok(parse("", &f) == FORM_OK && f.n == 0, "empty body parses to no parameters");
	tap_ok(parse("a=b&c=d", &f) == FORM_OK && f.n == 2 && has(&f, "a", "b") &&
	    has(&f, "c", "d"), "a=b&c=d");
	tap_ok(parse("scope=openid+transcribe", &f) == FORM_OK &&
	    has(&f, "scope", "openid transcribe"), "'+' decodes to a space");
	tap_ok(parse("scope=transcribe%20streams", &f) == FORM_OK &&
	    has(&f, "scope", "transcribe streams"), "%%20 decodes to a space");
	tap_ok(parse("k%3D=v%26w%2b", &f) == FORM_OK && has(&f, "k=", "v&w+"),
	    "encoded separators stay data");
	tap_ok(parse("scope=openid transcribe", &f) == FORM_OK &&
	    has(&f, "scope", "openid transcribe"), "a raw space is accepted");
	tap_ok(parse("a=1&&b=2&", &f) == FORM_OK && f.n == 2 && has(&f, "b", "2"),
	    "empty segments are skipped");
	tap_ok(parse("scope=&a", &f) == FORM_OK && f.n == 2 && has(&f, "scope", NULL) &&
	    has(&f, "a", NULL), "empty values count as omitted");
	tap_ok(parse("name=%C3%A9t%C3%A9", &f) == FORM_OK && has(&f, "name", "\xc3\xa9t\xc3\xa9"),
	    "UTF-8 values decode");
	tap_ok(parse("a=b", &f) == FORM_OK && has(&f, "missing", NULL),
	    "an absent parameter is NULL");
}

/* Malformed bodies, each refused with the right reason. */
static void
test_form_invalid(void)
{
	struct form	f;

	tap_ok(parse("a=%zz", &f) == FORM_EENCODING, "%%zz is invalid percent-encoding");
	tap_ok(parse("a=%4", &f) == FORM_EENCODING, "truncated %% escape is refused");
	tap_ok(parse("a=%", &f) == FORM_EENCODING, "lone %% is refused");
	tap_ok(parse("%zz=a", &f) == FORM_EENCODING, "bad escape in a key is refused");
	tap_ok(parse("a=1&a=2", &f) == FORM_EDUPLICATE, "duplicate key is refused");
	tap_ok(parse("a=1&%61=2", &f) == FORM_EDUPLICATE, "duplicate after decoding is refused");
	tap_ok(parse("a=&a=2", &f) == FORM_EDUPLICATE, "duplicate with an empty value is refused");
	tap_ok(parse("=v", &f) == FORM_EEMPTYKEY, "empty key is refused");
	tap_ok(parse("a=%ff", &f) == FORM_ETEXT, "non-UTF-8 %%ff is refused");
	tap_ok(parse("a=%C0%AF", &f) == FORM_ETEXT, "overlong UTF-8 is refused");
	tap_ok(parse("a=%ED%A0%80", &f) == FORM_ETEXT, "UTF-16 surrogate is refused");
	tap_ok(parse("a=%E2%82", &f) == FORM_ETEXT, "truncated UTF-8 is refused");
	tap_ok(parse("a=%0a", &f) == FORM_ETEXT, "newline is refused");
	tap_ok(parse("a=x%00y", &f) == FORM_ETEXT, "NUL is refused");
	tap_ok(parse("a=%7f", &f) == FORM_ETEXT, "DEL is refused");
	tap_ok(parse("a=%C2%85", &f) == FORM_ETEXT, "C1 control is refused");
	tap_ok(parse("a=\t", &f) == FORM_ETEXT, "raw tab is refused");
}

/* Bodies at the size limits. */
static void
test_form_long(void)
{
	struct form	 f;
	char		*s;
	size_t		 i, len = HTTP_BODY_MAX;

	s = malloc(len + 1);
	memcpy(s, "v=", 2);
	memset(s + 2, 'x', len - 2);
	s[len] = '\0';
	tap_ok(parse(s, &f) == FORM_OK && f.pairs[0].valuelen == len - 2,
	    "a %zu byte value parses", len - 2);
	for (i = 0; i + 4 <= len; i += 4)
		memcpy(s + i, "%41x", 4);
	tap_ok(parse(s, &f) == FORM_OK && f.n == 1, "a long key with escapes parses");
	s[0] = '\0';
	for (i = 0; i < FORM_MAX_PAIRS + 1; i++)
		snprintf(s + strlen(s), 16, "%sk%zu=v", i ? "&" : "", i);
	tap_ok(parse(s, &f) == FORM_ETOOMANY, "more than %d parameters are refused",
	    FORM_MAX_PAIRS);
	free(s);
}

/* Run form_basic on the base64 of raw, with the scheme word given. */
static int
basic(const char *scheme, const char *raw, const char **id, const char **secret)
{
	static char	header[512], buf[FORM_BASIC_MAX];

	snprintf(header, sizeof(header), "%s ", scheme);
	sodium_bin2base64(header + strlen(header), sizeof(header) - strlen(header),
	    (const unsigned char *)raw, strlen(raw), sodium_base64_VARIANT_ORIGINAL);
	return form_basic(header, buf, sizeof(buf), id, secret);
}

/* HTTP Basic client authentication. */
static void
test_basic(void)
{
	static char	 buf[FORM_BASIC_MAX];
	const char	*id = NULL, *secret = NULL;

	tap_ok(basic("Basic", "app1:s3cret", &id, &secret) == FORM_OK &&
	    strcmp(id, "app1") == 0 && strcmp(secret, "s3cret") == 0, "valid Basic credentials");
	tap_ok(basic("basic", "app1:s3cret", &id, &secret) == FORM_OK,
	    "the scheme is case-insensitive");
	tap_ok(basic("Basic", "my%20app:p%3Ass+w%25rd", &id, &secret) == FORM_OK &&
	    strcmp(id, "my app") == 0 && strcmp(secret, "p:ss w%rd") == 0,
	    "percent-encoded id and secret are decoded (RFC 6749 2.3.1)");
	tap_ok(basic("Basic", "app:a:b", &id, &secret) == FORM_OK && strcmp(secret, "a:b") == 0,
	    "the first colon splits");
	tap_ok(basic("Basic", "app1s3cret", &id, &secret) == FORM_ECOLON, "no colon is refused");
	tap_ok(basic("Basic", ":s3cret", &id, &secret) == FORM_EEMPTY, "empty id is refused");
	tap_ok(basic("Basic", "app1:", &id, &secret) == FORM_EEMPTY, "empty secret is refused");
	tap_ok(basic("Basic", "app1:%zz", &id, &secret) == FORM_EENCODING,
	    "bad percent-encoding is refused");
	tap_ok(basic("Basic", "app\n1:x", &id, &secret) == FORM_ETEXT,
	    "control character is refused");
	tap_ok(basic("Bearer", "app1:s3cret", &id, &secret) == FORM_ESCHEME,
	    "another scheme is refused");
	tap_ok(form_basic("Basic !!!!", buf, sizeof(buf), &id, &secret) == FORM_EBASE64,
	    "bad base64 is refused");
	tap_ok(form_basic("Basic YWJjOmRlZg", buf, sizeof(buf), &id, &secret) == FORM_EBASE64,
	    "base64 without padding is refused");
	tap_ok(form_basic("Basic YWJjOmRlZg== x", buf, sizeof(buf), &id, &secret) ==
	    FORM_EBASE64, "trailing garbage is refused");
	tap_ok(form_basic("Basic ", buf, sizeof(buf), &id, &secret) == FORM_EBASE64,
	    "empty credentials are refused");
	tap_ok(form_basic("Basic", buf, sizeof(buf), &id, &secret) == FORM_ESCHEME,
	    "scheme without credentials is refused");
	tap_ok(form_basic("", buf, sizeof(buf), &id, &secret) == FORM_ESCHEME,
	    "empty header is refused");
	tap_ok(form_basic("Basic YWJjOmRlZg==", buf, 4, &id, &secret) == FORM_EBASE64,
	    "credentials longer than the buffer are refused");
}

/* Content-Type matching. */
static void
test_content_type(void)
{
	tap_ok(form_content_type_ok("application/x-www-form-urlencoded"), "exact type");
	tap_ok(form_content_type_ok("application/x-www-form-urlencoded; charset=UTF-8"),
	    "type with charset");
	tap_ok(form_content_type_ok("Application/X-WWW-Form-URLEncoded;charset=utf-8"),
	    "case-insensitive type");
	tap_ok(!form_content_type_ok("application/json"), "JSON is refused");
	tap_ok(!form_content_type_ok("application/x-www-form-urlencodedx"),
	    "longer type is refused");
	tap_ok(!form_content_type_ok("multipart/form-data; boundary=x"), "multipart is refused");
	tap_ok(!form_content_type_ok(""), "empty type is refused");
	tap_ok(!form_content_type_ok(NULL), "missing type is refused");
}

int
main(void)
{
	test_form_valid();
	test_form_invalid();
	test_form_long();
	test_basic();
	test_content_type();
	return tap_done();
}
