/*
 * tm/ssh: disks copied to each host's own datastore with scp.
 *
 * clone copies an image from the front-end to DST.part on the host and
 * renames it once it is whole; mkimage and mkswap make disks on the host;
 * mv copies a VM's directory between hosts (scp -3, through the front-end)
 * or to and from the front-end, then removes the source; delete removes a
 * path inside the datastore.  Commands on hosts go through svc->ssh; scp
 * is run with svc->run and the core's ssh options (svc->ssh_options), so it
 * goes through the same master connections.  While a clone copies, a
 * watcher thread reads the size of DST.part on the host every second and
 * reports progress.  See cloudd-tm-ssh(7).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cloudd/driver.h>

#include "tm-common.h"

struct tm_ssh {
	const char *datastore; /* DATASTORE: the datastore's path on the hosts */
	const char *ssh_config; /* SSH_CONFIG: scp -F in place of the core's, or NULL */
	const char *scp;       /* SCP: the scp program */
};

static void
tm_ssh_fini(struct cld_drv *drv)
{
	free(drv->priv);
	drv->priv = NULL;
}

static int
tm_ssh_init(struct cld_drv *drv, struct cld_err *err)
{
	struct tm_ssh *ts = NULL;
	const char *v;

	if ((ts = calloc(1, sizeof(*ts))) == NULL) {
		cld_err_set(err, CLD_EIO, "out of memory");
		return -1;
	}
	v = drv->svc->conf_get(drv, "DATASTORE");
	ts->datastore = v != NULL ? v : TM_DATASTORE_DEFAULT;
	if (!tm_path_plain(ts->datastore) || strcmp(ts->datastore, "/") == 0) {
		cld_err_set(err, CLD_ECONFIG,
		    "DATASTORE: '%s' is not an absolute path of letters, digits and ._+-/ (nor /)",
		    ts->datastore);
		free(ts);
		return -1;
	}
	ts->ssh_config = drv->svc->conf_get(drv, "SSH_CONFIG");
	if (ts->ssh_config != NULL && ts->ssh_config[0] != '/') {
		cld_err_set(err, CLD_ECONFIG,
		    "SSH_CONFIG: '%s' is not an absolute path", ts->ssh_config);
		free(ts);
		return -1;
	}
	v = drv->svc->conf_get(drv, "SCP");
	ts->scp = v != NULL && v[0] != '\0' ? v : "scp";
	drv->priv = ts;
	return 0;
}

/*
 * scp FROM TO (each "host:path" or a local path); RECURSIVE for
 * directories, THREE for two remote ends (through the front-end).
 */
static int
ssh_scp(struct cld_op *op, const char *from, const char *to, int recursive,
    int three)
{
	struct tm_ssh *ts = op->drv->priv;
	const char *argv[48];
	char **opts;
	struct cld_run r;
	size_t n = 0;
	int rc;

	if ((opts = op->drv->svc->ssh_options(op->drv)) == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		return -1;
	}
	argv[n++] = ts->scp;
	if (ts->ssh_config != NULL) {
		argv[n++] = "-F";
		argv[n++] = ts->ssh_config;
	}
	for (size_t i = 0; opts[i] != NULL && n < 40; i++) {
		if (strcmp(opts[i], "-F") == 0 && opts[i + 1] != NULL) {
			if (ts->ssh_config == NULL) {
				argv[n++] = opts[i];
				argv[n++] = opts[i + 1];
			}
			i++;
		} else
			argv[n++] = opts[i];
	}
	/*
	 * The original protocol: its remote end reports a full disk as
	 * such (the SFTP one says "Failure").  Paths are plain (tm-common.h):
	 * the remote shell it involves sees nothing special in them.
	 */
	argv[n++] = "-O";
	argv[n++] = "-q";
	if (recursive)
		argv[n++] = "-r";
	if (three)
		argv[n++] = "-3";
	argv[n++] = "--";
	argv[n++] = from;
	argv[n++] = to;
	argv[n] = NULL;
	memset(&r, 0, sizeof(r));
	r.argv = argv;
	rc = op->drv->svc->run(op, &r);
	if (rc < 0)
		tm_check_nospace(op, &r, NULL, to);
	free(r.out);
	free(r.errout);
	free(opts);
	return rc;
}

