/*
 * The core: the objects the loop owns (VMs, hosts, clusters) and the
 * functions of the files that make up the daemon (loop.c, vm.c, host.c,
 * handlers.c, persist.c, worker.c).
 *
 * Threads: everything here belongs to the loop thread, except struct
 * cld_job's run() (a worker thread) and the request queue (api threads
 * push, the loop pops).  Nothing on the loop blocks except sqlite writes,
 * one transaction per turn.
 */
#ifndef CLD_CORE_H
#define CLD_CORE_H

#include <pthread.h>
#include <stdint.h>

#include <cloudd/driver.h>

#include "api.h"
#include "conf.h"
#include "loader.h"
#include "sched.h"
#include "services.h"
#include "store.h"
#include "vnet.h"

/* VM states (DESIGN.md); the numbers are stored: only append. */
enum cld_vm_state {
	CLD_VM_PENDING = 0,
	CLD_VM_HOLD = 1,
	CLD_VM_PROLOG = 2,
	CLD_VM_BOOT = 3,
	CLD_VM_RUNNING = 4,
	CLD_VM_MIGRATE = 5,
	CLD_VM_SHUTDOWN = 6,
	CLD_VM_EPILOG = 7,
	CLD_VM_SUSPENDED = 8,
	CLD_VM_STOPPED = 9,
	CLD_VM_POWEROFF = 10,
	CLD_VM_UNKNOWN = 11,
	CLD_VM_FAILED = 12,
	CLD_VM_DONE = 13,
	CLD_VM_NSTATES
};

/* Host states; stored. */
enum cld_host_state {
	CLD_HOST_INIT = 0,
	CLD_HOST_MONITORED = 1,
	CLD_HOST_ERROR = 2,
	CLD_HOST_DISABLED = 3,
	CLD_HOST_OFFLINE = 4,
	CLD_HOST_NSTATES
};

const char *cld_vm_state_name(int state);       /* "RUNNING" */
const char *cld_vm_state_short(int state);      /* "runn" */
int cld_vm_state_from_name(const char *name);   /* -1 if none */
const char *cld_host_state_name(int state);
const char *cld_host_state_short(int state);

struct cld_core;
struct cld_host;

/*
 * A driver operation in flight.  Made on the loop, run() on a worker,
 * done() back on the loop.  The loop stops waiting at the deadline.
 */
struct cld_job {
	struct cld_job *next;
	void (*run)(struct cld_job *j);
	void (*done)(struct cld_core *c, struct cld_job *j);
	struct cld_op op;
	struct cld_op_ctl ctl;
	struct cld_err err;
	int rc;                     /* run's result: 0 or -1 */
	int timed_out;              /* set by the loop at the deadline */
	int64_t deadline_ms;
	size_t slot;                /* its index in cld_core.inflight */
	/* At the deadline, after the cancel (optional): stop waiting. */
	void (*timeout)(struct cld_core *c, struct cld_job *j);
};

/* The worker pool (worker.c). */
struct cld_workers;
struct cld_workers *cld_workers_new(unsigned int n, int wake_fd);
/* Queue J; its done() runs on the loop after cld_workers_take_done. */
void cld_workers_submit(struct cld_workers *w, struct cld_job *j);
/* The jobs whose run() has returned since the last call, oldest first. */
struct cld_job *cld_workers_take_done(struct cld_workers *w);
/* Stop the threads once the queue is empty and the running jobs return. */
void cld_workers_join(struct cld_workers *w);
/* Join (if not done yet) and free. */
void cld_workers_free(struct cld_workers *w);

struct cld_cluster {
	int64_t id;
	char *name;
	char *tm, *net;             /* driver instance names ("" : none) */
	struct cld_driver_inst *tmd, *netd;
	int nhosts;
	int dirty;
	struct cld_cluster *dirty_next;
};

struct cld_host {
	int64_t id;
	char *name;
	int state;
	int64_t cluster_id;
	char *im, *vmm;             /* driver instance names */
	struct cld_driver_inst *imd, *vmmd;
	int max_vms;                /* 0: no limit */
	struct cld_tmpl attrs;      /* the last report, VM vectors removed */
	double tcpu, ucpu;          /* TOTALCPU, USEDCPU (percent of a core) */
	uint64_t tmem, fmem;        /* TOTALMEMORY, FREEMEMORY (KiB) */
	double cpu_alloc;           /* sum of its VMs' CPU x 100 */
	uint64_t mem_alloc;         /* sum of its VMs' MEMORY, KiB */
	int rvm;                    /* VMs allocated on it */
	int nvms;                   /* VMs that name it (allocated or not) */
	char *error;                /* why ERROR, or NULL */
	int64_t monitored;          /* epoch of the last good report */
	int64_t next_monitor_ms;
	int failures;               /* consecutive failed monitorings */
	struct cld_job *monitor_job;
	struct cld_vm *vms;         /* the VMs whose host it is (vm->hnext) */
	int dirty;
	struct cld_host *dirty_next;
};

