/*
 * The audit writer: a thread of the daemon that commits the records the event loop appended,
 * in groups, so neither a commit's write nor its fsync (sync_full) holds up the loop.  The loop
 * hands over each turn's records (chained and hashed on SQLite; on PostgreSQL numbered from
 * the cluster's tail at commit, audit_sink_begin); the writer takes everything
 * handed over so far into one transaction and tells the loop, through a pipe it polls, up to
 * which record the chain is durable.  hold.c releases a reply only once the records it depends
 * on are, and refuses it if they were lost.
 *
 * A failed commit poisons the writer: every batch handed over before the loop has heard of the
 * failure chains onto the lost records, so it is dropped too, until the loop has gone back to
 * the last durable record and starts a new epoch.  The writer touches no daemon state; every
 * write the loop makes (audit_tx, the head, a single statement) takes writer_lock() first, as
 * it shares the one connection: db.c refuses a write without it while the writer runs.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

#define WRITER_ROWS_MAX	262144	/* records handed over and not yet durable, at most */

struct writer_batch {
	struct audit_row	*rows;
	int			 n;
	int64_t			 last_seq;
	uint8_t			 last_hash[AUDIT_HASHLEN];
	uint64_t		 epoch;
	int			 ok;
	struct writer_batch	*next;
};

static pthread_t		 writer_thread;
static pthread_mutex_t		 writer_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 writer_cv = PTHREAD_COND_INITIALIZER;	/* work, or idle */
static pthread_mutex_t		 writer_txn = PTHREAD_MUTEX_INITIALIZER;
static struct writer_batch	*writer_todo, **writer_todo_tail = &writer_todo;
static struct writer_batch	*writer_done, **writer_done_tail = &writer_done;
static long			 writer_rows;	/* handed over, not yet collected */
static int			 writer_busy, writer_stopping, writer_started;
static uint64_t			 writer_epoch;	/* the writer's; batches of others are dropped */
static int			 writer_poisoned;
static _Thread_local int	 writer_held;	/* this thread holds writer_txn, how deep */
static uint64_t			 writer_loop_epoch;	/* the loop's */
static int			 writer_pipe[2] = { -1, -1 };	/* a socket pair */
static struct audit_sink	 writer_sink;
static struct {
	uint64_t	commits, batches, rows, failures;
} writer_st;

/* Commit a group of batches in one transaction; 0 when durable. */
static int
writer_commit(struct writer_batch *b)
{
	int ok;

	writer_lock();
	ok = store_begin() == 0 && audit_sink_begin(&writer_sink) == 0;
	for (; ok && b != NULL; b = b->next)
		ok = audit_sink_insert(&writer_sink, b->rows, b->n) == 0;
	ok = ok && store_commit() == 0;
	if (!ok)
		store_rollback();
	writer_unlock();
	return ok ? 0 : -1;
}

/* The thread: take everything handed over, commit it as one group, report, again. */
static void *
writer_main(void *unused)
{
	struct writer_batch	*group, *b;
	char			 one = 1;
	int			 ok;

	(void)unused;
	for (;;) {
		pthread_mutex_lock(&writer_mu);
		while (writer_todo == NULL && !writer_stopping)
			pthread_cond_wait(&writer_cv, &writer_mu);
		if ((group = writer_todo) == NULL) {
			pthread_mutex_unlock(&writer_mu);
			return NULL;
		}
		writer_todo = NULL;
		writer_todo_tail = &writer_todo;
		writer_busy = 1;
		/* batches of an old epoch chain onto lost records: never written */
		ok = !writer_poisoned;
		for (b = group; b != NULL; b = b->next)
			ok = ok && b->epoch == writer_epoch;
		pthread_mutex_unlock(&writer_mu);
		if (ok)
			ok = writer_commit(group) == 0;
		pthread_mutex_lock(&writer_mu);
		if (!ok)
			writer_poisoned = 1;
		for (b = group; b != NULL; b = b->next)
			b->ok = ok;
		*writer_done_tail = group;
		for (; *writer_done_tail != NULL; writer_done_tail = &(*writer_done_tail)->next)
			;
		writer_busy = 0;
		writer_st.commits += ok;
		writer_st.failures += !ok;
		pthread_cond_broadcast(&writer_cv);
		pthread_mutex_unlock(&writer_mu);
		/* a socket, not a pipe: the wake-up is no disk write a full disk could fail */
		if (send(writer_pipe[1], &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == -1 &&
		    errno != EAGAIN)
			fg_log_warn("audit writer: cannot wake the event loop: %s", strerror(errno));
	}
}

/* Start the writer; the read end of its pipe is for the event loop. */
int
writer_init(void)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, writer_pipe) == -1)
		return -1;
	if (audit_sink_open(&writer_sink, 1) == -1)
		return -1;
	db_set_write_guard(writer_holding);	/* before the thread: it reads the guard */
	if (pthread_create(&writer_thread, NULL, writer_main, NULL) != 0)
		return -1;
	writer_started = 1;
	return 0;
}

