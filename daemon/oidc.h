/*
 * User sessions of the user-present flows, shared by the login (oidclogin.c: PKCE, the code
 * exchange, the ID token check) and the sessions (oidc.c: refreshes, the Assistant's set,
 * logout, revocation).  Private to these two files.
 */
#ifndef FG_OIDC_H
#define FG_OIDC_H

#define OIDC_RANDOM_LEN		43	/* 32 random bytes, base64url */
#define OIDC_CACHE		4	/* scope sets cached per user session */

struct oidc_app {
	int64_t		 id;
	char		 name[FG_NAME_MAX + 1];
	char		 flow[32];
	char		 scopes[FG_SCOPES_MAX];
	char		 redirect_uri[2049];
	char		 return_url[2049];
	struct conn_rec	 conn;
	char		 tenant[FG_NAME_MAX + 1];
};

struct oidc_cached {
	char			 scopes[FG_SCOPES_MAX];		/* asked */
	char			 granted[FG_SCOPES_MAX];
	struct fg_secret	*token;
	char			 fp[FG_FP_LEN];
	int64_t			 expires_ms;
};

/*
 * The token set an embedded Corti Assistant is given: the user's own, refreshed without
 * narrowing the scope (Corti requires the access, refresh and ID tokens of the user).
 */
struct oidc_set {
	struct fg_secret	*access;
	struct fg_secret	*id_token;
	char			 scope[FG_SCOPES_MAX];
	char			 fp[FG_FP_LEN];
	int64_t			 expires_ms, life_ms;
};

/* A token request queued on a user session. */
struct oidc_waiter {
	struct token_req	 w;
	char			 scopes[FG_SCOPES_MAX];
	int			 full;		/* the Assistant's whole set */
	struct oidc_waiter	*next;
};

struct oidc_session {
	uint8_t			 sid_hash[32];
	int64_t			 app_id;
	int64_t			 conn_id;
	char			 app[FG_NAME_MAX + 1];
	char			 username[128];
	char			 sub[256];
	struct fg_secret	*refresh;
	struct oidc_cached	 cache[OIDC_CACHE];
	struct oidc_set		 set;
	struct oidc_set		 fresh;		/* refreshed, its ID token being checked */
	int64_t			 row, gen;	/* its row in user_sessions (oidcstore.c) */
	int64_t			 created, last_seen, seen_stored;
	int			 busy;		/* a refresh is in flight */
	int			 dead;		/* ended while busy: freed when it returns */
	struct oidc_waiter	*queue;		/* waiting, oldest first */
	struct oidc_session	*next;
};

int	 oidc_app_get(const char *name, int64_t id, struct oidc_app *a);
void	 oidc_random(char out[OIDC_RANDOM_LEN + 1]);
struct oidc_session *oidc_session_start(const struct oidc_app *a, const char *sub,
	     const char *user, struct fg_secret **refresh, char sid[OIDC_RANDOM_LEN + 1],
	     const char **why);
struct oidc_session *oidc_session_get(const char *sid);
void	 oidc_session_revoke(struct oidc_session *s, const char *cause);
struct oidc_session *oidc_sessions_head(void);
void	 oidc_session_unlink(struct oidc_session *s);
void	 oidc_set_clear(struct oidc_set *set);
void	 oidc_queue(const char *sid, const struct token_req *w, const char *scopes, int full);
void	 oidc_revoke_upstream(int64_t app_id, int64_t row, const char *username,
	     const struct fg_secret *refresh, const char *cause);
void	 oidclogin_sweep(void);
void	 oidclogin_shutdown(void);

#endif
