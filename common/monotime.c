/* The one monotonic clock of flowgate, in the manner of OpenSSH's misc.c (monotime). */
#include "config.h"

#include <time.h>

#include "log.h"
#include "util.h"

/* The current monotonic time; a clock that cannot be read is a broken system. */
void
monotime_ts(struct timespec *ts)
{
	if (clock_gettime(CLOCK_MONOTONIC, ts) != 0)
		fg_fatal("clock_gettime(CLOCK_MONOTONIC) failed");
}

/* Monotonic seconds. */
time_t
monotime(void)
{
	struct timespec	ts;

	monotime_ts(&ts);
	return ts.tv_sec;
}

/* Monotonic milliseconds: timeouts, backoffs, cache ages. */
long long
monotime_ms(void)
{
	struct timespec	ts;

	monotime_ts(&ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic nanoseconds: how long a slice of slow work ran. */
long long
monotime_ns(void)
{
	struct timespec	ts;

	monotime_ts(&ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
