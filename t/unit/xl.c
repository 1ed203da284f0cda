/*
 * vmm/xl linked in and driven through its table by a stub core whose
 * svc->ssh runs the command here, on a "host" that is a directory with the
 * stub xl or xm of the test library (t/lib/xen-stub) first in PATH; every
 * other service is the core's own (svc->run, deadlines).  Each config the
 * driver writes is read back and checked in-process by Xen's own parser
 * (t/helpers/xlcheck-lib.c over libxlutil), for template variants of
 * every kind, in xl's dialect and xm's; hostile values are refused naming
 * the attribute, with nothing run on the host.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cloudd/attr.h>
#include <cloudd/driver.h>
#include <cloudd/error.h>

#include "services.h"
#include "tap.h"
#include "template.h"
#include "util.h"
#include "../helpers/xlcheck.h"

extern const struct cld_vmm_driver CLD_DRIVER_ENTRY(vmm_xl);
#define XL (&CLD_DRIVER_ENTRY(vmm_xl))

static char t_dir[64];
static char t_to[128];          /* "ssh HOST CMD" between the local hosts */            /* the hosts: t_dir/HOST/{sbin,xen,ds} */
static char t_calls[16384];       /* what ran on hosts since t_reset() */
static int t_ncalls;
static char t_log[1024];

static CLD_PRINTF(3, 4) void
t_logf(const struct cld_drv *drv, int level, const char *fmt, ...)
{
	va_list ap;

	(void)drv;
	(void)level;
	va_start(ap, fmt);
	vsnprintf(t_log, sizeof(t_log), fmt, ap);
	va_end(ap);
}

static const char *
t_conf_get(const struct cld_drv *drv, const char *name)
{
	return drv->conf == NULL ? NULL : cld_vector_get(drv->conf, name);
}

/* svc->ssh: ARGV run here with HOST's sbin first in PATH, and recorded. */
static int
t_ssh(struct cld_op *op, const char *host, struct cld_run *r)
{
	const char *argv[32];
	const char *const *orig = r->argv;
	char path[256];
	size_t n = 0, i;
	int rc;

	snprintf(path, sizeof(path), "PATH=%s/%s/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
	    t_dir, host);
	argv[n++] = "env";
	argv[n++] = path;
	for (i = 0; orig[i] != NULL && n < 31; i++)
		argv[n++] = orig[i];
	argv[n] = NULL;
	t_ncalls++;
	/* the host and the words, a fixed script shown as "sh -c ..." */
	snprintf(t_calls + strlen(t_calls), sizeof(t_calls) - strlen(t_calls),
	    "%s:", host);
	for (i = 0; orig[i] != NULL; i++)
		snprintf(t_calls + strlen(t_calls), sizeof(t_calls) - strlen(t_calls),
		    " %s", i == 2 && strcmp(orig[0], "sh") == 0 ? "..." : orig[i]);
	snprintf(t_calls + strlen(t_calls), sizeof(t_calls) - strlen(t_calls), "\n");
	r->argv = argv;
	rc = cld_services.run(op, r);
	r->argv = orig;
	return rc;
}

static struct cld_services t_svc;

static void
t_reset(void)
{
	t_calls[0] = '\0';
	t_ncalls = 0;
}

/* -- hosts -- */

static void
t_write(const char *path, const char *text, int mode)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		diag("cannot write %s: %s", path, strerror(errno));
		exit(1);
	}
	chmod(path, (mode_t)mode);
}

