/* Frame codec: caps, truncation, trailing bytes, version and type checks, round trip. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fg-protocol.h"
#include "tap.h"

static size_t
frame(uint8_t *buf, uint8_t ver, uint8_t type, uint16_t flags, uint32_t id, const char *body,
    uint32_t len)
{
	fg_frame_hdr_encode(buf, type, id, len);
	buf[0] = ver;
	buf[2] = flags >> 8;
	buf[3] = flags & 0xff;
	memcpy(buf + FG_FRAME_HDR_LEN, body, strlen(body));
	return FG_FRAME_HDR_LEN + strlen(body);
}

static int
decode(const uint8_t *buf, size_t len, uint8_t type)
{
	struct fg_frame_hdr	 hdr;
	json_t			*body;
	size_t			 used;
	int			 r;

	r = fg_frame_decode(buf, len, type, &hdr, &body, &used);
	json_decref(body);
	return r;
}

int
main(void)
{
	uint8_t			 buf[256], *out;
	struct fg_frame_hdr	 hdr;
	json_t			*body, *j;
	size_t			 n, used, outlen;
	const char		*b = "{\"verb\":\"health\"}";
	char			*big;

	n = frame(buf, FG_PROTO_VERSION, FG_FRAME_REQUEST, 0, 42, b, (uint32_t)strlen(b));
	TEST_START("a well-formed request decodes");
	ASSERT_INT_EQ(fg_frame_decode(buf, n, FG_FRAME_REQUEST, &hdr, &body, &used), FG_FRAME_OK);
	ASSERT_INT_EQ(hdr.id, 42);
	ASSERT_INT_EQ(used, n);
	ASSERT_TRUE(json_is_object(body));
	TEST_DONE();
	TEST_START("its body is the JSON object sent");
	ASSERT_STRING_EQ(json_string_value(json_object_get(body, "verb")), "health");
	TEST_DONE();
	json_decref(body);
	TEST_START("a truncated body asks for more");
	ASSERT_INT_EQ(decode(buf, n - 1, FG_FRAME_REQUEST), FG_FRAME_SHORT);
	TEST_DONE();
	TEST_START("a truncated header asks for more");
	ASSERT_INT_EQ(decode(buf, 5, FG_FRAME_REQUEST), FG_FRAME_SHORT);
	TEST_DONE();
	TEST_START("a request where a reply is expected is refused");
	ASSERT_INT_EQ(decode(buf, n, FG_FRAME_REPLY), FG_FRAME_ETYPE);
	TEST_DONE();

	n = frame(buf, FG_PROTO_VERSION + 1, FG_FRAME_REQUEST, 0, 1, b, (uint32_t)strlen(b));
	TEST_START("another protocol version is refused");
	ASSERT_INT_EQ(decode(buf, n, FG_FRAME_REQUEST), FG_FRAME_EVERSION);
	TEST_DONE();
	n = frame(buf, FG_PROTO_VERSION, 9, 0, 1, b, (uint32_t)strlen(b));
	TEST_START("an unknown frame type is refused");
	ASSERT_INT_EQ(decode(buf, n, FG_FRAME_REQUEST), FG_FRAME_ETYPE);
	TEST_DONE();
	n = frame(buf, FG_PROTO_VERSION, FG_FRAME_REQUEST, 1, 1, b, (uint32_t)strlen(b));
	TEST_START("reserved flags are refused");
	ASSERT_INT_EQ(decode(buf, n, FG_FRAME_REQUEST), FG_FRAME_EFLAGS);
	TEST_DONE();

	n = frame(buf, FG_PROTO_VERSION, FG_FRAME_REQUEST, 0, 1, b, FG_FRAME_MAX + 1);
	TEST_START("a length over the cap is refused from the header alone");
	ASSERT_INT_EQ(fg_frame_hdr_decode(buf, FG_FRAME_HDR_LEN, &hdr), FG_FRAME_ESIZE);
	TEST_DONE();
	n = frame(buf, FG_PROTO_VERSION, FG_FRAME_REQUEST, 0, 1, "", 0);
	TEST_START("an empty body is refused");
	ASSERT_INT_EQ(decode(buf, n, FG_FRAME_REQUEST), FG_FRAME_ESIZE);
	TEST_DONE();

	n = frame(buf, FG_PROTO_VERSION, FG_FRAME_REQUEST, 0, 1, "{\"a\":1} x", 9);
	TEST_START("trailing bytes after the JSON are refused");
	ASSERT_INT_EQ(decode(buf, n, FG_FRAME_REQUEST), FG_FRAME_EBODY);
	TEST_DONE();
	n = frame(buf, FG_PROTO_VERSION, FG_FRAME_REQUEST, 0, 1, "[1,2]", 5);
	TEST_START("a non-object body is refused");
	ASSERT_INT_EQ(decode(buf, n, FG_FRAME_REQUEST), FG_FRAME_EBODY);
	TEST_DONE();
	n = frame(buf, FG_PROTO_VERSION, FG_FRAME_REQUEST, 0, 1, "{\"a\":1,\"a\":2}", 13);
	TEST_START("duplicate keys are refused");
	ASSERT_INT_EQ(decode(buf, n, FG_FRAME_REQUEST), FG_FRAME_EBODY);
	TEST_DONE();
	n = frame(buf, FG_PROTO_VERSION, FG_FRAME_REQUEST, 0, 1, "{\"a\":\"\xff\"}", 9);
	TEST_START("invalid UTF-8 is refused");
	ASSERT_INT_EQ(decode(buf, n, FG_FRAME_REQUEST), FG_FRAME_EBODY);
	TEST_DONE();

	j = json_pack("{ss}", "verb", "stats");
	out = malloc(FG_FRAME_BUF_LEN);
	TEST_START("encode then decode gives the same id and body");
	ASSERT_INT_EQ(fg_frame_encode(FG_FRAME_REPLY, 7, j, out, FG_FRAME_BUF_LEN, &outlen),
	    FG_FRAME_OK);
	ASSERT_INT_EQ(fg_frame_decode(out, outlen, FG_FRAME_REPLY, &hdr, &body, &used),
	    FG_FRAME_OK);
	ASSERT_INT_EQ(hdr.id, 7);
	ASSERT_TRUE(json_equal(j, body));
	TEST_DONE();
	json_decref(body);
	TEST_START("a buffer too small is refused, not overrun");
	ASSERT_INT_EQ(fg_frame_encode(FG_FRAME_REPLY, 7, j, out, 20, &outlen), FG_FRAME_ESIZE);
	TEST_DONE();
	json_decref(j);

	big = calloc(1, FG_FRAME_MAX + 1);
	memset(big, 'a', FG_FRAME_MAX);
	j = json_pack("{ss}", "big", big);
	free(big);
	TEST_START("a body over the cap is not encoded");
	ASSERT_INT_EQ(fg_frame_encode(FG_FRAME_REPLY, 1, j, out, FG_FRAME_BUF_LEN, &outlen),
	    FG_FRAME_ESIZE);
	TEST_DONE();
	json_decref(j);
	free(out);
	return tap_done();
}
