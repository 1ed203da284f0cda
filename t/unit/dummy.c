/*
 * The four dummy drivers, linked in directly and driven through their class
 * tables by a stub core: the services a driver may use (log, conf_get,
 * cancelled, remaining_ms) and conf blocks built by hand.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cloudd/attr.h>
#include <cloudd/driver.h>
#include <cloudd/error.h>

#include "tap.h"

extern const struct cld_vmm_driver CLD_DRIVER_ENTRY(vmm_dummy);
extern const struct cld_im_driver CLD_DRIVER_ENTRY(im_dummy);
extern const struct cld_tm_driver CLD_DRIVER_ENTRY(tm_dummy);
extern const struct cld_net_driver CLD_DRIVER_ENTRY(net_dummy);

#define VMM (&CLD_DRIVER_ENTRY(vmm_dummy))
#define IM (&CLD_DRIVER_ENTRY(im_dummy))
#define TM (&CLD_DRIVER_ENTRY(tm_dummy))
#define NET (&CLD_DRIVER_ENTRY(net_dummy))

/* -- the stub core -- */

static pthread_mutex_t t_log_lock = PTHREAD_MUTEX_INITIALIZER;
static char t_last_log[512];     /* the last line logged, when capturing */
static int t_capture = 1;        /* format lines (off in the loops) */
static atomic_long t_nlog;       /* lines logged */

static CLD_PRINTF(3, 4) void
t_log(const struct cld_drv *drv, int level, const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(&t_nlog, 1);
	if (!t_capture)
		return;
	pthread_mutex_lock(&t_log_lock);
	va_start(ap, fmt);
	vsnprintf(t_last_log, sizeof(t_last_log), fmt, ap);
	va_end(ap);
	if (level != CLD_LOG_DEBUG)
		diag("%s: %s", drv->name, t_last_log);
	pthread_mutex_unlock(&t_log_lock);
}

static const char *
t_conf_get(const struct cld_drv *drv, const char *name)
{
	return drv->conf == NULL ? NULL : cld_vector_get(drv->conf, name);
}

static int64_t
t_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double
t_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
t_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1)
		;
}

/* One call: the operation, its error report and its cancel flag (op.core). */
struct t_call {
	struct cld_op op;
	struct cld_err err;
	atomic_int cancelled;
};

static int
t_cancelled(const struct cld_op *op)
{
	struct t_call *c = op->core;

	return atomic_load(&c->cancelled);
}

static int64_t
t_remaining_ms(const struct cld_op *op)
{
	int64_t left;

	if (op->deadline_ms <= 0)
		return INT64_MAX;
	left = op->deadline_ms - t_now_ms();
	return left < 0 ? 0 : left;
}

static const struct cld_services t_svc = {
	.size = sizeof(struct cld_services),
	.abi_major = CLD_ABI_MAJOR,
	.abi_minor = CLD_ABI_MINOR,
	.log = t_log,
	.conf_get = t_conf_get,
	.run = NULL,
	.ssh = NULL,
	.shell_quote = NULL,
	.cancelled = t_cancelled,
	.remaining_ms = t_remaining_ms,
	.progress = NULL,
};

/* A fresh call on DRV with TIMEOUT_MS (0: no deadline). */
static struct cld_op *
t_call(struct t_call *c, struct cld_drv *drv, int64_t timeout_ms)
{
	memset(c, 0, sizeof(*c));
	atomic_init(&c->cancelled, 0);
	cld_err_clear(&c->err);
	c->op.drv = drv;
	c->op.err = &c->err;
	c->op.deadline_ms = timeout_ms > 0 ? t_now_ms() + timeout_ms : 0;
	c->op.core = c;
	return &c->op;
}

/* A driver instance and its conf block. */
struct t_inst {
	struct cld_drv drv;
	struct cld_attr block;
	const struct cld_driver *hdr;
	struct cld_err err;
};

#define A(n, v) { (n), (v), NULL, 0, 0, 0 }
#define END { NULL, NULL, NULL, 0, 0, 0 }

/*
 * Start an instance of HDR called NAME on ATTRS (ended by END), which must
 * outlive it.  Returns what init returned.
 */
static int
t_open(struct t_inst *t, const void *table, const char *name,
    struct cld_attr *attrs)
{
	size_t n = 0;

	memset(t, 0, sizeof(*t));
	while (attrs != NULL && attrs[n].name != NULL)
		n++;
	t->hdr = table;
	t->block.name = "DRIVER";
	t->block.sub = attrs;
	t->block.nsub = n;
	t->drv.svc = &t_svc;
	t->drv.name = name;
	t->drv.module = "dummy";
	t->drv.conf = &t->block;
	cld_err_clear(&t->err);
	return t->hdr->init(&t->drv, &t->err);
}

static void
t_close(struct t_inst *t)
{
	t->hdr->fini(&t->drv);
}

static void
t_vm(struct cld_vm_desc *vm, const char *name, const char *host)
{
	memset(vm, 0, sizeof(*vm));
	vm->size = sizeof(*vm);
	vm->id = 7;
	vm->name = name;
	vm->host = host;
	vm->dir = "/var/lib/cloudd/0/7";
	vm->cpu = 2.0;
	vm->vcpu = 2;
	vm->memory_mb = 1024;
}

/* Poll VM on T and return its state, or -1 if poll failed. */
static int
t_state(struct t_inst *t, const struct cld_vm_desc *vm, struct cld_vm_poll *out)
{
	struct cld_vm_poll p;
	struct t_call c;

	if (out == NULL)
		out = &p;
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	if (VMM->poll(t_call(&c, &t->drv, 0), vm, 0, out) == -1) {
		diag("poll '%s': %s", vm->name, c.err.msg);
		return -1;
	}
	return out->state;
}

/* Check the result of a failed call. */
static void
t_fails(int rc, const struct t_call *c, int code, const char *msg,
    const char *what)
{
	ok(rc == -1 && c->err.code == code, "%s fails with code %d (got %d, %d)",
	    what, code, rc, c->err.code);
	is_str(c->err.msg, msg, "%s: message", what);
}

/* -- the tests -- */

static void
test_headers(void)
{
	const struct cld_driver *h[] = { &VMM->hdr, &IM->hdr, &TM->hdr, &NET->hdr };
	const uint32_t klass[] = { CLD_CLASS_VMM, CLD_CLASS_IM, CLD_CLASS_TM,
		CLD_CLASS_NET };
	const size_t size[] = { sizeof(struct cld_vmm_driver),
		sizeof(struct cld_im_driver), sizeof(struct cld_tm_driver),
		sizeof(struct cld_net_driver) };
	size_t i;

	for (i = 0; i < 4; i++) {
		ok(h[i]->magic == CLD_DRIVER_MAGIC, "table %zu: magic", i);
		ok(h[i]->abi_major == CLD_ABI_MAJOR &&
		    h[i]->abi_minor == CLD_ABI_MINOR, "table %zu: abi %u.%u", i,
		    h[i]->abi_major, h[i]->abi_minor);
		is_int(h[i]->klass, klass[i], "table %zu: class", i);
		is_int(h[i]->size, size[i], "table %zu: size", i);
		is_str(h[i]->name, "dummy", "table %zu: name", i);
		ok(h[i]->version != NULL && *h[i]->version != '\0',
		    "table %zu: version '%s'", i, h[i]->version);
		ok(h[i]->init != NULL && h[i]->fini != NULL, "table %zu: init, fini", i);
	}
	ok(VMM->deploy && VMM->shutdown && VMM->destroy && VMM->poll,
	    "vmm: required operations");
	ok(VMM->reboot && VMM->suspend && VMM->resume && VMM->save &&
	    VMM->restore && VMM->migrate, "vmm: optional operations too");
	ok(IM->monitor != NULL, "im: monitor");
	ok(TM->clone && TM->delete, "tm: required operations");
	ok(TM->link && TM->mkimage && TM->mkswap && TM->context && TM->mv,
	    "tm: optional operations too");
	ok(NET->pre && NET->clean, "net: required operations");
	ok(NET->post != NULL, "net: post too");
}

struct t_bad {
	const void *table;
	const char *n1, *v1, *n2, *v2;
	const char *msg;
};