static char *
t_read(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t n = 0;

	if (f == NULL)
		return NULL;
	buf = cld_xmalloc(1 << 16);
	n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* HOST with the stub TOOL ("xl", "xm" or "" for none) in its sbin. */
static void
t_host(const char *host, const char *tool)
{
	char path[512], text[2048];

	snprintf(path, sizeof(path), "%s/%s", t_dir, host);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/sbin", t_dir, host);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/ds", t_dir, host);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/sbin/xl", t_dir, host);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s/sbin/xm", t_dir, host);
	unlink(path);
	if (tool[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/%s/sbin/%s", t_dir, host, tool);
	snprintf(text, sizeof(text),
	    "#!/bin/sh\nXEN_STUB_TOOL=%s XEN_STUB_STATE=%s/%s/xen "
	    "XEN_STUB_XLCHECK=%s/t/helpers/xlcheck XEN_STUB_SHUTDOWN=0.2 "
	    "XEN_STUB_CPU=1 exec sh %s/t/lib/xen-stub/xen-stub \"$@\"\n",
	    tool, t_dir, host, getenv("top_builddir"), getenv("top_srcdir"));
	t_write(path, text, 0755);
}

/* -- instances, VMs, calls -- */

struct t_inst {
	struct cld_drv drv;
	struct cld_attr block;
	struct cld_attr opts[16];
	struct cld_err err;
};

/* An instance with options "NAME=VALUE"..., NULL-ended.  Returns init's. */
static int
t_open(struct t_inst *t, ...)
{
	va_list ap;
	const char *o;
	size_t n = 0;

	memset(t, 0, sizeof(*t));
	va_start(ap, t);
	while ((o = va_arg(ap, const char *)) != NULL && n < 16) {
		const char *eq = strchr(o, '=');

		t->opts[n].name = cld_xstrndup(o, (size_t)(eq - o));
		t->opts[n].value = (char *)(eq + 1);
		n++;
	}
	va_end(ap);
	t->block.name = "VMM_DRIVER";
	t->block.sub = t->opts;
	t->block.nsub = n;
	t->drv.svc = &t_svc;
	t->drv.name = "xl";
	t->drv.module = "xl";
	t->drv.conf = &t->block;
	cld_err_clear(&t->err);
	return XL->hdr.init(&t->drv, &t->err);
}

static void
t_close(struct t_inst *t)
{
	if (t->drv.priv != NULL)
		XL->hdr.fini(&t->drv);
	for (size_t i = 0; i < t->block.nsub; i++)
		free(t->opts[i].name);
}

/* TEXT with every WHAT replaced by BY, into OUT. */
static void
t_subst(char *out, size_t size, const char *text, const char *what,
    const char *by)
{
	size_t o = 0, wl = strlen(what), bl = strlen(by);

	while (*text != '\0' && o + 1 < size) {
		if (strncmp(text, what, wl) == 0 && o + bl + 1 < size) {
			memcpy(out + o, by, bl);
			o += bl;
			text += wl;
		} else
			out[o++] = *text++;
	}
	out[o] = '\0';
}

struct t_vm {
	struct cld_vm_desc d;
	struct cld_tmpl tmpl;
	char dir[256];
	char name[32];
};

static void
t_vm(struct t_vm *v, int64_t id, const char *host, const char *text)
{
	struct cld_err err;
	char buf[8192];

	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "cld-%lld", (long long)id);
	snprintf(v->dir, sizeof(v->dir), "%s/%s/ds/%lld", t_dir, host,
	    (long long)id);
	/* $T: the test's directory, where kernels and the like are */
	t_subst(buf, sizeof(buf), text, "$T", t_dir);
	if (cld_tmpl_parse(buf, strlen(buf), &v->tmpl, &err) < 0) {
		diag("template: %s", err.msg);
		exit(1);
	}
	{
		size_t k = 0;

		for (size_t i = 0; i < v->tmpl.n; i++)
			if (strcmp(v->tmpl.attrs[i].name, "DISK") == 0 &&
			    v->tmpl.attrs[i].value == NULL) {
				char p[300];

				snprintf(p, sizeof(p), "%s/disk.%zu", v->dir, k++);
				cld_vector_add(&v->tmpl.attrs[i], "PATH", p);
			}
	}
	v->d.size = sizeof(v->d);
	v->d.id = id;
	v->d.name = v->name;
	v->d.host = host;
	v->d.dir = v->dir;
	v->d.cpu = 0.5;
	v->d.vcpu = 2;
	v->d.memory_mb = 64;
	v->d.tmpl = &v->tmpl;
}

/* Make the VM's disk files on its host (the tm driver's job). */
static void
t_disks(struct t_vm *v, int n)
{
	char p[400];

	mkdir(v->dir, 0755);
	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/disk.%d", v->dir, i);
		t_write(p, "disk\n", 0644);
	}
}

struct t_call {
	struct cld_op op;
	struct cld_op_ctl ctl;
	struct cld_err err;
};

static struct cld_op *
t_call(struct t_call *c, struct t_inst *t, int64_t timeout_ms)
{
	cld_op_setup(&c->op, &t->drv, &c->ctl, &c->err, timeout_ms);
	return &c->op;
}

static void
t_done(struct t_call *c)
{
	cld_op_ctl_release(&c->ctl);
}

/* deploy V; returns 0 and the domid in ID, or -1 with the message in MSG. */
static int
t_deploy(struct t_inst *t, struct t_vm *v, char *id, size_t idsz,
    char *msg, size_t msgsz)
{
	struct t_call c;
	char *domid = NULL;
	int rc;

	rc = XL->deploy(t_call(&c, t, 20000), &v->d, 0, &domid);
	if (rc == 0)
		snprintf(id, idsz, "%s", domid);
	snprintf(msg, msgsz, "%s", c.err.msg);
	free(domid);
	t_done(&c);
	return rc;
}

static int
t_poll(struct t_inst *t, struct t_vm *v, struct cld_vm_poll *p)
{
	struct t_call c;
	int rc;

	memset(p, 0, sizeof(*p));
	p->size = sizeof(*p);
	rc = XL->poll(t_call(&c, t, 20000), &v->d, 0, p);
	if (rc < 0)
		diag("poll: %s", c.err.msg);
	t_done(&c);
	return rc < 0 ? -1 : p->state;
}

/* The config V's deploy wrote, checked by Xen's parser: 0 if it passes. */
static int
t_check(struct t_vm *v, int xm, char **text)
{
	char path[400];
	char *cfg;
	int rc;

	snprintf(path, sizeof(path), "%s/xen.cfg", v->dir);
	if ((cfg = t_read(path)) == NULL) {
		diag("no config at %s", path);
		return -1;
	}
	rc = xlcheck(path, cfg, strlen(cfg), xm, stderr, NULL);
	if (rc < 0)
		diag("refused by xlcheck:\n%s", cfg);
	if (text != NULL)
		*text = cfg;
	else
		free(cfg);
	return rc;
}

static int
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return 1;
		p++;
	}
	diag("no line '%s' in:\n%s", line, text);
	return 0;
}

/* -- the tests -- */

