/*
 * gmstress.c: a stress run of the allocator core (`make stress`; a small
 * version, --quick, runs in `make check`, also in the sanitizer builds).
 *
 * It calls gm_malloc and friends directly (linked with the core, like the
 * unit tests), so ThreadSanitizer and AddressSanitizer builds instrument the
 * allocator itself while the program's own bookkeeping stays with libc.
 *
 * Phases, most of them at once:
 *   - workers allocate, check, reallocate and free blocks through a shared
 *     table of slots, so most blocks are freed by another thread than the
 *     one that allocated them; realloc chains grow and shrink a block and
 *     check that its prefix survived; sizes cover every size class (exact
 *     class sizes too), odd sizes, and large objects;
 *   - meanwhile the main thread churns short-lived threads (tens of
 *     thousands in the full run) that work on the same table and exit,
 *     and forks children from the multithreaded process, which allocate,
 *     start a thread, check the heap and exit;
 *   - every size class is swept: two spans' worth of objects of each class
 *     size, checked and freed;
 *   - memory-limit pressure: with a soft limit just above what is live, the
 *     workers churn large blocks and retained memory must stay under the
 *     limit (or the in-use heap, when that is larger).
 * Every block carries a pattern derived from its size and a key, checked
 * before every free and realloc.  At the end everything is freed, the heap
 * invariants are walked and the MemStats identities checked.  Output:
 * operations, threads, forks and RSS at start and end.
 */
#include "testutil.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#if defined(__SANITIZE_THREAD__)
#define GM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GM_TSAN 1
#endif
#endif
#ifndef GM_TSAN
#define GM_TSAN 0
#endif

struct blk {
	unsigned char *p;
	size_t n;
	uint64_t key;
};

static struct {
	unsigned workers;
	unsigned slots;
	double seconds;
	unsigned churn;  /* short-lived threads */
	unsigned forks;
	size_t large_max;
} cfg;

static _Atomic(struct blk *) *slots;
static _Atomic bool stop_workers;
static _Atomic bool pressure;   /* workers favour large blocks */
static _Atomic uint64_t ops, reallocs, bad;
static _Atomic unsigned threads_made;

static uint64_t
rng(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void
report(const char *what, const struct blk *b)
{
	atomic_fetch_add(&bad, 1);
	fprintf(stderr, "gmstress: %s (block %p size %zu)\n", what, b ? (void *)b->p : NULL,
		b ? b->n : 0);
}

/* The byte at offset i of a block with key k. */
static inline unsigned char
pat(uint64_t k, size_t i)
{
	return (unsigned char)((k >> ((i & 7) * 8)) + i / 8);
}

static void
fill(struct blk *b, size_t from)
{
	size_t i;

	for (i = from; i < b->n; i++)
		b->p[i] = pat(b->key, i);
}

/* Check the first n bytes (all of them: a large block is checked whole). */
static bool
verify(const struct blk *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (b->p[i] != pat(b->key, i))
			return false;
	return true;
}

static size_t
pick_size(uint64_t *s)
{
	uint64_t r = rng(s) % 1000;

	if (atomic_load_explicit(&pressure, memory_order_relaxed) && r < 100)
		return 32769 + rng(s) % (cfg.large_max - 32768);
	if (r < 400)
		return 1 + rng(s) % 256;
	if (r < 700)
		return 257 + rng(s) % (32768 - 256);
	if (r < 950)
		return gm_class_size[1 + rng(s) % (GM_NUM_CLASSES - 1)];
	return 32769 + rng(s) % (cfg.large_max - 32768);
}

static struct blk *
blk_new(uint64_t *s)
{
	struct blk *b = gm_malloc(sizeof(*b));

	if (b == NULL) {
		report("out of memory (record)", NULL);
		return NULL;
	}
	b->n = pick_size(s);
	b->key = rng(s) | 1;
	b->p = gm_malloc(b->n);
	if (b->p == NULL) {
		report("out of memory", b);
		gm_free(b);
		return NULL;
	}
	if (gm_usable_size(b->p) < b->n)
		report("usable size below the request", b);
	fill(b, 0);
	return b;
}

static void
blk_free(struct blk *b)
{
	if (!verify(b, b->n))
		report("pattern broken before free", b);
	gm_free(b->p);
	gm_free(b);
}

/* A realloc chain: grow and shrink a few times, the prefix must survive. */
static void
blk_realloc_chain(struct blk *b, uint64_t *s)
{
	int k, len = 1 + (int)(rng(s) % 4);

	for (k = 0; k < len; k++) {
		size_t n = pick_size(s), keep = n < b->n ? n : b->n;
		unsigned char *q;

		if (!verify(b, b->n))
			report("pattern broken before realloc", b);
		q = gm_realloc(b->p, n);
		if (q == NULL) {
			report("realloc failed", b);
			return;
		}
		b->p = q;
		b->n = n;
		if (!verify(b, keep))
			report("realloc lost the prefix", b);
		fill(b, keep);
		atomic_fetch_add_explicit(&reallocs, 1, memory_order_relaxed);
	}
}

/* One operation on a random slot. */
static void
step(uint64_t *s)
{
	size_t i = rng(s) % cfg.slots;
	struct blk *b = atomic_exchange_explicit(&slots[i], NULL, memory_order_acq_rel);

	if (b == NULL) {
		b = blk_new(s);
	} else if (rng(s) % 4 == 0) {
		blk_realloc_chain(b, s);
	} else {
		blk_free(b);
		b = NULL;
	}
	if (b != NULL) {
		struct blk *old = atomic_exchange_explicit(&slots[i], b, memory_order_acq_rel);

		if (old != NULL)
			blk_free(old);
	}
	atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
}

static void *
worker(void *arg)
{
	uint64_t s = (uintptr_t)arg * 0x9e3779b97f4a7c15u + 1;

	while (!atomic_load_explicit(&stop_workers, memory_order_relaxed))
		step(&s);
	return NULL;
}

/* A short-lived thread: a few operations, then exit (its cache goes back). */
static void *
shortlived(void *arg)
{
	uint64_t s = (uintptr_t)arg * 0x2545f4914f6cdd1du + 7;
	int k;

	for (k = 0; k < 8; k++)
		step(&s);
	/* Leave a small block for another thread to free. */
	gm_free(gm_malloc(1 + rng(&s) % 64));
	return NULL;
}

static void *
child_thread(void *arg)
{
	uint64_t s = (uintptr_t)arg;
	int k;

	for (k = 0; k < 200; k++) {
		struct blk *b = blk_new(&s);

		if (b != NULL)
			blk_free(b);
	}
	return NULL;
}

/* In a forked child of the multithreaded parent: the allocator works. */
static void
in_child(unsigned n)
{
	uint64_t s = 0xabcdef + n;
	pthread_t t;
	char why[128];
	size_t i, live = 0;

	/* Blocks the parent had in its slots are intact here too. */
	for (i = 0; i < cfg.slots && live < 64; i++) {
		struct blk *b = atomic_load(&slots[i]);

		if (b != NULL) {
			live++;
			if (!verify(b, b->n < 4096 ? b->n : 4096))
				_exit(3);
		}
	}
	child_thread((void *)(uintptr_t)(s + 1));
	if (!GM_TSAN) {
		/* TSan does not support threads after a multithreaded fork. */
		if (pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)s) != 0)
			_exit(4);
		pthread_join(t, NULL);
	}
	if (atomic_load(&bad) != 0)
		_exit(5);
	if (gm_mheap_check(why, sizeof(why)) != 0) {
		fprintf(stderr, "gmstress child: heap check: %s\n", why);
		_exit(6);
	}
	_exit(0);
}

