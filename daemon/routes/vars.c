/*
 * vars.c: GET /debug/vars, byte for byte what Go's expvar handler serves
 * for a program that publishes only the default variables.
 */
#include "config.h"

#include <stdlib.h>

#include <microhttpd.h>

#include "base/procfs.h"
#include "base/xmalloc.h"
#include "core/proc.h"
#include "encode/expvar.h"
#include "http/reply.h"
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

int vars_http(struct http_req *req)
{
	struct gomem_memstats *ms;
	struct proc_info info;
	char *cmd = NULL, *body;
	size_t cmdlen = 0, len;
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
	if (cmd != NULL)
		body = expvar_format(cmd, cmdlen, ms, &len);
	else
		body = expvar_format(info.cmdline, info.cmdline_len, ms, &len);
	free(cmd);
	free(ms);
	if (body == NULL)
		return http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	return http_reply(req, MHD_HTTP_OK, EXPVAR_CONTENT_TYPE, body, len);
}
