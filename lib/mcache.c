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
 * that class (Go 1.2's MCacheList), the tiny block, and the thread's
 * statistics.  Lists are filled and drained in batches through mcentral.  Statistics are written only by the owner with plain stores
 * and read by gm_read_memstats through the registry of all mcaches.  At
 * thread exit (a pthread key destructor) the spans go back to mcentral, the
 * counts into the registry's dead-thread totals, and the mcache to its
 * fixalloc.
 */
#include "internal.h"

#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>

__thread gm_mcache *gm_tls_mcache = &gm_empty_mcache;
gm_mcache gm_empty_mcache;
gm_registry gm_registry_ = { .lock = PTHREAD_MUTEX_INITIALIZER };
pthread_key_t gm_mcache_key;

/* Create and register the calling thread's mcache; NULL if out of memory. */
gm_mcache *
gm_mcache_create(void)
{
	gm_mcache *mc;

	gm_ensure_init();
	if (gm_tls_mcache != &gm_empty_mcache)
		return gm_tls_mcache;
	pthread_mutex_lock(&gm_heap.lock);
	mc = gm_fixalloc_alloc(&gm_heap.cachealloc);
	pthread_mutex_unlock(&gm_heap.lock);
	if (mc == NULL)
		return NULL;
	mc->tid = (pid_t)syscall(SYS_gettid);
	for (unsigned c = 1; c < GM_NUM_SPANCLASSES; c++)
		mc->max[c] = 2u * gm_class_batch[c];
	mc->next_sample = gm_prof_next(mc);
	pthread_mutex_lock(&gm_registry_.lock);
	mc->rprev = NULL;
	mc->rnext = gm_registry_.head;
	if (mc->rnext != NULL)
		mc->rnext->rprev = mc;
	gm_registry_.head = mc;
	gm_registry_.nthreads++;
	mc->registered = true;
	pthread_mutex_unlock(&gm_registry_.lock);
	gm_tls_mcache = mc;
	/* Keys below 32 live in the thread descriptor: this does not allocate. */
	pthread_setspecific(gm_mcache_key, mc);
	return mc;
}

/* Tiny block metadata: the boundary mask and the free counter of block blk. */
static inline uint16_t *
gm_tiny_mask(gm_mspan *s, uintptr_t blk)
{
	return (uint16_t *)s->start + ((blk - s->base) >> 4);
}

static inline _Atomic int16_t *
gm_tiny_count(gm_mspan *s, uintptr_t blk)
{
	return (_Atomic int16_t *)(s->start + GM_TINY_NBLOCKS * 2) + ((blk - s->base) >> 4);
}

/* Free the 16 B tiny block blk of span s: every object in it is dead. */
void
gm_tiny_block_free(gm_mspan *s, uintptr_t blk)
{
	gm_mcache *mc = gm_tls_mcache;
	unsigned c = GM_SPANCLASS_TINY;

	__atomic_store_n(gm_tiny_mask(s, blk), 0, __ATOMIC_RELAXED);
	gm_stat_inc(&mc->stats.nfree[c]);
	((uintptr_t *)blk)[1] = gm_free_key;
	*(void **)blk = mc->free[c];
	mc->free[c] = (void *)blk;
	if (++mc->count[c] > mc->max[c])
		gm_mcache_release(mc, c, gm_class_batch[c]);
}

/*
 * Stop allocating from the current tiny block.  The block's counter has
 * collected frees from other threads; subtracting the objects still live by
 * our count leaves -(live objects), so it reaches zero with the last free.
 */
void
gm_tiny_retire(gm_mcache *mc)
{
	uintptr_t blk = mc->tiny;
	gm_mspan *s;
	int16_t v, n;

	if (blk == 0)
		return;
	n = (int16_t)mc->tinylive;
	mc->tiny = 0;
	mc->tinyoffset = 0;
	mc->tinylive = 0;
	mc->tinylivemask = 0;
	mc->tinymask = NULL;
	s = gm_span_of(blk);
	v = (int16_t)(atomic_fetch_sub_explicit(gm_tiny_count(s, blk), n, memory_order_acq_rel) - n);
	if (v == 0)
		gm_tiny_block_free(s, blk);
}

/* Start a new tiny block for an object of n bytes (Go's no-fit path). */
void *
gm_tiny_alloc_slow(gm_mcache *mc, size_t n)
{
	void *p;
	uintptr_t blk;
	gm_mspan *s;

	if (mc == &gm_empty_mcache) {
		mc = gm_mcache_create();
		if (mc == NULL)
			return NULL;
	}
	p = mc->free[GM_SPANCLASS_TINY];
	if (p != NULL) {
		mc->free[GM_SPANCLASS_TINY] = *(void **)p;
		mc->count[GM_SPANCLASS_TINY]--;
	} else if ((p = gm_mcache_refill(mc, GM_SPANCLASS_TINY)) == NULL) {
		return NULL;
	}
	gm_stat_inc(&mc->stats.nmalloc[GM_SPANCLASS_TINY]);
	blk = (uintptr_t)p;
	((uintptr_t *)blk)[1] = 0;
	s = gm_span_of(blk);
	__atomic_store_n(gm_tiny_mask(s, blk), (uint16_t)(1u << (n - 1)), __ATOMIC_RELAXED);
	atomic_store_explicit(gm_tiny_count(s, blk), 0, memory_order_relaxed);
	if (mc->tiny == 0 || n < mc->tinyoffset) {
		gm_tiny_retire(mc);
		mc->tiny = blk;
		mc->tinyoffset = n;
		mc->tinylive = 1;
		mc->tinylivemask = 1;
		mc->tinymask = gm_tiny_mask(s, blk);
	} else {
		/* The old block has more room: this block holds one object. */
		atomic_fetch_sub_explicit(gm_tiny_count(s, blk), 1, memory_order_acq_rel);
	}
	return p;
}

/* Free the tiny object p of span s. */
void
gm_tiny_free(gm_mspan *s, uintptr_t p)
{
	gm_mcache *mc = gm_tls_mcache;
	uintptr_t blk = s->base + (((p - s->base) >> 4) << 4);
	size_t off = p - blk;
	uint16_t m = __atomic_load_n(gm_tiny_mask(s, blk), __ATOMIC_RELAXED);

	if (gm_unlikely(p < s->base || (off != 0 && !(m & (1u << (off - 1)))) || m == 0))
		gm_throw_ptr("gomem: free of invalid pointer", (void *)p);
	if (blk == mc->tiny) {
		if (gm_unlikely(mc->tinylive == 0 || !(mc->tinylivemask & (1u << off))))
			gm_throw_ptr("gomem: double free of", (void *)p);
		mc->tinylivemask = (uint16_t)(mc->tinylivemask & ~(1u << off));
		if (--mc->tinylive == 0 &&
		    atomic_load_explicit(gm_tiny_count(s, blk), memory_order_relaxed) == 0) {
			/* Every object of the block is free: reuse it from the start. */
			mc->tinyoffset = 0;
			__atomic_store_n(mc->tinymask, 0, __ATOMIC_RELAXED);
		}
		return;
	}
	if (atomic_fetch_add_explicit(gm_tiny_count(s, blk), 1, memory_order_acq_rel) + 1 == 0)
		gm_tiny_block_free(s, blk);
}

/* Usable bytes of the tiny object p: up to the next object boundary. */
size_t
gm_tiny_usable(gm_mspan *s, uintptr_t p)
{
	uintptr_t blk = s->base + (((p - s->base) >> 4) << 4);
	size_t off = p - blk;
	uint16_t m = __atomic_load_n(gm_tiny_mask(s, blk), __ATOMIC_RELAXED);
	unsigned above = (unsigned)(m >> off);

	if (above == 0)
		return 0;
	return (size_t)__builtin_ctz(above) + 1;
}

/*
 * The list for spanclass is empty: take a batch from mcentral.  Returns one
 * object (the rest goes on the list), or NULL when out of memory.
 */
void *
gm_mcache_refill(gm_mcache *mc, unsigned spanclass)
{
	void *p;
	unsigned n;

	if (gm_unlikely(mc == &gm_empty_mcache)) {
		mc = gm_mcache_create();
		if (mc == NULL)
			return NULL;
	}
	if (gm_unlikely(!gm_scav.started))
		gm_scav_start();
	n = gm_mcentral_alloc_batch((uint8_t)spanclass, gm_class_batch[spanclass], &p);
	if (n == 0)
		return NULL;
	mc->free[spanclass] = *(void **)p;
	mc->count[spanclass] = n - 1;
	return p;
}

/* Give the first n objects of the list for spanclass back to mcentral. */
void
gm_mcache_release(gm_mcache *mc, unsigned spanclass, unsigned n)
{
	void *head = mc->free[spanclass], *p = head, *last = NULL;
	unsigned i;

	for (i = 0; i < n && p != NULL; i++) {
		last = p;
		p = *(void **)p;
	}
	if (last == NULL)
		return;
	*(void **)last = NULL;
	mc->free[spanclass] = p;
	mc->count[spanclass] -= i;
	gm_mcentral_free_batch((uint8_t)spanclass, head, i);
}

/* Give every cached object back to mcentral (thread exit, fork). */
void
gm_mcache_release_all(gm_mcache *mc)
{
	unsigned c;

	gm_tiny_retire(mc);
	for (c = 1; c < GM_NUM_SPANCLASSES; c++)
		while (mc->free[c] != NULL)
			gm_mcache_release(mc, c, UINT32_MAX);
}

/* Add the counts of st into the totals of dead threads (registry lock held). */
static void
gm_stats_merge_dead_locked(const gm_tstats *st)
{
	unsigned c;

	for (c = 0; c < GM_NUM_SPANCLASSES; c++) {
		gm_registry_.dead.nmalloc[c] += st->nmalloc[c];
		gm_registry_.dead.nfree[c] += st->nfree[c];
	}
	gm_registry_.dead.tiny_allocs += st->tiny_allocs;
}

/* Unlink mc from the registry (lock held). */
static void
gm_registry_unlink_locked(gm_mcache *mc)
{
	if (mc->rprev != NULL)
		mc->rprev->rnext = mc->rnext;
	else
		gm_registry_.head = mc->rnext;
	if (mc->rnext != NULL)
		mc->rnext->rprev = mc->rprev;
	gm_registry_.nthreads--;
	mc->registered = false;
}

/* pthread key destructor: the thread is exiting. */
void
gm_mcache_thread_exit(void *arg)
{
	gm_mcache *mc = arg;

	if (mc == NULL || mc == &gm_empty_mcache)
		return;
	gm_mcache_release_all(mc);
	gm_tls_mcache = &gm_empty_mcache;
	pthread_mutex_lock(&gm_heap.lock);
	pthread_mutex_lock(&gm_registry_.lock);
	gm_stats_merge_dead_locked(&mc->stats);
	gm_registry_unlink_locked(mc);
	pthread_mutex_unlock(&gm_registry_.lock);
	gm_fixalloc_free(&gm_heap.cachealloc, mc);
	pthread_mutex_unlock(&gm_heap.lock);
}

/*
 * In a forked child only the forking thread survives.  The other threads'
 * caches keep their spans (their objects may still be referenced), but their
 * counts move to the dead-thread totals so the stats stay exact.
 */
void
gm_mcache_fork_child(void)
{
	gm_mcache *mc, *next, *self = gm_tls_mcache;

	for (mc = gm_registry_.head; mc != NULL; mc = next) {
		next = mc->rnext;
		if (mc == self)
			continue;
		/* Frees into the dead thread's spans must reach mcentral. */
		gm_mcache_release_all(mc);
		pthread_mutex_lock(&gm_heap.lock);
		pthread_mutex_lock(&gm_registry_.lock);
		gm_stats_merge_dead_locked(&mc->stats);
		gm_registry_unlink_locked(mc);
		pthread_mutex_unlock(&gm_registry_.lock);
		gm_fixalloc_free(&gm_heap.cachealloc, mc);
		pthread_mutex_unlock(&gm_heap.lock);
	}
	if (self != &gm_empty_mcache)
		self->tid = (pid_t)syscall(SYS_gettid);
}
