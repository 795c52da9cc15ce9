/*
 * check_api.c: the exported malloc family of libgomem against glibc/POSIX
 * semantics.
 *
 * This program is linked against libgomem.la, so every malloc in it, the
 * Check runner's included, is gomem's.  The first test proves that; the
 * expectations in the others come from the C standard, POSIX, the Linux man
 * pages and glibc's documented behaviour, never from gomem's internals, so
 * the same tests pass when run against glibc.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "gomem.h"
#include "api_util.h"
#include "../common/rss.h"

/* glibc exports these but declares them in no public header. */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

#define KiB ((size_t)1024)
#define MiB (KiB * 1024)

static size_t page_size;

static void setup(void)
{
	page_size = (size_t)sysconf(_SC_PAGESIZE);
}

/*
 * Sizes worth testing: every size up to 1 KiB, then the neighbourhood of
 * every power of two and of a few odd numbers up to 8 MiB.
 */
static size_t interesting_sizes(size_t *out, size_t max)
{
	size_t n = 0, s, k;
	static const size_t odd[] = {1000,  3000,   5000,   10000,   20000,  32767,
				     32768, 32769,  40000,  65535,   65536,  65537,
				     70000, 100000, 262143, 1000000, 3000000};

	for (s = 0; s <= 1024 && n < max; s++)
		out[n++] = s;
	for (s = 2048; s <= 8 * MiB; s *= 2)
		for (k = 0; k < 3 && n < max; k++)
			out[n++] = s - 1 + k;
	for (k = 0; k < sizeof(odd) / sizeof(odd[0]) && n < max; k++)
		out[n++] = odd[k];
	return n;
}

/* ---- Identity: this really is gomem ---- */

START_TEST(test_identity)
{
	static const char *const api[] = {
	    "malloc",
	    "free",
	    "calloc",
	    "realloc",
	    "reallocarray",
	    "memalign",
	    "posix_memalign",
	    "aligned_alloc",
	    "valloc",
	    "pvalloc",
	    "malloc_usable_size",
	    "__libc_malloc",
	    "__libc_free",
	    "__libc_calloc",
	    "__libc_realloc",
	    "__libc_memalign",
	    "__libc_valloc",
	    "__libc_pvalloc",
	};
	const char *v = gomem_version(), *home;
	size_t i;

	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, GOMEM_VERSION_STRING);

	/* Every entry point must come from the object that defines gomem_version. */
	home = symbol_owner("gomem_version");
	ck_assert_msg(home != NULL, "gomem_version is not in the global scope");
	for (i = 0; i < sizeof(api) / sizeof(api[0]); i++) {
		const char *owner = symbol_owner(api[i]);
		ck_assert_msg(owner != NULL && strcmp(owner, home) == 0,
			      "%s resolves to %s, not to gomem (%s)", api[i],
			      owner ? owner : "(none)", home);
	}
}
END_TEST

/* ---- malloc ---- */

START_TEST(test_malloc_alignment)
{
	size_t sizes[1200], n = interesting_sizes(sizes, 1200), i, j;
	void *p[8];

	for (i = 0; i < n; i++) {
		/* Several at once so that we do not see one slot reused. */
		size_t k = sizes[i] >= 65536 ? 2 : 8;

		for (j = 0; j < k; j++) {
			p[j] = malloc(sizes[i]);
			ck_assert_msg(p[j] != NULL, "malloc(%zu) failed", sizes[i]);
			ck_assert_msg(is_aligned(p[j], promised_align(sizes[i])),
				      "malloc(%zu) = %p not aligned to %zu", sizes[i], p[j],
				      promised_align(sizes[i]));
			/* Writable: the head and the last byte. */
			memset(p[j], 0x5a, sizes[i] < 65536 ? sizes[i] : 65536);
			if (sizes[i] > 0)
				((volatile char *)p[j])[sizes[i] - 1] = 1;
		}
		for (j = 0; j < k; j++)
			free(p[j]);
	}
}
END_TEST

/*
 * Every size 0..64 through every allocation function: 8-byte aligned, 16
 * from 16 B up (GCC folds `malloc(n) & 7` to 0 on that assumption), and each
 * function's own alignment when it asks for more.  Many blocks of each size
 * are live at once, so packing neighbours are seen.
 */
START_TEST(test_every_function_aligned_0_64)
{
	enum { PER = 6, NFN = 13 };
	static void *v[65][NFN][PER];
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);

	for (size_t n = 0; n <= 64; n++) {
		for (int f = 0; f < NFN; f++) {
			for (int k = 0; k < PER; k++) {
				size_t want = n >= 16 ? 16 : 8;
				void *p = NULL;

				switch (f) {
				case 0: p = malloc(n); break;
				case 1: p = calloc(n, 1); break;
				case 2: p = calloc(1, n); break;
				case 3: p = realloc(NULL, n); break;
				case 4: p = realloc(malloc(64), n ? n : 1); break;
				case 5: p = reallocarray(NULL, n, 1); break;
				case 6: p = memalign(1, n); break;
				case 7: p = memalign(4, n); break;
				case 8: ck_assert_int_eq(posix_memalign(&p, 8, n), 0); break;
				case 9: ck_assert_int_eq(posix_memalign(&p, 32, n), 0); want = 32; break;
				case 10: p = aligned_alloc(2, n); break;
				case 11: p = aligned_alloc(16, n); want = 16; break;
				case 12: p = valloc(n); want = ps; break;
				}
				ck_assert_msg(p != NULL, "function %d size %zu failed", f, n);
				ck_assert_msg(is_aligned(p, want), "function %d size %zu: %p not %zu-aligned",
					      f, n, p, want);
				ck_assert_uint_ge(malloc_usable_size(p), n);
				memset(p, 0xa5, n);
				v[n][f][k] = p;
			}
		}
	}
	for (size_t n = 0; n <= 64; n++)
		for (int f = 0; f < NFN; f++)
			for (int k = 0; k < PER; k++)
				free(v[n][f][k]);
}
END_TEST

START_TEST(test_malloc_zero_unique)
{
	enum { N = 1000 };
	static void *p[N];
	size_t i, j;

	for (i = 0; i < N; i++) {
		p[i] = malloc(0);
		ck_assert_msg(p[i] != NULL, "malloc(0) #%zu returned NULL", i);
		for (j = 0; j < i; j++)
			ck_assert_msg(p[i] != p[j], "malloc(0) returned %p twice while live", p[i]);
	}
	for (i = 0; i < N; i++)
		free(p[i]);
	/* And the freed zero-size blocks do not break later allocation. */
	for (i = 0; i < N; i++) {
		p[i] = malloc(i);
		ck_assert_ptr_nonnull(p[i]);
		memset(p[i], 1, i);
	}
	for (i = 0; i < N; i++)
		free(p[i]);
}
END_TEST

