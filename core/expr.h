/*
 * REQUIREMENTS and RANK: the expressions a VM template uses to choose and
 * order hosts, evaluated against each host's attributes.
 *
 *	REQUIREMENTS = "HYPERVISOR = \"xen\" & FREECPU >= 100"
 *	RANK = "FREECPU - RUNNING_VMS * 10"
 *
 * Grammar, lowest precedence first:
 *
 *	or     := and { '|' and }
 *	and    := not { '&' not }
 *	not    := '!' not | cmp
 *	cmp    := sum [ ( '=' | '!=' | '<' | '>' | '<=' | '>=' ) sum ]
 *	sum    := term { ( '+' | '-' ) term }
 *	term   := unary { ( '*' | '/' ) unary }
 *	unary  := '-' unary | primary
 *	primary := NUMBER | "STRING" | NAME | '(' or ')'
 *
 * NUMBER is 12, 0.5, 1e3 and the like; a STRING knows the escapes \" and \\;
 * a NAME is an attribute ([A-Za-z_][A-Za-z0-9_]*, any case).
 *
 * Meaning: text that parses wholly as a number (an attribute's value or a
 * string) is a number.  A comparison of two numbers is numeric.  '=' and
 * '!=' with a quoted string on the right match the left side's text against
 * it as a shell wildcard (fnmatch(3): * ? [...]).  Otherwise comparisons
 * compare text, byte by byte.  A comparison with a missing attribute on
 * either side is false.  In arithmetic a missing attribute or text that is
 * not a number is 0, and so is a division by zero or a result too large to
 * represent.  Comparisons, '&', '|' and '!' give 1 or 0.  As a truth value a
 * number is true when not 0, other text when not empty, a missing attribute
 * never.
 *
 * An expression is compiled once to a tree; evaluating it allocates nothing
 * and its depth is bounded, so the scheduler can run it for every host.
 *
 * Threads: a compiled expression is read-only; any number of threads may
 * evaluate it at once, with their own lookup contexts.  Nothing blocks.
 */
#ifndef CLD_EXPR_H
#define CLD_EXPR_H

#include <cloudd/error.h>

/* How deep parentheses and operators may nest. */
#define CLD_EXPR_MAX_DEPTH 256

/* A compiled expression; opaque. */
struct cld_expr;

/*
 * Return the value of attribute NAME (given upper case) as text, or NULL
 * when the host has no such attribute.  The string must stay valid until the
 * evaluation that asked for it returns.  Called during evaluation, from the
 * evaluating thread.
 */
typedef const char *(*cld_lookup_fn)(void *ctx, const char *name);

/*
 * Compile TEXT.  Returns an expression the caller frees with
 * cld_expr_free(), or NULL with err->code CLD_EINVAL and err->msg
 * "column C: <what was expected or found>" ("line L, column C: ..." when
 * TEXT has several lines).  Columns count UTF-8 characters from 1.
 */
struct cld_expr *cld_expr_parse(const char *text, struct cld_err *err);

/*
 * Evaluate E as a REQUIREMENTS condition: non-zero when the host whose
 * attributes LOOKUP (called with CTX) returns qualifies.
 */
int cld_expr_eval_bool(const struct cld_expr *e, cld_lookup_fn lookup,
    void *ctx);

/* Evaluate E as a RANK: a finite number, never NaN or infinite. */
double cld_expr_eval_num(const struct cld_expr *e, cld_lookup_fn lookup,
    void *ctx);

/*
 * A cld_lookup_fn over a template: CTX is a const struct cld_tmpl *, and the
 * value is that of its first single attribute NAME.
 */
const char *cld_expr_tmpl_lookup(void *ctx, const char *name);

/* Free E.  NULL is fine. */
void cld_expr_free(struct cld_expr *e);

#endif /* CLD_EXPR_H */
