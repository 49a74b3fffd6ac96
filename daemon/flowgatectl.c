/*
 * flowgatectl: the command line for admins and security staff.  Everything but init goes
 * through the daemon's socket as a local ADMIN peer; secrets come from stdin or a file, never
 * from argv (which every user can read in ps).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <malloc.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "client.h"
#include "daemon.h"
#include "fg-protocol.h"
#include "flowgatectl.h"
#include "log.h"

const struct fg_config *fg_cfg;

static struct fg_config	 ctl_cfg;
int			 ctl_json;
static const char	*ctl_secret_file;
static int		 ctl_fd = -1;	/* one connection for every call, pages included */
static uint32_t		 ctl_id;

static void
ctl_json_free(void *p)
{
	if (p != NULL) {
		sodium_memzero(p, malloc_usable_size(p));
		free(p);
	}
}

void
ctl_usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "flowgatectl: %s\n", why);
	fprintf(stderr,
	    "usage: flowgatectl [-c CONFIG] [--json] COMMAND ...\n"
	    "  init\n"
	    "  status\n"
	    "  connection add NAME --environment ENV --tenant T --client-id ID\n"
	    "                 [--token-url URL] [--api-base URL] [--no-verify] [--secret-file F]\n"
	    "  connection list | show NAME | remove NAME | test NAME\n"
	    "  connection stop NAME | resume NAME | retire NAME   (emergency stop; erase previous)\n"
	    "  connection rotate NAME [--grace SECONDS] [--secret-file F]\n"
	    "  app add NAME --flow FLOW --connection CONN --scopes \"S ...\"\n"
	    "          --kind backend|user_facing|assistant\n"
	    "          [--internal] [--no-redirect] [--justification TEXT] [--redirect-uri URL]\n"
	    "          [--return-url URL] [--proxy-methods \"GET POST\"] [--proxy-paths \"/p/ ...\"]\n"
	    "          [--proxy-body-max-mib 1..200]   (default 200)\n"
	    "  app list | show NAME | revoke NAME\n"
	    "  app update NAME [--scopes \"S ...\"] [--proxy-body-max-mib MIB]\n"
	    "  app rotate-secret NAME [--overlap SECONDS]\n"
	    "  account add NAME --role admin|security|auditor   (password on stdin)\n"
	    "  account list | set-role NAME ROLE | disable NAME | enable NAME | password NAME\n"
	    "          (admin UI accounts; \"user\" is an older name for \"account\")\n"
	    "  audit tail [-n N] | verify [--incremental] [--anchor SEQ:HASH] | anchor\n"
	    "  audit archive --before SEQ PATH | verify-archive PATH\n"
	    "  audit query [--app A] [--connection C] [--actor X] [--event E] [--outcome O]\n"
	    "              [--from MS] [--to MS] [-n N]   (newest first; all matching by default)\n"
	    "  backup PATH            (an online copy of the database, written by the daemon)\n"
	    "  key status | rotate | retire | new PATH   (the master key; see flowgatectl(8))\n"
	    "  user-session list [--app A] [--user U] | revoke ID | revoke-all USER [--app A]\n"
	    "secrets are read from stdin (or --secret-file), never from the command line\n");
	exit(CTL_EXIT_USAGE);
}

/* Strip a trailing newline (and CR) that a pipe or a file adds. */
static void
ctl_chomp(struct fg_secret *s)
{
	while (s->len > 0 && (s->buf[s->len - 1] == '\n' || s->buf[s->len - 1] == '\r'))
		s->buf[--s->len] = '\0';
}