static void
test_init(void)
{
	static const struct { const char *opt, *msg; } bad[] = {
		{ "TOOLSTACK=xend", "TOOLSTACK: 'xend' is not auto, xl or xm" },
		{ "SHUTDOWN_POLL=0.01", "SHUTDOWN_POLL: '0.01' is not a number of seconds from 0.05 to 60" },
		{ "SHUTDOWN_POLL=-1", "SHUTDOWN_POLL: '-1' is not a number of seconds from 0.05 to 60" },
		{ "RAW=1", "RAW: '1' is not yes or no" },
		{ "CPU_CAP=maybe", "CPU_CAP: 'maybe' is not yes or no" },
		{ "XL=/usr/sbin/../xl", "XL: '/usr/sbin/../xl' is not a program name or an absolute path of letters, digits and ._+-/" },
		{ "XM=xm -v", "XM: 'xm -v' is not a program name or an absolute path of letters, digits and ._+-/" },
		{ "DISK_FORMAT=vmdk", "DISK_FORMAT: 'vmdk' is not raw, qcow, qcow2, vhd or qed" },
		{ "ON_REBOOT=coredump-restart", "ON_REBOOT: 'coredump-restart' is not destroy, restart, preserve or rename-restart" },
		{ "HVMLOADER=hvmloader", "HVMLOADER: 'hvmloader' is not an absolute path of letters, digits and ._+-/" },
		{ "MIGRATE_SSH=ssh\n-x", "MIGRATE_SSH: the command is empty or has a control character" },
		{ "SHUTDOWN=3", "unknown option 'SHUTDOWN'" },
	};
	struct t_inst t;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ok(t_open(&t, bad[i].opt, (char *)NULL) == -1 &&
		    t.err.code == CLD_ECONFIG, "init refuses %s", bad[i].opt);
		is_str(t.err.msg, bad[i].msg, "  saying why");
		t_close(&t);
	}
	ok(t_open(&t, "XL=/usr/sbin/xl", "TOOLSTACK=auto", "SHUTDOWN_POLL=0.5",
	    "ON_CRASH=coredump-destroy", "CPU_CAP=yes", "RAW=no",
	    (char *)NULL) == 0, "init takes good options");
	t_close(&t);
}

static void
test_flags(void)
{
	struct t_inst t;
	struct t_vm v;
	struct t_call c;
	struct cld_vm_poll p;
	char *id = NULL;

	t_open(&t, (char *)NULL);
	t_vm(&v, 1, "xlhost", "MEMORY = 64\n");
	t_reset();
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
#define FLAGS(call, what) do { \
		int rc_ = (call); \
		ok(rc_ == -1 && c.err.code == CLD_EINVAL && \
		    strstr(c.err.msg, "unknown flags") != NULL, \
		    "%s refuses unknown flags", what); \
		t_done(&c); \
	} while (0)
	FLAGS(XL->deploy(t_call(&c, &t, 0), &v.d, 1, &id), "deploy");
	FLAGS(XL->shutdown(t_call(&c, &t, 0), &v.d, 4), "shutdown");
	FLAGS(XL->destroy(t_call(&c, &t, 0), &v.d, 2), "destroy");
	FLAGS(XL->reboot(t_call(&c, &t, 0), &v.d, 2), "reboot");
	FLAGS(XL->suspend(t_call(&c, &t, 0), &v.d, 1), "suspend");
	FLAGS(XL->resume(t_call(&c, &t, 0), &v.d, 1), "resume");
	FLAGS(XL->save(t_call(&c, &t, 0), &v.d, "/x", 1), "save");
	FLAGS(XL->restore(t_call(&c, &t, 0), &v.d, "/x", 1, &id), "restore");
	FLAGS(XL->migrate(t_call(&c, &t, 0), &v.d, "h", 2), "migrate");
	FLAGS(XL->poll(t_call(&c, &t, 0), &v.d, 1, &p), "poll");
	is_int(t_ncalls, 0, "nothing ran on the host");
	cld_tmpl_release(&v.tmpl);
	t_close(&t);
}

/* One template variant: deployed on an xl host and an xm host. */
struct variant {
	const char *what;
	const char *tmpl;
	int ndisks;
	const char *xl_lines[6];   /* lines the xl config must have */
	const char *xm_lines[6];
	const char *xm_refused;    /* the xm host refuses it with this, or NULL */
};

