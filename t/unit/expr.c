/*
 * REQUIREMENTS and RANK expressions: a table of expressions evaluated
 * against one fixed host, each with its exact truth value and number or its
 * exact error message, then generated inputs (deep nesting) and the lookup
 * contract.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "tap.h"
#include "template.h"
#include "util.h"

/* The host every case is evaluated against. */
static const char *const host[][2] = {
	{ "HOSTNAME", "node1" },
	{ "TOTALCPU", "800" },
	{ "FREECPU", "350.5" },
	{ "HYPERVISOR", "xen" },
	{ "ARCH", "x86_64" },
	{ "EMPTY", "" },
	{ "ZERO", "0" },
	{ "MEM", "1024" },
	{ "STAR", "a*b" },
	{ "NEG", "-5" },
};

struct expr_case {
	const char *text;
	int b;           /* cld_expr_eval_bool() != 0 */
	double n;        /* cld_expr_eval_num() */
	const char *err; /* or the exact error */
};

#define V(t, b, n) { t, b, n, NULL }
#define E(t, msg) { t, 0, 0, msg }

static const struct expr_case cases[] = {
	/* numbers and arithmetic */
	V("1", 1, 1),
	V("0", 0, 0),
	V("12", 1, 12),
	V("0.5", 1, 0.5),
	V("1e3", 1, 1000),
	V("2.5E-1", 1, 0.25),
	V("1 + 2", 1, 3),
	V("5 - 7", 1, -2),
	V("3 * 4", 1, 12),
	V("7 / 2", 1, 3.5),
	V("1 + 2 * 3", 1, 7),
	V("(1 + 2) * 3", 1, 9),
	V("10 - 4 - 3", 1, 3),
	V("100 / 10 / 5", 1, 2),
	V("2 * 3 + 4 * 5", 1, 26),
	V("2 - 2", 0, 0),
	V("-3", 1, -3),
	V("--3", 1, 3),
	V("-(2 + 3)", 1, -5),
	V("2 * -3", 1, -6),
	V("-2 * 3", 1, -6),
	V("1 - -1", 1, 2),
	V("-TOTALCPU", 1, -800),
	V("-NEG", 1, 5),
	V("FREECPU + 49.5", 1, 400),
	V("TOTALCPU - FREECPU", 1, 449.5),
	V("FREECPU - TOTALCPU / 8", 1, 250.5),
	V("  1\n+\t2  ", 1, 3),
	/* division by zero, overflow, missing and non-numeric operands */
	V("TOTALCPU / 0", 0, 0),
	V("1 / (FREECPU - 350.5)", 0, 0),
	V("0 / 0", 0, 0),
	V("-1 / 0", 0, 0),
	V("1e308 * 10", 0, 0),
	V("-1e308 * 10", 0, 0),
	V("1e308 + 1e308 - 1e308", 1, -1e308),
	V("MISSING + 1", 1, 1),
	V("-MISSING", 0, 0),
	V("HOSTNAME + 1", 1, 1),
	V("EMPTY * 5", 0, 0),
	V("\"12\" + 1", 1, 13),
	V("\"abc\" + 1", 1, 1),
	/* truth of values */
	V("TOTALCPU", 1, 800),
	V("HOSTNAME", 1, 0),
	V("EMPTY", 0, 0),
	V("MISSING", 0, 0),
	V("ZERO", 0, 0),
	V("\"abc\"", 1, 0),
	V("\"\"", 0, 0),
	V("\"0\"", 0, 0),
	V("\"12\"", 1, 12),
	/* numeric comparisons */
	V("TOTALCPU = 800", 1, 1),
	V("TOTALCPU = 800.0", 1, 1),
	V("TOTALCPU = 8e2", 1, 1),
	V("TOTALCPU != 800", 0, 0),
	V("TOTALCPU != 801", 1, 1),
	V("FREECPU > 350", 1, 1),
	V("FREECPU < 350", 0, 0),
	V("FREECPU >= 350.5", 1, 1),
	V("FREECPU <= 350.5", 1, 1),
	V("FREECPU > 350.5", 0, 0),
	V("FREECPU < 350.5", 0, 0),
	V("TOTALCPU > MEM", 0, 0),
	V("9 < 10", 1, 1),
	V("NEG < 0", 1, 1),
	V("TOTALCPU + 1 = 801", 1, 1),
	V("FREECPU * 2 = TOTALCPU - 99", 1, 1),
	V("(1 < 2) = 1", 1, 1),
	V("(1 < 2) + (2 < 3)", 1, 2),
	V("FREECPU < \"400\"", 1, 1),
	V("TOTALCPU > \"1000\"", 0, 0),
	/* wildcards */
	V("HYPERVISOR = \"xen\"", 1, 1),
	V("HYPERVISOR = \"kvm\"", 0, 0),
	V("HYPERVISOR != \"kvm\"", 1, 1),
	V("HYPERVISOR != \"x*\"", 0, 0),
	V("HOSTNAME = \"node*\"", 1, 1),
	V("HOSTNAME = \"node?\"", 1, 1),
	V("HOSTNAME = \"node??\"", 0, 0),
	V("HOSTNAME = \"node[0-9]\"", 1, 1),
	V("HOSTNAME = \"node[!1]\"", 0, 0),
	V("HOSTNAME = \"node[^2-9]\"", 1, 1),
	V("HOSTNAME = \"node[12]\"", 1, 1),
	V("HOSTNAME = \"*de*\"", 1, 1),
	V("HOSTNAME = \"*o*e*1\"", 1, 1),
	V("HOSTNAME = \"*2\"", 0, 0),
	V("HOSTNAME = \"NODE1\"", 0, 0),
	V("HOSTNAME = \"node\"", 0, 0),
	V("HOSTNAME = \"*\"", 1, 1),
	V("ARCH = \"x86_*\"", 1, 1),
	V("ARCH = \"x86\"", 0, 0),
	V("STAR = \"a\\\\*b\"", 1, 1),
	V("HOSTNAME = \"n\\\\*\"", 0, 0),
	V("STAR = \"a[*]b\"", 1, 1),
	V("HOSTNAME = \"node[1\"", 0, 0),
	V("TOTALCPU = \"8*\"", 1, 1),
	V("FREECPU = \"350.50\"", 0, 0),
	V("(TOTALCPU + 1) = \"80?\"", 1, 1),
	V("(1 = 1) = \"1\"", 1, 1),
	V("EMPTY = \"\"", 1, 1),
	V("EMPTY = \"*\"", 1, 1),
	V("EMPTY = \"?\"", 0, 0),
	V("\"xen\" = HYPERVISOR", 1, 1),
	V("\"x*\" = HYPERVISOR", 0, 0),
	V("\"a\\\"b\" = \"a\\\"b\"", 1, 1),
	/* text ordering */
	V("HOSTNAME > \"node0\"", 1, 1),
	V("HOSTNAME < \"node0\"", 0, 0),
	V("HYPERVISOR < \"xfs\"", 1, 1),
	V("HOSTNAME <= \"node1\"", 1, 1),
	V("HOSTNAME >= \"nodf\"", 0, 0),
	V("HOSTNAME > 5", 1, 1),
	/* missing attributes in comparisons */
	V("MISSING = 1", 0, 0),
	V("MISSING != 1", 0, 0),
	V("MISSING < 1", 0, 0),
	V("MISSING >= MISSING", 0, 0),
	V("MISSING = \"*\"", 0, 0),
	V("1 = MISSING", 0, 0),
	V("!(MISSING = 1)", 1, 1),
	V("!(MISSING != 1)", 1, 1),
	V("(MISSING + 1) = 1", 1, 1),
	/* logic */
	V("1 & 0", 0, 0),
	V("1 & 1", 1, 1),
	V("1 | 0", 1, 1),
	V("0 | 0", 0, 0),
	V("1 & 2", 1, 1),
	V("0 | 7", 1, 1),
	V("!1", 0, 0),
	V("!0", 1, 1),
	V("!!5", 1, 1),
	V("!HOSTNAME", 0, 0),
	V("!EMPTY", 1, 1),
	V("!MISSING", 1, 1),
	V("1 | 0 & 0", 1, 1),
	V("(1 | 0) & 0", 0, 0),
	V("0 & 0 | 1", 1, 1),
	V("!1 | 1", 1, 1),
	V("!(1 | 1)", 0, 0),
	V("!TOTALCPU = 800", 0, 0),
	V("! FREECPU > 1000", 1, 1),
	V("!TOTALCPU + 1 = 802", 1, 1),
	V("0 & (1 / 0)", 0, 0),
	V("MISSING | HOSTNAME", 1, 1),
	V("HYPERVISOR = \"xen\" & FREECPU > 100", 1, 1),
	V("HYPERVISOR = \"kvm\" | ARCH = \"x86_64\"", 1, 1),
	V("HYPERVISOR = \"kvm\" | ARCH = \"arm*\"", 0, 0),
	V("HYPERVISOR=\"xen\"&FREECPU>=350.5&!(HOSTNAME=\"node2\")", 1, 1),
	/* names are case-insensitive */
	V("hostname = \"node1\"", 1, 1),
	V("FreeCpu > 1", 1, 1),
	V("_x", 0, 0),
	/* errors */
	E("", "column 1: expected a value, found end of expression"),
	E("   ", "column 4: expected a value, found end of expression"),
	E("1 +", "column 4: expected a value, found end of expression"),
	E("!", "column 2: expected a value, found end of expression"),
	E("-", "column 2: expected a value, found end of expression"),
	E("A = -", "column 6: expected a value, found end of expression"),
	E("(1 + 2", "column 7: expected an operator or ')' to close '(' at "
	    "column 1, found end of expression"),
	E("((1)", "column 5: expected an operator or ')' to close '(' at "
	    "column 1, found end of expression"),
	E("(1 2)", "column 4: expected an operator or ')' to close '(' at "
	    "column 1, found '2'"),
	E("(1 + 2))", "column 8: expected an operator or end of expression, "
	    "found ')'"),
	E(")", "column 1: expected a value, found ')'"),
	E("()", "column 2: expected a value, found ')'"),
	E("1 2", "column 3: expected an operator or end of expression, "
	    "found '2'"),
	E("A B", "column 3: expected an operator or end of expression, "
	    "found 'B'"),
	E("A = \"x\" \"y\"", "column 9: expected an operator or end of "
	    "expression, found '\"y\"'"),
	E("1 < 2 < 3", "column 7: expected '&' or '|' between comparisons, "
	    "found '<'"),
	E("A = 1 = 2", "column 7: expected '&' or '|' between comparisons, "
	    "found '='"),
	E("A == 1", "column 4: expected a value, found '='"),
	E("A && B", "column 4: expected a value, found '&'"),
	E("A || B", "column 4: expected a value, found '|'"),
	E("*2", "column 1: expected a value, found '*'"),
	E("1 +* 2", "column 4: expected a value, found '*'"),
	E("1 + !0", "column 5: expected a value, found '!'"),
	E("A = !B", "column 5: expected a value, found '!'"),
	E("@", "column 1: expected a value, found '@'"),
	E("A = @", "column 5: expected a value, found '@'"),
	E("1 $ 2", "column 3: expected an operator or end of expression, "
	    "found '$'"),
	E("A = 'x'", "column 5: expected a value, found '''"),
	E("\x01", "column 1: expected a value, found control character U+0001"),
	E("A = \xc3\xa9", "column 5: expected a value, found '\xc3\xa9'"),
	E("\"\xc3\xa9\" \xe2\x82\xac", "column 5: expected an operator or end "
	    "of expression, found '\xe2\x82\xac'"),
	E("A = \x80", "column 5: expected a value, found byte 0x80"),
	E("\"abc", "column 5: unterminated quoted string (opened at column 1)"),
	E("A = \"abc\\", "column 10: unterminated quoted string (opened at "
	    "column 5)"),
	E("A = \"x\\n\"", "column 7: invalid escape '\\n'"),
	E("A = \"\\\xc3\xa9\"", "column 6: invalid escape '\\\xc3\xa9'"),
	E("A = \"\\\t\"", "column 6: invalid escape: '\\' followed by control "
	    "character U+0009"),
	E("12abc", "column 1: invalid number '12abc'"),
	E("1 + 1.", "column 5: invalid number '1.'"),
	E("1e", "column 1: invalid number '1e'"),
	E("1e+", "column 1: invalid number '1e'"),
	E("0x10", "column 1: invalid number '0x10'"),
	E("1.2.3", "column 1: invalid number '1.2.3'"),
	E("1e999", "column 1: number '1e999' is out of range"),
	E("A = 1 B", "column 7: expected an operator or end of expression, "
	    "found 'B'"),
	E("1 +\n(2", "line 2, column 3: expected an operator or ')' to close "
	    "'(' at line 2, column 1, found end of expression"),
	E("A =\n", "line 2, column 1: expected a value, found end of "
	    "expression"),
	E("\"a\nb", "line 2, column 2: unterminated quoted string (opened at "
	    "line 1, column 1)"),
	E("A = 1 &\n\t\xc3\xa9 = 2", "line 2, column 2: expected a value, "
	    "found '\xc3\xa9'"),
	E("1 + AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AAAAAAAAAA 2", "column 78: expected an operator or end of "
	    "expression, found '2'"),
	E("1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AAAAAAAAAA", "column 3: expected an operator or end of "
	    "expression, found "
	    "'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA...'"),
};

