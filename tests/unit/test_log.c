/* Unit tests of common/log.c: caller-chosen text escaped for a log line, bounded. */
#include "config.h"

#include <string.h>

#include "log.h"
#include "tests/unit/tap.h"

/* Whether fg_log_clean(src) into a buffer of size bytes gives want. */
static int
cleans(const char *src, size_t size, const char *want)
{
	char	buf[256];

	memset(buf, 'Z', sizeof(buf));
	if (strcmp(fg_log_clean(buf, size, src), want) != 0) {
		printf("# got \"%s\", want \"%s\"\n", buf, want);
		return 0;
	}
	return buf[size] == 'Z';	/* nothing written past the buffer */
}

/* What is escaped: controls, DEL, non-ASCII, quotes and backslashes. */
static void
test_log_escape(void)
{
	tap_ok(cleans("/oauth2/token", 64, "/oauth2/token"), "printable ASCII stays");
	tap_ok(cleans("a\nb\r\n", 64, "a\\x0ab\\x0d\\x0a"), "CR and LF become \\xNN");
	tap_ok(cleans("\x1b[31mred", 64, "\\x1b[31mred"), "an ANSI escape loses its ESC");
	tap_ok(cleans("q\"b\\", 64, "q\\x22b\\x5c"), "quotes and backslashes are escaped");
	tap_ok(cleans("\x7f\xc3\xa9", 64, "\\x7f\\xc3\\xa9"), "DEL and non-ASCII are escaped");
	tap_ok(cleans(NULL, 64, "-"), "NULL is \"-\"");
	tap_ok(cleans("", 64, ""), "the empty string stays empty");
}

/* Bounds: never past the buffer, never a cut escape, "..." says something was left out. */
static void
test_log_bounds(void)
{
	char	one[1] = { 'x' };

	tap_ok(cleans("abcdef", 7, "abc..."), "a long string ends in ...");
	tap_ok(cleans("abc", 7, "abc"), "a string that fits is whole");
	tap_ok(cleans("ab\ncdef", 9, "ab..."), "an escape that does not fit is left out whole");
	tap_ok(cleans("ab\ncdef", 10, "ab\\x0a..."), "an escape that fits is kept");
	tap_ok(cleans("abcdef", 3, ""), "too small for ...: empty");
	TEST_START("size 1: empty");
	ASSERT_STRING_EQ(fg_log_clean(one, 1, "abc"), "");
	TEST_DONE();
	one[0] = 'x';
	TEST_START("size 0: nothing written");
	ASSERT_INT_EQ(*fg_log_clean(one, 0, "abc"), '\0');
	ASSERT_INT_EQ(one[0], 'x');
	TEST_DONE();
}

int
main(void)
{
	test_log_escape();
	test_log_bounds();
	return tap_done();
}
