/*
 * im/dummy: reports a host of a configured size without asking anyone.
 *
 * Each instance is one size of host (TOTALCPU, TOTALMEMORY, ...); a cluster
 * of mixed hosts is several instances with different options.  The report
 * has no VM vectors: the dummy hypervisor's domains live in vmm/dummy, whose
 * poll answers for them.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cloudd/driver.h>

#include "../dummy-common.h"

enum im_dummy_op {
	IM_DUMMY_MONITOR,
	IM_DUMMY_NOPS
};

static const char *const im_dummy_ops[IM_DUMMY_NOPS] = { "monitor" };

static const char *const im_dummy_options[] = { "TOTALCPU", "CPUSPEED",
	"TOTALMEMORY", "USEDCPU", "USEDMEMORY", "ARCH", NULL };

#define IM_DUMMY_NUMBER_MAX ((uint64_t)INT64_MAX)
#define IM_DUMMY_ARCH_MAX 32
#define IM_DUMMY_NETRX_STEP 1000 /* bytes "received" between two probes */
#define IM_DUMMY_NETTX_STEP 500

struct im_dummy {
	struct dummy_conf conf;
	uint64_t totalcpu;       /* percent of one core */
	uint64_t cpuspeed;       /* MHz */
	uint64_t totalmemory;    /* KiB */
	uint64_t usedcpu;
	uint64_t usedmemory;
	char arch[IM_DUMMY_ARCH_MAX + 1];
	pthread_mutex_t lock;    /* guards the counters */
	uint64_t netrx, nettx;
};

/*
 * Read option NAME as a whole number from MIN into *out (left alone if
 * unset).
 */
static int
im_dummy_conf_uint(struct cld_drv *drv, const char *name, uint64_t min,
    uint64_t *out, struct cld_err *err)
{
	const char *v = drv->svc->conf_get(drv, name);
	uint64_t n = 0;

	if (v == NULL)
		return 0;
	if (dummy_parse_uint(v, IM_DUMMY_NUMBER_MAX, &n) == -1) {
		cld_err_set(err, CLD_ECONFIG, "%s: '%s' is not a whole number",
		    name, v);
		return -1;
	}
	if (n < min) {
		cld_err_set(err, CLD_ECONFIG, "%s: '%s' is less than %llu", name,
		    v, (unsigned long long)min);
		return -1;
	}
	*out = n;
	return 0;
}

/* ARCH goes into the report quoted: letters, digits, '_', '-' and '.' only. */
static int
im_dummy_conf_arch(struct im_dummy *id, struct cld_drv *drv,
    struct cld_err *err)
{
	const char *v = drv->svc->conf_get(drv, "ARCH");
	size_t i;

	if (v == NULL)
		return 0;
	for (i = 0; v[i] != '\0'; i++)
		if (!isalnum((unsigned char)v[i]) && strchr("_-.", v[i]) == NULL)
			break;
	if (i == 0 || v[i] != '\0' || i > IM_DUMMY_ARCH_MAX) {
		cld_err_set(err, CLD_ECONFIG,
		    "ARCH: '%s' is not an architecture name", v);
		return -1;
	}
	memcpy(id->arch, v, i + 1);
	return 0;
}

static void
im_dummy_fini(struct cld_drv *drv)
{
	struct im_dummy *id = drv->priv;

	if (id == NULL)
		return;
	pthread_mutex_destroy(&id->lock);
	free(id);
	drv->priv = NULL;
}

