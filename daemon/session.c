/*
 * Admin web sessions, owned by the daemon: the front end only carries the id.  Ids are random
 * 256-bit values stored as keyed hashes; each has an idle and an absolute timeout; its CSRF
 * token is derived from it under the session key, so nothing else needs storing.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"

#define SESSION_ID_BYTES	32
#define SESSION_ID_LEN		43	/* base64url without padding */
#define SESSION_TOUCH_MS	10000	/* write last_seen at most this often... */

static const char SQL_GET[] =
    "SELECT s.user_id, s.created_at, s.last_seen, u.name, u.role, u.disabled "
    "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?";
static const char SQL_INSERT[] =
    "INSERT INTO sessions (id_hash, user_id, created_at, last_seen) VALUES (?, ?, ?, ?)";
static const char SQL_TOUCH[] = "UPDATE sessions SET last_seen = ? WHERE id_hash = ?";
static const char SQL_DELETE[] = "DELETE FROM sessions WHERE id_hash = ?";
static const char SQL_DELETE_USER[] = "DELETE FROM sessions WHERE user_id = ?";
static const char SQL_EXPIRE[] =
    "DELETE FROM sessions WHERE last_seen < ? OR created_at < ?";

/* Run a statement binding one blob (the id hash) after an optional integer. */
static void
session_exec(const char *sql, const uint8_t *h, int64_t num, int with_num)
{
	struct db_stmt *st = store_prepare(sql);

	if (st == NULL)
		return;
	if (with_num)
		db_bind_int64(st, 1, num);
	db_bind_blob(st, with_num ? 2 : 1, h, 32, DB_STATIC);
	store_step_write(st);
	db_reset(st);
}

/* Hash a presented id; -1 if it cannot be one of ours. */
static int
session_hash(const char *sid, uint8_t h[32])
{
	if (sid == NULL || strlen(sid) != SESSION_ID_LEN)
		return -1;
	seal_session_hash(sid, SESSION_ID_LEN, h);
	return 0;
}

/*
 * Validate a session id and fill ctx with its user and role.  0 when live; -1 otherwise (an
 * expired or disabled user's session is deleted on the way).
 */
int
session_check(const char *sid, struct fg_reqctx *ctx)
{
	struct db_stmt	*st;
	uint8_t		 h[32];
	int64_t		 now = store_now_ms(), created, seen;
	int		 live = 0;

	if (session_hash(sid, h) == -1 || (st = store_prepare(SQL_GET)) == NULL)
		return -1;
	db_bind_blob(st, 1, h, 32, DB_STATIC);
	if (db_step(st) == DB_ROW) {
		created = db_column_int64(st, 1);
		seen = db_column_int64(st, 2);
		live = !db_column_int(st, 5) && now - seen <= fg_cfg->session_idle_s * 1000 &&
		    now - created <= fg_cfg->session_max_s * 1000;
		ctx->user_id = db_column_int64(st, 0);
		ctx->role = account_role_parse((const char *)db_column_text(st, 4));
		snprintf(ctx->user, sizeof(ctx->user), "%s", db_column_text(st, 3));
		/* ...or a quarter of the idle timeout, so a short timeout never ends a live session */
		if (live && now - seen > (fg_cfg->session_idle_s * 250 < SESSION_TOUCH_MS ?
		    fg_cfg->session_idle_s * 250 : SESSION_TOUCH_MS)) {
			db_reset(st);
			session_exec(SQL_TOUCH, h, now, 1);
		}
		if (!live) {
			db_reset(st);
			session_exec(SQL_DELETE, h, 0, 0);
		}
	}
	db_reset(st);
	if (!live || ctx->role == 0) {
		ctx->user_id = 0;
		ctx->role = 0;
		ctx->user[0] = '\0';
		return -1;
	}
	return 0;
}

