/*
 * The data plane's question (nginx auth_request): may this caller make this call through
 * /api/v1/proxy/{connection}/...?  nginx asks with the caller's headers and, in FastCGI params
 * only nginx sets, the original method and URI; the daemon's gate decides (proxy.authorize).
 * A pass is 200 with the upstream URL, Tenant-Name and "Bearer TOKEN" in response headers that
 * nginx takes (auth_request_set) and injects into its own request upstream: the subrequest's
 * headers never reach the caller.  A refusal is 401 or 403 (what auth_request passes on), the
 * real status and the JSON error in headers for nginx's error page.  The caller's
 * Content-Length (or that its body is chunked) goes to the daemon as nginx gave it: the app's
 * body cap is the daemon's to check, and so is the value itself.
 *
 * The WebSocket relay (/ws/{connection}/transcribe, /ws/{connection}/streams/{interactionId}
 * or, as Corti's SDK names it, /ws/{connection}/interactions/{interactionId}/streams)
 * asks the same way ("relay.authorize"); its caller may also give the token flowgate issued it
 * as Corti's SDK does, "token=Bearer%20..." in the query, or a relay ticket its app backend
 * asked for it ("ticket=..." in the query or a subprotocol "flowgate-ticket.TICKET";
 * single-use: relayticket.c), and a session cookie
 * counts only with an Origin of this site (a cross-site page cannot open a relay with a
 * user's cookie).  nginx's request id goes along, so relay.open and relay.close (relayclose.c)
 * name the same relay.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "fcgi.h"
#include "log.h"

#define AUTHORIZE_PREFIX	"/api/v1/proxy/"
#define AUTHORIZE_WS		"/ws/"
#define AUTHORIZE_TOKEN_MAX	16384
#define AUTHORIZE_TICKET_MAX	64
#define AUTHORIZE_PATH_MAX	2048
#define AUTHORIZE_HEAD_MAX	(REQUEST_HEADERS_MAX + 16384 + 4096)

static void	enduser_authorize(struct request *);

const struct route enduser_authorize_routes[] = {
	{ "GET", "/flowgate-authorize", ROUTE_JSON | ROUTE_APP | ROUTE_ENDUSER | ROUTE_BARE, 0,
	    enduser_authorize },
	{ NULL, NULL, 0, 0, NULL }
};

/*
 * The HTTP status of a daemon error code; 500 for one it does not know.  An invalid_request
 * about the body says its own: 411 or 413 (hint, the daemon's "status").
 */
static int
enduser_authorize_status(const char *error, long hint)
{
	static const struct {
		const char	*error;
		int		 status;
	} map[] = {
		{ "bad_request", 400 }, { "invalid_request", 400 }, { "invalid_scope", 400 },
		{ "invalid_client", 401 }, { "unauthenticated", 401 },
		{ "unauthorized_client", 403 }, { "forbidden", 403 }, { "not_found", 404 },
		{ "rate_limited", 429 }, { "temporarily_unavailable", 503 },
		{ "upstream_error", 502 }, { "upstream_timeout", 504 },
	};
	size_t	i;

	if (error != NULL && strcmp(error, "invalid_request") == 0 && (hint == 411 || hint == 413))
		return (int)hint;
	for (i = 0; error != NULL && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].error, error) == 0)
			return map[i].status;
	return 500;
}

/* Refuse: 401 or 403 for auth_request; the real status and the JSON error in headers. */
static void
enduser_authorize_refuse(struct request *r, const char *error, const char *description,
    long hint)
{
	struct http_reply	 rp = { .content_type = "application/json" };
	int			 status = enduser_authorize_status(error, hint);
	json_t			*j;
	char			*s = NULL;

	if (status == 500)
		error = "server_error";
	else if (strcmp(error, "bad_request") == 0)	/* the daemon's schema: a malformed call */
		error = "invalid_request";
	j = json_pack("{ss}", "error", error);
	if (j != NULL && description != NULL)
		json_object_set_new(j, "error_description", json_string(description));
	if (j != NULL)
		s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	rp.status = status == 401 ? 401 : 403;
	request_log_refusal(r, error, description);
	request_header(r, "X-Flowgate-Status: %d", status);
	request_header(r, "X-Flowgate-Error: %s", s != NULL ? s : "{\"error\":\"server_error\"}");
	request_send(r, &rp, NULL, 0);
	free(s);
	json_decref(j);
}

