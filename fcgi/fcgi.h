/* Shared types of flowgate-fcgi, the unprivileged FastCGI front end. */
#ifndef FG_FCGI_H
#define FG_FCGI_H

#include <sys/types.h>

#include <stddef.h>

#include <fcgiapp.h>
#include <jansson.h>

#define FCGI_WORKERS_DEFAULT	4
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
size_t		 metrics_render(char *buf, size_t size, json_t *stats);

/* worker.c: one prefork worker's request loop. */
struct worker_conf {
	const char	*daemon_path;
	size_t		 max_body;
	int		 listen_fd;
	pid_t		 master;
};

__attribute__((noreturn))
void		 worker_run(const struct worker_conf *conf);
int		 worker_daemon_call(json_t *req, json_t **reply, int timeout_ms);

/* template.c: a growable output buffer and a small logic-less HTML template renderer. */
struct buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 failed;	/* an allocation failed: the content is incomplete */
};

void		 buf_reset(struct buf *b);
void		 buf_free(struct buf *b);
void		 buf_add(struct buf *b, const char *s, size_t n);
void		 buf_adds(struct buf *b, const char *s);
void		 buf_addf(struct buf *b, const char *fmt, ...)
		     __attribute__((format(printf, 2, 3)));
void		 buf_add_html(struct buf *b, const char *s, size_t n);	/* HTML-escaped */
void		 buf_adds_html(struct buf *b, const char *s);
const char	*buf_str(struct buf *b);	/* NUL-terminated view ("" when empty) */

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
	int	row;		/* leaf: index into rows, nrows for the fallback, or WIZ_LEAF_NONE */
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
void		 svg_hours_chart(struct buf *out, json_t *hours, const char *label);

/* admin.c: the admin web UI under /admin/. */
int		 admin_init(const char *web_dir);
void		 admin_handle(FCGX_Request *req, const char *method, const char *path,
		     const char *remote, size_t max_body);

/* user.c: /login/{app}, /callback, /logout and /api/v1/... (issue 4); 1 when it answered. */
int		 user_handle(FCGX_Request *req, const char *method, const char *path,
		     const char *remote, size_t max_body);

#endif
