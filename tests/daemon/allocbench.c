/*
 * allocbench.c: an allocation-heavy loop for tests/daemon/overhead.sh.
 *
 *   allocbench [OPS]    (default 20000000)
 *
 * Keeps a ring of 4096 live objects of 16..1024 bytes (xorshift sizes),
 * replacing one per operation (a free and a malloc), and prints the CPU
 * time of the whole process in nanoseconds (all threads, user + system:
 * the library's stats thread and uprobe traps included; steadier than
 * wall time on a shared machine).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING 4096

int
main(int argc, char **argv)
{
	static void *ring[RING];
	unsigned long long ops = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000ull, i;
	uint64_t x = 88172645463325252ull, t0, t1;
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	t0 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	for (i = 0; i < ops; i++) {
		size_t k = i % RING, size;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size = 16 + (size_t)(x % 1009);
		free(ring[k]);
		ring[k] = malloc(size);
		((volatile char *)ring[k])[0] = (char)i;
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	t1 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	for (i = 0; i < RING; i++)
		free(ring[i]);
	printf("%llu\n", (unsigned long long)(t1 - t0));
	return 0;
}
