/*
 * check_safefile.c: unit tests of daemon/base/safefile.c.
 *
 * The test process plays the watched process: it maps a file of its own,
 * then does to the path what a hostile owner would (a FIFO, a symbolic
 * link, another file, an unlink) and asks safefile_open() for the mapping.
 * Expectations come from the kernel's view (/proc/self/maps, fstat), not
 * from the code under test.  Every open runs under alarm(): an open that
 * blocks on a FIFO fails the test instead of hanging it.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_run.h"
#include "base/safefile.h"

static char dir[] = "/tmp/check_safefile.XXXXXX";
static char file[4200];
static void *map;
static const char content[] = "\177ELF pretend library contents\n";

/* Make dir/lib.so with known bytes and map it; called by each test. */
static void setup(void)
{
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(strcpy(dir, "/tmp/check_safefile.XXXXXX")));
	snprintf(file, sizeof file, "%s/libgomem.so", dir);
	fd = open(file, O_RDWR | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, sizeof content), (ssize_t)sizeof content);
	map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	close(fd);
	alarm(10); /* a blocking open ends the test */
}

/* Unmap and remove everything setup() and the test made. */
static void teardown(void)
{
	char cmd[4300];

	alarm(0);
	munmap(map, 4096);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* The maps line of our mapping of the test file, parsed. */
static void my_map(struct safefile_map *m)
{
	char line[8192];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof line, f) != NULL) {
		if (strtoull(line, NULL, 16) == (unsigned long long)(uintptr_t)map) {
			ck_assert_int_eq(safefile_parse_map(line, m), 0);
			found = 1;
		}
	}
	fclose(f);
	ck_assert_msg(found, "mapping not in /proc/self/maps");
}

/* Read what fd holds and compare with content. */
static void assert_content(int fd)
{
	char buf[sizeof content];

	ck_assert_int_eq(safefile_pread(fd, buf, sizeof buf, 0), (ssize_t)sizeof content);
	ck_assert_mem_eq(buf, content, sizeof content);
}

START_TEST(test_parse_map)
{
	struct safefile_map m;

	ck_assert_int_eq(safefile_parse_map("7f0000001000-7f0000003000 r-xp 00002000 fd:01 "
					    "1234567                    /usr/lib/libgomem.so.0\n",
					    &m),
			 0);
	ck_assert_uint_eq(m.start, 0x7f0000001000ull);
	ck_assert_uint_eq(m.end, 0x7f0000003000ull);
	ck_assert_uint_eq(m.offset, 0x2000);
	ck_assert_uint_eq(m.dev_major, 0xfd);
	ck_assert_uint_eq(m.dev_minor, 1);
	ck_assert_uint_eq(m.inode, 1234567);
	ck_assert_str_eq(m.perms, "r-xp");
	ck_assert_str_eq(m.path, "/usr/lib/libgomem.so.0");
	ck_assert_int_eq(m.deleted, 0);

	ck_assert_int_eq(
	    safefile_parse_map("1000-2000 r--p 00000000 08:02 99 /tmp/a b.so (deleted)", &m), 0);
	ck_assert_str_eq(m.path, "/tmp/a b.so");
	ck_assert_int_eq(m.deleted, 1);

	ck_assert_int_eq(safefile_parse_map("1000-2000 rw-p 00000000 00:00 0 \n", &m), 0);
	ck_assert_uint_eq(m.inode, 0);
	ck_assert_str_eq(m.path, "");

	/* malformed: each must be refused, none may read past the string */
	ck_assert_int_eq(safefile_parse_map("", &m), -1);
	ck_assert_int_eq(safefile_parse_map("2000-1000 r-xp 0 08:02 1 /x", &m), -1);
	ck_assert_int_eq(safefile_parse_map("1000-1000 r-xp 0 08:02 1 /x", &m), -1);
	ck_assert_int_eq(
	    safefile_parse_map("10000000000000000-10000000000000001 r-xp 0 8:2 1 /x", &m), -1);
	ck_assert_int_eq(safefile_parse_map("1000-2000 r-x", &m), -1);
	ck_assert_int_eq(safefile_parse_map("1000-2000 r-xp 0 08 1 /x", &m), -1);
	ck_assert_int_eq(safefile_parse_map("1000-2000 r-xp 0 08:02 -1 /x", &m), -1);
	ck_assert_int_eq(safefile_parse_map("1000-2000 r-xp 0 08:02 99999999999999999999 /x", &m),
			 -1);
	ck_assert_int_eq(safefile_parse_map("1000-2000 r-xp 0 1000:02 1 /x", &m), -1);
	ck_assert_int_eq(safefile_parse_map("g000-2000 r-xp 0 08:02 1 /x", &m), -1);
}
END_TEST

