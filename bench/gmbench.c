/*
 * gmbench: allocator workloads for side-by-side comparison.
 *
 * One binary, one workload per run, selected by name:
 *
 *	gmbench [--quick] [--seed N] [--scale F] WORKLOAD
 *
 * The same binary runs under every allocator (glibc, or any LD_PRELOADed
 * malloc), so the measured loops call only the standard malloc family and
 * nothing allocator-specific.  Bookkeeping arrays that are not part of the
 * workload come from mmap, not malloc, so they neither disturb the
 * allocator under test nor count as its live bytes.
 *
 * Each run prints exactly one result line to stdout, starting with
 * "GMBENCH", of space-separated key=value pairs:
 *
 *	GMBENCH workload=churn elapsed_s=0.512345 cpu_s=0.511000 peak_rss_kib=2048 ...
 *
 * Memory workloads add live_kib and rss_t<sec>_kib samples.  The aligned
 * workload adds misaligned=N (blocks whose address did not honour the
 * requested alignment; counted, never fatal).  A note on stderr describes
 * anything odd.  Timing uses CLOCK_MONOTONIC; nothing here asserts a time.
 */

#define _GNU_SOURCE

#include <sys/mman.h>
#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tests/common/rss.h"

#define KiB (1024UL)
#define MiB (1024UL * 1024UL)

static int	quick;		/* --quick: shorter waits and fewer iterations */
static double	scale = 1.0;	/* --scale: multiply iteration counts */
static uint64_t	seed = 0x9e3779b97f4a7c15ULL;

/* Extra key=value pairs a workload wants on its result line. */
static char	extra[1024];

