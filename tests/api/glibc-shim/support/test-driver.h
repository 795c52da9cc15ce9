/* glibc-shim: support/test-driver.h (see check.h). */
#ifndef GLIBC_SHIM_TEST_DRIVER_H
#define GLIBC_SHIM_TEST_DRIVER_H

#include "check.h"

/* Seconds; test-driver.c gives a test three times its TIMEOUT. */
#define DEFAULT_TIMEOUT 20

static inline void delayed_exit(int seconds)
{
	(void)seconds;
}

#endif
