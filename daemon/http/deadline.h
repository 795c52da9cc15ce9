/*
 * deadline.h: a deadline for a whole request.
 *
 * libmicrohttpd's connection timeout restarts on every byte, so a client
 * that trickles a header one byte at a time holds its slot for ever.  The
 * server registers each connection when it opens, marks it when the request
 * is complete (the first call of the request handler for GET and HEAD, the
 * last, after the body, for the rest), starts the clock again when a
 * request ends (a connection kept alive has one per request) and
 * unregisters it when it closes; a sweep once a second shuts down the
 * socket of every connection whose request is older than the deadline, and
 * libmicrohttpd then closes it as it would any connection the peer dropped.
 *
 * The same table caps the connections of one client (by the caller's key:
 * libmicrohttpd's own per-address limit sees 127.0.0.2 and 127.0.0.3 as
 * two clients, where any local user can use both), and those of a group of
 * clients together (the unix socket's users but root, or the host's, so
 * that a few of them cannot take every connection).
 */
#ifndef GOMEMD_DEADLINE_H
#define GOMEMD_DEADLINE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct deadline_conn {
	const void *conn; /* the server's connection handle; NULL: free */
	int fd;
	int done; /* header complete, or already shut down */
	uint64_t start_ns;
	uint64_t client; /* the client's key (access_client_key); 1: not capped */
	unsigned group;	 /* the clients it is capped with as a whole; 0: none */
};

/* lock protects every field; the sweep holds it across shutdown(). */
struct deadline_table {
	pthread_mutex_t lock;
	struct deadline_conn *v;
	size_t cap;
	uint64_t dropped; /* connections shut down by the sweep */
};

int deadline_init(struct deadline_table *t, size_t cap);
void deadline_fini(struct deadline_table *t);
int deadline_open(struct deadline_table *t, const void *conn, int fd, uint64_t client,
		  unsigned per_client, unsigned group, unsigned per_group, uint64_t now_ns);
void deadline_done(struct deadline_table *t, const void *conn);
void deadline_rearm(struct deadline_table *t, const void *conn, uint64_t now_ns);
void deadline_close(struct deadline_table *t, const void *conn);
size_t deadline_sweep(struct deadline_table *t, uint64_t now_ns, uint64_t limit_ns);
uint64_t deadline_dropped(struct deadline_table *t);

#endif /* GOMEMD_DEADLINE_H */
