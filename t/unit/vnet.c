/*
 * Virtual networks (core/vnet.c): address and MAC syntax, network
 * templates and their exact errors, and the allocator of leases: every
 * address given once, never-used addresses first, then the least recently
 * released, holds, exhaustion, fixed lists, the state rebuilt from stored
 * rows, and a long random run against a plain model of the rules.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "template.h"
#include "util.h"
#include "vnet.h"

/* A network from template TEXT, or NULL with the error in ERR. */
static struct cld_vnet *
net(const char *text, struct cld_err *err)
{
	struct cld_tmpl t;
	struct cld_vnet *vn;

	memset(&t, 0, sizeof(t));
	cld_err_clear(err);
	if (cld_tmpl_parse(text, strlen(text), &t, err) < 0)
		return NULL;
	vn = cld_vnet_new(&t, "02:00", err);
	cld_tmpl_release(&t);
	return vn;
}

static const char *
ip(uint32_t a)
{
	static char buf[4][16];
	static int k;

	k = (k + 1) % 4;
	cld_ipv4_format(a, buf[k]);
	return buf[k];
}

static uint32_t
addr(const char *s)
{
	uint32_t a = 0;

	if (cld_ipv4_parse(s, &a) < 0)
		abort();
	return a;
}

static void
test_syntax(void)
{
	static const char *const bad_ips[] = { "", "1.2.3", "1.2.3.4.5",
		"256.1.1.1", "01.2.3.4", "1.2.3.4 ", " 1.2.3.4", "1..2.3",
		"1.2.3.-4", "a.b.c.d", "1.2.3.4/24", "1234.1.1.1" };
	uint8_t m[6], p[2];
	char buf[18];
	uint32_t a;
	struct cld_err err;

	ok(cld_ipv4_parse("10.1.2.3", &a) == 0 && a == 0x0a010203,
	    "10.1.2.3 parses");
	ok(cld_ipv4_parse("0.0.0.0", &a) == 0 && a == 0 &&
	    cld_ipv4_parse("255.255.255.255", &a) == 0 && a == 0xffffffff,
	    "the lowest and highest addresses parse");
	for (size_t i = 0; i < CLD_ARRAY_SIZE(bad_ips); i++)
		ok(cld_ipv4_parse(bad_ips[i], &a) < 0, "'%s' is not an address",
		    bad_ips[i]);
	is_str(ip(0xc0a80001), "192.168.0.1", "addresses print dotted");

	ok(cld_mac_parse("02:00:0A:ff:00:01", m) == 0 && m[2] == 0x0a &&
	    m[3] == 0xff, "a MAC parses, either case");
	cld_mac_format(m, buf);
	is_str(buf, "02:00:0a:ff:00:01", "a MAC prints in lower case");
	ok(cld_mac_parse("02:00:0a:ff:00", m) < 0 &&
	    cld_mac_parse("02:00:0a:ff:00:01:02", m) < 0 &&
	    cld_mac_parse("02-00-0a-ff-00-01", m) < 0 &&
	    cld_mac_parse("2:00:0a:ff:00:01", m) < 0 &&
	    cld_mac_parse("02:00:0a:ff:00:0g", m) < 0,
	    "short, long, dashed, one-digit and non-hex MACs are refused");
	cld_mac_of_ip((const uint8_t[]){ 0x02, 0x00 }, addr("10.1.3.254"), m);
	cld_mac_format(m, buf);
	is_str(buf, "02:00:0a:01:03:fe",
	    "a MAC is the prefix and the address's 4 bytes");

	cld_err_clear(&err);
	ok(cld_mac_prefix_parse("0A:bc", p, "MAC_PREFIX", &err) == 0 &&
	    p[0] == 0x0a && p[1] == 0xbc, "a MAC prefix parses");
	ok(cld_mac_prefix_parse("03:00", p, "MAC_PREFIX", &err) < 0,
	    "a multicast prefix is refused");
	is_str(err.msg, "MAC_PREFIX '03:00' is a multicast prefix: the first byte must be even, as in \"02:00\"",
	    "  saying why");
	ok(cld_mac_prefix_parse("02:00:00", p, "MAC_PREFIX", &err) < 0,
	    "three bytes are not a prefix");
	is_str(err.msg, "MAC_PREFIX '02:00:00' is not two hexadecimal bytes, as in \"02:00\"",
	    "  saying why");

	ok(cld_ifname_valid("br0") && cld_ifname_valid("eth0.100") &&
	    cld_ifname_valid("abcdefghijklmno"), "interface names pass");
	ok(!cld_ifname_valid("") && !cld_ifname_valid("abcdefghijklmnop") &&
	    !cld_ifname_valid("br 0") && !cld_ifname_valid("-br") &&
	    !cld_ifname_valid("..") && !cld_ifname_valid("br0;reboot") &&
	    !cld_ifname_valid("a/b"),
	    "empty, 16 characters, blanks, a leading '-', '..', ';' and '/' are refused");
}

