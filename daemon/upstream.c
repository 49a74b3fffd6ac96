/*
 * Requests to the upstream through one libcurl multi handle: many in flight without blocking
 * the event loop, connections (and TLS sessions) reused, https only, certificates always
 * verified, no redirects followed, no proxy taken from the environment, names resolved without
 * blocking.  Two layers: upstream_http() for any call (the API), and upstream_token() for a
 * token endpoint, whose form body carries the client secret from guarded memory that curl
 * reads without copying (client_secret_post).  What a token endpoint answers is judged by
 * answer_token() (answer.c); failures are told in flowgate's words, never libcurl's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "daemon.h"
#include "log.h"

#define UPSTREAM_TOKEN_RESPONSE_MAX	(64 * 1024)
#define UPSTREAM_INFLIGHT_MAX		1024	/* requests in flight in all */

enum upstream_kind { UPSTREAM_KIND_TOKEN, UPSTREAM_KIND_HTTP };

struct upstream_req {
	enum upstream_kind	 kind;
	CURL			*easy;
	struct curl_slist	*headers;	/* per request; NULL: the shared token headers */
	char			*body;		/* sodium_malloc'd */
	size_t			 bodylen;
	char			*resp;
	size_t			 resplen, respmax;
	int			 overflow;
	int			 revoke;	/* an RFC 7009 revocation: 200 is the answer */
	long			 timeout_ms;
	int64_t			 conn_id;	/* API calls: the connection they count against */
	char			 content_type[128];
	char			 retry_after[32];
	struct timespec		 started;
	upstream_cb		 token_cb;
	upstream_http_cb	 http_cb;
	void			*arg;
	struct upstream_req	*prev, *next;	/* in flight, so shutdown can free them */
};

static const double upstream_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
    10 };
#define UPSTREAM_NBUCKETS (sizeof(upstream_buckets) / sizeof(upstream_buckets[0]))

static CURLM			*upstream_multi;
static struct upstream_req	*upstream_inflight;
static int			 upstream_n;	/* requests in flight */
static int			 upstream_closing;
static struct curl_slist	*upstream_token_headers;
static const struct fg_config	*upstream_cfg;
static struct {
	uint64_t	requests, errors, latency_ms_sum;
	uint64_t	bucket[UPSTREAM_NBUCKETS + 1];
	int		last_ok;	/* -1 unknown, 0 error, 1 ok */
	time_t		last_at;
	char		last_msg[256];
} upstream_st = { .last_ok = -1 };

/*
 * Set up libcurl once; the multi handle keeps upstream connections alive between requests.
 * A libcurl without an asynchronous resolver would block the whole event loop on every name
 * lookup (and time out with signals): refuse to start with one.
 */
