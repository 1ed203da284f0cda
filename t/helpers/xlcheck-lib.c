/*
 * xlcheck: how far a domain configuration can be checked here, with no Xen
 * hypervisor, by Xen's own code.
 *
 * Xen's: the whole file goes through libxlutil's parser (xlu_cfg_readdata,
 * the one xl uses: syntax, quoting, lists, with its line-numbered
 * messages); each setting is read with the accessor xl reads it with
 * (xlu_cfg_get_string, xlu_cfg_get_long, xlu_cfg_get_bounded_long,
 * xlu_cfg_get_list), which refuse a wrong type; each disk spec goes
 * through xlu_disk_parse, the parser of "xl create" itself, which reads
 * both xl's key=value specs and xm's "file:PATH,VDEV,MODE"; a vif rate
 * through xlu_vif_parse_rate.
 *
 * Ours, written from xl.cfg(5) and xl-network-configuration(5), because xl
 * keeps them in the xl program rather than in a library: the guest type
 * and the actions on_poweroff, on_reboot, on_crash, that a PV guest has a
 * kernel or a bootloader, that each disk has a target and a vdev, and the
 * keys and MAC address of a vif spec.  The messages are xl's.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libxlutil.h>

#include "xlcheck.h"

/* xl's actions on_poweroff, on_reboot, on_crash (xl_parse.c's names). */
static const char *const actions[] = { "destroy", "restart", "rename-restart",
	"preserve", "coredump-destroy", "coredump-restart", "soft-reset", NULL };

/* The keys of a vif spec: xl's, and xm's (xend's create.py). */
static const char *const vif_keys_xl[] = { "type", "mac", "bridge", "netdev",
	"gatewaydev", "ip", "script", "backend", "vifname", "model", "rate",
	"accel", "devid", "mtu", NULL };
static const char *const vif_keys_xm[] = { "type", "mac", "bridge", "ip",
	"script", "backend", "vifname", "rate", "model", "accel", NULL };

static int
in(const char *s, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strcmp(s, *set) == 0)
			return 1;
	return 0;
}

/* A string setting, read the way xl reads it (a list there is refused). */
static int
get_string(XLU_Config *cfg, const char *key, const char **v, int *bad)
{
	int e = xlu_cfg_get_string(cfg, key, v, 0);

	if (e == ESRCH) {
		*v = NULL;
		return 0;
	}
	if (e != 0) {
		*bad = 1;
		*v = NULL;
		return -1;
	}
	return 1;
}

static void
get_long(XLU_Config *cfg, const char *key, long min, long max, long *v,
    int *bad)
{
	int e = xlu_cfg_get_bounded_long(cfg, key, min, max, v, 0);

	if (e != 0 && e != ESRCH)
		*bad = 1;
}

/* xl's vif parsing: comma-separated key=value tokens, leading blanks dropped. */
static int
check_vif(XLU_Config *cfg, const char *spec, int xm, FILE *report)
{
	char *buf = strdup(spec), *save = NULL, *tok;
	int rc = 0;

	if (buf == NULL)
		return -1;
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		char *eq, *val;

		while (*tok == ' ')
			tok++;
		if (*tok == '\0')
			continue;
		if ((eq = strchr(tok, '=')) == NULL) {
			fprintf(report, "unrecognized argument `%s'\n", tok);
			rc = -1;
			continue;
		}
		*eq = '\0';
		val = eq + 1;
		if (!in(tok, xm ? vif_keys_xm : vif_keys_xl)) {
			*eq = '=';
			fprintf(report, "unrecognized argument `%s'\n", tok);
			rc = -1;
		} else if (strcmp(tok, "mac") == 0) {
			const char *p = val;
			char *end;
			int i;

			for (i = 0; i < 6; i++) {
				unsigned long o = strtoul(p, &end, 16);

				if (end == p || o > 255 || (i < 5 && *end != ':') ||
				    (i == 5 && *end != '\0')) {
					fprintf(report, "Invalid parameter `mac'.\n");
					rc = -1;
					break;
				}
				p = end + 1;
			}
		} else if (strcmp(tok, "type") == 0 && !xm &&
		    strcmp(val, "vif") != 0 && strcmp(val, "ioemu") != 0) {
			fprintf(report, "Invalid parameter `type'.\n");
			rc = -1;
		} else if (strcmp(tok, "rate") == 0) {
			libxl_device_nic nic;

			libxl_device_nic_init(&nic);
			if (xlu_vif_parse_rate(cfg, val, &nic) != 0)
				rc = -1;
			libxl_device_nic_dispose(&nic);
		} else if (val[0] == '\0') {
			fprintf(report, "vif parameter `%s' is empty\n", tok);
			rc = -1;
		}
	}
	free(buf);
	return rc;
}

