/*
 * probes.h: gomem's USDT probes (provider "gomem").
 *
 * Every probe has a semaphore.  The kernel raises it in every process that
 * maps libgomem while a uprobe is attached (pid -1 included), so the library
 * tests it before doing any work for the probe: an unwatched process pays one
 * predictable branch.  The probes, their arguments and when they fire are the
 * interface documented in gomem(3):
 *
 *   gomem:init        (const char *version, struct gomem_memstats *snap, u64 size,
 *                      struct gomem_profile *profile)
 *   gomem:memstats    (struct gomem_memstats *snap, u64 size, struct gomem_profile *profile)
 *   gomem:scavenge    (u64 bytes_released, u64 ns_spent)
 *   gomem:arena_grow  (void *base, u64 bytes)
 *   gomem:sample_alloc(void *ptr, u64 size, u64 *pcs, u64 depth, u64 rate)
 *   gomem:sample_free (void *ptr, u64 size)
 *   gomem:exit        (struct gomem_profile *profile, u64 size): at exit, after a
 *                     last gomem:memstats; waits up to 250 ms for a reader to
 *                     copy the profile and set its exit_ack
 *
 * Provider "otel_memory", the OpenTelemetry eBPF profiler's proposed contract,
 * fired on sampled allocations only:
 *
 *   otel_memory:alloc (void *ptr, u64 size, u64 weighted_bytes): size is the
 *                     request; weighted_bytes the bytes the sample stands for,
 *                     size / (1 - exp(-size / rate)) (Go's scaleHeapSample)
 *   otel_memory:free  (void *ptr): free of a sampled block
 */
#ifndef GM_PROBES_H
#define GM_PROBES_H

#include "config.h"

#if HAVE_SYS_SDT_H
#define _SDT_HAS_SEMAPHORES	1
/*
 * Arguments in registers or immediates only: with sdt.h's default ("nor") the
 * compiler may pass a global as "8@32+gm_opt(%rip)", a RIP-relative operand
 * that libbpf's USDT argument parser (1.1) rejects, and the probe then cannot
 * be attached at all.
 */
#define STAP_SDT_ARG_CONSTRAINT nr
#include <sys/sdt.h>

#define GM_PROBE_SEMAPHORE(name)                                                                   \
	__extension__ unsigned short gomem_##name##_semaphore                                      \
	    __attribute__((unused, section(".probes"), visibility("hidden")))
#define GM_PROBE_DECLARE(name)                                                                     \
	__extension__ extern unsigned short gomem_##name##_semaphore                               \
	    __attribute__((unused, section(".probes"), visibility("hidden")))
#define GM_PROBE_ENABLED(name)	       __builtin_expect(gomem_##name##_semaphore != 0, 0)
#define GM_PROBE2(name, a, b)	       STAP_PROBE2(gomem, name, a, b)
#define GM_PROBE3(name, a, b, c)       STAP_PROBE3(gomem, name, a, b, c)
#define GM_PROBE4(name, a, b, c, d)    STAP_PROBE4(gomem, name, a, b, c, d)
#define GM_PROBE5(name, a, b, c, d, e) STAP_PROBE5(gomem, name, a, b, c, d, e)
#define GM_OTEL_SEMAPHORE(name)                                                                    \
	__extension__ unsigned short otel_memory_##name##_semaphore                                \
	    __attribute__((unused, section(".probes"), visibility("hidden")))
#define GM_OTEL_ENABLED(name)	__builtin_expect(otel_memory_##name##_semaphore != 0, 0)
#define GM_OTEL1(name, a)	STAP_PROBE1(otel_memory, name, a)
#define GM_OTEL3(name, a, b, c) STAP_PROBE3(otel_memory, name, a, b, c)
#else
#define GM_PROBE_SEMAPHORE(name)       extern int gm_no_probe_##name
#define GM_PROBE_DECLARE(name)	       extern int gm_no_probe_##name
#define GM_PROBE_ENABLED(name)	       0
#define GM_PROBE2(name, a, b)	       ((void)(a), (void)(b))
#define GM_PROBE3(name, a, b, c)       ((void)(a), (void)(b), (void)(c))
#define GM_PROBE4(name, a, b, c, d)    ((void)(a), (void)(b), (void)(c), (void)(d))
#define GM_PROBE5(name, a, b, c, d, e) ((void)(a), (void)(b), (void)(c), (void)(d), (void)(e))
#define GM_OTEL_SEMAPHORE(name)	       extern int gm_no_otel_##name
#define GM_OTEL_ENABLED(name)	       0
#define GM_OTEL1(name, a)	       ((void)(a))
#define GM_OTEL3(name, a, b, c)	       ((void)(a), (void)(b), (void)(c))
#endif

GM_PROBE_DECLARE(init);
GM_PROBE_DECLARE(memstats);
GM_PROBE_DECLARE(scavenge);
GM_PROBE_DECLARE(arena_grow);
GM_PROBE_DECLARE(sample_alloc);
GM_PROBE_DECLARE(sample_free);
GM_PROBE_DECLARE(exit);

#endif /* GM_PROBES_H */
