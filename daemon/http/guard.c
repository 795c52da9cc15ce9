/*
 * guard.c: access checks before routing.  See guard.h; the policy itself
 * is core/access.c, the web config core/webconfig.c.
 *
 * State: the configuration (set by guard_init() before the servers start,
 * read-only while they run), the header deadline table and the
 * failed-authentication limiter (each with its own lock), and counters
 * (atomics).  Password checks cost a bcrypt hash (tens of milliseconds at
 * cost 10), so a client is limited before its password is hashed, and a
 * correct user:password is remembered (by its SHA-256 in a small table
 * under cache_lock) so that a dashboard's requests do not pay it each time.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <microhttpd.h>

#include "base/tcppeer.h"
#include "base/unixsock.h"
#include "base/obuf.h"
#include "base/procfs.h"
#include "core/access.h"
#include "core/proc.h"
#include "core/profile.h"
#include "core/statedir.h"
#include "core/webconfig.h"
#include "http/deadline.h"
#include "http/guard.h"
#include "http/reply.h"

#define GUARD_MAX_HOSTS 16
static struct guard_conf conf;		 /* set by guard_init only, before the servers start */
/* --per-ip-limit split among the host's users, as the socket's budget is
 * (guard_init, from conf.per_client; 0: no cap): a user's share, and all
 * users' but root's together. */
static unsigned local_per_uid, local_users;
static char hosts[GUARD_MAX_HOSTS][256]; /* conf.hosts points here */
static const char *host_ptrs[GUARD_MAX_HOSTS];
static gid_t admin_gid;
static int have_admin_gid;
static struct deadline_table deadlines;
static struct access_limiter limiter;
static struct guard_counts counts; /* atomics */

/* Remembered good credentials: hash of "user:password" (FNV-1a 64 x2). */
#define GOOD_CACHE 16
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t good_cache[GOOD_CACHE][2]; /* under cache_lock */
static unsigned good_next;		   /* under cache_lock */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Set up; 0 or -1 with err.  Copies what it keeps of c (not the web config). */
int guard_init(const struct guard_conf *c, char *err, size_t errlen)
{
	size_t i;

	conf = *c;
	/* the configuration is replaced on reload: keep our own copy of the names */
	conf.nhosts = c->nhosts < GUARD_MAX_HOSTS ? c->nhosts : GUARD_MAX_HOSTS;
	for (i = 0; i < conf.nhosts; i++) {
		snprintf(hosts[i], sizeof hosts[i], "%s", c->hosts[i]);
		host_ptrs[i] = hosts[i];
	}
	conf.hosts = (const char *const *)host_ptrs;
	/* below 8, a share and the users' together are the limit itself */
	local_per_uid = GUARD_PER_UID(conf.per_client);
	local_users = GUARD_SOCKET_USERS(conf.per_client);
	if (local_per_uid > conf.per_client)
		local_per_uid = conf.per_client;
	if (local_users > conf.per_client)
		local_users = conf.per_client;
	have_admin_gid = c->admin_group != NULL && unixsock_group(c->admin_group, &admin_gid) == 0;
	if (deadline_init(&deadlines, c->max_connections + 64) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	access_limiter_init(&limiter, 5, 2000000000ull); /* 5 at once, then one per 2 s */
	return 0;
}

/* Tear down (servers stopped). */
void guard_fini(void)
{
	deadline_fini(&deadlines);
	access_limiter_destroy(&limiter);
	pthread_mutex_lock(&cache_lock);
	memset(good_cache, 0, sizeof good_cache);
	pthread_mutex_unlock(&cache_lock);
}

/* The socket of a connection, or -1. */
static int conn_fd(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

	return ci != NULL ? ci->connect_fd : -1;
}

/* Groups capped as a whole: the unix socket's users but root, local TCP's. */
#define GROUP_SOCKET 1u
#define GROUP_LOCAL  2u

/* The key is kept in MHD's socket context pointer, whole. */
_Static_assert(sizeof(void *) >= sizeof(uint64_t), "gomemd keeps a 64-bit key in a pointer");

/*
 * Who a new connection's client is, and its caps (deadline_open's):
 * - on the unix socket, its uid (SO_PEERCRED; access_uid_key: root is 1,
 *   never capped; a peer without credentials, never seen on Linux, a
 *   user: 2), a quarter of the socket's connections each, all but root's
 *   quarter together;
 * - over TCP from this host, the uid that owns the client's socket
 *   (sock_diag, base/tcppeer.c), with --per-ip-limit split as the
 *   socket's budget is: a quarter each, root's quarter its own and the
 *   users' together the rest (below 8, each and all of them together
 *   the limit).  Any local user can connect from any loopback address,
 *   or from the host's other addresses, so the address would make all of
 *   them one client, or let one user be many: one user holding its cap
 *   locked out every other, a Prometheus scraping on the same host
 *   included;
 * - otherwise (a remote client, or one the kernel does not name: it has
 *   closed its socket), its address (access_client_key: all of loopback
 *   is one), --per-ip-limit connections.
 */
static uint64_t connection_client(struct MHD_Connection *conn, int is_unix, unsigned *per_client,
				  unsigned *group, unsigned *per_group)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
	struct unixsock_cred cred;
	uid_t uid;

	*per_client = *per_group = *group = 0;
	if (is_unix || sa == NULL || sa->sa_family == AF_UNIX) {
		*per_client = conf.per_uid;
		*group = GROUP_SOCKET;
		*per_group = conf.socket_users;
		return unixsock_cred(conn_fd(conn), &cred) == 0 ? access_uid_key((unsigned)cred.uid)
								: 2;
	}
	if (tcppeer_uid_fd(conn_fd(conn), &uid) == 0) {
		*per_client = local_per_uid;
		*group = uid != 0 ? GROUP_LOCAL : 0;
		*per_group = local_users;
		return access_tcp_uid_key((unsigned)uid);
	}
	*per_client = conf.per_client;
	return access_client_key(sa);
}

