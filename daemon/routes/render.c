/*
 * render.c: what gomemd knows about a process, as JSON: the objects of
 * /processes, the entries and totals of /memstats, and the daemon's part of
 * a snapshot's "Extra".  Keys are PascalCase, like Go's MemStats.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/obuf.h"
#include "base/u64map.h"
#include "base/xmalloc.h"
#include "routes/render.h"

/* Nanoseconds since the epoch as RFC 3339 UTC with milliseconds. */
static void render_time(struct json *j, uint64_t ns)
{
	time_t s = (time_t)(ns / 1000000000ull);
	char buf[64], out[80];
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, sizeof out, "%s.%03uZ", buf, (unsigned)(ns % 1000000000ull / 1000000));
	json_cstr(j, out);
}

/* The argument vector of a process as an array of strings. */
static void render_cmdline(struct json *j, const struct proc_info *info)
{
	size_t i = 0;

	json_array(j);
	while (i < info->cmdline_len) {
		const char *arg = info->cmdline + i;
		size_t n = strnlen(arg, info->cmdline_len - i);

		json_str(j, arg, n);
		i += n + 1;
	}
	json_end(j);
}

/* A signal's name as kill -l has it with SIG ("SIGKILL", "SIGRTMIN+3"). */
static void signal_name(int sig, char *buf, size_t len)
{
	const char *abbrev = sig > 0 ? sigabbrev_np(sig) : NULL;

	if (sig <= 0)
		buf[0] = '\0';
	else if (abbrev != NULL)
		snprintf(buf, len, "SIG%s", abbrev);
	else if (sig >= SIGRTMIN && sig <= SIGRTMAX)
		snprintf(buf, len, "SIGRTMIN+%d", sig - SIGRTMIN);
	else
		snprintf(buf, len, "%d", sig);
}

void render_end(struct json *j, const struct proc_end *e)
{
	int code = proc_end_exit_code(e);
	char sig[32];

	signal_name(proc_end_signal(e), sig, sizeof sig);
	json_kv_str(j, "How", e->how[0] ? e->how : "unknown");
	json_key(j, "ExitCode");
	if (code < 0)
		json_raw(j, "-1", 2);
	else
		json_u64(j, (uint64_t)code);
	json_kv_str(j, "Signal", sig);
	json_kv_bool(j, "CoreDumped", proc_end_core_dumped(e));
	json_kv_bool(j, "OOMKilled", e->oom_killed);
	if (e->have_status)
		json_kv_u64(j, "WaitStatus", (uint64_t)(unsigned)e->status);
	if (e->exec_comm[0] != '\0') {
		json_key(j, "ExecComm");
		json_str(j, e->exec_comm, strnlen(e->exec_comm, sizeof e->exec_comm));
	}
}

void render_ended(struct json *j, int pid, const char *comm, uint64_t start_ns, uint64_t ended_ns,
		  const struct proc_end *e)
{
	json_key(j, "Ended");
	render_ended_object(j, pid, comm, start_ns, ended_ns, e);
}

void render_ended_object(struct json *j, int pid, const char *comm, uint64_t start_ns,
			 uint64_t ended_ns, const struct proc_end *e)
{
	json_object(j);
	json_kv_u64(j, "Pid", (uint64_t)pid);
	json_kv_str(j, "Comm", comm);
	json_kv_u64(j, "StartTimeNs", start_ns);
	json_kv_u64(j, "EndedTimeNs", ended_ns);
	render_end(j, e);
	json_end(j);
}

/* What gomemd knows about a process besides its snapshot. */
void render_proc_info(struct json *j, const struct proc_info *info)
{
	json_kv_u64(j, "Pid", (uint64_t)info->pid);
	json_key(j, "Comm");
	json_str(j, info->comm, sizeof info->comm);
	json_key(j, "Cmdline");
	render_cmdline(j, info);
	json_key(j, "StartTime");
	render_time(j, info->start_time_ns);
	json_kv_u64(j, "StartTimeNs", info->start_time_ns);
	json_kv_str(j, "Library", info->library);
	json_kv_str(j, "Version", info->version);
	json_kv_str(j, "Cgroup", info->cgroup);
	json_kv_str(j, "Unit", info->unit);
	json_kv_bool(j, "HasSnapshot", info->have_snap);
	json_kv_u64(j, "SnapshotAgeMs", info->snap_age_ns / 1000000);
	json_kv_u64(j, "Snapshots", info->snaps);
	json_kv_u64(j, "RSS", info->rss_bytes);
	json_kv_bool(j, "Exited", info->exited);
	json_kv_u64(j, "ExitedAgeMs", info->exited_age_ns / 1000000);
	if (info->exited)
		render_end(j, &info->end);
	json_kv_u64(j, "Execs", info->execs);
	json_kv_bool(j, "AttachedByPid", info->attached_pid);
	json_kv_u64(j, "ScavengeEvents", info->scavenge_events);
	json_kv_u64(j, "ScavengeEventBytes", info->scavenge_bytes);
	json_kv_u64(j, "ArenaGrowEvents", info->arena_grows);
	json_kv_u64(j, "ArenaGrowBytes", info->arena_bytes);
}