/* A history record of a VM: one per placement. */
struct cld_vm_hist {
	int seq;                    /* 0: none yet */
	int64_t host_id;
	int64_t start, prolog_end, boot_end, running_end, epilog_end, end;
	int reason;                 /* 0 none, 1 done, 2 failed, 3 migrated, 4 stopped, 5 deleted */
};

/* An ended record and the VM's reason at that time. */
struct cld_vm_past {
	struct cld_vm_hist h;
	char *msg;
};

struct cld_vm {
	int64_t id;
	char *name;
	int64_t uid, gid;
	int state;
	int plan;                   /* the pipeline in progress (vm.c), 0: none */
	int step;                   /* its step */
	int resume_state;           /* where a reversible plan goes back to */
	int failed_state;           /* the state whose step failed, or -1 */
	int queued;                 /* an action waiting for the job in flight */
	char *reason;               /* why FAILED, what went wrong last, or NULL */
	struct cld_host *host;      /* where it is allocated, or NULL: set with cld_vm_set_host */
	struct cld_vm *hnext, *hprev; /* the host's list of VMs */
	struct cld_host *dest;      /* migration target */
	struct cld_host *prev;      /* migration source, until cleaned */
	char *domid;
	double cpu;                 /* share of a core: 0.5 */
	unsigned int vcpu;
	uint64_t memory_mb;
	struct cld_tmpl tmpl;       /* the user's template, DISK PATHs resolved */
	int64_t stime, etime;
	double ucpu;                /* last poll */
	uint64_t umem, netrx, nettx;
	char *progress;
	struct cld_vm_hist hist;     /* the current record */
	struct cld_vm_past *past;    /* the ended ones, oldest first */
	size_t npast;
	struct cld_job *job;        /* the operation in flight, or NULL */
	int polling;                /* a poll job is in flight */
	struct cld_vnet *waits;     /* PENDING, out of the scheduler until
	                               this network frees an address (nic.c) */
	char *json;                 /* cached list entry, or NULL */
	size_t json_len;
	int dirty, hist_dirty;
	struct cld_vm *dirty_next;
};

/* An API request waiting for the loop (or for the commit). */
struct cld_request {
	struct cld_api_req *req;
	int mutating;               /* answer only after the commit */
	struct cld_request *next;
};

struct cld_core {
	struct cld_conf *conf;
	struct cld_loader *loader;
	struct cld_store *store;
	struct cld_sched *sched;
	struct cld_api *api;
	struct cld_workers *workers;
	int wake_fd;                /* eventfd: workers and api threads */
	int ready_fd;               /* written once the API listens, or -1 */
	int discard;                /* stopping: finished jobs' results are dropped */
	int stopping;

	/* settings (conf.c reads them; see cloudd.conf(5)) */
	int64_t monitor_interval_ms;
	int64_t timeout_ms[CLD_VM_NSTATES]; /* per state's steps */
	int64_t monitor_timeout_ms;
	int64_t sched_interval_ms;
	struct cld_sched_limits limits;
	char *datastore;            /* DATASTORE: VM directories on hosts */
	char *vm_dir;               /* VM_DIR: front-end directory of stopped VMs */
	char *log_dir;              /* one log file per VM */

	/* pools: arrays indexed by id; NULL where none */
	struct cld_vm **vms;
	size_t vms_cap;
	int64_t next_vm_id;
	size_t nvms_live;
	struct cld_host **hosts;
	size_t hosts_cap;
	int64_t next_host_id;
	struct cld_cluster **clusters;
	size_t clusters_cap;
	int64_t next_cluster_id;
	struct cld_vnet **vnets;
	size_t vnets_cap;
	int64_t next_vnet_id;

	/* changes to commit this turn */
	struct cld_vm *dirty_vms;
	struct cld_host *dirty_hosts;
	struct cld_cluster *dirty_clusters;
	struct cld_vnet *dirty_vnets;
	/* leases changed this turn: each one's row is written as it is then */
	struct dirty_lease { int64_t vnet_id; uint32_t idx; } *dirty_leases;
	size_t ndirty_leases, dirty_leases_cap;
	struct del { int table; int64_t id; } *dels;
	size_t ndels, dels_cap;
	/* history records that ended and were replaced before the commit */
	struct old_hist { int64_t vm_id; struct cld_vm_hist h; char *msg; } *old_hists;
	size_t nold_hists, old_hists_cap;
	struct cld_request *replies, **replies_tail; /* wait for the commit */
	int sched_dirty;
	int64_t next_sched_ms;
	int64_t monitor_due;        /* no host is due before this (ms) */

