/*
 * server.h: the HTTP transport (server.c): libmicrohttpd lifecycle,
 * dispatch over a route table, replies and query arguments.
 *
 * A handler is `int fn(struct http_req *)`; it replies with http_reply(),
 * http_reply_json() or http_reply_error() and returns what they return.
 */
#ifndef GOMEMD_SERVER_H
#define GOMEMD_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define HTTP_NCODES 500 /* statuses 100..599 are counted */

struct gomemd_config;
struct MHD_Connection;

struct http_req {
	struct MHD_Connection *conn;
	const char *method;
	const char *url;	/* path, without the query */
	const char *rest;	/* url after the route's prefix */
};
typedef int (*http_handler_fn)(struct http_req *req);
struct http_route {
	const char *path;	/* exact path, or prefix when prefix != 0 */
	int prefix;
	const char *allow;	/* methods for 405's Allow header; NULL: the handler checks */
	http_handler_fn fn;
};

int http_start(const struct gomemd_config *c, const struct http_route *table, size_t n, char *err,
	       size_t errlen);
void http_stop(void);
int http_reply(struct http_req *req, unsigned status, const char *ctype, char *body, size_t len);
int http_reply_hdr(struct http_req *req, unsigned status, const char *ctype, char *body, size_t len,
		   const char *hname, const char *hvalue);
int http_reply_json(struct http_req *req, unsigned status, cJSON *root);
int http_reply_error(struct http_req *req, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int http_reply_405(struct http_req *req, const char *allow);
const char *http_arg(struct http_req *req, const char *key);
int http_parse_pid(const char *s, int *pid);
int http_pid_arg(struct http_req *req, int required, int *pid, int *ret);
uint64_t http_requests(void);
void http_count_status(unsigned status);
void http_status_counts(unsigned long long out[HTTP_NCODES]);

#endif /* GOMEMD_SERVER_H */
