/*
 * The driver loader: every ABI check refuses its broken module with its own
 * message naming the file, and the loader carries on with the others.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader.h"
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

/* Loading MODULE must fail with a message naming its file and holding WANT. */
static void
refused(const char *module, const char *want)
{
	struct cld_err err;
	struct cld_driver_inst *i;
	char file[128];

	cld_err_clear(&err);
	i = cld_loader_load(l, CLD_CLASS_VMM, module, NULL, block(), &err);
	snprintf(file, sizeof(file), "vmm_%s", module);
	ok(i == NULL, "'%s' is refused", module);
	ok(strstr(err.msg, want) != NULL, "'%s': the reason says '%s'", module,
	    want);
	if (strstr(err.msg, want) == NULL)
		diag("message: %s", err.msg);
	ok(strstr(err.msg, file) != NULL && strchr(err.msg, '\n') == NULL,
	    "'%s': one line naming the file", module);
	is_int(err.code, strcmp(module, "nosuch") == 0 ? CLD_ENOENT : CLD_EABI,
	    "'%s': error code", module);
}

int
main(void)
{
	const char *builddir = getenv("top_builddir");
	char *mods = NULL, *tmpdir = NULL, *garbage = NULL;
	const char *dirs[3] = { NULL, NULL, NULL };
	static const char text[] =
	    "VMM_DRIVER = [ NAME = \"good\", GREETING = \"hello from conf\" ]\n";
	struct cld_driver_inst *good, *old, *again;
	struct cld_err err;
	char tmpl[] = "/tmp/cld-loader-XXXXXX";
	FILE *f;

	cld_err_clear(&err);
	mods = cld_xasprintf("%s/t/modules", builddir ? builddir : ".");
	tmpdir = mkdtemp(tmpl);
	if (tmpdir == NULL)
		skip_all("cannot make a temporary directory");
	garbage = cld_xasprintf("%s/vmm_garbage.so", tmpdir);
	f = fopen(garbage, "w");
	fputs("this is not an ELF file\n", f);
	fclose(f);
	if (cld_tmpl_parse(text, strlen(text), &conf, &err) < 0) {
		diag("%s", err.msg);
		return 1;
	}

	setenv("CLOUDD_DRIVER_PATH", "/nonexistent/env-a:/nonexistent/env-b", 1);
	dirs[0] = tmpdir;
	dirs[1] = mods;
	l = cld_loader_new(dirs, &err);
	ok(l != NULL, "a loader starts");
	{
		char *want = cld_xasprintf("%s, %s, /nonexistent/env-a, "
		    "/nonexistent/env-b, %s", tmpdir, mods, CLD_DRIVERDIR);

		is_str(cld_loader_search_path(l), want,
		    "search order: cloudd.conf, then CLOUDD_DRIVER_PATH, then the built-in directory");
		free(want);
	}

	/* Each check in its order. */
	refused("nosuch", "vmm driver 'nosuch' not found: no vmm_nosuch.la or vmm_nosuch.so in ");
	refused("garbage", "cannot load");
	refused("noentry", "no entry symbol 'vmm_noentry_LTX_cld_driver'");
	refused("badmagic", "bad magic 0xdeadbeef, expected 0x434c4444 (not a cloudd driver)");
	refused("major", "built for driver ABI 2.1, this cloudd speaks ABI 1.1: rebuild the driver");
	refused("minor", "built for driver ABI 1.2, newer than this cloudd's 1.1: upgrade cloudd");
	{
		char want[160];

		snprintf(want, sizeof(want),
		    "table size %zu is smaller than a vmm table of ABI 1.1 (%zu bytes)",
		    sizeof(struct cld_driver) + 8, sizeof(struct cld_vmm_driver));
		refused("short", want);
	}
	refused("wrongclass", "is a driver of class 'im', expected 'vmm'");
	refused("wrongname", "is named 'othername', expected 'wrongname'");
	refused("noop", "required operation 'deploy' is missing");
	refused("initfail", "init of vmm driver 'initfail' failed: OPTION 'X' is required");

	/* Names that would escape the search path never reach the file system. */
	cld_err_clear(&err);
	ok(cld_loader_load(l, CLD_CLASS_VMM, "../modules/vmm_good", NULL,
	    block(), &err) == NULL && strstr(err.msg, "invalid vmm module name") != NULL,
	    "a module name with '/' is refused: %s", err.msg);

	/* After all that, good modules still load. */
	cld_err_clear(&err);
	good = cld_loader_load(l, CLD_CLASS_VMM, "good", NULL, block(), &err);
	ok(good != NULL, "the loader carries on: 'good' loads (%s)", err.msg);
	if (good != NULL) {
		char *domid = NULL;
		struct cld_op op;

		memset(&op, 0, sizeof(op));
		op.drv = &good->drv;
		op.err = &err;
		is_str(good->drv.name, "good", "instance name defaults to the module");
		is_str(good->path + strlen(good->path) - strlen("vmm_good.so"),
		    "vmm_good.so", "its path is the file loaded");
		ok(cld_inst_vmm(good)->deploy(&op, NULL, 0, &domid) == 0 &&
		    domid != NULL && strcmp(domid, "hello from conf") == 0,
		    "init saw its own block through svc->conf_get");
		free(domid);
		ok(cld_inst_vmm(good)->reboot == NULL,
		    "an optional operation the driver left out reads as NULL");
		ok(cld_loader_find(l, CLD_CLASS_VMM, "good") == good,
		    "the instance is found by class and name");
		ok(cld_loader_find(l, CLD_CLASS_IM, "good") == NULL,
		    "and not under another class");
	}
	cld_err_clear(&err);
	again = cld_loader_load(l, CLD_CLASS_VMM, "good", NULL, block(), &err);
	ok(again == NULL && strstr(err.msg, "vmm driver 'good' is declared twice"),
	    "one instance name per class: %s", err.msg);
	cld_err_clear(&err);
	again = cld_loader_load(l, CLD_CLASS_VMM, "good", "good-2", block(), &err);
	ok(again != NULL && again != good,
	    "a second instance of one module under another name loads");

	/* ABI compatibility: a driver of the previous (oldest) minor still loads. */
	cld_err_clear(&err);
	old = cld_loader_load(l, CLD_CLASS_VMM, "oldminor", NULL, block(), &err);
	ok(old != NULL, "a driver built for ABI %d.0 loads (%s)", CLD_ABI_MAJOR,
	    err.msg);

	{
		int n = 0;

		for (struct cld_driver_inst *i = cld_loader_first(l); i; i = i->next)
			n++;
		is_int(n, 3, "only the accepted instances are kept");
	}

	cld_loader_free(l);
	cld_loader_free(NULL);
	cld_tmpl_release(&conf);
	unlink(garbage);
	rmdir(tmpdir);
	free(garbage);
	free(mods);
	return done_testing();
}
