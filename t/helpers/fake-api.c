/*
 * fake-api: a stand-in for cloudd's API, for cloudctl's tests only.
 *
 *   fake-api DIR SOCKET LOG
 *
 * Serves HTTP on the Unix socket SOCKET (created here; a stale file is
 * replaced) and answers each request from a canned file:
 *
 *	DIR/METHOD/PATH?QUERY.json, else DIR/METHOD/PATH.json
 *
 * e.g. DIR/GET/v1/hosts.json or DIR/GET/v1/vms?offset=0&limit=1000.json,
 * QUERY rebuilt from the request's arguments in their order.  A file's first
 * line is the HTTP status, the rest the body sent as it is.  A request with
 * no file gets 404 {"error": {"code": "not_found", "message": "fake-api: no
 * reply for METHOD PATH"}}.
 *
 * Every request is appended to LOG as one line: "METHOD PATH[?QUERY]",
 * then, when it had a body, a space and the body as received.
 *
 * Prints "ready" on stdout once it accepts requests, runs until SIGTERM or
 * SIGINT, then removes SOCKET.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "util.h"

struct fake {
	const char *dir;
	const char *log;
};

struct request {
	char *body;
	size_t len;
};

struct query {
	char buf[4096];
	size_t len;
	int truncated;
};

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static enum MHD_Result
add_arg(void *ctx, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct query *q = ctx;
	int n;

	(void)kind;
	n = snprintf(q->buf + q->len, sizeof(q->buf) - q->len, "%s%s%s%s",
	    q->len ? "&" : "", key, value ? "=" : "", value ? value : "");
	if (n < 0 || (size_t)n >= sizeof(q->buf) - q->len) {
		q->truncated = 1;
		return MHD_NO;
	}
	q->len += (size_t)n;
	return MHD_YES;
}

/* The canned file's contents for METHOD URL[?QUERY], or NULL. */
static char *
canned(const struct fake *f, const char *method, const char *url,
    const char *query, size_t *len)
{
	struct cld_err err;
	char *path = NULL, *text = NULL;

	if (strstr(url, "..") != NULL)
		return NULL;
	if (*query) {
		path = cld_xasprintf("%s/%s%s?%s.json", f->dir, method, url, query);
		text = cld_read_file(path, len, &err);
		free(path);
	}
	if (text == NULL) {
		path = cld_xasprintf("%s/%s%s.json", f->dir, method, url);
		text = cld_read_file(path, len, &err);
		free(path);
	}
	return text;
}

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned int status, const char *body,
    size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len,
	    (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_len, void **con_cls)
{
	struct fake *f = cls;
	struct request *req = *con_cls;
	struct query q;
	enum MHD_Result ret;
	char *text = NULL, *nl = NULL, *msg = NULL;
	size_t len = 0;
	FILE *log = NULL;

	(void)version;
	if (req == NULL) {
		*con_cls = cld_xcalloc(1, sizeof(*req));
		return MHD_YES;
	}
	if (*upload_len > 0) {
		req->body = cld_xrealloc(req->body, req->len + *upload_len + 1);
		memcpy(req->body + req->len, upload, *upload_len);
		req->len += *upload_len;
		req->body[req->len] = '\0';
		*upload_len = 0;
		return MHD_YES;
	}

	memset(&q, 0, sizeof(q));
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, &q);
	log = fopen(f->log, "a");
	if (log != NULL) {
		fprintf(log, "%s %s%s%s", method, url, q.len ? "?" : "", q.buf);
		if (req->len > 0) {
			fputc(' ', log);
			fwrite(req->body, 1, req->len, log);
		}
		fputc('\n', log);
		fclose(log);
	}

	text = canned(f, method, url, q.buf, &len);
	if (text == NULL) {
		msg = cld_xasprintf("{\"error\": {\"code\": \"not_found\", "
		    "\"message\": \"fake-api: no reply for %s %s\"}}",
		    method, url);
		ret = reply(conn, 404, msg, strlen(msg));
		free(msg);
		return ret;
	}
	nl = strchr(text, '\n');
	if (nl == NULL)
		nl = text + len;
	ret = reply(conn, (unsigned int)strtoul(text, NULL, 10),
	    nl + (*nl ? 1 : 0), len - (size_t)(nl - text) - (*nl ? 1 : 0));
	free(text);
	return ret;
}

static void
completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct request *req = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (req != NULL) {
		free(req->body);
		free(req);
	}
	*con_cls = NULL;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sun;
	struct fake f;
	struct MHD_Daemon *d = NULL;
	struct sigaction sa;
	int fd = -1;

	if (argc != 4) {
		fprintf(stderr, "usage: fake-api DIR SOCKET LOG\n");
		return 2;
	}
	f.dir = argv[1];
	f.log = argv[3];
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(argv[2]) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "fake-api: socket path '%s' is too long\n",
		    argv[2]);
		return 1;
	}
	memcpy(sun.sun_path, argv[2], strlen(argv[2]) + 1);
	unlink(argv[2]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    listen(fd, 64) != 0) {
		fprintf(stderr, "fake-api: cannot listen on '%s': %s\n",
		    argv[2], strerror(errno));
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, handle, &f,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
	    MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "fake-api: libmicrohttpd did not start\n");
		close(fd);
		unlink(argv[2]);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop)
		pause();
	MHD_stop_daemon(d);
	close(fd);
	unlink(argv[2]);
	return 0;
}
