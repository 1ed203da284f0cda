/*
 * cloudd driver SDK: the contract between the core and its drivers.
 *
 * A driver is a shared object (libtool -module -avoid-version) named
 * "<class>_<module>.so" (vmm_xl.so, tm_ssh.so) that exports one data symbol,
 * its class table, under the name CLD_DRIVER_ENTRY(<class>_<module>).  The
 * table begins with the frozen header struct cld_driver.  The core loads
 * drivers at start-up from its main thread and never unloads them.
 *
 * The loader checks, in this order, and refuses the module with one log line
 * naming the file and the reason at the first failure:
 *   1. the entry symbol exists;
 *   2. magic == CLD_DRIVER_MAGIC;
 *   3. abi_major == the core's major and abi_minor <= the core's minor;
 *   4. size >= the size of the class table at the driver's abi_minor;
 *   5. klass and name are those asked for in cloudd.conf;
 *   6. every required operation of the class is present;
 *   7. init (if present) returns 0.
 *
 * Rules that hold for every operation:
 *   - It runs on a worker thread, never on the core's loop; it may block, but
 *     it must return by the deadline (svc->remaining_ms) and should return
 *     early when svc->cancelled() says so.  The core stops waiting for it at
 *     the deadline and reports CLD_ETIMEDOUT whatever it later returns.
 *   - Several operations of one driver instance may run at once, on
 *     different VMs or hosts: protect shared state in drv->priv.
 *   - It returns 0 on success, or -1 with op->err filled.  A missing optional
 *     operation (NULL) is reported by the core as "not supported".
 *   - Every operation takes "flags" and fails with CLD_EINVAL on a bit it
 *     does not know.
 *   - Every operation is idempotent: the core retries after a crash or a
 *     timeout, so deploying a VM that already runs, or deleting a file that
 *     is gone, succeeds.
 *   - Memory crossing the boundary is libc malloc()/free() only; each
 *     operation says who frees what.
 *   - A driver never calls exit(), never installs signal handlers, never
 *     builds a shell command line from data: it runs programs with svc->run()
 *     and svc->ssh(), which take argv arrays.
 *
 * ABI rule: members are only ever appended, each marked "since 1.N".  A
 * changed signature is a new member.  The core reads a member only when the
 * table's size covers it.
 */
#ifndef CLOUDD_DRIVER_H
#define CLOUDD_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include <cloudd/attr.h>
#include <cloudd/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLD_DRIVER_MAGIC 0x434c4444u /* "CLDD" */
#define CLD_ABI_MAJOR 1
#define CLD_ABI_MINOR 0

/*
 * The entry symbol of module FILE (vmm_dummy, tm_ssh): libltdl looks for
 * "<file>_LTX_cld_driver" first, so each driver's symbol is unique and the
 * unit tests can link several drivers into one program.
 */
#define CLD_DRIVER_ENTRY(file) file##_LTX_cld_driver

enum cld_class {
	CLD_CLASS_VMM = 1, /* virtualisation: start, stop, move, poll VMs */
	CLD_CLASS_IM = 2,  /* information: monitor a host and the VMs it sees */
	CLD_CLASS_TM = 3,  /* transfer: put disks where a VM runs */
	CLD_CLASS_NET = 4, /* network: bridges, VLANs, filters */
};

enum cld_log_level {
	CLD_LOG_ERR = 0,
	CLD_LOG_WARN = 1,
	CLD_LOG_INFO = 2,
	CLD_LOG_DEBUG = 3,
};

struct cld_op;
struct cld_services;

/*
 * One configured driver instance: cloudd.conf may declare several instances
 * of one module with different options.  Owned by the core; a driver reads
 * it and sets priv.
 */
struct cld_drv {
	const struct cld_services *svc; /* the core's services, for this instance */
	const char *name;              /* the instance's NAME in cloudd.conf */
	const char *module;            /* the module: "dummy" for vmm_dummy.so */
	const struct cld_attr *conf;   /* the instance's block in cloudd.conf (a vector) */
	void *priv;                    /* the driver's own state: set by init, freed by fini */
};

/*
 * One operation in flight.  Owned by the core; valid until the operation
 * returns.
 */
struct cld_op {
	struct cld_drv *drv;    /* the instance the operation runs on */
	struct cld_err *err;    /* where a failure is described */
	int64_t deadline_ms;    /* CLOCK_MONOTONIC, in ms; see svc->remaining_ms */
	void *core;             /* the core's own; drivers leave it alone */
};

