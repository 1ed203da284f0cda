/* Small helpers of the core: allocation that cannot fail, strings, time. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static void
oom(size_t n)
{
	fprintf(stderr, "cloudd: out of memory allocating %zu bytes\n", n);
	abort();
}

void *
cld_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void *
cld_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		oom(nmemb * size);
	return p;
}

void *
cld_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom(n);
	return q;
}

char *
cld_xstrdup(const char *s)
{
	return cld_xstrndup(s, strlen(s));
}

char *
cld_xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = cld_xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
cld_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(strlen(fmt));
	return p;
}

int64_t
cld_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
cld_time(void)
{
	return (int64_t)time(NULL);
}

char *
cld_read_file(const char *path, size_t *len, struct cld_err *err)
{
	char *buf = NULL;
	size_t cap = 0, n = 0;
	int fd = -1;
	struct stat st;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cld_err_sys(err, errno == ENOENT ? CLD_ENOENT : CLD_EIO, errno,
		    "cannot read '%s': %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		cld_err_sys(err, CLD_EIO, EISDIR, "cannot read '%s': %s", path,
		    strerror(EISDIR));
		goto fail;
	}
	cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	buf = cld_xmalloc(cap);
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			cap *= 2;
			buf = cld_xrealloc(buf, cap);
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			cld_err_sys(err, CLD_EIO, errno, "cannot read '%s': %s",
			    path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

int
cld_parse_i64(const char *s, int64_t *out)
{
	char *end = NULL;
	long long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

int
cld_parse_u64(const char *s, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

int
cld_parse_double(const char *s, double *out)
{
	char *end = NULL;
	double v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}
