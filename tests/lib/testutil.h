/* testutil.h: helpers shared by the core unit tests. */
#ifndef GM_TESTUTIL_H
#define GM_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#include "../common/rss.h"
#include "../common/suite.h"

/*
 * Every fork in these tests (Check's per-test fork, expect_death, the fork
 * tests) first waits until a scavenger thread that is being created has
 * reached gm_scav_main.  The sanitizer runtimes of the Debian 12 compiler
 * (GCC 12's libasan) do not take their allocator's locks around fork
 * (LLVM added that in 2024), and a new thread's start-up allocates
 * through them (pthread_getattr_np's calloc): a fork at that moment left
 * the child with a locked size class, and its next allocation or its
 * exit-time leak check hung until Check's timeout.  Registered after the
 * library's handlers, so it runs before they take the library's locks.
 * Bounded: after 5 s the fork goes ahead.
 */
static void gm_test_fork_settle(void)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (atomic_load(&gm_scav.started) && gm_scav.pid == getpid() &&
	       !atomic_load(&gm_scav.running)) {
		sched_yield();
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 5)
			break;
	}
}

__attribute__((constructor)) static void gm_test_fork_settle_init(void)
{
	gm_ensure_init(); /* the library's fork handlers first */
	pthread_atfork(gm_test_fork_settle, NULL, NULL);
}

/* The heap invariants of mheap.c hold. */
#define ck_heap_ok()                                                                  \
	do {                                                                          \
		char why_[128];                                                       \
		int rc_ = gm_mheap_check(why_, sizeof(why_));                         \
		ck_assert_msg(rc_ == 0, "heap check: %s", why_);                      \
	} while (0)

/* Go's MemStats identities (go-allocator-facts.md §7). */
static inline void
ck_identities(const struct gomem_memstats *m)
{
	ck_assert_uint_eq(m->Alloc, m->HeapAlloc);
	ck_assert_uint_eq(m->HeapSys, m->HeapInuse + m->HeapIdle);
	ck_assert_uint_ge(m->HeapIdle, m->HeapReleased);
	ck_assert_uint_ge(m->HeapInuse, m->HeapAlloc);
	ck_assert_uint_eq(m->HeapObjects, m->Mallocs - m->Frees);
	ck_assert_uint_ge(m->Mallocs, m->Frees);
	ck_assert_uint_eq(m->Sys, m->HeapSys + m->StackSys + m->MSpanSys + m->MCacheSys +
					  m->BuckHashSys + m->GCSys + m->OtherSys);
	ck_assert_uint_le(m->MSpanInuse, m->MSpanSys);
	ck_assert_uint_le(m->MCacheInuse, m->MCacheSys);
	ck_assert_uint_le(m->StackInuse, m->StackSys);
	ck_assert_uint_ge(m->TotalAlloc, m->HeapAlloc);
	{
		unsigned long long s = 0;
		unsigned i;

		for (i = 0; i < GOMEM_NUM_BYSIZE; i++)
			s += m->BySize[i].Mallocs;
		ck_assert_uint_le(s, m->Mallocs);
	}
}

/*
 * Run fn(arg) in a child, which must abort with one line on stderr that
 * starts "gomem: " and contains expect.
 */
static inline void
expect_death(void (*fn)(void *), void *arg, const char *expect)
{
	int fds[2], status;
	char buf[512] = { 0 };
	ssize_t n, got = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], 2);
		fn(arg);
		_exit(0);
	}
	close(fds[1]);
	while ((n = read(fds[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	close(fds[0]);
	waitpid(pid, &status, 0);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "child did not abort");
	ck_assert_msg(strncmp(buf, "gomem: ", 7) == 0, "message: %s", buf);
	ck_assert_msg(strstr(buf, expect) != NULL, "message %s lacks %s", buf, expect);
	ck_assert_msg(strchr(buf, '\n') == buf + strlen(buf) - 1, "not one line: %s", buf);
}

#endif
