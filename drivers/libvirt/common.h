/*
 * What vmm/libvirt and im/libvirt share: libcloudd-libvirt.so, installed
 * in $(pkglibdir), which both modules link.
 *
 * A process holds one copy of this library whichever of the two modules
 * loads it first, so it holds the one cache of libvirt connections: one
 * connection per hypervisor URI, opened at first use, shared by every
 * operation of both drivers on every thread, opened again when it is lost,
 * closed when the last driver instance goes.  That matters beyond economy:
 * a test:/// connection is a private hypervisor of its own, so im/libvirt
 * sees the domains vmm/libvirt started only through the same connection.
 *
 * The library also keeps, per URI, the last CPU time sample of each
 * domain, so that either driver computes CPU use from the previous sample
 * whoever took it, and the last sample of the node's CPU counters.
 *
 * Every function may be called from any thread unless said otherwise.
 * Strings returned are malloc()ed and the caller free()s them.  Errors are
 * written in words into the caller's struct cld_err; libvirt never prints:
 * cld_lv_ref installs error handlers that discard its reports, which are
 * read back with virGetLastError on the thread that failed.
 */
#ifndef CLD_LIBVIRT_COMMON_H
#define CLD_LIBVIRT_COMMON_H

#include <stdint.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <cloudd/driver.h>

/* The URI pattern both drivers use unless told otherwise. */
#define CLD_LV_URI_DEFAULT "qemu+ssh://HOST/system"

/*
 * Take a reference on the library: the first initialises libvirt and
 * libxml2, installs the silent error handler and starts the thread that
 * runs libvirt's event loop (keepalives and close notices of remote
 * connections need one).  Called by each driver instance's init, on the
 * main thread.  Returns 0, or -1 with ERR set.
 */
int cld_lv_ref(struct cld_err *err);

/*
 * Drop a reference; the last closes every cached connection, forgets every
 * sample and stops the event loop thread.  Called by fini, on the main
 * thread, once no operation runs.
 */
void cld_lv_unref(void);

/*
 * Check URI pattern PATTERN, the value of option OPTION: with every "HOST"
 * replaced by a host name it must be a URI with a scheme, and it may hold no
 * blank or control character.  Returns 0, or -1 with CLD_ECONFIG in ERR.
 */
int cld_lv_uri_check(const char *pattern, const char *option,
    struct cld_err *err);

/*
 * PATTERN with every "HOST" replaced by HOST, which must be a host name
 * (letters, digits, '.', '-', '_'), checked again as a URI.  Returns a
 * malloc()ed string, or NULL with ERR set.
 */
char *cld_lv_uri(const char *pattern, const char *host, struct cld_err *err);

/*
 * The cached connection to URI, opened (or opened again, if the cached one
 * was lost) when needed.  Returns a new reference the caller drops with
 * virConnectClose, or NULL with op->err set.  Blocks while connecting; an
 * operation waiting for another's connection to the same URI gives up at
 * its own deadline.
 */
virConnectPtr cld_lv_connect(struct cld_op *op, const char *uri);

/*
 * CONN, the connection to URI, failed as a connection: drop it from the
 * cache (if it is still the cached one) so that the next cld_lv_connect
 * opens a new one.  The caller still holds and drops its own reference.
 */
void cld_lv_lost(const char *uri, virConnectPtr conn);

/*
 * Describe libvirt's last error on this thread in op->err, after the words
 * FMT: "FMT: libvirt: <libvirt's message>", with CLD_ENOTSUP when the
 * hypervisor's driver lacks the function, CLD_EDRIVER otherwise.  Returns
 * non-zero when the failure is the connection's (an RPC failure, or CONN
 * no longer alive), so that the caller may connect again and retry.
 * Clears libvirt's last error.
 */
int cld_lv_fail(struct cld_op *op, virConnectPtr conn, const char *fmt, ...)
    CLD_PRINTF(3, 4);

/* libvirt's last error number on this thread (VIR_ERR_OK if none). */
int cld_lv_last_code(void);

/* A domain's state and figures, as both drivers report them. */
struct cld_lv_stats {
	int state;                 /* enum cld_poll_state */
	int domid;                 /* libvirt's id, -1 when not running */
	double cpu;                /* percent of one core since the last sample (0 on the first) */
	unsigned long long memory_kb;  /* in use: the guest's resident size, else its allocation */
	unsigned long long alloc_kb;   /* what the hypervisor gives it */
	unsigned long long netrx, nettx; /* bytes over all its interfaces */
};

/*
 * Fill *ST for domain DOM of connection CONN to URI: state and allocation
 * from virDomainGetInfo, CPU use from the CPU time since the last sample
 * of the domain (taken by either driver), memory in use from
 * virDomainMemoryStats' RSS where the hypervisor has it, network bytes
 * from virDomainInterfaceStats of each interface of its live XML (read
 * once per run of the domain).  A domain gone meanwhile is
 * CLD_POLL_MISSING.  Returns 0, or -1 with op->err set and *CONNFAIL
 * non-zero when the connection failed.
 */
int cld_lv_dom_stats(struct cld_op *op, const char *uri, virConnectPtr conn,
    virDomainPtr dom, struct cld_lv_stats *st, int *connfail);

/* Forget the samples of domain NAME on URI (it was destroyed or moved). */
void cld_lv_forget(const char *uri, const char *name);

/*
 * Record the node's CPU counters (nanoseconds busy and in all) for URI.
 * Returns 0 with the change since the previous record in *DBUSY and
 * *DTOTAL, or -1 when there was no previous record.
 */
int cld_lv_node_sample(const char *uri, uint64_t busy, uint64_t total,
    uint64_t *dbusy, uint64_t *dtotal);

#endif /* CLD_LIBVIRT_COMMON_H */
