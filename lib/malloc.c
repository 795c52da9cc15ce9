/*
 * malloc.c: the allocation and free paths.
 *
 * See internal.h for the overview.  The fast paths (gm_malloc for 0..1016
 * bytes, gm_free of a small object) touch only the thread's
 * mcache, the span's read-only fields and the object: no lock, no atomic
 * read-modify-write.
 *
 * Double frees.  Free reads nothing of the object (its line is often cold
 * there, in a thread that did not allocate it): it stores the link in word
 * 0, XORed with the per-process tag (gm_link_tag, internal.h), so the link
 * is the key.  Malloc reads the link of the object it pops anyway; it
 * checks that it decodes to an address (top 16 bits clear) and leaves 0
 * there.  So an object pushed twice is found when it is popped the second
 * time, at the malloc of its class that would hand it out again (or when
 * its list goes back to mcentral, gm_mcache_release, at the latest at
 * thread exit), unless the program stored in its word 0 meanwhile a value
 * whose top 16 bits are the tag's.  The key costs no word beside the link:
 * stores and loads there cost larson and glibc-thread 8-10% on this AMD
 * EPYC (bench/README).  Free itself finds free(p); free(p), p being the
 * head of the thread's list.
 * Pointers that are not the start of an object of an in-use span are
 * refused at free.  All end the process with a message naming the pointer.
 */
#include "malloc_fast.h"

#include <errno.h>
#include <string.h>

static bool gm_is_object_start(const gm_mspan *s, uintptr_t p);

uint64_t gm_link_secret;
/* Set at init (init.c); see internal.h. */
struct gm_link_tag_line gm_link_tag_line = {.tag = (uintptr_t)0x5a3c << GM_LINK_TAG_SHIFT};
const uintptr_t gm_link_hibits = ~(uintptr_t)0 << GM_LINK_TAG_SHIFT;

/*
 * The next block after slot on a safelink list of span class c: its masked
 * link decoded, which must be NULL or the start of an object of an in-use
 * span of the class; else the list is corrupt (a write into the free block
 * at slot, an overflow from its neighbour or a use after free) and the
 * process ends with a message naming slot.
 */
/* Can n, a decoded safelink link, be one: NULL or an object of class c in use? */
static bool gm_link_valid(uintptr_t n, unsigned c)
{
	const gm_mspan *s;
	unsigned st;

	if (n == 0)
		return true;
	s = gm_span_of(n);
	if (s == NULL || s->spanclass != c || n % 8 != 0)
		return false;
	st = gm_span_state(s);
	return (st == GM_SPAN_PARTIAL || st == GM_SPAN_EMPTY) && gm_is_object_start(s, n);
}

void *gm_link_next(const void *slot, unsigned c)
{
	uintptr_t n = *(const uintptr_t *)slot ^ gm_link_mask(slot);

	if (!gm_link_valid(n, c))
		gm_throw_ptr("gomem: corrupted free list: bad link in the free block at", slot);
	return (void *)n;
}

/* Pop an object of span class c from mc, refilling if needed (n bytes asked). */
static inline void *gm_small_alloc(gm_mcache *mc, unsigned c, size_t n)
{
	bool safe = gm_opt.safelink;
	void *p;

	if (gm_unlikely(mc == &gm_empty_mcache)) {
		/* The thread's first allocation: its cache may be an exited
		 * thread's, lists and all (mcache.c, "Orphans"). */
		mc = gm_mcache_create();
		if (gm_unlikely(mc == NULL)) {
			errno = ENOMEM;
			return NULL;
		}
	}
	p = safe ? mc->sfree[c] : mc->free[c];
	if (gm_likely(p != NULL)) {
		if (gm_unlikely(safe)) {
			mc->sfree[c] = gm_link_next(p, c);
			mc->sroom[c]++;
		} else {
			mc->free[c] = gm_link_take(p);
			mc->room[c]++;
		}
	} else {
		p = gm_mcache_refill(mc, c);
		if (gm_unlikely(p == NULL)) {
			errno = ENOMEM;
			return NULL;
		}
	}
	*(uintptr_t *)p = 0;
	gm_stat_inc(&mc->stats.nmalloc[c]);
	return gm_prof_account(mc, p, n);
}

/*
 * Zeroing a reused large block for calloc.  A memset writes every byte; the
 * lazy way gives the pages back to the OS, which maps a zero page on each
 * one's next touch: a system call, then a page fault per page the program
 * touches, nothing for pages it never touches.  Which is cheaper depends on
 * the block's size, on how much of it the program touches and on what a
 * system call and a memset cost on this machine, which differ by ten times
 * and more between machines: a madvise took 1-2 us where this was first
 * measured, and takes 6-150 us on a paravirtualized guest (150 when it must
 * flush another CPU's TLB), where a memset of 1 MiB in cache takes 8 us.
 * So all of them are measured:
 *
 *   - the fraction of its pages the program touches, with mincore when a
 *     block zeroed the lazy way is freed (one in 8; the first 64 KiB of one
 *     memset block in 256 or more, see gm_zero_every, is zeroed lazily to
 *     keep measuring), a running average;
 *   - the time of a madvise of a whole block (gm_nanotime around it: 30 ns
 *     against microseconds), of a page fault, and of a memset per byte
 *     (gm_zero_calibrate), running figures that follow the fast samples
 *     (gm_zero_learn).  The first reused block, and one in 4096 or more
 *     after, is zeroed the lazy way to time the call, and its last 64 KiB
 *     is written twice: the first memset takes its faults, the second
 *     times the memset.  The lazy probe of memset mode is timed too, so a figure that
 *     a slow moment pushed up comes back down.
 *
 * The lazy way costs a madvise plus a fault per touched page (one at
 * least); the memset costs its rate times the size.  The cheaper wins.
 * Measured here (bench/README, "Large calloc"): a madvise of 1 MiB with
 * one page resident 0.7 us, with all 256 resident 33 us, a write fault
 * 0.8 us, a memset of 1 MiB 15 us; so the lazy way wins below about one
 * page in twenty touched.  Pages released already (fresh, or scavenged)
 * are never zeroed at all (needzero).
 */
