# guest.sh: the tiny guest of cloudd's real-VM tests (../shared/TESTBED.md,
# "Hypervisors").  Source it after test-lib.sh (and testbed.sh), then:
#
#   guest_build         find or build the guest: Debian's own kernel (the
#                       package linux-image-amd64 depends on; its ELF
#                       vmlinux, which boots by its PVH entry) and an
#                       initramfs of busybox-static with the virtio and
#                       e1000 modules.  Sets GUEST_KERNEL and GUEST_INITRD
#                       (absolute paths, readable on every fake host).
#                       Built once per machine: cached in $GUEST_CACHE,
#                       keyed by the kernel package's version and this
#                       file's own hash.  Returns 1 saying why on stderr.
#   guest_lacks         why this machine cannot build or boot the guest,
#                       or nothing (for skip_all)
#   guest_addr N        the address of the testbed's guest N (1-50):
#                       $TB_NET.(200+N), on the testbed's /24
#   guest_mac N         its MAC, 52:54:00:99:X:N (X: the testbed's /24)
#   guest_cmdline NAME ADDR/PREFIX GW
#                       the kernel command line: the guest's hostname, its
#                       eth0 address and default route
#   guest_xml NAME MAC ADDR/PREFIX GW [MIB]
#                       libvirt domain XML: TCG (type 'qemu'), ACPI, direct
#                       kernel boot, a virtio NIC with MAC on the host's br0,
#                       the serial console to a file (guest_console)
#   guest_template NAME MAC ADDR/PREFIX GW [MIB]
#                       the same guest as a cloudd VM template
#   guest_console NAME  where guest_xml sends NAME's console, on its host
#   guest_status ADDR   the guest's answer on port 80: lines "hostname H",
#                       "boot_id B" (random, new at every boot), "uptime S"
#                       (seconds since boot), "served N" (requests it
#                       answered since boot: tmpfs state that a reboot
#                       loses)
#   guest_wait_ping ADDR SECS
#                       wait until ADDR answers ping, at most SECS seconds
#   guest_ping FROM TO  the guest at FROM pings TO (from inside the guest)
#   guest_change ADDR ip=NEW/PREFIX | mac=NEW
#                       the guest at ADDR takes another address or MAC
#   guest_wait_ready ADDR SECS
#                       wait until it answers guest_status (then its acpid
#                       runs too: ACPI shutdown works)
#
# The guest: /init (below) mounts /proc, /sys, /dev, loads the modules in
# order, reads cld.name=, cld.ip=ADDR/PREFIX and cld.gw=ADDR from the
# kernel command line, brings up eth0, runs busybox acpid (the power
# button runs "poweroff -f": "virsh shutdown" works) and busybox httpd on
# port 80 whose /cgi-bin/status is guest_status.  Ping is the kernel's own.
# It has no disk; 128 MiB of memory are enough.

: "${GUEST_CACHE:=/var/cache/cloudd-test/guest}"
GUEST_KERNEL=""
GUEST_INITRD=""
GUEST_MIB=128

# In load order: each needs some before it (their "depends=").  virtio_blk
# is there for a guest given a disk; button and evdev make the power button
# an input event for acpid.
_GUEST_MODULES="drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko
drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci_modern_dev.ko
drivers/virtio/virtio_pci.ko net/core/failover.ko drivers/net/net_failover.ko
drivers/net/virtio_net.ko drivers/block/virtio_blk.ko
drivers/net/ethernet/intel/e1000/e1000.ko drivers/input/evdev.ko
drivers/acpi/button.ko"

guest_lacks() {
	for c in dpkg-deb apt-get apt-cache cpio gzip xz readelf od sha256sum; do
		command -v $c >/dev/null || { echo "$c is not installed (tools/install-deps)"; return; }
	done
	dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' ||
		{ echo "busybox-static is not installed (tools/install-deps)"; return; }
	command -v qemu-system-x86_64 >/dev/null ||
		{ echo "qemu-system-x86_64 is not installed (tools/install-deps installs qemu-system-x86)"; return; }
	command -v curl >/dev/null || { echo "curl is not installed (tools/install-deps)"; return; }
	command -v ping >/dev/null || { echo "ping is not installed (tools/install-deps installs iputils-ping)"; return; }
	[ "$(id -u)" -eq 0 ] || { echo "building the guest's initramfs needs root (device nodes)"; return; }
}

