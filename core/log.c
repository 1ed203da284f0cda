/* Logging to stderr or syslog, one write per line. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static const char *log_progname = "cloudd";
static int log_syslog;
static int log_verbosity = CLD_LOG_INFO;

void
cld_log_init(const char *progname, int to_syslog, int verbosity)
{
	log_progname = progname;
	log_syslog = to_syslog;
	log_verbosity = verbosity;
	if (to_syslog)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
cld_log_set_verbosity(int verbosity)
{
	log_verbosity = verbosity;
}

int
cld_log_get_verbosity(void)
{
	return log_verbosity;
}

void
cld_vlog(int level, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[2048];
	int n;

	if (level > log_verbosity)
		return;
	if (level < CLD_LOG_ERR)
		level = CLD_LOG_ERR;
	if (level > CLD_LOG_DEBUG)
		level = CLD_LOG_DEBUG;
	if (log_syslog) {
		vsyslog(prio[level], fmt, ap);
		return;
	}
	n = snprintf(line, sizeof(line), "%s: ", log_progname);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	/* One write so that lines from several threads do not interleave. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
}

void
cld_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cld_vlog(level, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	char buf[1536];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cld_log(CLD_LOG_WARN, "%s: %s", buf, strerror(saved));
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cld_vlog(CLD_LOG_WARN, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cld_vlog(CLD_LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cld_vlog(CLD_LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	char buf[1536];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cld_log(CLD_LOG_ERR, "fatal: %s: %s", buf, strerror(saved));
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	char buf[1536];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cld_log(CLD_LOG_ERR, "fatal: %s", buf);
	exit(1);
}
