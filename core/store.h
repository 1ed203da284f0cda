/*
 * The store: cloudd's state in an sqlite database.
 *
 * The daemon keeps everything in memory and is the only writer.  It writes
 * in groups: every change of one turn of its loop goes into one transaction
 * (cld_store_begin ... cld_store_commit), and replies wait for the commit.
 * The database is in WAL mode; synchronous=NORMAL survives a killed
 * process, FULL also survives a power loss.
 *
 * The schema is plain SQL with real columns, so that another engine
 * (PostgreSQL) can sit beside sqlite later.  An object's attributes other
 * than the columns below travel as text in `body' (the template language,
 * written and parsed by the caller).
 *
 * Threads: a store belongs to one thread at a time (the loop thread); there
 * is no locking inside.  Every call blocks on disk I/O; cld_store_commit
 * also waits for an fsync when synchronous=FULL (and at checkpoints).
 */
#ifndef CLD_STORE_H
#define CLD_STORE_H

#include <stdint.h>

#include <cloudd/error.h>

struct cld_store;

/* The `sync' argument of cld_store_open: PRAGMA synchronous. */
enum cld_store_sync {
	CLD_SYNC_NORMAL = 0,	/* survives a killed process (default) */
	CLD_SYNC_FULL = 1,	/* also survives a power loss */
};

/* The magic in PRAGMA application_id that marks a cloudd database ("CLDD"). */
#define CLD_STORE_APPLICATION_ID 0x434c4444

/* How long a statement waits for another connection's lock, in ms. */
#define CLD_STORE_BUSY_TIMEOUT_MS 5000

/*
 * Open the store at PATH, creating it (and its schema) if the file is
 * absent or empty, and migrating an older schema forward, one transaction
 * per version.
 *
 * Refuses, without ever writing to the file: a file that is not an sqlite
 * database, an sqlite database of another program (another application_id,
 * or none and tables of its own), a schema version newer than this build
 * knows, a database that fails PRAGMA quick_check, a file another process
 * holds open as a store.  The file is checked through a read-only
 * connection first; only a database that passed is opened read-write.
 *
 * Returns the store, or NULL with err set: CLD_ESTORE for a refused or
 * failing database, CLD_EIO (with sys_errno) when the file cannot be opened
 * or created, CLD_EBUSY when another process has the store open.  The
 * caller owns the store and closes it with cld_store_close().
 * Start-up code; blocks (quick_check reads the whole database).
 */
struct cld_store *cld_store_open(const char *path, int sync,
    struct cld_err *err);

/*
 * Close the store: finalize its statements, roll back a transaction left
 * open, close the database (which checkpoints the WAL into it: blocks).
 * NULL is ok.
 */
void cld_store_close(struct cld_store *st);

/*
 * Transactions.  cld_store_begin starts one (BEGIN IMMEDIATE: it takes the
 * write lock now, waiting up to the busy timeout).  cld_store_commit makes
 * every change since then durable; when it fails, nothing of the
 * transaction was committed and the transaction is over (rolled back).
 * cld_store_rollback drops the changes; it is a no-op outside a transaction.
 * begin and commit return 0, or -1 with err (CLD_ESTORE).
 * A change made outside begin/commit is committed by itself.
 */
int cld_store_begin(struct cld_store *st, struct cld_err *err);
int cld_store_commit(struct cld_store *st, struct cld_err *err);
void cld_store_rollback(struct cld_store *st);

/* The schema version of the open database (== what this build knows). */
int cld_store_schema_version(struct cld_store *st);

/*
 * PRAGMA synchronous as sqlite reports it on the store's connection (1:
 * NORMAL, 2: FULL), for the start-up log and tests; -1 on error.
 */
int cld_store_synchronous(struct cld_store *st);

/* The object tables.  Their order is part of no file format. */
enum cld_table {
	CLD_T_USERS,
	CLD_T_GROUPS,
	CLD_T_CLUSTERS,
	CLD_T_HOSTS,
	CLD_T_VMS,
	CLD_T_VNETS,
	CLD_T_IMAGES,
	CLD_T_COUNT
};

/*
 * The SQL name of table T ("users", "vms", ...), or NULL if T is invalid.
 * A static string; any thread, no I/O.
 */
const char *cld_store_table_name(enum cld_table t);

/*
 * One row of an object table.  `ref' is the object's main link: the group
 * of a user, the cluster of a host, the host of a VM (-1: none), else what
 * the caller makes of it.  `name' is unique per table for users, groups,
 * clusters, hosts and vnets; for VMs and images uniqueness per owner is the
 * caller's business.  `name' must not be NULL; a NULL `body' is stored as "".
 */
struct cld_row {
	int64_t id;
	const char *name;
	int64_t uid;
	int64_t gid;
	int state;
	int64_t ref;
	int64_t mtime;
	const char *body;
};

/*
 * Insert ROW, or replace the row with its id.  The strings are copied.
 * Returns 0, or -1 with err: CLD_EEXIST when the name is taken by another
 * row of a table with unique names, CLD_EINVAL for a NULL name, else
 * CLD_ESTORE.
 */
