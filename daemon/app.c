/*
 * Apps: the registry of registrations and their broker-issued credentials, kept in memory for
 * the token path; authentication (the secret stored only as a keyed BLAKE2b, compared in
 * constant time; an unknown client_id costs the same as a wrong secret) and issuance counts.
 * The verbs that register, change and show apps are registration.c's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"


static const char SQL_AUTH[] =
    "SELECT a.id, a.name, a.client_id, a.secret_hash, a.flow, a.kind, a.scopes, "
    "a.connection_id, c.name, c.stopped, a.revoked_at, a.prev_secret_hash, "
    "a.prev_valid_until FROM apps a "
    "JOIN connections c ON c.id = a.connection_id WHERE a.client_id = ?";
static const char SQL_COUNT[] = "SELECT count(*) FROM apps WHERE revoked_at IS NULL";

/* Copy a text column into a fixed buffer. */
void
app_column(struct db_stmt *st, int col, char *dst, size_t dstlen)
{
	const unsigned char *s = db_column_text(st, col);

	snprintf(dst, dstlen, "%s", s ? (const char *)s : "");
}

/*
 * Active registrations seen on the token path, by client_id, so that a cached token costs no
 * query.  Every verb that changes an app or its connection calls app_cache_clear(); a change
 * another node of a cluster made arrives as a notification (cluster-notify.c, app_cache_drop).  Unknown and revoked client_ids are never cached.
 */
#define APP_CACHE_BUCKETS	1024
#define APP_CACHE_MAX		8192

struct app_cached {
	struct app_rec		 rec;
	uint8_t			 hash[32];
	uint8_t			 prev_hash[32];	/* the rotated-out secret, during its overlap */
	int64_t			 prev_until;
	struct app_cached	*next;
};

static struct app_cached	*app_cache[APP_CACHE_BUCKETS];
static size_t			 app_cache_n;
static uint64_t			 app_registry_epoch;	/* bumped on every change */

static unsigned int
app_cache_bucket(const char *client_id)
{
	uint32_t h = 2166136261u;

	for (; *client_id != '\0'; client_id++)
		h = (h ^ (uint8_t)*client_id) * 16777619u;
	return h % APP_CACHE_BUCKETS;
}

/* Forget every cached registration; anything checked before must be checked again. */
void
app_cache_clear(void)
{
	struct app_cached	*a, *next;
	int			 b;

	app_registry_epoch++;
	for (b = 0; b < APP_CACHE_BUCKETS; b++) {
		for (a = app_cache[b]; a != NULL; a = next) {
			next = a->next;
			sodium_memzero(a, sizeof(*a));
			free(a);
		}
		app_cache[b] = NULL;
	}
	app_cache_n = 0;
}

/* Forget the cached registrations of one app or of one connection's apps (0, 0: all). */
void
app_cache_drop(int64_t app_id, int64_t conn_id)
{
	struct app_cached	**pp, *a;
	int			  b;

	if (app_id == 0 && conn_id == 0) {
		app_cache_clear();
		return;
	}
	app_registry_epoch++;
	for (b = 0; b < APP_CACHE_BUCKETS; b++) {
		for (pp = &app_cache[b]; (a = *pp) != NULL;) {
			if (a->rec.id != app_id && a->rec.connection_id != conn_id) {
				pp = &a->next;
				continue;
			}
			*pp = a->next;
			sodium_memzero(a, sizeof(*a));
			free(a);
			app_cache_n--;
		}
	}
}

/* Changes when any registration or connection changed: gate passes compare it. */
uint64_t
app_epoch(void)
{
	return app_registry_epoch;
}

static struct app_cached *
app_cache_get(const char *client_id)
{
	struct app_cached *a;

	for (a = app_cache[app_cache_bucket(client_id)]; a != NULL; a = a->next)
		if (strcmp(a->rec.client_id, client_id) == 0)
			return a;
	return NULL;
}

