/*
 * VMs: creation, the state machine and the lease pipeline.
 *
 * Every action a VM can take is a plan: a short list of steps, each one
 * driver operation run on a worker and shown as a state (PROLOG, BOOT,
 * ...).  A VM runs at most one step at a time.  A step that succeeds moves
 * the plan on; the last step's success puts the VM in the plan's end state.
 * A step that fails puts the VM in FAILED with the reason and remembers the
 * plan and step, so that "recover" can retry it, take it as done, or
 * delete the VM; plans that only change a running VM (reboot, suspend,
 * resume, live migration before the switch) go back where they started
 * instead, with the reason recorded.  The plan and step are stored with the
 * VM, so after a crash the interrupted step is run again: every driver
 * operation is idempotent.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "expr.h"
#include "log.h"
#include "template.h"
#include "util.h"
#include "vmlog.h"

static const struct {
	const char *name, *sname;
} vm_states[CLD_VM_NSTATES] = {
	{ "PENDING", "pend" }, { "HOLD", "hold" }, { "PROLOG", "prol" },
	{ "BOOT", "boot" }, { "RUNNING", "runn" }, { "MIGRATE", "migr" },
	{ "SHUTDOWN", "shut" }, { "EPILOG", "epil" }, { "SUSPENDED", "susp" },
	{ "STOPPED", "stop" }, { "POWEROFF", "poff" }, { "UNKNOWN", "unkn" },
	{ "FAILED", "fail" }, { "DONE", "done" },
};

const char *
cld_vm_state_name(int s)
{
	return s >= 0 && s < CLD_VM_NSTATES ? vm_states[s].name : "?";
}

const char *
cld_vm_state_short(int s)
{
	return s >= 0 && s < CLD_VM_NSTATES ? vm_states[s].sname : "?";
}

int
cld_vm_state_from_name(const char *name)
{
	for (int s = 0; s < CLD_VM_NSTATES; s++)
		if (strcasecmp(name, vm_states[s].name) == 0 ||
		    strcasecmp(name, vm_states[s].sname) == 0)
			return s;
	return -1;
}

/* The steps: one driver operation (or a short fixed sequence) each. */
enum step {
	ST_NONE,
	ST_PROLOG,         /* tm: each DISK to the host */
	ST_UNSTOP,         /* tm mv: the front-end's copy back to the host */
	ST_NET_PRE,        /* net pre on the host */
	ST_DEPLOY,         /* vmm deploy */
	ST_RESTORE,        /* vmm restore from the checkpoint */
	ST_NET_POST,       /* net post (optional op) */
	ST_SHUTDOWN,       /* vmm shutdown, destroy at its deadline */
	ST_DESTROY,        /* vmm destroy */
	ST_SAVE,           /* vmm save to the checkpoint */
	ST_NET_CLEAN,      /* net clean on the host */
	ST_EPILOG,         /* tm delete of the VM's directory */
	ST_EPILOG_STOP,    /* tm mv of the directory to the front-end */
	ST_SUSPEND,
	ST_RESUME,
	ST_REBOOT,
	ST_MIGRATE_MV,     /* tm mv to the destination; then it is the host */
	ST_NET_PRE_DEST,   /* net pre on the destination */
	ST_MIGRATE_LIVE,   /* vmm migrate, live; then the destination is the host */
	ST_NET_CLEAN_PREV, /* net clean on the host it left */
	ST_FRONT_DELETE,   /* remove the front-end's copy of a stopped VM */
};

static const char *const step_names[] = {
	[ST_NONE] = "none", [ST_PROLOG] = "tm prolog",
	[ST_UNSTOP] = "tm mv from the front-end", [ST_NET_PRE] = "net pre",
	[ST_DEPLOY] = "vmm deploy", [ST_RESTORE] = "vmm restore",
	[ST_NET_POST] = "net post", [ST_SHUTDOWN] = "vmm shutdown",
	[ST_DESTROY] = "vmm destroy", [ST_SAVE] = "vmm save",
	[ST_NET_CLEAN] = "net clean", [ST_EPILOG] = "tm delete",
	[ST_EPILOG_STOP] = "tm mv to the front-end",
	[ST_SUSPEND] = "vmm suspend", [ST_RESUME] = "vmm resume",
	[ST_REBOOT] = "vmm reboot", [ST_MIGRATE_MV] = "tm mv",
	[ST_NET_PRE_DEST] = "net pre", [ST_MIGRATE_LIVE] = "vmm migrate",
	[ST_NET_CLEAN_PREV] = "net clean",
	[ST_FRONT_DELETE] = "delete of the front-end's copy",
};

enum plan {
	P_NONE, P_LEASE, P_UNSTOP, P_BOOT, P_SHUTDOWN, P_DELETE, P_POWEROFF,
	P_STOP, P_SUSPEND, P_RESUME, P_REBOOT, P_REBOOT_HARD, P_MIGRATE,
	P_LIVE, P_DELETE_STOPPED, P_COUNT
};

#define PLAN_MAX_STEPS 6

static const struct plan_def {
	const char *name;
	int end_state;
	int reversible;     /* a failure goes back to resume_state */
	struct { int step, state; } s[PLAN_MAX_STEPS];
} plans[P_COUNT] = {
	[P_LEASE] = { "lease", CLD_VM_RUNNING, 0, {
		{ ST_PROLOG, CLD_VM_PROLOG }, { ST_NET_PRE, CLD_VM_BOOT },
		{ ST_DEPLOY, CLD_VM_BOOT }, { ST_NET_POST, CLD_VM_BOOT } } },
	[P_UNSTOP] = { "resume from stop", CLD_VM_RUNNING, 0, {
		{ ST_UNSTOP, CLD_VM_PROLOG }, { ST_NET_PRE, CLD_VM_BOOT },
		{ ST_RESTORE, CLD_VM_BOOT }, { ST_NET_POST, CLD_VM_BOOT } } },
	[P_BOOT] = { "boot", CLD_VM_RUNNING, 0, {
		{ ST_NET_PRE, CLD_VM_BOOT }, { ST_DEPLOY, CLD_VM_BOOT },
		{ ST_NET_POST, CLD_VM_BOOT } } },
	[P_SHUTDOWN] = { "shutdown", CLD_VM_DONE, 0, {
		{ ST_SHUTDOWN, CLD_VM_SHUTDOWN }, { ST_NET_CLEAN, CLD_VM_EPILOG },
		{ ST_EPILOG, CLD_VM_EPILOG } } },
	[P_DELETE] = { "delete", CLD_VM_DONE, 0, {
		{ ST_DESTROY, CLD_VM_EPILOG }, { ST_NET_CLEAN, CLD_VM_EPILOG },
		{ ST_EPILOG, CLD_VM_EPILOG } } },
	[P_POWEROFF] = { "poweroff", CLD_VM_POWEROFF, 0, {
		{ ST_DESTROY, CLD_VM_SHUTDOWN }, { ST_NET_CLEAN, CLD_VM_SHUTDOWN } } },
	[P_STOP] = { "stop", CLD_VM_STOPPED, 0, {
		{ ST_SAVE, CLD_VM_SHUTDOWN }, { ST_NET_CLEAN, CLD_VM_EPILOG },
		{ ST_EPILOG_STOP, CLD_VM_EPILOG } } },
	[P_SUSPEND] = { "suspend", CLD_VM_SUSPENDED, 1, {
		{ ST_SUSPEND, CLD_VM_RUNNING } } },
	[P_RESUME] = { "resume", CLD_VM_RUNNING, 1, {
		{ ST_RESUME, CLD_VM_SUSPENDED } } },
	[P_REBOOT] = { "reboot", CLD_VM_RUNNING, 1, {
		{ ST_REBOOT, CLD_VM_RUNNING } } },
	[P_REBOOT_HARD] = { "reboot --hard", CLD_VM_RUNNING, 1, {
		{ ST_REBOOT, CLD_VM_RUNNING } } },
	[P_MIGRATE] = { "migrate", CLD_VM_RUNNING, 0, {
		{ ST_SAVE, CLD_VM_MIGRATE }, { ST_NET_CLEAN, CLD_VM_MIGRATE },
		{ ST_MIGRATE_MV, CLD_VM_MIGRATE }, { ST_NET_PRE, CLD_VM_MIGRATE },
		{ ST_RESTORE, CLD_VM_MIGRATE }, { ST_NET_POST, CLD_VM_MIGRATE } } },
	[P_LIVE] = { "live migrate", CLD_VM_RUNNING, 1, {
		{ ST_NET_PRE_DEST, CLD_VM_MIGRATE },
		{ ST_MIGRATE_LIVE, CLD_VM_MIGRATE },
		{ ST_NET_CLEAN_PREV, CLD_VM_MIGRATE },
		{ ST_NET_POST, CLD_VM_MIGRATE } } },
	[P_DELETE_STOPPED] = { "delete", CLD_VM_DONE, 0, {
		{ ST_FRONT_DELETE, CLD_VM_EPILOG } } },
};

