/*
 * profbench.c: what the always-on heap profile costs, and where.
 *
 *   profbench [parts|churn|all] [-d DEPTH] [-n SAMPLES] [-r REPS] [-s MAXSIZE]
 *             [-t STEPS] [-w]
 *
 * Linked with the allocator core (like the unit tests), so it can switch the
 * sampling rate at run time and time the stack walker on its own.
 *
 * parts: the cost of one sample and of its free, from DEPTH frames of
 *   program stack (default 16), in the steady state (warm unwind cache):
 *     walk    gm_unwind alone
 *     sample  a malloc that is sampled (rate 1) minus one that is not (rate 0)
 *     record  sample - walk: bucket lookup, live-set insert, clock, seqlock
 *     free    a free of a sampled block minus a plain free
 *     spanfree  a free of a block that was not sampled but shares its span
 *             with one that was, minus a plain free (the span's other frees
 *             leave free's fast path while it holds a sample)
 *   Each figure is the median over REPS runs of SAMPLES operations.
 * churn: an allocation-heavy loop (a ring of 4096 live blocks of 16 B ..
 *   MAXSIZE, default 4096, replaced one per step), timed in CPU time with the
 *   default rate (512 KiB) and with sampling off, interleaved REPS times;
 *   prints the allocation rate, samples per second and the median overhead.
 *   -w writes every byte of each new block (about 5 GB/s with -s 4096, the
 *   rate of a program that uses its memory); -t sets the steps per run.
 * churn-on, churn-off: one side of churn only, for `perf stat -r N`, whose
 *   cycle counts are steadier than CPU time on a shared machine.
 *
 * Every figure is printed as one `PROFBENCH key=value ...` line.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- parts ---- */

enum { OP_WALK, OP_ALLOC, OP_FREE, OP_ALLOC_SPAN, OP_FREE_SPAN };

/* OP_ALLOC_SPAN samples every SPAN_EVERY-th block: one per span of the 64 B class. */
#define SPAN_EVERY 128

struct job {
	int op;
	long n;
	void **v;
	size_t size;
	double ns; /* per operation */
	unsigned frames; /* of the last walk */
};

static void
run_job(struct job *j)
{
	uint64_t pcs[GOMEM_PROFILE_MAX_DEPTH], t0;
	bool trunc;
	long i;

	t0 = cpu_ns();
	switch (j->op) {
	case OP_WALK:
		for (i = 0; i < j->n; i++)
			j->frames = gm_unwind(pcs, GOMEM_PROFILE_MAX_DEPTH, &trunc, &gm_uw_stat);
		break;
	case OP_ALLOC:
		for (i = 0; i < j->n; i++)
			j->v[i] = gm_malloc(j->size);
		break;
	case OP_FREE:
		for (i = 0; i < j->n; i++)
			gm_free(j->v[i]);
		break;
	case OP_ALLOC_SPAN: /* rate 1 for one block in SPAN_EVERY */
		for (i = 0; i < j->n; i++) {
			gm_tls_mcache->next_sample = i % SPAN_EVERY == 0 ? 0 : INT64_MAX;
			j->v[i] = gm_malloc(j->size);
		}
		break;
	case OP_FREE_SPAN: /* v[0, n): blocks not sampled in spans with samples */
		for (i = 0; i < j->n; i++)
			gm_free(j->v[i]);
		break;
	}
	j->ns = (double)(cpu_ns() - t0) / (double)j->n;
}

/* Run the job under depth more frames of stack. */
static __attribute__((noinline)) void
nest(int depth, struct job *j)
{
	volatile int pad[4];

	pad[0] = depth;
	if (depth <= 0)
		run_job(j);
	else
		nest(depth - 1, j);
	__asm__ volatile("" ::: "memory");
	(void)pad[0];
}

static void
set_rate(uint64_t rate)
{
	gm_opt.profile_rate = rate;
	gm_tls_mcache->next_sample = rate ? 0 : INT64_MAX;
}

/* ns per malloc and per free of n 64 B blocks at the given rate. */
static void
alloc_free(int depth, long n, void **v, uint64_t rate, double *malloc_ns, double *free_ns)
{
	struct job j = { OP_ALLOC, n, v, 64, 0, 0 };

	set_rate(rate);
	nest(depth, &j);
	*malloc_ns = j.ns;
	j.op = OP_FREE;
	nest(depth, &j);
	*free_ns = j.ns;
}

/* ns per free of a block not sampled in a span with a sampled block. */
static double
span_free(int depth, long n, void **v)
{
	struct job j = { OP_ALLOC_SPAN, n, v, 64, 0, 0 };
	void **rest = calloc((size_t)n, sizeof(void *));
	long i, in = 0, out = 0;

	set_rate(1);
	nest(depth, &j);
	set_rate(0);
	/* Those in spans with a sample first, the others (and the samples) after. */
	for (i = 0; i < n; i++) {
		gm_mspan *s = gm_span_of((uintptr_t)v[i]);

		if (i % SPAN_EVERY != 0 && s->nsampled != 0)
			v[in++] = v[i];
		else
			rest[out++] = v[i];
	}
	j = (struct job){ OP_FREE_SPAN, in, v, 64, 0, 0 };
	if (in > 0)
		nest(depth, &j);
	for (i = 0; i < out; i++)
		gm_free(rest[i]);
	free(rest);
	return j.ns;
}

