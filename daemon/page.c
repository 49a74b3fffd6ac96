/*
 * List replies a page at a time.  A page stops at its row limit or before the row that would
 * take it past its byte budget, whichever comes first, and says so with "more" and "next" (the
 * cursor of its last row): no list depends on fitting one frame, however long its rows are.
 *
 * The budget leaves PAGE_ENVELOPE bytes of the frame for the reply's other fields.  One row
 * always fits an empty page: the longest row of any list is an audit record of 8 KiB of
 * fields (audit_hash's cap), 48 KiB once every byte is escaped as \u00XX.
 */
#include "config.h"

#include <string.h>

#include "daemon.h"
#include "fg-protocol.h"

#define PAGE_ENVELOPE	1024	/* {"ok":true,"<key>":[...],"more":true,"next":"<name>"} */
#define PAGE_BUDGET	(FG_FRAME_MAX - PAGE_ENVELOPE)

/* An empty page of at most limit rows and budget bytes (0: as much as a frame holds). */
void
page_init(struct page *p, int limit, size_t budget)
{
	memset(p, 0, sizeof(*p));
	p->items = json_array();
	p->limit = limit;
	p->budget = budget > 0 && budget < PAGE_BUDGET ? budget : PAGE_BUDGET;
}

/* Take a row (consumed, as is cursor) unless the page is full: then -1 and more is set. */
int
page_add(struct page *p, json_t *item, json_t *cursor)
{
	size_t n = item != NULL ? json_dumpb(item, NULL, 0, JSON_COMPACT) + 1 : 0;

	if (item == NULL || (int)json_array_size(p->items) >= p->limit ||
	    (json_array_size(p->items) > 0 && p->bytes + n > p->budget)) {
		p->more = 1;
		json_decref(item);
		json_decref(cursor);
		return -1;
	}
	json_array_append_new(p->items, item);
	p->bytes += n;
	json_decref(p->next);
	p->next = cursor;
	return 0;
}

/* Rows may remain though the page has room: go on from cursor (consumed), unless full. */
void
page_more(struct page *p, json_t *cursor)
{
	if (p->more) {
		json_decref(cursor);
		return;
	}
	p->more = 1;
	json_decref(p->next);
	p->next = cursor;
}

/* The page as reply fields {key: rows, more, next?}; reverse: rows came in reverse order. */
json_t *
page_finish(struct page *p, const char *key, int reverse)
{
	json_t	*o, *items = p->items;
	size_t	 i, n = json_array_size(items);

	if (reverse) {
		items = json_array();
		for (i = n; i > 0; i--)
			json_array_append(items, json_array_get(p->items, i - 1));
		json_decref(p->items);
	}
	o = json_pack("{sbsosb}", "ok", 1, key, items, "more", p->more);
	if (p->more && p->next != NULL)
		json_object_set(o, "next", p->next);
	json_decref(p->next);
	memset(p, 0, sizeof(*p));
	return o;
}

/* The request's row limit (field, def when absent); -1 after refusing one out of 1..max. */
int
page_limit(const struct fg_reqctx *ctx, json_t *req, const char *field, int def, int max)
{
	json_t		*v = json_object_get(req, field);
	json_int_t	 n = v != NULL ? json_integer_value(v) : def;

	if (n < 1 || n > max) {
		server_reply_error(ctx, "bad_request", "%s must be 1..%d", field, max);
		return -1;
	}
	if (json_object_get(req, "after") != NULL && json_object_get(req, "before") != NULL) {
		server_reply_error(ctx, "bad_request", "give after or before, not both");
		return -1;
	}
	return (int)n;
}

/*
 * A list verb over names: rows after the "after" name (from the first when neither cursor is
 * given) or, with "before", the rows just before that name; either way in name order.
 */
void
page_verb(const struct fg_reqctx *ctx, json_t *req, const struct page_query *q)
{
	const char	*before = json_string_value(json_object_get(req, "before"));
	const char	*after = json_string_value(json_object_get(req, "after"));
	struct db_stmt	*st;
	struct page	 p;
	int		 limit;

	if ((limit = page_limit(ctx, req, "limit", q->def, q->max)) == -1)
		return;
	if ((st = store_prepare(before != NULL ? q->sql_before : q->sql_after)) == NULL) {
		server_reply_error(ctx, "server_error", "the list could not be read");
		return;
	}
	db_bind_text(st, 1, before != NULL ? before : after != NULL ? after : "", -1,
	    DB_STATIC);
	db_bind_int(st, 2, limit + 1);
	page_init(&p, limit, 0);
	while (db_step(st) == DB_ROW && page_add(&p, q->row(st),
	    json_string((const char *)db_column_text(st, 0))) == 0)
		;
	db_reset(st);
	server_reply(ctx, page_finish(&p, q->key, before != NULL));
}
