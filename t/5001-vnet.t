#!/bin/sh
# Virtual networks through cloudctl, on dummy drivers: networks made from
# templates (and malformed ones refused with the file, line and column),
# VMs' NICs resolved with a lease (IP, the MAC derived from it, the
# bridge, VLAN, gateway, DNS, netmask, tap name), addresses asked for,
# held and released, a lease given back at DONE and not handed out next,
# a full network keeping a VM PENDING with the reason until an address is
# freed, delete refused while in use, what another user may do and see,
# and leases kept over a restart and over a SIGKILL.
. "$top_srcdir/t/lib/test-lib.sh"
command -v jq >/dev/null || skip_all "jq is not installed (tools/install-deps installs it)"

write_conf <<CONF
MONITOR_INTERVAL = 0.3
SCHED = [ INTERVAL = 0.1 ]
VMM_DRIVER = [ NAME = "dummy", STATE = "$TEST_DIR/domains" ]
IM_DRIVER = [ NAME = "dummy", TOTALCPU = 100000, TOTALMEMORY = 104857600 ]
TM_DRIVER = [ NAME = "dummy" ]
NET_DRIVER = [ NAME = "dummy" ]
CONF

cat >pub.net <<EOF
# the public network
NAME = "pub"
BRIDGE = "br0"
NETWORK_ADDRESS = "10.1.0.0/24"
GATEWAY = "10.1.0.1"
DNS = "10.1.0.2 10.1.0.3"
EOF
cat >v12.net <<EOF
NAME = "v12"
BRIDGE = "br12"
PHYDEV = "eth1"
VLAN_ID = 12
IP_START = "192.168.12.10"
IP_END = "192.168.12.12"
NETWORK_MASK = "255.255.255.0"
GATEWAY = "192.168.12.1"
MAC_PREFIX = "0a:00"
EOF
cat >fixed.net <<EOF
NAME = "fixed"
BRIDGE = "br2"
LEASES = [ IP = "172.16.0.7", MAC = "02:aa:bb:cc:dd:01" ]
LEASES = [ IP = "172.16.0.3" ]
EOF
cat >lru.net <<EOF
NAME = "lru"
BRIDGE = "br3"
NETWORK_ADDRESS = "10.3.0.0/29"
EOF

# vmt NAME NIC...: a small VM template with these NIC vectors.
vmt() {
	printf 'NAME = "%s"\nCPU = 0.01\nMEMORY = 1\n' "$1"
	shift
	for n in "$@"; do printf 'NIC = [ %s ]\n' "$n"; done
}

# refused_vm MESSAGE NIC...: vm create fails (exit 1) with MESSAGE.
refused_vm() {
	msg=$1
	shift
	vmt bad "$@" >bad.tmpl
	ctl vm create bad.tmpl >out 2>err
	s=$?
	[ $s -eq 1 ] || fail "vm create exited $s, not 1: $(cat out err)"
	test_grep err "$msg"
}

# The used leases of network $1 as "IP VM" lines, sorted.
used_leases() {
	ctl --json vnet show "$1" |
	    jq -r '.leases[] | select(.state == "used") | "\(.ip) \(.vm)"' | sort
}

# The NIC addresses of the live VMs on network $1, as "IP VM" lines, sorted.
vm_addresses() {
	ctl --json vm list --all-pages |
	    jq -r --arg n "$1" '.vms[] | .id as $id | .nics[] |
	    select(.network == $n and .ip != null) | "\(.ip) \($id)"' | sort
}

cloudd_start || exit 1

