#!/bin/sh
# The installed SDK is all a driver needs.  cloudd is installed into a
# scratch tree (make install DESTDIR=...); the example driver vmm-qemu is
# copied from where it was installed and built against that tree with
# pkg-config alone; the installed cloudd loads it from cloudd.conf and
# leases VMs through it on a fake host (t/lib/testbed.sh): a real
# qemu-system-x86_64 runs there, "cloudctl vm list" shows it RUNNING, the
# monitor's commands reach it, and shutdown leaves nothing behind.  The
# example im driver of cloudd-drivers(7), taken from the installed page,
# is built the way the page says and monitors a second host.  Along
# the way: where the installed files are, what cloudd.pc says, the sample
# configuration, and that uninstall removes everything install put.
#
# The guest has no operating system: QEMU sits in its firmware, so it does
# not answer the ACPI power button and shutdown ends with the destroy that
# follows a shutdown that did not complete.
. "$top_srcdir/t/lib/test-lib.sh"
. "$top_srcdir/t/lib/testbed.sh"
command -v jq >/dev/null || skip_all "jq is not installed (tools/install-deps installs it)"
command -v qemu-system-x86_64 >/dev/null ||
	skip_all "qemu-system-x86_64 is not installed (tools/install-deps installs qemu-system-x86)"
command -v perl >/dev/null || skip_all "perl is not installed (Debian: perl-base)"
command -v "${CC:-cc}" >/dev/null || skip_all "no C compiler (build-essential)"
testbed_up 2 || exit 1

STAGE=$TEST_DIR/stage
DS=/var/lib/cloudd/datastore

# The build's own make; MAKEFLAGS of a "make check -j" above us would only
# point at a job server that is not ours.
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "${MAKE:-make}" "$@"
}

test_expect 'make install DESTDIR=... installs cloudd into a scratch tree' '
	mk -C "$top_builddir" install DESTDIR="$STAGE" >install.log 2>&1 ||
	    { tail -30 install.log; false; }
'

# Where things went, found in the tree, not assumed.
find_one() {
	find "$STAGE" "$@" | head -1
}
PC=$(find_one -name cloudd.pc)
SBIN_CLOUDD=$(find_one -path '*/sbin/cloudd')
BIN_CLOUDCTL=$(find_one -path '*/bin/cloudctl')
PROBE=$(find_one -name cloudd-probe.sh)
EXAMPLE=$(find_one -type d -path '*/examples/vmm-qemu')
[ -n "$PC" ] && [ -n "$SBIN_CLOUDD" ] && [ -n "$BIN_CLOUDCTL" ] &&
    [ -n "$PROBE" ] && [ -n "$EXAMPLE" ] || {
	echo "Bail out! the installed tree lacks cloudd.pc, cloudd, cloudctl, the probe or the example"
	find "$STAGE" >&2
	exit 1
}
# pkg-config sees the scratch tree only, as if it were the root.
export PKG_CONFIG_LIBDIR="${PC%/*}" PKG_CONFIG_SYSROOT_DIR="$STAGE"
unset PKG_CONFIG_PATH
DRIVERDIR=$(pkg-config --variable=driverdir cloudd)
# What cloudd.pc says once installed for real (no DESTDIR).
REAL_DRIVERDIR=$(PKG_CONFIG_SYSROOT_DIR= pkg-config --variable=driverdir cloudd)
# From now on the installed programs are the ones tested.
CLOUDD=$SBIN_CLOUDD
CLOUDCTL=$BIN_CLOUDCTL

