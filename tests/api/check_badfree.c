/*
 * check_badfree.c: bad input to free() ends the process with one line
 * "gomem: ..." on stderr that names the pointer, and SIGABRT.
 *
 * Each case runs in a child whose stderr is a pipe; the parent reads what
 * the child wrote and how it died.  The bad pointers are made before the
 * fork, so the parent knows their values (fork keeps the address space).
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
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

enum op {
	OP_FREE,		/* free(p) */
	OP_DOUBLE_FREE,		/* free(p); free(p) */
	OP_FREE_NEIGHBOUR,	/* free(p); free(p + 32); free(p): another free in between */
	OP_FREE_NEIGHBOUR_EXIT, /* the same in a thread that then exits */
	OP_REMOTE_DOUBLE_FREE,	/* free(p); free(p) in a thread that did not allocate p */
	OP_FREE_BETWEEN,	/* free(p); free(between); free(p) */
	OP_OVERFLOW_FREED,	/* free(p); its left neighbour overflows into it */
	OP_FREE_UNUSED,		/* free(p), p never handed out; malloc until it is */
};

static void *between; /* OP_FREE_BETWEEN's other block */
static int unused_fill; /* what OP_FREE_UNUSED's child writes into its blocks */

/* The bad frees of op, on p. */
static void do_op(enum op op, void *p)
{
	if (op == OP_DOUBLE_FREE)
		free(p);
	if (op == OP_FREE_NEIGHBOUR || op == OP_FREE_NEIGHBOUR_EXIT) {
		free(p);
		free((char *)p + 32);
	}
	if (op == OP_FREE_BETWEEN) {
		free(p);
		free(between);
	}
	if (op == OP_OVERFLOW_FREED) {
		free(p);
		/* A string copy that runs 8 bytes past its block, into p. */
		memset((char *)p - 8, 'A', 16);
		return;
	}
	free(p);
	if (op == OP_FREE_UNUSED) {
		/* Every block of p's span, twice over, written as a program
		 * writes what it gets: p must not come out twice. */
		size_t n = malloc_usable_size(p);
		int seen = 0;

		for (int i = 0; i < 2 * 8192 / 8; i++) {
			char *b = malloc(n);

			memset(b, unused_fill, n);
			if (b == p && ++seen == 2) {
				write_str(2, "(a block handed out twice)\n");
				_exit(3);
			}
		}
	}
}

static void *do_op_thread(void *p)
{
	do_op(OP_FREE_NEIGHBOUR_EXIT, p);
	return NULL;
}

static void *do_double_free_thread(void *p)
{
	do_op(OP_DOUBLE_FREE, p);
	return NULL;
}

struct outcome {
	char text[4096];
	size_t len;
	int status;
};

static void *volatile held[64];

