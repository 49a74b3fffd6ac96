/*
 * The admin UI's page frame: every page rendered inside layout.html with what each page gets
 * (who is logged in, the CSRF token, the active menu entry, a fixed flash message), error
 * pages, times as text, and the pager of the list pages.  Rendered pages are wiped after
 * sending: one of them may have shown a credential.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fcgi.h"
#include "log.h"

/* Fixed messages shown after a redirect (?done=KEY): nothing from the request is echoed. */
static const struct flash {
	const char	*key;
	const char	*text;
	const char	*kind;		/* alert class; NULL: ok */
} admin_layout_flashes[] = {
	{ "logged_out", "You are logged out.", "info" },
	{ "expired", "Your session has ended. Log in again.", "info" },
	{ "app_revoked", "The app was revoked: its credentials no longer get tokens.", "warn" },
	{ "scopes_updated", "The app's allowed scopes were updated.", NULL },
	{ "body_cap_updated", "The app's proxy body cap was changed.", NULL },
	{ "connection_added", "Connection added. Its secret was verified with the upstream.",
	    NULL },
	{ "connection_removed", "The connection was removed.", NULL },
	{ "rotated", "The new secret was verified with the upstream and is now current.", NULL },
	{ "retired", "The previous secret was erased.", NULL },
	{ "stopped", "Emergency stop: every route of this connection's apps is refused now "
	    "(token endpoint, stream and transcribe sessions, proxy, user sessions and logins); "
	    "its cached tokens were dropped and answers still in flight are dropped.", "bad" },
	{ "resumed", "Token issuance resumed.", NULL },
	{ "user_added", "The user was added.", NULL },
	{ "role_changed", "The role was changed.", NULL },
	{ "user_disabled", "The user was disabled and their sessions ended.", NULL },
	{ "user_enabled", "The user was enabled.", NULL },
	{ "password_changed", "Your password was changed.", NULL },
	{ "session_revoked", "The user session was revoked: that browser is logged out now and "
	    "its refresh token is being revoked upstream.", "warn" },
	{ "user_sessions_revoked", "The user's sessions were revoked: their browsers are logged "
	    "out now and their refresh tokens are being revoked upstream.", "warn" },
	{ "user_sessions_more", "Many of the user's sessions were revoked, but more remain: "
	    "submit the form again.", "warn" },
};

static struct buf	page_buf, layout_buf, list_buf;

/* A plain-text answer, for when no page can be rendered. */
static void
admin_layout_text(struct request *r, int status, const char *msg)
{
	struct http_reply	rp = { .status = status,
	    .content_type = "text/plain; charset=utf-8" };

	request_send(r, &rp, msg, strlen(msg));
}

/* No layout: the UI is not installed (503); a page's template missing is our bug (500). */
static void
admin_layout_missing(struct request *r, const char *name, int no_layout)
{
	if (no_layout) {
		admin_layout_text(r, 503, "The admin UI is not installed "
		    "(flowgate-fcgi -w WEB_DIR).\n");
		return;
	}
	fg_log_warn("admin template %s missing", name);
	admin_layout_text(r, 500, "admin UI template missing\n");
}

/* "2026-11-22 09:30 UTC" from unix seconds or milliseconds (told apart by size). */
void
admin_fmt_time(char *out, size_t n, long long t, int seconds)
{
	struct tm	tm;
	time_t		tt;

	if (t > 100000000000LL)
		t /= 1000;
	tt = (time_t)t;
	if (gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, n, "-");
		return;
	}
	strftime(out, n, seconds ? "%Y-%m-%d %H:%M:%S UTC" : "%Y-%m-%d %H:%M UTC", &tm);
}

/* A span of time as "45 s", "12 min", "5 h" or "3 d". */
void
admin_fmt_span(char *out, size_t n, long long s)
{
	if (s < 0)
		s = -s;
	if (s < 120)
		snprintf(out, n, "%lld s", s);
	else if (s < 2 * 3600)
		snprintf(out, n, "%lld min", s / 60);
	else if (s < 3 * 86400)
		snprintf(out, n, "%lld h", s / 3600);
	else
		snprintf(out, n, "%lld d", s / 86400);
}

