/*
 * http.c: the HTTP server (libmicrohttpd) and its route table.
 *
 * The server runs MHD's internal epoll thread pool; handlers run in those
 * threads.  Every request goes through http_dispatch(): the route table
 * below is the one place where routes are added.  A route names an exact
 * path or a prefix, the methods it allows (HEAD goes with GET; anything else
 * gets 405 with an Allow header), and its handler.  Unknown paths get 404;
 * errors are always JSON: {"error": "...", "status": N}.
 *
 * Limits: total connections, connections per client address, an idle
 * timeout and per-connection memory are set, so a slow or hostile client
 * cannot starve the others.  Request bodies are read and thrown away.
 */
#include "config.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <microhttpd.h>
#if HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "base/unixsock.h"
#include "core/webconfig.h"
#include "gomemd.h"
#include "http/guard.h"
#include "outputs.h"
#include "profile.h"
#include "prom.h"

/* The routes.  Keep the most specific prefix first. */
static const struct http_route http_routes[] = {
	{"/memstats", 0, "GET", api_memstats},
	{"/processes", 0, "GET", api_processes},
	{"/processes/", 1, NULL, api_process_item},
	{"/healthz", 0, "GET", api_healthz},
	{"/metrics", 0, "GET", out_metrics},
	{"/debug/vars", 0, "GET", out_debug_vars},
	{"/events", 0, "GET", out_events},
	{"/memstats/history", 0, "GET", out_history},
	{"/debug/pprof/heap", 0, "GET", profile_http_heap},
	{"/profile/top", 0, "GET", profile_http_top},
	{"/", 1, NULL, out_static}, /* the dashboard; keep last */
};

static struct MHD_Daemon *mhd;	/* TCP (TLS with a web config) */
static struct MHD_Daemon *mhd_unix; /* the unix socket, its own connection budget */
static struct webconfig web;	/* loaded by http_start, read by guard.c's checks */
static int have_web;
static char *tls_key, *tls_cert;    /* PEM, for MHD while it runs */
static int listener_tcp, listener_unix; /* the access handler's cls: which listener */
static uint64_t nrequests;

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
	prom_count_request(status);
	ret = MHD_queue_response(req->conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Queue a JSON response with one more header (hname NULL: none); consumes root. */
static int
reply_json_hdr(struct http_req *req, unsigned status, cJSON *root, const char *hname,
	       const char *hvalue)
{
	char *s = json_print(root);
	size_t n = strlen(s);

	cJSON_Delete(root);
	s = xrealloc(s, n + 2);
	s[n++] = '\n';
	s[n] = '\0';
	return http_reply_hdr(req, status, "application/json", s, n, hname, hvalue);
}

/* Queue a JSON response; consumes root. */
int
http_reply_json(struct http_req *req, unsigned status, cJSON *root)
{
	return reply_json_hdr(req, status, root, NULL, NULL);
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
	prom_count_request(MHD_HTTP_METHOD_NOT_ALLOWED);
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
	for (i = 0; i < sizeof http_routes / sizeof http_routes[0]; i++) {
		rt = &http_routes[i];
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

	(void)version;
	(void)upload_data;
	if (*con_cls == NULL) {
		struct guard_refusal r;

		*con_cls = &started;
		guard_header_done(conn);
		if (guard_request(conn, cls == &listener_unix, method, url, &r) != 0)
			return http_queue_error(conn, r.status, r.msg, r.hname, r.hvalue);
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

static void http_log(void *cls, const char *fmt, va_list ap);

/* Connections open and close: the header deadline. */
static void
http_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
	    enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		guard_connection_open(conn, now_mono_ns());
	else
		guard_connection_close(conn);
}

/* Queue {"error": msg, "status": N} with one more header (hname NULL: none). */
int
http_queue_error(struct MHD_Connection *conn, unsigned status, const char *msg, const char *hname,
		 const char *hvalue)
{
	struct http_req req = {conn, "", "", ""};
	cJSON *o = cJSON_CreateObject();

	json_add_string(o, "error", msg);
	json_add_u64(o, "status", status);
	return reply_json_hdr(&req, status, o, hname, hvalue);
}

/* Read a whole small file (a PEM) into a malloc'ed string; NULL with err. */
static char *
read_pem(const char *path, char *err, size_t errlen)
{
	char *buf = xcalloc(1, 1 << 20);
	ssize_t n, got = 0;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(buf);
		return NULL;
	}
	while (got < (1 << 20) - 1 && (n = read(fd, buf + got, (size_t)((1 << 20) - 1 - got))) > 0)
		got += n;
	close(fd);
	if (got == 0 || got >= (1 << 20) - 1) {
		snprintf(err, errlen, "%s: %s", path, got ? "larger than 1 MiB" : "empty");
		free(buf);
		return NULL;
	}
	return buf;
}

/* Whether a listen address is loopback only. */
int
http_listen_is_loopback(const char *listen)
{
	char addr[256];
	unsigned port;
	struct in6_addr a6;
	struct in_addr a4;

	if (config_split_listen(listen, addr, sizeof addr, &port) != 0)
		return 0;
	if (strcmp(addr, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

/*
 * Sockets passed by systemd (gomemd.socket): a listening TCP socket and a
 * listening unix socket, found once; they outlive restarts of the servers
 * (SIGHUP), which hand them back with MHD_quiesce_daemon().  -1: none.
 */
static int act_tcp = -1, act_unix = -1;
static char where_tcp[320]; /* what the TCP server listens on, for messages */

/* Look for sockets passed by systemd (LISTEN_FDS); once. */
static void
activation_fds(void)
{
#if HAVE_LIBSYSTEMD
	static int checked;
	int n, fd;

	if (checked)
		return;
	checked = 1;
	n = sd_listen_fds(1);
	for (fd = SD_LISTEN_FDS_START; n > 0 && fd < SD_LISTEN_FDS_START + n; fd++) {
		if (act_unix < 0 && sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0)
			act_unix = fd;
		else if (act_tcp < 0 && sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) > 0)
			act_tcp = fd;
		else
			log_warnx("socket activation: fd %d is not a listening TCP or unix stream "
				  "socket; ignored",
				  fd);
	}
#endif
}

/* The address a listening socket is bound to, as ADDR:PORT. */
static void
sock_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof a);
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof a);
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
			snprintf(buf, len, "[%s]:%u", a, port);
			return;
		}
	}
	snprintf(buf, len, "%s:%u", a, port);
}

