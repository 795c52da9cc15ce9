/*
 * mstats.c: Go's runtime.MemStats for libgomem.
 *
 * Definitions are Go's (mstats.go), applied to an allocator with explicit
 * free:
 *   TotalAlloc   sum over size classes of mallocs x class size, plus
 *                large objects' page-rounded bytes
 *   HeapAlloc    TotalAlloc minus the same for frees; Alloc = HeapAlloc
 *   Mallocs      small + large objects; Frees likewise
 *   TinyAllocs   Go's count of allocations served inside an existing
 *                16 B tiny block: zero, as there is no tiny allocator
 *                (internal.h); blocks of up to 8 B are 8 B class objects
 *   HeapInuse    pages of spans out of the heap; HeapIdle free pages;
 *                HeapReleased free pages returned to the OS; HeapSys their
 *                sum.  Our extra HeapInuseReleased counts the OS pages inside
 *                in-use spans the scavenger returned (mcentral.c), so
 *                HeapSys - HeapReleased - HeapInuseReleased is what is resident
 *   *Sys         memory from the OS for each kind of metadata; Sys their sum
 *   StackInuse/StackSys, NextGC, LastGC, PauseNs, NumGC, GCCPUFraction:
 *                zero, as no garbage collector runs; EnableGC is false
 *   BySize       Go's 61 entries: classes 0..60
 *
 * Consistency.  A thread writes only its own counters, with plain stores.
 * The reader holds the heap lock, so no span enters or leaves the heap while
 * it reads, and reads every thread's free counters before any malloc
 * counter: a free it sees happened after its malloc, whose count is then
 * visible too.  So HeapObjects >= 0 and HeapInuse >= HeapAlloc in every
 * snapshot, and the identities that are sums hold by construction.
 */
#include "internal.h"
#include "probes.h"

#include <string.h>
#include <unistd.h>

static struct gomem_memstats gm_snap; /* what the memstats probe points at */
static _Atomic uint64_t gm_snap_seq;

GM_PROBE_SEMAPHORE(init);
GM_PROBE_SEMAPHORE(memstats);
GM_PROBE_SEMAPHORE(scavenge);
GM_PROBE_SEMAPHORE(arena_grow);
GM_PROBE_SEMAPHORE(sample_alloc);
GM_PROBE_SEMAPHORE(sample_free);