/*
 * The client's key (the limiter's, the connection caps', the event
 * streams'): found once, when the connection opened (connection_client),
 * and kept as the connection's socket context.
 */
uint64_t guard_client_key(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	unsigned per_client, group, per_group;

	if (ci != NULL && ci->socket_context != NULL)
		return (uint64_t)(uintptr_t)ci->socket_context;
	return connection_client(conn, 0, &per_client, &group, &per_group);
}

/*
 * A connection opened: note its client in *socket_context; its request is
 * due within the timeout, and it must fit in its client's caps.
 */
void guard_connection_open(struct MHD_Connection *conn, int is_unix, void **socket_context,
			   uint64_t now)
{
	unsigned per_client, group, per_group;
	uintptr_t key =
	    (uintptr_t)connection_client(conn, is_unix, &per_client, &group, &per_group);
	int fd = conn_fd(conn);

	*socket_context = (void *)key;
	/* Over the server's limit (cannot be tracked) or the client's cap. */
	if (fd >= 0 &&
	    deadline_open(&deadlines, conn, fd, key, per_client, group, per_group, now) != 0)
		shutdown(fd, SHUT_RDWR);
}

/* A connection is closing. */
void guard_connection_close(struct MHD_Connection *conn)
{
	deadline_close(&deadlines, conn);
}

/* The connection's request is complete (header, and body if any). */
void guard_header_done(struct MHD_Connection *conn)
{
	deadline_done(&deadlines, conn);
}

/* A request on the connection has ended: the next one has a deadline too. */
void guard_request_ended(struct MHD_Connection *conn, uint64_t now)
{
	deadline_rearm(&deadlines, conn, now);
}

/* Drop connections whose header is late; how many were dropped now. */
size_t guard_sweep(uint64_t now)
{
	size_t n = deadline_sweep(&deadlines, now, (uint64_t)conf.header_timeout_s * 1000000000ull);

	__atomic_add_fetch(&counts.header_timeouts, n, __ATOMIC_RELAXED);
	return n;
}