test_expect 'vnet create reads a template file and prints the id; vnet list shows the networks' '
	ctl host create node1 --im dummy --vmm dummy && wait_host node1 MONITORED &&
	test "$(ctl vnet create pub.net)" = 0 &&
	test "$(ctl vnet create v12.net)" = 1 &&
	test "$(ctl vnet create - <fixed.net)" = 2 &&
	test "$(ctl vnet create lru.net)" = 3 &&
	ctl vnet list >out &&
	head -1 out | grep -E "^ *ID +NAME +BRIDGE +VLAN +ADDRESSES +SIZE +USED +HELD +FREE *$" &&
	grep -E "^ *0 +pub +br0 +- +10\.1\.0\.1-10\.1\.0\.254 \(/24\) +253 +0 +0 +253 *$" out &&
	grep -E "^ *1 +v12 +br12 +12 +192\.168\.12\.10-192\.168\.12\.12 \(/24\) +3 +0 +0 +3 *$" out &&
	grep -E "^ *2 +fixed +br2 +- +2 fixed addresses +2 +0 +0 +2 *$" out
'

test_expect 'vnet show: bridge, VLAN, addresses, netmask, gateway, DNS, MAC prefix, and the gateway never leased' '
	ctl vnet show v12 >out &&
	test_grep out "BRIDGE     br12" && test_grep out "VLAN       12 on eth1" &&
	test_grep out "ADDRESSES  192.168.12.10-192.168.12.12" &&
	test_grep out "NETMASK    255.255.255.0 (/24)" &&
	test_grep out "GATEWAY    192.168.12.1" && test_grep out "MAC PREFIX 0a:00" &&
	test_grep out "LEASES     0 used, 0 on hold, 3 free, of 3" &&
	ctl vnet show 0 >out &&
	test_grep out "DNS        10.1.0.2 10.1.0.3" && test_grep out "MAC PREFIX 02:00" &&
	grep -E "^10\.1\.0\.1 +02:00:0a:01:00:01 +gateway +- +- +- *$" out &&
	test "$(ctl_json .template vnet show pub | grep -c MAC_PREFIX)" = 1
'

test_expect 'a malformed network template is refused naming the file, line and column (exit 1)' '
	printf "NAME = x\nBRIDGE = br9\nNETWORK_ADDRESS = 10.9.0.5/24\n" >bad.net &&
	{ ctl vnet create bad.net 2>err; test $? -eq 1; } &&
	test_grep err "cloudctl: '"'"'bad.net'"'"': line 3, column 1: NETWORK_ADDRESS '"'"'10.9.0.5'"'"' is not the first address of a /24 (10.9.0.0 is)" &&
	printf "NAME = x\nBRIDGE = br9\nIP_START = 10.9.0.1\nIP_END = 10.9.0.9\nVLAN_ID = 7\n" >bad.net &&
	{ ctl vnet create bad.net 2>err; test $? -eq 1; } &&
	test_grep err "'"'"'bad.net'"'"': line 5, column 1: VLAN_ID needs PHYDEV, the interface that carries the VLAN" &&
	printf "NAME = x\nBRIDGE = br9\nLEASES = [ IP = 10.9.0.1,\n  MAC = 02:00 ]\n" >bad.net &&
	{ ctl vnet create bad.net 2>err; test $? -eq 1; } &&
	test_grep err "line 3, column 1: LEASES: MAC '"'"'02:00'"'"' is not a MAC address" &&
	printf "NAME = x\nBRIDGE br9\n" >bad.net &&
	{ ctl vnet create bad.net 2>err; test $? -eq 1; } &&
	test_grep err "'"'"'bad.net'"'"': line 2, column 8: " &&
	printf "NAME = x\nBRIDGE = br9\nIP_START = 10.9.0.1\nIP_END = 10.9.0.9\nSIZE = 4\n" >bad.net &&
	{ ctl vnet create bad.net 2>err; test $? -eq 1; } &&
	test_grep err "line 5, column 1: unknown attribute '"'"'SIZE'"'"'" &&
	test "$(ctl_json .total vnet list)" = 4
'