/* Take the connection segment of *uri ("name/..."), a valid name, into conn; -1 if not one. */
static int
enduser_authorize_conn(const char **uri, char conn[FG_NAME_MAX + 1])
{
	size_t n = strcspn(*uri, "/?");

	if (n > FG_NAME_MAX || !fg_name_ok(*uri, n) || (*uri)[n] != '/')
		return -1;
	memcpy(conn, *uri, n);
	conn[n] = '\0';
	*uri += n;
	return 0;
}

/* The daemon's "proxy.authorize" request for the original call; NULL when it is malformed. */
static json_t *
enduser_authorize_request(struct request *r)
{
	const char	*uri = request_param(r, "FLOWGATE_URI");
	const char	*method = request_param(r, "FLOWGATE_METHOD");
	const char	*type = request_param(r, "FLOWGATE_CONTENT_TYPE");
	const char	*length = request_param(r, "FLOWGATE_CONTENT_LENGTH");
	const char	*te = request_param(r, "FLOWGATE_TRANSFER_ENCODING");
	char		 conn[FG_NAME_MAX + 1], path[AUTHORIZE_PATH_MAX + 1];
	size_t		 p;
	json_t		*req;

	if (uri == NULL || method == NULL ||
	    strncmp(uri, AUTHORIZE_PREFIX, strlen(AUTHORIZE_PREFIX)) != 0)
		return NULL;
	uri += strlen(AUTHORIZE_PREFIX);
	if (enduser_authorize_conn(&uri, conn) == -1 ||
	    (p = strcspn(uri, "?")) > AUTHORIZE_PATH_MAX)
		return NULL;
	memcpy(path, uri, p);
	path[p] = '\0';
	req = json_pack("{s:s,s:s,s:s,s:s}", "verb", "proxy.authorize", "connection", conn,
	    "method", method, "path", path);
	if (req != NULL && uri[p] == '?' && uri[p + 1] != '\0')
		json_object_set_new(req, "query", json_string(uri + p + 1));
	if (req != NULL && type != NULL && *type != '\0')
		json_object_set_new(req, "content_type", json_string(type));
	/* passed on as it came (the daemon judges it); one that is not even text is malformed */
	if (req != NULL && length != NULL && *length != '\0' &&
	    json_object_set_new(req, "content_length", json_string(length)) == -1) {
		json_decref(req);
		return NULL;
	}
	/* nginx accepts only "chunked", and never with a Content-Length */
	if (req != NULL && te != NULL && *te != '\0')
		json_object_set_new(req, "chunked", json_true());
	return req;
}

/* The relay's "relay.authorize" request for /ws/{connection}/...; NULL when malformed. */
static json_t *
enduser_authorize_relay(const char *uri)
{
	char		 conn[FG_NAME_MAX + 1], ia[FG_NAME_MAX + 1];
	const char	*id, *end;
	size_t		 m;

	uri += strlen(AUTHORIZE_WS);
	if (enduser_authorize_conn(&uri, conn) == -1)
		return NULL;
	if (strncmp(uri, "/transcribe", 11) == 0 && (uri[11] == '\0' || uri[11] == '?'))
		return json_pack("{s:s,s:s,s:s}", "verb", "relay.authorize", "connection", conn,
		    "kind", "transcribe");
	/* /streams/{id}, or Corti's own layout, which its SDK builds from its wss base */
	if (strncmp(uri, "/streams/", 9) == 0) {
		id = uri + 9;
		end = id + (m = strcspn(id, "/?"));
	} else if (strncmp(uri, "/interactions/", 14) == 0) {
		id = uri + 14;
		end = id + (m = strcspn(id, "/?"));
		if (strncmp(end, "/streams", 8) != 0)
			return NULL;
		end += 8;
	} else
		return NULL;
	if (m > FG_NAME_MAX || !fg_name_ok(id, m) || (*end != '\0' && *end != '?'))
		return NULL;
	memcpy(ia, id, m);
	ia[m] = '\0';
	return json_pack("{s:s,s:s,s:s,s:s}", "verb", "relay.authorize", "connection", conn,
	    "kind", "streams", "interaction", ia);
}