static size_t
rss_kib(const char *key)
{
	char line[256];
	size_t v = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, strlen(key)) == 0)
			v = strtoull(line + strlen(key), NULL, 10);
	fclose(f);
	return v;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every size class: two spans' worth of objects of the class size. */
static void
sweep_classes(void)
{
	static void *v[2 * 1024 + 1];
	unsigned c;

	for (c = 1; c < GM_NUM_CLASSES; c++) {
		unsigned n = 2u * gm_class_nelems[c] + 1, k;
		struct blk b = { 0 };

		if (n > sizeof(v) / sizeof(v[0]))
			n = sizeof(v) / sizeof(v[0]);
		b.n = gm_class_size[c];
		for (k = 0; k < n; k++) {
			b.key = c * 1000003u + k;
			b.p = v[k] = gm_malloc(b.n);
			if (b.p == NULL || gm_usable_size(b.p) < b.n) {
				report("class size allocation", &b);
				return;
			}
			fill(&b, 0);
		}
		for (k = 0; k < n; k++) {
			b.key = c * 1000003u + k;
			b.p = v[k];
			if (!verify(&b, b.n))
				report("class sweep pattern", &b);
			gm_free(v[k]);
		}
		atomic_fetch_add(&ops, 2 * n);
	}
}

/* Retained heap memory now, and the in-use heap. */
static void
retained(uint64_t *ret, uint64_t *inuse)
{
	struct gomem_memstats m;

	gm_read_memstats(&m);
	*ret = m.HeapSys - m.HeapReleased;
	*inuse = m.HeapInuse;
}

