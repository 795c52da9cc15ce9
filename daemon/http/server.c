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
#include "base/tcppeer.h"
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

/*
 * What the URI callback made of the raw request target: a verdict and the
 * target's length, which http_access() checks against libmicrohttpd's.
 */
enum uri_verdict { URI_PLAIN, URI_NUL, URI_CTL, URI_PARAMS, URI_LONG };

/*
 * A request's context (con_cls) until the handler's first call: the
 * verdict and the length as one integer in the pointer, bit 0 set (never
 * an address of ours); then &started.
 */
static int started;
#define URI_CTX(v, len) ((void *)(((uintptr_t)(len) << 4) | ((uintptr_t)(v) << 1) | 1u))

/* No route reads more than a few query parameters, nor a long target. */
#define HTTP_MAX_QUERY_PARAMS 64
#define HTTP_MAX_TARGET	      8192

/*
 * The end of the request target uri: libmicrohttpd has put a NUL for the
 * space before the version, then comes the version ("HTTP/1.d": it has
 * refused any other) and the NUL that ends the line.  The first such
 * pattern at or after the first NUL: a NUL sent in the target comes before
 * it.  Reading stops there, inside the line, whatever the client sent; a
 * client that writes the pattern into its target itself ends it early
 * here, which http_access() notices (the length differs from MHD's).
 */
static const char *uri_end(const char *uri)
{
	const char *p = uri + strlen(uri);

	for (;; p++)
		if (p[0] == '\0' && strncmp(p + 1, "HTTP/1.", 7) == 0 && p[8] >= '0' &&
		    p[8] <= '9' && p[9] == '\0')
			return p;
}

static enum uri_verdict uri_verdict(const char *uri, const char *end, const char *q)
{
	const char *p;
	size_t n = 1;

	for (p = uri; p < end; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return URI_CTL;
	for (p = uri; (p = memchr(p, '%', (size_t)(end - p))) != NULL; p++)
		if (end - p >= 3 && p[1] == '0' && p[2] == '0')
			return URI_NUL;
	if (end - uri > HTTP_MAX_TARGET)
		return URI_LONG;
	for (p = q; p != NULL && (p = memchr(p + 1, '&', (size_t)(end - p - 1))) != NULL;)
		if (++n > HTTP_MAX_QUERY_PARAMS)
			return URI_PARAMS;
	return URI_PLAIN;
}

/*
 * MHD's URI callback, with the request target as sent, before it decodes
 * it.  A %00 would decode to a NUL that ends the path or value the handler
 * sees ("/index.html%00.js" would serve index.html), and a NUL sent as is
 * does the same at once: both get 400, as does a space or another control
 * character (RFC 9112 3.2).  MHD's strict mode would refuse the space
 * itself, but by closing the connection without a word, and its
 * HTTP/1.1-without-Host reply is sent twice over (0.9.75); so MHD runs
 * lenient, and these checks are here and in guard_request(), with JSON.
 *
 * A query of more than HTTP_MAX_QUERY_PARAMS parameters, or a target longer
 * than HTTP_MAX_TARGET, gets 414.  MHD 0.9.75 splits the query after this
 * callback, in place, keeping one record per parameter in the connection's
 * 64 KiB pool, which the line itself also takes; when the pool runs out it
 * queues a 431 that its state machine then drops, and the client hears
 * nothing until the request deadline (1000 parameters did it, or 24 in a
 * 64 KB target).  So the query of a request refused here is cut at the '?'
 * MHD will split at (its first): the target is the request line in MHD's
 * read buffer (its parser writes into it too), and MHD then finds no
 * parameters to store.  The request is refused before any route.  (One
 * that writes the end pattern into its target, NULs included, and puts
 * its query after that, still runs the pool out: it waits for the deadline,
 * as a slow client would.)
 */
static void *http_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	const char *end = uri_end(uri);
	char *q = memchr(uri, '?', (size_t)(end - uri));
	enum uri_verdict v = uri_verdict(uri, end, q);

	(void)cls;
	(void)conn;
	if (v != URI_PLAIN && q != NULL)
		q[1] = '\0';
	return URI_CTX(v, end - uri);
}

/* The answer to each refused target (uri_verdict's), in JSON. */
static const struct {
	unsigned status;
	const char *msg;
} uri_refusals[] = {
    [URI_NUL] = {MHD_HTTP_BAD_REQUEST, "the request target holds an encoded NUL (%00)"},
    [URI_CTL] = {MHD_HTTP_BAD_REQUEST, "the request target holds a space or a control character"},
    [URI_PARAMS] = {MHD_HTTP_URI_TOO_LONG, "the query has too many parameters"},
    [URI_LONG] = {MHD_HTTP_URI_TOO_LONG, "the request target is too long"},
};

