/* glibc-shim: the old test skeleton, now the test driver (see check.h). */
#include "support/test-driver.c"