static int
check_disks(XLU_Config *cfg, FILE *report, FILE *summary)
{
	XLU_ConfigList *list = NULL;
	int n = 0, i, e, rc = 0;
	const char *spec;

	e = xlu_cfg_get_list(cfg, "disk", &list, &n, 0);
	if (e == ESRCH)
		return 0;
	if (e != 0)
		return -1;
	for (i = 0; i < n; i++) {
		libxl_device_disk disk;

		if ((spec = xlu_cfg_get_listitem(list, i)) == NULL) {
			fprintf(report, "disk %d is not a string\n", i);
			rc = -1;
			continue;
		}
		libxl_device_disk_init(&disk);
		if (xlu_disk_parse(cfg, 1, &spec, &disk) != 0)
			rc = -1;
		else if (disk.vdev == NULL || disk.vdev[0] == '\0') {
			fprintf(report, "disk spec `%s' has no vdev\n", spec);
			rc = -1;
		} else if ((disk.pdev_path == NULL || disk.pdev_path[0] == '\0') &&
		    !disk.is_cdrom) {
			fprintf(report, "disk spec `%s' has no target\n", spec);
			rc = -1;
		} else if (summary != NULL && disk.pdev_path != NULL)
			fprintf(summary, "disk %s\n", disk.pdev_path);
		libxl_device_disk_dispose(&disk);
	}
	return rc;
}

static int
check_vifs(XLU_Config *cfg, int xm, FILE *report, FILE *summary)
{
	XLU_ConfigList *list = NULL;
	int n = 0, i, e, rc = 0;
	const char *spec;

	e = xlu_cfg_get_list(cfg, "vif", &list, &n, 0);
	if (e == ESRCH)
		return 0;
	if (e != 0)
		return -1;
	for (i = 0; i < n; i++) {
		if ((spec = xlu_cfg_get_listitem(list, i)) == NULL) {
			fprintf(report, "vif %d is not a string\n", i);
			rc = -1;
		} else if (check_vif(cfg, spec, xm, report) < 0)
			rc = -1;
		else if (summary != NULL)
			fprintf(summary, "vif %s\n", spec);
	}
	return rc;
}

