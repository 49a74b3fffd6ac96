/*
 * The audit chain on an in-memory database: records appended in a turn become durable through
 * the writer thread, each chains onto the one before (verified row by row as verify.c does),
 * the head is anchored under a MAC, records cannot be changed in place, and a change made
 * behind the daemon's back is found and itself recorded.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "fixture.h"
#include "tap.h"

static const char SQL_ROWS[] =
    "SELECT seq, ts, actor, event, app, connection, scopes, outcome, detail, token_fp, "
    "prev_hash, hash FROM audit ORDER BY seq";

/* Append one record of event with detail; 0 on success. */
static int
append(const char *event, const char *detail)
{
	struct audit_rec rec = { "test", event, "app1", "demo", "openid", "ok", detail, NULL };

	return audit_append(&rec);
}

/* Check the whole chain from the start; the first broken seq, 0 when intact. */
static int64_t
chain_broken_at(char *why, size_t whylen)
{
	struct db_stmt	*st;
	uint8_t		 prev[AUDIT_HASHLEN] = { 0 }, hash[AUDIT_HASHLEN];
	int64_t		 seq, bad = 0;

	why[0] = '\0';
	if (db_prepare(SQL_ROWS, &st) != DB_OK)
		return -1;
	while (bad == 0 && db_step(st) == DB_ROW) {
		seq = db_column_int64(st, 0);
		if (audit_check_row(st, seq, prev, hash, why, whylen) == -1)
			bad = seq;
		memcpy(prev, hash, AUDIT_HASHLEN);
	}
	db_finalize(st);
	return bad;
}

/* Appended records wait in the turn's batch; the writer makes them durable, in order. */
static void
test_durable(void)
{
	int64_t	before = audit_head();
	int	i;

	TEST_START("durable through the writer");
	for (i = 0; i < 5; i++)
		ASSERT_INT_EQ(append("test.event", "one of five"), 0);
	ASSERT_INT_EQ(audit_head(), before + 5);
	ASSERT_INT_EQ(audit_durable_seq(), before);
	ASSERT_INT_EQ(fixture_count("SELECT count(*) FROM audit"), before);
	ASSERT_INT_EQ(fixture_turns(), 0);
	ASSERT_INT_EQ(audit_durable_seq(), before + 5);
	ASSERT_INT_EQ(fixture_count("SELECT max(seq) FROM audit"), before + 5);
	TEST_DONE();
}

/* Every record chains onto the previous one; the anchored head matches the last record. */
static void
test_chain(void)
{
	char	why[128];
	int64_t	seq;
	uint8_t	hash[AUDIT_HASHLEN], last[AUDIT_HASHLEN];

	TEST_START("the chain verifies");
	ASSERT_INT_EQ(chain_broken_at(why, sizeof(why)), 0);
	ASSERT_STRING_EQ(why, "");
	audit_anchor();
	ASSERT_INT_EQ(audit_read_head(&seq, hash), 0);
	ASSERT_INT_EQ(seq, audit_head());
	ASSERT_INT_EQ(audit_committed_head(last), audit_head());
	ASSERT_MEM_EQ(hash, last, AUDIT_HASHLEN);
	TEST_DONE();
}

/* The append-only triggers refuse a change or a deletion. */
static void
test_append_only(void)
{
	TEST_START("append-only");
	ASSERT_INT_EQ(fixture_sql("UPDATE audit SET detail = 'changed' WHERE seq = 2"), -1);
	ASSERT_INT_EQ(fixture_sql("DELETE FROM audit WHERE seq = 3"), -1);
	ASSERT_INT_EQ(fixture_count("SELECT count(*) FROM audit WHERE detail = 'changed'"), 0);
	TEST_DONE();
}

/* A record changed with the triggers dropped breaks the chain there, and the next start says so. */
static void
test_tamper(void)
{
	char	why[128];

	TEST_START("tamper detection");
	ASSERT_INT_EQ(fixture_sql("DROP TRIGGER audit_no_update"), 0);
	ASSERT_INT_EQ(fixture_sql("UPDATE audit SET detail = 'changed' WHERE seq = 2"), 0);
	ASSERT_INT_EQ(chain_broken_at(why, sizeof(why)), 2);
	ASSERT_STRING_EQ(why, "record contents do not match its hash");
	ASSERT_INT_EQ(audit_init(), 0);
	ASSERT_INT_EQ(fixture_turns(), 0);
	ASSERT_INT_EQ(fixture_count("SELECT count(*) FROM audit WHERE event = 'audit.tamper'"), 1);
	ASSERT_INT_EQ(fixture_sql("UPDATE audit SET detail = 'again' WHERE seq = 3"), -1);
	TEST_DONE();
}

int
main(void)
{
	if (fixture_open() == -1)
		return 1;
	test_durable();
	test_chain();
	test_append_only();
	test_tamper();
	fixture_close();
	return tap_done();
}