/* MHD's access handler. */
static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version, const char *upload_data,
				   size_t *upload_data_size, void **con_cls)
{
	struct http_req req;
	int bodiless = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

	(void)upload_data;
	if (*con_cls != &started) {
		struct guard_refusal r;
		uintptr_t ctx = (uintptr_t)*con_cls;
		enum uri_verdict v = (ctx & 1) ? (enum uri_verdict)((ctx >> 1) & 7) : URI_PLAIN;

		/* MHD's target ends where its version starts: a NUL before it
		 * that the callback took for the end was the client's. */
		if ((ctx & 1) && v == URI_PLAIN && (size_t)(version - url) != (ctx >> 4) + 1)
			v = URI_CTL;
		*con_cls = &started;
		/* The deadline covers the whole request: a body too (below).
		 * libmicrohttpd waits for a chunked body after its client
		 * has shut its side, until the idle timeout, never seeing the
		 * end; one sent slowly would hold the slot as long as it
		 * lasts. */
		if (bodiless)
			guard_header_done(conn);
		/* Refusals count in gomemd_http_requests_total{code} too. */
		if (guard_request(conn, cls == &listener_unix, method, version, url, &r) != 0) {
			http_count_status(r.status);
			return http_queue_error(conn, r.status, r.msg, r.hname, r.hvalue) ? MHD_YES
											  : MHD_NO;
		}
		if (v != URI_PLAIN) {
			http_count_status(uri_refusals[v].status);
			return http_queue_error(conn, uri_refusals[v].status, uri_refusals[v].msg,
						NULL, NULL)
				   ? MHD_YES
				   : MHD_NO;
		}
		if (!bodiless)
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

/* A request ended, answered or not: the connection's next one has a deadline. */
static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			   enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)con_cls;
	(void)toe;
	guard_request_ended(conn, now_mono_ns());
}

/* Connections open and close: the request deadline. */
static void http_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			enum MHD_ConnectionNotificationCode toe)
{
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		guard_connection_open(conn, cls == &listener_unix, socket_context, now_mono_ns());
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
 * Sockets passed by systemd (gomemd.socket): a listening TCP socket, a
 * listening unix socket and a sock_diag socket (base/tcppeer.c), found
 * once; they outlive restarts of the servers (SIGHUP), which hand them back
 * with MHD_quiesce_daemon().  -1: none.
 */
static int act_tcp = -1, act_unix = -1;
static char where_tcp[320]; /* what the TCP server listens on, for messages */

/* Look for sockets passed by systemd (LISTEN_FDS); once. */
static void activation_fds(void)
{
#if HAVE_LIBSYSTEMD
	static int checked;
	int n, fd, diag = 0;

	if (checked)
		return;
	checked = 1;
	n = sd_listen_fds(1);
	for (fd = SD_LISTEN_FDS_START; n > 0 && fd < SD_LISTEN_FDS_START + n; fd++) {
		if (act_unix < 0 && sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0)
			act_unix = fd;
		else if (act_tcp < 0 && sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) > 0)
			act_tcp = fd;
		else if (tcppeer_use_diag_socket(fd) && ++diag)
			log_info("socket activation: fd %d asks the listeners' network who owns "
				 "a local client's socket",
				 fd);
		else
			log_warnx("socket activation: fd %d is not a listening TCP or unix stream "
				  "socket, nor a sock_diag one; ignored",
				  fd);
	}
	/* gomemd.service has a network of its own, where its lookups find
	 * nothing: each local TCP client would count as its address.  A socket
	 * unit older than the service (not restarted after an upgrade) has no
	 * ListenNetlink= line open yet. */
	if (act_tcp >= 0 && !diag)
		log_warnx("socket activation: no sock_diag socket passed (gomemd.socket's "
			  "ListenNetlink=inet-diag; after an upgrade, systemctl restart "
			  "gomemd.socket): where gomemd has a network of its own, local TCP "
			  "clients are told apart by address only");
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
	    http_notify, &listener_unix, MHD_OPTION_NOTIFY_COMPLETED, http_completed, NULL,
	    MHD_OPTION_URI_LOG_CALLBACK, http_uri, NULL,
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
		    {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)http_completed, NULL},
		    {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)http_uri, NULL},
		    /* Lenient: http_uri() and guard_request() refuse what level 1
		     * would, a space in the target and HTTP/1.1 without Host. */
		    {MHD_OPTION_STRICT_FOR_CLIENT, 0, NULL},
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
