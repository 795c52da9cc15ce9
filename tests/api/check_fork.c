/*
 * check_fork.c: fork() from a multithreaded process leaves the child with a
 * working allocator.  Worker threads churn through every size range (so
 * allocator locks are likely held at the moment of fork) while the main
 * thread, or another thread, forks; the child allocates, frees blocks
 * inherited from threads that do not exist in it, starts threads of its own
 * and forks again.  A child that deadlocks is killed by alarm(2).
 */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "gomem.h"
#include "api_util.h"

#define CHILD_ALARM 20 /* seconds before a stuck child is killed */

struct tagged {
	size_t size;
	uint64_t seed;
};

static _Atomic int stop;

/* Blocks allocated by the workers before the fork, for the child to free. */
#define INHERIT 512
static pthread_mutex_t inherit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tagged *inherit[INHERIT];

static struct tagged *tagged_new(size_t n, uint64_t seed)
{
	struct tagged *t = malloc(sizeof(*t) + n);

	if (t == NULL)
		return NULL;
	t->size = n;
	t->seed = seed;
	pattern_fill(t + 1, n, seed);
	return t;
}

static int tagged_ok(const struct tagged *t)
{
	return t == NULL || pattern_check(t + 1, t->size, t->seed) == (size_t)-1;
}

static void *worker(void *arg)
{
	uint64_t s = (uint64_t)(uintptr_t)arg * 977 + 3;
	void *local[64] = {0};

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		size_t k = (size_t)rng_next(&s) % 64, n;
		uint64_t r = rng_next(&s) % 100;

		free(local[k]);
		if (r < 80)
			n = rng_range(&s, 0, 512);
		else if (r < 99)
			n = rng_range(&s, 513, 40000);
		else
			n = rng_range(&s, 40001, 2 << 20);
		local[k] = (r & 1) ? malloc(n) : calloc(1, n);
		if (local[k] == NULL)
			abort();
		memset(local[k], (int)r, n < 256 ? n : 256);
		if (r < 10) { /* hand a block to the shared pool; the child frees these */
			size_t j = (size_t)rng_next(&s) % INHERIT;
			struct tagged *t = tagged_new(rng_range(&s, 0, 3000), s), *old;

			if (t == NULL)
				abort();
			pthread_mutex_lock(&inherit_lock);
			old = inherit[j];
			inherit[j] = t;
			pthread_mutex_unlock(&inherit_lock);
			free(old);
		}
	}
	for (size_t k = 0; k < 64; k++)
		free(local[k]);
	return NULL;
}

static void *child_thread(void *arg)
{
	void **slot = arg;
	uint64_t s = 12345;
	int i;

	for (i = 0; i < 5000; i++) {
		void *p = malloc(rng_range(&s, 1, 2000));
		if (p == NULL)
			return (void *)1;
		free(p);
	}
	/* Leave one block for the other thread of the child to free. */
	*slot = tagged_new(777, 99);
	return NULL;
}

/*
 * What a child does.  Returns an exit code: 0 on success, the step that
 * failed otherwise.  Only _exit, no stdio, no Check.
 */