/* True when csrf is the token of session sid (constant-time compare). */
int
session_csrf_ok(const char *sid, const char *csrf)
{
	char want[33];

	if (sid == NULL || csrf == NULL || strlen(csrf) != 32 || strlen(sid) != SESSION_ID_LEN)
		return 0;
	seal_csrf(sid, SESSION_ID_LEN, want);
	return sodium_memcmp(want, csrf, 32) == 0;
}

/* End every session of an account (disabled, or password changed by an admin). */
void
session_end_account(int64_t user_id)
{
	struct db_stmt *st = store_prepare(SQL_DELETE_USER);

	if (st == NULL)
		return;
	db_bind_int64(st, 1, user_id);
	store_step_write(st);
	db_reset(st);
}

struct session_new {
	uint8_t		hash[32];
	int64_t		user_id;
};

static int
session_insert(void *arg)
{
	struct session_new	*s = arg;
	struct db_stmt		*st = store_prepare(SQL_INSERT);
	int64_t			 now = store_now_ms();
	int			 r;

	if (st == NULL)
		return -1;
	db_bind_blob(st, 1, s->hash, 32, DB_STATIC);
	db_bind_int64(st, 2, s->user_id);
	db_bind_int64(st, 3, now);
	db_bind_int64(st, 4, now);
	r = db_step(st) == DB_DONE ? 0 : -1;
	db_reset(st);
	/* expired sessions of anyone go at each login: the table stays small */
	if (r == 0 && (st = store_prepare(SQL_EXPIRE)) != NULL) {
		db_bind_int64(st, 1, now - fg_cfg->session_idle_s * 1000);
		db_bind_int64(st, 2, now - fg_cfg->session_max_s * 1000);
		db_step(st);
		db_reset(st);
	}
	return r;
}

/* Answer a failed login (account_login_begin's result), audited under the name that was tried. */
static void
session_login_failed(const struct fg_reqctx *ctx, const char *name, const char *remote,
    int result, long retry_after)
{
	char			 actor[96], detail[96];
	struct audit_rec	 rec = { actor, "login", NULL, NULL, NULL, result == -2 ?
				    "rate_limited" : result == -3 ? "busy" : "failed", detail,
				    NULL };

	snprintf(actor, sizeof(actor), "user:%s", name);
	snprintf(detail, sizeof(detail), "remote=%s", remote);
	audit_append(&rec);
	if (result == -1)
		server_reply_error(ctx, "login_failed", "wrong user name or password");
	else
		account_reply_refused(ctx, result, retry_after);
}

/* A login waiting for its password check. */
struct session_login {
	struct fg_reqctx	ctx;
	char			name[FG_NAME_MAX + 1];
	char			remote[64];
};

/* The password check is done: start the session, or say no. */
static void
session_login_checked(void *arg, int result, int64_t user_id, int role, long retry_after)
{
	struct session_login	*l = arg;
	struct session_new	 s = { .user_id = user_id };
	char			 sid[SESSION_ID_LEN + 1], csrf[33], actor[96], detail[96];
	uint8_t			 rnd[SESSION_ID_BYTES];
	struct audit_rec	 rec = { actor, "login", NULL, NULL, NULL, "ok", detail, NULL };

	if (result != 0) {
		session_login_failed(&l->ctx, l->name, l->remote, result, retry_after);
		free(l);
		return;
	}
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2base64(sid, sizeof(sid), rnd, sizeof(rnd),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(rnd, sizeof(rnd));
	seal_session_hash(sid, SESSION_ID_LEN, s.hash);
	snprintf(actor, sizeof(actor), "user:%s", l->name);
	snprintf(detail, sizeof(detail), "remote=%s role=%s", l->remote, account_role_name(role));
	if (audit_tx(session_insert, &s, &rec) == -1) {
		server_reply_error(&l->ctx, "server_error", "the session could not be stored");
		free(l);
		return;
	}
	seal_csrf(sid, SESSION_ID_LEN, csrf);
	server_reply(&l->ctx, json_pack("{sbsssssssssIsI}", "ok", 1, "session", sid, "csrf", csrf,
	    "user", l->name, "role", account_role_name(role), "idle_s",
	    (json_int_t)fg_cfg->session_idle_s, "max_s", (json_int_t)fg_cfg->session_max_s));
	sodium_memzero(sid, sizeof(sid));
	free(l);
}

/* "login": user, password, remote? — a new session for a right password (checked off-loop). */
static void
session_verb_login(const struct fg_reqctx *ctx, json_t *req)
{
	const char		*remote = json_string_value(json_object_get(req, "remote"));
	struct session_login	*l;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		server_reply_error(ctx, "server_error", "out of memory");
		return;
	}
	l->ctx = *ctx;
	snprintf(l->name, sizeof(l->name), "%s", json_string_value(json_object_get(req, "user")));
	snprintf(l->remote, sizeof(l->remote), "%s", remote ? remote : "-");
	if (account_login_begin(l->name, json_string_value(json_object_get(req, "password")),
	    l->remote, session_login_checked, l) == -1) {
		server_reply_error(ctx, "server_error", "cannot check the password now");
		free(l);
	}
}

