#!/bin/sh
# Every man page passes mandoc's linter without a warning.
. "$top_srcdir/t/lib/test-lib.sh"

[ -n "${MANDOC:-}" ] && [ -x "$MANDOC" ] ||
	skip_all "mandoc is not installed (Debian: mandoc), the man pages cannot be checked"

for page in "$top_srcdir"/man/*.[1-9]; do
	test_expect "$(basename "$page") is clean under mandoc -Tlint" "
		test -s '$page' &&
		'$MANDOC' -Tlint -Wwarning '$page' >lint 2>&1;
		status=\$?; cat lint; test \$status -eq 0 && ! test -s lint
	"
done

test_done
