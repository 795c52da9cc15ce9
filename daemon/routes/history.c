/* history.c: GET /memstats/history?pid=N, a process's history ring as columns. */
#include "config.h"

#include <stdlib.h>

#include <microhttpd.h>

#include "base/obuf.h"
#include "base/xmalloc.h"
#include "core/proc.h"
#include "encode/json.h"
#include "http/reply.h"
#include "routes/routes.h"

int history_http(struct http_req *req)
{
	struct gomem_hist_point *pts;
	unsigned max;
	struct obuf b;
	struct json j;
	size_t n, i;
	int pid, ret;

	if (http_pid_arg(req, 1, &pid, &ret) < 0)
		return ret;
	if (proc_copy(pid, NULL, NULL) < 0)
		return http_reply_error(req, MHD_HTTP_NOT_FOUND, "no such process: %d", pid);
	max = (unsigned)proc_history_cap();
	pts = xcalloc(max, sizeof *pts);
	n = proc_copy_history(pid, pts, max);
	obuf_init(&b, 64 + n * 9 * 12);
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
	json_end(&j);
	free(pts);
	return http_reply_json(req, MHD_HTTP_OK, &b);
}
