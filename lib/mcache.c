/*
 * mcache.c: per-thread caches.
 *
 * Each thread owns one mcache, reached through an initial-exec TLS pointer.
 * Before the thread's first allocation the pointer refers to
 * gm_empty_mcache, whose lists are all empty, so the malloc fast path needs
 * no "is there a cache" test: the first allocation falls to the refill path,
 * which creates the real cache.
 *
 * An mcache holds, per span class, a list of free objects from any span of
 * that class (Go 1.2's MCacheList) and the thread's statistics.  Lists are filled and drained in
 * batches through mcentral.  Statistics are written only by the owner with plain stores and read by
 * gm_read_memstats through the registry of all mcaches.  At thread exit (a pthread key destructor)
 * the counts go into the registry's dead-thread totals and the mcache becomes an orphan, below.
 *
 * Orphans.  An exited thread's cache is kept whole, lists, caps and owned spans, on the registry's
 * orphan list (at most GM_ORPHANS_MAX), and the next thread to start takes it with its objects
 * and its owner code.  A program that starts a thread per task (larson, mstress) would otherwise
 * walk every list back to mcentral at each exit, on lines that are cold by then, and refill them
 * from nothing, with the caps back at their base, at each start.  The scavenger gives an orphan
 * nobody took back after GM_ORPHAN_NS or so, and all of them at once on a spike or under memory
 * pressure: objects, spans and the mcache itself, as an exit did before.  With the list full, an
 * exiting thread gives its cache back at once.
 *
 * The cap of each list adapts, like tcmalloc's slow start.  A list starts at 2 batches.  When a
 * free finds it full (room 0, the slow path) and the list ran empty since its last overflow (the
 * thread allocates from it in bursts longer than the list: batches would travel to mcentral and
 * back), its cap doubles, up to GM_CACHE_LIST_OBJS objects and GM_CACHE_LIST_BYTES bytes of the
 * class.  The bytes of cap above the base caps ("grown") are bounded per thread
 * (GM_CACHE_THREAD_BYTES) and over all threads (GM_CACHE_TOTAL_BYTES, one atomic counter touched
 * only when a cap changes).  A cap shrinks back:
 *  - by half (not below the base; to GM_TC_MULTI batches for a consumer, below) when the thread
 *    has freed four times the list's bound past its
 *    cap (4 * limit / batch overflows, at most 255) with no malloc of the class between them: it
 *    frees into the list but no longer allocates from it (or its bursts are far longer than any
 *    cap), so the extra objects only keep memory from other threads (tcmalloc's length overages,
 *    counted so that a burst up to 4 bounds long never shrinks the cap it needs);
 *  - every grown list of the thread by half when a list wants to grow past the thread's budget
 *    (the thread's needs moved to other classes: tcmalloc steals from other lists the same way);
 *  - to the base at thread exit and fork (gm_mcache_release_all).
 * Objects above a shrunk cap go back to mcentral at once.
 *
 * A thread that allocates a class faster than it frees it (a producer:
 * its list refilled twice with no overflow between) takes as many whole
 * batches from the transfer cache as the list's cap holds, up to
 * GM_TC_MULTI under one lock of the class (gm_mcentral_refill): when
 * every object goes from one thread to another, its lock is taken once per
 * few batches, not once per batch.  For that, up to GM_TC_MULTI_MAX bytes,
 * each such refill doubles the cap, up to GM_TC_MULTI batches, within the
 * thread's budget as it stands (it never shrinks other lists).  The other
 * side, a consumer (a thread that freed four bounds of the list with no
 * malloc of the class between: where the cap would halve), gets the same
 * cap of GM_TC_MULTI batches, up or down, and a full list gives all but one
 * back under one lock.  xmalloc-test's consumers took the class lock once
 * a batch; so, 5-7% more frees a second (bench/README).  The rule waits for
 * so long a run because a thread that allocates too does not gain: larson's
 * threads free a class twice with no malloc between at 38% of overflows,
 * and giving their lists back whole cost it 10% (they refilled what they
 * had just given back); a burst's frees (glibc's bench-malloc-simple) must
 * not shrink the cap the burst needs.  Lists given back
 * whole (thread exit) go to the transfer cache as batches, under one lock
 * (gm_mcentral_free_batches).  A thread that goes idle keeps its
 * lists, at most its budget above the base caps; the scavenger cannot reach another thread's
 * lists without a lock on the fast path.  The fast paths never look at any of this: they test
 * room only.
 */
