/*
 * glibc-shim: just enough of glibc's test support library (support/) to
 * build glibc's malloc tests outside glibc's build tree, against the
 * installed C library (preload_glibc_malloc.sh).  Written for this project;
 * the names and meanings follow glibc's support/check.h.
 */
#ifndef GLIBC_SHIM_CHECK_H
#define GLIBC_SHIM_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_UNSUPPORTED 77

/* Set by a failed TEST_VERIFY or TEST_COMPARE: the test exits 1. */
extern int shim_failed;

static inline void support_record_failure(void)
{
	shim_failed = 1;
}

#define TEST_VERIFY(e)                                                                             \
	do {                                                                                       \
		if (!(e)) {                                                                        \
			printf("%s:%d: not true: %s\n", __FILE__, __LINE__, #e);                   \
			shim_failed = 1;                                                           \
		}                                                                                  \
	} while (0)
#define TEST_VERIFY_EXIT(e)                                                                        \
	do {                                                                                       \
		if (!(e)) {                                                                        \
			printf("%s:%d: not true: %s\n", __FILE__, __LINE__, #e);                   \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)
#define TEST_COMPARE(a, b)                                                                         \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (a_ != b_) {                                                                    \
			printf("%s:%d: %s (%lld) != %s (%lld)\n", __FILE__, __LINE__, #a, a_, #b,  \
			       b_);                                                                \
			shim_failed = 1;                                                           \
		}                                                                                  \
	} while (0)
#define FAIL_EXIT(st, ...)                                                                         \
	do {                                                                                       \
		printf("%s:%d: ", __FILE__, __LINE__);                                             \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		exit(st);                                                                          \
	} while (0)
#define FAIL_EXIT1(...)	      FAIL_EXIT(1, __VA_ARGS__)
#define FAIL_UNSUPPORTED(...) FAIL_EXIT(EXIT_UNSUPPORTED, __VA_ARGS__)
#define FAIL(...)                                                                                  \
	do {                                                                                       \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		shim_failed = 1;                                                                   \
	} while (0)
#define FAIL_RET(...)                                                                              \
	do {                                                                                       \
		FAIL(__VA_ARGS__);                                                                 \
		return 1;                                                                          \
	} while (0)

#endif
