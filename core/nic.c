/*
 * The core's virtual networks, and the NICs of its VMs and their leases.
 *
 * A NIC on a network (NIC = [ NETWORK = "pub" ]) is checked when its VM is
 * created, and gets its address when the VM is placed, before PROLOG: the
 * lease is taken in the turn that moves the VM out of PENDING, so that the
 * one commit of that turn stores both, and a crash keeps both or neither.
 * It is given back in the turn that makes the VM DONE, in that turn's
 * commit too.  Between the two it survives stop, migration and restarts.
 *
 * Why at placement and not at creation: a VM waiting for a host (HOLD, or
 * PENDING on a full cluster) would otherwise keep an address from a VM
 * that could run; the addresses go to the VMs that run.  A VM that finds
 * its network full stays PENDING, out of the scheduler, with the reason
 * ("no free address in network 'pub' (1022 of 1022 in use)"), and goes
 * back to the scheduler as soon as that network frees an address: nothing
 * is lost and nobody has to create it again.
 *
 * The NIC a driver sees (cloudd-drivers(7)) is the user's with NETWORK,
 * NETWORK_ID, BRIDGE, VLAN_ID and PHYDEV (when the network has them), IP,
 * MAC, GATEWAY, DNS, NETMASK and PREFIX (when known) and TARGET, the tap
 * device the vmm driver makes ("cld<VM id>n<NIC index>").
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "log.h"
#include "template.h"
#include "util.h"

/* What the core sets in a NIC on a network: a template may not. */
static const char *const net_set[] = {
	"BRIDGE", "VLAN_ID", "PHYDEV", "MAC", "GATEWAY", "DNS", "NETMASK",
	"PREFIX", "TARGET", NULL,
};

/* Milliseconds since the epoch: release stamps are compared across restarts. */
static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ the pool */

struct cld_vnet *
cld_vnet_by_id(struct cld_core *c, int64_t id)
{
	return id >= 0 && (size_t)id < c->vnets_cap ? c->vnets[id] : NULL;
}

struct cld_vnet *
cld_vnet_find(struct cld_core *c, const char *ref)
{
	int64_t id;

	if (cld_parse_i64(ref, &id) == 0)
		return cld_vnet_by_id(c, id);
	for (size_t i = 0; i < c->vnets_cap; i++)
		if (c->vnets[i] != NULL && strcmp(c->vnets[i]->name, ref) == 0)
			return c->vnets[i];
	return NULL;
}

void
cld_vnet_insert(struct cld_core *c, struct cld_vnet *vn)
{
	if ((size_t)vn->id >= c->vnets_cap) {
		size_t n = c->vnets_cap ? c->vnets_cap : 16;

		while (n <= (size_t)vn->id)
			n *= 2;
		c->vnets = cld_xrealloc(c->vnets, n * sizeof(*c->vnets));
		memset(c->vnets + c->vnets_cap, 0,
		    (n - c->vnets_cap) * sizeof(*c->vnets));
		c->vnets_cap = n;
	}
	c->vnets[vn->id] = vn;
	if (vn->id >= c->next_vnet_id)
		c->next_vnet_id = vn->id + 1;
}

void
cld_vnet_touch(struct cld_core *c, struct cld_vnet *vn)
{
	if (vn->dirty)
		return;
	vn->dirty = 1;
	vn->dirty_next = c->dirty_vnets;
	c->dirty_vnets = vn;
}

void
cld_lease_touch(struct cld_core *c, struct cld_vnet *vn, uint32_t idx)
{
	if (c->ndirty_leases == c->dirty_leases_cap) {
		c->dirty_leases_cap = c->dirty_leases_cap ?
		    c->dirty_leases_cap * 2 : 64;
		c->dirty_leases = cld_xrealloc(c->dirty_leases,
		    c->dirty_leases_cap * sizeof(*c->dirty_leases));
	}
	c->dirty_leases[c->ndirty_leases].vnet_id = vn->id;
	c->dirty_leases[c->ndirty_leases].idx = idx;
	c->ndirty_leases++;
}