static void
test_init_errors(void)
{
	static const struct t_bad bad[] = {
		{ VMM, "DELAY", "abc", NULL, NULL,
		  "DELAY: 'abc' is not a number of seconds" },
		{ VMM, "DELAY", "-1", NULL, NULL,
		  "DELAY: '-1' is not a number of seconds" },
		{ VMM, "DELAY", "1e3", NULL, NULL,
		  "DELAY: '1e3' is not a number of seconds" },
		{ VMM, "DELAY", "", NULL, NULL,
		  "DELAY: '' is not a number of seconds" },
		{ VMM, "DELAY", ".", NULL, NULL,
		  "DELAY: '.' is not a number of seconds" },
		{ VMM, "DELAY", " 1", NULL, NULL,
		  "DELAY: ' 1' is not a number of seconds" },
		{ VMM, "DELAY", "99999999999999999999999", NULL, NULL,
		  "DELAY: '99999999999999999999999' is more than 31536000 seconds" },
		{ VMM, "DEPLOY_DELAY", "soon", NULL, NULL,
		  "DEPLOY_DELAY: 'soon' is not a number of seconds" },
		{ VMM, "CLONE_DELAY", "1", NULL, NULL,
		  "CLONE_DELAY: the vmm driver has no operation 'clone'" },
		{ VMM, "CLONE_FAIL", "x", NULL, NULL,
		  "CLONE_FAIL: the vmm driver has no operation 'clone'" },
		{ IM, "DEPLOY_DELAY", "1", NULL, NULL,
		  "DEPLOY_DELAY: the im driver has no operation 'deploy'" },
		{ TM, "PRE_FAIL", "x", NULL, NULL,
		  "PRE_FAIL: the tm driver has no operation 'pre'" },
		{ NET, "MV_DELAY", "1", NULL, NULL,
		  "MV_DELAY: the net driver has no operation 'mv'" },
		{ VMM, "HANG", "deploy, bogus", NULL, NULL,
		  "HANG: the vmm driver has no operation 'bogus'" },
		{ NET, "HANG", "Clone", NULL, NULL,
		  "HANG: the net driver has no operation 'clone'" },
		{ VMM, "HANG", "deploy,,poll", NULL, NULL,
		  "HANG: 'deploy,,poll' has an empty operation name" },
		{ VMM, "HANG", "deploy,", NULL, NULL,
		  "HANG: 'deploy,' has an empty operation name" },
		{ VMM, "HANG_MAX", "forever", NULL, NULL,
		  "HANG_MAX: 'forever' is not a number of seconds" },
		{ VMM, "FAIL", "", NULL, NULL, "FAIL: the message is empty" },
		{ TM, "CLONE_FAIL", "", NULL, NULL,
		  "CLONE_FAIL: the message is empty" },
		{ VMM, "DELAY", "1", "DELAY", "2", "DELAY: given more than once" },
		{ VMM, "CPU_USAGE", "half", NULL, NULL,
		  "CPU_USAGE: 'half' is not a number from 0 to 1000" },
		{ VMM, "MEMORY_USAGE", "1.5", NULL, NULL,
		  "MEMORY_USAGE: '1.5' is not a number from 0 to 1" },
		{ IM, "TOTALCPU", "many", NULL, NULL,
		  "TOTALCPU: 'many' is not a whole number" },
		{ IM, "TOTALCPU", "0", NULL, NULL, "TOTALCPU: '0' is less than 1" },
		{ IM, "TOTALMEMORY", "-5", NULL, NULL,
		  "TOTALMEMORY: '-5' is not a whole number" },
		{ IM, "CPUSPEED", "99999999999999999999", NULL, NULL,
		  "CPUSPEED: '99999999999999999999' is not a whole number" },
		{ IM, "USEDCPU", "900", NULL, NULL,
		  "USEDCPU: 900 is more than TOTALCPU (800)" },
		{ IM, "TOTALMEMORY", "1024", "USEDMEMORY", "2048",
		  "USEDMEMORY: 2048 is more than TOTALMEMORY (1024)" },
		{ IM, "ARCH", "x86 64", NULL, NULL,
		  "ARCH: 'x86 64' is not an architecture name" },
		{ TM, "DELAY", "1,5", NULL, NULL,
		  "DELAY: '1,5' is not a number of seconds" },
		{ NET, "POST_DELAY", "1s", NULL, NULL,
		  "POST_DELAY: '1s' is not a number of seconds" },
		{ VMM, "STATE", "vmm.state", NULL, NULL,
		  "STATE: 'vmm.state' is not an absolute path" },
		{ VMM, "STATE", "", NULL, NULL,
		  "STATE: '' is not an absolute path" },
		{ VMM, "STATE", "/a", "STATE", "/b", "STATE: given more than once" },
	};
	struct cld_attr vec[] = { A("X", "1"), END };
	struct cld_attr attrs[5];
	struct t_inst t;
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = 0;
		attrs[n++] = (struct cld_attr)A("NAME", "bad");
		attrs[n++] = (struct cld_attr)A((char *)bad[i].n1, (char *)bad[i].v1);
		if (bad[i].n2 != NULL)
			attrs[n++] = (struct cld_attr)A((char *)bad[i].n2,
			    (char *)bad[i].v2);
		attrs[n++] = (struct cld_attr)A("MODULE", "dummy");
		attrs[n] = (struct cld_attr)END;
		if (t_open(&t, bad[i].table, "bad", attrs) == 0) {
			ok(0, "init refuses %s = '%s'", bad[i].n1, bad[i].v1);
			t_close(&t);
			continue;
		}
		ok(t.err.code == CLD_ECONFIG && t.drv.priv == NULL,
		    "init refuses %s = '%s' with CLD_ECONFIG", bad[i].n1, bad[i].v1);
		is_str(t.err.msg, bad[i].msg, "  and says why");
	}

	/* A vector where a value belongs. */
	attrs[0] = (struct cld_attr)A("NAME", "bad");
	attrs[1] = (struct cld_attr){ "DELAY", NULL, vec, 1, 0, 0 };
	attrs[2] = (struct cld_attr)END;
	ok(t_open(&t, VMM, "bad", attrs) == -1 && t.err.code == CLD_ECONFIG,
	    "init refuses a vector DELAY");
	is_str(t.err.msg, "DELAY: expected a single value, not a vector",
	    "  and says why");
}

static void
test_init_ok(void)
{
	struct cld_attr a1[] = { A("NAME", "ok"), A("MODULE", "dummy"),
		A("CLASS", "vmm"), A("FOO", "bar"), A("_DELAY", "x"),
		A("DELAY", "0.5"), A("DEPLOY_DELAY", ".25"), A("POLL_DELAY", "0"),
		A("SHUTDOWN_FAIL", "x"), A("HANG", " Deploy , SHUTDOWN "),
		A("HANG_MAX", "2."), A("CPU_USAGE", "2.5"),
		A("MEMORY_USAGE", "1"), END };
	struct cld_attr a2[] = { A("HANG", "all"), A("CLONE_DELAY", "1"),
		A("MV_FAIL", "y"), END };
	struct cld_attr a3[] = { A("HANG", ""), A("TOTALCPU", "100"),
		A("USEDCPU", "100"), A("ARCH", "ppc64le"), END };
	struct t_inst t;

	ok(t_open(&t, VMM, "ok", a1) == 0,
	    "vmm init takes good values and ignores what is not its own (%s)",
	    t.err.msg);
	t_close(&t);
	ok(t.drv.priv == NULL, "fini clears priv");
	ok(t_open(&t, TM, "ok", a2) == 0, "tm init takes HANG = all (%s)",
	    t.err.msg);
	t_close(&t);
	ok(t_open(&t, IM, "ok", a3) == 0,
	    "im init takes an empty HANG and a host in full use (%s)", t.err.msg);
	t_close(&t);
	ok(t_open(&t, NET, "ok", NULL) == 0, "net init takes an empty block (%s)",
	    t.err.msg);
	t_close(&t);
	t.hdr->fini(&t.drv);
	ok(1, "fini twice is harmless");
}

