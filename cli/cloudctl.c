/*
 * cloudctl: the command line of cloudd, a client of its v1 API.
 *
 *   cloudctl [-s socket] [--json] OBJECT VERB [options] [args]
 *
 * One table of commands (after OpenBSD's smtpctl and git's git.c) says for
 * each what it takes and how to explain it; "cloudctl --help", "cloudctl vm
 * --help" and "cloudctl vm create --help" are all printed from it.  Exit
 * codes are enum cld_exit (client.h), documented in cloudctl(1).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "client.h"
#include "table.h"
#include "util.h"

#define DEFAULT_SOCKET CLD_LOCALSTATEDIR "/run/cloudd.sock"
/* Page size when a list is fetched whole (the API allows up to 10000). */
#define PAGE_LIMIT 1000

/* Long options without a short letter. */
enum {
	O_JSON = 256, O_HOLD, O_STATE, O_HOST, O_ALL, O_HARD, O_LIVE,
	O_RETRY, O_SUCCESS, O_FAILURE, O_DELETE, O_IM, O_VMM, O_CLUSTER,
	O_TM, O_NET,
};

struct ctx {
	const char *socket;
	struct cld_client *client;
	int json;
	const struct cmd *cmd;
	/* What the verb's options said. */
	int hold, all_pages, hard, live;
	const char *state, *host, *mode, *im, *vmm, *cluster, *tm, *net;
	double delay;
	long count;
};

struct cmd {
	const char *object;
	const char *verb;
	int (*fn)(struct ctx *ctx, int argc, char **argv);
	int min, max;              /* positional arguments; max -1: any */
	const char *args;          /* "ID..." */
	const char *summary;       /* one line */
	const char *shortopts;     /* after ":" */
	const struct option *opts; /* ends with --json, --help */
	const char *options;       /* their help, one "  --x  what" a line */
	const char *example;
};

static const char *progname = "cloudctl";

static void usage_line(FILE *fp, const struct cmd *c, int global);

static void warnx_(const char *fmt, ...) CLD_PRINTF(1, 2);

static void
warnx_(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ------------------------------------------------------------ helpers */

static void
print_json(const json_t *j)
{
	if (j == NULL)
		return;
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY |
	    JSON_REAL_PRECISION(15));
	fputc('\n', stdout);
}

static const char *
jstr(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : dflt;
}

