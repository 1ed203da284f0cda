/*
 * tm-run: one operation of tm/ssh or tm/shared, linked in, with the core's
 * real services (svc->run, svc->ssh), for the tm tests on the testbed.
 *
 *   tm-run -d ssh|shared [-F ssh_config] [-c control_dir] [-T deadline_ms]
 *          [-o NAME=VALUE]... OP ARG...
 *
 *   clone SRC HOST DST          link SRC HOST DST
 *   mkimage HOST DST MB FSTYPE  mkswap HOST DST MB
 *   mv SRCHOST SRC DSTHOST DST  (a host "-" is the front-end; -l: live)
 *   delete HOST PATH
 *
 * -F is both the core's SSH CONFIG and the driver's SSH_CONFIG.  Prints
 * "ok" and the last progress, or "tm-run: ECODE: message" with status 1.
 * -P also prints each progress report as it changes, on standard error
 * ("progress N 'what'"), sampled every 50 ms.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cloudd/attr.h>
#include <cloudd/driver.h>

#include "loader.h"
#include "services.h"
#include "util.h"

extern const struct cld_tm_driver CLD_DRIVER_ENTRY(tm_ssh);
extern const struct cld_tm_driver CLD_DRIVER_ENTRY(tm_shared);

static const char *const code_names[] = {
	"OK", "EINVAL", "ENOENT", "EEXIST", "ENOTSUP", "ETIMEDOUT", "ECANCELED",
	"EDRIVER", "EIO", "ESTORE", "ECONFIG", "EABI", "EPERM", "EBUSY", "ENOSPC",
};

#define MAX_OPTS 16

/* -P: print the operation's progress as it changes, until stop is set. */
struct watch {
	struct cld_op_ctl *ctl;
	atomic_int stop;
};

static void *
watch_main(void *arg)
{
	struct watch *w = arg;
	char what[sizeof(w->ctl->what)], last[sizeof(w->ctl->what)] = "";
	int pct, lastpct = -2;

	while (!atomic_load(&w->stop)) {
		pct = atomic_load(&w->ctl->percent);
		pthread_mutex_lock(&w->ctl->lock);
		memcpy(what, w->ctl->what, sizeof(what));
		pthread_mutex_unlock(&w->ctl->lock);
		if (pct != lastpct || strcmp(what, last) != 0) {
			fprintf(stderr, "progress %d '%s'\n", pct, what);
			lastpct = pct;
			memcpy(last, what, sizeof(last));
		}
		usleep(50000);
	}
	return NULL;
}

static const char *
host_arg(const char *s)
{
	return strcmp(s, "-") == 0 ? NULL : s;
}

