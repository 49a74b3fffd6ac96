/*
 * Login limits per admin account and per client address: a bounded table that never gives
 * up a lock.  account.c asks before queuing a password check and reports a right password.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "daemon.h"

#define LOGINLIMIT_WINDOW_S	900	/* failures count for 15 minutes */
#define LOGINLIMIT_KEY_LEN	(FG_NAME_MAX + 8)

/*
 * The address limit is this many times the account limit.  It is a trade-off we keep on
 * purpose: the address lock refuses everyone behind that address (an office NAT, a proxy, or
 * "-" when the front end passes no address), so one person there can lock all of them out
 * with factor x login_max_failures wrong passwords, and can lock out up to factor accounts
 * first, since each account locks at login_max_failures.  A lower factor would make both
 * easier; a higher one lets one address guess across more accounts before it is stopped.
 * 4 lets a few people behind one address mistype without locking the rest out, and keeps
 * one address's guesses within four accounts' worth.
 */
#define LOGINLIMIT_ADDR_FACTOR	4

/*
 * Login limits: one entry per account ("u:NAME") and per client address ("a:ADDRESS"), found
 * through a hash table under a random SipHash key (names are chosen by callers), and kept on
 * one of two lists in age order: unlocked entries by their last attempt, locked ones by the
 * end of their lock.  An attempt is charged when its check is queued, not when it ends, so a
 * burst of pipelined guesses meets the limit while its checks still run.
 *
 * At most login_limits_max entries.  A new key takes the place of the oldest unlocked entry;
 * a locked entry is never given up, and when only locked entries remain a new key is refused
 * (rate_limited) until the first lock ends.  Forgetting a lock to make room would let anyone
 * unlock an account by trying enough other names; refusing new keys instead stops logins of
 * accounts that have no entry for at most 15 minutes, and filling the table with locks takes
 * login_max_failures queued Argon2id checks per entry, at most 32 at a time.
 */
struct loginlimit {
	char			 key[LOGINLIMIT_KEY_LEN];	/* "u:NAME" or "a:ADDRESS" */
	int			 failures;		/* charged attempts, in flight included */
	time_t			 window_start;
	time_t			 locked_until;		/* 0: not locked */
	struct loginlimit	*hnext;
	TAILQ_ENTRY(loginlimit)	 entry;
};
TAILQ_HEAD(loginlimit_list, loginlimit);

static struct loginlimit	**loginlimit_buckets;
static size_t			 loginlimit_nbuckets, loginlimit_nlimits;
static struct loginlimit_list	 loginlimit_unlocked = TAILQ_HEAD_INITIALIZER(loginlimit_unlocked);
static struct loginlimit_list	 loginlimit_locked = TAILQ_HEAD_INITIALIZER(loginlimit_locked);
static uint8_t			 loginlimit_seed[crypto_shorthash_KEYBYTES];
/* Format the limit key of kind ("u" account, "a" address) and what. */
static void
loginlimit_key(const char *kind, const char *what, char key[LOGINLIMIT_KEY_LEN])
{
	snprintf(key, LOGINLIMIT_KEY_LEN, "%s:%.*s", kind, FG_NAME_MAX, what ? what : "-");
}

/* The hash chain key belongs in. */
static struct loginlimit **
loginlimit_chain(const char *key)
{
	uint8_t		h[crypto_shorthash_BYTES];
	uint64_t	v;

	crypto_shorthash(h, (const uint8_t *)key, strlen(key), loginlimit_seed);
	memcpy(&v, h, sizeof(v));
	return &loginlimit_buckets[v & (loginlimit_nbuckets - 1)];
}

/* End l's lock at once: it joins the young end of the unlocked list. */
static void
loginlimit_unlock(struct loginlimit *l)
{
	if (l->locked_until == 0)
		return;
	TAILQ_REMOVE(&loginlimit_locked, l, entry);
	TAILQ_INSERT_TAIL(&loginlimit_unlocked, l, entry);
	l->locked_until = 0;
}

/* End l's lock or its window, whichever is over. */
static void
loginlimit_age(struct loginlimit *l, time_t now)
{
	if (l->locked_until != 0 ? now >= l->locked_until : now - l->window_start > LOGINLIMIT_WINDOW_S) {
		loginlimit_unlock(l);
		l->failures = 0;
		l->window_start = now;
	}
}

/* The entry of a key, brought up to date; NULL if it has none. */
static struct loginlimit *
loginlimit_find(const char *kind, const char *what, time_t now)
{
	struct loginlimit	*l;
	char			 key[LOGINLIMIT_KEY_LEN];

	loginlimit_key(kind, what, key);
	for (l = *loginlimit_chain(key); l != NULL; l = l->hnext)
		if (strcmp(l->key, key) == 0) {
			loginlimit_age(l, now);
			return l;
		}
	return NULL;
}

/* Take the oldest unlocked entry out of the table for reuse; NULL if every entry is locked. */
static struct loginlimit *
loginlimit_recycle(time_t now)
{
	struct loginlimit *l, **pp;

	while ((l = TAILQ_FIRST(&loginlimit_locked)) != NULL && now >= l->locked_until)
		loginlimit_age(l, now);
	if ((l = TAILQ_FIRST(&loginlimit_unlocked)) == NULL)
		return NULL;
	TAILQ_REMOVE(&loginlimit_unlocked, l, entry);
	for (pp = loginlimit_chain(l->key); *pp != l; pp = &(*pp)->hnext)
		;
	*pp = l->hnext;
	return l;
}

