/*
 * events.c: GET /events, the Server-Sent Events stream of snapshots.
 *
 * Snapshots reach the stream through a proc_subscribe() hook that runs in
 * the collector thread: it renders one JSON line and queues it with
 * sse_publish(), which never blocks.  A new client first gets the latest
 * snapshot of every live process.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <microhttpd.h>

#include "base/clock.h"
#include "base/obuf.h"
#include "core/proc.h"
#include "encode/expvar.h"
#include "http/server.h"
#include "http/sse.h"
#include "routes/routes.h"

/* Append one process's event JSON: identity, RSS, age, Go MemStats, extras. */
static void
out_event_json(struct obuf *b, const struct proc_info *info, const struct gomem_memstats *ms)
{
	obuf_adds(b, "{\"pid\":");
	obuf_u64(b, (unsigned long long)info->pid);
	obuf_adds(b, ",\"comm\":");
	gojson_string(b, info->comm, strnlen(info->comm, sizeof info->comm));
	obuf_adds(b, ",\"time_ns\":");
	obuf_u64(b, ms->TimeNs != 0 ? ms->TimeNs : now_real_ns());
	obuf_adds(b, ",\"age_ms\":");
	obuf_u64(b, info->snap_age_ns / 1000000);
	obuf_adds(b, ",\"rss\":");
	obuf_u64(b, info->rss_bytes);
	obuf_adds(b, info->exited ? ",\"exited\":true" : ",\"exited\":false");
	obuf_adds(b, ",\"memstats\":");
	gojson_memstats(b, ms);
	obuf_adds(b, ",\"gomem\":{");
#define OUT_X_(n, ...) obuf_adds(b, first ? "\"" #n "\":" : ",\"" #n "\":"), first = 0, obuf_u64(b, ms->n);
	{
		int first = 1;

		GOMEM_MEMSTATS_EXTRA_FIELDS(OUT_X_)
	}
#undef OUT_X_
	obuf_adds(b, "}}");
}

/* Collector hook: a new snapshot goes to the event stream. */
static void
out_on_snapshot(const struct proc *p, void *arg)
{
	const struct gomem_memstats *ms = proc_snap_locked(p);
	unsigned long long dropped;
	unsigned int clients;
	struct proc_info info;
	struct obuf b;

	(void)arg;
	sse_stats(&clients, &dropped);
	if (clients == 0 || ms == NULL)
		return;
	proc_info_locked(p, &info);
	obuf_init(&b, 8192);
	out_event_json(&b, &info, ms);
	if (!b.bad)
		sse_publish(info.pid, "memstats", b.data, b.len);
	obuf_free(&b);
}

/* Send every new snapshot to the event stream (once, before the collector runs). */
int
events_init(void)
{
	return proc_subscribe(out_on_snapshot, NULL) != 0 ? -ENOSPC : 0;
}

struct out_initial {
	int pid;
	struct obuf b;
};

/* proc_foreach callback: the latest snapshot of each process, framed as SSE. */
static int
out_initial_one(const struct proc *p, void *arg)
{
	struct out_initial *in = arg;
	const struct gomem_memstats *ms = proc_snap_locked(p);
	struct proc_info info;

	if (ms == NULL)
		return 0;
	proc_info_locked(p, &info);
	if (info.exited || (in->pid != 0 && info.pid != in->pid))
		return 0;
	obuf_adds(&in->b, "event: memstats\ndata: ");
	out_event_json(&in->b, &info, ms);
	obuf_adds(&in->b, "\n\n");
	return 0;
}

int
events_http(struct http_req *req)
{
	struct out_initial in;
	unsigned int status;
	int pid, ret;

	if (http_pid_arg(req, 0, &pid, &ret) < 0)
		return ret;
	if (pid != 0 && proc_copy(pid, NULL, NULL) < 0)
		return http_reply_error(req, MHD_HTTP_NOT_FOUND, "no such process: %d", pid);
	in.pid = pid;
	obuf_init(&in.b, 16384);
	proc_foreach(out_initial_one, &in);
	ret = sse_handle(req->conn, pid, in.b.bad ? NULL : in.b.data, in.b.len, &status);
	obuf_free(&in.b);
	http_count_status(status);
	return ret;
}
