/*
 * memstats.c: GET /memstats (every process, its MemStats and totals; the
 * arrays PauseNs, PauseEnd and BySize only with ?full=1, which keeps the
 * listing of 100 processes near 150 KB) and GET /memstats?pid=N (one
 * process: Go's MemStats + "Extra"; for a process that ended, "Ended" too,
 * and after it left the table its last MemStats from the state directory).
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "base/clock.h"
#include "base/xmalloc.h"
#include "core/proc.h"
#include "core/profile.h"
#include "base/obuf.h"
#include "encode/json.h"
#include "http/reply.h"
#include "routes/render.h"
#include "routes/routes.h"

/*
 * GET /memstats?pid=N of a process that ended and left the table: its last
 * MemStats from the state directory, as they were when it ended (Go's
 * fields and "Extra"), with "Ended" saying when and how.  -1 when the state
 * directory has nothing usable for pid.
 */
static int memstats_ended(struct http_req *req, int pid)
{
	struct statedir_entry e;
	struct obuf b;
	struct json j;
	size_t len;
	void *buf;
	char *t;

	if (profile_ended_file(pid, "memstats.json", STATEDIR_MEMSTATS_MAX, &buf, &len, &e) != 0)
		return -1;
	t = buf;
	/* Our own writer made it: one object.  Anything else is not served. */
	while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == ' '))
		len--;
	if (len < 3 || t[0] != '{' || t[1] != '"' || t[len - 1] != '}' || memchr(t, 0, len)) {
		free(buf);
		return -1;
	}
	obuf_init(&b, len + 512);
	json_init(&j, &b);
	json_raw_open(&j, t, len - 1, "}");
	render_ended(&j, e.pid, e.comm, e.start_ns, e.ended_ns, &e.end);
	json_end(&j);
	free(buf);
	return http_reply_json(req, MHD_HTTP_OK, &b);
}

/* GET /memstats?pid=N: one process, its MemStats with the daemon's "Extra". */
static int memstats_one(struct http_req *req, int pid)
{
	struct gomem_memstats *m = xcalloc(1, sizeof *m);
	struct proc_info info;
	struct obuf b;
	struct json j;
	int rc;

	rc = proc_copy(pid, &info, m);
	if (rc != 0) {
		free(m);
		if (rc < 0 && (rc = memstats_ended(req, pid)) >= 0)
			return rc;
		if (rc < 0)
			return http_reply_error(req, MHD_HTTP_NOT_FOUND,
						"process %d is not watched", pid);
		return http_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
					"no snapshot from process %d yet", pid);
	}
	obuf_init(&b, 16384);
	json_init(&j, &b);
	render_memstats(&j, m, 1, &info, 1);
	free(m);
	return http_reply_json(req, MHD_HTTP_OK, &b);
}

/*
 * The listing is the busiest route (dashboards and scrapers poll it), so
 * its rendered body is shared by all requests while it is fresh: at most
 * LIST_MAX_STALE_NS old when nothing changed, LIST_MIN_REBUILD_NS old when
 * the table changed (with 100 processes reporting every second the table
 * changes ~100 times a second).  The body is a coherent view as of its
 * TimeNs.  libmicrohttpd reference-counts responses, so one MHD_Response
 * is queued on every connection without copying.  The body is built with
 * list_lock held (one rebuild at a time): lock order list_lock -> the
 * process table's lock.
 */
#define LIST_MAX_STALE_NS   (250 * 1000000ull)
#define LIST_MIN_REBUILD_NS (20 * 1000000ull)

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct MHD_Response *list_resp; /* protected by list_lock */
static uint64_t list_gen, list_mono;   /* protected by list_lock */

static char *memstats_list_body(int full, size_t *len);

/* Answer GET /memstats (compact) from the shared body, rebuilding it if stale. */
static int memstats_list_cached(struct http_req *req)
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

		if (body == NULL) {
			pthread_mutex_unlock(&list_lock);
			return http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
						"out of memory");
		}
		r = MHD_create_response_from_buffer_with_free_callback(len, body, free);
		if (r == NULL) {
			free(body);
			pthread_mutex_unlock(&list_lock);
			return http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
						"out of memory");
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
	if (ret == MHD_YES)
		http_count_status(MHD_HTTP_OK);
	return ret;
}

/* Drop the shared listing (at shutdown). */
void memstats_fini(void)
{
	pthread_mutex_lock(&list_lock);
	if (list_resp != NULL)
		MHD_destroy_response(list_resp);
	list_resp = NULL;
	pthread_mutex_unlock(&list_lock);
}

/* ?full= as Go's strconv.ParseBool reads it. */
static int bool_true(const char *s)
{
	return strcmp(s, "1") == 0 || strcmp(s, "t") == 0 || strcmp(s, "T") == 0 ||
	       strcmp(s, "true") == 0 || strcmp(s, "TRUE") == 0 || strcmp(s, "True") == 0;
}

static int bool_false(const char *s)
{
	return strcmp(s, "0") == 0 || strcmp(s, "f") == 0 || strcmp(s, "F") == 0 ||
	       strcmp(s, "false") == 0 || strcmp(s, "FALSE") == 0 || strcmp(s, "False") == 0;
}

/* GET /memstats: all processes and totals. */
int memstats_http(struct http_req *req)
{
	const char *full = http_arg(req, "full");
	size_t len;
	char *body;
	int pid, ret;

	if (http_pid_arg(req, 0, &pid, &ret) < 0)
		return ret;
	if (full != NULL && !bool_true(full) && !bool_false(full))
		return http_reply_error(req, MHD_HTTP_BAD_REQUEST, "malformed full \"%.32s\"", full);
	if (pid != 0)
		return memstats_one(req, pid);
	if (full == NULL || bool_false(full))
		return memstats_list_cached(req);
	body = memstats_list_body(1, &len);
	if (body == NULL)
		return http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	return http_reply(req, MHD_HTTP_OK, "application/json", body, len);
}

/* Render the listing of every process, with arrays when full; NULL on no memory. */
static char *memstats_list_body(int full, size_t *len)
{
	struct walk w = {.with_snap = 1, .full = full};
	struct obuf b;
	struct json j;

	obuf_init(&b, 65536);
	json_init(&j, &b);
	json_object(&j);
	json_kv_u64(&j, "TimeNs", now_real_ns());
	json_key(&j, "Processes");
	render_list(&j, &w);
	json_key(&j, "Totals");
	render_totals(&j, &w);
	json_end(&j);
	obuf_addc(&b, '\n');
	return obuf_take(&b, len);
}
