/*
 * The API's HTTP side against a real libcurl client over its Unix socket:
 * requests arrive intact, who asks is known, bodies up to the limit arrive
 * byte for byte and past it are refused, connections are kept alive,
 * replies may come later from another thread, and the socket file is made,
 * guarded and removed as api.h says.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "api.h"
#include "tap.h"
#include "util.h"

#define MIB ((size_t)1 << 20)

/* ---------------------------------------------------------------- server */

/*
 * Requests the handler does not answer itself go to one "later" thread:
 * /slow waits there until the test releases it, /race is answered at once,
 * racing the handler's return.
 */
struct later_item {
	struct cld_api_req *req;
	int slow;
	struct later_item *next;
};

struct srv {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct later_item *head, *tail;
	int quit;
	int release;          /* /slow requests may be answered */
	int slow_waiting;     /* /slow requests the later thread holds */
	unsigned long calls;  /* handler calls */
	pthread_t thread;
};

static struct srv srv = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

/* Echo the request as JSON, or its body itself for /raw. */
static void
echo(struct cld_api_req *req)
{
	json_t *o = NULL;

	if (strcmp(req->path, "/raw") == 0) {
		req->status = 200;
		req->reply = cld_xmalloc(req->body_len + 1);
		memcpy(req->reply, req->body, req->body_len + 1);
		req->reply_len = req->body_len;
		req->content_type = "application/octet-stream";
		return;
	}
	o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:o}",
	    "method", req->method, "path", req->path, "query", req->query,
	    "uid", (json_int_t)req->uid, "gid", (json_int_t)req->gid,
	    "pid", (json_int_t)req->pid, "body_len", (json_int_t)req->body_len,
	    "body", json_stringn_nocheck(req->body, req->body_len));
	req->status = strcmp(req->method, "POST") == 0 ? 201 : 200;
	req->reply = json_dumps(o, JSON_COMPACT);
	req->reply_len = strlen(req->reply);
	json_decref(o);
}

static void *
later_main(void *arg)
{
	struct later_item *it = NULL;
	struct timespec ts;

	pthread_mutex_lock(&srv.lock);
	for (;;) {
		while (srv.head == NULL && !srv.quit)
			pthread_cond_wait(&srv.cond, &srv.lock);
		if (srv.head == NULL)
			break;
		it = srv.head;
		if (it->slow) {
			/* A deadline so that a broken test cannot hang. */
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 20;
			while (!srv.release &&
			    pthread_cond_timedwait(&srv.cond, &srv.lock, &ts) == 0)
				;
		}
		srv.head = it->next;
		if (srv.head == NULL)
			srv.tail = NULL;
		if (it->slow)
			srv.slow_waiting--;
		pthread_mutex_unlock(&srv.lock);
		echo(it->req);
		cld_api_reply(it->req);
		free(it);
		pthread_mutex_lock(&srv.lock);
	}
	pthread_mutex_unlock(&srv.lock);
	return NULL;
}

static void
handler(void *ctx, struct cld_api_req *req)
{
	struct later_item *it = NULL;
	int slow = strcmp(req->path, "/slow") == 0;

	pthread_mutex_lock(&srv.lock);
	srv.calls++;
	pthread_mutex_unlock(&srv.lock);
	if (!slow && strcmp(req->path, "/race") != 0) {
		echo(req);
		cld_api_reply(req);
		return;
	}
	it = cld_xcalloc(1, sizeof(*it));
	it->req = req;
	it->slow = slow;
	pthread_mutex_lock(&srv.lock);
	if (srv.tail != NULL)
		srv.tail->next = it;
	else
		srv.head = it;
	srv.tail = it;
	if (slow)
		srv.slow_waiting++;
	pthread_cond_broadcast(&srv.cond);
	pthread_mutex_unlock(&srv.lock);
	/* Sometimes return after the reply, sometimes before. */
	if (!slow && rand() % 2)
		usleep(rand() % 200);
}

static unsigned long
srv_get(const int *ip, const unsigned long *lp)
{
	unsigned long v;

	pthread_mutex_lock(&srv.lock);
	v = ip != NULL ? (unsigned long)*ip : *lp;
	pthread_mutex_unlock(&srv.lock);
	return v;
}

