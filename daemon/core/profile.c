/*
 * profile.c: per-process heap profiles from allocation samples (see
 * profile.h).  routes/heapprof.c serves them.
 *
 * Data per process (struct prof):
 *   locs     one per distinct PC: mapping, function (symbolized once)
 *   maps     the pprof mappings the locations use (copied out of
 *            /proc/PID/maps, so they outlive the process)
 *   funcs    function names, interned
 *   stacks   buckets keyed by (location list, block size), as Go's
 *            memprofile; raw counts: alloc_n/alloc_b, inuse_n/inuse_b
 *   live     sampled blocks not yet freed: ptr -> (bucket, size)
 * Leading frames inside the allocator (libgomem's mapping, or malloc-family
 * and gm_* functions) are trimmed, so a bucket's leaf is the caller of
 * malloc, as the leaf of a Go heap profile is the caller of new.
 *
 * Lifetime: a profile is created by its first sample, marked exited by the
 * exit record or the sweep, and dropped by profile_sweep() once the process
 * is gone and the process table no longer has it (after the grace period).
 * A sample for an exited profile means the pid was reused: start afresh.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/pidmap.h"
#include "base/procfs.h"
#include "base/u64map.h"
#include "base/xmalloc.h"
#include "core/proc.h"
#include "core/profile.h"
#include "core/symbolize.h"
#include "encode/pprof.h"

#define MAX_MAPS 4096

/* ---- the profiles ---- */

struct pmap {
	uint64_t start, limit, offset;
	char *path;
	char *build_id;
	int has_functions;
	int allocator; /* libgomem itself: its frames are trimmed */
};

struct ploc {
	uint64_t pc;
	uint32_t map;
	int32_t func;  /* -1: no symbol */
	int allocator; /* in the allocator (trimmed when leading) */
	int pending;   /* its file's symbols were still being loaded */
};

struct pstack {
	uint32_t *locs;
	uint32_t nlocs;
	uint64_t size;		   /* block size of this bucket */
	uint64_t alloc_n, inuse_n; /* samples; bytes are n * size */
};

struct plive {
	uint64_t ptr; /* 0: free slot (next free in stack) */
	uint32_t stack;
};

struct prof {
	struct pidmap_node node; /* first: the store's link, keyed by pid */
	int pid;
	uint64_t start_ticks;
	int exited;
	uint64_t rate;
	uint64_t samples, frees;
	struct sym_maps sym;
	int sym_loaded;
	struct pmap *maps;
	size_t nmaps;
	struct ploc *locs;
	size_t nlocs, caplocs;
	struct u64map loc_index; /* pc -> loc */
	char **funcs;
	size_t nfuncs, capfuncs;
	struct u64map func_index; /* name hash (chained by +1) -> func */
	struct pstack *stacks;
	size_t nstacks, capstacks;
	struct u64map stack_index; /* hash (chained by +1) -> stack */
	struct plive *live;
	size_t nlive, caplive;
	uint32_t live_free;	  /* free list of live slots, UINT32_MAX: none */
	size_t npending;	  /* locs whose symbols are still being loaded */
	struct u64map live_index; /* ptr -> live slot */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct pidmap profs; /* lock */

/* The profiler's counters. */
static struct {
	uint64_t samples, frees, frees_unknown, dropped_stacks, dropped_live, dropped_locs;
	uint64_t dropped_total; /* refused by a cap across all processes */
} counts;			/* lock */

/*
 * Entries held across every process (under lock), against the global caps
 * PROFILE_TOTAL_*: many processes each within their own caps must not add
 * up to unbounded daemon memory.
 */
static struct {
	size_t locs, stacks, live;
} held;

static void prof_free(struct prof *pr)
{
	size_t i;

	held.locs -= pr->nlocs;
	held.stacks -= pr->nstacks;
	held.live -= pr->nlive;
	sym_maps_free(&pr->sym);
	for (i = 0; i < pr->nmaps; i++) {
		free(pr->maps[i].path);
		free(pr->maps[i].build_id);
	}
	free(pr->maps);
	free(pr->locs);
	u64map_free(&pr->loc_index);
	for (i = 0; i < pr->nfuncs; i++)
		free(pr->funcs[i]);
	free(pr->funcs);
	u64map_free(&pr->func_index);
	for (i = 0; i < pr->nstacks; i++)
		free(pr->stacks[i].locs);
	free(pr->stacks);
	u64map_free(&pr->stack_index);
	free(pr->live);
	u64map_free(&pr->live_index);
	free(pr);
}

/* pid's profile, or NULL (lock held). */
static struct prof *find_locked(int pid)
{
	return (struct prof *)pidmap_find(&profs, pid);
}

/* The profile of pid for a new sample; a fresh one if the pid was reused. */
static struct prof *get_locked(int pid)
{
	struct prof *pr = find_locked(pid);

