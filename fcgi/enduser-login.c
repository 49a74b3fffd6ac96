/*
 * The end users' sign-in (Authorization Code with PKCE; the daemon holds every token):
 * GET /login/{app}, GET /callback (cookie fg_login, the state), GET and POST /logout (cookie
 * fg_user, the session).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fcgi.h"
#include "log.h"

static void	enduser_login_begin(struct request *);
static void	enduser_login_callback(struct request *);
static void	enduser_login_logout(struct request *);

const struct route enduser_login_routes[] = {
	{ "GET", "/login/*", ROUTE_PAGE, 0, enduser_login_begin },
	{ "GET", "/callback", ROUTE_PAGE, 0, enduser_login_callback },
	{ "GET, POST", "/logout", ROUTE_PAGE | ROUTE_ENDUSER, 0, enduser_login_logout },
	{ NULL, NULL, 0, 0, NULL }
};

/* GET /login/{app}: start the app's Authorization Code flow at the upstream. */
static void
enduser_login_begin(struct request *r)
{
	const char	*app = r->name, *err, *url, *state;
	json_t		*req, *reply;

	req = json_pack("{s:s,s:s}", "verb", "login.begin", "app", app);
	reply = enduser_call(r, req, ENDUSER_LOGIN_TIMEOUT_MS);
	json_decref(req);
	url = link_str(reply, "authorize_url");
	state = link_str(reply, "state");
	if (reply == NULL)
		enduser_page(r, 503, "Sign-in unavailable",
		    "The sign-in service is unavailable; please try again shortly.", NULL);
	else if (!link_ok(reply)) {
		err = link_str(reply, "error");
		/* an app whose flow has no user login (policy.json: routes.login) is not found */
		if (err != NULL && (strcmp(err, "not_found") == 0 ||
		    strcmp(err, "unauthorized_client") == 0))
			enduser_page(r, 404, "Not found",
			    "There is no sign-in for that application.", NULL);
		else if (err != NULL && strcmp(err, "temporarily_unavailable") == 0)
			enduser_page(r, 503, "Sign-in unavailable",
			    "The sign-in service is unavailable; please try again shortly.", NULL);
		else
			enduser_page(r, 400, "Sign-in refused", "This application cannot sign in "
			    "users here.", NULL);
	} else if (url == NULL || !enduser_cookie_value_ok(state)) {
		fg_log_warn("login.begin: malformed daemon reply");
		enduser_page(r, 500, "Something went wrong", "The sign-in could not start.", NULL);
	} else {
		enduser_set_cookie(r, "fg_login", state, "/callback", 600);
		enduser_redirect(r, url);
	}
	json_decref(reply);
}

/* GET /callback: the upstream's answer; the daemon checks it against the fg_login state. */
static void
enduser_login_callback(struct request *r)
{
	const char	*code, *state, *err, *ret, *sid;
	char		 cookie[ENDUSER_COOKIE_MAX + 1], msg[200];
	struct form	*f = &r->query;
	json_t		*req, *reply;
	int		 e;

	if ((e = request_query(r)) != FORM_OK) {
		enduser_page(r, 400, "Sign-in failed", e == -1 ?
		    "The sign-in answer is too long." : "The sign-in answer is malformed.", NULL);
		return;
	}
	if ((err = form_get(f, "error")) != NULL) {
		snprintf(msg, sizeof(msg), "The identity provider refused the sign-in: %.100s",
		    err);
		enduser_set_cookie(r, "fg_login", NULL, "/callback", 0);
		enduser_page(r, 400, "Sign-in failed", msg, NULL);
		return;
	}
	code = form_get(f, "code");
	state = form_get(f, "state");
	request_cookie(r, "fg_login", cookie, sizeof(cookie));
	if (code == NULL || state == NULL) {
		enduser_page(r, 400, "Sign-in failed",
		    "The sign-in answer lacks its code or state.",
		    NULL);
		return;
	}
	if (cookie[0] == '\0') {
		enduser_page(r, 400, "Sign-in failed",
		    "This sign-in was started in another browser "
		    "or has expired. Please start again.", NULL);
		return;
	}
	req = json_pack("{s:s,s:s,s:s,s:s}", "verb", "login.callback", "code", code, "state",
	    state, "state_cookie", cookie);
	reply = enduser_call(r, req, ENDUSER_LOGIN_TIMEOUT_MS);
	json_decref(req);
	err = link_str(reply, "error");
	ret = link_str(reply, "return_url");
	sid = link_str(reply, "session");
	if (reply == NULL || (err != NULL && strcmp(err, "temporarily_unavailable") == 0))
		enduser_page(r, 503, "Sign-in unavailable",
		    "The sign-in service is unavailable; please try again shortly.", NULL);
	else if (!link_ok(reply)) {
		enduser_set_cookie(r, "fg_login", NULL, "/callback", 0);
		if (err != NULL && strcmp(err, "login_failed") == 0)
			enduser_page(r, 502, "Sign-in failed",
			    "The identity provider did not confirm "
			    "the sign-in. Please start again.", NULL);
		else
			enduser_page(r, 400, "Sign-in failed",
			    "This sign-in is not valid (expired, "
			    "used already, or started in another browser). Please start again.",
			    NULL);
	} else if (ret == NULL || !enduser_cookie_value_ok(sid)) {
		fg_log_warn("login.callback: malformed daemon reply");
		enduser_page(r, 500, "Something went wrong", "The sign-in could not finish.", NULL);
	} else {
		enduser_set_cookie(r, "fg_login", NULL, "/callback", 0);
		enduser_set_cookie(r, "fg_user", sid, "/", 0);
		enduser_redirect(r, ret);
	}
	json_decref(reply);
}

/* GET /logout asks; POST /logout ends the session upstream and clears the cookie. */
static void
enduser_login_logout(struct request *r)
{
	static const char	form[] = "<form method=\"post\" action=\"/logout\">"
	    "<button type=\"submit\" id=\"logout\">Sign out</button></form>\n";
	char			cookie[ENDUSER_COOKIE_MAX + 1], code[64], remote[80];
	json_t			*req, *reply;

	if (strcmp(r->method, "GET") == 0) {
		enduser_page(r, 200, "Sign out", "Sign out of flowgate on this browser?", form);
		return;
	}
	request_cookie(r, "fg_user", cookie, sizeof(cookie));
	if (cookie[0] != '\0') {
		req = json_pack("{s:s,s:s}", "verb", "enduser.logout", "session", cookie);
		reply = enduser_call(r, req, ENDUSER_CALL_TIMEOUT_MS);
		json_decref(req);
		if (reply == NULL)
			fg_log_warn("logout: daemon unreachable; the cookie is cleared anyway");
		else if (!link_ok(reply))
			fg_log_info("logout from %s: %s", fg_log_clean(remote, sizeof(remote),
			    r->remote), fg_log_clean(code, sizeof(code), link_str(reply, "error")));
		json_decref(reply);
	}
	enduser_set_cookie(r, "fg_user", NULL, "/", 0);
	enduser_redirect(r, "/");
}

