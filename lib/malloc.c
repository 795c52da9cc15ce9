/*
 * malloc.c: the allocation and free paths.
 *
 * See internal.h for the overview.  The fast paths (gm_malloc for 16..1016
 * bytes, gm_free of an object of a span this thread owns) touch only the
 * thread's mcache and the object: no lock, no atomic read-modify-write.
 *
 * Every freed small object carries gm_free_key in its second word; malloc
 * clears it.  Finding the key at free time means a double free.  Pointers
 * that are not the start of an object of an in-use span are refused.  Both
 * end the process with a message naming the pointer.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

uint64_t gm_free_key;

/* Pop an object of span class c from mc, refilling if needed (n bytes asked). */
static inline void *
gm_small_alloc(gm_mcache *mc, unsigned c, size_t n)
{
	void *p = mc->free[c];

	if (gm_likely(p != NULL)) {
		mc->free[c] = *(void **)p;
		mc->count[c]--;
	} else {
		p = gm_mcache_refill(mc, c);
		if (gm_unlikely(p == NULL)) {
			errno = ENOMEM;
			return NULL;
		}
		mc = gm_tls_mcache;
	}
	((uintptr_t *)p)[1] = 0;
	gm_stat_inc(&mc->stats.nmalloc[c]);
	return gm_prof_account(mc, p, n);
}

/* Pages for a large object; align_pages 0 = any alignment. */
static void *
gm_large_alloc(size_t n, size_t align_pages, bool zero)
{
	gm_mspan *s;
	size_t npages;

	gm_ensure_init();
	if (gm_unlikely(n > ((size_t)1 << GM_ADDR_BITS))) {
		errno = ENOMEM;
		return NULL;
	}
	if (gm_unlikely(!gm_scav.started))
		gm_scav_start();
	npages = (n + GM_PAGE_SIZE - 1) >> GM_PAGE_SHIFT;
	s = gm_mheap_alloc(npages, GM_SPANCLASS_LARGE, align_pages);
	if (gm_unlikely(s == NULL)) {
		errno = ENOMEM;
		return NULL;
	}
	if (zero && s->needzero)
		memset((void *)s->start, 0, n);
	if (gm_tls_mcache != &gm_empty_mcache || gm_mcache_create() != NULL)
		gm_prof_account(gm_tls_mcache, (void *)s->start, n);
	return (void *)s->start;
}

/* Go's tiny allocator: n in 1..15 bytes, packed into the thread's block. */
static inline void *
gm_tiny_alloc(gm_mcache *mc, size_t n)
{
	size_t off = mc->tinyoffset;

	if ((n & 7) == 0)
		off = (off + 7) & ~(size_t)7;
	else if ((n & 3) == 0)
		off = (off + 3) & ~(size_t)3;
	else if ((n & 1) == 0)
		off = (off + 1) & ~(size_t)1;
	if (gm_likely(off + n <= GM_TINY_SIZE && mc->tiny != 0)) {
		uint16_t bits = (uint16_t)((off ? 1u << (off - 1) : 0) | 1u << (off + n - 1));

		__atomic_store_n(mc->tinymask, (uint16_t)(*mc->tinymask | bits), __ATOMIC_RELAXED);
		mc->tinyoffset = off + n;
		mc->tinylive++;
		mc->tinylivemask = (uint16_t)(mc->tinylivemask | 1u << off);
		gm_stat_inc(&mc->stats.tiny_allocs);
		return (void *)(mc->tiny + off);
	}
	return gm_tiny_alloc_slow(mc, n);
}

/* Everything but the common small sizes. */
static gm_noinline void *
gm_malloc_slow(gm_mcache *mc, size_t n)
{
	void *p;

	gm_ensure_init();
	if (n < GM_TINY_SIZE) {
		p = gm_tiny_alloc(mc, n ? n : 1);
		return p ? gm_prof_account(gm_tls_mcache, p, n) : p;
	}
	if (n <= GM_MAX_SMALL)
		return gm_small_alloc(mc, gm_size_class(n), n);
	return gm_large_alloc(n, 0, false);
}

/* malloc: see the overview in internal.h. */
gm_hot void *
gm_malloc(size_t n)
{
	gm_mcache *mc = gm_tls_mcache;

	if (gm_likely(n - GM_TINY_SIZE <= GM_SMALL_MAX - 8 - GM_TINY_SIZE)) {
		unsigned c = gm_size_to_class8[(n + 7) >> 3];
		void *p = mc->free[c];

		if (gm_likely(p != NULL)) {
			mc->free[c] = *(void **)p;
			mc->count[c]--;
			((uintptr_t *)p)[1] = 0;
			gm_stat_inc(&mc->stats.nmalloc[c]);
			return gm_prof_account(mc, p, n);
		}
	}
	return gm_malloc_slow(mc, n);
}

/* ---- Free ---- */

