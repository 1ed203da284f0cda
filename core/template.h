/*
 * The template language: parsing, printing and building attribute trees.
 *
 * A template is OpenNebula's format, one attribute a line:
 *
 *	CPU = 2
 *	NAME = "web server"        # a comment
 *	DISK = [ IMAGE = "debian",
 *	         TARGET = "xvda" ]
 *
 * The tree (struct cld_tmpl, struct cld_attr) is declared in
 * <cloudd/attr.h>; its layout is frozen.  cloudd-template(5) is the user's
 * description of the language.
 *
 * Memory: every name and value in a tree made here is a malloc()ed string
 * owned by the tree, and cld_tmpl_release() frees them.  Running out of
 * memory aborts (see util.h).  A vector's sub array has no capacity member, so
 * every sub array the core makes has room for exactly the smallest power of
 * two >= nsub elements; the functions here rely on that and keep it.
 *
 * Threads: nothing here has global state.  Any thread may call any function;
 * one tree must not be changed by one thread while another uses it.  Nothing
 * blocks except cld_tmpl_parse_file(), which reads a file.
 */
#ifndef CLD_TEMPLATE_H
#define CLD_TEMPLATE_H

#include <stddef.h>

#include <cloudd/attr.h>
#include <cloudd/error.h>

/* The largest text cld_tmpl_parse() accepts, in bytes. */
#define CLD_TMPL_MAX_INPUT ((size_t)64 << 20)

/*
 * Parse LEN bytes of TEXT (which need not be NUL-terminated; a NUL byte in it
 * is an error) into *OUT, which must be zeroed or released.  Returns 0, or -1
 * with err->code CLD_EINVAL and err->msg "line L, column C: <what>", and *OUT
 * left empty.  Columns count UTF-8 characters.  Attributes record the line
 * and column of their name.  "\r\n" counts as a newline; inside a quoted
 * string it is kept as written.  A UTF-8 byte order mark at the start is
 * ignored.
 */
int cld_tmpl_parse(const char *text, size_t len, struct cld_tmpl *out,
    struct cld_err *err);

/*
 * Read PATH and parse it as cld_tmpl_parse() does.  A syntax error reads
 * "'PATH': line L, column C: ..."; a file that cannot be read gives the
 * error of cld_read_file() ("cannot read 'PATH': <strerror>").  Blocks on the
 * file system.
 */
int cld_tmpl_parse_file(const char *path, struct cld_tmpl *out,
    struct cld_err *err);

/*
 * Free everything T holds and leave it empty (all members zero), ready to be
 * filled again.  T may be NULL.
 */
void cld_tmpl_release(struct cld_tmpl *t);

/*
 * The template as text that cld_tmpl_parse() reads back to an equal tree:
 * one 'NAME = "value"' a line, values always quoted and escaped, vectors as
 *
 *	DISK = [
 *	  IMAGE = "debian",
 *	  TARGET = "xvda" ]
 *
 * A vector without attributes, which only the builders below can make, is
 * left out: the language has no way to write it.  Values that are not valid
 * UTF-8 (again only from the builders) are printed as they are and will not
 * parse.  Returns a malloc()ed string the caller frees; never NULL.
 */
char *cld_tmpl_print(const struct cld_tmpl *t);

/*
 * Whether A and B have the same attributes, names, values and vectors in the
 * same order (1) or not (0).  Where they were written (line, column) does not
 * count.
 */
int cld_tmpl_equal(const struct cld_tmpl *a, const struct cld_tmpl *b);

/*
 * Whether NAME is a valid attribute name: [A-Za-z_][A-Za-z0-9_]* (1), or
 * not (0).  NULL is not.
 */
int cld_name_valid(const char *name);

/*
 * The builders.  NAME must be valid (cld_name_valid()) and VALUE not NULL:
 * anything else is a programming error and aborts, because a tree with a bad
 * name would print as a template that does not parse.  Names are stored upper
 * case and compared without regard to case.  Strings are copied.
 */

/* Append the single attribute NAME = VALUE to T. */
void cld_tmpl_add(struct cld_tmpl *t, const char *name, const char *value);

/*
 * Append an empty vector attribute NAME to T and return it, for
 * cld_vector_add().  The pointer points into T and is valid until T next
 * grows or shrinks (the next add, set, remove or release).
 */
struct cld_attr *cld_tmpl_add_vector(struct cld_tmpl *t, const char *name);

/* Append NAME = VALUE to the vector V (made by the functions here). */
void cld_vector_add(struct cld_attr *v, const char *name, const char *value);

/*
 * Replace the value of T's first single attribute NAME with VALUE, or append
 * NAME = VALUE if it has none.  Vectors called NAME are left alone.
 */
void cld_tmpl_set(struct cld_tmpl *t, const char *name, const char *value);

/* Replace the value of the first NAME in vector V, or append NAME = VALUE. */
void cld_vector_set(struct cld_attr *v, const char *name, const char *value);

/*
 * Remove and free every attribute NAME of T, single or vector; the others
 * keep their order.  Returns how many were removed.
 */
size_t cld_tmpl_remove(struct cld_tmpl *t, const char *name);

/*
 * The value of T's first single attribute NAME as a number: 0 with *OUT set,
 * or -1 (and *OUT untouched) when there is none or its value is not wholly a
 * finite number.
 */
int cld_tmpl_get_num(const struct cld_tmpl *t, const char *name, double *out);

/*
 * Make DST a deep copy of SRC.  DST must be zeroed or hold a template, which
 * is released first.  DST == SRC does nothing.
 */
void cld_tmpl_copy(struct cld_tmpl *dst, const struct cld_tmpl *src);

#endif /* CLD_TEMPLATE_H */
