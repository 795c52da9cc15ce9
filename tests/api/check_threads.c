/*
 * check_threads.c: the malloc family under threads.  Blocks are freed by
 * threads other than those that allocated them (producer/consumer rings),
 * by threads started after their allocator exited, and every block carries a
 * fill pattern that is verified before it is freed.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "gomem.h"
#include "api_util.h"
#include "../common/rss.h"

/* ---- A single-producer, single-consumer ring of blocks ---- */

#define RING_SIZE 1024 /* power of two */

struct block {
	size_t size;
	uint64_t seed;
	/* pattern bytes follow in the same allocation, after the header */
};

struct ring {
	_Atomic size_t head; /* next slot the producer writes */
	_Atomic size_t tail; /* next slot the consumer reads */
	struct block *slot[RING_SIZE];
	uint64_t seed;
	size_t count;
	/* results, filled by the consumer */
	size_t received;
	size_t bad;
	uint64_t sum;
	size_t first_bad_size;
};

static void ring_push(struct ring *r, struct block *b)
{
	size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);

	while (h - atomic_load_explicit(&r->tail, memory_order_acquire) == RING_SIZE)
		sched_yield();
	r->slot[h & (RING_SIZE - 1)] = b;
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

static struct block *ring_pop(struct ring *r)
{
	size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	struct block *b;

	while (atomic_load_explicit(&r->head, memory_order_acquire) == t)
		sched_yield();
	b = r->slot[t & (RING_SIZE - 1)];
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
	return b;
}

/* Sizes for the rings: mostly small, some medium, a few large. */
static size_t pick_size(uint64_t *s)
{
	uint64_t r = rng_next(s) % 1000;

	if (r < 700)
		return rng_range(s, 0, 256);
	if (r < 980)
		return rng_range(s, 257, 32768);
	return rng_range(s, 32769, 400000);
}

static void *producer(void *arg)
{
	struct ring *r = arg;
	uint64_t s = r->seed;
	size_t i;

	for (i = 0; i < r->count; i++) {
		size_t n = pick_size(&s);
		struct block *b;

		switch (i % 4) {
		case 0:
			b = malloc(sizeof(*b) + n);
			break;
		case 1:
			b = calloc(1, sizeof(*b) + n);
			break;
		case 2:
			b = memalign(64, sizeof(*b) + n);
			break;
		default:
			b = realloc(malloc(8), sizeof(*b) + n);
			break;
		}
		if (b == NULL)
			abort();
		b->size = n;
		b->seed = r->seed ^ i;
		pattern_fill(b + 1, n, b->seed);
		ring_push(r, b);
	}
	ring_push(r, NULL);
	return NULL;
}

static void *consumer(void *arg)
{
	struct ring *r = arg;
	struct block *b;
	size_t i = 0;

	while ((b = ring_pop(r)) != NULL) {
		if (pattern_check(b + 1, b->size, b->seed) != (size_t)-1) {
			if (r->bad++ == 0)
				r->first_bad_size = b->size;
		}
		r->sum += b->size;
		/* Sometimes grow or shrink the foreign block before freeing it. */
		if (i++ % 5 == 0) {
			size_t n = b->size / 2;
			struct block *c = realloc(b, sizeof(*b) + n + 100);
			if (c == NULL)
				abort();
			if (pattern_check(c + 1, n, c->seed) != (size_t)-1)
				r->bad++;
			b = c;
		}
		free(b);
		r->received++;
	}
	return NULL;
}

