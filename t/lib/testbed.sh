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
#   TB_LIBVIRT=1 first (or TB_LIBVIRT="node1 node2": only those hosts):
#                       each such host also runs a libvirtd with QEMU under
#                       TCG, and a bridge br0 holding eth0 and the host's
#                       address, for VMs reachable from the front-end; see
#                       "libvirtd on the hosts" below for the rest
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
	_tb_libvirt_sshd "$h" ||
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
	_tb_libvirt_up || return 1
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
	_tb_libvirt_down
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

# ---- libvirtd on the hosts (TB_LIBVIRT; ../shared/TESTBED.md, "Hypervisors")
#
# Inside each such host's mount namespace its own directories are bound at
# /run/libvirt, /var/lib/libvirt, /var/log/libvirt and /etc/libvirt (they
# are $TB_DIR/HOST/libvirt/{run,lib,log,etc} on the front-end); the
# capability cache /var/cache/libvirt is the machine's, shared, so only
# the first libvirtd to start on a machine probes QEMU (about 8 s, more on
# a busy machine).  qemu.conf: QEMU runs as root, no cgroups, no private
# /dev, no security driver, stdio to files, and an incoming migration is
# reached at the host's address.  Each libvirtd has its own host UUID
# (libvirt refuses to migrate to a host with the UUID of the source).
# libvirtd will not start without the user and group libvirt-qemu (its
# compiled-in default, even with user = "root"); when the machine has
# none, the host gets its own /etc/passwd and /etc/group with them: the
# machine's are never changed.  Its /etc/hosts names every host (libvirt
# looks its own hostname up at each migration).
#
#   $TB_LIBVIRT_SSH     an ssh wrapper with $TB_SSH_CONFIG for the command=
#                       parameter of qemu+ssh URIs
#   tb_libvirt_uri HOST qemu+ssh://HOST/system?command=$TB_LIBVIRT_SSH:
#                       what a client on the front-end uses
#   tb_virsh HOST ARGS...  virsh on HOST through that URI
#   tb_virsh_sock HOST ARGS...  virsh on HOST's libvirtd socket straight
#                       from the front-end, no ssh: quicker, for a test's
#                       own checks and waits
#   tb_libvirtd_pid HOST   its libvirtd's pid (fails when it is not running)
#   tb_stop_libvirtd HOST  SIGTERM it and wait until gone; its VMs keep
#                       running, as on a real host
#   tb_start_libvirtd HOST start it (again) and wait until it answers
#   tb_qemu_pids HOST   the QEMU processes running on HOST
#   $TB_LIBVIRT_FIRST_MS   how long the first libvirtd took to answer
#   $TB_LIBVIRT_REST_MS    and the others after it (all together)
#   TB_LIBVIRT_CACHE=DIR   before testbed_up: DIR is the capability cache
#                       instead of the machine's (bench/realvm.sh measures
#                       a start on an empty cache with it)
#
# testbed_down kills every libvirtd, then every QEMU, then the rest.

TB_LIBVIRT_SSH="$TB_DIR/libvirt-ssh"
TB_LIBVIRT_LIST=""
: "${TB_LIBVIRT_WAIT:=180}"

# Whether HOST runs a libvirtd.
_tb_libvirt() {
	[ -n "$TB_LIBVIRT_LIST" ] || return 1
	[ "$TB_LIBVIRT_LIST" = 1 ] && return 0
	case " $TB_LIBVIRT_LIST " in *" $1 "*) return 0;; esac
	return 1
}

_tb_libvirt_lacks() {
	for c in libvirtd virsh qemu-system-x86_64 nsenter; do
		command -v $c >/dev/null || {
			echo "$c is not installed (tools/install-deps installs libvirt-daemon, libvirt-clients, qemu-system-x86)"
			return
		}
	done
	[ -c /dev/net/tun ] || echo "no /dev/net/tun: VMs cannot have NICs"
}

tb_libvirt_uri() {
	_tb_k "$1" >/dev/null || return 1
	echo "qemu+ssh://$1/system?command=$TB_LIBVIRT_SSH"
}

tb_virsh() {
	uri=$(tb_libvirt_uri "$1") || return 1
	shift
	virsh -q -c "$uri" "$@"
}

tb_virsh_sock() {
	h=$1
	shift
	virsh -q -c "qemu+unix:///system?socket=$TB_DIR/$h/libvirt/run/libvirt-sock" "$@"
}

tb_libvirtd_pid() {
	_tb_k "$1" >/dev/null || return 1
	f="$TB_DIR/$1/libvirt/libvirtd.pid"
	[ -s "$f" ] || return 1
	p=$(cat "$f")
	st=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ] || return 1
	echo "$p"
}

