/*
 * vmm/dummy: a hypervisor that only exists in memory (and, with STATE, in
 * one file that outlives the daemon).
 *
 * Each instance keeps a table of domains keyed by (host, name), each running
 * or paused, so that deploy, poll, migrate and the rest behave as a real
 * hypervisor's would (idempotently) at no cost, for tests and benchmarks.
 * Saved domains are kept in a second table keyed by (path, name) until they
 * are restored.  Both are chained hash tables that double as they fill,
 * behind one mutex per instance: every operation is O(1).
 *
 * Options (see cloudd-dummy(7)): the common ones of dummy-common.h,
 * CPU_USAGE and MEMORY_USAGE for the figures poll reports, and STATE.
 *
 * STATE names a file holding both tables and the domid counter, so that the
 * domains outlive a restart of the daemon as a real hypervisor's do.  It is
 * read by init and rewritten whole (a temporary file in the same directory,
 * renamed over it) after every change, under the instance's mutex: that
 * costs O(domains) per change, which is why without STATE nothing touches a
 * file.  Poll does not write: the network counters are saved with the next
 * change.  If a write fails the operation fails with CLD_EIO but its change
 * stays in memory, and the next successful operation writes again; a retry,
 * finding the change made, then succeeds.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cloudd/driver.h>

#include "../dummy-common.h"

enum vmm_dummy_op {
	VMM_DUMMY_DEPLOY,
	VMM_DUMMY_SHUTDOWN,
	VMM_DUMMY_DESTROY,
	VMM_DUMMY_REBOOT,
	VMM_DUMMY_SUSPEND,
	VMM_DUMMY_RESUME,
	VMM_DUMMY_SAVE,
	VMM_DUMMY_RESTORE,
	VMM_DUMMY_MIGRATE,
	VMM_DUMMY_POLL,
	VMM_DUMMY_NOPS
};

static const char *const vmm_dummy_ops[VMM_DUMMY_NOPS] = {
	"deploy", "shutdown", "destroy", "reboot", "suspend", "resume", "save",
	"restore", "migrate", "poll",
};

static const char *const vmm_dummy_options[] = { "CPU_USAGE", "MEMORY_USAGE",
	"STATE", NULL };

#define VMM_DUMMY_CPU_USAGE_MAX 1000   /* a VM with many VCPUs may use more than it reserves */
#define VMM_DUMMY_BUCKETS_MIN 64
#define VMM_DUMMY_DOMID_MAX 24         /* a 64-bit decimal and its NUL */
#define VMM_DUMMY_NETRX_STEP 1000      /* bytes "received" between two polls */
#define VMM_DUMMY_NETTX_STEP 500
#define VMM_DUMMY_STATE_MAGIC "cloudd-vmm-dummy\t1"   /* a state file's first line */
#define VMM_DUMMY_STATE_FIELDS 7       /* of a domain or saved line */

/* SHUTOFF is not kept: a shut down or destroyed domain leaves the table. */
enum vmm_dummy_state {
	VMM_DUMMY_RUNNING,
	VMM_DUMMY_PAUSED,
};

/*
 * A domain, or a saved one.  Its key is two strings (host and name, or the
 * save file's path and the name) kept in the same allocation.
 */
struct vmm_dummy_dom {
	struct vmm_dummy_dom *next;    /* in its bucket */
	uint64_t hash;
	const char *k1;                /* host, or save path */
	const char *k2;                /* the VM's name */
	enum vmm_dummy_state state;
	unsigned long long domid;
	uint64_t netrx, nettx;         /* bytes since boot */
	char buf[];                    /* k1 and k2 */
};

struct vmm_dummy_table {
	struct vmm_dummy_dom **buckets;
	size_t nbuckets;               /* a power of two */
	size_t n;
};

struct vmm_dummy {
	struct dummy_conf conf;
	double cpu_usage;              /* CPU_USAGE */
	double memory_usage;           /* MEMORY_USAGE */
	pthread_mutex_t lock;          /* guards what follows */
	struct vmm_dummy_table doms;   /* by (host, name) */
	struct vmm_dummy_table saved;  /* by (path, name) */
	unsigned long long next_domid;
	const char *state;             /* STATE, or NULL: no file at all */
	char *state_tmp;               /* STATE ".XXXXXX", for mkstemp */
	int dirty;                     /* the last write failed: the file is behind */
};

