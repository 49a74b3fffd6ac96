/*
 * A growable output buffer and a small logic-less template renderer for the admin UI.
 *
 * Every {{name}} is HTML-escaped; there is no syntax that prints a data value unescaped.  The
 * only unescaped output is {{&name}}, which is looked up in a table of fragments the C code
 * built itself from escaped pieces (the SVG pictures, a rendered page inside the layout) and
 * never in the JSON data, so nothing that came from a request or from the daemon can reach the
 * page as markup.  Templates are parsed once at start-up; a malformed one is refused then.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"

#define TPL_DEPTH_MAX	32	/* nested sections */
#define TPL_NAME_MAX	64

enum tpl_kind {
	TPL_TEXT,
	TPL_VAR,	/* {{name}} */
	TPL_RAW,	/* {{&name}} */
	TPL_SECTION,	/* {{#name}} */
	TPL_INVERTED	/* {{^name}} */
};

struct tpl_node {
	enum tpl_kind	 kind;
	char		*text;		/* TEXT: the text; others: the name */
	size_t		 len;
	struct tpl	*body;		/* sections */
};

struct tpl {
	struct tpl_node	*nodes;
	size_t		 n;
	size_t		 cap;
};


/* ---------- parsing ---------- */

static struct tpl *
tpl_new(void)
{
	return calloc(1, sizeof(struct tpl));
}

void
tpl_free(struct tpl *t)
{
	size_t	i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++) {
		free(t->nodes[i].text);
		tpl_free(t->nodes[i].body);
	}
	free(t->nodes);
	free(t);
}

