/*
 * The event loop: one Unix socket, peers checked with SO_PEERCRED on accept, frames read
 * without blocking, upstream transfers driven by the same poll (curl_multi_poll with our fds as
 * extra fds).  A bad frame closes that one connection.  At the end of each turn hold.c
 * commits the audit batch and releases the replies that waited on it.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "daemon.h"
#include "fg-protocol.h"
#include "log.h"
#include "util.h"

#define SERVER_CLIENTS_MAX	512
#define SERVER_ADMIN_SLOTS	16	/* kept for flowgatectl: a flood of web peers cannot fill them */
#define SERVER_FRAMES_PER_TURN	16	/* a pipelining peer waits its turn behind the others */
#define SERVER_OUT_MAX		(4 * 1024 * 1024)	/* a peer that reads nothing is cut off */
#define SERVER_IN_INITIAL	4096
#define SERVER_SLOW_DUTY	10	/* while requests come in, slow work takes 1/10 of the time */
#define SERVER_QUIET_NS		20000000LL	/* 20 ms without a request: slow work runs freely */

struct client {
	int		 fd;
	uid_t		 uid;
	pid_t		 pid;
	int		 peer;
	uint32_t	 gen;
	uint8_t		*in;
	size_t		 inlen, incap;
	uint8_t		*out;
	size_t		 outlen, outcap, outoff;
	int		 backlog;	/* complete frames wait in the input for the next turn */
};


static struct client		 server_clients[SERVER_CLIENTS_MAX];
static int			 server_fd = -1;
static const char		*server_path;
static volatile sig_atomic_t	 server_quit;
static struct {
	uint64_t	accepted, peers_refused, frames_rejected, requests;
	uint64_t	slow_busy_ns;	/* slow work run while requests came in */
} server_st;
static long long		 server_last_request;	/* monotime_ns of the last turn with requests */
static long long		 server_slow_after;	/* while busy, no slow work before this */
static int			 server_slow_was;	/* slow work ran last turn */

/* Create the socket under a tight umask, owned by the daemon's user and the web group. */
int
server_listen(const struct fg_config *cfg, char *err, size_t errlen)
{
	if ((server_fd = server_bind(cfg->socket, SOCK_STREAM, cfg->user, cfg->socket_group,
	    err, errlen)) == -1)
		return -1;
	if (listen(server_fd, 128) == -1) {
		snprintf(err, errlen, "listen: %s", strerror(errno));
		return -1;
	}
	server_path = cfg->socket;
	for (int i = 0; i < SERVER_CLIENTS_MAX; i++)
		server_clients[i].fd = -1;
	return 0;
}

/* Which class a peer uid belongs to, or 0 when it may not talk to us at all. */
static int
server_peer_class(const struct fg_config *cfg, uid_t uid)
{
	size_t i;

	if (uid == geteuid())
		return PEER_ADMIN;
	for (i = 0; i < cfg->n_admin; i++)
		if (cfg->admin_uids[i] == uid)
			return PEER_ADMIN;
	for (i = 0; i < cfg->n_web; i++)
		if (cfg->web_uids[i] == uid)
			return PEER_WEB;
	return 0;
}

/* Zero and free a client's buffers and close it; pending replies to it are dropped. */
static void
server_close(struct client *c)
{
	if (c->in != NULL) {
		sodium_memzero(c->in, c->incap);
		free(c->in);
	}
	if (c->out != NULL) {
		sodium_memzero(c->out, c->outcap);
		free(c->out);
	}
	close(c->fd);
	c->fd = -1;
	c->in = c->out = NULL;
	c->inlen = c->incap = c->outlen = c->outcap = c->outoff = 0;
	c->backlog = 0;
	c->gen++;
}

/* Web peers connected now: they may not take the slots kept for local administration. */
static int
server_nweb(void)
{
	int i, n = 0;

	for (i = 0; i < SERVER_CLIENTS_MAX; i++)
		n += server_clients[i].fd != -1 && server_clients[i].peer == PEER_WEB;
	return n;
}

