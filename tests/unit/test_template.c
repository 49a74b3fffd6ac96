/*
 * The admin UI's template renderer (fcgi/template.c) and wizard (fcgi/wizard.c, svg.c):
 * every value is escaped, data can never reach the page unescaped, malformed templates are
 * refused, and the wizard's decision tree agrees with the daemon's own reading of the policy
 * (policy_recommend) for every combination of answers.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "fcgi.h"
#include "tap.h"

const struct fg_config *fg_cfg;

/* Render src with data (a JSON text) and optional raw fragments; a malloc'd string or NULL. */
static char *
render(const char *src, const char *data, const struct tpl_raw *raw, size_t nraw)
{
	struct buf	 out = { 0 };
	struct tpl	*t;
	json_t		*d;
	char		 err[160], *s;

	if ((t = tpl_parse(src, strlen(src), err, sizeof(err))) == NULL)
		return NULL;
	d = json_loads(data, 0, NULL);
	tpl_render(t, d, raw, nraw, &out);
	s = strdup(buf_str(&out));
	buf_free(&out);
	json_decref(d);
	tpl_free(t);
	return s;
}

static int
renders(const char *src, const char *data, const char *want)
{
	char	*got = render(src, data, NULL, 0);
	int	 ok = got != NULL && strcmp(got, want) == 0;

	if (!ok)
		printf("# template %s\n# data %s\n# want %s\n# got  %s\n", src, data, want,
		    got != NULL ? got : "(parse error)");
	free(got);
	return ok;
}

static int
refused(const char *src)
{
	char		 err[160] = "";
	struct tpl	*t = tpl_parse(src, strlen(src), err, sizeof(err));

	tpl_free(t);
	return t == NULL && err[0] != '\0';
}

static void
test_escaping(void)
{
	char		*s;
	struct tpl_raw	 raw[] = { { "frag", "<b>built here</b>" } };

	tap_ok(renders("<p title=\"{{v}}\">{{v}}</p>", "{\"v\":\"<img src=x onerror=alert(1)>\"}",
	    "<p title=\"&lt;img src=x onerror=alert(1)&gt;\">&lt;img src=x onerror=alert(1)&gt;</p>"),
	    "tags are escaped in text and attributes");
	tap_ok(renders("<input value=\"{{v}}\">", "{\"v\":\"\\\"><script>alert(1)</script>\"}",
	    "<input value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\">"),
	    "a quote cannot leave the attribute");
	tap_ok(renders("<a title='{{v}}'>", "{\"v\":\"' onmouseover='x\"}",
	    "<a title='&#39; onmouseover=&#39;x'>"), "single quotes are escaped");
	tap_ok(renders("{{v}}", "{\"v\":\"a&b &amp;\"}", "a&amp;b &amp;amp;"),
	    "ampersands are escaped, also when they look escaped already");
	tap_ok(renders("{{&frag}}", "{\"frag\":\"<script>alert(1)</script>\"}", ""),
	    "{{&name}} never prints data, even when the data has that name");
	s = render("{{&frag}}|{{frag}}", "{\"frag\":\"<i>data</i>\"}", raw, 1);
	TEST_START("{{&name}} prints the C-built fragment, {{name}} the escaped data");
	ASSERT_PTR_NE(s, NULL);
	ASSERT_STRING_EQ(s, "<b>built here</b>|&lt;i&gt;data&lt;/i&gt;");
	TEST_DONE();
	free(s);
	tap_ok(renders("{{n}} {{t}} {{f}} {{z}} {{missing}}", "{\"n\":42,\"t\":true,\"f\":false,"
	    "\"z\":null}", "42 true   "), "numbers and booleans print; false, null, missing do not");
}

static void
test_sections(void)
{
	tap_ok(renders("{{#xs}}[{{name}}]{{/xs}}", "{\"xs\":[{\"name\":\"a\"},{\"name\":\"<b>\"}]}",
	    "[a][&lt;b&gt;]"), "arrays repeat, escaped");
	tap_ok(renders("{{#xs}}{{.}},{{/xs}}", "{\"xs\":[\"a\",\"<\",3]}", "a,&lt;,3,"),
	    "{{.}} is the current value");
	tap_ok(renders("{{#o}}{{k}}{{/o}}", "{\"o\":{\"k\":\"v\"}}", "v"), "objects render once");
	tap_ok(renders("{{#o}}{{outer}}{{/o}}", "{\"o\":{\"k\":1},\"outer\":\"up\"}", "up"),
	    "names fall back to outer contexts");
	tap_ok(renders("{{a.b.c}}", "{\"a\":{\"b\":{\"c\":\"deep\"}}}", "deep"), "dotted names");
	tap_ok(renders("{{^xs}}none{{/xs}}{{^e}}empty{{/e}}{{^z}}zero{{/z}}{{^s}}blank{{/s}}",
	    "{\"xs\":[],\"z\":0,\"s\":\"\"}", "noneemptyzeroblank"), "inverted sections");
	tap_ok(renders("{{#t}}yes{{/t}}{{#f}}no{{/f}}", "{\"t\":true,\"f\":false}", "yes"),
	    "boolean sections");
	tap_ok(renders("a{{! a comment }}b", "{}", "ab"), "comments are dropped");
	tap_ok(refused("{{#a}}x"), "an unclosed section is refused");
	tap_ok(refused("{{#a}}x{{/b}}"), "a mismatched close is refused");
	tap_ok(refused("{{/a}}"), "a close without open is refused");
	tap_ok(refused("{{a b}}"), "a bad name is refused");
	tap_ok(refused("{{a"), "'{{' without '}}' is refused");
	tap_ok(refused("{{{a}}}"), "triple braces (unescaped output elsewhere) are refused");
}

