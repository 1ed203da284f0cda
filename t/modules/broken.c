/*
 * Deliberately broken vmm modules for the loader's tests: one source, built
 * once per refusal with a -D that breaks one thing (t/Makefile.inc.am).
 * MODFILE is the file name, MODNAME the name the table claims.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <cloudd/driver.h>

static int
good_init(struct cld_drv *drv, struct cld_err *err)
{
#ifdef BROKEN_INIT
	cld_err_set(err, CLD_ECONFIG, "OPTION 'X' is required");
	return -1;
#else
	/* Prove the instance sees its own block and the services table. */
	const char *greet = drv->svc->conf_get(drv, "GREETING");

	drv->priv = strdup(greet != NULL ? greet : "none");
	if (drv->priv == NULL) {
		cld_err_set(err, CLD_EIO, "out of memory");
		return -1;
	}
	return 0;
#endif
}

static void
good_fini(struct cld_drv *drv)
{
	free(drv->priv);
}

#ifndef BROKEN_NOOP
static int
good_deploy(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags, char **domid)
{
	if (flags != 0) {
		cld_err_set(op->err, CLD_EINVAL, "unknown flags 0x%x", flags);
		return -1;
	}
	*domid = strdup(op->drv->priv);
	return *domid != NULL ? 0 : -1;
}
#endif

static int
good_stop(struct cld_op *op, const struct cld_vm_desc *vm, unsigned int flags)
{
	return 0;
}

static int
good_poll(struct cld_op *op, const struct cld_vm_desc *vm, unsigned int flags,
    struct cld_vm_poll *out)
{
	out->state = CLD_POLL_RUNNING;
	return 0;
}

#ifdef BROKEN_NOENTRY
#define ENTRY not_the_entry_symbol
#else
#define ENTRY_(f) CLD_DRIVER_ENTRY(f)
#define ENTRY ENTRY_(MODFILE)
#endif

#ifdef OLD_MINOR
/*
 * A module built against an older minor ABI: the fixture for "a driver of
 * the previous minor still loads".  With ABI 1.0 the oldest there is, it
 * claims 1.0 and the size of the 1.0 table; when 1.1 appends members, this
 * fixture keeps today's layout and must still load.
 */
#define TABLE_MINOR 0
#endif

#ifndef TABLE_MINOR
#define TABLE_MINOR CLD_ABI_MINOR
#endif

extern const struct cld_vmm_driver ENTRY;
const struct cld_vmm_driver ENTRY = {
	.hdr = {
#ifdef BROKEN_MAGIC
		.magic = 0xdeadbeefu,
#else
		.magic = CLD_DRIVER_MAGIC,
#endif
#ifdef BROKEN_MAJOR
		.abi_major = CLD_ABI_MAJOR + 1,
#else
		.abi_major = CLD_ABI_MAJOR,
#endif
#ifdef BROKEN_MINOR
		.abi_minor = CLD_ABI_MINOR + 1,
#else
		.abi_minor = TABLE_MINOR,
#endif
#ifdef BROKEN_SIZE
		.size = (uint32_t)sizeof(struct cld_driver) + 8,
#else
		.size = (uint32_t)sizeof(struct cld_vmm_driver),
#endif
#ifdef BROKEN_CLASS
		.klass = CLD_CLASS_IM,
#else
		.klass = CLD_CLASS_VMM,
#endif
		.name = MODNAME,
		.version = "test",
		.init = good_init,
		.fini = good_fini,
	},
#ifndef BROKEN_NOOP
	.deploy = good_deploy,
#endif
	.shutdown = good_stop,
	.destroy = good_stop,
	.poll = good_poll,
};
