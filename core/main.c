/*
 * cloudd: the front-end daemon.
 *
 * This version checks a configuration and its drivers (-n) and runs one
 * monitoring round of hosts through their im drivers into the store (-P).
 * The lease loop, the API and the scheduler come with the lease pipeline.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "loader.h"
#include "log.h"
#include "services.h"
#include "store.h"
#include "template.h"
#include "util.h"

/* Exit codes, documented in cloudd(8). */
enum {
	EXIT_OK = 0,
	EXIT_CONFIG = 1,   /* bad configuration or a driver refused */
	EXIT_USAGE = 2,
	EXIT_STORE = 3,    /* the database cannot be used */
	EXIT_PROBE = 4,    /* a host could not be monitored */
};

#define PROBE_TIMEOUT_MS 30000

static _Noreturn void
usage(int status)
{
	FILE *f = status == EXIT_OK ? stdout : stderr;

	fprintf(f,
	    "usage: cloudd [-v] [-f file] -n\n"
	    "       cloudd [-v] [-f file] -P host:im [-P host:im ...]\n"
	    "\n"
	    "  -f file      the configuration (default %s)\n"
	    "  -n           check the configuration, load and initialise every driver,\n"
	    "               print them, and exit\n"
	    "  -P host:im   monitor HOST once through im driver instance IM, record it\n"
	    "               in the database and print the host table (repeatable)\n"
	    "  -v           more log lines (repeatable)\n"
	    "  -h           this help\n",
	    CLD_CONF_DEFAULT);
	exit(status);
}

/* Load every declared driver; returns how many were refused (each logged). */
static int
load_all(const struct cld_conf *conf, struct cld_loader *l)
{
	int refused = 0;

	for (size_t i = 0; i < conf->ndrivers; i++) {
		const struct cld_driver_decl *d = &conf->drivers[i];
		struct cld_err err;

		cld_err_clear(&err);
		if (cld_loader_load(l, d->klass, d->module, d->name, d->block,
		    &err) == NULL) {
			cld_log(CLD_LOG_ERR, "%s", err.msg);
			refused++;
		}
	}
	return refused;
}

static void
print_drivers(struct cld_loader *l)
{
	printf("%-5s %-16s %-12s %-10s %-5s %s\n", "CLASS", "NAME", "MODULE",
	    "VERSION", "ABI", "FILE");
	for (struct cld_driver_inst *i = cld_loader_first(l); i != NULL;
	    i = i->next)
		printf("%-5s %-16s %-12s %-10s %u.%-3u %s\n",
		    cld_class_name(i->klass), i->name, i->module,
		    i->table->version ? i->table->version : "-",
		    i->table->abi_major, i->table->abi_minor, i->path);
}

struct host_probe {
	char *name;
	struct cld_driver_inst *im;
	int64_t id;
	struct cld_tmpl report;
	int ok;
	char error[CLD_ERR_MSG_MAX];
};

struct find_ctx {
	const char *name;
	int64_t id;
};

static int
find_host(void *ctx, const struct cld_row *row)
{
	struct find_ctx *f = ctx;

	if (strcmp(row->name, f->name) != 0)
		return 0;
	f->id = row->id;
	return 1;
}

/* A KiB figure the way host tables show it: 15.6G, 512M. */
static void
fmt_kib(char *buf, size_t len, double kib)
{
	if (kib >= 1024.0 * 1024.0)
		snprintf(buf, len, "%.1fG", kib / (1024.0 * 1024.0));
	else if (kib >= 1024.0)
		snprintf(buf, len, "%.1fM", kib / 1024.0);
	else
		snprintf(buf, len, "%.0fK", kib);
}

static double
report_num(const struct cld_tmpl *t, const char *name)
{
	double v = 0;

	return cld_tmpl_get_num(t, name, &v) == 0 ? v : 0;
}

