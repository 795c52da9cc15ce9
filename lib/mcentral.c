/*
 * mcentral.c: central free lists, one per span class.
 *
 * As in Go up to 1.2 (mcentral.c, MCentral_AllocList / MCentral_FreeList)
 * and in tcmalloc: a span's free objects are kept on the span itself, under
 * the class's lock.  Spans with free objects sit on the partial list.  Thread
 * caches take objects in batches (gm_mcentral_alloc_batch) and give them back
 * in batches (gm_mcentral_free_batch) when their lists grow past a limit, so
 * the lock is taken once per batch, never per object, and a free from any
 * thread needs no atomic operation: it goes on the freeing thread's list.
 * A span whose objects have all come back is returned to the heap, where it
 * coalesces with free neighbours.
 *
 * As in tcmalloc, a whole batch given back first goes to the class's
 * transfer cache (internal.h), from which the next refill takes it whole:
 * when one thread frees what another allocates (a producer and a
 * consumer), batches pass between them in O(1) under the lock, without
 * the per-object work on the spans (about 60 instructions an object, and a
 * span header to load) or spans going back to the heap and out again.
 *
 * Protected by mcentral.lock: partial, the transfer cache, every span's
 * freelist, nfree, nparked and parked.  Lock order: mcentral.lock before gm_heap.lock.
 *
 * Beyond Go: free OS pages inside spans.  After a spike most small-object
 * spans keep a survivor or two, so the heap cannot release them, yet most of
 * their OS pages (4 KiB) hold only free objects.  The scavenger "parks" such
 * pages (gm_mcentral_scavenge_class): which objects are free is learnt from
 * the span's free list under the class lock into a bitmap on the stack;
 * every object overlapping a page whose objects are all free comes off the
 * free list, so no free-list link lives in released memory; the span keeps
 * only a mask of parked pages and a count of parked objects (nothing inside
 * the freed objects), and the pages go to the OS, counted in
 * gm_heap.inuse_released (HeapInuseReleased: they stay in HeapInuse, so
 * HeapReleased keeps Go's meaning and stays exact).  A span with parked
 * objects stays on the partial list (which so holds the spans with free or
 * parked objects); allocation unparks it when its free list runs dry (the
 * pages fault back in, zeroed) before asking the heap for a new span.  A span whose objects are all
 * free or parked goes back to the heap, its parked 8 KiB pages marked released (a half-parked
 * page's other half is released first, so the count stays exact).
 *
 * What parking assumes of the free lists: a span's free objects are exactly
 * those on s->freelist, linked through their first word, under the class
 * lock (a fresh span starts with all of them there); objects on thread
 * caches count as in use, and the transfer cache is emptied onto the spans
 * first; nfree counts the list.
 * Only with 4 KiB OS pages (a span has at most 20 of them).  A double free
 * of a parked object is not detected (its link was released with it).
 */
#include "internal.h"

#include <string.h>

/*
 * Each class's transfer cache: whole batches, under the class's lock, each
 * with its last object, so a refill that takes several chains them without
 * walking them (that walk, on lines the freeing thread wrote, was a tenth
 * of xmalloc-test's time).
 */
static struct gm_tc_batch {
	void *head, *tail;
} gm_central_tc[GM_NUM_SPANCLASSES][GM_TC_SLOTS];
uint16_t gm_class_batch[GM_NUM_SPANCLASSES];

static void gm_mcentral_drain_locked(gm_mcentral *c);

/* Batches of class i a transfer cache of objs objects and bytes bytes holds. */
static uint16_t gm_tc_bound(unsigned i, uint64_t objs, uint64_t bytes)
{
	uint64_t t = objs / gm_class_batch[i];
	uint64_t tb = bytes / ((uint64_t)gm_class_batch[i] * gm_class_size[i]);

	t = tb < t ? tb : t;
	return (uint16_t)(t > GM_TC_SLOTS ? GM_TC_SLOTS : t < 1 ? 1 : t);
}

