/*
 * Hosts and clusters: creation, state, capacity, and monitoring through
 * each host's im driver.
 *
 * A host is monitored every MONITOR_INTERVAL, one monitoring at a time per
 * host, on a worker: a hung host delays nobody else.  A failed monitoring
 * puts the host in ERROR and its running VMs in UNKNOWN; the next good one
 * brings them back.  Two capacity views are kept: measured (the report's
 * TOTALCPU/USEDCPU/TOTALMEMORY/FREEMEMORY) and allocated (what its VMs
 * reserve), which is what the scheduler admits on.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "log.h"
#include "template.h"
#include "util.h"

static const struct {
	const char *name, *sname;
} host_states[CLD_HOST_NSTATES] = {
	{ "INIT", "init" }, { "MONITORED", "on" }, { "ERROR", "err" },
	{ "DISABLED", "off" }, { "OFFLINE", "offl" },
};

const char *
cld_host_state_name(int s)
{
	return s >= 0 && s < CLD_HOST_NSTATES ? host_states[s].name : "?";
}

const char *
cld_host_state_short(int s)
{
	return s >= 0 && s < CLD_HOST_NSTATES ? host_states[s].sname : "?";
}

/* An id ("7") or a name. */
static int
parse_ref(const char *s, int64_t *id)
{
	return cld_parse_i64(s, id) == 0 && *id >= 0 ? 0 : -1;
}

struct cld_host *
cld_host_by_id(struct cld_core *c, int64_t id)
{
	return id >= 0 && (size_t)id < c->hosts_cap ? c->hosts[id] : NULL;
}

struct cld_host *
cld_host_find(struct cld_core *c, const char *ref)
{
	int64_t id;

	if (parse_ref(ref, &id) == 0)
		return cld_host_by_id(c, id);
	for (size_t i = 0; i < c->hosts_cap; i++)
		if (c->hosts[i] != NULL && strcmp(c->hosts[i]->name, ref) == 0)
			return c->hosts[i];
	return NULL;
}

struct cld_cluster *
cld_cluster_by_id(struct cld_core *c, int64_t id)
{
	return id >= 0 && (size_t)id < c->clusters_cap ? c->clusters[id] : NULL;
}

struct cld_cluster *
cld_cluster_find(struct cld_core *c, const char *ref)
{
	int64_t id;

	if (parse_ref(ref, &id) == 0)
		return cld_cluster_by_id(c, id);
	for (size_t i = 0; i < c->clusters_cap; i++)
		if (c->clusters[i] != NULL &&
		    strcmp(c->clusters[i]->name, ref) == 0)
			return c->clusters[i];
	return NULL;
}

struct cld_cluster *
cld_host_cluster(struct cld_core *c, const struct cld_host *h)
{
	return cld_cluster_by_id(c, h->cluster_id);
}

/* Grow an id-indexed array so that ID fits. */
static void
grow(void ***arr, size_t *cap, int64_t id)
{
	size_t n = *cap ? *cap : 64;

	if ((size_t)id < *cap)
		return;
	while (n <= (size_t)id)
		n *= 2;
	*arr = cld_xrealloc(*arr, n * sizeof(void *));
	memset(*arr + *cap, 0, (n - *cap) * sizeof(void *));
	*cap = n;
}

void cld_host_insert(struct cld_core *c, struct cld_host *h);
void
cld_host_insert(struct cld_core *c, struct cld_host *h)
{
	grow((void ***)&c->hosts, &c->hosts_cap, h->id);
	c->hosts[h->id] = h;
	if (h->id >= c->next_host_id)
		c->next_host_id = h->id + 1;
}

void cld_cluster_insert(struct cld_core *c, struct cld_cluster *cl);
void
cld_cluster_insert(struct cld_core *c, struct cld_cluster *cl)
{
	grow((void ***)&c->clusters, &c->clusters_cap, cl->id);
	c->clusters[cl->id] = cl;
	if (cl->id >= c->next_cluster_id)
		c->next_cluster_id = cl->id + 1;
}

void
cld_host_free(struct cld_host *h)
{
	if (h == NULL)
		return;
	free(h->name);
	free(h->im);
	free(h->vmm);
	free(h->error);
	cld_tmpl_release(&h->attrs);
	free(h);
}

void
cld_cluster_free(struct cld_cluster *cl)
{
	if (cl == NULL)
		return;
	free(cl->name);
	free(cl->tm);
	free(cl->net);
	free(cl);
}

