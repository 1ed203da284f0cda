/*
 * The scheduler: admission on allocated capacity, REQUIREMENTS and RANK, the
 * policies, limits per cycle, the order of placement, incremental updates
 * (host_set, host_del, vm_del), errors and the exact why-strings.  Last, a
 * randomised run checked placement by placement against a brute-force
 * reference.
 */
#include "config.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "tap.h"
#include "template.h"
#include "util.h"

#define GiB ((uint64_t)1 << 20) /* in KiB */

/* The placements of one or more cycles, in order. */
struct rec {
	int64_t vm[256];
	int64_t host[256];
	size_t n;
};

static void
rec_place(void *ctx, int64_t vm, int64_t host)
{
	struct rec *r = ctx;

	if (r->n < CLD_ARRAY_SIZE(r->vm)) {
		r->vm[r->n] = vm;
		r->host[r->n] = host;
	}
	r->n++;
}

/* Where VM went in R, or -1. */
static int64_t
host_of(const struct rec *r, int64_t vm)
{
	size_t i;

	for (i = 0; i < r->n && i < CLD_ARRAY_SIZE(r->vm); i++)
		if (r->vm[i] == vm)
			return r->host[i];
	return -1;
}

/* The hosts of R's placements as "1 1 2". */
static const char *
hosts_str(const struct rec *r)
{
	static char buf[1024];
	size_t len = 0, i;

	buf[0] = '\0';
	for (i = 0; i < r->n && i < CLD_ARRAY_SIZE(r->vm); i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%" PRId64,
		    i ? " " : "", r->host[i]);
	return buf;
}

static size_t
run(struct cld_sched *s, size_t max_dispatch, size_t max_host, struct rec *r)
{
	struct cld_sched_limits lim = { max_dispatch, max_host };

	memset(r, 0, sizeof(*r));
	return cld_sched_run(s, &lim, rec_place, r);
}

/* A host of the given capacity, enabled, named "node<id>". */
static struct cld_sched_host
H(int64_t id, double cpu, uint64_t mem)
{
	struct cld_sched_host h = { 0 };

	h.id = id;
	h.enabled = 1;
	h.cpu_total = cpu;
	h.mem_total = mem;
	h.cluster = "default";
	return h;
}

/* Set H with the monitoring report REPORT (template text) or none. */
static void
hset(struct cld_sched *s, struct cld_sched_host h, const char *report)
{
	struct cld_tmpl t = { 0 };
	struct cld_err err = { 0 };
	char name[32];

	if (h.name == NULL) {
		snprintf(name, sizeof(name), "node%" PRId64, h.id);
		h.name = name;
	}
	if (report != NULL) {
		if (cld_tmpl_parse(report, strlen(report), &t, &err) != 0) {
			diag("bad report in the test: %s", err.msg);
			abort();
		}
		h.attrs = &t;
	}
	cld_sched_host_set(s, &h);
	cld_tmpl_release(&t);
}

static int
vm(struct cld_sched *s, int64_t id, double cpu, uint64_t mem, const char *req,
    const char *rank)
{
	struct cld_sched_vm v = { id, cpu, mem, req, rank };
	struct cld_err err = { 0 };
	int rc = cld_sched_vm_add(s, &v, &err);

	if (rc != 0)
		diag("vm %" PRId64 ": %s", id, err.msg);
	return rc;
}

static void
test_policy_names(void)
{
	is_str(cld_sched_policy_name(CLD_SCHED_PACKING), "packing", "name of packing");
	is_str(cld_sched_policy_name(CLD_SCHED_STRIPING), "striping", "name of striping");
	is_str(cld_sched_policy_name(CLD_SCHED_LOAD_AWARE), "load-aware", "name of load-aware");
	ok(cld_sched_policy_name(3) == NULL && cld_sched_policy_name(-1) == NULL,
	    "no name for an unknown policy");
	is_int(cld_sched_policy_from_name("packing"), CLD_SCHED_PACKING, "packing by name");
	is_int(cld_sched_policy_from_name("striping"), CLD_SCHED_STRIPING, "striping by name");
	is_int(cld_sched_policy_from_name("load-aware"), CLD_SCHED_LOAD_AWARE, "load-aware by name");
	is_int(cld_sched_policy_from_name("fastest"), -1, "unknown name is -1");
}