static int child_work(int depth)
{
	uint64_t s = (uint64_t)getpid();
	struct tagged *mine[256];
	void *slot[2] = {0};
	pthread_t t[2];
	size_t i;
	int st;

	signal(SIGALRM, SIG_DFL); /* not Check's handler: see run_bounded */
	alarm(CHILD_ALARM);
	/* 1: blocks inherited from threads that do not exist here. */
	pthread_mutex_lock(&inherit_lock);
	for (i = 0; i < INHERIT; i++) {
		if (!tagged_ok(inherit[i]))
			return 1;
		if (i % 2 == 0) {
			free(inherit[i]);
			inherit[i] = NULL;
		}
	}
	pthread_mutex_unlock(&inherit_lock);
	/* 2: all size ranges still allocate and keep their contents. */
	for (i = 0; i < 256; i++) {
		size_t n = i % 32 == 0 ? rng_range(&s, 40000, 600000) : rng_range(&s, 0, 4000);
		mine[i] = tagged_new(n, i);
		if (mine[i] == NULL)
			return 2;
	}
	for (i = 0; i < 256; i++) {
		if (!tagged_ok(mine[i]))
			return 3;
		free(mine[i]);
	}
	{
		unsigned char *z = calloc(1, 100000);
		void *a = NULL;
		if (z == NULL || zero_check(z, 100000) != (size_t)-1)
			return 4;
		free(z);
		if (posix_memalign(&a, 4096, 10000) != 0 || !is_aligned(a, 4096))
			return 5;
		a = realloc(a, 200000);
		if (a == NULL)
			return 5;
		free(a);
	}
	/* 10: returning memory to the OS works in the child, and memory comes back. */
	gomem_free_os_memory();
	{
		struct tagged *t = tagged_new(1 << 20, 10);
		if (t == NULL || !tagged_ok(t))
			return 10;
		free(t);
	}
	/* 6: threads in the child, freeing each other's blocks. */
	for (i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, child_thread, &slot[i]) != 0)
			return 6;
	for (i = 0; i < 2; i++) {
		void *rv;
		pthread_join(t[i], &rv);
		if (rv != NULL)
			return 7;
	}
	for (i = 0; i < 2; i++) {
		if (!tagged_ok(slot[i]))
			return 8;
		free(slot[i]);
	}
	/* 9: and fork again from here. */
	if (depth > 0) {
		pid_t pid;

		pthread_mutex_lock(&inherit_lock);
		pid = fork();
		pthread_mutex_unlock(&inherit_lock);
		if (pid < 0)
			return 9;
		if (pid == 0)
			_exit(child_work(depth - 1));
		if (waitpid(pid, &st, 0) != pid)
			return 9;
		if (!WIFEXITED(st))
			return 100 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
		if (WEXITSTATUS(st) != 0)
			return WEXITSTATUS(st) >= 50 ? WEXITSTATUS(st) : 50 + WEXITSTATUS(st);
	}
	return 0;
}

static const char *child_status(int st, char *buf, size_t len)
{
	if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d%s", WTERMSIG(st),
			 WTERMSIG(st) == SIGALRM ? " (deadlock: alarm fired)" : "");
	else if (WEXITSTATUS(st) >= 100)
		snprintf(buf, len, "grandchild killed by signal %d", WEXITSTATUS(st) - 100);
	else if (WEXITSTATUS(st) >= 50)
		snprintf(buf, len, "grandchild failed step %d", WEXITSTATUS(st) - 50);
	else
		snprintf(buf, len, "failed step %d (see child_work)", WEXITSTATUS(st));
	return buf;
}

static void fork_rounds(int rounds, int depth)
{
	int i;

	for (i = 0; i < rounds; i++) {
		pid_t pid;
		int st;
		char why[128];

		usleep(2000); /* let the workers get busy again */
		/* Our own lock must not be held by a vanished worker in the child. */
		pthread_mutex_lock(&inherit_lock);
		pid = fork();
		pthread_mutex_unlock(&inherit_lock);
		ck_assert_int_ne(pid, -1);
		if (pid == 0)
			_exit(child_work(depth));
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork round %d: child %s", i,
			      child_status(st, why, sizeof(why)));
	}
}

static pthread_t workers[3];