/* A program to run, and what came back.  See svc->run. */
struct cld_run {
	const char *const *argv; /* argv[0] is the program (searched in PATH if it has no '/') */
	const char *input;       /* bytes for its standard input, or NULL for /dev/null */
	size_t input_len;
	char *out;               /* set: its standard output, NUL-terminated; caller free()s */
	size_t out_len;
	char *errout;            /* set: its standard error, NUL-terminated; caller free()s */
	size_t errout_len;
	int status;              /* set: exit status, 128+N if killed by signal N, -1 if it never ran */
};

/*
 * What the core lends each driver.  Every function may be called from any
 * thread.  Since 1.0 unless marked.
 */
struct cld_services {
	uint32_t size;          /* sizeof(struct cld_services) as the core built it */
	uint16_t abi_major;
	uint16_t abi_minor;

	/* One log line, prefixed with the class and instance ("vmm/dummy: ..."). */
	void (*log)(const struct cld_drv *drv, int level, const char *fmt, ...)
	    CLD_PRINTF(3, 4);

	/*
	 * The value of single attribute NAME in the instance's block, or NULL.
	 * The string lives as long as the instance.
	 */
	const char *(*conf_get)(const struct cld_drv *drv, const char *name);

	/*
	 * Run a program and wait for it, no longer than the operation's
	 * deadline (it is then killed, with its process group).  Fills r->out,
	 * r->errout and r->status.  Returns 0 if it exited with status 0, else
	 * -1 with op->err saying why (the program, the status, the last line of
	 * its standard error).  Blocks.
	 */
	int (*run)(struct cld_op *op, struct cld_run *r);

	/*
	 * Run r->argv on HOST over ssh, as svc->run does locally.  Each
	 * argument reaches the remote program as one literal argument: the core
	 * quotes them for the remote shell (svc->shell_quote).  Blocks.
	 */
	int (*ssh)(struct cld_op *op, const char *host, struct cld_run *r);

	/*
	 * The one audited helper: ARGV as one string in which a POSIX shell sees
	 * exactly those words, literally.  Returns a malloc()ed string (the
	 * caller free()s it), or NULL if out of memory.
	 */
	char *(*shell_quote)(const char *const *argv);

	/* Non-zero once the core has cancelled the operation (deadline, delete). */
	int (*cancelled)(const struct cld_op *op);

	/* Milliseconds left before the deadline; 0 when it has passed. */
	int64_t (*remaining_ms)(const struct cld_op *op);

	/* Report progress (0-100) of a long operation; shown by "vm show". */
	void (*progress)(struct cld_op *op, int percent, const char *what);
};

/* The frozen header that begins every class table. */
struct cld_driver {
	uint32_t magic;      /* CLD_DRIVER_MAGIC */
	uint16_t abi_major;  /* CLD_ABI_MAJOR the driver was built against */
	uint16_t abi_minor;  /* CLD_ABI_MINOR the driver was built against */
	uint32_t size;       /* sizeof the whole class table */
	uint32_t klass;      /* enum cld_class */
	const char *name;    /* the module name: "dummy" for vmm_dummy.so */
	const char *version; /* the driver's own version, free text */

	/*
	 * Optional.  Called once per instance, on the main thread, before any
	 * operation: read drv->conf, check it, set drv->priv.  Returns 0, or -1
	 * with err saying why (the instance is then not used).  May block
	 * briefly (no network).
	 */
	int (*init)(struct cld_drv *drv, struct cld_err *err);

	/* Optional.  Called once per instance at shutdown; frees drv->priv. */
	void (*fini)(struct cld_drv *drv);
};

/* Fill the header of a class table. */
#define CLD_DRIVER_HEADER(klass_, table_type, name_, version_, init_, fini_) \
	{ CLD_DRIVER_MAGIC, CLD_ABI_MAJOR, CLD_ABI_MINOR,                      \
	  (uint32_t)sizeof(table_type), (klass_), (name_), (version_),         \
	  (init_), (fini_) }

/*
 * A VM as a driver sees it.  Owned by the core; valid during the operation.
 * NIC and DISK vectors of tmpl have been resolved by the core: each DISK has
 * SOURCE (front-end path or URL), TARGET and, once transferred, PATH (on the
 * host); each NIC has BRIDGE, MAC, IP and, for VLANs, VLAN_ID and PHYDEV.
 */
