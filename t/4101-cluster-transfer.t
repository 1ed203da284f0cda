#!/bin/sh
# The transfer method is the cluster's: leases on two clusters of fake
# hosts over real ssh, one copying disks with tm/ssh, one making
# copy-on-write clones on a shared store with tm/shared; where the bytes
# went and where they did not; switching a cluster's method with one
# command; a failed transfer leaves the VM FAILED and nothing behind; a
# host whose sshd dies goes to ERROR and its VMs to UNKNOWN, the others
# carry on, and both come back.
. "$top_srcdir/t/lib/test-lib.sh"
. "$top_srcdir/t/lib/testbed.sh"
command -v jq >/dev/null || skip_all "jq is not installed (tools/install-deps installs it)"
command -v qemu-img >/dev/null || skip_all "qemu-img is not installed (tools/install-deps installs it)"

TB_SHARED="node3 node4" testbed_up 4 || exit 1
DS=$TB_DATASTORE/datastore        # the VMs' directories on the hosts

mkdir -p "$TEST_DIR/images" "$TB_SHARED_DIR/images"
head -c 4194304 /dev/urandom >"$TEST_DIR/images/debian.img"
cp "$TEST_DIR/images/debian.img" "$TB_SHARED_DIR/images/debian.img"

write_conf <<CONF
MONITOR_INTERVAL = 1
TIMEOUT = [ MONITOR = 4 ]
SCHED = [ INTERVAL = 0.2 ]
DATASTORE = "$DS"
SSH = [ CONFIG = "$TB_SSH_CONFIG", CONNECT_TIMEOUT = 2 ]
IM_DRIVER = [ NAME = "ssh", PROBE = "$top_srcdir/drivers/im/cloudd-probe.sh" ]
VMM_DRIVER = [ NAME = "dummy" ]
TM_DRIVER = [ NAME = "ssh", DATASTORE = "$DS", SSH_CONFIG = "$TB_SSH_CONFIG" ]
TM_DRIVER = [ NAME = "shared", DATASTORE = "$TB_DATASTORE", FRONTEND_DATASTORE = "$TB_SHARED_DIR" ]
TM_DRIVER = [ NAME = "slow", MODULE = "ssh", DATASTORE = "$DS", SCP = "$TEST_DIR/slow-scp" ]
NET_DRIVER = [ NAME = "dummy" ]
CONF
# scp at 4 Mbit/s, for a copy long enough to watch.
printf '#!/bin/sh\nexec scp -l 4000 "$@"\n' >"$TEST_DIR/slow-scp"
chmod +x "$TEST_DIR/slow-scp"
test_cleanup 'for s in "$TEST_DIR"/cloudd-ssh/*; do [ -S "$s" ] && ssh -F /dev/null -o ControlPath="$s" -O exit x; done'
cloudd_start || exit 1

# tmpl CLUSTER IMAGE: a VM for CLUSTER with one disk from IMAGE.
tmpl() {
	printf 'CPU = 0.1\nMEMORY = 64\nDISK = [ SOURCE = "%s", TARGET = "vda" ]\nREQUIREMENTS = "CLUSTER = \\"%s\\""\n' \
	    "$2" "$1" >vm.tmpl
}
disk() { echo "$(tb_dir "$1")/datastore/$2/disk.0"; }

test_expect 'two clusters, one per transfer method; four hosts monitored over ssh' '
	ctl cluster create copy --tm ssh --net dummy &&
	ctl cluster create cow --tm shared --net dummy &&
	ctl host create node1 --im ssh --vmm dummy --cluster copy >/dev/null &&
	ctl host create node2 --im ssh --vmm dummy --cluster copy >/dev/null &&
	ctl host create node3 --im ssh --vmm dummy --cluster cow >/dev/null &&
	ctl host create node4 --im ssh --vmm dummy --cluster cow >/dev/null &&
	for h in node1 node2 node3 node4; do wait_host $h MONITORED || exit 1; done
'

test_expect 'tm/ssh: the disk is a full copy on the VM'"'"'s host, and only there' '
	tmpl copy "$TEST_DIR/images/debian.img" &&
	a=$(ctl vm create vm.tmpl) && wait_vm $a RUNNING 30 && echo $a >a &&
	h=$(ctl_json .host vm show $a) &&
	cmp "$TEST_DIR/images/debian.img" "$(disk $h $a)" &&
	if [ $h = node1 ]; then o=node2; else o=node1; fi &&
	test ! -e "$(tb_dir $o)/datastore/$a" &&
	test ! -e "$TB_SHARED_DIR/datastore/$a" &&
	! ls "$(tb_dir $h)/datastore/$a" | grep part
'
a=$(cat a 2>/dev/null)
a=$(cat a 2>/dev/null)