/* Set up the central lists and the batch sizes. */
void gm_mcentral_init(void)
{
	unsigned i;

	for (i = 0; i < GM_NUM_SPANCLASSES; i++) {
		unsigned size = gm_class_size[i];
		unsigned b = size ? (unsigned)(32768 / size) : 0;

		gm_central[i].spanclass = (uint8_t)i;
		gm_central[i].partial = NULL;
		/* 32 KiB worth, 2 to 32 objects (tcmalloc's num_objects_to_move),
		 * 64 for objects of a cache line or more: when one thread frees
		 * what another allocates (xmalloc-test, mstress), a batch of them
		 * travels in address order, a page for 64 B, and the hand-off
		 * took 15% less time than with 32.  Under a line, objects share
		 * lines with other threads' (passive false sharing), and bigger
		 * batches cost gmbench's cachescratch 20% (bench/README.md,
		 * "Batch size"). */
		unsigned most = size >= GM_LINE ? GM_BATCH_MAX : GM_BATCH_MAX / 2;

		gm_class_batch[i] = (uint16_t)(b < 2 ? 2 : b > most ? most : b);
		gm_central[i].ntc = 0;
		gm_central[i].tcmax = gm_central[i].tcbase = 0;
		if (size != 0) {
			gm_central[i].tcmax = gm_tc_bound(i, GM_TC_OBJS, GM_TC_BYTES);
			gm_central[i].tcbase = gm_tc_bound(i, GM_TC_IDLE_OBJS, GM_TC_IDLE_BYTES);
		}
	}
	gm_class_batch[GM_SPANCLASS_LARGE] = 0;
}

static void gm_partial_insert_locked(gm_mcentral *c, gm_mspan *s)
{
	s->prev = NULL;
	s->next = c->partial;
	if (s->next != NULL)
		s->next->prev = s;
	c->partial = s;
	gm_span_set_state(s, GM_SPAN_PARTIAL);
}

static void gm_partial_remove_locked(gm_mcentral *c, gm_mspan *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		c->partial = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	gm_span_set_state(s, GM_SPAN_EMPTY);
}

/* ---- Parked OS pages (see the top of the file) ---- */

#define GM_OS_PAGE     ((uintptr_t)4096)
#define GM_PARK_MAXOBJ (GM_SMALL_SPAN_PAGES * GM_PAGE_SIZE / 8) /* most objects a span has */

/* The mask of the span's OS pages that object p overlaps. */
static inline uint64_t gm_obj_ospages(const gm_mspan *s, uintptr_t p)
{
	unsigned a = (unsigned)((p - s->start) / GM_OS_PAGE);
	unsigned b = (unsigned)((p + s->elemsize - 1 - s->start) / GM_OS_PAGE);

	return (b - a >= 63 ? ~UINT64_C(0) : (UINT64_C(1) << (b - a + 1)) - 1) << a;
}

/* Objects overlapping OS page j of the span: indices [*lo, *hi). */
static void gm_ospage_objs(const gm_mspan *s, unsigned j, unsigned *lo, unsigned *hi)
{
	uintptr_t a = s->start + j * GM_OS_PAGE, b = a + GM_OS_PAGE;
	uintptr_t end = s->start + (uintptr_t)s->nelems * s->elemsize;

	*lo = *hi = 0;
	if (b <= s->start || a >= end)
		return; /* only bytes no object uses */
	*lo = a <= s->start ? 0 : (unsigned)((a - s->start) / s->elemsize);
	*hi = b >= end ? s->nelems : (unsigned)((b - 1 - s->start) / s->elemsize) + 1;
}

/* Release the OS pages in mask (consecutive runs in one range each), at once
 * or, with a batch, when the caller flushes it (before it lets go of the lock
 * that keeps the pages from changing hands). */