struct cld_vnet *
cld_vnet_add(struct cld_core *c, const char *text, size_t len, int64_t uid,
    int64_t gid, struct cld_err *err)
{
	struct cld_tmpl t;
	struct cld_vnet *vn = NULL;

	memset(&t, 0, sizeof(t));
	if (cld_tmpl_parse(text, len, &t, err) < 0)
		return NULL;
	vn = cld_vnet_new(&t, c->conf->mac_prefix, err);
	cld_tmpl_release(&t);
	if (vn == NULL)
		return NULL;
	for (size_t i = 0; i < c->vnets_cap; i++) {
		struct cld_vnet *o = c->vnets[i];

		if (o == NULL)
			continue;
		if (strcmp(o->name, vn->name) == 0) {
			cld_err_set(err, CLD_EEXIST, "a network named '%s' exists",
			    vn->name);
			goto fail;
		}
		/* Two networks handing out one address on one segment. */
		if (strcmp(o->bridge, vn->bridge) == 0 &&
		    cld_vnet_overlap(o, vn)) {
			char a[64], b[64];

			cld_vnet_describe(vn, a, sizeof(a));
			cld_vnet_describe(o, b, sizeof(b));
			cld_err_set(err, CLD_EEXIST,
			    "the addresses of network '%s' (%s) overlap those of network '%s' (%s) on bridge '%s'",
			    vn->name, a, o->name, b, vn->bridge);
			goto fail;
		}
	}
	vn->id = c->next_vnet_id;
	vn->uid = uid;
	vn->gid = gid;
	cld_vnet_insert(c, vn);
	cld_vnet_touch(c, vn);
	log_info("network '%s' created (bridge %s, %" PRIu32 " addresses)",
	    vn->name, vn->bridge, cld_vnet_nleasable(vn));
	return vn;
fail:
	cld_vnet_free(vn);
	return NULL;
}

int
cld_vnet_delete(struct cld_core *c, struct cld_vnet *vn, struct cld_err *err)
{
	if (vn->nrefs > 0) {
		cld_err_set(err, CLD_EBUSY,
		    "network '%s' is used by %" PRId64 " NIC%s of VMs not yet DONE (%" PRIu32 " address%s leased)",
		    vn->name, vn->nrefs, vn->nrefs == 1 ? "" : "s", vn->nused,
		    vn->nused == 1 ? "" : "es");
		return -1;
	}
	/* Its leases go with its row (ON DELETE CASCADE). */
	for (struct cld_vnet **p = &c->dirty_vnets; *p; p = &(*p)->dirty_next)
		if (*p == vn) {
			*p = vn->dirty_next;
			break;
		}
	cld_core_del(c, CLD_T_VNETS, vn->id);
	c->vnets[vn->id] = NULL;
	log_info("network '%s' deleted", vn->name);
	cld_vnet_free(vn);
	return 0;
}

/* Let the VMs waiting for an address of VN try again. */
static void
wake(struct cld_core *c, struct cld_vnet *vn)
{
	int64_t *ids = vn->waiters;
	size_t n = vn->nwaiters;

	vn->waiters = NULL;
	vn->nwaiters = vn->waiters_cap = 0;
	/* All of them, oldest first: one may not fit a host, another may. */
	for (size_t i = 0; i < n; i++) {
		struct cld_vm *vm = cld_vm_find(c, ids[i]);

		if (vm == NULL || vm->waits != vn || vm->state != CLD_VM_PENDING)
			continue;
		vm->waits = NULL;
		free(vm->reason);
		vm->reason = NULL;
		cld_vm_touch(c, vm);
		cld_vm_sched_add(c, vm);
	}
	free(ids);
}

void
cld_nics_wait(struct cld_core *c, struct cld_vm *vm, struct cld_vnet *vn)
{
	(void)c;
	/* Once a VM is back in the scheduler its entry is stale: skipped. */
	vm->waits = vn;
	if (vn->nwaiters == vn->waiters_cap) {
		vn->waiters_cap = vn->waiters_cap ? vn->waiters_cap * 2 : 16;
		vn->waiters = cld_xrealloc(vn->waiters,
		    vn->waiters_cap * sizeof(*vn->waiters));
	}
	vn->waiters[vn->nwaiters++] = vm->id;
}