#include "internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>
#include <sys/syscall.h>

/* The last owner code given out (gm_registry.lock; see gm_mcache_code). */
static uint32_t gm_cache_lastcode;

/* Bytes of cap above the base caps, over all threads. */
static _Atomic uint64_t gm_cache_grown_total;

__thread gm_mcache *gm_tls_mcache = &gm_empty_mcache;
/* The allocator's locks this thread holds (internal.h). */
__thread gm_held gm_tls_held;
gm_mcache gm_empty_mcache;
pthread_key_t gm_mcache_key;

/*
 * The next owner code (registry lock held): the next 17-bit number with 8
 * bits set (Gosper's hack), from the first again after the last, placed in
 * bits 47-63 of free's page table entries (see "Owned spans" in
 * internal.h).  No code is a subset of another; 24310 of them, so caches
 * share codes only with that many threads started since.
 */
static uintptr_t gm_mcache_code(void)
{
	uint32_t v = gm_cache_lastcode, t, first = 0xff;

	if (v == 0) {
		v = first;
	} else {
		t = v | (v - 1);
		v = (t + 1) | (((~t & -~t) - 1) >> (__builtin_ctz(v) + 1));
		if (v >> 17)
			v = first;
	}
	gm_cache_lastcode = v;
	return (uintptr_t)v << GM_FAST_CODE_SHIFT;
}

/* An orphan for a thread that starts (see "Orphans" above), or NULL. */
static gm_mcache *gm_mcache_adopt(void)
{
	gm_mcache *mc;

	gm_mutex_lock(&gm_registry_.lock);
	mc = gm_registry_.orphans;
	if (mc != NULL) {
		gm_registry_.orphans = mc->rnext;
		gm_registry_.norphans--;
	}
	gm_mutex_unlock(&gm_registry_.lock);
	return mc;
}

/* Create and register the calling thread's mcache; NULL if out of memory. */
gm_mcache *gm_mcache_create(void)
{
	gm_mcache *mc;
	bool fresh = false;

	gm_ensure_init();
	if (gm_tls_mcache != &gm_empty_mcache)
		return gm_tls_mcache;
	mc = gm_mcache_adopt();
	if (mc == NULL) {
		gm_lock_acquire(&gm_heap.lock);
		mc = gm_fixalloc_alloc(&gm_heap.cachealloc);
		gm_lock_release(&gm_heap.lock);
		if (mc == NULL)
			return NULL;
		fresh = true;
		mc->small = gm_small;
		for (unsigned c = 1; c < GM_NUM_SPANCLASSES; c++) {
			mc->max[c] = 2u * gm_class_batch[c];
			if (gm_opt.safelink)
				mc->sroom[c] = mc->max[c];
			else
				mc->room[c] = mc->max[c];
			mc->refilled[c] = mc->overages[c] = mc->warm[c] = 0;
			mc->mark[c] = 0;
		}
		mc->grown = 0;
	}
	mc->tid = (pid_t)syscall(SYS_gettid);
	mc->next_sample = gm_prof_next(mc);
	gm_mutex_lock(&gm_registry_.lock);
	mc->rprev = NULL;
	mc->rnext = gm_registry_.head;
	if (mc->rnext != NULL)
		mc->rnext->rprev = mc;
	gm_registry_.head = mc;
	gm_registry_.nthreads++;
	/* An orphan keeps its code: its spans' page table entries carry it. */
	if (fresh)
		mc->notcode = ~gm_mcache_code();
	mc->registered = true;
	gm_mutex_unlock(&gm_registry_.lock);
	gm_tls_mcache = mc;
	/* Keys below 32 live in the thread descriptor: this does not allocate. */
	pthread_setspecific(gm_mcache_key, mc);
	return mc;
}

/* The most objects list c may hold (GM_CACHE_LIST_BYTES, GM_CACHE_LIST_OBJS). */
static uint32_t gm_mcache_limit(unsigned c)
{
	uint32_t limit = (uint32_t)(GM_CACHE_LIST_BYTES / gm_class_size[c]);

	return limit > GM_CACHE_LIST_OBJS ? GM_CACHE_LIST_OBJS : limit;
}