/* S N times, MID, S2 N2 times; malloc()ed. */
static char *
repeat(const char *s, size_t n, const char *mid, const char *s2, size_t n2)
{
	size_t l = strlen(s), lm = strlen(mid), l2 = strlen(s2), i;
	char *r = cld_xmalloc(l * n + lm + l2 * n2 + 1), *p = r;

	for (i = 0; i < n; i++, p += l)
		memcpy(p, s, l);
	memcpy(p, mid, lm);
	p += lm;
	for (i = 0; i < n2; i++, p += l2)
		memcpy(p, s2, l2);
	*p = '\0';
	return r;
}

/* A balanced sum of 2^DEPTH ones: many nodes, little depth. */
static char *
balanced(int depth)
{
	char *half = NULL, *s = NULL;

	if (depth == 0)
		return cld_xstrdup("1");
	half = balanced(depth - 1);
	s = cld_xasprintf("(%s+%s)", half, half);
	free(half);
	return s;
}

static void
check(const char *what, const char *text, const struct cld_tmpl *t,
    const char *err_want, int b, double n)
{
	struct cld_err err;
	struct cld_expr *e = NULL;

	cld_err_clear(&err);
	e = cld_expr_parse(text, &err);
	if (err_want != NULL) {
		is_str(e == NULL ? err.msg : "(parsed)", err_want, "%s", what);
		ok(e == NULL && err.code == CLD_EINVAL, "%s: NULL, CLD_EINVAL",
		    what);
	} else if (e == NULL) {
		ok(0, "%s: unexpected error: %s", what, err.msg);
	} else {
		int gb = cld_expr_eval_bool(e, cld_expr_tmpl_lookup, (void *)t) != 0;
		double gn = cld_expr_eval_num(e, cld_expr_tmpl_lookup, (void *)t);

		is_int(gb, b, "%s: bool", what);
		if (!ok(gn == n && isfinite(gn), "%s: number", what))
			diag("got %.17g, expected %.17g", gn, n);
	}
	cld_expr_free(e);
}

