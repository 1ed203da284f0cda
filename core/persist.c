/*
 * Between the core's objects and the store: everything is loaded at start
 * and each turn's changes are written in one transaction.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "log.h"
#include "template.h"
#include "util.h"

char *cld_vm_body(const struct cld_vm *vm);
struct cld_vm *cld_vm_from_row(struct cld_core *c, const struct cld_row *row,
    struct cld_err *err);
void cld_host_insert(struct cld_core *c, struct cld_host *h);
void cld_cluster_insert(struct cld_core *c, struct cld_cluster *cl);

struct load_ctx {
	struct cld_core *c;
	struct cld_err *err;
	int failed;
};

static int
load_cluster(void *ctx, const struct cld_row *row)
{
	struct load_ctx *l = ctx;
	struct cld_cluster *cl = cld_xcalloc(1, sizeof(*cl));
	struct cld_tmpl t;
	const char *v;

	memset(&t, 0, sizeof(t));
	cl->id = row->id;
	cl->name = cld_xstrdup(row->name);
	if (cld_tmpl_parse(row->body, strlen(row->body), &t, l->err) < 0) {
		cld_err_prefix(l->err, "cluster %" PRId64, row->id);
		cld_cluster_free(cl);
		l->failed = 1;
		return 1;
	}
	cl->tm = cld_xstrdup((v = cld_tmpl_get(&t, "TM")) ? v : "");
	cl->net = cld_xstrdup((v = cld_tmpl_get(&t, "NET")) ? v : "");
	cld_tmpl_release(&t);
	if (cld_cluster_bind(l->c, cl, l->err) < 0)
		log_warnx("cluster '%s': %s", cl->name, l->err->msg);
	cld_cluster_insert(l->c, cl);
	return 0;
}

static int
load_host(void *ctx, const struct cld_row *row)
{
	struct load_ctx *l = ctx;
	struct cld_host *h = cld_xcalloc(1, sizeof(*h));
	struct cld_tmpl t;
	const char *v;
	struct cld_cluster *cl;
	int64_t n;

	memset(&t, 0, sizeof(t));
	h->id = row->id;
	h->name = cld_xstrdup(row->name);
	h->cluster_id = row->ref >= 0 ? row->ref : 0;
	if (cld_tmpl_parse(row->body, strlen(row->body), &t, l->err) < 0) {
		cld_err_prefix(l->err, "host %" PRId64, row->id);
		cld_host_free(h);
		l->failed = 1;
		return 1;
	}
	h->im = cld_xstrdup((v = cld_tmpl_get(&t, "IM")) ? v : "");
	h->vmm = cld_xstrdup((v = cld_tmpl_get(&t, "VMM")) ? v : "");
	if ((v = cld_tmpl_get(&t, "MAX_VMS")) && cld_parse_i64(v, &n) == 0)
		h->max_vms = (int)n;
	cld_tmpl_release(&t);
	/* Disabled and offline stay so; the others are monitored afresh. */
	h->state = row->state == CLD_HOST_DISABLED ||
	    row->state == CLD_HOST_OFFLINE ? row->state : CLD_HOST_INIT;
	if (cld_host_bind(l->c, h, l->err) < 0) {
		log_warnx("host '%s': %s", h->name, l->err->msg);
		h->error = cld_xstrdup(l->err->msg);
		h->state = CLD_HOST_ERROR;
	}
	cld_host_insert(l->c, h);
	if ((cl = cld_host_cluster(l->c, h)) != NULL)
		cl->nhosts++;
	return 0;
}

static int
load_vnet(void *ctx, const struct cld_row *row)
{
	struct load_ctx *l = ctx;
	struct cld_vnet *vn;
	struct cld_tmpl t;

	memset(&t, 0, sizeof(t));
	if (cld_tmpl_parse(row->body, strlen(row->body), &t, l->err) < 0)
		goto fail;
	/* The row has its MAC_PREFIX: cloudd.conf's does not count here. */
	vn = cld_vnet_new(&t, l->c->conf->mac_prefix, l->err);
	cld_tmpl_release(&t);
	if (vn == NULL)
		goto fail;
	vn->id = row->id;
	vn->uid = row->uid;
	vn->gid = row->gid;
	cld_vnet_insert(l->c, vn);
	return 0;
fail:
	cld_err_prefix(l->err, "network %" PRId64, row->id);
	l->failed = 1;
	return 1;
}

