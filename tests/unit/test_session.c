/*
 * Admin UI sessions (daemon/session.c) on an in-memory database: a live session names its
 * account and role, its CSRF token is derived from it, and it ends on the idle timeout, on
 * the absolute timeout, when its account is disabled, and when all of the account's end.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "fixture.h"
#include "tap.h"

/* Session ids are 43 characters of base64url, as session.c makes them. */
#define SID1	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define SID2	"BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
#define SID3	"CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"

/* A session row for sid, created and last seen the given seconds ago; 0 on success. */
static int
session_row(const char *sid, int64_t user_id, int64_t created_ago, int64_t seen_ago)
{
	struct db_stmt	*st;
	uint8_t		 h[32];
	int64_t		 now = store_now_ms();
	int		 r;

	seal_session_hash(sid, strlen(sid), h);
	if (db_prepare("INSERT INTO sessions (id_hash, user_id, created_at, "
	    "last_seen) VALUES (?, ?, ?, ?)", &st) != DB_OK)
		return -1;
	db_bind_blob(st, 1, h, 32, DB_STATIC);
	db_bind_int64(st, 2, user_id);
	db_bind_int64(st, 3, now - created_ago * 1000);
	db_bind_int64(st, 4, now - seen_ago * 1000);
	r = store_step_write(st) == DB_DONE ? 0 : -1;
	db_finalize(st);
	return r;
}

/* session_check of sid, the account it names into ctx. */
static int
check(const char *sid, struct fg_reqctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	return session_check(sid, ctx);
}

/* A live session names its account and role; its CSRF token is its own. */
static void
test_live(void)
{
	struct fg_reqctx	ctx;
	char			csrf[33], other[33];

	TEST_START("a live session");
	ASSERT_INT_EQ(session_row(SID1, 1, 10, 5), 0);
	ASSERT_INT_EQ(check(SID1, &ctx), 0);
	ASSERT_STRING_EQ(ctx.user, "alice");
	ASSERT_INT_EQ(ctx.role, ROLE_SECURITY);
	ASSERT_INT_EQ(ctx.user_id, 1);
	ASSERT_INT_EQ(check(SID2, &ctx), -1);
	ASSERT_INT_EQ(check("short", &ctx), -1);
	ASSERT_STRING_EQ(ctx.user, "");
	seal_csrf(SID1, strlen(SID1), csrf);
	seal_csrf(SID2, strlen(SID2), other);
	ASSERT_INT_EQ(session_csrf_ok(SID1, csrf), 1);
	ASSERT_INT_EQ(session_csrf_ok(SID1, other), 0);
	ASSERT_INT_EQ(session_csrf_ok(SID1, NULL), 0);
	ASSERT_INT_EQ(fixture_count("SELECT count(*) FROM sessions WHERE id_hash LIKE '%AAAA%'"),
	    0);
	TEST_DONE();
}

/* The idle and the absolute timeouts end a session, and it is deleted on the way. */
static void
test_timeouts(void)
{
	struct fg_reqctx ctx;

	TEST_START("timeouts");
	ASSERT_INT_EQ(session_row(SID2, 1, 10, fg_cfg->session_idle_s + 1), 0);
	ASSERT_INT_EQ(check(SID2, &ctx), -1);
	ASSERT_INT_EQ(session_row(SID3, 1, fg_cfg->session_max_s + 1, 1), 0);
	ASSERT_INT_EQ(check(SID3, &ctx), -1);
	ASSERT_INT_EQ(fixture_count("SELECT count(*) FROM sessions"), 1);
	TEST_DONE();
}

/* A disabled account's session ends; ending an account's sessions ends every one of them. */
static void
test_account_ends(void)
{
	struct fg_reqctx ctx;

	TEST_START("the account ends its sessions");
	ASSERT_INT_EQ(session_row(SID2, 2, 1, 1), 0);
	ASSERT_INT_EQ(check(SID2, &ctx), 0);
	ASSERT_STRING_EQ(ctx.user, "bob");
	ASSERT_INT_EQ(fixture_sql("UPDATE users SET disabled = 1 WHERE name = 'bob'"), 0);
	ASSERT_INT_EQ(check(SID2, &ctx), -1);
	ASSERT_INT_EQ(session_row(SID3, 1, 1, 1), 0);
	ASSERT_INT_EQ(check(SID3, &ctx), 0);
	session_end_account(1);
	ASSERT_INT_EQ(check(SID1, &ctx), -1);
	ASSERT_INT_EQ(check(SID3, &ctx), -1);
	ASSERT_INT_EQ(fixture_count("SELECT count(*) FROM sessions"), 0);
	TEST_DONE();
}

int
main(void)
{
	if (fixture_open() == -1)
		return 1;
	tap_ok(fixture_sql("INSERT INTO users (id, name, role, pw_hash, created_at) VALUES "
	    "(1, 'alice', 'security', 'x', 0), (2, 'bob', 'admin', 'x', 0)") == 0,
	    "two admin UI accounts");
	test_live();
	test_timeouts();
	test_account_ends();
	fixture_close();
	return tap_done();
}