/* The cap that holds GM_TC_MULTI batches of class c, within its bound. */
static uint32_t gm_mcache_multi(unsigned c)
{
	uint32_t m = GM_TC_MULTI * gm_class_batch[c], limit = gm_mcache_limit(c);

	return m < limit ? m : limit;
}

static bool gm_mcache_grow(gm_mcache *mc, unsigned c, uint32_t n, bool steal);

/*
 * How many whole batches a refill of list c may take from the transfer
 * cache under one lock: one, unless the list was refilled before with no
 * overflow since (the thread allocates the class faster than it frees it:
 * a producer); then as many as its cap holds, up to GM_TC_MULTI.
 */
static unsigned gm_mcache_batches(const gm_mcache *mc, unsigned c)
{
	uint32_t k = mc->max[c] / gm_class_batch[c];

	if (!mc->refilled[c] || k < 1)
		return 1;
	return k > GM_TC_MULTI ? GM_TC_MULTI : k;
}

/*
 * A batch of objects of spanclass for mc's list, linked from *head: from
 * the span mc owns (its thread-free list, else its free list), else from
 * mcentral (the transfer cache, a few whole batches for a producer, else
 * another span to own).  A producer (the list refilled twice with no
 * overflow between) goes to mcentral first and keeps its span for when
 * the transfer cache is empty: what its consumers sent home comes back a
 * few dozen objects a refill, each lot in the order two threads pushed it,
 * and interleaved with the batches, which travel in address order.  On
 * mimalloc-bench's xmalloc-test (64 B objects, two producers, two
 * consumers) taking the span first made 22-37% of the producers' pops
 * land away from the previous object, not 2%, and took 3.5-3.8 s where
 * this takes 1.7-2.2 (bench/README.md, "Owned spans").  *whole as
 * gm_mcentral_alloc_batch says.  0 when out of memory.
 */
static unsigned gm_mcache_take(gm_mcache *mc, unsigned spanclass, void **head, bool *whole,
			       bool *keyed)
{
	unsigned want = gm_class_batch[spanclass], n;
	gm_mspan *s = mc->own[spanclass];

	*keyed = false;
	if (gm_unlikely(!mc->warm[spanclass])) {
		/* The thread's first refill of the class takes a span's worth
		 * at most, not a batch (32 KiB of objects, up to 4 spans): a
		 * program that mallocs one 1 KiB block does not get 32 KiB of
		 * fresh pages written (tcmalloc's slow start has the same aim). */
		mc->warm[spanclass] = 1;
		if (gm_class_nelems[spanclass] < want)
			want = gm_class_nelems[spanclass];
	}
	if (gm_class_size[spanclass] > gm_opt.ownspans)
		return gm_mcentral_refill((uint8_t)spanclass, NULL, want,
					  gm_mcache_batches(mc, spanclass), head, whole);
	if (s != NULL && !mc->refilled[spanclass]) {
		n = gm_span_take_own(s, want, mc->max[spanclass], head, keyed);
		if (n != 0) {
			*whole = false;
			return n;
		}
	}
	return gm_mcentral_refill((uint8_t)spanclass, mc, want, gm_mcache_batches(mc, spanclass),
				  head, whole);
}

/*
 * The list for spanclass of mc, a thread's real cache (gm_small_alloc
 * creates it first), is empty: take a batch from mcentral.  Returns one
 * object (the rest goes on the list), or NULL when out of memory.
 */
