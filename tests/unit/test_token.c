/*
 * The token cache and single flight, through the one gate, on an in-memory database: one
 * upstream request per (connection, scope set) however many ask meanwhile, every issuance
 * audited with the token's fingerprint and released only once durable, a failed fetch failing
 * the next requests fast, a grant broader than asked refused, and a token whose issuance record
 * was lost never an app's credential on the proxy.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "fixture.h"
#include "tap.h"

#define CLIENT_ID	"fg_0123456789abcdef01234567"
#define SECRET		"fgs_the-app-secret"
#define CLIENT_ID2	"fg_76543210fedcba9876543210"
#define SECRET2		"fgs_the-other-app-secret"

/* What one requester got. */
struct got {
	int	 called;
	char	 token[128];
	char	 scopes[FG_SCOPES_MAX];
	char	 fp[FG_FP_LEN];
	char	 code[32];
};

static struct got	got[8];
static int64_t		first_app;

/* A token request's ending: keep what came. */
static void
done(const struct token_req *w, const struct token_grant *g, const struct token_fail *f)
{
	struct got *r = w->arg;

	r->called++;
	if (g != NULL) {
		snprintf(r->token, sizeof(r->token), "%s", g->token);
		snprintf(r->scopes, sizeof(r->scopes), "%s", g->scopes);
		snprintf(r->fp, sizeof(r->fp), "%s", g->fp);
	} else
		snprintf(r->code, sizeof(r->code), "%s", f->code);
}

/* Ask for a token as app client_id does, through the gate; 0 when the gate let it pass. */
static int
ask_as(const char *client_id, const char *secret, const char *scope, struct got *r)
{
	struct fg_reqctx	ctx = { 9999, 0, 1, PEER_WEB, 0, 0, 0, 0, "" };
	struct gate_pass	p;
	json_t			*req = json_pack("{ssssssss}", "client_id", client_id,
				    "client_secret", secret, "scope", scope, "remote", "127.0.0.1");

	memset(r, 0, sizeof(*r));
	memset(&p, 0, sizeof(p));
	p.route = GATE_TOKEN;
	if (gate_open(&ctx, &p, req) == -1) {
		json_decref(req);
		return -1;
	}
	gate_token(&p, done, r, req, 0);
	json_decref(req);
	return 0;
}

/* Ask for a token as the "token" verb does for the first app. */
static int
ask(const char *secret, const char *scope, struct got *r)
{
	return ask_as(CLIENT_ID, secret, scope, r);
}

/* Three requests at once make one upstream request; all get its token after the commit. */
static void
test_single_flight(void)
{
	char	fp[FG_FP_LEN];
	int	i;

	TEST_START("single flight");
	for (i = 0; i < 3; i++)
		ASSERT_INT_EQ(ask(SECRET, "streams", &got[i]), 0);
	ASSERT_INT_EQ(double_ncalls(), 1);
	ASSERT_STRING_EQ(double_call(0)->scope, "openid streams");
	ASSERT_STRING_EQ(double_call(0)->client_id, "upstream-client");
	ASSERT_STRING_EQ(double_call(0)->secret, "connection-secret");
	ASSERT_INT_EQ(got[0].called, 0);
	double_answer(0, UPSTREAM_OK, "tok-A", 300, NULL);
	ASSERT_INT_EQ(got[0].called, 0);	/* held until the issuance records are durable */
	ASSERT_INT_EQ(fixture_turns(), 0);
	seal_fingerprint("tok-A", 5, fp);
	for (i = 0; i < 3; i++) {
		ASSERT_INT_EQ(got[i].called, 1);
		ASSERT_STRING_EQ(got[i].token, "tok-A");
		ASSERT_STRING_EQ(got[i].scopes, "openid streams");
		ASSERT_STRING_EQ(got[i].fp, fp);
	}
	ASSERT_INT_EQ(fixture_count("SELECT count(*) FROM audit WHERE event = 'token.issue' AND "
	    "app = 'backend' AND connection = 'demo'"), 3);
	ASSERT_INT_EQ(fixture_count("SELECT count(*) FROM audit WHERE detail LIKE '%tok-A%' OR "
	    "token_fp LIKE '%tok-A%'"), 0);
	TEST_DONE();
}

/* A cached token is served without asking the upstream; another scope set is its own key. */
static void
test_cache(void)
{
	TEST_START("cache");
	ASSERT_INT_EQ(ask(SECRET, "streams", &got[0]), 0);
	ASSERT_INT_EQ(fixture_turns(), 0);
	ASSERT_INT_EQ(double_ncalls(), 1);
	ASSERT_STRING_EQ(got[0].token, "tok-A");
	ASSERT_INT_EQ(ask(SECRET, "transcribe", &got[1]), 0);
	ASSERT_INT_EQ(double_ncalls(), 2);
	ASSERT_STRING_EQ(double_call(1)->scope, "openid transcribe");
	double_answer(1, UPSTREAM_OK, "tok-B", 300, "openid transcribe");
	ASSERT_INT_EQ(fixture_turns(), 0);
	ASSERT_STRING_EQ(got[1].token, "tok-B");
	TEST_DONE();
}

