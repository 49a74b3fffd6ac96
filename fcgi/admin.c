/*
 * The admin UI's session and CSRF steps, its calls on the daemon and their failures, and the
 * login and logout routes.
 *
 * The front end is untrusted by design: it passes the browser's session cookie and the form's
 * CSRF token to the daemon, which decides every question of identity and role.  This side adds
 * what only the web edge can: strict form parsing, an Origin check, a CSRF comparison of its
 * own before anything is sent on, and output escaping.  Nothing here stores a secret:
 * passwords and connection secrets are relayed once and wiped.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "fcgi.h"
#include "log.h"

static void	admin_home(struct request *);
static void	admin_login_get(struct request *);
static void	admin_login_post(struct request *);
static void	admin_logout(struct request *);

const struct route admin_routes[] = {
	{ "GET", "/", ROUTE_ADMIN, 0, admin_home },
	{ "GET", "/admin", ROUTE_ADMIN, 0, admin_home },
	{ "GET", "/admin/login", ROUTE_ADMIN, 0, admin_login_get },
	{ "POST", "/admin/login", ROUTE_ADMIN | ROUTE_FORM, 0, admin_login_post },
	{ "POST", "/admin/logout", ROUTE_ADMIN | ROUTE_SESSION | ROUTE_FORM | ROUTE_CSRF, 0,
	    admin_logout },
	{ NULL, NULL, 0, 0, NULL }
};

/* The front page and /admin: people arriving with a browser want the admin UI. */
static void
admin_home(struct request *r)
{
	request_redirect(r, 303, "/admin/");
}

/* The session cookie's name: __Host- over HTTPS. */
static const char *
admin_cookie_name(const struct request *r)
{
	return r->https ? "__Host-fg_session" : "fg_session";
}

/* Set the session cookie (SameSite=Strict), or clear it with sid NULL. */
static void
admin_session_cookie(struct request *r, const char *sid)
{
	request_set_cookie(r, admin_cookie_name(r), sid, "/", 0, "Strict");
}

/* Whether a checkbox was ticked. */
int
admin_checked(const struct form *f, const char *key)
{
	const char *v = form_get(f, key);

	return v != NULL && (strcmp(v, "on") == 0 || strcmp(v, "1") == 0 ||
	    strcmp(v, "yes") == 0 || strcmp(v, "true") == 0);
}

/* Overwrite a secret-bearing string inside a JSON value before it is freed. */
void
admin_wipe_field(json_t *o, const char *key)
{
	json_t	*v = json_object_get(o, key);

	if (json_is_string(v))
		sodium_memzero((char *)(uintptr_t)json_string_value(v), json_string_length(v));
}

/* One verb; req is consumed.  NULL when the daemon cannot be reached. */
json_t *
admin_call(struct request *r, int flags, json_t *req)
{
	json_t		*reply = NULL;
	const char	*csrf;

	if (req == NULL)
		return NULL;
	if ((flags & ADMIN_CALL_SESSION) && r->sid[0] != '\0')
		json_object_set_new(req, "session", json_string(r->sid));
	if ((flags & ADMIN_CALL_CSRF) && (csrf = form_get(&r->form, "csrf")) != NULL)
		json_object_set_new(req, "csrf", json_string(csrf));
	if (link_call(req, &reply, (flags & ADMIN_CALL_SLOW) ? LINK_SLOW_TIMEOUT_MS :
	    LINK_ADMIN_TIMEOUT_MS) == -1)
		reply = NULL;
	admin_wipe_field(req, "password");
	admin_wipe_field(req, "old_password");
	admin_wipe_field(req, "new_password");
	admin_wipe_field(req, "secret");
	json_decref(req);
	return reply;
}

/* The daemon's error code; server_error when it gave none. */
const char *
admin_errcode(json_t *reply)
{
	const char *e = link_str(reply, "error");

	return e != NULL ? e : "server_error";
}

/* The daemon's message, or a fallback. */
const char *
admin_errmsg(json_t *reply, const char *fallback)
{
	const char *m = link_str(reply, "message");

	return m != NULL && *m != '\0' ? m : fallback;
}

/* HTTP status for a daemon error code shown next to a form. */
int
admin_form_status(const char *code)
{
	if (strcmp(code, "conflict") == 0)
		return 409;
	if (strcmp(code, "policy") == 0 || strcmp(code, "verification_failed") == 0)
		return 422;
	if (strcmp(code, "forbidden") == 0 || strcmp(code, "csrf") == 0)
		return 403;
	if (strcmp(code, "not_found") == 0)
		return 404;
	if (strcmp(code, "rate_limited") == 0)
		return 429;
	return 400;
}

