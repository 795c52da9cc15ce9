/*
 * pprofpb.h: heap profiles in pprof's format, encoded with protobuf-c from
 * the upstream profile.proto (vendored in proto/ with its licence).  In
 * core/, not encode/: it reads core's procprof and dwsym.
 *
 * A builder takes the in-process tables of one or more processes
 * (procprof.h), each symbolised with its own dwsym.h (or not), and
 * writes one gzipped profile as Go's heap endpoint does: sample types
 * alloc_objects, alloc_space, inuse_objects, inuse_space, values unsampled
 * with Go's scaleHeapSample, period = the sampling rate, a numeric "bytes"
 * label with the block size, locations with their inlined frames, mappings
 * with build IDs, and drop_frames naming the allocator's wrappers (operator
 * new, strdup, ...) so pprof shows the code that called them.  Each process
 * may add labels to all of its samples (pid, comm, unit in a merged
 * profile).  With a base copy of the same process, values are the
 * difference (Go's ?seconds=N).  Lost and truncated samples go in comments.
 *
 * Not thread-safe: one builder per request.
 */
#ifndef GOMEMD_PPROFPB_H
#define GOMEMD_PPROFPB_H

#include <stddef.h>
#include <stdint.h>

struct procprof;
struct dwsym_proc;

struct pprof_label {
	const char *key;
	const char *str; /* NULL: a numeric label */
	int64_t num;
};

struct pprof_builder;

/* Frames pprof should drop, with everything they call (RE2, anchored). */
#define PPROF_DROP_FRAMES                                                                      \
	"operator new.*|operator delete.*|malloc|calloc|realloc|reallocarray|free|memalign|"      \
	"posix_memalign|aligned_alloc|valloc|pvalloc|__libc_(malloc|calloc|realloc|free|"          \
	"memalign|valloc|pvalloc)|strdup|__strdup|strndup|__strndup|gomem_.*|gm_.*"

struct pprof_builder *pprof_builder_new(void);

/*
 * Add the buckets of one process.  base, when not NULL, is an older copy of
 * the same process: each value becomes the growth since then.  sym may be
 * NULL (addresses only).  0, or -1 when a limit of the builder was hit.
 */
int pprof_builder_add(struct pprof_builder *b, const struct procprof *p,
		      const struct procprof *base, struct dwsym_proc *sym,
		      const struct pprof_label *labels, size_t nlabels);

/* The gzipped profile in a malloc'd buffer; 0 or -1. */
int pprof_builder_finish(struct pprof_builder *b, unsigned char **out, size_t *len);

void pprof_builder_free(struct pprof_builder *b);

/* fn is one of the allocator's entry points or wrappers (PPROF_DROP_FRAMES). */
int pprof_is_wrapper(const char *fn);

#endif /* GOMEMD_PPROFPB_H */