/*
 * The entry of a key, made if need be; an unlocked one becomes the youngest of its list.
 * NULL when the table holds only locked entries (or memory ran out).
 */
static struct loginlimit *
loginlimit_make(const char *kind, const char *what, time_t now)
{
	struct loginlimit **chain, *l;

	if ((l = loginlimit_find(kind, what, now)) != NULL) {
		if (l->locked_until == 0) {
			TAILQ_REMOVE(&loginlimit_unlocked, l, entry);
			TAILQ_INSERT_TAIL(&loginlimit_unlocked, l, entry);
		}
		return l;
	}
	if (loginlimit_nlimits < (size_t)fg_cfg->login_limits_max) {
		if ((l = malloc(sizeof(*l))) == NULL)
			return NULL;
		loginlimit_nlimits++;
	} else if ((l = loginlimit_recycle(now)) == NULL)
		return NULL;
	memset(l, 0, sizeof(*l));
	loginlimit_key(kind, what, l->key);
	chain = loginlimit_chain(l->key);
	l->window_start = now;
	l->hnext = *chain;
	*chain = l;
	TAILQ_INSERT_TAIL(&loginlimit_unlocked, l, entry);
	return l;
}

/* Seconds until name (and remote, unless NULL) may try again, or 0. */
long
loginlimit_wait(const char *name, const char *remote, time_t now)
{
	struct loginlimit	*l[2] = { loginlimit_find("u", name, now),
				    remote != NULL ? loginlimit_find("a", remote, now) : NULL };
	int			 i;

	for (i = 0; i < 2; i++)
		if (l[i] != NULL && l[i]->locked_until > now)
			return (long)(l[i]->locked_until - now);
	return 0;
}

/* Charge one attempt to l; lock it once it reaches max in the window. */
static void
loginlimit_charge(struct loginlimit *l, long max, time_t now)
{
	if (++l->failures < max || l->locked_until != 0)
		return;
	TAILQ_REMOVE(&loginlimit_unlocked, l, entry);
	TAILQ_INSERT_TAIL(&loginlimit_locked, l, entry);
	l->locked_until = now + LOGINLIMIT_WINDOW_S;
}

/*
 * Charge an attempt of account name from remote (NULL: the account only), not locked out,
 * whose check is about to be queued.  0 when charged; else the seconds until the first lock
 * ends, when the table has no room for the keys.
 */
long
loginlimit_start(const char *name, const char *remote, time_t now)
{
	struct loginlimit	*la, *lr = NULL, *first;
	char			 key[LOGINLIMIT_KEY_LEN];

	/* the account's entry is now the youngest unlocked one: the address's takes its place
	   only when nothing else is unlocked, and then there is no room for both */
	loginlimit_key("u", name, key);
	if ((la = loginlimit_make("u", name, now)) == NULL || (remote != NULL &&
	    (lr = loginlimit_make("a", remote, now)) == NULL) || strcmp(la->key, key) != 0) {
		first = TAILQ_FIRST(&loginlimit_locked);
		return first != NULL && first->locked_until > now ?
		    (long)(first->locked_until - now) : 1;
	}
	loginlimit_charge(la, fg_cfg->login_max_failures, now);
	if (lr != NULL)
		loginlimit_charge(lr, fg_cfg->login_max_failures * LOGINLIMIT_ADDR_FACTOR, now);
	return 0;
}

/*
 * A right password for name from remote (NULL: none): the account starts afresh (its owner's
 * earlier typos are forgiven), and the address gets this attempt back: only failures count
 * there.
 */
void
loginlimit_right(const char *name, const char *remote, time_t now)
{
	struct loginlimit *l;

	if ((l = loginlimit_find("u", name, now)) != NULL) {
		loginlimit_unlock(l);
		l->failures = 0;
	}
	if (remote == NULL || (l = loginlimit_find("a", remote, now)) == NULL)
		return;
	if (l->failures > 0)
		l->failures--;
	if (l->failures < fg_cfg->login_max_failures * LOGINLIMIT_ADDR_FACTOR)
		loginlimit_unlock(l);
}

/* Make the empty table, sized for login_limits_max, under a fresh SipHash key. */
int
loginlimit_init(void)
{
	randombytes_buf(loginlimit_seed, sizeof(loginlimit_seed));
	for (loginlimit_nbuckets = 16; loginlimit_nbuckets < (size_t)fg_cfg->login_limits_max;)
		loginlimit_nbuckets <<= 1;
	loginlimit_buckets = calloc(loginlimit_nbuckets, sizeof(*loginlimit_buckets));
	return loginlimit_buckets == NULL ? -1 : 0;
}

/* Free every entry. */
void
loginlimit_shutdown(void)
{
	struct loginlimit *l;

	while ((l = TAILQ_FIRST(&loginlimit_unlocked)) != NULL) {
		TAILQ_REMOVE(&loginlimit_unlocked, l, entry);
		free(l);
	}
	while ((l = TAILQ_FIRST(&loginlimit_locked)) != NULL) {
		TAILQ_REMOVE(&loginlimit_locked, l, entry);
		free(l);
	}
	free(loginlimit_buckets);
	loginlimit_buckets = NULL;
	loginlimit_nlimits = 0;
}
