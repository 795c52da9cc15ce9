/*
 * mheap.c: the page heap.
 *
 * The heap hands out runs of 8 KiB pages ("spans") from 64 MiB arenas.
 * Arenas are reserved at Go's hint addresses, moved by a random number of
 * arenas in each process, and mapped 4 MiB at a time as the heap grows (Go's
 * mheap.grow); freshly mapped pages count as released until first used.
 * Free pages are kept as runs, each described by a span in state
 * GM_SPAN_FREE, on size-indexed lists: free[n] holds runs of n pages
 * (1..127), free[0] the larger ones (best fit, then lowest address).  A
 * freed span coalesces with free neighbours on both sides.
 *
 * Invariants (checked by gm_mheap_check):
 *   - every page of a small-object span maps to its span; a large object's
 *     span and a free run map at their first and last page and to NULL
 *     inside (as tcmalloc records large spans: only a block's start is
 *     looked up, and the neighbours' ends for coalescing, so a 2 MiB block
 *     costs 2 map stores instead of 256, and its free none);
 *   - no two free runs are adjacent (they would have coalesced) unless one
 *     is being scavenged;
 *   - HeapSys = inuse + idle; idle >= released; released = scavenged pages
 *     of free runs; inuse = pages of in-use spans.
 *
 * Every page has a "scavenged" bit: set while its memory was returned to the
 * OS (or never touched since it was mapped).  Allocation clears the bits of
 * the pages it takes and moves them out of HeapReleased, so the counters are
 * exact at page granularity.  The scavenger (scavenge.c) sets them.
 *
 * All of this is protected by gm_heap.lock.
 */
#include "internal.h"
#include "probes.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

gm_arena_map gm_amap;
gm_arena_first gm_afirst = {0, gm_amap.none.fast};

_Atomic uint64_t gm_stat_heap_sys;
_Atomic uint64_t gm_stat_mspan_sys;
_Atomic uint64_t gm_stat_mcache_sys;
_Atomic uint64_t gm_stat_gc_sys;
_Atomic uint64_t gm_stat_other_sys;
_Atomic uint64_t gm_stat_buckhash_sys;

/* Most a forced scavenge releases in one madvise (the run is off the free
 * lists meanwhile). */
#define GM_SCAV_WHOLE ((uintptr_t)4 << 20)

/* Scavenger cursor: the next address to look below (0 = start at the top). */
static uintptr_t gm_scav_cursor;

#define PAGES(n) ((uint64_t)(n) << GM_PAGE_SHIFT)

/*
 * The clock of free runs' idle_since and of the scavenger's age test: the
 * coarse monotonic clock, read from the vDSO without the TSC.  Its tick
 * (1-10 ms) is far below the age (150 ms), and both sides use it.  The
 * precise clock was 13% of a 2 MiB new/delete pair (perf).
 */
static uint64_t gm_idle_clock(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
		return gm_nanotime();
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void gm_gauge_add(_Atomic uint64_t *g, int64_t d)
{
	atomic_store_explicit(g, atomic_load_explicit(g, memory_order_relaxed) + (uint64_t)d,
			      memory_order_relaxed);
}

/* Set up the heap: the arena map and the metadata allocators. */
void gm_mheap_init(uint64_t rnd)
{
	for (unsigned c = 1; c < GM_NUM_CLASSES; c++) {
		gm_amap.cinv[c] = gm_class_inv[c];
		gm_amap.cnelems[c] = gm_class_nelems[c];
		gm_amap.cshift[c] = gm_class_shift[c];
	}
	gm_fixalloc_init(&gm_heap.spanalloc, sizeof(gm_mspan), &gm_stat_mspan_sys);
	gm_fixalloc_init(&gm_heap.cachealloc, sizeof(gm_mcache), &gm_stat_mcache_sys);
	/* Go's first hint, 0xc000000000, moved by one of GM_HINT_SLOTS arenas
	 * at random: a heap at the same address in every process would undo
	 * the address-space randomisation the program has without us. */
	gm_heap.arena_hint = GM_HINT_BASE + ((uintptr_t)(rnd % GM_HINT_SLOTS) << GM_ARENA_SHIFT);
}

/* ---- Page -> span map ---- */

/* Free's page-table entry of page p (gm_heaparena.fast). */
static inline uintptr_t gm_fast_at(uintptr_t p)
{
	gm_heaparena *ha = gm_arena_of(p);

	return __atomic_load_n(&ha->fast[(p >> GM_PAGE_SHIFT) & (GM_ARENA_PAGES - 1)],
			       __ATOMIC_RELAXED);
}

/* Point page p at s (NULL: at no span). */
static inline void gm_span_set(uintptr_t p, gm_mspan *s)
{
	gm_heaparena *ha = gm_arena_of(p);

	ha->spans[(p >> GM_PAGE_SHIFT) & (GM_ARENA_PAGES - 1)] = gm_spanref_of(s);
}

/*
 * Point every page of [start, start+npages) at s: one arena lookup per arena
 * the run crosses, then a memset or an unrolled run of stores (a 2 MiB block
 * took ~13 instructions a page with a lookup per page).
 */
static void gm_set_spans(uintptr_t start, size_t npages, gm_mspan *s)
{
	while (npages != 0) {
		size_t i = (start >> GM_PAGE_SHIFT) & (GM_ARENA_PAGES - 1);
		size_t n = GM_ARENA_PAGES - i < npages ? GM_ARENA_PAGES - i : npages;
		gm_spanref *slot = &gm_arena_of(start)->spans[i];

		if (s == NULL) {
			memset(slot, 0, n * sizeof(*slot)); /* gm_spanref_of(NULL) is 0 */
		} else {
			gm_spanref r = gm_spanref_of(s);
#pragma GCC unroll 8
			for (size_t k = 0; k < n; k++)
				slot[k] = r;
		}
		start += PAGES(n);
		npages -= n;
	}
}

/* A free run or a large object's span maps at its ends only. */
static void gm_set_free_ends(gm_mspan *s)
{
	gm_span_set(s->start, s);
	gm_span_set(s->start + PAGES(s->npages - 1), s);
}

/* The span owning page p if p is in a mapped arena page, else NULL. */
static gm_mspan *gm_span_at(uintptr_t p)
{
	gm_heaparena *ha;

	if (p >> GM_ADDR_BITS)
		return NULL;
	ha = gm_arena_of(p);
	if (ha == NULL)
		return NULL;
	return gm_spanref_get(ha->spans[(p >> GM_PAGE_SHIFT) & (GM_ARENA_PAGES - 1)]);
}

/* ---- Scavenged bits ---- */

enum gm_scav_op { GM_SCAV_COUNT, GM_SCAV_CLEAR, GM_SCAV_SET };

/*
 * Set bits in x.  There is no -mpopcnt, and __builtin_popcountll is then a
 * call into libgcc (about 20 instructions a word); bitmap words are mostly
 * all clear or all set, so those cost a compare, the rest the SWAR sum.
 */
static inline size_t gm_popcount(uint64_t x)
{
	if (x == 0)
		return 0;
	if (x == ~UINT64_C(0))
		return 64;
	x -= (x >> 1) & UINT64_C(0x5555555555555555);
	x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));
	x = (x + (x >> 4)) & UINT64_C(0x0f0f0f0f0f0f0f0f);
	return (size_t)((x * UINT64_C(0x0101010101010101)) >> 56);
}

