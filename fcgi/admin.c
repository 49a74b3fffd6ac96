/*
 * The admin web UI under /admin/: server-rendered pages from web/templates, forms, cookies,
 * CSRF pass-through, static files from web/static.
 *
 * The front end is untrusted by design: it passes the browser's session cookie and the form's
 * CSRF token to the daemon, which decides every question of identity and role.  This side adds
 * what only the web edge can: strict form parsing, an Origin check, a CSRF comparison of its
 * own before anything is sent on, output escaping, and the security headers of every page.
 * Nothing here stores a secret: passwords and connection secrets are relayed once and wiped,
 * an app credential is rendered into exactly one response and never kept.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "fcgi.h"
#include "log.h"

#define ADMIN_TIMEOUT_MS	5000
#define ADMIN_SLOW_TIMEOUT_MS	20000	/* verbs that ask the upstream */
#define ADMIN_TEMPLATES_MAX	48
#define ADMIN_STATIC_MAX	16
#define ADMIN_FILE_MAX		(512 * 1024)
#define ADMIN_QUERY_MAX		4096
#define ADMIN_SID_MAX		128
#define ADMIN_NAME_MAX		64
#define ADMIN_AUDIT_PAGE	50
#define ADMIN_LIST_PAGE		50	/* apps, connections, users per page */
#define ADMIN_LIST_ALL_MAX	2000	/* connections offered in the app form */
#define ADMIN_EXPORT_PAGE	100
#define ADMIN_EXPORT_MAX	100000
#define ADMIN_POLICY_TTL_MS	60000
#define ADMIN_SECRET_WARN_S	(90L * 86400)

static const char admin_csp[] =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "X-Frame-Options: DENY\r\n";

/* The scopes an app may be allowed; the policy says which of them are limited. */
static const struct scope_info {
	const char	*id;
	const char	*help;
} admin_scopes[] = {
	{ "transcribe", "live transcription over the /transcribe WebSocket" },
	{ "streams", "interaction streams over the /streams WebSocket" },
	{ "interactions", "the REST API: create and read interactions (backend only)" },
};

/* Fixed messages shown after a redirect (?done=KEY): nothing from the request is echoed. */
static const struct flash {
	const char	*key;
	const char	*text;
	const char	*kind;		/* alert class; NULL: ok */
} admin_flashes[] = {
	{ "logged_out", "You are logged out.", "info" },
	{ "expired", "Your session has ended. Log in again.", "info" },
	{ "app_revoked", "The app was revoked: its credentials no longer get tokens.", "warn" },
	{ "scopes_updated", "The app's allowed scopes were updated.", NULL },
	{ "connection_added", "Connection added. Its secret was verified with the upstream.", NULL },
	{ "connection_removed", "The connection was removed.", NULL },
	{ "rotated", "The new secret was verified with the upstream and is now current.", NULL },
	{ "retired", "The previous secret was erased.", NULL },
	{ "stopped", "Emergency stop: every route of this connection's apps is refused now "
	    "(token endpoint, stream and transcribe sessions, proxy, user sessions and logins); "
	    "its cached tokens were dropped and answers still in flight are dropped.", "bad" },
	{ "resumed", "Token issuance resumed.", NULL },
	{ "user_added", "The user was added.", NULL },
	{ "role_changed", "The role was changed.", NULL },
	{ "user_disabled", "The user was disabled and their sessions ended.", NULL },
	{ "user_enabled", "The user was enabled.", NULL },
	{ "password_changed", "Your password was changed.", NULL },
};

struct named_tpl {
	char		 name[32];
	struct tpl	*tpl;
};

struct static_file {
	char		 name[64];
	const char	*type;
	char		*data;
	size_t		 len;
	char		 etag[24];
};

struct areq {
	FCGX_Request	*fcgi;
	const char	*method;
	const char	*path;		/* after "/admin" */
	const char	*remote;
	int		 post;
	int		 https;
	char		 host[256];
	char		 sid[ADMIN_SID_MAX + 1];
	json_t		*sess;		/* the daemon's "session" reply */
	const char	*user;
	const char	*role;
	const char	*csrf;
	struct form	 form;		/* POST body */
	struct form	 qs;		/* query string */
	char		 qsbuf[ADMIN_QUERY_MAX + 1];
	char		 name[ADMIN_NAME_MAX + 1];	/* the name a route captured */
	char		 headers[1024];	/* extra response headers */
};

struct aroute {
	const char	*method;
	const char	*pattern;	/* '*' matches one name segment */
	int		 flags;
	void		(*fn)(struct areq *);
};
#define R_PUBLIC	1	/* no session needed */

static struct named_tpl		 templates[ADMIN_TEMPLATES_MAX];
static size_t			 ntemplates;
static struct static_file	 statics[ADMIN_STATIC_MAX];
static size_t			 nstatics;
static char			 asset_version[17];
static int			 admin_ready;
static char			*body_buf;
static size_t			 body_cap;
static size_t			 body_len;
static struct buf		 page_buf, layout_buf, frag_buf, frag2_buf;
static json_t			*policy;
static struct wizard		 wiz;
static long long		 policy_at;

/* ---------- start-up: templates and static files ---------- */

static char *
admin_slurp(const char *path, size_t *len)
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

static int
admin_has_suffix(const char *s, const char *suffix)
{
	size_t	a = strlen(s), b = strlen(suffix);

	return a > b && strcmp(s + a - b, suffix) == 0;
}

static int
admin_load_templates(const char *dir)
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
		if (e->d_name[0] == '.' || !admin_has_suffix(e->d_name, ".html"))
			continue;
		n = strlen(e->d_name) - 5;
		if (n >= sizeof(templates[0].name) || ntemplates == ADMIN_TEMPLATES_MAX)
			fg_fatal("template %s: name too long or too many templates", e->d_name);
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
			fg_fatal("template path too long");
		if ((src = admin_slurp(path, &len)) == NULL)
			fg_fatal("cannot read template %s", path);
		if ((templates[ntemplates].tpl = tpl_parse(src, len, err, sizeof(err))) == NULL)
			fg_fatal("template %s: %s", path, err);
		free(src);
		memcpy(templates[ntemplates].name, e->d_name, n);
		templates[ntemplates].name[n] = '\0';
		ntemplates++;
	}
	closedir(d);
	return 0;
}

static const char *
admin_mime(const char *name)
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
		if (admin_has_suffix(name, types[i].ext))
			return types[i].type;
	}
	return NULL;
}

static void
admin_load_static(const char *dir)
{
	crypto_generichash_state	 all;
	DIR				*d;
	struct dirent			*e;
	struct static_file		*f;
	unsigned char			 h[8];
	char				 path[4096];
	size_t				 i;

	crypto_generichash_init(&all, NULL, 0, sizeof(h));
	if ((d = opendir(dir)) == NULL) {
		fg_log_warn("admin UI: no static files in %s: %s", dir, strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL && nstatics < ADMIN_STATIC_MAX) {
		f = &statics[nstatics];
		if (e->d_name[0] == '.' || admin_mime(e->d_name) == NULL ||
		    strlen(e->d_name) >= sizeof(f->name))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
			continue;
		if ((f->data = admin_slurp(path, &f->len)) == NULL) {
			fg_log_warn("admin UI: cannot read %s", path);
			continue;
		}
		snprintf(f->name, sizeof(f->name), "%s", e->d_name);
		f->type = admin_mime(e->d_name);
		crypto_generichash(h, sizeof(h), (unsigned char *)f->data, f->len, NULL, 0);
		crypto_generichash_update(&all, h, sizeof(h));
		f->etag[0] = '"';
		sodium_bin2hex(f->etag + 1, sizeof(f->etag) - 2, h, sizeof(h));
		strcat(f->etag, "\"");
		nstatics++;
	}
	closedir(d);
	crypto_generichash_final(&all, h, sizeof(h));
	sodium_bin2hex(asset_version, sizeof(asset_version), h, sizeof(h));
	for (i = 0; i < nstatics; i++)
		fg_log_debug("admin static %s (%zu bytes)", statics[i].name, statics[i].len);
}

/* Load the templates and static files once, before the workers fork; -1: the UI is off. */
int
admin_init(const char *web_dir)
{
	char	path[4096];

	if (sodium_init() == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/templates", web_dir);
	if (admin_load_templates(path) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/static", web_dir);
	admin_load_static(path);
	admin_ready = 1;
	fg_log_info("admin UI from %s: %zu templates, %zu static files", web_dir, ntemplates,
	    nstatics);
	return 0;
}

static const struct tpl *
admin_template(const char *name)
{
	size_t	i;

	for (i = 0; i < ntemplates; i++) {
		if (strcmp(templates[i].name, name) == 0)
			return templates[i].tpl;
	}
	return NULL;
}

/* ---------- small helpers ---------- */

static long long
admin_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long
admin_mono_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A name as the daemon accepts it: [a-z0-9_-], not starting with '-' or '_'. */
static int
admin_name_ok(const char *s, size_t n)
{
	size_t	i;

	if (n == 0 || n > ADMIN_NAME_MAX || s[0] == '-' || s[0] == '_')
		return 0;
	for (i = 0; i < n; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-' || s[i] == '_'))
			return 0;
	}
	return 1;
}

/* Percent-encode s for a query component into b. */
static void
admin_url_add(struct buf *b, const char *s)
{
	static const char	hex[] = "0123456789ABCDEF";
	char			enc[3] = { '%', 0, 0 };

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			buf_add(b, (const char *)&c, 1);
		else {
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 15];
			buf_add(b, enc, 3);
		}
	}
}

/* "2026-11-22 09:30 UTC" from unix seconds or milliseconds (told apart by size). */
static void
admin_fmt_time(char *out, size_t n, long long t, int seconds)
{
	struct tm	tm;
	time_t		tt;

	if (t > 100000000000LL)
		t /= 1000;
	tt = (time_t)t;
	if (gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, n, "-");
		return;
	}
	strftime(out, n, seconds ? "%Y-%m-%d %H:%M:%S UTC" : "%Y-%m-%d %H:%M UTC", &tm);
}

/* "45 s", "12 min", "5 h", "3 d" */
static void
admin_fmt_span(char *out, size_t n, long long s)
{
	if (s < 0)
		s = -s;
	if (s < 120)
		snprintf(out, n, "%lld s", s);
	else if (s < 2 * 3600)
		snprintf(out, n, "%lld min", s / 60);
	else if (s < 3 * 86400)
		snprintf(out, n, "%lld h", s / 3600);
	else
		snprintf(out, n, "%lld d", s / 86400);
}

/* For each key holding a time, add key_text ("2026-...") and key_rel ("3 d ago", "in 5 h"). */
static void
admin_times(json_t *o, const char *const *keys)
{
	char		 text[64], span[32], rel[48], k[80];
	long long	 t, now = admin_now_ms() / 1000;
	json_t		*v;

	for (; *keys != NULL; keys++) {
		v = json_object_get(o, *keys);
		if (!json_is_integer(v) || json_integer_value(v) <= 0)
			continue;
		t = json_integer_value(v);
		admin_fmt_time(text, sizeof(text), t, 0);
		if (t > 100000000000LL)
			t /= 1000;
		admin_fmt_span(span, sizeof(span), now - t);
		snprintf(rel, sizeof(rel), t <= now ? "%s ago" : "in %s", span);
		snprintf(k, sizeof(k), "%s_text", *keys);
		json_object_set_new(o, k, json_string(text));
		snprintf(k, sizeof(k), "%s_rel", *keys);
		json_object_set_new(o, k, json_string(rel));
	}
}

static const char *
admin_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A form or query value; NULL when absent or empty. */
static const char *
admin_arg(const struct form *f, const char *key)
{
	return form_get(f, key);
}

static int
admin_checked(const struct form *f, const char *key)
{
	const char *v = form_get(f, key);

	return v != NULL && (strcmp(v, "on") == 0 || strcmp(v, "1") == 0 ||
	    strcmp(v, "yes") == 0 || strcmp(v, "true") == 0);
}

/* Overwrite a secret-bearing string inside a JSON value before it is freed. */
static void
admin_wipe_field(json_t *o, const char *key)
{
	json_t	*v = json_object_get(o, key);

	if (json_is_string(v))
		sodium_memzero((char *)(uintptr_t)json_string_value(v), json_string_length(v));
}

static void
admin_wipe_body(void)
{
	if (body_buf != NULL)
		sodium_memzero(body_buf, body_len + 1);
	body_len = 0;
}

/* ---------- responses ---------- */

