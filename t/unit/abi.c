/*
 * ABI compatibility: a driver built against the SDK headers of ABI 1.0
 * (t/abi/1.0, frozen as they were) loads into this core and works through
 * every service of 1.0; one claiming another major, or a minor newer than
 * this core's, is refused with the loader's message.  The messages expected
 * are made from this core's CLD_ABI_MAJOR and CLD_ABI_MINOR, so the test
 * holds at every later 1.x.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "services.h"
#include "tap.h"
#include "template.h"
#include "util.h"

static struct cld_loader *l;
static struct cld_tmpl conf;

static const struct cld_attr *
block(void)
{
	return cld_tmpl_next_vector(&conf, "VMM_DRIVER", NULL);
}

/* Loading MODULE (WHAT) must fail with exactly WANT after the file's name. */
static void
refused(const char *module, const char *what, const char *want)
{
	struct cld_err err;
	char file[64];

	cld_err_clear(&err);
	snprintf(file, sizeof(file), "vmm_%s.so': ", module);
	ok(cld_loader_load(l, CLD_CLASS_VMM, module, NULL, block(), &err) == NULL,
	    "a driver claiming %s (vmm_%s) is refused", what, module);
	ok(strstr(err.msg, file) != NULL && strstr(err.msg, want) != NULL &&
	    strcmp(strstr(err.msg, file) + strlen(file), want) == 0,
	    "'%s': the loader says why: %s", module, want);
	if (strstr(err.msg, want) == NULL)
		diag("message: %s", err.msg);
	is_int(err.code, CLD_EABI, "'%s': the error is an ABI refusal", module);
}

int
main(void)
{
	const char *builddir = getenv("top_builddir");
	static const char text[] =
	    "VMM_DRIVER = [ NAME = \"abi10\", GREETING = \"hello\" ]\n";
	const char *dirs[2] = { NULL, NULL };
	struct cld_driver_inst *i;
	struct cld_err err;
	char *mods, want[256];

	cld_err_clear(&err);
	mods = cld_xasprintf("%s/t/abi", builddir ? builddir : ".");
	if (cld_tmpl_parse(text, strlen(text), &conf, &err) < 0) {
		diag("%s", err.msg);
		return 1;
	}
	dirs[0] = mods;
	unsetenv("CLOUDD_DRIVER_PATH");
	l = cld_loader_new(dirs, &err);
	ok(l != NULL, "a loader starts");
	if (l == NULL)
		return done_testing();
	diag("this core speaks driver ABI %d.%d", CLD_ABI_MAJOR, CLD_ABI_MINOR);

	/* The driver of the previous minor ABI. */
	cld_err_clear(&err);
	i = cld_loader_load(l, CLD_CLASS_VMM, "abi10", NULL, block(), &err);
	ok(i != NULL, "a driver built against the ABI 1.0 headers loads (%s)",
	    i != NULL ? "no error" : err.msg);
	if (i != NULL) {
		const struct cld_vmm_driver *t = cld_inst_vmm(i);
		struct cld_vm_desc vm;
		struct cld_vm_poll poll;
		struct cld_op op;
		struct cld_op_ctl ctl;
		char *domid = NULL;
		int zero = 1;

		is_int(i->table->abi_major, 1, "it says ABI major 1");
		is_int(i->table->abi_minor, 0, "it says ABI minor 0");
		ok(i->table_size <= sizeof(struct cld_vmm_driver),
		    "its table (%u bytes) is no bigger than this core's (%zu)",
		    i->table_size, sizeof(struct cld_vmm_driver));
		/* What it does not know of reads as NULL: "not supported". */
		for (size_t b = i->table_size; b < sizeof(i->copy.vmm); b++)
			if (((const unsigned char *)&i->copy)[b] != 0)
				zero = 0;
		ok(zero, "members past its table read as NULL");
		ok(t->reboot == NULL && t->migrate == NULL,
		    "the optional operations it left out read as NULL");

		memset(&vm, 0, sizeof(vm));
		vm.size = sizeof(vm);
		vm.id = 7;
		vm.name = "cld-7";
		vm.host = "node1";
		vm.cpu = 0.5;
		vm.memory_mb = 512;
		cld_op_setup(&op, &i->drv, &ctl, &err, 10000);
		ok(t->deploy(&op, &vm, 0, &domid) == 0,
		    "its deploy runs a program through svc->run (%s)",
		    err.msg[0] ? err.msg : "no error");
		is_str(domid, "hello:cld-7:'it'\\''s'",
		    "it saw its block (conf_get), the program's output (run) and the quoting (shell_quote)");
		is_int(atomic_load(&ctl.percent), 100,
		    "its progress report reached the core");
		free(domid);
		domid = NULL;
		cld_op_ctl_release(&ctl);

		cld_op_setup(&op, &i->drv, &ctl, &err, 10000);
		ok(t->deploy(&op, &vm, 1u << 31, &domid) == -1 &&
		    err.code == CLD_EINVAL && domid == NULL,
		    "it refuses a flag it does not know: %s", err.msg);
		cld_op_ctl_release(&ctl);

		cld_op_setup(&op, &i->drv, &ctl, &err, 10000);
		cld_op_cancel(&ctl);
		ok(t->deploy(&op, &vm, 0, &domid) == -1 &&
		    err.code == CLD_ECANCELED && domid == NULL,
		    "it sees the core's cancel flag: %s", err.msg);
		cld_op_ctl_release(&ctl);

		memset(&poll, 0, sizeof(poll));
		poll.size = sizeof(poll);
		cld_op_setup(&op, &i->drv, &ctl, &err, 10000);
		ok(t->poll(&op, &vm, 0, &poll) == 0 &&
		    poll.state == CLD_POLL_RUNNING && poll.memory_kb == 524288 &&
		    poll.cpu == 50, "its poll fills the core's struct cld_vm_poll");
		ok(t->shutdown(&op, &vm, 0) == 0 && t->destroy(&op, &vm, 0) == 0,
		    "its shutdown and destroy run");
		cld_op_ctl_release(&ctl);
	}

	/* Another major, and a minor newer than this core's. */
	snprintf(want, sizeof(want),
	    "built for driver ABI %d.0, this cloudd speaks ABI %d.%d: rebuild the driver",
	    2, CLD_ABI_MAJOR, CLD_ABI_MINOR);
	refused("abimajor", "another major", want);
	snprintf(want, sizeof(want),
	    "built for driver ABI %d.%d, newer than this cloudd's %d.%d: upgrade cloudd",
	    CLD_ABI_MAJOR, CLD_ABI_MINOR + 1, CLD_ABI_MAJOR, CLD_ABI_MINOR);
	refused("abinewer", "a newer minor", want);

	cld_loader_free(l);
	cld_tmpl_release(&conf);
	free(mods);
	return done_testing();
}
