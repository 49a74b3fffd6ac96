/*
 * Admin accounts: roles, Argon2id password hashes (rehashed when the parameters rise), and
 * logins, limited per account and per client address by loginlimit.c.  A failed login says
 * nothing about which part was wrong, and an unknown account costs the same hash as a known
 * one.  Every Argon2id check and hash runs on the pwhash thread, never on the event loop.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"

#define ACCOUNT_PW_MIN		12
#define ACCOUNT_PW_MAX		1024
#define ACCOUNT_BUSY_RETRY_S	2	/* the full Argon2 queue drains in about that long */

static char			*account_dummy_hash;

static const char SQL_BY_NAME[] =
    "SELECT id, role, pw_hash, disabled FROM users WHERE name = ?";
static const char SQL_INSERT[] =
    "INSERT INTO users (name, role, pw_hash, created_at) VALUES (?, ?, ?, ?)";
static const char SQL_SET_HASH[] = "UPDATE users SET pw_hash = ? WHERE id = ?";
static const char SQL_LAST_LOGIN[] = "UPDATE users SET last_login = ? WHERE id = ?";
static const char SQL_SET_ROLE[] = "UPDATE users SET role = ? WHERE name = ?";
static const char SQL_SET_DISABLED[] = "UPDATE users SET disabled = ? WHERE name = ?";
static const char SQL_NAME_OF[] = "SELECT name, pw_hash FROM users WHERE id = ?";

static const char *const account_roles[] = { "admin", "security", "auditor" };

/* "admin" -> ROLE_ADMIN ...; 0 for anything else. */
int
account_role_parse(const char *s)
{
	int i;

	for (i = 0; i < 3; i++)
		if (s != NULL && strcmp(s, account_roles[i]) == 0)
			return 1 << i;
	return 0;
}

const char *
account_role_name(int role)
{
	return role == ROLE_ADMIN ? "admin" : role == ROLE_SECURITY ? "security" :
	    role == ROLE_AUDITOR ? "auditor" : "none";
}

/* Argon2id at libsodium's interactive limits (about 66 ms here); at start only. */
static int
account_hash(const char *pw, char out[crypto_pwhash_STRBYTES])
{
	return crypto_pwhash_str(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE);
}

/* Answer an attempt refused before its check: -2 locked out, -3 too many checks waiting. */
void
account_reply_refused(const struct fg_reqctx *ctx, int result, long retry_after)
{
	if (result == -3) {
		server_reply_status(ctx, "temporarily_unavailable",
		    "too many password checks are waiting; try again shortly", 0, retry_after);
		return;
	}
	server_reply(ctx, json_pack("{sbsssssi}", "ok", 0, "error", "rate_limited", "message",
	    "too many failed logins; try again later", "retry_after", (int)retry_after));
}

/* Store a hash made with stronger parameters (the pwhash thread made it after a login). */
static void
account_rehashed(void *arg, int ok, const char *hash)
{
	int64_t		*id = arg;
	struct db_stmt	*st;

	if (ok && hash != NULL && (st = store_prepare(SQL_SET_HASH)) != NULL) {
		db_bind_text(st, 1, hash, -1, DB_STATIC);
		db_bind_int64(st, 2, *id);
		store_step_write(st);
		db_reset(st);
	}
	free(id);
}