static void start_workers(void)
{
	size_t i;

	atomic_store(&stop, 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(
		    pthread_create(&workers[i], NULL, worker, (void *)(uintptr_t)(i + 1)), 0);
	usleep(20000);
}

static void stop_workers(void)
{
	size_t i;

	atomic_store(&stop, 1);
	for (i = 0; i < 3; i++)
		pthread_join(workers[i], NULL);
	for (i = 0; i < INHERIT; i++) {
		ck_assert(tagged_ok(inherit[i]));
		free(inherit[i]);
		inherit[i] = NULL;
	}
}

START_TEST(test_fork_busy_threads)
{
	start_workers();
	fork_rounds(16, 1);
	stop_workers();
}
END_TEST

static void *forking_thread(void *arg __attribute__((unused)))
{
	fork_rounds(8, 1);
	return NULL;
}

START_TEST(test_fork_from_other_thread)
{
	pthread_t t;

	start_workers();
	ck_assert_int_eq(pthread_create(&t, NULL, forking_thread, NULL), 0);
	pthread_join(t, NULL);
	stop_workers();
}
END_TEST

/* The parent keeps working after all those forks, and so do its blocks. */
START_TEST(test_parent_after_fork)
{
	struct tagged *keep[100];
	size_t i;

	for (i = 0; i < 100; i++)
		keep[i] = tagged_new(i * 331, i);
	start_workers();
	fork_rounds(6, 0);
	stop_workers();
	for (i = 0; i < 100; i++) {
		ck_assert(tagged_ok(keep[i]));
		free(keep[i]);
	}
}
END_TEST

/*
 * What a fork costs the child does not grow with the parent's threads: the
 * library leaves their caches for the child's first slow path, so a child
 * that exits (or execs) at once writes none of their pages.  Folding them
 * at fork wrote 60-70 pages a thread.  glibc's own fork adds about two
 * faults a thread (its list of thread stacks).
 */
static pthread_barrier_t idle_gate;

static void *idle_with_lists(void *arg)
{
	void *v[400];
	uint64_t s = (uint64_t)(uintptr_t)arg;

	for (int i = 0; i < 400; i++)
		v[i] = malloc(rng_range(&s, 1, 2000));
	for (int i = 0; i < 400; i += 2)
		free(v[i]);
	pthread_barrier_wait(&idle_gate);
	pthread_barrier_wait(&idle_gate);
	for (int i = 1; i < 400; i += 2)
		free(v[i]);
	return NULL;
}

/* The child's page faults up to its first line, median of 5 forks, with n
 * threads alive that allocated and freed. */
static long child_faults(int n)
{
	pthread_t t[32];
	long f[5];
	int i;

	pthread_barrier_init(&idle_gate, NULL, (unsigned)n + 1);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, idle_with_lists, (void *)(uintptr_t)(i + 3)), 0);
	pthread_barrier_wait(&idle_gate);
	for (i = 0; i < 5; i++) {
		int p[2], st;
		pid_t pid;

		ck_assert_int_eq(pipe(p), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			struct rusage ru;

			getrusage(RUSAGE_SELF, &ru);
			_exit(write(p[1], &ru.ru_minflt, sizeof(ru.ru_minflt)) ==
				      (ssize_t)sizeof(ru.ru_minflt) ? 0 : 1);
		}
		ck_assert_int_eq(read(p[0], &f[i], sizeof(f[i])), (ssize_t)sizeof(f[i]));
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		close(p[0]);
		close(p[1]);
	}
	pthread_barrier_wait(&idle_gate);
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&idle_gate);
	for (i = 1; i < 5; i++) /* insertion sort: the median */
		for (int j = i; j > 0 && f[j - 1] > f[j]; j--) {
			long x = f[j];
			f[j] = f[j - 1];
			f[j - 1] = x;
		}
	return f[2];
}

START_TEST(test_fork_cost_flat_in_threads)
{
	long one = child_faults(1), many = child_faults(17);

	ck_assert_msg(many - one < 16 * 8,
		      "a child's faults grow by %.1f a thread (1 thread: %ld, 17: %ld)",
		      (double)(many - one) / 16, one, many);
}
END_TEST

/* Threads of this process named gomem-scav, waiting up to 2 s for one. */
static int scav_threads(void)
{
	for (int tries = 0; tries < 200; tries++) {
		DIR *d = opendir("/proc/self/task");
		struct dirent *e;
		int n = 0;

		ck_assert_ptr_nonnull(d);
		while ((e = readdir(d)) != NULL) {
			char path[64], comm[32] = "";
			FILE *f;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
			f = fopen(path, "r");
			if (f == NULL)
				continue;
			if (fgets(comm, sizeof(comm), f) != NULL && strcmp(comm, "gomem-scav\n") == 0)
				n++;
			fclose(f);
		}
		closedir(d);
		if (n != 0)
			return n;
		usleep(10000);
	}
	return 0;
}

