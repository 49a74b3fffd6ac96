/*
 * Strict application/x-www-form-urlencoded parsing (RFC 6749 appendix B) and HTTP Basic client
 * credentials (RFC 6749 section 2.3.1, RFC 7617).  Everything is decoded in place: no allocation.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "fcgi.h"

/* Value of one hex digit, or -1. */
static int
form_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..len) in place, '+' meaning a space; the decoded length, or -1. */
static ssize_t
form_unescape(char *s, size_t len)
{
	size_t	i, o;
	int	hi, lo;

	for (i = 0, o = 0; i < len; i++, o++) {
		if (s[i] == '+')
			s[o] = ' ';
		else if (s[i] != '%')
			s[o] = s[i];
		else {
			if (len - i < 3 || (hi = form_hex(s[i + 1])) == -1 ||
			    (lo = form_hex(s[i + 2])) == -1)
				return -1;
			s[o] = (char)(hi << 4 | lo);
			i += 2;
		}
	}
	return (ssize_t)o;
}

/* Whether str[0..len) is UTF-8 without control characters (C0, DEL, C1): safe to relay and log. */
static int
form_text_ok(const char *str, size_t len)
{
	const unsigned char	*s = (const unsigned char *)str;
	size_t			 i, k, n;
	uint32_t		 cp, min;

	for (i = 0; i < len; i += n + 1) {
		if (s[i] < 0x80) {
			if (s[i] < 0x20 || s[i] == 0x7f)
				return 0;
			n = 0;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf) {
			n = 1; cp = s[i] & 0x1f; min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 2; cp = s[i] & 0x0f; min = 0x800;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			n = 3; cp = s[i] & 0x07; min = 0x10000;
		} else
			return 0;
		if (len - i <= n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp <= 0x9f)
			return 0;
	}
	return 1;
}

/* Decode s[0..len) in place, NUL-terminate it and check it is clean text; *out is its length. */
static int
form_decode(char *s, size_t len, size_t *out)
{
	ssize_t	n;

	if ((n = form_unescape(s, len)) == -1)
		return FORM_EENCODING;
	s[n] = '\0';
	if (!form_text_ok(s, (size_t)n))
		return FORM_ETEXT;
	*out = (size_t)n;
	return FORM_OK;
}

/* Decode one "key[=value]" segment [p, end) and append it, refusing a repeated key. */
static int
form_pair(char *p, char *end, struct form *f)
{
	struct form_pair	*fp;
	char			*eq;
	size_t			 i;
	int			 r;

	if (f->n == FORM_MAX_PAIRS)
		return FORM_ETOOMANY;
	fp = &f->pairs[f->n];
	if ((eq = memchr(p, '=', (size_t)(end - p))) == NULL)
		eq = end;
	if (eq == p)
		return FORM_EEMPTYKEY;
	if (eq == end)
		fp->value = "";
	else
		fp->value = eq + 1;
	fp->valuelen = 0;
	if (eq != end &&
	    (r = form_decode(eq + 1, (size_t)(end - eq - 1), &fp->valuelen)) != FORM_OK)
		return r;
	if ((r = form_decode(p, (size_t)(eq - p), &fp->keylen)) != FORM_OK)
		return r;
	fp->key = p;
	for (i = 0; i < f->n; i++) {
		if (f->pairs[i].keylen == fp->keylen && memcmp(f->pairs[i].key, p, fp->keylen) == 0)
			return FORM_EDUPLICATE;
	}
	f->n++;
	return FORM_OK;
}

/*
 * Parse a form body in place.  buf must have room for len + 1 bytes (a NUL is written after the
 * last value).  Empty segments ("a=1&&b=2", a trailing '&') are skipped as browsers do; anything
 * else malformed is refused.
 */
int
form_parse(char *buf, size_t len, struct form *f)
{
	char	*p = buf, *end = buf + len, *amp;
	int	 r;

	f->n = 0;
	while (p < end) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if (amp != p && (r = form_pair(p, amp, f)) != FORM_OK)
			return r;
		p = amp + 1;
	}
	return FORM_OK;
}

/* A parameter's value; an empty value counts as omitted (RFC 6749 section 3.1). */
const char *
form_get(const struct form *f, const char *key)
{
	size_t	i;

	for (i = 0; i < f->n; i++) {
		if (strcmp(f->pairs[i].key, key) == 0)
			return f->pairs[i].valuelen == 0 ? NULL : f->pairs[i].value;
	}
	return NULL;
}

/*
 * Split an "Authorization: Basic ..." value into client id and secret, decoded into buf (size
 * bytes); both are form-url-decoded as RFC 6749 section 2.3.1 requires, and must be non-empty.
 */
int
form_basic(const char *header, char *buf, size_t size, const char **id, const char **secret)
{
	const char	*b64;
	char		*colon;
	size_t		 binlen, idlen, secretlen;
	int		 r;

	if (strncasecmp(header, "Basic ", 6) != 0)
		return FORM_ESCHEME;
	for (b64 = header + 6; *b64 == ' '; b64++)
		;
	if (*b64 == '\0' || size == 0 ||
	    sodium_base642bin((unsigned char *)buf, size - 1, b64, strlen(b64), NULL, &binlen,
	    NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		return FORM_EBASE64;
	if ((colon = memchr(buf, ':', binlen)) == NULL)
		return FORM_ECOLON;
	if ((r = form_decode(colon + 1, binlen - (size_t)(colon + 1 - buf), &secretlen)) != FORM_OK)
		return r;
	if ((r = form_decode(buf, (size_t)(colon - buf), &idlen)) != FORM_OK)
		return r;
	if (idlen == 0 || secretlen == 0)
		return FORM_EEMPTY;
	*id = buf;
	*secret = colon + 1;
	return FORM_OK;
}

/* Whether a Content-Type names a form body; parameters such as "; charset=UTF-8" are allowed. */
int
form_content_type_ok(const char *content_type)
{
	static const char	 want[] = "application/x-www-form-urlencoded";
	const char		*p;

	if (content_type == NULL || strncasecmp(content_type, want, sizeof(want) - 1) != 0)
		return 0;
	for (p = content_type + sizeof(want) - 1; *p == ' ' || *p == '\t'; p++)
		;
	return *p == '\0' || *p == ';';
}

/* A short reason for logs and error_description; never contains request data. */
const char *
form_strerror(int err)
{
	switch (err) {
	case FORM_OK:
		return "ok";
	case FORM_EENCODING:
		return "invalid percent-encoding";
	case FORM_ETEXT:
		return "parameter is not UTF-8 text or contains control characters";
	case FORM_EEMPTYKEY:
		return "parameter without a name";
	case FORM_EDUPLICATE:
		return "parameter included more than once";
	case FORM_ETOOMANY:
		return "too many parameters";
	case FORM_ESCHEME:
		return "unsupported authentication scheme";
	case FORM_EBASE64:
		return "malformed Basic credentials";
	case FORM_ECOLON:
		return "Basic credentials without a colon";
	case FORM_EEMPTY:
		return "empty client id or secret";
	}
	return "malformed form";
}
