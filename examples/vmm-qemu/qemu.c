/*
 * vmm/qemu: an example of a cloudd driver built outside cloudd's tree,
 * with the installed SDK alone (pkg-config cloudd; see the README beside
 * this file and cloudd-drivers(7)).
 *
 * Each VM is a plain qemu-system-x86_64 process on its host, emulated with
 * TCG (no KVM, no libvirt), started over ssh as a daemon.  Its files live
 * in the VM's directory on the host, vm->dir:
 *
 *   qemu.pid      the process; its name (comm) is the VM's, "cld-7"
 *   qmp.sock      its QMP monitor: system_powerdown, system_reset, stop, cont
 *   console.log   the guest's serial console
 *   cpu.sample    the CPU time and clock of the last poll
 *
 * Every operation is one ssh call (svc->ssh) running a fixed shell script
 * whose data arrive as its positional parameters: the core quotes each
 * argument for the remote shell, and nothing here builds a command line
 * from data.  QMP is spoken by a fixed perl script (perl-base is on every
 * Debian host) that waits for QEMU's greeting and for each answer.
 *
 * The driver keeps no state of its own: all of it is on the hosts, so it
 * survives a restart of cloudd, as the core expects (every operation is
 * idempotent and may be run again after a crash).
 */
/* POSIX.1-2008: strdup here, strnlen and strcasecmp in the SDK's headers. */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cloudd/driver.h>

#define QEMU_DEFAULT "qemu-system-x86_64"
#define QEMU_ARGV_MAX 64
#define QEMU_SOCK_MAX 107            /* sun_path holds 108 bytes with its NUL */
#define QEMU_ARG_MAX 4200
/* What an ssh round trip may take after the remote script gives up. */
#define QEMU_SSH_SLACK_MS 2000

static const char *const qemu_options[] = { "QEMU", NULL };

struct qemu {
	const char *qemu;               /* QEMU: the program on the hosts */
};

/*
 * The common head of every remote script: $1 is the VM's directory, $2 its
 * name.  alive() says whether the VM's qemu runs, and sets $pid: the
 * pidfile names a process, that process is called like the VM (a stale
 * pidfile after a host's reboot names someone else), and it is not a
 * zombie.
 */
#define QEMU_SH_HEAD \
	"dir=$1 name=$2; shift 2\n" \
	"alive() {\n" \
	"	pid=$(cat \"$dir/qemu.pid\" 2>/dev/null) || return 1\n" \
	"	case $pid in ''|*[!0-9]*) return 1;; esac\n" \
	"	[ \"$(cat \"/proc/$pid/comm\" 2>/dev/null)\" = \"$name\" ] || return 1\n" \
	"	st=$(sed 's/^.*) //' \"/proc/$pid/stat\" 2>/dev/null | cut -d' ' -f1)\n" \
	"	[ -n \"$st\" ] && [ \"$st\" != Z ]\n" \
	"}\n"

/* Deploy: $@ is qemu's argv; prints the pid. */
static const char qemu_sh_deploy[] = QEMU_SH_HEAD
	"mkdir -p \"$dir\" || exit 1\n"
	"if alive; then echo \"$pid\"; exit 0; fi\n"
	"rm -f \"$dir/qemu.pid\" \"$dir/qmp.sock\" \"$dir/cpu.sample\"\n"
	"\"$@\" </dev/null || exit 1\n"
	"alive || { echo \"qemu exited at once\" >&2; exit 1; }\n"
	"echo \"$pid\"\n";

/*
 * Poll: one line, "missing", or "running UTIME STIME STARTTIME CLK_TCK
 * UPTIME RSS_KB [LAST_TICKS LAST_UPTIME]" from /proc, the last two from
 * the previous poll.
 */
static const char qemu_sh_poll[] = QEMU_SH_HEAD
	"alive || { echo missing; exit 0; }\n"
	"set -- $(sed 's/^.*) //' \"/proc/$pid/stat\")\n"
	"ut=${12} stt=${13} start=${20}\n"
	"up=$(cut -d' ' -f1 /proc/uptime)\n"
	"rss=$(sed -n 's/^VmRSS:[^0-9]*\\([0-9]*\\).*/\\1/p' \"/proc/$pid/status\")\n"
	"last=$(cat \"$dir/cpu.sample\" 2>/dev/null)\n"
	"echo \"$((ut + stt)) $up\" >\"$dir/cpu.sample.$$\" &&\n"
	"	mv -f \"$dir/cpu.sample.$$\" \"$dir/cpu.sample\"\n"
	"echo running $ut $stt $start $(getconf CLK_TCK) $up ${rss:-0} $last\n";

