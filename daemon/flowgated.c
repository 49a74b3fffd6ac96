/*
 * flowgated: the secret-holding daemon.  Startup order matters: no core dumps first; as root
 * only the socket is created before privileges are dropped; the key and the database are then
 * opened as the daemon's own user, after their permissions are checked.
 */
#include "config.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "daemon.h"
#include "log.h"

const struct fg_config *fg_cfg;

/* jansson holds request secrets and tokens in its strings: zero every block it frees. */
static void
flowgated_json_free(void *p)
{
	if (p == NULL)
		return;
	sodium_memzero(p, malloc_usable_size(p));
	free(p);
}

/*
 * libcurl links GnuTLS (through librtmp and libldap) though the daemon never uses it, and its
 * constructor initialises it at load: a megabyte of resident memory.  Start once more with the
 * variable that skips that, by the binary's own path so the process keeps its name; where /proc
 * is missing, go on as we are.
 */
static void
flowgated_skip_gnutls(char *argv[])
{
	char	self[4096];
	ssize_t	n;

	if (getenv("GNUTLS_NO_IMPLICIT_INIT") != NULL)
		return;
	if ((n = readlink("/proc/self/exe", self, sizeof(self))) <= 0 || (size_t)n == sizeof(self))
		return;	/* no /proc, or a path too long to be whole */
	self[n] = '\0';
	if (setenv("GNUTLS_NO_IMPLICIT_INIT", "1", 1) == 0)
		execv(self, argv);
}

static void
flowgated_usage(void)
{
	fprintf(stderr, "usage: flowgated -c CONFIG [-d]\n");
	exit(2);
}

/* Everything that must be in place before serving; exits with a clear message otherwise. */
static void
flowgated_start(struct fg_config *cfg)
{
	char err[512];

	if (server_listen(cfg, err, sizeof(err)) == -1 ||
	    relayclose_listen(cfg, err, sizeof(err)) == -1)
		fg_fatal("%s", err);
	if (geteuid() == 0) {
		if (cfg->user == NULL)
			fg_fatal("started as root: set [daemon] user to the daemon's own account");
		if (privsep_drop(cfg->user, err, sizeof(err)) == -1)
			fg_fatal("%s", err);
	}
	privsep_undumpable();
	if ((cfg->storage_pg ? store_pg_open(cfg->conninfo_file, err, sizeof(err)) :
	    store_open(cfg->database, cfg->audit_sync_full, err, sizeof(err))) == -1)
		fg_fatal("%s", err);
	/* after the store: the database names the key that sealed it */
	if (keyring_init(cfg->key_file, err, sizeof(err)) == -1)
		fg_fatal("%s", err);
	if (cfg->storage_pg && cluster_notify_open(cfg->conninfo_file, err, sizeof(err)) == -1)
		fg_fatal("%s", err);
	if (policy_init(err, sizeof(err)) == -1 || gate_init(err, sizeof(err)) == -1)
		fg_fatal("%s", err);
	if (writer_init() == -1)
		fg_fatal("cannot start the audit writer");
	hold_init(cfg->held_max);
	lease_init();
	if (audit_init() == -1)
		fg_fatal("cannot read the audit chain's head");
	if (app_usage_load() == -1)
		fg_fatal("cannot count issuances in the audit log");
	if (account_init() == -1 || pwhash_init() == -1)
		fg_fatal("cannot start the password checker");
	if (upstream_init(cfg, err, sizeof(err)) == -1)
		fg_fatal("%s", err);
	discovery_warm();
}

int
main(int argc, char *argv[])
{
	struct fg_config	 cfg;
	const char		*path = NULL;
	char			 err[512];
	int			 ch;

	flowgated_skip_gnutls(argv);
	privsep_no_core();
	fg_log_init("flowgated");
	json_set_alloc_funcs(malloc, flowgated_json_free);
	while ((ch = getopt(argc, argv, "c:d")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			fg_log_set_debug(1);
			break;
		default:
			flowgated_usage();
		}
	}
	if (path == NULL || optind != argc)
		flowgated_usage();
	if (sodium_init() < 0)
		fg_fatal("cannot initialise libsodium");
	if (config_load(path, &cfg, err, sizeof(err)) == -1)
		fg_fatal("%s", err);
	fg_cfg = &cfg;
	flowgated_start(&cfg);
	server_loop(&cfg);
	cluster_notify_shutdown();
	app_cache_clear();
	relayticket_shutdown();
	app_usage_free();
	account_shutdown();
	store_close();
	seal_shutdown();
	config_free(&cfg);
	return 0;
}
