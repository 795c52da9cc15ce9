/*
 * check_safelink: GOMEMDEBUG=safelink=1, free-list links stored masked
 * (glibc's safe-linking, with a per-process secret) and checked as they are
 * decoded, and double frees found at the free.  The allocator reads
 * GOMEMDEBUG when it starts (a constructor), so the program adds safelink=1
 * to it and runs itself again.
 */
#include "testutil.h"

#include <pthread.h>

/* The lists keep working: every size, several rounds, contents intact. */
START_TEST(lists_work_masked)
{
	static unsigned char *v[1025];
	struct gomem_memstats m;
	size_t bad = 0;

	ck_assert(gm_opt.safelink);
	for (int round = 0; round < 8; round++) {
		for (size_t n = 0; n <= 1024; n++) {
			v[n] = gm_malloc(n);
			ck_assert_ptr_nonnull(v[n]);
			memset(v[n], (int)(n + round), n);
		}
		/* Counted, not asserted byte by byte (each check is a write). */
		for (size_t n = 0; n <= 1024; n += 1 + round % 2)
			for (size_t i = 0; i < n; i++)
				bad += v[n][i] != (unsigned char)(n + round);
		for (size_t n = 0; n <= 1024; n++)
			gm_free(v[n]);
	}
	ck_assert_uint_eq(bad, 0);
	gm_read_memstats(&m);
	ck_identities(&m);
	ck_heap_ok();
}
END_TEST

/* A free block's word 0 is its successor masked with its own address and the secret. */
START_TEST(links_are_masked)
{
	uintptr_t *a = gm_malloc(32), *b = gm_malloc(32);

	gm_free(a);
	gm_free(b);
	ck_assert_uint_ne(b[0], (uintptr_t)a);
	ck_assert_uint_eq(b[0] ^ gm_link_mask(b), (uintptr_t)a);
	ck_assert_ptr_eq(gm_malloc(32), b);
	ck_assert_ptr_eq(gm_malloc(32), a);
	gm_free(a);
	gm_free(b);
}
END_TEST

static void *churn_and_exit(void *arg)
{
	void *v[4096];

	(void)arg;
	for (int i = 0; i < 4096; i++)
		v[i] = gm_malloc((size_t)(i % 300));
	for (int i = 0; i < 4096; i += 2)
		gm_free(v[i]);
	for (int i = 1; i < 4096; i += 2)
		gm_free(v[i]);
	return NULL;
}

/* A thread's masked lists go back to mcentral at its exit (links made plain). */
START_TEST(thread_exit_gives_lists_back)
{
	struct gomem_memstats a, b;
	pthread_t t;

	gm_read_memstats(&a);
	ck_assert_int_eq(pthread_create(&t, NULL, churn_and_exit, NULL), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.HeapObjects, a.HeapObjects);
	ck_identities(&b);
	ck_heap_ok();
}
END_TEST

struct overflow {
	size_t size;
	unsigned char *live, *freed;
};

/* The program writes past live into the free block after it; the next malloc of the size. */
static void overflow_then_malloc(void *arg)
{
	struct overflow *o = arg;

	memset(o->live, 'A', o->size + 8);
	(void)gm_malloc(o->size);
}

/*
 * An overflow into a freed neighbour: the link it overwrote is found bad
 * when malloc decodes it, and the message names the freed block (glibc:
 * "malloc(): unaligned tcache chunk detected"), not a SIGSEGV in malloc.
 */
static void check_overflow(size_t size)
{
	unsigned char *v[64];
	struct overflow o = {size, NULL, NULL};
	char hex[32];

	for (int i = 0; i < 64; i++)
		v[i] = gm_malloc(size);
	for (int i = 0; i < 64 && o.live == NULL; i++)
		for (int j = 0; j < 64; j++)
			if (v[j] == v[i] + size) {
				o.live = v[i];
				o.freed = v[j];
				break;
			}
	ck_assert_msg(o.live != NULL, "no two adjacent %zu B blocks", size);
	gm_free(o.freed);
	snprintf(hex, sizeof(hex), "%p", (void *)o.freed);
	expect_death(overflow_then_malloc, &o, hex);
	expect_death(overflow_then_malloc, &o, "corrupted free list");
	for (int i = 0; i < 64; i++)
		if (v[i] != o.freed)
			gm_free(v[i]);
}

START_TEST(overflow_into_freed_neighbour_is_named)
{
	check_overflow(8);
	check_overflow(32);
	check_overflow(256);
}
END_TEST

/* glibc's tst-tcfree2: twenty blocks freed, then the first again. */
static void free_first_again(void *arg)
{
	void **v = arg;

	for (int i = 0; i < 20; i++)
		gm_free(v[i]);
	gm_free(v[0]);
}

/*
 * A double free of a block deep in the thread's list ends the process at
 * the second free, naming the block; a live block whose first word looks
 * like the list's last link (its own mask) is freed as usual.
 */
START_TEST(double_free_found_at_free)
{
	void *v[20];
	char hex[32];
	uintptr_t *w;

	for (size_t size = 8; size <= 512; size *= 4) {
		for (int i = 0; i < 20; i++)
			v[i] = gm_malloc(size);
		snprintf(hex, sizeof(hex), "gomem: double free of %p", v[0]);
		expect_death(free_first_again, v, hex);
		w = v[0];
		w[0] = gm_link_mask(w); /* decodes as NULL: a list's last link */
		for (int i = 0; i < 20; i++)
			gm_free(v[i]);
	}
	ck_heap_ok();
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s = suite_create("safelink");
	TCase *tc = tcase_create("safelink");
	const char *dbg = getenv("GOMEMDEBUG");
	char opt[256];

	(void)argc;
	if (getenv("CHECK_SAFELINK_AGAIN") == NULL) {
		snprintf(opt, sizeof(opt), "%s%ssafelink=1", dbg ? dbg : "",
			 dbg && *dbg ? "," : "");
		setenv("GOMEMDEBUG", opt, 1);
		setenv("CHECK_SAFELINK_AGAIN", "1", 1);
		execv("/proc/self/exe", argv);
		perror("check_safelink: execv");
		return 1;
	}
	gm_ensure_init();
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, lists_work_masked);
	tcase_add_test(tc, links_are_masked);
	tcase_add_test(tc, thread_exit_gives_lists_back);
	tcase_add_test(tc, overflow_into_freed_neighbour_is_named);
	tcase_add_test(tc, double_free_found_at_free);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
