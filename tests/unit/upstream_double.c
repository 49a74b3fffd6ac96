/*
 * A test double for daemon/upstream.c, linked in its place: every symbol of that module, no
 * HTTP.  A token request is recorded (with the secret it was given, to show the sealed secret
 * was opened) and left in flight until the test answers it with double_answer().
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "fixture.h"

#define DOUBLE_CALLS_MAX	64

static struct double_call	double_calls[DOUBLE_CALLS_MAX];
static int			double_n;

/* How many token requests were started. */
int
double_ncalls(void)
{
	return double_n;
}

/* The i-th token request. */
struct double_call *
double_call(int i)
{
	return &double_calls[i];
}

/* Answer the i-th request as the upstream would have, through the daemon's callback. */
void
double_answer(int i, enum upstream_outcome outcome, const char *token, long expires_in,
    const char *scope)
{
	struct double_call	*c = &double_calls[i];
	struct upstream_token	 t;

	memset(&t, 0, sizeof(t));
	t.outcome = outcome;
	t.http_status = outcome == UPSTREAM_OK ? 200 : 503;
	if (outcome == UPSTREAM_OK)
		t.access_token = seal_secret_from(token, strlen(token));
	else {
		snprintf(t.code, sizeof(t.code), "temporarily_unavailable");
		snprintf(t.message, sizeof(t.message), "the test upstream is down");
	}
	t.expires_in = expires_in;
	if (scope != NULL) {
		t.scope_given = 1;
		snprintf(t.scope, sizeof(t.scope), "%s", scope);
	}
	c->answered = 1;
	c->cb(c->arg, &t);
	seal_secret_free(t.access_token);
}

/* Record one call; -1 when the table is full. */
static int
double_record(const char *url, const char *client_id, const struct fg_secret *secret,
    const char *scope, upstream_cb cb, void *arg)
{
	struct double_call *c;

	if (double_n == DOUBLE_CALLS_MAX)
		return -1;
	c = &double_calls[double_n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->url, sizeof(c->url), "%s", url);
	snprintf(c->client_id, sizeof(c->client_id), "%s", client_id);
	snprintf(c->secret, sizeof(c->secret), "%.*s", (int)secret->len, secret->buf);
	snprintf(c->scope, sizeof(c->scope), "%s", scope ? scope : "");
	c->cb = cb;
	c->arg = arg;
	return 0;
}

/* Nothing to start: no libcurl. */
int
upstream_init(const struct fg_config *cfg, char *err, size_t errlen)
{
	(void)cfg;
	(void)err;
	(void)errlen;
	return 0;
}

/* Nothing to stop. */
void
upstream_shutdown(void)
{
}

/* A token request with its own parameters (ROPC, logins): recorded without a scope. */
int
upstream_token(const char *url, const char *client_id, const struct fg_secret *secret,
    const struct upstream_param *params, size_t nparams, upstream_cb cb, void *arg)
{
	(void)params;
	(void)nparams;
	return double_record(url, client_id, secret, NULL, cb, arg);
}

/* A revocation (logouts, ended sessions): recorded like a grant without a scope. */
int
upstream_revoke(const char *url, const char *client_id, const struct fg_secret *secret,
    const struct upstream_param *params, size_t nparams, upstream_cb cb, void *arg)
{
	(void)params;
	(void)nparams;
	return double_record(url, client_id, secret, NULL, cb, arg);
}

/* A client credentials request: recorded, answered by double_answer(). */
int
upstream_request_token(const char *url, const char *client_id, const struct fg_secret *secret,
    const char *scope, upstream_cb cb, void *arg)
{
	return double_record(url, client_id, secret, scope, cb, arg);
}

/* API calls are not part of these tests: refused. */
int
upstream_http(const struct upstream_call *c, upstream_http_cb cb, void *arg)
{
	(void)c;
	(void)cb;
	(void)arg;
	return -1;
}

/* No transfers to wait for. */
int
upstream_wait(void *pfds, unsigned int nfds, int timeout_ms)
{
	(void)pfds;
	(void)nfds;
	(void)timeout_ms;
	return 0;
}

/* No transfers to run. */
void
upstream_run(void)
{
}

/* No health to report. */
json_t *
upstream_health(void)
{
	return json_object();
}

/* No counters to report. */
json_t *
upstream_stats(void)
{
	return json_object();
}