static void
test_configs(void)
{
	static const struct variant vs[] = {
		{ "kernel boot",
		  "CPU = 1\nMEMORY = 64\nOS = [ KERNEL = \"$T/boot/vmlinuz-6.1\", INITRD = \"$T/boot/initrd.img\", ROOT = \"/dev/xvda1 ro\", KERNEL_CMD = \"console=hvc0 ip=10.0.0.2::10.0.0.1:255.255.255.0\" ]\nDISK = [ TARGET = \"xvda\" ]\n",
		  1,
		  { "type = \"pv\"", "kernel = \"$T/boot/vmlinuz-6.1\"", "ramdisk = \"$T/boot/initrd.img\"",
		    "root = \"/dev/xvda1 ro\"", "extra = \"console=hvc0 ip=10.0.0.2::10.0.0.1:255.255.255.0\"", NULL },
		  { "kernel = \"$T/boot/vmlinuz-6.1\"", "ramdisk = \"$T/boot/initrd.img\"", NULL },
		  NULL },
		{ "bootloader (pygrub)",
		  "MEMORY = 64\nOS = [ BOOTLOADER = \"pygrub\" ]\nDISK = [ TARGET = \"xvda\" ]\n",
		  1,
		  { "bootloader = \"pygrub\"", "type = \"pv\"", NULL },
		  { "bootloader = \"pygrub\"", NULL },
		  NULL },
		{ "HVM with a cdrom, booting from it",
		  "MEMORY = 64\nOS = [ BOOT = \"dc\" ]\nDISK = [ TARGET = \"hda\" ]\nDISK = [ TYPE = cdrom, TARGET = \"hdc\" ]\n",
		  2,
		  { "type = \"hvm\"", "boot = \"dc\"", "    \"format=raw, vdev=hdc, access=ro, devtype=cdrom, target=@/disk.1\" ]", NULL },
		  { "builder = \"hvm\"", "kernel = \"$T/hvmloader\"", "    \"file:@/disk.1,hdc:cdrom,r\" ]", NULL },
		  NULL },
		{ "several disks: image, swap, fs, read-only, qcow2",
		  "MEMORY = 64\nOS = [ KERNEL = \"$T/k\" ]\nDISK = [ TARGET = \"xvda\", DRIVER = \"qcow2\" ]\nDISK = [ TYPE = swap, SIZE = 8 ]\nDISK = [ TYPE = fs, SIZE = 8, FORMAT = ext4, TARGET = \"xvdd\" ]\nDISK = [ TARGET = \"xvde\", READONLY = yes ]\n",
		  4,
		  { "    \"format=qcow2, vdev=xvda, access=rw, target=@/disk.0\",",
		    "    \"format=raw, vdev=xvdb, access=rw, target=@/disk.1\",",
		    "    \"format=raw, vdev=xvdd, access=rw, target=@/disk.2\",",
		    "    \"format=raw, vdev=xvde, access=ro, target=@/disk.3\" ]", NULL },
		  { "    \"tap:qcow2:@/disk.0,xvda,w\",", "    \"file:@/disk.1,xvdb,w\",",
		    "    \"file:@/disk.3,xvde,r\" ]", NULL },
		  NULL },
		{ "several NICs",
		  "MEMORY = 64\nOS = [ KERNEL = \"$T/k\" ]\nNIC = [ BRIDGE = \"br0\", MAC = \"02:00:0a:00:00:07\", IP = \"10.0.0.7\" ]\nNIC = [ BRIDGE = \"br1.42\", TARGET = \"one-7-1\", MODEL = \"e1000\" ]\nNIC = [ MODEL = \"rtl8139\" ]\n",
		  0,
		  { "    \"mac=02:00:0a:00:00:07, bridge=br0, ip=10.0.0.7\",",
		    "    \"bridge=br1.42, vifname=one-7-1, model=e1000\",", "    \"model=rtl8139\" ]", NULL },
		  { "vif = [", "    \"bridge=br1.42, vifname=one-7-1, model=e1000\",", NULL },
		  NULL },
		{ "RAW for Xen appended; RAW for others left out",
		  "MEMORY = 64\nOS = [ KERNEL = \"$T/k\" ]\nRAW = [ TYPE = \"xen\", DATA = \"# tuning\nvif_other_config = [ ]\ncpus = \\\"0-1\\\"\" ]\nRAW = [ TYPE = \"kvm\", DATA = \"<cpu mode='host'/>\" ]\nRAW = [ TYPE = \"xl\", DATA = \"max_grant_frames = 64\" ]\n",
		  0,
		  { "# RAW", "cpus = \"0-1\"", "max_grant_frames = 64", NULL },
		  { "# RAW", "cpus = \"0-1\"", NULL },
		  NULL },
		{ "a PVH guest",
		  "MEMORY = 64\nOS = [ TYPE = pvh, KERNEL = \"$T/k\" ]\n",
		  0,
		  { "type = \"pvh\"", NULL },
		  { NULL },
		  "OS TYPE: pvh guests need xl, and 'xmhost' has only xm" },
		{ "27 disks without TARGET: xvda to xvdz, then xvdaa",
		  "MEMORY = 64\nOS = [ KERNEL = \"$T/k\" ]\n"
		  "DISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\n"
		  "DISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\n"
		  "DISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\n"
		  "DISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\n"
		  "DISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\n"
		  "DISK=[SIZE=1,TYPE=swap]\nDISK=[SIZE=1,TYPE=swap]\n",
		  27,
		  { "    \"format=raw, vdev=xvdz, access=rw, target=@/disk.25\",",
		    "    \"format=raw, vdev=xvdaa, access=rw, target=@/disk.26\" ]", NULL },
		  { "    \"file:@/disk.26,xvdaa,w\" ]", NULL },
		  NULL },
	};
	struct t_inst t;
	int64_t id = 100;

	char hvml[200];

	snprintf(hvml, sizeof(hvml), "HVMLOADER=%s/hvmloader", t_dir);
	t_open(&t, "RAW=yes", hvml, (char *)NULL);
	for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
		for (int xm = 0; xm <= 1; xm++) {
			const char *host = xm ? "xmhost" : "xlhost";
			const char *const *lines = xm ? vs[i].xm_lines : vs[i].xl_lines;
			char domid[32], msg[1100], line[600];
			struct t_vm v;
			char *cfg = NULL;
			int rc;

			t_vm(&v, id++, host, vs[i].tmpl);
			t_disks(&v, vs[i].ndisks);
			rc = t_deploy(&t, &v, domid, sizeof(domid), msg, sizeof(msg));
			if (xm && vs[i].xm_refused != NULL) {
				ok(rc == -1, "%s on xm: refused", vs[i].what);
				is_str(msg, vs[i].xm_refused, "  saying why");
				cld_tmpl_release(&v.tmpl);
				continue;
			}
			ok(rc == 0, "%s on %s: deployed (%s)", vs[i].what,
			    xm ? "xm" : "xl", rc == 0 ? domid : msg);
			ok(t_check(&v, xm, &cfg) == 0,
			    "  its config passes Xen's parser (%s dialect)",
			    xm ? "xm" : "xl");
			for (int k = 0; cfg != NULL && lines[k] != NULL; k++) {
				/* @ is the VM's directory, $T the test's */
				char tmp[600];

				t_subst(tmp, sizeof(tmp), lines[k], "@", v.dir);
				t_subst(line, sizeof(line), tmp, "$T", t_dir);
				ok(has_line(cfg, line), "  it has: %s", lines[k]);
			}
			free(cfg);
			cld_tmpl_release(&v.tmpl);
		}
	}
	t_close(&t);
}