/* Templates that are refused, with their exact message. */
static const struct {
	const char *text, *err;
} refused[] = {
	{ "BRIDGE = br0\nNETWORK_ADDRESS = 10.0.0.0/24\n",
	  "the network needs NAME, as in NAME = \"pub\"" },
	{ "NAME = a\nNETWORK_ADDRESS = 10.0.0.0/24\n",
	  "the network needs BRIDGE, the bridge its VMs' NICs are plugged into, as in BRIDGE = \"br0\"" },
	{ "NAME = a\nBRIDGE = br0\n",
	  "the network needs addresses: NETWORK_ADDRESS (with NETWORK_SIZE or a prefix length), IP_START and IP_END, or LEASES = [ IP = ... ]" },
	{ "NAME = a\nBRIGDE = br0\n",
	  "line 2, column 1: unknown attribute 'BRIGDE' (a network has NAME, BRIDGE, VLAN_ID, PHYDEV, NETWORK_ADDRESS, NETWORK_SIZE, NETWORK_MASK, IP_START, IP_END, LEASES, GATEWAY, DNS, MAC_PREFIX, DESCRIPTION)" },
	{ "NAME = 42\nBRIDGE = br0\nNETWORK_ADDRESS = 10.0.0.0/24\n",
	  "line 1, column 1: invalid network name '42': letters, digits, '.', '-' and '_', not all digits" },
	{ "NAME = a\nNAME = b\nBRIDGE = br0\nNETWORK_ADDRESS = 10.0.0.0/24\n",
	  "line 2, column 1: NAME is given twice (first at line 1)" },
	{ "NAME = a\nBRIDGE = [ X = 1 ]\nNETWORK_ADDRESS = 10.0.0.0/24\n",
	  "line 2, column 1: BRIDGE must be a single value, not a vector" },
	{ "NAME = a\nBRIDGE = \"br 0\"\nNETWORK_ADDRESS = 10.0.0.0/24\n",
	  "line 2, column 1: BRIDGE 'br 0' is not an interface name: 1 to 15 letters, digits, '_', '.' or '-'" },
	{ "NAME = a\nBRIDGE = br0\nVLAN_ID = 12\nNETWORK_ADDRESS = 10.0.0.0/24\n",
	  "line 3, column 1: VLAN_ID needs PHYDEV, the interface that carries the VLAN" },
	{ "NAME = a\nBRIDGE = br0\nPHYDEV = eth0\nVLAN_ID = 4095\nNETWORK_ADDRESS = 10.0.0.0/24\n",
	  "line 4, column 1: VLAN_ID '4095' is not a whole number from 1 to 4094" },
	{ "NAME = a\nBRIDGE = br0\nNETWORK_ADDRESS = 10.0.0.0\n",
	  "line 3, column 1: NETWORK_ADDRESS needs the network's size: a prefix length (\"10.1.0.0/22\"), NETWORK_SIZE or NETWORK_MASK" },
	{ "NAME = a\nBRIDGE = br0\nNETWORK_ADDRESS = 10.1.0.5/22\n",
	  "line 3, column 1: NETWORK_ADDRESS '10.1.0.5' is not the first address of a /22 (10.1.0.0 is)" },
	{ "NAME = a\nBRIDGE = br0\nNETWORK_ADDRESS = 10.1.0.0/31\n",
	  "line 3, column 1: NETWORK_ADDRESS '10.1.0.0/31': the prefix length must be from 8 to 30" },
	{ "NAME = a\nBRIDGE = br0\nNETWORK_ADDRESS = 10.1.0.0\nNETWORK_SIZE = 1000\n",
	  "line 4, column 1: NETWORK_SIZE '1000' is not a power of two from 4 to 16777216 (the block's size: 1024 for a /22)" },
	{ "NAME = a\nBRIDGE = br0\nNETWORK_ADDRESS = 10.1.0.0/22\nNETWORK_SIZE = 1024\n",
	  "line 4, column 1: NETWORK_SIZE repeats the size NETWORK_ADDRESS gives: give one" },
	{ "NAME = a\nBRIDGE = br0\nNETWORK_ADDRESS = 10.1.0.0\nNETWORK_MASK = 255.0.255.0\n",
	  "line 4, column 1: NETWORK_MASK '255.0.255.0' is not a netmask from 255.0.0.0 to 255.255.255.252" },
	{ "NAME = a\nBRIDGE = br0\nNETWORK_SIZE = 256\n",
	  "the network needs addresses: NETWORK_ADDRESS (with NETWORK_SIZE or a prefix length), IP_START and IP_END, or LEASES = [ IP = ... ]" },
	{ "NAME = a\nBRIDGE = br0\nIP_START = 10.0.0.5\nNETWORK_SIZE = 256\n",
	  "line 4, column 1: NETWORK_SIZE needs NETWORK_ADDRESS" },
	{ "NAME = a\nBRIDGE = br0\nNETWORK_ADDRESS = 10.0.0.0/24\nIP_START = 10.0.0.5\nIP_END = 10.0.0.9\n",
	  "line 4, column 1: IP_START and NETWORK_ADDRESS are two ways of giving the addresses: give one" },
	{ "NAME = a\nBRIDGE = br0\nIP_START = 10.0.0.5\n",
	  "line 3, column 1: IP_START needs IP_END" },
	{ "NAME = a\nBRIDGE = br0\nIP_START = 10.0.0.9\nIP_END = 10.0.0.5\n",
	  "line 4, column 1: IP_END 10.0.0.5 is before IP_START 10.0.0.9" },
	{ "NAME = a\nBRIDGE = br0\nIP_START = 10.0.0.9\nIP_END = 10.0.1.5\nNETWORK_MASK = 255.255.255.0\n",
	  "line 4, column 1: IP_START 10.0.0.9 and IP_END 10.0.1.5 are not in one /24" },
	{ "NAME = a\nBRIDGE = br0\nIP_START = 10.0.0.300\nIP_END = 10.0.1.5\n",
	  "line 3, column 1: IP_START '10.0.0.300' is not an IPv4 address" },
	{ "NAME = a\nBRIDGE = br0\nIP_START = 10.0.0.1\nIP_END = 11.0.0.1\n",
	  "line 4, column 1: IP_START to IP_END is more than 16777216 addresses" },
	{ "NAME = a\nBRIDGE = br0\nLEASES = \"10.0.0.5\"\n",
	  "line 3, column 1: LEASES must be a vector: LEASES = [ IP = \"10.0.0.5\" ]" },
	{ "NAME = a\nBRIDGE = br0\nLEASES = [ MAC = 02:00:00:00:00:01 ]\n",
	  "line 3, column 1: LEASES needs IP, as in LEASES = [ IP = \"10.0.0.5\" ]" },
	{ "NAME = a\nBRIDGE = br0\nLEASES = [ IP = 10.0.0.5, VLAN = 3 ]\n",
	  "line 3, column 27: LEASES: 'VLAN' is unknown (a lease has IP and, optionally, MAC)" },
	{ "NAME = a\nBRIDGE = br0\nLEASES = [ IP = 10.0.0.5 ]\nLEASES = [ IP = 10.0.0.6 ]\nLEASES = [ IP = 10.0.0.5 ]\n",
	  "line 5, column 1: LEASES: IP '10.0.0.5' is listed twice (first at line 3)" },
	{ "NAME = a\nBRIDGE = br0\nLEASES = [ IP = 10.0.0.5, MAC = 02:00:0a:00:00:06 ]\nLEASES = [ IP = 10.0.0.6 ]\n",
	  "line 4, column 1: LEASES: MAC '02:00:0a:00:00:06' is used twice (first at line 3)" },
	{ "NAME = a\nBRIDGE = br0\nLEASES = [ IP = 10.0.0.5, MAC = 01:00:0a:00:00:06 ]\n",
	  "line 3, column 1: LEASES: MAC '01:00:0a:00:00:06' is a multicast address" },
	{ "NAME = a\nBRIDGE = br0\nNETWORK_ADDRESS = 10.0.0.0/24\nGATEWAY = 10.0.1.1\n",
	  "line 4, column 1: GATEWAY 10.0.1.1 is not in the network's subnet 10.0.0.0/24" },
	{ "NAME = a\nBRIDGE = br0\nNETWORK_ADDRESS = 10.0.0.0/24\nDNS = \"10.0.0.2 dns.example\"\n",
	  "line 4, column 1: DNS: 'dns.example' is not an IPv4 address (DNS is a list of addresses separated by spaces)" },
	{ "NAME = a\nBRIDGE = br0\nNETWORK_ADDRESS = 10.0.0.0/24\nMAC_PREFIX = 01:00\n",
	  "line 4, column 1: MAC_PREFIX '01:00' is a multicast prefix: the first byte must be even, as in \"02:00\"" },
	{ "NAME = a\nBRIDGE = br0\nIP_START = 10.0.0.1\nIP_END = 10.0.0.1\nGATEWAY = 10.0.0.1\n",
	  "the network has no address to lease: its only one is the gateway" },
};

