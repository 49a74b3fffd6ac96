/*
 * Streaming sessions, the pattern recommended for browsers: a backend (or a logged-in user)
 * asks once; the daemon gets an "openid streams" token, creates the interaction upstream and
 * answers with the interaction, its WebSocket URL and the streams-only token.  The request
 * body is checked field by field and rebuilt here: nothing the front end sent is forwarded
 * as it came.  Transcribe sessions are the same with "openid transcribe" and no interaction.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"

#define STREAM_RESPONSE_MAX	(16 * 1024)

struct stream_op {
	struct fg_reqctx	 ctx;
	int			 transcribe;	/* 0: stream session, 1: transcribe session */
	json_t			*body;		/* the rebuilt interaction request */
	struct conn_rec		 conn;
	char			 app[FG_NAME_MAX + 1];
	char			 actor[96];
	struct fg_secret	*token;
	long			 expires_in;
	char			 scopes[FG_SCOPES_MAX];	/* granted */
	char			 fp[FG_FP_LEN];
	long			 retry_after;	/* the upstream's advice, on a refusal */
	int64_t			 app_id;
	uint64_t		 epoch;
};

static const char *const stream_statuses[] = { "planned", "in-progress", "on-hold", "completed",
    "cancelled", "deleted", NULL };
static const char *const stream_types[] = { "first_consultation", "consultation", "emergency",
    "inpatient", "outpatient", NULL };
static const char *const stream_patient_keys[] = { "identifier", "name", "gender", "birthDate",
    "pronouns", NULL };

static int
stream_in(const char *s, const char *const *set)
{
	for (; s != NULL && *set != NULL; set++)
		if (strcmp(s, *set) == 0)
			return 1;
	return 0;
}

/* A short printable string (no control characters), or NULL when v is not one. */
static const char *
stream_text(json_t *v, size_t max)
{
	const char	*s = json_string_value(v);
	size_t		 i;

	if (s == NULL || json_string_length(v) == 0 || json_string_length(v) > max)
		return NULL;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return NULL;
	return i == json_string_length(v) ? s : NULL;
}

/* Copy key from src to dst if present; -1 when present but not a fitting string. */
static int
stream_copy(json_t *dst, json_t *src, const char *key, size_t max)
{
	json_t		*v = json_object_get(src, key);
	const char	*s;

	if (v == NULL)
		return 0;
	if ((s = stream_text(v, max)) == NULL)
		return -1;
	json_object_set_new(dst, key, json_string(s));
	return 0;
}

/* True for a UUID in its 8-4-4-4-12 hex form (Corti's user ids). */
static int
stream_uuid(const char *s)
{
	int i;

	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	}
	return s[36] == '\0';
}

/* True when every key of o is in allowed. */
static int
stream_only(json_t *o, const char *const *allowed)
{
	const char	*k;
	json_t		*v;

	json_object_foreach(o, k, v)
		if (!stream_in(k, allowed))
			return 0;
	return 1;
}

/* Rebuild the interaction request from the caller's JSON; NULL and *why when it is wrong. */
json_t *
stream_rebuild(json_t *in, const char **why)
{
	static const char *const top[] = { "encounter", "assignedUserId", "patient", NULL };
	static const char *const enc[] = { "identifier", "status", "type", "period", "title",
	    NULL };
	static const char *const per[] = { "startedAt", "endedAt", NULL };
	json_t *e = json_object_get(in, "encounter"), *out, *oe, *p;

	*why = "the body must be {encounter: {identifier, status, type, period?, title?}, "
	    "assignedUserId? (a UUID), patient?} with no other fields";
	if (!json_is_object(in) || !stream_only(in, top) || !json_is_object(e) ||
	    !stream_only(e, enc))
		return NULL;
	if (!stream_in(json_string_value(json_object_get(e, "status")), stream_statuses)) {
		*why = "encounter.status must be planned, in-progress, on-hold, completed, "
		    "cancelled or deleted";
		return NULL;
	}
	if (!stream_in(json_string_value(json_object_get(e, "type")), stream_types)) {
		*why = "encounter.type must be first_consultation, consultation, emergency, "
		    "inpatient or outpatient";
		return NULL;
	}
	out = json_object();
	oe = json_object();
	json_object_set_new(out, "encounter", oe);
	json_object_set(oe, "status", json_object_get(e, "status"));
	json_object_set(oe, "type", json_object_get(e, "type"));
	if (json_object_get(e, "identifier") == NULL ||
	    stream_copy(oe, e, "identifier", 128) == -1 || stream_copy(oe, e, "title", 256) == -1 ||
	    stream_copy(out, in, "assignedUserId", 36) == -1 ||
	    (json_object_get(out, "assignedUserId") != NULL &&
	    !stream_uuid(json_string_value(json_object_get(out, "assignedUserId")))))
		goto bad;
	if ((p = json_object_get(e, "period")) != NULL) {
		json_t *op = json_object();

		json_object_set_new(oe, "period", op);
		if (!json_is_object(p) || !stream_only(p, per) ||
		    stream_copy(op, p, "startedAt", 40) == -1 ||
		    stream_copy(op, p, "endedAt", 40) == -1)
			goto bad;
	}
	if ((p = json_object_get(in, "patient")) != NULL) {
		json_t		*pp = json_object();
		const char	*const *k;

		json_object_set_new(out, "patient", pp);
		if (!json_is_object(p) || !stream_only(p, stream_patient_keys))
			goto bad;
		for (k = stream_patient_keys; *k != NULL; k++)
			if (stream_copy(pp, p, *k, 256) == -1)
				goto bad;
	}
	return out;
bad:
	json_decref(out);
	return NULL;
}

