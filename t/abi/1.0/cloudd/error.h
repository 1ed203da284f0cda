/*
 * cloudd driver SDK: error reports.
 *
 * A failing function returns -1 (or NULL) and describes the failure in a
 * caller-owned struct cld_err.  The report is a fixed-size buffer so that no
 * memory crosses the driver boundary for it.  Messages follow git's style:
 * lower case, no trailing period, subjects quoted ("cannot open '%s': %s").
 *
 * Everything here is header-only so that drivers, which never link against
 * the daemon, can use it too.
 */
#ifndef CLOUDD_ERROR_H
#define CLOUDD_ERROR_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CLD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLD_PRINTF(f, a)
#endif

/* Stable error codes; the API maps them to its error codes.  Append only. */
enum cld_errcode {
	CLD_EOK = 0,
	CLD_EINVAL = 1,    /* malformed or impossible input */
	CLD_ENOENT = 2,    /* no such object, file or module */
	CLD_EEXIST = 3,    /* object already exists */
	CLD_ENOTSUP = 4,   /* the driver does not implement the operation */
	CLD_ETIMEDOUT = 5, /* the deadline passed */
	CLD_ECANCELED = 6, /* the operation was cancelled */
	CLD_EDRIVER = 7,   /* a driver or the program it ran failed */
	CLD_EIO = 8,       /* a system call failed; sys_errno says which */
	CLD_ESTORE = 9,    /* the database failed or refused */
	CLD_ECONFIG = 10,  /* the configuration is wrong */
	CLD_EABI = 11,     /* a module was refused by the loader */
	CLD_EPERM = 12,    /* not allowed */
	CLD_EBUSY = 13,    /* in use; try again or act on what uses it */
	CLD_ENOSPC = 14,   /* no capacity left */
};

#define CLD_ERR_MSG_MAX 1024

struct cld_err {
	int code;        /* enum cld_errcode; CLD_EOK when nothing failed */
	int sys_errno;   /* errno of the failing system call, or 0 */
	const char *file; /* where the error was recorded, for debugging */
	int line;
	char msg[CLD_ERR_MSG_MAX];
};

/* Record an error; use the cld_err_set() and cld_err_sys() macros. */
static inline CLD_PRINTF(6, 7) void
cld_err_set_at(struct cld_err *err, const char *file, int line, int code,
    int sys_errno, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	err->code = code;
	err->sys_errno = sys_errno;
	err->file = file;
	err->line = line;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* Put context in front of an existing message: "loading 'x': <old message>". */
static inline CLD_PRINTF(2, 3) void
cld_err_prefix(struct cld_err *err, const char *fmt, ...)
{
	char head[CLD_ERR_MSG_MAX];
	size_t hlen, olen;
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	hlen = strlen(head);
	if (hlen > sizeof(err->msg) - 3)
		hlen = sizeof(err->msg) - 3;
	/* Shift the old message right, cutting its end if it no longer fits. */
	olen = strnlen(err->msg, sizeof(err->msg) - 1);
	if (hlen + 2 + olen > sizeof(err->msg) - 1)
		olen = sizeof(err->msg) - 1 - hlen - 2;
	memmove(err->msg + hlen + 2, err->msg, olen);
	memcpy(err->msg, head, hlen);
	err->msg[hlen] = ':';
	err->msg[hlen + 1] = ' ';
	err->msg[hlen + 2 + olen] = '\0';
}

static inline void
cld_err_clear(struct cld_err *err)
{
	if (err == NULL)
		return;
	err->code = CLD_EOK;
	err->sys_errno = 0;
	err->file = NULL;
	err->line = 0;
	err->msg[0] = '\0';
}

#define cld_err_set(err, code, ...) \
	cld_err_set_at((err), __FILE__, __LINE__, (code), 0, __VA_ARGS__)
#define cld_err_sys(err, code, errnum, ...) \
	cld_err_set_at((err), __FILE__, __LINE__, (code), (errnum), __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif /* CLOUDD_ERROR_H */