static const struct verb_field session_login_fields[] = {
	{ "user", VERB_STR, 1, FG_NAME_MAX },
	{ "password", VERB_STR, 1, 1024 },
	{ "remote", VERB_STR, 0, 64 },
	VERB_FIELDS_END
};
const struct verb_entry session_login_entry = {
	.name = "login",
	.peers = PEER_WEB,
	.fn = session_verb_login,
	.fields = session_login_fields
};

/* "session": session — who it belongs to, and its CSRF token. */
static void
session_verb_session(const struct fg_reqctx *ctx, json_t *req)
{
	struct fg_reqctx	 c = *ctx;
	const char		*sid = json_string_value(json_object_get(req, "session"));
	char			 csrf[33];

	if (session_check(sid, &c) == -1) {
		server_reply_error(ctx, "unauthenticated", "not logged in, or the session ended");
		return;
	}
	seal_csrf(sid, SESSION_ID_LEN, csrf);
	server_reply(ctx, json_pack("{sbsssssssIsI}", "ok", 1, "user", c.user, "role",
	    account_role_name(c.role), "csrf", csrf, "idle_s", (json_int_t)fg_cfg->session_idle_s,
	    "expires_in", (json_int_t)fg_cfg->session_idle_s));
}

static const struct verb_field session_fields[] = {
	{ "session", VERB_STR, 1, 64 },
	VERB_FIELDS_END
};
const struct verb_entry session_session_entry = {
	.name = "session",
	.peers = PEER_WEB,
	.fn = session_verb_session,
	.fields = session_fields
};

static int
session_delete(void *arg)
{
	session_exec(SQL_DELETE, arg, 0, 0);
	return 0;
}

/* "logout": session — ends it for good, whatever the cookie does afterwards. */
static void
session_verb_logout(const struct fg_reqctx *ctx, json_t *req)
{
	struct fg_reqctx	 c = *ctx;
	const char		*sid = json_string_value(json_object_get(req, "session"));
	char			 actor[96];
	struct audit_rec	 rec = { actor, "logout", NULL, NULL, NULL, "ok", NULL, NULL };
	uint8_t			 h[32];

	if (session_check(sid, &c) == -1 || session_hash(sid, h) == -1) {
		server_reply_error(ctx, "unauthenticated", "not logged in, or the session ended");
		return;
	}
	snprintf(actor, sizeof(actor), "user:%s", c.user);
	if (audit_tx(session_delete, h, &rec) == -1)
		server_reply_error(ctx, "server_error", "the session could not be ended");
	else
		server_reply(ctx, json_pack("{sb}", "ok", 1));
}

const struct verb_entry session_logout_entry = {
	.name = "logout",
	.peers = PEER_WEB,
	.fn = session_verb_logout,
	.fields = session_fields
};
