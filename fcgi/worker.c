/*
 * One prefork worker: accept FastCGI requests, route them, and translate token, health and
 * stats requests into calls on one kept connection to the daemon.
 */
#include "config.h"

#include <sys/prctl.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "client.h"
#include "fcgi.h"
#include "fg-protocol.h"
#include "log.h"

#define DAEMON_TOKEN_TIMEOUT_MS	15000
#define DAEMON_INFO_TIMEOUT_MS	3000
#define DAEMON_BACKOFF_MIN_MS	50
#define DAEMON_BACKOFF_MAX_MS	2000
#define RETRY_AFTER_DEFAULT	5
#define RETRY_AFTER_MAX		3600
#define METRICS_OUT_MAX		(64 * 1024)
#define TOKEN_OUT_MAX	(20 * 1024)	/* a token answer: the token is at most 16 KiB */
#define CLIENT_ID_MAX		128	/* bytes; the daemon's limits (daemon/verbs.c) */
#define CLIENT_SECRET_MAX	256

struct request {
	FCGX_Request	*fcgi;
	const char	*method;
	const char	*path;
	const char	*remote;
	const char	*client_id;	/* for logs, once known */
};

struct route {
	const char		*path;
	const char		*method;
	enum metrics_route	 metric;
	void			(*handler)(struct request *);
};

/* How each outcome is answered; indexed by enum metrics_outcome. */
static const struct outcome {
	const char	*error;
	int		 status;
} outcomes[METRICS_OUTCOME_MAX] = {
	[METRICS_OK] = { NULL, 200 },
	[METRICS_INVALID_REQUEST] = { "invalid_request", 400 },
	[METRICS_INVALID_CLIENT] = { "invalid_client", 401 },
	[METRICS_INVALID_SCOPE] = { "invalid_scope", 400 },
	[METRICS_UNAUTHORIZED_CLIENT] = { "unauthorized_client", 400 },
	[METRICS_UNSUPPORTED_GRANT_TYPE] = { "unsupported_grant_type", 400 },
	[METRICS_INVALID_GRANT] = { "invalid_grant", 400 },
	[METRICS_UNAVAILABLE] = { "temporarily_unavailable", 503 },
	[METRICS_SERVER_ERROR] = { "server_error", 500 },
	[METRICS_METHOD_NOT_ALLOWED] = { "method_not_allowed", 405 },
	[METRICS_NOT_FOUND] = { "not_found", 404 },
};

/*
 * Grant types forwarded to the daemon, with the form fields each one passes on besides the
 * client credentials and their longest value in bytes (the daemon's limits, daemon/verbs.c:
 * a longer one is refused here with invalid_request, before the daemon is asked).
 * "password" (ROPC): the daemon allows it only for gated ROPC registrations; username and
 * password are passed on once and never logged here.
 */
static const struct grant {
	const char	*name;
	struct grant_field {
		const char	*name;
		size_t		 max;
	} fields[4];
} grants[] = {
	{ "client_credentials", { { "scope", 512 }, { NULL, 0 } } },
	{ "password", { { "scope", 512 }, { "username", 256 }, { "password", 1024 },
	    { NULL, 0 } } },
};

static void	worker_token(struct request *);
static void	worker_healthz(struct request *);
static void	worker_metrics(struct request *);

static const struct route routes[] = {
	{ "/oauth2/token", "POST", METRICS_ROUTE_TOKEN, worker_token },
	{ "/healthz", "GET", METRICS_ROUTE_HEALTHZ, worker_healthz },
	{ "/metrics", "GET", METRICS_ROUTE_METRICS, worker_metrics },
};

static const struct worker_conf	*conf;
static volatile sig_atomic_t	 worker_stopping;
static char			*body_buf;
static char			 basic_buf[FORM_BASIC_MAX];

/* The kept daemon connection and its reconnect backoff. */
static int		 daemon_fd = -1;
static int		 daemon_used;		/* fd has carried a reply */
static uint32_t		 daemon_id;
static long long	 daemon_retry_at;	/* monotonic ms */
static int		 daemon_backoff_ms;