/*
 * Answer a failed call with the page that fits: the login page for an ended session, 403 for
 * a refused role or CSRF token, 404, 503 when the daemon is away.  reply is consumed.
 */
void
admin_fail(struct request *r, json_t *reply)
{
	const char	*code = admin_errcode(reply);
	char		 msg[256];

	if (reply == NULL) {
		admin_error(r, 503, "Service unavailable",
		    "The flowgate daemon does not answer. Try again in a moment.");
		return;
	}
	if (strcmp(code, "unauthenticated") == 0) {
		admin_session_cookie(r, NULL);
		request_redirect(r, 303, "/admin/login?done=expired");
	} else if (strcmp(code, "forbidden") == 0) {
		snprintf(msg, sizeof(msg), "Your role (%s) may not do this.",
		    r->role != NULL ? r->role : "none");
		admin_page(r, 403, "error", NULL, "Not allowed", json_pack("{ss ss si ss}",
		    "heading", "Not allowed", "message", msg, "status", 403, "detail",
		    admin_errmsg(reply, "")));
	} else if (strcmp(code, "csrf") == 0)
		admin_error(r, 403, "Form expired",
		    "The form's security token is missing or wrong. Go back, reload the page and "
		    "try again.");
	else if (strcmp(code, "not_found") == 0)
		admin_error(r, 404, "Not found", admin_errmsg(reply, "No such item."));
	else if (strcmp(code, "unknown_verb") == 0)
		admin_error(r, 501, "Not available",
		    "The flowgate daemon does not support this yet (unknown verb).");
	else if (strcmp(code, "rate_limited") == 0)
		admin_error(r, 429, "Too many requests", admin_errmsg(reply, "Try again later."));
	else
		admin_error(r, admin_form_status(code) == 400 && strcmp(code, "bad_request") != 0 ?
		    500 : admin_form_status(code), "Something went wrong",
		    admin_errmsg(reply, code));
	json_decref(reply);
}

/* Which form field a policy rule is about, so its reason is shown next to that field. */
static const char *
admin_rule_field(const char *rule)
{
	static const struct {
		const char *rule, *field;
	} map[] = {
		{ "user_facing_never_client_credentials", "kind" },
		{ "client_credentials_backend_only", "kind" },
		{ "user_flow_needs_user_facing", "kind" },
		{ "ropc_requires_internal_no_redirect", "internal" },
		{ "redirect_required", "can_redirect" },
		{ "ropc_requires_justification", "justification" },
		{ "browser_tokens_limited", "scopes" },
		{ "scopes_required", "scopes" },
		{ "unknown_flow", "flow" },
		{ "redirect_uri_required", "redirect_uri" },
	};
	size_t	i;

	for (i = 0; rule != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(map[i].rule, rule) == 0)
			return map[i].field;
	}
	return NULL;
}

/* Re-show a form after the daemon refused it, the reason at the top and next to its field. */
void
admin_form_error(json_t *data, json_t *reply, const char *fallback_field)
{
	const char	*code = admin_errcode(reply), *rule = link_str(reply, "rule");
	const char	*field = admin_rule_field(rule), *text = NULL;
	char		 k[64];

	if (rule != NULL)
		text = link_str(json_object_get(admin_wizard_policy(NULL), "rules"), rule);
	if (text == NULL)
		text = admin_errmsg(reply, "The request was refused.");
	json_object_set_new(data, "error", json_string(text));
	json_object_set_new(data, "error_code", json_string(code));
	if (rule != NULL)
		json_object_set_new(data, "error_rule", json_string(rule));
	if (field == NULL && strcmp(code, "conflict") == 0)
		field = "name";
	if (field == NULL && strstr(text, "redirect_uri") != NULL)
		field = "redirect_uri";
	if (field == NULL)
		field = fallback_field;
	if (field != NULL) {
		snprintf(k, sizeof(k), "err_%s", field);
		json_object_set_new(data, k, json_string(text));
	}
}

/* The login form, with what went wrong. */
static void
admin_login_page(struct request *r, int status, const char *error, long retry_after)
{
	json_t		*data = json_object();
	const char	*user = form_get(&r->form, "user");

	json_object_set_new(data, "flash_in_page", json_true());
	if (error != NULL)
		json_object_set_new(data, "error", json_string(error));
	if (user != NULL)
		json_object_set_new(data, "user", json_string(user));
	if (retry_after > 0)
		request_header(r, "Retry-After: %ld", retry_after);
	admin_page(r, status, "login", NULL, "Log in", data);
}

