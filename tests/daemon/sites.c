/*
 * sites.c: a workload with three allocation sites in a 6:3:1 byte ratio,
 * half of each kept (check_procprof.c, and by hand for go tool pprof).
 *
 *   sites [MB]     (default 200 MB allocated in all)
 *
 *   site_a  6/10 of the bytes in 4096 B blocks
 *   site_b  3/10 in 2048 B blocks
 *   site_c  1/10 in 1024 B blocks
 *
 * Every other block is freed at once.  Then one line on stdout:
 *   ready PID START_NS A_LO A_HI B_LO B_HI C_LO C_HI
 * (the wall-clock time before the first allocation, and the code range of
 * each site, from the linker's section bounds), and it waits until stdin
 * reaches end of file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define SITE(name, size)                                                             \
	extern const char __start_sec_##name[], __stop_sec_##name[];               \
	static __attribute__((noinline, used, section("sec_" #name))) void         \
	site_##name(void **kept, size_t bytes)                                       \
	{                                                                            \
		size_t n = bytes / (size), i;                                        \
		for (i = 0; i < n; i++) {                                            \
			void *p = malloc(size);                                      \
			if (p == NULL)                                               \
				exit(2);                                             \
			((volatile char *)p)[0] = 1;                                 \
			if (i % 2 == 0)                                              \
				kept[i / 2] = p;                                     \
			else                                                         \
				free(p);                                             \
		}                                                                    \
		__asm__ volatile("" ::: "memory");                                   \
	}
SITE(a, 4096)
SITE(b, 2048)
SITE(c, 1024)

int
main(int argc, char **argv)
{
	size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 200, total, n;
	void **ka, **kb, **kc;
	struct timespec ts;
	char c;

	if (mb == 0 || mb > 4096)
		return 2;
	total = mb << 20;
	n = total / 1024 / 2 + 1;
	ka = calloc(n, sizeof(void *));
	kb = calloc(n, sizeof(void *));
	kc = calloc(n, sizeof(void *));
	if (ka == NULL || kb == NULL || kc == NULL)
		return 2;
	/* The clock libgomem stamps samples with (a tick behind the precise one). */
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	/* Interleaved, so no site is older than another by much. */
	for (int round = 0; round < 10; round++) {
		site_a(ka + round * (total * 6 / 10 / 4096 / 2 / 10), total * 6 / 10 / 10);
		site_b(kb + round * (total * 3 / 10 / 2048 / 2 / 10), total * 3 / 10 / 10);
		site_c(kc + round * (total / 10 / 1024 / 2 / 10), total / 10 / 10);
	}
	printf("ready %d %llu %p %p %p %p %p %p\n", (int)getpid(),
	       (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec,
	       (void *)__start_sec_a, (void *)__stop_sec_a, (void *)__start_sec_b,
	       (void *)__stop_sec_b, (void *)__start_sec_c, (void *)__stop_sec_c);
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	return ka[0] == NULL;
}
