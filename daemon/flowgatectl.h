/* flowgatectl's helpers shared by its command groups (daemon/flowgatectl*.c). */
#ifndef FLOWGATECTL_H
#define FLOWGATECTL_H

#include <jansson.h>

#define CTL_EXIT_REFUSED	1
#define CTL_EXIT_USAGE		2
#define CTL_EXIT_UNREACHABLE	3

/* a --long option of a subcommand, copied into the request by ctl_options() */
struct ctl_opt {
	const char	*flag;
	const char	*field;		/* NULL: handled by the caller */
	int		 kind;		/* 0 string, 1 integer, 2 sets true, 3 sets false */
};

extern int	 ctl_json;	/* --json: print the daemon's answers as they are */

void	 ctl_usage(const char *why) __attribute__((noreturn));
int	 ctl_refused(json_t *reply);
json_t	*ctl_call(json_t *req);
int	 ctl_done(json_t *reply, const char *key);
int	 ctl_list(json_t *req, const char *key, const char *const *cols, const char *cursor,
	     long max);
void	 ctl_options(int argc, char **argv, const struct ctl_opt *opts, json_t *req);

/* flowgatectl-audit.c: the audit log */
int	 ctl_audit(int argc, char **argv);

/* flowgatectl-key.c: the master key's files and its rotation */
int	 ctl_key(int argc, char **argv);

/* flowgatectl-session.c: end users' sessions */
int	 ctl_user_session(int argc, char **argv);

#endif
