/*
 * workload.c: a test program for the output tests, run with libgomem
 * preloaded.
 *
 *	workload grow [SECONDS]   allocate a little more every 100 ms (mixed
 *	                          sizes, touched, some freed), up to 256 MiB
 *	workload idle [SECONDS]   allocate a few blocks, then sleep
 *
 * It exits by itself after SECONDS (default 300) so a failed test never
 * leaves it behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_BLOCKS 65536

static void *blocks[MAX_BLOCKS];

int
main(int argc, char **argv)
{
	int grow = argc > 1 && strcmp(argv[1], "grow") == 0;
	long seconds = argc > 2 ? atol(argv[2]) : 300;
	time_t end = time(NULL) + seconds;
	size_t nblocks = 0, total = 0, i;
	unsigned long round = 0;

	if (argc < 2 || (!grow && strcmp(argv[1], "idle") != 0)) {
		fprintf(stderr, "usage: workload grow|idle [SECONDS]\n");
		return 2;
	}
	for (i = 0; i < 16; i++)
		blocks[nblocks++] = calloc(1, 64 << i % 8);
	while (time(NULL) < end) {
		if (grow && total < (256u << 20) && nblocks + 64 < MAX_BLOCKS) {
			/* About 300 KiB kept per round: small objects and a large one. */
			for (i = 0; i < 48; i++) {
				size_t sz = (size_t)16 << (i % 10);
				void *p = malloc(sz);

				if (p == NULL)
					break;
				memset(p, (int)i, sz);
				blocks[nblocks++] = p;
				total += sz;
			}
			{
				void *big = malloc(128 << 10);

				if (big != NULL) {
					memset(big, 1, 128 << 10);
					blocks[nblocks++] = big;
					total += 128 << 10;
				}
			}
			/* Churn: short-lived objects give a free rate too. */
			for (i = 0; i < 200; i++) {
				void *volatile q = malloc(24 + i % 200);

				free(q);
			}
		}
		round++;
		usleep(100 * 1000);
	}
	for (i = 0; i < nblocks; i++)
		free(blocks[i]);
	return 0;
}