/* Load an active registration from the database into a new cache entry; NULL if none. */
static struct app_cached *
app_cache_load(const char *client_id)
{
	struct db_stmt		*st = store_prepare(SQL_AUTH);
	struct app_cached	*a = NULL;
	struct app_rec		*r;
	unsigned int		 b;

	if (st == NULL)
		return NULL;
	db_bind_text(st, 1, client_id, -1, DB_STATIC);
	if (db_step(st) == DB_ROW && db_column_bytes(st, 3) == 32 &&
	    db_column_type(st, 10) == DB_NULL && (a = calloc(1, sizeof(*a))) != NULL) {
		r = &a->rec;
		memcpy(a->hash, db_column_blob(st, 3), 32);
		r->id = db_column_int64(st, 0);
		app_column(st, 1, r->name, sizeof(r->name));
		app_column(st, 2, r->client_id, sizeof(r->client_id));
		app_column(st, 4, r->flow, sizeof(r->flow));
		app_column(st, 5, r->kind, sizeof(r->kind));
		app_column(st, 6, r->scopes, sizeof(r->scopes));
		r->connection_id = db_column_int64(st, 7);
		app_column(st, 8, r->connection, sizeof(r->connection));
		r->connection_stopped = db_column_int(st, 9);
		if (db_column_bytes(st, 11) == 32) {
			memcpy(a->prev_hash, db_column_blob(st, 11), 32);
			a->prev_until = db_column_int64(st, 12);
		}
	}
	db_reset(st);
	if (a == NULL)
		return NULL;
	if (app_cache_n >= APP_CACHE_MAX)
		app_cache_clear();
	b = app_cache_bucket(a->rec.client_id);
	a->next = app_cache[b];
	app_cache[b] = a;
	app_cache_n++;
	return a;
}

/*
 * Authenticate an app by its credential.  0 with *out filled when the secret matches an
 * active registration; -1 otherwise, after the same hashing and compare.
 */
int
app_authenticate(const char *client_id, const char *secret, struct app_rec *out)
{
	static const uint8_t	 dummy[32];
	struct app_cached	*a;
	uint8_t			 h[32];
	int			 ok, prev_ok;

	memset(out, 0, sizeof(*out));
	seal_app_hash(secret, strlen(secret), h);
	if ((a = app_cache_get(client_id)) == NULL)
		a = app_cache_load(client_id);
	ok = sodium_memcmp(h, a != NULL ? a->hash : dummy, 32) == 0;
	/* compared always, so timing says nothing about whether an overlap is running */
	prev_ok = sodium_memcmp(h, a != NULL ? a->prev_hash : dummy, 32) == 0 && a != NULL &&
	    a->prev_until > store_now_ms();
	sodium_memzero(h, sizeof(h));
	if (a == NULL || !(ok || prev_ok))
		return -1;
	*out = a->rec;
	return 0;
}

static const char SQL_REVOKED[] =
    "SELECT a.id, a.secret_hash FROM apps a WHERE a.client_id = ? AND a.revoked_at IS NOT NULL";

/*
 * A credential that failed app_authenticate: 0 with *out filled when it is the (last) secret of
 * a revoked registration, so the refusal can name the app; -1 otherwise.
 */
int
app_revoked_match(const char *client_id, const char *secret, struct app_rec *out)
{
	struct db_stmt	*st = store_prepare(SQL_REVOKED);
	uint8_t		 h[32];
	int64_t		 id = 0;

	if (st == NULL)
		return -1;
	seal_app_hash(secret, strlen(secret), h);
	db_bind_text(st, 1, client_id, -1, DB_STATIC);
	if (db_step(st) == DB_ROW && db_column_bytes(st, 1) == 32 &&
	    sodium_memcmp(db_column_blob(st, 1), h, 32) == 0)
		id = db_column_int64(st, 0);
	db_reset(st);
	sodium_memzero(h, sizeof(h));
	return id != 0 ? app_lookup(NULL, id, out) : -1;
}

static const char SQL_LOOKUP[] =
    "SELECT a.id, a.name, a.client_id, a.flow, a.kind, a.scopes, a.connection_id, c.name, "
    "c.stopped, CASE WHEN a.revoked_at IS NULL THEN 0 ELSE 1 END FROM apps a JOIN connections c ON "
    "c.id = a.connection_id WHERE a.name = ?1 OR a.id = ?2";

