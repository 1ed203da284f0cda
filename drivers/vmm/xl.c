/*
 * vmm/xl: Xen through its command line toolstack, xl, or on older hosts
 * xm, run on each host over ssh (svc->ssh).
 *
 * Deploy writes a domain configuration for the VM from its template (in
 * xl's dialect, or in xm's, which is Python) and sends it on ssh's standard
 * input to a fixed script on the host that stores it in the VM's directory
 * and runs "xl create" on it.  Every other operation is one or a few fixed
 * commands or scripts (xl shutdown, destroy, reboot, pause, unpause, save,
 * restore, migrate, list) whose data are positional arguments quoted by the
 * core; nothing here builds a command line from data.
 *
 * Which tool a host has is found once ("command -v") and remembered per
 * host; a tool that has gone missing (status 127) is looked for again.
 *
 * Template values reach the configuration only inside double quotes, and a
 * value a quoted string cannot hold as written (a double quote, a
 * backslash, a control character) is refused with an error naming the
 * attribute, as is a value that would change the meaning of a disk or vif
 * spec (commas, '='): no template can add a setting the driver did not
 * write, except through RAW, which the instance must allow (option RAW).
 *
 * Polls run "xl list NAME" (state, memory, CPU time) and read the host's
 * /proc/net/dev for the domain's vifs; CPU in use is the CPU time between
 * two polls of the same VM over the time between them.
 *
 * See cloudd-vmm-xl(7).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cloudd/driver.h>

enum xl_tool { XL_TOOL_NONE = 0, XL_TOOL_XL = 1, XL_TOOL_XM = 2 };

static const char *const xl_tool_names[] = { "none", "xl", "xm" };

/* The instance's options; see cloudd-vmm-xl(7). */
static const char *const xl_options[] = { "XL", "XM", "TOOLSTACK",
	"SHUTDOWN_POLL", "MIGRATE_SSH", "DISK_FORMAT", "CPU_CAP", "RAW",
	"ON_POWEROFF", "ON_REBOOT", "ON_CRASH", "HVMLOADER", NULL };

#define XL_CONFIG_NAME "xen.cfg"       /* in the VM's directory */
#define XL_PATH_MAX 1024
#define XL_WEIGHT_PER_CPU 256          /* the credit scheduler's default weight */
#define XL_WEIGHT_MAX 65535
#define XL_TEXT_MAX 4096               /* one template value */
#define XL_CPU_BUCKETS 256

struct xl_host {
	struct xl_host *next;
	int tool;
	char name[];
};

/* The last CPU time seen of a domain, for the next poll's CPU figure. */
struct xl_cpu {
	struct xl_cpu *next;
	double cputime;               /* seconds, as xl list prints them */
	int64_t at_ms;                /* CLOCK_MONOTONIC */
	char key[];                   /* host '\0' name */
};

struct xl {
	const char *prog[3];          /* [XL_TOOL_XL], [XL_TOOL_XM]: programs */
	int toolstack;                /* XL_TOOL_NONE: find out per host */
	int64_t poll_ms;              /* SHUTDOWN_POLL */
	const char *migrate_ssh;      /* MIGRATE_SSH: xl migrate -s, or NULL */
	const char *disk_format;      /* DISK_FORMAT */
	int cpu_cap;                  /* CPU_CAP */
	int raw;                      /* RAW */
	const char *on_poweroff, *on_reboot, *on_crash;
	const char *hvmloader;        /* HVMLOADER, for xm HVM guests */
	pthread_mutex_t lock;         /* guards hosts and cpu */
	struct xl_host *hosts;
	struct xl_cpu *cpu[XL_CPU_BUCKETS];
};

/* -- small helpers -- */

static int64_t
xl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
xl_in(const char *s, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strcasecmp(s, *set) == 0)
			return 1;
	return 0;
}

/* Non-zero if every byte of S is a letter, a digit or one of EXTRA. */
static int
xl_chars(const char *s, const char *extra)
{
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr(extra, *s) == NULL)
			return 0;
	return 1;
}

/*
 * Non-zero if P is an absolute path of letters, digits and "._+-/" with no
 * empty, "." or ".." component: it may stand in a disk spec, in a config and
 * on a remote command line as it is.
 */
static int
xl_path_plain(const char *p)
{
	const char *comp;
	size_t n;

	if (p == NULL || p[0] != '/' || strlen(p) >= XL_PATH_MAX ||
	    !xl_chars(p, "._+-/"))
		return 0;
	for (comp = p + 1;; comp += n + 1) {
		n = strcspn(comp, "/");
		if (n == 0 || (n == 1 && comp[0] == '.') ||
		    (n == 2 && comp[0] == '.' && comp[1] == '.'))
			return 0;
		if (comp[n] == '\0')
			return 1;
	}
}

/* A network interface name as Linux takes it, that needs no quoting. */
static int
xl_ifname(const char *s)
{
	return s[0] != '\0' && strlen(s) <= 15 && s[0] != '-' &&
	    xl_chars(s, "._-");
}

static int
xl_mac(const char *s)
{
	int i;

	for (i = 0; i < 6; i++, s += 3) {
		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]))
			return 0;
		if (s[2] != (i == 5 ? '\0' : ':'))
			return 0;
	}
	return 1;
}

/*
 * Check template value V of attribute WHAT for a quoted string of a Xen
 * config: no double quote, backslash or control character (xl would read a
 * backslash as an escape, Python too, and a newline would end the line).
 */
static int
xl_check_text(struct cld_op *op, const char *what, const char *v)
{
	const unsigned char *p;

	if (strlen(v) > XL_TEXT_MAX) {
		cld_err_set(op->err, CLD_EINVAL, "%s: the value is longer than %d bytes",
		    what, XL_TEXT_MAX);
		return -1;
	}
	for (p = (const unsigned char *)v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			cld_err_set(op->err, CLD_EINVAL,
			    "%s: the value has a %s, which a Xen domain configuration cannot hold as written",
			    what, *p == '"' ? "double quote" : "backslash");
			return -1;
		}
		if (*p < 0x20 || *p == 0x7f) {
			cld_err_set(op->err, CLD_EINVAL,
			    "%s: the value has a control character (0x%02x), which a Xen domain configuration cannot hold",
			    what, *p);
			return -1;
		}
	}
	return 0;
}

static int
xl_bad(struct cld_op *op, const char *what, const char *v, const char *want)
{
	cld_err_set(op->err, CLD_EINVAL, "%s: '%.200s' is not %s", what, v, want);
	return -1;
}

/* -- a growing text -- */

struct xl_buf {
	char *s;
	size_t len, cap;
	int oom;
};

static CLD_PRINTF(2, 3) void
xl_add(struct xl_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s == NULL ? NULL : b->s + b->len,
		    b->s == NULL ? 0 : b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->s != NULL && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = b->cap ? b->cap : 1024;
			char *s;

			while (cap - b->len <= (size_t)n)
				cap *= 2;
			if ((s = realloc(b->s, cap)) == NULL) {
				b->oom = 1;
				return;
			}
			b->s = s;
			b->cap = cap;
		}
	}
}

/* -- options -- */

static int
xl_conf_prog(struct cld_drv *drv, const char *name, const char *def,
    const char **out, struct cld_err *err)
{
	const char *v = drv->svc->conf_get(drv, name);

	if (v == NULL)
		v = def;
	if (v[0] == '\0' || v[0] == '-' || strlen(v) >= XL_PATH_MAX ||
	    !xl_chars(v, "._+-/") || (strchr(v, '/') != NULL && !xl_path_plain(v))) {
		cld_err_set(err, CLD_ECONFIG,
		    "%s: '%s' is not a program name or an absolute path of letters, digits and ._+-/",
		    name, v);
		return -1;
	}
	*out = v;
	return 0;
}

static int
xl_conf_yesno(struct cld_drv *drv, const char *name, int *out,
    struct cld_err *err)
{
	const char *v = drv->svc->conf_get(drv, name);

	if (v == NULL)
		return 0;
	if (strcasecmp(v, "yes") == 0)
		*out = 1;
	else if (strcasecmp(v, "no") == 0)
		*out = 0;
	else {
		cld_err_set(err, CLD_ECONFIG, "%s: '%s' is not yes or no", name, v);
		return -1;
	}
	return 0;
}

