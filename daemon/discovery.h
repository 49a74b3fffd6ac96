/*
 * OpenID Connect metadata of a connection's issuer: its discovery document (discovery.c), its
 * signing keys (jwks.c) and the ID token check built on both (idtoken.c).  Private to these
 * files and oidc.c, which calls them.
 */
#ifndef FG_DISCOVERY_H
#define FG_DISCOVERY_H

#include <cjose/jwk.h>

#define DISCOVERY_URL_MAX	2048
#define DISCOVERY_DOC_MAX	(64 * 1024)	/* a larger document is refused unread */
#define JWKS_DOC_MAX		(64 * 1024)
#define JWKS_KEYS_MAX		16		/* keys kept of one JWKS */
#define JWKS_KID_MAX		128

/* The JWS algorithms flowgate verifies: asymmetric only (never none, never HS*). */
#define JWKS_RS256	0x001u
#define JWKS_RS384	0x002u
#define JWKS_RS512	0x004u
#define JWKS_PS256	0x008u
#define JWKS_PS384	0x010u
#define JWKS_PS512	0x020u
#define JWKS_ES256	0x040u
#define JWKS_ES384	0x080u
#define JWKS_ES512	0x100u
#define JWKS_RSA_ALGS	0x03fu

struct jwks_key {
	cjose_jwk_t	*jwk;
	char		 kid[JWKS_KID_MAX + 1];	/* "" when the key has none */
	unsigned	 algs;			/* what it may verify: its kty, crv and alg */
};
struct jwks_set {
	struct jwks_key	 key[JWKS_KEYS_MAX];
	size_t		 n;
};
enum jwks_verdict { JWKS_OK, JWKS_UNKNOWN_KEY, JWKS_REFUSED };

unsigned	 jwks_alg_bit(const char *name);
const char	*jwks_parse(const char *body, size_t len, struct jwks_set *set);
void		 jwks_clear(struct jwks_set *set);
enum jwks_verdict jwks_verify(const struct jwks_set *set, unsigned allowed, const char *jwt,
		     char *why, size_t whylen);

/* What flowgate takes from a discovery document; the optional endpoints are "" when absent. */
struct discovery_doc {
	char		 issuer[DISCOVERY_URL_MAX + 1];
	char		 authorization_endpoint[DISCOVERY_URL_MAX + 1];
	char		 token_endpoint[DISCOVERY_URL_MAX + 1];
	char		 jwks_uri[DISCOVERY_URL_MAX + 1];
	char		 revocation_endpoint[DISCOVERY_URL_MAX + 1];
	char		 end_session_endpoint[DISCOVERY_URL_MAX + 1];
	char		 userinfo_endpoint[DISCOVERY_URL_MAX + 1];
	unsigned	 id_token_algs;		/* JWKS_* bits it names that flowgate verifies */
};
const char	*discovery_parse(const char *body, size_t len, const char *issuer,
		     const char *token_url, struct discovery_doc *d);

/* The document and (when asked for) the keys of a connection's issuer, or why not. */
struct discovery_view {
	const struct discovery_doc	*doc;
	const struct jwks_set		*keys;	/* NULL unless asked for */
	const char			*why;	/* NULL when doc (and keys) are there */
};
typedef void (*discovery_cb)(void *arg, const struct discovery_view *v);
#define DISCOVERY_KEYS		1	/* the JWKS too */
#define DISCOVERY_REFRESH	2	/* refetch both, unless done within the last seconds */
int	 discovery_get(const struct conn_rec *c, int flags, discovery_cb cb, void *arg);
int	 discovery_issuer(const struct conn_rec *c, char *out, size_t outlen);
int	 discovery_endpoint(const struct conn_rec *c, const char *what, char *out, size_t outlen);

/* The ID token of a login or refresh, checked: signature against the issuer's keys, claims. */
typedef void (*idtoken_cb)(void *arg, const char *why, const char *sub, const char *user);
int	 idtoken_check(const struct conn_rec *c, const char *jwt, const char *nonce,
	     idtoken_cb cb, void *arg);
int	 idtoken_check_refresh(const struct conn_rec *c, const char *jwt, const char *sub,
	     idtoken_cb cb, void *arg);

#endif
