#!/bin/sh
# cloudd with vmm/libvirt and im/libvirt on libvirt's test driver: each
# host is test:///$TEST_DIR/HOST.xml, a hypervisor inside cloudd described
# by its own node file (8, 4 and 2 cores).  VMs are leased, listed, acted
# on and moved through the real libvirt API; the host sizes and the VMs'
# figures come from libvirt.  The test driver cannot migrate live: the
# test checks that cloudd says so in libvirt's words and keeps the VM.
. "$top_srcdir/t/lib/test-lib.sh"
command -v jq >/dev/null || skip_all "jq is not installed (tools/install-deps installs it)"
[ -f "$top_builddir/drivers/vmm/vmm_libvirt.la" ] ||
	skip_all "the libvirt drivers are not built (configure found no libvirt or libxml2)"

# node NAME CORES MHZ KiB: the test driver's description of host NAME.
node() {
	cat >"$TEST_DIR/$1.xml" <<EOF
<node>
  <cpu><mhz>$3</mhz><model>x86_64</model><active>$2</active><nodes>1</nodes>
       <sockets>1</sockets><cores>$2</cores><threads>1</threads></cpu>
  <memory>$4</memory>
</node>
EOF
}
node node1 8 2400 16777216
node node2 4 2000 8388608
node node3 2 1800 4194304

write_conf <<CONF
MONITOR_INTERVAL = 0.5
SCHED = [ POLICY = "striping", INTERVAL = 0.2 ]
DATASTORE = "$TEST_DIR/datastore"
VMM_DRIVER = [ NAME = "libvirt", URI = "test://$TEST_DIR/HOST.xml", TYPE = "qemu" ]
IM_DRIVER = [ NAME = "libvirt", URI = "test://$TEST_DIR/HOST.xml" ]
TM_DRIVER = [ NAME = "dummy" ]
NET_DRIVER = [ NAME = "dummy" ]
CONF

cat >web.tmpl <<EOF
NAME = "web"
CPU = 0.5
MEMORY = 512
DISK = [ SOURCE = "/srv/images/debian.img", TARGET = "vda" ]
NIC = [ BRIDGE = "br0", MAC = "02:00:0a:63:00:05" ]
FEATURES = [ ACPI = yes ]
EOF

# tm/dummy copies nothing; on a real host the transfer driver makes the
# VM's directory, where a save writes its checkpoint.  The test driver
# runs inside cloudd and writes on this machine: make it here.
vmdir() {
	mkdir -p "$TEST_DIR/datastore/$1"
}

# The number of VMs cloudd lists as RUNNING on HOST.
running_on() {
	ctl --json vm list --state RUNNING | jq "[.vms[] | select(.host == \"$1\")] | length"
}

# Wait until the VALUE of jq path Q in "host show HOST" is V (10 s).
wait_host_attr() {
	i=0
	while [ "$(ctl_json "$2" host show "$1")" != "$3" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "host $1: $2 is $(ctl_json "$2" host show "$1"), not $3" >&2; return 1; }
		sleep 0.1
	done
}

cloudd_start || exit 1

test_expect 'three hosts monitored through libvirt: sizes from their node descriptions' '
	for h in node1 node2 node3; do
		ctl host create $h --im libvirt --vmm libvirt || return 1
	done &&
	wait_host node1 MONITORED && wait_host node2 MONITORED &&
	wait_host node3 MONITORED &&
	ctl host list >out &&
	grep -E "^ *0 +node1 +default +0 +800 +800 +800 +16.0G +16.0G +16.0G +on *$" out &&
	grep -E "^ *1 +node2 +default +0 +400 +400 +400 +8.0G +8.0G +8.0G +on *$" out &&
	grep -E "^ *2 +node3 +default +0 +200 +200 +200 +4.0G +4.0G +4.0G +on *$" out &&
	test "$(ctl_json .attributes.HYPERVISOR host show node1)" = test &&
	test "$(ctl_json .attributes.CPUSPEED host show node2)" = 2000
'

test_expect 'six VMs lease and run: vm list shows them RUNNING, spread over the hosts' '
	for i in 1 2 3 4 5 6; do ctl vm create web.tmpl >/dev/null || return 1; done &&
	for i in 0 1 2 3 4 5; do wait_vm $i RUNNING || return 1; done &&
	ctl vm list >out &&
	test "$(grep -c " runn " out)" = 6 &&
	test "$(running_on node1)" = 2 && test "$(running_on node2)" = 2 &&
	test "$(running_on node3)" = 2 &&
	ctl --json vm show 0 >show.json &&
	test "$(jq -r .history[0].boot_end show.json)" -gt 0 &&
	ctl vm log 0 >log && test_grep log "vmm deploy"
'

test_expect 'the figures come from libvirt: memory per VM, the hosts'"'"' memory in use' '
	# 512 MiB each: the test driver has no resident size, so its allocation.
	for i in 0 1 2 3 4 5; do
		test "$(ctl_json .usage.memory vm show $i)" = 524288 || return 1
	done &&
	# Two VMs of 512 MiB on each host: what the test driver reports in use.
	wait_host_attr node3 .attributes.USEDMEMORY 1048576 &&
	wait_host_attr node3 .fmem 3145728 &&
	ctl host list >out &&
	grep -E "^ *2 +node3 +default +2 +200 +[0-9]+ +100 +4.0G +3.0G +3.0G +on *$" out
'

test_expect 'a VM'"'"'s CPU use is measured from libvirt'"'"'s CPU time' '
	# The test driver'"'"'s CPU time runs with the clock: one core, 100%.
	i=0
	while ! ctl_json .usage.cpu vm show 0 | awk "{ exit !(\$1 > 50 && \$1 < 150) }"; do
		i=$((i + 1))
		[ $i -lt 50 ] || { ctl --json vm show 0; return 1; }
		sleep 0.1
	done &&
	ctl vm show 0 >out && test_grep out "RUNNING"
