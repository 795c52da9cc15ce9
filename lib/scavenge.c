/*
 * scavenge.c: the background scavenger, which returns idle pages to the OS.
 *
 * Goals (after Go's mgcscavenge.go):
 *   - Keep retained heap memory (HeapSys - HeapReleased) near a goal of 10%
 *     over the in-use heap, or under 95% of the soft memory limit when one is
 *     set, whichever asks for more.  Above the limit's goal the scavenger
 *     works at its full pace and releases runs whatever their age (Go's
 *     memory-limit-based goal).  The limit comes from GOMEMLIMIT, the API,
 *     or the memory cgroup, which this thread re-reads every 500 ms
 *     (cgroup.c).
 *   - Release what stays idle, not what is about to be reused.  The in-use
 *     figure the goal is computed from is the peak over a short window
 *     (GOMEMDEBUG scavwindow, default 100 ms, rotated in two halves): a
 *     program that frees and reallocates big blocks in a loop keeps its peak,
 *     so its memory is not released and faulted back in on every turn, while
 *     a spike that was freed falls out of the window quickly.
 *   - Pace: Go's scavenger spends about 1% of one CPU, so a large freed spike
 *     takes many seconds to go back.  We spend 1% while the excess is small,
 *     a quarter of one CPU while it is large (over 16 MiB), and run without
 *     pause from when it is over 64 MiB (a freed spike) until it is down to
 *     16 MiB: the work is the same, done sooner, so a GiB-sized spike goes
 *     back within a second also when other threads keep every core busy.
 *   - Only runs idle for a while (GOMEMDEBUG scavage, 150 ms) are released:
 *     fragments a busy program reuses within milliseconds stay resident.
 *   - Release top down in 64 KiB units, whole 2 MiB huge pages when free,
 *     many runs in one system call where the kernel allows (mem_linux.c).
 *   - Be quiet when there is nothing to do: the thread sleeps on a condition
 *     variable; frees that leave much idle memory wake it.
 *
 * The same thread fires the gomem:memstats probe every stats interval while
 * a tracer holds its semaphore.
 *
 * The thread steps aside while the program changes its ids (setxid.c).
 * glibc changes ids in every thread of the process (each thread runs the
 * system call from a signal handler) and aborts the process when the call
 * fails in one of them.  A program that raises a capability on its own
 * thread only (capset acts on the calling thread: setpriv --reuid does it
 * after setuid with PR_SET_KEEPCAPS cleared every thread's effective set) and
 * then changes its gid would fail in this thread, which lacks the
 * capability.  This thread cannot be made immune: it cannot see another
 * thread's capset, and raising its own effective set on its own would give
 * back privileges the program dropped.  Starting the thread only when it has
 * work does not help either: a process started before gomemd and idle since
 * would never publish its MemStats.  So the id-changing functions stop and
 * join the thread, change the ids, and start a new one, which inherits the
 * caller's new ids and capabilities.
 */
#include "internal.h"
#include "probes.h"

#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static _Atomic int gm_scav_starting;
/* Nonzero while an id change has the thread stopped: no start then. */
static _Atomic int gm_scav_paused;
/* Serialises gm_scav_pause/gm_scav_resume (before gm_scav.lock). */
static pthread_mutex_t gm_scav_pause_lock = PTHREAD_MUTEX_INITIALIZER;

#define GM_SCAV_BIG		((uint64_t)16 << 20)
#define GM_SCAV_SPIKE		((uint64_t)64 << 20)
#define GM_SCAV_SLICE_NS	1000000u /* work in slices of about 1 ms */
#define GM_SCAV_PRESSED_NS	200000000u
/* Under memory pressure, a pass over every span's free pages at most this often. */
#define GM_SCAV_PARK_PRESSED_NS 1000000000u

/*
 * Retained-memory goal, with gm_heap.lock held: 10% over the in-use peak
 * plus the hold (below), or 95% of the soft memory limit if that is lower.
 */
