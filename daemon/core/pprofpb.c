/*
 * pprofpb.c: the pprof heap profile from in-process tables (protobuf-c).
 *
 * See pprofpb.h.  The builder interns strings, functions (name, system
 * name, file) and locations (per process and address) in hash maps, and
 * keeps the generated protobuf-c messages in growable arrays that the
 * Profile message points into; finish packs and gzips them.
 */
#include "config.h"

#include "core/pprofpb.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/dwsym.h"
#include "core/procprof.h"
#include "core/profile.pb-c.h"

#define PPROF_MAX_SAMPLES ((size_t)4 << 20)

typedef Perftools__Profiles__Profile PbProfile;
typedef Perftools__Profiles__ValueType PbValueType;
typedef Perftools__Profiles__Sample PbSample;
typedef Perftools__Profiles__Label PbLabel;
typedef Perftools__Profiles__Mapping PbMapping;
typedef Perftools__Profiles__Location PbLocation;
typedef Perftools__Profiles__Line PbLine;
typedef Perftools__Profiles__Function PbFunction;

/* A growable array of pointers. */
struct vec {
	void **v;
	size_t n, cap;
};

/* An open-addressing map from a 64-bit hash plus an exact key to an id. */
struct map_ent {
	uint64_t h;
	uint64_t k[3]; /* the exact key */
	uint64_t id;   /* 0: empty */
};

struct map {
	struct map_ent *e;
	size_t n, cap;
};

struct pprof_builder {
	struct vec strs;      /* char *, [0] = "" */
	struct map strmap;    /* hash -> string index + 1 (key: the string itself, checked) */
	struct vec funcs;     /* PbFunction * */
	struct map funcmap;
	struct vec maps;      /* PbMapping * */
	struct vec locs;      /* PbLocation * */
	struct map locmap;
	struct vec samples;   /* PbSample * */
	unsigned nproc;
	uint64_t rate, lost, truncated;
	int64_t time_ns, duration_ns;
	bool full;
};

static void *
xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);

	if (p == NULL)
		abort();
	return p;
}

static void
vec_push(struct vec *v, void *p)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->v = realloc(v->v, v->cap * sizeof(void *));
		if (v->v == NULL)
			abort();
	}
	v->v[v->n++] = p;
}

static uint64_t
mix(uint64_t h, uint64_t x)
{
	h ^= x + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdu;
}

/* The entry for (h, k) in m: found (id != 0) or the empty slot for it. */
static struct map_ent *
map_slot(struct map *m, uint64_t h, const uint64_t k[3])
{
	size_t mask, i;

	if ((m->n + 1) * 2 > m->cap) {
		struct map_ent *old = m->e;
		size_t oldcap = m->cap, j;

		m->cap = oldcap ? oldcap * 2 : 256;
		m->e = xcalloc(m->cap, sizeof(*m->e));
		for (j = 0; j < oldcap; j++) {
			if (old[j].id == 0)
				continue;
			for (i = old[j].h & (m->cap - 1); m->e[i].id != 0; i = (i + 1) & (m->cap - 1))
				;
			m->e[i] = old[j];
		}
		free(old);
	}
	mask = m->cap - 1;
	for (i = h & mask; m->e[i].id != 0; i = (i + 1) & mask)
		if (m->e[i].h == h && memcmp(m->e[i].k, k, sizeof(m->e[i].k)) == 0)
			return &m->e[i];
	return &m->e[i];
}

static void
map_set(struct map *m, struct map_ent *e, uint64_t h, const uint64_t k[3], uint64_t id)
{
	e->h = h;
	memcpy(e->k, k, sizeof(e->k));
	e->id = id;
	m->n++;
}

/* ---- strings, functions ---- */

static int64_t
str_id(struct pprof_builder *b, const char *s)
{
	uint64_t h = 1469598103934665603u, k[3] = { 0, 0, 0 };
	struct map_ent *e;
	size_t len, i;

	if (s == NULL || s[0] == 0)
		return 0;
	len = strlen(s);
	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211u;
	k[0] = len;
	/* Probe until the slot's string really is s. */
	for (;; h = mix(h, 1)) {
		e = map_slot(&b->strmap, h, k);
		if (e->id == 0)
			break;
		if (strcmp(b->strs.v[e->id - 1], s) == 0)
			return (int64_t)e->id - 1;
	}
	vec_push(&b->strs, strdup(s));
	if (b->strs.v[b->strs.n - 1] == NULL)
		abort();
	map_set(&b->strmap, e, h, k, b->strs.n);
	return (int64_t)b->strs.n - 1;
}

