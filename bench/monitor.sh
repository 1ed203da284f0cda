#!/bin/sh
# bench/monitor.sh: monitoring N fake hosts, the front-end's CPU per
# interval (issue 4, point 7).  Builds nothing: run it after "make", from
# the build directory or with the build directory as its argument.  Needs
# root (the hosts are t/lib/testbed.sh's network namespaces).
#
#   sh $srcdir/bench/monitor.sh [-n HOSTS] [-i INTERVAL] [-r ROUNDS] [-c] [BUILDDIR]
#
# It makes HOSTS fake hosts (default 200, at most 244: one /24 from .11),
# starts the build's core/cloudd -d with IM_DRIVER ssh (the source tree's
# drivers/im/cloudd-probe.sh, reading this machine's /proc), dummy
# VMM/TM/NET and MONITOR_INTERVAL = INTERVAL (default 10 s), creates the
# hosts with cloudctl and waits until all are MONITORED (the first full
# round: an ssh ControlMaster per host, the probe copied, run once).  After
# one warm-up interval it measures ROUNDS windows (default 3) of INTERVAL
# seconds each:
#
#   cloudd          utime+stime of its threads (/proc/PID/stat)
#   ssh clients     cutime+cstime: the ssh mux clients cloudd runs and reaps
#   ssh masters     the CPU time deltas of the "ssh: ... [mux]" processes
#                   (ControlPersist: they detach, nobody reaps them), from
#                   /proc/PID/schedstat: each uses too little for 10 ms ticks
#   front-end       the three above
#   hosts side      every process under the fake hosts' sshd listeners
#                   (sessions, the shells and probes they run), utime+stime
#                   +cutime+cstime: they run on this same machine
#   machine         busy time of the whole machine (/proc/stat), for context
#   rest            machine - front-end - hosts side: whatever else runs here
#
# each as percent of one core and as CPU-ms per host per interval (the
# window's time scaled to exactly INTERVAL), median/min/max over the
# windows; the monitorings that completed in each window; cloudd's VmRSS
# and VmHWM, and the RSS it grew by per host.  -c runs it again with 50
# hosts afterwards, for comparison (or: -n 50).  Target (issue 4): the
# front-end's cost per host small enough that hundreds of hosts take a
# small part of one core; the figures say where it goes.
set -u
n=200 interval=10 rounds=3 compare=""
while getopts n:i:r:c o; do
	case $o in
	n) n=$OPTARG ;;
	i) interval=$OPTARG ;;
	r) rounds=$OPTARG ;;
	c) compare=50 ;;
	*) echo "usage: bench/monitor.sh [-n HOSTS] [-i INTERVAL] [-r ROUNDS] [-c] [BUILDDIR]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
top_builddir=$(cd "${1:-.}" && pwd) || exit 2
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
export top_builddir top_srcdir
for v in "$n" "$interval" "$rounds"; do
	case $v in ''|*[!0-9]*|0) echo "bench/monitor.sh: '$v' is not a positive integer" >&2; exit 2 ;; esac
done
[ "$n" -le 244 ] || { echo "bench/monitor.sh: at most 244 hosts (one /24 from .11)" >&2; exit 2; }
CLOUDD="$top_builddir/core/cloudd"
CLOUDCTL="$top_builddir/cli/cloudctl"
[ -x "$CLOUDD" ] && [ -x "$CLOUDCTL" ] && [ -f "$top_builddir/drivers/im/im_ssh.la" ] || {
	echo "bench/monitor.sh: no cloudd, cloudctl or im/ssh in '$top_builddir': run it from a build directory after make" >&2
	exit 1
}
[ "$(id -u)" -eq 0 ] || { echo "bench/monitor.sh: needs root (the fake hosts are network namespaces)" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench/monitor.sh: needs jq" >&2; exit 1; }
TMPDIR=/tmp   # the control sockets' paths must stay short
. "$top_srcdir/t/lib/test-lib.sh"
. "$top_srcdir/t/lib/testbed.sh"
HZ=$(getconf CLK_TCK)
CTLDIR="$TEST_DIR/ssh"
CLOUDD_PID=""

ctl() {
	"$CLOUDCTL" -s "$TEST_DIR/cloudd.sock" "$@"
}

now_ns() {
	date +%s%N
}

# Median, min and max of the numbers on standard input.
stats() {
	sort -g | awk '{ v[NR] = $1 } END { printf "%s %s %s\n", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

# "utime+stime cutime+cstime" of PID, in ticks (fields 14-17).
pid_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13, $14 + $15 }'
}

# "PID ticks" of each ControlMaster of ours (its title: ssh: SOCKET [mux]).
masters() {
	# shellcheck disable=SC2046
	set -- $(grep -lsF "ssh: $CTLDIR/" /proc/[0-9]*/cmdline | sed 's|^/proc/||; s|/cmdline$||')
	# Each uses about a millisecond an interval: /proc/PID/stat's 10 ms
	# ticks are too coarse, schedstat's run time (ns) is exact.
	for p in "$@"; do
		r=$(cut -d' ' -f1 "/proc/$p/schedstat" 2>/dev/null) && echo "$p $r"
	done | awk -v hz="$HZ" '{ printf "%s %.4f\n", $1, $2 * hz / 1e9 }'
}

