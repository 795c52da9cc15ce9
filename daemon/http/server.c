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

#include "base/clock.h"
#include "base/log.h"
#include "base/unixsock.h"
#include "base/xmalloc.h"
#include "core/conf.h"
#include "core/webconfig.h"
#include "http/guard.h"
#include "http/reply.h"
#include "http/server.h"
#include "http/sse.h"

/*
 * The daemon and its routes: written by the main thread only while no
 * server runs (http_start, http_stop), read by MHD's threads.
 */
static struct MHD_Daemon *mhd;	    /* TCP (TLS with a web config) */
static struct MHD_Daemon *mhd_unix; /* the unix socket, its own connection budget */
static const struct http_route *routes;
static size_t nroutes;
static struct webconfig web; /* loaded by http_start, read by guard.c's checks */
static int have_web;
static char *tls_key, *tls_cert;	/* PEM, for MHD while it runs */
static int listener_tcp, listener_unix; /* the access handler's cls: which listener */
static char *socket_path;		/* the unix socket we made, removed at stop; NULL: none */

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

/* A request's context (con_cls): what the raw target said, then started. */
static int uri_plain, uri_nul, uri_space, uri_params, started;

/* No route reads more than a few query parameters; a target with more is refused. */
#define HTTP_MAX_QUERY_PARAMS 64

/*
 * MHD's URI callback, with the request target as sent, before it decodes
 * it: a %00 would decode to a NUL that ends the path or value the handler
 * sees ("/index.html%00.js" would serve index.html).  Such a request gets 400,
 * as does a target with a space or a control character in it (RFC 9112 3.2).
 * MHD's strict mode would refuse the space itself, but by closing the
 * connection without a word, and its HTTP/1.1-without-Host reply is sent
 * twice over (0.9.75); so MHD runs lenient, and these two checks are here
 * and in guard_request(), with JSON replies.
 *
 * A query of more than HTTP_MAX_QUERY_PARAMS parameters gets 414.  MHD
 * 0.9.75 splits the query after this callback, in place, keeping one record
 * per parameter in the connection's 64 KiB pool; when the pool runs out it
 * queues a 431 that its state machine then drops, and the client hears
 * nothing until the header timeout (about 1000 parameters did it).  So the
 * query of a request refused here, for any of these reasons, is cut at the
 * '?' MHD will split at: the target is the request line in MHD's read
 * buffer (its parser writes into it too), and MHD then finds no parameters
 * to store.  The request is refused before any route.
 */
static int *http_uri_verdict(const char *uri)
{
	const char *p, *q = strchr(uri, '?');
	size_t n = 1;

	for (p = uri; (p = strchr(p, '%')) != NULL; p++)
		if (p[1] == '0' && p[2] == '0')
			return &uri_nul;
	for (p = uri; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return &uri_space;
	for (p = q; p != NULL && (p = strchr(p + 1, '&')) != NULL;)
		if (++n > HTTP_MAX_QUERY_PARAMS)
			return &uri_params;
	return &uri_plain;
}

static void *http_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	int *v = http_uri_verdict(uri);
	char *q = strchr(uri, '?');

	(void)cls;
	(void)conn;
	if (v != &uri_plain && q != NULL)
		q[1] = '\0';
	return v;
}

/* MHD's access handler. */
static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version, const char *upload_data,
				   size_t *upload_data_size, void **con_cls)
{
	struct http_req req;

	(void)upload_data;
	if (*con_cls != &started) {
		struct guard_refusal r;
		int nul = *con_cls == &uri_nul, params = *con_cls == &uri_params;
		int space = *con_cls == &uri_space;

		*con_cls = &started;
		/* The deadline covers the whole request: a body too (below).
		 * libmicrohttpd waits for a chunked body after its client
		 * has shut its side, until the idle timeout, never seeing the
		 * end; one sent slowly would hold the slot as long as it
		 * lasts. */
		if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
			guard_header_done(conn);
		if (guard_request(conn, cls == &listener_unix, method, version, url, &r) != 0)
			return http_queue_error(conn, r.status, r.msg, r.hname, r.hvalue) ? MHD_YES
											  : MHD_NO;
		if (nul)
			return http_queue_error(conn, MHD_HTTP_BAD_REQUEST,
						"the request target holds an encoded NUL (%00)",
						NULL, NULL)
				   ? MHD_YES
				   : MHD_NO;
		if (space)
			return http_queue_error(conn, MHD_HTTP_BAD_REQUEST,
						"the request target holds a space or a control character",
						NULL, NULL)
				   ? MHD_YES
				   : MHD_NO;
		if (params)
			return http_queue_error(conn, MHD_HTTP_URI_TOO_LONG,
						"the query has too many parameters", NULL, NULL)
				   ? MHD_YES
				   : MHD_NO;
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return MHD_YES; /* wait for the body (thrown away) */
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	guard_header_done(conn);
	req.conn = conn;
	req.method = method;
	req.url = url;
	req.rest = url;
	return http_dispatch(&req) ? MHD_YES : MHD_NO;
}

static void http_log(void *cls, const char *fmt, va_list ap);

/* Connections open and close: the header deadline. */
static void http_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			enum MHD_ConnectionNotificationCode toe)
{
	(void)socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		guard_connection_open(conn, cls == &listener_unix, now_mono_ns());
	else
		guard_connection_close(conn);
}

