/*
 * POST /oauth2/token (RFC 6749): check the request strictly, then let the daemon decide; its
 * answer is relayed as RFC 6749 section 5.1 JSON or mapped onto a section 5.2 error.
 * POST /realms/{tenant}/protocol/openid-connect/token is the same endpoint where Keycloak (and
 * Corti's SDK) has it: the daemon also checks the tenant against the app's connection.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fcgi.h"
#include "log.h"

#define TOKEN_OUT_MAX		(20 * 1024)	/* a token answer: the token is at most 16 KiB */
#define CLIENT_ID_MAX		128	/* bytes; the daemon's limits (daemon/verbs.c) */
#define CLIENT_SECRET_MAX	256

static void	token_handle(struct request *);
static void	token_realm(struct request *);

const struct route token_routes[] = {
	{ "POST", "/oauth2/token", ROUTE_JSON | ROUTE_APP | ROUTE_COUNTED | ROUTE_BARE,
	    METRICS_ROUTE_TOKEN, token_handle },
	{ "POST", "/realms/*/protocol/openid-connect/token",
	    ROUTE_JSON | ROUTE_APP | ROUTE_COUNTED | ROUTE_BARE, METRICS_ROUTE_TOKEN, token_realm },
	{ NULL, NULL, 0, 0, NULL }
};

/* How each outcome is answered; indexed by enum metrics_outcome. */
static const struct outcome {
	const char	*error;
	int		 status;
} token_outcomes[METRICS_OUTCOME_MAX] = {
	[METRICS_OK] = { NULL, 200 },
	[METRICS_INVALID_REQUEST] = { "invalid_request", 400 },
	[METRICS_INVALID_CLIENT] = { "invalid_client", 401 },
	[METRICS_INVALID_SCOPE] = { "invalid_scope", 400 },
	[METRICS_UNAUTHORIZED_CLIENT] = { "unauthorized_client", 400 },
	[METRICS_UNSUPPORTED_GRANT_TYPE] = { "unsupported_grant_type", 400 },
	[METRICS_INVALID_GRANT] = { "invalid_grant", 400 },
	[METRICS_UNAVAILABLE] = { "temporarily_unavailable", 503 },
	[METRICS_SERVER_ERROR] = { "server_error", 500 },
	[METRICS_METHOD_NOT_ALLOWED] = { "method_not_allowed", 405 },
	[METRICS_NOT_FOUND] = { "not_found", 404 },
};

/*
 * Grant types forwarded to the daemon, with the form fields each one passes on besides the
 * client credentials and their longest value in bytes (the daemon's limits, daemon/verbs.c:
 * a longer one is refused here with invalid_request, before the daemon is asked).
 * "password" (ROPC): the daemon allows it only for gated ROPC registrations; username and
 * password are passed on once and never logged here.
 */
static const struct grant {
	const char	*name;
	struct grant_field {
		const char	*name;
		size_t		 max;
	} fields[4];
} token_grants[] = {
	{ "client_credentials", { { "scope", 512 }, { NULL, 0 } } },
	{ "password", { { "scope", 512 }, { "username", 256 }, { "password", 1024 },
	    { NULL, 0 } } },
};

/* Answer a token request with an RFC 6749 section 5.2 error, and count it. */
static void
token_error(struct request *r, enum metrics_outcome o, const char *description,
    long retry_after)
{
	request_error(r, token_outcomes[o].status, token_outcomes[o].error, description,
	    retry_after);
	metrics_request(METRICS_ROUTE_TOKEN, o);
}

/* Refuse a token request: log it, count it, answer it. */
static void
token_refuse(struct request *r, enum metrics_outcome o, const char *reason)
{
	request_log_refusal(r, token_outcomes[o].error, reason);
	token_error(r, o, reason, 0);
}

/* Read and parse the form body of a token request; returns -1 after refusing it. */
static int
token_form(struct request *r, struct form *f)
{
	int	e;

	if (!form_content_type_ok(request_param(r, "CONTENT_TYPE"))) {
		token_refuse(r, METRICS_INVALID_REQUEST,
		    "Content-Type must be application/x-www-form-urlencoded");
		return -1;
	}
	switch (request_body(r, r->max_body)) {
	case HTTP_BODY_OK:
		break;
	case HTTP_BODY_ETOOLARGE:
		token_refuse(r, METRICS_INVALID_REQUEST, "request body too large");
		return -1;
	default:
		token_refuse(r, METRICS_INVALID_REQUEST, "missing or incomplete body");
		return -1;
	}
	if ((e = form_parse(r->body, r->bodylen, f)) != FORM_OK) {
		token_refuse(r, METRICS_INVALID_REQUEST, form_strerror(e));
		return -1;
	}
	return 0;
}