int
upstream_init(const struct fg_config *cfg, char *err, size_t errlen)
{
	const curl_version_info_data *v;

	upstream_cfg = cfg;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (upstream_multi = curl_multi_init()) == NULL) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return -1;
	}
	v = curl_version_info(CURLVERSION_NOW);
	if (v == NULL || !(v->features & CURL_VERSION_ASYNCHDNS)) {
		snprintf(err, errlen, "libcurl %s resolves host names synchronously (no "
		    "CURL_VERSION_ASYNCHDNS); flowgated needs a libcurl built with the threaded "
		    "resolver or c-ares", v != NULL ? v->version : "?");
		return -1;
	}
	upstream_token_headers = curl_slist_append(NULL, "Accept: application/json");
	upstream_token_headers = curl_slist_append(upstream_token_headers,
	    "Content-Type: application/x-www-form-urlencoded");
	if (upstream_token_headers == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Unlink and free a request; the body and the answer are zeroed (secrets, tokens). */
static void
upstream_req_free(struct upstream_req *r)
{
	if (r->prev != NULL || upstream_inflight == r)
		upstream_n--;	/* it was started and counted */
	if (r->prev != NULL)
		r->prev->next = r->next;
	else if (upstream_inflight == r)
		upstream_inflight = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	if (r->easy != NULL) {
		curl_multi_remove_handle(upstream_multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->headers);
	if (r->body != NULL)
		sodium_free(r->body);
	if (r->resp != NULL) {
		sodium_memzero(r->resp, r->resplen);
		free(r->resp);
	}
	free(r);
}

/* Tell a request's owner it failed without an answer (start failure or shutdown). */
static void
upstream_fail(struct upstream_req *r, const char *why)
{
	struct upstream_token	t;
	struct upstream_reply	h;

	if (r->kind == UPSTREAM_KIND_TOKEN) {
		memset(&t, 0, sizeof(t));
		t.outcome = UPSTREAM_UNAVAILABLE;
		snprintf(t.code, sizeof(t.code), "temporarily_unavailable");
		snprintf(t.message, sizeof(t.message), "%s", why);
		r->token_cb(r->arg, &t);
	} else {
		memset(&h, 0, sizeof(h));
		h.cc = CURLE_ABORTED_BY_CALLBACK;
		snprintf(h.message, sizeof(h.message), "%s", why);
		r->http_cb(r->arg, &h);
	}
}

/* Fail every request still in flight, so their owners free their state, then stop libcurl. */
void
upstream_shutdown(void)
{
	struct upstream_req *r;

	upstream_closing = 1;
	while ((r = upstream_inflight) != NULL) {
		upstream_fail(r, "daemon shutting down");
		upstream_req_free(r);
	}
	if (upstream_multi != NULL)
		curl_multi_cleanup(upstream_multi);
	curl_slist_free_all(upstream_token_headers);
	curl_global_cleanup();
	upstream_multi = NULL;
	upstream_token_headers = NULL;
}

/* application/x-www-form-urlencoded encoding of s into out (3*len+1 bytes); returns length. */
static size_t
upstream_form_encode(char *out, const char *s, size_t len)
{
	static const char	hex[] = "0123456789ABCDEF";
	size_t			i, o = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			out[o++] = (char)c;
		else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return o;
}

/* Append "&name=value" (form-encoded) at *o; the caller sized the buffer. */
static void
upstream_form_put(char *b, size_t *o, const char *name, const char *value, size_t len)
{
	if (*o > 0)
		b[(*o)++] = '&';
	*o += upstream_form_encode(b + *o, name, strlen(name));
	b[(*o)++] = '=';
	*o += upstream_form_encode(b + *o, value, len);
}

/* The token request body, built in guarded memory: it carries the client secret. */
static char *
upstream_token_body(const char *client_id, const struct fg_secret *secret,
    const struct upstream_param *p, size_t np, size_t *len)
{
	size_t	 cap = 64 + 3 * (strlen(client_id) + secret->len), o = 0, i;
	char	*b;

	for (i = 0; i < np; i++)
		cap += 3 * (strlen(p[i].name) + p[i].len) + 2;
	if ((b = sodium_malloc(cap)) == NULL)
		return NULL;
	for (i = 0; i < np; i++)
		upstream_form_put(b, &o, p[i].name, p[i].value, p[i].len);
	upstream_form_put(b, &o, "client_id", client_id, strlen(client_id));
	upstream_form_put(b, &o, "client_secret", secret->buf, secret->len);
	*len = o;
	return b;
}

/* libcurl write callback: keep the answer up to the request's cap; beyond it, abort. */
static size_t
upstream_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct upstream_req	*r = userp;
	size_t			 n = size * nmemb;

	if (r->resplen + n > r->respmax) {
		r->overflow = 1;
		return 0;
	}
	/* one buffer of the full cap: realloc would leave copies of tokens behind */
	if (r->resp == NULL && (r->resp = malloc(r->respmax + 1)) == NULL)
		return 0;
	memcpy(r->resp + r->resplen, data, n);
	r->resplen += n;
	r->resp[r->resplen] = '\0';
	return n;
}

/* Copy a header's value (after name, spaces skipped, up to the line's end) into out. */
static void
upstream_header_value(const char *data, size_t n, size_t name, char *out, size_t outlen)
{
	size_t i;

	for (i = name; i < n && data[i] == ' '; i++)
		;
	snprintf(out, outlen, "%.*s", (int)(n - i), data + i);
	out[strcspn(out, "\r\n")] = '\0';
}

/* Keep the answer's Content-Type (the proxy passes it on) and Retry-After. */
static size_t
upstream_header(char *data, size_t size, size_t nmemb, void *userp)
{
	struct upstream_req	*r = userp;
	size_t			 n = size * nmemb;

	if (n > 13 && strncasecmp(data, "Content-Type:", 13) == 0)
		upstream_header_value(data, n, 13, r->content_type, sizeof(r->content_type));
	else if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0)
		upstream_header_value(data, n, 12, r->retry_after, sizeof(r->retry_after));
	return n;
}

/*
 * Configure an easy handle: https only, verified, bounded in time, no redirects, and never a
 * proxy from the environment (https_proxy, ALL_PROXY, ...): "" disables proxies altogether.
 */
