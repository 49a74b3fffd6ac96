/*
 * The decision-table wizard (GET /admin/wizard?QUESTION=yes|no...): the policy document,
 * fetched from the daemon and kept for a minute per worker, its decision tree, and the page
 * that walks it (one question a page load, or in place with app.js).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fcgi.h"
#include "log.h"

#define ADMIN_POLICY_TTL_MS	60000

static void	admin_wizard(struct request *);

const struct route admin_wizard_routes[] = {
	{ "GET", "/admin/wizard", ROUTE_ADMIN | ROUTE_SESSION, 0, admin_wizard },
	{ NULL, NULL, 0, 0, NULL }
};

static json_t		*admin_policy;
static struct wizard	 admin_wiz;
static long long	 admin_policy_at;
static struct buf	 wiz_url_buf, wiz_svg_buf;

/* The policy document and its wizard, fetched from the daemon and kept for a minute. */
static int
admin_wizard_fetch(struct request *r)
{
	json_t	*reply, *doc;
	char	 err[160];

	if (admin_policy != NULL && monotime_ms() - admin_policy_at < ADMIN_POLICY_TTL_MS)
		return 0;
	reply = admin_call(r, 0, json_pack("{ss}", "verb", "policy"));
	if (!link_ok(reply) || !json_is_object(doc = json_object_get(reply, "policy"))) {
		json_decref(reply);
		/* keep a stale one rather than none */
		return admin_policy != NULL ? 0 : -1;
	}
	if (admin_policy != NULL && json_equal(admin_policy, doc)) {
		admin_policy_at = monotime_ms();
		json_decref(reply);
		return 0;
	}
	json_incref(doc);
	json_decref(reply);
	if (wizard_build(&admin_wiz, doc, err, sizeof(err)) == -1) {
		fg_log_warn("admin_policy document unusable for the wizard: %s", err);
		json_decref(doc);
		if (admin_policy != NULL)
			wizard_build(&admin_wiz, admin_policy, err, sizeof(err));
		return admin_policy != NULL ? 0 : -1;
	}
	json_decref(admin_policy);
	admin_policy = doc;
	admin_policy_at = monotime_ms();
	return 0;
}


/* The policy document (fetched anew when r is given and the copy is old); NULL: none yet. */
json_t *
admin_wizard_policy(struct request *r)
{
	if (r != NULL)
		admin_wizard_fetch(r);
	return admin_policy;
}

/* The decision tree of the policy; NULL before the policy was read. */
const struct wizard *
admin_wizard_tree(void)
{
	return admin_policy != NULL ? &admin_wiz : NULL;
}

/* Whether the policy says a flow sends users to a login page (and so needs a redirect URI). */
int
admin_wizard_flow_redirects(const char *flow)
{
	json_t	*fl;

	if (flow == NULL || admin_policy == NULL)
		return 0;
	fl = json_object_get(json_object_get(admin_policy, "flows"), flow);
	return json_is_true(json_object_get(fl, "requires_redirect"));
}

/* The wizard URL for the answers along path[0..n) (the questions asked and answered). */
static void
admin_wizard_url(struct buf *b, const int *path, int n)
{
	int	i;

	buf_adds(b, "/admin/wizard");
	for (i = 0; i < n; i++) {
		const struct wiz_node *nd = &admin_wiz.nodes[path[i]];

		buf_adds(b, i == 0 ? "?" : "&");
		buf_adds_url(b, wizard_question_id(&admin_wiz, nd->question));
		buf_adds(b, nd->yes == path[i + 1] ? "=yes" : "=no");
	}
}

