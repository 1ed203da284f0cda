/*
 * cloudctl's client of the v1 API: HTTP/1.1 and JSON over cloudd's Unix
 * socket, through one libcurl handle reused for every request (so that a
 * command making several requests, or "top", keeps one connection).
 *
 * Not thread-safe: one client per thread.
 */
#ifndef CLD_CLIENT_H
#define CLD_CLIENT_H

#include <jansson.h>

#include <cloudd/error.h>

/* cloudctl's exit codes, documented in cloudctl(1). */
enum cld_exit {
	CLD_EXIT_OK = 0,
	CLD_EXIT_REFUSED = 1,     /* the server answered 4xx/5xx, or nonsense */
	CLD_EXIT_USAGE = 2,       /* bad command line or unreadable input */
	CLD_EXIT_UNREACHABLE = 3, /* cannot connect or talk to cloudd */
	CLD_EXIT_NOTFOUND = 4,    /* the server answered 404 */
};

struct cld_client;

/*
 * A client of the cloudd listening on the Unix socket SOCKET (copied).
 * Returns NULL with err if libcurl cannot start.
 */
struct cld_client *cld_client_new(const char *socket, struct cld_err *err);
/* NULL ok. */
void cld_client_free(struct cld_client *c);

/*
 * Send METHOD PATH (the path and query, e.g. "/v1/vms?offset=0") with BODY
 * (a JSON object sent compact, or NULL for no body) and wait for the answer.
 *
 * Returns CLD_EXIT_OK with *reply the parsed 2xx body (NULL when it was
 * empty); the caller json_decref()s it.  Otherwise returns the exit code the
 * failure calls for (CLD_EXIT_REFUSED, CLD_EXIT_NOTFOUND,
 * CLD_EXIT_UNREACHABLE) with the message in err: the server's own message
 * for an error reply, whose body is then left in *reply (or NULL).
 */
int cld_client_call(struct cld_client *c, const char *method,
    const char *path, json_t *body, json_t **reply, struct cld_err *err);

/* S percent-encoded for a path segment or query value; free() it. */
char *cld_client_escape(struct cld_client *c, const char *s);

#endif /* CLD_CLIENT_H */