/*
 * Find the client's credentials: HTTP Basic or the client_id/client_secret form fields, never
 * both (RFC 6749 section 2.3).  Returns -1 after refusing the request.
 */
static int
token_client(struct request *r, const struct form *f, const char **id,
    const char **secret)
{
	const char	*auth;
	int		 e;

	auth = request_param(r, "HTTP_AUTHORIZATION");
	*id = form_get(f, "client_id");
	*secret = form_get(f, "client_secret");
	if (auth != NULL && (*id != NULL || *secret != NULL)) {
		token_refuse(r, METRICS_INVALID_REQUEST,
		    "more than one client authentication method");
		return -1;
	}
	if (auth != NULL && (e = form_basic(auth, r->basic, sizeof(r->basic), id,
	    secret)) != FORM_OK) {
		token_refuse(r, e == FORM_ESCHEME ? METRICS_INVALID_CLIENT :
		    METRICS_INVALID_REQUEST, form_strerror(e));
		return -1;
	}
	r->client_id = *id;
	if (*id == NULL || *secret == NULL) {
		token_refuse(r, METRICS_INVALID_CLIENT, "client authentication missing");
		return -1;
	}
	/* longer than any credential flowgate issues: authentication failed, as for a wrong one */
	if (strlen(*id) > CLIENT_ID_MAX || strlen(*secret) > CLIENT_SECRET_MAX) {
		token_refuse(r, METRICS_INVALID_CLIENT, strlen(*id) > CLIENT_ID_MAX ?
		    "client authentication failed: client_id longer than 128 bytes" :
		    "client authentication failed: client_secret longer than 256 bytes");
		return -1;
	}
	return 0;
}

/* The grant table entry for a grant_type; NULL after refusing the request. */
static const struct grant *
token_grant(struct request *r, const struct form *f)
{
	const char	*name;
	size_t		 i;

	if ((name = form_get(f, "grant_type")) == NULL) {
		token_refuse(r, METRICS_INVALID_REQUEST, "grant_type missing");
		return NULL;
	}
	for (i = 0; i < sizeof(token_grants) / sizeof(token_grants[0]); i++) {
		if (strcmp(token_grants[i].name, name) == 0)
			return &token_grants[i];
	}
	token_refuse(r, METRICS_UNSUPPORTED_GRANT_TYPE, "grant_type not supported");
	return NULL;
}

/* Refuse a grant's field longer than the daemon takes; -1 after refusing the request. */
static int
token_lengths(struct request *r, const struct form *f, const struct grant *g)
{
	const struct grant_field	*gf;
	const char			*v;
	char				 why[64];

	for (gf = g->fields; gf->name != NULL; gf++) {
		if ((v = form_get(f, gf->name)) != NULL && strlen(v) > gf->max) {
			snprintf(why, sizeof(why), "%s longer than %zu bytes", gf->name, gf->max);
			token_refuse(r, METRICS_INVALID_REQUEST, why);
			return -1;
		}
	}
	return 0;
}

static struct buf	token_buf;	/* the request to the daemon, wiped after each call */

/* The daemon's "token" request for a checked grant, serialised; tenant: the realm route's. */
static int
token_request(struct request *r, const struct form *f, const struct grant *g,
    const char *id, const char *secret, const char *tenant)
{
	const struct grant_field	*gf;
	const char			*v;

	buf_wipe(&token_buf);
	token_buf.failed = 0;
	buf_adds(&token_buf, "{\"verb\":\"token\",\"client_id\":");
	buf_adds_json(&token_buf, id);
	buf_adds(&token_buf, ",\"client_secret\":");
	buf_adds_json(&token_buf, secret);
	buf_adds(&token_buf, ",\"grant_type\":");
	buf_adds_json(&token_buf, g->name);
	for (gf = g->fields; gf->name != NULL; gf++) {
		if ((v = form_get(f, gf->name)) == NULL)
			continue;
		buf_addf(&token_buf, ",\"%s\":", gf->name);
		buf_adds_json(&token_buf, v);
	}
	if (strcmp(r->remote, "-") != 0) {
		buf_adds(&token_buf, ",\"remote\":");
		buf_adds_json(&token_buf, r->remote);
	}
	if (tenant != NULL) {
		buf_adds(&token_buf, ",\"tenant\":");
		buf_adds_json(&token_buf, tenant);
	}
	buf_adds(&token_buf, "}");
	return token_buf.failed ? -1 : 0;
}

