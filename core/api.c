/*
 * The API's HTTP side (see api.h): libmicrohttpd on a Unix socket.
 *
 * One request is one struct api_call, made by the URI log callback (the
 * only place MHD shows the raw request target, query included) and freed by
 * the completion callback.  The call lives on after cld_api_reply(): the
 * reply may be given on another thread before the handler has even
 * returned, and the MHD thread still has to queue it.
 *
 * A call goes READING (body arriving) -> HANDLING (the handler has it) ->
 * SUSPENDED (the handler returned without a reply: the connection is
 * suspended so that no server thread waits for the core) -> REPLIED.  The
 * HANDLING -> SUSPENDED and -> REPLIED moves are made under api->lock, and
 * MHD_suspend_connection() is called under it too, so that a reply never
 * resumes a connection that is not yet suspended and never misses one that
 * is.  A reply that beats the handler's return is queued at once by the
 * server thread (no suspend, no wake-up): the fast path for requests the
 * core answers immediately.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api.h"
#include "log.h"
#include "util.h"

/*
 * An idle keep-alive connection is closed after this many seconds, so that
 * forgotten clients do not pile up; a suspended one (waiting for the core)
 * is never timed out by MHD.
 */
#define API_IDLE_TIMEOUT 120

/* 413 has had two names in MHD's headers; the older one now warns. */
#define API_HTTP_TOO_LARGE 413

struct cld_api {
	struct MHD_Daemon *mhd;
	char *path;
	dev_t dev;                 /* the socket file we made, so that stop */
	ino_t ino;                 /* removes ours and not a successor's */
	cld_api_handler fn;
	void *ctx;

	pthread_mutex_t lock;      /* the calls' states, inflight, stopping */
	pthread_cond_t idle;       /* inflight dropped to 0 */
	unsigned long inflight;    /* handed to the handler, reply not yet sent */
	int stopping;
};

/* Who is at the other end of a connection, learnt once when it opens. */
struct api_peer {
	int known;
	uid_t uid;
	gid_t gid;
	pid_t pid;
};

enum api_state {
	API_READING,
	API_HANDLING,
	API_SUSPENDED,
	API_REPLIED,
};

struct api_call {
	struct cld_api_req req;
	struct cld_api *api;
	struct MHD_Connection *conn;
	char *uri;                 /* the raw request target */
	int started;               /* the access handler has seen the headers */
	int too_large;             /* the body passed CLD_API_MAX_BODY: dropped */
	enum api_state state;      /* under api->lock from HANDLING on */
	char *body;
	size_t len;
	size_t cap;
};

static CLD_PRINTF(2, 0) void
api_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	/* MHD's messages end with a newline; ours do not. */
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	cld_log(CLD_LOG_WARN, "api: %s", line);
}

char *
cld_api_error_body(const char *code, const char *msg)
{
	json_t *o = NULL;
	char *s = NULL, *clean = NULL;
	size_t n, i;

	if (code == NULL)
		code = "internal";
	if (msg == NULL)
		msg = "";
	o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
	if (o == NULL) {
		/*
		 * jansson refuses what is not UTF-8, and a message may quote
		 * a user's bytes: keep the ASCII, mark the rest.
		 */
		clean = cld_xstrdup(msg);
		for (i = 0; clean[i] != '\0'; i++)
			if ((unsigned char)clean[i] >= 0x80)
				clean[i] = '?';
		o = json_pack("{s:{s:s,s:s}}", "error", "code", code,
		    "message", clean);
		if (o == NULL)
			o = json_pack("{s:{s:s,s:s}}", "error", "code",
			    "internal", "message", "unprintable error");
		if (o == NULL)
			abort(); /* only out of memory gets here */
	}
	/*
	 * Dump into our own allocation so that the caller frees it with
	 * free() whatever allocator jansson was given.
	 */
	n = json_dumpb(o, NULL, 0, JSON_COMPACT);
	if (n == 0)
		abort();
	s = cld_xmalloc(n + 1);
	if (json_dumpb(o, s, n, JSON_COMPACT) != n)
		abort();
	s[n] = '\0';
	json_decref(o);
	free(clean);
	return s;
}

/* Queue STATUS with BODY (malloc()ed, taken over, may be NULL). */
static enum MHD_Result
api_respond(struct MHD_Connection *conn, unsigned int status, char *body,
    size_t len, const char *content_type, const char *allow)
{
	struct MHD_Response *resp = NULL;
	enum MHD_Result ret = MHD_NO;

	if (body == NULL)
		len = 0;
	resp = MHD_create_response_from_buffer(len, body,
	    body != NULL ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		free(body);
		log_warnx("api: cannot make a response");
		goto cleanup;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		content_type != NULL ? content_type : "application/json") !=
	    MHD_YES)
		goto cleanup;
	if (allow != NULL && MHD_add_response_header(resp, "Allow", allow) !=
	    MHD_YES)
		goto cleanup;
	ret = MHD_queue_response(conn, status, resp);