	if (pr != NULL && pr->exited) {
		pidmap_remove(&profs, pid);
		prof_free(pr);
		pr = NULL;
	}
	if (pr == NULL) {
		pr = xcalloc(1, sizeof *pr);
		pr->pid = pid;
		pr->start_ticks = procfs_start_ticks(pid);
		pr->live_free = UINT32_MAX;
		pr->node.pid = pid;
		pidmap_insert(&profs, &pr->node);
	}
	return pr;
}

static uint64_t hash_bytes(const void *p, size_t n, uint64_t h)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ull;
	return h | 1; /* never 0 (the empty key) */
}

/* Intern a function name. */
static int32_t func_get(struct prof *pr, const char *name)
{
	uint64_t h = hash_bytes(name, strlen(name), 1469598103934665603ull);
	uint32_t idx;

	for (; u64map_get(&pr->func_index, h, &idx); h += 2)
		if (strcmp(pr->funcs[idx], name) == 0)
			return (int32_t)idx;
	if (pr->nfuncs == pr->capfuncs) {
		pr->capfuncs = pr->capfuncs ? 2 * pr->capfuncs : 64;
		pr->funcs = xrealloc(pr->funcs, pr->capfuncs * sizeof *pr->funcs);
	}
	pr->funcs[pr->nfuncs] = xstrdup(name);
	u64map_put(&pr->func_index, h, (uint32_t)pr->nfuncs);
	return (int32_t)pr->nfuncs++;
}

/* Whether a mapping's file is libgomem. */
static int is_allocator_path(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return strncmp(base, "libgomem", 8) == 0;
}

/* Whether a function is the malloc family or libgomem's own (static link). */
static int is_allocator_func(const char *name)
{
	static const char *const names[] = {
	    "malloc",	      "calloc",		 "realloc",	   "reallocarray",
	    "free",	      "memalign",	 "posix_memalign", "aligned_alloc",
	    "valloc",	      "pvalloc",	 "__libc_malloc",  "__libc_calloc",
	    "__libc_realloc", "__libc_memalign", "__libc_valloc",  "__libc_pvalloc",
	};
	size_t i;

	if (strncmp(name, "gm_", 3) == 0 || strncmp(name, "gomem_", 6) == 0)
		return 1;
	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(name, names[i]) == 0)
			return 1;
	return 0;
}

/* The pprof mapping for a /proc/PID/maps entry (or an unknown page). */
static uint32_t map_get(struct prof *pr, uint64_t start, uint64_t limit, uint64_t offset,
			const char *path, const char *build_id, int has_functions)
{
	size_t i;

	for (i = 0; i < pr->nmaps; i++) {
		struct pmap *m = &pr->maps[i];

		if (m->start == start && strcmp(m->path, path) == 0) {
			m->has_functions |= has_functions;
			return (uint32_t)i;
		}
	}
	if (pr->nmaps >= MAX_MAPS)
		return (uint32_t)(pr->nmaps - 1); /* at least some mapping */
	if ((pr->nmaps & (pr->nmaps - 1)) == 0 || pr->nmaps == 0)
		pr->maps = xrealloc(pr->maps, (pr->nmaps ? 2 * pr->nmaps : 8) * sizeof *pr->maps);
	pr->maps[pr->nmaps].start = start;
	pr->maps[pr->nmaps].limit = limit;
	pr->maps[pr->nmaps].offset = offset;
	pr->maps[pr->nmaps].path = xstrdup(path);
	pr->maps[pr->nmaps].build_id = xstrdup(build_id);
	pr->maps[pr->nmaps].has_functions = has_functions;
	pr->maps[pr->nmaps].allocator = is_allocator_path(path);
	return (uint32_t)pr->nmaps++;
}