/* The daemon's own reading of the table, for answers as bits (1 = yes) of the questions. */
static const char *
daemon_flow(const struct wizard *w, int bits, const char **kind)
{
	json_t		*a = json_object();
	const char	*flow;
	int		 q;

	for (q = 0; q < w->nquestions; q++)
		json_object_set_new(a, wizard_question_id(w, q), json_boolean(bits >> q & 1));
	flow = policy_recommend(a, kind);
	json_decref(a);
	return flow;
}

static void
test_wizard(void)
{
	struct wizard	 w;
	struct buf	 svg = { 0 };
	char		 err[160];
	int		 answers[WIZ_QUESTIONS_MAX], path[WIZ_QUESTIONS_MAX + 2], npath, bits, q;
	int		 agree = 1, leaves = 0, i;
	json_t		*row;
	const char	*kind, *flow;

	if (!tap_ok(policy_init(err, sizeof(err)) == 0, "the embedded policy loads: %s", err) ||
	    !tap_ok(wizard_build(&w, policy_document(), err, sizeof(err)) == 0,
	    "the wizard builds its tree from the policy: %s", err))
		return;
	TEST_START("the first question is whether a user is present");
	ASSERT_STRING_EQ(wizard_question_id(&w, w.nodes[0].question), "user_present");
	TEST_DONE();
	for (bits = 0; bits < 1 << w.nquestions; bits++) {
		for (q = 0; q < w.nquestions; q++)
			answers[q] = bits >> q & 1;
		if (!wizard_walk(&w, answers, path, &npath)) {
			agree = 0;
			printf("# answers %#x: the walk did not reach a result\n", bits);
			continue;
		}
		row = wizard_row(&w, w.nodes[path[npath - 1]].row);
		flow = daemon_flow(&w, bits, &kind);
		if (row == NULL || flow == NULL ||
		    strcmp(json_string_value(json_object_get(row, "flow")), flow) != 0 ||
		    strcmp(json_string_value(json_object_get(row, "kind")), kind) != 0) {
			agree = 0;
			printf("# answers %#x: wizard %s, daemon %s\n", bits,
			    row ? json_string_value(json_object_get(row, "flow")) : "none",
			    flow ? flow : "none");
		}
	}
	tap_ok(agree, "for all %d answer sets the wizard lands on the flow and kind the daemon "
	    "recommends", 1 << w.nquestions);
	for (i = 0; i < w.nnodes; i++)
		leaves += w.nodes[i].question == -1;
	tap_ok(leaves == w.nleaves && leaves == 7, "seven results: the five rows (ROPC reached "
	    "twice), the fallback, client credentials (%d)", leaves);
	for (q = 0; q < WIZ_QUESTIONS_MAX; q++)
		answers[q] = -1;
	answers[wizard_question_index(&w, "user_present")] = 0;
	TEST_START("no user present: one question, client credentials");
	ASSERT_INT_EQ(wizard_walk(&w, answers, path, &npath), 1);
	ASSERT_INT_EQ(npath, 2);
	ASSERT_STRING_EQ(wizard_row_id(&w, w.nodes[path[1]].row), "backend_only");
	TEST_DONE();
	answers[wizard_question_index(&w, "user_present")] = 1;
	TEST_START("user present: the browser question comes next");
	ASSERT_INT_EQ(wizard_walk(&w, answers, path, &npath), 0);
	ASSERT_INT_EQ(npath, 2);
	ASSERT_STRING_EQ(wizard_question_id(&w, w.nodes[path[1]].question), "browser_client");
	TEST_DONE();
	svg_decision_tree(&svg, &w, path, npath);
	TEST_START("the picture marks the path taken and the question being asked");
	ASSERT_PTR_NE(strstr(buf_str(&svg), "data-question=\"user_present\" data-taken=\"true\""),
	    NULL);
	ASSERT_PTR_NE(strstr(buf_str(&svg),
	    "current\" data-node=\"1\" data-question=\"browser_client\""), NULL);
	TEST_DONE();
	TEST_START("the picture has no script and no inline style");
	ASSERT_PTR_EQ(strstr(buf_str(&svg), "<script"), NULL);
	ASSERT_PTR_EQ(strstr(buf_str(&svg), "style="), NULL);
	TEST_DONE();
	buf_free(&svg);
}

int
main(void)
{
	test_escaping();
	test_sections();
	test_wizard();
	return tap_done();
}