#define GM_LAZY_ZERO_MIN ((size_t)256 << 10) /* smaller blocks: memset */
#define GM_LAZY_PROBE	 ((size_t)64 << 10)
#define GM_TOUCH_ONE	 65536 /* gm_touch_avg's unit: 1 = all pages touched */
#define GM_ZERO_RETIME	 4096  /* blocks between two timings, at least */
#define GM_ZERO_PROBE	 256   /* memset blocks between two lazy probes, at least */
#define GM_ZERO_SHARE	 100   /* learning may cost 1/100 of the memsets */
#define GM_ZERO_EVERY_MAX 65536 /* but one step in this many blocks at least */

static _Atomic uint32_t gm_touch_avg; /* fraction touched, running average */
static _Atomic uint32_t gm_lazy_tick;
static _Atomic uint32_t gm_retime_tick; /* tick of the last timing; 0 = none yet */
static _Atomic uint32_t gm_probe_tick;	/* tick of the last lazy probe */
static _Atomic uint64_t gm_zero_call_ns;  /* a madvise, running figure; 0 = unknown */
static _Atomic uint64_t gm_zero_fault_ns; /* a fault of a released page; 0 = unknown */
static _Atomic uint64_t gm_zero_byte_fns; /* a memset's ns per 2^20 bytes; 0 = unknown */

/*
 * Fold the sample x into the running figure *avg (the first sample taken
 * whole): a faster sample halves the distance, a slower one moves it by
 * 1/16, and by a quarter of the figure at most.  So the figure follows the
 * fast end: a call that lost its CPU midway, or waited for another CPU to
 * flush its TLB, is not the call's cost.  Without the bound one such call
 * (150 us against 0.7) put calloc(1 MiB) untouched into memset mode for
 * thousands of blocks: 0.2-0.27 s for 20000 of them where the lazy way
 * takes 0.054.
 */
void gm_zero_learn(_Atomic uint64_t *avg, uint64_t x)
{
	uint64_t a = atomic_load_explicit(avg, memory_order_relaxed);

	if (a == 0)
		a = x;
	else if (x < a)
		a = (a + x) / 2;
	else
		a += (x - a) / 16 < a / 4 ? (x - a) / 16 : a / 4;
	atomic_store_explicit(avg, a | 1, memory_order_relaxed);
}

/* Give [v, v+n) back to the OS, timed; false if it could not. */
static bool gm_zero_lazy(void *v, size_t n)
{
	uint64_t t0 = gm_nanotime();

	if (!gm_sys_zero(v, n))
		return false;
	gm_zero_learn(&gm_zero_call_ns, gm_nanotime() - t0);
	return true;
}

/*
 * Zero the GM_LAZY_PROBE bytes at v, just given back to the OS, twice, each
 * timed: the first takes a fault per page, the second is the memset alone.
 * A memset over pages the lazy way gave back costs their faults, which is
 * that way's cost, not the memset's: timing calloc's own memsets learnt
 * 3.7 ms per MiB after one lazy block, where the memset takes 8 us, and
 * then never saw another memset.
 */
static void gm_zero_calibrate(void *v)
{
	uint64_t t0, t1, t2;

	t0 = gm_nanotime();
	memset(v, 0, GM_LAZY_PROBE);
	t1 = gm_nanotime();
	memset(v, 0, GM_LAZY_PROBE);
	t2 = gm_nanotime();
	gm_zero_learn(&gm_zero_byte_fns, ((t2 - t1) << 20) / GM_LAZY_PROBE);
	if (t1 - t0 > t2 - t1)
		gm_zero_learn(&gm_zero_fault_ns,
			      ((t1 - t0) - (t2 - t1)) / (GM_LAZY_PROBE / gm_os_page_size()));
}

/*
 * Is n bytes cheaper to zero the lazy way, as far as it has been measured?
 *
 * Trying the lazy way now and then in memset mode, to time the call again,
 * was tried and dropped: the memset of the next block faults every page
 * the lazy one gave back (one block in 16 made calloc(1 MiB) untouched 195
 * us a call, where memset mode takes 10).  The two ways keep the pages in
 * different states, so switching costs more than either.
 */
static bool gm_zero_lazily(size_t n)
{
	uint64_t call = atomic_load_explicit(&gm_zero_call_ns, memory_order_relaxed);
	uint64_t fault = atomic_load_explicit(&gm_zero_fault_ns, memory_order_relaxed);
	uint64_t rate = atomic_load_explicit(&gm_zero_byte_fns, memory_order_relaxed);
	uint64_t f = atomic_load_explicit(&gm_touch_avg, memory_order_relaxed);
	uint64_t faults = f * (n / gm_os_page_size()) / GM_TOUCH_ONE;

	if (call == 0 || fault == 0 || rate == 0 || n < GM_LAZY_ZERO_MIN)
		return false;
	/* At least one fault: a program touches what it callocs, mostly from
	 * the start, and the touch measure looks at the first 64 pages. */
	return call + (faults > 0 ? faults : 1) * fault < (rate * (uint64_t)(n >> 10)) >> 10;
}

