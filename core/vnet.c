/*
 * Virtual networks: their templates, their addresses and the allocator of
 * leases (see vnet.h for the design).
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "services.h"
#include "template.h"
#include "util.h"
#include "vnet.h"

#define NONE UINT32_MAX

/* ------------------------------------------------------------ addresses */

int
cld_ipv4_parse(const char *s, uint32_t *out)
{
	uint32_t a = 0;

	if (s == NULL)
		return -1;
	for (int i = 0; i < 4; i++) {
		unsigned int v = 0, n = 0;

		while (*s >= '0' && *s <= '9') {
			/* No leading zeros: "010" reads as octal elsewhere. */
			if (n == 1 && v == 0)
				return -1;
			v = v * 10 + (unsigned int)(*s++ - '0');
			if (++n > 3 || v > 255)
				return -1;
		}
		if (n == 0 || *s != (i < 3 ? '.' : '\0'))
			return -1;
		if (i < 3)
			s++;
		a = a << 8 | v;
	}
	*out = a;
	return 0;
}

void
cld_ipv4_format(uint32_t a, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
	    (a >> 8) & 255, a & 255);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* N bytes "xx:xx:..." from S into OUT: 0, or -1. */
static int
hex_bytes(const char *s, uint8_t *out, int n)
{
	if (s == NULL)
		return -1;
	for (int i = 0; i < n; i++) {
		int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);

		if (lo < 0 || s[2] != (i < n - 1 ? ':' : '\0'))
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
		s += 3;
	}
	return 0;
}

int
cld_mac_parse(const char *s, uint8_t out[6])
{
	return hex_bytes(s, out, 6);
}

void
cld_mac_format(const uint8_t m[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
	    m[3], m[4], m[5]);
}

int
cld_mac_prefix_parse(const char *s, uint8_t out[2], const char *what,
    struct cld_err *err)
{
	if (hex_bytes(s, out, 2) < 0) {
		cld_err_set(err, CLD_EINVAL,
		    "%s '%s' is not two hexadecimal bytes, as in \"02:00\"",
		    what, s ? s : "");
		return -1;
	}
	if (out[0] & 1) {
		cld_err_set(err, CLD_EINVAL,
		    "%s '%s' is a multicast prefix: the first byte must be even, as in \"02:00\"",
		    what, s);
		return -1;
	}
	return 0;
}

void
cld_mac_of_ip(const uint8_t prefix[2], uint32_t a, uint8_t out[6])
{
	out[0] = prefix[0];
	out[1] = prefix[1];
	out[2] = (uint8_t)(a >> 24);
	out[3] = (uint8_t)(a >> 16);
	out[4] = (uint8_t)(a >> 8);
	out[5] = (uint8_t)a;
}

int
cld_ifname_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	/* What ip(8) and the kernel take, less what a shell or argv may misread. */
	if (n == 0 || n > CLD_IFNAME_MAX || s[0] == '-' ||
	    strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_.-") == n;
}

/* ------------------------------------------------------------- parsing */

/* The attributes a network template may hold. */
static const struct {
	const char *name;
	int vector;
} vnet_attrs[] = {
	{ "NAME", 0 }, { "BRIDGE", 0 }, { "VLAN_ID", 0 }, { "PHYDEV", 0 },
	{ "NETWORK_ADDRESS", 0 }, { "NETWORK_SIZE", 0 }, { "NETWORK_MASK", 0 },
	{ "IP_START", 0 }, { "IP_END", 0 }, { "LEASES", 1 },
	{ "GATEWAY", 0 }, { "DNS", 0 }, { "MAC_PREFIX", 0 },
	{ "DESCRIPTION", 0 },
};

/* "line L, column C: " and the message, or the message alone. */
static int
bad(struct cld_err *err, const struct cld_attr *a, const char *fmt, ...)
    CLD_PRINTF(3, 4);

