/*
 * flowgate-fcgi: the unprivileged FastCGI front end.  The master binds the FastCGI socket,
 * drops privileges, forks the workers and keeps them alive; it never serves a request itself.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcgi.h"
#include "log.h"

#define LISTEN_BACKLOG		1024
#define RESTART_QUICK_MS	1000	/* a worker dying sooner than this was crashing */
#define RESTART_BACKOFF_MIN_MS	100
#define RESTART_BACKOFF_MAX_MS	5000
#define STOP_GRACE_MS		10000	/* then SIGKILL */

struct options {
	const char	*fcgi_socket;
	const char	*daemon_socket;
	const char	*user;
	const char	*group;
	const char	*web_dir;
	long		 workers;
	long		 max_body;
};

struct slot {
	pid_t		pid;		/* 0: not running */
	long long	started;	/* monotonic ms */
	long long	restart_at;	/* monotonic ms, when pid is 0 */
	long		backoff_ms;
};

static struct slot	*slots;
static long		 nslots;
static int		 restarting;	/* workers have been started once */
static int		 stopping;	/* workers are being stopped: deaths are expected */

/* Print how to call us and exit with the usage status. */
__attribute__((noreturn))
static void
usage(void)
{
	fprintf(stderr, "usage: flowgate-fcgi -R | -s FCGI_SOCKET -d DAEMON_SOCKET [-n WORKERS] "
	    "[-u USER] [-g SOCKET_GROUP] [-b MAX_BODY] [-w WEB_DIR]\n");
	exit(2);
}

/* A bounded decimal option, or usage. */
static long
master_number(const char *s, long min, long max)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		usage();
	return v;
}

/* Parse the command line; flags per doc/interfaces.md. */
static void
master_options(int argc, char **argv, struct options *o)
{
	int	ch;

	memset(o, 0, sizeof(*o));
	o->workers = FCGI_WORKERS_DEFAULT;
	o->max_body = HTTP_BODY_DEFAULT;
	o->web_dir = FG_WEBDIR;
	while ((ch = getopt(argc, argv, "Rs:d:n:u:g:b:w:")) != -1) {
		switch (ch) {
		case 's':
			o->fcgi_socket = optarg;
			break;
		case 'd':
			o->daemon_socket = optarg;
			break;
		case 'n':
			o->workers = master_number(optarg, 1, FCGI_WORKERS_MAX);
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'g':
			o->group = optarg;
			break;
		case 'b':
			o->max_body = master_number(optarg, HTTP_BODY_MIN, HTTP_BODY_MAX);
			break;
		case 'R':
			/* the route table, for operators and the routes test */
			route_print(stdout);
			exit(0);
		case 'w':
			o->web_dir = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || o->fcgi_socket == NULL || o->daemon_socket == NULL)
		usage();
}

/*
 * The user and socket group to run as.  As root a non-root -u is required; otherwise -u may
 * only name ourselves.  The socket group defaults to the user's primary group.
 */
static void
master_identity(const struct options *o, uid_t *uid, gid_t *gid, gid_t *sgid)
{
	struct passwd	*pw = NULL;
	struct group	*gr;

	if (o->user != NULL && (pw = getpwnam(o->user)) == NULL)
		fg_fatal("unknown user %s", o->user);
	if (geteuid() == 0) {
		if (pw == NULL)
			fg_fatal("running as root needs -u USER to drop privileges to");
		if (pw->pw_uid == 0)
			fg_fatal("refusing to serve as root");
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
	} else {
		if (pw != NULL && pw->pw_uid != geteuid())
			fg_fatal("-u %s needs root; run as that user instead", o->user);
		*uid = geteuid();
		*gid = getegid();
	}
	*sgid = *gid;
	if (o->group != NULL) {
		if ((gr = getgrnam(o->group)) == NULL)
			fg_fatal("unknown group %s", o->group);
		*sgid = gr->gr_gid;
	}
}

/* Remove a leftover socket, but never a live one or something that is not a socket. */
static void
master_unlink_stale(const char *path, const struct sockaddr_un *sun)
{
	struct stat	st;
	int		fd;

	if (lstat(path, &st) == -1) {
		if (errno != ENOENT)
			fg_fatal("%s: %s", path, strerror(errno));
		return;
	}
	if (!S_ISSOCK(st.st_mode))
		fg_fatal("%s exists and is not a socket", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fg_fatal("socket: %s", strerror(errno));
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0)
		fg_fatal("%s: another server is listening there", path);
	close(fd);
	if (unlink(path) == -1)
		fg_fatal("unlink %s: %s", path, strerror(errno));
}

/*
 * Bind and listen on the FastCGI socket ourselves (FCGX_OpenSocket exit()s on errors and
 * leaves the mode to the umask): made under umask 0117, then 0660 and owned by uid:sgid.
 */
static int
master_listen(const char *path, uid_t uid, gid_t sgid)
{
	struct sockaddr_un	sun;
	mode_t			old;
	int			fd, r;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		fg_fatal("socket path too long: %s", path);
	strcpy(sun.sun_path, path);
	master_unlink_stale(path, &sun);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		fg_fatal("socket: %s", strerror(errno));
	old = umask(0117);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r == -1)
		fg_fatal("bind %s: %s", path, strerror(errno));
	if (listen(fd, LISTEN_BACKLOG) == -1)
		fg_fatal("listen %s: %s", path, strerror(errno));
	if (chmod(path, 0660) == -1)
		fg_fatal("chmod %s: %s", path, strerror(errno));
	if (chown(path, geteuid() == 0 ? uid : (uid_t)-1, sgid) == -1)
		fg_fatal("chown %s: %s", path, strerror(errno));
	return fd;
}