/* Monotonic milliseconds, for the reconnect backoff. */
static long long
worker_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait a growing while before the next connection attempt; log only the first failure. */
static void
worker_daemon_backoff(const char *why)
{
	if (daemon_backoff_ms == 0) {
		fg_log_warn("daemon at %s unreachable: %s", conf->daemon_path, why);
		daemon_backoff_ms = DAEMON_BACKOFF_MIN_MS;
	} else if ((daemon_backoff_ms *= 2) > DAEMON_BACKOFF_MAX_MS)
		daemon_backoff_ms = DAEMON_BACKOFF_MAX_MS;
	daemon_retry_at = worker_now_ms() + daemon_backoff_ms;
}

/* Drop the kept connection after a failed call: the stream position is unknown. */
static void
worker_daemon_drop(void)
{
	close(daemon_fd);
	daemon_fd = -1;
	metrics_reconnect();
}

/*
 * One call to the daemon on the kept connection, connecting lazily.  While backing off it
 * fails at once, so requests get a quick 503 instead of waiting.  A kept connection the daemon
 * closed while idle (it restarted) is retried once on a fresh one.  admin.c calls it too.
 */
int
worker_daemon_call(json_t *req, json_t **reply, int timeout_ms)
{
	const char	*why;
	int		 r, stale;

	if (daemon_fd == -1 && daemon_backoff_ms != 0 && worker_now_ms() < daemon_retry_at)
		return -1;
	for (;;) {
		if (daemon_fd == -1) {
			if ((daemon_fd = fg_client_connect(conf->daemon_path)) == -1) {
				worker_daemon_backoff(strerror(errno));
				return -1;
			}
			daemon_used = 0;
		}
		if ((r = fg_client_call(daemon_fd, ++daemon_id, req, reply, timeout_ms)) == 0)
			break;
		stale = r == -1 && daemon_used && (errno == EPIPE || errno == ECONNRESET);
		why = r == -1 ? strerror(errno) : fg_frame_strerror(r);
		worker_daemon_drop();
		if (!stale) {
			worker_daemon_backoff(why);
			return -1;
		}
	}
	if (daemon_backoff_ms != 0)
		fg_log_info("daemon at %s reachable again", conf->daemon_path);
	daemon_used = 1;
	daemon_backoff_ms = 0;
	return 0;
}

/* Log a refused request: route, reason and peer, never credentials; the caller's text escaped. */
static void
worker_log_refusal(struct request *r, const char *error, const char *reason)
{
	char	method[32], path[256], remote[80], id[160];

	fg_log_info("refused %s %s from %s%s%s: %s (%s)",
	    fg_log_clean(method, sizeof(method), r->method),
	    fg_log_clean(path, sizeof(path), r->path),
	    fg_log_clean(remote, sizeof(remote), r->remote),
	    r->client_id != NULL ? " client_id=" : "",
	    r->client_id != NULL ? fg_log_clean(id, sizeof(id), r->client_id) : "", error, reason);
}

/* RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E; map anything else. */
static void
worker_description(char *dst, size_t dstlen, const char *src)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = c == '"' ? '\'' : (c < 0x20 || c > 0x7e || c == '\\') ? '?' : (char)c;
	}
	dst[i] = '\0';
}

/* Answer with an RFC 6749 section 5.2 error (or the plain error object of other routes). */
static void
worker_error(struct request *r, enum metrics_route route, enum metrics_outcome o,
    const char *description, long retry_after)
{
	struct http_reply	 rp = { .status = outcomes[o].status,
	    .content_type = "application/json" };
	json_t			*body;
	char			 desc[256];

	if (o == METRICS_INVALID_CLIENT)
		rp.authenticate = "Basic realm=\"flowgate\"";
	if (o == METRICS_UNAVAILABLE)
		rp.retry_after = retry_after > 0 ? retry_after : RETRY_AFTER_DEFAULT;
	body = json_pack("{s:s}", "error", outcomes[o].error);
	if (body != NULL && description != NULL) {
		worker_description(desc, sizeof(desc), description);
		json_object_set_new(body, "error_description", json_string(desc));
	}
	http_send_json(r->fcgi, &rp, body);
	json_decref(body);
	metrics_request(route, o);
}

/* Refuse a token request: log it, count it, answer it. */
static void
worker_token_refuse(struct request *r, enum metrics_outcome o, const char *reason)
{
	worker_log_refusal(r, outcomes[o].error, reason);
	worker_error(r, METRICS_ROUTE_TOKEN, o, reason, 0);
}