test_expect 'impossible networks are refused: a name taken, addresses overlapping another on its bridge' '
	{ ctl vnet create pub.net 2>err; test $? -eq 1; } &&
	test_grep err "a network named '"'"'pub'"'"' exists" &&
	printf "NAME = pub2\nBRIDGE = br0\nIP_START = 10.1.0.200\nIP_END = 10.1.1.10\n" >over.net &&
	{ ctl vnet create over.net 2>err; test $? -eq 1; } &&
	test_grep err "the addresses of network '"'"'pub2'"'"' (10.1.0.200-10.1.1.10) overlap those of network '"'"'pub'"'"' (10.1.0.1-10.1.0.254) on bridge '"'"'br0'"'"'" &&
	printf "NAME = pub2\nBRIDGE = br7\nIP_START = 10.1.0.200\nIP_END = 10.1.1.10\n" >over.net &&
	test "$(ctl vnet create over.net)" = 4 && ctl vnet delete pub2
'

test_expect 'the API: /v1/vnets refuses unknown fields, methods, actions and networks' '
	S="curl -s --unix-socket $TEST_DIR/cloudd.sock" &&
	$S -d "{\"template\": \"NAME = x\", \"owner\": 1}" http://localhost/v1/vnets >out &&
	jq -e ".error.code == \"bad_request\" and .error.message == \"unknown field '"'"'owner'"'"'\"" out &&
	$S -D hdr -X PATCH -d "{}" http://localhost/v1/vnets/pub >out &&
	grep -i "^Allow: GET, DELETE" hdr && jq -e ".error.code == \"method_not_allowed\"" out &&
	$S -d "{\"action\": \"borrow\", \"ip\": \"10.1.0.9\"}" http://localhost/v1/vnets/pub/actions >out &&
	jq -e ".error.message == \"unknown action '"'"'borrow'"'"' (one of hold, release)\"" out &&
	$S -d "{\"action\": \"hold\"}" http://localhost/v1/vnets/pub/actions >out &&
	jq -e ".error.message == \"hold needs an address (\\\"ip\\\")\"" out &&
	$S -d "{\"template\": \"NAME = x\nBRIDGE = br9\nIP_START = 10.9.0.1\nIP_END = 10.9.0.0\n\"}" http://localhost/v1/vnets >out &&
	jq -e ".error.code == \"bad_template\" and (.error.message | startswith(\"line 4, column 1: IP_END\"))" out &&
	$S http://localhost/v1/vnets/nope >out && jq -e ".error.code == \"not_found\"" out &&
	$S "http://localhost/v1/vnets?limit=2&offset=1" >out &&
	jq -e ".total == 4 and (.vnets | map(.name)) == [\"v12\", \"fixed\"]" out
'