/*
 * How many blocks apart two learning steps of calloc's zeroing (of n
 * bytes, pages of them given back) go: at least base, and in memset mode
 * far enough apart that a step costs under 1/GM_ZERO_SHARE of the memsets
 * between two steps.  There a step costs its call (call ns) and a fault
 * (fault ns) on each page it gives back, touched or not: the next memset
 * of the block (rate ns a MiB) writes them all.  A fault costs 0.8 us on
 * one machine and 9 us on another (a paravirtualized guest, where a memset
 * of 1 MiB takes 7 us): there a timing every 4096 blocks faulted 256
 * pages, 2.3 ms, and the probe every 256 blocks 16 pages, 0.14 ms;
 * calloc(1 MiB) took 16-21% longer than glibc's, untouched or written.
 */
uint64_t gm_zero_every(uint64_t base, uint64_t call, uint64_t fault, uint64_t rate, size_t n,
		       size_t pages)
{
	uint64_t block = (rate * (uint64_t)(n >> 10)) >> 10, every = base;

	if (block > 0 && (call + pages * fault) * GM_ZERO_SHARE / block > every)
		every = (call + pages * fault) * GM_ZERO_SHARE / block;
	return every < GM_ZERO_EVERY_MAX ? every : GM_ZERO_EVERY_MAX;
}

/*
 * Is it time, at tick, for a learning step the last of which was at
 * *last (0: none yet)?  Every base blocks in lazy mode (lazily), where a
 * step costs little more than the block's own zeroing; gm_zero_every's
 * spacing in memset mode.  If it is, the step is the caller's: *last
 * becomes tick.
 */
static bool gm_zero_due(_Atomic uint32_t *last, uint32_t tick, uint32_t base, size_t n,
			size_t pages, bool lazily)
{
	uint32_t l = atomic_load_explicit(last, memory_order_relaxed);
	uint64_t every = base;

	if (l != 0 && !lazily)
		every = gm_zero_every(base,
				      atomic_load_explicit(&gm_zero_call_ns, memory_order_relaxed),
				      atomic_load_explicit(&gm_zero_fault_ns, memory_order_relaxed),
				      atomic_load_explicit(&gm_zero_byte_fns, memory_order_relaxed),
				      n, pages);
	if (l != 0 && tick - l < every)
		return false;
	atomic_store_explicit(last, tick, memory_order_relaxed);
	return true;
}

/*
 * Zero the first n bytes of the freshly allocated large span s, whose
 * pages outside the runs in d read as zero already (fresh, or released to
 * the OS): a block carved from a partly scavenged run zeroes, and faults
 * in, only the part that held data.
 */
static void gm_large_zero(gm_mspan *s, size_t n, const gm_dirty *d)
{
	size_t ps = gm_os_page_size(), whole = (n + ps - 1) & ~(ps - 1), i;
	uint32_t tick;
	bool lazily;

	if (d->n != 1 || d->run[0].first != 0 || (d->run[0].npages << GM_PAGE_SHIFT) < n) {
		for (i = 0; i < d->n; i++) {
			size_t a = d->run[i].first << GM_PAGE_SHIFT;
			size_t e = a + (d->run[i].npages << GM_PAGE_SHIFT);

			if (a >= n)
				break;
			if (gm_zero_lazily(e - a) && gm_zero_lazy((void *)(s->start + a), e - a))
				continue;
			memset((void *)(s->start + a), 0, (e < n ? e : n) - a);
		}
		return;
	}
	if (n < GM_LAZY_ZERO_MIN) {
		memset((void *)s->start, 0, n);
		return;
	}
	tick = atomic_load_explicit(&gm_lazy_tick, memory_order_relaxed) + 1;
	if (tick == 0) /* 0 is "never" for the last steps' ticks */
		tick = 1;
	atomic_store_explicit(&gm_lazy_tick, tick, memory_order_relaxed);
	lazily = gm_zero_lazily(n);
	if (gm_zero_due(&gm_retime_tick, tick, GM_ZERO_RETIME, n, whole / ps, lazily)) {
		/* Time both ways (the span covers whole pages). */
		if (gm_zero_lazy((void *)s->start, whole)) {
			gm_zero_calibrate((void *)(s->start + whole - GM_LAZY_PROBE));
			return;
		}
	} else if (lazily) {
		if (gm_zero_lazy((void *)s->start, whole)) {
			/* Measuring one block in 8 is enough to follow a change
			 * (all of the first few: the figure starts at 0). */
			if (tick % 8 == 0 || tick < 8)
				s->lazyzero = 64;
			return;
		}
	} else if (gm_zero_due(&gm_probe_tick, tick, GM_ZERO_PROBE, n, GM_LAZY_PROBE / ps,
			       false) &&
		   gm_zero_lazy((void *)s->start, GM_LAZY_PROBE)) {
		s->lazyzero = (uint8_t)(GM_LAZY_PROBE / ps < 64 ? GM_LAZY_PROBE / ps : 64);
		memset((void *)(s->start + GM_LAZY_PROBE), 0, n - GM_LAZY_PROBE);
		return;
	}
	memset((void *)s->start, 0, n);
}

/* The large span s, zeroed the lazy way, is being freed: how much was touched? */
static void gm_large_zero_measure(gm_mspan *s)
{
	size_t looked, res = gm_sys_resident((void *)s->start,
					     (size_t)s->lazyzero * gm_os_page_size(), &looked);
	uint32_t avg = atomic_load_explicit(&gm_touch_avg, memory_order_relaxed);

	s->lazyzero = 0;
	if (looked == 0)
		return;
	avg = (uint32_t)((avg * 7 + res * GM_TOUCH_ONE / looked) / 8);
	atomic_store_explicit(&gm_touch_avg, avg, memory_order_relaxed);
}