static int
upstream_setup(struct upstream_req *r, const char *method, const char *url, long timeout_ms)
{
	CURL *e = r->easy;

	return curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOPROXY, "*") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CAINFO, upstream_cfg->ca_file) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, upstream_cfg->connect_timeout_ms) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "flowgate/0.1") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers ? r->headers :
	    upstream_token_headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK ||
	    (r->body != NULL && (curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->bodylen) != CURLE_OK)) ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, upstream_write) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, upstream_header) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERDATA, r) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PRIVATE, r) != CURLE_OK ? -1 : 0;
}

/* Hand a prepared request to the multi handle; -1 (and r freed) if it cannot start. */
static int
upstream_start(struct upstream_req *r, const char *method, const char *url, long timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	r->timeout_ms = timeout_ms;
	if ((r->easy = curl_easy_init()) == NULL ||
	    upstream_setup(r, method, url, timeout_ms) == -1 ||
	    curl_multi_add_handle(upstream_multi, r->easy) != CURLM_OK) {
		upstream_req_free(r);
		return -1;
	}
	r->next = upstream_inflight;
	if (upstream_inflight != NULL)
		upstream_inflight->prev = r;
	upstream_inflight = r;
	upstream_n++;
	upstream_st.requests++;
	return 0;
}

