#!/bin/sh
# Real VMs on the testbed, driven by libvirt's own tools: two fake hosts
# each running a libvirtd (t/lib/testbed.sh, TB_LIBVIRT), the tiny guest
# (t/lib/guest.sh) under TCG, virsh on the front-end over qemu+ssh.  A
# guest boots and answers ping from the front-end, burns real CPU, powers
# off on ACPI shutdown; another is live-migrated node1 -> node2 while it
# answers ping and keeps its memory (same boot, uptime and counter on); the
# rest is destroyed and nothing is left on the hosts.  This proves the
# infrastructure that vmm/libvirt's tests run on.
. "$top_srcdir/t/lib/test-lib.sh"
. "$top_srcdir/t/lib/testbed.sh"
. "$top_srcdir/t/lib/guest.sh"

# Generous deadlines: a TCG boot takes 6 s on an idle machine, several
# times that on a busy 2-core one.
BOOT_SECS=240

why=$(guest_lacks)
[ -z "$why" ] || skip_all "$why"
guest_build || { echo "Bail out! cannot build the tiny guest"; exit 1; }
TB_LIBVIRT=1 testbed_up 2 || { echo "Bail out! testbed_up failed"; exit 1; }
echo "# 2 hosts with libvirtd up in $TB_UP_MS ms (the first libvirtd answered in $TB_LIBVIRT_FIRST_MS ms)"

A1=$(guest_addr 1)
A2=$(guest_addr 2)
GW=$TB_NET.1
guest_xml g1 "$(guest_mac 1)" "$A1/24" "$GW" >g1.xml
guest_xml g2 "$(guest_mac 2)" "$A2/24" "$GW" >g2.xml
# The background ping's pid while it runs (never empty or 0 when killed:
# "kill 0" would hit the whole process group, make included).
: >ping.pid
test_cleanup 'p=$(cat "$TEST_DIR/ping.pid"); [ -z "$p" ] || kill "$p"'

now_ms() {
	echo $(( $(date +%s%N) / 1000000 ))
}

# What a failed step shows: the guest's console and libvirtd's log.
diag() {
	h=$1 g=$2
	echo "--- console of $g on $h:"
	tail -20 "$TB_DIR/$h/libvirt/log/qemu/$g.console" 2>/dev/null
	echo "--- libvirtd.log of $h:"
	tail -20 "$TB_DIR/$h/libvirt/log/libvirtd.log" 2>/dev/null
	return 1
}

# Wait until domain G on H is in STATE (virsh domstate), at most SECS.
wait_state() {
	h=$1 g=$2 want=$3 secs=$4
	end=$(( $(date +%s) + secs ))
	while :; do
		got=$(tb_virsh_sock "$h" domstate "$g" 2>&1)
		[ "$got" = "$want" ] && return 0
		[ "$(date +%s)" -lt "$end" ] || { echo "$g on $h is '$got', not '$want', after $secs s"; return 1; }
		sleep 0.2
	done
}

# Run CMD... until it succeeds, at most SECS seconds.
wait_until() {
	secs=$1
	shift
	end=$(( $(date +%s) + secs ))
	until "$@"; do
		[ "$(date +%s)" -lt "$end" ] || { echo "still not true after $secs s: $*"; return 1; }
		sleep 0.1
	done
}

# How many replies ping.log has; whether it has at least N.
replies() {
	grep -c "bytes from" ping.log
}
replies_ge() {
	[ "$(replies)" -ge "$1" ]
}

# The value of FIELD in "virsh domstats" of G on H.
stat_of() {
	tb_virsh_sock "$1" domstats "$2" | sed -n "s/^ *$3=//p"
}

# The sum of utime and stime of PID in seconds (/proc/PID/stat).
proc_cpu() {
	sed 's/^.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($12 + $13) / hz }'
}

test_expect 'each host answers virsh over qemu+ssh with its own hostname and QEMU' '
	for h in $TB_HOSTS; do
		test "$(tb_virsh $h hostname)" = $h &&
		tb_virsh $h version >out && test_grep out "Running hypervisor: QEMU" &&
		test -z "$(tb_virsh $h list --all --name | tr -d "\n")" || return 1
	done
