/*
 * server.h: the HTTP server (server.c): libmicrohttpd's lifecycle and the
 * dispatch of each request over a route table.
 */
#ifndef GOMEMD_SERVER_H
#define GOMEMD_SERVER_H

#include <stddef.h>

#include "http/reply.h"

struct gomemd_config;

typedef int (*http_handler_fn)(struct http_req *req);
struct http_route {
	const char *path; /* exact path, or prefix when prefix != 0 */
	int prefix;
	const char *allow; /* methods for 405's Allow header; NULL: the handler checks */
	http_handler_fn fn;
};

int http_start(const struct gomemd_config *c, const struct http_route *table, size_t n, char *err,
	       size_t errlen);
void http_stop(void);
const char *http_where(void);
int http_listen_is_loopback(const char *listen);

#endif /* GOMEMD_SERVER_H */
