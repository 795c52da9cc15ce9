/*
 * cglimit.c: the soft memory limit follows the memory cgroup (cgroup.sh
 * starts it inside a cgroup it made).
 *
 *   cglimit follow FILE START LOWER NOLIMIT SOURCE
 *       The limit comes from the cgroup (MemoryLimitSource SOURCE), the raw
 *       limit is START and the soft limit START less the documented headroom;
 *       after writing LOWER to FILE (the cgroup's limit file) the limit
 *       follows within 3 s; after writing NOLIMIT ("-1" or "max") it goes;
 *       once the program sets a limit itself the cgroup no longer moves it.
 *   cglimit env START GOMEMLIMIT_BYTES
 *       GOMEMLIMIT wins over the cgroup; the cgroup's limit is still shown.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gomem.h"

static int failed;

#define CHECK(cond, ...)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			printf("FAIL: " __VA_ARGS__);                                      \
			printf("\n");                                                      \
			failed = 1;                                                        \
		}                                                                          \
	} while (0)

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The headroom rule of gomem(3): less 10% or 8 MiB, never below half. */
static unsigned long long
soft_of(unsigned long long cg)
{
	unsigned long long room = cg / 10 > (8ull << 20) ? cg / 10 : 8ull << 20;

	if (room > cg / 2)
		room = cg / 2;
	return cg - room;
}

static void
write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || write(fd, value, strlen(value)) != (ssize_t)strlen(value)) {
		printf("FAIL: cannot write %s to %s: %s\n", value, path, strerror(errno));
		exit(1);
	}
	close(fd);
}

/* Wait up to 3 s for the snapshot to show limit and cgroup; seconds or -1. */
static double
wait_for(unsigned long long limit, unsigned long long cg, struct gomem_memstats *m)
{
	double t0 = now();

	do {
		gomem_read_memstats(m);
		if (m->MemoryLimit == limit && m->CgroupMemoryLimit == cg)
			return now() - t0;
		usleep(5000);
	} while (now() - t0 < 3.0);
	return -1;
}

int
main(int argc, char **argv)
{
	struct gomem_memstats m;
	unsigned long long start, lower;
	double t;

	if (argc < 4)
		return 2;
	start = strtoull(argc > 3 && strcmp(argv[1], "follow") == 0 ? argv[3] : argv[2], NULL, 10);
	gomem_read_memstats(&m);
	printf("cglimit: MemoryLimit %llu, MemoryLimitSource %llu, CgroupMemoryLimit %llu\n",
	       m.MemoryLimit, m.MemoryLimitSource, m.CgroupMemoryLimit);
	if (strcmp(argv[1], "env") == 0) {
		unsigned long long env = strtoull(argv[3], NULL, 10);

		CHECK(m.MemoryLimitSource == GOMEM_LIMIT_ENV, "source %llu, want GOMEMLIMIT",
		      m.MemoryLimitSource);
		CHECK(m.MemoryLimit == env, "limit %llu, want GOMEMLIMIT's %llu", m.MemoryLimit, env);
		CHECK(m.CgroupMemoryLimit == start, "cgroup limit %llu, want %llu",
		      m.CgroupMemoryLimit, start);
		return failed;
	}
	if (argc != 7 || strcmp(argv[1], "follow") != 0)
		return 2;
	lower = strtoull(argv[4], NULL, 10);
	CHECK(m.MemoryLimit > 0 && m.MemoryLimit <= start, "limit %llu not in (0, %llu]",
	      m.MemoryLimit, start);
	CHECK(m.MemoryLimit == soft_of(start), "limit %llu, want %llu less headroom = %llu",
	      m.MemoryLimit, start, soft_of(start));
	CHECK(m.CgroupMemoryLimit == start, "cgroup limit %llu, want %llu", m.CgroupMemoryLimit,
	      start);
	CHECK(m.MemoryLimitSource == strtoull(argv[6], NULL, 10), "source %llu, want %s",
	      m.MemoryLimitSource, argv[6]);
	CHECK(gomem_memory_limit() == (long long)m.MemoryLimit, "gomem_memory_limit disagrees");

	write_file(argv[2], argv[4]);
	t = wait_for(soft_of(lower), lower, &m);
	printf("cglimit: cgroup lowered to %llu MiB: MemoryLimit %llu MiB after %.3f s\n",
	       lower >> 20, m.MemoryLimit >> 20, t);
	CHECK(t >= 0, "the limit did not follow the cgroup within 3 s (%llu)", m.MemoryLimit);

	write_file(argv[2], argv[5]);
	t = wait_for(0, 0, &m);
	printf("cglimit: cgroup limit removed: MemoryLimit %llu after %.3f s\n", m.MemoryLimit, t);
	CHECK(t >= 0, "the limit did not go with the cgroup's within 3 s (%llu)", m.MemoryLimit);
	CHECK(m.MemoryLimitSource == GOMEM_LIMIT_NONE, "source %llu after removal",
	      m.MemoryLimitSource);

	/* The program's own limit wins from then on. */
	gomem_set_memory_limit(64ll << 20);
	write_file(argv[2], argv[4]);
	usleep(1500000);
	gomem_read_memstats(&m);
	CHECK(m.MemoryLimit == 64ull << 20 && m.MemoryLimitSource == GOMEM_LIMIT_API,
	      "after gomem_set_memory_limit the cgroup moved the limit (%llu, source %llu)",
	      m.MemoryLimit, m.MemoryLimitSource);
	if (!failed)
		printf("PASS: cglimit follow\n");
	return failed;
}
