/*
 * endings.c: a process that ends the way it is told, for exit-test.py.
 * Run with libgomem preloaded:
 *
 *   endings exit CODE          exit(CODE)
 *   endings wait               wait to be killed (at most 300 s)
 *   endings segv               write through a null pointer
 *   endings hog                allocate and touch 1 MiB blocks until killed
 *   endings exec [-c] PROG ARG...
 *                              execvp(PROG, ARG...); -c: without LD_PRELOAD
 *
 * Each first keeps 64 blocks of 16 KiB (so its heap profile has samples),
 * prints "ready PID" and waits for a line on stdin (the test looks at the
 * process meanwhile), then does what it was told.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *kept[64];

static int usage(void)
{
	fprintf(stderr, "usage: endings exit CODE | wait | segv | hog | exec [-c] PROG ARG...\n");
	return 2;
}

int main(int argc, char **argv)
{
	char line[64];
	size_t i;

	if (argc < 2)
		return usage();
	for (i = 0; i < sizeof kept / sizeof kept[0]; i++) {
		kept[i] = malloc(16384);
		if (kept[i] == NULL)
			return 1;
		memset(kept[i], (int)i, 16384);
	}
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	if (fgets(line, sizeof line, stdin) == NULL)
		return 1;

	if (strcmp(argv[1], "exit") == 0 && argc == 3)
		exit(atoi(argv[2]));
	if (strcmp(argv[1], "wait") == 0) {
		sleep(300);
		return 1;
	}
	if (strcmp(argv[1], "segv") == 0) {
		volatile int *p = NULL;

		*p = 1;
		return 1;
	}
	if (strcmp(argv[1], "hog") == 0) {
		for (;;) {
			char *b = malloc(1 << 20);

			if (b == NULL)
				return 3; /* the limit should kill it first */
			memset(b, 1, 1 << 20);
		}
	}
	if (strcmp(argv[1], "exec") == 0 && argc >= 3) {
		int a = 2;

		if (strcmp(argv[a], "-c") == 0) {
			unsetenv("LD_PRELOAD");
			a++;
		}
		if (a >= argc)
			return usage();
		execvp(argv[a], argv + a);
		perror("endings: exec");
		return 127;
	}
	return usage();
}
