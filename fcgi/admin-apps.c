/*
 * The apps pages: the list, the registration form (pre-filled by the wizard), the page that
 * shows a new credential exactly once, an app's page with its scopes, its proxy body cap,
 * rotation, revocation.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"

static void	admin_apps_list(struct request *);
static void	admin_apps_add(struct request *);
static void	admin_apps_new(struct request *);
static void	admin_apps_show(struct request *);
static void	admin_apps_set_scopes(struct request *);
static void	admin_apps_set_body_cap(struct request *);
static void	admin_apps_rotate(struct request *);
static void	admin_apps_revoke(struct request *);

#define ADMIN_APPS_POST	(ROUTE_ADMIN | ROUTE_SESSION | ROUTE_FORM | ROUTE_CSRF)

const struct route admin_apps_routes[] = {
	{ "GET", "/admin/apps", ROUTE_ADMIN | ROUTE_SESSION, 0, admin_apps_list },
	{ "POST", "/admin/apps", ADMIN_APPS_POST, 0, admin_apps_add },
	{ "GET", "/admin/apps/new", ROUTE_ADMIN | ROUTE_SESSION, 0, admin_apps_new },
	{ "GET", "/admin/apps/*", ROUTE_ADMIN | ROUTE_SESSION, 0, admin_apps_show },
	{ "POST", "/admin/apps/*/scopes", ADMIN_APPS_POST, 0, admin_apps_set_scopes },
	{ "POST", "/admin/apps/*/body-cap", ADMIN_APPS_POST, 0, admin_apps_set_body_cap },
	{ "POST", "/admin/apps/*/rotate", ADMIN_APPS_POST, 0, admin_apps_rotate },
	{ "POST", "/admin/apps/*/revoke", ADMIN_APPS_POST, 0, admin_apps_revoke },
	{ NULL, NULL, 0, 0, NULL }
};

#define ADMIN_LIST_ALL_MAX	2000	/* connections offered in the app form */

/* The scopes an app may be allowed; the policy says which of them are limited. */
static const struct scope_info {
	const char	*id;
	const char	*help;
} admin_apps_scope_table[] = {
	{ "transcribe", "live transcription over the /transcribe WebSocket" },
	{ "streams", "interaction streams over the /streams WebSocket" },
	{ "interactions", "the REST API: create and read interactions (backend only)" },
};

static struct buf	apps_buf;

static const char *const admin_apps_times[] = { "created_at", "revoked_at", "last_used",
    "previous_valid_until", NULL };

