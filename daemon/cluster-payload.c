/*
 * A cluster notification's payload, '<kind>:<id>' (cluster-notify.c): what another node's
 * committed transaction changed.  Only flowgate writes it, but it is read from the database,
 * so it is parsed strictly: a kind of lowercase letters, a colon, a decimal id, nothing else.
 */
#include "config.h"

#include <string.h>

#include "daemon.h"
#include "util.h"

/* 0 with kind (NUL-terminated) and *id filled, or -1 for anything else. */
int
cluster_payload_parse(const char *payload, char kind[CLUSTER_KIND_MAX], int64_t *id)
{
	unsigned long long	v;
	size_t			n = strspn(payload, "abcdefghijklmnopqrstuvwxyz");

	if (n == 0 || n >= CLUSTER_KIND_MAX || payload[n] != ':' ||
	    fg_decimal(payload + n + 1, 18, &v) == -1)
		return -1;
	memcpy(kind, payload, n);
	kind[n] = '\0';
	*id = (int64_t)v;
	return 0;
}
