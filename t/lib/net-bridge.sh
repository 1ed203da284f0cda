# net-bridge.sh: what the net/bridge tests share.  Source it after
# test-lib.sh and testbed.sh; then
#
#   NB_WAIT, NB_CONNECT_TIMEOUT  seconds (see below): raise them on a slow
#                       machine
#   nb_up N             N fake hosts (skips what the machine cannot do, saying
#                       why) and cloudd on them with the dummy vmm, im and tm
#                       and net/bridge as the default cluster's network
#   netrun OP HOST TMPL one net/bridge operation, without cloudd, on a
#                       template written as the core resolves it
#   nic MAC IP BRIDGE   such a resolved NIC vector, for netrun: TARGET cld1n0
#   vnet NAME BRIDGE FIRST LAST [LINE...]   "cloudctl vnet create" of network
#                       NAME on BRIDGE, addresses FIRST to LAST of a /24 (or
#                       with LAST "-", LEASES of FIRST only), each LINE added
#   mkvm NAME HOST NIC  a VM on HOST with NIC = [ NIC ], as a user writes it
#                       (NETWORK = "pub", or a plain BRIDGE = "br0"); its id in
#                       file NAME
#   nicof ID FIELD      FIELD (ip, mac, bridge, target) of VM ID's first NIC,
#                       as the core resolved it (vm show's "nics")
#   mac_of IP           the MAC the core gives IP (MAC_PREFIX 02:00)
#   rules HOST ID       VM ID's filter chain on HOST; table HOST: the table;
#   links HOST          HOST's interfaces; count HOST ID WHAT: packets counted
#                       by the rule of VM ID whose comment begins with WHAT
#   guest NAME HOST ID  the veth stand-in for VM ID's tap, named, bridged
#                       and addressed from its lease (nicof);
#   guest_down NAME; gx NAME CMD...; pings NAME ADDR; no_ping NAME ADDR
#   arp SRC SHA SPA TPA  the hex of an ARP request, for send-frame ($SEND)
#
# The guests are STAND-INS for VMs' taps: the dummy vmm starts no guest, so
# a veth pair's host end is named the NIC's TARGET and made a port of its
# BRIDGE, its other end, with the lease's MAC and IP, in a network namespace
# of its own: all four read from "cloudctl vm show", as the core gave them to
# the drivers.
# The filters see its frames as they would a tap's: both are bridge ports
# and the rules match the port's name.  The same checks with real VMs come
# with the real-VM testbed.

SEND="$top_builddir/t/helpers/send-frame"
# How long to wait for a VM's state, and the daemon's ssh connect timeout,
# in seconds; raise both on a slow machine (under emulation, for one).
: "${NB_WAIT:=30}" "${NB_CONNECT_TIMEOUT:=5}"

nb_up() {
	command -v jq >/dev/null || skip_all "jq is not installed (tools/install-deps installs it)"
	command -v nft >/dev/null || skip_all "nft is not installed (tools/install-deps installs nftables)"
	command -v ping >/dev/null || skip_all "ping is not installed (tools/install-deps installs iputils-ping)"
	testbed_up "$1" || exit 1
	probe="$TB_BRIDGE-probe"
	ip netns add "$probe" || exit 1
	if ! ip netns exec "$probe" nft add table bridge probe 2>/dev/null; then
		ip netns del "$probe"
		skip_all "the kernel cannot make nftables bridge-family tables (CONFIG_NF_TABLES_BRIDGE)"
	fi
	ip netns del "$probe"
	FRONT_MAC=$(cat "/sys/class/net/$TB_BRIDGE/address")
	# The guests' namespaces go before the hosts'.
	test_cleanup 'for g in $(ip netns list | cut -d" " -f1 | grep "^$TB_BRIDGE-g"); do ip netns del $g; done'
	write_conf <<CONF
MONITOR_INTERVAL = 1
SCHED = [ INTERVAL = 0.2 ]
SSH = [ CONFIG = "$TB_SSH_CONFIG", CONNECT_TIMEOUT = $NB_CONNECT_TIMEOUT ]
VMM_DRIVER = [ NAME = "dummy" ]
IM_DRIVER = [ NAME = "dummy" ]
TM_DRIVER = [ NAME = "dummy" ]
NET_DRIVER = [ NAME = "bridge" ]
DEFAULT_NET = "bridge"
CONF
	test_cleanup 'for s in "$TEST_DIR"/cloudd-ssh/*; do [ -S "$s" ] && ssh -F /dev/null -o ControlPath="$s" -O exit x; done'
	cloudd_start || exit 1
}