/* A client-authenticated form POST to a token-style endpoint; -1 if it could not start. */
static int
upstream_form(const char *url, const char *client_id, const struct fg_secret *secret,
    const struct upstream_param *params, size_t nparams, int revoke, upstream_cb cb, void *arg)
{
	struct upstream_req *r;

	if (upstream_closing || upstream_n >= UPSTREAM_INFLIGHT_MAX ||
	    (r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	r->kind = UPSTREAM_KIND_TOKEN;
	r->revoke = revoke;
	r->token_cb = cb;
	r->arg = arg;
	r->respmax = UPSTREAM_TOKEN_RESPONSE_MAX;
	if ((r->body = upstream_token_body(client_id, secret, params, nparams,
	    &r->bodylen)) == NULL) {
		upstream_req_free(r);
		return -1;
	}
	return upstream_start(r, "POST", url, upstream_cfg->timeout_ms);
}

/*
 * Start a token request with the given grant parameters; cb(arg, result) runs from
 * upstream_run() when it ends, whatever the outcome.  -1 if it could not even be started.
 */
int
upstream_token(const char *url, const char *client_id, const struct fg_secret *secret,
    const struct upstream_param *params, size_t nparams, upstream_cb cb, void *arg)
{
	return upstream_form(url, client_id, secret, params, nparams, 0, cb, arg);
}

/*
 * Start an RFC 7009 revocation the same way; its 200 has no body and is UPSTREAM_OK (the
 * answer whatever the token's state), anything else fails as a grant would.
 */
int
upstream_revoke(const char *url, const char *client_id, const struct fg_secret *secret,
    const struct upstream_param *params, size_t nparams, upstream_cb cb, void *arg)
{
	return upstream_form(url, client_id, secret, params, nparams, 1, cb, arg);
}

/* A client-credentials token for scope: the common case. */
int
upstream_request_token(const char *url, const char *client_id, const struct fg_secret *secret,
    const char *scope, upstream_cb cb, void *arg)
{
	struct upstream_param p[] = {
		{ "grant_type", "client_credentials", 18 },
		{ "scope", scope, strlen(scope) },
	};

	return upstream_token(url, client_id, secret, p, 2, cb, arg);
}

/* The headers of an API call; NULL when out of memory.  Values were validated as one line. */
static struct curl_slist *
upstream_call_headers(const struct upstream_call *c)
{
	const char		*names[] = { "Authorization", "Tenant-Name", "Accept", "Content-Type",
				    "Expect" };
	const char		*values[] = { NULL, c->tenant, c->accept ? c->accept :
				    "application/json", c->content_type, "" };
	struct curl_slist	*l = NULL, *n;
	char			 line[FG_TOKEN_MAX + 64];
	size_t			 i;

	for (i = 0; i < 5; i++) {
		if (i == 0 && c->bearer == NULL)
			continue;	/* a public document (discovery, JWKS) */
		if (i == 0)
			snprintf(line, sizeof(line), "Authorization: Bearer %s", c->bearer);
		else if (values[i] == NULL)
			continue;
		else
			snprintf(line, sizeof(line), "%s:%s%s", names[i], *values[i] ? " " : "",
			    values[i]);	/* "Expect:" with no value drops the 100-continue wait */
		n = curl_slist_append(l, line);
		sodium_memzero(line, sizeof(line));	/* the first one held the token */
		if (n == NULL) {
			curl_slist_free_all(l);
			return NULL;
		}
		l = n;
	}
	return l;
}

/* True when an API call for conn_id would exceed the bounds on calls in flight. */
static int
upstream_busy(int64_t conn_id)
{
	struct upstream_req	*r;
	long			 n = 0;

	if (upstream_n >= UPSTREAM_INFLIGHT_MAX)
		return 1;
	for (r = upstream_inflight; r != NULL; r = r->next)
		n += r->conn_id == conn_id;
	return n >= upstream_cfg->calls_per_connection;
}

/*
 * Start an API call with a bearer token and the Tenant-Name header; the answer (up to
 * max_response bytes) goes to cb.  -1 if it could not be started.
 */
int
upstream_http(const struct upstream_call *c, upstream_http_cb cb, void *arg)
{
	struct upstream_req *r;

	if (upstream_closing)
		return -1;
	if (upstream_busy(c->conn_id))
		return UPSTREAM_BUSY;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	r->conn_id = c->conn_id;
	r->kind = UPSTREAM_KIND_HTTP;
	r->http_cb = cb;
	r->arg = arg;
	r->respmax = c->max_response;
	if ((r->headers = upstream_call_headers(c)) == NULL ||
	    (c->bodylen > 0 && (r->body = sodium_malloc(c->bodylen)) == NULL)) {
		upstream_req_free(r);
		return -1;
	}
	if (c->bodylen > 0) {
		memcpy(r->body, c->body, c->bodylen);
		r->bodylen = c->bodylen;
	}
	return upstream_start(r, c->method, c->url, c->timeout_ms > 0 ? c->timeout_ms :
	    upstream_cfg->timeout_ms);
}

/*
 * Why a transfer failed, in flowgate's words (an operator reads them, an app may too); 1 when
 * it was TLS that failed.
 */
static int
upstream_failure(struct upstream_req *r, CURLcode cc, char *out, size_t outlen)
{
	curl_off_t connected = 0;

	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &connected);
		if (connected == 0)
			snprintf(out, outlen, "cannot connect to the upstream within %ld ms",
			    upstream_cfg->connect_timeout_ms);
		else
			snprintf(out, outlen, "the upstream did not answer within %ld ms",
			    r->timeout_ms);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(out, outlen, "cannot resolve the upstream's host name");
		break;
	case CURLE_COULDNT_CONNECT:
		snprintf(out, outlen, "cannot connect to the upstream");
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		snprintf(out, outlen, "the upstream's TLS certificate could not be verified");
		return 1;
	case CURLE_SSL_CONNECT_ERROR:
		snprintf(out, outlen, "the TLS handshake with the upstream failed");
		return 1;
	case CURLE_UNSUPPORTED_PROTOCOL:
		snprintf(out, outlen, "the upstream's URL is not https");
		break;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
		snprintf(out, outlen, "the upstream closed the connection before it answered");
		break;
	case CURLE_WRITE_ERROR:
		if (r->overflow) {
			snprintf(out, outlen, "the upstream's answer was larger than %zu KiB",
			    r->respmax / 1024);
			break;
		}
		/* FALLTHROUGH */
	default:
		snprintf(out, outlen, "the exchange with the upstream failed (libcurl error %d)",
		    (int)cc);
	}
	return 0;
}

/* Turn a finished token transfer into a result. */
static void
upstream_token_result(struct upstream_req *r, CURLcode cc, struct upstream_token *t)
{
	long status = 0;

	if (cc != CURLE_OK) {
		t->outcome = r->overflow ? UPSTREAM_BAD_RESPONSE : UPSTREAM_UNAVAILABLE;
		snprintf(t->code, sizeof(t->code), "temporarily_unavailable");
		t->tls = upstream_failure(r, cc, t->message, sizeof(t->message));
		return;
	}
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	if (r->revoke && status == 200) {
		t->outcome = UPSTREAM_OK;
		t->http_status = status;
		return;
	}
	answer_token(status, r->resp, r->resplen, r->retry_after[0] ? r->retry_after : NULL, t);
}

