/*
 * The loop: the one thread that owns the core's state.
 *
 * Each turn it takes the API requests the server threads queued and the
 * jobs the workers finished, acts on them, starts due monitorings, runs a
 * scheduler cycle when something changed, enforces deadlines, and then
 * writes every change of the turn in one transaction.  Replies to requests
 * that changed something are sent only after that commit.  Signals arrive
 * through a signalfd: SIGTERM and SIGINT stop, SIGHUP reloads.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "template.h"
#include "util.h"
#include "vmlog.h"

void
cld_vm_touch(struct cld_core *c, struct cld_vm *vm)
{
	cld_vm_json_invalidate(vm);
	if (vm->dirty)
		return;
	vm->dirty = 1;
	vm->dirty_next = c->dirty_vms;
	c->dirty_vms = vm;
}

void
cld_host_touch(struct cld_core *c, struct cld_host *h)
{
	if (h->dirty)
		return;
	h->dirty = 1;
	h->dirty_next = c->dirty_hosts;
	c->dirty_hosts = h;
}

void
cld_cluster_touch(struct cld_core *c, struct cld_cluster *cl)
{
	if (cl->dirty)
		return;
	cl->dirty = 1;
	cl->dirty_next = c->dirty_clusters;
	c->dirty_clusters = cl;
}

/* Forget OBJ's pending write (it is being deleted) and queue the delete. */
void
cld_core_del(struct cld_core *c, int table, int64_t id)
{
	if (table == CLD_T_HOSTS) {
		for (struct cld_host **p = &c->dirty_hosts; *p;
		    p = &(*p)->dirty_next)
			if ((*p)->id == id) {
				*p = (*p)->dirty_next;
				break;
			}
	} else if (table == CLD_T_CLUSTERS) {
		for (struct cld_cluster **p = &c->dirty_clusters; *p;
		    p = &(*p)->dirty_next)
			if ((*p)->id == id) {
				*p = (*p)->dirty_next;
				break;
			}
	}
	if (c->ndels == c->dels_cap) {
		c->dels_cap = c->dels_cap ? c->dels_cap * 2 : 16;
		c->dels = cld_xrealloc(c->dels, c->dels_cap * sizeof(*c->dels));
	}
	c->dels[c->ndels].table = table;
	c->dels[c->ndels].id = id;
	c->ndels++;
}