/* What gomemd knows about a snapshot's process, inside "Extra". */
void render_daemon_extra(struct json *j, const struct proc_info *info)
{
	json_key(j, "Comm");
	json_str(j, info->comm, sizeof info->comm);
	json_kv_u64(j, "RSS", info->rss_bytes);
	json_kv_u64(j, "SnapshotAgeMs", info->snap_age_ns / 1000000);
	json_kv_u64(j, "SnapshotAgeNs", info->snap_age_ns);
	json_kv_u64(j, "Snapshots", info->snaps);
	json_kv_str(j, "Version", info->version);
	json_kv_str(j, "Library", info->library);
	json_kv_bool(j, "Exited", info->exited);
}

/*
 * The rendered-snapshot cache.  The /memstats routes and /events render the
 * same snapshot many times (every request, every rebuild of the listing),
 * so the text of each process's latest snapshot, Go's fields and "Extra"
 * with our struct's own fields (both objects left open), is kept per (pid,
 * arrays or not) until that process's next snapshot: an entry is valid
 * while the process's start time and snapshot count match.  Bounded: past
 * RENDER_CACHE_MAX entries or RENDER_CACHE_BYTES it is emptied and refilled
 * on demand, which also drops the entries of processes that are gone.
 * cache_lock guards it; callers may hold the process table's lock (order:
 * core/proc.c tab.lock -> cache_lock), and nothing is rendered under it.
 */
#define RENDER_CACHE_MAX   4096
#define RENDER_CACHE_BYTES (16u << 20)

