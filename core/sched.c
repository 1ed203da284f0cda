/*
 * The scheduler: pending VMs in classes, hosts in per-class heaps.
 *
 * VMs asking for the same cpu, memory, REQUIREMENTS and RANK share a class.
 * A class compiles its expressions once and, the first time a cycle needs
 * it, evaluates every host once and pushes the hosts that fit and qualify on
 * a heap ordered by RANK (ties: lowest id).  Placing a VM changes one host:
 * its generation is bumped, which makes every heap entry for it stale, and
 * it is evaluated again for each class and pushed where it still fits.
 * Stale entries are dropped when they reach the top or when a heap is
 * compacted.  So a placement costs one evaluation and one heap push per
 * class, whatever the number of hosts and pending VMs.
 *
 * REQUIREMENTS that do not name an attribute the scheduler changes as it
 * places (RUNNING_VMS, CPU_USAGE, ...) are cached per host until the host is
 * set again.
 *
 * A pending VM is 32 bytes plus 8 of index; everything else is its class's.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cloudd/attr.h>

#include "expr.h"
#include "sched.h"
#include "util.h"

#define NONE UINT32_MAX

/*
 * cpu figures are sums of CPU x 100 that the core computes in floating
 * point (0.1 x 100 is 10.000000000000002): allow that much rounding so that
 * ten VMs of CPU 0.1 fill exactly one core.
 */
#define CPU_SLACK 1e-6

/* A map from an int64 id to an index into an array of structs whose first member is that id. */
struct idmap {
	uint32_t *tab; /* index, or NONE */
	size_t cap;    /* a power of two, or 0 */
	size_t n;
};

/* One single attribute of a host's monitoring report. */
struct kv {
	const char *name;
	const char *value;
};

struct host {
	int64_t id;            /* first: struct idmap reads it */
	const char *name;      /* in blob, or NULL */
	const char *cluster;   /* in blob, or NULL */
	int64_t cluster_id;
	double cpu_total;
	double cpu_alloc;
	uint64_t mem_total;
	uint64_t mem_alloc;
	int rvm;
	int max_vms;
	int enabled;
	int live;              /* 0: a free slot */
	int limited;           /* reached max_host in the running cycle */
	uint32_t gen;          /* bumped at every change: older heap entries are stale */
	uint32_t attr_gen;     /* unique per host_set: keys cached REQUIREMENTS */
	uint32_t cycle;        /* the cycle PLACED counts */
	size_t placed;
	double freecpu;        /* FREECPU as a number, for load-aware */
	struct kv *kv;         /* sorted by name, first occurrence of each */
	size_t nkv;
	char *blob;            /* kv and all strings, one allocation */
};

/* A heap entry: HOST (index) had RANK at generation GEN. */
struct hent {
	double rank;
	int64_t id;
	uint32_t host;
	uint32_t gen;
};

struct cls {
	double cpu;
	uint64_t mem;
	char *req;             /* as given, or NULL */
	char *rank;            /* as given, or NULL: the default policy */
	struct cld_expr *req_e;
	struct cld_expr *rank_e;
	int req_dynamic;       /* REQUIREMENTS name what placements change */
	uint64_t hash;
	uint32_t hnext;        /* the next class in this hash bucket */
	size_t refs;           /* pending VMs of this class */
	int built;             /* the heap holds every host */
	struct hent *heap;
	size_t hn;
	size_t hcap;
	uint32_t *elig;        /* per host: attr_gen << 1 | REQUIREMENTS result, 0 unknown */
	size_t elig_cap;
	uint32_t blocked;      /* the cycle in which no host was left */
	char *why;             /* why, in cycle BLOCKED */
	uint64_t why_epoch;    /* s->epoch WHY was worked out at, 0 never */
};

enum { WHY_NONE, WHY_CLASS, WHY_DISPATCH };

struct vm {
	int64_t id;            /* first: struct idmap reads it */
	uint32_t cls;          /* index into s->cls */
	uint32_t prev;         /* in order of age; NONE at the ends */
	uint32_t next;         /* also links free slots */
	uint32_t cycle;        /* the cycle WHY is from */
	uint8_t why;
};

struct cld_sched {
	int policy;

	struct host *hosts;
	size_t nhost_slots;
	size_t host_cap;
	uint32_t *host_free;   /* a stack of free slots */
	size_t nhost_free;
	size_t host_free_cap;
	size_t nlive;
	struct idmap host_map;
	uint32_t next_attr_gen;

	struct vm *vms;
	size_t nvm_slots;
	size_t vm_cap;
	uint32_t vm_free;      /* list through next */
	size_t npending;
	uint32_t head;
	uint32_t tail;
	struct idmap vm_map;

	struct cls **cls;      /* NULL for a free slot */
	size_t ncls_slots;
	size_t cls_cap;
	size_t ncls;
	uint32_t *buckets;     /* class hash: first class index, or NONE */
	size_t nbuckets;

	uint64_t epoch;        /* counts changes to hosts and the policy */
	uint32_t cycle;        /* of the last or running cld_sched_run */
	int in_run;
	size_t max_host;       /* of the running cycle */
	uint32_t cursor;       /* the next VM the running cycle visits */
	uint32_t *limited;     /* hosts at max_host this cycle */
	size_t nlimited;
	size_t limited_cap;
	char *dispatch_why;
};

