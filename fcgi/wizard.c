/*
 * The decision-table wizard, derived entirely from the policy document the daemon enforces
 * (schema/policy.json, fetched with the "policy" verb): its questions, its rows (each with a
 * "when" of question id -> yes/no) and its fallback.
 *
 * The questions are asked in the policy's order, each only while it can still tell the rows
 * apart: with some answers given, the candidates are the rows (then the fallback) whose "when"
 * does not contradict them; a candidate whose "when" is fully answered is the result; else the
 * next question is the first unanswered one that some candidate asks about.  Applied from no
 * answers at all this gives a binary decision tree, built once per policy; the no-JS wizard,
 * the JavaScript one and the picture all walk that same tree.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fcgi.h"

/* 1: every condition of the candidate is answered and holds; 0: none contradicted; -1: one is. */
static int
wizard_match(const struct wizard *w, json_t *cand, const int *answers)
{
	json_t		*when, *v;
	const char	*qid;
	int		 q, full = 1;

	when = json_object_get(cand, "when");
	json_object_foreach(when, qid, v) {
		if ((q = wizard_question_index(w, qid)) == -1 || !json_is_boolean(v))
			return -1;	/* a condition no question can satisfy */
		if (answers[q] == -1)
			full = 0;
		else if (answers[q] != (json_is_true(v) ? 1 : 0))
			return -1;
	}
	return full;
}

/* Candidate i: rows first, then the fallback (index nrows). */
static json_t *
wizard_candidate(const struct wizard *w, int i)
{
	return i < w->nrows ? json_array_get(w->rows, (size_t)i) : w->fallback;
}

static int
wizard_ncandidates(const struct wizard *w)
{
	return w->nrows + (w->fallback != NULL ? 1 : 0);
}

/* Build the subtree for these answers; returns its node index or -1 when out of room. */
static int
wizard_node(struct wizard *w, int *answers, int depth)
{
	struct wiz_node	*nd;
	int		 i, q, m, alive = 0, idx, next = -1;
	json_t		*when;

	if (w->nnodes == WIZ_NODES_MAX)
		return -1;
	idx = w->nnodes++;
	nd = &w->nodes[idx];
	memset(nd, 0, sizeof(*nd));
	nd->depth = depth;
	nd->question = -1;
	nd->row = WIZ_LEAF_NONE;
	nd->yes = nd->no = -1;
	if (depth > w->maxdepth)
		w->maxdepth = depth;
	for (i = 0; i < wizard_ncandidates(w); i++) {
		if ((m = wizard_match(w, wizard_candidate(w, i), answers)) == 1) {
			nd->row = i;
			w->nleaves++;
			return idx;
		}
		alive += m == 0;
	}
	for (q = 0; q < w->nquestions && alive > 0 && next == -1; q++) {
		if (answers[q] != -1)
			continue;
		for (i = 0; i < wizard_ncandidates(w); i++) {
			when = json_object_get(wizard_candidate(w, i), "when");
			if (wizard_match(w, wizard_candidate(w, i), answers) == 0 &&
			    json_object_get(when, wizard_question_id(w, q)) != NULL) {
				next = q;
				break;
			}
		}
	}
	if (next == -1) {
		w->nleaves++;
		return idx;		/* WIZ_LEAF_NONE: the table has no row for this */
	}
	nd->question = next;
	answers[next] = 1;
	i = wizard_node(w, answers, depth + 1);
	w->nodes[idx].yes = i;
	answers[next] = 0;
	q = wizard_node(w, answers, depth + 1);
	w->nodes[idx].no = q;
	answers[next] = -1;
	return i == -1 || q == -1 ? -1 : idx;
}

/* Leaves get columns left to right (yes before no); a question sits above its children. */
static double
wizard_layout(struct wizard *w, int idx, int *column)
{
	struct wiz_node	*nd = &w->nodes[idx];

	if (nd->question == -1)
		nd->x = (*column)++;
	else
		nd->x = (wizard_layout(w, nd->yes, column) + wizard_layout(w, nd->no, column)) / 2;
	return nd->x;
}