/* Find the host's driver instances; an unknown one is an error. */
int
cld_host_bind(struct cld_core *c, struct cld_host *h, struct cld_err *err)
{
	h->imd = cld_loader_find(c->loader, CLD_CLASS_IM, h->im);
	h->vmmd = cld_loader_find(c->loader, CLD_CLASS_VMM, h->vmm);
	if (h->imd == NULL) {
		cld_err_set(err, CLD_ENOENT, "no im driver '%s' is loaded (see cloudd -n)",
		    h->im);
		return -1;
	}
	if (h->vmmd == NULL) {
		cld_err_set(err, CLD_ENOENT, "no vmm driver '%s' is loaded (see cloudd -n)",
		    h->vmm);
		return -1;
	}
	return 0;
}

int
cld_cluster_bind(struct cld_core *c, struct cld_cluster *cl,
    struct cld_err *err)
{
	cl->tmd = cl->tm[0] ? cld_loader_find(c->loader, CLD_CLASS_TM, cl->tm) :
	    NULL;
	cl->netd = cl->net[0] ? cld_loader_find(c->loader, CLD_CLASS_NET,
	    cl->net) : NULL;
	if (cl->tm[0] && cl->tmd == NULL) {
		cld_err_set(err, CLD_ENOENT, "no tm driver '%s' is loaded (see cloudd -n)",
		    cl->tm);
		return -1;
	}
	if (cl->net[0] && cl->netd == NULL) {
		cld_err_set(err, CLD_ENOENT, "no net driver '%s' is loaded (see cloudd -n)",
		    cl->net);
		return -1;
	}
	return 0;
}

static int
name_ok(const char *what, const char *name, struct cld_err *err)
{
	int64_t id;

	if (name == NULL || !cld_host_name_valid(name) ||
	    cld_parse_i64(name, &id) == 0) {
		cld_err_set(err, CLD_EINVAL,
		    "invalid %s name '%s': letters, digits, '.', '-' and '_', not all digits",
		    what, name ? name : "");
		return -1;
	}
	return 0;
}

void
cld_host_sched_update(struct cld_core *c, struct cld_host *h)
{
	struct cld_cluster *cl = cld_host_cluster(c, h);
	struct cld_sched_host sh;

	memset(&sh, 0, sizeof(sh));
	sh.id = h->id;
	sh.name = h->name;
	sh.cluster = cl ? cl->name : "";
	sh.cluster_id = h->cluster_id;
	sh.enabled = h->state == CLD_HOST_MONITORED;
	sh.cpu_total = h->tcpu;
	sh.cpu_alloc = h->cpu_alloc;
	sh.mem_total = h->tmem;
	sh.mem_alloc = h->mem_alloc;
	sh.rvm = h->rvm;
	sh.max_vms = h->max_vms;
	sh.attrs = &h->attrs;
	cld_sched_host_set(c->sched, &sh);
	c->sched_dirty = 1;
}

void
cld_host_alloc(struct cld_core *c, struct cld_host *h, struct cld_vm *vm,
    int sign)
{
	h->cpu_alloc += sign * vm->cpu * 100;
	if (sign > 0)
		h->mem_alloc += vm->memory_mb * 1024;
	else
		h->mem_alloc -= vm->memory_mb * 1024;
	h->rvm += sign;
	if (h->cpu_alloc < 1e-9)
		h->cpu_alloc = 0;
	cld_host_sched_update(c, h);
	cld_host_touch(c, h);
}

struct cld_host *
cld_host_create(struct cld_core *c, const char *name, const char *im,
    const char *vmm, struct cld_cluster *cl, int max_vms, struct cld_err *err)
{
	struct cld_host *h;

	if (name_ok("host", name, err) < 0)
		return NULL;
	if (cld_host_find(c, name) != NULL) {
		cld_err_set(err, CLD_EEXIST, "a host named '%s' exists", name);
		return NULL;
	}
	h = cld_xcalloc(1, sizeof(*h));
	h->name = cld_xstrdup(name);
	h->im = cld_xstrdup(im);
	h->vmm = cld_xstrdup(vmm);
	if (cld_host_bind(c, h, err) < 0) {
		cld_host_free(h);
		return NULL;
	}
	h->id = c->next_host_id;
	h->cluster_id = cl ? cl->id : 0;
	h->max_vms = max_vms;
	h->state = CLD_HOST_INIT;
	cld_host_insert(c, h);
	c->monitor_due = 0;        /* monitor it now */
	if ((cl = cld_host_cluster(c, h)) != NULL)
		cl->nhosts++;
	cld_host_touch(c, h);
	cld_host_sched_update(c, h);
	log_info("host '%s' created (im %s, vmm %s)", h->name, h->im, h->vmm);
	return h;
}

