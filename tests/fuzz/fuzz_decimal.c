/*
 * Fuzz target for fg_decimal (common/decimal.c), the parser of the Content-Length the front end
 * passes to proxy.authorize.  What it accepts must be exactly 1..maxdigits ASCII digits and the
 * value they spell; whatever is such a string must be accepted.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Check fg_decimal on s with one digit bound against a plain reading of s. */
static void
fuzz_decimal(const char *s, size_t maxdigits)
{
	unsigned long long	 v = 0, want = 0;
	size_t			 n = strlen(s), digits = strspn(s, "0123456789");
	int			 plain = n > 0 && digits == n && n <= maxdigits;

	if ((fg_decimal(s, maxdigits, &v) == 0) != plain)
		abort();
	if (!plain)
		return;
	for (size_t i = 0; i < n; i++)
		want = want * 10 + (unsigned long long)(s[i] - '0');
	if (v != want)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size > 64 || (s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_decimal(s, 15);
	fuzz_decimal(s, 18);
	fuzz_decimal(s, 1);
	free(s);
	return 0;
}