test_expect 'a VM naming an unknown network, an IP outside it, or setting what the network sets is refused' '
	refused_vm "line 4, column 9: NIC NETWORK '"'"'nope'"'"': no such network" "NETWORK = nope" &&
	refused_vm "line 4, column 9: NIC NETWORK_ID '"'"'9'"'"': no such network" "NETWORK_ID = 9" &&
	refused_vm "line 4, column 24: NIC IP '"'"'10.2.0.5'"'"' is not an address of network '"'"'pub'"'"' (10.1.0.1-10.1.0.254)" "NETWORK = pub, IP = 10.2.0.5" &&
	refused_vm "line 4, column 24: NIC IP '"'"'10.1.0.1'"'"' is the gateway of network '"'"'pub'"'"'" "NETWORK = pub, IP = 10.1.0.1" &&
	refused_vm "line 4, column 24: NIC IP '"'"'10.1.0'"'"' is not an IPv4 address" "NETWORK = pub, IP = 10.1.0" &&
	refused_vm "line 4, column 24: NIC BRIDGE comes from network '"'"'pub'"'"' (cloudd sets it): leave it out" "NETWORK = pub, BRIDGE = br9" &&
	refused_vm "line 4, column 24: NIC MAC comes from network '"'"'pub'"'"'" "NETWORK = pub, MAC = 02:00:00:00:00:01" &&
	refused_vm "line 4, column 24: NIC NETWORK_ID 1 is network '"'"'v12'"'"', not '"'"'pub'"'"'" "NETWORK = pub, NETWORK_ID = 1" &&
	refused_vm "line 4, column 1: NIC needs NETWORK (or NETWORK_ID), or BRIDGE" "MODEL = virtio" &&
	refused_vm "line 4, column 9: NIC BRIDGE '"'"'br;x'"'"' is not an interface name" "BRIDGE = \"br;x\"" &&
	refused_vm "line 4, column 23: NIC IP '"'"'10.1.0.9'"'"' belongs to network '"'"'pub'"'"' on bridge '"'"'br0'"'"'" "BRIDGE = br0, IP = 10.1.0.9" &&
	refused_vm "line 4, column 24: NIC TARGET comes from network '"'"'pub'"'"'" "NETWORK = pub, TARGET = tap0" &&
	refused_vm "line 4, column 23: NIC TARGET is set by cloudd (the tap device, cld<VM id>n<NIC index>): leave it out" "BRIDGE = br5, TARGET = tap0" &&
	refused_vm "line 5, column 24: NIC IP '"'"'10.1.0.9'"'"' is asked for by another NIC of this VM" "NETWORK = pub, IP = 10.1.0.9" "NETWORK = pub, IP = 10.1.0.9" &&
	printf "MEMORY = 1\nNIC = \"pub\"\n" >bad.tmpl &&
	{ ctl vm create bad.tmpl 2>err; test $? -eq 1; } &&
	test_grep err "line 2, column 1: NIC must be a vector: NIC = [ NETWORK = \"pub\" ]" &&
	test "$(ctl_json .total vm list)" = 0
'

test_expect 'a NIC is resolved before the drivers see it: bridge, VLAN, IP, MAC from the IP, gateway, DNS, netmask, tap name' '
	vmt web "NETWORK = pub" "NETWORK = v12, MODEL = virtio" "BRIDGE = br5" "BRIDGE = br5, IP = 10.5.0.9" >web.tmpl &&
	id=$(ctl vm create web.tmpl) && wait_vm "$id" RUNNING && echo "$id" >web.id &&
	ctl --json vm show "$id" >show.json &&
	jq -r ".template" show.json >tmpl &&
	test "$(jq -c "[.nics[] | [.network, .ip, .mac, .bridge, .target]]" show.json)" = "[[\"pub\",\"10.1.0.2\",\"02:00:0a:01:00:02\",\"br0\",\"cld${id}n0\"],[\"v12\",\"192.168.12.10\",\"0a:00:c0:a8:0c:0a\",\"br12\",\"cld${id}n1\"],[null,null,null,\"br5\",\"cld${id}n2\"],[null,\"10.5.0.9\",\"02:00:0a:05:00:09\",\"br5\",\"cld${id}n3\"]]" &&
	for kv in "NETWORK = \"pub\"" "NETWORK_ID = \"0\"" "GATEWAY = \"10.1.0.1\"" \
	    "DNS = \"10.1.0.2 10.1.0.3\"" "NETMASK = \"255.255.255.0\"" "PREFIX = \"24\"" \
	    "VLAN_ID = \"12\"" "PHYDEV = \"eth1\"" "NETMASK = \"255.255.255.0\"" \
	    "GATEWAY = \"192.168.12.1\"" "MODEL = \"virtio\""; do
		grep -F "  $kv" tmpl >/dev/null || fail "the template lacks $kv"
	done &&
	ctl vm show "$id" >out &&
	grep -E "^ *1 +v12 +192\.168\.12\.10 +0a:00:c0:a8:0c:0a +br12 +cld${id}n1 *$" out
'

test_expect 'vnet show lists each lease in use with its VM, name and owner' '
	id=$(cat web.id) &&
	ctl vnet show pub >out &&
	test_grep out "LEASES     1 used, 0 on hold, 252 free, of 253" &&
	grep -E "^10\.1\.0\.2 +02:00:0a:01:00:02 +used +$id +web +root *$" out &&
	ctl vnet show v12 >out &&
	grep -E "^192\.168\.12\.10 +0a:00:c0:a8:0c:0a +used +$id +web +root *$" out