int
cld_host_action(struct cld_core *c, struct cld_host *h, const char *action,
    struct cld_err *err)
{
	if (strcmp(action, "enable") == 0) {
		if (h->state == CLD_HOST_DISABLED || h->state == CLD_HOST_OFFLINE) {
			h->state = CLD_HOST_INIT;
			h->next_monitor_ms = 0;  /* monitor it now */
			c->monitor_due = 0;
		}
	} else if (strcmp(action, "disable") == 0) {
		h->state = CLD_HOST_DISABLED;
	} else if (strcmp(action, "offline") == 0) {
		if (h->rvm > 0) {
			cld_err_set(err, CLD_EBUSY,
			    "host '%s' still has %d VMs: move or delete them before taking it offline",
			    h->name, h->rvm);
			return -1;
		}
		h->state = CLD_HOST_OFFLINE;
	} else {
		cld_err_set(err, CLD_EINVAL,
		    "unknown host action '%s': enable, disable or offline", action);
		return -1;
	}
	cld_host_touch(c, h);
	cld_host_sched_update(c, h);
	return 0;
}

int
cld_host_delete(struct cld_core *c, struct cld_host *h, struct cld_err *err)
{
	struct cld_cluster *cl;

	if (h->nvms > 0) {
		cld_err_set(err, CLD_EBUSY,
		    "host '%s' still has %d VMs: it cannot be deleted", h->name,
		    h->nvms);
		return -1;
	}
	if (h->monitor_job != NULL) {
		/* The job holds a pointer: let it go first. */
		cld_op_cancel(&h->monitor_job->ctl);
	}
	if ((cl = cld_host_cluster(c, h)) != NULL)
		cl->nhosts--;
	cld_sched_host_del(c->sched, h->id);
	cld_core_del(c, CLD_T_HOSTS, h->id);
	c->hosts[h->id] = NULL;
	log_info("host '%s' deleted", h->name);
	if (h->monitor_job != NULL)
		h->state = -1;    /* freed by the monitoring's end */
	else
		cld_host_free(h);
	return 0;
}

int
cld_host_move(struct cld_core *c, struct cld_host *h, struct cld_cluster *cl,
    struct cld_err *err)
{
	struct cld_cluster *old = cld_host_cluster(c, h);

	if (old == cl)
		return 0;
	if (h->nvms > 0) {
		cld_err_set(err, CLD_EBUSY,
		    "host '%s' has %d VMs: their disks and networks belong to cluster '%s'",
		    h->name, h->nvms, old ? old->name : "-");
		return -1;
	}
	if (old != NULL)
		old->nhosts--;
	cl->nhosts++;
	h->cluster_id = cl->id;
	cld_host_touch(c, h);
	cld_host_sched_update(c, h);
	return 0;
}

static int
driver_name_ok(struct cld_core *c, int klass, const char *name,
    struct cld_err *err)
{
	if (name[0] != '\0' && cld_loader_find(c->loader, klass, name) == NULL) {
		cld_err_set(err, CLD_ENOENT, "no %s driver '%s' is loaded (see cloudd -n)",
		    cld_class_name(klass), name);
		return -1;
	}
	return 0;
}

struct cld_cluster *
cld_cluster_create(struct cld_core *c, const char *name, const char *tm,
    const char *net, struct cld_err *err)
{
	struct cld_cluster *cl;

	if (name_ok("cluster", name, err) < 0)
		return NULL;
	if (cld_cluster_find(c, name) != NULL) {
		cld_err_set(err, CLD_EEXIST, "a cluster named '%s' exists", name);
		return NULL;
	}
	if (driver_name_ok(c, CLD_CLASS_TM, tm ? tm : "", err) < 0 ||
	    driver_name_ok(c, CLD_CLASS_NET, net ? net : "", err) < 0)
		return NULL;
	cl = cld_xcalloc(1, sizeof(*cl));
	cl->id = c->next_cluster_id;
	cl->name = cld_xstrdup(name);
	cl->tm = cld_xstrdup(tm ? tm : "");
	cl->net = cld_xstrdup(net ? net : "");
	cld_cluster_bind(c, cl, err);
	cld_cluster_insert(c, cl);
	cld_cluster_touch(c, cl);
	return cl;
}

