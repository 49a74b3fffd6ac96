/*
 * bare-responder: the baseline bench/run compares flowgate-fcgi with.  The same process model as
 * flowgate-fcgi (binds its own FastCGI socket, forks N workers, reaps and restarts them, SIGTERM
 * stops all), but each request just reads its body and answers a fixed small JSON.
 *
 * usage: bare-responder SOCKET_PATH [WORKERS] [hop]
 * With "hop", the master also runs an echo process (one poll loop, like the daemon's) and every
 * request makes one round trip of HOP_LEN bytes to it over a Unix socket the worker keeps: the
 * floor of any design that asks a separate daemon once per request.
 * Built with `make bench/bare-responder` in a build dir; it needs nothing but libfcgi, so bench/run
 * can also compile it on its own (cc bench/bare-responder.c -lfcgi).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcgiapp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MAXW 64
#define HOP_LEN 300
static const char reply[] = "{\"access_token\":\"bare\",\"token_type\":\"Bearer\",\"expires_in\":300,"
    "\"scope\":\"openid streams\"}";
static pid_t kids[MAXW];
static int nkids;
static volatile sig_atomic_t stopping;
static char hop_path[108];
static int hop_fd = -1;

/* hop mode: the echo process, one poll loop over every worker's kept connection */
static void
hop_echo(int lsock)
{
	struct pollfd	pfd[MAXW + 1];
	char		buf[HOP_LEN];
	int		n = 1;

	pfd[0] = (struct pollfd){ .fd = lsock, .events = POLLIN };
	while (!stopping && poll(pfd, n, -1) >= 0) {
		for (int i = n - 1; i >= 1; i--) {
			if (pfd[i].revents == 0)
				continue;
			if (recv(pfd[i].fd, buf, sizeof(buf), MSG_WAITALL) != HOP_LEN ||
			    send(pfd[i].fd, buf, HOP_LEN, MSG_NOSIGNAL) != HOP_LEN) {
				close(pfd[i].fd);
				pfd[i] = pfd[--n];
			}
		}
		if ((pfd[0].revents & POLLIN) && n <= MAXW) {
			int fd = accept(lsock, NULL, NULL);
			if (fd >= 0)
				pfd[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
		}
	}
	_exit(0);
}

/* hop mode: one round trip on the worker's kept connection, made on its first request */
static int
hop_call(void)
{
	struct sockaddr_un	sun = { .sun_family = AF_UNIX };
	char			buf[HOP_LEN];

	if (hop_fd < 0) {
		memcpy(sun.sun_path, hop_path, sizeof(hop_path));
		if ((hop_fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
		    connect(hop_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
			return -1;
	}
	memset(buf, 'x', sizeof(buf));
	if (send(hop_fd, buf, sizeof(buf), MSG_NOSIGNAL) != HOP_LEN ||
	    recv(hop_fd, buf, sizeof(buf), MSG_WAITALL) != HOP_LEN) {
		close(hop_fd);
		hop_fd = -1;
		return -1;
	}
	return 0;
}

static void
on_term(int sig)
{
	(void)sig;
	stopping = 1;
	FCGX_ShutdownPending();
	for (int i = 0; i < nkids; i++)	/* master only; a worker's copy is zeroed */
		if (kids[i] > 0)
			kill(kids[i], SIGTERM);
}

/* hop mode: listen at SOCKET_PATH.hop and fork the echo process into kids[slot] */
static int
hop_listen(const char *base, int slot)
{
	struct sockaddr_un	sun = { .sun_family = AF_UNIX };
	int			lsock;

	if (snprintf(hop_path, sizeof(hop_path), "%s.hop", base) >= (int)sizeof(hop_path))
		return -1;
	unlink(hop_path);
	memcpy(sun.sun_path, hop_path, sizeof(hop_path));
	if ((lsock = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    bind(lsock, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(lsock, MAXW) < 0)
		return -1;
	if ((kids[slot] = fork()) == 0)
		hop_echo(lsock);
	close(lsock);
	return kids[slot] > 0 ? 0 : -1;
}

static void
serve(int sock)
{
	FCGX_Request	req;
	char		buf[4096];

	FCGX_InitRequest(&req, sock, 0);
	while (!stopping && FCGX_Accept_r(&req) == 0) {
		while (FCGX_GetStr(buf, sizeof(buf), req.in) > 0)
			;	/* read the form body, as the real front end does */
		if (hop_path[0] && hop_call() < 0) {
			FCGX_FPrintF(req.out, "Status: 503 Service Unavailable\r\n\r\n");
			FCGX_Finish_r(&req);
			continue;
		}
		/* libfcgi's printf knows no %zu */
		FCGX_FPrintF(req.out, "Status: 200 OK\r\nContent-Type: application/json\r\n"
		    "Cache-Control: no-store\r\nContent-Length: %d\r\n\r\n%s", (int)sizeof(reply) - 1, reply);
		FCGX_Finish_r(&req);
	}
	_exit(0);
}

int
main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };	/* no SA_RESTART: wake accept/wait */
	int		 n = argc > 2 ? atoi(argv[2]) : 4, sock, status;
	pid_t		 pid;

	if (argc < 2 || argc > 4 || n < 1 || n > MAXW - 1 || (argc == 4 && strcmp(argv[3], "hop") != 0)) {
		fprintf(stderr, "usage: %s SOCKET_PATH [WORKERS 1..%d] [hop]\n", argv[0], MAXW - 1);
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (FCGX_Init() != 0 || (sock = FCGX_OpenSocket(argv[1], 1024)) < 0)
		return 1;
	chmod(argv[1], 0666);	/* benchmark only: any local web server may connect */
	if (argc == 4 && hop_listen(argv[1], n) < 0)
		return 1;
	nkids = n + (hop_path[0] != 0);
	for (;;) {
		for (int i = 0; i < n && !stopping; i++) {
			if (kids[i] > 0)
				continue;
			if ((pid = fork()) == 0) {
				nkids = 0;
				serve(sock);
			}
			kids[i] = pid > 0 ? pid : 0;
		}
		if ((pid = wait(&status)) > 0) {
			for (int i = 0; i < n; i++)
				if (kids[i] == pid)
					kids[i] = 0;
		} else if (errno == ECHILD && stopping)
			break;	/* every worker reaped */
		else if (errno == ECHILD)
			sleep(1);	/* fork failed: try again */
	}
	unlink(argv[1]);
	if (hop_path[0])
		unlink(hop_path);
	return 0;
}
