/*
 * pairloop: N pairs of malloc(SIZE)/free(), for counting instructions per
 * pair under callgrind (see callgrind-pair.sh).
 *
 *	pairloop N [SIZE]
 *
 * A warm-up of 1000 pairs runs first so one-time set-up (first mmap,
 * thread cache creation) lands in both runs the script subtracts.  The
 * pointer goes through a volatile so the pair cannot be optimised away.
 */

#include <stdio.h>
#include <stdlib.h>

static void *volatile sink;

static void
pairs(unsigned long n, size_t size)
{
	unsigned long	i;

	for (i = 0; i < n; i++) {
		sink = malloc(size);
		free(sink);
	}
}

int
main(int argc, char **argv)
{
	unsigned long	n;
	size_t		size = 32;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: pairloop N [SIZE]\n");
		return 1;
	}
	n = strtoul(argv[1], NULL, 0);
	if (argc == 3)
		size = strtoul(argv[2], NULL, 0);
	pairs(1000, size);
	pairs(n, size);
	return 0;
}
