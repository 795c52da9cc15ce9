/*
 * render.c: what gomemd knows about a process, as JSON (the /processes
 * objects and the daemon's part of a snapshot's "Extra").
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/xmalloc.h"
#include "encode/json.h"
#include "routes/render.h"

/* Nanoseconds since the epoch as RFC 3339 UTC with milliseconds. */
static cJSON *
json_time(uint64_t ns)
{
	time_t s = (time_t)(ns / 1000000000ull);
	char buf[64], out[80];
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, sizeof out, "%s.%03uZ", buf, (unsigned)(ns % 1000000000ull / 1000000));
	return cJSON_CreateString(out);
}

/* The argument vector of a process as an array of strings. */
cJSON *
json_cmdline(const struct proc_info *info)
{
	cJSON *a = cJSON_CreateArray();
	size_t i = 0;

	while (i < info->cmdline_len) {
		const char *arg = info->cmdline + i;
		size_t n = strnlen(arg, info->cmdline_len - i);

		cJSON_AddItemToArray(a, json_string(arg, n));
		i += n + 1;
	}
	return a;
}

/* What gomemd knows about a process besides its snapshot. */
cJSON *
json_proc_info(const struct proc_info *info)
{
	cJSON *o = cJSON_CreateObject();

	json_add_u64(o, "Pid", (uint64_t)info->pid);
	json_add_string(o, "Comm", info->comm);
	cJSON_AddItemToObject(o, "Cmdline", json_cmdline(info));
	cJSON_AddItemToObject(o, "StartTime", json_time(info->start_time_ns));
	json_add_u64(o, "StartTimeNs", info->start_time_ns);
	json_add_string(o, "Library", info->library);
	json_add_string(o, "Version", info->version);
	json_add_string(o, "Cgroup", info->cgroup);
	json_add_string(o, "Unit", info->unit);
	cJSON_AddBoolToObject(o, "HasSnapshot", info->have_snap);
	json_add_u64(o, "SnapshotAgeMs", info->snap_age_ns / 1000000);
	json_add_u64(o, "Snapshots", info->snaps);
	json_add_u64(o, "RSS", info->rss_bytes);
	cJSON_AddBoolToObject(o, "Exited", info->exited);
	json_add_u64(o, "ExitedAgeMs", info->exited_age_ns / 1000000);
	cJSON_AddBoolToObject(o, "AttachedByPid", info->attached_pid);
	json_add_u64(o, "ScavengeEvents", info->scavenge_events);
	json_add_u64(o, "ScavengeEventBytes", info->scavenge_bytes);
	json_add_u64(o, "ArenaGrowEvents", info->arena_grows);
	json_add_u64(o, "ArenaGrowBytes", info->arena_bytes);
	return o;
}

/* Add what gomemd knows about a snapshot's process to an "Extra" object. */
void
json_daemon_extra(cJSON *x, const struct proc_info *info)
{
	json_add_string(x, "Comm", info->comm);
	json_add_u64(x, "RSS", info->rss_bytes);
	json_add_u64(x, "SnapshotAgeMs", info->snap_age_ns / 1000000);
	json_add_u64(x, "SnapshotAgeNs", info->snap_age_ns);
	json_add_u64(x, "Snapshots", info->snaps);
	json_add_string(x, "Version", info->version);
	json_add_string(x, "Library", info->library);
	cJSON_AddBoolToObject(x, "Exited", info->exited);
}

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
	const struct walk_item *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Walk the table into a pid-ordered JSON array. */
cJSON *
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