uint64_t gm_scav_goal_locked(void)
{
	uint64_t peak = gm_heap.peak_cur > gm_heap.peak_prev ? gm_heap.peak_cur : gm_heap.peak_prev;
	uint64_t inuse = atomic_load_explicit(&gm_heap.inuse, memory_order_relaxed);
	uint64_t limit = atomic_load_explicit(&gm_heap.limit, memory_order_relaxed);
	uint64_t goal;

	if (inuse > peak)
		peak = inuse;
	goal = ((peak + peak / 10 + gm_heap.hold) + GM_PAGE_SIZE - 1) & ~(uint64_t)(GM_PAGE_SIZE - 1);
	if (limit != 0 && limit - limit / 20 < goal)
		goal = limit - limit / 20;
	return goal;
}

/*
 * Bytes the scavenger should release now; *pressed is set when retained
 * memory is over the memory limit's goal (work at full pace, no age rule).
 */
static uint64_t gm_scav_need(bool *pressed)
{
	uint64_t goal, limit, retained, need = 0;

	gm_lock_acquire(&gm_heap.lock);
	goal = gm_scav_goal_locked();
	limit = atomic_load_explicit(&gm_heap.limit, memory_order_relaxed);
	retained = gm_heap_retained();
	if (retained > goal)
		need = retained - goal;
	*pressed = limit != 0 && retained > limit - limit / 20;
	gm_lock_release(&gm_heap.lock);
	return need;
}

/*
 * The hold: memory a program takes back soon after the scavenger released it
 * was released for nothing, and each page of it costs a fault (3-4 us on a
 * VM) and a share of a TLB flush.  A program that frees and allocates blocks
 * of many MiB (mimalloc-bench's malloc-large: 5-25 MiB, 20 live) keeps free
 * runs between its blocks that the 10% over its peak does not cover; without
 * the hold the scavenger released 4.5 GB of its 0.5 GB heap in 17 s.  So
 * what was taken back of what was released lately is added to the goal, and
 * decays: half of it is gone after 2.2 s without such reuse (jemalloc's
 * decay is 10 s).  A freed spike is not taken back, so it still goes at once.
 * With gm_heap.lock held.
 */
#define GM_HOLD_DECAY	 64 /* the hold loses 1/64 a half window (50 ms) */
#define GM_RECENT_DECAY	 16 /* "released lately" loses 1/16 a half window */

static uint64_t gm_scav_recent;	  /* released lately (decays), not yet taken back */
static uint64_t gm_scav_reused_seen, gm_scav_released_seen;

static void gm_scav_hold_locked(unsigned halves)
{
	uint64_t reused = gm_heap.reused - gm_scav_reused_seen;
	uint64_t back, cap;

	gm_scav_reused_seen = gm_heap.reused;
	gm_scav_recent += gm_scav.released_total - gm_scav_released_seen;
	gm_scav_released_seen = gm_scav.released_total;
	back = reused < gm_scav_recent ? reused : gm_scav_recent;
	gm_scav_recent -= back;
	for (unsigned i = 0; i < halves && (gm_heap.hold | gm_scav_recent) != 0; i++) {
		/* Rounded up, so that both reach 0. */
		gm_heap.hold -= (gm_heap.hold + GM_HOLD_DECAY - 1) / GM_HOLD_DECAY;
		gm_scav_recent -= (gm_scav_recent + GM_RECENT_DECAY - 1) / GM_RECENT_DECAY;
	}
	gm_heap.hold += back;
	/* At most the peak again: twice the in-use heap, Go's GOGC=100 goal. */
	cap = gm_heap.peak_cur > gm_heap.peak_prev ? gm_heap.peak_cur : gm_heap.peak_prev;
	if (gm_heap.hold > cap)
		gm_heap.hold = cap;
}

/* Start a new window of the in-use peak, halves half windows after the last. */
void gm_scav_rotate(unsigned halves)
{
	gm_lock_acquire(&gm_heap.lock);
	gm_scav_hold_locked(halves);
	gm_heap.peak_prev = gm_heap.peak_cur;
	gm_heap.peak_cur = atomic_load_explicit(&gm_heap.inuse, memory_order_relaxed);
	gm_lock_release(&gm_heap.lock);
}

