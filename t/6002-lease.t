#!/bin/sh
# The lease pipeline end to end through cloudd and cloudctl, on dummy
# drivers: hosts monitored, VMs placed, prepared, booted, acted on and
# ended, every allowed transition of the state machine and a sample of
# refused ones.
. "$top_srcdir/t/lib/test-lib.sh"
command -v jq >/dev/null || skip_all "jq is not installed (tools/install-deps installs it)"

write_conf <<CONF
MONITOR_INTERVAL = 0.3
SCHED = [ INTERVAL = 0.2 ]
TIMEOUT = [ BOOT = 1, SHUTDOWN = 60 ]
VMM_DRIVER = [ NAME = "dummy" ]
VMM_DRIVER = [ NAME = "hangs", MODULE = "dummy", HANG = "deploy" ]
VMM_DRIVER = [ NAME = "stubborn", MODULE = "dummy", SHUTDOWN_FAIL = "the guest ignored ACPI" ]
VMM_DRIVER = [ NAME = "slowshut", MODULE = "dummy", HANG = "shutdown" ]
IM_DRIVER = [ NAME = "small", MODULE = "dummy", TOTALCPU = 200, TOTALMEMORY = 2097152, USEDCPU = 50, USEDMEMORY = 524288 ]
IM_DRIVER = [ NAME = "big", MODULE = "dummy", TOTALCPU = 800, TOTALMEMORY = 8388608 ]
IM_DRIVER = [ NAME = "down", MODULE = "dummy", MONITOR_FAIL = "no route to host" ]
TM_DRIVER = [ NAME = "dummy" ]
TM_DRIVER = [ NAME = "broken", MODULE = "dummy", CLONE_FAIL = "disk full on the host" ]
NET_DRIVER = [ NAME = "dummy" ]
CONF

cat >small.tmpl <<EOF
NAME = "small"
CPU = 0.5
MEMORY = 512
DISK = [ SOURCE = "/srv/images/debian.img", TARGET = "xvda" ]
EOF

cloudd_start || exit 1

test_expect 'hosts are created and monitored; host list shows both capacity views' '
	ctl host create node1 --im small --vmm dummy &&
	ctl host create node2 --im big --vmm dummy &&
	wait_host node1 MONITORED && wait_host node2 MONITORED &&
	ctl host list >out &&
	head -1 out | grep -E "^ *ID +NAME +CLUSTER +RVM +TCPU +FCPU +ACPU +TMEM +FMEM +AMEM +STAT *$" &&
	grep -E "^ *0 +node1 +default +0 +200 +150 +200 +2.0G +1.5G +2.0G +on *$" out &&
	grep -E "^ *1 +node2 +default +0 +800 +800 +800 +8.0G +8.0G +8.0G +on *$" out
'

test_expect 'a VM is placed, prepared, booted and RUNNING, with its history' '
	id=$(ctl vm create small.tmpl) && test "$id" = 0 &&
	wait_vm 0 RUNNING &&
	ctl --json vm show 0 >show.json &&
	test "$(jq -r .host show.json)" != null &&
	test "$(jq -r ".history | length" show.json)" = 1 &&
	test "$(jq -r ".history[0].boot_end > 0" show.json)" = true &&
	ctl vm log 0 >log && test_grep log "tm prolog" && test_grep log "vmm deploy" &&
	test_grep log "state RUNNING"
'

test_expect 'packing (the default) puts the second VM on the same host, and host list counts it' '
	ctl vm create small.tmpl >/dev/null && wait_vm 1 RUNNING &&
	h0=$(ctl_json .host vm show 0) && h1=$(ctl_json .host vm show 1) &&
	test "$h0" = "$h1" &&
	test "$(ctl_json ".rvm" host show "$h0")" = 2 &&
	test "$(ctl_json ".amem" host show "$h0")" -eq $(( $(ctl_json ".tmem" host show "$h0") - 1048576 ))
'

test_expect 'shutdown ends the lease: SHUTDOWN, EPILOG, DONE, capacity given back' '
	h=$(ctl_json .host vm show 1) &&
	ctl vm shutdown 1 && wait_vm 1 DONE &&
	test "$(ctl_json ".rvm" host show "$h")" = 1 &&
	ctl vm log 1 >log && test_grep log "vmm shutdown" && test_grep log "tm delete" &&
	test "$(ctl_json ".history[0].reason" vm show 1)" = done
'

test_expect 'poweroff keeps the VM on its host; resume boots it again' '
	ctl vm poweroff 0 && wait_vm 0 POWEROFF &&
	test "$(ctl_json ".rvm" host show "$(ctl_json .host vm show 0)")" = 1 &&
	ctl vm resume 0 && wait_vm 0 RUNNING
