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
};

int		 http_body_read(FCGX_Request *req, char *buf, size_t cap, size_t *len);
void		 http_body_discard(FCGX_Request *req);
void		 http_send(FCGX_Request *req, const struct http_reply *rp, const char *body,
		     size_t len);
void		 http_send_json(FCGX_Request *req, const struct http_reply *rp, json_t *body);

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

#endif