static void
print_hosts(struct host_probe *h, size_t n)
{
	printf("%4s %-12s %-8s %4s %6s %6s %6s %8s %8s %8s %-5s\n", "ID",
	    "NAME", "CLUSTER", "RVM", "TCPU", "FCPU", "ACPU", "TMEM", "FMEM",
	    "AMEM", "STAT");
	for (size_t i = 0; i < n; i++) {
		char tmem[32], fmem[32], amem[32];
		double tcpu = report_num(&h[i].report, "TOTALCPU");
		double ucpu = report_num(&h[i].report, "USEDCPU");
		double tm = report_num(&h[i].report, "TOTALMEMORY");
		double fm = report_num(&h[i].report, "FREEMEMORY");
		size_t rvm = 0;
		const struct cld_attr *vm = NULL;

		while ((vm = cld_tmpl_next_vector(&h[i].report, "VM", vm)))
			rvm++;
		fmt_kib(tmem, sizeof(tmem), tm);
		fmt_kib(fmem, sizeof(fmem), fm);
		/* No leases yet: nothing is allocated, so AMEM = TMEM. */
		fmt_kib(amem, sizeof(amem), tm);
		printf("%4" PRId64 " %-12s %-8s %4zu %6.0f %6.0f %6.0f %8s %8s %8s %-5s\n",
		    h[i].id, h[i].name, "default", rvm, tcpu, tcpu - ucpu,
		    tcpu, tmem, fmem, amem, h[i].ok ? "on" : "err");
	}
}

