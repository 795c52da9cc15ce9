/*
 * proc.c: the process table.
 *
 * One entry per watched process: identity (pid, comm, cmdline, start time,
 * library, version), the latest snapshot with the time it arrived, RSS at
 * that time, counters of the small probes, and a history ring of compact
 * points (struct gomem_hist_point) taken at most once per history interval.
 *
 * Locking: `lock` (rwlock) protects the table and every entry; the
 * generation counter is atomic.  Writers: the collector (main thread), the
 * sweep (main thread), and POST/DELETE handlers (proc_add/proc_remove).
 * Nothing here calls out of core/ with the lock held except the snapshot
 * hooks (proc_subscribe), which must not take locks of their own that are
 * held around proc_* calls.
 *
 * An entry is born from its first record, from the startup scan, or from
 * an explicit attach (watch/ decides which).  It dies `grace` seconds after
 * its process exited (sched_process_exit record with the exit status, or
 * the /proc check in proc_sweep, which also catches a pid reused by a new
 * process through its start time), or after an exec into an image that
 * does not run libgomem (proc_on_exec, settled by proc_exec_settle).
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "base/cgroup.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/pidmap.h"
#include "base/procfs.h"
#include "base/xmalloc.h"
#include "core/proc.h"

#define MAX_HOOKS 8

struct proc {
	struct pidmap_node node; /* first: the table's link, keyed by pid */
	struct proc_info info;	 /* ages in info are computed on copy */
	uint64_t start_ticks;	 /* /proc/PID/stat starttime, identity */
	struct gomem_memstats snap;
	uint64_t snap_mono_ns;
	uint64_t exit_mono_ns;
	uint64_t exec_mono_ns; /* an exec not yet settled (proc_exec_settle), else 0 */
	char pre_comm[16];     /* name and command line before that exec */
	char pre_cmdline[1024];
	size_t pre_cmdline_len;
	struct gomem_hist_point *hist; /* ring of hist_cap points */
	unsigned hist_head;	       /* next slot to write */
	unsigned hist_len;
	uint64_t hist_last_ns; /* monotonic time of the last point */
};

/*
 * The table: tab.lock guards the map and every entry; the sizes and clock
 * constants are set by proc_init() before any thread starts.
 */
static struct {
	pthread_rwlock_t lock;
	struct pidmap map;
	unsigned hist_cap;
	unsigned hist_interval_ms;
	uint64_t btime_ns; /* boot time, wall clock */
	long clk_tck;
	struct {
		proc_hook_fn fn;
		void *arg;
	} hooks[MAX_HOOKS];
	int nhooks;
} tab = {.lock = PTHREAD_RWLOCK_INITIALIZER};

static uint64_t generation; /* atomic */

/* Read a process's command line (bounded by info->cmdline) into info. */
static void read_cmdline(int pid, struct proc_info *info)
{
	ssize_t n = procfs_read(pid, "cmdline", info->cmdline, sizeof info->cmdline);

	info->cmdline_len = n > 0 ? (size_t)n : 0;
	/* a trailing NUL ends the last argument; keep lengths without it */
	if (info->cmdline_len > 0 && info->cmdline[info->cmdline_len - 1] == '\0')
		info->cmdline_len--;
}

/* Fill identity fields of info from /proc; 0 if the process exists. */
static int read_identity(int pid, struct proc_info *info, uint64_t *start_ticks)
{
	info->pid = pid;
	*start_ticks = procfs_start_ticks(pid);
	if (*start_ticks == 0)
		return -1;
	info->start_time_ns = tab.btime_ns + *start_ticks * (1000000000ull / (uint64_t)tab.clk_tck);
	procfs_comm(pid, info->comm, sizeof info->comm);
	info->have_uid = procfs_real_uid(pid, &info->uid) == 0;
	read_cmdline(pid, info);
	cgroup_read(pid, info->cgroup, sizeof info->cgroup, info->unit, sizeof info->unit);
	return 0;
}

/* ---- the table ---- */

/*
 * Boot time on the wall clock without /proc/stat: realtime minus boottime,
 * rounded down to a whole second as /proc/stat's btime is.
 */
static uint64_t boot_time_ns(void)
{
	struct timespec rt, bt;
	uint64_t ns;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_BOOTTIME, &bt);
	ns = ((uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec) -
	     ((uint64_t)bt.tv_sec * 1000000000ull + (uint64_t)bt.tv_nsec);
	return ns / 1000000000ull * 1000000000ull;
}