START_TEST(test_free_null)
{
	int i;

	errno = 1234;
	for (i = 0; i < 100; i++)
		free(NULL);
	ck_assert_int_eq(errno, 1234); /* POSIX.1-2024: free does not touch errno */
	__libc_free(NULL);
}
END_TEST

START_TEST(test_malloc_enomem)
{
	static const size_t huge[] = {SIZE_MAX,	       SIZE_MAX - 1,	 SIZE_MAX - 15,
				      SIZE_MAX - 4096, SIZE_MAX / 2 + 1, (size_t)PTRDIFF_MAX + 1,
				      (size_t)1 << 62, (size_t)1 << 60,	 (size_t)1 << 50};
	size_t i;

	for (i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		void *p;

		errno = 0;
		p = malloc(huge[i]);
		ck_assert_msg(p == NULL, "malloc(%zu) = %p, expected NULL", huge[i], p);
		ck_assert_msg(errno == ENOMEM, "malloc(%zu): errno %d, expected ENOMEM", huge[i],
			      errno);
		errno = 0;
		p = __libc_malloc(huge[i]);
		ck_assert_ptr_null(p);
		ck_assert_int_eq(errno, ENOMEM);
	}
	/* The allocator still works afterwards. */
	{
		void *p = malloc(100);
		ck_assert_ptr_nonnull(p);
		free(p);
	}
}
END_TEST

/*
 * A real out-of-memory condition, not a size that cannot fit: cap the
 * address space in a child and ask for more than is left.  The allocator
 * must return NULL with ENOMEM and keep working for small requests.
 */
static size_t vm_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%lu", &size) != 1)
		size = 0;
	fclose(f);
	return (size_t)size * (size_t)sysconf(_SC_PAGESIZE);
}

START_TEST(test_malloc_enomem_rlimit)
{
	pid_t pid;
	int status;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct rlimit rl;
		void *small[64], *p;
		size_t big;
		int i;

		/* Warm up, so the heap has its metadata mapped. */
		for (i = 0; i < 64; i++)
			small[i] = malloc(100 + i);
		/* Leave 512 MiB of address space on top of what is mapped now; ask for 2 GiB. */
		rl.rlim_cur = rl.rlim_max = (rlim_t)(vm_bytes() + 512 * MiB);
		big = (size_t)2 << 30;
		if (setrlimit(RLIMIT_AS, &rl) != 0)
			_exit(10);
		errno = 0;
		p = malloc(big);
		if (p != NULL)
			_exit(11);
		if (errno != ENOMEM)
			_exit(12);
		errno = 0;
		p = calloc(1, big);
		if (p != NULL || errno != ENOMEM)
			_exit(13);
		p = malloc(64);
		errno = 0;
		if (realloc(p, big) != NULL || errno != ENOMEM)
			_exit(14);
		free(p);
		for (i = 0; i < 64; i++)
			free(small[i]);
		for (i = 0; i < 1000; i++) {
			p = malloc((size_t)i * 7 + 1);
			if (p == NULL)
				_exit(15);
			memset(p, 3, (size_t)i * 7 + 1);
			free(p);
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "child died with signal %d",
		      WIFSIGNALED(status) ? WTERMSIG(status) : -1);
	ck_assert_msg(
	    WEXITSTATUS(status) == 0,
	    "child step %d failed (11: 2 GiB malloc with 512 MiB of RLIMIT_AS left did not "
	    "return NULL, 12: errno not ENOMEM, 13: calloc, 14: realloc, 15: small "
	    "malloc after OOM)",
	    WEXITSTATUS(status));
}
END_TEST

/* Many live objects of random sizes never overlap and keep their contents. */
START_TEST(test_no_overlap)
{
	enum { N = 20000 };
	static unsigned char *p[N];
	static size_t sz[N];
	uint64_t seed = 42;
	size_t i, round;

	for (i = 0; i < N; i++) {
		sz[i] = rng_range(&seed, 0, i % 100 == 0 ? 70000 : 600);
		p[i] = malloc(sz[i]);
		ck_assert_ptr_nonnull(p[i]);
		pattern_fill(p[i], sz[i], i);
	}
	for (round = 0; round < 3; round++) {
		for (i = 0; i < N; i++) {
			ck_assert_msg(pattern_check(p[i], sz[i], i + round * N) == (size_t)-1,
				      "block %zu (%zu B at %p) corrupted", i, sz[i], (void *)p[i]);
			if (rng_next(&seed) & 1) {
				free(p[i]);
				sz[i] = rng_range(&seed, 0, i % 50 == 0 ? 200000 : 1000);
				p[i] = malloc(sz[i]);
				ck_assert_ptr_nonnull(p[i]);
			}
			pattern_fill(p[i], sz[i], i + (round + 1) * N);
		}
	}
	for (i = 0; i < N; i++) {
		ck_assert(pattern_check(p[i], sz[i], i + 3 * N) == (size_t)-1);
		free(p[i]);
	}
}
END_TEST

/* ---- calloc ---- */

START_TEST(test_calloc_overflow)
{
	static const size_t pairs[][2] = {
	    {SIZE_MAX / 2, 3},
	    {3, SIZE_MAX / 2},
	    {(size_t)1 << 33, (size_t)1 << 33},
	    {SIZE_MAX, SIZE_MAX},
	    {SIZE_MAX, 2},
	    {(size_t)1 << 32, (size_t)1 << 32},
	    {((size_t)1 << 63) + 1, 2},
	    {65537, (SIZE_MAX / 65537) + 1},
	};
	size_t i;

	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		void *p;

		errno = 0;
		p = calloc(pairs[i][0], pairs[i][1]);
		ck_assert_msg(p == NULL, "calloc(%zu, %zu) = %p, expected NULL", pairs[i][0],
			      pairs[i][1], p);
		ck_assert_msg(errno == ENOMEM, "calloc(%zu, %zu): errno %d, expected ENOMEM",
			      pairs[i][0], pairs[i][1], errno);
		errno = 0;
		p = __libc_calloc(pairs[i][0], pairs[i][1]);
		ck_assert_ptr_null(p);
		ck_assert_int_eq(errno, ENOMEM);
	}
}
END_TEST

START_TEST(test_calloc_zero_sizes)
{
	void *a = calloc(0, 10), *b = calloc(10, 0), *c = calloc(0, 0);

	/* glibc returns unique non-NULL pointers, like malloc(0). */
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_ne(a, b);
	ck_assert_ptr_ne(b, c);
	ck_assert_ptr_ne(a, c);
	free(a);
	free(b);
	free(c);
}
END_TEST