int
cld_cluster_set(struct cld_core *c, struct cld_cluster *cl, const char *tm,
    const char *net, struct cld_err *err)
{
	if (tm != NULL && driver_name_ok(c, CLD_CLASS_TM, tm, err) < 0)
		return -1;
	if (net != NULL && driver_name_ok(c, CLD_CLASS_NET, net, err) < 0)
		return -1;
	/*
	 * VMs placed before the change keep working: each step looks up the
	 * cluster's driver when it starts, so the new method applies to
	 * every step from now on.
	 */
	if (tm != NULL) {
		free(cl->tm);
		cl->tm = cld_xstrdup(tm);
	}
	if (net != NULL) {
		free(cl->net);
		cl->net = cld_xstrdup(net);
	}
	cld_cluster_bind(c, cl, err);
	cld_cluster_touch(c, cl);
	return 0;
}

int
cld_cluster_delete(struct cld_core *c, struct cld_cluster *cl,
    struct cld_err *err)
{
	if (cl->id == 0) {
		cld_err_set(err, CLD_EBUSY, "the default cluster cannot be deleted");
		return -1;
	}
	if (cl->nhosts > 0) {
		cld_err_set(err, CLD_EBUSY,
		    "cluster '%s' still has %d hosts: move them first",
		    cl->name, cl->nhosts);
		return -1;
	}
	cld_core_del(c, CLD_T_CLUSTERS, cl->id);
	c->clusters[cl->id] = NULL;
	cld_cluster_free(cl);
	return 0;
}

/* ----------------------------------------------------------- monitoring */

struct mon_job {
	struct cld_job j;
	int reported;               /* the deadline's failure was reported */
	struct cld_host *h;
	char *host;
	struct cld_driver_inst *im;
	char *report;
	struct cld_tmpl parsed;
};

static void
mon_run(struct cld_job *jj)
{
	struct mon_job *m = (struct mon_job *)jj;

	jj->rc = cld_inst_im(m->im)->monitor(&jj->op, m->host, 0, &m->report);
	if (jj->rc == 0 && m->report == NULL) {
		cld_err_set(jj->op.err, CLD_EDRIVER, "the im driver returned no report");
		jj->rc = -1;
	}
	/* Parse here, not on the loop. */
	if (jj->rc == 0 && cld_tmpl_parse(m->report, strlen(m->report),
	    &m->parsed, jj->op.err) < 0) {
		cld_err_prefix(jj->op.err, "the report does not parse");
		jj->rc = -1;
	}
}

static double
num(const struct cld_tmpl *t, const char *name, double def)
{
	double v;

	return cld_tmpl_get_num(t, name, &v) == 0 ? v : def;
}

static void
host_failed(struct cld_core *c, struct cld_host *h, const char *msg)
{
	free(h->error);
	h->error = cld_xstrdup(msg);
	h->failures++;
	if (h->state == CLD_HOST_MONITORED || h->state == CLD_HOST_INIT) {
		log_warnx("host '%s': monitoring failed: %s", h->name, msg);
		h->state = CLD_HOST_ERROR;
		cld_vm_host_lost(c, h);
		cld_host_sched_update(c, h);
	}
	cld_host_touch(c, h);
}

