/*
 * vmm/libvirt: virtual machines through libvirt's API, on any hypervisor
 * libvirt drives (QEMU/KVM, Xen, its own test driver).
 *
 * Each host is reached at a URI made from the URI option, "HOST" replaced
 * by the host's name; the connection to it is the process's one
 * (libcloudd-libvirt, ../libvirt/common.h), shared with im/libvirt and by
 * every operation, and opened again once when an operation finds it lost.
 *
 * A VM is a transient libvirt domain named as the core names it (vm->name,
 * "cld-<id>"), started from a domain description built here with libxml2
 * from the VM's template: nothing of the template reaches the XML but
 * through libxml2's tree functions, which escape it.  Operations find the
 * domain by name, so each is idempotent: a deploy finds it running, a
 * destroy finds it gone.  Template values are checked where they are read,
 * and a bad one fails the deploy naming the attribute.
 *
 * Errors from libvirt are read back on the failing thread and reach
 * op->err as "...: libvirt: <libvirt's words>"; libvirt itself never
 * prints (cld_lv_ref installs a silent handler).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <cloudd/driver.h>

#include "../libvirt/common.h"

#define VMM_LV_POLL_MS 200            /* how often a shutdown looks */
#define VMM_LV_ACPI_AGAIN_MS 10000    /* a guest may miss a press while it boots */
#define VMM_LV_WATCH_MS 200           /* how often a long job's watcher looks */
#define VMM_LV_SHARES_MIN 2           /* cgroup cpu.shares limits */
#define VMM_LV_SHARES_MAX 262144
#define VMM_LV_PATH_MAX 4096
#define VMM_LV_DOMID_MAX 16

enum vmm_lv_type { VMM_LV_KVM, VMM_LV_QEMU, VMM_LV_XEN, VMM_LV_TEST };

/*
 * When libvirt checks a description against its schema before starting
 * it: that catches a misspelt element of a RAW fragment, which libvirt
 * would otherwise ignore, but costs tens of milliseconds of the daemon's
 * CPU (of cloudd's, for test:///).  What the driver writes itself is
 * checked by its tests, so by default only descriptions with a RAW are.
 */
enum vmm_lv_validate { VMM_LV_VALIDATE_NEVER, VMM_LV_VALIDATE_RAW,
	VMM_LV_VALIDATE_ALWAYS };

static const char *const vmm_lv_validates[] = { "never", "raw", "always",
	NULL };

static const char *const vmm_lv_types[] = { "kvm", "qemu", "xen", "test",
	NULL };

static const char *const vmm_lv_options[] = { "URI", "TYPE", "DISK_FORMAT",
	"VALIDATE", "MIGRATE_URI", NULL };

struct vmm_lv {
	const char *uri;          /* URI: the pattern */
	int type;                 /* TYPE: the domain type */
	const char *disk_format;  /* DISK_FORMAT: raw or qcow2 */
	int validate;             /* VALIDATE: enum vmm_lv_validate */
	const char *migrate_uri;  /* MIGRATE_URI: pattern, or NULL (libvirt's choice) */
};

/* -- options -- */

static int
vmm_lv_yesno(const char *v, int *out)
{
	if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0) {
		*out = 1;
		return 0;
	}
	if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0) {
		*out = 0;
		return 0;
	}
	return -1;
}

/* Our options are single values given once; NAME and MODULE are the core's. */
static int
vmm_lv_conf_check_names(const struct cld_drv *drv, struct cld_err *err)
{
	const struct cld_attr *a;
	size_t i, j, k;

	if (drv->conf == NULL || drv->conf->sub == NULL)
		return 0;
	for (i = 0; i < drv->conf->nsub; i++) {
		a = &drv->conf->sub[i];
		if (strcasecmp(a->name, "NAME") == 0 ||
		    strcasecmp(a->name, "MODULE") == 0)
			continue;
		for (k = 0; vmm_lv_options[k] != NULL; k++)
			if (strcasecmp(a->name, vmm_lv_options[k]) == 0)
				break;
		if (vmm_lv_options[k] == NULL) {
			cld_err_set(err, CLD_ECONFIG,
			    "unknown option '%s' (URI, TYPE, DISK_FORMAT, VALIDATE, MIGRATE_URI)",
			    a->name);
			return -1;
		}
		if (cld_attr_is_vector(a)) {
			cld_err_set(err, CLD_ECONFIG,
			    "%s: expected a single value, not a vector", a->name);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (strcasecmp(a->name, drv->conf->sub[j].name) == 0) {
				cld_err_set(err, CLD_ECONFIG,
				    "%s: given more than once", a->name);
				return -1;
			}
	}
	return 0;
}

static void
vmm_lv_fini(struct cld_drv *drv)
{
	if (drv->priv == NULL)
		return;
	free(drv->priv);
	drv->priv = NULL;
	cld_lv_unref();
}

static int
vmm_lv_init(struct cld_drv *drv, struct cld_err *err)
{
	const struct cld_services *svc = drv->svc;
	struct vmm_lv *lv = NULL;
	const char *v;
	size_t i;

	if (vmm_lv_conf_check_names(drv, err) == -1)
		return -1;
	if ((lv = calloc(1, sizeof(*lv))) == NULL) {
		cld_err_set(err, CLD_EIO, "out of memory");
		return -1;
	}
	lv->uri = (v = svc->conf_get(drv, "URI")) != NULL ? v : CLD_LV_URI_DEFAULT;
	lv->type = VMM_LV_KVM;
	if ((v = svc->conf_get(drv, "TYPE")) != NULL) {
		for (i = 0; vmm_lv_types[i] != NULL; i++)
			if (strcmp(v, vmm_lv_types[i]) == 0)
				break;
		if (vmm_lv_types[i] == NULL) {
			cld_err_set(err, CLD_ECONFIG,
			    "TYPE: '%s' is not a domain type this driver knows (kvm, qemu, xen, test)",
			    v);
			goto fail;
		}
		lv->type = (int)i;
	}
	lv->disk_format = "raw";
	if ((v = svc->conf_get(drv, "DISK_FORMAT")) != NULL) {
		if (strcmp(v, "raw") != 0 && strcmp(v, "qcow2") != 0) {
			cld_err_set(err, CLD_ECONFIG,
			    "DISK_FORMAT: '%s' is not raw or qcow2", v);
			goto fail;
		}
		lv->disk_format = v;
	}
	lv->validate = VMM_LV_VALIDATE_RAW;
	if ((v = svc->conf_get(drv, "VALIDATE")) != NULL) {
		for (i = 0; vmm_lv_validates[i] != NULL; i++)
			if (strcmp(v, vmm_lv_validates[i]) == 0)
				break;
		if (vmm_lv_validates[i] == NULL) {
			cld_err_set(err, CLD_ECONFIG,
			    "VALIDATE: '%s' is not always, raw or never", v);
			goto fail;
		}
		lv->validate = (int)i;
	}
	if (cld_lv_uri_check(lv->uri, "URI", err) == -1)
		goto fail;
	if ((lv->migrate_uri = svc->conf_get(drv, "MIGRATE_URI")) != NULL &&
	    cld_lv_uri_check(lv->migrate_uri, "MIGRATE_URI", err) == -1)
		goto fail;
	if (cld_lv_ref(err) == -1)
		goto fail;
	if (strstr(lv->uri, "HOST") == NULL)
		svc->log(drv, CLD_LOG_WARN,
		    "URI '%s' has no HOST: every host is the same hypervisor",
		    lv->uri);
	svc->log(drv, CLD_LOG_INFO, "domains of type '%s' at '%s'",
	    vmm_lv_types[lv->type], lv->uri);
	drv->priv = lv;
	return 0;
fail:
	free(lv);
	return -1;
}

/* -- checking template values -- */

static int
vmm_lv_printable(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < ' ' || *p == 0x7f)
			return 0;
	return 1;
}

/* An absolute path without control characters. */
static int
vmm_lv_path_ok(const char *p)
{
	return p != NULL && p[0] == '/' && strlen(p) <= VMM_LV_PATH_MAX &&
	    vmm_lv_printable(p);
}

/* A word: 1 to MAX characters of letters, digits and EXTRA. */
static int
vmm_lv_word_ok(const char *s, const char *extra, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0, i;

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || strchr(extra, s[i]) != NULL))
			return 0;
	return 1;
}

/* A network interface name as Linux takes them. */
static int
vmm_lv_ifname_ok(const char *s)
{
	return vmm_lv_word_ok(s, "_.-", 15) && strcmp(s, ".") != 0 &&
	    strcmp(s, "..") != 0;
}

/* 0: a unicast MAC address; 1: not one at all; 2: a multicast one. */
static int
vmm_lv_mac_bad(const char *s)
{
	static const char hex[] = "0123456789abcdefABCDEF";
	unsigned int first;
	size_t i;

	if (strlen(s) != 17)
		return 1;
	for (i = 0; i < 17; i++) {
		if (i % 3 == 2) {
			if (s[i] != ':')
				return 1;
		} else if (strchr(hex, s[i]) == NULL) {
			return 1;
		}
	}
	if (sscanf(s, "%2x", &first) != 1)
		return 1;
	return (first & 1) ? 2 : 0;
}

