#!/bin/sh
# net/bridge on fake hosts (t/lib/testbed.sh), driven by cloudd with the
# dummy vmm, on virtual networks made with "cloudctl vnet create" and VMs
# whose NICs name them (NIC = [ NETWORK = "pub" ]): the core leases each
# NIC its IP and MAC and names its tap (TARGET), and the driver filters on
# what the core resolved.  pre makes a missing bridge and leaves the host's own bridge as
# it was, post installs the NIC's nftables chain, clean removes it and the
# bridge it made once nothing uses it; a plain NIC (BRIDGE only, no MAC)
# works, filtered for what is known of it; hostile bridge names, VLAN ids,
# MACs and addresses are refused by "vnet create", naming the attribute,
# and what the core lets through but the host cannot take fails the VM with
# the reason in "vm show", both before anything changes on the host; pre
# and clean are idempotent; live migration moves the filter with the VM.
#
# The traffic part uses a STAND-IN for the VM's tap: the dummy vmm starts
# no guest, so the test makes a veth pair whose host end is named TARGET
# and is a port of the bridge, its other end in a network namespace of its
# own with the lease's MAC and IP: the "guest" (t/lib/net-bridge.sh).  What
# the filters do to its frames is what they do to a tap's (both are bridge
# ports; the rules match the port's name).  The guest's TARGET, MAC and IP
# are read from "cloudctl vm show", as the core gave them to the drivers.  The same checks with real VMs
# come with the real-VM testbed.  VLANs are in t/5102-net-bridge-vlan.t.
. "$top_srcdir/t/lib/test-lib.sh"
. "$top_srcdir/t/lib/testbed.sh"
. "$top_srcdir/t/lib/net-bridge.sh"

nb_up 2

# As a host's admin would: its uplink eth0 in a bridge br0 that carries the
# host's address, so that guests on br0 are on the front-end's network.
# br0 keeps eth0's MAC whatever ports come and go (else it takes the lowest
# of its ports' and the front-end's ARP entry for the host goes stale).
for h in $TB_HOSTS; do
	ns=$(tb_netns $h) && a=$(tb_addr $h) &&
	ip -n $ns link add name br0 type bridge &&
	ip -n $ns addr del $a/24 dev eth0 &&
	ip -n $ns link set eth0 master br0 &&
	ip -n $ns link set br0 address $(ip -n $ns -o link show eth0 | sed "s/.*link.ether \([^ ]*\).*/\1/") &&
	ip -n $ns addr add $a/24 dev br0 &&
	ip -n $ns link set br0 up || exit 1
done

# For the runs without cloudd (netrun) only: a NIC as the core resolves it.
MAC_A=$(mac_of $TB_NET.100) IP_A=$TB_NET.100
IP_C=$TB_NET.102

test_expect 'two fake hosts, the cluster'"'"'s network driver net/bridge' '
	ctl host create node1 --im dummy --vmm dummy >/dev/null &&
	ctl host create node2 --im dummy --vmm dummy >/dev/null &&
	wait_host node1 MONITORED $NB_WAIT && wait_host node2 MONITORED $NB_WAIT &&
	test "$(ctl_json ".clusters[0].net" cluster list)" = bridge
'

test_expect 'pre, post and clean on a host where nothing was made: clean makes nothing' '
	printf "NIC = [ %s ]\n" "$(nic $MAC_A $IP_A br0)" >solo.tmpl &&
	netrun clean node2 solo.tmpl &&
	tb_ssh node2 nft list tables >tables && ! grep cloudd tables
'

test_expect 'pre twice, post twice: one bridge, one chain, the same rules' '
	printf "NIC = [ %s ]\n" "$(nic $MAC_A $IP_A cldsolo)" >solo.tmpl &&
	netrun pre node2 solo.tmpl && netrun post node2 solo.tmpl &&
	rules node2 1 >one &&
	netrun pre node2 solo.tmpl && netrun post node2 solo.tmpl &&
	rules node2 1 >two && test_cmp one two &&
	test "$(tb_ssh node2 ip -o link show type bridge | grep -c ": cldsolo:")" = 1 &&
	tb_ssh node2 nft list map bridge cloudd ports >map &&
	test "$(grep -o "\"cld1n0\" : jump nic-cld1n0" map | wc -l)" = 1 &&
	test "$(tb_ssh node2 nft list chain bridge cloudd prerouting | grep -c vmap)" = 1