/* FNV-1a over both strings, with the NUL between them. */
static uint64_t
vmm_dummy_hash(const char *k1, const char *k2)
{
	uint64_t h = 14695981039346656037ULL;
	const unsigned char *p;

	for (p = (const unsigned char *)k1; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ULL;
	h *= 1099511628211ULL;
	for (p = (const unsigned char *)k2; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static int
vmm_dummy_table_init(struct vmm_dummy_table *t)
{
	t->n = 0;
	t->nbuckets = VMM_DUMMY_BUCKETS_MIN;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	return t->buckets == NULL ? -1 : 0;
}

static void
vmm_dummy_table_release(struct vmm_dummy_table *t)
{
	struct vmm_dummy_dom *d, *next;
	size_t i;

	if (t->buckets == NULL)
		return;
	for (i = 0; i < t->nbuckets; i++)
		for (d = t->buckets[i]; d != NULL; d = next) {
			next = d->next;
			free(d);
		}
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = t->n = 0;
}

/* The link pointing at the entry (K1, K2): *link is NULL if there is none. */
static struct vmm_dummy_dom **
vmm_dummy_table_link(struct vmm_dummy_table *t, const char *k1,
    const char *k2, uint64_t hash)
{
	struct vmm_dummy_dom **link = &t->buckets[hash & (t->nbuckets - 1)];

	for (; *link != NULL; link = &(*link)->next)
		if ((*link)->hash == hash && strcmp((*link)->k2, k2) == 0 &&
		    strcmp((*link)->k1, k1) == 0)
			break;
	return link;
}

static struct vmm_dummy_dom *
vmm_dummy_table_get(struct vmm_dummy_table *t, const char *k1, const char *k2)
{
	return *vmm_dummy_table_link(t, k1, k2, vmm_dummy_hash(k1, k2));
}

/* Unlink and return the entry (K1, K2), or NULL. */
static struct vmm_dummy_dom *
vmm_dummy_table_remove(struct vmm_dummy_table *t, const char *k1,
    const char *k2)
{
	struct vmm_dummy_dom **link, *d;

	link = vmm_dummy_table_link(t, k1, k2, vmm_dummy_hash(k1, k2));
	if ((d = *link) == NULL)
		return NULL;
	*link = d->next;
	d->next = NULL;
	t->n--;
	return d;
}

/*
 * Add D, whose key is not in T yet.  Doubles the buckets when there are as
 * many entries; if that allocation fails the table just gets fuller.
 */
static void
vmm_dummy_table_add(struct vmm_dummy_table *t, struct vmm_dummy_dom *d)
{
	struct vmm_dummy_dom **nb, *e, *next;
	size_t i, nn;

	if (t->n >= t->nbuckets && t->nbuckets <= SIZE_MAX / 2 / sizeof(*nb)) {
		nn = t->nbuckets * 2;
		if ((nb = calloc(nn, sizeof(*nb))) != NULL) {
			for (i = 0; i < t->nbuckets; i++)
				for (e = t->buckets[i]; e != NULL; e = next) {
					next = e->next;
					e->next = nb[e->hash & (nn - 1)];
					nb[e->hash & (nn - 1)] = e;
				}
			free(t->buckets);
			t->buckets = nb;
			t->nbuckets = nn;
		}
	}
	d->next = t->buckets[d->hash & (t->nbuckets - 1)];
	t->buckets[d->hash & (t->nbuckets - 1)] = d;
	t->n++;
}

/* A new entry keyed (K1, K2), copying the rest from FROM if not NULL. */
static struct vmm_dummy_dom *
vmm_dummy_dom_new(const char *k1, const char *k2,
    const struct vmm_dummy_dom *from)
{
	size_t l1 = strlen(k1) + 1, l2 = strlen(k2) + 1;
	struct vmm_dummy_dom *d = NULL;

	if (l1 > SIZE_MAX - sizeof(*d) - l2)
		return NULL;
	if ((d = malloc(sizeof(*d) + l1 + l2)) == NULL)
		return NULL;
	if (from != NULL)
		*d = *from;
	else
		memset(d, 0, sizeof(*d));
	d->next = NULL;
	memcpy(d->buf, k1, l1);
	memcpy(d->buf + l1, k2, l2);
	d->k1 = d->buf;
	d->k2 = d->buf + l1;
	d->hash = vmm_dummy_hash(k1, k2);
	return d;
}

/* Read option NAME as a decimal from 0 to MAX into *out (left alone if unset). */
static int
vmm_dummy_conf_ratio(struct cld_drv *drv, const char *name, int64_t max,
    double *out, struct cld_err *err)
{
	const char *v = drv->svc->conf_get(drv, name);
	int64_t micro = 0;

	if (v == NULL)
		return 0;
	if (dummy_parse_decimal(v, 1000000, max, &micro) != 0) {
		cld_err_set(err, CLD_ECONFIG, "%s: '%s' is not a number from 0 to %lld",
		    name, v, (long long)max);
		return -1;
	}
	*out = (double)micro / 1e6;
	return 0;
}

/* -- STATE: the tables in a file -- */

/*
 * The file is text, one record a line, fields separated by tabs:
 *
 *   cloudd-vmm-dummy	1
 *   next_domid	4
 *   domain	HOST	NAME	running|paused	DOMID	NETRX	NETTX
 *   saved	PATH	NAME	running|paused	DOMID	NETRX	NETTX
 *
 * In HOST, NAME and PATH a backslash, tab, newline or carriage return is
 * written \\, \t, \n or \r, so no name can split a line or a field.
 */

static const char *const vmm_dummy_state_names[] = { "running", "paused" };

static void
vmm_dummy_state_put(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '\\': fputs("\\\\", f); break;
		case '\t': fputs("\\t", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		default: putc(*s, f); break;
		}
	}
}

static void
vmm_dummy_state_put_table(FILE *f, const char *kind,
    const struct vmm_dummy_table *t)
{
	const struct vmm_dummy_dom *d;
	size_t i;

	for (i = 0; i < t->nbuckets; i++)
		for (d = t->buckets[i]; d != NULL; d = d->next) {
			fputs(kind, f);
			putc('\t', f);
			vmm_dummy_state_put(f, d->k1);
			putc('\t', f);
			vmm_dummy_state_put(f, d->k2);
			fprintf(f, "\t%s\t%llu\t%" PRIu64 "\t%" PRIu64 "\n",
			    vmm_dummy_state_names[d->state], d->domid, d->netrx,
			    d->nettx);
		}
}

/*
 * Write both tables to STATE: a new file beside it, renamed over it, so
 * that a crash leaves the old file or the new one, never half of one.
 * Called with the lock held (or before the instance is shared).  Returns 0,
 * or -1 with CLD_EIO in err.
 */
static int
vmm_dummy_state_write(struct vmm_dummy *vd, struct cld_err *err)
{
	size_t len = strlen(vd->state_tmp);
	FILE *f = NULL;
	int fd = -1, rc = -1, e = 0;

	memcpy(vd->state_tmp + len - 6, "XXXXXX", 6);
	if ((fd = mkstemp(vd->state_tmp)) == -1) {
		e = errno;
		goto cleanup;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		e = errno;
		close(fd);
		goto unlink;
	}
	fprintf(f, "%s\nnext_domid\t%llu\n", VMM_DUMMY_STATE_MAGIC,
	    vd->next_domid);
	vmm_dummy_state_put_table(f, "domain", &vd->doms);
	vmm_dummy_state_put_table(f, "saved", &vd->saved);
	if (ferror(f)) {
		e = errno != 0 ? errno : EIO;
		fclose(f);
		goto unlink;
	}
	if (fclose(f) != 0) {
		e = errno;
		goto unlink;
	}
	if (rename(vd->state_tmp, vd->state) == -1) {
		e = errno;
		goto unlink;
	}
	rc = 0;
	goto cleanup;
unlink:
	unlink(vd->state_tmp);
cleanup:
	if (rc == -1)
		cld_err_sys(err, CLD_EIO, e, "cannot write '%s': %s", vd->state,
		    strerror(e));
	return rc;
}

/*
 * After an operation that succeeded, changing the tables if CHANGED: write
 * them if they changed or an earlier write failed.  Called with the lock
 * held.  Returns 0, or -1 with op->err set.  Without STATE it does nothing.
 */
static int
vmm_dummy_state_commit(struct cld_op *op, struct vmm_dummy *vd, int changed)
{
	if (vd->state == NULL || (!changed && !vd->dirty))
		return 0;
	if (vmm_dummy_state_write(vd, op->err) == -1) {
		vd->dirty = 1;
		return -1;
	}
	vd->dirty = 0;
	return 0;
}

/* Undo the escapes of field S in place.  Returns 0, or -1 on a bad escape. */
static int
vmm_dummy_state_unescape(char *s, char *bad)
{
	char *w = s;

	for (; *s != '\0'; s++) {
		if (*s != '\\') {
			*w++ = *s;
			continue;
		}
		switch (*++s) {
		case '\\': *w++ = '\\'; break;
		case 't': *w++ = '\t'; break;
		case 'n': *w++ = '\n'; break;
		case 'r': *w++ = '\r'; break;
		default:
			*bad = *s;
			return -1;
		}
	}
	*w = '\0';
	return 0;
}

/*
 * Split LINE in place at its tabs into at most MAX fields.  Returns how
 * many there are (MAX + 1 if there are more).
 */
static size_t
vmm_dummy_state_split(char *line, char **field, size_t max)
{
	size_t n = 0;
	char *p = line, *tab = NULL;

	for (;;) {
		if (n == max)
			return max + 1;
		field[n++] = p;
		if ((tab = strchr(p, '\t')) == NULL)
			return n;
		*tab = '\0';
		p = tab + 1;
	}
}

/*
 * Read one domain or saved line (its fields in F) into T.  Returns 0, or
 * -1 with what is wrong in MSG.
 */
static int
vmm_dummy_state_record(struct vmm_dummy *vd, struct vmm_dummy_table *t,
    char **f, char *msg, size_t msgsize)
{
	struct vmm_dummy_dom *d = NULL;
	uint64_t domid = 0, rx = 0, tx = 0;
	char bad = 0;
	int state = -1;
	size_t i;

	for (i = 1; i <= 2; i++)
		if (vmm_dummy_state_unescape(f[i], &bad) == -1) {
			if (bad == '\0')
				snprintf(msg, msgsize, "a field ends in a backslash");
			else
				snprintf(msg, msgsize, "bad escape '\\%c'", bad);
			return -1;
		}
	for (i = 0; i < 2; i++)
		if (strcmp(f[3], vmm_dummy_state_names[i]) == 0)
			state = (int)i;
	if (state == -1) {
		snprintf(msg, msgsize, "unknown state '%.64s'", f[3]);
		return -1;
	}
	if (dummy_parse_uint(f[4], UINT64_MAX, &domid) == -1 ||
	    dummy_parse_uint(f[5], UINT64_MAX, &rx) == -1 ||
	    dummy_parse_uint(f[6], UINT64_MAX, &tx) == -1) {
		snprintf(msg, msgsize, "a domid or counter is not a whole number");
		return -1;
	}
	/* The counter hands out only domids above every one known. */
	if (domid >= vd->next_domid) {
		snprintf(msg, msgsize, "domid %" PRIu64 " is not below next_domid %llu",
		    domid, vd->next_domid);
		return -1;
	}
	if (vmm_dummy_table_get(t, f[1], f[2]) != NULL) {
		snprintf(msg, msgsize, "'%.200s' %s '%.200s' is listed twice", f[2],
		    t == &vd->doms ? "on" : "in", f[1]);
		return -1;
	}
	if ((d = vmm_dummy_dom_new(f[1], f[2], NULL)) == NULL) {
		snprintf(msg, msgsize, "out of memory");
		return -1;
	}
	d->state = (enum vmm_dummy_state)state;
	d->domid = (unsigned long long)domid;
	d->netrx = rx;
	d->nettx = tx;
	vmm_dummy_table_add(t, d);
	return 0;
}

/*
 * Check line LINENO of the file (LEN bytes, its newline included) and take
 * what it says.  Returns 0, or -1 with what is wrong in MSG.
 */
static int
vmm_dummy_state_line(struct vmm_dummy *vd, char *line, size_t len,
    size_t lineno, char *msg, size_t msgsize)
{
	char *f[VMM_DUMMY_STATE_FIELDS];
	uint64_t next = 0;
	size_t n;

	if (len == 0 || line[len - 1] != '\n') {
		snprintf(msg, msgsize, "the line is cut short (no newline)");
		return -1;
	}
	line[--len] = '\0';
	if (memchr(line, '\0', len) != NULL) {
		snprintf(msg, msgsize, "a NUL byte");
		return -1;
	}
	if (lineno == 1) {
		if (strcmp(line, VMM_DUMMY_STATE_MAGIC) != 0) {
			snprintf(msg, msgsize,
			    "not a vmm/dummy state file (the first line is not "
			    "\"cloudd-vmm-dummy<TAB>1\")");
			return -1;
		}
		return 0;
	}
	n = vmm_dummy_state_split(line, f, VMM_DUMMY_STATE_FIELDS);
	if (lineno == 2) {
		if (n != 2 || strcmp(f[0], "next_domid") != 0 ||
		    dummy_parse_uint(f[1], UINT64_MAX - 1, &next) == -1 ||
		    next == 0) {
			snprintf(msg, msgsize,
			    "expected next_domid and a whole number above 0");
			return -1;
		}
		vd->next_domid = (unsigned long long)next;
		return 0;
	}
	if (strcmp(f[0], "domain") != 0 && strcmp(f[0], "saved") != 0) {
		snprintf(msg, msgsize, "unknown record '%.64s'", f[0]);
		return -1;
	}
	if (n > VMM_DUMMY_STATE_FIELDS) {
		snprintf(msg, msgsize, "a %s line has more than %d fields", f[0],
		    VMM_DUMMY_STATE_FIELDS);
		return -1;
	}
	if (n < VMM_DUMMY_STATE_FIELDS) {
		snprintf(msg, msgsize, "a %s line has %zu fields, not %d", f[0], n,
		    VMM_DUMMY_STATE_FIELDS);
		return -1;
	}
	return vmm_dummy_state_record(vd, f[0][0] == 'd' ? &vd->doms : &vd->saved,
	    f, msg, msgsize);
}

/*
 * Fill the (empty) tables from STATE.  No file is empty tables; a file that
 * cannot be read or is not whole refuses the instance.  Returns 0, or -1
 * with err naming the file (and the line).
 */
static int
vmm_dummy_state_load(struct vmm_dummy *vd, struct cld_err *err)
{
	char msg[512];
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	FILE *f = NULL;
	int rc = -1, e = 0;

	if ((f = fopen(vd->state, "r")) == NULL) {
		if (errno == ENOENT)
			return 0;
		e = errno;
		cld_err_sys(err, CLD_EIO, e, "STATE: cannot read '%s': %s",
		    vd->state, strerror(e));
		return -1;
	}
	errno = 0;
	while ((len = getline(&line, &cap, f)) != -1) {
		lineno++;
		if (vmm_dummy_state_line(vd, line, (size_t)len, lineno, msg,
		    sizeof(msg)) == -1) {
			cld_err_set(err, CLD_ECONFIG, "STATE: '%s', line %zu: %s",
			    vd->state, lineno, msg);
			goto cleanup;
		}
		errno = 0;
	}
	if (ferror(f)) {
		e = errno != 0 ? errno : EIO;
		cld_err_sys(err, CLD_EIO, e, "STATE: cannot read '%s': %s",
		    vd->state, strerror(e));
		goto cleanup;
	}
	if (lineno < 2) {
		cld_err_set(err, CLD_ECONFIG, "STATE: '%s', line %zu: %s", vd->state,
		    lineno + 1, lineno == 0 ? "the file is empty" :
		    "expected next_domid and a whole number above 0");
		goto cleanup;
	}
	rc = 0;
cleanup:
	free(line);
	fclose(f);
	return rc;
}

/*
 * Read STATE (if set): check it, load the file, and write it back at once,
 * so that a file that cannot be written refuses the instance now rather
 * than failing its first deploy.
 */
static int
vmm_dummy_state_init(struct vmm_dummy *vd, struct cld_drv *drv,
    struct cld_err *err)
{
	const char *v = drv->svc->conf_get(drv, "STATE");
	size_t len;

	if (v == NULL)
		return 0;
	if (v[0] != '/') {
		cld_err_set(err, CLD_ECONFIG, "STATE: '%s' is not an absolute path",
		    v);
		return -1;
	}
	len = strlen(v);
	if ((vd->state_tmp = malloc(len + sizeof(".XXXXXX"))) == NULL) {
		cld_err_set(err, CLD_EIO, "out of memory");
		return -1;
	}
	memcpy(vd->state_tmp, v, len);
	memcpy(vd->state_tmp + len, ".XXXXXX", sizeof(".XXXXXX"));
	vd->state = v;
	if (vmm_dummy_state_load(vd, err) == -1)
		return -1;
	if (vmm_dummy_state_write(vd, err) == -1) {
		cld_err_prefix(err, "STATE");
		return -1;
	}
	return 0;
}

static void
vmm_dummy_fini(struct cld_drv *drv)
{
	struct vmm_dummy *vd = drv->priv;

	if (vd == NULL)
		return;
	vmm_dummy_table_release(&vd->doms);
	vmm_dummy_table_release(&vd->saved);
	pthread_mutex_destroy(&vd->lock);
	free(vd->state_tmp);
	free(vd);
	drv->priv = NULL;
}

static int
vmm_dummy_init(struct cld_drv *drv, struct cld_err *err)
{
	struct vmm_dummy *vd = NULL;
	int rc = -1, locked = 0;

	if ((vd = calloc(1, sizeof(*vd))) == NULL) {
		cld_err_set(err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	vd->cpu_usage = 0.5;
	vd->memory_usage = 1.0;
	vd->next_domid = 1;
	if (dummy_conf_init(&vd->conf, drv, "vmm", vmm_dummy_ops, VMM_DUMMY_NOPS,
	    vmm_dummy_options, err) == -1 ||
	    vmm_dummy_conf_ratio(drv, "CPU_USAGE", VMM_DUMMY_CPU_USAGE_MAX,
	    &vd->cpu_usage, err) == -1 ||
	    vmm_dummy_conf_ratio(drv, "MEMORY_USAGE", 1, &vd->memory_usage,
	    err) == -1)
		goto cleanup;
	if (pthread_mutex_init(&vd->lock, NULL) != 0) {
		cld_err_set(err, CLD_EIO, "cannot create a mutex");
		goto cleanup;
	}
	locked = 1;
	if (vmm_dummy_table_init(&vd->doms) == -1 ||
	    vmm_dummy_table_init(&vd->saved) == -1) {
		cld_err_set(err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	if (vmm_dummy_state_init(vd, drv, err) == -1)
		goto cleanup;
	drv->priv = vd;
	vd = NULL;
	rc = 0;
cleanup:
	if (vd != NULL) {
		vmm_dummy_table_release(&vd->doms);
		vmm_dummy_table_release(&vd->saved);
		if (locked)
			pthread_mutex_destroy(&vd->lock);
		free(vd->state_tmp);
		free(vd);
	}
	return rc;
}

/* A malloc()ed buffer for a domid, or NULL with op->err set. */
static char *
vmm_dummy_domid_buf(struct cld_op *op)
{
	char *id = malloc(VMM_DUMMY_DOMID_MAX);

	if (id == NULL)
		cld_err_set(op->err, CLD_EIO, "out of memory");
	return id;
}

static void
vmm_dummy_err_not_running(struct cld_op *op, const struct cld_vm_desc *vm)
{
	cld_err_set(op->err, CLD_EINVAL, "'%s' is not running on '%s'", vm->name,
	    vm->host);
}

static int
vmm_dummy_deploy(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags, char **domid)
{
	struct vmm_dummy *vd = op->drv->priv;
	struct vmm_dummy_dom *d = NULL;
	char *id = NULL;
	int rc = -1, changed = 0;

	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "deploy '%s' on '%s'", vm->name,
	    vm->host);
	if (dummy_begin(op, &vd->conf, VMM_DUMMY_DEPLOY, flags, 0) == -1)
		return -1;
	if ((id = vmm_dummy_domid_buf(op)) == NULL)
		return -1;

	pthread_mutex_lock(&vd->lock);
	if ((d = vmm_dummy_table_get(&vd->doms, vm->host, vm->name)) != NULL) {
		if (d->state != VMM_DUMMY_RUNNING) {
			cld_err_set(op->err, CLD_EEXIST, "'%s' is paused on '%s'",
			    vm->name, vm->host);
			goto cleanup;
		}
	} else {
		if ((d = vmm_dummy_dom_new(vm->host, vm->name, NULL)) == NULL) {
			cld_err_set(op->err, CLD_EIO, "out of memory");
			goto cleanup;
		}
		d->state = VMM_DUMMY_RUNNING;
		d->domid = vd->next_domid++;
		vmm_dummy_table_add(&vd->doms, d);
		changed = 1;
	}
	if (vmm_dummy_state_commit(op, vd, changed) == -1)
		goto cleanup;
	snprintf(id, VMM_DUMMY_DOMID_MAX, "%llu", d->domid);
	*domid = id;
	id = NULL;
	rc = 0;
cleanup:
	pthread_mutex_unlock(&vd->lock);
	free(id);
	return rc;
}

/* Shutdown and destroy: the domain goes away at once; gone already is fine. */
static int
vmm_dummy_remove(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags, int opi)
{
	struct vmm_dummy *vd = op->drv->priv;
	struct vmm_dummy_dom *d = NULL;
	int rc = 0;

	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "%s '%s' on '%s'",
	    vmm_dummy_ops[opi], vm->name, vm->host);
	if (dummy_begin(op, &vd->conf, opi, flags, 0) == -1)
		return -1;
	pthread_mutex_lock(&vd->lock);
	d = vmm_dummy_table_remove(&vd->doms, vm->host, vm->name);
	rc = vmm_dummy_state_commit(op, vd, d != NULL);
	pthread_mutex_unlock(&vd->lock);
	free(d);
	return rc;
}

static int
vmm_dummy_shutdown(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	return vmm_dummy_remove(op, vm, flags, VMM_DUMMY_SHUTDOWN);
}

static int
vmm_dummy_destroy(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	return vmm_dummy_remove(op, vm, flags, VMM_DUMMY_DESTROY);
}

static int
vmm_dummy_reboot(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	struct vmm_dummy *vd = op->drv->priv;
	struct vmm_dummy_dom *d = NULL;
	int rc = -1, changed = 0;

	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "reboot '%s' on '%s'%s",
	    vm->name, vm->host, (flags & CLD_REBOOT_HARD) ? " (hard)" : "");
	if (dummy_begin(op, &vd->conf, VMM_DUMMY_REBOOT, flags,
	    CLD_REBOOT_HARD) == -1)
		return -1;
	pthread_mutex_lock(&vd->lock);
	d = vmm_dummy_table_get(&vd->doms, vm->host, vm->name);
	if (d == NULL || d->state != VMM_DUMMY_RUNNING) {
		vmm_dummy_err_not_running(op, vm);
		goto cleanup;
	}
	/* A new boot: the counters start again. */
	changed = d->netrx != 0 || d->nettx != 0;
	d->netrx = d->nettx = 0;
	rc = vmm_dummy_state_commit(op, vd, changed);
cleanup:
	pthread_mutex_unlock(&vd->lock);
	return rc;
}

/* Suspend and resume: set the state to TO; already there is fine. */
static int
vmm_dummy_set_state(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags, int opi, enum vmm_dummy_state to)
{
	struct vmm_dummy *vd = op->drv->priv;
	struct vmm_dummy_dom *d = NULL;
	int rc = -1, changed = 0;

	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "%s '%s' on '%s'",
	    vmm_dummy_ops[opi], vm->name, vm->host);
	if (dummy_begin(op, &vd->conf, opi, flags, 0) == -1)
		return -1;
	pthread_mutex_lock(&vd->lock);
	if ((d = vmm_dummy_table_get(&vd->doms, vm->host, vm->name)) == NULL) {
		vmm_dummy_err_not_running(op, vm);
		goto cleanup;
	}
	changed = d->state != to;
	d->state = to;
	rc = vmm_dummy_state_commit(op, vd, changed);
cleanup:
	pthread_mutex_unlock(&vd->lock);
	return rc;
}

static int
vmm_dummy_suspend(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	return vmm_dummy_set_state(op, vm, flags, VMM_DUMMY_SUSPEND,
	    VMM_DUMMY_PAUSED);
}

static int
vmm_dummy_resume(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	return vmm_dummy_set_state(op, vm, flags, VMM_DUMMY_RESUME,
	    VMM_DUMMY_RUNNING);
}

/*
 * The domain moves from the domain table to the saved table under (PATH,
 * name).  Saved already (a retry) is fine.
 */
static int
vmm_dummy_save(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *path, unsigned int flags)
{
	struct vmm_dummy *vd = op->drv->priv;
	struct vmm_dummy_dom *d = NULL, *s = NULL, *old = NULL;
	int rc = -1, moved = 0;

	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "save '%s' on '%s' to '%s'",
	    vm->name, vm->host, path);
	if (dummy_begin(op, &vd->conf, VMM_DUMMY_SAVE, flags, 0) == -1)
		return -1;
	pthread_mutex_lock(&vd->lock);
	if ((d = vmm_dummy_table_get(&vd->doms, vm->host, vm->name)) == NULL) {
		if (vmm_dummy_table_get(&vd->saved, path, vm->name) != NULL)
			rc = vmm_dummy_state_commit(op, vd, 0);
		else
			vmm_dummy_err_not_running(op, vm);
		goto cleanup;
	}
	if ((s = vmm_dummy_dom_new(path, vm->name, d)) == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	/* Saving again over an older save of this VM replaces it. */
	old = vmm_dummy_table_remove(&vd->saved, path, vm->name);
	vmm_dummy_table_add(&vd->saved, s);
	d = vmm_dummy_table_remove(&vd->doms, vm->host, vm->name);
	moved = 1;
	rc = vmm_dummy_state_commit(op, vd, 1);
cleanup:
	pthread_mutex_unlock(&vd->lock);
	/* Once moved, the change stands even if it could not be written. */
	if (moved) {
		free(old);
		free(d);
	}
	return rc;
}

/*
 * The domain saved in PATH runs again on vm->host with a new domid.  Running
 * there already (a retry) is fine.
 */
static int
vmm_dummy_restore(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *path, unsigned int flags, char **domid)
{
	struct vmm_dummy *vd = op->drv->priv;
	struct vmm_dummy_dom *d = NULL, *s = NULL;
	char *id = NULL;
	int rc = -1, moved = 0;

	op->drv->svc->log(op->drv, CLD_LOG_DEBUG,
	    "restore '%s' on '%s' from '%s'", vm->name, vm->host, path);
	if (dummy_begin(op, &vd->conf, VMM_DUMMY_RESTORE, flags, 0) == -1)
		return -1;
	if ((id = vmm_dummy_domid_buf(op)) == NULL)
		return -1;

	pthread_mutex_lock(&vd->lock);
	if ((d = vmm_dummy_table_get(&vd->doms, vm->host, vm->name)) != NULL) {
		if (d->state != VMM_DUMMY_RUNNING) {
			cld_err_set(op->err, CLD_EEXIST, "'%s' is paused on '%s'",
			    vm->name, vm->host);
			goto cleanup;
		}
	} else {
		if ((s = vmm_dummy_table_get(&vd->saved, path, vm->name)) == NULL) {
			cld_err_set(op->err, CLD_ENOENT,
			    "no saved state of '%s' in '%s'", vm->name, path);
			goto cleanup;
		}
		if ((d = vmm_dummy_dom_new(vm->host, vm->name, s)) == NULL) {
			cld_err_set(op->err, CLD_EIO, "out of memory");
			goto cleanup;
		}
		d->state = VMM_DUMMY_RUNNING;
		d->domid = vd->next_domid++;
		vmm_dummy_table_add(&vd->doms, d);
		s = vmm_dummy_table_remove(&vd->saved, path, vm->name);
		moved = 1;
	}
	if (vmm_dummy_state_commit(op, vd, moved) == -1)
		goto cleanup;
	snprintf(id, VMM_DUMMY_DOMID_MAX, "%llu", d->domid);
	*domid = id;
	id = NULL;
	rc = 0;
cleanup:
	pthread_mutex_unlock(&vd->lock);
	/* Once moved, the change stands even if it could not be written. */
	if (moved)
		free(s);
	free(id);
	return rc;
}

/*
 * The domain moves from vm->host to DEST, keeping its domid and state.
 * Already on DEST and gone from vm->host (a retry) is fine.
 */
static int
vmm_dummy_migrate(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *dest, unsigned int flags)
{
	struct vmm_dummy *vd = op->drv->priv;
	struct vmm_dummy_dom *d = NULL, *moved = NULL;
	int rc = -1;

	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "migrate '%s' from '%s' to '%s'%s",
	    vm->name, vm->host, dest, (flags & CLD_MIGRATE_LIVE) ? " (live)" : "");
	if (dummy_begin(op, &vd->conf, VMM_DUMMY_MIGRATE, flags,
	    CLD_MIGRATE_LIVE) == -1)
		return -1;
	pthread_mutex_lock(&vd->lock);
	d = vmm_dummy_table_get(&vd->doms, vm->host, vm->name);
	if (strcmp(vm->host, dest) == 0) {
		if (d == NULL)
			vmm_dummy_err_not_running(op, vm);
		else
			rc = vmm_dummy_state_commit(op, vd, 0);
		goto cleanup;
	}
	if (vmm_dummy_table_get(&vd->doms, dest, vm->name) != NULL) {
		if (d == NULL)
			rc = vmm_dummy_state_commit(op, vd, 0);
		else
			cld_err_set(op->err, CLD_EEXIST, "'%s' runs on '%s' already",
			    vm->name, dest);
		goto cleanup;
	}
	if (d == NULL) {
		vmm_dummy_err_not_running(op, vm);
		goto cleanup;
	}
	if ((moved = vmm_dummy_dom_new(dest, vm->name, d)) == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	vmm_dummy_table_add(&vd->doms, moved);
	d = vmm_dummy_table_remove(&vd->doms, vm->host, vm->name);
	rc = vmm_dummy_state_commit(op, vd, 1);
cleanup:
	pthread_mutex_unlock(&vd->lock);
	/* Once moved, the change stands even if it could not be written. */
	if (moved != NULL)
		free(d);
	return rc;
}

static int
vmm_dummy_poll(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags, struct cld_vm_poll *out)
{
	struct vmm_dummy *vd = op->drv->priv;
	struct vmm_dummy_dom *d = NULL;

	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "poll '%s' on '%s'", vm->name,
	    vm->host);
	if (dummy_begin(op, &vd->conf, VMM_DUMMY_POLL, flags, 0) == -1)
		return -1;
	if (out->size < sizeof(*out)) {
		cld_err_set(op->err, CLD_EINVAL, "poll figures too small (%u bytes)",
		    (unsigned int)out->size);
		return -1;
	}
	out->cpu = 0;
	out->memory_kb = 0;
	out->netrx = out->nettx = 0;
	pthread_mutex_lock(&vd->lock);
	if ((d = vmm_dummy_table_get(&vd->doms, vm->host, vm->name)) == NULL) {
		out->state = CLD_POLL_MISSING;
	} else if (d->state == VMM_DUMMY_PAUSED) {
		/* A paused guest holds its memory but uses no CPU or network. */
		out->state = CLD_POLL_PAUSED;
		out->memory_kb = (uint64_t)((double)vm->memory_mb * 1024 *
		    vd->memory_usage);
		out->netrx = d->netrx;
		out->nettx = d->nettx;
	} else {
		out->state = CLD_POLL_RUNNING;
		out->cpu = vm->cpu * 100 * vd->cpu_usage;
		out->memory_kb = (uint64_t)((double)vm->memory_mb * 1024 *
		    vd->memory_usage);
		d->netrx += VMM_DUMMY_NETRX_STEP;
		d->nettx += VMM_DUMMY_NETTX_STEP;
		out->netrx = d->netrx;
		out->nettx = d->nettx;
	}
	pthread_mutex_unlock(&vd->lock);
	return 0;
}

extern const struct cld_vmm_driver CLD_DRIVER_ENTRY(vmm_dummy);

const struct cld_vmm_driver CLD_DRIVER_ENTRY(vmm_dummy) = {
	.hdr = CLD_DRIVER_HEADER(CLD_CLASS_VMM, struct cld_vmm_driver, "dummy",
	    PACKAGE_VERSION, vmm_dummy_init, vmm_dummy_fini),
	.deploy = vmm_dummy_deploy,
	.shutdown = vmm_dummy_shutdown,
	.destroy = vmm_dummy_destroy,
	.reboot = vmm_dummy_reboot,
	.suspend = vmm_dummy_suspend,
	.resume = vmm_dummy_resume,
	.save = vmm_dummy_save,
	.restore = vmm_dummy_restore,
	.migrate = vmm_dummy_migrate,
	.poll = vmm_dummy_poll,
};