/*
 * The large cache: a thread keeps the last large block it freed, of at
 * most GM_LCACHE_MAX bytes and of as many pages as its last large malloc
 * (a loop that allocates and frees one size: blocks of other sizes, as a
 * growing buffer leaves behind, coalesce in the heap, where a neighbour may
 * grow into them), for its next malloc of the same number of pages.  A
 * program that allocates and frees a big buffer in a loop (glibc serves
 * it from the top of its heap) then skips the page heap's lock,
 * coalescing and carving.  The block's free is counted when it enters the
 * cache and its malloc when it leaves, so MemStats stay exact; its pages
 * stay in HeapInuse meanwhile, like the objects on a thread's lists.  The
 * span is GM_SPAN_CACHED there, so a second free or a realloc of the block
 * is still caught.  The owner sets mc->lcache; the owner and the scavenger
 * take it with an exchange (gm_lcache_drain_all, after a spike or under
 * memory pressure); thread exit and fork give it back (with the rest of
 * the thread's cache, gm_mcache_release_all).  Blocks the profile
 * sampled are forgotten by it first; aligned blocks take no cached span,
 * and calloc zeroes the one it takes as a reused block from the heap (a
 * loop of calloc and free of one size then stays on one block, where it
 * alternated between two, the cached one and a new one from the heap).
 */
#define GM_LCACHE_MAX ((size_t)4 << 20)

/* A span of npages pages from the thread's large cache, or NULL. */
static inline gm_mspan *gm_lcache_take(gm_mcache *mc, size_t npages)
{
	gm_mspan *s = __atomic_load_n(&mc->lcache, __ATOMIC_RELAXED);

	/* Only the owner sets it, so the exchange finds s or NULL (taken). */
	if (s == NULL || mc->lcache_npages != npages ||
	    __atomic_exchange_n(&mc->lcache, NULL, __ATOMIC_ACQUIRE) != s)
		return NULL;
	gm_count_large(&gm_heap.large_alloc, &gm_heap.large_alloc_count,
		       (uint64_t)npages << GM_PAGE_SHIFT);
	gm_span_set_state(s, GM_SPAN_LARGE);
	return s;
}

/*
 * Keep the freed large span s (its samples forgotten) in the thread's
 * cache, giving back the one there before; false if s does not fit.
 */
static bool gm_lcache_put(gm_mspan *s)
{
	gm_mcache *mc = gm_tls_mcache;
	uint64_t bytes = (uint64_t)s->npages << GM_PAGE_SHIFT;

	if (bytes > GM_LCACHE_MAX || mc == &gm_empty_mcache || s->npages != mc->lcache_want)
		return false;
	gm_span_set_state(s, GM_SPAN_CACHED);
	gm_count_large(&gm_heap.large_free, &gm_heap.large_free_count, bytes);
	mc->lcache_npages = s->npages;
	s = __atomic_exchange_n(&mc->lcache, s, __ATOMIC_ACQ_REL);
	if (s != NULL)
		gm_mheap_free_cached(s);
	return true;
}

/* Give the thread's cached large span back to the heap (exit, fork). */
void gm_lcache_release(gm_mcache *mc)
{
	gm_mspan *s = __atomic_exchange_n(&mc->lcache, NULL, __ATOMIC_ACQUIRE);

	if (s != NULL)
		gm_mheap_free_cached(s);
}

/* Take every thread's cached large span back (the scavenger). */
void gm_lcache_drain_all(void)
{
	gm_mspan *list = NULL, *s;
	gm_mcache *mc;

	gm_mutex_lock(&gm_registry_.lock);
	for (mc = gm_registry_.head; mc != NULL; mc = mc->rnext) {
		s = __atomic_exchange_n(&mc->lcache, NULL, __ATOMIC_ACQUIRE);
		if (s != NULL) {
			s->next = list;
			list = s;
		}
	}
	gm_mutex_unlock(&gm_registry_.lock);
	/* The heap's lock comes before the registry's: give back after. */
	while ((s = list) != NULL) {
		list = s->next;
		gm_mheap_free_cached(s);
	}
}

/* Pages for a large object; align_pages 0 = any alignment. */
static void *gm_large_alloc(size_t n, size_t align_pages, bool zero)
{
	gm_mspan *s;
	size_t npages;
	gm_dirty dirty;

	gm_ensure_init();
	if (gm_unlikely(n > ((size_t)1 << GM_ADDR_BITS))) {
		errno = ENOMEM;
		return NULL;
	}
	gm_scav_poke();
	npages = (n + GM_PAGE_SIZE - 1) >> GM_PAGE_SHIFT;
	if (align_pages <= 1 && (s = gm_lcache_take(gm_tls_mcache, npages)) != NULL) {
		/* The block was in use: every page of it may hold data. */
		if (zero) {
			dirty.n = 1;
			dirty.run[0].first = 0;
			dirty.run[0].npages = npages;
			gm_large_zero(s, n, &dirty);
		}
		return gm_prof_account(gm_tls_mcache, (void *)s->start, n);
	}
	s = zero ? gm_mheap_alloc_dirty(npages, align_pages, &dirty)
		 : gm_mheap_alloc(npages, GM_SPANCLASS_LARGE, align_pages);
	if (gm_unlikely(s == NULL)) {
		errno = ENOMEM;
		return NULL;
	}
	if (zero && s->needzero)
		gm_large_zero(s, n, &dirty);
	if (gm_tls_mcache != &gm_empty_mcache || gm_mcache_create() != NULL) {
		gm_tls_mcache->lcache_want = npages;
		gm_prof_account(gm_tls_mcache, (void *)s->start, n);
	}
	return (void *)s->start;
}

