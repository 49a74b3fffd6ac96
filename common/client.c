/* Blocking client side of the daemon protocol: one request, one paired reply, a deadline. */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "fg-protocol.h"
#include "util.h"

/* Connect to the daemon's socket; returns a blocking fd or -1 with errno set. */
int
fg_client_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

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

/* Send all of p, waiting for room only when the socket is full. */
static int
client_write_all(int fd, const uint8_t *p, size_t n, long long deadline)
{
	ssize_t w;

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
			continue;
		}
		return -1;
	}
	return 0;
}

/*
 * Read one reply frame into buf: try recv first and poll only when nothing is there yet, so
 * a reply that is already waiting costs one system call.
 */
static int
client_read_frame(int fd, uint8_t *buf, size_t cap, size_t *len, long long deadline)
{
	struct fg_frame_hdr	hdr;
	size_t			have = 0, need = FG_FRAME_HDR_LEN;
	ssize_t			r;
	int			h;

	while (have < need) {
		r = recv(fd, buf + have, cap - have, MSG_DONTWAIT);
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

/*
 * Send req with request id and wait for its reply.  Returns 0 with *reply set, -1 on an I/O
 * error or timeout (errno set), or a negative FG_FRAME_* code on a malformed or unpaired reply.
 * After any failure the caller must close fd: the stream position is unknown.  One call at a
 * time per process (the frame buffer is shared).
 */
int
fg_client_call(int fd, uint32_t id, json_t *req, json_t **reply, int timeout_ms)
{
	static uint8_t		 buf[FG_FRAME_BUF_LEN];
	struct fg_frame_hdr	 hdr;
	size_t			 len, used;
	long long		 deadline = monotime_ms() + timeout_ms;
	int			 r;

	*reply = NULL;
	if ((r = fg_frame_encode(FG_FRAME_REQUEST, id, req, buf, sizeof(buf), &len)) !=
	    FG_FRAME_OK)
		return r;
	r = client_write_all(fd, buf, len, deadline);
	explicit_bzero(buf, len);	/* the request may carry a client secret */
	if (r == -1)
		return -1;
	if ((r = client_read_frame(fd, buf, sizeof(buf), &len, deadline)) != 0)
		return r;
	r = fg_frame_decode(buf, len, FG_FRAME_REPLY, &hdr, reply, &used);
	explicit_bzero(buf, len);	/* the reply may carry a token */
	if (r != FG_FRAME_OK)
		return r < 0 ? r : FG_FRAME_EBODY;
	if (hdr.id != id) {
		json_decref(*reply);
		*reply = NULL;
		return FG_FRAME_ETYPE;
	}
	return 0;
}
