/*
 * flowgated: the secret-holding daemon.  Shared types and each module's entry points; a module's
 * functions carry its file's name as prefix (config_*, seal_*, store_*, ...).
 */
#ifndef FG_DAEMON_H
#define FG_DAEMON_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "db.h"

#define FG_VERSION_STRING	"flowgate 0.1.0"
#define FG_MAX_PEERS		16
#define FG_NAME_MAX		64
#define FG_SCOPES_MAX		256	/* canonical scope string, bytes */
#define FG_SCOPE_TOKENS_MAX	16
#define FG_TOKEN_MAX		16384	/* longest access token accepted from upstream */
#define FG_SECRET_MAX		512	/* longest connection secret */
#define FG_FP_LEN		40	/* "sha256:" + 32 hex + NUL */

struct fg_reqctx;

/* config.c */
struct fg_config {
	char	*socket;
	char	*socket_group;
	char	*database;		/* the SQLite file ([storage] backend = sqlite) */
	int	 storage_pg;		/* [storage] backend = postgresql */
	char	*conninfo_file;		/* its libpq connection string, a secret file */
	char	*key_file;
	char	*user;
	uid_t	 web_uids[FG_MAX_PEERS];
	size_t	 n_web;
	uid_t	 admin_uids[FG_MAX_PEERS];
	size_t	 n_admin;
	char	*ca_file;
	char	*assistant_origin;	/* NULL: from each connection's Corti region */
	long	 connect_timeout_ms;
	long	 timeout_ms;
	long	 refresh_ahead_s;
	long	 token_cache_max;	/* (connection, scope set) entries cached at most */
	long	 calls_per_connection;	/* API calls in flight per connection at most */
	long	 grace_s;
	int	 audit_sync_full;
	long	 refusal_window_s;	/* unauthenticated refusals of a kind counted this long */
	long	 held_max;		/* replies waiting for the audit at most */
	long	 session_idle_s;
	long	 session_max_s;
	long	 secret_warn_days;
	long	 login_max_failures;
	long	 login_limits_max;	/* accounts and addresses the login limiter tracks */
	long	 relay_ticket_lifetime_s;
	long	 relay_tickets_max;	/* relay tickets outstanding at most */
	char	*relay_log_socket;	/* NULL: no relay.close records */
	char	*relay_log_group;
	uid_t	 relay_log_uids[FG_MAX_PEERS];	/* who may send relay log lines (nginx) */
	size_t	 n_relay_log;
};
int	 config_load(const char *path, struct fg_config *cfg, char *err, size_t errlen);
void	 config_free(struct fg_config *cfg);

/* privsep.c */
struct stat;
int	 privsep_open_secret(const char *path, const char *what, struct stat *st, char *err,
	     size_t errlen);
void	 privsep_no_core(void);
void	 privsep_undumpable(void);
int	 privsep_drop(const char *user, char *err, size_t errlen);

/* seal.c: the master key, its per-purpose subkeys and guarded plaintext buffers */
struct fg_secret {
	char	*buf;		/* sodium_malloc'd, NUL-terminated */
	size_t	 len;
};
#define SEAL_KEYID_LEN	36	/* "k1:" + 32 hex + NUL */
enum seal_what { SEAL_CONNECTION_SECRET, SEAL_USER_REFRESH };
int	 seal_init(const char *key_file, char *err, size_t errlen);
int	 seal_key_read(const char *path, int absent_ok, uint8_t **out, char *err, size_t errlen);
void	 seal_key_id(const uint8_t *key, char out[SEAL_KEYID_LEN]);
int	 seal_stage(const uint8_t *key);
void	 seal_unstage(void);
void	 seal_switch(void);
int	 seal_reseal(enum seal_what what, int64_t row, int64_t version, const uint8_t *in,
	     size_t inlen, uint8_t **out, size_t *outlen);
int	 seal_hash_keys_seal(uint8_t **out, size_t *outlen);
int	 seal_hash_keys_open(const uint8_t *in, size_t inlen);
int	 seal_init_key(const uint8_t *key, size_t keylen);
void	 seal_shutdown(void);
int	 seal_create_keyfile(const char *path, char *err, size_t errlen);
int	 seal_secret(int64_t row, int64_t version, const struct fg_secret *pt, uint8_t **out,
	     size_t *outlen);
int	 seal_open(int64_t row, int64_t version, const uint8_t *in, size_t inlen,
	     struct fg_secret **out);
int	 seal_refresh(int64_t row, int64_t gen, const struct fg_secret *pt, uint8_t **out,
	     size_t *outlen);
int	 seal_refresh_open(int64_t row, int64_t gen, const uint8_t *in, size_t inlen,
	     struct fg_secret **out);
int	 seal_token(int64_t row, int64_t gen, const struct fg_secret *pt, uint8_t **out,
	    size_t *outlen);
int	 seal_token_open(int64_t row, int64_t gen, const uint8_t *in, size_t inlen,
	    struct fg_secret **out);