/* Set up the table. */
void proc_init(unsigned history_len, unsigned history_interval_ms)
{
	char buf[4096], *p;

	tab.hist_cap = history_len;
	tab.hist_interval_ms = history_interval_ms;
	tab.clk_tck = sysconf(_SC_CLK_TCK);
	if (tab.clk_tck <= 0)
		tab.clk_tck = 100;
	if (procfs_read_path("/proc/stat", buf, sizeof buf) > 0 &&
	    (p = strstr(buf, "\nbtime ")) != NULL)
		tab.btime_ns = strtoull(p + 7, NULL, 10) * 1000000000ull;
	else /* ProcSubset=pid hides /proc/stat: boot time from the clocks */
		tab.btime_ns = boot_time_ns();
}

/* Change the history interval (SIGHUP). */
void proc_set_history_interval(unsigned ms)
{
	pthread_rwlock_wrlock(&tab.lock);
	tab.hist_interval_ms = ms;
	pthread_rwlock_unlock(&tab.lock);
}

/* Free an entry. */
static void proc_free(struct proc *p)
{
	free(p->hist);
	free(p);
}

/* pidmap_walk callback: free and unlink an entry. */
static int free_one(struct pidmap_node *n, void *arg)
{
	(void)arg;
	proc_free((struct proc *)n);
	return 1;
}

/* Free every entry. */
void proc_fini(void)
{
	pthread_rwlock_wrlock(&tab.lock);
	pidmap_walk(&tab.map, free_one, NULL);
	pthread_rwlock_unlock(&tab.lock);
}

/* Take the table's read lock. */
void proc_rdlock(void)
{
	pthread_rwlock_rdlock(&tab.lock);
}

/* Release the table's lock. */
void proc_unlock(void)
{
	pthread_rwlock_unlock(&tab.lock);
}

/* Look a pid up (any lock held). */
static struct proc *find_locked(int pid)
{
	return (struct proc *)pidmap_find(&tab.map, pid);
}

/* Look a pid up; the table must be locked. */
const struct proc *proc_find_locked(int pid)
{
	return find_locked(pid);
}

/* Bump the generation. */
static void bump_generation(void)
{
	__atomic_add_fetch(&generation, 1, __ATOMIC_RELEASE);
}

/* The current generation: it moves with every snapshot or process change. */
uint64_t proc_generation(void)
{
	return __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
}

/* Register a callback run after each snapshot; 0 on success. */
int proc_subscribe(proc_hook_fn fn, void *arg)
{
	int rc = -1;

	pthread_rwlock_wrlock(&tab.lock);
	if (tab.nhooks < MAX_HOOKS) {
		tab.hooks[tab.nhooks].fn = fn;
		tab.hooks[tab.nhooks].arg = arg;
		tab.nhooks++;
		rc = 0;
	}
	pthread_rwlock_unlock(&tab.lock);
	return rc;
}

/*
 * Make a new entry (not inserted) from /proc; comm is the fallback name,
 * library the libgomem it maps (NULL: unknown).
 */
static struct proc *proc_new(int pid, const char *comm, const char *library)
{
	struct proc *p = xcalloc(1, sizeof *p);

	if (read_identity(pid, &p->info, &p->start_ticks) != 0) {
		p->info.pid = pid;
		if (comm != NULL)
			snprintf(p->info.comm, sizeof p->info.comm, "%s", comm);
	}
	if (library != NULL)
		snprintf(p->info.library, sizeof p->info.library, "%.250s", library);
	p->hist = xcalloc(tab.hist_cap, sizeof(*p->hist));
	return p;
}

/* Insert an entry (write lock held). */
static void insert_locked(struct proc *p)
{
	p->node.pid = p->info.pid;
	pidmap_insert(&tab.map, &p->node);
}

/* Unlink an entry (write lock held). */
static struct proc *unlink_locked(int pid)
{
	return (struct proc *)pidmap_remove(&tab.map, pid);
}

/*
 * Find pid's entry write-locked, creating it if needed: /proc is read
 * without the lock held.  Returns with the write lock held.
 */
static struct proc *get_wrlocked(int pid, const char *comm, const char *library, int *created)
{
	struct proc *p, *n;

