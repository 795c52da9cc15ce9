/*
 * init.c: process life.
 *
 * Initialisation runs before the first allocation (from a constructor, or
 * from the first malloc if that comes earlier) and allocates nothing: the
 * heap's own metadata comes from mmap, and the first thread cache is created
 * by the allocation that needs it.
 *
 * fork(): gm_fork_prepare takes stdio's list lock and every lock of ours
 * in the documented order (internal.h), and lets the scavenger batches of
 * other threads that are in flight end (gm_mheap_fork_settle), so the child
 * inherits consistent structures; the parent releases them; the child re-initialises them and
 * sets the other threads' caches aside; its first slow path folds them and
 * their counts into the shared totals (gm_mcache_fork_fold) and starts a
 * new scavenger thread.  A fork from a signal handler that interrupted the
 * allocator skips the locks its thread holds (see gm_fork_prepare).
 */
#include "internal.h"
#include "probes.h"

#include <sched.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

_Atomic int gm_inited; /* 0 no, 1 in progress, 2 done */

/*
 * What the fork handlers write, on two pages.  After fork the parent's and
 * the child's pages are shared, and the first write to one copies it: the
 * locks, spread over six pages of the library's data and written in the
 * parent and again in the child, were twelve of the 33 faults a fork cost
 * on top of glibc's own (bench/forkbench).  Here they are defined in one
 * place, in a section of their own and in this order: gm_central's 68
 * lines fill the first page and 256 bytes of the second, which holds the
 * rest.  The child's side writes only what is not as it should be already
 * (gm_lock_reset, gm_mutex_reset, gm_fork_clear), and its functions are
 * cold (GM_FORK_CHILD): together on a page of code, which a child maps
 * afresh.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define GM_FORKDATA __attribute__((section("gm_forkdata"), no_reorder))
#else
#define GM_FORKDATA __attribute__((section("gm_forkdata")))
#endif
GM_FORKDATA __attribute__((aligned(4096))) gm_mcentral gm_central[GM_NUM_SPANCLASSES];
GM_FORKDATA gm_mheap gm_heap;
GM_FORKDATA gm_registry gm_registry_ = {.lock = PTHREAD_MUTEX_INITIALIZER};
GM_FORKDATA pthread_mutex_t gm_snap_lock = PTHREAD_MUTEX_INITIALIZER;
GM_FORKDATA gm_scav_state gm_scav = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
};
GM_FORKDATA gm_prof_state gm_prof;

/*
 * stdio's lock on its list of streams (glibc exports it, in no header).
 * glibc's fork takes it after the prepare handlers, but a thread holding it
 * (fflush(NULL)) waits for a stream's lock, whose holder (getline) may wait
 * for malloc's: taken here before ours, the order is the one those threads
 * use (glibc takes its own malloc's locks after it too; bug 19431 and its
 * tst-malloc-fork-deadlock).  The lock is recursive, so glibc's fork takes
 * it again; its child resets it, and so does ours, as glibc does not when
 * the process has one thread.
 */
extern void _IO_list_lock(void) __attribute__((weak, visibility("default")));
extern void _IO_list_unlock(void) __attribute__((weak, visibility("default")));
extern void _IO_list_resetlock(void) __attribute__((weak, visibility("default")));

/*
 * Locks the forking thread already holds (fork from a signal handler that
 * interrupted the allocator: gm_lock_mine, gm_mutex_mine) are neither taken
 * nor given back nor reset: the interrupted code gives them back, in the
 * parent and, if the handler returns, in the child.  The handlers take the
 * others as GM_LOCK_FORK, which is nobody's, so that only the interrupted
 * code's locks are "mine".  The child then also skips folding the other
 * threads' caches, which may be half-updated structures: like glibc's after
 * such a fork, it is fit for async-signal-safe calls, exec and _exit.
 */