int
writer_fd(void)
{
	return writer_pipe[0];
}

/*
 * Hand a turn's records over (the writer owns rows from now on); -1 when too many are waiting
 * to be written, and then the rows are freed and the caller treats them as lost.
 */
int
writer_submit(struct audit_row *rows, int n, int64_t last_seq,
    const uint8_t last_hash[AUDIT_HASHLEN])
{
	struct writer_batch *b;

	if (writer_rows + n > WRITER_ROWS_MAX || (b = calloc(1, sizeof(*b))) == NULL) {
		audit_rows_free(rows, n);
		return -1;
	}
	b->rows = rows;
	b->n = n;
	b->last_seq = last_seq;
	memcpy(b->last_hash, last_hash, AUDIT_HASHLEN);
	b->epoch = writer_loop_epoch;
	pthread_mutex_lock(&writer_mu);
	*writer_todo_tail = b;
	writer_todo_tail = &b->next;
	writer_rows += n;
	writer_st.batches++;
	writer_st.rows += n;
	pthread_cond_broadcast(&writer_cv);
	pthread_mutex_unlock(&writer_mu);
	return 0;
}

/*
 * Take the writer's reports: the durable head moves on; a failure of this epoch makes the
 * loop forget every record not durable yet and start a new epoch.  Returns -1 when a failure
 * was taken.  The wake-ups are read only when poll saw them (woken), and until a short read:
 * one that comes later wakes the next poll, so none is lost and no read finds nothing.
 */
int
writer_collect(int woken)
{
	struct writer_batch	*done, *b, *next;
	char			 buf[64];
	int			 rc = 0;

	while (woken && recv(writer_pipe[0], buf, sizeof(buf), MSG_DONTWAIT) == sizeof(buf))
		;
	pthread_mutex_lock(&writer_mu);
	done = writer_done;
	writer_done = NULL;
	writer_done_tail = &writer_done;
	pthread_mutex_unlock(&writer_mu);
	for (b = done; b != NULL; b = next) {
		next = b->next;
		writer_rows -= b->n;
		if (b->epoch == writer_loop_epoch) {
			if (b->ok)
				audit_durable(b->last_seq, b->last_hash);
			else {
				audit_lost_all();
				writer_loop_epoch++;
				pthread_mutex_lock(&writer_mu);
				writer_epoch = writer_loop_epoch;
				writer_poisoned = 0;
				pthread_mutex_unlock(&writer_mu);
				rc = -1;
			}
		}
		audit_rows_free(b->rows, b->n);
		free(b);
	}
	return rc;
}

/* Wait until everything handed over is written (or failed), then collect; -1 on a failure. */
int
writer_drain(void)
{
	pthread_mutex_lock(&writer_mu);
	while (writer_todo != NULL || writer_busy)
		pthread_cond_wait(&writer_cv, &writer_mu);
	pthread_mutex_unlock(&writer_mu);
	return writer_collect(1);
}

/* True when the writer has nothing to write: slow work on the loop may use the database. */
int
writer_idle(void)
{
	int idle;

	pthread_mutex_lock(&writer_mu);
	idle = writer_todo == NULL && !writer_busy;
	pthread_mutex_unlock(&writer_mu);
	return idle;
}

/*
 * Keep the writer out of the database while the loop writes (a transaction or a statement);
 * nested calls only count, so a statement's helper may lock inside audit_tx's transaction.
 */
void
writer_lock(void)
{
	if (writer_held++ == 0)
		pthread_mutex_lock(&writer_txn);
}

void
writer_unlock(void)
{
	if (--writer_held == 0)
		pthread_mutex_unlock(&writer_txn);
}

/* db.c's write guard: whether the calling thread holds writer_lock(). */
int
writer_holding(void)
{
	return writer_held;
}

/* Counters for /metrics. */
json_t *
writer_stats(void)
{
	json_t *o;

	pthread_mutex_lock(&writer_mu);
	o = json_pack("{sIsIsIsIsI}", "audit_commits", (json_int_t)writer_st.commits,
	    "audit_batches", (json_int_t)writer_st.batches, "audit_rows_written",
	    (json_int_t)writer_st.rows, "audit_commit_failures", (json_int_t)writer_st.failures,
	    "audit_rows_waiting", (json_int_t)writer_rows);
	pthread_mutex_unlock(&writer_mu);
	return o;
}

/* Write what is left, stop the thread. */
void
writer_shutdown(void)
{
	if (!writer_started)
		return;
	writer_drain();
	pthread_mutex_lock(&writer_mu);
	writer_stopping = 1;
	pthread_cond_broadcast(&writer_cv);
	pthread_mutex_unlock(&writer_mu);
	pthread_join(writer_thread, NULL);
	writer_started = 0;
	db_set_write_guard(NULL);
	audit_sink_close(&writer_sink);
	close(writer_pipe[0]);
	close(writer_pipe[1]);
	writer_pipe[0] = writer_pipe[1] = -1;
}