/*
 * The progress of a copy to PART on HOST: a thread that asks the size of
 * PART every second (through the master connection, a few ms) while scp
 * runs, and reports it.  Its own op, so its errors are not the copy's.
 */
struct watch {
	struct cld_op *op;     /* the copy's: progress is reported on it */
	struct cld_op c;       /* the watcher's own, with its own error */
	struct cld_err err;
	const char *host, *part;
	uint64_t total;        /* bytes */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	pthread_t thread;
	int started;
};

static void *
watch_main(void *arg)
{
	struct watch *w = arg;
	const char *argv[] = { "stat", "-c", "%s", "--", w->part, NULL };
	struct timespec ts;
	struct cld_run r;
	unsigned long long size;
	char what[96];

	pthread_mutex_lock(&w->lock);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		while (!w->done &&
		    pthread_cond_timedwait(&w->cond, &w->lock, &ts) != ETIMEDOUT)
			;
		if (w->done)
			break;
		pthread_mutex_unlock(&w->lock);
		memset(&r, 0, sizeof(r));
		r.argv = argv;
		if (w->c.drv->svc->ssh(&w->c, w->host, &r) == 0 &&
		    sscanf(r.out, "%llu", &size) == 1 && w->total > 0) {
			int pct = (int)(size * 100 / w->total);

			snprintf(what, sizeof(what), "copied %llu of %llu MiB",
			    size >> 20, (unsigned long long)(w->total >> 20));
			/* 100 is said once the file is renamed into place. */
			w->op->drv->svc->progress(w->op, pct > 99 ? 99 : pct,
			    what);
		}
		cld_err_clear(&w->err);
		free(r.out);
		free(r.errout);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Start watching; without a thread the copy just goes on unwatched. */
static void
watch_start(struct watch *w, struct cld_op *op, const char *host,
    const char *part, uint64_t total)
{
	pthread_condattr_t ca;

	memset(w, 0, sizeof(*w));
	w->op = op;
	w->c = *op;
	w->c.core = op->core;  /* cancelled() and deadline follow the copy */
	w->c.err = &w->err;
	w->host = host;
	w->part = part;
	w->total = total;
	cld_err_clear(&w->err);
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	w->started = pthread_create(&w->thread, NULL, watch_main, w) == 0;
}

static void
watch_stop(struct watch *w)
{
	pthread_mutex_lock(&w->lock);
	w->done = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	if (w->started)
		pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
}

/* "host:path", malloc()ed, or NULL. */
static char *
ssh_remote(struct cld_op *op, const char *host, const char *path)
{
	size_t n = strlen(host) + strlen(path) + 2;
	char *s = malloc(n);

	if (s == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		return NULL;
	}
	snprintf(s, n, "%s:%s", host, path);
	return s;
}

/* PATH with ".part" appended, malloc()ed, or NULL. */
static char *
ssh_part(struct cld_op *op, const char *path)
{
	size_t n = strlen(path) + 6;
	char *s = malloc(n);

	if (s == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		return NULL;
	}
	snprintf(s, n, "%s.part", path);
	return s;
}

/*
 * Run ARGV on HOST (NULL: here, on the front-end); 0 or -1.  A full disk
 * is reported about ARGV's last word.
 */
static int
ssh_host_run(struct cld_op *op, const char *host, const char *const *argv)
{
	struct cld_run r;
	size_t n = 0;
	int rc;

	while (argv[n + 1] != NULL)
		n++;
	memset(&r, 0, sizeof(r));
	r.argv = argv;
	rc = host != NULL ? op->drv->svc->ssh(op, host, &r) :
	    op->drv->svc->run(op, &r);
	if (rc < 0)
		tm_check_nospace(op, &r, host, argv[n]);
	free(r.out);
	free(r.errout);
	return rc;
}

/* 1 if PATH exists on HOST (NULL: here), 0 if not, -1 if we cannot tell. */
static int
ssh_exists(struct cld_op *op, const char *host, const char *path)
{
	const char *argv[] = { "test", "-e", path, NULL };
	struct cld_run r;
	struct stat st;
	int rc, status;

	if (host == NULL)
		return lstat(path, &st) == 0 ? 1 : 0;
	memset(&r, 0, sizeof(r));
	r.argv = argv;
	rc = op->drv->svc->ssh(op, host, &r);
	status = r.status;
	free(r.out);
	free(r.errout);
	if (rc == 0)
		return 1;
	if (status == 1) {
		cld_err_clear(op->err);
		return 0;
	}
	return -1;
}

/* Remove PATH on HOST (NULL: here) after a failure, keeping OP's error. */
static void
ssh_cleanup(struct cld_op *op, const char *host, const char *path)
{
	struct cld_op c;
	struct cld_err err;
	const char *argv[] = { "rm", "-rf", "--", path, NULL };
	struct cld_run r;

	tm_cleanup_op(op, &c, &err);
	if (host != NULL)
		tm_host_rm(&c, host, path);
	else {
		memset(&r, 0, sizeof(r));
		r.argv = argv;
		c.drv->svc->run(&c, &r);
		free(r.out);
		free(r.errout);
	}
	if (err.code != CLD_EOK)
		op->drv->svc->log(op->drv, CLD_LOG_WARN,
		    "cannot remove '%s' on '%s' after a failure: %s", path,
		    host ? host : "the front-end", err.msg);
}

/*
 * On HOST: make DST's directory, remove a stale DST.part and check that
 * NEED bytes fit there.
 */
static int
ssh_prepare(struct cld_op *op, const char *host, const char *dst,
    uint64_t need)
{
	static const char script[] =
	    "set -e\n"
	    "d=${1%/*}\n"
	    "mkdir -p -- \"$d\"\n"
	    "rm -rf -- \"$1.part\"\n"
	    "df -Pk -- \"$d\" | awk 'NR == 2 { print $4 }'\n";
	const char *argv[] = { "sh", "-c", script, "sh", dst, NULL };
	struct cld_run r;
	unsigned long long kib = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	r.argv = argv;
	rc = op->drv->svc->ssh(op, host, &r);
	if (rc < 0)
		tm_check_nospace(op, &r, host, dst);
	else if (sscanf(r.out, "%llu", &kib) == 1 && kib * 1024 < need) {
		cld_err_set(op->err, CLD_ENOSPC,
		    "no space left on '%s' for '%s': %llu MiB free, %llu MiB needed",
		    host, dst, kib / 1024,
		    (unsigned long long)((need + (1 << 20) - 1) >> 20));
		rc = -1;
	}
	free(r.out);
	free(r.errout);
	return rc;
}

static int
tm_ssh_clone(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *src, const char *host, const char *dst, unsigned int flags)
{
	struct tm_ssh *ts = op->drv->priv;
	const char *mv[] = { "mv", "-f", "--", NULL, NULL, NULL };
	char *part = NULL, *remote = NULL, what[64];
	struct watch w;
	struct stat st;
	int rc = -1, copied;

	if (tm_check_flags(op, flags, 0) < 0)
		return -1;
	if (src != NULL && (strncmp(src, "http://", 7) == 0 ||
	    strncmp(src, "https://", 8) == 0)) {
		cld_err_set(op->err, CLD_ENOTSUP,
		    "the ssh transfer driver cannot fetch '%s': http(s) sources are not supported, copy the image to the front-end",
		    src);
		return -1;
	}
	if (src == NULL || src[0] != '/') {
		cld_err_set(op->err, CLD_EINVAL,
		    "source '%s' is not an absolute path on the front-end",
		    src ? src : "");
		return -1;
	}
	if (stat(src, &st) < 0) {
		cld_err_sys(op->err, errno == ENOENT ? CLD_ENOENT : CLD_EIO,
		    errno, "cannot read source '%s' on the front-end: %s", src,
		    strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		cld_err_set(op->err, CLD_EINVAL,
		    "source '%s' on the front-end is not a regular file", src);
		return -1;
	}
	if (tm_check_host(op, host) < 0 ||
	    tm_check_host_path(op, ts->datastore, host, dst, "clone") < 0)
		return -1;
	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "clone '%s' to '%s:%s' for '%s'",
	    src, host, dst, tm_vm_name(vm));
	if ((part = ssh_part(op, dst)) == NULL ||
	    (remote = ssh_remote(op, host, part)) == NULL)
		goto cleanup;
	if (ssh_prepare(op, host, dst, (uint64_t)st.st_size) < 0)
		goto cleanup;
	snprintf(what, sizeof(what), "copying %llu MiB",
	    (unsigned long long)(st.st_size >> 20));
	op->drv->svc->progress(op, 0, what);
	watch_start(&w, op, host, part, (uint64_t)st.st_size);
	copied = ssh_scp(op, src, remote, 0, 0);
	watch_stop(&w);
	if (copied < 0) {
		if (op->err->code == CLD_ENOSPC)
			cld_err_set(op->err, CLD_ENOSPC,
			    "no space left on '%s' for '%s'", host, dst);
		ssh_cleanup(op, host, part);
		goto cleanup;
	}
	mv[3] = part;
	mv[4] = dst;
	if (ssh_host_run(op, host, mv) < 0) {
		ssh_cleanup(op, host, part);
		goto cleanup;
	}
	op->drv->svc->progress(op, 100, "copied");
	rc = 0;
cleanup:
	free(part);
	free(remote);
	return rc;
}

static int
tm_ssh_mkimage(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *host, const char *dst, uint64_t size_mb, const char *fstype,
    unsigned int flags)
{
	struct tm_ssh *ts = op->drv->priv;

	return tm_mkimage(op, vm, ts->datastore, host, dst, size_mb, fstype,
	    flags, 0);
}

static int
tm_ssh_mkswap(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *host, const char *dst, uint64_t size_mb, unsigned int flags)
{
	struct tm_ssh *ts = op->drv->priv;

	return tm_mkswap(op, vm, ts->datastore, host, dst, size_mb, flags, 0);
}

/* Check one end of a move: a host's path in the datastore, or the front-end's. */
static int
ssh_check_end(struct cld_op *op, const char *host, const char *path)
{
	struct tm_ssh *ts = op->drv->priv;

	if (host != NULL)
		return tm_check_host(op, host) < 0 ? -1 :
		    tm_check_host_path(op, ts->datastore, host, path, "mv");
	if (!tm_path_plain(path) || strcmp(path, "/") == 0) {
		cld_err_set(op->err, CLD_EINVAL,
		    "mv: path '%s' on the front-end is not an absolute path of letters, digits and ._+-/",
		    path ? path : "");
		return -1;
	}
	return 0;
}

/*
 * Copy SRC on SRC_HOST to DST on DST_HOST (either NULL: the front-end) by
 * way of DST.part, then remove SRC.  A source already gone whose
 * destination is there was moved by an earlier try: success.
 */
static int
tm_ssh_mv(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *src_host, const char *src, const char *dst_host,
    const char *dst, unsigned int flags)
{
	static const char prep[] =
	    "set -e\n"
	    "mkdir -p -- \"${1%/*}\"\n"
	    "rm -rf -- \"$1.part\"\n";
	static const char commit[] =
	    "set -e\n"
	    "rm -rf -- \"$1\"\n"
	    "mv -f -- \"$1.part\" \"$1\"\n";
	char *part = NULL, *from = NULL, *to = NULL;
	const char *args[2] = { dst, NULL };
	const char *local_prep[] = { "sh", "-c", prep, "sh", dst, NULL };
	const char *local_commit[] = { "sh", "-c", commit, "sh", dst, NULL };
	const char *rm[] = { "rm", "-rf", "--", src, NULL };
	int rc = -1, e;

	if (tm_check_flags(op, flags, CLD_TM_MOVE_LIVE) < 0)
		return -1;
	if (flags & CLD_TM_MOVE_LIVE) {
		cld_err_set(op->err, CLD_ENOTSUP,
		    "the ssh transfer driver cannot move disks in use: live migration needs a shared datastore (tm/shared)");
		return -1;
	}
	if (src_host == NULL && dst_host == NULL) {
		cld_err_set(op->err, CLD_EINVAL,
		    "mv: both ends are the front-end");
		return -1;
	}
	if (ssh_check_end(op, src_host, src) < 0 ||
	    ssh_check_end(op, dst_host, dst) < 0)
		return -1;
	if (src_host != NULL && dst_host != NULL &&
	    strcmp(src_host, dst_host) == 0 && strcmp(src, dst) == 0)
		return 0;
	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "mv '%s:%s' to '%s:%s' for '%s'",
	    src_host ? src_host : "front-end", src,
	    dst_host ? dst_host : "front-end", dst, tm_vm_name(vm));
	if ((e = ssh_exists(op, src_host, src)) < 0)
		return -1;
	if (e == 0) {
		if ((e = ssh_exists(op, dst_host, dst)) == 1)
			return 0;
		if (e == 0)
			cld_err_set(op->err, CLD_ENOENT,
			    "mv: '%s' is not on '%s'", src,
			    src_host ? src_host : "the front-end");
		return -1;
	}
	if ((part = ssh_part(op, dst)) == NULL)
		goto cleanup;
	from = src_host != NULL ? ssh_remote(op, src_host, src) : strdup(src);
	to = dst_host != NULL ? ssh_remote(op, dst_host, part) : strdup(part);
	if (from == NULL || to == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		goto cleanup;
	}
	if ((dst_host != NULL ? tm_host_sh(op, dst_host, dst, prep, args) :
	    ssh_host_run(op, NULL, local_prep)) < 0)
		goto cleanup;
	op->drv->svc->progress(op, 0, "moving");
	if (ssh_scp(op, from, to, 1, src_host != NULL && dst_host != NULL) < 0) {
		if (op->err->code == CLD_ENOSPC)
			cld_err_set(op->err, CLD_ENOSPC,
			    "no space left on '%s' for '%s'",
			    dst_host ? dst_host : "the front-end", dst);
		ssh_cleanup(op, dst_host, part);
		goto cleanup;
	}
	if ((dst_host != NULL ? tm_host_sh(op, dst_host, dst, commit, args) :
	    ssh_host_run(op, NULL, local_commit)) < 0) {
		ssh_cleanup(op, dst_host, part);
		goto cleanup;
	}
	/* The copy is whole where it belongs: the source may go. */
	if (ssh_host_run(op, src_host, rm) < 0)
		goto cleanup;
	op->drv->svc->progress(op, 100, "moved");
	rc = 0;
cleanup:
	free(part);
	free(from);
	free(to);
	return rc;
}

static int
tm_ssh_delete(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *host, const char *path, unsigned int flags)
{
	struct tm_ssh *ts = op->drv->priv;

	if (tm_check_flags(op, flags, 0) < 0 ||
	    tm_check_host_path(op, ts->datastore, host, path, "delete") < 0)
		return -1;
	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "delete '%s:%s' for '%s'",
	    host, path, tm_vm_name(vm));
	return tm_host_rm(op, host, path);
}

extern const struct cld_tm_driver CLD_DRIVER_ENTRY(tm_ssh);

const struct cld_tm_driver CLD_DRIVER_ENTRY(tm_ssh) = {
	.hdr = CLD_DRIVER_HEADER(CLD_CLASS_TM, struct cld_tm_driver, "ssh",
	    PACKAGE_VERSION, tm_ssh_init, tm_ssh_fini),
	.clone = tm_ssh_clone,
	.mkimage = tm_ssh_mkimage,
	.mkswap = tm_ssh_mkswap,
	.mv = tm_ssh_mv,
	.delete = tm_ssh_delete,
};