static void
test_vmm_ops(void)
{
	struct cld_attr attrs[] = { A("CPU_USAGE", "0.25"),
		A("MEMORY_USAGE", "0.5"), END };
	struct cld_vm_desc vm, vm2, vm8;
	struct cld_vm_poll p;
	struct t_inst t;
	struct t_call c;
	char *id = NULL, *id2 = NULL;
	int rc;

	if (t_open(&t, VMM, "vmm-ops", attrs) == -1) {
		ok(0, "vmm init: %s", t.err.msg);
		return;
	}
	t_vm(&vm, "cld-7", "node1");
	t_vm(&vm2, "cld-7", "node2");
	t_vm(&vm8, "cld-8", "node1");

	rc = VMM->deploy(t_call(&c, &t.drv, 0), &vm, 0, &id);
	ok(rc == 0, "deploy (%s)", c.err.msg);
	is_str(id, "1", "  domid");
	is_str(t_last_log, "deploy 'cld-7' on 'node1'", "  logs its arguments");
	rc = VMM->deploy(t_call(&c, &t.drv, 0), &vm, 0, &id2);
	ok(rc == 0, "deploy again (%s)", c.err.msg);
	is_str(id2, id, "  same domid");
	free(id2);
	id2 = NULL;

	is_int(t_state(&t, &vm, &p), CLD_POLL_RUNNING, "poll: running");
	ok(p.cpu > 49.999 && p.cpu < 50.001, "  cpu = 2 cores x 100 x 0.25 (%g)",
	    p.cpu);
	is_int(p.memory_kb, 524288, "  memory = 1024 MiB x 1024 x 0.5");
	ok(p.netrx == 1000 && p.nettx == 500, "  network (%llu, %llu)",
	    (unsigned long long)p.netrx, (unsigned long long)p.nettx);
	is_str(t_last_log, "poll 'cld-7' on 'node1'", "  logs its arguments");
	t_state(&t, &vm, &p);
	ok(p.netrx == 2000 && p.nettx == 1000, "  network grows (%llu, %llu)",
	    (unsigned long long)p.netrx, (unsigned long long)p.nettx);
	is_int(t_state(&t, &vm8, &p), CLD_POLL_MISSING, "poll: missing");
	ok(p.cpu == 0 && p.memory_kb == 0, "  no figures");
	is_int(t_state(&t, &vm2, NULL), CLD_POLL_MISSING,
	    "poll: same name, other host: missing");

	ok(VMM->suspend(t_call(&c, &t.drv, 0), &vm, 0) == 0, "suspend (%s)",
	    c.err.msg);
	is_int(t_state(&t, &vm, &p), CLD_POLL_PAUSED, "  paused");
	ok(p.cpu == 0 && p.memory_kb == 524288, "  holds memory, uses no cpu");
	ok(VMM->suspend(t_call(&c, &t.drv, 0), &vm, 0) == 0, "suspend again (%s)",
	    c.err.msg);
	rc = VMM->reboot(t_call(&c, &t.drv, 0), &vm, 0);
	t_fails(rc, &c, CLD_EINVAL, "'cld-7' is not running on 'node1'",
	    "reboot while paused");
	rc = VMM->deploy(t_call(&c, &t.drv, 0), &vm, 0, &id2);
	t_fails(rc, &c, CLD_EEXIST, "'cld-7' is paused on 'node1'",
	    "deploy while paused");
	ok(id2 == NULL, "  no domid");
	ok(VMM->resume(t_call(&c, &t.drv, 0), &vm, 0) == 0, "resume (%s)",
	    c.err.msg);
	is_int(t_state(&t, &vm, NULL), CLD_POLL_RUNNING, "  running");
	ok(VMM->resume(t_call(&c, &t.drv, 0), &vm, 0) == 0, "resume again (%s)",
	    c.err.msg);
	rc = VMM->suspend(t_call(&c, &t.drv, 0), &vm8, 0);
	t_fails(rc, &c, CLD_EINVAL, "'cld-8' is not running on 'node1'",
	    "suspend a missing VM");
	rc = VMM->resume(t_call(&c, &t.drv, 0), &vm8, 0);
	t_fails(rc, &c, CLD_EINVAL, "'cld-8' is not running on 'node1'",
	    "resume a missing VM");

	ok(VMM->reboot(t_call(&c, &t.drv, 0), &vm, 0) == 0, "reboot (%s)",
	    c.err.msg);
	ok(VMM->reboot(t_call(&c, &t.drv, 0), &vm, CLD_REBOOT_HARD) == 0,
	    "reboot hard (%s)", c.err.msg);
	t_state(&t, &vm, &p);
	ok(p.state == CLD_POLL_RUNNING && p.netrx == 1000,
	    "  running, counters from the reboot (%llu)",
	    (unsigned long long)p.netrx);
	rc = VMM->reboot(t_call(&c, &t.drv, 0), &vm8, 0);
	t_fails(rc, &c, CLD_EINVAL, "'cld-8' is not running on 'node1'",
	    "reboot a missing VM");

	/* save, restore */
	ok(VMM->save(t_call(&c, &t.drv, 0), &vm, "/var/save/7", 0) == 0,
	    "save (%s)", c.err.msg);
	is_str(t_last_log, "save 'cld-7' on 'node1' to '/var/save/7'",
	    "  logs its arguments");
	is_int(t_state(&t, &vm, NULL), CLD_POLL_MISSING, "  gone");
	ok(VMM->save(t_call(&c, &t.drv, 0), &vm, "/var/save/7", 0) == 0,
	    "save again (%s)", c.err.msg);
	rc = VMM->save(t_call(&c, &t.drv, 0), &vm8, "/var/save/8", 0);
	t_fails(rc, &c, CLD_EINVAL, "'cld-8' is not running on 'node1'",
	    "save a missing VM");
	rc = VMM->restore(t_call(&c, &t.drv, 0), &vm, "/nowhere", 0, &id2);
	t_fails(rc, &c, CLD_ENOENT, "no saved state of 'cld-7' in '/nowhere'",
	    "restore from an unknown path");
	rc = VMM->restore(t_call(&c, &t.drv, 0), &vm8, "/var/save/7", 0, &id2);
	t_fails(rc, &c, CLD_ENOENT, "no saved state of 'cld-8' in '/var/save/7'",
	    "restore another VM's save");
	rc = VMM->restore(t_call(&c, &t.drv, 0), &vm2, "/var/save/7", 0, &id2);
	ok(rc == 0, "restore, on another host (%s)", c.err.msg);
	ok(id2 != NULL && strcmp(id2, id) != 0, "  a new domid (%s, was %s)",
	    id2 ? id2 : "-", id);
	t_state(&t, &vm2, &p);
	ok(p.state == CLD_POLL_RUNNING && p.netrx == 2000,
	    "  running, with its counters (%llu)", (unsigned long long)p.netrx);
	free(id);
	id = id2;
	id2 = NULL;
	rc = VMM->restore(t_call(&c, &t.drv, 0), &vm2, "/var/save/7", 0, &id2);
	ok(rc == 0, "restore again (%s)", c.err.msg);
	is_str(id2, id, "  same domid");
	free(id2);
	id2 = NULL;

	/* migrate */
	ok(VMM->migrate(t_call(&c, &t.drv, 0), &vm2, "node1", CLD_MIGRATE_LIVE) == 0,
	    "migrate live (%s)", c.err.msg);
	is_str(t_last_log, "migrate 'cld-7' from 'node2' to 'node1' (live)",
	    "  logs its arguments");
	is_int(t_state(&t, &vm2, NULL), CLD_POLL_MISSING, "  gone from the source");
	is_int(t_state(&t, &vm, NULL), CLD_POLL_RUNNING, "  running on the destination");
	ok(VMM->migrate(t_call(&c, &t.drv, 0), &vm2, "node1", CLD_MIGRATE_LIVE) == 0,
	    "migrate again (%s)", c.err.msg);
	rc = VMM->deploy(t_call(&c, &t.drv, 0), &vm, 0, &id2);
	ok(rc == 0, "deploy on the destination (%s)", c.err.msg);
	is_str(id2, id, "  the domid it had");
	free(id2);
	id2 = NULL;
	ok(VMM->suspend(t_call(&c, &t.drv, 0), &vm, 0) == 0, "suspend");
	ok(VMM->migrate(t_call(&c, &t.drv, 0), &vm, "node2", 0) == 0,
	    "migrate paused (%s)", c.err.msg);
	is_int(t_state(&t, &vm2, NULL), CLD_POLL_PAUSED, "  still paused");
	ok(VMM->resume(t_call(&c, &t.drv, 0), &vm2, 0) == 0, "resume");
	rc = VMM->migrate(t_call(&c, &t.drv, 0), &vm8, "node2", 0);
	t_fails(rc, &c, CLD_EINVAL, "'cld-8' is not running on 'node1'",
	    "migrate a missing VM");
	rc = VMM->deploy(t_call(&c, &t.drv, 0), &vm, 0, &id2);
	ok(rc == 0, "deploy a twin on node1 (%s)", c.err.msg);
	free(id2);
	id2 = NULL;
	rc = VMM->migrate(t_call(&c, &t.drv, 0), &vm, "node2", 0);
	t_fails(rc, &c, CLD_EEXIST, "'cld-7' runs on 'node2' already",
	    "migrate onto a twin");
	is_int(t_state(&t, &vm, NULL), CLD_POLL_RUNNING, "  both still run");
	is_int(t_state(&t, &vm2, NULL), CLD_POLL_RUNNING, "  both still run");

	/* shutdown, destroy */
	ok(VMM->shutdown(t_call(&c, &t.drv, 0), &vm, 0) == 0, "shutdown (%s)",
	    c.err.msg);
	is_str(t_last_log, "shutdown 'cld-7' on 'node1'", "  logs its arguments");
	is_int(t_state(&t, &vm, NULL), CLD_POLL_MISSING, "  gone");
	ok(VMM->shutdown(t_call(&c, &t.drv, 0), &vm, 0) == 0, "shutdown again");
	ok(VMM->destroy(t_call(&c, &t.drv, 0), &vm2, 0) == 0, "destroy (%s)",
	    c.err.msg);
	is_int(t_state(&t, &vm2, NULL), CLD_POLL_MISSING, "  gone");
	ok(VMM->destroy(t_call(&c, &t.drv, 0), &vm2, 0) == 0, "destroy again");
	rc = VMM->restore(t_call(&c, &t.drv, 0), &vm2, "/var/save/7", 0, &id2);
	t_fails(rc, &c, CLD_ENOENT, "no saved state of 'cld-7' in '/var/save/7'",
	    "a save is restored once");

	free(id);
	t_close(&t);
}

static void
test_flags(void)
{
	struct t_inst v, i, tm, n;
	struct cld_vm_desc vm;
	struct cld_vm_poll p = { .size = sizeof(p) };
	const char *files[] = { "/etc/hosts" };
	const char *bad = "unknown flags 0x80000000";
	const unsigned int f = 0x80000000u;
	struct t_call c;
	char *s = NULL;
	int rc;

	t_vm(&vm, "cld-7", "node1");
	if (t_open(&v, VMM, "v", NULL) || t_open(&i, IM, "i", NULL) ||
	    t_open(&tm, TM, "t", NULL) || t_open(&n, NET, "n", NULL)) {
		ok(0, "init");
		return;
	}
#define T_BAD(call, what) do {                                          \
		rc = (call);                                            \
		t_fails(rc, &c, CLD_EINVAL, bad, what);                 \
	} while (0)
	T_BAD(VMM->deploy(t_call(&c, &v.drv, 0), &vm, f, &s), "vmm deploy");
	ok(s == NULL, "  no domid");
	T_BAD(VMM->shutdown(t_call(&c, &v.drv, 0), &vm, f), "vmm shutdown");
	T_BAD(VMM->destroy(t_call(&c, &v.drv, 0), &vm, f), "vmm destroy");
	T_BAD(VMM->reboot(t_call(&c, &v.drv, 0), &vm, f | CLD_REBOOT_HARD),
	    "vmm reboot");
	T_BAD(VMM->suspend(t_call(&c, &v.drv, 0), &vm, f), "vmm suspend");
	T_BAD(VMM->resume(t_call(&c, &v.drv, 0), &vm, f), "vmm resume");
	T_BAD(VMM->save(t_call(&c, &v.drv, 0), &vm, "/s", f), "vmm save");
	T_BAD(VMM->restore(t_call(&c, &v.drv, 0), &vm, "/s", f, &s), "vmm restore");
	T_BAD(VMM->migrate(t_call(&c, &v.drv, 0), &vm, "node2",
	    f | CLD_MIGRATE_LIVE), "vmm migrate");
	T_BAD(VMM->poll(t_call(&c, &v.drv, 0), &vm, f, &p), "vmm poll");
	T_BAD(IM->monitor(t_call(&c, &i.drv, 0), "node1", f, &s), "im monitor");
	ok(s == NULL, "  no report");
	T_BAD(TM->clone(t_call(&c, &tm.drv, 0), &vm, "/a", "node1", "/b", f),
	    "tm clone");
	T_BAD(TM->link(t_call(&c, &tm.drv, 0), &vm, "/a", "node1", "/b", f),
	    "tm link");
	T_BAD(TM->mkimage(t_call(&c, &tm.drv, 0), &vm, "node1", "/b", 10, "ext4",
	    f), "tm mkimage");
	T_BAD(TM->mkswap(t_call(&c, &tm.drv, 0), &vm, "node1", "/b", 10, f),
	    "tm mkswap");
	T_BAD(TM->context(t_call(&c, &tm.drv, 0), &vm, files, 1, "node1", "/b", f),
	    "tm context");
	T_BAD(TM->mv(t_call(&c, &tm.drv, 0), &vm, "node1", "/a", "node2", "/b",
	    f | CLD_TM_MOVE_LIVE), "tm mv");
	T_BAD(TM->delete(t_call(&c, &tm.drv, 0), &vm, "node1", "/b", f),
	    "tm delete");
	T_BAD(NET->pre(t_call(&c, &n.drv, 0), &vm, f), "net pre");
	T_BAD(NET->post(t_call(&c, &n.drv, 0), &vm, f), "net post");
	T_BAD(NET->clean(t_call(&c, &n.drv, 0), &vm, f), "net clean");
