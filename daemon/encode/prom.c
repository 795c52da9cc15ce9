/* prom.c: Prometheus text exposition.  See prom.h. */
#include "config.h"

#include <math.h>

#include <string.h>

#include "base/obuf.h"
#include "base/utf8.h"
#include "encode/json.h"
#include "encode/prom.h"

/*
 * Append a label value escaped per the exposition format (\\, \", \n), with
 * invalid UTF-8 replaced by U+FFFD, which the parsers require.
 */
static void prom_label_value(struct obuf *b, const char *v)
{
	const unsigned char *s = (const unsigned char *)(v != NULL ? v : "");
	size_t n = strlen((const char *)s), i = 0, sz;

	while (i < n) {
		if (s[i] == '\\' || s[i] == '"') {
			obuf_addc(b, '\\');
			obuf_addc(b, (char)s[i++]);
		} else if (s[i] == '\n') {
			obuf_add(b, "\\n", 2);
			i++;
		} else if ((sz = utf8_seq_len(s + i, n - i)) == 0) {
			obuf_add(b, "\xef\xbf\xbd", 3);
			i++;
		} else {
			obuf_add(b, s + i, sz);
			i += sz;
		}
	}
}

/* Append {pid="N",comm="..."} for one process. */
static void prom_labels(struct obuf *b, const struct prom_proc *p)
{
	obuf_adds(b, "{pid=\"");
	obuf_u64(b, (unsigned long long)p->pid);
	obuf_adds(b, "\",comm=\"");
	prom_label_value(b, p->comm);
	obuf_adds(b, "\"}");
}