/* A registration by name (or by id when name is NULL), revoked or not; -1 when unknown. */
int
app_lookup(const char *name, int64_t id, struct app_rec *out)
{
	struct db_stmt	*st = store_prepare(SQL_LOOKUP);
	int		 r = -1;

	memset(out, 0, sizeof(*out));
	if (st == NULL)
		return -1;
	if (name != NULL)
		db_bind_text(st, 1, name, -1, DB_STATIC);
	db_bind_int64(st, 2, name != NULL ? -1 : id);
	if (db_step(st) == DB_ROW) {
		out->id = db_column_int64(st, 0);
		app_column(st, 1, out->name, sizeof(out->name));
		app_column(st, 2, out->client_id, sizeof(out->client_id));
		app_column(st, 3, out->flow, sizeof(out->flow));
		app_column(st, 4, out->kind, sizeof(out->kind));
		app_column(st, 5, out->scopes, sizeof(out->scopes));
		out->connection_id = db_column_int64(st, 6);
		app_column(st, 7, out->connection, sizeof(out->connection));
		out->connection_stopped = db_column_int(st, 8);
		out->revoked = db_column_int(st, 9);
		r = 0;
	}
	db_reset(st);
	return r;
}

/* Active registrations, for status. */
int
app_count(void)
{
	struct db_stmt	*st = store_prepare(SQL_COUNT);
	int		 n = 0;

	if (st != NULL && db_step(st) == DB_ROW)
		n = db_column_int(st, 0);
	if (st != NULL)
		db_reset(st);
	return n;
}


/*
 * Issuance counts and last use per app, for app.list: counted once from the audit log at start
 * and kept up to date in memory (an index on the audit table would cost a page per commit).
 */
#define APP_HOURS	24

struct app_usage {
	char			 name[FG_NAME_MAX + 1];
	int64_t			 issued;
	int64_t			 last_ms;
	int64_t			 hour[APP_HOURS];	/* absolute hour of each slot */
	uint32_t		 count[APP_HOURS];	/* issuances in that hour */
	struct app_usage	*next;			/* every app, for the dashboard */
	struct app_usage	*bnext;			/* same bucket: found per issuance */
};

/* Count n issuances in absolute hour h (ts / 3600000). */
static void
app_usage_hour(struct app_usage *u, int64_t h, uint32_t n)
{
	int slot = (int)(h % APP_HOURS);

	if (u->hour[slot] != h) {
		u->hour[slot] = h;
		u->count[slot] = 0;
	}
	u->count[slot] += n;
}

static struct app_usage *app_usage_list;
static struct app_usage *app_usage_buckets[APP_CACHE_BUCKETS];

