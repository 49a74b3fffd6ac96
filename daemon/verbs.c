/*
 * The dispatch table: for each verb, which peers may call it and the exact fields it takes.
 * A request with an unknown verb, a verb its peer may not use, an unknown field, a missing
 * field or a field of the wrong type or size is refused before any handler sees it.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

enum field_type { FT_STR, FT_INT, FT_BOOL, FT_OBJ };

struct field {
	const char	*name;
	enum field_type	 type;
	int		 required;
	size_t		 max;		/* strings: bytes */
};

struct verb {
	const char		*name;
	int			 peers;		/* PEER_* mask */
	int			 roles;		/* ROLE_* mask for web sessions; 0: no session */
	int			 csrf;		/* web sessions must send the CSRF token */
	void			(*fn)(const struct fg_reqctx *, json_t *);
	const struct field	*fields;
};

static void verbs_health(const struct fg_reqctx *, json_t *);
static void verbs_stats(const struct fg_reqctx *, json_t *);
static void verbs_status(const struct fg_reqctx *, json_t *);
static void verbs_policy(const struct fg_reqctx *, json_t *);
static void verbs_audit_tail(const struct fg_reqctx *, json_t *);
static void verbs_audit_verify(const struct fg_reqctx *, json_t *);
static void verbs_backup(const struct fg_reqctx *, json_t *);

#define F_END { NULL, FT_STR, 0, 0 }
static const struct field f_none[] = { F_END };
static const struct field f_name[] = { { "name", FT_STR, 1, FG_NAME_MAX }, F_END };
static const struct field f_token[] = {
	{ "client_id", FT_STR, 1, 128 },
	{ "client_secret", FT_STR, 1, 256 },
	{ "grant_type", FT_STR, 1, 64 },
	{ "scope", FT_STR, 0, 512 },
	{ "remote", FT_STR, 0, 64 },
	{ "username", FT_STR, 0, 256 },
	{ "password", FT_STR, 0, 1024 },
	F_END
};
static const struct field f_conn_add[] = {
	{ "name", FT_STR, 1, FG_NAME_MAX },
	{ "environment", FT_STR, 1, 32 },
	{ "tenant", FT_STR, 1, FG_NAME_MAX },
	{ "client_id", FT_STR, 1, 256 },
	{ "secret", FT_STR, 1, FG_SECRET_MAX },
	{ "token_url", FT_STR, 0, 2048 },
	{ "api_base", FT_STR, 0, 2048 },
	{ "verify", FT_BOOL, 0, 0 },
	F_END
};
static const struct field f_conn_rotate[] = {
	{ "name", FT_STR, 1, FG_NAME_MAX },
	{ "secret", FT_STR, 1, FG_SECRET_MAX },
	{ "grace_s", FT_INT, 0, 0 },
	F_END
};
static const struct field f_app_add[] = {
	{ "name", FT_STR, 1, FG_NAME_MAX },
	{ "flow", FT_STR, 1, 32 },
	{ "connection", FT_STR, 1, FG_NAME_MAX },
	{ "scopes", FT_STR, 1, 512 },
	{ "kind", FT_STR, 1, 16 },
	{ "internal", FT_BOOL, 0, 0 },
	{ "can_redirect", FT_BOOL, 0, 0 },
	{ "justification", FT_STR, 0, 2000 },
	{ "redirect_uri", FT_STR, 0, 2048 },
	{ "return_url", FT_STR, 0, 2048 },
	{ "proxy_methods", FT_STR, 0, 64 },
	{ "proxy_paths", FT_STR, 0, 2048 },
	F_END
};
static const struct field f_app_update[] = {
	{ "name", FT_STR, 1, FG_NAME_MAX },
	{ "scopes", FT_STR, 1, 512 },
	F_END
};
static const struct field f_app_rotate[] = {
	{ "name", FT_STR, 1, FG_NAME_MAX },
	{ "overlap_s", FT_INT, 0, 0 },
	F_END
};
static const struct field f_backup[] = { { "path", FT_STR, 1, 1024 }, F_END };
static const struct field f_audit_tail[] = { { "n", FT_INT, 0, 0 }, { "before", FT_INT, 0, 0 },
    F_END };
