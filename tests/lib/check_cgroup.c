/*
 * check_cgroup.c: finding the memory cgroup and reading its limit, on fake
 * /proc/self/cgroup, /proc/self/mountinfo and cgroup directories built in a
 * temporary directory (the real ones are covered by cgroup.sh), and the
 * headroom rule.
 */
#include "testutil.h"

#include <sys/stat.h>

static char tmp[256];

static void
put(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void
dir(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	ck_assert_int_eq(mkdir(path, 0755), 0);
}

static void
setup(void)
{
	strcpy(tmp, "/tmp/gm-cgroup-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void
teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
}

/* Find with the fake files; returns the version, dir relative to tmp. */
static int
find(char *out, size_t *mntlen)
{
	char cg[300], mi[300], d[GM_CG_PATH];
	int v;

	snprintf(cg, sizeof(cg), "%s/cgroup", tmp);
	snprintf(mi, sizeof(mi), "%s/mountinfo", tmp);
	v = gm_cgroup_find(cg, mi, d, sizeof(d), mntlen);
	if (v != 0) {
		ck_assert_msg(strncmp(d, tmp, strlen(tmp)) == 0, "dir %s not under %s", d, tmp);
		strcpy(out, d + strlen(tmp));
		*mntlen -= strlen(tmp);
	}
	return v;
}

static uint64_t
limit_of(const char *rel, size_t mntlen, int v, unsigned *src)
{
	char d[GM_CG_PATH + 300];

	snprintf(d, sizeof(d), "%s%s", tmp, rel);
	return gm_cgroup_read_limit(d, mntlen + strlen(tmp), v, src);
}

/* A mountinfo line for mount point rel (under tmp) with the given root. */
static void
mountinfo(const char *lines_fmt)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), lines_fmt, tmp, tmp, tmp);
	put("mountinfo", buf);
}

START_TEST(v1_limit_of_an_ancestor)
{
	char d[GM_CG_PATH];
	size_t ml;
	unsigned src;

	put("cgroup", "9:name=systemd:/\n5:cpu,cpuacct:/x\n4:memory:/a/b\n0::/\n");
	mountinfo("22 1 0:20 / / rw - ext4 /dev/root rw\n"
		  "35 31 0:32 / %s/cpu rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
		  "36 31 0:33 / %s/mem rw,relatime shared:9 - cgroup cgroup rw,memory\n"
		  "41 31 0:38 / %s/unified rw,relatime - cgroup2 cgroup2 rw\n");
	dir("mem");
	dir("mem/a");
	dir("mem/a/b");
	put("memory.limit_in_bytes", "4096\n"); /* above the mount: not ours */
	put("mem/memory.limit_in_bytes", "9223372036854771712\n");
	put("mem/a/memory.limit_in_bytes", "268435456\n");
	put("mem/a/b/memory.limit_in_bytes", "9223372036854771712\n");
	ck_assert_int_eq(find(d, &ml), 1);
	ck_assert_str_eq(d, "/mem/a/b");
	ck_assert_uint_eq(ml, 4);
	ck_assert_uint_eq(limit_of("/mem/a/b", ml, 1, &src), 268435456);
	ck_assert_uint_eq(src, GOMEM_LIMIT_CGROUP_V1);
	/* The child's own, lower limit wins. */
	put("mem/a/b/memory.limit_in_bytes", "134217728\n");
	ck_assert_uint_eq(limit_of("/mem/a/b", ml, 1, &src), 134217728);
	/* No limit anywhere: 0. */
	put("mem/a/b/memory.limit_in_bytes", "9223372036854771712\n");
	put("mem/a/memory.limit_in_bytes", "9223372036854771712\n");
	ck_assert_uint_eq(limit_of("/mem/a/b", ml, 1, &src), 0);
	ck_assert_uint_eq(src, GOMEM_LIMIT_NONE);
}
END_TEST

START_TEST(v2_max_and_high)
{
	char d[GM_CG_PATH];
	size_t ml;
	unsigned src;

	put("cgroup", "0::/svc/x\n");
	mountinfo("30 1 0:26 / %s/cg rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
		  "31 1 0:27 / %s/other rw - tmpfs tmpfs rw\n"
		  "32 1 0:28 / %s/other2 rw - tmpfs tmpfs rw\n");
	dir("cg");
	dir("cg/svc");
	dir("cg/svc/x");
	put("cg/svc/memory.max", "max\n");
	put("cg/svc/memory.high", "max\n");
	put("cg/svc/x/memory.max", "300000000\n");
	ck_assert_int_eq(find(d, &ml), 2);
	ck_assert_str_eq(d, "/cg/svc/x");
	ck_assert_uint_eq(limit_of(d, ml, 2, &src), 300000000);
	ck_assert_uint_eq(src, GOMEM_LIMIT_CGROUP_MAX);
	put("cg/svc/memory.high", "200000000\n");
	ck_assert_uint_eq(limit_of(d, ml, 2, &src), 200000000);
	ck_assert_uint_eq(src, GOMEM_LIMIT_CGROUP_HIGH);
	/* Malformed, empty or negative values are no limit, not a wrong one. */
	put("cg/svc/memory.high", "20x\n");
	put("cg/svc/x/memory.max", "");
	ck_assert_uint_eq(limit_of(d, ml, 2, &src), 0);
	put("cg/svc/x/memory.max", "-1\n");
	ck_assert_uint_eq(limit_of(d, ml, 2, &src), 0);
	put("cg/svc/x/memory.max", "99999999999999999999999\n");
	ck_assert_uint_eq(limit_of(d, ml, 2, &src), 0);
	/* 0 is the tightest limit, not none (0 means none in the result),
	 * also beside a looser one on another level. */
	put("cg/svc/x/memory.max", "0\n");
	put("cg/svc/memory.high", "100000000\n");
	ck_assert_uint_eq(limit_of(d, ml, 2, &src), 1);
	ck_assert_uint_eq(src, GOMEM_LIMIT_CGROUP_MAX);
	/* The root cgroup itself. */
	put("cgroup", "0::/\n");
	ck_assert_int_eq(find(d, &ml), 2);
	ck_assert_str_eq(d, "/cg");
}
END_TEST

