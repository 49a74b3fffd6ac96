/* Blocking client side of the daemon protocol, used by flowgate-fcgi workers and flowgatectl. */
#ifndef FG_CLIENT_H
#define FG_CLIENT_H

#include <stdint.h>

#include <jansson.h>

int	fg_client_connect(const char *path);
int	fg_client_call(int fd, uint32_t id, json_t *req, json_t **reply, int timeout_ms);
int	fg_client_call_raw(int fd, uint32_t id, const char *req, size_t reqlen,
	    const char **body, size_t *bodylen, int timeout_ms);
void	fg_client_wipe(void);

#endif