'

test_expect 'clean twice: the chain, its element and the bridge pre made are gone' '
	netrun clean node2 solo.tmpl && netrun clean node2 solo.tmpl &&
	table node2 >t && ! grep cld1n0 t &&
	links node2 >l && ! grep ": cldsolo:" l
'

test_expect 'two networks: pub on the host'"'"'s bridge br0, net1 on a bridge cloudd will make' '
	vnet pub br0 $TB_NET.100 $TB_NET.109 "GATEWAY = \"$TB_NET.1\"" &&
	vnet net1 cldnet1 $TB_NET.110 $TB_NET.119 &&
	ctl vnet list >list && test_grep list pub && test_grep list net1 &&
	tb_ssh node1 nft list tables >tables && ! grep cloudd tables
'

test_expect 'a VM with NIC = [ NETWORK = "pub", IP = ... ]: the core resolves it, the driver gets it' '
	mkvm a node1 "NETWORK = \"pub\", IP = \"$IP_A\"" && a=$(cat a) &&
	wait_vm $a RUNNING $NB_WAIT &&
	test "$(nicof $a target)" = "cld${a}n0" && test "$(nicof $a mac)" = "$MAC_A" &&
	test "$(nicof $a ip)" = "$IP_A" && test "$(nicof $a bridge)" = br0 &&
	ctl_json .template vm show $a >tmpl &&
	test_grep tmpl "TARGET = \"cld${a}n0\"" && test_grep tmpl "MAC = \"$MAC_A\"" &&
	test_grep tmpl "GATEWAY = \"$TB_NET.1\"" && test_grep tmpl "PREFIX = \"24\""
'
a=$(cat a 2>/dev/null)

test_expect 'post installed the NIC'"'"'s chain: its MAC and IP, and nothing else, may send' '
	rules node1 $a >chain &&
	test_grep chain "ether saddr != $MAC_A" && test_grep chain "arp saddr ether != $MAC_A" &&
	test_grep chain "arp saddr ip != $IP_A" && test_grep chain "ip saddr != $IP_A" &&
	test_grep chain "ether type { 8021q, 8021ad }" &&
	tb_ssh node1 nft list map bridge cloudd ports >map &&
	test_grep map "\"cld${a}n0\" : jump nic-cld${a}n0" &&
	tb_ssh node1 nft list chain bridge cloudd prerouting >base &&
	test_grep base "hook prerouting" && test_grep base "iifname vmap @ports"
'

test_expect 'pre left the host'"'"'s own bridge as it was (cloudd did not make it)' '
	tb_ssh node1 ip -d link show br0 >br0 && test_grep br0 "bridge" &&
	! grep "alias" br0 &&
	tb_ssh node1 ls /sys/class/net/br0/brif >ports && test_grep ports eth0
'

test_expect 'the guest (a veth stand-in for the VM'"'"'s tap) reaches the front-end and its host' '
	guest a node1 $a &&
	pings a $TB_NET.1 && pings a $(tb_addr node1)
'

test_expect 'with another IP it cannot send: ping fails, the IP rule counts the drops' '
	before=$(count node1 $a "source IP") &&
	gx a ip addr flush dev eth0 && gx a ip addr add $TB_NET.150/24 dev eth0 &&
	gx a ip neigh replace $TB_NET.1 lladdr $FRONT_MAC dev eth0 nud permanent &&
	no_ping a $TB_NET.1 &&
	test "$(count node1 $a "source IP")" -ge $((before + 2))
'

test_expect 'its ARP claiming that IP is dropped too, and the front-end learns nothing' '
	before=$(count node1 $a "ARP sender IP") &&
	gx a ip neigh flush dev eth0 && gx a ip neigh del $TB_NET.1 dev eth0 2>/dev/null;
	no_ping a $TB_NET.1 &&
	test "$(count node1 $a "ARP sender IP")" -gt $before &&
	test -z "$(ip neigh show $TB_NET.150 dev $TB_BRIDGE)"
'

test_expect 'back on its own IP it sends again' '
	gx a ip addr flush dev eth0 && gx a ip addr add $IP_A/24 dev eth0 &&
	pings a $TB_NET.1
