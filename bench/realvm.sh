#!/bin/sh
# bench/realvm.sh: real VMs under TCG on the testbed (issue 5, point 6):
# the tiny guest (t/lib/guest.sh) on fake hosts each running a libvirtd
# (t/lib/testbed.sh, TB_LIBVIRT).  Needs root.  Run it from the build
# directory, or with the build directory as its argument:
#
#   sh $srcdir/bench/realvm.sh [-r RUNS] [-m MIGRATIONS] [-n GUESTS] [-w SECS] [BUILDDIR]
#
#   libvirtd    the first libvirtd's start until it answers, on an empty
#               capability cache of its own (it probes QEMU), then the
#               second's with the cache filled
#   boot        start to first ping: from "virsh create" of the guest on
#               node1 over qemu+ssh to its first reply to a ping from the
#               front-end sent every 0.1 s; RUNS runs (default 5) after a
#               warm-up, median/min/max.  Each run ends with an ACPI
#               shutdown ("virsh shutdown" until the domain is gone),
#               timed too.  With vmm/libvirt in BUILDDIR, the same guest
#               through the build's cloudd too ("cloudctl vm create" to
#               first ping; "vm shutdown" until DONE), alternating A B A B:
#               cloudd runs vmm/libvirt and im/libvirt on node1 over the
#               same qemu+ssh URI, and the bare runs create the very
#               domain cloudd made (its XML, renamed).  Target: cloudd
#               adds under 1 s
#   migration   "virsh migrate --live" of a booted guest between node1
#               and node2, back and forth, MIGRATIONS times (default 4),
#               with the pings it lost (every 0.1 s)
#   idle        GUESTS guests (default 4) booted over two hosts, left idle
#               10 s, then SECS seconds (default 20) measured: each QEMU's
#               CPU (utime+stime, % of one core) and resident memory, and
#               the whole machine's busy time for context
set -u
runs=5 migrations=4 guests=4 idle_secs=20
while getopts r:m:n:w: o; do
	case $o in
	r) runs=$OPTARG ;;
	m) migrations=$OPTARG ;;
	n) guests=$OPTARG ;;
	w) idle_secs=$OPTARG ;;
	*) echo "usage: bench/realvm.sh [-r RUNS] [-m MIGRATIONS] [-n GUESTS] [-w SECS] [BUILDDIR]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
for v in "$runs" "$migrations" "$guests" "$idle_secs"; do
	case $v in ''|*[!0-9]*|0) echo "bench/realvm.sh: '$v' is not a positive integer" >&2; exit 2 ;; esac
done
[ "$guests" -le 50 ] || { echo "bench/realvm.sh: at most 50 guests" >&2; exit 2; }
top_builddir=$(cd "${1:-.}" && pwd) || exit 2
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
export top_builddir top_srcdir
[ "$(id -u)" -eq 0 ] || { echo "bench/realvm.sh: needs root (the fake hosts are network namespaces)" >&2; exit 1; }
. "$top_srcdir/t/lib/test-lib.sh"
. "$top_srcdir/t/lib/testbed.sh"
. "$top_srcdir/t/lib/guest.sh"
HZ=$(getconf CLK_TCK)
BOOT_SECS=300

why=$(guest_lacks)
[ -z "$why" ] || { echo "bench/realvm.sh: $why" >&2; exit 1; }
guest_build || exit 1

now_ns() {
	date +%s%N
}

