/*
 * vmm/libvirt and im/libvirt against real libvirt: its test driver, a
 * hypervisor inside this process described by one node XML per host
 * (test:///DIR/HOST.xml), and, for reconnection, a libvirtd serving the
 * same driver on a socket of this test's own, killed and started again.
 *
 * The drivers are linked in directly with the library they share
 * (liblvcommon), once, as in cloudd, where both modules load the one
 * libcloudd-libvirt.so; a stub core lends them its services.  What the
 * drivers made is read back from libvirt itself through the same cached
 * connection (a test:/// connection is a private hypervisor: no other would
 * see it) and parsed with libxml2.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include <cloudd/attr.h>
#include <cloudd/driver.h>
#include <cloudd/error.h>

#include "template.h"
#include "tap.h"
#include "../../drivers/libvirt/common.h"

extern char **environ;

extern const struct cld_vmm_driver CLD_DRIVER_ENTRY(vmm_libvirt);
extern const struct cld_im_driver CLD_DRIVER_ENTRY(im_libvirt);

#define VMM (&CLD_DRIVER_ENTRY(vmm_libvirt))
#define IM (&CLD_DRIVER_ENTRY(im_libvirt))

static char t_dir[PATH_MAX];     /* this test's directory */

/* -- the stub core -- */

static pthread_mutex_t t_log_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int t_connects;    /* "connected to" lines logged */

static CLD_PRINTF(3, 4) void
t_log(const struct cld_drv *drv, int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (strstr(line, "connected to") != NULL)
		atomic_fetch_add(&t_connects, 1);
	if (level <= CLD_LOG_INFO) {
		pthread_mutex_lock(&t_log_lock);
		diag("%s: %s", drv->name, line);
		pthread_mutex_unlock(&t_log_lock);
	}
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

static void
t_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1)
		;
}

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
	.cancelled = t_cancelled,
	.remaining_ms = t_remaining_ms,
};

/* A fresh call on DRV, with a deadline 30 s away. */
static struct cld_op *
t_call(struct t_call *c, struct cld_drv *drv)
{
	memset(c, 0, sizeof(*c));
	atomic_init(&c->cancelled, 0);
	c->op.drv = drv;
	c->op.err = &c->err;
	c->op.deadline_ms = t_now_ms() + 30000;
	c->op.core = c;
	return &c->op;
}

struct t_inst {
	struct cld_drv drv;
	struct cld_attr block;
	struct cld_attr opts[8];
	const struct cld_driver *hdr;
	struct cld_err err;
	int open;
};

/*
 * Start an instance of TABLE called NAME with options given as name,
 * value pairs ended by NULL.  Returns what init returned.
 */
static int
t_open(struct t_inst *t, const void *table, const char *name, ...)
{
	const char *k;
	va_list ap;
	size_t n = 0;
	int rc;

	memset(t, 0, sizeof(*t));
	va_start(ap, name);
	while ((k = va_arg(ap, const char *)) != NULL && n < 8) {
		t->opts[n].name = (char *)k;
		t->opts[n].value = va_arg(ap, char *);
		n++;
	}
	va_end(ap);
	t->hdr = table;
	t->block.name = "DRIVER";
	t->block.sub = t->opts;
	t->block.nsub = n;
	t->drv.svc = &t_svc;
	t->drv.name = name;
	t->drv.module = "libvirt";
	t->drv.conf = &t->block;
	rc = t->hdr->init(&t->drv, &t->err);
	t->open = rc == 0;
	return rc;
}

static void
t_close(struct t_inst *t)
{
	if (t->open)
		t->hdr->fini(&t->drv);
	t->open = 0;
}

/* A VM as the core would hand it: its template parsed, each DISK's PATH set. */
struct t_vm {
	struct cld_vm_desc d;
	struct cld_tmpl tmpl;
	char name[32];
	char host[32];
};

static int
t_vm(struct t_vm *v, int id, const char *host, const char *text)
{
	struct cld_err err;
	struct cld_attr *a;
	size_t i, n = 0;
	char path[PATH_MAX + 64];

	memset(v, 0, sizeof(*v));
	cld_err_clear(&err);
	if (cld_tmpl_parse(text, strlen(text), &v->tmpl, &err) < 0) {
		diag("template: %s", err.msg);
		return -1;
	}
	for (i = 0; i < v->tmpl.n; i++) {
		a = &v->tmpl.attrs[i];
		if (strcmp(a->name, "DISK") != 0 || !cld_attr_is_vector(a))
			continue;
		snprintf(path, sizeof(path), "%s/ds/%d/disk.%zu", t_dir, id, n++);
		cld_vector_set(a, "PATH", path);
	}
	snprintf(v->name, sizeof(v->name), "cld-%d", id);
	snprintf(v->host, sizeof(v->host), "%s", host);
	v->d.size = sizeof(v->d);
	v->d.id = id;
	v->d.name = v->name;
	v->d.host = v->host;
	v->d.dir = "/var/lib/cloudd/datastore";
	v->d.cpu = 0.5;
	v->d.vcpu = 2;
	v->d.memory_mb = 256;
	v->d.tmpl = &v->tmpl;
	return 0;
}

static void
t_vm_free(struct t_vm *v)
{
	cld_tmpl_release(&v->tmpl);
}

static int
t_deploy(struct t_inst *t, struct t_vm *v, char **domid, struct t_call *c)
{
	*domid = NULL;
	return VMM->deploy(t_call(c, &t->drv), &v->d, 0, domid);
}

/* The state poll reports (CLD_POLL_*), or -1 if poll failed. */
static int
t_state(struct t_inst *t, struct t_vm *v, struct cld_vm_poll *out)
{
	struct cld_vm_poll p;
	struct t_call c;

	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	if (VMM->poll(t_call(&c, &t->drv), &v->d, 0, &p) == -1) {
		diag("poll '%s': %s", v->name, c.err.msg);
		return -1;
	}
	if (out != NULL)
		*out = p;
	return p.state;
}

/* The test driver's node description of a host of CPUS cores, MEM KiB. */
static void
t_node(const char *host, int cpus, int mhz, unsigned long mem)
{
	char path[PATH_MAX + 32];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.xml", t_dir, host);
	if ((f = fopen(path, "w")) == NULL) {
		diag("cannot write '%s': %s", path, strerror(errno));
		return;
	}
	fprintf(f, "<node>\n  <cpu><mhz>%d</mhz><model>x86_64</model>"
	    "<active>%d</active><nodes>1</nodes><sockets>1</sockets>"
	    "<cores>%d</cores><threads>1</threads></cpu>\n"
	    "  <memory>%lu</memory>\n</node>\n", mhz, cpus, cpus, mem);
	fclose(f);
}

static char t_uri[PATH_MAX + 32];   /* test:///DIR/HOST.xml */

/* -- reading back what libvirt has -- */

/* The live XML of NAME on HOST, parsed, through the drivers' own connection. */
static xmlDocPtr
t_live_xml(struct t_inst *t, const char *host, const char *name)
{
	char uri[PATH_MAX + 64], *xml = NULL;
	virConnectPtr conn;
	virDomainPtr dom;
	struct t_call c;
	xmlDocPtr doc = NULL;

	snprintf(uri, sizeof(uri), "test://%s/%s.xml", t_dir, host);
	if ((conn = cld_lv_connect(t_call(&c, &t->drv), uri)) == NULL) {
		diag("connect: %s", c.err.msg);
		return NULL;
	}
	if ((dom = virDomainLookupByName(conn, name)) != NULL) {
		xml = virDomainGetXMLDesc(dom, 0);
		virDomainFree(dom);
	}
	virResetLastError();
	virConnectClose(conn);
	if (xml != NULL) {
		doc = xmlReadMemory(xml, (int)strlen(xml), "live.xml", NULL,
		    XML_PARSE_NONET);
		free(xml);
	}
	return doc;
}

