/*
 * The VMs' own log files, written by one thread of their own.
 *
 * Each VM has a log file (LOG_DIR/<id>.log, "cloudctl vm log").  Creating
 * and appending to 100,000 small files costs the file system far more than
 * anything else a lease does, so the loop only queues the lines and this
 * thread writes them, keeping the last file open while lines for the same
 * VM follow one another.
 */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "vmlog.h"

struct line {
	struct line *next;
	int64_t id;
	size_t len;
	char text[];
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond, drained;
	struct line *head, **tail;
	int running, stopping, busy;
	char *dir;
	pthread_t thread;
} q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, 0, NULL, 0 };

static void
write_batch(struct line *l)
{
	int64_t open_id = -1;
	int fd = -1;

	while (l != NULL) {
		struct line *next = l->next;

		if (l->id != open_id) {
			char path[4096];

			if (fd >= 0)
				close(fd);
			snprintf(path, sizeof(path), "%s/%" PRId64 ".log", q.dir,
			    l->id);
			fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			    0640);
			if (fd < 0)
				log_warn("cannot open the log of VM %" PRId64 " '%s'",
				    l->id, path);
			open_id = l->id;
		}
		if (fd >= 0 && write(fd, l->text, l->len) != (ssize_t)l->len)
			log_warn("cannot write the log of VM %" PRId64, l->id);
		free(l);
		l = next;
	}
	if (fd >= 0)
		close(fd);
}

static void *
writer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&q.lock);
	for (;;) {
		struct line *batch;

		while (q.head == NULL && !q.stopping)
			pthread_cond_wait(&q.cond, &q.lock);
		if (q.head == NULL)
			break;
		batch = q.head;
		q.head = NULL;
		q.tail = &q.head;
		q.busy = 1;
		pthread_mutex_unlock(&q.lock);
		write_batch(batch);
		pthread_mutex_lock(&q.lock);
		q.busy = 0;
		if (q.head == NULL)
			pthread_cond_broadcast(&q.drained);
	}
	pthread_mutex_unlock(&q.lock);
	return NULL;
}

void
cld_vmlog_start(const char *dir)
{
	int e;

	q.dir = cld_xstrdup(dir);
	q.tail = &q.head;
	q.stopping = 0;
	if ((e = pthread_create(&q.thread, NULL, writer, NULL)) != 0)
		fatalx("cannot start the log writer: %s", strerror(e));
	q.running = 1;
}

void
cld_vmlog_write(const char *dir, int64_t id, const char *text, size_t len)
{
	struct line *l;

	if (!q.running) {
		/* No writer (start-up, tests): write it now. */
		char *saved = q.dir;

		l = cld_xmalloc(sizeof(*l) + len);
		l->next = NULL;
		l->id = id;
		l->len = len;
		memcpy(l->text, text, len);
		q.dir = (char *)dir;
		write_batch(l);
		q.dir = saved;
		return;
	}
	l = cld_xmalloc(sizeof(*l) + len);
	l->next = NULL;
	l->id = id;
	l->len = len;
	memcpy(l->text, text, len);
	pthread_mutex_lock(&q.lock);
	*q.tail = l;
	q.tail = &l->next;
	pthread_cond_signal(&q.cond);
	pthread_mutex_unlock(&q.lock);
}

void
cld_vmlog_flush(void)
{
	if (!q.running)
		return;
	pthread_mutex_lock(&q.lock);
	while (q.head != NULL || q.busy)
		pthread_cond_wait(&q.drained, &q.lock);
	pthread_mutex_unlock(&q.lock);
}

void
cld_vmlog_stop(void)
{
	if (!q.running)
		return;
	pthread_mutex_lock(&q.lock);
	q.stopping = 1;
	pthread_cond_signal(&q.cond);
	pthread_mutex_unlock(&q.lock);
	pthread_join(q.thread, NULL);
	q.running = 0;
	free(q.dir);
	q.dir = NULL;
}
