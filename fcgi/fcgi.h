/* Shared types of flowgate-fcgi, the unprivileged FastCGI front end. */
#ifndef FG_FCGI_H
#define FG_FCGI_H

#include <sys/types.h>

#include <stddef.h>
#include <stdio.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "util.h"

#define FCGI_WORKERS_DEFAULT	12	/* a token request mostly waits on the daemon */
#define FCGI_WORKERS_MAX	256
#define HTTP_BODY_DEFAULT	8192
#define HTTP_BODY_MIN		256
#define HTTP_BODY_MAX		65536

/* form.c: strict application/x-www-form-urlencoded and HTTP Basic parsing. */
#define FORM_MAX_PAIRS		32
#define FORM_BASIC_MAX		1024	/* decoded Basic credentials, bytes */

enum form_error {
	FORM_OK = 0,
	FORM_EENCODING,		/* bad percent-encoding */
	FORM_ETEXT,		/* not UTF-8, or a control character */
	FORM_EEMPTYKEY,		/* "=value" */
	FORM_EDUPLICATE,	/* a parameter given twice (RFC 6749 section 3.2) */
	FORM_ETOOMANY,		/* more than FORM_MAX_PAIRS parameters */
	FORM_ESCHEME,		/* Authorization is not Basic */
	FORM_EBASE64,		/* Basic credentials are not base64 */
	FORM_ECOLON,		/* Basic credentials without ':' */
	FORM_EEMPTY		/* empty client id or secret */
};

struct form_pair {
	const char	*key;
	const char	*value;
	size_t		 keylen;
	size_t		 valuelen;
};

struct form {
	struct form_pair	pairs[FORM_MAX_PAIRS];
	size_t			n;
};

int		 form_parse(char *buf, size_t len, struct form *f);
const char	*form_get(const struct form *f, const char *key);
int		 form_basic(const char *header, char *buf, size_t size, const char **id,
		     const char **secret);
int		 form_content_type_ok(const char *content_type);
const char	*form_strerror(int err);

/* http.c: FastCGI response helpers and capped body reading. */
enum http_body {
	HTTP_BODY_OK = 0,
	HTTP_BODY_ELENGTH,	/* CONTENT_LENGTH missing or not a number */
	HTTP_BODY_ETOOLARGE,	/* longer than the cap */
	HTTP_BODY_ESHORT	/* fewer bytes than announced */
};

struct http_reply {
	int		 status;
	const char	*content_type;
	const char	*allow;		/* Allow header, or NULL */
	const char	*authenticate;	/* WWW-Authenticate header, or NULL */
	long		 retry_after;	/* Retry-After seconds when > 0 */
	const char	*cache;		/* Cache-Control value; NULL: no-store (+ Pragma) */
	const char	*headers;	/* more header lines, each ending in CRLF, or NULL */
};

int		 http_body_read(FCGX_Request *req, char *buf, size_t cap, size_t *len);
void		 http_body_discard(FCGX_Request *req);
void		 http_send(FCGX_Request *req, const struct http_reply *rp, const char *body,
		     size_t len);
void		 http_send_json(FCGX_Request *req, const struct http_reply *rp, json_t *body);
void		 http_send_head(FCGX_Request *req, const struct http_reply *rp, long long len);
const char	*http_reason(int status);

/* metrics.c: counters shared by all workers through an anonymous shared mapping. */
enum metrics_route {
	METRICS_ROUTE_TOKEN,
	METRICS_ROUTE_HEALTHZ,
	METRICS_ROUTE_METRICS,
	METRICS_ROUTE_OTHER,
	METRICS_ROUTE_MAX
};

/* Outcome of a request; the OAuth2 error codes come first, in worker.c's table order. */
enum metrics_outcome {
	METRICS_OK,
	METRICS_INVALID_REQUEST,
	METRICS_INVALID_CLIENT,
	METRICS_INVALID_SCOPE,
	METRICS_UNAUTHORIZED_CLIENT,
	METRICS_UNSUPPORTED_GRANT_TYPE,
	METRICS_INVALID_GRANT,
	METRICS_UNAVAILABLE,
	METRICS_SERVER_ERROR,
	METRICS_METHOD_NOT_ALLOWED,
	METRICS_NOT_FOUND,
	METRICS_OUTCOME_MAX
};

int		 metrics_init(void);
void		 metrics_request(enum metrics_route route, enum metrics_outcome outcome);
void		 metrics_reconnect(void);
void		 metrics_worker_restarted(void);
size_t		 metrics_render(char *buf, size_t size, json_t *stats,
		     json_t *health);

