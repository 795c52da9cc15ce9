/*
 * api.c: handlers of gomemd's JSON routes (registered in http.c).
 *
 *   GET    /memstats            every process, its MemStats and totals; the
 *                                arrays (PauseNs, PauseEnd: zero without a GC;
 *                                BySize) only with ?full=1, which keeps the
 *                                listing of 100 processes near 150 KB
 *   GET    /memstats?pid=N      one process: Go's MemStats + "Extra"
 *   GET    /processes           what gomemd knows about each process
 *   GET    /processes/N         one process
 *   DELETE /processes/N         stop watching N
 *   POST   /processes/N/attach  watch N (per-pid links if needed)
 *   GET    /healthz             liveness and self counters
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "gomem.h"
#include "gomemd.h"

struct walk {
	struct item {
		int pid;
		cJSON *json;
	} *items;
	size_t n, cap;
	int with_snap;
	int full;		/* arrays in each MemStats */
	uint64_t nsnap;
	struct gomem_memstats tot; /* only the summed fields are used */
	uint64_t rss;
};

/* Collect one process for a listing (table read-locked). */
static int
walk_one(const struct proc *p, void *arg)
{
	struct walk *w = arg;
	const struct gomem_memstats *m;
	struct proc_info info;
	cJSON *o, *snap;

	proc_info_locked(p, &info);
	o = json_proc_info(&info);
	if (w->with_snap) {
		snap = w->full ? proc_snap_json_locked(p) : proc_snap_json_compact_locked(p);
		cJSON_AddItemToObject(o, "MemStats", snap ? snap : cJSON_CreateNull());
		if ((m = proc_snap_locked(p)) != NULL && !info.exited) {
			w->nsnap++;
#define SUM(f) w->tot.f += m->f;
			SUM(Alloc) SUM(TotalAlloc) SUM(Sys) SUM(Mallocs) SUM(Frees) SUM(HeapAlloc)
			SUM(HeapSys) SUM(HeapIdle) SUM(HeapInuse) SUM(HeapReleased) SUM(HeapObjects)
#undef SUM
			w->rss += info.rss_bytes;
		}
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->items = xrealloc(w->items, w->cap * sizeof(*w->items));
	}
	w->items[w->n].pid = info.pid;
	w->items[w->n].json = o;
	w->n++;
	return 0;
}

/* Order items by pid. */
static int
item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Walk the table into a pid-ordered JSON array. */
static cJSON *
walk_array(struct walk *w)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	proc_foreach(walk_one, w);
	qsort(w->items, w->n, sizeof(*w->items), item_cmp);
	for (i = 0; i < w->n; i++)
		cJSON_AddItemToArray(a, w->items[i].json);
	free(w->items);
	return a;
}

/*
 * GET /memstats?pid=N: one process.  The cached rendering of its snapshot
 * ends with the "Extra" object and the root: "...}}"; the daemon's own
 * fields (ages, RSS) are spliced in before those two braces.
 */
