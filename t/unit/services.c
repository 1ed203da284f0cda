/*
 * The services lent to drivers: running programs with a deadline, the
 * shell-quoting helper (checked against a real /bin/sh), and ssh's argv.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"
#include "services.h"
#include "tap.h"
#include "util.h"

static struct cld_driver_inst inst;  /* a bare instance for the op */

static int
run(struct cld_op *op, struct cld_run *r, const char *const *argv,
    int64_t timeout_ms, struct cld_op_ctl *ctl, struct cld_err *err)
{
	cld_op_setup(op, &inst.drv, ctl, err, timeout_ms);
	memset(r, 0, sizeof(*r));
	r->argv = argv;
	return cld_services.run(op, r);
}

static void
done(struct cld_run *r, struct cld_op_ctl *ctl)
{
	free(r->out);
	free(r->errout);
	cld_op_ctl_release(ctl);
}

/* Hostile words must reach a real shell's program as exactly themselves. */
static const char *const hostile[] = {
	"plain", "", " ", "two words", "it's", "'", "''", "\"", "\\", "\\'",
	"$(touch /tmp/cld-pwned)", "`touch /tmp/cld-pwned`", "$HOME", "${HOME}",
	"a;b", "a&&b", "a|b", "a>b", "<a", "*", "?", "[a-z]*", "~", "~root",
	"-n", "--", "-e\\n", "line1\nline2", "\ttab", "#comment", "!event",
	"%s%n", "a\rb", "é ü ✓", "{a,b}", "a=b", "x\\\ny",
};

struct cancel_arg {
	struct cld_op_ctl *ctl;
};

static void *
cancel_later(void *p)
{
	struct cancel_arg *a = p;

	usleep(200 * 1000);
	cld_op_cancel(a->ctl);
	return NULL;
}

