/*
 * flowgatectl key: new, status, rotate, retire.  The daemon re-seals (key.rotate) and says
 * which key it uses (key.status); this side handles the key files, which the daemon in its
 * sandbox may not write.  Before the daemon is asked, the new key is written to
 * <key_file>.next (never over a file, 0600, fsynced with its directory); once it has
 * answered, <key_file> is linked to <key_file>.old and <key_file>.next renamed over
 * <key_file>, so at every moment some name holds each key (keyring.c finds the right one).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "flowgatectl.h"
#include "log.h"

/* Make a rename or a new name durable: fsync the directory that holds path. */
static void
ctl_key_sync_dir(const char *path)
{
	char	dir[4096];
	int	fd;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 || fsync(fd) == -1)
		fg_fatal("fsync %s: %s", dir, strerror(errno));
	close(fd);
}

/* A new key file at path; the daemon's when we are root and it reads it itself (own). */
static void
ctl_key_create(const char *path, int own)
{
	struct passwd	*pw = NULL;
	char		 err[512];

	if (own && geteuid() == 0 && fg_cfg->user != NULL && (pw = getpwnam(fg_cfg->user)) == NULL)
		fg_fatal("unknown user %s", fg_cfg->user);
	if (seal_create_keyfile(path, err, sizeof(err)) == -1)
		fg_fatal("%s (refusing to replace an existing file)", err);
	if (pw != NULL && chown(path, pw->pw_uid, pw->pw_gid) == -1)
		fg_fatal("chown %s: %s", path, strerror(errno));
	ctl_key_sync_dir(path);
}

/* Refuse (exit 1) with a message, after letting go of the status it was decided on. */
static void __attribute__((format(printf, 2, 3), noreturn))
ctl_key_refuse(json_t *st, const char *fmt, ...)
{
	char	msg[1024];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_decref(st);
	fg_fatal("%s", msg);
}

/* The daemon's key.status, or exit with its refusal. */
static json_t *
ctl_key_status(void)
{
	json_t *r = ctl_call(json_pack("{ss}", "verb", "key.status"));

	if (!json_is_true(json_object_get(r, "ok")))
		exit(ctl_refused(r));
	return r;
}

/* What one of key_file's names holds, as key.status reported it. */
static json_t *
ctl_key_file(json_t *status, const char *name)
{
	return json_object_get(json_object_get(status, "files"), name);
}

static int
ctl_key_present(json_t *status, const char *name)
{
	return json_object_get(ctl_key_file(status, name), "key_id") != NULL;
}

static int
ctl_key_absent(json_t *status, const char *name)
{
	const char *state = json_string_value(json_object_get(ctl_key_file(status, name), "state"));

	return state != NULL && strcmp(state, "absent") == 0;
}

static int
ctl_key_in_use(json_t *status, const char *name)
{
	return json_is_true(json_object_get(ctl_key_file(status, name), "in_use"));
}

static const char *
ctl_key_path(json_t *status, const char *name)
{
	return json_string_value(json_object_get(ctl_key_file(status, name), "path"));
}

/* After the commit: key_file becomes .old (a second name first), .next becomes key_file. */
static void
ctl_key_finish(json_t *st)
{
	const char *base = ctl_key_path(st, "key_file"), *next = ctl_key_path(st, "next");
	const char *old = ctl_key_path(st, "old");

	if (link(base, old) == -1 && errno != EEXIST)
		ctl_key_refuse(st, "link %s %s: %s", base, old, strerror(errno));
	if (rename(next, base) == -1)
		ctl_key_refuse(st, "rename %s %s: %s", next, base, strerror(errno));
	ctl_key_sync_dir(base);
}

/* key_file is a systemd credential: the unit, not flowgatectl, names its files. */
static int
ctl_key_rotate_credential(json_t *st)
{
	const char	*name = strchr(fg_cfg->key_file, ':') + 1;
	json_t		*r;

	if (ctl_key_in_use(st, "next")) {
		printf("the database is sealed by the key in %s: make it the credential %s in the "
		    "unit (and the old one %s.old), then restart flowgated\n",
		    ctl_key_path(st, "next"), name, name);
		json_decref(st);
		return 0;
	}
	if (!ctl_key_present(st, "next"))
		ctl_key_refuse(st, "key_file is a systemd credential: write a new key (flowgatectl "
		    "key new FILE), load it as the credential %s.next in flowgated's unit, restart "
		    "flowgated, then run this again", name);
	json_decref(st);
	r = ctl_call(json_pack("{ss}", "verb", "key.rotate"));
	if (!json_is_true(json_object_get(r, "ok")))
		return ctl_refused(r);
	printf("master key rotated to %s; in the unit, load the new key as %s and the old one "
	    "as %s.old, then restart flowgated\n", json_string_value(json_object_get(r, "key_id")),
	    name, name);
	json_decref(r);
	return 0;
}

