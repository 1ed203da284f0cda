#!/bin/sh
# The scheduler through cloudd: policies (and SIGHUP switching them),
# REQUIREMENTS with wildcards, RANK, capacity, and the reason a VM waits.
. "$top_srcdir/t/lib/test-lib.sh"
command -v jq >/dev/null || skip_all "jq is not installed (tools/install-deps installs it)"

conf() {
	write_conf <<CONF
MONITOR_INTERVAL = 0.3
SCHED = [ POLICY = "$1", INTERVAL = 0.2 ]
VMM_DRIVER = [ NAME = "dummy" ]
IM_DRIVER = [ NAME = "small", MODULE = "dummy", TOTALCPU = 400, TOTALMEMORY = 4194304, USEDCPU = 300 ]
IM_DRIVER = [ NAME = "big", MODULE = "dummy", TOTALCPU = 800, TOTALMEMORY = 16777216, USEDCPU = 100 ]
TM_DRIVER = [ NAME = "dummy" ]
NET_DRIVER = [ NAME = "dummy" ]
CONF
}
conf packing
cloudd_start || exit 1

vm() {
	printf 'CPU = %s\nMEMORY = %s\n%s\n' "$1" "$2" "${3:-}" >t.tmpl
	ctl vm create t.tmpl
}
host_of() { ctl_json .host vm show "$1"; }
running_on() { ctl --json vm list --host "$1" --state RUNNING | jq .total; }

test_expect 'two hosts are monitored' '
	ctl host create node1 --im small --vmm dummy >/dev/null &&
	ctl host create node2 --im big --vmm dummy >/dev/null &&
	wait_host node1 MONITORED && wait_host node2 MONITORED
'

test_expect 'packing: three VMs on one host' '
	a=$(vm 0.5 256) && b=$(vm 0.5 256) && c=$(vm 0.5 256) &&
	wait_vm $a RUNNING && wait_vm $b RUNNING && wait_vm $c RUNNING &&
	test "$(host_of $a)" = "$(host_of $b)" && test "$(host_of $b)" = "$(host_of $c)" &&
	for id in $a $b $c; do ctl vm delete $id; wait_vm $id DONE || exit 1; done
'

test_expect 'SIGHUP switches to striping: VMs alternate between the hosts' '
	conf striping && kill -HUP "$CLOUDD_PID" && sleep 0.5 &&
	a=$(vm 0.5 256) && wait_vm $a RUNNING &&
	b=$(vm 0.5 256) && wait_vm $b RUNNING &&
	test "$(host_of $a)" != "$(host_of $b)" &&
	for id in $a $b; do ctl vm delete $id; wait_vm $id DONE || exit 1; done
'

test_expect 'load-aware: the host with the most measured free CPU' '
	conf load-aware && kill -HUP "$CLOUDD_PID" && sleep 0.5 &&
	a=$(vm 0.5 256) && wait_vm $a RUNNING && test "$(host_of $a)" = node2 &&
	ctl vm delete $a && wait_vm $a DONE
'

test_expect 'REQUIREMENTS picks the host, with attributes from monitoring and wildcards' '
	a=$(vm 0.5 256 "REQUIREMENTS = \"NAME = \\\"node1\\\"\"") && wait_vm $a RUNNING &&
	test "$(host_of $a)" = node1 &&
	b=$(vm 0.5 256 "REQUIREMENTS = \"HYPERVISOR = \\\"dum*\\\" & TOTALCPU > 400\"") &&
	wait_vm $b RUNNING && test "$(host_of $b)" = node2 &&
	ctl vm delete $a $b && wait_vm $a DONE && wait_vm $b DONE
'

test_expect 'RANK orders the hosts: FREE_MEM prefers the big host, -FREE_MEM the small' '
	a=$(vm 0.5 256 "RANK = \"FREE_MEM\"") && wait_vm $a RUNNING &&
	test "$(host_of $a)" = node2 &&
	b=$(vm 0.5 256 "RANK = \"- FREE_MEM\"") && wait_vm $b RUNNING &&
	test "$(host_of $b)" = node1 &&
	ctl vm delete $a $b && wait_vm $a DONE && wait_vm $b DONE
'

test_expect 'admission on allocated capacity: a host full of reservations takes no more' '
	a=$(vm 4 1024 "REQUIREMENTS = \"NAME = \\\"node1\\\"\"") && wait_vm $a RUNNING &&
	b=$(vm 0.5 256 "REQUIREMENTS = \"NAME = \\\"node1\\\"\"") && sleep 1 &&
	test "$(ctl_json .state vm show $b)" = PENDING &&
	ctl_json .reason vm show $b | grep "not enough free CPU" &&
	ctl vm delete $a && wait_vm $b RUNNING && test "$(host_of $b)" = node1 &&
	ctl vm delete $b && wait_vm $b DONE
'

test_expect 'no host satisfies REQUIREMENTS: PENDING, and the reason quotes them' '
	a=$(vm 0.5 256 "REQUIREMENTS = \"HYPERVISOR = \\\"kvm\\\"\"") && sleep 1 &&
	test "$(ctl_json .state vm show $a)" = PENDING &&
	ctl_json .reason vm show $a | grep -F "no host satisfies REQUIREMENTS" &&
	ctl_json .reason vm show $a | grep -F "kvm" &&
	ctl vm delete $a
'

test_expect 'a REQUIREMENTS that does not parse is refused at create, with its column' '
	printf "CPU = 1\nMEMORY = 1\nREQUIREMENTS = \"TOTALCPU >\"\n" >bad.tmpl &&
	{ ctl vm create bad.tmpl 2>err; test $? -eq 1; } &&
	test_grep err "REQUIREMENTS: column"
'

test_done