/*
 * Walk the scavenged bits of a page range a word at a time, one arena
 * lookup per arena: count the set bits, and clear or set them as op says.
 * Returns the count before the op.
 */
static size_t gm_scav_range(uintptr_t start, size_t npages, enum gm_scav_op op)
{
	size_t n = 0;

	while (npages != 0) {
		gm_heaparena *ha = gm_arena_of(start);
		size_t idx = (start >> GM_PAGE_SHIFT) & (GM_ARENA_PAGES - 1);
		size_t k = GM_ARENA_PAGES - idx < npages ? GM_ARENA_PAGES - idx : npages;
		uint64_t *w = &ha->scavenged[idx / 64];
		size_t b = idx % 64, left = k;

		start += PAGES(k);
		npages -= k;
		while (left != 0) {
			size_t take = 64 - b < left ? 64 - b : left;
			uint64_t mask = (~UINT64_C(0) >> (64 - take)) << b; /* take is 1..64 */

			n += gm_popcount(*w & mask);
			if (op == GM_SCAV_CLEAR)
				*w &= ~mask;
			else if (op == GM_SCAV_SET)
				*w |= mask;
			w++;
			b = 0;
			left -= take;
		}
	}
	return n;
}

/* The first page index >= i below npages whose scavenged bit is set (or clear), else npages. */
static size_t gm_scav_next(uintptr_t start, size_t npages, size_t i, bool set)
{
	while (i < npages) {
		uintptr_t p = start + PAGES(i);
		size_t idx = (p >> GM_PAGE_SHIFT) & (GM_ARENA_PAGES - 1);
		uint64_t w = gm_arena_of(p)->scavenged[idx / 64];

		w = (set ? w : ~w) >> (idx % 64);
		if (w != 0) {
			i += (size_t)__builtin_ctzll(w);
			return i < npages ? i : npages;
		}
		i += 64 - idx % 64;
	}
	return npages;
}

/* The runs of pages of [start, start+npages) whose scavenged bit is clear. */
static void gm_dirty_runs(uintptr_t start, size_t npages, gm_dirty *d)
{
	size_t i = 0, j;

	d->n = 0;
	while ((i = gm_scav_next(start, npages, i, false)) < npages) {
		j = gm_scav_next(start, npages, i, true);
		if (d->n == GM_DIRTY_MAX) {
			/* Out of room: the last run reaches over the gap. */
			d->run[d->n - 1].npages = j - d->run[d->n - 1].first;
		} else {
			d->run[d->n].first = i;
			d->run[d->n].npages = j - i;
			d->n++;
		}
		i = j;
	}
}

/* Count, and clear if clear is set, the scavenged bits of a page range. */
static inline size_t gm_scav_bits(uintptr_t start, size_t npages, bool clear)
{
	return gm_scav_range(start, npages, clear ? GM_SCAV_CLEAR : GM_SCAV_COUNT);
}

/* Set the scavenged bits of a page range. */
static inline void gm_scav_set(uintptr_t start, size_t npages)
{
	gm_scav_range(start, npages, GM_SCAV_SET);
}

/* ---- Free lists ---- */

static inline size_t gm_free_index(size_t npages)
{
	return npages < GM_FREE_LISTS ? npages : 0;
}

static void gm_free_insert(gm_mspan *s)
{
	size_t i = gm_free_index(s->npages);

	s->prev = NULL;
	s->next = gm_heap.free[i];
	if (s->next != NULL)
		s->next->prev = s;
	gm_heap.free[i] = s;
	gm_heap.freemask[i / 64] |= UINT64_C(1) << (i % 64);
	s->onlist = (uint8_t)(i + 1);
}

static void gm_free_remove(gm_mspan *s)
{
	size_t i = (size_t)s->onlist - 1;

	gm_dassert(s->onlist != 0, "span not on a heap free list");
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		gm_heap.free[i] = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	if (gm_heap.free[i] == NULL)
		gm_heap.freemask[i / 64] &= ~(UINT64_C(1) << (i % 64));
	s->next = s->prev = NULL;
	s->onlist = 0;
}

/* A run that can hold npages aligned to align pages, or NULL. */
static gm_mspan *gm_free_find(size_t npages, size_t align)
{
	size_t need = npages + align - 1;
	size_t i;
	gm_mspan *s, *best = NULL;

	if (need < GM_FREE_LISTS) {
		for (i = need; i < GM_FREE_LISTS;) {
			uint64_t m = gm_heap.freemask[i / 64] >> (i % 64);

			if (m == 0) {
				i = (i / 64 + 1) * 64;
				continue;
			}
			i += (size_t)__builtin_ctzll(m);
			if (i >= GM_FREE_LISTS)
				break;
			return gm_heap.free[i];
		}
	}
	/* Runs of 128+ pages: best fit, ties to the lowest address. */
	for (s = gm_heap.free[0]; s != NULL; s = s->next) {
		if (s->npages < need)
			continue;
		if (best == NULL || s->npages < best->npages ||
		    (s->npages == best->npages && s->start < best->start))
			best = s;
	}
	return best;
}

/* ---- Growing ---- */