int
main(int argc, char **argv)
{
	struct cld_ssh_conf sc = { "ssh", NULL, 10, NULL, 0 };
	static struct cld_driver_inst inst;
	struct cld_attr opts[MAX_OPTS + 1], conf;
	const struct cld_tm_driver *tm = NULL;
	struct cld_vm_desc vm;
	struct cld_op_ctl ctl;
	struct cld_op op;
	struct cld_err err;
	int64_t deadline = 0, t0;
	size_t nopts = 0;
	struct watch watch;
	pthread_t watcher;
	int ch, rc = -1, live = 0, nargs, progress = 0;
	char **a;
	const char *o;
	char *optarg_config = NULL;

	memset(opts, 0, sizeof(opts));
	while ((ch = getopt(argc, argv, "+d:F:c:T:o:lP")) != -1) {
		switch (ch) {
		case 'd':
			if (strcmp(optarg, "ssh") == 0)
				tm = &CLD_DRIVER_ENTRY(tm_ssh);
			else if (strcmp(optarg, "shared") == 0)
				tm = &CLD_DRIVER_ENTRY(tm_shared);
			else
				goto usage;
			break;
		case 'F':
			sc.config = optarg;
			optarg_config = optarg;
			break;
		case 'c':
			sc.control_dir = optarg;
			sc.control_persist = 60;
			break;
		case 'T':
			deadline = atoll(optarg);
			break;
		case 'o':
			if (nopts == MAX_OPTS || strchr(optarg, '=') == NULL)
				goto usage;
			opts[nopts].name = cld_xstrndup(optarg,
			    (size_t)(strchr(optarg, '=') - optarg));
			opts[nopts].value = strchr(optarg, '=') + 1;
			nopts++;
			break;
		case 'l':
			live = 1;
			break;
		case 'P':
			progress = 1;
			break;
		default:
			goto usage;
		}
	}
	if (tm == NULL || optind >= argc)
		goto usage;
	if (sc.config != NULL) {
		opts[nopts].name = cld_xstrdup("SSH_CONFIG");
		opts[nopts].value = optarg_config;
		nopts++;
	}
	if (sc.control_dir != NULL &&
	    cld_ssh_control_dir_make(sc.control_dir, &err) < 0) {
		fprintf(stderr, "tm-run: %s\n", err.msg);
		return 1;
	}
	cld_services_set_ssh(&sc);
	memset(&conf, 0, sizeof(conf));
	conf.name = (char *)"TM_DRIVER";
	conf.sub = opts;
	conf.nsub = nopts;
	inst.drv.svc = &cld_services;
	inst.drv.name = tm->hdr.name;
	inst.drv.module = tm->hdr.name;
	inst.drv.conf = &conf;
	inst.klass = CLD_CLASS_TM;
	cld_err_clear(&err);
	if (tm->hdr.init(&inst.drv, &err) < 0) {
		fprintf(stderr, "tm-run: init: %s\n", err.msg);
		goto cleanup;
	}
	memset(&vm, 0, sizeof(vm));
	vm.size = sizeof(vm);
	vm.id = 1;
	vm.name = "cld-1";
	a = argv + optind + 1;
	nargs = argc - optind - 1;
	o = argv[optind];
	cld_op_setup(&op, &inst.drv, &ctl, &err, deadline);
	watch.ctl = &ctl;
	atomic_init(&watch.stop, 0);
	if (progress && pthread_create(&watcher, NULL, watch_main, &watch) != 0)
		progress = 0;
	t0 = cld_now_ms();
	if (strcmp(o, "clone") == 0 && nargs == 3)
		rc = tm->clone(&op, &vm, a[0], a[1], a[2], 0);
	else if (strcmp(o, "link") == 0 && nargs == 3)
		rc = tm->link ? tm->link(&op, &vm, a[0], a[1], a[2], 0) :
		    (cld_err_set(&err, CLD_ENOTSUP, "no link"), -1);
	else if (strcmp(o, "mkimage") == 0 && nargs == 4)
		rc = tm->mkimage(&op, &vm, a[0], a[1], strtoull(a[2], NULL, 10),
		    a[3], 0);
	else if (strcmp(o, "mkswap") == 0 && nargs == 3)
		rc = tm->mkswap(&op, &vm, a[0], a[1], strtoull(a[2], NULL, 10), 0);
	else if (strcmp(o, "mv") == 0 && nargs == 4)
		rc = tm->mv(&op, &vm, host_arg(a[0]), a[1], host_arg(a[2]), a[3],
		    live ? CLD_TM_MOVE_LIVE : 0);
	else if (strcmp(o, "delete") == 0 && nargs == 2)
		rc = tm->delete(&op, &vm, a[0], a[1], 0);
	else {
		if (progress) {
			atomic_store(&watch.stop, 1);
			pthread_join(watcher, NULL);
		}
		cld_op_ctl_release(&ctl);
		tm->hdr.fini(&inst.drv);
		goto usage;
	}
	if (progress) {
		atomic_store(&watch.stop, 1);
		pthread_join(watcher, NULL);
	}
	if (rc == 0)
		printf("ok %lld ms, progress %d '%s'\n",
		    (long long)(cld_now_ms() - t0), atomic_load(&ctl.percent), ctl.what);
	else
		fprintf(stderr, "tm-run: %s: %s\n",
		    err.code >= 0 && (size_t)err.code < CLD_ARRAY_SIZE(code_names) ?
		    code_names[err.code] : "?", err.msg);
	cld_op_ctl_release(&ctl);
	tm->hdr.fini(&inst.drv);
cleanup:
	for (size_t i = 0; i < nopts; i++)
		free(opts[i].name);
	return rc < 0 ? 1 : 0;
usage:
	for (size_t i = 0; i < nopts; i++)
		free(opts[i].name);
	fprintf(stderr, "usage: tm-run -d ssh|shared [-F ssh_config] [-c control_dir] "
	    "[-T deadline_ms] [-o NAME=VALUE]... [-l] [-P] OP ARG...\n");
	return 2;
}
