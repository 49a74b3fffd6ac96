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
 * Bump FG_PROTO_VERSION whenever a header field or a verb's fields change meaning.
 */
#ifndef FG_PROTOCOL_H
#define FG_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define FG_PROTO_VERSION	2	/* 2: lists come a page at a time */
#define FG_FRAME_HDR_LEN	12
#define FG_FRAME_MAX		(64 * 1024)
#define FG_FRAME_BUF_LEN	(FG_FRAME_HDR_LEN + FG_FRAME_MAX)

#define FG_FRAME_REQUEST	1
#define FG_FRAME_REPLY		2

/*
 * Verbs.  Peer classes: WEB is the FastCGI front end's uid, ADMIN is root or the daemon's
 * own uid (flowgatectl).  The daemon's dispatch table is authoritative.
 *
 * "token" (WEB, ADMIN)
 *   request: client_id, client_secret, grant_type ("client_credentials"),
 *            scope (string, optional, space separated), remote (string, optional: client address)
 *   reply:   access_token, token_type ("Bearer"), expires_in (integer seconds left), scope
 *   errors:  invalid_request, invalid_client, invalid_scope, unauthorized_client,
 *            unsupported_grant_type (400/401 in HTTP), temporarily_unavailable (503, retry_after),
 *            server_error (500)
 * "health" (WEB, ADMIN)
 *   reply:   database ("ok" | "error"), upstream {"status": "ok"|"error"|"unknown",
 *            "checked_at": unix seconds, "message": text}
 * "stats" (WEB, ADMIN)
 *   reply:   counters, each an integer: cache_hits, cache_misses, upstream_requests,
 *            upstream_errors, upstream_latency_ms_sum, tokens_issued, tokens_refused,
 *            audit_records, peers_refused, frames_rejected;
 *            upstream_latency_buckets: {"0.005":n, ... "+Inf":n} (cumulative, seconds)
 *
 * Lists come a page at a time; no reply depends on a whole list fitting one frame.
 * "app.list", "connection.list", "user.list" (names in order)
 *   request: after (a name: the rows after it; from the first when absent) or before (the
 *            rows just before it, still in name order), limit (rows, default 100; at most
 *            1000 for apps and connections, 400 for users)
 *   reply:   apps | connections | users: [rows], more (true: rows remain past this page in
 *            the direction asked), next (when more: the name to send as after, or as before)
 * "audit.query" (newest first) and "audit.tail" (ADMIN only; oldest first)
 *   request: filters (audit.query), before (a record number: older records; the newest when
 *            absent) or after (newer records, taken from after + 1 onwards), limit (1..500,
 *            default 100) or for audit.tail n (1..1000, default 20)
 *   reply:   records, more, next (when more: the record number for the next before / after)
 * A page also stops before the row that would take it past the frame, with more and next:
 * a client follows next until more is false, however few rows a page held.
 * "dashboard": issuance {apps: the 12 busiest in 24 h, active, hours, total}, connections
 *   {oldest: the 12 oldest secrets, count, stopped, warn}, refusals, upstream, chain.
 * Other admin verbs ("status", "connection.*", "app.*", "audit.*", "user.*") have their
 * fields beside their handlers (each module's verb_entry) and are listed in daemon/verbs.c.
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