int
cld_vnet_action(struct cld_core *c, struct cld_vnet *vn, const char *action,
    const char *ip, struct cld_err *err)
{
	uint32_t a;
	int64_t idx, vm_id;
	int st;

	if (strcmp(action, "hold") != 0 && strcmp(action, "release") != 0) {
		cld_err_set(err, CLD_EINVAL,
		    "unknown action '%s' (one of hold, release)", action);
		return -1;
	}
	if (ip == NULL) {
		cld_err_set(err, CLD_EINVAL, "%s needs an address (\"ip\")",
		    action);
		return -1;
	}
	if (cld_ipv4_parse(ip, &a) < 0) {
		cld_err_set(err, CLD_EINVAL, "'%s' is not an IPv4 address", ip);
		return -1;
	}
	if ((idx = cld_vnet_index(vn, a)) < 0) {
		char range[64];

		cld_vnet_describe(vn, range, sizeof(range));
		cld_err_set(err, CLD_EINVAL,
		    "%s is not an address of network '%s' (%s)", ip, vn->name,
		    range);
		return -1;
	}
	st = cld_vnet_state(vn, (uint32_t)idx, &vm_id);
	if (st == CLD_LEASE_RESERVED) {
		cld_err_set(err, CLD_EINVAL,
		    "%s is the gateway of network '%s': it is never leased",
		    ip, vn->name);
		return -1;
	}
	if (st == CLD_LEASE_USED) {
		cld_err_set(err, CLD_EBUSY,
		    "%s of network '%s' is leased to VM %" PRId64 "%s", ip,
		    vn->name, vm_id, strcmp(action, "release") == 0 ?
		    ": it is given back when the VM is DONE" : "");
		return -1;
	}
	if (strcmp(action, "hold") == 0) {
		if (st == CLD_LEASE_HELD) {
			cld_err_set(err, CLD_EBUSY,
			    "%s of network '%s' is already on hold", ip,
			    vn->name);
			return -1;
		}
		cld_vnet_hold(vn, (uint32_t)idx);
	} else {
		if (st != CLD_LEASE_HELD) {
			cld_err_set(err, CLD_EBUSY,
			    "%s of network '%s' is not on hold", ip, vn->name);
			return -1;
		}
		cld_vnet_release(vn, (uint32_t)idx, wall_ms());
		wake(c, vn);
	}
	cld_lease_touch(c, vn, (uint32_t)idx);
	log_info("network '%s': %s %s", vn->name, ip,
	    strcmp(action, "hold") == 0 ? "on hold" : "released");
	return 0;
}

/* -------------------------------------------------------- VMs' NICs */

static const struct cld_attr *
sub(const struct cld_attr *v, const char *name)
{
	return cld_attrs_next(v->sub, v->nsub, name, NULL);
}

/* "line L, column C: " of A (or of the NIC V when A is NULL). */
static int
nic_err(struct cld_err *err, int code, const struct cld_attr *v,
    const struct cld_attr *a, const char *fmt, ...) CLD_PRINTF(5, 6);

static int
nic_err(struct cld_err *err, int code, const struct cld_attr *v,
    const struct cld_attr *a, const char *fmt, ...)
{
	char msg[CLD_ERR_MSG_MAX];
	va_list ap;

	if (a == NULL)
		a = v;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (a->line > 0)
		cld_err_set(err, code, "line %u, column %u: %s", a->line,
		    a->column, msg);
	else
		cld_err_set(err, code, "%s", msg);
	return -1;
}

/* The network NIC V names, or NULL with err. */
static struct cld_vnet *
nic_network(struct cld_core *c, const struct cld_attr *v, struct cld_err *err)
{
	const struct cld_attr *name = sub(v, "NETWORK"), *id = sub(v, "NETWORK_ID");
	struct cld_vnet *vn = NULL, *by_id = NULL;
	int64_t n;

	if (id != NULL) {
		if (cld_parse_i64(id->value, &n) < 0 ||
		    (by_id = cld_vnet_by_id(c, n)) == NULL) {
			nic_err(err, CLD_EINVAL, v, id,
			    "NIC NETWORK_ID '%s': no such network", id->value);
			return NULL;
		}
		vn = by_id;
	}
	if (name != NULL) {
		vn = NULL;
		for (size_t i = 0; i < c->vnets_cap; i++)
			if (c->vnets[i] != NULL &&
			    strcmp(c->vnets[i]->name, name->value) == 0)
				vn = c->vnets[i];
		if (vn == NULL) {
			nic_err(err, CLD_EINVAL, v, name,
			    "NIC NETWORK '%s': no such network", name->value);
			return NULL;
		}
		if (by_id != NULL && by_id != vn) {
			nic_err(err, CLD_EINVAL, v, id,
			    "NIC NETWORK_ID %s is network '%s', not '%s'",
			    id->value, by_id->name, name->value);
			return NULL;
		}
	}
	return vn;
}

