#!/bin/sh
# Crash recovery: cloudd killed with SIGKILL while VMs are in PROLOG, BOOT,
# SHUTDOWN and EPILOG (slow dummy drivers hold them there) comes back and
# takes every VM to the state it was going to; nothing it acknowledged is
# lost.  The dummy hypervisor keeps its domains in a file (STATE), as a real
# hypervisor keeps them when the manager dies.
. "$top_srcdir/t/lib/test-lib.sh"
command -v jq >/dev/null || skip_all "jq is not installed (tools/install-deps installs it)"

# The same drivers twice: slow (to be caught in the middle) and fast.
drivers() {
	cat <<CONF
MONITOR_INTERVAL = 0.3
SCHED = [ INTERVAL = 0.2 ]
VMM_DRIVER = [ NAME = "dummy", STATE = "$TEST_DIR/domains" $1 ]
IM_DRIVER = [ NAME = "dummy", TOTALCPU = 800, TOTALMEMORY = 8388608 ]
TM_DRIVER = [ NAME = "dummy" $2 ]
NET_DRIVER = [ NAME = "dummy" ]
CONF
}
drivers "" "" | write_conf
cp cloudd.conf fast.conf
drivers ', DEPLOY_DELAY = 60, SHUTDOWN_DELAY = 60' ', CLONE_DELAY = 60, DELETE_DELAY = 60' | write_conf
cp cloudd.conf slow.conf

printf 'CPU = 0.25\nMEMORY = 128\nDISK = [ SOURCE = "/img/a", TARGET = "xvda" ]\n' >disk.tmpl
printf 'CPU = 0.25\nMEMORY = 128\n' >nodisk.tmpl

use() { cp "$1" cloudd.conf; }

use fast.conf
cloudd_start || exit 1

test_expect 'before the crash: three VMs running' '
	ctl host create node1 --im dummy --vmm dummy &&
	ctl host create node2 --im dummy --vmm dummy &&
	r=$(ctl vm create nodisk.tmpl) && s=$(ctl vm create nodisk.tmpl) &&
	e=$(ctl vm create nodisk.tmpl) &&
	wait_vm "$r" RUNNING && wait_vm "$s" RUNNING && wait_vm "$e" RUNNING &&
	echo "$r $s $e" >ids && cloudd_stop
'
read r s e <ids

use slow.conf
cloudd_start || exit 1

test_expect 'VMs caught in PROLOG, BOOT, SHUTDOWN and EPILOG' '
	p=$(ctl vm create disk.tmpl) && b=$(ctl vm create nodisk.tmpl) &&
	ctl vm shutdown "$s" && ctl vm delete "$e" &&
	wait_vm "$p" PROLOG && wait_vm "$b" BOOT &&
	wait_vm "$s" SHUTDOWN && wait_vm "$e" EPILOG &&
	echo "$p $b" >ids2
'
read p b <ids2

test_expect 'SIGKILL right after acknowledged creates: each id answered exists after restart' '
	: >acked &&
	for i in 1 2 3 4 5 6 7 8 9 10; do ctl vm create --hold nodisk.tmpl >>acked || break; done &&
	cloudd_kill && test "$(wc -l <acked)" = 10
'

use fast.conf
cloudd_start || exit 1

test_expect 'after restart every VM reaches its state: PROLOG and BOOT -> RUNNING' '
	wait_vm "$p" RUNNING && wait_vm "$b" RUNNING &&
	ctl vm log "$p" >log && test_grep log "cloudd restarted: running tm prolog again"
'

test_expect 'SHUTDOWN and EPILOG -> DONE, and the hypervisor has no trace of them' '
	wait_vm "$s" DONE && wait_vm "$e" DONE &&
	! grep -w "cld-$s" "$TEST_DIR/domains" && ! grep -w "cld-$e" "$TEST_DIR/domains"
'

test_expect 'the VM that was RUNNING is still RUNNING' '
	sleep 1 && test "$(ctl_json .state vm show "$r")" = RUNNING
'

test_expect 'every acknowledged create is there, on HOLD' '
	for id in $(cat acked); do
		test "$(ctl_json .state vm show "$id")" = HOLD || exit 1
	done
'

test_expect 'capacity is rebuilt from the VMs: rvm counts every VM on a host' '
	total=$(( $(ctl_json .rvm host show node1) + $(ctl_json .rvm host show node2) )) &&
	test "$total" = 3
'

test_expect 'a VM killed in the middle of a migration ends on one host' '
	m=$(ctl vm create nodisk.tmpl) && wait_vm "$m" RUNNING &&
	from=$(ctl_json .host vm show "$m") &&
	if [ "$from" = node1 ]; then to=node2; else to=node1; fi &&
	ctl vm migrate --live "$m" "$to" && cloudd_kill &&
	cloudd_start && wait_vm "$m" RUNNING &&
	test "$(grep -c -w "cld-$m" "$TEST_DIR/domains")" = 1 &&
	total=$(( $(ctl_json .rvm host show node1) + $(ctl_json .rvm host show node2) )) &&
	test "$total" = 4
'

test_done
