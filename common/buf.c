/* A growable byte buffer that remembers a failed allocation, with HTML and URL escaping. */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Make room for more bytes and a NUL; -1 (and the buffer marked failed) when it cannot. */
static int
buf_grow(struct buf *b, size_t more)
{
	size_t	 want, cap;
	char	*p;

	if (b->failed)
		return -1;
	if (more > SIZE_MAX / 2 - b->len) {
		b->failed = 1;
		return -1;
	}
	want = b->len + more + 1;
	if (want <= b->cap)
		return 0;
	for (cap = b->cap != 0 ? b->cap : 4096; cap < want; cap *= 2)
		;
	if ((p = realloc(b->p, cap)) == NULL) {
		b->failed = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

/* Empty the buffer for the next request, giving back memory a huge page once took. */
void
buf_reset(struct buf *b)
{
	if (b->cap > 1024 * 1024) {
		free(b->p);
		b->p = NULL;
		b->cap = 0;
	}
	b->len = 0;
	b->failed = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

/* Give back the buffer's memory. */
void
buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Append s[0..n). */
void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (n == 0 || buf_grow(b, n) == -1)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Append a string. */
void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Append printf-style. */
void
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0 || buf_grow(b, (size_t)n) == -1)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Append s[0..n), escaping the five characters that matter in HTML text and attributes. */
void
buf_add_html(struct buf *b, const char *s, size_t n)
{
	size_t	i, start = 0;
	const char *rep;

	for (i = 0; i < n; i++) {
		switch (s[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		case '\0':
			rep = "";
			break;
		default:
			continue;
		}
		buf_add(b, s + start, i - start);
		buf_adds(b, rep);
		start = i + 1;
	}
	buf_add(b, s + start, n - start);
}

/* Append s as a JSON string, quoted; quote, backslash and control characters escaped. */
void
buf_adds_json(struct buf *b, const char *s)
{
	size_t	i, start = 0;
	char	esc[8];

	buf_add(b, "\"", 1);
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] != '"' && s[i] != '\\' && (unsigned char)s[i] >= 0x20)
			continue;
		buf_add(b, s + start, i - start);
		snprintf(esc, sizeof(esc), "\\u%04x", (unsigned char)s[i]);
		buf_adds(b, esc);
		start = i + 1;
	}
	buf_add(b, s + start, i - start);
	buf_add(b, "\"", 1);
}

/* Append a string HTML-escaped. */
void
buf_adds_html(struct buf *b, const char *s)
{
	buf_add_html(b, s, strlen(s));
}

/* The content as a NUL-terminated string, "" when empty. */
const char *
buf_str(struct buf *b)
{
	return b->p != NULL ? b->p : "";
}

/* Overwrite what the buffer held (a page that showed a credential), keeping its memory. */
void
buf_wipe(struct buf *b)
{
	if (b->p != NULL)
		explicit_bzero(b->p, b->cap);
	b->len = 0;
}

/* Append s percent-encoded for a URL query component or path segment (RFC 3986 unreserved). */
void
buf_adds_url(struct buf *b, const char *s)
{
	static const char	hex[] = "0123456789ABCDEF";
	char			enc[3] = { '%', 0, 0 };
	unsigned char		c;

	for (; (c = (unsigned char)*s) != '\0'; s++) {
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			buf_add(b, (const char *)&c, 1);
		else {
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 15];
			buf_add(b, enc, 3);
		}
	}
}
