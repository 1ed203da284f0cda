#!/bin/sh
# Each broken module is refused in one log line naming the file and the
# reason, and cloudd carries on with its other drivers.
. "$top_srcdir/t/lib/test-lib.sh"

mods="$top_builddir/t/modules"
write_conf <<CONF
DRIVER_PATH = "$mods"
VMM_DRIVER = [ NAME = "dummy" ]
VMM_DRIVER = [ MODULE = "badmagic" ]
VMM_DRIVER = [ MODULE = "major" ]
VMM_DRIVER = [ MODULE = "minor" ]
VMM_DRIVER = [ MODULE = "short" ]
VMM_DRIVER = [ MODULE = "wrongclass" ]
VMM_DRIVER = [ MODULE = "wrongname" ]
VMM_DRIVER = [ MODULE = "noop" ]
VMM_DRIVER = [ MODULE = "noentry" ]
VMM_DRIVER = [ MODULE = "initfail" ]
VMM_DRIVER = [ MODULE = "good", GREETING = "hi" ]
VMM_DRIVER = [ MODULE = "oldminor" ]
IM_DRIVER = [ NAME = "dummy" ]
CONF

test_expect 'cloudd -n reports the broken modules and fails' '
	! run "$CLOUDD" -n -f "$TEST_DIR/cloudd.conf" >"$TEST_DIR/out" 2>"$TEST_DIR/err" &&
	test_grep "$TEST_DIR/out" "has errors: 9 of 13 drivers refused"
'

for case in \
	"badmagic:bad magic 0xdeadbeef" \
	"major:built for driver ABI 2.1, this cloudd speaks ABI 1.1: rebuild the driver" \
	"minor:built for driver ABI 1.2, newer than this cloudd's 1.1: upgrade cloudd" \
	"short:is smaller than a vmm table of ABI 1.1" \
	"wrongclass:is a driver of class 'im', expected 'vmm'" \
	"wrongname:is named 'othername', expected 'wrongname'" \
	"noop:required operation 'deploy' is missing" \
	"noentry:no entry symbol 'vmm_noentry_LTX_cld_driver'" \
	"initfail:init of vmm driver 'initfail' failed: OPTION 'X' is required"
do
	mod=${case%%:*}
	why=${case#*:}
	test_expect "vmm_$mod is refused in one line: $why" "
		test \$(grep -c 'vmm_$mod' \"\$TEST_DIR/err\") -eq 1 &&
		grep 'vmm_$mod' \"\$TEST_DIR/err\" | grep -F -e \"$why\" >/dev/null
	"
done

test_expect 'the good modules around them are loaded' '
	test_grep "$TEST_DIR/out" "vmm   dummy" &&
	test_grep "$TEST_DIR/out" "vmm   good" &&
	test_grep "$TEST_DIR/out" "vmm   oldminor" &&
	test_grep "$TEST_DIR/out" "im    dummy"
'

test_done
