/*
 * net/bridge: Linux bridges, 802.1Q VLANs and nftables filters that keep
 * each VM to its own MAC and IPv4 address, on the VM's host.
 *
 * Each NIC vector of the VM's template, as the core resolved it
 * (cloudd-drivers(7), "NICs"), gives BRIDGE and TARGET (the tap's name on
 * the host, "cld<VMID>n<IDX>", which the vmm driver gives the tap); a NIC
 * on a virtual network also has MAC and IP, and VLAN_ID and PHYDEV when the
 * network is a VLAN.  A plain NIC (NIC = [ BRIDGE = "br0" ]) may have no
 * MAC and no IP: its chain then holds it to what is known (no VLAN tags,
 * well-formed ARP), since the MAC is the hypervisor's choice.  Every value is checked before anything runs
 * (bridge_nics); a bad one fails the operation with the NIC's index and
 * the reason.
 *
 * pre: on the host, the bridge BRIDGE exists and is up (made, and marked
 * as ours with the interface alias "cloudd net/bridge", when missing); with
 * a VLAN the sub-interface PHYDEV.VLAN_ID exists, is up and is a port of
 * BRIDGE, which is the network's own bridge, used as given: one bridge per
 * VLAN.  Then the NIC's filter chain is installed, so the guest is held to
 * its MAC and address from its first frame.  post installs the same chain
 * again.
 * clean removes the chain, then the bridge and VLAN interface pre made if
 * no other NIC is registered on the bridge and no port but that VLAN
 * interface is left on it.
 *
 * The filters live in one nftables table per host, "table bridge cloudd":
 * a base chain on the bridge family's prerouting hook jumps, through the
 * verdict map "ports", to one chain "nic-<TARGET>" per NIC; the set
 * "members" holds "BRIDGE . TARGET" for every NIC from pre to clean, which
 * is how clean knows that a bridge is still wanted by a VM whose tap does
 * not exist yet.  The ruleset is text built here from checked values only
 * and given to "nft -f -" on its standard input.
 *
 * Everything on the host is one ssh call per operation: a fixed script
 * (bridge_script) with the checked values as its positional parameters
 * and the ruleset on its standard input.  pre and clean hold a lock file on
 * the host so that clean's "is this bridge still used" never sees another
 * VM's pre half done.  See cloudd-net-bridge(7).
 */
#include "config.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cloudd/driver.h>

#define BRIDGE_IFNAME_MAX 15 /* IFNAMSIZ - 1 */
#define BRIDGE_TABLE "bridge cloudd"
#define BRIDGE_LOCK "/run/lock/cloudd-net-bridge"
#define BRIDGE_REFUSED 3     /* the script's status for a reason of its own */

/* One NIC, checked: every string is plain and fits. */
struct bridge_nic {
	char bridge[BRIDGE_IFNAME_MAX + 1];
	char target[BRIDGE_IFNAME_MAX + 1];
	char phydev[BRIDGE_IFNAME_MAX + 1];  /* "" without a VLAN */
	char vlan[8];                        /* "1".."4094", "" without */
	char mac[18];                        /* lower case, "" without */
	char ip[INET_ADDRSTRLEN];            /* dotted quad, "" without */
};

enum bridge_op { BRIDGE_PRE, BRIDGE_POST, BRIDGE_CLEAN };
static const char *const bridge_op_names[] = { "pre", "post", "clean" };

/*
 * The script run on the host: $1 the operation, $2 the lock file, then four
 * words per NIC: BRIDGE PHYDEV VLAN_ID TARGET (PHYDEV and VLAN_ID empty
 * without a VLAN); the ruleset for nft on standard input.  A failure of its
 * own is one line "net/bridge: REASON" on standard error and status 3;
 * "kept ..." lines on standard output say why clean left a bridge.
 */
