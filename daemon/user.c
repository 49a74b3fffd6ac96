/*
 * Admin accounts: roles, Argon2id password hashes (rehashed when the parameters rise), and
 * login rate limits per account and per client address.  A failed login says nothing about
 * which part was wrong, and an unknown account costs the same hash as a known one.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"

#define USER_PW_MIN		12
#define USER_PW_MAX		1024
#define USER_WINDOW_S		900	/* failures count for 15 minutes */
#define USER_LIMITS_MAX		4096
#define USER_ADDR_FACTOR	4	/* an address may fail this many times the account limit */

struct user_limit {
	char		 key[FG_NAME_MAX + 8];	/* "u:NAME" or "a:ADDRESS" */
	int		 failures;
	time_t		 window_start;
	time_t		 locked_until;
};

static struct user_limit	*user_limits;
static size_t			 user_nlimits;
static char			*user_dummy_hash;

static const char SQL_BY_NAME[] =
    "SELECT id, role, pw_hash, disabled FROM users WHERE name = ?";
static const char SQL_INSERT[] =
    "INSERT INTO users (name, role, pw_hash, created_at) VALUES (?, ?, ?, ?)";
static const char SQL_SET_HASH[] = "UPDATE users SET pw_hash = ? WHERE id = ?";
static const char SQL_LAST_LOGIN[] = "UPDATE users SET last_login = ? WHERE id = ?";
static const char SQL_SET_ROLE[] = "UPDATE users SET role = ? WHERE name = ?";
static const char SQL_SET_DISABLED[] = "UPDATE users SET disabled = ? WHERE name = ?";
static const char SQL_NAME_OF[] = "SELECT name, pw_hash FROM users WHERE id = ?";

static const char *const user_roles[] = { "admin", "security", "auditor" };

/* "admin" -> ROLE_ADMIN ...; 0 for anything else. */
int
user_role_parse(const char *s)
{
	int i;

	for (i = 0; i < 3; i++)
		if (s != NULL && strcmp(s, user_roles[i]) == 0)
			return 1 << i;
	return 0;
}

const char *
user_role_name(int role)
{
	return role == ROLE_ADMIN ? "admin" : role == ROLE_SECURITY ? "security" :
	    role == ROLE_AUDITOR ? "auditor" : "none";
}

/* Argon2id at libsodium's interactive limits (about 66 ms here). */
static int
user_hash(const char *pw, char out[crypto_pwhash_STRBYTES])
{
	return crypto_pwhash_str(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE);
}

/* The limit entry for key, created (or recycled) on demand. */
static struct user_limit *
user_limit(const char *kind, const char *what, time_t now)
{
	struct user_limit	*l, *oldest = NULL;
	char			 key[sizeof(l->key)];
	size_t			 i;

	snprintf(key, sizeof(key), "%s:%.*s", kind, FG_NAME_MAX, what ? what : "-");
	for (i = 0; i < user_nlimits; i++) {
		l = &user_limits[i];
		if (strcmp(l->key, key) == 0)
			return l;
		if (oldest == NULL || l->window_start < oldest->window_start)
			oldest = l;
	}
	if (user_limits == NULL && (user_limits = calloc(USER_LIMITS_MAX, sizeof(*l))) == NULL)
		return NULL;
	l = user_nlimits < USER_LIMITS_MAX ? &user_limits[user_nlimits++] : oldest;
	memset(l, 0, sizeof(*l));
	snprintf(l->key, sizeof(l->key), "%s", key);
	l->window_start = now;
	return l;
}

/* Seconds until l may try again, or 0. */
static long
user_limited(struct user_limit *l, time_t now)
{
	if (l == NULL)
		return 0;
	if (now - l->window_start > USER_WINDOW_S && now >= l->locked_until) {
		l->failures = 0;
		l->window_start = now;
	}
	return now < l->locked_until ? (long)(l->locked_until - now) : 0;
}

