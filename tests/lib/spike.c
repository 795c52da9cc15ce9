/*
 * spike.c: a freed spike goes back to the OS within a second, down to the
 * floor its survivors allow.
 *
 * Allocates MiB (default 1536) in small and medium objects through the
 * exported malloc, frees all but a random 1%, then reads RSS
 * (/proc/self/statm) for one second.  The floors come from the survivors'
 * own addresses: the RSS before the spike plus every 8 KiB page (for
 * "floor8"; 4 KiB OS pages for "floor4") that holds a byte of a survivor,
 * which is what an allocator that releases every free page of that size
 * would keep.
 *
 *   spike release [MiB]   passes when RSS one second after the free is
 *                         within 1.1 x floor8 + 16 MiB and HeapReleased +
 *                         HeapInuseReleased account for it
 *                         (exit 3, inconclusive, when it failed while the
 *                         scavenger waited over half that second for a CPU
 *                         (its schedstat): load beyond a busy loop per core
 *                         starved it)
 *   spike retain [MiB]    (GOMEMDEBUG=scavenge=0) passes when RSS stays
 *                         above that bound: it was the scavenger
 * A line "spike: result ..." carries the figures for spike.sh.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "gomem.h"

#include "../common/rss.h"

#define MiB ((size_t)1 << 20)

struct obj {
	uintptr_t p;
	size_t n;
};


static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
by_addr(const void *a, const void *b)
{
	const struct obj *x = a, *y = b;

	return x->p < y->p ? -1 : x->p > y->p;
}

/* Bytes of the distinct pages of 2^shift bytes that hold survivor bytes. */
static size_t
floor_bytes(const struct obj *v, size_t n, unsigned shift)
{
	uintptr_t last = UINTPTR_MAX;
	size_t pages = 0, i;

	for (i = 0; i < n; i++) {
		uintptr_t a = v[i].p >> shift, b = (v[i].p + v[i].n - 1) >> shift;

		if (last != UINTPTR_MAX && a <= last)
			a = last + 1;
		if (a <= b)
			pages += b - a + 1;
		if (last == UINTPTR_MAX || b > last)
			last = b;
	}
	return pages << shift;
}

/*
 * Nanoseconds the scavenger thread ("gomem-scav") has spent waiting on a run
 * queue (the second field of its schedstat), or -1 when that is not known.
 */
static long long
scav_wait_ns(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	long long wait = -1;

	if (d == NULL)
		return -1;
	while (wait < 0 && (e = readdir(d)) != NULL) {
		char path[300], comm[32] = "";
		unsigned long long run, w;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(comm, sizeof(comm), f) == NULL)
			comm[0] = 0;
		fclose(f);
		if (strcmp(comm, "gomem-scav\n") != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fscanf(f, "%llu %llu", &run, &w) == 2)
			wait = (long long)w;
		fclose(f);
	}
	closedir(d);
	return wait;
}

