/*
 * net-run: one operation of net/bridge, linked in, with the core's real
 * services (svc->ssh), on a VM whose template is read from a file, for the
 * net tests on the testbed.
 *
 *   net-run [-F ssh_config] [-c control_dir] [-T deadline_ms] [-i vm_id]
 *           pre|post|clean HOST TEMPLATE
 *
 * The VM is "cld-<vm_id>" (default 1).  Prints "ok" and the lines the
 * driver logged, or "net-run: ECODE: message" with status 1.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cloudd/attr.h>
#include <cloudd/driver.h>

#include "loader.h"
#include "services.h"
#include "template.h"
#include "util.h"

extern const struct cld_net_driver CLD_DRIVER_ENTRY(net_bridge);

static const char *const code_names[] = {
	"OK", "EINVAL", "ENOENT", "EEXIST", "ENOTSUP", "ETIMEDOUT", "ECANCELED",
	"EDRIVER", "EIO", "ESTORE", "ECONFIG", "EABI", "EPERM", "EBUSY", "ENOSPC",
};

int
main(int argc, char **argv)
{
	const struct cld_net_driver *net = &CLD_DRIVER_ENTRY(net_bridge);
	struct cld_ssh_conf sc = { "ssh", NULL, 10, NULL, 0 };
	static struct cld_driver_inst inst;
	struct cld_attr conf;
	struct cld_tmpl tmpl;
	struct cld_vm_desc vm;
	struct cld_op_ctl ctl;
	struct cld_op op;
	struct cld_err err;
	int64_t deadline = 0, id = 1;
	int ch, rc = -1;
	char name[32];
	const char *o;

	while ((ch = getopt(argc, argv, "+F:c:T:i:")) != -1) {
		switch (ch) {
		case 'F':
			sc.config = optarg;
			break;
		case 'c':
			sc.control_dir = optarg;
			sc.control_persist = 60;
			break;
		case 'T':
			deadline = atoll(optarg);
			break;
		case 'i':
			id = atoll(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 3)
		goto usage;
	o = argv[optind];
	if (strcmp(o, "pre") != 0 && strcmp(o, "post") != 0 &&
	    strcmp(o, "clean") != 0)
		goto usage;
	cld_err_clear(&err);
	if (sc.control_dir != NULL &&
	    cld_ssh_control_dir_make(sc.control_dir, &err) < 0) {
		fprintf(stderr, "net-run: %s\n", err.msg);
		return 1;
	}
	memset(&tmpl, 0, sizeof(tmpl));
	if (cld_tmpl_parse_file(argv[optind + 2], &tmpl, &err) < 0) {
		fprintf(stderr, "net-run: %s\n", err.msg);
		return 1;
	}
	cld_services_set_ssh(&sc);
	memset(&conf, 0, sizeof(conf));
	conf.name = (char *)"NET_DRIVER";
	inst.drv.svc = &cld_services;
	inst.drv.name = net->hdr.name;
	inst.drv.module = net->hdr.name;
	inst.drv.conf = &conf;
	inst.klass = CLD_CLASS_NET;
	snprintf(name, sizeof(name), "cld-%" PRId64, id);
	memset(&vm, 0, sizeof(vm));
	vm.size = sizeof(vm);
	vm.id = id;
	vm.name = name;
	vm.host = argv[optind + 1];
	vm.tmpl = &tmpl;
	cld_op_setup(&op, &inst.drv, &ctl, &err, deadline);
	if (strcmp(o, "pre") == 0)
		rc = net->pre(&op, &vm, 0);
	else if (strcmp(o, "post") == 0)
		rc = net->post(&op, &vm, 0);
	else
		rc = net->clean(&op, &vm, 0);
	if (rc == 0)
		printf("ok\n");
	else
		fprintf(stderr, "net-run: %s: %s\n",
		    err.code >= 0 && (size_t)err.code < CLD_ARRAY_SIZE(code_names) ?
		    code_names[err.code] : "?", err.msg);
	cld_op_ctl_release(&ctl);
	cld_tmpl_release(&tmpl);
	return rc < 0 ? 1 : 0;
usage:
	fprintf(stderr, "usage: net-run [-F ssh_config] [-c control_dir] "
	    "[-T deadline_ms] [-i vm_id] pre|post|clean HOST TEMPLATE\n");
	return 2;
}
