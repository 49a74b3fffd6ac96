/*
 * The Keycloak-shaped token endpoint, POST /realms/{tenant}/protocol/openid-connect/token: the
 * "token" verb with a "tenant" field.  Corti's SDK asks there with scope "openid" (plus what
 * it wants); openid names no API scope, so it is dropped before the gate, and the tenant in the
 * path must be the tenant of the app's connection.  A mismatch is invalid_client, as Keycloak
 * answers a client the realm does not know: it says nothing about the credential elsewhere.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

/* Drop "openid" from the scope of a request on the realm route; no scope left: none asked. */
void
realm_scope(json_t *req)
{
	const char	*s = json_string_value(json_object_get(req, "scope"));
	char		 out[FG_SCOPES_MAX + 1] = "";
	size_t		 n, used = 0;

	if (json_object_get(req, "tenant") == NULL || s == NULL)
		return;
	while (*s != '\0') {
		s += strspn(s, " ");
		n = strcspn(s, " ");
		if (n > 0 && !(n == 6 && strncmp(s, "openid", 6) == 0) &&
		    used + n + 2 <= sizeof(out)) {
			snprintf(out + used, sizeof(out) - used, "%s%.*s", used ? " " : "", (int)n,
			    s);
			used = strlen(out);
		}
		s += n;
	}
	if (used == 0)
		json_object_del(req, "scope");
	else
		json_object_set_new(req, "scope", json_string(out));
}

/*
 * A pass on the realm route holds only for the tenant of the app's connection: 0 when it does
 * (or the request came to /oauth2/token), else -1 after auditing and answering invalid_client.
 */
int
realm_check(const struct gate_pass *p, json_t *req)
{
	const char		*tenant = json_string_value(json_object_get(req, "tenant"));
	char			 detail[300];
	struct conn_rec		 c;
	struct audit_rec	 rec = { p->actor, "token.refuse", p->app.name, p->app.connection,
				    p->scopes, "invalid_client", detail, NULL };
	struct token_fail	 f = { "invalid_client", "client authentication failed", 0 };

	if (tenant == NULL)
		return 0;
	if (connection_get_id(p->app.connection_id, &c) == 0 && strcmp(c.tenant, tenant) == 0)
		return 0;
	snprintf(detail, sizeof(detail), "route=token step=tenant remote=%s: the app's "
	    "connection is not in realm %s", p->remote, tenant);
	token_count_refusal();
	audit_append(&rec);
	token_fail_reply(&p->ctx, &f);
	return -1;
}