/* The string value of XPath EXPR in DOC, into BUF. */
static const char *
t_xp(xmlDocPtr doc, const char *expr, char *buf, size_t bufsz)
{
	xmlXPathContextPtr ctx = NULL;
	xmlXPathObjectPtr o = NULL;
	char full[512];

	buf[0] = '\0';
	if (doc == NULL)
		return buf;
	snprintf(full, sizeof(full), "string(%s)", expr);
	if ((ctx = xmlXPathNewContext(doc)) != NULL &&
	    (o = xmlXPathEvalExpression(BAD_CAST full, ctx)) != NULL &&
	    o->stringval != NULL)
		snprintf(buf, bufsz, "%s", (const char *)o->stringval);
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return buf;
}

/* -- the tests -- */

static void
test_init(void)
{
	static const struct {
		const char *opt, *value, *want;
	} bad[] = {
		{ "TYPE", "vmware", "TYPE: 'vmware' is not a domain type this driver knows (kvm, qemu, xen, test)" },
		{ "URI", "no scheme here", "URI: 'no scheme here' has a blank or a control character" },
		{ "URI", "HOST/system", "URI: 'HOST/system' has no scheme (a URI such as qemu+ssh://HOST/system)" },
		{ "URI", "", "URI: the URI is empty" },
		{ "DISK_FORMAT", "vmdk", "DISK_FORMAT: 'vmdk' is not raw or qcow2" },
		{ "VALIDATE", "yes", "VALIDATE: 'yes' is not always, raw or never" },
		{ "MIGRATE_URI", "tcp:// HOST", "MIGRATE_URI: 'tcp:// HOST' has a blank or a control character" },
		{ "URL", "qemu:///system", "unknown option 'URL' (URI, TYPE, DISK_FORMAT, VALIDATE, MIGRATE_URI)" },
	};
	struct t_inst t;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ok(t_open(&t, VMM, "lv", bad[i].opt, bad[i].value, NULL) == -1 &&
		    t.err.code == CLD_ECONFIG, "vmm init refuses %s = '%s'",
		    bad[i].opt, bad[i].value);
		is_str(t.err.msg, bad[i].want, "  saying why");
		t_close(&t);
	}
	ok(t_open(&t, VMM, "lv", "URI", "a", "URI", "b", NULL) == -1,
	    "vmm init refuses an option given twice");
	is_str(t.err.msg, "URI: given more than once", "  saying which");
	ok(t_open(&t, IM, "lv", "URI", "qemu+ssh:///HOST /system", NULL) == -1,
	    "im init refuses a URI with a blank");
	ok(t_open(&t, IM, "lv", "PROBE", "/x", NULL) == -1 &&
	    strcmp(t.err.msg, "unknown option 'PROBE' (URI)") == 0,
	    "im init refuses an option of another driver: %s", t.err.msg);
	ok(t_open(&t, VMM, "lv", NULL) == 0, "vmm init with defaults: %s",
	    t.err.msg);
	t_close(&t);
	ok(t_open(&t, VMM, "lv", "URI", "xen+ssh://root@HOST", "TYPE", "xen",
	    "DISK_FORMAT", "qcow2", "VALIDATE", "never", "MIGRATE_URI",
	    "tcp://HOST", NULL) == 0, "vmm init with every option: %s",
	    t.err.msg);
	t_close(&t);
	ok(t_open(&t, IM, "lv", "URI", "test+ssh://HOST/default", NULL) == 0,
	    "im init: %s", t.err.msg);
	t_close(&t);
}

/* The template of the VM whose XML is checked element by element. */
static const char t_rich[] =
    "NAME = \"rich\"\n"
    "OS = [ KERNEL = \"/boot/vmlinuz-6.1\", INITRD = \"/boot/initrd.img\",\n"
    "       ROOT = \"vda1\", KERNEL_CMD = \"console=ttyS0 quiet\",\n"
    "       ARCH = \"x86_64\", MACHINE = \"pc\" ]\n"
    "FEATURES = [ APIC = yes ]\n"
    "DISK = [ SOURCE = \"/srv/debian.qcow2\", TARGET = \"vda\", FORMAT = \"qcow2\", CACHE = \"none\" ]\n"
    "DISK = [ TYPE = \"cdrom\", SOURCE = \"/srv/boot.iso\" ]\n"
    "DISK = [ TYPE = \"swap\", SIZE = 64 ]\n"
    "NIC = [ BRIDGE = \"br0\", MAC = \"02:00:0a:63:00:07\", TARGET = \"cld7n0\" ]\n"
    "NIC = [ BRIDGE = \"br1\", MODEL = \"e1000\" ]\n"
    "GRAPHICS = [ TYPE = \"vnc\", LISTEN = \"127.0.0.1\", PORT = 5907 ]\n"
    "RAW = [ TYPE = \"kvm\", DATA = \"<description>from RAW &amp; kept</description>"
    "<devices><serial type='pty'/></devices>\" ]\n"
    "RAW = [ TYPE = \"xen\", DATA = \"<description>for Xen</description>\" ]\n";

