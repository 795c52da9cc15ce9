/*
 * churnfor.c: "churnfor SECONDS" mallocs and frees batches of 4096 objects
 * of seven size classes until SECONDS have passed, then prints the number of
 * batches.  Every batch empties and refills the thread's caches, so it takes
 * the allocator's slow paths many times a second.  Linked against nothing of
 * gomem's: threadlimit.sh preloads libgomem.so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 4096

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
	static void *p[N];
	double secs = argc > 1 ? atof(argv[1]) : 1.0, end = now() + secs;
	unsigned long batches = 0;
	size_t sz;
	int i;

	while (now() < end) {
		for (sz = 16; sz <= 1024; sz *= 2) {
			for (i = 0; i < N; i++) {
				p[i] = malloc(sz);
				if (p[i] == NULL) {
					fprintf(stderr, "churnfor: malloc(%zu) failed\n", sz);
					return 1;
				}
				memset(p[i], i, 8);
			}
			for (i = 0; i < N; i++)
				free(p[i]);
			batches++;
		}
	}
	printf("%lu\n", batches);
	return 0;
}
