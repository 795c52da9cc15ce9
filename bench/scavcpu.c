/*
 * scavcpu: how much CPU the scavenger spends, read from the kernel's
 * accounting of the gomem-scav thread (/proc/self/task/TID/stat), in three
 * phases:
 *   idle    nothing to release: the thread should cost nothing measurable;
 *   spike   1 GiB of small and medium objects freed at once: the excess goes
 *           back at up to a quarter of one CPU; reports how long it took;
 *   steady  a program whose live heap drifts down slowly, leaving a little
 *           idle memory every 100 ms: about 1% of one CPU.
 * Run with libgomem preloaded: LD_PRELOAD=.../libgomem.so ./scavcpu
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tests/common/rss.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds used so far by the thread called gomem-scav, or -1. */
static double
scav_cpu(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	double cpu = -1;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char path[300], buf[1024], *p;
		unsigned long ut, st;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL && strstr(buf, "(gomem-scav)") != NULL) {
			p = strrchr(buf, ')');
			/* fields after ") ": state ppid pgrp session tty tpgid flags minflt
			 * cminflt majflt cmajflt utime stime */
			if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
				   &st) == 2)
				cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
		}
		fclose(f);
	}
	closedir(d);
	return cpu;
}

int
main(void)
{
	double c0, c1, t0, t1, done = -1;
	size_t n = 0, cap = 1 << 20, total = 0;
	void **v = malloc(cap * sizeof(void *));
	unsigned x = 1;

	free(malloc(100)); /* make sure the library is up */
	for (int i = 0; i < 100 && scav_cpu() < 0; i++)
		usleep(10000); /* the thread names itself once it runs */
	if (scav_cpu() < 0) {
		printf("scavcpu: no gomem-scav thread (run with libgomem preloaded)\n");
		return 77;
	}
	/* idle */
	c0 = scav_cpu();
	t0 = now();
	sleep(5);
	c1 = scav_cpu();
	t1 = now();
	printf("| idle | %.1f s | %.3f s | %.2f%% |\n", t1 - t0, c1 - c0,
	       100 * (c1 - c0) / (t1 - t0));
	/* spike */
	while (total < ((size_t)1 << 30) && n < cap) {
		size_t sz;

		x = x * 1103515245u + 12345u;
		sz = (x >> 8) % 10 < 7 ? 16 + (x >> 12) % 496 : 512 + (x >> 12) % 16000;
		v[n] = malloc(sz);
		memset(v[n], 1, sz);
		total += sz;
		n++;
	}
	for (size_t i = n / 100; i < n; i++)
		free(v[i]);
	c0 = scav_cpu();
	t0 = now();
	while (now() - t0 < 3) {
		usleep(10000);
		if (done < 0 && rss_bytes() < ((size_t)64 << 20))
			done = now() - t0;
	}
	c1 = scav_cpu();
	t1 = now();
	printf("| spike (1 GiB freed) | %.1f s | %.3f s | %.2f%% | back under 64 MiB RSS after %.2f s |\n",
	       t1 - t0, c1 - c0, 100 * (c1 - c0) / (t1 - t0), done);
	for (size_t i = 0; i < n / 100; i++)
		free(v[i]);
	/* steady: a 256 MiB live set of 64 KiB blocks that shrinks 1 MiB per 100 ms
	 * and is refilled, so the scavenger always has a little to release. */
	{
		enum { N = 4096 };
		static void *b[N];
		int live = N, i;

		for (i = 0; i < N; i++) {
			b[i] = malloc(65536);
			memset(b[i], 1, 65536);
		}
		sleep(1);
		c0 = scav_cpu();
		t0 = now();
		while (now() - t0 < 10) {
			for (i = 0; i < 16 && live > 0; i++)
				free(b[--live]);
			if (live == 0) {
				for (i = 0; i < N; i++) {
					b[i] = malloc(65536);
					memset(b[i], 1, 65536);
				}
				live = N;
			}
			usleep(100000);
		}
		c1 = scav_cpu();
		t1 = now();
		printf("| steady (1 MiB freed per 100 ms) | %.1f s | %.3f s | %.2f%% |\n", t1 - t0,
		       c1 - c0, 100 * (c1 - c0) / (t1 - t0));
	}
	return 0;
}