struct fg_secret *seal_secret_new(size_t len);
struct fg_secret *seal_secret_from(const char *s, size_t len);
void	 seal_secret_free(struct fg_secret *s);
void	 seal_app_hash(const char *secret, size_t len, uint8_t out[32]);
void	 seal_audit_mac(const uint8_t *data, size_t len, uint8_t out[32]);
void	 seal_fingerprint(const char *token, size_t len, char out[FG_FP_LEN]);
void	 seal_session_hash(const char *sid, size_t len, uint8_t out[32]);
void	 seal_csrf(const char *sid, size_t len, char out[33]);

/* store.c: migrations, cached statements and transactions, on either backend */
int	 store_migrate(char *err, size_t errlen);
void	 store_close(void);
struct db_stmt *store_prepare(const char *sql);
json_t	*store_select(const char *sql, const char *name, json_t *(*row)(struct db_stmt *));
int	 store_begin(void);
int	 store_commit(void);
void	 store_rollback(void);
int	 store_writable(void);
int	 store_step_write(struct db_stmt *st);
int	 store_exec_write(const char *sql);
int	 store_reachable(void);
/* store-sqlite.c: the SQLite file, checked before it is opened; online copies */
int	 store_open(const char *path, int sync_full, char *err, size_t errlen);
int	 store_pg_open(const char *conninfo_file, char *err, size_t errlen);
int	 store_pg_read(const char *path, char *buf, size_t buflen, char *err, size_t errlen);
int	 store_create(const char *path, char *err, size_t errlen);
struct store_copy;
struct store_copy *store_copy_begin(const char *path, char *err, size_t errlen);
int	 store_copy_step(struct store_copy *c, int pages, char *err, size_t errlen);
void	 store_copy_end(struct store_copy *c, int ok);
int64_t	 store_now_ms(void);

/* scope.c: scope strings, canonical form "openid a b" sorted and de-duplicated */
int	 scope_normalize(const char *in, char *out, size_t outlen);
int	 scope_canonical(const char *in, char *out, size_t outlen, int add_openid);
int	 scope_subset(const char *a, const char *b, char *missing, size_t missinglen);
int	 scope_contains(const char *set, const char *token);

/* policy.c: the decision table of schema/policy.json, compiled in */
struct policy_app {
	const char	*flow;
	const char	*kind;
	const char	*scopes;	/* canonical */
	int		 internal;
	int		 can_redirect;
	const char	*justification;
};
int		 policy_init(char *err, size_t errlen);
const char	*policy_check_app(const struct policy_app *app, const char **rule);
const char	*policy_grant(const char *flow);
int		 policy_flow_redirects(const char *flow);
const char	*policy_rule_text(const char *id, const char **rule);
int		 policy_scope_limited(const char *scope);
int		 policy_scopes_limited(const char *scopes);
const char	*policy_recommend(json_t *answers, const char **kind);
json_t		*policy_document(void);

/* audit.c: append-only, keyed hash chain; batched per event-loop turn */
struct audit_rec {
	const char	*actor;
	const char	*event;
	const char	*app;
	const char	*connection;
	const char	*scopes;
	const char	*outcome;
	const char	*detail;
	const char	*token_fp;
};
int	 audit_init(void);
int	 audit_append(const struct audit_rec *rec);
int	 audit_flush(void);
int	 audit_tx(int (*change)(void *), void *arg, const struct audit_rec *rec);
void	 audit_anchor(void);
int	 audit_pending(void);
void	 audit_issued(int64_t app_id, long expires_in);
struct audit_row;
int64_t	 audit_head(void);
int64_t	 audit_durable_seq(void);
void	 audit_durable(int64_t seq, const uint8_t hash[32]);
void	 audit_lost_all(void);
int	 audit_submit(void);
void	 audit_shutdown(void);
#define AUDIT_HASHLEN	32
/* Where a commit group writes; on PostgreSQL with the chain's tail taken under the lock. */
struct audit_sink {
	struct db_stmt	*insert, *tail, *issued;
	int64_t		 seq;
	uint8_t		 hash[AUDIT_HASHLEN];
};
int	 audit_sink_open(struct audit_sink *s, int own);
void	 audit_sink_close(struct audit_sink *s);
int	 audit_sink_begin(struct audit_sink *s);
int	 audit_sink_insert(struct audit_sink *s, struct audit_row *rows, int n);
void	 audit_rows_free(struct audit_row *rows, int n);
int64_t	 audit_last_seq(void);
void	 audit_point_mac(const char *domain, int64_t seq, const uint8_t hash[AUDIT_HASHLEN],
	     uint8_t out[AUDIT_HASHLEN]);
int64_t	 audit_committed_head(uint8_t hash[AUDIT_HASHLEN]);
int	 audit_check_row(struct db_stmt *st, int64_t seq, const uint8_t prev[AUDIT_HASHLEN],
	     uint8_t hash[AUDIT_HASHLEN], char *why, size_t whylen);
int	 audit_read_head(int64_t *seq, uint8_t hash[AUDIT_HASHLEN]);

