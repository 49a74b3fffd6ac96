/*
 * The one gate.  Every route that yields or uses an upstream token (token endpoint, ROPC,
 * stream and transcribe sessions, the proxy, session tokens, user logins) asks gate_open()
 * first, which decides in one fixed order: who the caller is, the app is registered and not
 * revoked, its connection is not stopped, the route is allowed for the app's flow and kind,
 * the scopes fit the registration and the route.  Only a pass leads to a token, through
 * gate_token(); the issuance record is committed before the token is used or released
 * (hold.c), and gate_still() checks a pass again after anything that waited.
 *
 * The route rules are schema/policy.json's "routes" and "gate" sections, compiled at start;
 * a route there that this daemon does not serve, or one it serves that is not there, stops
 * the daemon from starting, so no route can exist without its rule.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

#define GATE_RULES_MAX	32

enum gate_scopes { GATE_SCOPES_ASKED, GATE_SCOPES_FIXED, GATE_SCOPES_REGISTERED };
enum gate_step { STEP_CALLER, STEP_APP, STEP_CONNECTION, STEP_ROUTE, STEP_SCOPES, STEP_N };

struct gate_rule {
	enum gate_caller	 caller;
	char			 flow[32];
	char			 kind[16];
};

struct gate_route_def {
	const char		*name;		/* its key in policy.json "routes" */
	const char		*purpose;	/* audit detail */
	enum gate_scopes	 scopes;
	char			 fixed[FG_SCOPES_MAX];	/* canonical, for GATE_SCOPES_FIXED */
	int			 limited;
	struct gate_rule	 rules[GATE_RULES_MAX];
	size_t			 nrules;
};

static struct gate_route_def gate_routes[GATE_NROUTES] = {
	[GATE_TOKEN] = { .name = "token", .purpose = NULL },
	[GATE_ROPC] = { .name = "ropc", .purpose = NULL },
	[GATE_STREAM] = { .name = "stream_session", .purpose = "stream-session" },
	[GATE_TRANSCRIBE] = { .name = "transcribe_session", .purpose = "transcribe-session" },
	[GATE_PROXY] = { .name = "proxy", .purpose = "proxy" },
	[GATE_SESSION_TOKEN] = { .name = "session_token", .purpose = "session-token" },
	[GATE_LOGIN] = { .name = "login", .purpose = "login" },
	[GATE_ASSISTANT] = { .name = "assistant_credentials", .purpose = "assistant-credentials" },
	[GATE_RELAY_TICKET] = { .name = "relay_ticket", .purpose = "relay-ticket" },
};
static const char *const gate_caller_names[] = { "app", "session", "browser" };
static const char *const gate_step_names[STEP_N] = { "caller", "app", "connection", "route",
    "scopes" };
static char gate_errors[STEP_N][3][32];	/* [step][caller]: the error code to answer */

/* The caller type named s, or -1. */
static int
gate_caller_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (s != NULL && strcmp(gate_caller_names[i], s) == 0)
			return i;
	return -1;
}

/* One route's rule from its policy object; -1 and err when it is malformed. */
static int
gate_compile_route(struct gate_route_def *d, json_t *r, char *err, size_t errlen)
{
	json_t		*sc = json_object_get(r, "scopes"), *row, *f, *k;
	size_t		 i, j, m;
	char		 list[FG_SCOPES_MAX] = "";
	int		 caller;

	d->limited = json_is_true(json_object_get(r, "limited"));
	if (json_is_string(sc) && strcmp(json_string_value(sc), "asked") == 0)
		d->scopes = GATE_SCOPES_ASKED;
	else if (json_is_string(sc) && strcmp(json_string_value(sc), "registered") == 0)
		d->scopes = GATE_SCOPES_REGISTERED;
	else if (json_is_array(sc)) {
		d->scopes = GATE_SCOPES_FIXED;
		json_array_foreach(sc, i, f) {
			if (!json_is_string(f) || strlen(list) + json_string_length(f) + 2 >
			    sizeof(list))
				goto bad;
			strcat(list, " ");
			strcat(list, json_string_value(f));
		}
		if (scope_normalize(list, d->fixed, sizeof(d->fixed)) == -1)
			goto bad;
	} else
		goto bad;
	json_array_foreach(json_object_get(r, "allow"), i, row) {
		if ((caller = gate_caller_parse(json_string_value(json_object_get(row,
		    "caller")))) == -1)
			goto bad;
		json_array_foreach(json_object_get(row, "flows"), j, f) {
			json_array_foreach(json_object_get(row, "kinds"), m, k) {
				if (d->nrules == GATE_RULES_MAX || !json_is_string(f) ||
				    !json_is_string(k))
					goto bad;
				d->rules[d->nrules].caller = caller;
				snprintf(d->rules[d->nrules].flow, 32, "%s", json_string_value(f));
				snprintf(d->rules[d->nrules].kind, 16, "%s", json_string_value(k));
				d->nrules++;
			}
		}
	}
	return 0;
bad:
	snprintf(err, errlen, "policy.json: route %s is malformed", d->name);
	return -1;
}