/* Everything but the common small sizes. */
gm_noinline void *gm_malloc_slow(size_t n, gm_mcache *mc)
{
	gm_ensure_init();
	if (n <= GM_MAX_SMALL)
		return gm_small_alloc(mc, gm_size_class(n), n);
	return gm_large_alloc(n, 0, false);
}

/* malloc: see the overview in internal.h. */
void *gm_malloc(size_t n)
{
	return gm_malloc_fast(n);
}

/* ---- Free ---- */

/* Is p the start of an object of the small-object span s? */
static bool gm_is_object_start(const gm_mspan *s, uintptr_t p)
{
	return gm_obj_index(p - s->start, s->inv, s->shift) < s->nelems;
}

/*
 * Was the object p of the in-use small-object span s freed already, as far
 * as a free can tell without reading the object: it is the head of this
 * thread's list (see the top of the file).
 */
static inline bool gm_freed_already(const gm_mspan *s, const void *p)
{
	const gm_mcache *mc = gm_tls_mcache;

	return (gm_opt.safelink ? mc->sfree : mc->free)[s->spanclass] == p;
}

/* Report a bad free of p in span s (or no span) and stop. */
static gm_noinline __attribute__((noreturn)) void gm_bad_free(const gm_mspan *s, const void *p,
							      const char *what)
{
	uintptr_t a = (uintptr_t)p;

	if (s == NULL)
		gm_throw_ptr(what, p);
	if (s->spanclass == GM_SPANCLASS_LARGE) {
		/* Freed already: back in the heap, or kept by a thread's large
		 * cache (gm_lcache_put) for its next malloc of that size. */
		if (a == s->start &&
		    (gm_span_state(s) == GM_SPAN_FREE || gm_span_state(s) == GM_SPAN_CACHED))
			gm_throw_ptr("gomem: double free of", p);
		gm_throw_ptr(what, p);
	}
	if (gm_span_state(s) == GM_SPAN_FREE || gm_span_state(s) == GM_SPAN_DEAD)
		gm_throw_ptr("gomem: free of pointer not allocated by gomem (or double free):", p);
	if (!gm_is_object_start(s, a))
		gm_throw_ptr("gomem: free of pointer not at the start of an object:", p);
	if (gm_freed_already(s, p))
		gm_throw_ptr("gomem: double free of", p);
	gm_throw_ptr(what, p);
}

/*
 * Another thread's cache owns the in-use small-object span s: push the
 * object p (checked by the caller) on the span's thread-free list, its link
 * tagged, and count the free as this thread's.  False if the span has no
 * owner by now (the caller frees p as if it never had).  p heading the
 * list is the double free found here; any other is found when the owner
 * collects.
 */
static bool gm_free_remote(gm_mcache *mc, gm_mspan *s, void *p)
{
	uintptr_t x = __atomic_load_n(&s->xfree, __ATOMIC_RELAXED);

	if (!(x & GM_XFREE_OWNED))
		return false;
	if (gm_unlikely(gm_xfree_head(x) == p))
		gm_throw_ptr("gomem: double free of", p);
	if (!gm_span_xfree_push(s, p))
		return false;
	gm_stat_inc(&mc->stats.nfree[s->spanclass]);
	return true;
}

/* Does a cache other than mc own span s?  (A hint: see gm_free_remote.) */
gm_inline bool gm_span_owned_by_other(const gm_mspan *s, const gm_mcache *mc)
{
	const gm_mcache *o = __atomic_load_n(&s->owner, __ATOMIC_RELAXED);

	return o != NULL && o != mc;
}

/*
 * GOMEMDEBUG=safelink=1: is p, which is being freed, on this thread's list of
 * span class c already (a double free)?  Only if its first word decodes as a
 * link of the list: NULL (the list's last block) or the start of an object
 * of the class.  Then the list is walked, as far as its length, each link
 * checked (gm_link_next).  This is glibc's tcache check (tst-tcfree2):
 * found at the second free, with its caller on the stack.  The default lists
 * leave it to the next allocation that meets p, so that free never reads
 * the block it frees (a cold line in hand-off workloads).
 */
static gm_noinline bool gm_safe_listed_walk(const gm_mcache *mc, unsigned c, const void *p,
					    uintptr_t n)
{
	const void *q;
	uint64_t len;

	if (!gm_link_valid(n, c))
		return false;
	len = mc->sroom[c] <= mc->max[c] ? mc->max[c] - mc->sroom[c] : mc->max[c];
	for (q = mc->sfree[c]; q != NULL && len > 0; q = gm_link_next(q, c), len--)
		if (q == p)
			return true;
	return false;
}

static inline bool gm_safe_listed(const gm_mcache *mc, unsigned c, const void *p)
{
	uintptr_t n = *(const uintptr_t *)p ^ gm_link_mask(p);

	/* Most live blocks' words decode to no address at all. */
	if (gm_likely((n & 7) != 0 || n >> GM_ADDR_BITS != 0))
		return false;
	return gm_safe_listed_walk(mc, c, p, n);
}

/*
 * Push p, an object of class c, on mc's list, which has room for it: its
 * link tagged, or masked on the lists of GOMEMDEBUG=safelink=1.
 */
static inline void gm_list_push(gm_mcache *mc, unsigned c, void *p)
{
	bool safe = gm_opt.safelink;
	void **list = safe ? &mc->sfree[c] : &mc->free[c];

	*(uintptr_t *)p = (uintptr_t)*list ^ (safe ? gm_link_mask(p) : gm_link_tag);
	*list = p;
	(safe ? mc->sroom : mc->room)[c]--;
}