/* A disk target: a letter, then letters and digits ("vda", "xvdb", "hdc"). */
static int
vmm_lv_target_ok(const char *s)
{
	return vmm_lv_word_ok(s, "", 32) && s[0] >= 'a' && s[0] <= 'z';
}

/* Complain about the names in vector V that are not in KNOWN. */
static int
vmm_lv_vector_names(struct cld_op *op, const struct cld_attr *v,
    const char *what, const char *const *known, const char *list)
{
	size_t i, k;

	for (i = 0; i < v->nsub; i++) {
		for (k = 0; known[k] != NULL; k++)
			if (strcasecmp(v->sub[i].name, known[k]) == 0)
				break;
		if (known[k] == NULL) {
			cld_err_set(op->err, CLD_EINVAL,
			    "%s: unknown attribute '%s' (%s)", what,
			    v->sub[i].name, list);
			return -1;
		}
	}
	return 0;
}

/* The one vector NAME of the template, or NULL; -1 if it is given wrongly. */
static int
vmm_lv_one_vector(struct cld_op *op, const struct cld_tmpl *t, const char *name,
    const struct cld_attr **out)
{
	const struct cld_attr *a = cld_attrs_next(t->attrs, t->n, name, NULL);

	*out = NULL;
	if (a == NULL)
		return 0;
	if (!cld_attr_is_vector(a)) {
		cld_err_set(op->err, CLD_EINVAL,
		    "%s must be a vector, as in %s = [ ... ]", name, name);
		return -1;
	}
	if (cld_attrs_next(t->attrs, t->n, name, a) != NULL) {
		cld_err_set(op->err, CLD_EINVAL, "%s is given more than once", name);
		return -1;
	}
	*out = a;
	return 0;
}

/* -- the domain XML -- */

struct vmm_lv_xml {
	struct cld_op *op;
	const struct vmm_lv *lv;
	const struct cld_vm_desc *vm;
	xmlDocPtr doc;
	xmlNodePtr root, devices;
};

/* Out of memory in libxml2: one message for all. */
static int
vmm_lv_nomem(struct cld_op *op)
{
	cld_err_set(op->err, CLD_EIO, "out of memory building the domain XML");
	return -1;
}

/* <NAME>TEXT</NAME> under PARENT (TEXT escaped by libxml2). */
static xmlNodePtr
vmm_lv_text(xmlNodePtr parent, const char *name, const char *text)
{
	return xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST text);
}

static xmlNodePtr
vmm_lv_elem(xmlNodePtr parent, const char *name)
{
	return xmlNewChild(parent, NULL, BAD_CAST name, NULL);
}

static int
vmm_lv_prop(xmlNodePtr n, const char *name, const char *value)
{
	return n != NULL && xmlNewProp(n, BAD_CAST name, BAD_CAST value) != NULL ?
	    0 : -1;
}

/* <NAME>NUMBER</NAME> */
static xmlNodePtr
vmm_lv_number(xmlNodePtr parent, const char *name, unsigned long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", v);
	return vmm_lv_text(parent, name, buf);
}

/* OS = [ KERNEL, INITRD, ROOT, KERNEL_CMD, BOOTLOADER, ARCH, MACHINE, BOOT ] */
static int
vmm_lv_xml_os(struct vmm_lv_xml *x)
{
	static const char *const known[] = { "KERNEL", "INITRD", "ROOT",
		"KERNEL_CMD", "BOOTLOADER", "ARCH", "MACHINE", "BOOT", NULL };
	struct cld_op *op = x->op;
	const struct cld_attr *os = NULL;
	const char *kernel = NULL, *initrd = NULL, *root = NULL, *cmd = NULL;
	const char *loader = NULL, *arch = NULL, *machine = NULL, *boot = NULL;
	char cmdline[8192], dev[16];
	xmlNodePtr n, t;
	int pv;

	if (vmm_lv_one_vector(op, x->vm->tmpl, "OS", &os) == -1)
		return -1;
	if (os != NULL) {
		if (vmm_lv_vector_names(op, os, "OS", known,
		    "KERNEL, INITRD, ROOT, KERNEL_CMD, BOOTLOADER, ARCH, MACHINE, BOOT") == -1)
			return -1;
		kernel = cld_vector_get(os, "KERNEL");
		initrd = cld_vector_get(os, "INITRD");
		root = cld_vector_get(os, "ROOT");
		cmd = cld_vector_get(os, "KERNEL_CMD");
		loader = cld_vector_get(os, "BOOTLOADER");
		arch = cld_vector_get(os, "ARCH");
		machine = cld_vector_get(os, "MACHINE");
		boot = cld_vector_get(os, "BOOT");
	}
	if (kernel != NULL && !vmm_lv_path_ok(kernel)) {
		cld_err_set(op->err, CLD_EINVAL,
		    "OS: KERNEL '%s' is not an absolute path on the host", kernel);
		return -1;
	}
	if (initrd != NULL && !vmm_lv_path_ok(initrd)) {
		cld_err_set(op->err, CLD_EINVAL,
		    "OS: INITRD '%s' is not an absolute path on the host", initrd);
		return -1;
	}
	if (loader != NULL && !vmm_lv_path_ok(loader)) {
		cld_err_set(op->err, CLD_EINVAL,
		    "OS: BOOTLOADER '%s' is not an absolute path on the host",
		    loader);
		return -1;
	}
	if (kernel == NULL && (initrd != NULL || root != NULL || cmd != NULL)) {
		cld_err_set(op->err, CLD_EINVAL,
		    "OS: INITRD, ROOT and KERNEL_CMD need KERNEL (direct kernel boot)");
		return -1;
	}
	if (loader != NULL && kernel != NULL) {
		cld_err_set(op->err, CLD_EINVAL,
		    "OS: give KERNEL or BOOTLOADER, not both");
		return -1;
	}
	if (loader != NULL && x->lv->type != VMM_LV_XEN && x->lv->type !=
	    VMM_LV_TEST) {
		cld_err_set(op->err, CLD_EINVAL,
		    "OS: BOOTLOADER is for Xen guests (the driver's TYPE is '%s')",
		    vmm_lv_types[x->lv->type]);
		return -1;
	}
	if (root != NULL && !vmm_lv_word_ok(root, "/_.:=-", 256)) {
		cld_err_set(op->err, CLD_EINVAL,
		    "OS: ROOT '%s' is not a device (as in vda1)", root);
		return -1;
	}
	if (cmd != NULL && !vmm_lv_printable(cmd)) {
		cld_err_set(op->err, CLD_EINVAL,
		    "OS: KERNEL_CMD has a control character");
		return -1;
	}
	if (arch != NULL && !vmm_lv_word_ok(arch, "_", 32)) {
		cld_err_set(op->err, CLD_EINVAL,
		    "OS: ARCH '%s' is not an architecture (as in x86_64)", arch);
		return -1;
	}
	if (machine != NULL && !vmm_lv_word_ok(machine, "._-", 64)) {
		cld_err_set(op->err, CLD_EINVAL,
		    "OS: MACHINE '%s' is not a machine type (as in pc or q35)",
		    machine);
		return -1;
	}

	/* A Xen guest with its own kernel or a boot loader is paravirtual. */
	pv = x->lv->type == VMM_LV_XEN && (kernel != NULL || loader != NULL);
	if (loader != NULL && vmm_lv_text(x->root, "bootloader", loader) == NULL)
		return vmm_lv_nomem(op);
	if ((n = vmm_lv_elem(x->root, "os")) == NULL ||
	    (t = vmm_lv_text(n, "type", pv ? "linux" : "hvm")) == NULL)
		return vmm_lv_nomem(op);
	if ((arch != NULL && vmm_lv_prop(t, "arch", arch) == -1) ||
	    (machine != NULL && vmm_lv_prop(t, "machine", machine) == -1))
		return vmm_lv_nomem(op);
	if (kernel != NULL) {
		cmdline[0] = '\0';
		if (root != NULL)
			snprintf(cmdline, sizeof(cmdline), "root=%s%s",
			    root[0] == '/' || strchr(root, '=') != NULL ? "" :
			    "/dev/", root);
		if (cmd != NULL && (size_t)snprintf(cmdline + strlen(cmdline),
		    sizeof(cmdline) - strlen(cmdline), "%s%s",
		    cmdline[0] != '\0' ? " " : "", cmd) >=
		    sizeof(cmdline) - strlen(cmdline)) {
			cld_err_set(op->err, CLD_EINVAL,
			    "OS: KERNEL_CMD is longer than %zu bytes",
			    sizeof(cmdline) - 64);
			return -1;
		}
		if (vmm_lv_text(n, "kernel", kernel) == NULL ||
		    (initrd != NULL && vmm_lv_text(n, "initrd", initrd) == NULL) ||
		    (cmdline[0] != '\0' && vmm_lv_text(n, "cmdline", cmdline) == NULL))
			return vmm_lv_nomem(op);
		return 0;
	}
	if (pv)
		return 0;
	/* BOOT: devices to boot from, in order ("hd,cdrom"); default hd. */
	if (boot == NULL)
		boot = "hd";
	while (*boot != '\0') {
		size_t len = strcspn(boot, ",");

		while (len > 0 && boot[0] == ' ') {
			boot++;
			len--;
		}
		while (len > 0 && boot[len - 1] == ' ')
			len--;
		if (len == 0 || len >= sizeof(dev)) {
			cld_err_set(op->err, CLD_EINVAL,
			    "OS: BOOT '%s' is not a list of hd, cdrom, network, fd",
			    cld_vector_get(os, "BOOT"));
			return -1;
		}
		memcpy(dev, boot, len);
		dev[len] = '\0';
		if (strcmp(dev, "hd") != 0 && strcmp(dev, "cdrom") != 0 &&
		    strcmp(dev, "network") != 0 && strcmp(dev, "fd") != 0) {
			cld_err_set(op->err, CLD_EINVAL,
			    "OS: BOOT device '%s' is not hd, cdrom, network or fd",
			    dev);
			return -1;
		}
		if (vmm_lv_prop(vmm_lv_elem(n, "boot"), "dev", dev) == -1)
			return vmm_lv_nomem(op);
		boot += strcspn(boot, ",");
		if (*boot == ',')
			boot++;
	}
	return 0;
}