tb_qemu_pids() {
	all=$(_tb_pids "$1") || return 1
	for p in $all; do
		case $(cat "/proc/$p/comm" 2>/dev/null) in
		qemu-system-*) echo "$p" ;;
		esac
	done
	return 0
}

# Write HOST's libvirt configuration and make its br0.
_tb_libvirt_setup() {
	h=$1
	k=$(_tb_k "$h") || return 1
	ns=$(tb_netns "$h")
	addr=$(tb_addr "$h")
	d="$TB_DIR/$h/libvirt"
	mkdir -p "$d/run" "$d/lib" "$d/log/qemu" "$d/etc" /var/cache/libvirt || return 1
	cat >"$d/etc/libvirtd.conf" <<EOF
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
host_uuid = "$(printf 'c1dc1d00-0000-4000-8000-%04x%08x' "$TB_X" "$k")"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
	# namespaces: QEMU stays in the host's mount namespace (a private
	# /dev needs udev); cgroup_controllers: libvirt's cgroups are the
	# machine's, shared by every test.
	cat >"$d/etc/qemu.conf" <<EOF
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
cgroup_controllers = [ ]
stdio_handler = "file"
migration_host = "$addr"
EOF
	rm -f "$d/passwd" "$d/group"
	if ! getent passwd libvirt-qemu >/dev/null || ! getent group libvirt-qemu >/dev/null; then
		id=64055
		while getent passwd $id >/dev/null || getent group $id >/dev/null; do
			id=$((id + 1))
		done
		cp /etc/passwd "$d/passwd" && cp /etc/group "$d/group" || return 1
		getent passwd libvirt-qemu >/dev/null ||
			echo "libvirt-qemu:x:$id:$id:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin" >>"$d/passwd"
		getent group libvirt-qemu >/dev/null || echo "libvirt-qemu:x:$id:" >>"$d/group"
	fi
	# br0 takes over eth0's MAC and address: the host stays where the
	# others know it.
	mac=$(ip netns exec "$ns" cat /sys/class/net/eth0/address) &&
	ip -n "$ns" link add br0 type bridge stp_state 0 forward_delay 0 &&
	ip -n "$ns" link set br0 address "$mac" &&
	ip -n "$ns" addr del "$addr/24" dev eth0 &&
	ip -n "$ns" link set eth0 master br0 &&
	ip -n "$ns" addr add "$addr/24" dev br0 &&
	ip -n "$ns" link set br0 up
}

# Start HOST's libvirtd in its sshd's namespaces, without waiting.
_tb_libvirtd_spawn() {
	h=$1
	d="$TB_DIR/$h/libvirt"
	spid=$(cat "$TB_DIR/$h/sshd.pid" 2>/dev/null)
	[ -n "$spid" ] || { echo "testbed: $h has no sshd to take namespaces from" >&2; return 1; }
	rm -f "$d/libvirtd.pid"
	# The binds are made once per namespace: a restarted libvirtd finds
	# them (and its VMs' state) in place.
	if ! nsenter -t "$spid" -m -- test -e /run/libvirt/.tb; then
		nsenter -t "$spid" -m -- sh -c '
			mkdir -p /run/libvirt /var/lib/libvirt /var/log/libvirt &&
			mount --bind "$1/run" /run/libvirt &&
			mount --bind "$1/lib" /var/lib/libvirt &&
			mount --bind "$1/log" /var/log/libvirt &&
			mount --bind "$1/etc" /etc/libvirt &&
			mount --bind "$2" /etc/hosts &&
			if [ -n "$3" ]; then
				mount --bind "$3" /var/cache/libvirt
			fi &&
			if [ -f "$1/passwd" ]; then
				mount --bind "$1/passwd" /etc/passwd &&
				mount --bind "$1/group" /etc/group
			fi &&
			touch /run/libvirt/.tb' sh "$d" "$TB_DIR/hosts" "${TB_LIBVIRT_CACHE:-}" || {
			echo "testbed: cannot bind libvirt's directories on $h" >&2
			return 1
		}
	fi
	nsenter -t "$spid" -m -u -n -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    LC_ALL=C HOME=/root libvirtd --daemon --config /etc/libvirt/libvirtd.conf \
	    --pid-file "$d/libvirtd.pid" >>"$d/start.log" 2>&1 || {
		echo "testbed: libvirtd of $h did not start:" >&2
		cat "$d/start.log" "$d/log/libvirtd.log" >&2 2>/dev/null
		return 1
	}
}

