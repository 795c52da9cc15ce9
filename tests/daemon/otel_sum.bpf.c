// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * otel_sum.bpf.c: sums what libgomem's otel_memory probes report for one
 * process, the way the OpenTelemetry eBPF profiler would read them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

const volatile __u32 target_tgid = 0;

__u64 allocs = 0, frees = 0, alloc_bytes = 0, weighted_bytes = 0;

SEC("usdt")
int BPF_USDT(otel_alloc, const void *ptr, __u64 size, __u64 weighted)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	__sync_fetch_and_add(&allocs, 1);
	__sync_fetch_and_add(&alloc_bytes, size);
	__sync_fetch_and_add(&weighted_bytes, weighted);
	return 0;
}

SEC("usdt")
int BPF_USDT(otel_free, const void *ptr)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	__sync_fetch_and_add(&frees, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
