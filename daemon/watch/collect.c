/*
 * collect.c: the consumer of the BPF ring buffer.  Runs in the main thread
 * (main.c polls collect_epoll_fd() with its other fds) and turns each record
 * into a call on the process table or the profile store.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "gomem.h"

#include "base/log.h"
#include "core/attach.h"
#include "core/proc.h"
#include "core/profile.h"
#include "watch/collect.h"
#include "watch/watch.h"

static struct ring_buffer *rb; /* main thread only */
static uint64_t nevents;       /* atomic: /healthz and /metrics read it */

/* Handle one ring buffer record. */
static int collect_record(void *ctx, void *data, size_t size)
{
	const struct gomem_event_hdr *h = data;
	const struct gomem_event_snap *e = data;
	char comm[GOMEM_COMM_LEN + 1];

	(void)ctx;
	if (size < sizeof *h)
		return 0;
	__atomic_add_fetch(&nevents, 1, __ATOMIC_RELAXED);
	memcpy(comm, h->comm, GOMEM_COMM_LEN);
	comm[GOMEM_COMM_LEN] = '\0';

	switch (h->type) {
	case GOMEM_EV_INIT:
	case GOMEM_EV_MEMSTATS:
		if (size < sizeof *e || h->len > sizeof e->snap)
			return 0;
		if (h->type == GOMEM_EV_INIT) {
			char version[GOMEM_VERSION_LEN + 1];

			memcpy(version, e->version, GOMEM_VERSION_LEN);
			version[GOMEM_VERSION_LEN] = '\0';
			watch_on_snapshot((int)h->tgid, comm, &e->snap, h->len, version);
		} else {
			watch_on_snapshot((int)h->tgid, comm, &e->snap, h->len, NULL);
		}
		break;
	case GOMEM_EV_SCAVENGE:
		proc_on_scavenge((int)h->tgid, h->a, h->b);
		break;
	case GOMEM_EV_ARENA_GROW:
		proc_on_arena_grow((int)h->tgid, h->b);
		break;
	case GOMEM_EV_SAMPLE_ALLOC:
	case GOMEM_EV_SAMPLE_FREE:
		/* Per-sample probes are never attached now: profiles are pulled. */
		break;
	case GOMEM_EV_LIB_EXIT:
		profile_on_lib_exit((int)h->tgid, h->a);
		break;
	case GOMEM_EV_EXIT: {
		struct proc_end end;

		memset(&end, 0, sizeof end);
		if (h->b & GOMEM_EXIT_STATUS)
			proc_end_set_status(&end, (int)(h->a & 0xffff),
					    (h->b & GOMEM_EXIT_OOM_KNOWN) != 0,
					    (h->b & GOMEM_EXIT_OOM) != 0);
		else
			snprintf(end.how, sizeof end.how, "vanished");
		log_debug("process %u %s (status 0x%x%s)", h->tgid, end.how, end.status,
			  end.oom_killed ? ", OOM killer" : "");
		proc_on_exit((int)h->tgid, &end);
		profile_on_exit((int)h->tgid);
		break;
	}
	case GOMEM_EV_EXEC:
		log_debug("process %u exec'd %s", h->tgid, comm);
		proc_on_exec((int)h->tgid, comm);
		break;
	default:
		log_debug("unknown record type %u", h->type);
	}
	return 0;
}

/* Set up the ring buffer consumer. */
int collect_open(void)
{
	rb = ring_buffer__new(attach_ringbuf_fd(), collect_record, NULL, NULL);
	if (rb == NULL)
		return -1;
	return 0;
}

/* An fd that becomes readable when records are waiting. */
int collect_epoll_fd(void)
{
	return ring_buffer__epoll_fd(rb);
}

/* Consume every waiting record; returns how many. */
int collect_consume(void)
{
	int n = ring_buffer__consume(rb);

	if (n < 0 && n != -EINTR)
		log_warnx("ring buffer: %s", strerror(-n));
	return n;
}

/* Records consumed since start. */
uint64_t collect_events(void)
{
	return __atomic_load_n(&nevents, __ATOMIC_RELAXED);
}

/* Free the consumer. */
void collect_close(void)
{
	ring_buffer__free(rb);
	rb = NULL;
}
