/*
 * The audit log pages: the filtered, paged table (GET /admin/audit), the chain's verification,
 * and the export of the same filter as JSON lines (GET /admin/audit/export).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcgi.h"

#define ADMIN_AUDIT_PAGE	50
#define ADMIN_EXPORT_PAGE	100
#define ADMIN_EXPORT_MAX	100000

static void	admin_audit_page(struct request *);
static void	admin_audit_export(struct request *);

const struct route admin_audit_routes[] = {
	{ "GET", "/admin/audit", ROUTE_ADMIN | ROUTE_SESSION, 0, admin_audit_page },
	{ "GET", "/admin/audit/export", ROUTE_ADMIN | ROUTE_SESSION, 0, admin_audit_export },
	{ NULL, NULL, 0, 0, NULL }
};

static struct buf	audit_qs_buf, audit_url_buf;

/* "2026-11-22T09:30" (datetime-local, read as UTC) to unix ms; -1 if malformed. */
static long long
admin_audit_parse_local(const char *s)
{
	struct tm	 tm;
	const char	*end;

	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%dT%H:%M", &tm)) == NULL)
		return -1;
	if (*end == ':' && (end = strptime(end, ":%S", &tm)) == NULL)
		return -1;
	if (*end != '\0')
		return -1;
	return (long long)timegm(&tm) * 1000;
}

/* The audit.query request for the filter form's values; NULL after answering 400. */
static json_t *
admin_audit_query(struct request *r, int limit)
{
	static const char *const text[] = { "app", "connection", "actor", "outcome", "event",
	    NULL };
	json_t		*req = json_pack("{ss si}", "verb", "audit.query", "limit", limit);
	const char	*v;
	long long	 ms;
	char		*end;
	size_t		 i;

	if ((v = form_get(&r->query, "from")) != NULL) {
		if ((ms = admin_audit_parse_local(v)) == -1)
			goto bad;
		json_object_set_new(req, "from_ms", json_integer(ms));
	}
	if ((v = form_get(&r->query, "to")) != NULL) {
		if ((ms = admin_audit_parse_local(v)) == -1)
			goto bad;
		json_object_set_new(req, "to_ms", json_integer(ms + 59999));
	}
	for (i = 0; text[i] != NULL; i++) {
		if ((v = form_get(&r->query, text[i])) != NULL && strcmp(v, "any") != 0)
			json_object_set_new(req, text[i], json_string(v));
	}
	if ((v = form_get(&r->query, "before")) != NULL) {
		ms = strtoll(v, &end, 10);
		if (*end != '\0' || ms <= 0)
			goto bad;
		json_object_set_new(req, "before", json_integer(ms));
	}
	return req;
bad:
	json_decref(req);
	admin_error(r, 400, "Bad filter", "Times are YYYY-MM-DDTHH:MM (UTC); pages are record "
	    "numbers.");
	return NULL;
}

/* The filter's query string (without "before"), for the next page and the export link. */
static void
admin_audit_filter(struct request *r, struct buf *b)
{
	static const char *const keys[] = { "from", "to", "app", "connection", "actor",
	    "outcome", "event", NULL };
	const char	*v;
	size_t		 i;
	int		 first = 1;

	for (i = 0; keys[i] != NULL; i++) {
		if ((v = form_get(&r->query, keys[i])) == NULL)
			continue;
		buf_adds(b, first ? "" : "&");
		buf_adds(b, keys[i]);
		buf_adds(b, "=");
		buf_adds_url(b, v);
		first = 0;
	}
}

/* /admin/audit?FILTER&key=seq, in audit_url_buf (the filter's query string is in audit_qs_buf). */
static const char *
admin_audit_url(const char *key, json_int_t seq)
{
	buf_reset(&audit_url_buf);
	buf_adds(&audit_url_buf, "/admin/audit?");
	buf_adds(&audit_url_buf, buf_str(&audit_qs_buf));
	buf_addf(&audit_url_buf, "%s%s=%lld", audit_qs_buf.len ? "&" : "", key, (long long)seq);
	return buf_str(&audit_url_buf);
}