/* A NIC on network VN: nothing the network sets; IP one of its addresses. */
static int
check_net_nic(struct cld_vm *vm, struct cld_attr *v, struct cld_vnet *vn,
    struct cld_err *err)
{
	const struct cld_attr *a;
	char id[32];
	uint32_t ip;
	int64_t idx, owner;
	int st;

	for (size_t k = 0; net_set[k] != NULL; k++)
		if ((a = sub(v, net_set[k])) != NULL)
			return nic_err(err, CLD_EINVAL, v, a,
			    "NIC %s comes from network '%s' (cloudd sets it): leave it out",
			    net_set[k], vn->name);
	if ((a = sub(v, "IP")) != NULL) {
		if (cld_ipv4_parse(a->value, &ip) < 0)
			return nic_err(err, CLD_EINVAL, v, a,
			    "NIC IP '%s' is not an IPv4 address", a->value);
		if ((idx = cld_vnet_index(vn, ip)) < 0) {
			char range[64];

			cld_vnet_describe(vn, range, sizeof(range));
			return nic_err(err, CLD_EINVAL, v, a,
			    "NIC IP '%s' is not an address of network '%s' (%s)",
			    a->value, vn->name, range);
		}
		st = cld_vnet_state(vn, (uint32_t)idx, &owner);
		if (st == CLD_LEASE_RESERVED)
			return nic_err(err, CLD_EINVAL, v, a,
			    "NIC IP '%s' is the gateway of network '%s'",
			    a->value, vn->name);
		if (st == CLD_LEASE_HELD)
			return nic_err(err, CLD_EBUSY, v, a,
			    "NIC IP '%s' of network '%s' is on hold",
			    a->value, vn->name);
		if (st == CLD_LEASE_USED)
			return nic_err(err, CLD_EBUSY, v, a,
			    "NIC IP '%s' of network '%s' is leased to another VM",
			    a->value, vn->name);
		/* Two NICs of this VM asking for one address. */
		for (const struct cld_attr *o = NULL; (o =
		    cld_tmpl_next_vector(&vm->tmpl, "NIC", o)) != NULL && o != v;) {
			const char *oid = cld_vector_get(o, "NETWORK_ID");
			const char *oip = cld_vector_get(o, "IP");
			uint32_t x;

			if (oid != NULL && oip != NULL &&
			    strtoll(oid, NULL, 10) == vn->id &&
			    cld_ipv4_parse(oip, &x) == 0 && x == ip)
				return nic_err(err, CLD_EINVAL, v, a,
				    "NIC IP '%s' is asked for by another NIC of this VM",
				    a->value);
		}
	}
	/* Named both ways from now on: the id for the core, the name for people. */
	snprintf(id, sizeof(id), "%" PRId64, vn->id);
	cld_vector_set(v, "NETWORK", vn->name);
	cld_vector_set(v, "NETWORK_ID", id);
	return 0;
}