static void
stream_op_free(struct stream_op *op)
{
	json_decref(op->body);
	seal_secret_free(op->token);
	free(op);
}

/* Audit the session's outcome and answer; the token goes out only on success. */
static void
stream_finish(struct stream_op *op, const char *interaction, const char *ws, const char *code,
    const char *message, long status)
{
	char			 detail[300];
	struct audit_rec	 rec = { op->actor, op->transcribe ? "transcribe.create" :
				    "stream.create", op->app, op->conn.name, op->scopes,
				    code ? code : "ok", detail, code ? NULL : op->fp };
	json_t			*reply;

	snprintf(detail, sizeof(detail), "%s%s", interaction ? "interaction=" : "",
	    interaction ? interaction : (message ? message : ""));
	audit_append(&rec);
	if (code != NULL) {
		server_reply_status(&op->ctx, code, message, status, op->retry_after);
		return;
	}
	reply = json_pack("{sbsssssssIss}", "ok", 1, "websocketUrl", ws, "access_token",
	    op->token->buf, "token_type", "Bearer", "expires_in", (json_int_t)op->expires_in,
	    "scope", op->scopes);
	if (interaction != NULL)
		json_object_set_new(reply, "interactionId", json_string(interaction));
	hold_reply(&op->ctx, op->conn.id, reply);
}

/* A problem-JSON field, made safe to show: printable, bounded. */
static void
stream_problem(const struct upstream_reply *r, char *out, size_t outlen)
{
	json_t		*j = json_loadb(r->body ? r->body : "", r->len, 0, NULL);
	const char	*title = json_string_value(json_object_get(j, "title"));
	const char	*det = json_string_value(json_object_get(j, "detail"));
	size_t		 i;

	snprintf(out, outlen, "the upstream answered HTTP %ld%s%s%s%s", r->status,
	    title ? ": " : "", title ? title : "", det ? " - " : "", det ? det : "");
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == '"' || out[i] == '\\')
			out[i] = ' ';
	json_decref(j);
}

/* The interaction was created (or not). */
static void
stream_created(void *arg, struct upstream_reply *r)
{
	struct stream_op	*op = arg;
	const char		*why;
	char			 msg[300], id[129], ws[2049];

	if ((why = gate_still(op->app_id, op->epoch)) != NULL) {
		stream_finish(op, NULL, NULL, "temporarily_unavailable", why, 0);
	} else if (r->cc != 0) {
		stream_finish(op, NULL, NULL, r->cc == 28 ? "upstream_timeout" :
		    "temporarily_unavailable", r->message, 0);	/* 28: CURLE_OPERATION_TIMEDOUT */
	} else if (r->status != 201 && r->status != 200) {
		stream_problem(r, msg, sizeof(msg));
		stream_finish(op, NULL, NULL, "upstream_error", msg, r->status);
	} else if ((why = answer_interaction(r->body, r->len, op->conn.api_base, id, sizeof(id),
	    ws, sizeof(ws))) != NULL)
		stream_finish(op, NULL, NULL, "upstream_error", why, 502);
	else
		stream_finish(op, id, ws, NULL, NULL, 0);
	stream_op_free(op);
}

/* The transcribe WebSocket URL on the API's host: wss://HOST/audio-bridge/v2/transcribe. */
static int
stream_transcribe_url(const struct conn_rec *c, char *out, size_t outlen)
{
	const char	*host = c->api_base + 8;	/* after "https://" */
	size_t		 n = strcspn(host, "/");

	if (strncmp(c->api_base, "https://", 8) != 0 || n == 0)
		return -1;
	snprintf(out, outlen, "wss://%.*s/audio-bridge/v2/transcribe?tenant-name=%s", (int)n, host,
	    c->tenant);
	return 0;
}

