/*
 * The ABI fixture: a vmm driver as someone outside the tree wrote it
 * against the SDK of ABI 1.0.  t/Makefile.inc.am builds it against the
 * frozen copy of the 1.0 headers in t/abi/1.0/cloudd/, never against
 * include/, so that vmm_abi10 is what a 1.0 driver really is; t/unit/abi.c
 * loads it into today's core and runs its operations, which use every
 * service of 1.0.  Two more builds are refused: with CLAIM_MAJOR it claims
 * the next major, and built against include/ with CLAIM_NEWER it claims a
 * minor newer than the headers the core was built with.
 *
 * MODFILE is the file name (vmm_abi10), MODNAME the module.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cloudd/driver.h>

#if !defined(CLAIM_NEWER) && (CLD_ABI_MAJOR != 1 || CLD_ABI_MINOR != 0)
#error "the ABI fixture is built against the 1.0 headers of t/abi/1.0"
#endif

#ifdef CLAIM_MAJOR
#define TABLE_MAJOR (CLD_ABI_MAJOR + 1)
#define TABLE_MINOR CLD_ABI_MINOR
#endif
#ifdef CLAIM_NEWER
#define TABLE_MAJOR CLD_ABI_MAJOR
#define TABLE_MINOR (CLD_ABI_MINOR + 1)
#endif

struct abi {
	char *greeting;     /* GREETING, from the instance's block */
};

static int
abi_init(struct cld_drv *drv, struct cld_err *err)
{
	const char *g = drv->svc->conf_get(drv, "GREETING");
	struct abi *a = calloc(1, sizeof(*a));

	if (a == NULL || (a->greeting = strdup(g ? g : "none")) == NULL) {
		free(a);
		cld_err_set(err, CLD_EIO, "out of memory");
		return -1;
	}
	drv->priv = a;
	drv->svc->log(drv, CLD_LOG_DEBUG, "built for ABI %d.%d", CLD_ABI_MAJOR,
	    CLD_ABI_MINOR);
	return 0;
}

static void
abi_fini(struct cld_drv *drv)
{
	struct abi *a = drv->priv;

	if (a != NULL)
		free(a->greeting);
	free(a);
	drv->priv = NULL;
}

/*
 * Deploy asks the core to run "printf %s NAME" and to quote a word for a
 * shell, and reports progress: the domid is "GREETING:NAME:QUOTED".
 */
static int
abi_deploy(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags, char **domid)
{
	const struct cld_services *svc = op->drv->svc;
	struct abi *a = op->drv->priv;
	const char *argv[] = { "printf", "%s", vm->name, NULL };
	const char *words[] = { "it's", NULL };
	struct cld_run r;
	char *quoted = NULL;
	size_t n;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	if (flags != 0) {
		cld_err_set(op->err, CLD_EINVAL, "unknown flags 0x%x", flags);
		return -1;
	}
	if (svc->cancelled(op) || svc->remaining_ms(op) == 0) {
		cld_err_set(op->err, CLD_ECANCELED, "cancelled before it began");
		return -1;
	}
	r.argv = argv;
	if (svc->run(op, &r) < 0)
		goto cleanup;
	if ((quoted = svc->shell_quote(words)) == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	n = strlen(a->greeting) + r.out_len + strlen(quoted) + 3;
	if ((*domid = malloc(n)) == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	snprintf(*domid, n, "%s:%s:%s", a->greeting, r.out, quoted);
	svc->progress(op, 100, "deployed");
	rc = 0;
cleanup:
	free(quoted);
	free(r.out);
	free(r.errout);
	return rc;
}

static int
abi_stop(struct cld_op *op, const struct cld_vm_desc *vm, unsigned int flags)
{
	if (flags != 0) {
		cld_err_set(op->err, CLD_EINVAL, "unknown flags 0x%x", flags);
		return -1;
	}
	return 0;
}

static int
abi_poll(struct cld_op *op, const struct cld_vm_desc *vm, unsigned int flags,
    struct cld_vm_poll *out)
{
	if (flags != 0) {
		cld_err_set(op->err, CLD_EINVAL, "unknown flags 0x%x", flags);
		return -1;
	}
	/* A 1.0 driver knows the 1.0 layout of what the core hands it. */
	if (out->size < sizeof(*out) || vm->size < sizeof(*vm)) {
		cld_err_set(op->err, CLD_EINVAL, "the core's structures are too small");
		return -1;
	}
	out->state = CLD_POLL_RUNNING;
	out->cpu = vm->cpu * 100;
	out->memory_kb = vm->memory_mb * 1024;
	return 0;
}

#define ENTRY_(f) CLD_DRIVER_ENTRY(f)
#define ENTRY ENTRY_(MODFILE)

extern const struct cld_vmm_driver ENTRY;
const struct cld_vmm_driver ENTRY = {
#if defined(CLAIM_MAJOR) || defined(CLAIM_NEWER)
	.hdr = {
		.magic = CLD_DRIVER_MAGIC,
		.abi_major = TABLE_MAJOR,
		.abi_minor = TABLE_MINOR,
		.size = (uint32_t)sizeof(struct cld_vmm_driver),
		.klass = CLD_CLASS_VMM,
		.name = MODNAME,
		.version = "fixture",
		.init = abi_init,
		.fini = abi_fini,
	},
#else
	/* As the 1.0 SDK says to write it. */
	.hdr = CLD_DRIVER_HEADER(CLD_CLASS_VMM, struct cld_vmm_driver, MODNAME,
	    "fixture", abi_init, abi_fini),
#endif
	.deploy = abi_deploy,
	.shutdown = abi_stop,
	.destroy = abi_stop,
	.poll = abi_poll,
};