# netrun [-i ID] OP HOST TEMPLATE: one net/bridge operation (t/helpers/net-run).
netrun() { run "$top_builddir/t/helpers/net-run" -F "$TB_SSH_CONFIG" "$@"; }

vnet() {
	n=$1 br=$2 first=$3 last=$4
	shift 4
	{
		printf 'NAME = "%s"\nBRIDGE = "%s"\n' "$n" "$br"
		if [ "$last" = - ]; then
			printf 'LEASES = [ IP = "%s" ]\n' "$first"
		else
			printf 'IP_START = "%s"\nIP_END = "%s"\nNETWORK_MASK = "255.255.255.0"\n' \
			    "$first" "$last"
		fi
		for l in "$@"; do
			printf '%s\n' "$l"
		done
	} >"$n.net" &&
	ctl vnet create "$n.net" >/dev/null
}

mkvm() {
	printf 'CPU = 0.1\nMEMORY = 32\nREQUIREMENTS = "NAME = \\"%s\\""\nNIC = [ %s ]\n' \
	    "$2" "$3" >"$1.tmpl" &&
	ctl vm create "$1.tmpl" >"$1"
}

nicof() { ctl_json ".nics[0].$2" vm show "$1"; }
mac_of() { printf '02:00:%02x:%02x:%02x:%02x\n' $(echo "$1" | tr . ' '); }

nic() {
	echo "BRIDGE = \"$3\", MAC = \"$1\", IP = \"$2\", TARGET = \"cld1n0\""
}

rules() { tb_ssh "$1" nft list chain bridge cloudd "nic-cld${2}n0"; }
table() { tb_ssh "$1" nft list table bridge cloudd; }
links() { tb_ssh "$1" ip -o link show; }
count() {
	rules "$1" "$2" | sed -n "s/.*counter packets \([0-9]*\) .*comment \"$3.*/\1/p"
}

# IPv6 is off in a guest so that only what a test sends is counted; the
# host end's MAC is the guest's with fe for its first byte, as libvirt
# gives a tap (a bridge takes the lowest MAC of its ports unless set).
guest() {
	g=$TB_BRIDGE-g$1 ns=$(tb_netns $2)
	set -- "$1" "$2" "$(nicof $3 target)" "$(nicof $3 bridge)" \
	    "$(nicof $3 mac)" "$(nicof $3 ip)"
	case "$3 $4 $5 $6" in *null*|"   ") echo "VM's NIC not resolved: $*" >&2; return 1 ;; esac
	ip netns add $g &&
	ip netns exec $g sysctl -qw net.ipv6.conf.all.disable_ipv6=1 &&
	ip netns exec $g sysctl -qw net.ipv6.conf.default.disable_ipv6=1 &&
	ip -n $ns link add $3 type veth peer name eth0 netns $g &&
	ip -n $ns link set $3 address fe${5#??} &&
	ip -n $ns link set $3 master $4 up &&
	ip -n $g link set eth0 address $5 &&
	ip -n $g addr add $6/24 dev eth0 &&
	ip -n $g link set eth0 up && ip -n $g link set lo up
}
# The VM is gone: so is its tap.
guest_down() { ip netns del $TB_BRIDGE-g$1; }
gx() {
	g=$TB_BRIDGE-g$1
	shift
	ip netns exec $g "$@"
}
pings() { gx "$1" ping -q -c 1 -W 2 "$2" >/dev/null; }
no_ping() { ! gx "$1" ping -q -c 2 -W 1 "$2" >/dev/null; }
hex_ip() { printf '%02x%02x%02x%02x' $(echo "$1" | tr . ' '); }
hex_mac() { echo "$1" | tr -d :; }
arp() {
	echo "ffffffffffff $(hex_mac $1) 0806 0001 0800 06 04 0001 $(hex_mac $2) $(hex_ip $3) 000000000000 $(hex_ip $4)"
}