static const char bridge_script[] =
    /* No globbing: interface names may hold "*"; none holds a blank. */
    "set -u -f\n"
    "op=$1 lock=$2\n"
    "shift 2\n"
    "mark='cloudd net/bridge'\n"
    "fail() { printf 'net/bridge: %s\\n' \"$*\" >&2; exit 3; }\n"
    "first() { printf '%s\\n' \"$1\" | sed -n 1p; }\n"
    /* run WHAT CMD...: CMD, or fail saying WHAT and CMD's first error line. */
    "run() {\n"
    "	what=$1\n"
    "	shift\n"
    "	out=$(\"$@\" 2>&1 </dev/null) || fail \"$what: $(first \"$out\")\"\n"
    "}\n"
    "for p in ip nft flock; do\n"
    "	command -v \"$p\" >/dev/null 2>&1 ||\n"
    "	    fail \"'$p' is not installed on this host\"\n"
    "done\n"
    "nft_apply() {\n"
    "	out=$(nft -f - 2>&1) || fail \"nft refused the rules: $(first \"$out\")\"\n"
    "}\n"
    "if [ \"$op\" = post ]; then\n"
    "	nft_apply\n"
    "	exit 0\n"
    "fi\n"
    /*
     * pre and clean, one at a time on a host: clean's "is this bridge
     * still used" must never see another VM's pre half done.
     */
    "mkdir -p \"${lock%/*}\" 2>/dev/null\n"
    "true 2>/dev/null >>\"$lock\" || fail \"cannot open the lock file '$lock'\"\n"
    "exec 9>>\"$lock\"\n"
    "flock -w 60 9 || fail \"'$lock' stayed locked for 60 s\"\n"
    /* member BR TARGET: is that NIC registered; used BR: is any NIC on BR. */
    "members() { members=$(nft list set " BRIDGE_TABLE " members 2>/dev/null) || members=; }\n"
    "member() { case $members in *\"\\\"$1\\\" . \\\"$2\\\"\"*) return 0 ;; esac; return 1; }\n"
    "used() { case $members in *\"\\\"$1\\\" . \"*) return 0 ;; esac; return 1; }\n"
    "ours() { [ \"$(cat \"/sys/class/net/$1/ifalias\" 2>/dev/null)\" = \"$mark\" ]; }\n"
    "ports() { ls \"/sys/class/net/$1/brif\" 2>/dev/null; }\n"
    "master() { m=$(readlink \"/sys/class/net/$1/master\" 2>/dev/null) || m=; echo \"${m##*/}\"; }\n"
    /* each FUNC ARGS...: FUNC BRIDGE PHYDEV VLAN_ID TARGET, for each NIC. */
    "each() {\n"
    "	f=$1\n"
    "	shift\n"
    "	while [ $# -ge 4 ]; do\n"
    "		\"$f\" \"$1\" \"$2\" \"$3\" \"$4\"\n"
    "		shift 4\n"
    "	done\n"
    "}\n"
    /* Everything pre needs true of a NIC, checked before anything changes. */
    "nic_check() {\n"
    "	br=$1 dev=$2 vid=$3\n"
    "	if [ -e \"/sys/class/net/$br\" ] && [ ! -d \"/sys/class/net/$br/bridge\" ]; then\n"
    "		fail \"'$br' exists and is not a bridge\"\n"
    "	fi\n"
    "	if [ -z \"$vid\" ]; then\n"
    "		for p in $(ports \"$br\"); do\n"
    "			! ours \"$p\" ||\n"
    "			    fail \"bridge '$br' carries VLAN interface '$p': a NIC without VLAN_ID cannot use it\"\n"
    "		done\n"
    "		return 0\n"
    "	fi\n"
    "	vl=$dev.$vid\n"
    "	[ -e \"/sys/class/net/$dev\" ] || fail \"no interface '$dev' (PHYDEV) for VLAN $vid\"\n"
    "	if [ -e \"/sys/class/net/$vl\" ]; then\n"
    "		case $(ip -d -o link show dev \"$vl\" 2>&1) in\n"
    "		*\": $vl@$dev: \"*\" vlan protocol 802.1Q id $vid \"*) ;;\n"
    "		*) fail \"'$vl' exists and is not VLAN $vid of '$dev'\" ;;\n"
    "		esac\n"
    "		m=$(master \"$vl\")\n"
    "		[ -z \"$m\" ] || [ \"$m\" = \"$br\" ] ||\n"
    "		    fail \"'$vl' is a port of bridge '$m', not of '$br'\"\n"
    "	fi\n"
    "	for p in $(ports \"$br\"); do\n"
    "		[ \"$p\" != \"$vl\" ] || continue\n"
    "		case \" $targets \" in *\" $p \"*) continue ;; esac\n"
    "		member \"$br\" \"$p\" ||\n"
    "		    fail \"bridge '$br' has a port '$p' that is neither '$vl' nor a VM's NIC: a VLAN's bridge holds only its VLAN interface and VMs\"\n"
    "	done\n"
    "}\n"
    /* The VLAN interface first: without 802.1Q, nothing is made. */
    "nic_make() {\n"
    "	br=$1 dev=$2 vid=$3 vl=$2.$3\n"
    "	if [ -n \"$vid\" ] && [ ! -e \"/sys/class/net/$vl\" ]; then\n"
    "		out=$(ip link add link \"$dev\" name \"$vl\" type vlan id \"$vid\" 2>&1 </dev/null) || {\n"
    "			[ -d /proc/net/vlan ] ||\n"
    "			    fail \"cannot create VLAN interface '$vl': this host's kernel has no 802.1Q support (module 8021q): $(first \"$out\")\"\n"
    "			fail \"cannot create VLAN interface '$vl': $(first \"$out\")\"\n"
    "		}\n"
    "		run \"cannot mark '$vl'\" ip link set dev \"$vl\" alias \"$mark\"\n"
    "	fi\n"
    "	if [ ! -e \"/sys/class/net/$br\" ]; then\n"
    "		run \"cannot create bridge '$br'\" ip link add name \"$br\" type bridge\n"
    "		run \"cannot mark bridge '$br'\" ip link set dev \"$br\" alias \"$mark\"\n"
    "	fi\n"
    "	run \"cannot bring bridge '$br' up\" ip link set dev \"$br\" up\n"
    "	[ -n \"$vid\" ] || return 0\n"
    "	run \"cannot bring '$dev' up\" ip link set dev \"$dev\" up\n"
    "	run \"cannot add '$vl' to bridge '$br'\" ip link set dev \"$vl\" master \"$br\" up\n"
    "}\n"
    /* The bridge and VLAN interface pre made, once nothing uses them. */
    "nic_drop() {\n"
    "	br=$1 dev=$2 vid=$3\n"
    "	if used \"$br\"; then\n"
    "		echo \"kept bridge '$br': other NICs use it\"\n"
    "		return 0\n"
    "	fi\n"
    "	vl=\n"
    "	[ -z \"$vid\" ] || vl=$dev.$vid\n"
    "	if [ ! -d \"/sys/class/net/$br/bridge\" ]; then\n"
    "		:\n"
    "	elif ! ours \"$br\"; then\n"
    "		echo \"kept bridge '$br': cloudd did not make it\"\n"
    "	else\n"
    "		busy=\n"
    "		for p in $(ports \"$br\"); do\n"
    "			[ \"$p\" = \"$vl\" ] || busy=$p\n"
    "		done\n"
    "		if [ -n \"$busy\" ]; then\n"
    "			echo \"kept bridge '$br': '$busy' is a port of it\"\n"
    "		else\n"
    "			run \"cannot remove bridge '$br'\" ip link del dev \"$br\"\n"
    "		fi\n"
    "	fi\n"
    "	if [ -n \"$vl\" ] && [ -e \"/sys/class/net/$vl\" ] && ours \"$vl\" &&\n"
    "	    [ -z \"$(master \"$vl\")\" ]; then\n"
    "		run \"cannot remove '$vl'\" ip link del dev \"$vl\"\n"
    "	fi\n"
    "}\n"
    "members\n"
    "if [ \"$op\" = pre ]; then\n"
    "	targets='' i=0\n"
    "	for a in \"$@\"; do\n"
    "		i=$((i + 1))\n"
    "		[ $((i % 4)) -ne 0 ] || targets=\"$targets $a\"\n"
    "	done\n"
    "	each nic_check \"$@\"\n"
    "	each nic_make \"$@\"\n"
    "	nft_apply\n"
    "	exit 0\n"
    "fi\n"
    /* clean: the chains first (never making the table), then the bridges. */
    "if nft list table " BRIDGE_TABLE " >/dev/null 2>&1; then\n"
    "	nft_apply\n"
    "	members\n"
    "fi\n"
    "each nic_drop \"$@\"\n";

