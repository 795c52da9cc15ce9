/*
 * check_mapguard.c: unit tests of daemon/base/mapguard.c.
 *
 * The test maps a file, truncates it under the mapping as a hostile owner
 * would, and reads past the new end: without the guard the kernel's SIGBUS
 * ends the process (checked in a child), with it the pages read as zeros,
 * the part of the file still there reads as before, and a mapping beside
 * it is left alone.  Expectations are the file's own bytes and the
 * kernel's /proc/self/maps.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "base/mapguard.h"

#define NPAGES 4

static char dir[] = "/tmp/check_mapguard.XXXXXX";
static long pg;

static void setup(void)
{
	pg = sysconf(_SC_PAGESIZE);
	ck_assert_ptr_nonnull(mkdtemp(strcpy(dir, "/tmp/check_mapguard.XXXXXX")));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* A file at path of NPAGES pages, page i all 'a' + i; its descriptor. */
static int make_file(const char *path)
{
	char *buf = malloc((size_t)pg);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), i;

	ck_assert_int_ge(fd, 0);
	for (i = 0; i < NPAGES; i++) {
		memset(buf, 'a' + i, (size_t)pg);
		ck_assert_int_eq(write(fd, buf, (size_t)pg), pg);
	}
	free(buf);
	return fd;
}

/*
 * Map fd's NPAGES pages with an anonymous page of 'z' on each side (the
 * neighbours the guard must not touch); the file mapping's start.
 */
static volatile unsigned char *map_between(int fd)
{
	unsigned char *all = mmap(NULL, (size_t)pg * (NPAGES + 2), PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *m;

	ck_assert_ptr_ne(all, MAP_FAILED);
	memset(all, 'z', (size_t)pg * (NPAGES + 2));
	m = mmap(all + pg, (size_t)pg * NPAGES, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
	ck_assert_ptr_eq(m, all + pg);
	return m;
}

/* Is there a line of /proc/self/maps for [lo, hi) naming the file? */
static int mapped_as_file(const volatile void *lo, const volatile void *hi)
{
	char want[64], line[4300];
	FILE *f = fopen("/proc/self/maps", "r");
	int yes = 0;

	snprintf(want, sizeof want, "%lx-%lx ", (unsigned long)lo, (unsigned long)hi);
	while (f != NULL && fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, want, strlen(want)) == 0 && strstr(line, dir) != NULL)
			yes = 1;
	if (f != NULL)
		fclose(f);
	return yes;
}

/*
 * In a child: map the test file (private beside anonymous pages, or
 * shared), with or without the guard, truncate it to a page and read page
 * 2.  Check that the child died of SIGBUS.
 */
static void child_dies_reading_past_end(int shared, int guard)
{
	char path[128];
	int fd, st;
	pid_t pid;

	snprintf(path, sizeof path, "%s/lib.so", dir);
	fd = make_file(path);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		volatile unsigned char *m =
		    shared ? mmap(NULL, (size_t)pg * NPAGES, PROT_READ, MAP_SHARED, fd, 0)
			   : map_between(fd);

		if (m == MAP_FAILED || (guard && mapguard_install() != 0) || ftruncate(fd, pg) != 0)
			_exit(2);
		_exit(m[2 * pg] == 0 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS, "status %#x", st);
	close(fd);
}

START_TEST(test_unguarded_dies)
{
	/* What the guard is for: the kernel's SIGBUS, default action. */
	child_dies_reading_past_end(0, 0);
}
END_TEST

START_TEST(test_shrunk_pages_read_zero)
{
	char path[128];
	volatile unsigned char *m;
	uint64_t before;
	int fd, i;

	snprintf(path, sizeof path, "%s/lib.so", dir);
	fd = make_file(path);
	m = map_between(fd);
	ck_assert_int_eq(mapguard_install(), 0);
	before = mapguard_pages();
	ck_assert_int_eq(m[0], 'a');
	ck_assert_int_eq(m[3 * pg], 'd');
	ck_assert_int_eq(ftruncate(fd, pg), 0);

	/* Page 2 faults: it and the rest of the mapping (2 pages) are zeros. */
	ck_assert_int_eq(m[2 * pg + 5], 0);
	ck_assert_uint_eq(mapguard_pages() - before, 2);
	ck_assert_int_eq(m[3 * pg + pg - 1], 0);
	ck_assert_uint_eq(mapguard_pages() - before, 2);
	/* Page 1 faults next: only up to the part replaced already. */
	ck_assert_int_eq(m[pg], 0);
	ck_assert_uint_eq(mapguard_pages() - before, 3);
	/* The page still in the file is the file's, and still mapped from it. */
	for (i = 0; i < pg; i += 512)
		ck_assert_int_eq(m[i], 'a');
	ck_assert(mapped_as_file(m, m + pg));
	/* The neighbours are untouched. */
	ck_assert_int_eq(m[-1], 'z');
	ck_assert_int_eq(m[-pg], 'z');
	ck_assert_int_eq(m[NPAGES * pg], 'z');
	ck_assert_int_eq(m[NPAGES * pg + pg - 1], 'z');
	munmap((void *)(m - pg), (size_t)pg * (NPAGES + 2));
	close(fd);
}
END_TEST

START_TEST(test_long_path_found)
{
	/* A mapping whose maps line is longer than the handler's buffer: a
	 * path of nearly PATH_MAX, with directory names that look like
	 * address ranges. */
	char path[4096], comp[240];
	volatile unsigned char *m;
	uint64_t before;
	size_t len;
	int fd;

	memset(comp, 0, sizeof comp);
	snprintf(comp, sizeof comp, "%0*d", 200, 0);
	memcpy(comp, "0-ffffffffffff ", 15);
	len = (size_t)snprintf(path, sizeof path, "%s", dir);
	while (len + 1 + strlen(comp) + 16 < sizeof path - 1) {
		len += (size_t)snprintf(path + len, sizeof path - len, "/%s", comp);
		ck_assert_msg(mkdir(path, 0700) == 0 || errno == EEXIST, "%s", strerror(errno));
	}
	snprintf(path + len, sizeof path - len, "/lib.so");
	fd = make_file(path);
	m = map_between(fd);
	ck_assert_int_eq(mapguard_install(), 0);
	before = mapguard_pages();
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	ck_assert_int_eq(m[pg], 0);
	ck_assert_uint_eq(mapguard_pages() - before, NPAGES - 1);
	ck_assert_int_eq(m[NPAGES * pg], 'z');
	munmap((void *)(m - pg), (size_t)pg * (NPAGES + 2));
	close(fd);
}
END_TEST

/* Two threads read the same page past the end at once, the mapping sits
 * right below live anonymous memory ('V'), which the kernel may merge the
 * first thread's zeros with: the second must not replace anything. */
static volatile unsigned char *race_map;
static pthread_barrier_t race_bar;
static volatile int race_stop;

static void *race_reader(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_barrier_wait(&race_bar);
		if (race_stop)
			return NULL;
		(void)race_map[2 * pg];
		pthread_barrier_wait(&race_bar);
	}
}