/* FEATURES = [ ACPI = yes|no, APIC = yes|no, PAE = yes|no ]; ACPI on by default. */
static int
vmm_lv_xml_features(struct vmm_lv_xml *x)
{
	static const char *const known[] = { "ACPI", "APIC", "PAE", NULL };
	const struct cld_attr *f = NULL;
	int on[3] = { 1, 0, 0 };
	xmlNodePtr n;
	size_t i;

	if (vmm_lv_one_vector(x->op, x->vm->tmpl, "FEATURES", &f) == -1)
		return -1;
	if (f != NULL) {
		if (vmm_lv_vector_names(x->op, f, "FEATURES", known,
		    "ACPI, APIC, PAE") == -1)
			return -1;
		for (i = 0; known[i] != NULL; i++) {
			const char *v = cld_vector_get(f, known[i]);

			if (v != NULL && vmm_lv_yesno(v, &on[i]) == -1) {
				cld_err_set(x->op->err, CLD_EINVAL,
				    "FEATURES: %s '%s' is not yes or no", known[i], v);
				return -1;
			}
		}
	}
	if (!on[0] && !on[1] && !on[2])
		return 0;
	if ((n = vmm_lv_elem(x->root, "features")) == NULL)
		return vmm_lv_nomem(x->op);
	/* Without ACPI a guest never hears the shutdown button. */
	if ((on[0] && vmm_lv_elem(n, "acpi") == NULL) ||
	    (on[1] && vmm_lv_elem(n, "apic") == NULL) ||
	    (on[2] && vmm_lv_elem(n, "pae") == NULL))
		return vmm_lv_nomem(x->op);
	return 0;
}

/* Non-zero if TARGET is already the target of a disk in DEVICES. */
static int
vmm_lv_target_used(xmlNodePtr devices, const char *target)
{
	xmlNodePtr d, t;
	xmlChar *v;
	int used = 0;

	for (d = devices->children; d != NULL && !used; d = d->next) {
		if (d->type != XML_ELEMENT_NODE ||
		    !xmlStrEqual(d->name, BAD_CAST "disk"))
			continue;
		for (t = d->children; t != NULL && !used; t = t->next) {
			if (t->type != XML_ELEMENT_NODE ||
			    !xmlStrEqual(t->name, BAD_CAST "target"))
				continue;
			if ((v = xmlGetProp(t, BAD_CAST "dev")) != NULL) {
				used = strcmp((const char *)v, target) == 0;
				xmlFree(v);
			}
		}
	}
	return used;
}

/* Non-zero if some DISK of the template asks for TARGET itself. */
static int
vmm_lv_target_asked(const struct cld_tmpl *t, const char *target)
{
	const struct cld_attr *d = NULL;
	const char *v;

	while ((d = cld_tmpl_next_vector(t, "DISK", d)) != NULL)
		if ((v = cld_vector_get(d, "TARGET")) != NULL &&
		    strcmp(v, target) == 0)
			return 1;
	return 0;
}

/*
 * A target for a disk without one: PREFIX and the first letter no disk
 * has or asks for (vda, vdb...).
 */
static int
vmm_lv_target_pick(struct vmm_lv_xml *x, const char *prefix, char *out,
    size_t outsz)
{
	char c;

	for (c = 'a'; c <= 'z'; c++) {
		snprintf(out, outsz, "%s%c", prefix, c);
		if (!vmm_lv_target_used(x->devices, out) &&
		    !vmm_lv_target_asked(x->vm->tmpl, out))
			return 0;
	}
	cld_err_set(x->op->err, CLD_EINVAL,
	    "more than 26 disks without TARGET: give each one TARGET");
	return -1;
}

/* libvirt's cache modes: "none" is what it takes as safe to migrate live. */
static const char *const vmm_lv_caches[] = { "default", "none", "writethrough",
	"writeback", "directsync", "unsafe", NULL };

/* Each DISK: its file on the host (PATH), TARGET, TYPE, FORMAT, CACHE. */
static int
vmm_lv_xml_disks(struct vmm_lv_xml *x)
{
	struct cld_op *op = x->op;
	const struct cld_attr *d = NULL;
	size_t i = 0;

	while ((d = cld_tmpl_next_vector(x->vm->tmpl, "DISK", d)) != NULL) {
		const char *path = cld_vector_get(d, "PATH");
		const char *type = cld_vector_get(d, "TYPE");
		const char *target = cld_vector_get(d, "TARGET");
		const char *format = cld_vector_get(d, "FORMAT");
		const char *cache = cld_vector_get(d, "CACHE");
		char picked[16];
		xmlNodePtr n, drv;
		int cdrom = 0, blank = 0;
		size_t c;

		if (type == NULL || strcasecmp(type, "disk") == 0)
			;
		else if (strcasecmp(type, "cdrom") == 0)
			cdrom = 1;
		else if (strcasecmp(type, "swap") == 0 ||
		    strcasecmp(type, "fs") == 0)
			blank = 1;
		else {
			cld_err_set(op->err, CLD_EINVAL,
			    "DISK %zu: TYPE '%s' is not disk, cdrom, swap or fs",
			    i, type);
			return -1;
		}
		if (!vmm_lv_path_ok(path)) {
			cld_err_set(op->err, CLD_EINVAL,
			    "DISK %zu: PATH '%s' is not an absolute path on the host",
			    i, path != NULL ? path : "");
			return -1;
		}
		if (target != NULL && !vmm_lv_target_ok(target)) {
			cld_err_set(op->err, CLD_EINVAL,
			    "DISK %zu: TARGET '%s' is not a device name (as in vda)",
			    i, target);
			return -1;
		}
		if (target != NULL && vmm_lv_target_used(x->devices, target)) {
			cld_err_set(op->err, CLD_EINVAL,
			    "DISK %zu: TARGET '%s' is another disk's too", i,
			    target);
			return -1;
		}
		/*
		 * The image's format: FORMAT for disk and cdrom (on swap and fs
		 * disks it names the file system made, and the image is raw).
		 */
		if (blank)
			format = "raw";
		else if (format == NULL)
			format = x->lv->disk_format;
		else if (strcmp(format, "raw") != 0 && strcmp(format, "qcow2") != 0) {
			cld_err_set(op->err, CLD_EINVAL,
			    "DISK %zu: FORMAT '%s' is not raw or qcow2", i, format);
			return -1;
		}
		if (cache != NULL) {
			for (c = 0; vmm_lv_caches[c] != NULL; c++)
				if (strcmp(cache, vmm_lv_caches[c]) == 0)
					break;
			if (vmm_lv_caches[c] == NULL) {
				cld_err_set(op->err, CLD_EINVAL,
				    "DISK %zu: CACHE '%s' is not default, none, writethrough, writeback, directsync or unsafe",
				    i, cache);
				return -1;
			}
		}
		if (target == NULL) {
			if (vmm_lv_target_pick(x, x->lv->type == VMM_LV_XEN ? "xvd" :
			    cdrom ? "hd" : "vd", picked, sizeof(picked)) == -1)
				return -1;
			target = picked;
		}
		if ((n = vmm_lv_elem(x->devices, "disk")) == NULL ||
		    vmm_lv_prop(n, "type", "file") == -1 ||
		    vmm_lv_prop(n, "device", cdrom ? "cdrom" : "disk") == -1 ||
		    (drv = vmm_lv_elem(n, "driver")) == NULL ||
		    vmm_lv_prop(drv, "name", "qemu") == -1 ||
		    vmm_lv_prop(drv, "type", format) == -1 ||
		    (cache != NULL && vmm_lv_prop(drv, "cache", cache) == -1) ||
		    vmm_lv_prop(vmm_lv_elem(n, "source"), "file", path) == -1 ||
		    vmm_lv_prop(vmm_lv_elem(n, "target"), "dev", target) == -1 ||
		    (cdrom && vmm_lv_elem(n, "readonly") == NULL))
			return vmm_lv_nomem(op);
		i++;
	}
	return 0;
}

