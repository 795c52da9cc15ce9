/*
 * proc.c: the process table.
 *
 * One entry per watched process: identity (pid, comm, cmdline, start time,
 * library, version), the latest snapshot with the time it arrived, RSS at
 * that time, counters of the small probes, and a history ring of compact
 * points (struct gomem_hist_point) taken at most once per history interval.
 *
 * Locking: `lock` (rwlock) protects the table and every entry, except each
 * entry's rendered-JSON cache, which has its own mutex so that readers
 * holding the read lock can fill it.  `gen_lock` + `gen_cond` publish the
 * generation counter to waiters (SSE).  Writers: the collector (main thread),
 * the sweep (main thread), and POST/DELETE handlers (proc_add/proc_remove).
 * Lock order: lock -> cache_lock; lock -> attach.c's pid_lock.
 *
 * An entry is born from its first record, from the startup scan, or from
 * an explicit attach.  It dies `grace` seconds after its process exited
 * (sched_process_exit record, or the /proc check in proc_sweep, which also
 * catches a pid reused by a new process through its start time).
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

#include "cgroup.h"
#include "base/safefile.h"
#include "gomemd.h"

#define NBUCKETS 1024
#define MAX_HOOKS 8

struct proc {
	struct proc *next;		/* hash chain */
	struct proc_info info;		/* ages in info are computed on copy */
	uint64_t start_ticks;		/* /proc/PID/stat starttime, identity */
	struct gomem_memstats snap;
	uint64_t snap_mono_ns;
	uint64_t exit_mono_ns;
	struct gomem_hist_point *hist;	/* ring of hist_cap points */
	unsigned hist_head;		/* next slot to write */
	unsigned hist_len;
	uint64_t hist_last_ns;		/* monotonic time of the last point */
	pthread_mutex_t cache_lock;
	char *json;			/* rendered MemStats, or NULL */
	uint64_t json_snaps;		/* info.snaps when rendered */
	char *cjson;			/* the same without arrays */
	uint64_t cjson_snaps;
};

static struct {
	pthread_rwlock_t lock;
	struct proc *buckets[NBUCKETS];
	size_t count;
	unsigned hist_cap;
	unsigned hist_interval_ms;
	uint64_t btime_ns;		/* boot time, wall clock */
	long clk_tck;
	long page_size;
	struct {
		proc_hook_fn fn;
		void *arg;
	} hooks[MAX_HOOKS];
	int nhooks;
} tab = {.lock = PTHREAD_RWLOCK_INITIALIZER};

static pthread_mutex_t gen_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gen_cond;
static uint64_t generation;

/* ---- /proc readers ---- */

/* Read a small file into buf (NUL-terminated); returns the length or -1. */
static ssize_t
read_file(const char *path, char *buf, size_t len)
{
	ssize_t n, total = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((size_t)total < len - 1) {
		n = read(fd, buf + total, len - 1 - (size_t)total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += n;
	}
	close(fd);
	buf[total] = '\0';
	return total;
}

/* Whether a process exists. */
int
proc_alive(int pid)
{
	char path[64];
	struct stat st;

	/* not access(2): it drops the capabilities of a non-root uid, and
	 * under hidepid=invisible only CAP_SYS_PTRACE shows other users' pids */
	snprintf(path, sizeof path, "/proc/%d", pid);
	return stat(path, &st) == 0;
}

/* A process's start time in clock ticks since boot, 0 if gone or a zombie. */
uint64_t
proc_start_ticks(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long v = 0;
	int field;

	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	if (read_file(path, buf, sizeof buf) <= 0)
		return 0;
	p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return 0;
	/* after ") " comes field 3 (state); starttime is field 22 */
	for (field = 3, p += 2; field < 22 && *p; p++)
		if (*p == ' ')
			field++;
	if (sscanf(p, "%llu", &v) != 1)
		return 0;
	return v;
}

/* A process's comm (thread-group leader's name). */
int
proc_read_comm(int pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof path, "/proc/%d/comm", pid);
	n = read_file(path, buf, len);
	if (n <= 0)
		return -1;
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return 0;
}

/* Resident set size in bytes, 0 if unknown. */
static uint64_t
read_rss(int pid)
{
	char path[64], buf[256];
	unsigned long long size, resident;

	snprintf(path, sizeof path, "/proc/%d/statm", pid);
	if (read_file(path, buf, sizeof buf) <= 0)
		return 0;
	if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return 0;
	return resident * (uint64_t)tab.page_size;
}

