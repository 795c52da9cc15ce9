/*
 * startbench: what an allocator costs a short process, from exec to exit.
 *
 *   startbench [-n ROUNDS] NAME=[LIB][,VAR=VALUE] ... -- COMMAND [ARG...]
 *
 * Runs COMMAND ROUNDS times (default 200) under each configuration: LIB is
 * preloaded (none: the system's malloc) with VAR=VALUE in the environment.
 * The configurations take turns, their order rotating every round, so a
 * machine that slows down meanwhile slows all of them alike.  Prints, per
 * configuration, the median and quartiles of the wall time (spawn to reap)
 * and the median CPU time (the child's user + system, every thread's).
 * Medians, because a shared machine's short runs are bimodal; a ratio
 * between two lines of the same run is the figure to quote, never a time.
 *
 *   startbench -n 300 glibc= gomem=$PWD/lib/.libs/libgomem.so \
 *       mimalloc=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 -- /bin/true
 */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_CONFIGS 16

struct config {
	const char *name;
	char **env;	/* environ, with LD_PRELOAD and VAR=VALUE set */
	double *wall;	/* us, one per round */
	double *cpu;	/* us */
};

static void
usage(void)
{
	fprintf(stderr, "usage: startbench [-n ROUNDS] NAME=[LIB][,VAR=VALUE] ... -- "
			"COMMAND [ARG...]\n");
	exit(2);
}

/* environ without LD_PRELOAD, plus the configuration's variables. */
static char **
make_env(const char *lib, const char *var)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	env = calloc(n + 3, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
			env[k++] = environ[i];
	if (*lib != '\0' && asprintf(&env[k++], "LD_PRELOAD=%s", lib) < 0)
		return NULL;
	if (var != NULL)
		env[k++] = (char *)var;
	return env;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct config cf[MAX_CONFIGS];
	int rounds = 200, ncf = 0, i;
	char **cmd;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		char *spec, *eq, *comma;

		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			rounds = atoi(argv[++i]);
			if (rounds < 1)
				usage();
			continue;
		}
		if (ncf == MAX_CONFIGS || (eq = strchr(argv[i], '=')) == NULL)
			usage();
		spec = strdup(argv[i]);
		if (spec == NULL)
			return 1;
		eq = spec + (eq - argv[i]);
		*eq = '\0';
		comma = strchr(eq + 1, ',');
		if (comma != NULL)
			*comma = '\0';
		cf[ncf].name = spec;
		cf[ncf].env = make_env(eq + 1, comma != NULL ? comma + 1 : NULL);
		cf[ncf].wall = calloc((size_t)rounds, sizeof(double));
		cf[ncf].cpu = calloc((size_t)rounds, sizeof(double));
		if (cf[ncf].env == NULL || cf[ncf].wall == NULL || cf[ncf].cpu == NULL)
			return 1;
		ncf++;
	}
	if (ncf == 0 || i + 1 >= argc)
		usage();
	cmd = argv + i + 1;

	for (int r = 0; r < rounds; r++) {
		for (int j = 0; j < ncf; j++) {
			struct config *c = &cf[(j + r) % ncf];
			struct timespec t0, t1;
			struct rusage ru;
			pid_t pid;
			int st, e;

			clock_gettime(CLOCK_MONOTONIC, &t0);
			e = posix_spawnp(&pid, cmd[0], NULL, NULL, cmd, c->env);
			if (e != 0) {
				fprintf(stderr, "startbench: %s: %s\n", cmd[0], strerror(e));
				return 1;
			}
			if (wait4(pid, &st, 0, &ru) != pid) {
				perror("startbench: wait4");
				return 1;
			}
			clock_gettime(CLOCK_MONOTONIC, &t1);
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				fprintf(stderr, "startbench: %s under %s did not exit 0\n", cmd[0],
					c->name);
				return 1;
			}
			c->wall[r] = (double)(t1.tv_sec - t0.tv_sec) * 1e6 +
				     (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
			c->cpu[r] = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
				    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
		}
	}
	printf("%-12s %10s %10s %10s %10s   (%d rounds, us)\n", "config", "wall med", "q1", "q3",
	       "cpu med", rounds);
	for (int j = 0; j < ncf; j++) {
		struct config *c = &cf[j];

		qsort(c->wall, (size_t)rounds, sizeof(double), cmp_double);
		qsort(c->cpu, (size_t)rounds, sizeof(double), cmp_double);
		printf("%-12s %10.1f %10.1f %10.1f %10.1f\n", c->name, c->wall[rounds / 2],
		       c->wall[rounds / 4], c->wall[3 * rounds / 4], c->cpu[rounds / 2]);
	}
	return 0;
}
