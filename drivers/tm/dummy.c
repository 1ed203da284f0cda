/*
 * tm/dummy: transfers that only pretend.
 *
 * Every operation succeeds after its delay (or fails or hangs as
 * configured) and touches no file: for tests and benchmarks of the core's
 * PROLOG and EPILOG.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cloudd/driver.h>

#include "../dummy-common.h"

enum tm_dummy_op {
	TM_DUMMY_CLONE,
	TM_DUMMY_LINK,
	TM_DUMMY_MKIMAGE,
	TM_DUMMY_MKSWAP,
	TM_DUMMY_CONTEXT,
	TM_DUMMY_MV,
	TM_DUMMY_DELETE,
	TM_DUMMY_NOPS
};

static const char *const tm_dummy_ops[TM_DUMMY_NOPS] = {
	"clone", "link", "mkimage", "mkswap", "context", "mv", "delete",
};

struct tm_dummy {
	struct dummy_conf conf;
};

/* The VM is given for context only and may be absent. */
static const char *
tm_dummy_vm_name(const struct cld_vm_desc *vm)
{
	return vm != NULL && vm->name != NULL ? vm->name : "-";
}

static void
tm_dummy_fini(struct cld_drv *drv)
{
	free(drv->priv);
	drv->priv = NULL;
}

static int
tm_dummy_init(struct cld_drv *drv, struct cld_err *err)
{
	struct tm_dummy *td = NULL;
	int rc = -1;

	if ((td = calloc(1, sizeof(*td))) == NULL) {
		cld_err_set(err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	if (dummy_conf_init(&td->conf, drv, "tm", tm_dummy_ops, TM_DUMMY_NOPS,
	    NULL, err) == -1)
		goto cleanup;
	drv->priv = td;
	td = NULL;
	rc = 0;
cleanup:
	free(td);
	return rc;
}

static int
tm_dummy_clone(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *src, const char *host, const char *dst, unsigned int flags)
{
	struct tm_dummy *td = op->drv->priv;

	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "clone '%s' to '%s:%s' for '%s'",
	    src, host, dst, tm_dummy_vm_name(vm));
	return dummy_begin(op, &td->conf, TM_DUMMY_CLONE, flags, 0);
}

static int
tm_dummy_link(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *src, const char *host, const char *dst, unsigned int flags)
{
	struct tm_dummy *td = op->drv->priv;

	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "link '%s' to '%s:%s' for '%s'",
	    src, host, dst, tm_dummy_vm_name(vm));
	return dummy_begin(op, &td->conf, TM_DUMMY_LINK, flags, 0);
}

static int
tm_dummy_mkimage(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *host, const char *dst, uint64_t size_mb, const char *fstype,
    unsigned int flags)
{
	struct tm_dummy *td = op->drv->priv;

	op->drv->svc->log(op->drv, CLD_LOG_DEBUG,
	    "mkimage %llu MiB '%s' at '%s:%s' for '%s'",
	    (unsigned long long)size_mb, fstype, host, dst, tm_dummy_vm_name(vm));
	return dummy_begin(op, &td->conf, TM_DUMMY_MKIMAGE, flags, 0);
}

static int
tm_dummy_mkswap(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *host, const char *dst, uint64_t size_mb, unsigned int flags)
{
	struct tm_dummy *td = op->drv->priv;

	op->drv->svc->log(op->drv, CLD_LOG_DEBUG,
	    "mkswap %llu MiB at '%s:%s' for '%s'", (unsigned long long)size_mb,
	    host, dst, tm_dummy_vm_name(vm));
	return dummy_begin(op, &td->conf, TM_DUMMY_MKSWAP, flags, 0);
}

static int
tm_dummy_context(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *const *files, size_t nfiles, const char *host,
    const char *dst, unsigned int flags)
{
	struct tm_dummy *td = op->drv->priv;

	op->drv->svc->log(op->drv, CLD_LOG_DEBUG,
	    "context of %zu files at '%s:%s' for '%s'", nfiles, host, dst,
	    tm_dummy_vm_name(vm));
	return dummy_begin(op, &td->conf, TM_DUMMY_CONTEXT, flags, 0);
}

static int
tm_dummy_mv(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *src_host, const char *src, const char *dst_host,
    const char *dst, unsigned int flags)
{
	struct tm_dummy *td = op->drv->priv;

	op->drv->svc->log(op->drv, CLD_LOG_DEBUG,
	    "mv '%s:%s' to '%s:%s' for '%s'%s", src_host, src, dst_host, dst,
	    tm_dummy_vm_name(vm), (flags & CLD_TM_MOVE_LIVE) ? " (live)" : "");
	return dummy_begin(op, &td->conf, TM_DUMMY_MV, flags, CLD_TM_MOVE_LIVE);
}

static int
tm_dummy_delete(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *host, const char *path, unsigned int flags)
{
	struct tm_dummy *td = op->drv->priv;

	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "delete '%s:%s' for '%s'", host,
	    path, tm_dummy_vm_name(vm));
	return dummy_begin(op, &td->conf, TM_DUMMY_DELETE, flags, 0);
}

extern const struct cld_tm_driver CLD_DRIVER_ENTRY(tm_dummy);

const struct cld_tm_driver CLD_DRIVER_ENTRY(tm_dummy) = {
	.hdr = CLD_DRIVER_HEADER(CLD_CLASS_TM, struct cld_tm_driver, "dummy",
	    PACKAGE_VERSION, tm_dummy_init, tm_dummy_fini),
	.clone = tm_dummy_clone,
	.link = tm_dummy_link,
	.mkimage = tm_dummy_mkimage,
	.mkswap = tm_dummy_mkswap,
	.context = tm_dummy_context,
	.mv = tm_dummy_mv,
	.delete = tm_dummy_delete,
};