static void
parts(int depth, long n, int reps)
{
	double walk[reps], sampled[reps], plain[reps], fsampled[reps], fplain[reps], fspan[reps];
	void **v = calloc((size_t)n, sizeof(void *));
	unsigned frames = 0;
	struct job j;
	int r;

	for (r = 0; r < reps + 1; r++) {
		int k = r == 0 ? 0 : r - 1; /* run 0 warms up */

		j = (struct job){ OP_WALK, n, v, 64, 0, 0 };
		nest(depth, &j);
		walk[k] = j.ns;
		frames = j.frames;
		alloc_free(depth, n, v, 1, &sampled[k], &fsampled[k]);
		alloc_free(depth, n, v, 0, &plain[k], &fplain[k]);
		fspan[k] = span_free(depth, n, v);
	}
	{
		double w = median(walk, reps), s = median(sampled, reps) - median(plain, reps);
		double f = median(fsampled, reps) - median(fplain, reps);

		printf("PROFBENCH parts depth=%u walk_ns=%.1f walk_ns_per_frame=%.1f sample_ns=%.1f "
		       "record_ns=%.1f free_ns=%.1f total_ns=%.1f plain_malloc_ns=%.1f "
		       "plain_free_ns=%.1f spanfree_ns=%.1f slow_walks=%llu\n",
		       frames, w, w / frames, s, s - w, f, s + f,
		       median(plain, reps), median(fplain, reps),
		       median(fspan, reps) - median(fplain, reps),
		       (unsigned long long)gm_uw_stat.slow);
		/* At one sample per 512 KiB, 1% of one CPU buys this rate. */
		printf("PROFBENCH parts rate_at_1pct_GBps=%.1f\n",
		       0.01 / ((s + f) * 1e-9) * 524288 / 1e9);
	}
	free(v);
}

/* ---- churn ---- */

static bool write_all; /* -w: write every byte of each block, as real code does */

static double
churn_once(long steps, size_t maxsize, uint64_t *bytes)
{
	enum { RING = 4096 };
	static void *ring[RING];
	uint64_t x = 88172645463325252u, t0, total = 0;
	long i;

	for (i = 0; i < RING; i++)
		ring[i] = gm_malloc(16);
	t0 = cpu_ns();
	for (i = 0; i < steps; i++) {
		size_t k, n;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		k = x % RING;
		n = 16 + (x >> 20) % (maxsize - 15);
		gm_free(ring[k]);
		ring[k] = gm_malloc(n);
		if (write_all)
			memset(ring[k], (int)i, n);
		else
			((char *)ring[k])[0] = 1;
		total += n;
	}
	t0 = cpu_ns() - t0;
	for (i = 0; i < RING; i++)
		gm_free(ring[i]);
	*bytes = total;
	return (double)t0;
}

static void
churn(long steps, int reps, size_t maxsize)
{
	double on[reps], off[reps], ratio[reps];
	uint64_t bytes = 0, s0;
	double samples = 0;
	int r;

	gm_uw_stats uw;

	churn_once(steps / 4, maxsize, &bytes); /* warm up */
	uw = gm_uw_stat;
	for (r = 0; r < reps; r++) {
		/* Alternate which side goes first. */
		for (int side = 0; side < 2; side++) {
			if ((side + r) % 2 == 0) {
				set_rate(0);
				off[r] = churn_once(steps, maxsize, &bytes);
			} else {
				set_rate(512 * 1024);
				s0 = gomem_profile.samples;
				on[r] = churn_once(steps, maxsize, &bytes);
				samples += (double)(gomem_profile.samples - s0);
			}
		}
		ratio[r] = on[r] / off[r];
	}
	{
		double toff = median(off, reps), ron = median(ratio, reps);

		double memo = (double)(gm_uw_stat.memo - uw.memo);
		double hits = memo + (double)(gm_uw_stat.hits - uw.hits);
		double frames = hits + (double)(gm_uw_stat.computed - uw.computed);

		printf("PROFBENCH churn maxsize=%zu alloc_GBps=%.2f samples_per_s=%.0f "
		       "cpu_ratio=%.4f overhead_pct=%.2f ns_per_sample=%.0f "
		       "unwind_hit_pct=%.2f unwind_memo_pct=%.2f lost=%llu\n",
		       maxsize, (double)bytes / toff, samples / reps / (toff * 1e-9), ron,
		       (ron - 1) * 100, (ron - 1) * toff * reps / samples,
		       frames > 0 ? 100 * hits / frames : 0, frames > 0 ? 100 * memo / frames : 0,
		       (unsigned long long)gomem_profile.lost);
	}
}

int
main(int argc, char **argv)
{
	const char *what = argc > 1 && argv[1][0] != '-' ? argv[1] : "all";
	int depth = 16, reps = 7, i;
	long n = 200000, steps = 20000000;
	size_t maxsize = 4096;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
			depth = atoi(argv[++i]);
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			n = atol(argv[++i]);
		else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			maxsize = (size_t)atol(argv[++i]);
		else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
			steps = atol(argv[++i]);
		else if (strcmp(argv[i], "-w") == 0)
			write_all = true;
	}
	if (reps < 1 || n < 1 || maxsize < 32 || depth < 0 || depth > 200) {
		fprintf(stderr, "profbench: bad arguments\n");
		return 2;
	}
	gm_ensure_init();
	if (strcmp(what, "parts") == 0 || strcmp(what, "all") == 0)
		parts(depth, n, reps);
	if (strcmp(what, "churn") == 0 || strcmp(what, "all") == 0)
		churn(steps, reps, maxsize);
	/* One side only, for perf stat: churn-on (default rate) or churn-off. */
	if (strncmp(what, "churn-o", 7) == 0) {
		uint64_t bytes;

		set_rate(strcmp(what, "churn-on") == 0 ? 512 * 1024 : 0);
		churn_once(steps, maxsize, &bytes);
		printf("PROFBENCH %s samples=%llu bytes=%llu\n", what,
		       (unsigned long long)gomem_profile.samples, (unsigned long long)bytes);
	}
	return 0;
}
