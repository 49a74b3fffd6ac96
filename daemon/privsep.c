/* Privilege handling: secret file checks, no core dumps, no ptrace, one fixed drop order. */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

/*
 * Refuse a secret file that is not a regular file owned by the daemon's user, or that group or
 * others may read or write: like OpenSMTPD's check_file_secrecy, but on what was opened.
 */
static int
privsep_check_secret(const struct stat *st, const char *path, const char *what, char *err,
    size_t errlen)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s %s: not a regular file", what, path);
		return -1;
	}
	if (st->st_uid != geteuid()) {
		snprintf(err, errlen, "%s %s: owned by uid %u, not by the daemon's user (uid %u)",
		    what, path, (unsigned)st->st_uid, (unsigned)geteuid());
		return -1;
	}
	if (st->st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "%s %s: mode %04o is readable or writable by group or others; "
		    "chmod 600 it", what, path, (unsigned)(st->st_mode & 07777));
		return -1;
	}
	return 0;
}

/*
 * Open a secret file for reading and check the descriptor itself (fstat), so that what is
 * checked is what is read: a name checked before opening could be swapped meanwhile.  No
 * symbolic links; O_NONBLOCK so that a FIFO put in its place cannot hang the start.  Returns
 * the descriptor (close-on-exec), or -1 with err set.
 */
int
privsep_open_secret(const char *path, const char *what, struct stat *st, char *err,
    size_t errlen)
{
	int	fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "%s %s: %s", what, path, errno == ELOOP ?
		    "a symbolic link; refusing to follow it" : strerror(errno));
		return -1;
	}
	if (fstat(fd, st) == -1) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		close(fd);
		return -1;
	}
	if (privsep_check_secret(st, path, what, err, errlen) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* No core files: a dump would hold the master key. */
void
privsep_no_core(void)
{
	struct rlimit rl = { 0, 0 };

	setrlimit(RLIMIT_CORE, &rl);
}

/* No ptrace attach and no /proc/PID/mem for other processes of our uid. */
void
privsep_undumpable(void)
{
#ifdef HAVE_SYS_PRCTL_H
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

/*
 * Become user, in the order sshd and OpenSMTPD use: look up, groups, gid, uid; then check
 * that root cannot be regained.  No chroot: libcurl needs the resolver and the CA file.
 */
int
privsep_drop(const char *user, char *err, size_t errlen)
{
	struct passwd	*pw;
	uid_t		 uid;
	gid_t		 gid;

	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errlen, "unknown user %s", user);
		return -1;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1) {
		snprintf(err, errlen, "cannot drop privileges to %s: %s", user, strerror(errno));
		return -1;
	}
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		snprintf(err, errlen, "could regain root after dropping to %s", user);
		return -1;
	}
	/* libraries look in $HOME (libpq's ~/.postgresql): the new user's, never root's */
	if (setenv("HOME", pw->pw_dir, 1) == -1) {
		snprintf(err, errlen, "cannot set HOME: %s", strerror(errno));
		return -1;
	}
	return 0;
}