/* Create the metadata of the arena at base (64 MiB aligned). */
static bool gm_arena_new(uintptr_t base)
{
	gm_heaparena *ha = gm_sys_alloc(sizeof(gm_heaparena), &gm_stat_gc_sys);

	if (ha == NULL)
		return false;
	ha->base = base;
	gm_arenas[(base >> GM_ARENA_SHIFT) & (GM_ARENA_L2_ENTRIES - 1)] =
	    (uintptr_t)ha - (uintptr_t)&gm_arena_none;
	gm_heap.narenas++;
	if (__atomic_load_n(&gm_afirst.idx, __ATOMIC_RELAXED) == 0) {
		__atomic_store_n(&gm_afirst.fast, ha->fast, __ATOMIC_RELAXED);
		__atomic_store_n(&gm_afirst.idx, base >> GM_ARENA_SHIFT, __ATOMIC_RELEASE);
	}
	return true;
}

/* Reserve n bytes (a multiple of 64 MiB) of arena space, 64 MiB aligned. */
static uintptr_t gm_arena_reserve(size_t n)
{
	void *v;
	uintptr_t p;
	int tries;

	for (tries = 0; tries < 128 && gm_heap.arena_hint != 0; tries++) {
		uintptr_t hint = gm_heap.arena_hint;

		if (hint + n > ((uintptr_t)1 << GM_ADDR_BITS)) {
			gm_heap.arena_hint = 0;
			break;
		}
		v = gm_sys_reserve((void *)hint, n);
		if (v == (void *)hint) {
			gm_heap.arena_hint = hint + n;
			return hint;
		}
		if (v != NULL)
			gm_sys_free(v, n, NULL);
		/* Somebody lives there: try the next hint, like Go. */
		gm_heap.arena_hint =
		    (hint & ~(((uintptr_t)1 << 40) - 1)) + ((uintptr_t)1 << 40) + GM_HINT_BASE;
	}
	/* No hint worked: over-reserve and align. */
	v = gm_sys_reserve(NULL, n + GM_ARENA_SIZE);
	if (v == NULL)
		return 0;
	p = ((uintptr_t)v + GM_ARENA_SIZE - 1) & ~(GM_ARENA_SIZE - 1);
	if (p > (uintptr_t)v)
		gm_sys_free(v, p - (uintptr_t)v, NULL);
	if ((uintptr_t)v + n + GM_ARENA_SIZE > p + n)
		gm_sys_free((void *)(p + n), (uintptr_t)v + n + GM_ARENA_SIZE - (p + n), NULL);
	return p;
}

static void gm_free_coalesce_insert(gm_mspan *s);

/* Add at least npages pages to the heap (Go's mheap.grow); false on ENOMEM. */
static bool gm_heap_grow_locked(size_t npages)
{
	size_t ask = (PAGES(npages) + GM_HEAP_GROW - 1) & ~(GM_HEAP_GROW - 1);
	uintptr_t base;
	gm_mspan *s;

	if (ask < PAGES(npages))
		return false;
	if (gm_heap.cur_end - gm_heap.cur_base < ask) {
		size_t n = (ask + GM_ARENA_SIZE - 1) & ~(GM_ARENA_SIZE - 1);
		uintptr_t a, p;

		if (n < ask)
			return false;
		a = gm_arena_reserve(n);
		if (a == 0)
			return false;
		for (p = a; p < a + n; p += GM_ARENA_SIZE) {
			if (!gm_arena_new(p))
				return false;
		}
		if (GM_PROBE_ENABLED(arena_grow))
			GM_PROBE2(arena_grow, (void *)a, (uint64_t)n);
		if (a == gm_heap.cur_end) {
			gm_heap.cur_end = a + n;
		} else {
			/* The old remainder stays reserved and unused. */
			gm_heap.cur_base = a;
			gm_heap.cur_end = a + n;
		}
	}
	base = gm_heap.cur_base;
	if (gm_sys_map((void *)base, ask) != 0)
		return false;
	gm_heap.cur_base += ask;
	s = gm_fixalloc_alloc(&gm_heap.spanalloc);
	if (s == NULL)
		return false;
	s->start = base;
	s->npages = ask >> GM_PAGE_SHIFT;
	s->state = GM_SPAN_FREE;
	s->idle_since = 0;
	gm_scav_set(base, s->npages);
	atomic_fetch_add_explicit(&gm_stat_heap_sys, ask, memory_order_relaxed);
	gm_gauge_add(&gm_heap.idle, (int64_t)ask);
	gm_gauge_add(&gm_heap.released, (int64_t)ask);
	gm_free_coalesce_insert(s);
	return true;
}

/* ---- Allocation ---- */

/* A range to populate once the heap lock is dropped; n = 0 for none. */
typedef struct gm_populate {
	uintptr_t start;
	size_t n;
} gm_populate;

/*
 * Take [a, a+npages) out of the free run f; returns the in-use span, which
 * maps every page when all is set (small objects), else its ends only.  The
 * range's interior maps to NULL already: it was inside the free run.  If
 * d is not NULL, it gets the runs of pages that may hold old data.  If pw
 * is not NULL (a span whose every OS page the caller writes), it gets the
 * window to populate when the span's pages are all released.
 */