static uint64_t
func_id(struct pprof_builder *b, const struct dwsym_frame *f)
{
	uint64_t k[3], h;
	struct map_ent *e;
	PbFunction *fn;

	k[0] = (uint64_t)str_id(b, f->function);
	k[1] = (uint64_t)str_id(b, f->system_name);
	k[2] = (uint64_t)str_id(b, f->file);
	h = mix(mix(mix(7, k[0]), k[1]), k[2]);
	e = map_slot(&b->funcmap, h, k);
	if (e->id != 0)
		return e->id;
	fn = xcalloc(1, sizeof(*fn));
	perftools__profiles__function__init(fn);
	fn->id = b->funcs.n + 1;
	fn->name = (int64_t)k[0];
	fn->system_name = (int64_t)k[1];
	fn->filename = (int64_t)k[2];
	vec_push(&b->funcs, fn);
	map_set(&b->funcmap, e, h, k, fn->id);
	return fn->id;
}

/* ---- mappings, locations ---- */

/*
 * Mapping ids of sym's modules (first id returned, one per module, in
 * order).  A process with none known (its symbols could not be opened) gets
 * one empty mapping that all its locations name, as Go's runtime/pprof
 * fakes one when it cannot read /proc/self/maps: pprof expects a mapping,
 * and some readers of the format fail on a location without one.
 */
static uint64_t
add_mappings(struct pprof_builder *b, struct dwsym_proc *sym, size_t *nmods,
	     const struct dwsym_module **mods)
{
	uint64_t first = b->maps.n + 1;
	size_t i;

	*nmods = sym != NULL ? dwsym_proc_modules(sym, mods) : 0;
	for (i = 0; i < *nmods || (i == 0 && *nmods == 0); i++) {
		PbMapping *m = xcalloc(1, sizeof(*m));

		perftools__profiles__mapping__init(m);
		m->id = b->maps.n + 1;
		if (*nmods != 0) {
			m->memory_start = (*mods)[i].start;
			m->memory_limit = (*mods)[i].end;
			m->file_offset = (*mods)[i].offset;
			m->filename = str_id(b, (*mods)[i].path);
			m->build_id = str_id(b, (*mods)[i].build_id);
		}
		vec_push(&b->maps, m);
	}
	return first;
}

static uint64_t
loc_id(struct pprof_builder *b, uint64_t pc, struct dwsym_proc *sym, uint64_t map0,
       const struct dwsym_module *mods, size_t nmods)
{
	uint64_t k[3] = { b->nproc, pc, 0 }, h = mix(mix(11, b->nproc), pc);
	const struct dwsym_loc *l;
	struct map_ent *e = map_slot(&b->locmap, h, k);
	PbLocation *loc;
	unsigned i;

	if (e->id != 0)
		return e->id;
	loc = xcalloc(1, sizeof(*loc));
	perftools__profiles__location__init(loc);
	loc->id = b->locs.n + 1;
	loc->address = pc;
	if (nmods == 0)
		loc->mapping_id = map0; /* the empty one (add_mappings) */
	if (sym != NULL) {
		l = dwsym_proc_lookup(sym, pc, true);
		/* a module the table lacks (mapped after add_mappings) gets no mapping */
		if (l->module != NULL && (size_t)(l->module - mods) < nmods) {
			PbMapping *m;

			loc->mapping_id = map0 + (uint64_t)(l->module - mods);
			m = b->maps.v[loc->mapping_id - 1];
			m->has_functions |= l->nframes > 0;
			m->has_filenames |= l->lines;
			m->has_line_numbers |= l->lines;
			m->has_inline_frames |= l->nframes > 1;
		}
		if (l->nframes > 0) {
			loc->n_line = l->nframes;
			loc->line = xcalloc(l->nframes, sizeof(PbLine *));
			for (i = 0; i < l->nframes; i++) {
				PbLine *ln = xcalloc(1, sizeof(*ln));

				perftools__profiles__line__init(ln);
				ln->function_id = func_id(b, &l->frames[i]);
				ln->line = l->frames[i].line;
				loc->line[i] = ln;
			}
		}
	}
	vec_push(&b->locs, loc);
	map_set(&b->locmap, e, h, k, loc->id);
	return loc->id;
}

/* ---- samples ---- */

/* Go's scaleHeapSample of (count, bytes) samples of size-byte blocks. */
static void
scale(int64_t count, int64_t bytes, uint64_t size, uint64_t rate, int64_t *oc, int64_t *ob)
{
	double s = 1;

	if (rate > 1 && size > 0)
		s = 1 / (1 - exp(-(double)size / (double)rate));
	*oc = (int64_t)((double)count * s);
	*ob = (int64_t)((double)bytes * s);
}