/* For each key holding a time, add key_text ("2026-...") and key_rel ("3 d ago", "in 5 h"). */
void
admin_times(json_t *o, const char *const *keys)
{
	char		 text[64], span[32], rel[48], k[80];
	long long	 t, now = (long long)time(NULL);
	json_t		*v;

	for (; *keys != NULL; keys++) {
		v = json_object_get(o, *keys);
		if (!json_is_integer(v) || json_integer_value(v) <= 0)
			continue;
		t = json_integer_value(v);
		admin_fmt_time(text, sizeof(text), t, 0);
		if (t > 100000000000LL)
			t /= 1000;
		admin_fmt_span(span, sizeof(span), now - t);
		snprintf(rel, sizeof(rel), t <= now ? "%s ago" : "in %s", span);
		snprintf(k, sizeof(k), "%s_text", *keys);
		json_object_set_new(o, k, json_string(text));
		snprintf(k, sizeof(k), "%s_rel", *keys);
		json_object_set_new(o, k, json_string(rel));
	}
}

/*
 * A flash's text; after a stop, with the counts the daemon reported (n=T.S.H.U, parsed as
 * numbers and printed anew, so nothing of the request is echoed).
 */
static json_t *
admin_layout_flash_text(struct request *r, const struct flash *f)
{
	const char	*n = form_get(&r->query, "n");
	long long	 v[4];
	char		 buf[512];

	if (strcmp(f->key, "stopped") != 0 || n == NULL || sscanf(n, "%lld.%lld.%lld.%lld",
	    &v[0], &v[1], &v[2], &v[3]) != 4)
		return json_string(f->text);
	snprintf(buf, sizeof(buf), "%s Stopped now: %lld cached tokens dropped, %lld user "
	    "sessions' tokens cleared, %lld waiting replies refused, %lld upstream answers in "
	    "flight to be dropped.", f->text, v[0], v[1], v[2], v[3]);
	return json_string(buf);
}

/* Common page data: who is logged in, the CSRF token for forms, the active nav entry. */
static void
admin_layout_common(struct request *r, json_t *data, const char *nav, const char *title)
{
	const char	*done;
	json_t		*me;
	size_t		 i;
	char		 k[48];

	json_object_set_new(data, "title", json_string(title));
	json_object_set_new(data, "asset_v", json_string(admin_static_version));
	if (nav != NULL) {
		snprintf(k, sizeof(k), "nav_%s", nav);
		json_object_set_new(data, k, json_true());
	}
	if (r->user != NULL && r->role != NULL) {
		me = json_pack("{ss ss sb sb sb}", "name", r->user, "role", r->role,
		    "is_admin", strcmp(r->role, "admin") == 0,
		    "is_security", strcmp(r->role, "security") == 0,
		    "is_auditor", strcmp(r->role, "auditor") == 0);
		json_object_set_new(data, "me", me);
		json_object_set_new(data, "can_rotate", json_boolean(strcmp(r->role,
		    "security") == 0));
		json_object_set_new(data, "can_test", json_boolean(strcmp(r->role,
		    "auditor") != 0));
	}
	if (r->csrf != NULL)
		json_object_set_new(data, "csrf", json_string(r->csrf));
	if (json_object_get(data, "flash") == NULL &&
	    (done = form_get(&r->query, "done")) != NULL) {
		for (i = 0; i < sizeof(admin_layout_flashes) / sizeof(admin_layout_flashes[0]);
		    i++) {
			if (strcmp(admin_layout_flashes[i].key, done) == 0) {
				json_object_set_new(data, "flash", admin_layout_flash_text(r,
				    &admin_layout_flashes[i]));
				json_object_set_new(data, "flash_kind", json_string(
				    admin_layout_flashes[i].kind != NULL ?
				    admin_layout_flashes[i].kind : "ok"));
			}
		}
	}
}

/*
 * Render template name with data inside the layout and send it.  raw holds the fragments the
 * page may embed unescaped (built here from escaped pieces).  data is consumed.
 */
