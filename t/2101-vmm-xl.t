#!/bin/sh
# vmm/xl on fake hosts over real ssh, with the stub xl and xm of the test
# library standing in for Xen (t/lib/xen-stub.sh: no hypervisor runs here,
# and every config it is given goes through Xen's own parser first).
#
#   cluster copy   (tm/ssh, own disks):  node1 xl, node2 xl
#   cluster shared (tm/shared):          node3 xl, node4 xm, node5 xm, node6 xl
#
# Leases on hosts with xl and hosts with only xm, what the driver wrote
# there, the figures, suspend and resume, soft and hard reboot, stop and
# resume through the front-end (save, restore), cold migration with the
# checkpoint copied, live migration with xl and with xm, a migration
# between toolstacks refused, a config Xen's parser rejects, a template
# value refused, ACPI shutdown and a guest that ignores it, a domain
# destroyed behind cloudd's back, and nothing left on the hosts.
. "$top_srcdir/t/lib/test-lib.sh"
. "$top_srcdir/t/lib/testbed.sh"
. "$top_srcdir/t/lib/xen-stub.sh"
command -v jq >/dev/null || skip_all "jq is not installed (tools/install-deps installs it)"
command -v qemu-img >/dev/null || skip_all "qemu-img is not installed (tools/install-deps installs it)"
why=$(xen_stub_lacks)
[ -z "$why" ] || skip_all "$why"

TB_SBIN=1 TB_SHARED="node3 node4 node5 node6" testbed_up 6 || exit 1
DS=$TB_DATASTORE/datastore
XEN_STUB_SHUTDOWN=0.3
for h in node1 node2 node3 node6; do xen_stub_install $h xl || exit 1; done
for h in node4 node5; do xen_stub_install $h xm || exit 1; done

# A disk image, and a kernel where each host looks for it.
mkdir -p "$TEST_DIR/images" "$TB_SHARED_DIR/images"
head -c 1048576 /dev/urandom >"$TEST_DIR/images/debian.img"
cp "$TEST_DIR/images/debian.img" "$TB_SHARED_DIR/images/debian.img"
for h in $TB_HOSTS; do
	mkdir -p "$(tb_dir $h)/boot" && echo kernel >"$(tb_dir $h)/boot/vmlinuz" || exit 1
done

write_conf <<CONF
MONITOR_INTERVAL = 1
TIMEOUT = [ MONITOR = 5, SHUTDOWN = 3 ]
SCHED = [ INTERVAL = 0.2 ]
DATASTORE = "$DS"
SSH = [ CONFIG = "$TB_SSH_CONFIG", CONNECT_TIMEOUT = 3 ]
IM_DRIVER = [ NAME = "ssh", PROBE = "$top_srcdir/drivers/im/cloudd-probe.sh" ]
VMM_DRIVER = [ NAME = "xl", SHUTDOWN_POLL = 0.1, RAW = "yes",
               MIGRATE_SSH = "ssh -F $TB_SSH_CONFIG" ]
VMM_DRIVER = [ NAME = "xlq", MODULE = "xl", DISK_FORMAT = "qcow2", SHUTDOWN_POLL = 0.1,
               MIGRATE_SSH = "ssh -F $TB_SSH_CONFIG" ]
TM_DRIVER = [ NAME = "ssh", DATASTORE = "$DS", SSH_CONFIG = "$TB_SSH_CONFIG" ]
TM_DRIVER = [ NAME = "shared", DATASTORE = "$TB_DATASTORE", FRONTEND_DATASTORE = "$TB_SHARED_DIR" ]
NET_DRIVER = [ NAME = "dummy" ]
CONF
test_cleanup 'for s in "$TEST_DIR"/cloudd-ssh/*; do [ -S "$s" ] && ssh -F /dev/null -o ControlPath="$s" -O exit x; done'

test_expect 'init refuses bad options, naming them' '
	cp cloudd.conf bad.conf &&
	cat >>bad.conf <<-EOF &&
	VMM_DRIVER = [ NAME = "b1", MODULE = "xl", TOOLSTACK = "xend" ]
	VMM_DRIVER = [ NAME = "b2", MODULE = "xl", SHUTDOWN_POLL = "0" ]
	VMM_DRIVER = [ NAME = "b3", MODULE = "xl", RAW = "maybe" ]
	VMM_DRIVER = [ NAME = "b4", MODULE = "xl", XL = "xl; reboot" ]
	VMM_DRIVER = [ NAME = "b5", MODULE = "xl", SHUTDOWN_TIMEOUT = 3 ]
	VMM_DRIVER = [ NAME = "b6", MODULE = "xl", ON_CRASH = "explode" ]
	EOF
	{ run "$CLOUDD" -n -f bad.conf >out 2>&1; test $? = 1; } &&
	test_grep out "6 of 12 drivers refused" &&
	test_grep out "TOOLSTACK: '"'"'xend'"'"' is not auto, xl or xm" &&
	test_grep out "SHUTDOWN_POLL: '"'"'0'"'"' is not a number of seconds" &&
	test_grep out "RAW: '"'"'maybe'"'"' is not yes or no" &&
	test_grep out "XL: '"'"'xl; reboot'"'"' is not a program name" &&
	test_grep out "unknown option '"'"'SHUTDOWN_TIMEOUT'"'"'" &&
	test_grep out "ON_CRASH: '"'"'explode'"'"' is not destroy" &&
	run "$CLOUDD" -n -f cloudd.conf >out 2>&1