static void
srv_release(int release)
{
	pthread_mutex_lock(&srv.lock);
	srv.release = release;
	pthread_cond_broadcast(&srv.cond);
	pthread_mutex_unlock(&srv.lock);
}

/* Wait up to 10 s for *IP to reach WANT. */
static int
srv_wait(const int *ip, int want)
{
	for (int i = 0; i < 1000; i++) {
		if ((int)srv_get(ip, NULL) == want)
			return 1;
		usleep(10 * 1000);
	}
	return 0;
}

/* ---------------------------------------------------------------- client */

static const char *sock_path;

struct resp {
	long status;
	char *body;
	size_t len;
	long connects;
	char *ctype;
	CURLcode rc;
};

struct upload {
	const char *data;
	size_t len;
	size_t off;
};

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;

	r->body = cld_xrealloc(r->body, r->len + size * n + 1);
	memcpy(r->body + r->len, p, size * n);
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static size_t
read_cb(char *p, size_t size, size_t n, void *arg)
{
	struct upload *u = arg;
	size_t k = size * n;

	if (k > u->len - u->off)
		k = u->len - u->off;
	/* Small pieces, so that the chunked body comes in many chunks. */
	if (k > 7000)
		k = 7000;
	memcpy(p, u->data + u->off, k);
	u->off += k;
	return k;
}

static void
resp_clear(struct resp *r)
{
	free(r->body);
	free(r->ctype);
	memset(r, 0, sizeof(*r));
}

/*
 * METHOD TARGET on handle H with BODY (LEN bytes; NULL: none), chunked if
 * asked.  Fills R (cleared first).
 */
static void
request(CURL *h, const char *method, const char *target, const char *body,
    size_t len, int chunked, struct resp *r)
{
	char url[512];
	struct upload u = { body, len, 0 };
	struct curl_slist *hdrs = NULL;
	char *ct = NULL;

	resp_clear(r);
	r->body = cld_xstrdup("");
	snprintf(url, sizeof(url), "http://localhost%s", target);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock_path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	if (body != NULL && chunked) {
		hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, &u);
	} else if (body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	r->rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r->connects);
	if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK &&
	    ct != NULL)
		r->ctype = cld_xstrdup(ct);
	curl_slist_free_all(hdrs);
}

/* The reply's JSON member NAME as a string ("" if none). */
static const char *
jstr(json_t *o, const char *name)
{
	const char *s = json_string_value(json_object_get(o, name));

	return s != NULL ? s : "";
}

static json_int_t
jint(json_t *o, const char *name)
{
	return json_integer_value(json_object_get(o, name));
}

/* ---------------------------------------------------------------- tests */

static struct cld_api *
start(const char *path, unsigned int threads)
{
	struct cld_err err;
	struct cld_api *api;

	cld_err_clear(&err);
	api = cld_api_start(path, threads, handler, &srv, &err);
	if (api == NULL)
		diag("cld_api_start: %s", err.msg);
	return api;
}

static void
test_error_body(void)
{
	char *s = cld_api_error_body("bad_request", "line 1, column 2: \"}\" \\ \n");
	json_t *o = json_loads(s, 0, NULL);
	json_t *e = json_object_get(o, "error");

	is_str(jstr(e, "code"), "bad_request", "error body: the code");
	is_str(jstr(e, "message"), "line 1, column 2: \"}\" \\ \n",
	    "error body: a message with quotes, backslash and newline survives");
	is_int(json_object_size(o), 1, "error body: only \"error\" at the top");
	json_decref(o);
	free(s);

	s = cld_api_error_body("not_found", "no vm '\xff\xfe'");
	o = json_loads(s, 0, NULL);
	ok(o != NULL, "error body: a message that is not UTF-8 still gives JSON");
	is_str(jstr(json_object_get(o, "error"), "message"), "no vm '?" "?'",
	    "error body: its odd bytes are marked");
	json_decref(o);
	free(s);
}

