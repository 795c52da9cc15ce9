/*
 * pprof.h: a hand-written encoder of pprof's profile.proto (varints and
 * length-delimited fields, no protobuf library) for heap profiles in Go's
 * layout (runtime/pprof/protomem.go): sample types alloc_objects/count,
 * alloc_space/bytes, inuse_objects/count, inuse_space/bytes; period type
 * space/bytes; period = the sampling rate; a numeric label "bytes" with the
 * block size.  Every location has a mapping; string_table[0] is "".
 *
 * Indexes in the input are 0-based; the encoder writes ids = index + 1.
 */
#ifndef GOMEMD_PPROF_H
#define GOMEMD_PPROF_H

#include <stddef.h>
#include <stdint.h>

#include "base/obuf.h"

struct pprof_mapping {
	uint64_t start, limit, offset;
	const char *file;
	const char *build_id; /* hex, "" if none */
	int has_functions;
};

struct pprof_location {
	uint64_t address;
	uint32_t mapping; /* index into mappings */
	int32_t function; /* index into functions, -1: unsymbolized */
};

struct pprof_sample {
	const uint32_t *locs; /* location indexes, leaf first */
	uint32_t nlocs;
	int64_t values[4]; /* alloc_objects, alloc_space, inuse_objects, inuse_space */
	int64_t bytes;	   /* label "bytes" (block size), 0: none */
};

struct pprof_heap {
	uint64_t period; /* sampling rate, bytes */
	int64_t time_nanos;
	const struct pprof_mapping *mappings;
	size_t nmappings;
	const struct pprof_location *locations;
	size_t nlocations;
	const char *const *functions; /* names */
	size_t nfunctions;
	const struct pprof_sample *samples;
	size_t nsamples;
};

/* Wire-level helpers (exposed for the unit test). */
void pb_varint(struct obuf *b, uint64_t v);
void pb_uint(struct obuf *b, unsigned field, uint64_t v); /* omitted when 0 */
void pb_bytes(struct obuf *b, unsigned field, const void *p, size_t n);

/* Encode h as an uncompressed profile.proto message into out; 0 on success. */
int pprof_encode_heap(const struct pprof_heap *h, struct obuf *out);
/* gzip (deflateInit2, windowBits 31); *out is malloc'd.  0 on success. */
int pprof_gzip(const void *in, size_t n, char **out, size_t *outlen);
/* Go's scaleHeapSample: unsample count objects of bytes total at rate. */
void pprof_scale(uint64_t count, uint64_t bytes, uint64_t rate, int64_t *count_out,
		 int64_t *bytes_out);

#endif /* GOMEMD_PPROF_H */