static void
test_xml(void)
{
	struct t_inst t;
	struct t_vm v;
	struct t_call c;
	xmlDocPtr doc = NULL;
	char *domid = NULL, b[512], path[PATH_MAX + 64];

	snprintf(t_uri, sizeof(t_uri), "test://%s/HOST.xml", t_dir);
	/* VALIDATE = always: libvirt's schema checks what the driver writes. */
	if (t_open(&t, VMM, "lv", "URI", t_uri, "TYPE", "qemu", "VALIDATE",
	    "always", NULL) == -1 || t_vm(&v, 7, "node1", t_rich) == -1) {
		ok(0, "an instance and a VM: %s", t.err.msg);
		t_close(&t);
		return;
	}
	ok(t_deploy(&t, &v, &domid, &c) == 0,
	    "a VM with OS, FEATURES, disks, NICs, GRAPHICS and RAW deploys, its XML valid by libvirt's schema: %s",
	    c.err.msg);
	ok(domid != NULL && strspn(domid, "0123456789") == strlen(domid) &&
	    domid[0] != '\0', "  its domid is libvirt's id ('%s')",
	    domid != NULL ? domid : "(null)");
	doc = t_live_xml(&t, "node1", "cld-7");
	ok(doc != NULL, "libvirt has the domain, read through the drivers' connection");
	is_str(t_xp(doc, "/domain/@type", b, sizeof(b)), "qemu", "  domain type from TYPE");
	is_str(t_xp(doc, "/domain/name", b, sizeof(b)), "cld-7", "  name is the VM's");
	is_str(t_xp(doc, "/domain/memory", b, sizeof(b)), "262144", "  memory: 256 MiB in KiB");
	is_str(t_xp(doc, "/domain/vcpu", b, sizeof(b)), "2", "  vcpu");
	is_str(t_xp(doc, "/domain/cputune/shares", b, sizeof(b)), "512", "  CPU 0.5 is 512 shares");
	is_str(t_xp(doc, "count(/domain/features/acpi)", b, sizeof(b)), "1", "  ACPI on by default");
	is_str(t_xp(doc, "count(/domain/features/apic)", b, sizeof(b)), "1", "  APIC from FEATURES");
	is_str(t_xp(doc, "/domain/os/type", b, sizeof(b)), "hvm", "  os type hvm");
	is_str(t_xp(doc, "/domain/os/type/@arch", b, sizeof(b)), "x86_64", "  ARCH");
	is_str(t_xp(doc, "/domain/os/type/@machine", b, sizeof(b)), "pc", "  MACHINE");
	is_str(t_xp(doc, "/domain/os/kernel", b, sizeof(b)), "/boot/vmlinuz-6.1", "  KERNEL: direct boot");
	is_str(t_xp(doc, "/domain/os/initrd", b, sizeof(b)), "/boot/initrd.img", "  INITRD");
	is_str(t_xp(doc, "/domain/os/cmdline", b, sizeof(b)), "root=/dev/vda1 console=ttyS0 quiet",
	    "  ROOT and KERNEL_CMD make the command line");
	is_str(t_xp(doc, "count(/domain/devices/disk)", b, sizeof(b)), "3", "  three disks");
	snprintf(path, sizeof(path), "%s/ds/7/disk.0", t_dir);
	is_str(t_xp(doc, "/domain/devices/disk[1]/source/@file", b, sizeof(b)), path,
	    "  disk 0 is its PATH on the host");
	is_str(t_xp(doc, "/domain/devices/disk[1]/target/@dev", b, sizeof(b)), "vda", "  TARGET");
	is_str(t_xp(doc, "/domain/devices/disk[1]/driver/@type", b, sizeof(b)), "qcow2", "  FORMAT qcow2");
	is_str(t_xp(doc, "/domain/devices/disk[1]/driver/@cache", b, sizeof(b)), "none", "  CACHE");
	is_str(t_xp(doc, "count(/domain/devices/disk[2]/driver/@cache)", b, sizeof(b)), "0",
	    "  no CACHE: libvirt's default");
	is_str(t_xp(doc, "/domain/devices/disk[2]/@device", b, sizeof(b)), "cdrom", "  disk 1 is a CD");
	is_str(t_xp(doc, "count(/domain/devices/disk[2]/readonly)", b, sizeof(b)), "1", "  read-only");
	is_str(t_xp(doc, "/domain/devices/disk[2]/target/@dev", b, sizeof(b)), "hda",
	    "  a CD without TARGET gets hda");
	is_str(t_xp(doc, "/domain/devices/disk[2]/driver/@type", b, sizeof(b)), "raw",
	    "  and DISK_FORMAT's default, raw");
	is_str(t_xp(doc, "/domain/devices/disk[3]/target/@dev", b, sizeof(b)), "vdb",
	    "  the swap disk gets the next free vd name");
	is_str(t_xp(doc, "count(/domain/devices/interface)", b, sizeof(b)), "2", "  two NICs");
	is_str(t_xp(doc, "/domain/devices/interface[1]/@type", b, sizeof(b)), "bridge", "  bridged");
	is_str(t_xp(doc, "/domain/devices/interface[1]/source/@bridge", b, sizeof(b)), "br0", "  BRIDGE");
	is_str(t_xp(doc, "/domain/devices/interface[1]/mac/@address", b, sizeof(b)), "02:00:0a:63:00:07", "  MAC");
	is_str(t_xp(doc, "/domain/devices/interface[1]/target/@dev", b, sizeof(b)), "cld7n0", "  TARGET is the tap's name");
	is_str(t_xp(doc, "/domain/devices/interface[1]/model/@type", b, sizeof(b)), "virtio", "  MODEL virtio by default");
	is_str(t_xp(doc, "/domain/devices/interface[2]/source/@bridge", b, sizeof(b)), "br1", "  second NIC's BRIDGE");
	is_str(t_xp(doc, "/domain/devices/interface[2]/model/@type", b, sizeof(b)), "e1000", "  and its MODEL");
	is_str(t_xp(doc, "/domain/devices/graphics/@type", b, sizeof(b)), "vnc", "  GRAPHICS vnc");
	is_str(t_xp(doc, "/domain/devices/graphics/@port", b, sizeof(b)), "5907", "  PORT");
	is_str(t_xp(doc, "/domain/devices/graphics/@listen", b, sizeof(b)), "127.0.0.1", "  LISTEN");
	is_str(t_xp(doc, "/domain/description", b, sizeof(b)), "from RAW & kept",
	    "  RAW for kvm is added to a qemu domain, escapes and all");
	is_str(t_xp(doc, "count(/domain/devices/serial)", b, sizeof(b)), "1",
	    "  a RAW <devices> joins the domain's devices");
	xmlFreeDoc(doc);
	free(domid);
	VMM->destroy(t_call(&c, &t.drv), &v.d, 0);
	t_vm_free(&v);

	/* Xen: paravirtual with a boot loader, no default NIC model, xvd names. */
	t_close(&t);
	if (t_open(&t, VMM, "lv", "URI", t_uri, "TYPE", "xen", "DISK_FORMAT",
	    "qcow2", "VALIDATE", "always", NULL) == -1 ||
	    t_vm(&v, 8, "node1",
	    "OS = [ BOOTLOADER = \"/usr/bin/pygrub\" ]\n"
	    "DISK = [ SOURCE = \"/srv/a.img\" ]\nNIC = [ BRIDGE = \"xenbr0\" ]\n"
	    "RAW = [ TYPE = \"kvm\", DATA = \"<description>for KVM</description>\" ]\n") == -1) {
		ok(0, "a Xen instance: %s", t.err.msg);
		t_close(&t);
		return;
	}
	ok(t_deploy(&t, &v, &domid, &c) == 0, "a Xen VM with a boot loader deploys: %s", c.err.msg);
	doc = t_live_xml(&t, "node1", "cld-8");
	is_str(t_xp(doc, "/domain/@type", b, sizeof(b)), "xen", "  domain type xen");
	is_str(t_xp(doc, "/domain/bootloader", b, sizeof(b)), "/usr/bin/pygrub", "  BOOTLOADER");
	is_str(t_xp(doc, "/domain/os/type", b, sizeof(b)), "linux", "  paravirtual (os type linux)");
	is_str(t_xp(doc, "/domain/devices/disk/target/@dev", b, sizeof(b)), "xvda", "  disk named xvda");
	is_str(t_xp(doc, "/domain/devices/disk/driver/@type", b, sizeof(b)), "qcow2",
	    "  DISK_FORMAT qcow2 (tm/shared's overlays)");
	is_str(t_xp(doc, "count(/domain/devices/interface/model)", b, sizeof(b)), "0",
	    "  no NIC model: Xen's own");
	is_str(t_xp(doc, "count(/domain/description)", b, sizeof(b)), "0",
	    "  a RAW for kvm is left out");
	xmlFreeDoc(doc);
	free(domid);
	VMM->destroy(t_call(&c, &t.drv), &v.d, 0);
	t_vm_free(&v);
	t_close(&t);
}

