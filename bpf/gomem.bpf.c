// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * gomem.bpf.c: the kernel side of gomemd.
 *
 * Six USDT programs (provider "gomem") copy what libgomem hands them into
 * one ring buffer, tagged with the tgid; gomemd attaches them manually
 * (SEC("usdt") without a target) to every libgomem it is told about, for all
 * processes (pid -1), or to one process.  Snapshots (~6 KB) are reserved
 * directly in the ring buffer and filled with bpf_probe_read_user, so nothing
 * large ever sits on the 512-byte BPF stack.
 *
 * Process exit: the sched_process_exit tracepoint (BTF, else classic) reports
 * the exit of the last thread of any tgid in the "watched" map, with its
 * wait(2) status and whether the OOM killer chose it; sched_process_exec
 * reports an execve of one.  The USDT programs add
 * the tgid there the first time they see it.  This is exact and immediate and
 * costs one hash lookup per exiting thread; the daemon still checks /proc
 * once a second as a safety net (a full ring buffer can lose an exit record,
 * and a full "watched" map loses the entry), so neither mechanism alone is
 * trusted.
 *
 * Losses are counted in the per-CPU array "drops" (enum gomem_drop_reason).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "gomem.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, GOMEM_RINGBUF_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GOMEM_DROP_NR);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GOMEM_MAX_WATCHED);
	__type(key, __u32);
	__type(value, __u32);
} watched SEC(".maps");

/*
 * Each process's record budgets (GOMEM_RATE_*), one for snapshots and one
 * for scavenge and arena records (a scavenger releasing a spike fires many
 * of those, and must not cost the process its snapshots).  CPUs that race
 * on one may give a token or two more, never a budget past the burst.
 */
struct rate {
	__u64 last_ns[2]; /* refilled up to here */
	__s32 tokens[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* one evicted starts with a full budget */
	__type(key, __u32);
	__type(value, struct rate);
} rates SEC(".maps");

/* Scratch space for a sample record (too big for the stack); per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gomem_event_sample);
} sample_buf SEC(".maps");

/* Count one lost record. */
static __always_inline void count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &reason);

	if (n)
		*n += 1;
}

/*
 * Note the calling process in "watched" (so its exit is reported) and say
 * whether its events are wanted: false when the user detached it.
 */
static __always_inline bool watch(__u32 tgid)
{
	__u32 *state = bpf_map_lookup_elem(&watched, &tgid);
	__u32 on = GOMEM_WATCH_ON;

	if (state)
		return *state != GOMEM_WATCH_MUTED;
	if (bpf_map_update_elem(&watched, &tgid, &on, BPF_NOEXIST) == -E2BIG)
		count_drop(GOMEM_DROP_WATCHED);
	return true;
}

/* Take one record from tgid's budget k (0 snapshots, 1 small records);
 * false (counted) when it has none. */
static __always_inline bool within_rate(__u32 tgid, int k)
{
	__u64 now = bpf_ktime_get_ns(), last;
	struct rate *r = bpf_map_lookup_elem(&rates, &tgid);
	__s64 dt;
	__s32 t;

	if (!r) {
		struct rate fresh = {{now, now}, {GOMEM_RATE_BURST, GOMEM_RATE_BURST}};

		fresh.tokens[k & 1]--;
		bpf_map_update_elem(&rates, &tgid, &fresh, BPF_ANY);
		return true;
	}
	k &= 1;
	last = r->last_ns[k];
	dt = (__s64)(now - last); /* another CPU may have moved last past now */
	if (dt >= (__s64)GOMEM_RATE_GAP_NS) {
		__u64 add = (__u64)dt / GOMEM_RATE_GAP_NS;

		t = r->tokens[k];
		if (t < 0)
			t = 0;
		if (add >= GOMEM_RATE_BURST || (__u64)t + add >= GOMEM_RATE_BURST) {
			r->tokens[k] = GOMEM_RATE_BURST;
			r->last_ns[k] = now;
		} else {
			r->tokens[k] = t + (__s32)add;
			r->last_ns[k] = last + add * GOMEM_RATE_GAP_NS;
		}
	}
	/* Read, then an atomic add (a fetching one needs BPF v3): two CPUs
	 * taking the last token leave it at -1, which counts as 0. */
	if (r->tokens[k] <= 0) {
		count_drop(GOMEM_DROP_RATE);
		return false;
	}
	__sync_fetch_and_add(&r->tokens[k], -1);
	return true;
}

