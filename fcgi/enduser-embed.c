/*
 * GET /embed/{app}: a drop-in host page for an embedded Corti Assistant.  The logged-in user
 * (else the app's login first) gets a page that frames the Assistant's /embedded view from its
 * origin, fetches the user's token set from /api/v1/session/assistant-credentials and hands it
 * over with the Assistant's "auth" postMessage, pinned to that origin (web/static/embed.js).
 * The page's own policy allows scripts and styles from here and frames from that origin only.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fcgi.h"
#include "log.h"

static void	enduser_embed_page(struct request *);

/* ROUTE_BARE: this page writes its own security headers (its CSP names the Assistant) */
const struct route enduser_embed_routes[] = {
	{ "GET", "/embed/*", ROUTE_PAGE | ROUTE_ENDUSER | ROUTE_BARE, 0, enduser_embed_page },
	{ NULL, NULL, 0, 0, NULL }
};

/* True when origin is scheme://host[:port] and nothing that could end a header or a quote. */
static int
enduser_embed_origin_ok(const char *origin)
{
	static const char	ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-:[]";
	const char		*host;

	if (strncmp(origin, "https://", 8) == 0)
		host = origin + 8;
	else if (strncmp(origin, "http://", 7) == 0)
		host = origin + 7;
	else
		return 0;
	return *host != '\0' && strlen(host) < 256 && strspn(host, ok) == strlen(host);
}

/* The pages' security headers; frame-src names the Assistant's origin (or nothing). */
static void
enduser_embed_headers(struct request *r, const char *origin)
{
	request_header(r, "Content-Security-Policy: default-src 'none'; script-src 'self'; "
	    "style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src %s; "
	    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	    origin != NULL ? origin : "'none'");
	request_header(r, "Referrer-Policy: no-referrer");
	request_header(r, "X-Frame-Options: DENY");
}

/* The page: the Assistant framed, the handoff done by embed.js. */
static void
enduser_embed_send(struct request *r, const char *origin)
{
	struct http_reply	rp = { .status = 200, .content_type = "text/html; charset=utf-8" };
	struct buf		b = { 0 };

	enduser_embed_headers(r, origin);
	buf_adds(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	    "<link rel=\"stylesheet\" href=\"/admin/static/app.css\">\n"
	    "<link rel=\"stylesheet\" href=\"/admin/static/embed.css\">\n"
	    "<script src=\"/admin/static/embed.js\" defer></script>\n"
	    "<title>Corti Assistant - flowgate</title>\n</head>\n<body class=\"embed\">\n"
	    "<main id=\"embed\" data-app=\"");
	buf_adds_html(&b, r->name);
	buf_adds(&b, "\" data-origin=\"");
	buf_adds_html(&b, origin);
	buf_adds(&b, "\">\n<p id=\"embed-status\" role=\"status\">Starting the Corti "
	    "Assistant&hellip;</p>\n<iframe id=\"embed-frame\" title=\"Corti Assistant\" src=\"");
	buf_adds_html(&b, origin);
	buf_adds(&b, "/embedded\" allow=\"microphone\"></iframe>\n</main>\n</body>\n</html>\n");
	if (b.failed)
		enduser_error(r, 500, "server_error", NULL, 0);
	else
		request_send(r, &rp, b.p, b.len);
	buf_free(&b);
}

/* GET /embed/{app}: the host page for the logged-in user, or the app's login first. */
static void
enduser_embed_page(struct request *r)
{
	char		 cookie[ENDUSER_COOKIE_MAX + 1] = "", login[FG_NAME_MAX * 3 + 16];
	const char	*origin, *err;
	json_t		*req, *reply;
	struct buf	 b = { 0 };

	request_cookie(r, "fg_user", cookie, sizeof(cookie));
	req = json_pack("{s:s,s:s}", "verb", "enduser.embed", "app", r->name);
	if (req != NULL && cookie[0] != '\0')
		json_object_set_new(req, "session", json_string(cookie));
	reply = enduser_call(r, req, ENDUSER_CALL_TIMEOUT_MS);
	json_decref(req);
	origin = link_str(reply, "origin");
	err = link_str(reply, "error");
	if (origin == NULL || !enduser_embed_origin_ok(origin) ||
	    !json_is_true(json_object_get(reply, "logged_in")))
		enduser_embed_headers(r, NULL);
	if (reply == NULL || (err != NULL && strcmp(err, "temporarily_unavailable") == 0))
		enduser_page(r, 503, "Assistant unavailable", "The Corti Assistant cannot be "
		    "shown here now; please try again shortly, or ask your administrator.", NULL);
	else if (!link_ok(reply))
		enduser_page(r, 404, "Not found", "There is no embedded Corti Assistant for that "
		    "application.", NULL);
	else if (origin == NULL || !enduser_embed_origin_ok(origin)) {
		fg_log_warn("enduser.embed: the daemon gave an unusable Assistant origin");
		enduser_page(r, 500, "Something went wrong", "The Assistant's address is not "
		    "usable.", NULL);
	} else if (!json_is_true(json_object_get(reply, "logged_in"))) {
		buf_adds(&b, "/login/");
		buf_adds_url(&b, r->name);
		snprintf(login, sizeof(login), "%s", b.failed ? "/" : b.p);
		buf_free(&b);
		enduser_redirect(r, login);
	} else
		enduser_embed_send(r, origin);
	json_decref(reply);
}