	*created = 0;
	pthread_rwlock_wrlock(&tab.lock);
	if ((p = find_locked(pid)) != NULL)
		return p;
	pthread_rwlock_unlock(&tab.lock);

	n = proc_new(pid, comm, library);
	pthread_rwlock_wrlock(&tab.lock);
	if ((p = find_locked(pid)) != NULL) {
		proc_free(n);
		return p;
	}
	insert_locked(n);
	*created = 1;
	return n;
}

/* Add a process found by the scan or an attach; 0 if added, 1 if known. */
int proc_add(int pid, const char *library)
{
	struct proc *p, *old;
	int created;

	/* An exited entry still in its grace, and another process under the
	 * pid now: it reuses the pid.  (The same process, ended since it was
	 * looked up, keeps its entry and how it ended.) */
	uint64_t now_start = procfs_start_ticks(pid);

	pthread_rwlock_wrlock(&tab.lock);
	p = find_locked(pid);
	old = p != NULL && p->info.exited && now_start != 0 && now_start != p->start_ticks
		  ? unlink_locked(pid)
		  : NULL;
	pthread_rwlock_unlock(&tab.lock);
	if (old != NULL)
		proc_free(old);
	p = get_wrlocked(pid, NULL, library, &created);
	if (library != NULL && p->info.library[0] == '\0')
		snprintf(p->info.library, sizeof p->info.library, "%s", library);
	pthread_rwlock_unlock(&tab.lock);
	if (created) {
		log_debug("watching process %d (%s)", pid, library ? library : "?");
		bump_generation();
	}
	return created ? 0 : 1;
}

/* Mark a process as having its own per-pid links. */
void proc_set_attached(int pid, int on)
{
	struct proc *p;

	pthread_rwlock_wrlock(&tab.lock);
	if ((p = find_locked(pid)) != NULL)
		p->info.attached_pid = on;
	pthread_rwlock_unlock(&tab.lock);
}

/* Drop a process now (DELETE); 0 if it was there. */
int proc_remove(int pid)
{
	struct proc *p;

	pthread_rwlock_wrlock(&tab.lock);
	p = unlink_locked(pid);
	pthread_rwlock_unlock(&tab.lock);
	if (p == NULL)
		return -1;
	proc_free(p);
	bump_generation();
	return 0;
}

/* Append a history point (write lock held). */
static void hist_push_locked(struct proc *p, uint64_t mono)
{
	struct gomem_hist_point *h;
	const struct gomem_memstats *m = &p->snap;

	if (p->hist_len > 0 && mono - p->hist_last_ns < (uint64_t)tab.hist_interval_ms * 900000ull)
		return; /* 90% of the interval: jitter must not skip points */
	h = &p->hist[p->hist_head];
	h->TimeNs = m->TimeNs ? m->TimeNs : now_real_ns();
	h->HeapAlloc = m->HeapAlloc;
	h->HeapInuse = m->HeapInuse;
	h->HeapIdle = m->HeapIdle;
	h->HeapReleased = m->HeapReleased;
	h->Sys = m->Sys;
	h->RSS = p->info.rss_bytes;
	h->Mallocs = m->Mallocs;
	h->Frees = m->Frees;
	p->hist_head = (p->hist_head + 1) % tab.hist_cap;
	if (p->hist_len < tab.hist_cap)
		p->hist_len++;
	p->hist_last_ns = mono;
}

/*
 * A snapshot arrived from the collector.  Without create, a pid that has no
 * live entry (none, or one whose process exited: the pid was reused) is
 * left alone and PROC_UNKNOWN returned; with create, such an entry is made
 * (replacing the exited one) with library as its libgomem.
 */
