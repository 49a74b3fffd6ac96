/*
 * relay.close: when nginx ends a WebSocket relay it writes one access-log line (log_format
 * flowgate_relay: request id, status, bytes each way, duration; never a query string) to a
 * syslog datagram socket this daemon reads in its own loop.  relay.c notes each opening it
 * authorised under nginx's request id; the line's id finds who opened the relay, and the
 * record names the same actor, app and connection as relay.open, with the id that links them.
 *
 * Why here and not in flowgate-fcgi: the audit chain is the daemon's, and a datagram costs one
 * non-blocking recvmsg and a bounded parse (relayline.c) on the loop; the FastCGI workers block
 * in accept and would have to forward every line as a verb.  The socket is made under umask
 * 0117 (group: [relay] log_group), and each datagram carries its sender's credentials
 * (SO_PASSCRED): only [relay] log_users (nginx's workers) are heard.  nginx never waits on it
 * (its syslog socket is non-blocking): a line lost to a full queue leaves a relay.open without
 * its relay.close, never a stalled relay.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

#define RELAYCLOSE_BUCKETS	1024
#define RELAYCLOSE_OPEN_MAX	16384	/* relays remembered at once */
#define RELAYCLOSE_TURN_MAX	64	/* lines read per loop turn: the loop stays fair */

struct relayclose_open {
	char			 request_id[33];
	char			 actor[96];
	char			 app[FG_NAME_MAX + 1];
	char			 conn[FG_NAME_MAX + 1];
	char			 detail[160];	/* relay.open's: kind, ticket, request id */
	struct relayclose_open	*next;
};

static struct relayclose_open	*relayclose_table[RELAYCLOSE_BUCKETS];
static size_t			 relayclose_n;
static int			 relayclose_sock = -1;
static const char		*relayclose_path;
static const struct fg_config	*relayclose_cfg;
static unsigned long		 relayclose_refused;	/* datagrams not heard or malformed */

/* The bucket of a request id (hex digits, already uniform). */
static unsigned int
relayclose_bucket(const char *rid)
{
	return (unsigned int)strtoul(rid + 28, NULL, 16) % RELAYCLOSE_BUCKETS;
}

/* Make the datagram socket of [relay] log_socket, if configured; -1 and err on failure. */
int
relayclose_listen(const struct fg_config *cfg, char *err, size_t errlen)
{
	int on = 1;

	relayclose_cfg = cfg;
	if (cfg->relay_log_socket == NULL)
		return 0;
	if ((relayclose_sock = server_bind(cfg->relay_log_socket, SOCK_DGRAM, cfg->user,
	    cfg->relay_log_group ? cfg->relay_log_group : cfg->socket_group, err, errlen)) == -1)
		return -1;
	if (setsockopt(relayclose_sock, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) == -1) {
		snprintf(err, errlen, "SO_PASSCRED on %s: %s", cfg->relay_log_socket,
		    strerror(errno));
		return -1;
	}
	relayclose_path = cfg->relay_log_socket;
	return 0;
}

/* The socket to poll, or -1 when relay.close records are off. */
int
relayclose_fd(void)
{
	return relayclose_sock;
}

/* Remember who opened the relay nginx knows as request_id, until its line comes. */
void
relayclose_note(const char *request_id, const char *actor, const char *app, const char *conn,
    const char *detail)
{
	struct relayclose_open	*o;
	unsigned int		 h;

	if (relayclose_sock == -1 || request_id == NULL || strlen(request_id) != 32)
		return;
	/* full: the close is still recorded, with the id relay.open has, without the names */
	if (relayclose_n >= RELAYCLOSE_OPEN_MAX || (o = calloc(1, sizeof(*o))) == NULL)
		return;
	snprintf(o->request_id, sizeof(o->request_id), "%s", request_id);
	snprintf(o->actor, sizeof(o->actor), "%s", actor);
	snprintf(o->app, sizeof(o->app), "%s", app ? app : "");
	snprintf(o->conn, sizeof(o->conn), "%s", conn ? conn : "");
	snprintf(o->detail, sizeof(o->detail), "%s", detail);
	h = relayclose_bucket(request_id);
	o->next = relayclose_table[h];
	relayclose_table[h] = o;
	relayclose_n++;
}

