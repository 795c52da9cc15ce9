/*
 * mcentral.c: central lists of spans with free objects, one per span class.
 *
 * A small-object span is owned by at most one mcache.  The owner allocates
 * from, and frees into, a thread-local list with no atomic operation.
 * Everybody else frees into the span's remote list: one word holding the
 * list head, its length and a DETACHED bit, updated by compare-and-swap
 * (pushes only, and the owner takes the whole list with one exchange, so
 * there is no ABA problem).
 *
 * Span life:
 *   CACHED            owned by an mcache.  When its local and remote lists
 *                     are both empty the owner detaches it: it sets the state
 *                     to DETACHED_FULL and CASes the remote word 0 -> DETACHED
 *                     (if a remote free got there first, it keeps the span).
 *   DETACHED_FULL     on no list.  The free that finds DETACHED and an empty
 *                     list moves it to the partial list.
 *   DETACHED_PARTIAL  on mcentral.partial.  cache_span takes it with one
 *                     exchange of the remote word, which clears DETACHED and
 *                     hands over every free object.
 *   any DETACHED      the free that makes the remote count equal nelems
 *                     gives the span back to the heap.
 * Every decision is re-checked under the mcentral lock against the current
 * remote word and state, so a late notifier does the right thing or nothing.
 *
 * Lock order: mcentral.lock before gm_heap.lock.
 */
#include "internal.h"

gm_mcentral gm_central[GM_NUM_SPANCLASSES];

/* Set up the central lists. */
void
gm_mcentral_init(void)
{
	unsigned i;

	for (i = 0; i < GM_NUM_SPANCLASSES; i++) {
		pthread_mutex_init(&gm_central[i].lock, NULL);
		gm_central[i].spanclass = (uint8_t)i;
		gm_central[i].partial = NULL;
	}
}

static inline uint8_t
gm_span_state(gm_mspan *s)
{
	return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
}

static inline void
gm_span_set_state(gm_mspan *s, uint8_t st)
{
	__atomic_store_n(&s->state, st, __ATOMIC_RELEASE);
}

static void
gm_partial_insert_locked(gm_mcentral *c, gm_mspan *s)
{
	s->prev = NULL;
	s->next = c->partial;
	if (s->next != NULL)
		s->next->prev = s;
	c->partial = s;
}

static void
gm_partial_remove_locked(gm_mcentral *c, gm_mspan *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		c->partial = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
}

/*
 * Decide what a detached span needs, with c->lock held: back to the heap if
 * every object is free, onto the partial list if it has free objects.
 */
static void
gm_mcentral_evaluate_locked(gm_mcentral *c, gm_mspan *s)
{
	uint64_t w = atomic_load_explicit(&s->remote, memory_order_acquire);
	uint8_t st = gm_span_state(s);
	unsigned n;

	if (!(w & GM_REMOTE_DETACHED) || s->spanclass != c->spanclass ||
	    (st != GM_SPAN_DETACHED_FULL && st != GM_SPAN_DETACHED_PARTIAL))
		return;
	n = gm_remote_count(w);
	if (n >= s->nelems) {
		if (st == GM_SPAN_DETACHED_PARTIAL)
			gm_partial_remove_locked(c, s);
		c->nspans--;
		gm_mheap_free(s);
		return;
	}
	if (n > 0 && st == GM_SPAN_DETACHED_FULL) {
		gm_partial_insert_locked(c, s);
		gm_span_set_state(s, GM_SPAN_DETACHED_PARTIAL);
	}
}

/* Link the objects of a fresh span into a list; returns the head. */
static void *
gm_span_build_list(gm_mspan *s)
{
	uintptr_t p = s->base, sz = s->elemsize;
	unsigned i;

	for (i = 0; i + 1 < s->nelems; i++, p += sz)
		*(void **)p = (void *)(p + sz);
	*(void **)p = NULL;
	return (void *)s->base;
}

/*
 * A span of spanclass with free objects for an mcache to own; *list gets
 * its free objects.  NULL when out of memory.
 */