static int
bad(struct cld_err *err, const struct cld_attr *a, const char *fmt, ...)
{
	char msg[CLD_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (a != NULL && a->line > 0)
		cld_err_set(err, CLD_EINVAL, "line %u, column %u: %s", a->line,
		    a->column, msg);
	else
		cld_err_set(err, CLD_EINVAL, "%s", msg);
	return -1;
}

static const struct cld_attr *
attr(const struct cld_tmpl *t, const char *name)
{
	return cld_attrs_next(t->attrs, t->n, name, NULL);
}

/* Every attribute known, of the right kind, singles given once. */
static int
check_attrs(const struct cld_tmpl *t, struct cld_err *err)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct cld_attr *a = &t->attrs[i], *again;
		size_t k;

		for (k = 0; k < CLD_ARRAY_SIZE(vnet_attrs); k++)
			if (strcmp(a->name, vnet_attrs[k].name) == 0)
				break;
		if (k == CLD_ARRAY_SIZE(vnet_attrs))
			return bad(err, a, "unknown attribute '%s' (a network has NAME, BRIDGE, VLAN_ID, PHYDEV, NETWORK_ADDRESS, NETWORK_SIZE, NETWORK_MASK, IP_START, IP_END, LEASES, GATEWAY, DNS, MAC_PREFIX, DESCRIPTION)",
			    a->name);
		if (vnet_attrs[k].vector && !cld_attr_is_vector(a))
			return bad(err, a,
			    "%s must be a vector: %s = [ IP = \"10.0.0.5\" ]",
			    a->name, a->name);
		if (!vnet_attrs[k].vector && cld_attr_is_vector(a))
			return bad(err, a, "%s must be a single value, not a vector",
			    a->name);
		if (!vnet_attrs[k].vector &&
		    (again = cld_attrs_next(t->attrs, t->n, a->name, a)) != NULL)
			return bad(err, again, "%s is given twice (first at line %u)",
			    a->name, a->line);
	}
	return 0;
}

/* Prefix length of dotted mask S into *LEN: 0, or -1. */
static int
mask_len(const char *s, int *len)
{
	uint32_t m;
	int n = 0;

	if (cld_ipv4_parse(s, &m) < 0)
		return -1;
	while (n < 32 && (m & (1u << (31 - n))))
		n++;
	if (n < 32 && (m << n) != 0)
		return -1;     /* ones not contiguous */
	*len = n;
	return 0;
}

static uint32_t
mask_of(int len)
{
	return len <= 0 ? 0 : len >= 32 ? 0xffffffffu : ~(0xffffffffu >> len);
}

/* An address attribute NAME of T into *OUT; -1 (with err) if malformed. */
static int
get_ip(const struct cld_tmpl *t, const char *name, uint32_t *out,
    struct cld_err *err)
{
	const struct cld_attr *a = attr(t, name);

	if (cld_ipv4_parse(a->value, out) < 0)
		return bad(err, a, "%s '%s' is not an IPv4 address", name,
		    a->value);
	return 0;
}

/* NETWORK_ADDRESS with a prefix length, NETWORK_SIZE or NETWORK_MASK. */
static int
parse_block(struct cld_vnet *vn, const struct cld_tmpl *t,
    struct cld_err *err)
{
	const struct cld_attr *na = attr(t, "NETWORK_ADDRESS");
	const struct cld_attr *sz = attr(t, "NETWORK_SIZE");
	const struct cld_attr *nm = attr(t, "NETWORK_MASK");
	char buf[64], *slash, net[16];
	uint32_t a;
	int len = -1, ways = 0;

	snprintf(buf, sizeof(buf), "%s", na->value);
	if ((slash = strchr(buf, '/')) != NULL) {
		int64_t l;

		*slash = '\0';
		if (cld_parse_i64(slash + 1, &l) < 0 || l < 8 || l > 30)
			return bad(err, na,
			    "NETWORK_ADDRESS '%s': the prefix length must be from 8 to 30",
			    na->value);
		len = (int)l;
		ways++;
	}
	if (strlen(na->value) >= sizeof(buf) || cld_ipv4_parse(buf, &a) < 0)
		return bad(err, na,
		    "NETWORK_ADDRESS '%s' is not an IPv4 address, as in \"10.1.0.0/22\"",
		    na->value);
	if (sz != NULL) {
		uint64_t n;

		if (ways++ > 0)
			return bad(err, sz,
			    "NETWORK_SIZE repeats the size NETWORK_ADDRESS gives: give one");
		if (cld_parse_u64(sz->value, &n) < 0 || n < 4 ||
		    n > (1u << 24) || (n & (n - 1)) != 0)
			return bad(err, sz,
			    "NETWORK_SIZE '%s' is not a power of two from 4 to 16777216 (the block's size: 1024 for a /22)",
			    sz->value);
		len = 32;
		while ((1ull << (32 - len)) < n)
			len--;
	}
	if (nm != NULL) {
		int l;

		if (ways++ > 0)
			return bad(err, nm,
			    "NETWORK_MASK repeats the size of the network: give the size once");
		if (mask_len(nm->value, &l) < 0 || l < 8 || l > 30)
			return bad(err, nm,
			    "NETWORK_MASK '%s' is not a netmask from 255.0.0.0 to 255.255.255.252",
			    nm->value);
		len = l;
	}
	if (ways == 0)
		return bad(err, na,
		    "NETWORK_ADDRESS needs the network's size: a prefix length (\"10.1.0.0/22\"), NETWORK_SIZE or NETWORK_MASK");
	if ((a & ~mask_of(len)) != 0) {
		cld_ipv4_format(a & mask_of(len), net);
		return bad(err, na,
		    "NETWORK_ADDRESS '%s' is not the first address of a /%d (%s is)",
		    buf, len, net);
	}
	/* Neither the network's own address nor its broadcast address. */
	vn->first = a + 1;
	vn->size = (uint32_t)((1ull << (32 - len)) - 2);
	vn->prefix = len;
	return 0;
}