static void
mon_done(struct cld_core *c, struct cld_job *jj)
{
	struct mon_job *m = (struct mon_job *)jj;
	struct cld_host *h = m->h;

	h->monitor_job = NULL;
	if (h->state == -1) {
		cld_host_free(h);       /* deleted meanwhile */
		goto cleanup;
	}
	if (c->discard)
		goto cleanup;      /* stopping: a cancelled round says nothing */
	h->next_monitor_ms = cld_now_ms() + c->monitor_interval_ms;
	if (h->next_monitor_ms < c->monitor_due)
		c->monitor_due = h->next_monitor_ms;
	if (h->state == CLD_HOST_OFFLINE || m->reported)
		goto cleanup;
	if (jj->rc < 0 || jj->timed_out) {
		char msg[CLD_ERR_MSG_MAX + 64];

		if (jj->timed_out)
			snprintf(msg, sizeof(msg), "no answer within %" PRId64 " s",
			    c->conf->timeout_ms[CLD_TO_MONITOR] / 1000);
		else
			snprintf(msg, sizeof(msg), "%s", jj->err.msg);
		host_failed(c, h, msg);
		goto cleanup;
	}
	/* VM vectors update their VMs; the rest are the host's attributes. */
	{
		const struct cld_attr *v = NULL;
		unsigned char *seen = NULL;
		size_t nseen = 0;

		while ((v = cld_tmpl_next_vector(&m->parsed, "VM", v)) != NULL) {
			const char *name = cld_vector_get(v, "NAME");
			int64_t id;
			struct cld_vm *vm;

			if (name == NULL || strncmp(name, "cld-", 4) != 0 ||
			    cld_parse_i64(name + 4, &id) < 0)
				continue;
			vm = cld_vm_find(c, id);
			if (vm == NULL || vm->host != h)
				continue;
			if ((size_t)id >= nseen) {
				size_t n = (size_t)id + 64;

				seen = cld_xrealloc(seen, n);
				memset(seen + nseen, 0, n - nseen);
				nseen = n;
			}
			seen[id] = 1;
			cld_vm_seen(c, vm, v);
		}
		cld_tmpl_remove(&m->parsed, "VM");
		cld_tmpl_release(&h->attrs);
		h->attrs = m->parsed;
		memset(&m->parsed, 0, sizeof(m->parsed));
		h->tcpu = num(&h->attrs, "TOTALCPU", 0);
		h->ucpu = num(&h->attrs, "USEDCPU", 0);
		h->tmem = (uint64_t)num(&h->attrs, "TOTALMEMORY", 0);
		h->fmem = (uint64_t)num(&h->attrs, "FREEMEMORY",
		    (double)h->tmem - num(&h->attrs, "USEDMEMORY", 0));
		h->monitored = cld_time();
		h->failures = 0;
		free(h->error);
		h->error = NULL;
		if (h->state == CLD_HOST_INIT || h->state == CLD_HOST_ERROR) {
			if (h->state == CLD_HOST_ERROR)
				log_info("host '%s' is back", h->name);
			h->state = CLD_HOST_MONITORED;
		}
		/* VMs the report did not mention: ask their vmm driver, at once. */
		{
			struct cld_vm **todo = NULL;
			size_t ntodo = 0, cap = 0;

			for (struct cld_vm *vm = h->vms; vm != NULL;
			    vm = vm->hnext) {
				size_t i = (size_t)vm->id;

				if (vm->job != NULL || (i < nseen && seen[i]) ||
				    (vm->state != CLD_VM_RUNNING &&
				    vm->state != CLD_VM_UNKNOWN))
					continue;
				if (ntodo == cap) {
					cap = cap ? cap * 2 : 16;
					todo = cld_xrealloc(todo,
					    cap * sizeof(*todo));
				}
				todo[ntodo++] = vm;
			}
			cld_vm_poll_many(c, h, todo, ntodo);
			free(todo);
		}
		free(seen);
	}
	cld_host_sched_update(c, h);
	cld_host_touch(c, h);
cleanup:
	cld_op_ctl_release(&jj->ctl);
	cld_tmpl_release(&m->parsed);
	free(m->report);
	free(m->host);
	free(m);
}

/*
 * A monitoring past its deadline: the host is in ERROR now, not when the
 * hung driver returns; no new monitoring starts until it does.
 */
static void
mon_timeout(struct cld_core *c, struct cld_job *jj)
{
	struct mon_job *m = (struct mon_job *)jj;
	char msg[96];

	if (m->h->state == -1 || m->h->state == CLD_HOST_OFFLINE)
		return;
	snprintf(msg, sizeof(msg), "no answer within %" PRId64 " s",
	    c->conf->timeout_ms[CLD_TO_MONITOR] / 1000);
	host_failed(c, m->h, msg);
	m->reported = 1;
}

static void
monitor_start(struct cld_core *c, struct cld_host *h)
{
	struct mon_job *m = cld_xcalloc(1, sizeof(*m));

	m->h = h;
	m->host = cld_xstrdup(h->name);
	m->im = h->imd;
	m->j.run = mon_run;
	m->j.done = mon_done;
	m->j.timeout = mon_timeout;
	cld_op_setup(&m->j.op, &h->imd->drv, &m->j.ctl, &m->j.err,
	    c->conf->timeout_ms[CLD_TO_MONITOR]);
	m->j.deadline_ms = m->j.op.deadline_ms;
	h->monitor_job = &m->j;
	cld_core_submit(c, &m->j);
}

/*
 * Start the monitorings that are due.  The hosts are scanned only when the
 * earliest one is due (c->monitor_due), not at every turn of the loop: a
 * turn costs the same with 10 hosts or 10,000.
 */
void
cld_hosts_monitor(struct cld_core *c, int64_t now)
{
	int64_t next = INT64_MAX;

	if (now < c->monitor_due)
		return;
	for (size_t i = 0; i < c->hosts_cap; i++) {
		struct cld_host *h = c->hosts[i];

		if (h == NULL || h->monitor_job != NULL ||
		    h->state == CLD_HOST_OFFLINE || h->imd == NULL)
			continue;
		if (h->next_monitor_ms <= now)
			monitor_start(c, h);
		else if (h->next_monitor_ms < next)
			next = h->next_monitor_ms;
	}
	c->monitor_due = next;
}

int64_t
cld_hosts_next_monitor(struct cld_core *c)
{
	return c->monitor_due;
}
