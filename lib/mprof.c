/*
 * mprof.c: the heap profile, kept in the process like Go's (mprof.go).
 *
 * Each thread counts down the bytes it allocates; when the count goes
 * negative, that allocation is sampled and a new count is drawn from an
 * exponential distribution with mean GOMEM_PROFILE_RATE (default 512 KiB, as
 * Go's runtime.MemProfileRate; 0 turns sampling off; 1 samples every
 * allocation), so on average one sample is taken per rate bytes and big
 * allocations are more likely to be picked, exactly as in Go.
 *
 * Sampling is always on, watched or not.  A sample walks the stack
 * (unwind.c), finds or makes the bucket of its (stack, block size) and
 * counts the allocation in it; the block is remembered in a hash set with
 * its bucket and sample time, so its free is counted in the same bucket.
 * Spans count their sampled blocks, so a free only looks in the set when
 * its span has any.  The set is published too (gomem_profile.live): the
 * reader finds the age of each stack's oldest live sample there (leak
 * ages), so a sample and its free keep no per-bucket order of their own.
 *
 * The buckets are the table of gomem_profile.h, in memory of our own (never
 * malloc): records appended to 1 MiB chunks that never move, counters that
 * only grow, a seqlock generation around every change.  gomemd copies it
 * with process_vm_readv whenever it likes; no probe fires per sample for it.
 * The gomem:sample_alloc / sample_free probes (the old streaming interface)
 * and the OpenTelemetry otel_memory:alloc / free probes still fire on each
 * sample while somebody listens.
 *
 * A sample walks its stack (unwind.c, whose cache takes no lock) and finds
 * the bucket of a stack seen before (a map read without the lock, see
 * gm_prof_bucket_find) before it takes gm_prof.lock, which it holds only to
 * record the block, count it and make a bucket for a new stack.
 * gm_prof.lock protects everything else here and every span's nsampled and
 * sampkey; it is a leaf lock, the last in the order of internal.h.  A free in a span with samples
 * compares its key with the span's sampkey slots (gm_span_sampled), next to the state the free
 * reads anyway: most sampled spans hold one to three samples, whose keys are there, and a free of
 * any other block of theirs returns at once.  A span with more samples than slots has a counting
 * filter looked at instead (live samples of such spans per hash of the address, written under the
 * lock, read without it; the slotted samples are counted in it before the
 * span says so): an object that was not sampled almost always finds a zero
 * there and takes no lock.  Its own key or count cannot change while it is
 * live, so these reads are safe.
 * A thread in the profiler (gm_prof_busy) that re-enters it from a signal
 * handler does not take the lock again: a sample is counted as lost, a free
 * is queued and done when the outer call leaves.
 *
 * Sampled blocks.  A sampled small block stays in its class's span, whose
 * fastclass is 0 while it has samples: every free of the span's other blocks
 * (a span of 500-byte blocks holds 16) leaves the fast path to ask whether
 * it is the sampled one, reading the span's cold line.  On larson that is
 * about one free in 100 and 6-10% of its throughput.  GOMEMDEBUG=sampspans=1
 * (at rates of 256 KiB and up) gives a sampled small block a span of its
 * own instead, as tcmalloc does: the object the sample popped goes back on
 * the thread's list, and the program gets the start of a fresh large span
 * (one page; two to four for the classes over 8 KiB) that names the class
 * it stands for (sampclass); the block counts as an object of that class in
 * every statistic, and its size is the class's.  It costs about a page per
 * live sample (1.6% of the live heap at the default rate) and it is not the
 * default: in a producer-consumer program (xmalloc-test, 64-128 B objects)
 * every sample then changes which objects go round between the threads, and
 * that alone (handing out the list's second object instead, with no span of
 * its own, does the same) took the program from 2.0 to 3.9-4.4 s of
 * relative time.  bench/README.md, "Sampled blocks".
 */
#include "internal.h"
#include "probes.h"

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define GM_PROF_PENDING	    8	/* frees queued by a signal handler */
#define GM_PROF_FILTER_BITS 16	/* 64 Ki counters */
#define GM_PROF_EXIT_WAIT   250 /* ms the exit probe waits for a reader */
/* Rates from which sampled small blocks get spans of their own. */
#define GM_PROF_SPAN_RATE   ((uint64_t)256 << 10)

/*
 * A live sampled block: the published entry (ptr 0 empty, 1 deleted), its
 * bucket record with GM_PROF_FILTERED in bit 0 when the block is counted in
 * gm_prof.filter, and its sample time.
 */
typedef struct gomem_profile_live gm_prof_entry;
typedef struct gomem_profile_bucket gm_prof_bkt;
#define GM_PROF_FILTERED 1u