/*
 * VALUE as it may be shown in a message: at most 64 bytes, control and
 * non-ASCII bytes as '?', so that a hostile value cannot break a line.
 */
static const char *
bridge_shown(const char *value, char *buf, size_t size)
{
	size_t i, max = size - 4 < 64 ? size - 4 : 64;

	for (i = 0; value[i] != '\0' && i < max; i++)
		buf[i] = (value[i] >= 0x20 && value[i] < 0x7f) ? value[i] : '?';
	if (value[i] != '\0') {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/*
 * Non-zero if S is an interface name we accept: 1 to 15 letters, digits,
 * '.', '_' or '-', beginning with a letter or digit.  Linux allows more,
 * but these names reach ip's command line, sysfs paths and nft's grammar,
 * where nothing in this set is special.
 */
static int
bridge_ifname_ok(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > BRIDGE_IFNAME_MAX)
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9'))
			continue;
		if (i == 0 || strchr("._-", s[i]) == NULL)
			return 0;
	}
	return 1;
}

static int
bridge_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Check MAC "xx:xx:xx:xx:xx:xx" (hex, either case) and write it in lower
 * case to OUT (18 bytes).  Returns NULL, or what is wrong with it.
 */
static const char *
bridge_mac(const char *s, char *out)
{
	unsigned char b[6];
	int i, hi, lo;

	if (strlen(s) != 17)
		return "is not six hexadecimal bytes separated by ':'";
	for (i = 0; i < 6; i++) {
		hi = bridge_hex((unsigned char)s[3 * i]);
		lo = bridge_hex((unsigned char)s[3 * i + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return "is not six hexadecimal bytes separated by ':'";
		b[i] = (unsigned char)(hi * 16 + lo);
	}
	if (b[0] & 1)
		return "is a multicast address, not a NIC's";
	if ((b[0] | b[1] | b[2] | b[3] | b[4] | b[5]) == 0)
		return "is all zeros";
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2],
	    b[3], b[4], b[5]);
	return NULL;
}

