/*
 * test_conf.c: the published configuration (daemon/core/conf.c) under
 * concurrent readers: every reader sees one whole configuration, never a
 * mix of two, and a reference stays valid across any number of reloads.
 * Built with --enable-tsan, ThreadSanitizer checks the same runs.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"

#include "../common/suite.h"

#define RELOADS 2000
#define READERS 4

/* Build a configuration whose listen port and grace period agree (port = 10000 + grace). */
static void
build(struct gomemd_config *c, unsigned grace)
{
	char listen[64], gr[16], err[256];
	char *argv[] = {"gomemd", "--listen", listen, "--grace", gr, "--library", "/nonexistent/libgomem.so", NULL};

	snprintf(listen, sizeof listen, "127.0.0.1:%u", 10000 + grace);
	snprintf(gr, sizeof gr, "%u", grace);
	ck_assert_int_eq(conf_build(c, 7, argv, err, sizeof err), 0);
}

static int stop;

/* Read the current configuration over and over; count the torn ones. */
static void *
reader(void *arg)
{
	unsigned long bad = 0, reads = 0;

	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		const struct gomemd_config *c = conf_get();
		char want[64];

		if (c == NULL)
			continue;
		snprintf(want, sizeof want, "127.0.0.1:%u", 10000 + c->grace_s);
		bad += strcmp(c->listen, want) != 0 || c->nlibraries != 1;
		reads++;
		conf_put(c);
	}
	return (void *)(bad + (reads == 0));
}

START_TEST(test_publish_under_readers)
{
	pthread_t th[READERS];
	struct gomemd_config c;
	unsigned i;
	void *rv;

	build(&c, 0);
	conf_publish(&c);
	ck_assert_ptr_null(c.listen); /* moved into the published copy */
	for (i = 0; i < READERS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, reader, NULL), 0);
	for (i = 1; i <= RELOADS; i++) {
		build(&c, i % 50000);
		conf_publish(&c);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < READERS; i++) {
		ck_assert_int_eq(pthread_join(th[i], &rv), 0);
		ck_assert_msg(rv == NULL, "reader %u saw %lu torn configurations (or none)", i,
			      (unsigned long)(uintptr_t)rv);
	}
	conf_unpublish();
	ck_assert_ptr_null(conf_get());
}
END_TEST

START_TEST(test_reference_outlives_reload)
{
	const struct gomemd_config *old, *now;
	struct gomemd_config c;

	build(&c, 7);
	conf_publish(&c);
	old = conf_get();
	build(&c, 8);
	conf_publish(&c);
	now = conf_get();
	ck_assert_ptr_ne(old, now);
	ck_assert_str_eq(old->listen, "127.0.0.1:10007"); /* still there */
	ck_assert_uint_eq(old->grace_s, 7);
	ck_assert_str_eq(now->listen, "127.0.0.1:10008");
	conf_put(old);
	conf_unpublish();
	ck_assert_str_eq(now->listen, "127.0.0.1:10008"); /* held by this reader */
	conf_put(now);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("publish");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_publish_under_readers);
	tcase_add_test(tc, test_reference_outlives_reload);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
