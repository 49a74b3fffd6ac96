/* nginx's relay log lines (relayline.c): the fields of a good line, and what is refused. */
#include "config.h"

#include <string.h>

#include "daemon.h"
#include "tap.h"

const struct fg_config *fg_cfg;

#define RID	"d655b480433cc1fbe36738b6e9e328fe"
#define HEAD	"<190>Nov 29 20:56:48 flowgate: relay "

/* One named case: line is refused. */
static void
refused(const char *name, const char *line)
{
	struct relayline l;

	TEST_START(name);
	ASSERT_INT_EQ(relayline_parse(line, strlen(line), &l), -1);
	TEST_DONE();
}

int
main(void)
{
	struct relayline	l;
	const char		*s;
	size_t			n;

	TEST_START("a relayed WebSocket: every field");
	s = HEAD RID " 101 50 1103 12.047\n";
	ASSERT_INT_EQ(relayline_parse(s, strlen(s), &l), 0);
	ASSERT_STRING_EQ(l.request_id, RID);
	ASSERT_INT_EQ(l.status, 101);
	ASSERT_INT_EQ((long long)l.to_client, 50);
	ASSERT_INT_EQ((long long)l.to_upstream, 1103);
	ASSERT_INT_EQ((long long)l.duration_ms, 12047);
	TEST_DONE();
	TEST_START("no upstream (\"-\") and a space-padded day");
	s = "<190>Nov  9 20:56:48 flowgate: relay " RID " 401 0 - 0.001";
	ASSERT_INT_EQ(relayline_parse(s, strlen(s), &l), 0);
	ASSERT_INT_EQ((long long)l.to_upstream, 0);
	TEST_DONE();
	TEST_START("two upstream tries are summed");
	s = HEAD RID " 502 0 1033, 7 0.003";
	ASSERT_INT_EQ(relayline_parse(s, strlen(s), &l), 0);
	ASSERT_INT_EQ((long long)l.to_upstream, 1040);
	TEST_DONE();
	refused("a host name in the header", "<190>Nov 29 20:56:48 h flowgate: relay " RID
	    " 101 50 1103 0.050");
	refused("another tag", "<190>Nov 29 20:56:48 nginx: relay " RID " 101 50 1103 0.050");
	refused("upper-case hex", HEAD "D655B480433CC1FBE36738B6E9E328FE 101 50 1103 0.050");
	refused("a short id", HEAD "d655b480433cc1fbe36738b6e9e328f 101 50 1103 0.050");
	refused("two fraction digits", HEAD RID " 101 50 1103 0.05");
	refused("four fraction digits", HEAD RID " 101 50 1103 0.0500");
	refused("a sign", HEAD RID " 101 -50 1103 0.050");
	refused("a number past 2^62", HEAD RID " 101 4611686018427387904 1 0.050");
	refused("nine upstream tries", HEAD RID " 101 5 1, 2, 3, 4, 5, 6, 7, 8, 9 0.050");
	refused("something after", HEAD RID " 101 50 1103 0.050 x");
	refused("two newlines", HEAD RID " 101 50 1103 0.050\n\n");
	refused("a facility past 23", "<192>Nov 29 20:56:48 flowgate: relay " RID
	    " 101 50 1103 0.050");
	refused("a two-digit status", HEAD RID " 99 50 1103 0.050");
	refused("no header", "relay " RID " 101 50 1103 0.050");
	refused("a request line", "<190>Nov 29 20:56:48 flowgate: GET /ws/x?ticket=y 101");
	refused("empty", "");
	TEST_START("a NUL inside is the end of nothing: refused");
	ASSERT_INT_EQ(relayline_parse(HEAD RID " 101 50 1103 0.050\0x", sizeof(HEAD RID
	    " 101 50 1103 0.050\0x") - 1, &l), -1);
	TEST_DONE();
	TEST_START("a line cut anywhere is refused");
	s = HEAD RID " 101 50 1103 0.050";
	for (n = 0; n < strlen(s) && relayline_parse(s, n, &l) == -1; n++)
		;
	ASSERT_INT_EQ((long long)n, (long long)strlen(s));
	TEST_DONE();
	return tap_done();
}