/* GET /admin/login: the form, or the dashboard for whoever is logged in already. */
static void
admin_login_get(struct request *r)
{
	json_t	*reply;

	if (r->sid[0] != '\0') {
		reply = admin_call(r, ADMIN_CALL_SESSION, json_pack("{ss}", "verb", "session"));
		if (link_ok(reply)) {
			json_decref(reply);
			request_redirect(r, 303, "/admin/");
			return;
		}
		json_decref(reply);
	}
	admin_login_page(r, 200, NULL, 0);
}

/* POST /admin/login: the daemon checks the password and makes the session. */
static void
admin_login_post(struct request *r)
{
	const char	*user = form_get(&r->form, "user");
	const char	*password = form_get(&r->form, "password");
	const char	*code, *sid;
	json_t		*reply, *ra;
	char		 msg[96];
	long		 wait;

	if (user == NULL || password == NULL) {
		admin_login_page(r, 400, "Enter your user name and password.", 0);
		return;
	}
	reply = admin_call(r, 0, json_pack("{ss ss ss ss}", "verb", "login", "user", user,
	    "password", password, "remote", r->remote));
	if (reply == NULL) {
		admin_login_page(r, 503, "The flowgate daemon does not answer. Try again in a "
		    "moment.", 0);
		return;
	}
	if (link_ok(reply) && (sid = link_str(reply, "session")) != NULL &&
	    strlen(sid) <= REQUEST_COOKIE_MAX && strcspn(sid, ";, \t\r\n\"\\") == strlen(sid)) {
		admin_session_cookie(r, sid);
		admin_wipe_field(reply, "session");
		json_decref(reply);
		request_redirect(r, 303, "/admin/");
		return;
	}
	code = admin_errcode(reply);
	if (strcmp(code, "rate_limited") == 0) {
		ra = json_object_get(reply, "retry_after");
		wait = json_is_integer(ra) && json_integer_value(ra) > 0 &&
		    json_integer_value(ra) < 86400 ? (long)json_integer_value(ra) : 60;
		snprintf(msg, sizeof(msg), "Too many attempts, try again in %ld s.", wait);
		admin_login_page(r, 429, msg, wait);
	} else if (strcmp(code, "login_failed") == 0 || strcmp(code, "bad_request") == 0)
		admin_login_page(r, 403, "Wrong user name or password.", 0);
	else if (strcmp(code, "unknown_verb") == 0)
		admin_login_page(r, 501, "This flowgate daemon does not support web logins yet.",
		    0);
	else
		admin_login_page(r, 500, "Login failed for a reason on our side; see the daemon "
		    "log.", 0);
	json_decref(reply);
}

/* POST /admin/logout: the daemon ends the session; the cookie is cleared anyway. */
static void
admin_logout(struct request *r)
{
	json_decref(admin_call(r, ADMIN_CALL_SESSION, json_pack("{ss}", "verb", "logout")));
	admin_session_cookie(r, NULL);
	request_redirect(r, 303, "/admin/login?done=logged_out");
}

/*
 * A browser's POST must come from our own pages.  Sec-Fetch-Site says so directly; Origin is
 * the fallback for browsers without it (with Referrer-Policy: no-referrer, browsers send
 * "Origin: null" on form posts, so "null" proves nothing either way).  Clients that send
 * neither (curl, scripts) still need a session and its CSRF token for anything that matters.
 */
static int
admin_origin_ok(struct request *r)
{
	const char	*origin = request_param(r, "HTTP_ORIGIN");
	const char	*site = request_param(r, "HTTP_SEC_FETCH_SITE");
	const char	*rest;

	if (site != NULL)
		return strcmp(site, "same-origin") == 0 || strcmp(site, "none") == 0;
	if (origin == NULL || strcmp(origin, "null") == 0)
		return 1;
	if (strncmp(origin, "https://", 8) == 0)
		rest = origin + 8;
	else if (strncmp(origin, "http://", 7) == 0)
		rest = origin + 7;
	else
		return 0;
	return strcasecmp(rest, r->host) == 0;
}