/* The usage of app name (created when asked to): a hash lookup, since it runs per token. */
static struct app_usage *
app_usage_get(const char *name, int create)
{
	struct app_usage	*u;
	unsigned int		 b = app_cache_bucket(name);

	for (u = app_usage_buckets[b]; u != NULL; u = u->bnext)
		if (strcmp(u->name, name) == 0)
			return u;
	if (!create || (u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->next = app_usage_list;
	app_usage_list = u;
	u->bnext = app_usage_buckets[b];
	app_usage_buckets[b] = u;
	return u;
}

static const char SQL_USAGE[] =
    "SELECT app, count(*), max(ts) FROM audit WHERE event = 'token.issue' AND app IS NOT NULL "
    "GROUP BY app";
static const char SQL_USAGE_HOURS[] =
    "SELECT app, ts / 3600000, count(*) FROM audit WHERE event = 'token.issue' "
    "AND app IS NOT NULL AND ts >= ? GROUP BY 1, 2";

/* Count every app's issuances in the audit log. */
int
app_usage_load(void)
{
	struct db_stmt		*st = store_prepare(SQL_USAGE);
	struct app_usage	*u;

	if (st == NULL)
		return -1;
	while (db_step(st) == DB_ROW) {
		if ((u = app_usage_get((const char *)db_column_text(st, 0), 1)) == NULL)
			break;
		u->issued = db_column_int64(st, 1);
		u->last_ms = db_column_int64(st, 2);
	}
	db_reset(st);
	if ((st = store_prepare(SQL_USAGE_HOURS)) == NULL)
		return -1;
	db_bind_int64(st, 1, store_now_ms() - (int64_t)APP_HOURS * 3600000);
	while (db_step(st) == DB_ROW)
		if ((u = app_usage_get((const char *)db_column_text(st, 0), 1)) != NULL)
			app_usage_hour(u, db_column_int64(st, 1),
			    (uint32_t)db_column_int64(st, 2));
	db_reset(st);
	return 0;
}

/* u's issuances in each of the last 24 hours, oldest first, added to sum; the total. */
static int64_t
app_usage_day(const struct app_usage *u, int64_t now_h, json_t *hours, int64_t *sum)
{
	int64_t	h, n, total = 0;
	int	i = 0;

	for (h = now_h - APP_HOURS + 1; h <= now_h; h++, i++) {
		n = u->hour[h % APP_HOURS] == h ? u->count[h % APP_HOURS] : 0;
		if (hours != NULL)
			json_array_append_new(hours, json_integer(n));
		sum[i] += n;
		total += n;
	}
	return total;
}

/*
 * The last 24 hours' issuance, bounded whatever the number of apps: the n busiest apps with
 * their hours (oldest first), and over all apps the hourly totals and how many apps issued.
 */
json_t *
app_usage_top(int n)
{
	const struct app_usage	*top[32], *u;
	int64_t			 top_total[32], sum[APP_HOURS] = { 0 }, none[APP_HOURS] = { 0 }, t;
	int64_t			 now_h = store_now_ms() / 3600000;
	json_t			*apps = json_array(), *hours = json_array();
	int			 ntop = 0, active = 0, i;

	if (n > 32)
		n = 32;
	for (u = app_usage_list; u != NULL; u = u->next) {
		if ((t = app_usage_day(u, now_h, NULL, sum)) == 0)
			continue;
		active++;
		for (i = ntop; i > 0 && (top_total[i - 1] < t || (top_total[i - 1] == t &&
		    strcmp(top[i - 1]->name, u->name) > 0)); i--) {
			if (i < n) {
				top[i] = top[i - 1];
				top_total[i] = top_total[i - 1];
			}
		}
		if (i < n) {
			top[i] = u;
			top_total[i] = t;
			ntop += ntop < n;
		}
	}
	for (i = 0; i < ntop; i++) {
		json_t *h = json_array();

		app_usage_day(top[i], now_h, h, none);
		json_array_append_new(apps, json_pack("{sssosI}", "app", top[i]->name, "hours", h,
		    "total", (json_int_t)top_total[i]));
	}
	for (i = 0, t = 0; i < APP_HOURS; i++) {
		json_array_append_new(hours, json_integer(sum[i]));
		t += sum[i];
	}
	return json_pack("{sosisosI}", "apps", apps, "active", active, "hours", hours, "total",
	    (json_int_t)t);
}

/* An app's issuance count and last use, into o (app.list and app.show). */
void
app_usage_of(const char *name, json_t *o)
{
	struct app_usage *u = app_usage_get(name, 0);

	json_object_set_new(o, "issued", json_integer(u ? u->issued : 0));
	json_object_set_new(o, "last_used", u ? json_integer(u->last_ms) : json_null());
}

/* One more issuance for app, now. */
void
app_usage_note(const char *app)
{
	struct app_usage *u = app_usage_get(app, 1);

	if (u != NULL) {
		u->issued++;
		u->last_ms = store_now_ms();
		app_usage_hour(u, u->last_ms / 3600000, 1);
	}
}

void
app_usage_free(void)
{
	struct app_usage *u;

	memset(app_usage_buckets, 0, sizeof(app_usage_buckets));
	while ((u = app_usage_list) != NULL) {
		app_usage_list = u->next;
		free(u);
	}
}
