/*
 * workload.c: a test process for gomemd.  Run with libgomem preloaded:
 *
 *   workload OUTFILE SIZExCOUNT[,SIZExCOUNT...]
 *
 * allocates COUNT objects of each SIZE, frees every third one, returns
 * idle memory to the OS (so the scavenger has nothing left to do), reads
 * its MemStats with gomem_read_memstats() at that quiescent point and
 * writes them to OUTFILE as "Name value" lines (Go fields, BySize.i.*,
 * Extra.*), then waits for a signal (at most 300 s).  Nothing after the
 * read allocates: the text is built in a static buffer and written with
 * write(2).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gomem_memstats.h"

static struct gomem_memstats ms;
static char out[256 * 1024];
static size_t outlen;

/* Append formatted text to out. */
#define OUT(...) (outlen += (size_t)snprintf(out + outlen, sizeof out - outlen, __VA_ARGS__))

int
main(int argc, char **argv)
{
	void (*read_memstats)(struct gomem_memstats *);
	void (*free_os_memory)(void);
	static void *objs[1 << 20];
	size_t nobjs = 0, i;
	char tmp[4096], *spec, *tok, *save;
	int fd, k;

	if (argc != 3) {
		fprintf(stderr, "usage: workload OUTFILE SIZExCOUNT[,...]\n");
		return 2;
	}
	read_memstats = (void (*)(struct gomem_memstats *))dlsym(RTLD_DEFAULT, "gomem_read_memstats");
	free_os_memory = (void (*)(void))dlsym(RTLD_DEFAULT, "gomem_free_os_memory");
	if (read_memstats == NULL || free_os_memory == NULL) {
		fprintf(stderr, "workload: libgomem is not loaded (LD_PRELOAD it)\n");
		return 3;
	}

	/* step 1: allocate what the spec says, touching each object */
	spec = strdup(argv[2]);
	for (tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned long size, count;

		if (sscanf(tok, "%lux%lu", &size, &count) != 2) {
			fprintf(stderr, "workload: bad spec %s\n", tok);
			return 2;
		}
		for (i = 0; i < count && nobjs < sizeof objs / sizeof objs[0]; i++) {
			objs[nobjs] = malloc(size);
			memset(objs[nobjs], 0xa5, size);
			nobjs++;
		}
	}
	free(spec);

	/* step 2: free every third object, so Frees and partial spans exist */
	for (i = 0; i < nobjs; i += 3) {
		free(objs[i]);
		objs[i] = NULL;
	}

	/* step 3: quiesce and read */
	free_os_memory();
	read_memstats(&ms);

	/* step 4: write "Name value" lines, without allocating */
#define W_U64(n, ...) OUT(#n " %llu\n", (unsigned long long)ms.n);
#define W_U64A(n) for (k = 0; k < GOMEM_NUM_PAUSE; k++) OUT(#n ".%d %llu\n", k, ms.n[k]);
#define W_U32(n) OUT(#n " %u\n", ms.n);
#define W_F64(n, ...) OUT(#n " %.17g\n", ms.n);
#define W_BOOL(n) OUT(#n " %s\n", ms.n ? "true" : "false");
#define W_BYSZ(n)                                                                          \
	for (k = 0; k < GOMEM_NUM_BYSIZE; k++)                                             \
		OUT(#n ".%d %u %llu %llu\n", k, ms.n[k].Size, ms.n[k].Mallocs, ms.n[k].Frees);
	GOMEM_MEMSTATS_GO_FIELDS(W_U64, W_U64A, W_U32, W_F64, W_BOOL, W_BYSZ)
#undef W_U64
#define W_U64(n, ...) OUT("Extra." #n " %llu\n", (unsigned long long)ms.n);
	GOMEM_MEMSTATS_EXTRA_FIELDS(W_U64)
	snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, out, outlen) != (ssize_t)outlen || close(fd) != 0 ||
	    rename(tmp, argv[1]) != 0) {
		perror("workload: writing results");
		return 1;
	}

	/* step 5: stay quiescent until killed */
	alarm(300);
	for (;;)
		pause();
}
