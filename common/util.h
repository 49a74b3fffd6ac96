/* Small helpers shared by the daemon, flowgatectl and the front end: names, clock, buffer. */
#ifndef FG_UTIL_H
#define FG_UTIL_H

#include <stddef.h>
#include <time.h>

/* name.c: the one rule for app, connection and user names (the daemon's). */
#define FG_NAME_MAX		64

int		 fg_name_ok(const char *s, size_t n);

/* decimal.c: a count another process sent, digits only and bounded. */
int		 fg_decimal(const char *s, size_t maxdigits, unsigned long long *out);

/* monotime.c: the one monotonic clock, in the manner of OpenSSH's misc.c. */
time_t		 monotime(void);
long long	 monotime_ms(void);
long long	 monotime_ns(void);
void		 monotime_ts(struct timespec *ts);

/* buf.c: a growable byte buffer that remembers a failed allocation. */
struct buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 failed;	/* an allocation failed: the content is incomplete */
};

void		 buf_reset(struct buf *b);
void		 buf_free(struct buf *b);
void		 buf_wipe(struct buf *b);
void		 buf_add(struct buf *b, const char *s, size_t n);
void		 buf_adds(struct buf *b, const char *s);
void		 buf_addf(struct buf *b, const char *fmt, ...)
		     __attribute__((format(printf, 2, 3)));
void		 buf_add_html(struct buf *b, const char *s, size_t n);	/* HTML-escaped */
void		 buf_adds_html(struct buf *b, const char *s);
void		 buf_adds_url(struct buf *b, const char *s);	/* percent-encoded */
void		 buf_adds_json(struct buf *b, const char *s);	/* a quoted JSON string */
const char	*buf_str(struct buf *b);	/* NUL-terminated view ("" when empty) */

#endif
