/*
 * The services the core lends its drivers (struct cld_services), and the
 * core's side of an operation in flight: its deadline, cancel flag and
 * progress.
 */
#ifndef CLD_SERVICES_H
#define CLD_SERVICES_H

#include <pthread.h>
#include <stdatomic.h>

#include <cloudd/driver.h>

/* The core's state for one operation; struct cld_op.core points to it. */
struct cld_op_ctl {
	atomic_int cancelled;
	atomic_int percent;          /* last progress report, -1 before any */
	pthread_mutex_t lock;        /* guards what */
	char what[128];              /* last progress text */
};

/* How svc->ssh reaches hosts; set once at start-up, before any operation. */
struct cld_ssh_conf {
	const char *command;         /* the ssh program; default "ssh" */
	const char *config;          /* an ssh_config file (-F), or NULL */
	int connect_timeout;         /* seconds; default 10 */
	/*
	 * Connection reuse (OpenSSH ControlMaster): the private directory of
	 * the control sockets, and how long an idle master connection stays.
	 * NULL or 0: every call opens its own connection.
	 */
	const char *control_dir;
	int control_persist;         /* seconds */
};

/*
 * The longest control directory: a socket path is at most 107 bytes, and
 * ssh adds "/" and %C (40) and, while it binds, a 17-byte suffix.
 */
#define CLD_SSH_CONTROL_DIR_MAX 49

/* The one table given to every driver instance.  Valid for the process's life. */
extern const struct cld_services cld_services;

/* Set how svc->ssh runs ssh.  Main thread, before drivers run.  Copies nothing: CONF must stay valid. */
void cld_services_set_ssh(const struct cld_ssh_conf *conf);

/*
 * Make DIR the private directory of ssh's control sockets: created with
 * mode 0700 if missing (its parent must exist), made 0700 if it is ours,
 * refused if it is not a directory, is owned by another user or is longer
 * than CLD_SSH_CONTROL_DIR_MAX.  Returns 0, or -1 with ERR.  Blocks briefly.
 */
int cld_ssh_control_dir_make(const char *dir, struct cld_err *err);

/*
 * Make OP ready to run on DRV with TIMEOUT_MS from now (<= 0: no deadline),
 * reporting into ERR, controlled by CTL.  Release CTL with cld_op_ctl_release.
 */
void cld_op_setup(struct cld_op *op, struct cld_drv *drv, struct cld_op_ctl *ctl,
    struct cld_err *err, int64_t timeout_ms);
void cld_op_ctl_release(struct cld_op_ctl *ctl);
/* Ask the operation to stop.  Any thread. */
void cld_op_cancel(struct cld_op_ctl *ctl);

/*
 * The audited quoting helper behind svc->shell_quote: the words of ARGV
 * (NULL-terminated) as one string a POSIX shell splits back into exactly
 * those words, with nothing expanded.  Returns a malloc()ed string.
 */
char *cld_shell_quote(const char *const *argv);

/* Non-zero when NAME may be used as a host name on an ssh command line. */
int cld_host_name_valid(const char *name);

#endif /* CLD_SERVICES_H */
