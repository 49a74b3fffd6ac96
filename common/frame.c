/* Frame codec shared by the daemon and its peers: bounds-checked, versioned, no trailing bytes. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fg-protocol.h"

static void
frame_put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t
frame_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Write a header for a body of len bytes. */
void
fg_frame_hdr_encode(uint8_t out[FG_FRAME_HDR_LEN], uint8_t type, uint32_t id, uint32_t len)
{
	out[0] = FG_PROTO_VERSION;
	out[1] = type;
	out[2] = 0;
	out[3] = 0;
	frame_put32(out + 4, id);
	frame_put32(out + 8, len);
}

/* Decode and check a header; the length cap is checked before anyone allocates. */
int
fg_frame_hdr_decode(const uint8_t *buf, size_t len, struct fg_frame_hdr *hdr)
{
	if (len < FG_FRAME_HDR_LEN)
		return FG_FRAME_SHORT;
	hdr->version = buf[0];
	hdr->type = buf[1];
	hdr->flags = (uint16_t)((buf[2] << 8) | buf[3]);
	hdr->id = frame_get32(buf + 4);
	hdr->len = frame_get32(buf + 8);
	if (hdr->version != FG_PROTO_VERSION)
		return FG_FRAME_EVERSION;
	if (hdr->type != FG_FRAME_REQUEST && hdr->type != FG_FRAME_REPLY)
		return FG_FRAME_ETYPE;
	if (hdr->flags != 0)
		return FG_FRAME_EFLAGS;
	if (hdr->len == 0 || hdr->len > FG_FRAME_MAX)
		return FG_FRAME_ESIZE;
	return FG_FRAME_OK;
}

/*
 * Decode one complete frame of the wanted type from buf.  On FG_FRAME_OK *body holds a JSON
 * object (the caller owns it) and *consumed the bytes used; a body with trailing bytes, duplicate
 * keys or a non-object top level is refused.
 */
int
fg_frame_decode(const uint8_t *buf, size_t len, uint8_t want_type, struct fg_frame_hdr *hdr,
    json_t **body, size_t *consumed)
{
	json_error_t	 jerr;
	json_t		*j;
	int		 r;

	*body = NULL;
	if ((r = fg_frame_hdr_decode(buf, len, hdr)) != FG_FRAME_OK)
		return r;
	if (hdr->type != want_type)
		return FG_FRAME_ETYPE;
	if (len - FG_FRAME_HDR_LEN < hdr->len)
		return FG_FRAME_SHORT;
	j = json_loadb((const char *)buf + FG_FRAME_HDR_LEN, hdr->len, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		return FG_FRAME_EBODY;
	}
	*body = j;
	*consumed = FG_FRAME_HDR_LEN + hdr->len;
	return FG_FRAME_OK;
}

/*
 * Encode body as a frame into buf (cap bytes; FG_FRAME_BUF_LEN always suffices), serialising
 * the JSON once, straight into place.  Fails if the body exceeds the cap.
 */
int
fg_frame_encode(uint8_t type, uint32_t id, json_t *body, uint8_t *buf, size_t cap,
    size_t *outlen)
{
	size_t n;

	if (cap < FG_FRAME_HDR_LEN + 1)
		return FG_FRAME_ESIZE;
	n = json_dumpb(body, (char *)buf + FG_FRAME_HDR_LEN, cap - FG_FRAME_HDR_LEN,
	    JSON_COMPACT);
	if (n == 0 || n > FG_FRAME_MAX || n > cap - FG_FRAME_HDR_LEN)
		return FG_FRAME_ESIZE;
	fg_frame_hdr_encode(buf, type, id, (uint32_t)n);
	*outlen = FG_FRAME_HDR_LEN + n;
	return FG_FRAME_OK;
}

/* A short reason for logs. */
const char *
fg_frame_strerror(int err)
{
	switch (err) {
	case FG_FRAME_OK:
		return "ok";
	case FG_FRAME_SHORT:
		return "truncated frame";
	case FG_FRAME_EVERSION:
		return "protocol version mismatch";
	case FG_FRAME_ETYPE:
		return "unexpected frame type";
	case FG_FRAME_EFLAGS:
		return "reserved flags set";
	case FG_FRAME_ESIZE:
		return "frame length out of bounds";
	case FG_FRAME_EBODY:
		return "body is not a single JSON object";
	}
	return "unknown frame error";
}
