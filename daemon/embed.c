/*
 * The host page of an embedded Corti Assistant (GET /embed/{app}) asks here what it needs
 * before it is served: the origin of the Assistant to frame (pinned in its CSP and its
 * postMessage calls), and whether the browser's session is one of the app's users.  No token
 * passes here; the page gets the user's token set from the assistant_credentials route.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "daemon.h"

/*
 * The Assistant's origin for connection c: the [upstream] assistant_origin key when set (tests,
 * a private deployment), else https://assistant.{region}.corti.app from the connection's Corti
 * token URL (https://auth.{region}.corti.app/...).  -1 when neither gives one.
 */
static int
embed_origin(const struct conn_rec *c, char *out, size_t outlen)
{
	static const char	 pre[] = "https://auth.", post[] = ".corti.app/";
	const char		*region = c->token_url + sizeof(pre) - 1, *end;
	size_t			 n;

	if (fg_cfg->assistant_origin != NULL) {
		snprintf(out, outlen, "%s", fg_cfg->assistant_origin);
		return 0;
	}
	if (strncmp(c->token_url, pre, sizeof(pre) - 1) != 0 ||
	    (end = strstr(region, post)) == NULL)
		return -1;
	n = (size_t)(end - region);
	if (n == 0 || n > 16 || strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") < n)
		return -1;
	snprintf(out, outlen, "https://assistant.%.*s.corti.app", (int)n, region);
	return 0;
}

/* "enduser.embed": app, session?, remote? — the Assistant's origin; is the user logged in? */
static void
embed_verb(const struct fg_reqctx *ctx, json_t *req)
{
	const char	*name = json_string_value(json_object_get(req, "app"));
	const char	*sid = json_string_value(json_object_get(req, "session"));
	struct app_rec	 a;
	struct conn_rec	 c;
	char		 origin[300], actor[96];
	int64_t		 app_id = 0;
	int		 in;

	if (app_lookup(name, 0, &a) == -1 || a.revoked || strcmp(a.kind, "assistant") != 0) {
		server_reply_error(ctx, "not_found", "no embedded Assistant app of that name");
		return;
	}
	if (connection_get(a.connection, &c) == -1 || embed_origin(&c, origin,
	    sizeof(origin)) == -1) {
		server_reply_error(ctx, "temporarily_unavailable", "connection %s has no Corti "
		    "Assistant origin (set assistant_origin in flowgated.conf)", a.connection);
		return;
	}
	in = sid != NULL && oidc_session_who(sid, &app_id, actor, sizeof(actor)) == 0 &&
	    app_id == a.id;
	server_reply(ctx, json_pack("{sbsssb}", "ok", 1, "origin", origin, "logged_in", in));
}

static const struct verb_field embed_fields[] = {
	{ "app", VERB_STR, 1, FG_NAME_MAX }, { "session", VERB_STR, 0, 64 },
	{ "remote", VERB_STR, 0, 64 }, VERB_FIELDS_END
};
const struct verb_entry embed_entry = {
	.name = "enduser.embed",
	.peers = PEER_WEB,
	.fn = embed_verb,
	.fields = embed_fields
};
