/* The one strict parser of a decimal count that another process sent (a Content-Length). */
#include "config.h"

#include "util.h"

/*
 * s as a count: ASCII digits only, 1..maxdigits of them (at most 18, so it cannot overflow),
 * no sign, space or suffix.  0 and *out on success, -1 otherwise.
 */
int
fg_decimal(const char *s, size_t maxdigits, unsigned long long *out)
{
	unsigned long long	v = 0;
	size_t			i;

	if (s == NULL || maxdigits > 18)
		return -1;
	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		if (i == maxdigits)
			return -1;
		v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	if (i == 0 || s[i] != '\0')
		return -1;
	*out = v;
	return 0;
}