/* Each NIC: BRIDGE, MAC, MODEL, TARGET (the tap's name, when the core gives one). */
static int
vmm_lv_xml_nics(struct vmm_lv_xml *x)
{
	struct cld_op *op = x->op;
	const struct cld_attr *nic = NULL;
	size_t i = 0;

	while ((nic = cld_tmpl_next_vector(x->vm->tmpl, "NIC", nic)) != NULL) {
		const char *bridge = cld_vector_get(nic, "BRIDGE");
		const char *mac = cld_vector_get(nic, "MAC");
		const char *model = cld_vector_get(nic, "MODEL");
		const char *target = cld_vector_get(nic, "TARGET");
		xmlNodePtr n;
		int bad;

		if (bridge == NULL) {
			cld_err_set(op->err, CLD_EINVAL,
			    "NIC %zu has no BRIDGE: the bridge on the host to plug it in",
			    i);
			return -1;
		}
		if (!vmm_lv_ifname_ok(bridge)) {
			cld_err_set(op->err, CLD_EINVAL,
			    "NIC %zu: BRIDGE '%s' is not an interface name (up to 15 letters, digits, '_', '.', '-')",
			    i, bridge);
			return -1;
		}
		if (mac != NULL && (bad = vmm_lv_mac_bad(mac)) != 0) {
			cld_err_set(op->err, CLD_EINVAL, bad == 1 ?
			    "NIC %zu: MAC '%s' is not a MAC address (as in 02:00:0a:00:00:07)" :
			    "NIC %zu: MAC '%s' is a multicast address: a NIC needs a unicast one",
			    i, mac);
			return -1;
		}
		if (model != NULL && !vmm_lv_word_ok(model, "_-", 32)) {
			cld_err_set(op->err, CLD_EINVAL,
			    "NIC %zu: MODEL '%s' is not a model name (as in virtio or e1000)",
			    i, model);
			return -1;
		}
		if (target != NULL && !vmm_lv_ifname_ok(target)) {
			cld_err_set(op->err, CLD_EINVAL,
			    "NIC %zu: TARGET '%s' is not an interface name (up to 15 letters, digits, '_', '.', '-')",
			    i, target);
			return -1;
		}
		/* Xen picks its own device model; QEMU's default is slow: virtio. */
		if (model == NULL && x->lv->type != VMM_LV_XEN)
			model = "virtio";
		if ((n = vmm_lv_elem(x->devices, "interface")) == NULL ||
		    vmm_lv_prop(n, "type", "bridge") == -1 ||
		    vmm_lv_prop(vmm_lv_elem(n, "source"), "bridge", bridge) == -1 ||
		    (mac != NULL &&
		    vmm_lv_prop(vmm_lv_elem(n, "mac"), "address", mac) == -1) ||
		    (target != NULL &&
		    vmm_lv_prop(vmm_lv_elem(n, "target"), "dev", target) == -1) ||
		    (model != NULL &&
		    vmm_lv_prop(vmm_lv_elem(n, "model"), "type", model) == -1))
			return vmm_lv_nomem(op);
		i++;
	}
	return 0;
}