/* Names whose value placements change; REQUIREMENTS naming one are not cached. */
static const char *const dynamic_names[] = {
	"RUNNING_VMS", "CPU_USAGE", "MEM_USAGE", "FREE_CPU", "FREE_MEM",
};

static const char *const policy_names[] = {
	[CLD_SCHED_PACKING] = "packing",
	[CLD_SCHED_STRIPING] = "striping",
	[CLD_SCHED_LOAD_AWARE] = "load-aware",
};

/* ---- small helpers ---- */

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t
hash_str(uint64_t h, const char *s)
{
	if (s == NULL)
		return mix64(h ^ 0x9e3779b97f4a7c15ULL);
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return mix64(h + 1);
}

static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Grow *P (of *CAP elements of SIZE bytes) to hold at least N. */
static void
grow(void *pp, size_t *cap, size_t n, size_t size)
{
	void **p = pp;
	size_t c = *cap ? *cap : 8;

	if (n <= *cap)
		return;
	while (c < n)
		c *= 2;
	*p = cld_xrealloc(*p, c * size);
	*cap = c;
}

/* ---- id maps: open addressing, linear probing, backward-shift deletion ---- */

static int64_t
key_at(const void *base, size_t stride, uint32_t i)
{
	int64_t k;

	memcpy(&k, (const char *)base + (size_t)i * stride, sizeof(k));
	return k;
}

static uint32_t
idmap_find(const struct idmap *m, const void *base, size_t stride, int64_t id)
{
	size_t mask = m->cap - 1, i;

	if (m->cap == 0)
		return NONE;
	for (i = mix64((uint64_t)id) & mask; m->tab[i] != NONE; i = (i + 1) & mask)
		if (key_at(base, stride, m->tab[i]) == id)
			return m->tab[i];
	return NONE;
}

static void
idmap_put_raw(struct idmap *m, const void *base, size_t stride, uint32_t idx)
{
	size_t mask = m->cap - 1;
	size_t i = mix64((uint64_t)key_at(base, stride, idx)) & mask;

	while (m->tab[i] != NONE)
		i = (i + 1) & mask;
	m->tab[i] = idx;
	m->n++;
}

/* Insert IDX, whose id is not in M yet. */
static void
idmap_insert(struct idmap *m, const void *base, size_t stride, uint32_t idx)
{
	if ((m->n + 1) * 2 > m->cap) {
		uint32_t *old = m->tab;
		size_t oldcap = m->cap, i;

		m->cap = oldcap ? oldcap * 2 : 64;
		m->tab = cld_xmalloc(m->cap * sizeof(*m->tab));
		memset(m->tab, 0xff, m->cap * sizeof(*m->tab));
		m->n = 0;
		for (i = 0; i < oldcap; i++)
			if (old[i] != NONE)
				idmap_put_raw(m, base, stride, old[i]);
		free(old);
	}
	idmap_put_raw(m, base, stride, idx);
}

static void
idmap_remove(struct idmap *m, const void *base, size_t stride, int64_t id)
{
	size_t mask = m->cap - 1, i, j;

	if (m->cap == 0)
		return;
	for (i = mix64((uint64_t)id) & mask; m->tab[i] != NONE; i = (i + 1) & mask)
		if (key_at(base, stride, m->tab[i]) == id)
			break;
	if (m->tab[i] == NONE)
		return;
	/* Shift later members of the run back so that no probe stops early. */
	for (j = (i + 1) & mask; m->tab[j] != NONE; j = (j + 1) & mask) {
		size_t home = mix64((uint64_t)key_at(base, stride, m->tab[j])) & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->tab[i] = m->tab[j];
			i = j;
		}
	}
	m->tab[i] = NONE;
	m->n--;
}

/* ---- host attributes as the expressions see them ---- */

/* Scratch for the numbers the extra attributes print to, one per name. */
enum { X_ID, X_CLUSTER_ID, X_RVM, X_MAX_CPU, X_MAX_MEM, X_CPU_USAGE,
	X_MEM_USAGE, X_FREE_CPU, X_FREE_MEM, X_N };

struct lctx {
	const struct host *h;
	char num[X_N][32];
};

static const char *
fmt_i64(char *buf, int64_t v)
{
	snprintf(buf, 32, "%" PRId64, v);
	return buf;
}

static const char *
fmt_dbl(char *buf, double v)
{
	/* As expr.c prints computed numbers, so both sides compare alike. */
	snprintf(buf, 32, "%.15g", v);
	return buf;
}

static int
kv_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static const char *
host_attr(const struct host *h, const char *name)
{
	struct kv key = { name, NULL };
	const struct kv *hit;

	if (h->nkv == 0)
		return NULL;
	hit = bsearch(&key, h->kv, h->nkv, sizeof(*h->kv), kv_cmp);
	return hit == NULL ? NULL : hit->value;
}