static void
test_capacity(void)
{
	struct cld_sched *s = cld_sched_new(CLD_SCHED_PACKING);
	struct cld_sched_host h;
	struct rec r;
	int i;

	/* CPU: 400 takes four VMs of 100, the fifth waits. */
	hset(s, H(1, 400, 64 * GiB), NULL);
	for (i = 1; i <= 5; i++)
		vm(s, i, 100, GiB, NULL, NULL);
	is_int(cld_sched_pending(s), 5, "five pending before the cycle");
	ok(cld_sched_why(s, 1) == NULL, "no reason before the first cycle");
	is_int(run(s, 0, 0, &r), 4, "cpu: four of 100 fit in 400");
	is_str(hosts_str(&r), "1 1 1 1", "cpu: all on host 1, oldest first");
	is_int(r.vm[0] * 1000 + r.vm[3], 1004, "cpu: VMs 1 .. 4 placed in order");
	is_int(cld_sched_pending(s), 1, "cpu: one left pending");
	is_str(cld_sched_why(s, 5), "not enough free CPU on any of 1 host",
	    "cpu: why the fifth waits");
	ok(cld_sched_why(s, 1) == NULL, "no reason for a placed VM");
	ok(cld_sched_why(s, 99) == NULL, "no reason for an unknown VM");
	cld_sched_free(s);

	/* Memory. */
	s = cld_sched_new(CLD_SCHED_PACKING);
	hset(s, H(1, 800, 4 * GiB), NULL);
	for (i = 1; i <= 5; i++)
		vm(s, i, 0, GiB, NULL, NULL);
	is_int(run(s, 0, 0, &r), 4, "memory: four of 1 GiB fit in 4 GiB");
	is_str(cld_sched_why(s, 5), "not enough free memory on any of 1 host",
	    "memory: why the fifth waits");
	cld_sched_free(s);

	/* max_vms, counting the VMs the host already has. */
	s = cld_sched_new(CLD_SCHED_PACKING);
	h = H(1, 800, 64 * GiB);
	h.max_vms = 3;
	h.rvm = 1;
	hset(s, h, NULL);
	for (i = 1; i <= 3; i++)
		vm(s, i, 10, GiB, NULL, NULL);
	is_int(run(s, 0, 0, &r), 2, "max_vms 3 with 1 running takes 2");
	is_str(cld_sched_why(s, 3), "the only eligible host is at its maximum "
	    "number of VMs", "max_vms: why the third waits");
	h = H(2, 800, 64 * GiB);
	h.max_vms = 1;
	h.rvm = 1;
	hset(s, h, NULL);
	is_int(run(s, 0, 0, &r), 0, "a second full host takes nothing");
	is_str(cld_sched_why(s, 3), "all 2 eligible hosts are at their maximum "
	    "number of VMs", "max_vms: why, two hosts");
	cld_sched_free(s);

	/* CPU and memory both short, and a mix of reasons. */
	s = cld_sched_new(CLD_SCHED_PACKING);
	h = H(1, 100, GiB);
	h.cpu_alloc = 100;
	h.mem_alloc = GiB;
	hset(s, h, NULL);
	h = H(2, 100, GiB);
	h.cpu_alloc = 100;
	h.mem_alloc = GiB;
	hset(s, h, NULL);
	vm(s, 1, 50, 512, NULL, NULL);
	is_int(run(s, 0, 0, &r), 0, "full hosts take nothing");
	is_str(cld_sched_why(s, 1), "not enough free CPU and memory on any of 2 "
	    "hosts", "why: both short");
	h = H(2, 50, GiB);
	hset(s, h, NULL);
	h = H(3, 800, GiB);
	h.mem_alloc = GiB;
	hset(s, h, NULL);
	h = H(4, 800, 8 * GiB);
	h.max_vms = 2;
	h.rvm = 2;
	hset(s, h, NULL);
	vm(s, 2, 50, 512, NULL, NULL);
	is_int(run(s, 0, 0, &r), 1, "the freed host 2 takes one of 50");
	is_int(host_of(&r, 1), 2, "... the older VM");
	is_str(cld_sched_why(s, 2), "no room on any of 4 hosts: 2 lack free CPU, "
	    "1 lacks free memory, 1 has reached its maximum of VMs",
	    "why: a mix of reasons, each host counted once");
	cld_sched_free(s);

	/* Rounding: 0.14 x 100 is 14.000000000000002; three still fill 42. */
	s = cld_sched_new(CLD_SCHED_PACKING);
	hset(s, H(1, 42, GiB), NULL);
	for (i = 1; i <= 4; i++)
		vm(s, i, 0.14 * 100, 1, NULL, NULL);
	is_int(run(s, 0, 0, &r), 3, "three VMs of CPU 0.14 fill 0.42 of a core despite rounding");
	cld_sched_free(s);
}

static void
test_too_big(void)
{
	struct cld_sched *s = cld_sched_new(CLD_SCHED_PACKING);
	struct rec r;

	hset(s, H(1, 800, 16 * GiB), NULL);
	hset(s, H(2, 400, 32 * GiB), NULL);
	vm(s, 1, 1600, GiB, NULL, NULL);
	vm(s, 2, 100, 64 * GiB, NULL, NULL);
	vm(s, 3, 100, GiB, NULL, NULL);
	is_int(run(s, 0, 0, &r), 1, "too big: only the small VM is placed");
	is_int(host_of(&r, 3), 1, "too big: the small one on host 1");
	is_str(cld_sched_why(s, 1), "not enough free CPU on any of 2 hosts (the "
	    "VM asks for 1600, the largest has 800)", "why: more CPU than any host");
	is_str(cld_sched_why(s, 2), "not enough free memory on any of 2 hosts "
	    "(the VM asks for 67108864 KiB, the largest has 33554432 KiB)",
	    "why: more memory than any host");
	is_int(run(s, 0, 0, &r), 0, "too big: still nothing next cycle");
	is_int(cld_sched_pending(s), 2, "too big: both stay pending");
	ok(cld_sched_why(s, 1) != NULL && strstr(cld_sched_why(s, 1), "1600") != NULL,
	    "why: still given after another cycle");
	cld_sched_free(s);
}