/* The ticket of n bytes at v onto req; longer than any flowgate issues: empty, as unknown. */
static void
enduser_authorize_ticket(json_t *req, const char *v, size_t n)
{
	char t[AUTHORIZE_TICKET_MAX + 1];

	if (n > AUTHORIZE_TICKET_MAX)
		n = 0;
	memcpy(t, v, n);
	t[n] = '\0';
	json_object_set_new(req, "ticket", json_string(t));
}

/*
 * A relay's ticket onto req: "ticket=..." in the query, else a WebSocket subprotocol
 * "flowgate-ticket.TICKET" (what a browser's WebSocket can send); the first one counts.
 */
static void
enduser_authorize_relay_ticket(struct request *r, json_t *req, const char *uri)
{
	const char	*v, *p = request_param(r, "HTTP_SEC_WEBSOCKET_PROTOCOL");

	for (v = strchr(uri, '?'); v != NULL; v = strchr(v + 1, '&')) {
		if (strncmp(v + 1, "ticket=", 7) == 0) {
			enduser_authorize_ticket(req, v + 8, strcspn(v + 8, "&"));
			return;
		}
	}
	for (v = p; v != NULL && *v != '\0'; v += strcspn(v, ",")) {
		v += strspn(v, ", \t");
		if (strncmp(v, "flowgate-ticket.", 16) == 0) {
			enduser_authorize_ticket(req, v + 16, strcspn(v + 16, ", \t"));
			return;
		}
	}
}

/* A relay's token in its query as Corti's SDK sends it (token=Bearer%20...), onto req. */
static void
enduser_authorize_query_token(json_t *req, const char *uri)
{
	const char	*q = strchr(uri, '?'), *v;
	char		 tok[AUTHORIZE_TOKEN_MAX + 1];
	size_t		 n;

	for (v = q; v != NULL; v = strchr(v + 1, '&')) {
		if (strncmp(v + 1, "token=", 6) != 0)
			continue;
		v += 7;
		if (strncasecmp(v, "Bearer%20", 9) != 0)
			return;
		v += 9;
		n = strcspn(v, "&");
		if (n == 0 || n > AUTHORIZE_TOKEN_MAX)
			return;
		memcpy(tok, v, n);
		tok[n] = '\0';
		json_object_set_new(req, "bearer", json_string(tok));
		return;
	}
}

/* A session may open a relay only from this site's own pages: NULL when so, else why. */
static const char *
enduser_authorize_origin(struct request *r)
{
	const char	*origin = request_param(r, "HTTP_ORIGIN");
	const char	*host = request_param(r, "HTTP_HOST");
	size_t		 n;

	if (origin == NULL || host == NULL)
		return "a relay with a session needs the Origin of this site";
	n = strncmp(origin, "https://", 8) == 0 ? 8 : strncmp(origin, "http://", 7) == 0 ? 7 : 0;
	if (n == 0 || strcmp(origin + n, host) != 0)
		return "a relay with a session is opened only by this site's pages";
	return NULL;
}