/* History record reasons (stored). */
enum { HR_NONE, HR_DONE, HR_FAILED, HR_MIGRATED, HR_STOPPED, HR_DELETED };

/* The timeout of a step shown as STATE. */
static int64_t
step_timeout(struct cld_core *c, int state)
{
	switch (state) {
	case CLD_VM_PROLOG:
		return c->conf->timeout_ms[CLD_TO_PROLOG];
	case CLD_VM_SHUTDOWN:
		return c->conf->timeout_ms[CLD_TO_SHUTDOWN];
	case CLD_VM_EPILOG:
		return c->conf->timeout_ms[CLD_TO_EPILOG];
	case CLD_VM_MIGRATE:
		return c->conf->timeout_ms[CLD_TO_MIGRATE];
	default:
		return c->conf->timeout_ms[CLD_TO_BOOT];
	}
}

/* ------------------------------------------------------------------ log */

char *
cld_vm_log_path(struct cld_core *c, int64_t id)
{
	return cld_xasprintf("%s/%" PRId64 ".log", c->conf->log_dir, id);
}

/* One line in the VM's own log file ("cloudctl vm log"), by vmlog.c. */
void
cld_vm_log(struct cld_core *c, const struct cld_vm *vm, const char *fmt, ...)
{
	char line[2048], stamp[32];
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;
	int n;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s [%s] ", stamp,
	    cld_vm_state_name(vm->state));
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	cld_vmlog_write(c->log_dir, vm->id, line, (size_t)n);
}

/* ------------------------------------------------------------ basics */

struct cld_vm *
cld_vm_find(struct cld_core *c, int64_t id)
{
	if (id < 0 || (size_t)id >= c->vms_cap)
		return NULL;
	return c->vms[id];
}

void
cld_vm_free(struct cld_vm *vm)
{
	if (vm == NULL)
		return;
	free(vm->name);
	free(vm->reason);
	free(vm->domid);
	free(vm->progress);
	free(vm->json);
	for (size_t i = 0; i < vm->npast; i++)
		free(vm->past[i].msg);
	free(vm->past);
	cld_tmpl_release(&vm->tmpl);
	free(vm);
}

/* Keep record H (ended) in the VM's memory of its past. */
void
cld_vm_past_add(struct cld_vm *vm, const struct cld_vm_hist *h,
    const char *msg)
{
	vm->past = cld_xrealloc(vm->past, (vm->npast + 1) * sizeof(*vm->past));
	vm->past[vm->npast].h = *h;
	vm->past[vm->npast].msg = cld_xstrdup(msg ? msg : "");
	vm->npast++;
}

void
cld_vm_set_host(struct cld_vm *vm, struct cld_host *h)
{
	if (vm->host == h)
		return;
	if (vm->host != NULL) {
		if (vm->hprev != NULL)
			vm->hprev->hnext = vm->hnext;
		else
			vm->host->vms = vm->hnext;
		if (vm->hnext != NULL)
			vm->hnext->hprev = vm->hprev;
	}
	vm->hnext = vm->hprev = NULL;
	vm->host = h;
	if (h != NULL) {
		vm->hnext = h->vms;
		if (h->vms != NULL)
			h->vms->hprev = vm;
		h->vms = vm;
	}
}

static void
set_str(char **p, const char *v)
{
	free(*p);
	*p = v != NULL ? cld_xstrdup(v) : NULL;
}

static void
set_reason(struct cld_vm *vm, const char *fmt, ...) CLD_PRINTF(2, 3);