/* Copy the counters. */
void guard_counts(struct guard_counts *out)
{
	out->host_refused = __atomic_load_n(&counts.host_refused, __ATOMIC_RELAXED);
	out->origin_refused = __atomic_load_n(&counts.origin_refused, __ATOMIC_RELAXED);
	out->auth_failures = __atomic_load_n(&counts.auth_failures, __ATOMIC_RELAXED);
	out->auth_limited = __atomic_load_n(&counts.auth_limited, __ATOMIC_RELAXED);
	out->forbidden = __atomic_load_n(&counts.forbidden, __ATOMIC_RELAXED);
	out->header_timeouts = __atomic_load_n(&counts.header_timeouts, __ATOMIC_RELAXED);
}

/* Fill a refusal; returns its status. */
static unsigned __attribute__((format(printf, 3, 4)))
refuse(struct guard_refusal *r, unsigned status, const char *fmt, ...)
{
	va_list ap;

	r->status = status;
	r->hname = r->hvalue = NULL;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof r->msg, fmt, ap);
	va_end(ap);
	return status;
}

/* ---- Basic auth ---- */

static const unsigned char b64[256] = {
    ['A'] = 1,	['B'] = 2,  ['C'] = 3,	['D'] = 4,  ['E'] = 5,	['F'] = 6,  ['G'] = 7,	['H'] = 8,
    ['I'] = 9,	['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

/*
 * Decode "Basic BASE64(user:password)" into out (NUL-terminated), with
 * *colon at the separator.  0 or -1 if malformed.
 */
static int basic_decode(const char *h, char *out, size_t outlen, char **colon)
{
	size_t i, n = 0, bits = 0;
	uint32_t acc = 0;

	if (strncasecmp(h, "Basic ", 6) != 0)
		return -1;
	for (h += 6; *h == ' '; h++)
		;
	for (i = 0; h[i] != '\0' && h[i] != '='; i++) {
		unsigned v = b64[(unsigned char)h[i]];

		if (v == 0)
			return -1;
		acc = acc << 6 | (v - 1);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n + 1 >= outlen)
				return -1;
			out[n++] = (char)(acc >> bits & 0xff);
		}
	}
	out[n] = '\0';
	if (memchr(out, '\0', n) != NULL)
		return -1;
	*colon = strchr(out, ':');
	return *colon == NULL ? -1 : 0;
}

/* Two independent 64-bit hashes of s, for the good-credentials cache. */
static void cred_hash(const char *s, uint64_t h[2])
{
	uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;

	for (; *s != '\0'; s++) {
		a = (a ^ (unsigned char)*s) * 0x100000001b3ull;
		b = (b ^ (unsigned char)*s) * 0x100000001b3ull + 0x9e3779b97f4a7c15ull;
	}
	h[0] = a;
	h[1] = b ? b : 1;
}

/* Whether the Authorization header names a configured user. */
static int authorised(const char *hdr)
{
	char buf[512], *colon;
	uint64_t h[2];
	unsigned i;
	int ok = 0;

	if (hdr == NULL || conf.web == NULL || basic_decode(hdr, buf, sizeof buf, &colon) != 0)
		return 0;
	cred_hash(buf, h);
	pthread_mutex_lock(&cache_lock);
	for (i = 0; i < GOOD_CACHE; i++)
		if (good_cache[i][0] == h[0] && good_cache[i][1] == h[1])
			ok = 1;
	pthread_mutex_unlock(&cache_lock);
	if (!ok) {
		*colon = '\0';
		ok = webconfig_check_user(conf.web, buf, colon + 1);
		if (ok) {
			pthread_mutex_lock(&cache_lock);
			good_cache[good_next][0] = h[0];
			good_cache[good_next][1] = h[1];
			good_next = (good_next + 1) % GOOD_CACHE;
			pthread_mutex_unlock(&cache_lock);
		}
	}
	explicit_bzero(buf, sizeof buf);
	return ok;
}

/* ---- the process a request is about ---- */

/*
 * The pid a request names (?pid=N or /processes/N), 0 if none, -1 if it
 * names two: the routes under /processes/N act on the path's pid, so a
 * ?pid= beside it must not be what the owner check looks at.
 */