/* Whether one VM of nothing with REQUIREMENTS REQ lands on the reference host. */
static int
matches(const char *req)
{
	struct cld_sched *s = cld_sched_new(CLD_SCHED_PACKING);
	struct cld_sched_host h = H(7, 800, 1000);
	struct rec r;
	size_t n;

	h.name = "real";
	h.cluster = "prod";
	h.cluster_id = 3;
	h.cpu_alloc = 250;
	h.mem_alloc = 400;
	h.rvm = 3;
	/* The report claims names the scheduler owns: the scheduler wins. */
	hset(s, h, "NAME = bogus\nRUNNING_VMS = 99\nID = 1\nFREE_CPU = 1\n"
	    "HYPERVISOR = kvm\nHOSTNAME = \"web-01.example\"\nFREECPU = 612.5\n"
	    "HYPERVISOR = xen\n");
	vm(s, 1, 0, 0, req, NULL);
	n = run(s, 0, 0, &r);
	cld_sched_free(s);
	return n == 1;
}

static void
test_requirements(void)
{
	static const struct {
		const char *req;
		int want;
	} cases[] = {
		{ "ID = 7", 1 },
		{ "ID = 1", 0 },
		{ "NAME = \"real\"", 1 },
		{ "NAME = \"bogus\"", 0 },
		{ "NAME = \"re*\"", 1 },
		{ "CLUSTER = \"prod\"", 1 },
		{ "CLUSTER_ID = 3", 1 },
		{ "RUNNING_VMS = 3", 1 },
		{ "RUNNING_VMS = 99", 0 },
		{ "MAX_CPU = 800", 1 },
		{ "MAX_MEM = 1000", 1 },
		{ "CPU_USAGE = 250", 1 },
		{ "MEM_USAGE = 400", 1 },
		{ "FREE_CPU = 550", 1 },
		{ "FREE_MEM = 600", 1 },
		{ "HYPERVISOR = \"kvm\"", 1 },
		{ "HYPERVISOR = \"xen\"", 0 },
		{ "HOSTNAME = \"web-*.example\"", 1 },
		{ "HOSTNAME = \"db-*\"", 0 },
		{ "FREECPU > 600 & FREECPU < 613", 1 },
		{ "GPU = 1", 0 },
		{ "!(GPU = 1)", 1 },
		{ "   ", 1 },
	};
	struct cld_sched *s = NULL;
	struct rec r;
	size_t i;

	for (i = 0; i < CLD_ARRAY_SIZE(cases); i++)
		is_int(matches(cases[i].req), cases[i].want, "REQUIREMENTS '%s' %s",
		    cases[i].req, cases[i].want ? "matches" : "does not match");

	/* Only the host that qualifies, even when another ranks higher. */
	s = cld_sched_new(CLD_SCHED_PACKING);
	hset(s, H(1, 800, 8 * GiB), "HYPERVISOR = xen");
	hset(s, H(2, 800, 8 * GiB), "HYPERVISOR = kvm");
	hset(s, H(3, 800, 8 * GiB), NULL);
	vm(s, 1, 100, GiB, "HYPERVISOR = \"kvm\"", NULL);
	vm(s, 2, 100, GiB, "HYPERVISOR = \"vmware\"", NULL);
	is_int(run(s, 0, 0, &r), 1, "one VM has a host");
	is_int(host_of(&r, 1), 2, "the kvm VM on the kvm host");
	is_str(cld_sched_why(s, 2), "no host satisfies REQUIREMENTS "
	    "'HYPERVISOR = \"vmware\"'", "why: REQUIREMENTS nobody meets");
	/* A new report changes what qualifies (the cache is per report). */
	hset(s, H(1, 800, 8 * GiB), "HYPERVISOR = vmware");
	is_int(run(s, 0, 0, &r), 1, "after a new report the VM finds its host");
	is_int(host_of(&r, 2), 1, "... host 1, now vmware");
	cld_sched_free(s);

	/* REQUIREMENTS on what placements change are evaluated again. */
	s = cld_sched_new(CLD_SCHED_PACKING);
	hset(s, H(1, 800, 8 * GiB), NULL);
	vm(s, 1, 100, GiB, "RUNNING_VMS < 2", NULL);
	vm(s, 2, 100, GiB, "RUNNING_VMS < 2", NULL);
	vm(s, 3, 100, GiB, "RUNNING_VMS < 2", NULL);
	vm(s, 4, 100, GiB, "running_vms < 2", NULL);
	vm(s, 5, 100, GiB, "free_cpu >= 500", NULL);
	vm(s, 6, 100, GiB, "free_cpu >= 500", NULL);
	vm(s, 7, 100, GiB, "free_cpu >= 500", NULL);
	is_int(run(s, 0, 0, &r), 4, "dynamic REQUIREMENTS: four placed");
	is_str(hosts_str(&r), "1 1 1 1", "... all on host 1");
	ok(host_of(&r, 3) == -1 && host_of(&r, 4) == -1,
	    "... RUNNING_VMS seen as it grows, within one class");
	ok(host_of(&r, 6) == 1 && host_of(&r, 7) == -1,
	    "... FREE_CPU seen as it shrinks, within one class");
	is_str(cld_sched_why(s, 4), "no host satisfies REQUIREMENTS "
	    "'running_vms < 2'", "why: quotes REQUIREMENTS as written");
	cld_sched_free(s);
}

