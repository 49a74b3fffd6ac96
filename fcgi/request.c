/*
 * One request, from its FastCGI parameters to its answer: method, path, peer and host; query
 * string, cookies and body; the extra header lines of the answer, the security headers every
 * answer carries (written here once), and the JSON error of the API routes.  Nothing kept
 * from the FastCGI parameters outlives the request; request_done wipes what it held.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "fcgi.h"
#include "log.h"

/* The pages' policy: our own scripts and styles, nothing framed, no forms elsewhere. */
#define REQUEST_CSP_PAGES "Content-Security-Policy: default-src 'none'; script-src 'self'; " \
    "style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; " \
    "base-uri 'none'"
/* The upstream's content relayed on our origin must never run as a page. */
#define REQUEST_CSP_SANDBOX "Content-Security-Policy: default-src 'none'; " \
    "frame-ancestors 'none'; sandbox"

static char	*request_body_buf;
static size_t	 request_body_cap;

/* Allocate the body buffer once, before serving: the larger of -b and the routes' own caps. */
int
request_setup(size_t max_body)
{
	request_body_cap = max_body > REQUEST_BODY_MIN ? max_body : REQUEST_BODY_MIN;
	if ((request_body_buf = malloc(request_body_cap + 1)) == NULL)
		return -1;
	return 0;
}

/* The request's path: DOCUMENT_URI, or SCRIPT_NAME + PATH_INFO for servers without it. */
static const char *
request_path(struct request *r)
{
	const char	*uri, *script, *info;
	int		 n;

	if ((uri = request_param(r, "DOCUMENT_URI")) != NULL)
		return uri;
	script = request_param(r, "SCRIPT_NAME");
	info = request_param(r, "PATH_INFO");
	n = snprintf(r->pathbuf, sizeof(r->pathbuf), "%s%s", script != NULL ? script : "",
	    info != NULL ? info : "");
	return n < 0 || (size_t)n >= sizeof(r->pathbuf) ? "" : r->pathbuf;
}

/*
 * The host (and port) the browser used, for links we print and the Origin check.  nginx's
 * fastcgi_params pass HTTP_HOST as $host, without the port: add SERVER_PORT unless it is the
 * scheme's default.
 */
static void
request_host(struct request *r)
{
	static const char	 ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-:[]";
	const char		*host = request_param(r, "HTTP_HOST");
	const char		*port = request_param(r, "SERVER_PORT");
	const char		*colon;

	if (host == NULL || strlen(host) > 200 || strspn(host, ok) != strlen(host)) {
		snprintf(r->host, sizeof(r->host), "HOST");
		return;
	}
	colon = strrchr(host, ':');
	if ((colon == NULL || strchr(colon, ']') != NULL) && port != NULL &&
	    strlen(port) <= 5 && strspn(port, "0123456789") == strlen(port) &&
	    strcmp(port, r->https ? "443" : "80") != 0)
		snprintf(r->host, sizeof(r->host), "%s:%s", host, port);
	else
		snprintf(r->host, sizeof(r->host), "%s", host);
}

/* Start a request: what every route needs from the FastCGI parameters. */
void
request_init(struct request *r, FCGX_Request *fcgi, size_t max_body)
{
	const char	*https;

	memset(r, 0, sizeof(*r));
	r->fcgi = fcgi;
	r->max_body = max_body;
	r->body = request_body_buf;
	if ((r->method = request_param(r, "REQUEST_METHOD")) == NULL)
		r->method = "-";
	if ((r->remote = request_param(r, "REMOTE_ADDR")) == NULL)
		r->remote = "-";
	r->path = request_path(r);
	https = request_param(r, "HTTPS");
	r->https = https != NULL && strcasecmp(https, "on") == 0;
	request_host(r);
}

/* End a request: wipe the body, the credentials and the session it held. */
void
request_done(struct request *r)
{
	if (request_body_buf != NULL)
		sodium_memzero(request_body_buf, r->bodylen + 1);
	json_decref(r->sess);
	sodium_memzero(r, sizeof(*r));
}

