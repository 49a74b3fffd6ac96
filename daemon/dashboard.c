/*
 * The dashboard: one reply with what an operator looks at first, bounded whatever the number
 * of apps, connections and records: about 12 KiB plus the refusals' budget.
 */
#include "config.h"

#include "daemon.h"

#define DASHBOARD_TOP			12	/* busiest apps, oldest secrets shown */
#define DASHBOARD_REFUSALS		10
#define DASHBOARD_REFUSAL_BYTES		(24 * 1024)

/*
 * "dashboard": the busiest apps' issuance per hour with the totals over all apps, the
 * connections most in trouble (connhealth.c) and the oldest secrets with counts, recent
 * refusals, the chain's state.
 */
static void
dashboard_verb(const struct fg_reqctx *ctx, json_t *req)
{
	(void)req;
	server_reply(ctx, json_pack("{sbsososososo}", "ok", 1, "issuance",
	    app_usage_top(DASHBOARD_TOP), "health", connhealth_report(DASHBOARD_TOP),
	    "connections", connection_ages(DASHBOARD_TOP),
	    "refusals", auditq_refusals(DASHBOARD_REFUSALS,
	    DASHBOARD_REFUSAL_BYTES), "chain", verify_summary()));
}

const struct verb_entry dashboard_entry = {
	.name = "dashboard",
	.peers = PEER_WEB | PEER_ADMIN,
	.roles = ROLE_ANY,
	.fn = dashboard_verb
};
