/*
 * Fuzz target for cluster_payload_parse (daemon/cluster-payload.c), the parser of the cluster
 * notifications a node reads from PostgreSQL.  What it accepts must be sound: a kind of 1..15
 * lowercase letters and an id that prints back to the same digits.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	s[64], kind[CLUSTER_KIND_MAX], back[64];
	int64_t	id;

	if (size >= sizeof(s))
		return 0;
	memcpy(s, data, size);		/* a payload is a C string: the first NUL ends it */
	s[size] = '\0';
	if (cluster_payload_parse(s, kind, &id) == -1)
		return 0;
	if (kind[0] == '\0' || strlen(kind) >= CLUSTER_KIND_MAX ||
	    strspn(kind, "abcdefghijklmnopqrstuvwxyz") != strlen(kind) || id < 0)
		abort();
	snprintf(back, sizeof(back), "%s:%lld", kind, (long long)id);
	if (strcmp(back, s) != 0 && strspn(s + strlen(kind) + 1, "0") == 0)
		abort();	/* only leading zeros may print differently */
	return 0;
}
