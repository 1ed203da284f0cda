#!/bin/sh
# cloudd-probe: what a host has and what its hypervisor runs, for im/ssh
# (cloudd-im-ssh(7)).  Copied to each host by cloudd and run there as
#
#   sh cloudd-probe.sh [ROOT]
#
# It prints a report in cloudd's template language on its standard output,
# PROBE_VERSION first: cloudd compares it with its own copy's and copies the
# probe again when they differ.  ROOT (default /) is where proc/cpuinfo,
# proc/meminfo, proc/stat and proc/net/dev are read from; when it is not /,
# ROOT/bin comes first in PATH too (a stand-in xl or virsh for tests).
# POSIX sh, awk, sed and uname only; xl (or xm) or virsh when present.
#
# Change PROBE_VERSION with every change to this file.
PROBE_VERSION=2

set -u
LC_ALL=C
export LC_ALL

root=${1:-/}
case $root in
/) r= ;;
/*) r=${root%/}; PATH="$r/bin:$PATH"; export PATH ;;
*) echo "cloudd-probe: root '$root' is not an absolute path" >&2; exit 2 ;;
esac

# The interval between the two samples of /proc/stat (and of the
# hypervisor's CPU times), in seconds.
interval=0.2

for f in cpuinfo meminfo stat net/dev; do
	[ -r "$r/proc/$f" ] || { echo "cloudd-probe: cannot read $r/proc/$f" >&2; exit 1; }
done

# VALUE as a quoted string of the template language: \ and " escaped,
# control characters dropped.
q() {
	printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\037\177' | sed 's/[\\"]/\\&/g')"
}

# The hypervisor: xl when it exists, else virsh when it answers, else none.
hv=none
xen=xl
if command -v xl >/dev/null 2>&1; then
	hv=xen
# vmm/xl's xm fallback: older Xen hosts have only xm, whose "xm list"
# prints the same columns as "xl list".
elif command -v xm >/dev/null 2>&1; then
	hv=xen
	xen=xm
elif command -v virsh >/dev/null 2>&1 &&
    virsh -c qemu:///system version >/dev/null 2>&1; then
	hv=kvm
fi

# One sample of the hypervisor's domains, one per line:
#   name domid state cputime(s) memory(KiB) rx tx
hv_sample() {
	case $hv in
	xen)
		"$xen" list 2>/dev/null | awk -v devs="$r/proc/net/dev" '
		BEGIN {
			# vifD.N: the host side of domain D'"'"'s NICs; what the
			# host receives the guest sent.
			while ((getline l < devs) > 0) {
				if (l !~ /:/) continue
				split(l, a, ":"); n = a[1]; gsub(/ /, "", n)
				if (n !~ /^vif[0-9]+\./) continue
				d = substr(n, 4); sub(/\..*/, "", d)
				split(a[2], f, " ")
				tx[d] += f[1]; rx[d] += f[9]
			}
		}
		NR > 1 && $1 != "Domain-0" && NF >= 6 {
			s = $5; st = "RUNNING"
			if (s ~ /p/) st = "PAUSED"
			else if (s ~ /c/) st = "CRASHED"
			else if (s ~ /[sd]/) st = "SHUTOFF"
			printf "%s %s %s %s %d %d %d\n", $1, $2, st, $6, $3 * 1024, rx[$2] + 0, tx[$2] + 0
		}'
		;;
	kvm)
		virsh -c qemu:///system domstats --raw --list-active --state \
		    --cpu-total --balloon --interface 2>/dev/null | awk '
		function out() {
			if (name != "")
				printf "%s - %s %.3f %d %d %d\n", name, st, cpu / 1e9, mem, rx, tx
		}
		/^Domain: / { out(); name = $2; gsub(/'"'"'/, "", name); st = "RUNNING"; cpu = mem = rx = tx = 0; next }
		{ split($1, kv, "=") }
		kv[1] == "state.state" { st = kv[2] == 3 ? "PAUSED" : kv[2] == 5 ? "SHUTOFF" : kv[2] == 6 ? "CRASHED" : "RUNNING" }
		kv[1] == "cpu.time" { cpu = kv[2] }
		kv[1] == "balloon.current" { mem = kv[2] }
		kv[1] ~ /^net\.[0-9]+\.rx\.bytes$/ { rx += kv[2] }
		kv[1] ~ /^net\.[0-9]+\.tx\.bytes$/ { tx += kv[2] }
		END { out() }'
		;;
	esac
}

cpu_sample() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' \
	    "$r/proc/stat"
}