/* Bad template values: refused before libvirt sees anything, naming the attribute. */
static void
test_template_errors(void)
{
	static const struct {
		const char *tmpl, *want;
	} bad[] = {
		{ "NIC = [ BRIDGE = \"br0\", MAC = \"02:00:0a:zz:00:01\" ]",
		  "NIC 0: MAC '02:00:0a:zz:00:01' is not a MAC address (as in 02:00:0a:00:00:07)" },
		{ "NIC = [ BRIDGE = \"br0\" ]\nNIC = [ BRIDGE = \"br0\", MAC = \"01:00:5e:00:00:01\" ]",
		  "NIC 1: MAC '01:00:5e:00:00:01' is a multicast address: a NIC needs a unicast one" },
		{ "NIC = [ BRIDGE = \"br0; reboot\" ]",
		  "NIC 0: BRIDGE 'br0; reboot' is not an interface name (up to 15 letters, digits, '_', '.', '-')" },
		{ "NIC = [ BRIDGE = \"averyveryverylongbridge\" ]",
		  "NIC 0: BRIDGE 'averyveryverylongbridge' is not an interface name (up to 15 letters, digits, '_', '.', '-')" },
		{ "NIC = [ MAC = \"02:00:00:00:00:01\" ]",
		  "NIC 0 has no BRIDGE: the bridge on the host to plug it in" },
		{ "NIC = [ BRIDGE = \"br0\", TARGET = \"../tap\" ]",
		  "NIC 0: TARGET '../tap' is not an interface name (up to 15 letters, digits, '_', '.', '-')" },
		{ "NIC = [ BRIDGE = \"br0\", MODEL = \"virtio'/>\" ]",
		  "NIC 0: MODEL 'virtio'/>' is not a model name (as in virtio or e1000)" },
		{ "OS = [ KERNEL = \"vmlinuz\" ]",
		  "OS: KERNEL 'vmlinuz' is not an absolute path on the host" },
		{ "OS = [ INITRD = \"/boot/initrd\" ]",
		  "OS: INITRD, ROOT and KERNEL_CMD need KERNEL (direct kernel boot)" },
		{ "OS = [ KERNL = \"/boot/vmlinuz\" ]",
		  "OS: unknown attribute 'KERNL' (KERNEL, INITRD, ROOT, KERNEL_CMD, BOOTLOADER, ARCH, MACHINE, BOOT)" },
		{ "OS = \"hvm\"", "OS must be a vector, as in OS = [ ... ]" },
		{ "OS = [ BOOTLOADER = \"/usr/bin/pygrub\" ]",
		  "OS: BOOTLOADER is for Xen guests (the driver's TYPE is 'qemu')" },
		{ "OS = [ BOOT = \"hd,floppy\" ]",
		  "OS: BOOT device 'floppy' is not hd, cdrom, network or fd" },
		{ "OS = [ ARCH = \"x86 64\" ]",
		  "OS: ARCH 'x86 64' is not an architecture (as in x86_64)" },
		{ "FEATURES = [ ACPI = maybe ]", "FEATURES: ACPI 'maybe' is not yes or no" },
		{ "DISK = [ SOURCE = \"/a\", FORMAT = \"vmdk\" ]",
		  "DISK 0: FORMAT 'vmdk' is not raw or qcow2" },
		{ "DISK = [ SOURCE = \"/a\", TARGET = \"vda\" ]\nDISK = [ SOURCE = \"/b\", TARGET = \"vda\" ]",
		  "DISK 1: TARGET 'vda' is another disk's too" },
		{ "DISK = [ SOURCE = \"/a\", CACHE = \"fast\" ]",
		  "DISK 0: CACHE 'fast' is not default, none, writethrough, writeback, directsync or unsafe" },
		{ "DISK = [ SOURCE = \"/a\", TARGET = \"/dev/vda\" ]",
		  "DISK 0: TARGET '/dev/vda' is not a device name (as in vda)" },
		{ "GRAPHICS = [ TYPE = \"rdp\" ]", "GRAPHICS: TYPE 'rdp' is not vnc or spice" },
		{ "GRAPHICS = [ LISTEN = \"localhost\" ]",
		  "GRAPHICS: LISTEN 'localhost' is not an IP address (as in 0.0.0.0)" },
		{ "GRAPHICS = [ PORT = 22 ]",
		  "GRAPHICS: PORT '22' is not a port from 5900 to 65535 (or -1: any)" },
		{ "GRAPHICS = [ TYPE = vnc ]\nGRAPHICS = [ TYPE = vnc ]", "GRAPHICS is given more than once" },
		{ "RAW = [ TYPE = \"kvm\", DATA = \"<description>unclosed\" ]",
		  "RAW 0: DATA is not an XML fragment: " },
		{ "RAW = [ DATA = \"<x/>\" ]", "RAW 0 needs TYPE (the hypervisor it is for) and DATA" },
		{ "RAW = \"<x/>\"", "RAW must be a vector: RAW = [ TYPE = \"kvm\", DATA = \"<...>\" ]" },
	};
	struct t_inst t;
	struct t_vm v;
	struct t_call c;
	char *domid = NULL;
	size_t i;
	int wrong = 0;

	if (t_open(&t, VMM, "lv", "URI", t_uri, "TYPE", "qemu", NULL) == -1) {
		ok(0, "an instance: %s", t.err.msg);
		return;
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (t_vm(&v, 20, "node1", bad[i].tmpl) == -1) {
			ok(0, "template %zu parses", i);
			continue;
		}
		ok(t_deploy(&t, &v, &domid, &c) == -1 && c.err.code == CLD_EINVAL &&
		    strncmp(c.err.msg, bad[i].want, strlen(bad[i].want)) == 0,
		    "refused: %s", bad[i].want);
		if (strncmp(c.err.msg, bad[i].want, strlen(bad[i].want)) != 0)
			diag("got: %s", c.err.msg);
		free(domid);
		wrong += t_state(&t, &v, NULL) != CLD_POLL_MISSING;
		t_vm_free(&v);
	}
	is_int(wrong, 0, "  and nothing was started on the host");
	t_close(&t);
}

/* Failures libvirt finds reach op->err in its words, under "libvirt:". */
static void
test_libvirt_errors(void)
{
	static const char want[] = "cannot start 'cld-21' on 'node1': libvirt: ";
	struct t_inst t, nv;
	struct t_vm v;
	struct t_call c;
	char *domid = NULL;

	if (t_open(&t, VMM, "lv", "URI", t_uri, "TYPE", "qemu", NULL) == -1 ||
	    t_open(&nv, VMM, "nv", "URI", t_uri, "TYPE", "qemu", "VALIDATE",
	    "never", NULL) == -1) {
		ok(0, "instances: %s %s", t.err.msg, nv.err.msg);
		t_close(&t);
		return;
	}
	t_vm(&v, 21, "node1", "RAW = [ TYPE = \"qemu\", DATA = \"<devices><bogus/></devices>\" ]\n");
	ok(t_deploy(&t, &v, &domid, &c) == -1 && c.err.code == CLD_EDRIVER &&
	    strncmp(c.err.msg, want, strlen(want)) == 0 &&
	    strstr(c.err.msg, "failed to validate against schema") != NULL,
	    "an element libvirt does not know, in a RAW, fails its schema check: %s",
	    c.err.msg);
	ok(strchr(c.err.msg, '\n') == NULL, "  on one line");
	free(domid);
	ok(t_deploy(&nv, &v, &domid, &c) == 0,
	    "with VALIDATE = never libvirt ignores it and starts the VM: %s", c.err.msg);
	VMM->destroy(t_call(&c, &nv.drv), &v.d, 0);
	free(domid);
	t_vm_free(&v);

	t_vm(&v, 21, "node1", "RAW = [ TYPE = \"qemu\", DATA = \"<devices><disk type='file' device='disk'>"
	    "<driver name='qemu' type='vmdkx'/><source file='/a'/><target dev='vdz'/></disk></devices>\" ]\n");
	ok(t_deploy(&nv, &v, &domid, &c) == -1 && c.err.code == CLD_EDRIVER,
	    "a disk format libvirt does not know fails the deploy");
	is_str(c.err.msg, "cannot start 'cld-21' on 'node1': libvirt: "
	    "unsupported configuration: unknown driver format value 'vmdkx'",
	    "  in libvirt's words");
	free(domid);
	t_vm_free(&v);

	t_vm(&v, 22, "nonexistent", "");
	ok(t_deploy(&t, &v, &domid, &c) == -1 &&
	    strstr(c.err.msg, "cannot connect to 'test://") != NULL &&
	    strstr(c.err.msg, "nonexistent.xml': libvirt: ") != NULL,
	    "a host whose URI libvirt cannot open: %s", c.err.msg);
	free(domid);
	t_vm_free(&v);
	t_vm(&v, 22, "bad/host", "");
	ok(t_deploy(&t, &v, &domid, &c) == -1 && c.err.code == CLD_EINVAL,
	    "a host name that would change the URI's path is refused: %s",
	    c.err.msg);
	free(domid);
	t_vm_free(&v);
	t_close(&nv);
	t_close(&t);
}