/* refusal.c: unauthenticated callers' refusals, counted per kind and window */
void	 refusal_note(const struct audit_rec *rec, const char *remote, const char *route);
void	 refusal_sweep(int all);
json_t	*refusal_stats(void);

/* archive.c: retention, the oldest records moved to an archive file and pruned */
int	 archive_base(int64_t *seq, uint8_t hash[AUDIT_HASHLEN]);
void	 archive_step(int shares);
int	 archive_busy(void);

/* backup.c: online copies, in steps per loop turn */
void	 backup_step(int shares);
int	 backup_busy(void);
void	 backup_shutdown(void);

/* verify.c: the chain walked in steps per loop turn, from the start or a checkpoint */
void	 verify_step(int shares);
int	 verify_busy(void);
int	 verify_request(const struct fg_reqctx *ctx, int full, int64_t anchor_seq,
	     const uint8_t anchor_hash[AUDIT_HASHLEN]);
json_t	*verify_summary(void);

/* upstream.c: libcurl multi: token endpoints and API calls */
enum upstream_outcome {
	UPSTREAM_OK,
	UPSTREAM_REFUSED,	/* 4xx with an OAuth2 error */
	UPSTREAM_UNAVAILABLE,	/* transport error, timeout, 5xx */
	UPSTREAM_BAD_RESPONSE	/* garbage, missing fields, broader scope */
};
/*
 * A token endpoint's answer, validated (answer_token).  On success code is "", access_token is
 * set, expires_in is 1..UPSTREAM_EXPIRES_MAX and scope is what was granted when scope_given.
 * Otherwise code is the RFC 6749 error flowgate gives its own caller and message says why in
 * flowgate's words (never a token or secret; upstream text cleaned).
 */
struct upstream_token {
	enum upstream_outcome	 outcome;
	long			 http_status;	/* 0: no HTTP answer (transport failure) */
	int			 tls;		/* the TLS handshake or certificate check failed */
	char			 code[32];	/* "", invalid_scope, unauthorized_client,
						   invalid_grant or temporarily_unavailable */
	long			 retry_after;	/* seconds (1..3600) the upstream asked us to wait
						   (429, 503); 0: no advice */
	char			 error[64];	/* the upstream's own error code, cleaned, if any */
	char			 message[256];
	struct fg_secret	*access_token;	/* the callback may take these (set to NULL) */
	struct fg_secret	*refresh_token;
	struct fg_secret	*id_token;
	long			 expires_in;
	int			 scope_given;	/* 0: no scope in the answer (as requested) */
	char			 scope[FG_SCOPES_MAX];	/* granted, canonical, no "openid" added */
};
struct upstream_param {
	const char	*name;
	const char	*value;
	size_t		 len;
};
struct upstream_call {
	const char	*method;
	const char	*url;
	const char	*bearer;	/* NULL: no Authorization header */
	const char	*tenant;
	const char	*accept;
	const char	*content_type;
	const char	*body;
	size_t		 bodylen;
	size_t		 max_response;
	long		 timeout_ms;
	int64_t		 conn_id;	/* counted against calls_per_connection */
};
#define UPSTREAM_BUSY	(-2)	/* upstream_http: too many calls in flight; retry shortly */
struct upstream_reply {
	int		 cc;		/* CURLcode: 0 when the exchange completed */
	long		 status;
	const char	*body;		/* valid during the callback only */
	size_t		 len;
	int		 overflow;
	char		 content_type[128];
	char		 message[256];
};
typedef void (*upstream_cb)(void *arg, struct upstream_token *result);
typedef void (*upstream_http_cb)(void *arg, struct upstream_reply *reply);
int	 upstream_init(const struct fg_config *cfg, char *err, size_t errlen);
void	 upstream_shutdown(void);
int	 upstream_token(const char *url, const char *client_id, const struct fg_secret *secret,
	     const struct upstream_param *params, size_t nparams, upstream_cb cb, void *arg);
int	 upstream_revoke(const char *url, const char *client_id, const struct fg_secret *secret,
	     const struct upstream_param *params, size_t nparams, upstream_cb cb, void *arg);
int	 upstream_request_token(const char *url, const char *client_id,
	     const struct fg_secret *secret, const char *scope, upstream_cb cb, void *arg);
int	 upstream_http(const struct upstream_call *c, upstream_http_cb cb, void *arg);
int	 upstream_wait(void *pfds, unsigned int nfds, int timeout_ms);
void	 upstream_run(void);
json_t	*upstream_health(void);
json_t	*upstream_stats(void);

/* answer.c: upstream answers (token, interaction, ID token claims) parsed as untrusted data */
#define UPSTREAM_EXPIRES_MAX		86400	/* longer lifetimes are clamped to this */
#define UPSTREAM_EXPIRES_DEFAULT	60	/* when an answer has no expires_in */
void		 answer_token(long http_status, const char *body, size_t len,
		     const char *retry_after, struct upstream_token *t);