START_TEST(test_two_threads_one_page)
{
	char path[128];
	unsigned char *victim, *all;
	pthread_t t;
	int fd, it, k;

	snprintf(path, sizeof path, "%s/lib.so", dir);
	fd = make_file(path);
	ck_assert_int_eq(mapguard_install(), 0);
	/* 5 pages for the file's mapping and a page below it, then 16 of 'V' */
	all = mmap(NULL, (size_t)pg * 21, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		   0);
	ck_assert_ptr_ne(all, MAP_FAILED);
	victim = all + pg * 5;
	memset(victim, 'V', (size_t)pg * 16);
	pthread_barrier_init(&race_bar, NULL, 2);
	ck_assert_int_eq(pthread_create(&t, NULL, race_reader, NULL), 0);
	for (it = 0; it < 300; it++) {
		ck_assert_int_eq(ftruncate(fd, (off_t)pg * NPAGES), 0);
		ck_assert_ptr_eq(mmap(all, (size_t)pg * 5, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
				 all);
		race_map = mmap(all + pg, (size_t)pg * NPAGES, PROT_READ, MAP_PRIVATE | MAP_FIXED,
				fd, 0);
		ck_assert_ptr_eq((void *)race_map, all + pg);
		ck_assert_int_eq(ftruncate(fd, pg), 0);
		pthread_barrier_wait(&race_bar);
		ck_assert_int_eq(race_map[2 * pg], 0);
		pthread_barrier_wait(&race_bar);
		for (k = 0; k < 16; k++)
			ck_assert_msg(victim[k * pg] == 'V', "round %d: page %d of the neighbour "
				      "was replaced", it, k);
	}
	race_stop = 1;
	pthread_barrier_wait(&race_bar);
	pthread_join(t, NULL);
	munmap(all, (size_t)pg * 21);
	close(fd);
}
END_TEST

START_TEST(test_shared_mapping_kills)
{
	/* A shared mapping is not a parser's: its SIGBUS keeps its default
	 * action (zeros there would take writes nobody sees). */
	child_dies_reading_past_end(1, 1);
}
END_TEST

START_TEST(test_other_sigbus_kills)
{
	/* A SIGBUS that is no read past a file's end keeps its default action. */
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (mapguard_install() != 0)
			_exit(2);
		kill(getpid(), SIGBUS);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS, "status %#x", st);
}
END_TEST

int main(void)
{
	CHECK_RUN("mapguard", setup, teardown, test_unguarded_dies, test_shrunk_pages_read_zero,
		  test_long_path_found, test_two_threads_one_page, test_shared_mapping_kills,
		  test_other_sigbus_kills);
}
