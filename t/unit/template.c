/*
 * The template language: a table of valid inputs with their exact printed
 * form (which must parse back to an equal tree), a table of invalid inputs
 * with their exact error messages, then the builders, large and odd inputs,
 * and parsing files.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "template.h"
#include "util.h"

/* A valid input and exactly how it prints. */
struct valid_case {
	const char *what;
	const char *in;
	const char *out;
};

static const struct valid_case valid[] = {
	{ "empty input", "", "" },
	{ "blank lines", "\n\n  \n\t\n", "" },
	{ "only a comment", "# nothing here\n", "" },
	{ "comment without newline", "# x", "" },
	{ "single, no newline", "CPU = 2", "CPU = \"2\"\n" },
	{ "single", "CPU = 2\n", "CPU = \"2\"\n" },
	{ "name lower case", "cpu = 2\n", "CPU = \"2\"\n" },
	{ "name mixed case", "Cpu_Count = 2\n", "CPU_COUNT = \"2\"\n" },
	{ "name starting with '_'", "_X = 1\n", "_X = \"1\"\n" },
	{ "name with digits", "a1_b2 = x\n", "A1_B2 = \"x\"\n" },
	{ "long name", "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789 = 1",
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789 = \"1\"\n" },
	{ "no spaces", "CPU=2", "CPU = \"2\"\n" },
	{ "tabs and spaces", "  \tCPU\t=\t2  \t\n", "CPU = \"2\"\n" },
	{ "quoted", "NAME = \"web server\"\n", "NAME = \"web server\"\n" },
	{ "quoted empty", "A = \"\"\n", "A = \"\"\n" },
	{ "unquoted punctuation", "PATH = /var/lib/one:x;y/a-b.c+d",
	    "PATH = \"/var/lib/one:x;y/a-b.c+d\"\n" },
	{ "unquoted single quote", "A = it's\n", "A = \"it's\"\n" },
	{ "unquoted number", "A = -1.5e3\n", "A = \"-1.5e3\"\n" },
	{ "unquoted backslash is literal", "A = a\\b\n", "A = \"a\\\\b\"\n" },
	{ "unquoted UTF-8", "CITY = Z\xc3\xbcrich\n",
	    "CITY = \"Z\xc3\xbcrich\"\n" },
	{ "quoted 4-byte UTF-8", "A = \"\xf0\x9f\x98\x80 ok\"",
	    "A = \"\xf0\x9f\x98\x80 ok\"\n" },
	{ "escape \\\"", "A = \"say \\\"hi\\\"\"", "A = \"say \\\"hi\\\"\"\n" },
	{ "escape \\\\", "A = \"C:\\\\dir\"", "A = \"C:\\\\dir\"\n" },
	{ "escape \\n", "A = \"a\\nb\"", "A = \"a\\nb\"\n" },
	{ "escape \\t", "A = \"a\\tb\"", "A = \"a\\tb\"\n" },
	{ "all escapes", "A = \"\\\"\\\\\\n\\t\"", "A = \"\\\"\\\\\\n\\t\"\n" },
	{ "quoted '#' is not a comment", "A = \"a # b\" # c",
	    "A = \"a # b\"\n" },
	{ "quoted specials", "A = \"x = [1, 2]\"", "A = \"x = [1, 2]\"\n" },
	{ "quoted newline spans lines", "A = \"line1\nline2\"\nB = 1",
	    "A = \"line1\\nline2\"\nB = \"1\"\n" },
	{ "quoted raw tab", "A = \"a\tb\"", "A = \"a\\tb\"\n" },
	{ "quoted control character", "A = \"\x01\"", "A = \"\x01\"\n" },
	{ "comment after value", "A = 1 # c\n", "A = \"1\"\n" },
	{ "comment touching value", "A = 1#c\n", "A = \"1\"\n" },
	{ "comment after quoted value", "A = \"x\"# c\n", "A = \"x\"\n" },
	{ "comment with UTF-8", "# h\xc3\xa9llo\nA = 1", "A = \"1\"\n" },
	{ "comments between", "# a\nA = 1\n  # b\n\nB = 2 # c\n# d",
	    "A = \"1\"\nB = \"2\"\n" },
	{ "order kept", "B = 1\nA = 2\nC = 3\n",
	    "B = \"1\"\nA = \"2\"\nC = \"3\"\n" },
	{ "repeats kept", "A = 1\na = 2\nA = 3\n",
	    "A = \"1\"\nA = \"2\"\nA = \"3\"\n" },
	{ "vector", "DISK = [ IMAGE = \"debian\", TARGET = \"xvda\" ]",
	    "DISK = [\n  IMAGE = \"debian\",\n  TARGET = \"xvda\" ]\n" },
	{ "vector without spaces", "DISK=[A=1,B=2]",
	    "DISK = [\n  A = \"1\",\n  B = \"2\" ]\n" },
	{ "vector of one", "NIC = [ NETWORK = pub ]\n",
	    "NIC = [\n  NETWORK = \"pub\" ]\n" },
	{ "vector, newlines everywhere",
	    "DISK = [\n  IMAGE\n  =\n  debian\n  ,\n TARGET = xvda\n]\n",
	    "DISK = [\n  IMAGE = \"debian\",\n  TARGET = \"xvda\" ]\n" },
	{ "vector, trailing comma", "DISK = [ A = 1, ]",
	    "DISK = [\n  A = \"1\" ]\n" },
	{ "vector, trailing comma and newline", "DISK = [\n A = 1,\n]\n",
	    "DISK = [\n  A = \"1\" ]\n" },
	{ "vector, comments inside",
	    "DISK = [ # c1\n A = 1, # c2\n # c3\n B = 2 # c4\n ] # c5\n",
	    "DISK = [\n  A = \"1\",\n  B = \"2\" ]\n" },
	{ "vector, lower case names", "disk = [ image = x ]",
	    "DISK = [\n  IMAGE = \"x\" ]\n" },
	{ "vector, quoted specials", "D = [ A = \"]\", B = \",\", C = \"[\" ]",
	    "D = [\n  A = \"]\",\n  B = \",\",\n  C = \"[\" ]\n" },
	{ "vector, quoted value spans lines", "D = [ A = \"x\ny\" ]",
	    "D = [\n  A = \"x\\ny\" ]\n" },
	{ "vector, repeated names inside", "NIC = [ IP = 1, IP = 2 ]",
	    "NIC = [\n  IP = \"1\",\n  IP = \"2\" ]\n" },
	{ "vectors repeat", "DISK = [A=1]\nDISK = [A=2]\n",
	    "DISK = [\n  A = \"1\" ]\nDISK = [\n  A = \"2\" ]\n" },
	{ "single and vector share a name", "DISK = 1\nDISK = [ A = 2 ]\n",
	    "DISK = \"1\"\nDISK = [\n  A = \"2\" ]\n" },
	{ "mixed", "CPU = 1\nDISK = [ A = 1 ]\nMEMORY = 512\n",
	    "CPU = \"1\"\nDISK = [\n  A = \"1\" ]\nMEMORY = \"512\"\n" },
	{ "CRLF", "A = 1\r\nB = \"x\"\r\n", "A = \"1\"\nB = \"x\"\n" },
	{ "CRLF in a vector", "D = [\r\n A = 1,\r\n B = 2\r\n]\r\n",
	    "D = [\n  A = \"1\",\n  B = \"2\" ]\n" },
	{ "CRLF after comments", "# c\r\nA = 1 # x\r\n\r\n", "A = \"1\"\n" },
	{ "CRLF kept inside quotes", "A = \"x\r\ny\"", "A = \"x\r\\ny\"\n" },
	{ "lone CR is a blank", "A = 1\r", "A = \"1\"\n" },
	{ "byte order mark ignored", "\xef\xbb\xbf" "A = 1\r\n", "A = \"1\"\n" },
	{ "many blank lines", "A = 1\n\n\nB = 2\n   \n",
	    "A = \"1\"\nB = \"2\"\n" },
	{ "monitoring report",
	    "HOSTNAME=node1\nTOTALCPU=800\nFREECPU=350.5\nHYPERVISOR=xen\n"
	    "ARCH=x86_64\nVM=[ID=4,STATE=a]\nVM=[ID=7,STATE=a]\n",
	    "HOSTNAME = \"node1\"\nTOTALCPU = \"800\"\nFREECPU = \"350.5\"\n"
	    "HYPERVISOR = \"xen\"\nARCH = \"x86_64\"\n"
	    "VM = [\n  ID = \"4\",\n  STATE = \"a\" ]\n"
	    "VM = [\n  ID = \"7\",\n  STATE = \"a\" ]\n" },
};

