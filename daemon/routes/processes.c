/*
 * processes.c: what gomemd knows about each process.
 *
 *   GET    /processes           every process
 *   GET    /processes/N         one process
 *   DELETE /processes/N         stop watching N
 *   POST   /processes/N/attach  watch N (per-pid links if needed)
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "base/log.h"
#include "base/obuf.h"
#include "core/proc.h"
#include "core/profile.h"
#include "encode/json.h"
#include "http/reply.h"
#include "routes/render.h"
#include "routes/routes.h"
#include "watch/watch.h"

/* GET /processes. */
int processes_list(struct http_req *req)
{
	struct walk w = {.with_snap = 0};
	struct statedir_entry *v;
	struct obuf b;
	struct json j;
	size_t n, i;

	obuf_init(&b, 16384);
	json_init(&j, &b);
	json_object(&j);
	json_key(&j, "Processes");
	render_list(&j, &w);
	/* Ended processes whose last profile the state directory keeps. */
	n = profile_exited(&v);
	json_key(&j, "Ended");
	json_array(&j);
	for (i = 0; i < n; i++) {
		json_object(&j);
		json_kv_u64(&j, "Pid", (uint64_t)v[i].pid);
		json_kv_str(&j, "Comm", v[i].comm);
		json_kv_u64(&j, "StartTimeNs", v[i].start_ns);
		json_kv_u64(&j, "EndedTimeNs", v[i].ended_ns);
		json_kv_u64(&j, "Code", (uint64_t)(v[i].end.code < 0 ? 0 : v[i].end.code));
		render_end(&j, &v[i].end);
		json_end(&j);
	}
	json_end(&j);
	free(v);
	json_end(&j);
	return http_reply_json(req, MHD_HTTP_OK, &b);
}

/* Reply with one process object. */
static int reply_proc(struct http_req *req, const struct proc_info *info)
{
	struct obuf b;
	struct json j;

	obuf_init(&b, 2048);
	json_init(&j, &b);
	json_object(&j);
	render_proc_info(&j, info);
	json_end(&j);
	return http_reply_json(req, MHD_HTTP_OK, &b);
}

/* /processes/N and /processes/N/attach. */
int processes_item(struct http_req *req)
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
		return http_reply_error(req, MHD_HTTP_BAD_REQUEST, "malformed pid \"%.32s\"",
					pidstr);

	if (slash != NULL) { /* POST /processes/N/attach */
		if (watch_attach(pid, err, sizeof err) != 0)
			return http_reply_error(req,
						errno == ESRCH ? MHD_HTTP_NOT_FOUND
							       : MHD_HTTP_UNPROCESSABLE_CONTENT,
						"%s", err);
		if (proc_copy(pid, &info, NULL) < 0)
			return http_reply_error(req, MHD_HTTP_NOT_FOUND, "process %d vanished",
						pid);
		return reply_proc(req, &info);
	}
	if (proc_copy(pid, &info, NULL) < 0)
		return http_reply_error(req, MHD_HTTP_NOT_FOUND, "process %d is not watched", pid);
	if (strcmp(req->method, "DELETE") == 0) {
		struct obuf b;
		struct json j;

		watch_detach(pid);
		log_info("process %d detached on request", pid);
		obuf_init(&b, 64);
		json_init(&j, &b);
		json_object(&j);
		json_kv_u64(&j, "Pid", (uint64_t)pid);
		json_kv_bool(&j, "Detached", 1);
		json_end(&j);
		return http_reply_json(req, MHD_HTTP_OK, &b);
	}
	return reply_proc(req, &info);
}
