/* GET /healthz: whether the daemon answers and its database is writable. */
#include "config.h"

#include <string.h>

#include "fcgi.h"

static void	health_handle(struct request *);

const struct route health_routes[] = {
	{ "GET", "/healthz", ROUTE_JSON | ROUTE_COUNTED | ROUTE_BARE,
	    METRICS_ROUTE_HEALTHZ, health_handle },
	{ NULL, NULL, 0, 0, NULL }
};

/* GET /healthz: 200 when the daemon answers and its database is writable, else 503. */
static void
health_handle(struct request *r)
{
	json_t			*reply, *body, *db, *up;
	int			 ok;

	reply = link_ask("health");
	db = json_object_get(reply, "database");
	ok = json_is_string(db) && strcmp(json_string_value(db), "ok") == 0;
	if (json_is_object(up = json_object_get(reply, "upstream")))
		json_incref(up);
	else
		up = json_pack("{s:s}", "status", "unknown");
	body = json_pack("{s:s,s:s,s:s,s:o}", "status", ok ? "ok" : "error",
	    "daemon", reply != NULL ? "ok" : "unreachable",
	    "database", json_is_string(db) ? json_string_value(db) : "unknown", "upstream", up);
	if (!ok)
		request_log_refusal(r, "unhealthy",
		    reply != NULL ? "database not ok" : "daemon unreachable");
	request_send_json(r, ok ? 200 : 503, body);
	json_decref(body);
	json_decref(reply);
	metrics_request(METRICS_ROUTE_HEALTHZ, ok ? METRICS_OK : METRICS_UNAVAILABLE);
}