static gm_mspan *gm_carve_locked(gm_mspan *f, uintptr_t a, size_t npages, bool all, gm_dirty *d,
				 gm_populate *pw)
{
	uintptr_t fend = f->start + PAGES(f->npages), end = a + PAGES(npages);
	gm_mspan *left = NULL, *right = NULL;
	size_t scav;

	if (a > f->start) {
		left = gm_fixalloc_alloc(&gm_heap.spanalloc);
		if (left == NULL)
			return NULL;
	}
	if (end < fend) {
		right = gm_fixalloc_alloc(&gm_heap.spanalloc);
		if (right == NULL) {
			if (left != NULL)
				gm_fixalloc_free(&gm_heap.spanalloc, left);
			return NULL;
		}
	}
	gm_free_remove(f);
	if (left != NULL) {
		left->start = f->start;
		left->npages = (a - f->start) >> GM_PAGE_SHIFT;
		left->state = GM_SPAN_FREE;
		left->idle_since = f->idle_since;
		gm_set_free_ends(left);
		gm_free_insert(left);
	}
	if (right != NULL) {
		right->start = end;
		right->npages = (fend - end) >> GM_PAGE_SHIFT;
		right->state = GM_SPAN_FREE;
		right->idle_since = f->idle_since;
		gm_set_free_ends(right);
		gm_free_insert(right);
	}
	f->start = a;
	f->npages = npages;
	if (d != NULL)
		gm_dirty_runs(a, npages, d);
	scav = gm_scav_bits(a, npages, true);
	gm_sys_used((void *)a, PAGES(npages));
	if (pw != NULL && scav == npages) {
		size_t ahead = 0;

		if (right != NULL && npages < GM_POPULATE_PAGES &&
		    atomic_load_explicit(&gm_heap.inuse, memory_order_relaxed) >=
			GM_POPULATE_AHEAD_MIN) {
			size_t k = GM_POPULATE_PAGES - npages;

			/* The released pages at the start of the rest of the run. */
			ahead = gm_scav_next(right->start, right->npages < k ? right->npages : k, 0,
					     false);
			if (ahead != 0) {
				gm_scav_range(right->start, ahead, GM_SCAV_CLEAR);
				gm_gauge_add(&gm_heap.released, -(int64_t)PAGES(ahead));
				/* Resident from now: not idle long enough to release. */
				right->idle_since = gm_idle_clock();
			}
		}
		pw->start = a;
		pw->n = PAGES(npages + ahead);
	}
	f->needzero = scav != npages;
	gm_gauge_add(&gm_heap.released, -(int64_t)PAGES(scav));
	gm_heap.reused += PAGES(scav);
	gm_gauge_add(&gm_heap.idle, -(int64_t)PAGES(npages));
	gm_gauge_add(&gm_heap.inuse, (int64_t)PAGES(npages));
	if (atomic_load_explicit(&gm_heap.inuse, memory_order_relaxed) > gm_heap.peak_cur)
		gm_heap.peak_cur = atomic_load_explicit(&gm_heap.inuse, memory_order_relaxed);
	if (all)
		gm_set_spans(a, npages, f);
	else
		gm_set_free_ends(f);
	return f;
}

/*
 * Allocate npages pages aligned to align_pages with the heap lock held;
 * all: map every page (small objects), else the ends only (large).
 */
static gm_mspan *gm_mheap_alloc_locked(size_t npages, size_t align_pages, bool all, gm_dirty *d,
					gm_populate *pw)
{
	gm_mspan *f;
	uintptr_t a;

	if (align_pages == 0)
		align_pages = 1;
	f = gm_free_find(npages, align_pages);
	if (f == NULL) {
		if (npages + align_pages < npages || !gm_heap_grow_locked(npages + align_pages - 1))
			return NULL;
		f = gm_free_find(npages, align_pages);
		if (f == NULL)
			return NULL;
	}
	a = (f->start + PAGES(align_pages) - 1) & ~(PAGES(align_pages) - 1);
	return gm_carve_locked(f, a, npages, all, d, pw);
}

/*
 * Allocate a span of npages pages for spanclass (0 = large object), aligned
 * to align_pages pages (0 or 1 = any); d as in gm_carve_locked.  A large
 * span with sampclass holds one sampled block of that small class, counted
 * as one (mprof.c, "Sampled blocks"), not as a large object.  NULL when out
 * of memory.
 */
static gm_mspan *gm_mheap_alloc_common(size_t npages, uint8_t spanclass, size_t align_pages,
				       gm_dirty *d, uint8_t sampclass)
{
	gm_mspan *s;
	bool over_limit = false;
	uint64_t limit = atomic_load_explicit(&gm_heap.limit, memory_order_relaxed);

	/* Small classes up to an OS page: span_fresh writes every page. */
	gm_populate pw = {0, 0};
	bool populate = gm_opt.populate && spanclass != GM_SPANCLASS_LARGE &&
			gm_class_size[spanclass] <= 4096;

	gm_lock_acquire(&gm_heap.lock);
	s = gm_mheap_alloc_locked(npages, align_pages, spanclass != GM_SPANCLASS_LARGE, d,
				  populate ? &pw : NULL);
	if (s != NULL) {
		s->spanclass = spanclass;
		s->next = s->prev = NULL;
		s->freelist = NULL;
		s->nfree = 0;
		s->nparked = 0;
		s->parked = 0;
		__atomic_store_n(&s->owner, NULL, __ATOMIC_RELAXED);
		__atomic_store_n(&s->xfree, 0, __ATOMIC_RELAXED);
		s->sampclass = sampclass;
		if (spanclass == GM_SPANCLASS_LARGE) {
			s->state = GM_SPAN_LARGE;
			s->elemsize = sampclass != 0 ? gm_class_size[sampclass] : 0;
			s->nelems = 1;
			s->inv = 0;
			s->shift = 0;
			__atomic_store_n(&s->fastclass, 0, __ATOMIC_RELAXED);
			if (sampclass == 0)
				gm_count_large(&gm_heap.large_alloc, &gm_heap.large_alloc_count,
					       PAGES(npages));
		} else {
			s->state = GM_SPAN_EMPTY;
			s->elemsize = gm_class_size[spanclass];
			s->inv = gm_class_inv[spanclass];
			s->shift = gm_class_shift[spanclass];
			s->nelems = gm_class_nelems[spanclass];
			__atomic_store_n(&s->fastclass, gm_span_fastclass(s), __ATOMIC_RELAXED);
			gm_span_publish(s, false);
		}
		if (limit != 0) {
			over_limit = gm_heap_retained() > limit;
		}
	}
	gm_lock_release(&gm_heap.lock);
	if (pw.n != 0)
		gm_sys_populate((void *)pw.start, pw.n);
	if (over_limit) {
		/* Synchronous scavenging: stay under the soft memory limit. */
		uint64_t ready = gm_heap_retained();

		if (ready > limit)
			gm_mheap_scavenge(ready - limit, true);
	}
	return s;
}

/*
 * Allocate a span of npages pages for spanclass (0 = large object), aligned
 * to align_pages pages (0 or 1 = any).  NULL when out of memory.
 */
gm_mspan *gm_mheap_alloc(size_t npages, uint8_t spanclass, size_t align_pages)
{
	return gm_mheap_alloc_common(npages, spanclass, align_pages, NULL, 0);
}

/* A large span, with the runs of pages calloc must zero in *d. */
gm_mspan *gm_mheap_alloc_dirty(size_t npages, size_t align_pages, gm_dirty *d)
{
	return gm_mheap_alloc_common(npages, GM_SPANCLASS_LARGE, align_pages, d, 0);
}

/* The pages of one sampled block of small class c. */
gm_mspan *gm_mheap_alloc_sampled(unsigned c)
{
	size_t npages = (gm_class_size[c] + GM_PAGE_SIZE - 1) >> GM_PAGE_SHIFT;

	return gm_mheap_alloc_common(npages, GM_SPANCLASS_LARGE, 0, NULL, (uint8_t)c);
}