struct invalid_case {
	const char *what;
	const char *in;
	size_t len; /* 0: strlen(in) */
	const char *msg;
};

static const struct invalid_case invalid[] = {
	{ "stray '='", "= 5", 0,
	    "line 1, column 1: expected an attribute name, found '='" },
	{ "stray '=' after a blank", " = 2", 0,
	    "line 1, column 2: expected an attribute name, found '='" },
	{ "name starting with a digit", "1CPU = 2", 0,
	    "line 1, column 1: expected an attribute name, found '1'" },
	{ "name starting with a quote", "A = 1\n\"x\" = 2", 0,
	    "line 2, column 1: expected an attribute name, found '\"'" },
	{ "non-ASCII name", "\xc3\xa9 = 1", 0,
	    "line 1, column 1: expected an attribute name, found '\xc3\xa9'" },
	{ "stray ']'", "]", 0,
	    "line 1, column 1: expected an attribute name, found ']'" },
	{ "stray '['", "[ A = 1 ]", 0,
	    "line 1, column 1: expected an attribute name, found '['" },
	{ "control character", "\x01" "A = 1", 0,
	    "line 1, column 1: expected an attribute name, found control "
	    "character U+0001" },
	{ "missing '='", "CPU 4", 0, "line 1, column 5: expected '=' after 'CPU'" },
	{ "missing '=' on line 3", "\n\n  CPU 4", 0,
	    "line 3, column 7: expected '=' after 'CPU'" },
	{ "missing '=' at end", "A = 1\nB", 0,
	    "line 2, column 2: expected '=' after 'B'" },
	{ "'=' on the next line", "A\n= 1", 0,
	    "line 1, column 2: expected '=' after 'A'" },
	{ "'-' in a name", "A-B = 1", 0, "line 1, column 2: expected '=' after 'A'" },
	{ "'.' in a name", "A.B = 1", 0, "line 1, column 2: expected '=' after 'A'" },
	{ "byte order mark takes no column", "\xef\xbb\xbf" "A 1", 0,
	    "line 1, column 3: expected '=' after 'A'" },
	{ "byte order mark only at the start", "A = 1\n\xef\xbb\xbf" "B = 2", 0,
	    "line 2, column 1: expected an attribute name, found '\xef\xbb\xbf'" },
	{ "tab counts one column", "\tA 1", 0,
	    "line 1, column 4: expected '=' after 'A'" },
	{ "long name is cut in messages",
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA x",
	    0, "line 1, column 70: expected '=' after "
	    "'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA...'" },
	{ "missing value at end", "CPU =", 0,
	    "line 1, column 6: expected a value for 'CPU'" },
	{ "missing value at end of line", "CPU = \nX = 1", 0,
	    "line 1, column 7: expected a value for 'CPU'" },
	{ "value on the next line", "A =\n1", 0,
	    "line 1, column 4: expected a value for 'A'" },
	{ "missing value before comment", "CPU = # c", 0,
	    "line 1, column 7: expected a value for 'CPU'" },
	{ "']' as value", "CPU = ]", 0,
	    "line 1, column 7: expected a value for 'CPU'" },
	{ "'=' as value", "A == 1", 0,
	    "line 1, column 4: expected a value for 'A'" },
	{ "two attributes on one line", "A = 1 B = 2", 0,
	    "line 1, column 7: expected end of line after the value of 'A'" },
	{ "unquoted value with a space", "A = hello world", 0,
	    "line 1, column 11: expected end of line after the value of 'A'" },
	{ "text after a quoted value", "A = \"x\" y", 0,
	    "line 1, column 9: expected end of line after the value of 'A'" },
	{ "quote after an unquoted value", "a = x\"y\"", 0,
	    "line 1, column 6: expected end of line after the value of 'a'" },
	{ "second '='", "A = 1 = 2", 0,
	    "line 1, column 7: expected end of line after the value of 'A'" },
	{ "comma at top level", "A = 1,2", 0,
	    "line 1, column 6: expected end of line after the value of 'A'" },
	{ "text after a vector", "DISK = [ A = 1 ] x", 0,
	    "line 1, column 18: expected end of line after the value of 'DISK'" },
	{ "unterminated quote", "NAME = \"a", 0,
	    "line 1, column 10: unterminated quoted string (opened at line 1, "
	    "column 8)" },
	{ "unterminated quote over lines", "A = \"abc\ndef", 0,
	    "line 2, column 4: unterminated quoted string (opened at line 1, "
	    "column 5)" },
	{ "unterminated quote, backslash last", "A = \"abc\\", 0,
	    "line 1, column 10: unterminated quoted string (opened at line 1, "
	    "column 5)" },
	{ "unterminated quote, escaped quote last", "A = \"abc\\\"", 0,
	    "line 1, column 11: unterminated quoted string (opened at line 1, "
	    "column 5)" },
	{ "invalid escape \\q", "A = \"\\q\"", 0,
	    "line 1, column 6: invalid escape '\\q'" },
	{ "invalid escape \\r", "A = \"ab\\r\"", 0,
	    "line 1, column 8: invalid escape '\\r'" },
	{ "invalid escape \\'", "A = \"\\'\"", 0,
	    "line 1, column 6: invalid escape '\\''" },
	{ "invalid escape of UTF-8", "A = \"\\\xc3\xa9\"", 0,
	    "line 1, column 6: invalid escape '\\\xc3\xa9'" },
	{ "invalid escape at end of line", "A = \"\\\nx\"", 0,
	    "line 1, column 6: invalid escape: '\\' followed by end of line" },
	{ "unterminated vector", "DISK = [ A = 1\n", 0,
	    "line 2, column 1: unterminated vector 'DISK' (opened at line 1, "
	    "column 8)" },
	{ "unterminated vector after '['", "DISK = [", 0,
	    "line 1, column 9: unterminated vector 'DISK' (opened at line 1, "
	    "column 8)" },
	{ "unterminated vector after a name", "DISK = [ A", 0,
	    "line 1, column 11: unterminated vector 'DISK' (opened at line 1, "
	    "column 8)" },
	{ "unterminated vector after '='", "DISK = [ A =", 0,
	    "line 1, column 13: unterminated vector 'DISK' (opened at line 1, "
	    "column 8)" },
	{ "unterminated vector after ','", "DISK = [ A = 1,", 0,
	    "line 1, column 16: unterminated vector 'DISK' (opened at line 1, "
	    "column 8)" },
	{ "unterminated vector, CRLF", "X = 1\r\nD = [\r\n A = 1\r\n", 0,
	    "line 4, column 1: unterminated vector 'D' (opened at line 2, "
	    "column 5)" },
	{ "unterminated quote in a vector", "DISK = [ A = \"x ]", 0,
	    "line 1, column 18: unterminated quoted string (opened at line 1, "
	    "column 14)" },
	{ "empty vector", "DISK = [ ]", 0, "line 1, column 8: empty vector 'DISK'" },
	{ "empty vector over lines", "DISK = [\n]", 0,
	    "line 1, column 8: empty vector 'DISK'" },
	{ "empty vector with a comment", "DISK = [ # nothing\n ]", 0,
	    "line 1, column 8: empty vector 'DISK'" },
	{ "nested vector", "DISK = [ A = [ B = 1 ] ]", 0,
	    "line 1, column 14: nested vectors are not allowed" },
	{ "nested vector on a new line", "DISK = [ A =\n [ B = 1 ] ]", 0,
	    "line 2, column 2: nested vectors are not allowed" },
	{ "missing comma in a vector", "DISK = [ A = 1 B = 2 ]", 0,
	    "line 1, column 16: expected ',' or ']' after the value of 'A'" },
	{ "newline does not separate in a vector", "DISK = [\nA = 1\nB = 2\n]",
	    0, "line 3, column 1: expected ',' or ']' after the value of 'A'" },
	{ "'[' after a value in a vector", "DISK = [ A = 1 [", 0,
	    "line 1, column 16: expected ',' or ']' after the value of 'A'" },
	{ "leading comma in a vector", "DISK = [ , ]", 0,
	    "line 1, column 10: expected an attribute name in vector 'DISK', "
	    "found ','" },
	{ "double comma in a vector", "DISK = [ A = 1,, ]", 0,
	    "line 1, column 16: expected an attribute name in vector 'DISK', "
	    "found ','" },
	{ "digit name in a vector", "DISK = [ 1A = 2 ]", 0,
	    "line 1, column 10: expected an attribute name in vector 'DISK', "
	    "found '1'" },
	{ "missing '=' in a vector", "DISK = [ A ]", 0,
	    "line 1, column 12: expected '=' after 'A'" },
	{ "missing value in a vector", "DISK = [ A = ]", 0,
	    "line 1, column 14: expected a value for 'A'" },
	{ "missing value before ',' in a vector", "DISK = [ A = , B = 1 ]", 0,
	    "line 1, column 14: expected a value for 'A'" },
	{ "first error wins", "A 1\nB 2", 0,
	    "line 1, column 3: expected '=' after 'A'" },
	{ "error line after CRLF", "A = 1\r\nB = 2\r\nC 3", 0,
	    "line 3, column 3: expected '=' after 'C'" },
	{ "NUL in a value", "A = ab\0cd", 9, "line 1, column 7: unexpected NUL byte" },
	{ "NUL in a quoted value", "A = \"a\0b\"", 9,
	    "line 1, column 7: unexpected NUL byte" },
	{ "NUL in a comment", "# a\0\nA = 1", 11,
	    "line 1, column 4: unexpected NUL byte" },
	{ "NUL at the start", "\0A = 1", 6, "line 1, column 1: unexpected NUL byte" },
	{ "NUL after a name", "A\0 = 1", 6, "line 1, column 2: unexpected NUL byte" },
	{ "NUL at the end", "A = 1\n\0", 7, "line 2, column 1: unexpected NUL byte" },
	{ "lone continuation byte", "A = \x80", 0,
	    "line 1, column 5: invalid UTF-8: unexpected continuation byte 0x80" },
	{ "truncated sequence in quotes", "A = \"\xc3\"", 0,
	    "line 1, column 6: invalid UTF-8: truncated sequence starting with "
	    "byte 0xC3" },
	{ "truncated sequence at end", "A = x\xe2\x82", 0,
	    "line 1, column 6: invalid UTF-8: truncated sequence starting with "
	    "byte 0xE2" },
	{ "overlong 2-byte", "A = \xc0\xaf", 0,
	    "line 1, column 5: invalid UTF-8: overlong encoding starting with "
	    "byte 0xC0" },
	{ "overlong 3-byte", "A = \xe0\x80\xaf", 0,
	    "line 1, column 5: invalid UTF-8: overlong encoding starting with "
	    "byte 0xE0" },
	{ "overlong 4-byte", "A = \xf0\x80\x80\xaf", 0,
	    "line 1, column 5: invalid UTF-8: overlong encoding starting with "
	    "byte 0xF0" },
	{ "surrogate", "A = \xed\xa0\x80", 0,
	    "line 1, column 5: invalid UTF-8: surrogate code point starting "
	    "with byte 0xED" },
	{ "above U+10FFFF", "A = \xf4\x90\x80\x80", 0,
	    "line 1, column 5: invalid UTF-8: code point above U+10FFFF "
	    "starting with byte 0xF4" },
	{ "byte 0xFF", "A = \xff", 0,
	    "line 1, column 5: invalid UTF-8: byte 0xFF never occurs in UTF-8" },
	{ "invalid UTF-8 in a comment", "# \xfe\nA = 1", 0,
	    "line 1, column 3: invalid UTF-8: byte 0xFE never occurs in UTF-8" },
	{ "invalid UTF-8 as a name", "\x80 = 1", 0,
	    "line 1, column 1: invalid UTF-8: unexpected continuation byte 0x80" },
	{ "invalid UTF-8 after a value", "A = \"x\"\xc3", 0,
	    "line 1, column 8: invalid UTF-8: truncated sequence starting with "
	    "byte 0xC3" },
	{ "columns count characters", "A = \"\xc3\xa9\xc3\xa9\xc3\xa9\xff\"", 0,
	    "line 1, column 9: invalid UTF-8: byte 0xFF never occurs in UTF-8" },
	{ "columns count characters before an error",
	    "A = \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 x", 0,
	    "line 1, column 9: expected end of line after the value of 'A'" },
};

