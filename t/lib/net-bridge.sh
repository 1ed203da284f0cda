# net-bridge.sh: what the net/bridge tests share.  Source it after
# test-lib.sh and testbed.sh; then
#
#   NB_WAIT, NB_CONNECT_TIMEOUT  seconds (see below): raise them on a slow
#                       machine
#   nb_up N             N fake hosts (skips what the machine cannot do, saying
#                       why) and cloudd on them with the dummy vmm, im and tm
#                       and net/bridge as the default cluster's network
#   netrun OP HOST TMPL one net/bridge operation, without cloudd
#   mkvm NAME HOST NIC  a VM on HOST with the NIC vector NIC ("@ID@" in it is
#                       the VM's id); its id in file NAME
#   nic MAC IP BRIDGE [MORE]   a NIC vector on BRIDGE, TARGET cld<ID>n0
#   rules HOST ID       VM ID's filter chain on HOST; table HOST: the table;
#   links HOST          HOST's interfaces; count HOST ID WHAT: packets counted
#                       by the rule of VM ID whose comment begins with WHAT
#   guest NAME HOST ID BRIDGE MAC IP   the veth stand-in for VM ID's tap;
#   guest_down NAME; gx NAME CMD...; pings NAME ADDR; no_ping NAME ADDR
#   arp SRC SHA SPA TPA  the hex of an ARP request, for send-frame ($SEND)
#
# The guests are STAND-INS for VMs' taps: the dummy vmm starts no guest, so
# a veth pair's host end is named TARGET and made a port of the bridge, its
# other end, with the lease's MAC and IP, in a network namespace of its own.
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
	# IDs are handed out in order from 0, and TARGET names the VM's id:
	# the next one is kept in a file (test bodies run in subshells).
	echo 0 >"$TEST_DIR/next_id"
}

# netrun [-i ID] OP HOST TEMPLATE: one net/bridge operation (t/helpers/net-run).
netrun() { run "$top_builddir/t/helpers/net-run" -F "$TB_SSH_CONFIG" "$@"; }

mkvm() {
	id=$(cat "$TEST_DIR/next_id")
	printf 'CPU = 0.1\nMEMORY = 32\nREQUIREMENTS = "NAME = \\"%s\\""\nNIC = [ %s ]\n' \
	    "$2" "$(echo "$3" | sed "s/@ID@/$id/g")" >"$1.tmpl" &&
	got=$(ctl vm create "$1.tmpl") || return 1
	echo $((id + 1)) >"$TEST_DIR/next_id"
	[ "$got" = "$id" ] || { echo "VM id $got, expected $id" >&2; return 1; }
	echo "$id" >"$1"
}

nic() {
	echo "BRIDGE = \"$3\", MAC = \"$1\", IP = \"$2\", TARGET = \"cld@ID@n0\"${4:+, $4}"
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
	ip netns add $g &&
	ip netns exec $g sysctl -qw net.ipv6.conf.all.disable_ipv6=1 &&
	ip netns exec $g sysctl -qw net.ipv6.conf.default.disable_ipv6=1 &&
	ip -n $ns link add cld${3}n0 type veth peer name eth0 netns $g &&
	ip -n $ns link set cld${3}n0 address fe${5#??} &&
	ip -n $ns link set cld${3}n0 master $4 up &&
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
