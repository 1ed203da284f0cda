/* cloudd.conf: read, check and resolve the daemon's configuration. */
#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "loader.h"
#include "services.h"
#include "template.h"
#include "util.h"
#include "vnet.h"

/* The settings cloudd.conf may hold: anything else is a typo to report. */
static const struct {
	const char *name;
	int vector;        /* 1: must be a vector; 0: must be single */
	int repeat;        /* may appear more than once */
} settings[] = {
	{ "DRIVER_PATH", 0, 1 },
	{ "DATABASE", 0, 0 },
	{ "DB_SYNC", 0, 0 },
	{ "LISTEN", 0, 0 },
	{ "LOG", 0, 0 },
	{ "LOG_LEVEL", 0, 0 },
	{ "SSH", 1, 0 },
	{ "VMM_DRIVER", 1, 1 },
	{ "IM_DRIVER", 1, 1 },
	{ "TM_DRIVER", 1, 1 },
	{ "NET_DRIVER", 1, 1 },
	{ "PIDFILE", 0, 0 },
	{ "LOG_DIR", 0, 0 },
	{ "VM_DIR", 0, 0 },
	{ "DATASTORE", 0, 0 },
	{ "DEFAULT_TM", 0, 0 },
	{ "DEFAULT_NET", 0, 0 },
	{ "MONITOR_INTERVAL", 0, 0 },
	{ "TIMEOUT", 1, 0 },
	{ "WORKERS", 0, 0 },
	{ "API_THREADS", 0, 0 },
	{ "SCHED", 1, 0 },
	{ "MAC_PREFIX", 0, 0 },
};

const char *const cld_timeout_names[CLD_TO_COUNT] = {
	"PROLOG", "BOOT", "SHUTDOWN", "EPILOG", "MIGRATE", "MONITOR",
};

/* Defaults of TIMEOUT, in seconds. */
static const char *const cld_timeout_names_z[] = {
	"PROLOG", "BOOT", "SHUTDOWN", "EPILOG", "MIGRATE", "MONITOR", NULL,
};

static const int64_t timeout_defaults[CLD_TO_COUNT] = { 900, 300, 120, 900, 900, 30 };

static const char *const log_levels[] = { "error", "warning", "info", "debug" };

/* PATH made absolute against DIR. */
static char *
resolve(const char *dir, const char *path)
{
	if (path[0] == '/')
		return cld_xstrdup(path);
	return cld_xasprintf("%s/%s", dir, path);
}

static int
conf_error(struct cld_conf *c, struct cld_err *err, const struct cld_attr *a,
    const char *what)
{
	if (a != NULL && a->line > 0)
		cld_err_set(err, CLD_ECONFIG, "'%s': line %u, column %u: %s",
		    c->path, a->line, a->column, what);
	else
		cld_err_set(err, CLD_ECONFIG, "'%s': %s", c->path, what);
	return -1;
}

static int
check_settings(struct cld_conf *c, struct cld_err *err)
{
	char msg[512];

	for (size_t i = 0; i < c->tmpl.n; i++) {
		const struct cld_attr *a = &c->tmpl.attrs[i];
		size_t s;

		for (s = 0; s < CLD_ARRAY_SIZE(settings); s++)
			if (strcmp(a->name, settings[s].name) == 0)
				break;
		if (s == CLD_ARRAY_SIZE(settings)) {
			snprintf(msg, sizeof(msg), "unknown setting '%s'",
			    a->name);
			return conf_error(c, err, a, msg);
		}
		if (settings[s].vector != cld_attr_is_vector(a)) {
			snprintf(msg, sizeof(msg), "'%s' must be %s", a->name,
			    settings[s].vector ? "a vector: NAME = [ ... ]" :
			    "a single value");
			return conf_error(c, err, a, msg);
		}
		if (!settings[s].repeat &&
		    cld_attrs_next(c->tmpl.attrs, c->tmpl.n, a->name, a) != NULL) {
			snprintf(msg, sizeof(msg), "'%s' is set twice",
			    a->name);
			return conf_error(c, err,
			    cld_attrs_next(c->tmpl.attrs, c->tmpl.n, a->name, a),
			    msg);
		}
	}
	return 0;
}