# "PACKAGE VERSION" of the kernel linux-image-amd64 depends on.  apt-cache
# takes over a second here (no pkgcache), so the answer is kept per state
# of apt's lists.
_guest_kernel_pkg() {
	lists=$(ls -l --time-style=+%s /var/lib/apt/lists/ 2>/dev/null | sha256sum | cut -c1-16)
	f="$GUEST_CACHE/kernel-$lists"
	if [ -s "$f" ]; then
		cat "$f"
		return 0
	fi
	out=$(LC_ALL=C apt-cache show --no-all-versions linux-image-amd64 2>&1) || {
		echo "guest: apt-cache knows no linux-image-amd64 (apt-get update?): $out" >&2
		return 1
	}
	pkg=$(echo "$out" | sed -n 's/^Depends: \(linux-image-[^ ,]*\).*/\1/p' | head -1)
	[ -n "$pkg" ] || { echo "guest: linux-image-amd64 depends on no linux-image-*: $out" >&2; return 1; }
	out=$(LC_ALL=C apt-cache show --no-all-versions "$pkg" 2>&1) || {
		echo "guest: apt-cache show $pkg: $out" >&2
		return 1
	}
	ver=$(echo "$out" | sed -n 's/^Version: //p' | head -1)
	[ -n "$ver" ] || { echo "guest: no version for $pkg" >&2; return 1; }
	echo "$pkg $ver" >"$f.$$" && mv -f "$f.$$" "$f"
	echo "$pkg $ver"
}