START_TEST(test_cross_thread_rings)
{
	enum { PAIRS = 3, COUNT = 25000 };
	static struct ring rings[PAIRS];
	pthread_t pt[PAIRS], ct[PAIRS];
	uint64_t expect_sum[PAIRS];
	int i;

	for (i = 0; i < PAIRS; i++) {
		uint64_t s;
		size_t k;

		memset(&rings[i], 0, sizeof(rings[i]));
		rings[i].seed = 1000 + (uint64_t)i;
		rings[i].count = COUNT;
		s = rings[i].seed;
		expect_sum[i] = 0;
		for (k = 0; k < COUNT; k++)
			expect_sum[i] += pick_size(&s);
	}
	for (i = 0; i < PAIRS; i++) {
		ck_assert_int_eq(pthread_create(&ct[i], NULL, consumer, &rings[i]), 0);
		ck_assert_int_eq(pthread_create(&pt[i], NULL, producer, &rings[i]), 0);
	}
	for (i = 0; i < PAIRS; i++) {
		pthread_join(pt[i], NULL);
		pthread_join(ct[i], NULL);
	}
	for (i = 0; i < PAIRS; i++) {
		ck_assert_uint_eq(rings[i].received, COUNT);
		ck_assert_msg(rings[i].bad == 0,
			      "ring %d: %zu blocks arrived corrupted (first of size %zu)", i,
			      rings[i].bad, rings[i].first_bad_size);
		ck_assert_uint_eq(rings[i].sum, expect_sum[i]);
	}
}
END_TEST

/* ---- Many short-lived threads, freeing each other's blocks ---- */

#define ORPHANS 4096

static pthread_mutex_t orphan_lock = PTHREAD_MUTEX_INITIALIZER;
static struct block *orphan[ORPHANS];
static _Atomic size_t orphan_bad;
static _Atomic size_t orphan_freed;

static void *short_lived(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg, s = id * 7 + 1;
	struct block *mine[64];
	size_t i;

	for (i = 0; i < 64; i++) {
		size_t n = rng_range(&s, 0, i % 16 == 0 ? 20000 : 300);

		mine[i] = malloc(sizeof(struct block) + n);
		if (mine[i] == NULL)
			abort();
		mine[i]->size = n;
		mine[i]->seed = id * 64 + i;
		pattern_fill(mine[i] + 1, n, mine[i]->seed);
	}
	/* Free some of ours, here. */
	for (i = 0; i < 64; i += 2) {
		if (pattern_check(mine[i] + 1, mine[i]->size, mine[i]->seed) != (size_t)-1)
			atomic_fetch_add(&orphan_bad, 1);
		free(mine[i]);
	}
	/* Leave the rest to threads that run after we are dead, and free theirs. */
	for (i = 1; i < 64; i += 2) {
		size_t slot = (size_t)rng_next(&s) % ORPHANS;
		struct block *old;

		pthread_mutex_lock(&orphan_lock);
		old = orphan[slot];
		orphan[slot] = mine[i];
		pthread_mutex_unlock(&orphan_lock);
		if (old != NULL) {
			if (pattern_check(old + 1, old->size, old->seed) != (size_t)-1)
				atomic_fetch_add(&orphan_bad, 1);
			free(old);
			atomic_fetch_add(&orphan_freed, 1);
		}
	}
	return NULL;
}

START_TEST(test_short_lived_threads)
{
	enum { THREADS = 1008, BATCH = 8 };
	pthread_t t[BATCH];
	size_t i, j;

	for (i = 0; i < THREADS; i += BATCH) {
		for (j = 0; j < BATCH; j++)
			ck_assert_int_eq(pthread_create(&t[j], NULL, short_lived,
							(void *)(uintptr_t)(i + j + 1)),
					 0);
		for (j = 0; j < BATCH; j++)
			pthread_join(t[j], NULL);
	}
	/* Detached threads too: their exit races with our next allocation. */
	for (i = 0; i < 100; i++) {
		pthread_attr_t a;
		pthread_t d;

		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		ck_assert_int_eq(pthread_create(&d, &a, short_lived, (void *)(uintptr_t)(5000 + i)),
				 0);
		pthread_attr_destroy(&a);
	}
	usleep(200000);
	pthread_mutex_lock(&orphan_lock);
	for (i = 0; i < ORPHANS; i++) {
		if (orphan[i] != NULL) {
			if (pattern_check(orphan[i] + 1, orphan[i]->size, orphan[i]->seed) !=
			    (size_t)-1)
				atomic_fetch_add(&orphan_bad, 1);
			free(orphan[i]);
			orphan[i] = NULL;
		}
	}
	pthread_mutex_unlock(&orphan_lock);
	ck_assert_msg(atomic_load(&orphan_bad) == 0, "%zu blocks corrupted across thread deaths",
		      atomic_load(&orphan_bad));
	ck_assert_msg(atomic_load(&orphan_freed) > 1000,
		      "only %zu blocks were freed by a thread other than their allocator",
		      atomic_load(&orphan_freed));
}
END_TEST

