/* Scope strings: the canonical form that keys the token cache, and subset checks. */
#include "config.h"

#include <string.h>

#include "daemon.h"
#include "tap.h"

const struct fg_config *fg_cfg;

/* The canonical form of a scope string, NULL when it is refused. */
static const char *
norm(const char *in)
{
	static char out[FG_SCOPES_MAX];

	if (scope_normalize(in, out, sizeof(out)) == -1)
		return NULL;
	return out;
}

/* One named case: in normalizes to want (NULL: refused). */
static void
norm_case(const char *name, const char *in, const char *want)
{
	TEST_START(name);
	ASSERT_STRING_EQ(norm(in), want);
	TEST_DONE();
}

int
main(void)
{
	char a[FG_SCOPES_MAX], b[FG_SCOPES_MAX], missing[65];

	norm_case("openid is added, tokens sorted", "streams transcribe",
	    "openid streams transcribe");
	norm_case("order does not matter", "transcribe streams", "openid streams transcribe");
	norm_case("duplicates and openid collapse", "transcribe  openid transcribe",
	    "openid transcribe");
	norm_case("no scope means openid alone", "", "openid");
	norm_case("a quote is not a scope character", "stream\"s", NULL);
	norm_case("a backslash is not a scope character", "a\\b", NULL);
	norm_case("a tab is not a separator", "a\tb", NULL);
	norm_case("non-ASCII is refused", "caf\xc3\xa9", NULL);
	norm_case("more than 16 scopes are refused", "a b c d e f g h i j k l m n o p", NULL);
	norm_case("16 scopes with openid are fine", "a b c d e f g h i j k l m n o",
	    "a b c d e f g h i j k l m n o openid");
	memset(a, 'x', 65);
	a[65] = '\0';
	norm_case("a scope of 65 characters is refused", a, NULL);

	scope_normalize("streams", a, sizeof(a));
	scope_normalize("streams transcribe", b, sizeof(b));
	TEST_START("a narrower set has a different cache key");
	ASSERT_STRING_NE(a, b);
	TEST_DONE();
	tap_ok(scope_subset(a, b, missing, sizeof(missing)),
	    "streams is within streams transcribe");
	TEST_START("the missing scope is named");
	ASSERT_TRUE(!scope_subset(b, a, missing, sizeof(missing)));
	ASSERT_STRING_EQ(missing, "transcribe");
	TEST_DONE();
	tap_ok(!scope_contains("openid streamsx", "streams"), "contains matches whole tokens only");
	tap_ok(scope_contains("openid streams", "streams"), "contains finds the last token");
	tap_ok(!scope_contains("openid xstreams", "streams"), "contains does not match a suffix");
	return tap_done();
}
