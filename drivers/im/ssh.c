/*
 * im/ssh: monitors a host by running cloudd's probe (cloudd-probe.sh) on it
 * over ssh, and keeps the probe there up to date.
 *
 * One monitoring is, when the host's copy is current, one ssh call: a fixed
 * script runs the copy at REMOTE_DIR/cloudd-probe.sh if there is one, else
 * says PROBE_VERSION = "none".  The report's first line is the copy's
 * PROBE_VERSION; when it differs from the local probe's, the local probe is
 * written to the host through ssh's standard input (to a temporary name,
 * then renamed) and run again.  The local probe is read at each monitoring,
 * so a new one takes effect without restarting cloudd.
 *
 * Nothing here builds a command line from data: the remote scripts are
 * constants and the paths reach them as positional arguments, quoted by the
 * core (svc->ssh).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cloudd/driver.h>

#ifndef CLD_PKGDATADIR
#define CLD_PKGDATADIR "/usr/local/share/cloudd"
#endif

#define IM_SSH_PROBE_DEFAULT CLD_PKGDATADIR "/cloudd-probe.sh"
#define IM_SSH_ROOT_DEFAULT "/"
#define IM_SSH_REMOTE_DIR_DEFAULT "/var/lib/cloudd/.probe"
#define IM_SSH_PROBE_NAME "cloudd-probe.sh"
#define IM_SSH_PATH_MAX 1024
#define IM_SSH_PROBE_MAX (1u << 20) /* a probe bigger than this is a mistake */
#define IM_SSH_VERSION_MAX 64

/* $1: the probe's path on the host, $2: the root it reads. */
static const char im_ssh_run_script[] =
    "if [ -r \"$1\" ]; then exec sh \"$1\" \"$2\"; fi; "
    "echo 'PROBE_VERSION = \"none\"'";

/* $1: the directory, $2: the probe's path; the probe on standard input. */
static const char im_ssh_copy_script[] =
    "umask 022 && mkdir -p \"$1\" && cat >\"$2.tmp.$$\" && "
    "mv -f \"$2.tmp.$$\" \"$2\"";

static const char *const im_ssh_options[] = { "PROBE", "PROBE_ROOT",
	"REMOTE_DIR", NULL };

struct im_ssh {
	char probe[IM_SSH_PATH_MAX];        /* the local probe */
	char root[IM_SSH_PATH_MAX];         /* PROBE_ROOT, passed to the probe */
	char remote_dir[IM_SSH_PATH_MAX];
	char remote_path[IM_SSH_PATH_MAX];  /* remote_dir/cloudd-probe.sh */
};

/* The local probe: its text and the version it declares. */
struct im_ssh_local {
	char *text;
	size_t len;
	char version[IM_SSH_VERSION_MAX + 1];
};

/*
 * Read option NAME, an absolute path without control characters, into OUT
 * (DEF when unset).
 */
static int
im_ssh_conf_path(struct cld_drv *drv, const char *name, const char *def,
    char *out, size_t outsz, struct cld_err *err)
{
	const char *v = drv->svc->conf_get(drv, name);
	const unsigned char *p;

	if (v == NULL)
		v = def;
	if (v[0] != '/') {
		cld_err_set(err, CLD_ECONFIG, "%s: '%s' is not an absolute path",
		    name, v);
		return -1;
	}
	for (p = (const unsigned char *)v; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f) {
			cld_err_set(err, CLD_ECONFIG,
			    "%s: the path has a control character", name);
			return -1;
		}
	if ((size_t)snprintf(out, outsz, "%s", v) >= outsz) {
		cld_err_set(err, CLD_ECONFIG, "%s: '%.64s...' is too long", name,
		    v);
		return -1;
	}
	return 0;
}