/*
 * Load the web config and check that the listener may be used with it:
 * beyond loopback only with TLS and users.  0 or -1 with err.
 */
static int
http_load_web(const struct gomemd_config *c, char *err, size_t errlen)
{
	have_web = 0;
	if (c->web_config != NULL) {
		if (webconfig_load(c->web_config, &web, err, errlen) != 0)
			return -1;
		have_web = 1;
		if (web.client_auth != WEBCONFIG_NO_CLIENT_CERT) {
			snprintf(err, errlen,
				 "%s: client_auth_type %s: client certificates are not supported "
				 "by gomemd yet; use basic_auth_users",
				 c->web_config, webconfig_client_auth_name(web.client_auth));
			return -1;
		}
		if (webconfig_has_tls(&web)) {
			if ((tls_cert = read_pem(web.cert_file, err, errlen)) == NULL ||
			    (tls_key = read_pem(web.key_file, err, errlen)) == NULL)
				return -1;
			if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
				snprintf(err, errlen, "%s asks for TLS, but this libmicrohttpd was "
					 "built without it", c->web_config);
				return -1;
			}
		}
	}
	char where[128];

	if (act_tcp >= 0)
		sock_name(act_tcp, where, sizeof where);
	else
		snprintf(where, sizeof where, "%s", c->listen);
	if (!http_listen_is_loopback(where) &&
	    !(have_web && webconfig_has_tls(&web) && webconfig_has_auth(&web))) {
		snprintf(err, errlen,
			 "listening on %s, beyond loopback, needs TLS and basic auth: give "
			 "--web-config FILE with tls_server_config and basic_auth_users (see "
			 "gomemd(8)), or listen on 127.0.0.1 and use the unix socket",
			 where);
		return -1;
	}
	return 0;
}

/* Free what http_load_web() loaded. */
static void
http_free_web(void)
{
	if (have_web)
		webconfig_free(&web);
	have_web = 0;
	if (tls_key != NULL)
		explicit_bzero(tls_key, strlen(tls_key));
	free(tls_key);
	free(tls_cert);
	tls_key = tls_cert = NULL;
}