'

test_expect 'suspend and resume; reboot and reboot --hard keep it RUNNING' '
	ctl vm suspend 1 && wait_vm 1 SUSPENDED &&
	ctl vm resume 1 && wait_vm 1 RUNNING &&
	ctl vm reboot 1 && wait_vm 1 RUNNING &&
	ctl vm reboot --hard 1 && wait_vm 1 RUNNING &&
	ctl vm log 1 >log && test_grep log "vmm suspend" && test_grep log "vmm resume"
'

test_expect 'shutdown (ACPI) ends the lease and the domain: the host'"'"'s memory in use drops' '
	h=$(ctl_json .host vm show 2) &&
	used=$(ctl_json .attributes.USEDMEMORY host show "$h") &&
	ctl vm shutdown 2 && wait_vm 2 DONE &&
	test "$(ctl_json .history[0].reason vm show 2)" = done &&
	wait_host_attr "$h" .attributes.USEDMEMORY $((used - 524288)) &&
	ctl vm log 2 >log && test_grep log "vmm shutdown"
'

test_expect 'poweroff destroys the domain; delete ends it' '
	h=$(ctl_json .host vm show 3) &&
	used=$(ctl_json .attributes.USEDMEMORY host show "$h") &&
	ctl vm poweroff 3 && wait_vm 3 POWEROFF &&
	wait_host_attr "$h" .attributes.USEDMEMORY $((used - 524288)) &&
	ctl vm delete 3 && wait_vm 3 DONE
'

test_expect 'cold migration: saved on one host, restored on the other' '
	from=$(ctl_json .host vm show 4) &&
	if [ "$from" = node1 ]; then to=node2; else to=node1; fi &&
	vmdir 4 &&
	ctl vm migrate 4 "$to" && wait_vm 4 RUNNING &&
	test "$(ctl_json .host vm show 4)" = "$to" &&
	test -s "$TEST_DIR/datastore/4/checkpoint" &&
	ctl vm log 4 >log && test_grep log "vmm save" && test_grep log "vmm restore" &&
	test "$(ctl_json ".history[0].reason" vm show 4)" = migrated
'

test_expect 'live migration: the test driver cannot, cloudd says so in libvirt'"'"'s words and keeps the VM' '
	from=$(ctl_json .host vm show 4) &&
	if [ "$from" = node1 ]; then to=node3; else to=node1; fi &&
	ctl vm migrate --live 4 "$to" &&
	i=0 &&
	while [ "$(ctl_json .reason vm show 4)" = null ]; do
		i=$((i + 1)); [ $i -lt 100 ] || return 1; sleep 0.1
	done &&
	wait_vm 4 RUNNING && test "$(ctl_json .host vm show 4)" = "$from" &&
	ctl_json .reason vm show 4 >reason &&
	test_grep reason "libvirt: this function is not supported by the connection driver: virDomainMigrate3"
'

test_expect 'stop saves the VM and frees the host; resume restores it' '
	vmdir 5 &&
	ctl vm stop 5 && wait_vm 5 STOPPED &&
	test "$(ctl_json .host vm show 5)" = null &&
	ctl vm resume 5 && wait_vm 5 RUNNING
'

test_expect 'a deploy libvirt refuses leaves the VM FAILED with libvirt'"'"'s words' '
	cat >bad.tmpl <<-EOF &&
	NAME = "bad"
	MEMORY = 128
	RAW = [ TYPE = "kvm", DATA = "<devices><bogus/></devices>" ]
	EOF
	id=$(ctl vm create bad.tmpl) && wait_vm "$id" FAILED &&
	test "$(ctl_json .failed vm show "$id")" = BOOT &&
	ctl vm show "$id" >out &&
	test_grep out "libvirt: XML document failed to validate against schema" &&
	ctl vm delete "$id" && wait_vm "$id" DONE
'

test_expect 'a bad MAC is refused at create, with its line and column' '
	cat >badmac.tmpl <<-EOF &&
	MEMORY = 128
	NIC = [ BRIDGE = "br0", MAC = "02:00:zz:00:00:01" ]
	EOF
	! ctl vm create badmac.tmpl 2>err &&
	test_grep err "line 2, column 25: NIC MAC '"'"'02:00:zz:00:00:01'"'"' is not a MAC address"
'

test_expect 'a bad template value fails the deploy naming the attribute' '
	cat >badkernel.tmpl <<-EOF &&
	MEMORY = 128
	OS = [ KERNEL = "vmlinuz" ]
	EOF
	id=$(ctl vm create badkernel.tmpl) && wait_vm "$id" FAILED &&
	ctl_json .reason vm show "$id" >reason &&
	test_grep reason "OS: KERNEL '"'"'vmlinuz'"'"' is not an absolute path on the host" &&
	ctl vm delete "$id" && wait_vm "$id" DONE
'

test_expect 'delete ends the rest; the hosts'"'"' memory in use goes back to 0' '
	for i in 0 1 4 5; do ctl vm delete $i || return 1; done &&
	for i in 0 1 4 5; do wait_vm $i DONE || return 1; done &&
	for h in node1 node2 node3; do
		wait_host_attr $h .attributes.USEDMEMORY 0 || return 1
	done
'

test_expect 'libvirt printed nothing on cloudd'"'"'s standard error' '
	cloudd_stop &&
	! grep -E "^libvirt:|I/O warning|error :" "$TEST_DIR/cloudd.log"
'

test_done