# Ticks of the fake hosts' side: every process descending from a host's
# sshd listener (sessions, the shells and probes they run), each
# utime+stime+cutime+cstime: a reaped process is in its parent's cutime.
hosts_ticks() {
	for h in $TB_HOSTS; do
		cat "$TB_DIR/$h/sshd.pid"
		echo
	done >"$TEST_DIR/listeners"
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v lf="$TEST_DIR/listeners" '
	BEGIN { while ((getline l < lf) > 0) if (l != "") root[l] = 1 }
	{ p = $1; sub(/^.*\) /, ""); pp[p] = $2; t[p] = $12 + $13 + $14 + $15 }
	END {
		for (p in t) {
			q = p; d = 0
			while (q in pp && !(q in root) && q > 1 && d < 64) { q = pp[q]; d++ }
			if (q in root) s += t[p]
		}
		print s + 0
	}'
}

# Busy and total ticks of the machine (/proc/stat: idle and iowait are idle).
machine_ticks() {
	awk '$1 == "cpu" { t = $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; print t - $5 - $6, t; exit }' /proc/stat
}

# "name monitored" of every host.
monitored() {
	ctl --json host list | jq -r '.hosts[] | "\(.name) \(.monitored)"'
}

# Stop cloudd (SIGTERM, wait until gone), end the masters.
frontend_down() {
	if [ -n "$CLOUDD_PID" ]; then
		kill -TERM "$CLOUDD_PID" 2>/dev/null
		i=0
		while kill -0 "$CLOUDD_PID" 2>/dev/null && [ $i -lt 100 ]; do
			i=$((i + 1))
			sleep 0.1
		done
		kill -KILL "$CLOUDD_PID" 2>/dev/null
		wait "$CLOUDD_PID" 2>/dev/null
		CLOUDD_PID=""
	fi
	left=""
	for s in "$CTLDIR"/*; do
		[ -S "$s" ] || continue
		ssh -F /dev/null -o ControlPath="$s" -O exit x >/dev/null 2>&1
	done
	sleep 0.2
	# A master that did not go (its host already down): by its pid.
	left=$(masters | cut -d' ' -f1)
	# shellcheck disable=SC2086
	[ -z "$left" ] || kill -TERM $left 2>/dev/null
	return 0
}

# One run with N hosts.
bench() {
	n=$1
	echo "== monitoring $n fake hosts, MONITOR_INTERVAL = $interval s"
	testbed_up "$n" || { echo "bench/monitor.sh: testbed_up $n failed" >&2; exit 1; }
	echo "testbed: $n hosts up in $TB_UP_MS ms"
	test_cleanup frontend_down
	rm -rf "$TEST_DIR/run" "$CTLDIR"
	mkdir -p "$TEST_DIR/run"
	cat >"$TEST_DIR/cloudd.conf" <<CONF
DRIVER_PATH = "$top_builddir/drivers/vmm"
DRIVER_PATH = "$top_builddir/drivers/im"
DRIVER_PATH = "$top_builddir/drivers/tm"
DRIVER_PATH = "$top_builddir/drivers/net"
DATABASE = "$TEST_DIR/run/cloudd.db"
LISTEN = "$TEST_DIR/cloudd.sock"
LOG_DIR = "$TEST_DIR/run/vmlog"
VM_DIR = "$TEST_DIR/run/vms"
LOG_LEVEL = warning
MONITOR_INTERVAL = $interval
SSH = [ CONFIG = "$TB_SSH_CONFIG", CONTROL_PATH = "$CTLDIR" ]
IM_DRIVER = [ NAME = "ssh", PROBE = "$top_srcdir/drivers/im/cloudd-probe.sh" ]
VMM_DRIVER = [ NAME = "dummy" ]
TM_DRIVER = [ NAME = "dummy" ]
NET_DRIVER = [ NAME = "dummy" ]
CONF
	(exec "$CLOUDD" -d -f "$TEST_DIR/cloudd.conf" >>"$TEST_DIR/run/cloudd.log" 2>&1) &
	CLOUDD_PID=$!
	i=0
	until ctl cluster list >/dev/null 2>&1; do
		i=$((i + 1))
		kill -0 "$CLOUDD_PID" 2>/dev/null && [ $i -lt 300 ] || {
			echo "bench/monitor.sh: cloudd did not start:" >&2
			cat "$TEST_DIR/run/cloudd.log" >&2
			exit 1
		}
		sleep 0.1
	done
	rss0=$(awk '/^VmRSS/ { print $2 }' "/proc/$CLOUDD_PID/status")

	# The first round: from the first "host create" until every host is
	# MONITORED.
	t0=$(now_ns)
	for h in $TB_HOSTS; do
		ctl host create "$h" --im ssh --vmm dummy >/dev/null || exit 1
	done
	t1=$(now_ns)
	i=0
	while :; do
		m=$(ctl --json host list | jq '[.hosts[] | select(.state == "MONITORED")] | length')
		[ "$m" -ge "$n" ] && break
		i=$((i + 1))
		[ $i -lt 3000 ] || {
			echo "bench/monitor.sh: $m of $n hosts MONITORED after 300 s" >&2
			ctl host list | grep -v MONITORED >&2
			exit 1
		}
		sleep 0.1
	done
	t2=$(now_ns)
	echo "first round: $n hosts created in $(( (t1 - t0) / 1000000 )) ms (cloudctl, one at a time);" \
	    "all MONITORED $(( (t2 - t0) / 1000000 )) ms after the first create ($(( (t2 - t1) / 1000000 )) ms after the last)"

	sleep "$interval"     # warm-up
	: >"$TEST_DIR/win"
	r=0
	while [ $r -lt "$rounds" ]; do
		monitored >"$TEST_DIR/mon0"
		masters >"$TEST_DIR/mas0"
		set -- $(pid_ticks "$CLOUDD_PID") $(machine_ticks) $(hosts_ticks)
		c0=$1 k0=$2 b0=$3 h0=$5 w0=$(now_ns)
		sleep "$interval"
		set -- $(pid_ticks "$CLOUDD_PID") $(machine_ticks) $(hosts_ticks)
		c1=$1 k1=$2 b1=$3 h1=$5 w1=$(now_ns)
		masters >"$TEST_DIR/mas1"
		monitored >"$TEST_DIR/mon1"
		# Masters: the delta of each; one born in the window counts whole.
		mt=$(awk 'NR == FNR { a[$1] = $2; next } { d += $2 - (($1 in a) ? a[$1] : 0) } END { printf "%.2f\n", d }' \
		    "$TEST_DIR/mas0" "$TEST_DIR/mas1")
		nm=$(wc -l <"$TEST_DIR/mas1")
		mons=$(awk 'NR == FNR { a[$1] = $2; next } ($1 in a) && $2 != a[$1] { c++ } END { print c + 0 }' \
		    "$TEST_DIR/mon0" "$TEST_DIR/mon1")
		# ticks of: cloudd, its reaped ssh clients, the masters, the machine
		echo "$((w1 - w0)) $((c1 - c0)) $((k1 - k0)) $mt $((b1 - b0)) $mons $nm $((h1 - h0))" >>"$TEST_DIR/win"
		r=$((r + 1))
	done
	rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$CLOUDD_PID/status")
	hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$CLOUDD_PID/status")
	errs=$(ctl --json host list | jq '[.hosts[] | select(.state != "MONITORED")] | length')

	echo "per window of $interval s ($rounds windows after one warm-up interval; $HZ ticks/s):"
	printf '  %-13s %22s %28s\n' "" "% of one core" "CPU-ms per host per interval"
	printf '  %-13s %22s %28s\n' "" "median (min-max)" "median (min-max)"
	for what in "cloudd" "ssh clients" "ssh masters" "front-end" "hosts side" "machine" "rest"; do
		# pct and ms per host per interval of the column, one line per window
		awk -v col="$what" -v hz="$HZ" -v n="$n" -v iv="$interval" '{
			ns = $1; c = $2; k = $3; m = $4; b = $5
			if (col == "cloudd") t = c
			else if (col == "ssh clients") t = k
			else if (col == "ssh masters") t = m
			else if (col == "front-end") t = c + k + m
			else if (col == "hosts side") t = $8
			else if (col == "machine") t = b
			else t = b - (c + k + m) - $8
			s = t / hz
			printf "%.2f %.3f\n", 100 * s / (ns / 1e9), 1000 * s * (iv / (ns / 1e9)) / n
		}' "$TEST_DIR/win" >"$TEST_DIR/col"
		set -- $(cut -d' ' -f1 "$TEST_DIR/col" | stats) $(cut -d' ' -f2 "$TEST_DIR/col" | stats)
		printf '  %-13s %8s%% (%s-%s) %14s (%s-%s)\n' "$what" "$1" "$2" "$3" "$4" "$5" "$6"
	done
	echo "  (hosts side: the fake hosts' sshd and the probes they run, on this same machine;"
	echo "   machine: busy time of all $(nproc) cores from /proc/stat, as % of one core;"
	echo "   rest = machine - front-end - hosts side: everything else running here)"
	set -- $(awk '{ print $6 }' "$TEST_DIR/win" | stats)
	echo "  monitorings completed per window: median $1 (min $2, max $3) of $n hosts;" \
	    "ssh masters: $(awk '{ print $7 }' "$TEST_DIR/win" | tail -1)"
	echo "  hosts not MONITORED at the end: $errs"
	echo "cloudd memory: VmRSS $rss KiB, VmHWM $hwm KiB; $rss0 KiB before the hosts," \
	    "$(( (rss - rss0) * 1024 / n )) bytes more per host"
	frontend_down
	testbed_down
	echo "testbed: down in $TB_DOWN_MS ms"
}

bench "$n"
if [ -n "$compare" ] && [ "$compare" != "$n" ]; then
	echo
	bench "$compare"
fi
exit 0
