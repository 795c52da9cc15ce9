/*
 * procprof.h: a copy of a process's in-process heap profile, read from
 * outside with process_vm_readv (the table of lib/gomem_profile.h).
 *
 * The watched process is hostile input: every count, depth and size read
 * from it is checked against the limits here before it sizes anything, a
 * torn copy (the seqlock generation moved) is retried a bounded number of
 * times, and nothing blocks on the process.  A copy that never came out
 * clean is still returned, marked inconsistent, with each bucket's counts
 * made sane (freed <= allocated).
 *
 * Thread-safe: no shared state; each call works on its own struct.
 */
#ifndef GOMEMD_PROCPROF_H
#define GOMEMD_PROCPROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gomem_profile.h"

/* Limits of one read; zero fields take the defaults below. */
struct procprof_limits {
	size_t max_bytes;     /* of bucket records (default 64 MiB) */
	size_t max_buckets;   /* default 1 Mi */
	unsigned max_tries;   /* reads until a clean copy (default 8) */
	unsigned retry_us;    /* pause between tries (default 200 us) */
};

#define PROCPROF_MAX_BYTES ((size_t)64 << 20)
#define PROCPROF_MAX_BUCKETS ((size_t)1 << 20)
#define PROCPROF_MAX_LIVE ((size_t)1 << 22) /* live-table entries read (96 MiB) */
#define PROCPROF_MAX_TRIES 8
#define PROCPROF_RETRY_US 200

/* One bucket of the copy: raw sample counts (scale with procprof_scale). */
struct procprof_bucket {
	uint64_t alloc_objects, alloc_bytes;
	uint64_t free_objects, free_bytes;
	uint64_t oldest_ns; /* CLOCK_REALTIME_COARSE of the oldest live sample; 0 none
			       (version 2: from the live table, when it could be read) */
	uint64_t size;      /* block size */
	unsigned depth;
	bool truncated;
	const uint64_t *pcs; /* depth return addresses, innermost first (into the copy) */
};

struct procprof {
	pid_t pid;
	uint64_t addr; /* of struct gomem_profile in the process */
	uint32_t version;
	uint64_t gen, rate, start_ns;
	uint64_t samples, lost, lost_frees, truncated;
	uint64_t read_ns;  /* CLOCK_REALTIME when the copy was taken */
	bool consistent;   /* gen was even and unchanged around the copy */
	unsigned tries;
	size_t nbuckets;
	struct procprof_bucket *buckets;
	void *raw;         /* the records as read */
	size_t rawlen;
};

/*
 * Where the table is in pid: the symbol gomem_profile in the dynamic (or
 * static) symbol table of a mapped object whose name has "gomem" in it,
 * else of the main executable, plus that object's load address.  0 on
 * success; -1 with a reason in err.
 */
int procprof_find(pid_t pid, uint64_t *addr, char *err, size_t errlen);

/* Copy pid's table at addr into *out (procprof_free it); 0 or -1 with err. */
int procprof_read(pid_t pid, uint64_t addr, const struct procprof_limits *lim,
		  struct procprof *out, char *err, size_t errlen);

void procprof_free(struct procprof *p);

/* A copy of src of its own (procprof_free it). */
void procprof_dup(const struct procprof *src, struct procprof *dst);

/*
 * The bucket of an older copy `then` of the same table that is bucket i of
 * `now`, or NULL (new since then, or `then` is of another table: the pid
 * was reused or exec'd).  Records never move, so it is then's bucket i.
 */
const struct procprof_bucket *procprof_then(const struct procprof *now,
					    const struct procprof *then, size_t i);

/* Tell a process waiting in its gomem:exit probe that its table was read. */
int procprof_ack_exit(pid_t pid, uint64_t addr);

/*
 * Go's scaleHeapSample: the objects and bytes count samples of avg-size
 * blocks stand for at rate bytes per sample.
 */
void procprof_scale(uint64_t count, uint64_t bytes, uint64_t rate, double *objects,
		    double *scaled_bytes);

#endif /* GOMEMD_PROCPROF_H */
