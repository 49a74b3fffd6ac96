/* flowgatectl audit: the audit log read, checked, anchored and archived. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowgatectl.h"

/*
 * The newest n records, oldest first, streamed: the newest record's number says where the
 * last n begin (records are numbered without gaps), and pages run forward from there.
 */
static int
ctl_audit_tail(long n, const char *const *cols)
{
	json_t		*reply, *req;
	json_int_t	 newest;

	reply = ctl_call(json_pack("{sssi}", "verb", "audit.tail", "n", 1));
	if (!json_is_true(json_object_get(reply, "ok")))
		return ctl_refused(reply);
	newest = json_integer_value(json_object_get(json_array_get(json_object_get(reply,
	    "records"), 0), "seq"));
	json_decref(reply);
	req = json_pack("{sssisI}", "verb", "audit.tail", "n", 1000, "after",
	    (json_int_t)(newest > n ? newest - n : 0));
	return ctl_list(req, "records", cols, "after", n);
}

/* audit query: the matching records, newest first, every one unless -n says how many. */
static int
ctl_audit_query(int argc, char **argv, const char *const *cols)
{
	static const struct ctl_opt opts[] = {
		{ "--app", "app", 0 }, { "--connection", "connection", 0 },
		{ "--actor", "actor", 0 }, { "--event", "event", 0 },
		{ "--outcome", "outcome", 0 }, { "--from", "from_ms", 1 },
		{ "--to", "to_ms", 1 }, { "-n", "n", 1 }, { NULL, NULL, 0 } };
	json_t		*req = json_pack("{sssi}", "verb", "audit.query", "limit", 500);
	json_int_t	 n;

	ctl_options(argc, argv, opts, req);
	n = json_integer_value(json_object_get(req, "n"));
	if (json_object_get(req, "n") != NULL && n < 1)
		ctl_usage("audit query: N must be at least 1");
	json_object_del(req, "n");
	return ctl_list(req, "records", cols, "before", (long)n);
}

/* "audit anchor": print the committed head as SEQ:HASH, to keep somewhere else. */
static int
ctl_audit_anchor(void)
{
	json_t *reply = ctl_call(json_pack("{ss}", "verb", "audit.anchor"));

	if (!json_is_true(json_object_get(reply, "ok")) || ctl_json)
		return ctl_done(reply, NULL);
	printf("%s\n", json_string_value(json_object_get(reply, "anchor")));
	json_decref(reply);
	return 0;
}

/*
 * "audit archive --before SEQ PATH": the records up to SEQ into a new archive file, then pruned;
 * "audit verify-archive PATH": check an archive's chain and anchors.
 */
static int
ctl_audit_archive(int argc, char **argv)
{
	json_t	*req;
	char	*end = NULL;
	long long before = 0;

	if (strcmp(argv[0], "verify-archive") == 0) {
		if (argc != 2)
			ctl_usage("audit verify-archive PATH");
		req = json_pack("{ssss}", "verb", "audit.verify_archive", "path", argv[1]);
	} else {
		if (argc == 4 && strcmp(argv[1], "--before") == 0)
			before = strtoll(argv[2], &end, 10);
		if (argc != 4 || end == NULL || *end != '\0' || before < 1)
			ctl_usage("audit archive --before SEQ PATH");
		req = json_pack("{sssIss}", "verb", "audit.archive", "before", (json_int_t)before,
		    "path", argv[3]);
	}
	return ctl_done(ctl_call(req), NULL);
}

/* The audit.verify request of "audit verify [--incremental] [--anchor SEQ:HASH]". */
static json_t *
ctl_audit_verify_req(int argc, char **argv)
{
	json_t	*req = json_pack("{ss}", "verb", "audit.verify");
	int	 i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--incremental") == 0)
			json_object_set_new(req, "full", json_false());
		else if (strcmp(argv[i], "--anchor") == 0 && i + 1 < argc)
			json_object_set_new(req, "anchor", json_string(argv[++i]));
		else
			ctl_usage("audit verify [--incremental] [--anchor SEQ:HASH]");
	}
	return req;
}

/* audit: tail, query, verify, anchor, archive of the audit log. */
int
ctl_audit(int argc, char **argv)
{
	static const char *const cols[] = { "seq", "ts", "actor", "event", "app", "connection",
	    "scopes", "outcome", "detail", "token_fp", NULL };
	json_t	*reply;
	char	*end = NULL;
	long	 n = 20;

	if (argc >= 1 && strcmp(argv[0], "tail") == 0) {
		if (argc == 3 && strcmp(argv[1], "-n") == 0)
			n = strtol(argv[2], &end, 10);
		else if (argc != 1)
			ctl_usage("audit tail [-n N]");
		if (n < 1 || (end != NULL && *end != '\0'))
			ctl_usage("audit tail: N must be a number, at least 1");
		return ctl_audit_tail(n, cols);
	}
	if (argc >= 1 && strcmp(argv[0], "query") == 0)
		return ctl_audit_query(argc - 1, argv + 1, cols);
	if (argc == 1 && strcmp(argv[0], "anchor") == 0)
		return ctl_audit_anchor();
	if (argc >= 1 && (strcmp(argv[0], "archive") == 0 || strcmp(argv[0], "verify-archive") == 0))
		return ctl_audit_archive(argc, argv);
	if (argc < 1 || strcmp(argv[0], "verify") != 0)
		ctl_usage("audit: tail, query, verify or anchor");
	reply = ctl_call(ctl_audit_verify_req(argc - 1, argv + 1));
	if (!json_is_true(json_object_get(reply, "ok"))) {
		if (!ctl_json)
			fprintf(stderr, "audit chain BROKEN at record %lld: %s\n",
			    (long long)json_integer_value(json_object_get(reply, "bad_seq")),
			    json_string_value(json_object_get(reply, "message")));
		return ctl_json ? ctl_refused(reply) : (json_decref(reply), CTL_EXIT_REFUSED);
	}
	if (!ctl_json) {
		printf("audit chain ok: %lld records\n",
		    (long long)json_integer_value(json_object_get(reply, "records")));
		json_decref(reply);
		return 0;
	}
	return ctl_done(reply, NULL);
}
