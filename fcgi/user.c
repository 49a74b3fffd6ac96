/*
 * The user-present routes of issue 4: /login/{app}, /callback, /logout (Authorization Code with
 * PKCE, the daemon holds every token), /api/v1/session/token, /api/v1/stream-sessions,
 * /api/v1/transcribe-sessions and the backend proxy /api/v1/proxy/{connection}/...
 *
 * Like the admin UI this edge is untrusted: it passes cookies, app credentials and bodies to the
 * daemon, which decides.  Nothing kept from the FastCGI parameters outlives the request, every
 * buffer is capped, and credentials, cookies and bodies are never logged.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "fcgi.h"
#include "fg-protocol.h"
#include "log.h"

#define USER_LOGIN_TIMEOUT_MS	15000
#define USER_CALL_TIMEOUT_MS	20000
#define USER_NAME_MAX		64	/* app and connection names */
#define USER_COOKIE_MAX		64	/* fg_login / fg_user values: the daemon takes 64 at most */
#define USER_CLIENT_ID_MAX	128	/* app credentials: the daemon's limits (daemon/verbs.c) */
#define USER_SECRET_MAX		256
#define USER_QUERY_MAX		4096	/* /callback's query string */
#define USER_STREAM_BODY_MAX	(16 * 1024)
#define USER_PROXY_BODY_MAX	(24 * 1024)
#define USER_TOKEN_BODY_MAX	4096
#define USER_HEADERS_MAX	4096
#define USER_RETRY_AFTER	5

/* Security headers of every answer here (the admin pages' set; nosniff and no-store come from http.c). */
#define USER_PAGE_HEADERS \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; " \
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n" \
    "Referrer-Policy: no-referrer\r\n" \
    "X-Frame-Options: DENY\r\n"

struct ureq {
	FCGX_Request	*fcgi;
	const char	*method;
	const char	*path;
	const char	*remote;
	int		 https;
	char		 hdr[USER_HEADERS_MAX];	/* extra header lines */
	size_t		 hdrlen;
	int		 hdrfull;
};

static char	user_body[USER_PROXY_BODY_MAX + 1];
static char	user_basic[FORM_BASIC_MAX];
static char	user_query[USER_QUERY_MAX + 1];
static char	user_out[FG_FRAME_MAX];		/* a decoded proxy answer */

/* The request's method, path and peer for a log line, the caller's text escaped. */
static const char *
user_logged(struct ureq *r)
{
	static char	out[384];
	char		method[32], path[256], remote[80];

	snprintf(out, sizeof(out), "%s %s from %s",
	    fg_log_clean(method, sizeof(method), r->method),
	    fg_log_clean(path, sizeof(path), r->path),
	    fg_log_clean(remote, sizeof(remote), r->remote));
	return out;
}

/* Add one header line (without CRLF); a line that does not fit marks the set broken. */
static void
user_header(struct ureq *r, const char *fmt, ...)
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

/* Send a complete answer with the extra headers collected so far. */
static void
user_send(struct ureq *r, struct http_reply *rp, const char *body, size_t len)
{
	static const char	fail[] = "{\"error\":\"server_error\"}";
	struct http_reply	err = { .status = 500, .content_type = "application/json",
	    .headers = USER_PAGE_HEADERS };

	if (r->hdrfull) {
		fg_log_warn("%s: response headers too long", user_logged(r));
		http_send(r->fcgi, &err, fail, sizeof(fail) - 1);
		return;
	}
	rp->headers = r->hdr;
	http_send(r->fcgi, rp, body, len);
}

static void
user_send_json(struct ureq *r, int status, json_t *body)
{
	struct http_reply	rp = { .status = status, .content_type = "application/json" };

	if (r->hdrfull)
		user_send(r, &rp, NULL, 0);
	else {
		rp.headers = r->hdr;
		http_send_json(r->fcgi, &rp, body);
	}
}

/* Text safe for an error_description or a log line: printable ASCII, no quotes or backslashes. */
static void
user_clean(char *dst, size_t dstlen, const char *src)
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

