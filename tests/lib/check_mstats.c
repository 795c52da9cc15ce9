/*
 * check_mstats.c: MemStats equal Go's definitions after a known sequence,
 * and the identities hold in every snapshot while other threads allocate.
 */
#include "testutil.h"

#include <pthread.h>

/* Expected deltas computed from Go's definitions, not from lib/. */
struct expect {
	uint64_t mallocs, frees, total, freed, bysize_m[61], bysize_f[61];
};

/* Go's class for n (smallest class >= n), by scanning the fact-sheet sizes. */
static const unsigned go_sizes[68] = {
	0,     8,     16,    24,    32,    48,    64,    80,    96,    112,   128,   144,
	160,   176,   192,   208,   224,   240,   256,   288,   320,   352,   384,   416,
	448,   480,   512,   576,   640,   704,   768,   896,   1024,  1152,  1280,  1408,
	1536,  1792,  2048,  2304,  2688,  3072,  3200,  3456,  4096,  4864,  5376,  6144,
	6528,  6784,  6912,  8192,  9472,  9728,  10240, 10880, 12288, 13568, 14336, 16384,
	18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768,
};

static unsigned
go_class(size_t n)
{
	unsigned c = 1;

	/* gomem keeps 16-byte alignment for n >= 16, so 17..24 skip the 24 B class. */
	while (go_sizes[c] < n || (n >= 16 && go_sizes[c] % 16 != 0))
		c++;
	return c;
}

START_TEST(exact_after_known_sequence)
{
	struct gomem_memstats a, b;
	struct expect e;
	static void *v[3000];
	size_t sizes[3000];
	int i;

	memset(&e, 0, sizeof(e));
	gm_read_memstats(&a);
	for (i = 0; i < 3000; i++) {
		/* 16 B .. 30 KiB and a few large objects. */
		size_t n = i % 100 == 99 ? 40000 + (size_t)i * 13 : 16 + ((size_t)i * 7919) % 30000;
		unsigned c;

		sizes[i] = n;
		v[i] = gm_malloc(n);
		ck_assert_ptr_nonnull(v[i]);
		e.mallocs++;
		if (n > 32768) {
			e.total += (n + 8191) / 8192 * 8192; /* page-rounded */
		} else {
			c = go_class(n);
			e.total += go_sizes[c];
			if (c < 61)
				e.bysize_m[c]++;
		}
	}
	for (i = 0; i < 3000; i += 3) {
		size_t n = sizes[i];
		unsigned c;

		gm_free(v[i]);
		e.frees++;
		if (n > 32768) {
			e.freed += (n + 8191) / 8192 * 8192;
		} else {
			c = go_class(n);
			e.freed += go_sizes[c];
			if (c < 61)
				e.bysize_f[c]++;
		}
	}
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, e.mallocs);
	ck_assert_uint_eq(b.Frees - a.Frees, e.frees);
	ck_assert_uint_eq(b.HeapObjects - a.HeapObjects, e.mallocs - e.frees);
	ck_assert_uint_eq(b.TotalAlloc - a.TotalAlloc, e.total);
	ck_assert_uint_eq(b.HeapAlloc - a.HeapAlloc, e.total - e.freed);
	for (i = 0; i < 61; i++) {
		ck_assert_msg(b.BySize[i].Mallocs - a.BySize[i].Mallocs == e.bysize_m[i],
			      "BySize[%d].Mallocs", i);
		ck_assert_msg(b.BySize[i].Frees - a.BySize[i].Frees == e.bysize_f[i],
			      "BySize[%d].Frees", i);
		ck_assert_uint_eq(b.BySize[i].Size, go_sizes[i]);
	}
	ck_identities(&b);
	ck_assert_uint_eq(b.size, sizeof(b));
	ck_assert_uint_eq(b.version, GOMEM_MEMSTATS_VERSION);
	ck_assert_uint_eq(b.NumGC, 0);
	ck_assert_uint_eq(b.Lookups, 0);
}
END_TEST

/*
 * realloc of a large block in place: TotalAlloc is cumulative (Go: "bytes
 * allocated for heap objects", never less), so a shrink counts its tail as
 * freed bytes and a growth its new pages as allocated; Mallocs and Frees do
 * not move (one object throughout).
 */
START_TEST(realloc_in_place_keeps_total_cumulative)
{
	struct gomem_memstats a, b, c;
	char *p = gm_malloc(8 << 20), *q;

	ck_assert_ptr_nonnull(p);
	gm_read_memstats(&a);
	q = gm_realloc(p, 1 << 20);
	ck_assert_ptr_eq(q, p); /* shrunk where it is */
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.TotalAlloc, a.TotalAlloc);
	ck_assert_uint_eq(a.HeapAlloc - b.HeapAlloc, 7 << 20);
	ck_assert_uint_eq(b.Mallocs, a.Mallocs);
	ck_assert_uint_eq(b.Frees, a.Frees);
	q = gm_realloc(p, 3 << 20);
	ck_assert_ptr_eq(q, p); /* grown into its old tail */
	gm_read_memstats(&c);
	ck_assert_uint_eq(c.TotalAlloc - b.TotalAlloc, 2 << 20);
	ck_assert_uint_eq(c.HeapAlloc - b.HeapAlloc, 2 << 20);
	ck_assert_uint_eq(c.Mallocs, a.Mallocs);
	ck_identities(&c);
	gm_free(q);
}
END_TEST

