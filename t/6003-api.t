#!/bin/sh
# The HTTP API (HACKING, "The API (v1)") driven with curl over the Unix
# socket, on dummy drivers: every resource's good requests and the fields a
# user relies on, every kind of bad request and its stable error code,
# paging and filters, who may do what (the peer's uid), and that a reply
# comes after its change is committed.
. "$top_srcdir/t/lib/test-lib.sh"
command -v jq >/dev/null || skip_all "jq is not installed (tools/install-deps installs it)"
command -v curl >/dev/null || skip_all "curl is not installed (tools/install-deps installs it)"

write_conf <<CONF
MONITOR_INTERVAL = 0.3
SCHED = [ INTERVAL = 0.2 ]
TIMEOUT = [ BOOT = 1, SHUTDOWN = 1 ]
VMM_DRIVER = [ NAME = "dummy" ]
IM_DRIVER = [ NAME = "dummy" ]
IM_DRIVER = [ NAME = "tiny", MODULE = "dummy", TOTALCPU = 100, TOTALMEMORY = 262144 ]
TM_DRIVER = [ NAME = "dummy" ]
NET_DRIVER = [ NAME = "dummy" ]
CONF

# The other local user, for the permission checks (root runs them in CI).
USER_UID=65534
if [ "$(id -u)" = 0 ]; then
	if command -v setpriv >/dev/null; then
		AS_USER="setpriv --reuid=$USER_UID --regid=$USER_UID --clear-groups"
	else
		AS_USER="su_nobody"
	fi
	# The user must reach the socket in here.
	chmod 755 "$TEST_DIR"
fi
su_nobody() {
	su nobody -s /bin/sh -c '"$0" "$@"' "$@"
}

SOCK="$TEST_DIR/cloudd.sock"
BODY="$TEST_DIR/body"