/* Every operation on one VM, each twice: the second finds it done. */
static void
test_ops(void)
{
	struct cld_vm_poll p;
	struct t_inst t;
	struct t_vm v;
	struct t_call c;
	struct stat sb;
	char *domid = NULL, *domid2 = NULL, save[PATH_MAX + 32];

	snprintf(save, sizeof(save), "%s/ds/30.save", t_dir);
	if (t_open(&t, VMM, "lv", "URI", t_uri, "TYPE", "test", NULL) == -1 ||
	    t_vm(&v, 30, "node1",
	    "NIC = [ BRIDGE = \"br0\", TARGET = \"cld30n0\" ]\n"
	    "NIC = [ BRIDGE = \"br0\", MAC = \"02:00:00:00:00:30\" ]\n") == -1) {
		ok(0, "an instance: %s", t.err.msg);
		t_close(&t);
		return;
	}
	is_int(t_state(&t, &v, NULL), CLD_POLL_MISSING, "poll before deploy: missing");
	ok(t_deploy(&t, &v, &domid, &c) == 0, "deploy: %s", c.err.msg);
	ok(t_deploy(&t, &v, &domid2, &c) == 0 && domid != NULL &&
	    domid2 != NULL && strcmp(domid, domid2) == 0,
	    "deploy again: the running domain's id (%s, %s)", domid ? domid : "-",
	    domid2 ? domid2 : "-");
	free(domid2);
	domid2 = NULL;
	is_int(t_state(&t, &v, &p), CLD_POLL_RUNNING, "poll: running");
	is_int((long long)p.memory_kb, 262144, "  its memory (256 MiB in KiB)");
	t_sleep_ms(200);
	is_int(t_state(&t, &v, &p), CLD_POLL_RUNNING, "poll again");
	/* The test driver's CPU time is the clock: one core busy. */
	ok(p.cpu > 50 && p.cpu < 150, "  CPU from the CPU time between polls: %.1f%% (the test driver's clock)",
	    p.cpu);
	ok(p.netrx > 0 && p.nettx > 0, "  network bytes from both interfaces' counters (%llu, %llu)",
	    (unsigned long long)p.netrx, (unsigned long long)p.nettx);

	ok(VMM->suspend(t_call(&c, &t.drv), &v.d, 0) == 0, "suspend: %s", c.err.msg);
	ok(VMM->suspend(t_call(&c, &t.drv), &v.d, 0) == 0, "suspend again: %s", c.err.msg);
	is_int(t_state(&t, &v, NULL), CLD_POLL_PAUSED, "poll: paused");
	ok(VMM->resume(t_call(&c, &t.drv), &v.d, 0) == 0, "resume: %s", c.err.msg);
	ok(VMM->resume(t_call(&c, &t.drv), &v.d, 0) == 0, "resume again: %s", c.err.msg);
	is_int(t_state(&t, &v, NULL), CLD_POLL_RUNNING, "poll: running");
	ok(VMM->reboot(t_call(&c, &t.drv), &v.d, 0) == 0, "reboot (ACPI): %s", c.err.msg);
	ok(VMM->reboot(t_call(&c, &t.drv), &v.d, CLD_REBOOT_HARD) == 0,
	    "reboot --hard (reset): %s", c.err.msg);
	is_int(t_state(&t, &v, NULL), CLD_POLL_RUNNING, "  still running");

	ok(VMM->save(t_call(&c, &t.drv), &v.d, save, 0) == 0, "save: %s", c.err.msg);
	ok(stat(save, &sb) == 0 && sb.st_size > 0, "  the save file is there");
	is_int(t_state(&t, &v, NULL), CLD_POLL_MISSING, "  and the domain gone");
	ok(VMM->save(t_call(&c, &t.drv), &v.d, save, 0) == 0,
	    "save again: the file holds its save: %s", c.err.msg);
	ok(VMM->save(t_call(&c, &t.drv), &v.d, "/nonexistent/x", 0) == -1 &&
	    c.err.code == CLD_ENOENT, "save of a VM not running, no save file: %s",
	    c.err.msg);
	ok(VMM->restore(t_call(&c, &t.drv), &v.d, save, 0, &domid2) == 0,
	    "restore: %s", c.err.msg);
	is_int(t_state(&t, &v, NULL), CLD_POLL_RUNNING, "  running again");
	free(domid2);
	domid2 = NULL;
	ok(VMM->restore(t_call(&c, &t.drv), &v.d, save, 0, &domid2) == 0 &&
	    domid2 != NULL, "restore again: it runs: %s", c.err.msg);
	free(domid2);
	domid2 = NULL;
	ok(VMM->restore(t_call(&c, &t.drv), &v.d, "relative", 0, &domid2) == -1 &&
	    c.err.code == CLD_EINVAL, "restore from a relative path: %s", c.err.msg);

	ok(VMM->shutdown(t_call(&c, &t.drv), &v.d, 0) == 0, "shutdown: %s", c.err.msg);
	is_int(t_state(&t, &v, NULL), CLD_POLL_MISSING, "  gone");
	ok(VMM->shutdown(t_call(&c, &t.drv), &v.d, 0) == 0, "shutdown again: %s", c.err.msg);
	ok(VMM->suspend(t_call(&c, &t.drv), &v.d, 0) == -1 &&
	    c.err.code == CLD_ENOENT, "suspend of a VM not running: %s", c.err.msg);
	ok(VMM->reboot(t_call(&c, &t.drv), &v.d, 0) == -1 &&
	    c.err.code == CLD_ENOENT, "reboot of a VM not running: %s", c.err.msg);

	free(domid);
	ok(t_deploy(&t, &v, &domid, &c) == 0, "deploy once more: %s", c.err.msg);
	ok(VMM->destroy(t_call(&c, &t.drv), &v.d, 0) == 0, "destroy: %s", c.err.msg);
	is_int(t_state(&t, &v, NULL), CLD_POLL_MISSING, "  gone");
	ok(VMM->destroy(t_call(&c, &t.drv), &v.d, 0) == 0, "destroy again: %s", c.err.msg);
	free(domid);
	t_vm_free(&v);
	t_close(&t);
}