/* Count one failure; lock the key once it reaches max failures in the window. */
static void
user_failed(struct user_limit *l, long max, time_t now)
{
	if (l != NULL && ++l->failures >= max)
		l->locked_until = now + USER_WINDOW_S;
}

/* Upgrade a hash made with weaker parameters, now that we hold the password. */
static void
user_rehash(int64_t id, const char *stored, const char *pw)
{
	char		 h[crypto_pwhash_STRBYTES];
	sqlite3_stmt	*st;

	if (crypto_pwhash_str_needs_rehash(stored, crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0 || user_hash(pw, h) != 0 ||
	    (st = store_prepare(SQL_SET_HASH)) == NULL)
		return;
	sqlite3_bind_text(st, 1, h, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_step(st);
	sqlite3_reset(st);
}

/* A login being checked by the hashing thread. */
struct user_attempt {
	char			 name[FG_NAME_MAX + 1];
	char			 remote[64];
	char			 stored[crypto_pwhash_STRBYTES];
	int64_t			 user_id;
	int			 role, found, disabled;
	struct fg_secret	*password;	/* kept for a rehash on success */
	user_login_cb		 cb;
	void			*arg;
};

/* Make the hash that unknown accounts are checked against (once, at start). */
int
user_init(void)
{
	if ((user_dummy_hash = malloc(crypto_pwhash_STRBYTES)) == NULL ||
	    user_hash("flowgate-no-such-user", user_dummy_hash) != 0)
		return -1;
	return 0;
}

/* The hashing thread answered: count the outcome, then tell the caller. */
static void
user_login_checked(void *arg, int ok)
{
	struct user_attempt	*a = arg;
	struct user_limit	*la, *lr;
	sqlite3_stmt		*st;
	time_t			 now = time(NULL);

	la = user_limit("u", a->name, now);
	lr = user_limit("a", a->remote, now);
	if (!a->found || !ok || a->disabled || a->role == 0) {
		user_failed(la, fg_cfg->login_max_failures, now);
		user_failed(lr, fg_cfg->login_max_failures * USER_ADDR_FACTOR, now);
		a->cb(a->arg, -1, 0, 0, 0);
	} else {
		if (la != NULL)
			la->failures = 0;
		user_rehash(a->user_id, a->stored, a->password->buf);
		if ((st = store_prepare(SQL_LAST_LOGIN)) != NULL) {
			sqlite3_bind_int64(st, 1, store_now_ms());
			sqlite3_bind_int64(st, 2, a->user_id);
			sqlite3_step(st);
			sqlite3_reset(st);
		}
		a->cb(a->arg, 0, a->user_id, a->role, 0);
	}
	seal_secret_free(a->password);
	sodium_memzero(a, sizeof(*a));
	free(a);
}

/*
 * Start checking a login; cb(arg, result, user_id, role, retry_after) follows with 0 for the
 * right password, -1 for any wrong credential (one answer for all), -2 while the account or
 * the address is locked out.  An unknown account costs the same hash as a known one.
 * Returns -1 only when the check could not be started (cb is not called then).
 */
int
user_login_begin(const char *name, const char *password, const char *remote, user_login_cb cb,
    void *arg)
{
	struct user_attempt	*a;
	sqlite3_stmt		*st = store_prepare(SQL_BY_NAME);
	time_t			 now = time(NULL);
	long			 wait;

	if ((wait = user_limited(user_limit("u", name, now), now)) > 0 ||
	    (wait = user_limited(user_limit("a", remote, now), now)) > 0) {
		cb(arg, -2, 0, 0, wait);
		return 0;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->password = seal_secret_from(password, strlen(password))) == NULL) {
		free(a);
		return -1;
	}
	snprintf(a->name, sizeof(a->name), "%s", name);
	snprintf(a->remote, sizeof(a->remote), "%s", remote);
	a->cb = cb;
	a->arg = arg;
	if (st != NULL) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			a->found = 1;
			a->user_id = sqlite3_column_int64(st, 0);
			a->role = user_role_parse((const char *)sqlite3_column_text(st, 1));
			snprintf(a->stored, sizeof(a->stored), "%s", sqlite3_column_text(st, 2));
			a->disabled = sqlite3_column_int(st, 3);
		}
		sqlite3_reset(st);
	}
	if (pwhash_verify(a->found ? a->stored : user_dummy_hash, password, user_login_checked,
	    a) == -1) {
		seal_secret_free(a->password);
		free(a);
		return -1;
	}
	return 0;
}