/* Fill identity fields of info from /proc; 0 if the process exists. */
static int
read_identity(int pid, struct proc_info *info, uint64_t *start_ticks)
{
	char path[64];
	ssize_t n;

	info->pid = pid;
	*start_ticks = proc_start_ticks(pid);
	if (*start_ticks == 0)
		return -1;
	info->start_time_ns = tab.btime_ns + *start_ticks * (1000000000ull / (uint64_t)tab.clk_tck);
	proc_read_comm(pid, info->comm, sizeof info->comm);
	snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
	n = read_file(path, info->cmdline, sizeof info->cmdline);
	info->cmdline_len = n > 0 ? (size_t)n : 0;
	/* a trailing NUL ends the last argument; keep lengths without it */
	if (info->cmdline_len > 0 && info->cmdline[info->cmdline_len - 1] == '\0')
		info->cmdline_len--;
	cgroup_read(pid, info->cgroup, sizeof info->cgroup, info->unit, sizeof info->unit);
	return 0;
}

/*
 * Find the libgomem a process maps, from /proc/PID/maps alone: nothing the
 * process names is opened, stat()ed or followed.  A mapping whose device
 * and inode are an attached library wins (whatever its name); else the
 * first file named libgomem*.so*.  0 with *m filled (its path without any
 * " (deleted)", m->deleted set), or -1.
 */
int
proc_find_library(int pid, struct safefile_map *m)
{
	char mpath[64], line[PATH_MAX + 128];
	struct safefile_map cur;
	int have_other = 0;
	FILE *f;

	snprintf(mpath, sizeof mpath, "/proc/%d/maps", pid);
	f = fopen(mpath, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		const char *base;

		if (safefile_parse_map(line, &cur) != 0 || cur.inode == 0 || cur.path[0] != '/')
			continue;
		if (attach_is_library(makedev(cur.dev_major, cur.dev_minor), (ino_t)cur.inode)) {
			*m = cur;
			fclose(f);
			return 0;
		}
		base = strrchr(cur.path, '/') + 1;
		if (!have_other && strncmp(base, "libgomem", 8) == 0 && strstr(base, ".so") != NULL) {
			*m = cur;
			have_other = 1;
		}
	}
	fclose(f);
	return have_other ? 0 : -1;
}

/* ---- the table ---- */

/*
 * Boot time on the wall clock without /proc/stat: realtime minus boottime,
 * rounded down to a whole second as /proc/stat's btime is.
 */
static uint64_t
proc_boot_time_ns(void)
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
void
proc_init(unsigned history_len, unsigned history_interval_ms)
{
	pthread_condattr_t ca;
	char buf[4096], *p;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&gen_cond, &ca);
	pthread_condattr_destroy(&ca);

	tab.hist_cap = history_len;
	tab.hist_interval_ms = history_interval_ms;
	tab.clk_tck = sysconf(_SC_CLK_TCK);
	if (tab.clk_tck <= 0)
		tab.clk_tck = 100;
	tab.page_size = sysconf(_SC_PAGESIZE);
	if (read_file("/proc/stat", buf, sizeof buf) > 0 && (p = strstr(buf, "\nbtime ")) != NULL)
		tab.btime_ns = strtoull(p + 7, NULL, 10) * 1000000000ull;
	else /* ProcSubset=pid hides /proc/stat: boot time from the clocks */
		tab.btime_ns = proc_boot_time_ns();
}

/* Change the history interval (SIGHUP). */
void
proc_set_history_interval(unsigned ms)
{
	pthread_rwlock_wrlock(&tab.lock);
	tab.hist_interval_ms = ms;
	pthread_rwlock_unlock(&tab.lock);
}

/* Free an entry. */
static void
proc_free(struct proc *p)
{
	pthread_mutex_destroy(&p->cache_lock);
	free(p->json);
	free(p->cjson);
	free(p->hist);
	free(p);
}

/* Free every entry. */
void
proc_fini(void)
{
	struct proc *p, *next;
	int i;

	pthread_rwlock_wrlock(&tab.lock);
	for (i = 0; i < NBUCKETS; i++) {
		for (p = tab.buckets[i]; p != NULL; p = next) {
			next = p->next;
			proc_free(p);
		}
		tab.buckets[i] = NULL;
	}
	tab.count = 0;
	pthread_rwlock_unlock(&tab.lock);
}

/* Take the table's read lock. */
void
proc_rdlock(void)
{
	pthread_rwlock_rdlock(&tab.lock);
}

/* Release the table's lock. */
void
proc_unlock(void)
{
	pthread_rwlock_unlock(&tab.lock);
}

/* Look a pid up (any lock held). */
static struct proc *
find_locked(int pid)
{
	struct proc *p;

	for (p = tab.buckets[(unsigned)pid % NBUCKETS]; p != NULL; p = p->next)
		if (p->info.pid == pid)
			return p;
	return NULL;
}