/* Accept every pending connection, keeping only allowed peers. */
static void
server_accept(const struct fg_config *cfg)
{
	struct ucred	cred;
	socklen_t	len;
	int		fd, i, peer;

	while ((fd = accept4(server_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
			close(fd);
			continue;
		}
		if ((peer = server_peer_class(cfg, cred.uid)) == 0) {
			server_st.peers_refused++;
			fg_log_warn("refused peer uid=%u pid=%d: not on the allowlist",
			    (unsigned)cred.uid, (int)cred.pid);
			close(fd);
			continue;
		}
		for (i = 0; i < SERVER_CLIENTS_MAX && server_clients[i].fd != -1; i++)
			;
		if (i == SERVER_CLIENTS_MAX || (peer == PEER_WEB && server_nweb() >=
		    SERVER_CLIENTS_MAX - SERVER_ADMIN_SLOTS)) {
			fg_log_warn("too many peers; refusing uid=%u pid=%d", (unsigned)cred.uid,
			    (int)cred.pid);
			close(fd);
			continue;
		}
		server_clients[i].fd = fd;
		server_clients[i].uid = cred.uid;
		server_clients[i].pid = cred.pid;
		server_clients[i].peer = peer;
		server_st.accepted++;
		fg_log_debug("peer uid=%u pid=%d connected", (unsigned)cred.uid, (int)cred.pid);
	}
}

/* Send what is queued; on a fatal error close the client. */
static void
server_flush(struct client *c)
{
	ssize_t n;

	while (c->outoff < c->outlen) {
		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
		if (n > 0) {
			c->outoff += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		server_close(c);
		return;
	}
	sodium_memzero(c->out, c->outlen);	/* replies carry tokens */
	c->outoff = c->outlen = 0;
}

/* Queue an encoded frame for a client and try to send it at once. */
static void
server_queue(struct client *c, const uint8_t *frame, size_t len)
{
	uint8_t	*p;
	size_t	 cap;

	if (c->outlen + len > SERVER_OUT_MAX) {
		fg_log_warn("peer uid=%u pid=%d reads nothing; closing", (unsigned)c->uid,
		    (int)c->pid);
		server_close(c);
		return;
	}
	if (c->outlen + len > c->outcap) {
		cap = c->outcap ? c->outcap : 4096;
		while (cap < c->outlen + len)
			cap *= 2;
		if ((p = malloc(cap)) == NULL) {
			server_close(c);
			return;
		}
		if (c->out != NULL) {
			memcpy(p, c->out, c->outlen);
			sodium_memzero(c->out, c->outcap);
			free(c->out);
		}
		c->out = p;
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, frame, len);
	c->outlen += len;
	server_flush(c);
}

/* The client a request came from, if it is still the same connection. */
static struct client *
server_client(const struct fg_reqctx *ctx)
{
	struct client *c;

	if (ctx->slot >= SERVER_CLIENTS_MAX)
		return NULL;
	c = &server_clients[ctx->slot];
	return c->fd != -1 && c->gen == ctx->gen ? c : NULL;
}

/* Send a reply now (it is consumed); the frame is built in one scratch buffer. */
void
server_reply(const struct fg_reqctx *ctx, json_t *reply)
{
	static uint8_t	 frame[FG_FRAME_BUF_LEN];
	struct client	*c = server_client(ctx);
	size_t		 len;

	if (reply == NULL)
		reply = json_pack("{sbssss}", "ok", 0, "error", "server_error", "message",
		    "reply could not be built");
	if (c != NULL && fg_frame_encode(FG_FRAME_REPLY, ctx->id, reply, frame, sizeof(frame),
	    &len) != FG_FRAME_OK) {
		/* never leave a request unanswered: a small error always fits */
		fg_log_warn("reply to uid=%u pid=%d exceeds the frame cap", (unsigned)c->uid,
		    (int)c->pid);
		json_decref(reply);
		reply = json_pack("{sbssss}", "ok", 0, "error", "server_error", "message",
		    "the reply was too large to send");
		if (fg_frame_encode(FG_FRAME_REPLY, ctx->id, reply, frame, sizeof(frame), &len) !=
		    FG_FRAME_OK)
			c = NULL;
	}
	if (c != NULL) {
		server_queue(c, frame, len);
		sodium_memzero(frame, len);	/* replies carry tokens */
	}
	json_decref(reply);
}

/* Frame and queue a serialised body (consumed); zero the copies, they carry a token. */
void
server_send_raw(const struct fg_reqctx *ctx, char *body, size_t len)
{
	static uint8_t	 frame[FG_FRAME_BUF_LEN];
	struct client	*c = server_client(ctx);

	if (c != NULL) {
		fg_frame_hdr_encode(frame, FG_FRAME_REPLY, ctx->id, (uint32_t)len);
		memcpy(frame + FG_FRAME_HDR_LEN, body, len);
		server_queue(c, frame, FG_FRAME_HDR_LEN + len);
		sodium_memzero(frame, FG_FRAME_HDR_LEN + len);
	}
	sodium_memzero(body, len);
	free(body);
}

/* An error reply: code for programs, message for people; 503s say when to retry. */
void
server_reply_error(const struct fg_reqctx *ctx, const char *code, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;
	json_t	*reply;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply = json_pack("{sbssss}", "ok", 0, "error", code, "message", msg);
	if (reply != NULL && strcmp(code, "temporarily_unavailable") == 0)
		json_object_set_new(reply, "retry_after", json_integer(5));
	server_reply(ctx, reply);
}

/* An error reply with the HTTP status an upstream answered (0: none); 503s say when to retry. */
void
server_reply_status(const struct fg_reqctx *ctx, const char *code, const char *message,
    long status, long retry_after)
{
	json_t *reply = json_pack("{sbssss}", "ok", 0, "error", code, "message", message);

	if (reply != NULL && status > 0)
		json_object_set_new(reply, "status", json_integer(status));
	if (reply != NULL && strcmp(code, "temporarily_unavailable") == 0)
		json_object_set_new(reply, "retry_after", json_integer(retry_after > 0 ?
		    retry_after : 5));
	server_reply(ctx, reply);
}

/* Answer {key: arr[0]}, or not_found naming what when arr is empty; arr is consumed. */
void
server_reply_first(const struct fg_reqctx *ctx, json_t *arr, const char *key, const char *what)
{
	if (json_array_size(arr) == 0)
		server_reply_error(ctx, "not_found", "no such %s", what);
	else
		server_reply(ctx, json_pack("{sbsO}", "ok", 1, key, json_array_get(arr, 0)));
	json_decref(arr);
}

/* Who a request acts as, for the audit log. */
void
server_actor(const struct fg_reqctx *ctx, char *out, size_t outlen)
{
	if (ctx->user[0] != '\0')
		snprintf(out, outlen, "user:%s", ctx->user);
	else
		snprintf(out, outlen, "%s:uid=%u", ctx->peer == PEER_ADMIN ? "local" : "web",
		    (unsigned)ctx->uid);
}

/* True when buf starts with a whole frame (or a bad header): work for the next turn. */
static int
server_frame_ready(const uint8_t *buf, size_t len)
{
	struct fg_frame_hdr	hdr;
	int			r = fg_frame_hdr_decode(buf, len, &hdr);

	return r == FG_FRAME_OK ? len - FG_FRAME_HDR_LEN >= hdr.len : r != FG_FRAME_SHORT;
}

/* Decode and dispatch a turn's share of the complete frames in the input; -1 closes it. */
static int
server_frames(struct client *c, uint32_t slot)
{
	struct fg_frame_hdr	 hdr;
	struct fg_reqctx	 ctx;
	json_t			*body;
	size_t			 used, off = 0;
	int			 r, n = 0;

	c->backlog = 0;
	while (off < c->inlen) {
		if (n++ == SERVER_FRAMES_PER_TURN) {
			/* the rest waits for the next turn, after every other peer's share */
			c->backlog = server_frame_ready(c->in + off, c->inlen - off);
			break;
		}
		r = fg_frame_decode(c->in + off, c->inlen - off, FG_FRAME_REQUEST, &hdr, &body,
		    &used);
		if (r == FG_FRAME_SHORT)
			break;
		if (r != FG_FRAME_OK) {
			server_st.frames_rejected++;
			fg_log_warn("peer uid=%u pid=%d sent a bad frame (%s); closing",
			    (unsigned)c->uid, (int)c->pid, fg_frame_strerror(r));
			return -1;
		}
		ctx = (struct fg_reqctx){ slot, c->gen, hdr.id, c->peer, c->uid, c->pid, 0, 0, "" };
		server_st.requests++;
		verbs_dispatch(&ctx, body);
		json_decref(body);
		off += used;
		if (c->fd == -1 || c->gen != ctx.gen)
			return 0;	/* closed while answering */
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->inlen - off);
		sodium_memzero(c->in + c->inlen - off, off);
		c->inlen -= off;
	}
	return 0;
}

/* Make room for the frame being read; the header's length was checked against the cap. */
static int
server_grow_in(struct client *c)
{
	struct fg_frame_hdr	 hdr;
	size_t			 need = SERVER_IN_INITIAL;
	uint8_t			*p;

	if (fg_frame_hdr_decode(c->in, c->inlen, &hdr) == FG_FRAME_OK)
		need = FG_FRAME_HDR_LEN + hdr.len;
	if (c->inlen < need && need <= c->incap)
		return 0;
	if (need <= c->incap)
		need = c->incap * 2;
	if (need > FG_FRAME_HDR_LEN + FG_FRAME_MAX)
		need = FG_FRAME_HDR_LEN + FG_FRAME_MAX;
	if (need <= c->incap || (p = malloc(need)) == NULL)
		return -1;
	if (c->in != NULL) {
		memcpy(p, c->in, c->inlen);
		sodium_memzero(c->in, c->incap);
		free(c->in);
	}
	c->in = p;
	c->incap = need;
	return 0;
}

/*
 * Read once what the client sent (unless a turn's share of its frames still waits), then
 * handle at most a turn's share of its frames.
 */
static void
server_read(struct client *c, uint32_t slot, int readable)
{
	struct fg_frame_hdr	hdr;
	ssize_t			n;
	int			r;

	if (readable && !(c->backlog && c->inlen == c->incap)) {
		if (c->inlen == c->incap && server_grow_in(c) == -1) {
			server_close(c);
			return;
		}
		n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, 0);
		if (n == 0 || (n == -1 && errno != EINTR && errno != EAGAIN &&
		    errno != EWOULDBLOCK)) {
			server_close(c);
			return;
		}
		if (n > 0)
			c->inlen += (size_t)n;
		/* reject a bad header as soon as it is complete, before buffering its body */
		if ((r = fg_frame_hdr_decode(c->in, c->inlen, &hdr)) < 0 && r != FG_FRAME_SHORT) {
			server_st.frames_rejected++;
			fg_log_warn("peer uid=%u pid=%d sent a bad frame (%s); closing",
			    (unsigned)c->uid, (int)c->pid, fg_frame_strerror(r));
			server_close(c);
			return;
		}
	}
	if (server_frames(c, slot) == -1)
		server_close(c);
}

