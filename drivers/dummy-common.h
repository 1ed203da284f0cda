/*
 * What the four dummy drivers (vmm, im, tm, net) share: their common options
 * (DELAY, <OP>_DELAY, FAIL, <OP>_FAIL, HANG, HANG_MAX), checked once by init,
 * and dummy_begin(), which every operation calls first to check its flags
 * and then sleep, hang or fail as configured.
 *
 * Everything here is static inline: each driver is its own module, linked
 * with -z defs against libc and libpthread only, and exports nothing but its
 * entry symbol.
 */
#ifndef CLD_DUMMY_COMMON_H
#define CLD_DUMMY_COMMON_H

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cloudd/attr.h>
#include <cloudd/driver.h>
#include <cloudd/error.h>

#define DUMMY_OPS_MAX 10                     /* vmm has the most operations */
#define DUMMY_OPNAME_MAX 16                  /* "mkimage", "migrate" fit */
#define DUMMY_SECONDS_MAX 31536000           /* a year: delays, HANG_MAX */
#define DUMMY_HANG_MAX_DEFAULT (3600 * 1000000LL) /* microseconds */
#define DUMMY_TICK_US 10000                  /* how often a wait looks up */

/* How one operation behaves. */
struct dummy_opconf {
	int64_t delay_us;   /* how long it takes; 0: no sleep at all */
	const char *fail;   /* fail with CLD_EDRIVER and this message, or NULL */
	int hang;           /* never finish until cancelled (or HANG_MAX) */
};

/* An instance's common options; read-only once init has filled it. */
struct dummy_conf {
	const char *klass;               /* "vmm", "im", "tm", "net" */
	const char *const *ops;          /* the class's operations, lower case */
	size_t nops;
	int64_t hang_max_us;             /* HANG_MAX */
	struct dummy_opconf op[DUMMY_OPS_MAX];
};

static inline int64_t
dummy_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void
dummy_sleep_us(int64_t us)
{
	struct timespec ts;

	if (us <= 0)
		return;
	ts.tv_sec = (time_t)(us / 1000000);
	ts.tv_nsec = (long)(us % 1000000) * 1000;
	/* An interrupted sleep is fine: every caller loops on the clock. */
	nanosleep(&ts, NULL);
}

/*
 * Parse a non-negative decimal ("2", "0.25", ".5") into *out, in units of
 * 1/SCALE (SCALE 1000000 turns seconds into microseconds); finer digits are
 * dropped.  Only digits and one '.': no sign, exponent, hex, "inf" or blank.
 * Returns 0, -1 if S is not such a number, or -2 if it is more than MAX (in
 * whole units, at most INT64_MAX / SCALE - 1).
 */
static inline int
dummy_parse_decimal(const char *s, int64_t scale, int64_t max, int64_t *out)
{
	int64_t whole = 0, frac = 0, unit = scale;
	int digits = 0;
	const char *p = s;

	/* Past MAX the number only needs reading to the end, not growing. */
	for (; *p >= '0' && *p <= '9'; p++, digits++)
		if (whole <= max)
			whole = whole * 10 + (*p - '0');
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
			unit /= 10;
			frac += (*p - '0') * unit;
		}
	}
	if (*p != '\0' || digits == 0)
		return -1;
	if (whole > max || (whole == max && frac > 0))
		return -2;
	*out = whole * scale + frac;
	return 0;
}

/*
 * Parse a whole decimal number no greater than MAX.  Returns 0, or -1 if S
 * is not one.
 */
static inline int
dummy_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p == '\0')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (max - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '\0')
		return -1;
	*out = v;
	return 0;
}

/* Read option NAME as seconds into *us (left alone if NAME is not set). */
static inline int
dummy_conf_seconds(struct cld_drv *drv, const char *name, int64_t *us,
    struct cld_err *err)
{
	const char *v = drv->svc->conf_get(drv, name);
	int rc = 0;

	if (v == NULL)
		return 0;
	if ((rc = dummy_parse_decimal(v, 1000000, DUMMY_SECONDS_MAX, us)) == -1)
		cld_err_set(err, CLD_ECONFIG, "%s: '%s' is not a number of seconds",
		    name, v);
	else if (rc == -2)
		cld_err_set(err, CLD_ECONFIG, "%s: '%s' is more than %d seconds",
		    name, v, DUMMY_SECONDS_MAX);
	return rc == 0 ? 0 : -1;
}

/* Read option NAME as an error message into *msg (left alone if not set). */
static inline int
dummy_conf_message(struct cld_drv *drv, const char *name, const char **msg,
    struct cld_err *err)
{
	const char *v = drv->svc->conf_get(drv, name);

	if (v == NULL)
		return 0;
	if (*v == '\0') {
		cld_err_set(err, CLD_ECONFIG, "%s: the message is empty", name);
		return -1;
	}
	*msg = v;
	return 0;
}

