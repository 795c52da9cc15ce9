/*
 * flame.c: the dashboard's flame graph data.
 *
 *   GET /profile/flame?pid=N[&seconds=S][&nodes=M]
 *
 * A call tree in JSON, built from the very profile /debug/pprof/heap
 * serves for pid (core/profile.h: the live table, or an ended process's
 * last profile from the state directory): the gzipped profile.proto is
 * inflated (bounded), unpacked with protobuf-c, and each sample's stack is
 * merged into the tree root first, inlined frames expanded, with the
 * allocator and its wrappers cut off as pprof's drop_frames does
 * (core/pprofpb.h's list).  Every node carries the four values of Go's heap
 * profile (alloc_objects, alloc_space, inuse_objects, inuse_space), so the
 * dashboard switches between them without asking again.
 *
 * The tree is bounded: at most `nodes` nodes (default FLAME_NODES, at most
 * FLAME_NODES_MAX) are sent, the biggest by their share of any of the four
 * totals; a node's value still counts what was cut below it, so the shown
 * widths stay true.  Delta values (?seconds=S) below zero count as zero.
 *
 *   {"Pid":N, "Rate":R, "Seconds":S, "Nodes":kept, "TotalNodes":all,
 *    "Types":["alloc_objects","alloc_space","inuse_objects","inuse_space"],
 *    "Frames":[["root",-1,ao,as,io,is], ["main",0,ao,as,io,is], ...]}
 *
 * Frames lists the kept nodes depth first, each as [name, index of its
 * parent in Frames, the four values]; the root comes first.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>
#include <zlib.h>

#include "base/obuf.h"
#include "base/u64map.h"
#include "base/xmalloc.h"
#include "core/pprofpb.h"
#include "core/profile.h"
#include "core/profile.pb-c.h"
#include "encode/json.h"
#include "http/reply.h"
#include "routes/routes.h"

#define FLAME_NODES	 3000
#define FLAME_NODES_MAX	 20000
#define FLAME_MAX_RAW	 ((size_t)64 << 20) /* inflated profile */
#define FLAME_MAX_FRAMES 1024		    /* per sample, inlined frames included */
#define FLAME_MAX_NAME	 400		    /* bytes of a frame name sent */

typedef Perftools__Profiles__Profile PbProfile;
typedef Perftools__Profiles__Location PbLocation;
typedef Perftools__Profiles__Function PbFunction;

static const char *const flame_types[4] = {"alloc_objects", "alloc_space", "inuse_objects",
					   "inuse_space"};

struct fnode {
	uint32_t name;		      /* index into flame.names */
	uint32_t parent, child, next; /* child/next: first child, next sibling (0: none) */
	uint32_t depth;
	int64_t v[4];
};

struct flame {
	const PbProfile *prof;
	const char **names; /* the string table, then address names */
	signed char *wrap;  /* per name: pprof_is_wrapper(), -1 not asked yet */
	size_t nnames, capnames;
	char **owned; /* address names made here */
	size_t nowned;
	struct fnode *nodes; /* [0] is the root */
	size_t n, cap;
	struct u64map kids;  /* (parent + 1) << 32 | name -> node */
	struct u64map locs;  /* location id -> index in prof->location */
	struct u64map funcs; /* function id -> index in prof->function */
	struct u64map addrs; /* address -> its name, for frames without a function */
};

/* Inflate a gzip stream of at most max bytes into a malloc'd buffer. */
static int gunzip(const void *in, size_t len, size_t max, unsigned char **out, size_t *outlen)
{
	z_stream z;
	size_t cap = len * 4 + 4096;
	unsigned char *buf;
	int rc;

	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, 15 + 16) != Z_OK)
		return -1;
	if (cap > max)
		cap = max;
	buf = xcalloc(1, cap);
	z.next_in = (unsigned char *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	for (;;) {
		z.next_out = buf + z.total_out;
		z.avail_out = (uInt)(cap - z.total_out);
		rc = inflate(&z, Z_NO_FLUSH);
		if (rc == Z_STREAM_END)
			break;
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			goto bad;
		if (z.avail_out == 0) {
			if (cap >= max)
				goto bad; /* bigger than we take */
			cap = cap * 2 > max ? max : cap * 2;
			buf = xrealloc(buf, cap);
		} else if (z.avail_in == 0) {
			goto bad; /* truncated */
		}
	}
	*out = buf;
	*outlen = z.total_out;
	inflateEnd(&z);
	return 0;
bad:
	inflateEnd(&z);
	free(buf);
	return -1;
}