/* Check the policy's shape and build the decision tree; -1 with a message on a bad policy. */
int
wizard_build(struct wizard *w, json_t *policy, char *err, size_t errlen)
{
	int	answers[WIZ_QUESTIONS_MAX], i, column = 0;
	json_t	*q;
	size_t	k;

	memset(w, 0, sizeof(*w));
	w->policy = policy;
	w->questions = json_object_get(policy, "questions");
	w->rows = json_object_get(policy, "rows");
	w->fallback = json_object_get(policy, "fallback");
	if (!json_is_array(w->questions) || json_array_size(w->questions) == 0 ||
	    json_array_size(w->questions) > WIZ_QUESTIONS_MAX || !json_is_array(w->rows)) {
		snprintf(err, errlen, "policy has no usable questions or rows");
		return -1;
	}
	json_array_foreach(w->questions, k, q) {
		if (!json_is_string(json_object_get(q, "id")) ||
		    !json_is_string(json_object_get(q, "text"))) {
			snprintf(err, errlen, "policy question %zu lacks id or text", k);
			return -1;
		}
	}
	if (w->fallback != NULL && !json_is_object(w->fallback))
		w->fallback = NULL;
	w->nquestions = (int)json_array_size(w->questions);
	w->nrows = (int)json_array_size(w->rows);
	for (i = 0; i < WIZ_QUESTIONS_MAX; i++)
		answers[i] = -1;
	if (wizard_node(w, answers, 0) != 0) {
		snprintf(err, errlen, "policy decision tree too large");
		return -1;
	}
	wizard_layout(w, 0, &column);
	return 0;
}

json_t *
wizard_row(const struct wizard *w, int row)
{
	if (row < 0 || row > w->nrows)
		return NULL;
	return wizard_candidate(w, row);
}

/* A row's id; the fallback is "fallback" (it has no id of its own in the policy). */
const char *
wizard_row_id(const struct wizard *w, int row)
{
	const char *id;

	if (row == WIZ_LEAF_NONE)
		return "none";
	if ((id = json_string_value(json_object_get(wizard_row(w, row), "id"))) != NULL)
		return id;
	return row == w->nrows ? "fallback" : "row";
}

const char *
wizard_question_id(const struct wizard *w, int q)
{
	return json_string_value(json_object_get(json_array_get(w->questions, (size_t)q), "id"));
}

const char *
wizard_question_text(const struct wizard *w, int q)
{
	return json_string_value(json_object_get(json_array_get(w->questions, (size_t)q),
	    "text"));
}

int
wizard_question_index(const struct wizard *w, const char *id)
{
	int	q;

	for (q = 0; q < w->nquestions; q++) {
		if (strcmp(wizard_question_id(w, q), id) == 0)
			return q;
	}
	return -1;
}

/*
 * Follow the answers from the root.  path[] gets every node visited; the last one is either a
 * leaf (the result; returns 1) or the question still to ask (returns 0).  Answers to questions
 * the path never reaches are ignored.
 */
int
wizard_walk(const struct wizard *w, const int *answers, int *path, int *npath)
{
	int	idx = 0;
	const struct wiz_node *nd;

	*npath = 0;
	for (;;) {
		path[(*npath)++] = idx;
		nd = &w->nodes[idx];
		if (nd->question == -1)
			return 1;
		if (answers[nd->question] == -1)
			return 0;
		idx = answers[nd->question] == 1 ? nd->yes : nd->no;
	}
}

/* The subtree at node as {"q", "n", "yes", "no"} or {"row", "n"} (n: the node index), for app.js. */
json_t *
wizard_tree_json(const struct wizard *w, int node)
{
	const struct wiz_node *nd = &w->nodes[node];

	if (nd->question == -1)
		return json_pack("{ss si}", "row", wizard_row_id(w, nd->row), "n", node);
	return json_pack("{ss si so so}", "q", wizard_question_id(w, nd->question), "n", node,
	    "yes", wizard_tree_json(w, nd->yes), "no", wizard_tree_json(w, nd->no));
}
