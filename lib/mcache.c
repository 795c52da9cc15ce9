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
 * the spans go back to mcentral, the counts into the registry's dead-thread totals, and the mcache
 * to its fixalloc.
 */
#include "internal.h"

#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>

__thread gm_mcache *gm_tls_mcache = &gm_empty_mcache;
gm_mcache gm_empty_mcache;
gm_registry gm_registry_ = {.lock = PTHREAD_MUTEX_INITIALIZER};
pthread_key_t gm_mcache_key;

/* Create and register the calling thread's mcache; NULL if out of memory. */
gm_mcache *gm_mcache_create(void)
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
	for (unsigned c = 1; c < GM_NUM_SPANCLASSES; c++) {
		mc->max[c] = 2u * gm_class_batch[c];
		if (gm_opt.safelink)
			mc->sroom[c] = mc->max[c];
		else
			mc->room[c] = mc->max[c];
	}
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

/*
 * The list for spanclass is empty: take a batch from mcentral.  Returns one
 * object (the rest goes on the list), or NULL when out of memory.
 */
void *gm_mcache_refill(gm_mcache *mc, unsigned spanclass)
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
	if (gm_unlikely(gm_opt.safelink)) {
		/* Mask the batch's links on the way in. */
		for (void *q = *(void **)p, *next; q != NULL; q = next) {
			next = *(void **)q;
			*(uintptr_t *)q = (uintptr_t)next ^ gm_link_mask(q);
		}
		mc->sfree[spanclass] = *(void **)p;
		mc->sroom[spanclass] = mc->max[spanclass] - (n - 1);
		return p;
	}
	mc->free[spanclass] = *(void **)p;
	mc->room[spanclass] = mc->max[spanclass] - (n - 1);
	return p;
}

/*
 * Give the first n objects of the list for spanclass back to mcentral (with
 * safelink, each link is checked and stored plain on the way out).
 */
void gm_mcache_release(gm_mcache *mc, unsigned spanclass, unsigned n)
{
	bool safe = gm_opt.safelink;
	void **list = safe ? &mc->sfree[spanclass] : &mc->free[spanclass];
	void *head = *list, *p = head, *last = NULL;
	unsigned i;

	for (i = 0; i < n && p != NULL; i++) {
		last = p;
		if (safe) {
			p = gm_link_next(p, spanclass);
			*(void **)last = p; /* plain for mcentral */
		} else {
			p = *(void **)p;
		}
	}
	if (last == NULL)
		return;
	*(void **)last = NULL;
	*list = p;
	if (safe)
		mc->sroom[spanclass] += i;
	else
		mc->room[spanclass] += i;
	gm_mcentral_free_batch((uint8_t)spanclass, head, i);
}

/* Give every cached object back to mcentral (thread exit, fork). */
void gm_mcache_release_all(gm_mcache *mc)
{
	unsigned c;

	for (c = 1; c < GM_NUM_SPANCLASSES; c++)
		while (mc->free[c] != NULL || mc->sfree[c] != NULL)
			gm_mcache_release(mc, c, UINT32_MAX);
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

/* Unlink mc from the registry (lock held). */
static void gm_registry_unlink_locked(gm_mcache *mc)
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
void gm_mcache_thread_exit(void *arg)
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
void gm_mcache_fork_child(void)
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
