/*
 * App registrations, the verbs that change and show them: app.add (checked against the policy
 * table, a broker-issued credential shown once), app.list, app.show, app.update, app.revoke and
 * app.rotate_secret.  The registry they write, its in-memory cache and app authentication are
 * app.c's.  proxy_body_max_mib, each app's cap on a proxied body, is proxy.c's to enforce.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"

#define APP_SECRET_BYTES	32

static const char SQL_INSERT[] =
    "INSERT INTO apps (name, client_id, secret_hash, flow, kind, connection_id, scopes, "
    "internal, can_redirect, justification, created_at, redirect_uri, return_url, "
    "proxy_methods, proxy_paths, proxy_body_max_mib) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
static const char SQL_BY_NAME[] = "SELECT id FROM apps WHERE name = ?";
static const char SQL_REVOKE[] =
    "UPDATE apps SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL";
static const char SQL_CLIENT_ID[] = "SELECT client_id FROM apps WHERE id = ?";

/* A fresh credential: "fg_" + 24 hex client_id and "fgs_" + 43 base64url secret. */
static void
registration_credential(char *client_id, size_t idlen, char *secret, size_t secretlen)
{
	uint8_t rnd[APP_SECRET_BYTES];

	randombytes_buf(rnd, 12);
	memcpy(client_id, "fg_", 3);
	sodium_bin2hex(client_id + 3, idlen - 3, rnd, 12);
	randombytes_buf(rnd, sizeof(rnd));
	memcpy(secret, "fgs_", 4);
	sodium_bin2base64(secret + 4, secretlen - 4, rnd, sizeof(rnd),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(rnd, sizeof(rnd));
}

/* What registration_insert stores. */
struct registration_new {
	json_t				*req;
	const struct policy_app		*pa;
	int64_t				 conn_id;
	const char			*client_id;
	const uint8_t			*hash;
};

/* The proxy body cap asked for, in MiB: the ceiling when none is given. */
static json_int_t
registration_body_mib(json_t *req)
{
	json_t *v = json_object_get(req, "proxy_body_max_mib");

	return v != NULL ? json_integer_value(v) : FG_PROXY_BODY_MAX_MIB;
}

/* The cap is 1..FG_PROXY_BODY_MAX_MIB; NULL when so, else why. */
static const char *
registration_body_mib_check(json_t *req)
{
	json_int_t mib = registration_body_mib(req);

	if (mib < 1 || mib > FG_PROXY_BODY_MAX_MIB)
		return "proxy_body_max_mib must be a whole number of MiB from 1 to 200";
	return NULL;
}

/* Insert the registration row (inside audit_tx). */
static int
registration_insert(void *arg)
{
	struct registration_new		*n = arg;
	json_t			*req = n->req;
	const struct policy_app	*pa = n->pa;
	struct db_stmt		*st = store_prepare(SQL_INSERT);
	int			 r;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, json_string_value(json_object_get(req, "name")), -1,
	    DB_STATIC);
	db_bind_text(st, 2, n->client_id, -1, DB_STATIC);
	db_bind_blob(st, 3, n->hash, 32, DB_STATIC);
	db_bind_text(st, 4, pa->flow, -1, DB_STATIC);
	db_bind_text(st, 5, pa->kind, -1, DB_STATIC);
	db_bind_int64(st, 6, n->conn_id);
	db_bind_text(st, 7, pa->scopes, -1, DB_STATIC);
	db_bind_int(st, 8, pa->internal);
	db_bind_int(st, 9, pa->can_redirect);
	db_bind_text(st, 10, pa->justification, -1, DB_STATIC);
	db_bind_int64(st, 11, store_now_ms());
	db_bind_text(st, 12, json_string_value(json_object_get(req, "redirect_uri")), -1,
	    DB_STATIC);
	db_bind_text(st, 13, json_string_value(json_object_get(req, "return_url")), -1,
	    DB_STATIC);
	db_bind_text(st, 14, json_string_value(json_object_get(req, "proxy_methods")), -1,
	    DB_STATIC);
	db_bind_text(st, 15, json_string_value(json_object_get(req, "proxy_paths")), -1,
	    DB_STATIC);
	db_bind_int64(st, 16, registration_body_mib(req));
	r = db_step(st) == DB_DONE ? 0 : -1;
	db_reset(st);
	return r;
}

