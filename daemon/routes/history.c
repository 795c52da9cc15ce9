/*
 * history.c: GET /memstats/history?pid=N, a process's history ring as
 * columns; for a process that ended, with "Ended", and after it left the
 * table from the state directory.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "base/clock.h"
#include "base/obuf.h"
#include "base/xmalloc.h"
#include "core/proc.h"
#include "core/profile.h"
#include "encode/json.h"
#include "http/reply.h"
#include "routes/render.h"
#include "routes/routes.h"

/* Reply with points as columns, and with "Ended" when end is not NULL. */
static int reply_history(struct http_req *req, int pid, const struct gomem_hist_point *pts,
			 size_t n, const struct statedir_entry *end)
{
	struct obuf b;
	struct json j;
	size_t i;

	obuf_init(&b, 256 + n * 9 * 12);
	json_init(&j, &b);
	json_object(&j);
	json_kv_u64(&j, "Pid", (uint64_t)pid);
	json_kv_u64(&j, "Points", n);
	/* Columns, as the charts want them. */
#define OUT_H_(f)                                                                                  \
	json_key(&j, #f);                                                                          \
	json_array(&j);                                                                            \
	for (i = 0; i < n; i++)                                                                    \
		json_u64(&j, pts[i].f);                                                            \
	json_end(&j);
	GOMEM_HIST_FIELDS(OUT_H_)
#undef OUT_H_
	if (end != NULL)
		render_ended(&j, end->pid, end->comm, end->start_ns, end->ended_ns, &end->end);
	json_end(&j);
	return http_reply_json(req, MHD_HTTP_OK, &b);
}

/* A process gone from the table: its history from the state directory. */
static int history_ended(struct http_req *req, int pid)
{
	struct gomem_hist_point *pts;
	struct statedir_entry e;
	size_t len, n;
	void *buf;
	int ret;

	if (profile_ended_file(pid, "history.bin", STATEDIR_MAX_FILE, &buf, &len, &e) != 0)
		return http_reply_error(req, MHD_HTTP_NOT_FOUND, "no such process: %d", pid);
	if (proc_history_unpack(buf, len, &pts, &n) != 0) {
		free(buf);
		return http_reply_error(
		    req, MHD_HTTP_NOT_FOUND,
		    "process %d: its saved history is not in this version's form", pid);
	}
	free(buf);
	ret = reply_history(req, pid, pts, n, &e);
	free(pts);
	return ret;
}

int history_http(struct http_req *req)
{
	struct gomem_hist_point *pts;
	struct statedir_entry e;
	struct proc_info info;
	unsigned max;
	size_t n;
	int pid, ret;

	if (http_pid_arg(req, 1, &pid, &ret) < 0)
		return ret;
	if (proc_copy(pid, &info, NULL) < 0)
		return history_ended(req, pid);
	max = (unsigned)proc_history_cap();
	pts = xcalloc(max, sizeof *pts);
	n = proc_copy_history(pid, pts, max);
	if (info.exited) {
		memset(&e, 0, sizeof e);
		e.pid = pid;
		memcpy(e.comm, info.comm, sizeof info.comm);
		e.start_ns = info.start_time_ns;
		e.ended_ns = now_real_ns() - info.exited_age_ns;
		e.end = info.end;
	}
	ret = reply_history(req, pid, pts, n, info.exited ? &e : NULL);
	free(pts);
	return ret;
}