	/*
	 * The loop holds it for writing during each turn; API threads hold it
	 * for reading to answer GETs of objects in memory themselves (no trip
	 * through the loop).  What they read is always committed.
	 */
	pthread_rwlock_t state_lock;
	pthread_mutex_t json_lock;   /* readers filling cld_vm.json */

	/* requests from api threads */
	pthread_mutex_t req_lock;
	struct cld_request *reqs, **reqs_tail;
	int api_closing;            /* under req_lock: answer 503 at once */

	/* jobs in flight, to enforce deadlines */
	struct cld_job **inflight;
	size_t ninflight, inflight_cap;
	/*
	 * Jobs made this turn, handed to the workers only once the turn is
	 * committed: a driver never acts on a step the store does not hold.
	 */
	struct cld_job *held, **held_tail;
};

/* loop.c */
int cld_core_run(struct cld_core *c);
void cld_core_submit(struct cld_core *c, struct cld_job *j);
void cld_core_api_handler(void *ctx, struct cld_api_req *req);
void cld_vm_touch(struct cld_core *c, struct cld_vm *vm);
void cld_host_touch(struct cld_core *c, struct cld_host *h);
void cld_cluster_touch(struct cld_core *c, struct cld_cluster *cl);
void cld_core_del(struct cld_core *c, int table, int64_t id);
void cld_vm_job_timeout(struct cld_core *c, struct cld_job *j);
int cld_core_reload(struct cld_core *c);

/* persist.c: load everything at start; write a row */
int cld_core_load(struct cld_core *c, struct cld_err *err);
int cld_core_commit(struct cld_core *c, struct cld_err *err);

/* vm.c */
struct cld_vm *cld_vm_find(struct cld_core *c, int64_t id);
/* Create a VM from template TEXT for UID/GID; NULL with err (CLD_EINVAL). */
struct cld_vm *cld_vm_create(struct cld_core *c, const char *text, size_t len,
    int64_t uid, int64_t gid, int hold, struct cld_err *err);
/*
 * Act on VM.  ACTION: "deploy", "shutdown", ...; HOST for deploy/migrate;
 * FLAGS: live/hard; MODE for recover.  Returns 0, or -1 with err:
 * CLD_EBUSY (not in this state: 409), CLD_EINVAL, CLD_ENOENT (host),
 * CLD_ENOTSUP (the driver cannot).
 */
int cld_vm_action(struct cld_core *c, struct cld_vm *vm, const char *action,
    struct cld_host *host, int live, int hard, const char *mode,
    struct cld_err *err);
void cld_vm_placed(void *ctx, int64_t vm_id, int64_t host_id);
void cld_vm_resume_all(struct cld_core *c);   /* after load: retry steps */
void cld_vm_log(struct cld_core *c, const struct cld_vm *vm, const char *fmt, ...)
    CLD_PRINTF(3, 4);
void cld_vm_free(struct cld_vm *vm);
/* Keep ended record H (and the reason then) in the VM's past. */
void cld_vm_past_add(struct cld_vm *vm, const struct cld_vm_hist *h,
    const char *msg);
/* Set vm->host, keeping the hosts' lists of VMs. */
void cld_vm_set_host(struct cld_vm *vm, struct cld_host *h);
void cld_vm_sched_add(struct cld_core *c, struct cld_vm *vm);
void cld_vm_host_lost(struct cld_core *c, struct cld_host *h);
void cld_vm_seen(struct cld_core *c, struct cld_vm *vm, const struct cld_attr *report_vm);
void cld_vm_poll(struct cld_core *c, struct cld_vm *vm);
void cld_vm_poll_many(struct cld_core *c, struct cld_host *h,
    struct cld_vm **vms, size_t n);
char *cld_vm_log_path(struct cld_core *c, int64_t id);

/* host.c */
struct cld_host *cld_host_find(struct cld_core *c, const char *id_or_name);
struct cld_host *cld_host_by_id(struct cld_core *c, int64_t id);
struct cld_cluster *cld_cluster_find(struct cld_core *c, const char *id_or_name);
struct cld_cluster *cld_cluster_by_id(struct cld_core *c, int64_t id);
struct cld_host *cld_host_create(struct cld_core *c, const char *name,
    const char *im, const char *vmm, struct cld_cluster *cl, int max_vms,
    struct cld_err *err);
int cld_host_action(struct cld_core *c, struct cld_host *h, const char *action,
    struct cld_err *err);
int cld_host_delete(struct cld_core *c, struct cld_host *h, struct cld_err *err);
int cld_host_move(struct cld_core *c, struct cld_host *h, struct cld_cluster *cl,
    struct cld_err *err);