START_TEST(small_sizes_count_in_their_class)
{
	struct gomem_memstats a, b;
	void *p[4];

	gm_read_memstats(&a);
	/* Four 4-byte objects: four 8 B objects (no tiny allocator: Go's
	 * TinyAllocs stays 0). */
	for (int i = 0; i < 4; i++)
		p[i] = gm_malloc(4);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.BySize[1].Mallocs - a.BySize[1].Mallocs, 4);
	ck_assert_uint_eq(b.TinyAllocs, 0);
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, 4);
	ck_assert_uint_eq(b.Frees - a.Frees, 0);
	ck_assert_uint_eq(b.HeapObjects - a.HeapObjects, 4);
	ck_assert_uint_eq(b.HeapAlloc - a.HeapAlloc, 32);
	for (int i = 0; i < 4; i++)
		gm_free(p[i]);
}
END_TEST

static _Atomic int stop;

static void *
churn(void *arg)
{
	void *v[512] = { 0 };
	unsigned x = (unsigned)(uintptr_t)arg;

	while (!atomic_load(&stop)) {
		unsigned i = (x = x * 1103515245 + 12345) % 512;

		gm_free(v[i]);
		v[i] = gm_malloc(1 + (x >> 8) % (i < 8 ? 200000 : 4000));
	}
	for (int i = 0; i < 512; i++)
		gm_free(v[i]);
	return NULL;
}

START_TEST(identities_under_concurrency)
{
	pthread_t t[3];
	struct gomem_memstats m;

	atomic_store(&stop, 0);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1));
	for (int k = 0; k < 2000; k++) {
		gm_read_memstats(&m);
		ck_identities(&m);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	gm_read_memstats(&m);
	ck_identities(&m);
	ck_heap_ok();
}
END_TEST

/*
 * A forked child leaves the parent's other threads' caches unfolded until
 * its first slow path or statistics read (mcache.c): then their counts
 * join the dead threads' totals exactly, and their lists go back.
 */
static pthread_barrier_t parked;

static void *
park_with_lists(void *arg)
{
	void *v[300];
	unsigned x = (unsigned)(uintptr_t)arg;

	for (int i = 0; i < 300; i++)
		v[i] = gm_malloc(1 + (x = x * 1103515245 + 12345) % 3000);
	for (int i = 0; i < 300; i += 2)
		gm_free(v[i]);
	pthread_barrier_wait(&parked); /* lists full, counts set */
	pthread_barrier_wait(&parked); /* the parent has forked */
	for (int i = 1; i < 300; i += 2)
		gm_free(v[i]);
	return NULL;
}

static int
child_after_fork(const struct gomem_memstats *was, unsigned others)
{
	struct gomem_memstats m;
	gm_mcache *self = gm_tls_mcache, *mc;
	unsigned n = 0;

	for (mc = atomic_load(&gm_registry_.forked); mc != NULL; mc = mc->rnext)
		n++;
	if (n != others)
		return 1;
	if (gm_registry_.head != self || self->rnext != NULL || gm_registry_.nthreads != 1)
		return 2;
	gm_read_memstats(&m);
	if (atomic_load(&gm_registry_.forked) != NULL)
		return 3;
	if (m.Mallocs != was->Mallocs || m.Frees != was->Frees || m.HeapAlloc != was->HeapAlloc ||
	    m.TotalAlloc != was->TotalAlloc || m.Threads != 1)
		return 4;
	{
		char why[128];

		if (gm_mheap_check(why, sizeof(why)) != 0)
			return 5;
	}
	return 0;
}

START_TEST(fork_folds_dead_caches_exactly)
{
	pthread_t t[3];
	struct gomem_memstats was;
	unsigned others = 0;
	gm_mcache *mc;
	pid_t pid;
	int st;

	gm_free(gm_malloc(16)); /* this thread has a cache */
	pthread_barrier_init(&parked, NULL, 4);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, park_with_lists, (void *)(uintptr_t)(i + 7));
	pthread_barrier_wait(&parked);
	gm_read_memstats(&was);
	gm_mutex_lock(&gm_registry_.lock);
	for (mc = gm_registry_.head; mc != NULL; mc = mc->rnext)
		others += mc != gm_tls_mcache;
	gm_mutex_unlock(&gm_registry_.lock);
	ck_assert_uint_ge(others, 3);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(child_after_fork(&was, others));
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	pthread_barrier_wait(&parked);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&parked);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("mstats");
	TCase *tc = tcase_create("memstats");

	gm_ensure_init();
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, exact_after_known_sequence);
	tcase_add_test(tc, realloc_in_place_keeps_total_cumulative);
	tcase_add_test(tc, small_sizes_count_in_their_class);
	tcase_add_test(tc, identities_under_concurrency);
	tcase_add_test(tc, fork_folds_dead_caches_exactly);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