static int
load_lease(void *ctx, const struct cld_lease *le)
{
	struct load_ctx *l = ctx;
	struct cld_vnet *vn = cld_vnet_by_id(l->c, le->vnet_id);
	uint32_t a;
	int64_t idx = -1;

	if (vn == NULL)
		return 0;
	if (cld_ipv4_parse(le->ip, &a) < 0 ||
	    (idx = cld_vnet_index(vn, a)) < 0 ||
	    cld_vnet_restore(vn, (uint32_t)idx, le->vm_id, le->released) < 0)
		log_warnx("network '%s': lease of '%s' ignored: %s", vn->name,
		    le->ip, idx < 0 ? "not one of its addresses" :
		    "its gateway, or listed twice");
	return 0;
}

static int
load_vm(void *ctx, const struct cld_row *row)
{
	struct load_ctx *l = ctx;
	struct cld_core *c = l->c;
	struct cld_vm *vm;

	if (row->id >= c->next_vm_id)
		c->next_vm_id = row->id + 1;
	if (row->state == CLD_VM_DONE)
		return 0;      /* kept in the store, not in memory */
	vm = cld_vm_from_row(c, row, l->err);
	if (vm == NULL) {
		cld_err_prefix(l->err, "VM %" PRId64, row->id);
		l->failed = 1;
		return 1;
	}
	if ((size_t)vm->id >= c->vms_cap) {
		size_t cap = c->vms_cap ? c->vms_cap : 1024;

		while (cap <= (size_t)vm->id)
			cap *= 2;
		c->vms = cld_xrealloc(c->vms, cap * sizeof(*c->vms));
		memset(c->vms + c->vms_cap, 0,
		    (cap - c->vms_cap) * sizeof(*c->vms));
		c->vms_cap = cap;
	}
	c->vms[vm->id] = vm;
	c->nvms_live++;
	/* Capacity is not stored: it is the sum of the VMs that hold it. */
	if (vm->host != NULL) {
		vm->host->nvms++;
		cld_host_alloc(c, vm->host, vm, +1);
	}
	if (vm->dest != NULL) {
		vm->dest->nvms++;
		cld_host_alloc(c, vm->dest, vm, +1);
	}
	if (vm->prev != NULL) {
		vm->prev->nvms++;
		cld_host_alloc(c, vm->prev, vm, +1);
	}
	cld_nics_ref(c, vm, 1);
	return 0;
}

static int
load_hist(void *ctx, const struct cld_hist *h)
{
	struct load_ctx *l = ctx;
	struct cld_vm *vm = cld_vm_find(l->c, h->vm_id);

	if (vm == NULL)
		return 0;
	if (h->seq < vm->hist.seq) {
		struct cld_vm_hist past = { h->seq, h->host_id, h->start,
			h->prolog_end, h->boot_end, h->running_end,
			h->epilog_end, h->end, h->reason };

		cld_vm_past_add(vm, &past, h->message);
		return 0;
	}
	if (h->seq != vm->hist.seq)
		return 0;
	vm->hist.host_id = h->host_id;
	vm->hist.start = h->start;
	vm->hist.prolog_end = h->prolog_end;
	vm->hist.boot_end = h->boot_end;
	vm->hist.running_end = h->running_end;
	vm->hist.epilog_end = h->epilog_end;
	vm->hist.end = h->end;
	vm->hist.reason = h->reason;
	return 0;
}

int
cld_core_load(struct cld_core *c, struct cld_err *err)
{
	struct load_ctx l = { c, err, 0 };

	if (cld_store_load(c->store, CLD_T_CLUSTERS, load_cluster, &l, err) < 0 ||
	    l.failed)
		return -1;
	if (cld_store_load(c->store, CLD_T_HOSTS, load_host, &l, err) < 0 ||
	    l.failed)
		return -1;
	if (cld_store_load(c->store, CLD_T_VNETS, load_vnet, &l, err) < 0 ||
	    l.failed)
		return -1;
	if (cld_store_lease_load(c->store, -1, load_lease, &l, err) < 0)
		return -1;
	for (size_t i = 0; i < c->vnets_cap; i++)
		if (c->vnets[i] != NULL)
			cld_vnet_restore_done(c->vnets[i]);
	c->next_vm_id = cld_store_max_id(c->store, CLD_T_VMS) + 1;
	if (c->next_vm_id < 0) {
		cld_err_set(err, CLD_ESTORE, "cannot read the VMs' ids");
		return -1;
	}
	if (cld_store_load(c->store, CLD_T_VMS, load_vm, &l, err) < 0 ||
	    l.failed)
		return -1;
	/* Only the current record of each VM is kept in memory. */
	if (cld_store_hist_load(c->store, -1, load_hist, &l, err) < 0)
		return -1;
	cld_vnets_check(c);
	return 0;
}