#undef T_BAD

	/* The one flag each op knows belongs to that op only. */
	rc = VMM->deploy(t_call(&c, &v.drv, 0), &vm, CLD_REBOOT_HARD, &s);
	t_fails(rc, &c, CLD_EINVAL, "unknown flags 0x1", "deploy with a reboot flag");
	rc = VMM->reboot(t_call(&c, &v.drv, 0), &vm, CLD_REBOOT_HARD | 0x2);
	t_fails(rc, &c, CLD_EINVAL, "unknown flags 0x2", "reboot with 0x3");
	rc = TM->clone(t_call(&c, &tm.drv, 0), &vm, "/a", "node1", "/b",
	    CLD_TM_MOVE_LIVE);
	t_fails(rc, &c, CLD_EINVAL, "unknown flags 0x1", "clone with a mv flag");
	rc = TM->mv(t_call(&c, &tm.drv, 0), &vm, "node1", "/a", "node2", "/b",
	    CLD_TM_MOVE_LIVE);
	ok(rc == 0, "mv live (%s)", c.err.msg);
	is_int(t_state(&v, &vm, NULL), CLD_POLL_MISSING,
	    "a refused deploy deployed nothing");
	t_close(&v);
	t_close(&i);
	t_close(&tm);
	t_close(&n);
}

static void
test_im(void)
{
	struct cld_attr big[] = { A("NAME", "dummy-big"), A("TOTALCPU", "1600"),
		A("CPUSPEED", "3000"), A("TOTALMEMORY", "33554432"),
		A("USEDCPU", "100"), A("USEDMEMORY", "1048576"),
		A("ARCH", "aarch64"), END };
	struct t_inst t, d;
	struct t_call c;
	char *r = NULL;
	int rc;

	if (t_open(&t, IM, "dummy-big", big) == -1 ||
	    t_open(&d, IM, "dummy-default", NULL) == -1) {
		ok(0, "im init: %s", t.err.msg);
		return;
	}
	rc = IM->monitor(t_call(&c, &t.drv, 0), "node1", 0, &r);
	ok(rc == 0, "monitor (%s)", c.err.msg);
	is_str(r,
	    "HYPERVISOR = \"dummy\"\n"
	    "HOSTNAME = \"node1\"\n"
	    "TOTALCPU = 1600\n"
	    "CPUSPEED = 3000\n"
	    "TOTALMEMORY = 33554432\n"
	    "USEDMEMORY = 1048576\n"
	    "FREEMEMORY = 32505856\n"
	    "USEDCPU = 100\n"
	    "FREECPU = 1500\n"
	    "NETRX = 1000\n"
	    "NETTX = 500\n"
	    "ARCH = \"aarch64\"\n", "  the report of a configured host");
	is_str(t_last_log, "monitor 'node1'", "  logs its arguments");
	free(r);
	r = NULL;
	rc = IM->monitor(t_call(&c, &t.drv, 0), "node1", 0, &r);
	ok(rc == 0 && r != NULL && strstr(r, "\nNETRX = 2000\nNETTX = 1000\n"),
	    "monitor again: the network counters grow");
	free(r);
	r = NULL;
	rc = IM->monitor(t_call(&c, &d.drv, 0), "node2", 0, &r);
	ok(rc == 0, "monitor with the defaults (%s)", c.err.msg);
	is_str(r,
	    "HYPERVISOR = \"dummy\"\n"
	    "HOSTNAME = \"node2\"\n"
	    "TOTALCPU = 800\n"
	    "CPUSPEED = 2400\n"
	    "TOTALMEMORY = 16777216\n"
	    "USEDMEMORY = 0\n"
	    "FREEMEMORY = 16777216\n"
	    "USEDCPU = 0\n"
	    "FREECPU = 800\n"
	    "NETRX = 1000\n"
	    "NETTX = 500\n"
	    "ARCH = \"x86_64\"\n", "  the default host; instances do not share");
	free(r);
	r = NULL;
	rc = IM->monitor(t_call(&c, &d.drv, 0), "no\"de", 0, &r);
	t_fails(rc, &c, CLD_EINVAL, "host name 'no\"de' cannot be reported",
	    "monitor a host name that cannot be quoted");
	ok(r == NULL, "  no report");
	t_close(&t);
	t_close(&d);
}

static void
test_tm_net(void)
{
	struct t_inst tm, n;
	struct cld_vm_desc vm;
	const char *files[] = { "/etc/hosts", "/etc/passwd" };
	struct t_call c;

	t_vm(&vm, "cld-7", "node1");
	if (t_open(&tm, TM, "t", NULL) || t_open(&n, NET, "n", NULL)) {
		ok(0, "init");
		return;
	}
	ok(TM->clone(t_call(&c, &tm.drv, 0), &vm, "/img/debian", "node1",
	    "/var/7/disk.0", 0) == 0, "tm clone");
	is_str(t_last_log, "clone '/img/debian' to 'node1:/var/7/disk.0' for 'cld-7'",
	    "  logs its arguments");
	ok(TM->link(t_call(&c, &tm.drv, 0), &vm, "/img/data", "node1",
	    "/var/7/disk.1", 0) == 0, "tm link");
	ok(TM->mkimage(t_call(&c, &tm.drv, 0), &vm, "node1", "/var/7/disk.2",
	    1024, "ext4", 0) == 0, "tm mkimage");
	is_str(t_last_log, "mkimage 1024 MiB 'ext4' at 'node1:/var/7/disk.2' for 'cld-7'",
	    "  logs its arguments");
	ok(TM->mkswap(t_call(&c, &tm.drv, 0), &vm, "node1", "/var/7/disk.3", 512,
	    0) == 0, "tm mkswap");
	ok(TM->context(t_call(&c, &tm.drv, 0), &vm, files, 2, "node1",
	    "/var/7/disk.4", 0) == 0, "tm context");
	ok(TM->mv(t_call(&c, &tm.drv, 0), &vm, "node1", "/var/7", "node2",
	    "/var/7", 0) == 0, "tm mv");
	ok(TM->delete(t_call(&c, &tm.drv, 0), NULL, "node1", "/var/7", 0) == 0,
	    "tm delete, with no VM");
	is_str(t_last_log, "delete 'node1:/var/7' for '-'", "  logs its arguments");
	ok(NET->pre(t_call(&c, &n.drv, 0), &vm, 0) == 0, "net pre");
	is_str(t_last_log, "pre 'cld-7' on 'node1'", "  logs its arguments");
	ok(NET->post(t_call(&c, &n.drv, 0), &vm, 0) == 0, "net post");
	ok(NET->clean(t_call(&c, &n.drv, 0), &vm, 0) == 0, "net clean");
	is_str(t_last_log, "clean 'cld-7' on 'node1'", "  logs its arguments");
	t_close(&tm);
	t_close(&n);
}

static void
test_fail(void)
{
	struct cld_attr tma[] = { A("FAIL", "disk full"),
		A("CLONE_FAIL", "no space on 'node1'"), END };
	struct cld_attr vma[] = { A("DEPLOY_FAIL", "xl create failed"), END };
	struct cld_attr ima[] = { A("MONITOR_FAIL", "host unreachable"), END };
	struct cld_attr neta[] = { A("POST_FAIL", "nft refused the rule"), END };
	const char *files[] = { "/etc/hosts" };
	struct t_inst tm, v, i, n;
	struct cld_vm_desc vm;
	struct t_call c;
	char *s = NULL;
	int rc;

	t_vm(&vm, "cld-7", "node1");
	if (t_open(&tm, TM, "t", tma) || t_open(&v, VMM, "v", vma) ||
	    t_open(&i, IM, "i", ima) || t_open(&n, NET, "n", neta)) {
		ok(0, "init");
		return;
	}
	rc = TM->clone(t_call(&c, &tm.drv, 0), &vm, "/a", "node1", "/b", 0);
	t_fails(rc, &c, CLD_EDRIVER, "no space on 'node1'", "CLONE_FAIL: clone");
	rc = TM->link(t_call(&c, &tm.drv, 0), &vm, "/a", "node1", "/b", 0);
	t_fails(rc, &c, CLD_EDRIVER, "disk full", "FAIL: link");
	rc = TM->mkimage(t_call(&c, &tm.drv, 0), &vm, "node1", "/b", 1, "raw", 0);
	t_fails(rc, &c, CLD_EDRIVER, "disk full", "FAIL: mkimage");
	rc = TM->mkswap(t_call(&c, &tm.drv, 0), &vm, "node1", "/b", 1, 0);
	t_fails(rc, &c, CLD_EDRIVER, "disk full", "FAIL: mkswap");
	rc = TM->context(t_call(&c, &tm.drv, 0), &vm, files, 1, "node1", "/b", 0);
	t_fails(rc, &c, CLD_EDRIVER, "disk full", "FAIL: context");
	rc = TM->mv(t_call(&c, &tm.drv, 0), &vm, "node1", "/a", "node2", "/b", 0);
	t_fails(rc, &c, CLD_EDRIVER, "disk full", "FAIL: mv");
	rc = TM->delete(t_call(&c, &tm.drv, 0), &vm, "node1", "/b", 0);
	t_fails(rc, &c, CLD_EDRIVER, "disk full", "FAIL: delete");

	rc = VMM->deploy(t_call(&c, &v.drv, 0), &vm, 0, &s);
	t_fails(rc, &c, CLD_EDRIVER, "xl create failed", "DEPLOY_FAIL: deploy");
	ok(s == NULL, "  no domid");
	is_int(t_state(&v, &vm, NULL), CLD_POLL_MISSING, "  nothing deployed");
	ok(VMM->destroy(t_call(&c, &v.drv, 0), &vm, 0) == 0,
	    "  other operations work (%s)", c.err.msg);

	rc = IM->monitor(t_call(&c, &i.drv, 0), "node1", 0, &s);
	t_fails(rc, &c, CLD_EDRIVER, "host unreachable", "MONITOR_FAIL: monitor");
	ok(s == NULL, "  no report");

	ok(NET->pre(t_call(&c, &n.drv, 0), &vm, 0) == 0, "net pre works");
	rc = NET->post(t_call(&c, &n.drv, 0), &vm, 0);
	t_fails(rc, &c, CLD_EDRIVER, "nft refused the rule", "POST_FAIL: post");
	ok(NET->clean(t_call(&c, &n.drv, 0), &vm, 0) == 0, "net clean works");
	t_close(&tm);
	t_close(&v);
	t_close(&i);
	t_close(&n);
}

