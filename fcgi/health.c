/*
 * GET /healthz: whether the daemon answers, its database is writable and each connection's
 * credentials still get tokens.  "status" is "ok", "degraded" (the daemon serves, but the
 * latest outcome of at least one connection is a failure: those are named in "failing") or
 * "error" (the daemon or its database is down).  HTTP 200 for ok and degraded, 503 for error:
 * a load balancer should not take a healthy front end out because one tenant's upstream fails,
 * since the other connections still work; a monitoring system reads "status" and "failing".
 */
#include "config.h"

#include <string.h>

#include "fcgi.h"

static void	health_handle(struct request *);

const struct route health_routes[] = {
	{ "GET", "/healthz", ROUTE_JSON | ROUTE_COUNTED | ROUTE_BARE,
	    METRICS_ROUTE_HEALTHZ, health_handle },
	{ NULL, NULL, 0, 0, NULL }
};

/* The degraded connections among those the daemon listed: name, since when, why. */
static json_t *
health_failing(json_t *list)
{
	json_t		*out = json_array(), *c;
	const char	*status;
	size_t		 i;

	json_array_foreach(list, i, c) {
		status = link_str(c, "status");
		if (status == NULL || strcmp(status, "degraded") != 0)
			continue;
		json_array_append_new(out, json_pack("{sO* sO* sO*}", "name",
		    json_object_get(c, "name"), "since", json_object_get(c, "last_failure_at"),
		    "why", json_object_get(c, "last_failure")));
	}
	return out;
}

/* The reply's body: overall status, the parts, the failing connections and the counts. */
static json_t *
health_body(json_t *reply, int ok)
{
	json_t		*db = json_object_get(reply, "database"), *conns, *up, *body;
	const char	*cs;

	conns = json_object_get(reply, "connections");
	cs = link_str(conns, "status");
	if (json_is_object(up = json_object_get(reply, "upstream")))
		json_incref(up);
	else
		up = json_pack("{s:s}", "status", "unknown");
	body = json_pack("{s:s,s:s,s:s,s:o}", "status", !ok ? "error" : cs != NULL &&
	    strcmp(cs, "degraded") == 0 ? "degraded" : "ok", "daemon", reply != NULL ? "ok" :
	    "unreachable", "database", json_is_string(db) ? json_string_value(db) : "unknown",
	    "upstream", up);
	if (json_is_object(conns)) {
		json_object_set_new(body, "failing",
		    health_failing(json_object_get(conns, "connections")));
		json_object_set(body, "connections", json_object_get(conns, "counts"));
		json_object_set(body, "connection_states", json_object_get(conns, "connections"));
	}
	return body;
}

/* GET /healthz: 200 while the daemon answers and its database is writable, else 503. */
static void
health_handle(struct request *r)
{
	json_t	*reply, *body, *db;
	int	 ok;

	reply = link_ask("health");
	db = json_object_get(reply, "database");
	ok = json_is_string(db) && strcmp(json_string_value(db), "ok") == 0;
	body = health_body(reply, ok);
	if (!ok)
		request_log_refusal(r, "unhealthy",
		    reply != NULL ? "database not ok" : "daemon unreachable");
	request_send_json(r, ok ? 200 : 503, body);
	json_decref(body);
	json_decref(reply);
	metrics_request(METRICS_ROUTE_HEALTHZ, ok ? METRICS_OK : METRICS_UNAVAILABLE);
}