static void
set_reason(struct cld_vm *vm, const char *fmt, ...)
{
	va_list ap;
	char buf[CLD_ERR_MSG_MAX + 256];

	free(vm->reason);
	vm->reason = NULL;
	if (fmt == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	vm->reason = cld_xstrdup(buf);
}

static void
set_state(struct cld_core *c, struct cld_vm *vm, int state)
{
	if (vm->state == state)
		return;
	/* However it ends, its leases go back in the commit that says so. */
	if (state == CLD_VM_DONE)
		cld_nics_end(c, vm);
	vm->state = state;
	cld_vm_log(c, vm, "state %s", cld_vm_state_name(state));
	cld_vm_touch(c, vm);
}

void
cld_vm_sched_add(struct cld_core *c, struct cld_vm *vm)
{
	struct cld_sched_vm sv;
	struct cld_err err;

	vm->waits = NULL;
	memset(&sv, 0, sizeof(sv));
	sv.id = vm->id;
	sv.cpu = vm->cpu * 100;
	sv.mem = vm->memory_mb * 1024;
	sv.requirements = cld_tmpl_get(&vm->tmpl, "REQUIREMENTS");
	sv.rank = cld_tmpl_get(&vm->tmpl, "RANK");
	cld_err_clear(&err);
	/* The expressions were compiled when the VM was created. */
	if (cld_sched_vm_add(c->sched, &sv, &err) < 0)
		set_reason(vm, "%s", err.msg);
	c->sched_dirty = 1;
}

/* ---------------------------------------------------------------- create */

/* Attributes the core sets itself: a template may not. */
static const char *const reserved[] = { "CLOUDD", NULL };

static int
tmpl_number(const struct cld_tmpl *t, const char *name, double def, double min,
    double max, double *out, struct cld_err *err)
{
	const char *v = cld_tmpl_get(t, name);
	const struct cld_attr *a;

	if (v == NULL) {
		if ((a = cld_tmpl_next_vector(t, name, NULL)) != NULL) {
			cld_err_set(err, CLD_EINVAL,
			    "line %u, column %u: %s must be a single value, not a vector",
			    a->line, a->column, name);
			return -1;
		}
		*out = def;
		return 0;
	}
	a = cld_attrs_next(t->attrs, t->n, name, NULL);
	if (cld_parse_double(v, out) < 0 || *out < min || *out > max) {
		cld_err_set(err, CLD_EINVAL,
		    "line %u, column %u: %s = \"%s\" is not a number from %g to %g",
		    a->line, a->column, name, v, min, max);
		return -1;
	}
	return 0;
}

/* Check the DISKs and set each one's PATH on the host: <dir>/disk.<i>. */
static int
resolve_disks(struct cld_core *c, struct cld_vm *vm, struct cld_err *err)
{
	size_t i = 0;

	for (size_t k = 0; k < vm->tmpl.n; k++) {
		struct cld_attr *d = &vm->tmpl.attrs[k];
		const char *type, *src, *size;
		char *path;

		if (strcmp(d->name, "DISK") != 0)
			continue;
		if (!cld_attr_is_vector(d)) {
			cld_err_set(err, CLD_EINVAL,
			    "line %u, column %u: DISK must be a vector: DISK = [ SOURCE = ... ]",
			    d->line, d->column);
			return -1;
		}
		type = cld_vector_get(d, "TYPE");
		src = cld_vector_get(d, "SOURCE");
		size = cld_vector_get(d, "SIZE");
		if (type == NULL || strcasecmp(type, "disk") == 0 ||
		    strcasecmp(type, "cdrom") == 0) {
			if (src == NULL || src[0] == '\0') {
				cld_err_set(err, CLD_EINVAL,
				    "line %u, column %u: DISK needs SOURCE (a path on the front-end or an http(s) URL)",
				    d->line, d->column);
				return -1;
			}
			if (src[0] != '/' && strncmp(src, "http://", 7) != 0 &&
			    strncmp(src, "https://", 8) != 0) {
				cld_err_set(err, CLD_EINVAL,
				    "line %u, column %u: DISK SOURCE '%s' is not an absolute path or an http(s) URL",
				    d->line, d->column, src);
				return -1;
			}
		} else if (strcasecmp(type, "swap") == 0 ||
		    strcasecmp(type, "fs") == 0) {
			uint64_t mb;

			if (size == NULL || cld_parse_u64(size, &mb) < 0 ||
			    mb == 0 || mb > (1ull << 30)) {
				cld_err_set(err, CLD_EINVAL,
				    "line %u, column %u: a %s DISK needs SIZE in MiB (a whole number above 0)",
				    d->line, d->column, type);
				return -1;
			}
		} else {
			cld_err_set(err, CLD_EINVAL,
			    "line %u, column %u: DISK TYPE '%s' is not one of disk, cdrom, swap, fs",
			    d->line, d->column, type);
			return -1;
		}
		path = cld_xasprintf("%s/%" PRId64 "/disk.%zu", c->datastore,
		    vm->id, i++);
		cld_vector_set(d, "PATH", path);
		free(path);
	}
	return 0;
}

struct cld_vm *
cld_vm_create(struct cld_core *c, const char *text, size_t len, int64_t uid,
    int64_t gid, int hold, struct cld_err *err)
{
	struct cld_vm *vm = cld_xcalloc(1, sizeof(*vm));
	const char *name, *v;
	double d;
	struct cld_expr *e;

	if (cld_tmpl_parse(text, len, &vm->tmpl, err) < 0)
		goto fail;
	for (size_t i = 0; reserved[i] != NULL; i++) {
		const struct cld_attr *a = cld_attrs_next(vm->tmpl.attrs,
		    vm->tmpl.n, reserved[i], NULL);

		if (a != NULL) {
			cld_err_set(err, CLD_EINVAL,
			    "line %u, column %u: %s is reserved for cloudd",
			    a->line, a->column, reserved[i]);
			goto fail;
		}
	}
	if (cld_tmpl_get(&vm->tmpl, "MEMORY") == NULL) {
		cld_err_set(err, CLD_EINVAL,
		    "the template needs MEMORY (MiB), as in MEMORY = 512");
		goto fail;
	}
	if (tmpl_number(&vm->tmpl, "MEMORY", 0, 1, 16 << 20, &d, err) < 0)
		goto fail;
	vm->memory_mb = (uint64_t)d;
	if (d != (double)vm->memory_mb) {
		cld_err_set(err, CLD_EINVAL,
		    "MEMORY must be a whole number of MiB");
		goto fail;
	}
	if (tmpl_number(&vm->tmpl, "CPU", 1, 0.01, 4096, &vm->cpu, err) < 0)
		goto fail;
	if (tmpl_number(&vm->tmpl, "VCPU", 1, 1, 4096, &d, err) < 0)
		goto fail;
	vm->vcpu = (unsigned int)d;
	if (d != (double)vm->vcpu) {
		cld_err_set(err, CLD_EINVAL, "VCPU must be a whole number");
		goto fail;
	}
	if ((v = cld_tmpl_get(&vm->tmpl, "REQUIREMENTS")) != NULL) {
		if ((e = cld_expr_parse(v, err)) == NULL) {
			cld_err_prefix(err, "REQUIREMENTS");
			goto fail;
		}
		cld_expr_free(e);
	}
	if ((v = cld_tmpl_get(&vm->tmpl, "RANK")) != NULL) {
		if ((e = cld_expr_parse(v, err)) == NULL) {
			cld_err_prefix(err, "RANK");
			goto fail;
		}
		cld_expr_free(e);
	}
	vm->id = c->next_vm_id;
	if (resolve_disks(c, vm, err) < 0 || cld_nics_check(c, vm, err) < 0)
		goto fail;
	name = cld_tmpl_get(&vm->tmpl, "NAME");
	if (name != NULL && (strlen(name) > 128 || strpbrk(name, "\n\r\t") != NULL)) {
		cld_err_set(err, CLD_EINVAL,
		    "NAME must be at most 128 characters on one line");
		goto fail;
	}
	c->next_vm_id++;
	vm->name = name != NULL ? cld_xstrdup(name) :
	    cld_xasprintf("vm-%" PRId64, vm->id);
	vm->uid = uid;
	vm->gid = gid;
	vm->failed_state = -1;
	vm->stime = cld_time();
	vm->state = hold ? CLD_VM_HOLD : CLD_VM_PENDING;
	if ((size_t)vm->id >= c->vms_cap) {
		size_t cap = c->vms_cap ? c->vms_cap * 2 : 1024;

		while (cap <= (size_t)vm->id)
			cap *= 2;
		c->vms = cld_xrealloc(c->vms, cap * sizeof(*c->vms));
		memset(c->vms + c->vms_cap, 0,
		    (cap - c->vms_cap) * sizeof(*c->vms));
		c->vms_cap = cap;
	}
	c->vms[vm->id] = vm;
	c->nvms_live++;
	cld_nics_ref(c, vm, 1);
	cld_vm_touch(c, vm);
	cld_vm_log(c, vm, "created by uid %" PRId64 " (%s)", uid,
	    cld_vm_state_name(vm->state));
	if (!hold)
		cld_vm_sched_add(c, vm);
	return vm;
fail:
	cld_vm_free(vm);
	return NULL;
}

/* ------------------------------------------------------------- the jobs */

struct vm_job {
	struct cld_job j;
	struct cld_core *c;
	struct cld_vm *vm;          /* NULL once detached (deadline, free) */
	int step;
	unsigned int flags;
	struct cld_vm_desc desc;
	struct cld_tmpl tmpl;       /* the job's own copy */
	char *name, *host, *domid, *dir;
	char *dest;                 /* destination (migrate) */
	char *front;                /* the front-end's copy: VM_DIR/<id> */
	struct cld_driver_inst *vmm, *tm, *net, *dest_vmm;
	int64_t shutdown_ms;        /* ST_SHUTDOWN: how long to wait for ACPI */
	char *out_domid;
	int64_t started_ms;
};

static int
not_supported(struct cld_op *op, const char *what)
{
	cld_err_set(op->err, CLD_ENOTSUP, "the %s driver '%s' cannot %s",
	    cld_class_name(cld_drv_class(op->drv)), op->drv->name, what);
	return -1;
}

static int
no_driver(struct cld_op *op, const char *klass, const char *host)
{
	cld_err_set(op->err, CLD_ENOENT, "no %s driver for host '%s'", klass,
	    host);
	return -1;
}

static void
use(struct cld_op *op, struct cld_driver_inst *d)
{
	op->drv = &d->drv;
	cld_err_clear(op->err);
}

/* tm: every DISK of the VM to its PATH on the host. */
static int
run_prolog(struct vm_job *j)
{
	struct cld_op *op = &j->j.op;
	const struct cld_tm_driver *tm;
	const struct cld_attr *d = NULL;

	if (cld_tmpl_next_vector(&j->tmpl, "DISK", NULL) == NULL)
		return 0;
	if (j->tm == NULL) {
		cld_err_set(op->err, CLD_ENOENT,
		    "the cluster of host '%s' has no tm driver", j->host);
		return -1;
	}
	tm = cld_inst_tm(j->tm);
	use(op, j->tm);
	while ((d = cld_tmpl_next_vector(&j->tmpl, "DISK", d)) != NULL) {
		const char *type = cld_vector_get(d, "TYPE");
		const char *src = cld_vector_get(d, "SOURCE");
		const char *path = cld_vector_get(d, "PATH");
		const char *clone = cld_vector_get(d, "CLONE");
		uint64_t mb = 0;
		int rc;

		if (cld_vector_get(d, "SIZE") != NULL)
			cld_parse_u64(cld_vector_get(d, "SIZE"), &mb);
		if (type != NULL && strcasecmp(type, "swap") == 0)
			rc = tm->mkswap ? tm->mkswap(op, &j->desc, j->host,
			    path, mb, 0) : not_supported(op, "make swap disks");
		else if (type != NULL && strcasecmp(type, "fs") == 0) {
			const char *fmt = cld_vector_get(d, "FORMAT");

			rc = tm->mkimage ? tm->mkimage(op, &j->desc, j->host,
			    path, mb, fmt ? fmt : "raw", 0) :
			    not_supported(op, "make blank disks");
		} else if (clone != NULL && strcasecmp(clone, "no") == 0)
			rc = tm->link ? tm->link(op, &j->desc, src, j->host,
			    path, 0) : not_supported(op, "link disks");
		else
			rc = tm->clone(op, &j->desc, src, j->host, path, 0);
		if (rc < 0) {
			cld_err_prefix(op->err, "disk '%s'", path);
			return -1;
		}
	}
	return 0;
}

static int
run_net(struct vm_job *j, struct cld_driver_inst *net, const char *host,
    int which)
{
	struct cld_op *op = &j->j.op;
	const struct cld_net_driver *n;
	const char *saved = j->desc.host;
	int rc;

	if (net == NULL)
		return 0;        /* a cluster without a net driver: plain NICs */
	n = cld_inst_net(net);
	use(op, net);
	j->desc.host = host;
	if (which == 0)
		rc = n->pre(op, &j->desc, 0);
	else if (which == 1)
		rc = n->post ? n->post(op, &j->desc, 0) : 0;
	else
		rc = n->clean(op, &j->desc, 0);
	j->desc.host = saved;
	return rc;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* Remove PATH, a directory of the front-end's own, and all it holds. */
static int
remove_tree(struct cld_op *op, const char *path)
{
	if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0 &&
	    errno != ENOENT) {
		cld_err_sys(op->err, CLD_EIO, errno, "cannot remove '%s'", path);
		return -1;
	}
	return 0;
}

static char *
checkpoint(struct vm_job *j)
{
	return cld_xasprintf("%s/checkpoint", j->dir);
}

static void
step_run(struct cld_job *jj)
{
	struct vm_job *j = (struct vm_job *)jj;
	struct cld_op *op = &j->j.op;
	const struct cld_vmm_driver *vmm = j->vmm ? cld_inst_vmm(j->vmm) : NULL;
	const struct cld_tm_driver *tm = j->tm ? cld_inst_tm(j->tm) : NULL;
	char *cp = NULL;
	int rc = -1;

	if (vmm == NULL && (j->step == ST_DEPLOY || j->step == ST_RESTORE ||
	    j->step == ST_SHUTDOWN || j->step == ST_DESTROY ||
	    j->step == ST_SAVE || j->step == ST_SUSPEND ||
	    j->step == ST_RESUME || j->step == ST_REBOOT ||
	    j->step == ST_MIGRATE_LIVE)) {
		j->j.rc = no_driver(op, "vmm", j->host);
		return;
	}
	if (vmm != NULL)
		use(op, j->vmm);
	switch (j->step) {
	case ST_PROLOG:
		rc = run_prolog(j);
		break;
	case ST_UNSTOP:
	case ST_EPILOG_STOP:
	case ST_MIGRATE_MV:
		if (tm == NULL) {
			rc = 0; /* nothing was copied: nothing to move */
			break;
		}
		use(op, j->tm);
		if (tm->mv == NULL) {
			rc = not_supported(op, "move disks between hosts");
			break;
		}
		/* A NULL host is the front-end. */
		if (j->step == ST_UNSTOP)
			rc = tm->mv(op, &j->desc, NULL, j->front, j->host,
			    j->dir, 0);
		else if (j->step == ST_EPILOG_STOP)
			rc = tm->mv(op, &j->desc, j->host, j->dir, NULL,
			    j->front, 0);
		else
			rc = tm->mv(op, &j->desc, j->host, j->dir, j->dest,
			    j->dir, 0);
		break;
	case ST_FRONT_DELETE:
		rc = remove_tree(op, j->front);
		break;
	case ST_NET_PRE:
		rc = run_net(j, j->net, j->host, 0);
		break;
	case ST_NET_PRE_DEST:
		rc = run_net(j, j->net, j->dest, 0);
		break;
	case ST_NET_POST:
		rc = run_net(j, j->net, j->host, 1);
		break;
	case ST_NET_CLEAN:
	case ST_NET_CLEAN_PREV:
		rc = run_net(j, j->net, j->host, 2);
		break;
	case ST_DEPLOY:
		rc = vmm->deploy(op, &j->desc, 0, &j->out_domid);
		break;
	case ST_RESTORE:
		cp = checkpoint(j);
		rc = vmm->restore ? vmm->restore(op, &j->desc, cp, 0,
		    &j->out_domid) : not_supported(op, "restore VMs");
		break;
	case ST_SAVE:
		cp = checkpoint(j);
		rc = vmm->save ? vmm->save(op, &j->desc, cp, 0) :
		    not_supported(op, "save VMs");
		break;
	case ST_SHUTDOWN:
		rc = vmm->shutdown(op, &j->desc, 0);
		break;
	case ST_DESTROY:
		rc = vmm->destroy(op, &j->desc, 0);
		break;
	case ST_EPILOG:
		if (tm == NULL) {
			rc = 0;
			break;
		}
		use(op, j->tm);
		rc = tm->delete(op, &j->desc, j->host, j->dir, 0);
		break;
	case ST_SUSPEND:
		rc = vmm->suspend ? vmm->suspend(op, &j->desc, 0) :
		    not_supported(op, "suspend VMs");
		break;
	case ST_RESUME:
		rc = vmm->resume ? vmm->resume(op, &j->desc, 0) :
		    not_supported(op, "resume VMs");
		break;
	case ST_REBOOT:
		rc = vmm->reboot ? vmm->reboot(op, &j->desc, j->flags) :
		    not_supported(op, "reboot VMs");
		break;
	case ST_MIGRATE_LIVE:
		if (tm != NULL && tm->mv != NULL) {
			use(op, j->tm);
			if (tm->mv(op, &j->desc, j->host, j->dir, j->dest,
			    j->dir, CLD_TM_MOVE_LIVE) < 0) {
				rc = -1;
				break;
			}
			use(op, j->vmm);
		}
		rc = vmm->migrate ? vmm->migrate(op, &j->desc, j->dest,
		    CLD_MIGRATE_LIVE) : not_supported(op, "migrate VMs live");
		break;
	default:
		cld_err_set(op->err, CLD_EINVAL, "unknown step %d", j->step);
		break;
	}
	if (rc < 0 && op->err->code == CLD_EOK)
		cld_err_set(op->err, CLD_EDRIVER, "failed without saying why");
	free(cp);
	j->j.rc = rc;
}

static void vm_job_done(struct cld_core *c, struct cld_job *jj);
static void plan_next(struct cld_core *c, struct cld_vm *vm);
static void plan_failed(struct cld_core *c, struct cld_vm *vm, const char *msg,
    int step);

static struct cld_driver_inst *
cluster_driver(struct cld_core *c, struct cld_host *h, int net)
{
	struct cld_cluster *cl = h ? cld_host_cluster(c, h) : NULL;

	if (cl == NULL)
		return NULL;
	return net ? cl->netd : cl->tmd;
}

/* Start the VM's current step on a worker (as STEP when not ST_NONE). */
static void
step_start(struct cld_core *c, struct cld_vm *vm, int step)
{
	const struct plan_def *p = &plans[vm->plan];
	struct vm_job *j = cld_xcalloc(1, sizeof(*j));
	struct cld_host *h = vm->host;
	struct cld_driver_inst *first;

	if (step == ST_NONE)
		step = p->s[vm->step].step;
	if (step == ST_NET_CLEAN_PREV)
		h = vm->prev;
	j->c = c;
	j->vm = vm;
	j->step = step;
	j->flags = vm->plan == P_REBOOT_HARD ? CLD_REBOOT_HARD : 0;
	j->name = cld_xasprintf("cld-%" PRId64, vm->id);
	j->host = cld_xstrdup(h ? h->name : "");
	j->domid = vm->domid ? cld_xstrdup(vm->domid) : NULL;
	j->dir = cld_xasprintf("%s/%" PRId64, c->datastore, vm->id);
	j->front = cld_xasprintf("%s/%" PRId64, c->vm_dir, vm->id);
	j->dest = vm->dest ? cld_xstrdup(vm->dest->name) : NULL;
	j->vmm = h ? h->vmmd : NULL;
	j->tm = cluster_driver(c, h, 0);
	j->net = cluster_driver(c, step == ST_NET_PRE_DEST ? vm->dest : h, 1);
	j->shutdown_ms = c->conf->timeout_ms[CLD_TO_SHUTDOWN];
	cld_tmpl_copy(&j->tmpl, &vm->tmpl);
	j->desc.size = sizeof(j->desc);
	j->desc.id = vm->id;
	j->desc.name = j->name;
	j->desc.host = j->host;
	j->desc.domid = j->domid;
	j->desc.dir = j->dir;
	j->desc.cpu = vm->cpu;
	j->desc.vcpu = vm->vcpu;
	j->desc.memory_mb = vm->memory_mb;
	j->desc.tmpl = &j->tmpl;
	j->j.run = step_run;
	j->j.done = vm_job_done;
	j->j.timeout = cld_vm_job_timeout;
	first = j->vmm ? j->vmm : j->tm ? j->tm : j->net;
	cld_op_setup(&j->j.op, first ? &first->drv : NULL, &j->j.ctl, &j->j.err,
	    step == ST_DESTROY && p->s[vm->step].step == ST_SHUTDOWN ?
	    c->conf->timeout_ms[CLD_TO_BOOT] :
	    step_timeout(c, p->s[vm->step].state));
	j->j.deadline_ms = j->j.op.deadline_ms;
	j->started_ms = cld_now_ms();
	vm->job = &j->j;
	set_str(&vm->progress, step_names[step]);
	cld_vm_json_invalidate(vm);
	cld_vm_log(c, vm, "%s: %s on '%s'", p->name, step_names[step],
	    step == ST_NET_PRE_DEST ? j->dest : j->host);
	cld_core_submit(c, &j->j);
}

static void
vm_job_free(struct vm_job *j)
{
	cld_op_ctl_release(&j->j.ctl);
	cld_tmpl_release(&j->tmpl);
	free(j->name);
	free(j->host);
	free(j->domid);
	free(j->dir);
	free(j->dest);
	free(j->front);
	free(j->out_domid);
	free(j);
}

static void
hist_begin(struct cld_core *c, struct cld_vm *vm, struct cld_host *h)
{
	if (vm->hist.seq > 0)
		cld_vm_past_add(vm, &vm->hist, vm->reason);
	if (vm->hist.seq > 0 && vm->hist_dirty) {
		/* Its last changes are not written yet: keep them for the commit. */
		struct old_hist *o;

		if (c->nold_hists == c->old_hists_cap) {
			c->old_hists_cap = c->old_hists_cap ? c->old_hists_cap * 2 : 16;
			c->old_hists = cld_xrealloc(c->old_hists,
			    c->old_hists_cap * sizeof(*c->old_hists));
		}
		o = &c->old_hists[c->nold_hists++];
		o->vm_id = vm->id;
		o->h = vm->hist;
		o->msg = cld_xstrdup(vm->reason ? vm->reason : "");
	}
	vm->hist.seq++;
	vm->hist.host_id = h->id;
	vm->hist.start = cld_time();
	vm->hist.prolog_end = vm->hist.boot_end = vm->hist.running_end = 0;
	vm->hist.epilog_end = vm->hist.end = 0;
	vm->hist.reason = HR_NONE;
	vm->hist_dirty = 1;
	cld_vm_touch(c, vm);
}

static void
hist_end(struct cld_core *c, struct cld_vm *vm, int reason)
{
	if (vm->hist.seq == 0 || vm->hist.end != 0)
		return;
	vm->hist.end = cld_time();
	vm->hist.reason = reason;
	vm->hist_dirty = 1;
	cld_vm_touch(c, vm);
}

/* The phase shown as OLD ends; record its time. */
static void
hist_phase(struct cld_core *c, struct cld_vm *vm, int old, int new)
{
	int64_t now = cld_time();

	if (vm->hist.seq == 0 || old == new)
		return;
	if (old == CLD_VM_PROLOG)
		vm->hist.prolog_end = now;
	else if (old == CLD_VM_BOOT || (old == CLD_VM_MIGRATE &&
	    new == CLD_VM_RUNNING))
		vm->hist.boot_end = now;
	else if (old == CLD_VM_RUNNING)
		vm->hist.running_end = now;
	else if (old == CLD_VM_EPILOG)
		vm->hist.epilog_end = now;
	vm->hist_dirty = 1;
}

static void
release_host(struct cld_core *c, struct cld_vm *vm, struct cld_host **hp)
{
	struct cld_host *h = *hp;

	if (h == NULL)
		return;
	cld_host_alloc(c, h, vm, -1);
	h->nvms--;
	if (hp == &vm->host)
		cld_vm_set_host(vm, NULL);
	else
		*hp = NULL;
	c->sched_dirty = 1;
}

/* Start plan P at its first step (or finish at once if empty). */
static void
plan_start(struct cld_core *c, struct cld_vm *vm, int p)
{
	vm->plan = p;
	vm->step = 0;
	vm->failed_state = -1;
	if (!plans[p].reversible)
		vm->resume_state = vm->state;
	plan_next(c, vm);
}

/* Run the VM's current step, or finish the plan when there is none left. */
static void
plan_next(struct cld_core *c, struct cld_vm *vm)
{
	const struct plan_def *p = &plans[vm->plan];
	int end, deleted;

	if (vm->step < PLAN_MAX_STEPS && p->s[vm->step].step != ST_NONE) {
		int st = p->s[vm->step].state;

		hist_phase(c, vm, vm->state, st);
		set_state(c, vm, st);
		cld_vm_touch(c, vm);
		step_start(c, vm, ST_NONE);
		return;
	}
	end = p->end_state;
	hist_phase(c, vm, vm->state, end);
	deleted = vm->plan == P_DELETE;
	vm->plan = P_NONE;
	vm->step = 0;
	set_str(&vm->progress, NULL);
	switch (end) {
	case CLD_VM_DONE:
		if (vm->hist.seq)
			vm->hist.epilog_end = cld_time();
		hist_end(c, vm, deleted ? HR_DELETED : HR_DONE);
		release_host(c, vm, &vm->host);
		vm->etime = cld_time();
		break;
	case CLD_VM_STOPPED:
		hist_end(c, vm, HR_STOPPED);
		release_host(c, vm, &vm->host);
		set_str(&vm->domid, NULL);
		break;
	case CLD_VM_POWEROFF:
		set_str(&vm->domid, NULL);
		break;
	default:
		break;
	}
	if (vm->prev != NULL)
		release_host(c, vm, &vm->prev);
	set_state(c, vm, end);
	cld_vm_log(c, vm, "%s: done", p->name);
	cld_vm_touch(c, vm);
}

static void
plan_failed(struct cld_core *c, struct cld_vm *vm, const char *msg, int step)
{
	const struct plan_def *p = &plans[vm->plan];
	int st = p->s[vm->step].state;

	if (step == ST_SHUTDOWN) {
		/*
		 * A guest that ignores ACPI (or a shutdown that fails) is
		 * destroyed: the user asked for the lease to end.
		 */
		cld_vm_log(c, vm, "shutdown did not complete (%s): destroying",
		    msg);
		step_start(c, vm, ST_DESTROY);
		return;
	}

	cld_vm_log(c, vm, "%s failed: %s", p->name, msg);
	set_str(&vm->progress, NULL);
	if (p->reversible) {
		/* Nothing changed for good: go back, saying what failed. */
		set_reason(vm, "%s %s failed: %s", cld_vm_state_name(st),
		    step_names[p->s[vm->step].step], msg);
		if (vm->dest != NULL)
			release_host(c, vm, &vm->dest);
		vm->plan = P_NONE;
		vm->step = 0;
		set_state(c, vm, vm->resume_state);
		cld_vm_touch(c, vm);
		return;
	}
	set_reason(vm, "%s: %s on '%s' failed: %s", cld_vm_state_name(st),
	    step_names[p->s[vm->step].step],
	    vm->host ? vm->host->name : "-", msg);
	vm->failed_state = st;
	set_state(c, vm, CLD_VM_FAILED);
	cld_vm_touch(c, vm);
}

/* The step's driver call succeeded: effects that belong to it. */
static void
step_succeeded(struct cld_core *c, struct cld_vm *vm, struct vm_job *j)
{
	int step = plans[vm->plan].s[vm->step].step;

	switch (step) {
	case ST_DEPLOY:
	case ST_RESTORE:
		if (j != NULL && j->out_domid != NULL) {
			free(vm->domid);
			vm->domid = j->out_domid;
			j->out_domid = NULL;
		}
		break;
	case ST_MIGRATE_MV:
	case ST_MIGRATE_LIVE:
		/* The VM now lives on the destination: a new placement. */
		hist_end(c, vm, HR_MIGRATED);
		vm->prev = vm->host;
		cld_vm_set_host(vm, vm->dest);
		vm->dest = NULL;
		hist_begin(c, vm, vm->host);
		vm->hist.prolog_end = cld_time();
		if (vm->plan == P_MIGRATE) {
			/* Cold: nothing runs on the old host any more. */
			release_host(c, vm, &vm->prev);
		}
		break;
	case ST_SHUTDOWN:
	case ST_DESTROY:
	case ST_SAVE:
		set_str(&vm->domid, NULL);
		break;
	default:
		break;
	}
	vm->step++;
	set_reason(vm, NULL);
}

static void
vm_job_done(struct cld_core *c, struct cld_job *jj)
{
	struct vm_job *j = (struct vm_job *)jj;
	struct cld_vm *vm = j->vm;

	if (vm == NULL) {
		/* Detached at its deadline or by recover: nobody waits. */
		vm_job_free(j);
		return;
	}
	vm->job = NULL;
	if (c->discard) {
		/* Stopping: the step is stored as not done and runs again. */
		vm_job_free(j);
		return;
	}
	if (j->j.rc == 0 && !j->j.timed_out) {
		step_succeeded(c, vm, j);
		if (vm->queued) {
			int q = vm->queued;

			vm->queued = 0;
			vm_job_free(j);
			if (q == P_DELETE)
				plan_start(c, vm, P_DELETE);
			return;
		}
		plan_next(c, vm);
	} else {
		char msg[CLD_ERR_MSG_MAX + 64];

		if (j->j.timed_out)
			snprintf(msg, sizeof(msg), "timed out after %" PRId64 " s",
			    (j->j.deadline_ms - j->started_ms + 500) / 1000);
		else
			snprintf(msg, sizeof(msg), "%s", j->j.err.msg);
		if (vm->queued == P_DELETE) {
			vm->queued = 0;
			cld_vm_log(c, vm, "%s failed (%s): deleting as asked",
			    step_names[j->step], msg);
			vm_job_free(j);
			plan_start(c, vm, P_DELETE);
			return;
		}
		plan_failed(c, vm, msg, j->step);
	}
	vm_job_free(j);
}

/*
 * The loop calls this at a job's deadline: cancel it and go on without
 * waiting.  The worker frees the job when the driver returns.
 */
void
cld_vm_job_timeout(struct cld_core *c, struct cld_job *jj)
{
	struct vm_job *j = (struct vm_job *)jj;
	struct cld_vm *vm = j->vm;

	char msg[128];

	cld_op_cancel(&jj->ctl);
	if (vm == NULL)
		return;
	/* The job lingers, detached, until the driver returns. */
	j->vm = NULL;
	vm->job = NULL;
	if (vm->queued == P_DELETE) {
		vm->queued = 0;
		plan_start(c, vm, P_DELETE);
		return;
	}
	snprintf(msg, sizeof(msg), "timed out after %" PRId64 " s",
	    (jj->deadline_ms - j->started_ms + 500) / 1000);
	plan_failed(c, vm, msg, j->step);
}

/* ------------------------------------------------------------ placement */

/* Allocate VM on H and start its lease there (scheduler or admin). */
static void
place(struct cld_core *c, struct cld_vm *vm, struct cld_host *h)
{
	cld_sched_vm_del(c->sched, vm->id);
	cld_vm_set_host(vm, h);
	h->nvms++;
	cld_host_alloc(c, h, vm, +1);
	hist_begin(c, vm, h);
	set_reason(vm, NULL);
	cld_vm_log(c, vm, "placed on host '%s'", h->name);
	plan_start(c, vm, vm->state == CLD_VM_STOPPED || vm->resume_state ==
	    CLD_VM_STOPPED ? P_UNSTOP : P_LEASE);
}

void
cld_vm_placed(void *ctx, int64_t vm_id, int64_t host_id)
{
	struct cld_core *c = ctx;
	struct cld_vm *vm = cld_vm_find(c, vm_id);
	struct cld_host *h = cld_host_by_id(c, host_id);
	struct cld_vnet *vn;
	struct cld_err err;

	if (vm == NULL || h == NULL || vm->state != CLD_VM_PENDING)
		return;
	cld_err_clear(&err);
	if (cld_nics_take(c, vm, &vn, &err) < 0) {
		/*
		 * A network is out of addresses: not placed after all (the
		 * scheduler counted it on H; give it H's figures again), and
		 * out of the scheduler until that network frees one.
		 */
		cld_host_sched_update(c, h);
		if (vm->reason == NULL || strcmp(vm->reason, err.msg) != 0) {
			set_reason(vm, "%s", err.msg);
			cld_vm_log(c, vm, "waiting: %s", err.msg);
			cld_vm_touch(c, vm);
		}
		cld_nics_wait(c, vm, vn);
		return;
	}
	/*
	 * The scheduler counted the allocation already; cld_host_alloc
	 * tells it the same figures again, which is harmless.
	 */
	place(c, vm, h);
}

/* ------------------------------------------------------------- actions */

static int
busy(struct cld_vm *vm, const char *action, struct cld_err *err)
{
	cld_err_set(err, CLD_EBUSY, "cannot %s VM %" PRId64 ": it is %s%s%s",
	    action, vm->id, cld_vm_state_name(vm->state),
	    vm->job ? " and busy with " : "",
	    vm->job ? (vm->progress ? vm->progress : "an operation") : "");
	return -1;
}

/* Stop tracking the job in flight: cancel it; its result will be dropped. */
static void
detach_job(struct cld_vm *vm)
{
	struct vm_job *j = (struct vm_job *)vm->job;

	if (j == NULL)
		return;
	cld_op_cancel(&j->j.ctl);
	j->vm = NULL;
	vm->job = NULL;
}

static void
finish_done(struct cld_core *c, struct cld_vm *vm)
{
	cld_sched_vm_del(c->sched, vm->id);
	vm->plan = P_NONE;
	vm->etime = cld_time();
	set_str(&vm->progress, NULL);
	set_state(c, vm, CLD_VM_DONE);
	cld_vm_touch(c, vm);
}

static int
delete_vm(struct cld_core *c, struct cld_vm *vm)
{
	if (vm->job != NULL) {
		/*
		 * Let the driver finish (cancelled) first: deleting under a
		 * deploy in flight would leave a domain behind.
		 */
		cld_op_cancel(&vm->job->ctl);
		vm->queued = P_DELETE;
		cld_vm_log(c, vm, "delete: waiting for %s to stop",
		    vm->progress ? vm->progress : "the operation");
		cld_vm_touch(c, vm);
		return 0;
	}
	if (vm->host == NULL) {
		if (vm->state == CLD_VM_STOPPED ||
		    (vm->state == CLD_VM_PENDING &&
		    vm->resume_state == CLD_VM_STOPPED))
			plan_start(c, vm, P_DELETE_STOPPED);
		else
			finish_done(c, vm);
		return 0;
	}
	plan_start(c, vm, P_DELETE);
	return 0;
}

static int
recover(struct cld_core *c, struct cld_vm *vm, const char *mode,
    struct cld_err *err)
{
	int transient = vm->job != NULL;

	if (mode == NULL) {
		cld_err_set(err, CLD_EINVAL,
		    "recover needs a mode: retry, success, failure or delete");
		return -1;
	}
	if (strcmp(mode, "delete") == 0) {
		detach_job(vm);
		vm->queued = 0;
		return delete_vm(c, vm);
	}
	if (vm->state == CLD_VM_UNKNOWN) {
		if (strcmp(mode, "success") == 0) {
			set_reason(vm, NULL);
			set_state(c, vm, CLD_VM_RUNNING);
		} else if (strcmp(mode, "failure") == 0) {
			set_reason(vm, "UNKNOWN: recovered as failed by the admin");
			vm->failed_state = CLD_VM_UNKNOWN;
			vm->plan = P_BOOT;
			vm->step = 0;
			set_state(c, vm, CLD_VM_FAILED);
		} else if (strcmp(mode, "retry") == 0)
			cld_vm_poll(c, vm);
		else
			goto bad_mode;
		cld_vm_touch(c, vm);
		return 0;
	}
	if (vm->state != CLD_VM_FAILED && !transient) {
		cld_err_set(err, CLD_EBUSY,
		    "cannot recover VM %" PRId64 ": it is %s, not FAILED, UNKNOWN or in an operation",
		    vm->id, cld_vm_state_name(vm->state));
		return -1;
	}
	if (vm->plan == P_NONE) {
		cld_err_set(err, CLD_EBUSY,
		    "cannot recover VM %" PRId64 ": nothing to retry",
		    vm->id);
		return -1;
	}
	if (strcmp(mode, "retry") == 0) {
		detach_job(vm);
		cld_vm_log(c, vm, "recover: retry");
		set_reason(vm, NULL);
		plan_next(c, vm);
	} else if (strcmp(mode, "success") == 0) {
		detach_job(vm);
		cld_vm_log(c, vm, "recover: %s taken as done",
		    step_names[plans[vm->plan].s[vm->step].step]);
		step_succeeded(c, vm, NULL);
		plan_next(c, vm);
	} else if (strcmp(mode, "failure") == 0) {
		if (!transient) {
			cld_err_set(err, CLD_EBUSY,
			    "VM %" PRId64 " is already FAILED: use retry, success or delete",
			    vm->id);
			return -1;
		}
		detach_job(vm);
		plan_failed(c, vm, "recovered as failed by the admin", ST_NONE);
	} else
		goto bad_mode;
	cld_vm_touch(c, vm);
	return 0;
bad_mode:
	cld_err_set(err, CLD_EINVAL,
	    "recover mode '%s' is not one of retry, success, failure, delete",
	    mode);
	return -1;
}

static int
check_dest(struct cld_core *c, struct cld_vm *vm, struct cld_host *h,
    const char *action, struct cld_err *err)
{
	if (h == NULL) {
		cld_err_set(err, CLD_EINVAL, "%s needs a host", action);
		return -1;
	}
	if (h->state == CLD_HOST_DISABLED || h->state == CLD_HOST_OFFLINE ||
	    h->state == CLD_HOST_ERROR) {
		cld_err_set(err, CLD_EBUSY, "cannot %s VM %" PRId64
		    " to host '%s': the host is %s", action, vm->id, h->name,
		    cld_host_state_name(h->state));
		return -1;
	}
	if (h->cpu_alloc + vm->cpu * 100 > h->tcpu + 1e-9 ||
	    h->mem_alloc + vm->memory_mb * 1024 > h->tmem) {
		cld_err_set(err, CLD_ENOSPC,
		    "host '%s' has not enough free capacity for VM %" PRId64
		    " (CPU %.0f of %.0f, memory %" PRIu64 " of %" PRIu64 " KiB allocated)",
		    h->name, vm->id, h->cpu_alloc, h->tcpu, h->mem_alloc, h->tmem);
		return -1;
	}
	return 0;
}

int
cld_vm_action(struct cld_core *c, struct cld_vm *vm, const char *a,
    struct cld_host *h, int live, int hard, const char *mode,
    struct cld_err *err)
{
	int s = vm->state;

	if (s == CLD_VM_DONE) {
		cld_err_set(err, CLD_EBUSY, "VM %" PRId64 " is DONE", vm->id);
		return -1;
	}
	if (strcmp(a, "delete") == 0) {
		cld_vm_log(c, vm, "action delete");
		return delete_vm(c, vm);
	}
	if (strcmp(a, "recover") == 0)
		return recover(c, vm, mode, err);
	if (strcmp(a, "poweroff") == 0) {
		if (vm->plan == P_SHUTDOWN && vm->step == 0 && vm->job != NULL) {
			/* Pre-empt the graceful shutdown: destroy now. */
			detach_job(vm);
			cld_vm_log(c, vm, "action poweroff: the shutdown is pre-empted");
			plan_start(c, vm, P_DELETE);
			return 0;
		}
		if (vm->job != NULL || (s != CLD_VM_RUNNING &&
		    s != CLD_VM_UNKNOWN && s != CLD_VM_SUSPENDED))
			return busy(vm, a, err);
		cld_vm_log(c, vm, "action poweroff");
		plan_start(c, vm, P_POWEROFF);
		return 0;
	}
	if (vm->job != NULL)
		return busy(vm, a, err);
	if (strcmp(a, "hold") == 0) {
		if (s != CLD_VM_PENDING)
			return busy(vm, a, err);
		cld_sched_vm_del(c->sched, vm->id);
		set_reason(vm, NULL);
		set_state(c, vm, CLD_VM_HOLD);
	} else if (strcmp(a, "release") == 0) {
		if (s != CLD_VM_HOLD)
			return busy(vm, a, err);
		set_state(c, vm, CLD_VM_PENDING);
		cld_vm_sched_add(c, vm);
	} else if (strcmp(a, "deploy") == 0) {
		if (s != CLD_VM_PENDING && s != CLD_VM_HOLD &&
		    s != CLD_VM_STOPPED)
			return busy(vm, a, err);
		if (check_dest(c, vm, h, a, err) < 0 ||
		    cld_nics_take(c, vm, &(struct cld_vnet *){ NULL }, err) < 0)
			return -1;
		if (s == CLD_VM_STOPPED)
			vm->resume_state = CLD_VM_STOPPED;
		cld_vm_log(c, vm, "action deploy on '%s'", h->name);
		place(c, vm, h);
	} else if (strcmp(a, "shutdown") == 0) {
		if (s != CLD_VM_RUNNING)
			return busy(vm, a, err);
		plan_start(c, vm, P_SHUTDOWN);
	} else if (strcmp(a, "reboot") == 0) {
		if (s != CLD_VM_RUNNING)
			return busy(vm, a, err);
		vm->resume_state = s;
		plan_start(c, vm, hard ? P_REBOOT_HARD : P_REBOOT);
	} else if (strcmp(a, "suspend") == 0) {
		if (s != CLD_VM_RUNNING)
			return busy(vm, a, err);
		vm->resume_state = s;
		plan_start(c, vm, P_SUSPEND);
	} else if (strcmp(a, "resume") == 0) {
		if (s == CLD_VM_SUSPENDED) {
			vm->resume_state = s;
			plan_start(c, vm, P_RESUME);
		} else if (s == CLD_VM_POWEROFF || s == CLD_VM_UNKNOWN)
			plan_start(c, vm, P_BOOT);
		else if (s == CLD_VM_STOPPED) {
			vm->resume_state = CLD_VM_STOPPED;
			set_state(c, vm, CLD_VM_PENDING);
			vm->resume_state = CLD_VM_STOPPED;
			cld_vm_sched_add(c, vm);
		} else
			return busy(vm, a, err);
	} else if (strcmp(a, "stop") == 0) {
		if (s != CLD_VM_RUNNING && s != CLD_VM_SUSPENDED)
			return busy(vm, a, err);
		plan_start(c, vm, P_STOP);
	} else if (strcmp(a, "migrate") == 0) {
		if (s != CLD_VM_RUNNING)
			return busy(vm, a, err);
		if (h == vm->host) {
			cld_err_set(err, CLD_EINVAL,
			    "VM %" PRId64 " already runs on '%s'", vm->id,
			    h->name);
			return -1;
		}
		if (check_dest(c, vm, h, a, err) < 0)
			return -1;
		if (live && (h->vmmd == NULL || vm->host->vmmd == NULL ||
		    cld_inst_vmm(vm->host->vmmd)->migrate == NULL)) {
			cld_err_set(err, CLD_ENOTSUP,
			    "the vmm driver of host '%s' cannot migrate VMs live",
			    vm->host->name);
			return -1;
		}
		vm->dest = h;
		h->nvms++;
		cld_host_alloc(c, h, vm, +1);
		vm->resume_state = s;
		cld_vm_log(c, vm, "action migrate%s to '%s'", live ? " --live" : "",
		    h->name);
		hist_phase(c, vm, CLD_VM_RUNNING, CLD_VM_MIGRATE);
		plan_start(c, vm, live ? P_LIVE : P_MIGRATE);
	} else {
		cld_err_set(err, CLD_EINVAL, "unknown action '%s'", a);
		return -1;
	}
	cld_vm_touch(c, vm);
	return 0;
}

/* ------------------------------------------------------------- restart */

/* After a restart: run again every step that was in flight. */
void
cld_vm_resume_all(struct cld_core *c)
{
	for (size_t i = 0; i < c->vms_cap; i++) {
		struct cld_vm *vm = c->vms[i];

		if (vm == NULL)
			continue;
		if (vm->state == CLD_VM_PENDING)
			cld_vm_sched_add(c, vm);
		if (vm->plan == P_NONE || vm->state == CLD_VM_FAILED)
			continue;
		cld_vm_log(c, vm, "cloudd restarted: running %s again",
		    step_names[plans[vm->plan].s[vm->step].step]);
		if (vm->queued == P_DELETE) {
			vm->queued = 0;
			if (vm->host == NULL)
				finish_done(c, vm);
			else
				plan_start(c, vm, P_DELETE);
			continue;
		}
		plan_next(c, vm);
	}
}

/* ---------------------------------------------------------- monitoring */

void
cld_vm_host_lost(struct cld_core *c, struct cld_host *h)
{
	for (struct cld_vm *vm = h->vms; vm != NULL; vm = vm->hnext) {
		if (vm->job != NULL)
			continue;
		if (vm->state == CLD_VM_RUNNING) {
			set_reason(vm, "host '%s' cannot be monitored: %s",
			    h->name, h->error ? h->error : "error");
			set_state(c, vm, CLD_VM_UNKNOWN);
		}
	}
}

/* The host's report lists the VM: its figures, and it is alive. */
void
cld_vm_seen(struct cld_core *c, struct cld_vm *vm, const struct cld_attr *v)
{
	const char *s;
	double d;

	if ((s = cld_vector_get(v, "CPU")) && cld_parse_double(s, &d) == 0)
		vm->ucpu = d;
	if ((s = cld_vector_get(v, "MEMORY")) && cld_parse_double(s, &d) == 0)
		vm->umem = (uint64_t)d;
	if ((s = cld_vector_get(v, "NETRX")) && cld_parse_double(s, &d) == 0)
		vm->netrx = (uint64_t)d;
	if ((s = cld_vector_get(v, "NETTX")) && cld_parse_double(s, &d) == 0)
		vm->nettx = (uint64_t)d;
	if (vm->state == CLD_VM_UNKNOWN && vm->job == NULL) {
		set_reason(vm, NULL);
		set_state(c, vm, CLD_VM_RUNNING);
	}
	cld_vm_json_invalidate(vm);
}

/*
 * Polls go through the vmm driver for the VMs a host's report did not
 * list: one job per host and round, whatever the number of VMs, so that
 * polling 100,000 VMs costs 1,000 jobs on 1,000 hosts, not 100,000.
 */
struct poll_item {
	int64_t vm_id;
	struct cld_vm_desc desc;
	char *name, *domid, *dir;
	struct cld_tmpl tmpl;
	struct cld_vm_poll out;
	int rc;
	char *error;                /* when rc < 0 */
};

struct poll_job {
	struct cld_job j;
	char *host;
	struct cld_driver_inst *vmm;
	size_t n;
	struct poll_item *items;
};

static void
poll_run(struct cld_job *jj)
{
	struct poll_job *p = (struct poll_job *)jj;

	for (size_t i = 0; i < p->n; i++) {
		struct poll_item *it = &p->items[i];

		if (cld_services.cancelled(&jj->op)) {
			it->rc = -1;
			it->error = cld_xstrdup("cancelled");
			continue;
		}
		cld_err_clear(jj->op.err);
		it->out.size = sizeof(it->out);
		it->rc = cld_inst_vmm(p->vmm)->poll(&jj->op, &it->desc, 0,
		    &it->out);
		if (it->rc < 0)
			it->error = cld_xstrdup(jj->op.err->msg);
	}
	jj->rc = 0;
}

/* What one poll said about VM. */
static void
poll_apply(struct cld_core *c, struct cld_vm *vm, const struct poll_item *it)
{
	if (vm->job != NULL ||
	    (vm->state != CLD_VM_RUNNING && vm->state != CLD_VM_UNKNOWN))
		return;
	if (it->rc < 0) {
		if (vm->state == CLD_VM_RUNNING) {
			set_reason(vm, "poll failed: %s", it->error);
			set_state(c, vm, CLD_VM_UNKNOWN);
		}
	} else if (it->out.state == CLD_POLL_MISSING ||
	    it->out.state == CLD_POLL_SHUTOFF) {
		set_reason(vm, "the VM is no longer running on '%s' (%s): it was powered off outside cloudd",
		    vm->host ? vm->host->name : "-",
		    it->out.state == CLD_POLL_MISSING ?
		    "unknown to the hypervisor" : "shut off");
		set_str(&vm->domid, NULL);
		set_state(c, vm, CLD_VM_POWEROFF);
	} else if (it->out.state == CLD_POLL_CRASHED ||
	    it->out.state == CLD_POLL_UNKNOWN) {
		set_reason(vm, "the hypervisor reports the VM %s",
		    it->out.state == CLD_POLL_CRASHED ? "crashed" :
		    "in an unknown state");
		set_state(c, vm, CLD_VM_UNKNOWN);
	} else {
		vm->ucpu = it->out.cpu;
		vm->umem = it->out.memory_kb;
		vm->netrx = it->out.netrx;
		vm->nettx = it->out.nettx;
		if (vm->state == CLD_VM_UNKNOWN) {
			set_reason(vm, NULL);
			set_state(c, vm, CLD_VM_RUNNING);
		}
		cld_vm_json_invalidate(vm);
	}
}

static void
poll_done(struct cld_core *c, struct cld_job *jj)
{
	struct poll_job *p = (struct poll_job *)jj;

	for (size_t i = 0; i < p->n; i++) {
		struct poll_item *it = &p->items[i];
		struct cld_vm *vm = cld_vm_find(c, it->vm_id);

		if (vm != NULL) {
			vm->polling = 0;
			if (!jj->timed_out && !c->discard)
				poll_apply(c, vm, it);
			if (vm->state == CLD_VM_DONE)
				cld_vm_touch(c, vm);   /* so the commit frees it */
		}
		cld_tmpl_release(&it->tmpl);
		free(it->name);
		free(it->domid);
		free(it->dir);
		free(it->error);
	}
	cld_op_ctl_release(&jj->ctl);
	free(p->items);
	free(p->host);
	free(p);
}

/* Ask the vmm driver of host H about the N VMs of VMS (all on H). */
void
cld_vm_poll_many(struct cld_core *c, struct cld_host *h, struct cld_vm **vms,
    size_t n)
{
	struct poll_job *p;
	size_t k = 0;

	if (h->vmmd == NULL || n == 0)
		return;
	p = cld_xcalloc(1, sizeof(*p));
	p->host = cld_xstrdup(h->name);
	p->vmm = h->vmmd;
	p->items = cld_xcalloc(n, sizeof(*p->items));
	for (size_t i = 0; i < n; i++) {
		struct cld_vm *vm = vms[i];
		struct poll_item *it = &p->items[k];

		if (vm->polling || vm->host != h)
			continue;
		k++;
		it->vm_id = vm->id;
		it->name = cld_xasprintf("cld-%" PRId64, vm->id);
		it->domid = vm->domid ? cld_xstrdup(vm->domid) : NULL;
		it->dir = cld_xasprintf("%s/%" PRId64, c->datastore, vm->id);
		cld_tmpl_copy(&it->tmpl, &vm->tmpl);
		it->desc.size = sizeof(it->desc);
		it->desc.id = vm->id;
		it->desc.name = it->name;
		it->desc.host = p->host;
		it->desc.domid = it->domid;
		it->desc.dir = it->dir;
		it->desc.cpu = vm->cpu;
		it->desc.vcpu = vm->vcpu;
		it->desc.memory_mb = vm->memory_mb;
		it->desc.tmpl = &it->tmpl;
		vm->polling = 1;
	}
	p->n = k;
	if (k == 0) {
		free(p->items);
		free(p->host);
		free(p);
		return;
	}
	p->j.run = poll_run;
	p->j.done = poll_done;
	cld_op_setup(&p->j.op, &p->vmm->drv, &p->j.ctl, &p->j.err,
	    c->conf->timeout_ms[CLD_TO_MONITOR]);
	p->j.deadline_ms = p->j.op.deadline_ms;
	cld_core_submit(c, &p->j);
}

void
cld_vm_poll(struct cld_core *c, struct cld_vm *vm)
{
	if (vm->host != NULL)
		cld_vm_poll_many(c, vm->host, &vm, 1);
}

/* ------------------------------------------------------- persistence */

/*
 * What is stored besides the row's columns: the user's template plus one
 * CLOUDD vector with the core's fields.
 */
char *cld_vm_body(const struct cld_vm *vm);
char *
cld_vm_body(const struct cld_vm *vm)
{
	struct cld_tmpl t;
	struct cld_attr *v;
	char buf[64];
	char *out;

	memset(&t, 0, sizeof(t));
	cld_tmpl_copy(&t, &vm->tmpl);
	v = cld_tmpl_add_vector(&t, "CLOUDD");
#define NUM(k, fmt, x) do { snprintf(buf, sizeof(buf), fmt, x); cld_vector_add(v, k, buf); } while (0)
	NUM("PLAN", "%d", vm->plan);
	NUM("STEP", "%d", vm->step);
	NUM("RESUME_STATE", "%d", vm->resume_state);
	NUM("FAILED_STATE", "%d", vm->failed_state);
	NUM("QUEUED", "%d", vm->queued);
	NUM("DEST", "%" PRId64, vm->dest ? vm->dest->id : (int64_t)-1);
	NUM("PREV", "%" PRId64, vm->prev ? vm->prev->id : (int64_t)-1);
	NUM("STIME", "%" PRId64, vm->stime);
	NUM("ETIME", "%" PRId64, vm->etime);
	NUM("HIST_SEQ", "%d", vm->hist.seq);
	if (vm->reason)
		cld_vector_add(v, "REASON", vm->reason);
	if (vm->domid)
		cld_vector_add(v, "DOMID", vm->domid);
#undef NUM
	out = cld_tmpl_print(&t);
	cld_tmpl_release(&t);
	return out;
}

/* The reverse of cld_vm_body, at start-up.  NULL with err on a bad row. */
struct cld_vm *cld_vm_from_row(struct cld_core *c, const struct cld_row *row,
    struct cld_err *err);
struct cld_vm *
cld_vm_from_row(struct cld_core *c, const struct cld_row *row,
    struct cld_err *err)
{
	struct cld_vm *vm = cld_xcalloc(1, sizeof(*vm));
	const struct cld_attr *v;
	const char *s;
	double d;
	int64_t n;

	if (cld_tmpl_parse(row->body, strlen(row->body), &vm->tmpl, err) < 0)
		goto fail;
	v = cld_tmpl_next_vector(&vm->tmpl, "CLOUDD", NULL);
	if (v == NULL) {
		cld_err_set(err, CLD_ESTORE, "no CLOUDD vector");
		goto fail;
	}
#define GETI(k, dst) do { if ((s = cld_vector_get(v, k)) && cld_parse_i64(s, &n) == 0) dst = n; } while (0)
	GETI("PLAN", vm->plan);
	GETI("STEP", vm->step);
	GETI("RESUME_STATE", vm->resume_state);
	GETI("FAILED_STATE", vm->failed_state);
	GETI("QUEUED", vm->queued);
	GETI("STIME", vm->stime);
	GETI("ETIME", vm->etime);
	GETI("HIST_SEQ", vm->hist.seq);
	n = -1;
	if ((s = cld_vector_get(v, "DEST")) && cld_parse_i64(s, &n) == 0 && n >= 0)
		vm->dest = cld_host_by_id(c, n);
	n = -1;
	if ((s = cld_vector_get(v, "PREV")) && cld_parse_i64(s, &n) == 0 && n >= 0)
		vm->prev = cld_host_by_id(c, n);
	if ((s = cld_vector_get(v, "REASON")))
		vm->reason = cld_xstrdup(s);
	if ((s = cld_vector_get(v, "DOMID")))
		vm->domid = cld_xstrdup(s);
#undef GETI
	if (vm->plan < 0 || vm->plan >= P_COUNT || vm->step < 0 ||
	    vm->step >= PLAN_MAX_STEPS) {
		cld_err_set(err, CLD_ESTORE, "bad plan %d step %d", vm->plan,
		    vm->step);
		goto fail;
	}
	cld_tmpl_remove(&vm->tmpl, "CLOUDD");
	vm->id = row->id;
	vm->name = cld_xstrdup(row->name);
	vm->uid = row->uid;
	vm->gid = row->gid;
	vm->state = row->state;
	cld_vm_set_host(vm, row->ref >= 0 ? cld_host_by_id(c, row->ref) : NULL);
	cld_tmpl_get_num(&vm->tmpl, "MEMORY", &d);
	vm->memory_mb = (uint64_t)d;
	vm->cpu = 1;
	cld_tmpl_get_num(&vm->tmpl, "CPU", &vm->cpu);
	d = 1;
	cld_tmpl_get_num(&vm->tmpl, "VCPU", &d);
	vm->vcpu = (unsigned int)d;
	return vm;
fail:
	cld_vm_free(vm);
	return NULL;
}