static int
xl_conf_action(struct cld_drv *drv, const char *name, const char *def,
    const char **out, struct cld_err *err)
{
	/* What xl and xm both take (xl.cfg(5)); coredump-* only for on_crash. */
	static const char *const actions[] = { "destroy", "restart", "preserve",
		"rename-restart", NULL };
	static const char *const crash[] = { "coredump-destroy",
		"coredump-restart", NULL };
	const char *v = drv->svc->conf_get(drv, name);

	if (v == NULL)
		v = def;
	if (!xl_in(v, actions) && !(strcmp(name, "ON_CRASH") == 0 &&
	    xl_in(v, crash))) {
		cld_err_set(err, CLD_ECONFIG,
		    "%s: '%s' is not destroy, restart, preserve or rename-restart%s",
		    name, v, strcmp(name, "ON_CRASH") == 0 ?
		    " (or coredump-destroy, coredump-restart)" : "");
		return -1;
	}
	*out = v;
	return 0;
}

/* Our options are single values, each given once; unknown ones are refused. */
static int
xl_conf_check_names(const struct cld_drv *drv, struct cld_err *err)
{
	const struct cld_attr *a;
	size_t i, j;

	if (drv->conf == NULL || drv->conf->sub == NULL)
		return 0;
	for (i = 0; i < drv->conf->nsub; i++) {
		a = &drv->conf->sub[i];
		if (strcasecmp(a->name, "NAME") == 0 ||
		    strcasecmp(a->name, "MODULE") == 0)
			continue;
		if (!xl_in(a->name, xl_options)) {
			cld_err_set(err, CLD_ECONFIG, "unknown option '%s'", a->name);
			return -1;
		}
		if (cld_attr_is_vector(a)) {
			cld_err_set(err, CLD_ECONFIG,
			    "%s: expected a single value, not a vector", a->name);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (strcasecmp(a->name, drv->conf->sub[j].name) == 0) {
				cld_err_set(err, CLD_ECONFIG, "%s: given more than once",
				    a->name);
				return -1;
			}
	}
	return 0;
}

static void
xl_fini(struct cld_drv *drv)
{
	struct xl *x = drv->priv;
	struct xl_host *h, *hn;
	struct xl_cpu *c, *cn;
	size_t i;

	if (x == NULL)
		return;
	for (h = x->hosts; h != NULL; h = hn) {
		hn = h->next;
		free(h);
	}
	for (i = 0; i < XL_CPU_BUCKETS; i++)
		for (c = x->cpu[i]; c != NULL; c = cn) {
			cn = c->next;
			free(c);
		}
	pthread_mutex_destroy(&x->lock);
	free(x);
	drv->priv = NULL;
}

static int
xl_init(struct cld_drv *drv, struct cld_err *err)
{
	static const char *const formats[] = { "raw", "qcow", "qcow2", "vhd",
		"qed", NULL };
	struct xl *x = NULL;
	const char *v;
	double d;
	char *end = NULL;

	if ((x = calloc(1, sizeof(*x))) == NULL) {
		cld_err_set(err, CLD_EIO, "out of memory");
		return -1;
	}
	x->poll_ms = 1000;
	x->disk_format = "raw";
	x->hvmloader = "/usr/lib/xen/boot/hvmloader";
	if (xl_conf_check_names(drv, err) < 0 ||
	    xl_conf_prog(drv, "XL", "xl", &x->prog[XL_TOOL_XL], err) < 0 ||
	    xl_conf_prog(drv, "XM", "xm", &x->prog[XL_TOOL_XM], err) < 0 ||
	    xl_conf_yesno(drv, "CPU_CAP", &x->cpu_cap, err) < 0 ||
	    xl_conf_yesno(drv, "RAW", &x->raw, err) < 0 ||
	    xl_conf_action(drv, "ON_POWEROFF", "destroy", &x->on_poweroff, err) < 0 ||
	    xl_conf_action(drv, "ON_REBOOT", "restart", &x->on_reboot, err) < 0 ||
	    xl_conf_action(drv, "ON_CRASH", "destroy", &x->on_crash, err) < 0)
		goto fail;
	if ((v = drv->svc->conf_get(drv, "TOOLSTACK")) != NULL) {
		if (strcasecmp(v, "xl") == 0)
			x->toolstack = XL_TOOL_XL;
		else if (strcasecmp(v, "xm") == 0)
			x->toolstack = XL_TOOL_XM;
		else if (strcasecmp(v, "auto") != 0) {
			cld_err_set(err, CLD_ECONFIG,
			    "TOOLSTACK: '%s' is not auto, xl or xm", v);
			goto fail;
		}
	}
	if ((v = drv->svc->conf_get(drv, "SHUTDOWN_POLL")) != NULL) {
		errno = 0;
		d = strtod(v, &end);
		if (errno != 0 || end == v || *end != '\0' || !(d >= 0.05) ||
		    !(d <= 60) || !isdigit((unsigned char)v[0])) {
			cld_err_set(err, CLD_ECONFIG,
			    "SHUTDOWN_POLL: '%s' is not a number of seconds from 0.05 to 60",
			    v);
			goto fail;
		}
		x->poll_ms = (int64_t)(d * 1000 + 0.5);
	}
	if ((v = drv->svc->conf_get(drv, "MIGRATE_SSH")) != NULL) {
		const unsigned char *p;

		for (p = (const unsigned char *)v; *p != '\0'; p++)
			if (*p < 0x20 || *p == 0x7f)
				break;
		if (*p != '\0' || v[0] == '\0') {
			cld_err_set(err, CLD_ECONFIG,
			    "MIGRATE_SSH: the command is empty or has a control character");
			goto fail;
		}
		x->migrate_ssh = v;
	}
	if ((v = drv->svc->conf_get(drv, "DISK_FORMAT")) != NULL) {
		if (!xl_in(v, formats)) {
			cld_err_set(err, CLD_ECONFIG,
			    "DISK_FORMAT: '%s' is not raw, qcow, qcow2, vhd or qed", v);
			goto fail;
		}
		x->disk_format = v;
	}
	if ((v = drv->svc->conf_get(drv, "HVMLOADER")) != NULL) {
		if (!xl_path_plain(v)) {
			cld_err_set(err, CLD_ECONFIG,
			    "HVMLOADER: '%s' is not an absolute path of letters, digits and ._+-/",
			    v);
			goto fail;
		}
		x->hvmloader = v;
	}
	if (pthread_mutex_init(&x->lock, NULL) != 0) {
		cld_err_set(err, CLD_EIO, "cannot create a mutex");
		goto fail;
	}
	drv->priv = x;
	return 0;
fail:
	free(x);
	return -1;
}

/* -- running things on hosts -- */

static void
xl_run_release(struct cld_run *r)
{
	free(r->out);
	free(r->errout);
	r->out = r->errout = NULL;
}

/*
 * Put into OUT what the program said on its standard error, its lines
 * joined with "; " (xl's "Parsing config from" chatter left out), cut to
 * fit.
 */
static void
xl_errlines(const char *s, char *out, size_t outsz)
{
	size_t o = 0, n;
	const char *nl;

	out[0] = '\0';
	for (; s != NULL && *s != '\0'; s = *nl ? nl + 1 : nl) {
		nl = strchr(s, '\n');
		if (nl == NULL)
			nl = s + strlen(s);
		n = (size_t)(nl - s);
		while (n > 0 && isspace((unsigned char)s[n - 1]))
			n--;
		while (n > 0 && isspace((unsigned char)*s)) {
			s++;
			n--;
		}
		if (n == 0 || strncmp(s, "Parsing config from", 19) == 0 ||
		    strncmp(s, "Using config file", 17) == 0)
			continue;
		if (o > 0 && o + 2 < outsz) {
			memcpy(out + o, "; ", 2);
			o += 2;
		}
		if (o + 1 >= outsz)
			break;
		if (n > outsz - 1 - o)
			n = outsz - 1 - o;
		memcpy(out + o, s, n);
		o += n;
		out[o] = '\0';
	}
}

/*
 * Turn a failed svc->ssh into our error: ssh's own failure (status 255)
 * says the host cannot be reached; a deadline or a cancellation is kept as
 * the core said it; anything else is WHAT failing with its standard error.
 */
static void
xl_fail(struct cld_op *op, const char *host, const char *what,
    const struct cld_run *r)
{
	char lines[700];

	if (op->err->code == CLD_ETIMEDOUT || op->err->code == CLD_ECANCELED) {
		cld_err_prefix(op->err, "%s", what);
		return;
	}
	xl_errlines(r->errout, lines, sizeof(lines));
	if (r->status == 255 || r->status == -1)
		cld_err_set(op->err, CLD_EDRIVER, "cannot reach '%s' over ssh: %s",
		    host, lines[0] != '\0' ? lines : op->err->msg);
	else
		cld_err_set(op->err, CLD_EDRIVER, "%s failed on '%s' (status %d)%s%s",
		    what, host, r->status, lines[0] != '\0' ? ": " : "", lines);
}

/* Run ARGV on HOST with INPUT (or none); R is filled, the caller releases it. */
static int
xl_ssh(struct cld_op *op, const char *host, const char *const *argv,
    const char *input, size_t input_len, struct cld_run *r)
{
	memset(r, 0, sizeof(*r));
	r->argv = argv;
	r->input = input;
	r->input_len = input_len;
	cld_err_clear(op->err);
	return op->drv->svc->ssh(op, host, r);
}

/*
 * Whether the tool's standard error says the domain does not exist: xl's
 * "NAME is an invalid domain identifier", xm's "Domain 'NAME' does not
 * exist".
 */
static int
xl_says_missing(const char *errout)
{
	return errout != NULL && (strstr(errout, "invalid domain identifier") ||
	    strstr(errout, "does not exist"));
}

/* -- which tool a host has -- */

static void
xl_tool_forget(struct xl *x, const char *host)
{
	struct xl_host **link, *h;

	pthread_mutex_lock(&x->lock);
	for (link = &x->hosts; (h = *link) != NULL; link = &h->next)
		if (strcmp(h->name, host) == 0) {
			*link = h->next;
			free(h);
			break;
		}
	pthread_mutex_unlock(&x->lock);
}

/*
 * The tool of HOST: TOOLSTACK if set, else what we found there before,
 * else look: xl if it is there, else xm.  Returns XL_TOOL_XL or XL_TOOL_XM,
 * or -1 with op->err set.
 */
static int
xl_tool(struct cld_op *op, const char *host)
{
	static const char script[] =
	    "if command -v \"$1\" >/dev/null 2>&1; then echo xl; "
	    "elif command -v \"$2\" >/dev/null 2>&1; then echo xm; "
	    "else echo none; fi";
	struct xl *x = op->drv->priv;
	const char *argv[] = { "sh", "-c", script, "sh", x->prog[XL_TOOL_XL],
		x->prog[XL_TOOL_XM], NULL };
	struct xl_host *h;
	struct cld_run r;
	int tool = -1;
	size_t len;

	if (x->toolstack != XL_TOOL_NONE)
		return x->toolstack;
	pthread_mutex_lock(&x->lock);
	for (h = x->hosts; h != NULL; h = h->next)
		if (strcmp(h->name, host) == 0) {
			tool = h->tool;
			break;
		}
	pthread_mutex_unlock(&x->lock);
	if (tool > 0)
		return tool;
	if (xl_ssh(op, host, argv, NULL, 0, &r) < 0) {
		xl_fail(op, host, "looking for xl and xm", &r);
		goto cleanup;
	}
	if (strncmp(r.out, "xl\n", 3) == 0)
		tool = XL_TOOL_XL;
	else if (strncmp(r.out, "xm\n", 3) == 0)
		tool = XL_TOOL_XM;
	else {
		cld_err_set(op->err, CLD_EDRIVER,
		    "neither '%s' nor '%s' is on '%s' (is Xen's toolstack installed?)",
		    x->prog[XL_TOOL_XL], x->prog[XL_TOOL_XM], host);
		goto cleanup;
	}
	op->drv->svc->log(op->drv, CLD_LOG_INFO, "'%s' has %s", host,
	    xl_tool_names[tool]);
	len = strlen(host) + 1;
	if ((h = malloc(sizeof(*h) + len)) != NULL) {
		struct xl_host *o;

		h->tool = tool;
		memcpy(h->name, host, len);
		pthread_mutex_lock(&x->lock);
		for (o = x->hosts; o != NULL; o = o->next)
			if (strcmp(o->name, host) == 0)
				break;
		if (o == NULL) {
			h->next = x->hosts;
			x->hosts = h;
			h = NULL;
		}
		pthread_mutex_unlock(&x->lock);
		free(h);
	}
cleanup:
	xl_run_release(&r);
	return tool;
}

/*
 * Run "TOOL VERB ARGS..." on HOST (ARGS NULL-terminated, at most 6).  On
 * failure op->err says "TOOL VERB failed on HOST ..."; a tool gone missing
 * (status 127) is looked for again next time.  R is filled; the caller
 * releases it.
 */
static int
xl_cmd(struct cld_op *op, const char *host, int tool, struct cld_run *r,
    const char *verb, const char *const *args)
{
	struct xl *x = op->drv->priv;
	const char *argv[10];
	char what[64];
	size_t n = 0;

	argv[n++] = x->prog[tool];
	argv[n++] = verb;
	for (; args != NULL && *args != NULL && n < 9; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	if (xl_ssh(op, host, argv, NULL, 0, r) == 0)
		return 0;
	snprintf(what, sizeof(what), "%s %s", xl_tool_names[tool], verb);
	if (r->status == 127)
		xl_tool_forget(x, host);
	xl_fail(op, host, what, r);
	return -1;
}

/* -- what "xl list NAME" says -- */

struct xl_dom {
	char domid[16];
	uint64_t mem_mb;
	char state[8];
	double cputime;
};

/*
 * Find NAME's line in the output of "xl list" (or "xm list": the same
 * columns, Name ID Mem VCPUs State Time(s)).  Returns 0, or -1 if it is not
 * there or does not read as such a line.
 */
static int
xl_parse_list(const char *out, const char *name, struct xl_dom *d)
{
	const char *line, *nl;
	char buf[512], nm[256], state[16];
	unsigned long long id, mem, vcpus;
	double t;

	for (line = out; line != NULL && *line != '\0'; line = nl ? nl + 1 : NULL) {
		size_t n;

		nl = strchr(line, '\n');
		n = nl ? (size_t)(nl - line) : strlen(line);
		if (n >= sizeof(buf))
			continue;
		memcpy(buf, line, n);
		buf[n] = '\0';
		if (sscanf(buf, "%255s %llu %llu %llu %15s %lf", nm, &id, &mem,
		    &vcpus, state, &t) != 6 || strcmp(nm, name) != 0)
			continue;
		snprintf(d->domid, sizeof(d->domid), "%llu", id);
		d->mem_mb = mem;
		snprintf(d->state, sizeof(d->state), "%.6s", state);
		d->cputime = t;
		return 0;
	}
	return -1;
}

/* The poll state of a State column: r b p s <reason> d (xl), rbpscd (xm). */
static int
xl_poll_state(const char *s)
{
	size_t n = strlen(s);

	if (n >= 5 && s[4] == 'c')
		return CLD_POLL_CRASHED;
	if ((n >= 4 && s[3] == 's') || (n >= 6 && s[5] == 'd'))
		return CLD_POLL_SHUTOFF;
	if (n >= 3 && s[2] == 'p')
		return CLD_POLL_PAUSED;
	return CLD_POLL_RUNNING;
}

/*
 * Ask HOST about VM: 1 and *D filled if it runs there, 0 if the tool says
 * it does not exist, -1 with op->err set if we cannot tell.
 */
static int
xl_lookup(struct cld_op *op, const char *host, int tool, const char *name,
    struct xl_dom *d)
{
	const char *args[] = { name, NULL };
	struct cld_run r;
	int rc = -1;

	if (xl_cmd(op, host, tool, &r, "list", args) == 0) {
		if (xl_parse_list(r.out, name, d) == 0)
			rc = 1;
		else
			cld_err_set(op->err, CLD_EDRIVER,
			    "%s list on '%s' did not list '%s'", xl_tool_names[tool],
			    host, name);
	} else if (xl_says_missing(r.errout) && r.status != 255) {
		cld_err_clear(op->err);
		rc = 0;
	}
	xl_run_release(&r);
	return rc;
}

static void xl_cpu_forget(struct xl *x, const char *host, const char *name);

/* -- the configuration -- */

/* What the config being written has set already, for RAW's sake. */
struct xl_keys {
	const char *k[32];
	size_t n;
};

static void
xl_key(struct xl_keys *keys, const char *k)
{
	if (keys->n < sizeof(keys->k) / sizeof(keys->k[0]))
		keys->k[keys->n++] = k;
}

static int
xl_key_set(const struct xl_keys *keys, const char *k, size_t len)
{
	size_t i;

	for (i = 0; i < keys->n; i++)
		if (strlen(keys->k[i]) == len && strncmp(keys->k[i], k, len) == 0)
			return 1;
	return 0;
}

/* KEY = "VALUE" after checking VALUE (attribute WHAT). */
static int
xl_put_str(struct cld_op *op, struct xl_buf *b, struct xl_keys *keys,
    const char *key, const char *what, const char *v)
{
	if (xl_check_text(op, what, v) < 0)
		return -1;
	xl_add(b, "%s = \"%s\"\n", key, v);
	xl_key(keys, key);
	return 0;
}

/* The OS vector: kernel, ramdisk, command line, bootloader, guest type. */
static int
xl_config_os(struct cld_op *op, const struct xl *x,
    const struct cld_vm_desc *vm, int tool, struct xl_buf *b,
    struct xl_keys *keys)
{
	const struct cld_attr *os = cld_tmpl_next_vector(vm->tmpl, "OS", NULL);
	const char *kernel = NULL, *initrd = NULL, *root = NULL, *cmd = NULL,
	    *boot = NULL, *bootloader = NULL, *type = NULL;

	if (os != NULL) {
		kernel = cld_vector_get(os, "KERNEL");
		initrd = cld_vector_get(os, "INITRD");
		root = cld_vector_get(os, "ROOT");
		cmd = cld_vector_get(os, "KERNEL_CMD");
		bootloader = cld_vector_get(os, "BOOTLOADER");
		boot = cld_vector_get(os, "BOOT");
		type = cld_vector_get(os, "TYPE");
		if (cld_tmpl_next_vector(vm->tmpl, "OS", os) != NULL) {
			cld_err_set(op->err, CLD_EINVAL, "OS: given more than once");
			return -1;
		}
	}
	/* A kernel or a bootloader makes a PV guest; nothing at all, HVM. */
	if (type == NULL)
		type = kernel != NULL || bootloader != NULL ? "pv" : "hvm";
	if (strcasecmp(type, "pv") == 0)
		type = "pv";
	else if (strcasecmp(type, "hvm") == 0)
		type = "hvm";
	else if (strcasecmp(type, "pvh") == 0)
		type = "pvh";
	else
		return xl_bad(op, "OS TYPE", type, "pv, hvm or pvh");
	if (strcmp(type, "hvm") != 0 && kernel == NULL && bootloader == NULL) {
		cld_err_set(op->err, CLD_EINVAL,
		    "OS: a %s guest needs KERNEL or BOOTLOADER", type);
		return -1;
	}
	if (kernel != NULL && bootloader != NULL) {
		cld_err_set(op->err, CLD_EINVAL,
		    "OS: KERNEL and BOOTLOADER cannot both be given");
		return -1;
	}
	if (kernel != NULL && kernel[0] != '/')
		return xl_bad(op, "OS KERNEL", kernel, "an absolute path on the host");
	if (initrd != NULL && initrd[0] != '/')
		return xl_bad(op, "OS INITRD", initrd, "an absolute path on the host");
	if (bootloader != NULL && (bootloader[0] == '\0' ||
	    !xl_chars(bootloader, "._+-/") || bootloader[0] == '-'))
		return xl_bad(op, "OS BOOTLOADER", bootloader,
		    "a program name or path of letters, digits and ._+-/");
	if (boot != NULL && (boot[0] == '\0' || strlen(boot) > 4 ||
	    strspn(boot, "acdn") != strlen(boot)))
		return xl_bad(op, "OS BOOT", boot, "made of the letters a, c, d, n");

	if (tool == XL_TOOL_XL) {
		xl_add(b, "type = \"%s\"\n", type);
		xl_key(keys, "type");
		xl_key(keys, "builder");
	} else if (strcmp(type, "pvh") == 0) {
		cld_err_set(op->err, CLD_EINVAL,
		    "OS TYPE: pvh guests need xl, and '%s' has only xm", vm->host);
		return -1;
	} else if (strcmp(type, "hvm") == 0) {
		/* xend builds HVM guests with hvmloader as their "kernel". */
		xl_add(b, "builder = \"hvm\"\nkernel = \"%s\"\n", x->hvmloader);
		xl_key(keys, "builder");
		xl_key(keys, "kernel");
	}
	if (strcmp(type, "hvm") == 0) {
		if (boot != NULL) {
			xl_add(b, "boot = \"%s\"\n", boot);
			xl_key(keys, "boot");
		}
		return 0;
	}
	if ((kernel != NULL &&
	    xl_put_str(op, b, keys, "kernel", "OS KERNEL", kernel) < 0) ||
	    (initrd != NULL &&
	    xl_put_str(op, b, keys, "ramdisk", "OS INITRD", initrd) < 0) ||
	    (root != NULL && xl_put_str(op, b, keys, "root", "OS ROOT", root) < 0) ||
	    (cmd != NULL &&
	    xl_put_str(op, b, keys, "extra", "OS KERNEL_CMD", cmd) < 0) ||
	    (bootloader != NULL &&
	    xl_put_str(op, b, keys, "bootloader", "OS BOOTLOADER", bootloader) < 0))
		return -1;
	return 0;
}

/* The disk list: one spec per DISK, in xl's key=value form or xm's. */
static int
xl_config_disks(struct cld_op *op, const struct xl *x,
    const struct cld_vm_desc *vm, int tool, struct xl_buf *b,
    struct xl_keys *keys)
{
	static const char *const formats[] = { "raw", "qcow", "qcow2", "vhd",
		"qed", NULL };
	const struct cld_attr *d = NULL;
	unsigned int i = 0;
	char vdev[40], what[64];

	while ((d = cld_tmpl_next_vector(vm->tmpl, "DISK", d)) != NULL) {
		const char *path = cld_vector_get(d, "PATH");
		const char *type = cld_vector_get(d, "TYPE");
		const char *target = cld_vector_get(d, "TARGET");
		const char *format = cld_vector_get(d, "DRIVER");
		const char *ro = cld_vector_get(d, "READONLY");
		int cdrom = type != NULL && strcasecmp(type, "cdrom") == 0;
		int readonly = cdrom;

		snprintf(what, sizeof(what), "DISK %u", i);
		if (!xl_path_plain(path)) {
			cld_err_set(op->err, CLD_EINVAL,
			    "%s PATH: '%.200s' is not an absolute path of letters, digits and ._+-/",
			    what, path ? path : "");
			return -1;
		}
		if (target == NULL) {
			/* xvda, xvdb, ... xvdz, then xvdaa */
			if (i < 26)
				snprintf(vdev, sizeof(vdev), "xvd%c", 'a' + i);
			else
				snprintf(vdev, sizeof(vdev), "xvd%c%c",
				    'a' + i / 26 - 1, 'a' + i % 26);
			target = vdev;
		} else if (target[0] == '\0' || strlen(target) > 16 ||
		    !islower((unsigned char)target[0]) || !xl_chars(target, "")) {
			snprintf(what + strlen(what), sizeof(what) - strlen(what),
			    " TARGET");
			return xl_bad(op, what, target,
			    "a device name of lower-case letters and digits (xvda, hdc)");
		}
		/* tm makes swap and fs disks raw; DISK_FORMAT is for images. */
		if (format == NULL)
			format = type != NULL && (strcasecmp(type, "swap") == 0 ||
			    strcasecmp(type, "fs") == 0) ? "raw" : x->disk_format;
		else if (!xl_in(format, formats)) {
			snprintf(what + strlen(what), sizeof(what) - strlen(what),
			    " DRIVER");
			return xl_bad(op, what, format, "raw, qcow, qcow2, vhd or qed");
		}
		if (ro != NULL) {
			if (strcasecmp(ro, "yes") == 0)
				readonly = 1;
			else if (strcasecmp(ro, "no") != 0 || cdrom) {
				snprintf(what + strlen(what),
				    sizeof(what) - strlen(what), " READONLY");
				return xl_bad(op, what, ro, cdrom ?
				    "yes (a cdrom is read-only)" : "yes or no");
			}
		}
		xl_add(b, "%s", i == 0 ? "disk = [\n" : ",\n");
		if (tool == XL_TOOL_XL)
			xl_add(b, "    \"format=%s, vdev=%s, access=%s%s, target=%s\"",
			    format, target, readonly ? "ro" : "rw",
			    cdrom ? ", devtype=cdrom" : "", path);
		else if (strcasecmp(format, "raw") == 0)
			xl_add(b, "    \"file:%s,%s%s,%s\"", path, target,
			    cdrom ? ":cdrom" : "", readonly ? "r" : "w");
		else
			/* xend reads other formats through blktap */
			xl_add(b, "    \"tap:%s:%s,%s%s,%s\"", format, path, target,
			    cdrom ? ":cdrom" : "", readonly ? "r" : "w");
		i++;
	}
	if (i > 0)
		xl_add(b, " ]\n");
	xl_key(keys, "disk");
	return 0;
}

/* The vif list: one spec per NIC. */
static int
xl_config_nics(struct cld_op *op, const struct cld_vm_desc *vm,
    struct xl_buf *b, struct xl_keys *keys)
{
	const struct cld_attr *n = NULL;
	unsigned int i = 0;
	char what[32];

	while ((n = cld_tmpl_next_vector(vm->tmpl, "NIC", n)) != NULL) {
		const char *mac = cld_vector_get(n, "MAC");
		const char *bridge = cld_vector_get(n, "BRIDGE");
		const char *target = cld_vector_get(n, "TARGET");
		const char *model = cld_vector_get(n, "MODEL");
		const char *ip = cld_vector_get(n, "IP");
		const char *sep = "";

		snprintf(what, sizeof(what), "NIC %u", i);
		if (mac != NULL && !xl_mac(mac))
			return cld_err_set(op->err, CLD_EINVAL,
			    "%s MAC: '%.64s' is not a MAC address (six hex pairs and colons)",
			    what, mac), -1;
		if (bridge != NULL && !xl_ifname(bridge))
			return cld_err_set(op->err, CLD_EINVAL,
			    "%s BRIDGE: '%.64s' is not an interface name (1 to 15 letters, digits and ._-)",
			    what, bridge), -1;
		if (target != NULL && !xl_ifname(target))
			return cld_err_set(op->err, CLD_EINVAL,
			    "%s TARGET: '%.64s' is not an interface name (1 to 15 letters, digits and ._-)",
			    what, target), -1;
		if (model != NULL && (model[0] == '\0' || strlen(model) > 32 ||
		    !xl_chars(model, "._-")))
			return cld_err_set(op->err, CLD_EINVAL,
			    "%s MODEL: '%.64s' is not a model name (letters, digits and ._-)",
			    what, model), -1;
		if (ip != NULL && (ip[0] == '\0' || strlen(ip) > 45 ||
		    strspn(ip, "0123456789abcdefABCDEF:.") != strlen(ip)))
			return cld_err_set(op->err, CLD_EINVAL,
			    "%s IP: '%.64s' is not an IP address", what, ip), -1;
		xl_add(b, "%s    \"", i == 0 ? "vif = [\n" : ",\n");
		if (mac != NULL) {
			xl_add(b, "%smac=%s", sep, mac);
			sep = ", ";
		}
		if (bridge != NULL) {
			xl_add(b, "%sbridge=%s", sep, bridge);
			sep = ", ";
		}
		if (target != NULL) {
			xl_add(b, "%svifname=%s", sep, target);
			sep = ", ";
		}
		if (model != NULL) {
			xl_add(b, "%smodel=%s", sep, model);
			sep = ", ";
		}
		if (ip != NULL)
			xl_add(b, "%sip=%s", sep, ip);
		xl_add(b, "\"");
		i++;
	}
	if (i > 0)
		xl_add(b, " ]\n");
	xl_key(keys, "vif");
	return 0;
}

/*
 * RAW vectors of TYPE xen (both tools), xl or xm: their DATA appended,
 * line by line, each a "key = value" (or "key += value") of the tool's
 * dialect whose key the driver did not set.
 */
static int
xl_config_raw(struct cld_op *op, const struct xl *x,
    const struct cld_vm_desc *vm, int tool, struct xl_buf *b,
    const struct xl_keys *keys)
{
	const struct cld_attr *raw = NULL;
	int header = 0;

	while ((raw = cld_tmpl_next_vector(vm->tmpl, "RAW", raw)) != NULL) {
		const char *type = cld_vector_get(raw, "TYPE");
		const char *data = cld_vector_get(raw, "DATA");
		const char *line, *nl;
		unsigned int lineno = 0;

		if (type == NULL || !(strcasecmp(type, "xen") == 0 ||
		    strcasecmp(type, xl_tool_names[tool]) == 0))
			continue;
		if (!x->raw) {
			cld_err_set(op->err, CLD_EPERM,
			    "RAW: Xen data is not allowed by the vmm instance '%s' (its option RAW is not yes)",
			    op->drv->name);
			return -1;
		}
		if (data == NULL) {
			cld_err_set(op->err, CLD_EINVAL, "RAW: TYPE %s without DATA",
			    type);
			return -1;
		}
		if (!header) {
			xl_add(b, "# RAW\n");
			header = 1;
		}
		for (line = data; *line != '\0'; line = *nl ? nl + 1 : nl) {
			const char *p = line, *k;
			size_t klen;

			nl = strchr(line, '\n');
			if (nl == NULL)
				nl = line + strlen(line);
			lineno++;
			while (p < nl && (*p == ' ' || *p == '\t'))
				p++;
			if (p == nl || *p == '#') {
				xl_add(b, "%.*s\n", (int)(nl - line), line);
				continue;
			}
			for (k = p; p < nl && (islower((unsigned char)*p) ||
			    isdigit((unsigned char)*p) || *p == '_'); p++)
				;
			klen = (size_t)(p - k);
			while (p < nl && (*p == ' ' || *p == '\t'))
				p++;
			if (klen == 0 || !islower((unsigned char)*k) ||
			    !(*p == '=' || (*p == '+' && p + 1 < nl && p[1] == '='))) {
				cld_err_set(op->err, CLD_EINVAL,
				    "RAW DATA line %u: not a 'key = value' setting: '%.*s'",
				    lineno, (int)(nl - line > 80 ? 80 : nl - line), line);
				return -1;
			}
			if (xl_key_set(keys, k, klen)) {
				cld_err_set(op->err, CLD_EINVAL,
				    "RAW DATA line %u: '%.*s' is set by the driver from the template and cannot be set again",
				    lineno, (int)klen, k);
				return -1;
			}
			if (memchr(line, '\r', (size_t)(nl - line)) != NULL) {
				cld_err_set(op->err, CLD_EINVAL,
				    "RAW DATA line %u: a carriage return", lineno);
				return -1;
			}
			xl_add(b, "%.*s\n", (int)(nl - line), line);
		}
	}
	return 0;
}

/*
 * The domain configuration of VM for TOOL, malloc()ed into *out.  Returns
 * 0, or -1 with op->err naming the template attribute that cannot be
 * written.
 */
static int
xl_config(struct cld_op *op, const struct cld_vm_desc *vm, int tool,
    char **out, size_t *outlen)
{
	struct xl *x = op->drv->priv;
	struct xl_buf b;
	struct xl_keys keys;
	long weight;

	memset(&b, 0, sizeof(b));
	memset(&keys, 0, sizeof(keys));
	if (vm->name == NULL || vm->name[0] == '\0' || strlen(vm->name) > 64 ||
	    !xl_chars(vm->name, "._-")) {
		cld_err_set(op->err, CLD_EINVAL,
		    "VM name '%.64s' is not letters, digits and ._-",
		    vm->name ? vm->name : "");
		return -1;
	}
	if (vm->memory_mb == 0 || vm->vcpu == 0) {
		cld_err_set(op->err, CLD_EINVAL, "the VM has no memory or no VCPU");
		return -1;
	}
	/* The credit scheduler's weight: 256 for a whole core, as OpenNebula. */
	weight = lround(vm->cpu * XL_WEIGHT_PER_CPU);
	if (weight < 1)
		weight = 1;
	if (weight > XL_WEIGHT_MAX)
		weight = XL_WEIGHT_MAX;
	xl_add(&b, "# VM %" PRId64 ", written by cloudd's vmm/xl for %s\n",
	    vm->id, xl_tool_names[tool]);
	xl_add(&b, "name = \"%s\"\nmemory = %" PRIu64 "\nmaxmem = %" PRIu64
	    "\nvcpus = %u\ncpu_weight = %ld\n", vm->name, vm->memory_mb,
	    vm->memory_mb, vm->vcpu, weight);
	xl_key(&keys, "name");
	xl_key(&keys, "memory");
	xl_key(&keys, "maxmem");
	xl_key(&keys, "vcpus");
	xl_key(&keys, "maxvcpus");
	xl_key(&keys, "cpu_weight");
	if (x->cpu_cap) {
		/* A cap is a percentage of one physical CPU: what CPU reserves. */
		xl_add(&b, "%s = %ld\n", tool == XL_TOOL_XL ? "cap" : "cpu_cap",
		    (long)ceil(vm->cpu * 100 - 1e-9));
		xl_key(&keys, tool == XL_TOOL_XL ? "cap" : "cpu_cap");
	}
	if (xl_config_os(op, x, vm, tool, &b, &keys) < 0 ||
	    xl_config_disks(op, x, vm, tool, &b, &keys) < 0 ||
	    xl_config_nics(op, vm, &b, &keys) < 0)
		goto fail;
	xl_add(&b, "on_poweroff = \"%s\"\non_reboot = \"%s\"\non_crash = \"%s\"\n",
	    x->on_poweroff, x->on_reboot, x->on_crash);
	xl_key(&keys, "on_poweroff");
	xl_key(&keys, "on_reboot");
	xl_key(&keys, "on_crash");
	if (xl_config_raw(op, x, vm, tool, &b, &keys) < 0)
		goto fail;
	if (b.oom || b.s == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		goto fail;
	}
	*out = b.s;
	*outlen = b.len;
	return 0;
fail:
	free(b.s);
	return -1;
}

/* -- operations -- */

static int
xl_check_flags(struct cld_op *op, unsigned int flags, unsigned int known)
{
	if (flags & ~known) {
		cld_err_set(op->err, CLD_EINVAL, "unknown flags 0x%x",
		    flags & ~known);
		return -1;
	}
	return 0;
}

/* The checks every operation on VM makes first. */
static int
xl_begin(struct cld_op *op, const struct cld_vm_desc *vm, unsigned int flags,
    unsigned int known, const char *what)
{
	if (xl_check_flags(op, flags, known) < 0)
		return -1;
	if (vm->name == NULL || vm->name[0] == '\0' || vm->name[0] == '-' ||
	    strlen(vm->name) > 64 || !xl_chars(vm->name, "._-")) {
		cld_err_set(op->err, CLD_EINVAL,
		    "VM name '%.64s' is not letters, digits and ._-",
		    vm->name ? vm->name : "");
		return -1;
	}
	op->drv->svc->log(op->drv, CLD_LOG_DEBUG, "%s '%s' on '%s'", what,
	    vm->name, vm->host);
	return 0;
}

/* *domid = a malloc()ed copy of D's domid. */
static int
xl_domid(struct cld_op *op, const struct xl_dom *d, char **domid)
{
	if ((*domid = strdup(d->domid)) == NULL) {
		cld_err_set(op->err, CLD_EIO, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * The one script that starts a domain: $1 the tool, $2 the name, $3 create
 * or restore, $4 the config or checkpoint.  A domain of that name already
 * there is listed and left alone (a retry).  For create, the config arrives
 * on standard input and is stored at $4 first (whole, or not at all).
 */
static const char xl_start_script[] =
    "t=$1 n=$2 v=$3 f=$4\n"
    "if [ \"$v\" = create ]; then\n"
    "  mkdir -p \"${f%/*}\" && cat >\"$f.tmp.$$\" && mv -f \"$f.tmp.$$\" \"$f\" || exit 1\n"
    "fi\n"
    "if o=$(\"$t\" list \"$n\" 2>/dev/null); then printf '%s\\n' \"$o\"; exit 0; fi\n"
    "\"$t\" \"$v\" \"$f\" || exit\n"
    "exec \"$t\" list \"$n\"\n";

static int
xl_start(struct cld_op *op, const struct cld_vm_desc *vm, int tool,
    const char *verb, const char *file, const char *input, size_t input_len,
    char **domid)
{
	struct xl *x = op->drv->priv;
	const char *argv[] = { "sh", "-c", xl_start_script, "sh", x->prog[tool],
		vm->name, verb, file, NULL };
	struct cld_run r;
	struct xl_dom d;
	char what[32];
	int rc = -1;

	snprintf(what, sizeof(what), "%s %s", xl_tool_names[tool], verb);
	if (xl_ssh(op, vm->host, argv, input, input_len, &r) < 0) {
		if (r.status == 127)
			xl_tool_forget(x, vm->host);
		xl_fail(op, vm->host, what, &r);
		goto cleanup;
	}
	if (xl_parse_list(r.out, vm->name, &d) < 0) {
		cld_err_set(op->err, CLD_EDRIVER,
		    "%s on '%s' succeeded but '%s' is not listed", what, vm->host,
		    vm->name);
		goto cleanup;
	}
	rc = domid != NULL ? xl_domid(op, &d, domid) : 0;
cleanup:
	xl_run_release(&r);
	return rc;
}

/* The path of VM's config on its host, into BUF. */
static int
xl_config_path(struct cld_op *op, const struct cld_vm_desc *vm, char *buf,
    size_t size)
{
	if (!xl_path_plain(vm->dir) ||
	    (size_t)snprintf(buf, size, "%s/%s", vm->dir, XL_CONFIG_NAME) >= size) {
		cld_err_set(op->err, CLD_EINVAL,
		    "the VM's directory '%.200s' is not an absolute path of letters, digits and ._+-/",
		    vm->dir ? vm->dir : "");
		return -1;
	}
	return 0;
}

/* Write VM's config for TOOL to its host and create the domain. */
static int
xl_create(struct cld_op *op, const struct cld_vm_desc *vm, int tool,
    char **domid)
{
	char path[XL_PATH_MAX + 16];
	char *cfg = NULL;
	size_t len = 0;
	int rc;

	if (xl_config_path(op, vm, path, sizeof(path)) < 0 ||
	    xl_config(op, vm, tool, &cfg, &len) < 0)
		return -1;
	rc = xl_start(op, vm, tool, "create", path, cfg, len, domid);
	free(cfg);
	return rc;
}

static int
xl_deploy(struct cld_op *op, const struct cld_vm_desc *vm, unsigned int flags,
    char **domid)
{
	int tool;

	if (xl_begin(op, vm, flags, 0, "deploy") < 0 ||
	    (tool = xl_tool(op, vm->host)) < 0)
		return -1;
	return xl_create(op, vm, tool, domid);
}

/* Destroy NAME on HOST; gone already is fine. */
static int
xl_destroy_name(struct cld_op *op, const char *host, int tool,
    const char *name)
{
	const char *args[] = { name, NULL };
	struct cld_run r;
	int rc = 0;

	if (xl_cmd(op, host, tool, &r, "destroy", args) < 0) {
		if (xl_says_missing(r.errout) && r.status != 255)
			cld_err_clear(op->err);
		else
			rc = -1;
	}
	xl_run_release(&r);
	if (rc == 0)
		xl_cpu_forget(op->drv->priv, host, name);
	return rc;
}

static int
xl_destroy(struct cld_op *op, const struct cld_vm_desc *vm, unsigned int flags)
{
	int tool;

	if (xl_begin(op, vm, flags, 0, "destroy") < 0 ||
	    (tool = xl_tool(op, vm->host)) < 0)
		return -1;
	return xl_destroy_name(op, vm->host, tool, vm->name);
}

/* Sleep MS, or less if the deadline comes first; -1 if cancelled. */
static int
xl_nap(struct cld_op *op, int64_t ms)
{
	int64_t left = op->drv->svc->remaining_ms(op);
	struct timespec ts;

	if (ms > left)
		ms = left;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	nanosleep(&ts, NULL);
	if (op->drv->svc->cancelled(op)) {
		cld_err_set(op->err, CLD_ECANCELED, "cancelled");
		return -1;
	}
	return 0;
}

/*
 * Ask the guest to shut down, then look every SHUTDOWN_POLL until it is
 * gone (a domain left shut down, on_poweroff = preserve, is destroyed) or
 * the deadline passes.  "xl shutdown -w" would wait with no deadline.
 */
static int
xl_shutdown(struct cld_op *op, const struct cld_vm_desc *vm,
    unsigned int flags)
{
	struct xl *x = op->drv->priv;
	const char *args[] = { vm->name, NULL };
	struct cld_run r;
	struct xl_dom d;
	int tool, rc, asked = 0;

	if (xl_begin(op, vm, flags, 0, "shutdown") < 0 ||
	    (tool = xl_tool(op, vm->host)) < 0)
		return -1;
	for (;;) {
		if ((rc = xl_lookup(op, vm->host, tool, vm->name, &d)) <= 0) {
			if (rc == 0)    /* gone: done */
				xl_cpu_forget(x, vm->host, vm->name);
			return rc;
		}
		if (xl_poll_state(d.state) == CLD_POLL_SHUTOFF)
			return xl_destroy_name(op, vm->host, tool, vm->name);
		if (!asked) {
			rc = xl_cmd(op, vm->host, tool, &r, "shutdown", args);
			if (rc < 0 && xl_says_missing(r.errout) && r.status != 255) {
				cld_err_clear(op->err);
				rc = 0;
			}
			xl_run_release(&r);
			if (rc < 0)
				return -1;
			asked = 1;
		}
		if (op->drv->svc->remaining_ms(op) < x->poll_ms) {
			cld_err_set(op->err, CLD_ETIMEDOUT,
			    "'%s' on '%s' did not shut down before the deadline",
			    vm->name, vm->host);
			return -1;
		}
		if (xl_nap(op, x->poll_ms) < 0)
			return -1;
	}
}

/*
 * Reboot: "xl reboot" asks the guest.  Xen has no reset for every kind of
 * guest ("xl trigger reset" is HVM only), so a hard reboot destroys the
 * domain and creates it again from a config written anew.
 */
static int
xl_reboot(struct cld_op *op, const struct cld_vm_desc *vm, unsigned int flags)
{
	const char *args[] = { vm->name, NULL };
	struct cld_run r;
	struct xl_dom d;
	int tool, rc;

	if (xl_begin(op, vm, flags, CLD_REBOOT_HARD, "reboot") < 0 ||
	    (tool = xl_tool(op, vm->host)) < 0)
		return -1;
	if ((rc = xl_lookup(op, vm->host, tool, vm->name, &d)) < 0)
		return -1;
	if (rc == 0 || xl_poll_state(d.state) != CLD_POLL_RUNNING) {
		cld_err_set(op->err, CLD_EINVAL, "'%s' is not running on '%s'",
		    vm->name, vm->host);
		return -1;
	}
	if (flags & CLD_REBOOT_HARD) {
		if (xl_destroy_name(op, vm->host, tool, vm->name) < 0)
			return -1;
		return xl_create(op, vm, tool, NULL);
	}
	rc = xl_cmd(op, vm->host, tool, &r, "reboot", args);
	xl_run_release(&r);
	return rc;
}

/* Pause (TO_PAUSED) or unpause; there already is fine. */
static int
xl_pause(struct cld_op *op, const struct cld_vm_desc *vm, unsigned int flags,
    int to_paused)
{
	const char *args[] = { vm->name, NULL };
	struct cld_run r;
	struct xl_dom d;
	int tool, rc;

	if (xl_begin(op, vm, flags, 0, to_paused ? "suspend" : "resume") < 0 ||
	    (tool = xl_tool(op, vm->host)) < 0)
		return -1;
	if ((rc = xl_lookup(op, vm->host, tool, vm->name, &d)) < 0)
		return -1;
	if (rc == 0) {
		cld_err_set(op->err, CLD_EINVAL, "'%s' is not running on '%s'",
		    vm->name, vm->host);
		return -1;
	}
	/* Xen counts pauses: pausing twice would need two unpauses. */
	if ((xl_poll_state(d.state) == CLD_POLL_PAUSED) == to_paused)
		return 0;
	rc = xl_cmd(op, vm->host, tool, &r, to_paused ? "pause" : "unpause",
	    args);
	xl_run_release(&r);
	return rc;
}

static int
xl_suspend(struct cld_op *op, const struct cld_vm_desc *vm, unsigned int flags)
{
	return xl_pause(op, vm, flags, 1);
}

static int
xl_resume(struct cld_op *op, const struct cld_vm_desc *vm, unsigned int flags)
{
	return xl_pause(op, vm, flags, 0);
}

static int
xl_check_path(struct cld_op *op, const char *what, const char *path)
{
	if (!xl_path_plain(path)) {
		cld_err_set(op->err, CLD_EINVAL,
		    "%s '%.200s' is not an absolute path of letters, digits and ._+-/",
		    what, path ? path : "");
		return -1;
	}
	return 0;
}

/* Save the domain to PATH (it stops); saved already (a retry) is fine. */
static int
xl_save(struct cld_op *op, const struct cld_vm_desc *vm, const char *path,
    unsigned int flags)
{
	const char *args[] = { vm->name, path, NULL };
	const char *test[] = { "test", "-s", path, NULL };
	struct cld_run r;
	struct xl_dom d;
	int tool, rc;

	if (xl_begin(op, vm, flags, 0, "save") < 0 ||
	    xl_check_path(op, "checkpoint", path) < 0 ||
	    (tool = xl_tool(op, vm->host)) < 0)
		return -1;
	if ((rc = xl_lookup(op, vm->host, tool, vm->name, &d)) < 0)
		return -1;
	if (rc == 0) {
		rc = xl_ssh(op, vm->host, test, NULL, 0, &r);
		xl_run_release(&r);
		if (rc == 0)
			return 0;
		cld_err_set(op->err, CLD_EINVAL,
		    "'%s' is not running on '%s' and there is no checkpoint '%s'",
		    vm->name, vm->host, path);
		return -1;
	}
	rc = xl_cmd(op, vm->host, tool, &r, "save", args);
	xl_run_release(&r);
	if (rc == 0)
		xl_cpu_forget(op->drv->priv, vm->host, vm->name);
	return rc;
}

static int
xl_restore(struct cld_op *op, const struct cld_vm_desc *vm, const char *path,
    unsigned int flags, char **domid)
{
	int tool;

	if (xl_begin(op, vm, flags, 0, "restore") < 0 ||
	    xl_check_path(op, "checkpoint", path) < 0 ||
	    (tool = xl_tool(op, vm->host)) < 0)
		return -1;
	return xl_start(op, vm, tool, "restore", path, NULL, 0, domid);
}

/*
 * Move the domain to DEST: "xl migrate" (live, xl's only kind; through
 * MIGRATE_SSH when set) or "xm migrate" (--live when asked).  Both ends
 * must have the same tool.  Gone from here and running there (a retry) is
 * fine.
 */
static int
xl_migrate(struct cld_op *op, const struct cld_vm_desc *vm, const char *dest,
    unsigned int flags)
{
	struct xl *x = op->drv->priv;
	const char *args[6];
	struct cld_run r;
	struct xl_dom d;
	int tool, dtool, rc;
	size_t n = 0;

	if (xl_begin(op, vm, flags, CLD_MIGRATE_LIVE, "migrate") < 0)
		return -1;
	/* DEST reaches a shell on the source host inside xl's ssh command. */
	if (dest == NULL || dest[0] == '\0' || dest[0] == '-' ||
	    strlen(dest) > 253 || !xl_chars(dest, ".-_")) {
		cld_err_set(op->err, CLD_EINVAL,
		    "destination host '%.200s' is not a name of letters, digits and .-_",
		    dest ? dest : "");
		return -1;
	}
	if ((tool = xl_tool(op, vm->host)) < 0 || (dtool = xl_tool(op, dest)) < 0)
		return -1;
	if (tool != dtool) {
		cld_err_set(op->err, CLD_ENOTSUP,
		    "cannot migrate '%s' from '%s' (%s) to '%s' (%s): the hosts run different Xen toolstacks",
		    vm->name, vm->host, xl_tool_names[tool], dest,
		    xl_tool_names[dtool]);
		return -1;
	}
	if ((rc = xl_lookup(op, vm->host, tool, vm->name, &d)) < 0)
		return -1;
	if (rc == 0) {
		if ((rc = xl_lookup(op, dest, tool, vm->name, &d)) < 0)
			return -1;
		if (rc == 1)
			return 0;
		cld_err_set(op->err, CLD_EINVAL, "'%s' is not running on '%s'",
		    vm->name, vm->host);
		return -1;
	}
	if (tool == XL_TOOL_XL && x->migrate_ssh != NULL) {
		args[n++] = "-s";
		args[n++] = x->migrate_ssh;
	}
	if (tool == XL_TOOL_XM && (flags & CLD_MIGRATE_LIVE))
		args[n++] = "--live";
	args[n++] = vm->name;
	args[n++] = dest;
	args[n] = NULL;
	op->drv->svc->progress(op, 0, "migrating");
	rc = xl_cmd(op, vm->host, tool, &r, "migrate", args);
	xl_run_release(&r);
	if (rc == 0) {
		xl_cpu_forget(x, vm->host, vm->name);
		op->drv->svc->progress(op, 100, "migrated");
	}
	return rc;
}

/* -- poll -- */

static uint64_t
xl_hash(const char *host, const char *name)
{
	uint64_t h = 14695981039346656037ULL;
	const unsigned char *p;

	for (p = (const unsigned char *)host; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ULL;
	h *= 1099511628211ULL;
	for (p = (const unsigned char *)name; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h ^ (h >> 29);
}

/*
 * The CPU in use since the last poll of NAME on HOST, in percent of one
 * core, recording CPUTIME for the next: 0 the first time, after a restart
 * of the domain (its time went back) or of cloudd.
 */
static double
xl_cpu_figure(struct xl *x, const char *host, const char *name,
    double cputime)
{
	size_t hl = strlen(host), nl = strlen(name);
	struct xl_cpu **link, *c;
	int64_t now = xl_now_ms();
	double pct = 0;

	pthread_mutex_lock(&x->lock);
	link = &x->cpu[xl_hash(host, name) % XL_CPU_BUCKETS];
	for (; (c = *link) != NULL; link = &c->next)
		if (strcmp(c->key, host) == 0 && strcmp(c->key + hl + 1, name) == 0)
			break;
	if (c == NULL && (c = calloc(1, sizeof(*c) + hl + nl + 2)) != NULL) {
		memcpy(c->key, host, hl + 1);
		memcpy(c->key + hl + 1, name, nl + 1);
		c->cputime = -1;
		*link = c;
	}
	if (c != NULL) {
		if (c->cputime >= 0 && cputime >= c->cputime && now > c->at_ms)
			pct = (cputime - c->cputime) * 100000.0 /
			    (double)(now - c->at_ms);
		c->cputime = cputime;
		c->at_ms = now;
	}
	pthread_mutex_unlock(&x->lock);
	return pct;
}

static void
xl_cpu_forget(struct xl *x, const char *host, const char *name)
{
	size_t hl = strlen(host);
	struct xl_cpu **link, *c;

	pthread_mutex_lock(&x->lock);
	link = &x->cpu[xl_hash(host, name) % XL_CPU_BUCKETS];
	for (; (c = *link) != NULL; link = &c->next)
		if (strcmp(c->key, host) == 0 && strcmp(c->key + hl + 1, name) == 0) {
			*link = c->next;
			free(c);
			break;
		}
	pthread_mutex_unlock(&x->lock);
}

/*
 * $1 the tool, $2 the name: its "list" line, then one "NET rx tx" line
 * with what the domain's vifs (vifD.N on the host) moved; what the host
 * receives on them the guest sent.
 */
static const char xl_poll_script[] =
    "o=$(\"$1\" list \"$2\") || exit\n"
    "printf '%s\\n' \"$o\"\n"
    "d=$(printf '%s\\n' \"$o\" | awk -v n=\"$2\" '$1 == n { print $2; exit }')\n"
    "awk -v d=\"vif$d.\" 'index($0, \":\") { split($0, a, \":\"); i = a[1];"
    " gsub(/ /, \"\", i); if (index(i, d) != 1) next; split(a[2], f, \" \");"
    " tx += f[1]; rx += f[9] } END { printf \"NET %.0f %.0f\\n\", rx, tx }'"
    " /proc/net/dev 2>/dev/null || echo 'NET 0 0'\n";

static int
xl_poll(struct cld_op *op, const struct cld_vm_desc *vm, unsigned int flags,
    struct cld_vm_poll *out)
{
	struct xl *x = op->drv->priv;
	const char *argv[] = { "sh", "-c", xl_poll_script, "sh", NULL, vm->name,
		NULL };
	struct cld_run r;
	struct xl_dom d;
	unsigned long long rx = 0, tx = 0;
	const char *net;
	int tool, rc = -1;

	if (xl_begin(op, vm, flags, 0, "poll") < 0)
		return -1;
	if (out->size < sizeof(*out)) {
		cld_err_set(op->err, CLD_EINVAL, "poll figures too small (%u bytes)",
		    (unsigned int)out->size);
		return -1;
	}
	if ((tool = xl_tool(op, vm->host)) < 0)
		return -1;
	argv[4] = x->prog[tool];
	out->cpu = 0;
	out->memory_kb = out->netrx = out->nettx = 0;
	if (xl_ssh(op, vm->host, argv, NULL, 0, &r) < 0) {
		if (xl_says_missing(r.errout) && r.status != 255) {
			cld_err_clear(op->err);
			xl_cpu_forget(x, vm->host, vm->name);
			out->state = CLD_POLL_MISSING;
			rc = 0;
		} else {
			if (r.status == 127)
				xl_tool_forget(x, vm->host);
			xl_fail(op, vm->host, tool == XL_TOOL_XL ? "xl list" :
			    "xm list", &r);
		}
		goto cleanup;
	}
	if (xl_parse_list(r.out, vm->name, &d) < 0) {
		cld_err_set(op->err, CLD_EDRIVER, "%s list on '%s' did not list '%s'",
		    xl_tool_names[tool], vm->host, vm->name);
		goto cleanup;
	}
	if ((net = strstr(r.out, "\nNET ")) != NULL)
		sscanf(net + 5, "%llu %llu", &rx, &tx);
	out->state = xl_poll_state(d.state);
	out->memory_kb = d.mem_mb * 1024;
	out->netrx = rx;
	out->nettx = tx;
	out->cpu = xl_cpu_figure(x, vm->host, vm->name, d.cputime);
	rc = 0;
cleanup:
	xl_run_release(&r);
	return rc;
}

extern const struct cld_vmm_driver CLD_DRIVER_ENTRY(vmm_xl);

const struct cld_vmm_driver CLD_DRIVER_ENTRY(vmm_xl) = {
	.hdr = CLD_DRIVER_HEADER(CLD_CLASS_VMM, struct cld_vmm_driver, "xl",
	    PACKAGE_VERSION, xl_init, xl_fini),
	.deploy = xl_deploy,
	.shutdown = xl_shutdown,
	.destroy = xl_destroy,
	.reboot = xl_reboot,
	.suspend = xl_suspend,
	.resume = xl_resume,
	.save = xl_save,
	.restore = xl_restore,
	.migrate = xl_migrate,
	.poll = xl_poll,
};