test_expect 'cloudd.pc gives the headers, the driver directory and the ABI of the installed SDK' '
	pkg-config --cflags cloudd >cflags &&
	inc=$(sed -n "s/^-I\([^ ]*\).*/\1/p" cflags) &&
	test -f "$inc/cloudd/driver.h" && test -f "$inc/cloudd/attr.h" &&
	test -f "$inc/cloudd/error.h" &&
	case $inc in "$STAGE"/*) ;; *) fail "headers outside the scratch tree: $inc";; esac &&
	test -f "$DRIVERDIR/vmm_dummy.so" && test -f "$DRIVERDIR/im_ssh.so" &&
	test "$(pkg-config --variable=abi_major cloudd)" = \
	    "$(sed -n "s/^#define CLD_ABI_MAJOR //p" "$inc/cloudd/driver.h")" &&
	test "$(pkg-config --variable=abi_minor cloudd)" = \
	    "$(sed -n "s/^#define CLD_ABI_MINOR //p" "$inc/cloudd/driver.h")"
'

test_expect 'the installed cloudd looks for drivers where cloudd.pc says, and for the probe where it was installed' '
	printf "%s\n" "VMM_DRIVER = [ NAME = \"nosuch\" ]" "IM_DRIVER = [ NAME = \"ssh\" ]" >probe.conf &&
	! (export CLOUDD_DRIVER_PATH="$DRIVERDIR"; run "$CLOUDD" -n -f probe.conf >out 2>err) &&
	test_grep err "no vmm_nosuch.la or vmm_nosuch.so in $DRIVERDIR, $REAL_DRIVERDIR" &&
	built_in=$(sed -n "s/.*probe .\(\/[^'"'"']*\).*/\1/p" err | head -1) &&
	test -n "$built_in" && test "$STAGE$built_in" = "$PROBE"
'

test_expect 'the sample cloudd.conf is where cloudd reads by default, with the configured paths' '
	conf=$(run "$CLOUDD" -h | sed -n "s/.*the configuration (default \(.*\)).*/\1/p") &&
	test -n "$conf" && test -f "$STAGE$conf" &&
	sock=$("$CLOUDCTL" --help | sed -n "s|^ *\(/.*cloudd.sock\))\$|\1|p") &&
	test -n "$sock" &&
	grep -x "LISTEN = \"$sock\"" "$STAGE$conf" &&
	! grep "@[a-z]*@" "$STAGE$conf" &&
	sample=$(find "$STAGE" -path "*/doc/cloudd/cloudd.conf.sample") &&
	cmp "$sample" "$STAGE$conf"
'

test_expect 'a reinstall keeps a changed cloudd.conf' '
	conf=$(find "$STAGE" -path "*/etc/cloudd/cloudd.conf") &&
	echo "# mine" >>"$conf" &&
	mk -C "$top_builddir" install DESTDIR="$STAGE" >install2.log 2>&1 &&
	test_grep install2.log "keeping" && test "$(tail -1 "$conf")" = "# mine"
'

if [ -r /usr/share/bash-completion/bash_completion ]; then
	test_expect 'bash-completion finds the installed completion of cloudctl' '
		comp=$(find "$STAGE" -path "*/bash-completion/completions/cloudctl") &&
		test -n "$comp" &&
		XDG_DATA_DIRS="${comp%/bash-completion/completions/cloudctl}" bash -c "
			. /usr/share/bash-completion/bash_completion &&
			__load_completion cloudctl && complete -p cloudctl" >out &&
		test_grep out "_cloudctl"
	'
else
	test_count=$((test_count + 1))
	echo "ok $test_count # SKIP bash-completion is not installed (tools/install-deps installs it)"
fi

test_expect 'the example builds from its installed copy with pkg-config alone' '
	cp -R "$EXAMPLE" ex &&
	{ mk -C ex >build.log 2>&1 || { cat build.log; false; }; } &&
	grep -F -e "-I$STAGE/" build.log && ! grep -F -e "$top_srcdir" build.log &&
	nm -D --defined-only ex/vmm_qemu.so | grep -v " _" >syms &&
	test "$(awk "{print \$3}" syms)" = vmm_qemu_LTX_cld_driver &&
	mk -C ex install >>build.log 2>&1 && test -f "$DRIVERDIR/vmm_qemu.so"
'

