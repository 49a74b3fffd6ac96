/*
 * The worker's link to the daemon: one kept connection, made on first use, dropped after a
 * failed call and retried with a growing backoff.  Every route reaches the daemon through here.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "fcgi.h"
#include "fg-protocol.h"
#include "log.h"

#define LINK_BACKOFF_MIN_MS	50
#define LINK_BACKOFF_MAX_MS	2000

static const char	*link_path;
static int		 link_fd = -1;
static int		 link_used;		/* the connection has carried a reply */
static uint32_t		 link_id;
static long long	 link_retry_at;		/* monotonic ms */
static int		 link_backoff_ms;

/* Remember where the daemon listens; the connection is made on the first call. */
void
link_init(const char *daemon_path)
{
	link_path = daemon_path;
}

/* Wait a growing while before the next connection attempt; log only the first failure. */
static void
link_backoff(const char *why)
{
	if (link_backoff_ms == 0) {
		fg_log_warn("daemon at %s unreachable: %s", link_path, why);
		link_backoff_ms = LINK_BACKOFF_MIN_MS;
	} else if ((link_backoff_ms *= 2) > LINK_BACKOFF_MAX_MS)
		link_backoff_ms = LINK_BACKOFF_MAX_MS;
	link_retry_at = monotime_ms() + link_backoff_ms;
}

/* Drop the kept connection after a failed call: the stream position is unknown. */
static void
link_drop(void)
{
	close(link_fd);
	link_fd = -1;
	metrics_reconnect();
}

/* One call of either kind: a JSON request and reply, or the token path's serialised ones. */
struct link_op {
	json_t		 *req, **reply;
	const char	 *raw, **body;
	size_t		  rawlen, *bodylen;
	int		  timeout_ms;
};

/* Make the call on fd with the next request id. */
static int
link_op_run(const struct link_op *op, int fd)
{
	if (op->raw != NULL)
		return fg_client_call_raw(fd, ++link_id, op->raw, op->rawlen, op->body,
		    op->bodylen, op->timeout_ms);
	return fg_client_call(fd, ++link_id, op->req, op->reply, op->timeout_ms);
}

/*
 * One call to the daemon on the kept connection, connecting lazily.  While backing off it
 * fails at once, so requests get a quick 503 instead of waiting.  A kept connection the daemon
 * closed while idle (it restarted) is retried once on a fresh one.
 */
static int
link_run(const struct link_op *op)
{
	const char	*why;
	int		 r, stale;

	if (link_fd == -1 && link_backoff_ms != 0 && monotime_ms() < link_retry_at)
		return -1;
	for (;;) {
		if (link_fd == -1) {
			if ((link_fd = fg_client_connect(link_path)) == -1) {
				link_backoff(strerror(errno));
				return -1;
			}
			link_used = 0;
		}
		if ((r = link_op_run(op, link_fd)) == 0)
			break;
		stale = r == -1 && link_used && (errno == EPIPE || errno == ECONNRESET);
		why = r == -1 ? strerror(errno) : fg_frame_strerror(r);
		link_drop();
		if (!stale) {
			link_backoff(why);
			return -1;
		}
	}
	if (link_backoff_ms != 0)
		fg_log_info("daemon at %s reachable again", link_path);
	link_used = 1;
	link_backoff_ms = 0;
	return 0;
}

/* A call with a JSON request and reply. */
int
link_call(json_t *req, json_t **reply, int timeout_ms)
{
	struct link_op op = { .req = req, .reply = reply, .timeout_ms = timeout_ms };

	*reply = NULL;
	return link_run(&op);
}

/*
 * A call whose request the caller serialised; the reply's body stays unparsed in
 * *body[0..*bodylen) until link_wipe().
 */
int
link_call_raw(const char *req, size_t len, const char **body, size_t *bodylen, int timeout_ms)
{
	struct link_op op = { .raw = req, .rawlen = len, .body = body, .bodylen = bodylen,
	    .timeout_ms = timeout_ms };

	*body = NULL;
	*bodylen = 0;
	return link_run(&op);
}

/* Overwrite a raw reply once used. */
void
link_wipe(void)
{
	fg_client_wipe();
}

/* Ask the daemon a question that takes no arguments; NULL if it cannot answer. */
json_t *
link_ask(const char *verb)
{
	json_t	*req, *reply = NULL;

	if ((req = json_pack("{s:s}", "verb", verb)) == NULL)
		return NULL;
	if (link_call(req, &reply, LINK_INFO_TIMEOUT_MS) == -1)
		reply = NULL;
	json_decref(req);
	if (reply != NULL && !json_is_true(json_object_get(reply, "ok"))) {
		json_decref(reply);
		reply = NULL;
	}
	return reply;
}

/* Close the connection as the worker leaves. */
void
link_close(void)
{
	if (link_fd != -1)
		close(link_fd);
	link_fd = -1;
}

/* Whether a daemon reply says ok. */
int
link_ok(json_t *reply)
{
	return json_is_true(json_object_get(reply, "ok"));
}

/* A string field of a reply (or any object); NULL when absent or not a string. */
const char *
link_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}
