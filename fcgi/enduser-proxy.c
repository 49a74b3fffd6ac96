/*
 * /api/v1/proxy/{connection}/...: an app backend (HTTP Basic, or "Bearer" with a token flowgate
 * issued to that app, as Corti's SDK sends it) or a signed-in browser calls the upstream API
 * through the daemon, which checks the app's allowed methods and path prefixes and injects the
 * token.  The upstream's answer is relayed under a sandbox CSP.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "fcgi.h"
#include "fg-protocol.h"
#include "log.h"

#define ENDUSER_PROXY_BODY_MAX	(24 * 1024)
#define ENDUSER_PROXY_PATH_MAX	2048
#define ENDUSER_PROXY_BEARER_MAX	16384	/* the daemon's longest token (FG_TOKEN_MAX) */

static void	enduser_proxy(struct request *);

const struct route enduser_proxy_routes[] = {
	{ "GET, POST, PUT, PATCH, DELETE", "/api/v1/proxy/*/**",
	    ROUTE_JSON | ROUTE_APP | ROUTE_ENDUSER | ROUTE_SANDBOX, 0, enduser_proxy },
	{ NULL, NULL, 0, 0, NULL }
};

static char	enduser_proxy_out[FG_FRAME_MAX];	/* a decoded proxy answer */

/* The daemon's "proxy" request for this call, the body base64; NULL after answering. */
static json_t *
enduser_proxy_request(struct request *r, const char *path)
{
	const char	*ct = request_param(r, "CONTENT_TYPE");
	const char	*qs = request_param(r, "QUERY_STRING");
	json_t		*req;
	size_t		 outlen;
	char		*enc;

	req = json_pack("{s:s,s:s,s:s,s:s}", "verb", "proxy", "connection", r->name, "method",
	    r->method, "path", path);
	if (req != NULL && qs != NULL)
		json_object_set_new(req, "query", json_string(qs));
	if (req != NULL && ct != NULL)
		json_object_set_new(req, "content_type", json_string(ct));
	if (req != NULL && r->bodylen > 0) {
		outlen = sodium_base64_ENCODED_LEN(r->bodylen, sodium_base64_VARIANT_ORIGINAL);
		if ((enc = malloc(outlen)) == NULL) {
			json_decref(req);
			req = NULL;
		} else {
			sodium_bin2base64(enc, outlen, (const unsigned char *)r->body, r->bodylen,
			    sodium_base64_VARIANT_ORIGINAL);
			json_object_set_new(req, "body_b64", json_string(enc));
			free(enc);
		}
	}
	if (req == NULL)
		enduser_error(r, 500, "server_error", NULL, 0);
	return req;
}

/* Relay the upstream's answer the daemon sent: status, content type and the decoded body. */
static void
enduser_proxy_relay(struct request *r, json_t *reply)
{
	struct http_reply	 rp = { .content_type = "application/octet-stream" };
	json_t			*st = json_object_get(reply, "status");
	const char		*rtype = link_str(reply, "content_type");
	const char		*b64 = link_str(reply, "body_b64");
	size_t			 outlen = 0;

	if (!json_is_integer(st) || json_integer_value(st) < 200 ||
	    json_integer_value(st) > 599 || b64 == NULL || (*b64 != '\0' &&
	    sodium_base642bin((unsigned char *)enduser_proxy_out, sizeof(enduser_proxy_out), b64,
	    strlen(b64), NULL, &outlen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)) {
		fg_log_warn("proxy: malformed daemon reply");
		enduser_problem(r, 502, "Upstream error", "the answer could not be relayed");
		return;
	}
	if (rtype != NULL && *rtype != '\0' && strlen(rtype) < 256 &&
	    strcspn(rtype, "\r\n") == strlen(rtype))
		rp.content_type = rtype;
	rp.status = (int)json_integer_value(st);
	request_send(r, &rp, enduser_proxy_out, outlen);
}

/*
 * The caller of a proxy call: "Authorization: Bearer TOKEN" (RFC 6750 b64token) is passed on
 * for the daemon to look up; anything else is enduser_caller's.  -1 after answering.
 */
int
enduser_proxy_caller(struct request *r, json_t *req, int *is_session)
{
	const char	*auth = request_param(r, "HTTP_AUTHORIZATION");
	size_t		 n;

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
		return enduser_caller(r, req, is_session);
	*is_session = 0;
	auth += 7;
	n = strspn(auth, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/");
	n += strspn(auth + n, "=");
	if (n == 0 || auth[n] != '\0' || n > ENDUSER_PROXY_BEARER_MAX) {
		enduser_error(r, 401, "invalid_client", "malformed bearer token", 0);
		return -1;
	}
	json_object_set_new(req, "bearer", json_string(auth));
	return 0;
}

/* A session's call needs a header no cross-site form sends: NULL when it has it, else why. */
const char *
enduser_proxy_csrf(struct request *r, int is_session)
{
	if (!is_session || request_param(r, "HTTP_X_REQUESTED_WITH") != NULL)
		return NULL;
	return "a session call through the proxy needs an X-Requested-With header";
}

/* Any of the allowed methods on /api/v1/proxy/{connection}/{rest}. */
static void
enduser_proxy(struct request *r)
{
	char		 path[ENDUSER_PROXY_PATH_MAX];
	const char	*why;
	json_t		*req, *reply;
	int		 is_session, n;

	n = snprintf(path, sizeof(path), "/%s", r->rest);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		enduser_error(r, 414, "invalid_request", "path too long", 0);
		return;
	}
	if (enduser_body(r, ENDUSER_PROXY_BODY_MAX) == -1 ||
	    (req = enduser_proxy_request(r, path)) == NULL)
		return;
	if (enduser_proxy_caller(r, req, &is_session) == -1) {
		json_decref(req);
		return;
	}
	if ((why = enduser_proxy_csrf(r, is_session)) != NULL) {
		json_decref(req);
		enduser_error(r, 403, "forbidden", why, 0);
		return;
	}
	reply = enduser_call(r, req, ENDUSER_CALL_TIMEOUT_MS);
	json_decref(req);
	if (!link_ok(reply))
		enduser_api_error(r, reply);
	else
		enduser_proxy_relay(r, reply);
	json_decref(reply);
	sodium_memzero(enduser_proxy_out, sizeof(enduser_proxy_out));
}
