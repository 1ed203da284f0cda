/* cloudd.conf: read, check and resolve the daemon's configuration. */
#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "loader.h"
#include "template.h"
#include "util.h"

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
};

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
	a = cld_tmpl_next_vector(&c->tmpl, "SSH", NULL);
	if (a != NULL) {
		int64_t t;

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
	}
	if (load_drivers(c, err) < 0)
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
	free(c->drivers);
	cld_tmpl_release(&c->tmpl);
	free(c->path);
	memset(c, 0, sizeof(*c));
}
