#!/bin/sh
# The testbed itself (t/lib/testbed.sh): four fake hosts reached over real
# ssh, each with its own hostname and datastore; a shared datastore seen by
# all; nothing left behind when it is torn down.
. "$top_srcdir/t/lib/test-lib.sh"
. "$top_srcdir/t/lib/testbed.sh"

testbed_up 4 || exit 1
echo "# 4 hosts up in $TB_UP_MS ms on $TB_NET.0/24 ($TB_BRIDGE)"

test_expect 'four hosts, each answers ssh with its own hostname' '
	test "$TB_HOSTS" = "node1 node2 node3 node4" &&
	for h in $TB_HOSTS; do
		tb_ssh $h hostname >out && echo $h >expect && test_cmp expect out || return 1
	done
'

test_expect 'each host is at its own address, inside its own namespace' '
	for h in $TB_HOSTS; do
		tb_ssh $h "ip -4 -o addr show dev eth0" >out &&
		test_grep out " $(tb_addr $h)/24" &&
		ip netns list | grep -q "^$(tb_netns $h) " || return 1
	done
'

test_expect 'each host has its own empty /root' '
	tb_ssh node1 "touch /root/mark" &&
	test -f "$TB_DIR/node1/root/mark" &&
	tb_ssh node2 "ls -A /root" >out && test_cmp /dev/null out
'

test_expect 'datastores are distinct and are tb_dir on the front-end' '
	tb_ssh node1 "echo one >$TB_DATASTORE/f1" &&
	test "$(cat "$(tb_dir node1)/f1")" = one &&
	test ! -e "$(tb_dir node2)/f1" &&
	tb_ssh node2 "test ! -e $TB_DATASTORE/f1" &&
	echo two >"$(tb_dir node2)/f2" &&
	test "$(tb_ssh node2 cat $TB_DATASTORE/f2)" = two &&
	tb_ssh node3 "ls -A $TB_DATASTORE" >out && test_cmp /dev/null out &&
	test "$(tb_dir node1)" != "$(tb_dir node2)"
'

test_expect 'the front-end sees none of it at the datastore path' '
	test ! -e "$TB_DATASTORE/f1" && test ! -e "$TB_DATASTORE/f2"
'

test_expect 'the blackhole route guards the test subnet' '
	ip route show | grep -q "^blackhole 10.99.0.0/16 metric $((1000 + TB_X))" &&
	ip route get 10.99.$((TB_X == 254 ? 253 : TB_X + 1)).5 >out 2>&1;
	! grep -q " via " out || fail "10.99.x.x would leave the machine: $(cat out)"
'

test_expect 'a killed sshd refuses; started again it answers' '
	tb_kill_sshd node4 &&
	! tb_ssh node4 true 2>err && test_grep err "Connection refused" &&
	tb_start_sshd node4 && test "$(tb_ssh node4 hostname)" = node4
'

test_expect 'a stopped sshd hangs until continued' '
	tb_stop_sshd node3 &&
	! tb_ssh node3 -o ConnectTimeout=1 true 2>err &&
	tb_cont_sshd node3 && test "$(tb_ssh node3 hostname)" = node3
'

bridge=$TB_BRIDGE
test_expect 'teardown leaves no namespace, link, route or process' '
	pids=$(for h in $TB_HOSTS; do ip netns pids $(tb_netns $h); done) &&
	test -n "$pids" &&
	testbed_down &&
	echo "$TB_DOWN_MS" >down.ms &&
	! ip netns list | grep -q "^$bridge-" &&
	! ip -o link show | grep -q "$bridge" &&
	! ip route show | grep -q "metric $((1000 + TB_X))" &&
	for p in $pids; do
		st=$(sed "s/^.*) //" /proc/$p/stat 2>/dev/null | cut -d" " -f1)
		test -z "$st" || test "$st" = Z || fail "pid $p is still alive ($st)"
	done
'
testbed_down
echo "# 4 hosts down in $(cat down.ms 2>/dev/null) ms"

TB_SHARED=1 testbed_up 3 || exit 1
echo "# 3 hosts with a shared datastore up in $TB_UP_MS ms"
test_expect 'with TB_SHARED a file written on one host is seen on all' '
	tb_ssh node2 "echo shared >$TB_DATASTORE/s" &&
	for h in $TB_HOSTS; do
		test "$(tb_ssh $h cat $TB_DATASTORE/s)" = shared &&
		test "$(tb_dir $h)" = "$TB_SHARED_DIR" || return 1
	done &&
	test "$(cat "$TB_SHARED_DIR/s")" = shared
'
test_expect 'hostnames stay their own with a shared datastore' '
	test "$(tb_ssh node3 hostname)" = node3
'
test_done
