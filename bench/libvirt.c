/*
 * bench/libvirt: lease latency through vmm/libvirt and im/libvirt on
 * libvirt's test driver, create to RUNNING, as a user sees it through the
 * API.
 *
 * It starts the cloudd of the build tree on a fresh store in a temporary
 * directory with two hosts: "lv", whose hypervisor is libvirt's test
 * driver inside cloudd (test:///DIR/lv.xml, domains of type qemu), and
 * "dm", on the dummy drivers that take no time.  Then, one lease at a time,
 * alternating lv dm lv dm (a busy machine slows both alike):
 *
 *   POST /v1/vms (REQUIREMENTS picks the host), then GET /v1/vms/ID every
 *   0.2 ms until it answers RUNNING (committed: what cloudctl would show);
 *   the time between is the lease's latency.  The VM is then deleted and
 *   the next lease waits until it is DONE.
 *
 * Each lease runs the whole pipeline: the API, one commit per loop turn,
 * the scheduler, tm prolog (dummy), net pre and post (dummy) and vmm
 * deploy, each step a job on a worker.  On lv the deploy builds the domain
 * XML and calls virDomainCreateXML over the cached connection.  As a
 * yardstick, the bare libvirt call is timed too: virDomainCreateXML of the
 * same kind of domain on a test:/// connection in this process.
 *
 *	bench/libvirt [-n LEASES] [-w WARMUP]
 *
 * Run from the build directory (it runs ./core/cloudd and loads
 * ./drivers/...).  Defaults: -n 200 -w 20.  Prints median, p95, min and
 * max of each.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "util.h"

static CURL *curl;
static char sock[512];
static char dir[256];
static pid_t daemon_pid;

struct buf {
	char *p;
	size_t len;
};

static size_t
collect(char *data, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;

	b->p = cld_xrealloc(b->p, b->len + size * n + 1);
	memcpy(b->p + b->len, data, size * n);
	b->len += size * n;
	b->p[b->len] = '\0';
	return size * n;
}

/* One request on the keep-alive handle; the HTTP status, the body in *out. */
static long
req(const char *method, const char *path, const char *body, char **out)
{
	struct buf b = { NULL, 0 };
	struct curl_slist *h = NULL;
	char url[1024];
	long status = 0;
	CURLcode rc;

	snprintf(url, sizeof(url), "http://localhost%s", path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	if (body != NULL) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else {
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	rc = curl_easy_perform(curl);
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		fprintf(stderr, "bench/libvirt: %s %s: %s\n", method, path,
		    curl_easy_strerror(rc));
		exit(1);
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (out != NULL)
		*out = b.p;
	else
		free(b.p);
	return status;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The string member KEY of the JSON object in TEXT, into OUT. */
static void
json_str(const char *text, const char *key, char *out, size_t outsz)
{
	json_t *o = json_loads(text, 0, NULL);
	const char *v = o != NULL ? json_string_value(json_object_get(o, key)) : NULL;

	snprintf(out, outsz, "%s", v != NULL ? v : "");
	json_decref(o);
}

static long
json_int(const char *text, const char *key)
{
	json_t *o = json_loads(text, 0, NULL);
	long v = o != NULL ? (long)json_integer_value(json_object_get(o, key)) : -1;

	json_decref(o);
	return v;
}

/* Wait until VM ID is in STATE (or FAILED: exit). */
static void
wait_state(long id, const char *state)
{
	char path[64], got[32], *out = NULL;
	struct timespec ts = { 0, 200000 };

	snprintf(path, sizeof(path), "/v1/vms/%ld", id);
	for (;;) {
		req("GET", path, NULL, &out);
		json_str(out, "state", got, sizeof(got));
		if (strcmp(got, state) == 0)
			break;
		if (strcmp(got, "FAILED") == 0) {
			fprintf(stderr, "bench/libvirt: VM %ld FAILED: %s\n", id, out);
			exit(1);
		}
		free(out);
		out = NULL;
		nanosleep(&ts, NULL);
	}
	free(out);
}

static void
stop_daemon(void)
{
	if (daemon_pid > 0) {
		kill(daemon_pid, SIGTERM);
		waitpid(daemon_pid, NULL, 0);
		daemon_pid = 0;
	}
}

static void
write_node(const char *host)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.xml", dir, host);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	fprintf(f, "<node><cpu><mhz>2400</mhz><model>x86_64</model>"
	    "<active>64</active><nodes>1</nodes><sockets>1</sockets>"
	    "<cores>64</cores><threads>1</threads></cpu>"
	    "<memory>268435456</memory></node>\n");
	fclose(f);
}

static void
start_daemon(void)
{
	char conf[600], cwd[400];
	FILE *f;
	int i;

	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		perror("getcwd");
		exit(1);
	}
	write_node("lv");
	snprintf(conf, sizeof(conf), "%s/cloudd.conf", dir);
	if ((f = fopen(conf, "w")) == NULL) {
		perror(conf);
		exit(1);
	}
	fprintf(f,
	    "DRIVER_PATH = \"%s/drivers/vmm\"\nDRIVER_PATH = \"%s/drivers/im\"\n"
	    "DRIVER_PATH = \"%s/drivers/tm\"\nDRIVER_PATH = \"%s/drivers/net\"\n"
	    "DATABASE = \"%s/cloudd.db\"\nLISTEN = \"%s\"\n"
	    "LOG_DIR = \"%s/log\"\nVM_DIR = \"%s/vms\"\n"
	    "LOG_LEVEL = warning\nMONITOR_INTERVAL = 30\n"
	    "SCHED = [ INTERVAL = 1 ]\nWORKERS = 4\n"
	    "VMM_DRIVER = [ NAME = \"libvirt\", TYPE = \"qemu\", URI = \"test://%s/HOST.xml\" ]\n"
	    "IM_DRIVER = [ NAME = \"libvirt\", URI = \"test://%s/HOST.xml\" ]\n"
	    "VMM_DRIVER = [ NAME = \"dummy\" ]\n"
	    "IM_DRIVER = [ NAME = \"dummy\", TOTALCPU = 6400, TOTALMEMORY = 268435456 ]\n"
	    "TM_DRIVER = [ NAME = \"dummy\" ]\nNET_DRIVER = [ NAME = \"dummy\" ]\n",
	    cwd, cwd, cwd, cwd, dir, sock, dir, dir, dir, dir);
	fclose(f);
	daemon_pid = fork();
	if (daemon_pid == 0) {
		execl("./core/cloudd", "cloudd", "-d", "-f", conf, (char *)NULL);
		perror("./core/cloudd");
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		usleep(50000);
		if (access(sock, F_OK) == 0)
			break;
	}
	curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, sock);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sort V (N of them) and print its median, p95, min and max. */
