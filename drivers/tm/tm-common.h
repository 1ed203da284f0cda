/*
 * What tm/ssh and tm/shared share: path checks, running a fixed shell
 * script on a host with the data as its positional parameters, and telling
 * a full disk from other failures.
 *
 * Everything here is static inline: each driver is its own module, linked
 * with -z defs against libc only, and exports nothing but its entry symbol.
 */
#ifndef CLD_TM_COMMON_H
#define CLD_TM_COMMON_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cloudd/driver.h>
#include <cloudd/error.h>

#define TM_DATASTORE_DEFAULT "/var/lib/cloudd/datastore"
#define TM_PATH_MAX 1024
/* How long the clean-up after a failed transfer may take past the deadline. */
#define TM_CLEANUP_MS 15000

static inline int64_t
tm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Non-zero if P is an absolute path of plain characters (letters, digits,
 * "._+-/"), no empty, "." or ".." component, no trailing slash.  Paths on
 * hosts are written on scp's command line and reach a remote shell in
 * scripts only as quoted positional parameters, but a plain charset keeps
 * scp's own remote-path handling (globs, spaces) out of the picture.
 */
static inline int
tm_path_plain(const char *p)
{
	const char *c, *comp;
	size_t len;

	if (p == NULL || p[0] != '/' || (len = strlen(p)) > TM_PATH_MAX ||
	    (len > 1 && p[len - 1] == '/'))
		return 0;
	for (c = p; *c != '\0'; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || strchr("._+-/", *c) != NULL))
			return 0;
	for (comp = p + 1; *comp != '\0';) {
		size_t n = strcspn(comp, "/");

		if (n == 0 || (n == 1 && comp[0] == '.') ||
		    (n == 2 && comp[0] == '.' && comp[1] == '.'))
			return 0;
		comp += n;
		if (*comp == '/')
			comp++;
	}
	return 1;
}

/* Non-zero if plain path P lies strictly inside plain directory DIR. */
static inline int
tm_path_inside(const char *p, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1) /* "/" */
		return p[1] != '\0';
	return strncmp(p, dir, n) == 0 && p[n] == '/' && p[n + 1] != '\0';
}

/* Check a path on HOST inside DATASTORE, for operation WHAT. */
static inline int
tm_check_host_path(struct cld_op *op, const char *datastore, const char *host,
    const char *p, const char *what)
{
	if (!tm_path_plain(p)) {
		cld_err_set(op->err, CLD_EINVAL,
		    "%s: path '%s' on '%s' is not an absolute path of letters, digits and ._+-/",
		    what, p ? p : "", host ? host : "the front-end");
		return -1;
	}
	if (!tm_path_inside(p, datastore)) {
		cld_err_set(op->err, CLD_EPERM,
		    "%s: refusing path '%s' on '%s': it is outside the datastore '%s'",
		    what, p, host ? host : "the front-end", datastore);
		return -1;
	}
	return 0;
}

/* Check a host name for scp's "host:path" (svc->ssh checks its own). */
static inline int
tm_check_host(struct cld_op *op, const char *host)
{
	const char *c;

	if (host == NULL || host[0] == '\0' || host[0] == '-' ||
	    strlen(host) > 255)
		goto bad;
	for (c = host; *c != '\0'; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' ||
		    *c == '_'))
			goto bad;
	return 0;
bad:
	cld_err_set(op->err, CLD_EINVAL, "invalid host name '%s'",
	    host ? host : "");
	return -1;
}

static inline int
tm_check_flags(struct cld_op *op, unsigned int flags, unsigned int known)
{
	if (flags & ~known) {
		cld_err_set(op->err, CLD_EINVAL, "unknown flags 0x%x",
		    flags & ~known);
		return -1;
	}
	return 0;
}

/*
 * If what R wrote on its standard error says a disk was full, replace the
 * error with CLD_ENOSPC naming HOST (NULL: the front-end) and PATH.
 */
static inline void
tm_check_nospace(struct cld_op *op, const struct cld_run *r, const char *host,
    const char *path)
{
	const char *e = r->errout != NULL ? r->errout : "";

	if (strstr(e, "No space left on device") == NULL &&
	    strstr(e, "Disk quota exceeded") == NULL &&
	    strstr(op->err->msg, "No space left on device") == NULL)
		return;
	cld_err_set(op->err, CLD_ENOSPC, "no space left on '%s' for '%s'",
	    host ? host : "the front-end", path);
}

/*
 * Run SCRIPT (a fixed text: never data) with sh -c on HOST; ARGS (NULL-
 * terminated, at most 8) become $1, $2, ... there.  Returns what svc->ssh
 * returns; a full disk becomes CLD_ENOSPC about PATH.
 */
