/*
 * guard.h: the checks every request passes before its route runs (guard.c).
 *
 * The server calls guard_connection() when a connection opens and closes
 * (the header deadline), and guard_request() once per request, when its
 * header is complete.  guard_request() applies core/access.c's policy to
 * what libmicrohttpd knows about the request: the listener it came in on
 * (TCP or the unix socket), the Host, Origin, Sec-Fetch-Site and
 * Authorization headers, the client's address or the socket peer's
 * credentials, and the process the request is about.  A refusal is a
 * status, a message and possibly one header, which the server sends as its
 * usual JSON error.
 */
#ifndef GOMEMD_GUARD_H
#define GOMEMD_GUARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct MHD_Connection;
struct webconfig;

/* A uid's share of the unix socket's connections: a quarter, 2 at least. */
#define GUARD_PER_UID(socket_connections) ((socket_connections) / 4 > 2 ? (socket_connections) / 4 : 2)
/* All users' but root's together: root keeps one user's share (none below 4). */
#define GUARD_SOCKET_USERS(socket_connections)                                                     \
	((socket_connections) >= 2 * GUARD_PER_UID(socket_connections)                             \
	     ? (socket_connections) - GUARD_PER_UID(socket_connections)                            \
	     : GUARD_PER_UID(socket_connections))

struct guard_conf {
	const struct webconfig *web; /* NULL: no users, no TLS */
	const char *const *hosts;    /* names beyond loopback the listener answers to */
	size_t nhosts;
	const char *admin_group;   /* "gomem": socket peers in it get everything */
	unsigned header_timeout_s; /* whole request header, from connect */
	unsigned max_connections;  /* size of the deadline table */
	unsigned per_client;	   /* connections of one client address, split per uid among
				      local users as the socket's (0: no cap) */
	unsigned per_uid;	   /* unix-socket connections of one uid but root (0: no cap) */
	unsigned socket_users;	   /* those of all uids but root together (0: no cap) */
};

struct guard_refusal {
	unsigned status;
	const char *hname, *hvalue; /* one extra header, or NULL */
	char hbuf[64];		    /* storage for hvalue when formatted */
	char msg[192];
};

/* Counters for /metrics, each monotonic. */
struct guard_counts {
	uint64_t host_refused, origin_refused, auth_failures, auth_limited, forbidden,
	    header_timeouts;
};

int guard_init(const struct guard_conf *c, char *err, size_t errlen);
void guard_fini(void);
void guard_connection_open(struct MHD_Connection *conn, int is_unix, void **socket_context,
			   uint64_t now_ns);
uint64_t guard_client_key(struct MHD_Connection *conn);
void guard_connection_close(struct MHD_Connection *conn);
void guard_header_done(struct MHD_Connection *conn);
void guard_request_ended(struct MHD_Connection *conn, uint64_t now_ns);
size_t guard_sweep(uint64_t now_ns);
int guard_request(struct MHD_Connection *conn, int is_unix, const char *method,
		  const char *version, const char *url, struct guard_refusal *r);
void guard_counts(struct guard_counts *out);
struct obuf;
void guard_prom(struct obuf *b);

#endif /* GOMEMD_GUARD_H */
