/*
 * What the end users' routes share (enduser-*.c): their small HTML pages and JSON errors, the
 * caller (an app credential or an end user's session cookie, as the route's flags allow), the
 * CSRF header rule of the session cookie, and calls on the daemon with the peer's address.
 *
 * Like the admin UI this edge is untrusted: it passes cookies, app credentials and bodies to
 * the daemon, which decides.  Every buffer is capped, and credentials, cookies and bodies are
 * never logged.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "fcgi.h"
#include "log.h"

#define ENDUSER_CLIENT_ID_MAX	128	/* app credentials: the daemon's limits (daemon/verbs.c) */
#define ENDUSER_SECRET_MAX	256

/* A JSON error, logged without credentials. */
void
enduser_error(struct request *r, int status, const char *error, const char *description,
    long retry_after)
{
	request_log_refusal(r, error, NULL);
	request_error(r, status, error, description, retry_after);
}

/* A small HTML page: a heading and one escaped message. */
void
enduser_page(struct request *r, int status, const char *title, const char *message,
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
		enduser_error(r, 500, "server_error", NULL, 0);
	else
		request_send(r, &rp, b.p, b.len);
	buf_free(&b);
}

/* 302 to a URL the daemon gave; refused when it could split the header. */
void
enduser_redirect(struct request *r, const char *url)
{
	size_t	i;

	for (i = 0; url[i] != '\0'; i++) {
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			break;
	}
	if (url[0] == '\0' || url[i] != '\0' || i > 2048) {
		fg_log_warn("the daemon gave an unusable redirect");
		enduser_page(r, 500, "Something went wrong", "The sign-in could not continue.",
		    NULL);
		return;
	}
	request_redirect(r, 302, url);
}

/* An upstream's failure as RFC 9457 problem JSON. */
void
enduser_problem(struct request *r, int status, const char *title, const char *detail)
{
	struct http_reply	 rp = { .status = status,
	    .content_type = "application/problem+json" };
	json_t			*body;
	char			 d[320];
	static char		 out[1024];
	char			 where[256];
	size_t			 n;

	fg_log_info("upstream error on %s: HTTP %d", fg_log_clean(where, sizeof(where), r->path),
	    status);
	request_clean(d, sizeof(d), detail != NULL ? detail : "");
	body = json_pack("{s:s,s:s,s:i,s:s}", "type", "about:blank", "title", title, "status",
	    status, "detail", d);
	n = body == NULL ? 0 : json_dumpb(body, out, sizeof(out), JSON_COMPACT);
	json_decref(body);
	if (n == 0 || n > sizeof(out)) {
		enduser_error(r, 500, "server_error", NULL, 0);
		return;
	}
	request_send(r, &rp, out, n);
}

/* Whether a value the daemon gave fits in our cookies: base64url, 1..ENDUSER_COOKIE_MAX. */
int
enduser_cookie_value_ok(const char *v)
{
	size_t	n = v != NULL ? strlen(v) : 0;

	return n > 0 && n <= ENDUSER_COOKIE_MAX && strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

/* The end users' cookies: SameSite=Lax, so the sign-in's redirect back carries them. */
void
enduser_set_cookie(struct request *r, const char *name, const char *value, const char *path,
    int max_age)
{
	request_set_cookie(r, name, value, path, max_age, "Lax");
}

/* A daemon call with the peer's address; NULL when the daemon cannot be reached. */
json_t *
enduser_call(struct request *r, json_t *req, int timeout_ms)
{
	json_t	*reply = NULL;

	if (req == NULL)
		return NULL;
	if (strcmp(r->remote, "-") != 0)
		json_object_set_new(req, "remote", json_string(r->remote));
	if (link_call(req, &reply, timeout_ms) == -1)
		reply = NULL;
	return reply;
}

/*
 * The HTTP answer to a daemon error of the API routes.  Its schema refusal (bad_request: a field
 * of the wrong type or size) is the caller's malformed request: 400 invalid_request.
 */
void
enduser_api_error(struct request *r, json_t *reply)
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
		enduser_error(r, 503, "temporarily_unavailable", "the broker is unavailable", 0);
		return;
	}
	error = link_str(reply, "error");
	message = link_str(reply, "message");
	if (error != NULL && strcmp(error, "bad_request") == 0)
		error = "invalid_request";
	st = json_object_get(reply, "status");
	if (json_is_integer(st))
		status = (long)json_integer_value(st);
	if (error != NULL && strcmp(error, "upstream_error") == 0) {
		enduser_problem(r, status >= 400 && status <= 599 ? (int)status : 502,
		    "Upstream error", message);
		return;
	}
	if (error != NULL && strcmp(error, "upstream_timeout") == 0) {
		enduser_problem(r, 504, "Upstream timeout", message);
		return;
	}
	ra = json_object_get(reply, "retry_after");
	for (i = 0; error != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(map[i].error, error) == 0) {
			if (map[i].status == 429 && json_is_integer(ra))
				request_header(r, "Retry-After: %ld",
				    (long)json_integer_value(ra) > 0 &&
				    json_integer_value(ra) <= 3600 ?
				    (long)json_integer_value(ra) : REQUEST_RETRY_AFTER);
			enduser_error(r, map[i].status, map[i].error, message,
			    json_is_integer(ra) ? (long)json_integer_value(ra) : 0);
			return;
		}
	}
	fg_log_warn("unknown daemon error %s", fg_log_clean(code, sizeof(code), error));
	enduser_error(r, 500, "server_error", NULL, 0);
}