# Median, min and max of the numbers on standard input.
stats() {
	sort -g | awk '{ v[NR] = $1 } END { printf "%s %s %s\n", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

# Print "LABEL median (min-max) UNIT" of the numbers in FILE.
report() {
	# shellcheck disable=SC2046
	set -- "$1" $(stats <"$2") "$3"
	printf '  %-28s %8s (%s-%s) %s\n' "$1" "$2" "$3" "$4" "$5"
}

# Start a ping of ADDR every 0.1 s with timestamps into FILE.
ping_start() {
	ping -D -O -i 0.1 -W 1 "$1" >"$2" 2>&1 &
	PING_PID=$!
	echo "$PING_PID" >"$TEST_DIR/ping.pid"
}

ping_stop() {
	kill -INT "$PING_PID" 2>/dev/null
	wait "$PING_PID" 2>/dev/null
	: >"$TEST_DIR/ping.pid"
}

# The epoch second (with fraction) of FILE's first ping reply, waiting for
# it at most SECS seconds.
first_reply() {
	end=$(( $(date +%s) + $2 ))
	while :; do
		t=$(awk -F'[][]' '/bytes from/ { print $2; exit }' "$1")
		[ -n "$t" ] && { echo "$t"; return 0; }
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# Wait until domain G is gone from HOST (a transient domain shut down).
wait_gone() {
	end=$(( $(date +%s) + $3 ))
	while tb_virsh_sock "$1" domstate "$2" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# Never "kill 0" (the whole process group) from an empty file.
test_cleanup 'p=$(cat "$TEST_DIR/ping.pid" 2>/dev/null); [ -z "$p" ] || kill "$p"'

# -- libvirtd on an empty capability cache of its own, then warm.
mkdir -p "$TEST_DIR/caps"
TB_LIBVIRT=1 TB_LIBVIRT_CACHE="$TEST_DIR/caps" testbed_up 2 || {
	echo "bench/realvm.sh: testbed_up failed" >&2
	exit 1
}
echo "== libvirtd per fake host, QEMU $(qemu-system-x86_64 --version | sed -n '1s/.*version \([^ ]*\).*/\1/p'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  first libvirtd, empty capability cache: $TB_LIBVIRT_FIRST_MS ms to answer (probes QEMU)"
echo "  second libvirtd, cache filled:          $TB_LIBVIRT_REST_MS ms"
echo "  guest: $GUEST_KERNEL ($GUEST_MIB MiB, 1 vCPU)"

GW=$TB_NET.1
A1=$(guest_addr 1)
guest_xml b1 "$(guest_mac 1)" "$A1/24" "$GW" >b1.xml
guest_template b1 "$(guest_mac 1)" "$A1/24" "$GW" >b1.tmpl

# -- Start to first ping, bare virsh over qemu+ssh; ACPI shutdown.
bare_once() {
	ping_start "$A1" ping.log
	t0=$(now_ns)
	tb_virsh node1 create b1.xml >/dev/null || return 1
	t=$(first_reply ping.log $BOOT_SECS) || {
		echo "bench/realvm.sh: b1 did not answer ping in $BOOT_SECS s" >&2
		return 1
	}
	ping_stop
	awk -v a="$t0" -v b="$t" 'BEGIN { printf "%.2f\n", b - a / 1e9 }' >>bare.t
	# acpid runs once httpd answers: then the power button works.
	guest_wait_ready "$A1" 60 || return 1
	t0=$(now_ns)
	tb_virsh node1 shutdown b1 >/dev/null && wait_gone node1 b1 120 || {
		echo "bench/realvm.sh: b1 did not shut down" >&2
		return 1
	}
	awk -v a="$t0" -v b="$(now_ns)" 'BEGIN { printf "%.2f\n", (b - a) / 1e9 }' >>shutdown.t
}

# The same guest through cloudd: create to first ping, shutdown to DONE.
# The first run also gives the bare runs cloudd's own domain.
cloudd_once() {
	ping_start "$A1" ping.log
	t0=$(now_ns)
	id=$(ctl vm create b1.tmpl) || return 1
	t=$(first_reply ping.log $BOOT_SECS) || {
		echo "bench/realvm.sh: VM $id did not answer ping in $BOOT_SECS s:" >&2
		ctl vm show "$id" >&2
		return 1
	}
	ping_stop
	awk -v a="$t0" -v b="$t" 'BEGIN { printf "%.2f\n", b - a / 1e9 }' >>cloudd.t
	wait_vm "$id" RUNNING 60 || return 1
	if [ ! -s cld.xml ]; then
		tb_virsh_sock node1 dumpxml --inactive "cld-$id" >cld.xml &&
		sed -e "s|<name>cld-$id</name>|<name>b1</name>|" -e '/<uuid>/d' cld.xml >b1.xml ||
			return 1
	fi
	guest_wait_ready "$A1" 60 || return 1
	t0=$(now_ns)
	ctl vm shutdown "$id" >/dev/null && wait_vm "$id" DONE 120 || return 1
	awk -v a="$t0" -v b="$(now_ns)" 'BEGIN { printf "%.2f\n", (b - a) / 1e9 }' >>cshutdown.t
}
have_cloudd=""
if [ -f "$top_builddir/drivers/vmm/vmm_libvirt.la" ] && [ -x "$CLOUDD" ] &&
    [ -x "$CLOUDCTL" ] && command -v jq >/dev/null; then
	have_cloudd=1
	uri="qemu+ssh://HOST/system?command=$TB_LIBVIRT_SSH"
	write_conf <<CONF
MONITOR_INTERVAL = 10
VMM_DRIVER = [ NAME = "libvirt", URI = "$uri", TYPE = "qemu" ]
IM_DRIVER = [ NAME = "libvirt", URI = "$uri" ]
TM_DRIVER = [ NAME = "dummy" ]
NET_DRIVER = [ NAME = "dummy" ]
CONF
	cloudd_start || exit 1
	ctl host create node1 --im libvirt --vmm libvirt >/dev/null &&
	wait_host node1 MONITORED 60 || exit 1
fi

: >bare.t
: >cloudd.t
: >shutdown.t
i=0
while [ $i -le "$runs" ]; do
	if [ -n "$have_cloudd" ]; then cloudd_once || exit 1; fi
	bare_once || exit 1
	if [ $i -eq 0 ]; then
		# The warm-up counts for nothing.
		: >bare.t
		: >cloudd.t
		: >shutdown.t
		: >cshutdown.t
	fi
	i=$((i + 1))
done
# Its monitoring would count in the idle figures below.
[ -z "$have_cloudd" ] || cloudd_stop || exit 1
echo "== the guest, start to first ping (every 0.1 s), $runs runs after a warm-up: median (min-max)"
report "bare virsh create" bare.t s
if [ -n "$have_cloudd" ]; then
	report "through cloudd (vm create)" cloudd.t s
	set -- "$(stats <bare.t)" "$(stats <cloudd.t)"
	awk -v a="${1%% *}" -v b="${2%% *}" 'BEGIN {
		printf "  cloudd adds (median - median) %6.2f s (target: under 1 s)\n", b - a }'
else
	echo "  through cloudd               n/a: no vmm/libvirt, cloudd, cloudctl or jq in $top_builddir"
fi
report "ACPI shutdown until gone" shutdown.t s
[ -z "$have_cloudd" ] || report "vm shutdown until DONE" cshutdown.t s

# -- Live migration back and forth.
ping_start "$A1" mig.log
tb_virsh node1 create b1.xml >/dev/null || exit 1
first_reply mig.log $BOOT_SECS >/dev/null && guest_wait_ready "$A1" 60 &&
guest_status "$A1" >before || { echo "bench/realvm.sh: b1 did not boot" >&2; exit 1; }
: >mig.t
: >lost.t
from=node1 to=node2
i=0
while [ $i -lt "$migrations" ]; do
	l0=$(wc -l <mig.log)
	t0=$(now_ns)
	virsh -q -c "$(tb_libvirt_uri $from)" migrate --live b1 "$(tb_libvirt_uri $to)" || {
		echo "bench/realvm.sh: migration $from -> $to failed" >&2
		exit 1
	}
	t1=$(now_ns)
	# Until a reply comes after the migration, then one more second:
	# the pings sent since it began that got no reply are lost.
	end=$(( $(date +%s) + 60 ))
	until awk -F'[][]' -v t1="$t1" '/bytes from/ { t = $2 } END { exit !(t > t1 / 1e9) }' mig.log; do
		[ "$(date +%s)" -lt "$end" ] || { echo "bench/realvm.sh: no ping after migrating" >&2; exit 1; }
		sleep 0.1
	done
	sleep 1
	tail -n +$((l0 + 1)) mig.log | awk '
	match($0, /icmp_seq=[0-9]+/) {
		s = substr($0, RSTART + 9, RLENGTH - 9) + 0
		if (min == "" || s < min) min = s
		if (s > max) max = s
		if (/bytes from/) r[s] = 1
	}
	END { n = 0; for (k in r) n++; print max - min + 1 - n }' >>lost.t
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", (b - a) / 1e9 }' >>mig.t
	x=$from from=$to to=$x
	i=$((i + 1))
done
ping_stop
guest_status "$A1" >after
same=no
[ "$(grep boot_id before)" = "$(grep boot_id after)" ] && same=yes
echo "== live migration between two fake hosts, $migrations times: median (min-max)"
report "virsh migrate --live" mig.t s
report "pings lost (every 0.1 s)" lost.t ""
echo "  same boot after all of them: $same"
tb_virsh "$from" destroy b1 >/dev/null

# -- GUESTS idle guests over the two hosts.
i=1
: >idle.addrs
while [ $i -le "$guests" ]; do
	h=node$(( (i - 1) % 2 + 1 ))
	guest_xml "i$i" "$(guest_mac "$i")" "$(guest_addr "$i")/24" "$GW" >"i$i.xml"
	tb_virsh "$h" create "i$i.xml" >/dev/null || exit 1
	guest_addr "$i" >>idle.addrs
	i=$((i + 1))
done
for a in $(cat idle.addrs); do
	guest_wait_ready "$a" $BOOT_SECS || exit 1
done
sleep 10
qemus() {
	for h in $TB_HOSTS; do tb_qemu_pids "$h"; done
}
ticks() {
	for p in $(qemus); do
		sed 's/^.*) //' "/proc/$p/stat" | awk -v p="$p" '{ print p, $12 + $13 }'
	done
}
busy() {
	awk '$1 == "cpu" { t = $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; print t - $5 - $6; exit }' /proc/stat
}
ticks >t0
b0=$(busy)
w0=$(now_ns)
sleep "$idle_secs"
ticks >t1
b1=$(busy)
w1=$(now_ns)
awk -v hz="$HZ" -v ns=$((w1 - w0)) 'NR == FNR { a[$1] = $2; next }
	($1 in a) { printf "%.2f\n", 100 * ($2 - a[$1]) / hz / (ns / 1e9) }' t0 t1 >idle.t
rss=$(for p in $(qemus); do awk '/^VmRSS/ { print $2 }' "/proc/$p/status"; done | stats)
total=$(awk '{ s += $1 } END { printf "%.2f", s }' idle.t)
echo "== $guests idle guests on 2 hosts, measured $idle_secs s after 10 s idle"
report "CPU per QEMU, % of one core" idle.t ""
echo "  CPU of all $guests QEMUs:          $total % of one core"
# shellcheck disable=SC2086
set -- $rss
echo "  resident memory per QEMU:      $1 KiB ($2-$3)"
awk -v hz="$HZ" -v b=$((b1 - b0)) -v ns=$((w1 - w0)) 'BEGIN {
	printf "  the whole machine was busy:   %.0f %% of one core (everything running here)\n", 100 * b / hz / (ns / 1e9) }'
testbed_down
exit 0
