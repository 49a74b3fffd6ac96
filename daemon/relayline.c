/*
 * One line of nginx's relay log, as it comes over the syslog datagram socket (relayclose.c):
 *
 *	<PRI>Mmm dd hh:mm:ss flowgate: relay RID STATUS TO_CLIENT TO_UPSTREAM SECONDS
 *
 * (contrib/nginx/flowgate.conf: log_format flowgate_relay, access_log syslog:...,nohostname,
 * tag=flowgate).  RID is $request_id (32 hex digits), STATUS $status, TO_CLIENT
 * $body_bytes_sent, TO_UPSTREAM $upstream_bytes_sent ("-" without an upstream, "N, N" after a
 * retry: summed), SECONDS $request_time ("s.mmm").  Strict and bounded: anything else is
 * refused whole.  No allocation; the input need not be NUL-terminated.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "daemon.h"

#define RELAYLINE_NUM_MAX	(UINT64_C(1) << 62)	/* bytes or milliseconds: far beyond any */
#define RELAYLINE_LIST_MAX	8			/* upstream tries summed */

struct relayline_cur {
	const char	*p, *end;
};

/* Consume the literal s. */
static int
relayline_lit(struct relayline_cur *c, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
		return -1;
	c->p += n;
	return 0;
}

/* Consume 1 to max decimal digits (no sign) into *v, below RELAYLINE_NUM_MAX. */
static int
relayline_digits(struct relayline_cur *c, size_t max, uint64_t *v)
{
	size_t n = 0;

	*v = 0;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && n < max) {
		*v = *v * 10 + (uint64_t)(*c->p - '0');
		c->p++;
		n++;
	}
	if (n == 0 || (c->p < c->end && *c->p >= '0' && *c->p <= '9') ||
	    *v >= RELAYLINE_NUM_MAX)
		return -1;
	return 0;
}

/* The syslog header nginx writes: "<PRI>Mmm dd hh:mm:ss flowgate: ". */
static int
relayline_header(struct relayline_cur *c)
{
	static const char	 shape[] = "Aaa 00 00:00:00 ";	/* A: letter, 0: digit */
	uint64_t		 pri;
	size_t			 i;

	if (relayline_lit(c, "<") == -1 || relayline_digits(c, 3, &pri) == -1 || pri > 191 ||
	    relayline_lit(c, ">") == -1 || (size_t)(c->end - c->p) < sizeof(shape) - 1)
		return -1;
	for (i = 0; i < sizeof(shape) - 1; i++) {
		char	s = shape[i], x = c->p[i];
		int	ok = s == 'A' ? (x >= 'A' && x <= 'Z') : s == 'a' ? (x >= 'a' && x <= 'z') :
			    s == '0' ? ((x >= '0' && x <= '9') || (i == 4 && x == ' ')) : x == s;

		if (!ok)
			return -1;
	}
	c->p += sizeof(shape) - 1;
	return relayline_lit(c, "flowgate: relay ");
}

/* $upstream_bytes_sent: "-", or numbers separated by ", " (one per try), summed. */
static int
relayline_list(struct relayline_cur *c, uint64_t *sum)
{
	uint64_t	v;
	int		i;

	*sum = 0;
	if (relayline_lit(c, "-") == 0)
		return 0;
	for (i = 0; i < RELAYLINE_LIST_MAX; i++) {
		if (relayline_digits(c, 19, &v) == -1 || (*sum += v) >= RELAYLINE_NUM_MAX)
			return -1;
		if (relayline_lit(c, ", ") == -1)
			return 0;
	}
	return -1;
}

/* Parse buf[0..len) into out; 0, or -1 when it is not exactly one relay log line. */
int
relayline_parse(const char *buf, size_t len, struct relayline *out)
{
	struct relayline_cur	 c = { buf, buf + len };
	const char		*frac;
	uint64_t		 st, s, ms;
	int			 i;

	memset(out, 0, sizeof(*out));
	if (len > RELAYLINE_MAX || relayline_header(&c) == -1)
		return -1;
	for (i = 0; i < 32; i++, c.p++) {
		if (c.p == c.end || !((*c.p >= '0' && *c.p <= '9') || (*c.p >= 'a' && *c.p <= 'f')))
			return -1;
		out->request_id[i] = *c.p;
	}
	if (relayline_lit(&c, " ") == -1 || relayline_digits(&c, 3, &st) == -1 || st < 100 ||
	    relayline_lit(&c, " ") == -1 || relayline_digits(&c, 19, &out->to_client) == -1 ||
	    relayline_lit(&c, " ") == -1 || relayline_list(&c, &out->to_upstream) == -1 ||
	    relayline_lit(&c, " ") == -1 || relayline_digits(&c, 10, &s) == -1 ||
	    relayline_lit(&c, ".") == -1 || (frac = c.p, relayline_digits(&c, 3, &ms)) == -1 ||
	    c.p - frac != 3)
		return -1;
	/* nginx may end a syslog line with nothing or one newline */
	if (c.p < c.end && *c.p == '\n')
		c.p++;
	if (c.p != c.end)
		return -1;
	out->status = (int)st;
	out->duration_ms = s * 1000 + ms;
	return 0;
}
