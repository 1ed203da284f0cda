/*
 * xlcheck: check Xen domain configurations with Xen's own parser
 * (libxlutil), as "xl create" would read them.
 *
 *   xlcheck [-m] [-s] FILE...
 *
 * -m reads them as xm configurations (the part of xm's Python that
 * libxlutil reads too); -s prints, for the stub xl and xm of the tests,
 * the settings they need, one "key value" a line.  Problems are written
 * on standard error as xl writes them, libxlutil's with the file's name
 * and the line.  Exits 0 if every file passes, 1 if one does not, 2 on
 * bad usage or a file that cannot be read.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xlcheck.h"

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL, *t;
	size_t cap = 0, n = 0, got;

	if (f == NULL)
		return NULL;
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 8192;
			if ((t = realloc(buf, cap)) == NULL) {
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = t;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	if (ferror(f)) {
		free(buf);
		fclose(f);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

int
main(int argc, char **argv)
{
	int ch, xm = 0, summary = 0, rc = 0;

	while ((ch = getopt(argc, argv, "ms")) != -1) {
		switch (ch) {
		case 'm':
			xm = 1;
			break;
		case 's':
			summary = 1;
			break;
		default:
			goto usage;
		}
	}
	if (optind >= argc)
		goto usage;
	for (; optind < argc; optind++) {
		size_t len = 0;
		char *text = slurp(argv[optind], &len);

		if (text == NULL) {
			fprintf(stderr, "%s: unable to open configuration file: %s\n",
			    argv[optind], strerror(errno));
			return 2;
		}
		if (xlcheck(argv[optind], text, len, xm, stderr,
		    summary ? stdout : NULL) < 0)
			rc = 1;
		free(text);
	}
	return rc;
usage:
	fprintf(stderr, "usage: xlcheck [-m] [-s] FILE...\n");
	return 2;
}
