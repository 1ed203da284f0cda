# testbed.sh: fake hosts for cloudd's tests (../shared/TESTBED.md).
# Source it after test-lib.sh, then:
#
#   testbed_up N        N hosts node1..nodeN, each a network namespace
#                       running its own sshd, in a private mount and UTS
#                       namespace: its own hostname, its own datastore
#                       directory bound at /var/lib/cloudd, its own empty
#                       /root.  Torn down when the test ends, however it
#                       ends.  Skips the whole test (skip_all) when the
#                       machine cannot have a testbed, saying why.
#                       TB_SHARED=1 first (or TB_SHARED="node3 node4": only those hosts): one common directory is the
#                       datastore of every host (shared storage).
#                       TB_SBIN=1 first (or TB_SBIN="node1 node3"): those
#                       hosts get a directory of their own, tb_sbin HOST,
#                       bound over /usr/local/sbin, first in root's PATH
#                       over ssh: programs for one host only (the stub xl
#                       and xm of t/lib/xen-stub.sh).
#   testbed_down        tear it down now (idempotent; also run at exit)
#
#   $TB_HOSTS           "node1 node2 ..."
#   $TB_SSH_CONFIG      an ssh_config with a Host block per host
#   $TB_DATASTORE       /var/lib/cloudd, the datastore's path on the hosts
#   $TB_SHARED_DIR      the shared datastore on the front-end (TB_SHARED=1)
#   $TB_NET             the hosts' /24, e.g. 10.99.37 (bridge at .1)
#   $TB_BRIDGE          the bridge's name, unique on the machine
#   tb_ssh HOST CMD...  run a shell command line on HOST
#   tb_dir HOST         HOST's datastore directory seen from the front-end
#   tb_addr HOST        its address;  tb_netns HOST  its namespace's name
#   tb_kill_sshd HOST   SIGKILL its sshd and every session (a dead host)
#   tb_stop_sshd HOST   SIGSTOP them (a hung host); tb_cont_sshd HOST: SIGCONT
#   tb_start_sshd HOST  start its sshd again and wait until it listens
#
# Names: each testbed claims a free /24 of 10.99.0.0/16 by creating the
# bridge named after it (cldtbX: creating a link is atomic), and its
# namespaces and veths carry the same name, so tests run side by side.
# Every testbed adds its own blackhole route for 10.99.0.0/16 with its own
# metric: removing it never removes another test's safety net.

TB_DATASTORE=/var/lib/cloudd
TB_HOSTS=""
TB_N=0
TB_X=""
TB_NET=""
TB_BRIDGE=""
TB_SHARED_DIR=""
TB_SHARED_LIST=""
TB_SBIN_LIST=""
TB_DIR="$TEST_DIR/tb"
TB_SSH_CONFIG="$TB_DIR/ssh_config"
TB_SSHD=/usr/sbin/sshd

# The index K of nodeK, or fail.
_tb_k() {
	case $1 in
	node[0-9]*) k=${1#node} ;;
	*) echo "testbed: no host '$1'" >&2; return 1 ;;
	esac
	[ -f "$TB_DIR/$1/sshd_config" ] || { echo "testbed: no host '$1'" >&2; return 1; }
	echo "$k"
}

tb_netns() {
	k=$(_tb_k "$1") || return 1
	echo "$TB_BRIDGE-node$k"
}

tb_addr() {
	k=$(_tb_k "$1") || return 1
	echo "$TB_NET.$((10 + k))"
}

# Whether HOST mounts the shared datastore (TB_SHARED=1: every host;
# TB_SHARED="node3 node4": those).
_tb_shared() {
	[ -n "$TB_SHARED_DIR" ] || return 1
	[ "$TB_SHARED_LIST" = 1 ] && return 0
	case " $TB_SHARED_LIST " in *" $1 "*) return 0;; esac
	return 1
}

tb_dir() {
	_tb_k "$1" >/dev/null || return 1
	if _tb_shared "$1"; then
		echo "$TB_SHARED_DIR"
	else
		echo "$TB_DIR/$1/datastore"
	fi
}

# Whether HOST has a /usr/local/sbin of its own (TB_SBIN).
_tb_sbin() {
	[ -n "$TB_SBIN_LIST" ] || return 1
	[ "$TB_SBIN_LIST" = 1 ] && return 0
	case " $TB_SBIN_LIST " in *" $1 "*) return 0;; esac
	return 1
}

tb_sbin() {
	_tb_k "$1" >/dev/null && _tb_sbin "$1" || { echo "testbed: '$1' has no sbin of its own (TB_SBIN)" >&2; return 1; }
	echo "$TB_DIR/$1/sbin"
}

tb_ssh() {
	h=$1
	shift
	ssh -F "$TB_SSH_CONFIG" "$h" "$@"
}

# The pids of every process in HOST's network namespace.
_tb_pids() {
	ns=$(tb_netns "$1") || return 1
	ip netns pids "$ns" 2>/dev/null
}

