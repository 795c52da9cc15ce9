/* history.c: GET /memstats/history?pid=N, a process's history ring as columns. */
#include "config.h"

#include <stdlib.h>

#include <microhttpd.h>

#include "base/obuf.h"
#include "base/xmalloc.h"
#include "core/proc.h"
#include "http/server.h"
#include "routes/routes.h"

int
history_http(struct http_req *req)
{
	struct gomem_hist_point *pts;
	unsigned max;
	struct obuf b;
	char *body;
	size_t n, i, len;
	int pid, ret;

	if (http_pid_arg(req, 1, &pid, &ret) < 0)
		return ret;
	if (proc_copy(pid, NULL, NULL) < 0)
		return http_reply_error(req, MHD_HTTP_NOT_FOUND, "no such process: %d", pid);
	max = (unsigned)proc_history_cap();
	pts = xcalloc(max, sizeof *pts);
	n = proc_copy_history(pid, pts, max);
	obuf_init(&b, 64 + n * 9 * 12);
	obuf_adds(&b, "{\"pid\":");
	obuf_u64(&b, (unsigned long long)pid);
	obuf_adds(&b, ",\"points\":");
	obuf_u64(&b, n);
	/* Columns, as the charts want them. */
#define OUT_H_(f)                                                                                  \
	obuf_adds(&b, ",\"" #f "\":[");                                                            \
	for (i = 0; i < n; i++) {                                                                  \
		if (i > 0)                                                                         \
			obuf_addc(&b, ',');                                                        \
		obuf_u64(&b, pts[i].f);                                                            \
	}                                                                                          \
	obuf_addc(&b, ']');
	GOMEM_HIST_FIELDS(OUT_H_)
#undef OUT_H_
	obuf_adds(&b, "}\n");
	free(pts);
	body = obuf_take(&b, &len);
	if (body == NULL)
		return http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	return http_reply(req, MHD_HTTP_OK, "application/json", body, len);
}