/* GRAPHICS = [ TYPE = vnc|spice, LISTEN = address, PORT = n ] */
static int
vmm_lv_xml_graphics(struct vmm_lv_xml *x)
{
	static const char *const known[] = { "TYPE", "LISTEN", "PORT", NULL };
	struct cld_op *op = x->op;
	const struct cld_attr *g = NULL;
	const char *type, *listen, *port;
	unsigned char addr[sizeof(struct in6_addr)];
	char *end = NULL;
	xmlNodePtr n;
	long p = -1;

	if (vmm_lv_one_vector(op, x->vm->tmpl, "GRAPHICS", &g) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (vmm_lv_vector_names(op, g, "GRAPHICS", known, "TYPE, LISTEN, PORT") == -1)
		return -1;
	type = cld_vector_get(g, "TYPE");
	listen = cld_vector_get(g, "LISTEN");
	port = cld_vector_get(g, "PORT");
	if (type == NULL)
		type = "vnc";
	if (strcasecmp(type, "vnc") == 0)
		type = "vnc";
	else if (strcasecmp(type, "spice") == 0)
		type = "spice";
	else {
		cld_err_set(op->err, CLD_EINVAL,
		    "GRAPHICS: TYPE '%s' is not vnc or spice", type);
		return -1;
	}
	if (listen != NULL && inet_pton(AF_INET, listen, addr) != 1 &&
	    inet_pton(AF_INET6, listen, addr) != 1) {
		cld_err_set(op->err, CLD_EINVAL,
		    "GRAPHICS: LISTEN '%s' is not an IP address (as in 0.0.0.0)",
		    listen);
		return -1;
	}
	if (port != NULL) {
		errno = 0;
		p = strtol(port, &end, 10);
		if (errno != 0 || end == port || *end != '\0' ||
		    (p != -1 && (p < 5900 || p > 65535))) {
			cld_err_set(op->err, CLD_EINVAL,
			    "GRAPHICS: PORT '%s' is not a port from 5900 to 65535 (or -1: any)",
			    port);
			return -1;
		}
	}
	if ((n = vmm_lv_elem(x->devices, "graphics")) == NULL ||
	    vmm_lv_prop(n, "type", type) == -1)
		return vmm_lv_nomem(op);
	if (p == -1) {
		if (vmm_lv_prop(n, "autoport", "yes") == -1)
			return vmm_lv_nomem(op);
	} else {
		char buf[16];

		snprintf(buf, sizeof(buf), "%ld", p);
		if (vmm_lv_prop(n, "port", buf) == -1 ||
		    vmm_lv_prop(n, "autoport", "no") == -1)
			return vmm_lv_nomem(op);
	}
	if (listen != NULL && vmm_lv_prop(n, "listen", listen) == -1)
		return vmm_lv_nomem(op);
	return 0;
}

/* Non-zero if a RAW of TYPE is for this driver's domains. */
static int
vmm_lv_raw_ours(const struct vmm_lv *lv, const char *type)
{
	int q = lv->type == VMM_LV_KVM || lv->type == VMM_LV_QEMU;

	/* kvm and qemu are one libvirt driver: each takes the other's RAW. */
	return strcasecmp(type, vmm_lv_types[lv->type]) == 0 ||
	    (q && (strcasecmp(type, "kvm") == 0 || strcasecmp(type, "qemu") == 0));
}

/*
 * RAW = [ TYPE = kvm|qemu|xen|test, DATA = "<xml fragment>" ]: DATA parsed
 * by libxml2 in the context of <domain> and added to it; the children of a
 * <devices> element in it join the domain's devices.  A RAW for another
 * hypervisor is left out.
 */
static int
vmm_lv_xml_raw(struct vmm_lv_xml *x)
{
	static const char *const known[] = { "TYPE", "DATA", NULL };
	struct cld_op *op = x->op;
	const struct cld_attr *r = NULL;
	size_t i = 0;

	while ((r = cld_attrs_next(x->vm->tmpl->attrs, x->vm->tmpl->n, "RAW",
	    r)) != NULL) {
		const char *type, *data;
		xmlNodePtr list = NULL, n, next, c, cnext;
		xmlErrorPtr xe;
		int e;

		if (!cld_attr_is_vector(r)) {
			cld_err_set(op->err, CLD_EINVAL,
			    "RAW must be a vector: RAW = [ TYPE = \"kvm\", DATA = \"<...>\" ]");
			return -1;
		}
		if (vmm_lv_vector_names(op, r, "RAW", known, "TYPE, DATA") == -1)
			return -1;
		type = cld_vector_get(r, "TYPE");
		data = cld_vector_get(r, "DATA");
		if (type == NULL || data == NULL) {
			cld_err_set(op->err, CLD_EINVAL,
			    "RAW %zu needs TYPE (the hypervisor it is for) and DATA", i);
			return -1;
		}
		i++;
		if (!vmm_lv_raw_ours(x->lv, type)) {
			op->drv->svc->log(op->drv, CLD_LOG_DEBUG,
			    "'%s': RAW for '%s' left out", x->vm->name, type);
			continue;
		}
		xmlResetLastError();
		e = xmlParseInNodeContext(x->root, data, (int)strlen(data),
		    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
		    XML_PARSE_NOCDATA, &list);
		if (e != XML_ERR_OK) {
			char msg[256];

			xe = xmlGetLastError();
			snprintf(msg, sizeof(msg), "%s", xe != NULL &&
			    xe->message != NULL ? xe->message : "not well-formed");
			msg[strcspn(msg, "\n")] = '\0';
			cld_err_set(op->err, CLD_EINVAL,
			    "RAW %zu: DATA is not an XML fragment: %s", i - 1, msg);
			xmlFreeNodeList(list);
			xmlResetLastError();
			return -1;
		}
		for (n = list; n != NULL; n = next) {
			next = n->next;
			xmlUnlinkNode(n);
			if (n->type == XML_ELEMENT_NODE && n->ns == NULL &&
			    xmlStrEqual(n->name, BAD_CAST "devices")) {
				for (c = n->children; c != NULL; c = cnext) {
					cnext = c->next;
					xmlUnlinkNode(c);
					if (xmlAddChild(x->devices, c) == NULL)
						xmlFreeNode(c);
				}
				xmlFreeNode(n);
			} else if (n->type != XML_ELEMENT_NODE ||
			    xmlAddChild(x->root, n) == NULL) {
				/* Text between elements (blanks) is of no use. */
				xmlFreeNode(n);
			}
		}
	}
	return 0;
}

/*
 * The domain description of VM: a malloc()ed string, or NULL with op->err
 * naming the attribute that is wrong.
 */
static char *
vmm_lv_domain_xml(struct cld_op *op, const struct vmm_lv *lv,
    const struct cld_vm_desc *vm)
{
	struct vmm_lv_xml x;
	xmlChar *buf = NULL;
	xmlNodePtr n;
	char *out = NULL;
	double shares;
	int len = 0;

	memset(&x, 0, sizeof(x));
	x.op = op;
	x.lv = lv;
	x.vm = vm;
	if (vm->name == NULL || !vmm_lv_word_ok(vm->name, "_.-", 128)) {
		cld_err_set(op->err, CLD_EINVAL,
		    "'%s' is not a domain name (letters, digits, '_', '.', '-')",
		    vm->name != NULL ? vm->name : "");
		return NULL;
	}
	if (vm->memory_mb == 0 || vm->memory_mb > UINT64_MAX / 1024 ||
	    vm->vcpu == 0) {
		cld_err_set(op->err, CLD_EINVAL,
		    "'%s' has no memory or no virtual CPU", vm->name);
		return NULL;
	}
	if ((x.doc = xmlNewDoc(BAD_CAST "1.0")) == NULL ||
	    (x.root = xmlNewNode(NULL, BAD_CAST "domain")) == NULL) {
		vmm_lv_nomem(op);
		goto cleanup;
	}
	xmlDocSetRootElement(x.doc, x.root);
	if (vmm_lv_prop(x.root, "type", vmm_lv_types[lv->type]) == -1)
		goto nomem;
	/* RAW for QEMU may use <qemu:commandline> without declaring it. */
	if ((lv->type == VMM_LV_KVM || lv->type == VMM_LV_QEMU) &&
	    cld_attrs_next(vm->tmpl->attrs, vm->tmpl->n, "RAW", NULL) != NULL &&
	    xmlNewNs(x.root, BAD_CAST "http://libvirt.org/schemas/domain/qemu/1.0",
	    BAD_CAST "qemu") == NULL)
		goto nomem;
	if (vmm_lv_text(x.root, "name", vm->name) == NULL)
		goto nomem;
	if ((n = vmm_lv_number(x.root, "memory", vm->memory_mb * 1024)) == NULL ||
	    vmm_lv_prop(n, "unit", "KiB") == -1 ||
	    vmm_lv_number(x.root, "vcpu", vm->vcpu) == NULL)
		goto nomem;
	/* CPU as a weight: 1024 per physical core reserved (OpenNebula's scale). */
	shares = vm->cpu * 1024.0 + 0.5;
	if (shares < VMM_LV_SHARES_MIN)
		shares = VMM_LV_SHARES_MIN;
	if (shares > VMM_LV_SHARES_MAX)
		shares = VMM_LV_SHARES_MAX;
	if ((n = vmm_lv_elem(x.root, "cputune")) == NULL ||
	    vmm_lv_number(n, "shares", (unsigned long long)shares) == NULL)
		goto nomem;
	if (vmm_lv_xml_os(&x) == -1 || vmm_lv_xml_features(&x) == -1)
		goto cleanup;
	if ((x.devices = vmm_lv_elem(x.root, "devices")) == NULL)
		goto nomem;
	if (vmm_lv_xml_disks(&x) == -1 || vmm_lv_xml_nics(&x) == -1 ||
	    vmm_lv_xml_graphics(&x) == -1 || vmm_lv_xml_raw(&x) == -1)
		goto cleanup;
	xmlDocDumpFormatMemory(x.doc, &buf, &len, 1);
	if (buf == NULL || (out = strdup((const char *)buf)) == NULL)
		goto nomem;
	goto cleanup;
nomem:
	vmm_lv_nomem(op);
cleanup:
	xmlFree(buf);
	xmlFreeDoc(x.doc);
	return out;
}

/* -- one call on a host, connected, retried once if the connection was lost -- */

struct vmm_lv_call {
	struct cld_op *op;
	const struct vmm_lv *lv;
	const struct cld_vm_desc *vm;
	const char *uri;
	virConnectPtr conn;
	int connfail;             /* the call failed because the connection did */
	/* arguments and results */
	unsigned int flags;
	const char *path;         /* save, restore */
	const char *dest;         /* migrate */
	char **domid;             /* deploy, restore */
	struct cld_vm_poll *out;  /* poll */
};

static int
vmm_lv_run(struct vmm_lv_call *k, int (*fn)(struct vmm_lv_call *))
{
	struct cld_op *op = k->op;
	const struct cld_services *svc = op->drv->svc;
	char *uri = NULL;
	int rc = -1, tries;

	if ((uri = cld_lv_uri(k->lv->uri, k->vm->host, op->err)) == NULL)
		return -1;
	k->uri = uri;
	for (tries = 0;; tries++) {
		if ((k->conn = cld_lv_connect(op, uri)) == NULL)
			break;
		k->connfail = 0;
		rc = fn(k);
		if (rc == 0 || !k->connfail) {
			virConnectClose(k->conn);
			break;
		}
		cld_lv_lost(uri, k->conn);
		virConnectClose(k->conn);
		if (tries > 0 || svc->cancelled(op) || svc->remaining_ms(op) == 0)
			break;
		svc->log(op->drv, CLD_LOG_INFO,
		    "the connection to '%s' was lost (%s): connecting again", uri,
		    op->err->msg);
	}
	k->conn = NULL;
	k->uri = NULL;
	free(uri);
	return rc;
}

static void
vmm_lv_call_init(struct vmm_lv_call *k, struct cld_op *op,
    const struct cld_vm_desc *vm, unsigned int flags)
{
	memset(k, 0, sizeof(*k));
	k->op = op;
	k->lv = op->drv->priv;
	k->vm = vm;
	k->flags = flags;
}

static int
vmm_lv_flags(struct cld_op *op, unsigned int flags, unsigned int known)
{
	if ((flags & ~known) != 0) {
		cld_err_set(op->err, CLD_EINVAL, "unknown flags 0x%x",
		    flags & ~known);
		return -1;
	}
	return 0;
}

/* An operation whose call needs nothing but the VM: check FLAGS, run FN. */
static int
vmm_lv_simple(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags, unsigned int allowed,
    int (*fn)(struct vmm_lv_call *))
{
	struct vmm_lv_call k;

	if (vmm_lv_flags(op, flags, allowed) == -1)
		return -1;
	vmm_lv_call_init(&k, op, vm, flags);
	return vmm_lv_run(&k, fn);
}

/*
 * The domain of the VM, or NULL: with *missing set when the hypervisor
 * does not know it, else with op->err set (and k->connfail).
 */
static virDomainPtr
vmm_lv_lookup(struct vmm_lv_call *k, virConnectPtr conn, const char *host,
    int *missing)
{
	virDomainPtr dom;

	*missing = 0;
	if ((dom = virDomainLookupByName(conn, k->vm->name)) != NULL)
		return dom;
	if (cld_lv_last_code() == VIR_ERR_NO_DOMAIN) {
		virResetLastError();
		*missing = 1;
		return NULL;
	}
	k->connfail = cld_lv_fail(k->op, conn, "cannot look up '%s' on '%s'",
	    k->vm->name, host);
	return NULL;
}

/* The domain's state (VIR_DOMAIN_*), or -1: gone when *missing, else failed. */
static int
vmm_lv_state(struct vmm_lv_call *k, virDomainPtr dom, int *missing)
{
	int state = -1, reason = 0;

	*missing = 0;
	if (virDomainGetState(dom, &state, &reason, 0) == 0)
		return state;
	if (cld_lv_last_code() == VIR_ERR_NO_DOMAIN) {
		virResetLastError();
		*missing = 1;
		return -1;
	}
	k->connfail = cld_lv_fail(k->op, k->conn,
	    "cannot read the state of '%s' on '%s'", k->vm->name, k->vm->host);
	return -1;
}

static int
vmm_lv_active(int state)
{
	return state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED ||
	    state == VIR_DOMAIN_PAUSED || state == VIR_DOMAIN_SHUTDOWN ||
	    state == VIR_DOMAIN_PMSUSPENDED || state == VIR_DOMAIN_CRASHED;
}

/* *domid = DOM's id, as text (malloc()ed). */
static int
vmm_lv_domid(struct vmm_lv_call *k, virDomainPtr dom, char **domid)
{
	char buf[VMM_LV_DOMID_MAX];
	unsigned int id = virDomainGetID(dom);

	virResetLastError();
	if (id == (unsigned int)-1)
		snprintf(buf, sizeof(buf), "-");
	else
		snprintf(buf, sizeof(buf), "%u", id);
	if ((*domid = strdup(buf)) == NULL) {
		cld_err_set(k->op->err, CLD_EIO, "out of memory");
		return -1;
	}
	return 0;
}

/* A first CPU sample right away, so that the first poll has a figure. */
static void
vmm_lv_seed(struct vmm_lv_call *k, virConnectPtr conn, const char *uri,
    virDomainPtr dom)
{
	struct cld_lv_stats st;
	struct cld_err saved = *k->op->err;
	int connfail = 0;

	if (cld_lv_dom_stats(k->op, uri, conn, dom, &st, &connfail) == -1)
		*k->op->err = saved;
}

/* -- watching a long job (save, migrate) against the deadline -- */

struct vmm_lv_watch {
	struct cld_op *op;
	virDomainPtr dom;
	const char *what;         /* for progress */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	int aborted;              /* CLD_ETIMEDOUT or CLD_ECANCELED once it aborted */
	int running;
};

static void *
vmm_lv_watch_main(void *arg)
{
	struct vmm_lv_watch *w = arg;
	const struct cld_services *svc = w->op->drv->svc;
	virDomainJobInfo ji;
	struct timespec ts;

	pthread_mutex_lock(&w->lock);
	while (!w->done) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += VMM_LV_WATCH_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
		if (w->done)
			break;
		pthread_mutex_unlock(&w->lock);
		if (!w->aborted && (svc->cancelled(w->op) ||
		    svc->remaining_ms(w->op) == 0)) {
			w->aborted = svc->cancelled(w->op) ? CLD_ECANCELED :
			    CLD_ETIMEDOUT;
			virDomainAbortJob(w->dom);
		} else if (!w->aborted && svc->progress != NULL &&
		    virDomainGetJobInfo(w->dom, &ji) == 0 &&
		    ji.type != VIR_DOMAIN_JOB_NONE && ji.dataTotal > 0) {
			svc->progress(w->op,
			    (int)(ji.dataProcessed * 100 / ji.dataTotal), w->what);
		}
		virResetLastError();
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void
vmm_lv_watch_start(struct vmm_lv_watch *w, struct cld_op *op,
    virDomainPtr dom, const char *what)
{
	pthread_condattr_t ca;

	memset(w, 0, sizeof(*w));
	w->op = op;
	w->dom = dom;
	w->what = what;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&w->thread, NULL, vmm_lv_watch_main, w) == 0)
		w->running = 1;
	else
		op->drv->svc->log(op->drv, CLD_LOG_WARN,
		    "cannot watch %s against the deadline: no thread", what);
}

