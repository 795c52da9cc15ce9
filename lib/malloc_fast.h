/*
 * malloc_fast.h: the fast paths of malloc and free.
 *
 * Inlined into the exported malloc and free (export.c), so a call from a
 * program costs no extra jump, and into gm_malloc and gm_free (malloc.c) for
 * the core's own callers and the unit tests.  Everything else is in
 * malloc.c's slow paths.
 *
 * Instructions on x86-64 (GCC 12 -O2), a pair of malloc(32) and free:
 *   malloc: 19.  TLS 2, size test 2, class lookup 2, pop 5, room 1, key
 *           clear 1, Mallocs counter 1 (one add to memory), sampling
 *           countdown 2, return 2.
 *   free:   33.  page -> span 12, TLS 2, class and room on the list 4
 *           + 1, object start check 7, double-free key 2 + 1 store, push
 *           3, Frees counter 1, return 1.  With the call, the PLT jump and
 *           the loop, callgrind counts 64 per pair (bench/callgrind-pair.sh).
 */
#ifndef GM_MALLOC_FAST_H
#define GM_MALLOC_FAST_H

#include "internal.h"

void *gm_malloc_slow(size_t n, gm_mcache *mc);
void gm_free_slow(void *p, gm_mspan *s);

/* Byte n: the size class of a request of n = 0..1016 bytes (msize.c). */
extern uint8_t gm_small_class[GM_SMALL_MAX - 8 + 1];

gm_inline void *gm_malloc_fast(size_t n)
{
	gm_mcache *mc = gm_tls_mcache;

	/* Up to 1016 bytes (0 too: a unique 16 B block). */
	if (gm_likely(n <= GM_SMALL_MAX - 8)) {
		size_t c = gm_small_class[n];
		void *p = mc->free[c];

		if (gm_likely(p != NULL)) {
			mc->free[c] = *(void **)p;
			mc->room[c]++;
			((uintptr_t *)p)[1] = 0;
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
	gm_heaparena *ha = gm_arenas[(a >> GM_ARENA_SHIFT) & (GM_ARENA_L2_ENTRIES - 1)];

	if (gm_unlikely(ha == NULL))
		return NULL;
	return ha->spans[(a >> GM_PAGE_SHIFT) & (GM_ARENA_PAGES - 1)];
}

gm_inline void gm_free_fast(void *p)
{
	uintptr_t a = (uintptr_t)p;
	gm_mspan *s = gm_span_of_fast(a); /* NULL for NULL: arena 0 never exists */

	if (gm_likely(s != NULL)) {
		gm_mcache *mc = gm_tls_mcache;
		/* Relaxed: the profiler changes it when it samples another object of
		 * the span (a sampled object reaches its freer after that store). */
		size_t c = __atomic_load_n(&s->fastclass, __ATOMIC_RELAXED);
		uintptr_t *w = p, key = (uintptr_t)s;

		/* A span free may take objects of (fastclass 0 has no room),
		 * room on the list (the empty cache has none), the start of an
		 * object, not freed already; else the slow path, which names
		 * bad pointers. */
		if (gm_likely(mc->room[c] != 0 &&
			      gm_obj_index(a - s->start, s->inv, s->shift) < s->nelems &&
			      w[1] != key)) {
			w[0] = (uintptr_t)mc->free[c];
			__asm__("" ::: "memory"); /* two plain stores, not a vector shuffle */
			w[1] = key;
			mc->free[c] = p;
			mc->room[c]--;
			gm_stat_inc(&mc->stats.nfree[c]);
			return;
		}
	}
	gm_free_slow(p, s);
}

#endif /* GM_MALLOC_FAST_H */
