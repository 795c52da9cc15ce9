/*
 * sse.c: Server-Sent Events with bounded per-client queues.  See sse.h.
 *
 * Locking: one mutex (sse_lock) guards the client list, every queue and
 * every client's flags.  MHD_resume_connection is called with sse_lock
 * released (a suspended connection cannot be closed or freed by MHD, so the
 * pointer stays valid), which keeps MHD's own locks and ours unordered.
 */
#include "config.h"

#include "http/guard.h"
#include "http/reply.h"
#include "http/sse.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

/* One framed message, shared by every queue that holds it. */
struct sse_msg {
	unsigned int refs;
	size_t len;
	char data[];
};

struct sse_client {
	struct sse_client *next;
	struct MHD_Connection *conn;
	int pid_filter;
	struct sse_msg *q[SSE_QUEUE_MAX];
	size_t head;		/* index of the oldest message */
	size_t count;		/* messages queued */
	size_t off;		/* bytes of q[head] already handed to MHD */
	int suspended;		/* we suspended conn and nobody resumed it yet */
	int closing;		/* end the stream at the next read */
	int local;		/* came in on the unix socket: its own budget */
	uint64_t client;	/* guard_client_key: an address, or a uid on the socket */
};

static pthread_mutex_t sse_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sse_cond; /* shutdown, for the heartbeat thread */
static struct sse_client *sse_clients;
static unsigned int sse_nclients, sse_max = SSE_MAX_CLIENTS_DEFAULT;
static unsigned int sse_per_client = SSE_MAX_PER_CLIENT; /* 0: no cap */
static unsigned long long sse_dropped;
static unsigned long long sse_refused; /* clients turned away by a cap */
static int sse_running;
static pthread_t sse_hb_thread; /* main thread only (init, shutdown) */

/* Make a message holding the given bytes; one reference. */
static struct sse_msg *sse_msg_new(const char *a, size_t alen, const char *b, size_t blen,
				   const char *c, size_t clen)
{
	struct sse_msg *m = malloc(sizeof *m + alen + blen + clen);

	if (m == NULL)
		return NULL;
	m->refs = 1;
	m->len = alen + blen + clen;
	memcpy(m->data, a, alen);
	if (blen > 0)
		memcpy(m->data + alen, b, blen);
	if (clen > 0)
		memcpy(m->data + alen + blen, c, clen);
	return m;
}

/* Drop a reference (sse_lock held). */
static void sse_msg_unref(struct sse_msg *m)
{
	if (--m->refs == 0)
		free(m);
}

/*
 * Queue m on cl (sse_lock held).  A full queue drops its oldest message
 * that MHD has not started to send.  Returns whether cl needs a resume.
 */
static int sse_enqueue(struct sse_client *cl, struct sse_msg *m)
{
	if (cl->closing)
		return 0;
	if (cl->count == SSE_QUEUE_MAX) {
		/* Never cut a message MHD already began to send. */
		size_t victim = cl->off > 0 ? 1 : 0, i;
		size_t at = (cl->head + victim) % SSE_QUEUE_MAX;

		sse_msg_unref(cl->q[at]);
		for (i = victim; i + 1 < cl->count; i++)
			cl->q[(cl->head + i) % SSE_QUEUE_MAX] =
			    cl->q[(cl->head + i + 1) % SSE_QUEUE_MAX];
		cl->count--;
		sse_dropped++;
	}
	m->refs++;
	cl->q[(cl->head + cl->count) % SSE_QUEUE_MAX] = m;
	cl->count++;
	if (cl->suspended) {
		cl->suspended = 0;
		return 1;
	}
	return 0;
}

/* Resume the connections collected while sse_lock was held. */
static void sse_resume_all(struct MHD_Connection **conns, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		MHD_resume_connection(conns[i]);
}

/* Queue one message on all clients that take pid (0: all). */
static void sse_broadcast(int pid, struct sse_msg *m)
{
	struct MHD_Connection *wake[SSE_MAX_CLIENTS_DEFAULT * 4];
	struct sse_client *cl;
	size_t nwake = 0;

	pthread_mutex_lock(&sse_lock);
	for (cl = sse_clients; cl != NULL; cl = cl->next) {
		if (pid != 0 && cl->pid_filter != 0 && cl->pid_filter != pid)
			continue;
		if (sse_enqueue(cl, m)) {
			if (nwake < sizeof wake / sizeof wake[0])
				wake[nwake++] = cl->conn;
			else
				cl->suspended = 1; /* cannot happen: clients are bounded */
		}
	}
	sse_msg_unref(m);
	pthread_mutex_unlock(&sse_lock);
	sse_resume_all(wake, nwake);
}