/*
 * pprof takes the first mapping for the main binary (its "File:" line):
 * register the executable's text mapping before any other.
 */
static void map_exe_first(struct prof *pr)
{
	char link[64], exe[PATH_MAX];
	const char *build_id;
	ssize_t n;
	size_t i;
	int has;

	snprintf(link, sizeof link, "/proc/%d/exe", pr->pid);
	if ((n = readlink(link, exe, sizeof exe - 1)) <= 0)
		return;
	exe[n] = '\0';
	for (i = 0; i < pr->sym.n; i++) {
		struct sym_mapping *mp = &pr->sym.v[i];

		if (strcmp(mp->path, exe) != 0)
			continue;
		sym_lookup(pr->pid, mp, mp->start + 1, &build_id, &has);
		map_get(pr, mp->start, mp->limit, mp->offset, mp->path, build_id, has > 0);
		return;
	}
}

/* The location of pc, symbolized when first seen; -1 when the table is full. */
static int64_t loc_get(struct prof *pr, uint64_t pc)
{
	const char *name = NULL, *build_id = "";
	struct sym_mapping *mp;
	struct ploc *l;
	uint32_t idx;
	int has_syms = 0;

	if (u64map_get(&pr->loc_index, pc ? pc : 1, &idx))
		return idx;
	if (pr->nlocs >= PROFILE_MAX_LOCS)
		return -1;
	if (held.locs >= PROFILE_TOTAL_LOCS) {
		counts.dropped_total++;
		return -1;
	}
	mp = pr->sym_loaded ? sym_maps_find(&pr->sym, pc) : NULL;
	if (mp == NULL) { /* first PC, or a library loaded since: read the maps again */
		pr->sym_loaded = sym_maps_load(&pr->sym, pr->pid) == 0;
		mp = pr->sym_loaded ? sym_maps_find(&pr->sym, pc) : NULL;
		if (pr->nmaps == 0 && pr->sym_loaded)
			map_exe_first(pr);
	}
	if (pr->nlocs == pr->caplocs) {
		pr->caplocs = pr->caplocs ? 2 * pr->caplocs : 256;
		pr->locs = xrealloc(pr->locs, pr->caplocs * sizeof *pr->locs);
	}
	l = &pr->locs[pr->nlocs];
	l->pc = pc;
	l->pending = 0;
	if (mp != NULL) {
		/* never reads a file here: pending until the loader has it */
		name = sym_lookup(pr->pid, mp, pc, &build_id, &has_syms);
		l->map =
		    map_get(pr, mp->start, mp->limit, mp->offset, mp->path, build_id, has_syms > 0);
		if (has_syms < 0) {
			l->pending = 1;
			pr->npending++;
		}
	} else {
		uint64_t page = pc & ~(uint64_t)0xfff;

		l->map = map_get(pr, page, page + 0x1000, 0, "[unknown]", "", 0);
	}
	l->func = name != NULL ? func_get(pr, name) : -1;
	l->allocator = pr->maps[l->map].allocator || (name != NULL && is_allocator_func(name));
	u64map_put(&pr->loc_index, pc ? pc : 1, (uint32_t)pr->nlocs);
	held.locs++;
	return (int64_t)pr->nlocs++;
}