gm_mspan *
gm_mcentral_cache_span(uint8_t spanclass, void **list)
{
	gm_mcentral *c = &gm_central[spanclass];
	gm_mspan *s;
	uint64_t w;

	pthread_mutex_lock(&c->lock);
	s = c->partial;
	if (s != NULL) {
		gm_partial_remove_locked(c, s);
		w = atomic_exchange_explicit(&s->remote, 0, memory_order_acq_rel);
		gm_span_set_state(s, GM_SPAN_CACHED);
		pthread_mutex_unlock(&c->lock);
		gm_dassert(gm_remote_ptr(w) != NULL, "partial span without free objects");
		*list = gm_remote_ptr(w);
		return s;
	}
	c->nspans++;
	pthread_mutex_unlock(&c->lock);

	s = gm_mheap_alloc(spanclass == GM_SPANCLASS_TINY ? 1 : gm_class_npages[spanclass],
			   spanclass, 0);
	if (s == NULL) {
		pthread_mutex_lock(&c->lock);
		c->nspans--;
		pthread_mutex_unlock(&c->lock);
		return NULL;
	}
	if (spanclass == GM_SPANCLASS_TINY)
		__builtin_memset((void *)s->start, 0, GM_TINY_META);
	*list = gm_span_build_list(s);
	return s;
}

/*
 * The owner gives up span s (thread exit), with its local free list
 * list..tail of n objects: merge them into the remote list, mark the span
 * detached and put it where it belongs.
 */
void
gm_mcentral_uncache_span(gm_mspan *s, void *list, void *tail, unsigned n)
{
	gm_mcentral *c = &gm_central[s->spanclass];
	uint64_t w, nw;

	pthread_mutex_lock(&c->lock);
	gm_span_set_state(s, GM_SPAN_DETACHED_FULL);
	w = atomic_load_explicit(&s->remote, memory_order_relaxed);
	do {
		if (n != 0) {
			*(void **)tail = gm_remote_ptr(w);
			nw = (uint64_t)(uintptr_t)list;
		} else {
			nw = w & GM_REMOTE_PTR_MASK;
		}
		nw |= ((uint64_t)(gm_remote_count(w) + n) << GM_REMOTE_COUNT_SHIFT) |
		      GM_REMOTE_DETACHED;
	} while (!atomic_compare_exchange_weak_explicit(&s->remote, &w, nw, memory_order_acq_rel,
						       memory_order_relaxed));
	gm_mcentral_evaluate_locked(c, s);
	pthread_mutex_unlock(&c->lock);
}

/* A free found s detached: let mcentral re-evaluate it. */
static gm_noinline void
gm_mcentral_notify(gm_mspan *s)
{
	uint8_t sc = __atomic_load_n(&s->spanclass, __ATOMIC_RELAXED);
	gm_mcentral *c;

	if (sc == GM_SPANCLASS_LARGE || sc >= GM_NUM_SPANCLASSES)
		return;
	c = &gm_central[sc];
	pthread_mutex_lock(&c->lock);
	gm_mcentral_evaluate_locked(c, s);
	pthread_mutex_unlock(&c->lock);
}

/* Push the list head..tail of n objects of span s from a non-owner. */
void
gm_mcentral_remote_free_list(gm_mspan *s, void *head, void *tail, unsigned n)
{
	uint64_t w = atomic_load_explicit(&s->remote, memory_order_relaxed), nw;
	unsigned before;

	do {
		*(void **)tail = gm_remote_ptr(w);
		nw = (uint64_t)(uintptr_t)head | ((w & ~GM_REMOTE_PTR_MASK) + GM_REMOTE_COUNT_ONE * n);
	} while (!atomic_compare_exchange_weak_explicit(&s->remote, &w, nw, memory_order_release,
						       memory_order_relaxed));
	if (gm_unlikely(w & GM_REMOTE_DETACHED)) {
		before = gm_remote_count(w);
		if (before == 0 || before + n >= s->nelems)
			gm_mcentral_notify(s);
	}
}

/* Free p into span s from a thread that does not own s. */
void
gm_mcentral_remote_free(gm_mspan *s, void *p)
{
	gm_mcentral_remote_free_list(s, p, p, 1);
}
