/*
 * profwork.c: the heap profile test's workload (test-pprof.sh).  Two named,
 * non-inlined allocation sites:
 *   leak_big_blocks()  8 MiB in 64 KiB blocks, kept until the end
 *   churn_small()      small blocks allocated and freed again (nothing kept)
 * then "ready" on stdout and a sleep of argv[1] seconds (default 60), so
 * the daemon can be asked for the process's profile while it lives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BIG_BLOCK (64 * 1024)
#define BIG_COUNT 128 /* 8 MiB */

static void *volatile kept[BIG_COUNT];
static volatile unsigned long sink;

__attribute__((noinline)) static void leak_big_blocks(void)
{
	int i;

	for (i = 0; i < BIG_COUNT; i++) {
		kept[i] = malloc(BIG_BLOCK);
		if (kept[i] == NULL)
			exit(2);
		memset(kept[i], i, 64);
	}
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void churn_small(void)
{
	enum { ROUNDS = 40, PER = 1000 };
	static void *tmp[PER];
	struct timespec ts = {0, 5000000};
	int r, i;

	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < PER; i++) {
			tmp[i] = malloc(96 + (size_t)(i % 4) * 16);
			if (tmp[i] == NULL)
				exit(2);
			((char *)tmp[i])[0] = (char)i;
		}
		for (i = 0; i < PER; i++) {
			sink += (unsigned long)((char *)tmp[i])[0];
			free(tmp[i]);
		}
		nanosleep(&ts, NULL); /* let the collector keep up */
	}
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	int secs = argc > 1 ? atoi(argv[1]) : 60;
	struct timespec ts = {0, 300000000};

	nanosleep(&ts, NULL); /* the daemon attaches at exec; be sure */
	leak_big_blocks();
	churn_small();
	printf("ready\n");
	fflush(stdout);
	sleep((unsigned)secs);
	return (int)(sink & 0) + (kept[0] == NULL);
}