static inline uint64_t gm_ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Fill *m with a consistent snapshot. */
void gm_read_memstats(struct gomem_memstats *m)
{
	uint64_t nmalloc[GM_NUM_SPANCLASSES], nfree[GM_NUM_SPANCLASSES];
	uint64_t freed = 0, total = 0, mallocs = 0, frees = 0;
	uint64_t large_alloc, large_alloc_count, large_free, large_free_count;
	uint64_t inuse, idle, released, heapsys, mspan_inuse, mcache_inuse, threads, arenas;
	gm_mcache *mc;
	unsigned c, i;

	gm_ensure_init();
	gm_cgroup_ensure(); /* the limit's source: found at first use */
	gm_mcache_fork_fold(); /* their counts are in no total until then */
	memset(m, 0, sizeof(*m));
	memset(nmalloc, 0, sizeof(nmalloc));
	memset(nfree, 0, sizeof(nfree));

	gm_lock_acquire(&gm_heap.lock);
	gm_mutex_lock(&gm_registry_.lock);
	/* Frees first, then mallocs: see the comment at the top. */
	for (mc = gm_registry_.head; mc != NULL; mc = mc->rnext)
		for (c = 0; c < GM_NUM_SPANCLASSES; c++)
			nfree[c] += gm_ld(&mc->stats.nfree[c]);
	for (c = 0; c < GM_NUM_SPANCLASSES; c++)
		nfree[c] += gm_registry_.dead.nfree[c];
#ifndef __SANITIZE_THREAD__ /* TSan has no fences; gm_ld's acquire orders them there */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
#endif
	for (mc = gm_registry_.head; mc != NULL; mc = mc->rnext)
		for (c = 0; c < GM_NUM_SPANCLASSES; c++)
			nmalloc[c] += gm_ld(&mc->stats.nmalloc[c]);
	for (c = 0; c < GM_NUM_SPANCLASSES; c++)
		nmalloc[c] += gm_registry_.dead.nmalloc[c];
	threads = gm_registry_.nthreads;
	gm_mutex_unlock(&gm_registry_.lock);
	/* Frees first here too: a thread's large cache counts without the lock. */
	large_free = atomic_load_explicit(&gm_heap.large_free, memory_order_acquire);
	large_free_count = atomic_load_explicit(&gm_heap.large_free_count, memory_order_acquire);
	large_alloc = atomic_load_explicit(&gm_heap.large_alloc, memory_order_acquire);
	large_alloc_count = atomic_load_explicit(&gm_heap.large_alloc_count, memory_order_acquire);
	inuse = atomic_load(&gm_heap.inuse);
	idle = atomic_load(&gm_heap.idle);
	released = atomic_load(&gm_heap.released);
	heapsys = atomic_load(&gm_stat_heap_sys);
	mspan_inuse = gm_heap.spanalloc.inuse;
	mcache_inuse = gm_heap.cachealloc.inuse;
	arenas = gm_heap.narenas;
	m->ScavengeReleasedTotal = gm_scav.released_total;
	m->ScavengeGoal = gm_scav_goal_locked();
	m->MemoryLimit = atomic_load(&gm_heap.limit);
	m->MemoryLimitSource = gm_heap.limit_source;
	m->CgroupMemoryLimit = gm_heap.cgroup_limit;
	m->HeapInuseReleased = atomic_load(&gm_heap.inuse_released);
	m->ScavengeCycles = gm_scav.cycles;
	m->ScavengeCPUNs = gm_scav.cpu_ns;
	gm_lock_release(&gm_heap.lock);

	for (c = 1; c < GM_NUM_CLASSES; c++) {
		total += nmalloc[c] * gm_class_size[c];
		freed += nfree[c] * gm_class_size[c];
		mallocs += nmalloc[c];
		frees += nfree[c];
	}

	m->size = sizeof(*m);
	m->version = GOMEM_MEMSTATS_VERSION;
	m->TotalAlloc = total + large_alloc;
	m->HeapAlloc = m->TotalAlloc - (freed + large_free);
	m->Alloc = m->HeapAlloc;
	m->Mallocs = mallocs + large_alloc_count;
	m->Frees = frees + large_free_count;
	m->Lookups = 0;
	m->HeapSys = heapsys;
	m->HeapInuse = inuse;
	m->HeapIdle = idle;
	m->HeapReleased = released;
	m->HeapObjects = m->Mallocs - m->Frees;
	m->StackInuse = 0;
	m->StackSys = 0;
	m->MSpanInuse = mspan_inuse;
	m->MSpanSys = atomic_load(&gm_stat_mspan_sys);
	m->MCacheInuse = mcache_inuse;
	m->MCacheSys = atomic_load(&gm_stat_mcache_sys);
	m->BuckHashSys = atomic_load(&gm_stat_buckhash_sys);
	m->GCSys = atomic_load(&gm_stat_gc_sys);
	m->OtherSys = atomic_load(&gm_stat_other_sys);
	m->Sys = m->HeapSys + m->StackSys + m->MSpanSys + m->MCacheSys + m->BuckHashSys + m->GCSys +
		 m->OtherSys;
	m->EnableGC = 0;
	m->DebugGC = 0;
	for (i = 0; i < GOMEM_NUM_BYSIZE; i++) {
		m->BySize[i].Size = gm_class_size[i];
		m->BySize[i].Mallocs = i ? nmalloc[i] : 0;
		m->BySize[i].Frees = i ? nfree[i] : 0;
	}

	m->TinyAllocs = 0;
	m->LargeAllocs = large_alloc_count;
	m->LargeFrees = large_free_count;
	m->Threads = threads;
	m->Arenas = arenas;
	m->Seq = atomic_fetch_add(&gm_snap_seq, 1) + 1;
	m->TimeNs = gm_walltime();
	m->Pid = (uint64_t)getpid();

	if (gm_opt.check) {
		char why[96];

		if (gm_mheap_check(why, sizeof(why)) != 0) {
			gm_write_str(2, "gomem: heap check failed: ");
			gm_throw(why);
		}
	}
}

/* Fire gomem:memstats with a fresh snapshot if anybody listens. */
void gm_mstats_publish(void)
{
	if (!GM_PROBE_ENABLED(memstats))
		return;
	gm_mutex_lock(&gm_snap_lock);
	gm_read_memstats(&gm_snap);
	GM_PROBE3(memstats, &gm_snap, (uint64_t)sizeof(gm_snap), gm_prof_table());
	gm_mutex_unlock(&gm_snap_lock);
}

/*
 * Whether gomem:init was fired while its semaphore was last seen set, in
 * which process (a forked child has told nobody) and when (gm_nanotime).
 * Under gm_snap_lock.
 */
static bool gm_init_told;
static pid_t gm_init_told_pid;
static uint64_t gm_init_told_ns;

/* Fire gomem:init if anybody listens (at load, and for a tracer that came later). */
void gm_mstats_probe_init(void)
{
	if (!GM_PROBE_ENABLED(init))
		return;
	gm_mutex_lock(&gm_snap_lock);
	gm_read_memstats(&gm_snap);
	GM_PROBE4(init, GOMEM_VERSION_STRING, &gm_snap, (uint64_t)sizeof(gm_snap), gm_prof_table());
	gm_init_told = true;
	gm_init_told_pid = getpid();
	gm_init_told_ns = gm_nanotime();
	gm_mutex_unlock(&gm_snap_lock);
}