int cld_store_put(struct cld_store *st, enum cld_table t,
    const struct cld_row *row, struct cld_err *err);

/*
 * Delete the row with ID; a missing id is not an error.  Deleting a VM
 * deletes its history records; deleting a network deletes its leases.
 * Returns 0, or -1 with err (CLD_ESTORE).
 */
int cld_store_del(struct cld_store *st, enum cld_table t, int64_t id,
    struct cld_err *err);

/*
 * Row walkers: called once per row; return non-zero to stop the walk.  The
 * row and its strings are valid only during the call.  A walker may put and
 * delete, but must not start another load of the same kind.
 */
typedef int (*cld_row_fn)(void *ctx, const struct cld_row *row);

/*
 * Call FN for every row of table T, in id order.  Returns 0 (also when FN
 * stopped the walk), or -1 with err (CLD_ESTORE).
 */
int cld_store_load(struct cld_store *st, enum cld_table t, cld_row_fn fn,
    void *ctx, struct cld_err *err);

/*
 * Call FN for the row of table T with ID, if there is one.  Returns 1 (FN
 * was called), 0 (no such row), or -1 with err (CLD_ESTORE).
 */
int cld_store_get(struct cld_store *st, enum cld_table t, int64_t id,
    cld_row_fn fn, void *ctx, struct cld_err *err);

/*
 * The largest id in table T, -1 when the table is empty (ids are allocated
 * from it at restart).  A database error is logged and gives -2.
 */
int64_t cld_store_max_id(struct cld_store *st, enum cld_table t);

/*
 * A VM's history: one record per placement, keyed on (vm_id, seq), with the
 * host and the times (seconds since the epoch, 0: not reached) at which each
 * phase ended.  NULL strings are stored as "".
 */
struct cld_hist {
	int64_t vm_id;
	int seq;
	int64_t host_id;
	const char *host;
	int64_t start;
	int64_t prolog_end;
	int64_t boot_end;
	int64_t running_end;
	int64_t epilog_end;
	int64_t end;
	int reason;
	const char *message;
};

typedef int (*cld_hist_fn)(void *ctx, const struct cld_hist *h);

/*
 * Insert or replace the record (vm_id, seq).  The VM row must exist.
 * Returns 0, or -1 with err: CLD_ENOENT when there is no such VM, else
 * CLD_ESTORE.
 */
int cld_store_hist_put(struct cld_store *st, const struct cld_hist *h,
    struct cld_err *err);

/*
 * Call FN for the records of VM_ID (-1: of every VM), in (vm_id, seq)
 * order.  Same contract as cld_store_load.
 */
int cld_store_hist_load(struct cld_store *st, int64_t vm_id, cld_hist_fn fn,
    void *ctx, struct cld_err *err);

/*
 * A network lease: an address of network vnet_id, held by vm_id while
 * `released' is 0 (vm_id -1: on hold), else released at that time (in ms
 * since the epoch; the core keeps them strictly increasing per network,
 * so that they order the reuse of released addresses).
 */
struct cld_lease {
	int64_t vnet_id;
	const char *ip;
	const char *mac;
	int64_t vm_id;
	int64_t released;
};

typedef int (*cld_lease_fn)(void *ctx, const struct cld_lease *l);

/*
 * Insert or replace the lease of (vnet_id, ip).  The network row must
 * exist; ip and mac must not be NULL.  Returns 0, or -1 with err:
 * CLD_EEXIST when the MAC is already leased with another IP on that
 * network, CLD_ENOENT when there is no such network, CLD_EINVAL for a NULL
 * ip or mac, else CLD_ESTORE.
 */
int cld_store_lease_put(struct cld_store *st, const struct cld_lease *l,
    struct cld_err *err);

/* Delete the lease of (vnet_id, ip); a missing one is not an error. */
int cld_store_lease_del(struct cld_store *st, int64_t vnet_id,
    const char *ip, struct cld_err *err);

/*
 * Call FN for the leases of VNET_ID (-1: of every network), in (vnet_id,
 * ip) order (ip compared as text).  Same contract as cld_store_load.
 */
int cld_store_lease_load(struct cld_store *st, int64_t vnet_id,
    cld_lease_fn fn, void *ctx, struct cld_err *err);

/*
 * Migrations, for tests.  The schema version this build knows is the
 * number of its migration steps; cld_store_migration(i) is the SQL that
 * takes a database from version i to i + 1 (NULL out of range), a static
 * string.  Any thread, no I/O.
 */
int cld_store_known_version(void);
const char *cld_store_migration(int i);

/*
 * cld_store_open with another list of NSTEPS migration steps in place of
 * this build's: a test passes this build's steps plus one to prove that a
 * database made by this build is migrated by the next, and that this build
 * refuses the result.  Not for the daemon.
 */
struct cld_store *cld_store_open_migrations(const char *path, int sync,
    const char *const *steps, int nsteps, struct cld_err *err);

#endif /* CLD_STORE_H */