/* Print one scavtrace line, in the shape of Go's. */
static void gm_scav_trace(uint64_t released, uint64_t ns)
{
	char buf[160], num[24];
	uint64_t inuse = atomic_load(&gm_heap.inuse);
	uint64_t retained = gm_heap_retained();

	buf[0] = 0;
	strcat(buf, "scav ");
	gm_fmt_u64(num, released >> 10);
	strcat(buf, num);
	strcat(buf, " KiB work (bg), ");
	gm_fmt_u64(num, atomic_load(&gm_heap.released) >> 10);
	strcat(buf, num);
	strcat(buf, " KiB now, ");
	gm_fmt_u64(num, retained ? inuse * 100 / retained : 100);
	strcat(buf, num);
	strcat(buf, "% util, ");
	gm_fmt_u64(num, ns / 1000);
	strcat(buf, num);
	strcat(buf, " us\n");
	gm_write_str(2, buf);
}

/*
 * Count a slice of work that began at thread CPU time t0 and released
 * bytes; parked bytes (inside spans) are not yet in released_total.
 * Returns the CPU time spent.
 */
static uint64_t gm_scav_account(uint64_t t0, uint64_t bytes, bool parked)
{
	uint64_t worked = gm_thread_cpu_ns() - t0;

	gm_lock_acquire(&gm_heap.lock);
	gm_scav.cpu_ns += worked;
	if (parked)
		gm_scav.released_total += bytes;
	if (bytes != 0)
		gm_scav.cycles++;
	gm_lock_release(&gm_heap.lock);
	if (bytes != 0 && gm_opt.scavtrace)
		gm_scav_trace(bytes, worked);
	return worked;
}

/*
 * Is the scavenger the process's last live thread?  A program may end its
 * main thread with pthread_exit and leave the process to the others: glibc
 * ends the process (exit(0)) when the last of them returns.  The scavenger
 * must not be that last thread, or the process would never end, and, as it
 * blocks every signal, would not end on SIGTERM either.  /proc/self/stat
 * gives the main thread's state and the live threads, the main thread
 * counted until the whole process is gone: the scavenger is alone when the
 * main thread is a zombie and there are two.  False if it cannot tell.
 */
static bool gm_scav_alone(void)
{
	char buf[1024], *p;
	int field;

	if (gm_read_small("/proc/self/stat", buf, sizeof(buf)) <= 0)
		return false;
	/* "pid (comm) state ppid ...": comm may hold spaces and ')'. */
	p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ' || (p[2] != 'Z' && p[2] != 'X'))
		return false;
	/* num_threads is field 20; the state, at p + 2, is field 3. */
	for (field = 3, p += 2; field < 20 && *p != 0; p++)
		if (*p == ' ')
			field++;
	return field == 20 && p[0] == '2' && p[1] == ' ';
}