/*
 * calloc must zero memory that was used and freed before: fill blocks of each
 * size with garbage, free them, and calloc the same sizes again.
 */
START_TEST(test_calloc_dirty_reuse)
{
	static const size_t sizes[] = {
	    1,	   2,	  3,	 7,	8,	15,	16,	 17,	  24,	  32,	 48,
	    64,	   100,	  128,	 256,	500,	1024,	2000,	 4096,	  8192,	  10000, 16384,
	    32768, 32769, 40000, 65536, 100000, 262144, 1 << 20, 3 << 20, 9 << 20};
	enum { K = 64 };
	void *p[K];
	size_t i, j;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i], k = n >= MiB ? 4 : K;

		for (j = 0; j < k; j++) {
			p[j] = malloc(n);
			ck_assert_ptr_nonnull(p[j]);
			memset(p[j], 0xA5, malloc_usable_size(p[j]));
		}
		for (j = 0; j < k; j++)
			free(p[j]);
		for (j = 0; j < k; j++) {
			size_t off;

			p[j] = calloc(1, n);
			ck_assert_ptr_nonnull(p[j]);
			off = zero_check(p[j], n);
			ck_assert_msg(off == (size_t)-1,
				      "calloc(1, %zu) = %p has byte %zu = 0x%02x after reuse", n,
				      p[j], off, ((unsigned char *)p[j])[off]);
			memset(p[j], 0xA5, n);
		}
		for (j = 0; j < k; j++)
			free(p[j]);
		/* Same again through nmemb * size and __libc_calloc. */
		for (j = 0; j < k; j++) {
			p[j] = (j & 1) ? __libc_calloc(n, 1) : calloc(n, 1);
			ck_assert_ptr_nonnull(p[j]);
			ck_assert_msg(zero_check(p[j], n) == (size_t)-1, "calloc(%zu, 1) dirty", n);
		}
		for (j = 0; j < k; j++)
			free(p[j]);
	}
}
END_TEST

START_TEST(test_calloc_large)
{
	size_t n = 64 * MiB;
	unsigned char *p = calloc(n / 8, 8);

	ck_assert_ptr_nonnull(p);
	ck_assert(is_aligned(p, 16));
	ck_assert(zero_check(p, n) == (size_t)-1);
	memset(p, 0xff, n);
	free(p);
	p = calloc(1, n);
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(zero_check(p, n) == (size_t)-1, "64 MiB calloc after dirty free not zero");
	free(p);
}
END_TEST

/*
 * calloc trusts pages the scavenger gave back to read as zero.  Under
 * mlockall the kernel refuses MADV_DONTNEED (EINVAL), so the pages keep
 * their bytes: they must be zeroed some other way, or calloc hands out old
 * data.  In a child, so that the lock stays there; it needs CAP_IPC_LOCK or
 * a memlock limit over the heap (root in CI).
 */
START_TEST(test_calloc_after_release_under_mlockall)
{
	const size_t n = 8 * MiB; /* over the thread's large cache: back to the heap */
	int st;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		unsigned char *p, *q;
		size_t off;

		if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
			_exit(77);
		p = malloc(n);
		if (p == NULL)
			_exit(2);
		memset(p, 0xAA, n);
		free(p);
		malloc_trim(0); /* every idle page back now: madvise fails on each */
		q = calloc(1, n);
		if (q == NULL)
			_exit(3);
		off = zero_check(q, n);
		if (off != (size_t)-1) {
			fprintf(stderr, "calloc(1, %zu) = %p has byte %zu = 0x%02x under mlockall\n",
				n, (void *)q, off, q[off]);
			_exit(1);
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77) {
		fprintf(stderr, "note: mlockall refused (no CAP_IPC_LOCK): not checked\n");
		return;
	}
	ck_assert_msg(WEXITSTATUS(st) == 0, "child exited %d", WEXITSTATUS(st));
}
END_TEST

/*
 * free keeps errno (glibc 2.33 on, POSIX.1-2024) also when it waits for a
 * lock: a futex wait that finds the word changed fails with EAGAIN.
 */
static int errno_seen;

static void *free_errno_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < 40000 && !__atomic_load_n(&errno_seen, __ATOMIC_RELAXED); i++) {
		void *a = malloc(40000), *b = malloc(90000 + (size_t)(i & 7) * 4096);

		if (a == NULL || b == NULL) {
			__atomic_store_n(&errno_seen, -1, __ATOMIC_RELAXED);
			break;
		}
		errno = 0;
		free(a);
		free(b);
		if (errno != 0)
			__atomic_store_n(&errno_seen, errno, __ATOMIC_RELAXED);
	}
	return NULL;
}

START_TEST(test_free_keeps_errno_contended)
{
	pthread_t t[6];
	unsigned i;

	errno_seen = 0;
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, free_errno_thread, NULL), 0);
	for (i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	ck_assert_msg(errno_seen == 0, "free set errno to %d (-1: malloc failed)", errno_seen);
}
END_TEST

/* ---- realloc ---- */

/* Grow one block through every size to 4 KiB, then in steps to 70000, and back. */
START_TEST(test_realloc_grow_shrink)
{
	unsigned char *p = NULL;
	size_t n, prev = 0, off;

	for (n = 1; n <= 70000; n += (n < 4096 ? 1 : n < 33000 ? 61 : 97)) {
		p = realloc(p, n);
		ck_assert_msg(p != NULL, "realloc to %zu failed", n);
		ck_assert_msg(is_aligned(p, promised_align(n)),
			      "realloc(%zu -> %zu) = %p not aligned to %zu", prev, n, (void *)p,
			      promised_align(n));
		off = pattern_check(p, prev, 7);
		ck_assert_msg(off == (size_t)-1, "realloc %zu -> %zu lost byte %zu", prev, n, off);
		pattern_fill(p, n, 7);
		prev = n;
	}
	for (n = prev; n >= 1; n -= (n <= 4096 ? 1 : n <= 33000 ? 61 : 97)) {
		p = realloc(p, n);
		ck_assert_msg(p != NULL, "realloc to %zu failed", n);
		off = pattern_check(p, n, 7);
		ck_assert_msg(off == (size_t)-1, "realloc %zu -> %zu lost byte %zu", prev, n, off);
		ck_assert(malloc_usable_size(p) >= n);
		prev = n;
		if (n == 1)
			break;
	}
	free(p);
}
END_TEST

