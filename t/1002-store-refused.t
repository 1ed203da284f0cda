#!/bin/sh
# cloudd refuses to start on a database that is not its own, says why, and
# leaves the file exactly as it was; a second cloudd on the same store is
# refused too.
. "$top_srcdir/t/lib/test-lib.sh"

write_conf <<CONF
VMM_DRIVER = [ NAME = "dummy" ]
IM_DRIVER = [ NAME = "dummy" ]
CONF
conf="$TEST_DIR/cloudd.conf"

with_db() {
	sed "s|^DATABASE = .*|DATABASE = \"$1\"|" "$conf" >"$TEST_DIR/other.conf"
}

test_expect 'a foreign sqlite database is refused (exit 3) and left as it was' '
	sqlite3 "$TEST_DIR/other.db" "create table t(x); insert into t values (42)" &&
	cp "$TEST_DIR/other.db" "$TEST_DIR/other.copy" &&
	with_db "$TEST_DIR/other.db" &&
	{ run "$CLOUDD" -d -f "$TEST_DIR/other.conf" >out 2>err; test $? -eq 3; } &&
	test_grep err "is not a cloudd database" &&
	cmp "$TEST_DIR/other.db" "$TEST_DIR/other.copy" &&
	test ! -e "$TEST_DIR/cloudd.sock"
'

test_expect 'a file that is not a database is refused and left as it was' '
	echo "precious notes" >"$TEST_DIR/notes.db" &&
	with_db "$TEST_DIR/notes.db" &&
	{ run "$CLOUDD" -d -f "$TEST_DIR/other.conf" >out 2>err; test $? -eq 3; } &&
	test_grep err "is not a cloudd database" &&
	test "$(cat "$TEST_DIR/notes.db")" = "precious notes"
'

test_expect 'as a daemon, the parent exits with the child'"'"'s status and message' '
	with_db "$TEST_DIR/notes.db" &&
	{ run "$CLOUDD" -f "$TEST_DIR/other.conf" >out 2>err; test $? -eq 3; } &&
	test_grep err "is not a cloudd database"
'

test_expect 'a second cloudd on a store in use is refused; the first keeps serving' '
	cloudd_start &&
	sed "s|^LISTEN = .*|LISTEN = \"$TEST_DIR/second.sock\"|" "$conf" >"$TEST_DIR/second.conf" &&
	{ run "$CLOUDD" -d -f "$TEST_DIR/second.conf" >out 2>err; test $? -eq 3; } &&
	test_grep err "in use" &&
	ctl cluster list >/dev/null && cloudd_stop
'

test_expect 'a second cloudd on a socket in use is refused' '
	cloudd_start &&
	sed "s|^DATABASE = .*|DATABASE = \"$TEST_DIR/second.db\"|" "$conf" >"$TEST_DIR/second.conf" &&
	{ run "$CLOUDD" -d -f "$TEST_DIR/second.conf" >out 2>err; test $? -ne 0; } &&
	test_grep err "cloudd.sock" &&
	ctl cluster list >/dev/null && cloudd_stop
'

test_done