/*
 * Relay a successful token reply as RFC 6749 section 5.1 JSON: the daemon writes it as
 * {"ok":true,"access_token":...} (daemon/token.c), so the answer is that object without "ok",
 * copied as it is rather than parsed and written again (the hot path's largest cost).
 */
static int
token_ok(struct request *r, const char *body, size_t len)
{
	static const char	 prefix[] = "{\"ok\":true,\"access_token\":\"";
	static char		 out[TOKEN_OUT_MAX];
	struct http_reply	 rp = { .status = 200, .content_type = "application/json" };
	size_t			 skip = sizeof("{\"ok\":true,") - 1, n;

	if (len < sizeof(prefix) || memcmp(body, prefix, sizeof(prefix) - 1) != 0 ||
	    (n = len - skip + 1) > sizeof(out))
		return -1;
	out[0] = '{';
	memcpy(out + 1, body + skip, n - 1);
	request_send(r, &rp, out, n);
	explicit_bzero(out, n);
	metrics_request(METRICS_ROUTE_TOKEN, METRICS_OK);
	return 0;
}

/*
 * Map the daemon's error reply onto its HTTP answer.  Its schema refusal (bad_request: a field
 * of the wrong type or size) is the caller's malformed request; unknown codes are server_error.
 */
static void
token_daemon_error(struct request *r, json_t *reply)
{
	const char	*error, *message;
	char		 code[64];
	json_t		*ra;
	int		 o;

	error = json_string_value(json_object_get(reply, "error"));
	message = json_string_value(json_object_get(reply, "message"));
	if (error != NULL && strcmp(error, "bad_request") == 0)
		error = token_outcomes[METRICS_INVALID_REQUEST].error;
	for (o = METRICS_INVALID_REQUEST; o <= METRICS_SERVER_ERROR; o++) {
		if (error != NULL && strcmp(token_outcomes[o].error, error) == 0)
			break;
	}
	if (o > METRICS_SERVER_ERROR) {
		fg_log_warn("daemon answered an unknown token error %s",
		    fg_log_clean(code, sizeof(code), error));
		o = METRICS_SERVER_ERROR;
		message = NULL;
	}
	ra = json_object_get(reply, "retry_after");
	request_log_refusal(r, token_outcomes[o].error, "refused by the daemon");
	token_error(r, o, message,
	    json_is_integer(ra) && json_integer_value(ra) <= REQUEST_RETRY_AFTER_MAX ?
	    (long)json_integer_value(ra) : 0);
}

/* The daemon's answer that is not a token: its error, or a malformed reply. */
static void
token_not_ok(struct request *r, const char *body, size_t len)
{
	json_t *reply = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);

	if (json_is_object(reply) && json_is_false(json_object_get(reply, "ok")))
		token_daemon_error(r, reply);
	else {
		fg_log_warn("daemon sent a malformed token reply");
		token_error(r, METRICS_SERVER_ERROR, NULL, 0);
	}
	json_decref(reply);
}

/* A token request: check it strictly, then let the daemon decide. */
static void
token_serve(struct request *r, const char *tenant)
{
	struct form		 f;
	const struct grant	*g;
	const char		*id, *secret, *body;
	size_t			 len;

	if (token_form(r, &f) == -1 ||
	    token_client(r, &f, &id, &secret) == -1 ||
	    (g = token_grant(r, &f)) == NULL || token_lengths(r, &f, g) == -1)
		return;
	if (token_request(r, &f, g, id, secret, tenant) == -1) {
		buf_wipe(&token_buf);
		token_refuse(r, METRICS_SERVER_ERROR, "out of memory");
		return;
	}
	if (link_call_raw(token_buf.p, token_buf.len, &body, &len, LINK_TOKEN_TIMEOUT_MS) == -1)
		token_refuse(r, METRICS_UNAVAILABLE, "token service unreachable");
	else if (token_ok(r, body, len) == -1)
		token_not_ok(r, body, len);
	buf_wipe(&token_buf);
	link_wipe();
}

/* POST /oauth2/token. */
static void
token_handle(struct request *r)
{
	token_serve(r, NULL);
}

/* POST /realms/{tenant}/protocol/openid-connect/token: the tenant is the '*' segment. */
static void
token_realm(struct request *r)
{
	token_serve(r, r->name);
}