/* ---- Free ---- */

/* Merge s with free neighbours, then put it on a free list. */
static void gm_free_coalesce_insert(gm_mspan *s)
{
	gm_mspan *l, *r;

	if (s->start >= GM_PAGE_SIZE) {
		l = gm_span_at(s->start - GM_PAGE_SIZE);
		if (l != NULL && gm_span_state(l) == GM_SPAN_FREE && l->onlist != 0) {
			gm_free_remove(l);
			gm_span_set(s->start, NULL);
			gm_span_set(l->start + PAGES(l->npages - 1), NULL);
			gm_span_set(l->start, NULL);
			if (l->npages > s->npages)
				s->idle_since = l->idle_since;
			s->start = l->start;
			s->npages += l->npages;
			l->state = GM_SPAN_DEAD;
			gm_fixalloc_free(&gm_heap.spanalloc, l);
		}
	}
	r = gm_span_at(s->start + PAGES(s->npages));
	if (r != NULL && gm_span_state(r) == GM_SPAN_FREE && r->onlist != 0) {
		gm_free_remove(r);
		gm_span_set(s->start + PAGES(s->npages - 1), NULL);
		gm_span_set(r->start + PAGES(r->npages - 1), NULL);
		gm_span_set(r->start, NULL);
		if (r->npages > s->npages)
			s->idle_since = r->idle_since;
		s->npages += r->npages;
		r->state = GM_SPAN_DEAD;
		gm_fixalloc_free(&gm_heap.spanalloc, r);
	}
	gm_set_free_ends(s);
	gm_free_insert(s);
}

/*
 * How a span comes back: freed; from a thread's large cache (malloc.c),
 * whose free was counted when the block entered it; or with its pages
 * already given back to the OS (gm_sys_move left fresh ones), so they count
 * in HeapReleased at once.
 */
enum gm_heap_free_how { GM_HEAP_FREED, GM_HEAP_CACHED, GM_HEAP_MOVED };

/* Give span s back to the heap with the lock held. */
static void gm_mheap_free_locked_how(gm_mspan *s, enum gm_heap_free_how how)
{
	size_t i;

	gm_assert(__atomic_load_n(&s->xfree, __ATOMIC_RELAXED) == 0,
		  "span with an owner or thread-frees freed to the heap");
	if (s->spanclass != GM_SPANCLASS_LARGE)
		gm_span_publish(s, true);
	else if (how != GM_HEAP_CACHED && s->sampclass == 0)
		gm_count_large(&gm_heap.large_free, &gm_heap.large_free_count, PAGES(s->npages));
	s->sampclass = 0;
	gm_gauge_add(&gm_heap.inuse, -(int64_t)PAGES(s->npages));
	gm_gauge_add(&gm_heap.idle, (int64_t)PAGES(s->npages));
	if (s->parked != 0) {
		/* Pages released inside the span (mcentral.c made them whole
		 * 8 KiB pages): from inuse_released to released. */
		for (i = 0; i < s->npages; i++) {
			if (((s->parked >> (2 * i)) & 3) == 3) {
				gm_scav_set(s->start + PAGES(i), 1);
				gm_gauge_add(&gm_heap.released, (int64_t)GM_PAGE_SIZE);
			}
		}
		atomic_fetch_sub_explicit(&gm_heap.inuse_released,
					  (uint64_t)gm_popcount(s->parked) * 4096,
					  memory_order_relaxed);
		s->parked = 0;
		s->nparked = 0;
	}
	/* A free run maps at its ends only: interior pointers find nothing
	 * (a large object's span already does). */
	if (s->npages > 2 && s->spanclass != GM_SPANCLASS_LARGE)
		gm_set_spans(s->start + GM_PAGE_SIZE, s->npages - 2, NULL);
	s->state = GM_SPAN_FREE;
	s->spanclass = 0;
	__atomic_store_n(&s->fastclass, 0, __ATOMIC_RELAXED);
	s->idle_since = gm_idle_clock();
	gm_free_coalesce_insert(s);
}

/* Give span s back to the heap with the lock held. */
void gm_mheap_free_locked(gm_mspan *s)
{
	gm_mheap_free_locked_how(s, GM_HEAP_FREED);
}

/* Give span s back to the heap. */
static void gm_mheap_free_how(gm_mspan *s, enum gm_heap_free_how how)
{
	uintptr_t start = s->start;
	size_t npages = s->npages;
	bool wake = false;

	gm_lock_acquire(&gm_heap.lock);
	gm_mheap_free_locked_how(s, how);
	if (how == GM_HEAP_MOVED) {
		/* s may have merged with its neighbours: mark its own range. */
		size_t was = gm_scav_range(start, npages, GM_SCAV_SET);

		gm_gauge_add(&gm_heap.released, (int64_t)PAGES(npages - was));
	}
	/* Much idle resident memory and the scavenger in a long sleep: wake it. */
	if (atomic_load_explicit(&gm_scav.dozing, memory_order_relaxed)) {
		uint64_t idle = atomic_load_explicit(&gm_heap.idle, memory_order_relaxed) -
				atomic_load_explicit(&gm_heap.released, memory_order_relaxed);
		uint64_t inuse = atomic_load_explicit(&gm_heap.inuse, memory_order_relaxed);

		wake = idle > inuse / 10 + ((uint64_t)8 << 20);
	}
	gm_lock_release(&gm_heap.lock);
	if (wake)
		gm_scav_wake();
}

/* Give span s back to the heap. */
void gm_mheap_free(gm_mspan *s)
{
	gm_mheap_free_how(s, GM_HEAP_FREED);
}

/* Give back a large span from a thread's large cache (its free was counted). */
void gm_mheap_free_cached(gm_mspan *s)
{
	gm_mheap_free_how(s, GM_HEAP_CACHED);
}

/* Give back a large span whose pages gm_sys_move replaced with fresh ones. */
void gm_mheap_free_moved(gm_mspan *s)
{
	gm_mheap_free_how(s, GM_HEAP_MOVED);
}

/*
 * Resize the large span s in place to npages pages: shrink by freeing the
 * tail, grow by taking the free run right after it.  False if impossible.
 * s is the caller's block in use, whose size only the caller changes: the
 * same size needs no lock (a buffer grown a few bytes at a time by realloc
 * stays in its pages for 8 KiB of steps; the heap lock on each of them
 * made such a loop three times slower than glibc's).
 */
