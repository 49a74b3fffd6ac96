/*
 * Inline SVG pictures for the admin UI, built from escaped pieces: every text that comes from
 * the policy or the daemon goes through buf_add_html; numbers are formatted here.  Colours are
 * classes styled by web/static/app.css (the CSP allows no inline style), with presentation
 * attributes as a plain fallback.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "fcgi.h"

#define DT_MARGIN	16
#define DT_BOX_W	172
#define DT_COL_W	188
#define DT_LEVEL_H	126
#define DT_LINE_H	15
#define DT_PAD		10
#define DT_WRAP		22	/* characters per line at 12 px, bold included */
#define DT_LINES_MAX	6

struct dt_lines {
	const char	*start[DT_LINES_MAX];
	size_t		 len[DT_LINES_MAX];
	int		 n;
};

/* Greedy word wrap of s into at most DT_LINES_MAX lines of about width characters. */
static void
dt_wrap(const char *s, size_t width, struct dt_lines *l)
{
	const char	*p = s, *line, *last_space;
	size_t		 n;

	l->n = 0;
	while (*p != '\0' && l->n < DT_LINES_MAX) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		line = p;
		last_space = NULL;
		for (n = 0; p[n] != '\0'; n++) {
			if (p[n] == ' ')
				last_space = p + n;
			if (n >= width && last_space != NULL)
				break;
		}
		if (p[n] != '\0' && last_space != NULL)
			n = (size_t)(last_space - line);
		l->start[l->n] = line;
		l->len[l->n] = n;
		l->n++;
		p = line + n;
	}
	if (*p != '\0' && l->n == DT_LINES_MAX)
		l->len[l->n - 1] = strlen(l->start[l->n - 1]);	/* rest on the last line */
}

static int
dt_on_path(const int *path, int npath, int node)
{
	int	i;

	for (i = 0; i < npath; i++) {
		if (path[i] == node)
			return i + 1;
	}
	return 0;
}

/* Lines of text, centred at x, starting at baseline y. */
static void
dt_text(struct buf *out, const struct dt_lines *l, double x, double y, const char *cls)
{
	int	i;

	buf_addf(out, "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", cls, x, y);
	for (i = 0; i < l->n; i++) {
		buf_addf(out, "<tspan x=\"%.1f\" dy=\"%d\">", x, i == 0 ? 0 : DT_LINE_H);
		buf_add_html(out, l->start[i], l->len[i]);
		buf_adds(out, "</tspan>");
	}
	buf_adds(out, "</text>");
}

static double
dt_x(const struct wiz_node *nd)
{
	return DT_MARGIN + nd->x * DT_COL_W + DT_BOX_W / 2.0;
}

static double
dt_y(const struct wiz_node *nd)
{
	return DT_MARGIN + 22 + nd->depth * DT_LEVEL_H;
}

/* Height of a node's box: questions wrap their text, leaves show flow label and scenario. */
static int
dt_height(const struct wizard *w, const struct wiz_node *nd, struct dt_lines *a,
    struct dt_lines *b)
{
	json_t		*row, *flows, *flow;
	const char	*label = "No row of the table fits", *scen = "";

	b->n = 0;
	if (nd->question != -1) {
		dt_wrap(wizard_question_text(w, nd->question), DT_WRAP, a);
		return a->n * DT_LINE_H + 2 * DT_PAD;
	}
	if ((row = wizard_row(w, nd->row)) != NULL) {
		flows = json_object_get(w->policy, "flows");
		flow = json_object_get(flows, json_string_value(json_object_get(row, "flow")));
		if ((label = json_string_value(json_object_get(flow, "label"))) == NULL &&
		    (label = json_string_value(json_object_get(row, "flow"))) == NULL)
			label = "?";
		if ((scen = json_string_value(json_object_get(row, "scenario"))) == NULL &&
		    (scen = json_string_value(json_array_get(json_object_get(row, "notes"), 0))) ==
		    NULL)
			scen = "";
	}
	dt_wrap(label, DT_WRAP - 1, a);
	dt_wrap(scen, DT_WRAP + 4, b);
	return (a->n + b->n) * DT_LINE_H + 2 * DT_PAD + (b->n > 0 ? 6 : 0);
}

