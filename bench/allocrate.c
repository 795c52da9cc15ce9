/*
 * allocrate.c: an allocation-heavy program at a chosen rate, for
 * profile-overhead.sh.
 *
 *   allocrate [SECONDS] [MAXSIZE]      (default 3 s, 4096 B)
 *   allocrate -s SLICES [SLICE_MS] [MAXSIZE]
 *
 * Replaces one block of a ring of 4096 live blocks (16 B .. MAXSIZE, xorshift
 * sizes) per step and writes every byte of the new block, as a program that
 * uses its memory does; that keeps it near 5 GB/s of allocation on one core
 * of a current x86-64.  Runs for SECONDS of CPU time and prints
 *   ALLOCRATE cpu_ns=N bytes=N allocs=N GBps=X
 *
 * -s: the profile's cost inside one process, where the machine's drift
 * (other programs, frequency, a noisy neighbour) is the same for both
 * sides.  Under libgomem, SLICES pairs of slices of about SLICE_MS (default
 * 20) of CPU time each, sampling on (the rate the process started with,
 * GOMEM_PROFILE_RATE) in one and off (gomem_set_profile_rate(0)) in the
 * other, the order alternating (on-off, off-on, ...).  The CPU time per byte
 * of each on slice over that of its pair's off slice is one ratio; it prints
 * their median and quartiles, and what a sample costs:
 *   ALLOCRATE_SLICES pairs=N median=R q1=R q3=R overhead_pct=P GBps=X
 *            samples_per_s=S ns_per_sample=C
 * A watching gomemd works as it always does, so its pulls
 * (process_vm_readv of the table) land in on and off slices alike.
 *
 * ALLOCRATE_PASSES=N in the environment writes every new block N times
 * (default 1): a program that does more with its memory allocates fewer
 * bytes per second of CPU, so N picks the allocation rate (on a machine
 * where one pass runs at 10 GB/s, 2 passes give about 5).
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gomem_profile.h"

#define RING 4096

static uint64_t
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *ring[RING];
static uint64_t x = 88172645463325252u;

static int passes = 1; /* ALLOCRATE_PASSES */

/* steps replacements; the bytes allocated. */
static uint64_t
churn(size_t maxsize, uint64_t steps)
{
	uint64_t bytes = 0;

	for (uint64_t i = 0; i < steps; i++) {
		size_t k, sz;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		k = x % RING;
		sz = 16 + (x >> 24) % (maxsize - 15);
		free(ring[k]);
		ring[k] = malloc(sz);
		if (ring[k] == NULL)
			exit(1);
		for (int w = 0; w < passes; w++) {
			memset(ring[k], (int)(i + w), sz);
			__asm__ volatile("" ::: "memory"); /* every pass is a real write */
		}
		bytes += sz;
	}
	return bytes;
}

static int
cmp_double(const void *a, const void *b)
{
	double u = *(const double *)a, v = *(const double *)b;

	return u < v ? -1 : u > v;
}

/* libgomem's profile table (gomem_profile.h), found by name: NULL without it. */
static const volatile struct gomem_profile *
profile_table(void)
{
	return (const volatile struct gomem_profile *)dlsym(RTLD_DEFAULT, "gomem_profile");
}

