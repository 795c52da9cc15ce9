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
#include <dlfcn.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
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
	ck_assert(l->lines);
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


/*
 * A child of this test maps the same objects: it stops in a pipe read right
 * after the fork, so its addresses are this process's.
 */
static pid_t
fork_twin(int *wfd)
{
	int p[2];
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[1]);
		(void)!read(p[0], &c, 1);
		_exit(0);
	}
	close(p[0]);
	*wfd = p[1];
	return pid;
}

static void
end_twin(pid_t pid, int wfd)
{
	int st;

	close(wfd);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
}

/* Two processes with the same libc and binary resolve through one object entry. */
START_TEST(objects_shared_between_processes)
{
	char err[256];
	struct dwsym_proc *a, *b;
	const struct dwsym_loc *la, *lb, *lc;
	struct dwsym_stats s0, s1, s2;
	uintptr_t pc = outer(), lpc = (uintptr_t)&gnu_get_libc_version;
	int wfd;
	pid_t twin = fork_twin(&wfd);

	dwsym_stats(&s0);
	a = dwsym_proc_open(getpid(), err, sizeof(err));
	ck_assert_msg(a != NULL, "%s", err);
	dwsym_stats(&s1);
	ck_assert_uint_gt(s1.modules, s0.modules); /* this binary, libc, ... */
	b = dwsym_proc_open(twin, err, sizeof(err));
	ck_assert_msg(b != NULL, "%s", err);
	dwsym_stats(&s2);
	/* The twin maps nothing new: every object of it was found known. */
	ck_assert_uint_eq(s2.modules, s1.modules);
	ck_assert_uint_ge(s2.shared_hits - s1.shared_hits, s1.modules - s0.modules);

	la = dwsym_proc_lookup(a, pc, true);
	lb = dwsym_proc_lookup(b, pc, true);
	ck_assert_str_eq(la->frames[0].function, "inner");
	ck_assert_str_eq(lb->frames[0].function, "inner");
	ck_assert_int_eq(lb->frames[0].line, line_a);
	/* One resolution, kept with the object, serves both processes... */
	ck_assert_ptr_eq(la->frames, lb->frames);
	/* ...but each location names its own process's mapping. */
	ck_assert_ptr_ne(la->module, lb->module);
	ck_assert_str_eq(la->module->build_id, lb->module->build_id);
	la = dwsym_proc_lookup(a, lpc, false);
	lb = dwsym_proc_lookup(b, lpc, false);
	ck_assert_msg(la->module != NULL && strstr(la->module->path, "libc.so") != NULL, "%s",
		      la->module != NULL ? la->module->path : "-");
	ck_assert_uint_ge(lb->nframes, 1);
	ck_assert_ptr_eq(la->frames, lb->frames);
	dwsym_stats(&s1);
	/* libc and this binary were each loaded into libdw once, for both. */
	ck_assert_uint_le(s1.loads - s2.loads, 2);
	/* Closing one keeps the other's answers. */
	dwsym_proc_close(a);
	lc = dwsym_proc_lookup(b, pc, true);
	ck_assert_str_eq(lc->frames[0].function, "inner");
	dwsym_proc_close(b);
	dwsym_stats(&s2);
	ck_assert_uint_eq(s2.modules, s0.modules); /* the last user freed them */
	end_twin(twin, wfd);
}
END_TEST

/* Over the limit, the least recent object is unloaded; what it resolved stays. */
START_TEST(lru_unloads_and_reloads)
{
	char err[256];
	struct dwsym_proc *dp;
	const struct dwsym_loc *l, *l2, *l3;
	struct dwsym_stats s0, s1, s2;
	uintptr_t pc = outer(), pc2 = (uintptr_t)&ends_with + 1;

	dwsym_set_limits(1, 0);
	dp = dwsym_proc_open(getpid(), err, sizeof(err));
	ck_assert_msg(dp != NULL, "%s", err);
	l = dwsym_proc_lookup(dp, pc, true);
	ck_assert_str_eq(l->frames[0].function, "inner");
	dwsym_stats(&s0);
	ck_assert_uint_eq(s0.open, 1);
	/* libc: this binary's object is unloaded to stay at one. */
	l2 = dwsym_proc_lookup(dp, (uintptr_t)&gnu_get_libc_version, false);
	ck_assert_uint_ge(l2->nframes, 1);
	dwsym_stats(&s1);
	ck_assert_uint_eq(s1.open, 1);
	ck_assert_uint_eq(s1.evictions, s0.evictions + 1);
	/* A cached answer needs no libdw. */
	ck_assert_ptr_eq(dwsym_proc_lookup(dp, pc, true), l);
	dwsym_stats(&s2);
	ck_assert_uint_eq(s2.loads, s1.loads);
	/* A new offset of the unloaded object loads it again. */
	l3 = dwsym_proc_lookup(dp, pc2, false);
	ck_assert_uint_ge(l3->nframes, 1);
	ck_assert_str_eq(l3->frames[0].function, "ends_with");
	ck_assert_ptr_eq(l3->module, l->module);
	dwsym_stats(&s2);
	ck_assert_uint_eq(s2.loads, s1.loads + 1);
	ck_assert_uint_eq(s2.open, 1);
	dwsym_proc_close(dp);
	dwsym_set_limits(0, 0);
}
END_TEST

