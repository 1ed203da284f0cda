/*
 * im/libvirt: monitors a host through libvirt's API: the node's size and
 * use (virNodeGetInfo, virNodeGetCPUStats, virNodeGetMemoryStats) and each
 * running domain's state and figures, in one report.
 *
 * It talks to the host over the process's one connection per URI
 * (libcloudd-libvirt, ../libvirt/common.h), the one vmm/libvirt uses:
 * with the same URI pattern the two see the same hypervisor, which for a
 * test:/// URI is the only way they can.  The domains' CPU samples are
 * shared too, so a domain's CPU use is measured since the last look,
 * whichever driver took it.
 *
 * What a hypervisor cannot say is made up from what it can, and the man
 * page says so: without node memory statistics (libvirt's test driver has
 * none) the memory in use is what the running domains are given; when the
 * node's CPU counters stand still (the test driver's are constants) the CPU
 * in use is what the domains use.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cloudd/driver.h>

#include "../libvirt/common.h"

/* Without a previous sample of the node's counters, take two this far apart. */
#define IM_LV_CPU_GAP_MS 100

struct im_lv {
	const char *uri;          /* URI: the pattern */
};

static void
im_lv_fini(struct cld_drv *drv)
{
	if (drv->priv == NULL)
		return;
	free(drv->priv);
	drv->priv = NULL;
	cld_lv_unref();
}

static int
im_lv_init(struct cld_drv *drv, struct cld_err *err)
{
	const struct cld_attr *a;
	struct im_lv *il = NULL;
	const char *v;
	size_t i, j;

	for (i = 0; drv->conf != NULL && i < drv->conf->nsub; i++) {
		a = &drv->conf->sub[i];
		if (strcasecmp(a->name, "NAME") == 0 ||
		    strcasecmp(a->name, "MODULE") == 0)
			continue;
		if (strcasecmp(a->name, "URI") != 0) {
			cld_err_set(err, CLD_ECONFIG, "unknown option '%s' (URI)",
			    a->name);
			return -1;
		}
		if (cld_attr_is_vector(a)) {
			cld_err_set(err, CLD_ECONFIG,
			    "URI: expected a single value, not a vector");
			return -1;
		}
		for (j = 0; j < i; j++)
			if (strcasecmp(drv->conf->sub[j].name, "URI") == 0) {
				cld_err_set(err, CLD_ECONFIG,
				    "URI: given more than once");
				return -1;
			}
	}
	if ((il = calloc(1, sizeof(*il))) == NULL) {
		cld_err_set(err, CLD_EIO, "out of memory");
		return -1;
	}
	il->uri = (v = drv->svc->conf_get(drv, "URI")) != NULL ? v :
	    CLD_LV_URI_DEFAULT;
	if (cld_lv_uri_check(il->uri, "URI", err) == -1 ||
	    cld_lv_ref(err) == -1) {
		free(il);
		return -1;
	}
	drv->svc->log(drv, CLD_LOG_INFO, "hosts at '%s'", il->uri);
	drv->priv = il;
	return 0;
}

/* S as a quoted value of the template language. */
static void
im_lv_quoted(FILE *f, const char *s)
{
	putc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			putc('\\', f);
			putc(c, f);
		} else if (c >= ' ' && c != 0x7f) {
			putc(c, f);
		}
		/* Control characters are dropped: a name is one line. */
	}
	putc('"', f);
}

static const char *
im_lv_state_name(int s)
{
	switch (s) {
	case CLD_POLL_RUNNING: return "RUNNING";
	case CLD_POLL_PAUSED: return "PAUSED";
	case CLD_POLL_SHUTOFF: return "SHUTOFF";
	case CLD_POLL_CRASHED: return "CRASHED";
	default: return "UNKNOWN";
	}
}

/*
 * The hypervisor's name as im/ssh's probe reports it: "kvm" for QEMU, then
 * "xen", "test", or libvirt's own name in lower case.
 */