/*
 * QMP command $3 (system_powerdown, ...); $4 is how many tenths of a second
 * to wait for the VM to be gone afterwards (0: do not wait); $5... is the
 * QMP client.  Exit 3: still there at the end of the wait.
 */
static const char qemu_sh_qmp[] = QEMU_SH_HEAD
	"cmd=$1 tenths=$2; shift 2\n"
	"if ! alive; then\n"
	"	[ \"$tenths\" -gt 0 ] && exit 0\n"
	"	echo \"the VM is not running\" >&2; exit 2\n"
	"fi\n"
	"\"$@\" \"$dir/qmp.sock\" \"$cmd\" || exit 1\n"
	"[ \"$tenths\" -gt 0 ] || exit 0\n"
	"while alive; do\n"
	"	[ \"$tenths\" -gt 0 ] || exit 3\n"
	"	sleep 0.1; tenths=$((tenths - 1))\n"
	"done\n"
	"rm -f \"$dir/qemu.pid\" \"$dir/qmp.sock\" \"$dir/cpu.sample\"\n";

/* Destroy: SIGTERM (QEMU flushes its disks and exits), SIGKILL after 3 s. */
static const char qemu_sh_destroy[] = QEMU_SH_HEAD
	"if alive; then\n"
	"	kill -TERM \"$pid\"; n=30\n"
	"	while alive && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done\n"
	"	if alive; then\n"
	"		kill -KILL \"$pid\"; n=30\n"
	"		while alive && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done\n"
	"	fi\n"
	"	alive && { echo \"process $pid does not die\" >&2; exit 1; }\n"
	"fi\n"
	"rm -f \"$dir/qemu.pid\" \"$dir/qmp.sock\" \"$dir/cpu.sample\"\n";

/*
 * The QMP client: perl -e SCRIPT SOCKET COMMAND.  Prints nothing; dies
 * with QEMU's own words when it refuses.
 */
static const char qemu_pl_qmp[] =
	"use strict; use IO::Socket::UNIX;\n"
	"my ($path, $cmd) = @ARGV;\n"
	"$cmd =~ /^[a-z_-]+$/ or die \"bad QMP command\\n\";\n"
	"$SIG{ALRM} = sub { die \"QEMU's monitor did not answer within 10 s\\n\" };\n"
	"alarm 10;\n"
	"my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $path)\n"
	"    or die \"cannot reach QEMU's monitor: $!\\n\";\n"
	"my $l = <$s>;\n"
	"defined $l && $l =~ /\"QMP\"/ or die \"no QMP greeting from QEMU\\n\";\n"
	"for my $c (\"qmp_capabilities\", $cmd) {\n"
	"	print $s \"{\\\"execute\\\": \\\"$c\\\"}\\n\";\n"
	"	for (;;) {\n"
	"		$l = <$s>;\n"
	"		defined $l or die \"QEMU closed its monitor\\n\";\n"
	"		last if $l =~ /^\\{\"return\"/;\n"
	"		if ($l =~ /^\\{\"error\"/) {\n"
	"			my ($d) = $l =~ /\"desc\": *\"([^\"]*)\"/;\n"
	"			die \"QEMU refused $c: \" . ($d // $l) . \"\\n\";\n"
	"		}\n"
	"	}\n"
	"}\n";

/* ------------------------------------------------------------ helpers */

/* Letters, digits and "._+-/", absolute, no "..": safe inside -drive. */
static int
qemu_path_plain(const char *p)
{
	if (p == NULL || p[0] != '/' || strlen(p) > 1024 ||
	    strstr(p, "/../") != NULL || strstr(p, "/./") != NULL)
		return 0;
	for (; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("._+-/", *p) != NULL))
			return 0;
	return 1;
}

/* The VM's name and directory, checked before they reach the host. */
static int
qemu_check_vm(struct cld_op *op, const struct cld_vm_desc *vm)
{
	const char *c;

	if (vm->name == NULL || vm->name[0] == '\0' || strlen(vm->name) > 15) {
		cld_err_set(op->err, CLD_EINVAL, "VM name '%s' is not 1 to 15 characters",
		    vm->name ? vm->name : "");
		return -1;
	}
	for (c = vm->name; *c != '\0'; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
		    *c == '-')) {
			cld_err_set(op->err, CLD_EINVAL,
			    "VM name '%s' has a character other than a-z, 0-9, '-'",
			    vm->name);
			return -1;
		}
	if (!qemu_path_plain(vm->dir) ||
	    strlen(vm->dir) + sizeof("/qmp.sock") > QEMU_SOCK_MAX) {
		cld_err_set(op->err, CLD_EINVAL,
		    "VM directory '%s' is not a short absolute path of letters, digits and ._+-/",
		    vm->dir ? vm->dir : "");
		return -1;
	}
	return 0;
}