/* A plain NIC: BRIDGE (and what it may say) checked where it enters. */
static int
check_plain_nic(struct cld_core *c, struct cld_attr *v, struct cld_err *err)
{
	const struct cld_attr *br = sub(v, "BRIDGE"), *a;
	uint8_t mac[6], prefix[2];
	uint32_t ip = 0;
	int64_t n;
	char buf[18];

	if (br == NULL)
		return nic_err(err, CLD_EINVAL, v, NULL,
		    "NIC needs NETWORK (or NETWORK_ID), or BRIDGE, as in NIC = [ NETWORK = \"pub\" ]");
	if (!cld_ifname_valid(br->value))
		return nic_err(err, CLD_EINVAL, v, br,
		    "NIC BRIDGE '%s' is not an interface name: 1 to 15 letters, digits, '_', '.' or '-'",
		    br->value);
	if ((a = sub(v, "PHYDEV")) != NULL && !cld_ifname_valid(a->value))
		return nic_err(err, CLD_EINVAL, v, a,
		    "NIC PHYDEV '%s' is not an interface name: 1 to 15 letters, digits, '_', '.' or '-'",
		    a->value);
	if ((a = sub(v, "VLAN_ID")) != NULL &&
	    (cld_parse_i64(a->value, &n) < 0 || n < 1 || n > 4094))
		return nic_err(err, CLD_EINVAL, v, a,
		    "NIC VLAN_ID '%s' is not a whole number from 1 to 4094",
		    a->value);
	if ((a = sub(v, "VLAN_ID")) != NULL && sub(v, "PHYDEV") == NULL)
		return nic_err(err, CLD_EINVAL, v, a,
		    "NIC VLAN_ID needs PHYDEV, the interface that carries the VLAN");
	if ((a = sub(v, "TARGET")) != NULL)
		return nic_err(err, CLD_EINVAL, v, a,
		    "NIC TARGET is set by cloudd (the tap device, cld<VM id>n<NIC index>): leave it out");
	if ((a = sub(v, "IP")) != NULL) {
		if (cld_ipv4_parse(a->value, &ip) < 0)
			return nic_err(err, CLD_EINVAL, v, a,
			    "NIC IP '%s' is not an IPv4 address", a->value);
		/* An address a network of this bridge hands out is its own. */
		for (size_t i = 0; i < c->vnets_cap; i++) {
			struct cld_vnet *vn = c->vnets[i];

			if (vn != NULL && strcmp(vn->bridge, br->value) == 0 &&
			    cld_vnet_index(vn, ip) >= 0)
				return nic_err(err, CLD_EINVAL, v, a,
				    "NIC IP '%s' belongs to network '%s' on bridge '%s': use NIC = [ NETWORK = \"%s\", IP = \"%s\" ]",
				    a->value, vn->name, vn->bridge, vn->name,
				    a->value);
		}
	}
	if ((a = sub(v, "MAC")) != NULL) {
		if (cld_mac_parse(a->value, mac) < 0)
			return nic_err(err, CLD_EINVAL, v, a,
			    "NIC MAC '%s' is not a MAC address, as in \"02:00:0a:00:00:05\"",
			    a->value);
		if (mac[0] & 1)
			return nic_err(err, CLD_EINVAL, v, a,
			    "NIC MAC '%s' is a multicast address", a->value);
	} else if (sub(v, "IP") != NULL) {
		/* The MAC derived from the IP, as on a network. */
		cld_mac_prefix_parse(c->conf->mac_prefix, prefix, "MAC_PREFIX",
		    NULL);
		cld_mac_of_ip(prefix, ip, mac);
		cld_mac_format(mac, buf);
		cld_vector_set(v, "MAC", buf);
	}
	return 0;
}

int
cld_nics_check(struct cld_core *c, struct cld_vm *vm, struct cld_err *err)
{
	size_t k = 0;

	for (size_t i = 0; i < vm->tmpl.n; i++) {
		struct cld_attr *v = &vm->tmpl.attrs[i];
		struct cld_vnet *vn;
		char target[64];

		if (strcmp(v->name, "NIC") != 0)
			continue;
		if (!cld_attr_is_vector(v))
			return nic_err(err, CLD_EINVAL, v, NULL,
			    "NIC must be a vector: NIC = [ NETWORK = \"pub\" ]");
		if (sub(v, "NETWORK") != NULL || sub(v, "NETWORK_ID") != NULL) {
			if ((vn = nic_network(c, v, err)) == NULL ||
			    check_net_nic(vm, v, vn, err) < 0)
				return -1;
		} else if (check_plain_nic(c, v, err) < 0)
			return -1;
		/* The tap device: the kernel takes names of 15 characters. */
		snprintf(target, sizeof(target), "cld%" PRId64 "n%zu", vm->id, k);
		if (strlen(target) > CLD_IFNAME_MAX)
			return nic_err(err, CLD_EINVAL, v, NULL,
			    "NIC %zu of VM %" PRId64 " would have a tap device name longer than %d characters ('%s')",
			    k, vm->id, CLD_IFNAME_MAX, target);
		cld_vector_set(v, "TARGET", target);
		k++;
	}
	return 0;
}

