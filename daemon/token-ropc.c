/*
 * The password grant (ROPC), only for apps registered for it (the gate's route "ropc"): one
 * upstream password grant per request, never shared through the token cache; the password
 * lives in guarded memory only, and the issuance is audited with the user name, never the
 * password.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/* A password grant in flight: the requester and the user it is for. */
struct token_ropc {
	struct token_req	 w;
	char			 scopes[FG_SCOPES_MAX];
	char			 username[257];
	char			 conn[FG_NAME_MAX + 1];
};

/* The upstream answered a password grant: audited with the user name, never the password. */
static void
token_ropc_done(void *arg, struct upstream_token *t)
{
	struct token_ropc	*r = arg;
	char			 detail[400], fp[FG_FP_LEN], granted[FG_SCOPES_MAX];
	struct audit_rec	 rec = { r->w.actor, "token.issue", r->w.app, r->conn, granted,
				    "issued", detail, fp };
	struct token_grant	 g = { NULL, 0, granted, fp, r->w.conn_id };
	struct token_fail	 f = { "temporarily_unavailable", t->message, t->retry_after };
	char			 missing[FG_NAME_MAX + 1];

	snprintf(detail, sizeof(detail), "grant=password user=%s remote=%s", r->username,
	    r->w.remote);
	snprintf(granted, sizeof(granted), "%s", t->scope_given ? t->scope : r->scopes);
	if (t->outcome == UPSTREAM_OK && !scope_subset(granted, r->scopes, missing,
	    sizeof(missing))) {
		t->outcome = UPSTREAM_BAD_RESPONSE;
		snprintf(t->message, sizeof(t->message), "the upstream granted a broader scope "
		    "(%s); refused", missing);
	}
	if (t->outcome != UPSTREAM_OK || (f.message = gate_still(r->w.app_id, r->w.epoch)) !=
	    NULL) {
		if (t->outcome != UPSTREAM_OK && t->code[0] != '\0')
			f.code = t->code;
		if (strcmp(f.code, "invalid_grant") == 0)
			f.message = "the user name or password was refused by the upstream";
		if (f.message == NULL)
			f.message = t->message;
		token_refused(&r->w, r->conn, r->scopes, &f);
		free(r);
		return;
	}
	seal_fingerprint(t->access_token->buf, t->access_token->len, fp);
	g.token = t->access_token->buf;
	g.expires_in = t->expires_in;
	app_usage_note(r->w.app);
	f = (struct token_fail){ "server_error", "audit record could not be written", 0 };
	if (audit_append(&rec) == -1)
		r->w.done(&r->w, NULL, &f);
	else
		token_hand_over(&r->w, &g);
	free(r);
}

/*
 * ROPC for an app registered for it: one upstream password grant per request (a token for a
 * user is never shared through the cache); the password lives in guarded memory only.
 */
void
token_ropc(const struct token_req *w, const struct app_rec *app, const char *scopes,
    json_t *req)
{
	json_t			*pw = json_object_get(req, "password");
	struct token_ropc	*r;
	struct conn_rec		 c;
	struct fg_secret	*secret = NULL, *password;
	const char		*user = json_string_value(json_object_get(req, "username"));
	struct token_fail	 f = { "server_error", "out of memory", 0 };
	int			 rc = -1;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (password = seal_secret_from(json_string_value(pw), json_string_length(pw))) == NULL) {
		free(r);
		token_refused(w, app->connection, scopes, &f);
		return;
	}
	r->w = *w;
	snprintf(r->scopes, sizeof(r->scopes), "%s", scopes);
	snprintf(r->username, sizeof(r->username), "%s", user);
	snprintf(r->conn, sizeof(r->conn), "%s", app->connection);
	if (connection_get_id(app->connection_id, &c) == 0 && !c.stopped &&
	    connection_open_secret(&c, &secret) == 0) {
		struct upstream_param p[] = {
			{ "grant_type", "password", 8 },
			{ "username", user, strlen(user) },
			{ "password", password->buf, password->len },
			{ "scope", scopes, strlen(scopes) },
		};

		rc = upstream_token(c.token_url, c.client_id, secret, p, 4, token_ropc_done, r);
	}
	seal_secret_free(secret);
	seal_secret_free(password);
	if (rc == -1) {
		free(r);
		f = (struct token_fail){ "temporarily_unavailable", "cannot reach the upstream", 0 };
		token_refused(w, app->connection, scopes, &f);
	}
}
