#!/bin/sh
# cloudctl without cloudd: its help, its usage errors, an unreachable
# socket, and, against t/helpers/fake-api serving canned replies, the
# requests it sends, its tables, --json and the exit codes of refusals.
. "$top_srcdir/t/lib/test-lib.sh"

CLOUDCTL="$top_builddir/cli/cloudctl"
FAKE="$top_builddir/t/helpers/fake-api"
SOCK="$TEST_DIR/api.sock"
CANNED="$TEST_DIR/canned"
LOG="$TEST_DIR/requests.log"
export TZ=UTC
unset CLOUDD_SOCKET

# canned METHOD PATH STATUS: the reply body is read from stdin.
canned() {
	mkdir -p "$(dirname "$CANNED/$1$2")" &&
	{ echo "$3"; cat; } >"$CANNED/$1$2.json"
}

# cloudctl against the fake server; stdout to out, stderr to err, the
# exit status to status.
ctl() {
	run "$CLOUDCTL" -s "$SOCK" "$@" >out 2>err
	echo $? >status
}

expect_status() {
	test "$(cat status)" = "$1" || fail "exit status $(cat status), expected $1"
}

# ---------------------------------------------------------------- help

test_expect 'cloudctl --help names every object, the options and exit codes' '
	run "$CLOUDCTL" --help >out 2>err &&
	! test -s err &&
	test_grep out "usage: cloudctl [-s socket] [--json] OBJECT VERB [options] [args]" &&
	test_grep out "  vm       virtual machines" &&
	test_grep out "  host     the hypervisor hosts" &&
	test_grep out "  cluster  groups of hosts" &&
	test_grep out "-s, --socket PATH" &&
	test_grep out "exit status: 0 done, 1 cloudd refused, 2 usage error," &&
	test_grep out "  cloudctl host list"
'

test_expect 'cloudctl vm --help lists each vm verb with what it does' '
	run "$CLOUDCTL" vm --help >out 2>err &&
	for v in create list show log deploy shutdown poweroff reboot suspend \
	    resume stop migrate hold release recover delete top; do
		grep -E "^  $v( |$)" out >/dev/null || fail "no $v in vm --help"
	done &&
	test_grep out "  shutdown ID...   shut VMs down cleanly and end their lease" &&
	test_grep out "example:" &&
	run "$CLOUDCTL" host --help >out &&
	test_grep out "  move ID|NAME CLUSTER  move a host to another cluster (admin)" &&
	run "$CLOUDCTL" cluster help >out &&
	test_grep out "  set ID|NAME        change a cluster'"'"'s drivers (admin)"
'

test_expect 'cloudctl vm create --help gives usage, options and examples' '
	cat >expect <<-\EOF &&
	usage: cloudctl [-s socket] [--json] vm create [--hold] FILE|-

	Lease a VM described by a template file (- for stdin).

	options:
	  --hold        create it on hold: not scheduled until released
	  --json        print the server'"'"'s JSON reply
	  -h, --help    this help

	examples:
	  cloudctl vm create web.tmpl
	  sed s/web/web2/ web.tmpl | cloudctl vm create --hold -
	EOF
	run "$CLOUDCTL" vm create --help >out 2>err &&
	test_cmp expect out && ! test -s err &&
	run "$CLOUDCTL" vm create -h >out2 && test_cmp expect out2
'

test_expect 'every verb has a --help of its own, with an example' '
	for ov in "vm create" "vm list" "vm show" "vm log" "vm deploy" \
	    "vm shutdown" "vm poweroff" "vm reboot" "vm suspend" "vm resume" \
	    "vm stop" "vm migrate" "vm hold" "vm release" "vm recover" \
	    "vm delete" "vm top" "host create" "host list" "host show" \
	    "host enable" "host disable" "host offline" "host delete" \
	    "host move" "host top" "cluster create" "cluster list" \
	    "cluster show" "cluster set" "cluster delete"; do
		run "$CLOUDCTL" $ov --help >out 2>&1 || fail "$ov --help failed"
		head -1 out | grep -F "usage: cloudctl [-s socket] [--json] $ov" >/dev/null ||
			fail "$ov --help: $(head -1 out)"
		grep -E "^  cloudctl $ov" out >/dev/null || fail "$ov --help has no example"
	done