static PbLabel *
new_label(struct pprof_builder *b, const char *key, const char *str, int64_t num, const char *unit)
{
	PbLabel *l = xcalloc(1, sizeof(*l));

	perftools__profiles__label__init(l);
	l->key = str_id(b, key);
	if (str != NULL)
		l->str = str_id(b, str);
	else
		l->num = num;
	if (unit != NULL)
		l->num_unit = str_id(b, unit);
	return l;
}

struct pprof_builder *
pprof_builder_new(void)
{
	struct pprof_builder *b = xcalloc(1, sizeof(*b));

	vec_push(&b->strs, strdup(""));
	return b;
}

int
pprof_builder_add(struct pprof_builder *b, const struct procprof *p, const struct procprof *base,
		  struct dwsym_proc *sym, const struct pprof_label *labels, size_t nlabels)
{
	const struct dwsym_module *mods = NULL;
	size_t nmods, i, j;
	uint64_t map0;

	b->nproc++;
	/* Resolve first: an address in a library dlopen'ed since the process's
	 * symbols were opened adds that library, before the Mapping table. */
	for (i = 0; sym != NULL && i < p->nbuckets; i++)
		for (j = 0; j < p->buckets[i].depth; j++)
			(void)dwsym_proc_lookup(sym, p->buckets[i].pcs[j], true);
	map0 = add_mappings(b, sym, &nmods, &mods);
	if (b->rate == 0)
		b->rate = p->rate;
	b->lost += p->lost + p->lost_frees;
	b->truncated += p->truncated;
	if ((int64_t)p->read_ns > b->time_ns)
		b->time_ns = (int64_t)p->read_ns;
	if (base != NULL && p->read_ns > base->read_ns &&
	    (int64_t)(p->read_ns - base->read_ns) > b->duration_ns)
		b->duration_ns = (int64_t)(p->read_ns - base->read_ns);
	for (i = 0; i < p->nbuckets; i++) {
		const struct procprof_bucket *bk = &p->buckets[i], *old = procprof_then(p, base, i);
		int64_t ao = (int64_t)bk->alloc_objects, ab = (int64_t)bk->alloc_bytes;
		int64_t io = (int64_t)(bk->alloc_objects - bk->free_objects);
		int64_t ib = (int64_t)(bk->alloc_bytes - bk->free_bytes);
		PbSample *s;

		if (old != NULL) {
			ao -= (int64_t)old->alloc_objects;
			ab -= (int64_t)old->alloc_bytes;
			io -= (int64_t)(old->alloc_objects - old->free_objects);
			ib -= (int64_t)(old->alloc_bytes - old->free_bytes);
		}
		if (ao == 0 && ab == 0 && io == 0 && ib == 0)
			continue;
		if (b->samples.n == PPROF_MAX_SAMPLES) {
			b->full = true;
			break;
		}
		s = xcalloc(1, sizeof(*s));
		perftools__profiles__sample__init(s);
		s->n_value = 4;
		s->value = xcalloc(4, sizeof(int64_t));
		scale(ao, ab, bk->size, p->rate, &s->value[0], &s->value[1]);
		scale(io, ib, bk->size, p->rate, &s->value[2], &s->value[3]);
		s->n_location_id = bk->depth;
		s->location_id = xcalloc(bk->depth, sizeof(uint64_t));
		for (j = 0; j < bk->depth; j++)
			s->location_id[j] = loc_id(b, bk->pcs[j], sym, map0, mods, nmods);
		s->n_label = nlabels + 1;
		s->label = xcalloc(nlabels + 1, sizeof(PbLabel *));
		s->label[0] = new_label(b, "bytes", NULL, (int64_t)bk->size, "bytes");
		for (j = 0; j < nlabels; j++)
			s->label[j + 1] = new_label(b, labels[j].key, labels[j].str, labels[j].num, NULL);
		vec_push(&b->samples, s);
	}
	return b->full ? -1 : 0;
}

static PbValueType *
value_type(struct pprof_builder *b, const char *type, const char *unit)
{
	PbValueType *v = xcalloc(1, sizeof(*v));

	perftools__profiles__value_type__init(v);
	v->type = str_id(b, type);
	v->unit = str_id(b, unit);
	return v;
}

/* gzip in into a malloc'd buffer. */
static int
gzip(const unsigned char *in, size_t inlen, unsigned char **out, size_t *outlen)
{
	z_stream z;
	size_t cap = deflateBound(NULL, inlen) + 64;
	int rc;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	*out = malloc(cap);
	if (*out == NULL) {
		deflateEnd(&z);
		return -1;
	}
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)inlen;
	z.next_out = *out;
	z.avail_out = (uInt)cap;
	rc = deflate(&z, Z_FINISH);
	*outlen = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int