/* A cld_lookup_fn: the scheduler's attributes first, then the report's. */
static const char *
host_lookup(void *ctx, const char *name)
{
	struct lctx *l = ctx;
	const struct host *h = l->h;

	switch (name[0]) {
	case 'C':
		if (strcmp(name, "CLUSTER") == 0)
			return h->cluster;
		if (strcmp(name, "CLUSTER_ID") == 0)
			return fmt_i64(l->num[X_CLUSTER_ID], h->cluster_id);
		if (strcmp(name, "CPU_USAGE") == 0)
			return fmt_dbl(l->num[X_CPU_USAGE], h->cpu_alloc);
		break;
	case 'F':
		if (strcmp(name, "FREE_CPU") == 0)
			return fmt_dbl(l->num[X_FREE_CPU], h->cpu_total - h->cpu_alloc);
		if (strcmp(name, "FREE_MEM") == 0)
			return fmt_i64(l->num[X_FREE_MEM],
			    (int64_t)(h->mem_total - h->mem_alloc));
		break;
	case 'I':
		if (strcmp(name, "ID") == 0)
			return fmt_i64(l->num[X_ID], h->id);
		break;
	case 'M':
		if (strcmp(name, "MAX_CPU") == 0)
			return fmt_dbl(l->num[X_MAX_CPU], h->cpu_total);
		if (strcmp(name, "MAX_MEM") == 0)
			return fmt_i64(l->num[X_MAX_MEM], (int64_t)h->mem_total);
		if (strcmp(name, "MEM_USAGE") == 0)
			return fmt_i64(l->num[X_MEM_USAGE], (int64_t)h->mem_alloc);
		break;
	case 'N':
		if (strcmp(name, "NAME") == 0)
			return h->name;
		break;
	case 'R':
		if (strcmp(name, "RUNNING_VMS") == 0)
			return fmt_i64(l->num[X_RVM], h->rvm);
		break;
	default:
		break;
	}
	return host_attr(h, name);
}

/*
 * Whether TEXT names one of dynamic_names outside quoted strings.  A rough
 * scan is enough: a false hit only costs the cache.
 */
static int
names_dynamic(const char *text)
{
	const char *p = text;

	while (*p != '\0') {
		const char *start = p;
		size_t i;

		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
			if (*p == '"')
				p++;
			continue;
		}
		if ((*p >= '0' && *p <= '9') || *p == '.') {
			/* A number, with its exponent. */
			while ((*p >= '0' && *p <= '9') || *p == '.' ||
			    *p == 'e' || *p == 'E')
				p++;
			continue;
		}
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    *p == '_')) {
			p++;
			continue;
		}
		while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '_')
			p++;
		for (i = 0; i < CLD_ARRAY_SIZE(dynamic_names); i++)
			if (strlen(dynamic_names[i]) == (size_t)(p - start) &&
			    strncasecmp(dynamic_names[i], start,
			    (size_t)(p - start)) == 0)
				return 1;
	}
	return 0;
}

/* ---- hosts ---- */

static int
host_fits(const struct host *h, const struct cls *c)
{
	if (!h->live || !h->enabled || h->limited)
		return 0;
	if (h->cpu_alloc + c->cpu > h->cpu_total + CPU_SLACK)
		return 0;
	if (h->mem_alloc > h->mem_total || c->mem > h->mem_total - h->mem_alloc)
		return 0;
	return h->max_vms <= 0 || h->rvm < h->max_vms;
}

static void
host_release(struct host *h)
{
	free(h->blob);
	h->blob = NULL;
	h->kv = NULL;
	h->nkv = 0;
	h->name = NULL;
	h->cluster = NULL;
}

/* Copy name, cluster and the report's single attributes into one block. */
static void
host_copy_attrs(struct host *h, const struct cld_sched_host *src)
{
	const struct cld_tmpl *t = src->attrs;
	size_t n = 0, bytes = 0, i, j;
	char *p;

	if (t != NULL)
		for (i = 0; i < t->n; i++)
			if (t->attrs[i].value != NULL) {
				n++;
				bytes += strlen(t->attrs[i].name) +
				    strlen(t->attrs[i].value) + 2;
			}
	if (src->name != NULL)
		bytes += strlen(src->name) + 1;
	if (src->cluster != NULL)
		bytes += strlen(src->cluster) + 1;
	h->blob = cld_xmalloc(n * sizeof(struct kv) + bytes);
	h->kv = (struct kv *)(void *)h->blob;
	p = h->blob + n * sizeof(struct kv);
#define COPY(dst, s) do { size_t l_ = strlen(s) + 1; memcpy(p, (s), l_); \
	(dst) = p; p += l_; } while (0)
	if (src->name != NULL)
		COPY(h->name, src->name);
	if (src->cluster != NULL)
		COPY(h->cluster, src->cluster);
	for (i = 0, j = 0; t != NULL && i < t->n; i++) {
		if (t->attrs[i].value == NULL)
			continue;
		COPY(h->kv[j].name, t->attrs[i].name);
		COPY(h->kv[j].value, t->attrs[i].value);
		j++;
	}
#undef COPY
	/*
	 * Sort by name keeping the first of repeated names, as
	 * cld_tmpl_get() does: a stable insertion sort (reports are short),
	 * then drop the later repeats.
	 */
	for (i = 1; i < n; i++) {
		struct kv x = h->kv[i];

		for (j = i; j > 0 && strcmp(h->kv[j - 1].name, x.name) > 0; j--)
			h->kv[j] = h->kv[j - 1];
		h->kv[j] = x;
	}
	for (i = 0, j = 0; i < n; i++)
		if (j == 0 || strcmp(h->kv[j - 1].name, h->kv[i].name) != 0)
			h->kv[j++] = h->kv[i];
	h->nkv = j;
}