static void gm_ospages_release(const gm_mspan *s, uint64_t mask, gm_unused_batch *b)
{
	unsigned j = 0, k;

	while (j < 64 && mask >> j != 0) {
		if (!((mask >> j) & 1)) {
			j++;
			continue;
		}
		for (k = j; k < 64 && ((mask >> k) & 1); k++)
			;
		if (b != NULL)
			gm_unused_add(b, (void *)(s->start + j * GM_OS_PAGE), (k - j) * GM_OS_PAGE);
		else
			gm_sys_unused((void *)(s->start + j * GM_OS_PAGE), (k - j) * GM_OS_PAGE);
		j = k;
	}
}

/* Can the span's pages be parked at all? */
static inline bool gm_span_parkable(const gm_mspan *s)
{
	return s->spanclass != GM_SPANCLASS_LARGE && s->nelems <= GM_PARK_MAXOBJ &&
	       s->npages * (GM_PAGE_SIZE / GM_OS_PAGE) <= 64 && gm_os_page_size() == GM_OS_PAGE;
}

/* The next object after p on a span's free list, whose links are plain: a
 * word with a top bit set there is a tagged link, written by a free of p
 * while it was on this list. */
#define gm_plain_next(p) gm_link_decode((p), 0)

/* Park the OS pages of s that hold only free objects (released through b);
 * bytes released. */
static size_t gm_span_park_locked(gm_mspan *s, gm_unused_batch *b)
{
	uint64_t freebm[GM_PARK_MAXOBJ / 64], newly = 0, all;
	unsigned nos = (unsigned)(s->npages * (GM_PAGE_SIZE / GM_OS_PAGE)), i, j, lo, hi;
	void **link, *p;

	/* Too few free objects to cover a page they do not share. */
	if ((size_t)s->nfree * s->elemsize < GM_OS_PAGE || !gm_span_parkable(s))
		return 0;
	memset(freebm, 0, sizeof(freebm));
	for (p = s->freelist; p != NULL; p = gm_plain_next(p)) {
		i = (unsigned)gm_obj_index((uint64_t)((uintptr_t)p - s->start), s->inv, s->shift);
		gm_assert(i < s->nelems, "free list object not at an object start");
		freebm[i / 64] |= UINT64_C(1) << (i % 64);
	}
	for (j = 0; j < nos; j++) {
		if ((s->parked >> j) & 1) {
			/* Parked objects are free too. */
			gm_ospage_objs(s, j, &lo, &hi);
			for (i = lo; i < hi; i++)
				freebm[i / 64] |= UINT64_C(1) << (i % 64);
		}
	}
	for (j = 0; j < nos; j++) {
		if ((s->parked >> j) & 1)
			continue;
		gm_ospage_objs(s, j, &lo, &hi);
		for (i = lo; i < hi && ((freebm[i / 64] >> (i % 64)) & 1); i++)
			;
		if (i == hi)
			newly |= UINT64_C(1) << j;
	}
	if (newly == 0)
		return 0;
	/* Off the free list: every object overlapping a parked page. */
	all = s->parked | newly;
	link = &s->freelist;
	while ((p = *link) != NULL) {
		if (gm_obj_ospages(s, (uintptr_t)p) & all) {
			*link = *(void **)p;
			s->nfree--;
			s->nparked++;
		} else {
			link = (void **)p;
		}
	}
	s->parked = all;
	gm_ospages_release(s, newly, b);
	atomic_fetch_add_explicit(&gm_heap.inuse_released,
				  (uint64_t)__builtin_popcountll(newly) * GM_OS_PAGE,
				  memory_order_relaxed);
	return (size_t)__builtin_popcountll(newly) * GM_OS_PAGE;
}

/* Put the span's parked objects back on its free list (pages fault in). */
static void gm_span_unpark_locked(gm_mspan *s)
{
	uintptr_t p = s->start;
	unsigned i, n = 0;

	for (i = 0; i < s->nelems; i++, p += s->elemsize) {
		if (gm_obj_ospages(s, p) & s->parked) {
			*(void **)p = s->freelist;
			s->freelist = (void *)p;
			n++;
		}
	}
	gm_assert(n == s->nparked, "parked object count");
	s->nfree = (uint16_t)(s->nfree + n);
	atomic_fetch_sub_explicit(&gm_heap.inuse_released,
				  (uint64_t)__builtin_popcountll(s->parked) * GM_OS_PAGE,
				  memory_order_relaxed);
	s->parked = 0;
	s->nparked = 0;
}

