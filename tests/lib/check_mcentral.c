/*
 * check_mcentral.c: mcache refill and release in batches, mcentral's span
 * life (partial, empty, back to the heap) and frees from other threads.
 */
#include "testutil.h"

#include <pthread.h>

/* Allocate several spans' worth of class c from this thread. */
static void **
fill_span(unsigned c, unsigned *n)
{
	/* Well past what a thread cache holds (twice a batch). */
	unsigned cnt = gm_class_nelems[c] * 3 + gm_class_batch[c] * 8;
	void **v = calloc(cnt, sizeof(void *)); /* glibc: not the code under test */

	for (unsigned i = 0; i < cnt; i++) {
		v[i] = gm_malloc(gm_class_size[c]);
		ck_assert_ptr_nonnull(v[i]);
	}
	*n = cnt;
	return v;
}

/* The length of the cache's list for class c, which room must mirror. */
static unsigned
list_len(unsigned c)
{
	unsigned n = 0;

	for (void *p = gm_tls_mcache->free[c]; p != NULL; p = *(void **)p)
		n++;
	ck_assert_uint_le(gm_tls_mcache->room[c], gm_tls_mcache->max[c]);
	ck_assert_uint_eq(n, gm_tls_mcache->max[c] - gm_tls_mcache->room[c]);
	return n;
}

START_TEST(refill_and_release_to_heap)
{
	unsigned c = gm_size_class(1000), n;
	void **v;
	uint64_t inuse0, inuse1;

	gm_opt.scavenge = false;
	inuse0 = atomic_load(&gm_heap.inuse);
	v = fill_span(c, &n);
	inuse1 = atomic_load(&gm_heap.inuse);
	/* Three spans' worth of objects came from at least three spans. */
	ck_assert_uint_ge(inuse1 - inuse0, 3 * gm_class_npages[c] * GM_PAGE_SIZE);
	for (unsigned i = 0; i < n; i++)
		ck_assert_uint_eq(gm_span_of((uintptr_t)v[i])->spanclass, c);
	/* Refills come in batches; the cache never holds more than its limit. */
	list_len(c);
	for (unsigned i = 0; i < n; i++) {
		gm_free(v[i]);
		ck_assert_uint_ge(list_len(c), 1);
	}
	/* Batches went back as the list grew: most spans are back in the heap. */
	ck_assert_uint_lt(atomic_load(&gm_heap.inuse) - inuse0, inuse1 - inuse0);
	/* Handing the cache back returns every span whose objects all came back. */
	gm_mcache_release_all(gm_tls_mcache);
	ck_assert_uint_le(atomic_load(&gm_heap.inuse), inuse0);
	ck_heap_ok();
	free(v);
}
END_TEST

struct xfer {
	void **v;
	unsigned n;
};

static void *
free_all(void *arg)
{
	struct xfer *x = arg;

	for (unsigned i = 0; i < x->n; i++)
		gm_free(x->v[i]);
	return NULL;
}

START_TEST(remote_free_returns_spans)
{
	unsigned c = gm_size_class(256), n;
	void **v;
	uint64_t inuse0;
	pthread_t t;
	struct xfer x;
	struct gomem_memstats a, b;

	gm_opt.scavenge = false;
	gm_read_memstats(&a);
	inuse0 = atomic_load(&gm_heap.inuse);
	v = fill_span(c, &n);
	x.v = v;
	x.n = n;
	/* Another thread frees everything, then exits (its cache goes back). */
	pthread_create(&t, NULL, free_all, &x);
	pthread_join(t, NULL);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, n);
	ck_assert_uint_eq(b.Frees - a.Frees, n);
	gm_mcache_release_all(gm_tls_mcache);
	ck_assert_uint_le(atomic_load(&gm_heap.inuse), inuse0);
	ck_identities(&b);
	ck_heap_ok();
	free(v);
}
END_TEST

static void *
thread_alloc_exit(void *arg)
{
	void **out = arg;

	for (int i = 0; i < 100; i++)
		out[i] = gm_malloc(64 + (i % 4) * 64);
	return NULL;
}

START_TEST(thread_exit_hands_cache_back)
{
	void *v[100];
	pthread_t t;
	uint64_t threads0 = gm_registry_.nthreads;
	struct gomem_memstats a, b;

	gm_read_memstats(&a);
	pthread_create(&t, NULL, thread_alloc_exit, v);
	pthread_join(t, NULL);
	gm_read_memstats(&b);
	ck_assert_uint_eq(gm_registry_.nthreads, threads0);
	/* The dead thread's counts survive in the totals. */
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, 100);
	for (int i = 0; i < 100; i++)
		gm_free(v[i]);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, 100);
	ck_assert_uint_eq(b.Frees - a.Frees, 100);
	ck_identities(&b);
	ck_heap_ok();
}
END_TEST

#define NPROD 20000
struct ring {
	void *slot[256];
	_Atomic unsigned head, tail;
};

static void *
consumer(void *arg)
{
	struct ring *r = arg;
	unsigned got = 0;

	while (got < NPROD) {
		unsigned t = atomic_load(&r->tail);

		if (t == atomic_load(&r->head))
			continue;
		void *p = r->slot[t % 256];
		ck_assert_int_eq(((unsigned char *)p)[0], (unsigned char)(t & 0xff));
		gm_free(p);
		atomic_store(&r->tail, t + 1);
		got++;
	}
	return NULL;
}

START_TEST(producer_consumer)
{
	static struct ring r;
	pthread_t t;
	struct gomem_memstats a, b;

	gm_read_memstats(&a);
	pthread_create(&t, NULL, consumer, &r);
	for (unsigned i = 0; i < NPROD; i++) {
		size_t n = 16 + (i * 37) % 3000;
		unsigned char *p = gm_malloc(n);

		memset(p, (int)(i & 0xff), n);
		while (atomic_load(&r.head) - atomic_load(&r.tail) == 256)
			;
		r.slot[i % 256] = p;
		atomic_store(&r.head, i + 1);
	}
	pthread_join(t, NULL);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, NPROD);
	ck_assert_uint_eq(b.Frees - a.Frees, NPROD);
	ck_assert_uint_eq(b.HeapObjects, a.HeapObjects);
	ck_assert_uint_eq(b.HeapAlloc, a.HeapAlloc);
	ck_identities(&b);
	ck_heap_ok();
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("mcentral");
	TCase *tc = tcase_create("spans");

	gm_ensure_init();
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, refill_and_release_to_heap);
	tcase_add_test(tc, remote_free_returns_spans);
	tcase_add_test(tc, thread_exit_hands_cache_back);
	tcase_add_test(tc, producer_consumer);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