struct cld_cluster *cld_cluster_create(struct cld_core *c, const char *name,
    const char *tm, const char *net, struct cld_err *err);
int cld_cluster_set(struct cld_core *c, struct cld_cluster *cl, const char *tm,
    const char *net, struct cld_err *err);
int cld_cluster_delete(struct cld_core *c, struct cld_cluster *cl,
    struct cld_err *err);
void cld_host_sched_update(struct cld_core *c, struct cld_host *h);
void cld_host_alloc(struct cld_core *c, struct cld_host *h, struct cld_vm *vm, int sign);
void cld_hosts_monitor(struct cld_core *c, int64_t now_ms); /* start due monitorings */
int64_t cld_hosts_next_monitor(struct cld_core *c);
int cld_host_bind(struct cld_core *c, struct cld_host *h, struct cld_err *err);
int cld_cluster_bind(struct cld_core *c, struct cld_cluster *cl, struct cld_err *err);
void cld_host_free(struct cld_host *h);
void cld_cluster_free(struct cld_cluster *cl);
struct cld_cluster *cld_host_cluster(struct cld_core *c, const struct cld_host *h);

/*
 * nic.c: the core's networks, and the NICs of its VMs and their leases.
 * Loop thread only, except the finders, which API threads call under the
 * state lock held for reading.
 */
struct cld_vnet *cld_vnet_by_id(struct cld_core *c, int64_t id);
struct cld_vnet *cld_vnet_find(struct cld_core *c, const char *id_or_name);
void cld_vnet_insert(struct cld_core *c, struct cld_vnet *vn);
/*
 * A network from template TEXT for UID/GID.  NULL with err: CLD_EINVAL (a
 * template that breaks a rule, "line L, column C: ..."), CLD_EEXIST (the
 * name is taken, or its addresses overlap a network on its bridge).
 */
struct cld_vnet *cld_vnet_add(struct cld_core *c, const char *text,
    size_t len, int64_t uid, int64_t gid, struct cld_err *err);
/* Delete VN; -1 with err (CLD_EBUSY) while a VM names it. */
int cld_vnet_delete(struct cld_core *c, struct cld_vnet *vn,
    struct cld_err *err);
/*
 * ACTION "hold" or "release" on address IP of VN.  -1 with err: CLD_EINVAL
 * (not an address of VN, the gateway, an unknown action), CLD_EBUSY (in
 * use, already on hold, not on hold).
 */
int cld_vnet_action(struct cld_core *c, struct cld_vnet *vn,
    const char *action, const char *ip, struct cld_err *err);
/* Write VN's row / the lease of index IDX of VN at the next commit. */
void cld_vnet_touch(struct cld_core *c, struct cld_vnet *vn);
void cld_lease_touch(struct cld_core *c, struct cld_vnet *vn, uint32_t idx);
/*
 * At creation: check VM's NIC vectors and fill what does not change (the
 * network's name and id, TARGET, a plain NIC's MAC).  -1 with err:
 * CLD_EINVAL (names the attribute, line and column), CLD_EBUSY (the IP
 * asked for is in use or on hold).
 */
int cld_nics_check(struct cld_core *c, struct cld_vm *vm, struct cld_err *err);
/* Count (SIGN 1) or stop counting (-1) VM among its networks' users. */
void cld_nics_ref(struct cld_core *c, struct cld_vm *vm, int sign);
/*
 * At placement: lease VM an address for each NIC on a network that has
 * none yet, and write the lease into the NIC (IP, MAC, BRIDGE, ...).  All
 * or nothing: -1 with err (CLD_ENOSPC) naming the network short of
 * addresses, then *SHORT is that network.
 */
int cld_nics_take(struct cld_core *c, struct cld_vm *vm,
    struct cld_vnet **short_of, struct cld_err *err);
/* The VM is DONE: give its leases back and stop counting it. */
void cld_nics_end(struct cld_core *c, struct cld_vm *vm);
/* Keep PENDING VM out of the scheduler until VN frees an address. */
void cld_nics_wait(struct cld_core *c, struct cld_vm *vm, struct cld_vnet *vn);
/* At start-up, after the VMs: leases of VMs that ended are given back. */
void cld_vnets_check(struct cld_core *c);

/* handlers.c: one API request, on the loop */
void cld_handle(struct cld_core *c, struct cld_request *r);
/*
 * A GET, on an API thread, under state_lock held for reading: answers it
 * and returns 1, or returns 0 (nothing replied) when it needs the loop
 * (the store: a VM that ended).
 */
int cld_handle_read(struct cld_core *c, struct cld_api_req *req);
void cld_vm_json_invalidate(struct cld_vm *vm);

#endif /* CLD_CORE_H */
