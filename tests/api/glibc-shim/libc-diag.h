/* glibc-shim: libc-diag.h (see support/check.h); the runner builds with -w. */
#define DIAG_PUSH_NEEDS_COMMENT		   _Pragma("GCC diagnostic push")
#define DIAG_POP_NEEDS_COMMENT		   _Pragma("GCC diagnostic pop")
#define DIAG_IGNORE_NEEDS_COMMENT(v, o)	   /* nothing */
#define DIAG_IGNORE_Os_NEEDS_COMMENT(v, o) /* nothing */