test_expect 'the example of cloudd-drivers(7) builds as the page says and installs' '
	page=$(find "$STAGE" -name cloudd-drivers.7) && test -n "$page" &&
	sed -n "/^\.\\\\\" BEGIN meminfo.c/,/^\.\\\\\" END meminfo.c/p" "$page" |
	    sed -e "/^\./d" -e "s/\\\\e/\\\\/g" >meminfo.c &&
	test "$(grep -c . meminfo.c)" -gt 40 &&
	"${CC:-cc}" $(pkg-config --cflags cloudd) -shared -fPIC -Wl,-z,defs \
	    -o im_meminfo.so meminfo.c 2>cc.err && ! test -s cc.err &&
	install -m 755 im_meminfo.so "$(pkg-config --variable=driverdir cloudd)"
'

cat >"$TEST_DIR/cloudd.conf" <<CONF
DRIVER_PATH = "$DRIVERDIR"
DATABASE = "$TEST_DIR/cloudd.db"
LISTEN = "$TEST_DIR/cloudd.sock"
LOG_DIR = "$TEST_DIR/vmlog"
VM_DIR = "$TEST_DIR/vms"
MONITOR_INTERVAL = 1
SCHED = [ INTERVAL = 0.2 ]
TIMEOUT = [ SHUTDOWN = 4, BOOT = 30 ]
DATASTORE = "$DS"
SSH = [ CONFIG = "$TB_SSH_CONFIG" ]
IM_DRIVER = [ NAME = "ssh", PROBE = "$PROBE" ]
IM_DRIVER = [ NAME = "meminfo" ]
TM_DRIVER = [ NAME = "ssh", DATASTORE = "$DS" ]
VMM_DRIVER = [ NAME = "qemu" ]
NET_DRIVER = [ NAME = "dummy" ]
CONF

test_expect 'cloudd -n loads it from the driver directory: vmm qemu, its ABI, its file' '
	run "$CLOUDD" -n -f "$TEST_DIR/cloudd.conf" >out 2>err &&
	grep -E "^vmm +qemu +qemu +example-1 +$(pkg-config --variable=abi_major cloudd)\.$(pkg-config --variable=abi_minor cloudd) +$DRIVERDIR/vmm_qemu.so$" out
'

head -c 1048576 /dev/zero >disk.img
cat >vm.tmpl <<EOF
NAME = "qemu-vm"
CPU = 0.5
MEMORY = 64
DISK = [ SOURCE = "$TEST_DIR/disk.img", TARGET = "vda" ]
DISK = [ SOURCE = "$TEST_DIR/disk.img", TYPE = "cdrom", TARGET = "hdc" ]
EOF

# The pid of VM $1's qemu on node1, from the pidfile the driver made.
qemu_pid() {
	cat "$(tb_dir node1)/datastore/$1/qemu.pid"
}

# The qemu of VM $1 is running on node1, in its network namespace.
qemu_runs() {
	pid=$(qemu_pid "$1") &&
	test "$(cat "/proc/$pid/comm")" = "cld-$1" &&
	test "$(ip netns identify "$pid")" = "$(tb_netns node1)"
}

# Process PID is gone (a zombie counts as gone).
gone() {
	! [ -r "/proc/$1/stat" ] || [ "$(sed 's/^.*) //' "/proc/$1/stat" | cut -d" " -f1)" = Z ]
}

# Wait up to 10 s until JSON path $1 of VM $2 is not null.
wait_set() {
	i=0
	while [ "$(ctl_json "$1" vm show "$2")" = null ]; do
		[ $i -lt 100 ] || { echo "$1 of VM $2 stays null" >&2; return 1; }
		sleep 0.1; i=$((i + 1))
	done
}

# Wait up to 20 s until the log of VM $1 has line $2.
wait_log() {
	i=0
	until ctl vm log "$1" | grep -F -e "$2" >/dev/null; do
		[ $i -lt 200 ] || { echo "VM $1's log has no '$2'" >&2; return 1; }
		sleep 0.1; i=$((i + 1))
	done
}