/* GET /admin/audit: 50 records a page, newest first, filtered; the chain\'s state. */
static void
admin_audit_page(struct request *r)
{
	static const char *const rec_times[] = { "ts", NULL };
	static const char *const outcomes[] = { "ok", "issued", "refused", "failed", "forbidden",
	    "csrf", "rate_limited", NULL };
	json_t		*req, *reply, *recs, *e, *data, *verify, *outs;
	const char	*v;
	char		*end;
	size_t		 i;
	json_int_t	 last = 0, first = 0, before, next, older, newer;
	long long	 after = -1;
	int		 more;

	if ((req = admin_audit_query(r, ADMIN_AUDIT_PAGE)) == NULL)
		return;
	before = json_integer_value(json_object_get(req, "before"));
	if ((v = form_get(&r->query, "after")) != NULL) {
		after = strtoll(v, &end, 10);
		if (*end != '\0' || after < 0 || json_object_get(req, "before") != NULL) {
			json_decref(req);
			admin_error(r, 400, "Bad filter", "Pages are record numbers.");
			return;
		}
		json_object_set_new(req, "after", json_integer(after));
	}
	reply = admin_call(r, ADMIN_CALL_SESSION, req);
	if (!link_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	recs = json_deep_copy(json_object_get(reply, "records"));
	if (recs == NULL)
		recs = json_array();
	json_array_foreach(recs, i, e) {
		char text[64];

		if (json_is_integer(json_object_get(e, "ts"))) {
			admin_fmt_time(text, sizeof(text), json_integer_value(json_object_get(e,
			    "ts")), 1);
			json_object_set_new(e, "ts_text", json_string(text));
		}
		admin_times(e, rec_times);
		json_object_set_new(e, "is_ok", json_boolean(link_str(e, "outcome") != NULL &&
		    (strcmp(link_str(e, "outcome"), "ok") == 0 ||
		    strcmp(link_str(e, "outcome"), "issued") == 0)));
		last = json_integer_value(json_object_get(e, "seq"));
		first = first != 0 ? first : last;
	}
	data = json_object();
	json_object_set_new(data, "records", recs);
	json_object_set_new(data, "has_records", json_boolean(json_array_size(recs) > 0));
	buf_reset(&audit_qs_buf);
	admin_audit_filter(r, &audit_qs_buf);
	/*
	 * Records are newest first; "more" and "next" are about the direction this page was asked
	 * in (a page may stop early, even empty, where the daemon stopped looking).
	 */
	more = json_is_true(json_object_get(reply, "more"));
	next = json_integer_value(json_object_get(reply, "next"));
	if (after >= 0) {
		older = last > 0 ? last : after + 1;
		newer = more ? next : 0;
	} else {
		older = more ? next : 0;
		newer = before <= 0 ? 0 : first > 0 ? first : before - 1;
	}
	if (older > 1)
		json_object_set_new(data, "older_url",
		    json_string(admin_audit_url("before", older)));
	if (newer > 0)
		json_object_set_new(data, "newer_url",
		    json_string(admin_audit_url("after", newer)));
	json_decref(reply);
	buf_reset(&audit_url_buf);
	buf_adds(&audit_url_buf, "/admin/audit/export");
	if (audit_qs_buf.len > 0) {
		buf_adds(&audit_url_buf, "?");
		buf_adds(&audit_url_buf, buf_str(&audit_qs_buf));
	}
	json_object_set_new(data, "export_url", json_string(buf_str(&audit_url_buf)));
	json_object_set_new(data, "filtered", json_boolean(audit_qs_buf.len > 0 ||
	    form_get(&r->query, "before") != NULL || after >= 0));
	{
		static const char *const keys[] = { "from", "to", "app", "connection", "actor",
		    NULL };
		json_t *f = json_object();

		for (i = 0; keys[i] != NULL; i++) {
			if ((v = form_get(&r->query, keys[i])) != NULL)
				json_object_set_new(f, keys[i], json_string(v));
		}
		json_object_set_new(data, "f", f);
	}
	outs = json_array();
	v = form_get(&r->query, "outcome");
	for (i = 0; outcomes[i] != NULL; i++)
		json_array_append_new(outs, json_pack("{ss sb}", "value", outcomes[i], "selected",
		    v != NULL && strcmp(v, outcomes[i]) == 0));
	json_object_set_new(data, "outcomes", outs);
	/*
	 * The chain walk is O(records) on the daemon's event loop: a page view shows the
	 * dashboard's result (verified at most once a minute); "Verify now" walks it on request.
	 */
	if (form_get(&r->query, "verify") != NULL) {
		verify = admin_call(r, ADMIN_CALL_SESSION, json_pack("{ss}", "verb",
		    "audit.verify"));
		if (link_ok(verify))
			json_object_set_new(data, "chain", json_pack("{sb sO* ss}", "ok", 1,
			    "records", json_object_get(verify, "records"), "checked_at_rel",
			    "just now"));
		else if (verify != NULL && strcmp(admin_errcode(verify), "audit_broken") == 0)
			json_object_set_new(data, "chain", json_pack("{sb sO* ss* ss}", "ok", 0,
			    "bad_seq", json_object_get(verify, "bad_seq"), "message",
			    link_str(verify, "message"), "checked_at_rel", "just now"));
		else
			json_object_set_new(data, "chain_unknown", json_true());
	} else {
		static const char *const chain_times[] = { "checked_at", NULL };
		json_t *chain;

		verify = admin_call(r, ADMIN_CALL_SESSION, json_pack("{ss}", "verb", "dashboard"));
		chain = json_deep_copy(json_object_get(verify, "chain"));
		if (link_ok(verify) && json_is_object(chain)) {
			admin_times(chain, chain_times);
			json_object_set_new(data, "chain", chain);
		} else {
			json_decref(chain);
			json_object_set_new(data, "chain_unknown", json_true());
		}
	}
	json_decref(verify);
	buf_reset(&audit_url_buf);
	buf_adds(&audit_url_buf, "/admin/audit?");
	buf_adds(&audit_url_buf, buf_str(&audit_qs_buf));
	buf_adds(&audit_url_buf, audit_qs_buf.len ? "&verify=1" : "verify=1");
	json_object_set_new(data, "verify_url", json_string(buf_str(&audit_url_buf)));
	admin_page(r, 200, "audit", "audit", "Audit log", data);
}

/* GET /admin/audit/export: the filtered records as JSON lines, newest first, paged. */
static void
admin_audit_export(struct request *r)
{
	json_t		*req, *reply, *recs, *e;
	char		*line;
	struct http_reply rp = { .status = 200, .content_type = "application/x-ndjson" };
	json_int_t	 before = 0;
	size_t		 i, total = 0;
	int		 more;

	if ((req = admin_audit_query(r, ADMIN_EXPORT_PAGE)) == NULL)
		return;
	reply = admin_call(r, ADMIN_CALL_SESSION, req);
	if (!link_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	request_header(r, "Content-Disposition: attachment; filename=\"flowgate-audit.jsonl\"");
	request_send_head(r, &rp);
	for (;;) {
		recs = json_object_get(reply, "records");
		json_array_foreach(recs, i, e) {
			if ((line = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS)) != NULL) {
				FCGX_PutS(line, r->fcgi->out);
				FCGX_PutChar('\n', r->fcgi->out);
				free(line);
			}
			before = json_integer_value(json_object_get(e, "seq"));
			total++;
		}
		more = json_is_true(json_object_get(reply, "more")) && before > 1 &&
		    json_array_size(recs) > 0 && total < ADMIN_EXPORT_MAX;
		json_decref(reply);
		if (!more)
			break;
		if ((req = admin_audit_query(r, ADMIN_EXPORT_PAGE)) == NULL)
			return;
		json_object_set_new(req, "before", json_integer(before));
		reply = admin_call(r, ADMIN_CALL_SESSION, req);
		if (!link_ok(reply)) {
			FCGX_PutS("{\"error\":\"the export stopped early: "
			    "the daemon did not answer\"}\n",
			    r->fcgi->out);
			json_decref(reply);
			break;
		}
	}
}

