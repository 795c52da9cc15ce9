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
 * The collector thread writes (profile_on_*); HTTP threads read.  One
 * mutex; never held while taking the process table's lock.
 */
#ifndef GOMEMD_PROFILE_H
#define GOMEMD_PROFILE_H

#include <stdint.h>

#include "obuf.h"

#define PROFILE_MAX_STACKS 16384  /* (stack, size) buckets per process */
#define PROFILE_MAX_LIVE   262144 /* live sampled blocks per process */
#define PROFILE_MAX_LOCS   65536  /* distinct PCs per process */
/* The same across all processes: 4 processes' worth (about 100 MiB at most). */
#define PROFILE_TOTAL_STACKS (4 * PROFILE_MAX_STACKS)
#define PROFILE_TOTAL_LIVE   (4 * PROFILE_MAX_LIVE)
#define PROFILE_TOTAL_LOCS   (4 * PROFILE_MAX_LOCS)

struct http_req;

void profile_on_alloc(int pid, uint64_t ptr, uint64_t size, uint64_t rate, const uint64_t *pcs,
		      unsigned depth);
void profile_on_free(int pid, uint64_t ptr, uint64_t size);
void profile_on_exit(int pid);
/* Once a second: drop profiles whose process is gone and out of the table. */
void profile_sweep(void);
void profile_fini(void);

/* GET /debug/pprof/heap?pid=N[&debug=1] */
int profile_http_heap(struct http_req *req);
/* GET /profile/top?pid=N[&n=20] */
int profile_http_top(struct http_req *req);
/* gomemd_profile_* self metrics in Prometheus text. */
void profile_prom(struct obuf *b);

#endif /* GOMEMD_PROFILE_H */