/* Time one call of OP on VM, in seconds; its result in *rc. */
static double
t_time_net(int (*op)(struct cld_op *, const struct cld_vm_desc *, unsigned int),
    struct t_inst *t, struct t_call *c, int *rc)
{
	struct cld_vm_desc vm;
	double start = t_now_s();

	t_vm(&vm, "cld-7", "node1");
	*rc = op(t_call(c, &t->drv, 0), &vm, 0);
	return t_now_s() - start;
}

static void
test_delay(void)
{
	struct cld_attr a[] = { A("DELAY", "0.05"), A("PRE_DELAY", "0.1"), END };
	struct cld_attr b[] = { A("DELAY", "0.03"), A("FAIL", "too slow"), END };
	struct t_inst t, f;
	struct t_call c;
	double s;
	int rc;

	if (t_open(&t, NET, "slow", a) || t_open(&f, NET, "slowfail", b)) {
		ok(0, "init");
		return;
	}
	s = t_time_net(NET->pre, &t, &c, &rc);
	ok(rc == 0 && s >= 0.1, "PRE_DELAY = 0.1: pre took %.3f s", s);
	s = t_time_net(NET->clean, &t, &c, &rc);
	ok(rc == 0 && s >= 0.05, "DELAY = 0.05: clean took %.3f s", s);
	s = t_time_net(NET->post, &f, &c, &rc);
	ok(s >= 0.03, "DELAY and FAIL: post took %.3f s", s);
	t_fails(rc, &c, CLD_EDRIVER, "too slow", "  then failed");
	t_close(&t);
	t_close(&f);
}

/* An operation run on another thread. */
struct t_bg {
	pthread_t tid;
	struct t_call c;
	struct t_inst *t;
	struct cld_vm_desc vm;
	int64_t timeout_ms;
	int which;               /* 0: vmm deploy, 1: tm clone */
	char *domid;
	int rc;
	atomic_int done;
};

static void *
t_bg_main(void *arg)
{
	struct t_bg *b = arg;

	if (b->which == 0)
		b->rc = VMM->deploy(&b->c.op, &b->vm, 0, &b->domid);
	else
		b->rc = TM->clone(&b->c.op, &b->vm, "/a", b->vm.host, "/b", 0);
	atomic_store(&b->done, 1);
	return NULL;
}

static int
t_bg_start(struct t_bg *b, struct t_inst *t, int which, int64_t timeout_ms)
{
	memset(b, 0, sizeof(*b));
	b->t = t;
	b->which = which;
	t_vm(&b->vm, "cld-9", "node1");
	t_call(&b->c, &t->drv, timeout_ms);
	atomic_init(&b->done, 0);
	return pthread_create(&b->tid, NULL, t_bg_main, b);
}

static void
test_cancel_deadline(void)
{
	struct cld_attr a[] = { A("DEPLOY_DELAY", "5"), END };
	struct t_inst t;
	struct t_call c;
	struct t_bg b;
	struct cld_vm_desc vm;
	char *s = NULL;
	int rc;

	if (t_open(&t, VMM, "slow", a)) {
		ok(0, "init");
		return;
	}
	t_vm(&vm, "cld-9", "node1");
	rc = VMM->deploy(t_call(&c, &t.drv, 50), &vm, 0, &s);
	ok(rc == -1 && c.err.code == CLD_ETIMEDOUT,
	    "a delay past the deadline ends with CLD_ETIMEDOUT (%s)", c.err.msg);
	ok(strncmp(c.err.msg, "deadline passed after ", 22) == 0 &&
	    strstr(c.err.msg, " ms") != NULL, "  and says so: '%s'", c.err.msg);
	is_int(t_state(&t, &vm, NULL), CLD_POLL_MISSING, "  nothing deployed");

	if (t_bg_start(&b, &t, 0, 0) != 0) {
		ok(0, "pthread_create");
		t_close(&t);
		return;
	}
	t_sleep_ms(30);
	atomic_store(&b.c.cancelled, 1);
	pthread_join(b.tid, NULL);
	t_fails(b.rc, &b.c, CLD_ECANCELED, "cancelled",
	    "a delay cancelled from another thread");
	ok(b.domid == NULL, "  no domid");
	t_close(&t);
}

static void
test_hang(void)
{
	struct cld_attr a[] = { A("HANG", "Deploy, shutdown"), END };
	struct cld_attr m[] = { A("HANG", "all"), A("HANG_MAX", "0.05"), END };
	struct t_inst t, tm;
	struct t_call c;
	struct t_bg b;
	struct cld_vm_desc vm;
	double s;
	int rc, done;

	if (t_open(&t, VMM, "hung", a) || t_open(&tm, TM, "hung", m)) {
		ok(0, "init");
		return;
	}
	t_vm(&vm, "cld-9", "node1");
	/* The deadline (10 ms) passes; a hung hypervisor does not care. */
	if (t_bg_start(&b, &t, 0, 10) != 0) {
		ok(0, "pthread_create");
		goto cleanup;
	}
	t_sleep_ms(50);
	done = atomic_load(&b.done);
	ok(!done, "a hung deploy is still running after 50 ms, past its deadline");
	atomic_store(&b.c.cancelled, 1);
	pthread_join(b.tid, NULL);
	t_fails(b.rc, &b.c, CLD_ECANCELED, "cancelled", "  then is cancelled");
	ok(b.domid == NULL, "  no domid");
	is_int(t_state(&t, &vm, NULL), CLD_POLL_MISSING,
	    "poll does not hang, nothing was deployed");
	ok(VMM->destroy(t_call(&c, &t.drv, 0), &vm, 0) == 0,
	    "destroy does not hang");

	s = t_now_s();
	rc = TM->delete(t_call(&c, &tm.drv, 100000), &vm, "node1", "/b", 0);
	s = t_now_s() - s;
	ok(rc == -1 && c.err.code == CLD_ETIMEDOUT && s >= 0.05,
	    "HANG_MAX = 0.05 ends a hang with CLD_ETIMEDOUT after %.3f s", s);
	ok(strncmp(c.err.msg, "still hanging after ", 20) == 0,
	    "  and says so: '%s'", c.err.msg);
	if (t_bg_start(&b, &tm, 1, 0) == 0) {
		atomic_store(&b.c.cancelled, 1);
		pthread_join(b.tid, NULL);
		t_fails(b.rc, &b.c, CLD_ECANCELED, "cancelled",
		    "HANG = all: clone hangs until cancelled");
	}
cleanup:
	t_close(&t);
	t_close(&tm);
}

static void
test_instances(void)
{
	struct cld_attr aa[] = { A("CPU_USAGE", "1"), END };
	struct cld_attr ba[] = { A("CPU_USAGE", "0.1"), A("MEMORY_USAGE", "0.25"),
		END };
	struct cld_attr ca[] = { A("DEPLOY_FAIL", "no"), END };
	struct t_inst a, b, f;
	struct cld_vm_desc vm;
	struct cld_vm_poll p;
	struct t_call c;
	char *ida = NULL, *idb = NULL;

	t_vm(&vm, "cld-7", "node1");
	if (t_open(&a, VMM, "a", aa) || t_open(&b, VMM, "b", ba) ||
	    t_open(&f, VMM, "f", ca)) {
		ok(0, "init");
		return;
	}
	ok(VMM->deploy(t_call(&c, &a.drv, 0), &vm, 0, &ida) == 0, "deploy on a");
	is_int(t_state(&b, &vm, NULL), CLD_POLL_MISSING, "  b does not see it");
	ok(VMM->deploy(t_call(&c, &f.drv, 0), &vm, 0, &idb) == -1 &&
	    strcmp(c.err.msg, "no") == 0, "  f's DEPLOY_FAIL is its own");
	ok(VMM->deploy(t_call(&c, &b.drv, 0), &vm, 0, &idb) == 0,
	    "deploy on b (%s)", c.err.msg);
	ok(ida != NULL && idb != NULL && strcmp(ida, "1") == 0 &&
	    strcmp(idb, "1") == 0, "  each counts its own domids");
	t_state(&a, &vm, &p);
	ok(p.cpu > 199.99 && p.cpu < 200.01 && p.memory_kb == 1048576,
	    "a: CPU_USAGE = 1 (%g, %llu)", p.cpu, (unsigned long long)p.memory_kb);
	t_state(&b, &vm, &p);
	ok(p.cpu > 19.99 && p.cpu < 20.01 && p.memory_kb == 262144,
	    "b: CPU_USAGE = 0.1, MEMORY_USAGE = 0.25 (%g, %llu)", p.cpu,
	    (unsigned long long)p.memory_kb);
	ok(VMM->destroy(t_call(&c, &a.drv, 0), &vm, 0) == 0, "destroy on a");
	is_int(t_state(&a, &vm, NULL), CLD_POLL_MISSING, "  gone from a");
	is_int(t_state(&b, &vm, NULL), CLD_POLL_RUNNING, "  still on b");
	free(ida);
	free(idb);
	t_close(&a);
	t_close(&b);
	t_close(&f);
}

