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

	TEST_START("empty body parses to no parameters");
	ASSERT_INT_EQ(parse("", &f), FORM_OK);
	ASSERT_INT_EQ(f.n, 0);
	TEST_DONE();
	TEST_START("a=b&c=d");
	ASSERT_INT_EQ(parse("a=b&c=d", &f), FORM_OK);
	ASSERT_INT_EQ(f.n, 2);
	ASSERT_TRUE(has(&f, "a", "b"));
	ASSERT_TRUE(has(&f, "c", "d"));
	TEST_DONE();
	TEST_START("'+' decodes to a space");
	ASSERT_INT_EQ(parse("scope=openid+transcribe", &f), FORM_OK);
	ASSERT_TRUE(has(&f, "scope", "openid transcribe"));
	TEST_DONE();
	tap_ok(parse("scope=transcribe%20streams", &f) == FORM_OK &&
	    has(&f, "scope", "transcribe streams"), "%%20 decodes to a space");
	TEST_START("encoded separators stay data");
	ASSERT_INT_EQ(parse("k%3D=v%26w%2b", &f), FORM_OK);
	ASSERT_TRUE(has(&f, "k=", "v&w+"));
	TEST_DONE();
	TEST_START("a raw space is accepted");
	ASSERT_INT_EQ(parse("scope=openid transcribe", &f), FORM_OK);
	ASSERT_TRUE(has(&f, "scope", "openid transcribe"));
	TEST_DONE();
	TEST_START("empty segments are skipped");
	ASSERT_INT_EQ(parse("a=1&&b=2&", &f), FORM_OK);
	ASSERT_INT_EQ(f.n, 2);
	ASSERT_TRUE(has(&f, "b", "2"));
	TEST_DONE();
	TEST_START("empty values count as omitted");
	ASSERT_INT_EQ(parse("scope=&a", &f), FORM_OK);
	ASSERT_INT_EQ(f.n, 2);
	ASSERT_TRUE(has(&f, "scope", NULL));
	ASSERT_TRUE(has(&f, "a", NULL));
	TEST_DONE();
	TEST_START("UTF-8 values decode");
	ASSERT_INT_EQ(parse("name=%C3%A9t%C3%A9", &f), FORM_OK);
	ASSERT_TRUE(has(&f, "name", "\xc3\xa9t\xc3\xa9"));
	TEST_DONE();
	TEST_START("an absent parameter is NULL");
	ASSERT_INT_EQ(parse("a=b", &f), FORM_OK);
	ASSERT_TRUE(has(&f, "missing", NULL));
	TEST_DONE();
}

