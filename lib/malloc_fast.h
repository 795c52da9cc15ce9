/*
 * malloc_fast.h: the fast paths of malloc and free.
 *
 * Inlined into the exported malloc and free (export.c), so a call from a
 * program costs no extra jump, and into gm_malloc and gm_free (malloc.c) for
 * the core's own callers and the unit tests.  Everything else is in
 * malloc.c's slow paths.
 *
 * Instructions on x86-64 (GCC 12 -O2), a pair of malloc(32) and free:
 *   malloc: 19.  TLS 2, size test 2, class lookup 1 (the cache's own copy
 *           of the size table: no lea), pop 3, the link, which is the
 *           double-free key: load 1 + untag 1 (an XOR with the tag in
 *           memory) + check 2 (a test with the mask in memory), unlink 1,
 *           room 1, taken store 1 (word 0 left 0), Mallocs counter 1 (one
 *           add to memory), sampling countdown 2, return 1 (the object is
 *           kept in the return register).
 *   free:   33.  page -> free's page table entry 10 (the first arena's
 *           table after a compare with its index, gm_afirst: one load
 *           from the address where the map takes two; other arenas
 *           through the map; no test for NULL: arena 0 is gm_arena_none's
 *           zeros), TLS 2, the cache's own owner code
 *           cleared from the entry 1 (an AND with mc->notcode: another
 *           cache's code fails the start check), class byte, room and
 *           head of the list 5, object start check 7 (the offset is the
 *           address plus the class, one lea, minus the entry; the size's
 *           inverse, shift and object count are indexed off the map's
 *           base register), not the list head 2, the tagged link 2 (XOR,
 *           store), push 1, room 1, Frees counter 1, return 1.  Nothing
 *           of the object or its span is read (malloc checks the link).
 *   With the call, the PLT jump and the loop, callgrind counts 62.1 per
 *   pair of malloc(32) and free, 62.0 of malloc(8) and free
 *   (bench/callgrind-pair.sh; 61.0 and 60.8 through the map, whose
 *   second load was on the loop's chain: pair8 took 16% longer; 63.1 and
 *   63.0 with the key in word 1, 62.1
 *   and 62.2 when free read the span, 64.1 and 64.0 before the key moved
 *   to malloc).  Touching a word beside the link costs more than its
 *   instructions: the key in word 1 cost larson and glibc-thread 8-10%
 *   (bench/README).  The span's line likewise: in larson-sized under
 *   cachegrind, free's L1 read misses per unit of the program's work fell
 *   about 3.8 times when free stopped reading it.
 *   operator new and new[] (export_cxx.c) are the same 19 and a lea:
 *   their slow path, the new-handler's loop included, is a function of its
 *   own (gm_malloc_fast_or).  With that loop around the inlined fast path
 *   they saved four registers and built a frame, 10 instructions more a
 *   call, 5% of one-thread larson (new[] and delete[]).
 *   The hot entry points are built without GCC's straight-line
 *   strength reduction (gm_hot), which spends an instruction on a shared
 *   address.
 */
#ifndef GM_MALLOC_FAST_H
#define GM_MALLOC_FAST_H

#include "internal.h"

void *gm_malloc_slow(size_t n, gm_mcache *mc);
void gm_free_slow(void *p);

/*
 * Go to label bad unless n, a decoded link, is one (gm_link_ok): on x86-64
 * one test with memory and a jump (GCC would load the mask into a register
 * first).  w, the object, in the return register: malloc returns it, and
 * GCC would keep it in another and move it on the return.
 */
#if defined(__x86_64__)
#define gm_if_not_link(n, w, bad)                                                                  \
	__asm__ goto("testq %0, %1\n\tjnz %l3"                                                      \
		     :                                                                             \
		     : "r"(n), "m"(gm_link_hibits), "a"(w)                                        \
		     : "cc"                                                                        \
		     : bad)
#else
#define gm_if_not_link(n, w, bad)                                                                  \
	do {                                                                                       \
		if (!gm_link_ok(n))                                                                \
			goto bad;                                                                  \
	} while (0)
#endif

/*
 * Return (from the function this is in) an object of class c popped off
 * mc's list for a request of n bytes; go to miss if the list is empty or the
 * popped object's word 0 is not a tagged link (the double-free key, see
 * malloc.c), where the slow path refills the list or stops the process.
 * Word 0 is left 0.  A macro: the return is the caller's, so a sample's call
 * stays a tail call and the caller needs no frame.
 */
#define gm_cache_pop_or(mc, c, n, miss)                                                            \
	do {                                                                                       \
		void *p_ = (mc)->free[c];                                                          \
                                                                                                   \
		if (gm_likely(p_ != NULL)) {                                                       \
			uintptr_t *w_ = p_;                                                        \
			uintptr_t next_ = w_[0] ^ gm_link_tag;                                     \
                                                                                                   \
			gm_if_not_link(next_, w_, miss);                                           \
			(mc)->free[c] = (void *)next_;                                             \
			(mc)->room[c]++;                                                           \
			w_[0] = 0;                                                                 \
			gm_stat_inc(&(mc)->stats.nmalloc[c]);                                      \
			return gm_prof_account((mc), w_, (n));                                     \
		}                                                                                  \
	} while (0)