/* Upgrade a hash made with weaker parameters, now that we hold the password (if there is room). */
static void
account_rehash(int64_t id, const char *stored, const char *pw)
{
	int64_t *arg;

	if (crypto_pwhash_str_needs_rehash(stored, crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0 || (arg = malloc(sizeof(*arg))) == NULL)
		return;
	*arg = id;
	if (pwhash_submit(NULL, NULL, pw, account_rehashed, arg) == -1)
		free(arg);	/* the queue is full: the next login tries again */
}

/* A login being checked by the hashing thread. */
struct account_attempt {
	char			 name[FG_NAME_MAX + 1];
	char			 remote[64];
	char			 stored[crypto_pwhash_STRBYTES];
	int64_t			 user_id;
	int			 role, found, disabled;
	struct fg_secret	*password;	/* kept for a rehash on success */
	account_login_cb		 cb;
	void			*arg;
};

/* Make the hash unknown accounts are checked against and the limiter's table (once, at start). */
int
account_init(void)
{
	if (loginlimit_init() == -1 || (account_dummy_hash = malloc(crypto_pwhash_STRBYTES)) == NULL ||
	    account_hash("flowgate-no-such-user", account_dummy_hash) != 0)
		return -1;
	return 0;
}

/* The hashing thread answered (the attempt was charged when it started): tell the caller. */
static void
account_login_checked(void *arg, int ok, const char *unused)
{
	struct account_attempt	*a = arg;
	struct db_stmt		*st;

	(void)unused;
	if (!a->found || !ok || a->disabled || a->role == 0)
		a->cb(a->arg, -1, 0, 0, 0);
	else {
		loginlimit_right(a->name, a->remote, time(NULL));
		account_rehash(a->user_id, a->stored, a->password->buf);
		if ((st = store_prepare(SQL_LAST_LOGIN)) != NULL) {
			db_bind_int64(st, 1, store_now_ms());
			db_bind_int64(st, 2, a->user_id);
			store_step_write(st);
			db_reset(st);
		}
		a->cb(a->arg, 0, a->user_id, a->role, 0);
	}
	seal_secret_free(a->password);
	sodium_memzero(a, sizeof(*a));
	free(a);
}

/* Read the account of a login attempt, if there is one. */
static void
account_attempt_lookup(struct account_attempt *a)
{
	struct db_stmt *st = store_prepare(SQL_BY_NAME);

	if (st == NULL)
		return;
	db_bind_text(st, 1, a->name, -1, DB_STATIC);
	if (db_step(st) == DB_ROW) {
		a->found = 1;
		a->user_id = db_column_int64(st, 0);
		a->role = account_role_parse((const char *)db_column_text(st, 1));
		snprintf(a->stored, sizeof(a->stored), "%s", db_column_text(st, 2));
		a->disabled = db_column_int(st, 3);
	}
	db_reset(st);
}

/*
 * Start checking a login; cb(arg, result, user_id, role, retry_after) follows with 0 for the
 * right password, -1 for any wrong credential (one answer for all), -2 while the account or
 * the address is locked out, -3 while too many checks wait (account_reply_refused answers the
 * last two).  An unknown account costs the same hash as a known one.  An attempt refused with
 * -3 is not counted: it checked nothing, and counting it would let a flood of logins lock a
 * real user out without a single guess.  Returns -1 only when the check could not be started
 * (cb is not called then).
 */
int
account_login_begin(const char *name, const char *password, const char *remote, account_login_cb cb,
    void *arg)
{
	struct account_attempt	*a;
	time_t			 now = time(NULL);
	long			 wait;

	if ((wait = loginlimit_wait(name, remote, now)) > 0) {
		cb(arg, -2, 0, 0, wait);
		return 0;
	}
	if (pwhash_full()) {
		cb(arg, -3, 0, 0, ACCOUNT_BUSY_RETRY_S);
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
	account_attempt_lookup(a);
	if ((wait = loginlimit_start(a->name, a->remote, now)) > 0 ||
	    pwhash_submit(a->found ? a->stored : account_dummy_hash, password, NULL,
	    account_login_checked, a) == -1) {
		seal_secret_free(a->password);
		sodium_memzero(a, sizeof(*a));
		free(a);
		if (wait == 0)
			return -1;
		cb(arg, -2, 0, 0, wait);
	}
	return 0;
}

/* Forget rate-limit state and the dummy hash at exit. */
void
account_shutdown(void)
{
	loginlimit_shutdown();
	free(account_dummy_hash);
	account_dummy_hash = NULL;
}

/* True for a password we accept: 12..1024 bytes. */
static int
account_password_ok(const char *pw)
{
	size_t n = pw ? strlen(pw) : 0;

	return n >= ACCOUNT_PW_MIN && n <= ACCOUNT_PW_MAX;
}

/* Arguments of the small one-statement changes below. */
struct account_change {
	const char	*sql;
	const char	*text;		/* bound first */
	const char	*name;		/* bound second */
	int64_t		 num;		/* bound first instead of text when text is NULL */
	int		 changed;
};

static int
account_apply(void *arg)
{
	struct account_change	*c = arg;
	struct db_stmt		*st = store_prepare(c->sql);

	if (st == NULL)
		return -1;
	if (c->text != NULL)
		db_bind_text(st, 1, c->text, -1, DB_STATIC);
	else
		db_bind_int64(st, 1, c->num);
	db_bind_text(st, 2, c->name, -1, DB_STATIC);
	if (db_step(st) != DB_DONE) {
		db_reset(st);
		return -1;
	}
	c->changed = db_changes();
	db_reset(st);
	return c->changed == 1 ? 0 : -1;
}

/* Apply one change with its audit record; answer the request. */
static void
account_change(const struct fg_reqctx *ctx, const char *event, struct account_change *c,
    const char *detail)
{
	char			 actor[96];
	struct audit_rec	 rec = { actor, event, NULL, NULL, NULL, "ok", NULL, NULL };
	char			 d[160];

	server_actor(ctx, actor, sizeof(actor));
	snprintf(d, sizeof(d), "user=%s%s%s", c->name, detail ? " " : "", detail ? detail : "");
	rec.detail = d;
	if (audit_tx(account_apply, c, &rec) == -1) {
		if (c->changed == 0)
			server_reply_error(ctx, "not_found", "no such user");
		else
			server_reply_error(ctx, "conflict", "the user could not be changed");
		return;
	}
	server_reply(ctx, json_pack("{sbss}", "ok", 1, "name", c->name));
}

struct account_new {
	const char	*name;
	const char	*role;
	const char	*hash;
};

static int
account_insert(void *arg)
{
	struct account_new	*u = arg;
	struct db_stmt	*st = store_prepare(SQL_INSERT);
	int		 r;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, u->name, -1, DB_STATIC);
	db_bind_text(st, 2, u->role, -1, DB_STATIC);
	db_bind_text(st, 3, u->hash, -1, DB_STATIC);
	db_bind_int64(st, 4, store_now_ms());
	r = db_step(st) == DB_DONE ? 0 : -1;
	db_reset(st);
	return r;
}

/* A new account waiting for its password's hash. */
struct account_adding {
	struct fg_reqctx	 ctx;
	char			 name[FG_NAME_MAX + 1];
	char			 role[16];
};

/* The hash is made: store the account with its audit record, and answer. */
static void
account_add_hashed(void *arg, int ok, const char *hash)
{
	struct account_adding	*n = arg;
	char			 actor[96], detail[128];
	struct account_new		 u = { n->name, n->role, hash };
	struct audit_rec	 rec = { actor, "account.add", NULL, NULL, NULL, "ok", detail, NULL };

	server_actor(&n->ctx, actor, sizeof(actor));
	snprintf(detail, sizeof(detail), "user=%s role=%s", u.name, u.role);
	if (!ok || hash == NULL)
		server_reply_error(&n->ctx, "server_error", "cannot hash the password");
	else if (audit_tx(account_insert, &u, &rec) == -1)
		server_reply_error(&n->ctx, "conflict", "a user named %s exists", u.name);
	else
		server_reply(&n->ctx, json_pack("{sbss}", "ok", 1, "name", u.name));
	free(n);
}

/* "account.add": name, role, password — hashed on the pwhash thread. */
static void
account_verb_add(const struct fg_reqctx *ctx, json_t *req)
{
	const char		*pw = json_string_value(json_object_get(req, "password"));
	const char		*name = json_string_value(json_object_get(req, "name"));
	const char		*role = json_string_value(json_object_get(req, "role"));
	struct account_adding	*n;

	if (!verbs_valid_name(name) || account_role_parse(role) == 0) {
		server_reply_error(ctx, "bad_request", "name must be 1-64 of a-z 0-9 - _; role one "
		    "of admin, security, auditor");
		return;
	}
	if (!account_password_ok(pw)) {
		server_reply_error(ctx, "bad_request", "the password must be 12 to 1024 "
		    "characters");
		return;
	}
	if (pwhash_full()) {
		account_reply_refused(ctx, -3, ACCOUNT_BUSY_RETRY_S);
		return;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL) {
		server_reply_error(ctx, "server_error", "out of memory");
		return;
	}
	n->ctx = *ctx;
	snprintf(n->name, sizeof(n->name), "%s", name);
	snprintf(n->role, sizeof(n->role), "%s", role);
	if (pwhash_submit(NULL, NULL, pw, account_add_hashed, n) == -1) {
		server_reply_error(ctx, "server_error", "cannot hash the password now");
		free(n);
	}
}

static const struct verb_field account_add_fields[] = {
	VERB_FIELD_NAME,
	{ "role", VERB_STR, 1, 16 },
	{ "password", VERB_STR, 1, 1024 },
	VERB_FIELDS_END
};
const struct verb_entry account_add_entry = {
	.name = "account.add",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN,
	.csrf = 1,
	.fn = account_verb_add,
	.fields = account_add_fields
};

static const char SQL_PAGE_AFTER[] =
    "SELECT name, role, disabled, created_at, last_login FROM users WHERE name > ?1 "
    "ORDER BY name LIMIT ?2";
static const char SQL_PAGE_BEFORE[] =
    "SELECT name, role, disabled, created_at, last_login FROM users WHERE name < ?1 "
    "ORDER BY name DESC LIMIT ?2";

/* One account as JSON: at most 160 bytes, so 400 always fit a page. */
static json_t *
account_json(struct db_stmt *st)
{
	return json_pack("{sssssbsIso}", "name", db_column_text(st, 0), "role",
	    db_column_text(st, 1), "disabled", db_column_int(st, 2), "created_at",
	    (json_int_t)db_column_int64(st, 3), "last_login",
	    db_column_type(st, 4) == DB_NULL ? json_null() :
	    json_integer(db_column_int64(st, 4)));
}

/* "account.list": after? | before?, limit? (1..400, default 100) */
static void
account_verb_list(const struct fg_reqctx *ctx, json_t *req)
{
	static const struct page_query q = { "users", SQL_PAGE_AFTER, SQL_PAGE_BEFORE, 100, 400,
	    account_json };

	page_verb(ctx, req, &q);
}

static const struct verb_field account_list_fields[] = {
	VERB_FIELDS_PAGE,
	VERB_FIELDS_END
};
const struct verb_entry account_list_entry = {
	.name = "account.list",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN,
	.fn = account_verb_list,
	.fields = account_list_fields
};

/* "account.set_role": name, role */
static void
account_verb_set_role(const struct fg_reqctx *ctx, json_t *req)
{
	struct account_change c = { SQL_SET_ROLE, json_string_value(json_object_get(req, "role")),
	    json_string_value(json_object_get(req, "name")), 0, 0 };
	char detail[32];

	if (account_role_parse(c.text) == 0) {
		server_reply_error(ctx, "bad_request", "role must be admin, security or auditor");
		return;
	}
	snprintf(detail, sizeof(detail), "role=%s", c.text);
	account_change(ctx, "account.set_role", &c, detail);
}

static const struct verb_field account_role_fields[] = {
	VERB_FIELD_NAME,
	{ "role", VERB_STR, 1, 16 },
	VERB_FIELDS_END
};
const struct verb_entry account_set_role_entry = {
	.name = "account.set_role",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN,
	.csrf = 1,
	.fn = account_verb_set_role,
	.fields = account_role_fields
};

/* Look a user's id up by name; 0 if there is none. */
static int64_t
account_id_of(const char *name)
{
	struct db_stmt	*st = store_prepare(SQL_BY_NAME);
	int64_t		 id = 0;

	if (st == NULL)
		return 0;
	db_bind_text(st, 1, name, -1, DB_STATIC);
	if (db_step(st) == DB_ROW)
		id = db_column_int64(st, 0);
	db_reset(st);
	return id;
}

/* "account.disable": name — its sessions end at once. */
static void
account_verb_disable(const struct fg_reqctx *ctx, json_t *req)
{
	struct account_change c = { SQL_SET_DISABLED, NULL,
	    json_string_value(json_object_get(req, "name")), 1, 0 };
	int64_t id = account_id_of(c.name);

	if (id != 0 && id == ctx->user_id) {
		server_reply_error(ctx, "conflict", "you cannot disable your own account");
		return;
	}
	account_change(ctx, "account.disable", &c, NULL);
	if (id != 0)
		session_end_account(id);
}

static const struct verb_field account_name_fields[] = {
	VERB_FIELD_NAME,
	VERB_FIELDS_END
};
const struct verb_entry account_disable_entry = {
	.name = "account.disable",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN,
	.csrf = 1,
	.fn = account_verb_disable,
	.fields = account_name_fields
};

/* "account.enable": name */
static void
account_verb_enable(const struct fg_reqctx *ctx, json_t *req)
{
	struct account_change c = { SQL_SET_DISABLED, NULL,
	    json_string_value(json_object_get(req, "name")), 0, 0 };

	account_change(ctx, "account.enable", &c, NULL);
}

const struct verb_entry account_enable_entry = {
	.name = "account.enable",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN,
	.csrf = 1,
	.fn = account_verb_enable,
	.fields = account_name_fields
};

struct account_pw {
	int64_t		 id;
	const char	*hash;
};

static int
account_store_hash(void *arg)
{
	struct account_pw	*u = arg;
	struct db_stmt	*st = store_prepare(SQL_SET_HASH);
	int		 r;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, u->hash, -1, DB_STATIC);
	db_bind_int64(st, 2, u->id);
	r = db_step(st) == DB_DONE && db_changes() == 1 ? 0 : -1;
	db_reset(st);
	return r;
}

