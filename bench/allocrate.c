/*
 * allocrate.c: an allocation-heavy program at a chosen rate, for
 * profile-overhead.sh.
 *
 *   allocrate [SECONDS] [MAXSIZE]      (default 3 s, 4096 B)
 *
 * Replaces one block of a ring of 4096 live blocks (16 B .. MAXSIZE, xorshift
 * sizes) per step and writes every byte of the new block, as a program that
 * uses its memory does; that keeps it near 5 GB/s of allocation on one core
 * of a current x86-64.  Runs for SECONDS of CPU time and prints
 *   ALLOCRATE cpu_ns=N bytes=N allocs=N GBps=X
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING 4096

static uint64_t
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
main(int argc, char **argv)
{
	static void *ring[RING];
	double secs = argc > 1 ? atof(argv[1]) : 3;
	size_t maxsize = argc > 2 ? strtoul(argv[2], NULL, 10) : 4096;
	uint64_t x = 88172645463325252u, bytes = 0, n = 0, t0, t;

	if (secs <= 0 || maxsize < 32)
		return 2;
	t0 = cpu_ns();
	do {
		for (int i = 0; i < 4096; i++) {
			size_t k, sz;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			k = x % RING;
			sz = 16 + (x >> 24) % (maxsize - 15);
			free(ring[k]);
			ring[k] = malloc(sz);
			if (ring[k] == NULL)
				return 1;
			memset(ring[k], (int)n, sz);
			bytes += sz;
			n++;
		}
		t = cpu_ns() - t0;
	} while (t < secs * 1e9);
	for (int i = 0; i < RING; i++)
		free(ring[i]);
	printf("ALLOCRATE cpu_ns=%llu bytes=%llu allocs=%llu GBps=%.2f\n", (unsigned long long)t,
	       (unsigned long long)bytes, (unsigned long long)n, (double)bytes / (double)t);
	return 0;
}