/* HELP and TYPE lines of a family. */
void prom_head(struct obuf *b, const char *name, const char *type, const char *help)
{
	obuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample without per-process labels: name{labels} v (labels NULL: none). */
void prom_u64(struct obuf *b, const char *name, const char *labels, unsigned long long v)
{
	obuf_adds(b, name);
	if (labels != NULL) {
		obuf_addc(b, '{');
		obuf_adds(b, labels);
		obuf_addc(b, '}');
	}
	obuf_addc(b, ' ');
	obuf_u64(b, v);
	obuf_addc(b, '\n');
}

/* Does name end with s? */
static int has_suffix(const char *name, const char *s)
{
	size_t n = strlen(name), k = strlen(s);

	return n >= k && strcmp(name + n - k, s) == 0;
}

/* The TYPE of a field: a counter without _total goes out as a gauge. */
static const char *prom_type(const char *kind, const char *name)
{
	if (strcmp(kind, "counter") == 0 && !has_suffix(name, "_total"))
		return "gauge";
	return kind;
}

/*
 * A sample value: Go's float formatting (as the JSON outputs), and NaN,
 * +Inf and -Inf as the text format writes them (a float copied from the
 * watched process may be any bits; JSON has no such values).
 */
static void prom_float(struct obuf *b, double f)
{
	if (isnan(f))
		obuf_adds(b, "NaN");
	else if (isinf(f))
		obuf_adds(b, f > 0 ? "+Inf" : "-Inf");
	else
		gojson_float(b, f);
}

/*
 * One family of a field at offset off: a float64 when is_f64, else a
 * uint64 (nanoseconds become seconds where the name says seconds).
 */
static void prom_family(struct obuf *b, const struct prom_proc *procs, size_t n, const char *name,
			const char *kind, const char *help, size_t off, int is_f64)
{
	int secs = has_suffix(name, "_seconds") || has_suffix(name, "_seconds_total");
	size_t i;

	prom_head(b, name, prom_type(kind, name), help);
	for (i = 0; i < n; i++) {
		unsigned long long v;
		double f;

		if (procs[i].ms == NULL)
			continue;
		obuf_adds(b, name);
		prom_labels(b, &procs[i]);
		obuf_addc(b, ' ');
		if (is_f64) {
			memcpy(&f, (const char *)procs[i].ms + off, sizeof f);
			prom_float(b, f);
		} else {
			memcpy(&v, (const char *)procs[i].ms + off, sizeof v);
			if (secs)
				gojson_float(b, (double)(v / 1000000000ULL) +
						    (double)(v % 1000000000ULL) / 1e9);
			else
				obuf_u64(b, v);
		}
		obuf_addc(b, '\n');
	}
}

#define PROM_OFF_(f) offsetof(struct gomem_memstats, f)
#define PROM_U64_(f, kind, name, help)                                                             \
	if ((name) != 0)                                                                           \
		prom_family(&b, procs, nprocs, (const char *)(name) + 0, #kind,                    \
			    (const char *)(help) + 0, PROM_OFF_(f), 0);
#define PROM_F64_(f, kind, name, help)                                                             \
	if ((name) != 0)                                                                           \
		prom_family(&b, procs, nprocs, (const char *)(name) + 0, #kind,                    \
			    (const char *)(help) + 0, PROM_OFF_(f), 1);
#define PROM_NONE1_(f)

char *prom_format(const struct prom_proc *procs, size_t nprocs, const struct prom_self *self,
		  size_t *len)
{
	struct obuf b;
	size_t i;
	unsigned int c;

	obuf_init(&b, 4096 + nprocs * 4096);

	GOMEM_MEMSTATS_GO_FIELDS(PROM_U64_, PROM_NONE1_, PROM_NONE1_, PROM_F64_, PROM_NONE1_,
				 PROM_NONE1_)
	GOMEM_MEMSTATS_EXTRA_FIELDS(PROM_U64_)

	prom_head(&b, "gomemd_process_info", "gauge",
		  "Where a watched process runs: executable, cgroup and systemd unit; always 1.");
	for (i = 0; i < nprocs; i++) {
		obuf_adds(&b, "gomemd_process_info{pid=\"");
		obuf_u64(&b, (unsigned long long)procs[i].pid);
		obuf_adds(&b, "\",comm=\"");
		prom_label_value(&b, procs[i].comm);
		obuf_adds(&b, "\",exe=\"");
		prom_label_value(&b, procs[i].exe);
		obuf_adds(&b, "\",unit=\"");
		prom_label_value(&b, procs[i].unit);
		obuf_adds(&b, "\",cgroup=\"");
		prom_label_value(&b, procs[i].cgroup);
		obuf_adds(&b, "\"} 1\n");
	}

	prom_head(&b, "gomemd_snapshot_age_seconds", "gauge",
		  "Seconds since the latest MemStats snapshot of the process was taken.");
	for (i = 0; i < nprocs; i++) {
		if (procs[i].ms == NULL)
			continue;
		obuf_adds(&b, "gomemd_snapshot_age_seconds");
		prom_labels(&b, &procs[i]);
		obuf_addc(&b, ' ');
		gojson_float(&b, procs[i].age_seconds < 0 ? 0 : procs[i].age_seconds);
		obuf_addc(&b, '\n');
	}

	prom_head(&b, "gomemd_process_resident_memory_bytes", "gauge",
		  "Resident memory of the watched process (VmRSS), in bytes.");
	for (i = 0; i < nprocs; i++) {
		if (procs[i].rss_bytes == 0)
			continue;
		obuf_adds(&b, "gomemd_process_resident_memory_bytes");
		prom_labels(&b, &procs[i]);
		obuf_addc(&b, ' ');
		obuf_u64(&b, procs[i].rss_bytes);
		obuf_addc(&b, '\n');
	}

	prom_head(&b, "gomemd_watched_processes", "gauge", "Processes gomemd currently watches.");
	obuf_printf(&b, "gomemd_watched_processes %zu\n", nprocs);
	prom_head(&b, "gomemd_events_received_total", "counter",
		  "Events (snapshots, samples) received from the BPF programs.");
	obuf_printf(&b, "gomemd_events_received_total %llu\n", self->events_received);
	prom_head(&b, "gomemd_events_dropped_total", "counter",
		  "Events lost between the BPF programs and gomemd, by reason.");
	obuf_printf(&b, "gomemd_events_dropped_total{reason=\"ringbuf\"} %llu\n",
		    self->dropped_ringbuf);
	obuf_printf(&b, "gomemd_events_dropped_total{reason=\"read\"} %llu\n", self->dropped_read);
	obuf_printf(&b, "gomemd_events_dropped_total{reason=\"watched\"} %llu\n",
		    self->dropped_watched);
	obuf_printf(&b, "gomemd_events_dropped_total{reason=\"rate\"} %llu\n", self->dropped_rate);
	if (self->bpf_map_bytes >= 0) {
		prom_head(&b, "gomemd_bpf_map_bytes", "gauge",
			  "Memory of the BPF maps and ring buffers gomemd loaded, in bytes.");
		obuf_printf(&b, "gomemd_bpf_map_bytes %lld\n", self->bpf_map_bytes);
	}
	prom_head(&b, "gomemd_sse_clients", "gauge",
		  "Connected /events (Server-Sent Events) clients.");
	obuf_printf(&b, "gomemd_sse_clients %u\n", self->sse_clients);
	prom_head(&b, "gomemd_sse_dropped_events_total", "counter",
		  "Events dropped from the queues of slow /events clients.");
	obuf_printf(&b, "gomemd_sse_dropped_events_total %llu\n", self->sse_dropped);

	prom_head(&b, "gomemd_http_requests_total", "counter",
		  "HTTP requests answered, by status code.");
	for (c = 0; c < PROM_HTTP_CODES; c++) {
		unsigned long long v = self->http_counts[c];

		if (v != 0)
			obuf_printf(&b, "gomemd_http_requests_total{code=\"%u\"} %llu\n", c + 100,
				    v);
	}
	return obuf_take(&b, len);
}
