#!/bin/sh
# bench/tm.sh: the transfer drivers on the shell testbed (t/lib/testbed.sh;
# needs root).  Run from the build directory after "make check" has built
# t/helpers/tm-run:
#
#   sh $srcdir/bench/tm.sh [-s SIZE_MIB] [-r RUNS] [-b SPARSE_GIB]
#
#   tm/ssh     clone of a SIZE_MIB image (default 1024) to a fake host
#              against a bare "scp -O" of the same file to the same host,
#              alternating A B A B, RUNS of each (default 5) after a warm-up
#              of each; prints median/min/max seconds and MB/s and the ratio
#              of the medians' throughputs (target: at least 0.9).  tm/ssh
#              makes the directory, checks the free space (ssh, reused
#              connection), copies with scp -O and renames (ssh).
#   tm/shared  clone (a qcow2 overlay made on the host over a reused ssh
#              connection) of a SPARSE_GIB (default 10) sparse raw image in
#              the shared datastore: median/min/max ms of RUNS (target:
#              under 100 ms, independent of the size).
set -u
size=1024 runs=5 sparse=10
while getopts s:r:b: o; do
	case $o in
	s) size=$OPTARG ;;
	r) runs=$OPTARG ;;
	b) sparse=$OPTARG ;;
	*) echo "usage: bench/tm.sh [-s SIZE_MIB] [-r RUNS] [-b SPARSE_GIB]" >&2; exit 2 ;;
	esac
done
: "${top_builddir:=$(pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
export top_builddir top_srcdir
TM_RUN="$top_builddir/t/helpers/tm-run"
[ -x "$TM_RUN" ] || { echo "bench/tm.sh: build t/helpers/tm-run first (make check)" >&2; exit 1; }
. "$top_srcdir/t/lib/test-lib.sh"
. "$top_srcdir/t/lib/testbed.sh"

# Median, min and max of the numbers on standard input.
stats() {
	sort -g | awk '{ v[NR] = $1 } END { printf "%s %s %s\n", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

now() {
	date +%s.%N
}

TB_SHARED=1 testbed_up 1 || exit 1
DS=$TB_DATASTORE/datastore
FDS=$TB_SHARED_DIR/datastore
CTL="$TEST_DIR/ctl"
test_cleanup 'for s in "$CTL"/*; do [ -S "$s" ] && ssh -F /dev/null -o ControlPath="$s" -O exit x; done'
mkdir -p "$FDS/images"

# -- tm/ssh against bare scp.  The shared store is node1's datastore too:
#    it is a directory on the same disk either way.
img="$TEST_DIR/img"
head -c $((size * 1048576)) /dev/zero >"$img"
sync
tm_ssh() {
	"$TM_RUN" -d ssh -F "$TB_SSH_CONFIG" -c "$CTL" -o DATASTORE="$DS" \
	    clone "$img" node1 "$DS/1/disk.0" >/dev/null
}
bare() {
	scp -F "$TB_SSH_CONFIG" -O -q -o BatchMode=yes -- "$img" node1:"$DS/bare"
}
tm_ssh && bare || { echo "bench/tm.sh: warm-up failed" >&2; exit 1; }
: >a.t
: >b.t
i=0
while [ $i -lt "$runs" ]; do
	rm -f "$FDS/1/disk.0" "$FDS/bare"; sync
	t0=$(now); tm_ssh || exit 1; t1=$(now)
	echo "$t1 - $t0" | bc >>a.t
	rm -f "$FDS/1/disk.0" "$FDS/bare"; sync
	t0=$(now); bare || exit 1; t1=$(now)
	echo "$t1 - $t0" | bc >>b.t
	i=$((i + 1))
done
set -- $(stats <a.t)
a_med=$1 a_min=$2 a_max=$3
set -- $(stats <b.t)
b_med=$1 b_min=$2 b_max=$3
awk -v s="$size" -v am="$a_med" -v an="$a_min" -v ax="$a_max" \
    -v bm="$b_med" -v bn="$b_min" -v bx="$b_max" -v r="$runs" 'BEGIN {
	mb = s * 1.048576
	printf "tm/ssh clone of %d MiB, %d runs each, A B A B:\n", s, r
	printf "  tm/ssh    median %.2f s (%.0f MB/s), min %.2f, max %.2f\n", am, mb / am, an, ax
	printf "  bare scp  median %.2f s (%.0f MB/s), min %.2f, max %.2f\n", bm, mb / bm, bn, bx
	printf "  ratio of throughputs (tm/ssh / scp): %.3f (target >= 0.9)\n", bm / am
}'
rm -f "$FDS/1/disk.0" "$FDS/bare" "$img"

# -- tm/shared clone of a big sparse image.
truncate -s "${sparse}G" "$FDS/images/big.img"
: >c.t
i=-1
while [ $i -lt "$runs" ]; do
	rm -f "$FDS/2/disk.0"
	out=$("$TM_RUN" -d shared -F "$TB_SSH_CONFIG" -c "$CTL" -o DATASTORE="$DS" \
	    -o FRONTEND_DATASTORE="$FDS" clone "$FDS/images/big.img" node1 \
	    "$DS/2/disk.0") || exit 1
	# The helper times the operation alone (the program's start aside).
	[ $i -ge 0 ] && echo "$out" | sed -n 's/^ok \([0-9]*\) ms.*/\1/p' >>c.t
	i=$((i + 1))
done
set -- $(stats <c.t)
echo "tm/shared clone of a ${sparse} GiB sparse image, $runs runs after a warm-up:"
echo "  median $1 ms, min $2, max $3 (target < 100 ms); overlay $(stat -c %s "$FDS/2/disk.0") bytes"
exit 0