/* Random size pairs, including the multi-MiB range, with other blocks in between. */
START_TEST(test_realloc_random_pairs)
{
	uint64_t seed = 99;
	int i;

	for (i = 0; i < 4000; i++) {
		size_t a = rng_range(&seed, 1, i % 10 == 0 ? 300000 : 70000);
		size_t b = rng_range(&seed, 1, i % 7 == 0 ? 300000 : 70000);
		unsigned char *p = malloc(a), *q, *other;
		size_t off;

		ck_assert_ptr_nonnull(p);
		pattern_fill(p, a, (uint64_t)i);
		other = malloc(a / 2 + 1); /* neighbour that must not be clobbered */
		ck_assert_ptr_nonnull(other);
		pattern_fill(other, a / 2 + 1, (uint64_t)i + 1000000);
		q = realloc(p, b);
		ck_assert_msg(q != NULL, "realloc(%zu -> %zu) failed", a, b);
		off = pattern_check(q, a < b ? a : b, (uint64_t)i);
		ck_assert_msg(off == (size_t)-1, "realloc(%zu -> %zu) lost byte %zu", a, b, off);
		ck_assert(malloc_usable_size(q) >= b);
		memset(q, 0xEE, b);
		ck_assert(pattern_check(other, a / 2 + 1, (uint64_t)i + 1000000) == (size_t)-1);
		free(other);
		free(q);
	}
}
END_TEST

START_TEST(test_realloc_multi_mib)
{
	static const size_t steps[] = {1 * MiB,	 4 * MiB,     16 * MiB, 3 * MiB,  100,
				       33 * MiB, 5 * MiB + 3, 70000,	24 * MiB, 1};
	unsigned char *p = NULL;
	size_t i, prev = 0;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		size_t n = steps[i], keep = prev < n ? prev : n, off;

		p = realloc(p, n);
		ck_assert_msg(p != NULL, "realloc to %zu failed", n);
		ck_assert_msg(is_aligned(p, promised_align(n)),
			      "realloc(%zu -> %zu) = %p not aligned to %zu", prev, n, (void *)p,
			      promised_align(n));
		off = pattern_check(p, keep, 1234);
		ck_assert_msg(off == (size_t)-1, "realloc %zu -> %zu lost byte %zu", prev, n, off);
		pattern_fill(p, n, 1234);
		prev = n;
	}
	free(p);
}
END_TEST

START_TEST(test_realloc_null_is_malloc)
{
	size_t n;

	for (n = 0; n < 100000; n = n * 3 + 1) {
		void *p = realloc(NULL, n);
		ck_assert_msg(p != NULL, "realloc(NULL, %zu) returned NULL", n);
		ck_assert(is_aligned(p, promised_align(n)));
		ck_assert(malloc_usable_size(p) >= n);
		memset(p, 0x11, n);
		free(p);
		p = __libc_realloc(NULL, n);
		ck_assert_ptr_nonnull(p);
		memset(p, 0x11, n);
		free(p);
	}
}
END_TEST

/*
 * realloc(p, 0): C17 leaves it implementation-defined; glibc frees p and
 * returns NULL.  Accept NULL or a unique freeable pointer, and check that p
 * really was released by showing the allocator keeps working after
 * many rounds (a leak would not show here, a double free would).
 */
START_TEST(test_realloc_zero)
{
	int i;
	void *held[100];

	for (i = 0; i < 100; i++) {
		held[i] = malloc(48);
		ck_assert_ptr_nonnull(held[i]);
	}
	for (i = 0; i < 10000; i++) {
		void *p = malloc((size_t)(i % 2000) + 1), *q;

		ck_assert_ptr_nonnull(p);
		q = realloc(p, 0);
		if (q != NULL) {
			int j;
			for (j = 0; j < 100; j++)
				ck_assert_ptr_ne(q, held[j]);
			free(q);
		}
	}
	for (i = 0; i < 100; i++)
		free(held[i]);
}
END_TEST

/* A failed realloc returns NULL with ENOMEM and leaves the old block alone. */
START_TEST(test_realloc_fail_keeps_block)
{
	static const size_t from[] = {10, 100, 5000, 40000, 2 * MiB};
	size_t i;

	for (i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
		unsigned char *p = malloc(from[i]), *q;

		ck_assert_ptr_nonnull(p);
		pattern_fill(p, from[i], 5);
		errno = 0;
		q = realloc(p, SIZE_MAX - 8);
		ck_assert_ptr_null(q);
		ck_assert_int_eq(errno, ENOMEM);
		errno = 0;
		q = realloc(p, (size_t)PTRDIFF_MAX + 1);
		ck_assert_ptr_null(q);
		ck_assert_int_eq(errno, ENOMEM);
		ck_assert(pattern_check(p, from[i], 5) == (size_t)-1);
		q = realloc(p, from[i] * 2);
		ck_assert_ptr_nonnull(q);
		ck_assert(pattern_check(q, from[i], 5) == (size_t)-1);
		free(q);
	}
}
END_TEST

/* ---- reallocarray ---- */

START_TEST(test_reallocarray)
{
	unsigned char *p, *q;

	p = reallocarray(NULL, 10, 10);
	ck_assert_ptr_nonnull(p);
	ck_assert(malloc_usable_size(p) >= 100);
	pattern_fill(p, 100, 3);

	errno = 0;
	q = reallocarray(p, SIZE_MAX / 2, 3);
	ck_assert_ptr_null(q);
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	q = reallocarray(p, (size_t)1 << 32, (size_t)1 << 32);
	ck_assert_ptr_null(q);
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	q = reallocarray(p, SIZE_MAX, SIZE_MAX);
	ck_assert_ptr_null(q);
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert(pattern_check(p, 100, 3) == (size_t)-1);

	q = reallocarray(p, 1000, 70);
	ck_assert_ptr_nonnull(q);
	ck_assert(malloc_usable_size(q) >= 70000);
	ck_assert(pattern_check(q, 100, 3) == (size_t)-1);
	pattern_fill(q, 70000, 4);
	p = reallocarray(q, 3, 5);
	ck_assert_ptr_nonnull(p);
	ck_assert(pattern_check(p, 15, 4) == (size_t)-1);
	free(p);
}
END_TEST

/* ---- aligned allocation ---- */