/* TEXT quoted on one line for a TAP description, cut if long. */
static void
describe(const char *text, char *buf, size_t size)
{
	size_t n = 0;

	buf[n++] = '\'';
	for (; *text != '\0' && n + 8 < size; text++) {
		unsigned char c = (unsigned char)*text;

		if (c == '\\')
			n += (size_t)snprintf(buf + n, size - n, "\\\\");
		else if (c == '\n')
			n += (size_t)snprintf(buf + n, size - n, "\\n");
		else if (c == '\t')
			n += (size_t)snprintf(buf + n, size - n, "\\t");
		else if (c < 0x20 || c == 0x7F)
			n += (size_t)snprintf(buf + n, size - n, "\\x%02X", c);
		else
			buf[n++] = (char)c;
	}
	if (*text != '\0')
		n += (size_t)snprintf(buf + n, size - n, "...");
	snprintf(buf + n, size - n, "'");
}

static void
test_table(const struct cld_tmpl *t)
{
	char what[128];
	size_t i;

	for (i = 0; i < CLD_ARRAY_SIZE(cases); i++) {
		describe(cases[i].text, what, sizeof(what));
		check(what, cases[i].text, t, cases[i].err, cases[i].b,
		    cases[i].n);
	}
}

static void
test_nesting(const struct cld_tmpl *t)
{
	static const char deep[] = "column 257: expression nested too deeply";
	struct {
		const char *what;
		char *text;
		const char *err;
		double n;
	} gen[] = {
		{ "256 parentheses", repeat("(", 256, "1", ")", 256), NULL, 1 },
		{ "257 parentheses", repeat("(", 257, "1", ")", 257), deep, 0 },
		{ "1,000,000 '('", repeat("(", 1000000, "", "", 0), deep, 0 },
		{ "256 unary '-'", repeat("-", 256, "1", "", 0), NULL, 1 },
		{ "257 unary '-'", repeat("-", 257, "1", "", 0), deep, 0 },
		{ "1,000,000 unary '-'", repeat("-", 1000000, "1", "", 0), deep,
		    0 },
		{ "256 '!'", repeat("!", 256, "1", "", 0), NULL, 1 },
		{ "257 '!'", repeat("!", 257, "1", "", 0), deep, 0 },
		{ "'(-' mixed", repeat("(-", 200, "1", ")", 200), deep, 0 },
		{ "256 '+'", repeat("1", 1, "", "+1", 256), NULL, 257 },
		{ "257 '+'", repeat("1", 1, "", "+1", 257),
		    "column 514: expression nested too deeply", 0 },
		{ "1,000,000 '+'", repeat("1", 1, "", "+1", 1000000),
		    "column 514: expression nested too deeply", 0 },
		{ "257 '&'", repeat("1", 1, "", "&1", 257),
		    "column 514: expression nested too deeply", 0 },
		{ "right-nested 300 '*'", repeat("2*(", 300, "1", ")", 300),
		    "column 771: expression nested too deeply", 0 },
		{ "2048 leaves, 11 deep", balanced(11), NULL, 2048 },
	};
	size_t i;

	for (i = 0; i < CLD_ARRAY_SIZE(gen); i++) {
		check(gen[i].what, gen[i].text, t, gen[i].err, gen[i].n != 0,
		    gen[i].n);
		free(gen[i].text);
	}
}