struct cld_vm_desc {
	uint32_t size;            /* sizeof(struct cld_vm_desc) as the core built it */
	int64_t id;               /* the VM's id */
	const char *name;         /* its name on the hypervisor: "cld-<id>" */
	const char *host;         /* the host it runs on (or is being placed on) */
	const char *domid;        /* what deploy returned, or NULL before */
	const char *dir;          /* its directory on the host: <datastore>/<id> */
	double cpu;               /* the share of a physical core it reserves */
	unsigned int vcpu;        /* virtual CPUs the guest sees */
	uint64_t memory_mb;       /* memory in MiB */
	const struct cld_tmpl *tmpl; /* its whole template */
};

/* What a VM looks like to its hypervisor. */
enum cld_poll_state {
	CLD_POLL_UNKNOWN = 0,  /* the hypervisor could not say */
	CLD_POLL_RUNNING = 1,  /* running (or blocked, idle) */
	CLD_POLL_PAUSED = 2,   /* paused or suspended in memory */
	CLD_POLL_SHUTOFF = 3,  /* defined but not running: shut down */
	CLD_POLL_CRASHED = 4,  /* crashed */
	CLD_POLL_MISSING = 5,  /* the hypervisor does not know it */
};

/* A VM's figures, filled by vmm poll.  The core zeroes it and sets size. */
struct cld_vm_poll {
	uint32_t size;         /* sizeof(struct cld_vm_poll) as the core built it */
	int state;             /* enum cld_poll_state */
	double cpu;            /* CPU in use, percent of one core (150 = 1.5 cores) */
	uint64_t memory_kb;    /* memory in use, KiB */
	uint64_t netrx;        /* bytes received since boot */
	uint64_t nettx;        /* bytes sent since boot */
};

/* Flag bits. */
#define CLD_REBOOT_HARD   (1u << 0) /* reboot: reset, not ACPI */
#define CLD_MIGRATE_LIVE  (1u << 0) /* migrate: keep the VM running */
#define CLD_TM_MOVE_LIVE  (1u << 0) /* mv: the VM's disks are in use */

/*
 * vmm: virtualisation.  Required: deploy, shutdown, destroy, poll.
 * Each runs on a worker thread, may block until the deadline, and is
 * idempotent as described above.
 */
struct cld_vmm_driver {
	struct cld_driver hdr;

	/*
	 * Required.  Create and start VM on vm->host from vm->tmpl, its disks
	 * already in vm->dir.  On success *domid is set to a malloc()ed id the
	 * hypervisor knows it by (the core free()s it).  A VM already running
	 * under that name succeeds with its id.
	 */
	int (*deploy)(struct cld_op *op, const struct cld_vm_desc *vm,
	    unsigned int flags, char **domid);

	/*
	 * Required.  Ask the guest to shut down (ACPI) and wait until it is off
	 * or the deadline passes (then fail with CLD_ETIMEDOUT; the core decides
	 * whether to destroy).  A VM already gone succeeds.
	 */
	int (*shutdown)(struct cld_op *op, const struct cld_vm_desc *vm,
	    unsigned int flags);

	/* Required.  Stop the VM at once and remove it.  A VM already gone succeeds. */
	int (*destroy)(struct cld_op *op, const struct cld_vm_desc *vm,
	    unsigned int flags);

	/* Optional.  Reboot (ACPI; CLD_REBOOT_HARD: reset). */
	int (*reboot)(struct cld_op *op, const struct cld_vm_desc *vm,
	    unsigned int flags);

	/* Optional.  Pause the VM in memory / let it run again. */
	int (*suspend)(struct cld_op *op, const struct cld_vm_desc *vm,
	    unsigned int flags);
	int (*resume)(struct cld_op *op, const struct cld_vm_desc *vm,
	    unsigned int flags);

	/*
	 * Optional.  Save the VM's memory to PATH on its host and stop it /
	 * start it again from PATH (restore sets *domid as deploy does).
	 */
	int (*save)(struct cld_op *op, const struct cld_vm_desc *vm,
	    const char *path, unsigned int flags);
	int (*restore)(struct cld_op *op, const struct cld_vm_desc *vm,
	    const char *path, unsigned int flags, char **domid);

	/*
	 * Optional.  Move the VM from vm->host to DEST (CLD_MIGRATE_LIVE: while
	 * it runs).  Its disks are already reachable on DEST.
	 */
	int (*migrate)(struct cld_op *op, const struct cld_vm_desc *vm,
	    const char *dest, unsigned int flags);