/* ---- Data integrity: random churn with blocks migrating between threads ---- */

#define SHARED 2048
static pthread_mutex_t shared_lock[16];
static struct block *shared[SHARED];
static _Atomic size_t churn_bad;

static void *churn(void *arg)
{
	uint64_t s = (uint64_t)(uintptr_t)arg * 31337 + 5;
	struct block *local[256] = {0};
	size_t i;

	for (i = 0; i < 25000; i++) {
		size_t k = (size_t)rng_next(&s) % 256, n;
		uint64_t op = rng_next(&s) % 10;
		struct block *b = local[k];

		if (b != NULL && pattern_check(b + 1, b->size, b->seed) != (size_t)-1)
			atomic_fetch_add(&churn_bad, 1);
		if (op < 4) { /* free and replace */
			free(b);
			n = pick_size(&s) % 5000;
			b = (op & 1) ? malloc(sizeof(*b) + n) : calloc(sizeof(*b) + n, 1);
			if (b == NULL)
				abort();
			if (!(op & 1) && zero_check(b, sizeof(*b) + n) != (size_t)-1)
				atomic_fetch_add(&churn_bad, 1);
		} else if (op < 7 && b != NULL) { /* resize */
			size_t old = b->size;
			n = pick_size(&s) % 70000;
			b = realloc(b, sizeof(*b) + n);
			if (b == NULL)
				abort();
			if (pattern_check(b + 1, old < n ? old : n, b->seed) != (size_t)-1)
				atomic_fetch_add(&churn_bad, 1);
		} else { /* swap with the shared pool */
			size_t j = (size_t)rng_next(&s) % SHARED;
			pthread_mutex_t *m = &shared_lock[j % 16];
			struct block *o;

			pthread_mutex_lock(m);
			o = shared[j];
			shared[j] = b;
			pthread_mutex_unlock(m);
			local[k] = o;
			continue;
		}
		b->size = n;
		b->seed = s;
		pattern_fill(b + 1, n, b->seed);
		local[k] = b;
	}
	for (i = 0; i < 256; i++) {
		if (local[i] != NULL &&
		    pattern_check(local[i] + 1, local[i]->size, local[i]->seed) != (size_t)-1)
			atomic_fetch_add(&churn_bad, 1);
		free(local[i]);
	}
	return NULL;
}

START_TEST(test_integrity_churn)
{
	enum { THREADS = 6 };
	pthread_t t[THREADS];
	size_t i;

	for (i = 0; i < 16; i++)
		pthread_mutex_init(&shared_lock[i], NULL);
	for (i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)i), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < SHARED; i++) {
		if (shared[i] != NULL &&
		    pattern_check(shared[i] + 1, shared[i]->size, shared[i]->seed) != (size_t)-1)
			atomic_fetch_add(&churn_bad, 1);
		free(shared[i]);
		shared[i] = NULL;
	}
	ck_assert_msg(atomic_load(&churn_bad) == 0, "%zu corrupted blocks seen",
		      atomic_load(&churn_bad));
}
END_TEST

/* ---- Aligned and large allocations from many threads at once ---- */

static _Atomic size_t aligned_bad;