START_TEST(test_posix_memalign_einval)
{
	/* Not a power of two, or not a multiple of sizeof(void *). */
	static const size_t bad[] = {0,
				     1,
				     2,
				     3,
				     4,
				     5,
				     7,
				     12,
				     24,
				     48,
				     100,
				     4095,
				     4097,
				     sizeof(void *) / 2,
				     3 * sizeof(void *),
				     SIZE_MAX,
				     ((size_t)1 << 63) + 8};
	void *sentinel = (void *)0x1234, *p;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r;

		p = sentinel;
		errno = 0;
		r = posix_memalign(&p, bad[i], 64);
		ck_assert_msg(r == EINVAL, "posix_memalign(align %zu) returned %d, expected EINVAL",
			      bad[i], r);
		/* POSIX.1-2008 TC2 and glibc: memptr is not modified on failure. */
		ck_assert_msg(p == sentinel, "posix_memalign(align %zu) modified *memptr", bad[i]);
		/* posix_memalign reports through its return value, not errno. */
		ck_assert_msg(errno == 0, "posix_memalign set errno to %d", errno);
	}
}
END_TEST

START_TEST(test_posix_memalign_valid)
{
	static const size_t sizes[] = {0, 1, 7, 8, 15, 16, 100, 4096, 5000, 40000, 200000, 3 * MiB};
	size_t a, i;

	for (a = sizeof(void *); a <= 16 * MiB; a *= 2) {
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			void *p = (void *)0x1, *q;
			int r = posix_memalign(&p, a, sizes[i]);

			ck_assert_msg(r == 0, "posix_memalign(%zu, %zu) = %d", a, sizes[i], r);
			if (sizes[i] == 0 && p == NULL)
				continue;
			ck_assert_ptr_nonnull(p);
			ck_assert_msg(is_aligned(p, a), "posix_memalign(%zu, %zu) = %p misaligned",
				      a, sizes[i], p);
			ck_assert(malloc_usable_size(p) >= sizes[i]);
			pattern_fill(p, sizes[i], a + i);
			/* realloc of an aligned block keeps the contents. */
			q = realloc(p, sizes[i] + 100);
			ck_assert_ptr_nonnull(q);
			ck_assert(pattern_check(q, sizes[i], a + i) == (size_t)-1);
			free(q);
		}
	}
}
END_TEST

START_TEST(test_posix_memalign_enomem)
{
	void *sentinel = (void *)0x1234, *p = sentinel;
	int r;

	r = posix_memalign(&p, 64, SIZE_MAX);
	ck_assert_int_eq(r, ENOMEM);
	ck_assert_ptr_eq(p, sentinel);
	r = posix_memalign(&p, 4096, SIZE_MAX - 4096);
	ck_assert_int_eq(r, ENOMEM);
	r = posix_memalign(&p, 1 * MiB, (size_t)1 << 62);
	ck_assert_int_eq(r, ENOMEM);
	ck_assert_ptr_eq(p, sentinel);
}
END_TEST