/* A password change waiting for its Argon2id work. */
struct account_pwchange {
	struct fg_reqctx	 ctx;
	int64_t			 id;
	char			 who[FG_NAME_MAX + 1];
	int			 checked;	/* one's own account: the old password checked */
};

/* The old password was checked and the new one hashed (or not): store it, and answer. */
static void
account_password_done(void *arg, int ok, const char *hash)
{
	struct account_pwchange	*c = arg;
	char			 actor[96], detail[96];
	struct account_pw		 u = { c->id, hash };
	struct audit_rec	 rec = { actor, "account.password", NULL, NULL, NULL, "ok", detail,
				    NULL };

	if (!ok)
		server_reply_error(&c->ctx, "login_failed", "the current password is wrong");
	else if (hash == NULL)
		server_reply_error(&c->ctx, "server_error", "cannot hash the password");
	else {
		if (c->checked)
			loginlimit_right(c->who, NULL, time(NULL));
		server_actor(&c->ctx, actor, sizeof(actor));
		snprintf(detail, sizeof(detail), "user=%s", c->who);
		if (audit_tx(account_store_hash, &u, &rec) == -1)
			server_reply_error(&c->ctx, "server_error", "the password could not be "
			    "changed");
		else
			server_reply(&c->ctx, json_pack("{sbss}", "ok", 1, "name", c->who));
	}
	free(c);
}

