/*
 * check_run.h: the main() of the daemon module unit tests: one suite, one
 * test case, an optional checked fixture, exit 0 when every test passed.
 */
#ifndef GOMEMD_CHECK_RUN_H
#define GOMEMD_CHECK_RUN_H

#include <check.h>
#include <stddef.h>

#include "../common/suite.h"

/* Run tests[0..n) as suite name; the process's exit status. */
static inline int check_run(const char *name, SFun setup, SFun teardown, const TTest *const *tests,
			    size_t n)
{
	Suite *s = suite_create(name);
	TCase *tc = tcase_create(name);
	size_t i;

	/* Check's default of 4 s is too close for the ThreadSanitizer build on
	 * a loaded machine (check_flame's bad input, 65 MiB gzipped and
	 * inflated: 3-4 s there); a hang still ends the test. */
	tcase_set_timeout(tc, 60);
	if (setup != NULL || teardown != NULL)
		tcase_add_checked_fixture(tc, setup, teardown);
	for (i = 0; i < n; i++)
		tcase_add_test(tc, tests[i]);
	suite_add_tcase(s, tc);
	return run_suite(s);
}

#define CHECK_RUN(name, setup, teardown, ...)                                                      \
	do {                                                                                       \
		const TTest *const t_[] = {__VA_ARGS__};                                           \
		return check_run(name, setup, teardown, t_, sizeof t_ / sizeof t_[0]);             \
	} while (0)

#endif /* GOMEMD_CHECK_RUN_H */