static double
report(const char *what, double *v, long n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	printf("  %-44s median %7.2f ms  p95 %7.2f ms  (min %.2f, max %.2f; %ld)\n",
	    what, v[n / 2], v[(n * 95) / 100 < n ? (n * 95) / 100 : n - 1], v[0],
	    v[n - 1], n);
	return v[n / 2];
}

/* One lease on HOST: create to RUNNING in ms; then deleted, waited for. */
static double
lease(const char *host)
{
	char body[512], *out = NULL;
	double t0, t;
	long id;

	snprintf(body, sizeof(body), "{\"template\":\"CPU = 0.01\\nMEMORY = 16\\n"
	    "DISK = [ SOURCE = \\\"/srv/images/a.img\\\", TARGET = \\\"vda\\\" ]\\n"
	    "NIC = [ BRIDGE = \\\"br0\\\", MAC = \\\"02:00:0a:00:00:01\\\" ]\\n"
	    "REQUIREMENTS = \\\"NAME = \\\\\\\"%s\\\\\\\"\\\"\\n\"}", host);
	t0 = now_ms();
	if (req("POST", "/v1/vms", body, &out) != 201) {
		fprintf(stderr, "bench/libvirt: vm create: %s\n", out ? out : "");
		exit(1);
	}
	id = json_int(out, "id");
	free(out);
	wait_state(id, "RUNNING");
	t = now_ms() - t0;
	snprintf(body, sizeof(body), "/v1/vms/%ld", id);
	if (req("DELETE", body, NULL, NULL) != 200) {
		fprintf(stderr, "bench/libvirt: vm delete %ld failed\n", id);
		exit(1);
	}
	wait_state(id, "DONE");
	return t;
}

static void
silent(void *opaque, virErrorPtr e)
{
	(void)opaque;
	(void)e;
}

/*
 * The bare call: virDomainCreateXML on a test:/// connection here, N times,
 * with FLAGS (VIR_DOMAIN_START_VALIDATE: checked against libvirt's schema).
 */
