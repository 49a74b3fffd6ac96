/*
 * The PostgreSQL store: the connection string is read from a file only the daemon can read
 * (it may hold a password), the backend connects with it, and store.c migrates the schema.
 */
#include "config.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

#define STORE_PG_CONNINFO_MAX	4096

/* The file's text without its trailing newline; -1 and why when it is unsafe or unreadable. */
int
store_pg_read(const char *path, char *buf, size_t buflen, char *err, size_t errlen)
{
	struct stat	st;
	ssize_t		n;
	int		fd;

	if ((fd = privsep_open_secret(path, "connection string file", &st, err, errlen)) == -1)
		return -1;
	n = st.st_size < (off_t)buflen ? read(fd, buf, buflen - 1) : -1;
	close(fd);
	if (n <= 0) {
		snprintf(err, errlen, "connection string file %s: %s", path, n == 0 ? "empty" :
		    "unreadable or longer than 4095 bytes");
		return -1;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return 0;
}

/* Connect with the string in conninfo_file and migrate; -1 and err when either fails. */
int
store_pg_open(const char *conninfo_file, char *err, size_t errlen)
{
	char	conninfo[STORE_PG_CONNINFO_MAX];
	int	r;

	if (store_pg_read(conninfo_file, conninfo, sizeof(conninfo), err, errlen) == -1)
		return -1;
	r = db_pg_open(conninfo, err, errlen);
	explicit_bzero(conninfo, sizeof(conninfo));
	if (r == -1)
		return -1;
	db_use(&db_pg_backend);
	if (store_migrate(err, errlen) == -1) {
		store_close();
		return -1;
	}
	return 0;
}