/* A JSON error {error, error_description}; 401 says how to authenticate, 503 when to retry. */
static void
user_error(struct ureq *r, int status, const char *error, const char *description,
    long retry_after)
{
	json_t	*body;
	char	 desc[256];

	/*
	 * A Basic challenge only where Basic credentials failed: a browser answers one with a
	 * password prompt, which a page whose user session ended must not get.
	 */
	if (status == 401)
		user_header(r, "WWW-Authenticate: %s realm=\"flowgate\"",
		    strcmp(error, "invalid_client") == 0 ? "Basic" : "Session");
	if (status == 503)
		user_header(r, "Retry-After: %ld", retry_after > 0 && retry_after <= 3600 ?
		    retry_after : USER_RETRY_AFTER);
	fg_log_info("refused %s: %s", user_logged(r), error);
	body = json_pack("{s:s}", "error", error);
	if (body != NULL && description != NULL) {
		user_clean(desc, sizeof(desc), description);
		json_object_set_new(body, "error_description", json_string(desc));
	}
	user_send_json(r, status, body);
	json_decref(body);
}

/* An upstream's failure as RFC 9457 problem JSON. */
static void
user_problem(struct ureq *r, int status, const char *title, const char *detail)
{
	struct http_reply	 rp = { .status = status,
	    .content_type = "application/problem+json" };
	json_t			*body;
	char			 d[320];
	static char		 out[1024];
	size_t			 n;

	fg_log_info("upstream error on %s: HTTP %d", user_logged(r), status);
	user_clean(d, sizeof(d), detail != NULL ? detail : "");
	body = json_pack("{s:s,s:s,s:i,s:s}", "type", "about:blank", "title", title, "status",
	    status, "detail", d);
	n = body == NULL ? 0 : json_dumpb(body, out, sizeof(out), JSON_COMPACT);
	json_decref(body);
	if (n == 0 || n > sizeof(out)) {
		user_error(r, 500, "server_error", NULL, 0);
		return;
	}
	user_send(r, &rp, out, n);
}

/* A small HTML page: a heading and one escaped message. */
static void
user_page(struct ureq *r, int status, const char *title, const char *message,
    const char *extra_html)
{
	struct http_reply	rp = { .status = status,
	    .content_type = "text/html; charset=utf-8" };
	struct buf		b = { 0 };

	buf_adds(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	    "<link rel=\"stylesheet\" href=\"/admin/static/app.css\">\n<title>");
	buf_adds_html(&b, title);
	buf_adds(&b, " - flowgate</title>\n</head>\n<body>\n<main>\n<h1>");
	buf_adds_html(&b, title);
	buf_adds(&b, "</h1>\n<p>");
	buf_adds_html(&b, message);
	buf_adds(&b, "</p>\n");
	if (extra_html != NULL)
		buf_adds(&b, extra_html);
	buf_adds(&b, "</main>\n</body>\n</html>\n");
	if (b.failed)
		user_error(r, 500, "server_error", NULL, 0);
	else
		user_send(r, &rp, b.p, b.len);
	buf_free(&b);
}

/* 302 to a URL the daemon gave; refused when it could split the header. */
static void
user_redirect(struct ureq *r, const char *url)
{
	struct http_reply	rp = { .status = 302, .content_type = "text/plain; charset=utf-8" };
	size_t			i;

	for (i = 0; url[i] != '\0'; i++) {
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			break;
	}
	if (url[0] == '\0' || url[i] != '\0' || i > 2048) {
		fg_log_warn("%s: the daemon gave an unusable redirect", user_logged(r));
		user_page(r, 500, "Something went wrong", "The sign-in could not continue.", NULL);
		return;
	}
	user_header(r, "Location: %s", url);
	user_send(r, &rp, NULL, 0);
}

/* A cookie's value when it is there and looks like one of ours; else "". */
static void
user_cookie(struct ureq *r, const char *name, char *out, size_t outlen)
{
	const char	*c = FCGX_GetParam("HTTP_COOKIE", r->fcgi->envp), *p, *v;
	size_t		 nl = strlen(name), n;

	out[0] = '\0';
	for (p = c; p != NULL && *p != '\0'; ) {
		while (*p == ' ' || *p == ';')
			p++;
		if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
			v = p + nl + 1;
			n = strcspn(v, "; ");
			if (n > 0 && n < outlen && n <= USER_COOKIE_MAX && strspn(v,
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") >= n) {
				memcpy(out, v, n);
				out[n] = '\0';
			}
			return;
		}
		p += strcspn(p, ";");
	}
}

