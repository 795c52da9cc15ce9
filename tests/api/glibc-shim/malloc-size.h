/* glibc-shim: malloc-size.h (see support/check.h): glibc's x86-64 values. */
#define MALLOC_ALIGNMENT  16
#define MALLOC_ALIGN_MASK (MALLOC_ALIGNMENT - 1)