static void
test_weight(void)
{
	static const struct { double cpu; const char *xl, *xm; } w[] = {
		{ 1, "cpu_weight = 256\ncap = 100\n", "cpu_weight = 256\ncpu_cap = 100\n" },
		{ 0.25, "cpu_weight = 64\ncap = 25\n", "cpu_weight = 64\ncpu_cap = 25\n" },
		{ 0.01, "cpu_weight = 3\ncap = 1\n", "cpu_weight = 3\ncpu_cap = 1\n" },
		{ 1000, "cpu_weight = 65535\ncap = 100000\n", "cpu_weight = 65535\ncpu_cap = 100000\n" },
	};
	struct t_inst t;
	int64_t id = 300;

	t_open(&t, "CPU_CAP=yes", (char *)NULL);
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		for (int xm = 0; xm <= 1; xm++) {
			struct t_vm v;
			char domid[32], msg[1100];
			char *cfg = NULL;

			t_vm(&v, id++, xm ? "xmhost" : "xlhost",
			    "MEMORY = 64\nOS = [ KERNEL = \"$T/k\" ]\n");
			v.d.cpu = w[i].cpu;
			ok(t_deploy(&t, &v, domid, sizeof(domid), msg, sizeof(msg)) == 0 &&
			    t_check(&v, xm, &cfg) == 0 &&
			    strstr(cfg, xm ? w[i].xm : w[i].xl) != NULL,
			    "CPU %g on %s: weight and cap %s", w[i].cpu,
			    xm ? "xm" : "xl", xm ? w[i].xm : w[i].xl);
			free(cfg);
			cld_tmpl_release(&v.tmpl);
		}
	t_close(&t);
}

static void
test_hostile(void)
{
	static const struct { const char *tmpl, *msg; } h[] = {
		{ "OS = [ KERNEL = \"$T/k\", KERNEL_CMD = \"quiet\\\" disk = [ \\\"phy:/dev/sda,xvdz,w\\\" ] extra = \\\"\" ]",
		  "OS KERNEL_CMD: the value has a double quote, which a Xen domain configuration cannot hold as written" },
		{ "OS = [ KERNEL = \"$T/k\", ROOT = \"/dev/xvda\\\\\" ]",
		  "OS ROOT: the value has a backslash, which a Xen domain configuration cannot hold as written" },
		{ "OS = [ KERNEL = \"$T/k\", KERNEL_CMD = \"quiet\nmemory = 99999\" ]",
		  "OS KERNEL_CMD: the value has a control character (0x0a), which a Xen domain configuration cannot hold" },
		{ "OS = [ KERNEL = \"vmlinuz\" ]", "OS KERNEL: 'vmlinuz' is not an absolute path on the host" },
		{ "OS = [ BOOTLOADER = \"pygrub --entry=0\" ]",
		  "OS BOOTLOADER: 'pygrub --entry=0' is not a program name or path of letters, digits and ._+-/" },
		{ "OS = [ TYPE = \"hvm;\" ]", "OS TYPE: 'hvm;' is not pv, hvm or pvh" },
		{ "OS = [ TYPE = pv ]", "OS: a pv guest needs KERNEL or BOOTLOADER" },
		{ "OS = [ KERNEL = \"$T/k\" ]\nOS = [ KERNEL = \"/j\" ]", "OS: given more than once" },
		{ "OS = [ KERNEL = \"$T/k\" ]\nDISK = [ TARGET = \"xvda,w\" ]",
		  "DISK 0 TARGET: 'xvda,w' is not a device name of lower-case letters and digits (xvda, hdc)" },
		{ "OS = [ KERNEL = \"$T/k\" ]\nDISK = [ TARGET = \"xvda\", DRIVER = \"raw,script=/tmp/x\" ]",
		  "DISK 0 DRIVER: 'raw,script=/tmp/x' is not raw, qcow, qcow2, vhd or qed" },
		{ "OS = [ KERNEL = \"$T/k\" ]\nDISK = [ TYPE = cdrom, READONLY = no ]",
		  "DISK 0 READONLY: 'no' is not yes (a cdrom is read-only)" },
		{ "OS = [ KERNEL = \"$T/k\" ]\nNIC = [ BRIDGE = \"br0, script=/tmp/evil\" ]",
		  "NIC 0 BRIDGE: 'br0, script=/tmp/evil' is not an interface name (1 to 15 letters, digits and ._-)" },
		{ "OS = [ KERNEL = \"$T/k\" ]\nNIC = [ MAC = \"02:00:0a:00:00:07,bridge=br9\" ]",
		  "NIC 0 MAC: '02:00:0a:00:00:07,bridge=br9' is not a MAC address (six hex pairs and colons)" },
		{ "OS = [ KERNEL = \"$T/k\" ]\nNIC = [ BRIDGE = \"br0\" ]\nNIC = [ TARGET = \"vif=1\" ]",
		  "NIC 1 TARGET: 'vif=1' is not an interface name (1 to 15 letters, digits and ._-)" },
		{ "OS = [ KERNEL = \"$T/k\" ]\nNIC = [ IP = \"10.0.0.1, script=x\" ]",
		  "NIC 0 IP: '10.0.0.1, script=x' is not an IP address" },
		{ "OS = [ KERNEL = \"$T/k\" ]\nRAW = [ TYPE = xen, DATA = \"memory = 65536\" ]",
		  "RAW DATA line 1: 'memory' is set by the driver from the template and cannot be set again" },
		{ "OS = [ KERNEL = \"$T/k\" ]\nRAW = [ TYPE = xen, DATA = \"cpus = \\\"1\\\"\ndisk += [ \\\"phy:/dev/sda,xvdz,w\\\" ]\" ]",
		  "RAW DATA line 2: 'disk' is set by the driver from the template and cannot be set again" },
		{ "OS = [ KERNEL = \"$T/k\" ]\nRAW = [ TYPE = xen, DATA = \"import os\" ]",
		  "RAW DATA line 1: not a 'key = value' setting: 'import os'" },
		{ "OS = [ KERNEL = \"$T/k\" ]\nRAW = [ TYPE = xen ]", "RAW: TYPE xen without DATA" },
	};
	struct t_inst t, t2;
	int64_t id = 400;

	t_open(&t, "RAW=yes", (char *)NULL);
	for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
		struct t_vm v;
		char domid[32], msg[1100], tmpl[1024], cfg[400];
		struct stat st;

		snprintf(tmpl, sizeof(tmpl), "MEMORY = 64\n%s\n", h[i].tmpl);
		t_vm(&v, id++, "xlhost", tmpl);
		t_reset();
		ok(t_deploy(&t, &v, domid, sizeof(domid), msg, sizeof(msg)) == -1,
		    "refused: %s", h[i].tmpl);
		is_str(msg, h[i].msg, "  naming the attribute");
		snprintf(cfg, sizeof(cfg), "%s/xen.cfg", v.dir);
		/* the one call made: looking for xl (a new instance) */
		ok(t_ncalls <= 1 && strstr(t_calls, " create ") == NULL &&
		    stat(cfg, &st) == -1, "  no config written, no create run");
		cld_tmpl_release(&v.tmpl);
	}
	t_close(&t);

	/* RAW only when the instance allows it. */
	t_open(&t2, (char *)NULL);
	{
		struct t_vm v;
		char domid[32], msg[1100];

		t_vm(&v, id++, "xlhost",
		    "MEMORY = 64\nOS = [ KERNEL = \"$T/k\" ]\nRAW = [ TYPE = xen, DATA = \"cpus = \\\"1\\\"\" ]\n");
		ok(t_deploy(&t2, &v, domid, sizeof(domid), msg, sizeof(msg)) == -1,
		    "RAW for Xen is refused by default");
		is_str(msg, "RAW: Xen data is not allowed by the vmm instance 'xl' (its option RAW is not yes)",
		    "  saying how to allow it");
		cld_tmpl_release(&v.tmpl);
	}
	t_close(&t2);
}