void *gm_mcache_refill(gm_mcache *mc, unsigned spanclass)
{
	void *p, *first = NULL;
	unsigned n;
	bool whole, keyed;

	gm_scav_poke();
	if (mc->refilled[spanclass] && gm_class_size[spanclass] <= GM_TC_MULTI_MAX) {
		/* A producer (refilled twice, no overflow between): its cap
		 * grows to hold GM_TC_MULTI batches, so that one lock of the
		 * class hands it that many (gm_mcache_batches); within the
		 * thread's budget as it is, not at other lists' cost. */
		uint32_t max = mc->max[spanclass], multi = gm_mcache_multi(spanclass);

		if (max < multi)
			gm_mcache_grow(mc, spanclass, max < multi - max ? max : multi - max, false);
	}
	n = gm_mcache_take(mc, spanclass, &p, &whole, &keyed);
	if (n == 0)
		return NULL;
	/* The batch's links get the tag (the double-free key, malloc.c), and
	 * with safelink their masks.  A thread-free list as it was pushed
	 * (gm_span_take_own) and a whole batch from the transfer cache as the
	 * thread that gave it back left it (gm_mcache_release) are tagged
	 * already: the head's link is checked here, malloc's pop checks the
	 * rest, so an object freed twice is found when it is handed out twice,
	 * as on any list.  Objects off a span's free list have plain links. */
	keyed = keyed || whole;
	if (gm_unlikely(gm_opt.safelink)) {
		for (uintptr_t *q = p, *next; q != NULL; q = next) {
			next = keyed ? gm_link_take(q) : (uintptr_t *)q[0];
			if (q != p)
				q[0] = (uintptr_t)next ^ gm_link_mask(q);
			else
				first = next;
		}
	} else if (keyed) {
		first = gm_link_take(p);
	} else {
		first = *(void **)p;
		for (uintptr_t *q = first, *next; q != NULL; q = next) {
			next = (uintptr_t *)q[0];
			q[0] = gm_link_enc(next);
		}
	}
	if (gm_unlikely(gm_opt.safelink)) {
		mc->sfree[spanclass] = first;
		mc->sroom[spanclass] = mc->max[spanclass] - (n - 1);
		return p;
	}
	mc->free[spanclass] = first;
	mc->room[spanclass] = mc->max[spanclass] - (n - 1);
	mc->refilled[spanclass] = 1;
	return p;
}

/*
 * Give the first n objects of the list for spanclass back to mcentral, as
 * tagged lists: up to GM_TC_MULTI whole batches for its transfer cache,
 * else the rest as one list, for the spans.  One walk checks each link
 * (with safelink, checks each masked link and tags it) and notes where the
 * batches start and end; only their last links are written (tagged NULL).
 * An object on the list twice is found where it is handed out twice: a
 * pop, or mcentral's walk of a list it puts back on the spans.
 */
void gm_mcache_release(gm_mcache *mc, unsigned spanclass, unsigned n)
{
	bool safe = gm_opt.safelink;
	void **list = safe ? &mc->sfree[spanclass] : &mc->free[spanclass];
	void *heads[GM_TC_MULTI], *tails[GM_TC_MULTI], *p = *list, *last = NULL;
	unsigned b = gm_class_batch[spanclass], i, j = 0, k = 0, whole;

	for (i = 0; i < n && p != NULL; i++) {
		if (j == 0 && k < GM_TC_MULTI)
			heads[k++] = p;
		last = p;
		p = safe ? gm_link_next(last, spanclass) : gm_link_take(last);
		if (safe)
			*(uintptr_t *)last = gm_link_enc(p);
		if (++j == b) {
			j = 0;
			if (i + 1 == k * b) /* the end of the batch at heads[k - 1] */
				tails[k - 1] = last;
		}
	}
	if (last == NULL)
		return;
	*list = p;
	if (safe)
		mc->sroom[spanclass] += i;
	else
		mc->room[spanclass] += i;
	/* Whole batches: all of them if the n objects fill at most
	 * GM_TC_MULTI; else the first GM_TC_MULTI - 1, and the rest is one
	 * list, from the last head noted. */
	whole = i / b;
	if (whole > GM_TC_MULTI || (whole == GM_TC_MULTI && i % b != 0))
		whole = GM_TC_MULTI - 1;
	for (j = 0; j < whole; j++)
		*(uintptr_t *)tails[j] = gm_link_enc(NULL);
	*(uintptr_t *)last = gm_link_enc(NULL);
	k = whole + (i > whole * b);
	if (k > whole)
		tails[k - 1] = NULL;
	gm_mcentral_free_batches((uint8_t)spanclass, heads, tails, k, i);
}

/*
 * Set the cap of list c to max (not below its base), giving the objects
 * above it back to mcentral, and account the change in grown capacity.
 */
static void gm_mcache_setmax(gm_mcache *mc, unsigned c, uint32_t max)
{
	uint32_t base = 2u * gm_class_batch[c], old = mc->max[c];
	uint64_t len = old - mc->room[c];

	if (max < base)
		max = base;
	if (max >= old)
		return;
	if (len > max)
		gm_mcache_release(mc, c, (unsigned)(len - max));
	/* Now the list holds at most max objects: room stays >= 0. */
	mc->room[c] -= old - max;
	mc->max[c] = max;
	mc->grown -= (uint64_t)(old - max) * gm_class_size[c];
	atomic_fetch_sub_explicit(&gm_cache_grown_total, (uint64_t)(old - max) * gm_class_size[c],
				  memory_order_relaxed);
}

