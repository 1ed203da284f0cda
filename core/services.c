/*
 * The services the core lends its drivers: logging, their config, running
 * programs locally and over ssh with a deadline, and the one helper that
 * quotes words for a remote shell.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loader.h"
#include "log.h"
#include "services.h"
#include "util.h"

extern char **environ;

/* Output kept from one program, each stream: beyond this it is cut. */
#define RUN_OUTPUT_MAX (64u << 20)

static const struct cld_ssh_conf ssh_defaults = { "ssh", NULL, 10, NULL, 0 };
static const struct cld_ssh_conf *ssh_conf = &ssh_defaults;

void
cld_services_set_ssh(const struct cld_ssh_conf *conf)
{
	ssh_conf = conf != NULL ? conf : &ssh_defaults;
}

int
cld_ssh_control_dir_make(const char *dir, struct cld_err *err)
{
	struct stat st;

	if (dir == NULL || dir[0] != '/') {
		cld_err_set(err, CLD_EINVAL,
		    "ssh control directory '%s' is not an absolute path",
		    dir ? dir : "");
		return -1;
	}
	if (strlen(dir) > CLD_SSH_CONTROL_DIR_MAX) {
		cld_err_set(err, CLD_EINVAL,
		    "ssh control directory '%s' is longer than %d characters",
		    dir, CLD_SSH_CONTROL_DIR_MAX);
		return -1;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		cld_err_sys(err, CLD_EIO, errno,
		    "cannot make ssh control directory '%s': %s", dir,
		    strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) < 0) {
		cld_err_sys(err, CLD_EIO, errno,
		    "cannot use ssh control directory '%s': %s", dir,
		    strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		cld_err_set(err, CLD_EINVAL,
		    "ssh control directory '%s' is not a directory", dir);
		return -1;
	}
	/* Whoever can reach the sockets can run commands on every host. */
	if (st.st_uid != geteuid()) {
		cld_err_set(err, CLD_EINVAL,
		    "ssh control directory '%s' is owned by uid %ld, not by us (%ld)",
		    dir, (long)st.st_uid, (long)geteuid());
		return -1;
	}
	if ((st.st_mode & 077) != 0 && chmod(dir, 0700) < 0) {
		cld_err_sys(err, CLD_EIO, errno,
		    "cannot make ssh control directory '%s' private: %s", dir,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static CLD_PRINTF(3, 4) void
svc_log(const struct cld_drv *drv, int level, const char *fmt, ...)
{
	char buf[1800];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cld_log(level, "%s/%s: %s", cld_class_name(cld_drv_class(drv)),
	    drv->name, buf);
}

static const char *
svc_conf_get(const struct cld_drv *drv, const char *name)
{
	if (drv->conf == NULL || drv->conf->value != NULL)
		return NULL;
	return cld_vector_get(drv->conf, name);
}

static int
svc_cancelled(const struct cld_op *op)
{
	const struct cld_op_ctl *ctl = op->core;

	return ctl != NULL && atomic_load(&ctl->cancelled);
}

static int64_t
svc_remaining_ms(const struct cld_op *op)
{
	int64_t left;

	if (op->deadline_ms <= 0)
		return INT64_MAX;
	left = op->deadline_ms - cld_now_ms();
	return left > 0 ? left : 0;
}

static void
svc_progress(struct cld_op *op, int percent, const char *what)
{
	struct cld_op_ctl *ctl = op->core;

	if (ctl == NULL)
		return;
	if (percent < 0)
		percent = 0;
	if (percent > 100)
		percent = 100;
	atomic_store(&ctl->percent, percent);
	pthread_mutex_lock(&ctl->lock);
	snprintf(ctl->what, sizeof(ctl->what), "%s", what ? what : "");
	pthread_mutex_unlock(&ctl->lock);
}

void
cld_op_setup(struct cld_op *op, struct cld_drv *drv, struct cld_op_ctl *ctl,
    struct cld_err *err, int64_t timeout_ms)
{
	memset(op, 0, sizeof(*op));
	op->drv = drv;
	op->err = err;
	op->deadline_ms = timeout_ms > 0 ? cld_now_ms() + timeout_ms : 0;
	op->core = ctl;
	atomic_init(&ctl->cancelled, 0);
	atomic_init(&ctl->percent, -1);
	pthread_mutex_init(&ctl->lock, NULL);
	ctl->what[0] = '\0';
	cld_err_clear(err);
}

void
cld_op_ctl_release(struct cld_op_ctl *ctl)
{
	if (ctl != NULL)
		pthread_mutex_destroy(&ctl->lock);
}

void
cld_op_cancel(struct cld_op_ctl *ctl)
{
	atomic_store(&ctl->cancelled, 1);
}

/*
 * Quoting for a POSIX shell: every word goes inside single quotes, where
 * nothing is special, and each single quote of the word becomes '\'' (close,
 * an escaped quote, reopen).  Words of plain safe characters are left bare
 * so that logged command lines stay readable.
 */
static int
word_is_plain(const char *w)
{
	if (*w == '\0')
		return 0;
	for (; *w != '\0'; w++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_-+./:,@%", *w) == NULL)
			return 0;
	return 1;
}

char *
cld_shell_quote(const char *const *argv)
{
	size_t len = 1, i;
	char *out, *p;

	for (i = 0; argv[i] != NULL; i++) {
		const char *s;

		len += 3;
		for (s = argv[i]; *s != '\0'; s++)
			len += *s == '\'' ? 4 : 1;
	}
	out = malloc(len);
	if (out == NULL)
		return NULL;
	p = out;
	for (i = 0; argv[i] != NULL; i++) {
		const char *s;

		if (i > 0)
			*p++ = ' ';
		if (word_is_plain(argv[i])) {
			size_t n = strlen(argv[i]);

			memcpy(p, argv[i], n);
			p += n;
			continue;
		}
		*p++ = '\'';
		for (s = argv[i]; *s != '\0'; s++) {
			if (*s == '\'') {
				memcpy(p, "'\\''", 4);
				p += 4;
			} else
				*p++ = *s;
		}
		*p++ = '\'';
	}
	*p = '\0';
	return out;
}

int
cld_host_name_valid(const char *name)
{
	const char *p;

	if (name == NULL || *name == '\0' || *name == '-' || strlen(name) > 253)
		return 0;
	for (p = name; *p != '\0'; p++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.-_:@", *p) == NULL)
			return 0;
	return 1;
}

struct sink {
	char *buf;
	size_t len, cap;
	int fd;
};

static void
sink_read(struct sink *s)
{
	char tmp[16384];
	ssize_t n = read(s->fd, tmp, sizeof(tmp));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(s->fd);
		s->fd = -1;
		return;
	}
	if (s->len + (size_t)n > RUN_OUTPUT_MAX)
		n = (ssize_t)(RUN_OUTPUT_MAX - s->len);
	if (s->len + (size_t)n + 1 > s->cap) {
		s->cap = (s->len + (size_t)n + 1) * 2;
		s->buf = cld_xrealloc(s->buf, s->cap);
	}
	memcpy(s->buf + s->len, tmp, (size_t)n);
	s->len += (size_t)n;
	s->buf[s->len] = '\0';
}

/* The last non-empty line of S, for error messages. */
static void
last_line(const char *s, size_t len, char *out, size_t outsz)
{
	size_t end = len, start;

	while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\r' ||
	    s[end - 1] == ' '))
		end--;
	start = end;
	while (start > 0 && s[start - 1] != '\n')
		start--;
	if (end - start >= outsz)
		start = end - (outsz - 1);
	memcpy(out, s + start, end - start);
	out[end - start] = '\0';
}

static void
kill_group(pid_t pid)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
}

/*
 * 0 if PROG can be run (a path, or a name found in PATH), else an errno.
 * posix_spawnp says the same, but only where the C library's spawn reports
 * a failed exec (under valgrind the child just exits 127).
 */
static int
program_errno(const char *prog)
{
	const char *path, *p, *end;
	char buf[4096];
	int e = ENOENT;

	if (strchr(prog, '/') != NULL)
		return access(prog, X_OK) == 0 ? 0 : errno;
	if ((path = getenv("PATH")) == NULL)
		path = "/usr/bin:/bin";
	for (p = path; ; p = end + 1) {
		size_t n;

		end = strchr(p, ':');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if ((size_t)snprintf(buf, sizeof(buf), "%.*s%s%s", (int)n, p,
		    n ? "/" : "", prog) < sizeof(buf)) {
			if (access(buf, X_OK) == 0)
				return 0;
			if (errno != ENOENT && errno != ENOTDIR)
				e = errno;
		}
		if (end == NULL)
			return e;
	}
}

/*
 * Run R->argv with pipes on its three standard streams, in a process group
 * of its own so that a deadline kills whatever it started too.
 */
static int
svc_run(struct cld_op *op, struct cld_run *r)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	struct sink so = { NULL, 0, 0, -1 }, se = { NULL, 0, 0, -1 };
	size_t written = 0;
	pid_t pid = -1;
	int rc = -1, status = 0, e, timed_out = 0, cancelled = 0;
	int64_t start = cld_now_ms();
	const char *prog = r->argv != NULL ? r->argv[0] : NULL;
	sigset_t dfl;

	r->out = r->errout = NULL;
	r->out_len = r->errout_len = 0;
	r->status = -1;
	if (prog == NULL) {
		cld_err_set(op->err, CLD_EINVAL, "no program to run");
		return -1;
	}
	if ((e = program_errno(prog)) != 0) {
		cld_err_sys(op->err, e == ENOENT ? CLD_ENOENT : CLD_EIO, e,
		    "cannot run '%s': %s", prog, strerror(e));
		goto cleanup;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
	    pipe2(errp, O_CLOEXEC) < 0) {
		cld_err_sys(op->err, CLD_EIO, errno, "cannot run '%s': %s",
		    prog, strerror(errno));
		goto cleanup;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	posix_spawnattr_init(&attr);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGCHLD);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGHUP);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	sigemptyset(&dfl);
	posix_spawnattr_setsigmask(&attr, &dfl);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	e = posix_spawnp(&pid, prog, &fa, &attr, (char *const *)r->argv,
	    environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (e != 0) {
		pid = -1;
		cld_err_sys(op->err, e == ENOENT ? CLD_ENOENT : CLD_EIO, e,
		    "cannot run '%s': %s", prog, strerror(e));
		goto cleanup;
	}
	close(in[0]);
	close(out[1]);
	close(errp[1]);
	in[0] = out[1] = errp[1] = -1;
	so.fd = out[0];
	se.fd = errp[0];
	out[0] = errp[0] = -1;
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	if (r->input == NULL || r->input_len == 0) {
		close(in[1]);
		in[1] = -1;
	}

	while (so.fd >= 0 || se.fd >= 0 || in[1] >= 0) {
		struct pollfd pfd[3];
		int n = 0, wait_ms;
		int64_t left = cld_services.remaining_ms(op);

		if (cld_services.cancelled(op)) {
			cancelled = 1;
			break;
		}
		if (left == 0) {
			timed_out = 1;
			break;
		}
		wait_ms = left > 100 ? 100 : (int)left;
		if (so.fd >= 0)
			pfd[n++] = (struct pollfd){ so.fd, POLLIN, 0 };
		if (se.fd >= 0)
			pfd[n++] = (struct pollfd){ se.fd, POLLIN, 0 };
		if (in[1] >= 0)
			pfd[n++] = (struct pollfd){ in[1], POLLOUT, 0 };
		if (poll(pfd, (nfds_t)n, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (pfd[i].fd == so.fd)
				sink_read(&so);
			else if (pfd[i].fd == se.fd)
				sink_read(&se);
			else {
				ssize_t w = write(in[1], r->input + written,
				    r->input_len - written);

				if (w > 0)
					written += (size_t)w;
				if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
				    written == r->input_len) {
					close(in[1]);
					in[1] = -1;
				}
			}
		}
	}
	/*
	 * The pipes are closed, but a child may close them and go on running:
	 * the deadline holds for its exit too.
	 */
	while (!timed_out && !cancelled) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			break;
		if (cld_services.cancelled(op))
			cancelled = 1;
		else if (cld_services.remaining_ms(op) == 0)
			timed_out = 1;
		else
			usleep(2000);
	}
	if (timed_out || cancelled) {
		kill_group(pid);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	if (!timed_out && !cancelled)
		kill(-pid, SIGKILL); /* what it left behind in its group */
	pid = -1;
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) :
	    WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;

	if (timed_out) {
		cld_err_set(op->err, CLD_ETIMEDOUT,
		    "'%s' timed out after %lld ms", prog,
		    (long long)(cld_now_ms() - start));
		goto cleanup;
	}
	if (cancelled) {
		cld_err_set(op->err, CLD_ECANCELED, "'%s' was cancelled", prog);
		goto cleanup;
	}
	if (WIFSIGNALED(status)) {
		cld_err_set(op->err, CLD_EDRIVER, "'%s' was killed by signal %d",
		    prog, WTERMSIG(status));
		goto cleanup;
	}
	if (r->status != 0) {
		char line[512];

		last_line(se.buf ? se.buf : "", se.len, line, sizeof(line));
		if (line[0] != '\0')
			cld_err_set(op->err, CLD_EDRIVER,
			    "'%s' exited with status %d: %s", prog, r->status,
			    line);
		else
			cld_err_set(op->err, CLD_EDRIVER,
			    "'%s' exited with status %d", prog, r->status);
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (pid > 0) {
		kill_group(pid);
		waitpid(pid, NULL, 0);
	}
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	if (so.fd >= 0)
		close(so.fd);
	if (se.fd >= 0)
		close(se.fd);
	r->out = so.buf != NULL ? so.buf : cld_xstrdup("");
	r->out_len = so.len;
	r->errout = se.buf != NULL ? se.buf : cld_xstrdup("");
	r->errout_len = se.len;
	return rc;
}

/*
 * The options of every ssh the core runs, and of the ssh-based programs
 * drivers run themselves (svc->ssh_options).  With connection reuse on, the
 * first call to a host leaves a master connection behind (ControlPersist:
 * it detaches into a session of its own, out of reach of svc_run's
 * process-group kill) and later calls go through its socket;
 * ServerAliveInterval makes a master on a dead connection give up instead
 * of holding every later call until its deadline.
 */
struct ssh_opts {
	const char *word[16];
	size_t n;
	char timeout[64], alive[64], persist[64], path[4200];
};

static void
ssh_opts_make(struct ssh_opts *o)
{
	int ct = ssh_conf->connect_timeout > 0 ? ssh_conf->connect_timeout : 10;

	o->n = 0;
	snprintf(o->timeout, sizeof(o->timeout), "ConnectTimeout=%d", ct);
	if (ssh_conf->config != NULL) {
		o->word[o->n++] = "-F";
		o->word[o->n++] = ssh_conf->config;
	}
	o->word[o->n++] = "-o";
	o->word[o->n++] = "BatchMode=yes";
	o->word[o->n++] = "-o";
	o->word[o->n++] = o->timeout;
	if (ssh_conf->control_dir != NULL && ssh_conf->control_persist > 0 &&
	    (size_t)snprintf(o->path, sizeof(o->path), "ControlPath=%s/%%C",
	    ssh_conf->control_dir) < sizeof(o->path)) {
		snprintf(o->persist, sizeof(o->persist), "ControlPersist=%d",
		    ssh_conf->control_persist);
		snprintf(o->alive, sizeof(o->alive), "ServerAliveInterval=%d",
		    ct);
		o->word[o->n++] = "-o";
		o->word[o->n++] = "ControlMaster=auto";
		o->word[o->n++] = "-o";
		o->word[o->n++] = o->path;
		o->word[o->n++] = "-o";
		o->word[o->n++] = o->persist;
		o->word[o->n++] = "-o";
		o->word[o->n++] = o->alive;
	} else {
		/* Off means off, whatever the ssh_config says. */
		o->word[o->n++] = "-o";
		o->word[o->n++] = "ControlPath=none";
	}
	o->word[o->n] = NULL;
}

/* svc->ssh_options: the words of ssh_opts_make in one block. */
static char **
svc_ssh_options(const struct cld_drv *drv)
{
	struct ssh_opts o;
	size_t len = 0, i;
	char **v, *p;

	(void)drv;
	ssh_opts_make(&o);
	for (i = 0; i < o.n; i++)
		len += strlen(o.word[i]) + 1;
	if ((v = malloc((o.n + 1) * sizeof(*v) + len)) == NULL)
		return NULL;
	p = (char *)(v + o.n + 1);
	for (i = 0; i < o.n; i++) {
		size_t l = strlen(o.word[i]) + 1;

		memcpy(p, o.word[i], l);
		v[i] = p;
		p += l;
	}
	v[o.n] = NULL;
	return v;
}

/* ssh in batch mode, the remote command one string made by cld_shell_quote. */
static int
svc_ssh(struct cld_op *op, const char *host, struct cld_run *r)
{
	const char *argv[24];
	struct ssh_opts o;
	char *remote = NULL;
	const char *const *orig = r->argv;
	size_t n = 0;
	int rc = -1;

	if (!cld_host_name_valid(host)) {
		cld_err_set(op->err, CLD_EINVAL, "invalid host name '%s'",
		    host ? host : "");
		r->out = cld_xstrdup("");
		r->errout = cld_xstrdup("");
		r->out_len = r->errout_len = 0;
		r->status = -1;
		return -1;
	}
	remote = cld_shell_quote(r->argv);
	if (remote == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		return -1;
	}
	ssh_opts_make(&o);
	argv[n++] = ssh_conf->command ? ssh_conf->command : "ssh";
	for (size_t i = 0; i < o.n; i++)
		argv[n++] = o.word[i];
	argv[n++] = "--";
	argv[n++] = host;
	argv[n++] = remote;
	argv[n] = NULL;
	r->argv = argv;
	rc = svc_run(op, r);
	r->argv = orig;
	if (rc < 0)
		cld_err_prefix(op->err, "on '%s'", host);
	free(remote);
	return rc;
}

const struct cld_services cld_services = {
	.size = sizeof(struct cld_services),
	.abi_major = CLD_ABI_MAJOR,
	.abi_minor = CLD_ABI_MINOR,
	.log = svc_log,
	.conf_get = svc_conf_get,
	.run = svc_run,
	.ssh = svc_ssh,
	.shell_quote = cld_shell_quote,
	.cancelled = svc_cancelled,
	.remaining_ms = svc_remaining_ms,
	.progress = svc_progress,
	.ssh_options = svc_ssh_options,
};