static void
test_rank(void)
{
	struct cld_sched *s = cld_sched_new(CLD_SCHED_PACKING);
	struct rec r;

	hset(s, H(1, 800, 8 * GiB), "FREECPU = 100");
	hset(s, H(2, 800, 8 * GiB), "FREECPU = 500");
	hset(s, H(3, 800, 8 * GiB), "FREECPU = 300");
	vm(s, 1, 100, GiB, NULL, "FREECPU");
	vm(s, 2, 100, GiB, NULL, "-FREECPU");
	vm(s, 3, 100, GiB, NULL, "1");
	vm(s, 4, 100, GiB, NULL, "NO_SUCH_ATTRIBUTE");
	vm(s, 5, 100, GiB, NULL, "ID * 10");
	vm(s, 6, 100, GiB, "ID != 3", "ID");
	is_int(run(s, 0, 0, &r), 6, "rank: all placed");
	is_int(host_of(&r, 1), 2, "RANK FREECPU: the host with most");
	is_int(host_of(&r, 2), 1, "RANK -FREECPU: the host with least");
	is_int(host_of(&r, 3), 1, "equal RANK: the lowest id");
	is_int(host_of(&r, 4), 1, "RANK of a missing attribute: 0 for all, lowest id");
	is_int(host_of(&r, 5), 3, "RANK ID * 10: the highest id");
	is_int(host_of(&r, 6), 2, "REQUIREMENTS filter before RANK");
	cld_sched_free(s);

	/* A RANK on allocation follows each placement. */
	s = cld_sched_new(CLD_SCHED_PACKING);
	hset(s, H(1, 300, 8 * GiB), NULL);
	hset(s, H(2, 400, 8 * GiB), NULL);
	vm(s, 1, 100, GiB, NULL, "FREE_CPU");
	vm(s, 2, 100, GiB, NULL, "FREE_CPU");
	vm(s, 3, 100, GiB, NULL, "FREE_CPU");
	vm(s, 4, 100, GiB, NULL, "FREE_CPU");
	run(s, 0, 0, &r);
	is_str(hosts_str(&r), "2 1 2 1", "RANK FREE_CPU re-evaluated after each placement");
	cld_sched_free(s);
}

static void
test_policies(void)
{
	struct cld_sched *s = cld_sched_new(CLD_SCHED_PACKING);
	struct cld_sched_host h;
	struct rec r;
	int i;

	for (i = 1; i <= 3; i++)
		hset(s, H(i, 400, 8 * GiB), NULL);
	for (i = 1; i <= 6; i++)
		vm(s, i, 100, GiB, NULL, NULL);
	run(s, 0, 0, &r);
	is_str(hosts_str(&r), "1 1 1 1 2 2", "packing fills host 1 first");
	cld_sched_free(s);

	s = cld_sched_new(CLD_SCHED_STRIPING);
	for (i = 1; i <= 3; i++)
		hset(s, H(i, 400, 8 * GiB), NULL);
	for (i = 1; i <= 6; i++)
		vm(s, i, 100, GiB, NULL, NULL);
	run(s, 0, 0, &r);
	is_str(hosts_str(&r), "1 2 3 1 2 3", "striping spreads");
	cld_sched_free(s);

	s = cld_sched_new(CLD_SCHED_LOAD_AWARE);
	hset(s, H(1, 400, 8 * GiB), "FREECPU = 100");
	hset(s, H(2, 400, 8 * GiB), "FREECPU = 350");
	hset(s, H(3, 400, 8 * GiB), "FREECPU = 200");
	for (i = 1; i <= 6; i++)
		vm(s, i, 100, GiB, NULL, NULL);
	run(s, 0, 0, &r);
	is_str(hosts_str(&r), "2 2 2 2 3 3", "load-aware: most measured FREECPU first");
	cld_sched_free(s);

	/* Packing and striping count the VMs a host already runs. */
	s = cld_sched_new(CLD_SCHED_PACKING);
	h = H(1, 800, 8 * GiB);
	h.rvm = 1;
	hset(s, h, NULL);
	h = H(2, 800, 8 * GiB);
	h.rvm = 3;
	hset(s, h, NULL);
	h = H(3, 800, 8 * GiB);
	hset(s, h, NULL);
	vm(s, 1, 100, GiB, NULL, NULL);
	vm(s, 2, 100, GiB, NULL, NULL);
	vm(s, 3, 100, GiB, NULL, "RUNNING_VMS");
	run(s, 1, 0, &r);
	is_int(host_of(&r, 1), 2, "packing: the host running most VMs");
	/* VM 2's class has its hosts ranked already: they must be ranked again. */
	cld_sched_set_policy(s, CLD_SCHED_STRIPING);
	run(s, 0, 0, &r);
	is_int(host_of(&r, 2), 3, "set_policy: the default RANK of a waiting class changes");
	is_int(host_of(&r, 3), 2, "set_policy: an explicit RANK does not");
	cld_sched_free(s);
}