/* Unlink and return the opening of request_id (the caller frees it), or NULL. */
static struct relayclose_open *
relayclose_take(const char *rid)
{
	struct relayclose_open	**pp, *o;

	for (pp = &relayclose_table[relayclose_bucket(rid)]; (o = *pp) != NULL; pp = &o->next) {
		if (strcmp(o->request_id, rid) == 0) {
			*pp = o->next;
			relayclose_n--;
			return o;
		}
	}
	return NULL;
}

/*
 * The relay.close record of one line; a request refused before any opening has none.  An
 * opening not remembered (the table was full, or the daemon restarted meanwhile) is still
 * linked to its relay.open by the request id, only without the names.
 */
static void
relayclose_record(const struct relayline *l)
{
	struct relayclose_open	*o = relayclose_take(l->request_id);
	char			 detail[320];
	struct audit_rec	 rec = { o ? o->actor : "-", "relay.close", o && o->app[0] ?
				    o->app : NULL, o && o->conn[0] ? o->conn : NULL, NULL, "closed",
				    detail, NULL };

	if (o == NULL && l->status != 101)
		return;		/* the gate refused it: its refusal is audited already */
	snprintf(detail, sizeof(detail), "%s%s status=%d to_client=%llu to_upstream=%llu "
	    "duration_ms=%llu", o ? o->detail : "request=", o ? "" : l->request_id, l->status,
	    (unsigned long long)l->to_client, (unsigned long long)l->to_upstream,
	    (unsigned long long)l->duration_ms);
	audit_append(&rec);
	free(o);
}

/* True when the datagram's sender is one of [relay] log_users. */
static int
relayclose_heard(struct msghdr *mh)
{
	struct cmsghdr	*cm;
	struct ucred	 cred;
	size_t		 i;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_CREDENTIALS ||
		    cm->cmsg_len != CMSG_LEN(sizeof(cred)))
			continue;
		memcpy(&cred, CMSG_DATA(cm), sizeof(cred));
		for (i = 0; i < relayclose_cfg->n_relay_log; i++)
			if (relayclose_cfg->relay_log_uids[i] == cred.uid)
				return 1;
	}
	return 0;
}

/* Read the lines waiting (a bounded number per turn) and record each relay's close. */
void
relayclose_read(void)
{
	char		 buf[RELAYLINE_MAX + 1];
	union {
		struct cmsghdr	hdr;
		char		space[CMSG_SPACE(sizeof(struct ucred))];
	}		 ctl;
	struct iovec	 iov = { buf, sizeof(buf) };
	struct msghdr	 mh;
	struct relayline l;
	ssize_t		 n;
	int		 i;

	for (i = 0; i < RELAYCLOSE_TURN_MAX; i++) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = &ctl;
		mh.msg_controllen = sizeof(ctl);
		if ((n = recvmsg(relayclose_sock, &mh, MSG_DONTWAIT)) == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				fg_log_warn("relay log %s: %s", relayclose_path, strerror(errno));
			return;
		}
		if (!relayclose_heard(&mh) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
		    relayline_parse(buf, (size_t)n, &l) == -1) {
			/* the first and every 1000th, without the line: a flood cannot fill the log */
			if (relayclose_refused++ % 1000 == 0)
				fg_log_warn("relay log %s: a datagram from a sender not in [relay] "
				    "log_users, or not a relay log line, ignored (%lu so far)",
				    relayclose_path, relayclose_refused);
			continue;
		}
		relayclose_record(&l);
	}
}

/* Close and remove the socket, forget every opening. */
void
relayclose_shutdown(void)
{
	struct relayclose_open	*o, *next;
	int			 i;

	if (relayclose_sock != -1) {
		close(relayclose_sock);
		unlink(relayclose_path);
		relayclose_sock = -1;
	}
	for (i = 0; i < RELAYCLOSE_BUCKETS; i++) {
		for (o = relayclose_table[i]; o != NULL; o = next) {
			next = o->next;
			free(o);
		}
		relayclose_table[i] = NULL;
	}
	relayclose_n = 0;
}