/* Our options are single values, each given once. */
static int
im_ssh_conf_check_names(const struct cld_drv *drv, struct cld_err *err)
{
	const struct cld_attr *a, *b;
	size_t i, j, k;

	if (drv->conf == NULL || drv->conf->sub == NULL)
		return 0;
	for (i = 0; i < drv->conf->nsub; i++) {
		a = &drv->conf->sub[i];
		for (k = 0; im_ssh_options[k] != NULL; k++)
			if (strcasecmp(a->name, im_ssh_options[k]) == 0)
				break;
		if (im_ssh_options[k] == NULL)
			continue;
		if (cld_attr_is_vector(a)) {
			cld_err_set(err, CLD_ECONFIG,
			    "%s: expected a single value, not a vector", a->name);
			return -1;
		}
		for (j = 0; j < i; j++) {
			b = &drv->conf->sub[j];
			if (strcasecmp(a->name, b->name) == 0) {
				cld_err_set(err, CLD_ECONFIG,
				    "%s: given more than once", a->name);
				return -1;
			}
		}
	}
	return 0;
}

static void
im_ssh_local_release(struct im_ssh_local *l)
{
	free(l->text);
	l->text = NULL;
	l->len = 0;
}

/*
 * Read the local probe and the version in its "PROBE_VERSION=V" line (V:
 * letters, digits, '.', '_', '-').
 */
static int
im_ssh_local_read(const char *path, struct im_ssh_local *l,
    struct cld_err *err)
{
	FILE *f = NULL;
	const char *p = NULL;
	size_t n = 0, cap = 16384;
	int rc = -1;

	memset(l, 0, sizeof(*l));
	if ((f = fopen(path, "r")) == NULL) {
		cld_err_sys(err, CLD_EIO, errno, "cannot read probe '%s': %s",
		    path, strerror(errno));
		goto cleanup;
	}
	if ((l->text = malloc(cap + 1)) == NULL)
		goto nomem;
	for (;;) {
		size_t got = fread(l->text + n, 1, cap - n, f);

		n += got;
		if (n < cap)
			break;
		if (cap >= IM_SSH_PROBE_MAX) {
			cld_err_set(err, CLD_EINVAL,
			    "probe '%s' is bigger than %u bytes", path,
			    IM_SSH_PROBE_MAX);
			goto cleanup;
		}
		cap *= 2;
		{
			char *t = realloc(l->text, cap + 1);

			if (t == NULL)
				goto nomem;
			l->text = t;
		}
	}
	if (ferror(f)) {
		cld_err_sys(err, CLD_EIO, errno, "cannot read probe '%s': %s",
		    path, strerror(errno));
		goto cleanup;
	}
	l->text[n] = '\0';
	l->len = n;
	for (p = l->text; p != NULL; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, "PROBE_VERSION=", 14) == 0)
			break;
	}
	if (p != NULL) {
		size_t v = strspn(p + 14, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

		if (v > 0 && v <= IM_SSH_VERSION_MAX &&
		    (p[14 + v] == '\n' || p[14 + v] == '\0')) {
			memcpy(l->version, p + 14, v);
			l->version[v] = '\0';
			rc = 0;
			goto cleanup;
		}
	}
	cld_err_set(err, CLD_EINVAL,
	    "probe '%s' has no PROBE_VERSION=V line (V: letters, digits, '.', '_', '-')",
	    path);
	goto cleanup;
nomem:
	cld_err_set(err, CLD_EIO, "out of memory");
cleanup:
	if (f != NULL)
		fclose(f);
	if (rc < 0)
		im_ssh_local_release(l);
	return rc;
}

static void
im_ssh_fini(struct cld_drv *drv)
{
	free(drv->priv);
	drv->priv = NULL;
}

