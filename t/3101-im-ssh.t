#!/bin/sh
# im/ssh on fake hosts (t/lib/testbed.sh): cloudd monitors four hosts of
# four sizes through the probe over real ssh; the probe is copied on first
# contact and when its version changes, not otherwise; a dead host goes to
# ERROR within two intervals and a hung one at the MONITOR timeout, neither
# holding up the others; the probe reports the hypervisor's domains.
. "$top_srcdir/t/lib/test-lib.sh"
. "$top_srcdir/t/lib/testbed.sh"
command -v jq >/dev/null || skip_all "jq is not installed (tools/install-deps installs it)"

testbed_up 4 || exit 1
ROOT=$TB_DATASTORE/probe          # PROBE_ROOT, as the hosts see it
RPROBE=$TB_DATASTORE/.probe/cloudd-probe.sh
PROBE="$TEST_DIR/cloudd-probe.sh" # a copy: a test changes its version
cp "$top_srcdir/drivers/im/cloudd-probe.sh" "$PROBE"
V=$(sed -n 's/^PROBE_VERSION=//p' "$PROBE")   # the probe's own version

# fake_proc HOST CORES MEMTOTAL MEMAVAILABLE (KiB): HOST's proc files
# under PROBE_ROOT.
fake_proc() {
	p="$(tb_dir "$1")/probe/proc"
	mkdir -p "$p/net" &&
	i=0 && : >"$p/cpuinfo" &&
	while [ $i -lt "$2" ]; do
		printf 'processor\t: %d\nmodel name\t: Fake CPU\ncpu MHz\t\t: 2400.000\n\n' $i >>"$p/cpuinfo"
		i=$((i + 1))
	done &&
	printf 'MemTotal:       %d kB\nMemFree:        %d kB\nMemAvailable:   %d kB\nBuffers:        0 kB\nCached:         0 kB\n' \
	    "$3" "$4" "$4" >"$p/meminfo" &&
	printf 'cpu  1000 0 500 8500 0 0 0 0 0 0\ncpu0 1000 0 500 8500 0 0 0 0 0 0\n' >"$p/stat" &&
	printf 'Inter-|   Receive                            |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 999 1 0 0 0 0 0 0 999 1 0 0 0 0 0 0\n  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n  eth1: 3 1 0 0 0 0 0 0 4 1 0 0 0 0 0 0\n' \
	    >"$p/net/dev"
}
fake_proc node1 8 16777216 12582912 &&
fake_proc node2 4 8388608 6291456 &&
fake_proc node3 2 4194304 1048576 &&
fake_proc node4 16 33554432 33030144 || exit 1

# A stand-in xl on node3 (ROOT/bin comes first in the probe's PATH).
mkdir -p "$(tb_dir node3)/probe/bin"
cat >"$(tb_dir node3)/probe/bin/xl" <<'EOF'
#!/bin/sh
echo "Name                                        ID   Mem VCPUs	State	Time(s)"
echo "Domain-0                                     0  1024     2     r-----      12.3"
echo "cld-7                                        3   512     1     -b----       1.2"
echo 'odd"na\me                                    4   256     1     --p---       0.5'
EOF
chmod +x "$(tb_dir node3)/probe/bin/xl"

write_conf <<CONF
MONITOR_INTERVAL = 1
TIMEOUT = [ MONITOR = 4 ]
SSH = [ CONFIG = "$TB_SSH_CONFIG", CONNECT_TIMEOUT = 2 ]
IM_DRIVER = [ NAME = "ssh", PROBE = "$PROBE", PROBE_ROOT = "$ROOT" ]
VMM_DRIVER = [ NAME = "dummy" ]
TM_DRIVER = [ NAME = "dummy" ]
NET_DRIVER = [ NAME = "dummy" ]
CONF
# Masters outlive cloudd: end them with the test.
test_cleanup 'for s in "$TEST_DIR"/cloudd-ssh/*; do [ -S "$s" ] && ssh -F /dev/null -o ControlPath="$s" -O exit x; done'