/* The link that opens the app form pre-filled for a wizard result. */
static void
admin_wizard_register_url(struct buf *b, json_t *row, const int *answers)
{
	json_t		*flow = json_object_get(json_object_get(admin_policy, "flows"),
	    link_str(row, "flow"));
	int		 q = wizard_question_index(&admin_wiz, "can_redirect");
	const char	*id = link_str(row, "id");

	buf_adds(b, "/admin/apps/new?flow=");
	buf_adds_url(b, link_str(row, "flow") != NULL ? link_str(row, "flow") : "");
	buf_adds(b, "&kind=");
	buf_adds_url(b, link_str(row, "kind") != NULL ? link_str(row, "kind") : "");
	if (json_is_true(json_object_get(row, "internal")) ||
	    json_is_true(json_object_get(flow, "requires_internal")))
		buf_adds(b, "&internal=yes");
	/* a backend app has no users to redirect */
	if (json_is_true(json_object_get(flow, "requires_no_redirect")) ||
	    (q != -1 && answers[q] == 0) || (link_str(row, "kind") != NULL &&
	    strcmp(link_str(row, "kind"), "backend") == 0))
		buf_adds(b, "&can_redirect=no");
	else
		buf_adds(b, "&can_redirect=yes");
	buf_adds(b, "&from=");
	buf_adds_url(b, id != NULL ? id : "fallback");
}

/* The answers in the query string: answers[q] is -1, 0 or 1; -1 after answering 400. */
static int
admin_wizard_answers(struct request *r, int *answers)
{
	const char	*v;
	int		 q;

	for (q = 0; q < WIZ_QUESTIONS_MAX; q++)
		answers[q] = -1;
	for (q = 0; q < admin_wiz.nquestions; q++) {
		if ((v = form_get(&r->query, wizard_question_id(&admin_wiz, q))) == NULL)
			continue;
		if (strcmp(v, "yes") == 0)
			answers[q] = 1;
		else if (strcmp(v, "no") == 0)
			answers[q] = 0;
		else {
			admin_error(r, 400, "Bad answer", "Answers are yes or no.");
			return -1;
		}
	}
	return 0;
}

/* The questions answered so far, each with a link that changes it, and the form's fields. */
static void
admin_wizard_steps(json_t *data, const int *path, int npath)
{
	json_t	*steps = json_array(), *hidden = json_array();
	int	 i, yes;

	for (i = 0; i + 1 < npath; i++) {
		const struct wiz_node *nd = &admin_wiz.nodes[path[i]];

		yes = nd->yes == path[i + 1];
		buf_reset(&wiz_url_buf);
		admin_wizard_url(&wiz_url_buf, path, i);
		json_array_append_new(steps, json_pack("{ss ss ss si}", "text",
		    wizard_question_text(&admin_wiz, nd->question), "answer", yes ? "Yes" : "No",
		    "change_url", buf_str(&wiz_url_buf), "n", i + 1));
		json_array_append_new(hidden, json_pack("{ss ss}", "name",
		    wizard_question_id(&admin_wiz, nd->question), "value", yes ? "yes" : "no"));
	}
	json_object_set_new(data, "steps", steps);
	json_object_set_new(data, "hidden", hidden);
	if (npath > 1) {
		buf_reset(&wiz_url_buf);
		admin_wizard_url(&wiz_url_buf, path, npath - 2);
		json_object_set_new(data, "back_url", json_string(buf_str(&wiz_url_buf)));
	}
}

/* The result: the row the answers lead to, its flow, and the link that registers such an app. */
static json_t *
admin_wizard_result(const struct wiz_node *cur, json_t *row, const int *answers)
{
	json_t	*flow, *result;

	flow = json_object_get(json_object_get(admin_policy, "flows"), link_str(row, "flow"));
	buf_reset(&wiz_url_buf);
	admin_wizard_register_url(&wiz_url_buf, row, answers);
	result = json_pack("{ss ss ss* ss* sO* sO* sb ss ss}",
	    "row", wizard_row_id(&admin_wiz, cur->row),
	    "flow", link_str(row, "flow") != NULL ? link_str(row, "flow") : "",
	    "flow_label", link_str(flow, "label"),
	    "scenario", link_str(row, "scenario"),
	    "notes", json_object_get(row, "notes"),
	    "warnings", json_object_get(row, "warnings"),
	    "recommended", json_is_true(json_object_get(row, "recommended")),
	    "register_url", buf_str(&wiz_url_buf),
	    "kind", link_str(row, "kind") != NULL ? link_str(row, "kind") : "");
	if (result == NULL)
		return NULL;
	if (link_str(flow, "summary") != NULL)
		json_object_set_new(result, "summary", json_string(link_str(flow, "summary")));
	json_object_set_new(result, "has_notes", json_boolean(json_array_size(
	    json_object_get(row, "notes")) > 0));
	json_object_set_new(result, "has_warnings", json_boolean(json_array_size(
	    json_object_get(row, "warnings")) > 0));
	if (json_is_true(json_object_get(flow, "requires_justification")))
		json_object_set_new(result, "needs_justification", json_true());
	return result;
}