static int request_pid(struct MHD_Connection *conn, const char *url)
{
	const char *s = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "pid");
	char buf[16];
	size_t n;
	int pid, qpid;

	if (strncmp(url, "/processes/", 11) == 0) {
		n = strcspn(url + 11, "/");
		if (n == 0 || n >= sizeof buf)
			return s != NULL ? -1 : 0;
		memcpy(buf, url + 11, n);
		buf[n] = '\0';
		if (http_parse_pid(buf, &pid) != 0)
			return s != NULL ? -1 : 0;
		if (s != NULL && (http_parse_pid(s, &qpid) != 0 || qpid != pid))
			return -1;
		return pid;
	}
	return http_parse_pid(s, &pid) == 0 ? pid : 0; /* reply.c's, the one parser */
}

/*
 * Whose the data about pid is: 1 with *owner set if every record of it
 * names one owner, the live process's (/proc/PID), the process table's
 * (its real uid when first seen) and the state directory's (an ended
 * process's saved profile).  A pid is reused: the user whose process has
 * pid N now must not get the profile another user's ended process N left,
 * so records that disagree, or a saved entry that names no owner, make
 * the owner unknown (root and the admin group only).
 */
static int pid_owner(int pid, uid_t *owner)
{
	struct statedir_entry e;
	struct proc_info info;
	void *buf = NULL;
	size_t len;
	uid_t u[3];
	int n = 0, i;

	if (procfs_owner(pid, &u[n]) == 0)
		n++;
	if (proc_copy(pid, &info, NULL) >= 0) { /* 1: no snapshot yet */
		if (!info.have_uid)
			return 0;
		u[n++] = info.uid;
	}
	if (profile_ended_file(pid, "info", 4096, &buf, &len, &e) == 0) {
		free(buf);
		if (!e.have_uid)
			return 0;
		u[n++] = e.uid;
	}
	for (i = 1; i < n; i++)
		if (u[i] != u[0])
			return 0;
	if (n == 0)
		return 0;
	*owner = u[0];
	return 1;
}

/* MHD_get_connection_values' callback: counts Host header lines. */
static enum MHD_Result count_host(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	(void)kind;
	(void)value;
	*(unsigned *)cls += strcasecmp(key, "Host") == 0;
	return MHD_YES;
}

/*
 * Check a request.  0: let it through.  Otherwise the HTTP status to
 * answer with, and r says what and why.
 */
