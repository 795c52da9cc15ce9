/*
 * check_scavenge.c: the scavenger keeps retained memory near its goal,
 * gm_mheap_scavenge(all) leaves HeapIdle == HeapReleased, a memory limit
 * makes allocation release synchronously, identities hold while the
 * scavenger runs, a fork while it runs leaves a working child, and a batch
 * of ranges returned to the OS in one call reads as zero, also under a
 * seccomp filter that kills a process calling process_madvise.
 */
#include "testutil.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/*
 * GOMEMDEBUG's scavenger times are bounded: scavwindow=0 made the thread
 * wake every nanosecond, and a huge value wrapped to 0.
 */
START_TEST(scav_times_bounded)
{
	setenv("GOMEMDEBUG", "scavwindow=0,scavage=288230376151711744", 1);
	gm_env_init();
	ck_assert_uint_eq(gm_opt.release_delay_ns, 10000000u);
	ck_assert_uint_eq(gm_opt.scav_age_ns, 3600000000000u);
	setenv("GOMEMDEBUG", "scavwindow=288230376151711744", 1);
	gm_env_init();
	ck_assert_uint_eq(gm_opt.release_delay_ns, 3600000000000u);
	unsetenv("GOMEMDEBUG");
}
END_TEST

/*
 * An idle age longer than the machine has been up leaves every run alone
 * (it released every run at once, as a forced pass does).
 */
START_TEST(scavage_over_uptime_releases_nothing)
{
	const size_t n = 8 << 20; /* over the thread's large cache: to the heap */
	void *p;

	gm_ensure_init();
	gm_opt.scav_age_ns = UINT64_MAX / 2;
	p = gm_malloc(n);
	ck_assert_ptr_nonnull(p);
	memset(p, 1, n);
	gm_free(p);
	ck_assert_uint_eq(gm_mheap_scavenge(SIZE_MAX, false), 0);
	ck_assert_uint_ge(gm_mheap_scavenge(SIZE_MAX, true), n);
}
END_TEST

START_TEST(free_os_memory_releases_all_idle)
{
	struct gomem_memstats m;
	void *v[200];

	for (int i = 0; i < 200; i++) {
		v[i] = gm_malloc(100000);
		memset(v[i], 1, 100000);
	}
	for (int i = 0; i < 200; i++)
		gm_free(v[i]);
	gm_mheap_scavenge(SIZE_MAX, true);
	gm_read_memstats(&m);
	ck_assert_uint_eq(m.HeapIdle, m.HeapReleased);
	ck_identities(&m);
}
END_TEST

START_TEST(limit_scavenges_synchronously)
{
	struct gomem_memstats m;
	void *v[64];

	gm_opt.scavenge = false; /* only the synchronous path may release */
	for (int i = 0; i < 64; i++) {
		v[i] = gm_malloc(1 << 20);
		memset(v[i], 1, 1 << 20);
	}
	for (int i = 0; i < 64; i++)
		gm_free(v[i]);
	gm_read_memstats(&m);
	ck_assert_uint_ge(m.HeapIdle - m.HeapReleased, (uint64_t)60 << 20);
	/* Limit: 32 MiB over what is Ready minus the idle part. */
	gm_lock_acquire(&gm_heap.lock);
	gm_heap.limit = m.Sys - m.HeapReleased - (m.HeapIdle - m.HeapReleased) + ((uint64_t)8 << 20);
	/* As the API sets it: the scavenger's cgroup poll (every 500 ms) must
	 * not put the cgroup's limit back while the test runs. */
	gm_heap.limit_source = GOMEM_LIMIT_API;
	gm_lock_release(&gm_heap.lock);
	/* The next allocation from the heap scavenges (2 MiB: the thread's
	 * large cache holds the last 1 MiB block, and a block from there
	 * takes nothing from the heap). */
	gm_free(gm_malloc(2 << 20));
	gm_read_memstats(&m);
	ck_assert_msg(m.HeapSys - m.HeapReleased <= gm_heap.limit,
		      "retained %llu over limit %llu",
		      (unsigned long long)(m.HeapSys - m.HeapReleased),
		      (unsigned long long)gm_heap.limit);
	ck_identities(&m);
}
END_TEST

static _Atomic int stop;

static void *
churn(void *arg)
{
	unsigned x = (unsigned)(uintptr_t)arg;
	void *v[64] = { 0 };

	while (!atomic_load(&stop)) {
		unsigned i = (x = x * 1103515245 + 12345) % 64;

		gm_free(v[i]);
		size_t n = 1 + (x >> 4) % 300000;

		v[i] = gm_malloc(n);
		if (v[i])
			memset(v[i], 2, n < 64 ? n : 64);
	}
	for (int i = 0; i < 64; i++)
		gm_free(v[i]);
	return NULL;
}