START_TEST(hybrid_prefers_v1_memory)
{
	char d[GM_CG_PATH];
	size_t ml;

	put("cgroup", "0::/u\n4:memory:/m\n");
	mountinfo("36 31 0:33 / %s/mem rw - cgroup cgroup rw,memory\n"
		  "41 31 0:38 / %s/unified rw - cgroup2 cgroup2 rw\n"
		  "42 31 0:39 / %s/x rw - tmpfs tmpfs rw\n");
	ck_assert_int_eq(find(d, &ml), 1);
	ck_assert_str_eq(d, "/mem/m");
}
END_TEST

START_TEST(mount_root_and_escapes)
{
	char d[GM_CG_PATH];
	size_t ml;

	/* A container: the mount shows /docker/abc of the hierarchy. */
	put("cgroup", "4:memory:/docker/abc/inner\n");
	mountinfo("36 31 0:33 /docker/abc %s/my\\040mnt rw - cgroup cgroup rw,memory\n"
		  "37 31 0:34 / %s/y rw - tmpfs tmpfs rw\n"
		  "38 31 0:35 / %s/z rw - tmpfs tmpfs rw\n");
	ck_assert_int_eq(find(d, &ml), 1);
	ck_assert_str_eq(d, "/my mnt/inner");
	ck_assert_uint_eq(ml, 7);
	/* /docker/abcd is not under /docker/abc. */
	put("cgroup", "4:memory:/docker/abcd\n");
	ck_assert_int_eq(find(d, &ml), 0);
	/* A path outside the namespace's view. */
	put("cgroup", "4:memory:/../x\n");
	ck_assert_int_eq(find(d, &ml), 0);
}
END_TEST

START_TEST(nothing_to_find)
{
	char d[GM_CG_PATH], big[6000];
	size_t ml;

	put("cgroup", "1:cpu:/\n2:name=systemd:/\n");
	mountinfo("36 31 0:33 / %s/mem rw - cgroup cgroup rw,memory\n%s%s");
	ck_assert_int_eq(find(d, &ml), 0);
	/* A memory cgroup without a matching mount. */
	put("cgroup", "4:memory:/a\n");
	mountinfo("36 31 0:33 / %s/cpu rw - cgroup cgroup rw,cpu\n%s%s");
	ck_assert_int_eq(find(d, &ml), 0);
	/* Garbage and a line longer than the reader's buffer before the good one. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	{
		char buf[8192];

		snprintf(buf, sizeof(buf), "garbage\n%s - cgroup cgroup rw,memory\n"
			 "36 31 0:33 / %s/mem rw - cgroup cgroup rw,memory\n", big, tmp);
		put("mountinfo", buf);
	}
	ck_assert_int_eq(find(d, &ml), 1);
	ck_assert_str_eq(d, "/mem/a");
	/* Missing files. */
	unlink(strcat(strcpy(big, tmp), "/cgroup"));
	ck_assert_int_eq(find(d, &ml), 0);
}
END_TEST

START_TEST(headroom_rule)
{
	/* 10% or 8 MiB, whichever is more, never below half (gomem(3)). */
	ck_assert_uint_eq(gm_cgroup_soft_limit(256ull << 20), (256ull << 20) - (256ull << 20) / 10);
	ck_assert_uint_eq(gm_cgroup_soft_limit(64ull << 20), 56ull << 20);
	ck_assert_uint_eq(gm_cgroup_soft_limit(16ull << 20), 8ull << 20);
	ck_assert_uint_eq(gm_cgroup_soft_limit(10ull << 20), 5ull << 20);
	ck_assert_uint_eq(gm_cgroup_soft_limit(8ull << 30), (8ull << 30) - (8ull << 30) / 10);
	ck_assert_uint_eq(gm_cgroup_soft_limit(1), 1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("cgroup");
	TCase *tc = tcase_create("cgroup");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, v1_limit_of_an_ancestor);
	tcase_add_test(tc, v2_max_and_high);
	tcase_add_test(tc, hybrid_prefers_v1_memory);
	tcase_add_test(tc, mount_root_and_escapes);
	tcase_add_test(tc, nothing_to_find);
	tcase_add_test(tc, headroom_rule);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
