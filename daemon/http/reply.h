/*
 * reply.h: what a handler uses (reply.c).  A handler is
 * `int fn(struct http_req *)`; it replies with one of http_reply*() and
 * returns what they return.  Every error is the JSON object
 * {"Error": "...", "Status": N}.
 */
#ifndef GOMEMD_REPLY_H
#define GOMEMD_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "base/obuf.h"

#define HTTP_NCODES 500 /* statuses 100..599 are counted */

struct MHD_Connection;

struct http_req {
	struct MHD_Connection *conn;
	const char *method;
	const char *url;  /* path, without the query */
	const char *rest; /* url after the route's prefix */
};

int http_reply(struct http_req *req, unsigned status, const char *ctype, char *body, size_t len);
int http_reply_hdr(struct http_req *req, unsigned status, const char *ctype, char *body, size_t len,
		   const char *hname, const char *hvalue);
int http_reply_json(struct http_req *req, unsigned status, struct obuf *b);
int http_reply_error(struct http_req *req, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int http_reply_405(struct http_req *req, const char *allow);
int http_queue_error(struct MHD_Connection *conn, unsigned status, const char *msg,
		     const char *hname, const char *hvalue);
int http_method_allowed(const char *allow, const char *method);

const char *http_arg(struct http_req *req, const char *key);
int http_parse_pid(const char *s, int *pid);
int http_pid_arg(struct http_req *req, int required, int *pid, int *ret);

void http_count_request(void);
void http_count_status(unsigned status);
uint64_t http_requests(void);
void http_status_counts(unsigned long long out[HTTP_NCODES]);

#endif /* GOMEMD_REPLY_H */