/* Look a pid up; the table must be locked. */
const struct proc *
proc_find_locked(int pid)
{
	return find_locked(pid);
}

/* Bump the generation and wake waiters. */
static void
bump_generation(void)
{
	pthread_mutex_lock(&gen_lock);
	generation++;
	pthread_cond_broadcast(&gen_cond);
	pthread_mutex_unlock(&gen_lock);
}

/* The current generation. */
uint64_t
proc_generation(void)
{
	uint64_t g;

	pthread_mutex_lock(&gen_lock);
	g = generation;
	pthread_mutex_unlock(&gen_lock);
	return g;
}

/* Wait until the generation differs from `seen` or timeout_ms passes. */
uint64_t
proc_wait_generation(uint64_t seen, int timeout_ms)
{
	struct timespec ts;
	uint64_t g;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&gen_lock);
	while (generation == seen)
		if (pthread_cond_timedwait(&gen_cond, &gen_lock, &ts) != 0)
			break;
	g = generation;
	pthread_mutex_unlock(&gen_lock);
	return g;
}

/* Register a callback run after each snapshot; 0 on success. */
int
proc_subscribe(proc_hook_fn fn, void *arg)
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

/* Make a new entry (not inserted) from /proc; comm is the fallback name. */
static struct proc *
proc_new(int pid, const char *comm)
{
	struct proc *p = xcalloc(1, sizeof *p);

	if (read_identity(pid, &p->info, &p->start_ticks) != 0) {
		p->info.pid = pid;
		if (comm != NULL)
			snprintf(p->info.comm, sizeof p->info.comm, "%s", comm);
	}
	if (comm != NULL) { /* born from a record: which library fired it? */
		struct safefile_map m;

		if (proc_find_library(pid, &m) == 0)
			snprintf(p->info.library, sizeof p->info.library, "%.240s%s", m.path,
				 m.deleted ? " (deleted)" : "");
	}
	p->hist = xcalloc(tab.hist_cap, sizeof(*p->hist));
	pthread_mutex_init(&p->cache_lock, NULL);
	return p;
}

/* Insert an entry (write lock held). */
static void
insert_locked(struct proc *p)
{
	unsigned b = (unsigned)p->info.pid % NBUCKETS;

	p->next = tab.buckets[b];
	tab.buckets[b] = p;
	tab.count++;
}

/* Unlink an entry (write lock held). */
static struct proc *
unlink_locked(int pid)
{
	struct proc **pp, *p;

	for (pp = &tab.buckets[(unsigned)pid % NBUCKETS]; (p = *pp) != NULL; pp = &p->next) {
		if (p->info.pid == pid) {
			*pp = p->next;
			tab.count--;
			return p;
		}
	}
	return NULL;
}

/*
 * Find pid's entry write-locked, creating it if needed: /proc is read
 * without the lock held.  Returns with the write lock held, or NULL
 * (unlocked) when a record (comm != NULL) would create the entry of a pid
 * the user detached: records queued before DELETE muted it must not bring
 * the process back.
 */