/*
 * Push the small object p of span s on this thread's list; a full list
 * first grows or gives a batch back to mcentral.  Another cache's span gets
 * it back instead.
 */
static inline void gm_free_local(gm_mcache *mc, gm_mspan *s, void *p)
{
	unsigned c = s->spanclass;

	if (gm_span_owned_by_other(s, mc) && gm_free_remote(mc, s, p))
		return;

	bool safe = gm_opt.safelink;

	if (safe && gm_safe_listed(mc, c, p))
		gm_throw_ptr("gomem: double free of", p);
	if (gm_unlikely((safe ? mc->sroom : mc->room)[c] == 0)) {
		if (safe) /* the masked lists keep their base caps */
			gm_mcache_release(mc, c, gm_class_batch[c]);
		else
			gm_mcache_overflow(mc, c);
	}
	gm_list_push(mc, c, p);
	gm_stat_inc(&mc->stats.nfree[c]);
}

/* This thread's cache for a free, made if it has none yet. */
static gm_mcache *gm_free_cache(void)
{
	gm_mcache *mc = gm_tls_mcache;

	if (gm_unlikely(mc == &gm_empty_mcache)) {
		mc = gm_mcache_create();
		if (mc == NULL)
			gm_throw("gomem: out of memory for a thread cache");
	}
	return mc;
}

/*
 * How a large block is freed: by free (it may stay in the thread's large
 * cache); by a realloc that copied it elsewhere (its pages go back to the
 * heap, where a growing neighbour may take them in place: kept in the
 * large cache, they cost the realloc workload 40% more time and 14 MiB
 * more RSS); by a realloc whose gm_sys_move took its pages away, leaving
 * fresh ones.
 */
enum gm_large_how { GM_LARGE_FREE, GM_LARGE_COPIED, GM_LARGE_MOVED };

/*
 * Free the sampled small block p, alone in its span s (checked by the
 * caller): counted as a free of its class by this thread, as any small
 * object's (mprof.c, "Sampled blocks").
 */
static gm_noinline void gm_sampled_free(gm_mspan *s, void *p)
{
	gm_mcache *mc = gm_free_cache();

	if (__atomic_load_n(&s->nsampled, __ATOMIC_RELAXED) != 0)
		gm_prof_free(s, p);
	gm_stat_inc(&mc->stats.nfree[s->sampclass]);
	gm_mheap_free(s);
}

/*
 * The sampled block p of small span class c, just popped off mc's list,
 * moves to a span of its own (mprof.c, "Sampled blocks"): the block handed
 * out is the new span's first, and p goes back on the list as it came off
 * (the pop's Mallocs count stands for the new block).  p itself if the list
 * has no room for it or the heap no pages.
 */
void *gm_sample_move(gm_mcache *mc, void *p, unsigned c)
{
	gm_mspan *s;

	if ((gm_opt.safelink ? mc->sroom : mc->room)[c] == 0 ||
	    (s = gm_mheap_alloc_sampled(c)) == NULL)
		return p;
	gm_list_push(mc, c, p);
	return (void *)s->start;
}

/* Free the large object p of span s (checked by the caller). */
static void gm_large_free(gm_mspan *s, void *p, enum gm_large_how how)
{
	if (gm_unlikely(__atomic_load_n(&s->nsampled, __ATOMIC_RELAXED) != 0))
		gm_prof_free(s, p);
	if (s->lazyzero != 0)
		gm_large_zero_measure(s);
	if (how == GM_LARGE_MOVED)
		gm_mheap_free_moved(s);
	else if (how == GM_LARGE_COPIED || !gm_lcache_put(s))
		gm_mheap_free(s);
}

/*
 * Everything else free does, and every bad pointer (from gm_free_slow); s is
 * what gm_span_of_fast found for p.
 */
static gm_noinline void gm_free_checked(void *p, gm_mspan *s)
{
	uintptr_t a = (uintptr_t)p;
	gm_mcache *mc;
	uint8_t st;

	if (a == 0)
		return;
	if (gm_unlikely(a >> GM_ADDR_BITS || s == &gm_span_none))
		s = NULL;
	if (gm_unlikely(s == NULL))
		gm_bad_free(NULL, p, "gomem: free of pointer not allocated by gomem:");
	st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
	if (s->spanclass == GM_SPANCLASS_LARGE) {
		if (gm_unlikely(a != s->start || st != GM_SPAN_LARGE))
			gm_bad_free(s, p, "gomem: free of pointer not at the start of an object:");
		if (s->sampclass != 0)
			gm_sampled_free(s, p);
		else
			gm_large_free(s, p, GM_LARGE_FREE);
		return;
	}
	if (gm_unlikely(__atomic_load_n(&s->nsampled, __ATOMIC_RELAXED) != 0) &&
	    gm_span_maybe_sampled(s, a))
		gm_prof_free(s, p);
	if (gm_unlikely(st != GM_SPAN_PARTIAL && st != GM_SPAN_EMPTY))
		gm_bad_free(s, p, "gomem: free of pointer not allocated by gomem:");
	mc = gm_free_cache();
	if (gm_unlikely(!gm_is_object_start(s, a) || gm_freed_already(s, p)))
		gm_bad_free(s, p, "gomem: free of invalid pointer");
	/* Onto the list; past its limit a batch goes back to mcentral. */
	gm_free_local(mc, s, p);
}