'

test_expect 'with another MAC it cannot send: ping fails, the MAC rule counts the drops' '
	before=$(count node1 $a "source MAC") &&
	gx a ip link set eth0 address 02:00:0a:63:00:99 &&
	no_ping a $TB_NET.1 &&
	test "$(count node1 $a "source MAC")" -gt $before &&
	gx a ip link set eth0 address $MAC_A && pings a $TB_NET.1
'

test_expect 'an ARP with its own source MAC but another sender MAC is dropped' '
	before=$(count node1 $a "ARP sender MAC") &&
	gx a "$SEND" eth0 "$(arp $MAC_A 02:00:0a:63:00:42 $IP_A $TB_NET.1)" &&
	test "$(count node1 $a "ARP sender MAC")" = $((before + 1))
'

test_expect 'an 802.1Q tagged frame is dropped (no VLAN hopping)' '
	before=$(count node1 $a "VLAN tagged") &&
	gx a "$SEND" eth0 "ffffffffffff $(hex_mac $MAC_A) 8100 000a 0800 4500001c00000000401100 00 $(hex_ip $IP_A) ffffffff" &&
	test "$(count node1 $a "VLAN tagged")" = $((before + 1))
'

test_expect 'IPv6 from a NIC with an IPv4 address is dropped' '
	before=$(count node1 $a "neither IPv4") &&
	gx a "$SEND" eth0 "333300000001 $(hex_mac $MAC_A) 86dd 60000000 0000 3aff $(printf "%064d" 0)" &&
	test "$(count node1 $a "neither IPv4")" = $((before + 1))
'

test_expect 'a DHCP request from 0.0.0.0 goes out; other IPv4 from 0.0.0.0 and an ARP probe do not' '
	dhcp=$(count node1 $a "DHCP request") && ip=$(count node1 $a "source IP") &&
	arpip=$(count node1 $a "ARP sender IP") &&
	gx a "$SEND" eth0 "ffffffffffff $(hex_mac $MAC_A) 0800 4500001c000000004011 0000 00000000 ffffffff 0044 0043 0008 0000" &&
	gx a "$SEND" eth0 "ffffffffffff $(hex_mac $MAC_A) 0800 4500001c000000004011 0000 00000000 ffffffff 0045 0043 0008 0000" &&
	gx a "$SEND" eth0 "$(arp $MAC_A $MAC_A 0.0.0.0 $TB_NET.1)" &&
	test "$(count node1 $a "DHCP request")" = $((dhcp + 1)) &&
	test "$(count node1 $a "source IP")" = $((ip + 1)) &&
	test "$(count node1 $a "ARP sender IP")" = $((arpip + 1))
'

test_expect 'a second VM on the same network cannot take over the first one'"'"'s address' '
	mkvm c node1 "NETWORK = \"pub\", IP = \"$IP_C\"" && c=$(cat c) && wait_vm $c RUNNING $NB_WAIT &&
	MAC_C=$(nicof $c mac) && test "$MAC_C" = "$(mac_of $IP_C)" &&
	guest c node1 $c && pings c $TB_NET.1 &&
	pings a $TB_NET.1 &&
	before=$(count node1 $c "ARP sender IP") &&
	gx c "$SEND" -n 3 eth0 "$(arp $MAC_C $MAC_C $IP_A $TB_NET.1)" &&
	test "$(count node1 $c "ARP sender IP")" = $((before + 3)) &&
	ip neigh show $IP_A dev $TB_BRIDGE | grep -i "lladdr $MAC_A" &&
	pings a $TB_NET.1
'
c=$(cat c 2>/dev/null)

test_expect 'pre makes a missing bridge, up, marked as cloudd'"'"'s; two VMs share it' '
	mkvm b node1 "NETWORK = \"net1\"" && b=$(cat b) &&
	mkvm d node1 "NETWORK = \"net1\"" && d=$(cat d) &&
	wait_vm $b RUNNING $NB_WAIT && wait_vm $d RUNNING $NB_WAIT &&
	test "$(nicof $b bridge)" = cldnet1 && test "$(nicof $d bridge)" = cldnet1 &&
	test "$(nicof $b ip)" != "$(nicof $d ip)" &&
	rules node1 $d >chain && test_grep chain "ip saddr != $(nicof $d ip)" &&
	tb_ssh node1 ip -d link show cldnet1 >br &&
	test_grep br ",UP" && test_grep br "alias cloudd net/bridge" &&
	test_grep br " bridge " &&
	tb_ssh node1 nft list set bridge cloudd members >members &&
	test_grep members "\"cldnet1\" . \"cld${b}n0\"" &&
	test_grep members "\"cldnet1\" . \"cld${d}n0\""