/*
 * A maps line longer than the reader's buffer (a deep path, or one whose
 * newlines the kernel prints as \012) is dropped whole: its tail, chosen by
 * the path's owner, must not come back as a line of its own.
 */
START_TEST(test_long_maps_line_dropped)
{
	static const char forged[] = "1000-2000 r-xp 00000000 08:02 99 /etc/shadow\n";
	static const char real[] = "3000-4000 r-xp 00000000 08:02 7 /usr/lib/libgomem.so.0\n";
	size_t head = 5000, n = 0;
	char *text = malloc(head + sizeof forged + sizeof real + 32), line[4224];
	struct safefile_map m;
	unsigned lines = 0;
	FILE *f;

	ck_assert_ptr_nonnull(text);
	memcpy(text, "5000-6000 r--p 00000000 08:02 8 /", 33);
	memset(text + 33, 'd', head - 33);
	for (size_t i = 33; i + 1 < head; i += 200)
		text[i] = '/';
	memcpy(text + head, forged, sizeof forged - 1);
	n = head + sizeof forged - 1;
	memcpy(text + n, real, sizeof real - 1);
	n += sizeof real - 1;
	memcpy(text + n, "7000-8000 r-xp 0 08:02 5 /cut", 29); /* no newline: cut short */
	n += 29;
	f = fmemopen(text, n, "r");
	ck_assert_ptr_nonnull(f);
	while (safefile_maps_line(f, line, sizeof line)) {
		lines++;
		ck_assert_int_eq(safefile_parse_map(line, &m), 0);
		ck_assert_uint_eq(m.start, 0x3000);
		ck_assert_str_eq(m.path, "/usr/lib/libgomem.so.0");
	}
	ck_assert_uint_eq(lines, 1);
	fclose(f);
	free(text);
}
END_TEST

