/*
 * Virtual networks and their leases: a network's template, its addresses,
 * and the allocator that hands them to VMs.
 *
 * A network is a bridge (optionally a VLAN on a physical interface) and a
 * set of IPv4 addresses, written as a template (cloudd-vnet(5)):
 *
 *	NAME = "pub"
 *	BRIDGE = "br0"
 *	NETWORK_ADDRESS = "10.1.0.0/22"     # or NETWORK_SIZE, NETWORK_MASK;
 *	GATEWAY = "10.1.0.1"                # or IP_START and IP_END;
 *	DNS = "10.1.0.2 10.1.0.3"           # or LEASES = [ IP = ..., MAC = ... ]
 *
 * Its addresses are numbered 0 to size - 1 ("indexes"): address i of a
 * range is first + i, of a fixed list its i-th LEASES entry.  The MAC of an
 * address is the network's MAC_PREFIX (two bytes) and the address's four
 * bytes, unless a LEASES entry gives one.
 *
 * The allocator keeps one entry per address that was ever leased, held or
 * reserved (the gateway); an address without one was never used.  Entries
 * are never removed, so "every index below `fresh' has an entry" stays true
 * and the never-used addresses are found by moving `fresh' forward: over
 * the life of a network that walk is the size of the range, whatever the
 * number of allocations.  Released addresses wait in a queue, the least
 * recently released first, and are handed out again only when no address
 * was never used: a released address is reused as late as the range
 * allows.  Taking, holding and releasing cost O(1) (amortised; the entries
 * sit in a hash table keyed by index); nothing scans the range.
 *
 * The release stamps order the queue and survive restarts (they are the
 * leases' `released' column): milliseconds since the epoch, made strictly
 * increasing per network so that no two releases tie.
 *
 * Threads: none of its own.  A network belongs to the core's loop, which
 * changes it; API threads read it under the core's state lock.  Nothing
 * blocks.  Allocation failure aborts (util.h).
 */
#ifndef CLD_VNET_H
#define CLD_VNET_H

#include <stddef.h>
#include <stdint.h>

#include <cloudd/attr.h>
#include <cloudd/error.h>

/* The most addresses one network may have (a /8). */
#define CLD_VNET_MAX_SIZE (1u << 24)
/* A network interface name's longest length: IFNAMSIZ - 1. */
#define CLD_IFNAME_MAX 15
/* The MAC prefix of cloudd.conf when it sets none (as OpenNebula's). */
#define CLD_MAC_PREFIX_DEFAULT "02:00"

/* What an address is, for the allocator. */
enum cld_lease_state {
	CLD_LEASE_NEW = 0,      /* never leased: free */
	CLD_LEASE_RELEASED = 1, /* free again, since its stamp */
	CLD_LEASE_USED = 2,     /* leased to a VM */
	CLD_LEASE_HELD = 3,     /* on hold: the admin keeps it from VMs */
	CLD_LEASE_RESERVED = 4, /* the network's gateway: never leased */
};

/* One address that is, or was, in use.  The allocator's. */
struct cld_lease_ent {
	uint32_t idx;           /* the address's index */
	uint8_t state;          /* enum cld_lease_state, never NEW */
	int64_t vm_id;          /* USED: its VM; RELEASED: the last one; else -1 */
	int64_t stamp;          /* RELEASED: when, in ms (see above) */
	uint32_t prev, next;    /* RELEASED: the queue, by entry number */
};

struct cld_vnet {
	int64_t id;
	char *name;
	int64_t uid, gid;         /* who made it */
	struct cld_tmpl tmpl;     /* its template, MAC_PREFIX filled in */

	/* From the template; strings point into tmpl. */
	const char *bridge;
	const char *phydev;       /* or NULL */
	int vlan_id;              /* 0: none */
	const char *gateway_s;    /* GATEWAY, or NULL */
	const char *dns;          /* DNS, or NULL */
	int prefix;               /* the subnet's prefix length, -1 unknown */
	uint8_t mac_prefix[2];

	/* The addresses. */
	int fixed;                /* 1: a LEASES list; 0: a range */
	uint32_t first;           /* range: the address of index 0 */
	uint32_t size;            /* how many indexes */
	uint32_t *ips;            /* fixed: each index's address */
	uint8_t (*macs)[6];       /* fixed: each index's MAC */
	uint32_t *by_ip;          /* fixed: the indexes by address */
	int has_gateway;          /* the gateway is one of the addresses */
	uint32_t gateway_idx;

	/* The allocator. */
	struct cld_lease_ent *ents;
	uint32_t nents, ents_cap;
	uint32_t *map;            /* index -> entry number + 1; 0: none */
	uint32_t map_cap;         /* a power of two, > 2 * nents */
	uint32_t fresh;           /* no index below is NEW */
	uint32_t head, tail;      /* the RELEASED queue, oldest first */
	uint32_t nused, nheld, nreleased, nreserved;
	int64_t last_stamp;

	/* The core's: VMs that name it, VMs waiting for an address, changes. */
	int64_t nrefs;
	int64_t *waiters;
	size_t nwaiters, waiters_cap;
	int dirty;
	struct cld_vnet *dirty_next;
};

/* ------------------------------------------------------------ addresses */

