/*
 * server.c: the HTTP server (libmicrohttpd): lifecycle and dispatch over
 * the route table handed to http_start().  Replies: reply.c.
 *
 * The server runs MHD's internal epoll thread pool; handlers run in those
 * threads.  Every request goes through http_dispatch().  A route names an
 * exact path or a prefix, the methods it allows (HEAD goes with GET;
 * anything else gets 405 with an Allow header), and its handler.  Unknown
 * paths get 404; errors are always JSON: {"error": "...", "status": N}.
 *
 * Limits: total connections, connections per client address, an idle
 * timeout and per-connection memory are set, so a slow or hostile client
 * cannot starve the others.  Request bodies are read and thrown away.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <microhttpd.h>

#include "base/log.h"
#include "base/xmalloc.h"
#include "core/conf.h"
#include "http/reply.h"
#include "http/server.h"
#include "http/sse.h"

/*
 * The daemon and its routes: written by the main thread only while no
 * server runs (http_start, http_stop), read by MHD's threads.
 */
static struct MHD_Daemon *mhd;
static const struct http_route *routes;
static size_t nroutes;

/* Find the route and call it. */
static int http_dispatch(struct http_req *req)
{
	const struct http_route *rt;
	size_t i, n;

	http_count_request();
	for (i = 0; i < nroutes; i++) {
		rt = &routes[i];
		n = strlen(rt->path);
		if (rt->prefix ? strncmp(req->url, rt->path, n) != 0
			       : strcmp(req->url, rt->path) != 0)
			continue;
		req->rest = req->url + n;
		if (rt->allow != NULL && !http_method_allowed(rt->allow, req->method))
			return http_reply_405(req, rt->allow);
		return rt->fn(req);
	}
	return http_reply_error(req, MHD_HTTP_NOT_FOUND, "no such route: %s", req->url);
}

/* MHD's access handler. */
static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version, const char *upload_data,
				   size_t *upload_data_size, void **con_cls)
{
	static int started;
	struct http_req req;

	(void)cls;
	(void)version;
	(void)upload_data;
	if (*con_cls == NULL) {
		*con_cls = &started;
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return MHD_YES; /* wait for the body (thrown away) */
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	req.conn = conn;
	req.method = method;
	req.url = url;
	req.rest = url;
	return http_dispatch(&req) ? MHD_YES : MHD_NO;
}

/* Route MHD's messages to our log. */
static void http_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	n = strlen(msg);
	if (n > 0 && msg[n - 1] == '\n')
		msg[n - 1] = '\0';
	log_debug("http: %s", msg);
}

/* Start serving table (the first matching route wins) on c->listen. */
int http_start(const struct gomemd_config *c, const struct http_route *table, size_t n, char *err,
	       size_t errlen)
{
	struct addrinfo hints = {0}, *ai = NULL;
	unsigned port, flags;
	char addr[256], portstr[16];
	int rc;

	if (conf_split_listen(c->listen, addr, sizeof addr, &port) != 0) {
		snprintf(err, errlen, "bad listen address \"%s\" (want ADDR:PORT)", c->listen);
		return -1;
	}
	snprintf(portstr, sizeof portstr, "%u", port);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	rc = getaddrinfo(addr, portstr, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "listen address %s: %s", addr, gai_strerror(rc));
		return -1;
	}
	routes = table;
	nroutes = n;
	flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	{
		struct MHD_OptionItem opts[] = {
		    {MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr},
		    {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)c->max_connections, NULL},
		    {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)c->per_ip_limit, NULL},
		    {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)c->conn_timeout_s, NULL},
		    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL},
		    {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
		    {c->http_threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
		     (intptr_t)c->http_threads, NULL},
		    {MHD_OPTION_END, 0, NULL},
		};

		mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, http_access, NULL,
				       MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL, MHD_OPTION_ARRAY,
				       opts, MHD_OPTION_END);
	}
	rc = errno;
	freeaddrinfo(ai);
	if (mhd == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", c->listen,
			 rc ? strerror(rc) : "libmicrohttpd failed to start");
		return -1;
	}
	if ((rc = sse_init(SSE_MAX_CLIENTS_DEFAULT)) != 0)
		log_warnx("event stream: %s", strerror(-rc));
	return 0;
}

/* Stop the server; waits for handlers to finish. */
void http_stop(void)
{
	sse_shutdown(); /* no connection may stay suspended */
	if (mhd != NULL)
		MHD_stop_daemon(mhd);
	mhd = NULL;
}
