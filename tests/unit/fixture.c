/*
 * The daemon's core on an in-memory database, started as flowgated_start() does it (minus the
 * socket, the privilege drop and libcurl), with rows put in place by SQL for each test.
 */
#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon.h"
#include "fixture.h"

const struct fg_config	*fg_cfg;
static struct fg_config	 fixture_cfg;

/* The configuration's defaults, read from a minimal file. */
static int
fixture_config(void)
{
	char	 path[] = "/tmp/fg-fixture-XXXXXX", err[256];
	FILE	*f;
	int	 fd, r;

	if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL)
		return -1;
	fputs("[daemon]\nsocket = /nonexistent/fg.sock\ndatabase = :memory:\n"
	    "key_file = /nonexistent/fg.key\n", f);
	fclose(f);
	r = config_load(path, &fixture_cfg, err, sizeof(err));
	unlink(path);
	if (r == -1)
		fprintf(stderr, "fixture: %s\n", err);
	fg_cfg = &fixture_cfg;
	return r;
}

/* Start the core: a random master key, an empty database, the policy, the audit writer. */
int
fixture_open(void)
{
	uint8_t	key[32];
	char	err[512] = "";

	if (sodium_init() < 0 || fixture_config() == -1)
		return -1;
	randombytes_buf(key, sizeof(key));
	if (seal_init_key(key, sizeof(key)) == -1 ||
	    store_create(":memory:", err, sizeof(err)) == -1 ||
	    policy_init(err, sizeof(err)) == -1 || gate_init(err, sizeof(err)) == -1 ||
	    writer_init() == -1 || audit_init() == -1) {
		fprintf(stderr, "fixture: %s\n", err);
		return -1;
	}
	sodium_memzero(key, sizeof(key));
	return 0;
}

/* Stop everything fixture_open started, as flowgated does at exit. */
void
fixture_close(void)
{
	token_shutdown();
	hold_shutdown();
	audit_shutdown();
	writer_shutdown();
	app_cache_clear();
	app_usage_free();
	store_close();
	seal_shutdown();
	config_free(&fixture_cfg);
}

/* Run one statement; -1 and a message when it fails. */
int
fixture_sql(const char *sql)
{
	if (store_exec_write(sql) == DB_OK)	/* as the loop writes: under writer_lock() */
		return 0;
	fprintf(stderr, "fixture: %s: %s\n", sql, db_errmsg());
	return -1;
}

/* The first column of the first row of a query (a count), or -1. */
long long
fixture_count(const char *sql)
{
	struct db_stmt	*st;
	long long	 n = -1;

	if (db_prepare(sql, &st) != DB_OK)
		return -1;
	if (db_step(st) == DB_ROW)
		n = db_column_int64(st, 0);
	db_finalize(st);
	return n;
}

/* A connection with its secret sealed as connection.c stores it; its id, or -1. */
int64_t
fixture_connection(const char *name, const char *client_id, const char *secret)
{
	struct fg_secret	*pt = seal_secret_from(secret, strlen(secret));
	struct db_stmt		*st;
	uint8_t			*sealed = NULL;
	size_t			 len;
	int64_t			 id = -1;

	if (db_prepare("INSERT INTO connections (name, environment, tenant, "
	    "client_id, token_url, secret_version, created_at) VALUES (?, 'eu', 'demo', ?, "
	    "'https://127.0.0.1:1/token', 1, 0) RETURNING id", &st) != DB_OK)
		goto out;
	db_bind_text(st, 1, name, -1, DB_STATIC);
	db_bind_text(st, 2, client_id, -1, DB_STATIC);
	if (store_step_write(st) == DB_ROW)
		id = db_column_int64(st, 0);
	db_finalize(st);
	if (id == -1 || seal_secret(id, 1, pt, &sealed, &len) == -1 ||
	    db_prepare("INSERT INTO connection_secrets (connection_id, "
	    "version, state, sealed, created_at) VALUES (?, 1, 'current', ?, 0)", &st) != DB_OK) {
		id = -1;
		goto out;
	}
	db_bind_int64(st, 1, id);
	db_bind_blob(st, 2, sealed, (int)len, DB_STATIC);
	if (store_step_write(st) != DB_DONE)
		id = -1;
	db_finalize(st);
out:
	free(sealed);
	seal_secret_free(pt);
	return id;
}

/* A registration whose credential is client_id:secret, hashed as app.c does; its id, or -1. */
int64_t
fixture_app(const char *name, int64_t conn_id, const char *flow, const char *kind,
    const char *scopes, const char *client_id, const char *secret)
{
	struct db_stmt	*st;
	uint8_t		 h[32];
	int64_t		 id = -1;

	seal_app_hash(secret, strlen(secret), h);
	if (db_prepare("INSERT INTO apps (name, client_id, secret_hash, "
	    "flow, kind, connection_id, scopes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0) "
	    "RETURNING id", &st) != DB_OK)
		return -1;
	db_bind_text(st, 1, name, -1, DB_STATIC);
	db_bind_text(st, 2, client_id, -1, DB_STATIC);
	db_bind_blob(st, 3, h, 32, DB_STATIC);
	db_bind_text(st, 4, flow, -1, DB_STATIC);
	db_bind_text(st, 5, kind, -1, DB_STATIC);
	db_bind_int64(st, 6, conn_id);
	db_bind_text(st, 7, scopes, -1, DB_STATIC);
	if (store_step_write(st) == DB_ROW)
		id = db_column_int64(st, 0);
	db_finalize(st);
	app_cache_clear();
	return id;
}

/*
 * Loop turns, as server_turn ends each one, until every record appended so far is durable
 * and what waited on it released; -1 after two seconds without that.
 */
int
fixture_turns(void)
{
	struct pollfd	pfd = { writer_fd(), POLLIN, 0 };
	int		i;

	for (i = 0; i < 200; i++) {
		pfd.revents = 0;
		poll(&pfd, 1, 10);
		hold_end_turn(pfd.revents != 0);
		if (audit_pending() == 0 && audit_durable_seq() == audit_head() && writer_idle())
			return 0;
	}
	return -1;
}