static void
test_templates(void)
{
	struct cld_err err;
	struct cld_vnet *vn;
	char buf[64];

	for (size_t i = 0; i < CLD_ARRAY_SIZE(refused); i++) {
		vn = net(refused[i].text, &err);
		ok(vn == NULL, "refused: %.60s", refused[i].err);
		if (vn == NULL)
			is_str(err.msg, refused[i].err, "  with its message");
		cld_vnet_free(vn);
	}

	vn = net("NAME = pub\nBRIDGE = br0\nNETWORK_ADDRESS = 10.1.0.0/22\n", &err);
	ok(vn != NULL, "a /22 by prefix length: %s", err.msg);
	if (vn != NULL) {
		ok(vn->size == 1022 && vn->first == addr("10.1.0.1") &&
		    vn->prefix == 22 && cld_vnet_nleasable(vn) == 1022,
		    "  1022 addresses from 10.1.0.1, /22");
		is_str(cld_tmpl_get(&vn->tmpl, "MAC_PREFIX"), "02:00",
		    "  the default MAC prefix is kept in its template");
		is_str(ip(cld_vnet_netmask(vn)), "255.255.252.0", "  its netmask");
		cld_vnet_describe(vn, buf, sizeof(buf));
		is_str(buf, "10.1.0.1-10.1.3.254", "  described as its range");
		ok(cld_vnet_index(vn, addr("10.1.0.0")) < 0 &&
		    cld_vnet_index(vn, addr("10.1.3.255")) < 0 &&
		    cld_vnet_index(vn, addr("10.1.3.254")) == 1021,
		    "  neither the network's address nor its broadcast address");
	}
	cld_vnet_free(vn);

	vn = net("NAME = pub\nBRIDGE = br0\nNETWORK_ADDRESS = 10.1.0.0\nNETWORK_SIZE = 1024\nGATEWAY = 10.1.0.1\nDNS = \"10.1.0.2  8.8.8.8\"\nMAC_PREFIX = 0a:bc\n", &err);
	ok(vn != NULL && vn->size == 1022 && vn->prefix == 22 &&
	    vn->has_gateway && cld_vnet_nleasable(vn) == 1021 &&
	    vn->mac_prefix[0] == 0x0a,
	    "NETWORK_SIZE, a gateway inside (never leased), DNS, MAC_PREFIX");
	if (vn != NULL)
		ok(cld_vnet_state(vn, 0, NULL) == CLD_LEASE_RESERVED &&
		    vn->fresh == 1, "  the gateway is reserved");
	cld_vnet_free(vn);

	vn = net("NAME = pub\nBRIDGE = br0\nNETWORK_ADDRESS = 10.1.0.0\nNETWORK_MASK = 255.255.255.0\n", &err);
	ok(vn != NULL && vn->size == 254 && vn->prefix == 24,
	    "NETWORK_MASK gives the size");
	cld_vnet_free(vn);

	vn = net("NAME = span\nBRIDGE = br1\nPHYDEV = eth0\nVLAN_ID = 12\nIP_START = 192.168.5.10\nIP_END = 192.168.5.19\nNETWORK_MASK = 255.255.255.0\n", &err);
	ok(vn != NULL && vn->size == 10 && vn->first == addr("192.168.5.10") &&
	    vn->prefix == 24 && vn->vlan_id == 12 &&
	    strcmp(vn->phydev, "eth0") == 0,
	    "IP_START to IP_END, on VLAN 12 of eth0: %s", err.msg);
	cld_vnet_free(vn);

	vn = net("NAME = list\nBRIDGE = br0\nLEASES = [ IP = 10.0.0.9 ]\nLEASES = [ IP = 10.0.0.3, MAC = 02:aa:00:00:00:01 ]\nLEASES = [ IP = 10.0.0.7 ]\n", &err);
	ok(vn != NULL && vn->fixed && vn->size == 3, "a fixed list: %s",
	    err.msg);
	if (vn != NULL) {
		uint32_t idx;

		ok(cld_vnet_index(vn, addr("10.0.0.3")) == 1 &&
		    cld_vnet_index(vn, addr("10.0.0.7")) == 2 &&
		    cld_vnet_index(vn, addr("10.0.0.9")) == 0 &&
		    cld_vnet_index(vn, addr("10.0.0.8")) < 0,
		    "  found by address");
		cld_vnet_mac_text(vn, 1, buf);
		is_str(buf, "02:aa:00:00:00:01", "  a MAC given is kept");
		cld_vnet_mac_text(vn, 2, buf);
		is_str(buf, "02:00:0a:00:00:07", "  a MAC not given is derived");
		ok(cld_vnet_take(vn, 1, &idx) == 0 && idx == 0 &&
		    cld_vnet_take(vn, 2, &idx) == 0 && idx == 1 &&
		    cld_vnet_take(vn, 3, &idx) == 0 && idx == 2 &&
		    cld_vnet_take(vn, 4, &idx) < 0,
		    "  leased in the order listed, then exhausted");
		cld_vnet_describe(vn, buf, sizeof(buf));
		is_str(buf, "3 fixed addresses", "  described by its size");
	}
	cld_vnet_free(vn);
}