static void *gm_scav_main(void *arg)
{
	uint64_t now = gm_nanotime();
	uint64_t half = gm_opt.release_delay_ns / 2 ? gm_opt.release_delay_ns / 2 : 1;
	uint64_t next_rotate = now + half, next_pub = now, next_cgroup = now + GM_CGROUP_POLL_NS;
	uint64_t next_trim = now + GM_TC_IDLE_NS, next_alone = now + GM_SCAV_ALONE_NS;
	/* The cgroup is looked for GM_CGROUP_FIRST_NS after start: reading
	 * /proc/self/mountinfo and the limit files takes 0.15-0.2 ms, which a
	 * short process (most of what a shell runs) would pay for nothing. */
	uint64_t cgroup_first = now + GM_CGROUP_FIRST_NS;
	unsigned park_next = 0; /* next class whose spans get their free OS pages released */
	uint64_t last_park = 0; /* when the last pass over the classes began */
	/* Releasing a freed spike: from an excess over GM_SCAV_SPIKE down to
	 * GM_SCAV_BIG, at full pace and with no age rule. */
	bool spiking = false;

	(void)arg;
	atomic_store(&gm_scav.running, true);
	prctl(PR_SET_NAME, "gomem-scav", 0, 0, 0);
	gm_unused_batching = true;
	for (;;) {
		uint64_t need, sleep_ns = 1000000000u;
		bool pressed = false, runs_done;
		struct timespec ts;

		now = gm_nanotime();
		if (now >= next_alone) {
			/* The program's threads are all gone: leave, and glibc
			 * ends the process as it would have without us. */
			if (gm_scav_alone())
				break;
			next_alone = now + GM_SCAV_ALONE_NS;
		}
		if (now >= next_rotate) {
			uint64_t halves = (now - next_rotate) / half + 1;

			gm_scav_rotate(halves < 1000 ? (unsigned)halves : 1000);
			next_rotate = now + half;
		}
		if (now >= next_trim) {
			/* Idle classes' transfer caches down to their idle bound;
			 * exited threads' caches nobody took since the last tick. */
			gm_mcentral_trim_idle();
			gm_mcache_orphans_release(now - GM_ORPHAN_NS);
			next_trim = now + GM_TC_IDLE_NS;
		}
		if (next_trim - now < sleep_ns)
			sleep_ns = next_trim - now;
		gm_mstats_announce();
		if (GM_PROBE_ENABLED(memstats)) {
			if (now >= next_pub) {
				gm_mstats_publish();
				next_pub = now + gm_opt.stats_interval_ns;
			}
			if (next_pub - now < sleep_ns)
				sleep_ns = next_pub - now;
		}
		if (now < cgroup_first) {
			if (cgroup_first - now < sleep_ns)
				sleep_ns = cgroup_first - now;
		} else if (gm_cgroup_following()) {
			/* Follow the cgroup's limit: one small file read per level. */
			if (now >= next_cgroup) {
				gm_cgroup_poll();
				next_cgroup = now + GM_CGROUP_POLL_NS;
			}
			if (next_cgroup - now < sleep_ns)
				sleep_ns = next_cgroup - now;
		}
		need = gm_opt.scavenge ? gm_scav_need(&pressed) : 0;
		runs_done = need < GM_SCAV_QUANTUM;
		if (need >= GM_SCAV_QUANTUM) {
			uint64_t t0 = gm_thread_cpu_ns(), released = 0, worked;

			/* A huge excess is a freed spike, not fragments about to be
			 * reused (the peak window already keeps those); near the
			 * memory limit the memory is needed: no age rule. */
			bool spike;

			if (need >= GM_SCAV_SPIKE)
				spiking = true;
			else if (need <= GM_SCAV_BIG)
				spiking = false;
			spike = spiking || pressed;

			/* The objects held whole in the transfer caches keep
			 * their spans from the heap: they go back first. */
			if (spike) {
				gm_mcache_orphans_release(UINT64_MAX);
				gm_mcentral_drain_all();
				gm_lcache_drain_all();
			}

			do {
				/* A call releases its runs in one batch (mheap.c):
				 * a spike's at most 16 MiB, else 2 MiB, between
				 * looks at the clock. */
				uint64_t want = need - released, most = (uint64_t)(spike ? 16 : 2) << 20;
				size_t r = gm_mheap_scavenge(want < most ? want : most, spike);

				if (r == 0) {
					runs_done = true;
					break;
				}
				released += r;
			} while (released < need && gm_thread_cpu_ns() - t0 < GM_SCAV_SLICE_NS);
			worked = gm_scav_account(t0, released, false);
			/* After a spike, or short of memory: the pages inside
			 * spans come next, once the free runs are done or a
			 * spike's are down to GM_SCAV_BIG. */
			if (park_next == 0 && ((spike && released != 0) ||
					       (pressed && runs_done &&
						now - last_park >= GM_SCAV_PARK_PRESSED_NS))) {
				park_next = 1;
				last_park = now;
			}
			if (released != 0) {
				/* A freed spike goes back at full speed, down to
				 * GM_SCAV_BIG (the same work, done sooner: a busy
				 * machine must not stretch it past a second), a big
				 * excess or memory pressure at a quarter of a CPU, the
				 * rest at 1%. */
				uint64_t left = need - released, s;

				if (spiking)
					s = 0;
				else if (left > GM_SCAV_BIG || pressed)
					s = 3 * worked;
				else
					s = 99 * worked;
				if (s < sleep_ns)
					sleep_ns = s;
			} else if (pressed) {
				/* Over the limit's goal with nothing idle: allocations
				 * scavenge synchronously; look again a little later. */
				if (GM_SCAV_PRESSED_NS < sleep_ns)
					sleep_ns = GM_SCAV_PRESSED_NS;
			} else if (gm_opt.scav_age_ns / 3 < sleep_ns) {
				/* What is over the goal is still young: look again soon. */
				sleep_ns = gm_opt.scav_age_ns / 3;
			}
		} else {
			/* Idle memory that is only held by the window: look again then. */
			uint64_t idle = atomic_load(&gm_heap.idle) - atomic_load(&gm_heap.released);

			spiking = false;

			if (gm_opt.scavenge && idle >= GM_SCAV_QUANTUM &&
			    next_rotate - now < sleep_ns)
				sleep_ns = next_rotate - now;
		}
		if (park_next != 0 && (runs_done || !spiking) && gm_opt.scavenge) {
			/* Park the free OS pages inside spans, a class at a time,
			 * at full pace (this follows a spike or memory pressure). */
			uint64_t t0 = gm_thread_cpu_ns();
			size_t parked = 0;

			do
				gm_mcentral_scavenge_class(park_next++, &parked);
			while (park_next < GM_NUM_CLASSES &&
			       gm_thread_cpu_ns() - t0 < GM_SCAV_SLICE_NS);
			if (park_next >= GM_NUM_CLASSES)
				park_next = 0;
			else
				sleep_ns = 0;
			gm_scav_account(t0, parked, true);
		}
		gm_mutex_lock(&gm_scav.lock);
		if (sleep_ns >= 100000000u)
			atomic_store(&gm_scav.dozing, true);
		if (!gm_scav.wake && !gm_scav.stop) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)(sleep_ns / 1000000000u);
			ts.tv_nsec += (long)(sleep_ns % 1000000000u);
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&gm_scav.cond, &gm_scav.lock, &ts);
		}
		gm_scav.wake = false;
		atomic_store(&gm_scav.dozing, false);
		if (gm_scav.stop) {
			gm_mutex_unlock(&gm_scav.lock);
			break;
		}
		gm_mutex_unlock(&gm_scav.lock);
	}
	atomic_store(&gm_scav.running, false);
	return NULL;
}