static void
wake(struct cld_core *c)
{
	uint64_t one = 1;

	if (write(c->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, the loop will wake anyway. */
	}
}

void
cld_core_submit(struct cld_core *c, struct cld_job *j)
{
	if (c->ninflight == c->inflight_cap) {
		c->inflight_cap = c->inflight_cap ? c->inflight_cap * 2 : 256;
		c->inflight = cld_xrealloc(c->inflight,
		    c->inflight_cap * sizeof(*c->inflight));
	}
	j->slot = c->ninflight;
	c->inflight[c->ninflight++] = j;
	j->next = NULL;
	if (c->held_tail == NULL)
		c->held_tail = &c->held;
	*c->held_tail = j;
	c->held_tail = &j->next;
}

/*
 * Hand the jobs of the turn to the workers, once what they act on is in
 * the store: a crash before that commit loses the request (unanswered)
 * and its step together; after it, the step runs again at the next start.
 */
static void
release_held(struct cld_core *c)
{
	struct cld_job *j = c->held;

	while (j != NULL) {
		struct cld_job *next = j->next;

		cld_workers_submit(c->workers, j);
		j = next;
	}
	c->held = NULL;
	c->held_tail = &c->held;
}

static void
inflight_remove(struct cld_core *c, struct cld_job *j)
{
	struct cld_job *last = c->inflight[--c->ninflight];

	c->inflight[j->slot] = last;
	last->slot = j->slot;
}

/* Called by the API's threads: queue the request and wake the loop. */
void
cld_core_api_handler(void *ctx, struct cld_api_req *req)
{
	struct cld_core *c = ctx;
	struct cld_request *r;
	int done;

	if (strcmp(req->method, "GET") == 0) {
		/*
		 * Reads of what is in memory are answered here, on the API's
		 * thread, under the read lock: no trip through the loop.
		 */
		pthread_rwlock_rdlock(&c->state_lock);
		done = cld_handle_read(c, req);
		pthread_rwlock_unlock(&c->state_lock);
		if (done) {
			cld_api_reply(req);
			return;
		}
	}
	r = cld_xcalloc(1, sizeof(*r));
	r->req = req;
	pthread_mutex_lock(&c->req_lock);
	if (c->api_closing) {
		/* The loop no longer takes requests: cld_api_stop waits. */
		pthread_mutex_unlock(&c->req_lock);
		free(r);
		req->status = 503;
		req->reply = cld_api_error_body("unavailable",
		    "cloudd is stopping");
		req->reply_len = strlen(req->reply);
		cld_api_reply(req);
		return;
	}
	*c->reqs_tail = r;
	c->reqs_tail = &r->next;
	pthread_mutex_unlock(&c->req_lock);
	wake(c);
}

static void
take_requests(struct cld_core *c)
{
	struct cld_request *list;

	pthread_mutex_lock(&c->req_lock);
	list = c->reqs;
	c->reqs = NULL;
	c->reqs_tail = &c->reqs;
	pthread_mutex_unlock(&c->req_lock);
	while (list != NULL) {
		struct cld_request *r = list;

		list = r->next;
		r->next = NULL;
		if (c->stopping) {
			r->req->status = 503;
			r->req->reply = cld_api_error_body("unavailable",
			    "cloudd is stopping");
			r->req->reply_len = strlen(r->req->reply);
			cld_api_reply(r->req);
			free(r);
			continue;
		}
		cld_handle(c, r);
		if (r->mutating) {
			*c->replies_tail = r;
			c->replies_tail = &r->next;
		} else {
			cld_api_reply(r->req);
			free(r);
		}
	}
}

static void
send_replies(struct cld_core *c)
{
	while (c->replies != NULL) {
		struct cld_request *r = c->replies;

		c->replies = r->next;
		cld_api_reply(r->req);
		free(r);
	}
	c->replies_tail = &c->replies;
}

static void
take_done(struct cld_core *c)
{
	struct cld_job *j = cld_workers_take_done(c->workers);

	while (j != NULL) {
		struct cld_job *next = j->next;

		inflight_remove(c, j);
		j->done(c, j);
		j = next;
	}
}

/* Cancel what passed its deadline; returns the next deadline. */
static int64_t
check_deadlines(struct cld_core *c, int64_t now)
{
	int64_t next = INT64_MAX;

	for (size_t i = 0; i < c->ninflight; i++) {
		struct cld_job *j = c->inflight[i];

		if (j->timed_out || j->deadline_ms <= 0)
			continue;
		if (j->deadline_ms <= now) {
			j->timed_out = 1;
			cld_op_cancel(&j->ctl);
			if (j->timeout != NULL)
				j->timeout(c, j);
		} else if (j->deadline_ms < next)
			next = j->deadline_ms;
	}
	return next;
}

static void
schedule(struct cld_core *c, int64_t now)
{
	if (cld_sched_pending(c->sched) == 0) {
		c->sched_dirty = 0;
		return;
	}
	if (!c->sched_dirty && now < c->next_sched_ms)
		return;
	cld_sched_run(c->sched, &c->limits, cld_vm_placed, c);
	c->sched_dirty = 0;
	c->next_sched_ms = now + c->sched_interval_ms;
}

static int
make_signalfd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void
handle_signals(struct cld_core *c, int fd)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: reloading '%s'", c->conf->path);
			pthread_rwlock_wrlock(&c->state_lock);
			cld_core_reload(c);
			pthread_rwlock_unlock(&c->state_lock);
		} else {
			log_info("%s: stopping", strsignal((int)si.ssi_signo));
			c->stopping = 1;
		}
	}
}

/*
 * Run until SIGTERM.  The caller has loaded the store into C and blocked
 * the signals (before any thread started).  Returns 0, or 1 if the API
 * could not start.
 */