pprof_builder_finish(struct pprof_builder *b, unsigned char **out, size_t *len)
{
	PbProfile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
	PbValueType *types[4], *period;
	int64_t comments[3];
	unsigned char *raw;
	size_t n, nc = 0;
	char text[128];
	int rc;

	types[0] = value_type(b, "alloc_objects", "count");
	types[1] = value_type(b, "alloc_space", "bytes");
	types[2] = value_type(b, "inuse_objects", "count");
	types[3] = value_type(b, "inuse_space", "bytes");
	period = value_type(b, "space", "bytes");
	if (b->lost > 0) {
		snprintf(text, sizeof(text), "gomem: %llu samples lost", (unsigned long long)b->lost);
		comments[nc++] = str_id(b, text);
	}
	if (b->truncated > 0) {
		snprintf(text, sizeof(text), "gomem: %llu stacks truncated at %d frames",
			 (unsigned long long)b->truncated, GOMEM_PROFILE_MAX_DEPTH);
		comments[nc++] = str_id(b, text);
	}
	if (b->full)
		comments[nc++] = str_id(b, "gomem: samples cut at the encoder's limit");
	prof.drop_frames = str_id(b, PPROF_DROP_FRAMES);
	prof.n_sample_type = 4;
	prof.sample_type = types;
	prof.n_sample = b->samples.n;
	prof.sample = (PbSample **)b->samples.v;
	prof.n_mapping = b->maps.n;
	prof.mapping = (PbMapping **)b->maps.v;
	prof.n_location = b->locs.n;
	prof.location = (PbLocation **)b->locs.v;
	prof.n_function = b->funcs.n;
	prof.function = (PbFunction **)b->funcs.v;
	prof.n_string_table = b->strs.n;
	prof.string_table = (char **)b->strs.v;
	prof.time_nanos = b->time_ns;
	prof.duration_nanos = b->duration_ns;
	prof.period_type = period;
	prof.period = (int64_t)b->rate;
	prof.n_comment = nc;
	prof.comment = comments;
	n = perftools__profiles__profile__get_packed_size(&prof);
	raw = malloc(n ? n : 1);
	if (raw == NULL)
		abort();
	perftools__profiles__profile__pack(&prof, raw);
	rc = gzip(raw, n, out, len);
	free(raw);
	for (int i = 0; i < 4; i++)
		free(types[i]);
	free(period);
	return rc;
}

int
pprof_is_wrapper(const char *fn)
{
	static const char *const exact[] = {
		"malloc", "calloc", "realloc", "reallocarray", "free", "memalign",
		"posix_memalign", "aligned_alloc", "valloc", "pvalloc", "__libc_malloc",
		"__libc_calloc", "__libc_realloc", "__libc_free", "__libc_memalign",
		"__libc_valloc", "__libc_pvalloc", "strdup", "__strdup", "strndup", "__strndup",
	};
	size_t i;

	if (strncmp(fn, "operator new", 12) == 0 || strncmp(fn, "operator delete", 15) == 0 ||
	    strncmp(fn, "gomem_", 6) == 0 || strncmp(fn, "gm_", 3) == 0)
		return 1;
	for (i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (strcmp(fn, exact[i]) == 0)
			return 1;
	return 0;
}

void
pprof_builder_free(struct pprof_builder *b)
{
	size_t i, j;

	if (b == NULL)
		return;
	for (i = 0; i < b->samples.n; i++) {
		PbSample *s = b->samples.v[i];

		for (j = 0; j < s->n_label; j++)
			free(s->label[j]);
		free(s->label);
		free(s->value);
		free(s->location_id);
		free(s);
	}
	for (i = 0; i < b->locs.n; i++) {
		PbLocation *l = b->locs.v[i];

		for (j = 0; j < l->n_line; j++)
			free(l->line[j]);
		free(l->line);
		free(l);
	}
	for (i = 0; i < b->funcs.n; i++)
		free(b->funcs.v[i]);
	for (i = 0; i < b->maps.n; i++)
		free(b->maps.v[i]);
	for (i = 0; i < b->strs.n; i++)
		free(b->strs.v[i]);
	free(b->samples.v);
	free(b->locs.v);
	free(b->funcs.v);
	free(b->maps.v);
	free(b->strs.v);
	free(b->strmap.e);
	free(b->funcmap.e);
	free(b->locmap.e);
	free(b);
}