/* GET /admin/apps: the registered apps, a page at a time. */
static void
admin_apps_list(struct request *r)
{
	json_t	*reply, *apps, *a, *pager;
	size_t	 i;

	reply = admin_list_call(r, "app.list");
	if (!link_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	apps = json_deep_copy(json_object_get(reply, "apps"));
	pager = admin_list_pager(r, reply, "apps", "/admin/apps");
	json_decref(reply);
	if (apps == NULL)
		apps = json_array();
	json_array_foreach(apps, i, a) {
		admin_times(a, admin_apps_times);
		/* ROPC registrations carry a warning badge wherever they are listed */
		json_object_set_new(a, "is_ropc", json_boolean(link_str(a, "flow") != NULL &&
		    strcmp(link_str(a, "flow"), "ropc") == 0));
	}
	admin_page(r, 200, "apps", "apps", "Apps", json_pack("{so sb so}", "apps", apps,
	    "has_apps", json_array_size(apps) > 0, "pager", pager));
}

/* Every connection (up to ADMIN_LIST_ALL_MAX), a page at a time, as the form's choices. */
static void
admin_apps_connections(struct request *r, json_t *conns, const char *conn)
{
	json_t		*reply, *c, *next = NULL;
	const char	*n;
	size_t		 i;
	int		 more;

	do {
		reply = admin_call(r, ADMIN_CALL_SESSION, next == NULL ? json_pack("{ss si}",
		    "verb",
		    "connection.list", "limit", 1000) : json_pack("{ss si sO}", "verb",
		    "connection.list", "limit", 1000, "after", next));
		json_decref(next);
		next = NULL;
		json_array_foreach(link_ok(reply) ? json_object_get(reply, "connections") : NULL,
		    i, c) {
			if ((n = link_str(c, "name")) != NULL)
				json_array_append_new(conns, json_pack("{ss sb sb}", "name", n,
				    "selected", conn != NULL && strcmp(conn, n) == 0, "stopped",
				    json_is_true(json_object_get(c, "stopped"))));
		}
		more = link_ok(reply) && json_is_true(json_object_get(reply, "more")) &&
		    json_array_size(conns) < ADMIN_LIST_ALL_MAX;
		if (more)
			next = json_incref(json_object_get(reply, "next"));
		json_decref(reply);
	} while (more && next != NULL);
	/* the only connection is the obvious choice */
	if (conn == NULL && json_array_size(conns) == 1)
		json_object_set_new(json_array_get(conns, 0), "selected", json_true());
}

/* Whether the space-separated list holds word. */
static int
admin_apps_has(const char *list, const char *word)
{
	const char	*p = list;
	size_t		 n = strlen(word);

	while (p != NULL && (p = strstr(p, word)) != NULL) {
		if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
			return 1;
		p += n;
	}
	return 0;
}

/*
 * The scope checkboxes: ticked as in list when given, else as in the form f when given, else
 * the limited scopes (a new form starts with those).
 */
static json_t *
admin_apps_scope_list(json_t *policy, const char *list, const struct form *f)
{
	json_t		*scopes = json_array(), *limited, *c;
	char		 field[40];
	size_t		 i, k;
	int		 lim, checked;

	limited = json_object_get(policy, "limited_scopes");
	for (k = 0; k < sizeof(admin_apps_scope_table) / sizeof(admin_apps_scope_table[0]); k++) {
		lim = 0;
		json_array_foreach(limited, i, c) {
			if (json_is_string(c) && strcmp(json_string_value(c),
			    admin_apps_scope_table[k].id) == 0)
				lim = 1;
		}
		snprintf(field, sizeof(field), "scope_%s", admin_apps_scope_table[k].id);
		if (list != NULL)
			checked = admin_apps_has(list, admin_apps_scope_table[k].id);
		else if (f != NULL)
			checked = admin_checked(f, field);
		else
			checked = lim;
		json_array_append_new(scopes, json_pack("{ss ss ss sb sb}", "id",
		    admin_apps_scope_table[k].id, "field", field, "help",
		    admin_apps_scope_table[k].help,
		    "limited", lim, "checked", checked));
	}
	return scopes;
}

/* The flows of the policy to choose from, and the wizard's row the form came from. */
static void
admin_apps_flows(json_t *data, json_t *policy, const struct form *f)
{
	const char		*flow = form_get(f, "flow"), *from = form_get(f, "from"), *id;
	const struct wizard	*w = admin_wizard_tree();
	json_t			*flows = json_array(), *fl, *c, *row = NULL;
	size_t			 i;

	json_object_foreach(json_object_get(policy, "flows"), id, fl)
		json_array_append_new(flows, json_pack("{ss ss* ss* sb}", "id", id, "label",
		    link_str(fl, "label"), "summary", link_str(fl, "summary"), "selected",
		    flow != NULL && strcmp(flow, id) == 0));
	json_object_set_new(data, "flows", flows);
	if (from == NULL)
		return;
	json_object_set_new(data, "from_id", json_string(from));
	json_array_foreach(w != NULL ? w->rows : NULL, i, c) {
		if (link_str(c, "id") != NULL && strcmp(link_str(c, "id"), from) == 0)
			row = c;
	}
	if (row == NULL && w != NULL && strcmp(from, "fallback") == 0)
		row = w->fallback;
	if (row != NULL)
		json_object_set_new(data, "from", json_pack("{ss* sO*}", "scenario",
		    link_str(row, "scenario") != NULL ? link_str(row, "scenario") :
		    "no backend that keeps a secret", "notes", json_object_get(row, "notes")));
}

/*
 * Whether "It can redirect its users" starts ticked: as the link or the refused form said;
 * a new form ticks it only for user-facing apps (a backend app has no users to redirect).
 */
static int
admin_apps_can_redirect(const struct form *f, int fresh)
{
	const char	*cr = form_get(f, "can_redirect"), *kind = form_get(f, "kind");

	if (!fresh)
		return admin_checked(f, "can_redirect");
	if (cr != NULL)
		return strcmp(cr, "no") != 0;
	return kind != NULL && (strcmp(kind, "user_facing") == 0 || strcmp(kind, "assistant") == 0);
}

/* The fields typed in that go back into the form, and the sections to open. */
static void
admin_apps_kept(struct request *r, json_t *data, const struct form *f, int fresh)
{
	static const char *const keep[] = { "name", "justification", "redirect_uri",
	    "return_url", "proxy_methods", "proxy_paths", "proxy_body_max_mib", NULL };
	const char		*flow = form_get(f, "flow");
	char			 uri[300];
	size_t			 k;

	for (k = 0; keep[k] != NULL; k++) {
		if (form_get(f, keep[k]) != NULL)
			json_object_set_new(data, keep[k], json_string(form_get(f, keep[k])));
	}
	/* a new form for a sign-in flow suggests flowgate's own /callback */
	if (fresh && json_object_get(data, "redirect_uri") == NULL &&
	    admin_wizard_flow_redirects(flow)) {
		snprintf(uri, sizeof(uri), "%s://%s/callback", r->https ? "https" : "http",
		    r->host);
		json_object_set_new(data, "redirect_uri", json_string(uri));
	}
	json_object_set_new(data, "user_open", json_boolean(admin_wizard_flow_redirects(flow) ||
	    form_get(f, "return_url") != NULL));
	json_object_set_new(data, "proxy_open", json_boolean(form_get(f, "proxy_methods") !=
	    NULL || form_get(f, "proxy_paths") != NULL || (form_get(f, "proxy_body_max_mib") !=
	    NULL && strcmp(form_get(f, "proxy_body_max_mib"), "200") != 0)));
}

/*
 * The proxy body cap typed in, onto req as an integer (none: the default, unless required);
 * anything but a small number goes as 0, which the daemon refuses with its range (the one
 * place that knows it).
 */
static void
admin_apps_body_cap(const struct form *f, json_t *req, int required)
{
	const char		*v = form_get(f, "proxy_body_max_mib");
	unsigned long long	 mib;

	if (req == NULL || (v == NULL && !required))
		return;
	if (fg_decimal(v, 4, &mib) == -1)
		mib = 0;
	json_object_set_new(req, "proxy_body_max_mib", json_integer((json_int_t)mib));
}

/*
 * The app form's data: flows from the policy, connections from the daemon, and the values
 * to show (from the query string for a new form, from the refused POST otherwise).
 */
static json_t *
admin_apps_form(struct request *r, const struct form *f, int fresh)
{
	json_t		*data = json_object(), *conns = json_array(), *policy;
	const char	*kind = form_get(f, "kind"), *scopes = form_get(f, "scopes");

	policy = admin_wizard_policy(r);
	admin_apps_flows(data, policy, f);
	admin_apps_connections(r, conns, form_get(f, "connection"));
	json_object_set_new(data, "connections", conns);
	json_object_set_new(data, "has_connections", json_boolean(json_array_size(conns) > 0));
	json_object_set_new(data, "scopes", admin_apps_scope_list(policy, fresh ? scopes : NULL,
	    fresh ? NULL : f));
	json_object_set_new(data, "kinds", json_pack("[{ss ss ss sb} {ss ss ss sb} {ss ss ss sb}]",
	    "id", "backend", "label", "Backend (no user; the token stays on servers)",
	    "field", "kind_backend", "checked", kind != NULL && strcmp(kind, "backend") == 0,
	    "id", "user_facing", "label", "User-facing (a user is present; tokens may reach a "
	    "browser)", "field", "kind_user_facing", "checked",
	    kind != NULL && strcmp(kind, "user_facing") == 0,
	    "id", "assistant", "label", "Embedded Corti Assistant (the user's own full token "
	    "set reaches the user's browser: Corti requires it)", "field", "kind_assistant",
	    "checked", kind != NULL && strcmp(kind, "assistant") == 0));
	json_object_set_new(data, "internal", json_boolean(admin_checked(f, "internal")));
	json_object_set_new(data, "can_redirect", json_boolean(admin_apps_can_redirect(f,
	    fresh)));
	admin_apps_kept(r, data, f, fresh);
	return data;
}

/* GET /admin/apps/new: the form, pre-filled from the query string (the wizard's link). */
static void
admin_apps_new(struct request *r)
{
	admin_page(r, 200, "app_new", "apps", "Register an app", admin_apps_form(r, &r->query, 1));
}

/*
 * How to fetch a token with a fresh credential, keeping the secret out of argv (ps) and
 * shell history: the command reads a curl config from its standard input (-K -), and the
 * config holds the credential and the form fields.
 */
static void
admin_apps_curl(struct request *r, json_t *data, const char *id, const char *secret,
    const char *flow, const char *scopes)
{
	const char	*scope = "streams";
	char		 first[64];

	if (scopes != NULL && strstr(scopes, "streams") == NULL) {
		snprintf(first, sizeof(first), "%.*s", (int)strcspn(scopes, " "), scopes);
		scope = first;
	}
	buf_reset(&apps_buf);
	buf_addf(&apps_buf, "curl -K - %s://%s/oauth2/token", r->https ? "https" : "http",
	    r->host);
	json_object_set_new(data, "curl", json_string(buf_str(&apps_buf)));
	buf_reset(&apps_buf);
	buf_addf(&apps_buf, "user = \"%s:%s\"\n", id, secret);
	if (flow != NULL && strcmp(flow, "ropc") == 0)
		buf_adds(&apps_buf, "data = \"grant_type=password\"\n"
		    "data = \"username=USER\"\ndata = \"password=PASSWORD\"\n");
	else
		buf_adds(&apps_buf, "data = \"grant_type=client_credentials\"\n");
	buf_addf(&apps_buf, "data = \"scope=%s\"", scope);
	json_object_set_new(data, "curl_config", json_string(buf_str(&apps_buf)));
	buf_wipe(&apps_buf);
}

/* The one page that ever shows an app credential: the answer to the POST that made it. */
static void
admin_apps_secret(struct request *r, json_t *reply, const char *name, const char *what)
{
	const char	*id = link_str(reply, "client_id"), *secret = link_str(reply,
	    "client_secret"), *flow = link_str(reply, "flow");
	json_t		*data;

	if (id == NULL || secret == NULL) {
		admin_error(r, 500, "Unexpected answer", "The daemon sent no credential.");
		return;
	}
	data = json_pack("{ss ss ss ss ss* ss*}", "name", name, "client_id", id,
	    "client_secret", secret, "what", what, "flow", flow, "scopes",
	    link_str(reply, "scopes"));
	admin_apps_curl(r, data, id, secret, flow, link_str(reply, "scopes"));
	if (json_is_integer(json_object_get(reply, "previous_valid_until"))) {
		static const char *const t[] = { "previous_valid_until", NULL };

		json_object_set(data, "previous_valid_until",
		    json_object_get(reply, "previous_valid_until"));
		admin_times(data, t);
	}
	if (flow != NULL && strcmp(flow, "client_credentials") != 0 && strcmp(flow, "ropc") != 0) {
		char url[400];

		snprintf(url, sizeof(url), "%s://%s/login/%s", r->https ? "https" : "http", r->host,
		    name);
		json_object_set_new(data, "user_flow", json_true());
		json_object_set_new(data, "login_url", json_string(url));
	}
	admin_page(r, 201, "app_secret", "apps", "App credential", data);
}

/* Space-separated scopes from the scope_* checkboxes. */
static void
admin_apps_form_scopes(const struct form *f, char *out, size_t n)
{
	char	field[40];
	size_t	k, len = 0;

	out[0] = '\0';
	for (k = 0; k < sizeof(admin_apps_scope_table) / sizeof(admin_apps_scope_table[0]); k++) {
		snprintf(field, sizeof(field), "scope_%s", admin_apps_scope_table[k].id);
		if (admin_checked(f, field))
			len += (size_t)snprintf(out + len, n - len, "%s%s", len ? " " : "",
			    admin_apps_scope_table[k].id);
	}
}

/* POST /admin/apps: register (app.add); the credential is shown once, or the form again. */
static void
admin_apps_add(struct request *r)
{
	const char	*name = form_get(&r->form, "name"), *flow = form_get(&r->form, "flow");
	const char	*conn = form_get(&r->form, "connection");
	const char	*kind = form_get(&r->form, "kind");
	const char	*just = form_get(&r->form, "justification");
	char		 scopes[256];
	json_t		*req, *reply, *data;

	admin_apps_form_scopes(&r->form, scopes, sizeof(scopes));
	req = json_pack("{ss ss ss ss ss ss sb sb}", "verb", "app.add",
	    "name", name != NULL ? name : "", "flow", flow != NULL ? flow : "",
	    "connection", conn != NULL ? conn : "", "scopes", scopes,
	    "kind", kind != NULL ? kind : "",
	    "internal", admin_checked(&r->form, "internal"),
	    "can_redirect", admin_checked(&r->form, "can_redirect"));
	if (req != NULL && just != NULL)
		json_object_set_new(req, "justification", json_string(just));
	admin_wizard_policy(r);
	if (req != NULL && admin_wizard_flow_redirects(flow)) {
		/* sign-in fields only for the flows that sign users in */
		if (form_get(&r->form, "redirect_uri") != NULL)
			json_object_set_new(req, "redirect_uri",
			    json_string(form_get(&r->form, "redirect_uri")));
		if (form_get(&r->form, "return_url") != NULL)
			json_object_set_new(req, "return_url",
			    json_string(form_get(&r->form, "return_url")));
	}
	if (req != NULL && form_get(&r->form, "proxy_methods") != NULL)
		json_object_set_new(req, "proxy_methods",
		    json_string(form_get(&r->form, "proxy_methods")));
	if (req != NULL && form_get(&r->form, "proxy_paths") != NULL)
		json_object_set_new(req, "proxy_paths",
		    json_string(form_get(&r->form, "proxy_paths")));
	admin_apps_body_cap(&r->form, req, 0);
	reply = admin_call(r, ADMIN_CALL_SESSION | ADMIN_CALL_CSRF, req);
	if (link_ok(reply)) {
		admin_apps_secret(r, reply, name != NULL ? name : "", "created");
		admin_wipe_field(reply, "client_secret");
		json_decref(reply);
		return;
	}
	if (reply == NULL || strcmp(admin_errcode(reply), "unauthenticated") == 0 ||
	    strcmp(admin_errcode(reply), "csrf") == 0 ||
	    strcmp(admin_errcode(reply), "forbidden") == 0 ||
	    strcmp(admin_errcode(reply), "unknown_verb") == 0) {
		admin_fail(r, reply);
		return;
	}
	data = admin_apps_form(r, &r->form, 0);
	admin_form_error(data, reply, NULL);
	if (strcmp(admin_errcode(reply), "conflict") == 0 && name != NULL &&
	    fg_name_ok(name, strlen(name)))
		json_object_set_new(data, "name_taken", json_string(name));
	admin_page(r, admin_form_status(admin_errcode(reply)), "app_new", "apps",
	    "Register an app", data);
	json_decref(reply);
}

/* An app's page: details, its scopes to edit, rotation and revocation. */
static void
admin_apps_page(struct request *r, int status, json_t *extra)
{
	json_t		*reply, *app, *scopes, *data, *policy;

	reply = admin_call(r, ADMIN_CALL_SESSION, json_pack("{ss ss}", "verb", "app.show", "name",
	    r->name));
	if (!link_ok(reply)) {
		json_decref(extra);
		admin_fail(r, reply);
		return;
	}
	app = json_deep_copy(json_object_get(reply, "app"));
	json_decref(reply);
	if (app == NULL)
		app = json_object();
	admin_times(app, admin_apps_times);
	policy = admin_wizard_policy(r);
	scopes = admin_apps_scope_list(policy, link_str(app, "scopes") != NULL ?
	    link_str(app, "scopes") : "", NULL);
	json_object_set_new(app, "is_ropc", json_boolean(link_str(app, "flow") != NULL &&
	    strcmp(link_str(app, "flow"), "ropc") == 0));
	json_object_set_new(app, "is_assistant", json_boolean(link_str(app, "kind") != NULL &&
	    strcmp(link_str(app, "kind"), "assistant") == 0));
	if (json_is_object(json_object_get(json_object_get(policy, "flows"),
	    link_str(app, "flow"))))
		json_object_set_new(app, "flow_label", json_string(link_str(json_object_get(
		    json_object_get(policy, "flows"), link_str(app, "flow")), "label")));
	data = extra != NULL ? extra : json_object();
	json_object_set_new(data, "app", app);
	json_object_set_new(data, "scopes", scopes);
	json_object_set_new(data, "revoked", json_boolean(json_is_integer(json_object_get(app,
	    "revoked_at")) && json_integer_value(json_object_get(app, "revoked_at")) > 0));
	admin_page(r, status, "app_show", "apps", link_str(app, "name") != NULL ?
	    link_str(app, "name") : "App", data);
}

/* GET /admin/apps/NAME */
static void
admin_apps_show(struct request *r)
{
	admin_apps_page(r, 200, NULL);
}

/* POST /admin/apps/NAME/scopes: app.update; a policy refusal is shown on the page. */
static void
admin_apps_set_scopes(struct request *r)
{
	char	 scopes[256], url[160];
	json_t	*reply, *data;

	admin_apps_form_scopes(&r->form, scopes, sizeof(scopes));
	reply = admin_call(r, ADMIN_CALL_SESSION | ADMIN_CALL_CSRF, json_pack("{ss ss ss}", "verb",
	    "app.update", "name", r->name, "scopes", scopes));
	if (link_ok(reply)) {
		json_decref(reply);
		snprintf(url, sizeof(url), "/admin/apps/%s?done=scopes_updated", r->name);
		request_redirect(r, 303, url);
		return;
	}
	if (reply == NULL || strcmp(admin_errcode(reply), "policy") != 0) {
		admin_fail(r, reply);
		return;
	}
	admin_wizard_policy(r);
	data = json_object();
	admin_form_error(data, reply, "scopes");
	json_decref(reply);
	admin_apps_page(r, 422, data);
}

/* POST /admin/apps/NAME/body-cap: app.update of the proxy body cap; a refusal on the page. */
static void
admin_apps_set_body_cap(struct request *r)
{
	char	 url[160];
	json_t	*req, *reply, *data;

	req = json_pack("{ss ss}", "verb", "app.update", "name", r->name);
	admin_apps_body_cap(&r->form, req, 1);
	reply = admin_call(r, ADMIN_CALL_SESSION | ADMIN_CALL_CSRF, req);
	if (link_ok(reply)) {
		json_decref(reply);
		snprintf(url, sizeof(url), "/admin/apps/%s?done=body_cap_updated", r->name);
		request_redirect(r, 303, url);
		return;
	}
	if (reply == NULL || strcmp(admin_errcode(reply), "bad_request") != 0) {
		admin_fail(r, reply);
		return;
	}
	data = json_object();
	admin_form_error(data, reply, "proxy_body_max_mib");
	json_object_del(data, "error");	/* said next to the cap, not above the scopes */
	json_decref(reply);
	admin_apps_page(r, 400, data);
}

/* POST /admin/apps/NAME/rotate: a new secret, the old one valid for the overlap chosen. */
static void
admin_apps_rotate(struct request *r)
{
	const char	*ov = form_get(&r->form, "overlap_s");
	json_t		*req, *reply, *show, *app;
	char		*end;
	long		 overlap = 86400;

	if (ov != NULL) {
		overlap = strtol(ov, &end, 10);
		if (*end != '\0' || overlap < 0 || overlap > 30L * 86400) {
			admin_error(r, 400, "Bad overlap",
			    "Choose an overlap period from the list.");
			return;
		}
	}
	/* the rotation's answer names only the credential: flow and scopes come from app.show */
	show = admin_call(r, ADMIN_CALL_SESSION, json_pack("{ss ss}", "verb", "app.show", "name",
	    r->name));
	if (!link_ok(show)) {
		admin_fail(r, show);
		return;
	}
	req = json_pack("{ss ss sI}", "verb", "app.rotate_secret", "name", r->name, "overlap_s",
	    (json_int_t)overlap);
	reply = admin_call(r, ADMIN_CALL_SESSION | ADMIN_CALL_CSRF, req);
	if (!link_ok(reply)) {
		json_decref(show);
		admin_fail(r, reply);
		return;
	}
	app = json_object_get(show, "app");
	if (json_object_get(reply, "flow") == NULL && json_is_string(json_object_get(app, "flow")))
		json_object_set(reply, "flow", json_object_get(app, "flow"));
	if (json_object_get(reply, "scopes") == NULL &&
	    json_is_string(json_object_get(app, "scopes")))
		json_object_set(reply, "scopes", json_object_get(app, "scopes"));
	json_decref(show);
	admin_apps_secret(r, reply, r->name, "rotated");
	admin_wipe_field(reply, "client_secret");
	json_decref(reply);
}

/* POST /admin/apps/NAME/revoke */
static void
admin_apps_revoke(struct request *r)
{
	json_t	*reply;
	char	 url[160];

	reply = admin_call(r, ADMIN_CALL_SESSION | ADMIN_CALL_CSRF, json_pack("{ss ss}", "verb",
	    "app.revoke", "name", r->name));
	if (!link_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	json_decref(reply);
	snprintf(url, sizeof(url), "/admin/apps/%s?done=app_revoked", r->name);
	request_redirect(r, 303, url);
}