/* Is p the start of an object of the small-object span s? */
static inline bool
gm_is_object_start(const gm_mspan *s, uintptr_t p)
{
	uint64_t idx = ((uint64_t)(p - s->base) * s->divmul) >> 32;

	return p >= s->base && idx < s->nelems && s->base + idx * s->elemsize == p;
}

/* Report a bad free of p in span s (or no span) and stop. */
static gm_noinline __attribute__((noreturn)) void
gm_bad_free(const gm_mspan *s, const void *p, const char *what)
{
	uintptr_t a = (uintptr_t)p;

	if (s == NULL)
		gm_throw_ptr(what, p);
	if (s->spanclass == GM_SPANCLASS_LARGE) {
		if (a == s->start && s->state == GM_SPAN_FREE)
			gm_throw_ptr("gomem: double free of", p);
		gm_throw_ptr(what, p);
	}
	if (s->state == GM_SPAN_FREE || s->state == GM_SPAN_DEAD)
		gm_throw_ptr("gomem: free of pointer not allocated by gomem (or double free):", p);
	if (!gm_is_object_start(s, a))
		gm_throw_ptr("gomem: free of pointer not at the start of an object:", p);
	if (((const uintptr_t *)p)[1] == gm_free_key)
		gm_throw_ptr("gomem: double free of", p);
	gm_throw_ptr(what, p);
}

/* Push the small object p of class c on this thread's list. */
static inline void
gm_free_local(gm_mcache *mc, unsigned c, void *p)
{
	uintptr_t *w = p;

	w[0] = (uintptr_t)mc->free[c];
	w[1] = gm_free_key;
	mc->free[c] = p;
	gm_stat_inc(&mc->stats.nfree[c]);
	if (gm_unlikely(++mc->count[c] > mc->max[c]))
		gm_mcache_release(mc, c, gm_class_batch[c]);
}

/* Everything gm_free's fast path does not handle, and every bad pointer. */
static gm_noinline void
gm_free_slow(gm_mspan *s, void *p)
{
	uintptr_t a = (uintptr_t)p;
	gm_mcache *mc;
	uint8_t st;

	if (a == 0)
		return;
	if (gm_unlikely(s == NULL))
		gm_bad_free(NULL, p, "gomem: free of pointer not allocated by gomem:");
	if (gm_unlikely(s->nsampled != 0))
		gm_prof_free(s, p);
	st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
	if (s->spanclass == GM_SPANCLASS_LARGE) {
		if (gm_unlikely(a != s->start || st != GM_SPAN_LARGE))
			gm_bad_free(s, p, "gomem: free of pointer not at the start of an object:");
		gm_mheap_free(s);
		return;
	}
	if (gm_unlikely(st != GM_SPAN_PARTIAL && st != GM_SPAN_EMPTY))
		gm_bad_free(s, p, "gomem: free of pointer not allocated by gomem:");
	mc = gm_tls_mcache;
	if (gm_unlikely(mc == &gm_empty_mcache)) {
		mc = gm_mcache_create();
		if (mc == NULL)
			gm_throw("gomem: out of memory for a thread cache");
	}
	if (s->spanclass == GM_SPANCLASS_TINY) {
		gm_tiny_free(s, a);
		return;
	}
	if (gm_unlikely(!gm_is_object_start(s, a) || ((uintptr_t *)p)[1] == gm_free_key))
		gm_bad_free(s, p, "gomem: free of invalid pointer");
	/* Onto the list; past its limit a batch goes back to mcentral. */
	gm_free_local(mc, s->spanclass, p);
}

/* free: see the overview in internal.h. */
gm_hot void
gm_free(void *p)
{
	uintptr_t a = (uintptr_t)p;
	gm_mspan *s = gm_span_of(a); /* NULL for NULL: arena 0 never exists */
	gm_mcache *mc = gm_tls_mcache;

	if (gm_likely(s != NULL)) {
		unsigned c = s->spanclass;

		/* Small, not tiny, not sampled, and room on the list (the empty
		 * cache has none).  Interior pointers and blocks freed already go
		 * to the slow path, which names them. */
		if (gm_likely(mc->count[c] < mc->max[c] && c != GM_SPANCLASS_TINY &&
			      s->nsampled == 0)) {
			uintptr_t *w = p, key = gm_free_key;
			uint64_t idx = ((uint64_t)(a - s->base) * s->divmul) >> 32;

			if (gm_likely(idx < s->nelems && s->base + idx * s->elemsize == a &&
				      w[1] != key)) {
				w[0] = (uintptr_t)mc->free[c];
				w[1] = key;
				mc->free[c] = p;
				mc->count[c]++;
				gm_stat_inc(&mc->stats.nfree[c]);
				return;
			}
		}
	}
	gm_free_slow(s, p);
}

/* ---- The rest of the API ---- */

/* calloc: overflow-checked; fresh or released pages are not cleared again. */
void *
gm_calloc(size_t n, size_t m)
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

