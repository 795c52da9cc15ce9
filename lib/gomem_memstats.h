/*
 * gomem_memstats.h: the one stats ABI of gomem.
 *
 * libgomem fills struct gomem_memstats, the gomem:memstats USDT probe hands a
 * pointer to it to the BPF programs, and gomemd turns it into JSON, expvar and
 * Prometheus text.  Every consumer derives its field list from the X-macros
 * below, so the outputs cannot drift from the struct.
 *
 * The header uses plain C types only, so that it also compiles for the BPF
 * target next to vmlinux.h.
 *
 * Rules: the struct starts with its size and a version; Go's runtime.MemStats
 * fields come first, in Go's order and with Go's names and definitions; our
 * own fields come after Go's, never between them; new fields go at the end
 * and bump GOMEM_MEMSTATS_VERSION.
 */
#ifndef GOMEM_MEMSTATS_H
#define GOMEM_MEMSTATS_H

#define GOMEM_MEMSTATS_VERSION 2
#define GOMEM_NUM_PAUSE	       256 /* len(MemStats.PauseNs) */
#define GOMEM_NUM_BYSIZE       61  /* len(MemStats.BySize) */

/* Where MemoryLimit came from (the MemoryLimitSource field). */
#define GOMEM_LIMIT_NONE	0 /* no limit */
#define GOMEM_LIMIT_ENV		1 /* GOMEMLIMIT (also "off") */
#define GOMEM_LIMIT_API		2 /* gomem_set_memory_limit */
#define GOMEM_LIMIT_CGROUP_V1	3 /* cgroup v1 memory.limit_in_bytes, less headroom */
#define GOMEM_LIMIT_CGROUP_MAX	4 /* cgroup v2 memory.max, less headroom */
#define GOMEM_LIMIT_CGROUP_HIGH 5 /* cgroup v2 memory.high, less headroom */

/* One BySize entry: {Size uint32, Mallocs, Frees uint64}. */
struct gomem_bysize {
	unsigned int Size;
	unsigned int _pad;
	unsigned long long Mallocs;
	unsigned long long Frees;
};

/*
 * The Go fields, in runtime.MemStats order.  Each X-macro argument is called
 * with (Name, kind, prometheus_name, prometheus_help):
 *   U64  a uint64 field      kind is gauge or counter; prometheus_name is
 *                            0 when Go's client does not export the field
 *   U64A a [256]uint64 ring  (PauseNs, PauseEnd)
 *   U32  a uint32 counter    (NumGC, NumForcedGC)
 *   F64  a float64 gauge     (GCCPUFraction)
 *   BOOL a bool              (EnableGC, DebugGC)
 *   BYSZ the BySize array
 * Help texts are those of the classic Prometheus Go collector.
 */
#define GOMEM_MEMSTATS_GO_FIELDS(U64, U64A, U32, F64, BOOL, BYSZ)                                  \
	U64(Alloc, gauge, "go_memstats_alloc_bytes",                                               \
	    "Number of bytes allocated and still in use.")                                         \
	U64(TotalAlloc, counter, "go_memstats_alloc_bytes_total",                                  \
	    "Total number of bytes allocated, even if freed.")                                     \
	U64(Sys, gauge, "go_memstats_sys_bytes", "Number of bytes obtained from system.")          \
	U64(Lookups, counter, "go_memstats_lookups_total", "Total number of pointer lookups.")     \
	U64(Mallocs, counter, "go_memstats_mallocs_total", "Total number of mallocs.")             \
	U64(Frees, counter, "go_memstats_frees_total", "Total number of frees.")                   \
	U64(HeapAlloc, gauge, "go_memstats_heap_alloc_bytes",                                      \
	    "Number of heap bytes allocated and still in use.")                                    \
	U64(HeapSys, gauge, "go_memstats_heap_sys_bytes",                                          \
	    "Number of heap bytes obtained from system.")                                          \
	U64(HeapIdle, gauge, "go_memstats_heap_idle_bytes",                                        \
	    "Number of heap bytes waiting to be used.")                                            \
	U64(HeapInuse, gauge, "go_memstats_heap_inuse_bytes",                                      \
	    "Number of heap bytes that are in use.")                                               \
	U64(HeapReleased, gauge, "go_memstats_heap_released_bytes",                                \
	    "Number of heap bytes released to OS.")                                                \
	U64(HeapObjects, gauge, "go_memstats_heap_objects", "Number of allocated objects.")        \
	U64(StackInuse, gauge, "go_memstats_stack_inuse_bytes",                                    \
	    "Number of bytes in use by the stack allocator.")                                      \
	U64(StackSys, gauge, "go_memstats_stack_sys_bytes",                                        \
	    "Number of bytes obtained from system for stack allocator.")                           \
	U64(MSpanInuse, gauge, "go_memstats_mspan_inuse_bytes",                                    \
	    "Number of bytes in use by mspan structures.")                                         \
	U64(MSpanSys, gauge, "go_memstats_mspan_sys_bytes",                                        \
	    "Number of bytes used for mspan structures obtained from system.")                     \
	U64(MCacheInuse, gauge, "go_memstats_mcache_inuse_bytes",                                  \
	    "Number of bytes in use by mcache structures.")                                        \
	U64(MCacheSys, gauge, "go_memstats_mcache_sys_bytes",                                      \
	    "Number of bytes used for mcache structures obtained from system.")                    \
	U64(BuckHashSys, gauge, "go_memstats_buck_hash_sys_bytes",                                 \
	    "Number of bytes used by the profiling bucket hash table.")                            \
	U64(GCSys, gauge, "go_memstats_gc_sys_bytes",                                              \
	    "Number of bytes used for garbage collection system metadata.")                        \
	U64(OtherSys, gauge, "go_memstats_other_sys_bytes",                                        \
	    "Number of bytes used for other system allocations.")                                  \
	U64(NextGC, gauge, "go_memstats_next_gc_bytes",                                            \
	    "Number of heap bytes when next garbage collection will take place.")                  \
	U64(LastGC, gauge, "go_memstats_last_gc_time_seconds",                                     \
	    "Number of seconds since 1970 of last garbage collection.")                            \
	U64(PauseTotalNs, counter, 0, 0)                                                           \
	U64A(PauseNs)                                                                              \
	U64A(PauseEnd)                                                                             \
	U32(NumGC)                                                                                 \
	U32(NumForcedGC)                                                                           \
	F64(GCCPUFraction, gauge, "go_memstats_gc_cpu_fraction",                                   \
	    "The fraction of this program's available CPU time used by the GC since the program "  \
	    "started.")                                                                            \
	BOOL(EnableGC)                                                                             \
	BOOL(DebugGC)                                                                              \
	BYSZ(BySize)

