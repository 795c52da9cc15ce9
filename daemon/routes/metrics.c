/*
 * metrics.c: GET /metrics, Prometheus text of every live process and of
 * gomemd itself.  Process data is copied out of the table under its read
 * lock and formatted afterwards, so a slow formatter or /proc read never
 * holds the table.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "gomem.h"

#include "base/cgroup.h"
#include "base/mapguard.h"
#include "base/obuf.h"
#include "base/xmalloc.h"
#include "core/attach.h"
#include "core/proc.h"
#include "core/profile.h"
#include "encode/prom.h"
#include "http/reply.h"
#include "http/guard.h"
#include "http/sse.h"
#include "routes/routes.h"
#include "watch/collect.h"

struct out_proc {
	struct proc_info info;
	struct gomem_memstats *ms; /* NULL: none yet */
};

struct out_collect {
	struct out_proc *v;
	size_t n, cap;
};

/* proc_foreach callback: copy every live process out. */
static int out_collect_one(const struct proc *p, void *arg)
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
		return 0; /* dead processes' series go away at once */
	op->ms = NULL;
	if (ms != NULL) {
		op->ms = malloc(sizeof *op->ms);
		if (op->ms != NULL)
			memcpy(op->ms, ms, sizeof *op->ms);
	}
	c->n++;
	return 0;
}

/* The heap profiler's own counters. */
static void metrics_profile(struct obuf *b)
{
	struct profile_stats s;

	profile_stats(&s);
#define C_(name, help, v)                                                                          \
	prom_head(b, "gomemd_profile_" name, "counter", help);                                     \
	prom_u64(b, "gomemd_profile_" name, NULL, v);
#define G_(name, help, v)                                                                          \
	prom_head(b, "gomemd_profile_" name, "gauge", help);                                       \
	prom_u64(b, "gomemd_profile_" name, NULL, v);
	/* Sums over the processes watched now: they fall when one goes, so
	 * gauges (as counters, each fall read as a reset). */
	G_("samples", "Allocation samples in the watched processes' own profiles (latest copies).",
	   s.samples)
	G_("lost_samples", "Samples the watched processes could not record (out of memory, table "
	   "full, inside the profiler).", s.lost)
	G_("truncated_stacks", "Samples of the watched processes whose stack was cut at 64 frames.",
	   s.truncated)
	C_("pulls_total", "Copies of a process's profile table taken.", s.pulls)
	C_("pull_errors_total", "Copies that failed (no table found, unreadable, malformed).",
	   s.pull_errors)
	C_("saved_total", "Ended processes' profiles written to the state directory.", s.saved)
	C_("save_errors_total", "Ended processes' profiles that could not be written.",
	   s.save_errors)
	C_("dropped_copies_total",
	   "Profile copies not kept: the cap on their memory over all processes was reached.",
	   s.dropped_cap)
	G_("bytes", "Memory the heap profile copies hold, all processes.", s.bytes)
	G_("processes", "Processes with a heap profile.", s.processes)
	G_("buckets", "Heap profile buckets (stack, size) in the latest copies.", s.buckets)
	G_("symbol_objects", "Object files symbolised, each once however many processes map it.",
	   s.sym_objects)
	G_("symbol_loaded_objects", "Of them, with their debug information loaded now.",
	   s.sym_loaded)
	G_("symbol_loaded_bytes", "Sizes of the loaded objects' files and debug files.",
	   s.sym_loaded_bytes)
	C_("symbol_loads_total", "Times an object's debug information was loaded.", s.sym_loads)
	C_("symbol_evictions_total",
	   "Times the least recently used object was unloaded to stay within the limits.",
	   s.sym_evictions)
#undef C_
#undef G_
}

int metrics_http(struct http_req *req)
{
	struct out_collect c = {NULL, 0, 0};
	struct prom_proc *pp;
	struct prom_self *self = xcalloc(1, sizeof *self); /* 4 KB of counters */
	char(*exe)[PATH_MAX], (*cg)[512], (*unit)[256];
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
		if (cgroup_read(c.v[i].info.pid, cg[i], sizeof cg[i], unit[i], sizeof unit[i]) !=
		    0) {
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
	memset(self, 0, sizeof *self);
	self->events_received = collect_events();
	self->dropped_ringbuf = attach_drops(GOMEM_DROP_RINGBUF);
	self->dropped_read = attach_drops(GOMEM_DROP_READ);
	self->dropped_watched = attach_drops(GOMEM_DROP_WATCHED);
	self->dropped_rate = attach_drops(GOMEM_DROP_RATE);
	self->bpf_map_bytes = attach_map_bytes();
	sse_stats(&self->sse_clients, &self->sse_dropped);
	http_status_counts(self->http_counts);
	body = prom_format(pp, c.n, self, &len);
	if (body != NULL) { /* the heap profiler's self metrics after prom.c's */
		struct obuf b;
		char *more;
		size_t mlen;

		obuf_init(&b, 1024);
		metrics_profile(&b);
		guard_prom(&b);
		prom_head(
		    &b, "gomemd_events_refused_total", "counter",
		    "/events clients turned away by a cap (total, per address, unix socket).");
		prom_u64(&b, "gomemd_events_refused_total", NULL, sse_refused_total());
		prom_head(&b, "gomemd_shrunk_file_pages_total", "counter",
			  "Pages of files read for their ELF that were past the file's end when "
			  "read (the file shrank), read as zeros.");
		prom_u64(&b, "gomemd_shrunk_file_pages_total", NULL, mapguard_pages());
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
	free(self);
	if (body == NULL)
		return http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	ret = http_reply(req, MHD_HTTP_OK, PROM_CONTENT_TYPE, body, len);
	return ret;
}