/* An absolute https URL (http only to loopback), one line, no fragment; NULL is fine. */
static int
registration_url_ok(const char *u)
{
	const char *p;

	if (u == NULL)
		return 1;
	if (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://127.0.0.1", 16) != 0 &&
	    strncmp(u, "http://localhost", 16) != 0)
		return 0;
	for (p = u; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '#' || *p == '"' ||
		    *p == '<' || *p == '>' || *p == '\\')
			return 0;
	return strlen(u) <= 2048;
}

/* Space-separated HTTP methods from the allowed set; NULL is fine (no proxy). */
static int
registration_methods_ok(const char *m)
{
	static const char *const ok[] = { "GET", "POST", "PUT", "PATCH", "DELETE" };
	char	 tok[8];
	size_t	 n, i;

	while (m != NULL && *m != '\0') {
		n = strcspn(m, " ");
		if (n == 0 || n >= sizeof(tok))
			return 0;
		memcpy(tok, m, n);
		tok[n] = '\0';
		for (i = 0; i < 5 && strcmp(ok[i], tok) != 0; i++)
			;
		if (i == 5)
			return 0;
		m += n + (m[n] == ' ');
	}
	return 1;
}

/* Space-separated path prefixes, each "/..." without dot segments or encodings. */
static int
registration_paths_ok(const char *p)
{
	size_t n, i;

	while (p != NULL && *p != '\0') {
		n = strcspn(p, " ");
		if (n == 0 || p[0] != '/' || n > 256)
			return 0;
		for (i = 0; i < n; i++)
			if (strchr("%?#\\", p[i]) != NULL || (unsigned char)p[i] <= 0x20 ||
			    (i + 1 < n && p[i] == '/' && p[i + 1] == '/') ||
			    (i + 1 < n && p[i] == '.' && p[i + 1] == '.'))
				return 0;
		p += n + (p[n] == ' ');
	}
	return 1;
}

/* Read the registration fields of an app.add request into pa; NULL or the problem. */
static const char *
registration_parse(json_t *req, struct policy_app *pa, char *scopes, size_t scopeslen)
{
	json_t *internal = json_object_get(req, "internal");
	json_t *redirect = json_object_get(req, "can_redirect");

	memset(pa, 0, sizeof(*pa));
	pa->flow = json_string_value(json_object_get(req, "flow"));
	pa->kind = json_string_value(json_object_get(req, "kind"));
	pa->justification = json_string_value(json_object_get(req, "justification"));
	pa->internal = json_is_true(internal);
	pa->can_redirect = redirect == NULL || json_is_true(redirect);
	if (!verbs_valid_name(json_string_value(json_object_get(req, "name"))))
		return "name must be 1-64 of a-z 0-9 - _, starting with a letter or digit";
	if (strcmp(pa->kind, "backend") != 0 && strcmp(pa->kind, "user_facing") != 0 &&
	    strcmp(pa->kind, "assistant") != 0)
		return "kind must be backend, user_facing or assistant";
	if (scope_normalize(json_string_value(json_object_get(req, "scopes")), scopes,
	    scopeslen) == -1)
		return "scopes are malformed";
	pa->scopes = scopes;
	if (!registration_url_ok(json_string_value(json_object_get(req, "redirect_uri"))) ||
	    !registration_url_ok(json_string_value(json_object_get(req, "return_url"))))
		return "redirect_uri and return_url must be https URLs (http only for 127.0.0.1 "
		    "and localhost), without spaces or fragments";
	if (!registration_methods_ok(json_string_value(json_object_get(req, "proxy_methods"))) ||
	    !registration_paths_ok(json_string_value(json_object_get(req, "proxy_paths"))))
		return "proxy_methods are among GET POST PUT PATCH DELETE; proxy_paths are prefixes "
		    "like /interactions/ (no .., //, %, ? or #)";
	return registration_body_mib_check(req);
}