/* The bucket of (locs, size), created if new; -1 when the table is full. */
static int64_t stack_get(struct prof *pr, const uint32_t *locs, uint32_t n, uint64_t size)
{
	uint64_t h = hash_bytes(locs, n * sizeof *locs,
				hash_bytes(&size, sizeof size, 1469598103934665603ull));
	struct pstack *s;
	uint32_t idx;

	for (; u64map_get(&pr->stack_index, h, &idx); h += 2) {
		s = &pr->stacks[idx];
		if (s->size == size && s->nlocs == n &&
		    memcmp(s->locs, locs, n * sizeof *locs) == 0)
			return idx;
	}
	if (pr->nstacks >= PROFILE_MAX_STACKS)
		return -1;
	if (held.stacks >= PROFILE_TOTAL_STACKS) {
		counts.dropped_total++;
		return -1;
	}
	if (pr->nstacks == pr->capstacks) {
		pr->capstacks = pr->capstacks ? 2 * pr->capstacks : 64;
		pr->stacks = xrealloc(pr->stacks, pr->capstacks * sizeof *pr->stacks);
	}
	s = &pr->stacks[pr->nstacks];
	memset(s, 0, sizeof *s);
	s->locs = xcalloc(n ? n : 1, sizeof *locs);
	memcpy(s->locs, locs, n * sizeof *locs);
	s->nlocs = n;
	s->size = size;
	u64map_put(&pr->stack_index, h, (uint32_t)pr->nstacks);
	held.stacks++;
	return (int64_t)pr->nstacks++;
}

/* Forget a live block; 1 if it was known. */
static int live_del(struct prof *pr, uint64_t ptr)
{
	struct plive *lv;
	struct pstack *s;
	uint32_t idx;

	if (!u64map_get(&pr->live_index, ptr, &idx))
		return 0;
	u64map_del(&pr->live_index, ptr);
	lv = &pr->live[idx];
	s = &pr->stacks[lv->stack];
	if (s->inuse_n > 0)
		s->inuse_n--;
	lv->ptr = 0;
	lv->stack = pr->live_free;
	pr->live_free = idx;
	pr->nlive--;
	held.live--;
	return 1;
}

void profile_on_alloc(int pid, uint64_t ptr, uint64_t size, uint64_t rate, const uint64_t *pcs,
		      unsigned depth)
{
	uint32_t locs[64], n = 0, first = 0, idx;
	struct prof *pr;
	int64_t l, s;
	unsigned i;

	if (depth > 64)
		depth = 64;
	pthread_mutex_lock(&lock);
	counts.samples++;
	pr = get_locked(pid);
	pr->rate = rate;
	pr->samples++;
	for (i = 0; i < depth; i++) {
		if ((l = loc_get(pr, pcs[i])) < 0) {
			counts.dropped_locs++;
			goto out;
		}
		locs[n++] = (uint32_t)l;
	}
	/* trim the allocator's own frames at the top, keeping at least one */
	while (first + 1 < n && pr->locs[locs[first]].allocator)
		first++;
	if ((s = stack_get(pr, locs + first, n - first, size)) < 0) {
		counts.dropped_stacks++;
		goto out;
	}
	pr->stacks[s].alloc_n++;
	live_del(pr, ptr); /* a free we missed */
	if (pr->nlive >= PROFILE_MAX_LIVE) {
		counts.dropped_live++;
		goto out;
	}
	if (held.live >= PROFILE_TOTAL_LIVE) {
		counts.dropped_total++;
		goto out;
	}
	if (pr->live_free != UINT32_MAX) {
		idx = pr->live_free;
		pr->live_free = pr->live[idx].stack;
	} else {
		if (pr->caplive == 0 || pr->nlive == pr->caplive) {
			/* no free slot: every slot is in use */
			pr->caplive = pr->caplive ? 2 * pr->caplive : 1024;
			pr->live = xrealloc(pr->live, pr->caplive * sizeof *pr->live);
		}
		idx = (uint32_t)pr->nlive;
	}
	pr->live[idx].ptr = ptr;
	pr->live[idx].stack = (uint32_t)s;
	u64map_put(&pr->live_index, ptr, idx);
	pr->nlive++;
	held.live++;
	pr->stacks[s].inuse_n++;
out:
	pthread_mutex_unlock(&lock);
}

