/*
 * access.c: gomemd's access policy as functions of the request's facts.
 * See access.h.  Nothing here does I/O; only the limiter has state.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <string.h>
#include <strings.h>

#include "access.h"

/* ---- Host ---- */

/* Whether s[0..len) is a loopback host name or address literal. */
int access_is_loopback_name(const char *name, size_t len)
{
	char buf[64];
	struct in_addr a4;
	struct in6_addr a6;

	if (len == 0 || len >= sizeof buf)
		return 0;
	memcpy(buf, name, len);
	buf[len] = '\0';
	if (buf[len - 1] == '.') /* "localhost." is localhost */
		buf[--len] = '\0';
	if (strcasecmp(buf, "localhost") == 0 ||
	    (len > 10 && strcasecmp(buf + len - 10, ".localhost") == 0)) /* RFC 6761 */
		return 1;
	if (inet_pton(AF_INET, buf, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, buf, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return 0;
}

/*
 * Split a Host header into its name (brackets of an IPv6 literal removed)
 * and check the port is decimal.  0 on success.
 */
static int host_name(const char *host, const char **name, size_t *len)
{
	const char *end, *colon;

	if (host[0] == '[') {
		end = strchr(host, ']');
		if (end == NULL)
			return -1;
		*name = host + 1;
		*len = (size_t)(end - host - 1);
		colon = end[1] == ':' ? end + 1 : NULL;
		if (colon == NULL && end[1] != '\0')
			return -1;
	} else {
		colon = strchr(host, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			return -1; /* a bare IPv6 address is not a valid Host */
		*name = host;
		*len = colon != NULL ? (size_t)(colon - host) : strlen(host);
	}
	if (colon != NULL) {
		const char *p = colon + 1;

		if (*p == '\0' || strlen(p) > 5)
			return -1;
		for (; *p != '\0'; p++)
			if (*p < '0' || *p > '9')
				return -1;
	}
	return *len == 0 ? -1 : 0;
}

/*
 * Whether a request's Host header names this server: a loopback name or
 * address, or one of names[] (case-insensitive, without port).  A request
 * without Host (HTTP/1.0) passes: browsers always send one.
 */
int access_host_ok(const char *host, const char *const *names, size_t nnames)
{
	const char *name;
	size_t len, i;

	if (host == NULL)
		return 1;
	if (host_name(host, &name, &len) != 0)
		return 0;
	if (access_is_loopback_name(name, len))
		return 1;
	for (i = 0; i < nnames; i++)
		if (strlen(names[i]) == len && strncasecmp(names[i], name, len) == 0)
			return 1;
	return 0;
}

/* ---- cross-origin requests ---- */

/* Whether a method only reads. */
static int method_is_safe(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
	       strcmp(method, "OPTIONS") == 0;
}

/*
 * Whether a state-changing request comes from another origin and must be
 * refused.  Sec-Fetch-Site, when a browser sends it, decides: only
 * "same-origin" and "none" (typed by the user) pass.  Otherwise Origin,
 * when present, must be http(s)://HOST with the request's own Host.
 * Requests with neither header are not from a browser page and pass.
 */
int access_cross_origin_refused(const char *method, const char *host, const char *origin,
				const char *sec_fetch_site)
{
	const char *rest;

	if (method_is_safe(method))
		return 0;
	if (sec_fetch_site != NULL)
		return strcmp(sec_fetch_site, "same-origin") != 0 &&
		       strcmp(sec_fetch_site, "none") != 0;
	if (origin == NULL)
		return 0;
	if (host == NULL)
		return 1;
	if (strncmp(origin, "http://", 7) == 0)
		rest = origin + 7;
	else if (strncmp(origin, "https://", 8) == 0)
		rest = origin + 8;
	else
		return 1; /* "null", file:, other schemes */
	return strcasecmp(rest, host) != 0;
}

/* ---- routes ---- */

/*
 * Private routes: heap profiles, stacks and addresses, and anything under
 * a process beyond its summary (/processes/N/...: mappings, attach).
 * Every method but GET and HEAD is private too.  The other GET routes are
 * counters, the process list and the dashboard's files, what /proc shows
 * every user; the static handler serves every unknown path, so a new
 * route that reveals more must be added here.
 */
static const char *const private_prefixes[] = {
    "/debug/pprof", "/profile", "/leaks", "/stacks", "/maps", "/mappings", "/symbols",
};

/* The access class of a request. */
enum access_class access_route_class(const char *method, const char *path)
{
	size_t i;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return ACCESS_PRIVATE;
	for (i = 0; i < sizeof private_prefixes / sizeof private_prefixes[0]; i++) {
		size_t n = strlen(private_prefixes[i]);

		if (strncmp(path, private_prefixes[i], n) == 0 &&
		    (path[n] == '\0' || path[n] == '/' || path[n] == '?'))
			return ACCESS_PRIVATE;
	}
	/* /processes/N is public, /processes/N/anything is not */
	if (strncmp(path, "/processes/", 11) == 0 && strchr(path + 11, '/') != NULL)
		return ACCESS_PRIVATE;
	return ACCESS_PUBLIC;
}

/* ---- unix-socket peers ---- */

/*
 * Whether a unix-socket peer may make a request of class cls about a
 * process owned by owner (owner_known 0: no particular process).  Root and
 * members of admin_gid may do everything; others the public routes, and the
 * private ones only for their own processes.
 */
int access_peer_may(const struct access_peer *peer, gid_t admin_gid, enum access_class cls,
		    int owner_known, uid_t owner)
{
	size_t i;

	if (cls == ACCESS_PUBLIC || peer->uid == 0 || peer->gid == admin_gid)
		return 1;
	for (i = 0; i < peer->ngroups; i++)
		if (peer->groups[i] == admin_gid)
			return 1;
	return owner_known && owner == peer->uid;
}

/* ---- failed-authentication limiter ---- */

/* Set up a limiter: burst failures at once, one more per refill_ns. */
void access_limiter_init(struct access_limiter *l, unsigned burst, uint64_t refill_ns)
{
	memset(l, 0, sizeof *l);
	pthread_mutex_init(&l->lock, NULL);
	l->burst = burst ? burst : 1;
	l->refill_ns = refill_ns ? refill_ns : 1;
}

/* Tear a limiter down. */
void access_limiter_destroy(struct access_limiter *l)
{
	pthread_mutex_destroy(&l->lock);
}

/*
 * A 64-bit key for a client's address (FNV-1a; never 0), by what one client
 * controls.  All of loopback is one client: any local user can bind
 * 127.0.0.2, 127.1.2.3 and so on, and would count as another client at
 * each.  Any other address is itself, IPv4 also when mapped into IPv6.
 * (Not an IPv6 /64: on a LAN with SLAAC that is every host of a segment,
 * and one host's failed logins would lock out the others.)  Anything else
 * (a unix socket, no address) is 1.
 */
uint64_t access_client_key(const struct sockaddr *sa)
{
	unsigned char a[16] = {0};
	uint64_t h = 0xcbf29ce484222325ull;
	size_t len, i;

	if (sa != NULL && sa->sa_family == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		len = 4;
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct in6_addr *v6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(v6)) {
			memcpy(a, &v6->s6_addr[12], 4);
			len = 4;
		} else if (IN6_IS_ADDR_LOOPBACK(v6)) {
			a[0] = 127;
			len = 4;
		} else {
			memcpy(a, v6->s6_addr, 16);
			len = 16;
		}
	} else {
		return 1;
	}
	if (len == 4 && a[0] == 127)
		a[1] = a[2] = a[3] = 0;
	h ^= len; /* an IPv6 address never equals an IPv4 one */
	for (i = 0; i < len; i++)
		h = (h ^ a[i]) * 0x100000001b3ull;
	return h ? h : 1;
}

/* FNV-1a over tag and the uid's 4 bytes: 5 bytes, no address's length. */
static uint64_t tagged_uid_key(unsigned char tag, unsigned uid)
{
	unsigned char a[5] = {tag, (unsigned char)uid, (unsigned char)(uid >> 8),
			      (unsigned char)(uid >> 16), (unsigned char)(uid >> 24)};
	uint64_t h = 0xcbf29ce484222325ull ^ sizeof a;
	size_t i;

	for (i = 0; i < sizeof a; i++)
		h = (h ^ a[i]) * 0x100000001b3ull;
	return h > 1 ? h : 2;
}

/*
 * The key of a unix-socket peer, by its uid (SO_PEERCRED): each user is a
 * client of its own there, so one cannot take every connection or stream
 * of the socket from the others.  Root is never capped (1).  Hashed as
 * access_client_key hashes an address, over 5 bytes ('u' and the uid),
 * a length no address has: TCP and socket clients share the connection
 * table, and a uid must not count as some IPv4 address.
 */
uint64_t access_uid_key(unsigned uid)
{
	return uid == 0 ? 1 : tagged_uid_key('u', uid);
}

/*
 * The key of a TCP client on this host whose socket's owner the kernel named
 * (daemon/base/tcppeer.c): a client per uid, root's too (it is capped over
 * TCP like the others, with a share of its own), and not the same client
 * as that uid on the unix socket, which has its own budget.
 */
uint64_t access_tcp_uid_key(unsigned uid)
{
	return tagged_uid_key('t', uid);
}

/* The slot index of key, refilled to now; -1 if the client has none.  Locked. */
static int find_locked(struct access_limiter *l, uint64_t key, uint64_t now_ns)
{
	unsigned i;

	for (i = 0; i < ACCESS_LIMITER_SLOTS; i++) {
		if (l->slot[i].key != key)
			continue;
		if (now_ns > l->slot[i].last_ns) {
			uint64_t add = (now_ns - l->slot[i].last_ns) / l->refill_ns;

			if (add > 0) {
				l->slot[i].tokens = add >= l->burst - l->slot[i].tokens
							? l->burst
							: l->slot[i].tokens + (unsigned)add;
				l->slot[i].last_ns += add * l->refill_ns;
			}
		}
		if (l->slot[i].tokens == l->burst) { /* fully forgiven: free the slot */
			l->slot[i].key = 0;
			return -1;
		}
		return (int)i;
	}
	return -1;
}

/*
 * Whether a client may try to authenticate now.  When not, *retry_after_s
 * says when it may (for a Retry-After header).
 */
int access_limiter_allow(struct access_limiter *l, uint64_t key, uint64_t now_ns,
			 unsigned *retry_after_s)
{
	int i, ok = 1;

	pthread_mutex_lock(&l->lock);
	i = find_locked(l, key, now_ns);
	if (i >= 0 && l->slot[i].tokens == 0) {
		uint64_t wait = l->slot[i].last_ns + l->refill_ns - now_ns;

		ok = 0;
		l->blocked_total++;
		if (retry_after_s != NULL)
			*retry_after_s = (unsigned)((wait + 999999999ull) / 1000000000ull);
	}
	pthread_mutex_unlock(&l->lock);
	return ok;
}

/* Record a failed authentication of a client. */
void access_limiter_fail(struct access_limiter *l, uint64_t key, uint64_t now_ns)
{
	unsigned j, victim = 0;
	int i;

	pthread_mutex_lock(&l->lock);
	i = find_locked(l, key, now_ns);
	if (i < 0) {
		/* a free slot, else the one that failed longest ago */
		for (j = 0; j < ACCESS_LIMITER_SLOTS; j++) {
			if (l->slot[j].key == 0) {
				victim = j;
				break;
			}
			if (l->slot[j].last_ns < l->slot[victim].last_ns)
				victim = j;
		}
		i = (int)victim;
		l->slot[i].key = key;
		l->slot[i].tokens = l->burst;
		l->slot[i].last_ns = now_ns;
	}
	if (l->slot[i].tokens > 0) {
		if (l->slot[i].tokens == l->burst)
			l->slot[i].last_ns = now_ns; /* refills count from the first failure */
		l->slot[i].tokens--;
	}
	pthread_mutex_unlock(&l->lock);
}

/* Requests refused by the limiter so far (for /metrics). */
uint64_t access_limiter_blocked(struct access_limiter *l)
{
	uint64_t n;

	pthread_mutex_lock(&l->lock);
	n = l->blocked_total;
	pthread_mutex_unlock(&l->lock);
	return n;
}
