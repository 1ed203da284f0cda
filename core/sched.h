/*
 * The scheduler: places pending VMs on hosts.
 *
 * It keeps its own view of the hosts (capacity, allocation, attributes) and
 * of the pending VMs, fed incrementally by the core: a host is set when it
 * is created, monitored or its allocation changes; a VM is added when it
 * becomes pending and removed when it is placed, held or deleted.  A cycle
 * (cld_sched_run) places as many pending VMs as the limits allow and says,
 * for each VM it could not place, why.
 *
 * Admission is on allocated capacity: a VM fits a host when the host is
 * enabled, cpu_alloc + vm cpu <= cpu_total, mem_alloc + vm memory <=
 * mem_total, and (max_vms > 0) rvm < max_vms.  Among the hosts that fit and
 * satisfy the VM's REQUIREMENTS, the one with the highest RANK wins (ties:
 * the lowest host id).  A VM without RANK uses the scheduler's default
 * policy.  Policies are preset RANKs:
 *
 *	packing     RUNNING_VMS      (fill the fullest host first)
 *	striping    - RUNNING_VMS    (spread)
 *	load-aware  FREECPU          (the host with most measured free CPU)
 *
 * REQUIREMENTS and RANK see the host's attributes (its last monitoring
 * report: TOTALCPU, FREECPU, HYPERVISOR, ...) plus these, which the
 * scheduler keeps current as it places VMs:
 *
 *	ID, NAME, CLUSTER, CLUSTER_ID       the host's identity
 *	RUNNING_VMS                         VMs allocated on it (rvm)
 *	MAX_CPU, MAX_MEM                    cpu_total, mem_total (KiB)
 *	CPU_USAGE, MEM_USAGE                cpu_alloc, mem_alloc
 *	FREE_CPU, FREE_MEM                  cpu_total - cpu_alloc, ...
 *
 * Incremental: pending VMs that share cpu, memory, REQUIREMENTS and RANK
 * form one class, whose hosts are evaluated once and kept ordered; placing a
 * VM re-evaluates only the host that changed.
 *
 * Threads: one scheduler belongs to one thread (the core's loop).  Nothing
 * blocks.  Allocation failure aborts (util.h).
 */
#ifndef CLD_SCHED_H
#define CLD_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include <cloudd/attr.h>
#include <cloudd/error.h>

struct cld_sched;

enum cld_sched_policy {
	CLD_SCHED_PACKING = 0,
	CLD_SCHED_STRIPING = 1,
	CLD_SCHED_LOAD_AWARE = 2,
};

/* A host as the scheduler sees it.  Everything is copied by cld_sched_host_set. */
struct cld_sched_host {
	int64_t id;
	const char *name;
	const char *cluster;       /* cluster name */
	int64_t cluster_id;
	int enabled;               /* 0: never place here (disabled, offline, error, init) */
	double cpu_total;          /* percent of one core: 8 cores = 800 */
	double cpu_alloc;          /* sum of its VMs' CPU x 100 */
	uint64_t mem_total;        /* KiB */
	uint64_t mem_alloc;        /* sum of its VMs' memory, KiB */
	int rvm;                   /* VMs allocated on it */
	int max_vms;               /* 0: no limit */
	const struct cld_tmpl *attrs; /* monitoring attributes, or NULL; copied */
};

/* What a pending VM asks for.  Strings are copied by cld_sched_vm_add. */
struct cld_sched_vm {
	int64_t id;
	double cpu;                /* percent of one core (CPU x 100) */
	uint64_t mem;              /* KiB */
	const char *requirements;  /* REQUIREMENTS text, or NULL */
	const char *rank;          /* RANK text, or NULL: the default policy */
};

/* Per-cycle limits; 0 means no limit. */
struct cld_sched_limits {
	size_t max_dispatch;       /* VMs placed per cycle */
	size_t max_host;           /* VMs placed on one host per cycle */
};

/* Called once per placement, during cld_sched_run. */
typedef void (*cld_sched_place_fn)(void *ctx, int64_t vm_id, int64_t host_id);

struct cld_sched *cld_sched_new(int default_policy);
void cld_sched_free(struct cld_sched *s);
void cld_sched_set_policy(struct cld_sched *s, int policy);

/* Add or replace host H (by id). */
void cld_sched_host_set(struct cld_sched *s, const struct cld_sched_host *h);
void cld_sched_host_del(struct cld_sched *s, int64_t id);

/*
 * Add pending VM V (replacing one with its id).  Returns 0, or -1 with err
 * (CLD_EINVAL: "REQUIREMENTS: column C: ..." / "RANK: ...") when an
 * expression does not compile; the VM is then not added.
 */
int cld_sched_vm_add(struct cld_sched *s, const struct cld_sched_vm *v,
    struct cld_err *err);
/* Remove VM ID from the pending set; a missing id is fine. */
void cld_sched_vm_del(struct cld_sched *s, int64_t id);
/* How many VMs are pending. */
size_t cld_sched_pending(const struct cld_sched *s);

/*
 * One cycle: place pending VMs in the order they were added (oldest first),
 * calling FN for each placement.  A placed VM leaves the pending set and
 * its host's cpu_alloc, mem_alloc and rvm grow by what it asked.  Returns
 * how many were placed.
 */
size_t cld_sched_run(struct cld_sched *s, const struct cld_sched_limits *lim,
    cld_sched_place_fn fn, void *ctx);

/*
 * Why pending VM ID was not placed in the last cycle, or NULL (placed, not
 * pending, or not yet considered).  The string is owned by the scheduler and
 * valid until the next call that changes it.  Examples:
 *	"no host satisfies REQUIREMENTS 'HYPERVISOR = \"kvm\"'"
 *	"not enough free memory on any of 4 hosts"
 *	"not enough free CPU on any of 4 hosts"
 *	"no enabled host"
 */
const char *cld_sched_why(const struct cld_sched *s, int64_t id);

/* The policy's name ("packing") / the policy of a name, or -1. */
const char *cld_sched_policy_name(int policy);
int cld_sched_policy_from_name(const char *name);

#endif /* CLD_SCHED_H */