static void *aligned_worker(void *arg)
{
	uint64_t s = (uint64_t)(uintptr_t)arg + 77;
	int i;

	for (i = 0; i < 3000; i++) {
		size_t a = (size_t)1 << rng_range(&s, 3, i % 50 == 0 ? 21 : 13);
		size_t n = rng_range(&s, 0, i % 50 == 0 ? 3 << 20 : 9000);
		void *p = NULL;

		if (posix_memalign(&p, a, n) != 0 || (n > 0 && p == NULL)) {
			atomic_fetch_add(&aligned_bad, 1);
			continue;
		}
		if (!is_aligned(p, a) || (p != NULL && malloc_usable_size(p) < n))
			atomic_fetch_add(&aligned_bad, 1);
		pattern_fill(p, n, (uint64_t)i);
		if (pattern_check(p, n, (uint64_t)i) != (size_t)-1)
			atomic_fetch_add(&aligned_bad, 1);
		free(p);
	}
	return NULL;
}

START_TEST(test_aligned_threads)
{
	enum { THREADS = 4 };
	pthread_t t[THREADS];
	size_t i;

	for (i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, aligned_worker, (void *)(uintptr_t)i),
				 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_eq(atomic_load(&aligned_bad), 0);
}
END_TEST

/* ---- Many threads alive at once, each freeing its neighbour's blocks ---- */

#define LIVE_THREADS 200
#define LIVE_BLOCKS  100
static pthread_barrier_t live_barrier;
static struct block *live_blocks[LIVE_THREADS][LIVE_BLOCKS];
static _Atomic size_t live_bad;

static void *live_worker(void *arg)
{
	size_t me = (size_t)(uintptr_t)arg, other = (me + 1) % LIVE_THREADS, i;
	uint64_t s = me * 101 + 7;

	for (i = 0; i < LIVE_BLOCKS; i++) {
		size_t n = rng_range(&s, 0, i % 10 == 0 ? 40000 : 500);
		struct block *b = malloc(sizeof(*b) + n);

		if (b == NULL)
			abort();
		b->size = n;
		b->seed = me * LIVE_BLOCKS + i;
		pattern_fill(b + 1, n, b->seed);
		live_blocks[me][i] = b;
	}
	pthread_barrier_wait(&live_barrier);
	for (i = 0; i < LIVE_BLOCKS; i++) {
		struct block *b = live_blocks[other][i];

		if (pattern_check(b + 1, b->size, b->seed) != (size_t)-1)
			atomic_fetch_add(&live_bad, 1);
		free(b);
	}
	pthread_barrier_wait(&live_barrier);
	return NULL;
}

START_TEST(test_many_live_threads)
{
	static pthread_t t[LIVE_THREADS];
	pthread_attr_t a;
	size_t i;

	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 256 * 1024);
	ck_assert_int_eq(pthread_barrier_init(&live_barrier, NULL, LIVE_THREADS), 0);
	for (i = 0; i < LIVE_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], &a, live_worker, (void *)(uintptr_t)i), 0);
	for (i = 0; i < LIVE_THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&live_barrier);
	pthread_attr_destroy(&a);
	ck_assert_msg(atomic_load(&live_bad) == 0, "%zu blocks corrupted", atomic_load(&live_bad));
}
END_TEST

/* ---- Memory freed by other threads is reused, not leaked ---- */

static struct ring leak_ring;

static void *leak_producer(void *arg)
{
	struct ring *r = arg;
	uint64_t s = r->seed;
	size_t i;

	for (i = 0; i < r->count; i++) {
		size_t n = rng_range(&s, 32, 16384);
		struct block *b = malloc(sizeof(*b) + n);

		if (b == NULL)
			abort();
		/* Touch the head only: a leak still costs a fresh page per block. */
		b->size = n < 48 ? n : 48;
		b->seed = i;
		pattern_fill(b + 1, b->size, b->seed);
		ring_push(r, b);
	}
	ring_push(r, NULL);
	return NULL;
}

