/*
 * gomem.h: public API of libgomem, a malloc built on the Go runtime's
 * allocator design.  The standard malloc family (malloc, free, calloc,
 * realloc, reallocarray, memalign, posix_memalign, aligned_alloc, valloc,
 * pvalloc, malloc_usable_size) is exported under its usual names; this
 * header adds what is specific to gomem.
 */
#ifndef GOMEM_H
#define GOMEM_H

#include <stddef.h>
#include <stdint.h>

#include "gomem_memstats.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GOMEM_VERSION_MAJOR  0
#define GOMEM_VERSION_MINOR  1
#define GOMEM_VERSION_PATCH  0
#define GOMEM_VERSION_STRING "0.1.0"

/* Version of the loaded library, "MAJOR.MINOR.PATCH". */
const char *gomem_version(void);

/*
 * Fill *m with a consistent snapshot of Go's runtime.MemStats as defined for
 * this allocator (see gomem(3)).  Every identity of Go's MemStats holds in
 * every snapshot.  Also fires the gomem:memstats USDT probe when traced.
 */
void gomem_read_memstats(struct gomem_memstats *m);

/* Return every idle heap page to the OS now, like Go's debug.FreeOSMemory. */
void gomem_free_os_memory(void);

/*
 * Set the soft memory limit in bytes and return the previous one, like Go's
 * debug.SetMemoryLimit: a negative value only queries; INT64_MAX (or 0) means
 * no limit.  The environment variable GOMEMLIMIT sets it at start.
 */
int64_t gomem_set_memory_limit(int64_t limit);

/* The current soft memory limit in bytes, INT64_MAX when none is set. */
int64_t gomem_memory_limit(void);

/*
 * Sample one allocation per rate bytes for the heap profile from now on and
 * return the previous rate, like setting Go's runtime.MemProfileRate: 0
 * stops sampling, a negative value only queries.  GOMEM_PROFILE_RATE sets
 * it at start (default 524288).  The profile scales every sample by the
 * current non-zero rate, so set it once, early, or switch only between 0
 * and one rate (how bench/allocrate measures the profile's cost).
 */
int64_t gomem_set_profile_rate(int64_t rate);

#ifdef __cplusplus
}
#endif

#endif /* GOMEM_H */
