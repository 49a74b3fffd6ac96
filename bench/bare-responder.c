/*
 * bare-responder: the baseline bench/run compares flowgate-fcgi with.  The same process model as
 * flowgate-fcgi (binds its own FastCGI socket, forks N workers, reaps and restarts them, SIGTERM
 * stops all), but each request just reads its body and answers a fixed small JSON.
 *
 * usage: bare-responder SOCKET_PATH [WORKERS]
 * Built with `make bench/bare-responder` in a build dir; it needs nothing but libfcgi, so bench/run
 * can also compile it on its own (cc bench/bare-responder.c -lfcgi).
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MAXW 64
static const char reply[] = "{\"access_token\":\"bare\",\"token_type\":\"Bearer\",\"expires_in\":300,"
    "\"scope\":\"openid streams\"}";
static pid_t kids[MAXW];
static int nkids;
static volatile sig_atomic_t stopping;

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

static void
serve(int sock)
{
	FCGX_Request	req;
	char		buf[4096];

	FCGX_InitRequest(&req, sock, 0);
	while (!stopping && FCGX_Accept_r(&req) == 0) {
		while (FCGX_GetStr(buf, sizeof(buf), req.in) > 0)
			;	/* read the form body, as the real front end does */
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

	if (argc < 2 || argc > 3 || n < 1 || n > MAXW) {
		fprintf(stderr, "usage: %s SOCKET_PATH [WORKERS 1..%d]\n", argv[0], MAXW);
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (FCGX_Init() != 0 || (sock = FCGX_OpenSocket(argv[1], 1024)) < 0)
		return 1;
	chmod(argv[1], 0666);	/* benchmark only: any local web server may connect */
	nkids = n;
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
	return 0;
}