/* Fill the common header of a record. */
static __always_inline void fill_hdr(struct gomem_event_hdr *h, __u32 type, __u32 tgid, __u64 a,
				     __u64 b)
{
	h->type = type;
	h->tgid = tgid;
	h->ktime_ns = bpf_ktime_get_ns();
	h->a = a;
	h->b = b;
	h->len = 0;
	h->_pad = 0;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* Copy a snapshot of the writer's size (clamped to ours) into the ring buffer. */
static __always_inline int emit_snapshot(__u32 type, const void *src, __u64 size,
					 const char *version)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct gomem_event_snap *e;
	__u64 n = size;

	/* gomem:init (once an image) is not limited */
	if (!watch(tgid) || (type == GOMEM_EV_MEMSTATS && !within_rate(tgid, 0)))
		return 0;

	/* step 1: reserve the whole record; the struct is too big for the stack */
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(GOMEM_DROP_RINGBUF);
		return 0;
	}
	fill_hdr(&e->hdr, type, tgid, (__u64)(unsigned long)src, size);

	/* step 2: version string of gomem:init */
	e->version[0] = 0;
	if (version && bpf_probe_read_user_str(e->version, sizeof(e->version), version) < 0)
		e->version[0] = 0;

	/* step 3: the snapshot, bounded by both sizes */
	if (n > sizeof(e->snap))
		n = sizeof(e->snap);
	if (n < 8 || bpf_probe_read_user(&e->snap, n, src) < 0) {
		count_drop(GOMEM_DROP_READ);
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	e->hdr.len = n;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* Emit a small record without a snapshot (limited: within tgid's budget). */
static __always_inline int emit_small(__u32 type, __u64 a, __u64 b, bool limited)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct gomem_event_hdr *h;

	if (!watch(tgid) || (limited && !within_rate(tgid, 1)))
		return 0;
	h = bpf_ringbuf_reserve(&events, sizeof(*h), 0);
	if (!h) {
		count_drop(GOMEM_DROP_RINGBUF);
		return 0;
	}
	fill_hdr(h, type, tgid, a, b);
	bpf_ringbuf_submit(h, 0);
	return 0;
}

SEC("usdt")
int BPF_USDT(gomem_init, const char *version, const void *snap, __u64 size)
{
	return emit_snapshot(GOMEM_EV_INIT, snap, size, version);
}

SEC("usdt")
int BPF_USDT(gomem_memstats, const void *snap, __u64 size)
{
	return emit_snapshot(GOMEM_EV_MEMSTATS, snap, size, NULL);
}

SEC("usdt")
int BPF_USDT(gomem_scavenge, __u64 bytes, __u64 ns)
{
	return emit_small(GOMEM_EV_SCAVENGE, bytes, ns, true);
}

SEC("usdt")
int BPF_USDT(gomem_arena_grow, const void *base, __u64 bytes)
{
	return emit_small(GOMEM_EV_ARENA_GROW, (__u64)(unsigned long)base, bytes, true);
}

/*
 * A sampled allocation: header, rate and the PCs, copied into a per-CPU
 * scratch record and output with only the frames present, so a typical
 * 10-frame stack takes ~160 bytes of the ring buffer instead of ~600.
 */
SEC("usdt")
int BPF_USDT(gomem_sample_alloc, const void *ptr, __u64 size, const __u64 *pcs, __u64 depth,
	     __u64 rate)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, zero = 0;
	struct gomem_event_sample *e;
	__u64 n = depth;

	if (!watch(tgid))
		return 0;
	e = bpf_map_lookup_elem(&sample_buf, &zero);
	if (!e)
		return 0;
	if (n > GOMEM_MAX_STACK)
		n = GOMEM_MAX_STACK;
	fill_hdr(&e->hdr, GOMEM_EV_SAMPLE_ALLOC, tgid, (__u64)(unsigned long)ptr, size);
	e->rate = rate;
	if (n > 0 && bpf_probe_read_user(e->pcs, n * sizeof(__u64), pcs) < 0) {
		count_drop(GOMEM_DROP_READ);
		return 0;
	}
	e->hdr.len = n;
	if (bpf_ringbuf_output(&events, e, GOMEM_SAMPLE_BASE_SIZE + n * sizeof(__u64), 0) < 0)
		count_drop(GOMEM_DROP_RINGBUF);
	return 0;
}