void profile_on_free(int pid, uint64_t ptr, uint64_t size)
{
	struct prof *pr;

	(void)size;
	pthread_mutex_lock(&lock);
	counts.frees++;
	if ((pr = find_locked(pid)) != NULL && !pr->exited && live_del(pr, ptr))
		pr->frees++;
	else
		counts.frees_unknown++;
	pthread_mutex_unlock(&lock);
}

void profile_on_exit(int pid)
{
	struct prof *pr;

	pthread_mutex_lock(&lock);
	if ((pr = find_locked(pid)) != NULL) {
		pr->exited = 1;
		sym_maps_free(&pr->sym); /* keep what was symbolized, drop the ELF refs */
		pr->sym_loaded = 0;
	}
	pthread_mutex_unlock(&lock);
}

struct pids {
	int *v;
	int n;
};

/* pidmap_walk callback: append a profile's pid to the struct pids in arg. */
static int collect_pid(struct pidmap_node *n, void *arg)
{
	struct pids *p = arg;

	p->v[p->n++] = n->pid;
	return 0;
}

void profile_sweep(void)
{
	struct pids all = {NULL, 0};
	int *pids = NULL, *gone, n = 0, i;
	struct prof *pr;

	pthread_mutex_lock(&lock);
	all.v = pids = xcalloc(profs.count + 1, sizeof *pids);
	pidmap_walk(&profs, collect_pid, &all);
	n = all.n;
	pthread_mutex_unlock(&lock);

	/* outside our lock: the process table and /proc */
	gone = xcalloc((size_t)n + 1, sizeof *gone);
	for (i = 0; i < n; i++) {
		int in_table;

		proc_rdlock();
		in_table = proc_find_locked(pids[i]) != NULL;
		proc_unlock();
		gone[i] = !in_table;
	}
	pthread_mutex_lock(&lock);
	for (i = 0; i < n; i++) {
		uint64_t t;

		if ((pr = find_locked(pids[i])) == NULL)
			continue;
		t = pr->exited ? 0 : procfs_start_ticks(pr->pid);
		if (!pr->exited && (t == 0 || (pr->start_ticks != 0 && t != pr->start_ticks))) {
			pr->exited = 1;
			sym_maps_free(&pr->sym);
			pr->sym_loaded = 0;
		}
		if (pr->exited && gone[i]) {
			log_debug("dropping the heap profile of process %d", pr->pid);
			pidmap_remove(&profs, pr->pid);
			prof_free(pr);
		}
	}
	pthread_mutex_unlock(&lock);
	free(pids);
	free(gone);
}

/* pidmap_walk callback: free and unlink a profile. */
static int free_prof(struct pidmap_node *n, void *arg)
{
	(void)arg;
	prof_free((struct prof *)n);
	return 1;
}

void profile_fini(void)
{
	pthread_mutex_lock(&lock);
	pidmap_walk(&profs, free_prof, NULL);
	pthread_mutex_unlock(&lock);
	sym_cache_fini();
}

/* ---- output ---- */

/* Encode pr as pprof, not yet gzipped (lock held). */
/*
 * Symbolize the locations recorded while their files were still being
 * loaded, now that the loader may have them (cache lookups only: nothing
 * is read).  Locked.
 */
static void resolve_pending_locked(struct prof *pr)
{
	const char *name, *build_id;
	struct sym_mapping *mp;
	struct ploc *l;
	struct pmap *pm;
	size_t i;
	int has;

	for (i = 0; i < pr->nlocs && pr->npending > 0; i++) {
		l = &pr->locs[i];
		if (!l->pending || (mp = sym_maps_find(&pr->sym, l->pc)) == NULL)
			continue;
		name = sym_lookup(pr->pid, mp, l->pc, &build_id, &has);
		if (has < 0)
			continue; /* still loading */
		l->pending = 0;
		pr->npending--;
		pm = &pr->maps[l->map];
		pm->has_functions |= has > 0;
		if (pm->build_id[0] == '\0' && build_id[0] != '\0') {
			free(pm->build_id);
			pm->build_id = xstrdup(build_id);
		}
		if (name != NULL) {
			l->func = func_get(pr, name);
			l->allocator |= is_allocator_func(name);
		}
	}
}

