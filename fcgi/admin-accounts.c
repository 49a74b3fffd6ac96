/*
 * The admin accounts (the people who use this UI, not the end users of apps): the list, adding
 * one, roles, disabling and enabling (/admin/users), and your own account and password
 * (/admin/account).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fcgi.h"

static void	admin_accounts_list(struct request *);
static void	admin_accounts_add(struct request *);
static void	admin_accounts_role(struct request *);
static void	admin_accounts_disable(struct request *);
static void	admin_accounts_enable(struct request *);
static void	admin_accounts_mine(struct request *);
static void	admin_accounts_password(struct request *);

#define ADMIN_ACCOUNTS_POST	(ROUTE_ADMIN | ROUTE_SESSION | ROUTE_FORM | ROUTE_CSRF)

const struct route admin_accounts_routes[] = {
	{ "GET", "/admin/users", ROUTE_ADMIN | ROUTE_SESSION, 0, admin_accounts_list },
	{ "POST", "/admin/users", ADMIN_ACCOUNTS_POST, 0, admin_accounts_add },
	{ "POST", "/admin/users/*/role", ADMIN_ACCOUNTS_POST, 0, admin_accounts_role },
	{ "POST", "/admin/users/*/disable", ADMIN_ACCOUNTS_POST, 0, admin_accounts_disable },
	{ "POST", "/admin/users/*/enable", ADMIN_ACCOUNTS_POST, 0, admin_accounts_enable },
	{ "GET", "/admin/account", ROUTE_ADMIN | ROUTE_SESSION, 0, admin_accounts_mine },
	{ "POST", "/admin/account/password", ADMIN_ACCOUNTS_POST, 0, admin_accounts_password },
	{ NULL, NULL, 0, 0, NULL }
};

/* The admin accounts page: a page of accounts with their roles, and the form to add one. */
static void
admin_accounts_page(struct request *r, int status, json_t *extra)
{
	static const char *const times[] = { "created_at", "last_login", NULL };
	static const char *const roles[] = { "admin", "security", "auditor", NULL };
	json_t		*reply, *users, *u, *data, *rl, *pager;
	size_t		 i, k;
	const char	*role;

	reply = admin_list_call(r, "account.list");
	if (!link_ok(reply)) {
		json_decref(extra);
		admin_fail(r, reply);
		return;
	}
	users = json_deep_copy(json_object_get(reply, "users"));
	pager = admin_list_pager(r, reply, "users", "/admin/users");
	json_decref(reply);
	if (users == NULL)
		users = json_array();
	json_array_foreach(users, i, u) {
		admin_times(u, times);
		role = link_str(u, "role");
		rl = json_array();
		for (k = 0; roles[k] != NULL; k++)
			json_array_append_new(rl, json_pack("{ss sb}", "value", roles[k],
			    "selected",
			    role != NULL && strcmp(role, roles[k]) == 0));
		json_object_set_new(u, "roles", rl);
		json_object_set_new(u, "is_me", json_boolean(r->user != NULL &&
		    link_str(u, "name") != NULL && strcmp(r->user, link_str(u, "name")) == 0));
	}
	data = extra != NULL ? extra : json_object();
	json_object_set_new(data, "users", users);
	json_object_set_new(data, "pager", pager);
	rl = json_array();
	role = form_get(&r->form, "role");
	for (k = 0; roles[k] != NULL; k++)
		json_array_append_new(rl, json_pack("{ss sb}", "value", roles[k], "selected",
		    role != NULL ? strcmp(role, roles[k]) == 0 : strcmp(roles[k], "auditor") == 0));
	json_object_set_new(data, "roles", rl);
	admin_page(r, status, "users", "users", "Users", data);
}

/* GET /admin/users; other roles get the page's sentence naming the role that manages users. */
static void
admin_accounts_list(struct request *r)
{
	if (r->role == NULL || strcmp(r->role, "admin") != 0) {
		admin_page(r, 403, "users", "users", "Users", json_object());
		return;
	}
	admin_accounts_page(r, 200, NULL);
}