static const struct field f_audit_query[] = {
	{ "from_ms", FT_INT, 0, 0 }, { "to_ms", FT_INT, 0, 0 },
	{ "before", FT_INT, 0, 0 }, { "limit", FT_INT, 0, 0 },
	{ "app", FT_STR, 0, FG_NAME_MAX }, { "connection", FT_STR, 0, FG_NAME_MAX },
	{ "actor", FT_STR, 0, 128 }, { "outcome", FT_STR, 0, 64 }, { "event", FT_STR, 0, 64 },
	F_END
};
static const struct field f_login[] = {
	{ "user", FT_STR, 1, FG_NAME_MAX },
	{ "password", FT_STR, 1, 1024 },
	{ "remote", FT_STR, 0, 64 },
	F_END
};
static const struct field f_session[] = { { "session", FT_STR, 1, 64 }, F_END };
static const struct field f_login_begin[] = {
	{ "app", FT_STR, 1, FG_NAME_MAX }, { "remote", FT_STR, 0, 64 }, F_END
};
static const struct field f_login_callback[] = {
	{ "code", FT_STR, 1, 2048 }, { "state", FT_STR, 1, 64 },
	{ "state_cookie", FT_STR, 1, 64 }, { "remote", FT_STR, 0, 64 }, F_END
};
static const struct field f_stream[] = {
	{ "client_id", FT_STR, 0, 128 }, { "client_secret", FT_STR, 0, 256 },
	{ "session", FT_STR, 0, 64 }, { "body", FT_OBJ, 0, 0 }, { "remote", FT_STR, 0, 64 },
	F_END
};
static const struct field f_proxy[] = {
	{ "client_id", FT_STR, 0, 128 }, { "client_secret", FT_STR, 0, 256 },
	{ "session", FT_STR, 0, 64 }, { "connection", FT_STR, 1, FG_NAME_MAX },
	{ "method", FT_STR, 1, 7 }, { "path", FT_STR, 1, 2048 }, { "query", FT_STR, 0, 2048 },
	{ "content_type", FT_STR, 0, 127 }, { "body_b64", FT_STR, 0, 33000 },
	{ "remote", FT_STR, 0, 64 },
	F_END
};
static const struct field f_user_logout[] = {
	{ "session", FT_STR, 1, 64 }, { "remote", FT_STR, 0, 64 }, F_END
};
static const struct field f_user_token[] = {
	{ "session", FT_STR, 1, 64 }, { "scope", FT_STR, 0, 512 }, { "remote", FT_STR, 0, 64 },
	F_END
};
static const struct field f_user_add[] = {
	{ "name", FT_STR, 1, FG_NAME_MAX },
	{ "role", FT_STR, 1, 16 },
	{ "password", FT_STR, 1, 1024 },
	F_END
};
static const struct field f_user_role[] = {
	{ "name", FT_STR, 1, FG_NAME_MAX },
	{ "role", FT_STR, 1, 16 },
	F_END
};
static const struct field f_user_password[] = {
	{ "name", FT_STR, 0, FG_NAME_MAX },
	{ "old_password", FT_STR, 0, 1024 },
	{ "new_password", FT_STR, 1, 1024 },
	F_END
};

