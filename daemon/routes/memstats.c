/*
 * memstats.c: GET /memstats (every process, its MemStats and totals; the
 * arrays PauseNs, PauseEnd and BySize only with ?full=1, which keeps the
 * listing of 100 processes near 150 KB) and GET /memstats?pid=N (one
 * process: Go's MemStats + "Extra").
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "base/clock.h"
#include "base/xmalloc.h"
#include "core/proc.h"
#include "encode/json.h"
#include "http/server.h"
#include "routes/render.h"
#include "routes/routes.h"

/*
 * GET /memstats?pid=N: one process.  The cached rendering of its snapshot
 * ends with the "Extra" object and the root: "...}}"; the daemon's own
 * fields (ages, RSS) are spliced in before those two braces.
 */
static int
memstats_one(struct http_req *req, int pid)
{
	struct proc_info info;
	char *text, *extra, *body;
	size_t tlen, elen;
	cJSON *x;
	int rc;

	text = proc_snap_text(pid, &info, &rc);
	if (rc < 0)
		return http_reply_error(req, MHD_HTTP_NOT_FOUND, "process %d is not watched", pid);
	if (rc > 0)
		return http_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
					"no snapshot from process %d yet", pid);
	x = cJSON_CreateObject();
	json_daemon_extra(x, &info);
	extra = json_print(x);
	cJSON_Delete(x);
	tlen = strlen(text);
	elen = strlen(extra);
	if (tlen < 2 || elen < 2 || strcmp(text + tlen - 2, "}}") != 0) {
		free(text);
		free(extra);
		return http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "bad rendering");
	}
	/* text minus "}}" + "," + extra minus its braces + "}}\n" */
	body = xcalloc(1, tlen + elen + 4);
	memcpy(body, text, tlen - 2);
	tlen -= 2;
	body[tlen++] = ',';
	memcpy(body + tlen, extra + 1, elen - 2);
	tlen += elen - 2;
	memcpy(body + tlen, "}}\n", 4);
	tlen += 3;
	free(text);
	free(extra);
	return http_reply(req, MHD_HTTP_OK, "application/json", body, tlen);
}

/*
 * The listing is the busiest route (dashboards and scrapers poll it), so
 * its rendered body is shared by all requests while it is fresh: at most
 * LIST_MAX_STALE_NS old when nothing changed, LIST_MIN_REBUILD_NS old when
 * the table changed (with 100 processes reporting every second the table
 * changes ~100 times a second).  The body is a coherent view as of its
 * TimeNs.  libmicrohttpd reference-counts responses, so one MHD_Response
 * is queued on every connection without copying.
 */
#define LIST_MAX_STALE_NS (250 * 1000000ull)
#define LIST_MIN_REBUILD_NS (20 * 1000000ull)

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct MHD_Response *list_resp; /* protected by list_lock */
static uint64_t list_gen, list_mono;

static char *memstats_list_body(int full, size_t *len);

/* Answer GET /memstats (compact) from the shared body, rebuilding it if stale. */
static int
memstats_list_cached(struct http_req *req)
{
	uint64_t now = now_mono_ns(), gen = proc_generation(), age;
	enum MHD_Result ret;

	pthread_mutex_lock(&list_lock);
	age = now - list_mono;
	if (list_resp == NULL || (gen != list_gen && age >= LIST_MIN_REBUILD_NS) ||
	    age >= LIST_MAX_STALE_NS) {
		struct MHD_Response *r;
		size_t len;
		char *body = memstats_list_body(0, &len);

		r = MHD_create_response_from_buffer_with_free_callback(len, body, free);
		if (r == NULL) {
			free(body);
			pthread_mutex_unlock(&list_lock);
			return MHD_NO;
		}
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
		if (list_resp != NULL)
			MHD_destroy_response(list_resp); /* queued copies keep it alive */
		list_resp = r;
		list_gen = gen;
		list_mono = now;
	}
	ret = MHD_queue_response(req->conn, MHD_HTTP_OK, list_resp);
	pthread_mutex_unlock(&list_lock);
	return ret;
}

/* Drop the shared listing (at shutdown). */
void
memstats_fini(void)
{
	pthread_mutex_lock(&list_lock);
	if (list_resp != NULL)
		MHD_destroy_response(list_resp);
	list_resp = NULL;
	pthread_mutex_unlock(&list_lock);
}

/* GET /memstats: all processes and totals. */
int
memstats_http(struct http_req *req)
{
	const char *full = http_arg(req, "full");
	size_t len;
	char *body;
	int pid, ret;

	if (http_pid_arg(req, 0, &pid, &ret) < 0)
		return ret;
	if (pid != 0)
		return memstats_one(req, pid);
	if (full == NULL || strcmp(full, "0") == 0)
		return memstats_list_cached(req);
	body = memstats_list_body(1, &len);
	return http_reply(req, MHD_HTTP_OK, "application/json", body, len);
}

/* Render the listing of every process, with arrays when full. */
static char *
memstats_list_body(int full, size_t *len)
{
	struct walk w = {.with_snap = 1, .full = full};
	cJSON *root, *t;
	char *s;
	size_t n;

	root = cJSON_CreateObject();
	json_add_u64(root, "TimeNs", now_real_ns());
	cJSON_AddItemToObject(root, "Processes", walk_array(&w));
	t = cJSON_CreateObject();
	json_add_u64(t, "Processes", w.n);
	json_add_u64(t, "WithSnapshot", w.nsnap);
#define TOT(f) json_add_u64(t, #f, w.tot.f);
	TOT(Alloc) TOT(TotalAlloc) TOT(Sys) TOT(Mallocs) TOT(Frees) TOT(HeapAlloc) TOT(HeapSys)
	TOT(HeapIdle) TOT(HeapInuse) TOT(HeapReleased) TOT(HeapObjects)
#undef TOT
	json_add_u64(t, "RSS", w.rss);
	cJSON_AddItemToObject(root, "Totals", t);
	s = json_print(root);
	cJSON_Delete(root);
	n = strlen(s);
	s = xrealloc(s, n + 2);
	s[n++] = '\n';
	s[n] = '\0';
	*len = n;
	return s;
}