static void
im_lv_hypervisor(const char *type, char *out, size_t outsz)
{
	size_t i;

	if (type == NULL)
		type = "unknown";
	if (strcasecmp(type, "QEMU") == 0)
		type = "kvm";
	for (i = 0; type[i] != '\0' && i + 1 < outsz; i++)
		out[i] = (char)tolower((unsigned char)type[i]);
	out[i] = '\0';
}

/*
 * The node's CPU counters: nanoseconds busy (user, kernel) and in all
 * (those, idle and iowait).  Returns 0, or -1 with op->err (and *connfail).
 */
static int
im_lv_node_cpu(struct cld_op *op, virConnectPtr conn, uint64_t *busy,
    uint64_t *total, int *connfail)
{
	virNodeCPUStatsPtr p = NULL;
	int n = 0, i, rc = -1;

	*busy = *total = 0;
	if (virNodeGetCPUStats(conn, VIR_NODE_CPU_STATS_ALL_CPUS, NULL, &n, 0) < 0 ||
	    n <= 0) {
		*connfail = cld_lv_fail(op, conn, "cannot read the node's CPU counters");
		return -1;
	}
	if ((p = calloc((size_t)n, sizeof(*p))) == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		return -1;
	}
	if (virNodeGetCPUStats(conn, VIR_NODE_CPU_STATS_ALL_CPUS, p, &n, 0) < 0) {
		*connfail = cld_lv_fail(op, conn, "cannot read the node's CPU counters");
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(p[i].field, VIR_NODE_CPU_STATS_USER) == 0 ||
		    strcmp(p[i].field, VIR_NODE_CPU_STATS_KERNEL) == 0)
			*busy += p[i].value;
		if (strcmp(p[i].field, VIR_NODE_CPU_STATS_USER) == 0 ||
		    strcmp(p[i].field, VIR_NODE_CPU_STATS_KERNEL) == 0 ||
		    strcmp(p[i].field, VIR_NODE_CPU_STATS_IDLE) == 0 ||
		    strcmp(p[i].field, VIR_NODE_CPU_STATS_IOWAIT) == 0)
			*total += p[i].value;
	}
	rc = 0;
cleanup:
	free(p);
	return rc;
}

/*
 * The node's memory, KiB: total and available (free, buffers, cache).
 * Returns 1 with them, 0 when the hypervisor keeps no such figures, or -1
 * with op->err (and *connfail).
 */
static int
im_lv_node_mem(struct cld_op *op, virConnectPtr conn, uint64_t *total,
    uint64_t *avail, int *connfail)
{
	virNodeMemoryStatsPtr p = NULL;
	int n = 0, i, rc = -1, code;

	*total = *avail = 0;
	if (virNodeGetMemoryStats(conn, VIR_NODE_MEMORY_STATS_ALL_CELLS, NULL,
	    &n, 0) < 0) {
		code = cld_lv_last_code();
		if (code == VIR_ERR_NO_SUPPORT) {
			virResetLastError();
			return 0;
		}
		*connfail = cld_lv_fail(op, conn, "cannot read the node's memory");
		return -1;
	}
	if (n <= 0)
		return 0;
	if ((p = calloc((size_t)n, sizeof(*p))) == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		return -1;
	}
	if (virNodeGetMemoryStats(conn, VIR_NODE_MEMORY_STATS_ALL_CELLS, p, &n,
	    0) < 0) {
		*connfail = cld_lv_fail(op, conn, "cannot read the node's memory");
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(p[i].field, VIR_NODE_MEMORY_STATS_TOTAL) == 0)
			*total = p[i].value;
		else if (strcmp(p[i].field, VIR_NODE_MEMORY_STATS_FREE) == 0 ||
		    strcmp(p[i].field, VIR_NODE_MEMORY_STATS_BUFFERS) == 0 ||
		    strcmp(p[i].field, VIR_NODE_MEMORY_STATS_CACHED) == 0)
			*avail += p[i].value;
	}
	rc = *total > 0 ? 1 : 0;
