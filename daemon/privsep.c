/* Privilege handling: secret file checks, no core dumps, no ptrace, one fixed drop order. */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

/*
 * Refuse a secret file that is not a regular file owned by us (or root), or that group or
 * others may read or write: like OpenSMTPD's check_file_secrecy.
 */
int
privsep_check_secret_file(const char *path, const char *what, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) == -1) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s %s: not a regular file", what, path);
		return -1;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen, "%s %s: owned by uid %u, not by the daemon's user", what, path,
		    (unsigned)st.st_uid);
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "%s %s: mode %04o is readable or writable by group or others; "
		    "chmod 600 it", what, path, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
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
	return 0;
}