/*
 * The decision tree of the policy, top-down, yes to the left; the nodes and edges on path
 * (root first) carry class "taken" and data-taken="true"; the last node of an unfinished path
 * is the question being asked ("current").
 */
void
svg_decision_tree(struct buf *out, const struct wizard *w, const int *path, int npath)
{
	const struct wiz_node	*nd, *ch;
	struct dt_lines		 a, b;
	double			 width, height, x, y, cy, ymid;
	int			 i, k, h, on, child, maxh = 0, last, pass;

	for (i = 0; i < w->nnodes; i++) {
		if ((h = dt_height(w, &w->nodes[i], &a, &b)) > maxh)
			maxh = h;
	}
	width = 2 * DT_MARGIN + (w->nleaves - 1) * DT_COL_W + DT_BOX_W;
	height = 2 * DT_MARGIN + 22 + w->maxdepth * DT_LEVEL_H + maxh;
	last = npath > 0 ? path[npath - 1] : -1;

	buf_addf(out, "<svg class=\"decision-tree\" xmlns=\"http://www.w3.org/2000/svg\" "
	    "viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
	    "aria-labelledby=\"dt-title dt-desc\">", width, height, width, height);
	buf_adds(out, "<title id=\"dt-title\">Decision table as a tree</title>"
	    "<desc id=\"dt-desc\">Path taken: ");
	for (i = 0; i < npath; i++) {
		nd = &w->nodes[path[i]];
		if (i > 0)
			buf_adds(out, " \xe2\x86\x92 ");	/* → */
		if (nd->question != -1) {
			buf_adds_html(out, wizard_question_text(w, nd->question));
			if (i + 1 < npath)
				buf_adds(out, nd->yes == path[i + 1] ? ": Yes" : ": No");
		} else
			buf_adds_html(out, wizard_row_id(w, nd->row));
	}
	buf_adds(out, "</desc>");

	/* edges first, so boxes cover their ends; the path's last, so it lies on top */
	for (pass = 0; pass < 2; pass++)
	for (i = 0; i < w->nnodes; i++) {
		nd = &w->nodes[i];
		if (nd->question == -1)
			continue;
		for (k = 0; k < 2; k++) {
			child = k == 0 ? nd->yes : nd->no;
			ch = &w->nodes[child];
			on = dt_on_path(path, npath, i) && dt_on_path(path, npath, child);
			if (on != pass)
				continue;
			x = dt_x(nd);
			y = dt_y(nd) + dt_height(w, nd, &a, &b);
			cy = dt_y(ch);
			ymid = cy - 26;
			buf_addf(out, "<path class=\"edge%s\" data-from=\"%d\" data-to=\"%d\" "
			    "data-answer=\"%s\"%s d=\"M%.1f %.1fV%.1fH%.1fV%.1f\" fill=\"none\" "
			    "stroke=\"%s\" stroke-width=\"%s\"/>", on ? " taken" : "", i, child,
			    k == 0 ? "yes" : "no", on ? " data-taken=\"true\"" : "", x, y, ymid,
			    dt_x(ch), cy, on ? "#0f766e" : "#9aa5b1", on ? "3" : "1.5");
			/* beside the child's drop, in the gap above its box: clear of every box */
			buf_addf(out, "<text class=\"edge-label%s\" x=\"%.1f\" y=\"%.1f\" "
			    "text-anchor=\"start\">%s</text>", on ? " taken" : "", dt_x(ch) + 5,
			    cy - 8, k == 0 ? "Yes" : "No");
		}
	}

	for (i = 0; i < w->nnodes; i++) {
		nd = &w->nodes[i];
		on = dt_on_path(path, npath, i) != 0;
		h = dt_height(w, nd, &a, &b);
		x = dt_x(nd);
		y = dt_y(nd);
		buf_addf(out, "<g class=\"node %s%s%s\" data-node=\"%d\"", nd->question != -1 ?
		    "question" : "leaf", on ? " taken" : "", i == last && nd->question != -1 ?
		    " current" : "", i);
		if (nd->question != -1) {
			buf_adds(out, " data-question=\"");
			buf_adds_html(out, wizard_question_id(w, nd->question));
		} else {
			buf_adds(out, " data-row=\"");
			buf_adds_html(out, wizard_row_id(w, nd->row));
		}
		buf_addf(out, "\"%s>", on ? " data-taken=\"true\"" : "");
		buf_addf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" rx=\"%d\" "
		    "fill=\"%s\" stroke=\"%s\" stroke-width=\"%s\"/>", x - DT_BOX_W / 2.0, y,
		    DT_BOX_W, h, nd->question != -1 ? 6 : 12, on ? "#ccfbf1" : "#ffffff",
		    on ? "#0f766e" : "#9aa5b1", on ? "2.5" : "1");
		if (nd->question != -1)
			dt_text(out, &a, x, y + DT_PAD + 11, "q-text");
		else {
			dt_text(out, &a, x, y + DT_PAD + 11, "leaf-flow");
			dt_text(out, &b, x, y + DT_PAD + 11 + a.n * DT_LINE_H + 6, "leaf-scenario");
		}
		buf_adds(out, "</g>");
	}
	buf_adds(out, "</svg>");
}

