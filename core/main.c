/*
 * cloudd: the front-end daemon.  Its command line, start-up and exit; the
 * work is done in loop.c and the files it calls.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "core.h"
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
};


static _Noreturn void
usage(int status)
{
	FILE *f = status == EXIT_OK ? stdout : stderr;

	fprintf(f,
	    "usage: cloudd [-dv] [-f file]\n"
	    "       cloudd [-v] [-f file] -n\n"
	    "\n"
	    "  -d           stay in the foreground (default: become a daemon once\n"
	    "               the API is listening)\n"
	    "  -f file      the configuration (default %s)\n"
	    "  -n           check the configuration, load and initialise every driver,\n"
	    "               print them, and exit\n"
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

/* mkdir -p PATH (mode 0750 for what it creates). */
static int
mkdirs(const char *path, struct cld_err *err)
{
	char *p = cld_xstrdup(path);
	int rc = 0;

	for (char *s = p + 1; ; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(p, 0750) < 0 && errno != EEXIST) {
			cld_err_sys(err, CLD_EIO, errno, "cannot create '%s'", p);
			rc = -1;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

/* The first loaded instance of class KLASS, for the default cluster. */
static const char *
first_instance(struct cld_loader *l, int klass)
{
	for (struct cld_driver_inst *i = cld_loader_first(l); i; i = i->next)
		if (i->klass == klass)
			return i->name;
	return "";
}

/* -v given: it wins over LOG_LEVEL, also after a reload. */
static int verbose_level = -1;

/* Settings that SIGHUP may change (drivers and paths need a restart). */
static void
apply_settings(struct cld_core *c, const struct cld_conf *from)
{
	c->monitor_interval_ms = from->monitor_interval_ms;
	c->sched_interval_ms = from->sched_interval_ms;
	c->limits.max_dispatch = (size_t)from->sched_max_dispatch;
	c->limits.max_host = (size_t)from->sched_max_host;
	cld_sched_set_policy(c->sched,
	    cld_sched_policy_from_name(from->sched_policy));
	if (c->conf != from) {
		memcpy(c->conf->timeout_ms, from->timeout_ms,
		    sizeof(c->conf->timeout_ms));
		c->conf->monitor_interval_ms = from->monitor_interval_ms;
		memcpy(c->conf->mac_prefix, from->mac_prefix,
		    sizeof(c->conf->mac_prefix));
	}
	cld_log_set_verbosity(verbose_level >= 0 ? verbose_level :
	    from->log_level);
}

int
cld_core_reload(struct cld_core *c)
{
	struct cld_conf fresh;
	struct cld_err err;

	cld_err_clear(&err);
	if (cld_conf_load(c->conf->path, &fresh, &err) < 0) {
		log_warnx("reload: %s: keeping the running configuration",
		    err.msg);
		return -1;
	}
	apply_settings(c, &fresh);
	cld_conf_release(&fresh);
	log_info("reloaded '%s' (drivers, paths and LISTEN need a restart)",
	    c->conf->path);
	return 0;
}

static int
write_pidfile(const char *path)
{
	char buf[32];
	int fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_warn("cannot open pidfile '%s'", path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		log_warnx("pidfile '%s' is locked: is another cloudd running?",
		    path);
		close(fd);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || write(fd, buf, (size_t)n) != n) {
		log_warn("cannot write pidfile '%s'", path);
		close(fd);
		return -1;
	}
	return fd;     /* kept open: the lock lives as long as we do */
}

/*
 * Become a daemon: the parent waits until the child says the API is up (or
 * that it failed), so that "cloudd && cloudctl ..." works.  Returns in the
 * child with *ready_fd to write to; the parent exits.
 */
static void
daemonize(int *ready_fd)
{
	int p[2], status, fd;
	pid_t pid;
	char ok = 'n';

	if (pipe(p) < 0)
		fatal("pipe");
	pid = fork();
	if (pid < 0)
		fatal("fork");
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &ok, 1) == 1 && ok == 'y')
			_exit(EXIT_OK);
		/* The child failed and said why on stderr; pass its status on. */
		if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) != 0)
			_exit(WEXITSTATUS(status));
		_exit(EXIT_CONFIG);
	}
	close(p[0]);
	if (setsid() < 0)
		fatal("setsid");
	if (chdir("/") < 0)
		fatal("chdir /");
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
	*ready_fd = p[1];
}

