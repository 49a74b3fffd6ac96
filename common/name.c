/* The one name rule of flowgate: app, connection and user names. */
#include "config.h"

#include <string.h>

#include "util.h"

/*
 * Whether s[0..n) is a name: a-z 0-9 - _, 1..FG_NAME_MAX characters, not starting with - or _
 * (so a name is never mistaken for an option, and sorts with letters and digits first).
 */
int
fg_name_ok(const char *s, size_t n)
{
	size_t	i;

	if (s == NULL || n == 0 || n > FG_NAME_MAX || s[0] == '-' || s[0] == '_')
		return 0;
	for (i = 0; i < n; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-' || s[i] == '_'))
			return 0;
	}
	return 1;
}
