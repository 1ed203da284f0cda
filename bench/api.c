/*
 * bench/api: requests per second through the API's HTTP side.
 *
 * One libcurl client on one keep-alive connection sends GET /v1/vms/42 over
 * a Unix socket to three servers, each answering the same JSON (a VM of
 * about 400 bytes), each with the same MHD threading (internal polling, a
 * pool of THREADS):
 *
 *   A  bare libmicrohttpd, a static response: the yardstick (BENCH.md:
 *      about 18,000 req/s on the development machines)
 *   B  cld_api, the handler replies at once on the server thread
 *   C  cld_api, the handler hands the request to another thread that
 *      replies, as the core's loop will (the connection is suspended and
 *      resumed)
 *
 * After a warm-up, runs alternate A B C; each run counts N requests.  It
 * prints the median, min and max requests/s of each and the ratios B/A and
 * C/A.  The target for "cloudctl vm show" through the whole core is 10,000
 * req/s; B and C bound what the core can reach.
 *
 *	bench/api [-n REQUESTS] [-r RUNS] [-t THREADS] [-s SERVERS]
 *
 * -s picks the servers to run, e.g. -s C for one alone under perf.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "api.h"
#include "util.h"

static const char vm_json[] =
    "{\"id\":42,\"name\":\"web-42\",\"uid\":1000,\"gid\":100,"
    "\"state\":\"RUNNING\",\"short\":\"runn\",\"host\":\"node1\","
    "\"host_id\":3,\"cpu\":0.5,\"vcpu\":1,\"memory\":512,"
    "\"usage\":{\"cpu\":3.5,\"memory\":262144,\"netrx\":1048576,"
    "\"nettx\":524288},\"reason\":null,\"failed\":null,"
    "\"stime\":1764100000,\"etime\":0,\"progress\":null,"
    "\"template\":\"NAME = web-42\\nCPU = 0.5\\nMEMORY = 512\\n\","
    "\"history\":[{\"seq\":0,\"host\":\"node1\",\"host_id\":3,"
    "\"start\":1764100000,\"reason\":\"USER\"}]}";

/* ------------------------------------------------------------ A: bare MHD */

static struct MHD_Response *bare_resp;

static enum MHD_Result
bare_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	static int first;

	if (*con_cls == NULL) {
		*con_cls = &first;
		return MHD_YES;
	}
	*upload_data_size = 0;
	return MHD_queue_response(conn, MHD_HTTP_OK, bare_resp);
}

static int
bare_listen(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		fprintf(stderr, "bench/api: cannot listen on '%s': %s\n", path,
		    strerror(errno));
		exit(1);
	}
	return fd;
}

/* ------------------------------------------------------------ B and C */

static void
reply_vm(struct cld_api_req *req)
{
	req->status = 200;
	req->reply = cld_xstrndup(vm_json, sizeof(vm_json) - 1);
	req->reply_len = sizeof(vm_json) - 1;
	cld_api_reply(req);
}

static void
handler_now(void *ctx, struct cld_api_req *req)
{
	reply_vm(req);
}

/* C: a queue to a "loop" thread, as the core will have. */
struct loop {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct cld_api_req **q;
	size_t head, n, cap;
	int quit;
	pthread_t thread;
};

static struct loop loop = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static void
handler_loop(void *ctx, struct cld_api_req *req)
{
	pthread_mutex_lock(&loop.lock);
	if (loop.n == loop.cap) {
		size_t cap = loop.cap ? loop.cap * 2 : 64;
		struct cld_api_req **q = cld_xcalloc(cap, sizeof(*q));

		for (size_t i = 0; i < loop.n; i++)
			q[i] = loop.q[(loop.head + i) % loop.cap];
		free(loop.q);
		loop.q = q;
		loop.head = 0;
		loop.cap = cap;
	}
	loop.q[(loop.head + loop.n++) % loop.cap] = req;
	pthread_cond_signal(&loop.cond);
	pthread_mutex_unlock(&loop.lock);
}

static void *
loop_main(void *arg)
{
	struct cld_api_req *req = NULL;

	pthread_mutex_lock(&loop.lock);
	for (;;) {
		while (loop.n == 0 && !loop.quit)
			pthread_cond_wait(&loop.cond, &loop.lock);
		if (loop.n == 0)
			break;
		req = loop.q[loop.head];
		loop.head = (loop.head + 1) % loop.cap;
		loop.n--;
		pthread_mutex_unlock(&loop.lock);
		reply_vm(req);
		pthread_mutex_lock(&loop.lock);
	}
	pthread_mutex_unlock(&loop.lock);
	return NULL;
}

/* ------------------------------------------------------------ client */

static size_t
sink(char *p, size_t size, size_t n, void *arg)
{
	size_t *total = arg;

	*total += size * n;
	return size * n;
}

