/*
 * init.c: process life.
 *
 * Initialisation runs before the first allocation (from a constructor, or
 * from the first malloc if that comes earlier) and allocates nothing: the
 * heap's own metadata comes from mmap, and the first thread cache is created
 * by the allocation that needs it.
 *
 * fork(): gm_fork_prepare takes every lock in the documented order
 * (internal.h), so the child inherits consistent structures; the parent
 * releases them; the child re-initialises them, folds the other threads'
 * caches and counts into the shared totals, and starts a new scavenger
 * thread on its next allocation that needs memory from the heap.
 */
#include "internal.h"
#include "probes.h"

#include <sched.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <time.h>

_Atomic int gm_inited; /* 0 no, 1 in progress, 2 done */

static void gm_fork_prepare(void)
{
	unsigned i;

	pthread_mutex_lock(&gm_snap_lock);
	for (i = 0; i < GM_NUM_SPANCLASSES; i++)
		gm_lock_acquire(&gm_central[i].lock);
	gm_lock_acquire(&gm_heap.lock);
	pthread_mutex_lock(&gm_registry_.lock);
	pthread_mutex_lock(&gm_scav.lock);
	gm_lock_acquire(&gm_prof.lock);
}

static void gm_fork_parent(void)
{
	unsigned i;

	gm_lock_release(&gm_prof.lock);
	pthread_mutex_unlock(&gm_scav.lock);
	pthread_mutex_unlock(&gm_registry_.lock);
	gm_lock_release(&gm_heap.lock);
	for (i = GM_NUM_SPANCLASSES; i-- > 0;)
		gm_lock_release(&gm_central[i].lock);
	pthread_mutex_unlock(&gm_snap_lock);
}

static void gm_fork_child(void)
{
	unsigned i;

	pthread_mutex_init(&gm_snap_lock, NULL);
	for (i = 0; i < GM_NUM_SPANCLASSES; i++)
		gm_lock_reset(&gm_central[i].lock);
	gm_mheap_fork_child();
	pthread_mutex_init(&gm_registry_.lock, NULL);
	gm_scav_fork_child();
	gm_prof_fork_child();
	gm_mcache_fork_child();
}

uint64_t gm_seed;

/* A random number from the kernel's AT_RANDOM bytes (the samplers' seed). */
static uint64_t gm_random_key(void)
{
	const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
	uint64_t k = 0x9e3779b97f4a7c15u;
	unsigned i;

	if (r != NULL)
		for (i = 0; i < 8; i++)
			k = (k << 8 | (k >> 56)) ^ r[8 + i];
	/* Never zero: xorshift needs a nonzero state. */
	return k | 1;
}

/*
 * 192 random bits for the secrets that free objects carry (the link tag,
 * the safelink mask) and the heap's base, from one getrandom call: not
 * AT_RANDOM's bytes, which glibc uses for the stack protector's canary and
 * the pointer guard and which a read of a freed block (or the heap's
 * address) must not give away.  If getrandom fails (no entropy yet, an old
 * kernel), AT_RANDOM's bytes mixed with the clock and a stack address,
 * through splitmix64's output function.
 */
static void gm_random_secrets(uint64_t k[3])
{
	struct timespec ts;
	uint64_t x;
	int i;

	if (getrandom(k, 3 * sizeof(k[0]), GRND_NONBLOCK) == (ssize_t)(3 * sizeof(k[0])))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	x = gm_random_key() ^ (uint64_t)(uintptr_t)&ts ^ ((uint64_t)ts.tv_nsec << 32) ^
	    (uint64_t)ts.tv_sec;
	for (i = 0; i < 3; i++) {
		uint64_t z = (x += 0x9e3779b97f4a7c15u);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
		k[i] = z ^ (z >> 31);
	}
}

/* Initialise the allocator; safe to call from many threads at once. */
void gm_init_slow(void)
{
	int expected = 0;

	if (!atomic_compare_exchange_strong(&gm_inited, &expected, 1)) {
		while (atomic_load_explicit(&gm_inited, memory_order_acquire) != 2)
			sched_yield();
		return;
	}
	/* First, before any list exists: every free link is XORed with the tag. */
	uint64_t k[3];
	uintptr_t top;

	gm_random_secrets(k);
	top = (uintptr_t)(k[0] >> GM_LINK_TAG_SHIFT) & 0xffff;
	if (top == 0 || top == 0xffff)
		top = 0x5a3c;
	gm_link_tag = top << GM_LINK_TAG_SHIFT;
	gm_link_secret = k[1];
	gm_env_init();
	gm_msize_init();
	gm_mheap_init(k[2]);
	gm_mcentral_init();
	gm_prof_init();
	gm_seed = gm_random_key();
	if (gm_opt.memory_limit_set) {
		/* GOMEMLIMIT wins over the cgroup, even "off". */
		if (gm_opt.memory_limit != INT64_MAX)
			atomic_store(&gm_heap.limit, (uint64_t)gm_opt.memory_limit);
		gm_heap.limit_source = GOMEM_LIMIT_ENV;
	}
	pthread_key_create(&gm_mcache_key, gm_mcache_thread_exit);
	gm_scav_born();
	atomic_store_explicit(&gm_inited, 2, memory_order_release);
	/* From here on malloc works, so a registration that allocates is fine. */
	pthread_atfork(gm_fork_prepare, gm_fork_parent, gm_fork_child);
}

/* At load: initialise, start the scavenger if watched, tell a tracer we are here. */
__attribute__((constructor)) static void gm_constructor(void)
{
	gm_ensure_init();
	gm_scav_start_at_load();
	gm_mstats_probe_init();
}
