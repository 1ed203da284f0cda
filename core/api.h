/*
 * The API's HTTP side: libmicrohttpd serving HTTP/1.1 on a Unix socket.
 *
 * This file knows HTTP, not cloudd: it accepts a request, reads its whole
 * body (refusing one over CLD_API_MAX_BODY with 413), learns who is asking
 * (SO_PEERCRED on the Unix socket), hands the request to the core's handler,
 * and sends the reply the handler gives back, possibly from another thread
 * and later (the connection is suspended meanwhile, so a slow request holds
 * no server thread).  Routing, JSON and permissions are the core's
 * (core/handlers.c).
 *
 * Replies made here, without the handler: 413 "too_large" (body over
 * CLD_API_MAX_BODY), 403 "forbidden" (the peer's credentials cannot be
 * read), 503 "unavailable" (stopping).
 *
 * Threads: the server runs its own threads.  The handler is called on one
 * of them and must not block; it replies with cld_api_reply() from any
 * thread, exactly once per request.
 */
#ifndef CLD_API_H
#define CLD_API_H

#include <stddef.h>
#include <sys/types.h>

#include <cloudd/error.h>

/* The largest request body accepted, in bytes. */
#define CLD_API_MAX_BODY ((size_t)1 << 20)

struct cld_api;

struct cld_api_req {
	/* Set by the server; valid until cld_api_reply(). */
	const char *method;        /* "GET", "POST", ... */
	const char *path;          /* the URL's path, percent-decoded: "/v1/vms/7" */
	const char *query;         /* the raw query string after '?', or "" */
	uid_t uid;                 /* who is asking (peer credentials) */
	gid_t gid;
	pid_t pid;
	const char *body;          /* the body, NUL-terminated (NUL bytes inside
	                              are possible: use body_len), "" if none */
	size_t body_len;

	/* Set by the handler before cld_api_reply(). */
	int status;                /* HTTP status */
	char *reply;               /* the body (JSON), malloc()ed; the server frees it */
	size_t reply_len;
	const char *content_type;  /* NULL: "application/json" */
	const char *allow;         /* with 405: the Allow header ("GET, POST") */

	void *priv;                /* the server's own */
};

/*
 * Called once per complete request, on a server thread.  It must not block:
 * it hands REQ on (to the core's loop) and returns.  Someone then calls
 * cld_api_reply(REQ) exactly once.
 */
typedef void (*cld_api_handler)(void *ctx, struct cld_api_req *req);

/*
 * Start serving on the Unix socket PATH (created with mode 0666 so that
 * every local user can connect: the handler decides what each may do; a
 * stale socket file is replaced, a live one -- another cloudd answering --
 * is an error).  THREADS server threads (0: 2).  Returns the server, or NULL
 * with err.  Main thread.
 */
struct cld_api *cld_api_start(const char *path, unsigned int threads,
    cld_api_handler fn, void *ctx, struct cld_err *err);

/*
 * Send REQ's reply (req->status, req->reply) and release REQ.  Any thread.
 * After it returns REQ is gone.
 */
void cld_api_reply(struct cld_api_req *req);

/*
 * Stop accepting, wait for requests in flight to be replied to (the caller
 * makes sure they are), close the socket and remove its file.  NULL ok.
 * Main thread.  Blocks until those replies are written; meanwhile new
 * requests on open connections get 503 "unavailable" without the handler.
 */
void cld_api_stop(struct cld_api *api);

/*
 * A JSON error body {"error":{"code":CODE,"message":MSG}} as a malloc()ed
 * string, for replies made outside the core (413, 405 before routing).
 */
char *cld_api_error_body(const char *code, const char *msg);

#endif /* CLD_API_H */