/*
 * Our additions, all uint64, after Go's fields: (Name, kind, prometheus_name,
 * prometheus_help).
 */
#define GOMEM_MEMSTATS_EXTRA_FIELDS(U64)                                                           \
	U64(TinyAllocs, counter, "gomem_tiny_allocs_total",                                        \
	    "Go's count of allocations served inside an existing 16-byte tiny block; always 0, "   \
	    "as blocks of up to 8 bytes are objects of the 8-byte class.")                         \
	U64(LargeAllocs, counter, "gomem_large_allocs_total",                                      \
	    "Allocations larger than 32 KiB served straight from the page heap.")                  \
	U64(LargeFrees, counter, "gomem_large_frees_total",                                        \
	    "Frees of objects larger than 32 KiB.")                                                \
	U64(ScavengeGoal, gauge, "gomem_scavenge_goal_bytes",                                      \
	    "Retained heap memory (HeapSys - HeapReleased) the scavenger steers towards.")         \
	U64(ScavengeReleasedTotal, counter, "gomem_scavenge_released_bytes_total",                 \
	    "Bytes returned to the OS by the scavenger and by gomem_free_os_memory.")              \
	U64(ScavengeCycles, counter, "gomem_scavenge_cycles_total",                                \
	    "Scavenger passes that released memory.")                                              \
	U64(ScavengeCPUNs, counter, "gomem_scavenge_cpu_seconds_total",                            \
	    "CPU time spent releasing memory, in nanoseconds in the struct, seconds in "           \
	    "Prometheus.")                                                                         \
	U64(MemoryLimit, gauge, "gomem_memory_limit_bytes",                                        \
	    "Soft memory limit; 0 when none is set.")                                              \
	U64(Threads, gauge, "gomem_threads", "Threads that currently own an mcache.")              \
	U64(Arenas, gauge, "gomem_arenas", "64 MiB heap arenas reserved.")                         \
	U64(Seq, counter, "gomem_snapshots_total",                                                 \
	    "Snapshots taken so far (the sequence number of this one).")                           \
	U64(TimeNs, gauge, "gomem_snapshot_time_seconds",                                          \
	    "Wall-clock time the snapshot was taken (ns since the epoch in the struct).")          \
	U64(Pid, gauge, 0, 0)                                                                      \
	U64(MemoryLimitSource, gauge, "gomem_memory_limit_source",                                 \
	    "Where the soft memory limit came from: 0 none, 1 GOMEMLIMIT, 2 the API, 3 cgroup v1 " \
	    "memory.limit_in_bytes, 4 cgroup v2 memory.max, 5 cgroup v2 memory.high.")             \
	U64(CgroupMemoryLimit, gauge, "gomem_cgroup_memory_limit_bytes",                           \
	    "The memory cgroup's limit (smallest over its ancestors); 0 when none.")               \
	U64(HeapInuseReleased, gauge, "gomem_heap_inuse_released_bytes",                           \
	    "OS pages inside in-use spans (all their objects free) returned to the OS; part of "   \
	    "HeapInuse, not of HeapReleased.")

struct gomem_memstats {
	unsigned int size;    /* sizeof(struct gomem_memstats) of the writer */
	unsigned int version; /* GOMEM_MEMSTATS_VERSION of the writer */

#define GOMEM_MS_U64_(n, ...) unsigned long long n;
#define GOMEM_MS_U64A_(n)     unsigned long long n[GOMEM_NUM_PAUSE];
#define GOMEM_MS_U32_(n)      unsigned int n;
#define GOMEM_MS_F64_(n, ...) double n;
#define GOMEM_MS_BOOL_(n)     unsigned char n;
#define GOMEM_MS_BYSZ_(n)     struct gomem_bysize n[GOMEM_NUM_BYSIZE];
	GOMEM_MEMSTATS_GO_FIELDS(GOMEM_MS_U64_, GOMEM_MS_U64A_, GOMEM_MS_U32_, GOMEM_MS_F64_,
				 GOMEM_MS_BOOL_, GOMEM_MS_BYSZ_)
	GOMEM_MEMSTATS_EXTRA_FIELDS(GOMEM_MS_U64_)
#undef GOMEM_MS_U64_
#undef GOMEM_MS_U64A_
#undef GOMEM_MS_U32_
#undef GOMEM_MS_F64_
#undef GOMEM_MS_BOOL_
#undef GOMEM_MS_BYSZ_

	unsigned long long reserved[8];
};

#endif /* GOMEM_MEMSTATS_H */
