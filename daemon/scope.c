/*
 * Scope strings.  The canonical form is "openid" plus the asked scopes, de-duplicated and
 * sorted, joined by single spaces: it is what goes upstream and what keys the token cache, so
 * two requests share a token only when they ask for exactly the same set.  What an upstream
 * granted is kept in the same form without "openid" added (scope_canonical), so it is reported
 * as it was.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/* RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
static int
scope_token_valid(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > FG_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e)
			return 0;
	}
	return 1;
}

static int
scope_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Write the canonical form of in (space separated; runs of spaces tolerated) to out, with
 * "openid" added when add_openid.  Returns 0, or -1 on an invalid token, too many tokens or
 * an out buffer too small.  Without "openid" it states exactly what an upstream granted.
 */
int
scope_canonical(const char *in, char *out, size_t outlen, int add_openid)
{
	char	 copy[FG_SCOPES_MAX * 2], *tok[FG_SCOPE_TOKENS_MAX], *p, *save = NULL;
	size_t	 n = 0, i, used = 0, len;

	if (strlen(in) >= sizeof(copy))
		return -1;
	memcpy(copy, in, strlen(in) + 1);
	for (p = copy; *p != '\0'; p++)
		if (*p != ' ' && !scope_token_valid(p, 1))
			return -1;
	if (add_openid)
		tok[n++] = (char *)"openid";
	for (p = strtok_r(copy, " ", &save); p != NULL; p = strtok_r(NULL, " ", &save)) {
		if (!scope_token_valid(p, strlen(p)) || n == FG_SCOPE_TOKENS_MAX)
			return -1;
		tok[n++] = p;
	}
	qsort(tok, n, sizeof(tok[0]), scope_cmp);
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(tok[i], tok[i - 1]) == 0)
			continue;
		len = strlen(tok[i]);
		if (used + len + (used ? 1 : 0) + 1 > outlen)
			return -1;
		if (used)
			out[used++] = ' ';
		memcpy(out + used, tok[i], len);
		used += len;
	}
	out[used] = '\0';
	return 0;
}

/* The canonical form of a scope asked for: "openid" and the asked tokens. */
int
scope_normalize(const char *in, char *out, size_t outlen)
{
	return scope_canonical(in, out, outlen, 1);
}

/* True when the canonical set contains token. */
int
scope_contains(const char *set, const char *token)
{
	size_t		 n = strlen(token);
	const char	*p = set;

	while ((p = strstr(p, token)) != NULL) {
		if ((p == set || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

/*
 * True when every token of a is in b; otherwise 0 and the first missing token in missing.
 * Both are canonical strings.
 */
int
scope_subset(const char *a, const char *b, char *missing, size_t missinglen)
{
	char	 tok[FG_NAME_MAX + 1];
	size_t	 n;

	while (*a != '\0') {
		n = strcspn(a, " ");
		if (n > FG_NAME_MAX)
			return 0;
		memcpy(tok, a, n);
		tok[n] = '\0';
		if (!scope_contains(b, tok)) {
			if (missinglen > 0) {
				strncpy(missing, tok, missinglen - 1);
				missing[missinglen - 1] = '\0';
			}
			return 0;
		}
		a += n;
		while (*a == ' ')
			a++;
	}
	return 1;
}
