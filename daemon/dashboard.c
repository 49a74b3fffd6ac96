/* The dashboard: one reply with what an operator looks at first. */
#include "config.h"

#include <time.h>

#include "daemon.h"

#define DASHBOARD_VERIFY_EVERY_S	60	/* the chain walk is O(records): not on every view */

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

/* "dashboard": issuance per app per hour, upstream health, secret ages, refusals, chain. */
void
dashboard_verb(const struct fg_reqctx *ctx, json_t *req)
{
	(void)req;
	server_reply(ctx, json_pack("{sbsososososo}", "ok", 1, "issuance", app_usage_hours(),
	    "upstream", upstream_health(), "connections", connection_ages(), "refusals",
	    audit_refusals(10), "chain", dashboard_chain_state()));
}