'
b=$(cat b 2>/dev/null) d=$(cat d 2>/dev/null)

test_expect 'a VM that ends takes its chain with it; the bridge stays while another VM uses it' '
	ctl vm shutdown $b && wait_vm $b DONE $NB_WAIT &&
	table node1 >t && ! grep "nic-cld${b}n0" t &&
	tb_ssh node1 ip link show cldnet1 &&
	rules node1 $d >/dev/null &&
	grep "kept bridge .cldnet1.: other NICs use it" cloudd.log
'

test_expect 'a port cloudd does not know keeps the bridge too; once it goes, clean removes the bridge' '
	tb_ssh node1 "ip link add cldx type veth peer name cldy && ip link set cldx master cldnet1" &&
	ctl vm poweroff $d && wait_vm $d POWEROFF $NB_WAIT &&
	table node1 >t && ! grep "nic-cld${d}n0" t &&
	tb_ssh node1 ip link show cldnet1 &&
	grep "kept bridge .cldnet1.: .cldx. is a port of it" cloudd.log &&
	tb_ssh node1 ip link del cldx &&
	ctl vm delete $d && wait_vm $d DONE $NB_WAIT &&
	links node1 >l && ! grep ": cldnet1:" l && ! grep ": cldx" l
'

test_expect 'a plain NIC (BRIDGE only): no MAC to hold it to, yet bridged and filtered for what is known' '
	mkvm p node1 "BRIDGE = \"cldplain\"" && p=$(cat p) &&
	mkvm q node1 "BRIDGE = \"cldplain\", IP = \"$TB_NET.150\"" && q=$(cat q) &&
	wait_vm $p RUNNING $NB_WAIT && wait_vm $q RUNNING $NB_WAIT &&
	test "$(nicof $p target)" = "cld${p}n0" && test "$(nicof $p mac)" = null &&
	test "$(nicof $p ip)" = null &&
	tb_ssh node1 ip -d link show cldplain >br && test_grep br ",UP" &&
	test_grep br "alias cloudd net/bridge" &&
	rules node1 $p >chain && test_grep chain "VLAN tagged" && ! grep saddr chain &&
	tb_ssh node1 nft list set bridge cloudd members >members &&
	test_grep members "\"cldplain\" . \"cld${p}n0\"" &&
	rules node1 $q >chain && test_grep chain "ether saddr != $(mac_of $TB_NET.150)" &&
	test_grep chain "ip saddr != $TB_NET.150" &&
	ctl vm shutdown $p && wait_vm $p DONE $NB_WAIT &&
	table node1 >t && ! grep "nic-cld${p}n0" t && tb_ssh node1 ip link show cldplain &&
	ctl vm shutdown $q && wait_vm $q DONE $NB_WAIT &&
	links node1 >l && ! grep ": cldplain:" l
'

# What a test changes on a host, less the counters.
host_state() {
	for h in node1 node2; do
		tb_ssh $h nft list table bridge cloudd | sed "s/packets [0-9]* bytes [0-9]*//" &&
		tb_ssh $h ip -o link show | sed "s/^[0-9]*: //" || return 1
	done
}
# refused_net EXPECT LINE...: a network template of NAME = "bad" and the
# LINEs is refused by "vnet create" (exit 1) with EXPECT in its message.
refused_net() {
	want=$1
	shift
	{ echo "NAME = \"bad\""; for l in "$@"; do printf "%s\n" "$l"; done; } >bad.net &&
	{ ctl vnet create bad.net 2>err; test $? -eq 1; } &&
	test_grep err "cloudctl: 'bad.net': $want"
}

