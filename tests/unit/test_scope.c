/* Scope strings: the canonical form that keys the token cache, and subset checks. */
#include "config.h"

#include <string.h>

#include "daemon.h"
#include "tap.h"

const struct fg_config *fg_cfg;

static int
norm(const char *in, const char *want)
{
	char out[FG_SCOPES_MAX];

	if (scope_normalize(in, out, sizeof(out)) == -1)
		return want == NULL;
	return want != NULL && strcmp(out, want) == 0;
}

int
main(void)
{
	char a[FG_SCOPES_MAX], b[FG_SCOPES_MAX], missing[65];

	tap_ok(norm("streams transcribe", "openid streams transcribe"), "openid is added, tokens sorted");
	tap_ok(norm("transcribe streams", "openid streams transcribe"), "order does not matter");
	tap_ok(norm("transcribe  openid transcribe", "openid transcribe"), "duplicates and openid collapse");
	tap_ok(norm("", "openid"), "no scope means openid alone");
	tap_ok(norm("stream\"s", NULL), "a quote is not a scope character");
	tap_ok(norm("a\\b", NULL), "a backslash is not a scope character");
	tap_ok(norm("a\tb", NULL), "a tab is not a separator");
	tap_ok(norm("caf\xc3\xa9", NULL), "non-ASCII is refused");
	tap_ok(norm("a b c d e f g h i j k l m n o p", NULL), "more than 16 scopes are refused");
	tap_ok(norm("a b c d e f g h i j k l m n o", "a b c d e f g h i j k l m n o openid"),
	    "16 scopes with openid are fine");
	memset(a, 'x', 65);
	a[65] = '\0';
	tap_ok(norm(a, NULL), "a scope of 65 characters is refused");

	scope_normalize("streams", a, sizeof(a));
	scope_normalize("streams transcribe", b, sizeof(b));
	tap_ok(strcmp(a, b) != 0, "a narrower set has a different cache key");
	tap_ok(scope_subset(a, b, missing, sizeof(missing)), "streams is within streams transcribe");
	tap_ok(!scope_subset(b, a, missing, sizeof(missing)) && strcmp(missing, "transcribe") == 0,
	    "the missing scope is named");
	tap_ok(!scope_contains("openid streamsx", "streams"), "contains matches whole tokens only");
	tap_ok(scope_contains("openid streams", "streams"), "contains finds the last token");
	tap_ok(!scope_contains("openid xstreams", "streams"), "contains does not match a suffix");
	return tap_done();
}