/* A domain of the VM's name that someone defined (persistent) by hand. */
static void
test_persistent(void)
{
	static const char xml[] = "<domain type='test'><name>cld-33</name>"
	    "<memory unit='KiB'>65536</memory><os><type>hvm</type></os></domain>";
	char uri[PATH_MAX + 64], *domid = NULL;
	virConnectPtr conn = NULL;
	virDomainPtr dom = NULL;
	struct t_inst t;
	struct t_vm v;
	struct t_call c;

	if (t_open(&t, VMM, "lv", "URI", t_uri, "TYPE", "test", NULL) == -1) {
		ok(0, "an instance: %s", t.err.msg);
		return;
	}
	t_vm(&v, 33, "node1", "");
	snprintf(uri, sizeof(uri), "test://%s/node1.xml", t_dir);
	if ((conn = cld_lv_connect(t_call(&c, &t.drv), uri)) == NULL ||
	    (dom = virDomainDefineXML(conn, xml)) == NULL) {
		ok(0, "a persistent domain defined: %s", c.err.msg);
		goto cleanup;
	}
	ok(t_deploy(&t, &v, &domid, &c) == -1 && c.err.code == CLD_EEXIST,
	    "deploy refuses a domain of its name defined but off: %s", c.err.msg);
	free(domid);
	domid = NULL;
	is_int(t_state(&t, &v, NULL), CLD_POLL_SHUTOFF, "poll says it is shut off");
	ok(virDomainCreate(dom) == 0, "started by hand");
	ok(t_deploy(&t, &v, &domid, &c) == 0, "  then deploy takes it as running: %s",
	    c.err.msg);
	ok(VMM->destroy(t_call(&c, &t.drv), &v.d, 0) == 0, "destroy: %s", c.err.msg);
	is_int(t_state(&t, &v, NULL), CLD_POLL_MISSING,
	    "  stops and undefines it: libvirt knows it no more");
cleanup:
	free(domid);
	if (dom != NULL)
		virDomainFree(dom);
	if (conn != NULL)
		virConnectClose(conn);
	virResetLastError();
	t_vm_free(&v);
	t_close(&t);
}

static void
test_flags(void)
{
	struct cld_vm_poll p;
	struct t_inst t, i;
	struct t_vm v;
	struct t_call c;
	char *id = NULL, *report = NULL;
	int wrong = 0;

	if (t_open(&t, VMM, "lv", "URI", t_uri, NULL) == -1 ||
	    t_open(&i, IM, "lv", "URI", t_uri, NULL) == -1) {
		ok(0, "instances: %s", t.err.msg);
		t_close(&t);
		return;
	}
	t_vm(&v, 31, "node1", "");
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
#define BAD(call) do { \
	if ((call) != -1 || c.err.code != CLD_EINVAL || \
	    strncmp(c.err.msg, "unknown flags 0x", 16) != 0) { \
		wrong++; \
		diag("%s: %s", #call, c.err.msg); \
	} } while (0)
	BAD(VMM->deploy(t_call(&c, &t.drv), &v.d, 1, &id));
	BAD(VMM->shutdown(t_call(&c, &t.drv), &v.d, 1));
	BAD(VMM->destroy(t_call(&c, &t.drv), &v.d, 1));
	BAD(VMM->reboot(t_call(&c, &t.drv), &v.d, 2));
	BAD(VMM->suspend(t_call(&c, &t.drv), &v.d, 1));
	BAD(VMM->resume(t_call(&c, &t.drv), &v.d, 1));
	BAD(VMM->save(t_call(&c, &t.drv), &v.d, "/x", 1));
	BAD(VMM->restore(t_call(&c, &t.drv), &v.d, "/x", 1, &id));
	BAD(VMM->migrate(t_call(&c, &t.drv), &v.d, "node2", 2));
	BAD(VMM->poll(t_call(&c, &t.drv), &v.d, 1, &p));
	BAD(IM->monitor(t_call(&c, &i.drv), "node1", 1, &report));
#undef BAD
	is_int(wrong, 0, "every operation refuses flags it does not know");
	free(id);
	free(report);
	t_vm_free(&v);
	t_close(&i);
	t_close(&t);
}

/*
 * libvirt's test driver cannot migrate: what the API answers reaches
 * op->err; the retry paths (already moved, nowhere) are checked by putting
 * the domain where a finished migration would have.
 */
static void
test_migrate(void)
{
	struct t_inst t;
	struct t_vm v, there;
	struct t_call c;
	char *domid = NULL;

	if (t_open(&t, VMM, "lv", "URI", t_uri, "TYPE", "test", NULL) == -1) {
		ok(0, "an instance: %s", t.err.msg);
		return;
	}
	t_vm(&v, 40, "node1", "");
	t_vm(&there, 40, "node2", "");
	ok(t_deploy(&t, &v, &domid, &c) == 0, "deploy on node1: %s", c.err.msg);
	free(domid);
	ok(VMM->migrate(t_call(&c, &t.drv), &v.d, "node2", CLD_MIGRATE_LIVE) == -1 &&
	    c.err.code == CLD_ENOTSUP,
	    "live migration: the test driver says it cannot");
	is_str(c.err.msg, "cannot migrate 'cld-40' from 'node1' to 'node2': libvirt: "
	    "this function is not supported by the connection driver: virDomainMigrate3",
	    "  in libvirt's words");
	ok(VMM->migrate(t_call(&c, &t.drv), &v.d, "node2", 0) == -1 &&
	    c.err.code == CLD_ENOTSUP, "cold migration: the same: %s", c.err.msg);
	is_int(t_state(&t, &v, NULL), CLD_POLL_RUNNING, "  the VM still runs on node1");
	is_int(t_state(&t, &there, NULL), CLD_POLL_MISSING, "  and node2, a hypervisor of its own, has none");
	ok(VMM->migrate(t_call(&c, &t.drv), &v.d, "node1", 0) == -1 &&
	    c.err.code == CLD_EINVAL, "migration to its own host: %s", c.err.msg);

	/* As after a migration whose answer was lost: on node2, not node1. */
	VMM->destroy(t_call(&c, &t.drv), &v.d, 0);
	ok(t_deploy(&t, &there, &domid, &c) == 0, "the VM on node2: %s", c.err.msg);
	free(domid);
	ok(VMM->migrate(t_call(&c, &t.drv), &v.d, "node2", CLD_MIGRATE_LIVE) == 0,
	    "migration again once it is on the destination succeeds: %s", c.err.msg);
	VMM->destroy(t_call(&c, &t.drv), &there.d, 0);
	ok(VMM->migrate(t_call(&c, &t.drv), &v.d, "node2", 0) == -1 &&
	    c.err.code == CLD_ENOENT, "migration of a VM that runs nowhere: %s",
	    c.err.msg);
	t_vm_free(&v);
	t_vm_free(&there);
	t_close(&t);
}

/* The value of NAME in report R (a template), or "". */
static const char *
t_attr(const struct cld_tmpl *r, const char *name)
{
	const char *v = cld_tmpl_get(r, name);

	return v != NULL ? v : "";
}