/* NETWORK_MASK, where it only says what the NICs' netmask is. */
static int
parse_mask(struct cld_vnet *vn, const struct cld_tmpl *t,
    struct cld_err *err)
{
	const struct cld_attr *nm = attr(t, "NETWORK_MASK");
	int l;

	if (nm == NULL)
		return 0;
	if (mask_len(nm->value, &l) < 0 || l < 8 || l > 32)
		return bad(err, nm,
		    "NETWORK_MASK '%s' is not a netmask from 255.0.0.0 to 255.255.255.255",
		    nm->value);
	vn->prefix = l;
	return 0;
}

/* IP_START and IP_END. */
static int
parse_span(struct cld_vnet *vn, const struct cld_tmpl *t,
    struct cld_err *err)
{
	const struct cld_attr *s = attr(t, "IP_START"), *e = attr(t, "IP_END");
	uint32_t a, b, m;
	char x[16];

	if (s == NULL || e == NULL)
		return bad(err, s ? s : e, "%s needs %s", s ? "IP_START" : "IP_END",
		    s ? "IP_END" : "IP_START");
	if (get_ip(t, "IP_START", &a, err) < 0 || get_ip(t, "IP_END", &b, err) < 0)
		return -1;
	if (b < a)
		return bad(err, e, "IP_END %s is before IP_START %s", e->value,
		    s->value);
	if ((uint64_t)b - a + 1 > CLD_VNET_MAX_SIZE)
		return bad(err, e,
		    "IP_START to IP_END is more than 16777216 addresses");
	if (parse_mask(vn, t, err) < 0)
		return -1;
	if (vn->prefix >= 0) {
		m = mask_of(vn->prefix);
		if ((a & m) != (b & m))
			return bad(err, e, "IP_START %s and IP_END %s are not in one /%d",
			    s->value, e->value, vn->prefix);
		if (vn->prefix <= 30 && (a & ~m) == 0) {
			cld_ipv4_format(a, x);
			return bad(err, s,
			    "IP_START %s is the address of the /%d itself", x,
			    vn->prefix);
		}
		if (vn->prefix <= 30 && (b | m) == b)
			return bad(err, e,
			    "IP_END %s is the broadcast address of the /%d",
			    e->value, vn->prefix);
	}
	vn->first = a;
	vn->size = b - a + 1;
	return 0;
}

struct lease_src {
	uint32_t ip;
	const struct cld_attr *v;
};

/*
 * The comparisons sort numbers of indexes or entries of the network CTX:
 * qsort_r, since API threads sort (cld_vnet_sorted) at the same time.
 */
static int
cmp_by_ip(const void *x, const void *y, void *ctx)
{
	const struct cld_vnet *vn = ctx;
	uint32_t a = vn->ips[*(const uint32_t *)x];
	uint32_t b = vn->ips[*(const uint32_t *)y];

	if (a != b)
		return a < b ? -1 : 1;
	return *(const uint32_t *)x < *(const uint32_t *)y ? -1 : 1;
}

static int
cmp_by_mac(const void *x, const void *y, void *ctx)
{
	const struct cld_vnet *vn = ctx;
	int c = memcmp(vn->macs[*(const uint32_t *)x],
	    vn->macs[*(const uint32_t *)y], 6);

	if (c != 0)
		return c;
	return *(const uint32_t *)x < *(const uint32_t *)y ? -1 : 1;
}

/* LEASES = [ IP = ..., MAC = ... ], repeated. */
static int
parse_list(struct cld_vnet *vn, const struct cld_tmpl *t,
    struct cld_err *err)
{
	const struct cld_attr **src = NULL, *v = NULL;
	uint32_t n = 0, *by_mac = NULL, m;
	int ret = -1;