/*
 * A duration in seconds (decimals allowed: "0.5") into *MS, from MIN_MS to
 * MAX_S seconds.  VALUE_OF names it in the message.
 */
static int
seconds(struct cld_conf *c, struct cld_err *err, const struct cld_attr *a,
    const char *what, const char *v, int64_t min_ms, int64_t max_s,
    int64_t *ms)
{
	double d;
	char msg[512];

	if (cld_parse_double(v, &d) < 0 || d * 1000 < (double)min_ms ||
	    d > (double)max_s) {
		snprintf(msg, sizeof(msg),
		    "%s: '%s' is not a number of seconds from %g to %lld", what,
		    v, (double)min_ms / 1000, (long long)max_s);
		return conf_error(c, err, a, msg);
	}
	*ms = (int64_t)(d * 1000 + 0.5);
	return 0;
}

/* A whole number from MIN to MAX into *OUT. */
static int
number(struct cld_conf *c, struct cld_err *err, const struct cld_attr *a,
    const char *what, const char *v, int64_t min, int64_t max, int64_t *out)
{
	char msg[512];

	if (cld_parse_i64(v, out) < 0 || *out < min || *out > max) {
		snprintf(msg, sizeof(msg),
		    "%s: '%s' is not a whole number from %lld to %lld", what, v,
		    (long long)min, (long long)max);
		return conf_error(c, err, a, msg);
	}
	return 0;
}

static const struct cld_attr *
setting(struct cld_conf *c, const char *name)
{
	return cld_attrs_next(c->tmpl.attrs, c->tmpl.n, name, NULL);
}

/* Only the names in ALLOWED (NULL-terminated) may appear in vector A. */
static int
check_vector(struct cld_conf *c, struct cld_err *err, const struct cld_attr *a,
    const char *const *allowed)
{
	char msg[512];

	for (size_t i = 0; i < a->nsub; i++) {
		size_t k;

		for (k = 0; allowed[k] != NULL; k++)
			if (strcasecmp(a->sub[i].name, allowed[k]) == 0)
				break;
		if (allowed[k] == NULL) {
			snprintf(msg, sizeof(msg), "%s: unknown setting '%s'",
			    a->name, a->sub[i].name);
			return conf_error(c, err, &a->sub[i], msg);
		}
	}
	return 0;
}