s1=$(cpu_sample)
v1=$(hv_sample)
sleep "$interval" 2>/dev/null || { interval=1; sleep 1; }
s2=$(cpu_sample)
v2=$(hv_sample)

ncpu=$(grep -c '^processor' "$r/proc/cpuinfo")
[ "$ncpu" -gt 0 ] || ncpu=1
totalcpu=$((ncpu * 100))
cpuspeed=$(awk -F: '/^cpu MHz/ { printf "%d", $2 + 0.5; exit }' "$r/proc/cpuinfo")
[ -n "$cpuspeed" ] || cpuspeed=0
usedcpu=$(echo "$s1 $s2" | awk -v t="$totalcpu" '{
	busy = $3 - $1; all = $4 - $2
	u = all > 0 ? busy / all * t : 0
	if (u < 0) u = 0; if (u > t) u = t
	printf "%d", u + 0.5 }')
freecpu=$((totalcpu - usedcpu))

# shellcheck disable=SC2046 # two numbers
set -- $(awk '
	$1 == "MemTotal:" { t = $2 } $1 == "MemFree:" { f = $2 }
	$1 == "MemAvailable:" { a = $2; ha = 1 }
	$1 == "Buffers:" { b = $2 } $1 == "Cached:" { c = $2 }
	END { if (!ha) a = f + b + c; if (a > t) a = t; printf "%d %d\n", t, a }' "$r/proc/meminfo")
totalmem=$1
freemem=$2

# shellcheck disable=SC2046 # two numbers
set -- $(awk -F: 'NR > 2 {
	n = $1; gsub(/ /, "", n); if (n == "lo") next
	split($2, f, " "); rx += f[1]; tx += f[9] }
	END { printf "%.0f %.0f\n", rx, tx }' "$r/proc/net/dev")
netrx=$1
nettx=$2

echo "PROBE_VERSION = $(q "$PROBE_VERSION")"
echo "HOSTNAME = $(q "$(uname -n)")"
echo "ARCH = $(q "$(uname -m)")"
echo "HYPERVISOR = $(q "$hv")"
echo "TOTALCPU = $totalcpu"
echo "CPUSPEED = $cpuspeed"
echo "USEDCPU = $usedcpu"
echo "FREECPU = $freecpu"
echo "TOTALMEMORY = $totalmem"
echo "USEDMEMORY = $((totalmem - freemem))"
echo "FREEMEMORY = $freemem"
echo "NETRX = $netrx"
echo "NETTX = $nettx"

# One VM vector per domain of the second sample; its CPU is the time it used
# between the two samples, in percent of one core.
[ -n "$v2" ] || exit 0
printf '%s\n' "$v2" | while read -r name domid st t2 mem rx tx; do
	t1=$(printf '%s\n' "$v1" | awk -v n="$name" '$1 == n { print $4; exit }')
	cpu=$(awk -v a="${t1:-$t2}" -v b="$t2" -v i="$interval" \
	    'BEGIN { c = (b - a) / i * 100; if (c < 0) c = 0; printf "%.1f", c }')
	printf 'VM = [ NAME = %s, DOMID = %s, STATE = %s, CPU = %s, MEMORY = %s, NETRX = %s, NETTX = %s ]\n' \
	    "$(q "$name")" "$(q "$domid")" "$(q "$st")" "$cpu" "$mem" "$rx" "$tx"
done