/*
 * A vfork child that changes its ids (through libgomem's setgid wrapper,
 * which stops and restarts the scavenger in a normal process) leaves the
 * parent's scavenger alone: the child shares the parent's memory, and a
 * thread it started would die with it.
 */
START_TEST(test_vfork_child_sets_ids)
{
	int status;
	pid_t pid;

	free(malloc(1 << 20)); /* a forked test process starts its scavenger */
	ck_assert_int_eq(scav_threads(), 1);
	pid = vfork();
	if (pid == 0) {
		if (setgid(getgid()) != 0)
			_exit(2);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(scav_threads(), 1);
	/* And in this process the wrapper stops and restarts it. */
	ck_assert_int_eq(setgid(getgid()), 0);
	ck_assert_int_eq(scav_threads(), 1);
}
END_TEST

/*
 * Run fn in a process of its own for a bounded time: it must exit 0, not
 * hang (a deadlock ends in SIGALRM after CHILD_ALARM seconds).
 */
static void run_bounded(int (*fn)(void), const char *what)
{
	int status;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Check's own SIGALRM handler, inherited, would kill the whole
		 * test's process group and hide that this was a hang. */
		signal(SIGALRM, SIG_DFL);
		alarm(CHILD_ALARM);
		_exit(fn());
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(!WIFSIGNALED(status), "%s: killed by signal %d (%s)", what, WTERMSIG(status),
		      WTERMSIG(status) == SIGALRM ? "stuck" : "crashed");
	ck_assert_msg(WEXITSTATUS(status) == 0, "%s: exit status %d", what, WEXITSTATUS(status));
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static volatile sig_atomic_t handler_forks, handler_bad;
static int handler_ack = -1;

/* Fork a child that exits at once, and reap it: from a signal handler. */
static void fork_in_handler(int sig __attribute__((unused)))
{
	int e = errno, st;
	pid_t p = fork();

	if (p == 0)
		_exit(7);
	if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
		handler_bad = 1;
	handler_forks++;
	/* Fails only once the sender is gone (SIGPIPE is ignored). */
	if (write(handler_ack, "", 1) != 1 && errno != EPIPE)
		handler_bad = 1;
	errno = e;
}

static int sigfork_work(void)
{
	struct sigaction sa;
	sigset_t usr1, old;
	void *slot[64] = {0};
	uint64_t seed = 5;
	pid_t parent = getpid(), sender;
	double end;
	int i, ack[2];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fork_in_handler;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (pipe(ack) != 0)
		return 2;
	handler_ack = ack[1];
	/*
	 * No signal until this fork has returned.  A process that has ever had
	 * two threads (this one had: it is a fork of one with the scavenger)
	 * takes glibc's atfork lock in fork, so a handler that forks inside
	 * another fork waits for ever (glibc's tst-mallocfork says so; with
	 * glibc's malloc such a process hangs sooner, on its arena's lock).
	 * Without the mask the sender's first signal hung this test about 1
	 * run in 30.
	 */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &old);
	sender = fork();
	if (sender == 0) {
		char c;

		/*
		 * A signal, then wait for the handler's byte, then 1 ms: never
		 * more than one signal outstanding.  A fork and its wait take
		 * 0.8-2 ms here, so a signal each 1 ms regardless left the
		 * program running handler after handler and never its loop.
		 */
		close(ack[1]);
		while (kill(parent, SIGUSR1) == 0 && read(ack[0], &c, 1) == 1)
			usleep(1000);
		_exit(0);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(ack[0]);
	if (sender < 0)
		return 2;
	/* Large and mid-sized blocks: the page heap's lock and the classes'
	 * locks are held much of the time the signals land. */
	end = now_s() + 1.5;
	while (now_s() < end)
		for (i = 0; i < 100; i++) {
			size_t j = rng_range(&seed, 0, 63);

			size_t n = rng_range(&seed, 0, 70000);

			free(slot[j]);
			slot[j] = malloc(n);
			if (slot[j] == NULL)
				return 3;
			memset(slot[j], 1, n < 16 ? n : 16);
		}
	kill(sender, SIGKILL);
	waitpid(sender, NULL, 0);
	for (i = 0; i < 64; i++)
		free(slot[i]);
	if (handler_bad)
		return 4;
	/* At a signal each 2-4 ms, fewer than 20 means the test did not run. */
	return handler_forks >= 20 ? 0 : 5;
}

/*
 * fork from a signal handler that interrupted malloc or free (glibc allows
 * it in a process of one thread; its tst-mallocfork2): the fork handlers
 * must not wait for a lock the interrupted code holds.  Before they skipped
 * such locks, 5 runs in 6 of this (3 s) hung.
 */
START_TEST(test_fork_in_signal_handler)
{
	run_bounded(sigfork_work, "fork in a signal handler");
}
END_TEST

static _Atomic int stdio_stop;
static char stdio_path[64];

static void *stdio_forker(void *arg __attribute__((unused)))
{
	while (!atomic_load(&stdio_stop)) {
		int st;
		pid_t p = fork();

		if (p == 0)
			_exit(17);
		if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 17)
			return (void *)1;
	}
	return NULL;
}

static void *stdio_reader(void *arg __attribute__((unused)))
{
	FILE *f = fopen(stdio_path, "r");

	if (f == NULL)
		return (void *)1;
	while (!atomic_load(&stdio_stop)) {
		char *line = NULL;
		size_t cap = 0;

		rewind(f);
		if (getline(&line, &cap, f) < 0)
			return (void *)1;
		free(line);
	}
	fclose(f);
	return NULL;
}

static void *stdio_flusher(void *arg __attribute__((unused)))
{
	while (!atomic_load(&stdio_stop))
		if (fflush(NULL) != 0)
			return (void *)1;
	return NULL;
}

static int stdio_fork_work(void)
{
	void *(*fn[])(void *) = {stdio_forker, stdio_forker, stdio_reader, stdio_reader,
				 stdio_reader, stdio_reader, stdio_flusher};
	pthread_t t[sizeof(fn) / sizeof(fn[0])];
	int fd, rc = 0;
	size_t i;
	FILE *f;

	snprintf(stdio_path, sizeof(stdio_path), "/tmp/gomem-forkio-XXXXXX");
	fd = mkstemp(stdio_path);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL)
		return 2;
	for (i = 0; i < 50000; i++)
		fputc('x', f);
	fputc('\n', f);
	fclose(f);
	for (i = 0; i < sizeof(fn) / sizeof(fn[0]); i++)
		if (pthread_create(&t[i], NULL, fn[i], NULL) != 0)
			return 3;
	usleep(1500000);
	atomic_store(&stdio_stop, 1);
	for (i = 0; i < sizeof(fn) / sizeof(fn[0]); i++) {
		void *r;

		pthread_join(t[i], &r);
		if (r != NULL)
			rc = 4;
	}
	unlink(stdio_path);
	return rc;
}

