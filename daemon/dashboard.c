/*
 * The dashboard: one reply with what an operator looks at first, bounded whatever the number
 * of apps, connections and records: about 8 KiB plus the refusals' budget.
 */
#include "config.h"

#include <time.h>

#include "daemon.h"

#define DASHBOARD_VERIFY_EVERY_S	60	/* the chain walk is O(records): not on every view */
#define DASHBOARD_TOP			12	/* busiest apps, oldest secrets shown */
#define DASHBOARD_REFUSALS		10
#define DASHBOARD_REFUSAL_BYTES		(24 * 1024)

static struct {
	time_t		at;
	int		ok;
	json_int_t	records;
	char		message[160];
} dashboard_chain;

/* The audit chain's state, verified at most once a minute. */
static json_t *
dashboard_chain_state(void)
{
	time_t	now = time(NULL);
	int64_t	count = 0, bad = 0;

	if (dashboard_chain.at == 0 || now - dashboard_chain.at >= DASHBOARD_VERIFY_EVERY_S) {
		dashboard_chain.message[0] = '\0';
		dashboard_chain.ok = audit_verify(&count, &bad, dashboard_chain.message,
		    sizeof(dashboard_chain.message)) == 0;
		dashboard_chain.records = count;
		dashboard_chain.at = now;
	}
	return json_pack("{sbsIsssI}", "ok", dashboard_chain.ok, "records",
	    dashboard_chain.records, "message", dashboard_chain.message, "checked_at",
	    (json_int_t)dashboard_chain.at);
}

/*
 * "dashboard": the busiest apps' issuance per hour with the totals over all apps, upstream
 * health, the oldest connection secrets with counts, recent refusals, the chain's state.
 */
static void
dashboard_verb(const struct fg_reqctx *ctx, json_t *req)
{
	(void)req;
	server_reply(ctx, json_pack("{sbsososososo}", "ok", 1, "issuance",
	    app_usage_top(DASHBOARD_TOP), "upstream", upstream_health(), "connections",
	    connection_ages(DASHBOARD_TOP), "refusals", audit_refusals(DASHBOARD_REFUSALS,
	    DASHBOARD_REFUSAL_BYTES), "chain", dashboard_chain_state()));
}

const struct verb_entry dashboard_entry = {
	.name = "dashboard",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ANY,
	.fn = dashboard_verb
};
