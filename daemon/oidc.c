/*
 * User sessions of the user-present flows (the login that starts one is oidclogin.c's): the
 * daemon keeps the user's refresh token in guarded memory and gives the browser only a session
 * id.  Sessions are written through to the database (oidcstore.c, the refresh token sealed to
 * its row), so a restart keeps them: a session not in memory is loaded on its first use.  A
 * user's browser gets limited-scope tokens, each fetched for exactly the asked scope set by a
 * refresh (never a broader cached one); an embedded Assistant gets the user's whole set, whose
 * refreshed ID token is checked like a login's (idtoken.c, the same subject) before it is kept
 * or handed out.  Logout, an admin's revocation and expiry revoke the refresh token upstream.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "daemon.h"
#include "discovery.h"
#include "log.h"
#include "oidc.h"

#define OIDC_SESSIONS_MAX	16384
#define OIDC_TOUCH_MS		10000	/* write last_seen at most this often */

static struct oidc_session	*oidc_sessions;
static size_t			 oidc_nsessions;

static const char SQL_APP[] =
    "SELECT a.id, a.name, a.flow, a.scopes, a.redirect_uri, a.return_url, a.connection_id, "
    "c.tenant FROM apps a JOIN connections c ON c.id = a.connection_id "
    "WHERE a.revoked_at IS NULL AND (a.name = ?1 OR a.id = ?2)";

/* The live sessions, newest first (oidcsessions.c walks them). */
struct oidc_session *
oidc_sessions_head(void)
{
	return oidc_sessions;
}

/* A user-flow app by name (or id when name is NULL), with its connection; -1 if none. */
int
oidc_app_get(const char *name, int64_t id, struct oidc_app *a)
{
	struct db_stmt	*st = store_prepare(SQL_APP);
	int		 r = -1;

	memset(a, 0, sizeof(*a));
	if (st == NULL)
		return -1;
	if (name != NULL)
		db_bind_text(st, 1, name, -1, DB_STATIC);
	db_bind_int64(st, 2, id);
	if (db_step(st) == DB_ROW) {
		a->id = db_column_int64(st, 0);
		snprintf(a->name, sizeof(a->name), "%s", db_column_text(st, 1));
		snprintf(a->flow, sizeof(a->flow), "%s", db_column_text(st, 2));
		snprintf(a->scopes, sizeof(a->scopes), "%s", db_column_text(st, 3));
		if (db_column_type(st, 4) != DB_NULL)
			snprintf(a->redirect_uri, sizeof(a->redirect_uri), "%s",
			    db_column_text(st, 4));
		snprintf(a->return_url, sizeof(a->return_url), "%s",
		    db_column_type(st, 5) != DB_NULL ?
		    (const char *)db_column_text(st, 5) : "/");
		snprintf(a->tenant, sizeof(a->tenant), "%s", db_column_text(st, 7));
		r = connection_get_id(db_column_int64(st, 6), &a->conn);
	}
	db_reset(st);
	return r;
}