'

test_expect 'two TCG guests started on node1 over qemu+ssh answer ping from the front-end' '
	t0=$(now_ms) &&
	tb_virsh node1 define g1.xml >/dev/null &&
	tb_virsh node1 start g1 >/dev/null &&
	tb_virsh node1 create g2.xml >/dev/null &&
	{ guest_wait_ping $A1 $BOOT_SECS || diag node1 g1; } &&
	echo "g1 $(( $(now_ms) - t0 ))" >boot.ms &&
	{ guest_wait_ping $A2 $BOOT_SECS || diag node1 g2; } &&
	echo "g2 $(( $(now_ms) - t0 ))" >>boot.ms &&
	tb_virsh node1 dumpxml g1 >dom.xml && test_grep dom.xml "<domain type='"'"'qemu'"'"'" &&
	test "$(tb_virsh node1 list --name | sort | tr "\n" " ")" = "g1 g2 "
'
sed 's/^/# booted (start to ping, both at once) in ms: /' boot.ms 2>/dev/null

test_expect 'the guests are on node1'"'"'s br0 with their MACs, and answer as themselves' '
	tb_virsh node1 domiflist g1 >out && test_grep out "br0" && test_grep out "$(guest_mac 1)" &&
	tb_ssh node1 "ip -o link show master br0" >ports &&
	test "$(grep -c " vnet" ports)" = 2 && test_grep ports ": eth0" &&
	{ guest_wait_ready $A1 $BOOT_SECS || diag node1 g1; } &&
	{ guest_wait_ready $A2 $BOOT_SECS || diag node1 g2; } &&
	guest_status $A1 >s1 && test_grep s1 "hostname g1" &&
	guest_status $A2 >s2 && test_grep s2 "hostname g2"
'

test_expect 'g1 burns real CPU: domstats cpu.time grows and is its QEMU process'"'"'s time' '
	c0=$(stat_of node1 g1 cpu.time) && test "${c0:-0}" -gt 0 &&
	end=$(( $(date +%s) + 60 )) &&
	while c1=$(stat_of node1 g1 cpu.time); [ "$c1" -le "$c0" ]; do
		[ "$(date +%s)" -lt "$end" ] || fail "cpu.time stays at $c0 ns"
		sleep 0.2
	done &&
	pid=$(cat "$TB_DIR/node1/libvirt/run/qemu/g1.pid") &&
	c2=$(stat_of node1 g1 cpu.time) && p=$(proc_cpu $pid) &&
	echo "domstats $c2 ns, /proc/$pid $p s" &&
	awk -v c=$c2 -v p=$p "BEGIN { d = p - c / 1e9; exit !(d >= -0.05 && d < 2) }" ||
		fail "domstats says $c2 ns, /proc says $p s"
'

test_expect 'libvirtd stopped on node1: its VMs run on; started again it finds them' '
	tb_stop_libvirtd node1 &&
	! tb_libvirtd_pid node1 >/dev/null &&
	test "$(tb_qemu_pids node1 | wc -l)" = 2 &&
	ping -c 1 -W 5 $A1 >/dev/null &&
	tb_start_libvirtd node1 &&
	test "$(tb_virsh node1 list --name | sort | tr "\n" " ")" = "g1 g2 "
'

test_expect 'a restarted sshd on node2 joins its libvirtd: virsh over ssh works again' '
	tb_kill_sshd node2 &&
	! tb_virsh node2 hostname 2>/dev/null &&
	tb_start_sshd node2 &&
	test "$(tb_virsh node2 hostname)" = node2 &&
	tb_ssh node2 "test -S /run/libvirt/libvirt-sock"
'