static void
user_set_cookie(struct ureq *r, const char *name, const char *value, const char *path,
    int max_age)
{
	if (value == NULL)
		user_header(r, "Set-Cookie: %s=; Path=%s; Max-Age=0; HttpOnly; SameSite=Lax%s",
		    name, path, r->https ? "; Secure" : "");
	else if (max_age > 0)
		user_header(r, "Set-Cookie: %s=%s; Path=%s; Max-Age=%d; HttpOnly; SameSite=Lax%s",
		    name, value, path, max_age, r->https ? "; Secure" : "");
	else
		user_header(r, "Set-Cookie: %s=%s; Path=%s; HttpOnly; SameSite=Lax%s", name, value,
		    path, r->https ? "; Secure" : "");
}

/* App and connection names: a-z 0-9 - _, 1..64 characters. */
static int
user_name_ok(const char *s, size_t n)
{
	return n > 0 && n <= USER_NAME_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-_") >= n;
}

static const char *
user_param(struct ureq *r, const char *name)
{
	const char	*v = FCGX_GetParam(name, r->fcgi->envp);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* Whether a Content-Type is application/json (parameters allowed). */
static int
user_is_json(const char *ct)
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
 * A request with a daemon reply; NULL when the daemon cannot be reached.  The peer's address
 * goes along.
 */
static json_t *
user_call(struct ureq *r, json_t *req, int timeout_ms)
{
	json_t		*reply = NULL;

	if (req == NULL)
		return NULL;
	if (strcmp(r->remote, "-") != 0)
		json_object_set_new(req, "remote", json_string(r->remote));
	if (worker_daemon_call(req, &reply, timeout_ms) == -1)
		reply = NULL;
	return reply;
}

static int
user_ok(json_t *reply)
{
	return json_is_true(json_object_get(reply, "ok"));
}

static const char *
user_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* ----- /login/{app}, /callback, /logout ----- */

static void
user_login(struct ureq *r, const char *app)
{
	json_t		*req, *reply;
	const char	*err, *url, *state;

	if (!user_name_ok(app, strlen(app))) {
		user_page(r, 404, "Not found", "There is no sign-in for that application.", NULL);
		return;
	}
	req = json_pack("{s:s,s:s}", "verb", "login.begin", "app", app);
	reply = user_call(r, req, USER_LOGIN_TIMEOUT_MS);
	json_decref(req);
	url = user_str(reply, "authorize_url");
	state = user_str(reply, "state");
	if (reply == NULL)
		user_page(r, 503, "Sign-in unavailable",
		    "The sign-in service is unavailable; please try again shortly.", NULL);
	else if (!user_ok(reply)) {
		err = user_str(reply, "error");
		/* an app whose flow has no user login (policy.json: routes.login) is not found */
		if (err != NULL && (strcmp(err, "not_found") == 0 ||
		    strcmp(err, "unauthorized_client") == 0))
			user_page(r, 404, "Not found",
			    "There is no sign-in for that application.", NULL);
		else if (err != NULL && strcmp(err, "temporarily_unavailable") == 0)
			user_page(r, 503, "Sign-in unavailable",
			    "The sign-in service is unavailable; please try again shortly.", NULL);
		else
			user_page(r, 400, "Sign-in refused", "This application cannot sign in "
			    "users here.", NULL);
	} else if (url == NULL || state == NULL || strlen(state) > USER_COOKIE_MAX ||
	    strspn(state, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
	    strlen(state) || *state == '\0') {
		fg_log_warn("login.begin: malformed daemon reply");
		user_page(r, 500, "Something went wrong", "The sign-in could not start.", NULL);
	} else {
		user_set_cookie(r, "fg_login", state, "/callback", 600);
		user_redirect(r, url);
	}
	json_decref(reply);
}

static void
user_callback(struct ureq *r)
{
	const char	*qs = FCGX_GetParam("QUERY_STRING", r->fcgi->envp);
	const char	*code, *state, *err, *ret, *sid;
	char		 cookie[USER_COOKIE_MAX + 1], msg[200];
	struct form	 f;
	size_t		 n = qs != NULL ? strlen(qs) : 0;
	json_t		*req, *reply;

	if (n > USER_QUERY_MAX) {
		user_page(r, 400, "Sign-in failed", "The sign-in answer is too long.", NULL);
		return;
	}
	memcpy(user_query, qs != NULL ? qs : "", n);
	user_query[n] = '\0';
	if (form_parse(user_query, n, &f) != FORM_OK) {
		user_page(r, 400, "Sign-in failed", "The sign-in answer is malformed.", NULL);
		goto out;
	}
	if ((err = form_get(&f, "error")) != NULL) {
		snprintf(msg, sizeof(msg), "The identity provider refused the sign-in: %.100s",
		    err);
		user_set_cookie(r, "fg_login", NULL, "/callback", 0);
		user_page(r, 400, "Sign-in failed", msg, NULL);
		goto out;
	}
	code = form_get(&f, "code");
	state = form_get(&f, "state");
	user_cookie(r, "fg_login", cookie, sizeof(cookie));
	if (code == NULL || state == NULL) {
		user_page(r, 400, "Sign-in failed", "The sign-in answer lacks its code or state.",
		    NULL);
		goto out;
	}
	if (cookie[0] == '\0') {
		user_page(r, 400, "Sign-in failed", "This sign-in was started in another browser "
		    "or has expired. Please start again.", NULL);
		goto out;
	}
	req = json_pack("{s:s,s:s,s:s,s:s}", "verb", "login.callback", "code", code, "state",
	    state, "state_cookie", cookie);
	reply = user_call(r, req, USER_LOGIN_TIMEOUT_MS);
	json_decref(req);
	err = user_str(reply, "error");
	ret = user_str(reply, "return_url");
	sid = user_str(reply, "session");
	if (reply == NULL || (err != NULL && strcmp(err, "temporarily_unavailable") == 0))
		user_page(r, 503, "Sign-in unavailable",
		    "The sign-in service is unavailable; please try again shortly.", NULL);
	else if (!user_ok(reply)) {
		user_set_cookie(r, "fg_login", NULL, "/callback", 0);
		if (err != NULL && strcmp(err, "login_failed") == 0)
			user_page(r, 502, "Sign-in failed", "The identity provider did not confirm "
			    "the sign-in. Please start again.", NULL);
		else
			user_page(r, 400, "Sign-in failed", "This sign-in is not valid (expired, "
			    "used already, or started in another browser). Please start again.",
			    NULL);
	} else if (ret == NULL || sid == NULL || *sid == '\0' ||
	    strlen(sid) > USER_COOKIE_MAX || strspn(sid,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(sid)) {
		fg_log_warn("login.callback: malformed daemon reply");
		user_page(r, 500, "Something went wrong", "The sign-in could not finish.", NULL);
	} else {
		user_set_cookie(r, "fg_login", NULL, "/callback", 0);
		user_set_cookie(r, "fg_user", sid, "/", 0);
		user_redirect(r, ret);
	}
	json_decref(reply);
out:
	sodium_memzero(user_query, n + 1);
}

static void
user_logout(struct ureq *r)
{
	static const char	form[] = "<form method=\"post\" action=\"/logout\">"
	    "<button type=\"submit\" id=\"logout\">Sign out</button></form>\n";
	char			cookie[USER_COOKIE_MAX + 1], code[64];
	json_t			*req, *reply;

	if (strcmp(r->method, "GET") == 0) {
		user_page(r, 200, "Sign out", "Sign out of flowgate on this browser?", form);
		return;
	}
	user_cookie(r, "fg_user", cookie, sizeof(cookie));
	if (cookie[0] != '\0') {
		req = json_pack("{s:s,s:s}", "verb", "user.logout", "session", cookie);
		reply = user_call(r, req, USER_CALL_TIMEOUT_MS);
		json_decref(req);
		if (reply == NULL)
			fg_log_warn("logout: daemon unreachable; the cookie is cleared anyway");
		else if (!user_ok(reply))
			fg_log_info("logout %s: %s", user_logged(r), fg_log_clean(code,
			    sizeof(code), json_string_value(json_object_get(reply, "error"))));
		json_decref(reply);
	}
	user_set_cookie(r, "fg_user", NULL, "/", 0);
	user_redirect(r, "/");
}

/* ----- the JSON API ----- */

/*
 * The HTTP answer to a daemon error of the API routes.  Its schema refusal (bad_request: a field
 * of the wrong type or size) is the caller's malformed request: 400 invalid_request.
 */
static void
user_api_error(struct ureq *r, json_t *reply)
{
	static const struct {
		const char	*error;
		int		 status;
	} map[] = {
		{ "invalid_request", 400 }, { "invalid_scope", 400 },
		{ "invalid_client", 401 }, { "unauthenticated", 401 },
		{ "unauthorized_client", 403 }, { "forbidden", 403 }, { "not_found", 404 },
		{ "rate_limited", 429 }, { "temporarily_unavailable", 503 },
	};
	const char	*error, *message;
	char		 code[64];
	json_t		*st, *ra;
	long		 status = 0;
	size_t		 i;

	if (reply == NULL) {
		user_error(r, 503, "temporarily_unavailable", "the broker is unavailable", 0);
		return;
	}
	error = user_str(reply, "error");
	message = user_str(reply, "message");
	if (error != NULL && strcmp(error, "bad_request") == 0)
		error = "invalid_request";
	st = json_object_get(reply, "status");
	if (json_is_integer(st))
		status = (long)json_integer_value(st);
	if (error != NULL && strcmp(error, "upstream_error") == 0) {
		user_problem(r, status >= 400 && status <= 599 ? (int)status : 502,
		    "Upstream error", message);
		return;
	}
	if (error != NULL && strcmp(error, "upstream_timeout") == 0) {
		user_problem(r, 504, "Upstream timeout", message);
		return;
	}
	ra = json_object_get(reply, "retry_after");
	for (i = 0; error != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(map[i].error, error) == 0) {
			if (map[i].status == 429 && json_is_integer(ra))
				user_header(r, "Retry-After: %ld",
				    (long)json_integer_value(ra) > 0 &&
				    json_integer_value(ra) <= 3600 ?
				    (long)json_integer_value(ra) : USER_RETRY_AFTER);
			user_error(r, map[i].status, map[i].error, message,
			    json_is_integer(ra) ? (long)json_integer_value(ra) : 0);
			return;
		}
	}
	fg_log_warn("%s: unknown daemon error %s", user_logged(r),
	    fg_log_clean(code, sizeof(code), error));
	user_error(r, 500, "server_error", NULL, 0);
}

/*
 * Read the body into user_body (NUL-terminated), at most cap bytes; a missing CONTENT_LENGTH
 * is an empty body.  -1 after answering.
 */
static int
user_read_body(struct ureq *r, size_t cap, size_t *len)
{
	const char	*cl = FCGX_GetParam("CONTENT_LENGTH", r->fcgi->envp);

	*len = 0;
	user_body[0] = '\0';
	if (cl == NULL || *cl == '\0')
		return 0;
	switch (http_body_read(r->fcgi, user_body, cap, len)) {
	case HTTP_BODY_OK:
		user_body[*len] = '\0';
		return 0;
	case HTTP_BODY_ETOOLARGE:
		user_error(r, 413, "invalid_request", "request body too large", 0);
		return -1;
	default:
		user_error(r, 400, "invalid_request", "missing or incomplete body", 0);
		return -1;
	}
}

/*
 * The caller: HTTP Basic app credential, or the fg_user cookie.  Sets client_id +
 * client_secret or session on req; *is_session says which.  -1 after answering.
 */
static int
user_caller(struct ureq *r, json_t *req, int *is_session)
{
	const char	*auth = user_param(r, "HTTP_AUTHORIZATION"), *id, *secret;
	char		 cookie[USER_COOKIE_MAX + 1];
	int		 e;

	*is_session = 0;
	if (auth != NULL) {
		if ((e = form_basic(auth, user_basic, sizeof(user_basic), &id, &secret)) !=
		    FORM_OK) {
			user_error(r, 401, "invalid_client", form_strerror(e), 0);
			return -1;
		}
		/* longer than any credential flowgate issues: as wrong as a wrong one */
		if (strlen(id) > USER_CLIENT_ID_MAX || strlen(secret) > USER_SECRET_MAX) {
			user_error(r, 401, "invalid_client", strlen(id) > USER_CLIENT_ID_MAX ?
			    "client authentication failed: client_id longer than 128 bytes" :
			    "client authentication failed: client_secret longer than 256 bytes", 0);
			return -1;
		}
		json_object_set_new(req, "client_id", json_string(id));
		json_object_set_new(req, "client_secret", json_string(secret));
		sodium_memzero(user_basic, sizeof(user_basic));
		return 0;
	}
	user_cookie(r, "fg_user", cookie, sizeof(cookie));
	if (cookie[0] == '\0') {
		user_error(r, 401, "unauthenticated",
		    "an app credential (HTTP Basic) or a user session is required", 0);
		return -1;
	}
	json_object_set_new(req, "session", json_string(cookie));
	*is_session = 1;
	return 0;
}

/* CSRF defence for the Lax session cookie: a header no cross-site form can send. */
static int
user_csrf_ok(struct ureq *r)
{
	return user_param(r, "HTTP_X_REQUESTED_WITH") != NULL ||
	    user_is_json(user_param(r, "CONTENT_TYPE"));
}

/* Copy the listed fields of a successful reply into a fresh object. */
static json_t *
user_pick(json_t *reply, const char *const *keys)
{
	json_t	*out = json_object(), *v;
	size_t	 i;

	for (i = 0; out != NULL && keys[i] != NULL; i++) {
		if ((v = json_object_get(reply, keys[i])) != NULL)
			json_object_set(out, keys[i], v);
	}
	return out;
}

static const char *const token_keys[] = { "access_token", "token_type", "expires_in", "scope",
	NULL };
static const char *const stream_keys[] = { "interactionId", "websocketUrl", "access_token",
	"token_type", "expires_in", "scope", NULL };

/* POST /api/v1/session/token */
static void
user_session_token(struct ureq *r)
{
	const char	*ct = user_param(r, "CONTENT_TYPE");
	const char	*scope = NULL;
	char		 cookie[USER_COOKIE_MAX + 1];
	struct form	 f;
	size_t		 len;
	json_t		*body = NULL, *req, *reply, *out;

	if (!user_csrf_ok(r)) {
		user_error(r, 403, "forbidden", "send Content-Type: application/json or an "
		    "X-Requested-With header", 0);
		return;
	}
	if (user_read_body(r, USER_TOKEN_BODY_MAX, &len) == -1)
		return;
	if (len > 0 && user_is_json(ct)) {
		body = json_loadb(user_body, len, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(body) || (json_object_get(body, "scope") != NULL &&
		    !json_is_string(json_object_get(body, "scope")))) {
			json_decref(body);
			user_error(r, 400, "invalid_request", "the body must be a JSON object with "
			    "an optional string scope", 0);
			return;
		}
		scope = json_string_value(json_object_get(body, "scope"));
	} else if (len > 0 && form_content_type_ok(ct)) {
		if (form_parse(user_body, len, &f) != FORM_OK) {
			user_error(r, 400, "invalid_request", "malformed form body", 0);
			return;
		}
		scope = form_get(&f, "scope");
	} else if (len > 0) {
		user_error(r, 415, "invalid_request", "the body must be JSON or a form", 0);
		return;
	}
	if (scope != NULL && *scope == '\0')
		scope = NULL;
	user_cookie(r, "fg_user", cookie, sizeof(cookie));
	if (cookie[0] == '\0') {
		json_decref(body);
		user_error(r, 401, "unauthenticated", "no user session", 0);
		return;
	}
	req = json_pack("{s:s,s:s}", "verb", "user.token", "session", cookie);
	if (req != NULL && scope != NULL)
		json_object_set_new(req, "scope", json_string(scope));
	json_decref(body);
	reply = user_call(r, req, USER_CALL_TIMEOUT_MS);
	json_decref(req);
	if (!user_ok(reply))
		user_api_error(r, reply);
	else {
		out = user_pick(reply, token_keys);
		user_send_json(r, 200, out);
		json_decref(out);
	}
	json_decref(reply);
}

/* POST /api/v1/stream-sessions and /api/v1/transcribe-sessions */
static void
user_stream(struct ureq *r, int transcribe)
{
	const char	*ct = user_param(r, "CONTENT_TYPE");
	json_t		*req, *body, *reply, *out;
	json_error_t	 je;
	size_t		 len;
	int		 is_session;

	if (!transcribe && !user_is_json(ct)) {
		user_error(r, 415, "invalid_request", "Content-Type must be application/json", 0);
		return;
	}
	if (user_read_body(r, transcribe ? USER_TOKEN_BODY_MAX : USER_STREAM_BODY_MAX,
	    &len) == -1)
		return;
	req = json_pack("{s:s}", "verb", transcribe ? "transcribe.create" : "stream.create");
	if (req == NULL) {
		user_error(r, 500, "server_error", NULL, 0);
		return;
	}
	if (!transcribe) {
		body = json_loadb(user_body, len, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(body)) {
			json_decref(body);
			json_decref(req);
			user_error(r, 400, "invalid_request", "the body must be a JSON object", 0);
			return;
		}
		json_object_set_new(req, "body", body);
	}
	if (user_caller(r, req, &is_session) == -1) {
		json_decref(req);
		return;
	}
	if (is_session && transcribe && !user_csrf_ok(r)) {
		json_decref(req);
		user_error(r, 403, "forbidden", "send Content-Type: application/json or an "
		    "X-Requested-With header", 0);
		return;
	}
	reply = user_call(r, req, USER_CALL_TIMEOUT_MS);
	json_decref(req);
	if (!user_ok(reply))
		user_api_error(r, reply);
	else {
		out = user_pick(reply, stream_keys);
		user_send_json(r, 201, out);
		json_decref(out);
	}
	json_decref(reply);
}

/* /api/v1/proxy/{connection}/{rest}: rest is what follows the connection name. */
static void
user_proxy(struct ureq *r, const char *conn, size_t connlen, const char *rest)
{
	struct http_reply	 rp = { .content_type = "application/octet-stream",
	    .headers = NULL };
	const char		*ct = user_param(r, "CONTENT_TYPE");
	const char		*qs = user_param(r, "QUERY_STRING");
	const char		*rtype, *b64;
	char			 name[USER_NAME_MAX + 1], path[2048];
	json_t			*req, *reply, *st;
	size_t			 len, outlen;
	int			 is_session, n;
	char			*enc = NULL;

	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "POST") != 0 &&
	    strcmp(r->method, "PUT") != 0 && strcmp(r->method, "PATCH") != 0 &&
	    strcmp(r->method, "DELETE") != 0) {
		user_header(r, "Allow: GET, POST, PUT, PATCH, DELETE");
		user_error(r, 405, "invalid_request", "method not allowed", 0);
		return;
	}
	if (!user_name_ok(conn, connlen)) {
		user_error(r, 404, "not_found", "no such connection", 0);
		return;
	}
	memcpy(name, conn, connlen);
	name[connlen] = '\0';
	n = snprintf(path, sizeof(path), "/%s", rest);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		user_error(r, 414, "invalid_request", "path too long", 0);
		return;
	}
	if (user_read_body(r, USER_PROXY_BODY_MAX, &len) == -1)
		return;
	req = json_pack("{s:s,s:s,s:s,s:s}", "verb", "proxy", "connection", name, "method",
	    r->method, "path", path);
	if (req == NULL) {
		user_error(r, 500, "server_error", NULL, 0);
		return;
	}
	if (qs != NULL)
		json_object_set_new(req, "query", json_string(qs));
	if (ct != NULL)
		json_object_set_new(req, "content_type", json_string(ct));
	if (len > 0) {
		outlen = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
		if ((enc = malloc(outlen)) == NULL) {
			json_decref(req);
			user_error(r, 500, "server_error", NULL, 0);
			return;
		}
		sodium_bin2base64(enc, outlen, (const unsigned char *)user_body, len,
		    sodium_base64_VARIANT_ORIGINAL);
		json_object_set_new(req, "body_b64", json_string(enc));
		free(enc);
	}
	if (user_caller(r, req, &is_session) == -1) {
		json_decref(req);
		return;
	}
	if (is_session && user_param(r, "HTTP_X_REQUESTED_WITH") == NULL) {
		json_decref(req);
		user_error(r, 403, "forbidden", "a session call through the proxy needs an "
		    "X-Requested-With header", 0);
		return;
	}
	reply = user_call(r, req, USER_CALL_TIMEOUT_MS);
	json_decref(req);
	if (!user_ok(reply)) {
		user_api_error(r, reply);
		json_decref(reply);
		return;
	}
	st = json_object_get(reply, "status");
	rtype = user_str(reply, "content_type");
	b64 = user_str(reply, "body_b64");
	outlen = 0;
	if (!json_is_integer(st) || json_integer_value(st) < 200 ||
	    json_integer_value(st) > 599 || b64 == NULL ||
	    (*b64 != '\0' && sodium_base642bin((unsigned char *)user_out, sizeof(user_out), b64,
	    strlen(b64), NULL, &outlen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)) {
		fg_log_warn("proxy: malformed daemon reply");
		user_problem(r, 502, "Upstream error", "the answer could not be relayed");
		json_decref(reply);
		return;
	}
	if (rtype != NULL && *rtype != '\0' && strlen(rtype) < 256 &&
	    strcspn(rtype, "\r\n") == strlen(rtype))
		rp.content_type = rtype;
	rp.status = (int)json_integer_value(st);
	/* the upstream's content on our origin: never let it run as a page */
	user_header(r, "%s", "Content-Security-Policy: default-src 'none'; "
	    "frame-ancestors 'none'; sandbox");
	user_send(r, &rp, user_out, outlen);
	json_decref(reply);
}

