/*
 * The connection verbs: add and rotate (a new secret is proven with a real token request before
 * it is stored, and swapped in one transaction keeping the previous one sealed for a grace
 * period), list, show, test, remove, retire, stop and resume.  What they store is
 * connection.c's; no verb returns a secret.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

enum conn_op { CONN_ADD, CONN_ROTATE };

/* An add or a rotation waiting for the upstream to accept its secret. */
struct conn_pending {
	enum conn_op		 op;
	struct fg_reqctx	 ctx;
	char			 actor[96];
	char			 name[FG_NAME_MAX + 1];
	char			 environment[33];
	char			 tenant[FG_NAME_MAX + 1];
	char			 client_id[257];
	char			*token_url;
	char			*api_base;
	int64_t			 conn_id;
	int64_t			 version;
	long			 grace_s;
	struct fg_secret	*secret;
};


static void
connverb_pending_free(struct conn_pending *p)
{
	seal_secret_free(p->secret);
	free(p->token_url);
	free(p->api_base);
	free(p);
}


static int
connverb_change(void *arg)
{
	struct conn_pending	*p = arg;
	struct conn_new		 n = { p->name, p->environment, p->tenant, p->client_id,
				    p->token_url, p->api_base, p->secret, 0 };
	int			 r;

	if (p->op == CONN_ROTATE)
		r = connection_store_rotate(p->conn_id, p->version, p->grace_s, p->secret);
	else {
		r = connection_store_add(&n);
		p->conn_id = n.id;
	}
	return r == 0 ? cluster_notify_send("conn", p->conn_id) : -1;
}

/* Apply an add or a rotation and its audit record in one transaction. */
static int
connverb_commit(struct conn_pending *p)
{
	struct audit_rec rec = { p->actor, p->op == CONN_ADD ? "connection.add" :
	    "connection.rotate", NULL, p->name, NULL, "ok", NULL, NULL };
	char detail[64];

	if (p->op == CONN_ROTATE)
		snprintf(detail, sizeof(detail), "version=%lld grace_s=%ld",
		    (long long)p->version + 1, p->grace_s);
	else
		snprintf(detail, sizeof(detail), "version=1");
	rec.detail = detail;
	return audit_tx(connverb_change, p, &rec);
}

/* Record a refused add or rotation. */
static void
connverb_refused(struct conn_pending *p, const char *why)
{
	struct audit_rec rec = { p->actor, p->op == CONN_ADD ? "connection.add" :
	    "connection.rotate", NULL, p->name, NULL, "refused", why, NULL };

	audit_append(&rec);
}

/*
 * Say what a verification request proved, in words that tell TLS, the secret and the scope
 * apart; returns what failed ("tls", "network", "secret", "scope", "answer") or NULL.
 */
static const char *
connverb_verdict(const struct upstream_token *t, char *out, size_t outlen)
{
	if (t->outcome == UPSTREAM_OK) {
		snprintf(out, outlen, "the upstream issued a token with this client id and secret");
		return NULL;
	}
	if (t->tls) {
		snprintf(out, outlen, "TLS: flowgate does not trust the upstream's certificate or "
		    "could not finish the handshake (%s); check the token URL and ca_file",
		    t->message);
		return "tls";
	}
	if (t->http_status == 0) {
		snprintf(out, outlen, "network: %s", t->message);
		return "network";
	}
	if (strcmp(t->code, "invalid_scope") == 0) {
		snprintf(out, outlen, "scope: the upstream accepted the secret but refused the "
		    "scope (HTTP %ld %s)", t->http_status, t->error);
		return "scope";
	}
	if (t->outcome == UPSTREAM_REFUSED && (t->http_status == 401 || t->http_status == 403 ||
	    strcmp(t->error, "invalid_client") == 0)) {
		snprintf(out, outlen, "secret: the upstream refused this client id or secret "
		    "(HTTP %ld%s%s)", t->http_status, t->error[0] ? " " : "", t->error);
		return "secret";
	}
	snprintf(out, outlen, "the upstream issued no token: %s", t->message);
	return "answer";
}

