/*
 * rss.h: the resident set size of the calling process, shared by the
 * tests and benchmarks.  Reads /proc/self/statm with open/read/sscanf, so
 * it allocates nothing: under a preloaded allocator the measurement does
 * not disturb what it measures.
 */
#ifndef GOMEM_TESTS_RSS_H
#define GOMEM_TESTS_RSS_H

#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

/* Resident set size in bytes; 0 if /proc/self/statm cannot be read. */
static inline size_t
rss_bytes(void)
{
	unsigned long size = 0, res = 0;
	char buf[128];
	ssize_t n;
	int fd;

	fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%lu %lu", &size, &res) != 2)
		return 0;
	return res * (size_t)sysconf(_SC_PAGESIZE);
}

#endif /* GOMEM_TESTS_RSS_H */