/* Read a whole small file (a PEM) into a malloc'ed string; NULL with err. */
static char *read_pem(const char *path, char *err, size_t errlen)
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
int http_listen_is_loopback(const char *listen)
{
	char addr[256];
	unsigned port;
	struct in6_addr a6;
	struct in_addr a4;

	if (conf_split_listen(listen, addr, sizeof addr, &port) != 0)
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
static void activation_fds(void)
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
static void sock_name(int fd, char *buf, size_t len)
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
static int http_load_web(const struct gomemd_config *c, char *err, size_t errlen)
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
				snprintf(err, errlen,
					 "%s asks for TLS, but this libmicrohttpd was "
					 "built without it",
					 c->web_config);
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
static void http_free_web(void)
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
static int http_start_unix(const struct gomemd_config *c, char *err, size_t errlen)
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
	    0, NULL, NULL, http_access, &listener_unix, MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->socket_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->conn_timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_NOTIFY_CONNECTION,
	    http_notify, &listener_unix, MHD_OPTION_URI_LOG_CALLBACK, http_uri, NULL,
	    MHD_OPTION_STRICT_FOR_CLIENT, 0, MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL,
	    MHD_OPTION_END);
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

	activation_fds();
	if (act_tcp >= 0) { /* systemd's socket: --listen is only a default then */
		sock_name(act_tcp, addr, sizeof addr);
		snprintf(where_tcp, sizeof where_tcp, "%s (from systemd)", addr);
		snprintf(addr, sizeof addr, "127.0.0.1");
		port = 0;
	} else if (conf_split_listen(c->listen, addr, sizeof addr, &port) != 0) {
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
		    have_web ? &web : NULL,  (const char *const *)c->allow_hosts,
		    (size_t)c->nallow_hosts, "gomem",
		    c->header_timeout_s,     c->max_connections + c->socket_connections,
		    c->per_ip_limit,         GUARD_PER_UID(c->socket_connections),
		    GUARD_SOCKET_USERS(c->socket_connections),
		};

		if (guard_init(&gc, err, errlen) != 0) {
			http_free_web();
			freeaddrinfo(ai);
			return -1;
		}
	}
	routes = table;
	nroutes = n;
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
				   : web.min_tls == 11		  ? "NORMAL:-VERS-TLS1.0"
				   : web.min_tls == 12
				       ? "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1"
				       : "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-TLS1.2";
		struct MHD_OptionItem tls[] = {
		    {tls_cert != NULL ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, tls_cert},
		    {MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key},
		    {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)prio},
		    {MHD_OPTION_END, 0, NULL},
		};
		struct MHD_OptionItem opts[] = {
		    {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)http_notify, NULL},
		    {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)http_uri, NULL},
		    /* Reject what RFC 9112 says a server must: no Host in HTTP/1.1
		     * (0.9.7x's level 1; its space-before-colon check is level 2). */
		    {MHD_OPTION_STRICT_FOR_CLIENT, 0, NULL}, /* see http_uri() */
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

		mhd =
		    MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, http_access, &listener_tcp,
				     MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL, MHD_OPTION_ARRAY,
				     opts, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
	}
	rc = errno;
	freeaddrinfo(ai);
	if (mhd == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", where_tcp,
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
	/* --per-ip-limit 0 lifts the per-address caps, the streams' as well */
	if ((rc = sse_init(SSE_MAX_CLIENTS_DEFAULT,
			   c->per_ip_limit == 0			 ? 0
			   : c->per_ip_limit < SSE_MAX_PER_CLIENT ? c->per_ip_limit
								 : SSE_MAX_PER_CLIENT)) != 0)
		log_warnx("event stream: %s", strerror(-rc));
	socket_path = c->socket != NULL ? xstrdup(c->socket) : NULL;
	return 0;
}

/* Stop the server; waits for handlers to finish. */
void http_stop(void)
{
	sse_shutdown(); /* no connection may stay suspended */
	if (mhd != NULL) {
		if (act_tcp >= 0)
			MHD_quiesce_daemon(mhd); /* systemd's socket stays open for a restart */
		MHD_stop_daemon(mhd);
	}
	if (mhd_unix != NULL) {
		if (act_unix >= 0)
			MHD_quiesce_daemon(mhd_unix);
		MHD_stop_daemon(mhd_unix);
		if (act_unix < 0 && socket_path != NULL)
			unlink(socket_path);
	}
	mhd = mhd_unix = NULL;
	free(socket_path);
	socket_path = NULL;
	guard_fini();
	http_free_web();
}

/* What the TCP server listens on ("ADDR:PORT", "(from systemd)" when passed). */
const char *http_where(void)
{
	return where_tcp;
}
