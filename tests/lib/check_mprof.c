/*
 * check_mprof.c: allocation sampling follows Go's MemProfileRate rule (an
 * allocation of n bytes is sampled with probability 1 - exp(-n/rate)),
 * records nothing while untraced, and forgets every sampled block when it
 * is freed.  The probe's semaphore is raised by hand here, as the kernel
 * does when a tracer attaches.
 */
#include "testutil.h"
#include "probes.h"

#include <math.h>

START_TEST(untraced_records_nothing)
{
	void *v[2000];

	gm_opt.profile_rate = 4096;
	gomem_sample_alloc_semaphore = 0;
	for (int i = 0; i < 2000; i++)
		v[i] = gm_malloc(1000);
	ck_assert_uint_eq(gm_prof.samples, 0);
	for (int i = 0; i < 2000; i++)
		gm_free(v[i]);
}
END_TEST

START_TEST(sampling_rate_matches_go)
{
	enum { N = 4000 };
	static void *v[N];
	double expect = N * (1 - exp(-65536.0 / (512 * 1024)));
	uint64_t got;

	gm_opt.profile_rate = 512 * 1024;
	gm_tls_mcache->next_sample = 0;
	gomem_sample_alloc_semaphore = 1;
	for (int i = 0; i < N; i++)
		v[i] = gm_malloc(65536);
	got = gm_prof.samples;
	/* Poisson-ish: allow 5 standard deviations. */
	ck_assert_msg(fabs((double)got - expect) < 5 * sqrt(expect), "samples %llu, expected %.0f",
		      (unsigned long long)got, expect);
	ck_assert_uint_eq(gm_prof.count, got);
	for (int i = 0; i < N; i++)
		gm_free(v[i]);
	ck_assert_uint_eq(gm_prof.count, 0);
	gomem_sample_alloc_semaphore = 0;
}
END_TEST

START_TEST(small_objects_and_spans_forget_samples)
{
	enum { N = 100000 };
	static void *v[N];
	uint64_t inuse0 = atomic_load(&gm_heap.inuse);

	gm_opt.profile_rate = 1024;
	gm_tls_mcache->next_sample = 0;
	gomem_sample_alloc_semaphore = 1;
	for (int i = 0; i < N; i++)
		v[i] = gm_malloc(1 + (size_t)(i * 37) % 3000);
	ck_assert_uint_gt(gm_prof.count, 1000);
	for (int i = 0; i < N; i++) {
		gm_mspan *s = gm_span_of((uintptr_t)v[i]);

		ck_assert_uint_le(s->nsampled, s->nelems);
	}
	for (int i = 0; i < N; i += 2)
		gm_free(v[i]);
	for (int i = 1; i < N; i += 2)
		gm_free(v[i]);
	ck_assert_uint_eq(gm_prof.count, 0);
	gm_mcache_release_all(gm_tls_mcache);
	ck_assert_uint_le(atomic_load(&gm_heap.inuse), inuse0);
	gomem_sample_alloc_semaphore = 0;
	ck_heap_ok();
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("mprof");
	TCase *tc = tcase_create("sampling");

	gm_ensure_init();
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, untraced_records_nothing);
	tcase_add_test(tc, sampling_rate_matches_go);
	tcase_add_test(tc, small_objects_and_spans_forget_samples);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