/* Read and parse the form body of a token request; returns -1 after refusing it. */
static int
worker_token_form(struct request *r, struct form *f, size_t *len)
{
	int	e;

	if (!form_content_type_ok(FCGX_GetParam("CONTENT_TYPE", r->fcgi->envp))) {
		worker_token_refuse(r, METRICS_INVALID_REQUEST,
		    "Content-Type must be application/x-www-form-urlencoded");
		return -1;
	}
	switch (http_body_read(r->fcgi, body_buf, conf->max_body, len)) {
	case HTTP_BODY_OK:
		break;
	case HTTP_BODY_ETOOLARGE:
		worker_token_refuse(r, METRICS_INVALID_REQUEST, "request body too large");
		return -1;
	default:
		worker_token_refuse(r, METRICS_INVALID_REQUEST, "missing or incomplete body");
		return -1;
	}
	if ((e = form_parse(body_buf, *len, f)) != FORM_OK) {
		worker_token_refuse(r, METRICS_INVALID_REQUEST, form_strerror(e));
		return -1;
	}
	return 0;
}

/*
 * Find the client's credentials: HTTP Basic or the client_id/client_secret form fields, never
 * both (RFC 6749 section 2.3).  Returns -1 after refusing the request.
 */
static int
worker_token_client(struct request *r, const struct form *f, const char **id,
    const char **secret)
{
	const char	*auth;
	int		 e;

	auth = FCGX_GetParam("HTTP_AUTHORIZATION", r->fcgi->envp);
	*id = form_get(f, "client_id");
	*secret = form_get(f, "client_secret");
	if (auth != NULL && (*id != NULL || *secret != NULL)) {
		worker_token_refuse(r, METRICS_INVALID_REQUEST,
		    "more than one client authentication method");
		return -1;
	}
	if (auth != NULL && (e = form_basic(auth, basic_buf, sizeof(basic_buf), id,
	    secret)) != FORM_OK) {
		worker_token_refuse(r, e == FORM_ESCHEME ? METRICS_INVALID_CLIENT :
		    METRICS_INVALID_REQUEST, form_strerror(e));
		return -1;
	}
	r->client_id = *id;
	if (*id == NULL || *secret == NULL) {
		worker_token_refuse(r, METRICS_INVALID_CLIENT, "client authentication missing");
		return -1;
	}
	/* longer than any credential flowgate issues: authentication failed, as for a wrong one */
	if (strlen(*id) > CLIENT_ID_MAX || strlen(*secret) > CLIENT_SECRET_MAX) {
		worker_token_refuse(r, METRICS_INVALID_CLIENT, strlen(*id) > CLIENT_ID_MAX ?
		    "client authentication failed: client_id longer than 128 bytes" :
		    "client authentication failed: client_secret longer than 256 bytes");
		return -1;
	}
	return 0;
}

/* The grant table entry for a grant_type; NULL after refusing the request. */
static const struct grant *
worker_token_grant(struct request *r, const struct form *f)
{
	const char	*name;
	size_t		 i;

	if ((name = form_get(f, "grant_type")) == NULL) {
		worker_token_refuse(r, METRICS_INVALID_REQUEST, "grant_type missing");
		return NULL;
	}
	for (i = 0; i < sizeof(grants) / sizeof(grants[0]); i++) {
		if (strcmp(grants[i].name, name) == 0)
			return &grants[i];
	}
	worker_token_refuse(r, METRICS_UNSUPPORTED_GRANT_TYPE, "grant_type not supported");
	return NULL;
}

/* Refuse a grant's field longer than the daemon takes; -1 after refusing the request. */
static int
worker_token_lengths(struct request *r, const struct form *f, const struct grant *g)
{
	const struct grant_field	*gf;
	const char			*v;
	char				 why[64];

	for (gf = g->fields; gf->name != NULL; gf++) {
		if ((v = form_get(f, gf->name)) != NULL && strlen(v) > gf->max) {
			snprintf(why, sizeof(why), "%s longer than %zu bytes", gf->name, gf->max);
			worker_token_refuse(r, METRICS_INVALID_REQUEST, why);
			return -1;
		}
	}
	return 0;
}