/*
 * A library dlopen'ed after the process's symbols were opened (a Python
 * extension module, a plugin) still resolves: an address in no known object
 * rereads the maps, at most once a second, and the pprof mapping table grows.
 */
START_TEST(library_loaded_later_resolves)
{
	/* Libraries every Debian system has (apt and coreutils need them) and
	 * one of their functions; the first one not mapped yet is used (a
	 * sanitizer's runtime may have loaded some). */
	static const char *const cand[][2] = {
		{"libgmp.so.10", "__gmpz_init"},
		{"libuuid.so.1", "uuid_generate"},
		{"liblz4.so.1", "LZ4_compress_default"},
		{"libxxhash.so.0", "XXH64"},
	};
	char err[256];
	struct dwsym_proc *dp;
	const struct dwsym_module *mods;
	const struct dwsym_loc *l;
	const char *lib = NULL, *func = NULL;
	size_t n0, n1, i;
	void *h = NULL, *fn;

	for (i = 0; i < sizeof(cand) / sizeof(cand[0]) && lib == NULL; i++) {
		if ((h = dlopen(cand[i][0], RTLD_NOW | RTLD_NOLOAD)) != NULL) {
			dlclose(h);
			continue;
		}
		lib = cand[i][0];
		func = cand[i][1];
	}
	ck_assert_msg(lib != NULL, "every candidate library is loaded already");
	dp = dwsym_proc_open(getpid(), err, sizeof(err));
	ck_assert_msg(dp != NULL, "%s", err);
	n0 = dwsym_proc_modules(dp, &mods);
	h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(h != NULL, "%s", dlerror());
	fn = dlsym(h, func);
	ck_assert_ptr_nonnull(fn);
	/* within a second of the first read: not reread yet, so unknown */
	l = dwsym_proc_lookup(dp, (uintptr_t)fn, false);
	if (l->module == NULL) {
		usleep(1100 * 1000);
		l = dwsym_proc_lookup(dp, (uintptr_t)fn, false);
	}
	ck_assert_ptr_nonnull(l->module);
	ck_assert_msg(strstr(l->module->path, lib) != NULL, "module %s", l->module->path);
	ck_assert_uint_ge(l->nframes, 1);
	ck_assert_str_eq(l->frames[0].function, func);
	n1 = dwsym_proc_modules(dp, &mods);
	ck_assert_uint_gt(n1, n0);
	ck_assert_uint_lt((size_t)(l->module - mods), n1);
	/* an address in no file at all: still unknown */
	l = dwsym_proc_lookup(dp, 0x1000, false);
	ck_assert_ptr_null(l->module);
	dwsym_proc_close(dp);
	dlclose(h);
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

/* cxxsite (at path) running: it prints an address and waits for EOF on stdin. */
struct site_proc {
	pid_t pid;
	unsigned long pc;
	int in;
	FILE *out;
};

static void
site_start(const char *path, struct site_proc *sp)
{
	char line[256];
	int in[2], out[2];

	/* Close-on-exec: a later child must not hold this one's stdin open. */
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	sp->pid = fork();
	ck_assert_int_ge(sp->pid, 0);
	if (sp->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(path, "cxxsite", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	sp->in = in[1];
	sp->out = fdopen(out[0], "r");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), sp->out));
	ck_assert_int_eq(sscanf(line, "%lx", &sp->pc), 1);
}

static void
site_stop(struct site_proc *sp)
{
	int st;

	close(sp->in);
	ck_assert_int_eq(waitpid(sp->pid, &st, 0), sp->pid);
	fclose(sp->out);
}

