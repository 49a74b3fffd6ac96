/* The daemon's INI configuration (libinih): every key known, every value checked. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "daemon.h"

struct config_ctx {
	struct fg_config	*cfg;
	char			*err;
	size_t			 errlen;
	int			 line;
};

/* Replace a string option, keeping the last value given. */
static int
config_set_str(char **dst, const char *value)
{
	char *s;

	if (*value == '\0' || (s = strdup(value)) == NULL)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

/* Parse a decimal integer in [min, max] with nothing after it. */
static int
config_set_long(long *dst, const char *value, long min, long max)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
		return -1;
	*dst = v;
	return 0;
}

/* Resolve a user name or a numeric uid. */
static int
config_uid(const char *s, uid_t *uid)
{
	struct passwd	*pw;
	char		*end;
	unsigned long	 v;

	if ((pw = getpwnam(s)) != NULL) {
		*uid = pw->pw_uid;
		return 0;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v >= UINT_MAX)
		return -1;
	*uid = (uid_t)v;
	return 0;
}

/* Parse a comma separated list of users into uids. */
static int
config_set_uids(uid_t *uids, size_t *n, const char *value, char *bad, size_t badlen)
{
	char	*copy, *tok, *save = NULL;
	int	 rc = 0;

	if ((copy = strdup(value)) == NULL)
		return -1;
	*n = 0;
	for (tok = strtok_r(copy, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
		if (*n == FG_MAX_PEERS || config_uid(tok, &uids[*n]) == -1) {
			snprintf(bad, badlen, "%s", tok);
			rc = -1;
			break;
		}
		(*n)++;
	}
	free(copy);
	return rc;
}

/* Accept the few spellings of a boolean. */
static int
config_set_bool(int *dst, const char *value)
{
	if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
		*dst = 1;
	else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
		*dst = 0;
	else
		return -1;
	return 0;
}

static int
config_set_backend(int *pg, const char *value)
{
	if (strcmp(value, "sqlite") == 0)
		*pg = 0;
	else if (strcmp(value, "postgresql") == 0)
		*pg = 1;
	else
		return -1;
	return 0;
}

/* inih callback: one key at a time; an unknown section or key is an error. */
static int
config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct config_ctx	*ctx = user;
	struct fg_config	*c = ctx->cfg;
	char			 bad[128] = "";
	int			 r;

	if (*ctx->err != '\0')
		return 0;	/* keep the first error: inih goes on after one */

	if (strcmp(section, "daemon") == 0) {
		if (strcmp(name, "socket") == 0)
			r = config_set_str(&c->socket, value);
		else if (strcmp(name, "socket_group") == 0)
			r = config_set_str(&c->socket_group, value);
		else if (strcmp(name, "database") == 0)
			r = config_set_str(&c->database, value);
		else if (strcmp(name, "key_file") == 0)
			r = config_set_str(&c->key_file, value);
		else if (strcmp(name, "user") == 0)
			r = config_set_str(&c->user, value);
		else if (strcmp(name, "web_users") == 0)
			r = config_set_uids(c->web_uids, &c->n_web, value, bad, sizeof(bad));
		else if (strcmp(name, "admin_users") == 0)
			r = config_set_uids(c->admin_uids, &c->n_admin, value, bad, sizeof(bad));
		else
			goto unknown;
	} else if (strcmp(section, "storage") == 0) {
		if (strcmp(name, "backend") == 0)
			r = config_set_backend(&c->storage_pg, value);
		else if (strcmp(name, "conninfo_file") == 0)
			r = config_set_str(&c->conninfo_file, value);
		else
			goto unknown;
	} else if (strcmp(section, "upstream") == 0) {
		if (strcmp(name, "ca_file") == 0)
			r = config_set_str(&c->ca_file, value);
		else if (strcmp(name, "assistant_origin") == 0)
			r = config_set_str(&c->assistant_origin, value);
		else if (strcmp(name, "connect_timeout_ms") == 0)
			r = config_set_long(&c->connect_timeout_ms, value, 100, 60000);
		else if (strcmp(name, "timeout_ms") == 0)
			r = config_set_long(&c->timeout_ms, value, 100, 120000);
		else if (strcmp(name, "refresh_ahead_s") == 0)
			r = config_set_long(&c->refresh_ahead_s, value, 0, 3600);
		else if (strcmp(name, "token_cache_max") == 0)
			r = config_set_long(&c->token_cache_max, value, 8, 1000000);
		else if (strcmp(name, "calls_per_connection") == 0)
			r = config_set_long(&c->calls_per_connection, value, 1, 10000);
		else
			goto unknown;
	} else if (strcmp(section, "rotation") == 0) {
		if (strcmp(name, "grace_s") == 0)
			r = config_set_long(&c->grace_s, value, 0, 90L * 86400);
		else
			goto unknown;
	} else if (strcmp(section, "admin") == 0) {
		if (strcmp(name, "session_idle_s") == 0)
			r = config_set_long(&c->session_idle_s, value, 10, 86400);
		else if (strcmp(name, "session_max_s") == 0)
			r = config_set_long(&c->session_max_s, value, 10, 7 * 86400);
		else if (strcmp(name, "secret_warn_days") == 0)
			r = config_set_long(&c->secret_warn_days, value, 1, 3650);
		else if (strcmp(name, "login_max_failures") == 0)
			r = config_set_long(&c->login_max_failures, value, 1, 1000);
		else if (strcmp(name, "login_limits_max") == 0)
			r = config_set_long(&c->login_limits_max, value, 16, 1000000);
		else
			goto unknown;
	} else if (strcmp(section, "relay") == 0) {
		if (strcmp(name, "ticket_lifetime_s") == 0)
			r = config_set_long(&c->relay_ticket_lifetime_s, value, 1, 600);
		else if (strcmp(name, "tickets_max") == 0)
			r = config_set_long(&c->relay_tickets_max, value, 1, 1000000);
		else if (strcmp(name, "log_socket") == 0)
			r = config_set_str(&c->relay_log_socket, value);
		else if (strcmp(name, "log_group") == 0)
			r = config_set_str(&c->relay_log_group, value);
		else if (strcmp(name, "log_users") == 0)
			r = config_set_uids(c->relay_log_uids, &c->n_relay_log, value, bad,
			    sizeof(bad));
		else
			goto unknown;
	} else if (strcmp(section, "audit") == 0) {
		if (strcmp(name, "sync_full") == 0)
			r = config_set_bool(&c->audit_sync_full, value);
		else if (strcmp(name, "refusal_window_s") == 0)
			r = config_set_long(&c->refusal_window_s, value, 1, 3600);
		else if (strcmp(name, "held_max") == 0)
			r = config_set_long(&c->held_max, value, 16, 1048576);
		else
			goto unknown;
	} else {
		snprintf(ctx->err, ctx->errlen, "unknown section [%s]", section);
		return 0;
	}
	if (r == -1) {
		if (*bad != '\0')
			snprintf(ctx->err, ctx->errlen, "[%s] %s: unknown user \"%s\"", section, name,
			    bad);
		else
			snprintf(ctx->err, ctx->errlen, "[%s] %s: invalid value \"%s\"", section, name,
			    value);
		return 0;
	}
	return 1;
unknown:
	snprintf(ctx->err, ctx->errlen, "[%s]: unknown key \"%s\"", section, name);
	return 0;
}

