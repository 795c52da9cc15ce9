/*
 * outputs.c: route handlers for /metrics, /debug/vars, /events,
 * /memstats/history and the dashboard (see outputs.h).
 *
 * Handlers copy what they need out of the process table under its read lock
 * and format afterwards, so a slow formatter or /proc read never holds the
 * table.  Snapshots reach /events through a proc_subscribe() hook that runs
 * in the collector thread: it renders one JSON line and queues it with
 * sse_publish(), which never blocks.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <microhttpd.h>

#include "cgroup.h"
#include "expvar.h"
#include "../bpf/gomem.h"
#include "gomem.skel.h"
#include "gomemd.h"
#include "obuf.h"
#include "outputs.h"
#include "http/guard.h"
#include "profile.h"
#include "prom.h"
#include "sse.h"
#include "static.h"

#ifndef GOMEMD_WEBDIR
#define GOMEMD_WEBDIR "/usr/local/share/gomem/web"
#endif

static int outputs_started;	/* the event stream runs */
static int outputs_subscribed;	/* the snapshot hook is in (once for good) */

const char *
outputs_web_dir(void)
{
	const char *d = getenv("GOMEMD_WEB_DIR");

	return d != NULL && *d != '\0' ? d : GOMEMD_WEBDIR;
}

/* ---- /events ---- */

/* Append one process's event JSON: identity, RSS, age, Go MemStats, extras. */
static void
out_event_json(struct obuf *b, const struct proc_info *info, const struct gomem_memstats *ms)
{
	obuf_adds(b, "{\"pid\":");
	obuf_u64(b, (unsigned long long)info->pid);
	obuf_adds(b, ",\"comm\":");
	gojson_string(b, info->comm, strnlen(info->comm, sizeof info->comm));
	obuf_adds(b, ",\"time_ns\":");
	obuf_u64(b, ms->TimeNs != 0 ? ms->TimeNs : now_real_ns());
	obuf_adds(b, ",\"age_ms\":");
	obuf_u64(b, info->snap_age_ns / 1000000);
	obuf_adds(b, ",\"rss\":");
	obuf_u64(b, info->rss_bytes);
	obuf_adds(b, info->exited ? ",\"exited\":true" : ",\"exited\":false");
	obuf_adds(b, ",\"memstats\":");
	gojson_memstats(b, ms);
	obuf_adds(b, ",\"gomem\":{");
#define OUT_X_(n, ...) obuf_adds(b, first ? "\"" #n "\":" : ",\"" #n "\":"), first = 0, obuf_u64(b, ms->n);
	{
		int first = 1;

		GOMEM_MEMSTATS_EXTRA_FIELDS(OUT_X_)
	}
#undef OUT_X_
	obuf_adds(b, "}}");
}

/* Collector hook: a new snapshot goes to the event stream. */
static void
out_on_snapshot(const struct proc *p, void *arg)
{
	const struct gomem_memstats *ms = proc_snap_locked(p);
	unsigned long long dropped;
	unsigned int clients;
	struct proc_info info;
	struct obuf b;

	(void)arg;
	sse_stats(&clients, &dropped);
	if (clients == 0 || ms == NULL)
		return;
	proc_info_locked(p, &info);
	obuf_init(&b, 8192);
	out_event_json(&b, &info, ms);
	if (!b.bad)
		sse_publish(info.pid, "memstats", b.data, b.len);
	obuf_free(&b);
}

int
outputs_init(void)
{
	int err;

	if (!outputs_subscribed) {
		if (proc_subscribe(out_on_snapshot, NULL) != 0)
			return -ENOSPC;
		outputs_subscribed = 1;
	}
	if (outputs_started)
		return 0;
	err = sse_init(0, SSE_MAX_CLIENTS_DEFAULT);
	if (err != 0)
		return err;
	outputs_started = 1;
	return 0;
}

void
outputs_shutdown(void)
{
	if (outputs_started)
		sse_shutdown();
	outputs_started = 0;
}

/* Parse ?pid=; 0 if absent, -1 (error sent) if malformed. */
static int
out_pid_arg(struct http_req *req, int *pid)
{
	const char *s = http_arg(req, "pid");

	*pid = 0;
	if (s == NULL)
		return 0;
	if (http_parse_pid(s, pid) != 0) {
		http_reply_error(req, MHD_HTTP_BAD_REQUEST, "malformed pid");
		return -1;
	}
	return 0;
}