/*
 * Ask the token endpoint for a client-credentials token without a scope: it proves TLS and
 * the secret, and does not depend on which scopes (openid or any) the upstream client has.
 */
static int
connverb_probe(const char *url, const char *client_id, const struct fg_secret *secret,
    upstream_cb cb, void *arg)
{
	struct upstream_param p[] = { { "grant_type", "client_credentials", 18 } };

	return upstream_token(url, client_id, secret, p, 1, cb, arg);
}

/* The upstream answered the verification request. */
static void
connverb_verified(void *arg, struct upstream_token *t)
{
	struct conn_pending	*p = arg;
	char			 why[400];

	if (t->outcome != UPSTREAM_OK) {
		connverb_verdict(t, why, sizeof(why));
		connverb_refused(p, why);
		server_reply_error(&p->ctx, "verification_failed", "%s", why);
	} else if (connverb_commit(p) == -1) {
		connverb_refused(p, "could not be stored");
		server_reply_error(&p->ctx, "conflict", "connection %s changed meanwhile or could "
		    "not be stored; nothing was changed", p->name);
	} else {
		if (p->op == CONN_ROTATE) {
			token_drop_connection(p->conn_id, NULL);
			connhealth_ok(p->conn_id);	/* the new secret just got a token */
		}
		connhealth_changed();
		fg_log_info("connection %s: %s", p->name, p->op == CONN_ADD ? "added" :
		    "secret rotated");
		server_reply(&p->ctx, json_pack("{sbsssI}", "ok", 1, "name", p->name,
		    "version", (json_int_t)(p->op == CONN_ADD ? 1 : p->version + 1)));
	}
	connverb_pending_free(p);
}

/* Prove the secret with a token request, or store directly when told not to. */
static void
connverb_verify(struct conn_pending *p, const char *url, int verify)
{
	if (!verify) {
		struct upstream_token t = { .outcome = UPSTREAM_OK };

		connverb_verified(p, &t);
		return;
	}
	if (connverb_probe(url, p->client_id, p->secret, connverb_verified, p) == -1) {
		server_reply_error(&p->ctx, "temporarily_unavailable",
		    "cannot start the verification request");
		connverb_pending_free(p);
	}
}

/* True for an https URL without spaces or control characters. */
static int
connverb_url_ok(const char *u)
{
	if (u == NULL)
		return 1;
	if (strncmp(u, "https://", 8) != 0 || strlen(u) <= 8)
		return 0;
	for (; *u; u++)
		if ((unsigned char)*u <= 0x20 || *u == 0x7f)
			return 0;
	return 1;
}