static int encode_locked(const struct prof *pr, char **out, size_t *outlen)
{
	struct pprof_mapping *maps = xcalloc(pr->nmaps + 1, sizeof *maps);
	struct pprof_location *locs = xcalloc(pr->nlocs + 1, sizeof *locs);
	struct pprof_sample *samples = xcalloc(pr->nstacks + 1, sizeof *samples);
	struct pprof_heap h;
	struct obuf b;
	size_t i;
	int rc;

	memset(&h, 0, sizeof h);
	for (i = 0; i < pr->nmaps; i++) {
		maps[i].start = pr->maps[i].start;
		maps[i].limit = pr->maps[i].limit;
		maps[i].offset = pr->maps[i].offset;
		maps[i].file = pr->maps[i].path;
		maps[i].build_id = pr->maps[i].build_id;
		maps[i].has_functions = pr->maps[i].has_functions;
	}
	for (i = 0; i < pr->nlocs; i++) {
		locs[i].address = pr->locs[i].pc;
		locs[i].mapping = pr->locs[i].map;
		locs[i].function = pr->locs[i].func;
	}
	for (i = 0; i < pr->nstacks; i++) {
		const struct pstack *s = &pr->stacks[i];

		samples[i].locs = s->locs;
		samples[i].nlocs = s->nlocs;
		pprof_scale(s->alloc_n, s->alloc_n * s->size, pr->rate, &samples[i].values[0],
			    &samples[i].values[1]);
		pprof_scale(s->inuse_n, s->inuse_n * s->size, pr->rate, &samples[i].values[2],
			    &samples[i].values[3]);
		samples[i].bytes = (int64_t)s->size;
	}
	h.period = pr->rate;
	h.time_nanos = (int64_t)now_real_ns();
	h.mappings = maps;
	h.nmappings = pr->nmaps;
	h.locations = locs;
	h.nlocations = pr->nlocs;
	h.functions = (const char *const *)pr->funcs;
	h.nfunctions = pr->nfuncs;
	h.samples = samples;
	h.nsamples = pr->nstacks;
	obuf_init(&b, 4096 + pr->nstacks * 32);
	rc = pprof_encode_heap(&h, &b);
	free(maps);
	free(locs);
	free(samples);
	if (rc == 0) {
		*out = obuf_take(&b, outlen);
		rc = *out != NULL ? 0 : -1;
	}
	obuf_free(&b);
	return rc;
}

/* Go's legacy text form (debug=1): raw sample counts, "@ heap/2*rate". */
static void text_locked(const struct prof *pr, struct obuf *b)
{
	uint64_t in_n = 0, in_b = 0, al_n = 0, al_b = 0;
	size_t i, j;

	for (i = 0; i < pr->nstacks; i++) {
		in_n += pr->stacks[i].inuse_n;
		in_b += pr->stacks[i].inuse_n * pr->stacks[i].size;
		al_n += pr->stacks[i].alloc_n;
		al_b += pr->stacks[i].alloc_n * pr->stacks[i].size;
	}
	obuf_printf(b,
		    "heap profile: %" PRIu64 ": %" PRIu64 " [%" PRIu64 ": %" PRIu64
		    "] @ heap/%" PRIu64 "\n",
		    in_n, in_b, al_n, al_b, 2 * pr->rate);
	for (i = 0; i < pr->nstacks; i++) {
		const struct pstack *s = &pr->stacks[i];

		obuf_printf(b, "%" PRIu64 ": %" PRIu64 " [%" PRIu64 ": %" PRIu64 "] @", s->inuse_n,
			    s->inuse_n * s->size, s->alloc_n, s->alloc_n * s->size);
		for (j = 0; j < s->nlocs; j++)
			obuf_printf(b, " %#" PRIx64, pr->locs[s->locs[j]].pc);
		obuf_addc(b, '\n');
		for (j = 0; j < s->nlocs; j++) {
			const struct ploc *l = &pr->locs[s->locs[j]];

			obuf_printf(b, "#\t%#" PRIx64 "\t%s\t%s\n", l->pc,
				    l->func >= 0 ? pr->funcs[l->func] : "?", pr->maps[l->map].path);
		}
		obuf_addc(b, '\n');
	}
}

