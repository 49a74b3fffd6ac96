/* Online copies of the database, written by the daemon and audited. */
#include "config.h"

#include "daemon.h"

/* "backup": path — an online copy of the database, audited. */
static void
backup_verb(const struct fg_reqctx *ctx, json_t *req)
{
	const char		*path = json_string_value(json_object_get(req, "path"));
	char			 actor[96], err[512] = "the audit log could not be written";
	struct audit_rec	 rec = { actor, "backup", NULL, NULL, NULL, "ok", path, NULL };

	server_actor(ctx, actor, sizeof(actor));
	if (path[0] != '/') {
		server_reply_error(ctx, "bad_request", "the backup path must be absolute");
		return;
	}
	/* flush first so the copy holds every record up to now */
	if (audit_flush() == -1 || store_backup(path, err, sizeof(err)) == -1) {
		rec.outcome = "failed";
		audit_append(&rec);
		server_reply_error(ctx, "failed", "%s", err);
		return;
	}
	audit_append(&rec);
	server_reply(ctx, json_pack("{sbss}", "ok", 1, "path", path));
}

static const struct verb_field backup_fields[] = {
	{ "path", VERB_STR, 1, 1024 },
	VERB_FIELDS_END
};
const struct verb_entry backup_entry = {
	.name = "backup",
	.peers = PEER_ADMIN,
	.fn = backup_verb,
	.fields = backup_fields
};
