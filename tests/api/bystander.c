/*
 * bystander.c: a program that may define malloc itself, as Chromium does,
 * run by preload_bystander.sh with libgomem preloaded.  Built with
 * -DOWN_MALLOC its executable exports its own malloc family (a bump
 * allocator over a static array), which comes before the preloaded
 * library's in the lookup, so the process never allocates from libgomem.
 *
 * It prints the number of threads the process has at the start of main,
 * then, with the argument "big", allocates 2 x 48 MiB through
 * __libc_malloc (glibc's name, which libgomem also exports: with libgomem
 * preloaded the call goes to it even where malloc does not) and prints
 * the count again; with "late", it sleeps 1.3 s, then allocates 100 bytes
 * the same way (a wrapper's malloc that forwards to libgomem).
 */
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef OWN_MALLOC
static _Alignas(64) unsigned char arena[16 << 20];
static atomic_size_t used;

/* A 16-byte header holds the size; nothing is ever reused. */
static void *bump(size_t n, size_t align)
{
	size_t off, start, end;

	if (n > sizeof(arena) || align > 4096)
		return NULL;
	off = atomic_load(&used);
	do {
		start = (off + 16 + align - 1) & ~(align - 1);
		end = start + n;
		if (end > sizeof(arena))
			return NULL;
	} while (!atomic_compare_exchange_weak(&used, &off, end));
	memcpy(arena + start - sizeof(size_t), &n, sizeof(n));
	return arena + start;
}

static size_t size_of(void *p)
{
	size_t n;

	memcpy(&n, (unsigned char *)p - sizeof(size_t), sizeof(n));
	return n;
}

void *malloc(size_t n)
{
	void *p = bump(n, 16);

	if (p == NULL)
		errno = ENOMEM;
	return p;
}

void free(void *p)
{
	if (p != NULL && ((unsigned char *)p < arena || (unsigned char *)p >= arena + sizeof(arena))) {
		fputs("bystander: free of a block that is not the program's\n", stderr);
		abort();
	}
}

void *calloc(size_t a, size_t b)
{
	size_t n;

	if (__builtin_mul_overflow(a, b, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc(n); /* the arena is never reused: still zero */
}

void *realloc(void *p, size_t n)
{
	void *q = malloc(n);

	if (q != NULL && p != NULL)
		memcpy(q, p, size_of(p) < n ? size_of(p) : n);
	return q;
}

void *memalign(size_t align, size_t n)
{
	return bump(n, align < 16 ? 16 : align);
}

void *aligned_alloc(size_t align, size_t n)
{
	return memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	void *p = memalign(align, n);

	if (p == NULL)
		return ENOMEM;
	*out = p;
	return 0;
}

size_t malloc_usable_size(void *p)
{
	return p == NULL ? 0 : size_of(p);
}
#endif

extern void *__libc_malloc(size_t n);
extern void __libc_free(void *p);

static int threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (d == NULL) {
		perror("bystander: /proc/self/task");
		exit(2);
	}
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	/* Built with -fno-pie -no-pie, this makes the executable's PLT slot for
	 * malloc the function's canonical address (Debian's python3 is such a
	 * program); the process still allocates from libgomem, through it. */
	void *(*volatile malloc_address)(size_t) = malloc;

	free(malloc_address(1));
	printf("threads=%d\n", threads());
	if (argc > 1 && strcmp(argv[1], "big") == 0) {
		void *p = __libc_malloc((size_t)48 << 20);
		void *q = __libc_malloc((size_t)48 << 20);

		if (p == NULL || q == NULL) {
			fputs("bystander: __libc_malloc failed\n", stderr);
			return 2;
		}
		memset(p, 1, 4096);
		memset(q, 1, 4096);
		printf("big threads=%d\n", threads());
		__libc_free(q);
		__libc_free(p);
	}
	if (argc > 1 && strcmp(argv[1], "late") == 0) {
		struct timespec ts = {1, 300000000};
		void *p;

		nanosleep(&ts, NULL);
		p = __libc_malloc(100);
		printf("late threads=%d\n", threads());
		__libc_free(p);
	}
	return 0;
}