'

test_expect 'suspend and resume; reboot keeps it RUNNING' '
	ctl vm suspend 0 && wait_vm 0 SUSPENDED &&
	ctl vm resume 0 && wait_vm 0 RUNNING &&
	ctl vm reboot 0 && wait_vm 0 RUNNING &&
	ctl vm reboot --hard 0 && wait_vm 0 RUNNING
'

test_expect 'stop frees the host; resume places it again and restores it' '
	ctl vm stop 0 && wait_vm 0 STOPPED &&
	test "$(ctl_json .host vm show 0)" = null &&
	ctl vm resume 0 && wait_vm 0 RUNNING &&
	ctl vm log 0 >log && test_grep log "vmm restore"
'

test_expect 'cold and live migration move the VM and add history records' '
	from=$(ctl_json .host vm show 0) &&
	if [ "$from" = node1 ]; then to=node2; else to=node1; fi &&
	ctl vm migrate 0 "$to" && wait_vm 0 RUNNING &&
	test "$(ctl_json .host vm show 0)" = "$to" &&
	test "$(ctl_json ".rvm" host show "$from")" = 0 &&
	ctl vm migrate --live 0 "$from" && wait_vm 0 RUNNING &&
	test "$(ctl_json .host vm show 0)" = "$from" &&
	ctl --json vm show 0 >show.json &&
	test "$(jq -r "[.history[].reason] | join(\",\")" show.json)" = "stopped,migrated,migrated,"
'

test_expect 'hold and release; the admin deploys a VM on a chosen host' '
	id=$(ctl vm create --hold small.tmpl) && wait_vm "$id" HOLD &&
	ctl vm release "$id" && wait_vm "$id" RUNNING &&
	id=$(ctl vm create --hold small.tmpl) &&
	ctl vm deploy "$id" node2 && wait_vm "$id" RUNNING &&
	test "$(ctl_json .host vm show "$id")" = node2
'

test_expect 'refused transitions say why and change nothing (exit 1)' '
	id=$(ctl vm create --hold small.tmpl) &&
	{ ctl vm shutdown "$id" 2>err; test $? -eq 1; } &&
	test_grep err "cannot shutdown VM $id: it is HOLD" &&
	{ ctl vm resume 0 2>err; test $? -eq 1; } &&
	test_grep err "cannot resume VM 0: it is RUNNING" &&
	{ ctl vm release 0 2>err; test $? -eq 1; } &&
	{ ctl vm suspend "$id" 2>err; test $? -eq 1; } &&
	wait_vm "$id" HOLD && wait_vm 0 RUNNING
'

test_expect 'delete works from PENDING, HOLD and RUNNING' '
	id=$(ctl vm create --hold small.tmpl) && ctl vm delete "$id" && wait_vm "$id" DONE &&
	ctl vm delete 0 && wait_vm 0 DONE &&
	test "$(ctl_json ".history[-1].reason" vm show 0)" = deleted
'

test_expect 'a VM too big for any host stays PENDING and says why' '
	printf "CPU = 1\nMEMORY = 65536\n" >huge.tmpl &&
	id=$(ctl vm create huge.tmpl) && sleep 1 &&
	test "$(ctl_json .state vm show "$id")" = PENDING &&
	ctl_json .reason vm show "$id" | grep "not enough free memory on any of 2 hosts" &&
	ctl vm delete "$id"
'

test_expect 'a failed transfer leaves the VM FAILED with the reason; recover --retry after switching the cluster' '
	ctl cluster create rack2 --tm broken --net dummy &&
	ctl host create node3 --im big --vmm dummy --cluster rack2 &&
	wait_host node3 MONITORED &&
	id=$(ctl vm create --hold small.tmpl) &&
	ctl vm deploy "$id" node3 && wait_vm "$id" FAILED &&
	ctl_json .reason vm show "$id" >reason &&
	test_grep reason "PROLOG: tm prolog on '"'"'node3'"'"' failed: disk '"'"'/var/lib/cloudd/datastore/$id/disk.0'"'"': disk full on the host" &&
	test "$(ctl_json .failed vm show "$id")" = PROLOG &&
	ctl cluster set rack2 --tm dummy &&
	ctl vm recover --retry "$id" && wait_vm "$id" RUNNING &&
	ctl vm delete "$id" && wait_vm "$id" DONE
'

