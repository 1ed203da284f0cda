#!/bin/sh
# tm/shared on fake hosts sharing one datastore (TB_SHARED=1) through
# t/helpers/tm-run: a clone is a small qcow2 overlay backed by the image
# itself (no copy), every host sees what one host made, link is a symbolic
# link, mv has nothing to move, delete stays inside the datastore.
. "$top_srcdir/t/lib/test-lib.sh"
. "$top_srcdir/t/lib/testbed.sh"

TB_SHARED=1 testbed_up 3 || exit 1
command -v qemu-img >/dev/null || skip_all "qemu-img is not installed (tools/install-deps installs qemu-utils)"
DS=$TB_DATASTORE/datastore
FDS=$TB_SHARED_DIR/datastore
CTL="$TEST_DIR/ctl"
test_cleanup 'for s in "$CTL"/*; do [ -S "$s" ] && ssh -F /dev/null -o ControlPath="$s" -O exit x; done'

tm() {
	run "$top_builddir/t/helpers/tm-run" -d shared -F "$TB_SSH_CONFIG" -c "$CTL" \
	    -o DATASTORE="$DS" -o FRONTEND_DATASTORE="$FDS" "$@"
}

mkdir -p "$FDS/images"
head -c 4194304 /dev/urandom >"$FDS/images/base.img"
qemu-img convert -f raw -O qcow2 "$FDS/images/base.img" "$FDS/images/base.qcow2"

test_expect 'clone makes a small qcow2 overlay backed by the image itself' '
	tm clone "$FDS/images/base.img" node1 "$DS/5/disk.0" &&
	test "$(stat -c %s "$FDS/5/disk.0")" -lt 1048576 &&
	qemu-img info -U "$FDS/5/disk.0" >info &&
	test_grep info "file format: qcow2" &&
	test_grep info "backing file: $DS/images/base.img" &&
	test_grep info "backing file format: raw" &&
	test ! -e "$FDS/5/disk.0.part"
'

test_expect 'every host sees the clone, with the image'"'"'s bytes' '
	for h in node1 node2 node3; do
		tb_ssh $h "qemu-img compare -q -f qcow2 -F raw $DS/5/disk.0 $DS/images/base.img" ||
		    fail "$h does not see the clone"
	done
'

test_expect 'a qcow2 image is recorded as a qcow2 backing file' '
	tm clone "$FDS/images/base.qcow2" node2 "$DS/5/disk.1" &&
	qemu-img info -U "$FDS/5/disk.1" >info &&
	test_grep info "backing file format: qcow2" &&
	tb_ssh node3 "qemu-img compare -q $DS/5/disk.1 $DS/images/base.img"
'

test_expect 'an image outside the shared datastore is refused' '
	head -c 1024 /dev/zero >"$TEST_DIR/elsewhere.img" &&
	! tm clone "$TEST_DIR/elsewhere.img" node1 "$DS/5/disk.9" 2>err &&
	test_grep err EINVAL && test_grep err "not inside the shared datastore" &&
	test ! -e "$FDS/5/disk.9"
'

test_expect 'link is a symbolic link to the image that every host reads' '
	tm link "$FDS/images/base.img" node1 "$DS/5/disk.2" &&
	test "$(readlink "$FDS/5/disk.2")" = "$DS/images/base.img" &&
	tb_ssh node3 "cmp $DS/5/disk.2 $DS/images/base.img"
'

test_expect 'blank and swap disks have their size and signature, seen by all' '
	tm mkimage node1 "$DS/5/disk.3" 16 ext4 &&
	tm mkswap node1 "$DS/5/disk.4" 8 &&
	test "$(stat -c %s "$FDS/5/disk.3")" = 16777216 &&
	test "$(od -An -tx1 -j1080 -N2 "$FDS/5/disk.3" | tr -d " ")" = 53ef &&
	test "$(stat -c %s "$FDS/5/disk.4")" = 8388608 &&
	test "$(dd if="$FDS/5/disk.4" bs=1 skip=4086 count=10 2>/dev/null)" = SWAPSPACE2 &&
	tb_ssh node2 "test -s $DS/5/disk.3 && test -s $DS/5/disk.4"
'

test_expect 'mv between hosts and to the front-end moves nothing and succeeds' '
	ls "$FDS/5" >before &&
	tm mv node1 "$DS/5" node2 "$DS/5" &&
	tm -l mv node2 "$DS/5" node3 "$DS/5" &&
	tm mv node3 "$DS/5" - "$TEST_DIR/front/5" &&
	tm mv - "$TEST_DIR/front/5" node1 "$DS/5" &&
	ls "$FDS/5" >after && test_cmp before after &&
	test ! -e "$TEST_DIR/front/5"
'

test_expect 'mv to another path in the store renames it' '
	tm mv node1 "$DS/5" node2 "$DS/6" &&
	test ! -e "$FDS/5" && ls "$FDS/6" >after && test_cmp before after
'

test_expect 'delete removes the VM directory; the image stays' '
	tm delete node2 "$DS/6" &&
	test ! -e "$FDS/6" && test -f "$FDS/images/base.img" &&
	tm delete node2 "$DS/6"
'

test_expect 'delete refuses paths outside the datastore' '
	! tm delete node1 /root 2>err && test_grep err EPERM &&
	! tm delete node1 "$DS/../x" 2>err && test_grep err EINVAL
'

test_expect 'a full disk is reported as no space on that host, leaving nothing' '
	tb_ssh node2 "mkdir -p $DS/10 && mount -t tmpfs -o size=64k tmpfs $DS/10" &&
	! tm mkimage node2 "$DS/10/disk.0" 64 ext4 2>err &&
	test_grep err ENOSPC && test_grep err "no space left on '"'"'node2'"'"'" &&
	tb_ssh node2 "ls -A $DS/10" >out && test_cmp /dev/null out
'

test_done
