/*
 * store-writer: drive the store the way the daemon does, for the crash test.
 *
 *   store-writer [--full] PATH COUNT
 *	Write COUNT more VMs (ids after the largest one in the store), each
 *	with its history record and, every 10th, a lease, in transactions of
 *	1 to 50 VMs.  "committed ID" is printed for every VM of a transaction
 *	only after its commit returned.
 *
 *   store-writer --check PATH
 *	Print the ids of the VMs in the store, one a line, and check that the
 *	store is whole: the ids are 1..N without a gap (transactions commit in
 *	order, so a hole is a half-written one), every VM has its history
 *	record and every record its VM, every body is intact, every 10th VM
 *	has its lease and no other lease exists.  Exit 0 if so, else 1.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

#define BODY_MAX 2200
#define NET_ID 1

static void
usage(void)
{
	fprintf(stderr, "usage: store-writer [--full] PATH COUNT\n"
	    "       store-writer --check PATH\n");
	exit(2);
}

/* The body of VM ID: about 2 KiB that name the id all along. */
static void
make_body(int64_t id, char *buf, size_t len)
{
	size_t off = 0;
	int n;

	n = snprintf(buf, len, "ID = %" PRId64 "\nNAME = \"vm-%" PRId64 "\"\n",
	    id, id);
	off = (size_t)n;
	while (off + 64 < 2048) {
		n = snprintf(buf + off, len - off, "PAD_%04zu = \"%" PRId64
		    "\"\n", off, id);
		off += (size_t)n;
	}
	snprintf(buf + off, len - off, "END = %" PRId64 "\n", id);
}

static void
make_lease(int64_t id, char *ip, size_t iplen, char *mac, size_t maclen)
{
	unsigned a = (unsigned)(id >> 16) & 255, b = (unsigned)(id >> 8) & 255,
	    c = (unsigned)id & 255;

	snprintf(ip, iplen, "10.%u.%u.%u", a, b, c);
	snprintf(mac, maclen, "02:00:0a:%02x:%02x:%02x", a, b, c);
}

static int
write_vm(struct cld_store *st, int64_t id, struct cld_err *err)
{
	char body[BODY_MAX], name[32], msg[48], ip[32], mac[32];
	struct cld_row row = { 0 };
	struct cld_hist h = { 0 };
	struct cld_lease l = { 0 };

	make_body(id, body, sizeof(body));
	snprintf(name, sizeof(name), "vm-%" PRId64, id);
	row.id = id;
	row.name = name;
	row.uid = id % 13;
	row.gid = id % 3;
	row.state = 3;
	row.ref = -1;
	row.mtime = cld_time();
	row.body = body;
	if (cld_store_put(st, CLD_T_VMS, &row, err) == -1)
		return -1;
	snprintf(msg, sizeof(msg), "placed vm-%" PRId64, id);
	h.vm_id = id;
	h.seq = 0;
	h.host_id = id % 100;
	h.host = "node";
	h.start = row.mtime;
	h.message = msg;
	if (cld_store_hist_put(st, &h, err) == -1)
		return -1;
	if (id % 10 == 0) {
		make_lease(id, ip, sizeof(ip), mac, sizeof(mac));
		l.vnet_id = NET_ID;
		l.ip = ip;
		l.mac = mac;
		l.vm_id = id;
		if (cld_store_lease_put(st, &l, err) == -1)
			return -1;
	}
	return 0;
}

static int
run_writer(const char *path, int sync, int64_t count)
{
	struct cld_store *st = NULL;
	struct cld_err err;
	struct cld_row net = { NET_ID, "net", 0, 0, 0, -1, 0, "BRIDGE = br0" };
	int64_t first, id, end, batch, i;
	int ret = 1;

	st = cld_store_open(path, sync, &err);
	if (st == NULL) {
		fprintf(stderr, "store-writer: %s\n", err.msg);
		goto cleanup;
	}
	if (cld_store_put(st, CLD_T_VNETS, &net, &err) == -1) {
		fprintf(stderr, "store-writer: %s\n", err.msg);
		goto cleanup;
	}
	if ((first = cld_store_max_id(st, CLD_T_VMS)) < -1) {
		fprintf(stderr, "store-writer: cannot read the largest vm id\n");
		goto cleanup;
	}
	first = first < 1 ? 1 : first + 1;
	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	end = first + count;
	for (id = first; id < end; id += batch) {
		batch = 1 + rand() % 50;
		if (batch > end - id)
			batch = end - id;
		if (cld_store_begin(st, &err) == -1)
			goto fail;
		for (i = id; i < id + batch; i++)
			if (write_vm(st, i, &err) == -1) {
				cld_store_rollback(st);
				goto fail;
			}
		if (cld_store_commit(st, &err) == -1)
			goto fail;
		/* only now is the transaction durable: say so */
		for (i = id; i < id + batch; i++)
			printf("committed %" PRId64 "\n", i);
		fflush(stdout);
	}
	ret = 0;
	goto cleanup;
fail:
	fprintf(stderr, "store-writer: %s\n", err.msg);
cleanup:
	cld_store_close(st);
	return ret;
}

