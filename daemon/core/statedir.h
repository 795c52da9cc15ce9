/*
 * statedir.h: what is left of a watched process after it ends.
 *
 * When a watched process exits, gomemd writes its last heap profile
 * (pprof, symbolised while the process still had its files mapped) and its
 * last MemStats (JSON) to the state directory (--state-dir, config
 * state_dir, default /var/lib/gomemd, the unit's StateDirectory=), one
 * directory per process life:
 *
 *   DIR/PID-STARTNS/info          "key value" lines: pid, start, ended, comm,
 *                                 how, code, and when known status (wait(2)),
 *                                 oom (0 or 1), exec_comm
 *   DIR/PID-STARTNS/heap.pb.gz    the profile
 *   DIR/PID-STARTNS/memstats.json the snapshot
 *   DIR/PID-STARTNS/cmdline       its arguments, NUL-separated (at most 1 KiB)
 *   DIR/PID-STARTNS/history.bin   its history ring (core/proc.h's packed form)
 *
 * so they are served for the dead pid, also after gomemd restarts, until
 * the count, size or age limits prune them.  Entries appear whole (written
 * under a temporary name, then renamed).  The directory is gomemd's own
 * (mode 0700); nothing in it is followed (O_NOFOLLOW), and every file read
 * back is bounded.  No state in memory: every call looks at the directory.
 */
#ifndef GOMEMD_STATEDIR_H
#define GOMEMD_STATEDIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STATEDIR_DEFAULT "/var/lib/gomemd"
#define STATEDIR_MAX_FILE ((size_t)64 << 20) /* any one file read back */
/* memstats.json is about 10 KB: anything much bigger is not ours */
#define STATEDIR_MEMSTATS_MAX ((size_t)1 << 20)

struct statedir_limits {
	size_t max_count;   /* entries kept (0: no limit) */
	uint64_t max_bytes; /* all entries' files together (0: no limit) */
	uint64_t max_age_s; /* since the process ended (0: no limit) */
};

/*
 * How a process ended, as far as gomemd knows.  how is "exited" (exit code
 * in code), "killed" (by the signal in code), "exec" (replaced its image by
 * one without libgomem; exec_comm names it) or "vanished" (gone from /proc,
 * status unknown); records of older versions say "exit" or "vanished".
 */
struct proc_end {
	char how[16];
	int code;	    /* exit code ("exited") or signal number ("killed"), else 0 */
	int have_status;    /* status is the kernel's */
	int status;	    /* wait(2) status: WIFEXITED, WTERMSIG, WCOREDUMP apply */
	int oom_known;	    /* the kernel told whether its OOM killer chose it */
	int oom_killed;	    /* it did (global or memory cgroup OOM) */
	char exec_comm[16]; /* "exec": the new image's name */
};

/* Fill e from a wait(2) status and the OOM flag (oom_known: the kernel could tell). */
void proc_end_set_status(struct proc_end *e, int status, int oom_known, int oom_killed);
/* Exit code when it exited (0-255), else -1 (as Go's ProcessState.ExitCode). */
int proc_end_exit_code(const struct proc_end *e);
/* The signal that killed it, else 0. */
int proc_end_signal(const struct proc_end *e);
/* Whether it dumped core. */
int proc_end_core_dumped(const struct proc_end *e);

struct statedir_entry {
	pid_t pid;
	uint64_t start_ns; /* when the process started (identifies its life) */
	uint64_t ended_ns; /* CLOCK_REALTIME when gomemd saw it end */
	char comm[64];
	struct proc_end end;
	const char *cmdline; /* statedir_save only: its arguments, NUL-separated */
	size_t cmdline_len;
	const void *history; /* statedir_save only: proc_history_pack() */
	size_t history_len;
	uint64_t bytes; /* size of its files (statedir_list) */
	uid_t uid;	/* its owner, if have_uid: the count limit is shared fairly */
	int have_uid;
};

/* Create dir (0700) if needed; refuse a symlink or a non-directory. */
int statedir_init(const char *dir, char *err, size_t errlen);

/* Save one ended process; heap or memstats may be NULL. */
int statedir_save(const char *dir, const struct statedir_entry *e, const void *heap,
		  size_t heaplen, const void *memstats, size_t memstatslen, char *err,
		  size_t errlen);

/* Every entry, most recently ended first, in *out (malloc'd); the count. */
size_t statedir_list(const char *dir, struct statedir_entry **out);

/*
 * The file `name` ("heap.pb.gz", "memstats.json", "cmdline", "history.bin") of pid's most recent
 * entry, at most maxlen bytes, in *buf (malloc'd).  0, or -1 (no entry, no
 * file, too big).  *e, when not NULL, gets the entry.
 */
int statedir_load(const char *dir, pid_t pid, const char *name, size_t maxlen, void **buf,
		  size_t *len, struct statedir_entry *e);

/* Drop entries beyond the limits, oldest first. */
void statedir_prune(const char *dir, const struct statedir_limits *lim, uint64_t now_ns);

#endif /* GOMEMD_STATEDIR_H */