test_expect 'recover --success and --delete' '
	ctl cluster set rack2 --tm broken &&
	id=$(ctl vm create --hold small.tmpl) &&
	ctl vm deploy "$id" node3 && wait_vm "$id" FAILED &&
	ctl vm recover --success "$id" && wait_vm "$id" RUNNING &&
	{ ctl vm recover --failure "$id" 2>err; test $? -eq 1; } &&
	test_grep err "it is RUNNING, not FAILED" &&
	id=$(ctl vm create --hold small.tmpl) &&
	ctl vm deploy "$id" node3 && wait_vm "$id" FAILED &&
	{ ctl vm recover --failure "$id" 2>err; test $? -eq 1; } &&
	test_grep err "already FAILED" &&
	ctl vm recover --delete "$id" && wait_vm "$id" DONE
'

test_expect 'a hung deploy fails at its deadline, named in the reason' '
	ctl host create node4 --im big --vmm hangs &&
	wait_host node4 MONITORED &&
	id=$(ctl vm create --hold small.tmpl) &&
	ctl vm deploy "$id" node4 && wait_vm "$id" FAILED 10 &&
	ctl_json .reason vm show "$id" | grep "BOOT: vmm deploy on '"'"'node4'"'"' failed: timed out after 1 s" &&
	ctl vm recover --delete "$id" && wait_vm "$id" DONE
'

test_expect 'a guest that ignores ACPI is destroyed: the lease still ends' '
	ctl host create node5 --im big --vmm stubborn && wait_host node5 MONITORED &&
	id=$(ctl vm create --hold small.tmpl) &&
	ctl vm deploy "$id" node5 && wait_vm "$id" RUNNING &&
	ctl vm shutdown "$id" && wait_vm "$id" DONE 20 &&
	ctl vm log "$id" >log &&
	test_grep log "shutdown did not complete (the guest ignored ACPI): destroying" &&
	test_grep log "vmm destroy"
'

test_expect 'poweroff pre-empts a shutdown in progress' '
	ctl host create node7 --im big --vmm slowshut && wait_host node7 MONITORED &&
	id=$(ctl vm create --hold small.tmpl) &&
	ctl vm deploy "$id" node7 && wait_vm "$id" RUNNING &&
	ctl vm shutdown "$id" && ctl vm poweroff "$id" && wait_vm "$id" DONE 10 &&
	ctl vm log "$id" >log && test_grep log "pre-empted"
'

test_expect 'a host that cannot be monitored goes to ERROR with the reason' '
	ctl host create node6 --im down --vmm dummy && wait_host node6 ERROR &&
	test "$(ctl_json .error host show node6)" = "no route to host" &&
	ctl host list | grep -E "^ *[0-9]+ +node6 .* err *$"
'

test_expect 'a host with VMs cannot be deleted; an idle one can' '
	id=$(ctl vm create --hold small.tmpl) && ctl vm deploy "$id" node2 &&
	wait_vm "$id" RUNNING &&
	{ ctl host delete node2 2>err; test $? -eq 1; } &&
	test_grep err "still has" &&
	ctl host delete node6 && { ctl host show node6 2>err; test $? -eq 4; }
'

test_expect 'disable keeps VMs off a host; enable lets them back' '
	ctl host disable node1 && ctl host disable node2 && ctl host disable node3 &&
	ctl host disable node4 && ctl host disable node5 && ctl host disable node7 &&
	id=$(ctl vm create small.tmpl) && sleep 0.5 &&
	test "$(ctl_json .state vm show "$id")" = PENDING &&
	ctl_json .reason vm show "$id" | grep "no enabled host" &&
	ctl host enable node1 && wait_vm "$id" RUNNING &&
	test "$(ctl_json .host vm show "$id")" = node1
'

test_expect 'vm list lines up, and --json has every VM' '
	ctl vm list >out &&
	head -1 out | grep -E "^ *ID +USER +NAME +STAT +CPU +MEM +HOST +TIME *$" &&
	n=$(ctl_json .total vm list) && test "$n" -ge 2 &&
	test "$(grep -c " runn " out)" = "$(ctl --json vm list --state RUNNING | jq ".vms | length")"
'

test_expect 'SIGTERM stops cloudd cleanly' '
	ctl --json vm list --state RUNNING | jq -r ".vms[].id" >running &&
	test -s running &&
	cloudd_stop && test ! -e "$TEST_DIR/cloudd.sock"
'

# The dummy hypervisor without STATE forgets its domains with the process:
# after a restart, polling finds every running VM gone.
cloudd_start || exit 1
test_expect 'VMs the hypervisor no longer knows are found by polling: POWEROFF, with why' '
	for id in $(cat running); do
		wait_vm "$id" POWEROFF 10 || exit 1
		ctl_json .reason vm show "$id" | grep "unknown to the hypervisor" || exit 1
	done &&
	ctl vm resume "$(head -1 running)" && wait_vm "$(head -1 running)" RUNNING
'

test_done