/* ---- classes ---- */

static int
hent_better(const struct hent *a, const struct hent *b)
{
	return a->rank > b->rank || (a->rank == b->rank && a->id < b->id);
}

static void
heap_down(struct hent *hp, size_t n, size_t i)
{
	struct hent x = hp[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && hent_better(&hp[c + 1], &hp[c]))
			c++;
		if (!hent_better(&hp[c], &x))
			break;
		hp[i] = hp[c];
		i = c;
	}
	hp[i] = x;
}

static int
hent_valid(const struct cld_sched *s, const struct hent *e)
{
	const struct host *h = &s->hosts[e->host];

	return h->live && h->id == e->id && h->gen == e->gen;
}

/* Drop stale entries and restore the heap. */
static void
heap_compact(const struct cld_sched *s, struct cls *c)
{
	size_t i, j = 0;

	for (i = 0; i < c->hn; i++)
		if (hent_valid(s, &c->heap[i]))
			c->heap[j++] = c->heap[i];
	c->hn = j;
	for (i = c->hn / 2; i-- > 0;)
		heap_down(c->heap, c->hn, i);
}

static void
heap_push(struct cld_sched *s, struct cls *c, const struct hent *e)
{
	size_t i;

	if (c->hn == c->hcap && c->hn >= 2 * s->nlive + 64)
		heap_compact(s, c);
	grow(&c->heap, &c->hcap, c->hn + 1, sizeof(*c->heap));
	i = c->hn++;
	while (i > 0 && hent_better(e, &c->heap[(i - 1) / 2])) {
		c->heap[i] = c->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	c->heap[i] = *e;
}

static void
heap_pop(struct cls *c)
{
	c->heap[0] = c->heap[--c->hn];
	if (c->hn > 0)
		heap_down(c->heap, c->hn, 0);
}

static int
class_req_ok(struct cld_sched *s, struct cls *c, uint32_t hi)
{
	const struct host *h = &s->hosts[hi];
	struct lctx l;
	int r;

	if (c->req_e == NULL)
		return 1;
	l.h = h;
	if (c->req_dynamic)
		return cld_expr_eval_bool(c->req_e, host_lookup, &l);
	if (c->elig_cap < s->host_cap) {
		c->elig = cld_xrealloc(c->elig, s->host_cap * sizeof(*c->elig));
		memset(c->elig + c->elig_cap, 0,
		    (s->host_cap - c->elig_cap) * sizeof(*c->elig));
		c->elig_cap = s->host_cap;
	}
	if (c->elig[hi] >> 1 == h->attr_gen)
		return c->elig[hi] & 1;
	r = cld_expr_eval_bool(c->req_e, host_lookup, &l) != 0;
	c->elig[hi] = h->attr_gen << 1 | (uint32_t)r;
	return r;
}

static double
class_rank(const struct cld_sched *s, const struct cls *c, const struct host *h)
{
	struct lctx l;

	if (c->rank_e != NULL) {
		l.h = h;
		return cld_expr_eval_num(c->rank_e, host_lookup, &l);
	}
	switch (s->policy) {
	case CLD_SCHED_STRIPING:
		return -(double)h->rvm;
	case CLD_SCHED_LOAD_AWARE:
		return h->freecpu;
	default:
		return h->rvm;
	}
}

/* Push host HI on C's heap if it fits and qualifies now. */
static void
class_consider(struct cld_sched *s, struct cls *c, uint32_t hi)
{
	const struct host *h = &s->hosts[hi];
	struct hent e;

	if (!host_fits(h, c) || !class_req_ok(s, c, hi))
		return;
	e.rank = class_rank(s, c, h);
	e.id = h->id;
	e.host = hi;
	e.gen = h->gen;
	heap_push(s, c, &e);
}

static void
class_build(struct cld_sched *s, struct cls *c)
{
	size_t i;

	c->hn = 0;
	for (i = 0; i < s->nhost_slots; i++)
		class_consider(s, c, (uint32_t)i);
	c->built = 1;
}

/* The best host for C now, or NONE. */
static uint32_t
class_best(struct cld_sched *s, struct cls *c)
{
	while (c->hn > 0) {
		if (hent_valid(s, &c->heap[0]))
			return c->heap[0].host;
		heap_pop(c);
	}
	return NONE;
}

static void
class_free(struct cls *c)
{
	if (c == NULL)
		return;
	free(c->req);
	free(c->rank);
	cld_expr_free(c->req_e);
	cld_expr_free(c->rank_e);
	free(c->heap);
	free(c->elig);
	free(c->why);
	free(c);
}

static uint64_t
class_hash(double cpu, uint64_t mem, const char *req, const char *rank)
{
	uint64_t h = 0, bits = 0;

	if (cpu == 0)
		cpu = 0; /* -0 and 0 are one class */
	memcpy(&bits, &cpu, sizeof(bits));
	h = mix64(bits) ^ mix64(mem + 0x51ed27ULL);
	h = hash_str(h, req);
	return hash_str(h, rank);
}

static uint32_t
class_find(const struct cld_sched *s, uint64_t hash, double cpu, uint64_t mem,
    const char *req, const char *rank)
{
	uint32_t i;

	if (s->nbuckets == 0)
		return NONE;
	for (i = s->buckets[hash & (s->nbuckets - 1)]; i != NONE;
	    i = s->cls[i]->hnext) {
		const struct cls *c = s->cls[i];

		if (c->hash == hash && c->cpu == cpu && c->mem == mem &&
		    str_eq(c->req, req) && str_eq(c->rank, rank))
			return i;
	}
	return NONE;
}

static void
bucket_link(struct cld_sched *s, uint32_t ci)
{
	uint32_t *b = &s->buckets[s->cls[ci]->hash & (s->nbuckets - 1)];

	s->cls[ci]->hnext = *b;
	*b = ci;
}

static uint32_t
class_add(struct cld_sched *s, struct cls *c)
{
	uint32_t ci = NONE;
	size_t i;

	for (i = 0; i < s->ncls_slots; i++)
		if (s->cls[i] == NULL) {
			ci = (uint32_t)i;
			break;
		}
	if (ci == NONE) {
		grow(&s->cls, &s->cls_cap, s->ncls_slots + 1, sizeof(*s->cls));
		ci = (uint32_t)s->ncls_slots++;
	}
	s->cls[ci] = c;
	s->ncls++;
	if (s->ncls > s->nbuckets) {
		s->nbuckets = s->nbuckets ? s->nbuckets * 2 : 16;
		free(s->buckets);
		s->buckets = cld_xmalloc(s->nbuckets * sizeof(*s->buckets));
		memset(s->buckets, 0xff, s->nbuckets * sizeof(*s->buckets));
		for (i = 0; i < s->ncls_slots; i++)
			if (s->cls[i] != NULL)
				bucket_link(s, (uint32_t)i);
	} else {
		bucket_link(s, ci);
	}
	return ci;
}

static void
class_unref(struct cld_sched *s, uint32_t ci)
{
	struct cls *c = s->cls[ci];
	uint32_t *p = NULL;

	if (--c->refs > 0)
		return;
	/* No VM needs it: its heap is not worth keeping current. */
	for (p = &s->buckets[c->hash & (s->nbuckets - 1)]; *p != ci;
	    p = &s->cls[*p]->hnext)
		;
	*p = c->hnext;
	s->cls[ci] = NULL;
	s->ncls--;
	class_free(c);
}

/* Host HI changed: every class that has its hosts gets its new standing. */
static void
host_changed(struct cld_sched *s, uint32_t hi)
{
	size_t i;

	s->hosts[hi].gen++;
	s->epoch++;
	for (i = 0; i < s->ncls_slots; i++) {
		struct cls *c = s->cls[i];

		if (c != NULL && c->built)
			class_consider(s, c, hi);
	}
}

/* Give every live host a new attr_gen when the counter would wrap. */
static void
renumber_attr_gens(struct cld_sched *s)
{
	size_t i;

	for (i = 0; i < s->ncls_slots; i++)
		if (s->cls[i] != NULL && s->cls[i]->elig != NULL)
			memset(s->cls[i]->elig, 0,
			    s->cls[i]->elig_cap * sizeof(*s->cls[i]->elig));
	s->next_attr_gen = 1;
	for (i = 0; i < s->nhost_slots; i++)
		if (s->hosts[i].live)
			s->hosts[i].attr_gen = s->next_attr_gen++;
}

/* ---- why ---- */

static const char *
plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* Append to BUF (of SIZE) at *LEN. */
static CLD_PRINTF(4, 5) void
append(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (*len >= size)
		return;
	va_start(ap, fmt);
	r = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (r > 0)
		*len += (size_t)r;
}

/*
 * Say why no host is left for C: scan the hosts once, the way admission
 * does, and count what stopped them.
 */
static void
class_explain(struct cld_sched *s, struct cls *c)
{
	size_t enabled = 0, n = 0, cpu = 0, mem = 0, full = 0, lim = 0, i;
	size_t nocpu = 0, nomem = 0, len = 0;
	double maxcpu = 0;
	uint64_t maxmem = 0;
	char buf[512];

	/*
	 * Nothing changed since the last scan: the same answer.  This keeps an
	 * idle cycle over many waiting classes from scanning every host again.
	 */
	if (c->why != NULL && c->why_epoch == s->epoch)
		return;
	c->why_epoch = s->epoch;
	for (i = 0; i < s->nhost_slots; i++) {
		const struct host *h = &s->hosts[i];

		if (!h->live || !h->enabled)
			continue;
		enabled++;
		if (!class_req_ok(s, c, (uint32_t)i))
			continue;
		n++;
		if (h->cpu_total > maxcpu)
			maxcpu = h->cpu_total;
		if (h->mem_total > maxmem)
			maxmem = h->mem_total;
		/* Each reason counted on its own ... */
		if (h->cpu_alloc + c->cpu > h->cpu_total + CPU_SLACK)
			nocpu++;
		if (h->mem_alloc > h->mem_total ||
		    c->mem > h->mem_total - h->mem_alloc)
			nomem++;
		/* ... and each host by the first that stops it. */
		if (h->cpu_alloc + c->cpu > h->cpu_total + CPU_SLACK)
			cpu++;
		else if (h->mem_alloc > h->mem_total ||
		    c->mem > h->mem_total - h->mem_alloc)
			mem++;
		else if (h->max_vms > 0 && h->rvm >= h->max_vms)
			full++;
		else if (h->limited)
			lim++;
	}
	if (enabled == 0) {
		append(buf, sizeof(buf), &len, "no enabled host");
	} else if (n == 0) {
		append(buf, sizeof(buf), &len,
		    "no host satisfies REQUIREMENTS '%s'", c->req);
	} else if (nocpu == n && nomem == n) {
		append(buf, sizeof(buf), &len,
		    "not enough free CPU and memory on any of %zu %s", n,
		    plural(n, "host", "hosts"));
	} else if (nocpu == n) {
		append(buf, sizeof(buf), &len,
		    "not enough free CPU on any of %zu %s", n,
		    plural(n, "host", "hosts"));
		if (c->cpu > maxcpu)
			append(buf, sizeof(buf), &len,
			    " (the VM asks for %g, the largest has %g)", c->cpu,
			    maxcpu);
	} else if (nomem == n) {
		append(buf, sizeof(buf), &len,
		    "not enough free memory on any of %zu %s", n,
		    plural(n, "host", "hosts"));
		if (c->mem > maxmem)
			append(buf, sizeof(buf), &len,
			    " (the VM asks for %" PRIu64 " KiB, the largest has %"
			    PRIu64 " KiB)", c->mem, maxmem);
	} else if (full == n) {
		if (n == 1)
			append(buf, sizeof(buf), &len, "the only eligible host "
			    "is at its maximum number of VMs");
		else
			append(buf, sizeof(buf), &len, "all %zu eligible hosts "
			    "are at their maximum number of VMs", n);
	} else if (lim == n) {
		append(buf, sizeof(buf), &len,
		    "every host that fits has reached its limit of %zu %s "
		    "this cycle", s->max_host, plural(s->max_host, "VM", "VMs"));
	} else {
		const char *sep = "";

		append(buf, sizeof(buf), &len, "no room on any of %zu %s:", n,
		    plural(n, "host", "hosts"));
		if (cpu > 0) {
			append(buf, sizeof(buf), &len, " %zu %s free CPU", cpu,
			    plural(cpu, "lacks", "lack"));
			sep = ",";
		}
		if (mem > 0) {
			append(buf, sizeof(buf), &len, "%s %zu %s free memory",
			    sep, mem, plural(mem, "lacks", "lack"));
			sep = ",";
		}
		if (full > 0) {
			append(buf, sizeof(buf), &len,
			    "%s %zu %s reached %s maximum of VMs", sep, full,
			    plural(full, "has", "have"),
			    plural(full, "its", "their"));
			sep = ",";
		}
		if (lim > 0)
			append(buf, sizeof(buf), &len,
			    "%s %zu %s reached this cycle's limit of %zu %s",
			    sep, lim, plural(lim, "has", "have"), s->max_host,
			    plural(s->max_host, "VM", "VMs"));
	}
	free(c->why);
	c->why = cld_xstrdup(buf);
}

/* ---- the interface ---- */

struct cld_sched *
cld_sched_new(int default_policy)
{
	struct cld_sched *s = cld_xcalloc(1, sizeof(*s));

	s->policy = cld_sched_policy_name(default_policy) != NULL ?
	    default_policy : CLD_SCHED_PACKING;
	s->vm_free = NONE;
	s->head = NONE;
	s->tail = NONE;
	s->cursor = NONE;
	s->next_attr_gen = 1;
	return s;
}

void
cld_sched_free(struct cld_sched *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nhost_slots; i++)
		host_release(&s->hosts[i]);
	for (i = 0; i < s->ncls_slots; i++)
		class_free(s->cls[i]);
	free(s->hosts);
	free(s->host_free);
	free(s->host_map.tab);
	free(s->vms);
	free(s->vm_map.tab);
	free(s->cls);
	free(s->buckets);
	free(s->limited);
	free(s->dispatch_why);
	free(s);
}