static void
server_signal(int sig)
{
	(void)sig;
	server_quit = 1;
}

/* SIGTERM and SIGINT end the loop; no SA_RESTART so a blocking poll returns. */
static void
server_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = server_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/*
 * Periodic work: refresh tokens ahead of expiry, retire old secrets (once per cluster: on the
 * lease's holder, at once when it has just taken the lease over).
 */
static void
server_timers(time_t *last_refresh, time_t *last_sweep)
{
	time_t now = time(NULL);

	if (now != *last_refresh) {
		*last_refresh = now;
		cluster_notify_tick();
		store_reachable();	/* an idle node reconnects too */
		token_refresh_due();
		refusal_sweep(0);
		audit_anchor();
		if (lease_tick())
			*last_sweep = 0;
	}
	if (now - *last_sweep >= 60) {
		*last_sweep = now;
		if (lease_held())
			connection_sweep();
		oidc_sweep();
	}
}

/*
 * How long a turn may wait for events: not at all while frames wait in a peer's buffer or slow
 * work is due, until its next slice while requests come in, a millisecond while slow work
 * waits for the writer, else a second.
 */
static int
server_timeout(int backlog)
{
	long long	wait_ns;

	if (backlog)
		return 0;
	if (!(verify_busy() || backup_busy() || archive_busy()))
		return 1000;
	if (!writer_idle())
		return 1;
	/* while requests come in, sleep until slow work's next slice is due instead of spinning */
	wait_ns = server_slow_after - monotime_ns();
	return wait_ns > 0 ? (int)((wait_ns + 999999) / 1000000) : 0;
}

