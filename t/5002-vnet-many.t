#!/bin/sh
# Leases under concurrency, on dummy drivers with no delays: 1,023 VMs
# created at once (16 requests in flight at a time) on a /22 of 1,022
# addresses.  Every address goes to one VM only, as vnet show and each
# VM's NIC both say; the 1,023rd VM waits, PENDING, with the reason, and
# takes the first address freed.  Then shutdowns and creates race a
# SIGKILL: after the restart no lease acknowledged is lost, none is held
# for nobody and none is given twice, and everything settles.
. "$top_srcdir/t/lib/test-lib.sh"
command -v jq >/dev/null || skip_all "jq is not installed (tools/install-deps installs it)"
command -v curl >/dev/null || skip_all "curl is not installed (tools/install-deps installs it)"

# Fast drivers, and slow ones that keep every VM where it is after the
# crash, so that the leases and the VMs can be compared while nothing moves.
drivers() {
	cat <<CONF
MONITOR_INTERVAL = 0.5
SCHED = [ INTERVAL = 0.1 ]
VMM_DRIVER = [ NAME = "dummy", STATE = "$TEST_DIR/domains" $1 ]
IM_DRIVER = [ NAME = "dummy", TOTALCPU = 1000000, TOTALMEMORY = 1073741824 ]
TM_DRIVER = [ NAME = "dummy" $2 ]
NET_DRIVER = [ NAME = "dummy" $3 ]
CONF
}
drivers ', DEPLOY_DELAY = 60, SHUTDOWN_DELAY = 60, DESTROY_DELAY = 60' \
    ', DELETE_DELAY = 60' ', PRE_DELAY = 60, CLEAN_DELAY = 60' | write_conf
cp cloudd.conf slow.conf
drivers "" "" "" | write_conf
cp cloudd.conf fast.conf

cat >big.net <<EOF
NAME = "big"
BRIDGE = "br0"
NETWORK_ADDRESS = "10.20.0.0/22"
EOF
printf '{"template": "NAME = \\"many\\"\\nCPU = 0.01\\nMEMORY = 1\\nNIC = [ NETWORK = \\"big\\" ]\\n"}' >vm.json
SOCK="$TEST_DIR/cloudd.sock"

# fire DIR VERB N...: one request per N, by one curl, 16 at a time, each
# reply's body and status in DIR/VERB.N and DIR/VERB.N.status ("create": a
# new VM; "shutdown": of VM N).
fire() {
	dir=$1 verb=$2
	shift 2
	mkdir -p "$dir"
	for n in "$@"; do
		printf 'next\nunix-socket = "%s"\nsilent\nmax-time = 60\n' "$SOCK"
		printf 'output = "%s"\nwrite-out = "%%{http_code} %s\\n"\n' \
		    "$dir/$verb.$n" "$n"
		if [ "$verb" = create ]; then
			printf 'url = "http://localhost/v1/vms"\ndata = "@vm.json"\n'
		else
			printf 'url = "http://localhost/v1/vms/%s/actions"\n' "$n"
			printf '%s\n' 'data = "{\"action\": \"shutdown\"}"'
		fi
	done | sed 1d >"$dir/$verb.curl"
	curl --parallel --parallel-max 16 -K "$dir/$verb.curl" >"$dir/$verb.out" || :
	while read -r code n; do echo "$code" >"$dir/$verb.$n.status"; done <"$dir/$verb.out"
}

# The replies DIR/VERB.N whose status was 2xx.
acked() {
	grep -l "^20[01]" "$1"/"$2".*.status | sed "s/\.status\$//"
}

# How many VMs are in STATE.
count() {
	curl -s --unix-socket "$SOCK" "http://localhost/v1/vms?limit=1&state=$1" | jq .total
}

# Wait up to 120 s until COUNT of STATE.
wait_count() {
	end=$(( $(date +%s) + 120 ))
	while [ "$(count "$1")" != "$2" ]; do
		[ "$(date +%s)" -lt "$end" ] || { echo "$(count "$1") VMs $1, not $2" >&2; return 1; }
		sleep 0.2
	done
}

# Leases of big as "IP VM", from vnet show, and from the VMs' NICs.
used_leases() {
	ctl --json vnet show big |
	    jq -r '.leases[] | select(.state == "used") | "\(.ip) \(.vm)"' | sort
}
vm_addresses() {
	ctl --json vm list --all-pages |
	    jq -r '.vms[] | .id as $id | .nics[] | select(.ip != null) | "\(.ip) \($id)"' | sort
}

cloudd_start || exit 1

test_expect '1,023 VMs created at once, 16 requests in flight, on a /22: every create is answered 201' '
	ctl host create node1 --im dummy --vmm dummy && wait_host node1 MONITORED &&
	ctl vnet create big.net >/dev/null &&
	fire replies create $(seq 1 1023) &&
	test "$(cat replies/create.*.status | sort | uniq -c | sed "s/^ *//")" = "1023 201" &&
	jq -s "map(.id) | sort | . == [range(0; 1023)]" $(acked replies create) | grep -x true
'