/* What the lookup was asked for, to check names reach it upper case. */
static char asked[64];

static const char *
record_lookup(void *ctx, const char *name)
{
	snprintf(asked, sizeof(asked), "%s", name);
	return ctx;
}

static void
test_lookup(void)
{
	struct cld_err err;
	struct cld_expr *e = NULL;

	cld_err_clear(&err);
	e = cld_expr_parse("freeCpu_2 > 1", &err);
	ok(e != NULL && cld_expr_eval_bool(e, record_lookup, "5") == 1 &&
	    strcmp(asked, "FREECPU_2") == 0,
	    "lookup: name upper case, value from ctx");
	ok(cld_expr_eval_bool(e, record_lookup, NULL) == 0,
	    "lookup: NULL is missing");
	cld_expr_free(e);
	cld_expr_free(NULL);

	/* Evaluation is reentrant: one expression, two hosts. */
	e = cld_expr_parse("RANK * 2", &err);
	ok(e != NULL && cld_expr_eval_num(e, record_lookup, "3") == 6 &&
	    cld_expr_eval_num(e, record_lookup, "4.25") == 8.5,
	    "lookup: evaluated against different hosts");
	cld_expr_free(e);
}

int
main(void)
{
	struct cld_tmpl t = { 0 };
	size_t i;

	for (i = 0; i < CLD_ARRAY_SIZE(host); i++)
		cld_tmpl_add(&t, host[i][0], host[i][1]);
	test_table(&t);
	test_nesting(&t);
	test_lookup();
	diag("%zu table cases", CLD_ARRAY_SIZE(cases));
	cld_tmpl_release(&t);
	return done_testing();
}