'

# ---------------------------------------------------------------- usage errors

# usage_error CMD... : exit 2, nothing on stdout, the message in err.
usage_error() {
	run "$CLOUDCTL" -s "$TEST_DIR/never.sock" "$@" >out 2>err
	s=$?
	test $s -eq 2 || fail "'$*' exited $s, not 2"
	! test -s out || fail "'$*' wrote on stdout"
}

test_expect 'no arguments print the usage on stderr and exit 2' '
	usage_error && test_grep err "usage: cloudctl [-s socket]"
'

test_expect 'an unknown object, verb or option is a usage error' '
	usage_error vms list && test_grep err "cloudctl: unknown object '"'"'vms'"'"' (one of vm, host, cluster, vnet)" &&
	usage_error vm && test_grep err "cloudctl: vm needs a verb" && test_grep err "  create FILE|-" &&
	usage_error vm launch && test_grep err "cloudctl: unknown vm verb '"'"'launch'"'"'" &&
	test_grep err "see '"'"'cloudctl vm --help'"'"'" &&
	usage_error vm list --colour && test_grep err "cloudctl: unknown option '"'"'--colour'"'"'" &&
	test_grep err "usage: cloudctl vm list [--state S] [--host H] [--all-pages]" &&
	usage_error --frobnicate vm list && test_grep err "cloudctl: unknown option '"'"'--frobnicate'"'"'" &&
	usage_error -s && test_grep err "cloudctl: option '"'"'-s'"'"' needs a value" &&
	usage_error vm list --state && test_grep err "cloudctl: option '"'"'--state'"'"' needs a value"
'

test_expect 'missing, extra and malformed arguments are usage errors' '
	usage_error vm create && test_grep err "cloudctl: vm create needs FILE|-" &&
	usage_error vm create a b && test_grep err "cloudctl: too many arguments to vm create" &&
	usage_error vm deploy 3 && test_grep err "cloudctl: vm deploy needs ID HOST" &&
	usage_error vm shutdown 3 x 5 && test_grep err "cloudctl: invalid VM id '"'"'x'"'"'" &&
	usage_error vm show -- -1 && test_grep err "cloudctl: invalid VM id '"'"'-1'"'"'" &&
	usage_error vm list --state sleeping && test_grep err "cloudctl: unknown VM state '"'"'sleeping'"'"'" &&
	usage_error vm recover 3 && test_grep err "cloudctl: say how to recover: --retry, --success, --failure or --delete" &&
	usage_error vm recover --retry --delete 3 && test_grep err "give only one of" &&
	usage_error host create node1 --im ssh && test_grep err "cloudctl: a host needs --im and --vmm" &&
	usage_error cluster create c1 --tm ssh && test_grep err "cloudctl: a cluster needs --tm and --net" &&
	usage_error cluster set c1 && test_grep err "cloudctl: nothing to set" &&
	usage_error vm top -d 0 && test_grep err "cloudctl: invalid delay '"'"'0'"'"'" &&
	usage_error host top -n many && test_grep err "cloudctl: invalid count '"'"'many'"'"'"
'

test_expect 'a template that cannot be read is a usage error naming it' '
	usage_error vm create "$TEST_DIR/nope.tmpl" &&
	test_grep err "cloudctl: cannot read '"'"'$TEST_DIR/nope.tmpl'"'"': No such file or directory" &&
	printf "NAME = \"\\377\"\n" >bad.tmpl &&
	usage_error vm create bad.tmpl && test_grep err "cloudctl: template '"'"'bad.tmpl'"'"' is not valid UTF-8"
'

# ---------------------------------------------------------------- no cloudd

test_expect 'a missing socket exits 3 and names the path' '
	{ run "$CLOUDCTL" -s "$TEST_DIR/no.sock" host list >out 2>err; test $? -eq 3; } &&
	! test -s out &&
	echo "cloudctl: cannot connect to cloudd at '"'"'$TEST_DIR/no.sock'"'"': No such file or directory" >expect &&
	test_cmp expect err