static void
admin_header(struct areq *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
admin_header(struct areq *r, const char *fmt, ...)
{
	size_t	len = strlen(r->headers);
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(r->headers + len, sizeof(r->headers) - len, fmt, ap);
	va_end(ap);
}

static void
admin_send(struct areq *r, int status, const char *type, const char *body, size_t len,
    long retry_after)
{
	char			hdrs[sizeof(r->headers) + sizeof(admin_csp)];
	struct http_reply	rp = { .status = status, .content_type = type,
	    .retry_after = retry_after, .headers = hdrs };

	snprintf(hdrs, sizeof(hdrs), "%s%s", admin_csp, r->headers);
	http_send(r->fcgi, &rp, body, len);
}

static void
admin_redirect(struct areq *r, const char *location)
{
	static const char msg[] = "See Other\n";

	admin_header(r, "Location: %s\r\n", location);
	admin_send(r, 303, "text/plain; charset=utf-8", msg, sizeof(msg) - 1, 0);
}

static const char *
admin_cookie_name(const struct areq *r)
{
	return r->https ? "__Host-fg_session" : "fg_session";
}

static void
admin_set_cookie(struct areq *r, const char *sid)
{
	if (sid != NULL)
		admin_header(r, "Set-Cookie: %s=%s; Path=/; HttpOnly; SameSite=Strict%s\r\n",
		    admin_cookie_name(r), sid, r->https ? "; Secure" : "");
	else
		admin_header(r, "Set-Cookie: %s=; Path=/; Max-Age=0; HttpOnly; "
		    "SameSite=Strict%s\r\n", admin_cookie_name(r), r->https ? "; Secure" : "");
}

/*
 * A flash's text; after a stop, with the counts the daemon reported (n=T.S.H.U, parsed as
 * numbers and printed anew, so nothing of the request is echoed).
 */
static json_t *
admin_flash_text(struct areq *r, const struct flash *f)
{
	const char	*n = admin_arg(&r->qs, "n");
	long long	 v[4];
	char		 buf[512];

	if (strcmp(f->key, "stopped") != 0 || n == NULL || sscanf(n, "%lld.%lld.%lld.%lld",
	    &v[0], &v[1], &v[2], &v[3]) != 4)
		return json_string(f->text);
	snprintf(buf, sizeof(buf), "%s Stopped now: %lld cached tokens dropped, %lld user "
	    "sessions' tokens cleared, %lld waiting replies refused, %lld upstream answers in "
	    "flight to be dropped.", f->text, v[0], v[1], v[2], v[3]);
	return json_string(buf);
}

/* Common page data: who is logged in, the CSRF token for forms, the active nav entry. */
static void
admin_common(struct areq *r, json_t *data, const char *nav, const char *title)
{
	const char	*done;
	json_t		*me;
	size_t		 i;
	char		 k[48];

	json_object_set_new(data, "title", json_string(title));
	json_object_set_new(data, "asset_v", json_string(asset_version));
	if (nav != NULL) {
		snprintf(k, sizeof(k), "nav_%s", nav);
		json_object_set_new(data, k, json_true());
	}
	if (r->user != NULL && r->role != NULL) {
		me = json_pack("{ss ss sb sb sb}", "name", r->user, "role", r->role,
		    "is_admin", strcmp(r->role, "admin") == 0,
		    "is_security", strcmp(r->role, "security") == 0,
		    "is_auditor", strcmp(r->role, "auditor") == 0);
		json_object_set_new(data, "me", me);
		json_object_set_new(data, "can_rotate", json_boolean(strcmp(r->role,
		    "security") == 0));
		json_object_set_new(data, "can_test", json_boolean(strcmp(r->role,
		    "auditor") != 0));
	}
	if (r->csrf != NULL)
		json_object_set_new(data, "csrf", json_string(r->csrf));
	if (json_object_get(data, "flash") == NULL &&
	    (done = admin_arg(&r->qs, "done")) != NULL) {
		for (i = 0; i < sizeof(admin_flashes) / sizeof(admin_flashes[0]); i++) {
			if (strcmp(admin_flashes[i].key, done) == 0) {
				json_object_set_new(data, "flash", admin_flash_text(r,
				    &admin_flashes[i]));
				json_object_set_new(data, "flash_kind", json_string(
				    admin_flashes[i].kind != NULL ? admin_flashes[i].kind : "ok"));
			}
		}
	}
}

/*
 * Render template name with data inside the layout and send it.  raw holds the fragments the
 * page may embed unescaped (built here from escaped pieces).  data is consumed.
 */
static void
admin_page_raw(struct areq *r, int status, const char *name, const char *nav,
    const char *title, json_t *data, const struct tpl_raw *raw, size_t nraw, long retry_after)
{
	const struct tpl	*page = admin_template(name), *layout = admin_template("layout");
	struct tpl_raw		 content;

	if (data == NULL)
		data = json_object();
	admin_common(r, data, nav, title);
	buf_reset(&page_buf);
	buf_reset(&layout_buf);
	if (page == NULL || layout == NULL) {
		static const char	msg[] = "admin UI template missing\n";

		fg_log_warn("admin template %s or layout missing", name);
		admin_send(r, 500, "text/plain; charset=utf-8", msg, sizeof(msg) - 1, 0);
		json_decref(data);
		return;
	}
	tpl_render(page, data, raw, nraw, &page_buf);
	content.name = "content";
	content.html = buf_str(&page_buf);
	tpl_render(layout, data, &content, 1, &layout_buf);
	if (page_buf.failed || layout_buf.failed) {
		static const char	msg[] = "out of memory\n";

		admin_send(r, 500, "text/plain; charset=utf-8", msg, sizeof(msg) - 1, 0);
	} else
		admin_send(r, status, "text/html; charset=utf-8", layout_buf.p, layout_buf.len,
		    retry_after);
	admin_wipe_field(data, "client_secret");
	admin_wipe_field(data, "curl");
	json_decref(data);
	/* pages may have shown a one-time credential: leave nothing of it behind */
	if (page_buf.p != NULL)
		sodium_memzero(page_buf.p, page_buf.len);
	if (layout_buf.p != NULL)
		sodium_memzero(layout_buf.p, layout_buf.len);
}

static void
admin_page(struct areq *r, int status, const char *name, const char *nav, const char *title,
    json_t *data)
{
	admin_page_raw(r, status, name, nav, title, data, NULL, 0, 0);
}

static void
admin_error(struct areq *r, int status, const char *title, const char *message)
{
	admin_page(r, status, "error", NULL, title, json_pack("{ss ss si}", "heading", title,
	    "message", message, "status", status));
}

/* ---------- daemon calls ---------- */

#define CALL_SESSION	1	/* add the session cookie */
#define CALL_CSRF	2	/* and the form's csrf token */
#define CALL_SLOW	4	/* the daemon asks the upstream: wait longer */

/* One verb; req is consumed.  NULL when the daemon cannot be reached. */
static json_t *
admin_call(struct areq *r, int flags, json_t *req)
{
	json_t		*reply = NULL;
	const char	*csrf;

	if (req == NULL)
		return NULL;
	if ((flags & CALL_SESSION) && r->sid[0] != '\0')
		json_object_set_new(req, "session", json_string(r->sid));
	if ((flags & CALL_CSRF) && (csrf = admin_arg(&r->form, "csrf")) != NULL)
		json_object_set_new(req, "csrf", json_string(csrf));
	if (worker_daemon_call(req, &reply, (flags & CALL_SLOW) ? ADMIN_SLOW_TIMEOUT_MS :
	    ADMIN_TIMEOUT_MS) == -1)
		reply = NULL;
	admin_wipe_field(req, "password");
	admin_wipe_field(req, "old_password");
	admin_wipe_field(req, "new_password");
	admin_wipe_field(req, "secret");
	json_decref(req);
	return reply;
}

static int
admin_ok(json_t *reply)
{
	return json_is_true(json_object_get(reply, "ok"));
}

static const char *
admin_errcode(json_t *reply)
{
	const char *e = admin_str(reply, "error");

	return e != NULL ? e : "server_error";
}

/* The daemon's message, or a fallback. */
static const char *
admin_errmsg(json_t *reply, const char *fallback)
{
	const char *m = admin_str(reply, "message");

	return m != NULL && *m != '\0' ? m : fallback;
}

/* HTTP status for a daemon error code shown next to a form. */
static int
admin_form_status(const char *code)
{
	if (strcmp(code, "conflict") == 0)
		return 409;
	if (strcmp(code, "policy") == 0 || strcmp(code, "verification_failed") == 0)
		return 422;
	if (strcmp(code, "forbidden") == 0 || strcmp(code, "csrf") == 0)
		return 403;
	if (strcmp(code, "not_found") == 0)
		return 404;
	if (strcmp(code, "rate_limited") == 0)
		return 429;
	return 400;
}

/*
 * Answer a failed call with the page that fits: the login page for an ended session, 403 for
 * a refused role or CSRF token, 404, 503 when the daemon is away.  reply is consumed.
 */
static void
admin_fail(struct areq *r, json_t *reply)
{
	const char	*code = admin_errcode(reply);
	char		 msg[256];

	if (reply == NULL) {
		admin_error(r, 503, "Service unavailable",
		    "The flowgate daemon does not answer. Try again in a moment.");
		return;
	}
	if (strcmp(code, "unauthenticated") == 0) {
		admin_set_cookie(r, NULL);
		admin_redirect(r, "/admin/login?done=expired");
	} else if (strcmp(code, "forbidden") == 0) {
		snprintf(msg, sizeof(msg), "Your role (%s) may not do this.",
		    r->role != NULL ? r->role : "none");
		admin_page(r, 403, "error", NULL, "Not allowed", json_pack("{ss ss si ss}",
		    "heading", "Not allowed", "message", msg, "status", 403, "detail",
		    admin_errmsg(reply, "")));
	} else if (strcmp(code, "csrf") == 0)
		admin_error(r, 403, "Form expired",
		    "The form's security token is missing or wrong. Go back, reload the page and "
		    "try again.");
	else if (strcmp(code, "not_found") == 0)
		admin_error(r, 404, "Not found", admin_errmsg(reply, "No such item."));
	else if (strcmp(code, "unknown_verb") == 0)
		admin_error(r, 501, "Not available",
		    "The flowgate daemon does not support this yet (unknown verb).");
	else if (strcmp(code, "rate_limited") == 0)
		admin_error(r, 429, "Too many requests", admin_errmsg(reply, "Try again later."));
	else
		admin_error(r, admin_form_status(code) == 400 && strcmp(code, "bad_request") != 0 ?
		    500 : admin_form_status(code), "Something went wrong",
		    admin_errmsg(reply, code));
	json_decref(reply);
}

/* The policy document and its wizard, fetched from the daemon and kept for a minute. */
static int
admin_policy(struct areq *r)
{
	json_t	*reply, *doc;
	char	 err[160];

	if (policy != NULL && admin_mono_ms() - policy_at < ADMIN_POLICY_TTL_MS)
		return 0;
	reply = admin_call(r, 0, json_pack("{ss}", "verb", "policy"));
	if (!admin_ok(reply) || !json_is_object(doc = json_object_get(reply, "policy"))) {
		json_decref(reply);
		return policy != NULL ? 0 : -1;		/* keep a stale one rather than none */
	}
	if (policy != NULL && json_equal(policy, doc)) {
		policy_at = admin_mono_ms();
		json_decref(reply);
		return 0;
	}
	json_incref(doc);
	json_decref(reply);
	if (wizard_build(&wiz, doc, err, sizeof(err)) == -1) {
		fg_log_warn("policy document unusable for the wizard: %s", err);
		json_decref(doc);
		if (policy != NULL)
			wizard_build(&wiz, policy, err, sizeof(err));
		return policy != NULL ? 0 : -1;
	}
	json_decref(policy);
	policy = doc;
	policy_at = admin_mono_ms();
	return 0;
}

/* ---------- login and logout ---------- */

static void
admin_login_page(struct areq *r, int status, const char *error, long retry_after)
{
	json_t		*data = json_object();
	const char	*user = admin_arg(&r->form, "user");

	json_object_set_new(data, "flash_in_page", json_true());
	if (error != NULL)
		json_object_set_new(data, "error", json_string(error));
	if (user != NULL)
		json_object_set_new(data, "user", json_string(user));
	if (retry_after > 0)
		admin_header(r, "Retry-After: %ld\r\n", retry_after);
	admin_page_raw(r, status, "login", NULL, "Log in", data, NULL, 0, 0);
}

static void
page_login(struct areq *r)
{
	json_t	*reply;

	if (r->sid[0] != '\0') {
		reply = admin_call(r, CALL_SESSION, json_pack("{ss}", "verb", "session"));
		if (admin_ok(reply)) {
			json_decref(reply);
			admin_redirect(r, "/admin/");
			return;
		}
		json_decref(reply);
	}
	admin_login_page(r, 200, NULL, 0);
}

static void
do_login(struct areq *r)
{
	const char	*user = admin_arg(&r->form, "user");
	const char	*password = admin_arg(&r->form, "password");
	const char	*code, *sid;
	json_t		*reply, *ra;
	char		 msg[96];
	long		 wait;

	if (user == NULL || password == NULL) {
		admin_login_page(r, 400, "Enter your user name and password.", 0);
		return;
	}
	reply = admin_call(r, 0, json_pack("{ss ss ss ss}", "verb", "login", "user", user,
	    "password", password, "remote", r->remote));
	if (reply == NULL) {
		admin_login_page(r, 503, "The flowgate daemon does not answer. Try again in a "
		    "moment.", 0);
		return;
	}
	if (admin_ok(reply) && (sid = admin_str(reply, "session")) != NULL &&
	    strlen(sid) <= ADMIN_SID_MAX && strcspn(sid, ";, \t\r\n\"\\") == strlen(sid)) {
		admin_set_cookie(r, sid);
		admin_wipe_field(reply, "session");
		json_decref(reply);
		admin_redirect(r, "/admin/");
		return;
	}
	code = admin_errcode(reply);
	if (strcmp(code, "rate_limited") == 0) {
		ra = json_object_get(reply, "retry_after");
		wait = json_is_integer(ra) && json_integer_value(ra) > 0 &&
		    json_integer_value(ra) < 86400 ? (long)json_integer_value(ra) : 60;
		snprintf(msg, sizeof(msg), "Too many attempts, try again in %ld s.", wait);
		admin_login_page(r, 429, msg, wait);
	} else if (strcmp(code, "login_failed") == 0 || strcmp(code, "bad_request") == 0)
		admin_login_page(r, 403, "Wrong user name or password.", 0);
	else if (strcmp(code, "unknown_verb") == 0)
		admin_login_page(r, 501, "This flowgate daemon does not support web logins yet.",
		    0);
	else
		admin_login_page(r, 500, "Login failed for a reason on our side; see the daemon "
		    "log.", 0);
	json_decref(reply);
}

static void
do_logout(struct areq *r)
{
	json_decref(admin_call(r, CALL_SESSION, json_pack("{ss}", "verb", "logout")));
	admin_set_cookie(r, NULL);
	admin_redirect(r, "/admin/login?done=logged_out");
}

/* ---------- dashboard ---------- */

static void
page_dashboard(struct areq *r)
{
	static const char *const up_times[] = { "checked_at", NULL };
	static const char *const rec_times[] = { "ts", NULL };
	json_t		*reply, *data, *iss, *e, *conns, *c, *recs;
	struct tpl_raw	 raw[1];
	char		 span[32];
	size_t		 i;
	json_int_t	 total;

	reply = admin_call(r, CALL_SESSION, json_pack("{ss}", "verb", "dashboard"));
	if (!admin_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	data = json_object();
	buf_reset(&frag_buf);
	e = json_object_get(reply, "issuance");
	iss = json_object_get(e, "apps");
	json_object_set_new(data, "issuance_summary", json_pack("{sO* sO* si sb}", "active",
	    json_object_get(e, "active"), "total", json_object_get(e, "total"), "shown",
	    (int)json_array_size(iss), "partial", json_integer_value(json_object_get(e,
	    "active")) > (json_int_t)json_array_size(iss)));
	buf_adds(&frag_buf, "<ul class=\"charts\">");
	json_array_foreach(iss, i, e) {
		const char	*app = admin_str(e, "app");
		json_t		*hours = json_object_get(e, "hours"), *h;
		size_t		 k;

		if (app == NULL || !json_is_array(hours))
			continue;
		total = 0;
		json_array_foreach(hours, k, h)
			total += json_integer_value(h);
		buf_adds(&frag_buf, "<li><a class=\"chart-app\" href=\"/admin/apps/");
		admin_url_add(&frag_buf, app);
		buf_adds(&frag_buf, "\">");
		buf_adds_html(&frag_buf, app);
		buf_adds(&frag_buf, "</a>");
		svg_hours_chart(&frag_buf, hours, app);
		buf_addf(&frag_buf, "<span class=\"chart-total\" data-app-total=\"");
		buf_adds_html(&frag_buf, app);
		buf_addf(&frag_buf, "\">%lld</span></li>", (long long)total);
	}
	buf_adds(&frag_buf, "</ul>");
	json_object_set_new(data, "has_issuance", json_boolean(json_array_size(iss) > 0));
	if (json_is_object(json_object_get(reply, "upstream"))) {
		e = json_deep_copy(json_object_get(reply, "upstream"));
		admin_times(e, up_times);
		json_object_set_new(e, "is_ok", json_boolean(admin_str(e, "status") != NULL &&
		    strcmp(admin_str(e, "status"), "ok") == 0));
		json_object_set_new(data, "upstream", e);
	}
	e = json_object_get(reply, "connections");
	conns = json_deep_copy(json_object_get(e, "oldest"));
	json_object_set_new(data, "connections_summary", json_pack("{sO* sO* sO* si sb}", "count",
	    json_object_get(e, "count"), "warn", json_object_get(e, "warn"), "stopped",
	    json_object_get(e, "stopped"), "shown", (int)json_array_size(conns), "partial",
	    json_integer_value(json_object_get(e, "count")) > (json_int_t)json_array_size(conns)));
	json_array_foreach(conns, i, c) {
		json_int_t age = json_integer_value(json_object_get(c, "secret_age_s"));

		admin_fmt_span(span, sizeof(span), age);
		json_object_set_new(c, "secret_age_text", json_string(span));
		if (json_object_get(c, "secret_warn") == NULL)
			json_object_set_new(c, "secret_warn", json_boolean(age > ADMIN_SECRET_WARN_S));
	}
	json_object_set_new(data, "connections", conns != NULL ? conns : json_array());
	recs = json_deep_copy(json_object_get(reply, "refusals"));
	json_array_foreach(recs, i, e)
		admin_times(e, rec_times);
	json_object_set_new(data, "refusals", recs != NULL ? recs : json_array());
	if (json_is_object(json_object_get(reply, "chain"))) {
		static const char *const chain_times[] = { "checked_at", NULL };

		e = json_deep_copy(json_object_get(reply, "chain"));
		admin_times(e, chain_times);
		json_object_set_new(data, "chain", e);
	}
	json_decref(reply);
	raw[0].name = "issuance";
	raw[0].html = buf_str(&frag_buf);
	admin_page_raw(r, 200, "dashboard", "dashboard", "Dashboard", data, raw, 1, 0);
}

/* ---------- wizard ---------- */

/* The wizard URL for the answers along path[0..n) (the questions asked and answered). */
static void
admin_wizard_url(struct buf *b, const int *path, int n)
{
	int	i;

	buf_adds(b, "/admin/wizard");
	for (i = 0; i < n; i++) {
		const struct wiz_node *nd = &wiz.nodes[path[i]];

		buf_adds(b, i == 0 ? "?" : "&");
		admin_url_add(b, wizard_question_id(&wiz, nd->question));
		buf_adds(b, nd->yes == path[i + 1] ? "=yes" : "=no");
	}
}

/* The link that opens the app form pre-filled for a wizard result. */
static void
admin_register_url(struct buf *b, json_t *row, const int *answers)
{
	json_t		*flow = json_object_get(json_object_get(policy, "flows"),
	    admin_str(row, "flow"));
	int		 q = wizard_question_index(&wiz, "can_redirect");
	const char	*id = admin_str(row, "id");

	buf_adds(b, "/admin/apps/new?flow=");
	admin_url_add(b, admin_str(row, "flow") != NULL ? admin_str(row, "flow") : "");
	buf_adds(b, "&kind=");
	admin_url_add(b, admin_str(row, "kind") != NULL ? admin_str(row, "kind") : "");
	if (json_is_true(json_object_get(row, "internal")) ||
	    json_is_true(json_object_get(flow, "requires_internal")))
		buf_adds(b, "&internal=yes");
	if (json_is_true(json_object_get(flow, "requires_no_redirect")) ||
	    (q != -1 && answers[q] == 0))
		buf_adds(b, "&can_redirect=no");
	else
		buf_adds(b, "&can_redirect=yes");
	buf_adds(b, "&from=");
	admin_url_add(b, id != NULL ? id : "fallback");
}

static void
page_wizard(struct areq *r)
{
	int		 answers[WIZ_QUESTIONS_MAX], path[WIZ_QUESTIONS_MAX + 2], npath, done, q, i;
	const char	*v;
	json_t		*data, *steps, *hidden, *row, *flow, *result, *tree, *qtexts;
	struct tpl_raw	 raw[1];
	const struct wiz_node *cur;
	char		*treestr;

	if (admin_policy(r) == -1) {
		admin_error(r, 503, "Policy unavailable",
		    "The decision table could not be read from the flowgate daemon.");
		return;
	}
	for (q = 0; q < WIZ_QUESTIONS_MAX; q++)
		answers[q] = -1;
	for (q = 0; q < wiz.nquestions; q++) {
		if ((v = admin_arg(&r->qs, wizard_question_id(&wiz, q))) == NULL)
			continue;
		if (strcmp(v, "yes") == 0)
			answers[q] = 1;
		else if (strcmp(v, "no") == 0)
			answers[q] = 0;
		else {
			admin_error(r, 400, "Bad answer", "Answers are yes or no.");
			return;
		}
	}
	done = wizard_walk(&wiz, answers, path, &npath);
	data = json_object();
	steps = json_array();
	hidden = json_array();
	for (i = 0; i + 1 < npath; i++) {
		const struct wiz_node *nd = &wiz.nodes[path[i]];
		int yes = nd->yes == path[i + 1];

		buf_reset(&frag2_buf);
		admin_wizard_url(&frag2_buf, path, i);
		json_array_append_new(steps, json_pack("{ss ss ss si}", "text",
		    wizard_question_text(&wiz, nd->question), "answer", yes ? "Yes" : "No",
		    "change_url", buf_str(&frag2_buf), "n", i + 1));
		json_array_append_new(hidden, json_pack("{ss ss}", "name",
		    wizard_question_id(&wiz, nd->question), "value", yes ? "yes" : "no"));
	}
	json_object_set_new(data, "steps", steps);
	json_object_set_new(data, "hidden", hidden);
	cur = &wiz.nodes[path[npath - 1]];
	if (!done) {
		json_object_set_new(data, "question", json_pack("{ss ss si}", "id",
		    wizard_question_id(&wiz, cur->question), "text",
		    wizard_question_text(&wiz, cur->question), "n", npath));
		if (npath > 1) {
			buf_reset(&frag2_buf);
			admin_wizard_url(&frag2_buf, path, npath - 2);
			json_object_set_new(data, "back_url", json_string(buf_str(&frag2_buf)));
		}
	} else if ((row = wizard_row(&wiz, cur->row)) != NULL) {
		flow = json_object_get(json_object_get(policy, "flows"), admin_str(row, "flow"));
		buf_reset(&frag2_buf);
		admin_register_url(&frag2_buf, row, answers);
		result = json_pack("{ss ss ss* ss* sO* sO* sb ss ss}",
		    "row", wizard_row_id(&wiz, cur->row),
		    "flow", admin_str(row, "flow") != NULL ? admin_str(row, "flow") : "",
		    "flow_label", admin_str(flow, "label"),
		    "scenario", admin_str(row, "scenario"),
		    "notes", json_object_get(row, "notes"),
		    "warnings", json_object_get(row, "warnings"),
		    "recommended", json_is_true(json_object_get(row, "recommended")),
		    "register_url", buf_str(&frag2_buf),
		    "kind", admin_str(row, "kind") != NULL ? admin_str(row, "kind") : "");
		if (result != NULL && admin_str(flow, "summary") != NULL)
			json_object_set_new(result, "summary", json_string(admin_str(flow,
			    "summary")));
		if (result != NULL) {
			json_object_set_new(result, "has_notes", json_boolean(json_array_size(
			    json_object_get(row, "notes")) > 0));
			json_object_set_new(result, "has_warnings", json_boolean(json_array_size(
			    json_object_get(row, "warnings")) > 0));
		}
		if (result != NULL && json_is_true(json_object_get(flow, "requires_justification")))
			json_object_set_new(result, "needs_justification", json_true());
		json_object_set_new(data, "result", result);
		if (npath > 1) {
			buf_reset(&frag2_buf);
			admin_wizard_url(&frag2_buf, path, npath - 2);
			json_object_set_new(data, "back_url", json_string(buf_str(&frag2_buf)));
		}
	} else
		json_object_set_new(data, "no_row", json_true());

	/* the decision table itself, with the row taken marked */
	{
		json_t	*rows = json_array(), *e;
		size_t	 k;

		json_array_foreach(wiz.rows, k, e) {
			flow = json_object_get(json_object_get(policy, "flows"),
			    admin_str(e, "flow"));
			json_array_append_new(rows, json_pack("{ss* ss* ss* sb}", "scenario",
			    admin_str(e, "scenario"), "flow", admin_str(flow, "label"),
			    "id", admin_str(e, "id"), "taken",
			    done && cur->row == (int)k));
		}
		json_object_set_new(data, "table", rows);
	}
	tree = wizard_tree_json(&wiz, 0);
	qtexts = json_object();
	for (q = 0; q < wiz.nquestions; q++)
		json_object_set_new(qtexts, wizard_question_id(&wiz, q),
		    json_string(wizard_question_text(&wiz, q)));
	if ((treestr = json_dumps(tree, JSON_COMPACT)) != NULL) {
		json_object_set_new(data, "tree_json", json_string(treestr));
		free(treestr);
	}
	if ((treestr = json_dumps(qtexts, JSON_COMPACT)) != NULL) {
		json_object_set_new(data, "questions_json", json_string(treestr));
		free(treestr);
	}
	json_decref(tree);
	json_decref(qtexts);
	buf_reset(&frag_buf);
	svg_decision_tree(&frag_buf, &wiz, path, npath);
	raw[0].name = "tree_svg";
	raw[0].html = buf_str(&frag_buf);
	admin_page_raw(r, 200, "wizard", "wizard", done ? "Wizard: result" : "Wizard", data,
	    raw, 1, 0);
}

/* ---------- apps ---------- */

static const char *const app_times[] = { "created_at", "revoked_at", "last_used",
    "previous_valid_until", NULL };

/* One page of a list verb, from the page's ?after= or ?before= (a name). */
static json_t *
admin_list_call(struct areq *r, const char *verb)
{
	json_t		*req = json_pack("{ss si}", "verb", verb, "limit", ADMIN_LIST_PAGE);
	const char	*v;

	if ((v = admin_arg(&r->qs, "after")) != NULL)
		json_object_set_new(req, "after", json_string(v));
	else if ((v = admin_arg(&r->qs, "before")) != NULL)
		json_object_set_new(req, "before", json_string(v));
	return admin_call(r, CALL_SESSION, req);
}

/* base?key=name, in frag2_buf. */
static const char *
admin_list_url(const char *base, const char *key, const char *name)
{
	buf_reset(&frag2_buf);
	buf_addf(&frag2_buf, "%s?%s=", base, key);
	admin_url_add(&frag2_buf, name);
	return buf_str(&frag2_buf);
}

/*
 * The pager of a list page: Next after its last row and Previous before its first, where
 * rows lie that way (the daemon's "more" says so for the direction this page was asked in).
 */
static json_t *
admin_list_pager(struct areq *r, json_t *reply, const char *key, const char *base)
{
	json_t		*rows = json_object_get(reply, key), *pager = json_object();
	const char	*first = admin_str(json_array_get(rows, 0), "name");
	const char	*last = admin_str(json_array_get(rows, json_array_size(rows) - 1), "name");
	int		 back = admin_arg(&r->qs, "before") != NULL;
	int		 fwd = admin_arg(&r->qs, "after") != NULL;
	int		 more = json_is_true(json_object_get(reply, "more"));

	if (last != NULL && (back || more))
		json_object_set_new(pager, "next_url", json_string(admin_list_url(base, "after",
		    last)));
	if (first != NULL && (fwd || (back && more)))
		json_object_set_new(pager, "prev_url", json_string(admin_list_url(base, "before",
		    first)));
	if ((fwd || back) && json_object_size(pager) == 0)
		json_object_set_new(pager, "first_url", json_string(base));
	if (json_object_size(pager) == 0) {
		json_decref(pager);
		return json_null();
	}
	return pager;
}

static void
page_apps(struct areq *r)
{
	json_t	*reply, *apps, *a, *pager;
	size_t	 i;

	reply = admin_list_call(r, "app.list");
	if (!admin_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	apps = json_deep_copy(json_object_get(reply, "apps"));
	pager = admin_list_pager(r, reply, "apps", "/admin/apps");
	json_decref(reply);
	if (apps == NULL)
		apps = json_array();
	json_array_foreach(apps, i, a) {
		admin_times(a, app_times);
		/* ROPC registrations carry a warning badge wherever they are listed */
		json_object_set_new(a, "is_ropc", json_boolean(admin_str(a, "flow") != NULL &&
		    strcmp(admin_str(a, "flow"), "ropc") == 0));
	}
	admin_page(r, 200, "apps", "apps", "Apps", json_pack("{so sb so}", "apps", apps,
	    "has_apps", json_array_size(apps) > 0, "pager", pager));
}

/* Whether the policy says a flow sends users to a login page (and so needs a redirect URI). */
static int
admin_flow_redirects(const char *flow)
{
	json_t *fl;

	if (flow == NULL || policy == NULL)
		return 0;
	fl = json_object_get(json_object_get(policy, "flows"), flow);
	return json_is_true(json_object_get(fl, "requires_redirect"));
}

/* Every connection (up to ADMIN_LIST_ALL_MAX), a page at a time, as the form's choices. */
static void
admin_conn_choices(struct areq *r, json_t *conns, const char *conn)
{
	json_t		*reply, *c, *next = NULL;
	const char	*n;
	size_t		 i;
	int		 more;

	do {
		reply = admin_call(r, CALL_SESSION, next == NULL ? json_pack("{ss si}", "verb",
		    "connection.list", "limit", 1000) : json_pack("{ss si sO}", "verb",
		    "connection.list", "limit", 1000, "after", next));
		json_decref(next);
		next = NULL;
		json_array_foreach(admin_ok(reply) ? json_object_get(reply, "connections") : NULL,
		    i, c) {
			if ((n = admin_str(c, "name")) != NULL)
				json_array_append_new(conns, json_pack("{ss sb sb}", "name", n,
				    "selected", conn != NULL && strcmp(conn, n) == 0, "stopped",
				    json_is_true(json_object_get(c, "stopped"))));
		}
		more = admin_ok(reply) && json_is_true(json_object_get(reply, "more")) &&
		    json_array_size(conns) < ADMIN_LIST_ALL_MAX;
		if (more)
			next = json_incref(json_object_get(reply, "next"));
		json_decref(reply);
	} while (more && next != NULL);
	/* the only connection is the obvious choice */
	if (conn == NULL && json_array_size(conns) == 1)
		json_object_set_new(json_array_get(conns, 0), "selected", json_true());
}

/*
 * The app form's data: flows from the policy, connections from the daemon, and the values
 * to show (from the query string for a new form, from the refused POST otherwise).
 */
static json_t *
admin_app_form(struct areq *r, const struct form *f, int fresh)
{
	json_t		*data = json_object(), *flows = json_array(), *conns = json_array();
	json_t		*scopes = json_array(), *kinds, *fl, *c, *limited, *rowobj = NULL;
	const char	*flow = admin_arg(f, "flow"), *kind = admin_arg(f, "kind");
	const char	*conn = admin_arg(f, "connection"), *from = admin_arg(f, "from"), *id;
	const char	*cr = admin_arg(f, "can_redirect"), *scopes_q = admin_arg(f, "scopes");
	size_t		 i, k;
	int		 any_scope = 0, checked;
	char		 field[40];

	if (admin_policy(r) == 0) {
		json_object_foreach(json_object_get(policy, "flows"), id, fl) {
			json_array_append_new(flows, json_pack("{ss ss* ss* sb}", "id", id,
			    "label", admin_str(fl, "label"), "summary", admin_str(fl, "summary"),
			    "selected", flow != NULL && strcmp(flow, id) == 0));
		}
		if (from != NULL) {
			json_array_foreach(wiz.rows, i, c) {
				if (admin_str(c, "id") != NULL && strcmp(admin_str(c, "id"), from) == 0)
					rowobj = c;
			}
			if (rowobj == NULL && strcmp(from, "fallback") == 0)
				rowobj = wiz.fallback;
		}
	}
	json_object_set_new(data, "flows", flows);
	if (rowobj != NULL)
		json_object_set_new(data, "from", json_pack("{ss* sO*}", "scenario",
		    admin_str(rowobj, "scenario") != NULL ? admin_str(rowobj, "scenario") :
		    "no backend that keeps a secret", "notes", json_object_get(rowobj, "notes")));
	if (from != NULL)
		json_object_set_new(data, "from_id", json_string(from));
	admin_conn_choices(r, conns, conn);
	json_object_set_new(data, "connections", conns);
	json_object_set_new(data, "has_connections", json_boolean(json_array_size(conns) > 0));
	limited = json_object_get(policy, "limited_scopes");
	for (k = 0; k < sizeof(admin_scopes) / sizeof(admin_scopes[0]); k++) {
		int lim = 0;

		json_array_foreach(limited, i, c) {
			if (json_is_string(c) && strcmp(json_string_value(c), admin_scopes[k].id) == 0)
				lim = 1;
		}
		snprintf(field, sizeof(field), "scope_%s", admin_scopes[k].id);
		if (fresh && scopes_q != NULL) {
			const char *p = strstr(scopes_q, admin_scopes[k].id);
			size_t n = strlen(admin_scopes[k].id);

			checked = p != NULL && (p == scopes_q || p[-1] == ' ') &&
			    (p[n] == '\0' || p[n] == ' ');
		} else if (fresh)
			checked = lim;		/* a new form starts with the limited scopes */
		else
			checked = admin_checked(f, field);
		any_scope |= checked;
		json_array_append_new(scopes, json_pack("{ss ss ss sb sb}", "id", admin_scopes[k].id,
		    "field", field, "help", admin_scopes[k].help, "limited", lim, "checked",
		    checked));
	}
	(void)any_scope;
	json_object_set_new(data, "scopes", scopes);
	kinds = json_pack("[{ss ss ss sb} {ss ss ss sb}]",
	    "id", "backend", "label", "Backend (no user; the token stays on servers)",
	    "field", "kind_backend", "checked", kind != NULL && strcmp(kind, "backend") == 0,
	    "id", "user_facing", "label", "User-facing (a user is present; tokens may reach a "
	    "browser)", "field", "kind_user_facing", "checked",
	    kind != NULL && strcmp(kind, "user_facing") == 0);
	json_object_set_new(data, "kinds", kinds);
	json_object_set_new(data, "internal", json_boolean(fresh ?
	    admin_checked(f, "internal") : admin_checked(f, "internal")));
	json_object_set_new(data, "can_redirect", json_boolean(fresh ?
	    (cr == NULL || strcmp(cr, "no") != 0) : admin_checked(f, "can_redirect")));
	{
		static const char *const keep[] = { "name", "justification", "redirect_uri",
		    "return_url", "proxy_methods", "proxy_paths", NULL };

		for (k = 0; keep[k] != NULL; k++) {
			if (admin_arg(f, keep[k]) != NULL)
				json_object_set_new(data, keep[k], json_string(admin_arg(f,
				    keep[k])));
		}
	}
	/* a new form for a sign-in flow suggests flowgate's own /callback */
	if (fresh && json_object_get(data, "redirect_uri") == NULL && admin_flow_redirects(flow)) {
		char uri[300];

		snprintf(uri, sizeof(uri), "%s://%s/callback", r->https ? "https" : "http", r->host);
		json_object_set_new(data, "redirect_uri", json_string(uri));
	}
	json_object_set_new(data, "user_open", json_boolean(admin_flow_redirects(flow) ||
	    admin_arg(f, "return_url") != NULL));
	json_object_set_new(data, "proxy_open", json_boolean(admin_arg(f, "proxy_methods") !=
	    NULL || admin_arg(f, "proxy_paths") != NULL));
	return data;
}

static void
page_app_new(struct areq *r)
{
	admin_page(r, 200, "app_new", "apps", "Register an app", admin_app_form(r, &r->qs, 1));
}

/* Which form field a policy rule is about, so its reason is shown next to that field. */
static const char *
admin_rule_field(const char *rule)
{
	static const struct {
		const char *rule, *field;
	} map[] = {
		{ "user_facing_never_client_credentials", "kind" },
		{ "client_credentials_backend_only", "kind" },
		{ "user_flow_needs_user_facing", "kind" },
		{ "ropc_requires_internal_no_redirect", "internal" },
		{ "redirect_required", "can_redirect" },
		{ "ropc_requires_justification", "justification" },
		{ "browser_tokens_limited", "scopes" },
		{ "scopes_required", "scopes" },
		{ "unknown_flow", "flow" },
		{ "redirect_uri_required", "redirect_uri" },
	};
	size_t	i;

	for (i = 0; rule != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(map[i].rule, rule) == 0)
			return map[i].field;
	}
	return NULL;
}

/* Re-show a form after the daemon refused it, the reason at the top and next to its field. */
static void
admin_form_error(json_t *data, json_t *reply, const char *fallback_field)
{
	const char	*code = admin_errcode(reply), *rule = admin_str(reply, "rule");
	const char	*field = admin_rule_field(rule), *text = NULL;
	char		 k[64];

	if (rule != NULL)
		text = admin_str(json_object_get(policy, "rules"), rule);
	if (text == NULL)
		text = admin_errmsg(reply, "The request was refused.");
	json_object_set_new(data, "error", json_string(text));
	json_object_set_new(data, "error_code", json_string(code));
	if (rule != NULL)
		json_object_set_new(data, "error_rule", json_string(rule));
	if (field == NULL && strcmp(code, "conflict") == 0)
		field = "name";
	if (field == NULL && strstr(text, "redirect_uri") != NULL)
		field = "redirect_uri";
	if (field == NULL)
		field = fallback_field;
	if (field != NULL) {
		snprintf(k, sizeof(k), "err_%s", field);
		json_object_set_new(data, k, json_string(text));
	}
}

/* The curl command that fetches a token with a fresh credential. */
static void
admin_curl(struct areq *r, struct buf *b, const char *id, const char *secret,
    const char *flow, const char *scopes)
{
	const char	*scope = "streams";

	if (scopes != NULL && strstr(scopes, "streams") == NULL) {
		static char first[64];

		snprintf(first, sizeof(first), "%.*s", (int)strcspn(scopes, " "), scopes);
		scope = first;
	}
	buf_addf(b, "curl -u %s:%s", id, secret);
	if (flow != NULL && strcmp(flow, "ropc") == 0)
		buf_addf(b, " -d grant_type=password -d username=USER -d password=PASSWORD");
	else
		buf_adds(b, " -d grant_type=client_credentials");
	buf_addf(b, " -d scope=%s %s://%s/oauth2/token", scope, r->https ? "https" : "http",
	    r->host);
}

/* The one page that ever shows an app credential: the answer to the POST that made it. */
static void
admin_secret_page(struct areq *r, json_t *reply, const char *name, const char *what)
{
	const char	*id = admin_str(reply, "client_id"), *secret = admin_str(reply,
	    "client_secret"), *flow = admin_str(reply, "flow");
	json_t		*data;

	if (id == NULL || secret == NULL) {
		admin_error(r, 500, "Unexpected answer", "The daemon sent no credential.");
		return;
	}
	buf_reset(&frag2_buf);
	admin_curl(r, &frag2_buf, id, secret, flow, admin_str(reply, "scopes"));
	data = json_pack("{ss ss ss ss ss ss* ss*}", "name", name, "client_id", id,
	    "client_secret", secret, "curl", buf_str(&frag2_buf), "what", what,
	    "flow", flow, "scopes", admin_str(reply, "scopes"));
	if (json_is_integer(json_object_get(reply, "previous_valid_until"))) {
		static const char *const t[] = { "previous_valid_until", NULL };

		json_object_set(data, "previous_valid_until",
		    json_object_get(reply, "previous_valid_until"));
		admin_times(data, t);
	}
	if (flow != NULL && strcmp(flow, "client_credentials") != 0 && strcmp(flow, "ropc") != 0) {
		char url[400];

		snprintf(url, sizeof(url), "%s://%s/login/%s", r->https ? "https" : "http", r->host,
		    name);
		json_object_set_new(data, "user_flow", json_true());
		json_object_set_new(data, "login_url", json_string(url));
	}
	admin_page(r, 201, "app_secret", "apps", "App credential", data);
	sodium_memzero(frag2_buf.p, frag2_buf.len);
}

/* Space-separated scopes from the scope_* checkboxes. */
static void
admin_form_scopes(const struct form *f, char *out, size_t n)
{
	char	field[40];
	size_t	k, len = 0;

	out[0] = '\0';
	for (k = 0; k < sizeof(admin_scopes) / sizeof(admin_scopes[0]); k++) {
		snprintf(field, sizeof(field), "scope_%s", admin_scopes[k].id);
		if (admin_checked(f, field))
			len += (size_t)snprintf(out + len, n - len, "%s%s", len ? " " : "",
			    admin_scopes[k].id);
	}
}

static void
do_app_add(struct areq *r)
{
	const char	*name = admin_arg(&r->form, "name"), *flow = admin_arg(&r->form, "flow");
	const char	*conn = admin_arg(&r->form, "connection");
	const char	*kind = admin_arg(&r->form, "kind");
	const char	*just = admin_arg(&r->form, "justification");
	char		 scopes[256];
	json_t		*req, *reply, *data;

	admin_form_scopes(&r->form, scopes, sizeof(scopes));
	req = json_pack("{ss ss ss ss ss ss sb sb}", "verb", "app.add",
	    "name", name != NULL ? name : "", "flow", flow != NULL ? flow : "",
	    "connection", conn != NULL ? conn : "", "scopes", scopes,
	    "kind", kind != NULL ? kind : "",
	    "internal", admin_checked(&r->form, "internal"),
	    "can_redirect", admin_checked(&r->form, "can_redirect"));
	if (req != NULL && just != NULL)
		json_object_set_new(req, "justification", json_string(just));
	admin_policy(r);
	if (req != NULL && admin_flow_redirects(flow)) {
		/* sign-in fields only for the flows that sign users in */
		if (admin_arg(&r->form, "redirect_uri") != NULL)
			json_object_set_new(req, "redirect_uri",
			    json_string(admin_arg(&r->form, "redirect_uri")));
		if (admin_arg(&r->form, "return_url") != NULL)
			json_object_set_new(req, "return_url",
			    json_string(admin_arg(&r->form, "return_url")));
	}
	if (req != NULL && admin_arg(&r->form, "proxy_methods") != NULL)
		json_object_set_new(req, "proxy_methods",
		    json_string(admin_arg(&r->form, "proxy_methods")));
	if (req != NULL && admin_arg(&r->form, "proxy_paths") != NULL)
		json_object_set_new(req, "proxy_paths", json_string(admin_arg(&r->form, "proxy_paths")));
	reply = admin_call(r, CALL_SESSION | CALL_CSRF, req);
	if (admin_ok(reply)) {
		admin_secret_page(r, reply, name != NULL ? name : "", "created");
		admin_wipe_field(reply, "client_secret");
		json_decref(reply);
		return;
	}
	if (reply == NULL || strcmp(admin_errcode(reply), "unauthenticated") == 0 ||
	    strcmp(admin_errcode(reply), "csrf") == 0 ||
	    strcmp(admin_errcode(reply), "forbidden") == 0 ||
	    strcmp(admin_errcode(reply), "unknown_verb") == 0) {
		admin_fail(r, reply);
		return;
	}
	data = admin_app_form(r, &r->form, 0);
	admin_form_error(data, reply, NULL);
	if (strcmp(admin_errcode(reply), "conflict") == 0 && name != NULL &&
	    admin_name_ok(name, strlen(name)))
		json_object_set_new(data, "name_taken", json_string(name));
	admin_page(r, admin_form_status(admin_errcode(reply)), "app_new", "apps",
	    "Register an app", data);
	json_decref(reply);
}

/* GET /apps/NAME: details, edit scopes, rotate the credential, revoke. */
static void
admin_app_page(struct areq *r, int status, json_t *extra)
{
	json_t		*reply, *app, *scopes, *data, *limited, *c;
	const char	*have;
	char		 field[40];
	size_t		 k, i;

	reply = admin_call(r, CALL_SESSION, json_pack("{ss ss}", "verb", "app.show", "name",
	    r->name));
	if (!admin_ok(reply)) {
		json_decref(extra);
		admin_fail(r, reply);
		return;
	}
	app = json_deep_copy(json_object_get(reply, "app"));
	json_decref(reply);
	if (app == NULL)
		app = json_object();
	admin_times(app, app_times);
	admin_policy(r);
	limited = json_object_get(policy, "limited_scopes");
	have = admin_str(app, "scopes");
	scopes = json_array();
	for (k = 0; k < sizeof(admin_scopes) / sizeof(admin_scopes[0]); k++) {
		const char *p = have != NULL ? strstr(have, admin_scopes[k].id) : NULL;
		size_t n = strlen(admin_scopes[k].id);
		int lim = 0;

		json_array_foreach(limited, i, c) {
			if (json_is_string(c) && strcmp(json_string_value(c), admin_scopes[k].id) == 0)
				lim = 1;
		}
		snprintf(field, sizeof(field), "scope_%s", admin_scopes[k].id);
		json_array_append_new(scopes, json_pack("{ss ss ss sb sb}", "id", admin_scopes[k].id,
		    "field", field, "help", admin_scopes[k].help, "limited", lim, "checked",
		    p != NULL && (p == have || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ')));
	}
	json_object_set_new(app, "is_ropc", json_boolean(admin_str(app, "flow") != NULL &&
	    strcmp(admin_str(app, "flow"), "ropc") == 0));
	if (json_is_object(json_object_get(json_object_get(policy, "flows"),
	    admin_str(app, "flow"))))
		json_object_set_new(app, "flow_label", json_string(admin_str(json_object_get(
		    json_object_get(policy, "flows"), admin_str(app, "flow")), "label")));
	data = extra != NULL ? extra : json_object();
	json_object_set_new(data, "app", app);
	json_object_set_new(data, "scopes", scopes);
	json_object_set_new(data, "revoked", json_boolean(json_is_integer(json_object_get(app,
	    "revoked_at")) && json_integer_value(json_object_get(app, "revoked_at")) > 0));
	admin_page(r, status, "app_show", "apps", admin_str(app, "name") != NULL ?
	    admin_str(app, "name") : "App", data);
}

static void
page_app(struct areq *r)
{
	admin_app_page(r, 200, NULL);
}

static void
do_app_scopes(struct areq *r)
{
	char	 scopes[256], url[160];
	json_t	*reply, *data;

	admin_form_scopes(&r->form, scopes, sizeof(scopes));
	reply = admin_call(r, CALL_SESSION | CALL_CSRF, json_pack("{ss ss ss}", "verb",
	    "app.update", "name", r->name, "scopes", scopes));
	if (admin_ok(reply)) {
		json_decref(reply);
		snprintf(url, sizeof(url), "/admin/apps/%s?done=scopes_updated", r->name);
		admin_redirect(r, url);
		return;
	}
	if (reply == NULL || strcmp(admin_errcode(reply), "policy") != 0) {
		admin_fail(r, reply);
		return;
	}
	admin_policy(r);
	data = json_object();
	admin_form_error(data, reply, "scopes");
	json_decref(reply);
	admin_app_page(r, 422, data);
}

static void
do_app_rotate(struct areq *r)
{
	const char	*ov = admin_arg(&r->form, "overlap_s");
	json_t		*req, *reply, *show, *app;
	char		*end;
	long		 overlap = 86400;

	if (ov != NULL) {
		overlap = strtol(ov, &end, 10);
		if (*end != '\0' || overlap < 0 || overlap > 30L * 86400) {
			admin_error(r, 400, "Bad overlap", "Choose an overlap period from the list.");
			return;
		}
	}
	/* the rotation's answer names only the credential: flow and scopes come from app.show */
	show = admin_call(r, CALL_SESSION, json_pack("{ss ss}", "verb", "app.show", "name",
	    r->name));
	if (!admin_ok(show)) {
		admin_fail(r, show);
		return;
	}
	req = json_pack("{ss ss sI}", "verb", "app.rotate_secret", "name", r->name, "overlap_s",
	    (json_int_t)overlap);
	reply = admin_call(r, CALL_SESSION | CALL_CSRF, req);
	if (!admin_ok(reply)) {
		json_decref(show);
		admin_fail(r, reply);
		return;
	}
	app = json_object_get(show, "app");
	if (json_object_get(reply, "flow") == NULL && json_is_string(json_object_get(app, "flow")))
		json_object_set(reply, "flow", json_object_get(app, "flow"));
	if (json_object_get(reply, "scopes") == NULL &&
	    json_is_string(json_object_get(app, "scopes")))
		json_object_set(reply, "scopes", json_object_get(app, "scopes"));
	json_decref(show);
	admin_secret_page(r, reply, r->name, "rotated");
	admin_wipe_field(reply, "client_secret");
	json_decref(reply);
}

static void
do_app_revoke(struct areq *r)
{
	json_t	*reply;
	char	 url[160];

	reply = admin_call(r, CALL_SESSION | CALL_CSRF, json_pack("{ss ss}", "verb",
	    "app.revoke", "name", r->name));
	if (!admin_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	json_decref(reply);
	snprintf(url, sizeof(url), "/admin/apps/%s?done=app_revoked", r->name);
	admin_redirect(r, url);
}

/* ---------- connections ---------- */

static const char *const conn_times[] = { "created_at", "rotated_at", "previous_retires_at",
    NULL };

/* Display fields of a connection: ages as text, the warning colour when the daemon says so. */
static void
admin_conn_decorate(json_t *c)
{
	char		span[32];
	json_int_t	age = json_integer_value(json_object_get(c, "secret_age_s"));

	admin_times(c, conn_times);
	admin_fmt_span(span, sizeof(span), age);
	json_object_set_new(c, "secret_age_text", json_string(span));
	if (json_object_get(c, "secret_warn") == NULL)
		json_object_set_new(c, "secret_warn", json_boolean(age > ADMIN_SECRET_WARN_S));
	json_object_set_new(c, "has_previous", json_boolean(json_integer_value(
	    json_object_get(c, "previous_retires_at")) > 0));
}

/* One page of connections for base's page, with its pager; NULL and *reply_out on failure. */
static json_t *
admin_conn_list(struct areq *r, const char *base, json_t **reply_out, json_t **pager)
{
	json_t	*reply, *conns, *c;
	size_t	 i;

	reply = admin_list_call(r, "connection.list");
	if (!admin_ok(reply)) {
		*reply_out = reply;
		return NULL;
	}
	conns = json_deep_copy(json_object_get(reply, "connections"));
	*pager = admin_list_pager(r, reply, "connections", base);
	json_decref(reply);
	if (conns == NULL)
		conns = json_array();
	json_array_foreach(conns, i, c)
		admin_conn_decorate(c);
	*reply_out = NULL;
	return conns;
}

static void
page_connections(struct areq *r)
{
	json_t	*reply, *conns, *pager;

	if ((conns = admin_conn_list(r, "/admin/connections", &reply, &pager)) == NULL) {
		admin_fail(r, reply);
		return;
	}
	admin_page(r, 200, "connections", "connections", "Connections", json_pack("{so sb so}",
	    "connections", conns, "has_connections", json_array_size(conns) > 0, "pager", pager));
}

/* The connection form; the secret field is always empty: it is never echoed back. */
static json_t *
admin_conn_form(const struct form *f)
{
	static const char *const keys[] = { "name", "environment", "tenant", "client_id",
	    "token_url", "api_base", NULL };
	json_t			*data = json_object();
	size_t			 i;

	for (i = 0; keys[i] != NULL; i++) {
		if (admin_arg(f, keys[i]) != NULL)
			json_object_set_new(data, keys[i], json_string(admin_arg(f, keys[i])));
	}
	if (admin_arg(f, "token_url") != NULL || admin_arg(f, "api_base") != NULL)
		json_object_set_new(data, "advanced_open", json_true());
	return data;
}

static void
page_connection_new(struct areq *r)
{
	admin_page(r, 200, "connection_new", "connections", "Add a connection",
	    admin_conn_form(&r->qs));
}

static void
do_connection_add(struct areq *r)
{
	static const char *const opt[] = { "token_url", "api_base", NULL };
	const char	*name = admin_arg(&r->form, "name"), *secret = admin_arg(&r->form, "secret");
	json_t		*req, *reply, *data;
	char		 url[160];
	size_t		 i;

	req = json_pack("{ss ss ss ss ss ss}", "verb", "connection.add",
	    "name", name != NULL ? name : "",
	    "environment", admin_arg(&r->form, "environment") != NULL ?
	    admin_arg(&r->form, "environment") : "",
	    "tenant", admin_arg(&r->form, "tenant") != NULL ? admin_arg(&r->form, "tenant") : "",
	    "client_id", admin_arg(&r->form, "client_id") != NULL ?
	    admin_arg(&r->form, "client_id") : "",
	    "secret", secret != NULL ? secret : "");
	for (i = 0; req != NULL && opt[i] != NULL; i++) {
		if (admin_arg(&r->form, opt[i]) != NULL)
			json_object_set_new(req, opt[i], json_string(admin_arg(&r->form, opt[i])));
	}
	reply = admin_call(r, CALL_SESSION | CALL_CSRF | CALL_SLOW, req);
	if (admin_ok(reply) && name != NULL && admin_name_ok(name, strlen(name))) {
		json_decref(reply);
		snprintf(url, sizeof(url), "/admin/connections/%s?done=connection_added", name);
		admin_redirect(r, url);
		return;
	}
	if (reply == NULL || admin_ok(reply) ||
	    strcmp(admin_errcode(reply), "unauthenticated") == 0 ||
	    strcmp(admin_errcode(reply), "csrf") == 0 ||
	    strcmp(admin_errcode(reply), "forbidden") == 0 ||
	    strcmp(admin_errcode(reply), "unknown_verb") == 0) {
		if (admin_ok(reply)) {
			json_decref(reply);
			admin_redirect(r, "/admin/connections?done=connection_added");
			return;
		}
		admin_fail(r, reply);
		return;
	}
	data = admin_conn_form(&r->form);
	admin_form_error(data, reply, strcmp(admin_errcode(reply), "verification_failed") == 0 ?
	    "secret" : NULL);
	if (strcmp(admin_errcode(reply), "verification_failed") == 0)
		json_object_set_new(data, "err_secret", json_string("The upstream refused this "
		    "client id and secret. Check both and enter the secret again."));
	admin_page(r, admin_form_status(admin_errcode(reply)), "connection_new", "connections",
	    "Add a connection", data);
	json_decref(reply);
}

static json_t *
admin_conn_show(struct areq *r, json_t **reply_out)
{
	json_t	*reply, *c;

	reply = admin_call(r, CALL_SESSION, json_pack("{ss ss}", "verb", "connection.show",
	    "name", r->name));
	if (!admin_ok(reply)) {
		*reply_out = reply;
		return NULL;
	}
	c = json_deep_copy(json_object_get(reply, "connection"));
	json_decref(reply);
	if (c == NULL)
		c = json_object();
	admin_conn_decorate(c);
	*reply_out = NULL;
	return c;
}

static void
admin_connection_page(struct areq *r, int status, const char *tpl, json_t *extra)
{
	json_t	*reply, *c, *data;

	if ((c = admin_conn_show(r, &reply)) == NULL) {
		json_decref(extra);
		admin_fail(r, reply);
		return;
	}
	data = extra != NULL ? extra : json_object();
	json_object_set_new(data, "conn", c);
	admin_page(r, status, tpl, strcmp(tpl, "rotation_show") == 0 ? "rotation" :
	    "connections", r->name, data);
}

static void
page_connection(struct areq *r)
{
	admin_connection_page(r, 200, "connection_show", NULL);
}

static void
do_connection_test(struct areq *r)
{
	json_t	*reply, *data;

	reply = admin_call(r, CALL_SESSION | CALL_CSRF | CALL_SLOW, json_pack("{ss ss}", "verb",
	    "connection.test", "name", r->name));
	if (!admin_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	data = json_pack("{s{sb ss* sO*}}", "test", "ok", admin_str(reply, "outcome") != NULL &&
	    strcmp(admin_str(reply, "outcome"), "ok") == 0, "message", admin_str(reply,
	    "message"), "latency_ms", json_object_get(reply, "latency_ms"));
	json_decref(reply);
	admin_connection_page(r, 200, "connection_show", data);
}

static void
do_connection_remove(struct areq *r)
{
	json_t	*reply;

	reply = admin_call(r, CALL_SESSION | CALL_CSRF, json_pack("{ss ss}", "verb",
	    "connection.remove", "name", r->name));
	if (!admin_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	json_decref(reply);
	admin_redirect(r, "/admin/connections?done=connection_removed");
}

/* ---------- rotation (security) ---------- */

static void
page_rotation(struct areq *r)
{
	json_t	*reply, *conns, *pager;

	if ((conns = admin_conn_list(r, "/admin/rotation", &reply, &pager)) == NULL) {
		admin_fail(r, reply);
		return;
	}
	admin_page(r, 200, "rotation", "rotation", "Rotation", json_pack("{so sb so}",
	    "connections", conns, "has_connections", json_array_size(conns) > 0, "pager", pager));
}

static void
page_rotation_one(struct areq *r)
{
	admin_connection_page(r, 200, "rotation_show", NULL);
}

static void
do_rotate(struct areq *r)
{
	const char	*secret = admin_arg(&r->form, "secret"), *g = admin_arg(&r->form, "grace_s");
	json_t		*req, *reply, *data;
	char		 url[160], *end;
	long		 grace = -1;

	if (g != NULL) {
		grace = strtol(g, &end, 10);
		if (*end != '\0' || grace < 0 || grace > 90L * 86400) {
			admin_error(r, 400, "Bad grace period", "Choose a grace period from the list.");
			return;
		}
	}
	req = json_pack("{ss ss ss}", "verb", "connection.rotate", "name", r->name, "secret",
	    secret != NULL ? secret : "");
	if (req != NULL && grace >= 0)
		json_object_set_new(req, "grace_s", json_integer(grace));
	reply = admin_call(r, CALL_SESSION | CALL_CSRF | CALL_SLOW, req);
	if (admin_ok(reply)) {
		json_decref(reply);
		snprintf(url, sizeof(url), "/admin/rotation/%s?done=rotated", r->name);
		admin_redirect(r, url);
		return;
	}
	if (reply == NULL || (strcmp(admin_errcode(reply), "verification_failed") != 0 &&
	    strcmp(admin_errcode(reply), "bad_request") != 0)) {
		admin_fail(r, reply);
		return;
	}
	data = json_object();
	json_object_set_new(data, "error", json_string(strcmp(admin_errcode(reply),
	    "verification_failed") == 0 ? "The upstream refused the new secret. Nothing was "
	    "changed: the current secret stays in use." : admin_errmsg(reply,
	    "The new secret was refused.")));
	json_object_set_new(data, "err_secret", json_string(strcmp(admin_errcode(reply),
	    "verification_failed") == 0 ? "Refused by the upstream. Paste the secret exactly "
	    "as the upstream shows it." : admin_errmsg(reply, "Refused.")));
	if (admin_str(reply, "message") != NULL)
		json_object_set_new(data, "error_detail", json_string(admin_str(reply, "message")));
	json_decref(reply);
	admin_connection_page(r, 422, "rotation_show", data);
}

/* retire, stop, resume: one verb each, then back to the connection's rotation page. */
static void
admin_conn_action(struct areq *r, const char *verb, const char *done)
{
	json_t	*reply, *st;
	char	 url[256];

	reply = admin_call(r, CALL_SESSION | CALL_CSRF, json_pack("{ss ss}", "verb", verb,
	    "name", r->name));
	if (!admin_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	snprintf(url, sizeof(url), "/admin/rotation/%s?done=%s", r->name, done);
	if ((st = json_object_get(reply, "stopped")) != NULL)	/* what the stop stopped */
		snprintf(url + strlen(url), sizeof(url) - strlen(url), "&n=%lld.%lld.%lld.%lld",
		    (long long)json_integer_value(json_object_get(st, "cached_tokens_dropped")),
		    (long long)json_integer_value(json_object_get(st, "user_sessions_cleared")),
		    (long long)json_integer_value(json_object_get(st, "held_replies_refused")),
		    (long long)json_integer_value(json_object_get(st,
		    "upstream_requests_dropped")));
	json_decref(reply);
	admin_redirect(r, url);
}

static void
do_retire(struct areq *r)
{
	admin_conn_action(r, "connection.retire", "retired");
}

static void
do_stop(struct areq *r)
{
	admin_conn_action(r, "connection.stop", "stopped");
}

static void
do_resume(struct areq *r)
{
	admin_conn_action(r, "connection.resume", "resumed");
}

/* ---------- audit ---------- */

/* "2026-11-22T09:30" (datetime-local, read as UTC) to unix ms; -1 if malformed. */
static long long
admin_parse_local(const char *s)
{
	struct tm	 tm;
	const char	*end;

	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%dT%H:%M", &tm)) == NULL)
		return -1;
	if (*end == ':' && (end = strptime(end, ":%S", &tm)) == NULL)
		return -1;
	if (*end != '\0')
		return -1;
	return (long long)timegm(&tm) * 1000;
}

/* The audit.query request for the filter form's values; NULL after answering 400. */
static json_t *
admin_audit_query(struct areq *r, int limit)
{
	static const char *const text[] = { "app", "connection", "actor", "outcome", "event",
	    NULL };
	json_t		*req = json_pack("{ss si}", "verb", "audit.query", "limit", limit);
	const char	*v;
	long long	 ms;
	char		*end;
	size_t		 i;

	if ((v = admin_arg(&r->qs, "from")) != NULL) {
		if ((ms = admin_parse_local(v)) == -1)
			goto bad;
		json_object_set_new(req, "from_ms", json_integer(ms));
	}
	if ((v = admin_arg(&r->qs, "to")) != NULL) {
		if ((ms = admin_parse_local(v)) == -1)
			goto bad;
		json_object_set_new(req, "to_ms", json_integer(ms + 59999));
	}
	for (i = 0; text[i] != NULL; i++) {
		if ((v = admin_arg(&r->qs, text[i])) != NULL && strcmp(v, "any") != 0)
			json_object_set_new(req, text[i], json_string(v));
	}
	if ((v = admin_arg(&r->qs, "before")) != NULL) {
		ms = strtoll(v, &end, 10);
		if (*end != '\0' || ms <= 0)
			goto bad;
		json_object_set_new(req, "before", json_integer(ms));
	}
	return req;
bad:
	json_decref(req);
	admin_error(r, 400, "Bad filter", "Times are YYYY-MM-DDTHH:MM (UTC); pages are record "
	    "numbers.");
	return NULL;
}

/* The filter's query string (without "before"), for the next page and the export link. */
static void
admin_audit_filter_qs(struct areq *r, struct buf *b)
{
	static const char *const keys[] = { "from", "to", "app", "connection", "actor",
	    "outcome", "event", NULL };
	const char	*v;
	size_t		 i;
	int		 first = 1;

	for (i = 0; keys[i] != NULL; i++) {
		if ((v = admin_arg(&r->qs, keys[i])) == NULL)
			continue;
		buf_adds(b, first ? "" : "&");
		buf_adds(b, keys[i]);
		buf_adds(b, "=");
		admin_url_add(b, v);
		first = 0;
	}
}

/* /admin/audit?FILTER&key=seq, in frag2_buf (the filter's query string is in frag_buf). */
static const char *
admin_audit_url(const char *key, json_int_t seq)
{
	buf_reset(&frag2_buf);
	buf_adds(&frag2_buf, "/admin/audit?");
	buf_adds(&frag2_buf, buf_str(&frag_buf));
	buf_addf(&frag2_buf, "%s%s=%lld", frag_buf.len ? "&" : "", key, (long long)seq);
	return buf_str(&frag2_buf);
}

static void
page_audit(struct areq *r)
{
	static const char *const rec_times[] = { "ts", NULL };
	static const char *const outcomes[] = { "ok", "issued", "refused", "failed", "forbidden",
	    "csrf", "rate_limited", NULL };
	json_t		*req, *reply, *recs, *e, *data, *verify, *outs;
	const char	*v;
	char		*end;
	size_t		 i;
	json_int_t	 last = 0, first = 0, before, next, older, newer;
	long long	 after = -1;
	int		 more;

	if ((req = admin_audit_query(r, ADMIN_AUDIT_PAGE)) == NULL)
		return;
	before = json_integer_value(json_object_get(req, "before"));
	if ((v = admin_arg(&r->qs, "after")) != NULL) {
		after = strtoll(v, &end, 10);
		if (*end != '\0' || after < 0 || json_object_get(req, "before") != NULL) {
			json_decref(req);
			admin_error(r, 400, "Bad filter", "Pages are record numbers.");
			return;
		}
		json_object_set_new(req, "after", json_integer(after));
	}
	reply = admin_call(r, CALL_SESSION, req);
	if (!admin_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	recs = json_deep_copy(json_object_get(reply, "records"));
	if (recs == NULL)
		recs = json_array();
	json_array_foreach(recs, i, e) {
		char text[64];

		if (json_is_integer(json_object_get(e, "ts"))) {
			admin_fmt_time(text, sizeof(text), json_integer_value(json_object_get(e,
			    "ts")), 1);
			json_object_set_new(e, "ts_text", json_string(text));
		}
		admin_times(e, rec_times);
		json_object_set_new(e, "is_ok", json_boolean(admin_str(e, "outcome") != NULL &&
		    (strcmp(admin_str(e, "outcome"), "ok") == 0 ||
		    strcmp(admin_str(e, "outcome"), "issued") == 0)));
		last = json_integer_value(json_object_get(e, "seq"));
		first = first != 0 ? first : last;
	}
	data = json_object();
	json_object_set_new(data, "records", recs);
	json_object_set_new(data, "has_records", json_boolean(json_array_size(recs) > 0));
	buf_reset(&frag_buf);
	admin_audit_filter_qs(r, &frag_buf);
	/*
	 * Records are newest first; "more" and "next" are about the direction this page was asked
	 * in (a page may stop early, even empty, where the daemon stopped looking).
	 */
	more = json_is_true(json_object_get(reply, "more"));
	next = json_integer_value(json_object_get(reply, "next"));
	if (after >= 0) {
		older = last > 0 ? last : after + 1;
		newer = more ? next : 0;
	} else {
		older = more ? next : 0;
		newer = before <= 0 ? 0 : first > 0 ? first : before - 1;
	}
	if (older > 1)
		json_object_set_new(data, "older_url",
		    json_string(admin_audit_url("before", older)));
	if (newer > 0)
		json_object_set_new(data, "newer_url",
		    json_string(admin_audit_url("after", newer)));
	json_decref(reply);
	buf_reset(&frag2_buf);
	buf_adds(&frag2_buf, "/admin/audit/export");
	if (frag_buf.len > 0) {
		buf_adds(&frag2_buf, "?");
		buf_adds(&frag2_buf, buf_str(&frag_buf));
	}
	json_object_set_new(data, "export_url", json_string(buf_str(&frag2_buf)));
	json_object_set_new(data, "filtered", json_boolean(frag_buf.len > 0 ||
	    admin_arg(&r->qs, "before") != NULL || after >= 0));
	{
		static const char *const keys[] = { "from", "to", "app", "connection", "actor",
		    NULL };
		json_t *f = json_object();

		for (i = 0; keys[i] != NULL; i++) {
			if ((v = admin_arg(&r->qs, keys[i])) != NULL)
				json_object_set_new(f, keys[i], json_string(v));
		}
		json_object_set_new(data, "f", f);
	}
	outs = json_array();
	v = admin_arg(&r->qs, "outcome");
	for (i = 0; outcomes[i] != NULL; i++)
		json_array_append_new(outs, json_pack("{ss sb}", "value", outcomes[i], "selected",
		    v != NULL && strcmp(v, outcomes[i]) == 0));
	json_object_set_new(data, "outcomes", outs);
	/*
	 * The chain walk is O(records) on the daemon's event loop: a page view shows the
	 * dashboard's result (verified at most once a minute); "Verify now" walks it on request.
	 */
	if (admin_arg(&r->qs, "verify") != NULL) {
		verify = admin_call(r, CALL_SESSION, json_pack("{ss}", "verb", "audit.verify"));
		if (admin_ok(verify))
			json_object_set_new(data, "chain", json_pack("{sb sO* ss}", "ok", 1,
			    "records", json_object_get(verify, "records"), "checked_at_rel",
			    "just now"));
		else if (verify != NULL && strcmp(admin_errcode(verify), "audit_broken") == 0)
			json_object_set_new(data, "chain", json_pack("{sb sO* ss* ss}", "ok", 0,
			    "bad_seq", json_object_get(verify, "bad_seq"), "message",
			    admin_str(verify, "message"), "checked_at_rel", "just now"));
		else
			json_object_set_new(data, "chain_unknown", json_true());
	} else {
		static const char *const chain_times[] = { "checked_at", NULL };
		json_t *chain;

		verify = admin_call(r, CALL_SESSION, json_pack("{ss}", "verb", "dashboard"));
		chain = json_deep_copy(json_object_get(verify, "chain"));
		if (admin_ok(verify) && json_is_object(chain)) {
			admin_times(chain, chain_times);
			json_object_set_new(data, "chain", chain);
		} else {
			json_decref(chain);
			json_object_set_new(data, "chain_unknown", json_true());
		}
	}
	json_decref(verify);
	buf_reset(&frag2_buf);
	buf_adds(&frag2_buf, "/admin/audit?");
	buf_adds(&frag2_buf, buf_str(&frag_buf));
	buf_adds(&frag2_buf, frag_buf.len ? "&verify=1" : "verify=1");
	json_object_set_new(data, "verify_url", json_string(buf_str(&frag2_buf)));
	admin_page(r, 200, "audit", "audit", "Audit log", data);
}

/* GET /audit/export: the filtered records as JSON lines, newest first, paged from the daemon. */
static void
do_audit_export(struct areq *r)
{
	json_t		*req, *reply, *recs, *e;
	char		 hdrs[sizeof(r->headers) + sizeof(admin_csp)], *line;
	struct http_reply rp = { .status = 200, .content_type = "application/x-ndjson",
	    .headers = hdrs };
	json_int_t	 before = 0;
	size_t		 i, total = 0;
	int		 more;

	if ((req = admin_audit_query(r, ADMIN_EXPORT_PAGE)) == NULL)
		return;
	reply = admin_call(r, CALL_SESSION, req);
	if (!admin_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	admin_header(r, "Content-Disposition: attachment; filename=\"flowgate-audit.jsonl\"\r\n");
	snprintf(hdrs, sizeof(hdrs), "%s%s", admin_csp, r->headers);
	http_send_head(r->fcgi, &rp, -1);
	for (;;) {
		recs = json_object_get(reply, "records");
		json_array_foreach(recs, i, e) {
			if ((line = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS)) != NULL) {
				FCGX_PutS(line, r->fcgi->out);
				FCGX_PutChar('\n', r->fcgi->out);
				free(line);
			}
			before = json_integer_value(json_object_get(e, "seq"));
			total++;
		}
		more = json_is_true(json_object_get(reply, "more")) && before > 1 &&
		    json_array_size(recs) > 0 && total < ADMIN_EXPORT_MAX;
		json_decref(reply);
		if (!more)
			break;
		if ((req = admin_audit_query(r, ADMIN_EXPORT_PAGE)) == NULL)
			return;
		json_object_set_new(req, "before", json_integer(before));
		reply = admin_call(r, CALL_SESSION, req);
		if (!admin_ok(reply)) {
			FCGX_PutS("{\"error\":\"the export stopped early: the daemon did not answer\"}\n",
			    r->fcgi->out);
			json_decref(reply);
			break;
		}
	}
}

/* ---------- users and account ---------- */

static void
admin_users_page(struct areq *r, int status, json_t *extra)
{
	static const char *const times[] = { "created_at", "last_login", NULL };
	static const char *const roles[] = { "admin", "security", "auditor", NULL };
	json_t		*reply, *users, *u, *data, *rl, *pager;
	size_t		 i, k;
	const char	*role;

	reply = admin_list_call(r, "user.list");
	if (!admin_ok(reply)) {
		json_decref(extra);
		admin_fail(r, reply);
		return;
	}
	users = json_deep_copy(json_object_get(reply, "users"));
	pager = admin_list_pager(r, reply, "users", "/admin/users");
	json_decref(reply);
	if (users == NULL)
		users = json_array();
	json_array_foreach(users, i, u) {
		admin_times(u, times);
		role = admin_str(u, "role");
		rl = json_array();
		for (k = 0; roles[k] != NULL; k++)
			json_array_append_new(rl, json_pack("{ss sb}", "value", roles[k], "selected",
			    role != NULL && strcmp(role, roles[k]) == 0));
		json_object_set_new(u, "roles", rl);
		json_object_set_new(u, "is_me", json_boolean(r->user != NULL &&
		    admin_str(u, "name") != NULL && strcmp(r->user, admin_str(u, "name")) == 0));
	}
	data = extra != NULL ? extra : json_object();
	json_object_set_new(data, "users", users);
	json_object_set_new(data, "pager", pager);
	rl = json_array();
	role = admin_arg(&r->form, "role");
	for (k = 0; roles[k] != NULL; k++)
		json_array_append_new(rl, json_pack("{ss sb}", "value", roles[k], "selected",
		    role != NULL ? strcmp(role, roles[k]) == 0 : strcmp(roles[k], "auditor") == 0));
	json_object_set_new(data, "roles", rl);
	admin_page(r, status, "users", "users", "Users", data);
}

static void
page_users(struct areq *r)
{
	admin_users_page(r, 200, NULL);
}

static void
do_user_add(struct areq *r)
{
	const char	*name = admin_arg(&r->form, "name"), *role = admin_arg(&r->form, "role");
	const char	*pw = admin_arg(&r->form, "password");
	json_t		*reply, *data;
	int		 status;

	reply = admin_call(r, CALL_SESSION | CALL_CSRF, json_pack("{ss ss ss ss}", "verb",
	    "user.add", "name", name != NULL ? name : "", "role", role != NULL ? role : "",
	    "password", pw != NULL ? pw : ""));
	if (admin_ok(reply)) {
		json_decref(reply);
		admin_redirect(r, "/admin/users?done=user_added");
		return;
	}
	if (reply == NULL || (strcmp(admin_errcode(reply), "bad_request") != 0 &&
	    strcmp(admin_errcode(reply), "conflict") != 0)) {
		admin_fail(r, reply);
		return;
	}
	data = json_object();
	admin_form_error(data, reply, strcmp(admin_errcode(reply), "conflict") == 0 ? "name" :
	    "password");
	if (name != NULL)
		json_object_set_new(data, "new_name", json_string(name));
	status = admin_form_status(admin_errcode(reply));
	json_decref(reply);
	admin_users_page(r, status, data);
}

static void
admin_user_action(struct areq *r, json_t *req, const char *done)
{
	json_t	*reply;
	char	 url[96];

	reply = admin_call(r, CALL_SESSION | CALL_CSRF, req);
	if (!admin_ok(reply)) {
		admin_fail(r, reply);
		return;
	}
	json_decref(reply);
	snprintf(url, sizeof(url), "/admin/users?done=%s", done);
	admin_redirect(r, url);
}

static void
do_user_role(struct areq *r)
{
	const char *role = admin_arg(&r->form, "role");

	admin_user_action(r, json_pack("{ss ss ss}", "verb", "user.set_role", "name", r->name,
	    "role", role != NULL ? role : ""), "role_changed");
}

static void
do_user_disable(struct areq *r)
{
	admin_user_action(r, json_pack("{ss ss}", "verb", "user.disable", "name", r->name),
	    "user_disabled");
}

static void
do_user_enable(struct areq *r)
{
	admin_user_action(r, json_pack("{ss ss}", "verb", "user.enable", "name", r->name),
	    "user_enabled");
}

static void
page_account(struct areq *r)
{
	json_t	*data = json_object();

	if (r->sess != NULL && json_is_integer(json_object_get(r->sess, "idle_s"))) {
		char span[32];

		admin_fmt_span(span, sizeof(span), json_integer_value(json_object_get(r->sess,
		    "idle_s")));
		json_object_set_new(data, "idle_text", json_string(span));
	}
	admin_page(r, 200, "account", "account", "Your account", data);
}

static void
do_password(struct areq *r)
{
	const char	*old = admin_arg(&r->form, "old_password");
	const char	*pw = admin_arg(&r->form, "new_password");
	const char	*again = admin_arg(&r->form, "new_password_again");
	json_t		*reply, *data;

	if (old == NULL || pw == NULL || again == NULL || strcmp(pw, again) != 0) {
		admin_page(r, 400, "account", "account", "Your account", json_pack("{ss}",
		    "err_new", old == NULL || pw == NULL || again == NULL ?
		    "Fill in all three fields." : "The two new passwords differ."));
		return;
	}
	reply = admin_call(r, CALL_SESSION | CALL_CSRF, json_pack("{ss ss ss}", "verb",
	    "user.password", "old_password", old, "new_password", pw));
	if (admin_ok(reply)) {
		json_decref(reply);
		admin_redirect(r, "/admin/account?done=password_changed");
		return;
	}
	if (reply == NULL || (strcmp(admin_errcode(reply), "bad_request") != 0 &&
	    strcmp(admin_errcode(reply), "login_failed") != 0 &&
	    strcmp(admin_errcode(reply), "rate_limited") != 0)) {
		admin_fail(r, reply);
		return;
	}
	data = json_object();
	if (strcmp(admin_errcode(reply), "login_failed") == 0)
		json_object_set_new(data, "err_old", json_string("That is not your current "
		    "password."));
	else
		json_object_set_new(data, "err_new", json_string(admin_errmsg(reply,
		    "The new password was refused.")));
	json_decref(reply);
	admin_page(r, 400, "account", "account", "Your account", data);
}

/* ---------- static files ---------- */

static void
admin_static(struct areq *r, const char *name)
{
	const char	*inm = FCGX_GetParam("HTTP_IF_NONE_MATCH", r->fcgi->envp);
	char		 hdrs[sizeof(admin_csp) + 128];
	struct http_reply rp = { .status = 200, .cache = "public, max-age=3600", .headers = hdrs };
	size_t		 i;

	for (i = 0; i < nstatics; i++) {
		if (strcmp(statics[i].name, name) != 0)
			continue;
		snprintf(hdrs, sizeof(hdrs), "%sETag: %s\r\n", admin_csp, statics[i].etag);
		rp.content_type = statics[i].type;
		if (inm != NULL && strcmp(inm, statics[i].etag) == 0) {
			rp.status = 304;
			http_send(r->fcgi, &rp, NULL, 0);
		} else
			http_send(r->fcgi, &rp, statics[i].data, statics[i].len);
		return;
	}
	admin_error(r, 404, "Not found", "No such file.");
}

/* ---------- routing ---------- */

static const struct aroute aroutes[] = {
	{ "GET", "/login", R_PUBLIC, page_login },
	{ "POST", "/login", R_PUBLIC, do_login },
	{ "POST", "/logout", 0, do_logout },
	{ "GET", "/", 0, page_dashboard },
	{ "GET", "/wizard", 0, page_wizard },
	{ "GET", "/apps", 0, page_apps },
	{ "POST", "/apps", 0, do_app_add },
	{ "GET", "/apps/new", 0, page_app_new },
	{ "GET", "/apps/*", 0, page_app },
	{ "POST", "/apps/*/scopes", 0, do_app_scopes },
	{ "POST", "/apps/*/rotate", 0, do_app_rotate },
	{ "POST", "/apps/*/revoke", 0, do_app_revoke },
	{ "GET", "/connections", 0, page_connections },
	{ "POST", "/connections", 0, do_connection_add },
	{ "GET", "/connections/new", 0, page_connection_new },
	{ "GET", "/connections/*", 0, page_connection },
	{ "POST", "/connections/*/test", 0, do_connection_test },
	{ "POST", "/connections/*/remove", 0, do_connection_remove },
	{ "GET", "/rotation", 0, page_rotation },
	{ "GET", "/rotation/*", 0, page_rotation_one },
	{ "POST", "/rotation/*/rotate", 0, do_rotate },
	{ "POST", "/rotation/*/retire", 0, do_retire },
	{ "POST", "/rotation/*/stop", 0, do_stop },
	{ "POST", "/rotation/*/resume", 0, do_resume },
	{ "GET", "/audit", 0, page_audit },
	{ "GET", "/audit/export", 0, do_audit_export },
	{ "GET", "/users", 0, page_users },
	{ "POST", "/users", 0, do_user_add },
	{ "POST", "/users/*/role", 0, do_user_role },
	{ "POST", "/users/*/disable", 0, do_user_disable },
	{ "POST", "/users/*/enable", 0, do_user_enable },
	{ "GET", "/account", 0, page_account },
	{ "POST", "/account/password", 0, do_password },
};

/* Whether path matches pattern; a '*' segment captures a valid name into name. */
static int
admin_match(const char *pattern, const char *path, char *name)
{
	const char	*p = pattern, *s = path, *end;
	size_t		 n;

	while (*p != '\0') {
		if (*p == '*') {
			end = strchr(s, '/');
			n = end != NULL ? (size_t)(end - s) : strlen(s);
			if (!admin_name_ok(s, n))
				return 0;
			memcpy(name, s, n);
			name[n] = '\0';
			s += n;
			p++;
			continue;
		}
		if (*p != *s)
			return 0;
		p++;
		s++;
	}
	return *s == '\0';
}

/* The session cookie's value, if it is there and looks like one. */
static void
admin_cookie(struct areq *r)
{
	const char	*c = FCGX_GetParam("HTTP_COOKIE", r->fcgi->envp), *p, *v;
	const char	*want = admin_cookie_name(r);
	size_t		 wl = strlen(want), n;

	r->sid[0] = '\0';
	for (p = c; p != NULL && *p != '\0'; ) {
		while (*p == ' ' || *p == ';')
			p++;
		if (strncmp(p, want, wl) == 0 && p[wl] == '=') {
			v = p + wl + 1;
			n = strcspn(v, "; ");
			if (n > 0 && n <= ADMIN_SID_MAX && strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789-_.~+/=") >= n) {
				memcpy(r->sid, v, n);
				r->sid[n] = '\0';
			}
			return;
		}
		p += strcspn(p, ";");
	}
}

/*
 * A browser's POST must come from our own pages.  Sec-Fetch-Site says so directly; Origin is
 * the fallback for browsers without it (with Referrer-Policy: no-referrer, browsers send
 * "Origin: null" on form posts, so "null" proves nothing either way).  Clients that send
 * neither (curl, scripts) still need a session and its CSRF token for anything that matters.
 */
static int
admin_origin_ok(struct areq *r)
{
	const char	*origin = FCGX_GetParam("HTTP_ORIGIN", r->fcgi->envp);
	const char	*site = FCGX_GetParam("HTTP_SEC_FETCH_SITE", r->fcgi->envp);
	const char	*rest;

	if (site != NULL)
		return strcmp(site, "same-origin") == 0 || strcmp(site, "none") == 0;
	if (origin == NULL || strcmp(origin, "null") == 0)
		return 1;
	if (strncmp(origin, "https://", 8) == 0)
		rest = origin + 8;
	else if (strncmp(origin, "http://", 7) == 0)
		rest = origin + 7;
	else
		return 0;
	return strcasecmp(rest, r->host) == 0;
}

/* Read and parse a POST body; textarea line breaks become spaces. -1 after answering. */
static int
admin_read_form(struct areq *r, size_t max_body)
{
	size_t	i, o;
	int	e;

	if (!form_content_type_ok(FCGX_GetParam("CONTENT_TYPE", r->fcgi->envp))) {
		admin_error(r, 400, "Bad request", "Forms are sent as "
		    "application/x-www-form-urlencoded.");
		return -1;
	}
	if (body_cap < max_body + 1) {
		free(body_buf);
		if ((body_buf = malloc(max_body + 1)) == NULL) {
			body_cap = 0;
			admin_error(r, 500, "Out of memory", "Try again.");
			return -1;
		}
		body_cap = max_body + 1;
	}
	switch (http_body_read(r->fcgi, body_buf, max_body, &body_len)) {
	case HTTP_BODY_OK:
		break;
	case HTTP_BODY_ETOOLARGE:
		admin_error(r, 413, "Form too large", "The form is larger than this server "
		    "accepts.");
		return -1;
	default:
		admin_error(r, 400, "Bad request", "The form arrived incomplete.");
		return -1;
	}
	for (i = 0, o = 0; i < body_len; ) {
		if (i + 6 <= body_len && strncasecmp(body_buf + i, "%0D%0A", 6) == 0) {
			body_buf[o++] = '+';
			i += 6;
		} else if (i + 3 <= body_len && (strncasecmp(body_buf + i, "%0A", 3) == 0 ||
		    strncasecmp(body_buf + i, "%0D", 3) == 0 ||
		    strncasecmp(body_buf + i, "%09", 3) == 0)) {
			body_buf[o++] = '+';
			i += 3;
		} else
			body_buf[o++] = body_buf[i++];
	}
	sodium_memzero(body_buf + o, body_len - o);
	body_len = o;
	if ((e = form_parse(body_buf, body_len, &r->form)) != FORM_OK) {
		admin_error(r, 400, "Bad request", form_strerror(e));
		return -1;
	}
	return 0;
}

/*
 * The host (and port) the browser used, for the curl command and the Origin check.  nginx's
 * fastcgi_params pass HTTP_HOST as $host, without the port: add SERVER_PORT unless it is the
 * scheme's default.
 */
static void
admin_host(struct areq *r)
{
	static const char	 ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-:[]";
	const char		*host = FCGX_GetParam("HTTP_HOST", r->fcgi->envp);
	const char		*port = FCGX_GetParam("SERVER_PORT", r->fcgi->envp);
	const char		*colon;

	if (host == NULL || *host == '\0' || strlen(host) > 200 || strspn(host, ok) != strlen(host)) {
		snprintf(r->host, sizeof(r->host), "HOST");
		return;
	}
	colon = strrchr(host, ':');
	if ((colon == NULL || strchr(colon, ']') != NULL) && port != NULL &&
	    strlen(port) <= 5 && strspn(port, "0123456789") == strlen(port) &&
	    strcmp(port, r->https ? "443" : "80") != 0)
		snprintf(r->host, sizeof(r->host), "%s:%s", host, port);
	else
		snprintf(r->host, sizeof(r->host), "%s", host);
}

/* Compare the form's csrf field with the session's, in constant time. */
static int
admin_csrf_ok(struct areq *r)
{
	const char	*got = admin_arg(&r->form, "csrf");
	size_t		 n;

	if (got == NULL || r->csrf == NULL || (n = strlen(r->csrf)) == 0 || strlen(got) != n)
		return 0;
	return sodium_memcmp(got, r->csrf, n) == 0;
}

static void
admin_route(struct areq *r, size_t max_body)
{
	const struct aroute	*rt = NULL;
	const char		*qs, *allow = NULL;
	json_t			*reply;
	size_t			 i, n;
	int			 e;

	admin_host(r);
	if (strncmp(r->path, "/static/", 8) == 0) {
		if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
			admin_header(r, "Allow: GET\r\n");
			admin_error(r, 405, "Method not allowed", "Static files are read with GET.");
			return;
		}
		admin_static(r, r->path + 8);
		return;
	}
	qs = FCGX_GetParam("QUERY_STRING", r->fcgi->envp);
	if (qs != NULL && (n = strlen(qs)) > 0) {
		if (n > ADMIN_QUERY_MAX) {
			admin_error(r, 414, "Address too long", "The query string is too long.");
			return;
		}
		memcpy(r->qsbuf, qs, n + 1);
		if ((e = form_parse(r->qsbuf, n, &r->qs)) != FORM_OK) {
			admin_error(r, 400, "Bad request", form_strerror(e));
			return;
		}
	}
	for (i = 0; i < sizeof(aroutes) / sizeof(aroutes[0]); i++) {
		if (!admin_match(aroutes[i].pattern, r->path, r->name))
			continue;
		if (strcmp(aroutes[i].method, r->method) == 0) {
			rt = &aroutes[i];
			break;
		}
		allow = aroutes[i].method;
	}
	if (rt == NULL) {
		if (allow != NULL) {
			admin_header(r, "Allow: %s\r\n", allow);
			admin_error(r, 405, "Method not allowed", "This address does not take that "
			    "method.");
		} else
			admin_error(r, 404, "Not found", "There is no page at this address.");
		return;
	}
	r->post = strcmp(r->method, "POST") == 0;
	admin_cookie(r);
	if (r->post) {
		if (!admin_origin_ok(r)) {
			admin_error(r, 403, "Cross-site request refused",
			    "This form was not sent from this site.");
			return;
		}
		if (admin_read_form(r, max_body) == -1)
			return;
	}
	if (!(rt->flags & R_PUBLIC)) {
		if (r->sid[0] == '\0') {
			if (r->post)
				admin_error(r, 403, "Not logged in", "Log in first.");
			else
				admin_redirect(r, "/admin/login");
			return;
		}
		reply = admin_call(r, CALL_SESSION, json_pack("{ss}", "verb", "session"));
		if (reply != NULL && !admin_ok(reply) &&
		    strcmp(admin_errcode(reply), "bad_request") == 0) {
			/* a cookie that cannot be a session id: the same as an ended session */
			json_object_set_new(reply, "error", json_string("unauthenticated"));
		}
		if (!admin_ok(reply)) {
			if (reply != NULL && strcmp(admin_errcode(reply), "unauthenticated") == 0 &&
			    r->post) {
				json_decref(reply);
				admin_set_cookie(r, NULL);
				admin_error(r, 403, "Session ended", "Your session has ended. Log in "
				    "again.");
				return;
			}
			admin_fail(r, reply);
			return;
		}
		r->sess = reply;
		r->user = admin_str(reply, "user");
		r->role = admin_str(reply, "role");
		r->csrf = admin_str(reply, "csrf");
		if (r->post && !admin_csrf_ok(r)) {
			admin_error(r, 403, "Form expired",
			    "The form's security token is missing or wrong. Go back, reload the "
			    "page and try again.");
			return;
		}
	}
	rt->fn(r);
}

/* Entry from the worker: path begins with "/admin". */
void
admin_handle(FCGX_Request *req, const char *method, const char *path, const char *remote,
    size_t max_body)
{
	struct areq	*r;
	const char	*https = FCGX_GetParam("HTTPS", req->envp);
	static const char off[] = "The admin UI is not installed (flowgate-fcgi -w WEB_DIR).\n";

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return;
	r->fcgi = req;
	r->method = method;
	r->remote = remote;
	r->https = https != NULL && strcasecmp(https, "on") == 0;
	r->path = path + 6;		/* "/admin" */
	if (*r->path == '\0') {
		admin_redirect(r, "/admin/");
	} else if (!admin_ready) {
		admin_send(r, 503, "text/plain; charset=utf-8", off, sizeof(off) - 1, 0);
	} else
		admin_route(r, max_body);
	json_decref(r->sess);
	admin_wipe_body();
	sodium_memzero(r, sizeof(*r));
	free(r);
}