	if (parse_mask(vn, t, err) < 0)
		return -1;
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->attrs[i].name, "LEASES") == 0)
			n++;
	if (n > CLD_VNET_MAX_SIZE)
		return bad(err, NULL, "more than 16777216 LEASES");
	src = cld_xcalloc(n, sizeof(*src));
	vn->ips = cld_xcalloc(n, sizeof(*vn->ips));
	vn->macs = cld_xcalloc(n, sizeof(*vn->macs));
	vn->by_ip = cld_xcalloc(n, sizeof(*vn->by_ip));
	by_mac = cld_xcalloc(n, sizeof(*by_mac));
	n = 0;
	while ((v = cld_tmpl_next_vector(t, "LEASES", v)) != NULL) {
		const char *ip = NULL, *mac = NULL;

		for (size_t k = 0; k < v->nsub; k++) {
			const struct cld_attr *s = &v->sub[k];

			if (strcmp(s->name, "IP") == 0 && ip == NULL)
				ip = s->value;
			else if (strcmp(s->name, "MAC") == 0 && mac == NULL)
				mac = s->value;
			else {
				bad(err, s, "LEASES: '%s' is %s (a lease has IP and, optionally, MAC)",
				    s->name, strcmp(s->name, "IP") == 0 ||
				    strcmp(s->name, "MAC") == 0 ? "given twice" :
				    "unknown");
				goto cleanup;
			}
		}
		if (ip == NULL) {
			bad(err, v, "LEASES needs IP, as in LEASES = [ IP = \"10.0.0.5\" ]");
			goto cleanup;
		}
		if (cld_ipv4_parse(ip, &vn->ips[n]) < 0) {
			bad(err, v, "LEASES: IP '%s' is not an IPv4 address", ip);
			goto cleanup;
		}
		if (vn->prefix >= 0 && (vn->ips[n] & mask_of(vn->prefix)) !=
		    (vn->ips[0] & mask_of(vn->prefix))) {
			bad(err, v, "LEASES: IP '%s' is not in the /%d of the first lease",
			    ip, vn->prefix);
			goto cleanup;
		}
		if (mac != NULL) {
			if (cld_mac_parse(mac, vn->macs[n]) < 0) {
				bad(err, v, "LEASES: MAC '%s' is not a MAC address, as in \"02:00:0a:00:00:05\"",
				    mac);
				goto cleanup;
			}
			if (vn->macs[n][0] & 1) {
				bad(err, v, "LEASES: MAC '%s' is a multicast address",
				    mac);
				goto cleanup;
			}
		} else
			cld_mac_of_ip(vn->mac_prefix, vn->ips[n], vn->macs[n]);
		src[n] = v;
		vn->by_ip[n] = by_mac[n] = n;
		n++;
	}
	qsort_r(vn->by_ip, n, sizeof(*vn->by_ip), cmp_by_ip, vn);
	qsort_r(by_mac, n, sizeof(*by_mac), cmp_by_mac, vn);
	for (uint32_t i = 1; i < n; i++) {
		m = vn->by_ip[i];
		if (vn->ips[vn->by_ip[i - 1]] == vn->ips[m]) {
			char x[16];

			cld_ipv4_format(vn->ips[m], x);
			bad(err, src[m], "LEASES: IP '%s' is listed twice (first at line %u)",
			    x, src[vn->by_ip[i - 1]]->line);
			goto cleanup;
		}
		m = by_mac[i];
		if (memcmp(vn->macs[by_mac[i - 1]], vn->macs[m], 6) == 0) {
			char x[18];

			cld_mac_format(vn->macs[m], x);
			bad(err, src[m], "LEASES: MAC '%s' is used twice (first at line %u)",
			    x, src[by_mac[i - 1]]->line);
			goto cleanup;
		}
	}
	vn->fixed = 1;
	vn->size = n;
	ret = 0;
cleanup:
	free(src);
	free(by_mac);
	return ret;
}

/* DNS: addresses separated by blanks. */
static int
parse_dns(const struct cld_tmpl *t, struct cld_err *err)
{
	const struct cld_attr *a = attr(t, "DNS");
	const char *p;
	int n = 0;

	if (a == NULL)
		return 0;
	for (p = a->value; *p != '\0';) {
		char one[32];
		size_t k = strcspn(p, " \t");
		uint32_t ip;

		if (k == 0) {
			p++;
			continue;
		}
		snprintf(one, sizeof(one), "%.*s", (int)(k < 31 ? k : 31), p);
		if (k > 15 || cld_ipv4_parse(one, &ip) < 0)
			return bad(err, a, "DNS: '%s' is not an IPv4 address (DNS is a list of addresses separated by spaces)",
			    one);
		n++;
		p += k;
	}
	if (n == 0)
		return bad(err, a, "DNS is empty");
	return 0;
}

static void
map_put(struct cld_vnet *vn, uint32_t idx, uint32_t e);