const char	*answer_interaction(const char *body, size_t len, const char *api_base, char *id,
		     size_t idlen, char *ws, size_t wslen);
const char	*answer_id_claims(const char *jwt, const char *issuer, const char *client_id,
		     const char *nonce, time_t now, char *sub, size_t sublen, char *user,
		     size_t userlen);
int		 answer_token_ok(const char *s, size_t n);

/* keyring.c: which master key opens the database; key_file's names; systemd credentials */
enum keyring_name { KEYRING_CURRENT, KEYRING_NEXT, KEYRING_OLD, KEYRING_NAMES };
int	 keyring_resolve(const char *key_file, char *out, size_t outlen, char *err,
	     size_t errlen);
int	 keyring_is_credential(const char *key_file);
void	 keyring_path(const char *base, enum keyring_name which, char *out, size_t outlen);
int	 keyring_record(const char *id, const uint8_t *hash_keys, size_t len);
const char *keyring_current(void);
const char *keyring_base_path(void);
void	 keyring_switched(const char *id);
int	 keyring_init(const char *key_file, char *err, size_t errlen);
void	 keyring_follow(void);

/* keyrotate.c: key.rotate, every sealed value re-sealed in one transaction */
enum keyrotate_point { KEYROTATE_READ, KEYROTATE_SECRETS, KEYROTATE_RECORDED,
	KEYROTATE_COMMITTED };
void	 keyrotate_step(enum keyrotate_point p);

/* connection.c: upstream credentials; the secret is sealed, never returned */
struct conn_rec {
	int64_t	 id;
	char	 name[FG_NAME_MAX + 1];
	char	 tenant[FG_NAME_MAX + 1];
	char	 api_base[2049];
	char	 token_url[2049];
	int64_t	 secret_version;
	char	 client_id[257];
	int	 stopped;
};
int	 connection_get(const char *name, struct conn_rec *out);
int	 connection_get_id(int64_t id, struct conn_rec *out);
int	 connection_open_secret(const struct conn_rec *c, struct fg_secret **out);
/* What a new connection is, for connection_store_add (inside audit_tx). */
struct conn_new {
	const char		*name, *environment, *tenant, *client_id, *token_url, *api_base;
	const struct fg_secret	*secret;
	int64_t			 id;	/* set by connection_store_add */
};
int	 connection_store_add(struct conn_new *n);
int	 connection_store_rotate(int64_t id, int64_t version, long grace_s,
	     const struct fg_secret *secret);
int	 connection_store_remove(void *arg);
int64_t	 connection_active_apps(int64_t id);
int	 connection_exec(const char *sql, int n, const int64_t *v);
void	 connection_default_token_url(char *out, size_t outlen, const char *env,
	     const char *tenant);
extern const char connection_sql_drop_previous[], connection_sql_stopped[];
void	 connection_sweep(void);

/* account.c: admin UI accounts, Argon2id passwords, login rate limits */
int		 account_role_parse(const char *s);
const char	*account_role_name(int role);
typedef void	(*account_login_cb)(void *arg, int result, int64_t user_id, int role,
		     long retry_after);
int		 account_init(void);
int		 account_login_begin(const char *name, const char *password, const char *remote,
		     account_login_cb cb, void *arg);
void		 account_reply_refused(const struct fg_reqctx *ctx, int result, long retry_after);
void		 account_shutdown(void);

/* loginlimit.c */
int		 loginlimit_init(void);
void		 loginlimit_shutdown(void);
long		 loginlimit_wait(const char *name, const char *remote, time_t now);
long		 loginlimit_start(const char *name, const char *remote, time_t now);
void		 loginlimit_right(const char *name, const char *remote, time_t now);

/* pwhash.c: Argon2id checks and hashes on a thread of their own, a bounded queue */
typedef void (*pwhash_cb)(void *arg, int ok, const char *hash);
int	 pwhash_init(void);
int	 pwhash_fd(void);
int	 pwhash_full(void);
int	 pwhash_submit(const char *stored, const char *password, const char *fresh,
	     pwhash_cb done, void *arg);
void	 pwhash_collect(void);
void	 pwhash_shutdown(void);

/* session.c: admin sessions (ids stored hashed) and their CSRF tokens */
int	 session_check(const char *sid, struct fg_reqctx *ctx);
int	 session_csrf_ok(const char *sid, const char *csrf);
void	 session_end_account(int64_t user_id);

/* app.c: registered apps and their broker-issued credentials */
struct app_rec {
	int64_t	 id;
	char	 name[FG_NAME_MAX + 1];
	char	 client_id[64];
	char	 flow[32];
	char	 kind[16];
	char	 scopes[FG_SCOPES_MAX];
	int64_t	 connection_id;
	char	 connection[FG_NAME_MAX + 1];
	int	 connection_stopped;
	int	 revoked;
};
int	 app_authenticate(const char *client_id, const char *secret, struct app_rec *out);
void	 app_column(struct db_stmt *st, int col, char *dst, size_t dstlen);
int	 app_lookup(const char *name, int64_t id, struct app_rec *out);
int	 app_revoked_match(const char *client_id, const char *secret, struct app_rec *out);
void	 app_cache_clear(void);
void	 app_cache_drop(int64_t app_id, int64_t conn_id);
uint64_t app_epoch(void);
int	 app_usage_load(void);
void	 app_usage_note(const char *app);
void	 app_usage_of(const char *name, json_t *o);
void	 app_usage_free(void);
int	 app_count(void);