guest_build() {
	mkdir -p "$GUEST_CACHE" || return 1
	me=$(sha256sum "$top_srcdir/t/lib/guest.sh" | cut -c1-12)
	kp=$(_guest_kernel_pkg) || return 1
	pkg=${kp% *} ver=${kp#* }
	dir="$GUEST_CACHE/$ver-$me"
	if [ ! -s "$dir/initrd.img" ]; then
		_guest_make "$pkg" "$dir" || return 1
	fi
	# Builds of other kernels or other versions of this file go once
	# nobody used them for a week.
	touch "$dir"
	find "$GUEST_CACHE" -mindepth 1 -maxdepth 1 -mtime +7 ! -path "$dir" \
	    -exec rm -rf {} + 2>/dev/null
	GUEST_KERNEL="$dir/vmlinux"
	GUEST_INITRD="$dir/initrd.img"
}

# Build the guest into DIR: in a directory of its own beside it, renamed
# into place whole, so a parallel test never sees half of one (the loser
# of a race throws its copy away).
_guest_make() {
	pkg=$1 dir=$2
	tmp=$(mktemp -d "$dir.tmp-XXXXXX") || return 1
	chmod 755 "$tmp"
	(
		set -e
		cd "$tmp"
		# apt's sandbox user must be able to write here.
		chown _apt "$tmp" 2>/dev/null || :
		out=$(apt-get download "$pkg" 2>&1) || {
			echo "guest: apt-get download $pkg failed: $out" >&2
			exit 1
		}
		chown root "$tmp"
		pats="./boot/vmlinuz-*"
		for m in $_GUEST_MODULES; do
			pats="$pats ./lib/modules/*/kernel/$m"
		done
		# shellcheck disable=SC2086
		dpkg-deb --fsys-tarfile "$pkg"_*.deb | tar -x --wildcards $pats
		rm -f "$pkg"_*.deb
		# The bzImage decompresses itself (xz) in the guest: under TCG
		# that takes 10 s or more.  Its payload, the ELF vmlinux, boots
		# as it is (qemu -kernel loads an ELF kernel with a PVH entry
		# note): its offset is in the boot protocol's setup header,
		# setup_sects at 0x1f1 and payload_offset at 0x248
		# (Documentation/arch/x86/boot.rst).
		bz=$(echo boot/vmlinuz-*)
		ss=$(od -A n -t u1 -j $((0x1f1)) -N 1 "$bz" | tr -d ' ')
		po=$(od -A n -t u4 -j $((0x248)) -N 4 "$bz" | tr -d ' ')
		tail -c +$(( (ss + 1) * 512 + po + 1 )) "$bz" | xz -dc --single-stream >vmlinux
		rm -f "$bz"
		LC_ALL=C readelf -n vmlinux | grep -q 'Xen.*0x00000012' || {
			echo "guest: $pkg's vmlinux has no PVH entry note" >&2
			exit 1
		}
		r=root
		mkdir -p $r/bin $r/sbin $r/dev $r/proc $r/sys $r/tmp $r/run $r/etc/acpi/PWRF \
		    $r/www/cgi-bin $r/lib/modules
		for m in $_GUEST_MODULES; do
			cp lib/modules/*/kernel/"$m" $r/lib/modules/
			basename "$m" .ko >>$r/etc/modules
		done
		cp /bin/busybox $r/bin/busybox
		for a in $(/bin/busybox --list); do
			[ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
		done
		mknod $r/dev/console c 5 1
		mknod $r/dev/null c 1 3
		_guest_init >$r/init
		_guest_power >$r/etc/acpi/PWRF/00000080
		_guest_status_cgi >$r/www/cgi-bin/status
		_guest_ping_cgi >$r/www/cgi-bin/ping
		_guest_change_cgi >$r/www/cgi-bin/change
		chmod 755 $r/init $r/etc/acpi/PWRF/00000080 $r/www/cgi-bin/status \
		    $r/www/cgi-bin/ping $r/www/cgi-bin/change
		(cd $r && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 >initrd.img
		rm -rf $r boot lib
	) || { rm -rf "$tmp"; return 1; }
	mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
	[ -s "$dir/initrd.img" ] || { echo "guest: no guest in $dir" >&2; return 1; }
}

_guest_init() {
	cat <<'EOF'
#!/bin/sh
# The tiny guest's init (t/lib/guest.sh).
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
# e1000 probes for half a second: only when there is one (8086:100e).
e1000=""
grep -qx 0x100e /sys/bus/pci/devices/*/device 2>/dev/null && e1000=1
for m in $(cat /etc/modules); do
	[ "$m" != e1000 ] || [ -n "$e1000" ] || continue
	insmod /lib/modules/$m.ko || echo "cld-guest: cannot load $m"
done
name=guest ip="" gw=""
for a in $(cat /proc/cmdline); do
	case $a in
	cld.name=*) name=${a#cld.name=} ;;
	cld.ip=*) ip=${a#cld.ip=} ;;
	cld.gw=*) gw=${a#cld.gw=} ;;
	esac
done
hostname "$name"
ip link set lo up
# The NIC may take a moment to appear after its driver loads.
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
if [ -n "$ip" ]; then
	ip addr add "$ip" dev eth0
	ip link set eth0 up
	[ -z "$gw" ] || ip route add default via "$gw"
fi
echo 0 >/tmp/served
# Its log: the console (it dies when it cannot open its log file).
acpid -c /etc/acpi -l /dev/console || echo "cld-guest: acpid did not start"
httpd -p 80 -h /www || echo "cld-guest: httpd did not start"
echo "cld-guest: $name up at ${ip:-no address}"
while :; do
	sleep 3600
done
EOF
}

_guest_power() {
	cat <<'EOF'
#!/bin/sh
echo "cld-guest: power button: powering off" >/dev/console
exec poweroff -f
EOF
}

_guest_status_cgi() {
	cat <<'EOF'
#!/bin/sh
n=$(($(cat /tmp/served) + 1))
echo $n >/tmp/served
printf 'Content-Type: text/plain\r\n\r\n'
echo "hostname $(hostname)"
echo "boot_id $(cat /proc/sys/kernel/random/boot_id)"
echo "uptime $(cut -d' ' -f1 /proc/uptime)"
echo "served $n"
EOF
}

# /cgi-bin/ping?ADDR: the guest pings ADDR (3 tries); "ok" or "failed".
_guest_ping_cgi() {
	cat <<'EOF'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
case $QUERY_STRING in
*[!0-9.]*|"") echo "bad address"; exit 0 ;;
esac
if ping -c 3 -W 2 "$QUERY_STRING" >/dev/null 2>&1; then echo ok; else echo failed; fi
EOF
}

# /cgi-bin/change?ip=ADDR/PREFIX or ?mac=MAC: a second later the guest
# gives its eth0 that address (in place of its own) or that MAC, as a
# guest trying to impersonate another would, then pings its gateway five
# times (so that it sends, whoever asks it nothing).
_guest_change_cgi() {
	cat <<'EOF'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
case $QUERY_STRING in
ip=*[!0-9./]*|mac=*[!0-9a-f:]*) echo "bad value"; exit 0 ;;
ip=?*) (gw=$(ip route | sed -n 's/^default via \([0-9.]*\).*/\1/p'); sleep 1
	ip addr flush dev eth0; ip addr add "${QUERY_STRING#ip=}" dev eth0
	ping -c 5 -W 1 "$gw") >/dev/null 2>&1 </dev/null & ;;