int
xlcheck(const char *source, const char *text, size_t len, int xm,
    FILE *report, FILE *summary)
{
	static const char *const strings[] = { "kernel", "ramdisk", "root",
		"extra", "cmdline", "bootloader", "boot", NULL };
	XLU_Config *cfg = NULL;
	const char *name = NULL, *type = NULL, *s = NULL, *kernel = NULL,
	    *bootloader = NULL;
	long memory = 0, maxmem = 0, vcpus = 1, l = 0;
	int bad = 0, e;
	size_t i;

	if (len > INT_MAX) {
		fprintf(report, "%s: too big\n", source);
		return -1;
	}
	if ((cfg = xlu_cfg_init(report, source)) == NULL) {
		fprintf(report, "Failed to allocate for configuration\n");
		return -1;
	}
	if ((e = xlu_cfg_readdata(cfg, text, (int)len)) != 0) {
		/* what xl says after libxlutil's own line-numbered message */
		fprintf(report, "Failed to parse config: %s\n", strerror(e));
		xlu_cfg_destroy(cfg);
		return -1;
	}
	if (xlu_cfg_get_string(cfg, "name", &name, 0) != 0) {
		fprintf(report, "Domain name must be specified.\n");
		bad = 1;
	}
	/* The guest type: xl's "type" (prefix match, as xl does), "builder". */
	if (get_string(cfg, xm ? "builder" : "type", &type, &bad) > 0) {
		size_t n = strlen(type);

		if (xm) {
			if (strcmp(type, "linux") != 0 && strcmp(type, "hvm") != 0) {
				fprintf(report, "Invalid builder %s.\n", type);
				bad = 1;
			}
		} else if (n == 0 || (strncmp(type, "hvm", n) != 0 &&
		    strncmp(type, "pv", n) != 0 && strncmp(type, "pvh", n) != 0)) {
			fprintf(report, "Invalid domain type %s.\n", type);
			bad = 1;
		} else
			type = strncmp(type, "hvm", n) == 0 ? "hvm" :
			    strncmp(type, "pv", n) == 0 && n <= 2 ? "pv" : "pvh";
	}
	if (!xm && get_string(cfg, "builder", &s, &bad) > 0) {
		size_t n = strlen(s);

		if (n == 0 || (strncmp(s, "hvm", n) != 0 &&
		    strncmp(s, "generic", n) != 0)) {
			fprintf(report, "Invalid domain type %s.\n", s);
			bad = 1;
		} else if (type != NULL && strcmp(type, strncmp(s, "hvm", n) == 0 ?
		    "hvm" : "pv") != 0) {
			fprintf(report,
			    "Contradicting \"builder\" and \"type\" options specified.\n");
			bad = 1;
		} else
			type = strncmp(s, "hvm", n) == 0 ? "hvm" : "pv";
	}
	if (type == NULL || strcmp(type, "linux") == 0)
		type = "pv";
	get_long(cfg, "memory", 1, LONG_MAX / 1024, &memory, &bad);
	get_long(cfg, "maxmem", 1, LONG_MAX / 1024, &maxmem, &bad);
	get_long(cfg, "vcpus", 1, 4096, &vcpus, &bad);
	get_long(cfg, "maxvcpus", 1, 4096, &l, &bad);
	get_long(cfg, "cpu_weight", 1, 65535, &l, &bad);
	get_long(cfg, xm ? "cpu_cap" : "cap", 0, LONG_MAX, &l, &bad);
	if (maxmem != 0 && memory > maxmem) {
		fprintf(report, "%s: memory (%ld) is above maxmem (%ld)\n", source,
		    memory, maxmem);
		bad = 1;
	}
	for (i = 0; strings[i] != NULL; i++)
		get_string(cfg, strings[i], &s, &bad);
	get_string(cfg, "kernel", &kernel, &bad);
	get_string(cfg, "bootloader", &bootloader, &bad);
	if (strcmp(type, "hvm") != 0 && kernel == NULL && bootloader == NULL) {
		fprintf(report, "Neither kernel nor bootloader specified\n");
		bad = 1;
	}
	for (i = 0; i < 3; i++) {
		static const char *const keys[] = { "on_poweroff", "on_reboot",
			"on_crash" };

		if (get_string(cfg, keys[i], &s, &bad) > 0 && !in(s, actions)) {
			fprintf(report, "Unknown %s action \"%s\" specified\n",
			    keys[i], s);
			bad = 1;
		}
	}
	if (check_disks(cfg, report, summary) < 0 ||
	    check_vifs(cfg, xm, report, summary) < 0)
		bad = 1;
	if (summary != NULL && !bad) {
		fprintf(summary, "name %s\ntype %s\nmemory %ld\nvcpus %ld\n", name,
		    type, memory ? memory : 128, vcpus);
		if (kernel != NULL)
			fprintf(summary, "kernel %s\n", kernel);
		if (get_string(cfg, "ramdisk", &s, &bad) > 0)
			fprintf(summary, "ramdisk %s\n", s);
		if (bootloader != NULL)
			fprintf(summary, "bootloader %s\n", bootloader);
	}
	xlu_cfg_destroy(cfg);
	return bad ? -1 : 0;
}