/* The daemon's settings: monitoring, timeouts, scheduler, paths. */
static int
load_daemon(struct cld_conf *c, const char *dir, struct cld_err *err)
{
	static const char *const sched_keys[] = { "POLICY", "INTERVAL",
		"MAX_DISPATCH", "MAX_HOST", NULL };
	const struct cld_attr *a;
	const char *v;
	int64_t n;

	v = cld_tmpl_get(&c->tmpl, "PIDFILE");
	c->pidfile = v != NULL ? resolve(dir, v) : NULL;
	v = cld_tmpl_get(&c->tmpl, "LOG_DIR");
	c->log_dir = v != NULL ? resolve(dir, v) :
	    cld_xstrdup(CLD_LOCALSTATEDIR "/log/cloudd");
	v = cld_tmpl_get(&c->tmpl, "VM_DIR");
	c->vm_dir = v != NULL ? resolve(dir, v) :
	    cld_xstrdup(CLD_LOCALSTATEDIR "/lib/cloudd/vms");
	v = cld_tmpl_get(&c->tmpl, "DATASTORE");
	c->datastore = v != NULL ? v : "/var/lib/cloudd/datastore";
	if (c->datastore[0] != '/')
		return conf_error(c, err, setting(c, "DATASTORE"),
		    "DATASTORE must be an absolute path (it is a path on the hosts)");
	c->default_tm = cld_tmpl_get(&c->tmpl, "DEFAULT_TM");
	c->default_net = cld_tmpl_get(&c->tmpl, "DEFAULT_NET");

	c->monitor_interval_ms = 60000;
	if ((v = cld_tmpl_get(&c->tmpl, "MONITOR_INTERVAL")) != NULL &&
	    seconds(c, err, setting(c, "MONITOR_INTERVAL"), "MONITOR_INTERVAL",
	    v, 100, 86400, &c->monitor_interval_ms) < 0)
		return -1;
	for (int i = 0; i < CLD_TO_COUNT; i++)
		c->timeout_ms[i] = timeout_defaults[i] * 1000;
	if ((a = cld_tmpl_next_vector(&c->tmpl, "TIMEOUT", NULL)) != NULL) {
		if (check_vector(c, err, a, cld_timeout_names_z) < 0)
			return -1;
		for (int i = 0; i < CLD_TO_COUNT; i++)
			if ((v = cld_vector_get(a, cld_timeout_names[i])) &&
			    seconds(c, err, a, cld_timeout_names[i], v, 10,
			    86400, &c->timeout_ms[i]) < 0)
				return -1;
	}
	c->workers = 32;
	if ((v = cld_tmpl_get(&c->tmpl, "WORKERS")) != NULL) {
		if (number(c, err, setting(c, "WORKERS"), "WORKERS", v, 1,
		    1024, &n) < 0)
			return -1;
		c->workers = (int)n;
	}
	c->api_threads = 2;
	if ((v = cld_tmpl_get(&c->tmpl, "API_THREADS")) != NULL) {
		if (number(c, err, setting(c, "API_THREADS"), "API_THREADS",
		    v, 1, 64, &n) < 0)
			return -1;
		c->api_threads = (int)n;
	}
	v = cld_tmpl_get(&c->tmpl, "MAC_PREFIX");
	{
		uint8_t m[2];
		struct cld_err e;

		cld_err_clear(&e);
		if (cld_mac_prefix_parse(v ? v : CLD_MAC_PREFIX_DEFAULT, m,
		    "MAC_PREFIX", &e) < 0)
			return conf_error(c, err, setting(c, "MAC_PREFIX"),
			    e.msg);
		snprintf(c->mac_prefix, sizeof(c->mac_prefix), "%02x:%02x",
		    m[0], m[1]);
	}
	c->sched_policy = "packing";
	c->sched_interval_ms = 5000;
	c->sched_max_dispatch = 0;
	c->sched_max_host = 0;
	if ((a = cld_tmpl_next_vector(&c->tmpl, "SCHED", NULL)) != NULL) {
		if (check_vector(c, err, a, sched_keys) < 0)
			return -1;
		if ((v = cld_vector_get(a, "POLICY")) != NULL) {
			if (strcasecmp(v, "packing") != 0 &&
			    strcasecmp(v, "striping") != 0 &&
			    strcasecmp(v, "load-aware") != 0)
				return conf_error(c, err, a,
				    "SCHED: POLICY is not one of packing, striping, load-aware");
			c->sched_policy = v;
		}
		if ((v = cld_vector_get(a, "INTERVAL")) != NULL &&
		    seconds(c, err, a, "SCHED: INTERVAL", v, 10, 3600,
		    &c->sched_interval_ms) < 0)
			return -1;
		if ((v = cld_vector_get(a, "MAX_DISPATCH")) != NULL &&
		    number(c, err, a, "SCHED: MAX_DISPATCH", v, 0, 1000000000,
		    &c->sched_max_dispatch) < 0)
			return -1;
		if ((v = cld_vector_get(a, "MAX_HOST")) != NULL &&
		    number(c, err, a, "SCHED: MAX_HOST", v, 0, 1000000000,
		    &c->sched_max_host) < 0)
			return -1;
	}
	return 0;
}