/* Become uid:gid for good, in the fixed order, and prove root cannot be regained. */
static void
master_drop(uid_t uid, gid_t gid)
{
	uid_t	ru, eu, su;
	gid_t	rg, eg, sg;

	if (setgroups(0, NULL) == -1)
		fg_fatal("setgroups: %s", strerror(errno));
	if (setresgid(gid, gid, gid) == -1)
		fg_fatal("setresgid: %s", strerror(errno));
	if (setresuid(uid, uid, uid) == -1)
		fg_fatal("setresuid: %s", strerror(errno));
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
		fg_fatal("privileges not dropped");
	if (setuid(0) != -1 || seteuid(0) != -1)
		fg_fatal("root could be regained after dropping privileges");
}

/* Start the worker of slot i; the child never returns from here. */
static void
master_spawn(struct slot *s, const struct worker_conf *wc)
{
	pid_t	pid;

	if ((pid = fork()) == -1) {
		fg_log_warn("fork: %s", strerror(errno));
		s->restart_at = monotime_ms() + RESTART_BACKOFF_MAX_MS;
		return;
	}
	if (pid == 0)
		worker_run(wc);
	if (restarting)
		metrics_worker_restarted();
	s->pid = pid;
	s->started = monotime_ms();
}

/* Note a dead worker and when to restart it: at once, or later if it died young. */
static void
master_buried(pid_t pid, int status)
{
	long long	now = monotime_ms();
	long		i;

	for (i = 0; i < nslots && slots[i].pid != pid; i++)
		;
	if (i == nslots)
		return;
	slots[i].pid = 0;
	if (stopping)
		return;
	if (now - slots[i].started >= RESTART_QUICK_MS)
		slots[i].backoff_ms = 0;
	else if (slots[i].backoff_ms == 0)
		slots[i].backoff_ms = RESTART_BACKOFF_MIN_MS;
	else if ((slots[i].backoff_ms *= 2) > RESTART_BACKOFF_MAX_MS)
		slots[i].backoff_ms = RESTART_BACKOFF_MAX_MS;
	slots[i].restart_at = now + slots[i].backoff_ms;
	fg_log_warn("worker %ld %s %d, restarting it in %ld ms", (long)pid,
	    WIFSIGNALED(status) ? "killed by signal" : "exited with status",
	    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), slots[i].backoff_ms);
}

/* Reap every child that has exited; returns how many are still running. */
static long
master_reap(void)
{
	pid_t	pid;
	long	i, alive = 0;
	int	status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		master_buried(pid, status);
	for (i = 0; i < nslots; i++)
		alive += slots[i].pid != 0;
	return alive;
}