cleanup:
	free(p);
	return rc;
}

static void
im_lv_sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* One monitoring on connection CONN to URI; *REPORT on success. */
static int
im_lv_probe(struct cld_op *op, const char *uri, virConnectPtr conn,
    char **report, int *connfail)
{
	const struct cld_services *svc = op->drv->svc;
	virDomainPtr *doms = NULL;
	struct cld_lv_stats st;
	virNodeInfo ni;
	char hv[32], *hostname = NULL, *buf = NULL;
	const char *type;
	uint64_t busy = 0, total = 0, dbusy = 0, dtotal = 0, mtotal, mavail;
	unsigned long long alloc = 0, rx = 0, tx = 0;
	double vmcpu = 0, usedcpu, tcpu;
	size_t len = 0;
	int ndoms = 0, i, have_mem, rc = -1;
	FILE *vms = NULL, *f = NULL;
	char *vmtext = NULL;
	size_t vmlen = 0;

	*connfail = 0;
	if (virNodeGetInfo(conn, &ni) < 0) {
		*connfail = cld_lv_fail(op, conn, "cannot read the node's size");
		goto cleanup;
	}
	if ((type = virConnectGetType(conn)) == NULL) {
		*connfail = cld_lv_fail(op, conn, "cannot read the hypervisor's type");
		goto cleanup;
	}
	im_lv_hypervisor(type, hv, sizeof(hv));
	if ((hostname = virConnectGetHostname(conn)) == NULL)
		virResetLastError();
	if (im_lv_node_cpu(op, conn, &busy, &total, connfail) == -1)
		goto cleanup;
	if (cld_lv_node_sample(uri, busy, total, &dbusy, &dtotal) == -1 &&
	    !svc->cancelled(op) && svc->remaining_ms(op) > 2 * IM_LV_CPU_GAP_MS) {
		/* The first look at this node: a second sample shortly after. */
		im_lv_sleep_ms(IM_LV_CPU_GAP_MS);
		if (im_lv_node_cpu(op, conn, &busy, &total, connfail) == -1)
			goto cleanup;
		if (cld_lv_node_sample(uri, busy, total, &dbusy, &dtotal) == -1)
			dtotal = 0;
	}
	if ((have_mem = im_lv_node_mem(op, conn, &mtotal, &mavail, connfail)) == -1)
		goto cleanup;

	if ((ndoms = virConnectListAllDomains(conn, &doms,
	    VIR_CONNECT_LIST_DOMAINS_ACTIVE)) < 0) {
		ndoms = 0;
		*connfail = cld_lv_fail(op, conn, "cannot list the domains");
		goto cleanup;
	}
	if ((vms = open_memstream(&vmtext, &vmlen)) == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < ndoms; i++) {
		const char *name = virDomainGetName(doms[i]);

		if (name == NULL) {
			virResetLastError();
			continue;
		}
		if (cld_lv_dom_stats(op, uri, conn, doms[i], &st, connfail) == -1) {
			if (*connfail)
				goto cleanup;
			/*
			 * One domain's figures are not the host's health: leave
			 * it out, and cloudd asks vmm/libvirt about it, which
			 * says what is wrong with it.
			 */
			svc->log(op->drv, CLD_LOG_DEBUG, "'%s' left out: %s", name,
			    op->err->msg);
			cld_err_clear(op->err);
			continue;
		}
		/* Gone since the list, or stopped: not a running domain. */
		if (st.state == CLD_POLL_MISSING || st.state == CLD_POLL_SHUTOFF)
			continue;
		alloc += st.alloc_kb;
		vmcpu += st.cpu;
		rx += st.netrx;
		tx += st.nettx;
		fputs("VM = [ NAME = ", vms);
		im_lv_quoted(vms, name);
		fprintf(vms, ", DOMID = \"%d\", STATE = \"%s\", CPU = %.2f, "
		    "MEMORY = %llu, NETRX = %llu, NETTX = %llu ]\n", st.domid,
		    im_lv_state_name(st.state), st.cpu, st.memory_kb, st.netrx,
		    st.nettx);
	}
	if (fclose(vms) != 0) {
		vms = NULL;
		cld_err_set(op->err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	vms = NULL;

	tcpu = (double)ni.cpus * 100;
	if (dtotal > 0)
		usedcpu = (double)dbusy * tcpu / (double)dtotal;
	else    /* counters that stand still say nothing: the domains' use */
		usedcpu = vmcpu;
	if (usedcpu > tcpu)
		usedcpu = tcpu;
	if (have_mem == 0) {
		/* No node memory figures: what the running domains are given. */
		mtotal = ni.memory;
		mavail = alloc < mtotal ? mtotal - alloc : 0;
	}
	if (mavail > mtotal)
		mavail = mtotal;

	if ((f = open_memstream(&buf, &len)) == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	fputs("HYPERVISOR = ", f);
	im_lv_quoted(f, hv);
	fputs("\nARCH = ", f);
	im_lv_quoted(f, ni.model);
	if (hostname != NULL) {
		fputs("\nHOSTNAME = ", f);
		im_lv_quoted(f, hostname);
	}
	fprintf(f, "\nTOTALCPU = %.0f\nCPUSPEED = %u\n"
	    "TOTALMEMORY = %" PRIu64 "\nUSEDMEMORY = %" PRIu64
	    "\nFREEMEMORY = %" PRIu64 "\nUSEDCPU = %.0f\nFREECPU = %.0f\n"
	    "NETRX = %llu\nNETTX = %llu\n", tcpu, ni.mhz, mtotal,
	    mtotal - mavail, mavail, usedcpu, tcpu - usedcpu, rx, tx);
	if (vmtext != NULL)
		fputs(vmtext, f);
	if (fclose(f) != 0) {
		f = NULL;
		cld_err_set(op->err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	f = NULL;
	*report = buf;
	buf = NULL;
	rc = 0;
cleanup:
	if (vms != NULL)
		fclose(vms);
	if (f != NULL)
		fclose(f);
	free(vmtext);
	free(buf);
	for (i = 0; i < ndoms; i++)
		virDomainFree(doms[i]);
	free(doms);
	free(hostname);
	return rc;
}

static int
im_lv_monitor(struct cld_op *op, const char *host, unsigned int flags,
    char **report)
{
	const struct cld_services *svc = op->drv->svc;
	struct im_lv *il = op->drv->priv;
	virConnectPtr conn;
	char *uri = NULL;
	int rc = -1, tries, connfail = 0;

	if (flags != 0) {
		cld_err_set(op->err, CLD_EINVAL, "unknown flags 0x%x", flags);
		return -1;
	}
	if ((uri = cld_lv_uri(il->uri, host, op->err)) == NULL)
		return -1;
	for (tries = 0;; tries++) {
		if ((conn = cld_lv_connect(op, uri)) == NULL)
			break;
		rc = im_lv_probe(op, uri, conn, report, &connfail);
		if (rc == 0 || !connfail) {
			virConnectClose(conn);
			break;
		}
		cld_lv_lost(uri, conn);
		virConnectClose(conn);
		if (tries > 0 || svc->cancelled(op) || svc->remaining_ms(op) == 0)
			break;
		svc->log(op->drv, CLD_LOG_INFO,
		    "the connection to '%s' was lost (%s): connecting again", uri,
		    op->err->msg);
	}
	free(uri);
	return rc;
}

extern const struct cld_im_driver CLD_DRIVER_ENTRY(im_libvirt);

const struct cld_im_driver CLD_DRIVER_ENTRY(im_libvirt) = {
	.hdr = CLD_DRIVER_HEADER(CLD_CLASS_IM, struct cld_im_driver, "libvirt",
	    PACKAGE_VERSION, im_lv_init, im_lv_fini),
	.monitor = im_lv_monitor,
};
