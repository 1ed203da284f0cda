#!/bin/sh
# cloudd.conf: a missing, unreadable or malformed file is reported with its
# path and the reason; cloudd -n loads every driver and lists them.
. "$top_srcdir/t/lib/test-lib.sh"

test_expect 'a missing configuration names the path and the reason' '
	! run "$CLOUDD" -n -f "$TEST_DIR/nope.conf" 2>err &&
	test_grep err "cannot read '"'"'$TEST_DIR/nope.conf'"'"': No such file or directory"
'

test_expect 'an unreadable configuration names the path and the reason' '
	mkdir "$TEST_DIR/dir.conf" &&
	! run "$CLOUDD" -n -f "$TEST_DIR/dir.conf" 2>err &&
	test_grep err "cannot read '"'"'$TEST_DIR/dir.conf'"'"': Is a directory"
'

test_expect 'a syntax error names the file, line and column' '
	printf "DATABASE = \"x.db\"\nVMM_DRIVER = [ NAME = \"dummy\"\n" >"$TEST_DIR/bad.conf" &&
	! run "$CLOUDD" -n -f "$TEST_DIR/bad.conf" 2>err &&
	test_grep err "'"'"'$TEST_DIR/bad.conf'"'"': line 3, column 1: unterminated vector '"'"'VMM_DRIVER'"'"' (opened at line 2, column 14)"
'

test_expect 'an unknown setting is reported where it is' '
	printf "# comment\nDATABSE = \"x.db\"\n" >"$TEST_DIR/typo.conf" &&
	! run "$CLOUDD" -n -f "$TEST_DIR/typo.conf" 2>err &&
	test_grep err "'"'"'$TEST_DIR/typo.conf'"'"': line 2, column 1: unknown setting '"'"'DATABSE'"'"'"
'

test_expect 'a bad value says what is allowed' '
	printf "DB_SYNC = sometimes\n" >"$TEST_DIR/sync.conf" &&
	! run "$CLOUDD" -n -f "$TEST_DIR/sync.conf" 2>err &&
	test_grep err "line 1, column 1: DB_SYNC: '"'"'sometimes'"'"' is not one of normal, full"
'

test_expect 'SSH: a bad CONTROL_PERSIST or a CONTROL_PATH too long for a socket is refused' '
	printf "SSH = [ CONTROL_PERSIST = soon ]\n" >"$TEST_DIR/persist.conf" &&
	! run "$CLOUDD" -n -f "$TEST_DIR/persist.conf" 2>err &&
	test_grep err "SSH: CONTROL_PERSIST '"'"'soon'"'"' is not a number of seconds from 0 to 86400" &&
	printf "SSH = [ CONTROL_PATH = \"/%060d\" ]\n" 0 >"$TEST_DIR/ctlpath.conf" &&
	! run "$CLOUDD" -n -f "$TEST_DIR/ctlpath.conf" 2>err &&
	test_grep err "is longer than 49 characters"
'

test_expect 'a setting given twice is refused' '
	printf "LISTEN = a\nLISTEN = b\n" >"$TEST_DIR/twice.conf" &&
	! run "$CLOUDD" -n -f "$TEST_DIR/twice.conf" 2>err &&
	test_grep err "line 2, column 1: '"'"'LISTEN'"'"' is set twice"
'

test_expect 'cloudd -n loads one driver of each class and lists them' '
	write_conf <<-CONF &&
	VMM_DRIVER = [ NAME = "dummy" ]
	IM_DRIVER = [ NAME = "dummy-big", MODULE = "dummy", TOTALCPU = 1600 ]
	TM_DRIVER = [ NAME = "dummy", DELAY = "0.01" ]
	NET_DRIVER = [ MODULE = "dummy" ]
	CONF
	run "$CLOUDD" -n -f "$TEST_DIR/cloudd.conf" >out 2>err &&
	test_grep out "configuration '"'"'$TEST_DIR/cloudd.conf'"'"' is valid: 4 drivers" &&
	test_grep out "vmm   dummy            dummy" &&
	test_grep out "im    dummy-big        dummy" &&
	test_grep out "tm    dummy            dummy" &&
	test_grep out "net   dummy            dummy" &&
	test_grep out "$top_builddir/drivers/vmm/.libs/vmm_dummy.so"
'

test_expect 'a driver not found names it and every directory searched' '
	write_conf <<-CONF &&
	VMM_DRIVER = [ NAME = "xen", MODULE = "nosuch" ]
	CONF
	! CLOUDD_DRIVER_PATH=/nonexistent/extra run "$CLOUDD" -n -f "$TEST_DIR/cloudd.conf" >out 2>err &&
	test_grep err "vmm driver '"'"'nosuch'"'"' not found: no vmm_nosuch.la or vmm_nosuch.so in $top_builddir/drivers/vmm, $top_builddir/drivers/im, $top_builddir/drivers/tm, $top_builddir/drivers/net, /nonexistent/extra, " &&
	test_grep out "has errors: 1 of 1 drivers refused"
'

test_expect 'a driver whose options are wrong is refused with its reason' '
	write_conf <<-CONF &&
	VMM_DRIVER = [ NAME = "dummy", DELAY = "soon" ]
	CONF
	! run "$CLOUDD" -n -f "$TEST_DIR/cloudd.conf" >out 2>err &&
	test_grep err "init of vmm driver '"'"'dummy'"'"' failed: DELAY: '"'"'soon'"'"' is not a number of seconds"
'

test_expect 'relative paths in cloudd.conf are taken from its directory' '
	mkdir -p "$TEST_DIR/etc" &&
	ln -s "$top_builddir/drivers/vmm" "$TEST_DIR/etc/mydrivers" &&
	printf "DRIVER_PATH = mydrivers\nVMM_DRIVER = [ NAME = dummy ]\n" >"$TEST_DIR/etc/c.conf" &&
	(cd / && run "$CLOUDD" -n -f "$TEST_DIR/etc/c.conf") >out 2>err &&
	test_grep out "$TEST_DIR/etc/mydrivers/.libs/vmm_dummy.so"
'

test_expect 'usage errors exit 2 and -h explains every option' '
	run "$CLOUDD" -h >out &&
	test_grep out "-d " && test_grep out "-n " && test_grep out "-f file" &&
	{ run "$CLOUDD" -x 2>err; test $? -eq 2; } &&
	test_grep err "usage: cloudd" &&
	{ run "$CLOUDD" -d -n 2>err; test $? -eq 2; } &&
	{ run "$CLOUDD" -d extra 2>err; test $? -eq 2; }
'

test_done