# Wait until HOST's libvirtd answers with QEMU's version (the first one on
# a machine probes QEMU's capabilities then).  "libvirtd --daemon" returns
# once its pid file is written.
_tb_libvirtd_wait() {
	h=$1
	d="$TB_DIR/$h/libvirt"
	end=$(( $(date +%s) + TB_LIBVIRT_WAIT ))
	p=$(cat "$d/libvirtd.pid" 2>/dev/null)
	while :; do
		tb_virsh_sock "$h" version >"$d/version" 2>&1 && return 0
		st=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)
		if [ -z "$p" ] || [ -z "$st" ] || [ "$st" = Z ]; then
			echo "testbed: libvirtd of $h died:" >&2
			cat "$d/version" "$d/start.log" "$d/log/libvirtd.log" >&2 2>/dev/null
			return 1
		fi
		if [ "$(date +%s)" -ge "$end" ]; then
			echo "testbed: libvirtd of $h does not answer after $TB_LIBVIRT_WAIT s:" >&2
			cat "$d/version" "$d/log/libvirtd.log" >&2 2>/dev/null
			return 1
		fi
		sleep 0.1
	done
}

tb_start_libvirtd() {
	_tb_libvirt "$1" || { echo "testbed: $1 has no libvirt (TB_LIBVIRT)" >&2; return 1; }
	_tb_libvirtd_spawn "$1" && _tb_libvirtd_wait "$1"
}

tb_stop_libvirtd() {
	p=$(tb_libvirtd_pid "$1") || return 0
	kill -TERM "$p" && _tb_wait_gone "$p"
}

# The hosts' libvirtds, from testbed_up: the first alone (if the cache is
# cold it probes QEMU and fills it), then the others side by side.
_tb_libvirt_up() {
	TB_LIBVIRT_LIST=${TB_LIBVIRT:-}
	[ -n "$TB_LIBVIRT_LIST" ] || return 0
	why=$(_tb_libvirt_lacks)
	if [ -n "$why" ]; then
		testbed_down
		skip_all "$why"
	fi
	cat >"$TB_LIBVIRT_SSH" <<EOF
#!/bin/sh
# ssh to the testbed's hosts: qemu+ssh://HOST/system?command=$TB_LIBVIRT_SSH
exec ssh -F '$TB_SSH_CONFIG' "\$@"
EOF
	chmod 755 "$TB_LIBVIRT_SSH"
	{
		cat /etc/hosts
		for h in $TB_HOSTS; do
			echo "$(tb_addr "$h") $h"
		done
	} >"$TB_DIR/hosts"
	first=""
	rest=""
	for h in $TB_HOSTS; do
		_tb_libvirt "$h" || continue
		_tb_libvirt_setup "$h" || { echo "testbed: no br0 on $h" >&2; return 1; }
		if [ -z "$first" ]; then first=$h; else rest="$rest $h"; fi
	done
	[ -n "$first" ] || return 0
	t=$(date +%s%N)
	tb_start_libvirtd "$first" || return 1
	TB_LIBVIRT_FIRST_MS=$(( ($(date +%s%N) - t) / 1000000 ))
	t=$(date +%s%N)
	for h in $rest; do
		_tb_libvirtd_spawn "$h" || return 1
	done
	for h in $rest; do
		_tb_libvirtd_wait "$h" || return 1
	done
	TB_LIBVIRT_REST_MS=$(( ($(date +%s%N) - t) / 1000000 ))
}

# Every libvirtd first (no new QEMU after that), then every QEMU, each
# waited for (gone or a zombie).
_tb_libvirt_down() {
	[ -n "$TB_LIBVIRT_LIST" ] || return 0
	for h in $TB_HOSTS; do
		_tb_libvirt "$h" || continue
		if p=$(tb_libvirtd_pid "$h"); then
			kill -KILL "$p" 2>/dev/null || :
			_tb_wait_gone "$p" || :
		fi
		q=$(tb_qemu_pids "$h") || :
		if [ -n "$q" ]; then
			# shellcheck disable=SC2086
			kill -KILL $q 2>/dev/null || :
			# shellcheck disable=SC2086
			_tb_wait_gone $q || :
		fi
	done
	TB_LIBVIRT_LIST=""
	return 0
}

# tb_start_sshd after tb_kill_sshd: while HOST's libvirtd runs, the new sshd
# joins its namespaces (its binds, its VMs) instead of making new ones.
# Fails only when there is no such libvirtd.
_tb_libvirt_sshd() {
	_tb_libvirt "$1" || return 1
	lp=$(tb_libvirtd_pid "$1") || return 1
	d="$TB_DIR/$1"
	nsenter -t "$lp" -m -u -n -- "$TB_SSHD" -f "$d/sshd_config" -E "$d/sshd.log" \
	    >>"$d/sshd.log" 2>&1 || echo "testbed: sshd of $1 did not start" >&2
	return 0
}