static void
test_methods(CURL *h)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "PATCH",
		"DELETE" };
	struct resp r = { 0 };
	json_t *o = NULL;

	for (size_t i = 0; i < CLD_ARRAY_SIZE(methods); i++) {
		const char *body = strcmp(methods[i], "GET") == 0 ||
		    strcmp(methods[i], "DELETE") == 0 ? NULL : "{\"a\": [1, 2]}";

		request(h, methods[i], "/v1/vms/7?limit=5", body,
		    body ? strlen(body) : 0, 0, &r);
		is_int(r.rc, CURLE_OK, "%s: the transfer works", methods[i]);
		is_int(r.status, strcmp(methods[i], "POST") == 0 ? 201 : 200,
		    "%s: the handler's status", methods[i]);
		is_str(r.ctype, "application/json", "%s: JSON by default",
		    methods[i]);
		o = json_loads(r.body, 0, NULL);
		is_str(jstr(o, "method"), methods[i], "%s: the method arrives",
		    methods[i]);
		is_str(jstr(o, "path"), "/v1/vms/7", "%s: the path arrives",
		    methods[i]);
		is_str(jstr(o, "query"), "limit=5", "%s: the query arrives",
		    methods[i]);
		is_str(jstr(o, "body"), body ? body : "",
		    "%s: the body arrives", methods[i]);
		if (i == 0) {
			is_int(jint(o, "uid"), getuid(), "uid is the client's");
			is_int(jint(o, "gid"), getgid(), "gid is the client's");
			is_int(jint(o, "pid"), getpid(), "pid is the client's");
		}
		json_decref(o);
	}

	request(h, "GET", "/v1/vms/a%20b%2Fc%25?name=a%20b&x=1+2", NULL, 0, 0, &r);
	o = json_loads(r.body, 0, NULL);
	is_str(jstr(o, "path"), "/v1/vms/a b/c%", "the path is percent-decoded");
	is_str(jstr(o, "query"), "name=a%20b&x=1+2", "the query stays raw");
	json_decref(o);

	request(h, "GET", "/", NULL, 0, 0, &r);
	o = json_loads(r.body, 0, NULL);
	is_str(jstr(o, "query"), "", "no query gives \"\"");
	json_decref(o);
	resp_clear(&r);
}

static void
test_bodies(CURL *h)
{
	char *big = cld_xmalloc(MIB + 1);
	struct resp r = { 0 };
	unsigned long calls;
	json_t *o = NULL;
	static const char bin[] = "a\0b\xff\xfe\r\n\0";

	for (size_t i = 0; i < MIB + 1; i++)
		big[i] = (char)(i * 7 + i / 251);

	request(h, "POST", "/raw", bin, sizeof(bin), 0, &r);
	ok(r.status == 200 && r.len == sizeof(bin) &&
	    memcmp(r.body, bin, sizeof(bin)) == 0,
	    "binary bytes (NUL, 0xff, CR LF) arrive exactly");
	is_str(r.ctype, "application/octet-stream",
	    "the handler's content type is sent");

	request(h, "PUT", "/raw", big, MIB, 0, &r);
	ok(r.status == 200 && r.len == MIB && memcmp(r.body, big, MIB) == 0,
	    "a body of exactly 1 MiB arrives byte for byte");
	request(h, "POST", "/raw", big, MIB, 1, &r);
	ok(r.status == 200 && r.len == MIB && memcmp(r.body, big, MIB) == 0,
	    "a chunked body of exactly 1 MiB arrives byte for byte");

	calls = srv_get(NULL, &srv.calls);
	request(h, "POST", "/raw", big, MIB + 1, 0, &r);
	is_int(r.status, 413, "1 MiB + 1 is refused with 413");
	o = json_loads(r.body, 0, NULL);
	is_str(jstr(json_object_get(o, "error"), "code"), "too_large",
	    "with the JSON error too_large");
	ok(jstr(json_object_get(o, "error"), "message")[0] != '\0',
	    "and a message");
	json_decref(o);
	request(h, "POST", "/raw", big, MIB + 1, 1, &r);
	is_int(r.status, 413, "a chunked 1 MiB + 1 is refused with 413");
	o = json_loads(r.body, 0, NULL);
	is_str(jstr(json_object_get(o, "error"), "code"), "too_large",
	    "with the JSON error too_large");
	json_decref(o);
	is_int(srv_get(NULL, &srv.calls), calls,
	    "the handler never sees a refused body");

	request(h, "GET", "/after", NULL, 0, 0, &r);
	is_int(r.status, 200, "the server serves on after a refusal");
	resp_clear(&r);
	free(big);
}