int
main(void)
{
	struct cld_op op;
	struct cld_op_ctl ctl;
	struct cld_run r;
	struct cld_err err;
	int64_t t0;
	char dir[] = "/tmp/cld-svc-XXXXXX";

	inst.klass = CLD_CLASS_VMM;
	inst.drv.name = "test";
	inst.drv.svc = &cld_services;
	if (mkdtemp(dir) == NULL)
		skip_all("cannot make a temporary directory");
	unlink("/tmp/cld-pwned");

	/* The quoting helper, through a real shell. */
	for (size_t i = 0; i < CLD_ARRAY_SIZE(hostile); i++) {
		const char *words[] = { "printf", "[%s]", hostile[i], NULL };
		char *q = cld_shell_quote(words);
		const char *argv[] = { "/bin/sh", "-c", q, NULL };
		char *want = cld_xasprintf("[%s]", hostile[i]);
		char label[64];
		size_t k = 0;

		for (const char *c = hostile[i]; *c && k < 20; c++)
			label[k++] = (*c >= 32 && *c < 127) ? *c : '.';
		label[k] = '\0';
		run(&op, &r, argv, 5000, &ctl, &err);
		is_str(r.out, want, "'%s' arrives literally through /bin/sh", label);
		free(want);
		free(q);
		done(&r, &ctl);
	}
	{
		const char *words[] = { "a", "b c", "d", NULL };
		char *q = cld_shell_quote(words);

		is_str(q, "a 'b c' d", "plain words stay readable");
		free(q);
	}
	ok(access("/tmp/cld-pwned", F_OK) != 0, "no quoted word was ever executed");

	/* Running programs. */
	{
		const char *argv[] = { "echo", "hello", NULL };

		ok(run(&op, &r, argv, 5000, &ctl, &err) == 0, "echo runs");
		is_str(r.out, "hello\n", "its output is captured");
		is_int(r.status, 0, "its status is 0");
		done(&r, &ctl);
	}
	{
		const char *argv[] = { "sh", "-c", "echo first >&2; echo 'disk full' >&2; exit 3", NULL };

		ok(run(&op, &r, argv, 5000, &ctl, &err) < 0, "a failing program fails");
		is_int(r.status, 3, "with its exit status");
		is_str(err.msg, "'sh' exited with status 3: disk full",
		    "the error names the program, the status and the last line of stderr");
		is_int(err.code, CLD_EDRIVER, "code CLD_EDRIVER");
		done(&r, &ctl);
	}
	{
		const char *argv[] = { "cld-no-such-program", NULL };

		ok(run(&op, &r, argv, 5000, &ctl, &err) < 0, "a missing program fails");
		is_str(err.msg, "cannot run 'cld-no-such-program': No such file or directory",
		    "and says so");
		is_int(err.code, CLD_ENOENT, "code CLD_ENOENT");
		done(&r, &ctl);
	}
	{
		const char *argv[] = { "sh", "-c", "kill -TERM $$", NULL };

		ok(run(&op, &r, argv, 5000, &ctl, &err) < 0, "a program killed by a signal fails");
		is_str(err.msg, "'sh' was killed by signal 15", "and says which");
		done(&r, &ctl);
	}
	{
		const char *argv[] = { "cat", NULL };
		static const char input[] = "to stdin\nand back\n";

		cld_op_setup(&op, &inst.drv, &ctl, &err, 5000);
		memset(&r, 0, sizeof(r));
		r.argv = argv;
		r.input = input;
		r.input_len = strlen(input);
		ok(cld_services.run(&op, &r) == 0, "cat runs with input");
		is_str(r.out, input, "its input was written to its stdin");
		done(&r, &ctl);
	}
	{
		const char *argv[] = { "head", "-c", "3000000", "/dev/zero", NULL };

		ok(run(&op, &r, argv, 10000, &ctl, &err) == 0, "a program writing 3 MB runs");
		is_int((long long)r.out_len, 3000000, "every byte is captured");
		done(&r, &ctl);
	}
	{
		/* The child leaves a grandchild holding the pipes. */
		const char *argv[] = { "sh", "-c", "sleep 30 & sleep 30", NULL };

		t0 = cld_now_ms();
		ok(run(&op, &r, argv, 300, &ctl, &err) < 0, "a program past its deadline fails");
		ok(cld_now_ms() - t0 < 5000, "it is stopped at the deadline, grandchildren too (%lld ms)",
		    (long long)(cld_now_ms() - t0));
		is_int(err.code, CLD_ETIMEDOUT, "code CLD_ETIMEDOUT");
		ok(strncmp(err.msg, "'sh' timed out after ", 21) == 0, "message: %s", err.msg);
		done(&r, &ctl);
	}
	{
		/* Closes its pipes and goes on running: the deadline still holds. */
		const char *argv[] = { "sh", "-c", "exec >/dev/null 2>&1; sleep 30", NULL };

		t0 = cld_now_ms();
		ok(run(&op, &r, argv, 300, &ctl, &err) < 0 && err.code == CLD_ETIMEDOUT,
		    "a program that closed its output is still stopped at the deadline");
		ok(cld_now_ms() - t0 < 5000, "in time (%lld ms)", (long long)(cld_now_ms() - t0));
		done(&r, &ctl);
	}
	{
		const char *argv[] = { "sleep", "30", NULL };
		struct cancel_arg a = { &ctl };
		pthread_t th;

		cld_op_setup(&op, &inst.drv, &ctl, &err, 60000);
		memset(&r, 0, sizeof(r));
		r.argv = argv;
		t0 = cld_now_ms();
		pthread_create(&th, NULL, cancel_later, &a);
		ok(cld_services.run(&op, &r) < 0 && err.code == CLD_ECANCELED,
		    "a cancelled operation stops its program: %s", err.msg);
		ok(cld_now_ms() - t0 < 5000, "promptly (%lld ms)", (long long)(cld_now_ms() - t0));
		pthread_join(th, NULL);
		done(&r, &ctl);
	}

	/* ssh: a stand-in "ssh" that hands the command to sh -c, as sshd does. */
	{
		char *fake = cld_xasprintf("%s/fake-ssh", dir);
		FILE *f = fopen(fake, "w");
		struct cld_ssh_conf sc = { fake, NULL, 7, NULL, 0 };
		const char *words[] = { "printf", "<%s>", "it's $(x)", "a b", NULL };

		fputs("#!/bin/sh\n"
		    "echo \"$*\" > \"$(dirname \"$0\")/argv\"\n"
		    "while [ \"$1\" != -- ]; do shift; done; shift\n"
		    "host=$1; shift\n"
		    "exec /bin/sh -c \"$1\"\n", f);
		fclose(f);
		chmod(fake, 0755);
		cld_services_set_ssh(&sc);
		cld_op_setup(&op, &inst.drv, &ctl, &err, 5000);
		memset(&r, 0, sizeof(r));
		r.argv = words;
		ok(cld_services.ssh(&op, "node1", &r) == 0, "ssh runs");
		is_str(r.out, "<it's $(x)><a b>", "each word arrives as one literal argument");
		done(&r, &ctl);
		{
			char *argvfile = cld_xasprintf("%s/argv", dir);
			char *got = cld_read_file(argvfile, NULL, &err);

			is_str(got, "-o BatchMode=yes -o ConnectTimeout=7 -o ControlPath=none -- node1 printf '<%s>' 'it'\\''s $(x)' 'a b'\n",
			    "ssh gets batch mode, the timeout, no reuse, '--' and the host before the command");
			free(got);
			unlink(argvfile);
			free(argvfile);
		}
		{
			struct cld_ssh_conf reuse = { fake, "/etc/cfg", 7, "/run/ctl", 30 };
			char *argvfile = cld_xasprintf("%s/argv", dir);
			char *got;

			cld_services_set_ssh(&reuse);
			cld_op_setup(&op, &inst.drv, &ctl, &err, 5000);
			memset(&r, 0, sizeof(r));
			r.argv = words;
			ok(cld_services.ssh(&op, "node1", &r) == 0, "ssh with reuse runs");
			done(&r, &ctl);
			got = cld_read_file(argvfile, NULL, &err);
			is_str(got, "-F /etc/cfg -o BatchMode=yes -o ConnectTimeout=7 -o ControlMaster=auto -o ControlPath=/run/ctl/%C -o ControlPersist=30 -o ServerAliveInterval=7 -- node1 printf '<%s>' 'it'\\''s $(x)' 'a b'\n",
			    "with reuse: ControlMaster, a socket per host in the directory, persist, keep-alives");
			free(got);
			unlink(argvfile);
			free(argvfile);
			{
				/* svc->ssh_options: the same words, for scp. */
				char **o = cld_services.ssh_options(&inst.drv);
				char line[512] = "";

				for (size_t i = 0; o != NULL && o[i] != NULL; i++) {
					strcat(line, i ? " " : "");
					strcat(line, o[i]);
				}
				is_str(line, "-F /etc/cfg -o BatchMode=yes -o ConnectTimeout=7 -o ControlMaster=auto -o ControlPath=/run/ctl/%C -o ControlPersist=30 -o ServerAliveInterval=7",
				    "ssh_options gives the words svc->ssh uses, in one block");
				free(o);
				cld_services_set_ssh(&sc);
				o = cld_services.ssh_options(&inst.drv);
				ok(o != NULL && strcmp(o[4], "-o") == 0 &&
				    strcmp(o[5], "ControlPath=none") == 0 && o[6] == NULL,
				    "ssh_options without reuse: ControlPath=none");
				free(o);
			}
		}
		ok(cld_ssh_control_dir_make("relative", &err) < 0, "a relative control directory is refused");
		ok(cld_ssh_control_dir_make("/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &err) < 0 &&
		    strstr(err.msg, "longer than 49") != NULL, "a control directory too long for a socket is refused: %s", err.msg);
		{
			char *cd = cld_xasprintf("%s/ctl", dir);
			struct stat st;

			ok(cld_ssh_control_dir_make(cd, &err) == 0 && stat(cd, &st) == 0 &&
			    (st.st_mode & 0777) == 0700, "the control directory is made private (0700)");
			chmod(cd, 0755);
			ok(cld_ssh_control_dir_make(cd, &err) == 0 && stat(cd, &st) == 0 &&
			    (st.st_mode & 0777) == 0700, "an existing one of ours is made private again");
			rmdir(cd);
			free(cd);
		}
		cld_op_setup(&op, &inst.drv, &ctl, &err, 5000);
		memset(&r, 0, sizeof(r));
		r.argv = words;
		ok(cld_services.ssh(&op, "-oProxyCommand=touch /tmp/cld-pwned", &r) < 0 &&
		    strstr(err.msg, "invalid host name") != NULL,
		    "a host name that would be an option is refused");
		done(&r, &ctl);
		cld_op_setup(&op, &inst.drv, &ctl, &err, 5000);
		memset(&r, 0, sizeof(r));
		r.argv = words;
		ok(cld_services.ssh(&op, "node1;reboot", &r) < 0, "a host name with ';' is refused");
		done(&r, &ctl);
		cld_services_set_ssh(NULL);
		unlink(fake);
		free(fake);
	}
	ok(access("/tmp/cld-pwned", F_OK) != 0, "nothing was executed by a hostile name");

	/* The other services. */
	{
		cld_op_setup(&op, &inst.drv, &ctl, &err, 50);
		ok(cld_services.remaining_ms(&op) <= 50, "remaining_ms counts down");
		usleep(80 * 1000);
		is_int(cld_services.remaining_ms(&op), 0, "and is 0 past the deadline");
		ok(!cld_services.cancelled(&op), "not cancelled");
		cld_op_cancel(&ctl);
		ok(cld_services.cancelled(&op), "cancelled once asked");
		cld_services.progress(&op, 140, "copying disk.img");
		is_int(atomic_load(&ctl.percent), 100, "progress is capped at 100");
		is_str(ctl.what, "copying disk.img", "progress keeps its text");
		cld_op_ctl_release(&ctl);
	}
	ok(cld_host_name_valid("node1.example.org") && cld_host_name_valid("10.99.0.11") &&
	    cld_host_name_valid("root@node1") && !cld_host_name_valid("") &&
	    !cld_host_name_valid("a b") && !cld_host_name_valid("-x") &&
	    !cld_host_name_valid("$(x)"), "host name validation");
	rmdir(dir);
	return done_testing();
}