/* The free of a sampled block. */
SEC("usdt")
int BPF_USDT(gomem_sample_free, const void *ptr, __u64 size)
{
	return emit_small(GOMEM_EV_SAMPLE_FREE, (__u64)(unsigned long)ptr, size, false);
}

/* The process is exiting normally and waits for gomemd to copy its profile. */
SEC("usdt")
int BPF_USDT(gomem_lib_exit, const void *profile, __u64 size)
{
	return emit_small(GOMEM_EV_LIB_EXIT, (__u64)(unsigned long)profile, size, false);
}

/* signal_struct.flags: the whole group is exiting (include/linux/sched/signal.h) */
#define GOMEM_SIGNAL_GROUP_EXIT 0x00000004

/*
 * The wait(2) status the parent will see: with SIGNAL_GROUP_EXIT (exit_group(),
 * a fatal signal, a core dump) it is signal->group_exit_code, else the last
 * thread's exit_code, as wait_task_zombie() chooses.  Exit codes are
 * (code & 0xff) << 8, a fatal signal is its number, 0x80 added when a core
 * was dumped.
 */
static __always_inline __u32 exit_status(struct task_struct *task)
{
	struct signal_struct *sig = BPF_CORE_READ(task, signal);

	if (BPF_CORE_READ(sig, flags) & GOMEM_SIGNAL_GROUP_EXIT)
		return (__u32)BPF_CORE_READ(sig, group_exit_code);
	return (__u32)BPF_CORE_READ(task, exit_code);
}

/*
 * Report the exit of the last thread of a watched process, with its status
 * and whether the OOM killer chose it: mark_oom_victim() sets
 * signal->oom_mm, for a global and a memory cgroup OOM alike, before the
 * SIGKILL is delivered, and nothing clears it before the signal_struct is
 * freed.  The field exists since Linux 4.10.
 */
static __always_inline int report_exit(struct task_struct *task)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct gomem_event_hdr *h;
	__u64 flags = GOMEM_EXIT_STATUS;
	__u32 *state;

	state = bpf_map_lookup_elem(&watched, &tgid);
	if (!state)
		return 0;
	/* signal->live drops to zero in do_exit() before this tracepoint */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	bpf_map_delete_elem(&watched, &tgid);
	if (bpf_core_field_exists(struct signal_struct, oom_mm)) {
		flags |= GOMEM_EXIT_OOM_KNOWN;
		if (BPF_CORE_READ(task, signal, oom_mm) != NULL)
			flags |= GOMEM_EXIT_OOM;
	}

	h = bpf_ringbuf_reserve(&events, sizeof(*h), 0);
	if (!h) {
		count_drop(GOMEM_DROP_RINGBUF);
		return 0;
	}
	fill_hdr(h, GOMEM_EV_EXIT, tgid, exit_status(task), flags);
	bpf_ringbuf_submit(h, 0);
	return 0;
}

/*
 * Process exit.  A BTF tracepoint needs no tracefs (the raw tracepoint is
 * found by name in the kernel's BTF); the classic tracepoint is the
 * fallback gomemd attaches when the BTF one cannot be (it needs tracefs
 * mounted).  Only the first argument is declared: Linux 6.16 added a
 * second (group_dead), which older kernels lack.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(gomem_exit, struct task_struct *task)
{
	return report_exit((struct task_struct *)bpf_get_current_task());
}

SEC("tracepoint/sched/sched_process_exit")
int gomem_exit_tp(void *ctx)
{
	return report_exit((struct task_struct *)bpf_get_current_task());
}

/*
 * A watched process replaced its image (execve): its new name, so gomemd
 * renames the entry and reads the command line again.  comm is set by
 * begin_new_exec() before the tracepoint fires.  A muted process is not
 * reported.
 */
static __always_inline int report_exec(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct gomem_event_hdr *h;
	__u32 *state;

	state = bpf_map_lookup_elem(&watched, &tgid);
	if (!state || *state != GOMEM_WATCH_ON)
		return 0;
	h = bpf_ringbuf_reserve(&events, sizeof(*h), 0);
	if (!h) {
		count_drop(GOMEM_DROP_RINGBUF);
		return 0;
	}
	fill_hdr(h, GOMEM_EV_EXEC, tgid, 0, 0);
	bpf_ringbuf_submit(h, 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(gomem_exec, struct task_struct *task)
{
	return report_exec();
}

SEC("tracepoint/sched/sched_process_exec")
int gomem_exec_tp(void *ctx)
{
	return report_exec();
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
