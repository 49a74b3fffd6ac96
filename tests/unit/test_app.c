/*
 * App authentication on an in-memory database: the credential's keyed hash, an unknown id or
 * wrong secret refused, the verbs that revoke and rotate (dispatched as flowgatectl sends
 * them), the old secret kept for the rotation's overlap and refused after it.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "fixture.h"
#include "tap.h"

#define ID1	"fg_aaaaaaaaaaaaaaaaaaaaaaaa"
#define ID2	"fg_bbbbbbbbbbbbbbbbbbbbbbbb"
#define SEC1	"fgs_first-secret"
#define SEC2	"fgs_second-secret"

/* Send one verb as flowgatectl (an admin peer) would; its reply goes nowhere. */
static void
admin_verb(json_t *req, int peer)
{
	struct fg_reqctx ctx = { 9999, 0, 1, peer, 0, 0, 0, 0, "" };

	verbs_dispatch(&ctx, req);
	json_decref(req);
	fixture_turns();
}

/* 0 when client_id:secret authenticates; the app's name into name. */
static int
auth(const char *client_id, const char *secret, char *name, size_t namelen)
{
	struct app_rec	a;
	int		r = app_authenticate(client_id, secret, &a);

	snprintf(name, namelen, "%s", r == 0 ? a.name : "");
	return r;
}

/* The right secret authenticates its own app only. */
static void
test_authenticate(void)
{
	char name[FG_NAME_MAX + 1];

	TEST_START("authenticate");
	ASSERT_INT_EQ(auth(ID1, SEC1, name, sizeof(name)), 0);
	ASSERT_STRING_EQ(name, "app1");
	ASSERT_INT_EQ(auth(ID2, SEC2, name, sizeof(name)), 0);
	ASSERT_STRING_EQ(name, "app2");
	ASSERT_INT_EQ(auth(ID1, SEC2, name, sizeof(name)), -1);
	ASSERT_INT_EQ(auth(ID1, "fgs_first-secreT", name, sizeof(name)), -1);
	ASSERT_INT_EQ(auth("fg_nobody", SEC1, name, sizeof(name)), -1);
	ASSERT_INT_EQ(auth(ID1, "", name, sizeof(name)), -1);
	ASSERT_INT_EQ(fixture_count("SELECT count(*) FROM apps WHERE secret_hash LIKE "
	    "'%first-secret%'"), 0);
	TEST_DONE();
}

/* Rotation keeps the old secret for its overlap; with no overlap the old one stops at once. */
static void
test_rotation(void)
{
	char name[FG_NAME_MAX + 1];

	TEST_START("rotation overlap");
	admin_verb(json_pack("{ssss}", "verb", "app.rotate_secret", "name", "app1"), PEER_ADMIN);
	ASSERT_INT_EQ(fixture_count("SELECT count(*) FROM audit WHERE event = "
	    "'app.rotate_secret' AND app = 'app1'"), 1);
	ASSERT_INT_EQ(fixture_count("SELECT count(*) FROM apps WHERE name = 'app1' AND "
	    "prev_secret_hash IS NOT NULL AND prev_secret_hash != secret_hash"), 1);
	ASSERT_INT_EQ(auth(ID1, SEC1, name, sizeof(name)), 0);
	ASSERT_STRING_EQ(name, "app1");
	ASSERT_INT_EQ(fixture_sql("UPDATE apps SET prev_valid_until = 1 WHERE name = 'app1'"), 0);
	app_cache_clear();
	ASSERT_INT_EQ(auth(ID1, SEC1, name, sizeof(name)), -1);
	admin_verb(json_pack("{sssssi}", "verb", "app.rotate_secret", "name", "app2",
	    "overlap_s", 0), PEER_ADMIN);
	ASSERT_INT_EQ(auth(ID2, SEC2, name, sizeof(name)), -1);
	TEST_DONE();
}

/* A revoked app's secret no longer authenticates; the refusal can still name the app. */
static void
test_revoked(void)
{
	struct app_rec	a;
	char		name[FG_NAME_MAX + 1];

	TEST_START("revoked");
	ASSERT_INT_EQ(fixture_app("app3", 1, "client_credentials", "backend", "openid streams",
	    "fg_cccccccccccccccccccccccc", "fgs_third"), 3);
	ASSERT_INT_EQ(auth("fg_cccccccccccccccccccccccc", "fgs_third", name, sizeof(name)), 0);
	admin_verb(json_pack("{ssss}", "verb", "app.revoke", "name", "app3"), PEER_WEB);
	ASSERT_INT_EQ(auth("fg_cccccccccccccccccccccccc", "fgs_third", name, sizeof(name)), 0);
	admin_verb(json_pack("{ssss}", "verb", "app.revoke", "name", "app3"), PEER_ADMIN);
	ASSERT_INT_EQ(auth("fg_cccccccccccccccccccccccc", "fgs_third", name, sizeof(name)), -1);
	ASSERT_INT_EQ(app_revoked_match("fg_cccccccccccccccccccccccc", "fgs_third", &a), 0);
	ASSERT_STRING_EQ(a.name, "app3");
	ASSERT_INT_EQ(a.revoked, 1);
	ASSERT_INT_EQ(app_revoked_match("fg_cccccccccccccccccccccccc", "fgs_other", &a), -1);
	ASSERT_INT_EQ(fixture_count("SELECT count(*) FROM audit WHERE event = 'app.revoke'"), 1);
	TEST_DONE();
}

int
main(void)
{
	int64_t conn;

	if (fixture_open() == -1)
		return 1;
	conn = fixture_connection("demo", "upstream-client", "connection-secret");
	tap_ok(fixture_app("app1", conn, "client_credentials", "backend", "openid streams", ID1,
	    SEC1) == 1 && fixture_app("app2", conn, "client_credentials", "backend",
	    "openid transcribe", ID2, SEC2) == 2, "a connection and two apps");
	test_authenticate();
	test_rotation();
	test_revoked();
	fixture_close();
	return tap_done();
}
