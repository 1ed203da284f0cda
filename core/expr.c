/*
 * REQUIREMENTS and RANK expressions: a recursive-descent parser that builds
 * a tree of nodes in one array, and an evaluator that walks it.
 *
 * The scheduler evaluates an expression for every host many times a second,
 * so the work is done at compile time: names are upper-cased, strings
 * unescaped and checked for being numbers once.  Evaluation allocates
 * nothing, and both parsing and evaluation recurse only as deep as
 * CLD_EXPR_MAX_DEPTH allows, so no input can exhaust the stack.
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cloudd/attr.h>

#include "expr.h"
#include "util.h"

/* Token text quoted in messages is cut to this many bytes. */
#define SUBJECT_MAX 64

enum tok_kind {
	T_END, T_NUM, T_STR, T_NAME, T_LPAREN, T_RPAREN,
	T_OR, T_AND, T_NOT, T_EQ, T_NE, T_LT, T_GT, T_LE, T_GE,
	T_PLUS, T_MINUS, T_STAR, T_SLASH,
	T_BAD, /* a character that starts no token */
};

struct token {
	enum tok_kind kind;
	const char *s;      /* as written */
	size_t len;
	unsigned int line;
	unsigned int col;
	int escaped;        /* T_STR: has escapes to undo */
	double num;         /* T_NUM */
};

enum node_op {
	E_NUM, E_STR, E_ATTR,
	E_OR, E_AND, E_NOT,
	E_EQ, E_NE, E_LT, E_GT, E_LE, E_GE,
	E_ADD, E_SUB, E_MUL, E_DIV, E_NEG,
};

struct node {
	unsigned char op;        /* enum node_op */
	unsigned char isnum;     /* E_NUM, and an E_STR that is a number */
	unsigned short height;   /* 1 for a leaf */
	int32_t l, r;            /* children, or -1 */
	double num;
	char *str;               /* E_STR: the text; E_ATTR: the name, upper case */
};

struct cld_expr {
	struct node *nodes;
	size_t n;
	int32_t root;
};

struct eparser {
	const char *p;           /* the lexer's cursor */
	unsigned int line;
	unsigned int col;
	int multiline;           /* positions say the line too */
	int depth;               /* parentheses and unary operators open */
	struct token tok;        /* the lookahead */
	struct cld_err *err;
	struct node *nodes;
	size_t n;
	size_t cap;
};