void
admin_page_raw(struct request *r, int status, const char *name, const char *nav,
    const char *title, json_t *data, const struct tpl_raw *raw, size_t nraw)
{
	const struct tpl	*page = admin_static_template(name);
	const struct tpl	*layout = admin_static_template("layout");
	struct tpl_raw		 content;
	struct http_reply	 rp = { .content_type = "text/html; charset=utf-8" };

	if (page == NULL || layout == NULL) {
		admin_layout_missing(r, name, layout == NULL);
		json_decref(data);
		return;
	}
	if (data == NULL)
		data = json_object();
	admin_layout_common(r, data, nav, title);
	buf_reset(&page_buf);
	buf_reset(&layout_buf);
	tpl_render(page, data, raw, nraw, &page_buf);
	content.name = "content";
	content.html = buf_str(&page_buf);
	tpl_render(layout, data, &content, 1, &layout_buf);
	if (page_buf.failed || layout_buf.failed)
		admin_layout_text(r, 500, "out of memory\n");
	else {
		rp.status = status;
		request_send(r, &rp, layout_buf.p, layout_buf.len);
	}
	admin_wipe_field(data, "client_secret");
	admin_wipe_field(data, "curl_config");
	json_decref(data);
	/* pages may have shown a one-time credential: leave nothing of it behind */
	buf_wipe(&page_buf);
	buf_wipe(&layout_buf);
}

/* Render a page that embeds no fragment of its own. */
void
admin_page(struct request *r, int status, const char *name, const char *nav, const char *title,
    json_t *data)
{
	admin_page_raw(r, status, name, nav, title, data, NULL, 0);
}

/* An error page: a heading and one message. */
void
admin_error(struct request *r, int status, const char *title, const char *message)
{
	admin_page(r, status, "error", NULL, title, json_pack("{ss ss si}", "heading", title,
	    "message", message, "status", status));
}

/* One page of a list verb, from the page's ?after= or ?before= (a name). */
json_t *
admin_list_call(struct request *r, const char *verb)
{
	json_t		*req = json_pack("{ss si}", "verb", verb, "limit", ADMIN_LIST_PAGE);
	const char	*v;

	if ((v = form_get(&r->query, "after")) != NULL)
		json_object_set_new(req, "after", json_string(v));
	else if ((v = form_get(&r->query, "before")) != NULL)
		json_object_set_new(req, "before", json_string(v));
	return admin_call(r, ADMIN_CALL_SESSION, req);
}

/* base?key=name, in the pager's buffer. */
static const char *
admin_list_url(const char *base, const char *key, const char *name)
{
	buf_reset(&list_buf);
	buf_addf(&list_buf, "%s?%s=", base, key);
	buf_adds_url(&list_buf, name);
	return buf_str(&list_buf);
}

/*
 * The pager of a list page: Next after its last row and Previous before its first, where
 * rows lie that way (the daemon's "more" says so for the direction this page was asked in).
 */
json_t *
admin_list_pager(struct request *r, json_t *reply, const char *key, const char *base)
{
	json_t		*rows = json_object_get(reply, key), *pager = json_object();
	const char	*first = link_str(json_array_get(rows, 0), "name");
	const char	*last = link_str(json_array_get(rows, json_array_size(rows) - 1), "name");
	int		 back = form_get(&r->query, "before") != NULL;
	int		 fwd = form_get(&r->query, "after") != NULL;
	int		 more = json_is_true(json_object_get(reply, "more"));

	if (last != NULL && (back || more))
		json_object_set_new(pager, "next_url", json_string(admin_list_url(base, "after",
		    last)));
	if (first != NULL && (fwd || (back && more)))
		json_object_set_new(pager, "prev_url", json_string(admin_list_url(base, "before",
		    first)));
	if ((fwd || back) && json_object_size(pager) == 0)
		json_object_set_new(pager, "first_url", json_string(base));
	if (json_object_size(pager) == 0) {
		json_decref(pager);
		return json_null();
	}
	return pager;
}

