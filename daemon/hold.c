/*
 * Work held until the audit records it depends on are durable (SPEC §5.6: no record, no
 * token).  A reply that carries a token, or a continuation that is about to use one, is put
 * here instead of going out, with the newest record appended so far: at the end of each loop
 * turn the turn's records go to the audit writer (writer.c), and what waits is released once
 * the writer reports them durable, or refused when they were lost.  An emergency stop refuses
 * what is held for its connection before it can leave.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "fg-protocol.h"
#include "log.h"


struct hold {
	struct fg_reqctx	 ctx;
	int64_t			 conn_id;	/* 0: not tied to a connection */
	json_t			*reply;		/* one of: a reply, */
	char			*raw;		/* a serialised reply, */
	size_t			 rawlen;
	hold_fn			 fn;		/* or a continuation */
	void			*arg;
	int64_t			 need;		/* released once the audit is durable up to here */
	int			 refused;	/* stopped while held: refuse instead */
	int			 lost;		/* a record it needs was lost */
};

static struct hold	*hold_q;
static size_t		 hold_n, hold_cap;
static size_t		 hold_max = 65536;	/* beyond this a request is refused, not queued */
static uint64_t		 hold_st_released, hold_st_refused, hold_st_full;

/* The bound on waiting items ([audit] held_max). */
void
hold_init(long max)
{
	hold_max = (size_t)max;
}

/* Whether the next item would be refused (counted): a token is then not even fetched. */
int
hold_full(void)
{
	if (hold_n < hold_max)
		return 0;
	hold_st_full++;
	return 1;
}

/* Room for one more held item, or NULL when the queue is at its bound. */
static struct hold *
hold_new(const struct fg_reqctx *ctx, int64_t conn_id)
{
	struct hold	*p;
	size_t		 cap;

	if (hold_n >= hold_max) {
		hold_st_full++;
		return NULL;
	}
	if (hold_n == hold_cap) {
		cap = hold_cap ? hold_cap * 2 : 64;
		if ((p = realloc(hold_q, cap * sizeof(*p))) == NULL)
			return NULL;
		hold_q = p;
		hold_cap = cap;
	}
	p = &hold_q[hold_n++];
	memset(p, 0, sizeof(*p));
	if (ctx != NULL)
		p->ctx = *ctx;
	p->conn_id = conn_id;
	p->need = audit_head();
	return p;
}

/* Put an item that still waits back into the (new) queue. */
static int
hold_keep(const struct hold *h)
{
	struct hold *p;

	if ((p = hold_new(NULL, h->conn_id)) == NULL)
		return -1;
	*p = *h;
	return 0;
}

/* Hold a reply (consumed) until the turn's audit records are committed. */
void
hold_reply(const struct fg_reqctx *ctx, int64_t conn_id, json_t *reply)
{
	struct hold *h;

	if ((h = hold_new(ctx, conn_id)) == NULL) {
		json_decref(reply);
		server_reply_error(ctx, "temporarily_unavailable", "too many replies are waiting");
		return;
	}
	h->reply = reply;
}

/*
 * The same for a body the caller serialised itself (the token path, where jansson's encoder
 * was the daemon's largest single cost); the caller guarantees it is one JSON object.
 */
void
hold_reply_raw(const struct fg_reqctx *ctx, int64_t conn_id, const char *body, size_t len)
{
	struct hold *h;

	if (len == 0 || len > FG_FRAME_MAX || (h = hold_new(ctx, conn_id)) == NULL) {
		server_reply_error(ctx, "temporarily_unavailable", "too many replies are waiting");
		return;
	}
	if ((h->raw = malloc(len)) != NULL) {	/* if not, it is answered as an error */
		memcpy(h->raw, body, len);
		h->rawlen = len;
	}
}

/* Run fn(arg, status) once the records appended so far are durable (HOLD_OK) or not. */
int
hold_call(int64_t conn_id, hold_fn fn, void *arg)
{
	struct hold *h;

	if ((h = hold_new(NULL, conn_id)) == NULL)
		return -1;
	h->fn = fn;
	h->arg = arg;
	return 0;
}