/* The daemon's "token" request for a checked grant. */
static json_t *
worker_token_request(struct request *r, const struct form *f, const struct grant *g,
    const char *id, const char *secret)
{
	json_t		*req;
	const struct grant_field	*gf;
	const char			*v;

	req = json_pack("{s:s,s:s,s:s,s:s}", "verb", "token", "client_id", id, "client_secret",
	    secret, "grant_type", g->name);
	if (req == NULL)
		return NULL;
	for (gf = g->fields; gf->name != NULL; gf++) {
		if ((v = form_get(f, gf->name)) != NULL)
			json_object_set_new(req, gf->name, json_string(v));
	}
	if (strcmp(r->remote, "-") != 0)
		json_object_set_new(req, "remote", json_string(r->remote));
	return req;
}

/* True when s prints inside a JSON string as it is: visible ASCII or space, no quote, no \\. */
static int
worker_plain(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || *s == '"' || *s == '\\')
			return 0;
	return 1;
}

/* Relay a successful token reply as RFC 6749 section 5.1 JSON; -1 if the reply is malformed. */
static int
worker_token_ok(struct request *r, json_t *reply)
{
	struct http_reply	 rp = { .status = 200, .content_type = "application/json" };
	json_t			*body, *at, *tt, *exp, *scope;

	at = json_object_get(reply, "access_token");
	tt = json_object_get(reply, "token_type");
	exp = json_object_get(reply, "expires_in");
	scope = json_object_get(reply, "scope");
	if (!json_is_string(at) || !json_is_string(tt) || !json_is_integer(exp) ||
	    (scope != NULL && !json_is_string(scope)))
		return -1;
	/* the hot path: values that need no escaping are printed as they are */
	if (worker_plain(json_string_value(at)) && worker_plain(json_string_value(tt)) &&
	    (scope == NULL || worker_plain(json_string_value(scope)))) {
		static char	out[TOKEN_OUT_MAX];
		int		n;

		n = snprintf(out, sizeof(out), "{\"access_token\":\"%s\",\"token_type\":\"%s\","
		    "\"expires_in\":%lld%s%s%s}", json_string_value(at), json_string_value(tt),
		    (long long)json_integer_value(exp), scope ? ",\"scope\":\"" : "",
		    scope ? json_string_value(scope) : "", scope ? "\"" : "");
		if (n > 0 && (size_t)n < sizeof(out)) {
			http_send(r->fcgi, &rp, out, (size_t)n);
			explicit_bzero(out, (size_t)n);
			metrics_request(METRICS_ROUTE_TOKEN, METRICS_OK);
			return 0;
		}
	}
	body = json_pack("{s:O,s:O,s:O}", "access_token", at, "token_type", tt, "expires_in",
	    exp);
	if (body != NULL && scope != NULL)
		json_object_set(body, "scope", scope);
	http_send_json(r->fcgi, &rp, body);
	json_decref(body);
	metrics_request(METRICS_ROUTE_TOKEN, METRICS_OK);
	return 0;
}

/*
 * Map the daemon's error reply onto its HTTP answer.  Its schema refusal (bad_request: a field
 * of the wrong type or size) is the caller's malformed request; unknown codes are server_error.
 */
static void
worker_token_error(struct request *r, json_t *reply)
{
	const char	*error, *message;
	char		 code[64];
	json_t		*ra;
	int		 o;

	error = json_string_value(json_object_get(reply, "error"));
	message = json_string_value(json_object_get(reply, "message"));
	if (error != NULL && strcmp(error, "bad_request") == 0)
		error = outcomes[METRICS_INVALID_REQUEST].error;
	for (o = METRICS_INVALID_REQUEST; o <= METRICS_SERVER_ERROR; o++) {
		if (error != NULL && strcmp(outcomes[o].error, error) == 0)
			break;
	}
	if (o > METRICS_SERVER_ERROR) {
		fg_log_warn("daemon answered an unknown token error %s",
		    fg_log_clean(code, sizeof(code), error));
		o = METRICS_SERVER_ERROR;
		message = NULL;
	}
	ra = json_object_get(reply, "retry_after");
	worker_log_refusal(r, outcomes[o].error, "refused by the daemon");
	worker_error(r, METRICS_ROUTE_TOKEN, o, message,
	    json_is_integer(ra) && json_integer_value(ra) <= RETRY_AFTER_MAX ?
	    (long)json_integer_value(ra) : 0);
}

