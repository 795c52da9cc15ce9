/*
 * export.c: the malloc family and the gomem_* API, exported by libgomem.so.
 *
 * Only the shared library links this file, so the unit tests of the core can
 * call gm_* without sending the test runner's own allocations through the
 * code under test.  Each entry point is a tail call into the core; malloc
 * and free inline the core's fast paths (malloc_fast.h).  glibc's
 * __libc_* names are aliases, as in glibc itself.
 */
#include "malloc_fast.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/* The aliases need not repeat the targets' attributes from <stdlib.h>. */
#pragma GCC diagnostic ignored "-Wmissing-attributes"
#define GM_ALIAS(name) __attribute__((alias(#name), used, visibility("default")))

GM_API gm_hot void *malloc(size_t n)
{
	return gm_malloc_fast(n);
}

GM_API gm_hot void free(void *p)
{
	gm_free_fast(p);
}

GM_API void *calloc(size_t n, size_t m)
{
	return gm_calloc(n, m);
}

/* realloc(NULL, n) is malloc's fast path: Lua allocates everything so. */
GM_API void *realloc(void *p, size_t n)
{
	if (p == NULL)
		return gm_malloc_fast(n);
	return gm_realloc(p, n);
}

GM_API void *reallocarray(void *p, size_t n, size_t m)
{
	return gm_reallocarray(p, n, m);
}

GM_API void *memalign(size_t align, size_t n)
{
	return gm_memalign(align, n);
}

GM_API int posix_memalign(void **out, size_t align, size_t n)
{
	return gm_posix_memalign(out, align, n);
}

GM_API void *aligned_alloc(size_t align, size_t n)
{
	return gm_aligned_alloc(align, n);
}

GM_API void *valloc(size_t n)
{
	return gm_valloc(n);
}

GM_API void *pvalloc(size_t n)
{
	return gm_pvalloc(n);
}

GM_API gm_hot size_t malloc_usable_size(void *p)
{
	return gm_usable_size_fast(p);
}

/* glibc's malloc_trim: give idle memory back; 1 if any was released. */
GM_API int malloc_trim(size_t pad)
{
	(void)pad;
	gm_ensure_init();
	return gm_mheap_scavenge(SIZE_MAX, true) != 0;
}

/* mallinfo2 from the MemStats counters, for programs that report it. */
GM_API struct mallinfo2 mallinfo2(void)
{
	struct gomem_memstats m;
	struct mallinfo2 mi;

	gm_read_memstats(&m);
	memset(&mi, 0, sizeof(mi));
	mi.arena = m.HeapSys;
	mi.ordblks = 1;
	mi.uordblks = m.HeapAlloc;
	mi.fordblks = m.HeapSys - m.HeapAlloc;
	mi.keepcost = m.HeapIdle - m.HeapReleased;
	return mi;
}

/* glibc's malloc_stats, on stderr: see gm_print_stats. */
GM_API void malloc_stats(void)
{
	gm_print_stats(2);
}

GM_API struct mallinfo mallinfo(void)
{
	struct mallinfo2 m2 = mallinfo2();
	struct mallinfo mi;

	memset(&mi, 0, sizeof(mi));
	mi.arena = (int)m2.arena;
	mi.ordblks = (int)m2.ordblks;
	mi.uordblks = (int)m2.uordblks;
	mi.fordblks = (int)m2.fordblks;
	mi.keepcost = (int)m2.keepcost;
	return mi;
}

/* The library's own malloc, whatever the process's lookup finds first
 * (gm_scav_start_at_load compares the two). */
__attribute__((alias("malloc"), visibility("hidden"))) void *gm_malloc_self(size_t n);

void *__libc_malloc(size_t n) GM_ALIAS(malloc);
void __libc_free(void *p) GM_ALIAS(free);
void *__libc_calloc(size_t n, size_t m) GM_ALIAS(calloc);
void *__libc_realloc(void *p, size_t n) GM_ALIAS(realloc);
void *__libc_memalign(size_t align, size_t n) GM_ALIAS(memalign);
void *__libc_valloc(size_t n) GM_ALIAS(valloc);
void *__libc_pvalloc(size_t n) GM_ALIAS(pvalloc);
int __posix_memalign(void **out, size_t align, size_t n) GM_ALIAS(posix_memalign);

/* ---- gomem.h ---- */

GM_API const char *gomem_version(void)
{
	return GOMEM_VERSION_STRING;
}

GM_API void gomem_read_memstats(struct gomem_memstats *m)
{
	gm_read_memstats(m);
	gm_mstats_publish_user(m);
	/* A program that reads its statistics wants its limit followed. */
	gm_scav_poke();
}

GM_API void gomem_free_os_memory(void)
{
	size_t parked;

	gm_ensure_init();
	/* First what holds spans from the heap: exited threads' caches, the
	 * threads' cached large blocks, the transfer caches (drained later,
	 * by the pass over the spans, a span they emptied went back to the
	 * heap after its release: HeapIdle stayed over HeapReleased). */
	gm_mcache_fork_fold();
	gm_mcache_orphans_release(UINT64_MAX);
	gm_lcache_drain_all();
	gm_mcentral_drain_all();
	gm_mheap_scavenge(SIZE_MAX, true);
	parked = gm_mcentral_scavenge_all();
	gm_lock_acquire(&gm_heap.lock);
	gm_scav.released_total += parked;
	gm_lock_release(&gm_heap.lock);
}

GM_API int64_t gomem_set_memory_limit(int64_t limit)
{
	return gm_set_memory_limit(limit);
}

GM_API int64_t gomem_memory_limit(void)
{
	return gm_set_memory_limit(-1);
}