/* Run op on p in a child; collect its stderr and wait status. */
static void run_child(enum op op, void *p, struct outcome *o)
{
	int fd[2];
	pid_t pid;
	ssize_t r;

	ck_assert_int_eq(pipe(fd), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct rlimit rl = {0, 0};

		setrlimit(RLIMIT_CORE, &rl); /* no core files from the abort */
		signal(SIGABRT, SIG_DFL);
		signal(SIGALRM, SIG_DFL); /* Check's would kill the test's group */
		alarm(20);
		close(fd[0]);
		dup2(fd[1], 2);
		close(fd[1]);
		size_t size = malloc_usable_size(p);

		if (op == OP_FREE_NEIGHBOUR_EXIT) {
			/* Found when the exiting thread's lists go back. */
			pthread_t t;

			pthread_create(&t, NULL, do_op_thread, p);
			pthread_join(t, NULL);
		} else if (op == OP_REMOTE_DOUBLE_FREE) {
			/* p's span is this thread's (it owns the span it
			 * allocates from): both frees go to its thread-free
			 * list, and the second is found there. */
			pthread_t t;

			pthread_create(&t, NULL, do_double_free_thread, p);
			pthread_join(t, NULL);
		} else {
			do_op(op, p);
		}
		/* Still alive: give the allocator a chance to notice late, at
		 * the mallocs that would hand a block out a second time. */
		for (int i = 0; i < 64; i++) {
			char *b = malloc(size);

			memset(b, 0x5a, size); /* a program writes what it gets */
			held[i] = b;
		}
		for (int i = 0; i < 1000; i++)
			free(malloc((size_t)i * 64 + 1));
		write_str(2, "(child survived the bad free)\n");
		_exit(0);
	}
	close(fd[1]);
	o->len = 0;
	while (o->len < sizeof(o->text) - 1 &&
	       (r = read(fd[0], o->text + o->len, sizeof(o->text) - 1 - o->len)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		o->len += (size_t)r;
	}
	o->text[o->len] = '\0';
	close(fd[0]);
	ck_assert_int_eq(waitpid(pid, &o->status, 0), pid);
}

/*
 * The contract: killed by SIGABRT, stderr is exactly one line starting with
 * "gomem: " and naming p as printf("%p") would; with says, a line that
 * says that too.
 */
static void expect_abort_saying(enum op op, void *p, const char *what, const char *says)
{
	struct outcome o;
	char hex[32];
	const char *nl;

	run_child(op, p, &o);
	snprintf(hex, sizeof(hex), "%p", p);
	ck_assert_msg(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGABRT,
		      "%s of %s: child %s %d, expected SIGABRT; stderr: \"%s\"", what, hex,
		      WIFSIGNALED(o.status) ? "died of signal" : "exited with status",
		      WIFSIGNALED(o.status) ? WTERMSIG(o.status) : WEXITSTATUS(o.status), o.text);
	ck_assert_msg(strncmp(o.text, "gomem: ", 7) == 0,
		      "%s of %s: stderr does not start with \"gomem: \": \"%s\"", what, hex,
		      o.text);
	ck_assert_msg(strstr(o.text, hex) != NULL, "%s: message does not name %s: \"%s\"", what,
		      hex, o.text);
	nl = strchr(o.text, '\n');
	ck_assert_msg(nl != NULL && nl[1] == '\0',
		      "%s of %s: expected exactly one line ending in a newline, got \"%s\"", what,
		      hex, o.text);
	ck_assert_msg(says == NULL || strstr(o.text, says) != NULL,
		      "%s of %s: the message does not say \"%s\": \"%s\"", what, hex, says, o.text);
}

static void expect_abort_naming(enum op op, void *p, const char *what)
{
	expect_abort_saying(op, p, what, NULL);
}

START_TEST(test_double_free_small)
{
	void *p = malloc(32);

	ck_assert_ptr_nonnull(p);
	expect_abort_naming(OP_DOUBLE_FREE, p, "double free of a 32 B block");
	free(p);
}
END_TEST

START_TEST(test_double_free_small_busy)
{
	/* The same with neighbours live in the span and a warm thread cache. */
	void *keep[64], *p;
	int i;

	for (i = 0; i < 64; i++)
		keep[i] = malloc(32);
	p = malloc(32);
	ck_assert_ptr_nonnull(p);
	expect_abort_naming(OP_DOUBLE_FREE, p, "double free of a 32 B block among neighbours");
	free(p);
	for (i = 0; i < 64; i++)
		free(keep[i]);
}
END_TEST

START_TEST(test_double_free_large)
{
	void *p = malloc(1 << 20);

	ck_assert_ptr_nonnull(p);
	memset(p, 1, 1 << 20);
	expect_abort_saying(OP_DOUBLE_FREE, p, "double free of a 1 MiB block", "double free");
	free(p);
}
END_TEST

/*
 * The first free of a large block this thread's last large malloc asked for
 * keeps it in the thread's large cache: the second is a double free too,
 * not a free of a pointer inside an object.
 */
START_TEST(test_double_free_large_cached)
{
	void *p;

	free(malloc(256 << 10));
	p = malloc(256 << 10);
	ck_assert_ptr_nonnull(p);
	expect_abort_saying(OP_DOUBLE_FREE, p, "double free of a 256 KiB block", "double free of");
	free(p);
}
END_TEST

START_TEST(test_free_stack)
{
	char local[64];

	memset(local, 0, sizeof(local));
	expect_abort_naming(OP_FREE, local + 16, "free of a stack address");
}
END_TEST

static char global_buf[4096] __attribute__((aligned(64)));

START_TEST(test_free_global)
{
	expect_abort_naming(OP_FREE, global_buf + 64, "free of a static (.bss) address");
}
END_TEST

START_TEST(test_free_interior_small)
{
	char *p = malloc(64);

	ck_assert_ptr_nonnull(p);
	expect_abort_naming(OP_FREE, p + 16, "free of an interior pointer of a 64 B block");
	free(p);
}
END_TEST

START_TEST(test_free_interior_large)
{
	char *p = malloc(1 << 20);

	ck_assert_ptr_nonnull(p);
	expect_abort_naming(OP_FREE, p + 8192, "free of an interior pointer of a 1 MiB block");
	free(p);
}
END_TEST

START_TEST(test_free_mmap)
{
	size_t len = 1 << 16;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(m, MAP_FAILED);
	expect_abort_naming(OP_FREE, m, "free of an mmap'd page");
	expect_abort_naming(OP_FREE, m + 4096 + 16, "free of a pointer into an mmap'd region");
	munmap(m, len);
}
END_TEST

START_TEST(test_double_free_after_neighbour)
{
	/* p and the block after it are both 32 B blocks; the neighbour is freed in between. */
	char *p = NULL, *q = NULL, *hold[64];
	int i;

	for (i = 0; i < 64; i++)
		hold[i] = malloc(32);
	for (i = 0; i < 63 && p == NULL; i++)
		if (hold[i + 1] == hold[i] + 32)
			p = hold[i], q = hold[i + 1];
	if (p == NULL) {
		/* Not adjacent in this allocator: nothing to test here. */
		for (i = 0; i < 64; i++)
			free(hold[i]);
		return;
	}
	expect_abort_naming(OP_FREE_NEIGHBOUR, p,
			    "double free of a 32 B block after freeing its neighbour");
	expect_abort_naming(OP_FREE_NEIGHBOUR_EXIT, p,
			    "double free of a 32 B block after freeing its neighbour, "
			    "in a thread that exits");
	(void)q;
	for (i = 0; i < 64; i++)
		free(hold[i]);
}
END_TEST

static void *other_thread_block;

static void *alloc_in_thread(void *arg)
{
	other_thread_block = malloc(32);
	return NULL;
}

START_TEST(test_double_free_other_thread)
{
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, alloc_in_thread, NULL), 0);
	pthread_join(t, NULL);
	ck_assert_ptr_nonnull(other_thread_block);
	expect_abort_naming(OP_DOUBLE_FREE, other_thread_block,
			    "double free of a 32 B block allocated by an exited thread");
	free(other_thread_block);
}
END_TEST