/* A failed fetch answers its waiters, and the next request fails fast without a call. */
static void
test_failure(void)
{
	TEST_START("upstream failure");
	ASSERT_INT_EQ(ask(SECRET, "streams transcribe", &got[0]), 0);
	ASSERT_INT_EQ(double_ncalls(), 3);
	double_answer(2, UPSTREAM_UNAVAILABLE, NULL, 0, NULL);
	ASSERT_INT_EQ(fixture_turns(), 0);
	ASSERT_INT_EQ(got[0].called, 1);
	ASSERT_STRING_EQ(got[0].code, "temporarily_unavailable");
	ASSERT_INT_EQ(ask(SECRET, "streams transcribe", &got[1]), 0);
	ASSERT_INT_EQ(double_ncalls(), 3);
	ASSERT_STRING_EQ(got[1].code, "temporarily_unavailable");
	ASSERT_INT_EQ(fixture_turns(), 0);
	ASSERT_INT_EQ(fixture_count("SELECT count(*) FROM audit WHERE event = 'token.refuse'"), 2);
	TEST_DONE();
}

/* A grant broader than asked is refused, never cached. */
static void
test_broader(void)
{
	TEST_START("a broader grant");
	ASSERT_INT_EQ(ask(SECRET, "openid", &got[0]), 0);
	ASSERT_INT_EQ(double_ncalls(), 4);
	double_answer(3, UPSTREAM_OK, "tok-C", 300, "openid streams transcribe");
	ASSERT_INT_EQ(fixture_turns(), 0);
	ASSERT_INT_EQ(got[0].called, 1);
	ASSERT_STRING_EQ(got[0].token, "");
	ASSERT_STRING_NE(got[0].code, "");
	TEST_DONE();
}

/* The gate refuses a wrong secret and a scope outside the registration before any fetch. */
static void
test_gate(void)
{
	TEST_START("the gate");
	ASSERT_INT_EQ(ask("fgs_wrong", "streams", &got[0]), -1);
	ASSERT_INT_EQ(ask(SECRET, "interactions", &got[0]), -1);
	ASSERT_INT_EQ(got[0].called, 0);
	ASSERT_INT_EQ(double_ncalls(), 4);
	ASSERT_INT_EQ(fixture_turns(), 0);
	ASSERT_INT_EQ(fixture_count("SELECT count(*) FROM audit WHERE event = 'token.refuse' AND "
	    "detail LIKE 'route=token step=scopes%'"), 1);
	TEST_DONE();
}

/*
 * The cached token goes to a second app, but the commit of that issuance fails: the reply is
 * refused and the token stays the first app's alone; once the second app does receive it, it
 * is neither app's credential on the proxy.
 */
static void
test_lost_issuance(void)
{
	const char	*why;
	int64_t		 app = 0;

	TEST_START("a lost issuance");
	ASSERT_INT_EQ(bearer_find("tok-A", &app, &why), 0);
	ASSERT_INT_EQ(fixture_sql("CREATE TRIGGER test_lost BEFORE INSERT ON audit "
	    "BEGIN SELECT RAISE(ABORT, 'test: the commit fails'); END"), 0);
	ASSERT_INT_EQ(ask_as(CLIENT_ID2, SECRET2, "streams", &got[0]), 0);
	ASSERT_INT_EQ(fixture_turns(), 0);
	ASSERT_STRING_EQ(got[0].code, "server_error");
	ASSERT_STRING_EQ(got[0].token, "");
	ASSERT_INT_EQ(bearer_find("tok-A", &app, &why), 0);
	ASSERT_INT_EQ(app, first_app);
	ASSERT_INT_EQ(fixture_sql("DROP TRIGGER test_lost"), 0);
	ASSERT_INT_EQ(ask_as(CLIENT_ID2, SECRET2, "streams", &got[1]), 0);
	ASSERT_INT_EQ(fixture_turns(), 0);
	ASSERT_STRING_EQ(got[1].token, "tok-A");
	ASSERT_INT_EQ(bearer_find("tok-A", &app, &why), -1);
	ASSERT_INT_EQ(double_ncalls(), 4);
	TEST_DONE();
}

int
main(void)
{
	int64_t conn;

	if (fixture_open() == -1)
		return 1;
	conn = fixture_connection("demo", "upstream-client", "connection-secret");
	first_app = fixture_app("backend", conn, "client_credentials", "backend",
	    "openid streams transcribe", CLIENT_ID, SECRET);
	tap_ok(conn > 0 && first_app > 0 && fixture_app("second", conn,
	    "client_credentials", "backend", "openid streams", CLIENT_ID2, SECRET2) > 0,
	    "a connection and two apps");
	test_single_flight();
	test_cache();
	test_failure();
	test_broader();
	test_gate();
	test_lost_issuance();
	ASSERT_INT_EQ(fixture_turns(), 0);
	fixture_close();
	return tap_done();
}
