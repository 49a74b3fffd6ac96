/*
 * Password checks off the event loop.  An Argon2id verification takes tens of milliseconds;
 * done inline, every login (even a wrong one, from anyone) would stall token issuance for that
 * long.  One worker thread does the hashing and nothing else: it touches no database, socket or
 * daemon state, and hands results back through a pipe the event loop polls, so every callback
 * runs on the main thread.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"

struct pwhash_job {
	char			 stored[crypto_pwhash_STRBYTES];
	struct fg_secret	*password;
	int			 ok;
	pwhash_cb		 done;
	void			*arg;
	struct pwhash_job	*next;
};

static pthread_t		 pwhash_thread;
static pthread_mutex_t		 pwhash_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 pwhash_cv = PTHREAD_COND_INITIALIZER;
static struct pwhash_job	*pwhash_todo, *pwhash_done_list;
static int			 pwhash_pipe[2] = { -1, -1 };
static int			 pwhash_stopping, pwhash_started;

/* The worker: verify one job at a time, oldest first. */
static void *
pwhash_main(void *unused)
{
	struct pwhash_job	*j, **tail;
	char			 one = 1;

	(void)unused;
	for (;;) {
		pthread_mutex_lock(&pwhash_mu);
		while (pwhash_todo == NULL && !pwhash_stopping)
			pthread_cond_wait(&pwhash_cv, &pwhash_mu);
		if ((j = pwhash_todo) == NULL) {
			pthread_mutex_unlock(&pwhash_mu);
			return NULL;
		}
		pwhash_todo = j->next;
		pthread_mutex_unlock(&pwhash_mu);
		j->ok = crypto_pwhash_str_verify(j->stored, j->password->buf,
		    j->password->len) == 0;
		pthread_mutex_lock(&pwhash_mu);
		for (tail = &pwhash_done_list; *tail != NULL; tail = &(*tail)->next)
			;
		j->next = NULL;
		*tail = j;
		pthread_mutex_unlock(&pwhash_mu);
		if (write(pwhash_pipe[1], &one, 1) == -1 && errno != EAGAIN)
			fg_log_warn("pwhash: cannot wake the event loop: %s", strerror(errno));
	}
}

/* Start the worker; the read end of its pipe is for the event loop. */
int
pwhash_init(void)
{
	if (pipe2(pwhash_pipe, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	if (pthread_create(&pwhash_thread, NULL, pwhash_main, NULL) != 0) {
		close(pwhash_pipe[0]);
		close(pwhash_pipe[1]);
		pwhash_pipe[0] = pwhash_pipe[1] = -1;
		return -1;
	}
	pwhash_started = 1;
	return 0;
}

/* The fd that becomes readable when results are waiting. */
int
pwhash_fd(void)
{
	return pwhash_pipe[0];
}

/* Queue a check of password against stored; done(arg, ok) runs from pwhash_collect(). */
int
pwhash_verify(const char *stored, const char *password, pwhash_cb done, void *arg)
{
	struct pwhash_job *j, **tail;

	if (!pwhash_started || (j = calloc(1, sizeof(*j))) == NULL)
		return -1;
	snprintf(j->stored, sizeof(j->stored), "%s", stored);
	if ((j->password = seal_secret_from(password, strlen(password))) == NULL) {
		free(j);
		return -1;
	}
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&pwhash_mu);
	for (tail = &pwhash_todo; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = j;
	pthread_cond_signal(&pwhash_cv);
	pthread_mutex_unlock(&pwhash_mu);
	return 0;
}

/* Run the callbacks of finished checks (main thread). */
void
pwhash_collect(void)
{
	struct pwhash_job	*list, *j;
	char			 buf[64];

	while (read(pwhash_pipe[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&pwhash_mu);
	list = pwhash_done_list;
	pwhash_done_list = NULL;
	pthread_mutex_unlock(&pwhash_mu);
	while ((j = list) != NULL) {
		list = j->next;
		j->done(j->arg, j->ok);
		seal_secret_free(j->password);
		sodium_memzero(j, sizeof(*j));
		free(j);
	}
}

/* Stop the worker after the checks in hand, then deliver every result. */
void
pwhash_shutdown(void)
{
	if (!pwhash_started)
		return;
	pthread_mutex_lock(&pwhash_mu);
	pwhash_stopping = 1;
	pthread_cond_signal(&pwhash_cv);
	pthread_mutex_unlock(&pwhash_mu);
	pthread_join(pwhash_thread, NULL);
	pwhash_collect();
	close(pwhash_pipe[0]);
	close(pwhash_pipe[1]);
	pwhash_started = 0;
}