/* A new entry for IDX in STATE; returns its number. */
static uint32_t
ent_new(struct cld_vnet *vn, uint32_t idx, int state, int64_t vm_id)
{
	struct cld_lease_ent *e;

	if (vn->nents == vn->ents_cap) {
		vn->ents_cap = vn->ents_cap ? vn->ents_cap * 2 : 64;
		vn->ents = cld_xrealloc(vn->ents, vn->ents_cap * sizeof(*vn->ents));
	}
	e = &vn->ents[vn->nents];
	memset(e, 0, sizeof(*e));
	e->idx = idx;
	e->state = (uint8_t)state;
	e->vm_id = vm_id;
	e->prev = e->next = NONE;
	map_put(vn, idx, vn->nents);
	return vn->nents++;
}

static void count_state(struct cld_vnet *vn, int state, int delta);

static int
parse_gateway(struct cld_vnet *vn, struct cld_err *err)
{
	const struct cld_attr *a = attr(&vn->tmpl, "GATEWAY");
	uint32_t g;
	int64_t idx;
	char net[16];

	if (a == NULL)
		return 0;
	if (get_ip(&vn->tmpl, "GATEWAY", &g, err) < 0)
		return -1;
	if (vn->prefix >= 0 && vn->size > 0 &&
	    (g & mask_of(vn->prefix)) !=
	    (cld_vnet_addr(vn, 0) & mask_of(vn->prefix))) {
		cld_ipv4_format(cld_vnet_addr(vn, 0) & mask_of(vn->prefix), net);
		return bad(err, a, "GATEWAY %s is not in the network's subnet %s/%d",
		    a->value, net, vn->prefix);
	}
	vn->gateway_s = a->value;
	if ((idx = cld_vnet_index(vn, g)) >= 0) {
		/* One of the addresses: never leased to a VM. */
		vn->has_gateway = 1;
		vn->gateway_idx = (uint32_t)idx;
		ent_new(vn, (uint32_t)idx, CLD_LEASE_RESERVED, -1);
		count_state(vn, CLD_LEASE_RESERVED, 1);
		while (vn->fresh < vn->size &&
		    cld_vnet_state(vn, vn->fresh, NULL) != CLD_LEASE_NEW)
			vn->fresh++;
	}
	return 0;
}

struct cld_vnet *
cld_vnet_new(const struct cld_tmpl *t, const char *default_mac_prefix,
    struct cld_err *err)
{
	struct cld_vnet *vn = cld_xcalloc(1, sizeof(*vn));
	const struct cld_attr *a;
	const char *v;
	int ways;

	vn->id = -1;
	vn->prefix = -1;
	vn->head = vn->tail = NONE;
	if (check_attrs(t, err) < 0)
		goto fail;
	cld_tmpl_copy(&vn->tmpl, t);
	t = &vn->tmpl;
	/* First: it may grow the template, moving what points into it. */
	if (cld_tmpl_get(t, "MAC_PREFIX") == NULL)
		cld_tmpl_set(&vn->tmpl, "MAC_PREFIX", default_mac_prefix);
	if ((v = cld_tmpl_get(t, "NAME")) == NULL) {
		bad(err, NULL, "the network needs NAME, as in NAME = \"pub\"");
		goto fail;
	}
	if (!cld_host_name_valid(v) || cld_parse_i64(v, &(int64_t){ 0 }) == 0) {
		bad(err, attr(t, "NAME"),
		    "invalid network name '%s': letters, digits, '.', '-' and '_', not all digits",
		    v);
		goto fail;
	}
	vn->name = cld_xstrdup(v);
	if ((vn->bridge = cld_tmpl_get(t, "BRIDGE")) == NULL) {
		bad(err, NULL, "the network needs BRIDGE, the bridge its VMs' NICs are plugged into, as in BRIDGE = \"br0\"");
		goto fail;
	}
	if (!cld_ifname_valid(vn->bridge)) {
		bad(err, attr(t, "BRIDGE"),
		    "BRIDGE '%s' is not an interface name: 1 to 15 letters, digits, '_', '.' or '-'",
		    vn->bridge);
		goto fail;
	}
	if ((vn->phydev = cld_tmpl_get(t, "PHYDEV")) != NULL &&
	    !cld_ifname_valid(vn->phydev)) {
		bad(err, attr(t, "PHYDEV"),
		    "PHYDEV '%s' is not an interface name: 1 to 15 letters, digits, '_', '.' or '-'",
		    vn->phydev);
		goto fail;
	}
	if ((a = attr(t, "VLAN_ID")) != NULL) {
		int64_t id;

		if (cld_parse_i64(a->value, &id) < 0 || id < 1 || id > 4094) {
			bad(err, a, "VLAN_ID '%s' is not a whole number from 1 to 4094",
			    a->value);
			goto fail;
		}
		if (vn->phydev == NULL) {
			bad(err, a, "VLAN_ID needs PHYDEV, the interface that carries the VLAN");
			goto fail;
		}
		vn->vlan_id = (int)id;
	}
	a = attr(t, "MAC_PREFIX");
	if (cld_mac_prefix_parse(a->value, vn->mac_prefix, "MAC_PREFIX",
	    err) < 0) {
		if (a->line > 0)
			cld_err_prefix(err, "line %u, column %u", a->line,
			    a->column);
		goto fail;
	}

