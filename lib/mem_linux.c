/*
 * mem_linux.c: OS memory, Go's four states and their transitions.
 *
 *   None     -> Reserved   gm_sys_reserve  mmap(PROT_NONE)
 *   Reserved -> Prepared   gm_sys_map      mmap(MAP_FIXED, RW): counted in
 *                                          HeapSys and, until first use, in
 *                                          HeapReleased
 *   Prepared -> Ready      gm_sys_used     nothing to do on Linux: the first
 *                                          touch faults the page in
 *                          gm_sys_populate madvise(MADV_POPULATE_WRITE): fresh
 *                                          pages of small-object spans, in
 *                                          one call instead of a fault each
 *   Ready    -> Prepared   gm_sys_unused   madvise(MADV_DONTNEED)
 *   any      -> None       gm_sys_free     munmap
 *   Ready    -> Prepared   gm_sys_move     mremap the pages elsewhere in the
 *                                          heap, then mmap fresh pages back
 *   None     -> Ready      gm_sys_alloc    mmap(RW), for metadata
 *
 * This file is the only caller of mmap, munmap and madvise.  The heap keeps
 * the accounting (mheap.c); the *Sys counters of metadata are kept here.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Map n bytes of zeroed read-write memory and count it in *stat. */
void *gm_sys_alloc(size_t n, _Atomic uint64_t *stat)
{
	void *v = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (v == MAP_FAILED)
		return NULL;
	if (stat != NULL)
		atomic_fetch_add_explicit(stat, n, memory_order_relaxed);
	return v;
}

/* Unmap memory obtained with gm_sys_alloc. */
void gm_sys_free(void *v, size_t n, _Atomic uint64_t *stat)
{
	munmap(v, n);
	if (stat != NULL)
		atomic_fetch_sub_explicit(stat, n, memory_order_relaxed);
}