int
cld_core_run(struct cld_core *c)
{
	struct cld_err err;
	int sigfd, rc = 0;
	int64_t commit_retry_ms = 0;

	cld_err_clear(&err);
	sigfd = make_signalfd();
	if (sigfd < 0)
		fatal("signalfd");
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->wake_fd < 0)
		fatal("eventfd");
	pthread_mutex_init(&c->req_lock, NULL);
	pthread_mutex_init(&c->json_lock, NULL);
	{
		pthread_rwlockattr_t a;

		/* The loop must not wait behind a stream of readers. */
		pthread_rwlockattr_init(&a);
		pthread_rwlockattr_setkind_np(&a,
		    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&c->state_lock, &a);
		pthread_rwlockattr_destroy(&a);
	}
	c->reqs_tail = &c->reqs;
	c->replies_tail = &c->replies;
	c->workers = cld_workers_new((unsigned int)c->conf->workers, c->wake_fd);
	cld_vmlog_start(c->log_dir);

	cld_vm_resume_all(c);
	c->api = cld_api_start(c->conf->listen, (unsigned int)c->conf->api_threads,
	    cld_core_api_handler, c, &err);
	if (c->api == NULL) {
		log_warnx("%s", err.msg);
		rc = 1;
		c->stopping = 1;
	} else
		log_info("listening on '%s'", c->conf->listen);
	if (c->ready_fd >= 0) {
		/* Tell the parent that started us that we are serving. */
		char ok = rc == 0 ? 'y' : 'n';

		if (write(c->ready_fd, &ok, 1) < 0)
			log_warn("cannot tell the parent process we are ready");
		close(c->ready_fd);
		c->ready_fd = -1;
	}

	while (!c->stopping || c->replies != NULL) {
		struct pollfd pfd[2];
		int64_t now = cld_now_ms(), next, t;
		uint64_t n;

		pthread_rwlock_wrlock(&c->state_lock);
		take_requests(c);
		take_done(c);
		next = check_deadlines(c, now);
		if (!c->stopping) {
			cld_hosts_monitor(c, now);
			schedule(c, now);
		}
		if (now >= commit_retry_ms) {
			if (cld_core_commit(c, &err) < 0) {
				log_warnx("cannot write the store, retrying in 1 s: %s",
				    err.msg);
				commit_retry_ms = now + 1000;
			} else {
				release_held(c);
				send_replies(c);
			}
		}
		pthread_rwlock_unlock(&c->state_lock);
		if (c->stopping && c->replies == NULL)
			break;

		t = cld_hosts_next_monitor(c);
		if (t < next)
			next = t;
		if (cld_sched_pending(c->sched) > 0 && c->next_sched_ms < next)
			next = c->next_sched_ms;
		if (commit_retry_ms > now && commit_retry_ms < next)
			next = commit_retry_ms;
		now = cld_now_ms();
		t = next == INT64_MAX ? 60000 : next - now;
		if (t < 0)
			t = 0;
		if (t > 60000)
			t = 60000;
		pfd[0].fd = c->wake_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = sigfd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, (int)t) < 0 && errno != EINTR)
			fatal("poll");
		if (pfd[0].revents & POLLIN) {
			if (read(c->wake_fd, &n, sizeof(n)) < 0) {
				/* EAGAIN: another read took it. */
			}
		}
		if (pfd[1].revents & POLLIN)
			handle_signals(c, sigfd);
	}

	/*
	 * Stop: no new requests; cancel what runs (each interrupted step runs
	 * again at the next start), wait for the workers, write what is left.
	 */
	pthread_mutex_lock(&c->req_lock);
	c->api_closing = 1;
	pthread_mutex_unlock(&c->req_lock);
	pthread_rwlock_wrlock(&c->state_lock);
	take_requests(c);
	pthread_rwlock_unlock(&c->state_lock);
	/* Readers may still finish their GETs: not under the write lock. */
	cld_api_stop(c->api);
	c->api = NULL;
	if (cld_core_commit(c, &err) < 0)
		log_warnx("cannot write the store at exit: %s", err.msg);
	/*
	 * Nothing is written after this point: the steps in flight are
	 * stored as not done and run again at the next start (drivers are
	 * idempotent), so their cancelled results are dropped.
	 */
	for (size_t i = 0; i < c->ninflight; i++)
		cld_op_cancel(&c->inflight[i]->ctl);
	release_held(c);        /* cancelled: the workers do not start them */
	cld_workers_join(c->workers);
	c->discard = 1;
	take_done(c);
	cld_workers_free(c->workers);
	c->workers = NULL;
	cld_vmlog_stop();
	close(sigfd);
	close(c->wake_fd);
	pthread_mutex_destroy(&c->req_lock);
	pthread_mutex_destroy(&c->json_lock);
	pthread_rwlock_destroy(&c->state_lock);
	return rc;
}