static int
qemu_check_flags(struct cld_op *op, unsigned int flags, unsigned int known)
{
	if ((flags & ~known) != 0) {
		cld_err_set(op->err, CLD_EINVAL, "unknown flags 0x%x",
		    flags & ~known);
		return -1;
	}
	return 0;
}

/* The last non-empty line of S, at most OUTSZ - 1 bytes of it. */
static void
qemu_last_line(const char *s, char *out, size_t outsz)
{
	size_t end = s != NULL ? strlen(s) : 0, start;

	while (end > 0 && strchr("\n\r \t", s[end - 1]) != NULL)
		end--;
	start = end;
	while (start > 0 && s[start - 1] != '\n')
		start--;
	if (end - start >= outsz)
		start = end - (outsz - 1);
	if (end > start)
		memcpy(out, s + start, end - start);
	out[end - start] = '\0';
}

/*
 * Run SCRIPT on the VM's host with ARGS (NULL-terminated) after the VM's
 * directory and name.  On success R holds what it printed.  On failure
 * op->err says, in words for the user, that the host could not be reached
 * or what went wrong there.  The caller frees r->out and r->errout either
 * way.
 */
static int
qemu_ssh(struct cld_op *op, const struct cld_vm_desc *vm, const char *script,
    const char *const *args, const char *what, struct cld_run *r)
{
	const char *argv[QEMU_ARGV_MAX];
	char line[512];
	size_t n = 0;

	argv[n++] = "sh";
	argv[n++] = "-c";
	argv[n++] = script;
	argv[n++] = "sh";
	argv[n++] = vm->dir;
	argv[n++] = vm->name;
	for (; args != NULL && *args != NULL && n < QEMU_ARGV_MAX - 1; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	memset(r, 0, sizeof(*r));
	r->argv = argv;
	if (op->drv->svc->ssh(op, vm->host, r) == 0)
		return 0;
	/* A deadline, a cancellation or a bad host name: the core's words. */
	if (op->err->code == CLD_ETIMEDOUT || op->err->code == CLD_ECANCELED ||
	    r->status == -1) {
		cld_err_prefix(op->err, "%s of '%s'", what, vm->name);
		return -1;
	}
	/*
	 * The core puts the step and the host in front ("vmm deploy on
	 * 'node1' failed: ..."): say what went wrong there, in the words of
	 * the program that failed.
	 */
	qemu_last_line(r->errout, line, sizeof(line));
	if (r->status == 255)
		cld_err_set(op->err, CLD_EDRIVER, "cannot reach '%s' over ssh: %s",
		    vm->host, line[0] ? line : "ssh said nothing");
	else if (line[0] != '\0')
		cld_err_set(op->err, CLD_EDRIVER, "%s", line);
	else
		cld_err_set(op->err, CLD_EDRIVER,
		    "%s of '%s' exited with status %d on '%s'", what, vm->name,
		    r->status, vm->host);
	return -1;
}

static void
qemu_run_release(struct cld_run *r)
{
	free(r->out);
	free(r->errout);
	r->out = r->errout = NULL;
}

/* ---------------------------------------------------------- init, fini */

static int
qemu_init(struct cld_drv *drv, struct cld_err *err)
{
	struct qemu *q;
	const char *v;

	/* Every option we do not know is a typo: say so at start-up. */
	if (drv->conf != NULL)
		for (size_t i = 0; i < drv->conf->nsub; i++) {
			const char *name = drv->conf->sub[i].name;
			size_t k;

			if (strcasecmp(name, "NAME") == 0 ||
			    strcasecmp(name, "MODULE") == 0)
				continue;
			for (k = 0; qemu_options[k] != NULL; k++)
				if (strcasecmp(name, qemu_options[k]) == 0)
					break;
			if (qemu_options[k] == NULL) {
				cld_err_set(err, CLD_ECONFIG,
				    "unknown option '%s' (known: QEMU)", name);
				return -1;
			}
		}
	v = drv->svc->conf_get(drv, "QEMU");
	if (v == NULL)
		v = QEMU_DEFAULT;
	if (v[0] == '\0' || v[0] == '-' || (v[0] == '/' && !qemu_path_plain(v)) ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._+-/") != strlen(v)) {
		cld_err_set(err, CLD_ECONFIG,
		    "QEMU: '%s' is not a program name or an absolute path", v);
		return -1;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL) {
		cld_err_set(err, CLD_EIO, "out of memory");
		return -1;
	}
	q->qemu = v;     /* lives as long as the instance */
	drv->priv = q;
	return 0;
}

static void
qemu_fini(struct cld_drv *drv)
{
	free(drv->priv);
	drv->priv = NULL;
}

/* ------------------------------------------------------------- deploy */

/* qemu's argv; the words qemu_argf() makes are kept in buf. */
struct qemu_args {
	const char *argv[QEMU_ARGV_MAX];
	size_t n;
	char buf[QEMU_ARG_MAX * 4];
	size_t used;
};

static int
qemu_arg(struct qemu_args *a, const char *s)
{
	if (a->n >= QEMU_ARGV_MAX - 1)
		return -1;
	a->argv[a->n++] = s;
	a->argv[a->n] = NULL;
	return 0;
}

static int qemu_argf(struct qemu_args *a, const char *fmt, ...) CLD_PRINTF(2, 3);

static int
qemu_argf(struct qemu_args *a, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(a->buf + a->used, sizeof(a->buf) - a->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(a->buf) - a->used)
		return -1;
	if (qemu_arg(a, a->buf + a->used) < 0)
		return -1;
	a->used += (size_t)n + 1;
	return 0;
}

/* -drive for each DISK of the template, in order. */
static int
qemu_disks(struct cld_op *op, const struct cld_vm_desc *vm,
    struct qemu_args *a)
{
	const struct cld_attr *d = NULL;
	int i = 0;

	while ((d = cld_tmpl_next_vector(vm->tmpl, "DISK", d)) != NULL) {
		const char *path = cld_vector_get(d, "PATH");
		const char *type = cld_vector_get(d, "TYPE");
		const char *fmt = cld_vector_get(d, "DRIVER");
		int cdrom = type != NULL && strcasecmp(type, "cdrom") == 0;

		if (!qemu_path_plain(path)) {
			cld_err_set(op->err, CLD_EINVAL,
			    "DISK %d: PATH '%s' is not an absolute path of letters, digits and ._+-/",
			    i, path ? path : "");
			return -1;
		}
		/*
		 * The format is never guessed: a guest could write a qcow2
		 * header on its raw disk and make QEMU open a host file.
		 */
		if (fmt == NULL)
			fmt = "raw";
		if (strcmp(fmt, "raw") != 0 && strcmp(fmt, "qcow2") != 0) {
			cld_err_set(op->err, CLD_EINVAL,
			    "DISK %d: DRIVER '%s' is not raw or qcow2", i, fmt);
			return -1;
		}
		if (qemu_arg(a, "-drive") < 0 ||
		    qemu_argf(a, "file=%s,format=%s,%s", path, fmt,
		    cdrom ? "if=ide,media=cdrom,readonly=on" : "if=virtio") < 0)
			goto toomany;
		i++;
	}
	return 0;
toomany:
	cld_err_set(op->err, CLD_EINVAL, "too many disks for this example driver");
	return -1;
}

/* -kernel, -initrd, -append from OS = [ KERNEL, INITRD, KERNEL_CMD ]. */
static int
qemu_os(struct cld_op *op, const struct cld_vm_desc *vm, struct qemu_args *a)
{
	const struct cld_attr *os = cld_tmpl_next_vector(vm->tmpl, "OS", NULL);
	static const struct { const char *attr, *opt; } files[] = {
		{ "KERNEL", "-kernel" }, { "INITRD", "-initrd" },
	};
	const char *cmd;

	if (os == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const char *p = cld_vector_get(os, files[i].attr);

		if (p == NULL)
			continue;
		if (!qemu_path_plain(p)) {
			cld_err_set(op->err, CLD_EINVAL,
			    "OS %s '%s' is not an absolute path on the host of letters, digits and ._+-/",
			    files[i].attr, p);
			return -1;
		}
		if (qemu_arg(a, files[i].opt) < 0 || qemu_arg(a, p) < 0)
			goto toolong;
	}
	if ((cmd = cld_vector_get(os, "KERNEL_CMD")) != NULL) {
		/* One argument: QEMU hands it to the kernel as it is. */
		if (strpbrk(cmd, "\n\r") != NULL) {
			cld_err_set(op->err, CLD_EINVAL,
			    "OS KERNEL_CMD must be one line");
			return -1;
		}
		if (qemu_arg(a, "-append") < 0 || qemu_arg(a, cmd) < 0)
			goto toolong;
	}
	return 0;
toolong:
	cld_err_set(op->err, CLD_EINVAL, "QEMU's command line is too long");
	return -1;
}

static int
qemu_deploy(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags, char **domid)
{
	struct qemu *q = op->drv->priv;
	struct qemu_args *a = NULL;
	struct cld_run r;
	char pid[32];
	int rc = -1;

	memset(&r, 0, sizeof(r));
	if (qemu_check_flags(op, flags, 0) < 0 || qemu_check_vm(op, vm) < 0)
		return -1;
	if (cld_tmpl_next_vector(vm->tmpl, "NIC", NULL) != NULL) {
		cld_err_set(op->err, CLD_ENOTSUP,
		    "NIC: the vmm driver '%s' runs VMs without network interfaces",
		    op->drv->name);
		return -1;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		return -1;
	}
	/* Never -accel kvm: TCG runs everywhere, a guest under it anywhere. */
	if (qemu_arg(a, q->qemu) < 0 ||
	    qemu_arg(a, "-name") < 0 ||
	    qemu_argf(a, "%s,process=%s", vm->name, vm->name) < 0 ||
	    qemu_arg(a, "-accel") < 0 || qemu_arg(a, "tcg") < 0 ||
	    qemu_arg(a, "-m") < 0 ||
	    qemu_argf(a, "%llu", (unsigned long long)vm->memory_mb) < 0 ||
	    qemu_arg(a, "-smp") < 0 || qemu_argf(a, "%u", vm->vcpu) < 0 ||
	    qemu_arg(a, "-nodefaults") < 0 ||
	    qemu_arg(a, "-display") < 0 || qemu_arg(a, "none") < 0 ||
	    qemu_arg(a, "-daemonize") < 0 ||
	    qemu_arg(a, "-pidfile") < 0 ||
	    qemu_argf(a, "%s/qemu.pid", vm->dir) < 0 ||
	    qemu_arg(a, "-qmp") < 0 ||
	    qemu_argf(a, "unix:%s/qmp.sock,server=on,wait=off", vm->dir) < 0 ||
	    qemu_arg(a, "-serial") < 0 ||
	    qemu_argf(a, "file:%s/console.log", vm->dir) < 0) {
		cld_err_set(op->err, CLD_EINVAL, "QEMU's command line is too long");
		goto cleanup;
	}
	if (qemu_disks(op, vm, a) < 0 || qemu_os(op, vm, a) < 0)
		goto cleanup;
	if (qemu_ssh(op, vm, qemu_sh_deploy, a->argv, "deploy", &r) < 0)
		goto cleanup;
	if (sscanf(r.out, "%31[0-9]", pid) != 1) {
		cld_err_set(op->err, CLD_EDRIVER,
		    "deploy of '%s' on '%s' printed no process id", vm->name,
		    vm->host);
		goto cleanup;
	}
	if ((*domid = strdup(pid)) == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	op->drv->svc->log(op->drv, CLD_LOG_INFO, "'%s' runs on '%s' as process %s",
	    vm->name, vm->host, pid);
	rc = 0;
cleanup:
	qemu_run_release(&r);
	free(a);
	return rc;
}

/* ----------------------------------------------- the monitor's commands */

/*
 * QMP command CMD; then, if WAIT, wait until the VM is gone, as long as the
 * operation's deadline allows (CLD_ETIMEDOUT if it is not).
 */
static int
qemu_qmp(struct cld_op *op, const struct cld_vm_desc *vm, const char *cmd,
    int wait, const char *what)
{
	const struct cld_services *svc = op->drv->svc;
	char tenths[32];
	const char *args[] = { cmd, tenths, "perl", "-e", qemu_pl_qmp, NULL };
	struct cld_run r;
	int64_t left = svc->remaining_ms(op);
	int rc;

	if (qemu_check_vm(op, vm) < 0)
		return -1;
	/* The remote loop must end before ssh is killed at the deadline. */
	if (!wait)
		left = 0;
	else if (left == INT64_MAX || left > 86400000)
		left = 86400000;
	else if (left > QEMU_SSH_SLACK_MS)
		left -= QEMU_SSH_SLACK_MS;
	else
		left = 1;
	snprintf(tenths, sizeof(tenths), "%lld", (long long)(left / 100));
	if (wait && left / 100 == 0)
		snprintf(tenths, sizeof(tenths), "1");
	rc = qemu_ssh(op, vm, qemu_sh_qmp, args, what, &r);
	if (rc < 0 && r.status == 3)
		cld_err_set(op->err, CLD_ETIMEDOUT,
		    "'%s' on '%s' was still running %lld s after %s",
		    vm->name, vm->host, (long long)(left / 1000), cmd);
	qemu_run_release(&r);
	return rc;
}

static int
qemu_shutdown(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	if (qemu_check_flags(op, flags, 0) < 0)
		return -1;
	/* ACPI power button; the guest decides, the deadline bounds it. */
	return qemu_qmp(op, vm, "system_powerdown", 1, "shutdown");
}

static int
qemu_reboot(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	if (qemu_check_flags(op, flags, CLD_REBOOT_HARD) < 0)
		return -1;
	if (!(flags & CLD_REBOOT_HARD)) {
		cld_err_set(op->err, CLD_ENOTSUP,
		    "QEMU cannot ask a guest to reboot: use a hard reboot (a reset)");
		return -1;
	}
	return qemu_qmp(op, vm, "system_reset", 0, "reboot");
}

static int
qemu_suspend(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	if (qemu_check_flags(op, flags, 0) < 0)
		return -1;
	return qemu_qmp(op, vm, "stop", 0, "suspend");
}

static int
qemu_resume(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	if (qemu_check_flags(op, flags, 0) < 0)
		return -1;
	return qemu_qmp(op, vm, "cont", 0, "resume");
}

static int
qemu_destroy(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	struct cld_run r;
	int rc;

	if (qemu_check_flags(op, flags, 0) < 0 || qemu_check_vm(op, vm) < 0)
		return -1;
	rc = qemu_ssh(op, vm, qemu_sh_destroy, NULL, "destroy", &r);
	qemu_run_release(&r);
	return rc;
}

/* --------------------------------------------------------------- poll */

static int
qemu_poll(struct cld_op *op, const struct cld_vm_desc *vm, unsigned int flags,
    struct cld_vm_poll *out)
{
	struct cld_run r;
	unsigned long long ut, st, start, rss, last_ticks;
	double clk, up, last_up, ticks, secs;
	int n, rc = -1;

	if (qemu_check_flags(op, flags, 0) < 0 || qemu_check_vm(op, vm) < 0)
		return -1;
	if (qemu_ssh(op, vm, qemu_sh_poll, NULL, "poll", &r) < 0)
		goto cleanup;
	if (strncmp(r.out, "missing", 7) == 0) {
		out->state = CLD_POLL_MISSING;
		rc = 0;
		goto cleanup;
	}
	n = sscanf(r.out, "running %llu %llu %llu %lf %lf %llu %llu %lf", &ut,
	    &st, &start, &clk, &up, &rss, &last_ticks, &last_up);
	if (n < 6 || clk <= 0) {
		cld_err_set(op->err, CLD_EDRIVER,
		    "poll of '%s' on '%s': cannot read '%.80s'", vm->name,
		    vm->host, r.out);
		goto cleanup;
	}
	/*
	 * CPU in use since the last poll (since the VM started for the
	 * first), in percent of one core, by the host's own clock.
	 */
	ticks = (double)(ut + st);
	secs = up - (double)start / clk;
	if (n == 8 && up > last_up && ticks >= (double)last_ticks) {
		secs = up - last_up;
		ticks -= (double)last_ticks;
	}
	out->state = CLD_POLL_RUNNING;
	out->cpu = secs > 0 ? ticks / clk / secs * 100 : 0;
	out->memory_kb = rss;
	rc = 0;
cleanup:
	qemu_run_release(&r);
	return rc;
}

/* ------------------------------------------------------------ the table */

extern const struct cld_vmm_driver CLD_DRIVER_ENTRY(vmm_qemu);

const struct cld_vmm_driver CLD_DRIVER_ENTRY(vmm_qemu) = {
	.hdr = CLD_DRIVER_HEADER(CLD_CLASS_VMM, struct cld_vmm_driver, "qemu",
	    "example-1", qemu_init, qemu_fini),
	.deploy = qemu_deploy,
	.shutdown = qemu_shutdown,
	.destroy = qemu_destroy,
	.reboot = qemu_reboot,
	.suspend = qemu_suspend,
	.resume = qemu_resume,
	.poll = qemu_poll,
};
