/*
 * Fuzz target for answer_interaction (daemon/answer.c): the bytes as the upstream's answer to
 * an interaction create, for two API bases.  What it accepts must be sound: a short id of safe
 * characters and a wss:// URL on the API's own host.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Abort unless s is made of safe characters only. */
static void
fuzz_check_word(const char *s)
{
	if (*s == '\0')
		abort();
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    strchr("\"'\\<>`", *s) != NULL)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	*bases[][2] = {
		{ "https://api.eu.corti.app/v2", "api.eu.corti.app" },
		{ "https://127.0.0.1:8443/api/v2", "127.0.0.1:8443" },
	};
	char			 id[129], ws[2049];
	const char		*why;
	size_t			 i, n;

	for (i = 0; i < 2; i++) {
		why = answer_interaction((const char *)data, size, bases[i][0], id, sizeof(id), ws,
		    sizeof(ws));
		if (why != NULL)
			continue;
		fuzz_check_word(id);
		fuzz_check_word(ws);
		n = strlen(bases[i][1]);
		if (strncmp(ws, "wss://", 6) != 0 || strncasecmp(ws + 6, bases[i][1], n) != 0 ||
		    (ws[6 + n] != '\0' && strchr("/?#:", ws[6 + n]) == NULL))
			abort();
	}
	return 0;
}