/*
 * Slow work (verification, backup, archive) gets a slice of a turn while the writer has
 * nothing to write: eight shares when no request came for a while; one share at most a tenth
 * of the time while requests come in, so a long walk never makes tokens wait behind it.
 */
static void
server_slow_work(int requested)
{
	long long	now = monotime_ns(), busy;

	if (requested)		/* noted even when the writer is busy, or a flow of tokens looks idle */
		server_last_request = now;
	if (!writer_idle())
		return;
	/* a walk or a backup filled the page cache and the heap: give that back, not keep it */
	if (server_slow_was && !(verify_busy() || backup_busy() || archive_busy())) {
		db_release_memory();
		malloc_trim(0);
	}
	server_slow_was = verify_busy() || backup_busy() || archive_busy();
	busy = now - server_last_request < SERVER_QUIET_NS;
	if (busy && now < server_slow_after)
		return;
	verify_step(busy ? 1 : 8);
	backup_step(busy ? 1 : 8);
	archive_step(busy ? 1 : 8);
	if (busy)
		server_st.slow_busy_ns += (uint64_t)(monotime_ns() - now);
	server_slow_after = busy ? now + (monotime_ns() - now) * (SERVER_SLOW_DUTY - 1) : 0;
}

/* One poll over the listening socket, every peer and every upstream transfer. */
static void
server_turn(const struct fg_config *cfg, struct curl_waitfd *wfd, uint32_t *slot_of)
{
	unsigned int	n = 0, i, first, rlog = 0, cnote = 0;
	int		backlog = 0, ev;
	uint64_t	requests = server_st.requests;

	wfd[n].fd = server_fd;
	wfd[n].events = CURL_WAIT_POLLIN;
	wfd[n++].revents = 0;
	wfd[n].fd = pwhash_fd();
	wfd[n].events = CURL_WAIT_POLLIN;
	wfd[n++].revents = 0;
	wfd[n].fd = writer_fd();
	wfd[n].events = CURL_WAIT_POLLIN;
	wfd[n++].revents = 0;
	if ((wfd[n].fd = relayclose_fd()) != -1) {
		wfd[n].events = CURL_WAIT_POLLIN;
		wfd[n].revents = 0;
		rlog = n++;
	}
	if ((wfd[n].fd = cluster_notify_fd(&ev)) != -1) {	/* the cluster's LISTEN (PostgreSQL) */
		wfd[n].events = ((ev & 1) ? CURL_WAIT_POLLIN : 0) | ((ev & 2) ? CURL_WAIT_POLLOUT : 0);
		wfd[n].revents = 0;
		cnote = n++;
	}
	first = n;
	for (i = 0; i < SERVER_CLIENTS_MAX; i++) {
		if (server_clients[i].fd == -1)
			continue;
		wfd[n].fd = server_clients[i].fd;
		wfd[n].events = CURL_WAIT_POLLIN |
		    (server_clients[i].outlen > server_clients[i].outoff ? CURL_WAIT_POLLOUT : 0);
		wfd[n].revents = 0;
		backlog |= server_clients[i].backlog;
		slot_of[n++] = i;
	}
	if (upstream_wait(wfd, n, server_timeout(backlog)) == -1 && errno != EINTR)
		fg_log_warn("poll failed: %s", strerror(errno));
	for (i = first; i < n; i++) {
		struct client *c = &server_clients[slot_of[i]];

		if (c->fd == -1)
			continue;
		if (wfd[i].revents & CURL_WAIT_POLLOUT)
			server_flush(c);
		if (c->fd != -1 && ((wfd[i].revents & ~CURL_WAIT_POLLOUT) || c->backlog))
			server_read(c, slot_of[i], (wfd[i].revents & ~CURL_WAIT_POLLOUT) != 0);
	}
	if (wfd[0].revents)
		server_accept(cfg);
	if (wfd[1].revents)
		pwhash_collect();
	if (rlog != 0 && wfd[rlog].revents)
		relayclose_read();
	if (cnote != 0 && wfd[cnote].revents)
		cluster_notify_ready();
	upstream_run();
	hold_end_turn(wfd[2].revents != 0);
	server_slow_work(server_st.requests != requests);
}