START_TEST(test_cross_thread_no_leak)
{
	enum { COUNT = 100000 };
	const size_t bound = 256u << 20;
	pthread_t p, c;
	size_t before, after;

	before = rss_bytes();
	memset(&leak_ring, 0, sizeof(leak_ring));
	leak_ring.seed = 4242;
	leak_ring.count = COUNT;
	ck_assert_int_eq(pthread_create(&c, NULL, consumer, &leak_ring), 0);
	ck_assert_int_eq(pthread_create(&p, NULL, leak_producer, &leak_ring), 0);
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	after = rss_bytes();
	ck_assert_uint_eq(leak_ring.received, COUNT);
	ck_assert_uint_eq(leak_ring.bad, 0);
	/* About 800 MiB went through the ring with at most RING_SIZE blocks live. */
	ck_assert_msg(after < before + bound,
		      "RSS grew from %zu MiB to %zu MiB after %d cross-thread malloc/free pairs "
		      "with < %d blocks live: freed memory is not being reused",
		      before >> 20, after >> 20, COUNT, RING_SIZE + 2);
}
END_TEST

/* ---- Integrity while memory is being returned to the OS ---- */

static _Atomic int scav_stop;
static _Atomic size_t scav_bad;
static _Atomic size_t scav_calls;

static void *scav_releaser(void *arg)
{
	while (!atomic_load(&scav_stop)) {
		gomem_free_os_memory();
		atomic_fetch_add(&scav_calls, 1);
		usleep(500);
	}
	return NULL;
}

static void *scav_worker(void *arg)
{
	uint64_t s = (uint64_t)(uintptr_t)arg * 7777 + 1;
	struct block *slot[32] = {0};
	size_t i, k;

	for (i = 0; i < 6000; i++) {
		size_t n;
		struct block *b;

		k = (size_t)rng_next(&s) % 32;
		b = slot[k];
		if (b != NULL) {
			if (pattern_check(b + 1, b->size, b->seed) != (size_t)-1)
				atomic_fetch_add(&scav_bad, 1);
			free(b);
		}
		n = rng_next(&s) % 8 == 0 ? rng_range(&s, 32769, 600000) : rng_range(&s, 0, 32768);
		b = (i & 1) ? malloc(sizeof(*b) + n) : calloc(1, sizeof(*b) + n);
		if (b == NULL)
			abort();
		if (!(i & 1) && zero_check(b, sizeof(*b) + n) != (size_t)-1)
			atomic_fetch_add(&scav_bad, 1);
		b->size = n;
		b->seed = s;
		pattern_fill(b + 1, n, s);
		slot[k] = b;
	}
	for (k = 0; k < 32; k++) {
		if (slot[k] != NULL &&
		    pattern_check(slot[k] + 1, slot[k]->size, slot[k]->seed) != (size_t)-1)
			atomic_fetch_add(&scav_bad, 1);
		free(slot[k]);
	}
	return NULL;
}

START_TEST(test_integrity_while_releasing)
{
	enum { THREADS = 3 };
	pthread_t t[THREADS], r;
	size_t i;

	atomic_store(&scav_stop, 0);
	ck_assert_int_eq(pthread_create(&r, NULL, scav_releaser, NULL), 0);
	for (i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, scav_worker, (void *)(uintptr_t)i), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	atomic_store(&scav_stop, 1);
	pthread_join(r, NULL);
	ck_assert_msg(atomic_load(&scav_bad) == 0,
		      "%zu blocks corrupted or calloc not zero while gomem_free_os_memory ran "
		      "(%zu calls)",
		      atomic_load(&scav_bad), atomic_load(&scav_calls));
}
END_TEST

static void *last_worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++)
		free(malloc(64 + i));
	usleep(50000);
	return NULL;
}

/*
 * The main thread ends with pthread_exit and leaves the process to a worker:
 * when the worker returns, glibc ends the process with status 0.  The
 * scavenger thread, started by the allocations, must not keep it alive
 * (it blocks every signal: the process would not even end on SIGTERM).
 */