static int
load_drivers(struct cld_conf *c, struct cld_err *err)
{
	static const struct { const char *key; int klass; } kinds[] = {
		{ "VMM_DRIVER", CLD_CLASS_VMM }, { "IM_DRIVER", CLD_CLASS_IM },
		{ "TM_DRIVER", CLD_CLASS_TM }, { "NET_DRIVER", CLD_CLASS_NET },
	};
	char msg[512];

	for (size_t i = 0; i < c->tmpl.n; i++) {
		const struct cld_attr *a = &c->tmpl.attrs[i];
		struct cld_driver_decl *d;
		size_t k;

		for (k = 0; k < CLD_ARRAY_SIZE(kinds); k++)
			if (strcmp(a->name, kinds[k].key) == 0)
				break;
		if (k == CLD_ARRAY_SIZE(kinds))
			continue;
		c->drivers = cld_xrealloc(c->drivers,
		    (c->ndrivers + 1) * sizeof(*c->drivers));
		d = &c->drivers[c->ndrivers++];
		d->klass = kinds[k].klass;
		d->block = a;
		d->name = cld_vector_get(a, "NAME");
		d->module = cld_vector_get(a, "MODULE");
		if (d->name == NULL && d->module == NULL) {
			snprintf(msg, sizeof(msg),
			    "'%s' needs NAME (the instance) or MODULE (the file %s_MODULE)",
			    a->name, cld_class_name(kinds[k].klass));
			return conf_error(c, err, a, msg);
		}
		if (d->name == NULL)
			d->name = d->module;
		if (d->module == NULL)
			d->module = d->name;
		for (size_t j = 0; j + 1 < c->ndrivers; j++) {
			if (c->drivers[j].klass == d->klass &&
			    strcmp(c->drivers[j].name, d->name) == 0) {
				snprintf(msg, sizeof(msg),
				    "%s driver '%s' is declared twice (first at line %u)",
				    cld_class_name(d->klass), d->name,
				    c->drivers[j].block->line);
				return conf_error(c, err, a, msg);
			}
		}
	}
	return 0;
}

