/*
 * Token requests to the upstream auth server through one libcurl multi handle: many requests
 * in flight without blocking the event loop, connections (and TLS sessions) reused, https only,
 * certificates always verified.  The client secret goes in the form body (client_secret_post)
 * from guarded memory that curl reads without copying.
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

#define UPSTREAM_RESPONSE_MAX	(64 * 1024)
#define UPSTREAM_EXPIRES_MAX	86400

struct upstream_req {
	CURL		*easy;
	char		*body;		/* sodium_malloc: holds the secret */
	size_t		 bodylen;
	char		*resp;
	size_t		 resplen;
	int		 overflow;
	struct timespec	 started;
	upstream_cb	 cb;
	void		*arg;
	struct upstream_req *prev, *next;	/* in flight, so shutdown can free them */
};

static const double upstream_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
    10 };
#define UPSTREAM_NBUCKETS (sizeof(upstream_buckets) / sizeof(upstream_buckets[0]))

static CURLM			*upstream_multi;
static struct upstream_req	*upstream_inflight;
static int			 upstream_closing;
static struct curl_slist	*upstream_headers;
static const struct fg_config	*upstream_cfg;
static struct {
	uint64_t	requests, errors, latency_ms_sum;
	uint64_t	bucket[UPSTREAM_NBUCKETS + 1];
	int		last_ok;	/* -1 unknown, 0 error, 1 ok */
	time_t		last_at;
	char		last_msg[256];
} upstream_st = { .last_ok = -1 };

/* Set up libcurl once; the multi handle keeps upstream connections alive between tokens. */
int
upstream_init(const struct fg_config *cfg)
{
	upstream_cfg = cfg;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (upstream_multi = curl_multi_init()) == NULL)
		return -1;
	upstream_headers = curl_slist_append(NULL, "Accept: application/json");
	upstream_headers = curl_slist_append(upstream_headers,
	    "Content-Type: application/x-www-form-urlencoded");
	return upstream_headers != NULL ? 0 : -1;
}

static void upstream_req_free(struct upstream_req *r);

/* Fail every request still in flight, so their owners free their state, then stop libcurl. */
void
upstream_shutdown(void)
{
	struct upstream_token	 t;
	struct upstream_req	*r;

	upstream_closing = 1;
	while ((r = upstream_inflight) != NULL) {
		memset(&t, 0, sizeof(t));
		t.outcome = UPSTREAM_UNAVAILABLE;
		snprintf(t.message, sizeof(t.message), "daemon shutting down");
		r->cb(r->arg, &t);
		upstream_req_free(r);
	}
	if (upstream_multi != NULL)
		curl_multi_cleanup(upstream_multi);
	curl_slist_free_all(upstream_headers);
	curl_global_cleanup();
	upstream_multi = NULL;
	upstream_headers = NULL;
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

/* The request body, built in guarded memory because it carries the secret. */
static char *
upstream_body(const char *client_id, const struct fg_secret *secret, const char *scope,
    size_t *len)
{
	size_t	 cap, o;
	char	*b;

	cap = 64 + 3 * (strlen(client_id) + secret->len + strlen(scope));
	if ((b = sodium_malloc(cap)) == NULL)
		return NULL;
	o = (size_t)snprintf(b, cap, "grant_type=client_credentials&scope=");
	o += upstream_form_encode(b + o, scope, strlen(scope));
	memcpy(b + o, "&client_id=", 11);
	o += 11;
	o += upstream_form_encode(b + o, client_id, strlen(client_id));
	memcpy(b + o, "&client_secret=", 15);
	o += 15;
	o += upstream_form_encode(b + o, secret->buf, secret->len);
	*len = o;
	return b;
}

/* libcurl write callback: keep the answer up to a cap; beyond it, abort the transfer. */
static size_t
upstream_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct upstream_req	*r = userp;
	size_t			 n = size * nmemb;

	if (r->resplen + n > UPSTREAM_RESPONSE_MAX) {
		r->overflow = 1;
		return 0;
	}
	/* one buffer of the full cap: realloc would leave copies of the token behind */
	if (r->resp == NULL && (r->resp = malloc(UPSTREAM_RESPONSE_MAX + 1)) == NULL)
		return 0;
	memcpy(r->resp + r->resplen, data, n);
	r->resplen += n;
	r->resp[r->resplen] = '\0';
	return n;
}

/* Free a request; the body and the answer are zeroed (both may hold secrets or tokens). */
static void
upstream_req_free(struct upstream_req *r)
{
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
	if (r->body != NULL)
		sodium_free(r->body);
	if (r->resp != NULL) {
		sodium_memzero(r->resp, r->resplen);
		free(r->resp);
	}
	free(r);
}

/* Configure an easy handle: https only, verified, bounded in time, no redirects. */
static int
upstream_setup(struct upstream_req *r, const char *url)
{
	CURL *e = r->easy;

	return curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CAINFO, upstream_cfg->ca_file) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, upstream_cfg->connect_timeout_ms) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, upstream_cfg->timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "flowgate/0.1") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, upstream_headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->bodylen) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, upstream_write) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PRIVATE, r) != CURLE_OK ? -1 : 0;
}

/*
 * Start a client-credentials token request; cb(arg, result) runs from upstream_run() when it
 * ends, whatever the outcome.  Returns -1 if the request could not even be started.
 */
