/*
 * stress.c: a threaded allocation stress program that frees across threads
 * and forks.  It is linked against nothing of gomem's; preload_stress.sh runs
 * it with and without LD_PRELOAD=libgomem.so and compares the output, which
 * depends only on the program's seeds, never on scheduling or addresses.
 *
 *   stress            run the workload, print deterministic results
 *   stress --whoami   print the file that defines malloc in this process
 *
 * Any corruption, failed allocation or failed child makes it exit non-zero.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_util.h"

#define PAIRS	 3
#define PER_PAIR 15000
#define RING	 512
#define FORKS	 8

struct msg {
	size_t size;
	uint64_t seed;
};

struct ring {
	_Atomic size_t head, tail;
	struct msg *slot[RING];
	uint64_t seed;
	uint64_t checksum; /* sum of sizes and first bytes seen by the consumer */
	size_t bad;
};

static struct ring rings[PAIRS];
static _Atomic size_t failures;

static void fail(const char *what)
{
	atomic_fetch_add(&failures, 1);
	write_str(2, "stress: ");
	write_str(2, what);
	write_str(2, "\n");
}

static size_t pick(uint64_t *s)
{
	uint64_t r = rng_next(s) % 1000;

	if (r < 750)
		return rng_range(s, 0, 300);
	if (r < 990)
		return rng_range(s, 301, 30000);
	return rng_range(s, 30001, 1 << 20);
}

