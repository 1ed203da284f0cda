/*
 * The driver loader: finds "<class>_<module>" in the search path, checks it
 * against the ABI (include/cloudd/driver.h says in which order), and keeps
 * one initialised instance per cloudd.conf declaration.  Modules are never
 * unloaded.  Main thread only, at start-up (libltdl is not thread-safe).
 */
#ifndef CLD_LOADER_H
#define CLD_LOADER_H

#include <cloudd/driver.h>

/* One loaded, initialised driver instance. */
struct cld_driver_inst {
	struct cld_drv drv;            /* what the driver sees; must stay first */
	int klass;                     /* enum cld_class */
	/*
	 * The module's table, copied into a zero-filled table of this core's
	 * size: members newer than the driver's ABI minor read as NULL, that
	 * is "not supported", with no size check at each call.
	 */
	const struct cld_driver *table;
	uint32_t table_size;           /* the size the module declared */
	union {
		struct cld_driver hdr;
		struct cld_vmm_driver vmm;
		struct cld_im_driver im;
		struct cld_tm_driver tm;
		struct cld_net_driver net;
	} copy;
	char *path;                    /* the file it was loaded from */
	char *name;                    /* owned copies behind drv.name, drv.module */
	char *module;
	int inited;                    /* init succeeded: fini is owed */
	struct cld_driver_inst *next;
};

struct cld_loader;

/*
 * A loader searching DIRS (NULL-terminated, from cloudd.conf; may be NULL),
 * then each directory of $CLOUDD_DRIVER_PATH (colon-separated), then the
 * compiled-in driver directory.  Returns NULL with err if libltdl fails.
 */
struct cld_loader *cld_loader_new(const char *const *dirs, struct cld_err *err);

/*
 * Load module MODULE of class KLASS as instance NAME with config block CONF
 * (a vector, borrowed: it must outlive the loader), check it and run its
 * init.  Returns the instance (owned by the loader), or NULL with err saying
 * why in one line that names the file.
 */
struct cld_driver_inst *cld_loader_load(struct cld_loader *l, int klass,
    const char *module, const char *name, const struct cld_attr *conf,
    struct cld_err *err);

/* The instance of class KLASS called NAME, or NULL. */
struct cld_driver_inst *cld_loader_find(struct cld_loader *l, int klass,
    const char *name);

/* The first instance, to walk them with ->next. */
struct cld_driver_inst *cld_loader_first(struct cld_loader *l);

/* The directories searched, joined with ", " (for messages).  Owned by l. */
const char *cld_loader_search_path(struct cld_loader *l);

/* Call every instance's fini and free the loader.  Modules stay loaded.  NULL ok. */
void cld_loader_free(struct cld_loader *l);

/* The class of the instance DRV belongs to. */
int cld_drv_class(const struct cld_drv *drv);

/* The class tables, for an instance of the right class. */
static inline const struct cld_vmm_driver *
cld_inst_vmm(const struct cld_driver_inst *i)
{
	return (const struct cld_vmm_driver *)(const void *)i->table;
}
static inline const struct cld_im_driver *
cld_inst_im(const struct cld_driver_inst *i)
{
	return (const struct cld_im_driver *)(const void *)i->table;
}
static inline const struct cld_tm_driver *
cld_inst_tm(const struct cld_driver_inst *i)
{
	return (const struct cld_tm_driver *)(const void *)i->table;
}
static inline const struct cld_net_driver *
cld_inst_net(const struct cld_driver_inst *i)
{
	return (const struct cld_net_driver *)(const void *)i->table;
}

/* A class's name: "vmm", "im", "tm", "net" (or "?"). */
const char *cld_class_name(int klass);

/* Class from its name ("vmm", "im", "tm", "net"), or 0. */
int cld_class_from_name(const char *name);

#endif /* CLD_LOADER_H */