void sse_publish(int pid, const char *event, const char *data, size_t len)
{
	char head[96];
	int n = snprintf(head, sizeof head, "event: %s\ndata: ", event);
	struct sse_msg *m;

	if (n < 0 || (size_t)n >= sizeof head)
		return;
	m = sse_msg_new(head, (size_t)n, data, len, "\n\n", 2);
	if (m != NULL)
		sse_broadcast(pid, m);
}

/* Heartbeat thread: a comment to every client every SSE_HEARTBEAT_SECONDS. */
static void *sse_heartbeat_main(void *arg)
{
	struct timespec ts;

	(void)arg;
	pthread_mutex_lock(&sse_lock);
	while (sse_running) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += SSE_HEARTBEAT_SECONDS;
		while (sse_running &&
		       pthread_cond_timedwait(&sse_cond, &sse_lock, &ts) != ETIMEDOUT)
			;
		if (!sse_running)
			break;
		pthread_mutex_unlock(&sse_lock);
		{
			struct sse_msg *m = sse_msg_new(":\n\n", 3, NULL, 0, NULL, 0);

			if (m != NULL)
				sse_broadcast(0, m);
		}
		pthread_mutex_lock(&sse_lock);
	}
	pthread_mutex_unlock(&sse_lock);
	return NULL;
}

/* The heartbeat's condition variable waits on the monotonic clock. */
static void sse_cond_init(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sse_cond, &ca);
	pthread_condattr_destroy(&ca);
}

int sse_init(unsigned int max_clients, unsigned int per_client)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int err;

	pthread_once(&once, sse_cond_init);
	/* MHD's threads may already serve /events: publish under the lock */
	pthread_mutex_lock(&sse_lock);
	if (max_clients > 0 && max_clients <= SSE_MAX_CLIENTS_DEFAULT * 4)
		sse_max = max_clients;
	sse_per_client = per_client;
	sse_running = 1;
	pthread_mutex_unlock(&sse_lock);
	err = pthread_create(&sse_hb_thread, NULL, sse_heartbeat_main, NULL);
	if (err != 0) {
		pthread_mutex_lock(&sse_lock);
		sse_running = 0;
		pthread_mutex_unlock(&sse_lock);
		return -err;
	}
	return 0;
}

void sse_shutdown(void)
{
	struct MHD_Connection *wake[SSE_MAX_CLIENTS_DEFAULT * 4];
	struct sse_client *cl;
	size_t nwake = 0;
	int i;

	pthread_mutex_lock(&sse_lock);
	if (!sse_running) {
		pthread_mutex_unlock(&sse_lock);
		return;
	}
	sse_running = 0;
	for (cl = sse_clients; cl != NULL; cl = cl->next) {
		cl->closing = 1;
		if (cl->suspended) {
			cl->suspended = 0;
			wake[nwake++] = cl->conn;
		}
	}
	pthread_cond_broadcast(&sse_cond);
	pthread_mutex_unlock(&sse_lock);
	sse_resume_all(wake, nwake);
	pthread_join(sse_hb_thread, NULL);
	/* Let MHD run the readers once so the streams end cleanly. */
	for (i = 0; i < 100; i++) {
		unsigned int n;

		pthread_mutex_lock(&sse_lock);
		n = sse_nclients;
		pthread_mutex_unlock(&sse_lock);
		if (n == 0)
			break;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
}

/* Copy queued bytes into buf (sse_lock held); returns bytes copied. */
static size_t sse_drain(struct sse_client *cl, char *buf, size_t max)
{
	size_t n = 0, k;

	while (cl->count > 0 && n < max) {
		struct sse_msg *m = cl->q[cl->head];

		k = m->len - cl->off;
		if (k > max - n)
			k = max - n;
		memcpy(buf + n, m->data + cl->off, k);
		n += k;
		cl->off += k;
		if (cl->off == m->len) {
			sse_msg_unref(m);
			cl->head = (cl->head + 1) % SSE_QUEUE_MAX;
			cl->count--;
			cl->off = 0;
		}
	}
	return n;
}

/* MHD content reader: queued bytes, or suspend until a publish resumes us. */
static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse_client *cl = cls;
	size_t n;

	(void)pos;
	pthread_mutex_lock(&sse_lock);
	if (cl->closing) {
		pthread_mutex_unlock(&sse_lock);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	n = sse_drain(cl, buf, max);
	if (n == 0) {
		cl->suspended = 1;
		MHD_suspend_connection(cl->conn);
	}
	pthread_mutex_unlock(&sse_lock);
	return (ssize_t)n;
}

/* MHD is done with the response: forget the client. */
static void sse_free(void *cls)
{
	struct sse_client *cl = cls, **pp;

	pthread_mutex_lock(&sse_lock);
	for (pp = &sse_clients; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			sse_nclients--;
			break;
		}
	}
	while (cl->count > 0) {
		sse_msg_unref(cl->q[cl->head]);
		cl->head = (cl->head + 1) % SSE_QUEUE_MAX;
		cl->count--;
	}
	pthread_mutex_unlock(&sse_lock);
	free(cl);
}