#define WEB	PEER_WEB
#define ADMIN	PEER_ADMIN
#define BOTH	(PEER_WEB | PEER_ADMIN)
#define R_ADM	ROLE_ADMIN
#define R_SEC	ROLE_SECURITY
#define R_ANY	ROLE_ANY
static const struct verb verbs[] = {
	/* app-authenticated or public to the front end */
	{ "token", BOTH, 0, 0, token_handle, f_token },
	{ "health", BOTH, 0, 0, verbs_health, f_none },
	{ "stats", BOTH, 0, 0, verbs_stats, f_none },
	{ "policy", BOTH, 0, 0, verbs_policy, f_none },
	{ "login", WEB, 0, 0, session_verb_login, f_login },
	{ "session", WEB, 0, 0, session_verb_session, f_session },
	{ "logout", WEB, 0, 0, session_verb_logout, f_session },
	/* end users of user-present apps: their browser's session id is the credential */
	{ "login.begin", WEB, 0, 0, oidc_verb_begin, f_login_begin },
	{ "login.callback", WEB, 0, 0, oidc_verb_callback, f_login_callback },
	{ "user.token", WEB, 0, 0, oidc_verb_token, f_user_token },
	{ "user.logout", WEB, 0, 0, oidc_verb_logout, f_user_logout },
	{ "stream.create", BOTH, 0, 0, stream_verb_stream, f_stream },
	{ "transcribe.create", BOTH, 0, 0, stream_verb_transcribe, f_stream },
	{ "proxy", BOTH, 0, 0, proxy_verb, f_proxy },
	/* local administration only */
	{ "status", ADMIN, 0, 0, verbs_status, f_none },
	{ "audit.tail", ADMIN, 0, 0, verbs_audit_tail, f_audit_tail },
	{ "backup", ADMIN, 0, 0, verbs_backup, f_backup },
	/* web sessions by role, or local administration */
	{ "dashboard", BOTH, R_ANY, 0, dashboard_verb, f_none },
	{ "connection.list", BOTH, R_ANY, 0, connection_verb_list, f_none },
	{ "connection.show", BOTH, R_ANY, 0, connection_verb_show, f_name },
	{ "connection.add", BOTH, R_ADM, 1, connection_verb_add, f_conn_add },
	{ "connection.test", BOTH, R_ADM | R_SEC, 1, connection_verb_test, f_name },
	{ "connection.rotate", BOTH, R_SEC, 1, connection_verb_rotate, f_conn_rotate },
	{ "connection.retire", BOTH, R_SEC, 1, connection_verb_retire, f_name },
	{ "connection.stop", BOTH, R_SEC, 1, connection_verb_stop, f_name },
	{ "connection.resume", BOTH, R_SEC, 1, connection_verb_resume, f_name },
	{ "connection.remove", BOTH, R_ADM, 1, connection_verb_remove, f_name },
	{ "app.list", BOTH, R_ANY, 0, app_verb_list, f_none },
	{ "app.show", BOTH, R_ANY, 0, app_verb_show, f_name },
	{ "app.add", BOTH, R_ADM, 1, app_verb_add, f_app_add },
	{ "app.update", BOTH, R_ADM, 1, app_verb_update, f_app_update },
	{ "app.rotate_secret", BOTH, R_ADM, 1, app_verb_rotate_secret, f_app_rotate },
	{ "app.revoke", BOTH, R_ADM, 1, app_verb_revoke, f_name },
	{ "audit.query", BOTH, R_ANY, 0, audit_verb_query, f_audit_query },
	{ "audit.verify", BOTH, R_ANY, 0, verbs_audit_verify, f_none },
	{ "user.list", BOTH, R_ADM, 0, user_verb_list, f_none },
	{ "user.add", BOTH, R_ADM, 1, user_verb_add, f_user_add },
	{ "user.set_role", BOTH, R_ADM, 1, user_verb_set_role, f_user_role },
	{ "user.disable", BOTH, R_ADM, 1, user_verb_disable, f_name },
	{ "user.enable", BOTH, R_ADM, 1, user_verb_enable, f_name },
	{ "user.password", BOTH, R_ANY, 1, user_verb_password, f_user_password },
};

/* Check one value against its field. */
static int
verbs_field_ok(const struct field *f, json_t *v)
{
	switch (f->type) {
	case FT_STR:
		/* no embedded NULs: C code downstream sees the same string jansson saw */
		return json_is_string(v) && json_string_length(v) <= f->max &&
		    strlen(json_string_value(v)) == json_string_length(v);
	case FT_INT:
		return json_is_integer(v);
	case FT_BOOL:
		return json_is_boolean(v);
	case FT_OBJ:
		return json_is_object(v);	/* its own handler checks every field */
	}
	return 0;
}