/* worker.c: one prefork worker's request loop. */
struct worker_conf {
	const char	*daemon_path;
	size_t		 max_body;
	int		 listen_fd;
	pid_t		 master;
};

__attribute__((noreturn))
void		 worker_run(const struct worker_conf *conf);

/* link.c: the worker's one kept connection to the daemon. */
#define LINK_INFO_TIMEOUT_MS	3000	/* health, stats */
#define LINK_ADMIN_TIMEOUT_MS	5000
#define LINK_TOKEN_TIMEOUT_MS	15000
#define LINK_SLOW_TIMEOUT_MS	20000	/* verbs that ask the upstream */

void		 link_init(const char *daemon_path);
int		 link_call(json_t *req, json_t **reply, int timeout_ms);
int		 link_call_raw(const char *req, size_t len, const char **body, size_t *bodylen,
		     int timeout_ms);
void		 link_wipe(void);
json_t		*link_ask(const char *verb);
int		 link_ok(json_t *reply);
const char	*link_str(json_t *o, const char *key);
void		 link_close(void);

/* request.c: one request, from its FastCGI parameters to its answer. */
#define REQUEST_QUERY_MAX	4096
#define REQUEST_HEADERS_MAX	4096
#define REQUEST_BODY_MIN	(24 * 1024)	/* the largest route cap besides -b (proxy) */
#define REQUEST_COOKIE_MAX	128
#define REQUEST_RETRY_AFTER	5
#define REQUEST_RETRY_AFTER_MAX	3600

struct route;

struct request {
	FCGX_Request		*fcgi;
	const struct route	*route;		/* the row that matched; NULL before */
	const char		*method;
	const char		*path;
	const char		*remote;
	const char		*client_id;	/* for logs, once known */
	int			 https;
	size_t			 max_body;	/* -b */
	char			 host[256];	/* the host (and port) the browser used */
	char			 pathbuf[1024];
	char			 name[FG_NAME_MAX + 1];	/* what a '*' segment captured */
	const char		*rest;		/* what a '+' or "**" segment matched */
	struct form		 query;		/* the query string, once request_query parsed it */
	char			 querybuf[REQUEST_QUERY_MAX + 1];
	struct form		 form;		/* a POSTed form (ROUTE_FORM) */
	char			*body;		/* request_body: NUL-terminated */
	size_t			 bodylen;
	char			 basic[FORM_BASIC_MAX];	/* decoded HTTP Basic credentials */
	char			 hdr[REQUEST_HEADERS_MAX];	/* extra header lines */
	size_t			 hdrlen;
	int			 hdrfull;
	/* the admin UI's session, as the daemon confirmed it (admin.c) */
	char			 sid[REQUEST_COOKIE_MAX + 1];
	json_t			*sess;
	const char		*user;
	const char		*role;
	const char		*csrf;
};

int		 request_setup(size_t max_body);
void		 request_init(struct request *r, FCGX_Request *fcgi, size_t max_body);
void		 request_done(struct request *r);
const char	*request_param(struct request *r, const char *name);
void		 request_header(struct request *r, const char *fmt, ...)
		     __attribute__((format(printf, 2, 3)));
void		 request_security(struct request *r);
void		 request_send(struct request *r, struct http_reply *rp, const char *body,
		     size_t len);
void		 request_send_head(struct request *r, struct http_reply *rp);
void		 request_send_json(struct request *r, int status, json_t *body);
void		 request_redirect(struct request *r, int status, const char *location);
void		 request_cookie(struct request *r, const char *name, char *out, size_t size);
void		 request_set_cookie(struct request *r, const char *name, const char *value,
		     const char *path, int max_age, const char *samesite);
int		 request_body(struct request *r, size_t cap);
int		 request_query(struct request *r);
int		 request_is_json(const char *content_type);
void		 request_clean(char *dst, size_t dstlen, const char *src);
void		 request_log_refusal(struct request *r, const char *error, const char *reason);
void		 request_error(struct request *r, int status, const char *error,
		     const char *description, long retry_after);