/* A pending operation with the caller's identity and a guarded copy of the secret. */
static struct conn_pending *
connverb_pending(enum conn_op op, const struct fg_reqctx *ctx, json_t *req)
{
	struct conn_pending	*p;
	json_t			*sec = json_object_get(req, "secret");

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->op = op;
	p->ctx = *ctx;
	server_actor(ctx, p->actor, sizeof(p->actor));
	snprintf(p->name, sizeof(p->name), "%s", json_string_value(json_object_get(req, "name")));
	p->secret = seal_secret_from(json_string_value(sec), json_string_length(sec));
	if (p->secret == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

/* "connection.add": name, environment, tenant, client_id, secret, token_url?, api_base?, verify? */
static void
connverb_add(const struct fg_reqctx *ctx, json_t *req)
{
	struct conn_pending	*p;
	struct conn_rec		 c;
	const char		*tu = json_string_value(json_object_get(req, "token_url"));
	const char		*ab = json_string_value(json_object_get(req, "api_base"));
	json_t			*verify = json_object_get(req, "verify");
	char			 url[2049];

	if (!verbs_valid_name(json_string_value(json_object_get(req, "name"))) ||
	    !verbs_valid_word(json_string_value(json_object_get(req, "environment")), 32) ||
	    !verbs_valid_word(json_string_value(json_object_get(req, "tenant")), FG_NAME_MAX) ||
	    !verbs_valid_printable(json_string_value(json_object_get(req, "client_id"))) ||
	    !connverb_url_ok(tu) || !connverb_url_ok(ab)) {
		server_reply_error(ctx, "bad_request", "name, environment, tenant, client_id or a "
		    "URL is malformed (names: a-z 0-9 - _; URLs: https only)");
		return;
	}
	if (connection_get(json_string_value(json_object_get(req, "name")), &c) == 0) {
		server_reply_error(ctx, "conflict", "a connection named %s exists", c.name);
		return;
	}
	if ((p = connverb_pending(CONN_ADD, ctx, req)) == NULL) {
		server_reply_error(ctx, "server_error", "out of memory");
		return;
	}
	snprintf(p->environment, sizeof(p->environment), "%s",
	    json_string_value(json_object_get(req, "environment")));
	snprintf(p->tenant, sizeof(p->tenant), "%s",
	    json_string_value(json_object_get(req, "tenant")));
	snprintf(p->client_id, sizeof(p->client_id), "%s",
	    json_string_value(json_object_get(req, "client_id")));
	p->token_url = tu ? strdup(tu) : NULL;
	p->api_base = ab ? strdup(ab) : NULL;
	if (tu != NULL)
		snprintf(url, sizeof(url), "%s", tu);
	else
		connection_default_token_url(url, sizeof(url), p->environment, p->tenant);
	connverb_verify(p, url, verify == NULL || json_is_true(verify) || ctx->peer != PEER_ADMIN);
}

static const struct verb_field connverb_add_fields[] = {
	VERB_FIELD_NAME,
	{ "environment", VERB_STR, 1, 32 },
	{ "tenant", VERB_STR, 1, FG_NAME_MAX },
	{ "client_id", VERB_STR, 1, 256 },
	{ "secret", VERB_STR, 1, FG_SECRET_MAX },
	{ "token_url", VERB_STR, 0, 2048 },
	{ "api_base", VERB_STR, 0, 2048 },
	{ "verify", VERB_BOOL, 0, 0 },
	VERB_FIELDS_END
};
const struct verb_entry connection_add_entry = {
	.name = "connection.add",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN,
	.csrf = 1,
	.fn = connverb_add,
	.fields = connverb_add_fields
};

/* "connection.rotate": name, secret, grace_s? — verified upstream before it becomes current. */
static void
connverb_rotate(const struct fg_reqctx *ctx, json_t *req)
{
	struct conn_pending	*p;
	struct conn_rec		 c;
	json_t			*grace = json_object_get(req, "grace_s");

	if (connection_get(json_string_value(json_object_get(req, "name")), &c) == -1) {
		server_reply_error(ctx, "not_found", "no such connection");
		return;
	}
	if (grace != NULL && (json_integer_value(grace) < 0 ||
	    json_integer_value(grace) > 90 * 86400)) {
		server_reply_error(ctx, "bad_request", "grace_s must be 0..7776000");
		return;
	}
	if ((p = connverb_pending(CONN_ROTATE, ctx, req)) == NULL) {
		server_reply_error(ctx, "server_error", "out of memory");
		return;
	}
	p->conn_id = c.id;
	p->version = c.secret_version;
	p->grace_s = grace ? (long)json_integer_value(grace) : fg_cfg->grace_s;
	snprintf(p->client_id, sizeof(p->client_id), "%s", c.client_id);
	connverb_verify(p, c.token_url, 1);
}

static const struct verb_field connverb_rotate_fields[] = {
	VERB_FIELD_NAME,
	{ "secret", VERB_STR, 1, FG_SECRET_MAX },
	{ "grace_s", VERB_INT, 0, 0 },
	VERB_FIELDS_END
};
const struct verb_entry connection_rotate_entry = {
	.name = "connection.rotate",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_SECURITY,
	.csrf = 1,
	.fn = connverb_rotate,
	.fields = connverb_rotate_fields
};

#define SQL_LIST \
    "SELECT c.name, c.environment, c.tenant, c.client_id, c.token_url, c.api_base, " \
    "c.secret_version, c.stopped, c.created_at, c.rotated_at, " \
    "(SELECT max(retire_at) FROM connection_secrets s WHERE s.connection_id = c.id " \
    "AND s.state = 'previous'), " \
    "(SELECT count(*) FROM apps a WHERE a.connection_id = c.id AND a.revoked_at IS NULL) " \
    "FROM connections c "
static const char SQL_SHOW[] = SQL_LIST "WHERE c.name = ?1";
static const char SQL_PAGE_AFTER[] = SQL_LIST "WHERE c.name > ?1 ORDER BY c.name LIMIT ?2";
static const char SQL_PAGE_BEFORE[] = SQL_LIST "WHERE c.name < ?1 ORDER BY c.name DESC LIMIT ?2";

/* Seconds since the current secret was stored (rotated_at, else created_at; columns 9, 8). */
static json_int_t
connverb_age_s(struct db_stmt *st)
{
	int64_t since = db_column_type(st, 9) != DB_NULL ?
	    db_column_int64(st, 9) : db_column_int64(st, 8);

	return (json_int_t)((store_now_ms() - since) / 1000);
}

/* One connection as JSON: everything about it except the secret. */
static json_t *
connverb_json(struct db_stmt *st)
{
	json_int_t		 age;
	static const char	*names[] = { "name", "environment", "tenant", "client_id",
				    "token_url", "api_base" };
	char			 url[2049];
	json_t			*o = json_object();
	int			 i;

	for (i = 0; i < 6; i++)
		if (db_column_type(st, i) != DB_NULL)
			json_object_set_new(o, names[i],
			    json_string((const char *)db_column_text(st, i)));
	if (db_column_type(st, 4) == DB_NULL) {
		connection_default_token_url(url, sizeof(url), (const char *)db_column_text(st,
		    1), (const char *)db_column_text(st, 2));
		json_object_set_new(o, "token_url", json_string(url));
	}
	if (db_column_type(st, 5) == DB_NULL) {
		snprintf(url, sizeof(url), "https://api.%s.corti.app/v2",
		    db_column_text(st, 1));
		json_object_set_new(o, "api_base", json_string(url));
	}
	json_object_set_new(o, "secret_version", json_integer(db_column_int64(st, 6)));
	json_object_set_new(o, "stopped", json_boolean(db_column_int(st, 7)));
	json_object_set_new(o, "created_at", json_integer(db_column_int64(st, 8)));
	json_object_set_new(o, "rotated_at", db_column_type(st, 9) == DB_NULL ?
	    json_null() : json_integer(db_column_int64(st, 9)));
	json_object_set_new(o, "previous_retires_at", db_column_type(st, 10) ==
	    DB_NULL ? json_null() : json_integer(db_column_int64(st, 10)));
	json_object_set_new(o, "apps", json_integer(db_column_int64(st, 11)));
	age = connverb_age_s(st);
	json_object_set_new(o, "secret_age_s", json_integer(age));
	json_object_set_new(o, "secret_warn", json_boolean(age > fg_cfg->secret_warn_days * 86400));
	return o;
}

/*
 * "connection.list": after? | before?, limit? (1..1000, default 100).  A row takes about 600
 * bytes, 5 KiB with the longest URLs; the page's byte budget decides then.
 */
static void
connverb_list(const struct fg_reqctx *ctx, json_t *req)
{
	static const struct page_query q = { "connections", SQL_PAGE_AFTER, SQL_PAGE_BEFORE, 100,
	    1000, connverb_json };

	page_verb(ctx, req, &q);
}

static const struct verb_field connverb_list_fields[] = {
	VERB_FIELDS_PAGE,
	VERB_FIELDS_END
};
const struct verb_entry connection_list_entry = {
	.name = "connection.list",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ANY,
	.fn = connverb_list,
	.fields = connverb_list_fields
};

/* "connection.show": name */
static void
connverb_show(const struct fg_reqctx *ctx, json_t *req)
{
	server_reply_first(ctx, store_select(SQL_SHOW, json_string_value(json_object_get(req,
	    "name")), connverb_json), "connection", "connection");
}

static const struct verb_field connverb_name_fields[] = {
	VERB_FIELD_NAME,
	VERB_FIELDS_END
};
const struct verb_entry connection_show_entry = {
	.name = "connection.show",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ANY,
	.fn = connverb_show,
	.fields = connverb_name_fields
};


/* "connection.remove": name — refused while active apps use it; sealed secrets are erased. */
static void
connverb_remove(const struct fg_reqctx *ctx, json_t *req)
{
	struct conn_rec		 c;
	struct audit_rec	 rec = { NULL, "connection.remove", NULL, NULL, NULL, "ok", NULL,
				    NULL };
	char			 actor[96];
	int64_t			 active = -1;

	if (connection_get(json_string_value(json_object_get(req, "name")), &c) == -1) {
		server_reply_error(ctx, "not_found", "no such connection");
		return;
	}
	if ((active = connection_active_apps(c.id)) != 0) {
		server_reply_error(ctx, "conflict", "connection %s is used by %lld active app(s); "
		    "revoke them first", c.name, (long long)active);
		return;
	}
	server_actor(ctx, actor, sizeof(actor));
	rec.actor = actor;
	rec.connection = c.name;
	if (audit_tx(connection_store_remove, &c.id, &rec) == -1) {
		server_reply_error(ctx, "server_error", "could not remove connection %s", c.name);
		return;
	}
	app_cache_clear();
	token_drop_connection(c.id, NULL);
	connhealth_forget(c.id);
	server_reply(ctx, json_pack("{sbss}", "ok", 1, "name", c.name));
}

const struct verb_entry connection_remove_entry = {
	.name = "connection.remove",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN,
	.csrf = 1,
	.fn = connverb_remove,
	.fields = connverb_name_fields
};


/* A "test" in flight: who asked, and since when. */
struct conn_test {
	struct fg_reqctx	 ctx;
	char			 actor[96];
	char			 name[FG_NAME_MAX + 1];
	int64_t			 conn_id;
	int64_t			 started;
};

/* The upstream answered a test: report it, whatever it said. */
static void
connverb_tested(void *arg, struct upstream_token *t)
{
	struct conn_test	*p = arg;
	char			 msg[400];
	const char		*failed = connverb_verdict(t, msg, sizeof(msg));
	struct audit_rec	 rec = { p->actor, "connection.test", NULL, p->name, NULL,
				    failed == NULL ? "ok" : "error", msg, NULL };
	int64_t			 ms = store_now_ms() - p->started;
	json_t			*reply;

	audit_append(&rec);
	if (failed == NULL)
		connhealth_ok(p->conn_id);
	else if (strcmp(failed, "scope") != 0)
		connhealth_fail(p->conn_id, msg);
	reply = json_pack("{sbsssssIss}", "ok", 1, "outcome", failed == NULL ? "ok" : "error",
	    "message", msg, "latency_ms", (json_int_t)ms, "name", p->name);
	if (failed != NULL)
		json_object_set_new(reply, "failed", json_string(failed));
	server_reply(&p->ctx, reply);
	free(p);
}

/* "connection.test": name — a real token request with the stored secret. */
static void
connverb_test(const struct fg_reqctx *ctx, json_t *req)
{
	struct conn_test	*p;
	struct conn_rec		 c;
	struct fg_secret	*secret;
	int			 r;

	if (connection_get(json_string_value(json_object_get(req, "name")), &c) == -1) {
		server_reply_error(ctx, "not_found", "no such connection");
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL || connection_open_secret(&c, &secret) == -1) {
		free(p);
		server_reply_error(ctx, "server_error", "the stored secret cannot be opened");
		return;
	}
	p->ctx = *ctx;
	server_actor(ctx, p->actor, sizeof(p->actor));
	snprintf(p->name, sizeof(p->name), "%s", c.name);
	p->conn_id = c.id;
	p->started = store_now_ms();
	r = connverb_probe(c.token_url, c.client_id, secret, connverb_tested, p);
	seal_secret_free(secret);
	if (r == -1) {
		free(p);
		server_reply_error(ctx, "temporarily_unavailable", "cannot start the request");
	}
}

const struct verb_entry connection_test_entry = {
	.name = "connection.test",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ADMIN | ROLE_SECURITY,
	.csrf = 1,
	.fn = connverb_test,
	.fields = connverb_name_fields
};


struct conn_simple {
	const char	*sql;
	int		 n;
	int64_t		 v[2];
	const char	*kind;		/* what the cluster's other nodes are told */
};

static int
connverb_apply(void *arg)
{
	struct conn_simple *c = arg;

	if (connection_exec(c->sql, c->n, c->v) == -1)
		return -1;
	return cluster_notify_send(c->kind, c->v[c->n - 1]);
}

/* Apply one statement about a named connection with its audit record, then answer. */
static void
connverb_simple(const struct fg_reqctx *ctx, json_t *req, const char *event,
    const char *sql, int n, int64_t v0)
{
	struct conn_rec		 c;
	char			 actor[96];
	struct audit_rec	 rec = { actor, event, NULL, NULL, NULL, "ok", NULL, NULL };
	struct conn_simple	 cs = { sql, n, { v0, 0 }, strcmp(event, "connection.stop") == 0 ?
				    "stop" : strcmp(event, "connection.resume") == 0 ? "resume" :
				    "conn" };

	if (connection_get(json_string_value(json_object_get(req, "name")), &c) == -1) {
		server_reply_error(ctx, "not_found", "no such connection");
		return;
	}
	cs.v[n - 1] = c.id;
	server_actor(ctx, actor, sizeof(actor));
	rec.connection = c.name;
	if (audit_tx(connverb_apply, &cs, &rec) == -1) {
		server_reply_error(ctx, "server_error", "connection %s could not be changed", c.name);
		return;
	}
	connhealth_changed();
	/* a stop takes effect within this turn on every route (gate.c); it says what it stopped */
	if (strcmp(event, "connection.stop") == 0) {
		server_reply(ctx, json_pack("{sbssso}", "ok", 1, "name", c.name, "stopped",
		    gate_stop(c.id)));
		return;
	}
	app_cache_clear();
	token_drop_connection(c.id, NULL);
	server_reply(ctx, json_pack("{sbss}", "ok", 1, "name", c.name));
}

/* "connection.retire": name — erase the previous secret now, before its grace ends. */
static void
connverb_retire(const struct fg_reqctx *ctx, json_t *req)
{
	connverb_simple(ctx, req, "connection.retire", connection_sql_drop_previous, 1, 0);
}

const struct verb_entry connection_retire_entry = {
	.name = "connection.retire",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_SECURITY,
	.csrf = 1,
	.fn = connverb_retire,
	.fields = connverb_name_fields
};

/* "connection.stop": name — emergency stop: no token is issued for its apps. */
static void
connverb_stop(const struct fg_reqctx *ctx, json_t *req)
{
	connverb_simple(ctx, req, "connection.stop", connection_sql_stopped, 2, 1);
}

const struct verb_entry connection_stop_entry = {
	.name = "connection.stop",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_SECURITY,
	.csrf = 1,
	.fn = connverb_stop,
	.fields = connverb_name_fields
};

/* "connection.resume": name */
static void
connverb_resume(const struct fg_reqctx *ctx, json_t *req)
{
	connverb_simple(ctx, req, "connection.resume", connection_sql_stopped, 2, 0);
}

const struct verb_entry connection_resume_entry = {
	.name = "connection.resume",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_SECURITY,
	.csrf = 1,
	.fn = connverb_resume,
	.fields = connverb_name_fields
};
