/*
 * gomem_profile.h: the in-process heap profile of libgomem, as read from
 * outside.
 *
 * libgomem samples allocations at GOMEM_PROFILE_RATE whether or not anyone
 * watches, and keeps Go's memory-profile buckets: one per (stack, block size),
 * each counting the sampled allocations and the frees of those samples.  As
 * in Go, the counts are raw samples; a reader scales them by the rate
 * (Go's scaleHeapSample: an object of size s stands for 1 / (1 - exp(-s /
 * rate)) objects).  In-use = allocated - freed.
 *
 * The table is published through the symbol `gomem_profile` (in the dynamic
 * symbol table of libgomem.so) and as the third argument of the
 * gomem:memstats probe and the fourth of gomem:init, so a reader that did not
 * see the process start (gomemd after a restart) finds it with
 * process_vm_readv:
 *
 *   1. read struct gomem_profile; check magic, size and version; an odd gen
 *      means a writer is busy: retry;
 *   2. read chunk_used[i] bytes at chunk[i] for each i < nchunks: bucket
 *      records, packed, each 8-aligned, sizeof(struct
 *      gomem_profile_bucket) + 8 * depth bytes long;
 *   3. read gen again: if it changed, the copy may be torn: retry;
 *   4. (version 2) for leak ages, read live_cap entries at live: the live
 *      sampled blocks, each with its bucket record's address and its sample
 *      time.  The oldest time among a bucket's entries is the age of its
 *      oldest live sample.  This table changes without the seqlock and moves
 *      when it grows (the old one is unmapped): a reader takes it as it
 *      finds it, drops entries that name no record, and tries again later
 *      if the read fails.
 *
 * Records are only ever appended and never move; their counters only grow
 * (each a naturally aligned 8-byte word, so never torn by itself), and the
 * free counters sit before the alloc counters, so a front-to-back copy taken
 * while a writer runs still has freed <= allocated per bucket.  Everything
 * read is hostile input to the reader all the same: bound it.
 *
 * Plain C types only, like gomem_memstats.h.  New fields go at the end of a
 * struct and bump GOMEM_PROFILE_VERSION; size lets an old reader skip them.
 */
#ifndef GOMEM_PROFILE_H
#define GOMEM_PROFILE_H

#define GOMEM_PROFILE_VERSION	 2
#define GOMEM_PROFILE_MAGIC	 0x666f72706d656d67ULL /* "gmemprof" little-endian */
#define GOMEM_PROFILE_MAX_CHUNKS 256		       /* at most 256 MiB of records */
#define GOMEM_PROFILE_CHUNK_SIZE (1u << 20)	       /* bytes per chunk of records */
#define GOMEM_PROFILE_MAX_DEPTH	 64		       /* frames kept per stack */

/* bucket flags */
#define GOMEM_PROFILE_TRUNCATED 1u /* the stack was deeper than MAX_DEPTH */

/* One bucket: a stack and a block size, with its sample counts. */
struct gomem_profile_bucket {
	unsigned long long free_objects;  /* sampled objects freed */
	unsigned long long free_bytes;	  /* their bytes (block sizes) */
	unsigned long long alloc_objects; /* sampled objects allocated */
	unsigned long long alloc_bytes;	  /* their bytes */
	unsigned long long oldest_ns;	  /* version 1: CLOCK_REALTIME_COARSE of the oldest live
					     sample, 0: none; version 2: 0 (see live) */
	unsigned long long size;	  /* block size (size class or whole pages) */
	unsigned int depth;		  /* entries of pcs */
	unsigned int flags;		  /* GOMEM_PROFILE_* flags */
	unsigned long long pcs[];	  /* return addresses, innermost first; [0] is the
					     allocation site's caller of malloc */
};

/* A live sampled block, in the table at gomem_profile.live (version 2). */
struct gomem_profile_live {
	unsigned long long ptr;	    /* the block's address; 0 (or 1): no block */
	unsigned long long bucket;  /* its bucket record's address, bit 0 the writer's */
	unsigned long long time_ns; /* CLOCK_REALTIME_COARSE when it was sampled */
};

/* The table's header, at the address of the symbol gomem_profile. */
struct gomem_profile {
	unsigned int size;	       /* sizeof(struct gomem_profile) of the writer */
	unsigned int version;	       /* GOMEM_PROFILE_VERSION of the writer */
	unsigned long long magic;      /* GOMEM_PROFILE_MAGIC */
	unsigned long long gen;	       /* seqlock: odd while the table changes */
	unsigned long long rate;       /* GOMEM_PROFILE_RATE: mean bytes per sample; 0 = off */
	unsigned long long pid;	       /* getpid() of the writer (changes in a forked child) */
	unsigned long long start_ns;   /* CLOCK_REALTIME_COARSE when profiling started */
	unsigned long long samples;    /* sampled allocations recorded in buckets */
	unsigned long long lost;       /* sampled allocations not recorded (out of memory,
					  table full, allocation inside the profiler) */
	unsigned long long lost_frees; /* frees of samples that could not be recorded */
	unsigned long long truncated;  /* samples whose stack was cut at MAX_DEPTH */
	unsigned long long nbuckets;   /* records in the chunks */
	unsigned long long exit_ack;   /* a reader writes gen here after reading the final
					  table (see the gomem:exit probe) */
	unsigned int chunk_size;       /* GOMEM_PROFILE_CHUNK_SIZE */
	unsigned int nchunks;	       /* chunks in use */
	unsigned long long chunk[GOMEM_PROFILE_MAX_CHUNKS];	 /* address of chunk i */
	unsigned long long chunk_used[GOMEM_PROFILE_MAX_CHUNKS]; /* bytes of records in it */
	unsigned long long live;     /* address of the live samples' table (version 2); 0: none */
	unsigned long long live_cap; /* its entries (a power of two) */
	unsigned long long reserved[6];
};

#endif /* GOMEM_PROFILE_H */