'

test_expect 'an IP asked for is the one leased; asking for one leased already is refused (409)' '
	vmt asks "NETWORK = pub, IP = 10.1.0.50" >asks.tmpl &&
	id=$(ctl vm create asks.tmpl) && wait_vm "$id" RUNNING &&
	test "$(ctl_json ".nics[0].ip" vm show "$id")" = 10.1.0.50 &&
	refused_vm "line 4, column 24: NIC IP '"'"'10.1.0.50'"'"' of network '"'"'pub'"'"' is leased to another VM" "NETWORK = pub, IP = 10.1.0.50"
'

test_expect 'hold keeps an address from VMs, release gives it back; errors say why' '
	ctl vnet hold pub 10.1.0.3 10.1.0.4 &&
	ctl vnet show pub >out &&
	grep -E "^10\.1\.0\.3 +02:00:0a:01:00:03 +held +- +- +- *$" out &&
	test_grep out "LEASES     2 used, 2 on hold, 249 free, of 253" &&
	vmt next "NETWORK = pub" >next.tmpl && id=$(ctl vm create next.tmpl) &&
	wait_vm "$id" RUNNING && test "$(ctl_json ".nics[0].ip" vm show "$id")" = 10.1.0.5 &&
	refused_vm "NIC IP '"'"'10.1.0.3'"'"' of network '"'"'pub'"'"' is on hold" "NETWORK = pub, IP = 10.1.0.3" &&
	{ ctl vnet hold pub 10.1.0.2 2>err; test $? -eq 1; } &&
	test_grep err "10.1.0.2 of network '"'"'pub'"'"' is leased to VM $(cat web.id)" &&
	{ ctl vnet release pub 10.1.0.2 2>err; test $? -eq 1; } &&
	test_grep err "is leased to VM $(cat web.id): it is given back when the VM is DONE" &&
	{ ctl vnet hold pub 10.1.0.3 2>err; test $? -eq 1; } &&
	test_grep err "10.1.0.3 of network '"'"'pub'"'"' is already on hold" &&
	{ ctl vnet release pub 10.1.0.9 2>err; test $? -eq 1; } &&
	test_grep err "10.1.0.9 of network '"'"'pub'"'"' is not on hold" &&
	{ ctl vnet hold pub 10.2.0.9 2>err; test $? -eq 1; } &&
	test_grep err "10.2.0.9 is not an address of network '"'"'pub'"'"' (10.1.0.1-10.1.0.254)" &&
	{ ctl vnet hold pub 10.1.0.1 2>err; test $? -eq 1; } &&
	test_grep err "10.1.0.1 is the gateway of network '"'"'pub'"'"': it is never leased" &&
	{ ctl vnet hold pub ten 2>err; test $? -eq 1; } &&
	test_grep err "'"'"'ten'"'"' is not an IPv4 address" &&
	{ ctl vnet hold nope 10.1.0.9 2>err; test $? -eq 4; } &&
	test_grep err "no network '"'"'nope'"'"'" &&
	ctl vnet release pub 10.1.0.3 10.1.0.4 &&
	! ctl vnet show pub | grep -E "^10\.1\.0\.[34] "
'

