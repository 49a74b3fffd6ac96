/*
 * The end users' sessions page (/admin/sessions): the live sessions of user-present apps,
 * filtered by app and by user, with a revoke button on each and a form that revokes all of a
 * user's.  Sessions are named by the daemon's row id, never by anything a browser holds.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"

static void	admin_endusers_list(struct request *);
static void	admin_endusers_revoke(struct request *);
static void	admin_endusers_revoke_all(struct request *);

#define ADMIN_ENDUSERS_POST	(ROUTE_ADMIN | ROUTE_SESSION | ROUTE_FORM | ROUTE_CSRF)

const struct route admin_endusers_routes[] = {
	{ "GET", "/admin/sessions", ROUTE_ADMIN | ROUTE_SESSION, 0, admin_endusers_list },
	{ "POST", "/admin/sessions/revoke-all", ADMIN_ENDUSERS_POST, 0,
	    admin_endusers_revoke_all },
	{ "POST", "/admin/sessions/*/revoke", ADMIN_ENDUSERS_POST, 0, admin_endusers_revoke },
	{ NULL, NULL, 0, 0, NULL }
};

static struct buf	endusers_url_buf;

/* A filter value from f (query or form), or NULL when absent or empty. */
static const char *
admin_endusers_filter(const struct form *f, const char *key)
{
	const char *v = form_get(f, key);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* /admin/sessions with the filter of f, then extra ("key=value" or NULL), percent-encoded. */
static const char *
admin_endusers_url(const struct form *f, const char *extra)
{
	static const char *const keys[] = { "app", "user", NULL };
	const char	*v;
	char		 sep = '?';
	size_t		 i;

	buf_reset(&endusers_url_buf);
	buf_adds(&endusers_url_buf, "/admin/sessions");
	if (extra != NULL) {
		buf_addf(&endusers_url_buf, "?%s", extra);
		sep = '&';
	}
	for (i = 0; keys[i] != NULL; i++) {
		if ((v = admin_endusers_filter(f, keys[i])) == NULL)
			continue;
		buf_addf(&endusers_url_buf, "%c%s=", sep, keys[i]);
		buf_adds_url(&endusers_url_buf, v);
		sep = '&';
	}
	return buf_str(&endusers_url_buf);
}

/* The user_session.list request for the page's filter and cursor; NULL after a 400. */
static json_t *
admin_endusers_query(struct request *r)
{
	json_t		*req = json_pack("{ss si}", "verb", "user_session.list", "limit",
			    ADMIN_LIST_PAGE);
	const char	*v;
	char		*end;
	long long	 after;

	if ((v = admin_endusers_filter(&r->query, "app")) != NULL)
		json_object_set_new(req, "app", json_string(v));
	if ((v = admin_endusers_filter(&r->query, "user")) != NULL)
		json_object_set_new(req, "user", json_string(v));
	if ((v = form_get(&r->query, "after")) != NULL) {
		after = strtoll(v, &end, 10);
		if (*end != '\0' || end == v || after < 0) {
			json_decref(req);
			admin_error(r, 400, "Bad page", "Pages are session numbers.");
			return NULL;
		}
		json_object_set_new(req, "after", json_integer(after));
	}
	return req;
}

/* GET /admin/sessions?app=&user=&after=: a page of live user sessions. */
static void
admin_endusers_list(struct request *r)
{
	static const char *const times[] = { "created_at", "last_used_at", "idle_expires_at",
	    "expires_at", NULL };
	json_t		*req, *reply, *rows, *s, *data;
	char		 after[40];
	size_t		 i;

	if ((req = admin_endusers_query(r)) == NULL)
		return;
	reply = admin_call(r, ADMIN_CALL_SESSION, req);
	if (!link_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	rows = json_deep_copy(json_object_get(reply, "sessions"));
	if (rows == NULL)
		rows = json_array();
	json_array_foreach(rows, i, s)
		admin_times(s, times);
	data = json_pack("{so s{ss? ss?} sb sb}", "sessions", rows, "f", "app",
	    admin_endusers_filter(&r->query, "app"), "user",
	    admin_endusers_filter(&r->query, "user"), "filtered",
	    admin_endusers_filter(&r->query, "app") != NULL ||
	    admin_endusers_filter(&r->query, "user") != NULL, "can_revoke",
	    r->role != NULL && strcmp(r->role, "auditor") != 0);
	if (json_is_true(json_object_get(reply, "more")) &&
	    json_is_integer(json_object_get(reply, "next"))) {
		snprintf(after, sizeof(after), "after=%lld",
		    (long long)json_integer_value(json_object_get(reply, "next")));
		json_object_set_new(data, "next_url", json_string(admin_endusers_url(&r->query,
		    after)));
	}
	if (form_get(&r->query, "after") != NULL)
		json_object_set_new(data, "first_url", json_string(admin_endusers_url(&r->query,
		    NULL)));
	json_decref(reply);
	admin_page(r, 200, "sessions", "sessions", "User sessions", data);
}

/* A revocation verb from a form, then back to the list (its filter kept) with done. */
static void
admin_endusers_action(struct request *r, json_t *req, const char *done, const char *more)
{
	json_t	*reply = admin_call(r, ADMIN_CALL_SESSION | ADMIN_CALL_CSRF, req);
	char	 extra[48];

	if (!link_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	snprintf(extra, sizeof(extra), "done=%s", json_is_true(json_object_get(reply,
	    "more")) ? more : done);
	json_decref(reply);
	request_redirect(r, 303, admin_endusers_url(&r->form, extra));
}

/* POST /admin/sessions/ID/revoke: that session ends at once. */
static void
admin_endusers_revoke(struct request *r)
{
	char		*end;
	long long	 id = strtoll(r->name, &end, 10);

	if (*end != '\0' || end == r->name || id < 1) {
		admin_error(r, 404, "Not found", "Sessions are named by their number.");
		return;
	}
	admin_endusers_action(r, json_pack("{ss sI}", "verb", "user_session.revoke", "id",
	    (json_int_t)id), "session_revoked", "session_revoked");
}

/* POST /admin/sessions/revoke-all: every session of the form's user (in its app, if given). */
static void
admin_endusers_revoke_all(struct request *r)
{
	const char	*user = admin_endusers_filter(&r->form, "user");
	const char	*app = admin_endusers_filter(&r->form, "app");

	if (user == NULL) {
		admin_error(r, 400, "User missing", "Name the user whose sessions to revoke.");
		return;
	}
	admin_endusers_action(r, json_pack("{ss ss ss*}", "verb", "user_session.revoke_all",
	    "user", user, "app", app), "user_sessions_revoked", "user_sessions_more");
}
