/* Logging to stderr: one line per event, timestamped, prefixed with the program and pid. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char	*log_prog = "flowgate";
static int		 log_debug_on;

void
fg_log_init(const char *prog)
{
	log_prog = prog;
}

void
fg_log_set_debug(int on)
{
	log_debug_on = on;
}

/*
 * Copy src into dst (dstlen > 0), bytes outside what is kept as \xNN; a copy that does not fit
 * ends in "..." instead of a cut escape.  all: escape every byte but printable ASCII, quotes and
 * backslashes included; else only control characters.
 */
static void
log_escape(char *dst, size_t dstlen, const char *src, int all)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			o = 0;
	unsigned char		c;

	for (; (c = (unsigned char)*src) != '\0'; src++) {
		if (c >= 0x20 && c != 0x7f && (!all || (c < 0x7f && c != '"' && c != '\\'))) {
			if (o + 1 + 3 >= dstlen)
				break;
			dst[o++] = (char)c;
		} else {
			if (o + 4 + 3 >= dstlen)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 0xf];
		}
	}
	if (*src != '\0' && dstlen > 3) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o < dstlen ? o : dstlen - 1] = '\0';
}

/*
 * A caller-chosen string (a path, a client_id, a user name) made safe to quote in a log line:
 * printable ASCII stays, everything else, quotes and backslashes too, becomes \xNN.  Returns
 * dst; NULL becomes "-".
 */
const char *
fg_log_clean(char *dst, size_t dstlen, const char *src)
{
	if (dstlen == 0)
		return "";
	log_escape(dst, dstlen, src != NULL ? src : "-", 1);
	return dst;
}

/*
 * Print one line.  Control characters are escaped in the whole message too, so that one event
 * stays one line even where a caller-chosen string was not passed through fg_log_clean.
 */
static void
log_vline(const char *level, const char *fmt, va_list ap)
{
	char		stamp[32], msg[1024], line[4 * sizeof(msg)];
	struct tm	tm;
	time_t		now = time(NULL);

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_escape(line, sizeof(line), msg, 0);
	fprintf(stderr, "%s %s[%ld] %s: %s\n", stamp, log_prog, (long)getpid(), level, line);
}

void
fg_log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("info", fmt, ap);
	va_end(ap);
}

void
fg_log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("warning", fmt, ap);
	va_end(ap);
}

void
fg_log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_debug_on)
		return;
	va_start(ap, fmt);
	log_vline("debug", fmt, ap);
	va_end(ap);
}

void
fg_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("fatal", fmt, ap);
	va_end(ap);
	exit(1);
}
