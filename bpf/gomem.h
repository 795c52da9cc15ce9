/*
 * gomem.h: types and constants shared by gomem.bpf.c and gomemd (the
 * libbpf-tools "types only" header).  Plain C types, so that it compiles for
 * the BPF target beside vmlinux.h and for the daemon beside libc headers.
 *
 * Every record in the ring buffer starts with struct gomem_event_hdr; its
 * type says what follows.  Snapshot records carry the whole stats struct,
 * copied with bpf_probe_read_user; hdr.len says how many bytes of it are
 * valid (the writer's size, clamped to ours).
 */
#ifndef GOMEM_BPF_H
#define GOMEM_BPF_H

#include "gomem_memstats.h"

#define GOMEM_COMM_LEN 16
#define GOMEM_VERSION_LEN 32

enum gomem_event_type {
	GOMEM_EV_INIT = 1,	   /* gomem:init: version + snapshot */
	GOMEM_EV_MEMSTATS = 2,	   /* gomem:memstats: snapshot */
	GOMEM_EV_SCAVENGE = 3,	   /* gomem:scavenge: a = bytes released, b = ns spent */
	GOMEM_EV_ARENA_GROW = 4,   /* gomem:arena_grow: a = base, b = bytes */
	GOMEM_EV_EXIT = 5,	   /* the last thread of a watched process exited: a = its wait(2)
				      status, b = enum gomem_exit_flags */
	GOMEM_EV_SAMPLE_ALLOC = 6, /* gomem:sample_alloc: struct gomem_event_sample */
	GOMEM_EV_SAMPLE_FREE = 7,  /* gomem:sample_free: a = ptr, b = size */
	GOMEM_EV_LIB_EXIT = 8,	   /* gomem:exit: a = struct gomem_profile *, b = its size */
	GOMEM_EV_EXEC = 9,	   /* a watched process called execve: hdr.comm is the new
				      image's name */
};

/* GOMEM_EV_EXIT's hdr.b. */
enum gomem_exit_flags {
	GOMEM_EXIT_STATUS = 1,	  /* hdr.a is the wait(2) status (exit code or signal) */
	GOMEM_EXIT_OOM = 2,	  /* the kernel's OOM killer chose it (signal->oom_mm set) */
	GOMEM_EXIT_OOM_KNOWN = 4, /* this kernel has signal->oom_mm (the OOM flag means
				     something) */
};

/* Indexes of the per-CPU drop counters (map "drops"). */
enum gomem_drop_reason {
	GOMEM_DROP_RINGBUF = 0, /* ring buffer full: record lost */
	GOMEM_DROP_READ = 1,	/* bpf_probe_read_user failed: record discarded */
	GOMEM_DROP_WATCHED = 2, /* "watched" map full: exit of this tgid will be missed */
	GOMEM_DROP_RATE = 3,	/* over its process's record budget (GOMEM_RATE_*) */
	GOMEM_DROP_NR = 4,
};

/*
 * Each process's budgets, one of snapshots (gomem:memstats) and one of
 * scavenge and arena records: a burst of GOMEM_RATE_BURST, refilled by one
 * every GOMEM_RATE_GAP_NS (1000 a second).  libgomem publishes a snapshot
 * every 10 ms at most (plus one per gomem_read_memstats call), so only a
 * process that fires its probes on purpose meets the first; it then cannot
 * fill the ring buffer that every other process's records, exits and execs
 * go through.
 */
#define GOMEM_RATE_BURST  64u
#define GOMEM_RATE_GAP_NS 1000000ull

/* Values of the "watched" map (tgid -> state). */
enum gomem_watch_state {
	GOMEM_WATCH_ON = 1,    /* events are forwarded; exit is reported */
	GOMEM_WATCH_MUTED = 2, /* detached by the user: events are dropped in BPF */
};

struct gomem_event_hdr {
	unsigned int type;   /* enum gomem_event_type */
	unsigned int tgid;   /* process id */
	unsigned long long ktime_ns; /* bpf_ktime_get_ns() when the probe fired */
	unsigned long long a; /* probe arguments, see enum gomem_event_type */
	unsigned long long b;
	unsigned int len;    /* valid bytes of the snapshot that follows (0 if none) */
	unsigned int _pad;
	char comm[GOMEM_COMM_LEN];
};

/* GOMEM_EV_INIT and GOMEM_EV_MEMSTATS records. */
struct gomem_event_snap {
	struct gomem_event_hdr hdr;
	char version[GOMEM_VERSION_LEN]; /* GOMEM_EV_INIT only */
	struct gomem_memstats snap;
};

/* Frames kept of a sampled allocation's stack (the library captures <= 64). */
#define GOMEM_MAX_STACK 64

/*
 * GOMEM_EV_SAMPLE_ALLOC records: hdr.a = ptr, hdr.b = size (bytes of the
 * block), hdr.len = depth (frames in pcs, innermost first: return addresses).
 * Only the header, rate and the first depth PCs are written to the ring
 * buffer (the record is variable-length).
 */
struct gomem_event_sample {
	struct gomem_event_hdr hdr;
	unsigned long long rate;	/* sampling rate in bytes in force */
	unsigned long long pcs[GOMEM_MAX_STACK];
};
#define GOMEM_SAMPLE_BASE_SIZE (sizeof(struct gomem_event_hdr) + sizeof(unsigned long long))

/* Ring buffer size: room for about 340 snapshots (2 MiB). */
#define GOMEM_RINGBUF_BYTES (2u << 20)
/* Processes whose exit is watched at once. */
#define GOMEM_MAX_WATCHED 65536

#endif /* GOMEM_BPF_H */
