/*
 * mprof.c: sampled allocation profiling, like Go's MemProfileRate.
 *
 * Each thread counts down the bytes it allocates; when the count goes
 * negative, that allocation is sampled and a new count is drawn from an
 * exponential distribution with mean GOMEM_PROFILE_RATE (default 512 KiB, as
 * Go's runtime.MemProfileRate; 0 turns sampling off), so on average one
 * sample is taken per rate bytes and big allocations are more likely to be
 * picked, exactly as in Go's heap profiler.
 *
 * Nothing is recorded while nobody listens: a sample costs a stack walk and
 * a probe only while the gomem:sample_alloc semaphore is set.  Then the
 * stack is captured in-process with the DWARF unwinder (_Unwind_Backtrace,
 * so no frame pointers are needed; a thread flag stops re-entry), the block
 * is remembered in a hash set, and gomem:sample_alloc fires; freeing a
 * remembered block fires gomem:sample_free.  Spans count their sampled
 * blocks, so a free only looks in the set when its span has any.
 *
 * gm_prof.lock protects the set and every span's nsampled; it is a leaf
 * lock, the last in the order of internal.h.
 */
#include "internal.h"
#include "probes.h"

#include <math.h>
#include <unwind.h>

#define GM_PROF_DEPTH 64

typedef struct gm_prof_entry {
	uintptr_t ptr; /* 0 empty, 1 deleted */
	uint64_t size;
} gm_prof_entry;

gm_prof_state gm_prof = { .lock = PTHREAD_MUTEX_INITIALIZER };

static __thread int gm_prof_busy;

/* A uniform double in (0, 1] from the thread's xorshift state. */
static double
gm_prof_uniform(gm_mcache *mc)
{
	uint64_t x = mc->rng;

	if (x == 0)
		x = gm_seed ^ ((uint64_t)mc->tid << 32) ^ (uintptr_t)mc;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	mc->rng = x;
	return (double)((x >> 11) + 1) / 9007199254740992.0;
}

/* Bytes until the thread's next sample. */
int64_t
gm_prof_next(gm_mcache *mc)
{
	double r = (double)gm_opt.profile_rate, n;

	if (gm_opt.profile_rate == 0)
		return INT64_MAX;
	n = -log(gm_prof_uniform(mc)) * r;
	if (n > 1e15)
		n = 1e15;
	return (int64_t)n;
}

struct gm_unwind_ctx {
	uint64_t *pcs;
	unsigned n, skip;
};

static _Unwind_Reason_Code
gm_unwind_cb(struct _Unwind_Context *uc, void *arg)
{
	struct gm_unwind_ctx *c = arg;
	uintptr_t ip = _Unwind_GetIP(uc);

	if (ip == 0)
		return _URC_END_OF_STACK;
	if (c->skip > 0) {
		c->skip--;
		return _URC_NO_REASON;
	}
	c->pcs[c->n++] = ip;
	return c->n == GM_PROF_DEPTH ? _URC_END_OF_STACK : _URC_NO_REASON;
}

/* Find p's slot (or the empty slot where it would go); lock held. */
static gm_prof_entry *
gm_prof_slot_locked(uintptr_t p, bool insert)
{
	gm_prof_entry *t = gm_prof.table, *tomb = NULL;
	size_t mask = gm_prof.cap - 1, i = (size_t)((p >> 4) * 0x9e3779b97f4a7c15u) & mask;

	for (;;) {
		if (t[i].ptr == p)
			return &t[i];
		if (t[i].ptr == 0)
			return insert ? (tomb ? tomb : &t[i]) : NULL;
		if (t[i].ptr == 1 && tomb == NULL)
			tomb = &t[i];
		i = (i + 1) & mask;
	}
}

/* Make room for one more entry; false when out of memory. Lock held. */
static bool
gm_prof_grow_locked(void)
{
	gm_prof_entry *old = gm_prof.table;
	size_t oldcap = gm_prof.cap, i;
	size_t cap = oldcap ? oldcap * 2 : 1024;

	if ((gm_prof.used + 1) * 2 <= oldcap)
		return true;
	gm_prof.table = gm_sys_alloc(cap * sizeof(gm_prof_entry), &gm_stat_buckhash_sys);
	if (gm_prof.table == NULL) {
		gm_prof.table = old;
		return false;
	}
	gm_prof.cap = cap;
	gm_prof.used = gm_prof.count;
	for (i = 0; i < oldcap; i++)
		if (old[i].ptr > 1)
			*gm_prof_slot_locked(old[i].ptr, true) = old[i];
	if (old != NULL)
		gm_sys_free(old, oldcap * sizeof(gm_prof_entry), &gm_stat_buckhash_sys);
	return true;
}

/* The thread's countdown ran out at the allocation p of size bytes. */
void
gm_prof_malloc(gm_mcache *mc, void *p, size_t size)
{
	uint64_t pcs[GM_PROF_DEPTH];
	struct gm_unwind_ctx c = { pcs, 0, 1 };
	gm_mspan *s;
	gm_prof_entry *e;

	mc->next_sample = gm_prof_next(mc);
	if (!GM_PROBE_ENABLED(sample_alloc) || gm_prof_busy || p == NULL)
		return;
	gm_prof_busy = 1;
	_Unwind_Backtrace(gm_unwind_cb, &c);
	s = gm_span_of((uintptr_t)p);
	/* Like Go, record the block's size: the size class, or whole pages. */
	if (s != NULL && s->spanclass == GM_SPANCLASS_LARGE)
		size = s->npages << GM_PAGE_SHIFT;
	else if (s != NULL)
		size = s->elemsize;
	pthread_mutex_lock(&gm_prof.lock);
	if (s != NULL && gm_prof_grow_locked()) {
		e = gm_prof_slot_locked((uintptr_t)p, true);
		if (e->ptr != (uintptr_t)p) {
			if (e->ptr == 0)
				gm_prof.used++;
			gm_prof.count++;
			gm_span_sampled(s, 1);
		}
		e->ptr = (uintptr_t)p;
		e->size = size;
	}
	gm_prof.samples++;
	pthread_mutex_unlock(&gm_prof.lock);
	GM_PROBE5(sample_alloc, p, (uint64_t)size, pcs, (uint64_t)c.n,
		  (uint64_t)gm_opt.profile_rate);
	gm_prof_busy = 0;
}

/* p, in a span with sampled blocks, is being freed. */
void
gm_prof_free(gm_mspan *s, void *p)
{
	gm_prof_entry *e;
	uint64_t size = 0;
	bool found = false;

	pthread_mutex_lock(&gm_prof.lock);
	if (gm_prof.cap != 0 && (e = gm_prof_slot_locked((uintptr_t)p, false)) != NULL) {
		size = e->size;
		e->ptr = 1;
		e->size = 0;
		gm_prof.count--;
		gm_span_sampled(s, -1);
		found = true;
	}
	pthread_mutex_unlock(&gm_prof.lock);
	if (found && GM_PROBE_ENABLED(sample_free))
		GM_PROBE2(sample_free, p, size);
}

/* The budget ran out at p (tail-called from the malloc paths); returns p. */
void *
gm_prof_sample(gm_mcache *mc, void *p, size_t n)
{
	if (mc != &gm_empty_mcache)
		gm_prof_malloc(mc, p, n);
	return p;
}

/* In a forked child. */
void
gm_prof_fork_child(void)
{
	pthread_mutex_init(&gm_prof.lock, NULL);
	gm_prof_busy = 0;
}
