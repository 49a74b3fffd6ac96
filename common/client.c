/* Blocking client side of the daemon protocol: one request, one paired reply, a deadline. */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "fg-protocol.h"

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

static long long
client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for events or the deadline passes. */
static int
client_wait(int fd, short events, long long deadline)
{
	struct pollfd	pfd = { .fd = fd, .events = events };
	long long	left;
	int		r;

	for (;;) {
		left = deadline - client_now_ms();
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

static int
client_read_all(int fd, uint8_t *p, size_t n, long long deadline)
{
	ssize_t r;

	while (n > 0) {
		if (client_wait(fd, POLLIN, deadline) == -1)
			return -1;
		r = recv(fd, p, n, MSG_DONTWAIT);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
			continue;
		}
		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
	}
	return 0;
}

/*
 * Send req with request id and wait for its reply.  Returns 0 with *reply set, -1 on an I/O
 * error or timeout (errno set), or a negative FG_FRAME_* code on a malformed or unpaired reply.
 * After any failure the caller must close fd: the stream position is unknown.
 */
int
fg_client_call(int fd, uint32_t id, json_t *req, json_t **reply, int timeout_ms)
{
	struct fg_frame_hdr	 hdr;
	uint8_t			 head[FG_FRAME_HDR_LEN], *out, *buf;
	size_t			 outlen, used;
	long long		 deadline = client_now_ms() + timeout_ms;
	int			 r;

	*reply = NULL;
	if ((r = fg_frame_encode(FG_FRAME_REQUEST, id, req, &out, &outlen)) != FG_FRAME_OK)
		return r;
	r = client_write_all(fd, out, outlen, deadline);
	free(out);
	if (r == -1)
		return -1;
	if (client_read_all(fd, head, sizeof(head), deadline) == -1)
		return -1;
	if ((r = fg_frame_hdr_decode(head, sizeof(head), &hdr)) != FG_FRAME_OK)
		return r < 0 ? r : FG_FRAME_EBODY;
	if (hdr.type != FG_FRAME_REPLY || hdr.id != id)
		return FG_FRAME_ETYPE;
	if ((buf = malloc(FG_FRAME_HDR_LEN + hdr.len)) == NULL)
		return -1;
	memcpy(buf, head, sizeof(head));
	if (client_read_all(fd, buf + FG_FRAME_HDR_LEN, hdr.len, deadline) == -1) {
		free(buf);
		return -1;
	}
	r = fg_frame_decode(buf, FG_FRAME_HDR_LEN + hdr.len, FG_FRAME_REPLY, &hdr, reply, &used);
	free(buf);
	return r == FG_FRAME_OK ? 0 : (r < 0 ? r : FG_FRAME_EBODY);
}