'

cloudd_start || exit 1

test_expect 'six hosts, xl on four and only xm on two, MONITORED over ssh' '
	ctl cluster create copy --tm ssh --net dummy &&
	ctl cluster create shared --tm shared --net dummy &&
	ctl host create node1 --im ssh --vmm xl --cluster copy >/dev/null &&
	ctl host create node2 --im ssh --vmm xl --cluster copy >/dev/null &&
	for h in node3 node4 node5 node6; do
		ctl host create $h --im ssh --vmm xlq --cluster shared >/dev/null || exit 1
	done &&
	for h in $TB_HOSTS; do wait_host $h MONITORED || exit 1; done &&
	test "$(ctl_json .attributes.HYPERVISOR host show node1)" = xen &&
	test "$(ctl_json .attributes.HYPERVISOR host show node4)" = xen &&
	tb_ssh node4 "command -v xm && ! command -v xl" &&
	tb_ssh node1 "command -v xl && ! command -v xm"
'

# tmpl HOST [EXTRA...]: a PV guest pinned to HOST; its image from the
# shared store on shared hosts.
tmpl() {
	h=$1
	shift
	case $h in node1|node2) img=$TEST_DIR/images/debian.img ;; *) img=$TB_SHARED_DIR/images/debian.img ;; esac
	{
		echo 'CPU = 0.5'
		echo 'VCPU = 2'
		echo 'MEMORY = 64'
		echo "OS = [ KERNEL = \"$TB_DATASTORE/boot/vmlinuz\", ROOT = \"/dev/xvda\", KERNEL_CMD = \"console=hvc0 quiet\" ]"
		echo "DISK = [ SOURCE = \"$img\", TARGET = \"xvda\" ]"
		echo 'DISK = [ TYPE = swap, SIZE = 8 ]'
		echo 'NIC = [ BRIDGE = "xenbr0", MAC = "02:00:0a:63:00:05" ]'
		echo "REQUIREMENTS = \"NAME = \\\"$h\\\"\""
		for x in "$@"; do echo "$x"; done
	} >vm.tmpl
}
cfg() { echo "$(tb_dir "$1")/datastore/$2/xen.cfg"; }
has_dom() { xen_stub_doms "$1" | grep -qx "cld-$2"; }
# lease HOST [EXTRA...]: a RUNNING VM on HOST; its id in file "last".
lease() {
	tmpl "$@" && id=$(ctl vm create vm.tmpl) && echo $id >last &&
	wait_vm $id RUNNING 30 && test "$(ctl_json .host vm show $id)" = "$1"
}

test_expect 'a lease on an xl host: RUNNING, and what vmm/xl wrote there is xl'"'"'s and Xen'"'"'s parser takes it' '
	lease node1 && a=$(cat last) && echo $a >a &&
	c=$(cfg node1 $a) && cat "$c" &&
	"$XEN_STUB_XLCHECK" "$c" &&
	grep -x "name = \"cld-$a\"" "$c" && grep -x "memory = 64" "$c" &&
	grep -x "vcpus = 2" "$c" && grep -x "cpu_weight = 128" "$c" &&
	grep -x "type = \"pv\"" "$c" &&
	grep -x "kernel = \"$TB_DATASTORE/boot/vmlinuz\"" "$c" &&
	grep -x "extra = \"console=hvc0 quiet\"" "$c" &&
	grep -F "\"format=raw, vdev=xvda, access=rw, target=$DS/$a/disk.0\"" "$c" &&
	grep -F "\"format=raw, vdev=xvdb, access=rw, target=$DS/$a/disk.1\"" "$c" &&
	grep -F "\"mac=02:00:0a:63:00:05, bridge=xenbr0, vifname=cld${a}n0\"" "$c" &&
	tb_ssh node1 xl list cld-$a >list && test_grep list "cld-$a" &&
	has_dom node1 $a && ! has_dom node2 $a &&
	ctl vm list >vmlist && grep -E "^ *$a .* runn .*node1" vmlist
'
a=$(cat a 2>/dev/null)