cleanup:
	if (resp != NULL)
		MHD_destroy_response(resp);
	return ret;
}

/* An error reply made here, without the handler. */
static enum MHD_Result
api_respond_error(struct MHD_Connection *conn, unsigned int status,
    const char *code, const char *msg)
{
	char *body = cld_api_error_body(code, msg);

	return api_respond(conn, status, body, strlen(body), NULL, NULL);
}

/* Queue the reply the handler gave.  Server thread, after REPLIED. */
static enum MHD_Result
api_send_reply(struct api_call *c)
{
	struct cld_api_req *req = &c->req;
	char *reply = req->reply;
	int status = req->status;

	req->reply = NULL; /* the response owns it now */
	if (status < 100 || status > 599) {
		log_warnx("api: %s '%s': handler gave status %d", req->method,
		    req->path, status);
		free(reply);
		return api_respond_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "internal", "the handler gave no valid status");
	}
	return api_respond(c->conn, (unsigned int)status, reply,
	    req->reply_len, req->content_type,
	    status == MHD_HTTP_METHOD_NOT_ALLOWED ? req->allow : NULL);
}

static void *
api_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct api_call *c = cld_xcalloc(1, sizeof(*c));

	c->api = cls;
	c->conn = conn;
	c->uri = cld_xstrdup(uri != NULL ? uri : "");
	c->req.priv = c;
	return c;
}

static void
api_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct cld_api *api = cls;
	struct api_call *c = *con_cls;

	if (c == NULL)
		return;
	*con_cls = NULL;
	/*
	 * Only a call that never reached the handler or was replied to ends
	 * here: MHD never closes a suspended connection, and cld_api_stop()
	 * waits for every call the handler had.  It waits until here, when
	 * the reply is written, not merely given: MHD_stop_daemon() would
	 * close a resumed connection before its reply went out.
	 */
	pthread_mutex_lock(&api->lock);
	if (c->state != API_READING && --api->inflight == 0)
		pthread_cond_broadcast(&api->idle);
	pthread_mutex_unlock(&api->lock);
	free(c->req.reply);
	free(c->body);
	free(c->uri);
	free(c);
}

static void
api_notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	const union MHD_ConnectionInfo *info = NULL;
	struct api_peer *peer = NULL;
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		free(*socket_context);
		*socket_context = NULL;
		return;
	}
	peer = cld_xcalloc(1, sizeof(*peer));
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (info != NULL &&
	    getsockopt(info->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred,
		&len) == 0 &&
	    len == sizeof(cred)) {
		peer->known = 1;
		peer->uid = cred.uid;
		peer->gid = cred.gid;
		peer->pid = cred.pid;
	} else {
		log_warn("api: cannot learn a client's credentials");
	}
	*socket_context = peer;
}

/* The first call for a request: its headers are in. */
static enum MHD_Result
api_start_call(struct api_call *c, struct MHD_Connection *conn)
{
	const char *cl = NULL;
	uint64_t n = 0;

	c->started = 1;
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl == NULL || cld_parse_u64(cl, &n) == -1)
		return MHD_YES; /* chunked, or MHD refuses it itself */
	if (n > CLD_API_MAX_BODY) {
		/*
		 * Refuse before reading: MHD then sends no "100 Continue",
		 * skips the body and closes the connection after the reply.
		 */
		c->too_large = 1;
		return api_respond_error(conn, API_HTTP_TOO_LARGE,
		    "too_large", "the request body is over 1 MiB");
	}
	if (n > 0) {
		c->cap = (size_t)n + 1;
		c->body = cld_xmalloc(c->cap);
	}
	return MHD_YES;
}

/* Some of the body: keep it, unless the whole is too large. */
static void
api_add_body(struct api_call *c, const char *data, size_t size)
{
	if (c->too_large)
		return;
	if (size > CLD_API_MAX_BODY - c->len) {
		/* Chunked and too long: drop what we have and the rest. */
		c->too_large = 1;
		free(c->body);
		c->body = NULL;
		c->len = c->cap = 0;
		return;
	}
	if (c->len + size + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;

		while (cap < c->len + size + 1)
			cap *= 2;
		if (cap > CLD_API_MAX_BODY + 1)
			cap = CLD_API_MAX_BODY + 1;
		c->body = cld_xrealloc(c->body, cap);
		c->cap = cap;
	}
	memcpy(c->body + c->len, data, size);
	c->len += size;
}