test_expect 'hostile bridge names, VLAN ids, MACs and addresses: vnet create refuses them, naming each' '
	host_state >before &&
	refused_net "line 2, column 1: BRIDGE '"'"'br0;touch /root/pwned'"'"' is not an interface name" \
	    "BRIDGE = \"br0;touch /root/pwned\"" "LEASES = [ IP = \"$TB_NET.200\" ]" &&
	refused_net "line 2, column 1: BRIDGE '"'"'\$(touch /root/pwned)'"'"' is not an interface name" \
	    "BRIDGE = \"\$(touch /root/pwned)\"" "LEASES = [ IP = \"$TB_NET.200\" ]" &&
	refused_net "line 2, column 1: BRIDGE '"'"'-br0'"'"' is not an interface name" \
	    "BRIDGE = \"-br0\"" "LEASES = [ IP = \"$TB_NET.200\" ]" &&
	refused_net "line 4, column 1: VLAN_ID '"'"'4095'"'"' is not a whole number from 1 to 4094" \
	    "BRIDGE = \"cldbad\"" "PHYDEV = \"eth0\"" "VLAN_ID = 4095" "LEASES = [ IP = \"$TB_NET.200\" ]" &&
	refused_net "line 4, column 1: VLAN_ID '"'"'0'"'"' is not a whole number" \
	    "BRIDGE = \"cldbad\"" "PHYDEV = \"eth0\"" "VLAN_ID = 0" "LEASES = [ IP = \"$TB_NET.200\" ]" &&
	refused_net "line 3, column 1: PHYDEV '"'"'eth0 up'"'"' is not an interface name" \
	    "BRIDGE = \"cldbad\"" "PHYDEV = \"eth0 up\"" "VLAN_ID = 10" "LEASES = [ IP = \"$TB_NET.200\" ]" &&
	refused_net "line 3, column 1: VLAN_ID needs PHYDEV, the interface that carries the VLAN" \
	    "BRIDGE = \"cldbad\"" "VLAN_ID = 10" "LEASES = [ IP = \"$TB_NET.200\" ]" &&
	refused_net "line 3, column 1: LEASES: MAC '"'"'02:00:0a:63:00:zz'"'"' is not a MAC address" \
	    "BRIDGE = \"cldbad\"" "LEASES = [ IP = \"$TB_NET.200\", MAC = \"02:00:0a:63:00:zz\" ]" &&
	refused_net "line 3, column 1: LEASES: MAC '"'"'01:00:5e:00:00:01'"'"' is a multicast address" \
	    "BRIDGE = \"cldbad\"" "LEASES = [ IP = \"$TB_NET.200\", MAC = \"01:00:5e:00:00:01\" ]" &&
	refused_net "line 3, column 1: LEASES: IP '"'"'10.0.0.256'"'"' is not an IPv4 address" \
	    "BRIDGE = \"cldbad\"" "LEASES = [ IP = \"10.0.0.256\" ]" &&
	refused_net "line 3, column 1: IP_START '"'"'1.2.3.4 } ; flush ruleset'"'"' is not an IPv4 address" \
	    "BRIDGE = \"cldbad\"" "IP_START = \"1.2.3.4 } ; flush ruleset\"" "IP_END = \"1.2.3.9\"" &&
	refused_net "line 3, column 1: MAC_PREFIX '"'"'03:00'"'"' " \
	    "BRIDGE = \"cldbad\"" "MAC_PREFIX = \"03:00\"" "LEASES = [ IP = \"$TB_NET.200\" ]" &&
	test "$(ctl_json .total vnet list)" = 2 &&
	tb_ssh node1 "test ! -e /root/pwned" && test ! -e /root/pwned &&
	host_state >after && test_cmp before after
'

