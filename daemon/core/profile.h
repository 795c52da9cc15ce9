/*
 * profile.h: heap profiles built from libgomem's allocation samples
 * (gomem:sample_alloc / gomem:sample_free), served as pprof.
 *
 * Per process: the live sampled blocks (ptr -> stack, size) and, per
 * (stack, block size) like Go's memprofile buckets, raw sample counts of
 * allocations and of blocks still in use.  Stacks are symbolized when first
 * seen (the process is alive then), so the profile of a process that just
 * exited still has names.  Values are unsampled when emitted (Go's
 * scaleHeapSample).  Memory is bounded per process (PROFILE_MAX_*); what
 * does not fit is counted and shown in /metrics.
 *
 * The collector thread writes (profile_on_*); HTTP threads read through
 * copies (profile_top, profile_pprof, ...).  One mutex; never held while
 * taking the process table's lock.
 */
#ifndef GOMEMD_PROFILE_H
#define GOMEMD_PROFILE_H

#include <stdint.h>

#include "base/obuf.h"

#define PROFILE_MAX_STACKS   16384  /* (stack, size) buckets per process */
#define PROFILE_MAX_LIVE     262144 /* live sampled blocks per process */
#define PROFILE_MAX_LOCS     65536  /* distinct PCs per process */
#define PROFILE_TOP_DEPTH    16	    /* frames of a site's stack in profile_top() */
/* The same across all processes: 4 processes' worth (about 100 MiB at most). */
#define PROFILE_TOTAL_STACKS (4 * PROFILE_MAX_STACKS)
#define PROFILE_TOTAL_LIVE   (4 * PROFILE_MAX_LIVE)
#define PROFILE_TOTAL_LOCS   (4 * PROFILE_MAX_LOCS)

/* One allocation site of profile_top(): values unsampled, as pprof shows them. */
struct profile_site {
	char *function; /* leaf function, or its PC in hex */
	int64_t v[4];	/* alloc_objects, alloc_space, inuse_objects, inuse_space */
	char **stack;	/* the biggest bucket's frames, leaf first */
	size_t nstack;
};

struct profile_top {
	uint64_t rate, samples, live_samples, buckets;
	int64_t total[4]; /* as profile_site.v, over every bucket */
	struct profile_site *sites;
	size_t nsites;
};

struct profile_stats {
	uint64_t samples, frees, frees_unknown;
	uint64_t dropped_stacks, dropped_live, dropped_locs;
	uint64_t dropped_total;	 /* refused by the caps across all processes */
	uint64_t bytes_estimate; /* memory the profiles hold, estimated */
	uint64_t processes, buckets, live_samples, symbol_files;
};

void profile_on_alloc(int pid, uint64_t ptr, uint64_t size, uint64_t rate, const uint64_t *pcs,
		      unsigned depth);
void profile_on_free(int pid, uint64_t ptr, uint64_t size);
void profile_on_exit(int pid);
/* Once a second: drop profiles whose process is gone and out of the table. */
void profile_sweep(void);
void profile_fini(void);

int profile_known(int pid);
int profile_pprof(int pid, char **out, size_t *outlen);
int profile_text(int pid, struct obuf *b);
void profile_top(int pid, size_t want, struct profile_top *out);
void profile_top_free(struct profile_top *t);
void profile_stats(struct profile_stats *out);

#endif /* GOMEMD_PROFILE_H */