static struct proc *
get_wrlocked(int pid, const char *comm, int *created)
{
	struct proc *p, *n;

	*created = 0;
	pthread_rwlock_wrlock(&tab.lock);
	if ((p = find_locked(pid)) != NULL)
		return p;
	pthread_rwlock_unlock(&tab.lock);

	if (comm != NULL && attach_is_muted(pid))
		return NULL;
	n = proc_new(pid, comm);
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
int
proc_add(int pid, const char *library)
{
	struct proc *p;
	int created;

	p = get_wrlocked(pid, NULL, &created);
	if (library != NULL && p->info.library[0] == '\0')
		snprintf(p->info.library, sizeof p->info.library, "%s", library);
	pthread_rwlock_unlock(&tab.lock);
	attach_watch(pid);
	if (created) {
		log_debug("watching process %d (%s)", pid, library ? library : "?");
		bump_generation();
	}
	return created ? 0 : 1;
}

/* Mark a process as having its own per-pid links. */
void
proc_set_attached(int pid, int on)
{
	struct proc *p;

	pthread_rwlock_wrlock(&tab.lock);
	if ((p = find_locked(pid)) != NULL)
		p->info.attached_pid = on;
	pthread_rwlock_unlock(&tab.lock);
}

/* Drop a process now (DELETE); 0 if it was there. */
int
proc_remove(int pid)
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
static void
hist_push_locked(struct proc *p, uint64_t mono)
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

/* A snapshot arrived from the collector. */
void
proc_on_snapshot(int pid, const char *comm, const struct gomem_memstats *snap, size_t len,
		 const char *version)
{
	uint64_t rss = read_rss(pid), mono = now_mono_ns();
	struct proc *p;
	int created, i;

	p = get_wrlocked(pid, comm, &created);
	if (p == NULL)
		return; /* detached */
	if (p->info.exited) {
		/* a record after the exit: a new process reusing the pid */
		struct proc *n;

		p = unlink_locked(pid);
		pthread_rwlock_unlock(&tab.lock);
		proc_free(p);
		attach_watch(pid);
		n = proc_new(pid, comm);
		pthread_rwlock_wrlock(&tab.lock);
		if ((p = find_locked(pid)) == NULL) {
			insert_locked(n);
			p = n;
		} else {
			proc_free(n);
		}
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
}

/* A gomem:scavenge record. */
void
proc_on_scavenge(int pid, uint64_t bytes, uint64_t ns)
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
void
proc_on_arena_grow(int pid, uint64_t bytes)
{
	struct proc *p;

	pthread_rwlock_wrlock(&tab.lock);
	if ((p = find_locked(pid)) != NULL) {
		p->info.arena_grows++;
		p->info.arena_bytes += bytes;
	}
	pthread_rwlock_unlock(&tab.lock);
}

/* A process exited: keep it for the grace period. */
void
proc_on_exit(int pid)
{
	struct proc *p;

	pthread_rwlock_wrlock(&tab.lock);
	if ((p = find_locked(pid)) != NULL && !p->info.exited) {
		p->info.exited = 1;
		p->exit_mono_ns = now_mono_ns();
	}
	pthread_rwlock_unlock(&tab.lock);
	bump_generation();
}

/*
 * Once a second: mark processes gone from /proc (or replaced by a new
 * process with the same pid) as exited, and drop those exited longer than
 * grace_s ago.
 */
void
proc_sweep(unsigned grace_s)
{
	uint64_t now = now_mono_ns(), grace = (uint64_t)grace_s * 1000000000ull;
	int *dead = NULL, ndead = 0, changed = 0, i, b;
	struct proc **pp, *p;

	pthread_rwlock_wrlock(&tab.lock);
	for (b = 0; b < NBUCKETS; b++) {
		for (pp = &tab.buckets[b]; (p = *pp) != NULL;) {
			if (!p->info.exited) {
				uint64_t st = proc_start_ticks(p->info.pid);

				if (st == 0 || (p->start_ticks != 0 && st != p->start_ticks)) {
					p->info.exited = 1;
					p->exit_mono_ns = now;
					changed = 1;
				}
			}
			if (p->info.exited && now - p->exit_mono_ns >= grace) {
				*pp = p->next;
				tab.count--;
				dead = xrealloc(dead, sizeof(*dead) * (size_t)(ndead + 1));
				dead[ndead++] = p->info.pid;
				proc_free(p);
				continue;
			}
			pp = &p->next;
		}
	}
	pthread_rwlock_unlock(&tab.lock);
	for (i = 0; i < ndead; i++) {
		log_debug("dropping process %d", dead[i]);
		attach_forget(dead[i]);
	}
	free(dead);
	if (changed || ndead)
		bump_generation();
}

/*
 * Find processes that already map libgomem: those mapping an attached
 * library are added (the kernel has raised their semaphores); those mapping
 * one from another path are only logged (attach them with POST
 * /processes/N/attach or gomem attach).  Returns how many were added.
 */
int
proc_scan(void)
{
	struct safefile_map m;
	struct dirent *d;
	int n = 0, self = getpid();
	char err[256];
	DIR *dir;

	dir = opendir("/proc");
	if (dir == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		char *end;
		long pid = strtol(d->d_name, &end, 10);

		if (!isdigit((unsigned char)d->d_name[0]) || *end || pid == self ||
		    attach_is_muted((int)pid))
			continue; /* a pid the user detached stays detached */
		if (proc_find_library((int)pid, &m) != 0)
			continue;
		/*
		 * A configured library replaced on disk while this process
		 * kept the old one (a package upgrade before a restart of
		 * gomemd): attach the old inode, reached through map_files.
		 */
		if (!attach_is_library(makedev(m.dev_major, m.dev_minor), (ino_t)m.inode) &&
		    m.deleted && attach_is_configured(m.path) &&
		    attach_mapped((int)pid, &m, err, sizeof err) != 0)
			log_warnx("process %ld maps %s (deleted): %s", pid, m.path, err);
		if (attach_is_library(makedev(m.dev_major, m.dev_minor), (ino_t)m.inode)) {
			if (proc_add((int)pid, m.path) == 0)
				n++;
		} else {
			/*
			 * Another copy of libgomem: per-pid links cost a uprobe
			 * each (and ~0.25 s each to remove), so only on request.
			 */
			log_debug("process %ld maps %s (not a configured library): "
				  "POST /processes/%ld/attach to watch it", pid, m.path, pid);
		}
	}
	closedir(dir);
	return n;
}

/* ---- readers ---- */

/* Copy an entry's info, with ages computed now. */
void
proc_info_locked(const struct proc *p, struct proc_info *out)
{
	uint64_t now = now_mono_ns();

	*out = p->info;
	out->snap_age_ns = p->info.have_snap ? now - p->snap_mono_ns : 0;
	out->exited_age_ns = p->info.exited ? now - p->exit_mono_ns : 0;
}

/* An entry's latest snapshot, or NULL when none arrived yet. */
const struct gomem_memstats *
proc_snap_locked(const struct proc *p)
{
	return p->info.have_snap ? &p->snap : NULL;
}

/* Render (if stale) and wrap one of an entry's cached JSON texts. */
static cJSON *
snap_json(struct proc *p, char **cache, uint64_t *cache_snaps, int arrays)
{
	cJSON *raw;

	if (!p->info.have_snap)
		return NULL;
	pthread_mutex_lock(&p->cache_lock);
	if (*cache == NULL || *cache_snaps != p->info.snaps) {
		cJSON *o = json_memstats_opt(&p->snap, NULL, arrays);

		free(*cache);
		*cache = json_print(o);
		*cache_snaps = p->info.snaps;
		cJSON_Delete(o);
	}
	raw = cJSON_CreateRaw(*cache);
	pthread_mutex_unlock(&p->cache_lock);
	if (raw == NULL)
		fatal("out of memory");
	return raw;
}

/*
 * The entry's snapshot as a raw cJSON node holding its rendered JSON (Go
 * fields plus the struct's extra fields), cached per snapshot; NULL if no
 * snapshot yet.  Read lock held.
 */
cJSON *
proc_snap_json_locked(const struct proc *cp)
{
	struct proc *p = (struct proc *)cp; /* only the cache changes */

	return snap_json(p, &p->json, &p->json_snaps, 1);
}

/* The same without the arrays (PauseNs, PauseEnd, BySize). */
cJSON *
proc_snap_json_compact_locked(const struct proc *cp)
{
	struct proc *p = (struct proc *)cp;

	return snap_json(p, &p->cjson, &p->cjson_snaps, 0);
}

/* Call fn for every entry (read-locked) until it returns nonzero. */
int
proc_foreach(int (*fn)(const struct proc *p, void *arg), void *arg)
{
	struct proc *p;
	int b, rc = 0;

	pthread_rwlock_rdlock(&tab.lock);
	for (b = 0; b < NBUCKETS && rc == 0; b++)
		for (p = tab.buckets[b]; p != NULL && rc == 0; p = p->next)
			rc = fn(p, arg);
	pthread_rwlock_unlock(&tab.lock);
	return rc;
}

/*
 * Copy a process's info and (if snap != NULL) latest snapshot.  Returns 0,
 * -1 if unknown, 1 if known without a snapshot yet.
 */
int
proc_copy(int pid, struct proc_info *info, struct gomem_memstats *snap)
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

/*
 * A copy of a process's rendered snapshot JSON (json_memstats without the
 * daemon's fields), cached per snapshot, and its info.  *rc as proc_copy();
 * NULL unless *rc == 0.
 */
char *
proc_snap_text(int pid, struct proc_info *info, int *rc)
{
	struct proc *p;
	char *text = NULL;
	cJSON *raw;

	*rc = -1;
	pthread_rwlock_rdlock(&tab.lock);
	if ((p = find_locked(pid)) != NULL) {
		proc_info_locked(p, info);
		*rc = 1;
		if ((raw = snap_json(p, &p->json, &p->json_snaps, 1)) != NULL) {
			text = raw->valuestring; /* take the copy cJSON made */
			raw->valuestring = NULL;
			cJSON_Delete(raw);
			*rc = 0;
		}
	}
	pthread_rwlock_unlock(&tab.lock);
	return text;
}

/* Copy up to max of a process's newest history points, oldest first. */
size_t
proc_copy_history(int pid, struct gomem_hist_point *out, size_t max)
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

/* Number of entries. */
size_t
proc_count(void)
{
	size_t n;

	pthread_rwlock_rdlock(&tab.lock);
	n = tab.count;
	pthread_rwlock_unlock(&tab.lock);
	return n;
}