/* POST /admin/users: a new admin account. */
static void
admin_accounts_add(struct request *r)
{
	const char	*name = form_get(&r->form, "name"), *role = form_get(&r->form, "role");
	const char	*pw = form_get(&r->form, "password");
	json_t		*reply, *data;
	int		 status;

	reply = admin_call(r, ADMIN_CALL_SESSION | ADMIN_CALL_CSRF, json_pack("{ss ss ss ss}",
	    "verb",
	    "account.add", "name", name != NULL ? name : "", "role", role != NULL ? role : "",
	    "password", pw != NULL ? pw : ""));
	if (link_ok(reply)) {
		json_decref(reply);
		request_redirect(r, 303, "/admin/users?done=user_added");
		return;
	}
	if (reply == NULL || (strcmp(admin_errcode(reply), "bad_request") != 0 &&
	    strcmp(admin_errcode(reply), "conflict") != 0)) {
		admin_fail(r, reply);
		return;
	}
	data = json_object();
	admin_form_error(data, reply, strcmp(admin_errcode(reply), "conflict") == 0 ? "name" :
	    "password");
	if (name != NULL)
		json_object_set_new(data, "new_name", json_string(name));
	status = admin_form_status(admin_errcode(reply));
	json_decref(reply);
	admin_accounts_page(r, status, data);
}

/* One verb on an account, then back to the list with its message. */
static void
admin_accounts_action(struct request *r, json_t *req, const char *done)
{
	json_t	*reply;
	char	 url[96];

	reply = admin_call(r, ADMIN_CALL_SESSION | ADMIN_CALL_CSRF, req);
	if (!link_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	json_decref(reply);
	snprintf(url, sizeof(url), "/admin/users?done=%s", done);
	request_redirect(r, 303, url);
}

/* POST /admin/users/NAME/role */
static void
admin_accounts_role(struct request *r)
{
	const char *role = form_get(&r->form, "role");

	admin_accounts_action(r, json_pack("{ss ss ss}", "verb", "account.set_role", "name", r->name,
	    "role", role != NULL ? role : ""), "role_changed");
}

/* POST /admin/users/NAME/disable: the account's sessions end too. */
static void
admin_accounts_disable(struct request *r)
{
	admin_accounts_action(r, json_pack("{ss ss}", "verb", "account.disable", "name", r->name),
	    "user_disabled");
}

/* POST /admin/users/NAME/enable */
static void
admin_accounts_enable(struct request *r)
{
	admin_accounts_action(r, json_pack("{ss ss}", "verb", "account.enable", "name", r->name),
	    "user_enabled");
}

/* GET /admin/account: your own account. */
static void
admin_accounts_mine(struct request *r)
{
	json_t	*data = json_object();

	if (r->sess != NULL && json_is_integer(json_object_get(r->sess, "idle_s"))) {
		char span[32];

		admin_fmt_span(span, sizeof(span), json_integer_value(json_object_get(r->sess,
		    "idle_s")));
		json_object_set_new(data, "idle_text", json_string(span));
	}
	admin_page(r, 200, "account", "account", "Your account", data);
}

/* POST /admin/account/password: the old password, the new one twice. */
static void
admin_accounts_password(struct request *r)
{
	const char	*old = form_get(&r->form, "old_password");
	const char	*pw = form_get(&r->form, "new_password");
	const char	*again = form_get(&r->form, "new_password_again");
	json_t		*reply, *data;

	if (old == NULL || pw == NULL || again == NULL || strcmp(pw, again) != 0) {
		admin_page(r, 400, "account", "account", "Your account", json_pack("{ss}",
		    "err_new", old == NULL || pw == NULL || again == NULL ?
		    "Fill in all three fields." : "The two new passwords differ."));
		return;
	}
	reply = admin_call(r, ADMIN_CALL_SESSION | ADMIN_CALL_CSRF, json_pack("{ss ss ss}", "verb",
	    "account.password", "old_password", old, "new_password", pw));
	if (link_ok(reply)) {
		json_decref(reply);
		request_redirect(r, 303, "/admin/account?done=password_changed");
		return;
	}
	if (reply == NULL || (strcmp(admin_errcode(reply), "bad_request") != 0 &&
	    strcmp(admin_errcode(reply), "login_failed") != 0 &&
	    strcmp(admin_errcode(reply), "rate_limited") != 0)) {
		admin_fail(r, reply);
		return;
	}
	data = json_object();
	if (strcmp(admin_errcode(reply), "login_failed") == 0)
		json_object_set_new(data, "err_old", json_string("That is not your current "
		    "password."));
	else
		json_object_set_new(data, "err_new", json_string(admin_errmsg(reply,
		    "The new password was refused.")));
	json_decref(reply);
	admin_page(r, 400, "account", "account", "Your account", data);
}