/* Parse dotted-quad IPv4 S into *OUT (host order): 0, or -1. */
int cld_ipv4_parse(const char *s, uint32_t *out);
/* A in dotted quad into BUF (16 bytes). */
void cld_ipv4_format(uint32_t a, char buf[16]);
/* Parse a MAC "xx:xx:xx:xx:xx:xx" (hex, either case): 0, or -1. */
int cld_mac_parse(const char *s, uint8_t out[6]);
/* M as "xx:xx:xx:xx:xx:xx" (lower case) into BUF (18 bytes). */
void cld_mac_format(const uint8_t m[6], char buf[18]);
/*
 * Parse a MAC prefix "xx:xx" into OUT: 0, or -1 with err naming WHAT (the
 * setting) when it is malformed or a multicast prefix.
 */
int cld_mac_prefix_parse(const char *s, uint8_t out[2], const char *what,
    struct cld_err *err);
/* The MAC of address A under PREFIX into OUT: prefix, then A's 4 bytes. */
void cld_mac_of_ip(const uint8_t prefix[2], uint32_t a, uint8_t out[6]);
/* Whether S is a network interface name cloudd accepts (1) or not (0). */
int cld_ifname_valid(const char *s);

/* ------------------------------------------------------------- networks */

/*
 * A network from template T (copied): checked whole, every error naming
 * the attribute and its line and column ("line 3, column 1: ...").
 * MAC_PREFIX, when T has none, is DEFAULT_MAC_PREFIX and is added to the
 * network's template, so that the network keeps its MACs whatever
 * cloudd.conf says later.  Returns NULL with err (CLD_EINVAL).  The id,
 * name's owner and the core's fields are left for the caller.
 */
struct cld_vnet *cld_vnet_new(const struct cld_tmpl *t,
    const char *default_mac_prefix, struct cld_err *err);
void cld_vnet_free(struct cld_vnet *vn);

/* The index of address A in VN, or -1 if A is not one of its addresses. */
int64_t cld_vnet_index(const struct cld_vnet *vn, uint32_t a);
/* The address and the MAC of index IDX (< size). */
uint32_t cld_vnet_addr(const struct cld_vnet *vn, uint32_t idx);
void cld_vnet_mac(const struct cld_vnet *vn, uint32_t idx, uint8_t out[6]);
/* The subnet mask of its prefix (0 when the prefix is unknown). */
uint32_t cld_vnet_netmask(const struct cld_vnet *vn);
/*
 * The addresses in words: "10.1.0.1-10.1.3.254", or "4 fixed addresses";
 * into BUF of LEN bytes.
 */
void cld_vnet_describe(const struct cld_vnet *vn, char *buf, size_t len);

/*
 * Whether A and B share an address (1) or not (0).  Blocks for as long as
 * the smaller list is (a range against a range is O(1)).
 */
int cld_vnet_overlap(const struct cld_vnet *a, const struct cld_vnet *b);

/* --------------------------------------------------------- the allocator */

/* The entry of index IDX, or NULL when it was never used. */
const struct cld_lease_ent *cld_vnet_ent(const struct cld_vnet *vn,
    uint32_t idx);

/* The state of index IDX; *VM_ID (if not NULL) gets the entry's VM or -1. */
int cld_vnet_state(const struct cld_vnet *vn, uint32_t idx, int64_t *vm_id);

/*
 * Lease a free address to VM_ID: one never used if any is left (the lowest
 * index), else the one released longest ago.  Sets *IDX; returns 0, or -1
 * when every address is in use, held or reserved.
 */
int cld_vnet_take(struct cld_vnet *vn, int64_t vm_id, uint32_t *idx);

/* Lease index IDX to VM_ID; 0, or -1 unless it is free (NEW or RELEASED). */
int cld_vnet_take_at(struct cld_vnet *vn, uint32_t idx, int64_t vm_id);

/* Put free index IDX on hold; 0, or -1 unless it is free. */
int cld_vnet_hold(struct cld_vnet *vn, uint32_t idx);

/*
 * Free index IDX, leased or on hold, at NOW_MS (ms since the epoch): it
 * joins the end of the queue with a stamp above every earlier one.
 * Returns 0, or -1 unless it is USED or HELD.
 */
int cld_vnet_release(struct cld_vnet *vn, uint32_t idx, int64_t now_ms);

/*
 * Set index IDX as the store says at start-up: VM_ID >= 0 and RELEASED 0
 * is leased to VM_ID, VM_ID < 0 and RELEASED 0 on hold, RELEASED > 0 free
 * since that stamp.  In any order; then cld_vnet_restore_done() orders the
 * queue.  Returns 0, or -1 for an index out of range, the gateway, or one
 * already set.
 */
int cld_vnet_restore(struct cld_vnet *vn, uint32_t idx, int64_t vm_id,
    int64_t released);
void cld_vnet_restore_done(struct cld_vnet *vn);

/* Free addresses (never used or released), and all that VMs may have. */
uint32_t cld_vnet_nfree(const struct cld_vnet *vn);
uint32_t cld_vnet_nleasable(const struct cld_vnet *vn);

/*
 * The entries, to list leases: ENTS[0 .. N-1] in no particular order
 * (cld_vnet_sorted() gives their numbers by index; the caller free()s it).
 */
uint32_t *cld_vnet_sorted(const struct cld_vnet *vn);

/*
 * The address and MAC of index IDX as text; the row the store keeps for
 * entry E (its `released' column: 0 unless RELEASED).
 */
void cld_vnet_ip_text(const struct cld_vnet *vn, uint32_t idx, char buf[16]);
void cld_vnet_mac_text(const struct cld_vnet *vn, uint32_t idx, char buf[18]);

#endif /* CLD_VNET_H */
