/*
 * forkbench: what an allocator adds to fork, for the programs that fork a
 * lot (shells, make, servers that fork per request).
 *
 *   LD_PRELOAD=LIB forkbench [-n FORKS] [-r ROUNDS] [-t THREADS]
 *
 * Allocates a working set (2000 blocks of 16 B to 64 KiB), then forks FORKS
 * children (default 300) that exit at once, each reaped before the next, in
 * ROUNDS rounds (default 5).  With -t, THREADS threads (at most 64) that
 * allocated 500 blocks and freed half of them stay alive, idle, meanwhile:
 * what the allocator does in the child about threads that are gone.  Prints the median over rounds of the time per
 * fork+exit+wait and the page faults per fork, parent's and child's: the
 * fork handlers' writes after fork copy pages, and so does binding a
 * function for the first time in the child.  Run it under each allocator in
 * turn and compare the lines; a time alone says little on a shared machine.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BLOCKS 2000
#define MAX_ROUNDS 64

static pthread_barrier_t gate;

/* A thread with blocks and free lists, idle until the forks are done. */
static void *idle_thread(void *arg)
{
	void *keep[500];
	unsigned seed = (unsigned)(size_t)arg;
	int i;

	for (i = 0; i < 500; i++) {
		size_t n = 16u << (rand_r(&seed) % 8);

		keep[i] = malloc(n);
		if (keep[i] != NULL)
			memset(keep[i], 1, 16);
	}
	for (i = 0; i < 500; i += 2)
		free(keep[i]);
	pthread_barrier_wait(&gate);
	pthread_barrier_wait(&gate);
	for (i = 1; i < 500; i += 2)
		free(keep[i]);
	return NULL;
}

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static long faults(void)
{
	struct rusage self, kids;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return self.ru_minflt + self.ru_majflt + kids.ru_minflt + kids.ru_majflt;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	static void *keep[BLOCKS];
	static pthread_t tids[64];
	double us[MAX_ROUNDS], flt[MAX_ROUNDS];
	int forks = 300, rounds = 5, threads = 0, opt, r, i;
	unsigned seed = 1;

	while ((opt = getopt(argc, argv, "n:r:t:")) != -1) {
		if (opt == 'n')
			forks = atoi(optarg);
		else if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 't')
			threads = atoi(optarg);
		else
			goto usage;
	}
	if (forks < 1 || rounds < 1 || rounds > MAX_ROUNDS || threads < 0 || threads > 64)
		goto usage;
	pthread_barrier_init(&gate, NULL, (unsigned)threads + 1);
	for (i = 0; i < threads; i++)
		if (pthread_create(&tids[i], NULL, idle_thread, (void *)(size_t)(i + 2)) != 0) {
			perror("forkbench: pthread_create");
			return 1;
		}
	pthread_barrier_wait(&gate);
	for (i = 0; i < BLOCKS; i++) {
		size_t n = 16u << (rand_r(&seed) % 13);

		keep[i] = malloc(n);
		if (keep[i] == NULL)
			return 1;
		memset(keep[i], 1, n < 64 ? n : 64);
	}
	for (r = 0; r < rounds; r++) {
		double t0 = now_us();
		long f0 = faults();

		for (i = 0; i < forks; i++) {
			int st;
			pid_t p = fork();

			if (p == 0)
				_exit(0);
			if (p < 0 || waitpid(p, &st, 0) != p) {
				perror("forkbench: fork");
				return 1;
			}
		}
		us[r] = (now_us() - t0) / forks;
		flt[r] = (double)(faults() - f0) / forks;
	}
	pthread_barrier_wait(&gate);
	for (i = 0; i < threads; i++)
		pthread_join(tids[i], NULL);
	printf("fork+exit+wait: %.1f us, %.1f page faults (medians of %d rounds of %d, %d idle threads)\n",
	       median(us, rounds), median(flt, rounds), rounds, forks, threads);
	for (i = 0; i < BLOCKS; i++)
		free(keep[i]);
	return 0;
usage:
	fprintf(stderr, "usage: forkbench [-n FORKS] [-r ROUNDS] [-t THREADS]\n");
	return 2;
}
