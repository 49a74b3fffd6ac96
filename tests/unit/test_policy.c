/* The policy table: every row of SPEC §2 is recommended and enforced as the table says. */
#include "config.h"

#include <string.h>

#include "daemon.h"
#include "tap.h"

const struct fg_config *fg_cfg;

static const char *
recommend(const char *answers, const char **kind)
{
	json_t		*a = json_loads(answers, 0, NULL);
	const char	*flow = policy_recommend(a, kind);

	json_decref(a);
	return flow;
}

static int
wizard(const char *answers, const char *want_flow, const char *want_kind)
{
	const char *kind = NULL, *flow = recommend(answers, &kind);

	return flow != NULL && strcmp(flow, want_flow) == 0 && strcmp(kind, want_kind) == 0;
}

/* NULL when allowed, else the refusing rule's id. */
static const char *
check(const char *flow, const char *kind, const char *scopes, int internal, int redirect,
    const char *justification)
{
	struct policy_app	 a = { flow, kind, scopes, internal, redirect, justification };
	const char		*rule, *why = policy_check_app(&a, &rule);

	return why == NULL ? NULL : rule;
}

static int
refused_by(const char *got, const char *rule)
{
	return got != NULL && strcmp(got, rule) == 0;
}

int
main(void)
{
	char		 err[256];
	const char	*kind;
	const char	*why = "The app runs on a shop-floor terminal with no browser to redirect.";

	tap_ok(policy_init(err, sizeof(err)) == 0, "the embedded policy table parses: %s", err);

	/* the wizard: one answer set per row of the decision table */
	tap_ok(wizard("{\"user_present\":true,\"browser_client\":true,\"assistant\":true}",
	    "authorization_code_pkce", "assistant"),
	    "embedded Corti Assistant -> Authorization Code with PKCE, kind assistant");
	tap_ok(wizard("{\"user_present\":true,\"browser_client\":true,\"assistant\":false}",
	    "authorization_code_pkce", "user_facing"), "browser/SPA/native -> Authorization Code "
	    "with PKCE");
	tap_ok(wizard("{\"user_present\":true,\"browser_client\":false,\"backend_secret\":true,"
	    "\"can_redirect\":true}", "authorization_code", "user_facing"),
	    "server-side web app with a backend secret -> Authorization Code");
	tap_ok(wizard("{\"user_present\":false}", "client_credentials", "backend"),
	    "no user -> Client Credentials");
	tap_ok(wizard("{\"user_present\":true,\"browser_client\":false,\"backend_secret\":true,"
	    "\"can_redirect\":false}", "ropc", "user_facing"),
	    "internal app that cannot redirect -> ROPC");
	tap_ok(wizard("{\"user_present\":true,\"browser_client\":false,\"backend_secret\":false,"
	    "\"can_redirect\":true}", "authorization_code_pkce", "user_facing"),
	    "no backend secret but can redirect -> PKCE as a public client");
	TEST_START("an unfinished questionnaire recommends nothing");
	ASSERT_PTR_EQ(recommend("{\"user_present\":true}", &kind), NULL);
	TEST_DONE();

	/* grants per flow */
	TEST_START("each flow maps to its grant; unknown flows to none");
	ASSERT_STRING_EQ(policy_grant("client_credentials"), "client_credentials");
	ASSERT_STRING_EQ(policy_grant("authorization_code_pkce"), "authorization_code");
	ASSERT_STRING_EQ(policy_grant("authorization_code"), "authorization_code");
	ASSERT_STRING_EQ(policy_grant("ropc"), "password");
	ASSERT_PTR_EQ(policy_grant("implicit"), NULL);
	TEST_DONE();

	/* registration: what each row allows and forbids */
	TEST_START("a backend may hold broader scopes with client credentials");
	ASSERT_PTR_EQ(check("client_credentials", "backend", "openid interactions transcribe", 0, 0,
	    NULL), NULL);
	TEST_DONE();
	tap_ok(refused_by(check("client_credentials", "user_facing", "openid transcribe", 0, 1, NULL),
	    "user_facing_never_client_credentials"), "client credentials for a user-facing app is refused");
	TEST_START("PKCE for a user-facing app with limited scopes is allowed");
	ASSERT_PTR_EQ(check("authorization_code_pkce", "user_facing", "openid streams transcribe",
	    0, 1, NULL), NULL);
	TEST_DONE();
	tap_ok(refused_by(check("authorization_code_pkce", "user_facing", "interactions openid", 0, 1, NULL),
	    "browser_tokens_limited"), "a user-facing app cannot hold a broad scope");
	tap_ok(refused_by(check("authorization_code_pkce", "backend", "openid streams", 0, 1, NULL),
	    "user_flow_needs_user_facing"), "PKCE for a backend registration is refused");
	tap_ok(refused_by(check("authorization_code", "user_facing", "openid streams", 0, 0, NULL),
	    "redirect_required"), "Authorization Code without redirect capability is refused");
	TEST_START("Authorization Code for a server-side web app is allowed");
	ASSERT_PTR_EQ(check("authorization_code", "user_facing", "openid streams", 0, 1, NULL),
	    NULL);
	TEST_DONE();
	TEST_START("ROPC for an internal, no-redirect app with a justification is allowed");
	ASSERT_PTR_EQ(check("ropc", "user_facing", "openid transcribe", 1, 0, why), NULL);
	TEST_DONE();
	tap_ok(refused_by(check("ropc", "user_facing", "openid transcribe", 1, 0, NULL),
	    "ropc_requires_justification"), "ROPC without a justification is refused");
	tap_ok(refused_by(check("ropc", "user_facing", "openid transcribe", 1, 0, "because"),
	    "ropc_requires_justification"), "ROPC with a token justification is refused");
	tap_ok(refused_by(check("ropc", "user_facing", "openid transcribe", 1, 1, why),
	    "ropc_requires_internal_no_redirect"), "ROPC for an app that can redirect is refused");
	tap_ok(refused_by(check("ropc", "user_facing", "openid transcribe", 0, 0, why),
	    "ropc_requires_internal_no_redirect"), "ROPC for a non-internal app is refused");
	tap_ok(refused_by(check("ropc", "backend", "openid transcribe", 1, 0, why),
	    "user_flow_needs_user_facing"), "ROPC for a backend registration is refused");
	tap_ok(refused_by(check("implicit", "user_facing", "openid streams", 0, 1, NULL),
	    "unknown_flow"), "an unknown flow is refused");
	tap_ok(refused_by(check("client_credentials", "backend", "openid", 0, 0, NULL),
	    "scopes_required"), "a registration without scopes is refused");

	tap_ok(policy_scope_limited("streams") && policy_scope_limited("transcribe") &&
	    policy_scope_limited("openid") && !policy_scope_limited("interactions"),
	    "transcribe and streams are the limited scopes");
	return tap_done();
}