static int
put_hist(struct cld_core *c, int64_t vm_id, const struct cld_vm_hist *vh,
    const char *msg, struct cld_err *err)
{
	struct cld_hist h;
	struct cld_host *host = cld_host_by_id(c, vh->host_id);

	memset(&h, 0, sizeof(h));
	h.vm_id = vm_id;
	h.seq = vh->seq;
	h.host_id = vh->host_id;
	h.host = host ? host->name : "";
	h.start = vh->start;
	h.prolog_end = vh->prolog_end;
	h.boot_end = vh->boot_end;
	h.running_end = vh->running_end;
	h.epilog_end = vh->epilog_end;
	h.end = vh->end;
	h.reason = vh->reason;
	h.message = msg;
	return cld_store_hist_put(c->store, &h, err);
}

static int
put_vm(struct cld_core *c, struct cld_vm *vm, struct cld_err *err)
{
	struct cld_row row;
	char *body = cld_vm_body(vm);
	int rc;

	memset(&row, 0, sizeof(row));
	row.id = vm->id;
	row.name = vm->name;
	row.uid = vm->uid;
	row.gid = vm->gid;
	row.state = vm->state;
	row.ref = vm->host ? vm->host->id : -1;
	row.mtime = cld_time();
	row.body = body;
	rc = cld_store_put(c->store, CLD_T_VMS, &row, err);
	free(body);
	if (rc == 0 && vm->hist_dirty && vm->hist.seq > 0)
		rc = put_hist(c, vm->id, &vm->hist, vm->reason ? vm->reason : "",
		    err);
	return rc;
}

static int
put_host(struct cld_core *c, struct cld_host *h, struct cld_err *err)
{
	struct cld_row row;
	struct cld_tmpl t;
	char *body, buf[32];
	int rc;

	/* Printed by the template printer, which quotes what needs it. */
	memset(&t, 0, sizeof(t));
	cld_tmpl_add(&t, "IM", h->im);
	cld_tmpl_add(&t, "VMM", h->vmm);
	if (h->max_vms > 0) {
		snprintf(buf, sizeof(buf), "%d", h->max_vms);
		cld_tmpl_add(&t, "MAX_VMS", buf);
	}
	body = cld_tmpl_print(&t);
	cld_tmpl_release(&t);
	memset(&row, 0, sizeof(row));
	row.id = h->id;
	row.name = h->name;
	row.state = h->state;
	row.ref = h->cluster_id;
	row.mtime = cld_time();
	row.body = body;
	rc = cld_store_put(c->store, CLD_T_HOSTS, &row, err);
	free(body);
	return rc;
}

static int
put_cluster(struct cld_core *c, struct cld_cluster *cl, struct cld_err *err)
{
	struct cld_row row;
	struct cld_tmpl t;
	char *body;
	int rc;

	memset(&t, 0, sizeof(t));
	cld_tmpl_add(&t, "TM", cl->tm);
	cld_tmpl_add(&t, "NET", cl->net);
	body = cld_tmpl_print(&t);
	cld_tmpl_release(&t);

	memset(&row, 0, sizeof(row));
	row.id = cl->id;
	row.name = cl->name;
	row.ref = -1;
	row.mtime = cld_time();
	row.body = body;
	rc = cld_store_put(c->store, CLD_T_CLUSTERS, &row, err);
	free(body);
	return rc;
}

static int
put_vnet(struct cld_core *c, struct cld_vnet *vn, struct cld_err *err)
{
	struct cld_row row;
	char *body = cld_tmpl_print(&vn->tmpl);
	int rc;

	memset(&row, 0, sizeof(row));
	row.id = vn->id;
	row.name = vn->name;
	row.uid = vn->uid;
	row.gid = vn->gid;
	row.ref = -1;
	row.mtime = cld_time();
	row.body = body;
	rc = cld_store_put(c->store, CLD_T_VNETS, &row, err);
	free(body);
	return rc;
}

/* The lease of index IDX of VN as it is now. */
static int
put_lease(struct cld_core *c, struct cld_vnet *vn, uint32_t idx,
    struct cld_err *err)
{
	struct cld_lease l;
	char ip[16], mac[18];
	const struct cld_lease_ent *e = cld_vnet_ent(vn, idx);

