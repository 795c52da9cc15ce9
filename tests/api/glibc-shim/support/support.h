/* glibc-shim: support/support.h (see check.h). */
#ifndef GLIBC_SHIM_SUPPORT_H
#define GLIBC_SHIM_SUPPORT_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static inline void *shim_checked(void *p, const char *what)
{
	if (p == NULL) {
		printf("%s failed\n", what);
		exit(1);
	}
	return p;
}

static inline void *xmalloc(size_t n)
{
	return n == 0 ? malloc(0) : shim_checked(malloc(n), "xmalloc");
}

static inline void *xcalloc(size_t a, size_t b)
{
	return shim_checked(calloc(a, b), "xcalloc");
}

static inline void *xrealloc(void *p, size_t n)
{
	return n == 0 ? realloc(p, 0) : shim_checked(realloc(p, n), "xrealloc");
}

static inline char *xstrdup(const char *s)
{
	return shim_checked(strdup(s), "xstrdup");
}

/* Shared with forked children; never unmapped (the tests exit). */
static inline void *support_shared_allocate(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return shim_checked(p == MAP_FAILED ? NULL : p, "support_shared_allocate");
}

static inline void support_shared_free(void *p)
{
	(void)p;
}

/* Async-signal-safe: a signal handler's message. */
static inline void write_message(const char *m)
{
	ssize_t r = write(STDOUT_FILENO, m, strlen(m));

	(void)r;
}

static inline void ignore_stderr(void)
{
	int fd = open("/dev/null", O_WRONLY);

	dup2(fd, STDERR_FILENO);
	close(fd);
}

static inline long xsysconf(int name)
{
	long r = sysconf(name);

	if (r < 0) {
		printf("sysconf(%d) failed\n", name);
		exit(1);
	}
	return r;
}

#endif