/* route.c: the one table of routes; each file exports its rows beside its handlers. */
#define ROUTE_JSON	0x0001	/* errors as JSON */
#define ROUTE_PAGE	0x0002	/* errors as small HTML pages (end users' sign-in) */
#define ROUTE_ADMIN	0x0004	/* the admin UI: layout pages, the query string parsed */
#define ROUTE_SESSION	0x0008	/* admin: a session the daemon confirms first */
#define ROUTE_FORM	0x0010	/* admin POST: from our own site, a strict form body */
#define ROUTE_CSRF	0x0020	/* admin POST: the form's csrf field is the session's */
#define ROUTE_APP	0x0040	/* an app credential (HTTP Basic) is accepted */
#define ROUTE_ENDUSER	0x0080	/* an end user's session cookie (fg_user) is accepted */
#define ROUTE_SANDBOX	0x0100	/* relays upstream content: a sandbox CSP, not the pages' */
#define ROUTE_COUNTED	0x0200	/* counted in flowgate_http_requests_total */
#define ROUTE_BARE	0x0400	/* machine answers: no page headers (a page may fetch them) */

struct route {
	const char		*method;	/* "GET", or a list: "GET, POST" */
	const char		*pattern;	/* '*': a name; '+': one segment; "**": the rest */
	int			 flags;
	enum metrics_route	 metric;	/* with ROUTE_COUNTED */
	void			(*handler)(struct request *);
};

const struct route *route_lookup(struct request *r, const struct route **other, char *allow,
		     size_t allowlen);
void		 route_dispatch(FCGX_Request *fcgi, size_t max_body);
void		 route_print(FILE *f);

/* token.c, health.c, metrics.c: the machine routes. */
extern const struct route	 token_routes[];
extern const struct route	 health_routes[];
extern const struct route	 metrics_routes[];

/* template.c: a small logic-less HTML template renderer (the buffer is common/buf.c). */
/*
 * Templates: {{name}} (always HTML-escaped; dotted names descend into objects, {{.}} is the
 * current value), {{#name}}...{{/name}} (arrays repeat, objects and other true values render
 * once with that value on the context stack), {{^name}}...{{/name}} (rendered when the value is
 * missing, null, false, "", 0 or an empty array), {{! comment }}, and {{&name}}: a fragment the
 * C code built itself from escaped pieces, looked up only in the `raw` table, never in data.
 */
struct tpl;
struct tpl_raw {
	const char	*name;
	const char	*html;
};

struct tpl	*tpl_parse(const char *src, size_t len, char *err, size_t errlen);
void		 tpl_free(struct tpl *t);
void		 tpl_render(const struct tpl *t, json_t *data, const struct tpl_raw *raw,
		     size_t nraw, struct buf *out);

/* wizard.c: the decision-table wizard, derived from the policy document. */
#define WIZ_QUESTIONS_MAX	16
#define WIZ_NODES_MAX		128
#define WIZ_LEAF_NONE		(-1)	/* no row of the table fits these answers */

struct wiz_node {
	int	question;	/* index into the policy's questions, or -1 for a leaf */
	int	row;		/* leaf: a row, nrows for the fallback, or WIZ_LEAF_NONE */
	int	yes, no;	/* child nodes of a question */
	int	depth;
	int	slot;		/* layout: leaf column, or the midpoint of the children's */
	double	x;
};

struct wizard {
	json_t		*policy;	/* borrowed */
	json_t		*questions;	/* the policy's questions array */
	json_t		*rows;
	json_t		*fallback;	/* may be NULL */
	int		 nquestions;
	int		 nrows;
	struct wiz_node	 nodes[WIZ_NODES_MAX];
	int		 nnodes;
	int		 nleaves;
	int		 maxdepth;
};

int		 wizard_build(struct wizard *w, json_t *policy, char *err, size_t errlen);
json_t		*wizard_row(const struct wizard *w, int row);	/* row or fallback object */
const char	*wizard_row_id(const struct wizard *w, int row);
const char	*wizard_question_id(const struct wizard *w, int q);
const char	*wizard_question_text(const struct wizard *w, int q);
int		 wizard_question_index(const struct wizard *w, const char *id);
/* Walk from the root with answers[q] (-1 unknown, 0 no, 1 yes); path gets the nodes visited. */
int		 wizard_walk(const struct wizard *w, const int *answers, int *path, int *npath);
json_t		*wizard_tree_json(const struct wizard *w, int node);

/* svg.c: pictures built from escaped pieces. */
void		 svg_decision_tree(struct buf *out, const struct wizard *w, const int *path,
		     int npath);
void		 svg_hours_chart(struct buf *out, json_t *hours, const char *label,
		     json_int_t scale);
json_int_t	 svg_nice_max(json_int_t v);