/* Read and parse a POST body; textarea line breaks become spaces.  -1 after answering. */
static int
admin_read_form(struct request *r)
{
	char	*b = r->body;
	size_t	 i, o;
	int	 e;

	if (!form_content_type_ok(request_param(r, "CONTENT_TYPE"))) {
		admin_error(r, 400, "Bad request", "Forms are sent as "
		    "application/x-www-form-urlencoded.");
		return -1;
	}
	switch (request_body(r, r->max_body)) {
	case HTTP_BODY_OK:
		break;
	case HTTP_BODY_ETOOLARGE:
		admin_error(r, 413, "Form too large", "The form is larger than this server "
		    "accepts.");
		return -1;
	default:
		admin_error(r, 400, "Bad request", "The form arrived incomplete.");
		return -1;
	}
	for (i = 0, o = 0; i < r->bodylen; ) {
		if (i + 6 <= r->bodylen && strncasecmp(b + i, "%0D%0A", 6) == 0) {
			b[o++] = '+';
			i += 6;
		} else if (i + 3 <= r->bodylen && (strncasecmp(b + i, "%0A", 3) == 0 ||
		    strncasecmp(b + i, "%0D", 3) == 0 || strncasecmp(b + i, "%09", 3) == 0)) {
			b[o++] = '+';
			i += 3;
		} else
			b[o++] = b[i++];
	}
	sodium_memzero(b + o, r->bodylen - o);
	r->bodylen = o;
	if ((e = form_parse(b, r->bodylen, &r->form)) != FORM_OK) {
		admin_error(r, 400, "Bad request", form_strerror(e));
		return -1;
	}
	return 0;
}

/* Compare the form's csrf field with the session's, in constant time. */
static int
admin_csrf_ok(struct request *r)
{
	const char	*got = form_get(&r->form, "csrf");
	size_t		 n;

	if (got == NULL || r->csrf == NULL || (n = strlen(r->csrf)) == 0 || strlen(got) != n)
		return 0;
	return sodium_memcmp(got, r->csrf, n) == 0;
}


/*
 * The session the cookie names, as the daemon confirms it: who, which role, the CSRF token.
 * -1 after answering (the login page for a GET, 403 for a POST).
 */
static int
admin_session(struct request *r, int post)
{
	json_t	*reply;

	if (r->sid[0] == '\0') {
		if (post)
			admin_error(r, 403, "Not logged in", "Log in first.");
		else
			request_redirect(r, 303, "/admin/login");
		return -1;
	}
	reply = admin_call(r, ADMIN_CALL_SESSION, json_pack("{ss}", "verb", "session"));
	/* a cookie that cannot be a session id: the same as an ended session */
	if (reply != NULL && !link_ok(reply) && strcmp(admin_errcode(reply), "bad_request") == 0)
		json_object_set_new(reply, "error", json_string("unauthenticated"));
	if (reply != NULL && !link_ok(reply) && post &&
	    strcmp(admin_errcode(reply), "unauthenticated") == 0) {
		json_decref(reply);
		admin_session_cookie(r, NULL);
		admin_error(r, 403, "Session ended", "Your session has ended. Log in again.");
		return -1;
	}
	if (!link_ok(reply)) {
		admin_fail(r, reply);
		return -1;
	}
	r->sess = reply;
	r->user = link_str(reply, "user");
	r->role = link_str(reply, "role");
	r->csrf = link_str(reply, "csrf");
	return 0;
}

/*
 * The admin routes' steps before their handler, as the row's flags ask: the query string, the
 * session cookie, a POSTed form from our own site, the session, the form's CSRF token.
 * -1 after answering.
 */
int
admin_begin(struct request *r)
{
	int	flags = r->route->flags, post = strcmp(r->method, "POST") == 0, e;

	if ((e = request_query(r)) != FORM_OK) {
		if (e == -1)
			admin_error(r, 414, "Address too long", "The query string is too long.");
		else
			admin_error(r, 400, "Bad request", form_strerror(e));
		return -1;
	}
	request_cookie(r, admin_cookie_name(r), r->sid, sizeof(r->sid));
	if ((flags & ROUTE_FORM) && post) {
		if (!admin_origin_ok(r)) {
			admin_error(r, 403, "Cross-site request refused",
			    "This form was not sent from this site.");
			return -1;
		}
		if (admin_read_form(r) == -1)
			return -1;
	}
	if ((flags & ROUTE_SESSION) && admin_session(r, post) == -1)
		return -1;
	if ((flags & ROUTE_CSRF) && post && !admin_csrf_ok(r)) {
		admin_error(r, 403, "Form expired", "The form's security token is missing or "
		    "wrong. Go back, reload the page and try again.");
		return -1;
	}
	return 0;
}