static const char *pstr(const PbProfile *p, int64_t i)
{
	return i >= 0 && (size_t)i < p->n_string_table ? p->string_table[i] : "";
}

static uint32_t add_name(struct flame *f, const char *s)
{
	if (f->nnames == f->capnames) {
		f->capnames = f->capnames ? f->capnames * 2 : 64;
		f->names = xrealloc(f->names, f->capnames * sizeof(*f->names));
		f->wrap = xrealloc(f->wrap, f->capnames * sizeof(*f->wrap));
	}
	f->names[f->nnames] = s;
	f->wrap[f->nnames] = -1;
	return (uint32_t)f->nnames++;
}

/* The name index of an address without a function. */
static uint32_t addr_name(struct flame *f, uint64_t addr)
{
	uint32_t i;
	char *s;

	if (u64map_get(&f->addrs, addr + 1, &i))
		return i;
	xasprintf(&s, "0x%llx", (unsigned long long)addr);
	if ((f->nowned & (f->nowned - 1)) == 0) /* grow at powers of two */
		f->owned = xrealloc(f->owned, (f->nowned ? 2 * f->nowned : 1) * sizeof(*f->owned));
	f->owned[f->nowned++] = s;
	i = add_name(f, s);
	u64map_put(&f->addrs, addr + 1, i);
	return i;
}

/* The child of node `parent` named `name`, made if new. */
static uint32_t child_of(struct flame *f, uint32_t parent, uint32_t name)
{
	uint64_t key = ((uint64_t)parent + 1) << 32 | name;
	struct fnode *c;
	uint32_t i;

	if (u64map_get(&f->kids, key, &i))
		return i;
	if (f->n == f->cap) {
		f->cap *= 2;
		f->nodes = xrealloc(f->nodes, f->cap * sizeof(*f->nodes));
	}
	i = (uint32_t)f->n++;
	c = &f->nodes[i];
	memset(c, 0, sizeof *c);
	c->name = name;
	c->parent = parent;
	c->depth = f->nodes[parent].depth + 1;
	c->next = f->nodes[parent].child;
	f->nodes[parent].child = i;
	u64map_put(&f->kids, key, i);
	return i;
}

/* Name i is one of the allocator's frames (asked once per name: stacks repeat). */
static bool is_wrapper(struct flame *f, uint32_t i)
{
	if (f->wrap[i] < 0)
		f->wrap[i] = (signed char)(pprof_is_wrapper(f->names[i]) != 0);
	return f->wrap[i] != 0;
}

/*
 * The frames of one sample, root first, as name indexes; the allocator's
 * frames below the first frame of the program are cut (pprof's Prune with
 * drop_frames).  Returns the count.
 */
static size_t sample_frames(struct flame *f, const Perftools__Profiles__Sample *s, uint32_t *fr)
{
	const PbProfile *p = f->prof;
	size_t n = 0, i, k;
	bool user = false;

	for (i = s->n_location_id; i-- > 0 && n < FLAME_MAX_FRAMES;) {
		const PbLocation *l;
		uint32_t li;

		if (!u64map_get(&f->locs, s->location_id[i] + 1, &li))
			continue;
		l = p->location[li];
		if (l->n_line == 0) {
			fr[n++] = addr_name(f, l->address);
			continue;
		}
		/* line[0] is the innermost inlined frame: the caller comes last */
		for (k = l->n_line; k-- > 0 && n < FLAME_MAX_FRAMES;) {
			uint32_t fi;
			int64_t nm;

			nm = u64map_get(&f->funcs, l->line[k]->function_id + 1, &fi)
				 ? p->function[fi]->name
				 : 0;
			/* the string table comes first in f->names; "" is string 0 */
			if (nm > 0 && (size_t)nm < p->n_string_table)
				fr[n++] = (uint32_t)nm;
			else
				fr[n++] = addr_name(f, l->address);
		}
	}
	for (i = 0; i < n; i++) {
		if (!is_wrapper(f, fr[i])) {
			user = true;
		} else if (user) {
			n = i;
			break;
		}
	}
	return n;
}

