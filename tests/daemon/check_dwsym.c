/*
 * check_dwsym.c: daemon/core/dwsym.c turns addresses into what people read.
 *
 * The expectations come from the compiler, not from libdw: __LINE__ marks
 * the lines of calls, the inlined function and its caller are this file's,
 * the C++ name is what the source declares (cxxsite.cc), and libc's frame
 * resolves to a source line when libc6-dbg's separate debug file is there.
 */
#include <check.h>

#include "../common/suite.h"
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/dwsym.h"

static int line_a, line_b;

static __attribute__((noinline)) uintptr_t
here(void)
{
	uintptr_t r = (uintptr_t)__builtin_return_address(0);

	__asm__ volatile("" ::: "memory");
	return r;
}

static inline __attribute__((always_inline)) uintptr_t
inner(void)
{
	uintptr_t r = here(); line_a = __LINE__;

	__asm__ volatile("" ::: "memory"); /* no tail call */
	return r;
}

static __attribute__((noinline)) uintptr_t
outer(void)
{
	uintptr_t r = inner(); line_b = __LINE__;

	__asm__ volatile("" ::: "memory");
	return r;
}

static int
ends_with(const char *s, const char *tail)
{
	size_t a = strlen(s), b = strlen(tail);

	return a >= b && strcmp(s + a - b, tail) == 0;
}

START_TEST(lines_and_inlined_frames)
{
	char err[256];
	struct dwsym_proc *dp;
	const struct dwsym_loc *l;
	uintptr_t pc = outer();

	dp = dwsym_proc_open(getpid(), err, sizeof(err));
	ck_assert_msg(dp != NULL, "%s", err);
	l = dwsym_proc_lookup(dp, pc, true);
	ck_assert_ptr_nonnull(l->module);
	ck_assert_msg(l->nframes >= 2, "%u frames at %#lx, the first %s %s:%d", l->nframes,
		      (unsigned long)pc, l->nframes ? l->frames[0].function : "-",
		      l->nframes ? l->frames[0].file : "-", l->nframes ? l->frames[0].line : 0);
	ck_assert_str_eq(l->frames[0].function, "inner");
	ck_assert_int_eq(l->frames[0].line, line_a);
	ck_assert_msg(ends_with(l->frames[0].file, "check_dwsym.c"), "%s", l->frames[0].file);
	ck_assert_str_eq(l->frames[1].function, "outer");
	ck_assert_int_eq(l->frames[1].line, line_b);
	ck_assert(ends_with(l->frames[1].file, "check_dwsym.c"));
	ck_assert(l->module->has_lines && l->module->has_functions);
	ck_assert_uint_eq(strlen(l->module->build_id), 40);
	/* Cached: the same answer, the same memory. */
	ck_assert_ptr_eq(dwsym_proc_lookup(dp, pc, true), l);
	/* Nothing mapped there. */
	l = dwsym_proc_lookup(dp, 0x10, true);
	ck_assert_ptr_null(l->module);
	ck_assert_uint_eq(l->nframes, 0);
	dwsym_proc_close(dp);
}
END_TEST


/* Released: what was resolved stays, a new address reports the process again. */
START_TEST(release_keeps_resolved_and_reopens)
{
	char err[256];
	struct dwsym_proc *dp;
	const struct dwsym_loc *l, *l2;
	uintptr_t pc = outer(), pc2 = (uintptr_t)&ends_with + 1;

	dp = dwsym_proc_open(getpid(), err, sizeof(err));
	ck_assert_msg(dp != NULL, "%s", err);
	l = dwsym_proc_lookup(dp, pc, true);
	ck_assert_str_eq(l->frames[0].function, "inner");
	dwsym_proc_release(dp);
	ck_assert(!dwsym_proc_is_open(dp));
	ck_assert_ptr_eq(dwsym_proc_lookup(dp, pc, true), l);
	ck_assert(!dwsym_proc_is_open(dp)); /* a cached answer needs no libdw */
	l2 = dwsym_proc_lookup(dp, pc2, false);
	ck_assert(dwsym_proc_is_open(dp));
	ck_assert_uint_ge(l2->nframes, 1);
	ck_assert_str_eq(l2->frames[0].function, "ends_with");
	/* The module is the same entry as before the release. */
	ck_assert_ptr_eq(l2->module, l->module);
	dwsym_proc_close(dp);
}
END_TEST

