/*
 * gomem-demo: a workload to watch.  Two threads keep a live set that grows
 * and shrinks in waves, hand objects to each other (cross-thread frees), and
 * every half minute build a transient spike of ~256 MiB that they free again,
 * so the scavenger's work shows in HeapReleased and RSS.  With --print it
 * prints its own MemStats every two seconds (useful without gomemd).
 *
 * Run it with libgomem preloaded:  gomem run -- gomem-demo
 *                              or  LD_PRELOAD=libgomem.so gomem-demo
 */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gomem.h"

#define SLOTS 16384

struct mailbox {
	pthread_mutex_t mu;
	void *items[4096];
	int n;
};

static struct mailbox box = { .mu = PTHREAD_MUTEX_INITIALIZER };
static _Atomic int stop;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned
rnd(unsigned *x)
{
	*x = *x * 1103515245u + 12345u;
	return *x >> 8;
}

static size_t
pick_size(unsigned *x)
{
	unsigned r = rnd(x) % 100;

	if (r < 40)
		return 1 + rnd(x) % 15;       /* tiny */
	if (r < 85)
		return 16 + rnd(x) % 1000;    /* small */
	if (r < 99)
		return 1024 + rnd(x) % 31000; /* medium */
	return 32768 + rnd(x) % (256 << 10);  /* large */
}

static void *
worker(void *arg)
{
	unsigned x = (unsigned)(uintptr_t)arg;
	void **live = calloc(SLOTS, sizeof(void *));
	double t0 = now_s();

	while (!atomic_load(&stop)) {
		/* The live-set target breathes with a 60 s period. */
		double phase = (now_s() - t0) / 60.0 * 2 * M_PI;
		unsigned target = (unsigned)(SLOTS * (0.35 + 0.3 * sin(phase)));

		for (int k = 0; k < 500; k++) {
			unsigned i = rnd(&x) % SLOTS;

			if (live[i] != NULL && (i >= target || rnd(&x) % 4 == 0)) {
				if (rnd(&x) % 8 == 0) {
					/* Let the other thread free it. */
					pthread_mutex_lock(&box.mu);
					if (box.n < 4096) {
						box.items[box.n++] = live[i];
						live[i] = NULL;
					}
					pthread_mutex_unlock(&box.mu);
				}
				free(live[i]);
				live[i] = NULL;
			}
			if (live[i] == NULL && i < target) {
				size_t n = pick_size(&x);

				live[i] = malloc(n);
				if (live[i] != NULL)
					memset(live[i], (int)i, n < 256 ? n : 256);
			}
		}
		pthread_mutex_lock(&box.mu);
		while (box.n > 0)
			free(box.items[--box.n]);
		pthread_mutex_unlock(&box.mu);
		usleep(20000);
	}
	for (unsigned i = 0; i < SLOTS; i++)
		free(live[i]);
	free(live);
	return NULL;
}

/* A transient spike: ~256 MiB in 64 KiB pieces, held a moment, freed. */
static void
spike(void)
{
	enum { N = 4096 };
	void **v = malloc(N * sizeof(void *));

	for (int i = 0; i < N; i++) {
		v[i] = malloc(65536);
		if (v[i] != NULL)
			memset(v[i], 1, 65536);
	}
	sleep(2);
	for (int i = 0; i < N; i++)
		free(v[i]);
	free(v);
}

int
main(int argc, char **argv)
{
	int print = argc > 1 && strcmp(argv[1], "--print") == 0;
	void (*read_stats)(struct gomem_memstats *) =
		(void (*)(struct gomem_memstats *))dlsym(RTLD_DEFAULT, "gomem_read_memstats");
	pthread_t t[2];
	double last_spike = now_s();

	if (read_stats == NULL)
		fprintf(stderr, "gomem-demo: libgomem is not loaded (run it with LD_PRELOAD or `gomem run`)\n");
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (;;) {
		sleep(2);
		if (now_s() - last_spike > 30) {
			spike();
			last_spike = now_s();
		}
		if (print && read_stats != NULL) {
			struct gomem_memstats m;

			read_stats(&m);
			printf("HeapAlloc %8llu KiB  HeapInuse %8llu KiB  HeapIdle %8llu KiB  "
			       "HeapReleased %8llu KiB  Sys %8llu KiB  Mallocs %llu  Frees %llu\n",
			       m.HeapAlloc >> 10, m.HeapInuse >> 10, m.HeapIdle >> 10,
			       m.HeapReleased >> 10, m.Sys >> 10, m.Mallocs, m.Frees);
			fflush(stdout);
		}
	}
	return 0;
}
