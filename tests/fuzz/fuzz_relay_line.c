/*
 * Fuzz target for relayline_parse (daemon/relayline.c), the parser of nginx's relay log lines
 * that arrive on the daemon's datagram socket.  What it accepts must be sound: a request id of
 * 32 hex digits, a three-digit status, and numbers in range.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relayline	l;
	size_t			i;

	if (relayline_parse((const char *)data, size, &l) == -1)
		return 0;
	if (strlen(l.request_id) != 32 || l.status < 100 || l.status > 999 ||
	    l.to_client >= (UINT64_C(1) << 62) || l.to_upstream >= (UINT64_C(1) << 62))
		abort();
	for (i = 0; i < 32; i++)
		if (strchr("0123456789abcdef", l.request_id[i]) == NULL)
			abort();
	return 0;
}