/* Why a held item was not released, in words for its caller. */
const char *
hold_why(int status)
{
	if (status == HOLD_OUTAGE)
		return "the database cannot be reached; nothing was handed out: try again";
	return status == HOLD_STOPPED ? "issuing was stopped for this connection; nothing was "
	    "handed out" : "the audit record could not be written; no token was used";
}

/* The error code for a refused item: what is worth a retry says so (503), the rest is 500. */
const char *
hold_code(int status)
{
	return status == HOLD_STOPPED || status == HOLD_OUTAGE ? "temporarily_unavailable" :
	    "server_error";
}

/* Release one held item, or refuse it when its records were lost or its connection stopped. */
static void
hold_release_one(struct hold *h, int ok)
{
	int status = h->refused ? HOLD_STOPPED : ok && !h->lost ? HOLD_OK :
	    db_reachable() ? HOLD_LOST : HOLD_OUTAGE;	/* an outage is worth a retry */

	ok = status == HOLD_OK;
	if (h->fn != NULL) {
		h->fn(h->arg, status);
	} else if (ok && h->raw != NULL) {
		server_send_raw(&h->ctx, h->raw, h->rawlen);
		h->raw = NULL;
	} else if (ok && h->reply != NULL) {
		server_reply(&h->ctx, h->reply);
	} else {
		json_decref(h->reply);
		if (h->raw != NULL) {
			sodium_memzero(h->raw, h->rawlen);
			free(h->raw);
		}
		server_reply_error(&h->ctx, hold_code(status), "%s", status == HOLD_OK ?
		    "out of memory" : hold_why(status));
	}
	if (ok)
		hold_st_released++;
	else
		hold_st_refused++;
}

/*
 * Release what is durable (or refused) now; keep the rest, in order.  What released
 * continuations hold in turn is kept for a later release.
 */
static void
hold_release(void)
{
	struct hold	*batch = hold_q;
	size_t		 n = hold_n, i;
	int64_t		 durable = audit_durable_seq();

	hold_q = NULL;
	hold_n = hold_cap = 0;
	for (i = 0; i < n; i++) {
		struct hold *h = &batch[i];

		if (h->refused || h->lost || h->need <= durable)
			hold_release_one(h, 1);
		else if (hold_keep(h) == -1)
			hold_release_one(h, 0);
	}
	free(batch);
}

/*
 * The end of a loop turn: hand the turn's records to the writer, take its reports when it
 * has some (ready), and release what they made durable.
 */
void
hold_end_turn(int ready)
{
	audit_submit();
	if (ready || hold_n > 0)
		writer_collect(ready);	/* also without a wake-up, so nothing waits on one */
	if (hold_n > 0)
		hold_release();
}

/* A commit failed: every item waiting for a record after durable can never be released. */
void
hold_lost(int64_t durable)
{
	size_t i;

	for (i = 0; i < hold_n; i++)
		if (hold_q[i].need > durable)
			hold_q[i].lost = 1;
}

/* An emergency stop: refuse every item held for the connection; returns how many. */
size_t
hold_stop_connection(int64_t conn_id)
{
	size_t i, n = 0;

	for (i = 0; i < hold_n; i++) {
		if (hold_q[i].conn_id == conn_id && !hold_q[i].refused) {
			hold_q[i].refused = 1;
			n++;
		}
	}
	return n;
}

/* Items waiting now, for the stop report and /metrics. */
json_t *
hold_stats(void)
{
	return json_pack("{sIsIsIsI}", "held_now", (json_int_t)hold_n, "held_released",
	    (json_int_t)hold_st_released, "held_refused", (json_int_t)hold_st_refused,
	    "held_full", (json_int_t)hold_st_full);
}

/* Free what is left at exit: each item is refused so its owner frees its state. */
void
hold_shutdown(void)
{
	audit_flush();
	hold_release();
	while (hold_n > 0) {
		struct hold	*batch = hold_q;
		size_t		 n = hold_n, i;

		hold_q = NULL;
		hold_n = hold_cap = 0;
		for (i = 0; i < n; i++)
			hold_release_one(&batch[i], 0);
		free(batch);
	}
}