static void
test_keepalive(CURL *h)
{
	struct resp r = { 0 };
	long connects = 0;
	int good = 0;

	for (int i = 0; i < 200; i++) {
		request(h, "GET", i % 2 ? "/v1/vms" : "/race", NULL, 0, 0, &r);
		connects += r.connects;
		good += r.rc == CURLE_OK && r.status == 200;
	}
	is_int(good, 200, "200 requests, half answered from another thread");
	is_int(connects, 0, "all on the connection already open");
	for (int i = 0; i < 50; i++) {
		request(h, "POST", "/race", "{}", 2, 0, &r);
		connects += r.connects;
	}
	is_int(connects, 0, "POSTs answered later keep the connection too");
	resp_clear(&r);
}

struct slow_arg {
	struct resp r;
	pthread_t t;
};

static void *
slow_main(void *p)
{
	struct slow_arg *a = p;
	CURL *h = curl_easy_init();

	request(h, "GET", "/slow?n=1", NULL, 0, 0, &a->r);
	curl_easy_cleanup(h);
	return NULL;
}

/* Three requests held by the core while two server threads serve others. */
static void
test_later(CURL *h)
{
	struct slow_arg slow[3];
	struct resp r = { 0 };
	int good = 0;
	json_t *o = NULL;

	srv_release(0);
	memset(slow, 0, sizeof(slow));
	for (size_t i = 0; i < CLD_ARRAY_SIZE(slow); i++)
		pthread_create(&slow[i].t, NULL, slow_main, &slow[i]);
	ok(srv_wait(&srv.slow_waiting, 3),
	    "three slow requests reach the handler (more than server threads)");
	for (int i = 0; i < 50; i++) {
		request(h, "GET", "/fast", NULL, 0, 0, &r);
		good += r.status == 200;
	}
	is_int(good, 50, "other requests are served while they wait");
	is_int(srv_get(&srv.slow_waiting, NULL), 3, "the slow ones still wait");
	srv_release(1);
	for (size_t i = 0; i < CLD_ARRAY_SIZE(slow); i++) {
		pthread_join(slow[i].t, NULL);
		o = json_loads(slow[i].r.body, 0, NULL);
		ok(slow[i].r.status == 200 &&
		    strcmp(jstr(o, "path"), "/slow") == 0 &&
		    strcmp(jstr(o, "query"), "n=1") == 0,
		    "slow request %zu gets its reply from the other thread", i);
		json_decref(o);
		resp_clear(&slow[i].r);
	}
	resp_clear(&r);
}

struct stop_arg {
	struct cld_api *api;
	pthread_t t;
	int done;
};

static void *
stop_main(void *p)
{
	struct stop_arg *a = p;

	cld_api_stop(a->api);
	pthread_mutex_lock(&srv.lock);
	a->done = 1;
	pthread_mutex_unlock(&srv.lock);
	return NULL;
}

/* Stop waits for the reply in flight and answers newcomers 503. */
static void
test_stop(struct cld_api *api, CURL *h)
{
	struct slow_arg slow;
	struct stop_arg st = { api, 0, 0 };
	struct resp r = { 0 };
	struct stat sb;
	int got503 = 0;
	json_t *o = NULL;

	srv_release(0);
	memset(&slow, 0, sizeof(slow));
	request(h, "GET", "/open", NULL, 0, 0, &r); /* a connection to reuse */
	pthread_create(&slow.t, NULL, slow_main, &slow);
	ok(srv_wait(&srv.slow_waiting, 1), "stop: a request is in flight");
	pthread_create(&st.t, NULL, stop_main, &st);
	for (int i = 0; i < 500 && !got503; i++) {
		request(h, "GET", "/late", NULL, 0, 0, &r);
		got503 = r.status == 503;
		if (!got503)
			usleep(10 * 1000);
	}
	ok(got503, "stop: a request on an open connection gets 503");
	o = json_loads(r.body, 0, NULL);
	is_str(jstr(json_object_get(o, "error"), "code"), "unavailable",
	    "stop: with the JSON error unavailable");
	json_decref(o);
	usleep(50 * 1000);
	is_int(srv_get(&st.done, NULL), 0,
	    "stop: waits for the request in flight");
	srv_release(1);
	pthread_join(slow.t, NULL);
	pthread_join(st.t, NULL);
	is_int(slow.r.status, 200, "stop: the request in flight got its reply");
	ok(lstat(sock_path, &sb) == -1 && errno == ENOENT,
	    "stop: the socket file is removed");
	resp_clear(&slow.r);
	resp_clear(&r);
}