/*
 * Answer the routes of this file; 0 when the path is not one of them.  Every answer carries the
 * pages' security headers, nosniff and no-store.
 */
int
user_handle(FCGX_Request *fcgi, const char *method, const char *path, const char *remote,
    size_t max_body)
{
	static struct ureq	 r;
	const char		*https, *p, *slash;

	(void)max_body;
	if (strncmp(path, "/login/", 7) != 0 && strcmp(path, "/callback") != 0 &&
	    strcmp(path, "/logout") != 0 && strncmp(path, "/api/v1/", 8) != 0)
		return 0;
	memset(&r, 0, sizeof(r));
	r.fcgi = fcgi;
	r.method = method;
	r.path = path;
	r.remote = remote;
	https = FCGX_GetParam("HTTPS", fcgi->envp);
	r.https = https != NULL && strcasecmp(https, "on") == 0;
	if (strncmp(path, "/api/v1/proxy/", 14) != 0)
		user_header(&r, "%s", "Content-Security-Policy: default-src 'none'; "
		    "script-src 'self'; style-src 'self'; img-src 'self' data:; "
		    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
	user_header(&r, "Referrer-Policy: no-referrer");
	user_header(&r, "X-Frame-Options: DENY");

	if (strncmp(path, "/login/", 7) == 0) {
		if (strcmp(method, "GET") != 0) {
			user_header(&r, "Allow: GET");
			user_page(&r, 405, "Method not allowed", "Use GET to sign in.", NULL);
		} else
			user_login(&r, path + 7);
	} else if (strcmp(path, "/callback") == 0) {
		if (strcmp(method, "GET") != 0) {
			user_header(&r, "Allow: GET");
			user_page(&r, 405, "Method not allowed", "Use GET.", NULL);
		} else
			user_callback(&r);
	} else if (strcmp(path, "/logout") == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
			user_header(&r, "Allow: GET, POST");
			user_page(&r, 405, "Method not allowed", "Use POST to sign out.", NULL);
		} else
			user_logout(&r);
	} else if (strncmp(path, "/api/v1/proxy/", 14) == 0) {
		p = path + 14;
		if ((slash = strchr(p, '/')) == NULL)
			user_error(&r, 404, "not_found", "use /api/v1/proxy/{connection}/{path}", 0);
		else
			user_proxy(&r, p, (size_t)(slash - p), slash + 1);
	} else if (strcmp(path, "/api/v1/session/token") == 0 ||
	    strcmp(path, "/api/v1/stream-sessions") == 0 ||
	    strcmp(path, "/api/v1/transcribe-sessions") == 0) {
		if (strcmp(method, "POST") != 0) {
			user_header(&r, "Allow: POST");
			user_error(&r, 405, "invalid_request", "method not allowed", 0);
		} else if (path[8] == 's' && path[9] == 'e')
			user_session_token(&r);
		else
			user_stream(&r, path[8] == 't');
	} else
		user_error(&r, 404, "not_found", NULL, 0);
	sodium_memzero(user_body, sizeof(user_body));
	sodium_memzero(user_basic, sizeof(user_basic));
	return 1;
}
