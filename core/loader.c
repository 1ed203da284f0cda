/*
 * The driver loader: the only file that includes <ltdl.h>.
 *
 * Checks, in order (include/cloudd/driver.h): entry symbol, magic, ABI
 * major and minor, table size, class and name, required operations, init.
 * Each refusal is one message naming the file and the reason; the caller
 * logs it and carries on with its other drivers.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ltdl.h>

#include "loader.h"
#include "log.h"
#include "services.h"
#include "util.h"

struct cld_loader {
	char **dirs;                   /* the search path, in order */
	size_t ndirs;
	char *search_path;             /* dirs joined, for messages */
	struct cld_driver_inst *first; /* instances, in load order */
	struct cld_driver_inst *last;
};

struct op_info {
	const char *name;
	size_t offset;
};

/*
 * What the core knows of each class: its name, the size of its table at
 * each ABI minor (a module built against minor N must be at least that
 * big), and its required operations.
 */
struct class_info {
	int klass;
	const char *name;
	size_t size_at_minor[CLD_ABI_MINOR + 1];
	struct op_info required[5];
};

#define REQ(type, op) { #op, offsetof(struct type, op) }

/* 1.1 added a service (ssh_options), not an operation: same sizes. */
static const struct class_info classes[] = {
	{ CLD_CLASS_VMM, "vmm", { sizeof(struct cld_vmm_driver),
	    sizeof(struct cld_vmm_driver) },
	  { REQ(cld_vmm_driver, deploy), REQ(cld_vmm_driver, shutdown),
	    REQ(cld_vmm_driver, destroy), REQ(cld_vmm_driver, poll) } },
	{ CLD_CLASS_IM, "im", { sizeof(struct cld_im_driver),
	    sizeof(struct cld_im_driver) },
	  { REQ(cld_im_driver, monitor) } },
	{ CLD_CLASS_TM, "tm", { sizeof(struct cld_tm_driver),
	    sizeof(struct cld_tm_driver) },
	  { REQ(cld_tm_driver, clone), REQ(cld_tm_driver, delete) } },
	{ CLD_CLASS_NET, "net", { sizeof(struct cld_net_driver),
	    sizeof(struct cld_net_driver) },
	  { REQ(cld_net_driver, pre), REQ(cld_net_driver, clean) } },
};

static const struct class_info *
class_info(int klass)
{
	for (size_t i = 0; i < CLD_ARRAY_SIZE(classes); i++)
		if (classes[i].klass == klass)
			return &classes[i];
	return NULL;
}

const char *
cld_class_name(int klass)
{
	const struct class_info *ci = class_info(klass);

	return ci != NULL ? ci->name : "?";
}

int
cld_class_from_name(const char *name)
{
	for (size_t i = 0; i < CLD_ARRAY_SIZE(classes); i++)
		if (strcasecmp(classes[i].name, name) == 0)
			return classes[i].klass;
	return 0;
}

int
cld_drv_class(const struct cld_drv *drv)
{
	/* drv is the first member of its instance. */
	return ((const struct cld_driver_inst *)(const void *)drv)->klass;
}

static void
add_dir(struct cld_loader *l, const char *dir)
{
	if (dir == NULL || *dir == '\0')
		return;
	for (size_t i = 0; i < l->ndirs; i++)
		if (strcmp(l->dirs[i], dir) == 0)
			return;
	l->dirs = cld_xrealloc(l->dirs, (l->ndirs + 1) * sizeof(*l->dirs));
	l->dirs[l->ndirs++] = cld_xstrdup(dir);
}

struct cld_loader *
cld_loader_new(const char *const *dirs, struct cld_err *err)
{
	struct cld_loader *l = NULL;
	const char *env = getenv("CLOUDD_DRIVER_PATH");
	size_t len = 1;

	if (lt_dlinit() != 0) {
		cld_err_set(err, CLD_EABI, "cannot start libltdl: %s",
		    lt_dlerror());
		return NULL;
	}
	l = cld_xcalloc(1, sizeof(*l));
	for (size_t i = 0; dirs != NULL && dirs[i] != NULL; i++)
		add_dir(l, dirs[i]);
	if (env != NULL) {
		char *copy = cld_xstrdup(env), *save = NULL, *d;

		for (d = strtok_r(copy, ":", &save); d != NULL;
		    d = strtok_r(NULL, ":", &save))
			add_dir(l, d);
		free(copy);
	}
	add_dir(l, CLD_DRIVERDIR);
	for (size_t i = 0; i < l->ndirs; i++)
		len += strlen(l->dirs[i]) + 2;
	l->search_path = cld_xcalloc(1, len);
	for (size_t i = 0, off = 0; i < l->ndirs; i++) {
		size_t n = strlen(l->dirs[i]);

		if (i > 0) {
			memcpy(l->search_path + off, ", ", 2);
			off += 2;
		}
		memcpy(l->search_path + off, l->dirs[i], n);
		off += n;
	}
	return l;
}