static void
test_disabled(void)
{
	struct cld_sched *s = cld_sched_new(CLD_SCHED_PACKING);
	struct cld_sched_host h;
	struct rec r;

	vm(s, 1, 100, GiB, NULL, NULL);
	is_int(run(s, 0, 0, &r), 0, "no hosts: nothing placed");
	is_str(cld_sched_why(s, 1), "no enabled host", "why: no hosts at all");
	h = H(1, 800, 8 * GiB);
	h.enabled = 0;
	hset(s, h, NULL);
	is_int(run(s, 0, 0, &r), 0, "a disabled host takes nothing");
	is_str(cld_sched_why(s, 1), "no enabled host", "why: only a disabled host");
	h = H(2, 200, 8 * GiB);
	hset(s, h, NULL);
	h = H(3, 200, 8 * GiB);
	h.rvm = 5;
	h.enabled = 0;
	hset(s, h, NULL);
	vm(s, 2, 100, GiB, NULL, NULL);
	is_int(run(s, 0, 0, &r), 2, "the enabled host takes both");
	is_str(hosts_str(&r), "2 2", "... never the disabled ones, whatever their rank");
	vm(s, 3, 100, GiB, NULL, NULL);
	h = H(1, 800, 8 * GiB);
	hset(s, h, NULL);
	is_int(run(s, 0, 0, &r), 1, "enabled again, host 1 takes one");
	is_int(host_of(&r, 3), 1, "... VM 3 on host 1");
	cld_sched_free(s);
}

static void
test_limits(void)
{
	struct cld_sched *s = cld_sched_new(CLD_SCHED_PACKING);
	struct cld_sched_host h;
	struct rec r;
	int i;

	hset(s, H(1, 800, 8 * GiB), NULL);
	hset(s, H(2, 800, 8 * GiB), NULL);
	for (i = 1; i <= 5; i++)
		vm(s, i, 100, GiB, NULL, NULL);
	is_int(run(s, 3, 0, &r), 3, "max_dispatch 3: three placed");
	ok(r.vm[0] == 1 && r.vm[1] == 2 && r.vm[2] == 3, "max_dispatch: the oldest three");
	is_str(cld_sched_why(s, 4), "waiting for the next cycle: this one reached "
	    "its limit of 3 placements", "why: max_dispatch");
	is_str(cld_sched_why(s, 5), cld_sched_why(s, 4), "... the same for all after it");
	is_int(run(s, 3, 0, &r), 2, "next cycle: the other two");
	cld_sched_free(s);

	s = cld_sched_new(CLD_SCHED_PACKING);
	hset(s, H(1, 800, 8 * GiB), NULL);
	hset(s, H(2, 800, 8 * GiB), NULL);
	for (i = 1; i <= 5; i++)
		vm(s, i, 100, GiB, NULL, NULL);
	is_int(run(s, 0, 2, &r), 4, "max_host 2 with two hosts: four placed");
	is_str(hosts_str(&r), "1 1 2 2", "max_host: packing spills to the next host");
	is_str(cld_sched_why(s, 5), "every host that fits has reached its limit "
	    "of 2 VMs this cycle", "why: max_host");
	is_int(run(s, 0, 2, &r), 1, "next cycle: the fifth");
	is_int(host_of(&r, 5), 1, "... on host 1 again, the fullest");

	/* max_host beside other reasons. */
	h = H(1, 800, 8 * GiB);
	h.cpu_alloc = 800;
	hset(s, h, NULL);
	for (i = 6; i <= 7; i++)
		vm(s, i, 100, GiB, NULL, NULL);
	is_int(run(s, 0, 1, &r), 1, "max_host 1: one placed");
	is_str(cld_sched_why(s, 7), "no room on any of 2 hosts: 1 lacks free CPU, "
	    "1 has reached this cycle's limit of 1 VM", "why: CPU and max_host");
	cld_sched_free(s);
}