/* im/libvirt sees what vmm/libvirt started: the same connection per host. */
static void
test_im(void)
{
	const struct cld_attr *a = NULL;
	struct t_inst vmm, im;
	struct t_vm v[3];
	struct t_call c;
	struct cld_tmpl r;
	struct cld_err err;
	char *domid = NULL, *report = NULL;
	int found[3] = { 0, 0, 0 }, others = 0, i;

	memset(&r, 0, sizeof(r));
	if (t_open(&vmm, VMM, "lv", "URI", t_uri, "TYPE", "test", NULL) == -1 ||
	    t_open(&im, IM, "lvim", "URI", t_uri, NULL) == -1) {
		ok(0, "instances: %s %s", vmm.err.msg, im.err.msg);
		t_close(&vmm);
		return;
	}
	t_vm(&v[0], 50, "node1", "NIC = [ BRIDGE = \"br0\" ]\n");
	t_vm(&v[1], 51, "node1", "");
	t_vm(&v[2], 52, "node2", "");
	v[1].d.memory_mb = 1024;
	for (i = 0; i < 3; i++) {
		ok(t_deploy(&vmm, &v[i], &domid, &c) == 0, "deploy %s on %s: %s",
		    v[i].name, v[i].host, c.err.msg);
		free(domid);
	}
	VMM->suspend(t_call(&c, &vmm.drv), &v[1].d, 0);
	ok(IM->monitor(t_call(&c, &im.drv), "node1", 0, &report) == 0,
	    "monitor node1: %s", c.err.msg);
	cld_err_clear(&err);
	ok(report != NULL && cld_tmpl_parse(report, strlen(report), &r, &err) == 0,
	    "  the report is in the template language: %s", err.msg);
	is_str(t_attr(&r, "HYPERVISOR"), "test", "  HYPERVISOR");
	is_str(t_attr(&r, "ARCH"), "x86_64", "  ARCH from the node's description");
	is_str(t_attr(&r, "TOTALCPU"), "800", "  TOTALCPU: 8 cores");
	is_str(t_attr(&r, "CPUSPEED"), "2400", "  CPUSPEED");
	is_str(t_attr(&r, "TOTALMEMORY"), "16777216", "  TOTALMEMORY in KiB");
	/* The test driver keeps no memory figures: what its domains are given. */
	is_str(t_attr(&r, "USEDMEMORY"), "1310720", "  USEDMEMORY: the two domains' 256 + 1024 MiB");
	is_str(t_attr(&r, "FREEMEMORY"), "15466496", "  FREEMEMORY: the rest");
	ok(atof(t_attr(&r, "USEDCPU")) + atof(t_attr(&r, "FREECPU")) == 800,
	    "  USEDCPU and FREECPU add up to TOTALCPU (%s, %s)",
	    t_attr(&r, "USEDCPU"), t_attr(&r, "FREECPU"));
	ok(cld_tmpl_get(&r, "NETRX") != NULL && cld_tmpl_get(&r, "NETTX") != NULL,
	    "  NETRX and NETTX");
	while ((a = cld_tmpl_next_vector(&r, "VM", a)) != NULL) {
		const char *name = cld_vector_get(a, "NAME");

		for (i = 0; i < 3; i++)
			if (name != NULL && strcmp(name, v[i].name) == 0)
				break;
		if (i == 3) {
			others++;
			continue;
		}
		found[i]++;
		if (i == 0) {
			is_str(cld_vector_get(a, "STATE"), "RUNNING", "  %s RUNNING", name);
			is_str(cld_vector_get(a, "MEMORY"), "262144", "  its MEMORY in KiB");
			ok(cld_vector_get(a, "DOMID") != NULL &&
			    cld_vector_get(a, "CPU") != NULL &&
			    atoll(cld_vector_get(a, "NETRX") ? cld_vector_get(a, "NETRX") : "0") > 0,
			    "  DOMID, CPU, NETRX from its interface");
		} else if (i == 1) {
			is_str(cld_vector_get(a, "STATE"), "PAUSED", "  %s PAUSED", name);
		}
	}
	ok(found[0] == 1 && found[1] == 1 && found[2] == 0,
	    "  node1 lists its two VMs, not node2's (%d %d %d)", found[0],
	    found[1], found[2]);
	is_int(others, 0, "  and no other domain");
	cld_tmpl_release(&r);
	free(report);
	report = NULL;
	ok(IM->monitor(t_call(&c, &im.drv), "node2", 0, &report) == 0 &&
	    strstr(report, "TOTALCPU = 400") != NULL &&
	    strstr(report, "TOTALMEMORY = 8388608") != NULL &&
	    strstr(report, "NAME = \"cld-52\"") != NULL &&
	    strstr(report, "cld-50") == NULL,
	    "monitor node2: its own size and VM");
	free(report);
	report = NULL;
	ok(IM->monitor(t_call(&c, &im.drv), "nonexistent", 0, &report) == -1 &&
	    strstr(c.err.msg, "cannot connect to") != NULL &&
	    strstr(c.err.msg, "libvirt: ") != NULL,
	    "a host libvirt cannot reach: %s", c.err.msg);
	for (i = 0; i < 3; i++) {
		VMM->destroy(t_call(&c, &vmm.drv), &v[i].d, 0);
		t_vm_free(&v[i]);
	}
	t_close(&im);
	t_close(&vmm);
}

/* -- a libvirtd of our own, for a connection that really breaks -- */

static pid_t t_daemon;
static char t_sock[PATH_MAX + 64];

