/*
 * Password work off the event loop.  An Argon2id verification or hash takes tens of
 * milliseconds; done inline, every login (even a wrong one, from anyone) would stall token
 * issuance for that long.  One worker thread does the hashing and nothing else: it touches no
 * database, socket or daemon state, and hands results back through a pipe the event loop
 * polls, so every callback runs on the main thread.
 *
 * The queue is bounded: at most PWHASH_JOBS_MAX jobs wait, run or wait to be collected.  Past
 * that the caller is told at once (pwhash_full) instead of queueing: a flood of logins would
 * otherwise hold memory and make every real login wait behind it for minutes.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"

#define PWHASH_JOBS_MAX		32	/* about two seconds of Argon2id on one thread */
#define PWHASH_NICE		10

struct pwhash_job {
	char			 stored[crypto_pwhash_STRBYTES];
	char			 hash[crypto_pwhash_STRBYTES];
	struct fg_secret	*check;		/* verified against stored, if not NULL */
	struct fg_secret	*fresh;		/* hashed when the check passes, if not NULL */
	int			 ok, hashed;
	pwhash_cb		 done;
	void			*arg;
	TAILQ_ENTRY(pwhash_job)	 entry;
};
TAILQ_HEAD(pwhash_list, pwhash_job);

static pthread_t		 pwhash_thread;
static pthread_mutex_t		 pwhash_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 pwhash_cv = PTHREAD_COND_INITIALIZER;
static struct pwhash_list	 pwhash_todo = TAILQ_HEAD_INITIALIZER(pwhash_todo);
static struct pwhash_list	 pwhash_done = TAILQ_HEAD_INITIALIZER(pwhash_done);
static int			 pwhash_pipe[2] = { -1, -1 };
static int			 pwhash_stopping, pwhash_started;
static size_t			 pwhash_njobs;	/* from submit to collect; main thread only */

/* Do one job's work: the check first, then the hash if the check passed. */
static void
pwhash_run(struct pwhash_job *j)
{
	j->ok = j->check == NULL || crypto_pwhash_str_verify(j->stored, j->check->buf,
	    j->check->len) == 0;
	if (j->ok && j->fresh != NULL)
		j->hashed = crypto_pwhash_str(j->hash, j->fresh->buf, j->fresh->len,
		    crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0;
}

/* The worker: one job at a time, oldest first. */
static void *
pwhash_main(void *unused)
{
	struct pwhash_job	*j;
	char			 one = 1;

	(void)unused;
	/* password checks yield the CPU to the token path (Linux: nice is per thread) */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), PWHASH_NICE) == -1)
		fg_log_warn("pwhash: cannot lower the thread's priority: %s", strerror(errno));
	for (;;) {
		pthread_mutex_lock(&pwhash_mu);
		while (TAILQ_EMPTY(&pwhash_todo) && !pwhash_stopping)
			pthread_cond_wait(&pwhash_cv, &pwhash_mu);
		if ((j = TAILQ_FIRST(&pwhash_todo)) == NULL) {
			pthread_mutex_unlock(&pwhash_mu);
			return NULL;
		}
		TAILQ_REMOVE(&pwhash_todo, j, entry);
		pthread_mutex_unlock(&pwhash_mu);
		pwhash_run(j);
		pthread_mutex_lock(&pwhash_mu);
		TAILQ_INSERT_TAIL(&pwhash_done, j, entry);
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

/* True when no more jobs may be queued now; callers refuse at once then. */
int
pwhash_full(void)
{
	return pwhash_njobs >= PWHASH_JOBS_MAX;
}

/* Free a job, its secrets and its hash. */
static void
pwhash_free(struct pwhash_job *j)
{
	seal_secret_free(j->check);
	seal_secret_free(j->fresh);
	sodium_memzero(j, sizeof(*j));
	free(j);
}

/*
 * Queue a job: check password against stored (both NULL: no check), then, if it passed, hash
 * fresh (NULL: no hash).  done(arg, ok, hash) runs from pwhash_collect() with ok = the check
 * passed and hash = the new hash (NULL when none was asked or hashing failed).  Returns -1,
 * and done is never called, when the queue is full or memory ran out.
 */
int
pwhash_submit(const char *stored, const char *password, const char *fresh, pwhash_cb done,
    void *arg)
{
	struct pwhash_job *j;

	if (!pwhash_started || pwhash_full() || (j = calloc(1, sizeof(*j))) == NULL)
		return -1;
	if (stored != NULL)
		snprintf(j->stored, sizeof(j->stored), "%s", stored);
	if ((stored != NULL && (j->check = seal_secret_from(password, strlen(password))) == NULL) ||
	    (fresh != NULL && (j->fresh = seal_secret_from(fresh, strlen(fresh))) == NULL)) {
		pwhash_free(j);
		return -1;
	}
	j->done = done;
	j->arg = arg;
	pwhash_njobs++;
	pthread_mutex_lock(&pwhash_mu);
	TAILQ_INSERT_TAIL(&pwhash_todo, j, entry);
	pthread_cond_signal(&pwhash_cv);
	pthread_mutex_unlock(&pwhash_mu);
	return 0;
}

/* Run the callbacks of finished jobs (main thread). */
void
pwhash_collect(void)
{
	struct pwhash_list	 list = TAILQ_HEAD_INITIALIZER(list);
	struct pwhash_job	*j;
	char			 buf[64];

	while (read(pwhash_pipe[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&pwhash_mu);
	TAILQ_CONCAT(&list, &pwhash_done, entry);
	pthread_mutex_unlock(&pwhash_mu);
	while ((j = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, j, entry);
		pwhash_njobs--;
		j->done(j->arg, j->ok, j->hashed ? j->hash : NULL);
		pwhash_free(j);
	}
}

/* Stop the worker after the jobs in hand, then deliver every result. */
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
