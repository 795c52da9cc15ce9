/*
 * exewl.c: a program with libgomem linked into the executable (libgomem.a),
 * not preloaded.  Its USDT probes are then in the program's own file, and
 * gomemd reaches them through /proc/PID/exe on POST /processes/PID/attach.
 *
 *   exewl [SECONDS]
 *
 * Allocates a few thousand blocks, keeps half, and sleeps SECONDS (60).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	static void *keep[4096];
	int secs = argc > 1 ? atoi(argv[1]) : 60, i;

	for (i = 0; i < 4096; i++) {
		keep[i] = malloc((size_t)(16 + (i % 64) * 24));
		if (keep[i] == NULL)
			return 1;
		memset(keep[i], i, 16);
		if (i % 2 == 1) {
			free(keep[i]);
			keep[i] = NULL;
		}
	}
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	while (secs-- > 0)
		sleep(1);
	return 0;
}