/*
 * fork beside stdio (glibc's bug 19431, its tst-malloc-fork-deadlock):
 * fflush(NULL) holds stdio's list lock and waits for a stream's lock,
 * whose holder (getline) waits for malloc.  glibc's fork takes the list
 * lock after the fork handlers, so the handlers take it first.  Without,
 * this hung in every run.
 */
START_TEST(test_fork_beside_stdio)
{
	run_bounded(stdio_fork_work, "fork beside stdio");
}
END_TEST

static volatile sig_atomic_t setgid_calls;

static void setgid_handler(int sig)
{
	int e = errno;

	(void)sig;
	if (setgid(getgid()) == 0)
		setgid_calls++;
	errno = e;
}

/*
 * setgid is async-signal-safe (POSIX): a handler may call it whatever it
 * interrupted.  Here it interrupts a thread waking the scavenger again and
 * again (gomem_set_memory_limit wakes it under the scavenger's own lock),
 * and the wrapper, which stops the scavenger around the id change, must
 * not wait for that lock: it did, for ever.  The child is given 20 s.
 */
START_TEST(test_setgid_from_signal_handler)
{
	int st = 0, waited;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct itimerval it = {{0, 300}, {0, 300}};
		struct sigaction sa;
		struct timespec t0, t;
		char *p = malloc(64 << 20);

		if (p == NULL)
			_exit(2);
		memset(p, 1, 64 << 20);
		free(p);
		if (scav_threads() == 0)
			_exit(4); /* nothing to stop: the test would prove nothing */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = setgid_handler;
		sa.sa_flags = SA_RESTART;
		sigaction(SIGALRM, &sa, NULL);
		setitimer(ITIMER_REAL, &it, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do {
			for (int i = 0; i < 1000; i++)
				gomem_set_memory_limit(INT64_MAX);
			clock_gettime(CLOCK_MONOTONIC, &t);
		} while (setgid_calls < 2000 && t.tv_sec - t0.tv_sec < 3);
		memset(&it, 0, sizeof(it));
		setitimer(ITIMER_REAL, &it, NULL);
		_exit(setgid_calls >= 100 ? 0 : 3);
	}
	for (waited = 0; waited < 2000; waited++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		usleep(10000);
	}
	if (waited == 2000) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		ck_abort_msg("a setgid in a signal handler deadlocked (20 s)");
	}
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "child: status %#x (exit 3: too few handler calls, 4: no scavenger)", st);
}
END_TEST

