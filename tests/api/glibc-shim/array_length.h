/* glibc-shim: array_length.h (see support/check.h). */
#define array_length(a) (sizeof(a) / sizeof((a)[0]))