void
cld_sched_set_policy(struct cld_sched *s, int policy)
{
	size_t i;

	if (cld_sched_policy_name(policy) == NULL || policy == s->policy)
		return;
	s->policy = policy;
	s->epoch++;
	/* Classes on the default policy rank by another measure now. */
	for (i = 0; i < s->ncls_slots; i++)
		if (s->cls[i] != NULL && s->cls[i]->rank == NULL) {
			s->cls[i]->built = 0;
			s->cls[i]->hn = 0;
		}
}

void
cld_sched_host_set(struct cld_sched *s, const struct cld_sched_host *src)
{
	uint32_t hi = idmap_find(&s->host_map, s->hosts, sizeof(*s->hosts),
	    src->id);
	struct host *h = NULL;
	size_t i;

	if (hi == NONE) {
		if (s->nhost_free > 0) {
			hi = s->host_free[--s->nhost_free];
		} else {
			grow(&s->hosts, &s->host_cap, s->nhost_slots + 1,
			    sizeof(*s->hosts));
			hi = (uint32_t)s->nhost_slots++;
			memset(&s->hosts[hi], 0, sizeof(s->hosts[hi]));
		}
		h = &s->hosts[hi];
		h->id = src->id;
		h->live = 1;
		h->limited = 0;
		h->placed = 0;
		h->cycle = 0;
		s->nlive++;
		idmap_insert(&s->host_map, s->hosts, sizeof(*s->hosts), hi);
	}
	h = &s->hosts[hi];
	host_release(h);
	host_copy_attrs(h, src);
	h->cluster_id = src->cluster_id;
	h->enabled = src->enabled != 0;
	h->cpu_total = src->cpu_total;
	h->cpu_alloc = src->cpu_alloc;
	h->mem_total = src->mem_total;
	h->mem_alloc = src->mem_alloc;
	h->rvm = src->rvm;
	h->max_vms = src->max_vms;
	h->freecpu = 0;
	(void)cld_parse_double(host_attr(h, "FREECPU"), &h->freecpu);
	if (s->next_attr_gen >= UINT32_MAX >> 1)
		renumber_attr_gens(s);
	h->attr_gen = s->next_attr_gen++;
	host_changed(s, hi);
	/* Inside a cycle (from its callback) room may have appeared. */
	if (s->in_run)
		for (i = 0; i < s->ncls_slots; i++)
			if (s->cls[i] != NULL)
				s->cls[i]->blocked = 0;
}

