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
#include "encode/json.h"
#include "http/reply.h"
#include "http/sse.h"
#include "routes/render.h"
#include "routes/routes.h"

/* Append one process's event: identity, RSS, age, then its MemStats with "Extra". */
static void out_event_json(struct obuf *b, const struct proc_info *info,
			   const struct gomem_memstats *ms)
{
	struct json j;

	json_init(&j, b);
	json_object(&j);
	json_kv_u64(&j, "Pid", (uint64_t)info->pid);
	json_key(&j, "Comm");
	json_str(&j, info->comm, sizeof info->comm);
	json_kv_u64(&j, "TimeNs", ms->TimeNs != 0 ? ms->TimeNs : now_real_ns());
	json_kv_u64(&j, "AgeMs", info->snap_age_ns / 1000000);
	json_kv_u64(&j, "RSS", info->rss_bytes);
	json_kv_bool(&j, "Exited", info->exited);
	json_key(&j, "MemStats");
	render_memstats(&j, ms, 1, info, 0);
	json_end(&j);
}

/* Collector hook: a new snapshot goes to the event stream. */
static void out_on_snapshot(const struct proc *p, void *arg)
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
int events_init(void)
{
	return proc_subscribe(out_on_snapshot, NULL) != 0 ? -ENOSPC : 0;
}

struct out_initial {
	int pid;
	struct obuf b;
};

/* proc_foreach callback: the latest snapshot of each process, framed as SSE. */
static int out_initial_one(const struct proc *p, void *arg)
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

int events_http(struct http_req *req)
{
	struct out_initial in;
	unsigned int status;
	int pid, ret;

	if (http_pid_arg(req, 0, &pid, &ret) < 0)
		return ret;
	if (pid != 0 && proc_copy(pid, NULL, NULL) < 0)
		return http_reply_error(req, MHD_HTTP_NOT_FOUND, "no such process: %d", pid);
	if (strcmp(req->method, "HEAD") == 0) {
		ret = sse_head(req->conn, &status);
		http_count_status(status);
		return ret;
	}
	in.pid = pid;
	obuf_init(&in.b, 16384);
	proc_foreach(out_initial_one, &in);
	ret = sse_handle(req->conn, pid, in.b.bad ? NULL : in.b.data, in.b.len, &status);
	obuf_free(&in.b);
	http_count_status(status);
	return ret;
}
