/*
 * libcloudd-libvirt: the connection cache and the samples that vmm/libvirt
 * and im/libvirt share in one process (see common.h for why it is a shared
 * library of its own).
 *
 * State: a list of hosts, one per URI, behind lv_lock.  A host holds its
 * cached connection, the CPU samples of its domains and of its node.
 * lv_lock is only ever held for short bookkeeping, never across a libvirt
 * call that may block: connecting is serialised per host by the host's
 * open_lock instead, so that a host that takes long to answer holds up only
 * the operations on that host.  The list is short (one entry per host a
 * driver has talked to) and entries live until the last reference goes, so
 * a pointer to one stays valid while the library is referenced.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/uri.h>
#include <libxml/xmlerror.h>

#include "common.h"

/* Remote connections: a keepalive every 5 s, dead after 3 unanswered. */
#define LV_KEEPALIVE_INTERVAL 5
#define LV_KEEPALIVE_COUNT 3
#define LV_URI_MAX 4096
#define LV_HOST_MAX 255
/* Samples of domains not seen for this long are dropped. */
#define LV_SAMPLE_TTL_NS (3600LL * 1000000000LL)
#define LV_PRUNE_EVERY_NS (600LL * 1000000000LL)

/* The last sample of one domain. */
struct lv_sample {
	struct lv_sample *next;
	char *name;
	int domid;                 /* the run it belongs to */
	int has_cpu;
	unsigned long long cputime; /* ns */
	int64_t at_ns;             /* CLOCK_MONOTONIC when taken */
	int64_t used_ns;           /* last looked at, for pruning */
	int devs_domid;            /* the run DEVS were read for; -2: never */
	char **devs;               /* its interfaces: target dev, else MAC */
	size_t ndevs;
};

struct lv_host {
	struct lv_host *next;
	char *uri;
	pthread_mutex_t open_lock;      /* held while connecting */
	virConnectPtr conn;             /* the cached connection, or NULL */
	_Atomic(virConnectPtr) closed;  /* set by libvirt's close notice */
	struct lv_sample *samples;
	int64_t pruned_ns;
	int node_has;                   /* node_busy/node_total hold a sample */
	uint64_t node_busy, node_total;
};

static pthread_mutex_t lv_lock = PTHREAD_MUTEX_INITIALIZER;
static int lv_refs;                     /* guarded by lv_lock */
static struct lv_host *lv_hosts;        /* guarded by lv_lock */

static pthread_once_t lv_once = PTHREAD_ONCE_INIT;
static int lv_once_rc = -1;
static char lv_once_msg[256];

static pthread_t lv_loop;
static int lv_loop_running;             /* guarded by lv_lock */
static atomic_int lv_loop_stop;

static int64_t
lv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* libvirt reports every error to a handler; ours drops it (read back later). */
static void
lv_silent(void *opaque, virErrorPtr e)
{
	(void)opaque;
	(void)e;
}

/* The same for libxml2, which libvirt parses with (a missing test:/// file). */
static void CLD_PRINTF(2, 3)
lv_xml_silent(void *ctx, const char *fmt, ...)
{
	(void)ctx;
	(void)fmt;
}

static void
lv_init_once(void)
{
	virErrorPtr e;

	xmlInitParser();
	/* This thread's handler, and the one threads start with. */
	xmlSetGenericErrorFunc(NULL, lv_xml_silent);
	xmlThrDefSetGenericErrorFunc(NULL, lv_xml_silent);
	virSetErrorFunc(NULL, lv_silent);
	if (virInitialize() < 0) {
		e = virGetLastError();
		snprintf(lv_once_msg, sizeof(lv_once_msg),
		    "cannot initialise libvirt: %s",
		    e != NULL && e->message != NULL ? e->message : "no reason given");
		return;
	}
	/* Keepalives and close notices of remote connections run on it. */
	if (virEventRegisterDefaultImpl() < 0) {
		e = virGetLastError();
		snprintf(lv_once_msg, sizeof(lv_once_msg),
		    "cannot set up libvirt's event loop: %s",
		    e != NULL && e->message != NULL ? e->message : "no reason given");
		virResetLastError();
		return;
	}
	lv_once_rc = 0;
}

