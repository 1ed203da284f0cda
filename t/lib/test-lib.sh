# test-lib.sh: the small library of cloudd's shell tests (after git's).
#
#   . "$top_srcdir/t/lib/test-lib.sh"
#   test_expect 'what a user checks' 'commands that must succeed'
#   test_done
#
# Each test gets its own temporary directory $TEST_DIR, removed at exit
# (kept when CLD_KEEP_TEST_DIR is set), and cleanup hooks run even when the
# test fails or is interrupted.  Output is TAP.

set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir

CLOUDD="$top_builddir/core/cloudd"
TEST_NAME=$(basename "$0" .t)
TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cld-$TEST_NAME-XXXXXX") || {
	echo "1..0 # SKIP cannot make a temporary directory"; exit 77; }
export TEST_DIR
test_count=0
test_failed=0
test_cleanups=""

# Run CMD (a string) when the test ends, however it ends.
test_cleanup() {
	test_cleanups="$1
$test_cleanups"
}

_test_exit() {
	status=$?
	trap - EXIT INT TERM HUP
	eval "$test_cleanups" >/dev/null 2>&1 || :
	if [ -z "${CLD_KEEP_TEST_DIR:-}" ]; then
		rm -rf "$TEST_DIR"
	else
		echo "# kept $TEST_DIR"
	fi
	exit $status
}
trap _test_exit EXIT
# Every cloudd a test started (cloudd_start) dies with the test.
test_cleanup 'for p in $(cat "$TEST_DIR/.cloudd.pids" 2>/dev/null); do kill -KILL $p 2>/dev/null; done'
trap 'exit 130' INT TERM HUP
cd "$TEST_DIR" || exit 1

# Run our own programs under valgrind when "make check-valgrind" asks.
run() {
	${CLD_VALGRIND:-} "$@"
}

test_expect() {
	test_count=$((test_count + 1))
	if (eval "$2") >"$TEST_DIR/.out" 2>&1; then
		echo "ok $test_count - $1"
	else
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - $1"
		sed 's/^/#   /' "$TEST_DIR/.out"
	fi
}

# Fails the test with a diagnostic: use inside test_expect bodies.
fail() {
	echo "$*" >&2
	return 1
}

# "expected" and "actual" must be the same text.
test_cmp() {
	diff -u "$1" "$2"
}

# FILE must contain TEXT (a fixed string).
test_grep() {
	grep -F -e "$2" "$1" >/dev/null || { echo "'$1' lacks '$2':"; cat "$1"; return 1; }
}

skip_all() {
	echo "1..0 # SKIP $*"
	exit 77
}

test_done() {
	# A daemon the test ran must not have hit a memory error.
	if [ -f "$TEST_DIR/cloudd.log" ] && grep -E \
	    '^==[0-9]+== |ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' \
	    "$TEST_DIR/cloudd.log" >"$TEST_DIR/.memerr"; then
		test_count=$((test_count + 1))
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - cloudd ran clean under the sanitizers or valgrind"
		sed 's/^/#   /' "$TEST_DIR/.memerr" | head -40
	fi
	echo "1..$test_count"
	if [ "$test_count" -eq 0 ]; then
		echo "# no test ran"
		exit 1
	fi
	[ "$test_failed" -eq 0 ] && exit 0
	echo "# $test_failed of $test_count failed"
	exit 1
}

# A cloudd.conf in $TEST_DIR that loads from the build tree's drivers.
write_conf() {
	cat >"$TEST_DIR/cloudd.conf" <<CONF
DRIVER_PATH = "$top_builddir/drivers/vmm"
DRIVER_PATH = "$top_builddir/drivers/im"
DRIVER_PATH = "$top_builddir/drivers/tm"
DRIVER_PATH = "$top_builddir/drivers/net"
DATABASE = "$TEST_DIR/cloudd.db"
LISTEN = "$TEST_DIR/cloudd.sock"
LOG_DIR = "$TEST_DIR/vmlog"
VM_DIR = "$TEST_DIR/vms"
CONF
	cat >>"$TEST_DIR/cloudd.conf"
}

CLOUDCTL="$top_builddir/cli/cloudctl"
CLOUDD_PID=""

# cloudctl on the test's cloudd.
ctl() {
	run "$CLOUDCTL" -s "$TEST_DIR/cloudd.sock" "$@"
}

# Start cloudd in the foreground (in the background of the test) on
# $TEST_DIR/cloudd.conf, its log in $TEST_DIR/cloudd.log, and wait until
# the API answers.  It is stopped when the test ends.
cloudd_start() {
	# exec: $! must be cloudd itself (or valgrind), not a subshell.
	(exec ${CLD_VALGRIND:-} "$CLOUDD" -d -f "$TEST_DIR/cloudd.conf" "$@" \
	    >>"$TEST_DIR/cloudd.log" 2>&1) &
	CLOUDD_PID=$!
	# A file, not test_cleanup: a test body runs in a subshell, and a
	# cloudd started there must be killed at the end all the same.
	echo "$CLOUDD_PID" >>"$TEST_DIR/.cloudd.pids"
	i=0
	while [ $i -lt 300 ]; do
		if "$CLOUDCTL" -s "$TEST_DIR/cloudd.sock" cluster list \
		    >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$CLOUDD_PID" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	echo "cloudd did not start:" >&2
	cat "$TEST_DIR/cloudd.log" >&2
	return 1
}

# Wait up to 20 s for cloudd to be gone (test bodies run in a subshell,
# which cannot "wait" for it).
_cloudd_gone() {
	i=0
	while kill -0 "$CLOUDD_PID" 2>/dev/null; do
		# A zombie is gone for our purposes once all its threads are:
		# the main thread turns zombie first, and the files (the
		# store's lock) are closed when the last thread exits.
		case $(ps -o stat= -p "$CLOUDD_PID" 2>/dev/null) in
		Z*) [ "$(ls /proc/"$CLOUDD_PID"/task 2>/dev/null | wc -l)" -le 1 ] &&
			return 0 ;;
		esac
		i=$((i + 1))
		[ $i -lt 200 ] || { echo "cloudd $CLOUDD_PID did not exit" >&2; return 1; }
		sleep 0.1
	done
}

# Stop it with SIGTERM and wait until it is gone.
cloudd_stop() {
	kill -TERM "$CLOUDD_PID" && _cloudd_gone
}

# Kill it at once, as a crash would.
cloudd_kill() {
	kill -KILL "$CLOUDD_PID" && _cloudd_gone
}

# The value of JSON path JQ in "cloudctl --json ARGS...".
ctl_json() {
	q=$1
	shift
	ctl --json "$@" | jq -r "$q"
}

# Wait up to SECS (default 20) until VM ID is in STATE.
wait_vm() {
	id=$1 want=$2 secs=${3:-20}
	end=$(( $(date +%s) + secs ))
	while :; do
		got=$(ctl_json .state vm show "$id" 2>/dev/null)
		[ "$got" = "$want" ] && return 0
		if [ "$(date +%s)" -ge "$end" ]; then
			echo "VM $id is '$got', not '$want', after $secs s" >&2
			ctl vm show "$id" >&2
			return 1
		fi
		sleep 0.1
	done
}

# Wait until host NAME is in STATE.
wait_host() {
	name=$1 want=$2 secs=${3:-20}
	end=$(( $(date +%s) + secs ))
	while :; do
		got=$(ctl_json .state host show "$name" 2>/dev/null)
		[ "$got" = "$want" ] && return 0
		if [ "$(date +%s)" -ge "$end" ]; then
			echo "host $name is '$got', not '$want', after $secs s" >&2
			return 1
		fi
		sleep 0.1
	done
}
