/*
 * profile.h: heap profiles of watched processes, pulled from the tables
 * libgomem keeps in each process (core/procprof.h), served as pprof.
 *
 * A thread of its own copies every watched process's table once per stats
 * interval (so the last copy before a SIGKILL is at most one interval old),
 * symbolises new addresses while the process still maps its files
 * (core/dwsym.h), and keeps a few older copies, spaced out, for deltas
 * (?seconds=N) and the leak view.  When a process ends, its last profile
 * and MemStats go to the state directory (core/statedir.h), which serves
 * them for the dead pid, after gomemd restarts too.
 *
 * One mutex (profile_lock in profile.c) guards the store; it is never held
 * while taking the process table's lock.  Reading a process
 * (process_vm_readv), symbolising and encoding happen outside it (readers
 * work on a copy; core/dwsym.c has its own locks).
 */
#ifndef GOMEMD_PROFILE_H
#define GOMEMD_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/obuf.h"
#include "core/statedir.h"

#define PROFILE_TOP_DEPTH 16 /* frames of a site's stack in profile_top() */

struct json;

/* One allocation site of profile_top(): values unsampled, as pprof shows them. */
struct profile_site {
	char *function; /* first frame outside the allocator and its wrappers */
	int64_t v[4];   /* alloc_objects, alloc_space, inuse_objects, inuse_space */
	char **stack;   /* the biggest bucket's frames, leaf first */
	size_t nstack;
};

struct profile_top {
	uint64_t rate, samples, live_samples, buckets;
	int64_t total[4]; /* as profile_site.v, over every bucket */
	struct profile_site *sites;
	size_t nsites;
};

struct profile_stats {
	uint64_t pulls, pull_errors;      /* table copies taken / failed */
	uint64_t samples, lost, truncated; /* over the processes' latest copies */
	uint64_t processes, buckets, saved, save_errors;
	uint64_t bytes;       /* every copy held, all processes */
	uint64_t dropped_cap; /* copies not kept: the cap over all processes was reached */
	/* Symbols (core/dwsym.h): objects known, loaded in libdw now, their bytes,
	 * loads and unloads (LRU). */
	uint64_t sym_objects, sym_loaded, sym_loaded_bytes, sym_loads, sym_evictions;
};

struct profile_config {
	int enabled;      /* pull profiles at all (--no-profile: 0) */
	unsigned interval_ms;
	const char *state_dir; /* NULL: nothing kept after exit */
	struct statedir_limits limits;
};

void profile_start(const struct profile_config *cfg);
void profile_fini(void);
/* A watched process ended: save it now rather than at the next pull. */
void profile_on_exit(int pid);
/* gomem:exit: the process is exiting and waits for its table (at addr) to be read. */
void profile_on_lib_exit(int pid, uint64_t addr);
/*
 * A process's exec was settled (watch_sweep): a new image with libgomem
 * (has_lib) starts a profile afresh; one without keeps the last copy,
 * which is saved when the entry ends.
 */
void profile_on_exec(int pid, int has_lib);
/* Once a second (watch_sweep): forget processes gone from the table. */
void profile_sweep(void);

/* pid is live with a profile, or has one in the state directory. */
int profile_known(int pid);
/* The gzipped pprof of pid (seconds > 0: the growth over about that long). */
int profile_pprof(int pid, unsigned seconds, char **out, size_t *outlen);
/* Every live process in one profile, samples labelled pid, comm, unit. */
int profile_pprof_all(unsigned seconds, char **out, size_t *outlen);
/* Go's debug=1 text form. */
int profile_text(int pid, struct obuf *b);
void profile_top(int pid, size_t want, struct profile_top *out);
void profile_top_free(struct profile_top *t);
/* Stacks by in-use growth over about `seconds` (0: since start) into j; -1 if unknown. */
int profile_leaks(int pid, unsigned seconds, size_t want, struct json *j);
void profile_stats(struct profile_stats *out);
/* The state directory's entries (for /processes); statedir_list's result. */
size_t profile_exited(struct statedir_entry **out);
/* A file of pid's most recent state-directory entry (statedir_load); -1 if none. */
int profile_ended_file(int pid, const char *name, size_t maxlen, void **buf, size_t *len,
		       struct statedir_entry *e);

#endif /* GOMEMD_PROFILE_H */
