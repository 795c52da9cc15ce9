/*
 * profdump.c: gomemd's profile path without the daemon: find and read the
 * in-process tables of running processes (core/procprof), symbolise them
 * (core/dwsym) and write one pprof heap profile (encode/pprofpb).
 *
 *   profdump [-s SECONDS] [-l] [-n] -o OUT.pb.gz PID...
 *
 * -s N   a delta: read, wait N seconds, read again (Go's ?seconds=N)
 * -l     label each sample with pid and comm (the merged profile's labels)
 * -n     no symbols, as when gomemd cannot open the process's objects
 *
 * Used by pprof-test.sh; handy by hand with `go tool pprof`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dwsym.h"
#include "core/pprofpb.h"
#include "core/procprof.h"

#define MAXP 64

static void
comm_of(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	buf[0] = 0;
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(buf, (int)len, f) != NULL)
			buf[strcspn(buf, "\n")] = 0;
		fclose(f);
	}
}

int
main(int argc, char **argv)
{
	struct procprof cur[MAXP], old[MAXP];
	struct dwsym_proc *sym[MAXP];
	uint64_t addr[MAXP];
	pid_t pids[MAXP];
	const char *out = NULL;
	int secs = 0, labels = 0, nosym = 0, n = 0, i, c;
	struct pprof_builder *b;
	unsigned char *buf;
	size_t len;
	char err[256];
	FILE *f;

	while ((c = getopt(argc, argv, "s:lno:")) != -1) {
		if (c == 's')
			secs = atoi(optarg);
		else if (c == 'l')
			labels = 1;
		else if (c == 'n')
			nosym = 1;
		else if (c == 'o')
			out = optarg;
		else
			return 2;
	}
	if (out == NULL || optind == argc || argc - optind > MAXP) {
		fprintf(stderr, "usage: profdump [-s SECONDS] [-l] [-n] -o OUT.pb.gz PID...\n");
		return 2;
	}
	for (i = optind; i < argc; i++, n++) {
		pids[n] = (pid_t)atoi(argv[i]);
		if (procprof_find(pids[n], &addr[n], err, sizeof(err)) != 0 ||
		    procprof_read(pids[n], addr[n], NULL, secs ? &old[n] : &cur[n], err, sizeof(err)) != 0) {
			fprintf(stderr, "profdump: pid %d: %s\n", (int)pids[n], err);
			return 1;
		}
	}
	if (secs > 0) {
		sleep((unsigned)secs);
		for (i = 0; i < n; i++)
			if (procprof_read(pids[i], addr[i], NULL, &cur[i], err, sizeof(err)) != 0) {
				fprintf(stderr, "profdump: pid %d: %s\n", (int)pids[i], err);
				return 1;
			}
	}
	b = pprof_builder_new();
	for (i = 0; i < n; i++) {
		char pidstr[16], comm[64];
		struct pprof_label l[2] = { { "pid", pidstr, 0 }, { "comm", comm, 0 } };

		snprintf(pidstr, sizeof(pidstr), "%d", (int)pids[i]);
		comm_of(pids[i], comm, sizeof(comm));
		sym[i] = nosym ? NULL : dwsym_proc_open(pids[i], err, sizeof(err));
		if (sym[i] == NULL && !nosym)
			fprintf(stderr, "profdump: pid %d: no symbols: %s\n", (int)pids[i], err);
		pprof_builder_add(b, &cur[i], secs ? &old[i] : NULL, sym[i], l, labels ? 2 : 0);
	}
	if (pprof_builder_finish(b, &buf, &len) != 0 || (f = fopen(out, "w")) == NULL ||
	    fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "profdump: cannot write %s\n", out);
		return 1;
	}
	free(buf);
	pprof_builder_free(b);
	for (i = 0; i < n; i++) {
		dwsym_proc_close(sym[i]);
		procprof_free(&cur[i]);
		if (secs)
			procprof_free(&old[i]);
	}
	return 0;
}
