#!/bin/sh
# net/bridge and 802.1Q VLANs on fake hosts, driven by cloudd with the
# dummy vmm, on VLAN networks made with "cloudctl vnet create" (VLAN_ID and
# PHYDEV in the network, NIC = [ NETWORK = "v10" ] in the VMs): pre makes
# PHYDEV.VLAN_ID with the right id and puts it in the network's own
# bridge; guests on one VLAN reach each other across hosts,
# a guest on another VLAN reaches neither, though in the same subnet; a
# bridge carries one VLAN; clean removes the VLAN interface and the bridge
# with their last VM.  The guests are veth STAND-INS for the VMs' taps
# (t/lib/net-bridge.sh); the same checks with real VMs come with the
# real-VM testbed.
#
# A kernel without 802.1Q support (CONFIG_VLAN_8021Q) cannot make VLAN
# interfaces: there the test checks that a VLAN NIC fails with a reason
# that says so, and reports every VLAN traffic check as skipped, naming
# the reason.
. "$top_srcdir/t/lib/test-lib.sh"
. "$top_srcdir/t/lib/testbed.sh"
. "$top_srcdir/t/lib/net-bridge.sh"

nb_up 2

probe="$TB_BRIDGE-probe"
ip netns add "$probe" &&
ip -n "$probe" link add pa type veth peer name pb || exit 1
if ip -n "$probe" link add link pa name pa.5 type vlan id 5 2>/dev/null; then
	vlan_why=""
else
	vlan_why="this kernel has no 802.1Q support (CONFIG_VLAN_8021Q): it cannot make VLAN interfaces"
fi
ip netns del "$probe"

# A check that needs 802.1Q: run it, or report it skipped with the reason.
test_vlan() {
	if [ -n "$vlan_why" ]; then
		test_count=$((test_count + 1))
		echo "ok $test_count - $1 # SKIP $vlan_why"
	else
		test_expect "$@"
	fi
}

test_expect 'two fake hosts, the cluster'"'"'s network driver net/bridge' '
	ctl host create node1 --im dummy --vmm dummy >/dev/null &&
	ctl host create node2 --im dummy --vmm dummy >/dev/null &&
	wait_host node1 MONITORED $NB_WAIT && wait_host node2 MONITORED $NB_WAIT
'

# One subnet, three VLANs, each network its own bridge.
test_expect 'VLAN networks v10, v20 and v30 on eth0, one subnet, each its own bridge' '
	vnet v10 cldv10 $TB_NET.100 $TB_NET.109 "PHYDEV = \"eth0\"" "VLAN_ID = 10" &&
	vnet v20 cldv20 $TB_NET.100 $TB_NET.109 "PHYDEV = \"eth0\"" "VLAN_ID = 20" &&
	vnet v30 cldv30 $TB_NET.100 $TB_NET.109 "PHYDEV = \"eth0\"" "VLAN_ID = 30" &&
	test "$(ctl_json .total vnet list)" = 3 &&
	ctl_json .template vnet show v10 >tmpl && test_grep tmpl "VLAN_ID = \"10\"" &&
	test_grep tmpl "PHYDEV = \"eth0\""
'

if [ -n "$vlan_why" ]; then
	test_expect 'without 802.1Q support a VLAN NIC fails, saying so, and leaves nothing' '
		mkvm x node1 "NETWORK = \"v10\"" &&
		x=$(cat x) && wait_vm $x FAILED $NB_WAIT &&
		ctl_json .template vm show $x >tmpl &&
		test_grep tmpl "VLAN_ID = \"10\"" && test_grep tmpl "PHYDEV = \"eth0\"" &&
		test_grep tmpl "TARGET = \"cld${x}n0\"" &&
		ctl_json .reason vm show $x >reason &&
		test_grep reason "net pre on '"'"'node1'"'"' failed: on '"'"'node1'"'"': cannot create VLAN interface '"'"'eth0.10'"'"': this host'"'"'s kernel has no 802.1Q support" &&
		links node1 >l && ! grep -e ": cldv10:" -e ": eth0.10" l &&
		ctl vm recover --delete $x && wait_vm $x DONE $NB_WAIT &&
		tb_ssh node1 nft list tables >tables && ! grep cloudd tables
	'
else
	test_count=$((test_count + 1))
	echo "ok $test_count - without 802.1Q support a VLAN NIC fails, saying so # SKIP this kernel has 802.1Q support"
fi

# Three guests in one subnet: b (node1) and c (node2) on VLAN 10, d
# (node2) on VLAN 20.
IP_B=$TB_NET.101 IP_C=$TB_NET.102 IP_D=$TB_NET.103
MAC_B=$(mac_of $IP_B)