/*
 * A span going back to the heap: release the other half of every 8 KiB page
 * that is half parked, so that the heap can count whole pages released.
 */
static void gm_span_park_whole_pages(gm_mspan *s)
{
	uint64_t half = 0;
	size_t i;

	for (i = 0; i < s->npages; i++) {
		uint64_t m = (s->parked >> (2 * i)) & 3;

		if (m == 1 || m == 2)
			half |= (m ^ 3) << (2 * i);
	}
	if (half != 0) {
		gm_ospages_release(s, half, NULL);
		s->parked |= half;
		atomic_fetch_add_explicit(&gm_heap.inuse_released,
					  (uint64_t)__builtin_popcountll(half) * GM_OS_PAGE,
					  memory_order_relaxed);
	}
}

/*
 * Park the free OS pages of the spans of one class; adds the bytes released
 * to *released.  Takes the class's lock (madvise runs under it: the pages
 * must not change hands meanwhile).
 */
void gm_mcentral_scavenge_class(unsigned spanclass, size_t *released)
{
	gm_mcentral *c = &gm_central[spanclass];
	gm_unused_batch b;
	gm_mspan *s;

	if (spanclass == GM_SPANCLASS_LARGE)
		return;
	b.n = 0;
	gm_lock_acquire(&c->lock);
	/* Objects held in the transfer cache would keep their pages. */
	gm_mcentral_drain_locked(c);
	for (s = c->partial; s != NULL; s = s->next)
		*released += gm_span_park_locked(s, &b);
	gm_unused_flush(&b);
	gm_lock_release(&c->lock);
}

/* Park every free OS page of every class (gomem_free_os_memory). */
size_t gm_mcentral_scavenge_all(void)
{
	size_t released = 0;
	unsigned c;

	for (c = 1; c < GM_NUM_CLASSES; c++)
		gm_mcentral_scavenge_class(c, &released);
	return released;
}

/*
 * A fresh span: every object on its free list, in address order, linked
 * plain.  All of them at once, so that every object of an in-use span is
 * either out or on a list: a free of one never handed out (free(p + 4096)
 * of an 8 B block) is then an object on a list twice, which the taking
 * walk or malloc's pop finds and names (a fresh span once handed out the
 * rest lazily, as batches wanted them, and such a free handed the object
 * out twice, silently).  A small span is one 8 KiB page: this writes at
 * most one OS page that a lazy start would not have touched yet; a bigger
 * span has at most 11 objects (1408 B in 16 KiB), one link each.  The
 * caller has dropped the class's lock (on fresh pages these writes are
 * page faults).
 */
static void gm_span_fresh(gm_mspan *s)
{
	uintptr_t p = s->start, size = s->elemsize;
	unsigned i;

	for (i = 1; i < s->nelems; i++, p += size)
		*(void **)p = (void *)(p + size);
	*(void **)p = NULL;
	s->freelist = (void *)s->start;
	s->nfree = (uint16_t)s->nelems;
}

/*
 * A fresh span of c's class from the heap, its objects on its free list;
 * c's lock is held, and dropped meanwhile.  NULL when out of memory.
 */
static gm_mspan *gm_mcentral_grow(gm_mcentral *c)
{
	gm_mspan *s;

	gm_lock_release(&c->lock);
	s = gm_mheap_alloc(gm_class_spanpages[c->spanclass], c->spanclass, 0);
	if (s != NULL)
		gm_span_fresh(s);
	gm_lock_acquire(&c->lock);
	return s;
}

