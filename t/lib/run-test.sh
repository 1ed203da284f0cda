#!/bin/sh
# Runs one test for automake's TAP driver: a C unit test (an ELF program,
# under $CLD_VALGRIND when "make check-valgrind" set it) or a shell test.
t=$1
shift
if [ "$(head -c 4 "$t" | od -An -c | tr -d ' ')" = '177ELF' ]; then
	exec $CLD_VALGRIND "$t" "$@"
fi
exec ${SHELL:-/bin/sh} "$t" "$@"