/*
 * Try to add n objects to list c's cap within the thread's and the global
 * budgets; with steal, past the thread's budget, other lists shrink first.
 */
static bool gm_mcache_grow(gm_mcache *mc, unsigned c, uint32_t n, bool steal)
{
	uint64_t bytes = (uint64_t)n * gm_class_size[c];

	if (mc->grown + bytes > GM_CACHE_THREAD_BYTES) {
		if (!steal)
			return false;
		/* Over the thread's budget: halve every other grown list. */
		for (unsigned k = 1; k < GM_NUM_SPANCLASSES; k++)
			if (k != c)
				gm_mcache_setmax(mc, k, mc->max[k] / 2);
		if (mc->grown + bytes > GM_CACHE_THREAD_BYTES)
			return false;
	}
	if (atomic_fetch_add_explicit(&gm_cache_grown_total, bytes, memory_order_relaxed) + bytes >
	    GM_CACHE_TOTAL_BYTES) {
		atomic_fetch_sub_explicit(&gm_cache_grown_total, bytes, memory_order_relaxed);
		return false;
	}
	mc->max[c] += n;
	mc->room[c] += n;
	mc->grown += bytes;
	return true;
}

/*
 * A free found list c full (room 0): grow its cap, or shrink it, or give a
 * batch back to mcentral (see the rules at the top).  Leaves room > 0.
 */
void gm_mcache_overflow(gm_mcache *mc, unsigned c)
{
	uint32_t batch = gm_class_batch[c], max = mc->max[c], limit = gm_mcache_limit(c);
	uint32_t nmalloc = (uint32_t)mc->stats.nmalloc[c];
	uint32_t run = 4 * limit / batch < 255 ? 4 * limit / batch : 255;

	if (nmalloc != mc->mark[c]) {
		mc->mark[c] = nmalloc;
		mc->overages[c] = 0;
	} else if (mc->overages[c] < 255) {
		mc->overages[c]++;
	}
	if (mc->overages[c] >= run) {
		/* Four bounds of the list freed with no malloc between. */
		if (gm_class_size[c] <= GM_TC_MULTI_MAX) {
			/* A consumer: its cap holds GM_TC_MULTI batches (within
			 * the thread's budget as it is), and a full list gives
			 * all but one back under one lock, until it mallocs. */
			uint32_t multi = gm_mcache_multi(c);

			if (max > multi)
				gm_mcache_setmax(mc, c, multi);
			else if (max < multi && gm_mcache_grow(mc, c, multi - max, false))
				return;
			if (mc->room[c] == 0)
				gm_mcache_release(mc, c, (mc->max[c] / batch - 1) * batch);
			return;
		}
		if (max > 2u * batch) {
			mc->overages[c] = 0;
			mc->refilled[c] = 0;
			gm_mcache_setmax(mc, c, max / 2);
		}
	}
	if (mc->refilled[c]) {
		mc->refilled[c] = 0;
		if (max < limit && gm_mcache_grow(mc, c, max < limit - max ? max : limit - max, true))
			return;
	}
	if (mc->room[c] == 0)
		gm_mcache_release(mc, c, batch);
}

/*
 * Give every cached object back to mcentral and the caps to their base
 * (thread exit, fork), and the large block the thread keeps (malloc.c's
 * large cache) to the heap.  Whole batches stay in the transfer caches, as in
 * tcmalloc: the next thread's refills take them in O(1) (a program that
 * starts a thread per task, like larson, would otherwise put every batch
 * back on its spans and take it off them again).  They are bounded per
 * class, and the scavenger empties them after a spike or under memory
 * pressure.
 */
void gm_mcache_release_all(gm_mcache *mc)
{
	unsigned c;

	for (c = 1; c < GM_NUM_SPANCLASSES; c++) {
		while (mc->free[c] != NULL || mc->sfree[c] != NULL)
			gm_mcache_release(mc, c, UINT32_MAX);
		if (mc->own[c] != NULL) {
			gm_mspan *s = mc->own[c];

			mc->own[c] = NULL;
			gm_mcentral_disown(s);
		}
		gm_mcache_setmax(mc, c, 0);
		mc->refilled[c] = mc->overages[c] = 0;
	}
	gm_lcache_release(mc);
}