# The driver checks TARGET ("not one of this VM'"'"'s tap names") too, but no
# template reaches that check any more: the core sets TARGET itself and
# refuses a NIC that sets it (below).  t/unit/net_bridge.c covers it.
test_expect 'a NIC that sets what cloudd sets, or a hostile plain BRIDGE: vm create refuses it' '
	host_state >before &&
	printf "MEMORY = 32\nNIC = [ NETWORK = \"pub\", TARGET = \"cld${a}n0\" ]\n" >bad.tmpl &&
	{ ctl vm create bad.tmpl 2>err; test $? -eq 1; } &&
	test_grep err "line 2, column 26: NIC TARGET comes from network '"'"'pub'"'"' (cloudd sets it): leave it out" &&
	printf "MEMORY = 32\nNIC = [ NETWORK = \"pub\", MAC = \"$MAC_A\" ]\n" >bad.tmpl &&
	{ ctl vm create bad.tmpl 2>err; test $? -eq 1; } &&
	test_grep err "NIC MAC comes from network '"'"'pub'"'"'" &&
	printf "MEMORY = 32\nNIC = [ BRIDGE = \"br0\", TARGET = \"cld${a}n0\" ]\n" >bad.tmpl &&
	{ ctl vm create bad.tmpl 2>err; test $? -eq 1; } &&
	test_grep err "line 2, column 25: NIC TARGET is set by cloudd" &&
	printf "MEMORY = 32\nNIC = [ BRIDGE = \"br0;touch /root/pwned\" ]\n" >bad.tmpl &&
	{ ctl vm create bad.tmpl 2>err; test $? -eq 1; } &&
	test_grep err "line 2, column 9: NIC BRIDGE '"'"'br0;touch /root/pwned'"'"' is not an interface name" &&
	tb_ssh node1 "test ! -e /root/pwned" && host_state >after && test_cmp before after
'

# fails_pre NET EXPECT: a VM on network NET fails in pre with EXPECT in
# its reason, and is recovered; the network is deleted.
fails_pre() {
	mkvm bad node1 "NETWORK = \"$1\"" && id=$(cat bad) &&
	wait_vm $id FAILED $NB_WAIT && ctl_json .reason vm show $id >reason &&
	test_grep reason "net pre on 'node1' failed: " && test_grep reason "$2" &&
	ctl vm recover --delete $id && wait_vm $id DONE $NB_WAIT && ctl vnet delete "$1"
}

test_expect 'what the core takes but the host cannot: the VM fails in pre, saying why, nothing changed' '
	host_state >before &&
	vnet onnic eth0 $TB_NET.200 - &&
	fails_pre onnic "on '"'"'node1'"'"': '"'"'eth0'"'"' exists and is not a bridge" &&
	vnet phyonly cldp $TB_NET.201 - "PHYDEV = \"eth0\"" &&
	fails_pre phyonly "NIC 0: VLAN_ID is missing: net/bridge uses PHYDEV only for VLANs" &&
	vnet under _cldu $TB_NET.202 - &&
	fails_pre under "NIC 0: BRIDGE '"'"'_cldu'"'"' is not an interface name" &&
	printf "NAME = zero\nBRIDGE = cldz\nLEASES = [ IP = $TB_NET.203, MAC = 00:00:00:00:00:00 ]\n" >zero.net &&
	ctl vnet create zero.net >/dev/null &&
	fails_pre zero "NIC 0: MAC '"'"'00:00:00:00:00:00'"'"' is all zeros" &&
	host_state >after && test_cmp before after
'

test_expect 'live migration: pre on the destination, the chain leaves the source, the guest still filtered' '
	guest_down a &&
	ctl vm migrate --live $a node2 && wait_vm $a RUNNING $NB_WAIT &&
	test "$(ctl_json .host vm show $a)" = node2 &&
	table node1 >t && ! grep "nic-cld${a}n0" t &&
	rules node2 $a >chain && test_grep chain "ether saddr != $MAC_A" &&
	guest a node2 $a && pings a $TB_NET.1 &&
	gx a ip link set eth0 address 02:00:0a:63:00:99 && no_ping a $TB_NET.1 &&
	test "$(count node2 $a "source MAC")" -gt 0
'

test_expect 'when the leases end their chains go; the host'"'"'s own bridge stays' '
	guest_down a && guest_down c &&
	ctl vm shutdown $a $c && wait_vm $a DONE $NB_WAIT && wait_vm $c DONE $NB_WAIT &&
	for h in node1 node2; do
		tb_ssh $h nft list table bridge cloudd >t.$h &&
		! grep "chain nic-" t.$h && ! grep "cld[0-9]*n0" t.$h &&
		tb_ssh $h ls /sys/class/net/br0/brif >ports && test_grep ports eth0 || exit 1
	done &&
	grep "kept bridge .br0.: cloudd did not make it" cloudd.log
'

test_done