START_TEST(test_open_both_ways)
{
	struct safefile_map m;
	char err[512];
	int fd;

	my_map(&m);
	ck_assert_str_eq(m.path, file);
	fd = safefile_open(getpid(), &m, SAFEFILE_MAP_FILES, err, sizeof err);
	ck_assert_msg(fd >= 0, "map_files: %s", err);
	assert_content(fd);
	ck_assert_int_ne(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	close(fd);
	fd = safefile_open(getpid(), &m, SAFEFILE_ROOT_PATH, err, sizeof err);
	ck_assert_msg(fd >= 0, "root path: %s", err);
	assert_content(fd);
	close(fd);
}
END_TEST

START_TEST(test_fifo_at_the_path)
{
	struct safefile_map m;
	char err[512];
	int fd;

	/* The owner unlinks the mapped file and puts a FIFO where it was. */
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(mkfifo(file, 0666), 0);
	my_map(&m);
	ck_assert_int_eq(m.deleted, 1);
	ck_assert_str_eq(m.path, file);

	/* map_files still reaches the mapped (deleted) file */
	fd = safefile_open(getpid(), &m, SAFEFILE_ANY, err, sizeof err);
	ck_assert_msg(fd >= 0, "map_files: %s", err);
	assert_content(fd);
	close(fd);

	/* by path it is refused (deleted), and even a caller that dropped the
	 * "(deleted)" mark gets a refusal, not a blocked open */
	fd = safefile_open(getpid(), &m, SAFEFILE_ROOT_PATH, err, sizeof err);
	ck_assert_int_eq(fd, -1);
	ck_assert_ptr_nonnull(strstr(err, "deleted"));
	m.deleted = 0;
	fd = safefile_open(getpid(), &m, SAFEFILE_ROOT_PATH, err, sizeof err);
	ck_assert_int_eq(fd, -1);
	ck_assert_msg(strstr(err, "not a regular file") != NULL, "%s", err);
}
END_TEST

START_TEST(test_symlink_at_the_path)
{
	struct safefile_map m;
	char err[512], moved[4300];
	int fd;

	/* A symlink to the very file mapped: same inode, still refused. */
	my_map(&m);
	snprintf(moved, sizeof moved, "%s/real.so", dir);
	ck_assert_int_eq(rename(file, moved), 0);
	ck_assert_int_eq(symlink(moved, file), 0);
	fd = safefile_open(getpid(), &m, SAFEFILE_ROOT_PATH, err, sizeof err);
	ck_assert_int_eq(fd, -1);
	ck_assert_msg(strstr(err, "symbolic link") != NULL, "%s", err);

	/* and a symlinked directory on the way */
	snprintf(moved, sizeof moved, "%s/d", dir);
	ck_assert_int_eq(symlink(dir, moved), 0);
	snprintf(m.path, sizeof m.path, "%s/d/real.so", dir);
	fd = safefile_open(getpid(), &m, SAFEFILE_ROOT_PATH, err, sizeof err);
	ck_assert_int_eq(fd, -1);
}
END_TEST

START_TEST(test_other_file_at_the_path)
{
	struct safefile_map m;
	char err[512], other[4300];
	int fd;

	my_map(&m);
	snprintf(other, sizeof other, "%s/other", dir);
	fd = open(other, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(rename(other, file), 0); /* a different inode at the path */
	fd = safefile_open(getpid(), &m, SAFEFILE_ROOT_PATH, err, sizeof err);
	ck_assert_int_eq(fd, -1);
	ck_assert_msg(strstr(err, "inode") != NULL, "%s", err);
	/* a device at the path is refused before it is opened */
	snprintf(m.path, sizeof m.path, "/dev/null");
	fd = safefile_open(getpid(), &m, SAFEFILE_ROOT_PATH, err, sizeof err);
	ck_assert_int_eq(fd, -1);
	ck_assert_msg(strstr(err, "not a regular file") != NULL, "%s", err);
	/* relative and anonymous */
	snprintf(m.path, sizeof m.path, "relative.so");
	ck_assert_int_eq(safefile_open(getpid(), &m, SAFEFILE_ROOT_PATH, err, sizeof err), -1);
	m.inode = 0;
	ck_assert_int_eq(safefile_open(getpid(), &m, SAFEFILE_ANY, err, sizeof err), -1);
}
END_TEST

START_TEST(test_read_all_bounded)
{
	struct safefile_map m;
	char err[512];
	size_t len = 0;
	char *buf;
	int fd;

	my_map(&m);
	fd = safefile_open(getpid(), &m, SAFEFILE_ANY, err, sizeof err);
	ck_assert_msg(fd >= 0, "%s", err);
	buf = safefile_read_all(fd, sizeof content, &len, err, sizeof err);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(len, sizeof content);
	ck_assert_mem_eq(buf, content, sizeof content);
	free(buf);
	buf = safefile_read_all(fd, sizeof content - 1, &len, err, sizeof err);
	ck_assert_ptr_null(buf);
	ck_assert_msg(strstr(err, "more than") != NULL, "%s", err);
	close(fd);
}
END_TEST

int main(void)
{
	CHECK_RUN("safefile", setup, teardown, test_parse_map, test_long_maps_line_dropped,
		  test_open_both_ways,
		  test_fifo_at_the_path, test_symlink_at_the_path, test_other_file_at_the_path,
		  test_read_all_bounded);
}