static double
jnum(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

static int64_t
jint(const json_t *o, const char *key)
{
	return (int64_t)json_number_value(json_object_get(o, key));
}

/* A number as JSON would write it: 0.5, 2, 1600. */
static void
fmt_num(char *buf, size_t len, double v)
{
	snprintf(buf, len, "%.15g", v);
}

static int
usage_error(struct ctx *ctx, const char *fmt, ...) CLD_PRINTF(2, 3);

static int
usage_error(struct ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (ctx != NULL && ctx->cmd != NULL)
	{
		usage_line(stderr, ctx->cmd, 0);
		fprintf(stderr, "see '%s %s %s --help'\n", progname,
		    ctx->cmd->object, ctx->cmd->verb);
	}
	return CLD_EXIT_USAGE;
}

/* A VM id: a number >= 0. */
static int
parse_id(struct ctx *ctx, const char *s, int64_t *id)
{
	if (cld_parse_i64(s, id) != 0 || *id < 0)
		return usage_error(ctx, "invalid VM id '%s'", s);
	return 0;
}

/*
 * One request; on failure its message goes to stderr (after PREFIX when not
 * NULL), and with --json the error body to stdout.  Returns an exit code.
 */
static int
call(struct ctx *ctx, const char *method, const char *path, json_t *body,
    json_t **reply, const char *prefix)
{
	struct cld_err err;
	int rc;

	cld_err_clear(&err);
	rc = cld_client_call(ctx->client, method, path, body, reply, &err);
	if (rc == CLD_EXIT_OK)
		return rc;
	if (ctx->json && *reply != NULL)
		print_json(*reply);
	if (prefix != NULL)
		warnx_("%s: %s", prefix, err.msg);
	else
		warnx_("%s", err.msg);
	json_decref(*reply);
	*reply = NULL;
	return rc;
}

/* The first failure's exit code wins. */
static int
worse(int a, int b)
{
	return a != CLD_EXIT_OK ? a : b;
}

/*
 * GET a list at PATH (which may carry a query already) whose items are under
 * KEY.  With ALL, follow offset/limit until every item is fetched, and
 * return one object {"total", "offset": 0, "limit", KEY: [all]}; else
 * return the server's first page as it is.
 */
static int
fetch_list(struct ctx *ctx, const char *path, const char *key, int all,
    json_t **out)
{
	json_t *merged = NULL, *items = json_array();
	int64_t offset = 0, total = 0;
	int rc = CLD_EXIT_OK;
	char sep = strchr(path, '?') != NULL ? '&' : '?';

	*out = NULL;
	for (;;) {
		json_t *page = NULL, *got = NULL;
		char *url = NULL;
		size_t n;

		if (all)
			url = cld_xasprintf("%s%coffset=%" PRId64 "&limit=%d",
			    path, sep, offset, PAGE_LIMIT);
		else
			url = cld_xstrdup(path);
		rc = call(ctx, "GET", url, NULL, &page, NULL);
		free(url);
		if (rc != CLD_EXIT_OK)
			goto cleanup;
		got = json_object_get(page, key);
		if (!json_is_array(got)) {
			warnx_("cloudd sent a list without '%s'", key);
			json_decref(page);
			rc = CLD_EXIT_REFUSED;
			goto cleanup;
		}
		if (!all) {
			*out = page;
			goto cleanup;
		}
		total = jint(page, "total");
		n = json_array_size(got);
		offset += (int64_t)n;
		json_array_extend(items, got);
		json_decref(page);
		if (n == 0 || offset >= total)
			break;
	}
	merged = json_object();
	json_object_set_new(merged, "total", json_integer(total));
	json_object_set_new(merged, "offset", json_integer(0));
	json_object_set_new(merged, "limit",
	    json_integer((json_int_t)json_array_size(items)));
	json_object_set(merged, key, items);
	*out = merged;

cleanup:
	json_decref(items);
	return rc;
}

/* Upper-case names and short names of VM states, as the API spells them. */
static const char *const vm_states[][2] = {
	{"PENDING", "pend"}, {"HOLD", "hold"}, {"PROLOG", "prol"},
	{"BOOT", "boot"}, {"RUNNING", "runn"}, {"MIGRATE", "migr"},
	{"SHUTDOWN", "shut"}, {"EPILOG", "epil"}, {"SUSPENDED", "susp"},
	{"STOPPED", "stop"}, {"POWEROFF", "poff"}, {"UNKNOWN", "unkn"},
	{"FAILED", "fail"}, {"DONE", "done"},
};

static const char *
vm_state_name(const char *s)
{
	for (size_t i = 0; i < CLD_ARRAY_SIZE(vm_states); i++)
		if (strcasecmp(s, vm_states[i][0]) == 0 ||
		    strcasecmp(s, vm_states[i][1]) == 0)
			return vm_states[i][0];
	return NULL;
}

/* The user name of UID, or the number; the last answer is remembered. */
static void
user_name(char *buf, size_t len, int64_t uid)
{
	static int64_t last_uid = -1;
	static char last[64];
	struct passwd *pw = NULL;

	if (uid != last_uid) {
		pw = uid >= 0 ? getpwuid((uid_t)uid) : NULL;
		if (pw != NULL)
			snprintf(last, sizeof(last), "%s", pw->pw_name);
		else
			snprintf(last, sizeof(last), "%" PRId64, uid);
		last_uid = uid;
	}
	snprintf(buf, len, "%s", last);
}

/* Read FILE, or stdin for "-", whole. */
static char *
read_input(struct ctx *ctx, const char *file, size_t *len)
{
	struct cld_err err;
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (strcmp(file, "-") != 0) {
		cld_err_clear(&err);
		buf = cld_read_file(file, len, &err);
		if (buf == NULL)
			warnx_("%s", err.msg);
		return buf;
	}
	for (;;) {
		size_t got;

		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = cld_xrealloc(buf, cap);
		}
		got = fread(buf + n, 1, cap - n - 1, stdin);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(stdin)) {
		warnx_("cannot read the standard input: %s", strerror(errno));
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Sleep SECS seconds (fractions allowed). */
static void
nap(double secs)
{
	struct timespec ts;

	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * A request body {"template": TEXT} of FILE (or stdin for "-"), sent as
 * read; NULL after saying why it cannot be.
 */
static json_t *
template_body(struct ctx *ctx, const char *file)
{
	json_t *body = NULL, *tmpl = NULL;
	size_t len = 0;
	char *text = read_input(ctx, file, &len);

	if (text == NULL)
		return NULL;
	if (memchr(text, '\0', len) != NULL)
		warnx_("template '%s' contains a NUL byte", file);
	else if ((tmpl = json_stringn(text, len)) == NULL)
		warnx_("template '%s' is not valid UTF-8", file);
	else {
		body = json_object();
		json_object_set_new(body, "template", tmpl);
	}
	free(text);
	return body;
}

/* ------------------------------------------------------------ vm */

static int
vm_create(struct ctx *ctx, int argc, char **argv)
{
	json_t *body = template_body(ctx, argv[0]), *reply = NULL;
	int rc;

	if (body == NULL)
		return CLD_EXIT_USAGE;
	json_object_set_new(body, "hold", json_boolean(ctx->hold));
	rc = call(ctx, "POST", "/v1/vms", body, &reply, NULL);
	if (rc != CLD_EXIT_OK)
		goto cleanup;
	if (ctx->json)
		print_json(reply);
	else
		printf("%" PRId64 "\n", jint(reply, "id"));

cleanup:
	json_decref(reply);
	json_decref(body);
	return rc;
}

static void
vm_table(const json_t *vms)
{
	static const char *const head[] = {"ID", "USER", "NAME", "STAT",
	    "CPU", "MEM", "HOST", "TIME"};
	struct cld_table *t = cld_table_new(8, head, "rllrrrlr");
	int64_t now = cld_time();
	size_t i;
	json_t *vm;

	json_array_foreach(vms, i, vm) {
		json_t *usage = json_object_get(vm, "usage");
		int64_t stime = jint(vm, "stime"), etime = jint(vm, "etime");
		char user[64], mem[32], span[48];

		user_name(user, sizeof(user), jint(vm, "uid"));
		cld_fmt_kib(mem, sizeof(mem), jnum(usage, "memory"));
		cld_fmt_span(span, sizeof(span), stime <= 0 ? -1 :
		    (etime > 0 ? etime : now) - stime);
		cld_table_cell(t, "%" PRId64, jint(vm, "id"));
		cld_table_cell(t, "%s", user);
		cld_table_cell(t, "%s", jstr(vm, "name", "-"));
		cld_table_cell(t, "%s", jstr(vm, "short", "-"));
		cld_table_cell(t, "%.0f", jnum(usage, "cpu"));
		cld_table_cell(t, "%s", mem);
		cld_table_cell(t, "%s", jstr(vm, "host", "-"));
		cld_table_cell(t, "%s", span);
	}
	cld_table_print(t, stdout);
	cld_table_free(t);
}

static char *
vm_list_path(struct ctx *ctx)
{
	char *path = cld_xstrdup("/v1/vms");
	char sep = '?';

	if (ctx->state != NULL) {
		char *p = cld_xasprintf("%s%cstate=%s", path, sep,
		    vm_state_name(ctx->state));

		free(path);
		path = p;
		sep = '&';
	}
	if (ctx->host != NULL) {
		char *h = cld_client_escape(ctx->client, ctx->host);
		char *p = cld_xasprintf("%s%chost=%s", path, sep, h);

		free(h);
		free(path);
		path = p;
	}
	return path;
}

static int
vm_list_once(struct ctx *ctx, const char *path)
{
	json_t *list = NULL, *vms = NULL;
	int rc = fetch_list(ctx, path, "vms", ctx->all_pages, &list);

	if (rc != CLD_EXIT_OK)
		return rc;
	vms = json_object_get(list, "vms");
	if (ctx->json)
		print_json(list);
	else {
		vm_table(vms);
		if (!ctx->all_pages && (int64_t)json_array_size(vms) <
		    jint(list, "total"))
			fprintf(stderr, "%s: showing %zu of %" PRId64
			    " VMs, --all-pages shows them all\n", progname,
			    json_array_size(vms), jint(list, "total"));
	}
	fflush(stdout);
	json_decref(list);
	return rc;
}

static int
check_state(struct ctx *ctx)
{
	if (ctx->state != NULL && vm_state_name(ctx->state) == NULL)
		return usage_error(ctx, "unknown VM state '%s' (one of PENDING, "
		    "HOLD, PROLOG, BOOT, RUNNING, MIGRATE, SHUTDOWN, EPILOG, "
		    "SUSPENDED, STOPPED, POWEROFF, UNKNOWN, FAILED, DONE, or "
		    "their short names)", ctx->state);
	return 0;
}

static int
vm_list(struct ctx *ctx, int argc, char **argv)
{
	char *path = NULL;
	int rc = check_state(ctx);

	if (rc != 0)
		return rc;
	path = vm_list_path(ctx);
	rc = vm_list_once(ctx, path);
	free(path);
	return rc;
}

static void
show_field(const char *name, const char *fmt, ...) CLD_PRINTF(2, 3);

static void
show_field(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("%-10s ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void
fmt_phase(char *buf, size_t len, int64_t from, int64_t to)
{
	if (from <= 0 || to <= 0)
		snprintf(buf, len, "-");
	else
		cld_fmt_span(buf, len, to - from);
}

static void
vm_history(const json_t *hist)
{
	static const char *const head[] = {"SEQ", "HOST", "START", "PROLOG",
	    "BOOT", "RUNNING", "EPILOG", "TOTAL", "REASON"};
	struct cld_table *t = cld_table_new(9, head, "rllrrrrrl");
	size_t i;
	json_t *h;

	json_array_foreach(hist, i, h) {
		int64_t start = jint(h, "start"), pe = jint(h, "prolog_end"),
		    be = jint(h, "boot_end"), re = jint(h, "running_end"),
		    ee = jint(h, "epilog_end"), end = jint(h, "end");
		char when[32], p[48], b[48], r[48], e[48], tot[48];

		cld_fmt_time(when, sizeof(when), start);
		fmt_phase(p, sizeof(p), start, pe);
		fmt_phase(b, sizeof(b), pe, be);
		fmt_phase(r, sizeof(r), be, re);
		fmt_phase(e, sizeof(e), re, ee);
		fmt_phase(tot, sizeof(tot), start, end);
		cld_table_cell(t, "%" PRId64, jint(h, "seq"));
		cld_table_cell(t, "%s", jstr(h, "host", "-"));
		cld_table_cell(t, "%s", when);
		cld_table_cell(t, "%s", p);
		cld_table_cell(t, "%s", b);
		cld_table_cell(t, "%s", r);
		cld_table_cell(t, "%s", e);
		cld_table_cell(t, "%s", tot);
		cld_table_cell(t, "%s", *jstr(h, "reason", "") ?
		    jstr(h, "reason", "") : "-");
	}
	cld_table_print(t, stdout);
	cld_table_free(t);
}

/* Each NIC: its network (or "-" for a plain bridge), address, tap. */
static void
vm_nics(const json_t *nics)
{
	static const char *const head[] = {"NIC", "NETWORK", "IP", "MAC",
	    "BRIDGE", "TARGET"};
	struct cld_table *t = cld_table_new(6, head, "rlllll");
	size_t i;
	json_t *n;

	json_array_foreach(nics, i, n) {
		cld_table_cell(t, "%zu", i);
		cld_table_cell(t, "%s", jstr(n, "network", "-"));
		cld_table_cell(t, "%s", jstr(n, "ip", "-"));
		cld_table_cell(t, "%s", jstr(n, "mac", "-"));
		cld_table_cell(t, "%s", jstr(n, "bridge", "-"));
		cld_table_cell(t, "%s", jstr(n, "target", "-"));
	}
	cld_table_print(t, stdout);
	cld_table_free(t);
}

static void
vm_block(const json_t *vm)
{
	json_t *usage = json_object_get(vm, "usage");
	json_t *hist = json_object_get(vm, "history");
	json_t *nics = json_object_get(vm, "nics");
	const char *tmpl = jstr(vm, "template", NULL);
	const char *state = jstr(vm, "state", "-");
	int64_t stime = jint(vm, "stime"), etime = jint(vm, "etime");
	char user[64], buf[64], mem[32], rx[32], tx[32], umem[32];

	show_field("ID", "%" PRId64, jint(vm, "id"));
	show_field("NAME", "%s", jstr(vm, "name", "-"));
	user_name(user, sizeof(user), jint(vm, "uid"));
	show_field("USER", "%s (uid %" PRId64 ", gid %" PRId64 ")", user,
	    jint(vm, "uid"), jint(vm, "gid"));
	show_field("STATE", "%s (%s)", state, jstr(vm, "short", "-"));
	if (jstr(vm, "failed", NULL) != NULL)
		show_field("FAILED IN", "%s", jstr(vm, "failed", NULL));
	if (jstr(vm, "reason", NULL) != NULL)
		show_field("REASON", "%s", jstr(vm, "reason", NULL));
	if (jstr(vm, "progress", NULL) != NULL)
		show_field("PROGRESS", "%s", jstr(vm, "progress", NULL));
	if (jstr(vm, "host", NULL) != NULL)
		show_field("HOST", "%s (id %" PRId64 ")", jstr(vm, "host", NULL),
		    jint(vm, "host_id"));
	else
		show_field("HOST", "-");
	fmt_num(buf, sizeof(buf), jnum(vm, "cpu"));
	show_field("CPU", "%s", buf);
	show_field("VCPU", "%" PRId64, jint(vm, "vcpu"));
	cld_fmt_kib(mem, sizeof(mem), jnum(vm, "memory") * 1024.0);
	show_field("MEMORY", "%s", mem);
	cld_fmt_kib(umem, sizeof(umem), jnum(usage, "memory"));
	cld_fmt_kib(rx, sizeof(rx), jnum(usage, "netrx") / 1024.0);
	cld_fmt_kib(tx, sizeof(tx), jnum(usage, "nettx") / 1024.0);
	show_field("USAGE", "cpu %.0f%%, memory %s, net rx %s, tx %s",
	    jnum(usage, "cpu"), umem, rx, tx);
	cld_fmt_time(buf, sizeof(buf), stime);
	show_field("STARTED", "%s", buf);
	cld_fmt_time(buf, sizeof(buf), etime);
	show_field("ENDED", "%s", buf);
	cld_fmt_span(buf, sizeof(buf), stime <= 0 ? -1 :
	    (etime > 0 ? etime : cld_time()) - stime);
	show_field("TIME", "%s", buf);
	if (json_array_size(nics) > 0) {
		printf("\nNICS\n");
		vm_nics(nics);
	}
	if (json_array_size(hist) > 0) {
		printf("\nHISTORY\n");
		vm_history(hist);
	}
	if (tmpl != NULL) {
		size_t n = strlen(tmpl);

		printf("\nTEMPLATE\n%s", tmpl);
		if (n == 0 || tmpl[n - 1] != '\n')
			putchar('\n');
	}
}

/*
 * GET each object of ARGV at the path PATH_OF makes for it and print it
 * with BLOCK (or as JSON); the first failure's exit code wins, and cloudd
 * out of reach ends it at once.
 */
static int
show_each(struct ctx *ctx, int argc, char **argv,
    char *(*path_of)(struct ctx *, const char *),
    void (*block)(const json_t *))
{
	int rc = CLD_EXIT_OK;

	for (int i = 0; i < argc; i++) {
		json_t *reply = NULL;
		char *path = path_of(ctx, argv[i]);
		int r = call(ctx, "GET", path, NULL, &reply, argc > 1 ?
		    argv[i] : NULL);

		free(path);
		rc = worse(rc, r);
		if (r == CLD_EXIT_UNREACHABLE)
			return r;
		if (r != CLD_EXIT_OK)
			continue;
		if (ctx->json)
			print_json(reply);
		else {
			if (i > 0)
				putchar('\n');
			block(reply);
		}
		json_decref(reply);
	}
	return rc;
}

/* The path of VM ARG, an id already checked by parse_id. */
static char *
vm_item_path(struct ctx *ctx, const char *arg)
{
	int64_t id = 0;

	(void)ctx;
	(void)cld_parse_i64(arg, &id);
	return cld_xasprintf("/v1/vms/%" PRId64, id);
}

static int
vm_show(struct ctx *ctx, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		int64_t id;

		if (parse_id(ctx, argv[i], &id) != 0)
			return CLD_EXIT_USAGE;
	}
	return show_each(ctx, argc, argv, vm_item_path, vm_block);
}

static int
vm_log(struct ctx *ctx, int argc, char **argv)
{
	json_t *reply = NULL;
	char *path = NULL;
	const char *log;
	int64_t id;
	int rc = parse_id(ctx, argv[0], &id);

	if (rc != 0)
		return rc;
	path = cld_xasprintf("/v1/vms/%" PRId64 "/log", id);
	rc = call(ctx, "GET", path, NULL, &reply, NULL);
	free(path);
	if (rc != CLD_EXIT_OK)
		return rc;
	log = jstr(reply, "log", "");
	if (ctx->json)
		print_json(reply);
	else {
		fputs(log, stdout);
		if (*log && log[strlen(log) - 1] != '\n')
			putchar('\n');
	}
	json_decref(reply);
	return rc;
}

/*
 * POST {"action": ACTION, ...EXTRA} to each VM of IDS; every VM is tried,
 * the first failure's exit code is returned.  EXTRA is borrowed.
 */
static int
vm_action_ids(struct ctx *ctx, const char *action, json_t *extra, int n,
    char **ids)
{
	int rc = CLD_EXIT_OK;

	for (int i = 0; i < n; i++) {
		int64_t id;

		if (parse_id(ctx, ids[i], &id) != 0)
			return CLD_EXIT_USAGE;
	}
	for (int i = 0; i < n; i++) {
		json_t *body = json_object(), *reply = NULL;
		char *path = NULL, *prefix = NULL;
		int64_t id = 0;
		int r;

		(void)cld_parse_i64(ids[i], &id);
		json_object_set_new(body, "action", json_string(action));
		if (extra != NULL)
			json_object_update(body, extra);
		path = cld_xasprintf("/v1/vms/%" PRId64 "/actions", id);
		if (n > 1)
			prefix = cld_xasprintf("vm %" PRId64, id);
		r = call(ctx, "POST", path, body, &reply, prefix);
		if (r == CLD_EXIT_OK && ctx->json)
			print_json(reply);
		json_decref(reply);
		json_decref(body);
		free(path);
		free(prefix);
		rc = worse(rc, r);
		if (r == CLD_EXIT_UNREACHABLE)
			break;
	}
	return rc;
}

static int
vm_simple(struct ctx *ctx, int argc, char **argv)
{
	return vm_action_ids(ctx, ctx->cmd->verb, NULL, argc, argv);
}

static int
vm_reboot(struct ctx *ctx, int argc, char **argv)
{
	json_t *extra = json_pack("{s:b}", "hard", ctx->hard);
	int rc = vm_action_ids(ctx, "reboot", extra, argc, argv);

	json_decref(extra);
	return rc;
}

static int
vm_deploy(struct ctx *ctx, int argc, char **argv)
{
	json_t *extra = json_pack("{s:s}", "host", argv[1]);
	int rc = vm_action_ids(ctx, "deploy", extra, 1, argv);

	json_decref(extra);
	return rc;
}

static int
vm_migrate(struct ctx *ctx, int argc, char **argv)
{
	json_t *extra = json_pack("{s:s,s:b}", "host", argv[1], "live",
	    ctx->live);
	int rc = vm_action_ids(ctx, "migrate", extra, 1, argv);

	json_decref(extra);
	return rc;
}

static int
vm_recover(struct ctx *ctx, int argc, char **argv)
{
	json_t *extra = NULL;
	int rc;

	if (ctx->mode == NULL)
		return usage_error(ctx, "say how to recover: --retry, "
		    "--success, --failure or --delete");
	extra = json_pack("{s:s}", "mode", ctx->mode);
	rc = vm_action_ids(ctx, "recover", extra, argc, argv);
	json_decref(extra);
	return rc;
}

/* "top": redraw LIST every --delay seconds, --count times (0: for ever). */
static int
top(struct ctx *ctx, int (*list)(struct ctx *, const char *),
    const char *path)
{
	int tty = isatty(STDOUT_FILENO);
	int rc = CLD_EXIT_OK;

	for (long i = 0; ctx->count == 0 || i < ctx->count; i++) {
		if (i > 0)
			nap(ctx->delay);
		if (tty)
			fputs("\033[H\033[2J", stdout);
		else if (i > 0)
			putchar('\n');
		rc = list(ctx, path);
		if (rc != CLD_EXIT_OK)
			break;
	}
	return rc;
}

static int
vm_top(struct ctx *ctx, int argc, char **argv)
{
	char *path = NULL;
	int rc = check_state(ctx);

	if (rc != 0)
		return rc;
	path = vm_list_path(ctx);
	rc = top(ctx, vm_list_once, path);
	free(path);
	return rc;
}

/* ------------------------------------------------------------ host */

static int
host_create(struct ctx *ctx, int argc, char **argv)
{
	json_t *body = NULL, *reply = NULL;
	int rc;

	if (ctx->im == NULL || ctx->vmm == NULL)
		return usage_error(ctx, "a host needs --im and --vmm");
	body = json_pack("{s:s,s:s,s:s}", "name", argv[0], "im", ctx->im,
	    "vmm", ctx->vmm);
	if (ctx->cluster != NULL)
		json_object_set_new(body, "cluster", json_string(ctx->cluster));
	rc = call(ctx, "POST", "/v1/hosts", body, &reply, NULL);
	if (rc == CLD_EXIT_OK) {
		if (ctx->json)
			print_json(reply);
		else
			printf("%" PRId64 "\n", jint(reply, "id"));
	}
	json_decref(reply);
	json_decref(body);
	return rc;
}

static void
host_table(const json_t *hosts)
{
	static const char *const head[] = {"ID", "NAME", "CLUSTER", "RVM",
	    "TCPU", "FCPU", "ACPU", "TMEM", "FMEM", "AMEM", "STAT"};
	struct cld_table *t = cld_table_new(11, head, "rllrrrrrrrl");
	size_t i;
	json_t *h;

	json_array_foreach(hosts, i, h) {
		char tm[32], fm[32], am[32];

		cld_fmt_kib(tm, sizeof(tm), jnum(h, "tmem"));
		cld_fmt_kib(fm, sizeof(fm), jnum(h, "fmem"));
		cld_fmt_kib(am, sizeof(am), jnum(h, "amem"));
		cld_table_cell(t, "%" PRId64, jint(h, "id"));
		cld_table_cell(t, "%s", jstr(h, "name", "-"));
		cld_table_cell(t, "%s", jstr(h, "cluster", "-"));
		cld_table_cell(t, "%" PRId64, jint(h, "rvm"));
		cld_table_cell(t, "%.0f", jnum(h, "tcpu"));
		cld_table_cell(t, "%.0f", jnum(h, "fcpu"));
		cld_table_cell(t, "%.0f", jnum(h, "acpu"));
		cld_table_cell(t, "%s", tm);
		cld_table_cell(t, "%s", fm);
		cld_table_cell(t, "%s", am);
		cld_table_cell(t, "%s", jstr(h, "short", "-"));
	}
	cld_table_print(t, stdout);
	cld_table_free(t);
}

/* Every page of the list at PATH: its KEY items printed by TABLE, or JSON. */
static int
list_all(struct ctx *ctx, const char *path, const char *key,
    void (*table)(const json_t *))
{
	json_t *list = NULL;
	int rc = fetch_list(ctx, path, key, 1, &list);

	if (rc != CLD_EXIT_OK)
		return rc;
	if (ctx->json)
		print_json(list);
	else
		table(json_object_get(list, key));
	fflush(stdout);
	json_decref(list);
	return rc;
}

static int
host_list_once(struct ctx *ctx, const char *path)
{
	return list_all(ctx, path, "hosts", host_table);
}

static int
host_list(struct ctx *ctx, int argc, char **argv)
{
	return host_list_once(ctx, "/v1/hosts");
}

static int
host_top(struct ctx *ctx, int argc, char **argv)
{
	return top(ctx, host_list_once, "/v1/hosts");
}

static char *
host_path(struct ctx *ctx, const char *id_or_name, const char *tail)
{
	char *e = cld_client_escape(ctx->client, id_or_name);
	char *p = cld_xasprintf("/v1/hosts/%s%s", e, tail);

	free(e);
	return p;
}

static void
print_value(const json_t *v)
{
	char *s = NULL;

	if (json_is_string(v)) {
		fputs(json_string_value(v), stdout);
		return;
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	fputs(s != NULL ? s : "?", stdout);
	free(s);
}

static void
host_block(const json_t *h)
{
	json_t *attrs = json_object_get(h, "attributes");
	char t[32], f[32], a[32], when[32];

	show_field("ID", "%" PRId64, jint(h, "id"));
	show_field("NAME", "%s", jstr(h, "name", "-"));
	show_field("CLUSTER", "%s (id %" PRId64 ")", jstr(h, "cluster", "-"),
	    jint(h, "cluster_id"));
	show_field("IM", "%s", jstr(h, "im", "-"));
	show_field("VMM", "%s", jstr(h, "vmm", "-"));
	show_field("STATE", "%s (%s)", jstr(h, "state", "-"),
	    jstr(h, "short", "-"));
	if (jstr(h, "error", NULL) != NULL)
		show_field("ERROR", "%s", jstr(h, "error", NULL));
	cld_fmt_time(when, sizeof(when), jint(h, "monitored"));
	show_field("MONITORED", "%s", when);
	if (jint(h, "max_vms") > 0)
		show_field("VMS", "%" PRId64 " running, at most %" PRId64,
		    jint(h, "rvm"), jint(h, "max_vms"));
	else
		show_field("VMS", "%" PRId64 " running", jint(h, "rvm"));
	show_field("CPU", "total %.0f, free %.0f, unallocated %.0f",
	    jnum(h, "tcpu"), jnum(h, "fcpu"), jnum(h, "acpu"));
	cld_fmt_kib(t, sizeof(t), jnum(h, "tmem"));
	cld_fmt_kib(f, sizeof(f), jnum(h, "fmem"));
	cld_fmt_kib(a, sizeof(a), jnum(h, "amem"));
	show_field("MEMORY", "total %s, free %s, unallocated %s", t, f, a);
	if (json_object_size(attrs) > 0) {
		const char **keys = cld_xcalloc(json_object_size(attrs),
		    sizeof(*keys));
		const char *k;
		size_t n = 0, w = 0;
		json_t *v;

		json_object_foreach(attrs, k, v) {
			keys[n++] = k;
			if (strlen(k) > w)
				w = strlen(k);
		}
		for (size_t i = 1; i < n; i++)
			for (size_t j = i; j > 0 && strcmp(keys[j - 1],
			    keys[j]) > 0; j--) {
				const char *x = keys[j];

				keys[j] = keys[j - 1];
				keys[j - 1] = x;
			}
		printf("\nATTRIBUTES\n");
		for (size_t i = 0; i < n; i++) {
			printf("%-*s = ", (int)w, keys[i]);
			print_value(json_object_get(attrs, keys[i]));
			putchar('\n');
		}
		free(keys);
	}
}

static char *
host_item_path(struct ctx *ctx, const char *arg)
{
	return host_path(ctx, arg, "");
}

static int
host_show(struct ctx *ctx, int argc, char **argv)
{
	return show_each(ctx, argc, argv, host_item_path, host_block);
}

/* METHOD each host of HOSTS at TAIL with BODY (borrowed, may be NULL). */
static int
host_each(struct ctx *ctx, const char *method, const char *tail,
    json_t *body, int n, char **hosts)
{
	int rc = CLD_EXIT_OK;

	for (int i = 0; i < n; i++) {
		json_t *reply = NULL;
		char *path = host_path(ctx, hosts[i], tail);
		char *prefix = n > 1 ? cld_xasprintf("host %s", hosts[i]) : NULL;
		int r = call(ctx, method, path, body, &reply, prefix);

		if (r == CLD_EXIT_OK && ctx->json)
			print_json(reply);
		json_decref(reply);
		free(path);
		free(prefix);
		rc = worse(rc, r);
		if (r == CLD_EXIT_UNREACHABLE)
			break;
	}
	return rc;
}

static int
host_action(struct ctx *ctx, int argc, char **argv)
{
	json_t *body = json_pack("{s:s}", "action", ctx->cmd->verb);
	int rc = host_each(ctx, "POST", "/actions", body, argc, argv);

	json_decref(body);
	return rc;
}

static int
host_delete(struct ctx *ctx, int argc, char **argv)
{
	return host_each(ctx, "DELETE", "", NULL, argc, argv);
}

static int
host_move(struct ctx *ctx, int argc, char **argv)
{
	json_t *body = json_pack("{s:s}", "cluster", argv[1]);
	int rc = host_each(ctx, "PATCH", "", body, 1, argv);

	json_decref(body);
	return rc;
}

/* ------------------------------------------------------------ cluster */

/*
 * The API path of cluster ARG, a number or a name (looked up in the list:
 * the API names clusters by id only).
 */
static int
cluster_path(struct ctx *ctx, const char *arg, char **path)
{
	json_t *list = NULL, *c;
	int64_t id = -1;
	size_t i;
	int rc;

	*path = NULL;
	if (cld_parse_i64(arg, &id) == 0 && id >= 0) {
		*path = cld_xasprintf("/v1/clusters/%" PRId64, id);
		return CLD_EXIT_OK;
	}
	rc = fetch_list(ctx, "/v1/clusters", "clusters", 1, &list);
	if (rc != CLD_EXIT_OK)
		return rc;
	json_array_foreach(json_object_get(list, "clusters"), i, c)
		if (strcmp(jstr(c, "name", ""), arg) == 0) {
			*path = cld_xasprintf("/v1/clusters/%" PRId64,
			    jint(c, "id"));
			break;
		}
	json_decref(list);
	if (*path == NULL) {
		warnx_("no cluster '%s'", arg);
		return CLD_EXIT_NOTFOUND;
	}
	return CLD_EXIT_OK;
}

static int
cluster_create(struct ctx *ctx, int argc, char **argv)
{
	json_t *body = NULL, *reply = NULL;
	int rc;

	if (ctx->tm == NULL || ctx->net == NULL)
		return usage_error(ctx, "a cluster needs --tm and --net");
	body = json_pack("{s:s,s:s,s:s}", "name", argv[0], "tm", ctx->tm,
	    "net", ctx->net);
	rc = call(ctx, "POST", "/v1/clusters", body, &reply, NULL);
	if (rc == CLD_EXIT_OK) {
		if (ctx->json)
			print_json(reply);
		else
			printf("%" PRId64 "\n", jint(reply, "id"));
	}
	json_decref(reply);
	json_decref(body);
	return rc;
}

static void
cluster_table(const json_t *clusters)
{
	static const char *const head[] = {"ID", "NAME", "TM", "NET", "HOSTS"};
	struct cld_table *t = cld_table_new(5, head, "rlllr");
	size_t i;
	json_t *c;

	json_array_foreach(clusters, i, c) {
		cld_table_cell(t, "%" PRId64, jint(c, "id"));
		cld_table_cell(t, "%s", jstr(c, "name", "-"));
		cld_table_cell(t, "%s", jstr(c, "tm", "-"));
		cld_table_cell(t, "%s", jstr(c, "net", "-"));
		cld_table_cell(t, "%" PRId64, jint(c, "hosts"));
	}
	cld_table_print(t, stdout);
	cld_table_free(t);
}

static int
cluster_list(struct ctx *ctx, int argc, char **argv)
{
	return list_all(ctx, "/v1/clusters", "clusters", cluster_table);
}

/* METHOD each cluster of ARGS with BODY (borrowed, may be NULL). */
static int
cluster_each(struct ctx *ctx, const char *method, json_t *body, int n,
    char **args)
{
	int rc = CLD_EXIT_OK;

	for (int i = 0; i < n; i++) {
		json_t *reply = NULL;
		char *path = NULL;
		int r = cluster_path(ctx, args[i], &path);

		if (r == CLD_EXIT_OK) {
			char *prefix = n > 1 ? cld_xasprintf("cluster %s",
			    args[i]) : NULL;

			r = call(ctx, method, path, body, &reply, prefix);
			free(prefix);
		}
		if (r == CLD_EXIT_OK && ctx->json)
			print_json(reply);
		else if (r == CLD_EXIT_OK && strcmp(method, "GET") == 0) {
			if (i > 0)
				putchar('\n');
			show_field("ID", "%" PRId64, jint(reply, "id"));
			show_field("NAME", "%s", jstr(reply, "name", "-"));
			show_field("TM", "%s", jstr(reply, "tm", "-"));
			show_field("NET", "%s", jstr(reply, "net", "-"));
			show_field("HOSTS", "%" PRId64, jint(reply, "hosts"));
		}
		json_decref(reply);
		free(path);
		rc = worse(rc, r);
		if (r == CLD_EXIT_UNREACHABLE)
			break;
	}
	return rc;
}

static int
cluster_show(struct ctx *ctx, int argc, char **argv)
{
	return cluster_each(ctx, "GET", NULL, argc, argv);
}

static int
cluster_set(struct ctx *ctx, int argc, char **argv)
{
	json_t *body = NULL;
	int rc;

	if (ctx->tm == NULL && ctx->net == NULL)
		return usage_error(ctx, "nothing to set: give --tm, --net or both");
	body = json_object();
	if (ctx->tm != NULL)
		json_object_set_new(body, "tm", json_string(ctx->tm));
	if (ctx->net != NULL)
		json_object_set_new(body, "net", json_string(ctx->net));
	rc = cluster_each(ctx, "PATCH", body, 1, argv);
	json_decref(body);
	return rc;
}

static int
cluster_delete(struct ctx *ctx, int argc, char **argv)
{
	return cluster_each(ctx, "DELETE", NULL, argc, argv);
}

/* ------------------------------------------------------------ vnet */

/* The API path of network ARG (an id or a name) and TAIL. */
static char *
vnet_path(struct ctx *ctx, const char *arg, const char *tail)
{
	char *e = cld_client_escape(ctx->client, arg);
	char *p = cld_xasprintf("/v1/vnets/%s%s", e, tail);

	free(e);
	return p;
}

static char *
vnet_item_path(struct ctx *ctx, const char *arg)
{
	return vnet_path(ctx, arg, "");
}

static int
vnet_create(struct ctx *ctx, int argc, char **argv)
{
	json_t *body = template_body(ctx, argv[0]), *reply = NULL;
	char *prefix = NULL;
	int rc;

	if (body == NULL)
		return CLD_EXIT_USAGE;
	/* "'pub.net': line 3, column 1: ..." */
	if (strcmp(argv[0], "-") != 0)
		prefix = cld_xasprintf("'%s'", argv[0]);
	rc = call(ctx, "POST", "/v1/vnets", body, &reply, prefix);
	if (rc != CLD_EXIT_OK)
		goto cleanup;
	if (ctx->json)
		print_json(reply);
	else
		printf("%" PRId64 "\n", jint(reply, "id"));

cleanup:
	json_decref(reply);
	json_decref(body);
	free(prefix);
	return rc;
}

/* A number, or "-" for JSON null. */
static void
cell_int_or_dash(struct cld_table *t, const json_t *o, const char *key)
{
	if (json_is_integer(json_object_get(o, key)))
		cld_table_cell(t, "%" PRId64, jint(o, key));
	else
		cld_table_cell(t, "-");
}

static void
vnet_table(const json_t *vnets)
{
	static const char *const head[] = {"ID", "NAME", "BRIDGE", "VLAN",
	    "ADDRESSES", "SIZE", "USED", "HELD", "FREE"};
	struct cld_table *t = cld_table_new(9, head, "rllrlrrrr");
	size_t i;
	json_t *v;

	json_array_foreach(vnets, i, v) {
		char addr[96];

		if (json_is_integer(json_object_get(v, "prefix")) &&
		    jstr(v, "first", NULL) != NULL)
			snprintf(addr, sizeof(addr), "%s (/%" PRId64 ")",
			    jstr(v, "addresses", "-"), jint(v, "prefix"));
		else
			snprintf(addr, sizeof(addr), "%s",
			    jstr(v, "addresses", "-"));
		cld_table_cell(t, "%" PRId64, jint(v, "id"));
		cld_table_cell(t, "%s", jstr(v, "name", "-"));
		cld_table_cell(t, "%s", jstr(v, "bridge", "-"));
		cell_int_or_dash(t, v, "vlan_id");
		cld_table_cell(t, "%s", addr);
		cld_table_cell(t, "%" PRId64, jint(v, "size"));
		cld_table_cell(t, "%" PRId64, jint(v, "used"));
		cld_table_cell(t, "%" PRId64, jint(v, "held"));
		cld_table_cell(t, "%" PRId64, jint(v, "free"));
	}
	cld_table_print(t, stdout);
	cld_table_free(t);
}

static int
vnet_list(struct ctx *ctx, int argc, char **argv)
{
	return list_all(ctx, "/v1/vnets", "vnets", vnet_table);
}

static void
vnet_leases(const json_t *leases)
{
	static const char *const head[] = {"IP", "MAC", "STATE", "VM", "NAME",
	    "USER"};
	struct cld_table *t = cld_table_new(6, head, "lllrll");
	size_t i;
	json_t *l;

	json_array_foreach(leases, i, l) {
		char user[64] = "-";

		if (json_is_integer(json_object_get(l, "uid")))
			user_name(user, sizeof(user), jint(l, "uid"));
		cld_table_cell(t, "%s", jstr(l, "ip", "-"));
		cld_table_cell(t, "%s", jstr(l, "mac", "-"));
		cld_table_cell(t, "%s", jstr(l, "state", "-"));
		cell_int_or_dash(t, l, "vm");
		cld_table_cell(t, "%s", jstr(l, "vm_name", "-"));
		cld_table_cell(t, "%s", user);
	}
	cld_table_print(t, stdout);
	cld_table_free(t);
}

static void
vnet_block(const json_t *v)
{
	json_t *leases = json_object_get(v, "leases");

	show_field("ID", "%" PRId64, jint(v, "id"));
	show_field("NAME", "%s", jstr(v, "name", "-"));
	show_field("BRIDGE", "%s", jstr(v, "bridge", "-"));
	if (json_is_integer(json_object_get(v, "vlan_id")))
		show_field("VLAN", "%" PRId64 " on %s", jint(v, "vlan_id"),
		    jstr(v, "phydev", "-"));
	else if (jstr(v, "phydev", NULL) != NULL)
		show_field("PHYDEV", "%s", jstr(v, "phydev", NULL));
	show_field("ADDRESSES", "%s", jstr(v, "addresses", "-"));
	if (jstr(v, "netmask", NULL) != NULL)
		show_field("NETMASK", "%s (/%" PRId64 ")",
		    jstr(v, "netmask", NULL), jint(v, "prefix"));
	show_field("GATEWAY", "%s", jstr(v, "gateway", "-"));
	show_field("DNS", "%s", jstr(v, "dns", "-"));
	show_field("MAC PREFIX", "%s", jstr(v, "mac_prefix", "-"));
	show_field("LEASES", "%" PRId64 " used, %" PRId64 " on hold, %" PRId64
	    " free, of %" PRId64, jint(v, "used"), jint(v, "held"),
	    jint(v, "free"), jint(v, "size"));
	show_field("VMS", "%" PRId64 " NIC%s of VMs not yet DONE", jint(v, "vms"),
	    jint(v, "vms") == 1 ? "" : "s");
	if (json_array_size(leases) > 0) {
		printf("\nLEASES\n");
		vnet_leases(leases);
	}
}

static int
vnet_show(struct ctx *ctx, int argc, char **argv)
{
	return show_each(ctx, argc, argv, vnet_item_path, vnet_block);
}

/*
 * METHOD each of the N networks of ARGS; or, with NET, POST BODY (borrowed)
 * and "ip": each of the N addresses of ARGS, to NET's actions.
 */
static int
vnet_each(struct ctx *ctx, const char *method, const char *net,
    json_t *body, int n, char **args)
{
	int rc = CLD_EXIT_OK;

	for (int i = 0; i < n; i++) {
		json_t *reply = NULL, *b = NULL;
		char *path = vnet_path(ctx, net != NULL ? net : args[i],
		    net != NULL ? "/actions" : "");
		char *prefix = n > 1 ? cld_xasprintf("%s %s", net != NULL ?
		    "address" : "network", args[i]) : NULL;
		int r;

		if (body != NULL) {
			b = json_deep_copy(body);
			json_object_set_new(b, "ip", json_string(args[i]));
		}
		r = call(ctx, method, path, b, &reply, prefix);
		if (r == CLD_EXIT_OK && ctx->json)
			print_json(reply);
		json_decref(reply);
		json_decref(b);
		free(path);
		free(prefix);
		rc = worse(rc, r);
		if (r == CLD_EXIT_UNREACHABLE)
			break;
	}
	return rc;
}

static int
vnet_delete(struct ctx *ctx, int argc, char **argv)
{
	return vnet_each(ctx, "DELETE", NULL, NULL, argc, argv);
}

/* hold / release NET ADDRESS...: one action per address. */
static int
vnet_action(struct ctx *ctx, int argc, char **argv)
{
	json_t *body = json_pack("{s:s}", "action", ctx->cmd->verb);
	int rc = vnet_each(ctx, "POST", argv[0], body, argc - 1, argv + 1);

	json_decref(body);
	return rc;
}

/* ------------------------------------------------------------ the table */

#define COMMON_OPTS {"json", no_argument, NULL, O_JSON}, \
	{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}
#define COMMON_HELP "  --json        print the server's JSON reply\n"

static const struct option o_none[] = {COMMON_OPTS};
static const struct option o_create[] = {
	{"hold", no_argument, NULL, O_HOLD}, COMMON_OPTS};
static const struct option o_list[] = {
	{"state", required_argument, NULL, O_STATE},
	{"host", required_argument, NULL, O_HOST},
	{"all-pages", no_argument, NULL, O_ALL}, COMMON_OPTS};
static const struct option o_top[] = {
	{"state", required_argument, NULL, O_STATE},
	{"host", required_argument, NULL, O_HOST},
	{"all-pages", no_argument, NULL, O_ALL},
	{"delay", required_argument, NULL, 'd'},
	{"count", required_argument, NULL, 'n'}, COMMON_OPTS};
static const struct option o_htop[] = {
	{"delay", required_argument, NULL, 'd'},
	{"count", required_argument, NULL, 'n'}, COMMON_OPTS};
static const struct option o_reboot[] = {
	{"hard", no_argument, NULL, O_HARD}, COMMON_OPTS};
static const struct option o_migrate[] = {
	{"live", no_argument, NULL, O_LIVE}, COMMON_OPTS};
static const struct option o_recover[] = {
	{"retry", no_argument, NULL, O_RETRY},
	{"success", no_argument, NULL, O_SUCCESS},
	{"failure", no_argument, NULL, O_FAILURE},
	{"delete", no_argument, NULL, O_DELETE}, COMMON_OPTS};
static const struct option o_hcreate[] = {
	{"im", required_argument, NULL, O_IM},
	{"vmm", required_argument, NULL, O_VMM},
	{"cluster", required_argument, NULL, O_CLUSTER}, COMMON_OPTS};
static const struct option o_ccreate[] = {
	{"tm", required_argument, NULL, O_TM},
	{"net", required_argument, NULL, O_NET}, COMMON_OPTS};

#define LIST_HELP \
	"  --state S     only VMs in state S (RUNNING or runn, ...)\n" \
	"  --host H      only VMs on host H\n" \
	"  --all-pages   fetch every page, not only the first 100 VMs\n"
#define TOP_HELP \
	"  -d, --delay SECS  seconds between redraws (default 1)\n" \
	"  -n, --count N     stop after N redraws (default: run until interrupted)\n"

static const struct cmd cmds[] = {
	{"vm", "create", vm_create, 1, 1, "FILE|-", "lease a VM described by a template file (- for stdin)",
	    "", o_create, "  --hold        create it on hold: not scheduled until released\n",
	    "cloudctl vm create web.tmpl\nsed s/web/web2/ web.tmpl | cloudctl vm create --hold -"},
	{"vm", "list", vm_list, 0, 0, "", "list VMs (the first page unless --all-pages)",
	    "", o_list, LIST_HELP, "cloudctl vm list --state runn --host node1"},
	{"vm", "show", vm_show, 1, -1, "ID...", "show a VM: state, reason, history, template",
	    "", o_none, "", "cloudctl vm show 42"},
	{"vm", "log", vm_log, 1, 1, "ID", "print a VM's log",
	    "", o_none, "", "cloudctl vm log 42"},
	{"vm", "deploy", vm_deploy, 2, 2, "ID HOST", "place a pending VM on HOST (admin)",
	    "", o_none, "", "cloudctl vm deploy 42 node1"},
	{"vm", "shutdown", vm_simple, 1, -1, "ID...", "shut VMs down cleanly and end their lease",
	    "", o_none, "", "cloudctl vm shutdown 3 4 5"},
	{"vm", "poweroff", vm_simple, 1, -1, "ID...", "power VMs off at once (pre-empts a shutdown)",
	    "", o_none, "", "cloudctl vm poweroff 42"},
	{"vm", "reboot", vm_reboot, 1, -1, "ID...", "reboot VMs",
	    "", o_reboot, "  --hard        reset them instead of asking the guest\n",
	    "cloudctl vm reboot --hard 42"},
	{"vm", "suspend", vm_simple, 1, -1, "ID...", "suspend VMs, keeping their host",
	    "", o_none, "", "cloudctl vm suspend 42"},
	{"vm", "resume", vm_simple, 1, -1, "ID...", "resume suspended or stopped VMs",
	    "", o_none, "", "cloudctl vm resume 42"},
	{"vm", "stop", vm_simple, 1, -1, "ID...", "stop VMs, saving their state off the host",
	    "", o_none, "", "cloudctl vm stop 42"},
	{"vm", "migrate", vm_migrate, 2, 2, "ID HOST", "move a VM to HOST (admin)",
	    "", o_migrate, "  --live        without stopping it\n", "cloudctl vm migrate --live 42 node2"},
	{"vm", "hold", vm_simple, 1, -1, "ID...", "keep pending VMs from being scheduled",
	    "", o_none, "", "cloudctl vm hold 42"},
	{"vm", "release", vm_simple, 1, -1, "ID...", "let held VMs be scheduled",
	    "", o_none, "", "cloudctl vm release 42"},
	{"vm", "recover", vm_recover, 1, -1, "ID...", "get VMs out of a failed or stuck step",
	    "", o_recover,
	    "  --retry       run the failed step again\n"
	    "  --success     take the step as done and go on\n"
	    "  --failure     take the step as failed\n"
	    "  --delete      give up on the VMs and clean up\n",
	    "cloudctl vm recover --retry 42"},
	{"vm", "delete", vm_simple, 1, -1, "ID...", "end VMs' lease whatever their state",
	    "", o_none, "", "cloudctl vm delete 42 43"},
	{"vm", "top", vm_top, 0, 0, "", "redraw the VM list every second",
	    "d:n:", o_top, LIST_HELP TOP_HELP, "cloudctl vm top -d 5"},

	{"host", "create", host_create, 1, 1, "NAME", "add a host (admin)",
	    "", o_hcreate,
	    "  --im IM       the im driver that monitors it (required)\n"
	    "  --vmm VMM     the vmm driver that runs its VMs (required)\n"
	    "  --cluster C   its cluster (default: default)\n",
	    "cloudctl host create node1 --im ssh --vmm xl --cluster rack1"},
	{"host", "list", host_list, 0, 0, "", "list hosts with their capacity",
	    "", o_none, "", "cloudctl host list"},
	{"host", "show", host_show, 1, -1, "ID|NAME...", "show a host and its last report",
	    "", o_none, "", "cloudctl host show node1"},
	{"host", "enable", host_action, 1, -1, "ID|NAME...", "let the scheduler use hosts (admin)",
	    "", o_none, "", "cloudctl host enable node1 node2"},
	{"host", "disable", host_action, 1, -1, "ID|NAME...", "keep new VMs off hosts, still monitored (admin)",
	    "", o_none, "", "cloudctl host disable node1"},
	{"host", "offline", host_action, 1, -1, "ID|NAME...", "take hosts out: not monitored, no VMs (admin)",
	    "", o_none, "", "cloudctl host offline node1"},
	{"host", "delete", host_delete, 1, -1, "ID|NAME...", "remove hosts that run no VM (admin)",
	    "", o_none, "", "cloudctl host delete node1"},
	{"host", "move", host_move, 2, 2, "ID|NAME CLUSTER", "move a host to another cluster (admin)",
	    "", o_none, "", "cloudctl host move node1 rack2"},
	{"host", "top", host_top, 0, 0, "", "redraw the host list every second",
	    "d:n:", o_htop, TOP_HELP, "cloudctl host top -d 2"},

	{"cluster", "create", cluster_create, 1, 1, "NAME", "add a cluster (admin)",
	    "", o_ccreate,
	    "  --tm TM       the tm driver that moves its disks (required)\n"
	    "  --net NET     the net driver that plugs its NICs (required)\n",
	    "cloudctl cluster create rack1 --tm shared --net bridge"},
	{"cluster", "list", cluster_list, 0, 0, "", "list clusters",
	    "", o_none, "", "cloudctl cluster list"},
	{"cluster", "show", cluster_show, 1, -1, "ID|NAME...", "show a cluster",
	    "", o_none, "", "cloudctl cluster show rack1"},
	{"cluster", "set", cluster_set, 1, 1, "ID|NAME", "change a cluster's drivers (admin)",
	    "", o_ccreate,
	    "  --tm TM       the new tm driver\n"
	    "  --net NET     the new net driver\n",
	    "cloudctl cluster set rack1 --tm ssh"},
	{"cluster", "delete", cluster_delete, 1, -1, "ID|NAME...", "remove clusters that have no host (admin)",
	    "", o_none, "", "cloudctl cluster delete rack1"},

	{"vnet", "create", vnet_create, 1, 1, "FILE|-", "add a network described by a template file (admin)",
	    "", o_none, "", "cloudctl vnet create pub.net"},
	{"vnet", "list", vnet_list, 0, 0, "", "list networks and how many addresses are leased",
	    "", o_none, "", "cloudctl vnet list"},
	{"vnet", "show", vnet_show, 1, -1, "ID|NAME...", "show a network and which VM holds each address",
	    "", o_none, "", "cloudctl vnet show pub"},
	{"vnet", "hold", vnet_action, 2, -1, "ID|NAME ADDRESS...", "keep addresses from being leased (admin)",
	    "", o_none, "", "cloudctl vnet hold pub 10.1.0.5 10.1.0.6"},
	{"vnet", "release", vnet_action, 2, -1, "ID|NAME ADDRESS...", "let held addresses be leased again (admin)",
	    "", o_none, "", "cloudctl vnet release pub 10.1.0.5"},
	{"vnet", "delete", vnet_delete, 1, -1, "ID|NAME...", "remove networks no VM uses (admin)",
	    "", o_none, "", "cloudctl vnet delete pub"},
};

/* The options a verb's usage line shows, before its arguments. */
static const char *const synopses[][3] = {
	{"vm", "create", "[--hold]"},
	{"vm", "list", "[--state S] [--host H] [--all-pages]"},
	{"vm", "reboot", "[--hard]"},
	{"vm", "migrate", "[--live]"},
	{"vm", "recover", "--retry|--success|--failure|--delete"},
	{"vm", "top", "[-d SECS] [-n COUNT] [--state S] [--host H] [--all-pages]"},
	{"host", "create", "--im IM --vmm VMM [--cluster C]"},
	{"host", "top", "[-d SECS] [-n COUNT]"},
	{"cluster", "create", "--tm TM --net NET"},
	{"cluster", "set", "[--tm TM] [--net NET]"},
};

/* "usage: cloudctl vm create [--hold] FILE|-" and a newline. */
static void
usage_line(FILE *fp, const struct cmd *c, int global)
{
	const char *syn = "";

	for (size_t i = 0; i < CLD_ARRAY_SIZE(synopses); i++)
		if (strcmp(synopses[i][0], c->object) == 0 &&
		    strcmp(synopses[i][1], c->verb) == 0)
			syn = synopses[i][2];
	fprintf(fp, "usage: %s%s %s %s%s%s%s%s\n", progname,
	    global ? " [-s socket] [--json]" : "", c->object, c->verb,
	    *syn ? " " : "", syn, *c->args ? " " : "", c->args);
}

static const char *const objects[][2] = {
	{"vm", "virtual machines: their lease from creation to the end"},
	{"host", "the hypervisor hosts VMs run on"},
	{"cluster", "groups of hosts sharing a tm and a net driver"},
	{"vnet", "virtual networks: a bridge, addresses, and who leases them"},
};

static const char global_options[] =
    "  -s, --socket PATH  cloudd's socket (default $CLOUDD_SOCKET, else\n"
    "                     " DEFAULT_SOCKET ")\n"
    "  --json             print the server's JSON replies\n"
    "  -h, --help         this help; also 'cloudctl vm --help',\n"
    "                     'cloudctl vm create --help'\n"
    "  --version          print cloudctl's version\n";

static const char exit_codes[] =
    "exit status: 0 done, 1 cloudd refused, 2 usage error,\n"
    "             3 cloudd cannot be reached, 4 no such object\n";

static void
help_main(FILE *fp)
{
	fprintf(fp, "usage: %s [-s socket] [--json] OBJECT VERB [options] [args]\n\n"
	    "Drive cloudd, the VM lease manager, through its API.\n\nobjects:\n",
	    progname);
	for (size_t i = 0; i < CLD_ARRAY_SIZE(objects); i++) {
		size_t col = 10;

		fprintf(fp, "  %-8s %s\n          ", objects[i][0], objects[i][1]);
		for (size_t j = 0; j < CLD_ARRAY_SIZE(cmds); j++) {
			if (strcmp(cmds[j].object, objects[i][0]) != 0)
				continue;
			if (col + 1 + strlen(cmds[j].verb) > 76) {
				fputs("\n          ", fp);
				col = 10;
			}
			col += (size_t)fprintf(fp, " %s", cmds[j].verb);
		}
		fputc('\n', fp);
	}
	fprintf(fp, "\noptions:\n%s\n%s\nexamples:\n"
	    "  cloudctl vm create web.tmpl\n"
	    "  cloudctl host list\n"
	    "  cloudctl --json vm show 42\n\n"
	    "See 'cloudctl OBJECT --help' and cloudctl(1).\n",
	    global_options, exit_codes);
}

static void
help_object(FILE *fp, const char *object)
{
	const struct cmd *first = NULL;
	int w = 0;

	for (size_t j = 0; j < CLD_ARRAY_SIZE(cmds); j++)
		if (strcmp(cmds[j].object, object) == 0) {
			int n = (int)(strlen(cmds[j].verb) + 1 +
			    strlen(cmds[j].args));

			if (n > w)
				w = n;
			if (first == NULL)
				first = &cmds[j];
		}
	fprintf(fp, "usage: %s [-s socket] [--json] %s VERB [options] [args]\n\n"
	    "verbs:\n", progname, object);
	for (size_t j = 0; j < CLD_ARRAY_SIZE(cmds); j++) {
		char left[128];

		if (strcmp(cmds[j].object, object) != 0)
			continue;
		snprintf(left, sizeof(left), "%s %s", cmds[j].verb, cmds[j].args);
		fprintf(fp, "  %-*s  %s\n", w, left, cmds[j].summary);
	}
	fprintf(fp, "\nexample:\n  %s\n\n"
	    "See '%s %s VERB --help' for a verb's options.\n",
	    first != NULL ? first->example : "", progname, object);
}

static void
help_cmd(FILE *fp, const struct cmd *c)
{
	const char *e = c->example;

	usage_line(fp, c, 1);
	fprintf(fp, "\n%c%s.\n\n"
	    "options:\n%s" COMMON_HELP "  -h, --help    this help\n\n"
	    "example%s:\n",
	    c->summary[0] >= 'a' && c->summary[0] <= 'z' ? c->summary[0] - 'a' + 'A' :
	    c->summary[0], c->summary + 1, c->options,
	    strchr(e, '\n') ? "s" : "");
	while (*e) {
		const char *nl = strchr(e, '\n');
		size_t n = nl ? (size_t)(nl - e) : strlen(e);

		fprintf(fp, "  %.*s\n", (int)n, e);
		e += n + (nl ? 1 : 0);
	}
}

static const struct cmd *
find_cmd(const char *object, const char *verb)
{
	for (size_t j = 0; j < CLD_ARRAY_SIZE(cmds); j++)
		if (strcmp(cmds[j].object, object) == 0 &&
		    strcmp(cmds[j].verb, verb) == 0)
			return &cmds[j];
	return NULL;
}

static int
known_object(const char *object)
{
	for (size_t i = 0; i < CLD_ARRAY_SIZE(objects); i++)
		if (strcmp(objects[i][0], object) == 0)
			return 1;
	return 0;
}

/*
 * Parse the verb's options (ARGV[0] is the verb).  Returns -1 to go on, or
 * the exit code to leave with.
 */
static int
parse_verb(struct ctx *ctx, int argc, char **argv)
{
	const struct cmd *c = ctx->cmd;
	char shortopts[16];
	int ch, modes = 0;

	snprintf(shortopts, sizeof(shortopts), ":h%s", c->shortopts);
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shortopts, c->opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			help_cmd(stdout, c);
			return CLD_EXIT_OK;
		case O_JSON: ctx->json = 1; break;
		case O_HOLD: ctx->hold = 1; break;
		case O_STATE: ctx->state = optarg; break;
		case O_HOST: ctx->host = optarg; break;
		case O_ALL: ctx->all_pages = 1; break;
		case O_HARD: ctx->hard = 1; break;
		case O_LIVE: ctx->live = 1; break;
		case O_RETRY: ctx->mode = "retry"; modes++; break;
		case O_SUCCESS: ctx->mode = "success"; modes++; break;
		case O_FAILURE: ctx->mode = "failure"; modes++; break;
		case O_DELETE: ctx->mode = "delete"; modes++; break;
		case O_IM: ctx->im = optarg; break;
		case O_VMM: ctx->vmm = optarg; break;
		case O_CLUSTER: ctx->cluster = optarg; break;
		case O_TM: ctx->tm = optarg; break;
		case O_NET: ctx->net = optarg; break;
		case 'd':
			if (cld_parse_double(optarg, &ctx->delay) != 0 ||
			    !(ctx->delay >= 0.01 && ctx->delay <= 86400))
				return usage_error(ctx, "invalid delay '%s': "
				    "seconds from 0.01 to 86400", optarg);
			break;
		case 'n': {
			int64_t n;

			if (cld_parse_i64(optarg, &n) != 0 || n < 0)
				return usage_error(ctx, "invalid count '%s'",
				    optarg);
			ctx->count = (long)n;
			break;
		}
		case ':':
			return usage_error(ctx, "option '%s' needs a value",
			    argv[optind - 1]);
		default:
			return usage_error(ctx, "unknown option '%s'",
			    argv[optind - 1]);
		}
	}
	if (modes > 1)
		return usage_error(ctx, "give only one of --retry, --success, "
		    "--failure, --delete");
	argc -= optind;
	if (argc < c->min)
		return usage_error(ctx, "%s %s needs %s", c->object, c->verb,
		    c->args);
	if (c->max >= 0 && argc > c->max)
		return usage_error(ctx, "too many arguments to %s %s",
		    c->object, c->verb);
	return -1;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, O_JSON},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct ctx ctx;
	struct cld_err err;
	const char *object, *verb;
	int ch, rc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.delay = 1.0;
	ctx.socket = getenv("CLOUDD_SOCKET");
	if (ctx.socket == NULL || *ctx.socket == '\0')
		ctx.socket = DEFAULT_SOCKET;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:s:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			ctx.socket = optarg;
			break;
		case O_JSON:
			ctx.json = 1;
			break;
		case 'h':
			help_main(stdout);
			return CLD_EXIT_OK;
		case 'V':
			printf("cloudctl %s\n", PACKAGE_VERSION);
			return CLD_EXIT_OK;
		case ':':
			warnx_("option '%s' needs a value", argv[optind - 1]);
			fprintf(stderr, "see '%s --help'\n", progname);
			return CLD_EXIT_USAGE;
		default:
			warnx_("unknown option '%s'", argv[optind - 1]);
			fprintf(stderr, "see '%s --help'\n", progname);
			return CLD_EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		help_main(stderr);
		return CLD_EXIT_USAGE;
	}
	object = argv[0];
	if (strcmp(object, "help") == 0) {
		help_main(stdout);
		return CLD_EXIT_OK;
	}
	if (!known_object(object)) {
		warnx_("unknown object '%s' (one of vm, host, cluster, vnet)",
		    object);
		fprintf(stderr, "see '%s --help'\n", progname);
		return CLD_EXIT_USAGE;
	}
	if (argc == 1) {
		warnx_("%s needs a verb", object);
		help_object(stderr, object);
		return CLD_EXIT_USAGE;
	}
	verb = argv[1];
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 ||
	    strcmp(verb, "help") == 0) {
		help_object(stdout, object);
		return CLD_EXIT_OK;
	}
	ctx.cmd = find_cmd(object, verb);
	if (ctx.cmd == NULL) {
		warnx_("unknown %s verb '%s'", object, verb);
		fprintf(stderr, "see '%s %s --help'\n", progname, object);
		return CLD_EXIT_USAGE;
	}
	argc--;
	argv++;
	rc = parse_verb(&ctx, argc, argv);
	if (rc >= 0)
		return rc;
	argc -= optind;
	argv += optind;

	cld_err_clear(&err);
	ctx.client = cld_client_new(ctx.socket, &err);
	if (ctx.client == NULL) {
		warnx_("%s", err.msg);
		return CLD_EXIT_UNREACHABLE;
	}
	rc = ctx.cmd->fn(&ctx, argc, argv);
	cld_client_free(ctx.client);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		warnx_("cannot write the output: %s", strerror(errno));
		rc = worse(rc, CLD_EXIT_REFUSED);
	}
	return rc;
}