/*
 * Read the body into r->body, at most cap bytes; a missing CONTENT_LENGTH is an empty body.
 * -1 after answering.
 */
int
enduser_body(struct request *r, size_t cap)
{
	int	e;

	r->bodylen = 0;
	r->body[0] = '\0';
	if (request_param(r, "CONTENT_LENGTH") == NULL)
		return 0;
	if ((e = request_body(r, cap)) == HTTP_BODY_OK)
		return 0;
	if (e == HTTP_BODY_ETOOLARGE)
		enduser_error(r, 413, "invalid_request", "request body too large", 0);
	else
		enduser_error(r, 400, "invalid_request", "missing or incomplete body", 0);
	return -1;
}

/*
 * The caller, as the route's flags allow: an app credential (HTTP Basic, ROUTE_APP) or the
 * fg_user cookie (ROUTE_ENDUSER).  Sets client_id + client_secret or session on req;
 * *is_session says which.  -1 after answering.
 */
int
enduser_caller(struct request *r, json_t *req, int *is_session)
{
	const char	*auth = request_param(r, "HTTP_AUTHORIZATION"), *id, *secret;
	char		 cookie[ENDUSER_COOKIE_MAX + 1] = "";
	int		 e, flags = r->route->flags;

	*is_session = 0;
	if (auth != NULL && (flags & ROUTE_APP)) {
		if ((e = form_basic(auth, r->basic, sizeof(r->basic), &id, &secret)) !=
		    FORM_OK) {
			enduser_error(r, 401, "invalid_client", form_strerror(e), 0);
			return -1;
		}
		/* longer than any credential flowgate issues: as wrong as a wrong one */
		if (strlen(id) > ENDUSER_CLIENT_ID_MAX || strlen(secret) > ENDUSER_SECRET_MAX) {
			enduser_error(r, 401, "invalid_client", strlen(id) > ENDUSER_CLIENT_ID_MAX ?
			    "client authentication failed: client_id longer than 128 bytes" :
			    "client authentication failed: client_secret longer than 256 bytes", 0);
			return -1;
		}
		json_object_set_new(req, "client_id", json_string(id));
		json_object_set_new(req, "client_secret", json_string(secret));
		sodium_memzero(r->basic, sizeof(r->basic));
		return 0;
	}
	if (flags & ROUTE_ENDUSER)
		request_cookie(r, "fg_user", cookie, sizeof(cookie));
	if (cookie[0] == '\0') {
		enduser_error(r, 401, "unauthenticated", (flags & ROUTE_APP) ?
		    "an app credential (HTTP Basic) or a user session is required" :
		    "no user session", 0);
		return -1;
	}
	json_object_set_new(req, "session", json_string(cookie));
	*is_session = 1;
	return 0;
}

/*
 * CSRF defence for the Lax session cookie: a header no cross-site form can send.  -1 after
 * refusing the request.
 */
int
enduser_csrf_check(struct request *r)
{
	if (request_param(r, "HTTP_X_REQUESTED_WITH") != NULL ||
	    request_is_json(request_param(r, "CONTENT_TYPE")))
		return 0;
	enduser_error(r, 403, "forbidden", "send Content-Type: application/json or an "
	    "X-Requested-With header", 0);
	return -1;
}

/* Ask the daemon req (consumed) and answer status with the keys of its reply, or its error. */
void
enduser_relay(struct request *r, json_t *req, const char *const *keys, int status)
{
	json_t	*reply, *out;

	reply = enduser_call(r, req, ENDUSER_CALL_TIMEOUT_MS);
	json_decref(req);
	if (!link_ok(reply))
		enduser_api_error(r, reply);
	else {
		out = enduser_pick(reply, keys);
		request_send_json(r, status, out);
		json_decref(out);
	}
	json_decref(reply);
}

/* Copy the listed fields of a successful reply into a fresh object. */
json_t *
enduser_pick(json_t *reply, const char *const *keys)
{
	json_t	*out = json_object(), *v;
	size_t	 i;

	for (i = 0; out != NULL && keys[i] != NULL; i++) {
		if ((v = json_object_get(reply, keys[i])) != NULL)
			json_object_set(out, keys[i], v);
	}
	return out;
}

