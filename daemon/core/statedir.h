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
 *                                 how (exit, vanished), code
 *   DIR/PID-STARTNS/heap.pb.gz    the profile
 *   DIR/PID-STARTNS/memstats.json the snapshot
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

struct statedir_limits {
	size_t max_count;   /* entries kept (0: no limit) */
	uint64_t max_bytes; /* all entries' files together (0: no limit) */
	uint64_t max_age_s; /* since the process ended (0: no limit) */
};

struct statedir_entry {
	pid_t pid;
	uint64_t start_ns; /* when the process started (identifies its life) */
	uint64_t ended_ns; /* CLOCK_REALTIME when gomemd saw it end */
	char comm[64];
	char how[16]; /* "exit" (ran its exit handlers), "vanished" (killed: SIGKILL, the OOM
			 killer; or _exit), or what a caller knows better */
	int code;     /* exit status or signal number when known, else 0 */
	uint64_t bytes; /* size of its files (statedir_list) */
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
 * The file `name` ("heap.pb.gz" or "memstats.json") of pid's most recent
 * entry, at most maxlen bytes, in *buf (malloc'd).  0, or -1 (no entry, no
 * file, too big).  *e, when not NULL, gets the entry.
 */
int statedir_load(const char *dir, pid_t pid, const char *name, size_t maxlen, void **buf,
		  size_t *len, struct statedir_entry *e);

/* Drop entries beyond the limits, oldest first. */
void statedir_prune(const char *dir, const struct statedir_limits *lim, uint64_t now_ns);

#endif /* GOMEMD_STATEDIR_H */