/* Record a registration refused by the policy or by validation. */
static void
registration_refused(const struct fg_reqctx *ctx, json_t *req, const char *code, const char *why,
    const char *rule)
{
	char			 actor[96];
	struct audit_rec	 rec = { actor, "app.add", json_string_value(json_object_get(req,
				    "name")), json_string_value(json_object_get(req, "connection")),
				    json_string_value(json_object_get(req, "scopes")), "refused",
				    why, NULL };
	json_t			*reply;

	server_actor(ctx, actor, sizeof(actor));
	audit_append(&rec);
	reply = json_pack("{sbssss}", "ok", 0, "error", code, "message", why);
	if (rule != NULL)
		json_object_set_new(reply, "rule", json_string(rule));
	server_reply(ctx, reply);
}

/* Store the app and its audit record in one transaction. */
static int
registration_commit(const struct fg_reqctx *ctx, json_t *req, const struct policy_app *pa,
    int64_t conn_id, const char *client_id, const uint8_t hash[32])
{
	char			 actor[96], detail[160];
	struct audit_rec	 rec = { actor, "app.add", json_string_value(json_object_get(req,
				    "name")), json_string_value(json_object_get(req, "connection")),
				    pa->scopes, "ok", detail, NULL };
	struct registration_new		 n = { req, pa, conn_id, client_id, hash };

	server_actor(ctx, actor, sizeof(actor));
	snprintf(detail, sizeof(detail), "flow=%s kind=%s client_id=%s proxy_body_max_mib=%lld",
	    pa->flow, pa->kind, client_id, (long long)registration_body_mib(req));
	if (audit_tx(registration_insert, &n, &rec) == -1)
		return -1;
	app_cache_clear();
	return 0;
}

/* "app.add": name, flow, connection, scopes, kind, internal?, can_redirect?, justification? */
static void
registration_verb_add(const struct fg_reqctx *ctx, json_t *req)
{
	struct policy_app	 pa;
	struct conn_rec		 c;
	struct db_stmt		*st;
	const char		*why, *rule;
	char			 scopes[FG_SCOPES_MAX], client_id[64], secret[80];
	uint8_t			 hash[32];
	int			 exists = 0;

	if ((why = registration_parse(req, &pa, scopes, sizeof(scopes))) != NULL) {
		registration_refused(ctx, req, "bad_request", why, NULL);
		return;
	}
	if (connection_get(json_string_value(json_object_get(req, "connection")), &c) == -1) {
		registration_refused(ctx, req, "not_found", "no such connection", NULL);
		return;
	}
	if ((why = policy_check_app(&pa, &rule)) != NULL ||
	    (json_object_get(req, "redirect_uri") == NULL && pa.can_redirect &&
	    policy_flow_redirects(pa.flow) && (why = policy_rule_text("redirect_uri_required",
	    &rule)) != NULL)) {
		registration_refused(ctx, req, "policy", why, rule);
		return;
	}
	if ((st = store_prepare(SQL_BY_NAME)) != NULL) {
		db_bind_text(st, 1, json_string_value(json_object_get(req, "name")), -1,
		    DB_STATIC);
		exists = db_step(st) == DB_ROW;
		db_reset(st);
	}
	if (exists) {
		registration_refused(ctx, req, "conflict", "an app with this name exists", NULL);
		return;
	}
	registration_credential(client_id, sizeof(client_id), secret, sizeof(secret));
	seal_app_hash(secret, strlen(secret), hash);
	if (registration_commit(ctx, req, &pa, c.id, client_id, hash) == -1) {
		server_reply_error(ctx, "server_error", "the app could not be stored");
		sodium_memzero(secret, sizeof(secret));
		return;
	}
	server_reply(ctx, json_pack("{sbssssssssss}", "ok", 1, "name",
	    json_string_value(json_object_get(req, "name")), "client_id", client_id,
	    "client_secret", secret, "flow", pa.flow, "scopes", pa.scopes));
	sodium_memzero(secret, sizeof(secret));
}

