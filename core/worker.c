/*
 * The worker pool: threads that run driver operations (struct cld_job's
 * run) and hand the finished jobs back to the loop, waking it through an
 * eventfd.  The loop never blocks on a driver.
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "util.h"

struct cld_workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct cld_job *queue, **queue_tail;
	struct cld_job *done, **done_tail;
	int stopping;
	int wake_fd;
	unsigned int n;
	pthread_t *threads;
};

static void
wake(int fd)
{
	uint64_t one = 1;

	/* A full eventfd counter still wakes the loop: ignore EAGAIN. */
	if (write(fd, &one, sizeof(one)) < 0) {
	}
}

static void *
worker_main(void *arg)
{
	struct cld_workers *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct cld_job *j;
		int was_empty;

		while (w->queue == NULL && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->queue == NULL)
			break;
		j = w->queue;
		w->queue = j->next;
		if (w->queue == NULL)
			w->queue_tail = &w->queue;
		pthread_mutex_unlock(&w->lock);

		j->next = NULL;
		if (atomic_load(&j->ctl.cancelled)) {
			/* Cancelled while it waited: never start it. */
			j->rc = -1;
			cld_err_set(&j->err, CLD_ECANCELED,
			    "cancelled before it started");
		} else
			j->run(j);

		pthread_mutex_lock(&w->lock);
		was_empty = w->done == NULL;
		*w->done_tail = j;
		w->done_tail = &j->next;
		/* One wake-up per batch: the loop takes every finished job. */
		if (was_empty)
			wake(w->wake_fd);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct cld_workers *
cld_workers_new(unsigned int n, int wake_fd)
{
	struct cld_workers *w = cld_xcalloc(1, sizeof(*w));

	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->queue_tail = &w->queue;
	w->done_tail = &w->done;
	w->wake_fd = wake_fd;
	w->n = n == 0 ? 1 : n;
	w->threads = cld_xcalloc(w->n, sizeof(*w->threads));
	for (unsigned int i = 0; i < w->n; i++) {
		int e = pthread_create(&w->threads[i], NULL, worker_main, w);

		if (e != 0)
			fatalx("cannot start worker thread: %s", strerror(e));
	}
	return w;
}

void
cld_workers_submit(struct cld_workers *w, struct cld_job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&w->lock);
	*w->queue_tail = j;
	w->queue_tail = &j->next;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

struct cld_job *
cld_workers_take_done(struct cld_workers *w)
{
	struct cld_job *list;

	pthread_mutex_lock(&w->lock);
	list = w->done;
	w->done = NULL;
	w->done_tail = &w->done;
	pthread_mutex_unlock(&w->lock);
	return list;
}

void
cld_workers_join(struct cld_workers *w)
{
	if (w == NULL || w->threads == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = 1;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (unsigned int i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	free(w->threads);
	w->threads = NULL;
}

void
cld_workers_free(struct cld_workers *w)
{
	if (w == NULL)
		return;
	cld_workers_join(w);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}
