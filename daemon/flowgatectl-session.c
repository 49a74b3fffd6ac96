/*
 * flowgatectl user-session: end users' sessions of user-present apps, listed by app and by
 * user, revoked one at a time or all of a user's (the daemon revokes them upstream too).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "flowgatectl.h"

/* "user-session revoke-all USER [--app A]": repeated while the daemon says more are left. */
static int
ctl_user_session_revoke_all(int argc, char **argv)
{
	static const struct ctl_opt opts[] = { { "--app", "app", 0 }, { NULL, NULL, 0 } };
	json_t		*req = json_pack("{ssss}", "verb", "user_session.revoke_all", "user",
			    argv[0]), *reply;
	json_int_t	 total = 0;

	ctl_options(argc - 1, argv + 1, opts, req);
	for (;;) {
		reply = ctl_call(json_deep_copy(req));
		if (!json_is_true(json_object_get(reply, "ok")) ||
		    !json_is_true(json_object_get(reply, "more")))
			break;
		total += json_integer_value(json_object_get(reply, "revoked"));
		json_decref(reply);
	}
	json_decref(req);
	if (json_is_true(json_object_get(reply, "ok")))
		json_object_set_new(reply, "revoked", json_integer(total +
		    json_integer_value(json_object_get(reply, "revoked"))));
	return ctl_done(reply, NULL);
}

int
ctl_user_session(int argc, char **argv)
{
	static const struct ctl_opt list_opts[] = { { "--app", "app", 0 },
	    { "--user", "user", 0 }, { NULL, NULL, 0 } };
	static const char *const cols[] = { "id", "app", "username", "sub", "created_at",
	    "last_used_at", "idle_expires_at", "expires_at", NULL };
	json_t	*req;
	char	*end;
	long long id;

	if (argc >= 1 && strcmp(argv[0], "list") == 0) {
		req = json_pack("{sssi}", "verb", "user_session.list", "limit", 400);
		ctl_options(argc - 1, argv + 1, list_opts, req);
		return ctl_list(req, "sessions", cols, "after", 0);
	}
	if (argc == 2 && strcmp(argv[0], "revoke") == 0) {
		id = strtoll(argv[1], &end, 10);
		if (*end != '\0' || end == argv[1] || id < 1)
			ctl_usage("user-session revoke: ID is a session's number from the list");
		return ctl_done(ctl_call(json_pack("{sssI}", "verb", "user_session.revoke", "id",
		    (json_int_t)id)), NULL);
	}
	if (argc >= 2 && strcmp(argv[0], "revoke-all") == 0)
		return ctl_user_session_revoke_all(argc - 1, argv + 1);
	ctl_usage("user-session: list [--app A] [--user U] | revoke ID | revoke-all USER "
	    "[--app A]");
}