int
cld_conf_load(const char *path, struct cld_conf *c, struct cld_err *err)
{
	const struct cld_attr *a = NULL;
	const char *v = NULL;
	char *pathcopy = NULL, *dir = NULL;
	size_t ndp = 0;
	char msg[512];
	int rc = -1;

	memset(c, 0, sizeof(*c));
	c->path = cld_xstrdup(path);
	if (cld_tmpl_parse_file(path, &c->tmpl, err) < 0) {
		err->code = err->code == CLD_ENOENT ? CLD_ENOENT : CLD_ECONFIG;
		goto cleanup;
	}
	if (check_settings(c, err) < 0)
		goto cleanup;
	pathcopy = cld_xstrdup(path);
	dir = cld_xstrdup(dirname(pathcopy));

	c->driver_path = cld_xcalloc(c->tmpl.n + 1, sizeof(char *));
	while ((a = cld_attrs_next(c->tmpl.attrs, c->tmpl.n, "DRIVER_PATH",
	    a)) != NULL)
		c->driver_path[ndp++] = resolve(dir, a->value);

	v = cld_tmpl_get(&c->tmpl, "DATABASE");
	c->database = v != NULL ? resolve(dir, v) :
	    cld_xstrdup(CLD_LOCALSTATEDIR "/lib/cloudd/cloudd.db");
	v = cld_tmpl_get(&c->tmpl, "LISTEN");
	c->listen = v != NULL ? resolve(dir, v) :
	    cld_xstrdup(CLD_LOCALSTATEDIR "/run/cloudd.sock");

	v = cld_tmpl_get(&c->tmpl, "DB_SYNC");
	if (v == NULL || strcasecmp(v, "normal") == 0)
		c->db_sync = 0;
	else if (strcasecmp(v, "full") == 0)
		c->db_sync = 1;
	else {
		snprintf(msg, sizeof(msg),
		    "DB_SYNC: '%s' is not one of normal, full", v);
		conf_error(c, err, cld_attrs_next(c->tmpl.attrs, c->tmpl.n,
		    "DB_SYNC", NULL), msg);
		goto cleanup;
	}
	v = cld_tmpl_get(&c->tmpl, "LOG");
	if (v == NULL || strcasecmp(v, "stderr") == 0)
		c->log_syslog = 0;
	else if (strcasecmp(v, "syslog") == 0)
		c->log_syslog = 1;
	else {
		snprintf(msg, sizeof(msg), "LOG: '%s' is not one of stderr, syslog",
		    v);
		conf_error(c, err, cld_attrs_next(c->tmpl.attrs, c->tmpl.n,
		    "LOG", NULL), msg);
		goto cleanup;
	}
	c->log_level = 2;
	v = cld_tmpl_get(&c->tmpl, "LOG_LEVEL");
	if (v != NULL) {
		size_t l;

		for (l = 0; l < CLD_ARRAY_SIZE(log_levels); l++)
			if (strcasecmp(v, log_levels[l]) == 0)
				break;
		if (l == CLD_ARRAY_SIZE(log_levels)) {
			snprintf(msg, sizeof(msg),
			    "LOG_LEVEL: '%s' is not one of error, warning, info, debug",
			    v);
			conf_error(c, err, cld_attrs_next(c->tmpl.attrs,
			    c->tmpl.n, "LOG_LEVEL", NULL), msg);
			goto cleanup;
		}
		c->log_level = (int)l;
	}

	c->ssh_command = "ssh";
	c->ssh_connect_timeout = 10;
	c->ssh_control_persist = 300;
	a = cld_tmpl_next_vector(&c->tmpl, "SSH", NULL);
	if (a != NULL) {
		static const char *const ssh_keys[] = { "COMMAND", "CONFIG",
			"CONNECT_TIMEOUT", "CONTROL_PATH", "CONTROL_PERSIST", NULL };
		int64_t t;

		if (check_vector(c, err, a, ssh_keys) < 0)
			goto cleanup;
		if ((v = cld_vector_get(a, "COMMAND")) != NULL)
			c->ssh_command = v;
		if ((v = cld_vector_get(a, "CONFIG")) != NULL)
			c->ssh_config = resolve(dir, v);
		if ((v = cld_vector_get(a, "CONNECT_TIMEOUT")) != NULL) {
			if (cld_parse_i64(v, &t) < 0 || t < 1 || t > 3600) {
				snprintf(msg, sizeof(msg),
				    "SSH: CONNECT_TIMEOUT '%s' is not a number of seconds from 1 to 3600",
				    v);
				conf_error(c, err, a, msg);
				goto cleanup;
			}
			c->ssh_connect_timeout = (int)t;
		}
		if ((v = cld_vector_get(a, "CONTROL_PERSIST")) != NULL) {
			if (cld_parse_i64(v, &t) < 0 || t < 0 || t > 86400) {
				snprintf(msg, sizeof(msg),
				    "SSH: CONTROL_PERSIST '%s' is not a number of seconds from 0 to 86400",
				    v);
				conf_error(c, err, a, msg);
				goto cleanup;
			}
			c->ssh_control_persist = (int)t;
		}
		if ((v = cld_vector_get(a, "CONTROL_PATH")) != NULL) {
			c->ssh_control_dir = resolve(dir, v);
			if (strlen(c->ssh_control_dir) > CLD_SSH_CONTROL_DIR_MAX) {
				snprintf(msg, sizeof(msg),
				    "SSH: CONTROL_PATH '%.200s' is longer than %d characters (a socket's path is limited)",
				    c->ssh_control_dir, CLD_SSH_CONTROL_DIR_MAX);
				conf_error(c, err, a, msg);
				goto cleanup;
			}
		}
	}
	if (c->ssh_control_dir == NULL) {
		/* Beside the API's socket: the daemon's own run-time directory. */
		char *l = cld_xstrdup(c->listen);

		c->ssh_control_dir = cld_xasprintf("%s/cloudd-ssh", dirname(l));
		c->ssh_control_dir_default = 1;
		free(l);
	}
	if (load_daemon(c, dir, err) < 0 || load_drivers(c, err) < 0)
		goto cleanup;
	rc = 0;
cleanup:
	free(pathcopy);
	free(dir);
	if (rc < 0)
		cld_conf_release(c);
	return rc;
}

void
cld_conf_release(struct cld_conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; c->driver_path != NULL && c->driver_path[i]; i++)
		free(c->driver_path[i]);
	free(c->driver_path);
	free(c->database);
	free(c->listen);
	free(c->ssh_config);
	free(c->ssh_control_dir);
	free(c->pidfile);
	free(c->log_dir);
	free(c->vm_dir);
	free(c->drivers);
	cld_tmpl_release(&c->tmpl);
	free(c->path);
	memset(c, 0, sizeof(*c));
}
