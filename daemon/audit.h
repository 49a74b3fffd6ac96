/*
 * The audit chain's records, for its two halves only (the rest of the daemon uses daemon.h):
 * audit.c appends and hashes them, audit-sink.c numbers (on PostgreSQL) and writes them.
 */
#ifndef FG_AUDIT_H
#define FG_AUDIT_H

#include <stdint.h>

#define AUDIT_FIELDS	8

struct audit_row {
	int64_t	 seq;
	int64_t	 ts;
	char	*f[AUDIT_FIELDS];	/* actor event app connection scopes outcome detail fp */
	uint8_t	 prev[AUDIT_HASHLEN];
	uint8_t	 hash[AUDIT_HASHLEN];
	int64_t	 issued_app;	/* not 0: the commit also records that this app got token fp */
	long	 issued_s;	/* and for how long (token_lease_issued_row) */
};

int	 audit_hash(int64_t seq, int64_t ts, char *const f[AUDIT_FIELDS],
	     const uint8_t prev[AUDIT_HASHLEN], uint8_t out[AUDIT_HASHLEN]);
int64_t	 audit_sink_last(uint8_t hash[AUDIT_HASHLEN]);
int	 audit_sink_head(int64_t seq, const uint8_t hash[AUDIT_HASHLEN]);
int	 audit_sink_anchor(void);

#endif
