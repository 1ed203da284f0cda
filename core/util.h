/*
 * Small helpers of the core: allocation that cannot fail, strings, time.
 *
 * Inside the core, running out of memory is not handled: the x* functions
 * abort with a message instead (as redis and git do).  Drivers do not use
 * these; they get plain malloc.
 */
#ifndef CLD_UTIL_H
#define CLD_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <cloudd/error.h>

#define CLD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* malloc/calloc/realloc/strdup/strndup that abort on failure.  Free with free(). */
void *cld_xmalloc(size_t n);
void *cld_xcalloc(size_t nmemb, size_t size);
void *cld_xrealloc(void *p, size_t n);
char *cld_xstrdup(const char *s);
char *cld_xstrndup(const char *s, size_t n);
/* A malloc()ed formatted string; aborts on failure. */
char *cld_xasprintf(const char *fmt, ...) CLD_PRINTF(1, 2);

/* Milliseconds on CLOCK_MONOTONIC.  Any thread. */
int64_t cld_now_ms(void);
/* Seconds since the epoch (CLOCK_REALTIME).  Any thread. */
int64_t cld_time(void);

/*
 * Read a whole file into a malloc()ed, NUL-terminated buffer (*len excludes
 * the NUL).  Returns NULL with err ("cannot read '%s': %s") on failure.
 */
char *cld_read_file(const char *path, size_t *len, struct cld_err *err);

/*
 * Strict number parsing: the whole string must be the number.  Return 0, or
 * -1 (nothing is written to *out).
 */
int cld_parse_i64(const char *s, int64_t *out);
int cld_parse_u64(const char *s, uint64_t *out);
int cld_parse_double(const char *s, double *out);

#endif /* CLD_UTIL_H */