static void
bare(long n, long warm, unsigned int flags, const char *what)
{
	char uri[400], xml[1024];
	virConnectPtr c;
	virDomainPtr d;
	double *v = cld_xcalloc((size_t)n, sizeof(*v)), t0;
	long i;

	virSetErrorFunc(NULL, silent);
	snprintf(uri, sizeof(uri), "test://%s/lv.xml", dir);
	if ((c = virConnectOpen(uri)) == NULL) {
		fprintf(stderr, "bench/libvirt: cannot open '%s'\n", uri);
		exit(1);
	}
	for (i = -warm; i < n; i++) {
		snprintf(xml, sizeof(xml),
		    "<domain type='qemu'><name>bare-%ld</name>"
		    "<memory unit='KiB'>16384</memory><vcpu>1</vcpu>"
		    "<cputune><shares>10</shares></cputune>"
		    "<os><type>hvm</type><boot dev='hd'/></os><features><acpi/></features>"
		    "<devices><disk type='file' device='disk'><driver name='qemu' type='raw'/>"
		    "<source file='/srv/images/a.img'/><target dev='vda'/></disk>"
		    "<interface type='bridge'><source bridge='br0'/>"
		    "<mac address='02:00:0a:00:00:01'/><model type='virtio'/></interface>"
		    "</devices></domain>", i + warm);
		t0 = now_ms();
		if ((d = virDomainCreateXML(c, xml, flags)) == NULL) {
			fprintf(stderr, "bench/libvirt: bare create failed\n");
			exit(1);
		}
		if (i >= 0)
			v[i] = now_ms() - t0;
		virDomainDestroy(d);
		virDomainFree(d);
	}
	virConnectClose(c);
	report(what, v, n);
	free(v);
}

int
main(int argc, char **argv)
{
	double *lv, *dm;
	long n = 200, warm = 20, i;
	int ch;

	while ((ch = getopt(argc, argv, "n:w:")) != -1) {
		switch (ch) {
		case 'n': n = atol(optarg); break;
		case 'w': warm = atol(optarg); break;
		default:
			fprintf(stderr, "usage: bench/libvirt [-n LEASES] [-w WARMUP]\n");
			return 2;
		}
	}
	if (n < 1 || warm < 0) {
		fprintf(stderr, "bench/libvirt: -n must be at least 1, -w at least 0\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "/tmp/cld-bench-libvirt-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/cloudd.sock", dir);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	curl = curl_easy_init();
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	start_daemon();

	if (req("POST", "/v1/hosts",
	    "{\"name\":\"lv\",\"im\":\"libvirt\",\"vmm\":\"libvirt\"}", NULL) != 201 ||
	    req("POST", "/v1/hosts",
	    "{\"name\":\"dm\",\"im\":\"dummy\",\"vmm\":\"dummy\"}", NULL) != 201) {
		fprintf(stderr, "bench/libvirt: host create failed (are the libvirt drivers built?)\n");
		stop_daemon();
		return 1;
	}
	for (;;) {
		char *a = NULL, *b = NULL, sa[32], sb[32];

		req("GET", "/v1/hosts/lv", NULL, &a);
		req("GET", "/v1/hosts/dm", NULL, &b);
		json_str(a, "state", sa, sizeof(sa));
		json_str(b, "state", sb, sizeof(sb));
		free(a);
		free(b);
		if (strcmp(sa, "MONITORED") == 0 && strcmp(sb, "MONITORED") == 0)
			break;
		if (strcmp(sa, "ERROR") == 0) {
			fprintf(stderr, "bench/libvirt: host lv is in ERROR\n");
			stop_daemon();
			return 1;
		}
		usleep(20000);
	}

	printf("bench/libvirt: lease latency, create to RUNNING through the API, "
	    "one lease at a time, %ld each after %ld warm-up, alternating\n", n, warm);
	for (i = 0; i < warm; i++) {
		lease("lv");
		lease("dm");
	}
	lv = cld_xcalloc((size_t)n, sizeof(*lv));
	dm = cld_xcalloc((size_t)n, sizeof(*dm));
	for (i = 0; i < n; i++) {
		lv[i] = lease("lv");
		dm[i] = lease("dm");
	}
	{
		double mlv = report("vmm/libvirt on the test driver (host lv)", lv, n);
		double mdm = report("vmm/dummy, no delay (host dm)", dm, n);

		bare(n, warm, 0, "bare virDomainCreateXML");
		bare(n, warm, VIR_DOMAIN_START_VALIDATE,
		    "bare virDomainCreateXML, schema-checked");
		printf("  vmm/libvirt adds %.2f ms to the median lease over the dummy "
		    "driver\n", mlv - mdm);
	}
	free(lv);
	free(dm);
	stop_daemon();
	curl_easy_cleanup(curl);
	{
		pid_t pid = fork();

		if (pid == 0) {
			execlp("rm", "rm", "-rf", "--", dir, (char *)NULL);
			_exit(127);
		}
		waitpid(pid, NULL, 0);
	}
	return 0;
}