# QMP's view of VM $1: running or paused.
cat >qmp-status.pl <<'EOF'
use strict; use IO::Socket::UNIX;
my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $ARGV[0]) or die "$!\n";
<$s>; print $s "{\"execute\": \"qmp_capabilities\"}\n"; <$s>;
print $s "{\"execute\": \"query-status\"}\n";
while (<$s>) { if (/"status": "(\w+)"/) { print "$1\n"; last } }
EOF
qmp_status() {
	tb_ssh node1 perl - "$DS/$1/qmp.sock" <"$TEST_DIR/qmp-status.pl"
}

cloudd_start || exit 1

test_expect 'a host whose vmm is the example driver is monitored' '
	ctl host create node1 --im ssh --vmm qemu &&
	wait_host node1 MONITORED
'

test_expect 'the example im driver of the manual monitors a host: its CPUs and memory' '
	ctl host create node2 --im meminfo --vmm qemu &&
	wait_host node2 MONITORED &&
	test "$(ctl_json .tcpu host show node2)" = $(( $(getconf _NPROCESSORS_ONLN) * 100 )) &&
	test "$(ctl_json .tmem host show node2)" = \
	    "$(sed -n "s/^MemTotal: *\([0-9]*\) kB/\1/p" /proc/meminfo)" &&
	test "$(ctl_json .attributes.HYPERVISOR host show node2)" = none
'

test_expect 'a VM is leased through it: RUNNING on node1' '
	test "$(ctl vm create vm.tmpl)" = 0 &&
	wait_vm 0 RUNNING 60 &&
	test "$(ctl_json .host vm show 0)" = node1
'

test_expect 'a real qemu runs it on the host: in its namespace, under TCG, with the VM'"'"'s disk' '
	qemu_runs 0 &&
	pid=$(qemu_pid 0) &&
	case $(readlink "/proc/$pid/exe") in */qemu-system-x86_64) ;; *) false;; esac &&
	tr "\0" " " <"/proc/$pid/cmdline" >cmdline &&
	test_grep cmdline "-accel tcg" && ! grep -e kvm cmdline &&
	test_grep cmdline "file=$DS/0/disk.0,format=raw,if=virtio" &&
	test_grep cmdline "file=$DS/0/disk.1,format=raw,if=ide,media=cdrom,readonly=on" &&
	test_grep cmdline "-m 64 " &&
	test_grep "$TEST_DIR/cloudd.log" "vmm/qemu: '"'"'cld-0'"'"' runs on '"'"'node1'"'"' as process $pid"
'

test_expect 'cloudctl vm list shows it RUNNING on node1' '
	ctl vm list >out &&
	grep -E "^ *0 +[a-z]+ +qemu-vm +runn .* node1 " out
'

test_expect 'the driver'"'"'s poll reports the memory qemu uses' '
	i=0
	while [ "$(ctl_json .usage.memory vm show 0)" = 0 ] && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done &&
	rss=$(sed -n "s/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p" "/proc/$(qemu_pid 0)/status") &&
	mem=$(ctl_json .usage.memory vm show 0) &&
	test "$mem" -gt 0 && test "$mem" -le $((rss * 2)) && test "$mem" -ge $((rss / 2))
'

test_expect 'suspend and resume reach QEMU through its monitor' '
	ctl vm suspend 0 && wait_vm 0 SUSPENDED && test "$(qmp_status 0)" = paused &&
	ctl vm resume 0 && wait_vm 0 RUNNING && test "$(qmp_status 0)" = running
'

test_expect 'reboot --hard resets the same process; a soft reboot says QEMU cannot' '
	pid=$(qemu_pid 0) &&
	ctl vm reboot --hard 0 && wait_log 0 "reboot --hard: done" &&
	test "$(ctl_json .state vm show 0)" = RUNNING && test "$(qemu_pid 0)" = "$pid" &&
	ctl vm reboot 0 && wait_set .reason 0 &&
	ctl_json .reason vm show 0 >reason && test_grep reason "QEMU cannot ask a guest to reboot" &&
	test "$(ctl_json .state vm show 0)" = RUNNING