/* Start the scavenger thread once (again in a forked child). */
void gm_scav_start(void)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int expected = 0;

	if (!gm_opt.scavthread || gm_scav.started || atomic_load(&gm_scav_paused) != 0 ||
	    !atomic_compare_exchange_strong(&gm_scav_starting, &expected, (int)gm_lock_token()))
		return;
	if (atomic_load(&gm_scav_paused) != 0) {
		atomic_store(&gm_scav_starting, 0);
		return;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	/* No thread waits on it now; gm_scav_wake signals it under the lock. */
	gm_mutex_lock(&gm_scav.lock);
	pthread_cond_init(&gm_scav.cond, &ca);
	gm_mutex_unlock(&gm_scav.lock);
	pthread_condattr_destroy(&ca);
	pthread_attr_init(&attr);
	/* Joinable: gm_scav_pause must know the thread is gone from glibc's list. */
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_JOINABLE);
	pthread_attr_setstacksize(&attr, (size_t)256 << 10);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	gm_scav.stop = false;
	/* Mark started first: pthread_create allocates and may come back here. */
	gm_scav.pid = getpid();
	gm_scav.started = true;
	if (pthread_create(&gm_scav.thread, &attr, gm_scav_main, NULL) != 0) {
		/* Each attempt costs a stack mapping and a failed clone: under a
		 * thread limit every refill would pay them.  Wait, doubling. */
		uint64_t w = gm_scav.retry_ns == 0 ? GM_SCAV_RETRY_MIN_NS : 2 * gm_scav.retry_ns;

		if (w > GM_SCAV_RETRY_MAX_NS)
			w = GM_SCAV_RETRY_MAX_NS;
		gm_scav.retry_ns = w;
		atomic_store_explicit(&gm_scav.retry_at, gm_nanotime() + w, memory_order_relaxed);
		gm_scav.started = false;
	} else {
		gm_scav.retry_ns = 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	atomic_store(&gm_scav_starting, 0);
}

