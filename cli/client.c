/*
 * cloudctl's HTTP client: libcurl over cloudd's Unix socket, JSON by jansson.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "client.h"
#include "util.h"

/* How long one request may take, connection included. */
#define CLIENT_TIMEOUT_S 60L
#define CLIENT_CONNECT_TIMEOUT_S 10L

struct cld_client {
	CURL *curl;
	struct curl_slist *headers;
	char *socket;
	char *buf;       /* the reply being received */
	size_t len, cap;
	char errbuf[CURL_ERROR_SIZE];
};

static size_t
client_write(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct cld_client *c = ctx;
	size_t n = size * nmemb;

	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;

		while (cap < c->len + n + 1)
			cap *= 2;
		c->buf = cld_xrealloc(c->buf, cap);
		c->cap = cap;
	}
	memcpy(c->buf + c->len, data, n);
	c->len += n;
	c->buf[c->len] = '\0';
	return n;
}

struct cld_client *
cld_client_new(const char *socket, struct cld_err *err)
{
	struct cld_client *c = NULL;

	if (curl_global_init(CURL_GLOBAL_NOTHING) != CURLE_OK) {
		cld_err_set(err, CLD_EIO, "cannot initialise libcurl");
		return NULL;
	}
	c = cld_xcalloc(1, sizeof(*c));
	c->socket = cld_xstrdup(socket);
	c->curl = curl_easy_init();
	if (c->curl == NULL) {
		cld_err_set(err, CLD_EIO, "cannot initialise libcurl");
		cld_client_free(c);
		return NULL;
	}
	c->headers = curl_slist_append(c->headers, "Accept: application/json");
	c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
	/* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
	c->headers = curl_slist_append(c->headers, "Expect:");
	if (c->headers == NULL) {
		cld_err_set(err, CLD_EIO, "out of memory");
		cld_client_free(c);
		return NULL;
	}
	curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->socket);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, client_write);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, CLIENT_TIMEOUT_S);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, CLIENT_CONNECT_TIMEOUT_S);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "cloudctl/" PACKAGE_VERSION);
	return c;
}

void
cld_client_free(struct cld_client *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	free(c->socket);
	free(c->buf);
	free(c);
	curl_global_cleanup();
}

char *
cld_client_escape(struct cld_client *c, const char *s)
{
	char *e = curl_easy_escape(c->curl, s, 0);
	char *r = NULL;

	if (e == NULL)
		abort();
	r = cld_xstrdup(e);
	curl_free(e);
	return r;
}

/* The message of an error reply {"error": {"code", "message"}}, or NULL. */
static const char *
error_message(json_t *reply)
{
	json_t *e = json_object_get(reply, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));

	return msg != NULL && *msg != '\0' ? msg : NULL;
}

int
cld_client_call(struct cld_client *c, const char *method, const char *path,
    json_t *body, json_t **reply, struct cld_err *err)
{
	char *url = NULL, *text = NULL;
	long status = 0, oserr = 0;
	json_error_t jerr;
	CURLcode rc;
	int ret = CLD_EXIT_REFUSED;

	*reply = NULL;
	c->len = 0;
	c->errbuf[0] = '\0';
	url = cld_xasprintf("http://localhost%s", path);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	if (body != NULL) {
		text = json_dumps(body, JSON_COMPACT);
		if (text == NULL)
			abort();
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)strlen(text));
	} else if (strcmp(method, "GET") != 0) {
		/* DELETE and body-less POSTs: an empty body, Content-Length: 0. */
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)0);
	} else
		curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST,
	    strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0 ? NULL :
	    method);

	rc = curl_easy_perform(c->curl);
	curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &oserr);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (rc == CURLE_COULDNT_CONNECT) {
		cld_err_sys(err, CLD_EIO, (int)oserr,
		    "cannot connect to cloudd at '%s': %s", c->socket,
		    oserr != 0 ? strerror((int)oserr) : curl_easy_strerror(rc));
		ret = CLD_EXIT_UNREACHABLE;
		goto cleanup;
	}
	if (rc != CURLE_OK) {
		cld_err_set(err, CLD_EIO, "cannot talk to cloudd at '%s': %s",
		    c->socket, c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
		ret = CLD_EXIT_UNREACHABLE;
		goto cleanup;
	}
	if (c->len > 0) {
		*reply = json_loadb(c->buf, c->len, JSON_DECODE_ANY, &jerr);
		if (*reply == NULL && status >= 200 && status < 300) {
			cld_err_set(err, CLD_EINVAL,
			    "cloudd sent a reply that is not JSON: %s",
			    jerr.text);
			goto cleanup;
		}
	}
	if (status >= 200 && status < 300) {
		ret = CLD_EXIT_OK;
		goto cleanup;
	}
	if (error_message(*reply) != NULL)
		cld_err_set(err, CLD_EINVAL, "%s", error_message(*reply));
	else
		cld_err_set(err, CLD_EINVAL, "cloudd answered %s %s with HTTP %ld",
		    method, path, status);
	ret = status == 404 ? CLD_EXIT_NOTFOUND : CLD_EXIT_REFUSED;

cleanup:
	free(url);
	free(text);
	return ret;
}