static void
test_overlap(void)
{
	struct cld_err err;
	struct cld_vnet *a = net("NAME = a\nBRIDGE = br0\nIP_START = 10.0.0.10\nIP_END = 10.0.0.99\n", &err);
	struct cld_vnet *b = net("NAME = b\nBRIDGE = br0\nIP_START = 10.0.0.100\nIP_END = 10.0.0.199\n", &err);
	struct cld_vnet *c = net("NAME = c\nBRIDGE = br0\nNETWORK_ADDRESS = 10.0.0.0/24\n", &err);
	struct cld_vnet *l = net("NAME = l\nBRIDGE = br0\nLEASES = [ IP = 10.0.1.5 ]\nLEASES = [ IP = 10.0.0.150 ]\n", &err);
	struct cld_vnet *m = net("NAME = m\nBRIDGE = br0\nLEASES = [ IP = 10.0.1.5 ]\n", &err);
	struct cld_vnet *n = net("NAME = n\nBRIDGE = br0\nLEASES = [ IP = 10.0.2.5 ]\n", &err);

	ok(!cld_vnet_overlap(a, b) && !cld_vnet_overlap(b, a),
	    "two ranges side by side do not overlap");
	ok(cld_vnet_overlap(a, c) && cld_vnet_overlap(c, b),
	    "a range inside another overlaps it");
	ok(cld_vnet_overlap(l, b) && cld_vnet_overlap(b, l) &&
	    !cld_vnet_overlap(l, a) && !cld_vnet_overlap(a, l),
	    "a list overlaps the range that holds one of its addresses, either way round");
	ok(cld_vnet_overlap(l, m) && cld_vnet_overlap(m, l) &&
	    !cld_vnet_overlap(l, n) && !cld_vnet_overlap(n, m),
	    "lists overlap when they share an address");
	cld_vnet_free(a);
	cld_vnet_free(b);
	cld_vnet_free(c);
	cld_vnet_free(l);
	cld_vnet_free(m);
	cld_vnet_free(n);
}

