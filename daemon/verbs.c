/*
 * The dispatcher: every verb's entry, defined beside its handler, is listed in verbs_table[].
 * A request with an unknown verb, a verb its peer may not use, an unknown field, a missing
 * field or a field of the wrong type or size is refused before any handler sees it.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

static const struct verb_entry *const verbs_table[] = {
	/* app-authenticated or public to the front end */
	&token_verb_entry,
	&status_health_entry,
	&status_stats_entry,
	&status_policy_entry,
	&session_login_entry,
	&session_session_entry,
	&session_logout_entry,
	/* end users of user-present apps: their browser's session id is the credential */
	&oidclogin_begin_entry,
	&oidclogin_callback_entry,
	&oidc_token_entry,
	&oidc_logout_entry,
	&oidc_assistant_entry,
	&embed_entry,
	&stream_create_entry,
	&transcribe_create_entry,
	&proxy_entry,
	&proxy_authorize_entry,
	&relay_authorize_entry,
	&relay_ticket_entry,
	/* local administration only */
	&status_entry,
	&audit_tail_entry,
	&backup_entry,
	&key_status_entry,
	&key_rotate_entry,
	/* web sessions by role, or local administration */
	&dashboard_entry,
	&connection_list_entry,
	&connection_show_entry,
	&connection_add_entry,
	&connection_test_entry,
	&connection_rotate_entry,
	&connection_retire_entry,
	&connection_stop_entry,
	&connection_resume_entry,
	&connection_remove_entry,
	&app_list_entry,
	&app_show_entry,
	&app_add_entry,
	&app_update_entry,
	&app_rotate_secret_entry,
	&app_revoke_entry,
	&audit_query_entry,
	&audit_verify_entry,
	&audit_anchor_entry,
	&audit_archive_entry,
	&audit_verify_archive_entry,
	&account_list_entry,
	&account_add_entry,
	&account_set_role_entry,
	&account_disable_entry,
	&account_enable_entry,
	&account_password_entry,
	&user_session_list_entry,
	&user_session_revoke_entry,
	&user_session_revoke_all_entry,
};

/* Check one value against its field. */
static int
verbs_field_ok(const struct verb_field *f, json_t *v)
{
	switch (f->type) {
	case VERB_STR:
		/* no embedded NULs: C code downstream sees the same string jansson saw */
		return json_is_string(v) && json_string_length(v) <= f->max &&
		    strlen(json_string_value(v)) == json_string_length(v);
	case VERB_INT:
		return json_is_integer(v);
	case VERB_BOOL:
		return json_is_boolean(v);
	case VERB_OBJ:
		return json_is_object(v);	/* its own handler checks every field */
	}
	return 0;
}

/* Check req against the verb's schema; NULL or what is wrong. */
static const char *
verbs_check(const struct verb_entry *v, json_t *req, char *buf, size_t buflen)
{
	static const struct verb_field	 none[] = { VERB_FIELDS_END };
	const struct verb_field		*fields = v->fields != NULL ? v->fields : none, *f;
	const char			*key;
	json_t				*val;

	json_object_foreach(req, key, val) {
		if (strcmp(key, "verb") == 0)
			continue;
		for (f = fields; f->name != NULL && strcmp(f->name, key) != 0; f++)
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
	for (f = fields; f->name != NULL; f++) {
		if (f->required && json_object_get(req, f->name) == NULL) {
			snprintf(buf, buflen, "field %s is required", f->name);
			return buf;
		}
	}
	return NULL;
}

/* Record a refused web admin request: who tried what. */
static void
verbs_refused(const struct fg_reqctx *ctx, const struct verb_entry *v, const char *why)
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
verbs_web_session(struct fg_reqctx *ctx, const struct verb_entry *v, json_t *req)
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
		    account_role_name(ctx->role), v->name);
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
	const struct verb_entry	*v = NULL;
	struct fg_reqctx	 ctx = *in;
	const char		*why;
	char			 buf[160];
	size_t			 i;

	if (name == NULL) {
		server_reply_error(&ctx, "bad_request", "request has no verb");
		return;
	}
	for (i = 0; i < sizeof(verbs_table) / sizeof(verbs_table[0]) && v == NULL; i++)
		if (strcmp(verbs_table[i]->name, name) == 0)
			v = verbs_table[i];
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
	return fg_name_ok(s, s != NULL ? strlen(s) : 0);
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