static int
run_daemon(struct cld_conf *conf, struct cld_loader *l, int foreground)
{
	struct cld_core c;
	struct cld_err err;
	sigset_t set;
	int rc = EXIT_CONFIG, pidfd = -1;

	memset(&c, 0, sizeof(c));
	cld_err_clear(&err);
	c.ready_fd = -1;
	c.conf = conf;
	c.loader = l;
	c.datastore = cld_xstrdup(conf->datastore);
	c.vm_dir = cld_xstrdup(conf->vm_dir);
	c.log_dir = cld_xstrdup(conf->log_dir);
	if (mkdirs(conf->log_dir, &err) < 0 || mkdirs(conf->vm_dir, &err) < 0 ||
	    (conf->ssh_control_persist > 0 &&
	    cld_ssh_control_dir_make(conf->ssh_control_dir, &err) < 0)) {
		cld_log(CLD_LOG_ERR, "%s", err.msg);
		goto cleanup;
	}
	/* Blocked in every thread; the loop reads them from a signalfd. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!foreground)
		daemonize(&c.ready_fd);
	if (conf->pidfile != NULL && (pidfd = write_pidfile(conf->pidfile)) < 0)
		goto cleanup;

	c.store = cld_store_open(conf->database, conf->db_sync ?
	    CLD_SYNC_FULL : CLD_SYNC_NORMAL, &err);
	if (c.store == NULL) {
		cld_log(CLD_LOG_ERR, "%s", err.msg);
		rc = EXIT_STORE;
		goto cleanup;
	}
	c.sched = cld_sched_new(cld_sched_policy_from_name(conf->sched_policy));
	apply_settings(&c, conf);
	if (cld_core_load(&c, &err) < 0) {
		cld_log(CLD_LOG_ERR, "cannot load '%s': %s", conf->database,
		    err.msg);
		rc = EXIT_STORE;
		goto cleanup;
	}
	if (cld_cluster_by_id(&c, 0) == NULL) {
		struct cld_cluster *cl = cld_cluster_create(&c, "default",
		    conf->default_tm ? conf->default_tm :
		    first_instance(l, CLD_CLASS_TM), conf->default_net ?
		    conf->default_net : first_instance(l, CLD_CLASS_NET), &err);

		if (cl == NULL) {
			cld_log(CLD_LOG_ERR, "the default cluster: %s", err.msg);
			goto cleanup;
		}
	}
	for (size_t i = 0; i < c.hosts_cap; i++)
		if (c.hosts[i] != NULL)
			cld_host_sched_update(&c, c.hosts[i]);
	{
		size_t nhosts = 0;

		for (size_t i = 0; i < c.hosts_cap; i++)
			nhosts += c.hosts[i] != NULL;
		log_info("started: %zu VMs, %zu hosts, database '%s'",
		    c.nvms_live, nhosts, conf->database);
	}
	rc = cld_core_run(&c) == 0 ? EXIT_OK : EXIT_CONFIG;
cleanup:
	if (c.ready_fd >= 0)
		close(c.ready_fd);
	for (size_t i = 0; i < c.vms_cap; i++)
		cld_vm_free(c.vms[i]);
	free(c.vms);
	for (size_t i = 0; i < c.hosts_cap; i++)
		cld_host_free(c.hosts[i]);
	free(c.hosts);
	for (size_t i = 0; i < c.clusters_cap; i++)
		cld_cluster_free(c.clusters[i]);
	free(c.clusters);
	for (size_t i = 0; i < c.vnets_cap; i++)
		cld_vnet_free(c.vnets[i]);
	free(c.vnets);
	free(c.dirty_leases);
	free(c.dels);
	for (size_t i = 0; i < c.nold_hists; i++)
		free(c.old_hists[i].msg);
	free(c.old_hists);
	free(c.inflight);
	free(c.datastore);
	free(c.vm_dir);
	free(c.log_dir);
	cld_sched_free(c.sched);
	cld_store_close(c.store);
	if (pidfd >= 0) {
		unlink(conf->pidfile);
		close(pidfd);
	}
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
	int check = 0, verbose = 0, foreground = 0, ch, refused;
	int rc = EXIT_CONFIG;

	memset(&conf, 0, sizeof(conf));
	cld_err_clear(&err);
	cld_log_init("cloudd", 0, CLD_LOG_INFO);
	while ((ch = getopt(argc, argv, "df:hnv")) != -1) {
		switch (ch) {
		case 'd':
			foreground = 1;
			break;
		case 'f':
			conf_path = optarg;
			break;
		case 'h':
			usage(EXIT_OK);
		case 'n':
			check = 1;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage(EXIT_USAGE);
		}
	}
	if (optind != argc || (foreground && check))
		usage(EXIT_USAGE);
	if (cld_conf_load(conf_path, &conf, &err) < 0) {
		cld_log(CLD_LOG_ERR, "%s", err.msg);
		goto cleanup;
	}
	if (verbose) {
		conf.log_level = CLD_LOG_INFO + verbose;
		if (conf.log_level > CLD_LOG_DEBUG)
			conf.log_level = CLD_LOG_DEBUG;
		verbose_level = conf.log_level;
	}
	if (!check && conf.log_syslog)
		cld_log_init("cloudd", 1, conf.log_level);
	cld_log_set_verbosity(conf.log_level);
	ssh.command = conf.ssh_command;
	ssh.config = conf.ssh_config;
	ssh.connect_timeout = conf.ssh_connect_timeout;
	if (conf.ssh_control_persist > 0 &&
	    strlen(conf.ssh_control_dir) > CLD_SSH_CONTROL_DIR_MAX) {
		/* Only the default can be too long: the file's is refused. */
		log_warnx("ssh connection reuse is off: '%s' is longer than %d characters; set SSH = [ CONTROL_PATH = ... ]",
		    conf.ssh_control_dir, CLD_SSH_CONTROL_DIR_MAX);
		conf.ssh_control_persist = 0;
	}
	ssh.control_dir = conf.ssh_control_dir;
	ssh.control_persist = conf.ssh_control_persist;
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
	rc = run_daemon(&conf, l, foreground);
cleanup:
	cld_loader_free(l);
	cld_conf_release(&conf);
	return rc;
}