/* server.c: the event loop, peers and the reply queue */
enum peer_class { PEER_WEB = 1, PEER_ADMIN = 2 };
enum role { ROLE_ADMIN = 1, ROLE_SECURITY = 2, ROLE_AUDITOR = 4 };
#define ROLE_ANY	(ROLE_ADMIN | ROLE_SECURITY | ROLE_AUDITOR)
struct fg_reqctx {
	uint32_t	slot;
	uint32_t	gen;
	uint32_t	id;
	int		peer;
	uid_t		uid;
	pid_t		pid;
	int64_t		user_id;		/* web session's user, 0 for none */
	int		role;
	char		user[FG_NAME_MAX + 1];
};
int	 server_listen(const struct fg_config *cfg, char *err, size_t errlen);
int	 server_bind(const char *path, int type, const char *user, const char *group, char *err,
	     size_t errlen);
int	 server_loop(const struct fg_config *cfg);
void	 server_reply(const struct fg_reqctx *ctx, json_t *reply);
void	 server_send_raw(const struct fg_reqctx *ctx, char *body, size_t len);
void	 server_reply_error(const struct fg_reqctx *ctx, const char *code, const char *fmt, ...)
	     __attribute__((format(printf, 3, 4)));
json_t	*server_stats(void);
void	 server_actor(const struct fg_reqctx *ctx, char *out, size_t outlen);
void	 server_reply_status(const struct fg_reqctx *ctx, const char *code, const char *message,
	     long status, long retry_after);
void	 server_reply_first(const struct fg_reqctx *ctx, json_t *arr, const char *key,
	     const char *what);

/* lease.c: the cluster's lease on singleton work, and this node's name */
void		 lease_init(void);
const char	*lease_node(void);
int		 lease_tick(void);
int		 lease_held(void);
void		 lease_release(void);
json_t		*lease_status(void);

/* writer.c: the audit writer thread, committing each turn's records in groups */
int	 writer_init(void);
int	 writer_fd(void);
int	 writer_submit(struct audit_row *rows, int n, int64_t last_seq, const uint8_t last_hash[32]);
int	 writer_collect(int woken);
int	 writer_drain(void);
int	 writer_idle(void);
void	 writer_lock(void);
void	 writer_unlock(void);
int	 writer_holding(void);
json_t	*writer_stats(void);
void	 writer_shutdown(void);

/* hold.c: work held until the audit records it depends on are committed */
enum hold_status { HOLD_LOST = 0, HOLD_OK = 1, HOLD_STOPPED = 2, HOLD_OUTAGE = 3 };
typedef void (*hold_fn)(void *arg, int status);
void	 hold_init(long max);
int	 hold_full(void);
void	 hold_reply(const struct fg_reqctx *ctx, int64_t conn_id, json_t *reply);
void	 hold_reply_raw(const struct fg_reqctx *ctx, int64_t conn_id, const char *body,
	     size_t len);
int	 hold_call(int64_t conn_id, hold_fn fn, void *arg);
const char *hold_why(int status);
const char *hold_code(int status);
void	 hold_end_turn(int ready);
void	 hold_lost(int64_t durable);
size_t	 hold_stop_connection(int64_t conn_id);
json_t	*hold_stats(void);
void	 hold_shutdown(void);

/* gate.c: the one gate every route to an upstream token passes */
enum gate_route {
	GATE_TOKEN, GATE_ROPC, GATE_STREAM, GATE_TRANSCRIBE, GATE_PROXY, GATE_SESSION_TOKEN,
	GATE_LOGIN, GATE_ASSISTANT, GATE_RELAY_TICKET, GATE_NROUTES
};
enum gate_caller { GATE_CALLER_APP, GATE_CALLER_SESSION, GATE_CALLER_BROWSER };
/* What passed the gate: filled by gate_open from the request and the daemon's own data. */
struct gate_pass {
	struct fg_reqctx	 ctx;
	enum gate_route		 route;
	enum gate_caller	 caller;
	int64_t			 login_app_id;	/* a login callback's app (browser caller) */
	int64_t			 ticket_app_id;	/* a relay ticket's app (app caller) */
	struct app_rec		 app;
	char			 scopes[FG_SCOPES_MAX];	/* canonical, within app and route */
	char			 actor[96];
	char			 remote[64];
	char			 sid[48];	/* the session id of a session caller */
	uint64_t		 epoch;		/* app_epoch() when checked */
};
int	 gate_init(char *err, size_t errlen);
int	 gate_open(const struct fg_reqctx *ctx, struct gate_pass *p, json_t *req);
const char *gate_still(int64_t app_id, uint64_t epoch);
json_t	*gate_stop(int64_t conn_id);
const char *gate_route_name(enum gate_route r);