START_TEST(test_double_free_remote)
{
	void *p = malloc(48);

	ck_assert_ptr_nonnull(p);
	expect_abort_naming(OP_REMOTE_DOUBLE_FREE, p,
			    "double free of a 48 B block by a thread that did not allocate it");
	free(p);
}
END_TEST

START_TEST(test_double_free_medium)
{
	void *p = malloc(100000);

	ck_assert_ptr_nonnull(p);
	expect_abort_naming(OP_DOUBLE_FREE, p, "double free of a 100000 B block");
	free(p);
}
END_TEST

/*
 * Blocks of a few bytes (objects of the 8 B class, 8-byte spaced, so the
 * neighbour's first word follows the block): an immediate double free,
 * with a live neighbour, is caught, and one with another free between (the
 * class's one word is its link, which is its double-free key).
 */
START_TEST(test_double_free_tiny)
{
	char *a = malloc(8), *b = malloc(8);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	expect_abort_naming(OP_DOUBLE_FREE, a, "double free of an 8 B block with a live neighbour");
	free(a);
	free(b);
}
END_TEST

START_TEST(test_double_free_tiny_between)
{
	char *a = malloc(8), *b = malloc(8), *c = malloc(3);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(c);
	between = b;
	expect_abort_naming(OP_FREE_BETWEEN, a, "double free of an 8 B block, another freed between");
	between = c;
	expect_abort_naming(OP_FREE_BETWEEN, b, "double free of a 8 B block, a 3 B one freed between");
	free(a);
	free(b);
	free(c);
}
END_TEST

/*
 * A block's overflow into its freed neighbour ends the process at the
 * malloc that would hand the neighbour out, naming it (the neighbour's
 * link is its double-free key), where it used to fault inside malloc.
 */
