/*
 * Fuzz target for the front end's request parsing: the route table's path matcher
 * (fcgi/route.c: route_lookup) and the cookie reader (fcgi/request.c: request_cookie).  The
 * bytes are "METHOD\nPATH\nCOOKIE".  Beyond not crashing: a matched row accepts the method, a
 * '*' segment captured a valid name, a '+' or "**" rest lies inside the path, and a cookie
 * read is base64url and shorter than its buffer.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"
#include "util.h"

#define FUZZ_REQUEST_MAX	4096

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Check what route_lookup found for path. */
static void
fuzz_check_route(const struct request *r, const struct route *rt, const char *path)
{
	size_t n = strlen(r->name);

	if (rt == NULL)
		return;
	if (rt->method == NULL || rt->pattern == NULL)
		abort();
	if (n > FG_NAME_MAX || (n > 0 && !fg_name_ok(r->name, n)))
		abort();
	if (r->rest != NULL && (r->rest < path || r->rest > path + strlen(path)))
		abort();
}

/* Check a cookie value request_cookie gave back. */
static void
fuzz_check_cookie(const char *v, size_t size)
{
	size_t n = strlen(v);

	if (n >= size || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_") != n)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct request	 r;
	FCGX_Request		 fcgi;
	const struct route	*rt, *other;
	char			 buf[FUZZ_REQUEST_MAX + 16], allow[128], out[64], *path, *cookie;
	char			*env[2];

	if (size > FUZZ_REQUEST_MAX || memchr(data, '\0', size) != NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if ((path = strchr(buf, '\n')) == NULL)
		return 0;
	*path++ = '\0';
	if ((cookie = strchr(path, '\n')) != NULL)
		*cookie++ = '\0';
	memset(&r, 0, sizeof(r));
	r.method = buf;
	r.path = path;
	rt = route_lookup(&r, &other, allow, sizeof(allow));
	fuzz_check_route(&r, rt, path);
	if (strlen(allow) >= sizeof(allow) || (rt == NULL && other == NULL && allow[0] != '\0'))
		abort();
	if (cookie == NULL)
		return 0;
	/* the cookie header as FastCGI hands it over: "HTTP_COOKIE=..." in the environment */
	memmove(cookie + 12, cookie, strlen(cookie) + 1);
	memcpy(cookie, "HTTP_COOKIE=", 12);
	env[0] = cookie;
	env[1] = NULL;
	memset(&fcgi, 0, sizeof(fcgi));
	fcgi.envp = env;
	r.fcgi = &fcgi;
	request_cookie(&r, "fg_user", out, sizeof(out));
	fuzz_check_cookie(out, sizeof(out));
	request_cookie(&r, "fg_login", out, 8);
	fuzz_check_cookie(out, 8);
	return 0;
}