/* The whole request is in: hand it to the handler. */
static enum MHD_Result
api_dispatch(struct cld_api *api, struct api_call *c,
    struct MHD_Connection *conn, const char *url, const char *method)
{
	const union MHD_ConnectionInfo *info = NULL;
	const struct api_peer *peer = NULL;
	struct cld_api_req *req = &c->req;
	char *q = NULL;
	enum MHD_Result ret = MHD_YES;

	if (c->too_large)
		return api_respond_error(conn, API_HTTP_TOO_LARGE,
		    "too_large", "the request body is over 1 MiB");
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (info != NULL)
		peer = info->socket_context;
	if (peer == NULL || !peer->known)
		/* Never guess who asks: an unknown peer is nobody. */
		return api_respond_error(conn, MHD_HTTP_FORBIDDEN, "forbidden",
		    "cannot identify the client");

	pthread_mutex_lock(&api->lock);
	if (api->stopping) {
		pthread_mutex_unlock(&api->lock);
		return api_respond_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "unavailable", "cloudd is stopping");
	}
	api->inflight++;
	pthread_mutex_unlock(&api->lock);

	/* MHD's url is the path, already percent-decoded. */
	q = strchr(c->uri, '?');
	req->method = method;
	req->path = url;
	req->query = q != NULL ? q + 1 : "";
	req->uid = peer->uid;
	req->gid = peer->gid;
	req->pid = peer->pid;
	if (c->body == NULL)
		c->body = cld_xstrdup("");
	c->body[c->len] = '\0';
	req->body = c->body;
	req->body_len = c->len;
	req->status = 0;
	req->reply = NULL;
	req->reply_len = 0;
	req->content_type = NULL;
	req->allow = NULL;
	c->state = API_HANDLING;

	api->fn(api->ctx, req);

	pthread_mutex_lock(&api->lock);
	if (c->state == API_REPLIED) {
		pthread_mutex_unlock(&api->lock);
		return api_send_reply(c);
	}
	c->state = API_SUSPENDED;
	MHD_suspend_connection(conn);
	pthread_mutex_unlock(&api->lock);
	return ret;
}

static enum MHD_Result
api_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct cld_api *api = cls;
	struct api_call *c = *con_cls;
	enum api_state state;

	if (c == NULL)
		return MHD_NO; /* the URI log callback always makes one */
	if (!c->started)
		return api_start_call(c, conn);
	if (*upload_data_size != 0) {
		api_add_body(c, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&api->lock);
	state = c->state;
	pthread_mutex_unlock(&api->lock);
	switch (state) {
	case API_READING:
		return api_dispatch(api, c, conn, url, method);
	case API_REPLIED:
		/* Resumed by cld_api_reply(). */
		return api_send_reply(c);
	case API_HANDLING:
	case API_SUSPENDED:
		break;
	}
	return MHD_YES;
}

void
cld_api_reply(struct cld_api_req *req)
{
	struct api_call *c = req->priv;
	struct cld_api *api = c->api;

	pthread_mutex_lock(&api->lock);
	if (c->state == API_SUSPENDED)
		MHD_resume_connection(c->conn);
	c->state = API_REPLIED;
	/* From here the server thread may free C: do not touch it. */
	pthread_mutex_unlock(&api->lock);
}

/*
 * Make the listening socket at PATH, replacing a stale socket file (left by
 * a crash) but not a live one nor anything that is not a socket.  Returns
 * the descriptor and the file's identity in *ST, or -1 with err.
 */