/* Parse IN, returning the printed form or NULL (then *MSG is the error). */
static char *
parse_print(const char *in, size_t len, struct cld_tmpl *t, struct cld_err *err)
{
	cld_err_clear(err);
	if (cld_tmpl_parse(in, len, t, err) < 0)
		return NULL;
	return cld_tmpl_print(t);
}

static void
test_valid(void)
{
	size_t i;

	for (i = 0; i < CLD_ARRAY_SIZE(valid); i++) {
		const struct valid_case *c = &valid[i];
		struct cld_tmpl t = { 0 }, back = { 0 };
		struct cld_err err;
		char *out = NULL, *again = NULL;

		out = parse_print(c->in, strlen(c->in), &t, &err);
		if (out == NULL)
			diag("unexpected error: %s", err.msg);
		is_str(out, c->out, "valid: %s: printed", c->what);
		if (out != NULL) {
			again = parse_print(out, strlen(out), &back, &err);
			ok(again != NULL && cld_tmpl_equal(&t, &back) &&
			    strcmp(again, out) == 0,
			    "valid: %s: round trip", c->what);
		}
		free(out);
		free(again);
		cld_tmpl_release(&t);
		cld_tmpl_release(&back);
	}
}

static void
test_invalid(void)
{
	size_t i;

	for (i = 0; i < CLD_ARRAY_SIZE(invalid); i++) {
		const struct invalid_case *c = &invalid[i];
		struct cld_tmpl t = { 0 };
		struct cld_err err;
		int rc;

		cld_err_clear(&err);
		rc = cld_tmpl_parse(c->in, c->len ? c->len : strlen(c->in), &t,
		    &err);
		is_str(rc == 0 ? "(parsed)" : err.msg, c->msg, "invalid: %s",
		    c->what);
		ok(rc == -1 && err.code == CLD_EINVAL && t.n == 0 &&
		    t.attrs == NULL && t.cap == 0,
		    "invalid: %s: -1, CLD_EINVAL, empty result", c->what);
		cld_tmpl_release(&t);
	}
}

