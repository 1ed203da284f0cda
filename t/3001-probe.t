#!/bin/sh
# cloudd -P: one monitoring round of hosts through their im drivers, the
# hosts recorded in the store, the paper's host table printed.
. "$top_srcdir/t/lib/test-lib.sh"

write_conf <<CONF
IM_DRIVER = [ NAME = "small", MODULE = "dummy", TOTALCPU = 200, TOTALMEMORY = 2097152, USEDCPU = 50, USEDMEMORY = 524288 ]
IM_DRIVER = [ NAME = "big", MODULE = "dummy", TOTALCPU = 1600, TOTALMEMORY = 33554432 ]
IM_DRIVER = [ NAME = "broken", MODULE = "dummy", MONITOR_FAIL = "host unreachable" ]
CONF
conf="$TEST_DIR/cloudd.conf"

test_expect 'two hosts of different sizes are monitored and shown' '
	run "$CLOUDD" -f "$conf" -P node1:small -P node2:big >out 2>err &&
	head -1 out | grep -E "^ +ID +NAME +CLUSTER +RVM +TCPU +FCPU +ACPU +TMEM +FMEM +AMEM +STAT" &&
	grep -E "^ +0 +node1 +default +0 +200 +150 +200 +2.0G +1.5G +2.0G +on" out &&
	grep -E "^ +1 +node2 +default +0 +1600 +1600 +1600 +32.0G +32.0G +32.0G +on" out
'

test_expect 'they are in the database, and a second round keeps their ids' '
	run "$CLOUDD" -f "$conf" -P node2:big -P node3:small >out 2>err &&
	grep -E "^ +1 +node2 " out && grep -E "^ +2 +node3 " out &&
	test "$(sqlite3 "$TEST_DIR/cloudd.db" "select group_concat(name) from (select name from hosts order by id)")" = "node1,node2,node3"
'

test_expect 'a host whose probe fails is shown in error with the reason, exit 4' '
	{ run "$CLOUDD" -f "$conf" -P node1:small -P node4:broken >out 2>err; test $? -eq 4; } &&
	test_grep err "host '"'"'node4'"'"': host unreachable" &&
	grep -E "^ +3 +node4 .* err" out && grep -E "^ +0 +node1 .* on" out
'

test_expect 'a foreign database is refused and left as it was' '
	sqlite3 "$TEST_DIR/other.db" "create table t(x); insert into t values (42)" &&
	cp "$TEST_DIR/other.db" "$TEST_DIR/other.copy" &&
	sed "s|^DATABASE = .*|DATABASE = \"$TEST_DIR/other.db\"|" "$conf" >"$TEST_DIR/other.conf" &&
	{ run "$CLOUDD" -f "$TEST_DIR/other.conf" -P node1:small >out 2>err; test $? -eq 3; } &&
	test_grep err "is not a cloudd database" &&
	cmp "$TEST_DIR/other.db" "$TEST_DIR/other.copy"
'

test_expect 'a file that is not a database is refused and left as it was' '
	echo "precious notes" >"$TEST_DIR/notes.db" &&
	sed "s|^DATABASE = .*|DATABASE = \"$TEST_DIR/notes.db\"|" "$conf" >"$TEST_DIR/notes.conf" &&
	{ run "$CLOUDD" -f "$TEST_DIR/notes.conf" -P node1:small >out 2>err; test $? -eq 3; } &&
	test_grep err "is not a cloudd database" &&
	test "$(cat "$TEST_DIR/notes.db")" = "precious notes"
'

test_expect 'an unknown im instance or a malformed host is a usage error' '
	{ run "$CLOUDD" -f "$conf" -P node1:nosuch 2>err; test $? -eq 1; } &&
	test_grep err "no im driver '"'"'nosuch'"'"' is loaded" &&
	{ run "$CLOUDD" -f "$conf" -P "-x:small" 2>err; test $? -eq 2; } &&
	test_grep err "invalid host name"
'

test_done