static int
is_name_start(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int
is_name_char(unsigned char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static CLD_PRINTF(4, 5) int
fail_at(struct eparser *ps, unsigned int line, unsigned int col,
    const char *fmt, ...)
{
	char what[CLD_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (ps->multiline)
		cld_err_set(ps->err, CLD_EINVAL, "line %u, column %u: %s", line,
		    col, what);
	else
		cld_err_set(ps->err, CLD_EINVAL, "column %u: %s", col, what);
	return -1;
}

/* "line L, column C" or "column C", for "(opened at ...)". */
static void
format_pos(const struct eparser *ps, unsigned int line, unsigned int col,
    char *buf, size_t size)
{
	if (ps->multiline)
		snprintf(buf, size, "line %u, column %u", line, col);
	else
		snprintf(buf, size, "column %u", col);
}

/* Advance the cursor N bytes on one line: columns count characters. */
static void
advance(struct eparser *ps, size_t n)
{
	for (; n > 0; n--, ps->p++)
		if (((unsigned char)ps->p[0] & 0xC0) != 0x80)
			ps->col++;
}

/* The current token as "'text'" or "end of expression", for messages. */
static void
describe(const struct token *t, char *buf, size_t size)
{
	size_t len = t->len;

	unsigned char c = t->len > 0 ? (unsigned char)t->s[0] : 0;

	if (t->kind == T_END) {
		snprintf(buf, size, "end of expression");
		return;
	}
	if (t->kind == T_BAD && (c < 0x20 || c == 0x7F)) {
		snprintf(buf, size, "control character U+%04X", c);
		return;
	}
	/* Not the start of a whole UTF-8 character: show the byte. */
	if (t->kind == T_BAD && c >= 0x80 && (c < 0xC2 || c > 0xF4 ||
	    t->len != (c < 0xE0 ? 2u : c < 0xF0 ? 3u : 4u))) {
		snprintf(buf, size, "byte 0x%02X", c);
		return;
	}
	if (len <= SUBJECT_MAX) {
		snprintf(buf, size, "'%.*s'", (int)len, t->s);
		return;
	}
	/* Cut on a character boundary. */
	len = SUBJECT_MAX;
	while (len > 0 && ((unsigned char)t->s[len] & 0xC0) == 0x80)
		len--;
	snprintf(buf, size, "'%.*s...'", (int)len, t->s);
}

static int
fail_found(struct eparser *ps, const char *what)
{
	char found[SUBJECT_MAX + 16];

	describe(&ps->tok, found, sizeof(found));
	return fail_at(ps, ps->tok.line, ps->tok.col, "%s, found %s", what,
	    found);
}

static int
lex_number(struct eparser *ps, struct token *t)
{
	const char *s = ps->p, *e = s;

	while (is_digit((unsigned char)*e))
		e++;
	if (e[0] == '.' && is_digit((unsigned char)e[1]))
		for (e++; is_digit((unsigned char)*e); e++)
			;
	if (e[0] == 'e' || e[0] == 'E') {
		const char *x = e + 1;

		if (*x == '+' || *x == '-')
			x++;
		if (is_digit((unsigned char)*x))
			for (e = x; is_digit((unsigned char)*e); e++)
				;
	}
	/* "12abc", "1.", "1e", "0x1F" are not numbers followed by names. */
	if (is_name_char((unsigned char)*e) || *e == '.') {
		while (is_name_char((unsigned char)*e) || *e == '.')
			e++;
		return fail_at(ps, t->line, t->col, "invalid number '%.*s'",
		    (int)(e - s < SUBJECT_MAX ? e - s : SUBJECT_MAX), s);
	}
	/* What was scanned is all that strtod() reads. */
	t->num = strtod(s, NULL);
	if (!isfinite(t->num))
		return fail_at(ps, t->line, t->col,
		    "number '%.*s' is out of range",
		    (int)(e - s < SUBJECT_MAX ? e - s : SUBJECT_MAX), s);
	t->kind = T_NUM;
	t->len = (size_t)(e - s);
	advance(ps, t->len);
	return 0;
}

static int
lex_string(struct eparser *ps, struct token *t)
{
	char pos[64];

	t->kind = T_STR;
	advance(ps, 1);
	for (;;) {
		char c = ps->p[0];

		if (c == '\0') {
			format_pos(ps, t->line, t->col, pos, sizeof(pos));
			return fail_at(ps, ps->line, ps->col,
			    "unterminated quoted string (opened at %s)", pos);
		}
		if (c == '"')
			break;
		if (c == '\n') {
			ps->p++;
			ps->line++;
			ps->col = 1;
			continue;
		}
		if (c == '\\') {
			char e = ps->p[1];
			int n;

			if (e == '"' || e == '\\') {
				t->escaped = 1;
				advance(ps, 2);
				continue;
			}
			if (e == '\0') {
				advance(ps, 1);
				continue; /* reported as unterminated */
			}
			if ((unsigned char)e < 0x20 || e == 0x7F)
				return fail_at(ps, ps->line, ps->col,
				    "invalid escape: '\\' followed by control "
				    "character U+%04X", (unsigned char)e);
			n = 1;
			while (n < 4 && ((unsigned char)ps->p[1 + n] & 0xC0) ==
			    0x80)
				n++;
			return fail_at(ps, ps->line, ps->col,
			    "invalid escape '\\%.*s'", n, ps->p + 1);
		}
		advance(ps, 1);
	}
	advance(ps, 1);
	t->len = (size_t)(ps->p - t->s);
	return 0;
}

/* Read the next token into ps->tok.  Returns 0, or -1 on a lexical error. */
static int
lex(struct eparser *ps)
{
	struct token *t = &ps->tok;
	unsigned char c;

	for (;;) {
		c = (unsigned char)ps->p[0];
		if (c == ' ' || c == '\t' || c == '\r') {
			advance(ps, 1);
		} else if (c == '\n') {
			ps->p++;
			ps->line++;
			ps->col = 1;
		} else {
			break;
		}
	}
	memset(t, 0, sizeof(*t));
	t->s = ps->p;
	t->line = ps->line;
	t->col = ps->col;
	t->len = 1;
	switch (c) {
	case '\0':
		t->kind = T_END;
		t->len = 0;
		return 0;
	case '"':
		return lex_string(ps, t);
	case '(': t->kind = T_LPAREN; break;
	case ')': t->kind = T_RPAREN; break;
	case '|': t->kind = T_OR; break;
	case '&': t->kind = T_AND; break;
	case '=': t->kind = T_EQ; break;
	case '+': t->kind = T_PLUS; break;
	case '-': t->kind = T_MINUS; break;
	case '*': t->kind = T_STAR; break;
	case '/': t->kind = T_SLASH; break;
	case '!':
	case '<':
	case '>':
		if (ps->p[1] == '=') {
			t->kind = c == '!' ? T_NE : c == '<' ? T_LE : T_GE;
			t->len = 2;
		} else {
			t->kind = c == '!' ? T_NOT : c == '<' ? T_LT : T_GT;
		}
		break;
	default:
		if (is_digit(c))
			return lex_number(ps, t);
		if (is_name_start(c)) {
			while (is_name_char((unsigned char)ps->p[t->len]))
				t->len++;
			t->kind = T_NAME;
			break;
		}
		/* One whole character, for the message that will follow. */
		t->kind = T_BAD;
		while (t->len < 4 &&
		    ((unsigned char)ps->p[t->len] & 0xC0) == 0x80)
			t->len++;
		break;
	}
	advance(ps, t->len);
	return 0;
}

/*
 * Append a node.  Its height is checked here, so that a long chain of
 * operators ("1+1+1+...") cannot build a tree deeper than evaluation may
 * recurse.  Returns its index, or -1.
 */
static int32_t
add_node(struct eparser *ps, enum node_op op, int32_t l, int32_t r,
    const struct token *at)
{
	struct node *nd = NULL;
	unsigned int h = 0;

	if (l >= 0)
		h = ps->nodes[l].height;
	if (r >= 0 && ps->nodes[r].height > h)
		h = ps->nodes[r].height;
	/* A leaf is height 1; CLD_EXPR_MAX_DEPTH operators may stack on it. */
	if (h > CLD_EXPR_MAX_DEPTH)
		return fail_at(ps, at->line, at->col,
		    "expression nested too deeply");
	if (ps->n == ps->cap) {
		ps->cap = ps->cap == 0 ? 16 : ps->cap * 2;
		ps->nodes = cld_xrealloc(ps->nodes,
		    ps->cap * sizeof(*ps->nodes));
	}
	nd = &ps->nodes[ps->n];
	memset(nd, 0, sizeof(*nd));
	nd->op = (unsigned char)op;
	nd->height = (unsigned short)(h + 1);
	nd->l = l;
	nd->r = r;
	return (int32_t)ps->n++;
}

/* Count one more level of parentheses or unary operators at token AT. */
static int
enter(struct eparser *ps, const struct token *at)
{
	if (++ps->depth > CLD_EXPR_MAX_DEPTH)
		return fail_at(ps, at->line, at->col,
		    "expression nested too deeply");
	return 0;
}

static int32_t parse_or(struct eparser *ps);

static char *
upper_dup(const char *s, size_t len)
{
	char *u = cld_xmalloc(len + 1);
	size_t i;

	for (i = 0; i < len; i++)
		u[i] = s[i] >= 'a' && s[i] <= 'z' ? (char)(s[i] - 'a' + 'A') :
		    s[i];
	u[len] = '\0';
	return u;
}

/* A string token's text with its escapes undone, malloc()ed. */
static char *
string_value(const struct token *t)
{
	const char *s = t->s + 1;
	size_t len = t->len - 2, i;
	char *v = NULL, *d = NULL;

	if (!t->escaped)
		return cld_xstrndup(s, len);
	v = d = cld_xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		if (s[i] == '\\')
			i++;
		*d++ = s[i];
	}
	*d = '\0';
	return v;
}

static int32_t
parse_primary(struct eparser *ps)
{
	struct token open = ps->tok;
	char what[160], pos[64];
	int32_t i = -1;

	switch (ps->tok.kind) {
	case T_NUM:
		if ((i = add_node(ps, E_NUM, -1, -1, &ps->tok)) < 0)
			return -1;
		ps->nodes[i].num = ps->tok.num;
		ps->nodes[i].isnum = 1;
		break;
	case T_STR:
		if ((i = add_node(ps, E_STR, -1, -1, &ps->tok)) < 0)
			return -1;
		ps->nodes[i].str = string_value(&ps->tok);
		ps->nodes[i].isnum =
		    cld_parse_double(ps->nodes[i].str, &ps->nodes[i].num) == 0;
		break;
	case T_NAME:
		if ((i = add_node(ps, E_ATTR, -1, -1, &ps->tok)) < 0)
			return -1;
		ps->nodes[i].str = upper_dup(ps->tok.s, ps->tok.len);
		break;
	case T_LPAREN:
		if (enter(ps, &open) < 0 || lex(ps) < 0)
			return -1;
		if ((i = parse_or(ps)) < 0)
			return -1;
		if (ps->tok.kind != T_RPAREN) {
			format_pos(ps, open.line, open.col, pos, sizeof(pos));
			snprintf(what, sizeof(what),
			    "expected an operator or ')' to close '(' at %s",
			    pos);
			return fail_found(ps, what);
		}
		ps->depth--;
		break;
	default:
		return fail_found(ps, "expected a value");
	}
	if (lex(ps) < 0)
		return -1;
	return i;
}

static int32_t
parse_unary(struct eparser *ps)
{
	struct token op = ps->tok;
	int32_t c = -1;

	if (op.kind != T_MINUS)
		return parse_primary(ps);
	if (enter(ps, &op) < 0 || lex(ps) < 0)
		return -1;
	if ((c = parse_unary(ps)) < 0)
		return -1;
	ps->depth--;
	/* Fold "-5" into a number: the common case costs nothing at runtime. */
	if (ps->nodes[c].op == E_NUM) {
		ps->nodes[c].num = -ps->nodes[c].num;
		return c;
	}
	return add_node(ps, E_NEG, c, -1, &op);
}

/* Left-associative binary operators: term, sum, and, or. */
static int32_t
parse_binary(struct eparser *ps, int32_t (*operand)(struct eparser *),
    enum tok_kind k1, enum node_op op1, enum tok_kind k2, enum node_op op2)
{
	int32_t l = operand(ps), r = -1;

	while (l >= 0 && (ps->tok.kind == k1 || ps->tok.kind == k2)) {
		struct token op = ps->tok;

		if (lex(ps) < 0 || (r = operand(ps)) < 0)
			return -1;
		l = add_node(ps, op.kind == k1 ? op1 : op2, l, r, &op);
	}
	return l;
}

static int32_t
parse_term(struct eparser *ps)
{
	return parse_binary(ps, parse_unary, T_STAR, E_MUL, T_SLASH, E_DIV);
}

static int32_t
parse_sum(struct eparser *ps)
{
	return parse_binary(ps, parse_term, T_PLUS, E_ADD, T_MINUS, E_SUB);
}

static int
cmp_op(enum tok_kind k, enum node_op *op)
{
	switch (k) {
	case T_EQ: *op = E_EQ; return 1;
	case T_NE: *op = E_NE; return 1;
	case T_LT: *op = E_LT; return 1;
	case T_GT: *op = E_GT; return 1;
	case T_LE: *op = E_LE; return 1;
	case T_GE: *op = E_GE; return 1;
	default: return 0;
	}
}

/* Comparisons do not associate: "1 < A < 3" is an error, not (1 < A) < 3. */
static int32_t
parse_cmp(struct eparser *ps)
{
	int32_t l = parse_sum(ps), r = -1;
	enum node_op op = E_EQ;
	struct token at;

	if (l < 0 || !cmp_op(ps->tok.kind, &op))
		return l;
	at = ps->tok;
	if (lex(ps) < 0 || (r = parse_sum(ps)) < 0)
		return -1;
	if ((l = add_node(ps, op, l, r, &at)) < 0)
		return -1;
	if (cmp_op(ps->tok.kind, &op))
		return fail_found(ps, "expected '&' or '|' between comparisons");
	return l;
}

static int32_t
parse_not(struct eparser *ps)
{
	struct token op = ps->tok;
	int32_t c = -1;

	if (op.kind != T_NOT)
		return parse_cmp(ps);
	if (enter(ps, &op) < 0 || lex(ps) < 0)
		return -1;
	if ((c = parse_not(ps)) < 0)
		return -1;
	ps->depth--;
	return add_node(ps, E_NOT, c, -1, &op);
}

static int32_t
parse_and(struct eparser *ps)
{
	return parse_binary(ps, parse_not, T_AND, E_AND, T_AND, E_AND);
}

static int32_t
parse_or(struct eparser *ps)
{
	return parse_binary(ps, parse_and, T_OR, E_OR, T_OR, E_OR);
}

static void
free_nodes(struct node *nodes, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(nodes[i].str);
	free(nodes);
}

struct cld_expr *
cld_expr_parse(const char *text, struct cld_err *err)
{
	struct eparser ps;
	struct cld_expr *e = NULL;
	int32_t root = -1;

	memset(&ps, 0, sizeof(ps));
	ps.p = text;
	ps.line = 1;
	ps.col = 1;
	ps.err = err;
	ps.multiline = strchr(text, '\n') != NULL;
	/* Node indices are int32_t; no sane expression comes near. */
	if (strlen(text) >= INT32_MAX) {
		fail_at(&ps, 1, 1, "expression too long");
		goto cleanup;
	}
	if (lex(&ps) < 0 || (root = parse_or(&ps)) < 0)
		goto cleanup;
	if (ps.tok.kind != T_END) {
		fail_found(&ps, "expected an operator or end of expression");
		goto cleanup;
	}
	e = cld_xmalloc(sizeof(*e));
	e->nodes = ps.nodes;
	e->n = ps.n;
	e->root = root;
	ps.nodes = NULL;
	ps.n = 0;

cleanup:
	free_nodes(ps.nodes, ps.n);
	return e;
}

void
cld_expr_free(struct cld_expr *e)
{
	if (e == NULL)
		return;
	free_nodes(e->nodes, e->n);
	free(e);
}

/* A value during evaluation.  It points into the tree or the host's data. */
enum val_kind { V_MISSING, V_NUM, V_TEXT };

struct val {
	enum val_kind kind;
	int isnum;          /* num holds its value as a number */
	int literal;        /* a quoted string: '=' matches it as a wildcard */
	double num;
	const char *s;      /* V_TEXT */
};

static void
set_num(struct val *v, double x)
{
	/* Inf and NaN would poison every rank they touch: they count as 0. */
	v->kind = V_NUM;
	v->isnum = 1;
	v->literal = 0;
	v->num = isfinite(x) ? x : 0;
	v->s = NULL;
}

static double
val_num(const struct val *v)
{
	return v->isnum ? v->num : 0;
}

static int
val_true(const struct val *v)
{
	if (v->isnum)
		return v->num != 0;
	return v->kind == V_TEXT && v->s[0] != '\0';
}

/* The value as text; a computed number is printed into BUF. */
static const char *
val_text(const struct val *v, char *buf, size_t size)
{
	if (v->kind == V_TEXT)
		return v->s;
	snprintf(buf, size, "%.15g", v->num);
	return buf;
}

/* One element of a wildcard pattern at P against C: its length, or 0. */
static size_t
wild_one(const char *p, unsigned char c)
{
	const char *s = p + 1, *first = NULL;
	int neg = 0, hit = 0;

	switch (*p) {
	case '?':
		return 1;
	case '\\':
		if (p[1] == '\0')
			return c == '\\';
		return (unsigned char)p[1] == c ? 2 : 0;
	case '[':
		break;
	default:
		return (unsigned char)*p == c;
	}
	if (*s == '!' || *s == '^') {
		neg = 1;
		s++;
	}
	first = s;
	/* A ']' first in the set is a member, as in fnmatch(3). */
	while (*s != '\0' && (*s != ']' || s == first)) {
		unsigned char lo = (unsigned char)*s, hi;

		if (lo == '\\' && s[1] != '\0')
			lo = (unsigned char)*++s;
		s++;
		hi = lo;
		if (s[0] == '-' && s[1] != ']' && s[1] != '\0') {
			s++;
			if (*s == '\\' && s[1] != '\0')
				s++;
			hi = (unsigned char)*s++;
		}
		if (lo <= c && c <= hi)
			hit = 1;
	}
	/* An unclosed '[' is an ordinary character. */
	if (*s != ']')
		return c == '[';
	return hit != neg ? (size_t)(s - p + 1) : 0;
}

/*
 * Whether TEXT matches the shell wildcard PAT (* ? [set] [!set] and \
 * quoting), as fnmatch(3) with no flags in the C locale.  Our own because
 * fnmatch may allocate in multibyte locales.  Iterative: a mismatch goes
 * back to the last '*' only, which suffices since a '*' can only have
 * matched less than it could; no recursion, O(pattern * text).
 */
static int
wild_match(const char *pat, const char *text)
{
	const char *p = pat, *t = text, *star_p = NULL, *star_t = NULL;

	while (*t != '\0') {
		size_t n;

		if (*p == '*') {
			while (*p == '*')
				p++;
			if (*p == '\0')
				return 1;
			star_p = p;
			star_t = t;
			continue;
		}
		if (*p != '\0' && (n = wild_one(p, (unsigned char)*t)) > 0) {
			p += n;
			t++;
			continue;
		}
		if (star_p == NULL)
			return 0;
		p = star_p;
		t = ++star_t;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

static int
compare(enum node_op op, const struct val *l, const struct val *r)
{
	char lbuf[32], rbuf[32];
	int c = 0;

	if (l->kind == V_MISSING || r->kind == V_MISSING)
		return 0;
	if ((op == E_EQ || op == E_NE) && r->literal) {
		int m = wild_match(r->s, val_text(l, lbuf, sizeof(lbuf)));

		return op == E_EQ ? m : !m;
	}
	if (l->isnum && r->isnum) {
		c = (l->num > r->num) - (l->num < r->num);
	} else {
		c = strcmp(val_text(l, lbuf, sizeof(lbuf)),
		    val_text(r, rbuf, sizeof(rbuf)));
	}
	switch (op) {
	case E_EQ: return c == 0;
	case E_NE: return c != 0;
	case E_LT: return c < 0;
	case E_GT: return c > 0;
	case E_LE: return c <= 0;
	default: return c >= 0;
	}
}

/* Recursion is bounded by the tree's height, which the parser limits. */
static void
eval(const struct cld_expr *e, int32_t i, cld_lookup_fn lookup, void *ctx,
    struct val *out)
{
	const struct node *nd = &e->nodes[i];
	struct val l, r;
	double a, b;

	switch ((enum node_op)nd->op) {
	case E_NUM:
		set_num(out, nd->num);
		return;
	case E_STR:
		out->kind = V_TEXT;
		out->isnum = nd->isnum;
		out->literal = 1;
		out->num = nd->num;
		out->s = nd->str;
		return;
	case E_ATTR:
		memset(out, 0, sizeof(*out));
		if ((out->s = lookup(ctx, nd->str)) == NULL) {
			out->kind = V_MISSING;
			return;
		}
		out->kind = V_TEXT;
		out->isnum = cld_parse_double(out->s, &out->num) == 0;
		return;
	case E_OR:
	case E_AND:
		eval(e, nd->l, lookup, ctx, &l);
		if (val_true(&l) == (nd->op == E_OR)) {
			set_num(out, nd->op == E_OR);
			return;
		}
		eval(e, nd->r, lookup, ctx, &r);
		set_num(out, val_true(&r));
		return;
	case E_NOT:
		eval(e, nd->l, lookup, ctx, &l);
		set_num(out, !val_true(&l));
		return;
	case E_EQ: case E_NE: case E_LT: case E_GT: case E_LE: case E_GE:
		eval(e, nd->l, lookup, ctx, &l);
		eval(e, nd->r, lookup, ctx, &r);
		set_num(out, compare((enum node_op)nd->op, &l, &r));
		return;
	case E_NEG:
		eval(e, nd->l, lookup, ctx, &l);
		set_num(out, -val_num(&l));
		return;
	case E_ADD: case E_SUB: case E_MUL: case E_DIV:
		break;
	}
	eval(e, nd->l, lookup, ctx, &l);
	eval(e, nd->r, lookup, ctx, &r);
	a = val_num(&l);
	b = val_num(&r);
	switch ((enum node_op)nd->op) {
	case E_ADD:
		set_num(out, a + b);
		break;
	case E_SUB:
		set_num(out, a - b);
		break;
	case E_MUL:
		set_num(out, a * b);
		break;
	default:
		set_num(out, b == 0 ? 0 : a / b);
		break;
	}
}

int
cld_expr_eval_bool(const struct cld_expr *e, cld_lookup_fn lookup, void *ctx)
{
	struct val v;

	eval(e, e->root, lookup, ctx, &v);
	return val_true(&v);
}

double
cld_expr_eval_num(const struct cld_expr *e, cld_lookup_fn lookup, void *ctx)
{
	struct val v;

	eval(e, e->root, lookup, ctx, &v);
	return val_num(&v);
}

const char *
cld_expr_tmpl_lookup(void *ctx, const char *name)
{
	return cld_tmpl_get((const struct cld_tmpl *)ctx, name);
}