/* admin.c, admin-layout.c: the admin UI's session, CSRF, daemon calls and pages. */
#define ADMIN_CALL_SESSION	1	/* add the session cookie */
#define ADMIN_CALL_CSRF		2	/* and the form's csrf token */
#define ADMIN_CALL_SLOW		4	/* the daemon asks the upstream: wait longer */
#define ADMIN_LIST_PAGE		50	/* apps, connections, users per page */
#define ADMIN_SECRET_WARN_S	(90L * 86400)

int		 admin_begin(struct request *r);
json_t		*admin_call(struct request *r, int flags, json_t *req);
const char	*admin_errcode(json_t *reply);
const char	*admin_errmsg(json_t *reply, const char *fallback);
int		 admin_form_status(const char *code);
void		 admin_fail(struct request *r, json_t *reply);
void		 admin_wipe_field(json_t *o, const char *key);
int		 admin_checked(const struct form *f, const char *key);
json_t		*admin_list_call(struct request *r, const char *verb);
json_t		*admin_list_pager(struct request *r, json_t *reply, const char *key,
		     const char *base);
void		 admin_form_error(json_t *data, json_t *reply, const char *fallback_field);

void		 admin_page(struct request *r, int status, const char *name, const char *nav,
		     const char *title, json_t *data);
void		 admin_page_raw(struct request *r, int status, const char *name,
		     const char *nav, const char *title, json_t *data, const struct tpl_raw *raw,
		     size_t nraw);
void		 admin_error(struct request *r, int status, const char *title,
		     const char *message);
void		 admin_times(json_t *o, const char *const *keys);
void		 admin_fmt_time(char *out, size_t n, long long t, int seconds);
void		 admin_fmt_span(char *out, size_t n, long long s);

/* admin-static.c: the templates and static files of WEB_DIR, read once. */
int		 admin_static_init(const char *web_dir);
const struct tpl *admin_static_template(const char *name);
extern char	 admin_static_version[17];

/* admin-wizard.c: the policy document (cached) and the decision-table wizard. */
json_t		*admin_wizard_policy(struct request *r);
const struct wizard *admin_wizard_tree(void);
int		 admin_wizard_flow_redirects(const char *flow);

/* The admin UI's route rows, one group per page file. */
extern const struct route	 admin_routes[];
extern const struct route	 admin_static_routes[];
extern const struct route	 admin_dashboard_routes[];
extern const struct route	 admin_wizard_routes[];
extern const struct route	 admin_apps_routes[];
extern const struct route	 admin_connections_routes[];
extern const struct route	 admin_audit_routes[];
extern const struct route	 admin_accounts_routes[];
extern const struct route	 admin_endusers_routes[];

/* enduser.c: what the end users' routes share (pages, errors, the caller, daemon calls). */
#define ENDUSER_COOKIE_MAX	64	/* fg_login / fg_user values: the daemon takes 64 at most */
#define ENDUSER_LOGIN_TIMEOUT_MS	15000
#define ENDUSER_CALL_TIMEOUT_MS	20000

void		 enduser_page(struct request *r, int status, const char *title,
		     const char *message, const char *extra_html);
void		 enduser_redirect(struct request *r, const char *url);
void		 enduser_problem(struct request *r, int status, const char *title,
		     const char *detail);
void		 enduser_api_error(struct request *r, json_t *reply);
json_t		*enduser_call(struct request *r, json_t *req, int timeout_ms);
json_t		*enduser_pick(json_t *reply, const char *const *keys);
void		 enduser_error(struct request *r, int status, const char *error,
		     const char *description, long retry_after);
int		 enduser_body(struct request *r, size_t cap);
int		 enduser_caller(struct request *r, json_t *req, int *is_session);
int		 enduser_csrf_check(struct request *r);
void		 enduser_relay(struct request *r, json_t *req, const char *const *keys,
		    int status);
int		 enduser_cookie_value_ok(const char *v);
void		 enduser_set_cookie(struct request *r, const char *name, const char *value,
		     const char *path, int max_age);

/* The end users' route rows. */
extern const struct route	 enduser_login_routes[];
extern const struct route	 enduser_session_routes[];
extern const struct route	 enduser_embed_routes[];
extern const struct route	 enduser_stream_routes[];
extern const struct route	 enduser_proxy_routes[];
extern const struct route	 enduser_authorize_routes[];
int		 enduser_proxy_caller(struct request *r, json_t *req, int *is_session);
const char	*enduser_proxy_csrf(struct request *r, int is_session);

#endif
