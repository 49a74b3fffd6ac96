/*
 * End users' sessions for the people who run flowgate: list them by app and by user, revoke one
 * or all of a user's.  A session is named by its row in user_sessions, never by anything the
 * browser holds: the row id lets nobody act as the user.  Revocation is oidc_session_end(): the
 * session ends here at once and its refresh token is revoked upstream, never waiting.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

#define ENDUSER_ADMIN_PAGE_DEF	100
#define ENDUSER_ADMIN_PAGE_MAX	400
#define ENDUSER_ADMIN_BATCH	256	/* sessions one "revoke all" ends; the rest on a retry */

/* ?1 app name or NULL, ?2 sub or user name or NULL; live ones only (?4 idle, ?5 age cutoffs) */
static const char SQL_LIST[] =
    "SELECT s.id, s.sub, s.username, a.name, s.created_at, s.last_seen FROM user_sessions s "
    "JOIN apps a ON a.id = s.app_id WHERE (CAST(?1 AS TEXT) IS NULL OR a.name = ?1) AND "
    "(CAST(?2 AS TEXT) IS NULL OR s.sub = ?2 OR s.username = ?2) AND s.id > ?3 AND "
    "s.last_seen >= ?4 AND s.created_at >= ?5 ORDER BY s.id LIMIT ?6";
static const char SQL_ONE[] =
    "SELECT s.id, s.sub, s.username, a.name FROM user_sessions s JOIN apps a ON a.id = s.app_id "
    "WHERE s.id = ?1";
static const char SQL_USER[] =
    "SELECT s.id FROM user_sessions s JOIN apps a ON a.id = s.app_id WHERE (CAST(?1 AS TEXT) IS "
    "NULL OR a.name = ?1) AND (s.sub = ?2 OR s.username = ?2) ORDER BY s.id LIMIT ?3";

/* Bind a string, or NULL when absent. */
static void
enduser_admin_bind(struct db_stmt *st, int i, const char *s)
{
	if (s != NULL)
		db_bind_text(st, i, s, -1, DB_STATIC);
	else
		db_bind_null(st, i);
}

/* One session as JSON: its row id, the user, the app, and when it ends. */
static json_t *
enduser_admin_json(struct db_stmt *st)
{
	int64_t created = db_column_int64(st, 4), seen = db_column_int64(st, 5);

	return json_pack("{sIsssssssIsIsIsI}", "id", (json_int_t)db_column_int64(st, 0),
	    "sub", db_column_text(st, 1), "username", db_column_text(st, 2), "app",
	    db_column_text(st, 3), "created_at", (json_int_t)created, "last_used_at",
	    (json_int_t)seen, "idle_expires_at", (json_int_t)(seen + fg_cfg->session_idle_s * 1000),
	    "expires_at", (json_int_t)(created + fg_cfg->session_max_s * 1000));
}

/* "user_session.list": app?, user? (sub or user name), after? (an id), limit? (1..400) */
static void
enduser_admin_list(const struct fg_reqctx *ctx, json_t *req)
{
	json_t		*after = json_object_get(req, "after");
	int64_t		 now = store_now_ms();
	struct db_stmt	*st;
	struct page	 p;
	int		 limit;

	if ((limit = page_limit(ctx, req, "limit", ENDUSER_ADMIN_PAGE_DEF,
	    ENDUSER_ADMIN_PAGE_MAX)) == -1)
		return;
	if ((st = store_prepare(SQL_LIST)) == NULL) {
		server_reply_error(ctx, "server_error", "the sessions could not be read");
		return;
	}
	enduser_admin_bind(st, 1, json_string_value(json_object_get(req, "app")));
	enduser_admin_bind(st, 2, json_string_value(json_object_get(req, "user")));
	db_bind_int64(st, 3, after != NULL ? json_integer_value(after) : 0);
	db_bind_int64(st, 4, now - fg_cfg->session_idle_s * 1000);
	db_bind_int64(st, 5, now - fg_cfg->session_max_s * 1000);
	db_bind_int(st, 6, limit + 1);
	page_init(&p, limit, 0);
	while (db_step(st) == DB_ROW && page_add(&p, enduser_admin_json(st),
	    json_integer(db_column_int64(st, 0))) == 0)
		;
	db_reset(st);
	server_reply(ctx, page_finish(&p, "sessions", 0));
}