/* Where attributes were written is recorded, in characters. */
static void
test_positions(void)
{
	const char *in = "A = 1\n  DISK = [ \xc3\xa9X = 1 ]";
	struct cld_tmpl t = { 0 };
	struct cld_err err;

	cld_err_clear(&err);
	ok(cld_tmpl_parse(in, strlen(in), &t, &err) == -1,
	    "positions: a non-ASCII name is refused");
	in = "A = 1\n  disk = [ X = \xc3\xa9, \n\tY = 2 ]\n";
	ok(cld_tmpl_parse(in, strlen(in), &t, &err) == 0 && t.n == 2 &&
	    t.attrs[0].line == 1 && t.attrs[0].column == 1 &&
	    t.attrs[1].line == 2 && t.attrs[1].column == 3 &&
	    t.attrs[1].nsub == 2 &&
	    t.attrs[1].sub[0].line == 2 && t.attrs[1].sub[0].column == 12 &&
	    t.attrs[1].sub[1].line == 3 && t.attrs[1].sub[1].column == 2,
	    "positions: line and column of each name");
	is_str(t.n == 2 ? t.attrs[1].name : NULL, "DISK",
	    "positions: vector name upper case");
	is_str(cld_tmpl_next_vector(&t, "disk", NULL) ?
	    cld_vector_get(cld_tmpl_next_vector(&t, "disk", NULL), "y") : NULL,
	    "2", "positions: attr.h helpers find it");
	cld_tmpl_release(&t);
}