/*
 * The fast path, with slow(n, mc) for everything else: inlined with a
 * constant slow, the caller's only call is that tail call, so it needs no
 * frame (operator new passes its own, which also runs the new-handler).
 */
gm_inline void *gm_malloc_fast_or(size_t n, void *(*slow)(size_t, gm_mcache *))
{
	gm_mcache *mc = gm_tls_mcache;

	/* Up to 1016 bytes (0 too: a unique 8 B block). */
	if (gm_likely(n <= GM_SMALL_MAX - 8)) {
		size_t c = mc->small.cls[n];

		gm_cache_pop_or(mc, c, n, slow);
	}
slow:
	return slow(n, mc);
}

gm_inline void *gm_malloc_fast(size_t n)
{
	return gm_malloc_fast_or(n, gm_malloc_slow);
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
 * Free's page table entry of the page of a (see gm_heaparena.fast): the
 * span's start | fastclass | owner code, 0 for no small-object span (arena
 * 0 never exists: NULL finds gm_arena_none's zeros).
 */
gm_inline uintptr_t gm_fast_entry(uintptr_t a)
{
	size_t pg = (a >> GM_PAGE_SHIFT) & (GM_ARENA_PAGES - 1);

	if (gm_likely(a >> GM_ARENA_SHIFT == __atomic_load_n(&gm_afirst.idx, __ATOMIC_ACQUIRE)))
		return __atomic_load_n(&__atomic_load_n(&gm_afirst.fast, __ATOMIC_RELAXED)[pg],
				       __ATOMIC_RELAXED);

	gm_heaparena *ha = gm_arena_at((a >> GM_ARENA_SHIFT) & (GM_ARENA_L2_ENTRIES - 1));

	return __atomic_load_n(&ha->fast[pg], __ATOMIC_RELAXED);
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
 * Push p, a block of class c, on mc's (unmasked) list whose head is head:
 * its link tagged.  Free's fast path and gm_free_slow's lean path.
 */
gm_inline void gm_free_push(gm_mcache *mc, size_t c, void *p, void *head)
{
	*(uintptr_t *)p = gm_link_enc(head);
	mc->free[c] = p;
	gm_room_take(mc, c);
	gm_stat_inc(&mc->stats.nfree[c]);
}

gm_inline void gm_free_fast(void *p)
{
	uintptr_t a = (uintptr_t)p;
	gm_mcache *mc = gm_tls_mcache;
	/* With the owner code of this cache cleared (see "Owned spans" in
	 * internal.h): another's stays, and fails the start check below. */
	uintptr_t e = gm_fast_entry(a) & mc->notcode;
	size_t c = (uint8_t)e;
	void *head = mc->free[c];
	/* a + c on its own: one lea, where GCC would copy c, subtract and add. */
	uintptr_t ac = a + c;

	__asm__("" : "+r"(ac));
	/* A span free may take objects of (fastclass 0 has no room: no span,
	 * large, sampled), room on the list (the empty cache has none), the
	 * start of an object ((a + c) - e is its offset in the span, far
	 * past any span if another cache owns it), not the list's head
	 * (free(p); free(p)); else the slow path, which names bad pointers and
	 * sends another cache's objects home.  Nothing of the object or its
	 * span is read: their lines are often cold here, and malloc reads the
	 * object anyway. */
	if (gm_likely(mc->room[c] != 0 &&
		      gm_obj_index(ac - e, gm_amap.cinv[c], gm_amap.cshift[c]) <
			  gm_amap.cnelems[c] &&
		      p != head)) {
		gm_free_push(mc, c, p, head);
		return;
	}
	gm_free_slow(p);
}

/*
 * malloc_usable_size: the start of an object of a small-object span is its
 * class's size, read from free's page table as free reads it (the owner's
 * code cleared: any cache's objects have the same size), with the same
 * object start check.  Programs that count their memory (Redis's zmalloc)
 * call it on every allocation and free; through the span it took two
 * dependent loads, the span's often cold line and a 64-bit division.
 * Everything else (NULL, large blocks, spans with sampled blocks, interior
 * and foreign pointers) goes the span's way.
 */
gm_inline size_t gm_usable_size_fast(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	uintptr_t e = gm_fast_entry(a) & ~GM_FAST_CODE_MASK;
	size_t c = (uint8_t)e;

	/* Class 0 (no span, large, sampled) has no objects (cnelems[0] = 0). */
	if (gm_likely(gm_obj_index(a + c - e, gm_amap.cinv[c], gm_amap.cshift[c]) <
		      gm_amap.cnelems[c]))
		return gm_class_size[c];
	return gm_usable_size_slow(p);
}

#endif /* GM_MALLOC_FAST_H */
