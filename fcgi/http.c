/* HTTP over FastCGI: response heads with the headers every answer carries, and capped bodies. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fcgi.h"
#include "fg-protocol.h"

/* Room for any JSON answer: the largest is a token relayed from one daemon frame. */
#define HTTP_JSON_MAX	(FG_FRAME_MAX + 1024)

/* Reason phrase of the statuses flowgate-fcgi uses. */
const char *
http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 302:
		return "Found";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Content";
	case 429:
		return "Too Many Requests";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	}
	return "Internal Server Error";
}

/*
 * Read the request body announced by CONTENT_LENGTH into buf, refusing more than cap bytes
 * before reading any of it.  *len is what was read, also on a short body.
 */
int
http_body_read(FCGX_Request *req, char *buf, size_t cap, size_t *len)
{
	const char	*cl, *p;
	size_t		 n = 0;
	int		 got;

	*len = 0;
	cl = FCGX_GetParam("CONTENT_LENGTH", req->envp);
	if (cl == NULL || *cl == '\0')
		return HTTP_BODY_ELENGTH;
	for (p = cl; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return HTTP_BODY_ELENGTH;
		if (n <= cap)
			n = n * 10 + (size_t)(*p - '0');
	}
	if (n > cap)
		return HTTP_BODY_ETOOLARGE;
	if (n == 0)
		return HTTP_BODY_OK;
	if ((got = FCGX_GetStr(buf, (int)n, req->in)) > 0)
		*len = (size_t)got;
	return *len == n ? HTTP_BODY_OK : HTTP_BODY_ESHORT;
}

/*
 * Consume what is left of the request body, so closing the connection does not reset the web
 * server's side while our answer is in flight; nginx caps bodies, this loop does too.
 */
void
http_body_discard(FCGX_Request *req)
{
	char	buf[4096];
	int	i;

	for (i = 0; i < 256; i++) {
		if (FCGX_GetStr(buf, sizeof(buf), req->in) <= 0)
			break;
	}
}

/*
 * Send a response head: status, security and cache headers, the caller's extra lines, and
 * Content-Length when len >= 0 (a streamed body has none; FastCGI ends it for us).
 */
void
http_send_head(FCGX_Request *req, const struct http_reply *rp, long long len)
{
	char	head[1024];
	int	n;

	n = snprintf(head, sizeof(head),
	    "Status: %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Cache-Control: %s\r\n"
	    "%s"
	    "X-Content-Type-Options: nosniff\r\n"
	    "%s%s%s" "%s%s%s",
	    rp->status, http_reason(rp->status), rp->content_type,
	    rp->cache != NULL ? rp->cache : "no-store",
	    rp->cache != NULL ? "" : "Pragma: no-cache\r\n",
	    rp->allow != NULL ? "Allow: " : "", rp->allow != NULL ? rp->allow : "",
	    rp->allow != NULL ? "\r\n" : "",
	    rp->authenticate != NULL ? "WWW-Authenticate: " : "",
	    rp->authenticate != NULL ? rp->authenticate : "",
	    rp->authenticate != NULL ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return;
	if (len >= 0)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %lld\r\n", len);
	if (rp->retry_after > 0 && (size_t)n < sizeof(head))
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Retry-After: %ld\r\n",
		    rp->retry_after);
	if ((size_t)n >= sizeof(head))
		return;
	FCGX_PutStr(head, n, req->out);
	if (rp->headers != NULL)
		FCGX_PutS(rp->headers, req->out);
	FCGX_PutStr("\r\n", 2, req->out);
}

/* Send a complete response: status, security and no-cache headers, then the body. */
void
http_send(FCGX_Request *req, const struct http_reply *rp, const char *body, size_t len)
{
	http_send_head(req, rp, (long long)len);
	if (len > 0)
		FCGX_PutStr(body, (int)len, req->out);
}

/* Send body as compact JSON, serialised with jansson into a buffer reused by every request. */
void
http_send_json(FCGX_Request *req, const struct http_reply *rp, json_t *body)
{
	static char		out[HTTP_JSON_MAX];
	static const char	fail[] = "{\"error\":\"server_error\"}";
	struct http_reply	err = { .status = 500, .content_type = "application/json" };
	size_t			n;

	n = body == NULL ? 0 : json_dumpb(body, out, sizeof(out), JSON_COMPACT);
	if (n == 0 || n > sizeof(out)) {
		http_send(req, &err, fail, sizeof(fail) - 1);
		return;
	}
	http_send(req, rp, out, n);
}
