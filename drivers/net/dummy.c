/*
 * net/dummy: networking that only pretends.
 *
 * Every operation succeeds after its delay (or fails or hangs as
 * configured) and changes nothing on any host: for tests and benchmarks of
 * the core's lease pipeline.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>

#include <cloudd/driver.h>

#include "../dummy-common.h"

enum net_dummy_op {
	NET_DUMMY_PRE,
	NET_DUMMY_POST,
	NET_DUMMY_CLEAN,
	NET_DUMMY_NOPS
};

static const char *const net_dummy_ops[NET_DUMMY_NOPS] = {
	"pre", "post", "clean",
};

struct net_dummy {
	struct dummy_conf conf;
};

static void
net_dummy_fini(struct cld_drv *drv)
{
	free(drv->priv);
	drv->priv = NULL;
}

static int
net_dummy_init(struct cld_drv *drv, struct cld_err *err)
{
	struct net_dummy *nd = NULL;
	int rc = -1;

	if ((nd = calloc(1, sizeof(*nd))) == NULL) {
		cld_err_set(err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	if (dummy_conf_init(&nd->conf, drv, "net", net_dummy_ops, NET_DUMMY_NOPS,
	    NULL, err) == -1)
		goto cleanup;
	drv->priv = nd;
	nd = NULL;
	rc = 0;
cleanup:
	free(nd);
	return rc;
}

/* Pre, post and clean differ only in their names. */
static int
net_dummy_op(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags, int opi)
{
	struct net_dummy *nd = op->drv->priv;

	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "%s '%s' on '%s'",
	    net_dummy_ops[opi], vm->name, vm->host);
	return dummy_begin(op, &nd->conf, opi, flags, 0);
}

static int
net_dummy_pre(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	return net_dummy_op(op, vm, flags, NET_DUMMY_PRE);
}

static int
net_dummy_post(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	return net_dummy_op(op, vm, flags, NET_DUMMY_POST);
}

static int
net_dummy_clean(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	return net_dummy_op(op, vm, flags, NET_DUMMY_CLEAN);
}

extern const struct cld_net_driver CLD_DRIVER_ENTRY(net_dummy);

const struct cld_net_driver CLD_DRIVER_ENTRY(net_dummy) = {
	.hdr = CLD_DRIVER_HEADER(CLD_CLASS_NET, struct cld_net_driver, "dummy",
	    PACKAGE_VERSION, net_dummy_init, net_dummy_fini),
	.pre = net_dummy_pre,
	.post = net_dummy_post,
	.clean = net_dummy_clean,
};