struct out_initial {
	int pid;
	struct obuf b;
};

/* proc_foreach callback: the latest snapshot of each process, framed as SSE. */
static int
out_initial_one(const struct proc *p, void *arg)
{
	struct out_initial *in = arg;
	const struct gomem_memstats *ms = proc_snap_locked(p);
	struct proc_info info;

	if (ms == NULL)
		return 0;
	proc_info_locked(p, &info);
	if (info.exited || (in->pid != 0 && info.pid != in->pid))
		return 0;
	obuf_adds(&in->b, "event: memstats\ndata: ");
	out_event_json(&in->b, &info, ms);
	obuf_adds(&in->b, "\n\n");
	return 0;
}

int
out_events(struct http_req *req)
{
	struct out_initial in;
	unsigned int status;
	int pid, ret;

	if (out_pid_arg(req, &pid) != 0)
		return MHD_YES;
	if (pid != 0 && proc_copy(pid, NULL, NULL) < 0)
		return http_reply_error(req, MHD_HTTP_NOT_FOUND, "no such process: %d", pid);
	if (!outputs_started)
		return http_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "event stream not running");
	in.pid = pid;
	obuf_init(&in.b, 16384);
	proc_foreach(out_initial_one, &in);
	ret = sse_handle(req->conn, pid, in.b.bad ? NULL : in.b.data, in.b.len, &status);
	obuf_free(&in.b);
	prom_count_request(status);
	return ret;
}

/* ---- /metrics ---- */

/*
 * Kernel memory of gomemd's BPF maps: the sum of the "memlock:" lines the
 * kernel reports in /proc/self/fdinfo for each map; -1 if not loaded.
 */
static long long
out_bpf_map_bytes(void)
{
	struct gomem_bpf *sk = attach_skel();
	struct bpf_map *map;
	long long sum = 0;
	char path[64], line[128];
	FILE *f;
	int fd;

	if (sk == NULL || sk->obj == NULL)
		return -1;
	bpf_object__for_each_map(map, sk->obj) {
		fd = bpf_map__fd(map);
		if (fd < 0)
			continue;
		snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
		f = fopen(path, "re");
		if (f == NULL)
			continue;
		while (fgets(line, sizeof line, f) != NULL)
			if (strncmp(line, "memlock:", 8) == 0)
				sum += strtoll(line + 8, NULL, 10);
		fclose(f);
	}
	return sum;
}

struct out_proc {
	struct proc_info info;
	struct gomem_memstats *ms;	/* NULL: none yet */
};

struct out_collect {
	struct out_proc *v;
	size_t n, cap;
};

/* proc_foreach callback: copy every live process out. */
static int
out_collect_one(const struct proc *p, void *arg)
{
	struct out_collect *c = arg;
	const struct gomem_memstats *ms = proc_snap_locked(p);
	struct out_proc *op;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = xrealloc(c->v, c->cap * sizeof *c->v);
	}
	op = &c->v[c->n];
	proc_info_locked(p, &op->info);
	if (op->info.exited)
		return 0;	/* dead processes' series go away at once */
	op->ms = NULL;
	if (ms != NULL) {
		op->ms = malloc(sizeof *op->ms);
		if (op->ms != NULL)
			memcpy(op->ms, ms, sizeof *op->ms);
	}
	c->n++;
	return 0;
}