test_expect 'a lease is given back at DONE, and that address is not the next one handed out' '
	vmt a "NETWORK = lru" >lru.tmpl &&
	a=$(ctl vm create lru.tmpl) && wait_vm "$a" RUNNING &&
	b=$(ctl vm create lru.tmpl) && wait_vm "$b" RUNNING &&
	test "$(ctl_json ".nics[0].ip" vm show "$a")" = 10.3.0.1 &&
	test "$(ctl_json ".nics[0].ip" vm show "$b")" = 10.3.0.2 &&
	ctl vm shutdown "$a" && wait_vm "$a" DONE &&
	! ctl vnet show lru | grep -E "^10\.3\.0\.1 " &&
	test "$(ctl_json ".nics[0].ip" vm show "$a")" = 10.3.0.1 &&
	ctl vm log "$a" >log && test_grep log "network '"'"'lru'"'"': 10.3.0.1 given back" &&
	c=$(ctl vm create lru.tmpl) && wait_vm "$c" RUNNING &&
	test "$(ctl_json ".nics[0].ip" vm show "$c")" = 10.3.0.3 &&
	for n in 4 5 6; do
		x=$(ctl vm create lru.tmpl) && wait_vm "$x" RUNNING &&
		test "$(ctl_json ".nics[0].ip" vm show "$x")" = "10.3.0.$n" || exit 1
	done &&
	ctl vm shutdown "$b" && wait_vm "$b" DONE &&
	ctl vm delete "$c" && wait_vm "$c" DONE &&
	for n in 1 2 3; do
		x=$(ctl vm create lru.tmpl) && wait_vm "$x" RUNNING &&
		test "$(ctl_json ".nics[0].ip" vm show "$x")" = "10.3.0.$n" || exit 1
	done
'

test_expect 'a full network keeps the next VM PENDING with the reason; it leases the first address freed' '
	j=$(ctl vm create lru.tmpl) && sleep 0.5 &&
	test "$(ctl_json .state vm show "$j")" = PENDING &&
	test "$(ctl_json .reason vm show "$j")" = "no free address in network '"'"'lru'"'"' (6 of 6 in use)" &&
	d=$(ctl vnet show lru | awk "\$1 == \"10.3.0.4\" { print \$4 }") &&
	ctl vm shutdown "$d" && wait_vm "$d" DONE && wait_vm "$j" RUNNING &&
	test "$(ctl_json ".nics[0].ip" vm show "$j")" = 10.3.0.4 &&
	test "$(ctl_json .reason vm show "$j")" = null
'

test_expect 'delete is refused while VMs use the network, allowed once they are DONE' '
	vmt f "NETWORK = fixed" >f.tmpl &&
	f=$(ctl vm create --hold f.tmpl) &&
	{ ctl vnet delete fixed 2>err; test $? -eq 1; } &&
	test_grep err "network '"'"'fixed'"'"' is used by 1 NIC of VMs not yet DONE (0 addresses leased)" &&
	ctl vm release "$f" && wait_vm "$f" RUNNING &&
	test "$(ctl_json ".nics[0] | [.ip, .mac] | join(\" \")" vm show "$f")" = "172.16.0.7 02:aa:bb:cc:dd:01" &&
	{ ctl vnet delete fixed 2>err; test $? -eq 1; } &&
	test_grep err "(1 address leased)" &&
	ctl vm delete "$f" && wait_vm "$f" DONE &&
	ctl vnet delete fixed && { ctl vnet show fixed 2>err; test $? -eq 4; }
'

if [ "$(id -u)" = 0 ]; then
	chmod 755 "$TEST_DIR"
	as_user() {
		setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
	}
	test_expect 'a user sees the networks and uses them, may not change them, and sees only its own VMs in the leases' '
		as_user $CLOUDCTL -s "$TEST_DIR/cloudd.sock" vnet list >out &&
		grep -E "^ *0 +pub " out &&
		{ as_user $CLOUDCTL -s "$TEST_DIR/cloudd.sock" vnet create pub.net 2>err; test $? -eq 1; } &&
		test_grep err "only the admin (root) may create networks" &&
		{ as_user $CLOUDCTL -s "$TEST_DIR/cloudd.sock" vnet hold pub 10.1.0.99 2>err; test $? -eq 1; } &&
		test_grep err "only the admin (root) may hold or release addresses" &&
		{ as_user $CLOUDCTL -s "$TEST_DIR/cloudd.sock" vnet delete lru 2>err; test $? -eq 1; } &&
		test_grep err "only the admin (root) may delete networks" &&
		vmt mine "NETWORK = pub" >mine.tmpl && chmod 644 mine.tmpl &&
		id=$(as_user $CLOUDCTL -s "$TEST_DIR/cloudd.sock" vm create mine.tmpl) &&
		wait_vm "$id" RUNNING &&
		ip=$(ctl_json ".nics[0].ip" vm show "$id") &&
		as_user $CLOUDCTL -s "$TEST_DIR/cloudd.sock" vnet show pub >out &&
		grep -E "^$ip +[0-9a-f:]+ +used +$id +mine +nobody *$" out &&
		grep -E "^10\.1\.0\.2 +02:00:0a:01:00:02 +used +- +- +- *$" out &&
		ctl vm delete "$id" && wait_vm "$id" DONE
	'
