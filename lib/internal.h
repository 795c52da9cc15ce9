/*
 * internal.h: the libgomem allocator, an overview and every internal type.
 *
 * libgomem is Go's runtime allocator (malloc.go, mheap.go, mcentral.go,
 * mcache.go, mgcscavenge.go) rebuilt in C for explicit free().  A reader of
 * Go's sources finds each file's twin here:
 *
 *   msize.c      the 67 size classes, the two lookup tables, divmagic
 *   mfixalloc.c  fixed-size allocator for metadata (mspan, mcache)
 *   mem_linux.c  OS memory states None/Reserved/Prepared/Ready; the only
 *                caller of mmap, munmap and madvise
 *   mheap.c      the page heap: 64 MiB arenas of 8 KiB pages, free runs
 *                with coalescing, the page -> span map, large objects
 *   mcentral.c   per span class: spans with free objects, batch transfer,
 *                free OS pages inside spans released (parked)
 *   mcache.c     per-thread cache: a free list per class, thread
 *                registry and thread exit
 *   malloc.c     the allocation and free paths, realloc, aligned
 *                allocation
 *   mstats.c     Go's MemStats, consistent snapshots
 *   scavenge.c   background scavenger: returns idle pages to the OS
 *   mprof.c      the heap profile: sampling (Go's MemProfileRate) and
 *                buckets kept in the process (gomem_profile.h)
 *   unwind.c     the profiler's stack walker: cached rows from .eh_frame
 *   env.c        GOMEMLIMIT, GOMEMDEBUG and friends, parsed without malloc
 *   cgroup.c     the soft memory limit follows the memory cgroup
 *   print.c      formatting and fatal errors without malloc
 *   init.c       process life: init, fork, probes' background work
 *   export.c     the malloc-family symbols (only in libgomem.so)
 *   export_setxid.c  setuid & co.: the scavenger steps aside (libgomem.so)
 *
 * Allocation (malloc.c):
 *   1. n <= 32 KiB: round up to a size class; pop the thread's free list for
 *      that class.  No lock, no atomic read-modify-write.  Every block is
 *      8-byte aligned, 16 from 16 B up (GCC assumes 8 of malloc whatever
 *      the size, glibc gives 16): 0..8 B take the 8 B class at 8-byte
 *      spacing (as jemalloc, tcmalloc and mimalloc do), 9..16 B the 16 B
 *      class, 17..24 B the 32 B class.  There is no tiny allocator: Go's
 *      packs objects of any size under 16 B into 16 B blocks, which the
 *      8-byte rule leaves only as two 8 B halves, i.e. the 8 B class
 *      without a class of its own (a first version of that cost 88
 *      instructions per malloc(8)+free pair; the class costs 64).
 *   2. The list is empty: take a batch of objects from mcentral (per-class
 *      lock; a producer takes up to 8 batches under it); mcentral hands
 *      over whole batches other lists gave back (its transfer cache), else
 *      takes them from spans with
 *      free objects, else gets a fresh span from mheap (heap lock); else
 *      mheap maps more of an arena or reserves a new one.
 *   3. n > 32 KiB: the thread's last freed large block if it has the
 *      same number of pages (up to 4 MiB, malloc.c's large cache), else a
 *      span of whole pages straight from mheap, which maps
 *      only its first and last page in the page -> span map (a free
 *      looks up its start; coalescing looks at neighbours' ends).
 *
 * Free (malloc.c, fast path in malloc_fast.h):
 *   page -> free's page table through the arena map (Go's single-level
 *   map on amd64, then the arena's table) gives the span's start and
 *   fastclass in one word, so free reads no span; the object
 *   start check is a multiply and a rotate; being the head of the
 *   thread's list for the class means a double free (free(p); free(p));
 *   free reads nothing of the object.  Any other double free is found by
 *   the malloc that would hand the object out a second time, or when the
 *   list goes back to mcentral (the link is the key, see malloc.c).  If another
 *   thread's cache owns the span (below), the object goes back to that
 *   span's thread-free list; else on the freeing thread's list for that
 *   class, whichever thread allocated it (no lock, no atomic).  A full list grows its cap if the thread also allocates from
 *   it in long bursts (mcache.c), else gives a batch back to mcentral,
 *   which keeps it whole for the next refill while its transfer cache has
 *   room, else puts its objects back on their spans and returns a span
 *   whose objects are all back to the heap, where free neighbours
 *   coalesce.  Large calloc zeroes the reused pages of a block (not those
 *   fresh or released to the OS, which read as zero) by memset or madvise,
 *   as the measured touch rate of such blocks says.
 *
 * Owned spans (mimalloc's pages with their thread-free lists, one span per
 * class and thread), against passive false sharing: a thread that frees
 * another's objects onto its own list hands them out next to objects the
 * first thread still writes.  So a cache owns the span it carves from
 * (classes up to GM_OWNSPANS_DEFAULT, below).
 *   - Take (gm_mcentral_alloc_batch with a cache, under mcentral.lock,
 *     when the cache's own span and the transfer cache are out): the first
 *     span off the partial list with enough free objects
 *     for a batch, or a fresh one; then s->xfree = GM_XFREE_OWNED,
 *     s->owner = mc and mc's owner code in free's page table.  Fragmented
 *     spans before it give their objects unowned.  While owned, the span's
 *     freelist and nfree are the owner's alone (no lock), and the
 *     span is on no list: never parked, swept or freed to the heap.
 *   - Free by the owner, or into a span nobody owns: the fast path as
 *     before.  Free's page table holds the owner's code in bits 47-63 (a
 *     user address has none set): 8 of 17 bits set, so no code is a subset
 *     of another; free ANDs the entry with the cache's notcode, which
 *     clears its own code, and any other code left makes the object start
 *     check fail (one instruction; see gm_free_fast).  Caches past the
 *     24310 codes share them: a thread whose code another's span bears
 *     frees into it as into a span nobody owns, which is today's way.
 *   - Free by another thread (gm_free_slow): push onto s->xfree, the link
 *     tagged (the double-free key), with a CAS loop (release) that needs
 *     GM_XFREE_OWNED in the word it replaces: no lock, no sleep.  Without
 *     the bit the span has no owner and the object joins the freeing
 *     thread's list.  owner is only read as a hint; the bit, in the same
 *     word as the list, decides, so no push lands on a span its owner gave
 *     up.  The freeing thread counts the free (Frees, HeapAlloc exact).
 *   - Refill (gm_span_take_own, no lock): when the thread-free list has
 *     objects, one exchange (acquire) takes it and leaves GM_XFREE_OWNED:
 *     its count (in the same word) says how many objects, so the list,
 *     whose links are tagged already, becomes the cache's list as it is,
 *     without a walk (malloc's pop checks each link, which finds an object
 *     pushed twice; with safelink, and past the list's cap, the walk
 *     checks and counts them onto the span); else the span's freelist
 *     (which a fresh span starts with all its objects on); only then the
 *     transfer cache, then another span.  A producer takes the transfer
 *     cache's batches before its span (gm_mcache_take).
 *   - Give up (gm_span_disown_locked, under mcentral.lock: when another
 *     span is taken, at thread exit, for dead threads' caches in a fork
 *     child): an exchange (acquire) to 0 takes the list and clears the bit
 *     in one step, the objects join the freelist, the code leaves free's
 *     page table, and the span goes on the partial list or, all free, to
 *     the heap.
 *   - mcentral's own frees (a batch from a full list, the transfer cache
 *     emptied; under the lock, where the bit cannot change): an owned
 *     span's object goes on its freelist if the caller owns it, else
 *     onto its xfree.
 *   ABA: pushes only add at the head, and an object being pushed is in use,
 *   so its span cannot be freed or reused meanwhile.  Double frees: the
 *   tagged links, checked when the owner collects the list (a cycle meets
 *   a taken object's 0, or a link a walk made plain), and the walk's bound.
 *   GOMEMDEBUG=ownspans=0 turns owning off.
 *
 * Lock order (taken in this order by gm_fork_prepare):
 *   stdio's list lock (glibc's) -> gm_snap_lock ->
 *   mcentral[0..GM_NUM_SPANCLASSES-1].lock -> gm_heap.lock
 *   -> gm_registry.lock -> gm_scav.lock -> gm_prof.lock
 * Nothing of ours calls stdio with a lock of ours held.
 * A function that expects a lock held ends in _locked.
 *
 * Glossary: "page" is our 8 KiB page; "OS page" is 4 KiB; a "span" is a run
 * of pages; a "span class" is a size class (1..67), 0 for large spans.
 */
#ifndef GM_INTERNAL_H
#define GM_INTERNAL_H

#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "gomem.h"
#include "gomem_profile.h"

/* Every declaration below is internal to the library (-fvisibility=hidden
 * covers definitions; this lets references skip the GOT too). */
#pragma GCC visibility push(hidden)

