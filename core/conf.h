/*
 * cloudd.conf: the daemon's configuration, in the template language
 * (cloudd.conf(5)).  Read once at start-up on the main thread.
 */
#ifndef CLD_CONF_H
#define CLD_CONF_H

#include <cloudd/attr.h>
#include <cloudd/error.h>

/* A driver declared in cloudd.conf: VMM_DRIVER = [ NAME = ..., MODULE = ... ]. */
struct cld_driver_decl {
	int klass;                    /* enum cld_class */
	const char *name;             /* the instance name (NAME, or MODULE) */
	const char *module;           /* the module (MODULE, or NAME) */
	const struct cld_attr *block; /* the whole vector, handed to the driver */
};

struct cld_conf {
	char *path;                   /* the file read */
	struct cld_tmpl tmpl;         /* its attributes; the strings below point into it or are owned */
	char **driver_path;           /* DRIVER_PATH values, NULL-terminated, made absolute */
	char *database;               /* DATABASE, absolute */
	int db_sync;                  /* DB_SYNC: 0 normal, 1 full */
	char *listen;                 /* LISTEN: the API's Unix socket, absolute */
	int log_syslog;               /* LOG = syslog */
	int log_level;                /* LOG_LEVEL as enum cld_log_level */
	const char *ssh_command;      /* SSH = [ COMMAND, CONFIG, CONNECT_TIMEOUT, */
	char *ssh_config;             /*   CONTROL_PATH, CONTROL_PERSIST ] */
	int ssh_connect_timeout;
	char *ssh_control_dir;        /* absolute; default: LISTEN's directory/cloudd-ssh */
	int ssh_control_dir_default;  /* not set in the file */
	int ssh_control_persist;      /* seconds, 0: no connection reuse */
	struct cld_driver_decl *drivers;
	size_t ndrivers;

	/* The daemon's settings (cloudd.conf(5) has their defaults). */
	char *pidfile;                /* PIDFILE, absolute */
	char *log_dir;                /* LOG_DIR: one log file per VM */
	char *vm_dir;                 /* VM_DIR: stopped VMs' disks on the front-end */
	const char *datastore;        /* DATASTORE: VM directories on the hosts */
	const char *default_tm;       /* DEFAULT_TM, DEFAULT_NET: the default cluster's */
	const char *default_net;
	int64_t monitor_interval_ms;  /* MONITOR_INTERVAL */
	int64_t timeout_ms[6];        /* TIMEOUT = [ PROLOG, BOOT, SHUTDOWN, EPILOG, MIGRATE, MONITOR ] */
	int workers;                  /* WORKERS */
	int api_threads;              /* API_THREADS */
	const char *sched_policy;     /* SCHED = [ POLICY, INTERVAL, MAX_DISPATCH, MAX_HOST ] */
	int64_t sched_interval_ms;
	int64_t sched_max_dispatch;
	int64_t sched_max_host;
	char mac_prefix[6];           /* MAC_PREFIX, "xx:xx", lower case */
};

/* The order of cld_conf.timeout_ms. */
enum { CLD_TO_PROLOG, CLD_TO_BOOT, CLD_TO_SHUTDOWN, CLD_TO_EPILOG,
	CLD_TO_MIGRATE, CLD_TO_MONITOR, CLD_TO_COUNT };
extern const char *const cld_timeout_names[CLD_TO_COUNT];

/*
 * Read PATH into C (zeroed by the caller).  Relative paths in the file are
 * taken relative to the file's directory.  Returns 0, or -1 with err naming
 * the file, the line and the setting.  C is released on failure.
 */
int cld_conf_load(const char *path, struct cld_conf *c, struct cld_err *err);

/* Free what cld_conf_load made.  NULL-safe; C may be loaded again. */
void cld_conf_release(struct cld_conf *c);

/* The default configuration file. */
#define CLD_CONF_DEFAULT CLD_SYSCONFDIR "/cloudd/cloudd.conf"

#endif /* CLD_CONF_H */
