/*
 * bench/sched: placements per second of one cld_sched_run.
 *
 * Input: HOSTS hosts (16 cores, 128 GiB, a monitoring report of a dozen
 * attributes, half of them kvm and half xen) and VMS pending VMs of six
 * classes added round robin: some on the default policy, some with
 * REQUIREMENTS (a number, a wildcard, a dynamic attribute) and RANK.  Each
 * run builds a new scheduler (not timed) and times cld_sched_run placing
 * them all.  One warm-up run, then RUNS measured ones: the median, min and
 * max placements/s, against the target of 50,000/s.  Memory: resident set
 * growth per pending VM, and the peak.
 *
 * Last, the cost of a cycle that places nothing: hosts filled by three
 * times VMS, what is left timed over RUNS idle cycles.
 *
 *	bench/sched [HOSTS [VMS [RUNS]]]     defaults 10000 100000 5
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched.h"
#include "template.h"
#include "util.h"

#define TARGET 50000.0

struct vclass {
	double cpu;          /* CPU x 100 */
	uint64_t mem;        /* KiB */
	const char *req;
	const char *rank;
};

static const struct vclass classes[] = {
	{ 50, 1 << 20, NULL, NULL },
	{ 100, 2 << 20, "HYPERVISOR = \"kvm\"", NULL },
	{ 25, 512 << 10, "FREECPU > 200 & ARCH = \"x86_64\"", "FREECPU" },
	{ 200, 4 << 20, NULL, "FREE_CPU - RUNNING_VMS * 10" },
	{ 50, 2 << 20, "NAME = \"node-1*\" | CLUSTER_ID = 2", "- RUNNING_VMS" },
	{ 100, 1 << 20, "FREE_MEM > 4194304", NULL },
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmRSS or VmHWM of this process, in KiB. */
static long
status_kib(const char *field)
{
	char line[256];
	long v = -1;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void
count_place(void *ctx, int64_t vm, int64_t host)
{
	(void)vm;
	(void)host;
	(*(size_t *)ctx)++;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static struct cld_sched *
setup(size_t nhosts, size_t nvms, long *vm_rss_kib)
{
	struct cld_sched *s = cld_sched_new(CLD_SCHED_PACKING);
	struct cld_err err = { 0 };
	long before = 0;
	size_t i;

	for (i = 0; i < nhosts; i++) {
		struct cld_tmpl t = { 0 };
		struct cld_sched_host h = { 0 };
		char name[32], num[32], cluster[32];

		snprintf(name, sizeof(name), "node-%zu", i);
		snprintf(cluster, sizeof(cluster), "c%zu", i % 4);
		cld_tmpl_add(&t, "HOSTNAME", name);
		cld_tmpl_add(&t, "HYPERVISOR", i % 2 ? "xen" : "kvm");
		cld_tmpl_add(&t, "ARCH", "x86_64");
		cld_tmpl_add(&t, "MODELNAME", "Intel(R) Xeon(R) CPU E5-2650");
		cld_tmpl_add(&t, "TOTALCPU", "1600");
		snprintf(num, sizeof(num), "%zu", 100 + (i * 37) % 1500);
		cld_tmpl_add(&t, "FREECPU", num);
		cld_tmpl_add(&t, "USEDCPU", "300");
		cld_tmpl_add(&t, "TOTALMEMORY", "134217728");
		cld_tmpl_add(&t, "FREEMEMORY", "100000000");
		cld_tmpl_add(&t, "USEDMEMORY", "34217728");
		cld_tmpl_add(&t, "NETRX", "123456789");
		cld_tmpl_add(&t, "NETTX", "987654321");
		h.id = (int64_t)i;
		h.name = name;
		h.cluster = cluster;
		h.cluster_id = (int64_t)(i % 4);
		h.enabled = 1;
		h.cpu_total = 1600;
		h.mem_total = (uint64_t)128 << 20;
		h.attrs = &t;
		cld_sched_host_set(s, &h);
		cld_tmpl_release(&t);
	}
	before = status_kib("VmRSS");
	for (i = 0; i < nvms; i++) {
		const struct vclass *c = &classes[i % CLD_ARRAY_SIZE(classes)];
		struct cld_sched_vm v = { (int64_t)i, c->cpu, c->mem, c->req,
			c->rank };

		if (cld_sched_vm_add(s, &v, &err) != 0) {
			fprintf(stderr, "bench/sched: %s\n", err.msg);
			exit(1);
		}
	}
	if (vm_rss_kib != NULL)
		*vm_rss_kib = status_kib("VmRSS") - before;
	return s;
}

int
main(int argc, char **argv)
{
	size_t nhosts = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	size_t nvms = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
	int runs = argc > 3 ? atoi(argv[3]) : 5;
	double *rate = NULL;
	size_t placed = 0, left = 0;
	long vm_rss = 0;
	int r;

	if (nhosts == 0 || nvms == 0 || runs < 1) {
		fprintf(stderr, "usage: bench/sched [HOSTS [VMS [RUNS]]]\n");
		return 2;
	}
	rate = cld_xcalloc((size_t)runs, sizeof(*rate));
	printf("input: %zu hosts, %zu pending VMs in %zu classes "
	    "(4 with REQUIREMENTS, 3 with RANK)\n", nhosts, nvms,
	    CLD_ARRAY_SIZE(classes));
	/* Run -1 is the warm-up. */
	for (r = -1; r < runs; r++) {
		/* The first, in a fresh heap, says what a pending VM costs. */
		struct cld_sched *s = setup(nhosts, nvms, r < 0 ? &vm_rss : NULL);
		double t0, t1;

		placed = 0;
		t0 = now_s();
		(void)cld_sched_run(s, NULL, count_place, &placed);
		t1 = now_s();
		left = cld_sched_pending(s);
		if (r >= 0)
			rate[r] = (double)placed / (t1 - t0);
		printf("  run %s%d: placed %zu in %.1f ms, %zu left pending\n",
		    r < 0 ? "(warm-up) " : "", r + 1, placed,
		    (t1 - t0) * 1e3, left);
		cld_sched_free(s);
	}
	/*
	 * The cost of a cycle that can place nothing: fill the hosts, then
	 * time cycles over what is left pending.
	 */
	{
		struct cld_sched *s = setup(nhosts, nvms, NULL);
		struct cld_err err = { 0 };
		double t0, best = 1e9;
		size_t i;

		(void)cld_sched_run(s, NULL, NULL, NULL);
		for (i = 0; i < 2 * nvms; i++) {
			const struct vclass *c = &classes[i % CLD_ARRAY_SIZE(classes)];
			struct cld_sched_vm v = { (int64_t)(nvms + i), c->cpu,
				c->mem, c->req, c->rank };

			if (cld_sched_vm_add(s, &v, &err) != 0) {
				fprintf(stderr, "bench/sched: %s\n", err.msg);
				return 1;
			}
		}
		(void)cld_sched_run(s, NULL, NULL, NULL);
		for (r = 0; r < runs; r++) {
			t0 = now_s();
			placed = cld_sched_run(s, NULL, NULL, NULL);
			if (now_s() - t0 < best)
				best = now_s() - t0;
		}
		printf("idle cycle: %zu pending on full hosts, %zu placed: "
		    "%.1f ms (best of %d)\n", cld_sched_pending(s), placed,
		    best * 1e3, runs);
		cld_sched_free(s);
	}
	qsort(rate, (size_t)runs, sizeof(*rate), cmp_double);
	printf("placements/s: median %.0f, min %.0f, max %.0f over %d runs "
	    "(target >= %.0f: %s)\n", rate[runs / 2], rate[0],
	    rate[runs - 1], runs, TARGET,
	    rate[runs / 2] >= TARGET ? "met" : "MISSED");
	printf("memory: %.1f bytes resident per pending VM; peak RSS %ld KiB\n",
	    (double)vm_rss * 1024 / (double)nvms, status_kib("VmHWM"));
	free(rate);
	return 0;
}