#define GM_API	       __attribute__((visibility("default")))
#define gm_likely(x)   __builtin_expect(!!(x), 1)
#define gm_unlikely(x) __builtin_expect(!!(x), 0)
#define gm_noinline    __attribute__((noinline))
#define gm_cold        __attribute__((cold, noinline))
/* The two hot entry points keep no frame: they make tail calls only. */
#define gm_hot	       __attribute__((hot, optimize("omit-frame-pointer", "no-tree-slsr")))
#define gm_inline      static inline __attribute__((always_inline))
/*
 * The fork handlers' child side: cold, so that GCC puts them in
 * .text.unlikely, which the linker gathers in one place.  A child's page
 * tables do not map the library's code; each page of it the handlers run
 * is a fault there (see "fork" in init.c).
 */
#define GM_FORK_CHILD  __attribute__((cold))

/* Fatal errors (print.c): the message, then the pointer in hex for the
 * second, on stderr without malloc; then abort. */
__attribute__((noreturn)) void gm_throw(const char *msg);
__attribute__((noreturn)) void gm_throw_ptr(const char *msg, const void *p);

/* ---- Constants (Go's values) ---- */

#define GM_PAGE_SHIFT  13
#define GM_PAGE_SIZE   ((size_t)1 << GM_PAGE_SHIFT) /* 8 KiB */
#define GM_NUM_CLASSES 68			    /* class 0 is the dummy */
#define GM_MAX_SMALL   32768
#define GM_SMALL_DIV   8
#define GM_SMALL_MAX   1024
#define GM_LARGE_DIV   128

#define GM_SPANCLASS_LARGE 0
#define GM_NUM_SPANCLASSES 68

#define GM_ARENA_SHIFT	    26 /* 64 MiB */
#define GM_ARENA_SIZE	    ((size_t)1 << GM_ARENA_SHIFT)
#define GM_ARENA_PAGES	    (GM_ARENA_SIZE / GM_PAGE_SIZE)
#define GM_ADDR_BITS	    47 /* x86-64 user space */
#define GM_ARENA_L2_ENTRIES ((size_t)1 << (GM_ADDR_BITS - GM_ARENA_SHIFT))
/* Where the heap starts: Go's first hint, plus one of GM_HINT_SLOTS arenas
 * (64 TiB, ending below where the kernel puts PIE programs, 0x55..., and mmap). */
#define GM_HINT_BASE	    ((uintptr_t)0x00c0 << 32)
#define GM_HINT_SLOTS	    ((uint64_t)1 << 20)
#define GM_HEAP_GROW	    ((size_t)4 << 20) /* mheap.grow rounds to 4 MiB */

#define GM_SCAV_QUANTUM ((size_t)64 << 10) /* scavengeQuantum */
#define GM_HUGE_PAGE	((size_t)2 << 20)

/* ---- Size classes (msize.c) ---- */

extern const uint32_t gm_class_size[GM_NUM_CLASSES];
extern const uint8_t gm_class_npages[GM_NUM_CLASSES];
extern uint8_t gm_size_to_class8[GM_SMALL_MAX / GM_SMALL_DIV + 1];
extern uint8_t gm_size_to_class128[(GM_MAX_SMALL - GM_SMALL_MAX) / GM_LARGE_DIV + 1];
extern uint64_t gm_class_inv[GM_NUM_CLASSES];
extern uint8_t gm_class_shift[GM_NUM_CLASSES];
extern uint16_t gm_class_nelems[GM_NUM_CLASSES];
/* Alignments 32 << k for k < GM_ALIGN_ROWS (32 B .. one 8 KiB page). */
#define GM_ALIGN_ROWS (GM_PAGE_SHIFT - 5 + 1)
extern uint8_t gm_class_aligned[GM_ALIGN_ROWS][GM_NUM_CLASSES];
/* Pages of a span of each class: Go's npages, times a whole number for
 * small classes, so their spans reach GM_SMALL_SPAN_PAGES (msize.c). */
#define GM_SMALL_SPAN_PAGES 1
extern uint8_t gm_class_spanpages[GM_NUM_CLASSES];

/*
 * What malloc's fast path looks up: cls[n] is the size class of a request
 * of n = 0..1016 bytes (the cache keeps its own copy, gm_mcache.small).
 */
typedef struct gm_small_tables {
	uint8_t cls[GM_SMALL_MAX - 8 + 1];
} gm_small_tables;

extern gm_small_tables gm_small;

/*
 * The double-free key is the link itself (malloc.c): a free object on a
 * thread's list, in a batch of the transfer cache or on a span's
 * thread-free list holds in its word 0 its link XORed with gm_link_tag,
 * whose top 16 bits are random, neither 0 nor all ones, and whose low 48
 * bits are 0.  An object's address is below 2^48, so a word that decodes
 * to a value with a top bit set is not such a link: the object left its
 * list already (malloc stores 0 there), or the program wrote into it.
 * A span's own free list (s->freelist) holds plain links.
 *
 * Set at init, then read by every malloc and free: alone on its cache line,
 * so that nothing written while the program runs shares it.
 * The heap profile's header did, and each sample cost every thread a miss
 * on its next malloc and free.
 */
#define GM_LINE 64 /* bytes in a cache line */
extern struct __attribute__((aligned(GM_LINE))) gm_link_tag_line {
	uintptr_t tag;
	char pad[GM_LINE - sizeof(uintptr_t)];
} gm_link_tag_line;
#define gm_link_tag (gm_link_tag_line.tag)
#define GM_LINK_TAG_SHIFT 48
/* The bits a decoded link must not have, ~0 << 48: a memory operand of one
 * test, where a constant would take a register and a move. */
extern const uintptr_t gm_link_hibits;

/* The tagged link to next (NULL too). */
gm_inline uintptr_t gm_link_enc(const void *next)
{
	return (uintptr_t)next ^ gm_link_tag;
}

/* Is n, a word XORed with the tag, a link (the next object, or NULL)? */
gm_inline bool gm_link_ok(uintptr_t n)
{
	return (n & gm_link_hibits) == 0;
}

/*
 * The next object after p, a free object leaving a list (a pop, a batch
 * going back to mcentral, a walk of a span's list): p's word 0 must be a
 * link XORed with tag, else p left a list already or was freed again while
 * on one (a double free), or the program wrote into it, and the process
 * ends naming p.
 */
gm_inline void *gm_link_decode(const void *p, uintptr_t tag)
{
	uintptr_t n = *(const uintptr_t *)p ^ tag;

	if (gm_unlikely(!gm_link_ok(n)))
		gm_throw_ptr("gomem: double free (or write after free) of", p);
	return (void *)n;
}

/* The next object after the free object p of a tagged list. */
gm_inline void *gm_link_take(const void *p)
{
	return gm_link_decode(p, gm_link_tag);
}

void gm_msize_init(void);

/* The size class for a small request 0 < n <= GM_MAX_SMALL. */
gm_inline unsigned gm_size_class(size_t n)
{
	if (n <= GM_SMALL_MAX - 8)
		return gm_size_to_class8[(n + GM_SMALL_DIV - 1) / GM_SMALL_DIV];
	return gm_size_to_class128[(n - GM_SMALL_MAX + GM_LARGE_DIV - 1) / GM_LARGE_DIV];
}

/* ---- OS memory (mem_linux.c) ---- */

/* Counters of the OS layer; protected by gm_heap.lock or atomic. */
void *gm_sys_alloc(size_t n, _Atomic uint64_t *stat);
void gm_sys_free(void *v, size_t n, _Atomic uint64_t *stat);
void *gm_sys_reserve(void *hint, size_t n);
int gm_sys_map(void *v, size_t n);
void gm_sys_unused(void *v, size_t n);

/*
 * Ranges to return to the OS together (gm_sys_unused of each): one
 * process_madvise(2) call for all of them where the kernel allows it, which
 * since Linux 6.16 also flushes the TLB once for all instead of once a range.
 * A multi-threaded process pays an IPI to every core it runs on per flush:
 * 60-190 us a madvise call on a 2-core VM, against 2-5 ms for 64 ranges.
 */
#define GM_UNUSED_BATCH 64
typedef struct gm_unused_batch {
	size_t n;
	struct iovec r[GM_UNUSED_BATCH];
} gm_unused_batch;
void gm_unused_add(gm_unused_batch *b, void *v, size_t n);
void gm_unused_flush(gm_unused_batch *b);
/* Set in the scavenger thread, the one thread that batches (the program's
 * own threads may run under sandboxes we cannot see: a madvise each). */
extern __thread bool gm_unused_batching;
void gm_sys_used(void *v, size_t n);
/*
 * Fresh pages for small-object spans are faulted in a window at a time
 * (gm_sys_populate, mheap.c): the span's own pages and those after it in
 * the same free run, up to GM_POPULATE_PAGES heap pages (64 KiB), when the
 * span's pages are all released to the OS (fresh, or scavenged).  The
 * pages ahead stay in the heap, idle and no longer released (HeapReleased
 * drops by them), for the next spans carved from the run; the scavenger
 * returns them if they stay idle.  Only for classes up to 4 KiB, whose
 * every OS page the span's fresh free list writes anyway.  No pages ahead
 * while HeapInuse is under GM_POPULATE_AHEAD_MIN: a short program's heap
 * (a shell command's 100-200 KiB) would leave up to 56 KiB of them unused.
 */