static void
test_allocator(void)
{
	struct cld_err err;
	struct cld_vnet *vn = net("NAME = pub\nBRIDGE = br0\nNETWORK_ADDRESS = 10.1.0.0/22\n", &err);
	char *seen = cld_xcalloc(1022, 1);
	uint32_t idx, first[3] = { 0, 0, 0 };
	int distinct = 1, inrange = 1;
	int64_t owner;

	for (int64_t vm = 0; vm < 1022; vm++) {
		if (cld_vnet_take(vn, vm, &idx) < 0) {
			distinct = 0;
			break;
		}
		if (idx >= 1022 || cld_vnet_addr(vn, idx) < addr("10.1.0.1") ||
		    cld_vnet_addr(vn, idx) > addr("10.1.3.254"))
			inrange = 0;
		else if (seen[idx]++)
			distinct = 0;
	}
	ok(distinct && inrange, "1022 VMs get 1022 distinct addresses of the /22");
	ok(cld_vnet_take(vn, 5000, &idx) < 0 && cld_vnet_nfree(vn) == 0 &&
	    vn->nused == 1022, "the 1023rd finds none: exhausted");
	ok(cld_vnet_state(vn, 17, &owner) == CLD_LEASE_USED && owner == 17,
	    "each lease knows its VM");

	/* Released in the order 500, 3, 900: handed out in that order. */
	ok(cld_vnet_release(vn, 500, 1000) == 0 &&
	    cld_vnet_release(vn, 3, 1000) == 0 &&
	    cld_vnet_release(vn, 900, 999) == 0, "three leases given back");
	ok(vn->ents[vn->tail].stamp == 1002,
	    "  with stamps strictly increasing, even when the clock is not");
	ok(cld_vnet_release(vn, 3, 2000) < 0, "a free address cannot be given back twice");
	ok(cld_vnet_take(vn, 6000, &first[0]) == 0 &&
	    cld_vnet_take(vn, 6001, &first[1]) == 0 &&
	    cld_vnet_take(vn, 6002, &first[2]) == 0 &&
	    first[0] == 500 && first[1] == 3 && first[2] == 900,
	    "reused least recently released first: 500, 3, 900 (got %u, %u, %u)",
	    first[0], first[1], first[2]);
	cld_vnet_free(vn);
	free(seen);

	vn = net("NAME = pub\nBRIDGE = br0\nNETWORK_ADDRESS = 10.0.0.0/29\n", &err);
	ok(vn->size == 6, "a /29: six addresses");
	ok(cld_vnet_take(vn, 1, &idx) == 0 && idx == 0 &&
	    cld_vnet_take(vn, 2, &idx) == 0 && idx == 1 &&
	    cld_vnet_release(vn, 0, 10) == 0 &&
	    cld_vnet_take(vn, 3, &idx) == 0 && idx == 2,
	    "an address given back is not the next one handed out: a never-used one is");
	ok(cld_vnet_hold(vn, 3) == 0 && cld_vnet_take(vn, 4, &idx) == 0 &&
	    idx == 4, "an address on hold is skipped");
	ok(cld_vnet_hold(vn, 3) < 0 && cld_vnet_hold(vn, 4) < 0 &&
	    cld_vnet_take_at(vn, 3, 9) < 0,
	    "an address on hold or leased cannot be held again or leased");
	ok(cld_vnet_take_at(vn, 5, 5) == 0 && cld_vnet_take(vn, 6, &idx) == 0 &&
	    idx == 0, "an address asked for by name, then the released one: all used");
	ok(cld_vnet_nfree(vn) == 0 && vn->nheld == 1 && vn->nused == 5 &&
	    cld_vnet_take(vn, 7, &idx) < 0, "exhausted with one on hold");
	ok(cld_vnet_release(vn, 3, 20) == 0 && cld_vnet_take(vn, 7, &idx) == 0 &&
	    idx == 3, "released from hold, it is the only free one and is leased");
	ok(cld_vnet_release(vn, 7, 30) < 0 && cld_vnet_hold(vn, 99) < 0 &&
	    cld_vnet_take_at(vn, 6, 1) < 0,
	    "indexes out of range are refused");
	cld_vnet_free(vn);
}