/* Usable size of p; 0 for NULL and for pointers gomem does not own. */
size_t
gm_usable_size(const void *p)
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
		return (s->npages << GM_PAGE_SHIFT) - (a - s->start);
	case GM_SPANCLASS_TINY:
		return gm_tiny_usable(s, a);
	default:
		if (gm_span_state(s) == GM_SPAN_FREE || gm_span_state(s) == GM_SPAN_DEAD ||
		    a < s->base)
			return 0;
		return s->elemsize - (a - s->base) % s->elemsize;
	}
}

/* realloc with glibc's semantics; in place when the size class allows. */
void *
gm_realloc(void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p;
	gm_mspan *s;
	size_t old;
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
	if (s->spanclass == GM_SPANCLASS_LARGE) {
		if (gm_unlikely(a != s->start || gm_span_state(s) != GM_SPAN_LARGE))
			gm_bad_free(s, p, "gomem: realloc of invalid pointer");
		old = s->npages << GM_PAGE_SHIFT;
		if (n > GM_MAX_SMALL) {
			size_t np = (n + GM_PAGE_SIZE - 1) >> GM_PAGE_SHIFT;

			if (n <= ((size_t)1 << GM_ADDR_BITS) && gm_mheap_try_resize(s, np))
				return p;
		}
	} else if (s->spanclass == GM_SPANCLASS_TINY) {
		old = gm_tiny_usable(s, a);
		if (gm_unlikely(old == 0))
			gm_bad_free(s, p, "gomem: realloc of invalid pointer");
		if (n <= old)
			return p;
	} else {
		if (gm_unlikely(gm_span_state(s) == GM_SPAN_FREE ||
				gm_span_state(s) == GM_SPAN_DEAD || !gm_is_object_start(s, a) || ((uintptr_t *)p)[1] == gm_free_key))
			gm_bad_free(s, p, "gomem: realloc of invalid pointer");
		old = s->elemsize;
		/* Stay put unless the block would be mostly empty. */
		if (n <= old && (n >= old / 2 || n < GM_TINY_SIZE))
			return p;
	}
	q = gm_malloc(n);
	if (q == NULL)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	gm_free(p);
	return q;
}

/* reallocarray: realloc(p, n * m) with overflow checking. */
void *
gm_reallocarray(void *p, size_t n, size_t m)
{
	size_t t;

	if (__builtin_mul_overflow(n, m, &t)) {
		errno = ENOMEM;
		return NULL;
	}
	return gm_realloc(p, t);
}

/* The alignment the tiny allocator gives an object of n bytes. */
static inline size_t
gm_tiny_align(size_t n)
{
	if ((n & 7) == 0)
		return 8;
	if ((n & 3) == 0)
		return 4;
	if ((n & 1) == 0)
		return 2;
	return 1;
}

/* n bytes aligned to align, a power of two. */
static void *
gm_aligned(size_t align, size_t n)
{
	gm_mcache *mc;
	unsigned c;

	gm_ensure_init();
	if (align <= 16) {
		if (n == 0)
			n = 1;
		if (n < GM_TINY_SIZE && align > gm_tiny_align(n))
			n = GM_TINY_SIZE;
		return gm_malloc(n);
	}
	if (gm_unlikely(align > ((size_t)1 << (GM_ADDR_BITS - 1)))) {
		errno = ENOMEM;
		return NULL;
	}
	if (n <= GM_MAX_SMALL && align <= GM_PAGE_SIZE) {
		/* A class whose objects all fall on multiples of align. */
		c = gm_size_class(n < align ? align : n);
		while (c < GM_NUM_CLASSES && gm_class_size[c] % align != 0)
			c++;
		if (c < GM_NUM_CLASSES) {
			mc = gm_tls_mcache;
			return gm_small_alloc(mc, c, n);
		}
	}
	return gm_large_alloc(n ? n : 1, align >> GM_PAGE_SHIFT ? align >> GM_PAGE_SHIFT : 1,
			      false);
}

/* memalign: glibc rounds a non-power-of-two alignment up. */
void *
gm_memalign(size_t align, size_t n)
{
	if (align & (align - 1)) {
		if (align > ((size_t)1 << 62)) {
			errno = EINVAL;
			return NULL;
		}
		align = (size_t)1 << (64 - __builtin_clzll(align));
	}
	return gm_aligned(align ? align : 1, n);
}

/* posix_memalign: EINVAL unless align is a power of two times sizeof(void *). */
int
gm_posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	if (align == 0 || (align & (align - 1)) || align % sizeof(void *) != 0)
		return EINVAL;
	p = gm_aligned(align, n);
	if (p == NULL)
		return ENOMEM;
	*out = p;
	return 0;
}

/* aligned_alloc: C17 (DR 460): EINVAL for an alignment that is not a power of two. */
void *
gm_aligned_alloc(size_t align, size_t n)
{
	if (align == 0 || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	return gm_aligned(align, n);
}

/* valloc: page aligned. */
void *
gm_valloc(size_t n)
{
	return gm_aligned(gm_os_page_size(), n);
}

/* pvalloc: page aligned, size rounded up to whole pages. */
void *
gm_pvalloc(size_t n)
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