static const struct verb_field registration_add_fields[] = {
	VERB_FIELD_NAME,
	{ "flow", VERB_STR, 1, 32 },
	{ "connection", VERB_STR, 1, FG_NAME_MAX },
	{ "scopes", VERB_STR, 1, 512 },
	{ "kind", VERB_STR, 1, 16 },
	{ "internal", VERB_BOOL, 0, 0 },
	{ "can_redirect", VERB_BOOL, 0, 0 },
	{ "justification", VERB_STR, 0, 2000 },
	{ "redirect_uri", VERB_STR, 0, 2048 },
	{ "return_url", VERB_STR, 0, 2048 },
	{ "proxy_methods", VERB_STR, 0, 64 },
	{ "proxy_paths", VERB_STR, 0, 2048 },
	{ "proxy_body_max_mib", VERB_INT, 0, 0 },
	VERB_FIELDS_END
};
const struct verb_entry app_add_entry = {
	.name = "app.add",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN,
	.csrf = 1,
	.fn = registration_verb_add,
	.fields = registration_add_fields
};


#define APP_COLS \
    "SELECT a.name, a.client_id, a.flow, a.kind, c.name, a.scopes, a.internal, " \
    "a.can_redirect, a.justification, a.created_at, a.revoked_at, a.prev_valid_until, " \
    "a.redirect_uri, a.return_url, a.proxy_methods, a.proxy_paths, a.proxy_body_max_mib " \
    "FROM apps a JOIN connections c ON c.id = a.connection_id "
static const char SQL_SHOW[] = APP_COLS "WHERE a.name = ?1";
static const char SQL_PAGE_AFTER[] = APP_COLS "WHERE a.name > ?1 ORDER BY a.name LIMIT ?2";
static const char SQL_PAGE_BEFORE[] = APP_COLS "WHERE a.name < ?1 ORDER BY a.name DESC LIMIT ?2";

/* One app as JSON; the credential's secret is not stored, so it cannot be shown. */
static json_t *
registration_json(struct db_stmt *st)
{
	static const char	*names[] = { "name", "client_id", "flow", "kind", "connection",
				    "scopes" };
	static const char	*extra[] = { "redirect_uri", "return_url", "proxy_methods",
				    "proxy_paths" };
	json_t			*o = json_object();
	int			 i;

	for (i = 0; i < 6; i++)
		json_object_set_new(o, names[i], json_string((const char *)db_column_text(st,
		    i)));
	json_object_set_new(o, "internal", json_boolean(db_column_int(st, 6)));
	json_object_set_new(o, "can_redirect", json_boolean(db_column_int(st, 7)));
	if (db_column_type(st, 8) != DB_NULL)
		json_object_set_new(o, "justification",
		    json_string((const char *)db_column_text(st, 8)));
	json_object_set_new(o, "created_at", json_integer(db_column_int64(st, 9)));
	json_object_set_new(o, "revoked_at", db_column_type(st, 10) == DB_NULL ?
	    json_null() : json_integer(db_column_int64(st, 10)));
	app_usage_of((const char *)db_column_text(st, 0), o);
	json_object_set_new(o, "previous_valid_until", db_column_type(st, 11) ==
	    DB_NULL ? json_null() : json_integer(db_column_int64(st, 11)));
	for (i = 0; i < 4; i++)
		if (db_column_type(st, 12 + i) != DB_NULL)
			json_object_set_new(o, extra[i],
			    json_string((const char *)db_column_text(st, 12 + i)));
	json_object_set_new(o, "proxy_body_max_mib", json_integer(db_column_int(st, 16)));
	return o;
}