static void
test_order(void)
{
	struct cld_sched *s = cld_sched_new(CLD_SCHED_PACKING);
	struct rec r;

	hset(s, H(1, 200, 8 * GiB), NULL);
	vm(s, 30, 100, GiB, NULL, NULL);
	vm(s, 10, 100, GiB, NULL, NULL);
	vm(s, 20, 100, GiB, NULL, NULL);
	is_int(run(s, 0, 0, &r), 2, "order: two fit");
	ok(r.vm[0] == 30 && r.vm[1] == 10, "order: oldest first, not by id");
	ok(cld_sched_why(s, 20) != NULL, "order: the youngest waits");
	cld_sched_free(s);

	/* Adding a pending VM again changes its request, not its age. */
	s = cld_sched_new(CLD_SCHED_PACKING);
	hset(s, H(1, 200, 8 * GiB), NULL);
	vm(s, 1, 100, GiB, NULL, NULL);
	vm(s, 2, 100, GiB, NULL, NULL);
	vm(s, 3, 100, GiB, NULL, NULL);
	vm(s, 1, 200, GiB, NULL, NULL);
	is_int(cld_sched_pending(s), 3, "re-adding does not add");
	is_int(run(s, 0, 0, &r), 1, "re-added VM 1 now asks for the whole host");
	is_int(r.vm[0], 1, "... and is still first");
	cld_sched_free(s);
}

static void
test_updates(void)
{
	struct cld_sched *s = cld_sched_new(CLD_SCHED_PACKING);
	struct cld_sched_host h;
	struct rec r;

	hset(s, H(1, 200, 8 * GiB), NULL);
	vm(s, 1, 100, GiB, NULL, NULL);
	vm(s, 2, 100, GiB, NULL, NULL);
	vm(s, 3, 100, GiB, NULL, NULL);
	is_int(run(s, 0, 0, &r), 2, "host_set: two fit");
	vm(s, 4, 0, 0, "RUNNING_VMS = 2 & CPU_USAGE = 200 & MEM_USAGE = 2097152", NULL);
	is_int(run(s, 0, 0, &r), 1, "placements grew RUNNING_VMS, CPU_USAGE, MEM_USAGE");
	ok(cld_sched_why(s, 4) == NULL, "... VM 4 placed");
	/* One VM ended: the core sets the host with what remains. */
	h = H(1, 200, 8 * GiB);
	h.cpu_alloc = 100;
	h.mem_alloc = 2 * GiB;
	h.rvm = 2;
	hset(s, h, NULL);
	is_int(run(s, 0, 0, &r), 1, "freed allocation lets the waiting VM in");
	is_int(host_of(&r, 3), 1, "... VM 3 on host 1");
	vm(s, 5, 100, GiB, NULL, NULL);
	is_int(run(s, 0, 0, &r), 0, "and the host is full again");
	/* host_set replaces allocation: what it says is what the scheduler uses. */
	hset(s, H(1, 200, 8 * GiB), NULL);
	is_int(run(s, 0, 0, &r), 1, "host_set with an empty allocation admits again");
	cld_sched_free(s);

	/* host_del */
	s = cld_sched_new(CLD_SCHED_PACKING);
	hset(s, H(1, 800, 8 * GiB), "FREECPU = 700");
	hset(s, H(2, 800, 8 * GiB), "FREECPU = 100");
	vm(s, 1, 100, GiB, NULL, "FREECPU");
	vm(s, 2, 900, GiB, NULL, "FREECPU");
	is_int(run(s, 0, 0, &r), 1, "host_del: one placed");
	is_int(host_of(&r, 1), 1, "... on host 1");
	cld_sched_host_del(s, 1);
	cld_sched_host_del(s, 42);
	vm(s, 3, 100, GiB, NULL, "FREECPU");
	is_int(run(s, 0, 0, &r), 1, "after host_del");
	is_int(host_of(&r, 3), 2, "... the deleted host is never chosen");
	is_str(cld_sched_why(s, 2), "not enough free CPU on any of 1 host (the VM "
	    "asks for 900, the largest has 800)", "why counts only live hosts");
	/* A new host in the freed slot is not taken for the old one. */
	hset(s, H(9, 800, 8 * GiB), "FREECPU = 10");
	vm(s, 4, 100, GiB, NULL, "FREECPU");
	is_int(run(s, 0, 0, &r), 1, "a host added after a delete");
	is_int(host_of(&r, 4), 2, "... ranks by its own report");
	cld_sched_host_del(s, 2);
	cld_sched_host_del(s, 9);
	is_int(run(s, 0, 0, &r), 0, "all hosts deleted: nothing placed");
	is_str(cld_sched_why(s, 2), "no enabled host", "why: all hosts deleted");

	/* vm_del */
	cld_sched_vm_del(s, 2);
	cld_sched_vm_del(s, 77);
	is_int(cld_sched_pending(s), 0, "vm_del: nothing pending");
	ok(cld_sched_why(s, 2) == NULL, "vm_del: no reason for a deleted VM");
	hset(s, H(3, 800, 8 * GiB), NULL);
	vm(s, 5, 100, GiB, NULL, NULL);
	vm(s, 6, 100, GiB, NULL, NULL);
	cld_sched_vm_del(s, 5);
	is_int(run(s, 0, 0, &r), 1, "vm_del: the deleted VM is not placed");
	is_int(r.vm[0], 6, "... only VM 6");
	cld_sched_free(s);
}