static void *producer(void *arg)
{
	struct ring *r = arg;
	uint64_t s = r->seed;
	size_t i;

	for (i = 0; i < PER_PAIR; i++) {
		size_t n = pick(&s), h;
		struct msg *m = (i & 1) ? malloc(sizeof(*m) + n) : calloc(1, sizeof(*m) + n);

		if (m == NULL) {
			fail("producer: allocation failed");
			abort();
		}
		m->size = n;
		m->seed = s;
		pattern_fill(m + 1, n, s);
		h = atomic_load_explicit(&r->head, memory_order_relaxed);
		while (h - atomic_load_explicit(&r->tail, memory_order_acquire) == RING)
			sched_yield();
		r->slot[h % RING] = m;
		atomic_store_explicit(&r->head, h + 1, memory_order_release);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct ring *r = arg;
	size_t i;

	for (i = 0; i < PER_PAIR; i++) {
		size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
		struct msg *m;

		while (atomic_load_explicit(&r->head, memory_order_acquire) == t)
			sched_yield();
		m = r->slot[t % RING];
		atomic_store_explicit(&r->tail, t + 1, memory_order_release);
		if (pattern_check(m + 1, m->size, m->seed) != (size_t)-1)
			r->bad++;
		r->checksum = r->checksum * 31 + m->size +
			      (m->size ? ((unsigned char *)(m + 1))[m->size - 1] : 0);
		if (i % 3 == 0) {
			m = realloc(m, sizeof(*m) + m->size * 2 + 1);
			if (m == NULL) {
				fail("consumer: realloc failed");
				abort();
			}
			if (pattern_check(m + 1, m->size, m->seed) != (size_t)-1)
				r->bad++;
		}
		free(m);
	}
	return NULL;
}

/* ---- churn threads with a shared pool, and forks while they run ---- */

#define POOL 1024
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct msg *pool[POOL];
static _Atomic int stop;

static void *churner(void *arg)
{
	uint64_t s = (uint64_t)(uintptr_t)arg;

	while (!atomic_load(&stop)) {
		size_t n = pick(&s), j = (size_t)rng_next(&s) % POOL;
		struct msg *m = malloc(sizeof(*m) + n), *old;

		if (m == NULL) {
			fail("churner: allocation failed");
			abort();
		}
		m->size = n;
		m->seed = s;
		pattern_fill(m + 1, n < 64 ? n : 64, s);
		pthread_mutex_lock(&pool_lock);
		old = pool[j];
		pool[j] = m;
		pthread_mutex_unlock(&pool_lock);
		if (old != NULL) {
			if (pattern_check(old + 1, old->size < 64 ? old->size : 64, old->seed) !=
			    (size_t)-1)
				fail("churner: corrupted block from another thread");
			free(old);
		}
	}
	return NULL;
}

static int child(int k)
{
	uint64_t s = (uint64_t)k + 1;
	size_t i;
	void *p[200];

	alarm(20);
	/* Free what other (now absent) threads allocated. */
	for (i = 0; i < POOL; i += 2) {
		struct msg *m = pool[i];
		if (m != NULL) {
			if (pattern_check(m + 1, m->size < 64 ? m->size : 64, m->seed) !=
			    (size_t)-1)
				return 1;
			free(m);
			pool[i] = NULL;
		}
	}
	for (i = 0; i < 200; i++) {
		size_t n = pick(&s);
		p[i] = malloc(n);
		if (p[i] == NULL)
			return 2;
		pattern_fill(p[i], n, i);
		if (pattern_check(p[i], n, i) != (size_t)-1)
			return 3;
	}
	for (i = 0; i < 200; i++)
		free(p[i]);
	return 0;
}

static _Atomic unsigned thread_no;

static void *short_thread(void *arg)
{
	struct msg **slot = arg, *old = *slot;
	uint64_t s = (uint64_t)atomic_fetch_add(&thread_no, 1) + 1; /* threads run one by one */
	size_t n = rng_range(&s, 0, 5000);

	if (old != NULL) { /* left by a thread that has exited */
		if (pattern_check(old + 1, old->size, old->seed) != (size_t)-1)
			fail("short thread: corrupted orphan");
		free(old);
	}
	*slot = malloc(sizeof(**slot) + n);
	if (*slot == NULL)
		abort();
	(*slot)->size = n;
	(*slot)->seed = n * 3 + 1;
	pattern_fill(*slot + 1, n, n * 3 + 1);
	return NULL;
}

static int whoami(void)
{
	const char *owner = symbol_owner("malloc");

	printf("%s\n", owner ? owner : "(unknown)");
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t pt[PAIRS], ct[PAIRS], ch[3];
	struct msg *slots[16] = {0};
	int i, forks_ok = 0;

	if (argc > 1 && strcmp(argv[1], "--whoami") == 0)
		return whoami();

	/* 1: producer/consumer pairs, every block freed by another thread. */
	for (i = 0; i < PAIRS; i++) {
		rings[i].seed = 0x1000 + (uint64_t)i;
		pthread_create(&ct[i], NULL, consumer, &rings[i]);
		pthread_create(&pt[i], NULL, producer, &rings[i]);
	}
	for (i = 0; i < PAIRS; i++) {
		pthread_join(pt[i], NULL);
		pthread_join(ct[i], NULL);
		printf("pair %d: %d blocks, checksum %016" PRIx64 ", corrupted %zu\n", i, PER_PAIR,
		       rings[i].checksum, rings[i].bad);
		if (rings[i].bad)
			fail("corrupted block in a ring");
	}

	/* 2: fork while threads churn. */
	for (i = 0; i < 3; i++)
		pthread_create(&ch[i], NULL, churner, (void *)(uintptr_t)(i + 7));
	for (i = 0; i < FORKS; i++) {
		pid_t pid;
		int st;

		usleep(3000);
		pthread_mutex_lock(&pool_lock);
		pid = fork();
		pthread_mutex_unlock(&pool_lock);
		if (pid == 0)
			_exit(child(i));
		if (pid < 0 || waitpid(pid, &st, 0) != pid)
			fail("fork/waitpid failed");
		else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			forks_ok++;
		else {
			char buf[96];
			snprintf(buf, sizeof(buf), "child %d: %s %d", i,
				 WIFSIGNALED(st) ? "signal" : "exit",
				 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			fail(buf);
		}
	}
	atomic_store(&stop, 1);
	for (i = 0; i < 3; i++)
		pthread_join(ch[i], NULL);
	for (i = 0; i < POOL; i++)
		free(pool[i]);
	printf("forks: %d of %d children ok\n", forks_ok, FORKS);

	/* 3: 600 short-lived threads, each freeing a block left by a dead one. */
	for (i = 0; i < 600; i++) {
		pthread_t t;

		pthread_create(&t, NULL, short_thread, &slots[i % 16]);
		pthread_join(t, NULL);
	}
	{
		uint64_t sum = 0;
		for (i = 0; i < 16; i++) {
			sum += slots[i]->size;
			free(slots[i]);
		}
		printf("short threads: 600, last sizes sum %" PRIu64 "\n", sum);
	}

	if (atomic_load(&failures) != 0) {
		printf("FAILED: %zu failures\n", atomic_load(&failures));
		return 1;
	}
	printf("ok\n");
	return 0;
}
