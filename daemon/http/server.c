/*
 * server.c: the HTTP server (libmicrohttpd): lifecycle, dispatch over the
 * route table handed to http_start(), reply and argument helpers.
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
#include "encode/json.h"
#include "http/server.h"
#include "http/sse.h"

/*
 * The daemon and its routes: written by the main thread only while no
 * server runs (http_start, http_stop), read by MHD's threads.
 */
static struct MHD_Daemon *mhd;
static const struct http_route *routes;
static size_t nroutes;
static uint64_t nrequests;			   /* atomic */
static unsigned long long status_counts[HTTP_NCODES]; /* atomic each */

/* Count one response with this status. */
void
http_count_status(unsigned status)
{
	if (status >= 100 && status < 100 + HTTP_NCODES)
		__atomic_fetch_add(&status_counts[status - 100], 1, __ATOMIC_RELAXED);
}

/* Responses by status since start: out[i] for status 100 + i. */
void
http_status_counts(unsigned long long out[HTTP_NCODES])
{
	size_t i;

	for (i = 0; i < HTTP_NCODES; i++)
		out[i] = __atomic_load_n(&status_counts[i], __ATOMIC_RELAXED);
}

/* Whether `method` is in the comma-separated list (HEAD counts as GET). */
static int
method_allowed(const char *allow, const char *method)
{
	size_t n = strlen(method);
	const char *p;

	if (strcmp(method, "HEAD") == 0)
		method = "GET", n = 3;
	for (p = allow; (p = strstr(p, method)) != NULL; p += n)
		if ((p == allow || p[-1] == ' ' || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return 1;
	return 0;
}

/* Queue a response with a malloc'ed body (freed by MHD). */
int
http_reply(struct http_req *req, unsigned status, const char *ctype, char *body, size_t len)
{
	return http_reply_hdr(req, status, ctype, body, len, NULL, NULL);
}

/* http_reply() with one more header (hname NULL: none). */
int
http_reply_hdr(struct http_req *req, unsigned status, const char *ctype, char *body, size_t len,
	       const char *hname, const char *hvalue)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer_with_free_callback(len, body, free);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (hname != NULL)
		MHD_add_response_header(r, hname, hvalue);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	http_count_status(status);
	ret = MHD_queue_response(req->conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Queue a JSON response; consumes root. */
int
http_reply_json(struct http_req *req, unsigned status, cJSON *root)
{
	char *s = json_print(root);
	size_t n = strlen(s);

	cJSON_Delete(root);
	s = xrealloc(s, n + 2);
	s[n++] = '\n';
	s[n] = '\0';
	return http_reply(req, status, "application/json", s, n);
}

/* Queue {"error": msg, "status": N}. */
int
http_reply_error(struct http_req *req, unsigned status, const char *fmt, ...)
{
	char msg[512];
	cJSON *o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	o = cJSON_CreateObject();
	json_add_string(o, "error", msg); /* msg may quote a client's bytes */
	json_add_u64(o, "status", status);
	return http_reply_json(req, status, o);
}

/* Queue 405 with an Allow header. */
int
http_reply_405(struct http_req *req, const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *s, allowh[128];
	cJSON *o;

	o = cJSON_CreateObject();
	xasprintf(&s, "method %s not allowed for %s", req->method, req->url);
	json_add_string(o, "error", s);
	free(s);
	json_add_u64(o, "status", MHD_HTTP_METHOD_NOT_ALLOWED);
	s = json_print(o);
	cJSON_Delete(o);
	r = MHD_create_response_from_buffer_with_free_callback(strlen(s), s, free);
	if (r == NULL) {
		free(s);
		return MHD_NO;
	}
	/* HEAD is allowed wherever GET is */
	snprintf(allowh, sizeof allowh, "%s%s", allow, method_allowed(allow, "GET") ? ", HEAD" : "");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allowh);
	http_count_status(MHD_HTTP_METHOD_NOT_ALLOWED);
	ret = MHD_queue_response(req->conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
	MHD_destroy_response(r);
	return ret;
}

/* A query argument, or NULL. */
const char *
http_arg(struct http_req *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

/*
 * Parse a pid: decimal digits only, 1 .. 4194304 (PID_MAX_LIMIT).  0 on
 * success, -1 if malformed.
 */
int
http_parse_pid(const char *s, int *pid)
{
	unsigned long v = 0;
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 7)
		return -1;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 4194304)
		return -1;
	*pid = (int)v;
	return 0;
}

/*
 * The one ?pid= parser.  Returns 1 with *pid set; 0 when absent and not
 * required (*pid = 0); -1 when it replied 400 itself, with the handler's
 * return value in *ret.
 */
int
http_pid_arg(struct http_req *req, int required, int *pid, int *ret)
{
	const char *s = http_arg(req, "pid");

	*pid = 0;
	if (s == NULL && !required)
		return 0;
	if (s == NULL) {
		*ret = http_reply_error(req, MHD_HTTP_BAD_REQUEST, "missing pid (use ?pid=N)");
		return -1;
	}
	if (http_parse_pid(s, pid) != 0) {
		*ret = http_reply_error(req, MHD_HTTP_BAD_REQUEST, "malformed pid \"%.32s\"", s);
		return -1;
	}
	return 1;
}

/* Requests answered since start. */
uint64_t
http_requests(void)
{
	return __atomic_load_n(&nrequests, __ATOMIC_RELAXED);
}

/* Find the route and call it. */
static int
http_dispatch(struct http_req *req)
{
	const struct http_route *rt;
	size_t i, n;

	__atomic_add_fetch(&nrequests, 1, __ATOMIC_RELAXED);
	for (i = 0; i < nroutes; i++) {
		rt = &routes[i];
		n = strlen(rt->path);
		if (rt->prefix ? strncmp(req->url, rt->path, n) != 0 : strcmp(req->url, rt->path) != 0)
			continue;
		req->rest = req->url + n;
		if (rt->allow != NULL && !method_allowed(rt->allow, req->method))
			return http_reply_405(req, rt->allow);
		return rt->fn(req);
	}
	return http_reply_error(req, MHD_HTTP_NOT_FOUND, "no such route: %s", req->url);
}

/* MHD's access handler. */
static enum MHD_Result
http_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	    const char *version, const char *upload_data, size_t *upload_data_size,
	    void **con_cls)
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
static void
http_log(void *cls, const char *fmt, va_list ap)
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
int
http_start(const struct gomemd_config *c, const struct http_route *table, size_t n, char *err,
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
	if ((rc = sse_init(0, SSE_MAX_CLIENTS_DEFAULT)) != 0)
		log_warnx("event stream: %s", strerror(-rc));
	return 0;
}

/* Stop the server; waits for handlers to finish. */
void
http_stop(void)
{
	sse_shutdown(); /* no connection may stay suspended */
	if (mhd != NULL)
		MHD_stop_daemon(mhd);
	mhd = NULL;
}