int
main(int argc, char **argv)
{
	int release = argc > 1 && strcmp(argv[1], "release") == 0;
	size_t target = (argc > 2 ? strtoul(argv[2], NULL, 10) : 1536) * MiB;
	size_t cap = target / 1024, total = 0, n = 0, keep = 0, i;
	struct obj *v = mmap(NULL, cap * sizeof(*v), PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t x = 88172645463325252ull;
	struct gomem_memstats m;
	size_t base, r0, r1 = 0, f8, f4, bound;
	unsigned long long retained, cpu0, cpu1;
	long long wait0, wait1;
	double t0, t;

	if (v == MAP_FAILED)
		return 2;
	base = rss_bytes();
	while (total < target && n < cap) {
		size_t sz;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		sz = x % 10 < 7 ? 16 + (x >> 8) % 496 : 512 + (x >> 8) % 16000;
		v[n].p = (uintptr_t)malloc(sz);
		if (v[n].p == 0)
			return 2;
		v[n].n = sz;
		memset((void *)v[n].p, 1, sz);
		total += sz;
		n++;
	}
	/* Free all but a random 1%; the survivors move to the front. */
	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (x % 100 == 0)
			v[keep++] = v[i];
		else
			free((void *)v[i].p);
	}
	gomem_read_memstats(&m);
	cpu0 = m.ScavengeCPUNs;
	wait0 = scav_wait_ns();
	t0 = now();
	/* The bookkeeping beyond the survivors goes too, so it is no floor. */
	{
		size_t ps = (size_t)sysconf(_SC_PAGESIZE);
		uintptr_t from = ((uintptr_t)(v + keep) + ps - 1) & ~(ps - 1);
		uintptr_t to = (uintptr_t)(v + cap) & ~(ps - 1);

		if (to > from)
			madvise((void *)from, to - from, MADV_DONTNEED);
	}
	r0 = rss_bytes();
	do {
		usleep(10000);
		t = now() - t0;
		r1 = rss_bytes();
	} while (t < 1.0);
	gomem_read_memstats(&m);
	cpu1 = m.ScavengeCPUNs;
	wait1 = scav_wait_ns();

	qsort(v, keep, sizeof(*v), by_addr);
	f8 = base + floor_bytes(v, keep, 13) + keep * sizeof(*v);
	f4 = base + floor_bytes(v, keep, 12) + keep * sizeof(*v);
	bound = f8 + f8 / 10 + 16 * MiB;
	if (!release) {
		/* Let a scavenger that should not be running show itself. */
		usleep(500000);
		r1 = rss_bytes();
	}
	printf("spike: %zu objects, %zu MiB, %zu survivors (%zu KiB); RSS before %zu MiB, right "
	       "after the free %zu MiB\n",
	       n, total / MiB, keep, (size_t)(m.HeapAlloc >> 10), base / MiB, r0 / MiB);
	retained = m.HeapSys - m.HeapReleased - m.HeapInuseReleased;
	printf("spike: the scavenger used %.0f ms of CPU in the second after the free, and "
	       "waited %.0f ms for one\n",
	       (double)(cpu1 - cpu0) / 1e6,
	       wait0 >= 0 && wait1 >= wait0 ? (double)(wait1 - wait0) / 1e6 : -1.0);
	printf("spike: result rss_1s_kib=%zu floor8_kib=%zu floor4_kib=%zu bound_kib=%zu "
	       "over_floor8=%.3f over_floor4=%.3f heap_retained_kib=%llu "
	       "heap_inuse_released_kib=%llu\n",
	       r1 >> 10, f8 >> 10, f4 >> 10, bound >> 10, (double)r1 / (double)f8,
	       (double)r1 / (double)f4, retained >> 10, m.HeapInuseReleased >> 10);
	if (release) {
		if (r1 > bound && wait0 >= 0 && wait1 - wait0 > 500000000ll) {
			/* With a busy loop per core the scavenger's fair share is
			 * at least 2/3 of a CPU; waiting for one over half the
			 * second means other load starved it, and the run says
			 * nothing about the scavenger. */
			printf("INCONCLUSIVE: RSS %zu MiB over the bound, but the scavenger waited "
			       "%.0f ms for a CPU in that second\n",
			       r1 / MiB, (double)(wait1 - wait0) / 1e6);
			return 3;
		}
		if (r1 > bound) {
			printf("FAIL: RSS one second after the free is %zu MiB, over 1.1 x floor8 + 16 "
			       "MiB = %zu MiB\n",
			       r1 / MiB, bound / MiB);
			return 1;
		}
		if (retained > bound) {
			printf("FAIL: HeapReleased + HeapInuseReleased do not account for the "
			       "release\n");
			return 1;
		}
		return 0;
	}
	if (r1 <= bound) {
		printf("FAIL: RSS dropped although the scavenger is off\n");
		return 1;
	}
	return 0;
}