/* Stop watching; returns CLD_ETIMEDOUT or CLD_ECANCELED if it aborted the job. */
static int
vmm_lv_watch_stop(struct vmm_lv_watch *w)
{
	pthread_mutex_lock(&w->lock);
	w->done = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	if (w->running)
		pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	return w->aborted;
}

/* After a job that failed and was aborted: say it was the deadline's doing. */
static void
vmm_lv_aborted(struct cld_op *op, int why)
{
	if (why == 0)
		return;
	op->err->code = why;
	cld_err_prefix(op->err, "%s", why == CLD_ECANCELED ?
	    "cancelled" : "aborted at the deadline");
}

/* -- the operations -- */

static int
vmm_lv_deploy_fn(struct vmm_lv_call *k)
{
	struct cld_op *op = k->op;
	const struct cld_vm_desc *vm = k->vm;
	virDomainPtr dom = NULL;
	char *xml = NULL;
	int missing = 0, state, rc = -1;

	if ((dom = vmm_lv_lookup(k, k->conn, vm->host, &missing)) == NULL &&
	    !missing)
		goto cleanup;
	if (dom == NULL) {
		if ((xml = vmm_lv_domain_xml(op, k->lv, vm)) == NULL)
			goto cleanup;
		op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "deploy '%s' on '%s'",
		    vm->name, k->uri);
		dom = virDomainCreateXML(k->conn, xml,
		    k->lv->validate == VMM_LV_VALIDATE_ALWAYS ||
		    (k->lv->validate == VMM_LV_VALIDATE_RAW &&
		    cld_attrs_next(vm->tmpl->attrs, vm->tmpl->n, "RAW", NULL) != NULL) ?
		    VIR_DOMAIN_START_VALIDATE : 0);
		if (dom == NULL) {
			k->connfail = cld_lv_fail(op, k->conn,
			    "cannot start '%s' on '%s'", vm->name, vm->host);
			/* Started meanwhile by a retry of ours: that is success. */
			if (k->connfail ||
			    (dom = virDomainLookupByName(k->conn, vm->name)) == NULL) {
				virResetLastError();
				goto cleanup;
			}
			cld_err_clear(op->err);
		}
	}
	if ((state = vmm_lv_state(k, dom, &missing)) == -1) {
		if (missing)
			cld_err_set(op->err, CLD_EDRIVER,
			    "'%s' stopped on '%s' as soon as it started",
			    vm->name, vm->host);
		goto cleanup;
	}
	if (!vmm_lv_active(state)) {
		cld_err_set(op->err, CLD_EEXIST,
		    "a domain '%s' is defined on '%s' but not running: cloudd starts only domains it makes (undefine it)",
		    vm->name, vm->host);
		goto cleanup;
	}
	if (vmm_lv_domid(k, dom, k->domid) == -1)
		goto cleanup;
	vmm_lv_seed(k, k->conn, k->uri, dom);
	rc = 0;
cleanup:
	free(xml);
	if (dom != NULL)
		virDomainFree(dom);
	return rc;
}

static int
vmm_lv_deploy(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags, char **domid)
{
	struct vmm_lv_call k;

	if (vmm_lv_flags(op, flags, 0) == -1)
		return -1;
	vmm_lv_call_init(&k, op, vm, flags);
	k.domid = domid;
	return vmm_lv_run(&k, vmm_lv_deploy_fn);
}

/* Press the power button: ACPI where the hypervisor can say so, else its default. */
static int
vmm_lv_press(virDomainPtr dom)
{
	int code;

	if (virDomainShutdownFlags(dom, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN) == 0)
		return 0;
	code = cld_lv_last_code();
	if (code != VIR_ERR_INVALID_ARG && code != VIR_ERR_NO_SUPPORT &&
	    code != VIR_ERR_ARGUMENT_UNSUPPORTED)
		return -1;
	virResetLastError();
	return virDomainShutdown(dom);
}

static void
vmm_lv_sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

static int64_t
vmm_lv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
vmm_lv_shutdown_fn(struct vmm_lv_call *k)
{
	struct cld_op *op = k->op;
	const struct cld_services *svc = op->drv->svc;
	const struct cld_vm_desc *vm = k->vm;
	virDomainPtr dom = NULL;
	int64_t start = vmm_lv_now_ms(), pressed, left;
	int missing = 0, state, rc = -1;

	if ((dom = vmm_lv_lookup(k, k->conn, vm->host, &missing)) == NULL) {
		rc = missing ? 0 : -1;
		goto cleanup;
	}
	if ((state = vmm_lv_state(k, dom, &missing)) == -1) {
		rc = missing ? 0 : -1;
		goto cleanup;
	}
	if (state == VIR_DOMAIN_SHUTOFF) {
		rc = 0;
		goto cleanup;
	}
	if (vmm_lv_press(dom) == -1) {
		if (cld_lv_last_code() == VIR_ERR_NO_DOMAIN) {
			virResetLastError();
			rc = 0;
			goto cleanup;
		}
		k->connfail = cld_lv_fail(op, k->conn,
		    "cannot shut '%s' down on '%s'", vm->name, vm->host);
		goto cleanup;
	}
	pressed = vmm_lv_now_ms();
	for (;;) {
		if ((state = vmm_lv_state(k, dom, &missing)) == -1) {
			rc = missing ? 0 : -1;
			break;
		}
		if (state == VIR_DOMAIN_SHUTOFF) {
			rc = 0;
			break;
		}
		if (svc->cancelled(op)) {
			cld_err_set(op->err, CLD_ECANCELED,
			    "the shutdown of '%s' was cancelled", vm->name);
			break;
		}
		if ((left = svc->remaining_ms(op)) == 0) {
			cld_err_set(op->err, CLD_ETIMEDOUT,
			    "'%s' did not shut down within %" PRId64
			    " s of the ACPI power button", vm->name,
			    (vmm_lv_now_ms() - start) / 1000);
			break;
		}
		if (vmm_lv_now_ms() - pressed >= VMM_LV_ACPI_AGAIN_MS) {
			if (vmm_lv_press(dom) == -1)
				virResetLastError();
			pressed = vmm_lv_now_ms();
		}
		vmm_lv_sleep_ms(left < VMM_LV_POLL_MS ? left : VMM_LV_POLL_MS);
	}
cleanup:
	if (rc == 0)
		cld_lv_forget(k->uri, vm->name);
	if (dom != NULL)
		virDomainFree(dom);
	return rc;
}

static int
vmm_lv_shutdown(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	return vmm_lv_simple(op, vm, flags, 0, vmm_lv_shutdown_fn);
}