/* The unix socket's server: its own connection budget.  0 or -1 with err. */
static int
http_start_unix(const struct gomemd_config *c, char *err, size_t errlen)
{
	char msg[512];
	int fd;

	msg[0] = '\0';
	if (act_unix >= 0)
		fd = act_unix; /* made by systemd: path, mode and group are the unit's */
	else if (c->socket == NULL || c->socket[0] == '\0')
		return 0;
	else
		fd = unixsock_listen(c->socket, c->socket_mode, "gomem", 64, msg, sizeof msg);
	if (fd < 0) {
		if (c->socket_explicit) {
			snprintf(err, errlen, "%s", msg);
			return -1;
		}
		log_info("%s; serving TCP only", msg); /* the default path outside systemd */
		return 0;
	}
	if (msg[0] != '\0')
		log_warnx("%s", msg);
	mhd_unix = MHD_start_daemon(
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ITC,
	    0, NULL,
	    NULL, http_access, &listener_unix, MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->socket_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->conn_timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_NOTIFY_CONNECTION,
	    http_notify, NULL, MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL, MHD_OPTION_END);
	if (mhd_unix == NULL) {
		snprintf(err, errlen, "cannot serve on %s: libmicrohttpd failed to start",
			 act_unix >= 0 ? "the unix socket systemd passed" : c->socket);
		if (act_unix < 0) {
			close(fd);
			unlink(c->socket);
		}
		return -1;
	}
	if (act_unix >= 0)
		log_info("serving the unix socket systemd passed");
	else
		log_info("serving unix:%s", c->socket);
	return 0;
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

/* Start serving on c->listen. */
int
http_start(const struct gomemd_config *c, char *err, size_t errlen)
{
	struct addrinfo hints = {0}, *ai = NULL;
	unsigned port, flags;
	char addr[256], portstr[16];
	int rc;

	activation_fds();
	if (act_tcp >= 0) { /* systemd's socket: --listen is only a default then */
		sock_name(act_tcp, addr, sizeof addr);
		snprintf(where_tcp, sizeof where_tcp, "%s (from systemd)", addr);
		snprintf(addr, sizeof addr, "127.0.0.1");
		port = 0;
	} else if (config_split_listen(c->listen, addr, sizeof addr, &port) != 0) {
		snprintf(err, errlen, "bad listen address \"%s\" (want ADDR:PORT)", c->listen);
		return -1;
	} else {
		snprintf(where_tcp, sizeof where_tcp, "%s", c->listen);
	}
	snprintf(portstr, sizeof portstr, "%u", port);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	rc = getaddrinfo(addr, portstr, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "listen address %s: %s", addr, gai_strerror(rc));
		return -1;
	}
	if (http_load_web(c, err, errlen) != 0) {
		http_free_web();
		freeaddrinfo(ai);
		return -1;
	}
	{
		struct guard_conf gc = {
		    have_web ? &web : NULL,	  (const char *const *)c->allow_hosts,
		    (size_t)c->nallow_hosts, "gomem",
		    c->header_timeout_s,	  c->max_connections + c->socket_connections,
		};

		if (guard_init(&gc, err, errlen) != 0) {
			http_free_web();
			freeaddrinfo(ai);
			return -1;
		}
	}
	flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ITC;
	if (act_tcp >= 0) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;

		if (getsockname(act_tcp, (struct sockaddr *)&ss, &sl) == 0 &&
		    ss.ss_family == AF_INET6)
			flags |= MHD_USE_IPv6;
	} else if (ai->ai_family == AF_INET6) {
		flags |= MHD_USE_IPv6;
	}
	if (tls_cert != NULL)
		flags |= MHD_USE_TLS;
	{
		const char *prio = !have_web || web.min_tls <= 10 ? "NORMAL"
				   : web.min_tls == 11		 ? "NORMAL:-VERS-TLS1.0"
				   : web.min_tls == 12 ? "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1"
						       : "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-TLS1.2";
		struct MHD_OptionItem opts[] = {
			{tls_cert != NULL ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, tls_cert},
			{MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key},
			{MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)prio},
			{MHD_OPTION_END, 0, NULL},
		};
		struct MHD_OptionItem base[] = {
			{MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)http_notify, NULL},
			{act_tcp >= 0 ? MHD_OPTION_LISTEN_SOCKET : MHD_OPTION_SOCK_ADDR, act_tcp,
			 act_tcp >= 0 ? NULL : ai->ai_addr},
			{MHD_OPTION_CONNECTION_LIMIT, (intptr_t)c->max_connections, NULL},
			{MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)c->per_ip_limit, NULL},
			{MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)c->conn_timeout_s, NULL},
			{MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL},
			{MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
			{c->http_threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
			 (intptr_t)c->http_threads, NULL},
			{MHD_OPTION_END, 0, NULL},
		};

		mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, http_access,
				       &listener_tcp, MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL,
				       MHD_OPTION_ARRAY, base, MHD_OPTION_ARRAY, opts,
				       MHD_OPTION_END);
	}
	rc = errno;
	freeaddrinfo(ai);
	if (mhd == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", c->listen,
			 rc ? strerror(rc) : "libmicrohttpd failed to start");
		guard_fini();
		http_free_web();
		return -1;
	}
	if (http_start_unix(c, err, errlen) != 0) {
		MHD_stop_daemon(mhd);
		mhd = NULL;
		guard_fini();
		http_free_web();
		return -1;
	}
	if ((rc = outputs_init()) != 0)
		log_warnx("event stream: %s", strerror(-rc));
	return 0;
}

/* Stop the server; waits for handlers to finish. */
void
http_stop(void)
{
	outputs_shutdown(); /* no connection may stay suspended */
	if (mhd != NULL) {
		if (act_tcp >= 0)
			MHD_quiesce_daemon(mhd); /* systemd's socket stays open for a restart */
		MHD_stop_daemon(mhd);
	}
	if (mhd_unix != NULL) {
		if (act_unix >= 0)
			MHD_quiesce_daemon(mhd_unix);
		MHD_stop_daemon(mhd_unix);
		if (act_unix < 0 && gomemd_cfg != NULL && gomemd_cfg->socket != NULL)
			unlink(gomemd_cfg->socket);
	}
	mhd = mhd_unix = NULL;
	guard_fini();
	http_free_web();
}

/* What the TCP server listens on ("ADDR:PORT", "(from systemd)" when passed). */
const char *
http_where(void)
{
	return where_tcp;
}