START_TEST(test_main_pthread_exit_ends_process)
{
	pid_t pid = fork(), r = 0;
	int status = -1;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		pthread_t t;

		free(malloc(1 << 20));
		if (pthread_create(&t, NULL, last_worker, NULL) != 0)
			_exit(3);
		pthread_exit(NULL);
	}
	/* The scavenger looks every quarter second and may sleep a second
	 * first: 20 s is far more than the process needs. */
	for (int i = 0; i < 2000 && (r = waitpid(pid, &status, WNOHANG)) == 0; i++)
		usleep(10000);
	if (r == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		ck_abort_msg("the process did not end 20 s after its last thread");
	}
	ck_assert_int_eq(r, pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
}
END_TEST

static _Atomic int victim_done;

static void *cancel_victim(void *gate)
{
	struct gomem_memstats m;

	/* Not a cancellation point: the request stays pending. */
	pthread_barrier_wait(gate);
	malloc_stats();
	free(malloc(1 << 20));
	free(malloc(100));
	gomem_read_memstats(&m);
	atomic_store(&victim_done, 1);
	pthread_testcancel();
	return NULL;
}

/*
 * A thread with a cancellation pending calls into the library (glibc's
 * tst-malloc-stats-cancellation, made wider): none of it is a cancellation
 * point, so malloc_stats writes all its lines and the calls after it
 * return.  The library's reads of /proc and cgroup files and its writes
 * went through open, read and write, which are: the thread ended inside
 * malloc_stats, or inside malloc with the page heap's lock held.
 */
START_TEST(test_cancel_pending)
{
	struct gomem_memstats m;
	pthread_barrier_t gate;
	pthread_t t;
	char out[16384];
	size_t n = 0;
	void *ret;
	int fds[2], saved;
	ssize_t r;

	ck_assert_int_eq(pipe(fds), 0);
	saved = dup(2);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(fds[1], 2), 2);
	close(fds[1]);
	pthread_barrier_init(&gate, NULL, 2);
	ck_assert_int_eq(pthread_create(&t, NULL, cancel_victim, &gate), 0);
	ck_assert_int_eq(pthread_cancel(t), 0);
	pthread_barrier_wait(&gate);
	ck_assert_int_eq(pthread_join(t, &ret), 0);
	dup2(saved, 2);
	close(saved);
	while (n < sizeof(out) - 1 && (r = read(fds[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	close(fds[0]);
	ck_assert_ptr_eq(ret, PTHREAD_CANCELED);
	ck_assert_msg(strstr(out, "max mmap bytes") != NULL, "glibc's lines cut short: %s", out);
	ck_assert_msg(strstr(out, "# HeapAlloc = ") != NULL, "MemStats cut short: %s", out);
	ck_assert_msg(atomic_load(&victim_done), "the thread ended inside the library");
	/* And nothing it took is still held: these take the same locks. */
	free(malloc(1 << 20));
	gomem_read_memstats(&m);
	ck_assert_uint_ge(m.HeapSys, m.HeapInuse);
}
END_TEST

static Suite *threads_suite(void)
{
	Suite *s = suite_create("threads");
	TCase *tc = tcase_create("threads");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_cross_thread_rings);
	tcase_add_test(tc, test_short_lived_threads);
	tcase_add_test(tc, test_integrity_churn);
	tcase_add_test(tc, test_aligned_threads);
	tcase_add_test(tc, test_many_live_threads);
	tcase_add_test(tc, test_cross_thread_no_leak);
	tcase_add_test(tc, test_integrity_while_releasing);
	tcase_add_test(tc, test_main_pthread_exit_ends_process);
	tcase_add_test(tc, test_cancel_pending);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(threads_suite());
	int failed;

	if (gomem_version() == NULL)
		return EXIT_FAILURE;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