	cld_vnet_ip_text(vn, idx, ip);
	cld_vnet_mac_text(vn, idx, mac);
	memset(&l, 0, sizeof(l));
	l.vnet_id = vn->id;
	l.ip = ip;
	l.mac = mac;
	if (e == NULL || e->state == CLD_LEASE_RESERVED)
		return 0;      /* nothing the store keeps */
	l.vm_id = e->state == CLD_LEASE_HELD ? -1 : e->vm_id;
	l.released = e->state == CLD_LEASE_RELEASED ? e->stamp : 0;
	return cld_store_lease_put(c->store, &l, err);
}

/*
 * Write every change of this turn in one transaction.  On failure nothing
 * is lost: the dirty lists stay as they are and the next turn tries again
 * (and the replies keep waiting).
 */
int
cld_core_commit(struct cld_core *c, struct cld_err *err)
{
	if (c->dirty_vms == NULL && c->dirty_hosts == NULL &&
	    c->dirty_clusters == NULL && c->ndels == 0 && c->nold_hists == 0 &&
	    c->dirty_vnets == NULL && c->ndirty_leases == 0)
		return 0;
	if (cld_store_begin(c->store, err) < 0)
		return -1;
	for (struct cld_cluster *cl = c->dirty_clusters; cl; cl = cl->dirty_next)
		if (put_cluster(c, cl, err) < 0)
			goto fail;
	for (struct cld_host *h = c->dirty_hosts; h; h = h->dirty_next)
		if (put_host(c, h, err) < 0)
			goto fail;
	for (struct cld_vnet *vn = c->dirty_vnets; vn; vn = vn->dirty_next)
		if (put_vnet(c, vn, err) < 0)
			goto fail;
	for (struct cld_vm *vm = c->dirty_vms; vm; vm = vm->dirty_next)
		if (put_vm(c, vm, err) < 0)
			goto fail;
	/* In the VMs' transaction: a lease and its VM's state go together. */
	for (size_t i = 0; i < c->ndirty_leases; i++) {
		struct cld_vnet *vn = cld_vnet_by_id(c,
		    c->dirty_leases[i].vnet_id);

		/* A network deleted since: its leases go with its row. */
		if (vn != NULL && put_lease(c, vn, c->dirty_leases[i].idx,
		    err) < 0)
			goto fail;
	}
	for (size_t i = 0; i < c->nold_hists; i++)
		if (put_hist(c, c->old_hists[i].vm_id, &c->old_hists[i].h,
		    c->old_hists[i].msg, err) < 0)
			goto fail;
	for (size_t i = 0; i < c->ndels; i++)
		if (cld_store_del(c->store, c->dels[i].table, c->dels[i].id,
		    err) < 0)
			goto fail;
	if (cld_store_commit(c->store, err) < 0)
		return -1;

	/* Committed: clear the marks; VMs that are DONE leave memory. */
	while (c->dirty_clusters) {
		struct cld_cluster *cl = c->dirty_clusters;

		c->dirty_clusters = cl->dirty_next;
		cl->dirty = 0;
		cl->dirty_next = NULL;
	}
	while (c->dirty_vnets) {
		struct cld_vnet *vn = c->dirty_vnets;

		c->dirty_vnets = vn->dirty_next;
		vn->dirty = 0;
		vn->dirty_next = NULL;
	}
	c->ndirty_leases = 0;
	while (c->dirty_hosts) {
		struct cld_host *h = c->dirty_hosts;

		c->dirty_hosts = h->dirty_next;
		h->dirty = 0;
		h->dirty_next = NULL;
	}
	while (c->dirty_vms) {
		struct cld_vm *vm = c->dirty_vms;

		c->dirty_vms = vm->dirty_next;
		vm->dirty = 0;
		vm->hist_dirty = 0;
		vm->dirty_next = NULL;
		if (vm->state == CLD_VM_DONE && vm->job == NULL &&
		    !vm->polling) {
			c->vms[vm->id] = NULL;
			c->nvms_live--;
			cld_vm_free(vm);
		}
	}
	c->ndels = 0;
	for (size_t i = 0; i < c->nold_hists; i++)
		free(c->old_hists[i].msg);
	c->nold_hists = 0;
	return 0;
fail:
	cld_store_rollback(c->store);
	return -1;
}