START_TEST(test_overflow_into_freed)
{
	static const size_t sizes[] = {32, 8};

	for (unsigned k = 0; k < 2; k++) {
		size_t n = sizes[k];
		char *hold[64], *b = NULL;
		int i;

		for (i = 0; i < 64; i++)
			hold[i] = malloc(n);
		/* Blocks of a class are carved in address order: some two of
		 * 64 are neighbours. */
		for (i = 0; i < 63 && b == NULL; i++)
			for (int j = 0; j < 64 && b == NULL; j++)
				if (hold[j] == hold[i] + n)
					b = hold[j];
		ck_assert_msg(b != NULL, "no two of 64 blocks of %zu B are neighbours", n);
		expect_abort_naming(OP_OVERFLOW_FREED, b,
				    n == 32 ? "an overflow of a 32 B block into its freed neighbour"
					    : "an overflow of an 8 B block into its freed neighbour");
		for (i = 0; i < 64; i++)
			free(hold[i]);
	}
}
END_TEST

/*
 * A free of a block never handed out, in a span in use (free(p + 4096) of
 * an 8 B block, mimalloc-bench's invalid_free_close): the block is on the
 * span's free list, so the list has it twice.  Taking it off either one
 * after malloc handed it out from the other finds what the program wrote
 * where its link was (a 0 ends the span's list before its count of free
 * objects does), and stops, naming it, before the block goes out a second
 * time.  (Spans once handed fresh objects out lazily, and such a block came
 * out twice, silently.)
 */
START_TEST(test_free_never_handed_out)
{
	static const struct {
		size_t size;
		int fill;
		const char *what;
	} cases[] = {
		{8, 0x5a, "free of an 8 B block never handed out"},
		{64, 0x5a, "free of a 64 B block never handed out"},
		/* 0 where the link was: the span's list ends there early */
		{8, 0, "free of an 8 B block never handed out, zeroed"},
	};

	for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char *v[1100], *q = NULL;
		unsigned i;

		/* A block at the start of an 8 KiB span, its neighbour handed
		 * out next (so not a sampled block alone on its page): the
		 * span's second half has not been handed out. */
		for (i = 0; i < 1100 && q == NULL; i++) {
			v[i] = malloc(cases[k].size);
			if (i > 0 && ((uintptr_t)v[i - 1] & 8191) == 0 &&
			    v[i] == v[i - 1] + cases[k].size)
				q = v[i - 1] + 4096;
		}
		ck_assert_msg(q != NULL, "%s: no block at a span's start in 1100", cases[k].what);
		unused_fill = cases[k].fill;
		expect_abort_saying(OP_FREE_UNUSED, q, cases[k].what,
				    "double free (or write after free) of");
		while (i > 0)
			free(v[--i]);
	}
}
END_TEST

START_TEST(test_double_free_tiny_alone)
{
	char *a = malloc(4);

	ck_assert_ptr_nonnull(a);
	expect_abort_naming(OP_DOUBLE_FREE, a, "double free of a 4 B block");
	free(a);
}
END_TEST

static Suite *badfree_suite(void)
{
	Suite *s = suite_create("badfree");
	TCase *tc = tcase_create("badfree");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_double_free_small);
	tcase_add_test(tc, test_double_free_small_busy);
	tcase_add_test(tc, test_double_free_large);
	tcase_add_test(tc, test_double_free_large_cached);
	tcase_add_test(tc, test_free_stack);
	tcase_add_test(tc, test_free_global);
	tcase_add_test(tc, test_free_interior_small);
	tcase_add_test(tc, test_free_interior_large);
	tcase_add_test(tc, test_free_mmap);
	tcase_add_test(tc, test_double_free_after_neighbour);
	tcase_add_test(tc, test_double_free_other_thread);
	tcase_add_test(tc, test_double_free_remote);
	tcase_add_test(tc, test_double_free_medium);
	tcase_add_test(tc, test_double_free_tiny);
	tcase_add_test(tc, test_double_free_tiny_between);
	tcase_add_test(tc, test_overflow_into_freed);
	tcase_add_test(tc, test_double_free_tiny_alone);
	tcase_add_test(tc, test_free_never_handed_out);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(badfree_suite());
	int failed;

	if (gomem_version() == NULL)
		return EXIT_FAILURE;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