/* POST /oauth2/token: check the request strictly, then let the daemon decide. */
static void
worker_token(struct request *r)
{
	struct form		 f;
	const struct grant	*g;
	const char		*id, *secret;
	json_t			*req, *reply = NULL;
	size_t			 len = 0;

	if (worker_token_form(r, &f, &len) == -1 ||
	    worker_token_client(r, &f, &id, &secret) == -1 ||
	    (g = worker_token_grant(r, &f)) == NULL || worker_token_lengths(r, &f, g) == -1)
		goto out;
	if ((req = worker_token_request(r, &f, g, id, secret)) == NULL) {
		worker_token_refuse(r, METRICS_SERVER_ERROR, "out of memory");
		goto out;
	}
	if (worker_daemon_call(req, &reply, DAEMON_TOKEN_TIMEOUT_MS) == -1)
		worker_token_refuse(r, METRICS_UNAVAILABLE, "token service unreachable");
	else if (!json_is_true(json_object_get(reply, "ok")))
		worker_token_error(r, reply);
	else if (worker_token_ok(r, reply) == -1) {
		fg_log_warn("daemon sent a malformed token reply");
		worker_error(r, METRICS_ROUTE_TOKEN, METRICS_SERVER_ERROR, NULL, 0);
	}
	json_decref(req);
	json_decref(reply);
out:
	sodium_memzero(body_buf, len + 1);
	sodium_memzero(basic_buf, sizeof(basic_buf));
}

/* Ask the daemon a question that takes no arguments; NULL if it cannot answer. */
static json_t *
worker_daemon_ask(const char *verb)
{
	json_t	*req, *reply = NULL;

	if ((req = json_pack("{s:s}", "verb", verb)) == NULL)
		return NULL;
	if (worker_daemon_call(req, &reply, DAEMON_INFO_TIMEOUT_MS) == -1)
		reply = NULL;
	json_decref(req);
	if (reply != NULL && !json_is_true(json_object_get(reply, "ok"))) {
		json_decref(reply);
		reply = NULL;
	}
	return reply;
}

/* GET /healthz: 200 when the daemon answers and its database is writable, else 503. */
static void
worker_healthz(struct request *r)
{
	struct http_reply	 rp = { .content_type = "application/json" };
	json_t			*reply, *body, *db, *up;
	int			 ok;

	reply = worker_daemon_ask("health");
	db = json_object_get(reply, "database");
	ok = json_is_string(db) && strcmp(json_string_value(db), "ok") == 0;
	if (json_is_object(up = json_object_get(reply, "upstream")))
		json_incref(up);
	else
		up = json_pack("{s:s}", "status", "unknown");
	body = json_pack("{s:s,s:s,s:s,s:o}", "status", ok ? "ok" : "error",
	    "daemon", reply != NULL ? "ok" : "unreachable",
	    "database", json_is_string(db) ? json_string_value(db) : "unknown", "upstream", up);
	rp.status = ok ? 200 : 503;
	if (!ok)
		worker_log_refusal(r, "unhealthy",
		    reply != NULL ? "database not ok" : "daemon unreachable");
	http_send_json(r->fcgi, &rp, body);
	json_decref(body);
	json_decref(reply);
	metrics_request(METRICS_ROUTE_HEALTHZ, ok ? METRICS_OK : METRICS_UNAVAILABLE);
}

/* GET /metrics: our counters, and the daemon's when it answers. */
static void
worker_metrics(struct request *r)
{
	static char		 out[METRICS_OUT_MAX];
	struct http_reply	 rp = { .status = 200,
	    .content_type = "text/plain; version=0.0.4; charset=utf-8" };
	json_t			*stats;
	size_t			 n;

	metrics_request(METRICS_ROUTE_METRICS, METRICS_OK);
	stats = worker_daemon_ask("stats");
	n = metrics_render(out, sizeof(out), stats);
	json_decref(stats);
	if (n == 0) {
		fg_log_warn("metrics do not fit in %zu bytes", sizeof(out));
		rp.status = 500;
	}
	http_send(r->fcgi, &rp, out, n);
}

