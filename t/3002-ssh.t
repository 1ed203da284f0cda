#!/bin/sh
# The core's svc->ssh against fake hosts (t/lib/testbed.sh) through
# t/helpers/ssh-run: hostile words arrive literally, connections are
# reused, a deadline kills a hung command, a dead or hung host fails within
# the connect timeout naming the host.
. "$top_srcdir/t/lib/test-lib.sh"
. "$top_srcdir/t/lib/testbed.sh"

testbed_up 3 || exit 1
CTL="$TEST_DIR/ctl"
SSH_RUN="$top_builddir/t/helpers/ssh-run"
# Masters outlive the calls that made them: end them with the test.
test_cleanup 'for s in "$CTL"/*; do [ -S "$s" ] && ssh -F /dev/null -o ControlPath="$s" -O exit x; done'

# ssh-run with the testbed's config, reuse on (30 s) unless -p 0 follows.
ssh_run() {
	run "$SSH_RUN" -F "$TB_SSH_CONFIG" -c "$CTL" -p 30 "$@"
}

# How many times HOST's sshd let someone log in.
logins() {
	grep -c "Accepted publickey" "$TB_DIR/$1/sshd.log" || :
}

nl=$(printf 'line1\nline2')
tab=$(printf 'a\tb')
trail=$(printf 'x\n\nX') && trail=${trail%X}
cr=$(printf 'a\rb')
# Run "$@" followed by the hostile words.
with_hostile() {
	"$@" "it's" "'" "''" '"' '$(touch /root/pwned1)' '`touch /root/pwned2`' \
	    "$nl" "$trail" "$tab" "$cr" "a;b" "a|b" "a&&b" "a>b" "<a" \
	    "*" "?" "[a]" "/*" "-n" "-e" "--" "-oProxyCommand=x" "two words" \
	    " " "" "\\" "\\\\n" "\\'" "é 日本 ✓" '$HOME' '${HOME}' "~" "#x" \
	    "!1" "%s%n" "{a,b}" "a=b" "x\\
y"
}

test_expect 'hostile words arrive on the host as literal, separate arguments' '
	with_hostile ssh_run node1 printf "%s\0" >got &&
	with_hostile printf "%s\0" >expect &&
	cmp expect got &&
	test "$(tr -cd "\000" <got | wc -c)" = 39
'

test_expect 'nothing in them was run on the host' '
	test ! -e "$TB_DIR/node1/root/pwned1" && test ! -e "$TB_DIR/node1/root/pwned2" &&
	tb_ssh node1 "ls -A /root" >out && test_cmp /dev/null out
'

test_expect 'the control directory is private and holds the master socket' '
	test "$(stat -c %a "$CTL")" = 700 &&
	test "$(ls "$CTL" | wc -l)" = 1 &&
	test -S "$CTL"/* &&
	ssh -F "$TB_SSH_CONFIG" -o ControlPath="$CTL/%C" -O check node1 2>err &&
	test_grep err "Master running"
'

test_expect 'a second call reuses the connection: no new login on the host' '
	before=$(logins node1) &&
	test "$(ssh_run node1 hostname)" = node1 &&
	test "$(ssh_run node1 hostname)" = node1 &&
	test "$(logins node1)" = "$before"
'

test_expect 'without reuse (CONTROL_PERSIST 0) each call logs in' '
	before=$(logins node2) &&
	test "$(ssh_run -p 0 node2 hostname)" = node2 &&
	test "$(ssh_run -p 0 node2 hostname)" = node2 &&
	test "$(logins node2)" = $((before + 2)) &&
	test "$(ls "$CTL" | wc -l)" = 1
'

# Round trips, a diagnostic: not an assertion.
ssh_run -p 0 -n 10 node2 true 2>rt0 >/dev/null
ssh_run -n 10 node2 true 2>rt1 >/dev/null
echo "# round trip without reuse: $(sed -n 's/^ssh-run: //p' rt0)"
echo "# round trip with reuse:    $(sed -n 's/^ssh-run: //p' rt1)"

test_expect 'a deadline kills a hung remote command (sleep 60, 1 s) with ETIMEDOUT' '
	! ssh_run -T 1000 node1 sleep 60 >out 2>err &&
	test_grep err "ssh-run: ETIMEDOUT after" &&
	ms=$(sed -n "s/^ssh-run: ETIMEDOUT after \([0-9]*\) ms.*/\1/p" err) &&
	test "$ms" -ge 1000 && test "$ms" -lt 2000 || fail "took $ms ms"
'

test_expect 'the connection is still good after a killed call' '
	test "$(ssh_run -T 5000 node1 hostname)" = node1
'

test_expect 'a hung host (sshd stopped) fails within the connect timeout, naming it' '
	tb_stop_sshd node3 &&
	! ssh_run -p 0 -t 2 -T 20000 node3 true >out 2>err;
	tb_cont_sshd node3 &&
	ms=$(sed -n "s/^ssh-run: [A-Z]* after \([0-9]*\) ms.*/\1/p" err) &&
	test_grep err "on '"'"'node3'"'"'" &&
	test "$ms" -ge 1900 && test "$ms" -lt 3500 || fail "took $ms ms: $(cat err)"
'

test_expect 'an unreachable host (sshd killed) fails at once, naming it' '
	tb_kill_sshd node3 &&
	! ssh_run -t 2 -T 20000 node3 true >out 2>err &&
	test_grep err "ssh-run: EDRIVER" && test_grep err "on '"'"'node3'"'"'" &&
	test_grep err "Connection refused" &&
	ms=$(sed -n "s/^ssh-run: [A-Z]* after \([0-9]*\) ms.*/\1/p" err) &&
	test "$ms" -lt 2000 || fail "took $ms ms"
'

test_expect 'a host whose sshd dies under a live master fails within the connect timeout' '
	tb_kill_sshd node1 &&
	! ssh_run -t 2 -T 20000 node1 true >out 2>err &&
	test_grep err "on '"'"'node1'"'"'" &&
	ms=$(sed -n "s/^ssh-run: [A-Z]* after \([0-9]*\) ms.*/\1/p" err) &&
	test "$ms" -lt 3000 || fail "took $ms ms: $(cat err)"
'

test_expect 'back when its sshd is: a new master' '
	tb_start_sshd node1 &&
	test "$(ssh_run node1 hostname)" = node1 &&
	ssh -F "$TB_SSH_CONFIG" -o ControlPath="$CTL/%C" -O check node1
'
printf "%s\n" "VMM_DRIVER = [ NAME = dummy ]" "IM_DRIVER = [ NAME = dummy ]" \
    "TM_DRIVER = [ NAME = dummy ]" "NET_DRIVER = [ NAME = dummy ]" | write_conf
cloudd_start || exit 1
test_expect 'cloudd makes its default control directory, beside LISTEN, private' '
	test "$(stat -c %a "$TEST_DIR/cloudd-ssh")" = 700
'
test_done
