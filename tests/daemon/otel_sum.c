/*
 * otel_sum.c: libgomem's otel_memory:alloc / otel_memory:free probes, read
 * by BPF, estimate the bytes a process allocated.
 *
 *   otel_sum LIBGOMEM_SO     (root; exit 77 when BPF is not available)
 *
 * Forks a workload (this program with the argument "work", libgomem
 * preloaded) that allocates about 2 GB in blocks of 16 B .. 64 KiB and
 * reports the bytes it asked for; otel_sum.bpf.c sums the probes' weighted
 * bytes for that pid.  Passes when the sum is within 10% of the truth (at
 * one sample per 512 KiB that is about six standard deviations), the free
 * probe fired for sampled blocks, and the sample count is what the rate
 * predicts.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "otel_sum.skel.h"

#define RING 1024

/* The workload: xorshift sizes, a ring of live blocks; prints the truth. */
static int
work(void)
{
	static void *ring[RING];
	uint64_t x = 88172645463325252u, total = 0, n = 0;

	while (total < (2ull << 30)) {
		size_t k, sz;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		k = x % RING;
		sz = 16 + (x >> 24) % 65521;
		free(ring[k]);
		ring[k] = malloc(sz);
		if (ring[k] == NULL)
			return 1;
		((volatile char *)ring[k])[0] = 1;
		total += sz;
		n++;
	}
	for (int i = 0; i < RING; i++)
		free(ring[i]);
	printf("%llu %llu\n", (unsigned long long)total, (unsigned long long)n);
	return 0;
}

int
main(int argc, char **argv)
{
	struct otel_sum_bpf *skel = NULL;
	struct bpf_link *la = NULL, *lf = NULL;
	unsigned long long truth = 0, nallocs = 0;
	int go[2], out[2], st, rc = 1;
	char buf[128], env[4200];
	double err, want;
	ssize_t got;
	pid_t pid;
	FILE *f;

	if (argc == 2 && strcmp(argv[1], "work") == 0)
		return work();
	if (argc != 2 || argv[1][0] != '/') {
		fprintf(stderr, "usage: otel_sum /abs/path/libgomem.so\n");
		return 2;
	}
	if (geteuid() != 0) {
		printf("SKIP: needs root for BPF\n");
		return 77;
	}
	if (pipe(go) != 0 || pipe(out) != 0)
		return 1;
	snprintf(env, sizeof(env), "LD_PRELOAD=%s", argv[1]);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		char *cargv[] = { argv[0], "work", NULL }, *cenv[] = { env, NULL };

		dup2(out[1], 1);
		close(out[0]);
		close(go[1]);
		if (read(go[0], buf, 1) != 1) /* wait until the probes are attached */
			_exit(3);
		execve("/proc/self/exe", cargv, cenv);
		_exit(4);
	}
	close(go[0]);
	close(out[1]);

	skel = otel_sum_bpf__open();
	if (skel == NULL) {
		printf("SKIP: cannot open the BPF object\n");
		rc = 77;
		goto out;
	}
	skel->rodata->target_tgid = (__u32)pid;
	if (otel_sum_bpf__load(skel) != 0) {
		printf("SKIP: cannot load BPF programs (%s)\n", strerror(errno));
		rc = 77;
		goto out;
	}
	la = bpf_program__attach_usdt(skel->progs.otel_alloc, pid, argv[1], "otel_memory", "alloc",
				      NULL);
	lf = bpf_program__attach_usdt(skel->progs.otel_free, pid, argv[1], "otel_memory", "free",
				      NULL);
	if (la == NULL || lf == NULL) {
		fprintf(stderr, "FAIL: cannot attach to otel_memory:alloc/free in %s\n", argv[1]);
		goto out;
	}
	if (write(go[1], "g", 1) != 1)
		goto out;
	f = fdopen(out[0], "r");
	got = f != NULL && fscanf(f, "%llu %llu", &truth, &nallocs) == 2;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || !got) {
		fprintf(stderr, "FAIL: the workload did not finish\n");
		goto out;
	}
	pid = 0;
	err = ((double)skel->bss->weighted_bytes - (double)truth) / (double)truth;
	/* Expected samples: sum over allocations of 1 - exp(-size / rate), about
	   truth / rate for sizes well under the rate. */
	want = (double)truth / 524288.0;
	printf("otel_memory: %llu allocations of %llu bytes; %llu samples (%.0f expected), "
	       "%llu frees; weighted bytes %llu, error %+.2f%%\n",
	       nallocs, truth, (unsigned long long)skel->bss->allocs, want,
	       (unsigned long long)skel->bss->frees, (unsigned long long)skel->bss->weighted_bytes,
	       err * 100);
	if (fabs(err) > 0.10)
		fprintf(stderr, "FAIL: weighted bytes more than 10%% off the truth\n");
	else if (skel->bss->frees == 0 || skel->bss->frees > skel->bss->allocs)
		fprintf(stderr, "FAIL: frees of sampled blocks not reported\n");
	else if (fabs((double)skel->bss->allocs - want) > 6 * sqrt(want) + 0.05 * want)
		fprintf(stderr, "FAIL: sample count far from the rate's\n");
	else
		rc = 0;
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	bpf_link__destroy(la);
	bpf_link__destroy(lf);
	otel_sum_bpf__destroy(skel);
	return rc;
}