/* Check req against the verb's schema; NULL or what is wrong. */
static const char *
verbs_check(const struct verb *v, json_t *req, char *buf, size_t buflen)
{
	const struct field	*f;
	const char		*key;
	json_t			*val;

	json_object_foreach(req, key, val) {
		if (strcmp(key, "verb") == 0)
			continue;
		for (f = v->fields; f->name != NULL && strcmp(f->name, key) != 0; f++)
			;
		if (f->name == NULL) {
			snprintf(buf, buflen, "unknown field '%.64s' for %s", key, v->name);
			return buf;
		}
		if (!verbs_field_ok(f, val)) {
			snprintf(buf, buflen, "field %s has the wrong type or size", f->name);
			return buf;
		}
	}
	for (f = v->fields; f->name != NULL; f++) {
		if (f->required && json_object_get(req, f->name) == NULL) {
			snprintf(buf, buflen, "field %s is required", f->name);
			return buf;
		}
	}
	return NULL;
}

/* Record a refused web admin request: who tried what. */
static void
verbs_refused(const struct fg_reqctx *ctx, const struct verb *v, const char *why)
{
	char			 actor[96];
	struct audit_rec	 rec = { actor, "admin.refuse", NULL, NULL, NULL, why, v->name,
				    NULL };

	server_actor(ctx, actor, sizeof(actor));
	audit_append(&rec);
}

/*
 * A web peer asking for a role-gated verb must carry a live session of a permitted role and,
 * for changes, that session's CSRF token; both fields are taken out of req before the schema
 * check.  The front end cannot skip this: it never learns anything it could forge.
 */
static int
verbs_web_session(struct fg_reqctx *ctx, const struct verb *v, json_t *req)
{
	const char	*sid = json_string_value(json_object_get(req, "session"));
	const char	*csrf = json_string_value(json_object_get(req, "csrf"));
	int		 ok_csrf = session_csrf_ok(sid, csrf);

	if (session_check(sid, ctx) == -1) {
		server_reply_error(ctx, "unauthenticated", "not logged in, or the session ended");
		return -1;
	}
	if ((v->roles & ctx->role) == 0) {
		verbs_refused(ctx, v, "forbidden");
		server_reply_error(ctx, "forbidden", "the %s role may not do %s",
		    user_role_name(ctx->role), v->name);
		return -1;
	}
	if (v->csrf && !ok_csrf) {
		verbs_refused(ctx, v, "csrf");
		server_reply_error(ctx, "csrf", "missing or wrong CSRF token");
		return -1;
	}
	json_object_del(req, "session");
	json_object_del(req, "csrf");
	return 0;
}

/* Route one request: table lookup, peer check, session check, schema check, handler. */
void
verbs_dispatch(const struct fg_reqctx *in, json_t *req)
{
	const char		*name = json_string_value(json_object_get(req, "verb"));
	const struct verb	*v = NULL;
	struct fg_reqctx	 ctx = *in;
	const char		*why;
	char			 buf[160];
	size_t			 i;

	if (name == NULL) {
		server_reply_error(&ctx, "bad_request", "request has no verb");
		return;
	}
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]) && v == NULL; i++)
		if (strcmp(verbs[i].name, name) == 0)
			v = &verbs[i];
	if (v == NULL) {
		server_reply_error(&ctx, "unknown_verb", "unknown verb");
		return;
	}
	if ((v->peers & ctx.peer) == 0) {
		fg_log_warn("peer uid=%u pid=%d may not call %s", (unsigned)ctx.uid, (int)ctx.pid,
		    v->name);
		server_reply_error(&ctx, "forbidden", "this peer may not call %s", v->name);
		return;
	}
	if (ctx.peer == PEER_WEB && v->roles != 0 && verbs_web_session(&ctx, v, req) == -1)
		return;
	if ((why = verbs_check(v, req, buf, sizeof(buf))) != NULL) {
		server_reply_error(&ctx, "bad_request", "%s", why);
		return;
	}
	v->fn(&ctx, req);
}

/* Names of connections and apps: a-z 0-9 - _, starting with a letter or digit. */
int
verbs_valid_name(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > FG_NAME_MAX || s[0] == '-' || s[0] == '_')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		    s[i] == '_'))
			return 0;
	return 1;
}

