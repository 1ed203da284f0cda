# xen-stub.sh: the stand-in Xen toolstack of the tests on fake hosts.
# Source it after testbed.sh; the hosts need TB_SBIN (testbed.sh).
#
#   xen_stub_lacks          why the stub cannot run here, or nothing
#   xen_stub_install HOST xl|xm
#                           put the stub (t/lib/xen-stub/xen-stub) in HOST's
#                           own /usr/local/sbin as xl or xm; its domains are
#                           kept in xen_stub_state HOST
#   xen_stub_state HOST     that directory, seen from the front-end
#   xen_stub_doms HOST      the names of HOST's domains, one a line
#
# XEN_STUB_SHUTDOWN and XEN_STUB_CPU, when set before xen_stub_install,
# reach the stub (see its header).

XEN_STUB="$top_srcdir/t/lib/xen-stub/xen-stub"
XEN_STUB_XLCHECK="$top_builddir/t/helpers/xlcheck"

xen_stub_lacks() {
	[ -x "$XEN_STUB_XLCHECK" ] || {
		echo "t/helpers/xlcheck is not built: libxlutil is missing (tools/install-deps installs libxen-dev)"
		return
	}
	command -v flock >/dev/null || { echo "flock is not installed (util-linux)"; return; }
	# A real toolstack in root's PATH would be found before the stub on a
	# host that should have only the other one.
	for t in xl xm; do
		for d in /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
			[ ! -x "$d/$t" ] || { echo "this machine has a real $d/$t"; return; }
		done
	done
}

xen_stub_state() {
	echo "$TB_DIR/$1/xen"
}

xen_stub_install() {
	sbin=$(tb_sbin "$1") || return 1
	st=$(xen_stub_state "$1")
	mkdir -p "$st" || return 1
	cat >"$sbin/$2" <<STUB
#!/bin/sh
# the stub $2 of the tests on $1 (t/lib/xen-stub/xen-stub)
XEN_STUB_TOOL=$2 XEN_STUB_STATE='$st' XEN_STUB_XLCHECK='$XEN_STUB_XLCHECK' \\
XEN_STUB_SSH='ssh -F $TB_SSH_CONFIG' XEN_STUB_SHUTDOWN='${XEN_STUB_SHUTDOWN:-0.5}' \\
XEN_STUB_CPU='${XEN_STUB_CPU:-0.5}' exec sh '$XEN_STUB' "\$@"
STUB
	chmod +x "$sbin/$2"
}

xen_stub_doms() {
	ls "$(xen_stub_state "$1")/dom" 2>/dev/null
}
