/* What the daemon says about itself: health, counters, status, and the decision table. */
#include "config.h"

#include "daemon.h"

#define STATUS_HEALTH_TOP	16	/* connections named in "health", most in trouble first */

/*
 * "health": database writable, each connection's state (the most troubled named, all
 * counted), and the upstream's last answer on any connection.
 */
static void
status_health(const struct fg_reqctx *ctx, json_t *req)
{
	(void)req;
	server_reply(ctx, json_pack("{sbsssososs}", "ok", 1, "database", store_writable() ? "ok" :
	    "error", "connections", connhealth_report(STATUS_HEALTH_TOP), "upstream",
	    upstream_health(), "version", FG_VERSION_STRING));
}

const struct verb_entry status_health_entry = {
	.name = "health",
	.peers = PEER_WEB | PEER_ADMIN,
	.fn = status_health
};

/* "stats": every counter, flat, for /metrics. */
static void
status_stats(const struct fg_reqctx *ctx, json_t *req)
{
	json_t *o = json_pack("{sb}", "ok", 1);

	(void)req;
	json_object_update_new(o, server_stats());
	json_object_update_new(o, token_stats());
	json_object_update_new(o, refusal_stats());
	json_object_update_new(o, hold_stats());
	json_object_update_new(o, writer_stats());
	json_object_update_new(o, upstream_stats());
	server_reply(ctx, o);
}

const struct verb_entry status_stats_entry = {
	.name = "stats",
	.peers = PEER_WEB | PEER_ADMIN,
	.fn = status_stats
};

/* "status": what an operator checks first, each connection's state among it. */
static void
status_status(const struct fg_reqctx *ctx, json_t *req)
{
	json_t *o, *stats = token_stats();

	(void)req;
	json_object_update_new(stats, server_stats());	/* requests: which node is busy */
	o = json_pack("{sbsssisssososo}", "ok", 1, "version", FG_VERSION_STRING,
	    "apps", app_count(), "database", store_writable() ? "ok" : "error", "connections",
	    connhealth_report(STATUS_HEALTH_TOP), "upstream", upstream_health(), "stats", stats);
	json_object_update_new(o, lease_status());
	server_reply(ctx, o);
}

const struct verb_entry status_entry = {
	.name = "status",
	.peers = PEER_ADMIN,
	.fn = status_status
};

/* "policy": the decision table, for the wizard. */
static void
status_policy(const struct fg_reqctx *ctx, json_t *req)
{
	(void)req;
	server_reply(ctx, json_pack("{sbso}", "ok", 1, "policy", policy_document()));
}

const struct verb_entry status_policy_entry = {
	.name = "policy",
	.peers = PEER_WEB | PEER_ADMIN,
	.fn = status_policy
};