/*
 * From every turn of the scavenger's loop (at least once a second): a
 * tracer that attached after load (gomemd started or restarted later, or a
 * per-pid attach) has seen no gomem:init, and init is the only probe that
 * carries the library's version.  The kernel sets the semaphore when the
 * first tracer attaches and clears it when the last one leaves (it does
 * not count tracers), so init fires again when the semaphore is seen set
 * after it was seen clear.  A tracer that left and came back within one
 * turn of the loop (gomemd restarted by systemctl) goes unseen that way,
 * so while the semaphore is set init also fires every init_repeat_ns
 * (GOMEMDEBUG initrepeat, 30 s): one more snapshot a while, and the
 * version is known that long after such a restart at most.
 */
void gm_mstats_announce(void)
{
	bool on = GM_PROBE_ENABLED(init), again;

	gm_mutex_lock(&gm_snap_lock);
	if (gm_init_told_pid != gm_scav.pid)
		gm_init_told = false, gm_init_told_pid = gm_scav.pid;
	again = on && (!gm_init_told ||
		       (gm_opt.init_repeat_ns != 0 &&
			gm_nanotime() - gm_init_told_ns >= gm_opt.init_repeat_ns));
	if (!on)
		gm_init_told = false;
	gm_mutex_unlock(&gm_snap_lock);
	if (again)
		gm_mstats_probe_init();
}

/* Append s to buf (len bytes, *n of them used), truncating. */
static void gm_cat(char *buf, size_t len, size_t *n, const char *s)
{
	while (*s != 0 && *n + 1 < len)
		buf[(*n)++] = *s++;
	buf[*n] = 0;
}

/* Append v in decimal, right-aligned in width characters (printf's %*u). */
static void gm_cat_u64(char *buf, size_t len, size_t *n, uint64_t v, size_t width)
{
	char num[24];
	size_t k = gm_fmt_u64(num, v);

	while (k < width--)
		gm_cat(buf, len, n, " ");
	gm_cat(buf, len, n, num);
}

/*
 * malloc_stats, and GOMEMDEBUG=exitstats=1 at exit: glibc's lines first, so
 * what parses glibc's output parses ours (the heap is the one arena, and no
 * block has a mapping of its own), then each counter of MemStats as
 * "# Name = value", the layout of the MemStats block at the end of Go's text
 * heap profile.  Built on the stack and written with write(2): no stdio,
 * no allocation.
 */
void gm_print_stats(int fd)
{
	struct gomem_memstats m;
	char buf[3072];
	size_t n = 0, i;

	gm_read_memstats(&m);
	const struct {
		const char *label;
		uint64_t v;
	} glibc[] = {
	    {"Arena 0:\nsystem bytes     = ", m.HeapSys},
	    {"\nin use bytes     = ", m.HeapAlloc},
	    {"\nTotal (incl. mmap):\nsystem bytes     = ", m.Sys},
	    {"\nin use bytes     = ", m.HeapAlloc},
	    {"\nmax mmap regions = ", 0},
	    {"\nmax mmap bytes   = ", 0},
	};

	for (i = 0; i < sizeof(glibc) / sizeof(glibc[0]); i++) {
		gm_cat(buf, sizeof(buf), &n, glibc[i].label);
		gm_cat_u64(buf, sizeof(buf), &n, glibc[i].v, 10);
	}
	gm_cat(buf, sizeof(buf), &n, "\n# runtime.MemStats (libgomem)\n");
#define GM_PS_NUM_(name, ...)                                    \
	gm_cat(buf, sizeof(buf), &n, "# " #name " = ");          \
	gm_cat_u64(buf, sizeof(buf), &n, (uint64_t)m.name, 0); \
	gm_cat(buf, sizeof(buf), &n, "\n");
#define GM_PS_SKIP_(...)
	GOMEM_MEMSTATS_GO_FIELDS(GM_PS_NUM_, GM_PS_SKIP_, GM_PS_NUM_, GM_PS_SKIP_, GM_PS_SKIP_,
				 GM_PS_SKIP_)
	GOMEM_MEMSTATS_EXTRA_FIELDS(GM_PS_NUM_)
#undef GM_PS_NUM_
#undef GM_PS_SKIP_
	gm_write_str(fd, buf);
}

/* GOMEMDEBUG=exitstats=1: the statistics once the program has finished. */
__attribute__((destructor)) static void gm_exit_stats(void)
{
	if (gm_opt.exitstats)
		gm_print_stats(2);
}

/* Fire gomem:memstats with the caller's snapshot (gomem_read_memstats). */
void gm_mstats_publish_user(struct gomem_memstats *m)
{
	if (GM_PROBE_ENABLED(memstats))
		GM_PROBE3(memstats, m, (uint64_t)sizeof(*m), gm_prof_table());
}