test_expect 'ACPI shutdown of g1 completes: the guest powers itself off' '
	t0=$(now_ms) &&
	tb_virsh node1 shutdown g1 >/dev/null &&
	{ wait_state node1 g1 "shut off" 120 || diag node1 g1; } &&
	echo $(( $(now_ms) - t0 )) >shutdown.ms &&
	test_grep "$TB_DIR/node1/libvirt/log/qemu/g1.console" "power button: powering off" &&
	! ping -c 1 -W 1 $A1 >/dev/null &&
	tb_virsh node1 undefine g1 >/dev/null &&
	test "$(tb_virsh node1 list --all --name | tr -d "\n")" = g2
'
echo "# ACPI shutdown took $(cat shutdown.ms 2>/dev/null) ms"

test_expect 'g2 live-migrates node1 -> node2 answering ping, same boot, memory kept' '
	guest_status $A2 >before || return 1
	ping -D -O -i 0.2 -W 1 $A2 >ping.log 2>&1 &
	echo $! >ping.pid
	wait_until 30 grep -q "bytes from" ping.log &&
	t0=$(now_ms) &&
	{ timeout 180 virsh -q -c "$(tb_libvirt_uri node1)" migrate --live g2 "$(tb_libvirt_uri node2)" ||
		diag node1 g2; } &&
	t1=$(now_ms) &&
	echo $((t1 - t0)) >migrate.ms &&
	# Replies again from node2: five more after the switch.
	n=$(replies) &&
	wait_until 60 replies_ge $((n + 5)) &&
	kill -INT "$(cat ping.pid)" && : >ping.pid &&
	wait_until 10 grep -q "packets transmitted" ping.log &&
	wait_state node2 g2 running 30 &&
	test -z "$(tb_virsh node1 list --all --name | tr -d "\n")" &&
	test -z "$(tb_qemu_pids node1)" && test -n "$(tb_qemu_pids node2)" &&
	guest_status $A2 >after &&
	test "$(grep boot_id before)" = "$(grep boot_id after)" &&
	test "$(grep hostname after)" = "hostname g2" &&
	awk -v s=$(( (t1 - t0) / 1000 )) "
		\$1 == \"uptime\" { u[NR == FNR ? 0 : 1] = \$2 }
		\$1 == \"served\" { n[NR == FNR ? 0 : 1] = \$2 }
		END { exit !(u[1] >= u[0] + s && n[1] == n[0] + 1) }" before after ||
		fail "before: $(cat before) after: $(cat after)"
'
# Lost pings, and the longest time without a reply.
if [ -f ping.log ]; then
	sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' ping.log)
	got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' ping.log)
	gap=$(awk -F'[][]' '/bytes from/ { t = $2; if (p && t - p > g) g = t - p; p = t } END { printf "%.1f", g }' ping.log)
	echo "# live migration took $(cat migrate.ms 2>/dev/null) ms; pings every 0.2 s: $sent sent, $((sent - got)) lost, longest gap between replies $gap s"
fi

test_expect 'the guest was never out of reach for long (gap between replies under 10 s)' '
	awk -F"[][]" "/bytes from/ { t = \$2; if (p && t - p > g) g = t - p; p = t }
		END { exit !(g > 0 && g < 10) }" ping.log
'

test_expect 'the rest is destroyed; nothing is left on the hosts' '
	tb_virsh node2 destroy g2 >/dev/null &&
	for h in $TB_HOSTS; do
		test -z "$(tb_virsh $h list --all --name | tr -d "\n")" &&
		test -z "$(tb_qemu_pids $h)" &&
		tb_ssh $h "ip -o link show master br0" >ports &&
		test "$(wc -l <ports)" = 1 && test_grep ports ": eth0" || return 1
	done
'

test_expect 'teardown stops every libvirtd and QEMU' '
	pids=$(for h in $TB_HOSTS; do tb_libvirtd_pid $h; done) &&
	test "$(echo $pids | wc -w)" = 2 &&
	testbed_down &&
	for p in $pids; do
		st=$(sed "s/^.*) //" /proc/$p/stat 2>/dev/null | cut -d" " -f1)
		test -z "$st" || test "$st" = Z || fail "libvirtd $p is still alive ($st)"
	done
'
testbed_down
test_done