struct snap_text {
	uint64_t start_ns, snaps;
	char *text;
	size_t len;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct u64map cache_index;	     /* (pid << 1 | arrays) -> slot; cache_lock */
static struct snap_text *cache;		     /* cache_lock */
static size_t ncache, capcache, cache_bytes; /* cache_lock */

/* Empty the cache (cache_lock held). */
static void cache_clear_locked(void)
{
	size_t i;

	for (i = 0; i < ncache; i++)
		free(cache[i].text);
	ncache = 0;
	cache_bytes = 0;
	u64map_free(&cache_index);
}

/* Keep text as the rendering of (key, start_ns, snaps); takes text. */
static void cache_put(uint64_t key, uint64_t start_ns, uint64_t snaps, char *text, size_t len)
{
	struct snap_text *t;
	uint32_t idx;

	pthread_mutex_lock(&cache_lock);
	if (!u64map_get(&cache_index, key, &idx)) {
		if (ncache == RENDER_CACHE_MAX || cache_bytes + len > RENDER_CACHE_BYTES)
			cache_clear_locked();
		if (ncache == capcache) {
			capcache = capcache ? 2 * capcache : 256;
			cache = xrealloc(cache, capcache * sizeof *cache);
		}
		idx = (uint32_t)ncache++;
		cache[idx].text = NULL;
		cache[idx].len = 0;
		u64map_put(&cache_index, key, idx);
	}
	t = &cache[idx];
	cache_bytes = cache_bytes - t->len + len;
	free(t->text);
	t->start_ns = start_ns;
	t->snaps = snaps;
	t->text = text;
	t->len = len;
	pthread_mutex_unlock(&cache_lock);
}

/* Append the cached rendering of key if it is current; 1 if it was. */
static int cache_get(struct json *j, uint64_t key, uint64_t start_ns, uint64_t snaps)
{
	uint32_t idx;
	int hit;

	pthread_mutex_lock(&cache_lock);
	hit = u64map_get(&cache_index, key, &idx) && cache[idx].start_ns == start_ns &&
	      cache[idx].snaps == snaps;
	if (hit)
		json_raw_open(j, cache[idx].text, cache[idx].len, "}}");
	pthread_mutex_unlock(&cache_lock);
	return hit;
}

/* Go's fields, then "Extra" with our struct's fields; both objects stay open. */
static void render_memstats_open(struct json *j, const struct gomem_memstats *m, int full)
{
	json_memstats_go(j, m, full);
	json_key(j, "Extra");
	json_object(j);
	json_memstats_extra(j, m);
}

/*
 * A snapshot of the process info describes (its snapshot count and start
 * time key the cache): Go's fields ("full" adds the arrays), then "Extra"
 * with our struct's own fields and, with daemon_extra, what gomemd adds.
 */
void render_memstats(struct json *j, const struct gomem_memstats *m, int full,
		     const struct proc_info *info, int daemon_extra)
{
	uint64_t key = (uint64_t)info->pid << 1 | (full != 0);
	struct obuf b;
	struct json pj;
	size_t len;
	char *text;

	if (!cache_get(j, key, info->start_time_ns, info->snaps)) {
		obuf_init(&b, full ? 16384 : 2048);
		json_init(&pj, &b);
		render_memstats_open(&pj, m, full);
		text = obuf_take(&b, &len);
		if (text != NULL) {
			json_raw_open(j, text, len, "}}");
			cache_put(key, info->start_time_ns, info->snaps, text, len);
		} else {
			render_memstats_open(j, m, full); /* no memory: mark the output bad */
		}
	}
	if (daemon_extra)
		render_daemon_extra(j, info);
	json_end(j);
	if (daemon_extra && info->exited) {
		char comm[sizeof info->comm + 1];

		memcpy(comm, info->comm, sizeof info->comm);
		comm[sizeof info->comm] = '\0';
		render_ended(j, info->pid, comm, info->start_time_ns,
			     now_real_ns() - info->exited_age_ns, &info->end);
	}
	json_end(j);
}

/* Free the cache (at shutdown). */
void render_fini(void)
{
	pthread_mutex_lock(&cache_lock);
	cache_clear_locked();
	free(cache);
	cache = NULL;
	capcache = 0;
	pthread_mutex_unlock(&cache_lock);
}

/*
 * Which Go fields add up across processes: those Prometheus exports as
 * bytes, objects or totals (not times, not fractions).
 */
static int summable(const char *prom_name)
{
	size_t n;

	if (prom_name == NULL || strstr(prom_name, "seconds") != NULL)
		return 0;
	n = strlen(prom_name);
	return (n > 6 && strcmp(prom_name + n - 6, "_bytes") == 0) ||
	       (n > 6 && strcmp(prom_name + n - 6, "_total") == 0) ||
	       (n > 8 && strcmp(prom_name + n - 8, "_objects") == 0);
}

#define RT_SUM_(f, kind, name, help)                                                               \
	if (summable((const char *)(name) + 0))                                                    \
		w->tot.f += m->f;
#define RT_KV_(f, kind, name, help)                                                                \
	if (summable((const char *)(name) + 0))                                                    \
		json_kv_u64(j, #f, w->tot.f);
#define RT_NONE_(...)

struct item {
	int pid;
	char *text; /* the rendered object */
	size_t len;
};

struct collect {
	struct walk *w;
	struct item *items;
	size_t n, cap;
};

/* Render one process for a listing (table read-locked). */
static int walk_one(const struct proc *p, void *arg)
{
	struct collect *c = arg;
	struct walk *w = c->w;
	const struct gomem_memstats *m;
	struct proc_info info;
	struct obuf b;
	struct json j;

	proc_info_locked(p, &info);
	obuf_init(&b, w->with_snap ? 2048 : 512);
	json_init(&j, &b);
	json_object(&j);
	render_proc_info(&j, &info);
	if (w->with_snap) {
		json_key(&j, "MemStats");
		if ((m = proc_snap_locked(p)) != NULL) {
			render_memstats(&j, m, w->full, &info, 0);
			if (!info.exited) {
				w->nsnap++;
				GOMEM_MEMSTATS_GO_FIELDS(RT_SUM_, RT_NONE_, RT_NONE_, RT_NONE_,
							 RT_NONE_, RT_NONE_)
				w->rss += info.rss_bytes;
			}
		} else {
			json_null(&j);
		}
	}
	json_end(&j);
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->items = xrealloc(c->items, c->cap * sizeof(*c->items));
	}
	c->items[c->n].pid = info.pid;
	c->items[c->n].text = obuf_take(&b, &c->items[c->n].len);
	if (c->items[c->n].text != NULL) /* NULL: out of memory, the process is left out */
		c->n++;
	return 0;
}

/* Order items by pid. */
static int item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Walk the table into a pid-ordered array of process objects. */
void render_list(struct json *j, struct walk *w)
{
	struct collect c = {.w = w};
	size_t i;

	proc_foreach(walk_one, &c);
	qsort(c.items, c.n, sizeof(*c.items), item_cmp);
	json_array(j);
	for (i = 0; i < c.n; i++) {
		json_raw(j, c.items[i].text, c.items[i].len);
		free(c.items[i].text);
	}
	json_end(j);
	free(c.items);
	w->n = c.n;
}

/* The totals of a walk. */
void render_totals(struct json *j, const struct walk *w)
{
	json_object(j);
	json_kv_u64(j, "Processes", w->n);
	json_kv_u64(j, "WithSnapshot", w->nsnap);
	GOMEM_MEMSTATS_GO_FIELDS(RT_KV_, RT_NONE_, RT_NONE_, RT_NONE_, RT_NONE_, RT_NONE_)
	json_kv_u64(j, "RSS", w->rss);
	json_end(j);
}
