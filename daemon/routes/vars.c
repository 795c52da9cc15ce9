/*
 * vars.c: GET /debug/vars, byte for byte what Go's expvar handler serves
 * for a program that publishes only the default variables.  A process that
 * ended gets one more variable, "ended" (when and how); after it left the
 * table its command line and last MemStats come from the state directory.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "base/clock.h"
#include "base/obuf.h"
#include "base/procfs.h"
#include "base/xmalloc.h"
#include "core/proc.h"
#include "core/profile.h"
#include "encode/expvar.h"
#include "http/reply.h"
#include "routes/render.h"
#include "routes/routes.h"

/*
 * At most this much of a process's command line is echoed (whole
 * arguments): the process chose it, and every request renders it.
 */
#define EXPVAR_MAX_CMDLINE (16u << 10)

/* proc_foreach callback: count live processes, remember the last pid. */
static int out_count_live(const struct proc *p, void *arg)
{
	int *v = arg;
	struct proc_info info;

	proc_info_locked(p, &info);
	if (!info.exited) {
		v[0]++;
		v[1] = info.pid;
	}
	return 0;
}

/* The "ended" variable's JSON text (malloc'd), or NULL. */
static char *ended_text(int pid, const char *comm, uint64_t start_ns, uint64_t ended_ns,
			const struct proc_end *e, size_t *len)
{
	struct obuf b;
	struct json j;

	obuf_init(&b, 256);
	json_init(&j, &b);
	render_ended_object(&j, pid, comm, start_ns, ended_ns, e);
	return obuf_take(&b, len);
}

/*
 * /debug/vars?pid=N of a process gone from the table: its command line and
 * last MemStats from the state directory, with "ended".  The saved MemStats
 * are our writer's: Go's fields, then "Extra" last, which expvar leaves out.
 * -1 when the state directory has nothing usable.
 */
static int vars_ended(struct http_req *req, int pid)
{
	static const char extra[] = ",\"Extra\":{";
	size_t mslen, cmdlen = 0, endlen = 0, len, i, cut = 0;
	struct statedir_entry e;
	char *ms, *cmd = NULL, *end, *body;
	void *buf;

	if (profile_ended_file(pid, "memstats.json", STATEDIR_MEMSTATS_MAX, &buf, &mslen, &e) != 0)
		return -1;
	ms = buf;
	for (i = 0; i + sizeof extra - 1 <= mslen; i++)
		if (memcmp(ms + i, extra, sizeof extra - 1) == 0)
			cut = i;
	if (cut == 0 || strncmp(ms, "{\"Alloc\":", 9) != 0) {
		free(ms);
		return -1;
	}
	ms[cut] = '}';
	if (profile_ended_file(pid, "cmdline", EXPVAR_MAX_CMDLINE, &buf, &cmdlen, NULL) == 0)
		cmd = buf;
	end = ended_text(e.pid, e.comm, e.start_ns, e.ended_ns, &e.end, &endlen);
	body = end == NULL ? NULL
			   : expvar_format_text(cmd != NULL ? cmd : "", cmdlen, end, endlen, ms,
						cut + 1, &len);
	free(end);
	free(cmd);
	free(ms);
	if (body == NULL)
		return http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	return http_reply(req, MHD_HTTP_OK, EXPVAR_CONTENT_TYPE, body, len);
}

int vars_http(struct http_req *req)
{
	struct gomem_memstats *ms;
	struct proc_info info;
	char *cmd = NULL, *body, *end = NULL;
	size_t cmdlen = 0, len, endlen = 0;
	int pid, rc, ret, live[2] = {0, 0};

	if (http_pid_arg(req, 0, &pid, &ret) < 0)
		return ret;
	if (pid == 0) {
		/* Without ?pid=, a lone watched process is unambiguous. */
		proc_foreach(out_count_live, live);
		if (live[0] != 1)
			return http_reply_error(req, MHD_HTTP_BAD_REQUEST,
						"pid required: %d processes are watched", live[0]);
		pid = live[1];
	}
	ms = xcalloc(1, sizeof *ms);
	rc = proc_copy(pid, &info, ms);
	if (rc != 0) {
		free(ms);
		if (rc < 0 && (rc = vars_ended(req, pid)) >= 0)
			return rc;
		if (rc < 0)
			return http_reply_error(req, MHD_HTTP_NOT_FOUND, "no such process: %d",
						pid);
		return http_reply_error(req, MHD_HTTP_NOT_FOUND, "no snapshot yet for process %d",
					pid);
	}
	/* os.Args: the live command line; the one recorded at attach if it is gone. */
	if (info.exited ||
	    procfs_read_alloc(pid, "cmdline", EXPVAR_MAX_CMDLINE, &cmd, &cmdlen) != 0 ||
	    cmdlen == 0) {
		free(cmd);
		cmd = NULL;
	} else if (cmdlen == EXPVAR_MAX_CMDLINE) { /* cut: whole arguments only */
		while (cmdlen > 0 && cmd[cmdlen - 1] != '\0')
			cmdlen--;
	}
	if (info.exited) {
		char comm[sizeof info.comm + 1];

		memcpy(comm, info.comm, sizeof info.comm);
		comm[sizeof info.comm] = '\0';
		end = ended_text(pid, comm, info.start_time_ns, now_real_ns() - info.exited_age_ns,
				 &info.end, &endlen);
	}
	if (cmd != NULL)
		body = expvar_format(cmd, cmdlen, end, endlen, ms, &len);
	else
		body = expvar_format(info.cmdline, info.cmdline_len, end, endlen, ms, &len);
	free(cmd);
	free(end);
	free(ms);
	if (body == NULL)
		return http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	return http_reply(req, MHD_HTTP_OK, EXPVAR_CONTENT_TYPE, body, len);
}