/* A socket file left by a dead server: bound, never listened on, closed. */
static void
make_stale(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		diag("bind '%s': %s", path, strerror(errno));
	close(fd);
}

static void
test_socket_file(const char *dir)
{
	struct cld_api *api = NULL, *two = NULL;
	struct cld_err err;
	struct resp r = { 0 };
	struct stat sb;
	CURL *h = curl_easy_init();
	char *path = cld_xasprintf("%s/stale.sock", dir);
	char *file = cld_xasprintf("%s/file", dir);
	char *longp = cld_xasprintf("%s/%0200d", dir, 0);
	const char *saved = sock_path;
	FILE *f = NULL;

	sock_path = path;
	make_stale(path);
	ok(lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode),
	    "a stale socket file is there");
	api = start(path, 1);
	ok(api != NULL, "a stale socket file is replaced");
	request(h, "GET", "/x", NULL, 0, 0, &r);
	is_int(r.status, 200, "and the new server answers on it");

	cld_err_clear(&err);
	two = cld_api_start(path, 1, handler, &srv, &err);
	ok(two == NULL, "a second server on a live socket is refused");
	is_int(err.code, CLD_EBUSY, "with CLD_EBUSY");
	ok(strstr(err.msg, path) != NULL && strstr(err.msg, "in use") != NULL,
	    "naming the socket: %s", err.msg);
	cld_api_stop(two);
	request(h, "GET", "/x", NULL, 0, 0, &r);
	is_int(r.status, 200, "the first server still answers");
	cld_api_stop(api);
	ok(lstat(path, &sb) == -1 && errno == ENOENT,
	    "cld_api_stop removes the socket file");
	cld_api_stop(NULL);

	f = fopen(file, "w");
	fputs("precious\n", f);
	fclose(f);
	cld_err_clear(&err);
	two = cld_api_start(file, 1, handler, &srv, &err);
	ok(two == NULL, "a file that is not a socket is refused: %s", err.msg);
	ok(lstat(file, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 9,
	    "and left as it was");
	unlink(file);

	cld_err_clear(&err);
	two = cld_api_start(longp, 1, handler, &srv, &err);
	ok(two == NULL && err.code == CLD_EINVAL,
	    "a socket path too long is refused: %s", err.msg);

	sock_path = saved;
	resp_clear(&r);
	curl_easy_cleanup(h);
	free(path);
	free(file);
	free(longp);
}

int
main(void)
{
	char dir[] = "/tmp/cld-api-XXXXXX";
	struct cld_api *api = NULL;
	struct stat sb;
	CURL *h = NULL;
	struct resp r = { 0 };
	char *path = NULL;

	if (mkdtemp(dir) == NULL)
		skip_all("cannot make a temporary directory");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		skip_all("libcurl does not initialise");
	srand(42);
	pthread_create(&srv.thread, NULL, later_main, NULL);
	path = cld_xasprintf("%s/cloudd.sock", dir);
	sock_path = path;

	test_error_body();

	api = start(path, 2);
	ok(api != NULL, "the server starts on '%s'", path);
	if (api == NULL)
		goto cleanup;
	ok(lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode) &&
	    (sb.st_mode & 07777) == 0666,
	    "the socket file is a socket, mode 0666");

	h = curl_easy_init();
	request(h, "GET", "/first", NULL, 0, 0, &r);
	is_int(r.connects, 1, "the first request opens a connection");
	test_methods(h);
	test_bodies(h);
	curl_easy_cleanup(h); /* the refusals closed the connection */
	h = curl_easy_init();
	request(h, "GET", "/first", NULL, 0, 0, &r);
	test_keepalive(h);
	test_later(h);
	test_stop(api, h);
	api = NULL;

	test_socket_file(dir);

cleanup:
	pthread_mutex_lock(&srv.lock);
	srv.quit = 1;
	pthread_cond_broadcast(&srv.cond);
	pthread_mutex_unlock(&srv.lock);
	pthread_join(srv.thread, NULL);
	cld_api_stop(api);
	resp_clear(&r);
	if (h != NULL)
		curl_easy_cleanup(h);
	curl_global_cleanup();
	unlink(path);
	rmdir(dir);
	free(path);
	return done_testing();
}
