/*
 * cloudd driver SDK: attribute trees.
 *
 * A template (a VM template, a driver's block in cloudd.conf, a monitoring
 * report) is a list of attributes.  A single attribute has a value; a vector
 * attribute has an ordered list of single attributes.  Names are stored in
 * upper case and compared without regard to case.  Repeated names are kept,
 * in the order written.
 *
 * Drivers receive trees read-only and walk them directly or with the inline
 * helpers below; only the core builds and frees them.  The layout is frozen
 * with ABI major 1.
 */
#ifndef CLOUDD_ATTR_H
#define CLOUDD_ATTR_H

#include <stddef.h>
#include <strings.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cld_attr {
	char *name;           /* upper case, never NULL */
	char *value;          /* a single attribute's value (never NULL); NULL for a vector */
	struct cld_attr *sub; /* a vector's attributes, in order; NULL for a single */
	size_t nsub;
	unsigned int line;    /* where it was written (1-based), 0 if made by the core */
	unsigned int column;
};

struct cld_tmpl {
	struct cld_attr *attrs;
	size_t n;
	size_t cap;           /* the core's, for growing attrs */
};

static inline int
cld_attr_is_vector(const struct cld_attr *a)
{
	return a->value == NULL;
}

/*
 * The next attribute called NAME after PREV (NULL: the first one) in an array
 * of N attributes, or NULL.  Used to walk repeats: DISK, NIC.
 */
static inline const struct cld_attr *
cld_attrs_next(const struct cld_attr *attrs, size_t n, const char *name,
    const struct cld_attr *prev)
{
	size_t i = prev == NULL ? 0 : (size_t)(prev - attrs) + 1;

	for (; i < n; i++)
		if (strcasecmp(attrs[i].name, name) == 0)
			return &attrs[i];
	return NULL;
}

/* The value of the first single attribute NAME of a template, or NULL. */
static inline const char *
cld_tmpl_get(const struct cld_tmpl *t, const char *name)
{
	const struct cld_attr *a = NULL;

	while ((a = cld_attrs_next(t->attrs, t->n, name, a)) != NULL)
		if (a->value != NULL)
			return a->value;
	return NULL;
}

/* The next vector attribute NAME of a template after PREV (NULL: the first). */
static inline const struct cld_attr *
cld_tmpl_next_vector(const struct cld_tmpl *t, const char *name,
    const struct cld_attr *prev)
{
	const struct cld_attr *a = prev;

	while ((a = cld_attrs_next(t->attrs, t->n, name, a)) != NULL)
		if (a->value == NULL)
			return a;
	return NULL;
}

/* The value of NAME inside vector V, or NULL. */
static inline const char *
cld_vector_get(const struct cld_attr *v, const char *name)
{
	const struct cld_attr *a = cld_attrs_next(v->sub, v->nsub, name, NULL);

	return a == NULL ? NULL : a->value;
}

#ifdef __cplusplus
}
#endif
#endif /* CLOUDD_ATTR_H */