/* token.c: the token cache and issuance */
struct token_grant {
	const char	*token;		/* valid during the callback only */
	long		 expires_in;
	const char	*scopes;	/* what the upstream granted */
	const char	*fp;
	int64_t		 conn_id;
};
/* Why no token: the RFC 6749 error, words for people, and when to retry (0: default). */
struct token_fail {
	const char	*code;
	const char	*message;
	long		 retry_after;
};
struct token_req;
typedef void (*token_done)(const struct token_req *req, const struct token_grant *grant,
    const struct token_fail *fail);
/*
 * Who asks for a token (a gate pass) and what happens next: done(grant) or done(NULL, code,
 * message).  A direct ending only builds a held reply, so it gets the token at once; any other
 * gets it after the issuance record is committed and the pass checked again.
 */
struct token_req {
	struct fg_reqctx	 ctx;
	char			 actor[96];
	char			 app[FG_NAME_MAX + 1];
	char			 remote[64];
	int64_t			 app_id, conn_id;
	uint64_t		 epoch;
	int			 strict;	/* refuse a grant without every scope asked */
	int			 direct;
	const char		*purpose;	/* audit detail, e.g. "stream-session" */
	token_done		 done;
	void			*arg;
	struct token_req	*next;
};
void	 gate_token(const struct gate_pass *p, token_done done, void *arg, json_t *req,
	     int direct);
void	 token_req_init(struct token_req *w, const struct gate_pass *p, token_done done,
	     void *arg, const char *purpose);
void	 token_for_app(const struct token_req *w, const struct app_rec *app, const char *scopes);
void	 token_ropc(const struct token_req *w, const struct app_rec *app, const char *scopes,
	     json_t *req);
void	 token_hand_over(const struct token_req *w, const struct token_grant *g);
void	 token_refused(const struct token_req *w, const char *conn, const char *scopes,
	     const struct token_fail *f);
void	 token_fail_reply(const struct fg_reqctx *ctx, const struct token_fail *f);
void	 token_count_refusal(void);
size_t	 token_drop_connection(int64_t conn_id, size_t *inflight);
void	 token_lease_notified(int64_t conn_id);

/* token-lease.c: one upstream request per (connection, scope set) across a cluster's nodes */
struct token_lease_tok {
	struct fg_secret	*token;
	char			 granted[FG_SCOPES_MAX];
	long			 expires_in;	/* seconds left, by the database's clock */
	long			 lifetime;
	char			 error[32];	/* REFUSED: the holder's failure, */
	char			 message[256];
	long			 retry_after;	/* and the seconds it holds everyone back */
};
enum token_lease_got {
	TOKEN_LEASE_MINE,	/* ask the upstream, then token_lease_put or token_lease_release */
	TOKEN_LEASE_STORED,	/* another node's token, in *out */
	TOKEN_LEASE_OTHER,	/* another node is asking: wait for its token:<connection> */
	TOKEN_LEASE_REFUSED,	/* another node's request failed a moment ago: *out says why */
	TOKEN_LEASE_FAILED	/* the database did not answer */
};
struct token_lease_key {
	int64_t		 conn_id;
	const char	*scopes;
	int64_t		 row, gen;	/* the lease taken (MINE) */
};
enum token_lease_got token_lease_take(struct token_lease_key *k, long min_left,
	    struct token_lease_tok *out);
int	 token_lease_read(const struct token_lease_key *k, long min_left,
	    struct token_lease_tok *out);
void	 token_lease_put(const struct token_lease_key *k, const struct fg_secret *token,
	    const char *granted, long expires_in);
void	 token_lease_release(const struct token_lease_key *k, const char *error,
	    const char *message, long retry_s);
int	 token_lease_forget(int64_t conn_id);
void	 token_lease_issued(int64_t app_id, long expires_in);
const char *token_lease_issued_sql(void);
int	 token_lease_issued_row(struct db_stmt *st, const char *fp, int64_t app_id,
	     long expires_in);
int	 token_lease_elsewhere(const char *fp, int64_t app_id);
void	 token_lease_prune(void);

/* cluster-notify.c: the nodes tell each other what changed (PostgreSQL's LISTEN/NOTIFY) */
#define CLUSTER_KIND_MAX	16
int	 cluster_payload_parse(const char *payload, char kind[CLUSTER_KIND_MAX], int64_t *id);
int	 cluster_notify_open(const char *conninfo_file, char *err, size_t errlen);
int	 cluster_notify_send(const char *kind, int64_t id);
void	 cluster_notify_apply(const char *payload);
int	 cluster_notify_fd(int *events);
void	 cluster_notify_ready(void);
void	 cluster_notify_tick(void);
void	 cluster_notify_shutdown(void);
void	 token_refresh_due(void);
json_t	*token_stats(void);
void	 token_shutdown(void);