/* A copy of cxxsite at path, owned by uid with mode. */
static void
copy_site(const char *path, uid_t uid, mode_t mode)
{
	char cmd[512];

	snprintf(cmd, sizeof cmd, "cp ./cxxsite %s", path);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(chown(path, uid, 0), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
}

/*
 * The same build ID is one object only for files root owns and only root
 * may write: another user's copy (which could be a fake with a copied ID)
 * is an object of its own, symbolised from its own file.
 */
START_TEST(build_id_shared_only_for_root_files)
{
	char err[256], dir[] = "/tmp/check_dwsym.XXXXXX", a[64], b[64];
	struct site_proc p0, pa, pb;
	struct dwsym_proc *d0, *da, *db;
	const struct dwsym_loc *l0, *la, *lb;
	struct dwsym_stats s0, s1, s2;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(a, sizeof a, "%s/root-copy", dir);
	snprintf(b, sizeof b, "%s/user-copy", dir);
	copy_site(a, 0, 0755);
	copy_site(b, 65534, 0755);
	site_start("./cxxsite", &p0);
	site_start(a, &pa);
	site_start(b, &pb);
	d0 = dwsym_proc_open(p0.pid, err, sizeof(err));
	ck_assert_msg(d0 != NULL, "%s", err);
	dwsym_stats(&s0);
	da = dwsym_proc_open(pa.pid, err, sizeof(err));
	ck_assert_msg(da != NULL, "%s", err);
	dwsym_stats(&s1);
	ck_assert_uint_eq(s1.modules, s0.modules); /* the root-owned copy: cxxsite's entry */
	db = dwsym_proc_open(pb.pid, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	dwsym_stats(&s2);
	ck_assert_uint_eq(s2.modules, s1.modules + 1); /* nobody's copy: an entry of its own */
	l0 = dwsym_proc_lookup(d0, p0.pc, true);
	la = dwsym_proc_lookup(da, pa.pc, true);
	lb = dwsym_proc_lookup(db, pb.pc, true);
	ck_assert_str_eq(l0->frames[l0->nframes - 1].function, "store::Cache::grow(int)");
	ck_assert_ptr_eq(la->frames, l0->frames);
	ck_assert_ptr_ne(lb->frames, l0->frames);
	ck_assert_str_eq(lb->frames[lb->nframes - 1].function, "store::Cache::grow(int)");
	dwsym_proc_close(d0);
	dwsym_proc_close(da);
	dwsym_proc_close(db);
	site_stop(&p0);
	site_stop(&pa);
	site_stop(&pb);
	unlink(a);
	unlink(b);
	rmdir(dir);
}
END_TEST

START_TEST(cxx_names_demangled)
{
	char err[256];
	struct dwsym_proc *dp;
	const struct dwsym_loc *l;
	struct site_proc sp;

	site_start("./cxxsite", &sp);
	dp = dwsym_proc_open(sp.pid, err, sizeof(err));
	ck_assert_msg(dp != NULL, "%s", err);
	l = dwsym_proc_lookup(dp, sp.pc, true);
	ck_assert_uint_ge(l->nframes, 1);
	ck_assert_str_eq(l->frames[l->nframes - 1].function, "store::Cache::grow(int)");
	ck_assert_str_eq(l->frames[l->nframes - 1].system_name, "_ZN5store5Cache4growEi");
	ck_assert(ends_with(l->frames[0].file, "cxxsite.cc"));
	ck_assert_int_gt(l->frames[0].line, 0);
	dwsym_proc_close(dp);
	site_stop(&sp);
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

/*
 * Names from a watched process's objects are hostile: capped, cut at the
 * start of a character, control bytes replaced; short ones kept as they are.
 */
static void
clean_is(const char *in, const char *want)
{
	char *s = dwsym_clean(in);

	ck_assert_str_eq(s, want);
	free(s);
}

START_TEST(hostile_names_bounded)
{
	size_t big = 100000, i;
	char *name = malloc(big + 1), *s;

	ck_assert_ptr_nonnull(name);
	clean_is("f\nx\ty\x7f", "f?x?y?");
	clean_is("caf\xc3\xa9::\xe2\x82\xac", "caf\xc3\xa9::\xe2\x82\xac");
	clean_is(NULL, "");
	/* 100000 bytes of "\xe2\x82\xac" (3 bytes each) after "ab": the cut
	 * at 4093 falls inside a character, which goes whole. */
	memcpy(name, "ab", 2);
	for (i = 2; i + 3 <= big; i += 3)
		memcpy(name + i, "\xe2\x82\xac", 3);
	name[i] = 0;
	s = dwsym_clean(name);
	ck_assert_uint_le(strlen(s), DWSYM_MAX_NAME);
	ck_assert_uint_eq(strlen(s), 2 + 3 * ((DWSYM_MAX_NAME - 3 - 2) / 3) + 3);
	ck_assert_str_eq(s + strlen(s) - 6, "\xe2\x82\xac...");
	free(s);
	/* A mangled name that long is not demangled, only cut. */
	memset(name, 'Z', big);
	memcpy(name, "_ZN3foo", 7);
	name[big] = 0;
	s = dwsym_demangle(name);
	ck_assert_uint_eq(strlen(s), DWSYM_MAX_NAME);
	ck_assert(strncmp(s, "_ZN3foo", 7) == 0);
	free(s);
	/* At the limit a name is whole. */
	memset(name, 'b', DWSYM_MAX_NAME);
	name[DWSYM_MAX_NAME] = 0;
	clean_is(name, name);
	free(name);
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
	tcase_add_test(tc, objects_shared_between_processes);
	tcase_add_test(tc, lru_unloads_and_reloads);
	tcase_add_test(tc, library_loaded_later_resolves);
	tcase_add_test(tc, libc_frame_with_separate_debug_info);
	tcase_add_test(tc, cxx_names_demangled);
	tcase_add_test(tc, build_id_shared_only_for_root_files);
	tcase_add_test(tc, demangle);
	tcase_add_test(tc, hostile_names_bounded);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
