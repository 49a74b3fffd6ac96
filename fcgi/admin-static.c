/*
 * The admin UI's assets, read once from WEB_DIR before the workers fork: the templates
 * (parsed) and the static files (hashed for their ETags and the pages' asset version), and the
 * route that serves the static files.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "fcgi.h"
#include "log.h"

#define ADMIN_TEMPLATES_MAX	48
#define ADMIN_STATIC_MAX	16
#define ADMIN_FILE_MAX		(512 * 1024)

struct admin_named_tpl {
	char		 name[32];
	struct tpl	*tpl;
};

struct admin_static_file {
	char		 name[64];
	const char	*type;
	char		*data;
	size_t		 len;
	char		 etag[24];
};

static void	admin_static_get(struct request *);

const struct route admin_static_routes[] = {
	{ "GET, HEAD", "/admin/static/+", ROUTE_ADMIN, 0, admin_static_get },
	{ NULL, NULL, 0, 0, NULL }
};

static struct admin_named_tpl	 admin_templates[ADMIN_TEMPLATES_MAX];
static size_t			 admin_ntemplates;
static struct admin_static_file	 admin_statics[ADMIN_STATIC_MAX];
static size_t			 admin_nstatics;
char				 admin_static_version[17];

/* A whole regular file of at most ADMIN_FILE_MAX bytes, NUL-terminated; NULL on failure. */
static char *
admin_static_slurp(const char *path, size_t *len)
{
	struct stat	 st;
	char		*p;
	ssize_t		 n;
	size_t		 have = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size > ADMIN_FILE_MAX ||
	    (p = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	while (have < (size_t)st.st_size) {
		if ((n = read(fd, p + have, (size_t)st.st_size - have)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			break;
		}
		have += (size_t)n;
	}
	close(fd);
	p[have] = '\0';
	*len = have;
	return p;
}

/* Whether s ends in suffix (and has more before it). */
static int
admin_static_suffix(const char *s, const char *suffix)
{
	size_t	a = strlen(s), b = strlen(suffix);

	return a > b && strcmp(s + a - b, suffix) == 0;
}

/* Parse every WEB_DIR/templates/NAME.html; one that does not parse stops the start. */
static int
admin_static_templates(const char *dir)
{
	DIR		*d;
	struct dirent	*e;
	char		 path[4096], err[256], *src;
	size_t		 len, n;

	if ((d = opendir(dir)) == NULL) {
		fg_log_warn("admin UI off: cannot open %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || !admin_static_suffix(e->d_name, ".html"))
			continue;
		n = strlen(e->d_name) - 5;
		if (n >= sizeof(admin_templates[0].name) || admin_ntemplates == ADMIN_TEMPLATES_MAX)
			fg_fatal("template %s: name too long or too many templates", e->d_name);
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
			fg_fatal("template path too long");
		if ((src = admin_static_slurp(path, &len)) == NULL)
			fg_fatal("cannot read template %s", path);
		admin_templates[admin_ntemplates].tpl = tpl_parse(src, len, err, sizeof(err));
		if (admin_templates[admin_ntemplates].tpl == NULL)
			fg_fatal("template %s: %s", path, err);
		free(src);
		memcpy(admin_templates[admin_ntemplates].name, e->d_name, n);
		admin_templates[admin_ntemplates].name[n] = '\0';
		admin_ntemplates++;
	}
	closedir(d);
	return 0;
}

/* The Content-Type of a static file by its extension; NULL: not served. */
static const char *
admin_static_mime(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".css", "text/css; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".woff2", "font/woff2" },
	};
	size_t	i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (admin_static_suffix(name, types[i].ext))
			return types[i].type;
	}
	return NULL;
}

/* Read WEB_DIR/static and hash each file (its ETag) and all of them (the asset version). */
static void
admin_static_files(const char *dir)
{
	crypto_generichash_state	 all;
	DIR				*d;
	struct dirent			*e;
	struct admin_static_file		*f;
	unsigned char			 h[8];
	char				 path[4096];
	size_t				 i;

	crypto_generichash_init(&all, NULL, 0, sizeof(h));
	if ((d = opendir(dir)) == NULL) {
		fg_log_warn("admin UI: no static files in %s: %s", dir, strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL && admin_nstatics < ADMIN_STATIC_MAX) {
		f = &admin_statics[admin_nstatics];
		if (e->d_name[0] == '.' || admin_static_mime(e->d_name) == NULL ||
		    strlen(e->d_name) >= sizeof(f->name))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
			continue;
		if ((f->data = admin_static_slurp(path, &f->len)) == NULL) {
			fg_log_warn("admin UI: cannot read %s", path);
			continue;
		}
		memcpy(f->name, e->d_name, strlen(e->d_name) + 1);	/* fits: checked above */
		f->type = admin_static_mime(e->d_name);
		crypto_generichash(h, sizeof(h), (unsigned char *)f->data, f->len, NULL, 0);
		crypto_generichash_update(&all, h, sizeof(h));
		f->etag[0] = '"';
		sodium_bin2hex(f->etag + 1, sizeof(f->etag) - 2, h, sizeof(h));
		strcat(f->etag, "\"");
		admin_nstatics++;
	}
	closedir(d);
	crypto_generichash_final(&all, h, sizeof(h));
	sodium_bin2hex(admin_static_version, sizeof(admin_static_version), h, sizeof(h));
	for (i = 0; i < admin_nstatics; i++)
		fg_log_debug("admin static %s (%zu bytes)", admin_statics[i].name,
		    admin_statics[i].len);
}

/* Load the templates and static files once, before the workers fork; -1: the UI is off. */
int
admin_static_init(const char *web_dir)
{
	char	path[4096];

	if (sodium_init() == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/templates", web_dir);
	if (admin_static_templates(path) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/static", web_dir);
	admin_static_files(path);
	fg_log_info("admin UI from %s: %zu templates, %zu static files", web_dir, admin_ntemplates,
	    admin_nstatics);
	return 0;
}

/* A parsed template by name (without .html); NULL when there is none. */
const struct tpl *
admin_static_template(const char *name)
{
	size_t	i;

	for (i = 0; i < admin_ntemplates; i++) {
		if (strcmp(admin_templates[i].name, name) == 0)
			return admin_templates[i].tpl;
	}
	return NULL;
}


/* GET /admin/static/NAME: a file of WEB_DIR/static, cached by the browser with its ETag. */
static void
admin_static_get(struct request *r)
{
	const char		*inm = request_param(r, "HTTP_IF_NONE_MATCH");
	struct http_reply	 rp = { .status = 200, .cache = "public, max-age=3600" };
	size_t			 i;

	for (i = 0; i < admin_nstatics; i++) {
		if (strcmp(admin_statics[i].name, r->rest) != 0)
			continue;
		request_header(r, "ETag: %s", admin_statics[i].etag);
		rp.content_type = admin_statics[i].type;
		if (inm != NULL && strcmp(inm, admin_statics[i].etag) == 0) {
			rp.status = 304;
			request_send(r, &rp, NULL, 0);
		} else
			request_send(r, &rp, admin_statics[i].data, admin_statics[i].len);
		return;
	}
	admin_error(r, 404, "Not found", "No such file.");
}
