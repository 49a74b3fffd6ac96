/* The dashboard (GET /admin/): what the daemon's "dashboard" verb reports, drawn. */
#include "config.h"

#include <string.h>

#include "fcgi.h"

static void	admin_dashboard(struct request *);

const struct route admin_dashboard_routes[] = {
	{ "GET", "/admin/", ROUTE_ADMIN | ROUTE_SESSION, 0, admin_dashboard },
	{ NULL, NULL, 0, 0, NULL }
};

static struct buf	dash_buf;

/* The busiest hour of all the apps shown, rounded up: the one scale of their charts. */
static json_int_t
admin_dashboard_scale(json_t *apps)
{
	json_t		*e, *h;
	json_int_t	 max = 0;
	size_t		 i, k;

	json_array_foreach(apps, i, e) {
		json_array_foreach(json_object_get(e, "hours"), k, h) {
			if (json_integer_value(h) > max)
				max = json_integer_value(h);
		}
	}
	return svg_nice_max(max);
}

/* The issuance charts of the busiest apps, one SVG each on one scale, into dash_buf. */
static void
admin_dashboard_charts(json_t *data, json_t *issuance)
{
	json_t		*apps = json_object_get(issuance, "apps"), *e, *hours, *h;
	const char	*app;
	json_int_t	 total, scale = admin_dashboard_scale(apps);
	size_t		 i, k;

	json_object_set_new(data, "issuance_summary", json_pack("{sO* sO* si sb}", "active",
	    json_object_get(issuance, "active"), "total", json_object_get(issuance, "total"),
	    "shown", (int)json_array_size(apps), "partial", json_integer_value(
	    json_object_get(issuance, "active")) > (json_int_t)json_array_size(apps)));
	json_object_set_new(data, "has_issuance", json_boolean(json_array_size(apps) > 0));
	json_object_set_new(data, "issuance_scale", json_integer(scale));
	buf_reset(&dash_buf);
	buf_adds(&dash_buf, "<ul class=\"charts\">");
	json_array_foreach(apps, i, e) {
		app = link_str(e, "app");
		hours = json_object_get(e, "hours");
		if (app == NULL || !json_is_array(hours))
			continue;
		total = 0;
		json_array_foreach(hours, k, h)
			total += json_integer_value(h);
		buf_adds(&dash_buf, "<li><a class=\"chart-app\" href=\"/admin/apps/");
		buf_adds_url(&dash_buf, app);
		buf_adds(&dash_buf, "\">");
		buf_adds_html(&dash_buf, app);
		buf_adds(&dash_buf, "</a>");
		svg_hours_chart(&dash_buf, hours, app, scale);
		buf_addf(&dash_buf, "<span class=\"chart-total\" data-app-total=\"");
		buf_adds_html(&dash_buf, app);
		buf_addf(&dash_buf, "\">%lld</span></li>", (long long)total);
	}
	buf_adds(&dash_buf, "</ul>");
}

/* Each connection's state as the daemon's "health" lists it, its times and age as text. */
static void
admin_dashboard_health(json_t *data, json_t *health)
{
	static const char *const times[] = { "last_ok_at", "last_failure_at", NULL };
	json_t		*list = json_deep_copy(json_object_get(health, "connections")), *c;
	json_t		*counts = json_object_get(health, "counts");
	const char	*st;
	char		 span[32];
	size_t		 i;

	json_array_foreach(list, i, c) {
		admin_times(c, times);
		admin_fmt_span(span, sizeof(span),
		    json_integer_value(json_object_get(c, "secret_age_s")));
		json_object_set_new(c, "secret_age_text", json_string(span));
		st = link_str(c, "status");
		json_object_set_new(c, "badge", json_string(st == NULL ? "" :
		    strcmp(st, "ok") == 0 ? "ok" : strcmp(st, "unknown") == 0 ? "" : "bad"));
	}
	json_object_set_new(data, "health", list != NULL ? list : json_array());
	if (!json_is_object(counts))
		return;
	counts = json_deep_copy(counts);
	json_object_set_new(counts, "shown", json_integer((json_int_t)json_array_size(list)));
	json_object_set_new(counts, "partial", json_boolean(json_integer_value(
	    json_object_get(counts, "total")) > (json_int_t)json_array_size(list)));
	json_object_set_new(counts, "all_ok", json_boolean(json_integer_value(
	    json_object_get(counts, "degraded")) == 0));
	json_object_set_new(data, "health_counts", counts);
}

/* A copy of the reply's object key with its times as text; NULL when there is none. */
static json_t *
admin_dashboard_timed(json_t *reply, const char *key)
{
	static const char *const times[] = { "checked_at", NULL };
	json_t			*e;

	if (!json_is_object(json_object_get(reply, key)))
		return NULL;
	e = json_deep_copy(json_object_get(reply, key));
	admin_times(e, times);
	return e;
}

/* GET /admin/: issuance charts, each connection's health, refusals, the chain. */
static void
admin_dashboard(struct request *r)
{
	static const char *const rec_times[] = { "ts", NULL };
	json_t		*reply, *data, *e, *recs;
	struct tpl_raw	 raw[1];
	size_t		 i;

	reply = admin_call(r, ADMIN_CALL_SESSION, json_pack("{ss}", "verb", "dashboard"));
	if (!link_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	data = json_object();
	admin_dashboard_charts(data, json_object_get(reply, "issuance"));
	admin_dashboard_health(data, json_object_get(reply, "health"));
	recs = json_deep_copy(json_object_get(reply, "refusals"));
	json_array_foreach(recs, i, e)
		admin_times(e, rec_times);
	json_object_set_new(data, "refusals", recs != NULL ? recs : json_array());
	if ((e = admin_dashboard_timed(reply, "chain")) != NULL)
		json_object_set_new(data, "chain", e);
	json_decref(reply);
	raw[0].name = "issuance";
	raw[0].html = buf_str(&dash_buf);
	admin_page_raw(r, 200, "dashboard", "dashboard", "Dashboard", data, raw, 1);
}
