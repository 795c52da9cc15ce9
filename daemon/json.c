/*
 * json.c: JSON on top of cJSON.
 *
 * cJSON keeps numbers as doubles, which lose integers above 2^53; every
 * integer here is therefore written as a raw number node holding its exact
 * decimal text (json_u64).  Field lists come from the X-macros of
 * gomem_memstats.h, so the JSON cannot drift from the struct.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expvar.h"
#include "gomemd.h"

/* An exact unsigned integer. */
cJSON *
json_u64(uint64_t v)
{
	char buf[24];
	cJSON *n;

	snprintf(buf, sizeof buf, "%" PRIu64, v);
	n = cJSON_CreateRaw(buf);
	if (n == NULL)
		fatal("out of memory");
	return n;
}

/* An exact signed integer. */
cJSON *
json_i64(int64_t v)
{
	char buf[24];
	cJSON *n;

	snprintf(buf, sizeof buf, "%" PRId64, v);
	n = cJSON_CreateRaw(buf);
	if (n == NULL)
		fatal("out of memory");
	return n;
}

/*
 * A string of n bytes.  JSON text must be UTF-8 and cJSON copies bytes as
 * they are, so invalid sequences become U+FFFD as Go's encoding/json does:
 * one process named with a stray byte (comm, argv, cgroup) or a client's
 * malformed URL echoed in an error must not make the whole reply unparsable.
 */
cJSON *
json_string(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, k, o = 0;
	char *buf;
	cJSON *j;

	buf = xcalloc(n + 1, 3); /* each bad byte becomes 3; stops at a NUL */
	for (i = 0; i < n && s[i] != '\0'; i += k) {
		k = utf8_seq_len(u + i, n - i);
		if (k == 0) {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			k = 1;
		} else {
			memcpy(buf + o, s + i, k);
			o += k;
		}
	}
	j = cJSON_CreateString(buf);
	free(buf);
	if (j == NULL)
		fatal("out of memory");
	return j;
}

/* Add a C string member (see json_string). */
void
json_add_string(cJSON *o, const char *name, const char *s)
{
	cJSON_AddItemToObject(o, name, json_string(s, strlen(s)));
}

/* Add an exact unsigned integer member. */
void
json_add_u64(cJSON *o, const char *name, uint64_t v)
{
	cJSON_AddItemToObject(o, name, json_u64(v));
}

/* An array of exact integers. */
static cJSON *
json_u64_array(const unsigned long long *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(a, json_u64(v[i]));
	return a;
}

/* BySize as Go writes it: [{"Size":..,"Mallocs":..,"Frees":..}, ...]. */
static cJSON *
json_bysize(const struct gomem_bysize *b, size_t n)
{
	cJSON *a = cJSON_CreateArray(), *e;
	size_t i;

	for (i = 0; i < n; i++) {
		e = cJSON_CreateObject();
		json_add_u64(e, "Size", b[i].Size);
		json_add_u64(e, "Mallocs", b[i].Mallocs);
		json_add_u64(e, "Frees", b[i].Frees);
		cJSON_AddItemToArray(a, e);
	}
	return a;
}

/* Nanoseconds since the epoch as RFC 3339 UTC with milliseconds. */
static cJSON *
json_time(uint64_t ns)
{
	time_t s = (time_t)(ns / 1000000000ull);
	char buf[64], out[80];
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, sizeof out, "%s.%03uZ", buf, (unsigned)(ns % 1000000000ull / 1000000));
	return cJSON_CreateString(out);
}

/* The argument vector of a process as an array of strings. */
cJSON *
json_cmdline(const struct proc_info *info)
{
	cJSON *a = cJSON_CreateArray();
	size_t i = 0;

	while (i < info->cmdline_len) {
		const char *arg = info->cmdline + i;
		size_t n = strnlen(arg, info->cmdline_len - i);

		cJSON_AddItemToArray(a, json_string(arg, n));
		i += n + 1;
	}
	return a;
}

