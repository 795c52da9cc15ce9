/* suite.h: run a Check suite, the main() of every Check test program. */
#ifndef GOMEM_TESTS_SUITE_H
#define GOMEM_TESTS_SUITE_H

#include <check.h>

/* Run every test of s; 0 when all passed, 1 otherwise. */
static inline int
run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

#endif /* GOMEM_TESTS_SUITE_H */