/* "user_session.revoke": id — that session ends at once, its refresh token revoked upstream. */
static void
enduser_admin_revoke(const struct fg_reqctx *ctx, json_t *req)
{
	int64_t			 id = json_integer_value(json_object_get(req, "id"));
	struct db_stmt		*st = store_prepare(SQL_ONE);
	char			 actor[96], app[FG_NAME_MAX + 1], detail[600];
	struct audit_rec	 rec = { actor, "user_session.revoke", app, NULL, NULL, "ok", detail,
				    NULL };
	int			 found;

	if (st == NULL) {
		server_reply_error(ctx, "server_error", "the sessions could not be read");
		return;
	}
	db_bind_int64(st, 1, id);
	if ((found = db_step(st) == DB_ROW)) {
		snprintf(app, sizeof(app), "%s", db_column_text(st, 3));
		snprintf(detail, sizeof(detail), "session=%lld user=%.127s sub=%.255s",
		    (long long)id, db_column_text(st, 2), db_column_text(st, 1));
	}
	db_reset(st);
	if (!found) {
		server_reply_error(ctx, "not_found", "no such user session (it may have ended)");
		return;
	}
	server_actor(ctx, actor, sizeof(actor));
	audit_append(&rec);	/* before the upstream's records, which it causes */
	oidc_session_end(id, "admin");
	hold_reply(ctx, 0, json_pack("{sbsIsssI}", "ok", 1, "id", (json_int_t)id, "app", app,
	    "revoked", (json_int_t)1));
}

/* "user_session.revoke_all": user (sub or user name), app? — all that user's sessions end. */
static void
enduser_admin_revoke_user(const struct fg_reqctx *ctx, json_t *req)
{
	const char		*user = json_string_value(json_object_get(req, "user"));
	const char		*app = json_string_value(json_object_get(req, "app"));
	struct db_stmt		*st = store_prepare(SQL_USER);
	int64_t			 rows[ENDUSER_ADMIN_BATCH + 1];
	size_t			 n = 0, i, done = 0;
	char			 actor[96], detail[400];
	struct audit_rec	 rec = { actor, "user_session.revoke_all", app, NULL, NULL, "ok",
				    detail, NULL };

	if (*user == '\0') {
		server_reply_error(ctx, "bad_request", "user must name a user (sub or user name)");
		return;
	}
	if (st == NULL) {
		server_reply_error(ctx, "server_error", "the sessions could not be read");
		return;
	}
	enduser_admin_bind(st, 1, app);
	enduser_admin_bind(st, 2, user);
	db_bind_int(st, 3, ENDUSER_ADMIN_BATCH + 1);
	while (n < ENDUSER_ADMIN_BATCH + 1 && db_step(st) == DB_ROW)
		rows[n++] = db_column_int64(st, 0);
	db_reset(st);
	/* one past the batch only tells that more are left for the next call */
	for (i = 0; i < n && i < ENDUSER_ADMIN_BATCH; i++)
		done += oidc_session_end(rows[i], "admin") == 0;
	server_actor(ctx, actor, sizeof(actor));
	snprintf(detail, sizeof(detail), "user=%.255s sessions=%zu%s", user, done,
	    n > ENDUSER_ADMIN_BATCH ? " more=1" : "");
	audit_append(&rec);
	hold_reply(ctx, 0, json_pack("{sbsssIsb}", "ok", 1, "user", user, "revoked",
	    (json_int_t)done, "more", n > ENDUSER_ADMIN_BATCH));
}

static const struct verb_field enduser_admin_list_fields[] = {
	{ "app", VERB_STR, 0, FG_NAME_MAX }, { "user", VERB_STR, 0, 255 },
	{ "after", VERB_INT, 0, 0 }, { "limit", VERB_INT, 0, 0 }, VERB_FIELDS_END
};
const struct verb_entry user_session_list_entry = {
	.name = "user_session.list",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ANY,
	.fn = enduser_admin_list,
	.fields = enduser_admin_list_fields
};
static const struct verb_field enduser_admin_revoke_fields[] = {
	{ "id", VERB_INT, 1, 0 }, VERB_FIELDS_END
};
const struct verb_entry user_session_revoke_entry = {
	.name = "user_session.revoke",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN | ROLE_SECURITY,
	.csrf = 1,
	.fn = enduser_admin_revoke,
	.fields = enduser_admin_revoke_fields
};
static const struct verb_field enduser_admin_user_fields[] = {
	{ "user", VERB_STR, 1, 255 }, { "app", VERB_STR, 0, FG_NAME_MAX }, VERB_FIELDS_END
};
const struct verb_entry user_session_revoke_all_entry = {
	.name = "user_session.revoke_all",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN | ROLE_SECURITY,
	.csrf = 1,
	.fn = enduser_admin_revoke_user,
	.fields = enduser_admin_user_fields
};
