/*
 * bench/vnet: the lease allocator of core/vnet.c, alone, in one process.
 *
 *   fill     lease every address of an empty network, one VM each
 *   churn    on a network 90% leased, give back a random lease and take
 *            one, again and again (the steady state of a busy cloud)
 *
 * for a /22 (1,022 addresses), a /16 and a /8 (16.7 million), printed as
 * nanoseconds per lease, so that one sees whether the cost of a lease
 * grows with the range.  For comparison, the same rules done the obvious
 * way -- scan the range for the free address never used or released
 * longest ago -- on the ranges small enough for it to finish.  Times are
 * the process's CPU time, so that other work on the machine counts less.
 *
 *	bench/vnet [-c CHURN]     (default 1000000 churn steps per network)
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "template.h"
#include "util.h"
#include "vnet.h"

static double
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static struct cld_vnet *
network(int prefix)
{
	char text[128];
	struct cld_tmpl t;
	struct cld_err err;
	struct cld_vnet *vn;

	snprintf(text, sizeof(text),
	    "NAME = b\nBRIDGE = br0\nNETWORK_ADDRESS = 10.0.0.0/%d\n", prefix);
	memset(&t, 0, sizeof(t));
	cld_err_clear(&err);
	if (cld_tmpl_parse(text, strlen(text), &t, &err) < 0 ||
	    (vn = cld_vnet_new(&t, "02:00", &err)) == NULL) {
		fprintf(stderr, "bench/vnet: %s\n", err.msg);
		exit(1);
	}
	cld_tmpl_release(&t);
	return vn;
}

/* The obvious allocator: one state and one release time per address. */
struct naive {
	uint32_t n;
	uint8_t *used;        /* 0 never, 1 released, 2 leased */
	int64_t *when;
};

static int
naive_take(struct naive *a, uint32_t *idx)
{
	int64_t best = -1;

	for (uint32_t i = 0; i < a->n; i++)
		if (a->used[i] == 0) {
			*idx = i;
			a->used[i] = 2;
			return 0;
		}
	for (uint32_t i = 0; i < a->n; i++)
		if (a->used[i] == 1 && (best < 0 || a->when[i] < a->when[best]))
			best = i;
	if (best < 0)
		return -1;
	*idx = (uint32_t)best;
	a->used[best] = 2;
	return 0;
}

static void
run(int prefix, long churn, int naive)
{
	struct cld_vnet *vn = network(prefix);
	uint32_t n = vn->size, idx, *held = cld_xcalloc(n, sizeof(*held));
	uint32_t nheld = 0;
	double t0, fill_ns, churn_ns;
	int64_t clock = 0;
	struct naive a = { n, NULL, NULL };

	srand(1);
	t0 = mono_ns();
	for (uint32_t i = 0; i < n; i++) {
		if (cld_vnet_take(vn, i, &idx) < 0)
			abort();
		held[nheld++] = idx;
	}
	fill_ns = (mono_ns() - t0) / n;
	/* Down to 90% leased, then give one back and take one. */
	while (nheld > n / 10 * 9) {
		uint32_t k = (uint32_t)rand() % nheld;

		cld_vnet_release(vn, held[k], ++clock);
		held[k] = held[--nheld];
	}
	t0 = mono_ns();
	for (long s = 0; s < churn; s++) {
		uint32_t k = (uint32_t)rand() % nheld;

		cld_vnet_release(vn, held[k], ++clock);
		if (cld_vnet_take(vn, s, &held[k]) < 0)
			abort();
	}
	churn_ns = (mono_ns() - t0) / churn;
	printf("  /%-2d %8u addresses: fill %6.0f ns a lease, churn %6.0f ns "
	    "a release and a lease", prefix, n, fill_ns, churn_ns);
	if (naive) {
		long steps = churn < 20000 ? churn : 20000;

		a.used = cld_xcalloc(n, 1);
		a.when = cld_xcalloc(n, sizeof(*a.when));
		nheld = 0;
		t0 = mono_ns();
		for (uint32_t i = 0; i < n; i++) {
			naive_take(&a, &idx);
			held[nheld++] = idx;
		}
		fill_ns = (mono_ns() - t0) / n;
		while (nheld > n / 10 * 9) {
			uint32_t k = (uint32_t)rand() % nheld;

			a.used[held[k]] = 1;
			a.when[held[k]] = ++clock;
			held[k] = held[--nheld];
		}
		t0 = mono_ns();
		for (long s = 0; s < steps; s++) {
			uint32_t k = (uint32_t)rand() % nheld;

			a.used[held[k]] = 1;
			a.when[held[k]] = ++clock;
			naive_take(&a, &held[k]);
		}
		churn_ns = (mono_ns() - t0) / steps;
		printf("; scanning: fill %.0f ns, churn %.0f ns", fill_ns,
		    churn_ns);
		free(a.used);
		free(a.when);
	}
	putchar('\n');
	free(held);
	cld_vnet_free(vn);
}

int
main(int argc, char **argv)
{
	long churn = 1000000;
	int ch;

	while ((ch = getopt(argc, argv, "c:")) != -1) {
		switch (ch) {
		case 'c':
			churn = atol(optarg);
			break;
		default:
			fprintf(stderr, "usage: bench/vnet [-c CHURN]\n");
			return 2;
		}
	}
	if (churn < 1)
		churn = 1;
	printf("bench/vnet: the lease allocator (never-used first, then the "
	    "least recently released), in one process\n");
	run(22, churn, 1);
	run(20, churn, 1);
	run(16, churn, 0);
	run(8, churn, 0);
	return 0;
}