void
cld_sched_host_del(struct cld_sched *s, int64_t id)
{
	uint32_t hi = idmap_find(&s->host_map, s->hosts, sizeof(*s->hosts), id);
	struct host *h = NULL;

	if (hi == NONE)
		return;
	idmap_remove(&s->host_map, s->hosts, sizeof(*s->hosts), id);
	h = &s->hosts[hi];
	host_release(h);
	/* Its heap entries go stale: live is 0, and gen moves on for reuse. */
	h->live = 0;
	h->gen++;
	s->nlive--;
	s->epoch++;
	grow(&s->host_free, &s->host_free_cap, s->nhost_free + 1,
	    sizeof(*s->host_free));
	s->host_free[s->nhost_free++] = hi;
}

/* NULL for an absent or blank expression: there is nothing to test. */
static const char *
expr_text(const char *t)
{
	const char *p = t;

	if (p == NULL)
		return NULL;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return *p == '\0' ? NULL : t;
}

int
cld_sched_vm_add(struct cld_sched *s, const struct cld_sched_vm *v,
    struct cld_err *err)
{
	const char *req = expr_text(v->requirements);
	const char *rank = expr_text(v->rank);
	double cpu = v->cpu == 0 ? 0 : v->cpu;
	uint64_t hash = 0;
	uint32_t ci = NONE, vi = NONE;
	struct cls *c = NULL;
	struct vm *vm = NULL;
	int ret = -1;