gm_inline gm_prof_bkt *gm_prof_entry_bucket(const gm_prof_entry *e)
{
	return (gm_prof_bkt *)(uintptr_t)(e->bucket & ~(unsigned long long)GM_PROF_FILTERED);
}

typedef struct gm_prof_bslot {
	uint64_t hash;
	gm_prof_bkt *b; /* NULL: empty; set once (release), after hash */
} gm_prof_bslot;

/* The (stack, size) -> bucket map: read without the lock (gm_prof_bucket_find). */
typedef struct gm_prof_btab {
	size_t cap; /* a power of two */
	gm_prof_bslot slot[];
} gm_prof_btab;

GM_API struct gomem_profile gomem_profile = {
    .size = sizeof(struct gomem_profile),
    .version = GOMEM_PROFILE_VERSION,
    .magic = GOMEM_PROFILE_MAGIC,
    .chunk_size = GOMEM_PROFILE_CHUNK_SIZE,
};

GM_PROBE_SEMAPHORE(exit);
GM_OTEL_SEMAPHORE(alloc);
GM_OTEL_SEMAPHORE(free);

static __thread int gm_prof_busy;
static __thread uintptr_t gm_prof_pending[GM_PROF_PENDING];
static __thread unsigned gm_prof_npending;

/* ---- sampling distribution ---- */

/* The next 64 bits of the thread's xorshift state. */
static uint64_t gm_prof_random(gm_mcache *mc)
{
	uint64_t x = mc->rng;

	if (x == 0)
		x = gm_seed ^ ((uint64_t)mc->tid << 32) ^ (uintptr_t)mc;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	mc->rng = x;
	return x;
}

/*
 * log2(q) for 1 <= q < 2^52: the exponent, plus log2(1 + m) for the
 * mantissa m in [0, 1) by a polynomial of degree 5 fitted at Chebyshev
 * nodes (error below 1.7e-5, against 2e-4 for Go's fastlog2 table, and no
 * table to bring into the cache; no libm call, no division).
 */
static double gm_prof_log2(uint64_t q)
{
	unsigned e = 63 - (unsigned)__builtin_clzll(q);
	double m = (double)((q << (63 - e)) << 1 >> 12) * 0x1p-52; /* the bits after the leading 1 */

	double m2 = m * m;

	/* Estrin's scheme: the same polynomial in three dependent steps, not
	 * ten (it was a third of a sample's gm_prof_next). */
	return (double)e +
	       m * ((1.4414924117615557 + m * -0.7064864491338244) +
		    m2 * ((0.4094702986979938 + m * -0.18748860458976932) +
			  m2 * 0.04300495779189944)) +
	       1.6514670883354917e-05;
}

/* The sampling rate: gomem_set_profile_rate may change it from any thread. */
static inline uint64_t gm_prof_rate(void)
{
	return __atomic_load_n(&gm_opt.profile_rate, __ATOMIC_RELAXED);
}

/*
 * e^x for x <= 0, for the samples' weights, without libm: linking libm cost
 * every process about 0.15 ms of start-up.  Within a few ulps of libm's
 * (tests/lib/check_mprof.c).  The sample distance needs no ln: it is Go's
 * fastexprand (gm_prof_next).
 */
#define GM_LN2_HI 6.93147180369123816490e-01 /* ln 2 in two parts (fdlibm's) */
#define GM_LN2_LO 1.90821492927058770002e-10

double gm_math_exp(double x)
{
	union {
		double d;
		uint64_t b;
	} p;
	double r, sum = 1;
	int k;

	if (!(x > -708)) /* below, 2^k would need a subnormal: 0 is close enough */
		return 0;
	/* x = k ln2 + r, |r| <= ln2/2; e^r by its Taylor series to r^13. */
	k = -(int)(-x * 1.4426950408889634 + 0.5);
	r = (x - k * GM_LN2_HI) - k * GM_LN2_LO;
	for (int i = 13; i >= 1; i--)
		sum = 1 + sum * r / i;
	p.b = (uint64_t)(k + 1023) << 52;
	return sum * p.d;
}

/*
 * Bytes until the thread's next sample.  With sampling off, the countdown
 * still runs out every GM_PROF_RECHECK bytes, so a thread notices a rate set
 * later (gomem_set_profile_rate) at a cost of one call per 64 MiB.
 */
#define GM_PROF_RECHECK ((int64_t)64 << 20)

int64_t gm_prof_next(gm_mcache *mc)
{
	uint64_t rate = gm_prof_rate();
	double n;

	if (rate == 0)
		return GM_PROF_RECHECK;
	/* Go's fastexprand: -ln(u) = -log2(u) * ln 2 for u = q / 2^26 uniform
	 * in (0, 1], with a cheap log2 (log() was 0.24% of a 5 GB/s program). */
	n = (26.0 - gm_prof_log2((gm_prof_random(mc) >> 38) + 1)) * 0.6931471805599453 *
	    (double)rate;
	if (n < 0)
		n = 0;
	if (n > 1e15)
		n = 1e15;
	return (int64_t)n;
}