/* Whether there is a profile for pid. */
int profile_known(int pid)
{
	int known;

	pthread_mutex_lock(&lock);
	known = find_locked(pid) != NULL;
	pthread_mutex_unlock(&lock);
	return known;
}

/* An empty profile at Go's default rate, for a pid without samples. */
static void empty_profile(struct prof *empty, int pid)
{
	memset(empty, 0, sizeof *empty);
	empty->pid = pid;
	empty->rate = 512 * 1024;
}

/* pid's profile in Go's legacy text form (empty when none); 0 or -1. */
int profile_text(int pid, struct obuf *b)
{
	struct prof empty, *pr;

	empty_profile(&empty, pid);
	pthread_mutex_lock(&lock);
	pr = find_locked(pid);
	if (pr != NULL)
		resolve_pending_locked(pr);
	text_locked(pr ? pr : &empty, b);
	pthread_mutex_unlock(&lock);
	return b->bad ? -1 : 0;
}

/* pid's profile as gzipped profile.proto (empty when none); 0 or -1. */
int profile_pprof(int pid, char **out, size_t *outlen)
{
	struct prof empty, *pr;
	char *raw = NULL;
	size_t rawlen = 0;
	int rc;

	empty_profile(&empty, pid);
	pthread_mutex_lock(&lock);
	pr = find_locked(pid);
	if (pr != NULL)
		resolve_pending_locked(pr);
	rc = encode_locked(pr ? pr : &empty, &raw, &rawlen);
	pthread_mutex_unlock(&lock);
	if (rc == 0) { /* compress outside the lock: the collector waits on it */
		rc = pprof_gzip(raw, rawlen, out, outlen);
		free(raw);
	}
	return rc;
}

struct site {
	int32_t func; /* leaf function, or -1 */
	uint64_t pc;  /* leaf pc when unsymbolized */
	int64_t v[4];
	size_t best; /* the bucket contributing most inuse space */
	int64_t best_inuse;
};

static int site_cmp(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	if (x->v[3] != y->v[3])
		return x->v[3] > y->v[3] ? -1 : 1;
	if (x->v[1] != y->v[1])
		return x->v[1] > y->v[1] ? -1 : 1;
	return 0;
}

/* A PC's function name, or its address in hex when unsymbolized (malloc'd). */
static char *loc_name(const struct prof *pr, const struct ploc *l)
{
	char *s;

	if (l->func >= 0)
		return xstrdup(pr->funcs[l->func]);
	xasprintf(&s, "%#" PRIx64, l->pc);
	return s;
}

/*
 * The top allocation sites of pid's profile by unsampled in-use space, at
 * most want of them; each with the stack of its biggest bucket.  A pid
 * without a profile gets zeros.  Free with profile_top_free().
 */