/* The request's path: DOCUMENT_URI, or SCRIPT_NAME + PATH_INFO for servers without it. */
static const char *
worker_path(FCGX_Request *req, char *buf, size_t size)
{
	const char	*uri, *script, *info;
	int		 n;

	if ((uri = FCGX_GetParam("DOCUMENT_URI", req->envp)) != NULL)
		return uri;
	script = FCGX_GetParam("SCRIPT_NAME", req->envp);
	info = FCGX_GetParam("PATH_INFO", req->envp);
	n = snprintf(buf, size, "%s%s", script != NULL ? script : "", info != NULL ? info : "");
	return n < 0 || (size_t)n >= size ? "" : buf;
}

/* Route one request to its handler, answering 404 and 405 here. */
static void
worker_handle(FCGX_Request *fcgi)
{
	struct request		 r = { .fcgi = fcgi };
	struct http_reply	 rp = { .status = 405, .content_type = "application/json" };
	static const char	 e405[] = "{\"error\":\"invalid_request\","
	    "\"error_description\":\"method not allowed\"}";
	char			 buf[1024];
	size_t			 i;

	if ((r.method = FCGX_GetParam("REQUEST_METHOD", fcgi->envp)) == NULL)
		r.method = "-";
	if ((r.remote = FCGX_GetParam("REMOTE_ADDR", fcgi->envp)) == NULL)
		r.remote = "-";
	r.path = worker_path(fcgi, buf, sizeof(buf));
	if (strncmp(r.path, "/admin", 6) == 0 && (r.path[6] == '\0' || r.path[6] == '/')) {
		admin_handle(fcgi, r.method, r.path, r.remote, conf->max_body);
		return;
	}
	if (strcmp(r.path, "/") == 0 && strcmp(r.method, "GET") == 0) {
		/* the front page: people arriving with a browser want the admin UI */
		admin_handle(fcgi, r.method, "/admin", r.remote, conf->max_body);
		return;
	}
	if (user_handle(fcgi, r.method, r.path, r.remote, conf->max_body))
		return;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(routes[i].path, r.path) != 0)
			continue;
		if (strcmp(routes[i].method, r.method) == 0) {
			routes[i].handler(&r);
			return;
		}
		worker_log_refusal(&r, "method_not_allowed", "wrong method");
		rp.allow = routes[i].method;
		http_send(fcgi, &rp, e405, sizeof(e405) - 1);
		metrics_request(routes[i].metric, METRICS_METHOD_NOT_ALLOWED);
		return;
	}
	worker_error(&r, METRICS_ROUTE_OTHER, METRICS_NOT_FOUND, NULL, 0);
}

/*
 * SIGTERM: finish the request in hand, then leave.  FCGX_ShutdownPending() makes an idle
 * accept return; a signal arriving just before accept() would still be missed, so the
 * listening socket is closed too and the next accept fails at once.
 */
static void
worker_sigterm(int sig)
{
	int	saved = errno;

	(void)sig;
	worker_stopping = 1;
	FCGX_ShutdownPending();
	close(conf->listen_fd);
	errno = saved;
}

/* Signals of a worker: SIGTERM stops it gently, the master alone handles terminal signals. */
static void
worker_signals(void)
{
	struct sigaction	sa;
	sigset_t		none;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = worker_sigterm;		/* no SA_RESTART: accept must see EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Serve requests until told to stop or the master goes away; never returns. */
void
worker_run(const struct worker_conf *c)
{
	FCGX_Request	req;

	conf = c;
	worker_signals();
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != conf->master)
		_exit(0);
	if ((body_buf = malloc(conf->max_body + 1)) == NULL)
		fg_fatal("out of memory");
	if (FCGX_InitRequest(&req, conf->listen_fd, 0) != 0)
		fg_fatal("FCGX_InitRequest failed");
	while (!worker_stopping) {
		if (FCGX_Accept_r(&req) < 0) {
			if (worker_stopping)
				break;
			fg_fatal("accept failed: %s", strerror(errno));
		}
		worker_handle(&req);
		http_body_discard(&req);
		FCGX_Finish_r(&req);
	}
	if (daemon_fd != -1)
		close(daemon_fd);
	exit(0);
}