/* Environments and tenants: letters, digits, - _ . ; they go into URLs. */
int
verbs_valid_word(const char *s, size_t max)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > max || s[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return 0;
	return 1;
}

/* Client ids: printable ASCII without spaces. */
int
verbs_valid_printable(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

/* "health": database writable and the upstream's last answer. */
static void
verbs_health(const struct fg_reqctx *ctx, json_t *req)
{
	(void)req;
	server_reply(ctx, json_pack("{sbsssoss}", "ok", 1, "database", store_writable() ? "ok" :
	    "error", "upstream", upstream_health(), "version", FG_VERSION_STRING));
}

/* "stats": every counter, flat, for /metrics. */
static void
verbs_stats(const struct fg_reqctx *ctx, json_t *req)
{
	json_t *o = json_pack("{sb}", "ok", 1);

	(void)req;
	json_object_update_new(o, server_stats());
	json_object_update_new(o, token_stats());
	json_object_update_new(o, upstream_stats());
	server_reply(ctx, o);
}

/* "status": what an operator checks first. */
static void
verbs_status(const struct fg_reqctx *ctx, json_t *req)
{
	(void)req;
	server_reply(ctx, json_pack("{sbsssisssoso}", "ok", 1, "version", FG_VERSION_STRING,
	    "apps", app_count(), "database", store_writable() ? "ok" : "error", "upstream",
	    upstream_health(), "stats", token_stats()));
}

/* "policy": the decision table, for the wizard. */
static void
verbs_policy(const struct fg_reqctx *ctx, json_t *req)
{
	(void)req;
	server_reply(ctx, json_pack("{sbso}", "ok", 1, "policy", policy_document()));
}

/* "audit.tail": n? (default 20, at most 1000), before? (seq, for the next older page) */
static void
verbs_audit_tail(const struct fg_reqctx *ctx, json_t *req)
{
	json_t		*n = json_object_get(req, "n"), *before = json_object_get(req, "before");
	json_int_t	 want = n ? json_integer_value(n) : 20;
	json_t		*records;
	int		 more;

	if (want < 1 || want > 1000 || (before != NULL && json_integer_value(before) < 1)) {
		server_reply_error(ctx, "bad_request", "n must be 1..1000 and before a record number");
		return;
	}
	records = audit_tail((int)want, before ? json_integer_value(before) : 0, &more);
	server_reply(ctx, json_pack("{sbsosb}", "ok", 1, "records", records, "more", more));
}

/* "audit.verify": walk the chain. */
static void
verbs_audit_verify(const struct fg_reqctx *ctx, json_t *req)
{
	int64_t	count, bad;
	char	why[160] = "";

	(void)req;
	if (audit_verify(&count, &bad, why, sizeof(why)) == -1) {
		server_reply(ctx, json_pack("{sbsssssIsI}", "ok", 0, "error", "audit_broken",
		    "message", why, "bad_seq", (json_int_t)bad, "records", (json_int_t)count));
		return;
	}
	server_reply(ctx, json_pack("{sbsI}", "ok", 1, "records", (json_int_t)count));
}

/* "backup": path — an online copy of the database, audited. */
static void
verbs_backup(const struct fg_reqctx *ctx, json_t *req)
{
	const char		*path = json_string_value(json_object_get(req, "path"));
	char			 actor[96], err[512] = "the audit log could not be written";
	struct audit_rec	 rec = { actor, "backup", NULL, NULL, NULL, "ok", path, NULL };

	server_actor(ctx, actor, sizeof(actor));
	if (path[0] != '/') {
		server_reply_error(ctx, "bad_request", "the backup path must be absolute");
		return;
	}
	/* flush first so the copy holds every record up to now */
	if (audit_flush() == -1 || store_backup(path, err, sizeof(err)) == -1) {
		rec.outcome = "failed";
		audit_append(&rec);
		server_reply_error(ctx, "failed", "%s", err);
		return;
	}
	audit_append(&rec);
	server_reply(ctx, json_pack("{sbss}", "ok", 1, "path", path));
}