/* Fill defaults, then read path; on failure err says which line and why. */
int
config_load(const char *path, struct fg_config *cfg, char *err, size_t errlen)
{
	struct config_ctx	ctx = { cfg, err, errlen, 0 };
	int			r;

	memset(cfg, 0, sizeof(*cfg));
	cfg->connect_timeout_ms = 3000;
	cfg->timeout_ms = 10000;
	cfg->refresh_ahead_s = 60;
	cfg->token_cache_max = 4096;
	cfg->calls_per_connection = 64;
	cfg->grace_s = 86400;
	cfg->audit_sync_full = 0;
	cfg->refusal_window_s = 60;
	cfg->held_max = 65536;
	cfg->session_idle_s = 1800;
	cfg->session_max_s = 43200;
	cfg->secret_warn_days = 90;
	cfg->login_max_failures = 5;
	cfg->login_limits_max = 4096;
	cfg->relay_ticket_lifetime_s = 30;
	cfg->relay_tickets_max = 1024;
	*err = '\0';
	r = ini_parse(path, config_handler, &ctx);
	if (r == -1) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (r > 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s", *err ? err : "syntax error");
		snprintf(err, errlen, "%s:%d: %s", path, r, why);
		return -1;
	}
	if (cfg->socket == NULL || cfg->key_file == NULL) {
		snprintf(err, errlen, "%s: [daemon] socket and key_file are required", path);
		return -1;
	}
	if (cfg->storage_pg ? cfg->conninfo_file == NULL : cfg->database == NULL) {
		snprintf(err, errlen, "%s: %s", path, cfg->storage_pg ? "[storage] backend = "
		    "postgresql needs conninfo_file" : "[daemon] database is required");
		return -1;
	}
	if (cfg->relay_log_socket != NULL && cfg->n_relay_log == 0) {
		snprintf(err, errlen, "%s: [relay] log_socket needs log_users (nginx's user)", path);
		return -1;
	}
	if (config_set_str(&cfg->ca_file, cfg->ca_file ? cfg->ca_file :
	    "/etc/ssl/certs/ca-certificates.crt") == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Release what config_load allocated. */
void
config_free(struct fg_config *cfg)
{
	free(cfg->socket);
	free(cfg->socket_group);
	free(cfg->database);
	free(cfg->key_file);
	free(cfg->conninfo_file);
	free(cfg->user);
	free(cfg->ca_file);
	free(cfg->assistant_origin);
	free(cfg->relay_log_socket);
	free(cfg->relay_log_group);
	memset(cfg, 0, sizeof(*cfg));
}