/* xlcheck itself can fail: broken configs it must refuse. */
static void
test_xlcheck(void)
{
	static const struct { const char *cfg; int xm; const char *what; } bad[] = {
		{ "name = \"a\"\nkernel = \"$T/k\"\nmemory = 64(\n", 0, "a syntax error" },
		{ "name = \"a\"\nkernel = \"$T/k\"\nmemory = \"lots\"\n", 0, "a number that is not one" },
		{ "name = \"a\"\nkernel = [ \"$T/k\" ]\n", 0, "a list where a string goes" },
		{ "name = \"a\"\nmemory = 64\n", 0, "a PV guest without kernel or bootloader" },
		{ "kernel = \"$T/k\"\n", 0, "no name" },
		{ "name = \"a\"\nkernel = \"$T/k\"\ndisk = [ \"format=raw, vdev=xvda, access=rx, target=/d\" ]\n", 0, "a bad disk access" },
		{ "name = \"a\"\nkernel = \"$T/k\"\ndisk = [ \"format=vmdk, vdev=xvda, target=/d\" ]\n", 0, "a bad disk format" },
		{ "name = \"a\"\nkernel = \"$T/k\"\ndisk = [ \"file:/d,xvda,w,extra\" ]\n", 1, "too many positional disk parameters (xm)" },
		{ "name = \"a\"\nkernel = \"$T/k\"\nvif = [ \"bridge=br0, colour=red\" ]\n", 0, "an unknown vif key" },
		{ "name = \"a\"\nkernel = \"$T/k\"\nvif = [ \"mac=00:16:3e:zz:00:01\" ]\n", 0, "a bad MAC" },
		{ "name = \"a\"\nkernel = \"$T/k\"\nvif = [ \"rate=fast\" ]\n", 0, "a bad vif rate" },
		{ "name = \"a\"\nkernel = \"$T/k\"\non_crash = \"explode\"\n", 0, "an unknown action" },
		{ "name = \"a\"\ntype = \"kvm\"\n", 0, "an unknown guest type" },
		{ "name = \"a\"\nkernel = \"$T/k\"\nextra = \"a\" + \"b\"\n", 1, "Python beyond libxlutil's reach (xm)" },
	};
	FILE *devnull = fopen("/dev/null", "w");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(xlcheck("t.cfg", bad[i].cfg, strlen(bad[i].cfg), bad[i].xm,
		    devnull, NULL) == -1, "xlcheck refuses %s", bad[i].what);
	{
		const char *good = "name = 'a'; kernel = '/k'\nvif = [ 'rate=10Mb/s' ]\n";

		ok(xlcheck("t.cfg", good, strlen(good), 0, stderr, NULL) == 0,
		    "xlcheck takes single quotes, ';' and a rate");
	}
	fclose(devnull);
}

static struct cld_vm_poll t_p;