/* The headers of a stream. */
static void sse_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/event-stream; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
}

enum MHD_Result sse_head(struct MHD_Connection *conn, unsigned int *status)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (r == NULL) {
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		return http_queue_error(conn, *status, "out of memory", NULL, NULL);
	}
	sse_headers(r);
	*status = MHD_HTTP_OK;
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result sse_handle(struct MHD_Connection *conn, int pid_filter, const char *initial,
			   size_t initial_len, unsigned int *status)
{
	static const char hello[] = "retry: 2000\n\n";
	struct MHD_Response *r;
	struct sse_client *cl;
	struct sse_msg *m;
	enum MHD_Result ret;

	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
	uint64_t client = guard_client_key(conn);
	unsigned int same = 0, local_n = 0, root_n = 0;
	int local = sa == NULL || sa->sa_family == AF_UNIX;
	const char *why = NULL;
	const union MHD_ConnectionInfo *fdi =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

	pthread_mutex_lock(&sse_lock);
	/* The socket's streams: root's beside the others' (so that users
	 * holding theirs cannot lock root out), each set up to SSE_MAX_LOCAL. */
	for (cl = sse_clients; cl != NULL; cl = cl->next) {
		local_n += cl->local && cl->client != 1;
		root_n += cl->local && cl->client == 1;
		same += cl->local == local && cl->client == client;
	}
	if (!sse_running)
		why = "the event stream is stopping";
	else if (local && (client == 1 ? root_n : local_n) >= SSE_MAX_LOCAL)
		why = "too many /events clients on the unix socket";
	else if (!local && sse_nclients - local_n - root_n >= sse_max)
		why = "too many /events clients";
	else if (!local && sse_per_client > 0 && same >= sse_per_client)
		why = "too many /events streams from this address";
	else if (local && client != 1 && same >= SSE_MAX_PER_UID)
		why = "too many /events streams of this user on the unix socket";
	if (why != NULL) {
		sse_refused++;
		pthread_mutex_unlock(&sse_lock);
		*status = MHD_HTTP_SERVICE_UNAVAILABLE;
		return http_queue_error(conn, *status, why, MHD_HTTP_HEADER_RETRY_AFTER, "5");
	}
	cl = calloc(1, sizeof *cl);
	if (cl == NULL) {
		pthread_mutex_unlock(&sse_lock);
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		return http_queue_error(conn, *status, "out of memory", NULL, NULL);
	}
	cl->conn = conn;
	cl->pid_filter = pid_filter;
	cl->local = local;
	cl->client = client;
	m = sse_msg_new(hello, sizeof hello - 1, initial, initial != NULL ? initial_len : 0, NULL,
			0);
	if (m != NULL) {
		sse_enqueue(cl, m);
		sse_msg_unref(m);
	}
	cl->next = sse_clients;
	sse_clients = cl;
	sse_nclients++;
	pthread_mutex_unlock(&sse_lock);

	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_reader, cl,
					      sse_free);
	if (r == NULL) {
		sse_free(cl);
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		return http_queue_error(conn, *status, "out of memory", NULL, NULL);
	}
	sse_headers(r);
	if (fdi != NULL && !local) {
		int sndbuf = SSE_SNDBUF;

		setsockopt(fdi->connect_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	}
	/*
	 * Heartbeats keep a healthy stream busy, so an idle timeout of a few
	 * heartbeats only ends clients that stopped reading (their socket is
	 * full, nothing moves); until then their queue drops old events.
	 */
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
				  (unsigned int)(3 * SSE_HEARTBEAT_SECONDS + 5));
	*status = MHD_HTTP_OK;
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

void sse_stats(unsigned int *clients, unsigned long long *dropped)
{
	pthread_mutex_lock(&sse_lock);
	*clients = sse_nclients;
	*dropped = sse_dropped;
	pthread_mutex_unlock(&sse_lock);
}

/* Clients turned away by a cap so far. */
unsigned long long sse_refused_total(void)
{
	unsigned long long n;

	pthread_mutex_lock(&sse_lock);
	n = sse_refused;
	pthread_mutex_unlock(&sse_lock);
	return n;
}