/*
 * "app.list": after? | before?, limit? (1..1000, default 100).  A row takes about 450 bytes,
 * up to 21 KiB with every optional field at its longest; the page's byte budget decides then.
 */
static void
registration_verb_list(const struct fg_reqctx *ctx, json_t *req)
{
	static const struct page_query q = { "apps", SQL_PAGE_AFTER, SQL_PAGE_BEFORE, 100, 1000,
	    registration_json };

	page_verb(ctx, req, &q);
}

static const struct verb_field registration_list_fields[] = {
	VERB_FIELDS_PAGE,
	VERB_FIELDS_END
};
const struct verb_entry app_list_entry = {
	.name = "app.list",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ANY,
	.fn = registration_verb_list,
	.fields = registration_list_fields
};

/* "app.show": name */
static void
registration_verb_show(const struct fg_reqctx *ctx, json_t *req)
{
	server_reply_first(ctx, store_select(SQL_SHOW, json_string_value(json_object_get(req,
	    "name")), registration_json), "app", "app");
}

static const struct verb_field registration_name_fields[] = {
	VERB_FIELD_NAME,
	VERB_FIELDS_END
};
const struct verb_entry app_show_entry = {
	.name = "app.show",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ANY,
	.fn = registration_verb_show,
	.fields = registration_name_fields
};

struct registration_gone {
	const char	*name;
	int		 changed;
};

/* Mark an active app revoked (inside audit_tx); -1 when there is none. */
static int
registration_mark_revoked(void *arg)
{
	struct registration_gone	*g = arg;
	struct db_stmt	*st = store_prepare(SQL_REVOKE);
	struct app_rec	 a;

	g->changed = -1;
	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, store_now_ms());
	db_bind_text(st, 2, g->name, -1, DB_STATIC);
	if (db_step(st) == DB_DONE)
		g->changed = db_changes();
	db_reset(st);
	if (g->changed != 1 || app_lookup(g->name, 0, &a) == -1)
		return -1;
	return cluster_notify_send("app", a.id);
}

/* "app.revoke": name — its credential stops working at once. */
static void
registration_verb_revoke(const struct fg_reqctx *ctx, json_t *req)
{
	const char		*name = json_string_value(json_object_get(req, "name"));
	char			 actor[96];
	struct audit_rec	 rec = { actor, "app.revoke", name, NULL, NULL, "ok", NULL, NULL };
	struct registration_gone		 g = { name, 0 };

	server_actor(ctx, actor, sizeof(actor));
	if (audit_tx(registration_mark_revoked, &g, &rec) == -1) {
		if (g.changed == 0)
			server_reply_error(ctx, "not_found", "no active app named %s", name);
		else
			server_reply_error(ctx, "server_error", "could not revoke %s", name);
		return;
	}
	app_cache_clear();
	server_reply(ctx, json_pack("{sbss}", "ok", 1, "name", name));
}

const struct verb_entry app_revoke_entry = {
	.name = "app.revoke",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN,
	.csrf = 1,
	.fn = registration_verb_revoke,
	.fields = registration_name_fields
};

static const char SQL_REG[] =
    "SELECT id, flow, kind, internal, can_redirect, justification, scopes FROM apps "
    "WHERE name = ? AND revoked_at IS NULL";
static const char SQL_SET_SCOPES[] =
    "UPDATE apps SET scopes = ?, proxy_body_max_mib = coalesce(?, proxy_body_max_mib) "
    "WHERE id = ?";

struct registration_edit {
	int64_t		 id;
	const char	*scopes;
	json_t		*mib;		/* NULL: unchanged */
	uint8_t		 hash[32];
	int64_t		 until;
};