START_TEST(test_aligned_alloc)
{
	size_t a, k;

	for (a = 1; a <= 1 * MiB; a *= 2) {
		void *p[6];
		/* C11 wants size a multiple of alignment; C17/glibc accept any size. */
		size_t sizes[6] = {a, 2 * a, 3 * a, a + 1, 1, 100000};

		for (k = 0; k < 6; k++) {
			p[k] = aligned_alloc(a, sizes[k]);
			ck_assert_msg(p[k] != NULL, "aligned_alloc(%zu, %zu) failed", a, sizes[k]);
			ck_assert_msg(is_aligned(p[k], a),
				      "aligned_alloc(%zu, %zu) = %p misaligned", a, sizes[k], p[k]);
			ck_assert(malloc_usable_size(p[k]) >= sizes[k]);
			pattern_fill(p[k], sizes[k], a * 8 + k);
		}
		for (k = 0; k < 6; k++) {
			ck_assert(pattern_check(p[k], sizes[k], a * 8 + k) == (size_t)-1);
			free(p[k]);
		}
	}
	errno = 0;
	ck_assert_ptr_null(aligned_alloc(64, SIZE_MAX));
	ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

START_TEST(test_memalign)
{
	static const size_t aligns[] = {1,     2,	4,	 8,	  16,	    32,
					64,    128,	256,	 512,	  4096,	    8192,
					65536, 1 * MiB, 2 * MiB, 4 * MiB, 16 * MiB, 64 * MiB};
	static const size_t sizes[] = {1, 24, 100, 4096, 40000, 3 * MiB};
	size_t i, j;

	for (i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
		for (j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			void *p = memalign(aligns[i], sizes[j]);
			void *q = __libc_memalign(aligns[i], sizes[j]);

			ck_assert_msg(p != NULL && q != NULL, "memalign(%zu, %zu) failed",
				      aligns[i], sizes[j]);
			ck_assert_msg(is_aligned(p, aligns[i]), "memalign(%zu, %zu) = %p",
				      aligns[i], sizes[j], p);
			ck_assert_msg(is_aligned(q, aligns[i]), "__libc_memalign(%zu, %zu) = %p",
				      aligns[i], sizes[j], q);
			ck_assert(malloc_usable_size(p) >= sizes[j]);
			memset(p, 0x77, sizes[j]);
			memset(q, 0x66, sizes[j]);
			free(p);
			free(q);
		}
	}
}
END_TEST

/* glibc rounds a non-power-of-two alignment up to the next power of two. */
START_TEST(test_memalign_odd_alignment)
{
	static const size_t aligns[][2] = {{3, 4},     {24, 32},     {48, 64},
					   {100, 128}, {3000, 4096}, {5000, 8192}};
	size_t i;
	void *p;

	for (i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
		p = memalign(aligns[i][0], 200);
		ck_assert_msg(p != NULL, "memalign(%zu, 200) failed", aligns[i][0]);
		ck_assert_msg(is_aligned(p, aligns[i][1]),
			      "memalign(%zu, 200) = %p, not aligned to %zu as glibc does",
			      aligns[i][0], p, aligns[i][1]);
		memset(p, 1, 200);
		free(p);
	}
	/* An alignment above SIZE_MAX / 2 + 1 cannot be rounded: EINVAL. */
	errno = 0;
	p = memalign(SIZE_MAX / 2 + 2, 16);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	p = memalign(64, SIZE_MAX - 32);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

/*
 * Aligned requests, many of a size, freed and taken again: after the first
 * refill of a class the thread's list hands them out (the inline path of
 * posix_memalign, aligned_alloc and memalign).  Each block is aligned, as
 * big as asked and apart from the others (every byte keeps its fill), and
 * each call and free counts once in Mallocs and Frees, as malloc's do:
 * HeapAlloc ends where it began.  No assertion inside the loops: Check's
 * assertions allocate, and the counts must be this test's alone.
 */
START_TEST(test_aligned_reuse)
{
	enum { N = 200 };
	static unsigned char *p[N];
	static char bad[200];
	struct gomem_memstats before, after;
	uint64_t calls = 0, nbad = 0;
	size_t a, k, i, j, round;

	gomem_read_memstats(&before);
	for (a = 32; a <= 16 * KiB; a *= 2) {
		const size_t sizes[] = {1, a / 2, a, a + a / 2, 3000};

		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			size_t n = sizes[i];

			for (round = 0; round < 2; round++, calls += N) {
				for (k = 0; k < N; k++) {
					void *q = NULL;
					int r = 0;

					switch ((k + round) % 3) {
					case 0:
						r = posix_memalign(&q, a, n);
						break;
					case 1:
						q = aligned_alloc(a, n);
						break;
					default:
						q = memalign(a, n);
						break;
					}
					if (r != 0 || q == NULL) {
						snprintf(bad, sizeof(bad), "align %zu size %zu: failed", a,
							 n);
						goto out;
					}
					if (!is_aligned(q, a) || malloc_usable_size(q) < n) {
						if (nbad++ == 0)
							snprintf(bad, sizeof(bad),
								 "align %zu size %zu: %p, usable %zu", a,
								 n, q, malloc_usable_size(q));
					}
					p[k] = q;
					memset(p[k], (int)(k & 0xff), n);
				}
				for (k = 0; k < N; k++) {
					for (j = 0; j < n && p[k][j] == (k & 0xff); j++)
						;
					if (j != n && nbad++ == 0)
						snprintf(bad, sizeof(bad),
							 "align %zu size %zu: block %zu overwritten at %zu",
							 a, n, k, j);
					free(p[k]);
				}
			}
		}
	}
out:
	gomem_read_memstats(&after);
	ck_assert_msg(bad[0] == 0, "%s (%llu bad blocks)", bad, (unsigned long long)nbad);
	ck_assert_uint_eq(after.Mallocs - before.Mallocs, calls);
	ck_assert_uint_eq(after.Frees - before.Frees, calls);
	ck_assert_uint_eq(after.HeapAlloc, before.HeapAlloc);
}
END_TEST

START_TEST(test_valloc)
{
	static const size_t sizes[] = {0, 1, 100, 4095, 4096, 4097, 10000, 70000, 1 * MiB + 5};
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p = valloc(sizes[i]), *q = __libc_valloc(sizes[i]);

		ck_assert_msg(p != NULL && q != NULL, "valloc(%zu) failed", sizes[i]);
		ck_assert_msg(is_aligned(p, page_size), "valloc(%zu) = %p", sizes[i], p);
		ck_assert_msg(is_aligned(q, page_size), "__libc_valloc(%zu) = %p", sizes[i], q);
		ck_assert(malloc_usable_size(p) >= sizes[i]);
		memset(p, 0x42, sizes[i]);
		memset(q, 0x42, sizes[i]);
		free(p);
		free(q);
	}
	errno = 0;
	ck_assert_ptr_null(valloc(SIZE_MAX - 100));
	ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

START_TEST(test_pvalloc)
{
	static const size_t sizes[] = {1, 100, 4095, 4096, 4097, 10000, 70000, 1 * MiB + 5};
	size_t i;
	void *p;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t rounded = (sizes[i] + page_size - 1) & ~(page_size - 1);
		void *q;

		p = pvalloc(sizes[i]);
		q = __libc_pvalloc(sizes[i]);
		ck_assert_msg(p != NULL && q != NULL, "pvalloc(%zu) failed", sizes[i]);
		ck_assert_msg(is_aligned(p, page_size), "pvalloc(%zu) = %p", sizes[i], p);
		ck_assert_msg(is_aligned(q, page_size), "__libc_pvalloc(%zu) = %p", sizes[i], q);
		ck_assert_msg(malloc_usable_size(p) >= rounded,
			      "pvalloc(%zu): usable %zu < page-rounded size %zu", sizes[i],
			      malloc_usable_size(p), rounded);
		ck_assert(malloc_usable_size(q) >= rounded);
		/* The whole rounded size is ours to write. */
		memset(p, 0x24, rounded);
		memset(q, 0x24, rounded);
		free(p);
		free(q);
	}
	p = pvalloc(0);
	ck_assert_ptr_nonnull(p);
	ck_assert(is_aligned(p, page_size));
	free(p);
	errno = 0;
	ck_assert_ptr_null(pvalloc(SIZE_MAX - 100));
	ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

/* ---- malloc_usable_size ---- */

START_TEST(test_usable_size)
{
	size_t sizes[1200], n = interesting_sizes(sizes, 1200), i;

	ck_assert_uint_eq(malloc_usable_size(NULL), 0);
	for (i = 0; i < n; i++) {
		unsigned char *a = malloc(sizes[i]), *b = malloc(sizes[i]);
		size_t ua, ub;

		ck_assert_ptr_nonnull(a);
		ck_assert_ptr_nonnull(b);
		ua = malloc_usable_size(a);
		ub = malloc_usable_size(b);
		ck_assert_msg(ua >= sizes[i], "malloc_usable_size(malloc(%zu)) = %zu", sizes[i],
			      ua);
		ck_assert(ub >= sizes[i]);
		/* The usable tail is writable and belongs to this block alone. */
		pattern_fill(a, ua, 1);
		pattern_fill(b, ub, 2);
		ck_assert_msg(pattern_check(a, ua, 1) == (size_t)-1,
			      "writing %zu usable bytes of malloc(%zu) overlapped a neighbour", ua,
			      sizes[i]);
		ck_assert(pattern_check(b, ub, 2) == (size_t)-1);
		/* realloc within the usable size keeps everything. */
		a = realloc(a, ua);
		ck_assert_ptr_nonnull(a);
		ck_assert(pattern_check(a, ua, 1) == (size_t)-1);
		free(a);
		free(b);
	}
}
END_TEST

/* ---- __libc_* entry points mix with the standard names ---- */

START_TEST(test_libc_entry_points)
{
	unsigned char *p, *q;
	int i;

	for (i = 0; i < 1000; i++) {
		size_t n = (size_t)i * 37 + 1;

		p = __libc_malloc(n);
		ck_assert_ptr_nonnull(p);
		ck_assert(is_aligned(p, promised_align(n)));
		ck_assert(malloc_usable_size(p) >= n);
		pattern_fill(p, n, (uint64_t)i);
		q = __libc_realloc(p, n * 2);
		ck_assert_ptr_nonnull(q);
		ck_assert(pattern_check(q, n, (uint64_t)i) == (size_t)-1);
		q = realloc(q, n + 3);
		ck_assert_ptr_nonnull(q);
		ck_assert(pattern_check(q, n, (uint64_t)i) == (size_t)-1);
		if (i & 1)
			free(q);
		else
			__libc_free(q);

		p = malloc(n);
		ck_assert_ptr_nonnull(p);
		__libc_free(p);
		p = __libc_calloc(n, 1);
		ck_assert_ptr_nonnull(p);
		ck_assert(zero_check(p, n) == (size_t)-1);
		free(p);
	}
	errno = 0;
	ck_assert_ptr_null(__libc_realloc(NULL, SIZE_MAX));
	ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

/* ---- Freed memory is reused ---- */

/*
 * Repeated malloc/free with few blocks live must not grow the resident set:
 * each block is touched, so an allocator that never reused freed memory
 * would fault in every one of them.
 */
START_TEST(test_churn_no_growth)
{
	const size_t bound = 128 * MiB;
	uint64_t seed = 31;
	size_t before, after, i, off;
	void *live[16] = {0};

	before = rss_bytes();
	for (i = 0; i < 600000; i++) { /* about 300 MiB of small blocks */
		size_t k = i % 16, n = rng_range(&seed, 1, 1024);

		free(live[k]);
		live[k] = malloc(n);
		ck_assert_ptr_nonnull(live[k]);
		memset(live[k], 1, n < 16 ? n : 16);
	}
	for (i = 0; i < 150; i++) { /* about 375 MiB of large blocks */
		size_t k = i % 2, n = rng_range(&seed, 1 * MiB, 4 * MiB);
		char *p;

		free(live[k]);
		live[k] = p = malloc(n);
		ck_assert_ptr_nonnull(p);
		for (off = 0; off < n; off += page_size)
			p[off] = 1;
	}
	for (i = 0; i < 16; i++)
		free(live[i]);
	after = rss_bytes();
	ck_assert_msg(after < before + bound,
		      "RSS grew from %zu MiB to %zu MiB over malloc/free churn with <= 16 blocks "
		      "live: freed memory is not reused",
		      before >> 20, after >> 20);
}
END_TEST

/* ---- gomem_free_os_memory and the memory limit never touch live data ---- */

START_TEST(test_release_keeps_live_data)
{
	enum { N = 400 };
	static unsigned char *p[N];
	static size_t sz[N];
	uint64_t seed = 5;
	int64_t old;
	size_t i, off;

	for (i = 0; i < N; i++) {
		sz[i] = i % 10 == 0 ? rng_range(&seed, 40000, 3 * MiB) : rng_range(&seed, 1, 20000);
		p[i] = malloc(sz[i]);
		ck_assert_ptr_nonnull(p[i]);
		pattern_fill(p[i], sz[i], i);
	}
	for (i = 0; i < N; i += 2)
		free(p[i]);
	gomem_free_os_memory();
	for (i = 1; i < N; i += 2) {
		off = pattern_check(p[i], sz[i], i);
		ck_assert_msg(off == (size_t)-1,
			      "block %zu (%zu B) lost byte %zu after gomem_free_os_memory", i,
			      sz[i], off);
	}
	/* Released memory comes back zeroed for calloc and usable for malloc. */
	for (i = 0; i < N; i += 2) {
		p[i] = calloc(1, sz[i]);
		ck_assert_ptr_nonnull(p[i]);
		off = zero_check(p[i], sz[i]);
		ck_assert_msg(off == (size_t)-1, "calloc(1, %zu) after release: byte %zu nonzero",
			      sz[i], off);
		pattern_fill(p[i], sz[i], i);
	}
	/* A tiny soft limit makes the allocator release eagerly; data must survive. */
	old = gomem_set_memory_limit(1 * MiB);
	for (i = 0; i < N; i++) {
		unsigned char *q;

		off = pattern_check(p[i], sz[i], i);
		ck_assert_msg(off == (size_t)-1, "block %zu lost byte %zu under a 1 MiB limit", i,
			      off);
		q = realloc(p[i], sz[i] * 2);
		ck_assert_ptr_nonnull(q);
		ck_assert(pattern_check(q, sz[i], i) == (size_t)-1);
		free(q);
	}
	gomem_free_os_memory();
	gomem_set_memory_limit(old);
	ck_assert_int_eq(gomem_memory_limit(), old);
}
END_TEST

/*
 * Go's SetMemoryLimit(0) is the tightest limit, not "off": with it, idle
 * memory goes back to the OS as the heap allocates.
 */
START_TEST(test_memory_limit_zero_is_a_limit)
{
	int64_t old = gomem_set_memory_limit(0);
	struct gomem_memstats m;
	void *p, *q;

	ck_assert_int_ne(gomem_memory_limit(), INT64_MAX);
	p = malloc(16 * MiB);
	ck_assert_ptr_nonnull(p);
	memset(p, 1, 16 * MiB);
	free(p);
	q = malloc(64 * 1024); /* a span from the heap: over the limit, it releases */
	ck_assert_ptr_nonnull(q);
	gomem_read_memstats(&m);
	ck_assert_msg(m.HeapIdle - m.HeapReleased < 4 * MiB,
		      "limit 0: %llu bytes idle and not released",
		      (unsigned long long)(m.HeapIdle - m.HeapReleased));
	free(q);
	gomem_set_memory_limit(old);
	ck_assert_int_eq(gomem_memory_limit(), old);
}
END_TEST

/* Allocate and free 64 blocks of 1 KiB: the thread's cache keeps them. */
static void *cache_some(void *arg)
{
	void *p[64];

	(void)arg;
	for (int i = 0; i < 64; i++)
		p[i] = malloc(1024);
	for (int i = 0; i < 64; i++)
		free(p[i]);
	return NULL;
}

/* An exited thread's cache waits for a new thread; gomem_free_os_memory
 * gives it back, then releases the pages it held. */
START_TEST(test_free_os_memory_takes_exited_caches)
{
	struct gomem_memstats a, b, c;
	pthread_t t;

	free(malloc(8));
	gomem_free_os_memory();
	gomem_read_memstats(&a);
	ck_assert_int_eq(pthread_create(&t, NULL, cache_some, NULL), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	gomem_read_memstats(&b);
	ck_assert_uint_eq(b.Threads, a.Threads);
	ck_assert_uint_gt(b.MCacheInuse, a.MCacheInuse);
	gomem_free_os_memory();
	gomem_read_memstats(&c);
	ck_assert_uint_eq(c.MCacheInuse, a.MCacheInuse);
	ck_assert_uint_eq(c.HeapAlloc, b.HeapAlloc); /* (pthread_create's own blocks stay) */
	ck_assert_uint_eq(c.HeapIdle, c.HeapReleased);
}
END_TEST

/* ---- malloc_stats ---- */

/*
 * malloc_stats' text as glibc prints it: v[] = the arena's system and in-use
 * bytes, the totals with mappings, max mmap regions, max mmap bytes.
 * Returns the number of values read (6 for the whole layout).
 */
static int parse_malloc_stats(const char *t, unsigned long long v[6])
{
	return sscanf(t,
		      "Arena 0:\nsystem bytes = %llu\nin use bytes = %llu\n"
		      "Total (incl. mmap):\nsystem bytes = %llu\nin use bytes = %llu\n"
		      "max mmap regions = %llu\nmax mmap bytes = %llu",
		      &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]);
}

/* What fn writes on stderr (fd 2), into buf. */
static void capture_stderr(void (*fn)(void), char *buf, size_t len)
{
	int fd = memfd_create("malloc_stats", 0), saved = dup(2);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(saved, 0);
	fflush(stderr);
	ck_assert_int_eq(dup2(fd, 2), 2);
	fn();
	dup2(saved, 2);
	close(saved);
	n = pread(fd, buf, len - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
}

/* The value of the line "# NAME = N" in t, or -1 if there is none. */
static long long memstats_line(const char *t, const char *name)
{
	char key[64];
	const char *at;

	snprintf(key, sizeof(key), "\n# %s = ", name);
	at = strstr(t, key);
	return at == NULL ? -1 : atoll(at + strlen(key));
}

/*
 * malloc_stats writes glibc's layout on stderr, so what reads glibc's reads
 * ours (glibc's own, called through libc.so.6, parses with the same code),
 * and its in-use bytes follow the live blocks: up by at least their sizes
 * with 1000 blocks of 1000 bytes live, down as much once they are freed.
 * After it, each MemStats counter as "# Name = value": HeapAlloc is the
 * in-use total, and what gomem_read_memstats read just before.
 */
START_TEST(test_malloc_stats)
{
	static char out[3][8192];
	static struct gomem_memstats m;
	unsigned long long v[3][6];
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	void (*glibc_stats)(void);
	void *p[1000];
	int i;

	ck_assert_ptr_nonnull(libc);
	glibc_stats = (void (*)(void))dlsym(libc, "malloc_stats");
	ck_assert_ptr_nonnull(glibc_stats);
	ck_assert(glibc_stats != malloc_stats);
	capture_stderr(glibc_stats, out[0], sizeof(out[0]));
	ck_assert_msg(parse_malloc_stats(out[0], v[0]) == 6, "glibc's text: %s", out[0]);

	capture_stderr(malloc_stats, out[0], sizeof(out[0]));
	for (i = 0; i < 1000; i++) {
		p[i] = malloc(1000);
		ck_assert_ptr_nonnull(p[i]);
		memset(p[i], i, 1000);
	}
	gomem_read_memstats(&m);
	capture_stderr(malloc_stats, out[1], sizeof(out[1]));
	for (i = 0; i < 1000; i++)
		free(p[i]);
	capture_stderr(malloc_stats, out[2], sizeof(out[2]));
	for (i = 0; i < 3; i++) {
		ck_assert_msg(parse_malloc_stats(out[i], v[i]) == 6, "text %d: %s", i, out[i]);
		ck_assert_uint_ge(v[i][0], v[i][1]); /* system >= in use */
		ck_assert_uint_ge(v[i][2], v[i][3]);
		ck_assert_uint_ge(v[i][3], v[i][1]);
	}
	ck_assert_uint_ge(v[1][3], v[0][3] + 1000 * 1000);
	ck_assert_uint_ge(v[1][3], v[2][3] + 1000 * 1000);
	ck_assert_int_eq(memstats_line(out[1], "HeapAlloc"), (long long)v[1][3]);
	ck_assert_int_eq(memstats_line(out[1], "HeapAlloc"), (long long)m.HeapAlloc);
	ck_assert_int_eq(memstats_line(out[1], "Sys"), (long long)m.Sys);
	ck_assert_int_ge(memstats_line(out[1], "Mallocs"), 1000);
	ck_assert_int_eq(memstats_line(out[1], "NoSuchCounter"), -1);
	dlclose(libc);
}
END_TEST

static Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc;

	tc = tcase_create("identity");
	tcase_add_test(tc, test_identity);
	suite_add_tcase(s, tc);

	tc = tcase_create("malloc");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_malloc_alignment);
	tcase_add_test(tc, test_every_function_aligned_0_64);
	tcase_add_test(tc, test_malloc_zero_unique);
	tcase_add_test(tc, test_free_null);
	tcase_add_test(tc, test_malloc_enomem);
	tcase_add_test(tc, test_malloc_enomem_rlimit);
	tcase_add_test(tc, test_no_overlap);
	tcase_add_test(tc, test_churn_no_growth);
	tcase_add_test(tc, test_release_keeps_live_data);
	tcase_add_test(tc, test_memory_limit_zero_is_a_limit);
	tcase_add_test(tc, test_free_os_memory_takes_exited_caches);
	suite_add_tcase(s, tc);

	tc = tcase_create("calloc");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_calloc_overflow);
	tcase_add_test(tc, test_calloc_zero_sizes);
	tcase_add_test(tc, test_calloc_dirty_reuse);
	tcase_add_test(tc, test_calloc_large);
	tcase_add_test(tc, test_calloc_after_release_under_mlockall);
	tcase_add_test(tc, test_free_keeps_errno_contended);
	suite_add_tcase(s, tc);

	tc = tcase_create("realloc");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_realloc_grow_shrink);
	tcase_add_test(tc, test_realloc_random_pairs);
	tcase_add_test(tc, test_realloc_multi_mib);
	tcase_add_test(tc, test_realloc_null_is_malloc);
	tcase_add_test(tc, test_realloc_zero);
	tcase_add_test(tc, test_realloc_fail_keeps_block);
	tcase_add_test(tc, test_reallocarray);
	suite_add_tcase(s, tc);

	tc = tcase_create("aligned");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_posix_memalign_einval);
	tcase_add_test(tc, test_posix_memalign_valid);
	tcase_add_test(tc, test_posix_memalign_enomem);
	tcase_add_test(tc, test_aligned_alloc);
	tcase_add_test(tc, test_memalign);
	tcase_add_test(tc, test_memalign_odd_alignment);
	tcase_add_test(tc, test_aligned_reuse);
	tcase_add_test(tc, test_valloc);
	tcase_add_test(tc, test_pvalloc);
	suite_add_tcase(s, tc);

	tc = tcase_create("usable");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_usable_size);
	tcase_add_test(tc, test_libc_entry_points);
	tcase_add_test(tc, test_malloc_stats);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(api_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