/* The smallest 1, 2 or 5 times a power of ten that is at least v (at least 1). */
json_int_t
svg_nice_max(json_int_t v)
{
	json_int_t	p = 1;

	for (;;) {
		if (v <= p)
			return p;
		if (v <= 2 * p)
			return 2 * p;
		if (v <= 5 * p)
			return 5 * p;
		if (p > INT64_MAX / 100)
			return v;
		p *= 10;
	}
}

/*
 * A small bar chart of 24 hourly counts (oldest first, the last is the current hour), each
 * bar with a tooltip; label names the series for screen readers.  scale is the count at the
 * chart's top (the dashed line), the same for every chart of a page so that their bars
 * compare; it is written under the chart.
 */
void
svg_hours_chart(struct buf *out, json_t *hours, const char *label, json_int_t scale)
{
	const int	w = 240, h = 48, bw = 10, top = 4;
	json_int_t	v, total = 0;
	size_t		i, n = json_array_size(hours);
	double		bh;

	for (i = 0; i < n; i++) {
		v = json_integer_value(json_array_get(hours, i));
		total += v > 0 ? v : 0;
	}
	if (scale < 1)
		scale = 1;
	buf_addf(out, "<svg class=\"hours-chart\" xmlns=\"http://www.w3.org/2000/svg\" "
	    "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" "
	    "data-scale=\"%lld\" aria-label=\"", w, h + 12, w, h + 12, (long long)scale);
	buf_adds_html(out, label);
	buf_addf(out, ": %lld tokens in the last 24 hours\">", (long long)total);
	buf_addf(out, "<line class=\"axis\" x1=\"0\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
	    "stroke=\"#cbd2d9\"/><line class=\"grid\" x1=\"0\" y1=\"%d\" x2=\"%d\" "
	    "y2=\"%d\" stroke=\"#e4e7eb\" stroke-dasharray=\"2 3\"/>", h, w, h, top, w, top);
	for (i = 0; i < n && i < 24; i++) {
		v = json_integer_value(json_array_get(hours, i));
		if (v < 0)
			v = 0;
		bh = v >= scale ? h - top : (double)v * (h - top) / (double)scale;
		if (v > 0 && bh < 2)
			bh = 2;
		buf_addf(out, "<rect class=\"bar%s\" x=\"%zu\" y=\"%.1f\" width=\"%d\" "
		    "height=\"%.1f\" fill=\"#0f766e\"><title>%zu h ago: %lld</title></rect>",
		    i + 1 == n ? " now" : "", i * w / 24 + 0, h - bh, bw - 2, bh > 0 ? bh : 0.0,
		    n - 1 - i, (long long)v);
	}
	buf_addf(out, "<text class=\"chart-label scale\" x=\"%d\" y=\"%d\" "
	    "text-anchor=\"middle\">top: %lld/h</text>", w / 2, h + 11, (long long)scale);
	buf_addf(out, "<text class=\"chart-label\" x=\"0\" y=\"%d\">24 h ago</text>"
	    "<text class=\"chart-label\" x=\"%d\" y=\"%d\" text-anchor=\"end\">now</text>",
	    h + 11, w, h + 11);
	buf_adds(out, "</svg>");
}
