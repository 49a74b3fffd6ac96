/*
 * Fuzz target for discovery_parse (daemon/discovery.c): the bytes as an issuer's discovery
 * document.  What is accepted must be sound: the expected issuer and token URL, https URLs of
 * safe characters that fit, and at least one algorithm flowgate verifies.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "discovery.h"

#define ISS	"https://idp.test/realms/r"
#define TOK	ISS "/protocol/openid-connect/token"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

const struct fg_config *fg_cfg;	/* discovery.c's fetching half links the daemon's */

/* Abort unless s is "" (when it may be) or an https URL of safe characters. */
static void
fuzz_check_url(const char *s, int optional)
{
	if (optional && *s == '\0')
		return;
	if (strncmp(s, "https://", 8) != 0 || strlen(s) > DISCOVERY_URL_MAX)
		abort();
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    strchr("\"'<>\\`", *s) != NULL)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct discovery_doc d;

	if (discovery_parse((const char *)data, size, ISS, TOK, &d) != NULL)
		return 0;
	if (strcmp(d.issuer, ISS) != 0 || strcmp(d.token_endpoint, TOK) != 0 ||
	    d.id_token_algs == 0 || (d.id_token_algs & ~0x1ffu) != 0)
		abort();
	fuzz_check_url(d.authorization_endpoint, 0);
	fuzz_check_url(d.jwks_uri, 0);
	fuzz_check_url(d.revocation_endpoint, 1);
	fuzz_check_url(d.end_session_endpoint, 1);
	fuzz_check_url(d.userinfo_endpoint, 1);
	return 0;
}