	/* Required.  Fill *out with the VM's state and figures.  Must be cheap. */
	int (*poll)(struct cld_op *op, const struct cld_vm_desc *vm,
	    unsigned int flags, struct cld_vm_poll *out);
};

/*
 * im: information.  Required: monitor.
 */
struct cld_im_driver {
	struct cld_driver hdr;

	/*
	 * Required.  Probe HOST.  On success *report is a malloc()ed text in
	 * the template language (the core free()s it): the host's attributes,
	 * one per line, and one vector per VM the hypervisor sees:
	 *
	 *   HYPERVISOR = "dummy"
	 *   TOTALCPU = 800          # percent of one core
	 *   CPUSPEED = 2400         # MHz
	 *   TOTALMEMORY = 16777216  # KiB
	 *   USEDMEMORY = 1048576
	 *   FREEMEMORY = 15728640
	 *   USEDCPU = 120
	 *   FREECPU = 680
	 *   NETRX = 0
	 *   NETTX = 0
	 *   VM = [ NAME = "cld-7", DOMID = "12", STATE = "RUNNING", CPU = 12.5,
	 *          MEMORY = 524288, NETRX = 100, NETTX = 200 ]
	 *
	 * Blocks (it may reach the host over the network).
	 */
	int (*monitor)(struct cld_op *op, const char *host, unsigned int flags,
	    char **report);
};

/*
 * tm: transfer.  Required: clone, delete.  SRC is a path on the front-end
 * (or an http(s) URL); DST and PATH are paths on HOST.  VM is given for
 * context and logging.
 */
struct cld_tm_driver {
	struct cld_driver hdr;

	/* Required.  Make DST on HOST a private copy of SRC. */
	int (*clone)(struct cld_op *op, const struct cld_vm_desc *vm,
	    const char *src, const char *host, const char *dst,
	    unsigned int flags);

	/* Optional.  Make DST on HOST refer to SRC itself (persistent disks). */
	int (*link)(struct cld_op *op, const struct cld_vm_desc *vm,
	    const char *src, const char *host, const char *dst,
	    unsigned int flags);

	/* Optional.  Make a blank disk of SIZE_MB at DST, formatted FSTYPE ("raw": none). */
	int (*mkimage)(struct cld_op *op, const struct cld_vm_desc *vm,
	    const char *host, const char *dst, uint64_t size_mb,
	    const char *fstype, unsigned int flags);

	/* Optional.  Make a swap disk of SIZE_MB at DST. */
	int (*mkswap)(struct cld_op *op, const struct cld_vm_desc *vm,
	    const char *host, const char *dst, uint64_t size_mb,
	    unsigned int flags);

	/*
	 * Optional.  Make DST on HOST a CD image holding FILES (front-end
	 * paths; NFILES of them): the VM's context.
	 */
	int (*context)(struct cld_op *op, const struct cld_vm_desc *vm,
	    const char *const *files, size_t nfiles, const char *host,
	    const char *dst, unsigned int flags);

	/* Optional.  Move SRC on SRC_HOST to DST on DST_HOST (migration, save back). */
	int (*mv)(struct cld_op *op, const struct cld_vm_desc *vm,
	    const char *src_host, const char *src, const char *dst_host,
	    const char *dst, unsigned int flags);

	/* Required.  Remove PATH (a file or a VM's directory) on HOST. */
	int (*delete)(struct cld_op *op, const struct cld_vm_desc *vm,
	    const char *host, const char *path, unsigned int flags);
};

/*
 * net: networking on the VM's host.  Required: pre, clean.  The VM's NIC
 * vectors say what to set up.
 */
struct cld_net_driver {
	struct cld_driver hdr;

	/* Required.  Before boot: make sure bridges (and VLAN interfaces) exist. */
	int (*pre)(struct cld_op *op, const struct cld_vm_desc *vm,
	    unsigned int flags);

	/* Optional.  After boot: install filters for the VM's NICs. */
	int (*post)(struct cld_op *op, const struct cld_vm_desc *vm,
	    unsigned int flags);

	/* Required.  After the VM is gone: remove what pre and post made. */
	int (*clean)(struct cld_op *op, const struct cld_vm_desc *vm,
	    unsigned int flags);
};

#ifdef __cplusplus
}
#endif
#endif /* CLOUDD_DRIVER_H */