void profile_top(int pid, size_t want, struct profile_top *out)
{
	struct site *sites = NULL;
	size_t nsites = 0, i, j;
	struct prof *pr;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&lock);
	pr = find_locked(pid);
	if (pr == NULL) {
		pthread_mutex_unlock(&lock);
		return;
	}
	resolve_pending_locked(pr);
	sites = xcalloc(pr->nstacks + 1, sizeof *sites);
	for (i = 0; i < pr->nstacks; i++) {
		const struct pstack *s = &pr->stacks[i];
		const struct ploc *leaf = s->nlocs ? &pr->locs[s->locs[0]] : NULL;
		int64_t v[4];

		pprof_scale(s->alloc_n, s->alloc_n * s->size, pr->rate, &v[0], &v[1]);
		pprof_scale(s->inuse_n, s->inuse_n * s->size, pr->rate, &v[2], &v[3]);
		for (j = 0; j < nsites; j++) {
			if (leaf == NULL      ? sites[j].func == -1 && sites[j].pc == 0
			    : leaf->func >= 0 ? sites[j].func == leaf->func
					      : sites[j].func == -1 && sites[j].pc == leaf->pc)
				break;
		}
		if (j == nsites) {
			sites[j].func = leaf ? leaf->func : -1;
			sites[j].pc = leaf && leaf->func < 0 ? leaf->pc : 0;
			sites[j].best = i;
			sites[j].best_inuse = -1;
			nsites++;
		}
		for (int k = 0; k < 4; k++) {
			sites[j].v[k] += v[k];
			out->total[k] += v[k];
		}
		if (v[3] > sites[j].best_inuse || (v[3] == sites[j].best_inuse && v[1] > 0)) {
			sites[j].best = i;
			sites[j].best_inuse = v[3];
		}
	}
	qsort(sites, nsites, sizeof *sites, site_cmp);
	out->nsites = nsites < want ? nsites : want;
	out->sites = xcalloc(out->nsites + 1, sizeof *out->sites);
	for (i = 0; i < out->nsites; i++) {
		const struct pstack *s = &pr->stacks[sites[i].best];
		struct profile_site *o = &out->sites[i];
		struct ploc leaf = {.pc = sites[i].pc, .func = sites[i].func};

		o->function = loc_name(pr, &leaf);
		memcpy(o->v, sites[i].v, sizeof o->v);
		o->nstack = s->nlocs < PROFILE_TOP_DEPTH ? s->nlocs : PROFILE_TOP_DEPTH;
		o->stack = xcalloc(o->nstack + 1, sizeof *o->stack);
		for (j = 0; j < o->nstack; j++)
			o->stack[j] = loc_name(pr, &pr->locs[s->locs[j]]);
	}
	out->rate = pr->rate;
	out->samples = pr->samples;
	out->live_samples = pr->nlive;
	out->buckets = pr->nstacks;
	pthread_mutex_unlock(&lock);
	free(sites);
}

/* Free what profile_top() made. */
void profile_top_free(struct profile_top *t)
{
	size_t i, j;

	for (i = 0; i < t->nsites; i++) {
		free(t->sites[i].function);
		for (j = 0; j < t->sites[i].nstack; j++)
			free(t->sites[i].stack[j]);
		free(t->sites[i].stack);
	}
	free(t->sites);
	memset(t, 0, sizeof *t);
}

/* pidmap_walk callback: add a profile's table sizes to the stats in arg. */
static int add_sizes(struct pidmap_node *n, void *arg)
{
	const struct prof *pr = (const struct prof *)n;
	struct profile_stats *out = arg;

	out->buckets += pr->nstacks;
	out->live_samples += pr->nlive;
	return 0;
}

/* The profiler's own counters, all processes. */
void profile_stats(struct profile_stats *out)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&lock);
	pidmap_walk(&profs, add_sizes, out);
	out->processes = profs.count;
	out->samples = counts.samples;
	out->frees = counts.frees;
	out->frees_unknown = counts.frees_unknown;
	out->dropped_stacks = counts.dropped_stacks;
	out->dropped_live = counts.dropped_live;
	out->dropped_locs = counts.dropped_locs;
	out->dropped_total = counts.dropped_total;
	out->bytes_estimate =
	    held.live * (sizeof(struct plive) + 2 * sizeof(uint64_t)) +
	    held.stacks * (sizeof(struct pstack) + 2 * sizeof(uint64_t) + 16 * sizeof(uint32_t)) +
	    held.locs * (sizeof(struct ploc) + 2 * sizeof(uint64_t));
	pthread_mutex_unlock(&lock);
	out->symbol_files = sym_cache_count();
}