/* The decision table itself, with the row taken (if any) marked. */
static json_t *
admin_wizard_table(int taken)
{
	json_t	*rows = json_array(), *e, *flow;
	size_t	 k;

	json_array_foreach(admin_wiz.rows, k, e) {
		flow = json_object_get(json_object_get(admin_policy, "flows"), link_str(e, "flow"));
		json_array_append_new(rows, json_pack("{ss* ss* ss* sb}", "scenario",
		    link_str(e, "scenario"), "flow", link_str(flow, "label"), "id",
		    link_str(e, "id"), "taken", taken == (int)k));
	}
	return rows;
}

/* The tree and the questions' texts as JSON, for app.js to walk the wizard in place. */
static void
admin_wizard_scripts(json_t *data)
{
	json_t	*tree = wizard_tree_json(&admin_wiz, 0), *qtexts = json_object();
	char	*s;
	int	 q;

	for (q = 0; q < admin_wiz.nquestions; q++)
		json_object_set_new(qtexts, wizard_question_id(&admin_wiz, q),
		    json_string(wizard_question_text(&admin_wiz, q)));
	if ((s = json_dumps(tree, JSON_COMPACT)) != NULL) {
		json_object_set_new(data, "tree_json", json_string(s));
		free(s);
	}
	if ((s = json_dumps(qtexts, JSON_COMPACT)) != NULL) {
		json_object_set_new(data, "questions_json", json_string(s));
		free(s);
	}
	json_decref(tree);
	json_decref(qtexts);
}

/* GET /admin/wizard: the next question, or the result of the answers given. */
static void
admin_wizard(struct request *r)
{
	int			 answers[WIZ_QUESTIONS_MAX], path[WIZ_QUESTIONS_MAX + 2];
	int			 npath, done;
	const struct wiz_node	*cur;
	struct tpl_raw		 raw[1];
	json_t			*data, *row;

	if (admin_wizard_fetch(r) == -1) {
		admin_error(r, 503, "Policy unavailable",
		    "The decision table could not be read from the flowgate daemon.");
		return;
	}
	if (admin_wizard_answers(r, answers) == -1)
		return;
	done = wizard_walk(&admin_wiz, answers, path, &npath);
	data = json_object();
	admin_wizard_steps(data, path, npath);
	cur = &admin_wiz.nodes[path[npath - 1]];
	if (!done)
		json_object_set_new(data, "question", json_pack("{ss ss si}", "id",
		    wizard_question_id(&admin_wiz, cur->question), "text",
		    wizard_question_text(&admin_wiz, cur->question), "n", npath));
	else if ((row = wizard_row(&admin_wiz, cur->row)) != NULL)
		json_object_set_new(data, "result", admin_wizard_result(cur, row, answers));
	else
		json_object_set_new(data, "no_row", json_true());
	json_object_set_new(data, "table", admin_wizard_table(done ? cur->row : -2));
	admin_wizard_scripts(data);
	buf_reset(&wiz_svg_buf);
	svg_decision_tree(&wiz_svg_buf, &admin_wiz, path, npath);
	raw[0].name = "tree_svg";
	raw[0].html = buf_str(&wiz_svg_buf);
	admin_page_raw(r, 200, "wizard", "wizard", done ? "Wizard: result" : "Wizard", data,
	    raw, 1);
}
