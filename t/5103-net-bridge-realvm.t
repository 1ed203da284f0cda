#!/bin/sh
# Virtual networks with real VMs: two real guests (t/lib/guest.sh), one on
# each of two fake hosts running a libvirtd (t/lib/testbed.sh, TB_LIBVIRT),
# leased through cloudd with vmm/libvirt and net/bridge on one virtual
# network on the hosts' br0.  They reach each other across the hosts and
# the front-end; a guest that takes another address, or another MAC, can
# no longer send (net/bridge's nftables filter drops it, its counter says
# so); at the end the filters are gone from the hosts.  (VLANs: this
# machine's kernel has no 802.1Q; t/5102 covers what runs without it.)
. "$top_srcdir/t/lib/test-lib.sh"
. "$top_srcdir/t/lib/testbed.sh"
. "$top_srcdir/t/lib/guest.sh"

BOOT_SECS=240

[ -f "$top_builddir/drivers/vmm/vmm_libvirt.la" ] ||
	skip_all "cloudd was built without libvirt (configure found no libvirt or libxml2)"
command -v jq >/dev/null || skip_all "jq is not installed (tools/install-deps installs it)"
command -v nft >/dev/null || skip_all "nft is not installed (tools/install-deps installs nftables)"
why=$(guest_lacks)
[ -z "$why" ] || skip_all "$why"
guest_build || { echo "Bail out! cannot build the tiny guest"; exit 1; }
TB_LIBVIRT=1 testbed_up 2 || { echo "Bail out! testbed_up failed"; exit 1; }

URI="qemu+ssh://HOST/system?command=$TB_LIBVIRT_SSH"
write_conf <<CONF
MONITOR_INTERVAL = 2
SCHED = [ INTERVAL = 0.5 ]
TIMEOUT = [ BOOT = 120, SHUTDOWN = 60, MONITOR = 60 ]
SSH = [ CONFIG = "$TB_SSH_CONFIG", CONNECT_TIMEOUT = 5 ]
VMM_DRIVER = [ NAME = "libvirt", URI = "$URI", TYPE = "qemu" ]
IM_DRIVER = [ NAME = "libvirt", URI = "$URI" ]
TM_DRIVER = [ NAME = "dummy" ]
NET_DRIVER = [ NAME = "bridge" ]
CONF
cloudd_start || exit 1

A1=$(guest_addr 1)
A2=$(guest_addr 2)
GW=$TB_NET.1

# vm N HOST: guest N on HOST, its NIC on network "pub" at guest_addr N.
vm() {
	a=$(guest_addr $1)
	cat >g$1.tmpl <<EOF
NAME = "g$1"
CPU = 0.5
MEMORY = $GUEST_MIB
OS = [ KERNEL = "$GUEST_KERNEL", INITRD = "$GUEST_INITRD",
  KERNEL_CMD = "$(guest_cmdline g$1 "$a/24" "$GW")" ]
NIC = [ NETWORK = "pub", IP = "$a" ]
FEATURES = [ ACPI = "yes" ]
REQUIREMENTS = "NAME = \"$2\""
EOF
	ctl vm create g$1.tmpl
}
# drops HOST ID WHAT: the packets the rules of VM ID's NIC filter whose
# comment has WHAT ("sender IP not" and "source IP not": "IP not") dropped.
drops() {
	tb_ssh "$1" nft list chain bridge cloudd "nic-cld${2}n0" >chain.$2 &&
	sed -n "s/.*counter packets \([0-9]*\) .* drop comment \".*$3.*/\1/p" chain.$2 |
	    awk "{ n += \$1 } END { print n + 0 }"
}

test_expect 'a network on the hosts'"'"' br0 and two hosts, each with its libvirtd' '
	printf "NAME = pub\nBRIDGE = br0\nIP_START = %s\nIP_END = %s\nNETWORK_MASK = 255.255.255.0\nGATEWAY = %s\n" \
	    "$(guest_addr 1)" "$(guest_addr 9)" "$GW" >pub.net &&
	ctl vnet create pub.net >/dev/null &&
	for h in node1 node2; do
		ctl host create $h --im libvirt --vmm libvirt >/dev/null &&
		wait_host $h MONITORED 120 || exit 1
	done
'

test_expect 'a real VM on each host, on the network: both boot with their leases' '
	v1=$(vm 1 node1) && v2=$(vm 2 node2) && echo "$v1 $v2" >ids &&
	wait_vm $v1 RUNNING $BOOT_SECS && wait_vm $v2 RUNNING $BOOT_SECS &&
	test "$(ctl_json ".nics[0].ip" vm show $v1)" = $A1 &&
	test "$(ctl_json ".nics[0].mac" vm show $v2)" = "$(printf "02:00:%02x:%02x:%02x:%02x" $(echo $A2 | tr . " "))" &&
	ctl vnet show pub >show && cat show &&
	grep -E "$A1 .* $v1 " show && grep -E "$A2 .* $v2 " show
'
read v1 v2 <ids 2>/dev/null || { v1=0 v2=1; }

test_expect 'they answer the front-end and reach each other across the hosts' '
	guest_wait_ready $A1 $BOOT_SECS && guest_wait_ready $A2 $BOOT_SECS &&
	guest_ping $A1 $A2 && guest_ping $A2 $A1 &&
	guest_ping $A1 $GW && guest_ping $A2 $GW
'

test_expect 'a VM that takes another address cannot send: the filter drops it' '
	before=$(drops node2 $v2 "IP not") &&
	guest_change $A2 ip=$(guest_addr 8)/24 &&
	sleep 4 &&
	! ping -c 3 -W 1 $(guest_addr 8) >/dev/null &&
	! ping -c 2 -W 1 $A2 >/dev/null &&
	after=$(drops node2 $v2 "IP not") && echo "$before -> $after" && cat chain.$v2 &&
	test "$after" -gt "$before" &&
	guest_ping $A1 $GW
'

test_expect 'a VM that takes another MAC cannot send: the filter drops it' '
	before=$(drops node1 $v1 "MAC not") &&
	guest_change $A1 mac=02:00:de:ad:be:ef &&
	sleep 4 &&
	! ping -c 3 -W 1 $A1 >/dev/null &&
	after=$(drops node1 $v1 "MAC not") && echo "$before -> $after" && cat chain.$v1 &&
	test "$after" -gt "$before"
'

test_expect 'the leases end: the filters and the taps leave the hosts, the addresses are free' '
	ctl vm delete $v1 && ctl vm delete $v2 &&
	wait_vm $v1 DONE 90 && wait_vm $v2 DONE 90 &&
	! tb_ssh node1 nft list chain bridge cloudd nic-cld${v1}n0 2>/dev/null &&
	! tb_ssh node2 nft list chain bridge cloudd nic-cld${v2}n0 2>/dev/null &&
	! tb_ssh node1 ip link show cld${v1}n0 2>/dev/null &&
	! tb_ssh node2 ip link show cld${v2}n0 2>/dev/null &&
	ctl vnet show pub >show && cat show &&
	grep -E "^LEASES +0 used" show
'

test_done