/* Reserve address space at hint if possible; NULL on failure. */
void *gm_sys_reserve(void *hint, size_t n)
{
	void *v = mmap(hint, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (v == MAP_FAILED)
		return NULL;
	return v;
}

/* Make reserved memory usable (Reserved -> Prepared); 0 or an errno. */
int gm_sys_map(void *v, size_t n)
{
	void *p =
	    mmap(v, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	if (p == MAP_FAILED)
		return errno;
	if (p != v)
		gm_throw("gomem: mmap(MAP_FIXED) moved the mapping");
	return 0;
}

/*
 * Return the pages to the OS (Ready -> Prepared); they read as zero after.
 * The heap counts them released and calloc trusts them to be zero, so when
 * the kernel refuses (EINVAL for mlock'ed memory, after mlockall; EPERM or
 * ENOSYS from a seccomp filter) they are zeroed here: they stay resident,
 * as locked memory must.  errno is kept: free does not change it.
 */
void gm_sys_unused(void *v, size_t n)
{
	int e = errno;

	if (madvise(v, n, MADV_DONTNEED) != 0)
		memset(v, 0, n);
	errno = e;
}

/* process_madvise's pid file descriptor for the calling thread (Linux 6.14). */
#define GM_PIDFD_SELF (-10000)

/*
 * How gm_unused_flush asks: 0 not known yet, 1 process_madvise through
 * GM_PIDFD_SELF, 2 through a pidfd opened for the call, -1 a madvise per
 * range (the kernel refuses MADV_DONTNEED there before 6.13, or a seccomp
 * filter is on).  Racing first calls agree on the answer.
 */
static _Atomic int gm_unused_mode;
__thread bool gm_unused_batching;

/*
 * No seccomp filter on this thread?  One that does not list process_madvise
 * may kill the process for calling it (systemd's SystemCallFilter= does by
 * default), so the call is made only without a filter.  A filter can come
 * at any time, and never goes: asked before every batch until one is seen.
 */
static bool gm_unfiltered(void)
{
	char buf[4096];
	ssize_t n = gm_read_small("/proc/thread-self/status", buf, sizeof(buf));
	const char *p = n > 0 ? strstr(buf, "\nSeccomp:") : NULL;

	if (p == NULL)
		return false;
	p += 9;
	while (*p == ' ' || *p == '\t')
		p++;
	return p[0] == '0' && p[1] == '\n';
}

/* process_madvise of the batch; bytes advised, or -1 with errno. */
static long gm_pmadvise(gm_unused_batch *b, int mode)
{
	long r;
	int fd;

	if (mode == 1)
		return syscall(SYS_process_madvise, GM_PIDFD_SELF, b->r, b->n, MADV_DONTNEED, 0);
	fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (fd < 0)
		return -1;
	r = syscall(SYS_process_madvise, fd, b->r, b->n, MADV_DONTNEED, 0);
	gm_sys_close(fd);
	return r;
}

/* Add [v, v+n) to the batch; a full batch is flushed first. */
void gm_unused_add(gm_unused_batch *b, void *v, size_t n)
{
	if (b->n == GM_UNUSED_BATCH)
		gm_unused_flush(b);
	b->r[b->n].iov_base = v;
	b->r[b->n].iov_len = n;
	b->n++;
}

/*
 * Return every range of the batch to the OS and empty it.  Whatever
 * process_madvise did not do (it stops at an error and says how far it got)
 * is done a range at a time.
 */
void gm_unused_flush(gm_unused_batch *b)
{
	int mode = atomic_load_explicit(&gm_unused_mode, memory_order_relaxed);
	size_t i = 0, off = 0;
	long done = 0;
	int e = errno;

	if (b->n == 0)
		return;
	if (b->n > 1 && mode >= 0 && gm_unused_batching) {
		if (!gm_unfiltered()) {
			mode = -1;
		} else {
			bool first = mode == 0;

			mode = first ? 1 : mode;
			done = gm_pmadvise(b, mode);
			if (first && done < 0 && errno == EBADF) {
				/* Before 6.14: no GM_PIDFD_SELF. */
				mode = 2;
				done = gm_pmadvise(b, mode);
			}
			if (done < 0 && errno != EINTR && errno != EAGAIN)
				mode = -1;
		}
		atomic_store_explicit(&gm_unused_mode, mode, memory_order_relaxed);
		if (done < 0)
			done = 0;
		/* Skip what was done. */
		while (i < b->n && (size_t)done >= b->r[i].iov_len) {
			done -= (long)b->r[i].iov_len;
			i++;
		}
		off = (size_t)done;
	}
	for (; i < b->n; i++, off = 0)
		gm_sys_unused((char *)b->r[i].iov_base + off, b->r[i].iov_len - off);
	b->n = 0;
	errno = e;
}

/*
 * Move the pages of [src, src+n) to [dst, dst+n) (both in the heap, page
 * aligned, not overlapping) without copying: mremap moves the page table
 * entries, and whatever dst held is dropped.  src is then mapped again with
 * fresh zero pages (Prepared).  False, and nothing changed, when mremap
 * refuses (src spans more than one kernel mapping, say); the caller copies.
 */
bool gm_sys_move(void *src, void *dst, size_t n)
{
	void *p = mremap(src, n, n, MREMAP_MAYMOVE | MREMAP_FIXED, dst);

	if (p == MAP_FAILED)
		return false;
	if (p != dst)
		gm_throw("gomem: mremap(MREMAP_FIXED) moved the mapping elsewhere");
	/* The heap must not keep a hole: without the mapping back, die here
	 * rather than fault later in another thread's allocation. */
	if (gm_sys_map(src, n) != 0)
		gm_throw("gomem: out of kernel mappings after mremap (vm.max_map_count)");
	return true;
}

/*
 * Zero the in-use pages [v, v+n) the lazy way: give them back to the OS,
 * which maps a zero page on the next touch of each.  False if madvise
 * failed, and then the memory is as it was.
 */
bool gm_sys_zero(void *v, size_t n)
{
	return madvise(v, n, MADV_DONTNEED) == 0;
}

/*
 * Of the first OS pages of [v, v+n), at most 64: how many are resident,
 * and in *looked how many were looked at (0 if mincore failed).
 */
size_t gm_sys_resident(void *v, size_t n, size_t *looked)
{
	unsigned char vec[64];
	size_t ps = gm_os_page_size(), np = n / ps, i, k = 0;

	if (np > sizeof(vec))
		np = sizeof(vec);
	if (np == 0 || mincore(v, np * ps, vec) != 0) {
		*looked = 0;
		return 0;
	}
	for (i = 0; i < np; i++)
		k += vec[i] & 1;
	*looked = np;
	return k;
}

/*
 * How many OS pages of [v, v+n) are resident, all of them looked at (in
 * mincore calls of 4 MiB); n, as if all were, if mincore fails.
 */
size_t gm_sys_resident_all(void *v, size_t n)
{
	unsigned char vec[1024];
	size_t ps = gm_os_page_size(), np = n / ps, i = 0, k = 0, j, m;

	while (i < np) {
		m = np - i < sizeof(vec) ? np - i : sizeof(vec);
		if (mincore((char *)v + i * ps, m * ps, vec) != 0)
			return np;
		for (j = 0; j < m; j++)
			k += vec[j] & 1;
		i += m;
	}
	return k;
}

/* Prepared -> Ready: the kernel faults pages back in on first touch. */
void gm_sys_used(void *v, size_t n)
{
	(void)v;
	(void)n;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/*
 * Set once the kernel refuses MADV_POPULATE_WRITE: before Linux 5.14
 * (EINVAL), or a seccomp filter that allows madvise with some advice only
 * (browser sandboxes answer EPERM or ENOSYS).  Unlike process_madvise (see
 * gm_unfiltered), madvise itself is a call every allocator makes, so a
 * filter that lets the program run lists it; GOMEMDEBUG=populate=0 turns
 * the call off for a filter that kills on the advice.
 */
static _Atomic bool gm_populate_off;

/*
 * Fault in [v, v+n) now, in one call, where the caller is about to write
 * every page anyway: MADV_POPULATE_WRITE.  On this project's test VM a
 * fault costs about 10 us a 4 KiB page and a populate of 64 KiB about 5 us
 * a page (bench/README, "Fresh pages").  Failures are not errors: the pages
 * fault in on first touch as before, and a refusal turns the call off.
 * errno is kept: malloc does not change it on success.
 */
void gm_sys_populate(void *v, size_t n)
{
	int e = errno;

	if (atomic_load_explicit(&gm_populate_off, memory_order_relaxed))
		return;
	if (madvise(v, n, MADV_POPULATE_WRITE) != 0 &&
	    (errno == EINVAL || errno == EPERM || errno == ENOSYS || errno == EACCES))
		atomic_store_explicit(&gm_populate_off, true, memory_order_relaxed);
	errno = e;
}

/* The OS page size, from the auxiliary vector (no allocation). */
size_t gm_os_page_size(void)
{
	unsigned long ps = getauxval(AT_PAGESZ);

	return ps ? ps : 4096;
}

/* A word others move and wake (gm_mheap's scav_gen); errno is kept. */
void gm_sys_wait_word(uint32_t *w, uint32_t v)
{
	int e = errno;

	syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
	errno = e;
}

void gm_sys_wake_word(uint32_t *w)
{
	int e = errno;

	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
	errno = e;
}

/* ---- gm_lock's slow side (internal.h) ---- */

/*
 * How long a waiter spins before it sleeps: 2^17 TSC ticks, about 60 us at
 * 2.1 GHz.  The critical sections are short, but a holder can take a page
 * fault in one (10-50 us on a virtual machine), and a sleep costs more than
 * the spin: the futex wake may move the sleeper onto the waker's CPU, where
 * the two threads then share one CPU, a scheduler tick at a time, until the
 * load balancer parts them (measured: 4 ms stalls in rptest's timed loops,
 * 20 a run, with a 1 us spin).
 */
#if defined(__x86_64__) || defined(__i386__)
#define GM_LOCK_SPIN_TICKS ((uint64_t)1 << 17)
#define gm_lock_clock(i)   ((void)(i), __builtin_ia32_rdtsc())
#define gm_lock_pause()	   __builtin_ia32_pause()
#else
#define GM_LOCK_SPIN_TICKS ((uint64_t)1 << 12) /* no cheap clock: spins */
#define gm_lock_clock(i)   (i)
#define gm_lock_pause()	   ((void)0)
#endif

/* The lock was held: spin a while, then sleep until it is given back. */
void gm_lock_wait(gm_lock *l, uint32_t me)
{
	uint64_t i = 0, t0 = gm_lock_clock(i);
	uint32_t v;

	do {
		v = 0;
		if (__atomic_load_n(&l->v, __ATOMIC_RELAXED) == 0 &&
		    __atomic_compare_exchange_n(&l->v, &v, me, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return;
		gm_lock_pause();
	} while (gm_lock_clock(++i) - t0 < GM_LOCK_SPIN_TICKS);
	/*
	 * Sleep with the sleepers bit set, so the owner wakes one of us when it
	 * lets go.  Once awake, take the lock with the bit set: other sleepers
	 * may remain (Drepper's "futexes are tricky", mutex 2, with the owner
	 * kept in the word).
	 */
	for (;;) {
		v = __atomic_load_n(&l->v, __ATOMIC_RELAXED);
		if (v == 0) {
			if (__atomic_compare_exchange_n(&l->v, &v, me | GM_LOCK_SLEEPERS, false,
							__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return;
			continue;
		}
		if (!(v & GM_LOCK_SLEEPERS) &&
		    !__atomic_compare_exchange_n(&l->v, &v, v | GM_LOCK_SLEEPERS, false,
						 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			continue;
		/* EAGAIN when the word moved first: not the caller's errno. */
		int e = errno;

		syscall(SYS_futex, &l->v, FUTEX_WAIT_PRIVATE, v | GM_LOCK_SLEEPERS, NULL, NULL, 0);
		errno = e;
	}
}

__thread uint32_t gm_tls_lock_token;
static uint32_t gm_lock_tokens;

/* A thread's first lock: its token, from a counter (31 bits, never 0 or
 * GM_LOCK_FORK). */
uint32_t gm_lock_token_slow(void)
{
	uint32_t t;

	do
		t = __atomic_add_fetch(&gm_lock_tokens, 1, __ATOMIC_RELAXED) & ~GM_LOCK_SLEEPERS;
	while (t == 0 || t == GM_LOCK_FORK);
	gm_tls_lock_token = t;
	return t;
}

/* Wake one sleeper of a lock just given back. */
void gm_lock_wake(gm_lock *l)
{
	int e = errno;

	syscall(SYS_futex, &l->v, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	errno = e;
}