# Wait until each pid is gone or a zombie (a killed daemon lingers as a
# zombie for a second or two: TESTBED.md).
_tb_wait_gone() {
	for p in "$@"; do
		i=0
		while [ -r "/proc/$p/stat" ]; do
			st=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)
			[ "$st" = Z ] || [ -z "$st" ] && break
			i=$((i + 1))
			[ $i -lt 500 ] || { echo "testbed: pid $p did not die" >&2; return 1; }
			sleep 0.01
		done
	done
}

# SIGKILL every sshd process of HOST (the listener and each session).
tb_kill_sshd() {
	pids=$(_tb_sshd_pids "$1") || return 1
	[ -n "$pids" ] || return 0
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	# shellcheck disable=SC2086
	_tb_wait_gone $pids
}

tb_stop_sshd() {
	pids=$(_tb_sshd_pids "$1") || return 1
	# shellcheck disable=SC2086
	[ -z "$pids" ] || kill -STOP $pids
}

tb_cont_sshd() {
	pids=$(_tb_sshd_pids "$1") || return 1
	# shellcheck disable=SC2086
	[ -z "$pids" ] || kill -CONT $pids
}

_tb_sshd_pids() {
	all=$(_tb_pids "$1") || return 1
	for p in $all; do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = sshd ] && echo "$p"
	done
	return 0
}

# Start HOST's sshd in its own mount and UTS namespaces and wait until it
# listens.
tb_start_sshd() {
	h=$1
	k=$(_tb_k "$h") || return 1
	ns=$(tb_netns "$h")
	d="$TB_DIR/$h"
	ds=$(tb_dir "$h")
	sbin=""
	! _tb_sbin "$h" || sbin="$d/sbin"
	rm -f "$d/sshd.pid"
	ip netns exec "$ns" unshare --mount --uts --propagation private \
	    sh -c 'hostname "$1" && mount --bind "$2" "$3" &&
		mount --bind "$4" /root &&
		{ [ -z "$8" ] || mount --bind "$8" /usr/local/sbin; } &&
		exec "$5" -f "$6" -E "$7"' sh "$h" "$ds" "$TB_DATASTORE" \
	    "$d/root" "$TB_SSHD" "$d/sshd_config" "$d/sshd.log" "$sbin" \
	    >>"$d/sshd.log" 2>&1 || {
		echo "testbed: sshd of $h did not start:" >&2
		cat "$d/sshd.log" >&2
		return 1
	}
	# sshd writes its pid file once it listens; then the port must show
	# in its namespace's table (0016: port 22, 0A: LISTEN).
	i=0
	while :; do
		if [ -s "$d/sshd.pid" ] &&
		    grep -q ':0016 00000000:0000 0A' "/proc/$(cat "$d/sshd.pid")/net/tcp" 2>/dev/null; then
			return 0
		fi
		i=$((i + 1))
		[ $i -lt 500 ] || { echo "testbed: sshd of $h does not listen" >&2; cat "$d/sshd.log" >&2; return 1; }
		sleep 0.01
	done
}

# Why this machine cannot have a testbed, or nothing.
_tb_lacks() {
	[ "$(id -u)" -eq 0 ] || { echo "the testbed needs root (network namespaces)"; return; }
	command -v ip >/dev/null || { echo "ip is not installed (tools/install-deps installs iproute2)"; return; }
	command -v unshare >/dev/null || { echo "unshare is not installed (util-linux)"; return; }
	[ -x "$TB_SSHD" ] || { echo "$TB_SSHD is not installed (tools/install-deps installs openssh-server)"; return; }
	command -v ssh >/dev/null || { echo "ssh is not installed (tools/install-deps installs openssh-client)"; return; }
	command -v ssh-keygen >/dev/null || { echo "ssh-keygen is not installed (openssh-client)"; return; }
	ns="cldtbprobe$$"
	if ! out=$(ip netns add "$ns" 2>&1); then
		echo "cannot make a network namespace: $out"
		return
	fi
	ip netns del "$ns" 2>/dev/null
}

# Claim a free 10.99.X.0/24: the bridge cldtbX is ours once created.
_tb_claim() {
	x=$(( $$ % 254 + 1 ))
	tries=0
	while [ $tries -lt 254 ]; do
		if ip link add "cldtb$x" type bridge 2>/dev/null; then
			# Someone may use the subnet under another name.
			if ip -4 -o addr show | grep -q " 10\.99\.$x\."; then
				ip link del "cldtb$x"
			else
				TB_X=$x
				return 0
			fi
		fi
		x=$(( x % 254 + 1 ))
		tries=$((tries + 1))
	done
	echo "testbed: no free /24 in 10.99.0.0/16" >&2
	return 1
}