/*
 * Take up to want objects off the free list of s, linked on from *linkp
 * (which moves to the last link).  The caller has c's lock, or owns s.
 * Returns how many.  A list that ends before nfree says it does ends at an
 * object whose link was overwritten with 0: a free block the program was
 * handed from another list too (a free of a block never handed out) and
 * wrote a 0 into, or a write after free; stop before it goes out again.
 */
static unsigned gm_span_take_free(gm_mspan *s, unsigned want, void ***linkp)
{
	void *p = s->freelist, **link = *linkp;
	unsigned n = 0;

	while (p != NULL && n < want) {
		*link = p;
		link = (void **)p;
		p = gm_plain_next(p);
		n++;
	}
	if (gm_unlikely(p == NULL && s->nfree != n && n != 0))
		gm_throw_ptr("gomem: double free (or write after free) of", link);
	s->freelist = p;
	s->nfree = (uint16_t)(s->nfree - n);
	*linkp = link;
	return n;
}

/*
 * Up to most whole batches from c's transfer cache, chained in the order
 * taken (lock held): *head is the first object, every link tagged, the
 * last to NULL.  How many batches.
 */
static unsigned gm_tc_take_locked(gm_mcentral *c, unsigned want, unsigned most, void **head)
{
	struct gm_tc_batch *tc = gm_central_tc[c->spanclass];
	void **link = NULL;
	unsigned k = 0;

	if (want != gm_class_batch[c->spanclass])
		return 0;
	while (k < most && c->ntc != 0) {
		struct gm_tc_batch *b = &tc[--c->ntc];

		if (k == 0)
			*head = b->head;
		else
			*(uintptr_t *)link = gm_link_enc(b->head);
		link = (void **)b->tail;
		k++;
	}
	if (k != 0)
		c->tctaken = 1; /* the last tail's link is the tagged NULL */
	return k;
}

/*
 * Take up to want objects of spanclass; returns how many, linked from
 * *head through their first words (the last links to NULL).  0 when out of
 * memory.  *whole tells a batch from the transfer cache: a list as a thread
 * cache gave it back (gm_mcache_release checked every link, and left them
 * tagged); other lists have plain links.  A cache that owns
 * spans of the class takes them with gm_mcentral_refill instead.
 */
unsigned gm_mcentral_alloc_batch(uint8_t spanclass, unsigned want, void **head, bool *whole)
{
	return gm_mcentral_refill(spanclass, NULL, want, 1, head, whole);
}

/* Every object of s is free or parked, and s on no list: back to the heap. */
static void gm_span_to_heap(gm_mspan *s)
{
	s->freelist = NULL;
	s->nfree = 0;
	if (s->parked != 0)
		gm_span_park_whole_pages(s);
	gm_mheap_free(s);
}

/*
 * Put n objects of c's class linked from head back on their spans (lock
 * held).  Spans that become entirely free go back to the heap.
 */
static void gm_mcentral_free_objs_locked(gm_mcentral *c, void *head, unsigned n)
{
	void *p = head, *next;
	gm_mspan *s = NULL;
	uintptr_t lo = 0, len = 0; /* s's bytes: a batch's objects often share a span */
	unsigned i;

	const gm_mcache *self = gm_tls_mcache;
	bool owned;

	for (i = 0; i < n && p != NULL; i++, p = next) {
		if ((uintptr_t)p - lo >= len) {
			s = gm_span_of((uintptr_t)p);
			lo = s->start;
			len = s->npages << GM_PAGE_SHIFT;
		}
		next = gm_link_take(p);
		/* An owned span's free list is its owner's: another's takes
		 * the object through its thread-free list, ours directly, and
		 * it stays on no list (the OWNED bit changes only under this
		 * lock). */
		owned = __atomic_load_n(&s->xfree, __ATOMIC_RELAXED) & GM_XFREE_OWNED;
		if (owned && __atomic_load_n(&s->owner, __ATOMIC_RELAXED) != self) {
			if (!gm_span_xfree_push(s, p))
				gm_throw("gomem: an owned span lost its owner");
			continue;
		}
		*(void **)p = s->freelist;
		s->freelist = p;
		if (owned) {
			s->nfree++;
			continue;
		}
		/* (A span with parked objects is on the partial list already.) */
		if (++s->nfree == 1 && gm_span_state(s) != GM_SPAN_PARTIAL)
			gm_partial_insert_locked(c, s);
		if (s->nfree + s->nparked == s->nelems) {
			gm_partial_remove_locked(c, s);
			gm_span_to_heap(s);
			lo = len = 0; /* s is gone */
		}
	}
}