/* The network of NIC V (on one), or NULL. */
static struct cld_vnet *
nic_vnet(struct cld_core *c, const struct cld_attr *v)
{
	const char *id = cld_vector_get(v, "NETWORK_ID");
	int64_t n;

	if (id == NULL || cld_parse_i64(id, &n) < 0)
		return NULL;
	return cld_vnet_by_id(c, n);
}

void
cld_nics_ref(struct cld_core *c, struct cld_vm *vm, int sign)
{
	const struct cld_attr *v = NULL;
	struct cld_vnet *vn;

	while ((v = cld_tmpl_next_vector(&vm->tmpl, "NIC", v)) != NULL)
		if ((vn = nic_vnet(c, v)) != NULL)
			vn->nrefs += sign;
}

/*
 * What NIC V of VM still needs from its network: -1 nothing (leased), 0 an
 * address, 1 its IP, at *IDX; 2 its IP is someone else's (err says why).
 */
static int
nic_need(struct cld_vm *vm, struct cld_vnet *vn, const struct cld_attr *v,
    uint32_t *idx, struct cld_err *err)
{
	const char *ip = cld_vector_get(v, "IP");
	uint32_t a;
	int64_t i, owner;
	int st;

	if (ip == NULL)
		return 0;
	if (cld_ipv4_parse(ip, &a) < 0 || (i = cld_vnet_index(vn, a)) < 0) {
		cld_err_set(err, CLD_ENOSPC,
		    "NIC IP '%s' is not an address of network '%s'", ip,
		    vn->name);
		return 2;
	}
	*idx = (uint32_t)i;
	st = cld_vnet_state(vn, *idx, &owner);
	if (st == CLD_LEASE_USED && owner == vm->id)
		return -1;
	if (st == CLD_LEASE_NEW || st == CLD_LEASE_RELEASED)
		return 1;
	cld_err_set(err, CLD_ENOSPC, "address %s of network '%s' is %s", ip,
	    vn->name, st == CLD_LEASE_HELD ? "on hold" :
	    st == CLD_LEASE_USED ? "leased to another VM" : "the gateway");
	return 2;
}

/* Write the lease of index IDX of VN into NIC V. */
static void
nic_fill(struct cld_vnet *vn, struct cld_attr *v, uint32_t idx)
{
	char buf[32];
	uint32_t m = cld_vnet_netmask(vn);

	cld_vector_set(v, "BRIDGE", vn->bridge);
	if (vn->vlan_id > 0) {
		snprintf(buf, sizeof(buf), "%d", vn->vlan_id);
		cld_vector_set(v, "VLAN_ID", buf);
	}
	if (vn->phydev != NULL)
		cld_vector_set(v, "PHYDEV", vn->phydev);
	cld_vnet_ip_text(vn, idx, buf);
	cld_vector_set(v, "IP", buf);
	cld_vnet_mac_text(vn, idx, buf);
	cld_vector_set(v, "MAC", buf);
	if (vn->gateway_s != NULL)
		cld_vector_set(v, "GATEWAY", vn->gateway_s);
	if (vn->dns != NULL)
		cld_vector_set(v, "DNS", vn->dns);
	if (m != 0) {
		cld_ipv4_format(m, buf);
		cld_vector_set(v, "NETMASK", buf);
		snprintf(buf, sizeof(buf), "%d", vn->prefix);
		cld_vector_set(v, "PREFIX", buf);
	}
}

int
cld_nics_take(struct cld_core *c, struct cld_vm *vm,
    struct cld_vnet **short_of, struct cld_err *err)
{
	struct cld_attr *v;
	struct cld_vnet *vn;
	uint32_t idx;
	int need;