	if (!isfinite(cpu) || cpu < 0) {
		cld_err_set(err, CLD_EINVAL, "CPU: %g is not a share of a core",
		    cpu / 100);
		goto cleanup;
	}
	hash = class_hash(cpu, v->mem, req, rank);
	ci = class_find(s, hash, cpu, v->mem, req, rank);
	if (ci == NONE) {
		c = cld_xcalloc(1, sizeof(*c));
		if (req != NULL &&
		    (c->req_e = cld_expr_parse(req, err)) == NULL) {
			cld_err_prefix(err, "REQUIREMENTS");
			goto cleanup;
		}
		if (rank != NULL &&
		    (c->rank_e = cld_expr_parse(rank, err)) == NULL) {
			cld_err_prefix(err, "RANK");
			goto cleanup;
		}
		c->cpu = cpu;
		c->mem = v->mem;
		c->req = req == NULL ? NULL : cld_xstrdup(req);
		c->rank = rank == NULL ? NULL : cld_xstrdup(rank);
		c->req_dynamic = req != NULL && names_dynamic(req);
		c->hash = hash;
		ci = class_add(s, c);
		c = NULL;
	}
	s->cls[ci]->refs++;

	vi = idmap_find(&s->vm_map, s->vms, sizeof(*s->vms), v->id);
	if (vi != NONE) {
		/* A new request for a pending VM: it keeps its age. */
		vm = &s->vms[vi];
		class_unref(s, vm->cls);
	} else {
		if (s->vm_free != NONE) {
			vi = s->vm_free;
			s->vm_free = s->vms[vi].next;
		} else {
			grow(&s->vms, &s->vm_cap, s->nvm_slots + 1,
			    sizeof(*s->vms));
			vi = (uint32_t)s->nvm_slots++;
		}
		vm = &s->vms[vi];
		vm->id = v->id;
		vm->prev = s->tail;
		vm->next = NONE;
		if (s->tail != NONE)
			s->vms[s->tail].next = vi;
		else
			s->head = vi;
		s->tail = vi;
		s->npending++;
		idmap_insert(&s->vm_map, s->vms, sizeof(*s->vms), vi);
	}
	vm->cls = ci;
	vm->cycle = 0;
	vm->why = WHY_NONE;
	ret = 0;
cleanup:
	class_free(c);
	return ret;
}