int
out_metrics(struct http_req *req)
{
	struct out_collect c = { NULL, 0, 0 };
	struct prom_proc *pp;
	struct prom_self self;
	char (*exe)[PATH_MAX], (*cg)[512], (*unit)[256];
	char *body;
	size_t i, len;
	ssize_t n;
	int ret;

	proc_foreach(out_collect_one, &c);
	pp = xcalloc(c.n + 1, sizeof *pp);
	exe = xcalloc(c.n + 1, sizeof *exe);
	cg = xcalloc(c.n + 1, sizeof *cg);
	unit = xcalloc(c.n + 1, sizeof *unit);
	for (i = 0; i < c.n; i++) {
		char link[64];

		snprintf(link, sizeof link, "/proc/%d/exe", c.v[i].info.pid);
		n = readlink(link, exe[i], sizeof exe[i] - 1);
		exe[i][n > 0 ? n : 0] = '\0';
		/* Read at attach (proc.c); a process may have moved since. */
		if (cgroup_read(c.v[i].info.pid, cg[i], sizeof cg[i], unit[i], sizeof unit[i]) != 0) {
			snprintf(cg[i], sizeof cg[i], "%s", c.v[i].info.cgroup);
			snprintf(unit[i], sizeof unit[i], "%s", c.v[i].info.unit);
		}
		pp[i].pid = c.v[i].info.pid;
		pp[i].comm = c.v[i].info.comm;
		pp[i].exe = exe[i];
		pp[i].unit = unit[i];
		pp[i].cgroup = cg[i];
		pp[i].ms = c.v[i].ms;
		pp[i].age_seconds = (double)c.v[i].info.snap_age_ns / 1e9;
		pp[i].rss_bytes = c.v[i].info.rss_bytes;
	}
	memset(&self, 0, sizeof self);
	self.events_received = collect_events();
	self.dropped_ringbuf = attach_drops(GOMEM_DROP_RINGBUF);
	self.dropped_read = attach_drops(GOMEM_DROP_READ);
	self.dropped_watched = attach_drops(GOMEM_DROP_WATCHED);
	self.bpf_map_bytes = out_bpf_map_bytes();
	sse_stats(&self.sse_clients, &self.sse_dropped);
	body = prom_format(pp, c.n, &self, &len);
	if (body != NULL) { /* the heap profiler's self metrics after prom.c's */
		struct obuf b;
		char *more;
		size_t mlen;

		obuf_init(&b, 1024);
		profile_prom(&b);
		guard_prom(&b);
		obuf_printf(&b,
			    "# HELP gomemd_events_refused_total /events clients turned away by "
			    "a cap (total, per address, unix socket).\n"
			    "# TYPE gomemd_events_refused_total counter\n"
			    "gomemd_events_refused_total %llu\n",
			    sse_refused_total());
		more = obuf_take(&b, &mlen);
		if (more != NULL) {
			body = xrealloc(body, len + mlen + 1);
			memcpy(body + len, more, mlen + 1);
			len += mlen;
			free(more);
		}
	}
	for (i = 0; i < c.n; i++)
		free(c.v[i].ms);
	free(c.v);
	free(pp);
	free(exe);
	free(cg);
	free(unit);
	if (body == NULL)
		return http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	ret = http_reply(req, MHD_HTTP_OK, PROM_CONTENT_TYPE, body, len);
	return ret;
}

/* ---- /debug/vars ---- */

/* proc_foreach callback: count live processes, remember the last pid. */
static int
out_count_live(const struct proc *p, void *arg)
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

int
out_debug_vars(struct http_req *req)
{
	struct gomem_memstats *ms;
	struct proc_info info;
	char *cmd = NULL, *body;
	size_t cmdlen = 0, len;
	int pid, rc, live[2] = { 0, 0 };

	if (out_pid_arg(req, &pid) != 0)
		return MHD_YES;
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
			return http_reply_error(req, MHD_HTTP_NOT_FOUND, "no such process: %d", pid);
		return http_reply_error(req, MHD_HTTP_NOT_FOUND, "no snapshot yet for process %d", pid);
	}
	/* os.Args: the live command line; the one recorded at attach if it is gone. */
	if (info.exited || expvar_read_cmdline(pid, &cmd, &cmdlen) != 0 || cmdlen == 0) {
		free(cmd);
		cmd = NULL;
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

/* ---- /memstats/history ---- */

int
out_history(struct http_req *req)
{
	struct gomem_hist_point *pts;
	unsigned max;
	struct obuf b;
	char *body;
	size_t n, i, len;
	int pid;

	if (out_pid_arg(req, &pid) != 0)
		return MHD_YES;
	if (pid == 0)
		return http_reply_error(req, MHD_HTTP_BAD_REQUEST, "pid required");
	if (proc_copy(pid, NULL, NULL) < 0)
		return http_reply_error(req, MHD_HTTP_NOT_FOUND, "no such process: %d", pid);
	max = gomemd_cfg != NULL && gomemd_cfg->history_len > 0 ? gomemd_cfg->history_len : 900;
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

/* ---- the dashboard ---- */

int
out_static(struct http_req *req)
{
	unsigned int status;
	int ret;

	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
		return http_reply_405(req, "GET, HEAD");
	ret = static_serve(req->conn, outputs_web_dir(), req->url, &status);
	prom_count_request(status);
	return ret;
}