	*short_of = NULL;
	/* First whether every NIC can have its address: all or nothing. */
	for (size_t i = 0; i < vm->tmpl.n; i++) {
		uint32_t wanted = 0;

		v = &vm->tmpl.attrs[i];
		if (strcmp(v->name, "NIC") != 0 || !cld_attr_is_vector(v) ||
		    (vn = nic_vnet(c, v)) == NULL)
			continue;
		if ((need = nic_need(vm, vn, v, &idx, err)) == 2) {
			*short_of = vn;
			return -1;
		}
		/* How many addresses its network must have for this VM. */
		for (size_t k = 0; k < vm->tmpl.n; k++) {
			uint32_t x;

			if (strcmp(vm->tmpl.attrs[k].name, "NIC") == 0 &&
			    cld_attr_is_vector(&vm->tmpl.attrs[k]) &&
			    nic_vnet(c, &vm->tmpl.attrs[k]) == vn &&
			    nic_need(vm, vn, &vm->tmpl.attrs[k], &x, err) >= 0)
				wanted++;
		}
		if (wanted > cld_vnet_nfree(vn)) {
			if (vn->nheld > 0)
				cld_err_set(err, CLD_ENOSPC,
				    "no free address in network '%s' (%" PRIu32 " of %" PRIu32 " in use, %" PRIu32 " on hold)",
				    vn->name, vn->nused, cld_vnet_nleasable(vn),
				    vn->nheld);
			else
				cld_err_set(err, CLD_ENOSPC,
				    "no free address in network '%s' (%" PRIu32 " of %" PRIu32 " in use)",
				    vn->name, vn->nused, cld_vnet_nleasable(vn));
			*short_of = vn;
			return -1;
		}
	}
	/* The addresses asked for by name, then the others. */
	for (int pass = 1; pass >= 0; pass--)
		for (size_t i = 0; i < vm->tmpl.n; i++) {
			v = &vm->tmpl.attrs[i];
			if (strcmp(v->name, "NIC") != 0 ||
			    !cld_attr_is_vector(v) ||
			    (vn = nic_vnet(c, v)) == NULL ||
			    nic_need(vm, vn, v, &idx, err) != pass)
				continue;
			if (pass == 1)
				cld_vnet_take_at(vn, idx, vm->id);
			else
				cld_vnet_take(vn, vm->id, &idx);
			nic_fill(vn, v, idx);
			cld_lease_touch(c, vn, idx);
		}
	cld_err_clear(err);
	cld_vm_touch(c, vm);
	return 0;
}

void
cld_nics_end(struct cld_core *c, struct cld_vm *vm)
{
	const struct cld_attr *v = NULL;
	struct cld_vnet *vn;
	int64_t now = wall_ms();

	while ((v = cld_tmpl_next_vector(&vm->tmpl, "NIC", v)) != NULL) {
		const char *ip = cld_vector_get(v, "IP");
		uint32_t a;
		int64_t idx, owner;

		if ((vn = nic_vnet(c, v)) == NULL)
			continue;
		vn->nrefs--;
		if (ip == NULL || cld_ipv4_parse(ip, &a) < 0 ||
		    (idx = cld_vnet_index(vn, a)) < 0 ||
		    cld_vnet_state(vn, (uint32_t)idx, &owner) != CLD_LEASE_USED ||
		    owner != vm->id)
			continue;    /* asked for, never leased */
		cld_vnet_release(vn, (uint32_t)idx, now);
		cld_lease_touch(c, vn, (uint32_t)idx);
		cld_vm_log(c, vm, "network '%s': %s given back", vn->name, ip);
		if (vn->nwaiters > 0)
			wake(c, vn);
	}
	vm->waits = NULL;
}

void
cld_vnets_check(struct cld_core *c)
{
	int64_t now = wall_ms();

	for (size_t i = 0; i < c->vnets_cap; i++) {
		struct cld_vnet *vn = c->vnets[i];

		if (vn == NULL)
			continue;
		for (uint32_t e = 0; e < vn->nents; e++) {
			struct cld_lease_ent *x = &vn->ents[e];
			char ip[16];

			if (x->state != CLD_LEASE_USED ||
			    cld_vm_find(c, x->vm_id) != NULL)
				continue;
			/* Its VM ended, or never was: no address stays leased for nobody. */
			cld_vnet_ip_text(vn, x->idx, ip);
			log_warnx("network '%s': %s was leased to VM %" PRId64
			    ", which is DONE: given back", vn->name, ip,
			    x->vm_id);
			cld_vnet_release(vn, x->idx, now);
			cld_lease_touch(c, vn, x->idx);
		}
	}
}