/*
 * Give back n objects of spanclass linked from head by tagged links (to
 * NULL after the n-th).  A whole batch goes to the transfer cache while it has room,
 * anything else back on the spans.
 */
void gm_mcentral_free_batch(uint8_t spanclass, void *head, unsigned n)
{
	void *tail = head;

	for (unsigned i = 1; i < n && tail != NULL; i++)
		tail = gm_link_take(tail);
	gm_mcentral_free_batches(spanclass, &head, &tail, 1, n);
}

/*
 * Give back n objects of spanclass as k lists: heads[0..k-2] whole batches
 * of gm_class_batch objects, heads[k-1] the other n - (k-1) * batch, each
 * linked by tagged links to NULL; tails[i] is the last object of a whole
 * batch.  One lock
 * for all: the batches that fit go to the transfer cache, the rest back on
 * their spans.
 */
void gm_mcentral_free_batches(uint8_t spanclass, void **heads, void **tails, unsigned k,
			      unsigned n)
{
	gm_mcentral *c = &gm_central[spanclass];
	unsigned b = gm_class_batch[spanclass], i;

	gm_lock_acquire(&c->lock);
	for (i = 0; i < k; i++) {
		unsigned m = i + 1 < k ? b : n - i * b;

		if (m == b && c->ntc < c->tcmax)
			gm_central_tc[c->spanclass][c->ntc++] =
				(struct gm_tc_batch){.head = heads[i], .tail = tails[i]};
		else
			gm_mcentral_free_objs_locked(c, heads[i], m);
	}
	gm_lock_release(&c->lock);
}

/* Put the transfer cache's batches past the first keep back on their spans (lock held). */
static void gm_tc_shrink_locked(gm_mcentral *c, unsigned keep)
{
	while (c->ntc > keep)
		gm_mcentral_free_objs_locked(c, gm_central_tc[c->spanclass][--c->ntc].head,
					     UINT32_MAX);
}

/* Empty the transfer cache onto the spans (lock held). */
static void gm_mcentral_drain_locked(gm_mcentral *c)
{
	gm_tc_shrink_locked(c, 0);
}

/* Empty the transfer cache of spanclass: its spans may go back to the heap. */
void gm_mcentral_drain(unsigned spanclass)
{
	gm_mcentral *c = &gm_central[spanclass];

	gm_lock_acquire(&c->lock);
	gm_mcentral_drain_locked(c);
	gm_lock_release(&c->lock);
}

/*
 * Each class's transfer cache that no refill took from since the last call
 * keeps at most tcbase batches; the rest go back on their spans (the
 * scavenger, every GM_TC_IDLE_NS).
 */
void gm_mcentral_trim_idle(void)
{
	for (unsigned i = 1; i < GM_NUM_SPANCLASSES; i++) {
		gm_mcentral *c = &gm_central[i];

		gm_lock_acquire(&c->lock);
		if (!c->tctaken)
			gm_tc_shrink_locked(c, c->tcbase);
		c->tctaken = 0;
		gm_lock_release(&c->lock);
	}
}

/* Empty every class's transfer cache (a freed spike, memory pressure). */
void gm_mcentral_drain_all(void)
{
	for (unsigned c = 1; c < GM_NUM_SPANCLASSES; c++)
		gm_mcentral_drain(c);
}

/* ---- Owned spans (see "Owned spans" in internal.h) ---- */