START_TEST(identities_while_scavenging)
{
	pthread_t t[2];
	struct gomem_memstats m;

	gm_opt.scavenge = true;
	atomic_store(&stop, 0);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 7));
	for (int k = 0; k < 300; k++) {
		gm_read_memstats(&m);
		ck_identities(&m);
		if (k % 50 == 0)
			gm_mheap_scavenge(SIZE_MAX, true); /* race the allocators */
		usleep(1000);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_heap_ok();
	ck_assert_uint_gt(gm_scav.released_total, 0);
}
END_TEST

START_TEST(fork_while_scavenging)
{
	pthread_t t[2];
	int status;
	pid_t pid;

	atomic_store(&stop, 0);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 3));
	for (int k = 0; k < 20; k++) {
		usleep(2000);
		pid = fork();
		if (pid == 0) {
			struct gomem_memstats m;
			void *v[1000];

			/* The child allocates, frees, and gets a new scavenger. */
			for (int i = 0; i < 1000; i++)
				v[i] = gm_malloc(1000 + i * 100);
			for (int i = 0; i < 1000; i++)
				gm_free(v[i]);
			gm_read_memstats(&m);
			if (m.HeapObjects > 100000 || m.HeapInuse < m.HeapAlloc || !gm_scav.started)
				_exit(2);
			if (gm_mheap_check((char[64]){ 0 }, 64) != 0)
				_exit(3);
			_exit(0);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d",
			      status);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}
END_TEST

/*
 * 200 one-page ranges, every other page of a mapping, through one batch
 * (more than GM_UNUSED_BATCH: it flushes when full): those pages read as
 * zero after the flush, their neighbours keep their bytes.
 */
static int batch_roundtrip(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char *m = mmap(NULL, (size_t)pg * 400, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	gm_unused_batch b;

	if (m == MAP_FAILED)
		return 1;
	memset(m, 0xab, (size_t)pg * 400);
	b.n = 0;
	for (int i = 1; i < 400; i += 2)
		gm_unused_add(&b, m + (size_t)i * pg, (size_t)pg);
	gm_unused_flush(&b);
	if (b.n != 0)
		return 2;
	for (int i = 0; i < 400; i++) {
		unsigned char want = i % 2 ? 0 : 0xab;

		for (long j = 0; j < pg; j += 512)
			if (m[(size_t)i * pg + (size_t)j] != want)
				return 3;
	}
	munmap(m, (size_t)pg * 400);
	return 0;
}

/*
 * GOMEMDEBUG=scavdelay: the thread starts lazily, from a slow path, once the
 * delay is over; not from a vfork child, which shares our memory but is
 * another process: its thread would die at its exec, and the flag it set
 * would keep ours from ever starting.
 */
static volatile int vfork_shared;

START_TEST(lazy_start_not_from_a_vfork_child)
{
	pid_t c;
	int st;

	gm_test_fork_settle();
	(void)gm_scav_pause();
	gm_scav_resume(false); /* the thread is gone, and not started again */
	ck_assert(!atomic_load(&gm_scav.started));
	gm_opt.scav_delay_ns = 0;
	gm_scav_born(); /* the delay is over at once */
	vfork_shared = 0;
	c = vfork();
	if (c == 0) {
		vfork_shared = 1;
		gm_scav_start_lazy();
		_exit(atomic_load(&gm_scav.started) ? 1 : 0);
	}
	ck_assert_int_eq(waitpid(c, &st, 0), c);
	/* ThreadSanitizer makes vfork a fork: then the child is a process of
	 * its own, whose fork handler let it start a thread of its own. */
	if (vfork_shared)
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "the vfork child started a thread");
	else
		ck_assert(WIFEXITED(st));
	ck_assert(!atomic_load(&gm_scav.started));
	gm_scav_start_lazy();
	ck_assert(atomic_load(&gm_scav.started));
	ck_assert_int_eq(gm_scav.pid, getpid());
}
END_TEST

/*
 * A forked child's delay counts from its first slow path, not from the
 * fork (its handler reads no clock), and the child may start a thread of
 * its own: its handler made the process its own (born_pid).
 */
START_TEST(fork_child_delay_from_first_slow_path)
{
	const uint64_t delay = (uint64_t)3600 * 1000000000u;
	uint64_t mine;
	pid_t c;
	int st;

	gm_test_fork_settle();
	gm_opt.scav_delay_ns = delay;
	mine = atomic_load(&gm_scav.not_before);
	c = fork();
	ck_assert_int_ge(c, 0);
	if (c == 0) {
		uint64_t t0, t1, nb;

		if (atomic_load(&gm_scav.not_before) != GM_SCAV_FROM_NEXT)
			_exit(1);
		if (atomic_load(&gm_scav.started) || gm_scav.born_pid != getpid())
			_exit(2);
		t0 = gm_nanotime();
		gm_scav_start_lazy();
		t1 = gm_nanotime();
		nb = atomic_load(&gm_scav.not_before);
		if (nb < t0 + delay || nb > t1 + delay)
			_exit(3);
		/* The delay is over: the next slow path starts the thread. */
		atomic_store(&gm_scav.not_before, 0);
		gm_scav_start_lazy();
		_exit(atomic_load(&gm_scav.started) && gm_scav.pid == getpid() ? 0 : 4);
	}
	ck_assert_int_eq(waitpid(c, &st, 0), c);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	/* The parent's own is untouched. */
	ck_assert_uint_eq(atomic_load(&gm_scav.not_before), mine);
}
END_TEST

