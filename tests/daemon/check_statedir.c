/*
 * check_statedir.c: ended processes' profiles and MemStats survive in the
 * state directory, are found again by a fresh reader (a restarted gomemd),
 * are pruned by count, size and age, and nothing planted in the directory is
 * followed or read without bound.
 */
#include <check.h>

#include "../common/suite.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/statedir.h"

static char dir[64];

static void
setup(void)
{
	char err[256];

	snprintf(dir, sizeof(dir), "/tmp/statedir-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_msg(statedir_init(dir, err, sizeof(err)) == 0, "%s", err);
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static void
save(pid_t pid, uint64_t start, uint64_t ended, const char *comm, const char *how, int code,
     size_t heapbytes)
{
	struct statedir_entry e = { .pid = pid, .start_ns = start, .ended_ns = ended, .code = code };
	char *heap = malloc(heapbytes + 1), err[256];

	memset(heap, 'h', heapbytes);
	snprintf(e.comm, sizeof(e.comm), "%s", comm);
	snprintf(e.how, sizeof(e.how), "%s", how);
	ck_assert_msg(statedir_save(dir, &e, heap, heapbytes, "{\"HeapAlloc\":1}", 15, err,
				    sizeof(err)) == 0,
		      "%s", err);
	free(heap);
}

START_TEST(save_list_load)
{
	struct statedir_entry *v, e;
	void *buf;
	size_t n, len;

	save(100, 5, 1000, "first", "exit", 0, 10);
	save(200, 6, 3000, "oomed", "oom", 9, 20);
	save(300, 7, 2000, "bad\ncomm\x01", "signal", 9, 30);
	/* The same life saved twice: one entry, the newer. */
	save(100, 5, 1500, "first", "exit", 3, 11);
	n = statedir_list(dir, &v);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(v[0].pid, 200); /* most recently ended first */
	ck_assert_str_eq(v[0].how, "oom");
	ck_assert_int_eq(v[0].code, 9);
	ck_assert_int_eq(v[1].pid, 300);
	ck_assert_str_eq(v[1].comm, "bad?comm?"); /* no line breaks from the process */
	ck_assert_int_eq(v[2].pid, 100);
	ck_assert_int_eq(v[2].code, 3);
	ck_assert_uint_eq(v[2].bytes, 11 + 15 + strlen("pid 100\nstart 5\nended 1500\ncomm first\nhow exit\ncode 3\n"));
	free(v);
	ck_assert_int_eq(statedir_load(dir, 200, "heap.pb.gz", 1 << 20, &buf, &len, &e), 0);
	ck_assert_uint_eq(len, 20);
	ck_assert_int_eq(memcmp(buf, "hhhhhhhhhhhhhhhhhhhh", 20), 0);
	ck_assert_str_eq(e.comm, "oomed");
	free(buf);
	ck_assert_int_eq(statedir_load(dir, 200, "memstats.json", 1 << 20, &buf, &len, NULL), 0);
	ck_assert_str_eq(buf, "{\"HeapAlloc\":1}");
	free(buf);
	/* Bounded: a file bigger than asked for is refused. */
	ck_assert_int_eq(statedir_load(dir, 200, "heap.pb.gz", 19, &buf, &len, NULL), -1);
	ck_assert_int_eq(statedir_load(dir, 999, "heap.pb.gz", 1 << 20, &buf, &len, NULL), -1);
}
END_TEST

START_TEST(prune_by_count_size_age)
{
	struct statedir_limits lim = { 0, 0, 0 };
	struct statedir_entry *v;
	size_t n;

	for (int i = 1; i <= 6; i++)
		save(i, (uint64_t)i, (uint64_t)i * 1000000000u, "w", "exit", 0, 1000);
	lim.max_count = 4;
	statedir_prune(dir, &lim, 7000000000u);
	n = statedir_list(dir, &v);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(v[3].pid, 3); /* the oldest two went */
	free(v);
	/* Size: about 1.1 KB each; 2.5 KB keeps the newest two. */
	lim.max_count = 0;
	lim.max_bytes = 2500;
	statedir_prune(dir, &lim, 7000000000u);
	n = statedir_list(dir, &v);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(v[0].pid, 6);
	free(v);
	/* Age: ended 2 s and 1 s before "now" = 7 s; keep 1.5 s. */
	lim.max_bytes = 0;
	lim.max_age_s = 1;
	statedir_prune(dir, &lim, 7000000000u + 500000000u);
	n = statedir_list(dir, &v);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(v[0].pid, 6);
	free(v);
}
END_TEST

START_TEST(planted_files_are_not_followed)
{
	char path[256], err[256];
	struct statedir_entry *v;
	void *buf;
	size_t len, n;
	int fd;

	save(42, 1, 1000, "x", "exit", 0, 4);
	/* Replace heap.pb.gz by a symlink to a secret: not read. */
	snprintf(path, sizeof(path), "%s/42-1/heap.pb.gz", dir);
	unlink(path);
	ck_assert_int_eq(symlink("/etc/shadow", path), 0);
	ck_assert_int_eq(statedir_load(dir, 42, "heap.pb.gz", 1 << 20, &buf, &len, NULL), -1);
	/* A directory that is not ours, a symlinked entry, a huge info: ignored. */
	snprintf(path, sizeof(path), "%s/not-an-entry", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/43-1", dir);
	ck_assert_int_eq(symlink("/tmp", path), 0);
	snprintf(path, sizeof(path), "%s/44-1", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/44-1/info", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
	close(fd);
	n = statedir_list(dir, &v);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(v[0].pid, 42);
	free(v);
	/* A state directory that is a symlink is refused. */
	snprintf(path, sizeof(path), "%s/link", dir);
	ck_assert_int_eq(symlink(dir, path), 0);
	ck_assert_int_eq(statedir_init(path, err, sizeof(err)), -1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("statedir");
	TCase *tc = tcase_create("statedir");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, save_list_load);
	tcase_add_test(tc, prune_by_count_size_age);
	tcase_add_test(tc, planted_files_are_not_followed);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
