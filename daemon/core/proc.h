/*
 * proc.h: the process table (proc.c): per-process identity, the latest
 * MemStats snapshot, counters of the small probes and a history ring.
 *
 * Readers: proc_foreach() calls you for every process with the table
 * read-locked (do not block, do not call other proc_* functions that lock);
 * proc_find_locked() inside it; proc_copy() copies one process's info and
 * latest snapshot out; proc_copy_history() its history ring, oldest first.
 * proc_generation() moves with every snapshot or process change.
 * proc_subscribe() registers a callback run in the collector thread after
 * each snapshot, table write-locked (keep it short, never block).
 */
#ifndef GOMEMD_PROC_H
#define GOMEMD_PROC_H

#include <stddef.h>
#include <stdint.h>

#include "core/statedir.h"
#include "gomem_memstats.h"

struct gomem_hist_point {
#define GOMEM_HIST_FIELDS(X)                                                                       \
	X(TimeNs)                                                                                  \
	X(HeapAlloc) X(HeapInuse) X(HeapIdle) X(HeapReleased) X(Sys) X(RSS) X(Mallocs) X(Frees)
#define GOMEM_HIST_DECL_(n) uint64_t n;
	GOMEM_HIST_FIELDS(GOMEM_HIST_DECL_)
#undef GOMEM_HIST_DECL_
};

/* What proc_copy() hands out: everything about a process but the history. */
struct proc_info {
	int pid;
	char comm[16];
	char cmdline[1024]; /* arguments separated by NUL */
	size_t cmdline_len;
	uint64_t start_time_ns; /* wall clock, ns since the epoch */
	char library[256];	/* libgomem path it maps, "" if unknown */
	char version[32];	/* from gomem:init, "" if not seen */
	int have_snap;
	uint64_t snap_age_ns; /* now - time the snapshot arrived */
	uint64_t snaps;	      /* snapshots received */
	uint64_t rss_bytes;   /* /proc/PID/statm at the last snapshot */
	int exited;
	uint64_t exited_age_ns;
	struct proc_end end; /* how it ended, when exited */
	uint64_t execs;	     /* execve calls seen while watched */
	uint64_t scavenge_events, scavenge_bytes, scavenge_ns;
	uint64_t arena_grows, arena_bytes;
	int attached_pid; /* has its own per-pid attachment */
	char cgroup[256]; /* cgroup path (cgroup.c), "" if unknown */
	char unit[128];	  /* systemd unit from the cgroup, "" if none */
	uid_t uid;	  /* its real uid when first seen (procfs_real_uid) */
	int have_uid;
};

struct proc;
typedef void (*proc_hook_fn)(const struct proc *p, void *arg);

/* proc_on_snapshot() results. */
#define PROC_UNKNOWN 0 /* no live entry and create was 0: nothing done */
#define PROC_NEW     1 /* an entry was made */
#define PROC_UPDATED 2

void proc_init(unsigned history_len, unsigned history_interval_ms);
void proc_set_history_interval(unsigned ms);
void proc_fini(void);

/* Readers. */
void proc_rdlock(void);
void proc_unlock(void);
int proc_foreach(int (*fn)(const struct proc *p, void *arg), void *arg);
const struct proc *proc_find_locked(int pid);
void proc_info_locked(const struct proc *p, struct proc_info *out);
const struct gomem_memstats *proc_snap_locked(const struct proc *p);
int proc_copy(int pid, struct proc_info *info, struct gomem_memstats *snap);
size_t proc_copy_history(int pid, struct gomem_hist_point *out, size_t max);
size_t proc_history_cap(void);
/*
 * A process's history ring as bytes for the state directory (malloc'd,
 * NULL when it has none): a header naming the point's layout, then the
 * points, oldest first.  proc_history_unpack() reads it back: 0 with the
 * points in *pts (malloc'd), or -1 when it is not in this layout.
 */
void *proc_history_pack(int pid, size_t *len);
int proc_history_unpack(const void *buf, size_t len, struct gomem_hist_point **pts, size_t *n);
size_t proc_count(void);
uint64_t proc_generation(void);
int proc_subscribe(proc_hook_fn fn, void *arg);

/* Writers (the collector thread, and the handlers of POST/DELETE). */
int proc_on_snapshot(int pid, const char *comm, const struct gomem_memstats *snap, size_t len,
		     const char *version, int create, const char *library);
void proc_on_scavenge(int pid, uint64_t bytes, uint64_t ns);
void proc_on_arena_grow(int pid, uint64_t bytes);
/* The process ended; end NULL: it vanished from /proc, status unknown. */
void proc_on_exit(int pid, const struct proc_end *end);
/* The process called execve: its new name, the command line read again. */
void proc_on_exec(int pid, const char *comm);
/* Processes whose exec is older than min_age_ns and not yet settled; pids in *out. */
size_t proc_exec_pending(uint64_t min_age_ns, int **out);
/*
 * Settle an exec: the new image maps libgomem (has_lib: keep watching), or
 * not: the entry ends with How "exec", under the name and command line it
 * had before (the new name in end.exec_comm).
 */
void proc_exec_settle(int pid, int has_lib);
int proc_add(int pid, const char *library);
int proc_remove(int pid);
void proc_set_attached(int pid, int on);
size_t proc_sweep(unsigned grace_s, int **dropped);

#endif /* GOMEMD_PROC_H */
