/*
 * POST /api/v1/stream-sessions and /api/v1/transcribe-sessions: an app backend (HTTP Basic)
 * or a signed-in browser gets a limited token and the WebSocket to use it on.
 * POST /api/v1/relay-tickets: an app backend gets a single-use ticket for one relay
 * (/ws/{connection}/...) that it hands to a browser on another origin.
 */
#include "config.h"

#include <string.h>

#include "fcgi.h"

#define ENDUSER_STREAM_BODY_MAX		(16 * 1024)
#define ENDUSER_TRANSCRIBE_BODY_MAX	4096
#define ENDUSER_TICKET_BODY_MAX		1024

static void	enduser_stream_streams(struct request *);
static void	enduser_stream_transcribe(struct request *);
static void	enduser_stream_ticket(struct request *);

const struct route enduser_stream_routes[] = {
	{ "POST", "/api/v1/stream-sessions", ROUTE_JSON | ROUTE_APP | ROUTE_ENDUSER, 0,
	    enduser_stream_streams },
	{ "POST", "/api/v1/transcribe-sessions", ROUTE_JSON | ROUTE_APP | ROUTE_ENDUSER, 0,
	    enduser_stream_transcribe },
	{ "POST", "/api/v1/relay-tickets", ROUTE_JSON | ROUTE_APP, 0, enduser_stream_ticket },
	{ NULL, NULL, 0, 0, NULL }
};

static const char *const enduser_stream_keys[] = { "interactionId", "websocketUrl",
	"access_token", "token_type", "expires_in", "scope", NULL };
static const char *const enduser_ticket_keys[] = { "ticket", "expires_in", NULL };
static const char *const enduser_ticket_fields[] = { "connection", "kind", "interaction",
	"expires_in", NULL };

/* Both routes: an app credential or a session; the daemon makes the session upstream. */
static void
enduser_stream_create(struct request *r, int transcribe)
{
	const char	*ct = request_param(r, "CONTENT_TYPE");
	json_t		*req, *body;
	json_error_t	 je;
	int		 is_session;

	if (!transcribe && !request_is_json(ct)) {
		enduser_error(r, 415, "invalid_request", "Content-Type must be application/json",
		    0);
		return;
	}
	if (enduser_body(r, transcribe ? ENDUSER_TRANSCRIBE_BODY_MAX : ENDUSER_STREAM_BODY_MAX) ==
	    -1)
		return;
	req = json_pack("{s:s}", "verb", transcribe ? "transcribe.create" : "stream.create");
	if (req == NULL) {
		enduser_error(r, 500, "server_error", NULL, 0);
		return;
	}
	if (!transcribe) {
		body = json_loadb(r->body, r->bodylen, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(body)) {
			json_decref(body);
			json_decref(req);
			enduser_error(r, 400, "invalid_request", "the body must be a JSON object",
			    0);
			return;
		}
		json_object_set_new(req, "body", body);
	}
	if (enduser_caller(r, req, &is_session) == -1) {
		json_decref(req);
		return;
	}
	if (is_session && transcribe && enduser_csrf_check(r) == -1) {
		json_decref(req);
		return;
	}
	enduser_relay(r, req, enduser_stream_keys, 201);
}


/* POST /api/v1/stream-sessions: an interaction and its /streams WebSocket. */
static void
enduser_stream_streams(struct request *r)
{
	enduser_stream_create(r, 0);
}

/* POST /api/v1/transcribe-sessions: the /transcribe WebSocket. */
static void
enduser_stream_transcribe(struct request *r)
{
	enduser_stream_create(r, 1);
}

/* POST /api/v1/relay-tickets: {connection, kind, interaction?, expires_in?} from an app. */
static void
enduser_stream_ticket(struct request *r)
{
	json_t		*req, *body;
	json_error_t	 je;
	size_t		 i;
	int		 is_session;

	if (!request_is_json(request_param(r, "CONTENT_TYPE"))) {
		enduser_error(r, 415, "invalid_request", "Content-Type must be application/json",
		    0);
		return;
	}
	if (enduser_body(r, ENDUSER_TICKET_BODY_MAX) == -1)
		return;
	body = json_loadb(r->body, r->bodylen, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(body) || (req = json_pack("{s:s}", "verb", "relay.ticket")) == NULL) {
		json_decref(body);
		enduser_error(r, 400, "invalid_request", "the body must be a JSON object", 0);
		return;
	}
	/* the daemon checks each field's type and size; nothing else is passed on */
	for (i = 0; enduser_ticket_fields[i] != NULL; i++)
		if (json_object_get(body, enduser_ticket_fields[i]) != NULL)
			json_object_set(req, enduser_ticket_fields[i],
			    json_object_get(body, enduser_ticket_fields[i]));
	json_decref(body);
	if (enduser_caller(r, req, &is_session) == -1) {
		json_decref(req);
		return;
	}
	enduser_relay(r, req, enduser_ticket_keys, 201);
}
