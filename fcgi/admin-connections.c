/*
 * The connections pages (list, add, test, remove) and the security officer's rotation pages
 * (rotate, retire, emergency stop, resume) over the daemon's connection verbs.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"

static void	admin_conn_list_page(struct request *);
static void	admin_conn_add(struct request *);
static void	admin_conn_new(struct request *);
static void	admin_conn_show_page(struct request *);
static void	admin_conn_test(struct request *);
static void	admin_conn_remove(struct request *);
static void	admin_conn_rotation(struct request *);
static void	admin_conn_rotation_one(struct request *);
static void	admin_conn_rotate(struct request *);
static void	admin_conn_retire(struct request *);
static void	admin_conn_stop(struct request *);
static void	admin_conn_resume(struct request *);

#define ADMIN_CONN_GET	(ROUTE_ADMIN | ROUTE_SESSION)
#define ADMIN_CONN_POST	(ROUTE_ADMIN | ROUTE_SESSION | ROUTE_FORM | ROUTE_CSRF)

const struct route admin_connections_routes[] = {
	{ "GET", "/admin/connections", ADMIN_CONN_GET, 0, admin_conn_list_page },
	{ "POST", "/admin/connections", ADMIN_CONN_POST, 0, admin_conn_add },
	{ "GET", "/admin/connections/new", ADMIN_CONN_GET, 0, admin_conn_new },
	{ "GET", "/admin/connections/*", ADMIN_CONN_GET, 0, admin_conn_show_page },
	{ "POST", "/admin/connections/*/test", ADMIN_CONN_POST, 0, admin_conn_test },
	{ "POST", "/admin/connections/*/remove", ADMIN_CONN_POST, 0, admin_conn_remove },
	{ "GET", "/admin/rotation", ADMIN_CONN_GET, 0, admin_conn_rotation },
	{ "GET", "/admin/rotation/*", ADMIN_CONN_GET, 0, admin_conn_rotation_one },
	{ "POST", "/admin/rotation/*/rotate", ADMIN_CONN_POST, 0, admin_conn_rotate },
	{ "POST", "/admin/rotation/*/retire", ADMIN_CONN_POST, 0, admin_conn_retire },
	{ "POST", "/admin/rotation/*/stop", ADMIN_CONN_POST, 0, admin_conn_stop },
	{ "POST", "/admin/rotation/*/resume", ADMIN_CONN_POST, 0, admin_conn_resume },
	{ NULL, NULL, 0, 0, NULL }
};

static const char *const admin_conn_times[] = { "created_at", "rotated_at", "previous_retires_at",
    NULL };

/* Display fields of a connection: ages as text, the warning colour when the daemon says so. */
static void
admin_conn_decorate(json_t *c)
{
	char		span[32];
	json_int_t	age = json_integer_value(json_object_get(c, "secret_age_s"));

	admin_times(c, admin_conn_times);
	admin_fmt_span(span, sizeof(span), age);
	json_object_set_new(c, "secret_age_text", json_string(span));
	if (json_object_get(c, "secret_warn") == NULL)
		json_object_set_new(c, "secret_warn", json_boolean(age > ADMIN_SECRET_WARN_S));
	json_object_set_new(c, "has_previous", json_boolean(json_integer_value(
	    json_object_get(c, "previous_retires_at")) > 0));
}

/* One page of connections for base's page, with its pager; NULL and *reply_out on failure. */
static json_t *
admin_conn_list(struct request *r, const char *base, json_t **reply_out, json_t **pager)
{
	json_t	*reply, *conns, *c;
	size_t	 i;

	reply = admin_list_call(r, "connection.list");
	if (!link_ok(reply)) {
		*reply_out = reply;
		return NULL;
	}
	conns = json_deep_copy(json_object_get(reply, "connections"));
	*pager = admin_list_pager(r, reply, "connections", base);
	json_decref(reply);
	if (conns == NULL)
		conns = json_array();
	json_array_foreach(conns, i, c)
		admin_conn_decorate(c);
	*reply_out = NULL;
	return conns;
}

/* GET /admin/connections */
static void
admin_conn_list_page(struct request *r)
{
	json_t	*reply, *conns, *pager;

	if ((conns = admin_conn_list(r, "/admin/connections", &reply, &pager)) == NULL) {
		admin_fail(r, reply);
		return;
	}
	admin_page(r, 200, "connections", "connections", "Connections", json_pack("{so sb so}",
	    "connections", conns, "has_connections", json_array_size(conns) > 0, "pager", pager));
}

/* The connection form; the secret field is always empty: it is never echoed back. */
static json_t *
admin_conn_form(const struct form *f)
{
	static const char *const keys[] = { "name", "environment", "tenant", "client_id",
	    "token_url", "api_base", NULL };
	json_t			*data = json_object();
	size_t			 i;

	for (i = 0; keys[i] != NULL; i++) {
		if (form_get(f, keys[i]) != NULL)
			json_object_set_new(data, keys[i], json_string(form_get(f, keys[i])));
	}
	if (form_get(f, "token_url") != NULL || form_get(f, "api_base") != NULL)
		json_object_set_new(data, "advanced_open", json_true());
	return data;
}

