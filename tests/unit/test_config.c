/* Configuration parsing: defaults, every kind of error named with its line. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "tap.h"

const struct fg_config *fg_cfg;
static char path[64];

static int
load(const char *text, struct fg_config *cfg, char *err, size_t errlen)
{
	FILE	*f = fopen(path, "w");
	int	 r;

	fputs(text, f);
	fclose(f);
	r = config_load(path, cfg, err, errlen);
	return r;
}

#define BASE "[daemon]\nsocket = /run/fg.sock\ndatabase = /var/lib/fg.db\nkey_file = /etc/fg.key\n"

int
main(void)
{
	struct fg_config	cfg;
	char			err[512];
	int			fd;

	snprintf(path, sizeof(path), "/tmp/fg-config-XXXXXX");
	if ((fd = mkstemp(path)) == -1)
		return 1;
	close(fd);

	tap_ok(load(BASE, &cfg, err, sizeof(err)) == 0, "a minimal config loads: %s", err);
	TEST_START("defaults are filled in");
	ASSERT_INT_EQ(cfg.timeout_ms, 10000);
	ASSERT_INT_EQ(cfg.refresh_ahead_s, 60);
	ASSERT_INT_EQ(cfg.grace_s, 86400);
	ASSERT_INT_EQ(cfg.audit_sync_full, 0);
	ASSERT_STRING_EQ(cfg.ca_file, "/etc/ssl/certs/ca-certificates.crt");
	TEST_DONE();
	config_free(&cfg);

	TEST_START("every key is read");
	ASSERT_INT_EQ(load(BASE
	    "web_users = root, 4242\nadmin_users = 0\n[upstream]\ntimeout_ms = 2500\n"
	    "ca_file = /tmp/ca.pem\n[rotation]\ngrace_s = 60\n[audit]\nsync_full = no\n", &cfg, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(cfg.n_web, 2);
	ASSERT_INT_EQ(cfg.web_uids[0], 0);
	ASSERT_INT_EQ(cfg.web_uids[1], 4242);
	ASSERT_INT_EQ(cfg.timeout_ms, 2500);
	ASSERT_INT_EQ(cfg.grace_s, 60);
	ASSERT_INT_EQ(cfg.audit_sync_full, 0);
	ASSERT_STRING_EQ(cfg.ca_file, "/tmp/ca.pem");
	TEST_DONE();
	config_free(&cfg);

	tap_ok(load(BASE "colour = blue\n", &cfg, err, sizeof(err)) == -1 &&
	    strstr(err, ":5:") != NULL && strstr(err, "colour") != NULL,
	    "an unknown key is refused with its line: %s", err);
	config_free(&cfg);
	tap_ok(load(BASE "[upstream]\ntimeout_ms = 10s\n", &cfg, err, sizeof(err)) == -1 &&
	    strstr(err, "timeout_ms") != NULL, "a malformed number is refused: %s", err);
	config_free(&cfg);
	TEST_START("a number out of range is refused");
	ASSERT_INT_EQ(load(BASE "[upstream]\ntimeout_ms = 99999999\n", &cfg, err, sizeof(err)), -1);
	TEST_DONE();
	config_free(&cfg);
	tap_ok(load(BASE "[paths]\nx = 1\n", &cfg, err, sizeof(err)) == -1 &&
	    strstr(err, "[paths]") != NULL, "an unknown section is refused: %s", err);
	config_free(&cfg);
	tap_ok(load("[daemon]\nsocket = /run/fg.sock\n", &cfg, err, sizeof(err)) == -1 &&
	    strstr(err, "required") != NULL, "missing required keys are named: %s", err);
	config_free(&cfg);
	tap_ok(load(BASE "web_users = no-such-user-here\n", &cfg, err, sizeof(err)) == -1 &&
	    strstr(err, "no-such-user-here") != NULL, "an unknown user is named: %s", err);
	config_free(&cfg);
	TEST_START("a malformed boolean is refused");
	ASSERT_INT_EQ(load(BASE "[audit]\nsync_full = maybe\n", &cfg, err, sizeof(err)), -1);
	TEST_DONE();
	config_free(&cfg);
	TEST_START("[relay]: defaults, and every key read");
	ASSERT_INT_EQ(load(BASE, &cfg, err, sizeof(err)), 0);
	ASSERT_INT_EQ(cfg.relay_ticket_lifetime_s, 30);
	ASSERT_INT_EQ(cfg.relay_tickets_max, 1024);
	ASSERT_PTR_EQ(cfg.relay_log_socket, NULL);
	config_free(&cfg);
	ASSERT_INT_EQ(load(BASE "[relay]\nticket_lifetime_s = 5\ntickets_max = 8\n"
	    "log_socket = /run/r.sock\nlog_group = root\nlog_users = 0, 33\n", &cfg, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(cfg.relay_ticket_lifetime_s, 5);
	ASSERT_INT_EQ(cfg.relay_tickets_max, 8);
	ASSERT_STRING_EQ(cfg.relay_log_socket, "/run/r.sock");
	ASSERT_STRING_EQ(cfg.relay_log_group, "root");
	ASSERT_INT_EQ(cfg.n_relay_log, 2);
	ASSERT_INT_EQ(cfg.relay_log_uids[1], 33);
	TEST_DONE();
	config_free(&cfg);
	tap_ok(load(BASE "[relay]\nlog_socket = /run/r.sock\n", &cfg, err, sizeof(err)) == -1 &&
	    strstr(err, "log_users") != NULL, "a relay log socket without log_users is refused: %s",
	    err);
	config_free(&cfg);
	TEST_START("a ticket lifetime over 600 s is refused");
	ASSERT_INT_EQ(load(BASE "[relay]\nticket_lifetime_s = 601\n", &cfg, err, sizeof(err)), -1);
	TEST_DONE();
	config_free(&cfg);
	tap_ok(load(BASE "socket\n", &cfg, err, sizeof(err)) == -1, "a line without = is refused: %s", err);
	config_free(&cfg);
	unlink(path);
	tap_ok(config_load(path, &cfg, err, sizeof(err)) == -1 && strstr(err, "cannot open") != NULL,
	    "a missing file is reported: %s", err);
	config_free(&cfg);
	return tap_done();
}