test_expect 'a lease on a host with only xm: its config is xm'"'"'s Python, within what libxlutil also reads' '
	lease node4 && b=$(cat last) && echo $b >b &&
	c=$(cfg node4 $b) && cat "$c" &&
	"$XEN_STUB_XLCHECK" -m "$c" &&
	! grep "^type" "$c" && grep -x "cpu_weight = 128" "$c" &&
	grep -F "\"tap:qcow2:$DS/$b/disk.0,xvda,w\"" "$c" &&
	grep -F "\"file:$DS/$b/disk.1,xvdb,w\"" "$c" &&
	if command -v python3 >/dev/null; then
		python3 -c "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], \"exec\")" "$c"
	fi &&
	tb_ssh node4 xm list cld-$b >list && test_grep list "cld-$b" &&
	has_dom node4 $b
'
b=$(cat b 2>/dev/null)

test_expect 'RUNNING VMs show the CPU and memory their host reports' '
	i=0 && while [ $i -lt 50 ]; do
		ca=$(ctl_json .usage.cpu vm show $a) && cb=$(ctl_json .usage.cpu vm show $b)
		awk -v a="$ca" -v b="$cb" "BEGIN { exit !(a > 0 && b > 0) }" && break
		sleep 0.2; i=$((i + 1))
	done &&
	echo "# CPU: $ca % and $cb %" &&
	awk -v a="$ca" -v b="$cb" "BEGIN { exit !(a > 0 && b > 0) }" &&
	test "$(ctl_json .usage.memory vm show $a)" = 65536 &&
	test "$(ctl_json .usage.memory vm show $b)" = 65536
'

test_expect 'suspend pauses the domain, resume lets it run, on xl and on xm' '
	ctl vm suspend $a $b && wait_vm $a SUSPENDED && wait_vm $b SUSPENDED &&
	tb_ssh node1 xl list cld-$a | grep -q -- "--p---" &&
	tb_ssh node4 xm list cld-$b | grep -q -- "--p---" &&
	ctl vm resume $a $b && wait_vm $a RUNNING && wait_vm $b RUNNING &&
	tb_ssh node1 xl list cld-$a | grep -q -- "-b----" &&
	tb_ssh node4 xm list cld-$b | grep -q -- "-b----"
'

boots() { sed -n "s/^boots //p" "$(xen_stub_state $1)/dom/cld-$2"; }
domid() { sed -n "s/^domid //p" "$(xen_stub_state $1)/dom/cld-$2"; }

# until SECS CMD: wait until shell command CMD succeeds.
until_ok() {
	end=$(( $(date +%s) + $1 ))
	until eval "$2"; do
		[ "$(date +%s)" -lt $end ] || { echo "still not: $2" >&2; return 1; }
		sleep 0.1
	done
}

test_expect 'reboot asks the guest; --hard destroys and creates the domain anew' '
	ctl vm reboot $a && until_ok 15 "test \"\$(boots node1 $a)\" = 2" &&
	wait_vm $a RUNNING && d0=$(domid node1 $a) &&
	until_ok 15 "test \"\$(ctl_json .progress vm show $a)\" = null" &&
	ctl vm reboot --hard $a && until_ok 15 "test \"\$(boots node1 $a)\" = 1" &&
	wait_vm $a RUNNING && test "$(domid node1 $a)" -gt "$d0" &&
	# The VM stays RUNNING through a reboot: wait until the step is over.
	until_ok 15 "test \"\$(ctl_json .progress vm show $a)\" = null"
'

test_expect 'stop saves the domain and takes it to the front-end; resume restores it' '
	ctl vm stop $a && wait_vm $a STOPPED 30 &&
	! has_dom node1 $a && test ! -e "$(tb_dir node1)/datastore/$a" &&
	head -n 1 "$TEST_DIR/vms/$a/checkpoint" | grep -x "Xen saved domain, xl format" &&
	ctl vm resume $a && wait_vm $a RUNNING 30 &&
	h=$(ctl_json .host vm show $a) && has_dom $h $a &&
	test ! -e "$TEST_DIR/vms/$a"
'

test_expect 'cold migration between xl hosts: save, checkpoint and disks copied, restore' '
	h=$(ctl_json .host vm show $a) && if [ $h = node1 ]; then o=node2; else o=node1; fi &&
	ctl vm migrate $a $o && sleep 0.5 && wait_vm $a RUNNING 30 &&
	test "$(ctl_json .host vm show $a)" = $o &&
	has_dom $o $a && ! has_dom $h $a &&
	test -s "$(tb_dir $o)/datastore/$a/checkpoint" && test ! -e "$(tb_dir $h)/datastore/$a"
'

