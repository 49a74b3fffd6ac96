/*
 * Online copies of the database, written by the daemon and audited.  A copy of a large
 * database takes long, so it runs as one job in steps of a few pages per loop turn (SQLite's
 * online backup follows the writes the daemon makes meanwhile); its asker is answered when it
 * ends.  One copy at a time.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "daemon.h"

#define BACKUP_PAGES	8	/* pages copied per share of a loop turn (32 KiB) */

static struct {
	struct store_copy	*copy;
	struct fg_reqctx	 ctx;
	char			 actor[96];
	char			 path[1025];
} backup_job;

/* Audit how the copy ended and answer its asker. */
static void
backup_finish(int ok, const char *why)
{
	struct audit_rec rec = { backup_job.actor, "backup", NULL, NULL, NULL, ok ? "ok" :
	    "failed", backup_job.path, NULL };

	if (backup_job.copy != NULL)
		store_copy_end(backup_job.copy, ok);
	backup_job.copy = NULL;
	audit_append(&rec);
	if (ok)
		server_reply(&backup_job.ctx, json_pack("{sbss}", "ok", 1, "path",
		    backup_job.path));
	else
		server_reply_error(&backup_job.ctx, "failed", "%s", why);
}

/* A turn's shares of the copy (one while requests come in, eight when idle), if one runs. */
void
backup_step(int shares)
{
	char	err[512];
	int	r;

	if (backup_job.copy == NULL)
		return;
	if ((r = store_copy_step(backup_job.copy, shares * BACKUP_PAGES, err,
	    sizeof(err))) != 1)
		backup_finish(r == 0, err);
}

/* True while a copy runs: the loop must not sleep. */
int
backup_busy(void)
{
	return backup_job.copy != NULL;
}

/* At exit: a copy not finished is removed, and its asker told. */
void
backup_shutdown(void)
{
	if (backup_job.copy != NULL)
		backup_finish(0, "the daemon stopped before the copy was complete");
}

/* "backup": path — start an online copy of the database; answered when it is complete. */
static void
backup_verb(const struct fg_reqctx *ctx, json_t *req)
{
	const char		*path = json_string_value(json_object_get(req, "path"));
	char			 actor[96], err[512] = "the audit log could not be written";
	struct audit_rec	 rec = { actor, "backup", NULL, NULL, NULL, "failed", path, NULL };

	server_actor(ctx, actor, sizeof(actor));
	if (path[0] != '/') {
		server_reply_error(ctx, "bad_request", "the backup path must be absolute");
		return;
	}
	if (backup_job.copy != NULL) {
		server_reply_error(ctx, "temporarily_unavailable", "a backup is being written; "
		    "try again when it is done");
		return;
	}
	/* flush first so the copy holds every record up to now */
	if (audit_flush() == -1 || (backup_job.copy = store_copy_begin(path, err,
	    sizeof(err))) == NULL) {
		audit_append(&rec);
		server_reply_error(ctx, "failed", "%s", err);
		return;
	}
	backup_job.ctx = *ctx;
	snprintf(backup_job.actor, sizeof(backup_job.actor), "%s", actor);
	snprintf(backup_job.path, sizeof(backup_job.path), "%s", path);
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