bool gm_mheap_try_resize(gm_mspan *s, size_t npages)
{
	bool ok = false;

	if (npages == s->npages)
		return true;
	gm_lock_acquire(&gm_heap.lock);
	if (npages < s->npages) {
		gm_mspan *t = gm_fixalloc_alloc(&gm_heap.spanalloc);

		if (t != NULL) {
			size_t tail = s->npages - npages;

			t->start = s->start + PAGES(npages);
			t->npages = tail;
			t->spanclass = 0;
			/* s's ends move: its old last page is t's last one. */
			gm_span_set(t->start + PAGES(tail - 1), NULL);
			s->npages = npages;
			gm_span_set(s->start + PAGES(npages - 1), s);
			/* TotalAlloc is cumulative: the tail counts as freed
			 * bytes (not as a free: the object lives on). */
			atomic_fetch_add_explicit(&gm_heap.large_free, PAGES(tail),
						  memory_order_release);
			gm_gauge_add(&gm_heap.inuse, -(int64_t)PAGES(tail));
			gm_gauge_add(&gm_heap.idle, (int64_t)PAGES(tail));
			t->state = GM_SPAN_FREE;
			t->idle_since = gm_idle_clock();
			gm_free_coalesce_insert(t);
			ok = true;
		}
	} else {
		uintptr_t end = s->start + PAGES(s->npages);
		gm_mspan *r = gm_span_at(end);
		size_t more = npages - s->npages;

		if (r != NULL && gm_span_state(r) == GM_SPAN_FREE && r->onlist != 0 &&
		    r->start == end && r->npages >= more) {
			gm_mspan *m = gm_carve_locked(r, end, more, false, NULL, NULL);

			if (m != NULL) {
				/* m is r's struct, now covering the pages we took,
				 * which join s's interior but for its new last one. */
				if (s->npages > 1)
					gm_span_set(end - GM_PAGE_SIZE, NULL);
				gm_span_set(end, NULL);
				gm_span_set(end + PAGES(more - 1), s);
				s->npages = npages;
				if (m->needzero)
					s->needzero = 1;
				gm_heap.large_alloc += PAGES(more);
				m->state = GM_SPAN_DEAD;
				gm_fixalloc_free(&gm_heap.spanalloc, m);
				ok = true;
			}
		}
	}
	gm_lock_release(&gm_heap.lock);
	return ok;
}

/* ---- Scavenging ---- */

/* The highest page of [start, start+npages) whose scavenged bit is clear, or 0. */
static uintptr_t gm_scav_highest_clear(uintptr_t start, size_t npages)
{
	size_t i = npages;

	while (i > 0) {
		uintptr_t p = start + PAGES(i - 1);
		gm_heaparena *ha = gm_arena_of(p);
		size_t idx = (p >> GM_PAGE_SHIFT) & (GM_ARENA_PAGES - 1);
		size_t w = idx / 64, b = idx % 64;
		size_t take = b + 1; /* bits b..0 of word w */
		uint64_t mask, clear;

		if (take > i)
			take = i;
		mask = (take == 64 ? ~UINT64_C(0) : ((UINT64_C(1) << take) - 1)) << (b + 1 - take);
		clear = ~ha->scavenged[w] & mask;
		if (clear != 0) {
			size_t hb = 63 - (size_t)__builtin_clzll(clear);

			return p - PAGES(b - hb);
		}
		i -= take;
	}
	return 0;
}

/* The scavenger's place: the run it works on, and an address to go below. */
static gm_mspan *gm_scav_hint;

/*
 * Find the highest free run with pages not yet released, and the range of
 * it to release: the 64 KiB unit holding its highest unreleased page,
 * widened to the whole 2 MiB huge page when the run covers it (so a huge
 * page is never split); when forced (young == UINT64_MAX), up to 4 MiB of
 * the run below that, in one call: a freed spike costs fewer calls and lock
 * round trips.  Returns false when none is left.
 */
static bool gm_scav_find_locked(gm_mspan **out, uintptr_t *lo, uintptr_t *hi, uint64_t young)
{
	gm_mspan *s = gm_scav_hint;
	uintptr_t p = gm_scav_cursor, q = 0;
	int restarts = 0;

	if (s != NULL && gm_span_state(s) == GM_SPAN_FREE && s->onlist != 0 &&
	    s->idle_since <= young)
		q = gm_scav_highest_clear(s->start, s->npages);
	while (q == 0) {
		gm_heaparena *ha;

		if (p == 0) {
			if (restarts++ > 0)
				return false;
			p = gm_heap.cur_base;
			if (p == 0)
				return false;
		}
		ha = gm_arena_of(p - 1);
		if (ha == NULL) {
			/* Down to the next lower arena that exists. */
			uintptr_t a = (p - 1) & ~(GM_ARENA_SIZE - 1);

			while (a >= GM_ARENA_SIZE && gm_arena_of(a - 1) == NULL)
				a -= GM_ARENA_SIZE;
			p = a >= GM_ARENA_SIZE ? a : 0;
			continue;
		}
		s = gm_spanref_get(ha->spans[((p - 1) >> GM_PAGE_SHIFT) & (GM_ARENA_PAGES - 1)]);
		if (s == NULL) {
			/* Unmapped, or inside a run that changed: one page down. */
			p -= GM_PAGE_SIZE;
			continue;
		}
		if (gm_span_state(s) == GM_SPAN_FREE && s->onlist != 0 && s->idle_since <= young)
			q = gm_scav_highest_clear(s->start, s->npages);
		p = s->start;
	}
	{
		uintptr_t end = s->start + PAGES(s->npages);
		uintptr_t u = q & ~(GM_SCAV_QUANTUM - 1), h = q & ~(GM_HUGE_PAGE - 1);

		*lo = u > s->start ? u : s->start;
		*hi = u + GM_SCAV_QUANTUM < end ? u + GM_SCAV_QUANTUM : end;
		if (h >= s->start && h + GM_HUGE_PAGE <= end) {
			*lo = h;
			*hi = h + GM_HUGE_PAGE;
		}
		if (young == UINT64_MAX) {
			/* Forced (a spike, the memory limit): the run below the
			 * highest unreleased page in one call, up to a bound, in
			 * whole huge pages where it starts inside one. */
			uintptr_t top = *hi, low = top - s->start > GM_SCAV_WHOLE
						       ? (top - GM_SCAV_WHOLE) & ~(GM_HUGE_PAGE - 1)
						       : s->start;

			*lo = low > s->start ? low : s->start;
		}
	}
	*out = s;
	gm_scav_hint = s;
	gm_scav_cursor = s->start + PAGES(s->npages);
	return true;
}