/* True when s may stand in a header line: visible ASCII and spaces only. */
static int
enduser_authorize_plain(const char *s)
{
	if (s == NULL)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/*
 * A pass: the URL, tenant and token as headers for nginx; the buffer is wiped after.  A
 * relay's token is in its URL already (no token field).
 */
static void
enduser_authorize_pass(struct request *r, json_t *reply)
{
	static char		 head[AUTHORIZE_HEAD_MAX];
	struct http_reply	 rp = { .status = 200, .content_type = "text/plain" };
	const char		*url = link_str(reply, "url"), *tenant = link_str(reply, "tenant");
	const char		*token = link_str(reply, "token");
	int			 n;

	if (!enduser_authorize_plain(url) || !enduser_authorize_plain(tenant) ||
	    (token != NULL && !enduser_authorize_plain(token))) {
		fg_log_warn("proxy.authorize: malformed daemon reply");
		enduser_authorize_refuse(r, "server_error", NULL, 0);
		return;
	}
	n = snprintf(head, sizeof(head), "%.*sX-Flowgate-Upstream: %s\r\nX-Flowgate-Tenant: %s\r\n"
	    "%s%s%s", (int)r->hdrlen, r->hdr, url, tenant, token ? "X-Flowgate-Authorization: "
	    "Bearer " : "", token ? token : "", token ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head)) {
		enduser_authorize_refuse(r, "server_error", "the token is too long to pass on", 0);
		return;
	}
	rp.headers = head;
	http_send(r->fcgi, &rp, NULL, 0);
	sodium_memzero(head, (size_t)n);
}

/* GET /flowgate-authorize, nginx's subrequest: ask the gate about the original call. */
static void
enduser_authorize(struct request *r)
{
	const char	*why, *uri;
	json_t		*req, *reply;
	int		 is_session, relay;

	if (request_param(r, "FLOWGATE_AUTHORIZE") == NULL) {
		enduser_error(r, 404, "not_found", NULL, 0);
		return;
	}
	/* log lines name the call nginx asks about, not the subrequest */
	r->method = request_param(r, "FLOWGATE_METHOD");
	r->path = request_param(r, "FLOWGATE_PATH");
	if (r->method == NULL || r->path == NULL) {
		r->method = "GET";
		r->path = "/flowgate-authorize";
	}
	uri = request_param(r, "FLOWGATE_URI");
	relay = uri != NULL && strncmp(uri, AUTHORIZE_WS, strlen(AUTHORIZE_WS)) == 0;
	if ((req = relay ? enduser_authorize_relay(uri) : enduser_authorize_request(r)) ==
	    NULL) {
		enduser_authorize_refuse(r, "not_found", "the proxy path is "
		    "/api/v1/proxy/{connection}/...", 0);
		return;
	}
	if (relay) {
		enduser_authorize_relay_ticket(r, req, uri);
		enduser_authorize_query_token(req, uri);
		if (request_param(r, "FLOWGATE_REQUEST_ID") != NULL)
			json_object_set_new(req, "request_id",
			    json_string(request_param(r, "FLOWGATE_REQUEST_ID")));
	}
	/* a malformed credential is answered there; nginx's error page says invalid_client */
	if (json_object_get(req, "bearer") != NULL || json_object_get(req, "ticket") != NULL)
		is_session = 0;
	else if (enduser_proxy_caller(r, req, &is_session) == -1) {
		json_decref(req);
		return;
	}
	why = !relay ? enduser_proxy_csrf(r, is_session) : is_session ?
	    enduser_authorize_origin(r) : NULL;
	if (why != NULL) {
		json_decref(req);
		enduser_authorize_refuse(r, "forbidden", why, 0);
		return;
	}
	reply = enduser_call(r, req, ENDUSER_CALL_TIMEOUT_MS);
	json_decref(req);
	if (reply == NULL)
		enduser_authorize_refuse(r, "temporarily_unavailable", "the broker is unavailable",
		    0);
	else if (!link_ok(reply))
		enduser_authorize_refuse(r, link_str(reply, "error"), link_str(reply, "message"),
		    (long)json_integer_value(json_object_get(reply, "status")));
	else
		enduser_authorize_pass(r, reply);
	json_decref(reply);
}