static void
test_flow(const char *host, const char *other, const char *tool)
{
	struct t_inst t;
	struct t_vm v;
	struct t_call c;
	char id1[32], id2[32], msg[1100], path[400], ck[400];
	char *domid = NULL, opt[200];
	int rc;

	snprintf(opt, sizeof(opt), "MIGRATE_SSH=%s", t_to);
	t_open(&t, "SHUTDOWN_POLL=0.05", opt, (char *)NULL);
	t_vm(&v, strcmp(tool, "xl") == 0 ? 500 : 600, host,
	    "MEMORY = 64\nOS = [ KERNEL = \"$T/k\" ]\nDISK = [ TARGET = \"xvda\" ]\n");
	t_disks(&v, 1);
	ok(t_deploy(&t, &v, id1, sizeof(id1), msg, sizeof(msg)) == 0,
	    "%s: deploy (%s)", tool, msg);
	ok(t_deploy(&t, &v, id2, sizeof(id2), msg, sizeof(msg)) == 0 &&
	    strcmp(id1, id2) == 0, "%s: deploy again: the same domain, %s", tool, id2);
	ok(t_poll(&t, &v, &t_p) == CLD_POLL_RUNNING && t_p.memory_kb == 65536,
	    "%s: poll: RUNNING, 64 MiB", tool);
	usleep(300000);
	ok(t_poll(&t, &v, &t_p) == CLD_POLL_RUNNING && t_p.cpu > 10,
	    "%s: the next poll: CPU %.1f %% (two VCPUs at 100 %%)", tool, t_p.cpu);

	ok(XL->suspend(t_call(&c, &t, 10000), &v.d, 0) == 0, "%s: suspend", tool);
	t_done(&c);
	ok(XL->suspend(t_call(&c, &t, 10000), &v.d, 0) == 0, "%s: suspend again", tool);
	t_done(&c);
	ok(t_poll(&t, &v, &t_p) == CLD_POLL_PAUSED, "%s: poll: PAUSED", tool);
	ok(XL->resume(t_call(&c, &t, 10000), &v.d, 0) == 0 &&
	    t_poll(&t, &v, &t_p) == CLD_POLL_RUNNING,
	    "%s: one resume and it runs (Xen counts pauses: the driver paused once)", tool);
	t_done(&c);
	ok(XL->resume(t_call(&c, &t, 10000), &v.d, 0) == 0, "%s: resume again", tool);
	t_done(&c);

	ok(XL->reboot(t_call(&c, &t, 10000), &v.d, 0) == 0, "%s: reboot", tool);
	t_done(&c);
	ok(XL->reboot(t_call(&c, &t, 10000), &v.d, CLD_REBOOT_HARD) == 0 &&
	    t_poll(&t, &v, &t_p) == CLD_POLL_RUNNING, "%s: hard reboot", tool);
	t_done(&c);

	snprintf(ck, sizeof(ck), "%s/checkpoint", v.dir);
	ok(XL->save(t_call(&c, &t, 10000), &v.d, ck, 0) == 0 &&
	    t_poll(&t, &v, &t_p) == CLD_POLL_MISSING, "%s: save: the domain is gone", tool);
	t_done(&c);
	ok(XL->save(t_call(&c, &t, 10000), &v.d, ck, 0) == 0, "%s: save again (a retry)", tool);
	t_done(&c);
	rc = XL->restore(t_call(&c, &t, 10000), &v.d, ck, 0, &domid);
	ok(rc == 0 && t_poll(&t, &v, &t_p) == CLD_POLL_RUNNING, "%s: restore: domain %s",
	    tool, domid ? domid : c.err.msg);
	t_done(&c);
	snprintf(id1, sizeof(id1), "%s", domid ? domid : "");
	free(domid);
	domid = NULL;
	ok(XL->restore(t_call(&c, &t, 10000), &v.d, ck, 0, &domid) == 0 &&
	    domid != NULL && strcmp(domid, id1) == 0, "%s: restore again: the same domain", tool);
	t_done(&c);
	free(domid);
	domid = NULL;

	/* to the other host of the same tool, through MIGRATE_SSH's stand-in */
	ok(XL->migrate(t_call(&c, &t, 10000), &v.d, other, CLD_MIGRATE_LIVE) == 0,
	    "%s: live migration to %s (%s)", tool, other, c.err.msg);
	t_done(&c);
	ok(t_poll(&t, &v, &t_p) == CLD_POLL_MISSING, "%s: gone from %s", tool, host);
	v.d.host = other;
	ok(t_poll(&t, &v, &t_p) == CLD_POLL_RUNNING, "%s: running on %s", tool, other);
	v.d.host = host;
	ok(XL->migrate(t_call(&c, &t, 10000), &v.d, other, CLD_MIGRATE_LIVE) == 0,
	    "%s: migrating again (a retry) succeeds", tool);
	t_done(&c);
	v.d.host = other;

	/* a guest that will not power off: ETIMEDOUT at the deadline */
	snprintf(path, sizeof(path), "%s/%s/xen/ignore-shutdown/%s", t_dir, other, v.name);
	t_write(path, "", 0644);
	ok(XL->shutdown(t_call(&c, &t, 700), &v.d, 0) == -1 &&
	    c.err.code == CLD_ETIMEDOUT, "%s: a shutdown the guest ignores times out: %s",
	    tool, c.err.msg);
	t_done(&c);
	unlink(path);
	ok(XL->shutdown(t_call(&c, &t, 10000), &v.d, 0) == 0 &&
	    t_poll(&t, &v, &t_p) == CLD_POLL_MISSING, "%s: shutdown: powered off", tool);
	t_done(&c);
	ok(XL->shutdown(t_call(&c, &t, 10000), &v.d, 0) == 0, "%s: shutdown again", tool);
	t_done(&c);
	ok(XL->destroy(t_call(&c, &t, 10000), &v.d, 0) == 0, "%s: destroy of a missing domain", tool);
	t_done(&c);
	ok(XL->suspend(t_call(&c, &t, 10000), &v.d, 0) == -1 &&
	    strstr(c.err.msg, "is not running") != NULL, "%s: suspend of a missing domain fails: %s",
	    tool, c.err.msg);
	t_done(&c);
	cld_tmpl_release(&v.tmpl);
	t_close(&t);
}