/* Fill c with the account being changed and its stored hash; -1 if there is none. */
static int
account_password_target(struct account_pwchange *c, const char *name,
    char stored[crypto_pwhash_STRBYTES])
{
	struct db_stmt *st;

	if (c->ctx.peer == PEER_ADMIN && c->ctx.user_id == 0)
		c->id = name ? account_id_of(name) : 0;
	if (c->id == 0 || (st = store_prepare(SQL_NAME_OF)) == NULL)
		return -1;
	db_bind_int64(st, 1, c->id);
	if (db_step(st) == DB_ROW) {
		snprintf(c->who, sizeof(c->who), "%s", db_column_text(st, 0));
		snprintf(stored, crypto_pwhash_STRBYTES, "%s", db_column_text(st, 1));
	}
	db_reset(st);
	return c->who[0] != '\0' ? 0 : -1;
}

/*
 * "account.password": new_password, and old_password for one's own (web) account; a local admin
 * peer names the account instead and needs no old password.  Both Argon2id steps run on the
 * pwhash thread; a wrong old password counts against the account like a failed login.
 */
static void
account_verb_password(const struct fg_reqctx *ctx, json_t *req)
{
	const char		*old = json_string_value(json_object_get(req, "old_password"));
	const char		*pw = json_string_value(json_object_get(req, "new_password"));
	char			 stored[crypto_pwhash_STRBYTES] = "";
	struct account_pwchange	*c;
	time_t			 now = time(NULL);
	long			 wait = 0;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		server_reply_error(ctx, "server_error", "out of memory");
		return;
	}
	c->ctx = *ctx;
	c->id = ctx->user_id;
	c->checked = ctx->user_id != 0;
	if (account_password_target(c, json_string_value(json_object_get(req, "name")),
	    stored) == -1)
		server_reply_error(ctx, "not_found", "no such user");
	else if (!account_password_ok(pw))
		server_reply_error(ctx, "bad_request", "the password must be 12 to 1024 "
		    "characters");
	else if (c->checked && old == NULL)
		server_reply_error(ctx, "login_failed", "the current password is wrong");
	else if (c->checked && (wait = loginlimit_wait(c->who, NULL, now)) > 0)
		account_reply_refused(ctx, -2, wait);
	else if (pwhash_full())
		account_reply_refused(ctx, -3, ACCOUNT_BUSY_RETRY_S);
	else if (c->checked && (wait = loginlimit_start(c->who, NULL, now)) > 0)
		account_reply_refused(ctx, -2, wait);
	else if (pwhash_submit(c->checked ? stored : NULL, old, pw, account_password_done, c) == -1)
		server_reply_error(ctx, "server_error", "cannot hash the password now");
	else
		c = NULL;
	sodium_memzero(stored, sizeof(stored));
	free(c);
}

static const struct verb_field account_password_fields[] = {
	{ "name", VERB_STR, 0, FG_NAME_MAX },
	{ "old_password", VERB_STR, 0, 1024 },
	{ "new_password", VERB_STR, 1, 1024 },
	VERB_FIELDS_END
};
const struct verb_entry account_password_entry = {
	.name = "account.password",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ANY,
	.csrf = 1,
	.fn = account_verb_password,
	.fields = account_password_fields
};
