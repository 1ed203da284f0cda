/*
 * The template language.  The parser is a hand-written single pass over the
 * bytes, because it reads a monitoring report from every host every few
 * seconds: no regular expressions, no token copies, one allocation per name
 * and value.  It tracks the line and column as it goes so that an error can
 * say where it is without a second pass.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"
#include "util.h"

/* Names and found text quoted in messages are cut to this many bytes. */
#define SUBJECT_MAX 64

struct parser {
	const char *p;      /* the cursor */
	const char *end;
	unsigned int line;  /* of the cursor, 1-based */
	unsigned int col;   /* in characters, 1-based */
	struct cld_err *err;
};

/* A name as written, for messages: where it starts and how long it is. */
struct subject {
	const char *s;
	size_t len;
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

/* An ASCII byte that may appear in an unquoted value. */
static int
is_value_char(unsigned char c)
{
	switch (c) {
	case '\0': case ' ': case '\t': case '\r': case '\n':
	case '"': case '=': case '[': case ']': case ',': case '#':
		return 0;
	}
	return c < 0x80;
}

static char
to_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* A malloc()ed upper-case copy of the LEN bytes at S. */
static char *
upper_dup(const char *s, size_t len)
{
	char *u = cld_xmalloc(len + 1);
	size_t i;

	for (i = 0; i < len; i++)
		u[i] = to_upper(s[i]);
	u[len] = '\0';
	return u;
}

/*
 * Report an error at LINE, COLUMN.  Every message the parser makes goes
 * through here, so they all read "line L, column C: <what>".  Returns -1.
 */
static CLD_PRINTF(4, 5) int
fail_at(struct parser *ps, unsigned int line, unsigned int col,
    const char *fmt, ...)
{
	char what[CLD_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	cld_err_set(ps->err, CLD_EINVAL, "line %u, column %u: %s", line, col,
	    what);
	return -1;
}

/*
 * The length of the valid UTF-8 sequence at AT (whose first byte is not
 * ASCII), or 0 after reporting at LINE, COL why it is not one.  Overlong
 * forms, surrogates and code points above U+10FFFF are invalid (RFC 3629).
 */
static size_t
utf8_len(struct parser *ps, const char *at, unsigned int line,
    unsigned int col)
{
	const unsigned char *u = (const unsigned char *)at;
	size_t avail = (size_t)(ps->end - at), need = 0, i;
	unsigned char lo = 0x80, hi = 0xBF;
	const char *why = NULL;

	if (u[0] < 0xC0) {
		fail_at(ps, line, col,
		    "invalid UTF-8: unexpected continuation byte 0x%02X", u[0]);
		return 0;
	}
	if (u[0] < 0xC2) {
		fail_at(ps, line, col,
		    "invalid UTF-8: overlong encoding starting with byte 0x%02X",
		    u[0]);
		return 0;
	}
	if (u[0] < 0xE0) {
		need = 1;
	} else if (u[0] < 0xF0) {
		need = 2;
		if (u[0] == 0xE0) {
			lo = 0xA0;
			why = "overlong encoding";
		} else if (u[0] == 0xED) {
			hi = 0x9F;
			why = "surrogate code point";
		}
	} else if (u[0] < 0xF5) {
		need = 3;
		if (u[0] == 0xF0) {
			lo = 0x90;
			why = "overlong encoding";
		} else if (u[0] == 0xF4) {
			hi = 0x8F;
			why = "code point above U+10FFFF";
		}
	} else {
		fail_at(ps, line, col,
		    "invalid UTF-8: byte 0x%02X never occurs in UTF-8", u[0]);
		return 0;
	}
	for (i = 1; i <= need; i++) {
		if (i >= avail || (u[i] & 0xC0) != 0x80) {
			fail_at(ps, line, col, "invalid UTF-8: truncated "
			    "sequence starting with byte 0x%02X", u[0]);
			return 0;
		}
		/* Only the second byte's range depends on the first. */
		if (i == 1 && (u[1] < lo || u[1] > hi)) {
			fail_at(ps, line, col, "invalid UTF-8: %s starting "
			    "with byte 0x%02X", why, u[0]);
			return 0;
		}
	}
	return need + 1;
}

static int
at_newline(const struct parser *ps)
{
	return ps->p < ps->end && (ps->p[0] == '\n' ||
	    (ps->p[0] == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n'));
}

static void
eat_newline(struct parser *ps)
{
	ps->p += ps->p[0] == '\r' ? 2 : 1;
	ps->line++;
	ps->col = 1;
}

/* Spaces, tabs and a carriage return that does not end a line. */
static void
skip_blanks(struct parser *ps)
{
	while (ps->p < ps->end) {
		char c = ps->p[0];

		if (c != ' ' && c != '\t' && (c != '\r' || at_newline(ps)))
			return;
		ps->p++;
		ps->col++;
	}
}

/*
 * Describe what is at AT (LINE, COL) for a "found ..." message into BUF.
 * A NUL byte or invalid UTF-8 there is an error of its own: that is reported
 * instead, and -1 returned.
 */
static int
describe(struct parser *ps, const char *at, unsigned int line,
    unsigned int col, char *buf, size_t size)
{
	unsigned char c;
	size_t n;

	if (at >= ps->end) {
		snprintf(buf, size, "end of input");
		return 0;
	}
	c = (unsigned char)at[0];
	if (c == '\n' || (c == '\r' && at + 1 < ps->end && at[1] == '\n')) {
		snprintf(buf, size, "end of line");
	} else if (c == '\0') {
		return fail_at(ps, line, col, "unexpected NUL byte");
	} else if (c >= 0x80) {
		if ((n = utf8_len(ps, at, line, col)) == 0)
			return -1;
		snprintf(buf, size, "'%.*s'", (int)n, at);
	} else if (c < 0x20 || c == 0x7F) {
		snprintf(buf, size, "control character U+%04X", c);
	} else {
		snprintf(buf, size, "'%c'", c);
	}
	return 0;
}

/*
 * Fail at the cursor with WHAT, unless a NUL byte or invalid UTF-8 is there:
 * then that is the error, since it is what is really wrong.
 *
 * Messages follow one rule: one that names its subject ("expected '=' after
 * 'CPU'") lets the column show what is there; one with no subject says what
 * it found ("expected an attribute name, found '='"), via fail_found().
 */
static int
fail_here(struct parser *ps, const char *what)
{
	char found[32];

	if (describe(ps, ps->p, ps->line, ps->col, found, sizeof(found)) < 0)
		return -1;
	return fail_at(ps, ps->line, ps->col, "%s", what);
}

/* Fail at the cursor with "WHAT, found <what is there>". */
static int
fail_found(struct parser *ps, const char *what)
{
	char found[32];

	if (describe(ps, ps->p, ps->line, ps->col, found, sizeof(found)) < 0)
		return -1;
	return fail_at(ps, ps->line, ps->col, "%s, found %s", what, found);
}

/* Skip a comment from its '#' to the end of the line (left for the caller). */
static int
skip_comment(struct parser *ps)
{
	while (ps->p < ps->end && !at_newline(ps)) {
		unsigned char c = (unsigned char)ps->p[0];
		size_t n = 1;

		if (c == '\0')
			return fail_at(ps, ps->line, ps->col,
			    "unexpected NUL byte");
		if (c >= 0x80 && (n = utf8_len(ps, ps->p, ps->line,
		    ps->col)) == 0)
			return -1;
		ps->p += n;
		ps->col++;
	}
	return 0;
}

/* Inside brackets: skip blanks, newlines and comments. */
static int
skip_space(struct parser *ps)
{
	for (;;) {
		skip_blanks(ps);
		if (at_newline(ps))
			eat_newline(ps);
		else if (ps->p < ps->end && ps->p[0] == '#') {
			if (skip_comment(ps) < 0)
				return -1;
		} else
			return 0;
	}
}

/* "'NAME'" for a message, cut if very long. */
static void
quote_subject(const struct subject *sj, char *buf, size_t size)
{
	if (sj->len > SUBJECT_MAX)
		snprintf(buf, size, "'%.*s...'", SUBJECT_MAX, sj->s);
	else
		snprintf(buf, size, "'%.*s'", (int)sj->len, sj->s);
}

/*
 * Scan a name at the cursor, which the caller has checked starts one.  Names
 * are ASCII, so the column moves with the bytes.
 */
static void
scan_name(struct parser *ps, struct subject *sj)
{
	const char *s = ps->p;

	while (ps->p < ps->end && is_name_char((unsigned char)ps->p[0]))
		ps->p++;
	sj->s = s;
	sj->len = (size_t)(ps->p - s);
	ps->col += (unsigned int)sj->len;
}

/* Copy the LEN bytes of a quoted string's body at S, undoing escapes. */
static char *
unescape(const char *s, size_t len, int escaped)
{
	char *v = cld_xmalloc(len + 1), *d = v;
	size_t i;

	if (!escaped) {
		memcpy(v, s, len);
		v[len] = '\0';
		return v;
	}
	for (i = 0; i < len; i++) {
		if (s[i] != '\\') {
			*d++ = s[i];
			continue;
		}
		/* The scan has checked that only these four occur. */
		switch (s[++i]) {
		case 'n':
			*d++ = '\n';
			break;
		case 't':
			*d++ = '\t';
			break;
		default: /* '"' and '\\' */
			*d++ = s[i];
			break;
		}
	}
	*d = '\0';
	return v;
}

/*
 * Scan a quoted string at the cursor (on its opening quote) into a malloc()ed
 * *OUT.  It is scanned first, to check it and find its end, and then copied
 * in one allocation.
 */
static int
scan_quoted(struct parser *ps, char **out)
{
	unsigned int qline = ps->line, qcol = ps->col;
	const char *body = NULL;
	int escaped = 0;
	char found[32];

	ps->p++;
	ps->col++;
	body = ps->p;
	for (;;) {
		unsigned char c;
		size_t n;

		if (ps->p >= ps->end)
			return fail_at(ps, ps->line, ps->col,
			    "unterminated quoted string (opened at line %u, "
			    "column %u)", qline, qcol);
		c = (unsigned char)ps->p[0];
		if (c == '"')
			break;
		if (c == '\\') {
			unsigned int bcol = ps->col;
			char e;

			if (ps->p + 1 >= ps->end) {
				ps->p++;
				ps->col++;
				continue; /* reported as unterminated */
			}
			e = ps->p[1];
			if (e == '"' || e == '\\' || e == 'n' || e == 't') {
				escaped = 1;
				ps->p += 2;
				ps->col += 2;
				continue;
			}
			if (describe(ps, ps->p + 1, ps->line, bcol + 1, found,
			    sizeof(found)) < 0)
				return -1;
			if (found[0] == '\'')
				return fail_at(ps, ps->line, bcol,
				    "invalid escape '\\%s", found + 1);
			return fail_at(ps, ps->line, bcol,
			    "invalid escape: '\\' followed by %s", found);
		}
		if (c == '\n') {
			ps->p++;
			ps->line++;
			ps->col = 1;
			continue;
		}
		if (c == '\0')
			return fail_at(ps, ps->line, ps->col,
			    "unexpected NUL byte");
		n = 1;
		if (c >= 0x80 && (n = utf8_len(ps, ps->p, ps->line,
		    ps->col)) == 0)
			return -1;
		ps->p += n;
		ps->col++;
	}
	*out = unescape(body, (size_t)(ps->p - body), escaped);
	ps->p++;
	ps->col++;
	return 0;
}

/* Scan an unquoted value at the cursor (on its first character). */
static int
scan_unquoted(struct parser *ps, char **out)
{
	const char *s = ps->p;

	while (ps->p < ps->end) {
		unsigned char c = (unsigned char)ps->p[0];

		if (c >= 0x80) {
			size_t n = utf8_len(ps, ps->p, ps->line, ps->col);

			if (n == 0)
				return -1;
			ps->p += n;
		} else if (is_value_char(c)) {
			ps->p++;
		} else {
			break;
		}
		ps->col++;
	}
	*out = cld_xstrndup(s, (size_t)(ps->p - s));
	return 0;
}

/*
 * Scan the value of NAME at the cursor, quoted or not.  Anything else there
 * is "expected a value for 'NAME'".
 */
static int
scan_value(struct parser *ps, const struct subject *name, char **out)
{
	char what[SUBJECT_MAX + 64], subj[SUBJECT_MAX + 8];
	unsigned char c = ps->p < ps->end ? (unsigned char)ps->p[0] : 0;

	if (ps->p < ps->end && c == '"')
		return scan_quoted(ps, out);
	if (ps->p < ps->end && (c >= 0x80 || is_value_char(c)))
		return scan_unquoted(ps, out);
	quote_subject(name, subj, sizeof(subj));
	snprintf(what, sizeof(what), "expected a value for %s", subj);
	return fail_here(ps, what);
}

/*
 * The sub array of a vector has no capacity member.  Its capacity is kept at
 * the smallest power of two >= nsub (0 when empty), so it is full, and must
 * grow, exactly when nsub is 0 or a power of two.
 */
static size_t
sub_capacity(size_t nsub)
{
	size_t cap = 1;

	if (nsub == 0)
		return 0;
	while (cap < nsub)
		cap *= 2;
	return cap;
}

/* Append a zeroed attribute to vector V; the caller fills it. */
static struct cld_attr *
vector_push(struct cld_attr *v)
{
	struct cld_attr *a = NULL;

	if (v->nsub == 0 || (v->nsub & (v->nsub - 1)) == 0) {
		size_t cap = v->nsub == 0 ? 1 : v->nsub * 2;

		if (cap > SIZE_MAX / sizeof(*v->sub))
			abort();
		v->sub = cld_xrealloc(v->sub, cap * sizeof(*v->sub));
	}
	a = &v->sub[v->nsub++];
	memset(a, 0, sizeof(*a));
	return a;
}

/* Append a zeroed attribute to T; the caller fills it. */
static struct cld_attr *
tmpl_push(struct cld_tmpl *t)
{
	struct cld_attr *a = NULL;

	if (t->n == t->cap) {
		size_t cap = t->cap == 0 ? 16 : t->cap * 2;

		if (cap > SIZE_MAX / sizeof(*t->attrs))
			abort();
		t->attrs = cld_xrealloc(t->attrs, cap * sizeof(*t->attrs));
		t->cap = cap;
	}
	a = &t->attrs[t->n++];
	memset(a, 0, sizeof(*a));
	return a;
}

/*
 * Parse a vector's contents, from its '[' at the cursor through its ']',
 * into V.  NAME is the vector's, for messages.  Inside the brackets newlines
 * and comments may go anywhere.
 */
static int
parse_vector(struct parser *ps, struct cld_attr *v, const struct subject *name)
{
	char subj[SUBJECT_MAX + 8], what[2 * SUBJECT_MAX + 64];
	unsigned int bline = ps->line, bcol = ps->col;
	struct subject sj;

	quote_subject(name, subj, sizeof(subj));
	ps->p++;
	ps->col++;
	if (skip_space(ps) < 0)
		return -1;
	if (ps->p < ps->end && ps->p[0] == ']')
		return fail_at(ps, bline, bcol, "empty vector %s", subj);
	for (;;) {
		unsigned int line, col;
		struct cld_attr *a = NULL;
		char *value = NULL;
		char esubj[SUBJECT_MAX + 8];

		if (ps->p >= ps->end)
			goto unterminated;
		if (!is_name_start((unsigned char)ps->p[0])) {
			snprintf(what, sizeof(what),
			    "expected an attribute name in vector %s", subj);
			return fail_found(ps, what);
		}
		line = ps->line;
		col = ps->col;
		scan_name(ps, &sj);
		quote_subject(&sj, esubj, sizeof(esubj));
		if (skip_space(ps) < 0)
			return -1;
		if (ps->p >= ps->end)
			goto unterminated;
		if (ps->p[0] != '=') {
			snprintf(what, sizeof(what), "expected '=' after %s",
			    esubj);
			return fail_here(ps, what);
		}
		ps->p++;
		ps->col++;
		if (skip_space(ps) < 0)
			return -1;
		if (ps->p >= ps->end)
			goto unterminated;
		if (ps->p[0] == '[')
			return fail_at(ps, ps->line, ps->col,
			    "nested vectors are not allowed");
		if (scan_value(ps, &sj, &value) < 0)
			return -1;
		a = vector_push(v);
		a->name = upper_dup(sj.s, sj.len);
		a->value = value;
		a->line = line;
		a->column = col;
		if (skip_space(ps) < 0)
			return -1;
		if (ps->p >= ps->end)
			goto unterminated;
		if (ps->p[0] == ',') {
			ps->p++;
			ps->col++;
			if (skip_space(ps) < 0)
				return -1;
			/* A trailing comma is allowed. */
			if (ps->p < ps->end && ps->p[0] == ']')
				break;
			continue;
		}
		if (ps->p[0] == ']')
			break;
		snprintf(what, sizeof(what),
		    "expected ',' or ']' after the value of %s", esubj);
		return fail_here(ps, what);
	}
	ps->p++;
	ps->col++;
	return 0;

unterminated:
	return fail_at(ps, ps->line, ps->col,
	    "unterminated vector %s (opened at line %u, column %u)", subj,
	    bline, bcol);
}

/*
 * Parse one top-level attribute, the cursor on the start of its name, and
 * set *SJ to its name as written.
 */
static int
parse_attribute(struct parser *ps, struct cld_tmpl *t, struct subject *sj)
{
	char subj[SUBJECT_MAX + 8], what[SUBJECT_MAX + 64];
	unsigned int line = ps->line, col = ps->col;
	struct cld_attr *a = NULL;
	char *value = NULL;

	if (!is_name_start((unsigned char)ps->p[0]))
		return fail_found(ps, "expected an attribute name");
	scan_name(ps, sj);
	skip_blanks(ps);
	if (ps->p >= ps->end || ps->p[0] != '=') {
		quote_subject(sj, subj, sizeof(subj));
		snprintf(what, sizeof(what), "expected '=' after %s", subj);
		return fail_here(ps, what);
	}
	ps->p++;
	ps->col++;
	skip_blanks(ps);
	if (ps->p < ps->end && ps->p[0] == '[') {
		a = tmpl_push(t);
		a->name = upper_dup(sj->s, sj->len);
		a->line = line;
		a->column = col;
		return parse_vector(ps, a, sj);
	}
	if (scan_value(ps, sj, &value) < 0)
		return -1;
	a = tmpl_push(t);
	a->name = upper_dup(sj->s, sj->len);
	a->value = value;
	a->line = line;
	a->column = col;
	return 0;
}

int
cld_tmpl_parse(const char *text, size_t len, struct cld_tmpl *out,
    struct cld_err *err)
{
	struct parser ps = { NULL, NULL, 1, 1, err };
	char subj[SUBJECT_MAX + 8], what[SUBJECT_MAX + 64];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (len > CLD_TMPL_MAX_INPUT) {
		cld_err_set(err, CLD_EINVAL, "template too large: %zu bytes "
		    "(the limit is %zu)", len, CLD_TMPL_MAX_INPUT);
		goto cleanup;
	}
	ps.p = len == 0 ? "" : text;
	ps.end = ps.p + len;
	/* Editors that write CRLF often write a byte order mark too. */
	if (len >= 3 && memcmp(ps.p, "\xef\xbb\xbf", 3) == 0)
		ps.p += 3;
	for (;;) {
		struct subject sj;

		skip_blanks(&ps);
		if (ps.p < ps.end && ps.p[0] == '#' && skip_comment(&ps) < 0)
			goto cleanup;
		if (ps.p >= ps.end)
			break;
		if (at_newline(&ps)) {
			eat_newline(&ps);
			continue;
		}
		if (parse_attribute(&ps, out, &sj) < 0)
			goto cleanup;
		skip_blanks(&ps);
		if (ps.p < ps.end && ps.p[0] == '#' && skip_comment(&ps) < 0)
			goto cleanup;
		if (ps.p >= ps.end)
			break;
		if (at_newline(&ps)) {
			eat_newline(&ps);
			continue;
		}
		quote_subject(&sj, subj, sizeof(subj));
		snprintf(what, sizeof(what),
		    "expected end of line after the value of %s", subj);
		fail_here(&ps, what);
		goto cleanup;
	}
	rc = 0;

cleanup:
	if (rc < 0)
		cld_tmpl_release(out);
	return rc;
}

int
cld_tmpl_parse_file(const char *path, struct cld_tmpl *out,
    struct cld_err *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if ((text = cld_read_file(path, &len, err)) == NULL)
		goto cleanup;
	if (cld_tmpl_parse(text, len, out, err) < 0) {
		cld_err_prefix(err, "'%s'", path);
		goto cleanup;
	}
	rc = 0;

cleanup:
	free(text);
	return rc;
}

static void
attr_clear(struct cld_attr *a)
{
	size_t i;

	for (i = 0; i < a->nsub; i++)
		attr_clear(&a->sub[i]);
	free(a->sub);
	free(a->name);
	free(a->value);
	memset(a, 0, sizeof(*a));
}

void
cld_tmpl_release(struct cld_tmpl *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		attr_clear(&t->attrs[i]);
	free(t->attrs);
	memset(t, 0, sizeof(*t));
}

/* A growing output buffer for the printer. */
struct strbuf {
	char *s;
	size_t len;
	size_t cap;
};

static void
sb_grow(struct strbuf *sb, size_t more)
{
	if (sb->cap - sb->len > more)
		return;
	while (sb->cap - sb->len <= more)
		sb->cap = sb->cap == 0 ? 256 : sb->cap * 2;
	sb->s = cld_xrealloc(sb->s, sb->cap);
}

static void
sb_add(struct strbuf *sb, const char *s, size_t n)
{
	sb_grow(sb, n);
	memcpy(sb->s + sb->len, s, n);
	sb->len += n;
	sb->s[sb->len] = '\0';
}

static void
sb_puts(struct strbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

/* VALUE in double quotes, with the four escapes the parser knows. */
static void
sb_quote(struct strbuf *sb, const char *value)
{
	const char *s = value, *run = value;

	sb_add(sb, "\"", 1);
	for (; *s != '\0'; s++) {
		const char *esc = NULL;

		switch (*s) {
		case '"':
			esc = "\\\"";
			break;
		case '\\':
			esc = "\\\\";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\t':
			esc = "\\t";
			break;
		default:
			continue;
		}
		sb_add(sb, run, (size_t)(s - run));
		sb_add(sb, esc, 2);
		run = s + 1;
	}
	sb_add(sb, run, (size_t)(s - run));
	sb_add(sb, "\"", 1);
}

char *
cld_tmpl_print(const struct cld_tmpl *t)
{
	struct strbuf sb = { NULL, 0, 0 };
	size_t i, j;

	sb_grow(&sb, 0);
	sb.s[0] = '\0';
	for (i = 0; i < t->n; i++) {
		const struct cld_attr *a = &t->attrs[i];

		if (!cld_attr_is_vector(a)) {
			sb_puts(&sb, a->name);
			sb_add(&sb, " = ", 3);
			sb_quote(&sb, a->value);
			sb_add(&sb, "\n", 1);
			continue;
		}
		if (a->nsub == 0)
			continue;
		sb_puts(&sb, a->name);
		sb_add(&sb, " = [", 4);
		for (j = 0; j < a->nsub; j++) {
			sb_add(&sb, j == 0 ? "\n  " : ",\n  ", j == 0 ? 3 : 4);
			sb_puts(&sb, a->sub[j].name);
			sb_add(&sb, " = ", 3);
			sb_quote(&sb, a->sub[j].value);
		}
		sb_add(&sb, " ]\n", 3);
	}
	return sb.s;
}

static int
attr_equal(const struct cld_attr *a, const struct cld_attr *b)
{
	size_t i;

	if (strcmp(a->name, b->name) != 0)
		return 0;
	if (cld_attr_is_vector(a) != cld_attr_is_vector(b))
		return 0;
	if (!cld_attr_is_vector(a))
		return strcmp(a->value, b->value) == 0;
	if (a->nsub != b->nsub)
		return 0;
	for (i = 0; i < a->nsub; i++)
		if (!attr_equal(&a->sub[i], &b->sub[i]))
			return 0;
	return 1;
}

int
cld_tmpl_equal(const struct cld_tmpl *a, const struct cld_tmpl *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (!attr_equal(&a->attrs[i], &b->attrs[i]))
			return 0;
	return 1;
}

int
cld_name_valid(const char *name)
{
	const char *s = name;

	if (s == NULL || !is_name_start((unsigned char)*s))
		return 0;
	while (*++s != '\0')
		if (!is_name_char((unsigned char)*s))
			return 0;
	return 1;
}

/* The builders' precondition; see template.h for why it aborts. */
static void
check_args(const char *name, const char *value, int need_value)
{
	if (!cld_name_valid(name)) {
		fprintf(stderr, "cloudd: invalid attribute name '%s'\n",
		    name == NULL ? "(null)" : name);
		abort();
	}
	if (need_value && value == NULL) {
		fprintf(stderr, "cloudd: NULL value for attribute '%s'\n",
		    name);
		abort();
	}
}

void
cld_tmpl_add(struct cld_tmpl *t, const char *name, const char *value)
{
	struct cld_attr *a = NULL;

	check_args(name, value, 1);
	a = tmpl_push(t);
	a->name = upper_dup(name, strlen(name));
	a->value = cld_xstrdup(value);
}

struct cld_attr *
cld_tmpl_add_vector(struct cld_tmpl *t, const char *name)
{
	struct cld_attr *a = NULL;

	check_args(name, NULL, 0);
	a = tmpl_push(t);
	a->name = upper_dup(name, strlen(name));
	return a;
}

void
cld_vector_add(struct cld_attr *v, const char *name, const char *value)
{
	struct cld_attr *a = NULL;

	check_args(name, value, 1);
	a = vector_push(v);
	a->name = upper_dup(name, strlen(name));
	a->value = cld_xstrdup(value);
}

/* Replace A's value with a copy of VALUE (which may be A's own value). */
static void
replace_value(struct cld_attr *a, const char *value)
{
	char *v = cld_xstrdup(value);

	free(a->value);
	a->value = v;
}

void
cld_tmpl_set(struct cld_tmpl *t, const char *name, const char *value)
{
	size_t i;

	check_args(name, value, 1);
	for (i = 0; i < t->n; i++) {
		struct cld_attr *a = &t->attrs[i];

		if (!cld_attr_is_vector(a) && strcasecmp(a->name, name) == 0) {
			replace_value(a, value);
			return;
		}
	}
	cld_tmpl_add(t, name, value);
}

void
cld_vector_set(struct cld_attr *v, const char *name, const char *value)
{
	size_t i;

	check_args(name, value, 1);
	for (i = 0; i < v->nsub; i++) {
		if (strcasecmp(v->sub[i].name, name) == 0) {
			replace_value(&v->sub[i], value);
			return;
		}
	}
	cld_vector_add(v, name, value);
}

size_t
cld_tmpl_remove(struct cld_tmpl *t, const char *name)
{
	size_t i, kept = 0, removed = 0;

	for (i = 0; i < t->n; i++) {
		if (strcasecmp(t->attrs[i].name, name) == 0) {
			attr_clear(&t->attrs[i]);
			removed++;
			continue;
		}
		if (kept != i)
			t->attrs[kept] = t->attrs[i];
		kept++;
	}
	t->n = kept;
	return removed;
}

int
cld_tmpl_get_num(const struct cld_tmpl *t, const char *name, double *out)
{
	const char *v = cld_tmpl_get(t, name);

	if (v == NULL)
		return -1;
	return cld_parse_double(v, out);
}

static void
attr_copy(struct cld_attr *dst, const struct cld_attr *src)
{
	size_t i;

	dst->name = cld_xstrdup(src->name);
	dst->value = src->value == NULL ? NULL : cld_xstrdup(src->value);
	dst->line = src->line;
	dst->column = src->column;
	dst->nsub = src->nsub;
	dst->sub = NULL;
	if (src->nsub == 0)
		return;
	/* Keep the capacity rule of vector_push(). */
	dst->sub = cld_xcalloc(sub_capacity(src->nsub), sizeof(*dst->sub));
	for (i = 0; i < src->nsub; i++)
		attr_copy(&dst->sub[i], &src->sub[i]);
}

void
cld_tmpl_copy(struct cld_tmpl *dst, const struct cld_tmpl *src)
{
	size_t i;

	if (dst == src)
		return;
	cld_tmpl_release(dst);
	if (src->n == 0)
		return;
	dst->attrs = cld_xcalloc(src->n, sizeof(*dst->attrs));
	dst->cap = src->n;
	dst->n = src->n;
	for (i = 0; i < src->n; i++)
		attr_copy(&dst->attrs[i], &src->attrs[i]);
}