static atomic_bool releasing_stop;

/* Free a freshly written 16 MiB block and give it back, again and again:
 * the scavenger's batches are in flight (madvise, outside the heap's lock)
 * most of the time. */
static void *releasing_thread(void *arg __attribute__((unused)))
{
	while (!atomic_load(&releasing_stop)) {
		char *p = malloc(16 << 20);

		if (p == NULL)
			break;
		memset(p, 1, 16 << 20);
		free(p);
		gomem_free_os_memory();
	}
	return NULL;
}

/*
 * A fork while another thread is returning pages to the OS: the child's heap
 * must still hold those pages on its free lists, so that asking for
 * everything back leaves nothing idle and unreleased (Go's FreeOSMemory
 * reading: HeapIdle == HeapReleased after it).
 */
START_TEST(test_fork_during_release)
{
	pthread_t t;
	int i, bad = 0;
	unsigned long long worst = 0;

	atomic_store(&releasing_stop, false);
	ck_assert_int_eq(pthread_create(&t, NULL, releasing_thread, NULL), 0);
	for (i = 0; i < 60; i++) {
		int st;
		pid_t pid;

		usleep(1000 + (i % 7) * 300);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			struct gomem_memstats m;
			uint64_t stuck;

			gomem_free_os_memory();
			gomem_read_memstats(&m);
			stuck = m.HeapIdle - m.HeapReleased;
			/* The idle bytes left, in MiB, as the exit status. */
			_exit(stuck >= (1 << 20) ? (int)(stuck >> 20 < 255 ? stuck >> 20 : 255) : 0);
		}
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert(WIFEXITED(st));
		if (WEXITSTATUS(st) != 0) {
			bad++;
			if ((unsigned long long)WEXITSTATUS(st) > worst)
				worst = WEXITSTATUS(st);
		}
	}
	atomic_store(&releasing_stop, true);
	pthread_join(t, NULL);
	ck_assert_msg(bad == 0,
		      "%d of 60 children kept idle memory they could not release (up to %llu MiB)",
		      bad, worst);
}
END_TEST

static Suite *fork_suite(void)
{
	Suite *s = suite_create("fork");
	TCase *tc = tcase_create("fork");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_fork_busy_threads);
	tcase_add_test(tc, test_fork_from_other_thread);
	tcase_add_test(tc, test_parent_after_fork);
	tcase_add_test(tc, test_vfork_child_sets_ids);
	tcase_add_test(tc, test_fork_in_signal_handler);
	tcase_add_test(tc, test_fork_beside_stdio);
	tcase_add_test(tc, test_fork_during_release);
	tcase_add_test(tc, test_setgid_from_signal_handler);
	tcase_add_test(tc, test_fork_cost_flat_in_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fork_suite());
	int failed;

	if (gomem_version() == NULL)
		return EXIT_FAILURE;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
