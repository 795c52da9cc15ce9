/*
 * check_mprof.c: the in-process heap profile.
 *
 * Sampling follows Go's MemProfileRate rule (an allocation of n bytes is
 * sampled with probability 1 - exp(-n/rate)) and is on with nobody
 * watching; samples land in buckets per (stack, block size) whose counts
 * match what the program did; frees are counted in the allocating bucket;
 * the oldest live sample's time (from the published live table) follows
 * frees; the published table
 * (gomem_profile.h) parses back to the same numbers; and the fast stack
 * walker returns the same frames as libgcc's unwinder, through libc too.
 */
#include "testutil.h"
#include "gomem.h"
#include "probes.h"

#include <math.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unwind.h>

/* ---- walking the published table the way a reader does ---- */

typedef void (*bucket_fn)(const struct gomem_profile_bucket *b, void *arg);

/* Visit every bucket record; returns how many. */
static unsigned
each_bucket(bucket_fn fn, void *arg)
{
	const struct gomem_profile *t = &gomem_profile;
	unsigned n = 0;

	ck_assert_uint_eq(t->magic, GOMEM_PROFILE_MAGIC);
	ck_assert_uint_eq(t->size, sizeof(*t));
	ck_assert_uint_eq(t->gen % 2, 0);
	for (unsigned i = 0; i < t->nchunks; i++) {
		const char *p = (const char *)(uintptr_t)t->chunk[i];
		const char *end = p + t->chunk_used[i];

		ck_assert_uint_le(t->chunk_used[i], t->chunk_size);
		while (p < end) {
			const struct gomem_profile_bucket *b = (const void *)p;

			ck_assert_uint_le(b->depth, GOMEM_PROFILE_MAX_DEPTH);
			fn(b, arg);
			n++;
			p += sizeof(*b) + b->depth * sizeof(uint64_t);
		}
		ck_assert_ptr_eq(p, end);
	}
	ck_assert_uint_eq(n, t->nbuckets);
	return n;
}

struct totals {
	uint64_t alloc_objects, free_objects, alloc_bytes, free_bytes;
};

/*
 * What a reader finds for bucket b in the published live table
 * (gomem_profile.live): its live samples and the oldest one's time.
 */
static uint64_t
bucket_live(const struct gomem_profile_bucket *b, uint64_t *oldest)
{
	const struct gomem_profile_live *e = (const void *)(uintptr_t)gomem_profile.live;
	uint64_t n = 0;

	*oldest = 0;
	for (uint64_t i = 0; e != NULL && i < gomem_profile.live_cap; i++) {
		if (e[i].ptr <= 1 || (e[i].bucket & ~1ull) != (uintptr_t)b)
			continue;
		n++;
		ck_assert_uint_ge(e[i].time_ns, gomem_profile.start_ns);
		if (*oldest == 0 || e[i].time_ns < *oldest)
			*oldest = e[i].time_ns;
	}
	return n;
}

static void
sum_bucket(const struct gomem_profile_bucket *b, void *arg)
{
	struct totals *t = arg;

	ck_assert_uint_le(b->free_objects, b->alloc_objects);
	ck_assert_uint_eq(b->alloc_bytes, b->alloc_objects * b->size);
	ck_assert_uint_eq(b->free_bytes, b->free_objects * b->size);
	uint64_t oldest;

	/* Each live sample of the bucket, and nothing else, is in the live table. */
	ck_assert_uint_eq(bucket_live(b, &oldest), b->alloc_objects - b->free_objects);
	ck_assert(b->alloc_objects == b->free_objects ? oldest == 0 : oldest != 0);
	ck_assert_uint_eq(b->oldest_ns, 0); /* version 2: the reader's to find */
	t->alloc_objects += b->alloc_objects;
	t->free_objects += b->free_objects;
	t->alloc_bytes += b->alloc_bytes;
	t->free_bytes += b->free_bytes;
}

static struct totals
table_totals(void)
{
	struct totals t = { 0 };

	each_bucket(sum_bucket, &t);
	return t;
}

/* ---- three allocation sites ---- */

struct site_query {
	uintptr_t lo, hi; /* code range of the site function */
	uint64_t alloc_bytes, inuse_bytes, oldest_ns;
	unsigned buckets;
};

static void
match_site(const struct gomem_profile_bucket *b, void *arg)
{
	struct site_query *q = arg;
	uint64_t oldest;

	for (unsigned i = 0; i < b->depth; i++) {
		if (b->pcs[i] > q->lo && b->pcs[i] <= q->hi) {
			q->alloc_bytes += b->alloc_bytes;
			q->inuse_bytes += b->alloc_bytes - b->free_bytes;
			bucket_live(b, &oldest);
			if (oldest != 0 && (q->oldest_ns == 0 || oldest < q->oldest_ns))
				q->oldest_ns = oldest;
			q->buckets++;
			return;
		}
	}
}

/*
 * Each site allocates n blocks of 1 KiB; its code sits in a section of its
 * own, so the linker's __start_/__stop_ symbols give its range.
 */