START_TEST(unused_batch_releases_every_range)
{
	gm_unused_batching = false; /* a madvise a range */
	ck_assert_int_eq(batch_roundtrip(), 0);
	gm_unused_batching = true; /* as the scavenger thread */
	ck_assert_int_eq(batch_roundtrip(), 0);
	/* Again, with the way of calling the first flush settled on. */
	ck_assert_int_eq(batch_roundtrip(), 0);
}
END_TEST

/*
 * A program under a seccomp filter that kills it for process_madvise
 * (systemd's SystemCallFilter= without the call listed) still has its
 * ranges released: the filter is seen and each range gets a madvise.
 */
START_TEST(unused_batch_under_seccomp)
{
	int status;
	pid_t pid;

	gm_unused_batching = true;
	ck_assert_int_eq(batch_roundtrip(), 0); /* the parent settles the way first */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_madvise, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
			_exit(10);
		_exit(batch_roundtrip());
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
}
END_TEST

/*
 * Memory taken back soon after the scavenger released it raises the goal
 * (the hold); the hold decays when that stops; fresh memory does not count.
 */
START_TEST(hold_follows_reuse_of_released_memory)
{
	enum { N = 32, SZ = 1 << 20 };
	void *v[N];
	uint64_t hold, goal;

	gm_opt.scavenge = false; /* only these calls release */
	gm_scav_rotate(1000);	 /* whatever came before has decayed */
	gm_lock_acquire(&gm_heap.lock);
	hold = gm_heap.hold;
	gm_lock_release(&gm_heap.lock);
	ck_assert_uint_eq(hold, 0);

	/* Fresh memory, never released: no hold. */
	for (int i = 0; i < N; i++)
		memset(v[i] = gm_malloc(SZ), 1, SZ);
	gm_scav_rotate(1);
	gm_lock_acquire(&gm_heap.lock);
	ck_assert_uint_eq(gm_heap.hold, 0);
	gm_lock_release(&gm_heap.lock);

	/* Released, then taken back: held. */
	for (int i = 0; i < N; i++)
		gm_free(v[i]);
	gm_mheap_scavenge(SIZE_MAX, true);
	gm_scav_rotate(1);
	gm_lock_acquire(&gm_heap.lock);
	ck_assert_uint_eq(gm_heap.hold, 0); /* a freed spike: not taken back yet */
	gm_lock_release(&gm_heap.lock);
	for (int i = 0; i < N; i++)
		memset(v[i] = gm_malloc(SZ), 1, SZ);
	gm_scav_rotate(1);
	gm_lock_acquire(&gm_heap.lock);
	hold = gm_heap.hold;
	goal = gm_scav_goal_locked();
	gm_lock_release(&gm_heap.lock);
	ck_assert_uint_ge(hold, (uint64_t)N * SZ / 2);
	ck_assert_uint_ge(goal, hold);

	/* No more reuse: after 2.2 s' worth of half windows half is gone. */
	gm_scav_rotate(44);
	gm_lock_acquire(&gm_heap.lock);
	ck_assert_uint_le(gm_heap.hold, hold / 2 + hold / 20);
	ck_assert_uint_ge(gm_heap.hold, hold / 2 - hold / 20);
	gm_lock_release(&gm_heap.lock);
	for (int i = 0; i < N; i++)
		gm_free(v[i]);
	gm_opt.scavenge = true;
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("scavenge");
	TCase *tc = tcase_create("scavenger");

	gm_ensure_init();
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, free_os_memory_releases_all_idle);
	tcase_add_test(tc, limit_scavenges_synchronously);
	tcase_add_test(tc, identities_while_scavenging);
	tcase_add_test(tc, fork_while_scavenging);
	tcase_add_test(tc, unused_batch_releases_every_range);
	tcase_add_test(tc, hold_follows_reuse_of_released_memory);
	tcase_add_test(tc, unused_batch_under_seccomp);
	tcase_add_test(tc, lazy_start_not_from_a_vfork_child);
	tcase_add_test(tc, fork_child_delay_from_first_slow_path);
	tcase_add_test(tc, scav_times_bounded);
	tcase_add_test(tc, scavage_over_uptime_releases_nothing);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
