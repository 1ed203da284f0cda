/*
 * ssh-run: run a command on a host through the core's svc->ssh, as a
 * driver would, for the ssh tests.
 *
 *   ssh-run [-F ssh_config] [-c control_dir] [-p persist] [-t connect_timeout]
 *           [-T deadline_ms] [-n calls] HOST WORD...
 *
 * The WORDs are one argv, quoted for the remote shell by cld_shell_quote.
 * The last call's standard output is written as it came back, byte for
 * byte; its standard error follows on ours.  On failure the error, with
 * its code's name and the call's time, is printed as "ssh-run: ETIMEDOUT
 * after 1002 ms: ..." and the exit status is 1.  With -n the call is made CALLS times (stopping at the first
 * failure) and "ssh-run: N calls, first M ms, median K ms" is printed on
 * standard error.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader.h"
#include "services.h"
#include "util.h"

static const char *const code_names[] = {
	"OK", "EINVAL", "ENOENT", "EEXIST", "ENOTSUP", "ETIMEDOUT", "ECANCELED",
	"EDRIVER", "EIO", "ESTORE", "ECONFIG", "EABI", "EPERM", "EBUSY", "ENOSPC",
};

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	struct cld_ssh_conf sc = { "ssh", NULL, 10, NULL, 0 };
	static struct cld_driver_inst inst;
	struct cld_op_ctl ctl;
	struct cld_op op;
	struct cld_run r;
	struct cld_err err;
	int64_t deadline = 0, *ms = NULL;
	int ch, calls = 1, i, rc = 0;

	while ((ch = getopt(argc, argv, "+F:c:p:t:T:n:")) != -1) {
		switch (ch) {
		case 'F':
			sc.config = optarg;
			break;
		case 'c':
			sc.control_dir = optarg;
			break;
		case 'p':
			sc.control_persist = atoi(optarg);
			break;
		case 't':
			sc.connect_timeout = atoi(optarg);
			break;
		case 'T':
			deadline = atoll(optarg);
			break;
		case 'n':
			calls = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind < 2 || calls < 1)
		goto usage;
	if (sc.control_dir != NULL && sc.control_persist > 0 &&
	    cld_ssh_control_dir_make(sc.control_dir, &err) < 0) {
		fprintf(stderr, "ssh-run: %s\n", err.msg);
		return 1;
	}
	cld_services_set_ssh(&sc);
	inst.drv.name = "ssh-run";
	ms = cld_xcalloc((size_t)calls, sizeof(*ms));
	for (i = 0; i < calls; i++) {
		int64_t t0 = cld_now_ms();

		cld_op_setup(&op, &inst.drv, &ctl, &err, deadline);
		memset(&r, 0, sizeof(r));
		r.argv = (const char *const *)argv + optind + 1;
		rc = cld_services.ssh(&op, argv[optind], &r);
		ms[i] = cld_now_ms() - t0;
		if (rc < 0 || i == calls - 1) {
			fwrite(r.out, 1, r.out_len, stdout);
			fwrite(r.errout, 1, r.errout_len, stderr);
		}
		free(r.out);
		free(r.errout);
		cld_op_ctl_release(&ctl);
		if (rc < 0) {
			fprintf(stderr, "ssh-run: %s after %lld ms: %s\n",
			    err.code >= 0 && (size_t)err.code < CLD_ARRAY_SIZE(code_names) ?
			    code_names[err.code] : "?", (long long)ms[i], err.msg);
			break;
		}
	}
	if (calls > 1 && rc == 0) {
		int64_t first = ms[0];

		qsort(ms, (size_t)calls, sizeof(*ms), cmp_i64);
		fprintf(stderr, "ssh-run: %d calls, first %lld ms, median %lld ms\n",
		    calls, (long long)first, (long long)ms[calls / 2]);
	}
	free(ms);
	return rc < 0 ? 1 : 0;
usage:
	fprintf(stderr, "usage: ssh-run [-F ssh_config] [-c control_dir] [-p persist] "
	    "[-t connect_timeout] [-T deadline_ms] [-n calls] HOST WORD...\n");
	return 2;
}