/* key rotate: a new key in key_file.next, everything re-sealed under it, the files renamed. */
static int
ctl_key_rotate(void)
{
	json_t	*st = ctl_key_status(), *r;

	if (json_is_true(json_object_get(st, "credential")))
		return ctl_key_rotate_credential(st);
	if (ctl_key_in_use(st, "next")) {
		printf("a rotation committed but its key files were not renamed: finishing it\n");
		ctl_key_finish(st);
		json_decref(st);
		return 0;
	}
	if (!ctl_key_in_use(st, "key_file"))
		ctl_key_refuse(st, "the key in use is not in %s: see flowgatectl key status",
		    ctl_key_path(st, "key_file"));
	if (!ctl_key_absent(st, "old"))
		ctl_key_refuse(st, "%s holds the key an earlier rotation replaced: retire it "
		    "first (flowgatectl key retire)", ctl_key_path(st, "old"));
	if (!ctl_key_present(st, "next")) {
		ctl_key_create(ctl_key_path(st, "next"), 1);
		printf("wrote the new key to %s\n", ctl_key_path(st, "next"));
	}
	r = ctl_call(json_pack("{ss}", "verb", "key.rotate"));
	if (!json_is_true(json_object_get(r, "ok"))) {
		json_decref(st);
		return ctl_refused(r);
	}
	ctl_key_finish(st);
	printf("master key rotated %s -> %s: %lld connection secrets and %lld user sessions "
	    "re-sealed in one transaction (the daemon's loop held %.1f ms)\n"
	    "the old key is kept as %s until flowgatectl key retire\n",
	    json_string_value(json_object_get(r, "old_key_id")),
	    json_string_value(json_object_get(r, "key_id")),
	    json_integer_value(json_object_get(r, "connection_secrets")),
	    json_integer_value(json_object_get(r, "user_sessions")),
	    json_real_value(json_object_get(r, "held_ms")), ctl_key_path(st, "old"));
	json_decref(r);
	json_decref(st);
	return 0;
}

/* key retire: remove key_file.old once nothing needs it. */
static int
ctl_key_retire(void)
{
	json_t		*st = ctl_key_status();
	const char	*old = ctl_key_path(st, "old");

	if (!ctl_key_in_use(st, "key_file"))
		ctl_key_refuse(st, "the key in use is not in %s: finish the rotation first "
		    "(flowgatectl key rotate)", ctl_key_path(st, "key_file"));
	if (ctl_key_in_use(st, "old"))
		ctl_key_refuse(st, "%s is the key in use: refusing to retire it", old);
	if (json_is_true(json_object_get(st, "credential"))) {
		printf("the database no longer needs %s.old: remove it from flowgated's unit\n",
		    strchr(fg_cfg->key_file, ':') + 1);
		json_decref(st);
		return 0;
	}
	if (!ctl_key_present(st, "old"))
		ctl_key_refuse(st, "no old key to retire at %s", old);
	if (unlink(old) == -1)
		ctl_key_refuse(st, "unlink %s: %s", old, strerror(errno));
	ctl_key_sync_dir(old);
	printf("retired %s (backups made before the rotation need it: keep a copy with them)\n",
	    old);
	json_decref(st);
	return 0;
}

int
ctl_key(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[0], "new") == 0) {
		/* root's: systemd reads it for LoadCredential=, or it is put in place by hand */
		ctl_key_create(argv[1], 0);
		printf("created key file %s\n", argv[1]);
		return 0;
	}
	if (argc == 1 && strcmp(argv[0], "status") == 0)
		return ctl_done(ctl_key_status(), NULL);
	if (argc == 1 && strcmp(argv[0], "rotate") == 0)
		return ctl_key_rotate();
	if (argc == 1 && strcmp(argv[0], "retire") == 0)
		return ctl_key_retire();
	ctl_usage("unknown key command");
}