/* N requests on handle H to the socket PATH; returns requests/s. */
static double
run(CURL *h, const char *path, long n)
{
	size_t total = 0;
	long status = 0, bad = 0, connects = 0, c = 0;
	int64_t t0;
	double secs;

	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, path);
	curl_easy_setopt(h, CURLOPT_URL, "http://localhost/v1/vms/42");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &total);
	t0 = cld_now_ms();
	for (long i = 0; i < n; i++) {
		if (curl_easy_perform(h) != CURLE_OK ||
		    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) !=
			CURLE_OK ||
		    status != 200)
			bad++;
		curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &c);
		connects += c;
	}
	secs = (double)(cld_now_ms() - t0) / 1000.0;
	if (bad > 0 || total != (size_t)n * (sizeof(vm_json) - 1))
		fprintf(stderr, "bench/api: %ld failed requests, %zu bytes\n",
		    bad, total);
	if (connects > 1)
		fprintf(stderr, "bench/api: %ld connections for one client\n",
		    connects);
	return secs > 0 ? (double)n / secs : 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	static const char *const names[] = {
		"A bare libmicrohttpd, static reply",
		"B cld_api, handler replies at once",
		"C cld_api, another thread replies",
	};
	char dir[] = "/tmp/cld-bench-api-XXXXXX";
	char *paths[3];
	long n = 20000;
	int runs = 7, opt;
	unsigned int threads = 2;
	const char *servers = "ABC";
	double *rps[3], med[3];
	struct MHD_Daemon *bare = NULL;
	struct cld_api *b = NULL, *c = NULL;
	struct cld_err err;
	CURL *h[3];

	while ((opt = getopt(argc, argv, "n:r:t:s:")) != -1) {
		switch (opt) {
		case 'n': n = atol(optarg); break;
		case 'r': runs = atoi(optarg); break;
		case 't': threads = (unsigned int)atoi(optarg); break;
		case 's': servers = optarg; break;
		default:
			fprintf(stderr,
			    "usage: bench/api [-n REQUESTS] [-r RUNS] [-t THREADS] "
			    "[-s SERVERS]\n");
			return 2;
		}
	}
	if (n < 1 || runs < 1 || threads < 1) {
		fprintf(stderr, "bench/api: -n, -r and -t must be positive\n");
		return 2;
	}
	if (mkdtemp(dir) == NULL) {
		perror("bench/api: mkdtemp");
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (int i = 0; i < 3; i++) {
		paths[i] = cld_xasprintf("%s/%c.sock", dir, 'a' + i);
		rps[i] = cld_xcalloc((size_t)runs, sizeof(double));
	}

	bare_resp = MHD_create_response_from_buffer(sizeof(vm_json) - 1,
	    (void *)vm_json, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(bare_resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json");
	if (threads > 1)
		bare = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD |
			MHD_USE_ERROR_LOG, 0, NULL, NULL, bare_access, NULL,
		    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)bare_listen(paths[0]),
		    MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_END);
	else
		bare = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD |
			MHD_USE_ERROR_LOG, 0, NULL, NULL, bare_access, NULL,
		    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)bare_listen(paths[0]),
		    MHD_OPTION_END);
	b = cld_api_start(paths[1], threads, handler_now, NULL, &err);
	if (b != NULL)
		c = cld_api_start(paths[2], threads, handler_loop, NULL, &err);
	if (bare == NULL || b == NULL || c == NULL) {
		fprintf(stderr, "bench/api: cannot start the servers: %s\n",
		    bare == NULL ? "bare MHD" : err.msg);
		return 1;
	}
	pthread_create(&loop.thread, NULL, loop_main, NULL);

	printf("bench/api: GET /v1/vms/42 (%zu-byte JSON reply), one libcurl "
	       "keep-alive client, Unix socket, %u server thread(s)\n",
	    sizeof(vm_json) - 1, threads);
	printf("bench/api: %ld requests per run, %d runs alternating A B C "
	       "after a warm-up\n", n, runs);
	for (int i = 0; i < 3; i++) {
		h[i] = curl_easy_init();
		if (strchr(servers, 'A' + i) != NULL)
			run(h[i], paths[i], n / 5 > 1000 ? n / 5 : 1000);
	}
	for (int r = 0; r < runs; r++)
		for (int i = 0; i < 3; i++)
			if (strchr(servers, 'A' + i) != NULL)
				rps[i][r] = run(h[i], paths[i], n);
	for (int i = 0; i < 3; i++) {
		if (strchr(servers, 'A' + i) == NULL)
			continue;
		qsort(rps[i], (size_t)runs, sizeof(double), cmp_double);
		med[i] = runs % 2 ? rps[i][runs / 2] :
		    (rps[i][runs / 2 - 1] + rps[i][runs / 2]) / 2;
		printf("%-38s median %8.0f  min %8.0f  max %8.0f req/s\n",
		    names[i], med[i], rps[i][0], rps[i][runs - 1]);
	}
	if (strcmp(servers, "ABC") == 0)
		printf("ratio B/A %.2f  C/A %.2f  (target for vm show through the "
	       "core: 10000 req/s)\n", med[1] / med[0], med[2] / med[0]);

	for (int i = 0; i < 3; i++)
		curl_easy_cleanup(h[i]);
	cld_api_stop(b);
	cld_api_stop(c);
	pthread_mutex_lock(&loop.lock);
	loop.quit = 1;
	pthread_cond_signal(&loop.cond);
	pthread_mutex_unlock(&loop.lock);
	pthread_join(loop.thread, NULL);
	MHD_stop_daemon(bare);
	MHD_destroy_response(bare_resp);
	unlink(paths[0]);
	for (int i = 0; i < 3; i++) {
		free(paths[i]);
		free(rps[i]);
	}
	free(loop.q);
	rmdir(dir);
	curl_global_cleanup();
	return 0;
}