'

test_expect 'shutdown leaves nothing behind: qemu gone, its directory gone, the VM DONE' '
	pid=$(qemu_pid 0) &&
	ctl vm shutdown 0 && wait_vm 0 DONE 30 &&
	gone "$pid" &&
	test ! -e "$(tb_dir node1)/datastore/0" &&
	ctl vm log 0 >log && test_grep log "vmm shutdown" &&
	test_grep log "shutdown did not complete" &&
	test_grep log "vmm destroy" &&
	for p in $(ip netns pids "$(tb_netns node1)"); do
		test "$(cat "/proc/$p/comm" 2>/dev/null)" != cld-0 || fail "a qemu is left: $p"
	done
'

test_expect 'a qemu killed on the host is seen powered off; delete cleans up' '
	test "$(ctl vm create vm.tmpl)" = 1 && wait_vm 1 RUNNING 60 &&
	pid=$(qemu_pid 1) && kill -KILL "$pid" &&
	wait_vm 1 POWEROFF 20 &&
	ctl_json .reason vm show 1 >reason && test_grep reason "powered off outside cloudd" &&
	ctl vm delete 1 && wait_vm 1 DONE 30 &&
	test ! -e "$(tb_dir node1)/datastore/1"
'

test_expect 'a VM the driver cannot run fails with the driver'"'"'s words' '
	sed "s/^NAME = .*/NAME = \"with-nic\"/" vm.tmpl >nic.tmpl &&
	echo "NIC = [ BRIDGE = \"br0\" ]" >>nic.tmpl &&
	test "$(ctl vm create nic.tmpl)" = 2 && wait_vm 2 FAILED 30 &&
	ctl_json .reason vm show 2 >reason &&
	test_grep reason "vmm deploy on '"'"'node1'"'"' failed: NIC: the vmm driver '"'"'qemu'"'"' runs VMs without network interfaces" &&
	ctl vm delete 2 && wait_vm 2 DONE 30
'

test_expect 'a kernel QEMU cannot load fails the VM with QEMU'"'"'s own words' '
	sed "s/^NAME = .*/NAME = \"bad-kernel\"/" vm.tmpl >kernel.tmpl &&
	echo "OS = [ KERNEL = \"/nonexistent/vmlinuz\", KERNEL_CMD = \"console=ttyS0 quiet\" ]" >>kernel.tmpl &&
	test "$(ctl vm create kernel.tmpl)" = 3 && wait_vm 3 FAILED 30 &&
	ctl_json .reason vm show 3 >reason &&
	test_grep reason "vmm deploy on '"'"'node1'"'"' failed: qemu: could not open kernel file '"'"'/nonexistent/vmlinuz'"'"'" &&
	ctl vm delete 3 && wait_vm 3 DONE 30 && test ! -e "$(tb_dir node1)/datastore/3"
'

test_expect 'cloudd stops; no qemu is left on the host' '
	cloudd_stop &&
	for p in $(ip netns pids "$(tb_netns node1)"); do
		case $(cat "/proc/$p/comm" 2>/dev/null) in cld-*) fail "a qemu is left: $p";; esac
	done
'

test_expect 'uninstall removes everything install put, but a changed cloudd.conf' '
	mk -C ex uninstall >/dev/null && test ! -e "$DRIVERDIR/vmm_qemu.so" &&
	rm "$DRIVERDIR/im_meminfo.so" &&
	mk -C "$top_builddir" uninstall DESTDIR="$STAGE" >uninstall.log 2>&1 &&
	find "$STAGE" -type f >left &&
	conf=$(find "$STAGE" -path "*/etc/cloudd/cloudd.conf") &&
	echo "$conf" >want && test_cmp want left
'

test_done
