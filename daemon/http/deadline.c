/*
 * deadline.c: shutting down connections whose request header takes too
 * long.  See deadline.h.
 *
 * The table is a fixed array of the server's connection limit: open, done
 * and close are a scan under the lock (a few hundred entries), the sweep
 * one pass a second.  A connection is removed from the table before its
 * socket is closed (the server's close notification comes first), and the
 * sweep holds the lock while it calls shutdown(), so the fd it shuts down
 * cannot have been closed and reused by another connection meanwhile.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "deadline.h"

/* A table for at most cap connections; 0 or -1 (no memory). */
int deadline_init(struct deadline_table *t, size_t cap)
{
	memset(t, 0, sizeof *t);
	t->v = calloc(cap ? cap : 1, sizeof *t->v);
	if (t->v == NULL)
		return -1;
	t->cap = cap ? cap : 1;
	pthread_mutex_init(&t->lock, NULL);
	return 0;
}

/* Free the table. */
void deadline_fini(struct deadline_table *t)
{
	if (t->v == NULL)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t->v);
	t->v = NULL;
}

/* The entry of conn, or NULL.  Locked. */
static struct deadline_conn *find_locked(struct deadline_table *t, const void *conn)
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		if (t->v[i].conn == conn)
			return &t->v[i];
	return NULL;
}

/*
 * A connection of client opened: its header is due within the limit from
 * now.  -1 when the table is full, -2 when client has per_client
 * connections open already, or its group (if not 0) per_group (0: no
 * cap; client 1 is never capped, nor counted in a group); the caller
 * closes the connection.
 */
int deadline_open(struct deadline_table *t, const void *conn, int fd, uint64_t client,
		  unsigned per_client, unsigned group, unsigned per_group, uint64_t now_ns)
{
	struct deadline_conn *c = NULL;
	unsigned same = 0, ingroup = 0;
	size_t i;
	int ret = -1;

	pthread_mutex_lock(&t->lock);
	for (i = 0; i < t->cap; i++) {
		if (t->v[i].conn == NULL) {
			if (c == NULL)
				c = &t->v[i];
		} else {
			same += t->v[i].client == client;
			ingroup += group != 0 && t->v[i].group == group && t->v[i].client != 1;
		}
	}
	if (client != 1 && ((per_client > 0 && same >= per_client) ||
			    (group != 0 && per_group > 0 && ingroup >= per_group))) {
		ret = -2;
	} else if (c != NULL) {
		c->conn = conn;
		c->fd = fd;
		c->done = 0;
		c->start_ns = now_ns;
		c->client = client;
		c->group = group;
		ret = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

/* The connection's request is complete: no deadline any more. */
void deadline_done(struct deadline_table *t, const void *conn)
{
	struct deadline_conn *c;

	pthread_mutex_lock(&t->lock);
	c = find_locked(t, conn);
	if (c != NULL)
		c->done = 1;
	pthread_mutex_unlock(&t->lock);
}

/* A request on the connection has ended: the next one is due within the
 * limit from now (a connection kept alive gets a deadline per request). */
void deadline_rearm(struct deadline_table *t, const void *conn, uint64_t now_ns)
{
	struct deadline_conn *c;

	pthread_mutex_lock(&t->lock);
	c = find_locked(t, conn);
	if (c != NULL) {
		c->done = 0;
		c->start_ns = now_ns;
	}
	pthread_mutex_unlock(&t->lock);
}

/* The connection is closing: forget it (before its fd is closed). */
void deadline_close(struct deadline_table *t, const void *conn)
{
	struct deadline_conn *c;

	if (conn == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	c = find_locked(t, conn);
	if (c != NULL)
		memset(c, 0, sizeof *c);
	pthread_mutex_unlock(&t->lock);
}

/*
 * Shut down every connection whose header has not come within limit_ns of
 * its opening.  Returns how many were shut down now.
 */
size_t deadline_sweep(struct deadline_table *t, uint64_t now_ns, uint64_t limit_ns)
{
	size_t i, n = 0;

	pthread_mutex_lock(&t->lock);
	for (i = 0; i < t->cap; i++) {
		struct deadline_conn *c = &t->v[i];

		if (c->conn == NULL || c->done || now_ns - c->start_ns <= limit_ns)
			continue;
		shutdown(c->fd, SHUT_RDWR);
		c->done = 1; /* once */
		n++;
	}
	t->dropped += n;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* Connections shut down for a late header so far (for /metrics). */
uint64_t deadline_dropped(struct deadline_table *t)
{
	uint64_t n;

	pthread_mutex_lock(&t->lock);
	n = t->dropped;
	pthread_mutex_unlock(&t->lock);
	return n;
}