	ways = (attr(t, "NETWORK_ADDRESS") != NULL) +
	    (attr(t, "IP_START") != NULL || attr(t, "IP_END") != NULL) +
	    (attr(t, "LEASES") != NULL);
	if (ways == 0) {
		bad(err, NULL, "the network needs addresses: NETWORK_ADDRESS (with NETWORK_SIZE or a prefix length), IP_START and IP_END, or LEASES = [ IP = ... ]");
		goto fail;
	}
	if (ways > 1) {
		a = attr(t, "LEASES") ? attr(t, "LEASES") : attr(t, "IP_START") ?
		    attr(t, "IP_START") : attr(t, "IP_END");
		bad(err, a, "%s and %s are two ways of giving the addresses: give one",
		    a->name, attr(t, "NETWORK_ADDRESS") ? "NETWORK_ADDRESS" :
		    "IP_START");
		goto fail;
	}
	if (attr(t, "NETWORK_ADDRESS") == NULL &&
	    (a = attr(t, "NETWORK_SIZE")) != NULL) {
		bad(err, a, "NETWORK_SIZE needs NETWORK_ADDRESS");
		goto fail;
	}
	if (attr(t, "NETWORK_ADDRESS") != NULL) {
		if (parse_block(vn, t, err) < 0)
			goto fail;
	} else if (attr(t, "LEASES") != NULL) {
		if (parse_list(vn, t, err) < 0)
			goto fail;
	} else if (parse_span(vn, t, err) < 0)
		goto fail;
	if (parse_dns(t, err) < 0 || parse_gateway(vn, err) < 0)
		goto fail;
	vn->dns = cld_tmpl_get(t, "DNS");
	if (cld_vnet_nleasable(vn) == 0) {
		bad(err, NULL, "the network has no address to lease: its only one is the gateway");
		goto fail;
	}
	return vn;
fail:
	cld_vnet_free(vn);
	return NULL;
}

void
cld_vnet_free(struct cld_vnet *vn)
{
	if (vn == NULL)
		return;
	free(vn->name);
	cld_tmpl_release(&vn->tmpl);
	free(vn->ips);
	free(vn->macs);
	free(vn->by_ip);
	free(vn->ents);
	free(vn->map);
	free(vn->waiters);
	free(vn);
}

