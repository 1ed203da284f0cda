#!/bin/sh
# cloudctl's bash completion (etc/completion/cloudctl), sourced in bash as
# bash-completion would: the words it offers at a few places of a command
# line, and, for every object and verb, the same verbs and options as
# cloudctl's own --help, so that the two cannot drift apart.
. "$top_srcdir/t/lib/test-lib.sh"
command -v bash >/dev/null || skip_all "bash is not installed"

COMP="$top_srcdir/etc/completion/cloudctl"

# What the completion offers for a command line whose words are the
# arguments, the cursor at the end of the last one ('' for a new word):
# sorted, one a line.
offers() {
	bash -c '
		. "$1" || exit 1
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		_cloudctl || exit 1
		for w in "${COMPREPLY[@]}"; do printf "%s\n" "$w"; done | sort
	' sh "$COMP" "$@"
}

# The words, sorted, one a line.
words() {
	printf '%s\n' "$@" | sort
}

test_expect 'the completion is registered for cloudctl' '
	bash -c ". \"$COMP\" && complete -p cloudctl" >out &&
	test_grep out "complete -F _cloudctl cloudctl"
'

test_expect 'first word: the objects' '
	offers cloudctl "" >out && words cluster help host vm vnet >exp && test_cmp exp out &&
	offers cloudctl h >out && words help host >exp && test_cmp exp out
'

test_expect 'first word starting with -: the global options' '
	offers cloudctl - >out &&
	words -s --socket --json -h --help --version >exp && test_cmp exp out
'

test_expect 'global options and their values are skipped to find the object' '
	offers cloudctl -s /run/x.sock --json vm li >out &&
	words list >exp && test_cmp exp out
'

test_expect 'a verb'"'"'s options, with --json and --help' '
	offers cloudctl vm reboot --h >out && words --hard --help >exp && test_cmp exp out &&
	offers cloudctl host create node1 --c >out && words --cluster >exp && test_cmp exp out
'

test_expect '--state offers the VM states' '
	offers cloudctl vm list --state R >out && words RUNNING >exp && test_cmp exp out &&
	offers cloudctl vm list --state = S >out && words SHUTDOWN STOPPED SUSPENDED >exp &&
	test_cmp exp out
'

test_expect 'vm create completes file names, and - for standard input' '
	mkdir tmpls && : >tmpls/web.tmpl && : >tmpls/db.tmpl &&
	offers cloudctl vm create tmpls/w >out && words tmpls/web.tmpl >exp && test_cmp exp out &&
	(cd tmpls && offers cloudctl vm create "") >out && words - db.tmpl web.tmpl >exp &&
	test_cmp exp out
'

test_expect 'no made-up values: ids and driver names are not offered' '
	offers cloudctl vm show "" >out && test ! -s out &&
	offers cloudctl host create node1 --im "" >out && test ! -s out
'

test_expect 'the socket after -s is a file name' '
	: >my.sock && offers cloudctl -s my >out && words my.sock >exp && test_cmp exp out
'

# The objects, verbs and options cloudctl's --help lists.
help_objects() {
	"$CLOUDCTL" --help | sed -n '/^objects:/,/^$/p' | sed -n 's/^  \([a-z][a-z]*\)  .*/\1/p'
}
help_verbs() {
	"$CLOUDCTL" "$1" --help | sed -n '/^verbs:/,/^$/p' | sed -n 's/^  \([a-z][a-z]*\).*/\1/p'
}
help_options() {
	"$CLOUDCTL" "$1" "$2" --help | sed -n '/^options:/,/^$/p' |
	    grep -oE '^  -[-a-z]+(, --[-a-z]+)?' | sed 's/^ *//; s/, /\n/'
}

test_expect 'the objects are those of cloudctl --help' '
	help_objects | sort >exp && test -s exp &&
	offers cloudctl "" | grep -vx help >out && test_cmp exp out
'

for object in $(help_objects); do
	test_expect "the $object verbs are those of cloudctl $object --help" "
		help_verbs $object | sort >exp && test -s exp &&
		offers cloudctl $object '' | grep -vx help >out && test_cmp exp out
	"
	for verb in $(help_verbs "$object"); do
		test_expect "the options of $object $verb are those of its --help" "
			help_options $object $verb | sort >exp && test -s exp &&
			offers cloudctl $object $verb - >out && test_cmp exp out
		"
	done
done

test_done
