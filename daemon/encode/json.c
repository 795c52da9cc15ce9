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

#include "base/log.h"
#include "base/utf8.h"
#include "base/xmalloc.h"
#include "encode/json.h"

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

/*
 * A snapshot as Go's runtime.MemStats JSON: Go's names in Go's order, then
 * "Extra" with our struct's additional fields; without the arrays (PauseNs,
 * PauseEnd, BySize) when arrays == 0, for the compact listing of many
 * processes.
 */
cJSON *
json_memstats(const struct gomem_memstats *m, int arrays)
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