test_expect 'init refuses relative paths and a probe without a version, naming the option' '
	cp cloudd.conf bad.conf &&
	echo "IM_DRIVER = [ NAME = \"rel\", MODULE = \"ssh\", PROBE = \"$PROBE\", PROBE_ROOT = \"var/x\" ]" >>bad.conf &&
	echo "IM_DRIVER = [ NAME = \"rdir\", MODULE = \"ssh\", PROBE = \"$PROBE\", REMOTE_DIR = \"tmp\" ]" >>bad.conf &&
	echo "IM_DRIVER = [ NAME = \"nover\", MODULE = \"ssh\", PROBE = \"/dev/null\" ]" >>bad.conf &&
	echo "IM_DRIVER = [ NAME = \"noprobe\", MODULE = \"ssh\", PROBE = \"$TEST_DIR/none.sh\" ]" >>bad.conf &&
	{ run "$CLOUDD" -n -f bad.conf >out 2>&1; test $? = 1; } &&
	test_grep out "4 of 8 drivers refused" &&
	test_grep out "PROBE_ROOT: '"'"'var/x'"'"' is not an absolute path" &&
	test_grep out "REMOTE_DIR: '"'"'tmp'"'"' is not an absolute path" &&
	test_grep out "PROBE: probe '"'"'/dev/null'"'"' has no PROBE_VERSION=V line" &&
	test_grep out "PROBE: cannot read probe '"'"'$TEST_DIR/none.sh'"'"': No such file" &&
	run "$CLOUDD" -n -f cloudd.conf >out 2>&1
'

cloudd_start || exit 1

test_expect 'four hosts over ssh are MONITORED' '
	for h in $TB_HOSTS; do ctl host create $h --im ssh --vmm dummy >/dev/null || return 1; done &&
	for h in $TB_HOSTS; do wait_host $h MONITORED || return 1; done
'

test_expect 'host list shows the four sizes of the fake proc files' '
	ctl host list >out && cat out &&
	grep -E "^ *0 +node1 +default +0 +800 +800 +800 +16.0G +12.0G +16.0G +on *$" out &&
	grep -E "^ *1 +node2 +default +0 +400 +400 +400 +8.0G +6.0G +8.0G +on *$" out &&
	grep -E "^ *2 +node3 +default +0 +200 +200 +200 +4.0G +1.0G +4.0G +on *$" out &&
	grep -E "^ *3 +node4 +default +0 +1600 +1600 +1600 +32.0G +31.5G +32.0G +on *$" out
'

test_expect 'the report: every attribute, with its units, and the host'"'"'s own name' '
	ctl --json host show node2 >show.json &&
	a() { jq -r ".attributes.$1" show.json; } &&
	test "$(a TOTALCPU)" = 400 && test "$(a CPUSPEED)" = 2400 &&
	test "$(a USEDCPU)" = 0 && test "$(a FREECPU)" = 400 &&
	test "$(a TOTALMEMORY)" = 8388608 && test "$(a FREEMEMORY)" = 6291456 &&
	test "$(a USEDMEMORY)" = 2097152 &&
	test "$(a NETRX)" = 1003 && test "$(a NETTX)" = 2004 &&
	test "$(a HYPERVISOR)" = none && test "$(a ARCH)" = "$(uname -m)" &&
	test "$(a HOSTNAME)" = node2 && test "$(a PROBE_VERSION)" = "$V"
'

test_expect 'the probe was copied to each host on first contact, once' '
	for h in $TB_HOSTS; do cmp "$PROBE" "$(tb_dir $h)/.probe/cloudd-probe.sh" || return 1; done &&
	test "$(grep -c "copying probe version $V to" cloudd.log)" = 4 &&
	test_grep cloudd.log "copying probe version $V to '"'"'node1'"'"':$RPROBE (it has none)"
'

# How late a state may be seen: wait_host polls through cloudctl, which
# "make check-valgrind" runs under valgrind too (about a second a call).
slack=1000
[ -z "${CLD_VALGRIND:-}" ] || slack=3000

# The "monitored" time of HOST.
mon() {
	ctl_json .monitored host show "$1"
}

test_expect 'an unchanged probe is not copied again' '
	ino=$(stat -c %i "$(tb_dir node1)/.probe/cloudd-probe.sh") &&
	t0=$(mon node1) && sleep 3 && test "$(mon node1)" -ge $((t0 + 2)) &&
	test "$(stat -c %i "$(tb_dir node1)/.probe/cloudd-probe.sh")" = "$ino" &&
	test "$(grep -c "copying probe" cloudd.log)" = 4
'