static int
vmm_lv_destroy_fn(struct vmm_lv_call *k)
{
	const struct cld_vm_desc *vm = k->vm;
	virDomainPtr dom = NULL;
	int missing = 0, code, active, persistent, rc = -1;

	if ((dom = vmm_lv_lookup(k, k->conn, vm->host, &missing)) == NULL) {
		rc = missing ? 0 : -1;
		goto cleanup;
	}
	if ((active = virDomainIsActive(dom)) < 0) {
		if (cld_lv_last_code() == VIR_ERR_NO_DOMAIN)
			goto gone;
		k->connfail = cld_lv_fail(k->op, k->conn,
		    "cannot read the state of '%s' on '%s'", vm->name, vm->host);
		goto cleanup;
	}
	if (active && virDomainDestroy(dom) < 0) {
		code = cld_lv_last_code();
		/* Gone or stopped meanwhile: what destroy wanted. */
		if (code != VIR_ERR_NO_DOMAIN && code != VIR_ERR_OPERATION_INVALID) {
			k->connfail = cld_lv_fail(k->op, k->conn,
			    "cannot destroy '%s' on '%s'", vm->name, vm->host);
			goto cleanup;
		}
	}
	virResetLastError();
	/* cloudd's domains are transient (gone now); one defined by hand goes too. */
	if ((persistent = virDomainIsPersistent(dom)) < 0) {
		if (cld_lv_last_code() == VIR_ERR_NO_DOMAIN)
			goto gone;
		k->connfail = cld_lv_fail(k->op, k->conn,
		    "cannot read the state of '%s' on '%s'", vm->name, vm->host);
		goto cleanup;
	}
	if (persistent && virDomainUndefineFlags(dom,
	    VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
	    VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) < 0 &&
	    cld_lv_last_code() != VIR_ERR_NO_DOMAIN) {
		k->connfail = cld_lv_fail(k->op, k->conn,
		    "cannot undefine '%s' on '%s'", vm->name, vm->host);
		goto cleanup;
	}
gone:
	virResetLastError();
	rc = 0;
cleanup:
	if (rc == 0)
		cld_lv_forget(k->uri, vm->name);
	if (dom != NULL)
		virDomainFree(dom);
	return rc;
}

static int
vmm_lv_destroy(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	return vmm_lv_simple(op, vm, flags, 0, vmm_lv_destroy_fn);
}

/* The running (or paused) domain of the VM, or NULL with op->err set. */
static virDomainPtr
vmm_lv_running(struct vmm_lv_call *k, int *state)
{
	virDomainPtr dom;
	int missing = 0;

	if ((dom = vmm_lv_lookup(k, k->conn, k->vm->host, &missing)) == NULL) {
		if (missing)
			cld_err_set(k->op->err, CLD_ENOENT,
			    "'%s' is not running on '%s'", k->vm->name,
			    k->vm->host);
		return NULL;
	}
	if ((*state = vmm_lv_state(k, dom, &missing)) == -1 ||
	    !vmm_lv_active(*state)) {
		if (missing || *state != -1)
			cld_err_set(k->op->err, CLD_ENOENT,
			    "'%s' is not running on '%s'", k->vm->name,
			    k->vm->host);
		virDomainFree(dom);
		return NULL;
	}
	return dom;
}

static int
vmm_lv_reboot_fn(struct vmm_lv_call *k)
{
	const struct cld_vm_desc *vm = k->vm;
	virDomainPtr dom;
	int state = 0, rc = -1, code;

	if ((dom = vmm_lv_running(k, &state)) == NULL)
		return -1;
	if (k->flags & CLD_REBOOT_HARD) {
		if (virDomainReset(dom, 0) < 0)
			k->connfail = cld_lv_fail(k->op, k->conn,
			    "cannot reset '%s' on '%s'", vm->name, vm->host);
		else
			rc = 0;
		goto cleanup;
	}
	if (virDomainReboot(dom, VIR_DOMAIN_REBOOT_ACPI_POWER_BTN) == 0) {
		rc = 0;
		goto cleanup;
	}
	code = cld_lv_last_code();
	if (code == VIR_ERR_INVALID_ARG || code == VIR_ERR_NO_SUPPORT ||
	    code == VIR_ERR_ARGUMENT_UNSUPPORTED) {
		virResetLastError();
		if (virDomainReboot(dom, 0) == 0) {
			rc = 0;
			goto cleanup;
		}
	}
	k->connfail = cld_lv_fail(k->op, k->conn, "cannot reboot '%s' on '%s'",
	    vm->name, vm->host);
cleanup:
	virDomainFree(dom);
	return rc;
}

static int
vmm_lv_reboot(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	return vmm_lv_simple(op, vm, flags, CLD_REBOOT_HARD, vmm_lv_reboot_fn);
}

static int
vmm_lv_suspend_fn(struct vmm_lv_call *k)
{
	virDomainPtr dom;
	int state = 0, rc = 0;

	if ((dom = vmm_lv_running(k, &state)) == NULL)
		return -1;
	if (state != VIR_DOMAIN_PAUSED && virDomainSuspend(dom) < 0) {
		k->connfail = cld_lv_fail(k->op, k->conn,
		    "cannot suspend '%s' on '%s'", k->vm->name, k->vm->host);
		rc = -1;
	}
	virDomainFree(dom);
	return rc;
}

static int
vmm_lv_suspend(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	return vmm_lv_simple(op, vm, flags, 0, vmm_lv_suspend_fn);
}

static int
vmm_lv_resume_fn(struct vmm_lv_call *k)
{
	virDomainPtr dom;
	int state = 0, rc = 0;

	if ((dom = vmm_lv_running(k, &state)) == NULL)
		return -1;
	if (state == VIR_DOMAIN_PAUSED && virDomainResume(dom) < 0) {
		k->connfail = cld_lv_fail(k->op, k->conn,
		    "cannot resume '%s' on '%s'", k->vm->name, k->vm->host);
		rc = -1;
	}
	virDomainFree(dom);
	return rc;
}

static int
vmm_lv_resume(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	return vmm_lv_simple(op, vm, flags, 0, vmm_lv_resume_fn);
}

/* Non-zero if PATH on the host holds a save of the VM (libvirt reads it). */
static int
vmm_lv_saved(struct vmm_lv_call *k)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr root, n;
	xmlChar *name = NULL;
	char *xml;
	int found = 0;

	if ((xml = virDomainSaveImageGetXMLDesc(k->conn, k->path, 0)) == NULL) {
		virResetLastError();
		return 0;
	}
	doc = xmlReadMemory(xml, (int)strlen(xml), "save.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc != NULL && (root = xmlDocGetRootElement(doc)) != NULL)
		for (n = root->children; n != NULL && name == NULL; n = n->next)
			if (n->type == XML_ELEMENT_NODE &&
			    xmlStrEqual(n->name, BAD_CAST "name"))
				name = xmlNodeGetContent(n);
	found = name != NULL && strcmp((const char *)name, k->vm->name) == 0;
	xmlFree(name);
	xmlFreeDoc(doc);
	free(xml);
	return found;
}

static int
vmm_lv_save_fn(struct vmm_lv_call *k)
{
	struct cld_op *op = k->op;
	const struct cld_vm_desc *vm = k->vm;
	struct vmm_lv_watch w;
	virDomainPtr dom = NULL;
	int missing = 0, state = -1, rc = -1, why;

	if ((dom = vmm_lv_lookup(k, k->conn, vm->host, &missing)) == NULL &&
	    !missing)
		return -1;
	if (dom != NULL && (state = vmm_lv_state(k, dom, &missing)) == -1 &&
	    !missing)
		goto cleanup;
	if (dom == NULL || missing || !vmm_lv_active(state)) {
		/* Saved already (a retry): the save file says so. */
		if (vmm_lv_saved(k))
			rc = 0;
		else
			cld_err_set(op->err, CLD_ENOENT,
			    "'%s' is not running on '%s' and '%s' holds no save of it",
			    vm->name, vm->host, k->path);
		goto cleanup;
	}
	vmm_lv_watch_start(&w, op, dom, "saving");
	rc = virDomainSave(dom, k->path);
	if (rc < 0)
		k->connfail = cld_lv_fail(op, k->conn,
		    "cannot save '%s' on '%s' to '%s'", vm->name, vm->host,
		    k->path);
	why = vmm_lv_watch_stop(&w);
	if (rc < 0)
		vmm_lv_aborted(op, why);
	else
		cld_lv_forget(k->uri, vm->name);
cleanup:
	if (dom != NULL)
		virDomainFree(dom);
	return rc < 0 ? -1 : 0;
}

static int
vmm_lv_save(struct cld_op *op, const struct cld_vm_desc *vm, const char *path,
    unsigned int flags)
{
	struct vmm_lv_call k;

	if (vmm_lv_flags(op, flags, 0) == -1)
		return -1;
	if (!vmm_lv_path_ok(path)) {
		cld_err_set(op->err, CLD_EINVAL,
		    "save: '%s' is not an absolute path on the host",
		    path != NULL ? path : "");
		return -1;
	}
	vmm_lv_call_init(&k, op, vm, flags);
	k.path = path;
	return vmm_lv_run(&k, vmm_lv_save_fn);
}