/* Add the counts of st into the totals of dead threads (registry lock held). */
static void gm_stats_merge_dead_locked(const gm_tstats *st)
{
	unsigned c;

	for (c = 0; c < GM_NUM_SPANCLASSES; c++) {
		gm_registry_.dead.nmalloc[c] += st->nmalloc[c];
		gm_registry_.dead.nfree[c] += st->nfree[c];
	}
}

/* Take mc off the registry's list (lock held, or the fork handler). */
static void gm_registry_cut_locked(gm_mcache *mc)
{
	if (mc->rprev != NULL)
		mc->rprev->rnext = mc->rnext;
	else
		gm_registry_.head = mc->rnext;
	if (mc->rnext != NULL)
		mc->rnext->rprev = mc->rprev;
}

/* Unlink mc from the registry (lock held). */
static void gm_registry_unlink_locked(gm_mcache *mc)
{
	gm_registry_cut_locked(mc);
	gm_registry_.nthreads--;
	mc->registered = false;
}

/* Give the unregistered cache mc back: its objects, spans, and itself. */
static void gm_mcache_free_dead(gm_mcache *mc)
{
	gm_mcache_release_all(mc);
	gm_lock_acquire(&gm_heap.lock);
	gm_fixalloc_free(&gm_heap.cachealloc, mc);
	gm_lock_release(&gm_heap.lock);
}

/*
 * Make mc, the exiting thread's registered cache, an orphan if there is room:
 * its counts go to the dead threads' totals, as at any exit, and start again
 * at 0 for the thread that adopts it.  False if the list is full.
 */
static bool gm_mcache_orphan(gm_mcache *mc)
{
	bool kept;

	gm_mutex_lock(&gm_registry_.lock);
	gm_stats_merge_dead_locked(&mc->stats);
	gm_registry_unlink_locked(mc);
	kept = gm_registry_.norphans < GM_ORPHANS_MAX;
	if (kept) {
		__builtin_memset(&mc->stats, 0, sizeof(mc->stats));
		for (unsigned c = 0; c < GM_NUM_SPANCLASSES; c++)
			mc->mark[c] = mc->overages[c] = 0;
		mc->orphaned = gm_nanotime();
		mc->rprev = NULL;
		mc->rnext = gm_registry_.orphans;
		gm_registry_.orphans = mc;
		gm_registry_.norphans++;
	}
	gm_mutex_unlock(&gm_registry_.lock);
	return kept;
}

/* pthread key destructor: the thread is exiting. */
void gm_mcache_thread_exit(void *arg)
{
	gm_mcache *mc = arg;

	if (mc == NULL || mc == &gm_empty_mcache)
		return;
	/* The large block goes back now: the scavenger drains registered
	 * caches' only. */
	gm_lcache_release(mc);
	/* Not the thread's once another may have taken it. */
	gm_tls_mcache = &gm_empty_mcache;
	if (!gm_mcache_orphan(mc)) {
		/* The thread's again while its lists go back: objects of its
		 * own spans go straight onto their free lists. */
		gm_tls_mcache = mc;
		gm_mcache_free_dead(mc);
		gm_tls_mcache = &gm_empty_mcache;
	}
}

/*
 * Give back the orphans that became orphans at or before the time before
 * (UINT64_MAX: all of them).  The scavenger, without locks held.
 */
void gm_mcache_orphans_release(uint64_t before)
{
	gm_mcache *list = NULL, *mc, **pp;

	gm_mutex_lock(&gm_registry_.lock);
	for (pp = &gm_registry_.orphans; (mc = *pp) != NULL;) {
		if (mc->orphaned <= before) {
			*pp = mc->rnext;
			gm_registry_.norphans--;
			mc->rnext = list;
			list = mc;
		} else {
			pp = &mc->rnext;
		}
	}
	gm_mutex_unlock(&gm_registry_.lock);
	while ((mc = list) != NULL) {
		list = mc->rnext;
		gm_mcache_free_dead(mc);
	}
}