/* The index of operation NAME (LEN bytes, any case) in C's class, or -1. */
static inline int
dummy_op_index(const struct dummy_conf *c, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < c->nops; i++)
		if (strlen(c->ops[i]) == len &&
		    strncasecmp(c->ops[i], name, len) == 0)
			return (int)i;
	return -1;
}

/*
 * Report that C's class has no operation NAME (LEN bytes), named in lower
 * case as operations are, on behalf of option OPTION.
 */
static inline void
dummy_err_no_op(struct cld_err *err, const struct dummy_conf *c,
    const char *option, const char *name, size_t len)
{
	char lower[DUMMY_OPNAME_MAX + 1];
	size_t i;

	for (i = 0; i < len && i < DUMMY_OPNAME_MAX; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	lower[i] = '\0';
	cld_err_set(err, CLD_ECONFIG, "%s: the %s driver has no operation '%s%s'",
	    option, c->klass, lower, len > DUMMY_OPNAME_MAX ? "..." : "");
}

/* Non-zero if option NAME ends in SUFFIX and has something before it. */
static inline int
dummy_has_suffix(const char *name, const char *suffix, size_t *prefix_len)
{
	size_t n = strlen(name), m = strlen(suffix);

	if (n <= m || strcasecmp(name + n - m, suffix) != 0)
		return 0;
	*prefix_len = n - m;
	return 1;
}

/* Non-zero if NAME is one of the options of EXTRA (NULL-terminated) or common. */
static inline int
dummy_is_option(const char *const *extra, const char *name)
{
	static const char *const common[] = { "DELAY", "FAIL", "HANG",
		"HANG_MAX", NULL };
	size_t plen = 0;
	size_t i;

	for (i = 0; common[i] != NULL; i++)
		if (strcasecmp(name, common[i]) == 0)
			return 1;
	for (i = 0; extra != NULL && extra[i] != NULL; i++)
		if (strcasecmp(name, extra[i]) == 0)
			return 1;
	return dummy_has_suffix(name, "_DELAY", &plen) ||
	    dummy_has_suffix(name, "_FAIL", &plen);
}

/*
 * Check the names in the instance's block: each <OP>_DELAY and <OP>_FAIL
 * names an operation of the class, and no option of ours is a vector or
 * given twice.  Other names (NAME, MODULE, the core's) are left alone.
 */
static inline int
dummy_conf_check_names(const struct dummy_conf *c, const struct cld_drv *drv,
    const char *const *extra, struct cld_err *err)
{
	const struct cld_attr *a, *b;
	size_t i, j, plen = 0;

	if (drv->conf == NULL || drv->conf->sub == NULL)
		return 0;
	for (i = 0; i < drv->conf->nsub; i++) {
		a = &drv->conf->sub[i];
		if (!dummy_is_option(extra, a->name))
			continue;
		if (cld_attr_is_vector(a)) {
			cld_err_set(err, CLD_ECONFIG,
			    "%s: expected a single value, not a vector", a->name);
			return -1;
		}
		for (j = 0; j < i; j++) {
			b = &drv->conf->sub[j];
			if (strcasecmp(a->name, b->name) == 0) {
				cld_err_set(err, CLD_ECONFIG,
				    "%s: given more than once", a->name);
				return -1;
			}
		}
		if ((dummy_has_suffix(a->name, "_DELAY", &plen) ||
		    dummy_has_suffix(a->name, "_FAIL", &plen)) &&
		    dummy_op_index(c, a->name, plen) == -1) {
			dummy_err_no_op(err, c, a->name, a->name, plen);
			return -1;
		}
	}
	return 0;
}

/*
 * Read HANG: a comma-separated list of operations (any case, blanks around
 * names allowed), or "all"; empty means none.
 */
static inline int
dummy_conf_hang(struct dummy_conf *c, struct cld_drv *drv, struct cld_err *err)
{
	const char *v = drv->svc->conf_get(drv, "HANG");
	const char *p = v, *end = NULL;
	size_t len, i;
	int k;

	if (v == NULL || *v == '\0')
		return 0;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		len = (size_t)(end - p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0) {
			cld_err_set(err, CLD_ECONFIG,
			    "HANG: '%s' has an empty operation name", v);
			return -1;
		}
		if (len == 3 && strncasecmp(p, "all", 3) == 0) {
			for (i = 0; i < c->nops; i++)
				c->op[i].hang = 1;
		} else if ((k = dummy_op_index(c, p, len)) != -1) {
			c->op[k].hang = 1;
		} else {
			dummy_err_no_op(err, c, "HANG", p, len);
			return -1;
		}
		if (*end == '\0')
			return 0;
		p = end + 1;
	}
}

/*
 * Fill C from the instance's block: the common options for the class KLASS
 * whose operations are OPS (NOPS of them, lower case).  EXTRA lists the
 * class's own options (NULL-terminated), which the caller reads itself.
 * Returns 0, or -1 with CLD_ECONFIG in err.  Allocates nothing: the strings
 * kept are the core's, which live as long as the instance.
 */
