/*
 * Tables whose columns line up, their widths taken from the data, and the
 * figures cloudctl shows in them.
 */
#ifndef CLD_TABLE_H
#define CLD_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cloudd/error.h>

struct cld_table;

/*
 * A table of NCOLS columns named HEADERS (not copied: they must outlive the
 * table); ALIGN has one letter a column, 'l' or 'r'.
 */
struct cld_table *cld_table_new(size_t ncols, const char *const *headers,
    const char *align);
/* NULL ok. */
void cld_table_free(struct cld_table *t);
/* Append the next cell, row after row. */
void cld_table_cell(struct cld_table *t, const char *fmt, ...) CLD_PRINTF(2, 3);
/*
 * Print the header and the complete rows to FP, columns two spaces apart,
 * no trailing blanks.
 */
void cld_table_print(const struct cld_table *t, FILE *fp);

/* KiB the way tables show memory: 16.0G, 512M, 800K. */
void cld_fmt_kib(char *buf, size_t len, double kib);
/* A span of seconds as "d hh:mm:ss": "3d 04:05:06"; "-" if negative. */
void cld_fmt_span(char *buf, size_t len, int64_t secs);
/* An epoch as local "YYYY-mm-dd HH:MM:SS"; "-" for 0. */
void cld_fmt_time(char *buf, size_t len, int64_t epoch);

#endif /* CLD_TABLE_H */