/*
 * Check IP, an IPv4 address in dotted decimal that a NIC may have, and
 * write it to OUT.  Returns NULL, or what is wrong with it.
 */
static const char *
bridge_ip(const char *s, char *out)
{
	struct in_addr a;
	uint32_t h;

	/* inet_pton takes exactly four decimal parts, no leading zeros. */
	if (inet_pton(AF_INET, s, &a) != 1)
		return "is not an IPv4 address (four numbers 0-255 separated by '.')";
	h = ntohl(a.s_addr);
	if ((h >> 24) == 0)
		return "is in 0.0.0.0/8, which no NIC may have";
	if ((h >> 24) == 127)
		return "is a loopback address";
	if ((h >> 28) >= 14)
		return "is a multicast, reserved or broadcast address";
	inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN);
	return NULL;
}

/* Check VLAN_ID: decimal 1 to 4094, no sign, no leading zero. */
static int
bridge_vlan_ok(const char *s)
{
	unsigned long v = 0;
	const char *p;

	if (s[0] < '1' || s[0] > '9' || strlen(s) > 4)
		return 0;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	return v >= 1 && v <= 4094;
}

/* Non-zero if TARGET is "cld<ID>n<digits>": this VM's own tap names. */
static int
bridge_target_ours(const char *target, int64_t id)
{
	char prefix[32];
	size_t n;
	const char *p;

	n = (size_t)snprintf(prefix, sizeof(prefix), "cld%" PRId64 "n", id);
	if (strncmp(target, prefix, n) != 0 || target[n] == '\0')
		return 0;
	for (p = target + n; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

/* Copy checked S into a field of a struct bridge_nic. */
#define BRIDGE_SET(field, s) snprintf((field), sizeof(field), "%s", (s))

/*
 * Check NIC vector V (the K-th, from 0) of VM into *NIC.  Returns 0, or -1
 * with CLD_EINVAL in op->err naming the NIC, the attribute and the reason.
 */
static int
bridge_nic(struct cld_op *op, const struct cld_vm_desc *vm,
    const struct cld_attr *v, size_t k, struct bridge_nic *nic)
{
	static const char ifname_rule[] =
	    "is not an interface name (1 to 15 letters, digits, '.', '_' or '-', beginning with a letter or digit)";
	const char *bridge = cld_vector_get(v, "BRIDGE");
	const char *target = cld_vector_get(v, "TARGET");
	const char *mac = cld_vector_get(v, "MAC");
	const char *ip = cld_vector_get(v, "IP");
	const char *vlan = cld_vector_get(v, "VLAN_ID");
	const char *phydev = cld_vector_get(v, "PHYDEV");
	const char *attr = NULL, *value = NULL, *why = NULL;
	char shown[80];

	memset(nic, 0, sizeof(*nic));
	if (bridge == NULL) {
		attr = "BRIDGE";
		why = "is missing: the NIC needs the bridge of its network";
	} else if (!bridge_ifname_ok(bridge)) {
		attr = "BRIDGE", value = bridge, why = ifname_rule;
	} else if (target == NULL) {
		attr = "TARGET";
		why = "is missing: the NIC needs the name of its tap on the host";
	} else if (!bridge_ifname_ok(target)) {
		attr = "TARGET", value = target, why = ifname_rule;
	} else if (!bridge_target_ours(target, vm->id)) {
		attr = "TARGET", value = target;
		why = "is not one of this VM's tap names (cld<VM ID>n<NIC index>)";
	} else if (mac != NULL && (why = bridge_mac(mac, nic->mac)) != NULL) {
		attr = "MAC", value = mac;
	} else if (ip != NULL && (why = bridge_ip(ip, nic->ip)) != NULL) {
		attr = "IP", value = ip;
	} else if (vlan != NULL && !bridge_vlan_ok(vlan)) {
		attr = "VLAN_ID", value = vlan;
		why = "is not a VLAN id (a whole number from 1 to 4094)";
	} else if (vlan != NULL && phydev == NULL) {
		attr = "PHYDEV";
		why = "is missing: a NIC with VLAN_ID needs the host interface that carries the VLAN";
	} else if (vlan == NULL && phydev != NULL) {
		attr = "VLAN_ID";
		why = "is missing: net/bridge uses PHYDEV only for VLANs (PHYDEV.VLAN_ID); put an untagged uplink in the bridge on the host yourself";
	} else if (phydev != NULL && !bridge_ifname_ok(phydev)) {
		attr = "PHYDEV", value = phydev, why = ifname_rule;
	} else if (phydev != NULL &&
	    strlen(phydev) + 1 + strlen(vlan) > BRIDGE_IFNAME_MAX) {
		attr = "PHYDEV", value = phydev;
		why = "is too long for its VLAN interface PHYDEV.VLAN_ID (at most 15 characters in all)";
	}
	if (why != NULL) {
		if (value != NULL)
			cld_err_set(op->err, CLD_EINVAL, "NIC %zu: %s '%s' %s", k,
			    attr, bridge_shown(value, shown, sizeof(shown)), why);
		else
			cld_err_set(op->err, CLD_EINVAL, "NIC %zu: %s %s", k, attr,
			    why);
		return -1;
	}
	BRIDGE_SET(nic->bridge, bridge);
	BRIDGE_SET(nic->target, target);
	if (phydev != NULL) {
		BRIDGE_SET(nic->phydev, phydev);
		BRIDGE_SET(nic->vlan, vlan);
	}
	return 0;
}

/*
 * The VM's NICs, each checked, and none sharing a tap or using another's
 * tap as its bridge or uplink.  Returns the count (0: none, *OUT NULL) with
 * a malloc()ed array in *OUT, or -1 with op->err filled.
 *
 * For clean (LENIENT) a NIC that fails the checks is left out with a
 * warning instead: pre refused the same template before it made anything
 * for it, and a VM whose template is bad must still be able to end.
 */
static long
bridge_nics(struct cld_op *op, const struct cld_vm_desc *vm, int lenient,
    struct bridge_nic **out)
{
	const struct cld_attr *v = NULL;
	struct bridge_nic *nics = NULL, *a, *b;
	char vl[2 * (BRIDGE_IFNAME_MAX + 1)];
	size_t n = 0, k = 0, i, j;

	*out = NULL;
	if (vm->tmpl == NULL)
		return 0;
	while ((v = cld_tmpl_next_vector(vm->tmpl, "NIC", v)) != NULL)
		n++;
	if (n == 0)
		return 0;
	if ((nics = calloc(n, sizeof(*nics))) == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		return -1;
	}
	for (i = 0, v = NULL; i < n; i++) {
		v = cld_tmpl_next_vector(vm->tmpl, "NIC", v);
		if (bridge_nic(op, vm, v, i, &nics[k]) == 0) {
			for (j = 0; j < k; j++)
				if (strcmp(nics[j].target, nics[k].target) == 0)
					break;
			if (j == k || !lenient) {
				k++;
				continue;
			}
			cld_err_set(op->err, CLD_EINVAL,
			    "NIC %zu: TARGET '%s' is also another NIC's", i,
			    nics[k].target);
		}
		if (!lenient)
			goto fail;
		op->drv->svc->log(op->drv, CLD_LOG_WARN,
		    "clean '%s' on '%s': left alone: %s",
		    vm->name ? vm->name : "-", vm->host, op->err->msg);
		cld_err_clear(op->err);
	}
	for (i = 0; i < k && !lenient; i++) {
		a = &nics[i];
		snprintf(vl, sizeof(vl), "%s.%s", a->phydev, a->vlan);
		if (strcmp(a->bridge, a->target) == 0 ||
		    strcmp(a->bridge, a->phydev) == 0 ||
		    strcmp(a->target, a->phydev) == 0 ||
		    strcmp(a->bridge, vl) == 0 || strcmp(a->target, vl) == 0) {
			cld_err_set(op->err, CLD_EINVAL,
			    "NIC %zu: BRIDGE, TARGET, PHYDEV and its VLAN interface must be different interfaces",
			    i);
			goto fail;
		}
		for (j = 0; j < k; j++) {
			b = &nics[j];
			if (j != i && (strcmp(a->target, b->target) == 0 ||
			    strcmp(a->target, b->bridge) == 0 ||
			    strcmp(a->target, b->phydev) == 0)) {
				cld_err_set(op->err, CLD_EINVAL,
				    "NIC %zu: TARGET '%s' is also an interface of NIC %zu",
				    i, a->target, j);
				goto fail;
			}
		}
	}
	if (k == 0) {
		free(nics);
		return 0;
	}
	*out = nics;
	return (long)k;
fail:
	free(nics);
	return -1;
}

/* The table, its verdict map, its set and, with BASE, its base chain. */
static void
bridge_rules_head(FILE *f, int base)
{
	fprintf(f,
	    "add table " BRIDGE_TABLE "\n"
	    "add map " BRIDGE_TABLE " ports { type ifname : verdict ; }\n"
	    "add set " BRIDGE_TABLE " members { type ifname . ifname ; }\n");
	if (!base)
		return;
	/* Rewritten whole, in the same transaction: never two copies. */
	fprintf(f,
	    "add chain " BRIDGE_TABLE " prerouting { type filter hook prerouting priority filter ; policy accept ; }\n"
	    "flush chain " BRIDGE_TABLE " prerouting\n"
	    "add rule " BRIDGE_TABLE " prerouting iifname vmap @ports\n");
}

/*
 * NIC's chain, rewritten whole (flushed and filled in the one transaction
 * nft -f makes of its input: the NIC is never unfiltered), its element in
 * ports and its registration in members.  Every drop has a counter and
 * a comment, for whoever reads "nft list table bridge cloudd".
 */
static void
bridge_rules_nic(FILE *f, const struct bridge_nic *nic)
{
	const char *c = nic->target;

	fprintf(f, "add chain " BRIDGE_TABLE " nic-%s\n", c);
	fprintf(f, "flush chain " BRIDGE_TABLE " nic-%s\n", c);
#define R(...) do { fprintf(f, "add rule " BRIDGE_TABLE " nic-%s ", c); \
	fprintf(f, __VA_ARGS__); fputc('\n', f); } while (0)
	if (nic->mac[0] != '\0')
		R("ether saddr != %s counter drop comment \"source MAC not the NIC's\"",
		    nic->mac);
	R("ether type { 8021q, 8021ad } counter drop comment \"VLAN tagged\"");
	R("arp htype != 1 counter drop comment \"ARP not over Ethernet\"");
	R("arp ptype != ip counter drop comment \"ARP not for IPv4\"");
	R("arp hlen != 6 counter drop comment \"ARP with a bad MAC length\"");
	R("arp plen != 4 counter drop comment \"ARP with a bad IP length\"");
	if (nic->mac[0] != '\0')
		R("arp saddr ether != %s counter drop comment \"ARP sender MAC not the NIC's\"",
		    nic->mac);
	if (nic->ip[0] != '\0') {
		R("arp saddr ip != %s counter drop comment \"ARP sender IP not the NIC's\"",
		    nic->ip);
		R("ether type arp accept");
		/* A DHCP client asks from 0.0.0.0 before it has an address. */
		R("ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 counter accept comment \"DHCP request\"");
		R("ip saddr != %s counter drop comment \"source IP not the NIC's\"",
		    nic->ip);
		R("ether type ip accept");
		R("counter drop comment \"neither IPv4 nor ARP\"");
	}
#undef R
	fprintf(f, "add element " BRIDGE_TABLE " ports { \"%s\" : jump nic-%s }\n",
	    c, c);
	fprintf(f, "add element " BRIDGE_TABLE " members { \"%s\" . \"%s\" }\n",
	    nic->bridge, c);
}

/*
 * Remove NIC's element, registration and chain, whether they exist or not:
 * each is added first (adding what exists changes nothing), then deleted,
 * in one transaction.
 */
static void
bridge_rules_nic_clean(FILE *f, const struct bridge_nic *nic)
{
	const char *c = nic->target;

	fprintf(f, "add chain " BRIDGE_TABLE " nic-%s\n", c);
	fprintf(f, "add element " BRIDGE_TABLE " ports { \"%s\" : jump nic-%s }\n",
	    c, c);
	fprintf(f, "add element " BRIDGE_TABLE " members { \"%s\" . \"%s\" }\n",
	    nic->bridge, c);
	fprintf(f, "delete element " BRIDGE_TABLE " ports { \"%s\" }\n", c);
	fprintf(f, "delete element " BRIDGE_TABLE " members { \"%s\" . \"%s\" }\n",
	    nic->bridge, c);
	fprintf(f, "flush chain " BRIDGE_TABLE " nic-%s\n", c);
	fprintf(f, "delete chain " BRIDGE_TABLE " nic-%s\n", c);
}

/* The ruleset of operation OP for NICS, malloc()ed, or NULL. */
static char *
bridge_ruleset(enum bridge_op op, const struct bridge_nic *nics, size_t n,
    size_t *len)
{
	char *text = NULL;
	FILE *f;
	size_t i;

	if ((f = open_memstream(&text, len)) == NULL)
		return NULL;
	bridge_rules_head(f, op != BRIDGE_CLEAN);
	for (i = 0; i < n; i++) {
		if (op == BRIDGE_CLEAN)
			bridge_rules_nic_clean(f, &nics[i]);
		else
			bridge_rules_nic(f, &nics[i]);
	}
	if (ferror(f)) {
		fclose(f);
		free(text);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* The last line of TEXT that starts with PREFIX, or NULL; cut at its end. */
static const char *
bridge_last_line(char *text, const char *prefix)
{
	char *line, *next, *found = NULL;
	size_t n = strlen(prefix);

	for (line = text; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strncmp(line, prefix, n) == 0)
			found = line + n;
	}
	return found;
}

static int
bridge_run(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags, enum bridge_op which)
{
	const struct cld_services *svc = op->drv->svc;
	struct bridge_nic *nics = NULL;
	const char **argv = NULL;
	struct cld_run r;
	const char *msg;
	char *rules = NULL, *line, *next;
	size_t len = 0, i, k = 0;
	long n;
	int rc = -1, status;

	memset(&r, 0, sizeof(r));
	if (flags != 0) {
		cld_err_set(op->err, CLD_EINVAL, "unknown flags 0x%x", flags);
		return -1;
	}
	if ((n = bridge_nics(op, vm, which == BRIDGE_CLEAN, &nics)) <= 0)
		return (int)n; /* no NIC: nothing to do on the host */
	svc->log(op->drv, CLD_LOG_DEBUG, "%s '%s' on '%s': %ld NIC(s)",
	    bridge_op_names[which], vm->name ? vm->name : "-", vm->host, n);
	if ((rules = bridge_ruleset(which, nics, (size_t)n, &len)) == NULL ||
	    (argv = calloc(6 + 4 * (size_t)n + 1, sizeof(*argv))) == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	argv[k++] = "sh";
	argv[k++] = "-c";
	argv[k++] = bridge_script;
	argv[k++] = "sh";
	argv[k++] = bridge_op_names[which];
	argv[k++] = BRIDGE_LOCK;
	for (i = 0; i < (size_t)n; i++) {
		argv[k++] = nics[i].bridge;
		argv[k++] = nics[i].phydev;
		argv[k++] = nics[i].vlan;
		argv[k++] = nics[i].target;
	}
	argv[k] = NULL;
	r.argv = argv;
	r.input = rules;
	r.input_len = len;
	rc = svc->ssh(op, vm->host, &r);
	status = r.status;
	if (rc < 0 && status == BRIDGE_REFUSED && r.errout != NULL &&
	    (msg = bridge_last_line(r.errout, "net/bridge: ")) != NULL)
		cld_err_set(op->err, CLD_EDRIVER, "on '%s': %s", vm->host, msg);
	if (rc == 0 && r.out != NULL)
		for (line = r.out; *line != '\0'; line = next) {
			if ((next = strchr(line, '\n')) != NULL)
				*next++ = '\0';
			else
				next = line + strlen(line);
			if (strncmp(line, "kept ", 5) == 0)
				svc->log(op->drv, CLD_LOG_INFO, "%s '%s' on '%s': %s",
				    bridge_op_names[which], vm->name ? vm->name : "-",
				    vm->host, line);
		}
cleanup:
	free(r.out);
	free(r.errout);
	free(argv);
	free(rules);
	free(nics);
	return rc;
}

static int
bridge_pre(struct cld_op *op, const struct cld_vm_desc *vm, unsigned int flags)
{
	return bridge_run(op, vm, flags, BRIDGE_PRE);
}

static int
bridge_post(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	return bridge_run(op, vm, flags, BRIDGE_POST);
}

static int
bridge_clean(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	return bridge_run(op, vm, flags, BRIDGE_CLEAN);
}

extern const struct cld_net_driver CLD_DRIVER_ENTRY(net_bridge);

const struct cld_net_driver CLD_DRIVER_ENTRY(net_bridge) = {
	.hdr = CLD_DRIVER_HEADER(CLD_CLASS_NET, struct cld_net_driver, "bridge",
	    PACKAGE_VERSION, NULL, NULL),
	.pre = bridge_pre,
	.post = bridge_post,
	.clean = bridge_clean,
};