/* GET /admin/connections/new: the form; the secret field is never pre-filled. */
static void
admin_conn_new(struct request *r)
{
	admin_page(r, 200, "connection_new", "connections", "Add a connection",
	    admin_conn_form(&r->query));
}

/* POST /admin/connections: connection.add, which verifies the secret upstream first. */
static void
admin_conn_add(struct request *r)
{
	static const char *const opt[] = { "token_url", "api_base", NULL };
	const char	*name = form_get(&r->form, "name"), *secret = form_get(&r->form, "secret");
	json_t		*req, *reply, *data;
	char		 url[160];
	size_t		 i;

	req = json_pack("{ss ss ss ss ss ss}", "verb", "connection.add",
	    "name", name != NULL ? name : "",
	    "environment", form_get(&r->form, "environment") != NULL ?
	    form_get(&r->form, "environment") : "",
	    "tenant", form_get(&r->form, "tenant") != NULL ? form_get(&r->form, "tenant") : "",
	    "client_id", form_get(&r->form, "client_id") != NULL ?
	    form_get(&r->form, "client_id") : "",
	    "secret", secret != NULL ? secret : "");
	for (i = 0; req != NULL && opt[i] != NULL; i++) {
		if (form_get(&r->form, opt[i]) != NULL)
			json_object_set_new(req, opt[i], json_string(form_get(&r->form, opt[i])));
	}
	reply = admin_call(r, ADMIN_CALL_SESSION | ADMIN_CALL_CSRF | ADMIN_CALL_SLOW, req);
	if (link_ok(reply) && name != NULL && fg_name_ok(name, strlen(name))) {
		json_decref(reply);
		snprintf(url, sizeof(url), "/admin/connections/%s?done=connection_added", name);
		request_redirect(r, 303, url);
		return;
	}
	if (reply == NULL || link_ok(reply) ||
	    strcmp(admin_errcode(reply), "unauthenticated") == 0 ||
	    strcmp(admin_errcode(reply), "csrf") == 0 ||
	    strcmp(admin_errcode(reply), "forbidden") == 0 ||
	    strcmp(admin_errcode(reply), "unknown_verb") == 0) {
		if (link_ok(reply)) {
			json_decref(reply);
			request_redirect(r, 303, "/admin/connections?done=connection_added");
			return;
		}
		admin_fail(r, reply);
		return;
	}
	data = admin_conn_form(&r->form);
	admin_form_error(data, reply, strcmp(admin_errcode(reply), "verification_failed") == 0 ?
	    "secret" : NULL);
	if (strcmp(admin_errcode(reply), "verification_failed") == 0)
		json_object_set_new(data, "err_secret", json_string("The upstream refused this "
		    "client id and secret. Check both and enter the secret again."));
	admin_page(r, admin_form_status(admin_errcode(reply)), "connection_new", "connections",
	    "Add a connection", data);
	json_decref(reply);
}

/* The connection named by the route, decorated; NULL and *reply_out on failure. */
static json_t *
admin_conn_show(struct request *r, json_t **reply_out)
{
	json_t	*reply, *c;

	reply = admin_call(r, ADMIN_CALL_SESSION, json_pack("{ss ss}", "verb", "connection.show",
	    "name", r->name));
	if (!link_ok(reply)) {
		*reply_out = reply;
		return NULL;
	}
	c = json_deep_copy(json_object_get(reply, "connection"));
	json_decref(reply);
	if (c == NULL)
		c = json_object();
	admin_conn_decorate(c);
	*reply_out = NULL;
	return c;
}

/* A connection's page (connection_show or rotation_show), with extra data. */
static void
admin_conn_page(struct request *r, int status, const char *tpl, json_t *extra)
{
	json_t	*reply, *c, *data;

	if ((c = admin_conn_show(r, &reply)) == NULL) {
		json_decref(extra);
		admin_fail(r, reply);
		return;
	}
	data = extra != NULL ? extra : json_object();
	json_object_set_new(data, "conn", c);
	admin_page(r, status, tpl, strcmp(tpl, "rotation_show") == 0 ? "rotation" :
	    "connections", r->name, data);
}

/* GET /admin/connections/NAME */
static void
admin_conn_show_page(struct request *r)
{
	admin_conn_page(r, 200, "connection_show", NULL);
}

