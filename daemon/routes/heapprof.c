/*
 * heapprof.c: the heap profile routes.
 *
 *   GET /debug/pprof/heap?pid=N[&seconds=S][&debug=1]
 *                          gzipped profile.proto, as Go's net/http/pprof
 *                          serves it: the whole live heap from the
 *                          process's own table; seconds=S the growth over
 *                          about S seconds; debug=1 Go's legacy text form;
 *                          an ended process's last profile from the state
 *                          directory
 *   GET /debug/pprof/heap[?seconds=S]
 *                          every watched process in one profile, samples
 *                          labelled pid, comm and unit (a scrape target for
 *                          Parca or Pyroscope)
 *   GET /profile/top?pid=N[&n=20]  the top allocation sites, JSON
 *   GET /leaks?pid=N[&seconds=S][&n=20]
 *                          stacks ranked by in-use growth, with the age of
 *                          their oldest live samples, JSON
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "base/obuf.h"
#include "core/proc.h"
#include "core/profile.h"
#include "encode/json.h"
#include "http/reply.h"
#include "routes/routes.h"

#define TOP_DEFAULT 20

/* ?pid= of a process gomemd watches or has a profile of; -1 when it replied. */
static int heapprof_pid(struct http_req *req, int *pid, int *ret)
{
	if (http_pid_arg(req, 1, pid, ret) < 0)
		return -1;
	if (proc_copy(*pid, NULL, NULL) < 0 && !profile_known(*pid)) {
		*ret = http_reply_error(req, MHD_HTTP_NOT_FOUND, "no watched process %d", *pid);
		return -1;
	}
	return 0;
}

/*
 * ?name=, digits only, lo..hi, into *v (left alone when absent); -1 when
 * it replied with a 400.
 */
static int heapprof_uint(struct http_req *req, const char *name, unsigned long lo,
			 unsigned long hi, unsigned long *v, int *ret)
{
	const char *s = http_arg(req, name);
	char *end;
	unsigned long n;

	if (s == NULL)
		return 0;
	n = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || n < lo || n > hi) {
		*ret = http_reply_error(req, MHD_HTTP_BAD_REQUEST, "malformed %s \"%.32s\" (%lu..%lu)",
					name, s, lo, hi);
		return -1;
	}
	*v = n;
	return 0;
}

/* ?seconds= (0 when absent); -1 when it replied. */
static int heapprof_seconds(struct http_req *req, unsigned *secs, int *ret)
{
	unsigned long v = 0;

	if (heapprof_uint(req, "seconds", 0, 86400, &v, ret) != 0)
		return -1;
	*secs = (unsigned)v;
	return 0;
}

/* ?n= (sites to list), 1..1000; -1 when it replied. */
static int heapprof_n(struct http_req *req, size_t *want, int *ret)
{
	unsigned long v = *want;

	if (heapprof_uint(req, "n", 1, 1000, &v, ret) != 0)
		return -1;
	*want = v;
	return 0;
}

/* GET /debug/pprof/heap. */
/*
 * ?debug=N as Go's net/http/pprof reads it (strconv.Atoi, its error
 * ignored): an optional sign and decimal digits that fit, else 0.
 */
static long debug_level(const char *s)
{
	const char *d;
	char *end;
	long v;

	if (s == NULL)
		return 0;
	d = s + (*s == '+' || *s == '-');
	if (*d < '0' || *d > '9')
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	return *end != '\0' || errno == ERANGE ? 0 : v;
}

