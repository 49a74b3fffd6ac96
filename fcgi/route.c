/*
 * The route table: every route flowgate-fcgi answers, in one list of the groups each file
 * exports beside its handlers (in the manner of tmux's cmd_table).  route_dispatch matches a
 * request to its row, answers 404 and 405 in the style of the part of the site it is in, runs
 * the steps the row's flags ask for, and calls the handler.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fcgi.h"
#include "log.h"

static const struct route *const route_table[] = {
	token_routes,
	health_routes,
	metrics_routes,
	enduser_login_routes,
	enduser_session_routes,
	enduser_embed_routes,
	enduser_stream_routes,
	enduser_proxy_routes,
	enduser_authorize_routes,
	admin_routes,
	admin_static_routes,
	admin_dashboard_routes,
	admin_wizard_routes,
	admin_apps_routes,
	admin_connections_routes,
	admin_audit_routes,
	admin_accounts_routes,
	admin_endusers_routes,
	NULL
};

static const struct route_flag {
	int		 flag;
	const char	*name;
} route_flags[] = {
	{ ROUTE_JSON, "json" }, { ROUTE_PAGE, "page" }, { ROUTE_ADMIN, "admin" },
	{ ROUTE_SESSION, "session" }, { ROUTE_FORM, "form" }, { ROUTE_CSRF, "csrf" },
	{ ROUTE_APP, "app" }, { ROUTE_ENDUSER, "enduser" }, { ROUTE_SANDBOX, "sandbox" },
	{ ROUTE_COUNTED, "counted" }, { ROUTE_BARE, "bare" },
};

/* Print the table, one row a line: methods, pattern, flags, tab-separated (flowgate-fcgi -R). */
void
route_print(FILE *f)
{
	const struct route *const	*g;
	const struct route		*rt;
	size_t				 i;
	int				 first;

	for (g = route_table; *g != NULL; g++) {
		for (rt = *g; rt->pattern != NULL; rt++) {
			fprintf(f, "%s\t%s\t", rt->method, rt->pattern);
			first = 1;
			for (i = 0; i < sizeof(route_flags) / sizeof(route_flags[0]); i++) {
				if (rt->flags & route_flags[i].flag) {
					fprintf(f, "%s%s", first ? "" : ",", route_flags[i].name);
					first = 0;
				}
			}
			fputc('\n', f);
		}
	}
}

/* Whether method is one of a row's methods ("GET" or "GET, POST"). */
static int
route_method_ok(const char *list, const char *method)
{
	size_t	n = strlen(method);

	while (*list != '\0') {
		if (strncmp(list, method, n) == 0 && (list[n] == '\0' || list[n] == ','))
			return 1;
		list += strcspn(list, ",");
		list += strspn(list, ", ");
	}
	return 0;
}

/*
 * Whether path matches pattern: '*' is one segment that is a name (captured into r->name),
 * '+' any one non-empty segment and a trailing "**" the rest, both left in r->rest.
 */
static int
route_match(struct request *r, const char *pattern, const char *path)
{
	const char	*p = pattern, *s = path;
	size_t		 n;

	while (*p != '\0') {
		if (p[0] == '*' && p[1] == '*') {
			r->rest = s;
			return 1;
		}
		if (*p == '*' || *p == '+') {
			n = strcspn(s, "/");
			if (*p == '*' && !fg_name_ok(s, n))
				return 0;
			if (n == 0)
				return 0;
			if (*p == '*') {
				memcpy(r->name, s, n);
				r->name[n] = '\0';
			} else
				r->rest = s;
			s += n;
			p++;
			continue;
		}
		if (*p++ != *s++)
			return 0;
	}
	return *s == '\0';
}

/* The first row whose path's first segment is the request's: how to say "not found" there. */
static const struct route *
route_area(const char *path)
{
	const struct route *const	*g;
	const struct route		*rt;
	size_t				 n = strcspn(path + 1, "/") + 1;

	for (g = route_table; *g != NULL; g++) {
		for (rt = *g; rt->pattern != NULL; rt++) {
			if (n > 1 && strncmp(rt->pattern, path, n) == 0 &&
			    (rt->pattern[n] == '/' || rt->pattern[n] == '\0'))
				return rt;
		}
	}
	return NULL;
}

/* Answer a path without a route (404) or a method the path does not take (405). */
static void
route_refuse(struct request *r, const struct route *area, int status)
{
	int	flags = area != NULL ? area->flags : ROUTE_JSON | ROUTE_COUNTED | ROUTE_BARE;

	r->route = area;
	request_security(r);
	if (flags & ROUTE_COUNTED)
		metrics_request(status == 404 ? METRICS_ROUTE_OTHER : area->metric,
		    status == 404 ? METRICS_NOT_FOUND : METRICS_METHOD_NOT_ALLOWED);
	if (flags & ROUTE_ADMIN)
		admin_error(r, status, status == 404 ? "Not found" : "Method not allowed",
		    status == 404 ? "There is no page at this address." :
		    "This address does not take that method.");
	else if (flags & ROUTE_PAGE)
		enduser_page(r, status, status == 404 ? "Not found" : "Method not allowed",
		    status == 404 ? "There is no page at this address." :
		    "This address does not take that method.", NULL);
	else {
		request_log_refusal(r, status == 404 ? "not_found" : "method_not_allowed", NULL);
		request_error(r, status, status == 404 ? "not_found" : "invalid_request",
		    status == 404 ? NULL : "method not allowed", 0);
	}
}

/*
 * The row for the request's method and path, or NULL; then *other is a row for the path with
 * other methods (or NULL), and allow lists every method the path has (allowlen bytes).
 */
const struct route *
route_lookup(struct request *r, const struct route **other, char *allow, size_t allowlen)
{
	const struct route *const	*g;
	const struct route		*rt;

	*other = NULL;
	allow[0] = '\0';
	for (g = route_table; *g != NULL; g++) {
		for (rt = *g; rt->pattern != NULL; rt++) {
			if (!route_match(r, rt->pattern, r->path))
				continue;
			if (route_method_ok(rt->method, r->method))
				return rt;
			if (!route_method_ok(allow, rt->method) &&
			    strlen(allow) + strlen(rt->method) + 3 < allowlen)
				snprintf(allow + strlen(allow), allowlen - strlen(allow),
				    "%s%s",
				    allow[0] != '\0' ? ", " : "", rt->method);
			*other = rt;
		}
	}
	return NULL;
}

/* The row for the request; NULL after answering 404 or 405 (with Allow: every method). */
static const struct route *
route_find(struct request *r)
{
	const struct route	*rt, *other;
	char			 allow[128];

	if ((rt = route_lookup(r, &other, allow, sizeof(allow))) != NULL)
		return rt;
	if (other != NULL) {
		request_header(r, "Allow: %s", allow);
		route_refuse(r, other, 405);
	} else
		route_refuse(r, route_area(r->path), 404);
	return NULL;
}

/* Serve one request: match its row, run the steps its flags ask for, call the handler. */
void
route_dispatch(FCGX_Request *fcgi, size_t max_body)
{
	static struct request	 r;
	const struct route	*rt;

	request_init(&r, fcgi, max_body);
	if ((rt = route_find(&r)) != NULL) {
		r.route = rt;
		request_security(&r);
		if (!(rt->flags & ROUTE_ADMIN) || admin_begin(&r) == 0)
			rt->handler(&r);
	}
	request_done(&r);
}