/* The allocator rebuilt from its rows takes up where it left off. */
static void
test_restore(void)
{
	struct cld_err err;
	const char *text = "NAME = pub\nBRIDGE = br0\nNETWORK_ADDRESS = 10.0.0.0/27\nGATEWAY = 10.0.0.1\n";
	struct cld_vnet *a = net(text, &err), *b = net(text, &err);
	uint32_t idx, ia, ib, *order;
	int same = 1, n = 0;

	/* Use A for a while: leases, holds, releases at odd times. */
	srand(7);
	for (int step = 0; step < 400; step++) {
		uint32_t i = (uint32_t)(rand() % (int)a->size);
		int r = rand() % 4;

		if (r == 0)
			cld_vnet_take(a, step, &idx);
		else if (r == 1)
			cld_vnet_release(a, i, 1000 + step / 3);
		else if (r == 2)
			cld_vnet_hold(a, i);
		else
			cld_vnet_take_at(a, i, step);
	}
	/* What the store keeps, fed back in another order (by address). */
	order = cld_vnet_sorted(a);
	for (uint32_t k = a->nents; k-- > 0;) {
		const struct cld_lease_ent *e = &a->ents[order[k]];

		if (e->state == CLD_LEASE_RESERVED)
			continue;
		if (cld_vnet_restore(b, e->idx, e->state == CLD_LEASE_HELD ? -1 :
		    e->vm_id, e->state == CLD_LEASE_RELEASED ? e->stamp : 0) < 0)
			same = 0;
		n++;
	}
	free(order);
	cld_vnet_restore_done(b);
	ok(same && n > 0, "%d stored leases restored", n);
	ok(b->nused == a->nused && b->nheld == a->nheld &&
	    b->nreleased == a->nreleased && cld_vnet_nfree(b) == cld_vnet_nfree(a),
	    "  the same counts: %u used, %u held, %u released", b->nused,
	    b->nheld, b->nreleased);
	ok(cld_vnet_restore(b, 0, 1, 0) < 0,
	    "  the gateway's row is refused");
	/* From now on both hand out the same addresses. */
	for (int k = 0; k < 40 && same; k++) {
		int ra = cld_vnet_take(a, 1000 + k, &ia);
		int rb = cld_vnet_take(b, 1000 + k, &ib);

		if (ra != rb || (ra == 0 && ia != ib))
			same = 0;
		if (k % 3 == 0 && ra == 0) {
			cld_vnet_release(a, ia, 5000 + k);
			cld_vnet_release(b, ib, 5000 + k);
		}
	}
	ok(same, "  and then hand out the same addresses in the same order as the original");
	cld_vnet_free(a);
	cld_vnet_free(b);
}