/* Values of 1 MiB and more: no fixed buffers. */
static void
test_large(void)
{
	size_t big = (size_t)1 << 20, len = 0, i;
	char *in = cld_xmalloc(3 * big), *out = NULL;
	struct cld_tmpl t = { 0 }, back = { 0 };
	struct cld_err err;

	/* BIG = "<1 MiB with one \n escape>" and UNQ = <1 MiB + 1>. */
	memcpy(in, "BIG = \"", 7);
	len = 7;
	memset(in + len, 'x', big);
	in[len + 10] = '\\';
	in[len + 11] = 'n';
	len += big;
	memcpy(in + len, "\"\nUNQ = ", 8);
	len += 8;
	memset(in + len, 'y', big + 1);
	len += big + 1;
	cld_err_clear(&err);
	ok(cld_tmpl_parse(in, len, &t, &err) == 0, "large: parses (%s)",
	    err.msg);
	ok(t.n == 2 && strlen(t.attrs[0].value) == big - 1 &&
	    t.attrs[0].value[10] == '\n' && strlen(t.attrs[1].value) == big + 1,
	    "large: 1 MiB quoted and unquoted values kept whole");
	out = cld_tmpl_print(&t);
	ok(cld_tmpl_parse(out, strlen(out), &back, &err) == 0 &&
	    cld_tmpl_equal(&t, &back), "large: round trip");
	free(out);
	cld_tmpl_release(&t);
	cld_tmpl_release(&back);

	/* Many attributes and a long vector. */
	free(in);
	in = cld_xmalloc(20 * 10000 + 64);
	len = 0;
	for (i = 0; i < 10000; i++)
		len += (size_t)snprintf(in + len, 32, "A%zu = %zu\n", i, i);
	len += (size_t)snprintf(in + len, 16, "V = [");
	for (i = 0; i < 1000; i++)
		len += (size_t)snprintf(in + len, 32, "X%zu = %zu,", i, i);
	len += (size_t)snprintf(in + len, 4, "]");
	ok(cld_tmpl_parse(in, len, &t, &err) == 0 && t.n == 10001 &&
	    strcmp(t.attrs[9999].name, "A9999") == 0 &&
	    t.attrs[10000].nsub == 1000 &&
	    strcmp(t.attrs[10000].sub[999].value, "999") == 0,
	    "large: 10000 attributes and a vector of 1000");
	cld_tmpl_release(&t);
	free(in);

	/* The input limit. */
	in = calloc(CLD_TMPL_MAX_INPUT + 1, 1);
	if (in == NULL) {
		ok(1, "large: cannot allocate 64 MiB here; limit not tested");
	} else {
		ok(cld_tmpl_parse(in, CLD_TMPL_MAX_INPUT + 1, &t, &err) == -1 &&
		    strcmp(err.msg, "template too large: 67108865 bytes (the "
		    "limit is 67108864)") == 0 && err.code == CLD_EINVAL,
		    "large: 64 MiB + 1 refused: %s", err.msg);
		free(in);
	}
}