'

test_expect '$CLOUDD_SOCKET is used, and -s wins over it' '
	{ CLOUDD_SOCKET="$TEST_DIR/env.sock" run "$CLOUDCTL" vm list >out 2>err; test $? -eq 3; } &&
	test_grep err "'"'"'$TEST_DIR/env.sock'"'"'" &&
	{ CLOUDD_SOCKET="$TEST_DIR/env.sock" run "$CLOUDCTL" --socket "$TEST_DIR/opt.sock" vm list >out 2>err; test $? -eq 3; } &&
	test_grep err "'"'"'$TEST_DIR/opt.sock'"'"'"
'

# ---------------------------------------------------------------- fake cloudd

mkdir -p "$CANNED"
# Started from a subshell, so that this shell does not report its SIGKILL.
("$FAKE" "$CANNED" "$SOCK" "$LOG" >fake.out 2>fake.err & echo $! >fake.pid)
fake_pid=$(cat fake.pid)
test_cleanup "kill $fake_pid"
i=0
while ! grep -q ready fake.out 2>/dev/null && [ $i -lt 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
grep -q ready fake.out || { cat fake.err; skip_all "fake-api did not start"; }

test_expect 'host list lines its columns up and follows the pages' '
	canned GET "/v1/hosts?offset=0&limit=1000" 200 <<-\EOF &&
	{"total": 3, "offset": 0, "limit": 2, "hosts": [
	 {"id": 0, "name": "node1", "cluster": "default", "cluster_id": 0, "rvm": 2,
	  "tcpu": 800, "fcpu": 650.4, "acpu": 700, "tmem": 16777216, "fmem": 12582912,
	  "amem": 15728640, "state": "MONITORED", "short": "on"},
	 {"id": 12, "name": "a-much-longer-host", "cluster": "rack2", "cluster_id": 3,
	  "rvm": 0, "tcpu": 1600, "fcpu": 1600, "acpu": 1600, "tmem": 524288,
	  "fmem": 600, "amem": 524288, "state": "DISABLED", "short": "off"}]}
	EOF
	canned GET "/v1/hosts?offset=2&limit=1000" 200 <<-\EOF &&
	{"total": 3, "offset": 2, "limit": 1, "hosts": [
	 {"id": 105, "name": "n3", "cluster": "default", "rvm": 14, "tcpu": 3200,
	  "fcpu": 0, "acpu": -100, "tmem": 1073741824, "fmem": 1048576, "amem": 0,
	  "state": "ERROR", "short": "err"}]}
	EOF
	: >"$LOG" &&
	ctl host list && expect_status 0 &&
	cat >expect <<-\EOF &&
	 ID  NAME                CLUSTER  RVM  TCPU  FCPU  ACPU     TMEM   FMEM   AMEM  STAT
	  0  node1               default    2   800   650   700    16.0G  12.0G  15.0G  on
	 12  a-much-longer-host  rack2      0  1600  1600  1600     512M   600K   512M  off
	105  n3                  default   14  3200     0  -100  1024.0G   1.0G     0K  err
	EOF
	test_cmp expect out && ! test -s err &&
	printf "GET /v1/hosts?offset=0&limit=1000\nGET /v1/hosts?offset=2&limit=1000\n" >expect &&
	test_cmp expect "$LOG"
'

test_expect 'host list --json prints one list, pretty, keys sorted' '
	ctl host list --json && expect_status 0 &&
	head -4 out >head && tail -6 out >tail &&
	printf "{\n  \"hosts\": [\n    {\n      \"acpu\": 700,\n" >expect &&
	test_cmp expect head &&
	printf "    }\n  ],\n  \"limit\": 3,\n  \"offset\": 0,\n  \"total\": 3\n}\n" >expect &&
	test_cmp expect tail &&
	test_grep out "      \"fcpu\": 650.4,"
'

test_expect 'vm list shows the table, TIME as d hh:mm:ss, and says when it is cut' '
	now=$(date +%s) &&
	canned GET "/v1/vms" 200 <<-EOF &&
	{"total": 250, "offset": 0, "limit": 100, "vms": [
	 {"id": 7, "name": "web", "uid": 0, "gid": 0, "state": "DONE", "short": "done",
	  "host": "node1", "host_id": 0, "cpu": 0.5, "vcpu": 1, "memory": 512,
	  "usage": {"cpu": 0, "memory": 0}, "stime": 1000000, "etime": 1093784},
	 {"id": 1234, "name": "hadoop-datanode-1", "uid": 2147483000, "gid": 100,
	  "state": "PENDING", "short": "pend", "host": null, "host_id": -1, "cpu": 1,
	  "vcpu": 2, "memory": 2048, "usage": {"cpu": 0, "memory": 0},
	  "stime": 1000000, "etime": 1000059, "reason": "no host has 2 CPUs free"},
	 {"id": 8, "name": "db", "uid": 0, "gid": 0, "state": "RUNNING", "short": "runn",
	  "host": "n3", "host_id": 105, "cpu": 2, "vcpu": 4, "memory": 8192,
	  "usage": {"cpu": 187.6, "memory": 7340032}, "stime": $((now - 3725)), "etime": 0}]}
	EOF
	: >"$LOG" &&
	ctl vm list && expect_status 0 &&
	cat >expect <<-\EOF &&
	  ID  USER        NAME               STAT  CPU   MEM  HOST          TIME
	   7  root        web                done    0    0K  node1  1d 02:03:04
	1234  2147483000  hadoop-datanode-1  pend    0    0K  -      0d 00:00:59
	EOF
	head -3 out >head && test_cmp expect head &&
	tail -1 out | grep -E "^   8  root        db                 runn  188  7.0G  n3     0d 01:0[23]:[0-5][0-9]\$" &&
	echo "cloudctl: showing 3 of 250 VMs, --all-pages shows them all" >expect &&
	test_cmp expect err &&
	echo "GET /v1/vms" >expect && test_cmp expect "$LOG"
'

test_expect 'vm list filters: a short state name is sent in full, the host escaped' '
	canned GET "/v1/vms?state=RUNNING&host=node 1&x&offset=0&limit=1000" 200 <<-\EOF &&
	{"total": 0, "offset": 0, "limit": 1000, "vms": []}
	EOF
	: >"$LOG" &&
	ctl vm list --state runn --host "node 1&x" --all-pages && expect_status 0 &&
	echo "ID  USER  NAME  STAT  CPU  MEM  HOST  TIME" >expect && test_cmp expect out &&
	echo "GET /v1/vms?state=RUNNING&host=node 1&x&offset=0&limit=1000" >expect &&
	test_cmp expect "$LOG" &&
	ctl vm list --state failed && tail -1 "$LOG" | grep -F "GET /v1/vms?state=FAILED"
'

test_expect 'vm create - sends the template text exactly, and prints the id' '
	canned POST /v1/vms 201 <<-\EOF &&
	{"id": 42, "name": "web", "state": "PENDING", "short": "pend"}
	EOF
	printf "NAME = \"web \\\\\"1\\\\\"\"\n\tCPU\t= 0.5 # caf\303\251\r\nMEMORY=512" >web.tmpl &&
	: >"$LOG" &&
	run "$CLOUDCTL" -s "$SOCK" vm create - <web.tmpl >out 2>err && ! test -s err &&
	echo 42 >expect && test_cmp expect out &&
	cat >expect <<-\EOF &&
	POST /v1/vms {"template":"NAME = \"web \\\"1\\\"\"\n\tCPU\t= 0.5 # café\r\nMEMORY=512","hold":false}
	EOF
	test_cmp expect "$LOG" &&
	: >"$LOG" &&
	ctl vm create --hold web.tmpl && expect_status 0 &&
	test_grep "$LOG" ",\"hold\":true}"
'

test_expect 'vm create --json prints the server reply' '
	ctl --json vm create web.tmpl && expect_status 0 &&
	cat >expect <<-\EOF &&
	{
	  "id": 42,
	  "name": "web",
	  "short": "pend",
	  "state": "PENDING"
	}
	EOF
	test_cmp expect out
'

test_expect 'a 404 exits 4 with the server message' '
	canned GET /v1/vms/99 404 <<-\EOF &&
	{"error": {"code": "not_found", "message": "no VM 99"}}
	EOF
	ctl vm show 99 && expect_status 4 &&
	echo "cloudctl: no VM 99" >expect && test_cmp expect err && ! test -s out
'

test_expect 'a 409 exits 1 with the server message' '
	canned POST /v1/vms/7/actions 409 <<-\EOF &&
	{"error": {"code": "conflict", "message": "vm 7 is DONE: shutdown is not allowed"}}
	EOF
	ctl vm shutdown 7 && expect_status 1 &&
	echo "cloudctl: vm 7 is DONE: shutdown is not allowed" >expect && test_cmp expect err &&
	ctl --json vm shutdown 7 && expect_status 1 &&
	test_grep out "\"code\": \"conflict\""
'

test_expect 'an action on several VMs tries each and reports each failure' '
	canned POST /v1/vms/3/actions 200 <<-\EOF &&
	{"id": 3, "state": "SHUTDOWN", "short": "shut"}
	EOF
	canned POST /v1/vms/5/actions 200 <<-\EOF &&
	{"id": 5, "state": "SHUTDOWN", "short": "shut"}
	EOF
	: >"$LOG" &&
	ctl vm shutdown 3 7 5 && expect_status 1 && ! test -s out &&
	echo "cloudctl: vm 7: vm 7 is DONE: shutdown is not allowed" >expect && test_cmp expect err &&
	cat >expect <<-\EOF &&
	POST /v1/vms/3/actions {"action":"shutdown"}
	POST /v1/vms/7/actions {"action":"shutdown"}
	POST /v1/vms/5/actions {"action":"shutdown"}
	EOF
	test_cmp expect "$LOG"
'

test_expect 'actions send their options in the body the API names' '
	for id in 3 5; do
		canned POST /v1/vms/$id/actions 200 <<-EOF || return 1
		{"id": $id}
		EOF
	done &&
	canned POST /v1/hosts/node1/actions 200 </dev/null &&
	canned PATCH /v1/hosts/node1 200 </dev/null &&
	canned DELETE /v1/hosts/node1 200 </dev/null &&
	canned POST /v1/hosts 201 <<-\EOF &&
	{"id": 9, "name": "node9"}
	EOF
	: >"$LOG" &&
	ctl vm reboot --hard 3 && expect_status 0 &&
	ctl vm reboot 3 && ctl vm migrate 3 node1 --live && ctl vm deploy 5 node1 &&
	ctl vm recover --retry 3 5 && ctl vm delete 5 && ctl vm hold 3 &&
	ctl host disable node1 && ctl host move node1 rack2 && ctl host delete node1 &&
	ctl host create node9 --im ssh --vmm xl && expect_status 0 &&
	echo 9 >expect && test_cmp expect out &&
	ctl host create node9 --im ssh --vmm xl --cluster rack2 && expect_status 0 &&
	cat >expect <<-\EOF &&
	POST /v1/vms/3/actions {"action":"reboot","hard":true}
	POST /v1/vms/3/actions {"action":"reboot","hard":false}
	POST /v1/vms/3/actions {"action":"migrate","host":"node1","live":true}
	POST /v1/vms/5/actions {"action":"deploy","host":"node1"}
	POST /v1/vms/3/actions {"action":"recover","mode":"retry"}
	POST /v1/vms/5/actions {"action":"recover","mode":"retry"}
	POST /v1/vms/5/actions {"action":"delete"}
	POST /v1/vms/3/actions {"action":"hold"}
	POST /v1/hosts/node1/actions {"action":"disable"}
	PATCH /v1/hosts/node1 {"cluster":"rack2"}
	DELETE /v1/hosts/node1
	POST /v1/hosts {"name":"node9","im":"ssh","vmm":"xl"}
	POST /v1/hosts {"name":"node9","im":"ssh","vmm":"xl","cluster":"rack2"}
	EOF
	test_cmp expect "$LOG"
'

test_expect 'vm show prints the fields, the reason, the history and the template' '
	canned GET /v1/vms/12 200 <<-\EOF &&
	{"id": 12, "name": "web", "uid": 0, "gid": 0, "state": "FAILED", "short": "fail",
	 "host": "node1", "host_id": 0, "cpu": 0.5, "vcpu": 1, "memory": 512,
	 "usage": {"cpu": 0, "memory": 0, "netrx": 2048, "nettx": 1048576},
	 "reason": "tm/ssh: clone '"'"'debian'"'"': timed out after 300s",
	 "failed": "PROLOG", "stime": 1700000000, "etime": 1700000400, "progress": null,
	 "template": "NAME = web\nCPU = 0.5\nMEMORY = 512",
	 "history": [
	  {"seq": 0, "host": "node2", "host_id": 1, "start": 1700000000,
	   "prolog_end": 1700000012, "boot_end": 1700000015, "running_end": 1700000075,
	   "epilog_end": 1700000080, "end": 1700000080, "reason": "migrate"},
	  {"seq": 1, "host": "node1", "host_id": 0, "start": 1700000090,
	   "prolog_end": 0, "boot_end": 0, "running_end": 0, "epilog_end": 0,
	   "end": 1700000400, "reason": null}]}
	EOF
	ctl vm show 12 && expect_status 0 &&
	cat >expect <<-\EOF &&
	ID         12
	NAME       web
	USER       root (uid 0, gid 0)
	STATE      FAILED (fail)
	FAILED IN  PROLOG
	REASON     tm/ssh: clone '"'"'debian'"'"': timed out after 300s
	HOST       node1 (id 0)
	CPU        0.5
	VCPU       1
	MEMORY     512M
	USAGE      cpu 0%, memory 0K, net rx 2K, tx 1M
	STARTED    2023-11-14 22:13:20
	ENDED      2023-11-14 22:20:00
	TIME       0d 00:06:40

	HISTORY
	SEQ  HOST   START                     PROLOG         BOOT      RUNNING       EPILOG        TOTAL  REASON
	  0  node2  2023-11-14 22:13:20  0d 00:00:12  0d 00:00:03  0d 00:01:00  0d 00:00:05  0d 00:01:20  migrate
	  1  node1  2023-11-14 22:14:50            -            -            -            -  0d 00:05:10  -

	TEMPLATE
	NAME = web
	CPU = 0.5
	MEMORY = 512
	EOF
	test_cmp expect out && ! test -s err
'

test_expect 'host show prints the host, its capacity and its sorted attributes' '
	canned GET /v1/hosts/node1 200 <<-\EOF &&
	{"id": 0, "name": "node1", "cluster": "default", "cluster_id": 0, "im": "ssh",
	 "vmm": "xl", "state": "ERROR", "short": "err", "rvm": 2, "tcpu": 800,
	 "fcpu": 650, "acpu": 700, "tmem": 16777216, "fmem": 12582912, "amem": 15728640,
	 "max_vms": 0, "error": "ssh: connection timed out", "monitored": 1700000000,
	 "attributes": {"TOTALCPU": 800, "HYPERVISOR": "xen", "ARCH": "x86_64",
	  "CPUSPEED": 2.5}}
	EOF
	ctl host show node1 && expect_status 0 &&
	cat >expect <<-\EOF &&
	ID         0
	NAME       node1
	CLUSTER    default (id 0)
	IM         ssh
	VMM        xl
	STATE      ERROR (err)
	ERROR      ssh: connection timed out
	MONITORED  2023-11-14 22:13:20
	VMS        2 running
	CPU        total 800, free 650, unallocated 700
	MEMORY     total 16.0G, free 12.0G, unallocated 15.0G

	ATTRIBUTES
	ARCH       = x86_64
	CPUSPEED   = 2.5
	HYPERVISOR = xen
	TOTALCPU   = 800
	EOF
	test_cmp expect out
'

test_expect 'vm log prints the log text as it is' '
	canned GET /v1/vms/12/log 200 <<-\EOF &&
	{"log": "01:00:00 [vm 12] PROLOG\n01:00:12 [vm 12] BOOT: \"xl create\" failed"}
	EOF
	ctl vm log 12 && expect_status 0 &&
	printf "%s\n" "01:00:00 [vm 12] PROLOG" "01:00:12 [vm 12] BOOT: \"xl create\" failed" >expect &&
	test_cmp expect out
'

test_expect 'cluster names are looked up, clusters listed in a table' '
	canned GET "/v1/clusters?offset=0&limit=1000" 200 <<-\EOF &&
	{"total": 2, "offset": 0, "limit": 2, "clusters": [
	 {"id": 0, "name": "default", "tm": "shared", "net": "bridge", "hosts": 12},
	 {"id": 3, "name": "rack2", "tm": "ssh", "net": "dummy", "hosts": 1}]}
	EOF
	canned GET /v1/clusters/3 200 <<-\EOF &&
	{"id": 3, "name": "rack2", "tm": "ssh", "net": "dummy", "hosts": 1}
	EOF
	canned PATCH /v1/clusters/3 200 </dev/null &&
	ctl cluster list && expect_status 0 &&
	cat >expect <<-\EOF &&
	ID  NAME     TM      NET     HOSTS
	 0  default  shared  bridge     12
	 3  rack2    ssh     dummy       1
	EOF
	test_cmp expect out &&
	ctl cluster show rack2 && expect_status 0 &&
	printf "ID         3\nNAME       rack2\nTM         ssh\nNET        dummy\nHOSTS      1\n" >expect &&
	test_cmp expect out &&
	: >"$LOG" &&
	ctl cluster set rack2 --tm shared && expect_status 0 &&
	printf "%s\n" "GET /v1/clusters?offset=0&limit=1000" "PATCH /v1/clusters/3 {\"tm\":\"shared\"}" >expect &&
	test_cmp expect "$LOG" &&
	ctl cluster delete rack9 && expect_status 4 &&
	echo "cloudctl: no cluster '"'"'rack9'"'"'" >expect && test_cmp expect err
'

test_expect 'host top -n 2 prints the table twice when stdout is not a tty' '
	: >"$LOG" &&
	ctl host top -n 2 -d 0.05 && expect_status 0 &&
	test "$(grep -c "^ ID  NAME" out)" -eq 2 &&
	test "$(grep -c "^\$" out)" -eq 1 &&
	! grep -q "$(printf "\033")" out &&
	test "$(grep -c "GET /v1/hosts?offset=0" "$LOG")" -eq 2
'

# script(1) gives cloudctl a terminal; without it this check is left out.
if command -v script >/dev/null 2>&1; then
test_expect 'host top on a terminal clears the screen before each table' '
	script -qec "\"$CLOUDCTL\" -s \"$SOCK\" host top -n 3 -d 0.05" /dev/null >out 2>&1 &&
	test "$(grep -o "ID  NAME" out | wc -l)" -eq 3 &&
	test "$(grep -o "$(printf "\033")\[H$(printf "\033")\[2J" out | wc -l)" -eq 3
'
fi

test_expect 'a reply that is not JSON is refused with exit 1' '
	canned GET /v1/vms/13 200 <<-\EOF &&
	<html>oops</html>
	EOF
	ctl vm show 13 && expect_status 1 &&
	test_grep err "cloudctl: cloudd sent a reply that is not JSON"
'

test_expect 'an error without a JSON body still says what failed' '
	canned GET /v1/vms/14 503 </dev/null &&
	ctl vm show 14 && expect_status 1 &&
	echo "cloudctl: cloudd answered GET /v1/vms/14 with HTTP 503" >expect &&
	test_cmp expect err
'

test_expect 'a socket nobody listens on exits 3: connection refused' '
	kill -9 $fake_pid &&
	while kill -0 $fake_pid 2>/dev/null; do sleep 0.05; done &&
	test -S "$SOCK" &&
	ctl host list && expect_status 3 &&
	echo "cloudctl: cannot connect to cloudd at '"'"'$SOCK'"'"': Connection refused" >expect &&
	test_cmp expect err
'

test_done
