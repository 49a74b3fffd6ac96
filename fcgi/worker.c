/*
 * One prefork worker: accept FastCGI requests one at a time and hand each to the route table
 * (route.c); leave on SIGTERM or when the master goes away.
 */
#include "config.h"

#include <sys/prctl.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcgi.h"
#include "log.h"

static const struct worker_conf	*conf;
static volatile sig_atomic_t	 worker_stopping;

/*
 * SIGTERM: finish the request in hand, then leave.  FCGX_ShutdownPending() makes an idle
 * accept return; a signal arriving just before accept() would still be missed, so the
 * listening socket is closed too and the next accept fails at once.
 */
static void
worker_sigterm(int sig)
{
	int	saved = errno;

	(void)sig;
	worker_stopping = 1;
	FCGX_ShutdownPending();
	close(conf->listen_fd);
	errno = saved;
}

/* Signals of a worker: SIGTERM stops it gently, the master alone handles terminal signals. */
static void
worker_signals(void)
{
	struct sigaction	sa;
	sigset_t		none;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = worker_sigterm;		/* no SA_RESTART: accept must see EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Serve requests until told to stop or the master goes away; never returns. */
void
worker_run(const struct worker_conf *c)
{
	FCGX_Request	req;

	conf = c;
	worker_signals();
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != conf->master)
		_exit(0);
	link_init(conf->daemon_path);
	if (request_setup(conf->max_body) == -1)
		fg_fatal("out of memory");
	if (FCGX_InitRequest(&req, conf->listen_fd, 0) != 0)
		fg_fatal("FCGX_InitRequest failed");
	while (!worker_stopping) {
		if (FCGX_Accept_r(&req) < 0) {
			if (worker_stopping)
				break;
			fg_fatal("accept failed: %s", strerror(errno));
		}
		route_dispatch(&req, conf->max_body);
		http_body_discard(&req);
		FCGX_Finish_r(&req);
	}
	link_close();
	exit(0);
}