/* The four value columns of the profile's sample types, -1 where absent. */
static void value_columns(const PbProfile *p, int col[4])
{
	size_t i;
	int k;

	for (k = 0; k < 4; k++) {
		col[k] = -1;
		for (i = 0; i < p->n_sample_type; i++)
			if (strcmp(pstr(p, p->sample_type[i]->type), flame_types[k]) == 0)
				col[k] = (int)i;
	}
}

static void flame_build(struct flame *f)
{
	const PbProfile *p = f->prof;
	uint32_t *fr = xcalloc(FLAME_MAX_FRAMES, sizeof(*fr));
	int col[4];
	size_t i, j, n;

	for (i = 0; i < p->n_string_table; i++)
		add_name(f, p->string_table[i]);
	for (i = 0; i < p->n_location; i++)
		u64map_put(&f->locs, p->location[i]->id + 1, (uint32_t)i);
	for (i = 0; i < p->n_function; i++)
		u64map_put(&f->funcs, p->function[i]->id + 1, (uint32_t)i);
	f->cap = 1024;
	f->nodes = xcalloc(f->cap, sizeof(*f->nodes));
	f->n = 1;
	f->nodes[0].name = add_name(f, "root");
	value_columns(p, col);
	for (i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];
		int64_t v[4];
		uint32_t at = 0;
		int k;

		for (k = 0; k < 4; k++) {
			v[k] = col[k] >= 0 && (size_t)col[k] < s->n_value ? s->value[col[k]] : 0;
			if (v[k] < 0)
				v[k] = 0;
		}
		if (v[0] == 0 && v[1] == 0 && v[2] == 0 && v[3] == 0)
			continue;
		n = sample_frames(f, s, fr);
		for (k = 0; k < 4; k++)
			f->nodes[0].v[k] += v[k];
		for (j = 0; j < n; j++) {
			at = child_of(f, at, fr[j]);
			for (k = 0; k < 4; k++)
				f->nodes[at].v[k] += v[k];
		}
	}
	free(fr);
}

static void flame_free(struct flame *f)
{
	size_t i;

	for (i = 0; i < f->nowned; i++)
		free(f->owned[i]);
	free(f->owned);
	free(f->names);
	free(f->wrap);
	free(f->nodes);
	u64map_free(&f->kids);
	u64map_free(&f->locs);
	u64map_free(&f->funcs);
	u64map_free(&f->addrs);
}

/* A node's weight for the cut: its biggest share of any of the four totals. */
static double share(const struct flame *f, uint32_t i)
{
	double best = 0;
	int k;

	for (k = 0; k < 4; k++) {
		double t = (double)f->nodes[0].v[k];

		if (t > 0 && (double)f->nodes[i].v[k] / t > best)
			best = (double)f->nodes[i].v[k] / t;
	}
	return best;
}

struct rank {
	double share;
	uint32_t depth, node;
};

static int cmp_rank(const void *a, const void *b)
{
	const struct rank *x = a, *y = b;

	if (x->share != y->share)
		return x->share < y->share ? 1 : -1;
	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	return x->node < y->node ? -1 : x->node > y->node;
}

/*
 * Mark the `want` biggest nodes.  A node's values are at least its
 * children's, and ties go to the shallower node, so a kept node's parent is
 * kept too.
 */
static size_t flame_keep(const struct flame *f, size_t want, bool *keep)
{
	struct rank *r = xcalloc(f->n, sizeof(*r));
	size_t i, n = f->n < want ? f->n : want;

	for (i = 0; i < f->n; i++) {
		r[i].share = share(f, (uint32_t)i);
		r[i].depth = f->nodes[i].depth;
		r[i].node = (uint32_t)i;
	}
	qsort(r, f->n, sizeof(*r), cmp_rank);
	for (i = 0; i < n; i++)
		keep[r[i].node] = true;
	free(r);
	keep[0] = true;
	return n;
}

/*
 * The kept nodes, depth first from the root, as a flat array (the JSON
 * encoder bounds nesting, and stacks go deeper): each node names its
 * parent by index in the array; the root is first, with parent -1.
 */
