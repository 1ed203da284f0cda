/*
 * bench/lease: cloudd end to end, through its API, with dummy drivers that
 * take no time.  It starts the cloudd of the build tree on a fresh store in
 * a temporary directory and measures, with one libcurl client on one
 * keep-alive connection over the Unix socket:
 *
 *   leases/s   N "vm create" (POST /v1/vms), PAR in flight at once on PAR
 *              keep-alive connections, until all N are RUNNING (target:
 *              2,000/s for N = 10,000); the creates alone are reported too
 *   vm list    GET /v1/vms?limit=L of L VMs, median of several (target:
 *              under 50 ms for 20,000)
 *   vm show    GET /v1/vms/ID requests/s (target: 10,000/s)
 *   memory     cloudd's VmRSS per VM once M VMs exist (target: under
 *              4 KiB per VM for 100,000)
 *
 *	bench/lease [-n LEASES] [-l LIST] [-s SHOWS] [-m VMS] [-H HOSTS] [-p PAR] [-N]
 *
 * With -N each VM of the leases/s run has a NIC on a network just big
 * enough for LEASES (a /22 for 1,000), so that each lease also leases an
 * address: "bench/lease -N -n 1000" is 1,000 VMs leasing a /22 at once.
 *
 * Run from the build directory (it runs ./core/cloudd and loads
 * ./drivers/...).  Defaults: -n 10000 -l 20000 -s 20000 -m 100000 -H 1000
 * -p 16.  vm list and vm show use one connection.
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

/* One request; returns the HTTP status, the body in *out (caller frees). */
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
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
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
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	}
	rc = curl_easy_perform(curl);
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		fprintf(stderr, "bench/lease: %s %s: %s\n", method, path,
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

static void
must(long status, long want, const char *what)
{
	if (status != want) {
		fprintf(stderr, "bench/lease: %s: HTTP %ld, expected %ld\n", what,
		    status, want);
		exit(1);
	}
}

static double
now_s(void)
{
	return (double)cld_now_ms() / 1000.0;
}

static long
count(const char *state)
{
	char path[128], *out = NULL;
	json_t *o;
	long n;

	snprintf(path, sizeof(path), "/v1/vms?limit=1%s%s", state ? "&state=" : "",
	    state ? state : "");
	must(req("GET", path, NULL, &out), 200, "count");
	o = json_loads(out, 0, NULL);
	n = (long)json_integer_value(json_object_get(o, "total"));
	json_decref(o);
	free(out);
	return n;
}

static long
rss_kib(pid_t pid)
{
	char path[64], line[256];
	FILE *f;
	long kib = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
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
start_daemon(void)
{
	char conf[600], cwd[400];
	FILE *f;
	int i;

	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		perror("getcwd");
		exit(1);
	}

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
	    "SCHED = [ INTERVAL = 0.1 ]\nWORKERS = 4\n"
	    "VMM_DRIVER = [ NAME = \"dummy\" ]\n"
	    "IM_DRIVER = [ NAME = \"dummy\", TOTALCPU = 12800, TOTALMEMORY = 268435456 ]\n"
	    "TM_DRIVER = [ NAME = \"dummy\" ]\nNET_DRIVER = [ NAME = \"dummy\" ]\n",
	    cwd, cwd, cwd, cwd, dir, sock, dir, dir);
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

static size_t
discard(char *data, size_t size, size_t n, void *ctx)
{
	(void)data;
	(void)ctx;
	return size * n;
}

/*
 * Create N VMs with PAR requests in flight at once (each on its own
 * keep-alive connection, as PAR users would); returns the seconds taken.
 */
static long par = 16;

static double
create(long n, const char *tmpl)
{
	char body[512];
	double t0 = now_s();
	CURLM *m = curl_multi_init();
	CURL **h = cld_xcalloc((size_t)par, sizeof(*h));
	struct curl_slist *hdr = curl_slist_append(NULL,
	    "Content-Type: application/json");
	long sent = 0, done = 0;
	int running;

	snprintf(body, sizeof(body), "{\"template\":\"%s\"}", tmpl);
	for (long i = 0; i < par; i++) {
		h[i] = curl_easy_init();
		curl_easy_setopt(h[i], CURLOPT_UNIX_SOCKET_PATH, sock);
		curl_easy_setopt(h[i], CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h[i], CURLOPT_URL, "http://localhost/v1/vms");
		curl_easy_setopt(h[i], CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(h[i], CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, discard);
		if (sent < n) {
			curl_multi_add_handle(m, h[i]);
			sent++;
		}
	}
	while (done < n) {
		CURLMsg *msg;
		int left;

		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			long status = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle,
			    CURLINFO_RESPONSE_CODE, &status);
			if (msg->data.result != CURLE_OK || status != 201) {
				fprintf(stderr, "bench/lease: vm create: %s, HTTP %ld\n",
				    curl_easy_strerror(msg->data.result), status);
				exit(1);
			}
			done++;
			curl_multi_remove_handle(m, msg->easy_handle);
			if (sent < n) {
				curl_multi_add_handle(m, msg->easy_handle);
				sent++;
			}
		}
		if (done < n)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	for (long i = 0; i < par; i++)
		curl_easy_cleanup(h[i]);
	free(h);
	curl_slist_free_all(hdr);
	curl_multi_cleanup(m);
	return now_s() - t0;
}

static void
wait_running(long want)
{
	while (count("RUNNING") < want)
		usleep(10000);
}

int
main(int argc, char **argv)
{
	long n = 10000, list = 20000, shows = 20000, mem = 100000, hosts = 1000;
	double t0, t_create, t_all, times[9];
	long rss0, rss1, have;
	int ch, nics = 0;

	while ((ch = getopt(argc, argv, "n:l:s:m:H:p:N")) != -1) {
		switch (ch) {
		case 'N': nics = 1; break;
		case 'p': par = atol(optarg); break;
		case 'n': n = atol(optarg); break;
		case 'l': list = atol(optarg); break;
		case 's': shows = atol(optarg); break;
		case 'm': mem = atol(optarg); break;
		case 'H': hosts = atol(optarg); break;
		default:
			fprintf(stderr, "usage: bench/lease [-n LEASES] [-l LIST] "
			    "[-s SHOWS] [-m VMS] [-H HOSTS] [-p PAR] [-N]\n");
			return 2;
		}
	}
	snprintf(dir, sizeof(dir), "/tmp/cld-bench-lease-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/cloudd.sock", dir);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	curl = curl_easy_init();
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	start_daemon();

	printf("bench/lease: cloudd through its API, dummy drivers with no delay, "
	    "one keep-alive client\n");
	for (long h = 0; h < hosts; h++) {
		char body[128];

		snprintf(body, sizeof(body),
		    "{\"name\":\"node%ld\",\"im\":\"dummy\",\"vmm\":\"dummy\"}", h);
		must(req("POST", "/v1/hosts", body, NULL), 201, "host create");
	}
	/* Every host monitored once before the clock starts. */
	for (;;) {
		char *out = NULL;
		char path[64];

		snprintf(path, sizeof(path), "/v1/hosts/node%ld", hosts - 1);
		req("GET", path, NULL, &out);
		if (strstr(out, "\"MONITORED\"") != NULL) {
			free(out);
			break;
		}
		free(out);
		usleep(20000);
	}
	sleep(1);
	rss0 = rss_kib(daemon_pid);

	/* 1. leases/s */
	if (nics) {
		char body[160];
		int prefix = 30;

		/* The smallest block that holds N addresses. */
		while (prefix > 8 && (1L << (32 - prefix)) - 2 < n)
			prefix--;
		snprintf(body, sizeof(body), "{\"template\":\"NAME = bench\\n"
		    "BRIDGE = br0\\nNETWORK_ADDRESS = \\\"10.0.0.0/%d\\\"\\n\"}",
		    prefix);
		must(req("POST", "/v1/vnets", body, NULL), 201, "vnet create");
		printf("  (each VM with a NIC on a /%d of %ld addresses)\n", prefix,
		    (1L << (32 - prefix)) - 2);
	}
	t0 = now_s();
	t_create = create(n, nics ? "CPU = 0.01\\nMEMORY = 16\\n"
	    "DISK = [ SOURCE = \\\"/img/a\\\", TARGET = \\\"xvda\\\" ]\\n"
	    "NIC = [ NETWORK = \\\"bench\\\" ]\\n" :
	    "CPU = 0.01\\nMEMORY = 16\\n"
	    "DISK = [ SOURCE = \\\"/img/a\\\", TARGET = \\\"xvda\\\" ]\\n");
	wait_running(n);
	t_all = now_s() - t0;
	printf("  leases: %ld VMs created (%ld requests in flight) and RUNNING on "
	    "%ld hosts in %.2f s: %.0f leases/s (target 2000); the creates "
	    "alone %.0f/s\n", n, par, hosts, t_all, n / t_all, n / t_create);

	/* 2. vm list of LIST VMs */
	have = count(NULL);
	if (have < list) {
		create(list - have, "CPU = 0.01\\nMEMORY = 16\\n");
		wait_running(list);
	}
	{
		char path[64];

		snprintf(path, sizeof(path), "/v1/vms?limit=%ld", list);
		req("GET", path, NULL, NULL);      /* warm-up */
		for (int i = 0; i < 9; i++) {
			double t = now_s();

			must(req("GET", path, NULL, NULL), 200, "vm list");
			times[i] = (now_s() - t) * 1000;
		}
		qsort(times, 9, sizeof(double), cmp_double);
		printf("  vm list of %ld VMs: median %.1f ms (min %.1f, max %.1f; "
		    "target < 50 ms)\n", list, times[4], times[0], times[8]);
	}

	/* 3. vm show requests/s, several runs */
	{
		double rates[5];

		for (int r = 0; r < 5; r++) {
			double t = now_s();

			for (long i = 0; i < shows / 5; i++) {
				char path[64];

				snprintf(path, sizeof(path), "/v1/vms/%ld", i % n);
				must(req("GET", path, NULL, NULL), 200, "vm show");
			}
			rates[r] = (shows / 5) / (now_s() - t);
		}
		qsort(rates, 5, sizeof(double), cmp_double);
		printf("  vm show: median %.0f requests/s (min %.0f, max %.0f; "
		    "target 10000)\n", rates[2], rates[0], rates[4]);
	}

	/* 4. memory with MEM VMs */
	have = count(NULL);
	rss1 = rss_kib(daemon_pid);
	if (have < mem) {
		create(mem - have, "CPU = 0.01\\nMEMORY = 16\\n");
		wait_running(mem);
	}
	sleep(1);
	rss1 = rss_kib(daemon_pid);
	printf("  memory: VmRSS %ld KiB with %ld VMs on %ld hosts, %ld KiB before "
	    "any VM: %.2f KiB per VM (target < 4)\n", rss1, mem, hosts, rss0,
	    (double)(rss1 - rss0) / mem);

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
