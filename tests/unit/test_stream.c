/* Parsers of the user flows: the interaction body the daemon rebuilds, and proxy paths. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "tap.h"

const struct fg_config *fg_cfg;

/* Rebuild text; the result as compact JSON (caller frees) or NULL. */
static char *
rebuild(const char *text)
{
	json_t		*in = json_loads(text, 0, NULL), *out;
	const char	*why;
	char		*s = NULL;

	out = stream_rebuild(in, &why);
	if (out != NULL)
		s = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(in);
	json_decref(out);
	return s;
}

static int
same(const char *in, const char *want)
{
	char	*got = rebuild(in);
	int	 ok = got != NULL && strcmp(got, want) == 0;

	free(got);
	return ok;
}

static int
refused(const char *in)
{
	char	*got = rebuild(in);
	int	 ok = got == NULL;

	free(got);
	return ok;
}

int
main(void)
{
	tap_ok(same("{\"encounter\":{\"identifier\":\"e-1\",\"status\":\"planned\",\"type\":\"consultation\"}}",
	    "{\"encounter\":{\"identifier\":\"e-1\",\"status\":\"planned\",\"type\":\"consultation\"}}"),
	    "a minimal encounter is passed on");
	tap_ok(same("{\"assignedUserId\":\"0f8c2b7e-1d2a-4c3b-9e8f-6a5b4c3d2e1f\",\"encounter\":{\"identifier\":\"e\",\"status\":\"in-progress\","
	    "\"type\":\"emergency\",\"title\":\"T\",\"period\":{\"startedAt\":\"2026-01-01T00:00:00Z\"}},"
	    "\"patient\":{\"identifier\":\"p\",\"name\":\"N\"}}",
	    "{\"assignedUserId\":\"0f8c2b7e-1d2a-4c3b-9e8f-6a5b4c3d2e1f\",\"encounter\":{\"identifier\":\"e\",\"period\":{\"startedAt\":"
	    "\"2026-01-01T00:00:00Z\"},\"status\":\"in-progress\",\"title\":\"T\",\"type\":\"emergency\"},"
	    "\"patient\":{\"identifier\":\"p\",\"name\":\"N\"}}"), "every documented field is passed on");
	tap_ok(refused("{\"encounter\":{\"identifier\":\"e\",\"status\":\"paused\",\"type\":\"consultation\"}}"),
	    "an unknown status is refused");
	tap_ok(refused("{\"encounter\":{\"identifier\":\"e\",\"status\":\"planned\",\"type\":\"visit\"}}"),
	    "an unknown type is refused");
	tap_ok(refused("{\"encounter\":{\"status\":\"planned\",\"type\":\"consultation\"}}"),
	    "a missing identifier is refused");
	tap_ok(refused("{\"encounter\":{\"identifier\":\"e\",\"status\":\"planned\",\"type\":\"consultation\"},"
	    "\"tenant\":\"other\"}"), "an unknown top-level field is refused");
	tap_ok(refused("{\"encounter\":{\"identifier\":\"e\",\"status\":\"planned\",\"type\":\"consultation\","
	    "\"extra\":1}}"), "an unknown encounter field is refused");
	tap_ok(refused("{\"encounter\":{\"identifier\":\"e\\n\",\"status\":\"planned\",\"type\":\"consultation\"}}"),
	    "control characters are refused");
	tap_ok(refused("{\"encounter\":{\"identifier\":7,\"status\":\"planned\",\"type\":\"consultation\"}}"),
	    "a number where text is expected is refused");
	tap_ok(refused("{\"encounter\":{\"identifier\":\"e\",\"status\":\"planned\",\"type\":\"consultation\"},"
	    "\"patient\":{\"ssn\":\"1\"}}"), "an unknown patient field is refused");
	tap_ok(refused("[]") && refused("{}") && refused("null"), "non-objects and empty bodies are refused");
	tap_ok(refused("{\"assignedUserId\":\"u1\",\"encounter\":{\"identifier\":\"e\",\"status\":\"planned\","
	    "\"type\":\"consultation\"}}"), "an assignedUserId that is not a UUID is refused");

	tap_ok(proxy_path_ok("/interactions/") && proxy_path_ok("/interactions/abc-1/facts"),
	    "plain paths are forwarded");
	tap_ok(!proxy_path_ok("/interactions/../admin") && !proxy_path_ok("/interactions/.."),
	    "dot-dot segments are refused");
	tap_ok(!proxy_path_ok("/./x") && !proxy_path_ok("//evil.example/x"), "dot and empty segments are refused");
	tap_ok(!proxy_path_ok("/a%2e%2e/x") && !proxy_path_ok("/a?b") && !proxy_path_ok("a/b"),
	    "encodings, queries and relative paths are refused");
	tap_ok(proxy_path_ok("/a..b/c"), "dots inside a name are fine");
	return tap_done();
}