test_expect 'live migration with xl (xl migrate over ssh) and with xm (xm migrate --live)' '
	lease node3 && c=$(cat last) && echo $c >c &&
	ctl vm migrate --live $c node6 && sleep 0.5 && wait_vm $c RUNNING 30 &&
	test "$(ctl_json .host vm show $c)" = node6 && has_dom node6 $c && ! has_dom node3 $c &&
	ctl vm migrate --live $b node5 && sleep 0.5 && wait_vm $b RUNNING 30 &&
	test "$(ctl_json .host vm show $b)" = node5 && has_dom node5 $b && ! has_dom node4 $b
'
c=$(cat c 2>/dev/null)

test_expect 'cold migration between xm hosts on shared storage' '
	ctl vm migrate $b node4 && sleep 0.5 && wait_vm $b RUNNING 30 &&
	test "$(ctl_json .host vm show $b)" = node4 && has_dom node4 $b && ! has_dom node5 $b &&
	head -n 1 "$TB_SHARED_DIR/datastore/$b/checkpoint" | grep -x LinuxGuestRecord
'

test_expect 'live migration from xl to xm is refused: the VM keeps running where it was' '
	ctl vm migrate --live $c node5 && sleep 1 && wait_vm $c RUNNING 30 &&
	test "$(ctl_json .host vm show $c)" = node6 && has_dom node6 $c &&
	ctl vm log $c >log && test_grep log "the hosts run different Xen toolstacks"
'

test_expect 'a config Xen'"'"'s parser rejects: FAILED, with the parser'"'"'s line-numbered message' '
	tmpl node2 "RAW = [ TYPE = \"xen\", DATA = \"on_watchdog = destroy(\" ]" &&
	d=$(ctl vm create vm.tmpl) && wait_vm $d FAILED 30 &&
	ctl_json .reason vm show $d >reason && cat reason &&
	n=$(grep -n "^on_watchdog" "$(cfg node2 $d)" | cut -d: -f1) &&
	test_grep reason "xl create failed on '"'"'node2'"'"' (status 1): $DS/$d/xen.cfg:$n: config parsing error near" &&
	test_grep reason "Failed to parse config: Invalid argument" && echo "# $(cat reason)" &&
	! has_dom node2 $d &&
	ctl vm recover --delete $d && wait_vm $d DONE 30
'

test_expect 'a template value a config cannot hold is refused, naming it; nothing reaches the host' '
	tmpl node1 "NIC = [ BRIDGE = \"br0,script=/tmp/x\" ]" &&
	! ctl vm create vm.tmpl 2>err &&
	test_grep err "line 9, column 9: NIC BRIDGE '"'"'br0,script=/tmp/x'"'"' is not an interface name" &&
	tmpl node1 "DISK = [ TYPE = swap, SIZE = 8, TARGET = \"xvdc,script=/tmp/x\" ]" &&
	e=$(ctl vm create vm.tmpl) && wait_vm $e FAILED 30 &&
	ctl_json .reason vm show $e >reason && cat reason &&
	test_grep reason "xvdc,script=/tmp/x" &&
	test ! -e "$(cfg node1 $e)" && ! has_dom node1 $e &&
	ctl vm recover --delete $e && wait_vm $e DONE 30
'

test_expect 'a domain destroyed behind cloudd'"'"'s back: its VM is POWEROFF, and boots again' '
	tb_ssh node6 xl destroy cld-$c && wait_vm $c POWEROFF 15 &&
	ctl_json .reason vm show $c >reason && test_grep reason "unknown to the hypervisor" &&
	ctl vm resume $c && wait_vm $c RUNNING 30 && has_dom node6 $c
'

test_expect 'shutdown: the guest powers off (ACPI), the lease ends, its files go' '
	h=$(ctl_json .host vm show $a) &&
	ctl vm shutdown $a && wait_vm $a DONE 30 &&
	! has_dom $h $a && test ! -e "$(tb_dir $h)/datastore/$a" &&
	! grep -q "vmm destroy" "$TEST_DIR/vmlog/$a.log"
'

test_expect 'a guest that ignores the shutdown request is destroyed at the SHUTDOWN timeout' '
	touch "$(xen_stub_state node4)/ignore-shutdown/cld-$b" &&
	ctl vm shutdown $b && wait_vm $b DONE 30 && ! has_dom node4 $b &&
	ctl vm log $b >log && test_grep log "vmm destroy"
'

test_expect 'the rest are deleted; nothing is left on any host' '
	ctl vm delete $c && wait_vm $c DONE 30 &&
	for h in $TB_HOSTS; do
		test -z "$(xen_stub_doms $h)" || { echo "$h still has $(xen_stub_doms $h)"; exit 1; }
		test -z "$(ls "$(tb_dir $h)/datastore" 2>/dev/null)" || { ls -R "$(tb_dir $h)/datastore"; exit 1; }
	done
'

test_done