static void flame_json(const struct flame *f, const bool *keep, struct json *j)
{
	uint32_t *stack = xcalloc(f->n + 1, sizeof(*stack));
	uint32_t *out = xcalloc(f->n, sizeof(*out)); /* node -> its index in the array */
	size_t sp = 0, at = 0;

	json_array(j);
	stack[sp++] = 0;
	while (sp > 0) {
		uint32_t i = stack[--sp], c;
		const struct fnode *nd = &f->nodes[i];
		const char *name = f->names[nd->name];
		int k;

		out[i] = (uint32_t)at++;
		json_array(j);
		json_str(j, name, strnlen(name, FLAME_MAX_NAME));
		if (i == 0)
			json_raw(j, "-1", 2);
		else
			json_u64(j, out[nd->parent]);
		for (k = 0; k < 4; k++)
			json_u64(j, (uint64_t)nd->v[k]);
		json_end(j);
		for (c = nd->child; c != 0; c = f->nodes[c].next)
			if (keep[c])
				stack[sp++] = c;
	}
	json_end(j);
	free(out);
	free(stack);
}

/* ?name= as a number in 1..max, def when absent; -1 when it replied. */
static int num_arg(struct http_req *req, const char *name, unsigned long def, unsigned long max,
		   unsigned long *out, int *ret)
{
	const char *s = http_arg(req, name);
	char *end;

	*out = def;
	if (s == NULL)
		return 0;
	*out = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || *out == 0 || *out > max) {
		*ret = http_reply_error(req, MHD_HTTP_BAD_REQUEST,
					"malformed %s \"%.32s\" (1..%lu)", name, s, max);
		return -1;
	}
	return 0;
}

/*
 * The flame tree of a gzipped profile.proto: "Rate", "Nodes", "TotalNodes",
 * "Types" and "Frames" into j's open object.  0, or -1 with nothing written
 * when gz does not inflate (within FLAME_MAX_RAW) or decode.
 */
int flame_encode(const void *gz, size_t len, size_t max_nodes, struct json *j)
{
	unsigned char *raw = NULL;
	size_t rawlen = 0, kept;
	PbProfile *prof;
	struct flame f;
	bool *keep;

	if (gunzip(gz, len, FLAME_MAX_RAW, &raw, &rawlen) != 0)
		return -1;
	prof = perftools__profiles__profile__unpack(NULL, rawlen, raw);
	free(raw);
	if (prof == NULL)
		return -1;
	memset(&f, 0, sizeof f);
	f.prof = prof;
	flame_build(&f);
	keep = xcalloc(f.n, sizeof(*keep));
	kept = flame_keep(&f, max_nodes, keep);
	json_kv_u64(j, "Rate", (uint64_t)(prof->period > 0 ? prof->period : 0));
	json_kv_u64(j, "Nodes", kept);
	json_kv_u64(j, "TotalNodes", f.n);
	json_key(j, "Types");
	json_array(j);
	for (int k = 0; k < 4; k++)
		json_cstr(j, flame_types[k]);
	json_end(j);
	json_key(j, "Frames");
	flame_json(&f, keep, j);
	free(keep);
	flame_free(&f);
	perftools__profiles__profile__free_unpacked(prof, NULL);
	return 0;
}

/* GET /profile/flame. */
int flame_http(struct http_req *req)
{
	unsigned long nodes, secs = 0;
	char *gz = NULL;
	size_t gzlen = 0;
	struct obuf b;
	struct json j;
	int pid, ret;

	if (http_pid_arg(req, 1, &pid, &ret) < 0)
		return ret;
	if (num_arg(req, "nodes", FLAME_NODES, FLAME_NODES_MAX, &nodes, &ret) < 0)
		return ret;
	if (http_arg(req, "seconds") != NULL && num_arg(req, "seconds", 0, 86400, &secs, &ret) < 0)
		return ret;
	if (profile_pprof(pid, (unsigned)secs, &gz, &gzlen) != 0)
		return http_reply_error(req, MHD_HTTP_NOT_FOUND, "no heap profile of process %d",
					pid);
	obuf_init(&b, 4096 + nodes * 64);
	json_init(&j, &b);
	json_object(&j);
	json_kv_u64(&j, "Pid", (uint64_t)pid);
	json_kv_u64(&j, "Seconds", secs);
	ret = flame_encode(gz, gzlen, nodes, &j);
	free(gz);
	if (ret != 0) {
		obuf_free(&b);
		return http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
					"the profile of process %d does not decode", pid);
	}
	json_end(&j);
	return http_reply_json(req, MHD_HTTP_OK, &b);
}