static void
test_loop(void)
{
	enum { N = 10000, BIG = 100000 };
	struct cld_vm_desc vm;
	struct cld_vm_poll p;
	struct t_inst t;
	struct t_call c;
	char name[32], host[32];
	char *id = NULL;
	long nlog = 0;
	int i, bad = 0, missing = 0, running = 0;
	double s;

	if (t_open(&t, VMM, "loop", NULL)) {
		ok(0, "init");
		return;
	}
	t_capture = 0;
	nlog = atomic_load(&t_nlog);
	s = t_now_s();
	for (i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "cld-%d", i);
		snprintf(host, sizeof(host), "node%d", i % 64);
		t_vm(&vm, name, host);
		if (VMM->deploy(t_call(&c, &t.drv, 0), &vm, 0, &id) == -1 ||
		    t_state(&t, &vm, &p) != CLD_POLL_RUNNING ||
		    VMM->destroy(t_call(&c, &t.drv, 0), &vm, 0) == -1)
			bad++;
		free(id);
		id = NULL;
	}
	s = t_now_s() - s;
	diag("%d deploy+poll+destroy in %.3f s: %.0f ops/s", N, s,
	    3.0 * N / (s > 0 ? s : 1e-9));
	is_int(bad, 0, "%d deploy+poll+destroy", N);
	is_int(atomic_load(&t_nlog) - nlog, 3 * N, "  one log line each");
	for (i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "cld-%d", i);
		snprintf(host, sizeof(host), "node%d", i % 64);
		t_vm(&vm, name, host);
		missing += t_state(&t, &vm, NULL) == CLD_POLL_MISSING;
	}
	is_int(missing, N, "  leave the table empty");
	VMM->deploy(t_call(&c, &t.drv, 0), &vm, 0, &id);
	is_str(id, "10001", "  and the domid counter going");
	free(id);
	id = NULL;

	/* 100,000 domains at once. */
	s = t_now_s();
	for (i = 0; i < BIG; i++) {
		snprintf(name, sizeof(name), "cld-%d", i);
		snprintf(host, sizeof(host), "node%d", i % 1000);
		t_vm(&vm, name, host);
		if (VMM->deploy(t_call(&c, &t.drv, 0), &vm, 0, &id) == -1)
			bad++;
		free(id);
		id = NULL;
	}
	for (i = 0; i < BIG; i++) {
		snprintf(name, sizeof(name), "cld-%d", i);
		snprintf(host, sizeof(host), "node%d", i % 1000);
		t_vm(&vm, name, host);
		running += t_state(&t, &vm, NULL) == CLD_POLL_RUNNING;
	}
	for (i = 0; i < BIG; i++) {
		snprintf(name, sizeof(name), "cld-%d", i);
		snprintf(host, sizeof(host), "node%d", i % 1000);
		t_vm(&vm, name, host);
		if (VMM->destroy(t_call(&c, &t.drv, 0), &vm, 0) == -1)
			bad++;
		missing += t_state(&t, &vm, NULL) == CLD_POLL_MISSING;
	}
	s = t_now_s() - s;
	diag("%d domains: deploy, poll, destroy, poll in %.3f s: %.0f ops/s", BIG,
	    s, 4.0 * BIG / (s > 0 ? s : 1e-9));
	ok(bad == 0 && running == BIG, "%d domains at once (%d running)", BIG,
	    running);
	is_int(missing, N + BIG, "  then none");
	t_capture = 1;
	t_close(&t);
}

/* One of the threads of test_threads. */
struct t_worker {
	pthread_t tid;
	struct t_inst *t;
	int n;                   /* its number */
	int errors;
	char *shared[200];       /* domids of the VM all threads deploy */
};

enum { T_THREADS = 4, T_PER_THREAD = 2000 };

static void *
t_worker_main(void *arg)
{
	struct t_worker *w = arg;
	struct cld_vm_desc vm, shared;
	struct t_call c;
	char name[32], host[32];
	char *id = NULL;
	int i;

	t_vm(&shared, "shared", "node0");
	for (i = 0; i < T_PER_THREAD; i++) {
		snprintf(name, sizeof(name), "t%d-%d", w->n, i);
		snprintf(host, sizeof(host), "node%d", i % 8);
		t_vm(&vm, name, host);
		if (VMM->deploy(t_call(&c, &w->t->drv, 0), &vm, 0, &id) == -1 ||
		    t_state(w->t, &vm, NULL) != CLD_POLL_RUNNING)
			w->errors++;
		free(id);
		id = NULL;
		if (i % 2 == 1 &&
		    VMM->destroy(t_call(&c, &w->t->drv, 0), &vm, 0) == -1)
			w->errors++;
		if (i % 10 == 0 && VMM->deploy(t_call(&c, &w->t->drv, 0), &shared,
		    0, &w->shared[i / 10]) == -1)
			w->errors++;
	}
	return NULL;
}

static void
test_threads(void)
{
	struct t_worker w[T_THREADS];
	struct cld_vm_desc vm;
	struct t_call c;
	struct t_inst t;
	char name[32], host[32];
	const char *first = NULL;
	int i, j, errors = 0, wrong = 0, same = 0, started = 0;

	if (t_open(&t, VMM, "threads", NULL)) {
		ok(0, "init");
		return;
	}
	t_capture = 0;
	memset(w, 0, sizeof(w));
	for (i = 0; i < T_THREADS; i++) {
		w[i].t = &t;
		w[i].n = i;
		if (pthread_create(&w[i].tid, NULL, t_worker_main, &w[i]) != 0)
			break;
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(w[i].tid, NULL);
	t_capture = 1;
	is_int(started, T_THREADS, "%d threads", T_THREADS);
	for (i = 0; i < started; i++)
		errors += w[i].errors;
	is_int(errors, 0, "  deploy, poll, destroy at once without an error");
	for (i = 0; i < started; i++)
		for (j = 0; j < T_PER_THREAD; j++) {
			snprintf(name, sizeof(name), "t%d-%d", i, j);
			snprintf(host, sizeof(host), "node%d", j % 8);
			t_vm(&vm, name, host);
			if (t_state(&t, &vm, NULL) !=
			    (j % 2 == 1 ? CLD_POLL_MISSING : CLD_POLL_RUNNING))
				wrong++;
			VMM->destroy(t_call(&c, &t.drv, 0), &vm, 0);
		}
	is_int(wrong, 0, "  leave exactly the VMs they did not destroy");
	first = started > 0 ? w[0].shared[0] : NULL;
	for (i = 0; i < started; i++)
		for (j = 0; j < T_PER_THREAD / 10; j++)
			same += w[i].shared[j] != NULL && first != NULL &&
			    strcmp(w[i].shared[j], first) == 0;
	for (i = 0; i < started; i++)
		for (j = 0; j < T_PER_THREAD / 10; j++)
			free(w[i].shared[j]);
	is_int(same, started * T_PER_THREAD / 10,
	    "  one VM deployed by all threads at once has one domid");
	t_close(&t);
}

/* -- STATE: the tables in a file -- */

/* A new empty directory under $TMPDIR (or /tmp) in BUF. */
static int
t_mkdtemp(char *buf, size_t size)
{
	const char *tmp = getenv("TMPDIR");

	if (tmp == NULL || *tmp != '/')
		tmp = "/tmp";
	if ((size_t)snprintf(buf, size, "%s/cld-dummy-XXXXXX", tmp) >= size)
		return -1;
	return mkdtemp(buf) == NULL ? -1 : 0;
}

/* DIR/NAME in BUF.  Returns 0, or -1 if it does not fit. */
static int
t_join(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Remove DIR and the files in it. */
static void
t_rmdir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (t_join(path, sizeof(path), dir, e->d_name) == 0)
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* The names in DIR but . and .., space-separated, in BUF; their count. */
static int
t_ls(const char *dir, char *buf, size_t size)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	buf[0] = '\0';
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n++ > 0)
			strncat(buf, " ", size - strlen(buf) - 1);
		strncat(buf, e->d_name, size - strlen(buf) - 1);
	}
	closedir(d);
	return n;
}

static int
t_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int rc = 0;

	if (f == NULL)
		return -1;
	if (fputs(text, f) == EOF)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

/* The contents of PATH, malloc()ed, or NULL. */
static char *
t_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap + 65536);

			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
			cap += 65536;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* The number of lines of TEXT. */
static int
t_nlines(const char *text)
{
	int n = 0;

	for (; text != NULL && *text != '\0'; text++)
		n += *text == '\n';
	return n;
}

/* Deploy VM on T; its domid, malloc()ed, or NULL (diag says why). */
static char *
t_deploy(struct t_inst *t, const struct cld_vm_desc *vm)
{
	struct t_call c;
	char *id = NULL;

	if (VMM->deploy(t_call(&c, &t->drv, 0), vm, 0, &id) == -1)
		diag("deploy '%s': %s", vm->name, c.err.msg);
	return id;
}

/* ok() that deploying VM on T gives domid WANT, and say WHAT. */
static void
t_deploy_is(struct t_inst *t, const struct cld_vm_desc *vm, const char *want,
    const char *what)
{
	char *id = t_deploy(t, vm);

	is_str(id, want, "%s", what);
	free(id);
}