/* Most bytes a batch of the scavenger takes off the free lists at once. */
#define GM_SCAV_BATCH_BYTES ((uint64_t)16 << 20)

/*
 * Signals are blocked while a thread has a batch in flight or waits for
 * one (two system calls, beside a batch's madvise): a handler that forks
 * or allocates cannot run in between, where the fork would wait for a
 * batch its own thread cannot end, or a forked child would inherit counts
 * half updated or a wait nothing ends.  So a thread that looks at the
 * counts (between its batches, or forking) has no batch of its own in
 * flight and waits for none: every batch counted is another thread's.
 */
static void gm_scav_block(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
}

/*
 * With the heap lock held as me: sleep until a batch in flight ends, giving
 * the lock back meanwhile.  A batch's owner needs nothing but the heap lock
 * to end it (no handler runs on its thread meanwhile), and a waiter has
 * none of its own in flight, so no two wait on each other.
 */
static void gm_scav_await_locked(uint32_t me)
{
	uint32_t gen = __atomic_load_n(&gm_heap.scav_gen, __ATOMIC_RELAXED);
	sigset_t old;

	gm_scav_block(&old);
	gm_heap.scav_waiters++;
	gm_lock_release(&gm_heap.lock);
	gm_sys_wait_word(&gm_heap.scav_gen, gen);
	gm_lock_acquire_as(&gm_heap.lock, me);
	gm_heap.scav_waiters--;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Under the heap lock: whether another thread has a batch in flight. */
static bool gm_scav_others_busy(void)
{
	return gm_heap.scav_busy != 0;
}

/*
 * Release at least want bytes of free pages to the OS, top down, and return
 * how many were released.  Unless force is set, runs that became idle less
 * than GOMEMDEBUG scavage (150 ms) ago are skipped: they are likely to be
 * reused, and faulting them back in costs more than keeping them.  Takes and drops gm_heap.lock;
 * madvise runs without it, for a batch of up to GM_UNUSED_BATCH runs and
 * GM_SCAV_BATCH_BYTES at a time (one system call where the kernel allows,
 * gm_unused_flush): the runs are off the free lists meanwhile, so an
 * allocation then grows the heap rather than wait.  A forced call that finds
 * no run left while another thread's batch is in flight waits for it to end
 * and counts what it released: without that, a program over its memory
 * limit, or one that has just asked for everything back, would read idle
 * memory not yet released on return (madvise of 16 MiB takes milliseconds).
 */
size_t gm_mheap_scavenge(size_t want, bool force)
{
	size_t done = 0, others = 0;
	uint64_t t0 = gm_nanotime(), now = gm_idle_clock();
	/* Runs idle since after this are left alone, unless forced (none has
	 * been idle longer than the machine has been up). */
	uint64_t young = force ? UINT64_MAX : now < gm_opt.scav_age_ns ? 0 : now - gm_opt.scav_age_ns;
	gm_unused_batch batch;
	sigset_t sigs;
	struct {
		gm_mspan *s;
		uintptr_t lo;
		size_t npages, nunscav;
	} run[GM_UNUSED_BATCH];

	batch.n = 0;
	gm_lock_acquire(&gm_heap.lock);
	while (done + others < want && !gm_heap.scav_fork) {
		size_t i, n, pending = 0;

		for (n = 0; n < GM_UNUSED_BATCH && done + others + pending < want &&
			    pending < GM_SCAV_BATCH_BYTES;
		     n++) {
			gm_mspan *s;
			uintptr_t lo, hi;
			size_t npages;

			if (!gm_scav_find_locked(&s, &lo, &hi, young))
				break;
			npages = (hi - lo) >> GM_PAGE_SHIFT;
			run[n].s = s;
			run[n].lo = lo;
			run[n].npages = npages;
			run[n].nunscav = npages - gm_scav_bits(lo, npages, false);
			pending += PAGES(run[n].nunscav);
			/* Off the free lists while madvise runs unlocked. */
			gm_free_remove(s);
			gm_unused_add(&batch, (void *)lo, hi - lo);
		}
		if (n == 0) {
			uint64_t before, after;

			if (!force || !gm_scav_others_busy())
				break;
			before = gm_heap.scav_done;
			gm_scav_await_locked(gm_lock_token());
			after = gm_heap.scav_done;
			others += after - before;
			continue;
		}
		gm_scav_block(&sigs);
		gm_heap.scav_busy++;
		gm_lock_release(&gm_heap.lock);
		gm_unused_flush(&batch);
		gm_lock_acquire(&gm_heap.lock);
		gm_heap.scav_busy--;
		__atomic_store_n(&gm_heap.scav_gen, gm_heap.scav_gen + 1, __ATOMIC_RELAXED);
		if (gm_heap.scav_waiters != 0)
			gm_sys_wake_word(&gm_heap.scav_gen);
		pthread_sigmask(SIG_SETMASK, &sigs, NULL);
		for (i = 0; i < n; i++) {
			gm_mspan *s = run[i].s;

			gm_scav_set(run[i].lo, run[i].npages);
			gm_gauge_add(&gm_heap.released, (int64_t)PAGES(run[i].nunscav));
			gm_span_set(s->start, NULL);
			gm_span_set(s->start + PAGES(s->npages - 1), NULL);
			gm_free_coalesce_insert(s);
			done += PAGES(run[i].nunscav);
			gm_heap.scav_done += PAGES(run[i].nunscav);
		}
	}
	if (done == 0) {
		gm_scav_cursor = 0;
		gm_scav_hint = NULL;
	}
	gm_scav.released_total += done;
	gm_lock_release(&gm_heap.lock);
	if (done != 0 && GM_PROBE_ENABLED(scavenge))
		GM_PROBE2(scavenge, (uint64_t)done, gm_nanotime() - t0);
	return done;
}

/* ---- Checking ---- */

/*
 * Walk every arena and check the invariants listed at the top of this file.
 * Returns 0, or -1 with a reason in why.  Takes the heap lock.
 */
int gm_mheap_check(char *why, size_t whylen)
{
	uint64_t inuse = 0, idle = 0, released = 0;
	size_t ai;
	int rc = 0;

#define GM_CHECK_FAIL(msg)                                                                         \
	do {                                                                                       \
		strncpy(why, msg, whylen - 1);                                                     \
		why[whylen - 1] = 0;                                                               \
		rc = -1;                                                                           \
		goto out;                                                                          \
	} while (0)

	gm_lock_acquire(&gm_heap.lock);
	for (ai = 0; ai < GM_ARENA_L2_ENTRIES; ai++) {
		gm_heaparena *ha = gm_arena_at(ai);
		size_t pg = 0;
		bool prev_free = false;

		if (gm_arenas[ai] == 0)
			continue;
		while (pg < GM_ARENA_PAGES) {
			gm_mspan *s = gm_spanref_get(ha->spans[pg]);
			uintptr_t p = ha->base + PAGES(pg);
			size_t i;

			if (s == NULL) {
				pg++;
				prev_free = false;
				continue;
			}
			if (s->start < p && s->start + PAGES(s->npages) > p) {
				/* The tail of a span that began in a lower arena. */
				pg = (s->start + PAGES(s->npages) - ha->base) >> GM_PAGE_SHIFT;
				prev_free = gm_span_state(s) == GM_SPAN_FREE && s->onlist != 0;
				continue;
			}
			if (s->start != p)
				GM_CHECK_FAIL("span map entry does not start its span");
			if (gm_span_state(s) == GM_SPAN_FREE) {
				if (prev_free && s->onlist != 0) {
					char *w = why;
					size_t k = whylen;

					if (k > 60) {
						memcpy(w, "two adjacent free runs at ", 26);
						gm_fmt_hex(w + 26, s->start);
						rc = -1;
						goto out;
					}
					GM_CHECK_FAIL("two adjacent free runs");
				}
				idle += PAGES(s->npages);
				released += PAGES(gm_scav_bits(s->start, s->npages, false));
				for (i = 1; i + 1 < s->npages; i++) {
					if (gm_span_at(p + PAGES(i)) != NULL)
						GM_CHECK_FAIL("free run has an interior map entry");
				}
				if (gm_span_at(p + PAGES(s->npages - 1)) != s)
					GM_CHECK_FAIL("free run does not map its last page");
				for (i = 0; i < s->npages; i++) {
					if (gm_fast_at(p + PAGES(i)) != 0)
						GM_CHECK_FAIL(
						    "free run has a free page-table entry");
				}
				prev_free = s->onlist != 0;
			} else if (gm_span_state(s) == GM_SPAN_DEAD) {
				GM_CHECK_FAIL("span map points at a dead span");
			} else {
				/* A large object's span maps at its ends only. */
				gm_mspan *inside = s->spanclass == GM_SPANCLASS_LARGE ? NULL : s;

				for (i = 1; i + 1 < s->npages; i++) {
					if (gm_span_at(p + PAGES(i)) != inside)
						GM_CHECK_FAIL(
						    "in-use span interior page maps elsewhere");
				}
				if (gm_span_at(p + PAGES(s->npages - 1)) != s)
					GM_CHECK_FAIL("in-use span does not map its last page");
				if (gm_scav_bits(s->start, s->npages, false) != 0)
					GM_CHECK_FAIL("in-use span has scavenged pages");
				/* The profiler may be changing fastclass (its lock, not
				 * ours): the class byte is the span's class or 0; an
				 * owner's code may come or go (mcentral's lock): none,
				 * or 8 bits set. */
				for (i = 0; i < s->npages; i++) {
					uintptr_t e = gm_fast_at(p + PAGES(i));
					uintptr_t code = e & GM_FAST_CODE_MASK;

					e &= ~GM_FAST_CODE_MASK;
					if (inside == NULL ? e != 0 || code != 0
							   : (e & ~(uintptr_t)0xff) != s->start ||
								 ((e & 0xff) != 0 &&
								  (e & 0xff) != s->spanclass) ||
								 (code != 0 &&
								  __builtin_popcountll(code) != 8))
						GM_CHECK_FAIL(
						    "free's page table disagrees with a span");
				}
				inuse += PAGES(s->npages);
				prev_free = false;
			}
			/* Spans may cross into the next arena. */
			if (s->start + PAGES(s->npages) > ha->base + GM_ARENA_SIZE)
				break;
			pg += s->npages;
		}
	}
	if (inuse != atomic_load(&gm_heap.inuse))
		GM_CHECK_FAIL("inuse gauge differs from the span walk");
	if (idle != atomic_load(&gm_heap.idle))
		GM_CHECK_FAIL("idle gauge differs from the span walk");
	if (released != atomic_load(&gm_heap.released))
		GM_CHECK_FAIL("released gauge differs from the span walk");
	if (inuse + idle != atomic_load(&gm_stat_heap_sys))
		GM_CHECK_FAIL("HeapSys != inuse + idle");
out:
	gm_lock_release(&gm_heap.lock);
	return rc;
#undef GM_CHECK_FAIL
}

/*
 * Before fork, with the heap lock held by the handler (GM_LOCK_FORK): let the
 * batches other threads have in flight end, so that their runs are back on
 * the free lists the child inherits (else it would never reuse or release
 * them).  No batch starts meanwhile (scav_fork: a release in progress
 * returns what it has done), so the fork waits for at most the rest of one
 * batch per such thread.
 */
void gm_mheap_fork_settle(void)
{
	gm_heap.scav_fork = true;
	while (gm_scav_others_busy())
		gm_scav_await_locked(GM_LOCK_FORK);
	gm_heap.scav_fork = false;
}

/*
 * In a forked child: the heap lock may have been held by the parent's fork
 * (mine: by the code a signal handler interrupted, which gives it back).
 * No batch is in flight and no thread waits (the forking thread had none:
 * see gm_scav_block); should one of the parent's have been (the settle is
 * skipped when the lock is mine), its runs stay off the lists, but no one
 * waits for it.
 */
GM_FORK_CHILD void gm_mheap_fork_child(bool mine)
{
	if (!mine)
		gm_lock_reset(&gm_heap.lock);
	gm_fork_clear(gm_heap.scav_busy);
	gm_fork_clear(gm_heap.scav_waiters);
	gm_fork_clear(gm_heap.scav_fork);
}