/* The token is here and its record committed: create the interaction, or answer at once. */
static void
stream_have_token(const struct token_req *w, const struct token_grant *g,
    const struct token_fail *f)
{
	struct stream_op	*op = w->arg;
	struct upstream_call	 call;
	char			 url[2200], *body;
	int			 r = -1;

	if (g == NULL) {
		op->retry_after = f->retry_after;
		stream_finish(op, NULL, NULL, f->code, f->message, 0);
		stream_op_free(op);
		return;
	}
	op->token = seal_secret_from(g->token, strlen(g->token));
	op->expires_in = g->expires_in;
	snprintf(op->scopes, sizeof(op->scopes), "%s", g->scopes);
	snprintf(op->fp, sizeof(op->fp), "%s", g->fp);
	if (op->token != NULL && op->transcribe &&
	    stream_transcribe_url(&op->conn, url, sizeof(url)) == 0) {
		stream_finish(op, NULL, url, NULL, NULL, 0);
		stream_op_free(op);
		return;
	}
	memset(&call, 0, sizeof(call));
	snprintf(url, sizeof(url), "%s/interactions/", op->conn.api_base);
	call.method = "POST";
	call.url = url;
	call.bearer = op->token ? op->token->buf : "";
	call.tenant = op->conn.tenant;
	call.content_type = "application/json";
	call.max_response = STREAM_RESPONSE_MAX;
	body = json_dumps(op->body, JSON_COMPACT);
	call.body = body;
	call.bodylen = body ? strlen(body) : 0;
	call.conn_id = op->conn.id;
	if (op->token == NULL || body == NULL || op->transcribe ||
	    (r = upstream_http(&call, stream_created, op)) != 0) {
		stream_finish(op, NULL, NULL, "temporarily_unavailable", r == UPSTREAM_BUSY ?
		    "too many calls to the API are in flight for this connection; retry shortly" :
		    "cannot reach the API", 0);
		stream_op_free(op);
	}
	free(body);
}

/* "stream.create" and "transcribe.create": client_id+client_secret or session, body?, remote? */
static void
stream_verb(const struct fg_reqctx *ctx, json_t *req, int transcribe)
{
	struct stream_op	*op;
	struct gate_pass	 gp = { .route = transcribe ? GATE_TRANSCRIBE : GATE_STREAM };
	const char		*why = NULL;

	if ((op = calloc(1, sizeof(*op))) == NULL) {
		server_reply_error(ctx, "server_error", "out of memory");
		return;
	}
	op->ctx = *ctx;
	op->transcribe = transcribe;
	if (!transcribe && (op->body = stream_rebuild(json_object_get(req, "body"), &why)) ==
	    NULL) {
		server_reply_error(ctx, "invalid_request", "%s", why);
		stream_op_free(op);
		return;
	}
	if (gate_open(ctx, &gp, req) == -1) {
		stream_op_free(op);
		return;
	}
	if (connection_get_id(gp.app.connection_id, &op->conn) == -1) {
		server_reply_error(ctx, "server_error", "the app's connection is gone");
		stream_op_free(op);
		sodium_memzero(&gp, sizeof(gp));
		return;
	}
	snprintf(op->app, sizeof(op->app), "%s", gp.app.name);
	snprintf(op->actor, sizeof(op->actor), "%s", gp.actor);
	snprintf(op->scopes, sizeof(op->scopes), "%s", gp.scopes);
	op->app_id = gp.app.id;
	op->epoch = gp.epoch;
	gate_token(&gp, stream_have_token, op, req, 0);
	sodium_memzero(&gp, sizeof(gp));
}

static void
stream_verb_stream(const struct fg_reqctx *ctx, json_t *req)
{
	stream_verb(ctx, req, 0);
}

static void
stream_verb_transcribe(const struct fg_reqctx *ctx, json_t *req)
{
	stream_verb(ctx, req, 1);
}

/* The entries of "stream.create" and "transcribe.create" (verbs.c). */
static const struct verb_field stream_fields[] = {
	{ "client_id", VERB_STR, 0, 128 }, { "client_secret", VERB_STR, 0, 256 },
	{ "session", VERB_STR, 0, 64 }, { "body", VERB_OBJ, 0, 0 }, { "remote", VERB_STR, 0, 64 },
	VERB_FIELDS_END
};
const struct verb_entry stream_create_entry = {
	.name = "stream.create",
	.peers = PEER_WEB | PEER_ADMIN,
	.fn = stream_verb_stream,
	.fields = stream_fields
};
const struct verb_entry transcribe_create_entry = {
	.name = "transcribe.create",
	.peers = PEER_WEB | PEER_ADMIN,
	.fn = stream_verb_transcribe,
	.fields = stream_fields
};