/* A FastCGI parameter; NULL when absent or empty. */
const char *
request_param(struct request *r, const char *name)
{
	const char	*v = FCGX_GetParam(name, r->fcgi->envp);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* Add one header line (without CRLF); a line that does not fit marks the answer broken. */
void
request_header(struct request *r, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	if (r->hdrfull)
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->hdr + r->hdrlen, sizeof(r->hdr) - r->hdrlen, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n + 2 >= sizeof(r->hdr) - r->hdrlen) {
		r->hdrfull = 1;
		r->hdr[r->hdrlen] = '\0';
		return;
	}
	r->hdrlen += (size_t)n;
	memcpy(r->hdr + r->hdrlen, "\r\n", 3);
	r->hdrlen += 2;
}

/*
 * The security headers of the pages and the API routes (nosniff and no-store come from
 * http.c, for every answer); the machine routes (ROUTE_BARE) are fetched, never shown.
 */
void
request_security(struct request *r)
{
	int	flags = r->route != NULL ? r->route->flags : ROUTE_BARE;

	if (flags & ROUTE_BARE)
		return;
	if (flags & ROUTE_SANDBOX)
		request_header(r, "%s", REQUEST_CSP_SANDBOX);
	else
		request_header(r, "%s", REQUEST_CSP_PAGES);
	request_header(r, "Referrer-Policy: no-referrer");
	request_header(r, "X-Frame-Options: DENY");
}

/* The reply's head with the header lines collected; a broken set becomes a bare 500. */
static int
request_head_ok(struct request *r, struct http_reply *rp)
{
	static const char	fail[] = "{\"error\":\"server_error\"}";
	struct http_reply	err = { .status = 500, .content_type = "application/json" };
	char			where[384];

	if (!r->hdrfull) {
		rp->headers = r->hdr;
		return 1;
	}
	fg_log_warn("%s %s: response headers too long", fg_log_clean(where, 32, r->method),
	    fg_log_clean(where + 32, sizeof(where) - 32, r->path));
	http_send(r->fcgi, &err, fail, sizeof(fail) - 1);
	return 0;
}

/* Send a complete answer with the header lines collected so far. */
void
request_send(struct request *r, struct http_reply *rp, const char *body, size_t len)
{
	if (request_head_ok(r, rp))
		http_send(r->fcgi, rp, body, len);
}

/* Send only the head of a streamed answer (no Content-Length). */
void
request_send_head(struct request *r, struct http_reply *rp)
{
	if (request_head_ok(r, rp))
		http_send_head(r->fcgi, rp, -1);
}

/* Send body as JSON with the collected header lines. */
void
request_send_json(struct request *r, int status, json_t *body)
{
	struct http_reply	rp = { .status = status, .content_type = "application/json" };

	if (request_head_ok(r, &rp))
		http_send_json(r->fcgi, &rp, body);
}

/* Redirect (302 or 303) to a location we built or checked. */
void
request_redirect(struct request *r, int status, const char *location)
{
	struct http_reply	rp = { .status = status,
	    .content_type = "text/plain; charset=utf-8" };
	char			msg[32];
	int			n;

	request_header(r, "Location: %s", location);
	n = snprintf(msg, sizeof(msg), "%s\n", http_reason(status));
	request_send(r, &rp, msg, (size_t)n);
}

/*
 * A cookie's value when it is there and looks like one of ours (base64url, as the daemon
 * makes every session id and state, shorter than size); else "".
 */
void
request_cookie(struct request *r, const char *name, char *out, size_t size)
{
	static const char	 ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_";
	const char		*p, *v;
	size_t			 nl = strlen(name), n;

	out[0] = '\0';
	for (p = request_param(r, "HTTP_COOKIE"); p != NULL && *p != '\0'; ) {
		while (*p == ' ' || *p == ';')
			p++;
		if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
			v = p + nl + 1;
			n = strcspn(v, "; ");
			if (n > 0 && n < size && strspn(v, ok) >= n) {
				memcpy(out, v, n);
				out[n] = '\0';
			}
			return;
		}
		p += strcspn(p, ";");
	}
}

