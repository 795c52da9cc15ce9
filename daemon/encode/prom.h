/*
 * prom.h: Prometheus text exposition (format 0.0.4) of every watched
 * process's MemStats and of gomemd itself.
 *
 * Metric names, types and help texts come from the X-macros of
 * gomem_memstats.h: go_memstats_* for Go's fields (as Go's client emits them)
 * and gomem_* for our extras, each labelled {pid,comm}.  Fields whose
 * Prometheus name ends in _seconds or _seconds_total are nanoseconds in the
 * struct and seconds here (LastGC, ScavengeCPUNs, TimeNs).  A counter whose
 * name lacks _total (gomem_snapshot_seq) is exposed as a gauge, which is
 * what promtool's linter accepts.  Each family is written once with all of
 * its series; processes not passed in simply have no series.
 */
#ifndef GOMEMD_PROM_H
#define GOMEMD_PROM_H

#include <stddef.h>

#include "gomem_memstats.h"
#include "base/obuf.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define PROM_HTTP_CODES	  500 /* HTTP statuses 100..599 */

/* One watched process as /metrics sees it. */
struct prom_proc {
	int pid;
	const char *comm;
	const char *exe;		 /* "" if unknown */
	const char *unit;		 /* systemd unit or "" */
	const char *cgroup;		 /* cgroup path or "" */
	const struct gomem_memstats *ms; /* NULL: no snapshot yet */
	double age_seconds;		 /* age of ms */
	unsigned long long rss_bytes;	 /* 0: unknown */
};

/* gomemd's own numbers. */
struct prom_self {
	unsigned long long events_received;
	unsigned long long dropped_ringbuf; /* ring buffer full */
	unsigned long long dropped_read;    /* user memory unreadable */
	unsigned long long dropped_watched; /* watch map full (exits missed) */
	unsigned long long dropped_rate;    /* over a process's record budget */
	long long bpf_map_bytes;	    /* < 0: not known, not emitted */
	unsigned int sse_clients;
	unsigned long long sse_dropped;
	unsigned long long http_counts[PROM_HTTP_CODES]; /* responses with status 100 + i */
};

/* The writer, for other families: HELP and TYPE, then samples. */
void prom_head(struct obuf *b, const char *name, const char *type, const char *help);
void prom_u64(struct obuf *b, const char *name, const char *labels, unsigned long long v);

/* The whole /metrics body; malloc'd, NUL-terminated, NULL on no memory. */
char *prom_format(const struct prom_proc *procs, size_t nprocs, const struct prom_self *self,
		  size_t *len);

#endif /* GOMEMD_PROM_H */