/*
 * Free's way out of its fast path.  The usual reason is another block of a
 * span with sampled blocks, whose fastclass is 0: the fast path's checks
 * again, on spanclass (a span with samples is in use), in a function small
 * enough to need no registers saved; everything else, and every bad
 * pointer, in gm_free_checked.
 */
gm_noinline void gm_free_slow(void *p)
{
	uintptr_t a = (uintptr_t)p;

	/* free(NULL) first: programs call it as often as they like (mstress,
	 * 70% of its frees), and the fast path's page table sends it here. */
	if (a == 0)
		return;

	gm_mspan *s = gm_span_of_fast(a); /* gm_span_none for no span */
	gm_mcache *mc = gm_tls_mcache;
	uint16_t nsampled = __atomic_load_n(&s->nsampled, __ATOMIC_RELAXED);

	if (gm_span_owned_by_other(s, mc)) {
		/* Home to the cache that owns the span (an owned span is an
		 * in-use small-object one, and stays so while an object of it
		 * is out). */
		if (nsampled == 0 && gm_is_object_start(s, a) && mc != &gm_empty_mcache &&
		    gm_free_remote(mc, s, p))
			return;
	} else if (nsampled != 0 && !gm_opt.safelink) {
		unsigned c = s->spanclass;
		void *head = mc->free[c];

		if (c != GM_SPANCLASS_LARGE && mc->room[c] != 0 && p != head &&
		    gm_is_object_start(s, a) && !gm_span_maybe_sampled(s, a)) {
			gm_free_push(mc, c, p, head);
			return;
		}
	}
	gm_free_checked(p, s);
}

/* free: see the overview in internal.h. */
void gm_free(void *p)
{
	gm_free_fast(p);
}

/* ---- The rest of the API ---- */

/* calloc: overflow-checked; fresh or released pages are not cleared again. */
void *gm_calloc(size_t n, size_t m)
{
	size_t t;
	void *p;

	if (gm_unlikely(__builtin_mul_overflow(n, m, &t))) {
		errno = ENOMEM;
		return NULL;
	}
	if (t > GM_MAX_SMALL)
		return gm_large_alloc(t, 0, true);
	p = gm_malloc(t);
	if (p != NULL)
		memset(p, 0, t);
	return p;
}

/*
 * Usable size of p through its span (gm_usable_size_fast's other cases): 0
 * for NULL and for pointers gomem does not own.
 */
size_t gm_usable_size_slow(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	gm_mspan *s;

	if (p == NULL)
		return 0;
	s = gm_span_of(a);
	if (s == NULL)
		return 0;
	switch (s->spanclass) {
	case GM_SPANCLASS_LARGE:
		if (gm_span_state(s) != GM_SPAN_LARGE || a < s->start)
			return 0;
		if (s->sampclass != 0) /* a sampled small block: its class's size */
			return a - s->start < s->elemsize ? s->elemsize - (a - s->start) : 0;
		return (s->npages << GM_PAGE_SHIFT) - (a - s->start);
	default:
		if (gm_span_state(s) == GM_SPAN_FREE || gm_span_state(s) == GM_SPAN_DEAD ||
		    a < s->start)
			return 0;
		return s->elemsize - (a - s->start) % s->elemsize;
	}
}

/* Usable size of p; 0 for NULL and for pointers gomem does not own. */
size_t gm_usable_size(const void *p)
{
	return gm_usable_size_fast(p);
}

/*
 * Large blocks at least this big grow by moving their pages (mremap) when
 * they cannot grow in place: a page-table move costs less than the copy
 * from here up (measured: bench/gmbench.c realloc workloads).
 */
#define GM_REMAP_MIN	((size_t)1 << 20)
#define GM_REMAP_ALWAYS ((size_t)64 << 20)

/*
 * Whether moving the n bytes of pages of p to the new block q beats a copy.
 * A copy faults in every page of q that is not resident and reads every
 * page of p, so a move pays when q's pages are not resident (fresh or
 * released), when at most half of p's pages are (a reserved, untouched
 * buffer: mremap carries no data; mincore counts them, which costs about a
 * thousandth of the copy), or when the block is so big that the copy
 * costs more than faulting the old place back in later.  Otherwise moving onto resident
 * pages drops them, and the old place comes back as fresh pages that fault
 * again when reused: for blocks of a few MiB grown step by step the copy
 * is cheaper (bench/gmbench.c realloc: 1.2 s moving always against 0.8 s
 * copying).
 */
static bool gm_remap_pays(void *p, void *q, size_t n)
{
	if (n >= GM_REMAP_ALWAYS || !gm_span_of((uintptr_t)q)->needzero)
		return true;
	return gm_sys_resident_all(p, n) * 2 * gm_os_page_size() <= n;
}

/*
 * realloc with glibc's semantics; in place when the size class allows, or
 * when the pages after a large block are free; big blocks otherwise move
 * their pages rather than copy them.
 */