#define SITE(name)                                                                   \
	extern const char __start_gm_##name[], __stop_gm_##name[];                   \
	static __attribute__((noinline, used, section("gm_" #name))) void name(void **v, int n) \
	{                                                                            \
		for (int i = 0; i < n; i++)                                          \
			v[i] = gm_malloc(1024);                                      \
		__asm__ volatile("" ::: "memory");                                   \
	}
SITE(site_a)
SITE(site_b)
SITE(site_c)
SITE(site_t)

static struct site_query
query_site(const char *start, const char *stop)
{
	struct site_query q = { (uintptr_t)start, (uintptr_t)stop, 0, 0, 0, 0 };

	ck_assert_uint_lt(q.lo, q.hi);
	each_bucket(match_site, &q);
	return q;
}

/* Samples taken while 2,000 blocks of 1000 B are allocated (then freed). */
static uint64_t
samples_of_2mb(void)
{
	static void *v[2000];
	uint64_t before = gomem_profile.samples, n;

	for (int i = 0; i < 2000; i++)
		v[i] = gm_malloc(1000);
	n = gomem_profile.samples - before;
	for (int i = 0; i < 2000; i++)
		gm_free(v[i]);
	return n;
}

START_TEST(untraced_still_samples)
{
	uint64_t n;

	gm_opt.profile_rate = 4096;
	gomem_sample_alloc_semaphore = 0;
	n = samples_of_2mb();
	/* 2 MB at one sample per 4 KiB: about 490 samples. */
	ck_assert_uint_gt(n, 300);
	ck_assert_uint_lt(n, 700);
}
END_TEST

START_TEST(sampling_rate_matches_go)
{
	enum { N = 4000 };
	static void *v[N];
	double expect = N * (1 - exp(-65536.0 / (512 * 1024)));
	uint64_t got, before = gomem_profile.samples;
	size_t live0 = gm_prof.count;

	gm_opt.profile_rate = 512 * 1024;
	gm_tls_mcache->next_sample = 0;
	for (int i = 0; i < N; i++)
		v[i] = gm_malloc(65536);
	got = gomem_profile.samples - before;
	/* Poisson-ish: allow 5 standard deviations. */
	ck_assert_msg(fabs((double)got - expect) < 5 * sqrt(expect), "samples %llu, expected %.0f",
		      (unsigned long long)got, expect);
	ck_assert_uint_eq(gm_prof.count - live0, got);
	for (int i = 0; i < N; i++)
		gm_free(v[i]);
	ck_assert_uint_eq(gm_prof.count, live0);
}
END_TEST

/*
 * The distances between samples are exponential with mean rate, as Go's
 * fastexprand draws them: the mean, and the tail P(d > x) = exp(-x / rate)
 * at several x, within 5 standard deviations of N draws.
 */
START_TEST(sample_distance_is_exponential)
{
	enum { N = 200000 };
	const double rate = 512 * 1024, xs[] = {0.1, 0.5, 1, 2, 4, 8};
	unsigned above[6] = {0};
	double sum = 0;

	gm_opt.profile_rate = (uint64_t)rate;
	for (int i = 0; i < N; i++) {
		int64_t d = gm_prof_next(gm_tls_mcache);

		ck_assert_int_ge(d, 0);
		sum += (double)d;
		for (int j = 0; j < 6; j++)
			above[j] += (double)d > xs[j] * rate;
	}
	/* The exponential's standard deviation is its mean. */
	ck_assert_msg(fabs(sum / N / rate - 1) < 5 / sqrt(N), "mean %.4f x rate", sum / N / rate);
	for (int j = 0; j < 6; j++) {
		double p = exp(-xs[j]), got = (double)above[j] / N;

		ck_assert_msg(fabs(got - p) < 5 * sqrt(p * (1 - p) / N),
			      "P(d > %.1f rate) = %.5f, expected %.5f", xs[j], got, p);
	}
	gm_tls_mcache->next_sample = gm_prof_next(gm_tls_mcache);
}
END_TEST

static void *
alloc_80mib(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1280; i++) {
		void *p = gm_malloc(65536);

		((volatile char *)p)[0] = 1;
		gm_free(p);
	}
	return NULL;
}

/*
 * gomem_set_profile_rate, like setting Go's runtime.MemProfileRate: 0 stops
 * sampling at once, a rate starts it at once in the calling thread and
 * within 64 MiB of allocation in a thread that counted down with sampling
 * off; the table's rate follows; a negative rate only queries.
 */
START_TEST(set_rate_switches_sampling)
{
	uint64_t before, n;
	pthread_t t;
	int64_t start = gomem_set_profile_rate(-1);

	ck_assert_int_eq(gomem_set_profile_rate(0), start);
	ck_assert_uint_eq(samples_of_2mb(), 0);
	ck_assert_int_eq(gomem_set_profile_rate(4096), 0);
	ck_assert_int_eq(gomem_set_profile_rate(-1), 4096);
	ck_assert_uint_eq(gomem_profile.rate, 4096);
	n = samples_of_2mb(); /* about 490, as above */
	ck_assert_uint_gt(n, 300);
	ck_assert_uint_lt(n, 700);
	/* A thread whose countdown began with sampling off... */
	gomem_set_profile_rate(0);
	ck_assert_int_eq(pthread_create(&t, NULL, alloc_80mib, NULL), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	before = gomem_profile.samples;
	ck_assert_uint_eq(gomem_profile.rate, 4096); /* 0 keeps the scale */
	/* ...and one that allocates 80 MiB after the rate is set: it notices. */
	gomem_set_profile_rate(1 << 20);
	ck_assert_int_eq(pthread_create(&t, NULL, alloc_80mib, NULL), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_gt(gomem_profile.samples - before, 0);
	gomem_set_profile_rate(start);
}
END_TEST

/*
 * GOMEM_PROFILE_RATE is the API's int64_t: a larger value is malformed (it
 * read back negative from gomem_set_profile_rate(-1)), INT64_MAX is not.
 */
START_TEST(profile_rate_env_in_range)
{
	uint64_t keep = gm_opt.profile_rate;

	gm_opt.profile_rate = 4096;
	setenv("GOMEM_PROFILE_RATE", "9223372036854775808", 1);
	gm_env_init();
	ck_assert_uint_eq(gm_opt.profile_rate, 4096);
	setenv("GOMEM_PROFILE_RATE", "9223372036854775807", 1);
	gm_env_init();
	ck_assert_uint_eq(gm_opt.profile_rate, INT64_MAX);
	unsetenv("GOMEM_PROFILE_RATE");
	gm_opt.profile_rate = keep;
}
END_TEST

/* Exact mode: every allocation sampled, so the buckets hold the truth. */
START_TEST(buckets_count_each_site)
{
	static void *a[600], *b[300], *c[100];
	struct site_query qa, qb, qc;
	struct totals t0, t1;
	uint64_t t_start, t_mid;

	gm_opt.profile_rate = 1;
	gm_tls_mcache->next_sample = 0;
	t0 = table_totals();
	/* Sample times are the coarse clock's (a tick, 1-4 ms): read the
	 * same clock here, and wait several ticks between the sites. */
	t_start = gm_walltime_coarse();
	site_a(a, 600);
	usleep(20000);
	t_mid = gm_walltime_coarse();
	site_b(b, 300);
	site_c(c, 100);
	/* Keep half of each. */
	for (int i = 0; i < 600; i += 2)
		gm_free(a[i]);
	for (int i = 0; i < 300; i += 2)
		gm_free(b[i]);
	for (int i = 0; i < 100; i += 2)
		gm_free(c[i]);

	qa = query_site(__start_gm_site_a, __stop_gm_site_a);
	qb = query_site(__start_gm_site_b, __stop_gm_site_b);
	qc = query_site(__start_gm_site_c, __stop_gm_site_c);
	ck_assert_uint_eq(qa.alloc_bytes, 600 * 1024);
	ck_assert_uint_eq(qb.alloc_bytes, 300 * 1024);
	ck_assert_uint_eq(qc.alloc_bytes, 100 * 1024);
	ck_assert_uint_eq(qa.inuse_bytes, 300 * 1024);
	ck_assert_uint_eq(qb.inuse_bytes, 150 * 1024);
	ck_assert_uint_eq(qc.inuse_bytes, 50 * 1024);
	/* One loop, one call site: one bucket each. */
	ck_assert_uint_eq(qa.buckets, 1);
	ck_assert_uint_eq(qb.buckets, 1);
	/* a[1] is the oldest live sample of site a; site b's are all newer. */
	ck_assert_uint_ge(qa.oldest_ns, t_start);
	ck_assert_uint_lt(qa.oldest_ns, t_mid);
	ck_assert_uint_ge(qb.oldest_ns, t_mid);

	t1 = table_totals();
	ck_assert_uint_eq(t1.alloc_objects - t0.alloc_objects, 1000);
	ck_assert_uint_eq(t1.free_objects - t0.free_objects, 500);

	/* Free the rest: nothing in use, no age. */
	for (int i = 1; i < 600; i += 2)
		gm_free(a[i]);
	for (int i = 1; i < 300; i += 2)
		gm_free(b[i]);
	for (int i = 1; i < 100; i += 2)
		gm_free(c[i]);
	qa = query_site(__start_gm_site_a, __stop_gm_site_a);
	ck_assert_uint_eq(qa.inuse_bytes, 0);
	ck_assert_uint_eq(qa.oldest_ns, 0);
	ck_assert_uint_eq(qa.alloc_bytes, 600 * 1024);
	gm_opt.profile_rate = 512 * 1024;
	gm_tls_mcache->next_sample = gm_prof_next(gm_tls_mcache);
}
END_TEST

/*
 * Threads that sample the same stacks at once: they walk without a lock and
 * find (or make) buckets without it, so each stack still has one bucket and
 * every sample and free is counted once.  (Under ThreadSanitizer in
 * scripts/sanitize.sh this is also the race test of those paths.)
 */
enum { T_THREADS = 4, T_ROUNDS = 5, T_BLOCKS = 400 };

static void *
sample_site_t(void *arg)
{
	void *v[T_BLOCKS];

	(void)arg;
	gm_free(gm_malloc(16)); /* the thread's cache */
	for (int r = 0; r < T_ROUNDS; r++) {
		gm_tls_mcache->next_sample = 0;
		site_t(v, T_BLOCKS);
		for (int i = 0; i < T_BLOCKS; i++)
			gm_free(v[i]);
	}
	return NULL;
}

START_TEST(threads_share_buckets)
{
	pthread_t t[T_THREADS];
	struct site_query q;
	struct totals t0, t1;
	uint64_t samples = gomem_profile.samples, lost = gomem_profile.lost;

	gm_opt.profile_rate = 1;
	t0 = table_totals();
	for (int i = 0; i < T_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, sample_site_t, NULL), 0);
	for (int i = 0; i < T_THREADS; i++)
		pthread_join(t[i], NULL);
	t1 = table_totals();
	q = query_site(__start_gm_site_t, __stop_gm_site_t);
	/* Every thread: the same start routine and call site, one stack. */
	ck_assert_uint_eq(q.buckets, 1);
	ck_assert_uint_eq(q.alloc_bytes, (uint64_t)T_THREADS * T_ROUNDS * T_BLOCKS * 1024);
	ck_assert_uint_eq(q.inuse_bytes, 0);
	ck_assert_uint_eq(gomem_profile.lost, lost);
	ck_assert_uint_eq(t1.alloc_objects - t0.alloc_objects, gomem_profile.samples - samples);
	ck_assert_uint_eq(t1.free_objects - t0.free_objects, t1.alloc_objects - t0.alloc_objects);
	ck_assert_uint_ge(t1.alloc_objects - t0.alloc_objects, T_THREADS * T_ROUNDS * T_BLOCKS);
	gm_opt.profile_rate = 512 * 1024;
}
END_TEST

/* How many times p is in the published live table. */
static unsigned
live_entries(const void *p)
{
	const struct gomem_profile_live *e = (const void *)(uintptr_t)gomem_profile.live;
	unsigned n = 0;

	for (uint64_t i = 0; i < gomem_profile.live_cap; i++)
		n += e[i].ptr == (uintptr_t)p;
	return n;
}

/*
 * The live set removes without tombstones, moving entries back: after
 * frees in random order (many probe chains, growth from 1024 slots), every
 * live sample is still found exactly once and every freed one is gone.
 */
START_TEST(live_set_survives_churn)
{
	enum { N = 3000 };
	static void *v[N];
	static int order[N];
	uint64_t x = 88172645463325252u;
	size_t live0 = gm_prof.count;

	gm_opt.profile_rate = 1;
	gm_tls_mcache->next_sample = 0;
	for (int i = 0; i < N; i++) {
		v[i] = gm_malloc(16 + (size_t)(i % 7) * 48);
		order[i] = i;
	}
	ck_assert_uint_eq(gm_prof.count - live0, N);
	for (int i = N - 1; i > 0; i--) { /* Fisher-Yates */
		int j, t;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = (int)(x % (uint64_t)(i + 1));
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (int i = 0; i < N * 3 / 4; i++) {
		gm_free(v[order[i]]);
		if (i % 97 == 0) /* this block is gone; a random other one is there */
			ck_assert_uint_eq(live_entries(v[order[i]]), 0);
	}
	ck_assert_uint_eq(gm_prof.count - live0, N - N * 3 / 4);
	for (int i = N * 3 / 4; i < N; i++)
		ck_assert_uint_eq(live_entries(v[order[i]]), 1);
	table_totals(); /* each bucket's live entries = allocated - freed */
	for (int i = N * 3 / 4; i < N; i++)
		gm_free(v[order[i]]);
	ck_assert_uint_eq(gm_prof.count, live0);
	gm_opt.profile_rate = 512 * 1024;
	gm_tls_mcache->next_sample = gm_prof_next(gm_tls_mcache);
}
END_TEST

START_TEST(small_objects_and_spans_forget_samples)
{
	enum { N = 100000 };
	static void *v[N];
	uint64_t inuse0 = atomic_load(&gm_heap.inuse);
	size_t live0 = gm_prof.count;
	struct totals t;

	gm_opt.profile_rate = 1024;
	gm_tls_mcache->next_sample = 0;
	for (int i = 0; i < N; i++)
		v[i] = gm_malloc(1 + (size_t)(i * 37) % 3000);
	ck_assert_uint_gt(gm_prof.count - live0, 1000);
	for (int i = 0; i < N; i++) {
		gm_mspan *s = gm_span_of((uintptr_t)v[i]);

		ck_assert_uint_le(s->nsampled, s->nelems);
	}
	for (int i = 0; i < N; i += 2)
		gm_free(v[i]);
	for (int i = 1; i < N; i += 2)
		gm_free(v[i]);
	ck_assert_uint_eq(gm_prof.count, live0);
	t = table_totals();
	ck_assert_uint_eq(t.alloc_objects - t.free_objects, live0);
	ck_assert_uint_eq(t.alloc_objects, gomem_profile.samples);
	gm_mcache_release_all(gm_tls_mcache);
	gm_mcentral_drain_all();
	ck_assert_uint_le(atomic_load(&gm_heap.inuse), inuse0);
	gm_opt.profile_rate = 512 * 1024;
	ck_heap_ok();
}
END_TEST

/* An allocation of n bytes, sampled or not (the countdown set by hand). */
static void *
alloc_sampled(size_t n, bool sampled)
{
	gm_tls_mcache->next_sample = sampled ? 0 : (int64_t)1 << 40;
	return gm_malloc(n);
}

/* Whether one of s's sampkey slots holds the key of p. */
static bool
span_names(const gm_mspan *s, const void *p)
{
	uint16_t k = gm_span_sampkey(s, (uintptr_t)p);

	return s->sampkey[0] == k || s->sampkey[1] == k || s->sampkey[2] == k;
}

/* A block of 48 bytes in span s, sampled or not. */
static void *
alloc_in(gm_mspan *s, bool sampled)
{
	void *p = NULL;

	for (int tries = 0; p == NULL || gm_span_of((uintptr_t)p) != s; tries++) {
		ck_assert_int_lt(tries, 200);
		p = alloc_sampled(48, sampled);
	}
	return p;
}

/*
 * A span names up to three sampled blocks in sampkey, so the frees of its
 * other blocks return without the filter; a fourth makes it name any block
 * (every free goes by the filter) until it has no samples again.  Each way,
 * the counts stay exact.
 */
static void
free_it(void *p)
{
	gm_free(p);
}

START_TEST(span_names_its_samples)
{
	char hex[32];
	uint64_t free0;
	void *u, *a[4], *c;
	gm_mspan *s;
	int tries = 0;

	/* Keys name one block each: every small-object span is under 512 KiB. */
	for (int i = 1; i < GM_NUM_CLASSES; i++)
		ck_assert_uint_lt((size_t)gm_class_spanpages[i] << GM_PAGE_SHIFT, 512 * 1024);
	gm_opt.profile_rate = 1 << 20;
	gm_opt.sampspans = false; /* the keys of samples left in their spans */
	/* Three blocks of one span, the middle one sampled. */
	for (;;) {
		u = alloc_sampled(48, false);
		a[0] = alloc_sampled(48, true);
		c = alloc_sampled(48, false);
		s = gm_span_of((uintptr_t)a[0]);
		if (gm_span_of((uintptr_t)u) == s && gm_span_of((uintptr_t)c) == s)
			break;
		ck_assert_int_lt(++tries, 10);
	}
	free0 = table_totals().free_objects;
	ck_assert_uint_eq(s->nsampled, 1);
	ck_assert(span_names(s, a[0]));
	ck_assert(!span_names(s, u));
	ck_assert(!span_names(s, c));
	ck_assert_uint_eq(s->fastclass, 0);
	gm_free(u); /* not sampled: nothing counted, the sample stays */
	ck_assert_uint_eq(table_totals().free_objects, free0);
	ck_assert_uint_eq(s->nsampled, 1);
	/* It went on this thread's list, as a fast free would; a second free
	 * of it, or a pointer inside a block of the span, is still named. */
	ck_assert_ptr_eq((gm_opt.safelink ? gm_tls_mcache->sfree : gm_tls_mcache->free)[s->spanclass],
			 u);
	snprintf(hex, sizeof(hex), "%p", u);
	expect_death(free_it, u, hex);
	snprintf(hex, sizeof(hex), "%p", (void *)((char *)c + 8));
	expect_death(free_it, (char *)c + 8, hex);

	/* Up to three are named; a fourth names any block. */
	a[1] = alloc_in(s, true);
	a[2] = alloc_in(s, true);
	ck_assert_uint_eq(s->nsampled, 3);
	for (int i = 0; i < 3; i++)
		ck_assert(span_names(s, a[i]));
	a[3] = alloc_in(s, true);
	ck_assert_uint_eq(s->nsampled, 4);
	ck_assert_uint_eq(s->sampkey[0], GM_SAMPKEY_ANY);
	gm_free(a[1]);
	ck_assert_uint_eq(table_totals().free_objects, free0 + 1);
	ck_assert_uint_eq(s->sampkey[0], GM_SAMPKEY_ANY); /* which are left is not known */
	gm_free(c);
	ck_assert_uint_eq(table_totals().free_objects, free0 + 1);
	gm_free(a[0]);
	gm_free(a[3]);
	gm_free(a[2]);
	ck_assert_uint_eq(table_totals().free_objects, free0 + 4);
	ck_assert_uint_eq(s->nsampled, 0);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(s->sampkey[i], 0);
	ck_assert_uint_eq(s->fastclass, s->spanclass);

	/* Named again from the first sample; a freed slot is taken again. */
	a[0] = alloc_in(s, true);
	a[1] = alloc_in(s, true);
	u = alloc_in(s, false);
	gm_free(a[0]);
	ck_assert(!span_names(s, a[0]));
	ck_assert(span_names(s, a[1]));
	gm_free(u);
	ck_assert_uint_eq(table_totals().free_objects, free0 + 5);
	gm_free(a[1]);
	ck_assert_uint_eq(table_totals().free_objects, free0 + 6);

	/* A large block: its span's one block. */
	a[0] = alloc_sampled(1 << 20, true);
	s = gm_span_of((uintptr_t)a[0]);
	ck_assert_uint_eq(s->nsampled, 1);
	ck_assert_uint_eq(s->sampkey[0], 1);
	gm_free(a[0]);
	ck_assert_uint_eq(table_totals().free_objects, free0 + 7);
	gm_opt.profile_rate = 512 * 1024;
	gm_tls_mcache->next_sample = gm_prof_next(gm_tls_mcache);
	ck_heap_ok();
}
END_TEST

/*
 * With GOMEMDEBUG=sampspans=1, at the default rate, a sampled small block
 * gets a span of its own (mprof.c, "Sampled blocks"), so the frees of its
 * class's other blocks keep the fast path.  It counts as a block of its
 * class everywhere: Mallocs and Frees, HeapAlloc, BySize, malloc_usable_size,
 * realloc, the profile's block size; its span's page is in use while it
 * lives, and its free gives it back.
 */
START_TEST(sampled_block_has_its_own_span)
{
	struct gomem_memstats a, b;
	unsigned c = gm_size_class(48);
	struct totals t0, t1;
	char hex[32];
	gm_mspan *s;
	void *p, *q, *head;

	gm_opt.profile_rate = 512 * 1024;
	gm_opt.sampspans = true;
	gm_free(alloc_sampled(48, false)); /* a list of the class */
	t0 = table_totals();
	gm_read_memstats(&a);
	p = alloc_sampled(40, true);
	gm_read_memstats(&b);
	t1 = table_totals();
	s = gm_span_of((uintptr_t)p);
	ck_assert_uint_eq(s->spanclass, GM_SPANCLASS_LARGE);
	ck_assert_uint_eq(s->sampclass, c);
	ck_assert_ptr_eq(p, (void *)s->start);
	ck_assert_uint_eq(s->npages, 1);
	ck_assert_uint_eq(s->nsampled, 1);
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, 1);
	ck_assert_uint_eq(b.HeapAlloc - a.HeapAlloc, 48);
	ck_assert_uint_eq(b.BySize[c].Mallocs - a.BySize[c].Mallocs, 1);
	ck_assert_uint_eq(b.LargeAllocs, a.LargeAllocs);
	ck_assert_uint_eq(b.HeapInuse - a.HeapInuse, GM_PAGE_SIZE);
	ck_identities(&b);
	ck_assert_uint_eq(t1.alloc_bytes - t0.alloc_bytes, 48);
	/* The object the sample popped is back on the list, in a span whose
	 * frees take the fast path. */
	head = gm_tls_mcache->free[c];
	ck_assert_ptr_nonnull(head);
	ck_assert_uint_eq(gm_span_of((uintptr_t)head)->spanclass, c);
	ck_assert_uint_eq(gm_span_of((uintptr_t)head)->nsampled, 0);
	ck_assert_uint_eq(gm_span_of((uintptr_t)head)->fastclass, c);
	ck_assert_uint_eq(gm_usable_size(p), 48);
	ck_assert_uint_eq(gm_usable_size((char *)p + 8), 40);

	/* realloc within the class stays; past it, the block moves. */
	memset(p, 0x5a, 48);
	ck_assert_ptr_eq(gm_realloc(p, 44), p);
	q = gm_realloc(p, 100);
	ck_assert_ptr_ne(q, p);
	for (int i = 0; i < 48; i++)
		ck_assert_int_eq(((unsigned char *)q)[i], 0x5a);
	gm_free(q);

	/* Its free: a free of its class, the page back to the heap. */
	p = alloc_sampled(48, true);
	ck_assert_uint_eq(gm_span_of((uintptr_t)p)->sampclass, c);
	memset(p, 0xa5, 48);
	t0 = table_totals();
	gm_read_memstats(&a);
	gm_free(p);
	gm_read_memstats(&b);
	t1 = table_totals();
	ck_assert_uint_eq(b.Frees - a.Frees, 1);
	ck_assert_uint_eq(a.HeapAlloc - b.HeapAlloc, 48);
	ck_assert_uint_eq(b.BySize[c].Frees - a.BySize[c].Frees, 1);
	ck_assert_uint_eq(b.LargeFrees, a.LargeFrees);
	ck_assert_uint_eq(a.HeapInuse - b.HeapInuse, GM_PAGE_SIZE);
	ck_assert_uint_eq(t1.free_objects - t0.free_objects, 1);
	ck_assert_uint_eq(t1.free_bytes - t0.free_bytes, 48);
	ck_identities(&b);
	snprintf(hex, sizeof(hex), "%p", p);
	expect_death(free_it, p, hex);
	/* calloc clears a reused page's old bytes. */
	gm_tls_mcache->next_sample = 0;
	q = gm_calloc(1, 48);
	for (int i = 0; i < 48; i++)
		ck_assert_int_eq(((unsigned char *)q)[i], 0);
	gm_free(q);

	/* Below 256 KiB a rate samples too often for a page each; and
	 * without the option (the default). */
	gm_opt.profile_rate = 4096;
	p = alloc_sampled(48, true);
	ck_assert_uint_eq(gm_span_of((uintptr_t)p)->spanclass, c);
	gm_free(p);
	gm_opt.profile_rate = 512 * 1024;
	gm_opt.sampspans = false;
	p = alloc_sampled(48, true);
	ck_assert_uint_eq(gm_span_of((uintptr_t)p)->spanclass, c);
	gm_free(p);
	gm_tls_mcache->next_sample = gm_prof_next(gm_tls_mcache);
	ck_heap_ok();
}
END_TEST

/* ---- the stack walker against libgcc's ---- */

struct gcc_walk {
	uint64_t pcs[GOMEM_PROFILE_MAX_DEPTH];
	unsigned n;
};

static _Unwind_Reason_Code
gcc_cb(struct _Unwind_Context *uc, void *arg)
{
	struct gcc_walk *w = arg;

	if (_Unwind_GetIP(uc) == 0 || w->n == GOMEM_PROFILE_MAX_DEPTH)
		return _URC_END_OF_STACK;
	w->pcs[w->n++] = _Unwind_GetIP(uc);
	return _URC_NO_REASON;
}

/* Both walkers, from the same frame; the first entries differ (two call sites). */
static __attribute__((noinline)) void
walk_both(struct gcc_walk *g, uint64_t *pcs, unsigned *n, bool *trunc)
{
	_Unwind_Backtrace(gcc_cb, g);
	*n = gm_unwind(pcs, GOMEM_PROFILE_MAX_DEPTH, trunc, &gm_uw_stat); /* takes no lock */
	__asm__ volatile("" ::: "memory");
}

struct walk_res {
	struct gcc_walk g;
	uint64_t pcs[GOMEM_PROFILE_MAX_DEPTH];
	unsigned n;
	bool trunc;
};

static __attribute__((noinline)) int
recurse(int depth, struct walk_res *r)
{
	volatile char pad[64 + depth * 8]; /* frames of different sizes */

	pad[0] = (char)depth;
	if (depth == 0)
		walk_both(&r->g, r->pcs, &r->n, &r->trunc);
	else
		recurse(depth - 1, r);
	return pad[0];
}

static void
check_same(const struct walk_res *r, unsigned want_min)
{
	ck_assert_uint_ge(r->g.n, want_min);
	/* libgcc stops at a frame with an undefined return address, we do too. */
	ck_assert_uint_eq(r->n, r->g.n);
	for (unsigned i = 1; i < r->n; i++)
		ck_assert_msg(r->pcs[i] == r->g.pcs[i], "frame %u: %#llx != %#llx", i,
			      (unsigned long long)r->pcs[i], (unsigned long long)r->g.pcs[i]);
}

START_TEST(unwind_matches_libgcc)
{
	struct walk_res r;
	gm_uw_stats before = gm_uw_stat;

	/* The second walk, from the same call site, finds its frames cached.
	 * The cache is direct-mapped on a hash of the address, so two of the
	 * walk's addresses may share a slot and evict each other, as the
	 * code's layout and the load addresses fall (seen: 2 of 8 runs of an
	 * ASan build): allow one such pair, no more. */
	for (int k = 0; k < 2; k++) {
		before = gm_uw_stat;
		memset(&r, 0, sizeof(r));
		recurse(20, &r);
		check_same(&r, 22);
		ck_assert(!r.trunc);
	}
	ck_assert_uint_le(gm_uw_stat.computed - before.computed, 2);
	ck_assert_uint_ge(gm_uw_stat.memo - before.memo + gm_uw_stat.hits - before.hits, 20);
	/* The thread's last walk holds the first 16 frames of a repeated one. */
	ck_assert_uint_eq(gm_uw_stat.memo - before.memo, 16);
	ck_assert_uint_eq(gm_uw_stat.slow, before.slow);
}
END_TEST

START_TEST(unwind_truncates_deep_stacks)
{
	struct walk_res r = { 0 };

	recurse(100, &r);
	ck_assert_uint_eq(r.n, GOMEM_PROFILE_MAX_DEPTH);
	ck_assert(r.trunc);
	for (unsigned i = 1; i < r.n; i++)
		ck_assert_uint_eq(r.pcs[i], r.g.pcs[i]);
}
END_TEST

/*
 * A walk that starts where the thread's last one did (same rsp and rbp) and
 * finds the same stack words is replayed; one whose stack differs anywhere
 * is walked.  walk_site calls walk_both from two places: the walks start at
 * the same rsp and rbp and differ only in the return address into
 * walk_site, two frames up.
 */
static volatile int site_sink;

static __attribute__((noinline)) void
walk_site(int which, struct walk_res *r)
{
	memset(r, 0, sizeof(*r));
	if (which == 0) {
		site_sink = 1;
		walk_both(&r->g, r->pcs, &r->n, &r->trunc);
		site_sink = 2;
	} else {
		site_sink = 3;
		walk_both(&r->g, r->pcs, &r->n, &r->trunc);
		site_sink = 4;
	}
}

START_TEST(unwind_replays_only_the_same_stack)
{
	static const int order[] = { 0, 0, 1, 1, 0, 1, 0, 0 };
	static const bool replay[] = { false, true, false, true, false, false, false, true };
	struct walk_res r, first[2];
	uint64_t replayed, walked;

	memset(first, 0, sizeof(first));
	for (unsigned k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		int w = order[k];

		replayed = gm_uw_stat.replayed;
		walk_site(w, &r);
		check_same(&r, 5);
		ck_assert(!r.trunc);
		/* Replayed exactly when the last walk came from the same site
		   (the first walk of all may find one from an earlier test). */
		if (k > 0)
			ck_assert_msg((gm_uw_stat.replayed - replayed == 1) == replay[k],
				      "walk %u (site %d): replayed %llu", k, w,
				      (unsigned long long)(gm_uw_stat.replayed - replayed));
		/* The two sites' stacks differ in the frame of walk_site. */
		if (first[w].n == 0)
			first[w] = r;
		ck_assert_uint_eq(r.n, first[w].n);
		for (unsigned i = 0; i < r.n; i++)
			ck_assert_uint_eq(r.pcs[i], first[w].pcs[i]);
	}
	ck_assert_uint_ne(first[0].pcs[1], first[1].pcs[1]);
	/* A stack deeper than the log is walked every time. */
	walked = gm_uw_stat.replayed;
	for (int k = 0; k < 3; k++) {
		memset(&r, 0, sizeof(r));
		recurse(30, &r);
		check_same(&r, 32);
	}
	ck_assert_uint_eq(gm_uw_stat.replayed, walked);
}
END_TEST

/* Through libc: qsort calls back into us. */
static struct walk_res qsort_res;

static int
cmp_walk(const void *a, const void *b)
{
	if (qsort_res.n == 0)
		recurse(3, &qsort_res);
	return *(const int *)a - *(const int *)b;
}

START_TEST(unwind_through_libc)
{
	int v[] = { 5, 3, 9, 1, 7, 2 };

	memset(&qsort_res, 0, sizeof(qsort_res));
	qsort(v, 6, sizeof(int), cmp_walk);
	check_same(&qsort_res, 8);
}
END_TEST

static void *
thread_walk(void *arg)
{
	recurse(10, arg);
	return NULL;
}

START_TEST(unwind_in_threads)
{
	struct walk_res r = { 0 };
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, thread_walk, &r), 0);
	pthread_join(t, NULL);
	check_same(&r, 12);
	ck_assert(!r.trunc);
}
END_TEST

START_TEST(fork_child_publishes_its_pid)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		void *p;

		gm_opt.profile_rate = 1;
		gm_tls_mcache->next_sample = 0;
		p = gm_malloc(100);
		_exit(gomem_profile.pid == (uint64_t)getpid() && p != NULL && gm_prof.count > 0 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_uint_eq(gomem_profile.pid, (uint64_t)getpid());
}
END_TEST

START_TEST(math_matches_libm)
{
	/* The weights' own exp (no libm in libgomem) against libm. */
	double worst = 0;

	for (int i = 0; i < 200000; i++) {
		double x = -745.0 * (i + 0.5) / 200000.0, e = exp(x);

		if (x > -708)
			worst = fmax(worst, fabs(gm_math_exp(x) - e) / e);
		else
			ck_assert(gm_math_exp(x) < 1e-307);
	}
	/* Small x: the weights of blocks far below the rate. */
	for (int k = 0; k <= 53; k++) {
		double x = -ldexp(1.0, -k);

		worst = fmax(worst, fabs(gm_math_exp(x) - exp(x)) / exp(x));
	}
	ck_assert(gm_math_exp(0.0) == 1);
	ck_assert_msg(worst < 1e-14, "exp: relative error %g", worst);
}
END_TEST

START_TEST(weight_is_go_scale)
{
	/* One 512 KiB sample at the default rate stands for 512K / (1 - 1/e). */
	ck_assert_double_eq_tol(gm_prof_weight(524288, 524288), 524288 / (1 - exp(-1)), 1e-6);
	ck_assert_double_eq_tol(gm_prof_weight(100, 1), 100, 1e-9);
	/* Small objects: about rate bytes each. */
	ck_assert_double_eq_tol(gm_prof_weight(16, 524288), 524296, 1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("mprof");
	TCase *tc = tcase_create("sampling");
	TCase *tu = tcase_create("unwind");

	gm_ensure_init();
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, untraced_still_samples);
	tcase_add_test(tc, profile_rate_env_in_range);
	tcase_add_test(tc, sampling_rate_matches_go);
	tcase_add_test(tc, sample_distance_is_exponential);
	tcase_add_test(tc, buckets_count_each_site);
	tcase_add_test(tc, threads_share_buckets);
	tcase_add_test(tc, live_set_survives_churn);
	tcase_add_test(tc, small_objects_and_spans_forget_samples);
	tcase_add_test(tc, span_names_its_samples);
	tcase_add_test(tc, sampled_block_has_its_own_span);
	tcase_add_test(tc, fork_child_publishes_its_pid);
	tcase_add_test(tc, weight_is_go_scale);
	tcase_add_test(tc, set_rate_switches_sampling);
	tcase_add_test(tc, math_matches_libm);
	suite_add_tcase(s, tc);
	tcase_add_test(tu, unwind_matches_libgcc);
	tcase_add_test(tu, unwind_truncates_deep_stacks);
	tcase_add_test(tu, unwind_replays_only_the_same_stack);
	tcase_add_test(tu, unwind_through_libc);
	tcase_add_test(tu, unwind_in_threads);
	suite_add_tcase(s, tu);
	return run_suite(s);
}