int proc_on_snapshot(int pid, const char *comm, const struct gomem_memstats *snap, size_t len,
		     const char *version, int create, const char *library)
{
	uint64_t rss = procfs_rss(pid), mono = now_mono_ns();
	struct proc *p, *old = NULL;
	int created = 0, i;

	pthread_rwlock_wrlock(&tab.lock);
	p = find_locked(pid);
	if (p == NULL || p->info.exited) {
		if (!create) {
			pthread_rwlock_unlock(&tab.lock);
			return PROC_UNKNOWN;
		}
		if (p != NULL) /* a record after the exit: a new process reusing the pid */
			old = unlink_locked(pid);
		pthread_rwlock_unlock(&tab.lock);
		if (old != NULL)
			proc_free(old);
		p = get_wrlocked(pid, comm, library, &created);
	}
	if (len > sizeof p->snap)
		len = sizeof p->snap;
	memcpy(&p->snap, snap, len);
	memset((char *)&p->snap + len, 0, sizeof p->snap - len);
	p->info.have_snap = 1;
	p->info.snaps++;
	p->snap_mono_ns = mono;
	p->info.rss_bytes = rss;
	if (version != NULL && version[0] != '\0')
		snprintf(p->info.version, sizeof p->info.version, "%s", version);
	hist_push_locked(p, mono);
	for (i = 0; i < tab.nhooks; i++)
		tab.hooks[i].fn(p, tab.hooks[i].arg);
	pthread_rwlock_unlock(&tab.lock);
	if (created)
		log_debug("new process %d (%s)", pid, comm ? comm : "?");
	bump_generation();
	return created ? PROC_NEW : PROC_UPDATED;
}

/* A gomem:scavenge record. */
void proc_on_scavenge(int pid, uint64_t bytes, uint64_t ns)
{
	struct proc *p;

	pthread_rwlock_wrlock(&tab.lock);
	if ((p = find_locked(pid)) != NULL) {
		p->info.scavenge_events++;
		p->info.scavenge_bytes += bytes;
		p->info.scavenge_ns += ns;
	}
	pthread_rwlock_unlock(&tab.lock);
}

/* A gomem:arena_grow record. */
void proc_on_arena_grow(int pid, uint64_t bytes)
{
	struct proc *p;

	pthread_rwlock_wrlock(&tab.lock);
	if ((p = find_locked(pid)) != NULL) {
		p->info.arena_grows++;
		p->info.arena_bytes += bytes;
	}
	pthread_rwlock_unlock(&tab.lock);
}

/* Mark an entry ended (write lock held); end NULL: vanished, status unknown. */
static void end_locked(struct proc *p, const struct proc_end *end, uint64_t mono)
{
	p->info.exited = 1;
	p->exit_mono_ns = mono;
	p->exec_mono_ns = 0;
	if (end != NULL)
		p->info.end = *end;
	else
		snprintf(p->info.end.how, sizeof p->info.end.how, "vanished");
}

/* A process exited: keep it for the grace period. */
void proc_on_exit(int pid, const struct proc_end *end)
{
	struct proc *p;

	pthread_rwlock_wrlock(&tab.lock);
	if ((p = find_locked(pid)) != NULL && !p->info.exited)
		end_locked(p, end, now_mono_ns());
	pthread_rwlock_unlock(&tab.lock);
	bump_generation();
}

/*
 * A watched process called execve.  Its new name comes with the record;
 * its command line is read again (bounded, as at the start).  Whether the
 * new image runs libgomem is known only once its loader has run:
 * watch_sweep() looks at its mappings half a second later.
 */
void proc_on_exec(int pid, const char *comm)
{
	struct proc_info fresh;
	struct proc *p;

	memset(&fresh, 0, sizeof fresh);
	read_cmdline(pid, &fresh); /* without the lock: /proc may be slow */
	pthread_rwlock_wrlock(&tab.lock);
	if ((p = find_locked(pid)) != NULL && !p->info.exited) {
		if (p->exec_mono_ns == 0) { /* keep the name of the image that ran libgomem */
			memcpy(p->pre_comm, p->info.comm, sizeof p->pre_comm);
			memcpy(p->pre_cmdline, p->info.cmdline, p->info.cmdline_len);
			p->pre_cmdline_len = p->info.cmdline_len;
		}
		snprintf(p->info.comm, sizeof p->info.comm, "%s", comm);
		memcpy(p->info.cmdline, fresh.cmdline, fresh.cmdline_len);
		p->info.cmdline_len = fresh.cmdline_len;
		p->info.execs++;
		p->exec_mono_ns = now_mono_ns();
		if (p->exec_mono_ns == 0)
			p->exec_mono_ns = 1;
	}
	pthread_rwlock_unlock(&tab.lock);
	bump_generation();
}

struct pending {
	uint64_t now, min_age;
	int *pids;
	size_t n;
};