static void
test_state(void)
{
	char dir[PATH_MAX], path[PATH_MAX], ls[512];
	struct cld_attr attrs[] = { A("STATE", path), END };
	struct cld_vm_desc a, b, b3, c, c2, w, n9;
	struct cld_vm_poll p;
	struct t_inst t;
	struct t_call cl;
	char *text = NULL, *id = NULL;
	int rc;

	if (t_mkdtemp(dir, sizeof(dir)) == -1) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	t_join(path, sizeof(path), dir, "vmm.state");
	t_vm(&a, "cld-1", "node1");
	t_vm(&b, "cld-2", "node2");
	t_vm(&b3, "cld-2", "node3");
	t_vm(&c, "cld-3", "node1");
	t_vm(&c2, "cld-3", "node2");
	t_vm(&w, "we\tird\\n\nname", "node\r4");
	t_vm(&n9, "cld-9", "node1");

	/* First life: a missing file is empty tables, and is written at once. */
	if (t_open(&t, VMM, "state", attrs) == -1) {
		ok(0, "init with STATE = '%s': %s", path, t.err.msg);
		goto cleanup;
	}
	ok(1, "init with STATE naming a file that does not exist yet");
	text = t_read_file(path);
	is_str(text, "cloudd-vmm-dummy\t1\nnext_domid\t1\n",
	    "  init writes the empty tables");
	free(text);
	t_deploy_is(&t, &a, "1", "deploy cld-1 on node1");
	t_deploy_is(&t, &b, "2", "deploy cld-2 on node2");
	t_deploy_is(&t, &c, "3", "deploy cld-3 on node1");
	t_deploy_is(&t, &w, "4", "deploy a VM whose names hold a tab, newline, CR, backslash");
	t_state(&t, &b, NULL);
	t_state(&t, &b, NULL);
	ok(VMM->suspend(t_call(&cl, &t.drv, 0), &a, 0) == 0, "suspend cld-1 (%s)",
	    cl.err.msg);
	ok(VMM->save(t_call(&cl, &t.drv, 0), &c, "/var/save/3", 0) == 0,
	    "save cld-3 (%s)", cl.err.msg);
	text = t_read_file(path);
	ok(text != NULL && strncmp(text, "cloudd-vmm-dummy\t1\nnext_domid\t5\n",
	    32) == 0, "the file begins with its magic and next_domid");
	ok(text != NULL &&
	    strstr(text, "\ndomain\tnode1\tcld-1\tpaused\t1\t0\t0\n") != NULL,
	    "  a paused domain");
	ok(text != NULL &&
	    strstr(text, "\ndomain\tnode2\tcld-2\trunning\t2\t2000\t1000\n") != NULL,
	    "  a running domain with the counters of its last polls");
	ok(text != NULL &&
	    strstr(text, "\nsaved\t/var/save/3\tcld-3\trunning\t3\t0\t0\n") != NULL,
	    "  a saved domain");
	ok(text != NULL && strstr(text,
	    "\ndomain\tnode\\r4\twe\\tird\\\\n\\nname\trunning\t4\t0\t0\n") != NULL,
	    "  names escaped");
	is_int(t_nlines(text), 6, "  and nothing else");
	free(text);
	is_int(t_ls(dir, ls, sizeof(ls)), 1, "  no temporary file left (%s)", ls);
	t_close(&t);

	/* Second life: the same file, a fresh instance. */
	if (t_open(&t, VMM, "state", attrs) == -1) {
		ok(0, "init again on the same file: %s", t.err.msg);
		goto cleanup;
	}
	ok(1, "init again on the same file");
	is_int(t_state(&t, &a, NULL), CLD_POLL_PAUSED, "  cld-1 is still paused");
	is_int(t_state(&t, &b, &p), CLD_POLL_RUNNING, "  cld-2 still runs");
	ok(p.netrx == 3000 && p.nettx == 1500, "  with its counters (%llu, %llu)",
	    (unsigned long long)p.netrx, (unsigned long long)p.nettx);
	is_int(t_state(&t, &c, NULL), CLD_POLL_MISSING, "  cld-3 is still saved");
	is_int(t_state(&t, &w, NULL), CLD_POLL_RUNNING, "  the oddly named VM runs");
	t_deploy_is(&t, &b, "2", "deploy cld-2 again: the domid it had");
	rc = VMM->deploy(t_call(&cl, &t.drv, 0), &a, 0, &id);
	t_fails(rc, &cl, CLD_EEXIST, "'cld-1' is paused on 'node1'",
	    "deploy the paused cld-1");
	ok(VMM->resume(t_call(&cl, &t.drv, 0), &a, 0) == 0, "resume cld-1 (%s)",
	    cl.err.msg);
	rc = VMM->restore(t_call(&cl, &t.drv, 0), &c, "/var/save/3", 0, &id);
	ok(rc == 0, "restore cld-3 from its save (%s)", cl.err.msg);
	is_str(id, "5", "  a domid never handed out before");
	free(id);
	id = NULL;
	t_deploy_is(&t, &n9, "6", "a new VM: the next domid");
	ok(VMM->migrate(t_call(&cl, &t.drv, 0), &b, "node3", 0) == 0,
	    "migrate cld-2 to node3 (%s)", cl.err.msg);
	ok(VMM->shutdown(t_call(&cl, &t.drv, 0), &w, 0) == 0,
	    "shutdown the oddly named VM (%s)", cl.err.msg);
	t_close(&t);

	/* Third life: what the second changed. */
	if (t_open(&t, VMM, "state", attrs) == -1) {
		ok(0, "init a third time: %s", t.err.msg);
		goto cleanup;
	}
	is_int(t_state(&t, &a, NULL), CLD_POLL_RUNNING, "third life: cld-1 resumed");
	is_int(t_state(&t, &b, NULL), CLD_POLL_MISSING, "  cld-2 left node2");
	t_deploy_is(&t, &b3, "2", "  and runs on node3 with its domid");
	t_deploy_is(&t, &c, "5", "  cld-3 runs with its restored domid");
	rc = VMM->restore(t_call(&cl, &t.drv, 0), &c2, "/var/save/3", 0, &id);
	t_fails(rc, &cl, CLD_ENOENT, "no saved state of 'cld-3' in '/var/save/3'",
	    "  its save was used up");
	is_int(t_state(&t, &w, NULL), CLD_POLL_MISSING, "  the shut down VM is gone");
	ok(VMM->destroy(t_call(&cl, &t.drv, 0), &a, 0) == 0 &&
	    VMM->destroy(t_call(&cl, &t.drv, 0), &b3, 0) == 0 &&
	    VMM->destroy(t_call(&cl, &t.drv, 0), &c, 0) == 0 &&
	    VMM->destroy(t_call(&cl, &t.drv, 0), &n9, 0) == 0, "destroy them all");
	t_close(&t);

	/* Fourth life: nothing left but the counter. */
	if (t_open(&t, VMM, "state", attrs) == -1) {
		ok(0, "init a fourth time: %s", t.err.msg);
		goto cleanup;
	}
	text = t_read_file(path);
	is_str(text, "cloudd-vmm-dummy\t1\nnext_domid\t7\n",
	    "fourth life: an empty table, the counter kept");
	free(text);
	t_deploy_is(&t, &n9, "7", "  domids go on from there");
	t_close(&t);
cleanup:
	t_rmdir(dir);
}

struct t_corrupt {
	const char *text;
	const char *msg;   /* after "STATE: '<path>', " */
};

static void
test_state_refused(void)
{
	static const struct t_corrupt bad[] = {
		{ "", "line 1: the file is empty" },
		{ "VMM STATE\n",
		  "line 1: not a vmm/dummy state file (the first line is not "
		  "\"cloudd-vmm-dummy<TAB>1\")" },
		{ "cloudd-vmm-dummy\t2\nnext_domid\t1\n",
		  "line 1: not a vmm/dummy state file (the first line is not "
		  "\"cloudd-vmm-dummy<TAB>1\")" },
		{ "cloudd-vmm-dummy\t1\n",
		  "line 2: expected next_domid and a whole number above 0" },
		{ "cloudd-vmm-dummy\t1\nnext_domid\tmany\n",
		  "line 2: expected next_domid and a whole number above 0" },
		{ "cloudd-vmm-dummy\t1\nnext_domid\t0\n",
		  "line 2: expected next_domid and a whole number above 0" },
		{ "cloudd-vmm-dummy\t1\ndomain\tnode1\tcld-1\trunning\t1\t0\t0\n",
		  "line 2: expected next_domid and a whole number above 0" },
		{ "cloudd-vmm-dummy\t1\nnext_domid\t3\n"
		  "domain\tnode1\tcld-1\trunning\t1\t0\t0\n"
		  "domain\tnode1\tcld-2\tzombie\t2\t0\t0\n",
		  "line 4: unknown state 'zombie'" },
		{ "cloudd-vmm-dummy\t1\nnext_domid\t3\n"
		  "domain\tnode1\tcld-1\trunning\t1\t0\n",
		  "line 3: a domain line has 6 fields, not 7" },
		{ "cloudd-vmm-dummy\t1\nnext_domid\t3\n"
		  "saved\t/s\tcld-1\trunning\t1\t0\t0\t0\n",
		  "line 3: a saved line has more than 7 fields" },
		{ "cloudd-vmm-dummy\t1\nnext_domid\t3\n"
		  "domain\tnode1\tcld-1\trunning\t1\t0\t0",
		  "line 3: the line is cut short (no newline)" },
		{ "cloudd-vmm-dummy\t1\nnext_domid\t3\n"
		  "domain\tnode1\tcld-1\trunning\t3\t0\t0\n",
		  "line 3: domid 3 is not below next_domid 3" },
		{ "cloudd-vmm-dummy\t1\nnext_domid\t3\n"
		  "domain\tnode1\tcld-1\trunning\t1\t-1\t0\n",
		  "line 3: a domid or counter is not a whole number" },
		{ "cloudd-vmm-dummy\t1\nnext_domid\t3\n"
		  "domain\tnode1\tcld-1\trunning\t1\t0\t0\n"
		  "domain\tnode1\tcld-1\tpaused\t2\t0\t0\n",
		  "line 4: 'cld-1' on 'node1' is listed twice" },
		{ "cloudd-vmm-dummy\t1\nnext_domid\t3\n"
		  "saved\t/s\tcld-1\trunning\t1\t0\t0\n"
		  "saved\t/s\tcld-1\trunning\t1\t0\t0\n",
		  "line 4: 'cld-1' in '/s' is listed twice" },
		{ "cloudd-vmm-dummy\t1\nnext_domid\t3\n"
		  "domain\tnode\\x1\tcld-1\trunning\t1\t0\t0\n",
		  "line 3: bad escape '\\x'" },
		{ "cloudd-vmm-dummy\t1\nnext_domid\t3\n"
		  "domain\tnode1\tcld-1\\\trunning\t1\t0\t0\n",
		  "line 3: a field ends in a backslash" },
		{ "cloudd-vmm-dummy\t1\nnext_domid\t3\n\n",
		  "line 3: unknown record ''" },
		{ "cloudd-vmm-dummy\t1\nnext_domid\t3\n"
		  "vm\tnode1\tcld-1\trunning\t1\t0\t0\n",
		  "line 3: unknown record 'vm'" },
	};
	char dir[PATH_MAX], path[PATH_MAX], want[PATH_MAX + 256];
	struct cld_attr attrs[] = { A("STATE", path), END };
	struct t_inst t;
	char *text = NULL;
	size_t i;

	if (t_mkdtemp(dir, sizeof(dir)) == -1) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	t_join(path, sizeof(path), dir, "vmm.state");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (t_write_file(path, bad[i].text) == -1) {
			ok(0, "write '%s': %s", path, strerror(errno));
			break;
		}
		snprintf(want, sizeof(want), "STATE: '%s', %s", path, bad[i].msg);
		if (t_open(&t, VMM, "corrupt", attrs) == 0) {
			ok(0, "init refuses a corrupt file (%s)", bad[i].msg);
			t_close(&t);
			continue;
		}
		ok(t.err.code == CLD_ECONFIG && t.drv.priv == NULL,
		    "init refuses a corrupt file with CLD_ECONFIG (%s)", bad[i].msg);
		is_str(t.err.msg, want, "  naming the file and the line");
		text = t_read_file(path);
		is_str(text, bad[i].text, "  and leaves the file alone");
		free(text);
	}

	/* A file that cannot be read. */
	unlink(path);
	if (mkdir(path, 0700) == 0) {
		snprintf(want, sizeof(want), "STATE: cannot read '%s': %s", path,
		    strerror(EISDIR));
		ok(t_open(&t, VMM, "unreadable", attrs) == -1 &&
		    t.err.code == CLD_EIO && t.err.sys_errno == EISDIR,
		    "init refuses a STATE it cannot read (a directory)");
		is_str(t.err.msg, want, "  and says why");
		rmdir(path);
	} else {
		ok(0, "mkdir '%s': %s", path, strerror(errno));
	}

	/* A file that cannot be written: its directory does not exist. */
	t_join(path, sizeof(path), dir, "nowhere/vmm.state");
	snprintf(want, sizeof(want), "STATE: cannot write '%s': %s", path,
	    strerror(ENOENT));
	ok(t_open(&t, VMM, "unwritable", attrs) == -1 && t.err.code == CLD_EIO,
	    "init refuses a STATE it cannot write");
	is_str(t.err.msg, want, "  and says why");
	t_rmdir(dir);
}