/* Malformed bodies, each refused with the right reason. */
static void
test_form_invalid(void)
{
	struct form	f;

	tap_ok(parse("a=%zz", &f) == FORM_EENCODING, "%%zz is invalid percent-encoding");
	tap_ok(parse("a=%4", &f) == FORM_EENCODING, "truncated %% escape is refused");
	tap_ok(parse("a=%", &f) == FORM_EENCODING, "lone %% is refused");
	TEST_START("bad escape in a key is refused");
	ASSERT_INT_EQ(parse("%zz=a", &f), FORM_EENCODING);
	TEST_DONE();
	TEST_START("duplicate key is refused");
	ASSERT_INT_EQ(parse("a=1&a=2", &f), FORM_EDUPLICATE);
	TEST_DONE();
	TEST_START("duplicate after decoding is refused");
	ASSERT_INT_EQ(parse("a=1&%61=2", &f), FORM_EDUPLICATE);
	TEST_DONE();
	TEST_START("duplicate with an empty value is refused");
	ASSERT_INT_EQ(parse("a=&a=2", &f), FORM_EDUPLICATE);
	TEST_DONE();
	TEST_START("empty key is refused");
	ASSERT_INT_EQ(parse("=v", &f), FORM_EEMPTYKEY);
	TEST_DONE();
	tap_ok(parse("a=%ff", &f) == FORM_ETEXT, "non-UTF-8 %%ff is refused");
	TEST_START("overlong UTF-8 is refused");
	ASSERT_INT_EQ(parse("a=%C0%AF", &f), FORM_ETEXT);
	TEST_DONE();
	TEST_START("UTF-16 surrogate is refused");
	ASSERT_INT_EQ(parse("a=%ED%A0%80", &f), FORM_ETEXT);
	TEST_DONE();
	TEST_START("truncated UTF-8 is refused");
	ASSERT_INT_EQ(parse("a=%E2%82", &f), FORM_ETEXT);
	TEST_DONE();
	TEST_START("newline is refused");
	ASSERT_INT_EQ(parse("a=%0a", &f), FORM_ETEXT);
	TEST_DONE();
	TEST_START("NUL is refused");
	ASSERT_INT_EQ(parse("a=x%00y", &f), FORM_ETEXT);
	TEST_DONE();
	TEST_START("DEL is refused");
	ASSERT_INT_EQ(parse("a=%7f", &f), FORM_ETEXT);
	TEST_DONE();
	TEST_START("C1 control is refused");
	ASSERT_INT_EQ(parse("a=%C2%85", &f), FORM_ETEXT);
	TEST_DONE();
	TEST_START("raw tab is refused");
	ASSERT_INT_EQ(parse("a=\t", &f), FORM_ETEXT);
	TEST_DONE();
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
	TEST_START("a long key with escapes parses");
	ASSERT_INT_EQ(parse(s, &f), FORM_OK);
	ASSERT_INT_EQ(f.n, 1);
	TEST_DONE();
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

	TEST_START("valid Basic credentials");
	ASSERT_INT_EQ(basic("Basic", "app1:s3cret", &id, &secret), FORM_OK);
	ASSERT_STRING_EQ(id, "app1");
	ASSERT_STRING_EQ(secret, "s3cret");
	TEST_DONE();
	TEST_START("the scheme is case-insensitive");
	ASSERT_INT_EQ(basic("basic", "app1:s3cret", &id, &secret), FORM_OK);
	TEST_DONE();
	TEST_START("percent-encoded id and secret are decoded (RFC 6749 2.3.1)");
	ASSERT_INT_EQ(basic("Basic", "my%20app:p%3Ass+w%25rd", &id, &secret), FORM_OK);
	ASSERT_STRING_EQ(id, "my app");
	ASSERT_STRING_EQ(secret, "p:ss w%rd");
	TEST_DONE();
	TEST_START("the first colon splits");
	ASSERT_INT_EQ(basic("Basic", "app:a:b", &id, &secret), FORM_OK);
	ASSERT_STRING_EQ(secret, "a:b");
	TEST_DONE();
	TEST_START("no colon is refused");
	ASSERT_INT_EQ(basic("Basic", "app1s3cret", &id, &secret), FORM_ECOLON);
	TEST_DONE();
	TEST_START("empty id is refused");
	ASSERT_INT_EQ(basic("Basic", ":s3cret", &id, &secret), FORM_EEMPTY);
	TEST_DONE();
	TEST_START("empty secret is refused");
	ASSERT_INT_EQ(basic("Basic", "app1:", &id, &secret), FORM_EEMPTY);
	TEST_DONE();
	TEST_START("bad percent-encoding is refused");
	ASSERT_INT_EQ(basic("Basic", "app1:%zz", &id, &secret), FORM_EENCODING);
	TEST_DONE();
	TEST_START("control character is refused");
	ASSERT_INT_EQ(basic("Basic", "app\n1:x", &id, &secret), FORM_ETEXT);
	TEST_DONE();
	TEST_START("another scheme is refused");
	ASSERT_INT_EQ(basic("Bearer", "app1:s3cret", &id, &secret), FORM_ESCHEME);
	TEST_DONE();
	TEST_START("bad base64 is refused");
	ASSERT_INT_EQ(form_basic("Basic !!!!", buf, sizeof(buf), &id, &secret), FORM_EBASE64);
	TEST_DONE();
	TEST_START("base64 without padding is refused");
	ASSERT_INT_EQ(form_basic("Basic YWJjOmRlZg", buf, sizeof(buf), &id, &secret), FORM_EBASE64);
	TEST_DONE();
	TEST_START("trailing garbage is refused");
	ASSERT_INT_EQ(form_basic("Basic YWJjOmRlZg== x", buf, sizeof(buf), &id, &secret),
	    FORM_EBASE64);
	TEST_DONE();
	TEST_START("empty credentials are refused");
	ASSERT_INT_EQ(form_basic("Basic ", buf, sizeof(buf), &id, &secret), FORM_EBASE64);
	TEST_DONE();
	TEST_START("scheme without credentials is refused");
	ASSERT_INT_EQ(form_basic("Basic", buf, sizeof(buf), &id, &secret), FORM_ESCHEME);
	TEST_DONE();
	TEST_START("empty header is refused");
	ASSERT_INT_EQ(form_basic("", buf, sizeof(buf), &id, &secret), FORM_ESCHEME);
	TEST_DONE();
	TEST_START("credentials longer than the buffer are refused");
	ASSERT_INT_EQ(form_basic("Basic YWJjOmRlZg==", buf, 4, &id, &secret), FORM_EBASE64);
	TEST_DONE();
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
