/*
 * tm/shared: one datastore that every host and the front-end mount (NFS).
 *
 * Nothing is copied over the network.  clone makes a qcow2 overlay whose
 * backing file is the image itself (qemu-img on the host), link a symbolic
 * link to it; mkimage and mkswap make disks in the store; mv between hosts
 * has nothing to move, and neither has a stop or a resume: the files stay
 * where every host sees them.  Images must lie inside the store: the
 * front-end sees it at FRONTEND_DATASTORE, the hosts at DATASTORE, and an
 * image's path on the front-end maps to the hosts' by that prefix.  Every
 * command runs on the VM's host over svc->ssh, so what a clone records is
 * checked where the VM will read it.  See cloudd-tm-shared(7).
 */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cloudd/driver.h>

#include "tm-common.h"

struct tm_shared {
	const char *datastore; /* DATASTORE: the store's path on the hosts */
	const char *frontend;  /* FRONTEND_DATASTORE: its path on the front-end */
};

static void
tm_shared_fini(struct cld_drv *drv)
{
	free(drv->priv);
	drv->priv = NULL;
}

static int
tm_shared_init(struct cld_drv *drv, struct cld_err *err)
{
	struct tm_shared *ts = NULL;
	const char *v;

	if ((ts = calloc(1, sizeof(*ts))) == NULL) {
		cld_err_set(err, CLD_EIO, "out of memory");
		return -1;
	}
	v = drv->svc->conf_get(drv, "DATASTORE");
	ts->datastore = v != NULL ? v : TM_DATASTORE_DEFAULT;
	v = drv->svc->conf_get(drv, "FRONTEND_DATASTORE");
	ts->frontend = v != NULL ? v : ts->datastore;
	if (!tm_path_plain(ts->datastore) || strcmp(ts->datastore, "/") == 0) {
		cld_err_set(err, CLD_ECONFIG,
		    "DATASTORE: '%s' is not an absolute path of letters, digits and ._+-/ (nor /)",
		    ts->datastore);
		free(ts);
		return -1;
	}
	if (!tm_path_plain(ts->frontend) || strcmp(ts->frontend, "/") == 0) {
		cld_err_set(err, CLD_ECONFIG,
		    "FRONTEND_DATASTORE: '%s' is not an absolute path of letters, digits and ._+-/ (nor /)",
		    ts->frontend);
		free(ts);
		return -1;
	}
	drv->priv = ts;
	return 0;
}

/*
 * SRC (a path on the front-end, inside FRONTEND_DATASTORE) as the hosts see
 * it, malloc()ed; or NULL with op->err set.
 */
static char *
shared_map(struct cld_op *op, const char *src)
{
	struct tm_shared *ts = op->drv->priv;
	size_t n;
	char *p;

	if (src != NULL && (strncmp(src, "http://", 7) == 0 ||
	    strncmp(src, "https://", 8) == 0)) {
		cld_err_set(op->err, CLD_ENOTSUP,
		    "the shared transfer driver cannot fetch '%s': put the image in the shared datastore",
		    src);
		return NULL;
	}
	if (!tm_path_plain(src)) {
		cld_err_set(op->err, CLD_EINVAL,
		    "source '%s' is not an absolute path of letters, digits and ._+-/",
		    src ? src : "");
		return NULL;
	}
	if (!tm_path_inside(src, ts->frontend)) {
		cld_err_set(op->err, CLD_EINVAL,
		    "source '%s' is not inside the shared datastore '%s': every host must see it",
		    src, ts->frontend);
		return NULL;
	}
	n = strlen(ts->datastore) + strlen(src + strlen(ts->frontend)) + 1;
	if ((p = malloc(n)) == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		return NULL;
	}
	snprintf(p, n, "%s%s", ts->datastore, src + strlen(ts->frontend));
	return p;
}

static int
tm_shared_clone(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *src, const char *host, const char *dst, unsigned int flags)
{
	/*
	 * The image's format is what qemu-img finds in it (-U: the image may
	 * be in use by other VMs); the overlay records it (-F) so that
	 * nothing probes a raw backing file later.
	 */
	static const char script[] =
	    "set -e\n"
	    "p=\"$2.part\"\n"
	    "fmt=$(qemu-img info -U -- \"$1\" | sed -n 's/^file format: //p')\n"
	    "[ -n \"$fmt\" ] || { echo \"cannot tell the format of '$1'\" >&2; exit 1; }\n"
	    "mkdir -p -- \"${2%/*}\"\n"
	    "rm -f -- \"$p\"\n"
	    "trap 'rm -f -- \"$p\"' EXIT\n"
	    "qemu-img create -q -f qcow2 -b \"$1\" -F \"$fmt\" -- \"$p\" >/dev/null\n"
	    "mv -f -- \"$p\" \"$2\"\n"
	    "trap - EXIT\n";
	struct tm_shared *ts = op->drv->priv;
	const char *args[3] = { NULL, dst, NULL };
	char *hsrc = NULL;
	int rc = -1;

	if (tm_check_flags(op, flags, 0) < 0 ||
	    (hsrc = shared_map(op, src)) == NULL ||
	    tm_check_host_path(op, ts->datastore, host, dst, "clone") < 0)
		goto cleanup;
	op->drv->svc->log(op->drv, CLD_LOG_DEBUG,
	    "clone '%s' to '%s:%s' (overlay of '%s') for '%s'", src, host, dst,
	    hsrc, tm_vm_name(vm));
	args[0] = hsrc;
	rc = tm_host_sh(op, host, dst, script, args);
cleanup:
	free(hsrc);
	return rc;
}