/*
 * A write that fails fails its operation with CLD_EIO but keeps the change;
 * the next operation writes it, and a retry succeeds.
 */
static void
test_state_write_fails(void)
{
	char dir[PATH_MAX], sub[PATH_MAX], path[PATH_MAX], want[PATH_MAX + 64];
	struct cld_attr attrs[] = { A("STATE", path), END };
	struct cld_vm_desc vm;
	struct t_inst t;
	struct t_call c;
	char *id = NULL, *text = NULL;
	int rc;

	if (t_mkdtemp(dir, sizeof(dir)) == -1) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	t_join(sub, sizeof(sub), dir, "sub");
	t_join(path, sizeof(path), sub, "vmm.state");
	t_vm(&vm, "cld-1", "node1");
	if (mkdir(sub, 0700) == -1 || t_open(&t, VMM, "state", attrs) == -1) {
		ok(0, "init: %s", t.err.msg);
		t_rmdir(sub);
		t_rmdir(dir);
		return;
	}
	/* Pull the directory away: mkstemp fails whoever runs the test. */
	t_rmdir(sub);
	rc = VMM->deploy(t_call(&c, &t.drv, 0), &vm, 0, &id);
	snprintf(want, sizeof(want), "cannot write '%s': %s", path,
	    strerror(ENOENT));
	t_fails(rc, &c, CLD_EIO, want, "deploy when the file cannot be written");
	ok(id == NULL && c.err.sys_errno == ENOENT, "  no domid, errno ENOENT");
	is_int(t_state(&t, &vm, NULL), CLD_POLL_RUNNING,
	    "  the domain runs all the same, as on a hypervisor that lost its disk");
	if (mkdir(sub, 0700) == -1) {
		ok(0, "mkdir: %s", strerror(errno));
	} else {
		t_deploy_is(&t, &vm, "1", "the retry succeeds with its domid");
		text = t_read_file(path);
		ok(text != NULL &&
		    strstr(text, "\ndomain\tnode1\tcld-1\trunning\t1\t1000\t500\n") !=
		    NULL, "  and writes the file (with the counters of the poll)");
		free(text);
	}
	t_close(&t);
	t_rmdir(sub);
	t_rmdir(dir);
}

/* Several threads change one instance with STATE: the file has them all. */
struct t_state_worker {
	pthread_t tid;
	struct t_inst *t;
	int n;
	int errors;
};

enum { T_STATE_THREADS = 4, T_STATE_PER_THREAD = 50 };

static void *
t_state_worker_main(void *arg)
{
	struct t_state_worker *w = arg;
	struct cld_vm_desc vm;
	struct t_call c;
	char name[32];
	char *id = NULL;
	int i;

	for (i = 0; i < T_STATE_PER_THREAD; i++) {
		snprintf(name, sizeof(name), "t%d-%d", w->n, i);
		t_vm(&vm, name, "node1");
		if (VMM->deploy(t_call(&c, &w->t->drv, 0), &vm, 0, &id) == -1 ||
		    (i % 2 == 1 &&
		    VMM->suspend(t_call(&c, &w->t->drv, 0), &vm, 0) == -1))
			w->errors++;
		free(id);
		id = NULL;
	}
	return NULL;
}

static void
test_state_threads(void)
{
	char dir[PATH_MAX], path[PATH_MAX], ls[512], name[32];
	struct cld_attr attrs[] = { A("STATE", path), END };
	struct t_state_worker w[T_STATE_THREADS];
	struct cld_vm_desc vm;
	struct t_inst t;
	int i, j, started = 0, errors = 0, wrong = 0;

	if (t_mkdtemp(dir, sizeof(dir)) == -1) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	t_join(path, sizeof(path), dir, "vmm.state");
	if (t_open(&t, VMM, "state", attrs) == -1) {
		ok(0, "init: %s", t.err.msg);
		t_rmdir(dir);
		return;
	}
	t_capture = 0;
	memset(w, 0, sizeof(w));
	for (i = 0; i < T_STATE_THREADS; i++) {
		w[i].t = &t;
		w[i].n = i;
		if (pthread_create(&w[i].tid, NULL, t_state_worker_main, &w[i]) != 0)
			break;
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(w[i].tid, NULL);
		errors += w[i].errors;
	}
	t_capture = 1;
	t_close(&t);
	ok(started == T_STATE_THREADS && errors == 0,
	    "%d threads deploy and suspend with STATE (%d errors)", started, errors);
	if (t_open(&t, VMM, "state", attrs) == -1) {
		ok(0, "init again: %s", t.err.msg);
		t_rmdir(dir);
		return;
	}
	for (i = 0; i < started; i++)
		for (j = 0; j < T_STATE_PER_THREAD; j++) {
			snprintf(name, sizeof(name), "t%d-%d", i, j);
			t_vm(&vm, name, "node1");
			wrong += t_state(&t, &vm, NULL) !=
			    (j % 2 == 1 ? CLD_POLL_PAUSED : CLD_POLL_RUNNING);
		}
	is_int(wrong, 0, "  a fresh instance finds every domain in its state");
	snprintf(name, sizeof(name), "%d", T_STATE_THREADS * T_STATE_PER_THREAD + 1);
	t_vm(&vm, "new", "node1");
	t_deploy_is(&t, &vm, name, "  and the next domid");
	t_close(&t);
	is_int(t_ls(dir, ls, sizeof(ls)), 1, "  one file, no temporary left (%s)",
	    ls);
	t_rmdir(dir);
}

/* Without STATE the driver touches no file: the benchmarks count on it. */
static void
test_state_none(void)
{
	char dir[PATH_MAX], cwd[PATH_MAX], ls[512];
	struct cld_vm_desc vm, vm2;
	struct t_inst t;
	struct t_call c;
	char *id = NULL;

	if (getcwd(cwd, sizeof(cwd)) == NULL ||
	    t_mkdtemp(dir, sizeof(dir)) == -1 || chdir(dir) == -1) {
		ok(0, "a working directory: %s", strerror(errno));
		return;
	}
	t_vm(&vm, "cld-1", "node1");
	t_vm(&vm2, "cld-1", "node2");
	if (t_open(&t, VMM, "nostate", NULL) == 0) {
		free(t_deploy(&t, &vm));
		VMM->suspend(t_call(&c, &t.drv, 0), &vm, 0);
		VMM->resume(t_call(&c, &t.drv, 0), &vm, 0);
		VMM->reboot(t_call(&c, &t.drv, 0), &vm, 0);
		VMM->save(t_call(&c, &t.drv, 0), &vm, "saved", 0);
		VMM->restore(t_call(&c, &t.drv, 0), &vm, "saved", 0, &id);
		free(id);
		VMM->migrate(t_call(&c, &t.drv, 0), &vm, "node2", 0);
		ok(VMM->destroy(t_call(&c, &t.drv, 0), &vm2, 0) == 0,
		    "without STATE every operation runs");
		t_close(&t);
	} else {
		ok(0, "init: %s", t.err.msg);
	}
	if (chdir(cwd) == -1)
		diag("chdir '%s': %s", cwd, strerror(errno));
	is_int(t_ls(dir, ls, sizeof(ls)), 0, "  and creates no file (%s)", ls);
	t_rmdir(dir);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_headers();
	test_init_errors();
	test_init_ok();
	test_vmm_ops();
	test_flags();
	test_im();
	test_tm_net();
	test_fail();
	test_delay();
	test_cancel_deadline();
	test_hang();
	test_instances();
	test_loop();
	test_threads();
	test_state();
	test_state_refused();
	test_state_write_fails();
	test_state_threads();
	test_state_none();
	return done_testing();
}