int heapprof_heap(struct http_req *req)
{
	char *body = NULL, disp[96];
	unsigned secs;
	size_t len = 0;
	int pid, ret, text = debug_level(http_arg(req, "debug")) != 0;

	if (heapprof_seconds(req, &secs, &ret) != 0)
		return ret;
	if (text && http_arg(req, "seconds") != NULL) /* as Go's net/http/pprof */
		return http_reply_error(req, MHD_HTTP_BAD_REQUEST,
					"seconds and debug params are incompatible");
	if (http_pid_arg(req, 0, &pid, &ret) < 0)
		return ret;
	if (pid == 0 && !text) {
		if (profile_pprof_all(secs, &body, &len) != 0)
			return http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
						"encoding the profile failed");
		return http_reply_hdr(req, MHD_HTTP_OK, "application/octet-stream", body, len,
				      "Content-Disposition", "attachment; filename=\"heap.pb.gz\"");
	}
	if (heapprof_pid(req, &pid, &ret) != 0)
		return ret;
	if (text) {
		struct obuf b;

		obuf_init(&b, 4096);
		if (profile_text(pid, &b) != 0) { /* ended, or not copied yet */
			obuf_free(&b);
			return http_reply_error(req, MHD_HTTP_NOT_FOUND,
						"no heap profile of process %d to show as text", pid);
		}
		body = obuf_take(&b, &len);
		if (body == NULL)
			return http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
						"out of memory");
		return http_reply(req, MHD_HTTP_OK, "text/plain; charset=utf-8", body, len);
	}
	if (profile_pprof(pid, secs, &body, &len) != 0)
		return http_reply_error(req, MHD_HTTP_NOT_FOUND,
					"no heap profile of process %d yet", pid);
	snprintf(disp, sizeof disp, "attachment; filename=\"heap-%d.pb.gz\"", pid);
	return http_reply_hdr(req, MHD_HTTP_OK, "application/octet-stream", body, len,
			      "Content-Disposition", disp);
}

/* GET /profile/top. */
int heapprof_top(struct http_req *req)
{
	struct profile_top top;
	size_t i, k, want = TOP_DEFAULT;
	struct obuf b;
	struct json j;
	int pid, ret;

	if (heapprof_pid(req, &pid, &ret) != 0)
		return ret;
	if (heapprof_n(req, &want, &ret) != 0)
		return ret;
	profile_top(pid, want, &top);
	obuf_init(&b, 4096);
	json_init(&j, &b);
	json_object(&j);
	json_kv_u64(&j, "Pid", (uint64_t)pid);
	json_kv_u64(&j, "Rate", top.rate);
	json_kv_u64(&j, "Samples", top.samples);
	json_kv_u64(&j, "LiveSamples", top.live_samples);
	json_kv_u64(&j, "Buckets", top.buckets);
	json_kv_u64(&j, "InuseSpace", (uint64_t)top.total[3]);
	json_kv_u64(&j, "InuseObjects", (uint64_t)top.total[2]);
	json_kv_u64(&j, "AllocSpace", (uint64_t)top.total[1]);
	json_kv_u64(&j, "AllocObjects", (uint64_t)top.total[0]);
	json_key(&j, "Sites");
	json_array(&j);
	for (i = 0; i < top.nsites; i++) {
		const struct profile_site *s = &top.sites[i];

		json_object(&j);
		json_kv_str(&j, "Function", s->function); /* ELF names: any bytes */
		json_kv_u64(&j, "InuseSpace", (uint64_t)s->v[3]);
		json_kv_u64(&j, "InuseObjects", (uint64_t)s->v[2]);
		json_kv_u64(&j, "AllocSpace", (uint64_t)s->v[1]);
		json_kv_u64(&j, "AllocObjects", (uint64_t)s->v[0]);
		json_key(&j, "Stack");
		json_array(&j);
		for (k = 0; k < s->nstack; k++)
			json_cstr(&j, s->stack[k]);
		json_end(&j);
		json_end(&j);
	}
	json_end(&j);
	json_end(&j);
	profile_top_free(&top);
	return http_reply_json(req, MHD_HTTP_OK, &b);
}

/* GET /leaks. */
int heapprof_leaks(struct http_req *req)
{
	size_t want = TOP_DEFAULT;
	unsigned secs;
	struct obuf b;
	struct json j;
	int pid, ret;

	if (heapprof_seconds(req, &secs, &ret) != 0)
		return ret;
	if (heapprof_pid(req, &pid, &ret) != 0)
		return ret;
	if (heapprof_n(req, &want, &ret) != 0)
		return ret;
	obuf_init(&b, 4096);
	json_init(&j, &b);
	if (profile_leaks(pid, secs, want, &j) != 0) {
		obuf_free(&b);
		return http_reply_error(req, MHD_HTTP_NOT_FOUND, "no heap profile of process %d yet",
					pid);
	}
	return http_reply_json(req, MHD_HTTP_OK, &b);
}