static void
add_extra(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
add_extra(const char *fmt, ...)
{
	size_t	 len = strlen(extra);
	va_list	 ap;

	if (len >= sizeof extra - 2)
		return;
	extra[len++] = ' ';
	va_start(ap, fmt);
	vsnprintf(extra + len, sizeof extra - len, fmt, ap);
	va_end(ap);
}

static void __attribute__((noreturn))
fatal(const char *what)
{
	fprintf(stderr, "gmbench: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* xoshiro256** seeded by splitmix64: fixed seed, same stream everywhere. */
struct rng {
	uint64_t	s[4];
};

static void
rng_init(struct rng *r, uint64_t x)
{
	int	i;

	for (i = 0; i < 4; i++) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		r->s[i] = z ^ (z >> 31);
	}
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t
rng_next(struct rng *r)
{
	uint64_t	*s = r->s;
	uint64_t	 result = rotl(s[1] * 5, 7) * 9;
	uint64_t	 t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Uniform in [lo, hi]. */
static inline size_t
rng_range(struct rng *r, size_t lo, size_t hi)
{
	return lo + (size_t)(rng_next(r) % (hi - lo + 1));
}

/* Log-uniform in [lo, hi]: as many small as large sizes per octave. */
static size_t
rng_logrange(struct rng *r, size_t lo, size_t hi)
{
	int	lo_bits = 63 - __builtin_clzl(lo);
	int	hi_bits = 63 - __builtin_clzl(hi);
	int	b = (int)rng_range(r, (size_t)lo_bits, (size_t)hi_bits);
	size_t	base = 1UL << b;
	size_t	n = base + (size_t)(rng_next(r) % base);

	if (n < lo)
		n = lo;
	if (n > hi)
		n = hi;
	return n;
}

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * CPU seconds (user + system) of every thread of the process, ended ones
 * included: on a loaded machine a run's wall time holds the time it waited
 * for a CPU, its CPU time much less of it.
 */
static double
cpu_now(void)
{
	struct rusage	ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void
sleep_until(double t)
{
	double		d;
	struct timespec	ts;

	while ((d = t - now()) > 0) {
		ts.tv_sec = (time_t)d;
		ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}

/* Iteration count after --scale and --quick. */
static size_t
iters(size_t n)
{
	double	v = (double)n * scale;

	if (quick)
		v /= 10;
	return v < 1 ? 1 : (size_t)v;
}

/* Bookkeeping memory outside the allocator under test. */
static void *
map_array(size_t bytes)
{
	void	*p;

	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fatal("mmap");
	return p;
}

static void
unmap_array(void *p, size_t bytes)
{
	munmap(p, bytes);
}

/* Current RSS in KiB (rss.h reads /proc/self/statm without allocating); -1 if unknown. */
static long
rss_kib(void)
{
	size_t b = rss_bytes();

	return b == 0 ? -1 : (long)(b / 1024);
}

/* Peak RSS in KiB: VmHWM, else getrusage. */
static long
peak_rss_kib(void)
{
	char		 buf[4096], *p;
	ssize_t		 n;
	int		 fd;
	struct rusage	 ru;

	fd = open("/proc/self/status", O_RDONLY);
	if (fd != -1) {
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			p = strstr(buf, "VmHWM:");
			if (p != NULL)
				return strtol(p + 6, NULL, 10);
		}
	}
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		return ru.ru_maxrss;
	return -1;
}

/* Keep the compiler from dropping writes and reads of blocks. */
static volatile uint64_t sink;

static inline void *
xmalloc(size_t n)
{
	void	*p = malloc(n);

	if (p == NULL) {
		fprintf(stderr, "gmbench: malloc(%zu) failed\n", n);
		exit(3);
	}
	return p;
}

/* Touch one byte in every page of a block (and its first and last). */
static inline void
touch_pages(char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i += 4096)
		p[i] = (char)i;
	p[n - 1] = 1;
}

/* ------------------------------------------------------------------ */
/* churn: random small sizes over a working set, plus LIFO bursts. */

#define CHURN_SLOTS	8192
#define CHURN_ITERS	4000000
#define CHURN_LIFO	64

static void
churn_run(uint64_t s, size_t n)
{
	struct rng	  r;
	void		**slot, *lifo[CHURN_LIFO];
	size_t		  i, j, k, sz;
	uint64_t	  acc = 0;

	rng_init(&r, s);
	slot = map_array(CHURN_SLOTS * sizeof *slot);
	for (i = 0; i < CHURN_SLOTS; i++) {
		sz = rng_range(&r, 8, 512);
		slot[i] = xmalloc(sz);
		memset(slot[i], (int)i, 8);
	}
	for (i = 0; i < n; i++) {
		/* Replace a random live block. */
		k = rng_next(&r) % CHURN_SLOTS;
		acc += *(unsigned char *)slot[k];
		free(slot[k]);
		sz = rng_range(&r, 8, 512);
		slot[k] = xmalloc(sz);
		memset(slot[k], (int)i, 8);

		/* Every 64th step, a short LIFO burst (stack-like use). */
		if ((i & 63) == 0) {
			for (j = 0; j < CHURN_LIFO; j++) {
				lifo[j] = xmalloc(16 + (j & 7) * 16);
				*(char *)lifo[j] = (char)j;
			}
			for (j = CHURN_LIFO; j > 0; j--) {
				acc += *(unsigned char *)lifo[j - 1];
				free(lifo[j - 1]);
			}
		}
	}
	for (i = 0; i < CHURN_SLOTS; i++)
		free(slot[i]);
	unmap_array(slot, CHURN_SLOTS * sizeof *slot);
	sink += acc;
}

static void *
churn_thread(void *arg)
{
	churn_run(seed + (uintptr_t)arg, iters(CHURN_ITERS));
	return NULL;
}

static void
w_churn(void)
{
	churn_run(seed, iters(CHURN_ITERS));
}

static void
w_churn_mt(void)
{
	pthread_t	t[2];
	uintptr_t	i;

	for (i = 0; i < 2; i++) {
		if (pthread_create(&t[i], NULL, churn_thread, (void *)(i + 1)))
			fatal("pthread_create");
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}

/* ------------------------------------------------------------------ */
/* prodcons: one thread allocates, a bounded SPSC ring carries, one frees. */

#define RING_SIZE	1024	/* power of two */
#define PC_ITERS	2000000

struct ring {
	_Atomic size_t	head __attribute__((aligned(64)));	/* next write */
	_Atomic size_t	tail __attribute__((aligned(64)));	/* next read */
	void		*slot[RING_SIZE] __attribute__((aligned(64)));
};

static struct ring	pc_ring;
static size_t		pc_n;

static inline void
backoff(unsigned *spins)
{
	if (++*spins < 64)
		__builtin_ia32_pause();
	else {
		sched_yield();
		*spins = 0;
	}
}

static void *
producer(void *arg)
{
	struct rng	r;
	size_t		i, h, sz;
	unsigned	spins = 0;
	char		*p;

	(void)arg;
	rng_init(&r, seed);
	for (i = 0; i < pc_n; i++) {
		sz = rng_range(&r, 16, 256);
		p = xmalloc(sz);
		memset(p, (int)i, 16);
		h = atomic_load_explicit(&pc_ring.head, memory_order_relaxed);
		while (h - atomic_load_explicit(&pc_ring.tail,
		    memory_order_acquire) == RING_SIZE)
			backoff(&spins);
		pc_ring.slot[h & (RING_SIZE - 1)] = p;
		atomic_store_explicit(&pc_ring.head, h + 1,
		    memory_order_release);
	}
	return NULL;
}

static void *
consumer(void *arg)
{
	size_t		i, t;
	unsigned	spins = 0;
	uint64_t	acc = 0;
	char		*p;

	(void)arg;
	for (i = 0; i < pc_n; i++) {
		t = atomic_load_explicit(&pc_ring.tail, memory_order_relaxed);
		while (atomic_load_explicit(&pc_ring.head,
		    memory_order_acquire) == t)
			backoff(&spins);
		p = pc_ring.slot[t & (RING_SIZE - 1)];
		atomic_store_explicit(&pc_ring.tail, t + 1,
		    memory_order_release);
		acc += (unsigned char)p[15];
		free(p);
	}
	sink += acc;
	return NULL;
}

static void
w_prodcons(void)
{
	pthread_t	p, c;

	pc_n = iters(PC_ITERS);
	if (pthread_create(&c, NULL, consumer, NULL) ||
	    pthread_create(&p, NULL, producer, NULL))
		fatal("pthread_create");
	pthread_join(p, NULL);
	pthread_join(c, NULL);
}

/* ------------------------------------------------------------------ */
/*
 * larson: each thread keeps live blocks and churns them; every round it
 * hands a batch of its live blocks to the next thread, which frees them
 * (ownership moves between threads, as in servers passing requests
 * between workers).  Mailboxes are bounded; a sender whose receiver is
 * behind drains its own mailbox while it waits, so no thread can stall
 * the other for good.
 */

#define LARSON_THREADS	2
#define LARSON_LIVE	2048
#define LARSON_BATCH	256
#define LARSON_ROUNDS	4000
#define LARSON_CHURN	256
#define LARSON_QMAX	4
#define LARSON_NCARRY	(LARSON_THREADS * (LARSON_QMAX + 2))

struct batch {
	struct batch	*next;
	void		*p[LARSON_BATCH];
};

struct mailbox {
	pthread_mutex_t	 lock;
	struct batch	*head, *tail;
	size_t		 count;
} __attribute__((aligned(64)));

static struct mailbox	 larson_box[LARSON_THREADS];
static pthread_mutex_t	 larson_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct batch	*larson_pool;	/* free carriers (mmap'd) */
static _Atomic int	 larson_done;
static size_t		 larson_rounds;

static struct batch *
carrier_get(void)
{
	struct batch	*b;

	pthread_mutex_lock(&larson_pool_lock);
	b = larson_pool;		/* never empty: see LARSON_NCARRY */
	larson_pool = b->next;
	pthread_mutex_unlock(&larson_pool_lock);
	return b;
}

static void
carrier_put(struct batch *b)
{
	pthread_mutex_lock(&larson_pool_lock);
	b->next = larson_pool;
	larson_pool = b;
	pthread_mutex_unlock(&larson_pool_lock);
}

/* Free every block handed to us so far; returns how many batches. */
static size_t
larson_drain(struct mailbox *mb, uint64_t *acc)
{
	struct batch	*b;
	size_t		 i, n = 0;

	for (;;) {
		pthread_mutex_lock(&mb->lock);
		b = mb->head;
		if (b != NULL) {
			mb->head = b->next;
			if (mb->head == NULL)
				mb->tail = NULL;
			mb->count--;
		}
		pthread_mutex_unlock(&mb->lock);
		if (b == NULL)
			return n;
		for (i = 0; i < LARSON_BATCH; i++) {
			*acc += *(unsigned char *)b->p[i];
			free(b->p[i]);
		}
		carrier_put(b);
		n++;
	}
}

static void
larson_send(struct mailbox *to, struct mailbox *mine, struct batch *b,
    uint64_t *acc)
{
	b->next = NULL;
	pthread_mutex_lock(&to->lock);
	while (to->count >= LARSON_QMAX) {
		pthread_mutex_unlock(&to->lock);
		if (larson_drain(mine, acc) == 0)
			sched_yield();
		pthread_mutex_lock(&to->lock);
	}
	if (to->tail != NULL)
		to->tail->next = b;
	else
		to->head = b;
	to->tail = b;
	to->count++;
	pthread_mutex_unlock(&to->lock);
}

static void *
larson_thread(void *arg)
{
	uintptr_t	  id = (uintptr_t)arg;
	struct mailbox	 *mine = &larson_box[id];
	struct mailbox	 *next = &larson_box[(id + 1) % LARSON_THREADS];
	struct rng	  r;
	void		**live;
	struct batch	 *b;
	size_t		  i, j, k, round;
	uint64_t	  acc = 0;

	rng_init(&r, seed + id);
	live = map_array(LARSON_LIVE * sizeof *live);
	for (i = 0; i < LARSON_LIVE; i++) {
		live[i] = xmalloc(rng_range(&r, 16, 1024));
		*(char *)live[i] = 1;
	}
	for (round = 0; round < larson_rounds; round++) {
		for (j = 0; j < LARSON_CHURN; j++) {
			k = rng_next(&r) % LARSON_LIVE;
			acc += *(unsigned char *)live[k];
			free(live[k]);
			live[k] = xmalloc(rng_range(&r, 16, 1024));
			*(char *)live[k] = (char)j;
		}
		b = carrier_get();
		for (j = 0; j < LARSON_BATCH; j++) {
			k = rng_next(&r) % LARSON_LIVE;
			b->p[j] = live[k];
			live[k] = xmalloc(rng_range(&r, 16, 1024));
			*(char *)live[k] = (char)j;
		}
		larson_send(next, mine, b, &acc);
		larson_drain(mine, &acc);
	}
	/* Keep draining until every sender is done, then once more. */
	atomic_fetch_add(&larson_done, 1);
	while (atomic_load(&larson_done) < LARSON_THREADS) {
		if (larson_drain(mine, &acc) == 0)
			sched_yield();
	}
	larson_drain(mine, &acc);
	for (i = 0; i < LARSON_LIVE; i++)
		free(live[i]);
	unmap_array(live, LARSON_LIVE * sizeof *live);
	sink += acc;
	return NULL;
}

static void
w_larson(void)
{
	pthread_t	 t[LARSON_THREADS];
	struct batch	*carriers;
	uintptr_t	 i;

	larson_rounds = iters(LARSON_ROUNDS);
	carriers = map_array(LARSON_NCARRY * sizeof *carriers);
	for (i = 0; i < LARSON_NCARRY; i++)
		carrier_put(&carriers[i]);
	for (i = 0; i < LARSON_THREADS; i++)
		pthread_mutex_init(&larson_box[i].lock, NULL);
	for (i = 0; i < LARSON_THREADS; i++) {
		if (pthread_create(&t[i], NULL, larson_thread, (void *)i))
			fatal("pthread_create");
	}
	for (i = 0; i < LARSON_THREADS; i++)
		pthread_join(t[i], NULL);
}

/* ------------------------------------------------------------------ */
/* large: 32 KiB .. 4 MiB blocks, log-uniform, touched page by page. */

#define LARGE_SLOTS	8
#define LARGE_ITERS	4000

static void
w_large(void)
{
	struct rng	 r;
	char		*slot[LARGE_SLOTS] = { NULL };
	size_t		 i, k, n = iters(LARGE_ITERS), sz;
	uint64_t	 acc = 0;

	rng_init(&r, seed);
	for (i = 0; i < n; i++) {
		k = rng_next(&r) % LARGE_SLOTS;
		if (slot[k] != NULL)
			acc += (unsigned char)slot[k][0];
		free(slot[k]);
		sz = rng_logrange(&r, 32 * KiB, 4 * MiB);
		slot[k] = xmalloc(sz);
		touch_pages(slot[k], sz);
	}
	for (k = 0; k < LARGE_SLOTS; k++)
		free(slot[k]);
	sink += acc;
}

/* ------------------------------------------------------------------ */
/* realloc: buffers grown by doubling or by small increments to MiBs. */

#define REALLOC_ROUNDS	150
#define REALLOC_BUFS	4

static void
w_realloc(void)
{
	struct rng	 r;
	char		*buf[REALLOC_BUFS], *p;
	size_t		 len[REALLOC_BUFS], target[REALLOC_BUFS];
	int		 doubling[REALLOC_BUFS];
	size_t		 round, i, n = iters(REALLOC_ROUNDS), active, bad = 0;

	rng_init(&r, seed);
	for (round = 0; round < n; round++) {
		for (i = 0; i < REALLOC_BUFS; i++) {
			buf[i] = NULL;
			len[i] = 0;
			target[i] = rng_range(&r, 1 * MiB, 6 * MiB);
			doubling[i] = (rng_next(&r) & 1);
		}
		/* Interleave growth so neighbours get in each other's way. */
		do {
			active = 0;
			for (i = 0; i < REALLOC_BUFS; i++) {
				size_t nl;

				if (len[i] >= target[i])
					continue;
				active++;
				if (len[i] == 0)
					nl = 16;
				else if (doubling[i])
					nl = len[i] * 2;
				else
					nl = len[i] + rng_range(&r, 256, 16 * KiB);
				p = realloc(buf[i], nl);
				if (p == NULL) {
					fprintf(stderr, "gmbench: realloc failed\n");
					exit(3);
				}
				if (len[i] != 0 && (p[0] != (char)i ||
				    p[len[i] - 1] != (char)round))
					bad++;
				p[0] = (char)i;
				p[nl - 1] = (char)round;
				buf[i] = p;
				len[i] = nl;
			}
		} while (active != 0);
		for (i = 0; i < REALLOC_BUFS; i++)
			free(buf[i]);
	}
	add_extra("content_errors=%zu", bad);
}

/* ------------------------------------------------------------------ */
/*
 * vecgrow, vecgrow-touch: a vector that doubles from 4 KiB to 256 MiB, as
 * std::vector or a string builder grows; beside it a small block is made
 * after each step, so the heap cannot always grow the vector in place.
 * "-touch" writes every page of the new half (as push_back would); the
 * other writes one byte per step (a reserve that is filled later); it
 * runs 8 rounds, as 2 rounds took 2-3 ms under the faster allocators,
 * too little against timer and start-up noise (medians over 5 runs on a
 * loaded machine moved by 10x), while -touch runs for seconds.
 * grow4k: two buffers that grow by 4 KiB in turn to 16 MiB each (a log or
 * a read buffer appended to), writing the new 4 KiB each step.
 */

#define VEC_MAX		(256 * MiB)
#define VEC_ROUNDS	8	/* vecgrow */
#define VEC_TOUCH_ROUNDS 2	/* vecgrow-touch */
#define GROW4K_MAX	(16 * MiB)
#define GROW4K_ROUNDS	2

static void
vecgrow_run(int touch)
{
	size_t	 round, n = iters(touch ? VEC_TOUCH_ROUNDS : VEC_ROUNDS), len, bad = 0, k;
	char	*v, *p, *small[32];

	for (round = 0; round < n; round++) {
		v = NULL;
		k = 0;
		for (len = 4 * KiB; len <= VEC_MAX; len *= 2) {
			p = realloc(v, len);
			if (p == NULL) {
				fprintf(stderr, "gmbench: realloc failed\n");
				exit(3);
			}
			if (v != NULL && (p[0] != 'v' || p[len / 2 - 1] != (char)round))
				bad++;
			if (touch && len > 4 * KiB)
				memset(p + len / 2, (int)round, len / 2);
			p[0] = 'v';
			p[len - 1] = (char)round;
			v = p;
			small[k++] = xmalloc(64 * KiB);
		}
		free(v);
		while (k > 0)
			free(small[--k]);
	}
	add_extra("content_errors=%zu", bad);
}

static void
w_vecgrow(void)
{
	vecgrow_run(0);
}

static void
w_vecgrow_touch(void)
{
	vecgrow_run(1);
}

static void
w_grow4k(void)
{
	size_t	 round, n = iters(GROW4K_ROUNDS), len, bad = 0;
	char	*b[2], *p;
	int	 i;

	for (round = 0; round < n; round++) {
		b[0] = b[1] = NULL;
		for (len = 4 * KiB; len <= GROW4K_MAX; len += 4 * KiB) {
			for (i = 0; i < 2; i++) {
				p = realloc(b[i], len);
				if (p == NULL) {
					fprintf(stderr, "gmbench: realloc failed\n");
					exit(3);
				}
				if (len > 4 * KiB && p[len - 4 * KiB - 1] != (char)(i + 1))
					bad++;
				memset(p + len - 4 * KiB, i + 1, 4 * KiB);
				b[i] = p;
			}
		}
		free(b[0]);
		free(b[1]);
	}
	add_extra("content_errors=%zu", bad);
}

/* ------------------------------------------------------------------ */
/*
 * strgrow: a string built by appends, each a realloc 16 B longer, to
 * 1 MiB: most steps stay within the block's pages (or size class).
 */

#define STRGROW_ROUNDS	60
#define STRGROW_MAX	(1 * MiB)

static void
w_strgrow(void)
{
	size_t	 round, n = iters(STRGROW_ROUNDS), len, bad = 0;
	char	*b, *p;

	for (round = 0; round < n; round++) {
		b = NULL;
		for (len = 16; len <= STRGROW_MAX; len += 16) {
			p = realloc(b, len);
			if (p == NULL) {
				fprintf(stderr, "gmbench: realloc failed\n");
				exit(3);
			}
			if (len > 16 && p[len - 17] != (char)(len >> 4))
				bad++;
			memset(p + len - 16, (char)((len + 16) >> 4), 16);
			b = p;
		}
		free(b);
	}
	add_extra("content_errors=%zu", bad);
}

/* ------------------------------------------------------------------ */
/* aligned: posix_memalign and aligned_alloc, alignments 16..4096. */

#define ALIGNED_SLOTS	4096
#define ALIGNED_ITERS	1000000

static void
w_aligned(void)
{
	struct rng	  r;
	void		**slot;
	size_t		  i, k, n = iters(ALIGNED_ITERS), al, sz, bad = 0;
	size_t		  bad_pm = 0, bad_aa = 0, worst = 0;
	uint64_t	  acc = 0;
	void		 *p;
	int		  e;

	rng_init(&r, seed);
	slot = map_array(ALIGNED_SLOTS * sizeof *slot);
	for (i = 0; i < n; i++) {
		k = rng_next(&r) % ALIGNED_SLOTS;
		if (slot[k] != NULL)
			acc += *(unsigned char *)slot[k];
		free(slot[k]);
		al = 16UL << rng_range(&r, 0, 8);
		sz = rng_range(&r, 8, 1024);
		if (i & 1) {
			e = posix_memalign(&p, al, sz);
			if (e != 0) {
				errno = e;
				fatal("posix_memalign");
			}
			if ((uintptr_t)p & (al - 1)) {
				bad_pm++;
				if (al > worst)
					worst = al;
			}
		} else {
			/* C11 wants the size a multiple of the alignment. */
			sz = (sz + al - 1) & ~(al - 1);
			p = aligned_alloc(al, sz);
			if (p == NULL)
				fatal("aligned_alloc");
			if ((uintptr_t)p & (al - 1)) {
				bad_aa++;
				if (al > worst)
					worst = al;
			}
		}
		*(char *)p = (char)i;
		((char *)p)[sz - 1] = 1;
		slot[k] = p;
	}
	for (k = 0; k < ALIGNED_SLOTS; k++)
		free(slot[k]);
	unmap_array(slot, ALIGNED_SLOTS * sizeof *slot);
	bad = bad_pm + bad_aa;
	if (bad != 0)
		fprintf(stderr, "gmbench: aligned: %zu misaligned blocks "
		    "(posix_memalign %zu, aligned_alloc %zu, largest "
		    "alignment missed %zu)\n", bad, bad_pm, bad_aa, worst);
	add_extra("misaligned=%zu misaligned_max_align=%zu", bad, worst);
	sink += acc;
}

/* ------------------------------------------------------------------ */
/*
 * falseshare: two threads each allocate small objects and write them
 * hard.  If the allocator hands the two threads blocks in one cache
 * line, every write bounces the line between cores.  Starts passive:
 * the main thread allocates one block per thread back to back and each
 * thread frees its block first, as in Hoard's cache-scratch.
 */

#define FS_ITERS	2000000
#define FS_WRITES	64

static _Atomic uint64_t fs_next_id = 1;

static void *
falseshare_thread(void *arg)
{
	struct rng	 r;
	size_t		 i, j, sz, n = iters(FS_ITERS);
	volatile char	*p;

	free(arg);
	rng_init(&r, seed + atomic_fetch_add(&fs_next_id, 1));
	for (i = 0; i < n; i++) {
		sz = rng_range(&r, 8, 64);
		p = xmalloc(sz);
		for (j = 0; j < FS_WRITES; j++)
			p[j % sz] = (char)(p[j % sz] + 1);
		free((void *)p);
	}
	return NULL;
}

static void
w_falseshare(void)
{
	pthread_t	 t[2];
	void		*seedblk[2];
	int		 i;

	for (i = 0; i < 2; i++)
		seedblk[i] = xmalloc(16);
	for (i = 0; i < 2; i++) {
		if (pthread_create(&t[i], NULL, falseshare_thread, seedblk[i]))
			fatal("pthread_create");
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}

/* Run fn(arg[i]) in two threads and wait for both. */
static void
run_two(void *(*fn)(void *), void *arg0, void *arg1)
{
	pthread_t	 t[2];
	void		*arg[2] = { arg0, arg1 };
	int		 i;

	for (i = 0; i < 2; i++) {
		if (pthread_create(&t[i], NULL, fn, arg[i]))
			fatal("pthread_create");
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}

/* ------------------------------------------------------------------ */
/*
 * tiny: one thread, 16384 live blocks of 1..15 B (three in four of 4..15,
 * as in programs of short strings and small nodes), 6 M random
 * replacements; each block is written whole and read back before its free.
 */

#define TINY_SLOTS	16384
#define TINY_ITERS	6000000

static void
w_tiny(void)
{
	struct rng	  r;
	unsigned char	**slot, *len;
	size_t		  i, k, sz, n = iters(TINY_ITERS);
	uint64_t	  acc = 0;

	rng_init(&r, seed);
	slot = map_array(TINY_SLOTS * sizeof *slot);
	len = map_array(TINY_SLOTS);
	for (i = 0; i < TINY_SLOTS; i++) {
		len[i] = (unsigned char)rng_range(&r, 1, 15);
		slot[i] = xmalloc(len[i]);
		memset(slot[i], (int)i, len[i]);
	}
	for (i = 0; i < n; i++) {
		k = rng_next(&r) & (TINY_SLOTS - 1);
		acc += slot[k][len[k] - 1];
		free(slot[k]);
		sz = (rng_next(&r) & 3) ? rng_range(&r, 4, 15) : rng_range(&r, 1, 3);
		slot[k] = xmalloc(sz);
		memset(slot[k], (int)i, sz);
		len[k] = (unsigned char)sz;
	}
	for (i = 0; i < TINY_SLOTS; i++)
		free(slot[i]);
	unmap_array(slot, TINY_SLOTS * sizeof *slot);
	unmap_array(len, TINY_SLOTS);
	sink += acc;
}

/* ------------------------------------------------------------------ */
/*
 * counted: a program that counts its own memory, as Redis's zmalloc does:
 * malloc_usable_size after each malloc and before each free.  One thread,
 * 8192 live blocks of 8..512 B, random replacements.
 */

#define CNT_SLOTS	8192
#define CNT_ITERS	4000000

static void
w_counted(void)
{
	struct rng	  r;
	unsigned char	**slot;
	size_t		  i, k, sz, used = 0, n = iters(CNT_ITERS);
	uint64_t	  acc = 0;

	rng_init(&r, seed);
	slot = map_array(CNT_SLOTS * sizeof *slot);
	for (i = 0; i < CNT_SLOTS; i++) {
		sz = rng_range(&r, 8, 512);
		slot[i] = xmalloc(sz);
		slot[i][0] = (unsigned char)i;
		used += malloc_usable_size(slot[i]);
	}
	for (i = 0; i < n; i++) {
		k = rng_next(&r) & (CNT_SLOTS - 1);
		acc += slot[k][0];
		used -= malloc_usable_size(slot[k]);
		free(slot[k]);
		sz = rng_range(&r, 8, 512);
		slot[k] = xmalloc(sz);
		slot[k][0] = (unsigned char)i;
		slot[k][sz - 1] = (unsigned char)i;
		used += malloc_usable_size(slot[k]);
	}
	for (i = 0; i < CNT_SLOTS; i++) {
		used -= malloc_usable_size(slot[i]);
		free(slot[i]);
	}
	if (used != 0) {
		fprintf(stderr, "gmbench: counted: usable sizes do not add up (%zu left)\n", used);
		exit(2);
	}
	unmap_array(slot, CNT_SLOTS * sizeof *slot);
	sink += acc;
}

/* ------------------------------------------------------------------ */
/*
 * xfree: every free is cross-thread.  Two threads each allocate 16..128 B
 * blocks and pass every one through an SPSC ring to the other, which
 * frees it; each thread is producer and consumer at once.
 */

#define XF_ITERS	2000000

static struct ring	xf_ring[2];

static void *
xfree_thread(void *arg)
{
	int		 me = (int)(uintptr_t)arg;
	struct ring	*out = &xf_ring[me], *in = &xf_ring[!me];
	struct rng	 r;
	size_t		 sent = 0, got = 0, n = iters(XF_ITERS), h, t;
	unsigned	 spins = 0;
	uint64_t	 acc = 0;
	char		*p;

	rng_init(&r, seed + (uint64_t)me);
	while (sent < n || got < n) {
		int	progress = 0;

		h = atomic_load_explicit(&out->head, memory_order_relaxed);
		if (sent < n && h - atomic_load_explicit(&out->tail,
		    memory_order_acquire) < RING_SIZE) {
			size_t	sz = rng_range(&r, 16, 128);

			p = xmalloc(sz);
			memset(p, (int)sent, 16);
			out->slot[h & (RING_SIZE - 1)] = p;
			atomic_store_explicit(&out->head, h + 1,
			    memory_order_release);
			sent++;
			progress = 1;
		}
		t = atomic_load_explicit(&in->tail, memory_order_relaxed);
		if (got < n && atomic_load_explicit(&in->head,
		    memory_order_acquire) != t) {
			p = in->slot[t & (RING_SIZE - 1)];
			atomic_store_explicit(&in->tail, t + 1,
			    memory_order_release);
			acc += (unsigned char)p[15];
			free(p);
			got++;
			progress = 1;
		}
		if (!progress)
			backoff(&spins);
	}
	sink += acc;
	return NULL;
}

static void
w_xfree(void)
{
	run_two(xfree_thread, (void *)0, (void *)1);
}

/* ------------------------------------------------------------------ */
/*
 * cachescratch: passive false sharing, harsher than falseshare.  The main
 * thread allocates 2 x 64 blocks of 8..64 B back to back and deals them
 * out alternately to two threads.  Each thread frees its 64, then 40000
 * times allocates 64 blocks of the same sizes, writes every byte of each
 * 16 times and frees them.  An allocator that hands a thread the blocks
 * it just freed gives it lines the other thread writes too.
 */

#define CS_BLOCKS	64
#define CS_ROUNDS	40000
#define CS_WRITES	16

struct cs_arg {
	void	*blk[CS_BLOCKS];
	size_t	 size[CS_BLOCKS];
};

static void *
cachescratch_thread(void *arg)
{
	struct cs_arg	 *a = arg;
	volatile char	 *p[CS_BLOCKS];
	size_t		  i, j, k, w, n = iters(CS_ROUNDS);

	for (i = 0; i < CS_BLOCKS; i++)
		free(a->blk[i]);
	for (i = 0; i < n; i++) {
		for (k = 0; k < CS_BLOCKS; k++)
			p[k] = xmalloc(a->size[k]);
		for (w = 0; w < CS_WRITES; w++)
			for (k = 0; k < CS_BLOCKS; k++)
				for (j = 0; j < a->size[k]; j++)
					p[k][j] = (char)(p[k][j] + 1);
		for (k = 0; k < CS_BLOCKS; k++)
			free((void *)p[k]);
	}
	return NULL;
}

static void
w_cachescratch(void)
{
	static struct cs_arg	 arg[2];
	struct rng		 r;
	size_t			 i;
	int			 k;

	rng_init(&r, seed);
	for (i = 0; i < CS_BLOCKS; i++) {
		for (k = 0; k < 2; k++) {
			arg[k].size[i] = rng_range(&r, 8, 64);
			arg[k].blk[i] = xmalloc(arg[k].size[i]);
		}
	}
	run_two(cachescratch_thread, &arg[0], &arg[1]);
}

/* ------------------------------------------------------------------ */
/*
 * The microbenchmarks of the allocator's own issue: one call pair in a
 * loop.  pair8: malloc(8)+free.  calloc8k: calloc(8 KiB)+free.  calloc1m:
 * calloc(1 MiB)+free, the memory left untouched; calloc1m-touch: the same,
 * writing one byte per 4 KiB page (a program that uses what it asked for).
 */

#define PAIR_ITERS	50000000
#define C8K_ITERS	2000000
#define C1M_ITERS	20000

static void
w_pair8(void)
{
	size_t	i, n = iters(PAIR_ITERS);

	for (i = 0; i < n; i++) {
		void	*p = xmalloc(8);

		*(volatile char *)p = 1;
		free(p);
	}
}

static void
calloc_loop(size_t size, size_t n, int touch)
{
	uint64_t	acc = 0;
	size_t		i;

	for (i = 0; i < n; i++) {
		char	*p = calloc(1, size);

		if (p == NULL)
			fatal("calloc");
		acc += (unsigned char)p[size / 2];
		if (touch)
			touch_pages(p, size);
		free(p);
	}
	sink += acc;
}

static void
w_calloc8k(void)
{
	calloc_loop(8 * KiB, iters(C8K_ITERS), 0);
}

static void
w_calloc1m(void)
{
	calloc_loop(MiB, iters(C1M_ITERS), 0);
}

static void
w_calloc1m_touch(void)
{
	calloc_loop(MiB, iters(C1M_ITERS), 1);
}

/* ------------------------------------------------------------------ */
/* Memory workloads: RSS after a release, sampled over time. */

static void
rss_samples(const double *at, int n, double t0)
{
	int	i;
	long	v;

	for (i = 0; i < n; i++) {
		sleep_until(t0 + at[i]);
		v = rss_kib();
		if (at[i] == (double)(long)at[i])
			add_extra("rss_t%ld_kib=%ld", (long)at[i], v);
		else
			add_extra("rss_t%g_kib=%ld", at[i], v);
	}
}

/* The sample times: 0, 1, 5 s; --quick: 0, 0.2, 0.5 s (keys say so). */
static const double rss_at_full[] = { 0, 1, 5 };
static const double rss_at_quick[] = { 0, 0.2, 0.5 };

/*
 * spike: ~1 GiB of 16..4096 B objects, free all but a random 1%, then
 * RSS right after the free, at 1 s and at 5 s, beside the live bytes.
 */
static double spike_elapsed;

static void
w_spike(void)
{
	struct rng	  r;
	size_t		  total = quick ? 256 * MiB : 1024 * MiB;
	size_t		  cap, n = 0, i, sz, live = 0, keep = 0, sum = 0;
	char		**obj;
	size_t		 *size;
	double		  t0, t1;

	total = (size_t)((double)total * scale);
	rng_init(&r, seed);
	cap = total / 16 + 1;
	obj = map_array(cap * sizeof *obj);
	size = map_array(cap * sizeof *size);

	t0 = now();
	while (sum < total && n < cap) {
		sz = rng_range(&r, 16, 4096);
		obj[n] = xmalloc(sz);
		memset(obj[n], (int)n, sz);
		size[n++] = sz;
		sum += sz;
	}
	for (i = 0; i < n; i++) {
		if (rng_next(&r) % 100 == 0) {
			live += size[i];
			keep++;
			continue;
		}
		free(obj[i]);
		obj[i] = NULL;
	}
	t1 = now();
	spike_elapsed = t1 - t0;
	add_extra("objects=%zu allocated_kib=%zu live_kib=%zu live_objects=%zu",
	    n, sum / KiB, live / KiB, keep);
	add_extra("peak_before_free_kib=%ld", peak_rss_kib());
	rss_samples(quick ? rss_at_quick : rss_at_full, 3, t1);
	for (i = 0; i < n; i++)
		free(obj[i]);
	unmap_array(obj, cap * sizeof *obj);
	unmap_array(size, cap * sizeof *size);
}

/*
 * frag: ~512 MiB of mixed sizes, free a random half, then allocate a
 * different size mix back to the same volume.  Peak RSS over live bytes
 * says how well freed holes are reused; RSS at 0/1/5 s after the second
 * phase says what is given back while the heap is full of holes.
 */
static size_t
frag_size(struct rng *r, int phase)
{
	unsigned	c = (unsigned)(rng_next(r) % 100);

	if (phase == 1) {
		if (c < 70)
			return rng_range(r, 16, 256);
		if (c < 95)
			return rng_range(r, 257, 4096);
		return rng_range(r, 4097, 64 * KiB);
	}
	if (c < 40)
		return rng_range(r, 96, 200) | 8;
	if (c < 85)
		return rng_range(r, 2000, 12000);
	return rng_range(r, 70 * KiB, 300 * KiB);
}

static double frag_elapsed;

static void
w_frag(void)
{
	struct rng	  r;
	size_t		  total = quick ? 128 * MiB : 512 * MiB;
	size_t		  cap, n = 0, i, live = 0;
	char		**obj;
	size_t		 *size;
	double		  t0, t1;

	total = (size_t)((double)total * scale);
	rng_init(&r, seed);
	cap = total / 16 * 2 + 2;
	obj = map_array(cap * sizeof *obj);
	size = map_array(cap * sizeof *size);

	t0 = now();
	while (live < total) {
		size[n] = frag_size(&r, 1);
		obj[n] = xmalloc(size[n]);
		touch_pages(obj[n], size[n]);
		live += size[n++];
	}
	for (i = 0; i < n; i++) {
		if (rng_next(&r) & 1) {
			free(obj[i]);
			obj[i] = NULL;
			live -= size[i];
		}
	}
	while (live < total && n < cap) {
		size[n] = frag_size(&r, 2);
		obj[n] = xmalloc(size[n]);
		touch_pages(obj[n], size[n]);
		live += size[n++];
	}
	t1 = now();
	frag_elapsed = t1 - t0;
	add_extra("live_kib=%zu", live / KiB);
	rss_samples(quick ? rss_at_quick : rss_at_full, 3, t1);
	for (i = 0; i < n; i++)
		free(obj[i]);
	unmap_array(obj, cap * sizeof *obj);
	unmap_array(size, cap * sizeof *size);
}

/* ------------------------------------------------------------------ */
/*
 * reuse: free and reallocate 5..25 MiB blocks in a loop, touching them.
 * An allocator that returns such blocks to the OS at once faults every
 * page back in on the next round (DESIGN.md section 3).
 */

#define REUSE_SLOTS	3
#define REUSE_ITERS	400

static void
w_reuse(void)
{
	struct rng	 r;
	char		*slot[REUSE_SLOTS] = { NULL };
	size_t		 i, k, n = iters(REUSE_ITERS), sz;
	uint64_t	 acc = 0;

	rng_init(&r, seed);
	for (i = 0; i < n; i++) {
		k = i % REUSE_SLOTS;
		if (slot[k] != NULL)
			acc += (unsigned char)slot[k][0];
		free(slot[k]);
		sz = rng_range(&r, 5 * MiB, 25 * MiB);
		slot[k] = xmalloc(sz);
		touch_pages(slot[k], sz);
		memset(slot[k], (int)i, 64 * KiB);
	}
	for (k = 0; k < REUSE_SLOTS; k++)
		free(slot[k]);
	sink += acc;
}

/* ------------------------------------------------------------------ */

struct workload {
	const char	*name;
	void		(*fn)(void);
	double		*own_elapsed;	/* set if the workload times itself */
	const char	*what;
};

static const struct workload workloads[] = {
	{ "churn", w_churn, NULL, "single-thread small-size churn + LIFO" },
	{ "churn-mt", w_churn_mt, NULL, "churn in two threads" },
	{ "prodcons", w_prodcons, NULL, "producer mallocs, consumer frees" },
	{ "larson", w_larson, NULL, "threads hand live batches to others" },
	{ "large", w_large, NULL, "32 KiB..4 MiB alloc/touch/free" },
	{ "realloc", w_realloc, NULL, "realloc growth to MiBs" },
	{ "vecgrow", w_vecgrow, NULL, "vector doubling to 256 MiB, pages untouched" },
	{ "vecgrow-touch", w_vecgrow_touch, NULL, "vector doubling to 256 MiB, pages written" },
	{ "grow4k", w_grow4k, NULL, "two buffers grown by 4 KiB in turn to 16 MiB" },
	{ "strgrow", w_strgrow, NULL, "one buffer grown by 16 B reallocs to 1 MiB" },
	{ "aligned", w_aligned, NULL, "posix_memalign/aligned_alloc 16..4096" },
	{ "falseshare", w_falseshare, NULL, "two threads write small blocks" },
	{ "spike", w_spike, &spike_elapsed, "1 GiB spike, keep 1%, RSS 0/1/5 s" },
	{ "frag", w_frag, &frag_elapsed, "mixed sizes, free half, new mix" },
	{ "reuse", w_reuse, NULL, "free/realloc 5..25 MiB blocks" },
	{ "tiny", w_tiny, NULL, "16384 live 1..15 B blocks churned" },
	{ "counted", w_counted, NULL, "churn with malloc_usable_size at each malloc and free" },
	{ "xfree", w_xfree, NULL, "two threads free only each other's blocks" },
	{ "cachescratch", w_cachescratch, NULL, "passive false sharing, 64 blocks a thread" },
	{ "pair8", w_pair8, NULL, "malloc(8)+free" },
	{ "calloc8k", w_calloc8k, NULL, "calloc(8 KiB)+free" },
	{ "calloc1m", w_calloc1m, NULL, "calloc(1 MiB)+free, untouched" },
	{ "calloc1m-touch", w_calloc1m_touch, NULL, "calloc(1 MiB)+free, pages written" },
};

#define NWORKLOADS (sizeof workloads / sizeof workloads[0])

static void __attribute__((noreturn))
usage(void)
{
	size_t	i;

	fprintf(stderr, "usage: gmbench [--quick] [--seed N] [--scale F] "
	    "WORKLOAD\n       gmbench --list\nworkloads:\n");
	for (i = 0; i < NWORKLOADS; i++)
		fprintf(stderr, "  %-11s %s\n", workloads[i].name,
		    workloads[i].what);
	exit(1);
}

int
main(int argc, char **argv)
{
	const struct workload	*w = NULL;
	const char		*name = NULL;
	double			 t0, t1, c0, c1, elapsed;
	size_t			 i;
	int			 a;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--quick") == 0)
			quick = 1;
		else if (strcmp(argv[a], "--seed") == 0 && a + 1 < argc)
			seed = strtoull(argv[++a], NULL, 0);
		else if (strcmp(argv[a], "--scale") == 0 && a + 1 < argc) {
			scale = strtod(argv[++a], NULL);
			if (!(scale > 0))
				usage();
		} else if (strcmp(argv[a], "--list") == 0) {
			for (i = 0; i < NWORKLOADS; i++)
				printf("%s\n", workloads[i].name);
			return 0;
		} else if (argv[a][0] == '-' || name != NULL)
			usage();
		else
			name = argv[a];
	}
	if (name == NULL)
		usage();
	for (i = 0; i < NWORKLOADS; i++) {
		if (strcmp(workloads[i].name, name) == 0)
			w = &workloads[i];
	}
	if (w == NULL)
		usage();

	c0 = cpu_now();
	t0 = now();
	w->fn();
	t1 = now();
	c1 = cpu_now();
	elapsed = w->own_elapsed != NULL ? *w->own_elapsed : t1 - t0;

	printf("GMBENCH workload=%s elapsed_s=%.6f cpu_s=%.6f peak_rss_kib=%ld "
	    "rss_end_kib=%ld quick=%d%s\n", w->name, elapsed, c1 - c0,
	    peak_rss_kib(), rss_kib(), quick, extra);
	fflush(stdout);
	return 0;
}