static int
registration_set_scopes(void *arg)
{
	struct registration_edit	*e = arg;
	struct db_stmt	*st = store_prepare(SQL_SET_SCOPES);
	int		 r;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, e->scopes, -1, DB_STATIC);
	if (e->mib != NULL)
		db_bind_int64(st, 2, json_integer_value(e->mib));
	else
		db_bind_null(st, 2);
	db_bind_int64(st, 3, e->id);
	r = db_step(st) == DB_DONE ? 0 : -1;
	db_reset(st);
	return r == 0 ? cluster_notify_send("app", e->id) : -1;
}

/*
 * "app.update": name, scopes?, proxy_body_max_mib? (at least one) — the scope set, new or
 * kept, is checked against the policy again.
 */
static void
registration_verb_update(const struct fg_reqctx *ctx, json_t *req)
{
	const char		*name = json_string_value(json_object_get(req, "name"));
	struct db_stmt		*st = store_prepare(SQL_REG);
	struct policy_app	 pa;
	struct registration_edit		 e = { 0, NULL, NULL, { 0 }, 0 };
	char			 scopes[FG_SCOPES_MAX], flow[32] = "", kind[16] = "", just[2001] = "";
	char			 kept[FG_SCOPES_MAX] = "", actor[96], detail[40];
	struct audit_rec	 rec = { actor, "app.update", name, NULL, NULL, "ok", NULL, NULL };
	const char		*why, *rule;

	if (st != NULL) {
		db_bind_text(st, 1, name, -1, DB_STATIC);
		if (db_step(st) == DB_ROW) {
			e.id = db_column_int64(st, 0);
			app_column(st, 1, flow, sizeof(flow));
			app_column(st, 2, kind, sizeof(kind));
			pa.internal = db_column_int(st, 3);
			pa.can_redirect = db_column_int(st, 4);
			app_column(st, 5, just, sizeof(just));
			app_column(st, 6, kept, sizeof(kept));
		}
		db_reset(st);
	}
	if (e.id == 0) {
		server_reply_error(ctx, "not_found", "no active app named %s", name);
		return;
	}
	e.mib = json_object_get(req, "proxy_body_max_mib");
	if (e.mib == NULL && json_object_get(req, "scopes") == NULL) {
		server_reply_error(ctx, "bad_request", "give scopes, proxy_body_max_mib or both");
		return;
	}
	if ((why = registration_body_mib_check(req)) != NULL) {
		server_reply_error(ctx, "bad_request", "%s", why);
		return;
	}
	if (scope_normalize(json_object_get(req, "scopes") != NULL ? json_string_value(
	    json_object_get(req, "scopes")) : kept, scopes, sizeof(scopes)) == -1) {
		server_reply_error(ctx, "bad_request", "scopes are malformed");
		return;
	}
	pa.flow = flow;
	pa.kind = kind;
	pa.scopes = scopes;
	pa.justification = just[0] ? just : NULL;
	if ((why = policy_check_app(&pa, &rule)) != NULL) {
		registration_refused(ctx, req, "policy", why, rule);
		return;
	}
	e.scopes = scopes;
	if (e.mib != NULL) {
		snprintf(detail, sizeof(detail), "proxy_body_max_mib=%lld",
		    (long long)json_integer_value(e.mib));
		rec.detail = detail;
	}
	server_actor(ctx, actor, sizeof(actor));
	rec.scopes = scopes;
	if (audit_tx(registration_set_scopes, &e, &rec) == -1) {
		server_reply_error(ctx, "server_error", "the app could not be changed");
		return;
	}
	app_cache_clear();
	registration_verb_show(ctx, req);
}

static const struct verb_field registration_update_fields[] = {
	VERB_FIELD_NAME,
	{ "scopes", VERB_STR, 0, 512 },
	{ "proxy_body_max_mib", VERB_INT, 0, 0 },
	VERB_FIELDS_END
};
const struct verb_entry app_update_entry = {
	.name = "app.update",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN,
	.csrf = 1,
	.fn = registration_verb_update,
	.fields = registration_update_fields
};