/* Count a finished request in the latency histogram and the health status. */
static void
upstream_account(struct upstream_req *r, int ok, int reachable, const char *message)
{
	struct timespec	now;
	double		s;
	size_t		i;

	clock_gettime(CLOCK_MONOTONIC, &now);
	s = (double)(now.tv_sec - r->started.tv_sec) + (now.tv_nsec - r->started.tv_nsec) / 1e9;
	upstream_st.latency_ms_sum += (uint64_t)(s * 1000);
	for (i = 0; i < UPSTREAM_NBUCKETS && s > upstream_buckets[i]; i++)
		;
	upstream_st.bucket[i]++;
	if (!ok)
		upstream_st.errors++;
	/* a refusal of one scope or one secret says nothing about the upstream being down */
	upstream_st.last_ok = reachable;
	upstream_st.last_at = time(NULL);
	snprintf(upstream_st.last_msg, sizeof(upstream_st.last_msg), "%s", message);
}

/* Deliver a finished token request. */
static void
upstream_done_token(struct upstream_req *r, CURLcode cc)
{
	struct upstream_token t;

	memset(&t, 0, sizeof(t));
	upstream_token_result(r, cc, &t);
	upstream_account(r, t.outcome == UPSTREAM_OK, t.outcome == UPSTREAM_OK ||
	    t.outcome == UPSTREAM_REFUSED, t.outcome == UPSTREAM_OK ?
	    "token endpoint answered" : t.message);
	if (t.outcome != UPSTREAM_OK)
		fg_log_warn("upstream token request failed: %s", t.message);
	r->token_cb(r->arg, &t);
	seal_secret_free(t.access_token);
	seal_secret_free(t.refresh_token);
	seal_secret_free(t.id_token);
}

/* Deliver a finished API call. */
static void
upstream_done_http(struct upstream_req *r, CURLcode cc)
{
	struct upstream_reply h;

	memset(&h, 0, sizeof(h));
	h.cc = cc;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &h.status);
	h.body = r->resp;
	h.len = r->resplen;
	h.overflow = r->overflow;
	snprintf(h.content_type, sizeof(h.content_type), "%s", r->content_type);
	if (cc != CURLE_OK)
		upstream_failure(r, cc, h.message, sizeof(h.message));
	upstream_account(r, cc == CURLE_OK && h.status < 500, cc == CURLE_OK,
	    cc == CURLE_OK ? "API answered" : h.message);
	r->http_cb(r->arg, &h);
}

/* Wait for upstream sockets and the caller's extra fds (struct curl_waitfd). */
int
upstream_wait(void *pfds, unsigned int nfds, int timeout_ms)
{
	int numfds;

	return curl_multi_poll(upstream_multi, pfds, nfds, timeout_ms, &numfds) == CURLM_OK ?
	    numfds : -1;
}

/* Drive transfers and deliver finished ones to their callbacks. */
void
upstream_run(void)
{
	struct upstream_req	*r;
	CURLMsg			*msg;
	int			 running, left;

	curl_multi_perform(upstream_multi, &running);
	while ((msg = curl_multi_info_read(upstream_multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r->kind == UPSTREAM_KIND_TOKEN)
			upstream_done_token(r, msg->data.result);
		else
			upstream_done_http(r, msg->data.result);
		upstream_req_free(r);
	}
}

/* Upstream status for /healthz. */
json_t *
upstream_health(void)
{
	return json_pack("{sssIss}", "status", upstream_st.last_ok < 0 ? "unknown" :
	    upstream_st.last_ok ? "ok" : "error", "checked_at", (json_int_t)upstream_st.last_at,
	    "message", upstream_st.last_msg);
}

/* Counters and the latency histogram for /metrics. */
json_t *
upstream_stats(void)
{
	json_t		*o, *b;
	char		 le[16];
	uint64_t	 cum = 0;
	size_t		 i;

	b = json_object();
	for (i = 0; i <= UPSTREAM_NBUCKETS; i++) {
		cum += upstream_st.bucket[i];
		if (i < UPSTREAM_NBUCKETS)
			snprintf(le, sizeof(le), "%g", upstream_buckets[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		json_object_set_new(b, le, json_integer((json_int_t)cum));
	}
	o = json_pack("{sIsIsI}", "upstream_requests", (json_int_t)upstream_st.requests,
	    "upstream_errors", (json_int_t)upstream_st.errors, "upstream_latency_ms_sum",
	    (json_int_t)upstream_st.latency_ms_sum);
	json_object_set_new(o, "upstream_latency_buckets", b);
	return o;
}