/* Forget rate-limit state and the dummy hash at exit. */
void
user_shutdown(void)
{
	free(user_limits);
	free(user_dummy_hash);
	user_limits = NULL;
	user_dummy_hash = NULL;
	user_nlimits = 0;
}

/* True for a password we accept: 12..1024 bytes. */
static int
user_password_ok(const char *pw)
{
	size_t n = pw ? strlen(pw) : 0;

	return n >= USER_PW_MIN && n <= USER_PW_MAX;
}

/* Arguments of the small one-statement changes below. */
struct user_change {
	const char	*sql;
	const char	*text;		/* bound first */
	const char	*name;		/* bound second */
	int64_t		 num;		/* bound first instead of text when text is NULL */
	int		 changed;
};

static int
user_apply(void *arg)
{
	struct user_change	*c = arg;
	sqlite3_stmt		*st = store_prepare(c->sql);

	if (st == NULL)
		return -1;
	if (c->text != NULL)
		sqlite3_bind_text(st, 1, c->text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, c->num);
	sqlite3_bind_text(st, 2, c->name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		return -1;
	}
	c->changed = sqlite3_changes(store_db());
	sqlite3_reset(st);
	return c->changed == 1 ? 0 : -1;
}

/* Apply one change with its audit record; answer the request. */
static void
user_change(const struct fg_reqctx *ctx, const char *event, struct user_change *c,
    const char *detail)
{
	char			 actor[96];
	struct audit_rec	 rec = { actor, event, NULL, NULL, NULL, "ok", NULL, NULL };
	char			 d[160];

	server_actor(ctx, actor, sizeof(actor));
	snprintf(d, sizeof(d), "user=%s%s%s", c->name, detail ? " " : "", detail ? detail : "");
	rec.detail = d;
	if (audit_tx(user_apply, c, &rec) == -1) {
		if (c->changed == 0)
			server_reply_error(ctx, "not_found", "no such user");
		else
			server_reply_error(ctx, "conflict", "the user could not be changed");
		return;
	}
	server_reply(ctx, json_pack("{sbss}", "ok", 1, "name", c->name));
}

struct user_new {
	const char	*name;
	const char	*role;
	const char	*hash;
};

static int
user_insert(void *arg)
{
	struct user_new	*u = arg;
	sqlite3_stmt	*st = store_prepare(SQL_INSERT);
	int		 r;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, u->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, u->role, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, u->hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, store_now_ms());
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return r;
}

/* "user.add": name, role, password */
static void
user_verb_add(const struct fg_reqctx *ctx, json_t *req)
{
	const char		*pw = json_string_value(json_object_get(req, "password"));
	char			 h[crypto_pwhash_STRBYTES], actor[96], detail[128];
	struct user_new		 u = { json_string_value(json_object_get(req, "name")),
				    json_string_value(json_object_get(req, "role")), h };
	struct audit_rec	 rec = { actor, "user.add", NULL, NULL, NULL, "ok", detail, NULL };

	if (!verbs_valid_name(u.name) || user_role_parse(u.role) == 0) {
		server_reply_error(ctx, "bad_request", "name must be 1-64 of a-z 0-9 - _; role one "
		    "of admin, security, auditor");
		return;
	}
	if (!user_password_ok(pw)) {
		server_reply_error(ctx, "bad_request", "the password must be 12 to 1024 characters");
		return;
	}
	if (user_hash(pw, h) != 0) {
		server_reply_error(ctx, "server_error", "cannot hash the password");
		return;
	}
	server_actor(ctx, actor, sizeof(actor));
	snprintf(detail, sizeof(detail), "user=%s role=%s", u.name, u.role);
	if (audit_tx(user_insert, &u, &rec) == -1)
		server_reply_error(ctx, "conflict", "a user named %s exists", u.name);
	else
		server_reply(ctx, json_pack("{sbss}", "ok", 1, "name", u.name));
	sodium_memzero(h, sizeof(h));
}