testbed_up() {
	n=$1
	why=$(_tb_lacks)
	[ -z "$why" ] || skip_all "$why"
	[ -z "$TB_BRIDGE" ] || testbed_down
	t0=$(date +%s%N)
	mkdir -p "$TB_DIR" /run/sshd "$TB_DATASTORE" || return 1
	_tb_claim || return 1
	TB_NET="10.99.$TB_X"
	TB_BRIDGE="cldtb$TB_X"
	TB_N=$n
	test_cleanup testbed_down
	echo "$TB_BRIDGE" >"$TB_DIR/bridge"
	ip addr add "$TB_NET.1/24" dev "$TB_BRIDGE" &&
	ip link set "$TB_BRIDGE" up &&
	ip route add blackhole 10.99.0.0/16 metric $((1000 + TB_X)) || return 1

	if [ -n "${TB_SHARED:-}" ]; then
		TB_SHARED_DIR="$TB_DIR/shared"
		TB_SHARED_LIST=$TB_SHARED
		mkdir -p "$TB_SHARED_DIR"
	else
		TB_SHARED_DIR=""
		TB_SHARED_LIST=""
	fi
	TB_SBIN_LIST=${TB_SBIN:-}
	[ -z "$TB_SBIN_LIST" ] || mkdir -p /usr/local/sbin || return 1
	rm -f "$TB_DIR/id" "$TB_DIR/id.pub"
	ssh-keygen -q -t ed25519 -N '' -C testbed -f "$TB_DIR/id" || return 1
	cp "$TB_DIR/id.pub" "$TB_DIR/authorized_keys"
	: >"$TB_DIR/known_hosts"
	: >"$TB_SSH_CONFIG"
	TB_HOSTS=""
	k=1
	while [ $k -le "$n" ]; do
		h=node$k
		ns="$TB_BRIDGE-$h"
		addr="$TB_NET.$((10 + k))"
		d="$TB_DIR/$h"
		TB_HOSTS="$TB_HOSTS${TB_HOSTS:+ }$h"
		mkdir -p "$d/datastore" "$d/root"
		! _tb_sbin "$h" || mkdir -p "$d/sbin" || return 1
		rm -f "$d/hostkey" "$d/hostkey.pub"
		ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$d/hostkey" || return 1
		echo "$addr $(cut -d' ' -f1,2 "$d/hostkey.pub")" >>"$TB_DIR/known_hosts"
		cat >"$d/sshd_config" <<EOF
ListenAddress $addr
Port 22
HostKey $d/hostkey
PidFile $d/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AuthorizedKeysFile $TB_DIR/authorized_keys
UseDNS no
MaxStartups 100:30:200
MaxSessions 100
PrintMotd no
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
		cat >>"$TB_SSH_CONFIG" <<EOF
Host $h
	HostName $addr
	Port 22
	User root
	IdentityFile $TB_DIR/id
	IdentitiesOnly yes
	UserKnownHostsFile $TB_DIR/known_hosts
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking accept-new
	BatchMode yes
	LogLevel ERROR
EOF
		ip netns add "$ns" &&
		ip link add "${TB_BRIDGE}v$k" type veth peer name "${TB_BRIDGE}p$k" netns "$ns" &&
		ip link set "${TB_BRIDGE}v$k" master "$TB_BRIDGE" up &&
		ip -n "$ns" link set "${TB_BRIDGE}p$k" name eth0 &&
		ip -n "$ns" addr add "$addr/24" dev eth0 &&
		ip -n "$ns" link set eth0 up &&
		ip -n "$ns" link set lo up || return 1
		k=$((k + 1))
	done
	for h in $TB_HOSTS; do
		tb_start_sshd "$h" || return 1
	done
	TB_UP_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}

# Everything testbed_up made, whatever state it is in: every process in the
# namespaces (sshd and what its sessions run) killed and gone, namespaces,
# veths, bridge and route deleted.
testbed_down() {
	# The file says this test still owns the bridge: once it is gone the
	# name may be another test's.
	[ -n "$TB_BRIDGE" ] && [ -f "$TB_DIR/bridge" ] || return 0
	t0=$(date +%s%N)
	pids=""
	for ns in $(ip netns list 2>/dev/null | cut -d' ' -f1 | grep "^$TB_BRIDGE-node"); do
		pids="$pids $(ip netns pids "$ns" 2>/dev/null)"
	done
	# shellcheck disable=SC2086
	if [ -n "$(echo $pids)" ]; then
		kill -KILL $pids 2>/dev/null || :
		_tb_wait_gone $pids || :
	fi
	for ns in $(ip netns list 2>/dev/null | cut -d' ' -f1 | grep "^$TB_BRIDGE-node"); do
		ip netns del "$ns" || :
	done
	# Deleting a veth deletes its peer: a later one of the list may be gone.
	for l in $(ip -o link show 2>/dev/null | sed -n "s/^[0-9]*: \($TB_BRIDGE[vp][0-9]*\)[@:].*/\1/p"); do
		ip link del "$l" 2>/dev/null || :
	done
	ip link del "$TB_BRIDGE" 2>/dev/null || :
	ip route del blackhole 10.99.0.0/16 metric $((1000 + TB_X)) 2>/dev/null || :
	rm -f "$TB_DIR/bridge"
	TB_DOWN_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
	TB_BRIDGE=""
	TB_HOSTS=""
	return 0
}