/* Start the workers that are due; returns ms until the next one is due (-1: none waiting). */
static long long
master_respawn(const struct worker_conf *wc)
{
	long long	now = monotime_ms(), next = -1;
	long		i;

	for (i = 0; i < nslots; i++) {
		if (slots[i].pid != 0)
			continue;
		if (slots[i].restart_at <= now)
			master_spawn(&slots[i], wc);
		else if (next == -1 || slots[i].restart_at - now < next)
			next = slots[i].restart_at - now;
	}
	restarting = 1;
	return next;
}

/* Wait for a signal in set for at most ms milliseconds; returns it, or 0 on timeout. */
static int
master_wait(const sigset_t *set, long long ms)
{
	struct timespec	ts;
	int		sig;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	sig = sigtimedwait(set, NULL, &ts);
	return sig == -1 ? 0 : sig;
}

/* Stop all workers: SIGTERM, then SIGKILL to those still there after the grace period. */
static void
master_stop(const sigset_t *set)
{
	long long	deadline = monotime_ms() + STOP_GRACE_MS;
	long		i;
	int		killed = 0;

	stopping = 1;
	for (i = 0; i < nslots; i++) {
		if (slots[i].pid != 0)
			kill(slots[i].pid, SIGTERM);
	}
	while (master_reap() > 0) {
		if (!killed && monotime_ms() >= deadline) {
			for (i = 0; i < nslots; i++) {
				if (slots[i].pid != 0)
					kill(slots[i].pid, SIGKILL);
			}
			fg_log_warn("workers still busy after %d ms, killed", STOP_GRACE_MS);
			killed = 1;
		}
		master_wait(set, 100);
	}
}

/* Keep the workers alive until SIGTERM or SIGINT. */
static void
master_loop(const struct worker_conf *wc, const sigset_t *set)
{
	long long	next;
	int		sig;

	for (;;) {
		next = master_respawn(wc);
		sig = master_wait(set, next == -1 || next > 1000 ? 1000 : next);
		if (sig == SIGTERM || sig == SIGINT) {
			fg_log_info("signal %d, stopping workers", sig);
			return;
		}
		master_reap();
	}
}

/* No-op handler: SIGCHLD must not be ignored or sigtimedwait would never see it. */
static void
master_sigchld(int sig)
{
	(void)sig;
}

/* Block the signals the master waits for; workers unblock them after fork. */
static void
master_signals(sigset_t *set)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = master_sigchld;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigprocmask(SIG_BLOCK, set, NULL);
}

int
main(int argc, char **argv)
{
	struct options		o;
	struct worker_conf	wc;
	sigset_t		set;
	uid_t			uid;
	gid_t			gid, sgid;

	fg_log_init("flowgate-fcgi");
	master_options(argc, argv, &o);
	master_identity(&o, &uid, &gid, &sgid);
	master_signals(&set);
	wc.listen_fd = master_listen(o.fcgi_socket, uid, sgid);
	/*
	 * The admin UI's templates and static files are read once, before the privilege drop (a
	 * checkout under /root stays usable) and before the workers fork (they share the copy).
	 */
	admin_static_init(o.web_dir);
	if (geteuid() == 0)
		master_drop(uid, gid);
	if (chdir("/") == -1)
		fg_fatal("chdir /: %s", strerror(errno));
	if (metrics_init() == -1)
		fg_fatal("mmap: %s", strerror(errno));
	if (FCGX_Init() != 0)
		fg_fatal("FCGX_Init failed");
	wc.daemon_path = o.daemon_socket;
	wc.max_body = (size_t)o.max_body;
	wc.master = getpid();
	nslots = o.workers;
	if ((slots = calloc((size_t)nslots, sizeof(*slots))) == NULL)
		fg_fatal("out of memory");
	fg_log_info("ready, listening on %s, %ld workers, daemon %s", o.fcgi_socket, nslots,
	    o.daemon_socket);
	master_loop(&wc, &set);
	master_stop(&set);
	if (unlink(o.fcgi_socket) == -1)
		fg_log_warn("unlink %s: %s", o.fcgi_socket, strerror(errno));
	fg_log_info("stopped");
	return 0;
}