static int
vmm_lv_restore_fn(struct vmm_lv_call *k)
{
	struct cld_op *op = k->op;
	const struct cld_vm_desc *vm = k->vm;
	virDomainPtr dom = NULL;
	int missing = 0, state = -1, rc = -1;

	if ((dom = vmm_lv_lookup(k, k->conn, vm->host, &missing)) == NULL &&
	    !missing)
		return -1;
	if (dom != NULL && ((state = vmm_lv_state(k, dom, &missing)) == -1 &&
	    !missing))
		goto cleanup;
	if (dom == NULL || missing || !vmm_lv_active(state)) {
		if (dom != NULL)
			virDomainFree(dom);
		dom = NULL;
		/*
		 * Not every hypervisor takes VIR_DOMAIN_SAVE_RUNNING (the test
		 * driver does not): restore as saved, then resume if paused.
		 */
		if (virDomainRestoreFlags(k->conn, k->path, NULL, 0) < 0) {
			k->connfail = cld_lv_fail(op, k->conn,
			    "cannot restore '%s' on '%s' from '%s'", vm->name,
			    vm->host, k->path);
			goto cleanup;
		}
		if ((dom = vmm_lv_lookup(k, k->conn, vm->host, &missing)) == NULL) {
			if (missing)
				cld_err_set(op->err, CLD_EDRIVER,
				    "'%s' holds no save of '%s': it restored another domain",
				    k->path, vm->name);
			goto cleanup;
		}
		if ((state = vmm_lv_state(k, dom, &missing)) == -1) {
			if (missing)
				cld_err_set(op->err, CLD_EDRIVER,
				    "'%s' stopped on '%s' as soon as it was restored",
				    vm->name, vm->host);
			goto cleanup;
		}
	}
	if (state == VIR_DOMAIN_PAUSED && virDomainResume(dom) < 0) {
		k->connfail = cld_lv_fail(op, k->conn,
		    "cannot resume '%s' on '%s' after restoring it", vm->name,
		    vm->host);
		goto cleanup;
	}
	if (vmm_lv_domid(k, dom, k->domid) == -1)
		goto cleanup;
	vmm_lv_seed(k, k->conn, k->uri, dom);
	rc = 0;
cleanup:
	if (dom != NULL)
		virDomainFree(dom);
	return rc;
}

static int
vmm_lv_restore(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *path, unsigned int flags, char **domid)
{
	struct vmm_lv_call k;

	if (vmm_lv_flags(op, flags, 0) == -1)
		return -1;
	if (!vmm_lv_path_ok(path)) {
		cld_err_set(op->err, CLD_EINVAL,
		    "restore: '%s' is not an absolute path on the host",
		    path != NULL ? path : "");
		return -1;
	}
	vmm_lv_call_init(&k, op, vm, flags);
	k.path = path;
	k.domid = domid;
	return vmm_lv_run(&k, vmm_lv_restore_fn);
}

/* Non-zero if the VM runs on the destination DCONN already. */
static int
vmm_lv_arrived(struct vmm_lv_call *k, virConnectPtr dconn)
{
	virDomainPtr d;
	int active;

	if ((d = virDomainLookupByName(dconn, k->vm->name)) == NULL) {
		virResetLastError();
		return 0;
	}
	active = virDomainIsActive(d) == 1;
	virDomainFree(d);
	virResetLastError();
	return active;
}

static int
vmm_lv_migrate_fn(struct vmm_lv_call *k)
{
	struct cld_op *op = k->op;
	const struct cld_vm_desc *vm = k->vm;
	virTypedParameterPtr params = NULL;
	virConnectPtr dconn = NULL;
	virDomainPtr dom = NULL, ddom = NULL;
	struct vmm_lv_watch w;
	char *duri = NULL, *muri = NULL;
	int nparams = 0, maxparams = 0, missing = 0, state = -1, rc = -1, why;
	unsigned int vflags = 0;

	if ((duri = cld_lv_uri(k->lv->uri, k->dest, op->err)) == NULL)
		goto cleanup;
	if ((dom = vmm_lv_lookup(k, k->conn, vm->host, &missing)) == NULL &&
	    !missing)
		goto cleanup;
	if (dom != NULL && (state = vmm_lv_state(k, dom, &missing)) == -1 &&
	    !missing)
		goto cleanup;
	if ((dconn = cld_lv_connect(op, duri)) == NULL)
		goto cleanup;
	if (dom == NULL || missing || !vmm_lv_active(state)) {
		/* Moved already (a retry): it runs on the destination. */
		if (vmm_lv_arrived(k, dconn))
			rc = 0;
		else
			cld_err_set(op->err, CLD_ENOENT,
			    "'%s' runs neither on '%s' nor on '%s'", vm->name,
			    vm->host, k->dest);
		goto cleanup;
	}
	if (k->lv->migrate_uri != NULL) {
		if ((muri = cld_lv_uri(k->lv->migrate_uri, k->dest, op->err)) == NULL)
			goto cleanup;
		if (virTypedParamsAddString(&params, &nparams, &maxparams,
		    VIR_MIGRATE_PARAM_URI, muri) < 0) {
			virResetLastError();
			cld_err_set(op->err, CLD_EIO, "out of memory");
			goto cleanup;
		}
	}
	/*
	 * Transient stays transient: nothing to define on the destination or
	 * undefine here.  The disks are on storage both hosts see (the
	 * core's plans say so), so none is copied.  Without LIVE, libvirt
	 * pauses the guest while its memory moves.
	 */
	if (k->flags & CLD_MIGRATE_LIVE)
		vflags |= VIR_MIGRATE_LIVE;
	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "migrate '%s' from '%s' to '%s'%s",
	    vm->name, k->uri, duri, (k->flags & CLD_MIGRATE_LIVE) ? " live" : "");
	vmm_lv_watch_start(&w, op, dom, "migrating");
	ddom = virDomainMigrate3(dom, dconn, params, (unsigned int)nparams, vflags);
	if (ddom == NULL) {
		k->connfail = cld_lv_fail(op, k->conn,
		    "cannot migrate '%s' from '%s' to '%s'", vm->name, vm->host,
		    k->dest);
		if (virConnectIsAlive(dconn) == 0) {
			cld_lv_lost(duri, dconn);
			k->connfail = 1;
		}
		virResetLastError();
	}
	why = vmm_lv_watch_stop(&w);
	if (ddom == NULL) {
		vmm_lv_aborted(op, why);
		goto cleanup;
	}
	cld_lv_forget(k->uri, vm->name);
	vmm_lv_seed(k, dconn, duri, ddom);
	rc = 0;
cleanup:
	if (ddom != NULL)
		virDomainFree(ddom);
	if (dom != NULL)
		virDomainFree(dom);
	if (dconn != NULL)
		virConnectClose(dconn);
	virTypedParamsFree(params, nparams);
	free(muri);
	free(duri);
	return rc;
}

static int
vmm_lv_migrate(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *dest, unsigned int flags)
{
	struct vmm_lv_call k;

	if (vmm_lv_flags(op, flags, CLD_MIGRATE_LIVE) == -1)
		return -1;
	if (dest == NULL || vm->host == NULL || strcmp(dest, vm->host) == 0) {
		cld_err_set(op->err, CLD_EINVAL,
		    "cannot migrate '%s' to the host it is on ('%s')", vm->name,
		    dest != NULL ? dest : "");
		return -1;
	}
	vmm_lv_call_init(&k, op, vm, flags);
	k.dest = dest;
	return vmm_lv_run(&k, vmm_lv_migrate_fn);
}

static int
vmm_lv_poll_fn(struct vmm_lv_call *k)
{
	struct cld_lv_stats st;
	virDomainPtr dom;
	int missing = 0, rc;

	if ((dom = vmm_lv_lookup(k, k->conn, k->vm->host, &missing)) == NULL) {
		if (!missing)
			return -1;
		k->out->state = CLD_POLL_MISSING;
		return 0;
	}
	rc = cld_lv_dom_stats(k->op, k->uri, k->conn, dom, &st, &k->connfail);
	if (rc == 0) {
		k->out->state = st.state;
		k->out->cpu = st.cpu;
		k->out->memory_kb = st.memory_kb;
		k->out->netrx = st.netrx;
		k->out->nettx = st.nettx;
	}
	virDomainFree(dom);
	return rc;
}

static int
vmm_lv_poll(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags, struct cld_vm_poll *out)
{
	struct vmm_lv_call k;

	if (vmm_lv_flags(op, flags, 0) == -1)
		return -1;
	if (out->size < sizeof(*out)) {
		cld_err_set(op->err, CLD_EINVAL, "poll figures too small (%u bytes)",
		    (unsigned int)out->size);
		return -1;
	}
	out->state = CLD_POLL_UNKNOWN;
	out->cpu = 0;
	out->memory_kb = out->netrx = out->nettx = 0;
	vmm_lv_call_init(&k, op, vm, flags);
	k.out = out;
	return vmm_lv_run(&k, vmm_lv_poll_fn);
}

extern const struct cld_vmm_driver CLD_DRIVER_ENTRY(vmm_libvirt);

const struct cld_vmm_driver CLD_DRIVER_ENTRY(vmm_libvirt) = {
	.hdr = CLD_DRIVER_HEADER(CLD_CLASS_VMM, struct cld_vmm_driver, "libvirt",
	    PACKAGE_VERSION, vmm_lv_init, vmm_lv_fini),
	.deploy = vmm_lv_deploy,
	.shutdown = vmm_lv_shutdown,
	.destroy = vmm_lv_destroy,
	.reboot = vmm_lv_reboot,
	.suspend = vmm_lv_suspend,
	.resume = vmm_lv_resume,
	.save = vmm_lv_save,
	.restore = vmm_lv_restore,
	.migrate = vmm_lv_migrate,
	.poll = vmm_lv_poll,
};
