/* Blocking client side of the daemon protocol: one request, one paired reply, a deadline. */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "fg-protocol.h"
#include "util.h"

static int	client_to_fd = -1, client_to_ms;	/* the receive timeout set on a socket */

/* Connect to the daemon's socket; returns a blocking fd or -1 with errno set. */
int
fg_client_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	client_to_fd = -1;	/* the new socket may reuse the number of one that had it */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Wait until fd is ready for events or the deadline passes. */
static int
client_wait(int fd, short events, long long deadline)
{
	struct pollfd	pfd = { .fd = fd, .events = events };
	long long	left;
	int		r;

	for (;;) {
		left = deadline - monotime_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return 0;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

/*
 * Bound a blocking read on fd by timeout_ms, set once per socket and timeout: the reply's
 * first read then waits in recv itself instead of in a poll before it (a system call less).
 */
static int
client_recv_timeout(int fd, int timeout_ms)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

	if (timeout_ms <= 0)
		return -1;	/* SO_RCVTIMEO 0 would mean no bound at all */
	if (fd == client_to_fd && timeout_ms == client_to_ms)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1)
		return -1;
	client_to_fd = fd;
	client_to_ms = timeout_ms;
	return 0;
}

/* Send all of p, waiting for room only when the socket is full; 1 when it had to wait. */
static int
client_write_all(int fd, const uint8_t *p, size_t n, long long deadline)
{
	ssize_t w;
	int	waited = 0;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (client_wait(fd, POLLOUT, deadline) == -1)
				return -1;
			waited = 1;
			continue;
		}
		return -1;
	}
	return waited;
}

/*
 * Read one reply frame into buf.  When block is set the first recv waits (bounded by the
 * socket's receive timeout, the call's whole timeout): the reply is one system call away.
 * Otherwise, and for the rest of a frame, try recv first and poll only when nothing is there.
 */
static int
client_read_frame(int fd, uint8_t *buf, size_t cap, size_t *len, long long deadline, int block)
{
	struct fg_frame_hdr	hdr;
	size_t			have = 0, need = FG_FRAME_HDR_LEN;
	ssize_t			r;
	int			h;

	while (have < need) {
		r = recv(fd, buf + have, cap - have, block ? 0 : MSG_DONTWAIT);
		block = 0;
		if (r > 0) {
			have += (size_t)r;
			h = fg_frame_hdr_decode(buf, have, &hdr);
			if (h < 0)
				return h;
			if (h == FG_FRAME_OK)
				need = FG_FRAME_HDR_LEN + hdr.len;
			continue;
		}
		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (client_wait(fd, POLLIN, deadline) == -1)
			return -1;
	}
	if (have != need)
		return FG_FRAME_ETYPE;	/* bytes beyond the one reply we asked for */
	*len = have;
	return 0;
}

static uint8_t	client_buf[FG_FRAME_BUF_LEN];	/* one call at a time per process */
static size_t	client_used;			/* bytes of client_buf to wipe */

/*
 * Send the request framed in client_buf[0..len) and read its paired reply into client_buf.
 * The first read blocks only when the send did not wait: it cannot overrun the deadline then.
 */
static int
client_exchange(int fd, uint32_t id, size_t len, int timeout_ms)
{
	struct fg_frame_hdr	hdr;
	long long		deadline = monotime_ms() + timeout_ms;
	int			r, block;

	block = client_recv_timeout(fd, timeout_ms) == 0;
	r = client_write_all(fd, client_buf, len, deadline);
	explicit_bzero(client_buf, len);	/* the request may carry a client secret */
	if (r == -1)
		return -1;
	if ((r = client_read_frame(fd, client_buf, sizeof(client_buf), &client_used,
	    deadline, block && r == 0)) != 0)
		return r;
	if ((r = fg_frame_hdr_decode(client_buf, client_used, &hdr)) != FG_FRAME_OK)
		return r < 0 ? r : FG_FRAME_SHORT;
	if (hdr.type != FG_FRAME_REPLY || hdr.id != id)
		return FG_FRAME_ETYPE;
	return 0;
}

/*
 * Send req with request id and wait for its reply.  Returns 0 with *reply set, -1 on an I/O
 * error or timeout (errno set), or a negative FG_FRAME_* code on a malformed or unpaired reply.
 * After any failure the caller must close fd: the stream position is unknown.  One call at a
 * time per process (the frame buffer is shared).
 */
int
fg_client_call(int fd, uint32_t id, json_t *req, json_t **reply, int timeout_ms)
{
	struct fg_frame_hdr	 hdr;
	size_t			 len, used;
	int			 r;

	*reply = NULL;
	if ((r = fg_frame_encode(FG_FRAME_REQUEST, id, req, client_buf, sizeof(client_buf),
	    &len)) != FG_FRAME_OK)
		return r;
	if ((r = client_exchange(fd, id, len, timeout_ms)) == 0) {
		r = fg_frame_decode(client_buf, client_used, FG_FRAME_REPLY, &hdr, reply, &used);
		if (r != FG_FRAME_OK)
			r = r < 0 ? r : FG_FRAME_EBODY;
	}
	fg_client_wipe();	/* the reply may carry a token */
	return r;
}

/*
 * The same for a request body the caller serialised (one JSON object, the token path's): the
 * reply's body is left unparsed in *body[0..*bodylen), valid until fg_client_wipe(), which the
 * caller must call once done with it.
 */
int
fg_client_call_raw(int fd, uint32_t id, const char *req, size_t reqlen, const char **body,
    size_t *bodylen, int timeout_ms)
{
	int r;

	*body = NULL;
	*bodylen = 0;
	if (reqlen == 0 || reqlen > FG_FRAME_MAX)
		return FG_FRAME_ESIZE;
	memcpy(client_buf + FG_FRAME_HDR_LEN, req, reqlen);
	fg_frame_hdr_encode(client_buf, FG_FRAME_REQUEST, id, (uint32_t)reqlen);
	if ((r = client_exchange(fd, id, FG_FRAME_HDR_LEN + reqlen, timeout_ms)) != 0) {
		fg_client_wipe();
		return r;
	}
	*body = (const char *)client_buf + FG_FRAME_HDR_LEN;
	*bodylen = client_used - FG_FRAME_HDR_LEN;
	return 0;
}

/* Overwrite the last reply (it may carry a token). */
void
fg_client_wipe(void)
{
	explicit_bzero(client_buf, client_used);
	client_used = 0;
}