static int
api_listen(const char *path, struct stat *st, struct cld_err *err)
{
	struct sockaddr_un sa;
	struct stat sb;
	size_t plen = strlen(path);
	int fd = -1, probe = -1, bound = 0, ret = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (plen == 0 || plen >= sizeof(sa.sun_path)) {
		cld_err_set(err, CLD_EINVAL, "socket path '%s' is too long",
		    path);
		goto cleanup;
	}
	memcpy(sa.sun_path, path, plen + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		cld_err_sys(err, CLD_EIO, errno, "cannot make a socket: %s",
		    strerror(errno));
		goto cleanup;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		if (errno != EADDRINUSE) {
			cld_err_sys(err, CLD_EIO, errno,
			    "cannot bind '%s': %s", path, strerror(errno));
			goto cleanup;
		}
		if (lstat(path, &sb) == -1 || !S_ISSOCK(sb.st_mode)) {
			cld_err_set(err, CLD_EEXIST,
			    "'%s' exists and is not a socket", path);
			goto cleanup;
		}
		/* A socket file: live if someone answers, else stale. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe == -1) {
			cld_err_sys(err, CLD_EIO, errno,
			    "cannot make a socket: %s", strerror(errno));
			goto cleanup;
		}
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			cld_err_set(err, CLD_EBUSY,
			    "'%s' is in use: another server answers on it",
			    path);
			goto cleanup;
		}
		if (errno != ECONNREFUSED) {
			cld_err_sys(err, CLD_EIO, errno,
			    "cannot check '%s': %s", path, strerror(errno));
			goto cleanup;
		}
		if (unlink(path) == -1 && errno != ENOENT) {
			cld_err_sys(err, CLD_EIO, errno,
			    "cannot remove stale socket '%s': %s", path,
			    strerror(errno));
			goto cleanup;
		}
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
			cld_err_sys(err, CLD_EIO, errno,
			    "cannot bind '%s': %s", path, strerror(errno));
			goto cleanup;
		}
	}
	bound = 1;
	/* Every local user may connect; the handler decides what each may do. */
	if (chmod(path, 0666) == -1) {
		cld_err_sys(err, CLD_EIO, errno, "cannot chmod '%s': %s", path,
		    strerror(errno));
		goto cleanup;
	}
	if (lstat(path, st) == -1) {
		cld_err_sys(err, CLD_EIO, errno, "cannot stat '%s': %s", path,
		    strerror(errno));
		goto cleanup;
	}
	if (listen(fd, SOMAXCONN) == -1) {
		cld_err_sys(err, CLD_EIO, errno, "cannot listen on '%s': %s",
		    path, strerror(errno));
		goto cleanup;
	}
	ret = fd;
	fd = -1;
cleanup:
	if (probe != -1)
		close(probe);
	if (fd != -1) {
		if (bound)
			unlink(path);
		close(fd);
	}
	return ret;
}

struct cld_api *
cld_api_start(const char *path, unsigned int threads, cld_api_handler fn,
    void *ctx, struct cld_err *err)
{
	struct cld_api *api = NULL, *ret = NULL;
	struct stat st;
	struct MHD_OptionItem pool[] = {
		{ MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	int fd = -1, inited = 0;
	unsigned int flags;

	if (threads == 0)
		threads = 2;
	fd = api_listen(path, &st, err);
	if (fd == -1)
		goto cleanup;
	api = cld_xcalloc(1, sizeof(*api));
	api->path = cld_xstrdup(path);
	api->dev = st.st_dev;
	api->ino = st.st_ino;
	api->fn = fn;
	api->ctx = ctx;
	pthread_mutex_init(&api->lock, NULL);
	pthread_cond_init(&api->idle, NULL);
	inited = 1;

	flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_USE_ERROR_LOG;
	/* A pool of one is no pool: MHD wants the option only above one. */
	if (threads > 1) {
		pool[0].option = MHD_OPTION_THREAD_POOL_SIZE;
		pool[0].value = (intptr_t)threads;
	}
	/* The logger first, or MHD logs its first words to stderr itself. */
	api->mhd = MHD_start_daemon(flags, 0, NULL, NULL, api_access, api,
	    MHD_OPTION_EXTERNAL_LOGGER, api_mhd_log, api,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_URI_LOG_CALLBACK, api_uri_log, api,
	    MHD_OPTION_NOTIFY_COMPLETED, api_completed, api,
	    MHD_OPTION_NOTIFY_CONNECTION, api_notify_conn, api,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)API_IDLE_TIMEOUT,
	    MHD_OPTION_ARRAY, pool,
	    MHD_OPTION_END);
	if (api->mhd == NULL) {
		cld_err_set(err, CLD_EIO, "cannot start the HTTP server on '%s'",
		    path);
		goto cleanup;
	}
	fd = -1; /* MHD's now */
	ret = api;
	api = NULL;
cleanup:
	if (fd != -1) {
		close(fd);
		unlink(path);
	}
	if (api != NULL) {
		if (inited) {
			pthread_cond_destroy(&api->idle);
			pthread_mutex_destroy(&api->lock);
		}
		free(api->path);
		free(api);
	}
	return ret;
}

void
cld_api_stop(struct cld_api *api)
{
	struct stat st;
	MHD_socket fd = MHD_INVALID_SOCKET;

	if (api == NULL)
		return;
	/* No new connections; requests on open ones get 503 from now on. */
	fd = MHD_quiesce_daemon(api->mhd);
	pthread_mutex_lock(&api->lock);
	api->stopping = 1;
	while (api->inflight > 0)
		pthread_cond_wait(&api->idle, &api->lock);
	pthread_mutex_unlock(&api->lock);
	/* Remove our socket file, not one a successor made in its place. */
	if (lstat(api->path, &st) == 0 && st.st_dev == api->dev &&
	    st.st_ino == api->ino)
		unlink(api->path);
	MHD_stop_daemon(api->mhd);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	pthread_cond_destroy(&api->idle);
	pthread_mutex_destroy(&api->lock);
	free(api->path);
	free(api);
}