# "slow" is tm/ssh without SSH_CONFIG: its scp gets the core's ssh options.
test_expect 'vm show tells how far a copy has got while it copies' '
	ctl cluster set copy --tm slow &&
	tmpl copy "$TEST_DIR/images/debian.img" &&
	s=$(ctl vm create vm.tmpl) && n=0 &&
	until ctl_json .progress vm show $s >p 2>/dev/null &&
	    grep -E "^tm prolog: [1-9][0-9]?%, copied [0-9]+ of 4 MiB$" p; do
		n=$((n + 1)); test $n -lt 300 || { cat p; exit 1; }
		sleep 0.1
	done &&
	ctl vm show $s | grep "^PROGRESS.*tm prolog: [0-9]*%, copied" &&
	wait_vm $s RUNNING 60 &&
	test "$(ctl_json .progress vm show $s)" = null &&
	ctl cluster set copy --tm ssh &&
	ctl vm delete $s && wait_vm $s DONE 30
'

test_expect 'tm/shared: a small copy-on-write clone on the shared store, no bytes copied' '
	tmpl cow "$TB_SHARED_DIR/images/debian.img" &&
	b=$(ctl vm create vm.tmpl) && wait_vm $b RUNNING 30 && echo $b >b &&
	f=$TB_SHARED_DIR/datastore/$b/disk.0 &&
	test "$(stat -c %s "$f")" -lt 1048576 &&
	qemu-img info -U "$f" | grep "backing file: $TB_DATASTORE/images/debian.img" &&
	test ! -e "$(tb_dir node1)/datastore/$b" && test ! -e "$(tb_dir node2)/datastore/$b"
'
b=$(cat b 2>/dev/null)

test_expect 'one command switches a cluster'"'"'s method: the next VM of cow is copied' '
	ctl cluster set cow --tm ssh &&
	tmpl cow "$TEST_DIR/images/debian.img" &&
	c=$(ctl vm create vm.tmpl) && wait_vm $c RUNNING 30 &&
	cmp "$TEST_DIR/images/debian.img" "$TB_SHARED_DIR/datastore/$c/disk.0" &&
	ctl cluster set cow --tm shared && ctl vm delete $c && wait_vm $c DONE 30 &&
	test ! -e "$TB_SHARED_DIR/datastore/$c"
'

test_expect 'a failed transfer: the VM is FAILED with the reason, nothing left on the host' '
	tmpl copy "$TEST_DIR/images/missing.img" &&
	d=$(ctl vm create vm.tmpl) && wait_vm $d FAILED 30 &&
	h=$(ctl_json .host vm show $d) &&
	ctl_json .reason vm show $d >reason &&
	test_grep reason "PROLOG: tm prolog on '"'"'$h'"'"' failed: disk '"'"'$DS/$d/disk.0'"'"'" &&
	! find "$(tb_dir $h)/datastore/$d" -type f 2>/dev/null | grep . &&
	ctl vm recover --delete $d && wait_vm $d DONE 30
'

test_expect 'a host whose sshd dies: ERROR, its VMs UNKNOWN, the others unaffected; back after' '
	h=$(ctl_json .host vm show $a) &&
	tb_kill_sshd $h && wait_host $h ERROR 10 && wait_vm $a UNKNOWN 10 &&
	test "$(ctl_json .state vm show $b)" = RUNNING &&
	for o in node1 node2 node3 node4; do
		[ $o = $h ] || test "$(ctl_json .state host show $o)" = MONITORED || exit 1
	done &&
	tb_start_sshd $h && wait_host $h MONITORED 15 && wait_vm $a RUNNING 15
'

test_expect 'a hung host (sshd stopped) delays neither the monitoring nor the leases of the others' '
	tb_stop_sshd node1 && test_cleanup "tb_cont_sshd node1" &&
	t0=$(ctl_json .monitored host show node3) &&
	tmpl cow "$TB_SHARED_DIR/images/debian.img" &&
	e=$(ctl vm create vm.tmpl) && wait_vm $e RUNNING 10 &&
	sleep 1.5 && test "$(ctl_json .monitored host show node3)" -gt "$t0" &&
	wait_host node1 ERROR 10 &&
	ctl vm delete $e && wait_vm $e DONE 10 &&
	tb_cont_sshd node1 && wait_host node1 MONITORED 15 && wait_vm $a RUNNING 15
'

test_expect 'leases end: the disks are deleted on the hosts (and the shared store)' '
	h=$(ctl_json .host vm show $a) &&
	ctl vm shutdown $a $b && wait_vm $a DONE 30 && wait_vm $b DONE 30 &&
	test ! -e "$(tb_dir $h)/datastore/$a" && test ! -e "$TB_SHARED_DIR/datastore/$b" &&
	cmp "$TEST_DIR/images/debian.img" "$TB_SHARED_DIR/images/debian.img"
'

test_done