static struct tpl_node *
tpl_append(struct tpl *t, enum tpl_kind kind, const char *text, size_t len)
{
	struct tpl_node	*nodes, *nd;

	if (t->n == t->cap) {
		size_t cap = t->cap != 0 ? t->cap * 2 : 16;

		if ((nodes = realloc(t->nodes, cap * sizeof(*nodes))) == NULL)
			return NULL;
		t->nodes = nodes;
		t->cap = cap;
	}
	nd = &t->nodes[t->n];
	memset(nd, 0, sizeof(*nd));
	if ((nd->text = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(nd->text, text, len);
	nd->text[len] = '\0';
	nd->len = len;
	nd->kind = kind;
	t->n++;
	return nd;
}

/* Whether s[0..n) is a usable name: "." or dotted identifiers. */
static int
tpl_name_ok(const char *s, size_t n)
{
	size_t	i;

	if (n == 1 && s[0] == '.')
		return 1;
	if (n == 0 || n > TPL_NAME_MAX || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-' || (c == '.' && s[i - 1] != '.')))
			return 0;
	}
	return 1;
}

/* The line number of offset off in src, for error messages. */
static int
tpl_line(const char *src, size_t off)
{
	int	line = 1;
	size_t	i;

	for (i = 0; i < off; i++)
		line += src[i] == '\n';
	return line;
}

/*
 * Parse a template.  Sections must be closed by the same name; tag names are checked; text
 * between tags is kept verbatim.  Returns NULL with a message in err on failure.
 */
struct tpl *
tpl_parse(const char *src, size_t len, char *err, size_t errlen)
{
	struct tpl	*stack[TPL_DEPTH_MAX + 1];
	const char	*open_name[TPL_DEPTH_MAX + 1];
	size_t		 open_len[TPL_DEPTH_MAX + 1];
	size_t		 depth = 0, pos = 0, start, end, nlen;
	const char	*p, *q, *name;
	char		 sigil;
	struct tpl_node	*nd;

	if ((stack[0] = tpl_new()) == NULL)
		goto oom;
	while (pos < len) {
		p = memmem(src + pos, len - pos, "{{", 2);
		start = p == NULL ? len : (size_t)(p - src);
		if (start > pos && tpl_append(stack[depth], TPL_TEXT, src + pos, start - pos) ==
		    NULL)
			goto oom;
		if (p == NULL)
			break;
		q = memmem(p + 2, len - start - 2, "}}", 2);
		if (q == NULL) {
			snprintf(err, errlen, "line %d: '{{' without '}}'", tpl_line(src, start));
			goto fail;
		}
		end = (size_t)(q - src) + 2;
		name = p + 2;
		nlen = (size_t)(q - name);
		sigil = nlen > 0 ? *name : '\0';
		if (sigil == '!') {
			pos = end;
			continue;
		}
		if (sigil == '#' || sigil == '^' || sigil == '/' || sigil == '&') {
			name++;
			nlen--;
		} else
			sigil = '\0';
		while (nlen > 0 && *name == ' ') {
			name++;
			nlen--;
		}
		while (nlen > 0 && name[nlen - 1] == ' ')
			nlen--;
		if (!tpl_name_ok(name, nlen)) {
			snprintf(err, errlen, "line %d: bad tag name '%.*s'", tpl_line(src, start),
			    (int)(nlen > 40 ? 40 : nlen), name);
			goto fail;
		}
		switch (sigil) {
		case '#':
		case '^':
			if (depth == TPL_DEPTH_MAX) {
				snprintf(err, errlen, "line %d: sections nested too deeply",
				    tpl_line(src, start));
				goto fail;
			}
			if ((nd = tpl_append(stack[depth], sigil == '#' ? TPL_SECTION :
			    TPL_INVERTED, name, nlen)) == NULL || (nd->body = tpl_new()) == NULL)
				goto oom;
			depth++;
			stack[depth] = nd->body;
			open_name[depth] = name;
			open_len[depth] = nlen;
			break;
		case '/':
			if (depth == 0 || open_len[depth] != nlen ||
			    memcmp(open_name[depth], name, nlen) != 0) {
				snprintf(err, errlen, "line %d: {{/%.*s}} closes no open section",
				    tpl_line(src, start), (int)nlen, name);
				goto fail;
			}
			depth--;
			break;
		case '&':
			if (tpl_append(stack[depth], TPL_RAW, name, nlen) == NULL)
				goto oom;
			break;
		default:
			if (tpl_append(stack[depth], TPL_VAR, name, nlen) == NULL)
				goto oom;
		}
		pos = end;
	}
	if (depth != 0) {
		snprintf(err, errlen, "section {{#%.*s}} is not closed", (int)open_len[depth],
		    open_name[depth]);
		goto fail;
	}
	return stack[0];
oom:
	snprintf(err, errlen, "out of memory");
fail:
	tpl_free(stack[0]);
	return NULL;
}

/* ---------- rendering ---------- */

struct tpl_ctx {
	json_t			*stack[TPL_DEPTH_MAX + 2];
	size_t			 depth;
	const struct tpl_raw	*raw;
	size_t			 nraw;
};

/* Resolve a (dotted) name: the first part from the innermost context that has it. */
static json_t *
tpl_lookup(const struct tpl_ctx *c, const char *name)
{
	char		 part[TPL_NAME_MAX + 1];
	const char	*dot, *p = name;
	json_t		*v = NULL;
	size_t		 i, n;

	if (strcmp(name, ".") == 0)
		return c->stack[c->depth - 1];
	dot = strchr(p, '.');
	n = dot != NULL ? (size_t)(dot - p) : strlen(p);
	memcpy(part, p, n);
	part[n] = '\0';
	for (i = c->depth; i > 0; i--) {
		if (json_is_object(c->stack[i - 1]) &&
		    (v = json_object_get(c->stack[i - 1], part)) != NULL)
			break;
	}
	while (v != NULL && dot != NULL) {
		p = dot + 1;
		dot = strchr(p, '.');
		n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		memcpy(part, p, n);
		part[n] = '\0';
		v = json_is_object(v) ? json_object_get(v, part) : NULL;
	}
	return v;
}

static int
tpl_truthy(json_t *v)
{
	if (v == NULL)
		return 0;
	switch (json_typeof(v)) {
	case JSON_NULL:
	case JSON_FALSE:
		return 0;
	case JSON_STRING:
		return json_string_length(v) > 0;
	case JSON_INTEGER:
		return json_integer_value(v) != 0;
	case JSON_REAL:
		return json_real_value(v) != 0.0;
	case JSON_ARRAY:
		return json_array_size(v) > 0;
	default:
		return 1;
	}
}

static void
tpl_print(struct buf *out, json_t *v)
{
	if (v == NULL)
		return;
	switch (json_typeof(v)) {
	case JSON_STRING:
		buf_add_html(out, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		buf_addf(out, "%lld", (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		buf_addf(out, "%g", json_real_value(v));
		break;
	case JSON_TRUE:
		buf_adds(out, "true");
		break;
	default:
		break;
	}
}

static void
tpl_run(const struct tpl *t, struct tpl_ctx *c, struct buf *out)
{
	const struct tpl_node	*nd;
	json_t			*v, *e;
	size_t			 i, k;

	for (i = 0; i < t->n; i++) {
		nd = &t->nodes[i];
		switch (nd->kind) {
		case TPL_TEXT:
			buf_add(out, nd->text, nd->len);
			break;
		case TPL_VAR:
			tpl_print(out, tpl_lookup(c, nd->text));
			break;
		case TPL_RAW:
			for (k = 0; k < c->nraw; k++) {
				if (strcmp(c->raw[k].name, nd->text) == 0) {
					buf_adds(out, c->raw[k].html);
					break;
				}
			}
			break;
		case TPL_INVERTED:
			if (!tpl_truthy(tpl_lookup(c, nd->text)))
				tpl_run(nd->body, c, out);
			break;
		case TPL_SECTION:
			v = tpl_lookup(c, nd->text);
			if (!tpl_truthy(v) || c->depth >= TPL_DEPTH_MAX + 1)
				break;
			if (json_is_array(v)) {
				json_array_foreach(v, k, e) {
					c->stack[c->depth++] = e;
					tpl_run(nd->body, c, out);
					c->depth--;
				}
			} else {
				c->stack[c->depth++] = v;
				tpl_run(nd->body, c, out);
				c->depth--;
			}
			break;
		}
	}
}

/* Render t with data as the outermost context and raw as the only source of unescaped HTML. */
void
tpl_render(const struct tpl *t, json_t *data, const struct tpl_raw *raw, size_t nraw,
    struct buf *out)
{
	struct tpl_ctx	c = { .depth = 1, .raw = raw, .nraw = nraw };

	c.stack[0] = data;
	tpl_run(t, &c, out);
}