static int
memstats_one(struct http_req *req, const char *arg)
{
	struct proc_info info;
	char *text, *extra, *body;
	size_t tlen, elen;
	cJSON *x;
	int pid, rc;

	if (http_parse_pid(arg, &pid) != 0)
		return http_reply_error(req, MHD_HTTP_BAD_REQUEST, "malformed pid \"%.32s\"", arg);
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
api_fini(void)
{
	pthread_mutex_lock(&list_lock);
	if (list_resp != NULL)
		MHD_destroy_response(list_resp);
	list_resp = NULL;
	pthread_mutex_unlock(&list_lock);
}

/* GET /memstats: all processes and totals. */
int
api_memstats(struct http_req *req)
{
	const char *arg = http_arg(req, "pid");
	const char *full = http_arg(req, "full");
	size_t len;
	char *body;

	if (arg != NULL)
		return memstats_one(req, arg);
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

/* GET /processes. */
int
api_processes(struct http_req *req)
{
	struct walk w = {.with_snap = 0};
	cJSON *root = cJSON_CreateObject();

	cJSON_AddItemToObject(root, "Processes", walk_array(&w));
	return http_reply_json(req, MHD_HTTP_OK, root);
}

/* /processes/N and /processes/N/attach. */
int
api_process_item(struct http_req *req)
{
	char pidstr[32], err[512];
	const char *slash = strchr(req->rest, '/');
	struct proc_info info;
	size_t n = slash ? (size_t)(slash - req->rest) : strlen(req->rest);
	int pid;

	if (n >= sizeof pidstr)
		n = sizeof pidstr - 1;
	memcpy(pidstr, req->rest, n);
	pidstr[n] = '\0';

	if (slash != NULL && strcmp(slash, "/attach") != 0)
		return http_reply_error(req, MHD_HTTP_NOT_FOUND, "no such route: %s", req->url);
	if (slash != NULL && strcmp(req->method, "POST") != 0)
		return http_reply_405(req, "POST");
	if (slash == NULL && strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0 &&
	    strcmp(req->method, "DELETE") != 0)
		return http_reply_405(req, "GET, DELETE");
	if (http_parse_pid(pidstr, &pid) != 0)
		return http_reply_error(req, MHD_HTTP_BAD_REQUEST, "malformed pid \"%s\"", pidstr);

	if (slash != NULL) { /* POST /processes/N/attach */
		if (attach_pid(pid, err, sizeof err) != 0)
			return http_reply_error(req,
						errno == ESRCH ? MHD_HTTP_NOT_FOUND
							       : MHD_HTTP_UNPROCESSABLE_CONTENT,
						"%s", err);
		if (proc_copy(pid, &info, NULL) < 0)
			return http_reply_error(req, MHD_HTTP_NOT_FOUND, "process %d vanished", pid);
		return http_reply_json(req, MHD_HTTP_OK, json_proc_info(&info));
	}
	if (proc_copy(pid, &info, NULL) < 0)
		return http_reply_error(req, MHD_HTTP_NOT_FOUND, "process %d is not watched", pid);
	if (strcmp(req->method, "DELETE") == 0) {
		cJSON *o = cJSON_CreateObject();

		detach_pid(pid);
		proc_remove(pid);
		log_info("process %d detached on request", pid);
		json_add_u64(o, "Pid", (uint64_t)pid);
		cJSON_AddBoolToObject(o, "Detached", 1);
		return http_reply_json(req, MHD_HTTP_OK, o);
	}
	return http_reply_json(req, MHD_HTTP_OK, json_proc_info(&info));
}

/* GET /healthz: liveness and self counters. */
int
api_healthz(struct http_req *req)
{
	cJSON *o = cJSON_CreateObject(), *d;
	char why[256];
	int stalled = gomemd_stalled(why, sizeof why);

	cJSON_AddStringToObject(o, "status", stalled ? "stalled" : "ok");
	if (stalled)
		json_add_string(o, "Reason", why);
	cJSON_AddStringToObject(o, "version", PACKAGE_VERSION);
	json_add_u64(o, "UptimeNs", now_mono_ns() - gomemd_start_mono_ns);
	json_add_u64(o, "Processes", proc_count());
	json_add_u64(o, "Links", (uint64_t)attach_nlinks());
	cJSON_AddBoolToObject(o, "ExitTraced", attach_exit_traced());
	json_add_u64(o, "Events", collect_events());
	json_add_u64(o, "Requests", http_requests());
	d = cJSON_CreateObject();
	json_add_u64(d, "RingBuffer", attach_drops(GOMEM_DROP_RINGBUF));
	json_add_u64(d, "Read", attach_drops(GOMEM_DROP_READ));
	json_add_u64(d, "Watched", attach_drops(GOMEM_DROP_WATCHED));
	cJSON_AddItemToObject(o, "Drops", d);
	return http_reply_json(req, stalled ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK, o);
}