const char *
cld_loader_search_path(struct cld_loader *l)
{
	return l->search_path;
}

struct cld_driver_inst *
cld_loader_first(struct cld_loader *l)
{
	return l->first;
}

struct cld_driver_inst *
cld_loader_find(struct cld_loader *l, int klass, const char *name)
{
	for (struct cld_driver_inst *i = l->first; i != NULL; i = i->next)
		if (i->klass == klass && strcmp(i->name, name) == 0)
			return i;
	return NULL;
}

/* A module name becomes part of a file name: letters, digits, '_' and '-'. */
static int
module_name_valid(const char *m)
{
	if (m == NULL || *m == '\0' || strlen(m) > 64)
		return 0;
	for (; *m != '\0'; m++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_-", *m) == NULL)
			return 0;
	return 1;
}

/*
 * Find FILE ("vmm_dummy") in the search path: the first directory holding
 * FILE.la or FILE.so.  Returns the path without extension (libltdl adds it),
 * malloc()ed, or NULL.
 */
static char *
find_module(struct cld_loader *l, const char *file)
{
	static const char *const exts[] = { ".la", ".so" };

	for (size_t i = 0; i < l->ndirs; i++) {
		for (size_t e = 0; e < CLD_ARRAY_SIZE(exts); e++) {
			char *p = cld_xasprintf("%s/%s%s", l->dirs[i], file,
			    exts[e]);
			int found = access(p, F_OK) == 0;

			free(p);
			if (found)
				return cld_xasprintf("%s/%s", l->dirs[i], file);
		}
	}
	return NULL;
}

/* Checks 2 to 6 of the table at T, from module PATH. */
static int
check_table(const struct cld_driver *t, const struct class_info *ci,
    const char *module, const char *path, struct cld_err *err)
{
	const struct class_info *actual;

	if (t->magic != CLD_DRIVER_MAGIC) {
		cld_err_set(err, CLD_EABI,
		    "'%s': bad magic 0x%08x, expected 0x%08x (not a cloudd driver)",
		    path, (unsigned)t->magic, CLD_DRIVER_MAGIC);
		return -1;
	}
	if (t->abi_major != CLD_ABI_MAJOR) {
		cld_err_set(err, CLD_EABI,
		    "'%s': built for driver ABI %u.%u, this cloudd speaks ABI %d.%d: rebuild the driver",
		    path, t->abi_major, t->abi_minor, CLD_ABI_MAJOR,
		    CLD_ABI_MINOR);
		return -1;
	}
	if (t->abi_minor > CLD_ABI_MINOR) {
		cld_err_set(err, CLD_EABI,
		    "'%s': built for driver ABI %u.%u, newer than this cloudd's %d.%d: upgrade cloudd",
		    path, t->abi_major, t->abi_minor, CLD_ABI_MAJOR,
		    CLD_ABI_MINOR);
		return -1;
	}
	if (t->size < sizeof(struct cld_driver) ||
	    t->size < ci->size_at_minor[t->abi_minor]) {
		cld_err_set(err, CLD_EABI,
		    "'%s': table size %u is smaller than a %s table of ABI %u.%u (%zu bytes)",
		    path, (unsigned)t->size, ci->name, t->abi_major,
		    t->abi_minor, ci->size_at_minor[t->abi_minor]);
		return -1;
	}
	if ((int)t->klass != ci->klass) {
		actual = class_info((int)t->klass);
		cld_err_set(err, CLD_EABI, "'%s': is a driver of class '%s', expected '%s'",
		    path, actual != NULL ? actual->name : "unknown-class",
		    ci->name);
		return -1;
	}
	if (t->name == NULL || strcmp(t->name, module) != 0) {
		cld_err_set(err, CLD_EABI, "'%s': is named '%s', expected '%s'",
		    path, t->name != NULL ? t->name : "", module);
		return -1;
	}
	for (size_t i = 0; i < CLD_ARRAY_SIZE(ci->required) &&
	    ci->required[i].name != NULL; i++) {
		void *fn = NULL;

		memcpy(&fn, (const char *)t + ci->required[i].offset,
		    sizeof(fn));
		if (fn == NULL) {
			cld_err_set(err, CLD_EABI,
			    "'%s': required operation '%s' is missing", path,
			    ci->required[i].name);
			return -1;
		}
	}
	return 0;
}

struct cld_driver_inst *
cld_loader_load(struct cld_loader *l, int klass, const char *module,
    const char *name, const struct cld_attr *conf, struct cld_err *err)
{
	const struct class_info *ci = class_info(klass);
	struct cld_driver_inst *inst = NULL;
	const struct cld_driver *t = NULL;
	lt_dladvise advise = NULL;
	lt_dlhandle h = NULL;
	char *file = NULL, *base = NULL, *path = NULL;
	size_t copy_size;

	if (ci == NULL) {
		cld_err_set(err, CLD_ECONFIG, "unknown driver class %d", klass);
		goto cleanup;
	}
	if (!module_name_valid(module)) {
		cld_err_set(err, CLD_ECONFIG,
		    "invalid %s module name '%s': letters, digits, '_' and '-' only",
		    ci->name, module ? module : "");
		goto cleanup;
	}
	if (name == NULL || *name == '\0')
		name = module;
	if (cld_loader_find(l, klass, name) != NULL) {
		cld_err_set(err, CLD_ECONFIG,
		    "%s driver '%s' is declared twice", ci->name, name);
		goto cleanup;
	}
	file = cld_xasprintf("%s_%s", ci->name, module);
	base = find_module(l, file);
	if (base == NULL) {
		cld_err_set(err, CLD_ENOENT,
		    "%s driver '%s' not found: no %s.la or %s.so in %s",
		    ci->name, module, file, file, l->search_path);
		goto cleanup;
	}
	if (lt_dladvise_init(&advise) != 0 || lt_dladvise_ext(&advise) != 0 ||
	    lt_dladvise_local(&advise) != 0) {
		cld_err_set(err, CLD_EABI, "cannot prepare libltdl: %s",
		    lt_dlerror());
		goto cleanup;
	}
	h = lt_dlopenadvise(base, advise);
	if (h == NULL) {
		cld_err_set(err, CLD_EABI, "'%s': cannot load: %s", base,
		    lt_dlerror());
		goto cleanup;
	}
	{
		const lt_dlinfo *info = lt_dlgetinfo(h);

		path = cld_xstrdup(info != NULL && info->filename != NULL ?
		    info->filename : base);
	}
	/* 1. the entry symbol: libltdl tries "<file>_LTX_cld_driver" first. */
	t = lt_dlsym(h, "cld_driver");
	if (t == NULL) {
		cld_err_set(err, CLD_EABI,
		    "'%s': no entry symbol '%s_LTX_cld_driver' (not a cloudd driver, or built under another file name)",
		    path, file);
		goto cleanup;
	}
	/* 2 to 6. */
	if (check_table(t, ci, module, path, err) < 0)
		goto cleanup;

	inst = cld_xcalloc(1, sizeof(*inst));
	copy_size = t->size < sizeof(inst->copy) ? t->size : sizeof(inst->copy);
	memcpy(&inst->copy, t, copy_size);
	inst->table = &inst->copy.hdr;
	inst->table_size = t->size;
	inst->klass = klass;
	inst->path = path;
	path = NULL;
	inst->name = cld_xstrdup(name);
	inst->module = cld_xstrdup(module);
	inst->drv.svc = &cld_services;
	inst->drv.name = inst->name;
	inst->drv.module = inst->module;
	inst->drv.conf = conf;
	/* 7. init. */
	if (inst->table->init != NULL) {
		struct cld_err ierr;

		cld_err_clear(&ierr);
		if (inst->table->init(&inst->drv, &ierr) != 0) {
			cld_err_set(err, CLD_EABI,
			    "'%s': init of %s driver '%s' failed: %s",
			    inst->path, ci->name, name,
			    ierr.msg[0] ? ierr.msg : "no reason given");
			free(inst->path);
			free(inst->name);
			free(inst->module);
			free(inst);
			inst = NULL;
			goto cleanup;
		}
	}
	inst->inited = 1;
	if (l->last != NULL)
		l->last->next = inst;
	else
		l->first = inst;
	l->last = inst;
	log_debug("loaded %s driver '%s' from '%s' (%s, ABI %u.%u)", ci->name,
	    name, inst->path, inst->table->version ? inst->table->version : "",
	    inst->table->abi_major, inst->table->abi_minor);
cleanup:
	/*
	 * A refused module stays loaded, as accepted ones do: libltdl is not
	 * asked to unload anything, so no code of a half-checked module can be
	 * left referenced after dlclose.
	 */
	if (advise != NULL)
		lt_dladvise_destroy(&advise);
	free(file);
	free(base);
	free(path);
	return inst;
}

void
cld_loader_free(struct cld_loader *l)
{
	struct cld_driver_inst *i, *next;

	if (l == NULL)
		return;
	for (i = l->first; i != NULL; i = next) {
		next = i->next;
		if (i->inited && i->table->fini != NULL)
			i->table->fini(&i->drv);
		free(i->path);
		free(i->name);
		free(i->module);
		free(i);
	}
	for (size_t d = 0; d < l->ndirs; d++)
		free(l->dirs[d]);
	free(l->dirs);
	free(l->search_path);
	free(l);
}
