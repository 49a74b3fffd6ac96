/*
 * The SQLite store's files: opening the database only after checking who can read it, its
 * pragmas, creating a new one, and online copies (backups).  store.c does the rest, through
 * the storage interface, for both backends.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon.h"
#include "log.h"

/* Pragmas every connection needs: WAL, durability, foreign keys, zeroed free pages. */
static int
store_configure(int sync_full, char *err, size_t errlen)
{
	char	*msg = NULL;
	char	 sql[256];

	/*
	 * The daemon is the database's only user: an exclusive lock saves two fcntl locks per
	 * transaction and keeps the WAL index in memory (no -shm file at all).  A 1 MiB page
	 * cache holds the hot pages of 1,000 apps and keeps the daemon small.
	 */
	snprintf(sql, sizeof(sql), "PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL; "
	    "PRAGMA synchronous = %s; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; "
	    "PRAGMA busy_timeout = 2000; PRAGMA cache_size = -1024;", sync_full ? "FULL" : "NORMAL");
	if (sqlite3_exec(db_sqlite_handle(), sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "cannot configure database: %s", msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* The -wal and -shm files hold database pages too: same rule as the database, if they exist. */
static int
store_check_sidecars(const char *path, char *err, size_t errlen)
{
	const char	*suffix[] = { "-wal", "-shm" };
	struct stat	 st;
	char		 p[4096];
	size_t		 i;
	int		 fd;

	for (i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		if (access(p, F_OK) == -1)
			continue;
		if ((fd = privsep_open_secret(p, "database file", &st, err, errlen)) == -1)
			return -1;
		close(fd);
	}
	return 0;
}

/*
 * Check that the file SQLite opened is the one privsep_open_secret checked (*checked).  SQLite
 * keeps its descriptor private to the unix VFS (SQLITE_FCNTL_FILE_POINTER gives only the
 * opaque sqlite3_file), but open(2) returns the lowest free descriptor and sqlite3_open_v2
 * opens the main database file first, before any other thread runs: so SQLite's descriptor is
 * the lowest one that was free before the call (free_fd).  Any other file there (the name
 * swapped between the two opens, or an SQLite that opens something else first) fails the
 * comparison and the daemon refuses to start: the check fails closed.
 */
static int
store_same_file(const char *path, int free_fd, const struct stat *checked, char *err,
    size_t errlen)
{
	struct stat	st;

	if (fstat(free_fd, &st) == -1 || st.st_dev != checked->st_dev ||
	    st.st_ino != checked->st_ino) {
		snprintf(err, errlen, "database %s: the file SQLite opened is not the one checked; "
		    "was it replaced while flowgated started?", path);
		return -1;
	}
	return 0;
}

/* The lowest free descriptor above stderr, or -1 with err set (fd is open, so not fd). */
static int
store_free_fd(const char *path, int fd, char *err, size_t errlen)
{
	int	free_fd;

	if ((free_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) == -1) {
		snprintf(err, errlen, "database %s: %s", path, strerror(errno));
		return -1;
	}
	close(free_fd);
	return free_fd;
}

/*
 * Open an existing database after checking, on an opened descriptor, that only we can read it;
 * then migrate it.  Our descriptor is closed before SQLite takes any lock: closing any
 * descriptor of a file drops the process's POSIX locks on it, SQLite's included.
 */
int
store_open(const char *path, int sync_full, char *err, size_t errlen)
{
	struct stat	 st;
	sqlite3		*h = NULL;
	int		 fd, free_fd, ok;

	if ((fd = privsep_open_secret(path, "database", &st, err, errlen)) == -1)
		return -1;
	if (store_check_sidecars(path, err, errlen) == -1 ||
	    (free_fd = store_free_fd(path, fd, err, errlen)) == -1) {
		close(fd);
		return -1;
	}
	umask(077);
	ok = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW |
	    SQLITE_OPEN_FULLMUTEX, NULL) == SQLITE_OK;	/* the audit writer shares it */
	db_use(&db_sqlite_backend);
	db_sqlite_set(h);
	if (!ok)
		snprintf(err, errlen, "database %s: %s", path, sqlite3_errmsg(h));
	else
		ok = store_same_file(path, free_fd, &st, err, errlen) == 0;
	close(fd);
	if (!ok || store_configure(sync_full, err, errlen) == -1 ||
	    store_migrate(err, errlen) == -1) {
		store_close();
		return -1;
	}
	return 0;
}

/* Create a new database (refusing to reuse a file) and apply the migrations. */
int
store_create(const char *path, char *err, size_t errlen)
{
	sqlite3	*h = NULL;
	int	 r;

	if (access(path, F_OK) == 0) {
		snprintf(err, errlen, "database %s already exists", path);
		return -1;
	}
	umask(077);
	r = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOFOLLOW, NULL);
	db_use(&db_sqlite_backend);
	db_sqlite_set(h);
	if (r != SQLITE_OK) {
		snprintf(err, errlen, "database %s: %s", path, sqlite3_errmsg(h));
		store_close();
		return -1;
	}
	/* small pages: each audit commit copies the pages it touches into the WAL */
	if (sqlite3_exec(h, "PRAGMA page_size = 1024", NULL, NULL, NULL) != SQLITE_OK ||
	    store_configure(1, err, errlen) == -1 || store_migrate(err, errlen) == -1) {
		store_close();
		return -1;
	}
	return 0;
}

/* An online copy in progress: the file and SQLite's backup of the main database into it. */
struct store_copy {
	sqlite3		*dst;
	sqlite3_backup	*b;
	char		 path[1025];
};

/* Start an online copy into path (a new file, 0600); NULL and err when it cannot start. */
struct store_copy *
store_copy_begin(const char *path, char *err, size_t errlen)
{
	struct store_copy	*c;

	if (db_dialect() != DB_SQLITE) {
		snprintf(err, errlen, "the postgresql backend is backed up by PostgreSQL's own tools "
		    "(pg_dump, pg_basebackup), not by flowgate");
		return NULL;
	}
	if (access(path, F_OK) == 0) {
		snprintf(err, errlen, "%s exists; choose a new file", path);
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	umask(077);
	if (sqlite3_open_v2(path, &c->dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, c->dst ? sqlite3_errmsg(c->dst) : "cannot open");
		sqlite3_close(c->dst);
		free(c);
		return NULL;
	}
	if ((c->b = sqlite3_backup_init(c->dst, "main", db_sqlite_handle(), "main")) == NULL) {
		snprintf(err, errlen, "backup: %s", sqlite3_errmsg(c->dst));
		store_copy_end(c, 0);
		return NULL;
	}
	return c;
}

/* Copy up to pages more; 1 while pages remain, 0 when done, -1 (and err) on failure. */
int
store_copy_step(struct store_copy *c, int pages, char *err, size_t errlen)
{
	int r = sqlite3_backup_step(c->b, pages);

	if (r == SQLITE_DONE)
		return 0;
	if (r == SQLITE_OK || r == SQLITE_BUSY || r == SQLITE_LOCKED)
		return 1;
	snprintf(err, errlen, "backup: %s", sqlite3_errstr(r));
	return -1;
}

/* Finish a copy: kept when ok, else its file is removed. */
void
store_copy_end(struct store_copy *c, int ok)
{
	if (c->b != NULL)
		sqlite3_backup_finish(c->b);
	sqlite3_close(c->dst);
	if (!ok)
		unlink(c->path);
	free(c);
}
