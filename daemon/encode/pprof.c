/*
 * pprof.c: profile.proto encoder (see pprof.h).
 *
 * Field numbers from google/pprof proto/profile.proto.  Sub-messages are
 * encoded into a scratch buffer first and then written with their length.
 * Strings are interned in a small open-addressing table so that each is
 * written once to string_table, whose index 0 is "".
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "encode/pprof.h"

/* Profile */
enum {
	P_SAMPLE_TYPE = 1,
	P_SAMPLE = 2,
	P_MAPPING = 3,
	P_LOCATION = 4,
	P_FUNCTION = 5,
	P_STRING_TABLE = 6,
	P_TIME_NANOS = 9,
	P_PERIOD_TYPE = 11,
	P_PERIOD = 12,
};
/* ValueType: 1 type, 2 unit.  Sample: 1 location_id, 2 value, 3 label.
 * Label: 1 key, 2 str, 3 num, 4 num_unit.  Mapping: 1 id, 2 memory_start,
 * 3 memory_limit, 4 file_offset, 5 filename, 6 build_id, 7 has_functions.
 * Location: 1 id, 2 mapping_id, 3 address, 4 line.  Line: 1 function_id.
 * Function: 1 id, 2 name, 3 system_name. */

void pb_varint(struct obuf *b, uint64_t v)
{
	unsigned char buf[10];
	size_t n = 0;

	while (v >= 0x80) {
		buf[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	buf[n++] = (unsigned char)v;
	obuf_add(b, buf, n);
}

static void pb_key(struct obuf *b, unsigned field, unsigned wire)
{
	pb_varint(b, (uint64_t)field << 3 | wire);
}

void pb_uint(struct obuf *b, unsigned field, uint64_t v)
{
	if (v == 0)
		return;
	pb_key(b, field, 0);
	pb_varint(b, v);
}

void pb_bytes(struct obuf *b, unsigned field, const void *p, size_t n)
{
	pb_key(b, field, 2);
	pb_varint(b, n);
	obuf_add(b, p, n);
}

/* Append a finished sub-message and reset the scratch buffer. */
static void pb_sub(struct obuf *b, unsigned field, struct obuf *sub)
{
	pb_bytes(b, field, sub->data, sub->len);
	sub->len = 0;
}

/* ---- string table ---- */

struct strtab {
	const char **v; /* in index order */
	size_t n, cap;
	uint32_t *slots; /* index + 1, 0 empty */
	size_t nslots;
};

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void strtab_grow(struct strtab *t)
{
	size_t i, ns = t->nslots ? 2 * t->nslots : 256;
	uint32_t *s = calloc(ns, sizeof *s);

	if (s == NULL)
		abort();
	for (i = 0; i < t->n; i++) {
		size_t j = (size_t)str_hash(t->v[i]) & (ns - 1);

		while (s[j] != 0)
			j = (j + 1) & (ns - 1);
		s[j] = (uint32_t)(i + 1);
	}
	free(t->slots);
	t->slots = s;
	t->nslots = ns;
}

/* The index of s, added if new. */
static uint64_t strtab_id(struct strtab *t, const char *s)
{
	size_t j;

	if (s == NULL)
		s = "";
	if (2 * (t->n + 1) > t->nslots)
		strtab_grow(t);
	for (j = (size_t)str_hash(s) & (t->nslots - 1); t->slots[j] != 0;
	     j = (j + 1) & (t->nslots - 1))
		if (strcmp(t->v[t->slots[j] - 1], s) == 0)
			return t->slots[j] - 1;
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->v = realloc(t->v, t->cap * sizeof *t->v);
		if (t->v == NULL)
			abort();
	}
	t->v[t->n] = s;
	t->slots[j] = (uint32_t)(t->n + 1);
	return t->n++;
}

static void value_type(struct obuf *b, unsigned field, struct obuf *sub, struct strtab *st,
		       const char *type, const char *unit)
{
	pb_uint(sub, 1, strtab_id(st, type));
	pb_uint(sub, 2, strtab_id(st, unit));
	pb_sub(b, field, sub);
}

int pprof_encode_heap(const struct pprof_heap *h, struct obuf *out)
{
	struct strtab st = {0};
	struct obuf sub, pk;
	uint64_t bytes_key;
	size_t i, j;

	obuf_init(&sub, 256);
	obuf_init(&pk, 256);
	strtab_id(&st, ""); /* string_table[0] must be "" */

	value_type(out, P_SAMPLE_TYPE, &sub, &st, "alloc_objects", "count");
	value_type(out, P_SAMPLE_TYPE, &sub, &st, "alloc_space", "bytes");
	value_type(out, P_SAMPLE_TYPE, &sub, &st, "inuse_objects", "count");
	value_type(out, P_SAMPLE_TYPE, &sub, &st, "inuse_space", "bytes");
	bytes_key = strtab_id(&st, "bytes");

	for (i = 0; i < h->nsamples; i++) {
		const struct pprof_sample *s = &h->samples[i];

		for (j = 0; j < s->nlocs; j++)
			pb_varint(&pk, (uint64_t)s->locs[j] + 1);
		if (pk.len > 0)
			pb_bytes(&sub, 1, pk.data, pk.len); /* packed location_id */
		pk.len = 0;
		for (j = 0; j < 4; j++)
			pb_varint(&pk, (uint64_t)s->values[j]);
		pb_bytes(&sub, 2, pk.data, pk.len); /* packed value */
		pk.len = 0;
		if (s->bytes != 0) {
			pb_uint(&pk, 1, bytes_key);
			pb_uint(&pk, 3, (uint64_t)s->bytes);
			pb_bytes(&sub, 3, pk.data, pk.len); /* label */
			pk.len = 0;
		}
		pb_sub(out, P_SAMPLE, &sub);
	}
	for (i = 0; i < h->nmappings; i++) {
		const struct pprof_mapping *m = &h->mappings[i];

		pb_uint(&sub, 1, i + 1);
		pb_uint(&sub, 2, m->start);
		pb_uint(&sub, 3, m->limit);
		pb_uint(&sub, 4, m->offset);
		pb_uint(&sub, 5, strtab_id(&st, m->file));
		pb_uint(&sub, 6, strtab_id(&st, m->build_id));
		pb_uint(&sub, 7, m->has_functions ? 1 : 0);
		pb_sub(out, P_MAPPING, &sub);
	}
	for (i = 0; i < h->nlocations; i++) {
		const struct pprof_location *l = &h->locations[i];

		pb_uint(&sub, 1, i + 1);
		pb_uint(&sub, 2, (uint64_t)l->mapping + 1);
		pb_uint(&sub, 3, l->address);
		if (l->function >= 0) {
			pb_uint(&pk, 1, (uint64_t)l->function + 1);
			pb_bytes(&sub, 4, pk.data, pk.len); /* line */
			pk.len = 0;
		}
		pb_sub(out, P_LOCATION, &sub);
	}
	for (i = 0; i < h->nfunctions; i++) {
		uint64_t name = strtab_id(&st, h->functions[i]);

		pb_uint(&sub, 1, i + 1);
		pb_uint(&sub, 2, name);
		pb_uint(&sub, 3, name);
		pb_sub(out, P_FUNCTION, &sub);
	}
	pb_uint(out, P_TIME_NANOS, (uint64_t)h->time_nanos);
	value_type(out, P_PERIOD_TYPE, &sub, &st, "space", "bytes");
	pb_uint(out, P_PERIOD, h->period);
	for (i = 0; i < st.n; i++)
		pb_bytes(out, P_STRING_TABLE, st.v[i], strlen(st.v[i]));

	free(st.v);
	free(st.slots);
	obuf_free(&sub);
	obuf_free(&pk);
	return out->bad ? -1 : 0;
}

int pprof_gzip(const void *in, size_t n, char **out, size_t *outlen)
{
	z_stream z;
	size_t cap = compressBound((uLong)n) + 64;
	char *buf = malloc(cap);
	int rc;

	if (buf == NULL)
		return -1;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK) {
		free(buf);
		return -1;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = (Bytef *)buf;
	z.avail_out = (uInt)cap;
	rc = deflate(&z, Z_FINISH);
	*outlen = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(buf);
		return -1;
	}
	*out = buf;
	return 0;
}

void pprof_scale(uint64_t count, uint64_t bytes, uint64_t rate, int64_t *count_out,
		 int64_t *bytes_out)
{
	double avg, scale;

	if (count == 0 || bytes == 0 || rate <= 1) {
		*count_out = (int64_t)count;
		*bytes_out = (int64_t)bytes;
		return;
	}
	avg = (double)bytes / (double)count;
	scale = 1 / (1 - exp(-avg / (double)rate));
	*count_out = (int64_t)((double)count * scale);
	*bytes_out = (int64_t)((double)bytes * scale);
}