mac=?*) (gw=$(ip route | sed -n 's/^default via \([0-9.]*\).*/\1/p'); sleep 1
	ip link set eth0 address "${QUERY_STRING#mac=}"; ip neigh flush dev eth0
	ping -c 5 -W 1 "$gw") >/dev/null 2>&1 </dev/null & ;;
*) echo "bad request"; exit 0 ;;
esac
echo changing
EOF
}

# guest_ping FROM TO: the guest at FROM pings TO; succeeds if it answered.
guest_ping() {
	test "$(curl -s -f --noproxy '*' --max-time 20 "http://$1/cgi-bin/ping?$2")" = ok
}

# guest_change ADDR ip=NEW/PREFIX | mac=NEW: the guest at ADDR changes its
# own address or MAC a second after it answers.
guest_change() {
	test "$(curl -s -f --noproxy '*' --max-time 5 "http://$1/cgi-bin/change?$2")" = changing
}

guest_addr() {
	echo "$TB_NET.$((200 + $1))"
}

guest_mac() {
	printf '52:54:00:99:%02x:%02x\n' "$TB_X" "$1"
}

guest_cmdline() {
	echo "console=ttyS0 quiet panic=-1 cld.name=$1 cld.ip=$2 cld.gw=$3"
}

guest_console() {
	echo "/var/log/libvirt/qemu/$1.console"
}

guest_xml() {
	name=$1 mac=$2 addr=$3 gw=$4 mib=${5:-$GUEST_MIB}
	cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>$mib</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$GUEST_KERNEL</kernel>
    <initrd>$GUEST_INITRD</initrd>
    <cmdline>$(guest_cmdline "$name" "$addr" "$gw")</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <interface type='bridge'>
      <source bridge='br0'/>
      <mac address='$mac'/>
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>
    <serial type='file'>
      <source path='$(guest_console "$name")'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

guest_template() {
	name=$1 mac=$2 addr=$3 gw=$4 mib=${5:-$GUEST_MIB}
	cat <<EOF
NAME = "$name"
CPU = 0.5
VCPU = 1
MEMORY = $mib
OS = [ KERNEL = "$GUEST_KERNEL", INITRD = "$GUEST_INITRD",
  KERNEL_CMD = "$(guest_cmdline "$name" "$addr" "$gw")" ]
NIC = [ BRIDGE = "br0", MAC = "$mac" ]
FEATURES = [ ACPI = "yes" ]
EOF
}

guest_status() {
	curl -s -f --noproxy '*' --max-time 5 "http://$1/cgi-bin/status"
}

guest_wait_ping() {
	end=$(( $(date +%s) + $2 ))
	until ping -c 1 -W 1 "$1" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || { echo "guest $1 does not answer ping after $2 s" >&2; return 1; }
		sleep 0.2
	done
}

guest_wait_ready() {
	end=$(( $(date +%s) + $2 ))
	until guest_status "$1" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || { echo "guest $1 does not answer on port 80 after $2 s" >&2; return 1; }
		sleep 0.2
	done
}
