/* A small TAP producer for the C unit tests. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static int tap_count;
static int tap_failed;

static int
report(int cond, const char *file, int line, const char *fmt, va_list ap)
{
	tap_count++;
	printf("%sok %d - ", cond ? "" : "not ", tap_count);
	vprintf(fmt, ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return cond;
}

int
ok_at(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(cond, file, line, fmt, ap);
	va_end(ap);
	return cond;
}

int
is_str_at(const char *got, const char *want, const char *file, int line,
    const char *fmt, ...)
{
	va_list ap;
	int cond = (got == NULL && want == NULL) ||
	    (got != NULL && want != NULL && strcmp(got, want) == 0);

	va_start(ap, fmt);
	report(cond, file, line, fmt, ap);
	va_end(ap);
	if (!cond) {
		printf("#        got: '%s'\n", got ? got : "(null)");
		printf("#   expected: '%s'\n", want ? want : "(null)");
	}
	return cond;
}

int
is_int_at(long long got, long long want, const char *file, int line,
    const char *fmt, ...)
{
	va_list ap;
	int cond = got == want;

	va_start(ap, fmt);
	report(cond, file, line, fmt, ap);
	va_end(ap);
	if (!cond)
		printf("#        got: %lld\n#   expected: %lld\n", got, want);
	return cond;
}

void
diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void
skip_all(const char *fmt, ...)
{
	va_list ap;

	printf("1..0 # SKIP ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(77);
}

int
done_testing(void)
{
	printf("1..%d\n", tap_count);
	if (tap_count == 0) {
		printf("# no test ran\n");
		return 1;
	}
	if (tap_failed)
		printf("# %d of %d failed\n", tap_failed, tap_count);
	return tap_failed ? 1 : 0;
}