test_expect '1,022 of them RUNNING; the last one created PENDING: no free address in network big (1022 of 1022 in use)' '
	wait_count RUNNING 1022 && test "$(count PENDING)" = 1 &&
	ctl --json vm list --state PENDING >p.json &&
	test "$(jq ".vms[0].id" p.json)" = 1022 &&
	test "$(jq -r ".vms[0].reason" p.json)" = "no free address in network '"'"'big'"'"' (1022 of 1022 in use)" &&
	ctl vnet list | grep -E "^ *0 +big +br0 +- +10\.20\.0\.1-10\.20\.3\.254 \(/22\) +1022 +1022 +0 +0 *$"
'

test_expect 'every address is leased once, to the VM whose NIC has it, with the MAC derived from it' '
	used_leases >leases && vm_addresses >nics &&
	test "$(wc -l <leases)" = 1022 && test_cmp leases nics &&
	test "$(cut -d" " -f1 leases | sort -u | wc -l)" = 1022 &&
	test "$(cut -d" " -f2 leases | sort -u | wc -l)" = 1022 &&
	ctl --json vnet show big | jq -r ".leases[] | \"\(.ip) \(.mac)\"" |
	    awk "{ split(\$1, o, \".\"); m = sprintf(\"02:00:%02x:%02x:%02x:%02x\", o[1], o[2], o[3], o[4]);
	           if (m != \$2) { print \"bad MAC\", \$0; bad = 1 } } END { exit bad }"
'

test_expect 'the PENDING VM takes the first address freed, the only one left' '
	ip=$(awk "\$2 == 500 { print \$1 }" leases) && test -n "$ip" &&
	ctl vm shutdown 500 && wait_vm 500 DONE && wait_vm 1022 RUNNING &&
	test "$(ctl_json ".nics[0].ip" vm show 1022)" = "$ip" &&
	used_leases >leases && vm_addresses >nics && test_cmp leases nics
'

test_expect 'SIGKILL while 100 shutdowns and 100 creates race' '
	fire crash shutdown $(seq 100 199) &
	fire crash create $(seq 1 100) &
	# Killed once 30 shutdowns are answered: the rest are in flight.
	k=0 &&
	while [ $k -lt 1000 ]; do
		set -- crash/shutdown.[0-9]*
		[ -e "$1" ] && [ $# -ge 30 ] && break
		sleep 0.01
		k=$((k + 1))
	done &&
	cloudd_kill && wait &&
	acked crash shutdown | sed "s/.*\.//" >acked.shutdown &&
	{ f=$(acked crash create); [ -z "$f" ] || jq .id $f; } >acked.create
'
echo "# acknowledged before the kill: $(wc -l <acked.shutdown 2>/dev/null) of 100 shutdowns, $(wc -l <acked.create 2>/dev/null) of 100 creates"
cp slow.conf cloudd.conf
cloudd_start || exit 1

test_expect 'after the restart: every acknowledged create and shutdown is there, leases match the VMs, none twice' '
	used_leases >leases && vm_addresses >nics && test_cmp leases nics &&
	test "$(cut -d" " -f1 leases | sort -u | wc -l)" = "$(wc -l <leases)" &&
	ctl --json vm list --all-pages | jq -r ".vms[] | \"\(.id) \(.state)\"" >states &&
	for id in $(cat acked.create); do
		grep -q "^$id " states || fail "acknowledged VM $id is missing" || exit 1
	done &&
	for id in $(cat acked.shutdown); do
		s=$(awk -v id="$id" "\$1 == id { print \$2 }" states) &&
		case ${s:-DONE} in
		SHUTDOWN|EPILOG) ;;
		DONE) test "$(ctl_json .state vm show "$id")" = DONE ||
		    fail "acknowledged VM $id is missing" ;;
		*) fail "VM $id is $s after an acknowledged shutdown" ;;
		esac || exit 1
	done &&
	cloudd_stop
'
cp fast.conf cloudd.conf
cloudd_start || exit 1

# A step reaches the driver only once its turn is committed: no VM was
# shut down on its host while the store still said RUNNING (it would be
# found POWEROFF).
test_expect 'everything settles: the shutdowns end, the addresses they free go to the waiting VMs, all distinct' '
	for s in PROLOG BOOT SHUTDOWN EPILOG; do wait_count $s 0 || exit 1; done &&
	ctl --json vm list --all-pages | jq -r ".vms[] | \"\(.id) \(.state)\"" >states &&
	for id in $(cat acked.shutdown); do
		! grep -q "^$id " states || fail "VM $id is not DONE" || exit 1
	done &&
	live=$(wc -l <states) &&
	if [ "$live" -gt 1022 ]; then want=1022; else want=$live; fi &&
	end=$(( $(date +%s) + 120 )) &&
	until used_leases >leases && [ "$(wc -l <leases)" = "$want" ]; do
		[ "$(date +%s)" -lt "$end" ] ||
		    fail "$(wc -l <leases) addresses leased, not $want" || exit 1
		sleep 0.2
	done &&
	vm_addresses >nics && test_cmp leases nics &&
	test "$(cut -d" " -f1 leases | sort -u | wc -l)" = "$want" &&
	test "$(count PENDING)" = $((live - want)) &&
	test "$(count POWEROFF)" = 0 &&
	echo "$live $want $(count RUNNING)" >settled
'
read live want run <settled 2>/dev/null &&
echo "# settled: $live VMs, $want with an address ($run of them RUNNING), $((live - want)) waiting for one"

test_done
