/*
 * print.c: output, small file reads, clocks and fatal errors, none of which
 * allocate.
 *
 * Messages are built in stack buffers and written with write(2), so they
 * are safe inside the allocator with its locks held (Go's HACKING.md: throw
 * with constant strings in perilous situations).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int gm_sys_open(const char *path)
{
	long fd;

	do
		fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	return (int)fd;
}

ssize_t gm_sys_read(int fd, void *buf, size_t n)
{
	long r;

	do
		r = syscall(SYS_read, fd, buf, n);
	while (r < 0 && errno == EINTR);
	return (ssize_t)r;
}

void gm_sys_close(int fd)
{
	int e = errno;

	syscall(SYS_close, fd);
	errno = e;
}

/* Read up to len - 1 bytes of path into buf, NUL-terminated; -1 on error. */
ssize_t gm_read_small(const char *path, char *buf, size_t len)
{
	size_t n = 0;
	int fd = gm_sys_open(path);

	if (fd < 0)
		return -1;
	while (n + 1 < len) {
		ssize_t r = gm_sys_read(fd, buf + n, len - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
	}
	gm_sys_close(fd);
	buf[n] = 0;
	return (ssize_t)n;
}

/*
 * Write a NUL-terminated string to fd, retrying short and interrupted
 * writes.  The raw system call: write(2) is a cancellation point, and a
 * thread with a cancellation pending would end part-way through a fatal
 * error's message or malloc_stats' lines (glibc's malloc_stats writes with
 * cancellation off for the same reason; its tst-malloc-stats-cancellation).
 */
void gm_write_str(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		long w = syscall(SYS_write, fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Format v in decimal into buf (at least 21 bytes); returns the length. */
size_t gm_fmt_u64(char *buf, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = 0;
	return n;
}

/* Format v as 0x... into buf (at least 19 bytes); returns the length. */
size_t gm_fmt_hex(char *buf, uintptr_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	size_t n = 0, i;

	do {
		tmp[n++] = digits[v & 15];
		v >>= 4;
	} while (v != 0);
	buf[0] = '0';
	buf[1] = 'x';
	for (i = 0; i < n; i++)
		buf[2 + i] = tmp[n - 1 - i];
	buf[2 + n] = 0;
	return 2 + n;
}

/* Print msg on stderr and abort. */
void gm_throw(const char *msg)
{
	gm_write_str(2, msg);
	gm_write_str(2, "\n");
	abort();
}

/* Print "msg 0x..." on stderr and abort. */
void gm_throw_ptr(const char *msg, const void *p)
{
	char buf[24];

	gm_fmt_hex(buf, (uintptr_t)p);
	gm_write_str(2, msg);
	gm_write_str(2, " ");
	gm_write_str(2, buf);
	gm_write_str(2, "\n");
	abort();
}

static uint64_t gm_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Monotonic time in ns. */
uint64_t gm_nanotime(void)
{
	return gm_clock_ns(CLOCK_MONOTONIC);
}

/* Wall-clock time in ns since the epoch. */
uint64_t gm_walltime(void)
{
	return gm_clock_ns(CLOCK_REALTIME);
}

/*
 * Wall-clock time in ns at the kernel's last tick (1-4 ms behind, never
 * ahead): for a sample's time, which leak ages read in seconds.  A third
 * of the precise clock's cost here (no TSC read: 27 against 80-108 ns).
 */
uint64_t gm_walltime_coarse(void)
{
	return gm_clock_ns(CLOCK_REALTIME_COARSE);
}

/* CPU time of the calling thread in ns. */
uint64_t gm_thread_cpu_ns(void)
{
	return gm_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}