/*
 * In a forked child only the forking thread survives.  The other threads'
 * caches keep their spans (their objects may still be referenced), but their
 * counts move to the dead-thread totals so the stats stay exact.
 *
 * Make such a dead thread's lists safe to give back.  That
 * thread may have been anywhere in its own list when the parent forked:
 * in a release that had made the first links plain but not yet cut them
 * off, in a refill that was still tagging links, half through a free or a
 * malloc.  Keep each list's longest prefix of blocks of its class, in
 * in-use spans, with a tagged or plain link; tag them; cut the list after
 * them.  What is cut off is leaked in the child: at most the tail of the
 * list the thread was working on.  The masked lists of
 * GOMEMDEBUG=safelink=1 are dropped whole (their links cannot be checked
 * without stopping the process).
 */
static void gm_mcache_trim_dead(gm_mcache *mc)
{
	for (unsigned c = 1; c < GM_NUM_SPANCLASSES; c++) {
		void *p = mc->free[c], *prev = NULL;
		uint64_t n = 0;

		mc->sfree[c] = NULL;
		while (p != NULL && n++ < ((uint64_t)1 << 24)) {
			gm_mspan *s = gm_span_of((uintptr_t)p);
			uintptr_t *q = p, next = q[0];

			if (!gm_link_ok(next))
				next ^= gm_link_tag; /* tagged, or neither */
			if (s == NULL || s->spanclass != c ||
			    (gm_span_state(s) != GM_SPAN_PARTIAL && gm_span_state(s) != GM_SPAN_EMPTY) ||
			    gm_obj_index((uintptr_t)p - s->start, s->inv, s->shift) >= s->nelems ||
			    !gm_link_ok(next))
				break;
			q[0] = gm_link_enc((void *)next);
			prev = p;
			p = (void *)next;
		}
		if (p != NULL) {
			if (prev != NULL)
				*(uintptr_t *)prev = gm_link_enc(NULL);
			else
				mc->free[c] = NULL;
		}
		if (mc->own[c] != NULL)
			gm_span_recount_own(mc->own[c]);
	}
}

/*
 * In a forked child (the fork handler, one thread): the other threads'
 * caches leave the registry for gm_registry_.forked, to be folded by the
 * child's first slow path or statistics read (gm_mcache_fork_fold).  A
 * child that execs or exits at once never folds them: folding wrote, and
 * so copied, every page of theirs and of their free objects, 60-70 pages a
 * thread (1 thread: 121 faults per fork, 32 threads: 2355; glibc 34 and 95).
 * Here only the registry, the child's own cache and its two neighbours on
 * the list are written.  A fork of a child that has not folded yet adds
 * its dead to the list.
 */
GM_FORK_CHILD void gm_mcache_fork_child(void)
{
	gm_mcache *self = gm_tls_mcache, *dead, *tail;
	bool mine = self != &gm_empty_mcache && self->registered;

	dead = gm_registry_.head;
	if (dead == NULL || (dead == self && self->rnext == NULL))
		return; /* no other thread's cache: nothing to write */
	if (mine)
		gm_registry_cut_locked(self);
	dead = gm_registry_.head;
	tail = atomic_load_explicit(&gm_registry_.forked, memory_order_relaxed);
	if (tail == NULL) {
		atomic_store_explicit(&gm_registry_.forked, dead, memory_order_relaxed);
	} else {
		while (tail->rnext != NULL)
			tail = tail->rnext;
		tail->rnext = dead;
	}
	if (mine)
		self->rprev = self->rnext = NULL;
	gm_registry_.head = mine ? self : NULL;
	gm_registry_.nthreads = mine;
}

/*
 * Fold the caches a fork left behind (gm_mcache_fork_fold; no lock held):
 * their counts join the dead threads' totals at once, under the registry
 * lock, so a reader sees them whole; then their lists and spans go back.
 */
void gm_mcache_fork_fold_slow(void)
{
	gm_mcache *list, *mc;

	gm_mutex_lock(&gm_registry_.lock);
	list = atomic_exchange_explicit(&gm_registry_.forked, NULL, memory_order_relaxed);
	for (mc = list; mc != NULL; mc = mc->rnext) {
		gm_stats_merge_dead_locked(&mc->stats);
		mc->registered = false;
	}
	gm_mutex_unlock(&gm_registry_.lock);
	while ((mc = list) != NULL) {
		list = mc->rnext;
		/* Frees into the dead thread's spans must reach mcentral. */
		gm_mcache_trim_dead(mc);
		gm_mcache_free_dead(mc);
	}
}
