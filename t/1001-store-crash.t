#!/bin/sh
#
# The store survives a writer killed with SIGKILL in the middle of its
# stream: every change it reported committed is there after reopening,
# nothing is half-written (no VM without its history record, no gap, no
# damaged body), and the store goes on being usable.
#
# Standalone POSIX sh producing TAP.  Uses $top_builddir (the test harness
# exports it) to find t/helpers/store-writer.

if test -z "$top_builddir"; then
	if test -x ./t/helpers/store-writer; then
		top_builddir=.
	else
		top_builddir=..
	fi
fi
writer=$top_builddir/t/helpers/store-writer
kills=5

if ! test -x "$writer"; then
	echo "1..1"
	echo "not ok 1 - the helper '$writer' is built"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cld-crash.XXXXXX") || exit 1
pid=
cleanup() {
	if test -n "$pid"; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

db=$tmp/cloudd.db
n=0
failed=0

ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}

not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
}

# Print FILE's lines as TAP diagnostics.
diag_file() {
	sed -e 's/^/# /' "$1"
}

# Lines of FILE (0 if there is none).
lines() {
	if test -s "$1"; then
		wc -l <"$1" | tr -d ' '
	else
		echo 0
	fi
}

# A delay of 0.2 to 0.6 s, different for every kill and every run.
delay() {
	awk -v seed="$$$1" 'BEGIN { srand(seed); printf "%.2f", 0.2 + rand() * 0.4 }'
}

echo "1..$((kills + 1))"

i=1
while test "$i" -le "$kills"; do
	out=$tmp/out.$i
	have=$tmp/have.$i
	flags=
	# every other writer syncs FULL: both settings must survive a kill
	test $((i % 2)) -eq 0 && flags=--full
	before=0
	test "$i" -gt 1 && before=$(lines "$tmp/have.$((i - 1))")

	"$writer" $flags "$db" 10000000 >"$out" 2>"$tmp/err.$i" &
	pid=$!
	# the stream has started when the first commit is reported
	waited=0
	while ! test -s "$out" && test "$waited" -lt 200 &&
	    kill -0 "$pid" 2>/dev/null; do
		sleep 0.05
		waited=$((waited + 1))
	done
	d=$(delay "$i")
	sleep "$d"
	kill -9 "$pid" 2>/dev/null
	{ wait "$pid"; } 2>/dev/null
	status=$?
	pid=

	why=
	if test "$status" -ne 137; then
		why="the writer was not killed (exit $status)"
		diag_file "$tmp/err.$i"
	fi
	committed=$(grep -c '^committed ' "$out")
	if test "$committed" -eq 0; then
		why="${why:+$why; }the writer reported no commit"
	fi
	if ! "$writer" --check "$db" >"$have" 2>"$tmp/check.$i"; then
		why="${why:+$why; }the store is not consistent"
		diag_file "$tmp/check.$i"
	fi
	# every id reported committed is in the store
	if ! awk 'NR == FNR { have[$1] = 1; next }
	    $1 == "committed" && !($2 in have) {
		if (++missing <= 10)
			print "# committed but missing: vm " $2
	    }
	    END { exit missing > 0 }' "$have" "$out"; then
		why="${why:+$why; }committed changes are missing"
	fi
	# the store is ahead of the report by one transaction (50) at most
	last=$(awk '$1 == "committed" { n = $2 } END { print n + 0 }' "$out")
	total=$(lines "$have")
	if test "$total" -gt $((last + 50)) || test "$total" -lt "$before"; then
		why="${why:+$why; }the store holds $total vms, the writer reported up to $last"
	fi
	if test -z "$why"; then
		ok "kill $i after ${d}s${flags:+ ($flags)}: $committed committed vms all there, $total in the store, consistent"
	else
		not_ok "kill $i after ${d}s${flags:+ ($flags)}: $why"
	fi
	i=$((i + 1))
done

# after all that, the store still works: a writer runs to its end
total=$(lines "$tmp/have.$kills")
why=
if ! "$writer" "$db" 100 >"$tmp/out.end" 2>"$tmp/err.end"; then
	why="the writer failed"
	diag_file "$tmp/err.end"
fi
if ! "$writer" --check "$db" >"$tmp/have.end" 2>"$tmp/check.end"; then
	why="${why:+$why; }the store is not consistent"
	diag_file "$tmp/check.end"
fi
after=$(lines "$tmp/have.end")
if test "$after" -ne $((total + 100)); then
	why="${why:+$why; }$after vms where $total + 100 were due"
fi
if test -z "$why"; then
	ok "the store is usable after the kills: 100 more vms written ($after in all)"
else
	not_ok "the store is usable after the kills: $why"
fi

test "$failed" -eq 0