/* POST /admin/connections/NAME/test: one token request upstream, its outcome shown. */
static void
admin_conn_test(struct request *r)
{
	json_t	*reply, *data;

	reply = admin_call(r, ADMIN_CALL_SESSION | ADMIN_CALL_CSRF | ADMIN_CALL_SLOW,
	    json_pack("{ss ss}", "verb",
	    "connection.test", "name", r->name));
	if (!link_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	data = json_pack("{s{sb ss* sO*}}", "test", "ok", link_str(reply, "outcome") != NULL &&
	    strcmp(link_str(reply, "outcome"), "ok") == 0, "message", link_str(reply,
	    "message"), "latency_ms", json_object_get(reply, "latency_ms"));
	json_decref(reply);
	admin_conn_page(r, 200, "connection_show", data);
}

/* POST /admin/connections/NAME/remove */
static void
admin_conn_remove(struct request *r)
{
	json_t	*reply;

	reply = admin_call(r, ADMIN_CALL_SESSION | ADMIN_CALL_CSRF, json_pack("{ss ss}", "verb",
	    "connection.remove", "name", r->name));
	if (!link_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	json_decref(reply);
	request_redirect(r, 303, "/admin/connections?done=connection_removed");
}

/* GET /admin/rotation: the security officer's list. */
static void
admin_conn_rotation(struct request *r)
{
	json_t	*reply, *conns, *pager;

	if ((conns = admin_conn_list(r, "/admin/rotation", &reply, &pager)) == NULL) {
		admin_fail(r, reply);
		return;
	}
	admin_page(r, 200, "rotation", "rotation", "Rotation", json_pack("{so sb so}",
	    "connections", conns, "has_connections", json_array_size(conns) > 0, "pager", pager));
}

/* GET /admin/rotation/NAME */
static void
admin_conn_rotation_one(struct request *r)
{
	admin_conn_page(r, 200, "rotation_show", NULL);
}

/* POST /admin/rotation/NAME/rotate: a new secret, verified upstream before it is used. */
static void
admin_conn_rotate(struct request *r)
{
	const char	*secret = form_get(&r->form, "secret"), *g = form_get(&r->form, "grace_s");
	json_t		*req, *reply, *data;
	char		 url[160], *end;
	long		 grace = -1;

	if (g != NULL) {
		grace = strtol(g, &end, 10);
		if (*end != '\0' || grace < 0 || grace > 90L * 86400) {
			admin_error(r, 400, "Bad grace period",
			    "Choose a grace period from the list.");
			return;
		}
	}
	req = json_pack("{ss ss ss}", "verb", "connection.rotate", "name", r->name, "secret",
	    secret != NULL ? secret : "");
	if (req != NULL && grace >= 0)
		json_object_set_new(req, "grace_s", json_integer(grace));
	reply = admin_call(r, ADMIN_CALL_SESSION | ADMIN_CALL_CSRF | ADMIN_CALL_SLOW, req);
	if (link_ok(reply)) {
		json_decref(reply);
		snprintf(url, sizeof(url), "/admin/rotation/%s?done=rotated", r->name);
		request_redirect(r, 303, url);
		return;
	}
	if (reply == NULL || (strcmp(admin_errcode(reply), "verification_failed") != 0 &&
	    strcmp(admin_errcode(reply), "bad_request") != 0)) {
		admin_fail(r, reply);
		return;
	}
	data = json_object();
	json_object_set_new(data, "error", json_string(strcmp(admin_errcode(reply),
	    "verification_failed") == 0 ? "The upstream refused the new secret. Nothing was "
	    "changed: the current secret stays in use." : admin_errmsg(reply,
	    "The new secret was refused.")));
	json_object_set_new(data, "err_secret", json_string(strcmp(admin_errcode(reply),
	    "verification_failed") == 0 ? "Refused by the upstream. Paste the secret exactly "
	    "as the upstream shows it." : admin_errmsg(reply, "Refused.")));
	if (link_str(reply, "message") != NULL)
		json_object_set_new(data, "error_detail", json_string(link_str(reply, "message")));
	json_decref(reply);
	admin_conn_page(r, 422, "rotation_show", data);
}

/* retire, stop, resume: one verb each, then back to the connection's rotation page. */
static void
admin_conn_action(struct request *r, const char *verb, const char *done)
{
	json_t	*reply, *st;
	char	 url[256];

	reply = admin_call(r, ADMIN_CALL_SESSION | ADMIN_CALL_CSRF, json_pack("{ss ss}", "verb",
	    verb,
	    "name", r->name));
	if (!link_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	snprintf(url, sizeof(url), "/admin/rotation/%s?done=%s", r->name, done);
	if ((st = json_object_get(reply, "stopped")) != NULL)	/* what the stop stopped */
		snprintf(url + strlen(url), sizeof(url) - strlen(url), "&n=%lld.%lld.%lld.%lld",
		    (long long)json_integer_value(json_object_get(st, "cached_tokens_dropped")),
		    (long long)json_integer_value(json_object_get(st, "user_sessions_cleared")),
		    (long long)json_integer_value(json_object_get(st, "held_replies_refused")),
		    (long long)json_integer_value(json_object_get(st,
		    "upstream_requests_dropped")));
	json_decref(reply);
	request_redirect(r, 303, url);
}

/* POST /admin/rotation/NAME/retire: erase the previous secret. */
static void
admin_conn_retire(struct request *r)
{
	admin_conn_action(r, "connection.retire", "retired");
}

/* POST /admin/rotation/NAME/stop: the emergency stop. */
static void
admin_conn_stop(struct request *r)
{
	admin_conn_action(r, "connection.stop", "stopped");
}

/* POST /admin/rotation/NAME/resume */
static void
admin_conn_resume(struct request *r)
{
	admin_conn_action(r, "connection.resume", "resumed");
}