/* oidc.c: user logins (Authorization Code + PKCE) and their sessions' tokens */
void	 oidc_user_token(const char *sid, const struct token_req *w, const char *scopes);
void	 oidc_assistant_token(const char *sid, const struct token_req *w);
int	 oidc_session_who(const char *sid, int64_t *app_id, char *actor, size_t actorlen);
size_t	 oidc_drop_connection(int64_t conn_id);
void	 oidc_sweep(void);
void	 oidc_shutdown(void);
int	 oidc_session_end(int64_t row, const char *cause);
void	 oidc_session_forget(int64_t row);
/* discovery.c: the issuers' documents and keys (the rest in discovery.h) */
void	 discovery_warm(void);
void	 discovery_shutdown(void);

/* oidcstore.c: user sessions in the database, each refresh token sealed to its row */
struct oidc_row {
	int64_t			 id, app_id, conn_id, gen, created, last_seen;
	char			 username[128];
	char			 sub[256];
	struct fg_secret	*refresh;	/* guarded; the caller frees it */
};
int	 oidcstore_insert(const uint8_t hash[32], struct oidc_row *r);
int	 oidcstore_load(const uint8_t hash[32], struct oidc_row *r);
int	 oidcstore_rotate(struct oidc_row *r, const struct fg_secret *refresh);
void	 oidcstore_touch(int64_t id, int64_t now);
void	 oidcstore_delete(int64_t id);
int	 oidcstore_load_id(int64_t id, struct oidc_row *r);
size_t	 oidcstore_expired(int64_t idle_before, int64_t created_before, int64_t *rows,
	     size_t max);

/* proxy.c: the backend proxy, and the data plane's authorisation (proxy.authorize) */
/* each app's cap on a proxied body, 1..this MiB: nginx's client_max_body_size at the proxy */
#define FG_PROXY_BODY_MAX_MIB	200
int	 proxy_path_ok(const char *path);
extern const struct verb_entry proxy_authorize_entry;

/* relay.c: the WebSocket relay's authorisation (relay.authorize) */
extern const struct verb_entry relay_authorize_entry;

/* relayline.c: one line of nginx's relay log (relayclose.c reads them) */
#define RELAYLINE_MAX	512
struct relayline {
	char		 request_id[33];	/* $request_id: 32 hex digits */
	int		 status;
	uint64_t	 to_client;		/* frames nginx sent the caller */
	uint64_t	 to_upstream;		/* the upgrade request nginx sent, then frames */
	uint64_t	 duration_ms;
};
int	 relayline_parse(const char *buf, size_t len, struct relayline *out);

/* relayclose.c: relay.close records from nginx's relay log (a syslog datagram socket) */
int	 relayclose_listen(const struct fg_config *cfg, char *err, size_t errlen);
int	 relayclose_fd(void);
void	 relayclose_read(void);
void	 relayclose_note(const char *request_id, const char *actor, const char *app,
	     const char *conn, const char *detail);
void	 relayclose_shutdown(void);

/* fptable.c: a bounded table of handed-out fingerprints, by app, connection and expiry */
#define FPTABLE_BUCKETS	1024
struct fpent {				/* the head of each entry, allocated by the caller */
	char		 fp[FG_FP_LEN];
	int64_t		 app_id, conn_id;
	time_t		 expires_at;	/* monotonic seconds */
	struct fpent	*next;
};
struct fptable {
	struct fpent	*bucket[FPTABLE_BUCKETS];
	size_t		 n, max;
};
struct fpent	*fptable_find(struct fptable *t, const char *fp);
struct fpent	*fptable_next(struct fpent *e);
int		 fptable_add(struct fptable *t, struct fpent *e);
struct fpent	*fptable_take(struct fptable *t, const char *fp);
void		 fptable_sweep(struct fptable *t, int64_t conn_id);
void		 fptable_drop(struct fptable *t, int (*drop)(const struct fpent *, const void *),
		     const void *arg);
void		 fptable_clear(struct fptable *t);

/* relayticket.c: single-use tickets for the relay (relay.ticket) */
int	 relayticket_take(const struct fg_reqctx *ctx, json_t *req, int64_t *app_id,
	     char fp[FG_FP_LEN]);
void	 relayticket_drop_connection(int64_t conn_id);
void	 relayticket_shutdown(void);
extern const struct verb_entry relay_ticket_entry;

/* bearer.c: which app each token flowgate issued went to, by fingerprint */
int	 bearer_note(const char *fp, int64_t app_id, int64_t conn_id, long expires_in);
void	 bearer_lost(int64_t durable);
int	 bearer_find(const char *token, int64_t *app_id, const char **why);
void	 bearer_drop_connection(int64_t conn_id);
void	 bearer_shutdown(void);

/* realm.c: the Keycloak-shaped token route (the "token" verb with "tenant") */
void	 realm_scope(json_t *req);
int	 realm_check(const struct gate_pass *p, json_t *req);

/* stream.c: stream and transcribe sessions for browsers */
json_t	*stream_rebuild(json_t *in, const char **why);