static const struct verb_field user_add_fields[] = {
	VERB_FIELD_NAME,
	{ "role", VERB_STR, 1, 16 },
	{ "password", VERB_STR, 1, 1024 },
	VERB_FIELDS_END
};
const struct verb_entry user_add_entry = {
	.name = "user.add",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN,
	.csrf = 1,
	.fn = user_verb_add,
	.fields = user_add_fields
};

static const char SQL_PAGE_AFTER[] =
    "SELECT name, role, disabled, created_at, last_login FROM users WHERE name > ?1 "
    "ORDER BY name LIMIT ?2";
static const char SQL_PAGE_BEFORE[] =
    "SELECT name, role, disabled, created_at, last_login FROM users WHERE name < ?1 "
    "ORDER BY name DESC LIMIT ?2";

/* One account as JSON: at most 160 bytes, so 400 always fit a page. */
static json_t *
user_json(sqlite3_stmt *st)
{
	return json_pack("{sssssbsIso}", "name", sqlite3_column_text(st, 0), "role",
	    sqlite3_column_text(st, 1), "disabled", sqlite3_column_int(st, 2), "created_at",
	    (json_int_t)sqlite3_column_int64(st, 3), "last_login",
	    sqlite3_column_type(st, 4) == SQLITE_NULL ? json_null() :
	    json_integer(sqlite3_column_int64(st, 4)));
}

/* "user.list": after? | before?, limit? (1..400, default 100) */
static void
user_verb_list(const struct fg_reqctx *ctx, json_t *req)
{
	static const struct page_query q = { "users", SQL_PAGE_AFTER, SQL_PAGE_BEFORE, 100, 400,
	    user_json };

	page_verb(ctx, req, &q);
}

static const struct verb_field user_list_fields[] = {
	VERB_FIELDS_PAGE,
	VERB_FIELDS_END
};
const struct verb_entry user_list_entry = {
	.name = "user.list",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN,
	.fn = user_verb_list,
	.fields = user_list_fields
};

/* "user.set_role": name, role */
static void
user_verb_set_role(const struct fg_reqctx *ctx, json_t *req)
{
	struct user_change c = { SQL_SET_ROLE, json_string_value(json_object_get(req, "role")),
	    json_string_value(json_object_get(req, "name")), 0, 0 };
	char detail[32];

	if (user_role_parse(c.text) == 0) {
		server_reply_error(ctx, "bad_request", "role must be admin, security or auditor");
		return;
	}
	snprintf(detail, sizeof(detail), "role=%s", c.text);
	user_change(ctx, "user.set_role", &c, detail);
}

static const struct verb_field user_role_fields[] = {
	VERB_FIELD_NAME,
	{ "role", VERB_STR, 1, 16 },
	VERB_FIELDS_END
};
const struct verb_entry user_set_role_entry = {
	.name = "user.set_role",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN,
	.csrf = 1,
	.fn = user_verb_set_role,
	.fields = user_role_fields
};

/* Look a user's id up by name; 0 if there is none. */
static int64_t
user_id_of(const char *name)
{
	sqlite3_stmt	*st = store_prepare(SQL_BY_NAME);
	int64_t		 id = 0;

	if (st == NULL)
		return 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return id;
}

/* "user.disable": name — its sessions end at once. */
static void
user_verb_disable(const struct fg_reqctx *ctx, json_t *req)
{
	struct user_change c = { SQL_SET_DISABLED, NULL,
	    json_string_value(json_object_get(req, "name")), 1, 0 };
	int64_t id = user_id_of(c.name);

	if (id != 0 && id == ctx->user_id) {
		server_reply_error(ctx, "conflict", "you cannot disable your own account");
		return;
	}
	user_change(ctx, "user.disable", &c, NULL);
	if (id != 0)
		session_end_user(id);
}