static void
test_errors(void)
{
	struct cld_sched *s = cld_sched_new(CLD_SCHED_PACKING);
	struct cld_sched_vm v = { 1, 100, GiB, "FREECPU >", NULL };
	struct cld_err err = { 0 };

	is_int(cld_sched_vm_add(s, &v, &err), -1, "bad REQUIREMENTS refused");
	is_int(err.code, CLD_EINVAL, "... CLD_EINVAL");
	is_str(err.msg, "REQUIREMENTS: column 10: expected a value, found end of "
	    "expression", "... the message names REQUIREMENTS and the column");
	v.requirements = NULL;
	v.rank = "FREECPU * (2";
	cld_err_clear(&err);
	is_int(cld_sched_vm_add(s, &v, &err), -1, "bad RANK refused");
	is_str(err.msg, "RANK: column 13: expected an operator or ')' to close '(' "
	    "at column 11, found end of expression", "... the message names RANK");
	is_int(cld_sched_pending(s), 0, "refused VMs are not pending");
	v.rank = NULL;
	v.cpu = -5;
	ok(cld_sched_vm_add(s, &v, &err) == -1 && err.code == CLD_EINVAL,
	    "negative CPU refused");
	/* A refused change leaves a pending VM as it was. */
	v.cpu = 100;
	is_int(cld_sched_vm_add(s, &v, &err), 0, "a good VM is added");
	v.requirements = "(";
	is_int(cld_sched_vm_add(s, &v, &err), -1, "re-adding it with bad REQUIREMENTS fails");
	hset(s, H(1, 800, 8 * GiB), NULL);
	{
		struct rec r;

		is_int(run(s, 0, 0, &r), 1, "... and the VM keeps its old request");
	}
	cld_sched_free(s);
}

/* A callback that calls back into the scheduler. */
struct reenter {
	struct cld_sched *s;
	struct rec r;
};

static void
reenter_place(void *ctx, int64_t vmid, int64_t host)
{
	struct reenter *re = ctx;

	rec_place(&re->r, vmid, host);
	if (vmid == 1) {
		cld_sched_vm_del(re->s, 2);
		hset(re->s, H(5, 100, GiB), NULL);
	}
}

static void
test_reentry(void)
{
	struct reenter re = { 0 };

	re.s = cld_sched_new(CLD_SCHED_PACKING);
	hset(re.s, H(1, 100, GiB), NULL);
	vm(re.s, 1, 100, 1, NULL, NULL);
	vm(re.s, 2, 100, 1, NULL, NULL);
	vm(re.s, 3, 100, 1, NULL, NULL);
	is_int(cld_sched_run(re.s, NULL, reenter_place, &re), 2,
	    "a callback may delete VMs and set hosts");
	ok(host_of(&re.r, 2) == -1 && host_of(&re.r, 3) == 5,
	    "... the deleted VM is skipped, the new host used in the same cycle");
	cld_sched_free(re.s);
}

/*
 * Random hosts and VMs, placed by the scheduler and by a brute-force
 * reference that scans every host for every VM; the two must agree on every
 * placement.
 */
struct ref_host {
	int64_t id;
	char name[16];
	double cpu_total, cpu_alloc;
	uint64_t mem_total, mem_alloc;
	int rvm, max_vms, enabled;
	size_t placed;
};

struct ref_vm {
	int64_t id;
	double cpu;
	uint64_t mem;
	int req;  /* 0 none, 1 ID < 60, 2 NAME = "h1*" */
	int rank; /* 0 default, 1 FREE_CPU, 2 - RUNNING_VMS */
	int done;
};

static const char *const ref_req[] = { NULL, "ID < 60", "NAME = \"h1*\"" };
static const char *const ref_rank[] = { NULL, "FREE_CPU", "- RUNNING_VMS" };

static unsigned long rnd_state = 12345;

static unsigned long
rnd(unsigned long n)
{
	rnd_state = rnd_state * 6364136223846793005UL + 1442695040888963407UL;
	return (rnd_state >> 33) % n;
}

static double
ref_rank_of(const struct ref_host *h, int rank, int policy)
{
	switch (rank) {
	case 1: return h->cpu_total - h->cpu_alloc;
	case 2: return -(double)h->rvm;
	default: return policy == CLD_SCHED_STRIPING ? -(double)h->rvm : h->rvm;
	}
}

#define RNH 120
#define RNV 1500

struct bigrec {
	int64_t vm[RNV];
	int64_t host[RNV];
	size_t n;
};

static void
big_place(void *ctx, int64_t vmid, int64_t host)
{
	struct bigrec *b = ctx;

	if (b->n < RNV) {
		b->vm[b->n] = vmid;
		b->host[b->n] = host;
	}
	b->n++;
}