/*
 * verbs.c: the dispatcher.  Each verb's entry (name, peers, roles, CSRF, fields, handler) is
 * defined beside its handler in the module that implements it; verbs_table[] lists them.
 */
enum verb_type { VERB_STR, VERB_INT, VERB_BOOL, VERB_OBJ };
struct verb_field {
	const char	*name;
	enum verb_type	 type;
	int		 required;
	size_t		 max;		/* strings: bytes */
};
#define VERB_FIELDS_END		{ NULL, VERB_STR, 0, 0 }
#define VERB_FIELD_NAME		{ "name", VERB_STR, 1, FG_NAME_MAX }
/* a list verb's cursor: "after" or "before" a name, at most "limit" rows (page.c) */
#define VERB_FIELDS_PAGE	{ "after", VERB_STR, 0, FG_NAME_MAX }, \
				{ "before", VERB_STR, 0, FG_NAME_MAX }, { "limit", VERB_INT, 0, 0 }
struct verb_entry {
	const char		*name;
	int			 peers;		/* PEER_* mask */
	int			 roles;		/* ROLE_* mask for web sessions; 0: no session */
	int			 csrf;		/* web sessions must send the CSRF token */
	void			(*fn)(const struct fg_reqctx *, json_t *);
	const struct verb_field	*fields;	/* NULL: none */
};
void	 verbs_dispatch(const struct fg_reqctx *ctx, json_t *req);
int	 verbs_valid_name(const char *s);
int	 verbs_valid_word(const char *s, size_t max);
int	 verbs_valid_printable(const char *s);

/* the verb entries, each defined beside its handler */
extern const struct verb_entry app_add_entry, app_list_entry, app_show_entry, app_update_entry,
    app_rotate_secret_entry, app_revoke_entry;
extern const struct verb_entry audit_query_entry, audit_tail_entry, audit_verify_entry,
    audit_anchor_entry, audit_archive_entry, audit_verify_archive_entry;
extern const struct verb_entry backup_entry;
extern const struct verb_entry key_status_entry, key_rotate_entry;
extern const struct verb_entry connection_add_entry, connection_list_entry,
    connection_show_entry, connection_test_entry, connection_rotate_entry,
    connection_retire_entry, connection_stop_entry, connection_resume_entry,
    connection_remove_entry;
extern const struct verb_entry dashboard_entry;
extern const struct verb_entry session_login_entry, session_session_entry,
    session_logout_entry;
extern const struct verb_entry status_health_entry, status_stats_entry, status_entry,
    status_policy_entry;
extern const struct verb_entry account_add_entry, account_list_entry, account_set_role_entry,
    account_disable_entry, account_enable_entry, account_password_entry;
extern const struct verb_entry token_verb_entry, stream_create_entry, transcribe_create_entry,
    proxy_entry, oidclogin_begin_entry, oidclogin_callback_entry, oidc_token_entry,
    oidc_logout_entry;
extern const struct verb_entry oidc_assistant_entry, embed_entry;
extern const struct verb_entry user_session_list_entry, user_session_revoke_entry,
    user_session_revoke_all_entry;

/* page.c: list replies a page at a time, each page within one frame */
struct page {
	json_t	*items;
	size_t	 bytes;		/* their encoded size so far */
	size_t	 budget;	/* bytes a page may take */
	int	 limit;		/* rows a page may take */
	int	 more;		/* rows were left for the next page */
	json_t	*next;		/* the cursor of the last row taken */
};
struct page_query {
	const char	*key;		/* the reply's array, e.g. "apps" */
	const char	*sql_after;	/* ?1 a name, ?2 the rows wanted; ascending by name */
	const char	*sql_before;	/* the same, names below ?1, descending */
	int		 def;		/* rows per page when the request does not say */
	int		 max;		/* the most rows a request may ask for */
	json_t		*(*row)(struct db_stmt *);
};
void	 page_init(struct page *p, int limit, size_t budget);
int	 page_add(struct page *p, json_t *item, json_t *cursor);
void	 page_more(struct page *p, json_t *cursor);
json_t	*page_finish(struct page *p, const char *key, int reverse);
int	 page_limit(const struct fg_reqctx *ctx, json_t *req, const char *field, int def,
	     int max);
void	 page_verb(const struct fg_reqctx *ctx, json_t *req, const struct page_query *q);

/* connhealth.c: each connection's last success and failure, for health and the dashboard */
void	 connhealth_ok(int64_t conn_id);
void	 connhealth_fail(int64_t conn_id, const char *why);
void	 connhealth_forget(int64_t conn_id);
void	 connhealth_changed(void);
json_t	*connhealth_report(int n);

/* modules' helpers for other modules' verbs */
json_t	*connection_ages(int n);
json_t	*app_usage_top(int n);
json_t	*auditq_refusals(int n, size_t budget);

/* globals set once at start */
extern const struct fg_config	*fg_cfg;
extern const char *const	 fg_schema_migrations[];
extern const char *const	 fg_schema_migrations_pg[];
extern const char		 fg_policy_json[];

#endif