/*
 * Bytes a sample of n bytes stands for: Go's scaleHeapSample for one object,
 * n / (1 - exp(-n / rate)).
 */
double gm_prof_weight(uint64_t n, uint64_t rate)
{
	double p;

	if (rate <= 1 || n == 0)
		return (double)n;
	p = 1 - gm_math_exp(-(double)n / (double)rate);
	return p > 0 ? (double)n / p : (double)n;
}

/* ---- the published table ---- */

static inline void gm_prof_write_begin(void)
{
#ifdef __SANITIZE_THREAD__
	/* TSan has no fences: an acquire-release exchange keeps the table's
	 * writes after the odd generation the same way. */
	__atomic_exchange_n(&gomem_profile.gen, gomem_profile.gen + 1, __ATOMIC_ACQ_REL);
#else
	__atomic_store_n(&gomem_profile.gen, gomem_profile.gen + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
#endif
}

static inline void gm_prof_write_end(void)
{
	__atomic_store_n(&gomem_profile.gen, gomem_profile.gen + 1, __ATOMIC_RELEASE);
}

static inline void gm_prof_add(unsigned long long *c, uint64_t v)
{
	__atomic_store_n(c, *c + v, __ATOMIC_RELAXED);
}

static uint64_t gm_prof_hash(const uint64_t *pcs, unsigned n, uint64_t size)
{
	uint64_t h = size * 0x9e3779b97f4a7c15u ^ n;
	unsigned i;

	for (i = 0; i < n; i++) {
		h ^= pcs[i];
		h *= 0xff51afd7ed558ccdu;
		h ^= h >> 32;
	}
	return h | 1;
}

/*
 * A sample's time, for leak ages: CLOCK_REALTIME_COARSE (what gomemd and
 * the tests compare it with), read afresh when the last reading is
 * GM_PROF_CLK_NS old or more, and in between that reading plus the TSC's
 * ticks since, at a rate measured against the clock over the process's life
 * so far (from 100 ms on, so a 4 ms tick makes at most 4% of an error of
 * a few ms).  Reading the TSC touches no memory; the clock's vDSO call took
 * three cache misses and two library calls per sample.  Lock held.
 */
#define GM_PROF_CLK_NS	  16000000u  /* 16 ms between readings at most */
#define GM_PROF_CLK_CALIB 100000000u /* the rate from 100 ms on */

static uint64_t gm_prof_now_locked(void)
{
#if defined(__x86_64__) || defined(__i386__)
	uint64_t t, ns;
	gm_prof_state *c = &gm_prof;

	if (c->clk_span != 0) {
		t = __builtin_ia32_rdtsc();
		if (t - c->clk_tsc < c->clk_span)
			return c->clk_ns + (uint64_t)((double)(t - c->clk_tsc) * c->clk_scale);
		ns = gm_walltime_coarse();
	} else {
		/* Until the rate is known every sample reads the clock, and the
		 * TSC only where the rate is measured from. */
		ns = gm_walltime_coarse();
		if (c->clk_ns0 != 0 && ns >= c->clk_ns0 && ns - c->clk_ns0 < GM_PROF_CLK_CALIB)
			return ns;
		t = __builtin_ia32_rdtsc();
	}
	if (c->clk_ns0 == 0 || t < c->clk_tsc0 || ns < c->clk_ns0) {
		c->clk_tsc0 = t; /* the first reading, or the clock was set back */
		c->clk_ns0 = ns;
		c->clk_scale = 0;
		c->clk_span = 0;
	} else if (ns - c->clk_ns0 >= GM_PROF_CLK_CALIB) {
		c->clk_scale = (double)(ns - c->clk_ns0) / (double)(t - c->clk_tsc0);
		c->clk_span = (uint64_t)(GM_PROF_CLK_NS / c->clk_scale);
	}
	c->clk_tsc = t;
	c->clk_ns = ns;
	return ns;
#else
	return gm_walltime_coarse();
#endif
}

/* Append a bucket record for the stack; NULL when the table is full. Lock held. */
static struct gomem_profile_bucket *gm_prof_append_locked(const uint64_t *pcs, unsigned n,
							  uint64_t size, bool truncated)
{
	size_t need = sizeof(struct gomem_profile_bucket) + (size_t)n * sizeof(uint64_t);
	struct gomem_profile *t = &gomem_profile;
	struct gomem_profile_bucket *b;
	unsigned i = t->nchunks;

	if (i == 0 || t->chunk_used[i - 1] + need > GOMEM_PROFILE_CHUNK_SIZE) {
		void *c;

		if (i == GOMEM_PROFILE_MAX_CHUNKS)
			return NULL;
		c = gm_sys_alloc(GOMEM_PROFILE_CHUNK_SIZE, &gm_stat_buckhash_sys);
		if (c == NULL)
			return NULL;
		t->chunk[i] = (uintptr_t)c;
		t->chunk_used[i] = 0;
		__atomic_store_n(&t->nchunks, i + 1, __ATOMIC_RELEASE);
		i++;
	}
	b = (struct gomem_profile_bucket *)(uintptr_t)(t->chunk[i - 1] + t->chunk_used[i - 1]);
	b->size = size;
	b->depth = n;
	b->flags = truncated ? GOMEM_PROFILE_TRUNCATED : 0;
	__builtin_memcpy(b->pcs, pcs, (size_t)n * sizeof(uint64_t));
	__atomic_store_n(&t->chunk_used[i - 1], t->chunk_used[i - 1] + need, __ATOMIC_RELEASE);
	__atomic_store_n(&t->nbuckets, t->nbuckets + 1, __ATOMIC_RELEASE);
	return b;
}

/*
 * The map from (stack, size) to bucket is read without the lock: a sample
 * finds its bucket before it takes gm_prof.lock, and only a new stack looks
 * again under the lock and inserts.  Slots are only ever filled (hash, then
 * the bucket pointer with release), buckets never move and their stack and
 * size never change, so a reader that acquires a slot's bucket pointer sees
 * a whole record.  A bigger map is filled first and published with release;
 * the old one stays readable for samples that still look at it, so it is
 * never unmapped (all of them together are smaller than the newest).
 */
static bool gm_prof_bmatch(const gm_prof_bkt *p, const uint64_t *pcs, unsigned n, uint64_t size)
{
	unsigned i;

	if (p->size != size || p->depth != n)
		return false;
	for (i = 0; i < n && p->pcs[i] == pcs[i]; i++) /* no call into libc */
		;
	return i == n;
}

/* The bucket of (stack, size) with hash h, or NULL if it has none yet.  No lock. */
static gm_prof_bkt *gm_prof_bucket_find(uint64_t h, const uint64_t *pcs, unsigned n, uint64_t size)
{
	gm_prof_btab *t = __atomic_load_n((gm_prof_btab **)&gm_prof.btable, __ATOMIC_ACQUIRE);
	gm_prof_bkt *b;
	size_t mask, i;

	if (t == NULL)
		return NULL;
	mask = t->cap - 1;
	for (i = h & mask; (b = __atomic_load_n(&t->slot[i].b, __ATOMIC_ACQUIRE)) != NULL;
	     i = (i + 1) & mask)
		if (__atomic_load_n(&t->slot[i].hash, __ATOMIC_RELAXED) == h &&
		    gm_prof_bmatch(b, pcs, n, size))
			return b;
	return NULL;
}

/* Put (h, b) into the map t, which has room and lacks it. Lock held. */
static void gm_prof_bput_locked(gm_prof_btab *t, uint64_t h, gm_prof_bkt *b)
{
	size_t mask = t->cap - 1, i;

	for (i = h & mask; t->slot[i].b != NULL; i = (i + 1) & mask)
		;
	__atomic_store_n(&t->slot[i].hash, h, __ATOMIC_RELAXED);
	__atomic_store_n(&t->slot[i].b, b, __ATOMIC_RELEASE);
}

/* The map, with room for one more bucket; NULL when out of memory. Lock held. */
static gm_prof_btab *gm_prof_bgrow_locked(void)
{
	gm_prof_btab *old = gm_prof.btable, *t;
	size_t oldcap = old != NULL ? old->cap : 0, cap = oldcap ? oldcap * 2 : 1024, i;

	if ((gm_prof.bused + 1) * 2 <= oldcap)
		return old;
	t = gm_sys_alloc(sizeof(*t) + cap * sizeof(gm_prof_bslot), &gm_stat_buckhash_sys);
	if (t == NULL)
		return NULL;
	t->cap = cap;
	for (i = 0; i < oldcap; i++)
		if (old->slot[i].b != NULL)
			gm_prof_bput_locked(t, old->slot[i].hash, old->slot[i].b);
	__atomic_store_n((gm_prof_btab **)&gm_prof.btable, t, __ATOMIC_RELEASE);
	return t;
}

/* The bucket of (stack, size) with hash h, made if new; NULL when out of room. Lock held. */
gm_cold static gm_prof_bkt *gm_prof_bucket_locked(uint64_t h, const uint64_t *pcs, unsigned n,
					  uint64_t size, bool truncated)
{
	gm_prof_btab *t;
	gm_prof_bkt *b = gm_prof_bucket_find(h, pcs, n, size);

	if (b != NULL) /* made by another thread since we looked */
		return b;
	if ((t = gm_prof_bgrow_locked()) == NULL)
		return NULL;
	if ((b = gm_prof_append_locked(pcs, n, size, truncated)) == NULL)
		return NULL;
	gm_prof_bput_locked(t, h, b);
	gm_prof.bused++;
	return b;
}

/* ---- the set of live sampled blocks ---- */

static inline size_t gm_prof_fslot(uintptr_t p)
{
	return (size_t)(((p >> 3) * 0x9e3779b97f4a7c15u) >> (64 - GM_PROF_FILTER_BITS));
}

/* Count p in or out of the filter; lock held.  A full counter sticks. */
static void gm_prof_filter_locked(uintptr_t p, int d)
{
	uint16_t *c = &gm_prof.filter[gm_prof_fslot(p)];

	if (*c != UINT16_MAX)
		__atomic_store_n(c, (uint16_t)(*c + d), __ATOMIC_RELAXED);
}

/*
 * The live set is open addressing with linear probing, and a removal moves
 * back the entries after it that would no longer be found (no tombstones:
 * with them, a program that keeps a few samples live while it churns
 * filled the table with deleted slots, made every probe of an absent block
 * walk them, and rehashed every few hundred samples).
 */

/* p's first slot: the product's top bits (its low bits are the address's,
 * zero for every block of a size class aligned to a power of two). */
static inline size_t gm_prof_home(uintptr_t p, size_t cap)
{
	return (size_t)((p * 0x9e3779b97f4a7c15u) >> (64 - __builtin_ctzll(cap)));
}

/* Find p's slot (or the empty slot where it would go); lock held. */
static gm_prof_entry *gm_prof_slot_locked(uintptr_t p, bool insert)
{
	gm_prof_entry *t = gm_prof.table;
	size_t mask = gm_prof.cap - 1, i = gm_prof_home(p, gm_prof.cap);

	for (;;) {
		if (t[i].ptr == p)
			return &t[i];
		if (t[i].ptr == 0)
			return insert ? &t[i] : NULL;
		i = (i + 1) & mask;
	}
}

/* Empty the slot e; lock held. */
static void gm_prof_unslot_locked(gm_prof_entry *e)
{
	gm_prof_entry *t = gm_prof.table;
	size_t mask = gm_prof.cap - 1, i = (size_t)(e - t), j = i, k;

	for (;;) {
		j = (j + 1) & mask;
		if (t[j].ptr == 0)
			break;
		k = gm_prof_home((uintptr_t)t[j].ptr, gm_prof.cap);
		/* It stays if its first slot is in (i, j], cyclically. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		t[i] = t[j];
		i = j;
	}
	t[i] = (gm_prof_entry){0, 0, 0};
}

/* A live table twice the size; false when out of memory. */
gm_cold static bool gm_prof_rehash_locked(void)
{
	gm_prof_entry *old = gm_prof.table;
	size_t oldcap = gm_prof.cap, i;
	size_t cap = oldcap ? oldcap * 2 : 1024;

	gm_prof_entry *t = gm_sys_alloc(cap * sizeof(gm_prof_entry), &gm_stat_buckhash_sys);

	if (t == NULL)
		return false;
	/* Atomic: gm_prof_prefetch reads them without the lock. */
	__atomic_store_n(&gm_prof.table, (void *)t, __ATOMIC_RELAXED);
	__atomic_store_n(&gm_prof.cap, cap, __ATOMIC_RELAXED);
	for (i = 0; i < oldcap; i++)
		if (old[i].ptr != 0)
			*gm_prof_slot_locked((uintptr_t)old[i].ptr, true) = old[i];
	gm_prof_write_begin();
	__atomic_store_n(&gomem_profile.live, (uintptr_t)gm_prof.table, __ATOMIC_RELAXED);
	__atomic_store_n(&gomem_profile.live_cap, cap, __ATOMIC_RELAXED);
	gm_prof_write_end();
	if (old != NULL)
		gm_sys_free(old, oldcap * sizeof(gm_prof_entry), &gm_stat_buckhash_sys);
	return true;
}

/* Make room for one more entry; false when out of memory. Lock held. */
static inline bool gm_prof_grow_locked(void)
{
	return gm_likely((gm_prof.count + 1) * 2 <= gm_prof.cap) || gm_prof_rehash_locked();
}

/*
 * Ask for the lines a sample or a sampled free of p (span s) will touch,
 * all of them cold (the program's allocations evict them between samples):
 * the span, p's live-set slot and the table's header.  Asked for together,
 * they come in at once and, for a sample, while the stack is walked; one by
 * one under the lock, each was a miss of its own (perf: the slot's load was
 * over half of gm_prof_malloc's time).  The table and its size are read
 * without the lock: a stale pair only asks for a useless line.
 */
static inline void gm_prof_prefetch(const gm_mspan *s, uintptr_t p)
{
	const gm_prof_entry *t = __atomic_load_n((gm_prof_entry **)&gm_prof.table, __ATOMIC_RELAXED);
	size_t cap = __atomic_load_n(&gm_prof.cap, __ATOMIC_RELAXED);

	__builtin_prefetch(s, 1);
	__builtin_prefetch((const char *)s + 40, 1);
	__builtin_prefetch(&gomem_profile.gen, 1);
	if (t != NULL && cap != 0) {
		const gm_prof_entry *e = &t[gm_prof_home(p, cap)];

		__builtin_prefetch(e, 1);
		__builtin_prefetch((const char *)(e + 1) - 1, 1);
	}
}

/* Count the free of the sample in slot e; lock held. */
static void gm_prof_forget_locked(gm_prof_entry *e, gm_mspan *s)
{
	gm_prof_bkt *b = gm_prof_entry_bucket(e);
	uintptr_t p = (uintptr_t)e->ptr;

	gm_prof_write_begin();
	gm_prof_add(&b->free_objects, 1);
	gm_prof_add(&b->free_bytes, b->size);
	gm_prof_write_end();
	if (e->bucket & GM_PROF_FILTERED)
		gm_prof_filter_locked(p, -1);
	gm_prof_unslot_locked(e);
	gm_prof.count--;
	if (s != NULL && __atomic_load_n(&s->nsampled, __ATOMIC_RELAXED) != 0)
		gm_span_sampled(s, -1, p);
}

/*
 * Count the new sample p (entry ep) of span s in the filter if the span
 * names more samples than its slots hold, before gm_span_sampled publishes
 * that: the slotted samples first, when p is the one that overflows them.
 * Lock held.
 */
static void gm_prof_filter_span_locked(gm_mspan *s, gm_prof_entry *ep, uintptr_t p)
{
	gm_prof_entry *e;
	unsigned i;

	if (s->sampkey[0] != GM_SAMPKEY_ANY) {
		for (i = 0; i < 3; i++)
			if (s->sampkey[i] == 0)
				return; /* p takes a slot */
		for (i = 0; i < 3; i++) {
			e = gm_prof_slot_locked(s->start + ((uintptr_t)s->sampkey[i] - 1) * 8,
						false);
			if (e != NULL && !(e->bucket & GM_PROF_FILTERED)) {
				gm_prof_filter_locked((uintptr_t)e->ptr, 1);
				e->bucket |= GM_PROF_FILTERED;
			}
		}
	}
	gm_prof_filter_locked(p, 1);
	ep->bucket |= GM_PROF_FILTERED;
}

/*
 * Record the sample p (block of size bytes, span s) in bucket b, or in the
 * bucket of the stack pcs (hash h) if b is NULL; its bucket, NULL if lost.
 * Lock held.
 */
static gm_prof_bkt *gm_prof_record_locked(uintptr_t p, gm_mspan *s, gm_prof_bkt *b, uint64_t h,
				  uint64_t size, const uint64_t *pcs, unsigned n, bool truncated)
{
	gm_prof_entry *e;

	if (gm_unlikely(gm_prof.filter == NULL)) {
		uint16_t *f =
		    gm_sys_alloc(sizeof(uint16_t) << GM_PROF_FILTER_BITS, &gm_stat_buckhash_sys);

		if (f == NULL)
			return NULL;
		__atomic_store_n(&gm_prof.filter, f, __ATOMIC_RELEASE);
	}
	if (!gm_prof_grow_locked())
		return NULL;
	if (b == NULL && (b = gm_prof_bucket_locked(h, pcs, n, size, truncated)) == NULL)
		return NULL;
	e = gm_prof_slot_locked(p, true);
	if (e->ptr == p) { /* its free went unseen (say, by a signal handler): count it now */
		gm_prof_forget_locked(e, s);
		e = gm_prof_slot_locked(p, true);
	}
	e->bucket = (uintptr_t)b;
	e->time_ns = gm_prof_now_locked();
	e->ptr = p;
	gm_prof.count++;
	gm_prof_filter_span_locked(s, e, p);
	gm_span_sampled(s, 1, p);

	gm_prof_write_begin();
	gm_prof_add(&b->alloc_objects, 1);
	gm_prof_add(&b->alloc_bytes, size);
	gm_prof_add(&gomem_profile.samples, 1);
	if (truncated)
		gm_prof_add(&gomem_profile.truncated, 1);
	gm_prof_write_end();
	return b;
}

static void gm_prof_lost(unsigned long long *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* Free p now (lock not held by this thread). */
static void gm_prof_free_now(gm_mspan *s, uintptr_t p)
{
	gm_prof_entry *e;
	uint64_t size = 0;
	bool found = false;

	gm_lock_acquire(&gm_prof.lock);
	if (gm_prof.cap != 0 && (e = gm_prof_slot_locked(p, false)) != NULL) {
		size = gm_prof_entry_bucket(e)->size;
		gm_prof_forget_locked(e, s);
		found = true;
	}
	gm_lock_release(&gm_prof.lock);
	if (found && GM_PROBE_ENABLED(sample_free))
		GM_PROBE2(sample_free, p, size);
	if (found && GM_OTEL_ENABLED(free))
		GM_OTEL1(free, p);
}

/* ---- entry points from malloc.c ---- */

/*
 * The thread's countdown ran out at the allocation p of n bytes; the block
 * to hand out: p, or the sampled block's own span (see the top of the file).
 */
void *gm_prof_malloc(gm_mcache *mc, void *p, size_t n)
{
	uint64_t pcs[GOMEM_PROFILE_MAX_DEPTH], size = n, h, key;
	unsigned depth, last;
	bool truncated;
	gm_mspan *s;
	gm_prof_bkt *b;
	gm_uw_stats uw = {0};

	mc->next_sample = gm_prof_next(mc);
	if (p == NULL || gm_prof_rate() == 0)
		return p;
	if (gm_prof_busy) {
		gm_prof_lost(&gomem_profile.lost);
		return p;
	}
	s = gm_span_of((uintptr_t)p);
	if (s == NULL)
		return p;
	if (s->spanclass != GM_SPANCLASS_LARGE && gm_opt.sampspans &&
	    gm_prof_rate() >= GM_PROF_SPAN_RATE) {
		void *q = gm_sample_move(mc, p, s->spanclass);

		if (q != p) {
			p = q;
			s = gm_span_of((uintptr_t)p);
		}
	}
	gm_prof_prefetch(s, (uintptr_t)p);
	gm_prof_busy = 1;
	/* The walk and, for a stack seen before, its bucket need no lock. */
	depth = gm_unwind(pcs, GOMEM_PROFILE_MAX_DEPTH, &truncated, &uw);
	/* Like Go, record the block's size: the size class, or whole pages
	 * (read after the walk, which gave the span's lines time to come). */
	if (gm_span_large_object(s))
		size = s->npages << GM_PAGE_SHIFT;
	else
		size = s->elemsize;
	/*
	 * The buckets of the thread's last stack, by block size: while its
	 * walks find the same stack (uw.same), a sample of a size seen since
	 * needs no lookup (a hot site allocates many sizes).  An entry's key
	 * is the size with the stack's generation in the top 16 bits; a new
	 * stack takes the next generation, and all entries are cleared when
	 * it wraps.
	 */
	if (uw.same == 0 && (++mc->prof_lastgen & 0xffff) == 0) {
		__builtin_memset(mc->prof_last, 0, sizeof(mc->prof_last));
		mc->prof_lastgen = 1;
	}
	key = size >> 48 ? 0 : (mc->prof_lastgen << 48) | size;
	last = (unsigned)((size * 0x9e3779b97f4a7c15u) >> (64 - __builtin_ctz(GM_PROF_LAST)));
	if (key != 0 && mc->prof_last[last].key == key) {
		b = mc->prof_last[last].b;
		h = 0;
	} else {
		h = gm_prof_hash(pcs, depth, size);
		b = gm_prof_bucket_find(h, pcs, depth, size);
	}
	if (b != NULL)
		__builtin_prefetch(b, 1); /* its counters, while the lock comes */
	gm_lock_acquire(&gm_prof.lock);
	b = gm_prof_record_locked((uintptr_t)p, s, b, h, size, pcs, depth, truncated);
	gm_uw_stat.same += uw.same;
	gm_uw_stat.replayed += uw.replayed;
	gm_uw_stat.memo += uw.memo;
	gm_uw_stat.hits += uw.hits;
	gm_uw_stat.computed += uw.computed;
	gm_uw_stat.fp += uw.fp;
	gm_uw_stat.slow += uw.slow;
	gm_lock_release(&gm_prof.lock);
	if (b == NULL)
		gm_prof_lost(&gomem_profile.lost);
	else if (key != 0) {
		mc->prof_last[last].key = key;
		mc->prof_last[last].b = b;
	}
	if (GM_PROBE_ENABLED(sample_alloc))
		GM_PROBE5(sample_alloc, p, size, pcs, (uint64_t)depth, gm_prof_rate());
	if (GM_OTEL_ENABLED(alloc))
		GM_OTEL3(alloc, p, (uint64_t)n, (uint64_t)gm_prof_weight(n, gm_prof_rate()));
	/* Frees a signal handler made while we were busy. */
	while (gm_prof_npending > 0) {
		uintptr_t q = gm_prof_pending[--gm_prof_npending];

		gm_prof_free_now(gm_span_of(q), q);
	}
	gm_prof_busy = 0;
	return p;
}

/* p, in a span with sampled blocks, is being freed. */
void gm_prof_free(gm_mspan *s, void *p)
{
	uint16_t *f;

	if (!gm_span_maybe_sampled(s, (uintptr_t)p))
		return; /* not one of the span's sampled blocks */
	if (__atomic_load_n(&s->sampkey[0], __ATOMIC_ACQUIRE) == GM_SAMPKEY_ANY) {
		/* More samples than slots: ask the filter. */
		f = __atomic_load_n(&gm_prof.filter, __ATOMIC_ACQUIRE);
		if (f == NULL ||
		    __atomic_load_n(&f[gm_prof_fslot((uintptr_t)p)], __ATOMIC_RELAXED) == 0)
			return; /* not sampled */
	}
	/* A slot with p's key: p is a live sample (only a free the profile
	 * missed, which the lookup finds gone, leaves a stale one). */
	gm_prof_prefetch(s, (uintptr_t)p);
	if (gm_unlikely(gm_prof_busy)) {
		/* A signal handler interrupted this thread in the profiler. */
		if (gm_prof_npending < GM_PROF_PENDING)
			gm_prof_pending[gm_prof_npending++] = (uintptr_t)p;
		else
			gm_prof_lost(&gomem_profile.lost_frees);
		return;
	}
	gm_prof_free_now(s, (uintptr_t)p);
}

/* The budget ran out at p (tail-called from the malloc paths); returns p. */
void *gm_prof_sample(gm_mcache *mc, void *p, size_t n)
{
	if (mc != &gm_empty_mcache)
		return gm_prof_malloc(mc, p, n);
	return p;
}

/*
 * gomem_set_profile_rate: sample one allocation per rate bytes from now on
 * (0: none); the previous rate.  The calling thread starts its new countdown
 * at once, the others at their next sample or recheck.  The table's rate
 * (what gomemd scales every sample by) follows a non-zero rate, so, as with
 * Go's runtime.MemProfileRate, a program should choose it once, early, or
 * switch only between 0 and one rate (as bench/allocrate does).
 */
uint64_t gm_prof_set_rate(uint64_t rate)
{
	uint64_t old;

	gm_lock_acquire(&gm_prof.lock);
	old = __atomic_exchange_n(&gm_opt.profile_rate, rate, __ATOMIC_RELAXED);
	if (rate != 0 && rate != gomem_profile.rate) {
		gm_prof_write_begin();
		gomem_profile.rate = rate;
		gm_prof_write_end();
	}
	gm_lock_release(&gm_prof.lock);
	if (gm_tls_mcache != NULL && gm_tls_mcache != &gm_empty_mcache)
		gm_tls_mcache->next_sample = gm_prof_next(gm_tls_mcache);
	return old;
}

GM_API int64_t gomem_set_profile_rate(int64_t rate)
{
	gm_ensure_init();
	if (rate < 0)
		return (int64_t)gm_prof_rate();
	return (int64_t)gm_prof_set_rate((uint64_t)rate);
}

/* ---- process life ---- */

/* At init: the table's header. */
void gm_prof_init(void)
{
	gomem_profile.rate = gm_opt.profile_rate;
	gomem_profile.pid = (uint64_t)getpid();
	gomem_profile.start_ns = gm_walltime_coarse(); /* the clock of the samples (oldest_ns) */
}

/* In a forked child (pid). */
GM_FORK_CHILD void gm_prof_fork_child(pid_t pid)
{
	gm_lock_reset(&gm_prof.lock);
	gm_fork_clear(gm_prof_busy);
	gm_fork_clear(gm_prof_npending);
	gomem_profile.pid = (uint64_t)pid;
	gm_fork_clear(gomem_profile.exit_ack);
}

/*
 * At exit, while watched: send the last MemStats and point a reader at the
 * table, then give it up to GM_PROF_EXIT_WAIT ms to copy it (it writes
 * exit_ack when done).  Nobody watching costs one branch.
 */
__attribute__((destructor)) static void gm_prof_exit(void)
{
	struct timespec ms = {0, 1000000};
	unsigned i;

	if (!GM_PROBE_ENABLED(exit))
		return;
	gm_mstats_publish();
	__atomic_store_n(&gomem_profile.exit_ack, 0, __ATOMIC_RELAXED);
	GM_PROBE2(exit, gm_prof_table(), (uint64_t)sizeof(gomem_profile));
	for (i = 0; i < GM_PROF_EXIT_WAIT; i++) {
		if (__atomic_load_n(&gomem_profile.exit_ack, __ATOMIC_ACQUIRE) != 0)
			break;
		/* Not nanosleep: a cancellation point (see gm_sys_open). */
		syscall(SYS_nanosleep, &ms, NULL);
	}
}
