/*
 * linelat: how long one cache line takes to go from one CPU to another and
 * back, the cost every cross-thread free and hand-off pays per object.
 *
 *   linelat [-n ROUNDS] [-t TRIPS]
 *
 * Two threads bounce a counter on one 64-byte line TRIPS times (default
 * 100000), ROUNDS times (default 5), each pinned to its own CPU when the
 * process may use two; prints the median round trip in ns and the range.
 * On one socket of bare metal a round trip takes tens of ns; a guest whose
 * vCPUs the hypervisor moves between cores or sockets can take ten times
 * that, and it changes while the guest runs.  Threaded benchmarks that hand
 * objects between threads (xmalloc-test, larson, gmbench's prodcons) follow
 * it, so bench/ext-suite.sh prints it before each round.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static struct {
	_Atomic long v;
	char pad[64 - sizeof(long)];
} line __attribute__((aligned(64)));

static long trips = 100000;
static int cpus[2] = {-1, -1};

static void
pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* The other side: answers each odd value with the next even one. */
static void *
echo(void *arg)
{
	long base = *(long *)arg;

	pin(cpus[1]);
	for (long i = 0; i < trips; i++) {
		while (atomic_load_explicit(&line.v, memory_order_acquire) != base + 2 * i + 1)
			;
		atomic_store_explicit(&line.v, base + 2 * i + 2, memory_order_release);
	}
	return NULL;
}

/* One round: ns per round trip. */
static double
round_trip(long base)
{
	struct timespec a, b;
	pthread_t t;

	atomic_store(&line.v, base);
	if (pthread_create(&t, NULL, echo, &base) != 0) {
		perror("linelat: pthread_create");
		exit(1);
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < trips; i++) {
		atomic_store_explicit(&line.v, base + 2 * i + 1, memory_order_release);
		while (atomic_load_explicit(&line.v, memory_order_acquire) != base + 2 * i + 2)
			;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	pthread_join(t, NULL);
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)trips;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static long
number(const char *s, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1 || v > 100000000) {
		fprintf(stderr, "linelat: %s wants a number from 1 to 100000000, not '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	long rounds = 5;
	double *ns;
	cpu_set_t set;
	int opt;

	while ((opt = getopt(argc, argv, "n:t:")) != -1) {
		switch (opt) {
		case 'n':
			rounds = number(optarg, "-n");
			break;
		case 't':
			trips = number(optarg, "-t");
			break;
		default:
			fprintf(stderr, "usage: linelat [-n ROUNDS] [-t TRIPS]\n");
			return 2;
		}
	}
	/* The first two CPUs this process may run on, one per thread. */
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) >= 2) {
		for (int c = 0, k = 0; c < CPU_SETSIZE && k < 2; c++)
			if (CPU_ISSET(c, &set))
				cpus[k++] = c;
	}
	ns = calloc((size_t)rounds, sizeof *ns);
	if (ns == NULL) {
		perror("linelat");
		return 1;
	}
	pin(cpus[0]);
	for (long r = 0; r < rounds; r++)
		ns[r] = round_trip(r * 4 * trips);
	qsort(ns, (size_t)rounds, sizeof *ns, cmp_double);
	printf("linelat: round trip %.0f ns (median of %ld; %.0f-%.0f), cpus %d,%d\n",
	       ns[rounds / 2], rounds, ns[0], ns[rounds - 1], cpus[0], cpus[1]);
	free(ns);
	return 0;
}
