/*
 * POST /api/v1/session/token: the signed-in end user's browser asks for a limited token.
 * POST /api/v1/session/assistant-credentials: the user's own whole token set, for an embedded
 * Corti Assistant (apps of kind assistant only; the daemon's gate decides).
 */
#include "config.h"

#include <string.h>

#include "fcgi.h"

#define ENDUSER_TOKEN_BODY_MAX	4096

static void	enduser_session_token(struct request *);
static void	enduser_session_assistant(struct request *);

const struct route enduser_session_routes[] = {
	{ "POST", "/api/v1/session/token", ROUTE_JSON | ROUTE_ENDUSER, 0, enduser_session_token },
	{ "POST", "/api/v1/session/assistant-credentials", ROUTE_JSON | ROUTE_ENDUSER, 0,
	    enduser_session_assistant },
	{ NULL, NULL, 0, 0, NULL }
};

static const char *const enduser_session_keys[] = { "access_token", "token_type",
	"expires_in", "scope", NULL };
static const char *const enduser_assistant_keys[] = { "access_token", "refresh_token",
	"id_token", "token_type", "expires_in", "scope", NULL };

/* Ask the daemon with req (caller added here) and answer with the keys of its reply. */
static void
enduser_session_call(struct request *r, json_t *req, const char *const *keys)
{
	int	 is_session;

	if (req == NULL || enduser_caller(r, req, &is_session) == -1) {
		if (req == NULL)
			enduser_error(r, 500, "server_error", NULL, 0);
		json_decref(req);
		return;
	}
	enduser_relay(r, req, keys, 200);
}

/* POST /api/v1/session/assistant-credentials: the user's token set for the Assistant. */
static void
enduser_session_assistant(struct request *r)
{
	if (enduser_csrf_check(r) == -1 || enduser_body(r, ENDUSER_TOKEN_BODY_MAX) == -1)
		return;
	enduser_session_call(r, json_pack("{s:s}", "verb", "enduser.assistant"),
	    enduser_assistant_keys);
}

/* POST /api/v1/session/token: a limited-scope token for the signed-in end user. */
static void
enduser_session_token(struct request *r)
{
	const char	*ct = request_param(r, "CONTENT_TYPE");
	const char	*scope = NULL;
	struct form	 f;
	json_t		*body = NULL, *req;

	if (enduser_csrf_check(r) == -1 || enduser_body(r, ENDUSER_TOKEN_BODY_MAX) == -1)
		return;
	if (r->bodylen > 0 && request_is_json(ct)) {
		body = json_loadb(r->body, r->bodylen, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(body) || (json_object_get(body, "scope") != NULL &&
		    !json_is_string(json_object_get(body, "scope")))) {
			json_decref(body);
			enduser_error(r, 400, "invalid_request",
			    "the body must be a JSON object with "
			    "an optional string scope", 0);
			return;
		}
		scope = json_string_value(json_object_get(body, "scope"));
	} else if (r->bodylen > 0 && form_content_type_ok(ct)) {
		if (form_parse(r->body, r->bodylen, &f) != FORM_OK) {
			enduser_error(r, 400, "invalid_request", "malformed form body", 0);
			return;
		}
		scope = form_get(&f, "scope");
	} else if (r->bodylen > 0) {
		enduser_error(r, 415, "invalid_request", "the body must be JSON or a form", 0);
		return;
	}
	if (scope != NULL && *scope == '\0')
		scope = NULL;
	req = json_pack("{s:s}", "verb", "enduser.token");
	if (req != NULL && scope != NULL)
		json_object_set_new(req, "scope", json_string(scope));
	json_decref(body);
	enduser_session_call(r, req, enduser_session_keys);
}

