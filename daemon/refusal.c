/*
 * Refusals of callers nobody could authenticate, counted instead of recorded one by one.  Any
 * caller can send such requests, with text of its own choosing, as fast as it likes; a record
 * each would let it grow the audit table without limit.  The first refusal of a kind (actor,
 * app named, what, outcome, remote address) in a window is recorded as usual; the repeats are counted and
 * recorded as one summary when the window ends.  The table of kinds is bounded: past it, every
 * new kind shares one "other callers" count.  Refusals of authenticated callers never come here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

#define REFUSAL_KINDS_MAX	256

struct refusal_kind {
	char		 actor[96];
	char		 app[FG_NAME_MAX + 1];	/* the app a browser named, if it exists */
	char		 event[32];
	char		 outcome[32];
	char		 remote[64];
	char		 route[32];
	time_t		 since;
	uint64_t	 repeats;	/* refused again after the recorded first */
};

static struct refusal_kind	 refusal_kinds[REFUSAL_KINDS_MAX];
static size_t			 refusal_nkinds;
static uint64_t			 refusal_other;	/* refusals of kinds the table had no room for */
static time_t			 refusal_other_since;
static uint64_t			 refusal_st_counted;

/* The kind of this refusal in the table, or NULL. */
static struct refusal_kind *
refusal_find(const struct audit_rec *rec, const char *remote, const char *route)
{
	size_t i;

	for (i = 0; i < refusal_nkinds; i++) {
		struct refusal_kind *k = &refusal_kinds[i];

		if (strcmp(k->actor, rec->actor) == 0 && strcmp(k->app, rec->app ? rec->app : "") ==
		    0 && strcmp(k->event, rec->event) == 0 &&
		    strcmp(k->outcome, rec->outcome) == 0 && strcmp(k->remote, remote) == 0 &&
		    strcmp(k->route, route) == 0)
			return k;
	}
	return NULL;
}

/*
 * An unauthenticated caller was refused: record it if it is the first of its kind in this
 * window, else count it.
 */
void
refusal_note(const struct audit_rec *rec, const char *remote, const char *route)
{
	struct refusal_kind	*k;

	if ((k = refusal_find(rec, remote, route)) != NULL) {
		k->repeats++;
		refusal_st_counted++;
		return;
	}
	if (refusal_nkinds == REFUSAL_KINDS_MAX) {
		if (refusal_other++ == 0)
			refusal_other_since = monotime();
		refusal_st_counted++;
		return;
	}
	k = &refusal_kinds[refusal_nkinds++];
	snprintf(k->actor, sizeof(k->actor), "%s", rec->actor);
	snprintf(k->app, sizeof(k->app), "%s", rec->app ? rec->app : "");
	snprintf(k->event, sizeof(k->event), "%s", rec->event);
	snprintf(k->outcome, sizeof(k->outcome), "%s", rec->outcome);
	snprintf(k->remote, sizeof(k->remote), "%s", remote);
	snprintf(k->route, sizeof(k->route), "%s", route);
	k->since = monotime();
	k->repeats = 0;
	audit_append(rec);
}

/* Record one window's repeats of a kind as one summary. */
static void
refusal_summary(const char *actor, const char *app, const char *event, const char *outcome,
    const char *what, uint64_t n, time_t seconds)
{
	char			 detail[300];
	struct audit_rec	 rec = { actor, event, app, NULL, NULL, outcome, detail, NULL };

	snprintf(detail, sizeof(detail), "repeated=%llu in=%llds: %s", (unsigned long long)n,
	    (long long)seconds, what);
	audit_append(&rec);
}

/*
 * End the windows that are over (all of them at exit): their repeats become summaries, their
 * kinds are forgotten.
 */
void
refusal_sweep(int all)
{
	time_t	now = monotime();
	char	what[200];
	size_t	i = 0;

	while (i < refusal_nkinds) {
		struct refusal_kind *k = &refusal_kinds[i];

		if (!all && now - k->since < fg_cfg->refusal_window_s) {
			i++;
			continue;
		}
		snprintf(what, sizeof(what), "route=%s remote=%s, refused like the record before",
		    k->route, k->remote);
		if (k->repeats > 0)
			refusal_summary(k->actor, k->app[0] ? k->app : NULL, k->event,
			    k->outcome, what, k->repeats, now - k->since);
		*k = refusal_kinds[--refusal_nkinds];
	}
	if (refusal_other > 0 && (all || now - refusal_other_since >= fg_cfg->refusal_window_s)) {
		refusal_summary("unauthenticated", NULL, "token.refuse", "refused", "callers past "
		    "the table of kinds", refusal_other, now - refusal_other_since);
		refusal_other = 0;
	}
}

/* Counted, not recorded one by one: for /metrics. */
json_t *
refusal_stats(void)
{
	return json_pack("{sIsI}", "refusals_counted", (json_int_t)refusal_st_counted,
	    "refusal_kinds", (json_int_t)refusal_nkinds);
}