struct check {
	int64_t *ids;		/* in id order */
	size_t n, cap;
	unsigned char *hist;	/* per index of ids: records seen */
	size_t nleases;
	int bad;
	char *body;
};

static CLD_PRINTF(2, 3) void
bad(struct check *c, const char *fmt, ...)
{
	va_list ap;

	if (c->bad++ >= 20)
		return;
	fputs("store-writer: check: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The index of ID in c->ids, or -1. */
static ssize_t
find(const struct check *c, int64_t id)
{
	size_t lo = 0, hi = c->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (c->ids[mid] == id)
			return (ssize_t)mid;
		if (c->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int
check_vm(void *ctx, const struct cld_row *r)
{
	struct check *c = ctx;
	char name[32];

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 1024;
		c->ids = cld_xrealloc(c->ids, c->cap * sizeof(*c->ids));
	}
	c->ids[c->n++] = r->id;
	if (r->id != (int64_t)c->n)
		bad(c, "vm %" PRId64 " found where %zu was due (a gap)", r->id,
		    c->n);
	snprintf(name, sizeof(name), "vm-%" PRId64, r->id);
	if (strcmp(r->name, name) != 0)
		bad(c, "vm %" PRId64 " is named '%s'", r->id, r->name);
	make_body(r->id, c->body, BODY_MAX);
	if (strcmp(r->body, c->body) != 0)
		bad(c, "vm %" PRId64 " has a damaged body (%zu bytes)", r->id,
		    strlen(r->body));
	return 0;
}

static int
check_hist(void *ctx, const struct cld_hist *h)
{
	struct check *c = ctx;
	char msg[48];
	ssize_t i = find(c, h->vm_id);

	if (i == -1) {
		bad(c, "history record of vm %" PRId64 ", which is missing",
		    h->vm_id);
		return 0;
	}
	c->hist[i]++;
	snprintf(msg, sizeof(msg), "placed vm-%" PRId64, h->vm_id);
	if (h->seq != 0 || strcmp(h->message, msg) != 0 ||
	    h->host_id != h->vm_id % 100)
		bad(c, "history record %d of vm %" PRId64 " is damaged", h->seq,
		    h->vm_id);
	return 0;
}

static int
check_lease(void *ctx, const struct cld_lease *l)
{
	struct check *c = ctx;
	char ip[32], mac[32];

	c->nleases++;
	if (l->vm_id % 10 != 0 || find(c, l->vm_id) == -1) {
		bad(c, "lease '%s' of vm %" PRId64 ", which should not have "
		    "one", l->ip, l->vm_id);
		return 0;
	}
	make_lease(l->vm_id, ip, sizeof(ip), mac, sizeof(mac));
	if (l->vnet_id != NET_ID || strcmp(l->ip, ip) != 0 ||
	    strcmp(l->mac, mac) != 0 || l->released != 0)
		bad(c, "lease '%s' of vm %" PRId64 " is damaged", l->ip,
		    l->vm_id);
	return 0;
}

static int
run_check(const char *path)
{
	struct check c = { 0 };
	struct cld_store *st = NULL;
	struct cld_err err;
	size_t i, want = 0;
	int ret = 1;

	c.body = cld_xmalloc(BODY_MAX);
	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	if (st == NULL) {
		fprintf(stderr, "store-writer: %s\n", err.msg);
		goto cleanup;
	}
	if (cld_store_load(st, CLD_T_VMS, check_vm, &c, &err) == -1)
		goto fail;
	c.hist = cld_xcalloc(c.n + 1, 1);
	if (cld_store_hist_load(st, -1, check_hist, &c, &err) == -1)
		goto fail;
	if (cld_store_lease_load(st, -1, check_lease, &c, &err) == -1)
		goto fail;
	for (i = 0; i < c.n; i++) {
		if (c.hist[i] != 1)
			bad(&c, "vm %" PRId64 " has %d history records",
			    c.ids[i], c.hist[i]);
		if (c.ids[i] % 10 == 0)
			want++;
		printf("%" PRId64 "\n", c.ids[i]);
	}
	if (c.nleases != want)
		bad(&c, "%zu leases for %zu vms that should have one",
		    c.nleases, want);
	fprintf(stderr, "store-writer: check: %zu vms, %zu leases, %d "
	    "problems\n", c.n, c.nleases, c.bad);
	ret = c.bad == 0 ? 0 : 1;
	goto cleanup;
fail:
	fprintf(stderr, "store-writer: %s\n", err.msg);
cleanup:
	cld_store_close(st);
	free(c.ids);
	free(c.hist);
	free(c.body);
	return ret;
}

int
main(int argc, char **argv)
{
	int64_t count = 0;
	int sync = CLD_SYNC_NORMAL;

	if (argc == 3 && strcmp(argv[1], "--check") == 0)
		return run_check(argv[2]);
	if (argc == 4 && strcmp(argv[1], "--full") == 0) {
		sync = CLD_SYNC_FULL;
		argv++;
		argc--;
	}
	if (argc != 3 || cld_parse_i64(argv[2], &count) == -1 || count < 0)
		usage();
	return run_writer(argv[1], sync, count);
}