static uintptr_t libc_pc;

static int
cmp(const void *a, const void *b)
{
	if (libc_pc == 0)
		libc_pc = (uintptr_t)__builtin_return_address(0);
	return *(const int *)a - *(const int *)b;
}

START_TEST(libc_frame_with_separate_debug_info)
{
	int v[] = { 4, 2, 9, 1 };
	char err[256], path[256];
	struct dwsym_proc *dp;
	const struct dwsym_loc *l;
	struct stat st;

	qsort(v, 4, sizeof(int), cmp);
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
	/* The sanitizer's qsort interceptor calls cmp, not libc's: the plain
	 * build checks the libc frame. */
	(void)err, (void)path, (void)st, (void)dp, (void)l;
	return;
#endif
	dp = dwsym_proc_open(getpid(), err, sizeof(err));
	ck_assert_msg(dp != NULL, "%s", err);
	l = dwsym_proc_lookup(dp, libc_pc, true);
	ck_assert_ptr_nonnull(l->module);
	ck_assert_msg(strstr(l->module->path, "libc.so") != NULL, "%s", l->module->path);
	ck_assert_uint_ge(l->nframes, 1);
	ck_assert_msg(strstr(l->frames[l->nframes - 1].function, "sort") != NULL, "%s",
		      l->frames[l->nframes - 1].function);
	snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%.2s/%s.debug", l->module->build_id,
		 l->module->build_id + 2);
	if (stat(path, &st) == 0) {
		ck_assert_msg(l->frames[0].line > 0 && strstr(l->frames[0].file, "sort") != NULL,
			      "libc frame %s:%d with %s present", l->frames[0].file, l->frames[0].line,
			      path);
	} else {
		printf("libc6-dbg not installed (%s): libc lines not checked\n", path);
	}
	dwsym_proc_close(dp);
}
END_TEST

START_TEST(cxx_names_demangled)
{
	char err[256], line[256];
	struct dwsym_proc *dp;
	const struct dwsym_loc *l;
	unsigned long pc;
	int in[2], out[2], st;
	pid_t pid;
	FILE *f;

	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(out), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl("./cxxsite", "cxxsite", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	f = fdopen(out[0], "r");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	ck_assert_int_eq(sscanf(line, "%lx", &pc), 1);
	dp = dwsym_proc_open(pid, err, sizeof(err));
	ck_assert_msg(dp != NULL, "%s", err);
	l = dwsym_proc_lookup(dp, pc, true);
	ck_assert_uint_ge(l->nframes, 1);
	ck_assert_str_eq(l->frames[l->nframes - 1].function, "store::Cache::grow(int)");
	ck_assert_str_eq(l->frames[l->nframes - 1].system_name, "_ZN5store5Cache4growEi");
	ck_assert(ends_with(l->frames[0].file, "cxxsite.cc"));
	ck_assert_int_gt(l->frames[0].line, 0);
	dwsym_proc_close(dp);
	close(in[1]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	fclose(f);
}
END_TEST

START_TEST(demangle)
{
	char *s = dwsym_demangle("_ZN3foo3barEv");

	ck_assert_str_eq(s, "foo::bar()");
	free(s);
	s = dwsym_demangle("plain_c");
	ck_assert_str_eq(s, "plain_c");
	free(s);
	s = dwsym_demangle("_Zbroken");
	ck_assert_str_eq(s, "_Zbroken");
	free(s);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("dwarf");
	TCase *tc = tcase_create("symbols");

	if (geteuid() != 0) {
		printf("SKIP: reading another process's mappings needs root here\n");
		return 77;
	}
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, lines_and_inlined_frames);
	tcase_add_test(tc, release_keeps_resolved_and_reopens);
	tcase_add_test(tc, libc_frame_with_separate_debug_info);
	tcase_add_test(tc, cxx_names_demangled);
	tcase_add_test(tc, demangle);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