/* Take slot VI out of the pending set. */
static void
vm_remove(struct cld_sched *s, uint32_t vi)
{
	struct vm *vm = &s->vms[vi];

	idmap_remove(&s->vm_map, s->vms, sizeof(*s->vms), vm->id);
	if (vm->prev != NONE)
		s->vms[vm->prev].next = vm->next;
	else
		s->head = vm->next;
	if (vm->next != NONE)
		s->vms[vm->next].prev = vm->prev;
	else
		s->tail = vm->prev;
	/* A running cycle must not walk into a freed slot. */
	if (s->cursor == vi)
		s->cursor = vm->next;
	class_unref(s, vm->cls);
	vm->id = -1;
	vm->next = s->vm_free;
	s->vm_free = vi;
	s->npending--;
}

void
cld_sched_vm_del(struct cld_sched *s, int64_t id)
{
	uint32_t vi = idmap_find(&s->vm_map, s->vms, sizeof(*s->vms), id);

	if (vi != NONE)
		vm_remove(s, vi);
}

size_t
cld_sched_pending(const struct cld_sched *s)
{
	return s->npending;
}

/* Account a VM of class C on host HI. */
static void
place(struct cld_sched *s, uint32_t hi, const struct cls *c)
{
	struct host *h = &s->hosts[hi];

	h->cpu_alloc += c->cpu;
	h->mem_alloc += c->mem;
	h->rvm++;
	if (h->cycle != s->cycle) {
		h->cycle = s->cycle;
		h->placed = 0;
	}
	h->placed++;
	if (s->max_host > 0 && h->placed >= s->max_host && !h->limited) {
		h->limited = 1;
		grow(&s->limited, &s->limited_cap, s->nlimited + 1,
		    sizeof(*s->limited));
		s->limited[s->nlimited++] = hi;
	}
	host_changed(s, hi);
}

size_t
cld_sched_run(struct cld_sched *s, const struct cld_sched_limits *lim,
    cld_sched_place_fn fn, void *ctx)
{
	size_t max_dispatch = lim != NULL ? lim->max_dispatch : 0;
	size_t placed = 0, i;

	if (++s->cycle == 0)
		s->cycle = 1;
	s->in_run = 1;
	/* The limits are part of every explanation. */
	if ((lim != NULL ? lim->max_host : 0) != s->max_host)
		s->epoch++;
	s->max_host = lim != NULL ? lim->max_host : 0;
	s->nlimited = 0;
	free(s->dispatch_why);
	s->dispatch_why = NULL;
	s->cursor = s->head;
	while (s->cursor != NONE) {
		uint32_t vi = s->cursor, hi = NONE;
		struct vm *vm = &s->vms[vi];
		struct cls *c = s->cls[vm->cls];
		int64_t vm_id = vm->id, host_id = 0;

		s->cursor = vm->next;
		vm->cycle = s->cycle;
		if (c->blocked == s->cycle) {
			vm->why = WHY_CLASS;
			continue;
		}
		if (max_dispatch > 0 && placed >= max_dispatch) {
			if (s->dispatch_why == NULL)
				s->dispatch_why = cld_xasprintf("waiting for "
				    "the next cycle: this one reached its limit "
				    "of %zu %s", max_dispatch,
				    plural(max_dispatch, "placement",
				    "placements"));
			vm->why = WHY_DISPATCH;
			continue;
		}
		if (!c->built)
			class_build(s, c);
		if ((hi = class_best(s, c)) == NONE) {
			/* Nothing frees room during a cycle: skip its kind. */
			c->blocked = s->cycle;
			class_explain(s, c);
			vm->why = WHY_CLASS;
			continue;
		}
		host_id = s->hosts[hi].id;
		place(s, hi, c);
		vm_remove(s, vi);
		placed++;
		/* Last, with nothing held: FN may call back into S. */
		if (fn != NULL)
			fn(ctx, vm_id, host_id);
	}
	/* Hosts held back by max_host take VMs again next cycle. */
	for (i = 0; i < s->nlimited; i++) {
		uint32_t hi = s->limited[i];

		if (s->hosts[hi].live && s->hosts[hi].limited) {
			s->hosts[hi].limited = 0;
			host_changed(s, hi);
		}
	}
	s->nlimited = 0;
	s->in_run = 0;
	return placed;
}

const char *
cld_sched_why(const struct cld_sched *s, int64_t id)
{
	uint32_t vi = idmap_find(&s->vm_map, s->vms, sizeof(*s->vms), id);
	const struct vm *vm = NULL;

	if (vi == NONE)
		return NULL;
	vm = &s->vms[vi];
	if (vm->cycle == 0 || vm->cycle != s->cycle)
		return NULL;
	switch (vm->why) {
	case WHY_CLASS:
		return s->cls[vm->cls]->why;
	case WHY_DISPATCH:
		return s->dispatch_why;
	default:
		return NULL;
	}
}

const char *
cld_sched_policy_name(int policy)
{
	if (policy < 0 || (size_t)policy >= CLD_ARRAY_SIZE(policy_names))
		return NULL;
	return policy_names[policy];
}

int
cld_sched_policy_from_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < CLD_ARRAY_SIZE(policy_names); i++)
		if (strcasecmp(name, policy_names[i]) == 0)
			return (int)i;
	return -1;
}