/* What gomemd knows about a process besides its snapshot. */
cJSON *
json_proc_info(const struct proc_info *info)
{
	cJSON *o = cJSON_CreateObject();

	json_add_u64(o, "Pid", (uint64_t)info->pid);
	json_add_string(o, "Comm", info->comm);
	cJSON_AddItemToObject(o, "Cmdline", json_cmdline(info));
	cJSON_AddItemToObject(o, "StartTime", json_time(info->start_time_ns));
	json_add_u64(o, "StartTimeNs", info->start_time_ns);
	json_add_string(o, "Library", info->library);
	json_add_string(o, "Version", info->version);
	json_add_string(o, "Cgroup", info->cgroup);
	json_add_string(o, "Unit", info->unit);
	cJSON_AddBoolToObject(o, "HasSnapshot", info->have_snap);
	json_add_u64(o, "SnapshotAgeMs", info->snap_age_ns / 1000000);
	json_add_u64(o, "Snapshots", info->snaps);
	json_add_u64(o, "RSS", info->rss_bytes);
	cJSON_AddBoolToObject(o, "Exited", info->exited);
	json_add_u64(o, "ExitedAgeMs", info->exited_age_ns / 1000000);
	cJSON_AddBoolToObject(o, "AttachedByPid", info->attached_pid);
	json_add_u64(o, "ScavengeEvents", info->scavenge_events);
	json_add_u64(o, "ScavengeEventBytes", info->scavenge_bytes);
	json_add_u64(o, "ArenaGrowEvents", info->arena_grows);
	json_add_u64(o, "ArenaGrowBytes", info->arena_bytes);
	return o;
}

/* Add what gomemd knows about a snapshot's process to an "Extra" object. */
void
json_daemon_extra(cJSON *x, const struct proc_info *info)
{
	json_add_string(x, "Comm", info->comm);
	json_add_u64(x, "RSS", info->rss_bytes);
	json_add_u64(x, "SnapshotAgeMs", info->snap_age_ns / 1000000);
	json_add_u64(x, "SnapshotAgeNs", info->snap_age_ns);
	json_add_u64(x, "Snapshots", info->snaps);
	json_add_string(x, "Version", info->version);
	json_add_string(x, "Library", info->library);
	cJSON_AddBoolToObject(x, "Exited", info->exited);
}

/*
 * A snapshot as Go's runtime.MemStats JSON: Go's names in Go's order, then
 * "Extra" with our struct's additional fields and, when info is given, what
 * gomemd adds (RSS, snapshot age, identity).
 */
cJSON *
json_memstats(const struct gomem_memstats *m, const struct proc_info *info)
{
	return json_memstats_opt(m, info, 1);
}

/*
 * As json_memstats; without arrays (PauseNs, PauseEnd, BySize) when
 * arrays == 0, for the compact listing of many processes.
 */
cJSON *
json_memstats_opt(const struct gomem_memstats *m, const struct proc_info *info, int arrays)
{
	cJSON *o = cJSON_CreateObject(), *x;

#define J_U64(n, ...) json_add_u64(o, #n, m->n);
#define J_U64A(n)                                                                          \
	if (arrays)                                                                        \
		cJSON_AddItemToObject(o, #n, json_u64_array(m->n, GOMEM_NUM_PAUSE));
#define J_U32(n) json_add_u64(o, #n, m->n);
#define J_F64(n, ...) cJSON_AddNumberToObject(o, #n, m->n);
#define J_BOOL(n) cJSON_AddBoolToObject(o, #n, m->n != 0);
#define J_BYSZ(n)                                                                          \
	if (arrays)                                                                        \
		cJSON_AddItemToObject(o, #n, json_bysize(m->n, GOMEM_NUM_BYSIZE));
	GOMEM_MEMSTATS_GO_FIELDS(J_U64, J_U64A, J_U32, J_F64, J_BOOL, J_BYSZ)

	x = cJSON_CreateObject();
#undef J_U64
#define J_U64(n, ...) json_add_u64(x, #n, m->n);
	GOMEM_MEMSTATS_EXTRA_FIELDS(J_U64)
#undef J_U64
#undef J_U64A
#undef J_U32
#undef J_F64
#undef J_BOOL
#undef J_BYSZ
	json_add_u64(x, "StructSize", m->size);
	json_add_u64(x, "StructVersion", m->version);
	if (info != NULL)
		json_daemon_extra(x, info);
	cJSON_AddItemToObject(o, "Extra", x);
	return o;
}

/* Print compactly; dies on out of memory. */
char *
json_print(const cJSON *root)
{
	char *s = cJSON_PrintBuffered(root, 8192, 0);

	if (s == NULL)
		fatal("out of memory");
	return s;
}
