/*
 * Fuzz target for answer_token (daemon/answer.c): the same bytes as a token endpoint's body
 * under each status an upstream may answer, the first line also as a Retry-After header.
 * Beyond not crashing, what it makes must be sound: a token only on success, and then an
 * RFC 6750 token, a lifetime in 1..UPSTREAM_EXPIRES_MAX and a canonical scope; otherwise no
 * token, an RFC 6749 code flowgate knows and a printable message.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Abort unless s is printable ASCII. */
static void
fuzz_check_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			abort();
}

/* Check one result. */
static void
fuzz_check_token(const struct upstream_token *t)
{
	static const char	*codes[] = { "invalid_scope", "unauthorized_client", "invalid_grant",
				    "temporarily_unavailable" };
	char			 scope[FG_SCOPES_MAX];
	size_t			 i;

	fuzz_check_printable(t->message);
	fuzz_check_printable(t->error);
	if (t->retry_after < 0 || t->retry_after > 3600)
		abort();
	if (t->outcome == UPSTREAM_OK) {
		if (t->access_token == NULL || t->code[0] != '\0' ||
		    !answer_token_ok(t->access_token->buf, t->access_token->len) ||
		    (t->refresh_token != NULL &&
		    !answer_token_ok(t->refresh_token->buf, t->refresh_token->len)) ||
		    t->expires_in < 1 || t->expires_in > UPSTREAM_EXPIRES_MAX)
			abort();
		if (t->scope_given ? scope_canonical(t->scope, scope, sizeof(scope), 0) == -1 ||
		    strcmp(scope, t->scope) != 0 || scope[0] == '\0' : t->scope[0] != '\0')
			abort();
		return;
	}
	if (t->access_token != NULL || t->refresh_token != NULL || t->id_token != NULL ||
	    t->message[0] == '\0')
		abort();
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(t->code, codes[i]) == 0)
			return;
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long	 statuses[] = { 200, 400, 401, 403, 429, 503, 500, 302 };
	struct upstream_token	 t;
	char			 retry[32];
	size_t			 i;

	if (sodium_init() < 0)
		abort();
	for (i = 0; i < size && i + 1 < sizeof(retry) && data[i] != '\n'; i++)
		retry[i] = data[i] != '\0' ? (char)data[i] : ' ';
	retry[i] = '\0';
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		memset(&t, 0, sizeof(t));
		answer_token(statuses[i], (const char *)data, size, retry, &t);
		fuzz_check_token(&t);
		seal_secret_free(t.access_token);
		seal_secret_free(t.refresh_token);
		seal_secret_free(t.id_token);
	}
	return 0;
}