int64_t
cld_vnet_index(const struct cld_vnet *vn, uint32_t a)
{
	size_t lo = 0, hi = vn->size;

	if (!vn->fixed)
		return a >= vn->first && a - vn->first < vn->size ?
		    (int64_t)(a - vn->first) : -1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t m = vn->ips[vn->by_ip[mid]];

		if (m == a)
			return vn->by_ip[mid];
		if (m < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

uint32_t
cld_vnet_addr(const struct cld_vnet *vn, uint32_t idx)
{
	return vn->fixed ? vn->ips[idx] : vn->first + idx;
}

void
cld_vnet_mac(const struct cld_vnet *vn, uint32_t idx, uint8_t out[6])
{
	if (vn->fixed)
		memcpy(out, vn->macs[idx], 6);
	else
		cld_mac_of_ip(vn->mac_prefix, vn->first + idx, out);
}

uint32_t
cld_vnet_netmask(const struct cld_vnet *vn)
{
	return vn->prefix < 0 ? 0 : mask_of(vn->prefix);
}

void
cld_vnet_describe(const struct cld_vnet *vn, char *buf, size_t len)
{
	char a[16], b[16];

	if (vn->fixed) {
		snprintf(buf, len, "%" PRIu32 " fixed address%s", vn->size,
		    vn->size == 1 ? "" : "es");
		return;
	}
	cld_ipv4_format(vn->first, a);
	cld_ipv4_format(vn->first + vn->size - 1, b);
	snprintf(buf, len, "%s-%s", a, b);
}

int
cld_vnet_overlap(const struct cld_vnet *a, const struct cld_vnet *b)
{
	if (!a->fixed && !b->fixed)
		return a->first <= b->first + (b->size - 1) &&
		    b->first <= a->first + (a->size - 1);
	/* Look the addresses of the (shorter) list up in the other. */
	if (!b->fixed || (a->fixed && a->size < b->size)) {
		const struct cld_vnet *t = a;

		a = b;
		b = t;
	}
	for (uint32_t i = 0; i < b->size; i++)
		if (cld_vnet_index(a, b->ips[i]) >= 0)
			return 1;
	return 0;
}

/* --------------------------------------------------------- the allocator */

static uint32_t
slot_of(uint32_t idx, uint32_t cap)
{
	return (idx * 2654435761u) & (cap - 1);
}

static void
map_put(struct cld_vnet *vn, uint32_t idx, uint32_t e)
{
	uint32_t s;

	if (2 * (vn->nents + 1) >= vn->map_cap) {
		uint32_t cap = vn->map_cap ? vn->map_cap * 2 : 128;
		uint32_t *map = cld_xcalloc(cap, sizeof(*map));

		for (uint32_t k = 0; k < vn->map_cap; k++) {
			if (vn->map[k] == 0)
				continue;
			s = slot_of(vn->ents[vn->map[k] - 1].idx, cap);
			while (map[s] != 0)
				s = (s + 1) & (cap - 1);
			map[s] = vn->map[k];
		}
		free(vn->map);
		vn->map = map;
		vn->map_cap = cap;
	}
	s = slot_of(idx, vn->map_cap);
	while (vn->map[s] != 0)
		s = (s + 1) & (vn->map_cap - 1);
	vn->map[s] = e + 1;
}

/* The entry number of IDX, or NONE. */
static uint32_t
ent_find(const struct cld_vnet *vn, uint32_t idx)
{
	uint32_t s;

	if (vn->map_cap == 0)
		return NONE;
	for (s = slot_of(idx, vn->map_cap); vn->map[s] != 0;
	    s = (s + 1) & (vn->map_cap - 1))
		if (vn->ents[vn->map[s] - 1].idx == idx)
			return vn->map[s] - 1;
	return NONE;
}

static void
count_state(struct cld_vnet *vn, int state, int delta)
{
	uint32_t *n = state == CLD_LEASE_USED ? &vn->nused :
	    state == CLD_LEASE_HELD ? &vn->nheld :
	    state == CLD_LEASE_RELEASED ? &vn->nreleased :
	    state == CLD_LEASE_RESERVED ? &vn->nreserved : NULL;

	if (n != NULL)
		*n = (uint32_t)((int64_t)*n + delta);
}

static void
queue_unlink(struct cld_vnet *vn, uint32_t e)
{
	struct cld_lease_ent *x = &vn->ents[e];

	if (x->prev != NONE)
		vn->ents[x->prev].next = x->next;
	else
		vn->head = x->next;
	if (x->next != NONE)
		vn->ents[x->next].prev = x->prev;
	else
		vn->tail = x->prev;
	x->prev = x->next = NONE;
}

static void
queue_append(struct cld_vnet *vn, uint32_t e)
{
	struct cld_lease_ent *x = &vn->ents[e];

	x->next = NONE;
	x->prev = vn->tail;
	if (vn->tail != NONE)
		vn->ents[vn->tail].next = e;
	else
		vn->head = e;
	vn->tail = e;
}

const struct cld_lease_ent *
cld_vnet_ent(const struct cld_vnet *vn, uint32_t idx)
{
	uint32_t e = idx < vn->size ? ent_find(vn, idx) : NONE;

	return e == NONE ? NULL : &vn->ents[e];
}

int
cld_vnet_state(const struct cld_vnet *vn, uint32_t idx, int64_t *vm_id)
{
	uint32_t e = idx < vn->size ? ent_find(vn, idx) : NONE;

	if (vm_id != NULL)
		*vm_id = e == NONE ? -1 : vn->ents[e].vm_id;
	return e == NONE ? CLD_LEASE_NEW : vn->ents[e].state;
}

/* Move `fresh' past the indexes that have an entry. */
static void
fresh_advance(struct cld_vnet *vn)
{
	while (vn->fresh < vn->size && ent_find(vn, vn->fresh) != NONE)
		vn->fresh++;
}

/* Give free IDX the state STATE (USED or HELD). */
static int
claim(struct cld_vnet *vn, uint32_t idx, int state, int64_t vm_id)
{
	uint32_t e;

	if (idx >= vn->size)
		return -1;
	if ((e = ent_find(vn, idx)) == NONE) {
		ent_new(vn, idx, state, vm_id);
		if (idx == vn->fresh)
			fresh_advance(vn);
	} else if (vn->ents[e].state == CLD_LEASE_RELEASED) {
		queue_unlink(vn, e);
		count_state(vn, CLD_LEASE_RELEASED, -1);
		vn->ents[e].state = (uint8_t)state;
		vn->ents[e].vm_id = vm_id;
		vn->ents[e].stamp = 0;
	} else
		return -1;
	count_state(vn, state, 1);
	return 0;
}

int
cld_vnet_take(struct cld_vnet *vn, int64_t vm_id, uint32_t *idx)
{
	if (vn->fresh < vn->size)
		*idx = vn->fresh;
	else if (vn->head != NONE)
		*idx = vn->ents[vn->head].idx;
	else
		return -1;
	return claim(vn, *idx, CLD_LEASE_USED, vm_id);
}

int
cld_vnet_take_at(struct cld_vnet *vn, uint32_t idx, int64_t vm_id)
{
	return claim(vn, idx, CLD_LEASE_USED, vm_id);
}

int
cld_vnet_hold(struct cld_vnet *vn, uint32_t idx)
{
	return claim(vn, idx, CLD_LEASE_HELD, -1);
}

int
cld_vnet_release(struct cld_vnet *vn, uint32_t idx, int64_t now_ms)
{
	uint32_t e = idx < vn->size ? ent_find(vn, idx) : NONE;
	struct cld_lease_ent *x;

	if (e == NONE || (vn->ents[e].state != CLD_LEASE_USED &&
	    vn->ents[e].state != CLD_LEASE_HELD))
		return -1;
	x = &vn->ents[e];
	count_state(vn, x->state, -1);
	x->state = CLD_LEASE_RELEASED;
	x->stamp = now_ms > vn->last_stamp ? now_ms : vn->last_stamp + 1;
	vn->last_stamp = x->stamp;
	count_state(vn, CLD_LEASE_RELEASED, 1);
	queue_append(vn, e);
	return 0;
}

int
cld_vnet_restore(struct cld_vnet *vn, uint32_t idx, int64_t vm_id,
    int64_t released)
{
	int state = released > 0 ? CLD_LEASE_RELEASED : vm_id >= 0 ?
	    CLD_LEASE_USED : CLD_LEASE_HELD;
	uint32_t e;

	if (idx >= vn->size || ent_find(vn, idx) != NONE)
		return -1;
	e = ent_new(vn, idx, state, vm_id);
	if (state == CLD_LEASE_RELEASED) {
		vn->ents[e].stamp = released;
		if (released > vn->last_stamp)
			vn->last_stamp = released;
	}
	count_state(vn, state, 1);
	return 0;
}

static int
cmp_stamp(const void *x, const void *y, void *ctx)
{
	const struct cld_vnet *vn = ctx;
	const struct cld_lease_ent *a = &vn->ents[*(const uint32_t *)x];
	const struct cld_lease_ent *b = &vn->ents[*(const uint32_t *)y];

	if (a->stamp != b->stamp)
		return a->stamp < b->stamp ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

void
cld_vnet_restore_done(struct cld_vnet *vn)
{
	uint32_t *q = cld_xcalloc(vn->nreleased + 1, sizeof(*q)), n = 0;

	for (uint32_t e = 0; e < vn->nents; e++)
		if (vn->ents[e].state == CLD_LEASE_RELEASED)
			q[n++] = e;
	qsort_r(q, n, sizeof(*q), cmp_stamp, vn);
	vn->head = vn->tail = NONE;
	for (uint32_t i = 0; i < n; i++)
		queue_append(vn, q[i]);
	free(q);
	vn->fresh = 0;
	fresh_advance(vn);
}

uint32_t
cld_vnet_nfree(const struct cld_vnet *vn)
{
	return vn->size - vn->nused - vn->nheld - vn->nreserved;
}

uint32_t
cld_vnet_nleasable(const struct cld_vnet *vn)
{
	return vn->size - vn->nreserved;
}

static int
cmp_addr(const void *x, const void *y, void *ctx)
{
	const struct cld_vnet *vn = ctx;
	uint32_t a = cld_vnet_addr(vn, vn->ents[*(const uint32_t *)x].idx);
	uint32_t b = cld_vnet_addr(vn, vn->ents[*(const uint32_t *)y].idx);

	return a < b ? -1 : a > b;
}

uint32_t *
cld_vnet_sorted(const struct cld_vnet *vn)
{
	uint32_t *q = cld_xcalloc(vn->nents + 1, sizeof(*q));

	for (uint32_t e = 0; e < vn->nents; e++)
		q[e] = e;
	qsort_r(q, vn->nents, sizeof(*q), cmp_addr, (void *)vn);
	return q;
}

void
cld_vnet_ip_text(const struct cld_vnet *vn, uint32_t idx, char buf[16])
{
	cld_ipv4_format(cld_vnet_addr(vn, idx), buf);
}

void
cld_vnet_mac_text(const struct cld_vnet *vn, uint32_t idx, char buf[18])
{
	uint8_t m[6];

	cld_vnet_mac(vn, idx, m);
	cld_mac_format(m, buf);
}