static const char SQL_ROTATE[] =
    "UPDATE apps SET prev_secret_hash = secret_hash, prev_valid_until = ?, secret_hash = ? "
    "WHERE id = ?";

static int
registration_store_rotation(void *arg)
{
	struct registration_edit	*e = arg;
	struct db_stmt	*st = store_prepare(SQL_ROTATE);
	int		 r;

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, e->until);
	db_bind_blob(st, 2, e->hash, 32, DB_STATIC);
	db_bind_int64(st, 3, e->id);
	r = db_step(st) == DB_DONE ? 0 : -1;
	db_reset(st);
	return r == 0 ? cluster_notify_send("app", e->id) : -1;
}

/*
 * "app.rotate_secret": name, overlap_s? — a new secret, shown once; the old one keeps working
 * for the overlap (default a day) so the app can be redeployed without downtime.
 */
static void
registration_verb_rotate_secret(const struct fg_reqctx *ctx, json_t *req)
{
	const char		*name = json_string_value(json_object_get(req, "name"));
	json_t			*ov = json_object_get(req, "overlap_s");
	json_int_t		 overlap = ov ? json_integer_value(ov) : 86400;
	struct db_stmt		*st = store_prepare(SQL_REG);
	struct registration_edit		 e = { 0, NULL, NULL, { 0 }, 0 };
	char			 client_id[64] = "", unused[64], secret[80], actor[96], detail[64];
	char			 flow[32] = "", scopes[FG_SCOPES_MAX] = "";
	struct audit_rec	 rec = { actor, "app.rotate_secret", name, NULL, NULL, "ok",
				    detail, NULL };

	if (overlap < 0 || overlap > 30 * 86400) {
		server_reply_error(ctx, "bad_request", "overlap_s must be 0..2592000");
		return;
	}
	if (st != NULL) {
		db_bind_text(st, 1, name, -1, DB_STATIC);
		if (db_step(st) == DB_ROW) {
			e.id = db_column_int64(st, 0);
			app_column(st, 1, flow, sizeof(flow));
			app_column(st, 6, scopes, sizeof(scopes));
		}
		db_reset(st);
	}
	if (e.id == 0) {
		server_reply_error(ctx, "not_found", "no active app named %s", name);
		return;
	}
	registration_credential(unused, sizeof(unused), secret, sizeof(secret));
	seal_app_hash(secret, strlen(secret), e.hash);
	e.until = store_now_ms() + (int64_t)overlap * 1000;
	server_actor(ctx, actor, sizeof(actor));
	snprintf(detail, sizeof(detail), "overlap_s=%lld", (long long)overlap);
	if (audit_tx(registration_store_rotation, &e, &rec) == -1) {
		server_reply_error(ctx, "server_error", "the credential could not be rotated");
		sodium_memzero(secret, sizeof(secret));
		return;
	}
	app_cache_clear();
	if ((st = store_prepare(SQL_CLIENT_ID)) != NULL) {
		db_bind_int64(st, 1, e.id);
		if (db_step(st) == DB_ROW)
			app_column(st, 0, client_id, sizeof(client_id));
		db_reset(st);
	}
	server_reply(ctx, json_pack("{sbsssssssIssss}", "ok", 1, "name", name, "client_id",
	    client_id, "client_secret", secret, "previous_valid_until", (json_int_t)e.until,
	    "flow", flow, "scopes", scopes));
	sodium_memzero(secret, sizeof(secret));
}

static const struct verb_field registration_rotate_fields[] = {
	VERB_FIELD_NAME,
	{ "overlap_s", VERB_INT, 0, 0 },
	VERB_FIELDS_END
};
const struct verb_entry app_rotate_secret_entry = {
	.name = "app.rotate_secret",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN,
	.csrf = 1,
	.fn = registration_verb_rotate_secret,
	.fields = registration_rotate_fields
};