/*
 * A long random run against a model written as plainly as the rules:
 * free addresses never used go lowest first; else the one whose release
 * was longest ago.
 */
static void
test_model(void)
{
	enum { N = 300, STEPS = 200000 };
	struct cld_err err;
	struct cld_vnet *vn = net("NAME = m\nBRIDGE = br0\nIP_START = 10.9.0.1\nIP_END = 10.9.1.44\n", &err);
	int state[N];           /* 0 never, 1 released, 2 used, 3 held */
	int64_t when[N], clock = 0, owner[N];
	int bad = 0, takes = 0, exhausted = 0;

	ok(vn != NULL && vn->size == N, "a range of %d for the model", N);
	memset(state, 0, sizeof(state));
	srand(11);
	for (int step = 0; step < STEPS && !bad; step++) {
		uint32_t i = (uint32_t)(rand() % N), got;
		int r = rand() % 10, want = -1, rc;

		clock++;
		if (r < 5) {
			for (int k = 0; k < N && want < 0; k++)
				if (state[k] == 0)
					want = k;
			for (int k = 0; k < N && want < 0; k++)
				if (state[k] == 1)
					want = k;
			for (int k = 0; k < N && want >= 0; k++)
				if (state[k] == 1 && state[want] == 1 &&
				    when[k] < when[want])
					want = k;
			rc = cld_vnet_take(vn, step, &got);
			if ((want < 0) != (rc < 0) || (rc == 0 && got != (uint32_t)want))
				bad = 1;
			if (rc == 0) {
				state[got] = 2;
				owner[got] = step;
				takes++;
			} else
				exhausted++;
		} else if (r < 8) {
			rc = cld_vnet_release(vn, i, clock / 7);
			if ((rc == 0) != (state[i] >= 2))
				bad = 2;
			if (rc == 0) {
				state[i] = 1;
				when[i] = clock;
			}
		} else if (r < 9) {
			rc = cld_vnet_hold(vn, i);
			if ((rc == 0) != (state[i] <= 1))
				bad = 3;
			if (rc == 0)
				state[i] = 3;
		} else {
			rc = cld_vnet_take_at(vn, i, step);
			if ((rc == 0) != (state[i] <= 1))
				bad = 4;
			if (rc == 0) {
				state[i] = 2;
				owner[i] = step;
			}
		}
	}
	for (int k = 0; k < N && !bad; k++) {
		int64_t vm;
		int st = cld_vnet_state(vn, (uint32_t)k, &vm);

		if (st != (state[k] == 0 ? CLD_LEASE_NEW : state[k] == 1 ?
		    CLD_LEASE_RELEASED : state[k] == 2 ? CLD_LEASE_USED :
		    CLD_LEASE_HELD) || (st == CLD_LEASE_USED && vm != owner[k]))
			bad = 5;
	}
	ok(!bad, "%d random steps (%d leases, %d refused as exhausted) agree with the model%s",
	    STEPS, takes, exhausted, bad ? " (they do not)" : "");
	if (bad)
		diag("first disagreement of kind %d", bad);
	cld_vnet_free(vn);
}

int
main(void)
{
	test_syntax();
	test_templates();
	test_overlap();
	test_allocator();
	test_restore();
	test_model();
	return done_testing();
}