static void
test_tools(void)
{
	struct t_inst t;
	struct t_vm v;
	struct t_call c;
	char domid[32], msg[1100];

	t_open(&t, "SHUTDOWN_POLL=0.05", (char *)NULL);
	/* between toolstacks: refused before anything moves */
	t_vm(&v, 700, "xlhost", "MEMORY = 64\nOS = [ KERNEL = \"$T/k\" ]\n");
	ok(t_deploy(&t, &v, domid, sizeof(domid), msg, sizeof(msg)) == 0, "a domain on xl");
	ok(XL->migrate(t_call(&c, &t, 10000), &v.d, "xmhost", CLD_MIGRATE_LIVE) == -1 &&
	    c.err.code == CLD_ENOTSUP, "migration from xl to xm is refused");
	is_str(c.err.msg, "cannot migrate 'cld-700' from 'xlhost' (xl) to 'xmhost' (xm): the hosts run different Xen toolstacks",
	    "  saying why");
	t_done(&c);
	ok(XL->migrate(t_call(&c, &t, 10000), &v.d, "x;reboot", CLD_MIGRATE_LIVE) == -1 &&
	    c.err.code == CLD_EINVAL, "a destination that is not a host name is refused");
	t_done(&c);
	ok(XL->destroy(t_call(&c, &t, 10000), &v.d, 0) == 0, "  destroyed");
	t_done(&c);
	cld_tmpl_release(&v.tmpl);

	/* neither tool */
	t_host("bare", "");
	t_vm(&v, 701, "bare", "MEMORY = 64\nOS = [ KERNEL = \"$T/k\" ]\n");
	ok(t_deploy(&t, &v, domid, sizeof(domid), msg, sizeof(msg)) == -1,
	    "a host without xl or xm");
	is_str(msg, "neither 'xl' nor 'xm' is on 'bare' (is Xen's toolstack installed?)", "  saying so");
	/* the tool seen once is remembered; gone, it is looked for again */
	t_host("bare", "xl");
	ok(t_deploy(&t, &v, domid, sizeof(domid), msg, sizeof(msg)) == 0, "  once xl is there, it works");
	t_reset();
	ok(XL->destroy(t_call(&c, &t, 10000), &v.d, 0) == 0 && t_ncalls == 1,
	    "  the tool was remembered: one call for destroy");
	t_done(&c);
	t_host("bare", "xm");
	ok(XL->destroy(t_call(&c, &t, 10000), &v.d, 0) == -1 &&
	    strstr(c.err.msg, "xl destroy failed on 'bare' (status 127)") != NULL,
	    "  xl gone: status 127 (%s)", c.err.msg);
	t_done(&c);
	ok(XL->destroy(t_call(&c, &t, 10000), &v.d, 0) == 0 &&
	    strstr(t_log, "'bare' has xm") != NULL, "  and the next call finds xm");
	t_done(&c);
	cld_tmpl_release(&v.tmpl);
	t_close(&t);

	/* TOOLSTACK forces the tool: no looking */
	t_open(&t, "TOOLSTACK=xm", (char *)NULL);
	t_vm(&v, 702, "xmhost", "MEMORY = 64\nOS = [ KERNEL = \"$T/k\" ]\n");
	t_reset();
	ok(t_deploy(&t, &v, domid, sizeof(domid), msg, sizeof(msg)) == 0 && t_ncalls == 1,
	    "TOOLSTACK = xm: one call to deploy");
	ok(XL->destroy(t_call(&c, &t, 10000), &v.d, 0) == 0, "  destroyed");
	t_done(&c);
	cld_tmpl_release(&v.tmpl);
	t_close(&t);
}

int
main(void)
{
	char text[512];

	if (getenv("top_srcdir") == NULL || getenv("top_builddir") == NULL)
		skip_all("top_srcdir and top_builddir are not set (run it through make check)");
	snprintf(t_dir, sizeof(t_dir), "/tmp/cld-unit-xl-XXXXXX");
	if (mkdtemp(t_dir) == NULL)
		skip_all("cannot make a temporary directory");
	t_svc = cld_services;
	t_svc.log = t_logf;
	t_svc.conf_get = t_conf_get;
	t_svc.ssh = t_ssh;
	snprintf(text, sizeof(text), "%s/boot", t_dir);
	mkdir(text, 0755);
	{
		static const char *const files[] = { "k", "boot/vmlinuz-6.1",
			"boot/initrd.img", "hvmloader" };

		for (size_t i = 0; i < 4; i++) {
			char p[200];

			snprintf(p, sizeof(p), "%s/%s", t_dir, files[i]);
			t_write(p, "kernel\n", 0644);
		}
	}
	t_host("xlhost", "xl");
	t_host("xlhost2", "xl");
	t_host("xmhost", "xm");
	t_host("xmhost2", "xm");
	/* "ssh HOST CMD" between the local hosts, for xl migrate -s and xm */
	snprintf(t_to, sizeof(t_to), "%s/to", t_dir);
	snprintf(text, sizeof(text),
	    "#!/bin/sh\nh=$1; shift; PATH=%s/$h/sbin:$PATH exec \"$@\"\n", t_dir);
	t_write(t_to, text, 0755);
	setenv("XEN_STUB_SSH", t_to, 1);

	test_init();
	test_flags();
	test_xlcheck();
	test_configs();
	test_weight();
	test_hostile();
	test_flow("xlhost", "xlhost2", "xl");
	test_flow("xmhost", "xmhost2", "xm");
	test_tools();
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", t_dir);
		if (system(cmd) != 0)
			diag("cannot remove %s", t_dir);
	}
	return done_testing();
}