/* Set a cookie (HttpOnly, Secure over HTTPS); value NULL clears it, max_age 0: a session's. */
void
request_set_cookie(struct request *r, const char *name, const char *value, const char *path,
    int max_age, const char *samesite)
{
	char	age[32] = "";

	if (value == NULL)
		snprintf(age, sizeof(age), "; Max-Age=0");
	else if (max_age > 0)
		snprintf(age, sizeof(age), "; Max-Age=%d", max_age);
	request_header(r, "Set-Cookie: %s=%s; Path=%s%s; HttpOnly; SameSite=%s%s", name,
	    value != NULL ? value : "", path, age, samesite, r->https ? "; Secure" : "");
}

/*
 * Read the body announced by CONTENT_LENGTH, at most cap bytes, into r->body (NUL-terminated);
 * an enum http_body.  A missing length is HTTP_BODY_ELENGTH with an empty body.
 */
int
request_body(struct request *r, size_t cap)
{
	int	e;

	r->bodylen = 0;
	r->body[0] = '\0';
	if (cap > request_body_cap)
		cap = request_body_cap;
	e = http_body_read(r->fcgi, r->body, cap, &r->bodylen);
	r->body[r->bodylen] = '\0';
	return e;
}

/* Parse the query string into r->query: 0, -1 when it is too long, or a FORM_E* code. */
int
request_query(struct request *r)
{
	const char	*qs = request_param(r, "QUERY_STRING");
	size_t		 n = qs != NULL ? strlen(qs) : 0;

	if (n > REQUEST_QUERY_MAX)
		return -1;
	memcpy(r->querybuf, qs != NULL ? qs : "", n);
	r->querybuf[n] = '\0';
	return form_parse(r->querybuf, n, &r->query);
}

/* Whether a Content-Type is application/json (parameters allowed). */
int
request_is_json(const char *ct)
{
	static const char	want[] = "application/json";

	if (ct == NULL || strncasecmp(ct, want, sizeof(want) - 1) != 0)
		return 0;
	ct += sizeof(want) - 1;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/*
 * Text for an error_description or a problem's detail: RFC 6749 section 5.2 allows
 * %x20-21 / %x23-5B / %x5D-7E, so a quote becomes ' and anything else outside it '?'.
 */
void
request_clean(char *dst, size_t dstlen, const char *src)
{
	size_t	i;

	if (dstlen == 0)
		return;
	for (i = 0; src != NULL && src[i] != '\0' && i + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = c == '"' ? '\'' : (c < 0x20 || c > 0x7e || c == '\\') ? '?' : (char)c;
	}
	dst[i] = '\0';
}

/* Log a refused request: route, reason and peer, never credentials; the caller's text escaped. */
void
request_log_refusal(struct request *r, const char *error, const char *reason)
{
	char	method[32], path[256], remote[80], id[160];

	fg_log_info("refused %s %s from %s%s%s: %s%s%s%s",
	    fg_log_clean(method, sizeof(method), r->method),
	    fg_log_clean(path, sizeof(path), r->path),
	    fg_log_clean(remote, sizeof(remote), r->remote),
	    r->client_id != NULL ? " client_id=" : "",
	    r->client_id != NULL ? fg_log_clean(id, sizeof(id), r->client_id) : "", error,
	    reason != NULL ? " (" : "", reason != NULL ? reason : "", reason != NULL ? ")" : "");
}

/*
 * A JSON error {error, error_description}.  A 401 says how to authenticate: a Basic challenge
 * only where Basic credentials failed (a browser answers one with a password prompt, which a
 * page whose user session ended must not get); a 503 says when to retry.
 */
void
request_error(struct request *r, int status, const char *error, const char *description,
    long retry_after)
{
	json_t	*body;
	char	 desc[256];

	if (status == 401)
		request_header(r, "WWW-Authenticate: %s realm=\"flowgate\"",
		    strcmp(error, "invalid_client") == 0 ? "Basic" : "Session");
	if (status == 503)
		request_header(r, "Retry-After: %ld", retry_after > 0 &&
		    retry_after <= REQUEST_RETRY_AFTER_MAX ? retry_after : REQUEST_RETRY_AFTER);
	body = json_pack("{s:s}", "error", error);
	if (body != NULL && description != NULL) {
		request_clean(desc, sizeof(desc), description);
		json_object_set_new(body, "error_description", json_string(desc));
	}
	request_send_json(r, status, body);
	json_decref(body);
}