static char *
print_release(struct cld_tmpl *t)
{
	char *s = cld_tmpl_print(t);

	cld_tmpl_release(t);
	return s;
}

static void
test_builders(void)
{
	struct cld_tmpl t = { 0 }, c = { 0 }, back = { 0 };
	struct cld_attr *v = NULL;
	struct cld_err err;
	char *s = NULL;
	double d = 0;
	size_t i;

	cld_tmpl_add(&t, "cpu", "2");
	cld_tmpl_add(&t, "Name", "a \"b\"\n\\");
	v = cld_tmpl_add_vector(&t, "disk");
	cld_vector_add(v, "image", "debian");
	cld_vector_add(v, "TARGET", "xvda");
	s = cld_tmpl_print(&t);
	is_str(s, "CPU = \"2\"\nNAME = \"a \\\"b\\\"\\n\\\\\"\n"
	    "DISK = [\n  IMAGE = \"debian\",\n  TARGET = \"xvda\" ]\n",
	    "builders: add, add_vector, vector_add");
	cld_err_clear(&err);
	ok(cld_tmpl_parse(s, strlen(s), &back, &err) == 0 &&
	    cld_tmpl_equal(&t, &back), "builders: round trip");
	free(s);
	cld_tmpl_release(&back);

	cld_tmpl_set(&t, "CPU", "4");
	cld_tmpl_set(&t, "memory", "512");
	cld_tmpl_add(&t, "disk", "single");
	cld_tmpl_set(&t, "DISK", "replaced");
	v = &t.attrs[2];
	cld_vector_set(v, "target", "xvdb");
	cld_vector_set(v, "driver", "raw");
	s = cld_tmpl_print(&t);
	is_str(s, "CPU = \"4\"\nNAME = \"a \\\"b\\\"\\n\\\\\"\n"
	    "DISK = [\n  IMAGE = \"debian\",\n  TARGET = \"xvdb\",\n"
	    "  DRIVER = \"raw\" ]\nMEMORY = \"512\"\nDISK = \"replaced\"\n",
	    "builders: set replaces the first single or appends; "
	    "vector_set too");
	free(s);

	cld_tmpl_set(&t, "NAME", cld_tmpl_get(&t, "name"));
	is_str(cld_tmpl_get(&t, "NAME"), "a \"b\"\n\\",
	    "builders: set to its own value");

	ok(cld_tmpl_get_num(&t, "cpu", &d) == 0 && d == 4,
	    "get_num: a number");
	d = -1;
	ok(cld_tmpl_get_num(&t, "NAME", &d) == -1 && d == -1,
	    "get_num: not a number, *out untouched");
	ok(cld_tmpl_get_num(&t, "NOPE", &d) == -1 && d == -1,
	    "get_num: missing");
	cld_tmpl_add(&t, "F", "1.5e3");
	cld_tmpl_add(&t, "G", "12abc");
	cld_tmpl_add(&t, "H", "");
	ok(cld_tmpl_get_num(&t, "f", &d) == 0 && d == 1500,
	    "get_num: exponent");
	ok(cld_tmpl_get_num(&t, "G", &d) == -1 &&
	    cld_tmpl_get_num(&t, "H", &d) == -1,
	    "get_num: trailing junk and empty are not numbers");
	ok(cld_tmpl_get_num(&t, "DISK", &d) == -1,
	    "get_num: the first single DISK ('replaced') is no number");

	cld_tmpl_copy(&c, &t);
	ok(cld_tmpl_equal(&c, &t) && c.attrs != t.attrs,
	    "copy: equal and separate");
	/* A copied vector of 3 must have room for a 4th without growing. */
	cld_vector_add(&c.attrs[2], "X", "1");
	cld_vector_add(&c.attrs[2], "Y", "2");
	ok(c.attrs[2].nsub == 5 && t.attrs[2].nsub == 3 &&
	    !cld_tmpl_equal(&c, &t), "copy: vectors grow independently");
	cld_tmpl_copy(&c, &c);
	ok(c.n == t.n, "copy: onto itself does nothing");
	cld_tmpl_copy(&c, &t);
	ok(cld_tmpl_equal(&c, &t), "copy: over a filled template");

	is_int((long long)cld_tmpl_remove(&t, "disk"), 2,
	    "remove: counts singles and vectors");
	is_int((long long)cld_tmpl_remove(&t, "disk"), 0,
	    "remove: none left");
	s = cld_tmpl_print(&t);
	is_str(s, "CPU = \"4\"\nNAME = \"a \\\"b\\\"\\n\\\\\"\n"
	    "MEMORY = \"512\"\nF = \"1.5e3\"\nG = \"12abc\"\nH = \"\"\n",
	    "remove: the rest keep their order");
	free(s);
	cld_tmpl_add(&t, "AFTER", "1");
	ok(t.n == 7 && strcmp(t.attrs[6].name, "AFTER") == 0,
	    "remove: template still usable");

	cld_tmpl_release(&t);
	ok(t.attrs == NULL && t.n == 0 && t.cap == 0, "release: leaves it empty");
	cld_tmpl_release(&t);
	cld_tmpl_release(NULL);
	ok(1, "release: twice and NULL are fine");
	cld_tmpl_add(&t, "A", "1");
	s = print_release(&t);
	is_str(s, "A = \"1\"\n", "release: reusable");
	free(s);

	/* An empty vector cannot be written, so it is not printed. */
	(void)cld_tmpl_add_vector(&t, "EMPTY");
	cld_tmpl_add(&t, "A", "1");
	s = print_release(&t);
	is_str(s, "A = \"1\"\n", "print: empty vector left out");
	free(s);

	/* The sub array grows at powers of two; valgrind checks the rule. */
	v = cld_tmpl_add_vector(&t, "V");
	for (i = 0; i < 300; i++) {
		char name[16], val[16];

		snprintf(name, sizeof(name), "K%zu", i);
		snprintf(val, sizeof(val), "%zu", i);
		cld_vector_add(v, name, val);
	}
	ok(v->nsub == 300 && strcmp(v->sub[0].name, "K0") == 0 &&
	    strcmp(v->sub[299].value, "299") == 0,
	    "vector_add: 300 in order");
	cld_tmpl_copy(&c, &t);
	cld_vector_add(&c.attrs[0], "LAST", "x");
	ok(c.attrs[0].nsub == 301, "vector_add: after copying 300");
	cld_tmpl_release(&t);
	cld_tmpl_release(&c);

	/* Equality. */
	cld_tmpl_add(&t, "A", "1");
	cld_tmpl_add(&t, "B", "2");
	cld_tmpl_add(&c, "B", "2");
	cld_tmpl_add(&c, "A", "1");
	ok(!cld_tmpl_equal(&t, &c), "equal: order matters");
	cld_tmpl_release(&c);
	cld_tmpl_add(&c, "a", "1");
	cld_tmpl_add(&c, "b", "2");
	ok(cld_tmpl_equal(&t, &c), "equal: names are case-insensitive");
	cld_tmpl_set(&c, "B", "X");
	ok(!cld_tmpl_equal(&t, &c), "equal: values differ");
	cld_tmpl_release(&c);
	cld_tmpl_add(&c, "A", "1");
	(void)cld_tmpl_add_vector(&c, "B");
	ok(!cld_tmpl_equal(&t, &c), "equal: single is not vector");
	cld_tmpl_release(&t);
	cld_tmpl_release(&c);

	/* Parsing into a released template. */
	ok(cld_tmpl_parse("A = 1", 5, &t, &err) == 0 && t.n == 1,
	    "parse: first");
	cld_tmpl_release(&t);
	ok(cld_tmpl_parse("B = [ C = 2 ]", 13, &t, &err) == 0 && t.n == 1 &&
	    strcmp(cld_vector_get(&t.attrs[0], "c"), "2") == 0,
	    "parse: again into the released template");
	cld_tmpl_release(&t);
	ok(cld_tmpl_parse(NULL, 0, &t, &err) == 0 && t.n == 0,
	    "parse: NULL with length 0 is empty");
}