int
upstream_request_token(const char *url, const char *client_id, const struct fg_secret *secret,
    const char *scope, upstream_cb cb, void *arg)
{
	struct upstream_req *r;

	if (upstream_closing || (r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	r->cb = cb;
	r->arg = arg;
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	if ((r->body = upstream_body(client_id, secret, scope, &r->bodylen)) == NULL ||
	    (r->easy = curl_easy_init()) == NULL || upstream_setup(r, url) == -1 ||
	    curl_multi_add_handle(upstream_multi, r->easy) != CURLM_OK) {
		upstream_req_free(r);
		return -1;
	}
	r->next = upstream_inflight;
	if (upstream_inflight != NULL)
		upstream_inflight->prev = r;
	upstream_inflight = r;
	upstream_st.requests++;
	return 0;
}

/* Copy an OAuth2 error code from the upstream, keeping only the characters codes use. */
static void
upstream_copy_code(char *dst, size_t dstlen, const char *src)
{
	size_t i, o = 0;

	for (i = 0; src != NULL && src[i] != '\0' && o + 1 < dstlen; i++)
		if ((src[i] >= 'a' && src[i] <= 'z') || src[i] == '_')
			dst[o++] = src[i];
	dst[o] = '\0';
}

/*
 * True when s is an RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" )
 * *"=".  JWTs and opaque Keycloak tokens are; nothing else may reach a header or a reply.
 */
static int
upstream_token_ok(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || n > FG_TOKEN_MAX)
		return 0;
	while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
	    (s[i] >= '0' && s[i] <= '9') || (s[i] != '\0' && strchr("-._~+/", s[i]) != NULL)))
		i++;
	if (i == 0)
		return 0;
	while (i < n && s[i] == '=')
		i++;
	return i == n;
}

/* Read a 200 answer: RFC 6749 §5.1 fields only; Keycloak extras are ignored. */
static void
upstream_parse_ok(struct upstream_req *r, struct upstream_token *t)
{
	json_t		*j, *at, *tt, *ei, *sc;
	const char	*tok;

	t->outcome = UPSTREAM_BAD_RESPONSE;
	j = json_loadb(r->resp ? r->resp : "", r->resplen, 0, NULL);
	at = json_object_get(j, "access_token");
	tt = json_object_get(j, "token_type");
	ei = json_object_get(j, "expires_in");
	sc = json_object_get(j, "scope");
	tok = json_string_value(at);
	if (!json_is_object(j))
		snprintf(t->message, sizeof(t->message), "upstream answer is not JSON");
	else if (tok == NULL || !upstream_token_ok(tok, json_string_length(at)))
		snprintf(t->message, sizeof(t->message), "upstream answer has no usable access_token");
	else if (!json_is_string(tt) || strcasecmp(json_string_value(tt), "bearer") != 0)
		snprintf(t->message, sizeof(t->message), "upstream token_type is not Bearer");
	else if (!json_is_number(ei) || json_number_value(ei) < 1 ||
	    json_number_value(ei) > UPSTREAM_EXPIRES_MAX)
		snprintf(t->message, sizeof(t->message), "upstream expires_in missing or out of range");
	else if (sc != NULL && (!json_is_string(sc) ||
	    scope_normalize(json_string_value(sc), t->scope, sizeof(t->scope)) == -1))
		snprintf(t->message, sizeof(t->message), "upstream scope is malformed");
	else if ((t->access_token = seal_secret_from(tok, json_string_length(at))) == NULL)
		snprintf(t->message, sizeof(t->message), "out of guarded memory");
	else {
		t->expires_in = (long)json_number_value(ei);
		t->outcome = UPSTREAM_OK;
	}
	json_decref(j);	/* jansson's copies are zeroed by the daemon's allocator */
}

/* Turn a finished transfer into a result. */
static void
upstream_result(struct upstream_req *r, CURLcode cc, struct upstream_token *t)
{
	json_t *j;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &t->http_status);
	if (cc != CURLE_OK) {
		t->outcome = r->overflow ? UPSTREAM_BAD_RESPONSE : UPSTREAM_UNAVAILABLE;
		snprintf(t->message, sizeof(t->message), "%s", r->overflow ?
		    "upstream answer too large" : curl_easy_strerror(cc));
	} else if (t->http_status == 200) {
		upstream_parse_ok(r, t);
	} else if (t->http_status >= 400 && t->http_status < 500) {
		t->outcome = UPSTREAM_REFUSED;
		j = json_loadb(r->resp ? r->resp : "", r->resplen, 0, NULL);
		upstream_copy_code(t->error, sizeof(t->error),
		    json_string_value(json_object_get(j, "error")));
		json_decref(j);
		snprintf(t->message, sizeof(t->message), "upstream refused (HTTP %ld%s%s)",
		    t->http_status, *t->error ? ": " : "", t->error);
	} else {
		t->outcome = UPSTREAM_UNAVAILABLE;
		snprintf(t->message, sizeof(t->message), "upstream answered HTTP %ld",
		    t->http_status);
	}
}

/* Count a finished request in the latency histogram and the health status. */
static void
upstream_account(struct upstream_req *r, const struct upstream_token *t)
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
	if (t->outcome != UPSTREAM_OK)
		upstream_st.errors++;
	/* a refusal of one scope or one secret says nothing about the upstream being down */
	upstream_st.last_ok = t->outcome == UPSTREAM_OK || t->outcome == UPSTREAM_REFUSED;
	upstream_st.last_at = time(NULL);
	snprintf(upstream_st.last_msg, sizeof(upstream_st.last_msg), "%s",
	    t->outcome == UPSTREAM_OK ? "token endpoint answered" : t->message);
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
	struct upstream_token	 t;
	struct upstream_req	*r;
	CURLMsg			*msg;
	int			 running, left;

	curl_multi_perform(upstream_multi, &running);
	while ((msg = curl_multi_info_read(upstream_multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		memset(&t, 0, sizeof(t));
		upstream_result(r, msg->data.result, &t);
		upstream_account(r, &t);
		if (t.outcome != UPSTREAM_OK)
			fg_log_warn("upstream token request failed: %s", t.message);
		r->cb(r->arg, &t);
		seal_secret_free(t.access_token);
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