/* pidmap_walk callback of proc_exec_pending. */
static int pending_one(struct pidmap_node *n, void *arg)
{
	struct proc *p = (struct proc *)n;
	struct pending *pe = arg;

	if (p->exec_mono_ns == 0 || p->info.exited || pe->now - p->exec_mono_ns < pe->min_age)
		return 0;
	pe->pids = xrealloc(pe->pids, sizeof(*pe->pids) * (pe->n + 1));
	pe->pids[pe->n++] = p->info.pid;
	return 0;
}

size_t proc_exec_pending(uint64_t min_age_ns, int **out)
{
	struct pending pe = {.now = now_mono_ns(), .min_age = min_age_ns};

	pthread_rwlock_rdlock(&tab.lock);
	pidmap_walk(&tab.map, pending_one, &pe);
	pthread_rwlock_unlock(&tab.lock);
	*out = pe.pids;
	return pe.n;
}

void proc_exec_settle(int pid, int has_lib)
{
	struct proc_end end;
	struct proc *p;

	memset(&end, 0, sizeof end);
	snprintf(end.how, sizeof end.how, "exec");
	pthread_rwlock_wrlock(&tab.lock);
	if ((p = find_locked(pid)) != NULL && !p->info.exited && p->exec_mono_ns != 0) {
		if (has_lib) {
			p->exec_mono_ns = 0;
		} else {
			memcpy(end.exec_comm, p->info.comm, sizeof end.exec_comm);
			memcpy(p->info.comm, p->pre_comm, sizeof p->info.comm);
			memcpy(p->info.cmdline, p->pre_cmdline, p->pre_cmdline_len);
			p->info.cmdline_len = p->pre_cmdline_len;
			end_locked(p, &end, now_mono_ns());
		}
	}
	pthread_rwlock_unlock(&tab.lock);
	if (!has_lib)
		log_debug("process %d exec'd %s, which does not run libgomem: ended", pid,
			  end.exec_comm);
	bump_generation();
}

struct sweep {
	uint64_t now, grace;
	int *dead, ndead, changed;
};

/* pidmap_walk callback of proc_sweep: mark one entry exited, or drop it. */
static int sweep_one(struct pidmap_node *n, void *arg)
{
	struct proc *p = (struct proc *)n;
	struct sweep *sw = arg;

	if (!p->info.exited) {
		uint64_t st = procfs_start_ticks(p->info.pid);

		/* An entry made when the process was gone already has no start
		 * time: whatever runs under the pid now is another process. */
		if (st == 0 || st != p->start_ticks) {
			end_locked(p, NULL, sw->now);
			sw->changed = 1;
		}
	}
	if (!p->info.exited || sw->now - p->exit_mono_ns < sw->grace)
		return 0;
	sw->dead = xrealloc(sw->dead, sizeof(*sw->dead) * (size_t)(sw->ndead + 1));
	sw->dead[sw->ndead++] = p->info.pid;
	proc_free(p);
	return 1;
}

/*
 * Once a second: mark processes gone from /proc (or replaced by a new
 * process with the same pid) as exited, and drop those exited longer than
 * grace_s ago.  Returns how many were dropped, their pids in *dropped
 * (malloc'd, free with free(); NULL when none).
 */
size_t proc_sweep(unsigned grace_s, int **dropped)
{
	struct sweep sw = {.now = now_mono_ns(), .grace = (uint64_t)grace_s * 1000000000ull};
	int i;

	pthread_rwlock_wrlock(&tab.lock);
	pidmap_walk(&tab.map, sweep_one, &sw);
	pthread_rwlock_unlock(&tab.lock);
	for (i = 0; i < sw.ndead; i++)
		log_debug("dropping process %d", sw.dead[i]);
	if (sw.changed || sw.ndead)
		bump_generation();
	*dropped = sw.dead;
	return (size_t)sw.ndead;
}

/* ---- readers ---- */

/* Copy an entry's info, with ages computed now. */
void proc_info_locked(const struct proc *p, struct proc_info *out)
{
	uint64_t now = now_mono_ns();

	*out = p->info;
	out->snap_age_ns = p->info.have_snap ? now - p->snap_mono_ns : 0;
	out->exited_age_ns = p->info.exited ? now - p->exit_mono_ns : 0;
}

/* An entry's latest snapshot, or NULL when none arrived yet. */
const struct gomem_memstats *proc_snap_locked(const struct proc *p)
{
	return p->info.have_snap ? &p->snap : NULL;
}