/*
 * Push p, its link tagged for the owner's collection to check, on the
 * thread-free list of s if s has an owner; false if it has none (the caller
 * frees p as before).  A CAS loop: no lock, no sleep.  Release: the link
 * reaches the owner with the object.
 */
bool gm_span_xfree_push(gm_mspan *s, void *p)
{
	uintptr_t x = __atomic_load_n(&s->xfree, __ATOMIC_RELAXED);

	do {
		if (!(x & GM_XFREE_OWNED))
			return false;
		*(uintptr_t *)p = gm_link_enc(gm_xfree_head(x));
	} while (!__atomic_compare_exchange_n(&s->xfree, &x,
					      (uintptr_t)p | GM_XFREE_OWNED |
						  ((x & ~(GM_XFREE_ONE - 1)) + GM_XFREE_ONE),
					      true, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	return true;
}

/*
 * Put the thread-free list from head on the free list of s (owner or lock
 * held).  Each tagged link is checked and made plain, as the span's free
 * list has them: an object pushed twice meets its plain link, or the walk
 * meets more objects than the span has out.
 */
static void gm_span_merge(gm_mspan *s, void *head)
{
	unsigned n = 0, out = (unsigned)(s->nelems - s->nfree - s->nparked);
	void *p, *next, *tail = NULL;

	for (p = head; p != NULL; p = next) {
		if (gm_unlikely(n == out))
			gm_throw_ptr("gomem: double free of", p);
		next = gm_link_take(p);
		*(void **)p = next; /* plain, as on the span's free list */
		tail = p;
		n++;
	}
	if (tail == NULL)
		return;
	*(void **)tail = s->freelist;
	s->freelist = head;
	s->nfree = (uint16_t)(s->nfree + n);
}

/*
 * The owner of s gives it up: what other threads freed into it joins its
 * free list (the exchange clears OWNED: later frees stay with their
 * threads), its code leaves free's page table, and the span goes on the
 * partial list, or back to the heap if all its objects are free.
 */
static void gm_span_disown_locked(gm_mcentral *c, gm_mspan *s)
{
	uintptr_t x = __atomic_exchange_n(&s->xfree, 0, __ATOMIC_ACQUIRE);

	gm_assert(x & GM_XFREE_OWNED, "disown of a span with no owner");
	gm_span_merge(s, gm_xfree_head(x));
	__atomic_store_n(&s->owner, NULL, __ATOMIC_RELAXED);
	gm_span_fast_set(s, GM_FAST_CODE_MASK, 0);
	if (s->nfree + s->nparked == s->nelems)
		gm_span_to_heap(s);
	else if (s->freelist != NULL || s->nparked != 0)
		gm_partial_insert_locked(c, s);
}

/* gm_span_disown_locked for a caller without the lock (thread exit, fork). */
void gm_mcentral_disown(gm_mspan *s)
{
	gm_mcentral *c = &gm_central[s->spanclass];

	gm_lock_acquire(&c->lock);
	gm_span_disown_locked(c, s);
	gm_lock_release(&c->lock);
}

/*
 * In a forked child, the span s that a dead thread owned: that thread may
 * have been half through taking objects off it (no lock), its free list
 * moved on and nfree not yet, so count the list again, cut where a link
 * leaves the span's objects.  What the thread held is leaked (counted out).
 */
void gm_span_recount_own(gm_mspan *s)
{
	void **link = &s->freelist, *p;
	unsigned n = 0;

	while ((p = *link) != NULL) {
		uintptr_t off = (uintptr_t)p - s->start;

		if (n == s->nelems || off >= s->nelems * (uintptr_t)s->elemsize ||
		    off % s->elemsize != 0) {
			*link = NULL;
			break;
		}
		link = (void **)p;
		n++;
	}
	s->nfree = (uint16_t)n;
}

/*
 * Objects of the span s the calling thread owns, linked from *head (the
 * last links to NULL): what other threads freed into it (one exchange),
 * all of it if that is at most max, as it is, its links tagged (*keyed);
 * else up to want off its free list (where the rest of the thread-free
 * list goes first).  The thread-free list before the free list, which
 * holds the span's objects never handed out: objects come back into use
 * before fresh lines are touched, and an object freed twice by another
 * thread is found while the span still has fresh ones.  No lock.  0 when
 * both are empty.
 */
unsigned gm_span_take_own(gm_mspan *s, unsigned want, unsigned max, void **head, bool *keyed)
{
	void *first = NULL, **link = &first;
	unsigned n;

	*keyed = false;
	if (gm_xfree_head(__atomic_load_n(&s->xfree, __ATOMIC_RELAXED)) != NULL) {
		uintptr_t x = __atomic_exchange_n(&s->xfree, GM_XFREE_OWNED, __ATOMIC_ACQUIRE);

		n = gm_xfree_count(x);
		if (n <= max && !gm_opt.safelink) {
			*keyed = true;
			*head = gm_xfree_head(x);
			return n;
		}
		gm_span_merge(s, gm_xfree_head(x));
	}
	n = gm_span_take_free(s, want, &link);
	*link = NULL;
	*head = first;
	return n;
}

/*
 * Up to want objects of spanclass for the cache mc, linked from *head (the
 * last links to NULL); returns how many, 0 when out of memory; *whole as
 * gm_mcentral_alloc_batch says.  One lock for the lot: up to most whole
 * batches from the transfer cache if it has any, chained (want is then the
 * batch size; mc keeps the span it owns; the count is a multiple); else
 * objects off the spans on the partial list, then fresh spans.  With mc
 * (its own span of the class is used up), mc gives that span up and owns
 * the first span that can fill what is still wanted; spans with fewer free
 * objects (fragmented ones) give theirs as they are and stay unowned, so a
 * refill never takes the lock for a handful of objects.  Without mc no span
 * gets an owner.
 */
unsigned gm_mcentral_refill(uint8_t spanclass, gm_mcache *mc, unsigned want, unsigned most,
			    void **head, bool *whole)
{
	gm_mcentral *c = &gm_central[spanclass];
	void *first = NULL, **link = &first;
	gm_mspan *s;
	unsigned n = 0, k;

	gm_lock_acquire(&c->lock);
	k = gm_tc_take_locked(c, want, most < GM_TC_MULTI ? most : GM_TC_MULTI, head);
	if (k != 0) {
		gm_lock_release(&c->lock);
		*whole = true;
		return k * want;
	}
	*whole = false;
	if (mc != NULL && mc->own[spanclass] != NULL) {
		gm_span_disown_locked(c, mc->own[spanclass]);
		mc->own[spanclass] = NULL;
	}
	while (n < want) {
		bool own;

		s = c->partial;
		if (s == NULL) {
			s = gm_mcentral_grow(c);
			if (s == NULL)
				break;
			gm_partial_insert_locked(c, s);
		}
		/* Its free list, then parked objects (all of them first if mc
		 * is to own the span: no object of an owned span is parked). */
		own = mc != NULL && s->nfree + s->nparked >= want - n;
		if (s->nparked != 0 && (own || s->freelist == NULL))
			gm_span_unpark_locked(s);
		n += gm_span_take_free(s, want - n, &link);
		if (own) {
			/* Ours: the rest of its objects are mc's alone. */
			gm_partial_remove_locked(c, s);
			__atomic_store_n(&s->owner, mc, __ATOMIC_RELAXED);
			__atomic_store_n(&s->xfree, GM_XFREE_OWNED, __ATOMIC_RELAXED);
			gm_span_fast_set(s, GM_FAST_CODE_MASK, ~mc->notcode);
			mc->own[spanclass] = s;
			break;
		}
		/* Off the partial list once empty; parked objects keep it on. */
		if (s->freelist == NULL && s->nparked == 0)
			gm_partial_remove_locked(c, s);
	}
	gm_lock_release(&c->lock);
	*link = NULL;
	*head = first;
	return n;
}
