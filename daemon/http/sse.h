/*
 * sse.h: the /events Server-Sent Events stream.
 *
 * Each client has a bounded queue of shared, reference-counted messages.
 * Publishing never blocks: a full queue drops its oldest whole message and
 * counts the drop.  libmicrohttpd pulls from the queue through a content
 * reader callback; when the queue is empty the reader suspends the
 * connection (MHD_ALLOW_SUSPEND_RESUME) and a publish resumes it.  It never
 * returns 0 without suspending, so nothing busy-waits.  A heartbeat comment ":\n\n" goes to every
 * client every SSE_HEARTBEAT_SECONDS, which also finds clients that went away.
 */
#ifndef GOMEMD_SSE_H
#define GOMEMD_SSE_H

#include <stddef.h>

#include <microhttpd.h>

#define SSE_MAX_CLIENTS_DEFAULT 64
#define SSE_QUEUE_MAX		128 /* messages queued per client */
#define SSE_HEARTBEAT_SECONDS	10
#define SSE_MAX_PER_CLIENT	4  /* streams per TCP client address, at most */
#define SSE_MAX_LOCAL		16 /* streams over the unix socket, beside the TCP ones, and root's beside those */
#define SSE_MAX_PER_UID		4  /* of them, one uid's (root: no cap) */
/*
 * The socket's send buffer (SO_SNDBUF; the kernel doubles it).  Left to
 * itself TCP grows it to megabytes for a peer that never reads, so writes
 * go on succeeding, the stream never stalls, and its idle timeout never
 * starts: each such client would pin megabytes of kernel memory.
 */
#define SSE_SNDBUF		(64 * 1024)

/*
 * Start the stream machinery (the MHD daemon must allow suspend/resume);
 * max_clients bounds concurrent /events clients (503 past it), per_client
 * those of one TCP client address (0: no cap).  Starts the heartbeat
 * thread.  0 or -errno.
 */
int sse_init(unsigned int max_clients, unsigned int per_client);
/*
 * End every stream and stop the heartbeat thread.  Call before
 * MHD_stop_daemon: it resumes suspended connections so none is left
 * suspended, and waits (up to about a second) for the streams to end.
 */
void sse_shutdown(void);

/*
 * Queue "event: <event>\ndata: <data>\n\n" for every client whose filter
 * takes pid (data must hold no newline: one JSON line).
 */
void sse_publish(int pid, const char *event, const char *data, size_t len);

/*
 * Answer GET /events: 200 text/event-stream for pid_filter (0 = every
 * process), with initial (may be NULL) queued first, already framed as SSE;
 * 503 JSON when max_clients are connected.  Returns MHD_queue_response's
 * result; *status gets the HTTP status.
 */
/* HEAD /events: the stream's headers, no body, no client. */
enum MHD_Result sse_head(struct MHD_Connection *conn, unsigned int *status);
enum MHD_Result sse_handle(struct MHD_Connection *conn, int pid_filter, const char *initial,
			   size_t initial_len, unsigned int *status);

/* Clients connected and messages dropped from slow clients' queues. */
void sse_stats(unsigned int *clients, unsigned long long *dropped);
unsigned long long sse_refused_total(void);

#endif /* GOMEMD_SSE_H */