/* The error code of each gate step for each caller type, from policy.json "gate". */
static int
gate_compile_errors(json_t *gate, char *err, size_t errlen)
{
	json_t	*errors = json_object_get(gate, "errors"), *e, *order;
	int	 s, c;

	order = json_object_get(gate, "order");
	for (s = 0; s < STEP_N; s++) {
		if (strcmp(json_string_value(json_array_get(order, s)) ?: "",
		    gate_step_names[s]) != 0) {
			snprintf(err, errlen, "policy.json: gate.order must begin caller, app, "
			    "connection, route, scopes (the order this daemon checks in)");
			return -1;
		}
		e = json_object_get(errors, gate_step_names[s]);
		for (c = 0; c < 3; c++) {
			const char *code = json_is_object(e) ? json_string_value(json_object_get(e,
			    gate_caller_names[c])) : json_string_value(e);

			if (code == NULL) {
				snprintf(err, errlen, "policy.json: gate.errors.%s lacks a code",
				    gate_step_names[s]);
				return -1;
			}
			snprintf(gate_errors[s][c], sizeof(gate_errors[s][c]), "%s", code);
		}
	}
	return 0;
}

/* Compile the route table; every route in the policy must be one this daemon serves. */
int
gate_init(char *err, size_t errlen)
{
	json_t		*doc = policy_document(), *routes, *r;
	const char	*name;
	int		 i, rc = -1;

	routes = json_object_get(doc, "routes");
	if (gate_compile_errors(json_object_get(doc, "gate"), err, errlen) == -1)
		goto out;
	json_object_foreach(routes, name, r) {
		for (i = 0; i < GATE_NROUTES && strcmp(gate_routes[i].name, name) != 0; i++)
			;
		if (i == GATE_NROUTES) {
			snprintf(err, errlen, "policy.json names route %s, which this daemon does "
			    "not serve", name);
			goto out;
		}
		gate_routes[i].nrules = 0;
		if (gate_compile_route(&gate_routes[i], r, err, errlen) == -1)
			goto out;
	}
	for (i = 0; i < GATE_NROUTES; i++) {
		if (json_object_get(routes, gate_routes[i].name) == NULL) {
			snprintf(err, errlen, "policy.json has no rule for route %s",
			    gate_routes[i].name);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

/* True when the route's rules allow this caller type for the app's flow and kind. */
static int
gate_route_allows(const struct gate_route_def *d, enum gate_caller caller,
    const struct app_rec *app)
{
	size_t i;

	for (i = 0; i < d->nrules; i++)
		if (d->rules[i].caller == caller && strcmp(d->rules[i].flow, app->flow) == 0 &&
		    strcmp(d->rules[i].kind, app->kind) == 0)
			return 1;
	return 0;
}

/* Refuse at step s: audit (with the app's name once the caller is known) and answer. */
static int
gate_refuse(const struct fg_reqctx *ctx, struct gate_pass *p, enum gate_step s,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The store went away: nothing can be looked up or recorded; not the caller's fault (503). */
static int
gate_outage(const struct fg_reqctx *ctx)
{
	token_count_refusal();
	server_reply_error(ctx, hold_code(HOLD_OUTAGE), "%s", hold_why(HOLD_OUTAGE));
	return -1;
}

static int
gate_refuse(const struct fg_reqctx *ctx, struct gate_pass *p, enum gate_step s,
    const char *fmt, ...)
{
	const char		*code = gate_errors[s][p->caller];
	char			 msg[300], detail[400];
	struct audit_rec	 rec = { p->actor, "token.refuse", s > STEP_CALLER &&
				    p->app.name[0] ? p->app.name : NULL, p->app.connection[0] ?
				    p->app.connection : NULL, p->scopes[0] ? p->scopes : NULL, code,
				    detail, NULL };
	va_list			 ap;

	/* who the caller is could not be looked up because the store went away: no verdict */
	if (s <= STEP_APP && !db_reachable())
		return gate_outage(ctx);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(detail, sizeof(detail), "route=%s step=%s remote=%s: %s",
	    gate_routes[p->route].name, gate_step_names[s], p->remote, msg);
	token_count_refusal();
	if (s == STEP_CALLER || (s == STEP_APP && p->caller == GATE_CALLER_BROWSER))
		refusal_note(&rec, p->remote, gate_routes[p->route].name);	/* nobody known */
	else
		audit_append(&rec);
	server_reply_error(ctx, code, "%s", msg);
	return -1;
}

/* Step 1 and 2: who the caller is, and that its app is registered and not revoked. */
static int
gate_caller(const struct fg_reqctx *ctx, struct gate_pass *p, json_t *req)
{
	const char	*cid = json_string_value(json_object_get(req, "client_id"));
	const char	*sec = json_string_value(json_object_get(req, "client_secret"));
	const char	*sid = json_string_value(json_object_get(req, "session"));
	const char	*name = json_string_value(json_object_get(req, "app"));
	int64_t		 app_id = 0;

	if (sid != NULL) {
		p->caller = GATE_CALLER_SESSION;
		if (oidc_session_who(sid, &app_id, p->actor, sizeof(p->actor)) == -1)
			return gate_refuse(ctx, p, STEP_CALLER, "no user session; log in first");
		snprintf(p->sid, sizeof(p->sid), "%s", sid);
	} else if (cid != NULL || sec != NULL) {
		p->caller = GATE_CALLER_APP;
		snprintf(p->actor, sizeof(p->actor), "app:%.90s", cid ? cid : "-");
		if (cid == NULL || sec == NULL)
			return gate_refuse(ctx, p, STEP_CALLER, "client authentication failed");
		if (app_authenticate(cid, sec, &p->app) == 0)
			return 0;	/* an active registration: the cache holds no revoked app */
		if (app_revoked_match(cid, sec, &p->app) == 0)
			return gate_refuse(ctx, p, STEP_APP, "the app %s was revoked", p->app.name);
		memset(&p->app, 0, sizeof(p->app));
		return gate_refuse(ctx, p, STEP_CALLER, "client authentication failed");
	} else if (json_object_get(req, "bearer") != NULL) {
		/* a token flowgate issued to one app (bearer.c) stands for that app's credential */
		p->caller = GATE_CALLER_APP;
		snprintf(p->actor, sizeof(p->actor), "app:bearer");
		if (bearer_find(json_string_value(json_object_get(req, "bearer")), &app_id,
		    &name) == -1)
			return gate_refuse(ctx, p, STEP_CALLER, "%s", name);
		name = NULL;
	} else if (p->ticket_app_id != 0) {
		/* a relay ticket (relayticket.c) stands for the app that asked it */
		p->caller = GATE_CALLER_APP;
		snprintf(p->actor, sizeof(p->actor), "app:ticket");
		app_id = p->ticket_app_id;
	} else if (name != NULL || p->login_app_id != 0) {
		p->caller = GATE_CALLER_BROWSER;
		snprintf(p->actor, sizeof(p->actor), "browser");
		app_id = p->login_app_id;
	} else
		return gate_refuse(ctx, p, STEP_CALLER, "no credential: give the app's "
		    "client_id and client_secret, or log in");
	if (app_lookup(name, app_id, &p->app) == -1) {
		memset(&p->app, 0, sizeof(p->app));
		return gate_refuse(ctx, p, STEP_APP, "no such app");
	}
	if (p->caller == GATE_CALLER_APP)	/* a bearer's app, known now */
		snprintf(p->actor, sizeof(p->actor), "app:%.90s", p->app.client_id);
	/* a session of a revoked app stays, refused here each time, until its timeouts end it */
	if (p->app.revoked)
		return gate_refuse(ctx, p, STEP_APP, "the app %s was revoked", p->app.name);
	return 0;
}

/* Step 5: the scope set this request will use, within the registration and the route. */
static int
gate_scopes(const struct fg_reqctx *ctx, struct gate_pass *p, json_t *req)
{
	const struct gate_route_def	*d = &gate_routes[p->route];
	const char			*asked = json_string_value(json_object_get(req, "scope"));
	char				 missing[FG_NAME_MAX + 1] = "";

	if (d->scopes == GATE_SCOPES_FIXED)
		snprintf(p->scopes, sizeof(p->scopes), "%s", d->fixed);
	else if (d->scopes == GATE_SCOPES_ASKED && asked != NULL) {
		if (scope_normalize(asked, p->scopes, sizeof(p->scopes)) == -1) {
			p->scopes[0] = '\0';
			return gate_refuse(ctx, p, STEP_SCOPES, "scope is malformed");
		}
	} else
		snprintf(p->scopes, sizeof(p->scopes), "%s", p->app.scopes);
	if (!scope_subset(p->scopes, p->app.scopes, missing, sizeof(missing)))
		return gate_refuse(ctx, p, STEP_SCOPES, "scope '%s' is not allowed for this app",
		    missing);
	if (d->limited && !policy_scopes_limited(p->scopes))
		return gate_refuse(ctx, p, STEP_SCOPES, "route %s gives only limited-scope "
		    "tokens (%s)", d->name, "transcribe, streams");
	return 0;
}

/*
 * The gate: 0 and a filled pass when every step holds; otherwise -1 after the refusal was
 * audited and answered.  p->route and (for a login callback) p->login_app_id are set by the
 * caller; everything else is filled here from the request and the daemon's own data.
 */
int
gate_open(const struct fg_reqctx *ctx, struct gate_pass *p, json_t *req)
{
	const char	*remote = json_string_value(json_object_get(req, "remote"));
	enum gate_route	 route = p->route;
	int64_t		 login_app_id = p->login_app_id, ticket_app_id = p->ticket_app_id;

	memset(p, 0, sizeof(*p));
	p->ctx = *ctx;
	p->route = route;
	p->login_app_id = login_app_id;
	p->ticket_app_id = ticket_app_id;
	p->epoch = app_epoch();
	snprintf(p->remote, sizeof(p->remote), "%s", remote ? remote : "-");
	if (!store_reachable())
		return gate_outage(ctx);
	if (gate_caller(ctx, p, req) == -1)
		return -1;
	if (p->app.connection_stopped)
		return gate_refuse(ctx, p, STEP_CONNECTION, "issuing is stopped for connection "
		    "%s", p->app.connection);
	if (!gate_route_allows(&gate_routes[p->route], p->caller, &p->app))
		return gate_refuse(ctx, p, STEP_ROUTE, "this app is registered for flow %s (%s), "
		    "which may not use %s with %s", p->app.flow, p->app.kind,
		    gate_routes[p->route].name, p->caller == GATE_CALLER_APP ? "its credential" :
		    p->caller == GATE_CALLER_SESSION ? "a user session" : "a browser login");
	return gate_scopes(ctx, p, req);
}

/*
 * Check a pass again after waiting (an upstream answer, an audit commit): the app may have
 * been revoked or its connection stopped meanwhile.  NULL when it still holds, else why.
 */
const char *
gate_still(int64_t app_id, uint64_t epoch)
{
	struct app_rec a;

	if (epoch == app_epoch())
		return NULL;
	if (app_lookup(NULL, app_id, &a) == -1 || a.revoked)
		return "the app was revoked meanwhile; nothing was handed out";
	if (a.connection_stopped)
		return "issuing was stopped for this connection; nothing was handed out";
	return NULL;
}

/*
 * The token of a pass: the user's own for a session, a password grant, or the cache.  direct:
 * done() only builds a held reply, so it may have the token before the commit.
 */
void
gate_token(const struct gate_pass *p, token_done done, void *arg, json_t *req, int direct)
{
	struct token_req w;

	token_req_init(&w, p, done, arg, gate_routes[p->route].purpose);
	w.strict = gate_routes[p->route].scopes == GATE_SCOPES_FIXED;
	w.direct = direct;
	/* before any record: a token that cannot wait for its record is not issued at all */
	if (hold_full()) {
		struct token_fail f = { "temporarily_unavailable", "too many replies are waiting", 1 };

		token_refused(&w, p->app.connection, p->scopes, &f);
		return;
	}
	if (p->route == GATE_ASSISTANT)
		oidc_assistant_token(p->sid, &w);
	else if (p->caller == GATE_CALLER_SESSION)
		oidc_user_token(p->sid, &w, p->scopes);
	else if (p->route == GATE_ROPC)
		token_ropc(&w, &p->app, p->scopes, req);
	else
		token_for_app(&w, &p->app, p->scopes);
}

/*
 * Emergency stop of a connection, within this loop turn: the registry cache is forgotten,
 * cached tokens (the app cache and user sessions') dropped, held replies refused, and
 * answers still in flight will be dropped when they come.  Returns what was stopped.
 */
json_t *
gate_stop(int64_t conn_id)
{
	size_t tokens, sessions, held, inflight;

	app_cache_clear();
	tokens = token_drop_connection(conn_id, &inflight);
	sessions = oidc_drop_connection(conn_id);
	held = hold_stop_connection(conn_id);
	relayticket_drop_connection(conn_id);
	return json_pack("{sIsIsIsI}", "cached_tokens_dropped", (json_int_t)tokens,
	    "user_sessions_cleared", (json_int_t)sessions, "held_replies_refused", (json_int_t)held,
	    "upstream_requests_dropped", (json_int_t)inflight);
}

/* The route's name in policy.json, for messages. */
const char *
gate_route_name(enum gate_route r)
{
	return gate_routes[r].name;
}
