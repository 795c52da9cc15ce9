/*
 * cgchurn.c: a workload that fits a 256 MiB memory cgroup only if freed
 * memory goes back to the OS.  Linked against nothing of gomem's: cgroup.sh
 * runs it with glibc's malloc (which keeps the freed holes and is OOM-killed)
 * and with libgomem.so preloaded (which must survive).
 *
 * Each of three rounds allocates MiB (default 160) in 500 B objects, frees
 * all but one in 256 (so no allocator can give back whole stretches of
 * address space), then allocates the same volume in 256 KiB blocks, which do
 * not fit the holes, and frees them.  Every block is checked before it is
 * freed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMALL 500
#define BIG ((size_t)256 << 10)

static int
check(const unsigned char *p, size_t n, unsigned char v)
{
	size_t i;

	for (i = 0; i < n; i += 61)
		if (p[i] != v)
			return 0;
	return p[n - 1] == v;
}

int
main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 160;
	size_t nsmall = (mib << 20) / SMALL, nbig = (mib << 20) / BIG, i;
	unsigned char **s = malloc(nsmall * sizeof(*s)), **b = malloc(nbig * sizeof(*b));
	int round;

	if (s == NULL || b == NULL)
		return 1;
	for (round = 0; round < 3; round++) {
		for (i = 0; i < nsmall; i++) {
			if ((s[i] = malloc(SMALL)) == NULL)
				return 1;
			memset(s[i], (int)(i * 7 + round), SMALL);
		}
		for (i = 0; i < nsmall; i++) {
			if (!check(s[i], SMALL, (unsigned char)(i * 7 + round))) {
				printf("cgchurn: corrupt small block\n");
				return 1;
			}
			if (i % 256 != 0)
				free(s[i]);
		}
		for (i = 0; i < nbig; i++) {
			if ((b[i] = malloc(BIG)) == NULL)
				return 1;
			memset(b[i], (int)i, BIG);
		}
		for (i = 0; i < nbig; i++) {
			if (!check(b[i], BIG, (unsigned char)i)) {
				printf("cgchurn: corrupt big block\n");
				return 1;
			}
			free(b[i]);
		}
		printf("cgchurn: round %d done\n", round);
		fflush(stdout);
	}
	return 0;
}