static void *
lv_loop_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&lv_loop_stop))
		if (virEventRunDefaultImpl() < 0) {
			/* Only on an internal failure: do not spin. */
			struct timespec ts = { 0, 100000000L };

			virResetLastError();
			nanosleep(&ts, NULL);
		}
	return NULL;
}

/* A timer that fires at once, so that the loop looks at lv_loop_stop. */
static void
lv_wake(int timer, void *opaque)
{
	(void)timer;
	(void)opaque;
}

int
cld_lv_ref(struct cld_err *err)
{
	sigset_t all, old;
	int e, rc = -1;

	pthread_once(&lv_once, lv_init_once);
	if (lv_once_rc != 0) {
		cld_err_set(err, CLD_EDRIVER, "%s", lv_once_msg);
		return -1;
	}
	pthread_mutex_lock(&lv_lock);
	if (!lv_loop_running) {
		atomic_store(&lv_loop_stop, 0);
		/* The loop thread takes no signal: they are the daemon's. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		e = pthread_create(&lv_loop, NULL, lv_loop_main, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (e != 0) {
			cld_err_sys(err, CLD_EIO, e,
			    "cannot start libvirt's event loop thread: %s",
			    strerror(e));
			goto cleanup;
		}
		lv_loop_running = 1;
	}
	lv_refs++;
	rc = 0;
cleanup:
	pthread_mutex_unlock(&lv_lock);
	return rc;
}

static void
lv_sample_free(struct lv_sample *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->ndevs; i++)
		free(s->devs[i]);
	free(s->devs);
	free(s->name);
	free(s);
}

static void lv_closed(virConnectPtr conn, int reason, void *opaque);

/* Drop the cache's reference on CONN, which is no longer in any host. */
static void
lv_conn_release(virConnectPtr conn)
{
	if (conn == NULL)
		return;
	virConnectUnregisterCloseCallback(conn, lv_closed);
	virConnectClose(conn);
	virResetLastError();
}

void
cld_lv_unref(void)
{
	struct lv_host *hosts = NULL, *h;
	struct lv_sample *s;
	int stop = 0, timer;

	pthread_mutex_lock(&lv_lock);
	if (lv_refs > 0 && --lv_refs == 0) {
		hosts = lv_hosts;
		lv_hosts = NULL;
		stop = lv_loop_running;
		lv_loop_running = 0;
	}
	pthread_mutex_unlock(&lv_lock);
	while ((h = hosts) != NULL) {
		hosts = h->next;
		lv_conn_release(h->conn);
		while ((s = h->samples) != NULL) {
			h->samples = s->next;
			lv_sample_free(s);
		}
		pthread_mutex_destroy(&h->open_lock);
		free(h->uri);
		free(h);
	}
	if (stop) {
		atomic_store(&lv_loop_stop, 1);
		timer = virEventAddTimeout(0, lv_wake, NULL, NULL);
		pthread_join(lv_loop, NULL);
		if (timer >= 0)
			virEventRemoveTimeout(timer);
		virResetLastError();
	}
}

/* -- URIs -- */

/* Non-zero if HOST is a host name as the core allows them. */
static int
lv_host_ok(const char *host)
{
	size_t n = host != NULL ? strlen(host) : 0;

	if (n == 0 || n > LV_HOST_MAX)
		return 0;
	return strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-_") == n;
}

/* Why URI is not a sane URI, in WHY; or 0 if it is one. */
static int
lv_uri_bad(const char *uri, char *why, size_t whysz)
{
	const unsigned char *p;
	xmlURIPtr u = NULL;

	if (strlen(uri) > LV_URI_MAX) {
		snprintf(why, whysz, "is longer than %d bytes", LV_URI_MAX);
		return -1;
	}
	for (p = (const unsigned char *)uri; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f) {
			snprintf(why, whysz, "has a blank or a control character");
			return -1;
		}
	if ((u = xmlParseURI(uri)) == NULL) {
		snprintf(why, whysz, "is not a URI");
		return -1;
	}
	if (u->scheme == NULL || u->scheme[0] == '\0') {
		xmlFreeURI(u);
		snprintf(why, whysz,
		    "has no scheme (a URI such as qemu+ssh://HOST/system)");
		return -1;
	}
	xmlFreeURI(u);
	return 0;
}

/* PATTERN with each "HOST" replaced by HOST, malloc()ed; NULL if out of memory. */
static char *
lv_subst(const char *pattern, const char *host)
{
	size_t n = 0, hl = strlen(host), len;
	const char *p, *q;
	char *out, *w;

	for (p = pattern; (q = strstr(p, "HOST")) != NULL; p = q + 4)
		n++;
	len = strlen(pattern) + n * hl + 1;
	if ((out = malloc(len)) == NULL)
		return NULL;
	w = out;
	for (p = pattern; (q = strstr(p, "HOST")) != NULL; p = q + 4) {
		memcpy(w, p, (size_t)(q - p));
		w += q - p;
		memcpy(w, host, hl);
		w += hl;
	}
	memcpy(w, p, strlen(p) + 1);
	return out;
}

int
cld_lv_uri_check(const char *pattern, const char *option, struct cld_err *err)
{
	char why[128], *uri = NULL;
	int rc = -1;

	if (pattern == NULL || pattern[0] == '\0') {
		cld_err_set(err, CLD_ECONFIG, "%s: the URI is empty", option);
		return -1;
	}
	if ((uri = lv_subst(pattern, "node1")) == NULL) {
		cld_err_set(err, CLD_EIO, "out of memory");
		return -1;
	}
	if (lv_uri_bad(uri, why, sizeof(why)) != 0)
		cld_err_set(err, CLD_ECONFIG, "%s: '%s' %s", option, pattern, why);
	else
		rc = 0;
	free(uri);
	return rc;
}

char *
cld_lv_uri(const char *pattern, const char *host, struct cld_err *err)
{
	char why[128], *uri = NULL;

	if (!lv_host_ok(host)) {
		cld_err_set(err, CLD_EINVAL,
		    "'%s' is not a host name (letters, digits, '.', '-', '_')",
		    host != NULL ? host : "");
		return NULL;
	}
	if ((uri = lv_subst(pattern, host)) == NULL) {
		cld_err_set(err, CLD_EIO, "out of memory");
		return NULL;
	}
	if (lv_uri_bad(uri, why, sizeof(why)) != 0) {
		cld_err_set(err, CLD_EINVAL, "the URI of host '%s', '%s', %s",
		    host, uri, why);
		free(uri);
		return NULL;
	}
	return uri;
}

/* -- connections -- */

/* The host of URI, made if there is none.  Called with lv_lock held. */
static struct lv_host *
lv_host_get(const char *uri)
{
	struct lv_host *h;

	for (h = lv_hosts; h != NULL; h = h->next)
		if (strcmp(h->uri, uri) == 0)
			return h;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	if ((h->uri = strdup(uri)) == NULL) {
		free(h);
		return NULL;
	}
	pthread_mutex_init(&h->open_lock, NULL);
	atomic_init(&h->closed, NULL);
	h->next = lv_hosts;
	lv_hosts = h;
	return h;
}

/* The host of URI, or NULL.  Called with lv_lock held. */
static struct lv_host *
lv_host_find(const char *uri)
{
	struct lv_host *h;

	for (h = lv_hosts; h != NULL; h = h->next)
		if (strcmp(h->uri, uri) == 0)
			return h;
	return NULL;
}

/*
 * libvirt's notice that a connection closed (the peer went away, a
 * keepalive timed out), on the event loop thread.  It only marks the
 * connection; the next cld_lv_connect drops it.  OPAQUE is the host, which
 * outlives every connection registered with it.
 */
static void
lv_closed(virConnectPtr conn, int reason, void *opaque)
{
	struct lv_host *h = opaque;

	(void)reason;
	atomic_store(&h->closed, conn);
}

/* A new reference on H's connection if it has a live one.  lv_lock held. */
static virConnectPtr
lv_take(struct lv_host *h)
{
	if (h->conn == NULL || atomic_load(&h->closed) == h->conn)
		return NULL;
	if (virConnectRef(h->conn) < 0) {
		virResetLastError();
		return NULL;
	}
	return h->conn;
}

/* Lock H's open_lock, giving up at OP's deadline.  Returns 0 or an errno. */
static int
lv_open_lock(struct cld_op *op, struct lv_host *h)
{
	struct timespec ts;
	int64_t left;

	if (op->deadline_ms <= 0)
		return pthread_mutex_lock(&h->open_lock);
	left = op->drv->svc->remaining_ms(op);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(left / 1000);
	ts.tv_nsec += (long)(left % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_mutex_timedlock(&h->open_lock, &ts);
}

virConnectPtr
cld_lv_connect(struct cld_op *op, const char *uri)
{
	struct lv_host *h = NULL;
	virConnectPtr c = NULL, old = NULL;
	virErrorPtr e;
	char msg[CLD_ERR_MSG_MAX];
	int locked = 0;

	pthread_mutex_lock(&lv_lock);
	if ((h = lv_host_get(uri)) != NULL)
		c = lv_take(h);
	pthread_mutex_unlock(&lv_lock);
	if (h == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		return NULL;
	}
	if (c != NULL) {
		/* For a remote one, a local check: the socket is still open. */
		if (virConnectIsAlive(c) == 1)
			return c;
		virResetLastError();
		cld_lv_lost(uri, c);
		virConnectClose(c);
		c = NULL;
	}
	if (lv_open_lock(op, h) != 0) {
		cld_err_set(op->err, CLD_ETIMEDOUT,
		    "still connecting to '%s' at the deadline (another operation started it)",
		    uri);
		return NULL;
	}
	locked = 1;
	/* Someone else may have connected while this one waited. */
	pthread_mutex_lock(&lv_lock);
	c = lv_take(h);
	pthread_mutex_unlock(&lv_lock);
	if (c != NULL)
		goto cleanup;
	if ((c = virConnectOpen(uri)) == NULL) {
		e = virGetLastError();
		snprintf(msg, sizeof(msg), "%s",
		    e != NULL && e->message != NULL ? e->message : "no reason given");
		cld_err_set(op->err, CLD_EDRIVER, "cannot connect to '%s': libvirt: %s",
		    uri, msg);
		virResetLastError();
		goto cleanup;
	}
	virConnSetErrorFunc(c, NULL, lv_silent);
	/* Local drivers (test:///) have neither: that is fine. */
	if (virConnectSetKeepAlive(c, LV_KEEPALIVE_INTERVAL,
	    LV_KEEPALIVE_COUNT) < 0)
		virResetLastError();
	if (virConnectRegisterCloseCallback(c, lv_closed, h, NULL) < 0)
		virResetLastError();
	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "connected to '%s'", uri);
	pthread_mutex_lock(&lv_lock);
	old = h->conn;
	h->conn = c;
	atomic_store(&h->closed, NULL);
	/* One reference for the cache, one for the caller. */
	if (virConnectRef(c) < 0)
		h->conn = NULL;
	pthread_mutex_unlock(&lv_lock);
	lv_conn_release(old);
cleanup:
	if (locked)
		pthread_mutex_unlock(&h->open_lock);
	return c;
}

void
cld_lv_lost(const char *uri, virConnectPtr conn)
{
	struct lv_host *h;
	virConnectPtr drop = NULL;

	pthread_mutex_lock(&lv_lock);
	if ((h = lv_host_find(uri)) != NULL && h->conn == conn) {
		drop = h->conn;
		h->conn = NULL;
	}
	pthread_mutex_unlock(&lv_lock);
	lv_conn_release(drop);
}

/* -- errors -- */

/* SRC into DST on one line: control characters become blanks, runs of blanks one. */
static void
lv_one_line(char *dst, size_t dstsz, const char *src)
{
	size_t n = 0;
	int blank = 0;

	for (; *src != '\0' && n + 1 < dstsz; src++) {
		unsigned char ch = (unsigned char)*src;

		if (ch < ' ' || ch == 0x7f || ch == ' ') {
			blank = n > 0;
			continue;
		}
		if (blank && n + 2 < dstsz)
			dst[n++] = ' ';
		blank = 0;
		dst[n++] = (char)ch;
	}
	dst[n] = '\0';
}

int
cld_lv_fail(struct cld_op *op, virConnectPtr conn, const char *fmt, ...)
{
	char what[CLD_ERR_MSG_MAX / 2], msg[CLD_ERR_MSG_MAX];
	virErrorPtr e = virGetLastError();
	int code = CLD_EDRIVER, connerr = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (e != NULL && e->message != NULL)
		lv_one_line(msg, sizeof(msg), e->message);
	else
		snprintf(msg, sizeof(msg), "failed without saying why");
	if (e != NULL) {
		if (e->code == VIR_ERR_NO_SUPPORT)
			code = CLD_ENOTSUP;
		/* VIR_FROM_RPC: the client's own transport, not the hypervisor. */
		connerr = e->domain == VIR_FROM_RPC ||
		    e->code == VIR_ERR_NO_CONNECT ||
		    e->code == VIR_ERR_INVALID_CONN || e->code == VIR_ERR_RPC;
	}
	cld_err_set(op->err, code, "%s: libvirt: %s", what, msg);
	virResetLastError();
	if (!connerr && conn != NULL && virConnectIsAlive(conn) == 0)
		connerr = 1;
	virResetLastError();
	return connerr;
}

int
cld_lv_last_code(void)
{
	return virGetLastErrorCode();
}

/* -- samples -- */

/* The sample of NAME on H, made if there is none.  lv_lock held. */
static struct lv_sample *
lv_sample_get(struct lv_host *h, const char *name, int64_t now)
{
	struct lv_sample *s, **link;

	if (now - h->pruned_ns > LV_PRUNE_EVERY_NS) {
		h->pruned_ns = now;
		for (link = &h->samples; (s = *link) != NULL;) {
			if (now - s->used_ns > LV_SAMPLE_TTL_NS) {
				*link = s->next;
				lv_sample_free(s);
			} else {
				link = &s->next;
			}
		}
	}
	for (s = h->samples; s != NULL; s = s->next)
		if (strcmp(s->name, name) == 0)
			break;
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return NULL;
		if ((s->name = strdup(name)) == NULL) {
			free(s);
			return NULL;
		}
		s->devs_domid = -2;
		s->next = h->samples;
		h->samples = s;
	}
	s->used_ns = now;
	return s;
}

void
cld_lv_forget(const char *uri, const char *name)
{
	struct lv_sample *s = NULL, **link;
	struct lv_host *h;

	pthread_mutex_lock(&lv_lock);
	if ((h = lv_host_find(uri)) != NULL)
		for (link = &h->samples; (s = *link) != NULL; link = &s->next)
			if (strcmp(s->name, name) == 0) {
				*link = s->next;
				break;
			}
	pthread_mutex_unlock(&lv_lock);
	lv_sample_free(s);
}

int
cld_lv_node_sample(const char *uri, uint64_t busy, uint64_t total,
    uint64_t *dbusy, uint64_t *dtotal)
{
	struct lv_host *h;
	int rc = -1;

	pthread_mutex_lock(&lv_lock);
	if ((h = lv_host_get(uri)) != NULL) {
		if (h->node_has && busy >= h->node_busy &&
		    total >= h->node_total) {
			*dbusy = busy - h->node_busy;
			*dtotal = total - h->node_total;
			rc = 0;
		}
		h->node_busy = busy;
		h->node_total = total;
		h->node_has = 1;
	}
	pthread_mutex_unlock(&lv_lock);
	return rc;
}

static int
lv_state(int s)
{
	switch (s) {
	case VIR_DOMAIN_RUNNING:
	case VIR_DOMAIN_BLOCKED:
	case VIR_DOMAIN_SHUTDOWN:      /* on its way down, still running */
		return CLD_POLL_RUNNING;
	case VIR_DOMAIN_PAUSED:
	case VIR_DOMAIN_PMSUSPENDED:
		return CLD_POLL_PAUSED;
	case VIR_DOMAIN_SHUTOFF:
		return CLD_POLL_SHUTOFF;
	case VIR_DOMAIN_CRASHED:
		return CLD_POLL_CRASHED;
	default:
		return CLD_POLL_UNKNOWN;
	}
}

/*
 * The interfaces of the domain in XML (its live description): each one's
 * target device, else its MAC address, both of which
 * virDomainInterfaceStats takes.  Returns 0, or -1 if XML does not parse or
 * memory runs out.
 */
static int
lv_xml_devs(const char *xml, char ***devs, size_t *ndevs)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr root, d, i, k;
	xmlChar *v = NULL;
	char **list = NULL, **nl;
	size_t n = 0;
	int rc = -1;

	doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL || (root = xmlDocGetRootElement(doc)) == NULL)
		goto cleanup;
	for (d = root->children; d != NULL; d = d->next) {
		if (d->type != XML_ELEMENT_NODE ||
		    !xmlStrEqual(d->name, BAD_CAST "devices"))
			continue;
		for (i = d->children; i != NULL; i = i->next) {
			if (i->type != XML_ELEMENT_NODE ||
			    !xmlStrEqual(i->name, BAD_CAST "interface"))
				continue;
			v = NULL;
			for (k = i->children; k != NULL && v == NULL; k = k->next)
				if (k->type == XML_ELEMENT_NODE &&
				    xmlStrEqual(k->name, BAD_CAST "target"))
					v = xmlGetProp(k, BAD_CAST "dev");
			for (k = i->children; k != NULL && v == NULL; k = k->next)
				if (k->type == XML_ELEMENT_NODE &&
				    xmlStrEqual(k->name, BAD_CAST "mac"))
					v = xmlGetProp(k, BAD_CAST "address");
			if (v == NULL)
				continue;
			if ((nl = realloc(list, (n + 1) * sizeof(*list))) == NULL)
				goto cleanup;
			list = nl;
			if ((list[n] = strdup((const char *)v)) == NULL)
				goto cleanup;
			n++;
			xmlFree(v);
			v = NULL;
		}
	}
	*devs = list;
	*ndevs = n;
	list = NULL;
	n = 0;
	rc = 0;