#define GM_TAKE_(l)  (gm_lock_mine(l) ? (void)0 : gm_lock_acquire_as(l, GM_LOCK_FORK))
#define GM_GIVE_(l)  (gm_lock_mine(l) ? (void)0 : gm_lock_release(l))
#define GM_MTAKE_(m) (gm_mutex_mine(m) ? (void)0 : (void)pthread_mutex_lock(m))
#define GM_MGIVE_(m) (gm_mutex_mine(m) ? (void)0 : (void)pthread_mutex_unlock(m))

/*
 * A process that has never had a second thread (glibc's flag, 2.32 and
 * later; its own fork asks the same question): no other thread can hold a
 * lock, so the handlers take none, as glibc's fork takes none of its own
 * then.  That keeps fork async-signal-safe there even when the signal
 * lands inside another fork (glibc's tst-mallocfork2), where taking the
 * locks would wait for the outer fork's.  The child's resets are then of
 * free locks; the interrupted code's own are skipped as ever.
 */
extern char __libc_single_threaded __attribute__((weak, visibility("default")));

static bool gm_fork_lone(void)
{
	return &__libc_single_threaded != NULL && __libc_single_threaded;
}

bool gm_thread_inside(void)
{
	unsigned i;

	if (gm_tls_held.n != 0 || gm_tls_held.changing != NULL || gm_lock_mine(&gm_heap.lock) ||
	    gm_lock_mine(&gm_prof.lock))
		return true;
	for (i = 0; i < GM_NUM_SPANCLASSES; i++)
		if (gm_lock_mine(&gm_central[i].lock))
			return true;
	return false;
}

static void gm_fork_prepare(void)
{
	unsigned i;

	if (gm_fork_lone())
		return;
	if (_IO_list_lock != NULL)
		_IO_list_lock();
	GM_MTAKE_(&gm_snap_lock);
	for (i = 0; i < GM_NUM_SPANCLASSES; i++)
		GM_TAKE_(&gm_central[i].lock);
	if (!gm_lock_mine(&gm_heap.lock)) {
		gm_lock_acquire_as(&gm_heap.lock, GM_LOCK_FORK);
		gm_mheap_fork_settle();
	}
	GM_MTAKE_(&gm_registry_.lock);
	GM_MTAKE_(&gm_scav.lock);
	GM_TAKE_(&gm_prof.lock);
}

static void gm_fork_parent(void)
{
	unsigned i;

	if (gm_fork_lone())
		return;
	GM_GIVE_(&gm_prof.lock);
	GM_MGIVE_(&gm_scav.lock);
	GM_MGIVE_(&gm_registry_.lock);
	GM_GIVE_(&gm_heap.lock);
	for (i = GM_NUM_SPANCLASSES; i-- > 0;)
		GM_GIVE_(&gm_central[i].lock);
	GM_MGIVE_(&gm_snap_lock);
	if (_IO_list_unlock != NULL)
		_IO_list_unlock();
}

GM_FORK_CHILD static void gm_fork_child(void)
{
	/* Inside the allocator: a mutex recorded, or a lock mine (below). */
	bool inside = gm_tls_held.n != 0;
	/* For the profile table and the scavenger: one call. */
	pid_t pid = getpid();
	unsigned i;

	if (_IO_list_resetlock != NULL && !gm_fork_lone())
		_IO_list_resetlock();
	if (!gm_mutex_mine(&gm_snap_lock))
		gm_mutex_reset(&gm_snap_lock);
	for (i = 0; i < GM_NUM_SPANCLASSES; i++) {
		if (gm_lock_mine(&gm_central[i].lock))
			inside = true;
		else
			gm_lock_reset(&gm_central[i].lock);
	}
	if (gm_lock_mine(&gm_heap.lock))
		inside = true;
	gm_mheap_fork_child(gm_lock_mine(&gm_heap.lock));
	if (!gm_mutex_mine(&gm_registry_.lock))
		gm_mutex_reset(&gm_registry_.lock);
	if (!gm_mutex_mine(&gm_scav.lock))
		gm_scav_fork_child(pid);
	if (gm_lock_mine(&gm_prof.lock))
		inside = true;
	else
		gm_prof_fork_child(pid);
	if (!inside)
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