void *gm_realloc(void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p;
	gm_mspan *s;
	size_t old;
	bool move = false;
	void *q;

	if (p == NULL)
		return gm_malloc(n);
	if (n == 0) {
		gm_free(p);
		return NULL;
	}
	s = gm_span_of(a);
	if (gm_unlikely(s == NULL))
		gm_bad_free(NULL, p, "gomem: realloc of pointer not allocated by gomem:");
	if (gm_span_large_object(s)) {
		if (gm_unlikely(a != s->start || gm_span_state(s) != GM_SPAN_LARGE))
			gm_bad_free(s, p, "gomem: realloc of invalid pointer");
		old = s->npages << GM_PAGE_SHIFT;
		if (n > GM_MAX_SMALL) {
			size_t np = (n + GM_PAGE_SIZE - 1) >> GM_PAGE_SHIFT;

			if (n <= ((size_t)1 << GM_ADDR_BITS) && gm_mheap_try_resize(s, np))
				return p;
			/* Growing a big block: move its pages instead of copying. */
			move = n > old && old >= GM_REMAP_MIN;
		}
	} else {
		if (s->spanclass == GM_SPANCLASS_LARGE) {
			/* A sampled small block, alone in its span. */
			if (gm_unlikely(a != s->start || gm_span_state(s) != GM_SPAN_LARGE))
				gm_bad_free(s, p, "gomem: realloc of invalid pointer");
		} else if (gm_unlikely(gm_span_state(s) == GM_SPAN_FREE ||
				       gm_span_state(s) == GM_SPAN_DEAD ||
				       !gm_is_object_start(s, a) || gm_freed_already(s, p))) {
			gm_bad_free(s, p, "gomem: realloc of invalid pointer");
		}
		old = s->elemsize;
		/* Stay put unless the block would be mostly empty. */
		if (n <= old && (n >= old / 2 || old <= 16))
			return p;
	}
	q = gm_malloc(n);
	if (q == NULL)
		return NULL;
	if (move && gm_remap_pays(p, q, old) && gm_sys_move(p, q, old)) {
		gm_large_free(s, p, GM_LARGE_MOVED);
		return q;
	}
	memcpy(q, p, old < n ? old : n);
	if (gm_span_large_object(s))
		gm_large_free(s, p, GM_LARGE_COPIED); /* checked above */
	else
		gm_free(p);
	return q;
}

/* reallocarray: realloc(p, n * m) with overflow checking. */
void *gm_reallocarray(void *p, size_t n, size_t m)
{
	size_t t;

	if (__builtin_mul_overflow(n, m, &t)) {
		errno = ENOMEM;
		return NULL;
	}
	return gm_realloc(p, t);
}

/* n bytes aligned to align, a power of two above 16 (gm_aligned_fast
 * sends smaller ones to malloc). */
static void *gm_aligned(size_t align, size_t n)
{
	gm_mcache *mc;
	unsigned c;

	gm_ensure_init();
	if (gm_unlikely(align > ((size_t)1 << (GM_ADDR_BITS - 1)))) {
		errno = ENOMEM;
		return NULL;
	}
	if (n <= GM_MAX_SMALL && align <= GM_PAGE_SIZE) {
		/* A class whose objects all fall on multiples of align. */
		c = gm_size_class(n < align ? align : n);
		c = gm_class_aligned[__builtin_ctzl(align) - 5][c];
		if (c < GM_NUM_CLASSES) {
			mc = gm_tls_mcache;
			return gm_small_alloc(mc, c, n);
		}
	}
	return gm_large_alloc(n ? n : 1, align >> GM_PAGE_SHIFT ? align >> GM_PAGE_SHIFT : 1,
			      false);
}

/*
 * gm_aligned's common case inline: align a power of two from 32 to a page
 * and at most a small object's worth of bytes, popped off the thread's list
 * of the class whose objects all fall on multiples of align, as malloc's
 * fast path pops (the empty cache of a thread with none yet, and the lists
 * of GOMEMDEBUG=safelink=1, are empty, so those go the whole way).  It was
 * a call to gm_aligned, its frame, the init check and gm_small_alloc's
 * tests: three times tcmalloc's time per aligned_alloc on gmbench's
 * aligned workload.
 */
gm_inline void *gm_aligned_fast(size_t align, size_t n)
{
	gm_mcache *mc = gm_tls_mcache;
	size_t m = n < align ? align : n;

	/* Every block is 8-aligned, and 16-aligned from 16 B up. */
	if (align <= 16)
		return gm_malloc_fast(align == 16 && n < 16 ? 16 : n);
	if (gm_likely(align - 32 <= GM_PAGE_SIZE - 32 && m <= GM_MAX_SMALL)) {
		size_t c = gm_class_aligned[__builtin_ctzl(align) - 5][gm_size_class(m)];

		if (gm_likely(c < GM_NUM_CLASSES))
			gm_cache_pop_or(mc, c, n, slow);
	}
slow:
	return gm_aligned(align, n);
}

/* memalign: glibc rounds a non-power-of-two alignment up. */
void *gm_memalign(size_t align, size_t n)
{
	if (align & (align - 1)) {
		if (align > ((size_t)1 << 62)) {
			errno = EINVAL;
			return NULL;
		}
		align = (size_t)1 << (64 - __builtin_clzll(align));
	}
	return gm_aligned_fast(align ? align : 1, n);
}

/* posix_memalign: EINVAL unless align is a power of two times sizeof(void *). */
int gm_posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	if (align == 0 || (align & (align - 1)) || align % sizeof(void *) != 0)
		return EINVAL;
	p = gm_aligned_fast(align, n);
	if (p == NULL)
		return ENOMEM;
	*out = p;
	return 0;
}

/* aligned_alloc: C17 (DR 460): EINVAL for an alignment that is not a power of two. */
void *gm_aligned_alloc(size_t align, size_t n)
{
	if (align == 0 || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	return gm_aligned_fast(align, n);
}

/* valloc: page aligned. */
void *gm_valloc(size_t n)
{
	return gm_aligned(gm_os_page_size(), n);
}

/* pvalloc: page aligned, size rounded up to whole pages. */
void *gm_pvalloc(size_t n)
{
	size_t ps = gm_os_page_size();
	size_t r;

	if (__builtin_add_overflow(n, ps - 1, &r)) {
		errno = ENOMEM;
		return NULL;
	}
	r &= ~(ps - 1);
	return gm_aligned(ps, r ? r : ps);
}