/* The process began: the thread may wait. */
void gm_scav_born(void)
{
	atomic_store_explicit(&gm_scav.not_before, gm_nanotime() + gm_opt.scav_delay_ns,
			      memory_order_relaxed);
	gm_scav.born_pid = getpid();
	atomic_store_explicit(&gm_scav.retry_at, 0, memory_order_relaxed);
	gm_scav.retry_ns = 0;
}

/*
 * How long after load (or a fork child's first slow path) the thread may
 * start at a slow path.  A bystander waits at least GM_SCAV_BYSTANDER_NS:
 * its malloc may forward to ours (a tracing wrapper preloaded before us,
 * calling __libc_malloc or dlsym(RTLD_NEXT)), and then it does need the
 * thread; a program with a malloc of its own that checks it runs alone
 * does so when it starts (Chromium's zygote, before it forks).
 */
static uint64_t gm_scav_delay_ns(void)
{
	if (gm_scav.bystander && gm_opt.scav_delay_ns < GM_SCAV_BYSTANDER_NS)
		return GM_SCAV_BYSTANDER_NS;
	return gm_opt.scav_delay_ns;
}

/*
 * Whether the process's malloc is defined by another object.  dlsym finds
 * the address the process binds "malloc" to.  That is ours, or another
 * definition, or the PLT slot of an executable built without -pie that
 * takes malloc's address (Debian's python3): the slot is then the
 * function's canonical address, and calls through it still come to us.
 * A definition starts a symbol of its object (dladdr1); a PLT slot does not.
 */
static bool gm_malloc_is_elsewhere(void)
{
	void *m = dlsym(RTLD_DEFAULT, "malloc");
	const ElfW(Sym) *sym = NULL;
	Dl_info info;

	if (m == NULL || m == (void *)gm_malloc_self)
		return false;
	return dladdr1(m, &info, (void **)&sym, RTLD_DL_SYMENT) != 0 && sym != NULL &&
	       info.dli_saddr == m && sym->st_shndx != SHN_UNDEF;
}

/*
 * At load: start now, unless asked to wait (then as a slow path would), or
 * unless the library is a bystander.  A program may define malloc itself
 * (Chromium and the Electron applications do, and export it); its
 * definition then comes before ours in the lookup, every allocation of the
 * process goes to it, and our heap stays empty.  A thread would have
 * nothing to return or report, and it would break what such a program
 * checks: Chromium's zygote makes sure it has a single thread before it
 * forks.  dlsym finds the malloc that the process binds to; gm_malloc_self
 * is ours, bound locally.
 */
void gm_scav_start_at_load(void)
{
	if (gm_malloc_self != NULL && gm_malloc_is_elsewhere()) {
		gm_scav.bystander = true;
		atomic_store_explicit(&gm_scav.not_before, gm_nanotime() + gm_scav_delay_ns(),
				      memory_order_relaxed);
		return;
	}
	if (gm_opt.scav_delay_ns == 0)
		gm_scav_start();
	else
		gm_scav_start_lazy();
}

/*
 * From a slow path with no lock held: start once the delay is over, when a
 * tracer listens, or when the heap has grown big enough that a freed spike
 * of it is worth giving back.
 */