struct foreach {
	int (*fn)(const struct proc *p, void *arg);
	void *arg;
};

/* pidmap_walk callback of proc_foreach: stop when fn returns nonzero. */
static int foreach_one(struct pidmap_node *n, void *arg)
{
	struct foreach *f = arg;
	int rc = f->fn((const struct proc *)n, f->arg);

	return rc != 0 ? -1 : 0;
}

/* Call fn for every entry (read-locked) until it returns nonzero; then -1, else 0. */
int proc_foreach(int (*fn)(const struct proc *p, void *arg), void *arg)
{
	struct foreach f = {fn, arg};
	int rc;

	pthread_rwlock_rdlock(&tab.lock);
	rc = pidmap_walk(&tab.map, foreach_one, &f);
	pthread_rwlock_unlock(&tab.lock);
	return rc;
}

/*
 * Copy a process's info and (if snap != NULL) latest snapshot.  Returns 0,
 * -1 if unknown, 1 if known without a snapshot yet.
 */
int proc_copy(int pid, struct proc_info *info, struct gomem_memstats *snap)
{
	struct proc *p;
	int rc = -1;

	pthread_rwlock_rdlock(&tab.lock);
	if ((p = find_locked(pid)) != NULL) {
		if (info != NULL)
			proc_info_locked(p, info);
		if (snap != NULL && p->info.have_snap)
			*snap = p->snap;
		rc = p->info.have_snap ? 0 : 1;
	}
	pthread_rwlock_unlock(&tab.lock);
	return rc;
}

/* Copy up to max of a process's newest history points, oldest first. */
size_t proc_copy_history(int pid, struct gomem_hist_point *out, size_t max)
{
	struct proc *p;
	size_t n = 0, i, start;

	pthread_rwlock_rdlock(&tab.lock);
	if ((p = find_locked(pid)) != NULL) {
		n = p->hist_len < max ? p->hist_len : max;
		start = (p->hist_head + tab.hist_cap - n) % tab.hist_cap;
		for (i = 0; i < n; i++)
			out[i] = p->hist[(start + i) % tab.hist_cap];
	}
	pthread_rwlock_unlock(&tab.lock);
	return n;
}

/* The packed history's header: the layout is named by its fields' count. */
struct hist_header {
	char magic[8];	     /* "gmhist1" */
	uint64_t point_size; /* sizeof(struct gomem_hist_point) */
};
static const char hist_magic[8] = "gmhist1";

void *proc_history_pack(int pid, size_t *len)
{
	struct hist_header h;
	size_t n;
	char *buf;

	buf = xcalloc(1, sizeof h + tab.hist_cap * sizeof(struct gomem_hist_point));
	n = proc_copy_history(pid, (struct gomem_hist_point *)(buf + sizeof h), tab.hist_cap);
	if (n == 0) {
		free(buf);
		*len = 0;
		return NULL;
	}
	memcpy(h.magic, hist_magic, sizeof h.magic);
	h.point_size = sizeof(struct gomem_hist_point);
	memcpy(buf, &h, sizeof h);
	*len = sizeof h + n * sizeof(struct gomem_hist_point);
	return buf;
}

int proc_history_unpack(const void *buf, size_t len, struct gomem_hist_point **pts, size_t *n)
{
	struct hist_header h;

	if (len < sizeof h)
		return -1;
	memcpy(&h, buf, sizeof h);
	if (memcmp(h.magic, hist_magic, sizeof h.magic) != 0 ||
	    h.point_size != sizeof(struct gomem_hist_point) ||
	    (len - sizeof h) % sizeof(struct gomem_hist_point) != 0)
		return -1;
	*n = (len - sizeof h) / sizeof(struct gomem_hist_point);
	*pts = xcalloc(*n ? *n : 1, sizeof(**pts));
	memcpy(*pts, (const char *)buf + sizeof h, *n * sizeof(**pts));
	return 0;
}

/* Points in each history ring. */
size_t proc_history_cap(void)
{
	return tab.hist_cap; /* set before any thread starts, never changed */
}

/* Number of entries. */
size_t proc_count(void)
{
	size_t n;

	pthread_rwlock_rdlock(&tab.lock);
	n = tab.map.count;
	pthread_rwlock_unlock(&tab.lock);
	return n;
}