void gm_sys_populate(void *v, size_t n);
#define GM_POPULATE_PAGES     8
#define GM_POPULATE_AHEAD_MIN ((uint64_t)512 << 10)
bool gm_sys_zero(void *v, size_t n);
bool gm_sys_move(void *src, void *dst, size_t n);
size_t gm_sys_resident(void *v, size_t n, size_t *looked);
size_t gm_sys_resident_all(void *v, size_t n);
size_t gm_os_page_size(void);
/* Sleep while *w is v (woken by gm_sys_wake_word, or spuriously). */
void gm_sys_wait_word(uint32_t *w, uint32_t v);
void gm_sys_wake_word(uint32_t *w);

/* ---- Fixed-size allocator (mfixalloc.c) ---- */

typedef struct gm_fixalloc {
	size_t size;		/* object size */
	void *list;		/* free objects */
	uintptr_t chunk;	/* bump region */
	size_t nchunk;		/* bytes left in it */
	uint64_t inuse;		/* bytes handed out (MSpanInuse, ...) */
	_Atomic uint64_t *stat; /* where the OS bytes are counted (*Sys) */
} gm_fixalloc;

void gm_fixalloc_init(gm_fixalloc *f, size_t size, _Atomic uint64_t *stat);
void *gm_fixalloc_alloc(gm_fixalloc *f);
void gm_fixalloc_free(gm_fixalloc *f, void *p);

/* ---- Spans (mheap.c) ---- */

enum gm_span_state {
	GM_SPAN_DEAD = 0, /* struct on the fixalloc free list */
	GM_SPAN_FREE,	  /* free pages in the heap */
	GM_SPAN_LARGE,	  /* a large object */
	GM_SPAN_PARTIAL,  /* small objects; some free on the span (mcentral.partial) */
	GM_SPAN_EMPTY,	  /* small objects; none free on the span (all out in caches or use) */
	GM_SPAN_CACHED	  /* a freed large object kept by a thread (malloc.c, gm_lcache) */
};

/*
 * A span.  What free's slow paths read comes first: everything the free of
 * another block of a span with sampled blocks reads (gm_free_slow: start,
 * inv, nelems, owner, shift, spanclass, nsampled, sampkey) is in the first
 * 56 bytes, on one line or two, where owner after the mcentral fields had
 * made it two or three (cachegrind on larson: 18% fewer D1 read misses a
 * slow free).  Those fields are written only while the span changes hands
 * (under gm_heap.lock or mcentral.lock), and nsampled, sampkey and
 * fastclass under gm_prof.lock.  Free's fast path reads
 * no span: start and fastclass are also in free's page table
 * (gm_heaparena.fast).  Putting mcentral's fields on a line of their own
 * would cost 48 bytes a span (7 MiB more RSS after tests/lib/spike.sh's
 * 1 GiB spike) and bought nothing measurable in larson.
 */
typedef struct gm_mspan {
	/* Read by free's slow paths. */
	uintptr_t start; /* first byte of the first page, the first object */
	uint64_t inv;	 /* inverse of elemsize's odd part, mod 2^64 */
	uint64_t nelems; /* 64 bits: one compare with the object index */
	/* The cache that owns the span, NULL for none (see "Owned spans"
	 * above): written under mcentral.lock, read by any free as a hint. */
	struct gm_mcache *owner;
	/* spanclass while free's fast path may take the span's objects: an
	 * in-use small-object span with no sampled blocks; else 0, whose list
	 * has no room in any cache. */
	uint8_t fastclass;
	uint8_t shift; /* trailing zero bits of elemsize */
	uint8_t lazyzero; /* large: OS pages at the start (<= 64) calloc zeroed by madvise */
	/* large: the small span class of the one sampled block the span holds
	 * (mprof.c, "Sampled blocks"), 0 for a large object */
	uint8_t sampclass;
	uint32_t elemsize;
	uint8_t spanclass; /* 0 for large spans and free runs */
	/* The rest is mcentral's and the heap's. */
	uint8_t state;	   /* enum gm_span_state */
	uint8_t needzero;  /* large: pages may hold old data */
	uint8_t onlist;	   /* heap free lists: index + 1 of the list, 0 = none */
	uint16_t nsampled; /* sampled blocks in the span (gm_prof.lock) */
	uint16_t nfree;	   /* objects on freelist (mcentral.lock) */
	uint16_t nparked;  /* small: free objects on released OS pages (mcentral.lock) */
	/* keys of sampled blocks, 0 = none, GM_SAMPKEY_ANY (gm_prof.lock) */
	uint16_t sampkey[3];
	size_t npages;
	struct gm_mspan *next; /* mcentral partial or heap free list */
	struct gm_mspan *prev;
	void *freelist;	     /* free objects on the span (mcentral.lock) */
	uint64_t idle_since; /* free runs: when its pages (most of them) became idle */
	uint64_t parked;     /* small: bit i = OS page i of the span released (mcentral.lock) */
	/* Objects freed by threads other than the owner, linked through their
	 * first words (the head in bits 3-46), | GM_XFREE_OWNED while the span
	 * has an owner, and how many in bits 48-63 (atomic). */
	uintptr_t xfree;
} gm_mspan;

_Static_assert(offsetof(gm_mspan, sampkey) + sizeof(((gm_mspan *)0)->sampkey) <= 56 &&
		   offsetof(gm_mspan, owner) < 56 && sizeof(gm_mspan) == 112,
	       "free's slow path reads the first 56 bytes of a 112-byte span");

#define GM_XFREE_OWNED	   ((uintptr_t)1)
#define GM_XFREE_CNT_SHIFT 48
#define GM_XFREE_ONE	   ((uintptr_t)1 << GM_XFREE_CNT_SHIFT)

/* The head of the thread-free list in the word x, and its length. */
gm_inline void *gm_xfree_head(uintptr_t x)
{
	return (void *)(x & (((uintptr_t)1 << GM_ADDR_BITS) - 8));
}

gm_inline unsigned gm_xfree_count(uintptr_t x)
{
	return (unsigned)(x >> GM_XFREE_CNT_SHIFT);
}

/* Free's page table: the owner's code in bits 47-63 (gm_heaparena.fast). */
#define GM_FAST_CODE_SHIFT GM_ADDR_BITS
#define GM_FAST_CODE_MASK  (~(uintptr_t)0 << GM_FAST_CODE_SHIFT)

/* Is the in-use span s a large object's (not a sampled small block's)? */
gm_inline bool gm_span_large_object(const gm_mspan *s)
{
	return s->spanclass == GM_SPANCLASS_LARGE && s->sampclass == 0;
}

/* What fastclass should be for the in-use span s. */
gm_inline uint8_t gm_span_fastclass(const gm_mspan *s)
{
	return __atomic_load_n(&s->nsampled, __ATOMIC_RELAXED) == 0 ? s->spanclass : 0;
}

/*
 * The key of the block at p in span s: its offset in 8-byte words, plus 1.
 * Small-object spans are far smaller than 512 KiB and a large span holds
 * one block, so it names one block of its span and is never 0 or
 * GM_SAMPKEY_ANY.
 */
#define GM_SAMPKEY_ANY 0xffff
gm_inline uint16_t gm_span_sampkey(const gm_mspan *s, uintptr_t p)
{
	return (uint16_t)(((p - s->start) >> 3) + 1);
}

/*
 * One more (d = 1) or one fewer (d = -1) sampled block, the one at p, in the
 * in-use span s (gm_prof.lock).  sampkey holds the keys of the span's
 * sampled blocks, as long as they fit: a fourth sets sampkey[0] to
 * GM_SAMPKEY_ANY, which stays until the span has no samples.  A slot changes
 * only when its block is freed (or becomes ANY), so a reader without the
 * lock that finds neither a live sampled block's key nor ANY there knows
 * its block was not sampled (gm_prof_free).  A change of fastclass goes to
 * free's page table too.
 */
