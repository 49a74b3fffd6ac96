/*
 * The daemon's core on an in-memory database, for its C unit tests: the real seal, store,
 * policy, gate, audit chain and writer thread, with the upstream's HTTP layer replaced by a
 * test double (upstream_double.c) that records each call and lets the test answer it.
 */
#ifndef FG_FIXTURE_H
#define FG_FIXTURE_H

#include "daemon.h"

/* upstream_double.c: the calls the daemon made, answered when the test says so */
struct double_call {
	char			 url[256];
	char			 client_id[128];
	char			 secret[128];	/* the connection's secret as it reached the call */
	char			 scope[FG_SCOPES_MAX];
	upstream_cb		 cb;
	void			*arg;
	int			 answered;
};
int			 double_ncalls(void);
struct double_call	*double_call(int i);
void			 double_answer(int i, enum upstream_outcome outcome, const char *token,
			     long expires_in, const char *scope);

int	 fixture_open(void);
void	 fixture_close(void);
int64_t	 fixture_connection(const char *name, const char *client_id, const char *secret);
int64_t	 fixture_app(const char *name, int64_t conn_id, const char *flow, const char *kind,
	     const char *scopes, const char *client_id, const char *secret);
int	 fixture_sql(const char *sql);
long long fixture_count(const char *sql);
int	 fixture_turns(void);

#endif