static int
im_dummy_init(struct cld_drv *drv, struct cld_err *err)
{
	struct im_dummy *id = NULL;
	int rc = -1;

	if ((id = calloc(1, sizeof(*id))) == NULL) {
		cld_err_set(err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	id->totalcpu = 800;
	id->cpuspeed = 2400;
	id->totalmemory = 16777216;
	memcpy(id->arch, "x86_64", sizeof("x86_64"));
	if (dummy_conf_init(&id->conf, drv, "im", im_dummy_ops, IM_DUMMY_NOPS,
	    im_dummy_options, err) == -1 ||
	    im_dummy_conf_uint(drv, "TOTALCPU", 1, &id->totalcpu, err) == -1 ||
	    im_dummy_conf_uint(drv, "CPUSPEED", 1, &id->cpuspeed, err) == -1 ||
	    im_dummy_conf_uint(drv, "TOTALMEMORY", 1, &id->totalmemory,
	    err) == -1 ||
	    im_dummy_conf_uint(drv, "USEDCPU", 0, &id->usedcpu, err) == -1 ||
	    im_dummy_conf_uint(drv, "USEDMEMORY", 0, &id->usedmemory,
	    err) == -1 ||
	    im_dummy_conf_arch(id, drv, err) == -1)
		goto cleanup;
	if (id->usedcpu > id->totalcpu) {
		cld_err_set(err, CLD_ECONFIG,
		    "USEDCPU: %llu is more than TOTALCPU (%llu)",
		    (unsigned long long)id->usedcpu,
		    (unsigned long long)id->totalcpu);
		goto cleanup;
	}
	if (id->usedmemory > id->totalmemory) {
		cld_err_set(err, CLD_ECONFIG,
		    "USEDMEMORY: %llu is more than TOTALMEMORY (%llu)",
		    (unsigned long long)id->usedmemory,
		    (unsigned long long)id->totalmemory);
		goto cleanup;
	}
	if (pthread_mutex_init(&id->lock, NULL) != 0) {
		cld_err_set(err, CLD_EIO, "cannot create a mutex");
		goto cleanup;
	}
	drv->priv = id;
	id = NULL;
	rc = 0;
cleanup:
	free(id);
	return rc;
}

/* A malloc()ed string formatted from FMT, or NULL if out of memory. */
static CLD_PRINTF(1, 2) char *
im_dummy_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *buf = NULL;
	int n = 0;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (buf = malloc((size_t)n + 1)) == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(buf, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return buf;
}

/* Non-zero if HOST can go between double quotes in the report as it is. */
static int
im_dummy_host_quotable(const char *host)
{
	const unsigned char *p = (const unsigned char *)host;

	if (*p == '\0')
		return 0;
	for (; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			return 0;
	return 1;
}

static int
im_dummy_monitor(struct cld_op *op, const char *host, unsigned int flags,
    char **report)
{
	struct im_dummy *id = op->drv->priv;
	uint64_t netrx = 0, nettx = 0;
	char *buf = NULL;
	int rc = -1;

	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "monitor '%s'", host);
	if (dummy_begin(op, &id->conf, IM_DUMMY_MONITOR, flags, 0) == -1)
		return -1;
	if (!im_dummy_host_quotable(host)) {
		cld_err_set(op->err, CLD_EINVAL, "host name '%s' cannot be reported",
		    host);
		return -1;
	}
	pthread_mutex_lock(&id->lock);
	netrx = id->netrx += IM_DUMMY_NETRX_STEP;
	nettx = id->nettx += IM_DUMMY_NETTX_STEP;
	pthread_mutex_unlock(&id->lock);

	buf = im_dummy_asprintf(
	    "HYPERVISOR = \"dummy\"\n"
	    "HOSTNAME = \"%s\"\n"
	    "TOTALCPU = %llu\n"
	    "CPUSPEED = %llu\n"
	    "TOTALMEMORY = %llu\n"
	    "USEDMEMORY = %llu\n"
	    "FREEMEMORY = %llu\n"
	    "USEDCPU = %llu\n"
	    "FREECPU = %llu\n"
	    "NETRX = %llu\n"
	    "NETTX = %llu\n"
	    "ARCH = \"%s\"\n",
	    host, (unsigned long long)id->totalcpu,
	    (unsigned long long)id->cpuspeed,
	    (unsigned long long)id->totalmemory,
	    (unsigned long long)id->usedmemory,
	    (unsigned long long)(id->totalmemory - id->usedmemory),
	    (unsigned long long)id->usedcpu,
	    (unsigned long long)(id->totalcpu - id->usedcpu),
	    (unsigned long long)netrx, (unsigned long long)nettx, id->arch);
	if (buf == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	*report = buf;
	buf = NULL;
	rc = 0;
cleanup:
	free(buf);
	return rc;
}

extern const struct cld_im_driver CLD_DRIVER_ENTRY(im_dummy);

const struct cld_im_driver CLD_DRIVER_ENTRY(im_dummy) = {
	.hdr = CLD_DRIVER_HEADER(CLD_CLASS_IM, struct cld_im_driver, "dummy",
	    PACKAGE_VERSION, im_dummy_init, im_dummy_fini),
	.monitor = im_dummy_monitor,
};