int guard_request(struct MHD_Connection *conn, int is_unix, const char *method,
		  const char *version, const char *url, struct guard_refusal *r)
{
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	enum access_class cls;
	uint64_t key;
	unsigned retry = 1, nhost = 0;

	/* RFC 9112 3.2: more than one Host line is a 400 (the first would win). */
	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_host, &nhost);
	if (nhost > 1)
		return (int)refuse(r, MHD_HTTP_BAD_REQUEST, "more than one Host header");
	/* And none in an HTTP/1.1 request is a 400 too (server.c leaves this to
	 * us), or in 1.2 to 1.9, which libmicrohttpd reads as 1.1. */
	if (nhost == 0 && strncmp(version, "HTTP/1.", 7) == 0 &&
	    strcmp(version, MHD_HTTP_VERSION_1_0) != 0)
		return (int)refuse(r, MHD_HTTP_BAD_REQUEST, "an HTTP/1.1 request needs a Host header");
	if (!is_unix && !access_host_ok(host, conf.hosts, conf.nhosts)) {
		__atomic_add_fetch(&counts.host_refused, 1, __ATOMIC_RELAXED);
		return (int)refuse(r, MHD_HTTP_MISDIRECTED_REQUEST,
				   "Host \"%.64s\" is not this server (add it with --allow-host)",
				   host);
	}
	if (access_cross_origin_refused(
		method, host, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"),
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site"))) {
		__atomic_add_fetch(&counts.origin_refused, 1, __ATOMIC_RELAXED);
		return (int)refuse(r, MHD_HTTP_FORBIDDEN, "cross-origin %s refused", method);
	}
	cls = access_route_class(method, url);
	if (cls == ACCESS_PUBLIC)
		return 0;

	if (is_unix) {
		struct unixsock_cred cred;
		struct access_peer peer;
		uid_t owner = 0;
		int pid = request_pid(conn, url), known;

		if (pid < 0)
			return (int)refuse(r, MHD_HTTP_BAD_REQUEST,
					   "?pid= names another process than the path");
		if (unixsock_cred(conn_fd(conn), &cred) != 0) {
			__atomic_add_fetch(&counts.forbidden, 1, __ATOMIC_RELAXED);
			return (int)refuse(r, MHD_HTTP_FORBIDDEN, "peer credentials unavailable");
		}
		peer.uid = cred.uid;
		peer.gid = cred.gid;
		peer.groups = cred.groups;
		peer.ngroups = cred.ngroups;
		known = pid > 0 && pid_owner(pid, &owner);
		if (access_peer_may(&peer, have_admin_gid ? admin_gid : 0, cls, known, owner))
			return 0;
		__atomic_add_fetch(&counts.forbidden, 1, __ATOMIC_RELAXED);
		return (int)refuse(
		    r, MHD_HTTP_FORBIDDEN,
		    "uid %u may see only its own processes' profiles; root and group "
		    "%s see all",
		    (unsigned)cred.uid, conf.admin_group ? conf.admin_group : "gomem");
	}

	/* TCP: a configured user */
	key = guard_client_key(conn);
	if (!access_limiter_allow(&limiter, key, now_ns(), &retry)) {
		__atomic_add_fetch(&counts.auth_limited, 1, __ATOMIC_RELAXED);
		refuse(r, MHD_HTTP_TOO_MANY_REQUESTS, "too many failed logins; retry in %u s",
		       retry);
		snprintf(r->hbuf, sizeof r->hbuf, "%u", retry);
		r->hname = MHD_HTTP_HEADER_RETRY_AFTER;
		r->hvalue = r->hbuf;
		return (int)r->status;
	}
	{
		const char *auth =
		    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");

		if (authorised(auth))
			return 0;
		if (auth != NULL) { /* a wrong password counts; none is just a question */
			__atomic_add_fetch(&counts.auth_failures, 1, __ATOMIC_RELAXED);
			access_limiter_fail(&limiter, key, now_ns());
		}
	}
	refuse(r, MHD_HTTP_UNAUTHORIZED, "%s",
	       conf.web != NULL && webconfig_has_auth(conf.web)
		   ? "this route needs a user of the web config"
		   : "this route needs a user (--web-config) or the unix socket (--socket)");
	r->hname = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
	r->hvalue = "Basic realm=\"gomemd\", charset=\"UTF-8\"";
	return (int)r->status;
}

/* Write the guard's counters in Prometheus text format. */
void guard_prom(struct obuf *b)
{
	struct guard_counts c;

	guard_counts(&c);
	obuf_printf(b,
		    "# HELP gomemd_http_refused_total Requests refused before routing, by reason.\n"
		    "# TYPE gomemd_http_refused_total counter\n"
		    "gomemd_http_refused_total{reason=\"host\"} %llu\n"
		    "gomemd_http_refused_total{reason=\"origin\"} %llu\n"
		    "gomemd_http_refused_total{reason=\"forbidden\"} %llu\n",
		    (unsigned long long)c.host_refused, (unsigned long long)c.origin_refused,
		    (unsigned long long)c.forbidden);
	obuf_printf(b,
		    "# HELP gomemd_http_auth_failures_total Requests with wrong basic-auth "
		    "credentials.\n# TYPE gomemd_http_auth_failures_total counter\n"
		    "gomemd_http_auth_failures_total %llu\n"
		    "# HELP gomemd_http_auth_limited_total Requests refused (429) after too many "
		    "failed logins from their address.\n# TYPE gomemd_http_auth_limited_total "
		    "counter\ngomemd_http_auth_limited_total %llu\n"
		    "# HELP gomemd_http_header_timeouts_total Connections closed because their "
		    "request header took too long.\n# TYPE gomemd_http_header_timeouts_total "
		    "counter\ngomemd_http_header_timeouts_total %llu\n",
		    (unsigned long long)c.auth_failures, (unsigned long long)c.auth_limited,
		    (unsigned long long)c.header_timeouts);
}