static void
test_names(void)
{
	static const struct {
		const char *name;
		int valid;
	} names[] = {
		{ "A", 1 }, { "_", 1 }, { "a1", 1 }, { "HOST_NAME_2", 1 },
		{ "1a", 0 }, { "", 0 }, { "A-B", 0 }, { "A.B", 0 }, { "A B", 0 },
		{ "\xc3\x89", 0 }, { "A=", 0 },
	};
	size_t i;

	for (i = 0; i < CLD_ARRAY_SIZE(names); i++)
		is_int(cld_name_valid(names[i].name), names[i].valid,
		    "name_valid: '%s'", names[i].name);
	is_int(cld_name_valid(NULL), 0, "name_valid: NULL");
}

static void
test_files(void)
{
	char dir[] = "/tmp/cld-template-XXXXXX", path[64];
	struct cld_tmpl t = { 0 };
	struct cld_err err;
	FILE *f = NULL;

	cld_err_clear(&err);
	ok(cld_tmpl_parse_file("/nonexistent/cloudd/x.tmpl", &t, &err) == -1,
	    "parse_file: missing file fails");
	is_str(err.msg, "cannot read '/nonexistent/cloudd/x.tmpl': No such "
	    "file or directory", "parse_file: message has path and strerror");
	ok(err.code == CLD_ENOENT && err.sys_errno == ENOENT && t.n == 0,
	    "parse_file: CLD_ENOENT, errno, empty");

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/vm.tmpl", dir);
	f = fopen(path, "w");
	fputs("CPU = 1\nDISK = [ IMAGE = debian ]\n", f);
	fclose(f);
	ok(cld_tmpl_parse_file(path, &t, &err) == 0 && t.n == 2 &&
	    strcmp(cld_vector_get(&t.attrs[1], "IMAGE"), "debian") == 0,
	    "parse_file: reads a template");
	cld_tmpl_release(&t);

	f = fopen(path, "w");
	fputs("CPU = 1\nMEMORY\n", f);
	fclose(f);
	ok(cld_tmpl_parse_file(path, &t, &err) == -1 && t.n == 0,
	    "parse_file: syntax error fails");
	{
		char want[160];

		snprintf(want, sizeof(want),
		    "'%s': line 2, column 7: expected '=' after 'MEMORY'", path);
		is_str(err.msg, want, "parse_file: error names the file");
	}
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	test_valid();
	test_invalid();
	test_positions();
	test_large();
	test_builders();
	test_names();
	test_files();
	diag("%zu valid and %zu invalid table cases",
	    CLD_ARRAY_SIZE(valid), CLD_ARRAY_SIZE(invalid));
	return done_testing();
}