/* 32 random bytes as base64url: state, nonce, verifier, session ids. */
void
oidc_random(char out[OIDC_RANDOM_LEN + 1])
{
	uint8_t r[32];

	randombytes_buf(r, sizeof(r));
	sodium_bin2base64(out, OIDC_RANDOM_LEN + 1, r, sizeof(r),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(r, sizeof(r));
}







/* Forget an Assistant token set. */
void
oidc_set_clear(struct oidc_set *set)
{
	seal_secret_free(set->access);
	seal_secret_free(set->id_token);
	memset(set, 0, sizeof(*set));
}

/* Free a user session and everything it holds. */
static void
oidc_session_free(struct oidc_session *s)
{
	int i;

	seal_secret_free(s->refresh);
	for (i = 0; i < OIDC_CACHE; i++)
		seal_secret_free(s->cache[i].token);
	oidc_set_clear(&s->set);
	oidc_set_clear(&s->fresh);
	sodium_memzero(s, sizeof(*s));
	free(s);
}

/* Write a new session through to the database; -1 if it could not be stored. */
static int
oidc_session_store(struct oidc_session *s)
{
	struct oidc_row r;

	memset(&r, 0, sizeof(r));
	r.app_id = s->app_id;
	r.conn_id = s->conn_id;
	r.created = s->created;
	r.refresh = s->refresh;
	snprintf(r.username, sizeof(r.username), "%s", s->username);
	snprintf(r.sub, sizeof(r.sub), "%s", s->sub);
	if (oidcstore_insert(s->sid_hash, &r) == -1)
		return -1;
	s->row = r.id;
	s->gen = r.gen;
	return 0;
}






/*
 * A new session for a user who just logged in to a: it takes *refresh and writes sid, the
 * browser's session id; NULL, and *why, when it cannot be kept.
 */
struct oidc_session *
oidc_session_start(const struct oidc_app *a, const char *sub, const char *user,
    struct fg_secret **refresh, char sid[OIDC_RANDOM_LEN + 1], const char **why)
{
	struct oidc_session *s;

	*why = oidc_nsessions >= OIDC_SESSIONS_MAX ? "too many user sessions" : "out of memory";
	if (oidc_nsessions >= OIDC_SESSIONS_MAX || (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	snprintf(s->sub, sizeof(s->sub), "%s", sub);
	snprintf(s->username, sizeof(s->username), "%s", user);
	oidc_random(sid);
	seal_session_hash(sid, OIDC_RANDOM_LEN, s->sid_hash);
	s->app_id = a->id;
	snprintf(s->app, sizeof(s->app), "%s", a->name);
	s->conn_id = a->conn.id;
	s->refresh = *refresh;
	*refresh = NULL;
	s->created = s->last_seen = s->seen_stored = store_now_ms();
	if (oidc_session_store(s) == -1) {
		sodium_memzero(sid, OIDC_RANDOM_LEN + 1);
		oidc_session_free(s);
		*why = "the session could not be stored";
		return NULL;
	}
	s->next = oidc_sessions;
	oidc_sessions = s;
	oidc_nsessions++;
	return s;
}

/* Answer every queued request of s with the session's end. */
static void
oidc_flush_queue(struct oidc_session *s)
{
	struct oidc_waiter *q;

	struct token_fail	 f = { "unauthenticated", "the user session has ended", 0 };

	while ((q = s->queue) != NULL) {
		s->queue = q->next;
		q->w.done(&q->w, NULL, &f);
		free(q);
	}
}

/* Unlink s from memory; free it now, or when its refresh in flight returns. */
void
oidc_session_unlink(struct oidc_session *s)
{
	struct oidc_session **pp;

	for (pp = &oidc_sessions; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			oidc_nsessions--;
			break;
		}
	}
	oidc_flush_queue(s);
	if (s->busy)
		s->dead = 1;
	else
		oidc_session_free(s);
}

/* End s: forget it in memory and in the database. */
static void
oidc_session_drop(struct oidc_session *s)
{
	oidcstore_delete(s->row);
	oidc_session_unlink(s);
}

/* End s now (logout, revocation, timeout) and revoke its refresh token upstream. */
void
oidc_session_revoke(struct oidc_session *s, const char *cause)
{
	oidc_revoke_upstream(s->app_id, s->row, s->username, s->refresh, cause);
	oidc_session_drop(s);
}

/* The stored session of hash h, back in memory after a restart; NULL if none. */
static struct oidc_session *
oidc_session_load(const uint8_t h[32])
{
	struct oidc_session	*s;
	struct oidc_app		 a;
	struct oidc_row		 r;

	if (oidc_nsessions >= OIDC_SESSIONS_MAX || oidcstore_load(h, &r) == -1)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL || oidc_app_get(NULL, r.app_id, &a) == -1) {
		free(s);
		seal_secret_free(r.refresh);
		return NULL;
	}
	memcpy(s->sid_hash, h, 32);
	s->app_id = r.app_id;
	s->conn_id = r.conn_id;
	snprintf(s->app, sizeof(s->app), "%s", a.name);
	snprintf(s->username, sizeof(s->username), "%s", r.username);
	snprintf(s->sub, sizeof(s->sub), "%s", r.sub);
	s->refresh = r.refresh;
	s->row = r.id;
	s->gen = r.gen;
	s->created = r.created;
	s->last_seen = s->seen_stored = r.last_seen;
	s->next = oidc_sessions;
	oidc_sessions = s;
	oidc_nsessions++;
	return s;
}

/* The live session of sid, or NULL (an idle or too old one is dropped on the way). */
struct oidc_session *
oidc_session_get(const char *sid)
{
	struct oidc_session	*s;
	uint8_t			 h[32];
	int64_t			 now = store_now_ms();

	if (sid == NULL || strlen(sid) != OIDC_RANDOM_LEN)
		return NULL;
	seal_session_hash(sid, OIDC_RANDOM_LEN, h);
	for (s = oidc_sessions; s != NULL; s = s->next)
		if (sodium_memcmp(s->sid_hash, h, 32) == 0)
			break;
	if (s == NULL && (s = oidc_session_load(h)) == NULL)
		return NULL;
	if (!s->busy && (now - s->last_seen > fg_cfg->session_idle_s * 1000 ||
	    now - s->created > fg_cfg->session_max_s * 1000)) {
		oidc_session_revoke(s, "expired");
		return NULL;
	}
	s->last_seen = now;
	/* or a quarter of the idle timeout, so a short timeout never ends a live session */
	if (now - s->seen_stored > (fg_cfg->session_idle_s * 250 < OIDC_TOUCH_MS ?
	    fg_cfg->session_idle_s * 250 : OIDC_TOUCH_MS)) {
		oidcstore_touch(s->row, now);
		s->seen_stored = now;
	}
	return s;
}

/* Hand a cached token of s to w, with its audit record. */
static void
oidc_issue(struct oidc_session *s, const struct token_req *w, struct oidc_cached *c,
    const char *source)
{
	char			 detail[600];
	struct audit_rec	 rec = { w->actor, "token.issue", s->app, NULL, c->granted, "issued",
				    detail, c->fp };
	struct token_grant	 g = { c->token->buf, (long)((c->expires_ms - store_now_ms()) / 1000),
				    c->granted, c->fp, s->conn_id };
	struct token_fail	 f = { "server_error", "audit record could not be written", 0 };

	snprintf(detail, sizeof(detail), "source=%s grant=refresh_token remote=%s%s%s%s%s",
	    source, w->remote, w->purpose ? " for=" : "", w->purpose ? w->purpose : "",
	    strcmp(c->granted, c->scopes) != 0 ? " asked=" : "",
	    strcmp(c->granted, c->scopes) != 0 ? c->scopes : "");
	if (g.expires_in < 1)
		g.expires_in = 1;
	if ((f.message = gate_still(w->app_id, w->epoch)) != NULL) {
		f.code = "temporarily_unavailable";	/* stopped or revoked during the refresh */
		w->done(w, NULL, &f);
		return;
	}
	f.message = "audit record could not be written";
	if (audit_append(&rec) == -1) {
		w->done(w, NULL, &f);
		return;
	}
	app_usage_note(s->app);
	token_hand_over(w, &g);
}

/*
 * Hand the session's whole token set to w (the Assistant's credentials), audited with the
 * user; the reply is held until the record is durable.
 */
static void
oidc_issue_set(struct oidc_session *s, const struct token_req *w, const char *source)
{
	char			 detail[300];
	struct audit_rec	 rec = { w->actor, "token.issue", s->app, NULL, s->set.scope,
				    "issued", detail, s->set.fp };
	struct token_fail	 f = { "server_error", "audit record could not be written", 0 };
	long			 left = (long)((s->set.expires_ms - store_now_ms()) / 1000);

	snprintf(detail, sizeof(detail), "source=%s grant=refresh_token remote=%s "
	    "for=assistant-credentials set=access,refresh,id", source, w->remote);
	if ((f.message = gate_still(w->app_id, w->epoch)) != NULL) {
		f.code = "temporarily_unavailable";
		w->done(w, NULL, &f);
		return;
	}
	f.message = "audit record could not be written";
	if (audit_append(&rec) == -1) {
		w->done(w, NULL, &f);
		return;
	}
	app_usage_note(s->app);
	hold_reply(&w->ctx, s->conn_id, json_pack("{sbsssssssssIss}", "ok", 1, "access_token",
	    s->set.access->buf, "refresh_token", s->refresh->buf, "id_token",
	    s->set.id_token->buf, "token_type", "Bearer", "expires_in",
	    (json_int_t)(left < 1 ? 1 : left), "scope", s->set.scope));
}

/* True when the session's set may be handed out again: over 60% of its life is left. */
static int
oidc_set_live(const struct oidc_session *s)
{
	return s->set.access != NULL &&
	    (s->set.expires_ms - store_now_ms()) * 10 > s->set.life_ms * 6;
}

/* Take a refresh's set into set; -1 (and why in t) when the upstream sent no ID token. */
static int
oidc_set_put(struct oidc_set *set, struct upstream_token *t)
{
	if (t->id_token == NULL) {
		snprintf(t->message, sizeof(t->message), "the upstream's refresh answer has no "
		    "ID token, which the Assistant requires");
		return -1;
	}
	oidc_set_clear(set);
	set->access = t->access_token;
	set->id_token = t->id_token;
	t->access_token = t->id_token = NULL;
	snprintf(set->scope, sizeof(set->scope), "%s", t->scope_given ? t->scope : "openid");
	seal_fingerprint(set->access->buf, set->access->len, set->fp);
	set->life_ms = (int64_t)t->expires_in * 1000;
	set->expires_ms = store_now_ms() + set->life_ms;
	return 0;
}

static void oidc_next(struct oidc_session *s);

/*
 * The refreshed set's ID token was checked (idtoken.c): it replaces the held set and goes to
 * the first waiter, or that waiter is refused and the held set stays.
 */
static void
oidc_set_checked(void *arg, const char *why, const char *sub, const char *user)
{
	struct oidc_session	*s = arg;
	struct oidc_waiter	*q = s->queue;
	char			 msg[400];
	/* the grant stands (the upstream took its refresh token) but this answer does not: a
	   retry refreshes and checks anew; "log in again" would not cure an issuer's keys */
	struct token_fail	 f = { "temporarily_unavailable", msg, 0 };

	(void)sub;
	(void)user;
	s->busy = 0;
	if (s->dead) {		/* ended meanwhile; its queue, this waiter too, was answered */
		oidc_session_free(s);
		return;
	}
	s->queue = q->next;
	if (why == NULL)	/* stopped or revoked while checked: the set is not kept */
		why = gate_still(q->w.app_id, q->w.epoch);
	if (why == NULL) {
		oidc_set_clear(&s->set);
		s->set = s->fresh;
		memset(&s->fresh, 0, sizeof(s->fresh));
		oidc_issue_set(s, &q->w, "upstream");
	} else {
		oidc_set_clear(&s->fresh);
		snprintf(msg, sizeof(msg), "the refreshed token set is refused: %s", why);
		token_refused(&q->w, NULL, q->scopes, &f);
	}
	free(q);
	oidc_next(s);
}

/* Check the ID token of a refresh's set (t) before s keeps it; its waiter stays first. */
static void
oidc_set_check(struct oidc_session *s, struct upstream_token *t)
{
	struct oidc_app a;

	s->busy = 1;	/* single flight until the check ends */
	if (oidc_set_put(&s->fresh, t) == -1)
		oidc_set_checked(s, t->message, NULL, NULL);
	else if (oidc_app_get(NULL, s->app_id, &a) == -1)
		oidc_set_checked(s, "the app or its connection is gone", NULL, NULL);
	else if (idtoken_check_refresh(&a.conn, s->fresh.id_token->buf, s->sub,
	    oidc_set_checked, s) == -1)
		oidc_set_checked(s, "too many requests wait on the issuer's keys", NULL, NULL);
}

/* The cached token of s for scopes with enough life left, or NULL. */
static struct oidc_cached *
oidc_cached(struct oidc_session *s, const char *scopes)
{
	int i;

	for (i = 0; i < OIDC_CACHE; i++)
		if (s->cache[i].token != NULL && strcmp(s->cache[i].scopes, scopes) == 0 &&
		    s->cache[i].expires_ms - store_now_ms() > 10000)
			return &s->cache[i];
	return NULL;
}

/* Keep a fresh token in the session's cache (replacing the one with least life). */
static struct oidc_cached *
oidc_cache_put(struct oidc_session *s, const char *scopes, struct upstream_token *t)
{
	struct oidc_cached	*c;
	int			 i, slot = 0;

	for (i = 0; i < OIDC_CACHE; i++)
		if (s->cache[i].token == NULL || s->cache[i].expires_ms < s->cache[slot].expires_ms)
			slot = i;
	c = &s->cache[slot];
	seal_secret_free(c->token);
	c->token = t->access_token;
	t->access_token = NULL;
	snprintf(c->scopes, sizeof(c->scopes), "%s", scopes);
	snprintf(c->granted, sizeof(c->granted), "%s", t->scope_given ? t->scope : scopes);
	seal_fingerprint(c->token->buf, c->token->len, c->fp);
	c->expires_ms = store_now_ms() + (int64_t)t->expires_in * 1000;
	return c;
}

/* The upstream rotated the refresh token: keep the new one, in memory and sealed on disk. */
static void
oidc_session_rotate(struct oidc_session *s, struct upstream_token *t)
{
	struct oidc_row r = { .id = s->row, .gen = s->gen };

	if (oidcstore_rotate(&r, t->refresh_token) == 0)
		s->gen = r.gen;
	seal_secret_free(s->refresh);
	s->refresh = t->refresh_token;
	t->refresh_token = NULL;
}

/* A refresh for the oldest waiter came back. */
static void
oidc_refreshed(void *arg, struct upstream_token *t)
{
	struct oidc_session	*s = arg;
	struct oidc_waiter	*q = s->queue;
	struct token_fail	 f = { "temporarily_unavailable", t->message, t->retry_after };
	char			 missing[FG_NAME_MAX + 1];
	int			 ended;

	s->busy = 0;
	if (s->dead) {		/* logged out meanwhile; its queue was answered */
		if (t->refresh_token != NULL)	/* rotated after the old one was revoked */
			oidc_revoke_upstream(s->app_id, s->row, s->username, t->refresh_token,
			    "rotated");
		oidc_session_free(s);
		return;
	}
	if (t->outcome == UPSTREAM_OK && t->scope_given && !q->full &&
	    !scope_subset(t->scope, q->scopes, missing, sizeof(missing))) {
		t->outcome = UPSTREAM_BAD_RESPONSE;	/* broader than asked: never handed out */
		snprintf(t->message, sizeof(t->message), "the upstream granted a broader scope "
		    "than asked (%s); refused", missing);
	}
	if (t->refresh_token != NULL) {		/* rotation: the old one is dead now */
		oidc_session_rotate(s, t);
	}
	/* stopped or revoked while in flight: nothing of the answer is kept, or served later */
	if (t->outcome == UPSTREAM_OK && (f.message = gate_still(q->w.app_id, q->w.epoch)) != NULL)
		t->outcome = UPSTREAM_REFUSED;
	if (t->outcome == UPSTREAM_OK && q->full) {
		oidc_set_check(s, t);
		return;
	}
	s->queue = q->next;
	if (t->outcome == UPSTREAM_OK) {
		oidc_issue(s, &q->w, oidc_cache_put(s, q->scopes, t), "upstream");
		free(q);
		oidc_next(s);
		return;
	}
	ended = t->outcome == UPSTREAM_REFUSED && strcmp(t->code, "invalid_grant") == 0;
	if (ended) {
		f.code = "unauthenticated";
		f.message = "the user's upstream session has ended; log in again";
	} else if (t->code[0] != '\0')
		f.code = t->code;
	token_refused(&q->w, NULL, q->scopes, &f);
	free(q);
	if (ended)
		oidc_session_drop(s);
	else
		oidc_next(s);
}

/* Serve the session's queue in order: from the cache, or one refresh at a time. */
static void
oidc_next(struct oidc_session *s)
{
	struct oidc_waiter	*q;
	struct oidc_cached	*c = NULL;
	struct oidc_app		 a;
	struct fg_secret	*secret = NULL;
	struct token_fail	 f = { "temporarily_unavailable", "the app's connection is "
				    "stopped or unreachable", 0 };
	int			 r;

	while ((q = s->queue) != NULL && !s->busy) {
		if (q->full ? oidc_set_live(s) : (c = oidc_cached(s, q->scopes)) != NULL) {
			s->queue = q->next;
			if (q->full)
				oidc_issue_set(s, &q->w, "cache");
			else
				oidc_issue(s, &q->w, c, "cache");
			free(q);
			continue;
		}
		r = -1;
		if (oidc_app_get(NULL, s->app_id, &a) == 0 && !a.conn.stopped &&
		    connection_open_secret(&a.conn, &secret) == 0) {
			struct upstream_param p[] = {
				{ "grant_type", "refresh_token", 13 },
				{ "refresh_token", s->refresh->buf, s->refresh->len },
				{ "scope", q->scopes, strlen(q->scopes) },
			};

			/* the Assistant's set: the user's whole grant, no scope narrowing */
			r = upstream_token(a.conn.token_url, a.conn.client_id, secret, p,
			    q->full ? 2 : 3, oidc_refreshed, s);
		}
		seal_secret_free(secret);
		secret = NULL;
		if (r == 0) {
			s->busy = 1;
			return;
		}
		s->queue = q->next;
		q->w.done(&q->w, NULL, &f);
		free(q);
	}
}

/* Queue w (copied) on the session of sid: a token for scopes, or the whole set (full). */
void
oidc_queue(const char *sid, const struct token_req *w, const char *scopes, int full)
{
	struct oidc_session	*s = oidc_session_get(sid);
	struct oidc_waiter	*q, **tail;
	struct token_fail	 f = { "unauthenticated", "no user session; log in first", 0 };

	if (s == NULL || (q = calloc(1, sizeof(*q))) == NULL) {
		if (s != NULL)
			f = (struct token_fail){ "server_error", "out of memory", 0 };
		w->done(w, NULL, &f);
		return;
	}
	q->w = *w;
	q->full = full;
	snprintf(q->scopes, sizeof(q->scopes), "%s", scopes);
	for (tail = &s->queue; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = q;
	oidc_next(s);
}
