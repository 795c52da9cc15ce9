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
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "base/log.h"
#include "core/proc.h"
#include "core/profile.h"
#include "encode/json.h"
#include "http/server.h"
#include "routes/render.h"
#include "routes/routes.h"
#include "watch/watch.h"

/* GET /processes. */
int
processes_list(struct http_req *req)
{
	struct walk w = {.with_snap = 0};
	cJSON *root = cJSON_CreateObject(), *ended = cJSON_CreateArray();
	struct statedir_entry *v;
	size_t n = profile_exited(&v), i;

	cJSON_AddItemToObject(root, "Processes", walk_array(&w));
	/* Ended processes whose last profile the state directory keeps. */
	for (i = 0; i < n; i++) {
		cJSON *e = cJSON_CreateObject();

		json_add_u64(e, "Pid", (uint64_t)v[i].pid);
		json_add_string(e, "Comm", v[i].comm);
		json_add_u64(e, "StartTimeNs", v[i].start_ns);
		json_add_u64(e, "EndedTimeNs", v[i].ended_ns);
		json_add_string(e, "How", v[i].how);
		cJSON_AddItemToObject(e, "Code", json_i64(v[i].code));
		cJSON_AddItemToArray(ended, e);
	}
	free(v);
	cJSON_AddItemToObject(root, "Ended", ended);
	return http_reply_json(req, MHD_HTTP_OK, root);
}

/* /processes/N and /processes/N/attach. */
int
processes_item(struct http_req *req)
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
		if (watch_attach(pid, err, sizeof err) != 0)
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

		watch_detach(pid);
		log_info("process %d detached on request", pid);
		json_add_u64(o, "Pid", (uint64_t)pid);
		cJSON_AddBoolToObject(o, "Detached", 1);
		return http_reply_json(req, MHD_HTTP_OK, o);
	}
	return http_reply_json(req, MHD_HTTP_OK, json_proc_info(&info));
}