/* Serve until SIGTERM; then finish cleanly: audit committed, secrets zeroed. */
int
server_loop(const struct fg_config *cfg)
{
	static struct curl_waitfd	wfd[SERVER_CLIENTS_MAX + 5];
	static uint32_t			slot_of[SERVER_CLIENTS_MAX + 5];
	time_t				last_refresh = 0, last_sweep = time(NULL);
	int				i;

	server_signals();
	fg_log_info("ready, listening on %s", server_path);
	while (!server_quit) {
		server_turn(cfg, wfd, slot_of);
		server_timers(&last_refresh, &last_sweep);
	}
	fg_log_info("shutting down");
	close(server_fd);
	unlink(server_path);
	upstream_shutdown();
	pwhash_shutdown();
	oidc_shutdown();
	discovery_shutdown();
	refusal_sweep(1);
	backup_shutdown();
	hold_shutdown();
	writer_shutdown();
	audit_anchor();
	lease_release();
	audit_shutdown();
	for (i = 0; i < SERVER_CLIENTS_MAX; i++)
		if (server_clients[i].fd != -1)
			server_close(&server_clients[i]);
	token_shutdown();
	relayclose_shutdown();
	return 0;
}

/* Counters for /metrics. */
json_t *
server_stats(void)
{
	int i, active = 0;

	for (i = 0; i < SERVER_CLIENTS_MAX; i++)
		active += server_clients[i].fd != -1;
	return json_pack("{sIsIsIsIsisI}", "peers_accepted", (json_int_t)server_st.accepted,
	    "peers_refused", (json_int_t)server_st.peers_refused, "frames_rejected",
	    (json_int_t)server_st.frames_rejected, "requests", (json_int_t)server_st.requests,
	    "peers_active", active, "slow_busy_ns", (json_int_t)server_st.slow_busy_ns);
}