static int
slices(int npairs, double slice_ms, size_t maxsize)
{
	int64_t (*set_rate)(int64_t) = (int64_t(*)(int64_t))dlsym(RTLD_DEFAULT,
								    "gomem_set_profile_rate");
	double *ratio = calloc((size_t)npairs, sizeof(double)), on_ns = 0, on_bytes = 0;
	double off_ns = 0, off_bytes = 0;
	const volatile struct gomem_profile *tab = profile_table();
	uint64_t steps = 4096, t0, n, rate, nsamples = 0;

	if (set_rate == NULL || tab == NULL || ratio == NULL) {
		fprintf(stderr, "allocrate -s: run it with libgomem preloaded\n");
		return 2;
	}
	rate = (uint64_t)set_rate(-1);
	if (rate == 0) {
		fprintf(stderr, "allocrate -s: sampling is off (GOMEM_PROFILE_RATE=0)\n");
		return 2;
	}
	/* Warm up for 100 ms of CPU time; size a slice from the rate seen. */
	churn(maxsize, RING);
	t0 = cpu_ns();
	for (n = 0; cpu_ns() - t0 < 100000000u; n += steps)
		churn(maxsize, steps);
	steps = (uint64_t)((double)n * slice_ms * 1e6 / (double)(cpu_ns() - t0));
	if (steps < 1024)
		steps = 1024;
	for (int p = 0; p < npairs; p++) {
		double ns[2], b[2];

		for (int k = 0; k < 2; k++) {
			int on = (p % 2 == 0) == (k == 0);
			uint64_t t, s0 = tab->samples;

			set_rate(on ? (int64_t)rate : 0);
			t = cpu_ns();
			b[on] = (double)churn(maxsize, steps);
			ns[on] = (double)(cpu_ns() - t);
			if (on)
				nsamples += tab->samples - s0;
		}
		ratio[p] = (ns[1] / b[1]) / (ns[0] / b[0]);
		on_ns += ns[1];
		on_bytes += b[1];
		off_ns += ns[0];
		off_bytes += b[0];
	}
	set_rate((int64_t)rate);
	qsort(ratio, (size_t)npairs, sizeof(double), cmp_double);
	{
		double med = ratio[npairs / 2], q1 = ratio[npairs / 4], q3 = ratio[(3 * npairs) / 4];
		/* What the on slices spent beyond the off slices' CPU per byte. */
		double extra_ns = (med - 1) * on_bytes * (off_ns / off_bytes);

		printf("ALLOCRATE_SLICES pairs=%d slice_ms=%.1f median=%.4f q1=%.4f q3=%.4f "
		       "overhead_pct=%.2f GBps=%.2f samples_per_s=%.0f ns_per_sample=%.0f\n",
		       npairs, off_ns / npairs / 1e6, med, q1, q3, (med - 1) * 100,
		       off_bytes / off_ns, (double)nsamples / (on_ns / 1e9),
		       nsamples ? extra_ns / (double)nsamples : 0);
	}
	free(ratio);
	return 0;
}

int
main(int argc, char **argv)
{
	double secs;
	size_t maxsize;
	uint64_t bytes = 0, n = 0, t0, t;
	const char *env = getenv("ALLOCRATE_PASSES");

	if (env != NULL && (passes = atoi(env)) < 1) {
		fprintf(stderr, "allocrate: ALLOCRATE_PASSES must be 1 or more\n");
		return 2;
	}
	if (argc > 1 && strcmp(argv[1], "-s") == 0) {
		int npairs = argc > 2 ? atoi(argv[2]) : 200;
		double ms = argc > 3 ? atof(argv[3]) : 20;

		maxsize = argc > 4 ? strtoul(argv[4], NULL, 10) : 4096;
		if (npairs < 4 || ms <= 0 || maxsize < 32)
			return 2;
		return slices(npairs, ms, maxsize);
	}
	secs = argc > 1 ? atof(argv[1]) : 3;
	maxsize = argc > 2 ? strtoul(argv[2], NULL, 10) : 4096;
	if (secs <= 0 || maxsize < 32)
		return 2;
	t0 = cpu_ns();
	do {
		bytes += churn(maxsize, 4096);
		n += 4096;
		t = cpu_ns() - t0;
	} while (t < secs * 1e9);
	for (int i = 0; i < RING; i++)
		free(ring[i]);
	printf("ALLOCRATE cpu_ns=%llu bytes=%llu allocs=%llu GBps=%.2f\n", (unsigned long long)t,
	       (unsigned long long)bytes, (unsigned long long)n, (double)bytes / (double)t);
	return 0;
}
