/* The daemon's unix sockets (its peers' stream socket, the relay log's datagram socket). */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

/*
 * A unix socket of type at path, made under a tight umask (0660), owned by the daemon's user
 * and group; the fd, or -1 and err.
 */
int
server_bind(const char *path, int type, const char *user, const char *group, char *err,
    size_t errlen)
{
	struct sockaddr_un	sun;
	struct stat		st;
	struct passwd		*pw = NULL;
	struct group		*gr = NULL;
	mode_t			old;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			return -1;
		}
		unlink(path);
	}
	if ((fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (user != NULL && (pw = getpwnam(user)) == NULL)
		snprintf(err, errlen, "unknown user %s", user);
	else if (group != NULL && (gr = getgrnam(group)) == NULL)
		snprintf(err, errlen, "unknown group %s", group);
	else if (geteuid() == 0 && chown(path, pw ? pw->pw_uid : 0, gr ? gr->gr_gid :
	    (pw ? pw->pw_gid : 0)) == -1)
		snprintf(err, errlen, "chown %s: %s", path, strerror(errno));
	else
		return fd;
	close(fd);
	return -1;
}