test_vlan 'pre makes eth0.10, 802.1Q id 10, up, a port of the network'"'"'s bridge' '
	mkvm b node1 "NETWORK = \"v10\", IP = \"$IP_B\"" && b=$(cat b) &&
	wait_vm $b RUNNING $NB_WAIT && test "$(nicof $b bridge)" = cldv10 &&
	ctl_json .template vm show $b >tmpl && test_grep tmpl "VLAN_ID = \"10\"" &&
	tb_ssh node1 ip -d link show eth0.10 >vl &&
	test_grep vl "eth0.10@eth0:" && test_grep vl "vlan protocol 802.1Q id 10 " &&
	test_grep vl "master cldv10" && test_grep vl ",UP" &&
	test_grep vl "alias cloudd net/bridge" &&
	tb_ssh node1 ip -d link show cldv10 >br &&
	test_grep br ",UP" && test_grep br " bridge " &&
	test_grep br "alias cloudd net/bridge"
'
b=$(cat b 2>/dev/null)

test_vlan 'on node2: VLAN 10 and VLAN 20, each its own interface and bridge' '
	mkvm c node2 "NETWORK = \"v10\", IP = \"$IP_C\"" && c=$(cat c) &&
	mkvm d node2 "NETWORK = \"v20\", IP = \"$IP_D\"" && d=$(cat d) &&
	wait_vm $c RUNNING $NB_WAIT && wait_vm $d RUNNING $NB_WAIT &&
	tb_ssh node2 ip -d link show eth0.10 >vl10 &&
	test_grep vl10 "vlan protocol 802.1Q id 10 " && test_grep vl10 "master cldv10" &&
	tb_ssh node2 ip -d link show eth0.20 >vl20 &&
	test_grep vl20 "vlan protocol 802.1Q id 20 " && test_grep vl20 "master cldv20" &&
	rules node2 $d >chain && test_grep chain "ip saddr != $IP_D"
'
c=$(cat c 2>/dev/null) d=$(cat d 2>/dev/null)

test_vlan 'guests on VLAN 10 reach each other across the two hosts' '
	guest b node1 $b && guest c node2 $c && guest d node2 $d &&
	pings b $IP_C && pings c $IP_B
'

test_vlan 'a guest on VLAN 20 reaches neither, though in the same subnet' '
	no_ping d $IP_B && no_ping d $IP_C && no_ping b $IP_D &&
	pings b $IP_C
'

test_vlan 'a VLAN guest is held to its MAC too' '
	gx b ip link set eth0 address 02:00:0a:63:00:99 && no_ping b $IP_C &&
	test "$(count node1 $b "source MAC")" -gt 0 &&
	gx b ip link set eth0 address $MAC_B && pings b $IP_C
'

test_vlan 'a bridge carries one VLAN: another VLAN, or a NIC without one, is refused' '
	vnet v20on10 cldv10 $TB_NET.120 $TB_NET.129 "PHYDEV = \"eth0\"" "VLAN_ID = 20" &&
	mkvm e node1 "NETWORK = \"v20on10\"" && e=$(cat e) &&
	wait_vm $e FAILED $NB_WAIT && ctl_json .reason vm show $e >reason &&
	test_grep reason "bridge '"'"'cldv10'"'"' has a port '"'"'eth0.10'"'"' that is neither '"'"'eth0.20'"'"' nor a VM" &&
	links node1 >l && ! grep ": eth0.20" l &&
	ctl vm recover --delete $e && wait_vm $e DONE $NB_WAIT &&
	mkvm f node1 "BRIDGE = \"cldv10\", IP = \"$TB_NET.130\"" && f=$(cat f) &&
	wait_vm $f FAILED $NB_WAIT && ctl_json .reason vm show $f >reason &&
	test_grep reason "bridge '"'"'cldv10'"'"' carries VLAN interface '"'"'eth0.10'"'"'" &&
	ctl vm recover --delete $f && wait_vm $f DONE $NB_WAIT &&
	pings b $IP_C
'

test_vlan 'an interface named like the VLAN interface but not that VLAN is refused' '
	tb_ssh node1 "ip link add eth0.30 type veth peer name cldz" &&
	mkvm g node1 "NETWORK = \"v30\"" &&
	g=$(cat g) && wait_vm $g FAILED $NB_WAIT && ctl_json .reason vm show $g >reason &&
	test_grep reason "'"'"'eth0.30'"'"' exists and is not VLAN 30 of '"'"'eth0'"'"'" &&
	tb_ssh node1 ip link del eth0.30 &&
	ctl vm recover --delete $g && wait_vm $g DONE $NB_WAIT
'

test_vlan 'clean removes a VLAN interface and its bridge with their last VM, and no other' '
	guest_down c && ctl vm shutdown $c && wait_vm $c DONE $NB_WAIT &&
	links node2 >l && ! grep -e ": cldv10:" -e ": eth0.10@" l &&
	grep ": cldv20:" l && grep ": eth0.20@" l &&
	guest_down d && guest_down b && ctl vm shutdown $d $b &&
	wait_vm $d DONE $NB_WAIT && wait_vm $b DONE $NB_WAIT &&
	links node2 >l && ! grep -e ": cldv20:" -e ": eth0.20@" l &&
	links node1 >l && ! grep -e ": cldv10:" -e ": eth0.10@" l &&
	grep ": eth0@" l
'

test_done
