/*
 * malloc_fast.h: the fast paths of malloc and free.
 *
 * Inlined into the exported malloc and free (export.c), so a call from a
 * program costs no extra jump, and into gm_malloc and gm_free (malloc.c) for
 * the core's own callers and the unit tests.  Everything else is in
 * malloc.c's slow paths.
 *
 * Instructions on x86-64 (GCC 12 -O2), a pair of malloc(32) and free:
 *   malloc: 19.  TLS 2, size test 2, class lookup 2, pop 4, room 1, key
 *           word 1 + clear 1, Mallocs counter 1 (one add to memory),
 *           sampling countdown 2, return 2.
 *   free:   35.  page -> span 11 (no test: gm_arena_none, gm_span_none),
 *           TLS 2, class, key word and room on the list 5, list head 1,
 *           object start check 7, not the list head 2, double-free key
 *           in word 1 2 + 1 store, push 2, Frees counter 1, return 1.
 *   With the call, the PLT jump and the loop, callgrind counts 64 per pair
 *   of malloc(32) or malloc(8) and free (bench/callgrind-pair.sh).  The
 *   hot entry points are built without GCC's straight-line strength
 *   reduction (gm_hot), which spends an instruction on a shared address.
 */
#ifndef GM_MALLOC_FAST_H
#define GM_MALLOC_FAST_H

#include "internal.h"

void *gm_malloc_slow(size_t n, gm_mcache *mc);
void gm_free_slow(void *p, gm_mspan *s);

gm_inline void *gm_malloc_fast(size_t n)
{
	gm_mcache *mc = gm_tls_mcache;

	/* Up to 1016 bytes (0 too: a unique 8 B block). */
	if (gm_likely(n <= GM_SMALL_MAX - 8)) {
		size_t c = gm_small.cls[n];
		void *p = mc->free[c];

		if (gm_likely(p != NULL)) {
			mc->free[c] = *(void **)p;
			mc->room[c]++;
			((uintptr_t *)p)[gm_small.keyw[c]] = 0;
			gm_stat_inc(&mc->stats.nmalloc[c]);
			return gm_prof_account(mc, p, n);
		}
	}
	return gm_malloc_slow(n, mc);
}

/*
 * The span of the page of a, for free's fast path: like gm_span_of, but an
 * address above the 47-bit user space aliases one below it.  The caller's
 * object start check rejects such an address (its offset from the span is
 * at least 2^47, past every span), and the slow path looks again.
 */
gm_inline gm_mspan *gm_span_of_fast(uintptr_t a)
{
	gm_heaparena *ha = gm_arena_at((a >> GM_ARENA_SHIFT) & (GM_ARENA_L2_ENTRIES - 1));

	return gm_spanref_any(ha->spans[(a >> GM_PAGE_SHIFT) & (GM_ARENA_PAGES - 1)]);
}

/*
 * w[kw] = key, before the link goes in (in the 8 B class both are word 0).
 * On x86-64 one store with the index in the address: GCC would compute the
 * address once with a lea for the load and the store.
 */
gm_inline void gm_store_key(uintptr_t *w, uintptr_t kw, uintptr_t key)
{
#if defined(__x86_64__)
	__asm__ volatile("movq %1, (%0,%2,8)" : : "r"(w), "r"(key), "r"(kw) : "memory");
#else
	w[kw] = key;
	__asm__("" ::: "memory");
#endif
}

/*
 * mc->room[c]--: on x86-64 one subtract from memory addressed from mc and c
 * (GCC would spend an instruction on an index of its own).
 */
gm_inline void gm_room_take(gm_mcache *mc, size_t c)
{
#if defined(__x86_64__)
	__asm__ volatile("subq $1, %c2(%0,%1,8)"
			 :
			 : "r"(mc), "r"(c), "i"(offsetof(gm_mcache, room))
			 : "memory");
#else
	mc->room[c]--;
#endif
}

/*
 * Go to label found if w[1] == key: one compare with memory and a jump.  In
 * asm on x86-64: for an 8 B object w[1] is a neighbour another thread may
 * own and write, a read that decides nothing by itself (ThreadSanitizer
 * would call it a race).
 */
#if defined(__x86_64__)
#define gm_if_word1_is(w, key, found)                                                              \
	__asm__ goto("cmpq %1, %0\n\tje %l2" : : "m"((w)[1]), "r"(key) : "cc" : found)
#else
#define gm_if_word1_is(w, key, found)                                                              \
	do {                                                                                       \
		if (__atomic_load_n(&(w)[1], __ATOMIC_RELAXED) == (key))                           \
			goto found;                                                                \
	} while (0)
#endif

gm_inline void gm_free_fast(void *p)
{
	uintptr_t a = (uintptr_t)p;
	gm_mspan *s = gm_span_of_fast(a); /* gm_span_none for NULL: arena 0 never exists */
	gm_mcache *mc = gm_tls_mcache;
	/* Relaxed: the profiler changes it when it samples another object of
	 * the span (a sampled object reaches its freer after that store). */
	size_t c = __atomic_load_n(&s->fastclass, __ATOMIC_RELAXED);
	uintptr_t *w = p, key = (uintptr_t)s, kw = s->keyw;
	void *head = mc->free[c];

	/* A span free may take objects of (fastclass 0 has no room: no span,
	 * large, sampled), room on the list (the empty cache has none), the
	 * start of an object, not freed already: no key in word 1 and not the
	 * list's head (the 8 B class's check, see malloc.c); else the slow
	 * path, which names bad pointers.  No test of the class (sizes mixed
	 * at random would mispredict it): an 8 B object's word 1 is its
	 * neighbour's word 0 or the span's guard word (msize.c), read and
	 * never written, and the slow path ignores a key found there. */
	if (gm_likely(mc->room[c] != 0 &&
		      gm_obj_index(a - s->start, s->inv, s->shift) < s->nelems && p != head)) {
		gm_if_word1_is(w, key, slow);
		gm_store_key(w, kw, key);
		w[0] = (uintptr_t)head;
		mc->free[c] = p;
		gm_room_take(mc, c);
		gm_stat_inc(&mc->stats.nfree[c]);
		return;
	}
slow:
	gm_free_slow(p, s);
}

#endif /* GM_MALLOC_FAST_H */