static inline int
tm_host_sh(struct cld_op *op, const char *host, const char *path,
    const char *script, const char *const *args)
{
	const char *argv[12];
	struct cld_run r;
	size_t n = 0, i;
	int rc;

	argv[n++] = "sh";
	argv[n++] = "-c";
	argv[n++] = script;
	argv[n++] = "sh";
	for (i = 0; args[i] != NULL && n < 11; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	memset(&r, 0, sizeof(r));
	r.argv = argv;
	rc = op->drv->svc->ssh(op, host, &r);
	if (rc < 0)
		tm_check_nospace(op, &r, host, path);
	free(r.out);
	free(r.errout);
	return rc;
}

/*
 * An operation of its own for clean-up after a failure: at least
 * TM_CLEANUP_MS even when OP's deadline has passed, and deaf to OP's
 * cancellation (what it removes would otherwise stay).
 */
static inline void
tm_cleanup_op(const struct cld_op *op, struct cld_op *c, struct cld_err *err)
{
	int64_t min = tm_now_ms() + TM_CLEANUP_MS;

	*c = *op;
	c->core = NULL;
	c->err = err;
	if (c->deadline_ms > 0 && c->deadline_ms < min)
		c->deadline_ms = min;
	cld_err_clear(err);
}

/* A name for the VM in log lines; it may be absent. */
static inline const char *
tm_vm_name(const struct cld_vm_desc *vm)
{
	return vm != NULL && vm->name != NULL ? vm->name : "-";
}

/* Check FSTYPE for mkfs.FSTYPE: lower-case letters and digits. */
static inline int
tm_check_fstype(struct cld_op *op, const char *fstype)
{
	const char *c;

	if (fstype == NULL || fstype[0] == '\0' || strlen(fstype) > 16)
		goto bad;
	for (c = fstype; *c != '\0'; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')))
			goto bad;
	return 0;
bad:
	cld_err_set(op->err, CLD_EINVAL,
	    "file system type '%s' is not a word of lower-case letters and digits",
	    fstype ? fstype : "");
	return -1;
}

/*
 * Make a blank disk (FSTYPE "raw": no file system) or, SWAP non-zero, a
 * swap disk of SIZE_MB at DST on HOST: written to DST.part, then renamed.
 * SPARSE: truncate (every host sees holes right, e.g. on NFS), else
 * fallocate (the space is really there, or the host says it is full now).
 */
static inline int
tm_make_disk(struct cld_op *op, const char *host, const char *dst,
    uint64_t size_mb, const char *fstype, int swap, int sparse)
{
	static const char script[] =
	    "set -e\n"
	    "p=\"$1.part\"\n"
	    "mkdir -p -- \"${1%/*}\"\n"
	    "rm -f -- \"$p\"\n"
	    "trap 'rm -f -- \"$p\"' EXIT\n"
	    "if [ \"$4\" = sparse ]; then truncate -s \"$2\"M -- \"$p\";"
	    " else fallocate -l \"$2\"MiB -- \"$p\"; fi\n"
	    "case $3 in\n"
	    "swap) mkswap -- \"$p\" >/dev/null ;;\n"
	    "raw) ;;\n"
	    "*) \"mkfs.$3\" -q \"$p\" >/dev/null ;;\n"
	    "esac\n"
	    "mv -f -- \"$p\" \"$1\"\n"
	    "trap - EXIT\n";
	char size[32];
	const char *args[5];

	if (size_mb == 0 || size_mb > (1ull << 30)) {
		cld_err_set(op->err, CLD_EINVAL, "size %llu MiB is not from 1 to %llu",
		    (unsigned long long)size_mb, 1ull << 30);
		return -1;
	}
	if (!swap && tm_check_fstype(op, fstype) < 0)
		return -1;
	snprintf(size, sizeof(size), "%llu", (unsigned long long)size_mb);
	args[0] = dst;
	args[1] = size;
	args[2] = swap ? "swap" : fstype;
	args[3] = sparse ? "sparse" : "full";
	args[4] = NULL;
	return tm_host_sh(op, host, dst, script, args);
}

/* Remove PATH (a file or directory tree) on HOST; a path already gone succeeds. */
static inline int
tm_host_rm(struct cld_op *op, const char *host, const char *path)
{
	static const char script[] = "rm -rf -- \"$1\" \"$1.part\"";
	const char *args[2] = { path, NULL };

	return tm_host_sh(op, host, path, script, args);
}

/*
 * mkimage and mkswap, the same in both drivers but for SPARSE (a shared
 * store makes sparse files): check, log, make the disk.
 */
static inline int
tm_mkimage(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *datastore, const char *host, const char *dst,
    uint64_t size_mb, const char *fstype, unsigned int flags, int sparse)
{
	if (tm_check_flags(op, flags, 0) < 0 ||
	    tm_check_host_path(op, datastore, host, dst, "mkimage") < 0)
		return -1;
	op->drv->svc->log(op->drv, CLD_LOG_DEBUG,
	    "mkimage %" PRIu64 " MiB '%s' at '%s:%s' for '%s'", size_mb,
	    fstype ? fstype : "raw", host, dst, tm_vm_name(vm));
	return tm_make_disk(op, host, dst, size_mb, fstype ? fstype : "raw", 0,
	    sparse);
}

static inline int
tm_mkswap(struct cld_op *op, const struct cld_vm_desc *vm,
    const char *datastore, const char *host, const char *dst,
    uint64_t size_mb, unsigned int flags, int sparse)
{
	if (tm_check_flags(op, flags, 0) < 0 ||
	    tm_check_host_path(op, datastore, host, dst, "mkswap") < 0)
		return -1;
	op->drv->svc->log(op->drv, CLD_LOG_DEBUG,
	    "mkswap %" PRIu64 " MiB at '%s:%s' for '%s'", size_mb, host, dst,
	    tm_vm_name(vm));
	return tm_make_disk(op, host, dst, size_mb, NULL, 1, sparse);
}

#endif /* CLD_TM_COMMON_H */