static const struct verb_field user_name_fields[] = {
	VERB_FIELD_NAME,
	VERB_FIELDS_END
};
const struct verb_entry user_disable_entry = {
	.name = "user.disable",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN,
	.csrf = 1,
	.fn = user_verb_disable,
	.fields = user_name_fields
};

/* "user.enable": name */
static void
user_verb_enable(const struct fg_reqctx *ctx, json_t *req)
{
	struct user_change c = { SQL_SET_DISABLED, NULL,
	    json_string_value(json_object_get(req, "name")), 0, 0 };

	user_change(ctx, "user.enable", &c, NULL);
}

const struct verb_entry user_enable_entry = {
	.name = "user.enable",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN,
	.csrf = 1,
	.fn = user_verb_enable,
	.fields = user_name_fields
};

struct user_pw {
	int64_t		 id;
	const char	*hash;
};

static int
user_store_hash(void *arg)
{
	struct user_pw	*u = arg;
	sqlite3_stmt	*st = store_prepare(SQL_SET_HASH);
	int		 r;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, u->hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, u->id);
	r = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(store_db()) == 1 ? 0 : -1;
	sqlite3_reset(st);
	return r;
}

/*
 * "user.password": new_password, and old_password for one's own (web) account; a local admin
 * peer names the account instead and needs no old password.
 */
static void
user_verb_password(const struct fg_reqctx *ctx, json_t *req)
{
	const char		*old = json_string_value(json_object_get(req, "old_password"));
	const char		*pw = json_string_value(json_object_get(req, "new_password"));
	const char		*name = json_string_value(json_object_get(req, "name"));
	char			 h[crypto_pwhash_STRBYTES], stored[crypto_pwhash_STRBYTES] = "";
	char			 actor[96], detail[96], who[FG_NAME_MAX + 1] = "";
	struct user_pw		 u = { ctx->user_id, h };
	struct audit_rec	 rec = { actor, "user.password", NULL, NULL, NULL, "ok", detail,
				    NULL };
	sqlite3_stmt		*st;

	if (ctx->peer == PEER_ADMIN && ctx->user_id == 0)
		u.id = name ? user_id_of(name) : 0;
	if (u.id == 0 || (st = store_prepare(SQL_NAME_OF)) == NULL) {
		server_reply_error(ctx, "not_found", "no such user");
		return;
	}
	sqlite3_bind_int64(st, 1, u.id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(who, sizeof(who), "%s", sqlite3_column_text(st, 0));
		snprintf(stored, sizeof(stored), "%s", sqlite3_column_text(st, 1));
	}
	sqlite3_reset(st);
	if (ctx->user_id != 0 && (old == NULL ||
	    crypto_pwhash_str_verify(stored, old, strlen(old)) != 0)) {
		server_reply_error(ctx, "login_failed", "the current password is wrong");
		return;
	}
	if (!user_password_ok(pw) || user_hash(pw, h) != 0) {
		server_reply_error(ctx, "bad_request", "the password must be 12 to 1024 characters");
		return;
	}
	server_actor(ctx, actor, sizeof(actor));
	snprintf(detail, sizeof(detail), "user=%s", who);
	if (audit_tx(user_store_hash, &u, &rec) == -1)
		server_reply_error(ctx, "server_error", "the password could not be changed");
	else
		server_reply(ctx, json_pack("{sbss}", "ok", 1, "name", who));
	sodium_memzero(h, sizeof(h));
}

static const struct verb_field user_password_fields[] = {
	{ "name", VERB_STR, 0, FG_NAME_MAX },
	{ "old_password", VERB_STR, 0, 1024 },
	{ "new_password", VERB_STR, 1, 1024 },
	VERB_FIELDS_END
};
const struct verb_entry user_password_entry = {
	.name = "user.password",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ANY,
	.csrf = 1,
	.fn = user_verb_password,
	.fields = user_password_fields
};