test_expect 'a probe of another version is copied to every host and reports it' '
	sed -i "s/^PROBE_VERSION=$V\$/PROBE_VERSION=1.1-test/" "$PROBE" &&
	grep -q "^PROBE_VERSION=1.1-test\$" "$PROBE" &&
	i=0 && while [ $i -lt 50 ]; do
		n=0 && for h in $TB_HOSTS; do
			test "$(ctl_json .attributes.PROBE_VERSION host show $h)" = 1.1-test && n=$((n + 1))
		done
		[ $n = 4 ] && break
		sleep 0.2; i=$((i + 1))
	done &&
	test $n = 4 &&
	for h in $TB_HOSTS; do cmp "$PROBE" "$(tb_dir $h)/.probe/cloudd-probe.sh" || return 1; done &&
	test "$(grep -c "copying probe version 1.1-test to .* (it has $V)" cloudd.log)" = 4
'

test_expect 'the probe reports the hypervisor'"'"'s domains as VM vectors, names quoted' '
	tb_ssh node3 sh "$RPROBE" "$ROOT" >report &&
	cat report &&
	test_grep report "HYPERVISOR = \"xen\"" &&
	test_grep report "VM = [ NAME = \"cld-7\", DOMID = \"3\", STATE = \"RUNNING\", CPU = 0.0, MEMORY = 524288, NETRX = 0, NETTX = 0 ]" &&
	test_grep report "VM = [ NAME = \"odd\\\"na\\\\me\", DOMID = \"4\", STATE = \"PAUSED\"" &&
	! grep -q Domain-0 report &&
	test "$(ctl_json .attributes.HYPERVISOR host show node3)" = xen &&
	test "$(ctl_json .state host show node3)" = MONITORED
'

test_expect 'a probe that fails puts the host in ERROR with its last words' '
	mv "$(tb_dir node1)/probe/proc/stat" "$(tb_dir node1)/probe/proc/stat.off" &&
	wait_host node1 ERROR 5 &&
	ctl_json .error host show node1 >err &&
	test_grep err "the probe failed on '"'"'node1'"'"' (status 1): cloudd-probe: cannot read $ROOT/proc/stat" &&
	mv "$(tb_dir node1)/probe/proc/stat.off" "$(tb_dir node1)/probe/proc/stat" &&
	wait_host node1 MONITORED 5
'

test_expect 'a dead host (sshd killed) is in ERROR within two intervals, naming it; the others are not' '
	tb_kill_sshd node2 && t0=$(date +%s%N) &&
	wait_host node2 ERROR 10 &&
	ms=$(( ($(date +%s%N) - t0) / 1000000 )) && echo "# ERROR after $ms ms" &&
	test $ms -le $((2000 + slack)) &&
	ctl_json .error host show node2 >err && cat err &&
	test_grep err "cannot reach '"'"'node2'"'"' over ssh" &&
	test_grep err "Connection refused" &&
	for h in node1 node3 node4; do test "$(ctl_json .state host show $h)" = MONITORED || return 1; done
'

test_expect 'it is MONITORED again once its sshd is back' '
	tb_start_sshd node2 && wait_host node2 MONITORED 10 &&
	test "$(ctl_json .error host show node2)" = null
'

test_expect 'a hung host (sshd stopped) is in ERROR at the MONITOR timeout and holds up no one' '
	m1=$(mon node1) && m3=$(mon node3) &&
	tb_stop_sshd node4 && t0=$(date +%s%N) &&
	wait_host node4 ERROR 10 &&
	ms=$(( ($(date +%s%N) - t0) / 1000000 )) && echo "# ERROR after $ms ms" &&
	test $ms -ge 3000 && test $ms -le $((5500 + slack)) &&
	# Whichever comes first at the deadline says so: the core giving up
	# ("no answer within 4 s") or the ssh of the driver killed ("timed out").
	grep -E "host .node4.: monitoring failed: (no answer within 4 s|.*timed out after)" cloudd.log &&
	sleep 3 &&
	test "$(mon node1)" -ge $((m1 + 4)) && test "$(mon node3)" -ge $((m3 + 4)) &&
	for h in node1 node2 node3; do test "$(ctl_json .state host show $h)" = MONITORED || return 1; done
'

test_expect 'and MONITORED again once it goes on' '
	tb_cont_sshd node4 && wait_host node4 MONITORED 20
'

# One monitoring round's cost over a reused connection, a diagnostic.
s=$(ls "$TEST_DIR"/cloudd-ssh/ 2>/dev/null | head -1)
t0=$(date +%s%N)
for i in 1 2 3 4 5; do
	ssh -F "$TB_SSH_CONFIG" -o ControlPath="$TEST_DIR/cloudd-ssh/%C" node1 sh "$RPROBE" "$ROOT" >/dev/null
done
echo "# probe over a reused connection: $(( ($(date +%s%N) - t0) / 5000000 )) ms a run (0.2 s of it the probe's CPU sample)"

test_done