void gm_scav_start_lazy(void)
{
	uint64_t now, heap, not_before;

	/* A forked child's first slow path: the parent's other threads'
	 * caches go back first. */
	gm_mcache_fork_fold();
	now = gm_nanotime();
	if (now < atomic_load_explicit(&gm_scav.retry_at, memory_order_relaxed))
		return;
	/* A forked child's first slow path: its delay starts now. */
	not_before = atomic_load_explicit(&gm_scav.not_before, memory_order_relaxed);
	if (not_before == GM_SCAV_FROM_NEXT) {
		not_before = now + gm_scav_delay_ns();
		atomic_store_explicit(&gm_scav.not_before, not_before, memory_order_relaxed);
	}
	heap = atomic_load_explicit(&gm_heap.inuse, memory_order_relaxed) +
	       atomic_load_explicit(&gm_heap.idle, memory_order_relaxed);
	/* Not from a vfork child (no fork handler ran there): its thread
	 * would die at its exec, and the flag it set would keep ours off. */
	if ((heap >= GM_SCAV_EAGER_BYTES || now >= not_before ||
	     (!gm_scav.bystander && GM_PROBE_ENABLED(memstats))) &&
	    getpid() == gm_scav.born_pid)
		gm_scav_start();
}

/* Wake the scavenger early (much memory was just freed). */
void gm_scav_wake(void)
{
	if (!gm_scav.started)
		return;
	gm_mutex_lock(&gm_scav.lock);
	gm_scav.wake = true;
	atomic_store(&gm_scav.dozing, false);
	pthread_cond_signal(&gm_scav.cond);
	gm_mutex_unlock(&gm_scav.lock);
}

/*
 * Before an id change: stop the thread and wait until it has exited, so
 * glibc's id broadcast does not reach it.  1 if it ran (and was stopped),
 * 0 if none ran, -1 if this call may not pause it (below).
 */
int gm_scav_pause(void)
{
	bool ran;
	int cs;

	/* A signal handler (setuid is async-signal-safe) that interrupted this
	 * thread inside the allocator, a start, or a pause: the thread may
	 * wait for a lock the interrupted code holds, and joining it would be
	 * waiting for ourselves.  The id change then reaches it, as without
	 * us. */
	if (gm_thread_inside() || atomic_load(&gm_scav_starting) == (int)gm_lock_token())
		return -1;
	gm_mutex_lock(&gm_scav_pause_lock);
	atomic_fetch_add(&gm_scav_paused, 1);
	/* A start that began before the count was raised finishes first. */
	while (atomic_load(&gm_scav_starting) != 0)
		sched_yield();
	/* Only a thread of this process: a vfork child shares the parent's
	 * memory, and stopping or starting the parent's thread from it would
	 * leave the parent without one (glibc's broadcast in the child does
	 * not reach the parent's threads anyway). */
	ran = gm_scav.started && gm_scav.pid == getpid();
	if (ran) {
		gm_mutex_lock(&gm_scav.lock);
		gm_scav.stop = true;
		pthread_cond_signal(&gm_scav.cond);
		gm_mutex_unlock(&gm_scav.lock);
		/* pthread_join is a cancellation point: the caller must not end
		 * here with the pause lock held. */
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
		pthread_join(gm_scav.thread, NULL);
		pthread_setcancelstate(cs, NULL);
		gm_scav.started = false;
	}
	return ran;
}

/* After the id change: a new thread, with the caller's ids, if one ran. */
void gm_scav_resume(int ran)
{
	if (ran < 0)
		return;
	atomic_fetch_sub(&gm_scav_paused, 1);
	if (ran)
		gm_scav_start();
	gm_mutex_unlock(&gm_scav_pause_lock);
}

/*
 * In a forked child (pid) the thread is gone; the next allocation starts
 * one.  What is as it should be already is not written (gm_lock_reset),
 * and the delay starts at that allocation: no clock is read here.
 */
GM_FORK_CHILD void gm_scav_fork_child(pid_t pid)
{
	gm_mutex_reset(&gm_scav.lock);
	gm_mutex_reset(&gm_scav_pause_lock);
	gm_fork_clear(gm_scav_paused);
	gm_fork_clear(gm_scav.started);
	gm_fork_clear(gm_scav.running);
	gm_fork_clear(gm_scav.wake);
	gm_fork_clear(gm_scav_starting);
	atomic_store_explicit(&gm_scav.not_before, GM_SCAV_FROM_NEXT, memory_order_relaxed);
	gm_scav.born_pid = pid;
	gm_fork_clear(gm_scav.retry_at);
	gm_fork_clear(gm_scav.retry_ns);
}
