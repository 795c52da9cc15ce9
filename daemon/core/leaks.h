/*
 * leaks.h: the leak view: a process's stacks ranked by how much their
 * in-use heap grew over a window, with the age of their oldest live samples.
 *
 * Input is two copies of the same in-process table (core/procprof.h): the
 * window's start (`then`, NULL for "since the process started") and its end
 * (`now`).  Growth is in-use bytes and objects, unsampled as pprof does
 * (Go's scaleHeapSample); a stack whose in-use heap did not grow is not a
 * leak candidate.  Among equal growth the older oldest sample ranks first:
 * memory that stays is what leaks.  Exact figures for small leaks need
 * GOMEM_PROFILE_RATE=1 in the process (every allocation sampled).
 */
#ifndef GOMEMD_LEAKS_H
#define GOMEMD_LEAKS_H

#include <stddef.h>
#include <stdint.h>

struct procprof;

struct leak_site {
	size_t bucket;          /* index into now->buckets */
	double growth_bytes;    /* in-use bytes now minus then */
	double growth_objects;
	double inuse_bytes;     /* in use now */
	double inuse_objects;
	uint64_t oldest_ns;     /* CLOCK_REALTIME of the oldest live sample; 0 none */
};

/*
 * Up to max sites, largest growth first, into *out (malloc'd; free it).
 * Returns how many.
 */
size_t leaks_rank(const struct procprof *now, const struct procprof *then, size_t max,
		  struct leak_site **out);

#endif /* GOMEMD_LEAKS_H */