int
main(int argc, char **argv)
{
	bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
	pthread_t *w;
	struct gomem_memstats m0, m1;
	size_t rss0, rss1, i;
	unsigned k, forks = 0;
	uint64_t limit, ret, inuse, worst = 0, sample_ret = 0, sample_inuse = 0;
	int64_t oldlimit;
	double t0, tend, tp;
	char why[128];

	cfg.workers = 4;
	cfg.slots = quick ? 2048 : 8192;
	cfg.seconds = quick ? 1.5 : 20;
	cfg.churn = quick ? 2000 : 40000;
	cfg.forks = quick ? 20 : 400;
	cfg.large_max = quick ? (256u << 10) : (1u << 20);
	if (GM_TSAN) {
		/* Everything is ~10x slower under TSan. */
		cfg.churn /= 4;
		cfg.forks /= 2;
	}
	gm_ensure_init();
	setvbuf(stdout, NULL, _IOLBF, 0);
	slots = calloc(cfg.slots, sizeof(*slots));
	w = calloc(cfg.workers, sizeof(*w));
	gm_read_memstats(&m0);
	rss0 = rss_kib("VmRSS:");
	t0 = now();

	sweep_classes();
	for (k = 0; k < cfg.workers; k++)
		if (pthread_create(&w[k], NULL, worker, (void *)(uintptr_t)(k + 1)) != 0)
			return 1;
	atomic_fetch_add(&threads_made, cfg.workers);

	/* Thread churn and fork storm while the workers run. */
	tend = t0 + cfg.seconds;
	for (k = 0; k < cfg.churn || forks < cfg.forks || now() < tend; k++) {
		if (k < cfg.churn) {
			pthread_t t[4];
			unsigned j;

			for (j = 0; j < 4; j++)
				if (pthread_create(&t[j], NULL, shortlived,
						   (void *)(uintptr_t)(4 * k + j + 1)) != 0)
					report("pthread_create", NULL);
			for (j = 0; j < 4; j++)
				pthread_join(t[j], NULL);
			atomic_fetch_add(&threads_made, 4);
			k += 3;
		}
		if (forks < cfg.forks && k % 16 == 0) {
			pid_t pid = fork();
			int st;

			if (pid == 0)
				in_child(forks);
			if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
			    WEXITSTATUS(st) != 0) {
				fprintf(stderr, "gmstress: child %u status %d\n", forks, st);
				report("forked child failed", NULL);
			}
			forks++;
		}
		if (k >= cfg.churn && forks >= cfg.forks)
			usleep(10000);
	}

	/* Memory-limit pressure: a limit 8 MiB over what is in use now. */
	retained(&ret, &inuse);
	limit = inuse + ((uint64_t)8 << 20);
	oldlimit = gm_set_memory_limit((int64_t)limit);
	gm_mheap_scavenge(SIZE_MAX, true);
	atomic_store(&pressure, true);
	tp = now() + (quick ? 1.0 : 5.0);
	while (now() < tp) {
		uint64_t over;

		usleep(2000);
		retained(&ret, &inuse);
		/* Soft limit: retained stays under it unless the live heap is over. */
		over = ret > (inuse > limit ? inuse : limit) ? ret - (inuse > limit ? inuse : limit) : 0;
		if (over > worst)
			worst = over;
		if (ret > sample_ret) {
			sample_ret = ret;
			sample_inuse = inuse;
		}
	}
	atomic_store(&pressure, false);
	gm_set_memory_limit(oldlimit);

	atomic_store(&stop_workers, true);
	for (k = 0; k < cfg.workers; k++)
		pthread_join(w[k], NULL);
	sweep_classes();

	rss1 = rss_kib("VmRSS:");
	for (i = 0; i < cfg.slots; i++) {
		struct blk *b = atomic_exchange(&slots[i], NULL);

		if (b != NULL)
			blk_free(b);
	}
	gm_read_memstats(&m1);
	printf("gmstress: %" PRIu64 " operations (%" PRIu64 " reallocs), %u threads, %u forks in "
	       "%.1f s; RSS start %zu KiB, end %zu KiB (with the table full), peak %zu KiB\n",
	       atomic_load(&ops), atomic_load(&reallocs), atomic_load(&threads_made), forks,
	       now() - t0, rss0, rss1, rss_kib("VmHWM:"));
	printf("gmstress: memory limit %" PRIu64 " MiB: retained over max(limit, in-use) by at most "
	       "%" PRIu64 " KiB (highest retained %" PRIu64 " MiB, in-use %" PRIu64 " MiB then)\n",
	       limit >> 20, worst >> 10, sample_ret >> 20, sample_inuse >> 20);
	/* Slack: one large block per worker may be in flight past the check. */
	if (worst > cfg.workers * (cfg.large_max + GM_HUGE_PAGE))
		report("retained memory stayed over the memory limit", NULL);
	if (gm_mheap_check(why, sizeof(why)) != 0) {
		fprintf(stderr, "gmstress: heap check: %s\n", why);
		report("heap check", NULL);
	}
	if (m1.HeapAlloc > m0.HeapAlloc + 16 * 8)
		report("HeapAlloc did not come back after everything was freed", NULL);
	if (m1.HeapSys != m1.HeapInuse + m1.HeapIdle || m1.HeapObjects != m1.Mallocs - m1.Frees)
		report("MemStats identities", NULL);
	gm_mheap_scavenge(SIZE_MAX, true);
	printf("gmstress: RSS after everything was freed and released: %zu KiB\n",
	       rss_kib("VmRSS:"));
	free(slots);
	free(w);
	if (atomic_load(&bad) != 0) {
		printf("FAIL: gmstress: %" PRIu64 " errors\n", atomic_load(&bad));
		return 1;
	}
	printf("PASS: gmstress%s\n", quick ? " --quick" : "");
	return 0;
}