/* One cycle by brute force: every host for every VM, oldest VM first. */
static size_t
ref_cycle(struct ref_host *hosts, struct ref_vm *vms, int policy,
    const struct cld_sched_limits *lim, struct bigrec *want)
{
	size_t i, j;

	want->n = 0;
	for (i = 0; i < RNH; i++)
		hosts[i].placed = 0;
	for (i = 0; i < RNV && want->n < lim->max_dispatch; i++) {
		struct ref_vm *v = &vms[i];
		struct ref_host *best = NULL;
		double best_rank = 0;

		if (v->done)
			continue;
		for (j = 0; j < RNH; j++) {
			struct ref_host *h = &hosts[j];
			double rk;

			if (!h->enabled || h->placed >= lim->max_host ||
			    h->cpu_alloc + v->cpu > h->cpu_total ||
			    h->mem_alloc + v->mem > h->mem_total ||
			    (h->max_vms > 0 && h->rvm >= h->max_vms))
				continue;
			if (v->req == 1 && !(h->id < 60))
				continue;
			if (v->req == 2 && fnmatch("h1*", h->name, 0) != 0)
				continue;
			rk = ref_rank_of(h, v->rank, policy);
			/* Hosts are in id order: strictly better keeps the lowest id. */
			if (best == NULL || rk > best_rank) {
				best = h;
				best_rank = rk;
			}
		}
		if (best == NULL)
			continue;
		best->cpu_alloc += v->cpu;
		best->mem_alloc += v->mem;
		best->rvm++;
		best->placed++;
		v->done = 1;
		big_place(want, v->id, best->id);
	}
	return want->n;
}

static void
ref_host_set(struct cld_sched *s, const struct ref_host *h)
{
	struct cld_sched_host sh = H(h->id, h->cpu_total, h->mem_total);

	sh.name = h->name;
	sh.cpu_alloc = h->cpu_alloc;
	sh.mem_alloc = h->mem_alloc;
	sh.rvm = h->rvm;
	sh.max_vms = h->max_vms;
	sh.enabled = h->enabled;
	hset(s, sh, NULL);
}

static void
test_random(void)
{
	static struct ref_host hosts[RNH];
	static struct ref_vm vms[RNV];
	struct bigrec *got = cld_xcalloc(1, sizeof(*got));
	struct bigrec *want = cld_xcalloc(1, sizeof(*want));
	int policy, cycle;

	for (policy = CLD_SCHED_PACKING; policy <= CLD_SCHED_STRIPING; policy++) {
		struct cld_sched *s = cld_sched_new(policy);
		size_t placed = 0, i;

		for (i = 0; i < RNH; i++) {
			struct ref_host *h = &hosts[i];

			memset(h, 0, sizeof(*h));
			h->id = (int64_t)i * 2 + 1;
			snprintf(h->name, sizeof(h->name), "h%zu", i);
			h->cpu_total = 100.0 * (double)(1 + rnd(16));
			h->mem_total = GiB * (1 + rnd(64));
			h->rvm = (int)rnd(3);
			h->max_vms = rnd(4) == 0 ? h->rvm + (int)rnd(5) : 0;
			h->enabled = rnd(10) != 0;
			ref_host_set(s, h);
		}
		for (i = 0; i < RNV; i++) {
			struct ref_vm *v = &vms[i];

			/* Ids fall as VMs get younger: order is by age, not id. */
			v->id = (int64_t)(RNV - i);
			v->cpu = 25.0 * (double)(1 + rnd(8));
			v->mem = (GiB / 2) * (1 + rnd(8));
			v->req = (int)rnd(3);
			v->rank = (int)rnd(3);
			v->done = 0;
			vm(s, v->id, v->cpu, v->mem, ref_req[v->req], ref_rank[v->rank]);
		}
		for (cycle = 0; cycle < 4; cycle++) {
			struct cld_sched_limits lim = { 300, 3 };
			size_t diff = 0;

			ref_cycle(hosts, vms, policy, &lim, want);
			got->n = 0;
			cld_sched_run(s, &lim, big_place, got);
			for (i = 0; i < want->n && i < got->n; i++)
				if (want->vm[i] != got->vm[i] ||
				    want->host[i] != got->host[i])
					diff++;
			ok(got->n == want->n && diff == 0,
			    "random, %s, cycle %d: %zu placements as the reference "
			    "(%zu, %zu differ)", cld_sched_policy_name(policy),
			    cycle + 1, got->n, want->n, diff);
			placed += got->n;
			/* Between cycles some hosts lose their VMs. */
			for (i = 0; i < 15; i++) {
				struct ref_host *h = &hosts[rnd(RNH)];

				h->cpu_alloc = 0;
				h->mem_alloc = 0;
				h->rvm = 0;
				ref_host_set(s, h);
			}
		}
		ok(placed > 300 && cld_sched_pending(s) > 0,
		    "random, %s: a contended run (%zu placed, %zu left)",
		    cld_sched_policy_name(policy), placed, cld_sched_pending(s));
		cld_sched_free(s);
	}
	free(got);
	free(want);
}

int
main(void)
{
	test_policy_names();
	test_capacity();
	test_too_big();
	test_requirements();
	test_rank();
	test_policies();
	test_disabled();
	test_limits();
	test_order();
	test_updates();
	test_errors();
	test_reentry();
	test_random();
	return done_testing();
}