static int
im_ssh_init(struct cld_drv *drv, struct cld_err *err)
{
	struct im_ssh *is = NULL;
	struct im_ssh_local l;
	int rc = -1;

	if ((is = calloc(1, sizeof(*is))) == NULL) {
		cld_err_set(err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	if (im_ssh_conf_check_names(drv, err) == -1 ||
	    im_ssh_conf_path(drv, "PROBE", IM_SSH_PROBE_DEFAULT, is->probe,
	    sizeof(is->probe), err) == -1 ||
	    im_ssh_conf_path(drv, "PROBE_ROOT", IM_SSH_ROOT_DEFAULT, is->root,
	    sizeof(is->root), err) == -1 ||
	    im_ssh_conf_path(drv, "REMOTE_DIR", IM_SSH_REMOTE_DIR_DEFAULT,
	    is->remote_dir, sizeof(is->remote_dir), err) == -1)
		goto cleanup;
	if ((size_t)snprintf(is->remote_path, sizeof(is->remote_path), "%s/%s",
	    strcmp(is->remote_dir, "/") == 0 ? "" : is->remote_dir,
	    IM_SSH_PROBE_NAME) >= sizeof(is->remote_path)) {
		cld_err_set(err, CLD_ECONFIG, "REMOTE_DIR: '%.64s...' is too long",
		    is->remote_dir);
		goto cleanup;
	}
	/* A missing or broken probe is a configuration error: say so now. */
	if (im_ssh_local_read(is->probe, &l, err) == -1) {
		cld_err_prefix(err, "PROBE");
		goto cleanup;
	}
	drv->svc->log(drv, CLD_LOG_INFO,
	    "probe '%s' version %s, copied to %s on the hosts, root '%s'",
	    is->probe, l.version, is->remote_path, is->root);
	im_ssh_local_release(&l);
	drv->priv = is;
	is = NULL;
	rc = 0;
cleanup:
	free(is);
	return rc;
}

/* The last non-empty line of S, at most OUTSZ - 1 bytes of it. */
static void
im_ssh_last_line(const char *s, char *out, size_t outsz)
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

static void
im_ssh_run_release(struct cld_run *r)
{
	free(r->out);
	free(r->errout);
	r->out = r->errout = NULL;
}

/*
 * Turn a failed svc->ssh into our error: ssh's own failure (status 255, or
 * it never ran) says the host cannot be reached; a deadline or a
 * cancellation is left as the core said it; anything else is WHAT failing
 * with the last line of its standard error.
 */
static void
im_ssh_fail(struct cld_op *op, const char *host, const char *what,
    const struct cld_run *r)
{
	char line[400], why[CLD_ERR_MSG_MAX];

	if (op->err->code == CLD_ETIMEDOUT || op->err->code == CLD_ECANCELED) {
		cld_err_prefix(op->err, "%s", what);
		return;
	}
	im_ssh_last_line(r->errout, line, sizeof(line));
	if (line[0] != '\0')
		snprintf(why, sizeof(why), "%s", line);
	else if (r->status == 255)
		snprintf(why, sizeof(why), "ssh exited with status 255 and said nothing");
	else
		snprintf(why, sizeof(why), "%s", op->err->msg);
	if (r->status == 255 || r->status == -1)
		cld_err_set(op->err, CLD_EDRIVER,
		    "cannot reach '%s' over ssh: %s", host, why);
	else
		cld_err_set(op->err, CLD_EDRIVER,
		    "%s failed on '%s' (status %d)%s%s", what, host, r->status,
		    line[0] != '\0' ? ": " : "", line);
}

/*
 * The version the report in OUT declares on its first line
 * (PROBE_VERSION = "V"), into V; "" if it has none.
 */
static void
im_ssh_remote_version(const char *out, char *v, size_t vsz)
{
	static const char head[] = "PROBE_VERSION = \"";
	size_t n;

	v[0] = '\0';
	if (out == NULL || strncmp(out, head, sizeof(head) - 1) != 0)
		return;
	out += sizeof(head) - 1;
	n = strcspn(out, "\"\n");
	if (out[n] != '"' || n >= vsz)
		return;
	memcpy(v, out, n);
	v[n] = '\0';
}

/* Run the probe on HOST; on success R->out is its report. */
static int
im_ssh_probe(struct cld_op *op, struct im_ssh *is, const char *host,
    struct cld_run *r)
{
	const char *argv[] = { "sh", "-c", im_ssh_run_script, "sh",
		is->remote_path, is->root, NULL };

	const struct cld_services *svc = op->drv->svc;
	int tries = 0;

	for (;;) {
		memset(r, 0, sizeof(*r));
		r->argv = argv;
		if (svc->ssh(op, host, r) == 0)
			return 0;
		/*
		 * ssh's own failure (255) once more: a master connection that
		 * died with the host's sshd fails the call it carried without
		 * a word; the next call connects anew and says why it cannot.
		 */
		if (r->status != 255 || ++tries > 1 || svc->cancelled(op) ||
		    svc->remaining_ms(op) == 0)
			break;
		svc->log(op->drv, CLD_LOG_DEBUG,
		    "ssh to '%s' failed (%s), trying once more", host,
		    op->err->msg);
		im_ssh_run_release(r);
	}
	im_ssh_fail(op, host, "the probe", r);
	return -1;
}

/* Write the local probe L to HOST. */
static int
im_ssh_copy(struct cld_op *op, struct im_ssh *is, const char *host,
    const struct im_ssh_local *l)
{
	const char *argv[] = { "sh", "-c", im_ssh_copy_script, "sh",
		is->remote_dir, is->remote_path, NULL };
	struct cld_run r;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	r.argv = argv;
	r.input = l->text;
	r.input_len = l->len;
	if (op->drv->svc->ssh(op, host, &r) == -1) {
		im_ssh_fail(op, host, "copying the probe", &r);
		goto cleanup;
	}
	rc = 0;
cleanup:
	im_ssh_run_release(&r);
	return rc;
}

static int
im_ssh_monitor(struct cld_op *op, const char *host, unsigned int flags,
    char **report)
{
	struct im_ssh *is = op->drv->priv;
	const struct cld_services *svc = op->drv->svc;
	struct im_ssh_local l;
	struct cld_run r;
	char remote[IM_SSH_VERSION_MAX + 2];
	int rc = -1;

	memset(&r, 0, sizeof(r));
	memset(&l, 0, sizeof(l));
	if (flags != 0) {
		cld_err_set(op->err, CLD_EINVAL, "unknown flags 0x%x", flags);
		return -1;
	}
	if (im_ssh_local_read(is->probe, &l, op->err) == -1)
		goto cleanup;
	if (im_ssh_probe(op, is, host, &r) == -1)
		goto cleanup;
	im_ssh_remote_version(r.out, remote, sizeof(remote));
	if (strcmp(remote, l.version) != 0) {
		svc->log(op->drv, CLD_LOG_INFO,
		    "copying probe version %s to '%s':%s (it has %s)", l.version,
		    host, is->remote_path, remote[0] != '\0' ? remote : "none");
		im_ssh_run_release(&r);
		if (svc->cancelled(op)) {
			cld_err_set(op->err, CLD_ECANCELED, "cancelled");
			goto cleanup;
		}
		if (im_ssh_copy(op, is, host, &l) == -1 ||
		    im_ssh_probe(op, is, host, &r) == -1)
			goto cleanup;
		im_ssh_remote_version(r.out, remote, sizeof(remote));
		if (strcmp(remote, l.version) != 0) {
			cld_err_set(op->err, CLD_EDRIVER,
			    "the probe on '%s' says version '%s' after version %s was copied there",
			    host, remote, l.version);
			goto cleanup;
		}
	}
	*report = r.out;
	r.out = NULL;
	rc = 0;
cleanup:
	im_ssh_run_release(&r);
	im_ssh_local_release(&l);
	return rc;
}

extern const struct cld_im_driver CLD_DRIVER_ENTRY(im_ssh);

const struct cld_im_driver CLD_DRIVER_ENTRY(im_ssh) = {
	.hdr = CLD_DRIVER_HEADER(CLD_CLASS_IM, struct cld_im_driver, "ssh",
	    PACKAGE_VERSION, im_ssh_init, im_ssh_fini),
	.monitor = im_ssh_monitor,
};