fi

test_expect 'before a restart: the leases, and two released in a known order' '
	used_leases pub >pub.before && used_leases lru >lru.before &&
	test "$(wc -l <lru.before)" = 6 &&
	vm_addresses lru >lru.vms && test_cmp lru.before lru.vms &&
	first=$(awk "\$1 == \"10.3.0.6\" { print \$2 }" lru.before) &&
	second=$(awk "\$1 == \"10.3.0.2\" { print \$2 }" lru.before) &&
	ctl vm shutdown "$first" && wait_vm "$first" DONE &&
	ctl vm shutdown "$second" && wait_vm "$second" DONE &&
	cloudd_stop
'
cloudd_start || exit 1

test_expect 'after the restart: the same leases, and the released ones come back in the order they were released' '
	used_leases pub >pub.after && test_cmp pub.before pub.after &&
	x=$(ctl vm create lru.tmpl) && wait_vm "$x" RUNNING &&
	y=$(ctl vm create lru.tmpl) && wait_vm "$y" RUNNING &&
	test "$(ctl_json ".nics[0].ip" vm show "$x")" = 10.3.0.6 &&
	test "$(ctl_json ".nics[0].ip" vm show "$y")" = 10.3.0.2 &&
	used_leases lru >lru.after && vm_addresses lru >lru.vms &&
	test_cmp lru.after lru.vms
'

test_expect 'SIGKILL in the middle of creates and shutdowns' '
	vmt k "NETWORK = pub" >k.tmpl &&
	: >acked &&
	for i in 1 2 3 4 5 6 7 8 9 10 11 12; do ctl vm create k.tmpl >>acked || exit 1; done &&
	wait_vm "$(tail -1 acked)" RUNNING &&
	used_leases pub >before &&
	for id in $(head -4 acked); do ctl vm shutdown "$id" || exit 1; done &&
	for i in 1 2 3 4 5 6; do ctl vm create k.tmpl >>acked || exit 1; done &&
	cloudd_kill
'
cloudd_start || exit 1

test_expect 'after the SIGKILL every acknowledged lease is there, none is leaked or given twice' '
	for id in $(cat acked); do
		s=$(ctl_json .state vm show "$id") &&
		case $s in PENDING|HOLD|DONE) ;; *)
			test "$(ctl_json ".nics[0].ip" vm show "$id")" != null ||
			    fail "VM $id is $s without an address" ;;
		esac || exit 1
	done &&
	used_leases pub >after && vm_addresses pub >vms.txt && test_cmp vms.txt after &&
	test "$(cut -d" " -f1 after | sort -u | wc -l)" = "$(wc -l <after)" &&
	for id in $(tail -6 acked); do wait_vm "$id" RUNNING || exit 1; done &&
	for id in $(head -4 acked); do wait_vm "$id" DONE || exit 1; done &&
	used_leases pub >after && vm_addresses pub >vms.txt && test_cmp vms.txt after &&
	test "$(wc -l <after)" = $(( $(wc -l <before) + 2 ))
'

test_done
