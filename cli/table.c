/*
 * Tables that line up, and the figures shown in them.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "table.h"
#include "util.h"

#define TABLE_GAP 2

struct cld_table {
	size_t ncols;
	const char *const *headers;
	const char *align;
	char **cells;
	size_t ncells, cap;
};

struct cld_table *
cld_table_new(size_t ncols, const char *const *headers, const char *align)
{
	struct cld_table *t = cld_xcalloc(1, sizeof(*t));

	t->ncols = ncols;
	t->headers = headers;
	t->align = align;
	return t;
}

void
cld_table_free(struct cld_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

void
cld_table_cell(struct cld_table *t, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	if (t->ncells == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->cells = cld_xrealloc(t->cells, t->cap * sizeof(*t->cells));
	}
	t->cells[t->ncells++] = s;
}

/* Display width: UTF-8 code points (continuation bytes do not count). */
static size_t
width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

static void
print_row(const struct cld_table *t, const size_t *w, const char *const *row,
    FILE *fp)
{
	size_t last = t->ncols - 1;

	for (size_t c = 0; c < t->ncols; c++) {
		size_t pad = w[c] - width(row[c]);
		int right = t->align[c] == 'r';

		if (right)
			fprintf(fp, "%*s", (int)pad, "");
		fputs(row[c], fp);
		if (c == last)
			break;
		fprintf(fp, "%*s", (int)((right ? 0 : pad) + TABLE_GAP), "");
	}
	fputc('\n', fp);
}

void
cld_table_print(const struct cld_table *t, FILE *fp)
{
	size_t rows = t->ncells / t->ncols;
	size_t *w = cld_xcalloc(t->ncols, sizeof(*w));

	for (size_t c = 0; c < t->ncols; c++)
		w[c] = width(t->headers[c]);
	for (size_t i = 0; i < rows * t->ncols; i++) {
		size_t cw = width(t->cells[i]);

		if (cw > w[i % t->ncols])
			w[i % t->ncols] = cw;
	}
	print_row(t, w, t->headers, fp);
	for (size_t r = 0; r < rows; r++)
		print_row(t, w, (const char *const *)t->cells + r * t->ncols, fp);
	free(w);
}

void
cld_fmt_kib(char *buf, size_t len, double kib)
{
	if (kib >= 1024.0 * 1024.0)
		snprintf(buf, len, "%.1fG", kib / (1024.0 * 1024.0));
	else if (kib >= 1024.0)
		snprintf(buf, len, "%.0fM", kib / 1024.0);
	else
		snprintf(buf, len, "%.0fK", kib);
}

void
cld_fmt_span(char *buf, size_t len, int64_t secs)
{
	if (secs < 0) {
		snprintf(buf, len, "-");
		return;
	}
	snprintf(buf, len, "%" PRId64 "d %02d:%02d:%02d", secs / 86400,
	    (int)(secs / 3600 % 24), (int)(secs / 60 % 60), (int)(secs % 60));
}

void
cld_fmt_time(char *buf, size_t len, int64_t epoch)
{
	time_t t = (time_t)epoch;
	struct tm tm;

	if (epoch <= 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "-");
}