cleanup:
	xmlFree(v);
	while (n > 0)
		free(list[--n]);
	free(list);
	xmlFreeDoc(doc);
	return rc;
}

static void
lv_devs_free(char **devs, size_t n)
{
	while (n > 0)
		free(devs[--n]);
	free(devs);
}

/* A copy of DEVS (N of them), or NULL if N is 0 or memory runs out. */
static char **
lv_devs_dup(char *const *devs, size_t n)
{
	char **c;
	size_t i;

	if (n == 0 || (c = calloc(n, sizeof(*c))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if ((c[i] = strdup(devs[i])) == NULL) {
			lv_devs_free(c, i);
			return NULL;
		}
	return c;
}

int
cld_lv_dom_stats(struct cld_op *op, const char *uri, virConnectPtr conn,
    virDomainPtr dom, struct cld_lv_stats *st, int *connfail)
{
	virDomainMemoryStatStruct ms[VIR_DOMAIN_MEMORY_STAT_NR];
	virDomainInterfaceStatsStruct is;
	const char *name = virDomainGetName(dom);
	struct lv_sample *s;
	struct lv_host *h;
	virDomainInfo info;
	char **devs = NULL, **got = NULL, *xml = NULL;
	size_t ndevs = 0, ngot = 0, i;
	unsigned int id;
	int64_t now;
	int n, need_devs = 1, rc = -1;

	memset(st, 0, sizeof(*st));
	st->domid = -1;
	st->state = CLD_POLL_UNKNOWN;
	*connfail = 0;
	if (name == NULL) {
		*connfail = cld_lv_fail(op, conn, "cannot read a domain's name");
		return -1;
	}
	if (virDomainGetInfo(dom, &info) < 0) {
		/* Gone since it was looked up or listed. */
		if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) {
			virResetLastError();
			st->state = CLD_POLL_MISSING;
			return 0;
		}
		*connfail = cld_lv_fail(op, conn, "cannot read the state of '%s'",
		    name);
		return -1;
	}
	now = lv_now_ns();
	st->state = lv_state(info.state);
	st->alloc_kb = info.memory;
	st->memory_kb = info.memory;
	if ((id = virDomainGetID(dom)) != (unsigned int)-1)
		st->domid = (int)id;
	virResetLastError();
	if (st->state != CLD_POLL_RUNNING && st->state != CLD_POLL_PAUSED)
		return 0;

	/* CPU: the time used since the last sample, whoever took it. */
	pthread_mutex_lock(&lv_lock);
	if ((h = lv_host_get(uri)) != NULL &&
	    (s = lv_sample_get(h, name, now)) != NULL) {
		if (s->has_cpu && s->domid == st->domid &&
		    info.cpuTime >= s->cputime && now > s->at_ns)
			st->cpu = (double)(info.cpuTime - s->cputime) * 100.0 /
			    (double)(now - s->at_ns);
		s->has_cpu = 1;
		s->domid = st->domid;
		s->cputime = info.cpuTime;
		s->at_ns = now;
		if (s->devs_domid == st->domid) {
			need_devs = 0;
			ndevs = s->ndevs;
			devs = lv_devs_dup(s->devs, s->ndevs);
			if (devs == NULL)
				ndevs = 0;
		}
	}
	pthread_mutex_unlock(&lv_lock);

	/* Memory in use: the guest's resident size, where the hypervisor says. */
	n = virDomainMemoryStats(dom, ms, VIR_DOMAIN_MEMORY_STAT_NR, 0);
	for (i = 0; n > 0 && i < (size_t)n; i++)
		if (ms[i].tag == VIR_DOMAIN_MEMORY_STAT_RSS && ms[i].val > 0)
			st->memory_kb = ms[i].val;
	if (n < 0) {
		/* Not every hypervisor has them; a dead connection is another matter. */
		if (virConnectIsAlive(conn) == 0) {
			*connfail = cld_lv_fail(op, conn,
			    "cannot read the memory of '%s'", name);
			goto cleanup;
		}
		virResetLastError();
	}

	/* Network: the interfaces of this run, read once from its live XML. */
	if (need_devs) {
		if ((xml = virDomainGetXMLDesc(dom, 0)) == NULL) {
			*connfail = cld_lv_fail(op, conn,
			    "cannot read the description of '%s'", name);
			goto cleanup;
		}
		if (lv_xml_devs(xml, &devs, &ndevs) < 0) {
			cld_err_set(op->err, CLD_EDRIVER,
			    "cannot read the interfaces of '%s' in its XML", name);
			goto cleanup;
		}
		got = lv_devs_dup(devs, ndevs);
		ngot = got != NULL ? ndevs : 0;
		pthread_mutex_lock(&lv_lock);
		if ((h = lv_host_find(uri)) != NULL &&
		    (s = lv_sample_get(h, name, now)) != NULL) {
			lv_devs_free(s->devs, s->ndevs);
			s->devs = got;
			s->ndevs = ngot;
			s->devs_domid = st->domid;
			got = NULL;
			ngot = 0;
		}
		pthread_mutex_unlock(&lv_lock);
	}
	for (i = 0; i < ndevs; i++) {
		if (virDomainInterfaceStats(dom, devs[i], &is, sizeof(is)) < 0) {
			/* An interface without counters (yet): count it as 0. */
			virResetLastError();
			continue;
		}
		if (is.rx_bytes > 0)
			st->netrx += (unsigned long long)is.rx_bytes;
		if (is.tx_bytes > 0)
			st->nettx += (unsigned long long)is.tx_bytes;
	}
	rc = 0;
cleanup:
	free(xml);
	lv_devs_free(devs, ndevs);
	lv_devs_free(got, ngot);
	return rc;
}