/* -P: one monitoring round of each host, recorded in the store. */
static int
probe(const struct cld_conf *conf, struct cld_loader *l, char **specs,
    size_t nspecs)
{
	struct host_probe *h = cld_xcalloc(nspecs, sizeof(*h));
	struct cld_store *st = NULL;
	struct cld_err err;
	int rc = EXIT_PROBE, failed = 0;
	int64_t next_id;

	cld_err_clear(&err);
	for (size_t i = 0; i < nspecs; i++) {
		char *colon = strrchr(specs[i], ':');

		if (colon == NULL || colon == specs[i] || colon[1] == '\0') {
			cld_log(CLD_LOG_ERR,
			    "-P '%s': expected HOST:IM, as in node1:dummy",
			    specs[i]);
			rc = EXIT_USAGE;
			goto cleanup;
		}
		h[i].name = cld_xstrndup(specs[i], (size_t)(colon - specs[i]));
		if (!cld_host_name_valid(h[i].name)) {
			cld_log(CLD_LOG_ERR, "-P '%s': invalid host name '%s'",
			    specs[i], h[i].name);
			rc = EXIT_USAGE;
			goto cleanup;
		}
		h[i].im = cld_loader_find(l, CLD_CLASS_IM, colon + 1);
		if (h[i].im == NULL) {
			cld_log(CLD_LOG_ERR,
			    "-P '%s': no im driver '%s' is loaded (see cloudd -n)",
			    specs[i], colon + 1);
			rc = EXIT_CONFIG;
			goto cleanup;
		}
	}
	st = cld_store_open(conf->database, conf->db_sync ? CLD_SYNC_FULL :
	    CLD_SYNC_NORMAL, &err);
	if (st == NULL) {
		cld_log(CLD_LOG_ERR, "%s", err.msg);
		rc = EXIT_STORE;
		goto cleanup;
	}
	next_id = cld_store_max_id(st, CLD_T_HOSTS) + 1;
	for (size_t i = 0; i < nspecs; i++) {
		struct cld_op op;
		struct cld_op_ctl ctl;
		char *report = NULL;

		cld_op_setup(&op, &h[i].im->drv, &ctl, &err, PROBE_TIMEOUT_MS);
		if (cld_inst_im(h[i].im)->monitor(&op, h[i].name, 0,
		    &report) == 0 &&
		    cld_tmpl_parse(report, strlen(report), &h[i].report,
		    &err) == 0)
			h[i].ok = 1;
		else {
			snprintf(h[i].error, sizeof(h[i].error), "%s", err.msg);
			cld_log(CLD_LOG_ERR, "host '%s': %s", h[i].name,
			    err.msg);
			failed++;
		}
		cld_op_ctl_release(&ctl);
		free(report);
	}
	if (cld_store_begin(st, &err) < 0)
		goto store_failed;
	for (size_t i = 0; i < nspecs; i++) {
		struct find_ctx f = { h[i].name, -1 };
		struct cld_row row;
		char *body;

		if (cld_store_load(st, CLD_T_HOSTS, find_host, &f, &err) < 0)
			goto store_failed;
		h[i].id = f.id >= 0 ? f.id : next_id++;
		body = h[i].ok ? cld_tmpl_print(&h[i].report) :
		    cld_xasprintf("ERROR = \"%s\"\n", h[i].error);
		memset(&row, 0, sizeof(row));
		row.id = h[i].id;
		row.name = h[i].name;
		row.uid = 0;
		row.gid = 0;
		row.state = h[i].ok ? 1 : 2;
		row.ref = -1;
		row.mtime = cld_time();
		row.body = body;
		if (cld_store_put(st, CLD_T_HOSTS, &row, &err) < 0) {
			free(body);
			goto store_failed;
		}
		free(body);
	}
	if (cld_store_commit(st, &err) < 0)
		goto store_failed;
	print_hosts(h, nspecs);
	rc = failed ? EXIT_PROBE : EXIT_OK;
	goto cleanup;
store_failed:
	cld_log(CLD_LOG_ERR, "%s", err.msg);
	cld_store_rollback(st);
	rc = EXIT_STORE;
cleanup:
	cld_store_close(st);
	for (size_t i = 0; i < nspecs; i++) {
		free(h[i].name);
		cld_tmpl_release(&h[i].report);
	}
	free(h);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *conf_path = CLD_CONF_DEFAULT;
	struct cld_conf conf;
	struct cld_loader *l = NULL;
	struct cld_ssh_conf ssh;
	struct cld_err err;
	char **probes = NULL;
	size_t nprobes = 0;
	int check = 0, verbose = 0, ch, refused, rc = EXIT_CONFIG;

	memset(&conf, 0, sizeof(conf));
	cld_err_clear(&err);
	cld_log_init("cloudd", 0, CLD_LOG_INFO);
	while ((ch = getopt(argc, argv, "f:hnP:v")) != -1) {
		switch (ch) {
		case 'f':
			conf_path = optarg;
			break;
		case 'h':
			usage(EXIT_OK);
		case 'n':
			check = 1;
			break;
		case 'P':
			probes = cld_xrealloc(probes,
			    (nprobes + 1) * sizeof(*probes));
			probes[nprobes++] = optarg;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage(EXIT_USAGE);
		}
	}
	if (optind != argc || (!check && nprobes == 0) || (check && nprobes)) {
		if (!check && nprobes == 0 && optind == argc)
			cld_log(CLD_LOG_ERR,
			    "the daemon loop is not in this version yet: use -n or -P");
		usage(EXIT_USAGE);
	}
	if (cld_conf_load(conf_path, &conf, &err) < 0) {
		cld_log(CLD_LOG_ERR, "%s", err.msg);
		goto cleanup;
	}
	cld_log_set_verbosity(verbose ? CLD_LOG_INFO + verbose :
	    conf.log_level);
	ssh.command = conf.ssh_command;
	ssh.config = conf.ssh_config;
	ssh.connect_timeout = conf.ssh_connect_timeout;
	cld_services_set_ssh(&ssh);

	l = cld_loader_new((const char *const *)conf.driver_path, &err);
	if (l == NULL) {
		cld_log(CLD_LOG_ERR, "%s", err.msg);
		goto cleanup;
	}
	refused = load_all(&conf, l);
	if (check) {
		print_drivers(l);
		if (refused) {
			printf("configuration '%s' has errors: %d of %zu drivers refused\n",
			    conf.path, refused, conf.ndrivers);
			goto cleanup;
		}
		printf("configuration '%s' is valid: %zu drivers\n", conf.path,
		    conf.ndrivers);
		rc = EXIT_OK;
		goto cleanup;
	}
	rc = probe(&conf, l, probes, nprobes);
cleanup:
	cld_loader_free(l);
	cld_conf_release(&conf);
	free(probes);
	return rc;
}
