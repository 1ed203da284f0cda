#!/bin/sh
# Real VMs leased through cloudd: vmm/libvirt and im/libvirt reach a
# libvirtd in each of two fake hosts over qemu+ssh (t/lib/testbed.sh,
# TB_LIBVIRT), the tiny guest (t/lib/guest.sh) runs under TCG.  The VMs
# boot and answer ping from the front-end, show RUNNING with the CPU and
# memory libvirt measures; one is shut down by ACPI; one is live-migrated
# to the other host while it keeps answering ping (same boot); the rest are
# deleted and nothing is left on the hosts.
. "$top_srcdir/t/lib/test-lib.sh"
. "$top_srcdir/t/lib/testbed.sh"
. "$top_srcdir/t/lib/guest.sh"

# Generous deadlines: a TCG boot takes 6 s on an idle machine, several
# times that on a busy 2-core one.
BOOT_SECS=240

[ -f "$top_builddir/drivers/vmm/vmm_libvirt.la" ] ||
	skip_all "cloudd was built without libvirt (configure found no libvirt or libxml2)"
command -v jq >/dev/null || skip_all "jq is not installed (tools/install-deps installs it)"
why=$(guest_lacks)
[ -z "$why" ] || skip_all "$why"
guest_build || { echo "Bail out! cannot build the tiny guest"; exit 1; }
TB_LIBVIRT=1 testbed_up 2 || { echo "Bail out! testbed_up failed"; exit 1; }

URI="qemu+ssh://HOST/system?command=$TB_LIBVIRT_SSH"
write_conf <<CONF
MONITOR_INTERVAL = 2
SCHED = [ POLICY = "striping", INTERVAL = 0.5 ]
TIMEOUT = [ BOOT = 120, SHUTDOWN = 60, MIGRATE = 180, MONITOR = 60 ]
VMM_DRIVER = [ NAME = "libvirt", URI = "$URI", TYPE = "qemu" ]
IM_DRIVER = [ NAME = "libvirt", URI = "$URI" ]
TM_DRIVER = [ NAME = "dummy" ]
NET_DRIVER = [ NAME = "dummy" ]
CONF
cloudd_start || exit 1

GW=$TB_NET.1
: >ping.pid
test_cleanup 'p=$(cat "$TEST_DIR/ping.pid"); [ -z "$p" ] || kill "$p"'

# Run CMD... until it succeeds, at most SECS seconds.
wait_until() {
	secs=$1
	shift
	end=$(( $(date +%s) + secs ))
	until "$@"; do
		[ "$(date +%s)" -lt "$end" ] || { echo "still not true after $secs s: $*"; return 1; }
		sleep 0.2
	done
}
domains() {
	tb_virsh_sock "$1" list --all --name | tr -d '\n'
}
usage_ok() {
	ctl --json vm show "$1" | jq -e '.usage.cpu > 0 and .usage.memory > 0' >/dev/null
}
on_host() {
	test "$(ctl_json .host vm show "$1")" = "$2"
}
# The VM with id ID's address (guest N is VM N-1: created in order).
addr_of() {
	guest_addr $(($1 + 1))
}

test_expect 'two hosts monitored through im/libvirt over ssh, each its own QEMU' '
	for h in node1 node2; do
		ctl host create $h --im libvirt --vmm libvirt >/dev/null &&
		wait_host $h MONITORED 120 || exit 1
	done &&
	ctl --json host show node1 | jq -e ".tcpu > 0 and .tmem > 0" &&
	ctl --json host show node2 >node2.json &&
	jq -r ".attributes.HOSTNAME, .attributes.HYPERVISOR" node2.json >attrs && cat attrs &&
	test_grep attrs node2 && grep -iE "^(qemu|kvm)$" attrs
'

test_expect 'three real VMs lease, boot, and answer ping from the front-end' '
	for n in 1 2 3; do
		guest_template g$n "$(guest_mac $n)" "$(guest_addr $n)/24" "$GW" >g$n.tmpl &&
		ctl vm create g$n.tmpl >/dev/null || exit 1
	done &&
	for id in 0 1 2; do wait_vm $id RUNNING $BOOT_SECS || exit 1; done &&
	for id in 0 1 2; do guest_wait_ping $(addr_of $id) $BOOT_SECS || exit 1; done &&
	ctl vm list >list && cat list &&
	test "$(grep -c " runn " list)" = 3 &&
	grep -q " node1 " list && grep -q " node2 " list
'

test_expect 'RUNNING VMs show the CPU and memory libvirt measures' '
	for id in 0 1 2; do wait_until 60 usage_ok $id || exit 1; done &&
	ctl --json vm show 0 | jq -e ".usage.memory > 100000"
'

test_expect 'vm shutdown: the guest powers off by ACPI, the lease ends, the domain goes' '
	h=$(ctl_json .host vm show 0) &&
	guest_wait_ready $(addr_of 0) $BOOT_SECS &&
	ctl vm shutdown 0 && wait_vm 0 DONE 90 &&
	! ctl vm log 0 | grep -q "destroy" &&
	! ping -c 1 -W 1 $(addr_of 0) >/dev/null &&
	! domains $h | grep -q "cld-0"
'

test_expect 'live migration: the VM moves while it answers ping, without rebooting' '
	src=$(ctl_json .host vm show 1) &&
	if [ $src = node1 ]; then dst=node2; else dst=node1; fi &&
	a=$(addr_of 1) && guest_wait_ready $a $BOOT_SECS &&
	guest_status $a >before && cat before &&
	{ ping -D -O -i 0.2 -W 1 $a >ping.log 2>&1 & echo $! >ping.pid; } &&
	wait_until 30 grep -q "bytes from" ping.log &&
	ctl vm migrate --live 1 $dst &&
	wait_until 180 on_host 1 $dst &&
	wait_vm 1 RUNNING 30 &&
	sleep 2 && kill -INT "$(cat ping.pid)" && : >ping.pid &&
	wait_until 10 grep -q "packets transmitted" ping.log &&
	guest_status $a >after && cat after &&
	test "$(grep boot_id before)" = "$(grep boot_id after)" &&
	domains $dst | grep -q "cld-1" && ! domains $src | grep -q "cld-1" &&
	awk -F"[][]" "/bytes from/ { t = \$2; if (p && t - p > g) g = t - p; p = t }
	    END { exit !(g < 10) }" ping.log
'
if [ -f ping.log ]; then
	sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' ping.log)
	got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' ping.log)
	echo "# live migration through cloudd, pings every 0.2 s: ${sent:-?} sent, ${got:-?} answered"
fi

test_expect 'the rest are deleted; nothing is left on the hosts' '
	ctl vm delete 1 && ctl vm delete 2 &&
	wait_vm 1 DONE 90 && wait_vm 2 DONE 90 &&
	for h in node1 node2; do
		test -z "$(domains $h)" && test -z "$(tb_qemu_pids $h)" || exit 1
	done
'

test_done