gm_inline void gm_span_publish(const gm_mspan *s, bool clear);
gm_inline void gm_span_sampled(gm_mspan *s, int d, uintptr_t p)
{
	uint16_t n = (uint16_t)(__atomic_load_n(&s->nsampled, __ATOMIC_RELAXED) + d);
	uint8_t f;
	uint16_t k = gm_span_sampkey(s, p), from = d > 0 ? 0 : k, to = d > 0 ? k : 0;
	unsigned i;

	if (n == 0) {
		for (i = 0; i < 3; i++)
			__atomic_store_n(&s->sampkey[i], 0, __ATOMIC_RELAXED);
	} else if (s->sampkey[0] != GM_SAMPKEY_ANY) {
		for (i = 0; i < 3 && s->sampkey[i] != from; i++)
			;
		if (i < 3)
			__atomic_store_n(&s->sampkey[i], to, __ATOMIC_RELAXED);
		else if (d > 0)
			__atomic_store_n(&s->sampkey[0], GM_SAMPKEY_ANY, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&s->nsampled, n, __ATOMIC_RELAXED);
	f = gm_span_fastclass(s);
	if (f != __atomic_load_n(&s->fastclass, __ATOMIC_RELAXED)) {
		__atomic_store_n(&s->fastclass, f, __ATOMIC_RELAXED);
		gm_span_publish(s, false);
	}
}

/*
 * May p, a block of the in-use span s that has sampled blocks, be one of
 * them?  No when no sampkey slot names it and the span has no more samples
 * than slots (the common case: a free of another block of the span, which
 * then needs no call into the profiler); gm_prof_free decides the rest.
 */
gm_inline bool gm_span_maybe_sampled(const gm_mspan *s, uintptr_t p)
{
	uint16_t k = gm_span_sampkey(s, p), k0 = __atomic_load_n(&s->sampkey[0], __ATOMIC_ACQUIRE);

	return k0 == GM_SAMPKEY_ANY || k0 == k ||
	       __atomic_load_n(&s->sampkey[1], __ATOMIC_RELAXED) == k ||
	       __atomic_load_n(&s->sampkey[2], __ATOMIC_RELAXED) == k;
}

/*
 * The index of the object at byte offset off of a span whose class has
 * inverse inv and shift k, or a number >= nelems if off does not start an
 * object (or is past the span): with elemsize = 2^k * m, m odd, off * inv
 * rotated right by k is off / elemsize when elemsize divides off, and above
 * 2^64 / elemsize otherwise.  A multiply and a rotate, no division.
 */
gm_inline uint64_t gm_obj_index(uint64_t off, uint64_t inv, unsigned k)
{
	uint64_t x = off * inv;

	return (x >> k) | (x << ((64 - k) & 63));
}

/*
 * A span's state is written under mcentral's lock (PARTIAL <-> EMPTY) or the
 * heap lock (the rest) and read without the first: relaxed atomic accesses.
 */
gm_inline unsigned gm_span_state(const gm_mspan *s)
{
	return __atomic_load_n(&s->state, __ATOMIC_RELAXED);
}

gm_inline void gm_span_set_state(gm_mspan *s, unsigned st)
{
	__atomic_store_n(&s->state, (uint8_t)st, __ATOMIC_RELEASE);
}

/*
 * A page's span in the arena map: the distance of the span from
 * gm_span_none (a span of no class: free's fast path finds no room for it
 * and leaves it to the slow path), 0 for none.  Free's fast path turns it
 * into a span with one add and no test (gm_span_of_fast).
 */
typedef struct gm_spanref {
	uintptr_t d;
} gm_spanref;

/* Per-arena metadata (Go's heapArena), charged to GCSys. */
typedef struct gm_heaparena {
	gm_spanref spans[GM_ARENA_PAGES];	 /* page -> span */
	/* Free's page table: for each page of an in-use small-object span,
	 * the span's start with its fastclass in the low byte (a page-aligned
	 * start leaves it free); 0 on every other page.  Free's fast path
	 * needs nothing else of the span (gm_free_fast), so it loads one
	 * word, not the span's line.  Written with the heap lock (a span
	 * taken or given back) or the profile lock (fastclass); read without. */
	uintptr_t fast[GM_ARENA_PAGES];
	uint64_t scavenged[GM_ARENA_PAGES / 64]; /* 1 = page released to the OS */
	uint64_t mapped[GM_ARENA_PAGES / 64];	 /* 1 = page in Prepared/Ready */
	uintptr_t base;
} gm_heaparena;

/*
 * Arena index -> its metadata (16 MiB of .bss, touched sparsely), stored as
 * the distance from gm_arena_none, whose span table is all NULL and never
 * written: 0 is no arena, and free's fast path looks up a page with an add
 * and no test (gm_span_of_fast).
 */
typedef struct gm_arena_map {
	/* One base register serves the three.  The two placeholders share
	 * their place: both are all zero and never written, and the span a
	 * page-map entry refers to is at that entry's value from there, so a
	 * lookup loads the entry and adds the base. */
	union {
		gm_heaparena none;
		gm_mspan span_none;
	};
	/* Per class, for free's object start check off the same base: the
	 * inverse of the odd part of the size, its trailing zero bits, the
	 * objects in a span (64 bits: one compare); class 0's 0 objects fail
	 * the check. */
	uint64_t cinv[GM_NUM_CLASSES];
	uint64_t cnelems[GM_NUM_CLASSES];
	uint8_t cshift[GM_NUM_CLASSES];
	uintptr_t idx[GM_ARENA_L2_ENTRIES]; /* distance from none, 0 = no arena */
} gm_arena_map;

extern gm_arena_map gm_amap;

/*
 * Free's shortcut to the first arena's page table: most heaps fit in one
 * arena, and there the entry is one load from the address, where the map
 * makes it two dependent loads (the arena's place, then its entry).  In a
 * loop of malloc and free that chain is the loop's: the next malloc's load
 * of the list head waits for free's store of it, whose address needs the
 * class (bench/README, "malloc(8)+free"; pair8 16% faster).  idx is the
 * first arena's index, 0 until there is one (no arena is at address 0),
 * with fast at gm_arena_none's zeros: free(NULL) and other addresses below
 * 64 MiB find an entry of 0 there, as through the map.  Set once, fast
 * before idx (release), under the heap lock; arenas are never given back.
 * A reader that sees the old idx and the new fast reads the first arena's
 * entry for an address below 64 MiB: its span start is far from that
 * address, so the object start check sends it the slow way.
 */
typedef struct gm_arena_first {
	uintptr_t idx;
	const uintptr_t *fast;
} gm_arena_first;

extern gm_arena_first gm_afirst;

#define gm_arenas     gm_amap.idx
#define gm_arena_none gm_amap.none
#define gm_span_none  gm_amap.span_none

/* The span r refers to, gm_span_none for none. */
gm_inline gm_mspan *gm_spanref_any(gm_spanref r)
{
	return (gm_mspan *)((uintptr_t)&gm_span_none + r.d);
}

/* The span r refers to, or NULL. */
gm_inline gm_mspan *gm_spanref_get(gm_spanref r)
{
	return r.d != 0 ? gm_spanref_any(r) : NULL;
}

gm_inline gm_spanref gm_spanref_of(const gm_mspan *s)
{
	gm_spanref r = {s != NULL ? (uintptr_t)s - (uintptr_t)&gm_span_none : 0};

	return r;
}

/* The metadata of index i's arena, gm_arena_none if there is none. */
gm_inline gm_heaparena *gm_arena_at(size_t i)
{
	return (gm_heaparena *)((uintptr_t)&gm_arena_none + gm_arenas[i]);
}

gm_inline gm_heaparena *gm_arena_of(uintptr_t p)
{
	size_t i = (p >> GM_ARENA_SHIFT) & (GM_ARENA_L2_ENTRIES - 1);

	return gm_arenas[i] != 0 ? gm_arena_at(i) : NULL;
}

/*
 * Set the bits in mask of free's page table entries (gm_heaparena.fast) of
 * the small-object span s to v's, keeping the others: a CAS loop, for the
 * start and fastclass (heap or profile lock) and the owner's code
 * (mcentral's lock) change under different locks.
 */
gm_inline void gm_span_fast_set(const gm_mspan *s, uintptr_t mask, uintptr_t v)
{
	for (size_t i = 0; i < s->npages; i++) {
		uintptr_t a = s->start + (i << GM_PAGE_SHIFT);
		gm_heaparena *ha = gm_arena_at((a >> GM_ARENA_SHIFT) & (GM_ARENA_L2_ENTRIES - 1));
		uintptr_t *e = &ha->fast[(a >> GM_PAGE_SHIFT) & (GM_ARENA_PAGES - 1)];
		uintptr_t old = __atomic_load_n(e, __ATOMIC_RELAXED);

		while (!__atomic_compare_exchange_n(e, &old, (old & ~mask) | (v & mask), true,
						    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			;
	}
}

/*
 * Write free's page table for the small-object span s: its start and
 * fastclass on each of its pages (its owner's code stays), or 0 when clear
 * (the span goes back to the heap, owned by nobody).
 */
gm_inline void gm_span_publish(const gm_mspan *s, bool clear)
{
	if (clear)
		gm_span_fast_set(s, ~(uintptr_t)0, 0);
	else
		gm_span_fast_set(s, ~GM_FAST_CODE_MASK,
				 s->start | __atomic_load_n(&s->fastclass, __ATOMIC_RELAXED));
}

/* The span that owns p, or NULL if p is not in the heap. */
gm_inline gm_mspan *gm_span_of(uintptr_t p)
{
	gm_heaparena *ha;

	if (gm_unlikely(p >> GM_ADDR_BITS))
		return NULL;
	ha = gm_arena_of(p);
	if (gm_unlikely(ha == NULL))
		return NULL;
	return gm_spanref_get(ha->spans[(p >> GM_PAGE_SHIFT) & (GM_ARENA_PAGES - 1)]);
}

#define GM_FREE_LISTS 128

/*
 * A lock for short critical sections (each size class's, the page heap's,
 * the profile's): one word, taken by a compare-and-swap and given back by an
 * exchange, so its owner touches only the line the word sits on, and no call
 * into libc (a pthread mutex's lock and unlock were 110 instructions and a
 * GOT line per call); a thread that finds it held spins up to about 60 us
 * (gm_lock_wait says why so long), then sleeps on a futex.  The word is 0
 * when free, else the owner's token (gm_lock_token) with GM_LOCK_SLEEPERS
 * set once a thread sleeps on it.  The owner in the word itself tells the
 * fork handlers exactly which locks the forking thread holds (fork from a
 * signal handler that interrupted malloc: glibc allows it, and its
 * tst-mallocfork2 tests it), with no window between taking the lock and
 * saying so.  The fork handlers take and reset it.
 */
typedef struct gm_lock {
	uint32_t v;
} gm_lock;

#define GM_LOCK_SLEEPERS 0x80000000u

extern __thread uint32_t gm_tls_lock_token;
uint32_t gm_lock_token_slow(void);
void gm_lock_wait(gm_lock *l, uint32_t me);
void gm_lock_wake(gm_lock *l);

/* This thread's token: nonzero, below GM_LOCK_FORK, not reused by another
 * thread for 2^31 threads (a counter, taken on the thread's first lock). */
gm_inline uint32_t gm_lock_token(void)
{
	uint32_t t = gm_tls_lock_token;

	return gm_likely(t != 0) ? t : gm_lock_token_slow();
}

/* The token the fork handlers take locks with: no thread's, so that a
 * lock held across fork is not "mine" to the forking thread. */
#define GM_LOCK_FORK (GM_LOCK_SLEEPERS - 1)

gm_inline void gm_lock_acquire_as(gm_lock *l, uint32_t me)
{
	uint32_t z = 0;

	if (gm_unlikely(!__atomic_compare_exchange_n(&l->v, &z, me, false, __ATOMIC_ACQUIRE,
						     __ATOMIC_RELAXED)))
		gm_lock_wait(l, me);
}

gm_inline void gm_lock_acquire(gm_lock *l)
{
	gm_lock_acquire_as(l, gm_lock_token());
}

gm_inline void gm_lock_release(gm_lock *l)
{
	if (gm_unlikely(__atomic_exchange_n(&l->v, 0, __ATOMIC_RELEASE) & GM_LOCK_SLEEPERS))
		gm_lock_wake(l);
}

/* Whether this thread holds l (the fork handlers). */
gm_inline bool gm_lock_mine(const gm_lock *l)
{
	return (__atomic_load_n(&l->v, __ATOMIC_RELAXED) & ~GM_LOCK_SLEEPERS) == gm_lock_token();
}

/*
 * Free again, in a forked child whose parent's fork handler held it.  A
 * lock that is free already is not written: the store would copy its page
 * (see "fork" in init.c).
 */
gm_inline void gm_lock_reset(gm_lock *l)
{
	if (l->v != 0)
		l->v = 0;
}

/* x = 0 in a forked child, as gm_lock_reset: unwritten if 0 already (an
 * _Atomic x is read and written atomically). */
#define gm_fork_clear(x)                                                                           \
	do {                                                                                       \
		if ((x) != 0)                                                                      \
			(x) = 0;                                                                   \
	} while (0)

/*
 * The allocator's pthread mutexes this thread holds, innermost last: the
 * same question as gm_lock_mine for the few pthread mutexes (registry,
 * snapshot, scavenger).  Recorded just after the mutex is taken and dropped
 * just before it is given back, so a record always means held; a signal in
 * the few instructions between is the window left (none of them is taken
 * by malloc or free).  Nesting is at most 3 deep; a fourth goes unrecorded.
 */
#define GM_HELD_MAX 4
typedef struct gm_held {
	unsigned n;
	const void *lock[GM_HELD_MAX];
	/* A mutex being taken or given back: held or not, a signal handler
	 * cannot tell (gm_thread_inside). */
	const void *changing;
} gm_held;

extern __thread gm_held gm_tls_held;

gm_inline void gm_held_push(const void *l)
{
	if (gm_tls_held.n < GM_HELD_MAX)
		gm_tls_held.lock[gm_tls_held.n++] = l;
	/* A signal handler on this thread reads the record. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

gm_inline void gm_held_pop(const void *l)
{
	unsigned i = gm_tls_held.n;

	while (i-- > 0)
		if (gm_tls_held.lock[i] == l) {
			gm_tls_held.lock[i] = gm_tls_held.lock[--gm_tls_held.n];
			break;
		}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

gm_inline bool gm_mutex_mine(const pthread_mutex_t *m)
{
	unsigned i;

	for (i = 0; i < gm_tls_held.n; i++)
		if (gm_tls_held.lock[i] == m)
			return true;
	return false;
}

/* The allocator's pthread mutexes, with the record. */
gm_inline void gm_mutex_lock(pthread_mutex_t *m)
{
	const void *was = gm_tls_held.changing; /* a handler nests in our own */

	gm_tls_held.changing = m;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pthread_mutex_lock(m);
	gm_held_push(m);
	gm_tls_held.changing = was;
}

gm_inline void gm_mutex_unlock(pthread_mutex_t *m)
{
	const void *was = gm_tls_held.changing;

	gm_tls_held.changing = m;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	gm_held_pop(m);
	pthread_mutex_unlock(m);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	gm_tls_held.changing = was;
}

/* Whether this thread holds (or is taking, or giving back) a lock of the
 * allocator's: a signal handler that interrupted it there must not wait
 * for another thread of ours.  (No handler runs while it has scavenger
 * work in flight: mheap.c blocks signals then.) */
bool gm_thread_inside(void);

/*
 * A default mutex made new again, in a forked child.  One that is in its
 * initial state already (glibc's unlocked default mutex is) is not
 * written, as gm_lock_reset; and neither the C library (memcmp) nor a
 * constant is read: each would be one more page to map in the child.
 */
gm_inline void gm_mutex_reset(pthread_mutex_t *m)
{
	const pthread_mutex_t init = PTHREAD_MUTEX_INITIALIZER;
	const volatile unsigned char *a = (const volatile unsigned char *)m;
	const unsigned char *b = (const unsigned char *)&init;
	size_t i;

	for (i = 0; i < sizeof(init); i++)
		if (a[i] != b[i]) {
			*m = init;
			return;
		}
}

typedef struct gm_mheap {
	gm_lock lock;
	/* Free runs: free[n] for n pages (1..127), free[0] for >= 128 pages. */
	gm_mspan *free[GM_FREE_LISTS];
	uint64_t freemask[GM_FREE_LISTS / 64];
	/* Reserved but not yet mapped address space (Go's curArena). */
	uintptr_t cur_base, cur_end;
	uintptr_t arena_hint;
	uint64_t narenas;
	/* Gauges in bytes, protected by lock (atomic for lock-free readers). */
	_Atomic uint64_t inuse;	   /* pages of in-use spans */
	_Atomic uint64_t idle;	   /* free pages, resident or not (HeapIdle) */
	_Atomic uint64_t released; /* free pages returned to the OS (HeapReleased) */
	/* OS pages inside in-use spans returned to the OS (mcentral.c parks
	 * them); part of inuse, not of released. */
	_Atomic uint64_t inuse_released;
	/* Peak of in-use bytes in the current and previous scavenger windows. */
	uint64_t peak_cur, peak_prev;
	/* Bytes of released pages that allocations took back, cumulative. */
	uint64_t reused;
	/* Retained on top of the goal for a program that keeps taking back
	 * what the scavenger releases (scavenge.c, gm_scav_rotate). */
	uint64_t hold;
	/* Large objects, cumulative: atomic, as a thread's large cache
	 * (malloc.c) counts without the lock.  Frees are read first. */
	_Atomic uint64_t large_alloc, large_alloc_count, large_free, large_free_count;
	/* Metadata. */
	gm_fixalloc spanalloc;
	gm_fixalloc cachealloc;
	/* The soft memory limit in bytes (0 = none), written under lock, read
	 * without it by the allocation path; where it came from
	 * (GOMEM_LIMIT_*) and the cgroup's own limit (0 = none), under lock. */
	_Atomic uint64_t limit;
	unsigned limit_source;
	uint64_t cgroup_limit;
	/* Scavenger batches in flight: their runs are off the free lists while
	 * madvise runs without the lock (gm_mheap_scavenge).  How many, and
	 * how many threads wait for one to end, under lock; scav_gen moves as
	 * each ends, and waiters sleep on it (a forced release, fork).  While
	 * scav_fork is set (a fork waits for them) no batch starts.  scav_done
	 * counts the bytes batches released, cumulative. */
	uint32_t scav_busy, scav_waiters;
	uint32_t scav_gen;
	bool scav_fork;
	uint64_t scav_done;
} gm_mheap;

extern gm_mheap gm_heap;

/* Count one large object of bytes: bytes and count are gm_heap's
 * large_alloc* or large_free* (release: a reader takes frees first). */
gm_inline void gm_count_large(_Atomic uint64_t *bytes, _Atomic uint64_t *count, uint64_t b)
{
	atomic_fetch_add_explicit(bytes, b, memory_order_release);
	atomic_fetch_add_explicit(count, 1, memory_order_release);
}

/* OS-level byte counters (the *Sys fields). */
extern _Atomic uint64_t gm_stat_heap_sys;
extern _Atomic uint64_t gm_stat_mspan_sys;
extern _Atomic uint64_t gm_stat_mcache_sys;
extern _Atomic uint64_t gm_stat_gc_sys;
extern _Atomic uint64_t gm_stat_other_sys;
extern _Atomic uint64_t gm_stat_buckhash_sys;

/* Heap memory that is resident or may be: HeapSys - HeapReleased - HeapInuseReleased. */
gm_inline uint64_t gm_heap_retained(void)
{
	return atomic_load_explicit(&gm_stat_heap_sys, memory_order_relaxed) -
	       atomic_load_explicit(&gm_heap.released, memory_order_relaxed) -
	       atomic_load_explicit(&gm_heap.inuse_released, memory_order_relaxed);
}

void gm_mheap_init(uint64_t rnd);
gm_mspan *gm_mheap_alloc(size_t npages, uint8_t spanclass, size_t align_pages);

/*
 * The pages of a new large span that may hold old data (the others were
 * fresh or released to the OS, so they read as zero): up to GM_DIRTY_MAX
 * runs of page indexes, the last one widened to cover any more.
 */
#define GM_DIRTY_MAX 8
typedef struct gm_dirty {
	unsigned n;
	struct {
		size_t first, npages;
	} run[GM_DIRTY_MAX];
} gm_dirty;

/* A large span, as gm_mheap_alloc, with the runs calloc must zero in *d. */
gm_mspan *gm_mheap_alloc_dirty(size_t npages, size_t align_pages, gm_dirty *d);
/* A large span for one sampled block of small class c (mprof.c). */
gm_mspan *gm_mheap_alloc_sampled(unsigned c);
void gm_mheap_free(gm_mspan *s);
void gm_mheap_free_moved(gm_mspan *s);
void gm_mheap_free_cached(gm_mspan *s);
void gm_mheap_free_locked(gm_mspan *s);
bool gm_mheap_try_resize(gm_mspan *s, size_t npages);
size_t gm_mheap_scavenge(size_t want, bool force);
void gm_mheap_fork_settle(void);
void gm_mheap_fork_child(bool mine);
int gm_mheap_check(char *why, size_t whylen);

/* ---- mcentral (mcentral.c) ---- */

/*
 * The transfer cache (tcmalloc's): whole batches a thread cache gave back,
 * each a tagged list (malloc.c) of exactly gm_class_batch objects, kept as
 * they came, up to tcmax of them, so the next refill of the class takes one
 * in O(1) instead of object by object from spans.  Bounded per class by
 * GM_TC_OBJS objects and GM_TC_BYTES bytes (its objects keep their spans in
 * use).  That bound is for a flow: a consumer that frees a burst while its
 * producer waits (xmalloc-test's 4096-object batches of 64 B went a third
 * faster with 1 MiB than with 128 KiB, since what overflows goes on the
 * spans object by object, under the lock, and comes off them the same way;
 * with 8 MiB instead of 1, the producers of 2026-12-04 found the cache
 * full less often and the test took a tenth less time again, while gmbench's
 * frag peaked 2-3% higher, bench/README.md).
 * A class no refill took from for a second keeps at most tcbase batches
 * (GM_TC_IDLE_OBJS, GM_TC_IDLE_BYTES; the scavenger's gm_mcentral_trim_idle),
 * and the scavenger empties every one after a spike or under memory
 * pressure, before it releases free pages (gm_mcentral_drain_all).  An
 * exiting thread's batches stay there for the next thread.
 */
#define GM_TC_SLOTS 4096
/* Most whole batches a thread cache takes or gives back under one lock
 * (mcache.c): a thread that allocates a class that others free would
 * otherwise take the class lock for every batch. */
#define GM_TC_MULTI	 8
/* The most objects in a batch (gm_class_batch, mcentral.c): for objects of
 * a cache line (GM_LINE bytes) or more; half that for smaller ones. */
#define GM_BATCH_MAX	 64
/* Objects up to this size (batches of 32 or 64) have their producer's cap
 * grow for that (mcache.c); the larger ones' batches of 2 to 16 hold as
 * many bytes, so the lock costs as little per byte without it. */
#define GM_TC_MULTI_MAX 1024u
#define GM_TC_OBJS	 262144u
#define GM_TC_BYTES	 ((uint64_t)8 << 20)
#define GM_TC_IDLE_OBJS	 4096u
#define GM_TC_IDLE_BYTES ((uint64_t)128 << 10)
#define GM_TC_IDLE_NS	 1000000000u

typedef struct gm_mcentral {
	gm_lock lock;
	uint8_t spanclass;
	uint16_t ntc;	       /* batches in its transfer cache (lock) */
	uint16_t tcmax;	       /* at most this many (set at init) */
	gm_mspan *partial;     /* spans with free objects on their freelist */
	uint16_t tcbase;       /* at most this many when idle (set at init) */
	uint8_t tctaken;       /* a refill took from it since the last trim (lock) */
	/* The transfer cache's batches are gm_central_tc[spanclass] (lock):
	 * apart, so the locks and counts fit in 68 lines that set-up touches
	 * (the whole, 74 KiB, was 17 page faults at every process start). */
} __attribute__((aligned(64))) gm_mcentral;

extern gm_mcentral gm_central[GM_NUM_SPANCLASSES];
_Static_assert(sizeof(gm_mcentral) == 64, "an mcentral is one line");

extern uint16_t gm_class_batch[GM_NUM_SPANCLASSES];

void gm_mcentral_init(void);
unsigned gm_mcentral_alloc_batch(uint8_t spanclass, unsigned want, void **head, bool *whole);
void gm_mcentral_free_batch(uint8_t spanclass, void *head, unsigned n);
void gm_mcentral_free_batches(uint8_t spanclass, void **heads, void **tails, unsigned k,
			      unsigned n);
struct gm_mcache;
unsigned gm_mcentral_refill(uint8_t spanclass, struct gm_mcache *mc, unsigned want, unsigned most,
			    void **head, bool *whole);
unsigned gm_span_take_own(gm_mspan *s, unsigned want, unsigned max, void **head, bool *keyed);
void gm_mcentral_disown(gm_mspan *s);
void gm_span_recount_own(gm_mspan *s);
bool gm_span_xfree_push(gm_mspan *s, void *p);
void gm_mcentral_drain(unsigned spanclass);
void gm_mcentral_drain_all(void);
void gm_mcentral_trim_idle(void);
void gm_mcentral_scavenge_class(unsigned spanclass, size_t *released);
size_t gm_mcentral_scavenge_all(void);

/* ---- mcache (mcache.c) ---- */

/* Per-thread statistics, written only by the owner (relaxed stores). */
typedef struct gm_tstats {
	uint64_t nmalloc[GM_NUM_SPANCLASSES];
	uint64_t nfree[GM_NUM_SPANCLASSES];
} gm_tstats;

/* Bounds of a list's adaptive cap (see mcache.c): per list, per thread
 * (bytes above the base caps of 2 batches), over all threads. */
#define GM_CACHE_LIST_OBJS    4096u
#define GM_CACHE_LIST_BYTES   ((uint64_t)256 << 10)
#define GM_CACHE_THREAD_BYTES ((uint64_t)2 << 20)
#define GM_CACHE_TOTAL_BYTES  ((uint64_t)32 << 20)

#define GM_PROF_LAST 32 /* gm_mcache.prof_last */

typedef struct gm_mcache {
	void *free[GM_NUM_SPANCLASSES]; /* local free lists, objects of any span */
	/* Room left on each list: max minus its length.  At 0 a free gives
	 * a batch back to mcentral first (the empty cache has none). */
	uint64_t room[GM_NUM_SPANCLASSES]; /* 64 bits: indexed like free[] */
	uint32_t max[GM_NUM_SPANCLASSES];
	/* The adaptive cap (mcache.c, gm_mcache_overflow): refilled[c] is set
	 * when list c ran empty; overages[c] counts overflows with no malloc
	 * of the class between them (mark[c]: nmalloc[c] at the last one);
	 * grown is the bytes of cap above the base caps.  Slow paths only. */
	uint8_t refilled[GM_NUM_SPANCLASSES];
	uint8_t overages[GM_NUM_SPANCLASSES];
	uint32_t mark[GM_NUM_SPANCLASSES];
	uint64_t grown;
	/* The last large block the thread freed (malloc.c, gm_lcache): set
	 * by the owner, taken by the owner or the scavenger (exchange). */
	struct gm_mspan *lcache;
	size_t lcache_want; /* pages of the thread's last large malloc (owner only) */
	/* Pages of the span the owner last put in lcache (owner only): the
	 * scavenger may take that span and the heap coalesce it, so the owner
	 * does not read its fields before it has it back. */
	size_t lcache_npages;
	int64_t next_sample; /* bytes until the next profiling sample */
	/* Owned spans (see the overview): the span the cache carves from, per
	 * class (NULL: none); the complement of its code in free's page table
	 * (GM_FAST_CODE_MASK bits), which free ANDs with an entry.  The empty
	 * cache's notcode is 0: every entry reads as class 0, no room. */
	struct gm_mspan *own[GM_NUM_SPANCLASSES];
	uintptr_t notcode;
	uint64_t rng;
	uint64_t prof_lastgen; /* mprof.c, see prof_last */
	gm_tstats stats;
	/* GOMEMDEBUG=safelink=1: the lists, with masked links (malloc.c); then
	 * free[] stays empty and room[] 0, so both fast paths defer. */
	void *sfree[GM_NUM_SPANCLASSES];
	uint64_t sroom[GM_NUM_SPANCLASSES];
	/* Thread registry, protected by gm_registry.lock. */
	struct gm_mcache *rnext, *rprev;
	/* The creating thread's id, a seed of rng: an adopted cache and a
	 * forked child's keep it (the child writes nothing it need not). */
	pid_t tid;
	bool registered;
	uint64_t orphaned; /* when its thread exited, on the orphan list */
	/* A copy of gm_small, for malloc's fast path: addressed from the
	 * cache's register, not through a lea of its own.  All zero in
	 * gm_empty_mcache: every size is class 0 there, whose list is empty. */
	gm_small_tables small;
	/* The heap profile's buckets of the thread's last stack, by block size
	 * (mprof.c), here rather than in TLS, which libgomem keeps small. */
	struct {
		uint64_t key;
		struct gomem_profile_bucket *b;
	} prof_last[GM_PROF_LAST];
	/* warm[c]: list c was refilled once (gm_mcache_take); kept by an
	 * adopted cache.  Slow paths only: last, off the fast paths' lines. */
	uint8_t warm[GM_NUM_SPANCLASSES];
	/* Whole lines (the cache allocator's chunks are page aligned): one
	 * thread's lists start on a line of their own, not on the last line
	 * of another thread's cache. */
} __attribute__((aligned(GM_LINE))) gm_mcache;

typedef struct gm_registry {
	pthread_mutex_t lock;
	gm_mcache *head;
	uint64_t nthreads;
	gm_tstats dead; /* counts of exited threads */
	/* Caches of exited threads, kept whole for the next threads (mcache.c,
	 * "Orphans"): linked through rnext, newest first. */
	gm_mcache *orphans;
	unsigned norphans;
	/* In a forked child: the parent's other threads' caches, linked
	 * through rnext, not folded yet (gm_mcache_fork_fold).  Read without
	 * the lock (atomic) by the slow paths' check. */
	gm_mcache *_Atomic forked;
} gm_registry;

/* Orphans: at most this many, given back after GM_ORPHAN_NS or so (the
 * scavenger's idle tick), or at once on a spike or memory pressure. */
#define GM_ORPHANS_MAX 4u
#define GM_ORPHAN_NS   1000000000u

extern gm_registry gm_registry_;
extern gm_mcache gm_empty_mcache;
extern __thread gm_mcache *gm_tls_mcache;

gm_mcache *gm_mcache_create(void);
void gm_mcache_release_all(gm_mcache *mc);
void gm_lcache_release(gm_mcache *mc);
void gm_lcache_drain_all(void);
void gm_mcache_thread_exit(void *arg);
void gm_mcache_orphans_release(uint64_t before);
void *gm_mcache_refill(gm_mcache *mc, unsigned spanclass);
void gm_mcache_release(gm_mcache *mc, unsigned spanclass, unsigned n);
void gm_mcache_overflow(gm_mcache *mc, unsigned spanclass);
extern pthread_key_t gm_mcache_key;
void gm_mcache_fork_child(void);
void gm_mcache_fork_fold_slow(void);
/* The caches a fork left behind, folded by the first slow path that asks
 * (no lock held): nothing but a load once done, or outside a forked child. */
static inline void gm_mcache_fork_fold(void)
{
	if (__builtin_expect(atomic_load_explicit(&gm_registry_.forked, memory_order_relaxed) != NULL, 0))
		gm_mcache_fork_fold_slow();
}

/*
 * Counters written by one thread and read by others: one plain add.  On
 * x86-64 a single aligned add is never torn and stores are seen in order
 * (the snapshot relies on that, see mstats.c); elsewhere a release store.
 */
gm_inline void gm_stat_inc(uint64_t *c)
{
#if defined(__x86_64__)
	__asm__ volatile("addq $1, %0" : "+m"(*c) : : "memory");
#else
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELEASE);
#endif
}

/* One less room on a cache list: a subtract from memory (owner only). */
gm_inline void gm_stat_add(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELEASE);
}

/* ---- malloc core (malloc.c) ---- */

void *gm_malloc(size_t n);
void gm_free(void *p);
void *gm_calloc(size_t n, size_t m);
/* A running cost figure of large calloc's zeroing, and the spacing of its
 * learning steps (malloc.c). */
void gm_zero_learn(_Atomic uint64_t *avg, uint64_t x);
uint64_t gm_zero_every(uint64_t base, uint64_t call, uint64_t fault, uint64_t rate, size_t n,
		       size_t pages);
void *gm_realloc(void *p, size_t n);
void *gm_reallocarray(void *p, size_t n, size_t m);
void *gm_memalign(size_t align, size_t n);
int gm_posix_memalign(void **out, size_t align, size_t n);
void *gm_aligned_alloc(size_t align, size_t n);
void *gm_valloc(size_t n);
void *gm_pvalloc(size_t n);
size_t gm_usable_size(const void *p);
size_t gm_usable_size_slow(const void *p);

extern uint64_t gm_seed; /* random, picked at start */

/*
 * GOMEMDEBUG=safelink=1: free-list links stored masked, as glibc >= 2.32
 * does (safe-linking), with a per-process secret too; gm_link_next checks
 * each one it decodes and ends the process naming the block whose link is
 * bad.  The mask of the link in the block at slot:
 */
extern uint64_t gm_link_secret;

gm_inline uintptr_t gm_link_mask(const void *slot)
{
	return ((uintptr_t)slot >> 12) ^ gm_link_secret;
}

void *gm_link_next(const void *slot, unsigned spanclass);

/* ---- stats (mstats.c) ---- */

void gm_read_memstats(struct gomem_memstats *m);
void gm_mstats_publish(void);
void gm_mstats_probe_init(void);
void gm_mstats_announce(void);
void gm_mstats_publish_user(struct gomem_memstats *m);
void gm_print_stats(int fd);
extern pthread_mutex_t gm_snap_lock;

/* ---- scavenger (scavenge.c) ---- */

/*
 * GOMEMDEBUG=scavdelay=MS: the scavenger thread starts at the first
 * allocation slow path this long after the library loads (or a fork), once
 * the heap holds GM_SCAV_EAGER_BYTES, or as soon as a tracer listens (at
 * load when gomemd already watches), instead of at load.  A short program
 * then never gets a second thread: it saves the 0.4 ms of the thread's
 * creation, and a program that checks that it runs alone works.  Not the
 * default: a process that goes idle before the delay ends publishes nothing
 * to a gomemd started after it.  (Chromium, whose zygote checks that it
 * runs alone, defines malloc itself: there the library is a bystander and
 * starts no thread; gm_scav_start_at_load.)
 */
#define GM_SCAV_DELAY_NS    0u
#define GM_SCAV_EAGER_BYTES ((uint64_t)32 << 20)
#define GM_SCAV_BYSTANDER_NS 1000000000u /* 1 s */
#define GM_SCAV_RETRY_MIN_NS 10000000u    /* 10 ms */
#define GM_SCAV_RETRY_MAX_NS 1000000000u  /* 1 s */

typedef struct gm_scav_state {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	_Atomic bool started; /* the thread runs (or is being created) */
	_Atomic bool running; /* the thread has reached gm_scav_main */
	bool stop;
	bool wake;
	_Atomic bool dozing; /* in a sleep of 100 ms or more: frees may wake it */
	pthread_t thread;
	pid_t pid; /* the process that started the thread */
	/* The thread starts at the first slow path from then on (gm_nanotime;
	 * set at init and in a forked child), or at once when watched. */
	_Atomic uint64_t not_before; /* GM_SCAV_FROM_NEXT: from the next slow path on */
	pid_t born_pid; /* getpid() then: a vfork child sharing our memory must not start it */
	/* Set at load when the process's malloc is not ours (the program
	 * defines its own, as Chromium does): the thread starts at a slow path
	 * GM_SCAV_BYSTANDER_NS after load at the earliest, or once our heap
	 * holds GM_SCAV_EAGER_BYTES. */
	bool bystander;
	/* pthread_create failed (a thread or pid limit): no new attempt before
	 * retry_at (gm_nanotime), after waits that double from
	 * GM_SCAV_RETRY_MIN_NS to GM_SCAV_RETRY_MAX_NS.  retry_ns is written
	 * only by the one starter (gm_scav_starting). */
	_Atomic uint64_t retry_at;
	uint64_t retry_ns;
	/* Under gm_heap.lock: */
	uint64_t released_total; /* bytes */
	uint64_t cycles;
	uint64_t cpu_ns;
} gm_scav_state;

#define GM_SCAV_FROM_NEXT UINT64_MAX

/* export.c's malloc, bound locally; NULL where the core is linked without
 * the entry points (tests/lib's programs call it directly). */
extern void *gm_malloc_self(size_t n) __attribute__((weak));

extern gm_scav_state gm_scav;

void gm_scav_start(void);
void gm_scav_start_lazy(void);
void gm_scav_start_at_load(void);
void gm_scav_born(void);
/* The slow paths' call: nothing once the thread runs. */
static inline void gm_scav_poke(void)
{
	if (gm_unlikely(!atomic_load_explicit(&gm_scav.started, memory_order_relaxed)))
		gm_scav_start_lazy();
}
int gm_scav_pause(void);
void gm_scav_resume(int ran);
void gm_scav_wake(void);
uint64_t gm_scav_goal_locked(void);
void gm_scav_rotate(unsigned halves);
void gm_scav_fork_child(pid_t pid);

/* ---- profiling (mprof.c, unwind.c) ---- */

/* What a sample reads under the lock sits on the lock's line. */
typedef struct __attribute__((aligned(64))) gm_prof_state {
	gm_lock lock;
	void *table; /* open-addressing set of live sampled blocks (gomem_profile.live) */
	size_t cap, count;
	void *btable;	  /* (stack, size) -> bucket; read without lock (mprof.c) */
	uint16_t *filter; /* live samples per hash of address; read without lock */
	/* The samples' clock (gm_prof_now_locked): the last reading of
	 * CLOCK_REALTIME_COARSE and the TSC then, the TSC's rate, measured
	 * from the first reading on. */
	uint64_t clk_tsc, clk_ns, clk_span;
	double clk_scale; /* ns per TSC tick; 0 until known */
	uint64_t clk_tsc0, clk_ns0;
	size_t bused;
} gm_prof_state;

extern gm_prof_state gm_prof;
extern GM_API struct gomem_profile gomem_profile;

/*
 * &gomem_profile in a register, for a probe argument: libbpf's USDT argument
 * parser does not take the GOT-relative memory operand the compiler would
 * use for an exported symbol's address.
 */
gm_inline struct gomem_profile *gm_prof_table(void)
{
	struct gomem_profile *t = &gomem_profile;

	__asm__("" : "+r"(t));
	return t;
}
void gm_prof_init(void);
int64_t gm_prof_next(gm_mcache *mc);
uint64_t gm_prof_set_rate(uint64_t rate);
double gm_prof_weight(uint64_t n, uint64_t rate);
double gm_math_exp(double x); /* x <= 0 */
void *gm_prof_malloc(gm_mcache *mc, void *p, size_t n);
void gm_prof_free(gm_mspan *s, void *p);
void gm_prof_fork_child(pid_t pid);

/* The stack walker's counters (gm_prof.lock). */
typedef struct gm_uw_stats {
	uint64_t memo;	   /* frames found in the thread's last walk */
	uint64_t hits;	   /* frames found in the cache */
	uint64_t computed; /* rows computed from .eh_frame */
	uint64_t fp;	   /* frames walked by frame pointer */
	uint64_t slow;	   /* walks done by libgcc's unwinder */
	uint64_t same;	   /* walks that found the thread's last stack again */
	uint64_t replayed; /* of those, walks replayed from its words (no frame walked) */
} gm_uw_stats;

extern gm_uw_stats gm_uw_stat; /* every sample's walk (gm_prof.lock) */
unsigned gm_unwind(uint64_t *pcs, unsigned max, bool *truncated, gm_uw_stats *st);

void *gm_prof_sample(gm_mcache *mc, void *p, size_t n);
void *gm_sample_move(gm_mcache *mc, void *p, unsigned c);

/* Count n bytes of p against mc's sampling budget (mc is a real cache). */
gm_inline void *gm_prof_account(gm_mcache *mc, void *p, size_t n)
{
	if (gm_unlikely((mc->next_sample -= (int64_t)n) < 0))
		return gm_prof_sample(mc, p, n);
	return p;
}

/* ---- options (env.c) ---- */

/*
 * Classes whose spans caches own by default (GOMEMDEBUG=ownspans=N): those
 * up to 64 B, where objects of different threads may share a line or the
 * line pair x86's adjacent-line prefetcher fetches and keeps together
 * (128 B): two threads writing the two halves of a pair slow each other as
 * if they shared the line.  Sending an object home costs a free its fast
 * path: on bench/gmbench, prodcons took 24% longer owning classes up to
 * 128 B and 55% owning all; up to 64 B, prodcons and xfree are level with
 * up to 48 B and cachescratch (64 B objects dealt alternately to two
 * threads) takes 20% less time (bench/README.md, "Owned spans").
 */
#define GM_OWNSPANS_DEFAULT 64

typedef struct gm_options {
	int64_t memory_limit;	    /* GOMEMLIMIT; INT64_MAX = none */
	bool memory_limit_set;	    /* GOMEMLIMIT was given (also "off") */
	bool cgroup;		    /* GOMEMDEBUG cgroup=0: do not follow the cgroup */
	bool scavenge;		    /* GOMEMDEBUG scavenge=0: the thread releases nothing */
	bool scavthread;	    /* GOMEMDEBUG scavthread=0: no background thread at all */
	bool scavtrace;		    /* GOMEMDEBUG scavtrace=1 */
	bool exitstats;		    /* GOMEMDEBUG exitstats=1: gm_print_stats at exit */
	bool check;		    /* GOMEMDEBUG check=1: heap invariants on snapshots */
	bool safelink;		    /* GOMEMDEBUG safelink=1: masked free-list links */
	bool populate;		    /* GOMEMDEBUG populate=0: fresh small spans fault on touch */
	bool sampspans;		    /* GOMEMDEBUG sampspans=1: sampled blocks get spans of their own */
	uint32_t ownspans;	    /* GOMEMDEBUG ownspans=N: own spans of classes up to N B */
	uint64_t stats_interval_ns; /* GOMEM_STATS_INTERVAL_MS */
	uint64_t release_delay_ns;  /* GOMEMDEBUG scavwindow=MS: window of the in-use peak */
	uint64_t profile_rate;	    /* GOMEM_PROFILE_RATE: bytes per sample, 0 = off */
	uint64_t scav_age_ns;	    /* GOMEMDEBUG scavage=MS: idle this long before release */
	uint64_t scav_delay_ns;	    /* GOMEMDEBUG scavdelay=MS: the thread's start, after load */
	uint64_t init_repeat_ns;    /* GOMEMDEBUG initrepeat=MS: gomem:init again, 0 never */
} gm_options;

extern gm_options gm_opt;
void gm_env_init(void);
const char *gm_getenv(const char *name);
int gm_parse_bytes(const char *s, int64_t *out);

/* ---- memory cgroup (cgroup.c) ---- */

#define GM_CG_PATH	  4096
#define GM_CGROUP_POLL_NS  500000000u /* the limit files are re-read this often */
#define GM_SCAV_ALONE_NS   250000000u /* the scavenger looks whether it is the last thread */
#define GM_CGROUP_FIRST_NS 20000000u  /* the scavenger looks for the cgroup this long after start */

int gm_cgroup_find(const char *proc_cgroup, const char *mountinfo, char *dir, size_t dirlen,
		   size_t *mntlen);
uint64_t gm_cgroup_read_limit(const char *dir, size_t mntlen, int version, unsigned *source);
uint64_t gm_cgroup_soft_limit(uint64_t cg);
void gm_cgroup_ensure(void);
bool gm_cgroup_following(void);
void gm_cgroup_poll(void);
int64_t gm_set_memory_limit(int64_t limit);

/* ---- output without malloc (print.c) ---- */

void gm_write_str(int fd, const char *s);
ssize_t gm_read_small(const char *path, char *buf, size_t len);
/*
 * The library's own file access (/proc, cgroup files): raw system calls,
 * retried on EINTR.  open, read, write, close and nanosleep are
 * cancellation points: through them a thread with a cancellation pending
 * (pthread_cancel) would end inside malloc with a lock held, and every
 * thread after it would wait for that lock for ever.
 */
int gm_sys_open(const char *path);
ssize_t gm_sys_read(int fd, void *buf, size_t n);
void gm_sys_close(int fd);
size_t gm_fmt_u64(char *buf, uint64_t v);
size_t gm_fmt_hex(char *buf, uintptr_t v);
uint64_t gm_nanotime(void);
uint64_t gm_walltime(void);
uint64_t gm_walltime_coarse(void);
uint64_t gm_thread_cpu_ns(void);

/* ---- process life (init.c) ---- */

extern _Atomic int gm_inited;
void gm_init_slow(void);

gm_inline void gm_ensure_init(void)
{
	if (gm_unlikely(atomic_load_explicit(&gm_inited, memory_order_acquire) != 2))
		gm_init_slow();
}

#define gm_assert(cond, msg)                                                                       \
	do {                                                                                       \
		if (gm_unlikely(!(cond)))                                                          \
			gm_throw("gomem: internal error: " msg);                                   \
	} while (0)
#define gm_dassert(cond, msg)                                                                      \
	do {                                                                                       \
		if (GM_DEBUG && gm_unlikely(!(cond)))                                              \
			gm_throw("gomem: internal error: " msg);                                   \
	} while (0)

#pragma GCC visibility pop

#endif /* GM_INTERNAL_H */