# req [-u] METHOD PATH [BODY|@FILE]: the reply's body goes to $BODY, its
# headers to $BODY.h, and its status is printed.  -u: as the user.
req() {
	as=""
	if [ "$1" = -u ]; then
		as=$AS_USER
		shift
	fi
	m=$1 p=$2
	shift 2
	if [ $# -gt 0 ]; then
		$as curl -sS --unix-socket "$SOCK" -X "$m" -D - \
		    -H "Content-Type: application/json" --data-binary "$1" \
		    -w '\n%{http_code}' "http://localhost$p" >"$BODY.raw"
	else
		$as curl -sS --unix-socket "$SOCK" -X "$m" -D - \
		    -w '\n%{http_code}' "http://localhost$p" >"$BODY.raw"
	fi || return 1
	# Headers up to the empty line (after a possible "100 Continue") to
	# $BODY.h, then the body to $BODY; the last line is the status.
	awk -v b="$BODY" -v h="$BODY.h" '
	    hd == 0 && /^\r?$/ { if (!cont) hd = 1; cont = 0; next }
	    hd == 0 { if ($0 ~ /^HTTP\/[0-9.]+ 100/) cont = 1; print > h; next }
	    { if (n++) print last > b; last = $0 }
	    END { printf "" > b; print last }' "$BODY.raw"
}

# call STATUS [-u] METHOD PATH [BODY]: the reply must have STATUS.
call() {
	want=$1
	shift
	got=$(req "$@") || { echo "curl failed: $*"; return 1; }
	[ "$got" = "$want" ] && return 0
	echo "$*: status $got, expected $want:"
	cat "$BODY"
	return 1
}

# is_error CODE: $BODY is exactly {"error": {"code": CODE, "message": TEXT}}.
# The compact form is recognised without jq (it is slow to start); any
# other form must satisfy jq.
is_error() {
	grep -Eq '^\{"error":\{"code":"'"$1"'","message":"([^"\\]|\\.)+"\}\}$' "$BODY" &&
	    [ "$(wc -l <"$BODY")" -le 1 ] && return 0
	jq -e --arg c "$1" 'keys == ["error"] and (.error | keys) == ["code", "message"]
	    and .error.code == $c and (.error.message | type == "string" and length > 0)' \
	    "$BODY" >/dev/null 2>&1 && return 0
	echo "not a '$1' error body:"
	cat "$BODY"
	return 1
}

# call_err STATUS CODE [-u] METHOD PATH [BODY]
call_err() {
	st=$1 code=$2
	shift 2
	call "$st" "$@" && is_error "$code"
}

# msg_has TEXT: the error message contains TEXT (no quote or backslash).
msg_has() {
	grep -F -e "$1" "$BODY" >/dev/null && return 0
	echo "the message lacks '$1':"
	cat "$BODY"
	return 1
}

# j FILTER [jq options]: FILTER is true of $BODY.
j() {
	jq -e "$@" "$BODY" >/dev/null && return 0
	echo "jq '$*' is not true of:"
	cat "$BODY"
	return 1
}

# val FILTER: the value of FILTER in $BODY.
val() {
	jq -r "$1" "$BODY"
}

# tmpl TEXT [HOLD]: a create body for TEXT.
tmpl() {
	jq -cn --arg t "$1" --argjson h "${2:-false}" '{template: $t, hold: $h}'
}

# Wait until host NAME is MONITORED, through the API.
api_wait_host() {
	i=0
	while [ $i -lt 100 ]; do
		call 200 GET "/v1/hosts/$1" >/dev/null &&
		    [ "$(val .state)" = MONITORED ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "host $1 is not MONITORED:"
	cat "$BODY"
	return 1
}

# Wait until VM ID is STATE, through the API.
api_wait_vm() {
	i=0
	while [ $i -lt 100 ]; do
		call 200 GET "/v1/vms/$1" >/dev/null &&
		    [ "$(val .state)" = "$2" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "VM $1 is not $2:"
	cat "$BODY"
	return 1
}

SMALL='NAME = "small"
CPU = 0.5
MEMORY = 128'

cloudd_start || exit 1

if [ "$(id -u)" != 0 ]; then
	# Not root: we are the user, not the admin.  Check that much and stop.
	test_expect 'a user who is not root is not the admin: 403 on hosts and clusters' '
		call_err 403 forbidden POST /v1/hosts "{\"name\":\"n\",\"im\":\"dummy\",\"vmm\":\"dummy\"}" &&
		call_err 403 forbidden POST /v1/clusters "{\"name\":\"c\"}" &&
		call_err 403 forbidden PATCH /v1/clusters/default "{\"tm\":\"dummy\"}" &&
		call_err 403 forbidden DELETE /v1/clusters/default
	'
	test_expect 'a user who is not root creates, sees and deletes own VMs; uid from the peer' '
		call 201 POST /v1/vms "$(tmpl "$SMALL" true)" &&
		j ".uid == $(id -u) and .gid == $(id -g) and .state == \"HOLD\"" && id=$(val .id) &&
		call 200 GET /v1/vms && j ".total == 1 and .vms[0].id == $id" &&
		call_err 403 forbidden POST /v1/vms/$id/actions "{\"action\":\"deploy\",\"host\":\"x\"}" &&
		call 200 DELETE /v1/vms/$id && call 200 GET /v1/vms && j ".total == 0"
	'
	echo "# not root: the admin side and the other user are not checked"
	test_done
fi

# ------------------------------------------------------------ clusters

test_expect 'GET /v1/clusters: the default cluster 0, in a list envelope' '
	call 200 GET /v1/clusters &&
	j ".total == 1 and .offset == 0 and .limit == 100 and (.clusters | length) == 1" &&
	j ".clusters[0] | .id == 0 and .name == \"default\" and .tm == \"dummy\" and .net == \"dummy\" and .hosts == 0" &&
	j ".clusters[0] | keys == ([\"id\",\"name\",\"tm\",\"net\",\"hosts\"] | sort)"
'

test_expect 'POST /v1/clusters: 201 with the cluster; GET by id and by name' '
	call 201 POST /v1/clusters "{\"name\":\"rack1\",\"tm\":\"dummy\",\"net\":\"dummy\"}" &&
	j ".name == \"rack1\" and .tm == \"dummy\" and .net == \"dummy\" and .hosts == 0 and (.id | type) == \"number\"" &&
	id=$(val .id) &&
	call 200 GET /v1/clusters/rack1 && j ".id == $id and .name == \"rack1\"" &&
	call 200 GET /v1/clusters/$id && j ".name == \"rack1\"" &&
	call 200 GET /v1/clusters && j ".total == 2 and ([.clusters[].name] | sort) == [\"default\",\"rack1\"]"
'

test_expect 'POST /v1/clusters: name taken 409, unknown driver 400, bad name 400, missing name 400' '
	call_err 409 conflict POST /v1/clusters "{\"name\":\"rack1\"}" && msg_has rack1 &&
	call_err 400 bad_request POST /v1/clusters "{\"name\":\"rack9\",\"tm\":\"nosuch\"}" && msg_has nosuch &&
	call_err 400 bad_request POST /v1/clusters "{\"name\":\"12\"}" &&
	call_err 400 bad_request POST /v1/clusters "{\"tm\":\"dummy\"}" && msg_has "missing field '"'"'name'"'"'" &&
	call 200 GET /v1/clusters && j ".total == 2"
'

test_expect 'PATCH /v1/clusters/ID changes tm and net; bad ones are refused' '
	call 200 PATCH /v1/clusters/rack1 "{\"tm\":\"dummy\",\"net\":\"dummy\"}" &&
	j ".name == \"rack1\" and .tm == \"dummy\"" &&
	call_err 400 bad_request PATCH /v1/clusters/rack1 "{\"tm\":\"nosuch\"}" &&
	call_err 400 bad_request PATCH /v1/clusters/rack1 "{\"tm\":true}" && msg_has "must be a string" &&
	call_err 400 bad_request PATCH /v1/clusters/rack1 "{\"name\":\"x\"}" && msg_has "unknown field '"'"'name'"'"'" &&
	call_err 404 not_found PATCH /v1/clusters/nosuch "{\"tm\":\"dummy\"}"
'

test_expect 'DELETE /v1/clusters/ID: 200 and gone; default is kept (409); unknown 404' '
	call 201 POST /v1/clusters "{\"name\":\"scratch\"}" &&
	call 200 DELETE /v1/clusters/scratch && j ".name == \"scratch\"" &&
	call_err 404 not_found GET /v1/clusters/scratch &&
	call_err 404 not_found DELETE /v1/clusters/scratch &&
	call_err 409 conflict DELETE /v1/clusters/default &&
	call 200 GET /v1/clusters/default
'

# ---------------------------------------------------------------- hosts

test_expect 'POST /v1/hosts: 201 with the host; it gets MONITORED' '
	call 201 POST /v1/hosts "{\"name\":\"node1\",\"im\":\"dummy\",\"vmm\":\"dummy\"}" &&
	j ".name == \"node1\" and .cluster == \"default\" and .cluster_id == 0 and .im == \"dummy\" and .vmm == \"dummy\"" &&
	j "(.id | type) == \"number\" and (.state | type) == \"string\" and (.short | type) == \"string\"" &&
	j "has(\"rvm\") and has(\"tcpu\") and has(\"fcpu\") and has(\"acpu\") and has(\"tmem\") and has(\"fmem\") and has(\"amem\") and has(\"max_vms\") and has(\"error\") and has(\"monitored\")" &&
	call 201 POST /v1/hosts "{\"name\":\"node2\",\"im\":\"dummy\",\"vmm\":\"dummy\",\"cluster\":\"rack1\",\"max_vms\":10}" &&
	j ".cluster == \"rack1\" and .max_vms == 10" &&
	call 201 POST /v1/hosts "{\"name\":\"tiny\",\"im\":\"tiny\",\"vmm\":\"dummy\"}" &&
	api_wait_host node1 && api_wait_host node2 && api_wait_host tiny &&
	call 200 GET /v1/hosts/node1 &&
	j ".state == \"MONITORED\" and .short == \"on\" and .rvm == 0 and .tcpu > 0 and .tmem > 0 and .monitored > 0 and .error == null" &&
	j "(.attributes | type) == \"object\" and (.attributes | length) > 0"
'

test_expect 'GET /v1/hosts lists them; GET /v1/hosts/ID by id and by name; cluster counts hosts' '
	call 200 GET /v1/hosts &&
	j ".total == 3 and .offset == 0 and .limit == 100 and ([.hosts[].name] | sort) == [\"node1\",\"node2\",\"tiny\"]" &&
	j "all(.hosts[]; has(\"attributes\") | not)" &&
	id=$(jq ".hosts[] | select(.name == \"node2\") | .id" "$BODY") &&
	call 200 GET /v1/hosts/$id && j ".name == \"node2\"" &&
	call 200 GET /v1/clusters/rack1 && j ".hosts == 1"
'

test_expect 'POST /v1/hosts: name taken 409; bad driver, bad name, missing and wrong fields 400; unknown cluster 404' '
	call_err 409 conflict POST /v1/hosts "{\"name\":\"node1\",\"im\":\"dummy\",\"vmm\":\"dummy\"}" &&
	call_err 400 bad_request POST /v1/hosts "{\"name\":\"n9\",\"im\":\"nosuch\",\"vmm\":\"dummy\"}" && msg_has nosuch &&
	call_err 400 bad_request POST /v1/hosts "{\"name\":\"n9\",\"im\":\"dummy\",\"vmm\":\"nosuch\"}" && msg_has nosuch &&
	call_err 400 bad_request POST /v1/hosts "{\"name\":\"a b\",\"im\":\"dummy\",\"vmm\":\"dummy\"}" &&
	call_err 400 bad_request POST /v1/hosts "{\"name\":\"n9\",\"im\":\"dummy\"}" && msg_has "missing field '"'"'vmm'"'"'" &&
	call_err 400 bad_request POST /v1/hosts "{\"name\":\"n9\",\"im\":\"dummy\",\"vmm\":\"dummy\",\"max_vms\":\"3\"}" &&
	msg_has "must be an integer" &&
	call_err 400 bad_request POST /v1/hosts "{\"name\":\"n9\",\"im\":\"dummy\",\"vmm\":\"dummy\",\"max_vms\":1.5}" &&
	call_err 400 bad_request POST /v1/hosts "{\"name\":\"n9\",\"im\":\"dummy\",\"vmm\":\"dummy\",\"max_vms\":-1}" &&
	call_err 400 bad_request POST /v1/hosts "{\"name\":5,\"im\":\"dummy\",\"vmm\":\"dummy\"}" && msg_has "must be a string" &&
	call_err 404 not_found POST /v1/hosts "{\"name\":\"n9\",\"im\":\"dummy\",\"vmm\":\"dummy\",\"cluster\":\"nosuch\"}" &&
	call 200 GET /v1/hosts && j ".total == 3"
'

test_expect 'POST /v1/hosts/ID/actions: disable, enable, offline; bad action 400; unknown host 404' '
	call 200 POST /v1/hosts/tiny/actions "{\"action\":\"disable\"}" && j ".name == \"tiny\" and .state == \"DISABLED\"" &&
	call 200 GET /v1/hosts/tiny && j ".state == \"DISABLED\"" &&
	call 200 POST /v1/hosts/tiny/actions "{\"action\":\"offline\"}" && j ".state == \"OFFLINE\"" &&
	call 200 POST /v1/hosts/tiny/actions "{\"action\":\"enable\"}" && j ".state != \"OFFLINE\"" &&
	api_wait_host tiny &&
	call_err 400 bad_request POST /v1/hosts/tiny/actions "{\"action\":\"explode\"}" && msg_has explode &&
	call_err 400 bad_request POST /v1/hosts/tiny/actions "{\"action\":true}" &&
	call_err 400 bad_request POST /v1/hosts/tiny/actions "{}" && msg_has "missing field '"'"'action'"'"'" &&
	call_err 400 bad_request POST /v1/hosts/tiny/actions "{\"action\":\"enable\",\"force\":true}" &&
	call_err 404 not_found POST /v1/hosts/nosuch/actions "{\"action\":\"enable\"}"
'

test_expect 'PATCH /v1/hosts/ID moves an idle host; unknown cluster or host 404; DELETE an idle host' '
	call 201 POST /v1/hosts "{\"name\":\"spare\",\"im\":\"dummy\",\"vmm\":\"dummy\"}" &&
	call 200 PATCH /v1/hosts/spare "{\"cluster\":\"rack1\"}" && j ".cluster == \"rack1\"" &&
	call 200 GET /v1/clusters/rack1 && j ".hosts == 2" &&
	call_err 409 conflict DELETE /v1/clusters/rack1 && msg_has "still has" &&
	call_err 404 not_found PATCH /v1/hosts/spare "{\"cluster\":\"nosuch\"}" &&
	call_err 400 bad_request PATCH /v1/hosts/spare "{\"cluster\":0}" &&
	call_err 400 bad_request PATCH /v1/hosts/spare "{\"name\":\"x\"}" &&
	call_err 404 not_found PATCH /v1/hosts/nosuch "{\"cluster\":\"rack1\"}" &&
	call 200 DELETE /v1/hosts/spare && j ".name == \"spare\"" &&
	call_err 404 not_found GET /v1/hosts/spare &&
	call_err 404 not_found DELETE /v1/hosts/spare &&
	call 200 GET /v1/clusters/rack1 && j ".hosts == 1"
'

# ------------------------------------------------------------------ VMs

test_expect 'POST /v1/vms: 201 with the VM and its fields; it runs; GET /v1/vms/ID adds template and history' '
	call 201 POST /v1/vms "$(tmpl "$SMALL")" &&
	j ".name == \"small\" and .uid == 0 and .gid == 0 and .cpu == 0.5 and .vcpu == 1 and .memory == 128" &&
	j "(.id | type) == \"number\" and (.state | type) == \"string\" and (.short | type) == \"string\" and .stime > 0 and .etime == 0" &&
	j "(.usage | keys) == ([\"cpu\",\"memory\",\"netrx\",\"nettx\"] | sort) and has(\"reason\") and has(\"failed\") and has(\"progress\") and has(\"host\") and has(\"host_id\")" &&
	id=$(val .id) && echo "$id" >"$TEST_DIR/run_id" &&
	api_wait_vm "$id" RUNNING &&
	j ".short == \"runn\" and (.host == \"node1\" or .host == \"node2\") and .host_id >= 0 and .failed == null" &&
	j "(.template | type) == \"string\" and (.template | test(\"MEMORY\"))" &&
	j "(.history | length) == 1 and (.history[0] | .seq >= 0 and .host != null and .start > 0 and .boot_end > 0)"
'
RUN=$(cat "$TEST_DIR/run_id" 2>/dev/null || echo 0)

test_expect 'POST /v1/vms with hold: HOLD; GET /v1/vms/ID/log is the VM log' '
	call 201 POST /v1/vms "$(tmpl "$SMALL" true)" && j ".state == \"HOLD\" and .host == null and .host_id == -1" &&
	call 200 GET /v1/vms/$RUN/log && j "keys == [\"log\"] and (.log | test(\"state RUNNING\"))"
'

test_expect 'POST /v1/vms: a bad template is 400 bad_template naming line and column' '
	call_err 400 bad_template POST /v1/vms "$(tmpl "MEMORY = 128
CPU = = 1")" && msg_has "line 2, column" &&
	call_err 400 bad_template POST /v1/vms "$(tmpl "MEMORY = 128
DISK = [ TARGET = \"xvda\"")" && msg_has "line " &&
	call_err 400 bad_template POST /v1/vms "$(tmpl "CPU = 1")" && msg_has MEMORY &&
	call_err 400 bad_template POST /v1/vms "$(tmpl "MEMORY = lots")"
'

test_expect 'POST /v1/vms: missing template, wrong types, unknown fields are 400 bad_request' '
	call_err 400 bad_request POST /v1/vms "{\"hold\":true}" && msg_has "missing field '"'"'template'"'"'" &&
	call_err 400 bad_request POST /v1/vms "{\"template\":42}" && msg_has "'"'"'template'"'"' must be a string" &&
	call_err 400 bad_request POST /v1/vms "{\"template\":\"MEMORY = 1\",\"hold\":\"yes\"}" && msg_has "true or false" &&
	call_err 400 bad_request POST /v1/vms "{\"template\":\"MEMORY = 1\",\"hold\":1}" &&
	call_err 400 bad_request POST /v1/vms "{\"template\":\"MEMORY = 1\",\"hold\":null}" &&
	call_err 400 bad_request POST /v1/vms "{\"template\":\"MEMORY = 1\",\"owner\":3}" && msg_has "unknown field '"'"'owner'"'"'" &&
	call_err 400 bad_request POST /v1/vms "{\"template\":\"MEMORY = 1\",\"template\":\"MEMORY = 2\"}"
'

test_expect 'POST /v1/vms/ID/actions: hold, release; the reply and the list agree at once' '
	call 201 POST /v1/vms "$(tmpl "$SMALL" true)" && id=$(val .id) &&
	call 200 GET "/v1/vms?state=HOLD" && j "any(.vms[]; .id == $id)" &&
	call 200 POST /v1/vms/$id/actions "{\"action\":\"release\"}" && s=$(val .state) &&
	test "$s" != HOLD &&
	call 200 GET /v1/vms && j "any(.vms[]; .id == $id and .state != \"HOLD\")" &&
	call 200 DELETE /v1/vms/$id
'

test_expect 'POST /v1/vms/ID/actions: an action not allowed in the state is 409 conflict and changes nothing' '
	call_err 409 conflict POST /v1/vms/$RUN/actions "{\"action\":\"release\"}" && msg_has RUNNING &&
	call_err 409 conflict POST /v1/vms/$RUN/actions "{\"action\":\"resume\"}" &&
	call_err 409 conflict POST /v1/vms/$RUN/actions "{\"action\":\"deploy\",\"host\":\"node1\"}" &&
	call_err 409 conflict POST /v1/vms/$RUN/actions "{\"action\":\"recover\",\"mode\":\"retry\"}" &&
	call 201 POST /v1/vms "$(tmpl "$SMALL" true)" && id=$(val .id) &&
	call_err 409 conflict POST /v1/vms/$id/actions "{\"action\":\"shutdown\"}" && msg_has HOLD &&
	call_err 409 conflict POST /v1/vms/$id/actions "{\"action\":\"suspend\"}" &&
	call 200 GET /v1/vms/$id && j ".state == \"HOLD\"" &&
	call 200 GET /v1/vms/$RUN && j ".state == \"RUNNING\""
'

test_expect 'POST /v1/vms/ID/actions: bad action, missing action, wrong types, unknown fields, unknown host' '
	call_err 400 bad_request POST /v1/vms/$RUN/actions "{\"action\":\"explode\"}" && msg_has explode &&
	call_err 400 bad_request POST /v1/vms/$RUN/actions "{}" && msg_has "missing field '"'"'action'"'"'" &&
	call_err 400 bad_request POST /v1/vms/$RUN/actions "{\"action\":\"reboot\",\"hard\":\"yes\"}" && msg_has "true or false" &&
	call_err 400 bad_request POST /v1/vms/$RUN/actions "{\"action\":\"migrate\",\"host\":\"node1\",\"live\":1}" &&
	call_err 400 bad_request POST /v1/vms/$RUN/actions "{\"action\":\"recover\",\"mode\":2}" &&
	call_err 400 bad_request POST /v1/vms/$RUN/actions "{\"action\":\"shutdown\",\"now\":true}" && msg_has "unknown field" &&
	call_err 404 not_found POST /v1/vms/$RUN/actions "{\"action\":\"migrate\",\"host\":\"nosuch\"}" &&
	call 200 GET /v1/vms/$RUN && j ".state == \"RUNNING\""
'

test_expect 'deploy needs a host (400); a disabled host is 409 conflict' '
	call 201 POST /v1/vms "$(tmpl "CPU = 2
MEMORY = 1024" true)" && id=$(val .id) && echo "$id" >"$TEST_DIR/big_id" &&
	call_err 400 bad_request POST /v1/vms/$id/actions "{\"action\":\"deploy\"}" &&
	call 200 POST /v1/hosts/tiny/actions "{\"action\":\"disable\"}" &&
	call_err 409 conflict POST /v1/vms/$id/actions "{\"action\":\"deploy\",\"host\":\"tiny\"}" &&
	msg_has DISABLED &&
	call 200 POST /v1/hosts/tiny/actions "{\"action\":\"enable\"}" && api_wait_host tiny
'

test_expect 'deploy on a host too small is 409 no_capacity' '
	id=$(cat "$TEST_DIR/big_id") &&
	call 409 POST /v1/vms/$id/actions "{\"action\":\"deploy\",\"host\":\"tiny\"}" &&
	is_error no_capacity &&
	call 200 GET /v1/vms/$id && j ".state == \"HOLD\""
'

test_expect 'deploy and migrate by the admin; reboot, poweroff, resume, suspend, stop, shutdown reply 200 VM' '
	call 201 POST /v1/vms "$(tmpl "$SMALL" true)" && id=$(val .id) &&
	call 200 POST /v1/vms/$id/actions "{\"action\":\"deploy\",\"host\":\"node2\"}" &&
	j ".id == $id" && api_wait_vm $id RUNNING && j ".host == \"node2\"" &&
	call 200 POST /v1/vms/$id/actions "{\"action\":\"migrate\",\"host\":\"node1\",\"live\":true}" &&
	api_wait_vm $id RUNNING && j ".host == \"node1\" and (.history | length) == 2" &&
	call 200 POST /v1/vms/$id/actions "{\"action\":\"reboot\",\"hard\":true}" && api_wait_vm $id RUNNING &&
	call 200 POST /v1/vms/$id/actions "{\"action\":\"suspend\"}" && api_wait_vm $id SUSPENDED &&
	call 200 POST /v1/vms/$id/actions "{\"action\":\"resume\"}" && api_wait_vm $id RUNNING &&
	call 200 POST /v1/vms/$id/actions "{\"action\":\"poweroff\"}" && api_wait_vm $id POWEROFF &&
	call 200 POST /v1/vms/$id/actions "{\"action\":\"resume\"}" && api_wait_vm $id RUNNING &&
	call 200 POST /v1/vms/$id/actions "{\"action\":\"stop\"}" && api_wait_vm $id STOPPED &&
	j ".host == null" &&
	call 200 POST /v1/vms/$id/actions "{\"action\":\"resume\"}" && api_wait_vm $id RUNNING &&
	call 200 POST /v1/vms/$id/actions "{\"action\":\"shutdown\"}" && api_wait_vm $id DONE
'

test_expect 'a host with VMs: DELETE 409, PATCH 409, offline 409' '
	call 200 GET /v1/vms/$RUN && h=$(val .host) &&
	if [ "$h" = node1 ]; then to=rack1; else to=default; fi &&
	call_err 409 conflict DELETE /v1/hosts/$h && msg_has "still has" &&
	call_err 409 conflict PATCH /v1/hosts/$h "{\"cluster\":\"$to\"}" &&
	call_err 409 conflict POST /v1/hosts/$h/actions "{\"action\":\"offline\"}" &&
	call 200 GET /v1/hosts/$h && j ".rvm >= 1 and .state == \"MONITORED\""
'

test_expect 'DELETE /v1/vms/ID and action delete end a VM; it still shows, DONE' '
	call 201 POST /v1/vms "$(tmpl "$SMALL" true)" && a=$(val .id) &&
	call 201 POST /v1/vms "$(tmpl "$SMALL" true)" && b=$(val .id) &&
	call 200 DELETE /v1/vms/$a && j ".id == $a" &&
	call 200 POST /v1/vms/$b/actions "{\"action\":\"delete\"}" &&
	api_wait_vm $a DONE && api_wait_vm $b DONE &&
	call 200 GET /v1/vms && j "all(.vms[]; .id != $a and .id != $b)" &&
	call 200 GET /v1/vms/$a/log && j "(.log | type) == \"string\"" &&
	echo "$a" >"$TEST_DIR/done_id"
'

test_expect 'an action on a DONE VM is 409 conflict, not 404 (GET shows it)' '
	a=$(cat "$TEST_DIR/done_id") &&
	call 200 GET /v1/vms/$a && j ".state == \"DONE\"" &&
	call_err 409 conflict POST /v1/vms/$a/actions "{\"action\":\"release\"}" &&
	call_err 409 conflict DELETE /v1/vms/$a
'

test_expect 'a DONE VM shows the same fields as a live one (template, cpu, memory, etime...)' '
	call 200 GET /v1/vms/$RUN && jq -c keys "$BODY" >live.keys &&
	call 201 POST /v1/vms "$(tmpl "$SMALL" true)" && id=$(val .id) &&
	call 200 DELETE /v1/vms/$id && api_wait_vm $id DONE &&
	jq -c keys "$BODY" >done.keys && test_cmp live.keys done.keys &&
	j ".etime > 0 and .memory == 128"
'

# --------------------------------------------- malformed and odd requests

test_expect 'malformed JSON on every endpoint with a body: 400 naming line and column' '
	for ep in "POST /v1/vms" "POST /v1/vms/$RUN/actions" "POST /v1/hosts" \
	    "POST /v1/hosts/node1/actions" "PATCH /v1/hosts/node1" \
	    "POST /v1/clusters" "PATCH /v1/clusters/rack1"; do
		set -- $ep
		call_err 400 bad_request "$1" "$2" "{\"action\": " && msg_has "line 1, column" || exit 1
		call_err 400 bad_request "$1" "$2" "{
  \"a\": 1,
  \"b\" 2
}" && msg_has "line 3, column 7" || exit 1
	done
'

test_expect 'a body that is not a JSON object, or none, is 400 on every endpoint with a body' '
	for ep in "POST /v1/vms" "POST /v1/vms/$RUN/actions" "POST /v1/hosts" \
	    "POST /v1/hosts/node1/actions" "PATCH /v1/hosts/node1" \
	    "POST /v1/clusters" "PATCH /v1/clusters/rack1"; do
		set -- $ep
		call_err 400 bad_request "$1" "$2" "[]" && msg_has "object" || exit 1
		call_err 400 bad_request "$1" "$2" "[{\"action\":\"hold\"}]" && msg_has "object" || exit 1
		for b in 1 "\"x\"" null true; do
			call_err 400 bad_request "$1" "$2" "$b" || exit 1
		done
		call_err 400 bad_request "$1" "$2" "" && msg_has "object" || exit 1
		call_err 400 bad_request "$1" "$2" "{\"zzz\":1}" && msg_has "unknown field '"'"'zzz'"'"'" || exit 1
	done &&
	call 200 GET /v1/vms/$RUN && j ".state == \"RUNNING\""
'

test_expect 'a body over 1 MiB is 413 too_large (with a length and chunked); exactly 1 MiB is read' '
	printf "{\"template\":\"MEMORY = 64\"}" >big &&
	n=$(wc -c <big) && head -c $((1048576 - n)) /dev/zero | tr "\\0" " " >>big &&
	test "$(wc -c <big)" = 1048576 &&
	call 201 POST /v1/vms @big && id=$(val .id) && call 200 DELETE /v1/vms/$id &&
	printf " " >>big &&
	for ep in "POST /v1/vms" "POST /v1/vms/$RUN/actions" "POST /v1/hosts" \
	    "POST /v1/hosts/node1/actions" "PATCH /v1/hosts/node1" \
	    "POST /v1/clusters" "PATCH /v1/clusters/rack1"; do
		set -- $ep
		call_err 413 too_large "$1" "$2" @big || exit 1
	done &&
	code=$(curl -sS --unix-socket "$SOCK" -H "Transfer-Encoding: chunked" \
	    -H "Content-Type: application/json" --data-binary @big \
	    -o "$BODY" -w "%{http_code}" http://localhost/v1/vms) &&
	test "$code" = 413 && is_error too_large &&
	call 200 GET /v1/vms/$RUN
'

test_expect 'wrong methods are 405 method_not_allowed naming the allowed ones, on every resource' '
	while read m p allowed; do
		call_err 405 method_not_allowed "$m" "$p" && msg_has "allowed: $allowed" || exit 1
	done <<-EOF
	PUT /v1/vms GET, POST
	DELETE /v1/vms GET, POST
	PATCH /v1/vms GET, POST
	POST /v1/vms/$RUN GET, DELETE
	PUT /v1/vms/$RUN GET, DELETE
	GET /v1/vms/$RUN/actions POST
	DELETE /v1/vms/$RUN/actions POST
	POST /v1/vms/$RUN/log GET
	DELETE /v1/vms/$RUN/log GET
	PUT /v1/hosts GET, POST
	DELETE /v1/hosts GET, POST
	POST /v1/hosts/node1 GET, PATCH, DELETE
	PUT /v1/hosts/node1 GET, PATCH, DELETE
	GET /v1/hosts/node1/actions POST
	PUT /v1/clusters GET, POST
	DELETE /v1/clusters GET, POST
	POST /v1/clusters/rack1 GET, PATCH, DELETE
	EOF
	call 200 GET /v1/vms/$RUN && j ".state == \"RUNNING\"" && call 200 GET /v1/hosts/node1
'

test_expect 'a 405 reply carries an Allow header (RFC 9110 15.5.6)' '
	call 405 PUT /v1/vms &&
	grep -i "^Allow: GET, POST" "$BODY.h" || { cat "$BODY.h"; exit 1; }
'

test_expect 'unknown ids and unknown paths are 404 not_found' '
	while read m p; do
		call_err 404 not_found "$m" "$p" || exit 1
	done <<-EOF
	GET /v1/vms/999999
	GET /v1/vms/abc
	GET /v1/vms/-1
	GET /v1/vms/999999/log
	DELETE /v1/vms/999999
	GET /v1/hosts/nosuch
	GET /v1/hosts/999999
	DELETE /v1/hosts/nosuch
	GET /v1/clusters/nosuch
	GET /v1/clusters/999999
	GET /v1/nothing
	GET /v1
	GET /v1/
	GET /
	GET /v2/vms
	GET /vms
	GET /v1/vms/$RUN/other
	POST /v1/vms/$RUN/actions/now
	GET /v1/hosts/node1/other
	GET /v1/clusters/rack1/hosts
	GET /v1/vms/$RUN/log/a/b/c
	EOF
	call_err 404 not_found POST /v1/vms/999999/actions "{\"action\":\"hold\"}" &&
	call_err 404 not_found POST /v1/vms/abc/actions "{\"action\":\"hold\"}" &&
	call_err 404 not_found POST /v1/hosts/nosuch/actions "{\"action\":\"enable\"}" &&
	call_err 404 not_found PATCH /v1/clusters/nosuch "{\"tm\":\"dummy\"}" &&
	call_err 404 not_found DELETE /v1/clusters/nosuch
'

# --------------------------------------------------------------- lists

test_expect 'paging: offset and limit slice the list; total stays the whole count' '
	for i in 1 2 3 4 5 6; do call 201 POST /v1/vms "$(tmpl "$SMALL" true)" || exit 1; done &&
	call 200 GET "/v1/vms?limit=10000" && all=$(val .total) && test "$all" -ge 7 &&
	jq -c "[.vms[].id]" "$BODY" >all.ids && test "$(jq length all.ids)" = "$all" &&
	call 200 GET "/v1/vms?offset=2&limit=3" &&
	j ".total == $all and .offset == 2 and .limit == 3 and (.vms | length) == 3" &&
	test "$(jq -c "[.vms[].id]" "$BODY")" = "$(jq -c ".[2:5]" all.ids)" &&
	call 200 GET "/v1/vms?limit=1&offset=$((all - 1))" &&
	j ".total == $all and (.vms | length) == 1" &&
	test "$(val .vms[0].id)" = "$(jq ".[-1]" all.ids)" &&
	call 200 GET "/v1/vms?offset=$all" && j ".total == $all and .vms == []" &&
	call 200 GET "/v1/vms?offset=1000000" && j ".total == $all and .vms == []" &&
	call 200 GET "/v1/vms?limit=2" && j ".offset == 0 and .limit == 2 and (.vms | length) == 2" &&
	call 200 GET /v1/vms && j ".limit == 100 and .total == $all"
'

# "total > offset + limit" would overflow for an offset near INT64_MAX:
# the UBSan build checks it is not computed.
test_expect 'paging: a huge offset is empty with the right total (no overflow)' '
	call 200 GET "/v1/vms" && all=$(val .total) &&
	call 200 GET "/v1/vms?offset=9223372036854775807&limit=10000" &&
	j ".total == $all and .vms == []" &&
	call 200 GET "/v1/hosts?offset=9223372036854775807&limit=10000" && j ".total == 3 and .hosts == []"
'

test_expect 'paging: bad offset or limit is 400 on vms, hosts and clusters' '
	for coll in vms hosts clusters; do
		for q in limit=0 limit=100001 limit=-1 limit=abc limit= limit=1.5 \
		    offset=-1 offset=x offset= offset=2x offset=99999999999999999999; do
			call_err 400 bad_request GET "/v1/$coll?$q" || exit 1
		done
		call 200 GET "/v1/$coll?limit=10000&offset=0" || exit 1
	done
'

test_expect 'paging on hosts and clusters' '
	call 200 GET "/v1/hosts?offset=1&limit=1" && j ".total == 3 and .offset == 1 and .limit == 1 and (.hosts | length) == 1" &&
	call 200 GET "/v1/clusters?offset=1" && j ".total == 2 and (.clusters | length) == 1 and .clusters[0].name == \"rack1\"" &&
	call 200 GET "/v1/clusters?offset=2" && j ".total == 2 and .clusters == []"
'

test_expect 'filters: state= and host= select, total counts the selection; bad ones refused' '
	call 200 GET /v1/vms?limit=10000 && cp "$BODY" all.json &&
	nh=$(jq "[.vms[] | select(.state == \"HOLD\")] | length" all.json) && test "$nh" -ge 6 &&
	call 200 GET "/v1/vms?state=HOLD&limit=10000" &&
	j ".total == $nh and (.vms | length) == $nh and all(.vms[]; .state == \"HOLD\")" &&
	call 200 GET "/v1/vms?state=HOLD&limit=2&offset=1" && j ".total == $nh and (.vms | length) == 2" &&
	call 200 GET "/v1/vms?state=RUNNING" && j ".total >= 1 and all(.vms[]; .state == \"RUNNING\") and any(.vms[]; .id == $RUN)" &&
	h=$(jq -r ".vms[] | select(.id == $RUN) | .host" all.json) &&
	nh=$(jq "[.vms[] | select(.host == \"$h\")] | length" all.json) &&
	call 200 GET "/v1/vms?host=$h" && j ".total == $nh and all(.vms[]; .host == \"$h\")" &&
	call 200 GET "/v1/vms?host=tiny" && j ".total == 0 and .vms == []" &&
	call 200 GET "/v1/vms?host=$h&state=HOLD" && j ".total == 0" &&
	call_err 400 bad_request GET "/v1/vms?state=BOGUS" && msg_has BOGUS &&
	call_err 404 not_found GET "/v1/vms?host=nosuch" &&
	call_err 400 bad_request GET "/v1/vms?uid=abc"
'

# --------------------------------------------------------- permissions

if [ -n "${AS_USER:-}" ]; then
test_expect 'a user sees none of the admin'"'"'s VMs: empty list, 404 on each' '
	call 200 -u GET /v1/vms && j ".total == 0 and .vms == []" &&
	call_err 404 not_found -u GET /v1/vms/$RUN &&
	call_err 404 not_found -u GET /v1/vms/$RUN/log &&
	call_err 404 not_found -u POST /v1/vms/$RUN/actions "{\"action\":\"shutdown\"}" &&
	call_err 404 not_found -u DELETE /v1/vms/$RUN &&
	call 200 -u GET "/v1/vms?uid=0" && j ".total == 0" &&
	call 200 -u GET "/v1/vms?state=RUNNING" && j ".total == 0" &&
	call 200 GET /v1/vms/$RUN && j ".state == \"RUNNING\""
'

test_expect 'a user creates VMs, recorded with the peer'"'"'s uid and gid, and sees only those' '
	call 201 -u POST /v1/vms "$(tmpl "$SMALL" true)" &&
	j ".uid == $USER_UID and .gid == $USER_UID and .state == \"HOLD\"" && a=$(val .id) &&
	call 201 -u POST /v1/vms "$(tmpl "$SMALL" true)" && b=$(val .id) &&
	echo "$a $b" >"$TEST_DIR/user_ids" &&
	call 200 -u GET /v1/vms && j ".total == 2 and ([.vms[].id] | sort) == ([$a, $b] | sort) and all(.vms[]; .uid == $USER_UID)" &&
	call 200 -u GET /v1/vms/$a && j ".uid == $USER_UID and (.template | type) == \"string\"" &&
	call 200 -u GET /v1/vms/$a/log &&
	call 200 GET /v1/vms/$a && j ".uid == $USER_UID" &&
	call 200 GET "/v1/vms?uid=$USER_UID" && j ".total == 2 and all(.vms[]; .uid == $USER_UID)" &&
	call 200 GET "/v1/vms?limit=10000" && j "any(.vms[]; .uid == 0) and any(.vms[]; .uid == $USER_UID)"
'
read UA UB <"$TEST_DIR/user_ids" 2>/dev/null || { UA=0 UB=0; }

test_expect 'a user acts on own VMs (hold, release) but may not deploy or migrate (403)' '
	call_err 403 forbidden -u POST /v1/vms/$UA/actions "{\"action\":\"deploy\",\"host\":\"node1\"}" &&
	call_err 403 forbidden -u POST /v1/vms/$UA/actions "{\"action\":\"migrate\",\"host\":\"node1\"}" &&
	call 200 GET /v1/vms/$UA && j ".state == \"HOLD\"" &&
	call 200 -u POST /v1/vms/$UA/actions "{\"action\":\"release\"}" && j ".id == $UA and .state != \"HOLD\"" &&
	api_wait_vm $UA RUNNING &&
	call_err 403 forbidden -u POST /v1/vms/$UA/actions "{\"action\":\"migrate\",\"host\":\"node2\",\"live\":true}" &&
	call 200 -u POST /v1/vms/$UA/actions "{\"action\":\"reboot\"}" &&
	call_err 400 bad_request -u POST /v1/vms/$UA/actions "{\"action\":\"reboot\",\"x\":1}"
'

test_expect 'a user cannot create, change or delete hosts and clusters (403) but reads them' '
	call_err 403 forbidden -u POST /v1/hosts "{\"name\":\"mine\",\"im\":\"dummy\",\"vmm\":\"dummy\"}" &&
	call_err 403 forbidden -u POST /v1/clusters "{\"name\":\"mine\",\"tm\":\"dummy\",\"net\":\"dummy\"}" &&
	call_err 403 forbidden -u POST /v1/hosts/node1/actions "{\"action\":\"disable\"}" &&
	call_err 403 forbidden -u PATCH /v1/hosts/tiny "{\"cluster\":\"rack1\"}" &&
	call_err 403 forbidden -u DELETE /v1/hosts/tiny &&
	call_err 403 forbidden -u PATCH /v1/clusters/rack1 "{\"tm\":\"dummy\"}" &&
	call_err 403 forbidden -u DELETE /v1/clusters/rack1 &&
	call 200 -u GET /v1/hosts && j ".total == 3" &&
	call 200 -u GET /v1/hosts/node1 && j ".state == \"MONITORED\"" &&
	call 200 -u GET /v1/clusters && j ".total == 2" &&
	call 200 -u GET /v1/clusters/rack1 &&
	call 200 GET /v1/hosts/tiny && j ".cluster == \"default\"" &&
	call 200 GET /v1/hosts && j ".total == 3" && call 200 GET /v1/clusters && j ".total == 2"
'

test_expect 'a user deletes own VMs; the ended VM stays the user'"'"'s alone' '
	call 200 -u DELETE /v1/vms/$UB && j ".id == $UB" &&
	call 200 -u POST /v1/vms/$UA/actions "{\"action\":\"delete\"}" &&
	api_wait_vm $UA DONE && api_wait_vm $UB DONE &&
	call 200 -u GET /v1/vms && j ".total == 0" &&
	call 200 -u GET /v1/vms/$UB && j ".state == \"DONE\" and .uid == $USER_UID" &&
	call 200 -u GET /v1/vms/$UB/log &&
	call 201 POST /v1/vms "$(tmpl "$SMALL" true)" && r=$(val .id) &&
	call 200 DELETE /v1/vms/$r && api_wait_vm $r DONE &&
	call_err 404 not_found -u GET /v1/vms/$r &&
	call_err 404 not_found -u GET /v1/vms/$r/log
'
fi

# --------------------------------------------------- commit and restart

test_expect 'a created VM is visible from another connection right after the reply' '
	for i in 1 2 3 4 5 6 7 8 9 10; do
		call 201 POST /v1/vms "$(tmpl "$SMALL" true)" && id=$(val .id) &&
		call 200 GET /v1/vms/$id && j ".id == $id and .state == \"HOLD\"" &&
		call 200 GET "/v1/vms?state=HOLD&limit=10000" && j "any(.vms[]; .id == $id)" || exit 1
	done
'

test_expect 'acknowledged changes survive SIGKILL: create, action, host, cluster' '
	call 201 POST /v1/vms "$(tmpl "NAME = \"keeper\"
MEMORY = 64" true)" && k=$(val .id) &&
	call 201 POST /v1/vms "$(tmpl "$SMALL" true)" && d=$(val .id) &&
	call 200 DELETE /v1/vms/$d &&
	call 201 POST /v1/clusters "{\"name\":\"late\",\"tm\":\"dummy\",\"net\":\"dummy\"}" &&
	call 201 POST /v1/hosts "{\"name\":\"late1\",\"im\":\"dummy\",\"vmm\":\"dummy\",\"cluster\":\"late\"}" &&
	call 200 POST /v1/hosts/late1/actions "{\"action\":\"disable\"}" &&
	echo "$k $d" >"$TEST_DIR/kept" && cloudd_kill
'
read KEPT DELETED <"$TEST_DIR/kept" 2>/dev/null || { KEPT=0 DELETED=0; }
cloudd_start || exit 1

test_expect 'after the restart every acknowledged change is there' '
	call 200 GET /v1/vms/$KEPT && j ".name == \"keeper\" and .state == \"HOLD\" and .memory == 64" &&
	call 200 GET "/v1/vms?state=HOLD&limit=10000" && j "any(.vms[]; .id == $KEPT)" &&
	api_wait_vm $DELETED DONE &&
	call 200 GET /v1/clusters/late && j ".hosts == 1" &&
	call 200 GET /v1/hosts/late1 && j ".state == \"DISABLED\" and .cluster == \"late\""
'

test_done
