/*
 * spike.c: a transient spike goes back to the OS within a second.
 *
 * Allocates about 1 GiB in small and medium objects through the exported
 * malloc, frees all but 1%, then watches RSS (/proc/self/statm) for one
 * second.  "release" mode passes when RSS <= 1.1 x live heap + 16 MiB within
 * that second and HeapReleased accounts for the difference; "retain" mode
 * (run with GOMEMDEBUG=scavenge=0) passes when RSS stays above that bound,
 * which shows it was the scavenger that gave the memory back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gomem.h"

#include "../common/rss.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	int release = argc > 1 && strcmp(argv[1], "release") == 0;
	size_t target = (size_t)1 << 30, total = 0, n = 0, cap = 1 << 20;
	void **v = malloc(cap * sizeof(void *));
	unsigned x = 12345;
	struct gomem_memstats m;
	double t0, t;
	size_t r = 0, bound = 0, live;
	int ok = 0;

	while (total < target) {
		size_t sz;

		x = x * 1103515245u + 12345u;
		sz = (x >> 8) % 10 < 7 ? 16 + (x >> 12) % 496 : 512 + (x >> 12) % 16000;
		if (n == cap)
			break;
		v[n] = malloc(sz);
		memset(v[n], 1, sz);
		total += sz;
		n++;
	}
	/* The long-lived 1% was allocated first; the spike on top of it goes. */
	for (size_t i = n / 100; i < n; i++)
		free(v[i]);
	gomem_read_memstats(&m);
	live = m.HeapAlloc;
	bound = live + live / 10 + ((size_t)16 << 20);
	printf("spike: %zu objects, %zu MiB allocated, live %zu KiB, RSS right after free %zu MiB\n",
	       n, total >> 20, live >> 10, rss_bytes() >> 20);
	t0 = now();
	do {
		usleep(20000);
		r = rss_bytes();
		t = now() - t0;
		if (r <= bound) {
			ok = 1;
			break;
		}
	} while (t < 1.0);
	if (!release) {
		/* Let a scavenger that should not be running show itself. */
		usleep(500000);
		r = rss_bytes();
		ok = r <= bound;
	}
	gomem_read_memstats(&m);
	printf("spike: after %.2f s RSS %zu MiB, bound %zu MiB, HeapSys %llu MiB, HeapReleased "
	       "%llu MiB, retained %llu MiB\n",
	       t, r >> 20, bound >> 20, m.HeapSys >> 20, m.HeapReleased >> 20,
	       (m.HeapSys - m.HeapReleased) >> 20);
	if (release) {
		if (!ok) {
			printf("FAIL: RSS did not drop under the bound within 1 s\n");
			return 1;
		}
		if (m.HeapSys - m.HeapReleased > bound) {
			printf("FAIL: HeapReleased does not account for the release\n");
			return 1;
		}
		return 0;
	}
	if (ok) {
		printf("FAIL: RSS dropped although the scavenger is off\n");
		return 1;
	}
	return 0;
}
