/*
 * render.h: a process as JSON (render.c), shared by the JSON routes.
 */
#ifndef GOMEMD_RENDER_H
#define GOMEMD_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "core/proc.h"
#include "encode/json.h"

/* Members of a process object: Pid, Comm, Cmdline, StartTime, ... */
void render_proc_info(struct json *j, const struct proc_info *info);
/* Members gomemd adds to a snapshot's "Extra": Comm, RSS, SnapshotAgeMs, ... */
void render_daemon_extra(struct json *j, const struct proc_info *info);
/*
 * A snapshot: Go's fields ("full" adds the arrays), then "Extra" with our
 * struct's own fields and, with daemon_extra, render_daemon_extra() and,
 * when the process ended, render_ended().  info
 * must describe m (same table lock or proc_copy): its pid, start time and
 * snapshot count key a cache of the rendered text.
 */
void render_memstats(struct json *j, const struct gomem_memstats *m, int full,
		     const struct proc_info *info, int daemon_extra);
void render_fini(void);
/*
 * How a process ended, as members of the open object: How, ExitCode (-1
 * unless it exited, as Go's ProcessState.ExitCode), Signal ("SIGKILL", ""
 * if none), CoreDumped, OOMKilled, WaitStatus (when the kernel told) and
 * ExecComm (How "exec").
 */
void render_end(struct json *j, const struct proc_end *e);
/* "Ended": {Pid, Comm, StartTimeNs, EndedTimeNs, render_end()} */
void render_ended(struct json *j, int pid, const char *comm, uint64_t start_ns, uint64_t ended_ns,
		  const struct proc_end *e);
/* The same object without its key. */
void render_ended_object(struct json *j, int pid, const char *comm, uint64_t start_ns,
			 uint64_t ended_ns, const struct proc_end *e);

/* A walk over the table into a pid-ordered JSON array (render_list). */
struct walk {
	int with_snap;		   /* add each process's "MemStats" */
	int full;		   /* arrays in each MemStats */
	size_t n;		   /* processes listed */
	uint64_t nsnap;		   /* live processes with a snapshot */
	struct gomem_memstats tot; /* sums of the additive fields (render_totals) */
	uint64_t rss;
};
void render_list(struct json *j, struct walk *w);
/* "Totals": sums over the live processes of w's walk. */
void render_totals(struct json *j, const struct walk *w);

#endif /* GOMEMD_RENDER_H */
