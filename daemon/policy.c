/*
 * The decision table of SPEC §2, read from schema/policy.json (compiled in).  The wizard, the
 * registration checks and the token checks all ask this module, so the table is the one source
 * of truth for what each flow may do.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "daemon.h"

static json_t *policy_doc;

/* Parse the embedded table and check the fields the checks rely on. */
int
policy_init(char *err, size_t errlen)
{
	json_error_t	 jerr;
	json_t		*flows;

	json_decref(policy_doc);
	policy_doc = json_loads(fg_policy_json, JSON_REJECT_DUPLICATES, &jerr);
	if (policy_doc == NULL) {
		snprintf(err, errlen, "policy.json:%d: %s", jerr.line, jerr.text);
		return -1;
	}
	flows = json_object_get(policy_doc, "flows");
	if (!json_is_object(flows) || !json_is_array(json_object_get(policy_doc, "rows")) ||
	    !json_is_array(json_object_get(policy_doc, "limited_scopes")) ||
	    !json_is_object(json_object_get(policy_doc, "rules"))) {
		snprintf(err, errlen, "policy.json: flows, rows, rules or limited_scopes missing");
		json_decref(policy_doc);
		policy_doc = NULL;
		return -1;
	}
	return 0;
}

/* The whole table, for the wizard (a new reference). */
json_t *
policy_document(void)
{
	return json_incref(policy_doc);
}

/* The text of a rule; rule ids name what was refused, for the UI and the audit. */
const char *
policy_rule_text(const char *id, const char **rule)
{
	const char *text;

	*rule = id;
	text = json_string_value(json_object_get(json_object_get(policy_doc, "rules"), id));
	return text != NULL ? text : id;
}

static int
policy_flag(json_t *flow, const char *name)
{
	return json_is_true(json_object_get(flow, name));
}

/* True when scope is one of the limited (browser-safe) scopes; "openid" always is. */
int
policy_scope_limited(const char *scope)
{
	size_t	 i;
	json_t	*v;

	if (strcmp(scope, "openid") == 0)
		return 1;
	json_array_foreach(json_object_get(policy_doc, "limited_scopes"), i, v)
		if (strcmp(json_string_value(v), scope) == 0)
			return 1;
	return 0;
}

/* True when every scope of the canonical set is limited. */
int
policy_scopes_limited(const char *scopes)
{
	char	 tok[FG_NAME_MAX + 1];
	size_t	 n;

	while (*scopes != '\0') {
		n = strcspn(scopes, " ");
		if (n > FG_NAME_MAX)
			return 0;
		memcpy(tok, scopes, n);
		tok[n] = '\0';
		if (!policy_scope_limited(tok))
			return 0;
		scopes += n + (scopes[n] == ' ');
	}
	return 1;
}

/* True when kind is one of the flow's allowed kinds. */
static int
policy_kind_allowed(json_t *flow, const char *kind)
{
	size_t	 i;
	json_t	*v;

	json_array_foreach(json_object_get(flow, "kinds"), i, v)
		if (strcmp(json_string_value(v), kind) == 0)
			return 1;
	return 0;
}

/*
 * Check a registration against the table.  NULL when allowed; otherwise the reason to show
 * the admin, with *rule naming the rule that refused it.
 */
const char *
policy_check_app(const struct policy_app *app, const char **rule)
{
	json_t		*flow;
	const char	*grant;
	json_int_t	 minlen;

	*rule = NULL;
	flow = json_object_get(json_object_get(policy_doc, "flows"), app->flow);
	if (flow == NULL)
		return policy_rule_text("unknown_flow", rule);
	grant = json_string_value(json_object_get(flow, "grant"));
	if (!policy_kind_allowed(flow, app->kind)) {
		if (strcmp(grant, "client_credentials") == 0)
			return policy_rule_text("user_facing_never_client_credentials", rule);
		return policy_rule_text("user_flow_needs_user_facing", rule);
	}
	if (strcmp(app->scopes, "openid") == 0 || app->scopes[0] == '\0')
		return policy_rule_text("scopes_required", rule);
	if ((strcmp(app->kind, "user_facing") == 0 || policy_flag(flow, "limited_scopes_only")) &&
	    !policy_scopes_limited(app->scopes))
		return policy_rule_text("browser_tokens_limited", rule);
	if ((policy_flag(flow, "requires_internal") && !app->internal) ||
	    (policy_flag(flow, "requires_no_redirect") && app->can_redirect))
		return policy_rule_text("ropc_requires_internal_no_redirect", rule);
	minlen = json_integer_value(json_object_get(policy_doc, "justification_min_length"));
	if (policy_flag(flow, "requires_justification") && (app->justification == NULL ||
	    (json_int_t)strlen(app->justification) < minlen))
		return policy_rule_text("ropc_requires_justification", rule);
	if (policy_flag(flow, "requires_redirect") && !app->can_redirect)
		return policy_rule_text("redirect_required", rule);
	return NULL;
}

/* The OAuth2 grant a flow's apps use at /oauth2/token, or NULL for an unknown flow. */
const char *
policy_grant(const char *flow)
{
	return json_string_value(json_object_get(json_object_get(json_object_get(policy_doc,
	    "flows"), flow), "grant"));
}

/* True when every condition of when holds in answers. */
static int
policy_when_matches(json_t *when, json_t *answers)
{
	const char	*key;
	json_t		*want, *got;

	json_object_foreach(when, key, want) {
		got = json_object_get(answers, key);
		if (!json_is_boolean(got) || json_is_true(got) != json_is_true(want))
			return 0;
	}
	return 1;
}

/*
 * The wizard's answer: the first row whose conditions hold, else the fallback.  Returns the
 * flow and sets *kind; NULL when the answers do not decide yet.
 */
const char *
policy_recommend(json_t *answers, const char **kind)
{
	size_t	 i;
	json_t	*row, *fallback;

	json_array_foreach(json_object_get(policy_doc, "rows"), i, row) {
		if (policy_when_matches(json_object_get(row, "when"), answers)) {
			*kind = json_string_value(json_object_get(row, "kind"));
			return json_string_value(json_object_get(row, "flow"));
		}
	}
	fallback = json_object_get(policy_doc, "fallback");
	if (fallback != NULL && policy_when_matches(json_object_get(fallback, "when"), answers)) {
		*kind = json_string_value(json_object_get(fallback, "kind"));
		return json_string_value(json_object_get(fallback, "flow"));
	}
	return NULL;
}

/* True when the flow sends users to a login page (and so needs a redirect URI). */
int
policy_flow_redirects(const char *flow)
{
	return policy_flag(json_object_get(json_object_get(policy_doc, "flows"), flow),
	    "requires_redirect");
}
