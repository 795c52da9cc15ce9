/* glibc-shim: support/xunistd.h (see check.h): each call or exit 1. */
#ifndef GLIBC_SHIM_XUNISTD_H
#define GLIBC_SHIM_XUNISTD_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHIM_ERRNO(ok, what)                                                                       \
	do {                                                                                       \
		if (!(ok)) {                                                                       \
			perror(what);                                                              \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

static inline pid_t xfork(void)
{
	pid_t p = fork();

	SHIM_ERRNO(p >= 0, "fork");
	return p;
}

static inline int xopen(const char *path, int flags, int mode)
{
	int fd = open(path, flags, mode);

	SHIM_ERRNO(fd >= 0, path);
	return fd;
}

static inline void *xmmap(void *a, size_t n, int prot, int flags, int fd)
{
	void *p = mmap(a, n, prot, flags, fd, 0);

	SHIM_ERRNO(p != MAP_FAILED, "mmap");
	return p;
}

static inline pid_t xwaitpid(pid_t pid, int *status, int flags)
{
	pid_t r = waitpid(pid, status, flags);

	SHIM_ERRNO(r >= 0, "waitpid");
	return r;
}

#define xclose(fd)	 SHIM_ERRNO(close(fd) == 0, "close")
#define xmunmap(a, n)	 SHIM_ERRNO(munmap(a, n) == 0, "munmap")
#define xpipe(fds)	 SHIM_ERRNO(pipe(fds) == 0, "pipe")
#define xwrite(fd, b, n) SHIM_ERRNO(write(fd, b, n) == (ssize_t)(n), "write")

#endif