static int
tm_shared_link(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *src, const char *host, const char *dst, unsigned int flags)
{
	static const char script[] =
	    "set -e\n"
	    "[ -e \"$1\" ] || { echo \"'$1' is not there\" >&2; exit 1; }\n"
	    "mkdir -p -- \"${2%/*}\"\n"
	    "ln -sfn -- \"$1\" \"$2\"\n";
	struct tm_shared *ts = op->drv->priv;
	const char *args[3] = { NULL, dst, NULL };
	char *hsrc = NULL;
	int rc = -1;

	if (tm_check_flags(op, flags, 0) < 0 ||
	    (hsrc = shared_map(op, src)) == NULL ||
	    tm_check_host_path(op, ts->datastore, host, dst, "link") < 0)
		goto cleanup;
	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "link '%s' to '%s:%s' for '%s'",
	    src, host, dst, tm_vm_name(vm));
	args[0] = hsrc;
	rc = tm_host_sh(op, host, dst, script, args);
cleanup:
	free(hsrc);
	return rc;
}

static int
tm_shared_mkimage(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *host, const char *dst, uint64_t size_mb, const char *fstype,
    unsigned int flags)
{
	struct tm_shared *ts = op->drv->priv;

	return tm_mkimage(op, vm, ts->datastore, host, dst, size_mb, fstype,
	    flags, 1);
}

static int
tm_shared_mkswap(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *host, const char *dst, uint64_t size_mb, unsigned int flags)
{
	struct tm_shared *ts = op->drv->priv;

	return tm_mkswap(op, vm, ts->datastore, host, dst, size_mb, flags, 1);
}

/*
 * Every host sees the same files: between hosts at one path there is
 * nothing to move; at another path it is a rename in the store.  To and
 * from the front-end (stop, resume) the files stay in the store, where any
 * host the VM resumes on sees them.
 */
static int
tm_shared_mv(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *src_host, const char *src, const char *dst_host,
    const char *dst, unsigned int flags)
{
	static const char script[] =
	    "set -e\n"
	    "if [ -e \"$1\" ]; then mkdir -p -- \"${2%/*}\"; rm -rf -- \"$2\";"
	    " mv -f -- \"$1\" \"$2\"; elif [ ! -e \"$2\" ]; then"
	    " echo \"'$1' is not there\" >&2; exit 1; fi\n";
	struct tm_shared *ts = op->drv->priv;
	const char *args[3] = { src, dst, NULL };

	if (tm_check_flags(op, flags, CLD_TM_MOVE_LIVE) < 0)
		return -1;
	if (src_host == NULL || dst_host == NULL || strcmp(src, dst) == 0) {
		op->drv->svc->log(op->drv, CLD_LOG_DEBUG,
		    "mv '%s:%s' to '%s:%s' for '%s': shared, nothing to move",
		    src_host ? src_host : "front-end", src,
		    dst_host ? dst_host : "front-end", dst, tm_vm_name(vm));
		return 0;
	}
	if (tm_check_host_path(op, ts->datastore, src_host, src, "mv") < 0 ||
	    tm_check_host_path(op, ts->datastore, dst_host, dst, "mv") < 0)
		return -1;
	return tm_host_sh(op, dst_host, dst, script, args);
}

static int
tm_shared_delete(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *host, const char *path, unsigned int flags)
{
	struct tm_shared *ts = op->drv->priv;

	if (tm_check_flags(op, flags, 0) < 0 ||
	    tm_check_host_path(op, ts->datastore, host, path, "delete") < 0)
		return -1;
	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "delete '%s:%s' for '%s'",
	    host, path, tm_vm_name(vm));
	return tm_host_rm(op, host, path);
}

extern const struct cld_tm_driver CLD_DRIVER_ENTRY(tm_shared);

const struct cld_tm_driver CLD_DRIVER_ENTRY(tm_shared) = {
	.hdr = CLD_DRIVER_HEADER(CLD_CLASS_TM, struct cld_tm_driver, "shared",
	    PACKAGE_VERSION, tm_shared_init, tm_shared_fini),
	.clone = tm_shared_clone,
	.link = tm_shared_link,
	.mkimage = tm_shared_mkimage,
	.mkswap = tm_shared_mkswap,
	.mv = tm_shared_mv,
	.delete = tm_shared_delete,
};