static inline int
dummy_conf_init(struct dummy_conf *c, struct cld_drv *drv, const char *klass,
    const char *const *ops, size_t nops, const char *const *extra,
    struct cld_err *err)
{
	char name[DUMMY_OPNAME_MAX + sizeof("_DELAY")];
	int64_t delay = 0;
	const char *fail = NULL;
	size_t i, j;

	memset(c, 0, sizeof(*c));
	c->klass = klass;
	c->ops = ops;
	c->nops = nops < DUMMY_OPS_MAX ? nops : DUMMY_OPS_MAX;
	c->hang_max_us = DUMMY_HANG_MAX_DEFAULT;

	if (dummy_conf_check_names(c, drv, extra, err) == -1 ||
	    dummy_conf_seconds(drv, "DELAY", &delay, err) == -1 ||
	    dummy_conf_message(drv, "FAIL", &fail, err) == -1 ||
	    dummy_conf_seconds(drv, "HANG_MAX", &c->hang_max_us, err) == -1 ||
	    dummy_conf_hang(c, drv, err) == -1)
		return -1;

	for (i = 0; i < c->nops; i++) {
		c->op[i].delay_us = delay;
		c->op[i].fail = fail;
		for (j = 0; ops[i][j] != '\0' && j < DUMMY_OPNAME_MAX; j++)
			name[j] = (char)toupper((unsigned char)ops[i][j]);
		memcpy(name + j, "_DELAY", sizeof("_DELAY"));
		if (dummy_conf_seconds(drv, name, &c->op[i].delay_us, err) == -1)
			return -1;
		memcpy(name + j, "_FAIL", sizeof("_FAIL"));
		if (dummy_conf_message(drv, name, &c->op[i].fail, err) == -1)
			return -1;
	}
	return 0;
}

/*
 * Hang: wait, looking every DUMMY_TICK_US, until the operation is cancelled,
 * ignoring its deadline as a hung hypervisor would; give up after HANG_MAX.
 */
static inline int
dummy_hang(struct cld_op *op, const struct dummy_conf *c)
{
	const struct cld_services *svc = op->drv->svc;
	int64_t start = dummy_now_us(), now, left;

	for (;;) {
		if (svc->cancelled(op)) {
			cld_err_set(op->err, CLD_ECANCELED, "cancelled");
			return -1;
		}
		now = dummy_now_us();
		left = c->hang_max_us - (now - start);
		if (left <= 0) {
			cld_err_set(op->err, CLD_ETIMEDOUT,
			    "still hanging after %" PRId64 " ms (HANG_MAX)",
			    (now - start) / 1000);
			return -1;
		}
		dummy_sleep_us(left < DUMMY_TICK_US ? left : DUMMY_TICK_US);
	}
}

/*
 * Take DELAY_US, ending early when the operation is cancelled
 * (CLD_ECANCELED) or its deadline passes (CLD_ETIMEDOUT).
 */
static inline int
dummy_delay(struct cld_op *op, int64_t delay_us)
{
	const struct cld_services *svc = op->drv->svc;
	int64_t start = dummy_now_us(), now, left, rem_ms;

	for (;;) {
		if (svc->cancelled(op)) {
			cld_err_set(op->err, CLD_ECANCELED, "cancelled");
			return -1;
		}
		now = dummy_now_us();
		left = delay_us - (now - start);
		if (left <= 0)
			return 0;
		rem_ms = svc->remaining_ms(op);
		if (rem_ms <= 0) {
			cld_err_set(op->err, CLD_ETIMEDOUT,
			    "deadline passed after %" PRId64 " ms",
			    (now - start) / 1000);
			return -1;
		}
		if (left > DUMMY_TICK_US)
			left = DUMMY_TICK_US;
		if (rem_ms < INT64_MAX / 1000 && left > rem_ms * 1000)
			left = rem_ms * 1000;
		dummy_sleep_us(left);
	}
}

/*
 * What every operation does first: refuse flags outside KNOWN, then take
 * operation OPI's delay (or hang), then fail if so configured.  Returns 0
 * when the operation should go on, or -1 with op->err filled.  With no delay
 * it neither sleeps nor reads the clock.
 */
static inline int
dummy_begin(struct cld_op *op, const struct dummy_conf *c, int opi,
    unsigned int flags, unsigned int known)
{
	const struct dummy_opconf *oc = &c->op[opi];

	if ((flags & ~known) != 0) {
		cld_err_set(op->err, CLD_EINVAL, "unknown flags 0x%x",
		    flags & ~known);
		return -1;
	}
	if (oc->hang)
		return dummy_hang(op, c);
	if (oc->delay_us > 0 && dummy_delay(op, oc->delay_us) == -1)
		return -1;
	if (oc->fail != NULL) {
		cld_err_set(op->err, CLD_EDRIVER, "%s", oc->fail);
		return -1;
	}
	return 0;
}

#endif /* CLD_DUMMY_COMMON_H */
