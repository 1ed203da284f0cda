/*
 * Logging, after OpenBSD's log.c: single greppable lines to stderr or
 * syslog.  log_warn* append strerror(errno); fatal* exit and are for start-up
 * code only.  Safe from any thread (one write per line).
 */
#ifndef CLD_LOG_H
#define CLD_LOG_H

#include <stdarg.h>

#include <cloudd/driver.h>

/* Where lines go; to stderr until cld_log_init says otherwise. */
void cld_log_init(const char *progname, int to_syslog, int verbosity);
/* Lines of LEVEL (enum cld_log_level) and more severe are written. */
void cld_log_set_verbosity(int verbosity);
int cld_log_get_verbosity(void);

void cld_log(int level, const char *fmt, ...) CLD_PRINTF(2, 3);
void cld_vlog(int level, const char *fmt, va_list ap) CLD_PRINTF(2, 0);
void log_warn(const char *fmt, ...) CLD_PRINTF(1, 2);   /* ": strerror(errno)" appended */
void log_warnx(const char *fmt, ...) CLD_PRINTF(1, 2);
void log_info(const char *fmt, ...) CLD_PRINTF(1, 2);
void log_debug(const char *fmt, ...) CLD_PRINTF(1, 2);
_Noreturn void fatal(const char *fmt, ...) CLD_PRINTF(1, 2);
_Noreturn void fatalx(const char *fmt, ...) CLD_PRINTF(1, 2);

#endif /* CLD_LOG_H */