/* Read a secret from --secret-file or stdin (without echo on a terminal) into guarded memory. */
static struct fg_secret *
ctl_read_secret(void)
{
	struct fg_secret	*s;
	struct termios		 old, quiet;
	int			 fd = STDIN_FILENO, tty = 0;
	ssize_t			 n;

	if (ctl_secret_file != NULL && (fd = open(ctl_secret_file, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "flowgatectl: %s: %s\n", ctl_secret_file, strerror(errno));
		exit(CTL_EXIT_USAGE);
	}
	if (ctl_secret_file == NULL && isatty(fd) && tcgetattr(fd, &old) == 0) {
		tty = 1;
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &quiet);
		fprintf(stderr, "secret: ");
	}
	if ((s = seal_secret_new(FG_SECRET_MAX + 2)) == NULL)
		fg_fatal("out of guarded memory");
	s->len = 0;
	while (s->len < FG_SECRET_MAX + 2 &&
	    (n = read(fd, s->buf + s->len, FG_SECRET_MAX + 2 - s->len)) > 0) {
		s->len += (size_t)n;
		if (tty && s->buf[s->len - 1] == '\n')
			break;
	}
	if (tty) {
		tcsetattr(fd, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (fd != STDIN_FILENO)
		close(fd);
	ctl_chomp(s);
	if (s->len == 0 || s->len > FG_SECRET_MAX || memchr(s->buf, '\0', s->len) != NULL) {
		seal_secret_free(s);
		fprintf(stderr, "flowgatectl: the secret must be 1..%d bytes of text\n",
		    FG_SECRET_MAX);
		exit(CTL_EXIT_USAGE);
	}
	return s;
}

/* Send one request to the daemon (req is consumed); exits 3 when it cannot be reached. */
json_t *
ctl_call(json_t *req)
{
	json_t	*reply;
	int	 r;

	if (ctl_fd == -1 && (ctl_fd = fg_client_connect(ctl_cfg.socket)) == -1) {
		fprintf(stderr, "flowgatectl: cannot reach the daemon at %s: %s\n", ctl_cfg.socket,
		    strerror(errno));
		exit(CTL_EXIT_UNREACHABLE);
	}
	r = fg_client_call(ctl_fd, ++ctl_id, req, &reply, 60000);
	json_decref(req);
	if (r != 0) {
		fprintf(stderr, "flowgatectl: no answer from the daemon (%s)\n",
		    r == -1 ? strerror(errno) : fg_frame_strerror(r));
		exit(CTL_EXIT_UNREACHABLE);
	}
	return reply;
}

/* Print a refusal and return the exit status for it. */
int
ctl_refused(json_t *reply)
{
	if (ctl_json) {
		char *s = json_dumps(reply, JSON_COMPACT);

		printf("%s\n", s);
		free(s);
	} else
		fprintf(stderr, "flowgatectl: %s: %s\n",
		    json_string_value(json_object_get(reply, "error")),
		    json_string_value(json_object_get(reply, "message")));
	json_decref(reply);
	return CTL_EXIT_REFUSED;
}

/* Print a value the way a person reads it. */
static void
ctl_print_value(json_t *v)
{
	char *s;

	if (json_is_string(v))
		printf("%s", json_string_value(v));
	else if (json_is_null(v) || v == NULL)
		printf("-");
	else {
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		printf("%s", s);
		free(s);
	}
}

/* key: value lines for an object. */
static void
ctl_print_object(json_t *o)
{
	const char	*k;
	json_t		*v;

	json_object_foreach(o, k, v) {
		printf("%-20s ", k);
		ctl_print_value(v);
		printf("\n");
	}
}

/* Print a successful reply (JSON, or readable); 0. */
int
ctl_done(json_t *reply, const char *key)
{
	char *s;

	if (!json_is_true(json_object_get(reply, "ok")))
		return ctl_refused(reply);
	if (ctl_json) {
		s = json_dumps(reply, JSON_COMPACT);
		printf("%s\n", s);
		free(s);
	} else if (key != NULL)
		ctl_print_object(json_object_get(reply, key));
	else {
		json_object_del(reply, "ok");
		ctl_print_object(reply);
	}
	json_decref(reply);
	return 0;
}

/* Say what an emergency stop stopped, in words; 0. */
static int
ctl_stopped(json_t *reply)
{
	json_t *st = json_object_get(reply, "stopped");

	if (!json_is_true(json_object_get(reply, "ok")))
		return ctl_refused(reply);
	printf("connection %s stopped: %lld cached tokens dropped, %lld user sessions' tokens "
	    "cleared, %lld held replies refused, %lld upstream answers in flight will be "
	    "dropped\n", json_string_value(json_object_get(reply, "name")),
	    (long long)json_integer_value(json_object_get(st, "cached_tokens_dropped")),
	    (long long)json_integer_value(json_object_get(st, "user_sessions_cleared")),
	    (long long)json_integer_value(json_object_get(st, "held_replies_refused")),
	    (long long)json_integer_value(json_object_get(st, "upstream_requests_dropped")));
	json_decref(reply);
	return 0;
}

/* Print one row of a list: a JSON element (comma-separated) or a line of columns. */
static void
ctl_print_row(json_t *row, const char *const *cols, long n)
{
	char	*s;
	size_t	 c;

	if (ctl_json) {
		s = json_dumps(row, JSON_COMPACT);
		printf("%s%s", n > 0 ? "," : "", s);
		free(s);
		return;
	}
	for (c = 0; cols[c] != NULL; c++) {
		printf(c ? "  " : "");
		ctl_print_value(json_object_get(row, cols[c]));
	}
	printf("\n");
}

/*
 * Print the rows of a list verb a page at a time, as they come, following the daemon's "next"
 * cursor in the request field cursor; max > 0 stops after that many.  With --json the output
 * is one document, {"KEY":[rows...],"ok":true}, or ends with "ok":false and the error when a
 * later page is refused.
 */
int
ctl_list(json_t *req, const char *key, const char *const *cols, const char *cursor, long max)
{
	json_t	*reply, *next = NULL, *row;
	char	*err;
	long	 n = 0;
	size_t	 i;
	int	 more;

	do {
		if (next != NULL)
			json_object_set_new(req, cursor, next);
		reply = ctl_call(json_deep_copy(req));
		if (!json_is_true(json_object_get(reply, "ok")) && n == 0 && next == NULL) {
			json_decref(req);
			return ctl_refused(reply);
		}
		if (!json_is_true(json_object_get(reply, "ok"))) {
			if (ctl_json) {
				err = json_dumps(json_object_get(reply, "error"), JSON_ENCODE_ANY);
				printf("],\"ok\":false,\"error\":%s}\n", err ? err : "null");
				free(err);
			}
			fprintf(stderr, "flowgatectl: the list stopped after %ld rows: %s\n", n,
			    json_string_value(json_object_get(reply, "message")));
			json_decref(reply);
			json_decref(req);
			return CTL_EXIT_REFUSED;
		}
		if (ctl_json && n == 0 && next == NULL)
			printf("{\"%s\":[", key);
		json_array_foreach(json_object_get(reply, key), i, row) {
			if (max > 0 && n >= max)
				break;
			ctl_print_row(row, cols, n++);
		}
		next = json_incref(json_object_get(reply, "next"));
		more = json_is_true(json_object_get(reply, "more")) && next != NULL &&
		    (max == 0 || n < max);
		json_decref(reply);
		fflush(stdout);
	} while (more);
	json_decref(next);
	json_decref(req);
	if (ctl_json)
		printf("],\"ok\":true}\n");
	return 0;
}

/* Create a directory for the daemon's files if it is missing, owned by its user. */
static void
ctl_mkdir_for(const char *path, const struct passwd *pw)
{
	char	*copy = strdup(path), *dir;

	if (copy == NULL)
		fg_fatal("out of memory");
	dir = dirname(copy);
	if (mkdir(dir, 0700) == 0 && pw != NULL && chown(dir, pw->pw_uid, pw->pw_gid) == -1)
		fg_fatal("chown %s: %s", dir, strerror(errno));
	free(copy);
}

/* init: a new master key and a new database, owned by the daemon's user. */
static int
ctl_init(void)
{
	struct passwd	*pw = NULL;
	char		 err[512];

	if (geteuid() == 0 && ctl_cfg.user != NULL && (pw = getpwnam(ctl_cfg.user)) == NULL)
		fg_fatal("unknown user %s", ctl_cfg.user);
	if (!ctl_cfg.storage_pg)
		ctl_mkdir_for(ctl_cfg.database, pw);
	if (keyring_is_credential(ctl_cfg.key_file))	/* systemd's to place: see flowgatectl(8) */
		printf("key_file is a systemd credential: create its key with flowgatectl key new\n");
	else {
		ctl_mkdir_for(ctl_cfg.key_file, pw);
		if (seal_create_keyfile(ctl_cfg.key_file, err, sizeof(err)) == -1)
			fg_fatal("%s (refusing to replace an existing key)", err);
		if (pw != NULL && chown(ctl_cfg.key_file, pw->pw_uid, pw->pw_gid) == -1)
			fg_fatal("chown %s: %s", ctl_cfg.key_file, strerror(errno));
		printf("created key file %s\n", ctl_cfg.key_file);
	}
	if (pw != NULL && privsep_drop(ctl_cfg.user, err, sizeof(err)) == -1)
		fg_fatal("%s", err);
	if ((ctl_cfg.storage_pg ? store_pg_open(ctl_cfg.conninfo_file, err, sizeof(err)) :
	    store_create(ctl_cfg.database, err, sizeof(err))) == -1)
		fg_fatal("%s", err);
	store_close();
	printf("created %s %s\n", ctl_cfg.storage_pg ? "the schema in the database of" :
	    "database", ctl_cfg.storage_pg ? ctl_cfg.conninfo_file : ctl_cfg.database);
	return 0;
}

/* Parse --long options of a subcommand into req. */
void
ctl_options(int argc, char **argv, const struct ctl_opt *opts, json_t *req)
{
	const struct ctl_opt	*o;
	char			*end;
	long			 v;
	int			 i;

	for (i = 0; i < argc; i++) {
		for (o = opts; o->flag != NULL && strcmp(o->flag, argv[i]) != 0; o++)
			;
		if (o->flag == NULL)
			ctl_usage("unknown option");
		if (strcmp(o->flag, "--secret-file") == 0 && i + 1 < argc) {
			ctl_secret_file = argv[++i];
			continue;
		}
		if (o->kind >= 2) {
			json_object_set_new(req, o->field, json_boolean(o->kind == 2));
			continue;
		}
		if (i + 1 >= argc)
			ctl_usage("option needs a value");
		if (o->kind == 0) {
			json_object_set_new(req, o->field, json_string(argv[++i]));
			continue;
		}
		v = strtol(argv[++i], &end, 10);
		if (*end != '\0' || end == argv[i])
			ctl_usage("option needs a number");
		json_object_set_new(req, o->field, json_integer(v));
	}
}

/* "connection." + "stop" as a JSON string. */
static json_t *
ctl_verb(const char *prefix, const char *cmd)
{
	char verb[64];

	snprintf(verb, sizeof(verb), "%s%s", prefix, cmd);
	return json_string(verb);
}

/* Attach a secret read from stdin or --secret-file to req. */
static void
ctl_attach_secret(json_t *req)
{
	struct fg_secret *s = ctl_read_secret();

	json_object_set_new(req, "secret", json_stringn(s->buf, s->len));
	seal_secret_free(s);
}

static int
ctl_connection(int argc, char **argv)
{
	static const struct ctl_opt add_opts[] = {
		{ "--environment", "environment", 0 }, { "--tenant", "tenant", 0 },
		{ "--client-id", "client_id", 0 }, { "--token-url", "token_url", 0 },
		{ "--api-base", "api_base", 0 }, { "--no-verify", "verify", 3 },
		{ "--secret-file", NULL, 0 }, { NULL, NULL, 0 } };
	static const struct ctl_opt rot_opts[] = {
		{ "--grace", "grace_s", 1 }, { "--secret-file", NULL, 0 }, { NULL, NULL, 0 } };
	static const char *const cols[] = { "name", "environment", "tenant", "client_id",
	    "secret_version", "apps", NULL };
	json_t *req;

	if (argc < 1)
		ctl_usage("connection: which command?");
	if (strcmp(argv[0], "list") == 0 && argc == 1)
		return ctl_list(json_pack("{ss}", "verb", "connection.list"), "connections", cols,
		    "after", 0);
	if (argc < 2)
		ctl_usage("connection: name missing");
	req = json_pack("{ssss}", "verb", "", "name", argv[1]);
	if (strcmp(argv[0], "show") == 0 && argc == 2) {
		json_object_set_new(req, "verb", json_string("connection.show"));
		return ctl_done(ctl_call(req), "connection");
	}
	if (argc == 2 && strcmp(argv[0], "stop") == 0 && !ctl_json) {
		json_object_set_new(req, "verb", json_string("connection.stop"));
		return ctl_stopped(ctl_call(req));
	}
	if (argc == 2 && (strcmp(argv[0], "remove") == 0 || strcmp(argv[0], "test") == 0 ||
	    strcmp(argv[0], "stop") == 0 || strcmp(argv[0], "resume") == 0 ||
	    strcmp(argv[0], "retire") == 0)) {
		json_object_set_new(req, "verb", ctl_verb("connection.", argv[0]));
		return ctl_done(ctl_call(req), NULL);
	}
	if (strcmp(argv[0], "add") == 0) {
		json_object_set_new(req, "verb", json_string("connection.add"));
		ctl_options(argc - 2, argv + 2, add_opts, req);
	} else if (strcmp(argv[0], "rotate") == 0) {
		json_object_set_new(req, "verb", json_string("connection.rotate"));
		ctl_options(argc - 2, argv + 2, rot_opts, req);
	} else
		ctl_usage("connection: unknown command");
	ctl_attach_secret(req);
	return ctl_done(ctl_call(req), NULL);
}

static int
ctl_app(int argc, char **argv)
{
	static const struct ctl_opt add_opts[] = {
		{ "--flow", "flow", 0 }, { "--connection", "connection", 0 },
		{ "--scopes", "scopes", 0 }, { "--kind", "kind", 0 },
		{ "--internal", "internal", 2 }, { "--no-redirect", "can_redirect", 3 },
		{ "--justification", "justification", 0 }, { "--redirect-uri", "redirect_uri", 0 },
		{ "--return-url", "return_url", 0 }, { "--proxy-methods", "proxy_methods", 0 },
		{ "--proxy-paths", "proxy_paths", 0 },
		{ "--proxy-body-max-mib", "proxy_body_max_mib", 1 }, { NULL, NULL, 0 } };
	static const struct ctl_opt upd_opts[] = { { "--scopes", "scopes", 0 },
	    { "--proxy-body-max-mib", "proxy_body_max_mib", 1 }, { NULL, NULL, 0 } };
	static const struct ctl_opt rot_opts[] = { { "--overlap", "overlap_s", 1 },
	    { NULL, NULL, 0 } };
	static const char *const cols[] = { "name", "client_id", "flow", "kind", "connection",
	    "scopes", "issued", "revoked_at", NULL };
	json_t *req, *reply;

	if (argc < 1)
		ctl_usage("app: which command?");
	if (strcmp(argv[0], "list") == 0 && argc == 1)
		return ctl_list(json_pack("{ss}", "verb", "app.list"), "apps", cols, "after", 0);
	if (argc < 2)
		ctl_usage("app: name missing");
	req = json_pack("{ssss}", "verb", "", "name", argv[1]);
	if (strcmp(argv[0], "show") == 0 && argc == 2) {
		json_object_set_new(req, "verb", json_string("app.show"));
		return ctl_done(ctl_call(req), "app");
	}
	if (strcmp(argv[0], "revoke") == 0 && argc == 2) {
		json_object_set_new(req, "verb", json_string("app.revoke"));
		return ctl_done(ctl_call(req), NULL);
	}
	if (strcmp(argv[0], "update") == 0) {
		json_object_set_new(req, "verb", json_string("app.update"));
		ctl_options(argc - 2, argv + 2, upd_opts, req);
		return ctl_done(ctl_call(req), "app");
	}
	if (strcmp(argv[0], "rotate-secret") == 0) {
		json_object_set_new(req, "verb", json_string("app.rotate_secret"));
		ctl_options(argc - 2, argv + 2, rot_opts, req);
		reply = ctl_call(req);
		if (!ctl_json && json_is_true(json_object_get(reply, "ok")))
			fprintf(stderr, "the client_secret is shown once: store it now\n");
		return ctl_done(reply, NULL);
	}
	if (strcmp(argv[0], "add") != 0)
		ctl_usage("app: unknown command");
	json_object_set_new(req, "verb", json_string("app.add"));
	ctl_options(argc - 2, argv + 2, add_opts, req);
	reply = ctl_call(req);
	if (!ctl_json && json_is_true(json_object_get(reply, "ok")))
		fprintf(stderr, "the client_secret is shown once: store it now\n");
	return ctl_done(reply, NULL);
}

/* Read a password like a secret, and put it in req under key. */
static void
ctl_attach_password(json_t *req, const char *key)
{
	struct fg_secret *s = ctl_read_secret();

	json_object_set_new(req, key, json_stringn(s->buf, s->len));
	seal_secret_free(s);
}

/* account: the admin UI's accounts (not the end users of user-present apps). */
static int
ctl_account(int argc, char **argv)
{
	static const char *const cols[] = { "name", "role", "disabled", "last_login", NULL };
	json_t *req;

	if (argc == 1 && strcmp(argv[0], "list") == 0)
		return ctl_list(json_pack("{ss}", "verb", "account.list"), "users", cols, "after",
		    0);
	if (argc == 4 && strcmp(argv[0], "add") == 0 && strcmp(argv[2], "--role") == 0) {
		req = json_pack("{ssssss}", "verb", "account.add", "name", argv[1], "role",
		    argv[3]);
		ctl_attach_password(req, "password");
		return ctl_done(ctl_call(req), NULL);
	}
	if (argc == 3 && strcmp(argv[0], "set-role") == 0)
		return ctl_done(ctl_call(json_pack("{ssssss}", "verb", "account.set_role", "name",
		    argv[1], "role", argv[2])), NULL);
	if (argc == 2 && (strcmp(argv[0], "disable") == 0 || strcmp(argv[0], "enable") == 0))
		return ctl_done(ctl_call(json_pack("{soss}", "verb", ctl_verb("account.",
		    argv[0]), "name", argv[1])), NULL);
	if (argc == 2 && strcmp(argv[0], "password") == 0) {
		req = json_pack("{ssss}", "verb", "account.password", "name", argv[1]);
		ctl_attach_password(req, "new_password");
		return ctl_done(ctl_call(req), NULL);
	}
	ctl_usage("account: add NAME --role ROLE | list | set-role NAME ROLE | disable NAME | "
	    "enable NAME | password NAME");
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 } };
	const char	*path = getenv("FLOWGATE_CONFIG");
	char		 err[512];
	int		 ch;

	privsep_no_core();
	fg_log_init("flowgatectl");
	json_set_alloc_funcs(malloc, ctl_json_free);
	if (sodium_init() < 0)
		fg_fatal("cannot initialise libsodium");
	while ((ch = getopt_long(argc, argv, "+c:j", longopts, NULL)) != -1) {
		if (ch == 'c')
			path = optarg;
		else if (ch == 'j')
			ctl_json = 1;
		else
			ctl_usage(NULL);
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		ctl_usage(NULL);
	if (config_load(path ? path : "/etc/flowgate/flowgated.conf", &ctl_cfg, err,
	    sizeof(err)) == -1)
		fg_fatal("%s", err);
	fg_cfg = &ctl_cfg;
	if (strcmp(argv[0], "init") == 0 && argc == 1)
		return ctl_init();
	if (strcmp(argv[0], "status") == 0 && argc == 1)
		return ctl_done(ctl_call(json_pack("{ss}", "verb", "status")), NULL);
	if (strcmp(argv[0], "connection") == 0)
		return ctl_connection(argc - 1, argv + 1);
	if (strcmp(argv[0], "app") == 0)
		return ctl_app(argc - 1, argv + 1);
	if (strcmp(argv[0], "audit") == 0)
		return ctl_audit(argc - 1, argv + 1);
	/* "user" was its name before end users came; kept so existing scripts still work */
	if (strcmp(argv[0], "account") == 0 || strcmp(argv[0], "user") == 0)
		return ctl_account(argc - 1, argv + 1);
	if (strcmp(argv[0], "user-session") == 0)
		return ctl_user_session(argc - 1, argv + 1);
	if (strcmp(argv[0], "key") == 0)
		return ctl_key(argc - 1, argv + 1);
	if (strcmp(argv[0], "backup") == 0 && argc == 2)
		return ctl_done(ctl_call(json_pack("{ssss}", "verb", "backup", "path", argv[1])),
		    NULL);
	ctl_usage("unknown command");
}