/* Start libvirtd serving the test driver on a socket in t_dir/run. */
static int
t_daemon_start(void)
{
	static const char script[] =
	    /* /run of its own: libvirtd keeps a token under /run/libvirt. */
	    "mount -t tmpfs cld-libvirtd /run && exec libvirtd -f \"$1\" -p \"$2\"";
	char conf[PATH_MAX + 32], pid[PATH_MAX + 32], log[PATH_MAX + 32];
	char empty[PATH_MAX + 32], run[PATH_MAX + 16], env[PATH_MAX + 64];
	char *argv[] = { "unshare", "--mount", "--propagation", "private",
		"sh", "-c", (char *)script, "sh", conf, pid, NULL };
	char *envp[] = { env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	posix_spawn_file_actions_t fa;
	FILE *f;
	int i, e;

	snprintf(run, sizeof(run), "%s/run", t_dir);
	snprintf(empty, sizeof(empty), "%s/no-drivers", t_dir);
	snprintf(conf, sizeof(conf), "%s/libvirtd.conf", t_dir);
	snprintf(pid, sizeof(pid), "%s/run/libvirtd.pid", t_dir);
	snprintf(log, sizeof(log), "%s/libvirtd.log", t_dir);
	snprintf(t_sock, sizeof(t_sock), "%s/libvirt-sock", run);
	/* Only the test driver: no module directory to load others from. */
	snprintf(env, sizeof(env), "LIBVIRT_DRIVER_DIR=%s", empty);
	mkdir(run, 0700);
	mkdir(empty, 0700);
	if ((f = fopen(conf, "w")) == NULL)
		return -1;
	fprintf(f, "unix_sock_dir = \"%s\"\nauth_unix_rw = \"none\"\n"
	    "auth_unix_ro = \"none\"\nlog_outputs = \"3:file:%s\"\n", run, log);
	fclose(f);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	e = posix_spawnp(&t_daemon, "unshare", &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (e != 0) {
		t_daemon = 0;
		return -1;
	}
	for (i = 0; i < 200; i++) {
		if (access(t_sock, F_OK) == 0)
			return 0;
		if (waitpid(t_daemon, NULL, WNOHANG) == t_daemon) {
			t_daemon = 0;
			return -1;
		}
		t_sleep_ms(50);
	}
	return -1;
}

static void
t_daemon_stop(void)
{
	if (t_daemon <= 0)
		return;
	kill(t_daemon, SIGKILL);
	waitpid(t_daemon, NULL, 0);
	t_daemon = 0;
	unlink(t_sock);
}

static void
test_reconnect(void)
{
	char uri[PATH_MAX + 128], *domid = NULL, *report = NULL;
	struct t_inst t, im;
	struct t_vm v, w;
	struct t_call c;
	int connects;

	if (geteuid() != 0 || access("/usr/sbin/libvirtd", X_OK) != 0) {
		ok(1, "# SKIP reconnection needs root and libvirtd (a mount namespace of its own)");
		return;
	}
	if (t_daemon_start() == -1) {
		ok(0, "libvirtd starts (see %s/libvirtd.log)", t_dir);
		t_daemon_stop();
		return;
	}
	snprintf(uri, sizeof(uri), "test+unix:///default?socket=%s", t_sock);
	if (t_open(&t, VMM, "lv", "URI", uri, "TYPE", "test", NULL) == -1 ||
	    t_open(&im, IM, "lvim", "URI", uri, NULL) == -1) {
		ok(0, "instances: %s", t.err.msg);
		t_close(&t);
		t_daemon_stop();
		return;
	}
	t_vm(&v, 60, "node1", "");
	t_vm(&w, 61, "node1", "");
	connects = t_connects;
	ok(t_deploy(&t, &v, &domid, &c) == 0, "deploy through libvirtd: %s", c.err.msg);
	free(domid);
	is_int(t_state(&t, &v, NULL), CLD_POLL_RUNNING, "  running");
	ok(IM->monitor(t_call(&c, &im.drv), "node1", 0, &report) == 0 &&
	    strstr(report, "\"cld-60\"") != NULL, "  im sees it over the same connection");
	free(report);
	report = NULL;
	is_int(t_connects - connects, 1, "  one connection for all of that");

	t_daemon_stop();
	ok(t_deploy(&t, &w, &domid, &c) == -1 &&
	    strstr(c.err.msg, "cannot connect to 'test+unix:///default?socket=") != NULL &&
	    strstr(c.err.msg, "libvirt: ") != NULL,
	    "with libvirtd gone, an operation fails in words: %s", c.err.msg);
	free(domid);
	if (t_daemon_start() == -1) {
		ok(0, "libvirtd starts again");
		goto cleanup;
	}
	connects = t_connects;
	/* A fresh daemon is a fresh test hypervisor: the VM is not there. */
	is_int(t_state(&t, &v, NULL), CLD_POLL_MISSING,
	    "with libvirtd back, poll connects again (and finds a fresh hypervisor)");
	ok(t_deploy(&t, &w, &domid, &c) == 0, "  deploy works: %s", c.err.msg);
	free(domid);
	is_int(t_connects - connects, 1, "  over one new connection");

	/* The daemon dies under a live connection: the next call notices. */
	t_daemon_stop();
	if (t_daemon_start() == -1) {
		ok(0, "libvirtd starts a third time");
		goto cleanup;
	}
	connects = t_connects;
	ok(IM->monitor(t_call(&c, &im.drv), "node1", 0, &report) == 0 &&
	    strstr(report, "cld-61") == NULL,
	    "after a restart under a live connection, monitoring connects again: %s",
	    c.err.msg);
	free(report);
	report = NULL;
	is_int(t_connects - connects, 1, "  once");
cleanup:
	t_vm_free(&v);
	t_vm_free(&w);
	t_close(&im);
	t_close(&t);
	t_daemon_stop();
}

/* Many threads, one connection per host, operations in parallel. */
#define T_THREADS 4
#define T_PER_THREAD 25

struct t_worker {
	pthread_t tid;
	struct t_inst *t;
	int n;
	int errors;
};

static void *
t_worker_main(void *arg)
{
	struct t_worker *w = arg;
	struct t_call c;
	struct t_vm v;
	char *domid;
	int j;

	for (j = 0; j < T_PER_THREAD; j++) {
		t_vm(&v, 1000 + w->n * 100 + j, j % 2 ? "node1" : "node2", "");
		domid = NULL;
		if (VMM->deploy(t_call(&c, &w->t->drv), &v.d, 0, &domid) != 0 ||
		    t_state(w->t, &v, NULL) != CLD_POLL_RUNNING ||
		    VMM->suspend(t_call(&c, &w->t->drv), &v.d, 0) != 0 ||
		    VMM->destroy(t_call(&c, &w->t->drv), &v.d, 0) != 0)
			w->errors++;
		free(domid);
		t_vm_free(&v);
	}
	return NULL;
}

static void
test_threads(void)
{
	struct t_worker w[T_THREADS];
	struct t_inst t;
	int i, started = 0, errors = 0, connects = t_connects;

	if (t_open(&t, VMM, "lv", "URI", t_uri, "TYPE", "test", NULL) == -1) {
		ok(0, "an instance: %s", t.err.msg);
		return;
	}
	for (i = 0; i < T_THREADS; i++) {
		w[i].t = &t;
		w[i].n = i;
		w[i].errors = 0;
		if (pthread_create(&w[i].tid, NULL, t_worker_main, &w[i]) != 0)
			break;
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(w[i].tid, NULL);
		errors += w[i].errors;
	}
	ok(started == T_THREADS && errors == 0,
	    "%d threads deploy, poll, suspend and destroy on two hosts (%d errors)",
	    started, errors);
	ok(t_connects - connects <= 2, "  over at most one new connection per host (%d)",
	    t_connects - connects);
	t_close(&t);
}

static void
t_rmtree(const char *dir)
{
	char *argv[] = { "rm", "-rf", "--", (char *)dir, NULL };
	pid_t pid;

	if (posix_spawnp(&pid, "rm", NULL, NULL, argv, environ) == 0)
		waitpid(pid, NULL, 0);
}

int
main(void)
{
	char errpath[PATH_MAX + 32], buf[4096];
	int saved = -1, fd = -1;
	ssize_t n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* As cloudd does (core/main.c): a peer gone is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(t_dir, sizeof(t_dir), "%s/cld-unit-libvirt-XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(t_dir) == NULL)
		skip_all("cannot make a temporary directory: %s", strerror(errno));
	snprintf(errpath, sizeof(errpath), "%s/ds", t_dir);
	mkdir(errpath, 0700);
	t_node("node1", 8, 2400, 16777216);
	t_node("node2", 4, 2000, 8388608);
	snprintf(t_uri, sizeof(t_uri), "test://%s/HOST.xml", t_dir);

	/* Whatever reaches standard error from here on is libvirt speaking out of turn. */
	snprintf(errpath, sizeof(errpath), "%s/stderr", t_dir);
	fflush(stderr);
	if ((fd = open(errpath, O_RDWR | O_CREAT | O_TRUNC, 0600)) != -1) {
		saved = dup(2);
		dup2(fd, 2);
	}

	test_init();
	test_xml();
	test_template_errors();
	test_libvirt_errors();
	test_ops();
	test_persistent();
	test_flags();
	test_migrate();
	test_im();
	test_threads();
	test_reconnect();

	if (fd != -1) {
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		ok(n == 0, "nothing was printed on standard error");
		if (n > 0)
			diag("it holds: %s", buf);
		close(fd);
	}
	t_rmtree(t_dir);
	return done_testing();
}
