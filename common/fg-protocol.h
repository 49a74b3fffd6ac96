/*
 * The wire protocol between flowgated and its peers (flowgate-fcgi, flowgatectl).
 *
 * A frame is a 12-byte header followed by a JSON object body:
 *
 *   offset size  field
 *   0      1     version   FG_PROTO_VERSION; any other value closes the connection
 *   1      1     type      FG_FRAME_REQUEST or FG_FRAME_REPLY
 *   2      2     flags     must be zero
 *   4      4     id        request id (big endian), echoed in the reply
 *   8      4     length    body length in bytes (big endian), 1..FG_FRAME_MAX
 *
 * A request body is {"verb": "<name>", <fields of that verb>}; the daemon checks each
 * verb's fields against a strict schema (unknown fields are refused).  A reply body is
 * {"ok": true, <result fields>} or {"ok": false, "error": "<code>", "message": "<text>"}
 * (plus "retry_after" seconds on "temporarily_unavailable").
 *
 * Bump FG_PROTO_VERSION whenever a header field, a verb's name or its fields change meaning.
 */
#ifndef FG_PROTOCOL_H
#define FG_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define FG_PROTO_VERSION	3	/* 3: admin accounts are account.*, end users enduser.* */
#define FG_FRAME_HDR_LEN	12
#define FG_FRAME_MAX		(64 * 1024)
#define FG_FRAME_BUF_LEN	(FG_FRAME_HDR_LEN + FG_FRAME_MAX)

#define FG_FRAME_REQUEST	1
#define FG_FRAME_REPLY		2

/*
 * Verbs.  Each verb is documented where it is defined: its const struct verb_entry, beside its
 * handler in daemon/ (e.g. token_verb_entry in daemon/token.c), names the peer classes that may
 * call it, the admin UI roles and CSRF rule of web sessions, and every field with its type,
 * whether it is required and its size; daemon/verbs.c lists them all in verbs_table[] and
 * refuses anything else.  doc/interfaces.md describes them for the front end's authors.  Peer
 * classes: WEB is a uid of web_users (the FastCGI front end), ADMIN a uid of admin_users or
 * the daemon's own (flowgatectl).
 *
 * Two conventions hold for every verb:
 *
 * Errors.  "error" is for programs: the RFC 6749 codes on the routes that yield a token
 * (invalid_request, invalid_client, invalid_grant, invalid_scope, unauthorized_client,
 * unsupported_grant_type, temporarily_unavailable, server_error), and bad_request,
 * unknown_verb, forbidden, unauthenticated, csrf, not_found, conflict ... elsewhere; "message"
 * is for people.
 *
 * Lists (version 2) come a page at a time, so no reply depends on a whole list fitting one
 * frame.  A request gives a cursor, "after" or "before" (a name, or an audit record number),
 * and "limit"; the reply gives the rows, "more" (rows remain in the direction asked) and, with
 * more, "next" (the cursor to send next).  A page also stops before the row that would take it
 * past FG_FRAME_MAX, so a client follows "next" until "more" is false, however few rows a page
 * held.
 */

#define FG_FRAME_OK		0
#define FG_FRAME_SHORT		1	/* need more bytes */
#define FG_FRAME_EVERSION	-1
#define FG_FRAME_ETYPE		-2
#define FG_FRAME_EFLAGS		-3
#define FG_FRAME_ESIZE		-4
#define FG_FRAME_EBODY		-5

struct fg_frame_hdr {
	uint8_t		version;
	uint8_t		type;
	uint16_t	flags;
	uint32_t	id;
	uint32_t	len;
};

struct json_t;

void		 fg_frame_hdr_encode(uint8_t out[FG_FRAME_HDR_LEN], uint8_t type, uint32_t id,
		     uint32_t len);
int		 fg_frame_hdr_decode(const uint8_t *buf, size_t len, struct fg_frame_hdr *hdr);
int		 fg_frame_decode(const uint8_t *buf, size_t len, uint8_t want_type,
		     struct fg_frame_hdr *hdr, struct json_t **body, size_t *consumed);
int		 fg_frame_encode(uint8_t type, uint32_t id, struct json_t *body, uint8_t *buf,
		     size_t cap, size_t *outlen);
const char	*fg_frame_strerror(int err);

#endif
