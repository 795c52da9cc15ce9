/*
 * check_mcentral.c: mcache refill and release in batches, mcentral's span
 * life (partial, empty, back to the heap), frees from other threads, and
 * the lists' adaptive caps.
 */
#include "testutil.h"

#include <pthread.h>
#include <sys/mman.h>

/* Allocate several spans' worth of class c from this thread. */
static void **
fill_span(unsigned c, unsigned *n)
{
	/* Well past what a thread cache holds at its base cap (twice a batch). */
	unsigned cnt = gm_class_nelems[c] * 3 + gm_class_batch[c] * 8;
	void **v = calloc(cnt, sizeof(void *)); /* glibc: not the code under test */

	for (unsigned i = 0; i < cnt; i++) {
		v[i] = gm_malloc(gm_class_size[c]);
		ck_assert_ptr_nonnull(v[i]);
	}
	*n = cnt;
	return v;
}

/* The length of the cache's list for class c, which room must mirror. */
static unsigned
list_len(unsigned c)
{
	unsigned n = 0;

	for (void *p = gm_tls_mcache->free[c]; p != NULL; p = gm_link_take(p))
		n++;
	ck_assert_uint_le(gm_tls_mcache->room[c], gm_tls_mcache->max[c]);
	ck_assert_uint_eq(n, gm_tls_mcache->max[c] - gm_tls_mcache->room[c]);
	return n;
}

/* Batches in the transfer cache of class c (its lock). */
static unsigned
tc_len(unsigned c)
{
	unsigned n;

	gm_lock_acquire(&gm_central[c].lock);
	n = gm_central[c].ntc;
	gm_lock_release(&gm_central[c].lock);
	return n;
}

START_TEST(refill_and_release_to_heap)
{
	unsigned c = gm_size_class(1000), n;
	void **v;
	uint64_t inuse0, inuse1;

	gm_opt.scavenge = false;
	inuse0 = atomic_load(&gm_heap.inuse);
	v = fill_span(c, &n);
	inuse1 = atomic_load(&gm_heap.inuse);
	/* Three spans' worth of objects came from at least three spans. */
	ck_assert_uint_ge(inuse1 - inuse0, 3 * gm_class_spanpages[c] * GM_PAGE_SIZE);
	for (unsigned i = 0; i < n; i++)
		ck_assert_uint_eq(gm_span_of((uintptr_t)v[i])->spanclass, c);
	/* Refills come in batches; the cache never holds more than its limit. */
	list_len(c);
	for (unsigned i = 0; i < n; i++) {
		gm_free(v[i]);
		ck_assert_uint_ge(list_len(c), 1);
	}
	/* Batches went back as the list grew: the first ones whole into the
	 * transfer cache (up to its bound), the rest onto their spans; once it
	 * is emptied too, most spans are back in the heap. */
	gm_lock_acquire(&gm_central[c].lock);
	ck_assert_uint_ge(gm_central[c].ntc, 1);
	ck_assert_uint_le(gm_central[c].ntc, gm_central[c].tcmax);
	gm_lock_release(&gm_central[c].lock);
	gm_mcentral_drain(c);
	ck_assert_uint_eq(tc_len(c), 0);
	ck_assert_uint_lt(atomic_load(&gm_heap.inuse) - inuse0, inuse1 - inuse0);
	/* Handing the cache back returns every span whose objects all came back. */
	gm_mcache_release_all(gm_tls_mcache);
	gm_mcentral_drain_all();
	ck_assert_uint_le(atomic_load(&gm_heap.inuse), inuse0);
	ck_heap_ok();
	free(v);
}
END_TEST

struct xfer {
	void **v;
	unsigned n;
	size_t size; /* of alloc_all's objects; 0: XFER_SIZE */
};

static void *
free_all(void *arg)
{
	struct xfer *x = arg;

	for (unsigned i = 0; i < x->n; i++)
		gm_free(x->v[i]);
	return NULL;
}

/*
 * A fresh span has every object on its free list, in address order: its
 * first object starts it, the first refill takes a batch off the front, and
 * the rest of the span waits on the list (so a free of an object never
 * handed out puts it on a second list, where it is found, instead of
 * having it handed out twice; check_badfree).  Once every object is back,
 * the span goes back to the heap.
 */
START_TEST(fresh_span_listed_whole)
{
	unsigned c = gm_size_class(16), n, taken, nelems, nfree;
	void **v = calloc(8192 + 64, sizeof(void *)); /* glibc: not the code under test */
	gm_mspan *s = NULL;
	uintptr_t head;
	uint64_t inuse;

	gm_opt.scavenge = false;
	for (n = 0; n < 8192; n++) {
		v[n] = gm_malloc(16);
		s = gm_span_of((uintptr_t)v[n]);
		if ((uintptr_t)v[n] == s->start)
			break;
	}
	ck_assert_uint_lt(n, 8192);
	taken = gm_class_batch[c];
	gm_lock_acquire(&gm_central[c].lock);
	nfree = s->nfree;
	nelems = (unsigned)s->nelems;
	head = (uintptr_t)s->freelist;
	gm_lock_release(&gm_central[c].lock);
	ck_assert_uint_eq(nelems, GM_SMALL_SPAN_PAGES * GM_PAGE_SIZE / 16);
	ck_assert_uint_eq(nfree, nelems - taken);
	ck_assert_uint_eq(head, s->start + 16 * taken);
	/* The rest of the batch follows in address order, then the list's. */
	for (unsigned i = 1; i < 2 * taken; i++) {
		v[n + i] = gm_malloc(16);
		ck_assert_ptr_eq(v[n + i], (char *)s->start + 16 * i);
	}
	inuse = atomic_load(&gm_heap.inuse);
	for (unsigned i = 0; i < n + 2 * taken; i++)
		gm_free(v[i]);
	gm_mcache_release_all(gm_tls_mcache);
	gm_mcentral_drain_all();
	ck_assert_uint_le(atomic_load(&gm_heap.inuse),
			  inuse - (uint64_t)GM_SMALL_SPAN_PAGES * GM_PAGE_SIZE);
	free(v);
	ck_heap_ok();
}
END_TEST

START_TEST(remote_free_returns_spans)
{
	unsigned c = gm_size_class(256), n;
	void **v;
	uint64_t inuse0;
	pthread_t t;
	struct xfer x;
	struct gomem_memstats a, b;

	gm_opt.scavenge = false;
	gm_read_memstats(&a);
	inuse0 = atomic_load(&gm_heap.inuse);
	v = fill_span(c, &n);
	x.v = v;
	x.n = n;
	/* Another thread frees everything, then exits: its cache becomes an
	 * orphan, given back here as the scavenger gives back one nobody
	 * took. */
	pthread_create(&t, NULL, free_all, &x);
	pthread_join(t, NULL);
	gm_mcache_orphans_release(UINT64_MAX);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, n);
	ck_assert_uint_eq(b.Frees - a.Frees, n);
	gm_mcache_release_all(gm_tls_mcache);
	gm_mcentral_drain_all();
	ck_assert_uint_le(atomic_load(&gm_heap.inuse), inuse0);
	ck_identities(&b);
	ck_heap_ok();
	free(v);
}
END_TEST

static void *
thread_alloc_exit(void *arg)
{
	void **out = arg;

	for (int i = 0; i < 100; i++)
		out[i] = gm_malloc(64 + (i % 4) * 64);
	return NULL;
}

START_TEST(thread_exit_hands_cache_back)
{
	void *v[100];
	pthread_t t;
	uint64_t threads0 = gm_registry_.nthreads;
	struct gomem_memstats a, b;

	gm_read_memstats(&a);
	pthread_create(&t, NULL, thread_alloc_exit, v);
	pthread_join(t, NULL);
	gm_read_memstats(&b);
	ck_assert_uint_eq(gm_registry_.nthreads, threads0);
	/* The dead thread's counts survive in the totals. */
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, 100);
	for (int i = 0; i < 100; i++)
		gm_free(v[i]);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, 100);
	ck_assert_uint_eq(b.Frees - a.Frees, 100);
	ck_identities(&b);
	ck_heap_ok();
}
END_TEST

static pthread_barrier_t line_bar;

static void *
alloc_report_cache(void *arg)
{
	gm_free(gm_malloc(32));
	*(gm_mcache **)arg = gm_tls_mcache;
	pthread_barrier_wait(&line_bar);
	return NULL;
}

/*
 * Threads' caches, made one after the other from the same chunks, each
 * start on a cache line and share none: a thread's lists and counters are
 * written on every malloc and free, and another thread's cache ending on
 * the same line would take them away from it at its slow paths.
 */
START_TEST(caches_own_their_lines)
{
	enum { N = 6 };
	pthread_t t[N];
	gm_mcache *mc[N];

	pthread_barrier_init(&line_bar, NULL, N + 1);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, alloc_report_cache, &mc[i]), 0);
	pthread_barrier_wait(&line_bar);
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&line_bar);
	ck_assert_uint_eq((uintptr_t)gm_tls_mcache % 64, 0);
	for (int i = 0; i < N; i++) {
		uintptr_t a = (uintptr_t)mc[i];

		ck_assert_uint_eq(a % 64, 0);
		for (int j = 0; j < N; j++) {
			uintptr_t b = (uintptr_t)mc[j];

			/* No line of one is a line of another. */
			if (j != i)
				ck_assert(a + sizeof(gm_mcache) <= b || b + sizeof(gm_mcache) <= a);
			if (j != i && a < b)
				ck_assert_uint_ge(b & ~(uintptr_t)63,
						  (a + sizeof(gm_mcache) + 63) & ~(uintptr_t)63);
		}
	}
	ck_heap_ok();
}
END_TEST

/* Free 16 objects of 256 B (x->v), noting the last (x->v[16]). */
static void *
free16_exit(void *arg)
{
	void **v = arg;

	for (int i = 0; i < 16; i++)
		v[i] = gm_malloc(256);
	for (int i = 0; i < 16; i++)
		gm_free(v[i]);
	v[16] = v[15];
	return NULL;
}

static void *
malloc256(void *arg)
{
	*(void **)arg = gm_malloc(256);
	return NULL;
}

static pthread_barrier_t orphan_bar;

static void *
alloc_wait_exit(void *arg)
{
	(void)arg;
	gm_free(gm_malloc(48));
	pthread_barrier_wait(&orphan_bar);
	return NULL;
}

/*
 * An exited thread's cache is an orphan: the next thread takes it whole, its
 * list included (the first malloc is the last object the dead thread freed,
 * with no refill); the counts stay exact; at most GM_ORPHANS_MAX wait; and
 * giving them back (the scavenger's) returns every object.
 */
START_TEST(orphan_cache_adopted)
{
	void *v[17], *p = NULL;
	pthread_t t, w[GM_ORPHANS_MAX + 3];
	uint64_t threads0, inuse0, cinuse0;
	struct gomem_memstats a, b;
	unsigned i;

	gm_opt.scavenge = false;
	gm_free(gm_malloc(8)); /* this thread's cache, before the counts */
	threads0 = gm_registry_.nthreads;
	gm_mcache_orphans_release(UINT64_MAX);
	gm_read_memstats(&a);
	cinuse0 = a.MCacheInuse;
	pthread_create(&t, NULL, free16_exit, v);
	pthread_join(t, NULL);
	ck_assert_uint_eq(gm_registry_.norphans, 1);
	ck_assert_uint_eq(gm_registry_.nthreads, threads0);
	pthread_create(&t, NULL, malloc256, &p);
	pthread_join(t, NULL);
	ck_assert_ptr_eq(p, v[16]);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, 17);
	ck_assert_uint_eq(b.Frees - a.Frees, 16);
	ck_identities(&b);
	gm_free(p);

	/* Many exit at once: the list stays bounded, the rest go back. */
	pthread_barrier_init(&orphan_bar, NULL, GM_ORPHANS_MAX + 4);
	for (i = 0; i < GM_ORPHANS_MAX + 3; i++)
		pthread_create(&w[i], NULL, alloc_wait_exit, NULL);
	pthread_barrier_wait(&orphan_bar);
	for (i = 0; i < GM_ORPHANS_MAX + 3; i++)
		pthread_join(w[i], NULL);
	pthread_barrier_destroy(&orphan_bar);
	ck_assert_uint_eq(gm_registry_.norphans, GM_ORPHANS_MAX);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.MCacheInuse, cinuse0 + GM_ORPHANS_MAX * gm_heap.cachealloc.size);
	ck_assert_uint_eq(b.HeapAlloc, a.HeapAlloc);
	ck_identities(&b);

	/* Given back: no orphan, no cache of theirs, every object home. */
	inuse0 = atomic_load(&gm_heap.inuse);
	gm_mcache_orphans_release(UINT64_MAX);
	gm_read_memstats(&b);
	ck_assert_uint_eq(gm_registry_.norphans, 0);
	ck_assert_ptr_null(gm_registry_.orphans);
	ck_assert_uint_eq(b.MCacheInuse, cinuse0);
	ck_assert_uint_eq(b.HeapAlloc, a.HeapAlloc);
	gm_mcache_release_all(gm_tls_mcache);
	gm_mcentral_drain_all();
	ck_assert_uint_le(atomic_load(&gm_heap.inuse), inuse0);
	ck_identities(&b);
	ck_heap_ok();
	gm_opt.scavenge = true;
}
END_TEST

#define NPROD 20000
struct ring {
	void *slot[256];
	_Atomic unsigned head, tail;
};

static void *
consumer(void *arg)
{
	struct ring *r = arg;
	unsigned got = 0;

	while (got < NPROD) {
		unsigned t = atomic_load(&r->tail);

		if (t == atomic_load(&r->head))
			continue;
		void *p = r->slot[t % 256];
		ck_assert_int_eq(((unsigned char *)p)[0], (unsigned char)(t & 0xff));
		gm_free(p);
		atomic_store(&r->tail, t + 1);
		got++;
	}
	return NULL;
}

START_TEST(producer_consumer)
{
	static struct ring r;
	pthread_t t;
	struct gomem_memstats a, b;

	gm_read_memstats(&a);
	pthread_create(&t, NULL, consumer, &r);
	for (unsigned i = 0; i < NPROD; i++) {
		size_t n = 16 + (i * 37) % 3000;
		unsigned char *p = gm_malloc(n);

		memset(p, (int)(i & 0xff), n);
		while (atomic_load(&r.head) - atomic_load(&r.tail) == 256)
			;
		r.slot[i % 256] = p;
		atomic_store(&r.head, i + 1);
	}
	pthread_join(t, NULL);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, NPROD);
	ck_assert_uint_eq(b.Frees - a.Frees, NPROD);
	ck_assert_uint_eq(b.HeapObjects, a.HeapObjects);
	ck_assert_uint_eq(b.HeapAlloc, a.HeapAlloc);
	ck_identities(&b);
	ck_heap_ok();
}
END_TEST

/* Is the OS page holding p resident? */
static bool
resident(uintptr_t p)
{
	unsigned char v = 0;

	ck_assert_int_eq(mincore((void *)(p & ~(uintptr_t)4095), 4096, &v), 0);
	return (v & 1) != 0;
}

/*
 * Spans of class c keep one object each (the first); every other object is
 * freed.  The OS pages of those spans that the survivor does not touch go
 * back to the OS (mincore says so, HeapInuseReleased counts them exactly,
 * HeapReleased and HeapInuse do not move); allocating the class again reuses
 * the parked objects before taking a new span; and a span that goes back to
 * the heap with parked pages counts them as whole released pages.
 */
/* Bytes of class c's spans parked now. */
static uint64_t
class_parked(unsigned c)
{
	uint64_t b = 0;

	gm_lock_acquire(&gm_central[c].lock);
	for (gm_mspan *s = gm_central[c].partial; s != NULL; s = s->next)
		b += (uint64_t)__builtin_popcountll(s->parked) * 4096;
	gm_lock_release(&gm_central[c].lock);
	return b;
}

static void
check_parking(unsigned c)
{
	unsigned n, i, nspans = 0, kept = 0;
	void **v = fill_span(c, &n), **w;
	gm_mspan **spans = calloc(n, sizeof(*spans));
	unsigned *count = calloc(n, sizeof(*count));
	uint32_t e = gm_class_size[c];
	unsigned ospages = gm_class_spanpages[c] * 2, survivor_pages = (e - 1) / 4096 + 1;
	struct gomem_memstats a, b;
	size_t released, want;
	uint64_t pa;

	gm_opt.scavenge = false;
	gm_mcentral_scavenge_all(); /* only our spans have pages to park below */
	for (i = 0; i < n; i++) {
		gm_mspan *s = gm_span_of((uintptr_t)v[i]);
		unsigned k;

		memset(v[i], 0x5a, e);
		for (k = 0; k < nspans && spans[k] != s; k++)
			;
		if (k == nspans)
			spans[nspans++] = s;
		count[k]++;
	}
	/* Keep the first object of every span we filled completely. */
	for (i = 0; i < n; i++) {
		gm_mspan *s = gm_span_of((uintptr_t)v[i]);
		unsigned k;

		for (k = 0; spans[k] != s; k++)
			;
		if (count[k] == s->nelems && (uintptr_t)v[i] == s->start) {
			kept++;
			continue;
		}
		gm_free(v[i]);
		v[i] = NULL;
	}
	ck_assert_uint_ge(kept, 2);
	gm_mcache_release_all(gm_tls_mcache);
	gm_mcentral_drain_all();
	gm_read_memstats(&a);
	released = gm_mcentral_scavenge_all();
	gm_read_memstats(&b);
	/* At least the pages the survivors leave alone in our full spans. */
	want = (size_t)kept * (ospages - survivor_pages) * 4096;
	ck_assert_uint_ge(released, want);
	ck_assert_uint_eq(b.HeapInuseReleased - a.HeapInuseReleased, released);
	ck_assert_uint_eq(b.HeapReleased, a.HeapReleased);
	ck_assert_uint_eq(b.HeapInuse, a.HeapInuse);
	for (i = 0; i < n; i++) {
		uintptr_t p = (uintptr_t)v[i];
		gm_mspan *s;

		if (p == 0)
			continue;
		s = gm_span_of(p);
		ck_assert_msg(((unsigned char *)p)[0] == 0x5a && ((unsigned char *)p)[e - 1] == 0x5a,
			      "survivor damaged");
		ck_assert(resident(p));
		for (unsigned j = survivor_pages; j < ospages; j++)
			ck_assert_msg(!resident(s->start + j * 4096), "page %u of a span resident", j);
	}
	ck_heap_ok();
	ck_identities(&b);

	/* The first half of the survivors go: their spans return to the heap. */
	for (i = 0, kept = 0; i < n; i++) {
		if (v[i] != NULL && kept++ % 2 == 0) {
			gm_free(v[i]);
			v[i] = NULL;
		}
	}
	gm_mcache_release_all(gm_tls_mcache);
	gm_mcentral_drain_all();
	gm_read_memstats(&a);
	ck_assert_uint_lt(a.HeapInuseReleased, b.HeapInuseReleased);
	ck_assert_uint_gt(a.HeapReleased, b.HeapReleased);
	ck_assert_uint_eq((a.HeapReleased - b.HeapReleased) % GM_PAGE_SIZE, 0);
	ck_heap_ok();
	ck_identities(&a);

	/* Allocating again takes the parked objects before any new span. */
	pa = class_parked(c);
	ck_assert_uint_gt(pa, 0);
	w = calloc(4 * n, sizeof(*w));
	for (i = 0; i < 4 * n && class_parked(c) != 0; i++) {
		w[i] = gm_malloc(e);
		ck_assert_ptr_nonnull(w[i]);
		memset(w[i], 0x33, e);
	}
	gm_read_memstats(&b);
	ck_assert_uint_eq(class_parked(c), 0);
	ck_assert_uint_eq(a.HeapInuseReleased - b.HeapInuseReleased, pa);
	/* (The refill that took the last parked objects may have wanted
	 * more: a batch, from as many fresh spans as it fills.) */
	ck_assert_uint_le(b.HeapInuse,
			  a.HeapInuse + (gm_class_batch[c] + gm_class_nelems[c] - 1) /
						gm_class_nelems[c] * gm_class_spanpages[c] * GM_PAGE_SIZE);
	for (i = 0; i < 4 * n; i++)
		gm_free(w[i]);
	for (i = 0; i < n; i++)
		gm_free(v[i]);
	free(w);
	gm_mcache_release_all(gm_tls_mcache);
	gm_mcentral_drain_all();
	ck_heap_ok();
	free(v);
	free(spans);
	free(count);
}

/*
 * The size of the objects one thread allocates and another frees in the
 * tests of the caps: a class no cache owns, so that the freeing thread's
 * list takes them (an owned span's would go home instead).
 */
#define XFER_SIZE 128
_Static_assert(XFER_SIZE > GM_OWNSPANS_DEFAULT, "XFER_SIZE's spans have no owner");

/* Allocate all of x (its size, or XFER_SIZE) in this thread. */
static void *
alloc_all(void *arg)
{
	struct xfer *x = arg;

	for (unsigned i = 0; i < x->n; i++)
		x->v[i] = gm_malloc(x->size != 0 ? x->size : XFER_SIZE);
	return NULL;
}

/* Free all of x in this thread, whose caps must stay at their base. */
static void *
free_grown_check(void *arg)
{
	struct xfer *x = arg;
	unsigned c = gm_size_class(XFER_SIZE);

	for (unsigned i = 0; i < x->n; i++)
		gm_free(x->v[i]);
	ck_assert_uint_eq(gm_tls_mcache->max[c], 2u * gm_class_batch[c]);
	ck_assert_uint_eq(gm_tls_mcache->grown, 0);
	return NULL;
}
/* Base cap of a list (2 batches) and its adaptive bound. */
static unsigned
cap_base(unsigned c)
{
	return 2u * gm_class_batch[c];
}

static unsigned
cap_limit(unsigned c)
{
	uint64_t l = GM_CACHE_LIST_BYTES / gm_class_size[c];

	return l < GM_CACHE_LIST_OBJS ? (unsigned)l : GM_CACHE_LIST_OBJS;
}

/* The thread's grown bytes must be the sum of every cap above its base. */
static void
check_grown(void)
{
	gm_mcache *mc = gm_tls_mcache;
	uint64_t sum = 0;

	for (unsigned c = 1; c < GM_NUM_SPANCLASSES; c++) {
		ck_assert_uint_ge(mc->max[c], cap_base(c));
		ck_assert_uint_le(mc->max[c], cap_limit(c) > cap_base(c) ? cap_limit(c) : cap_base(c));
		sum += (uint64_t)(mc->max[c] - cap_base(c)) * gm_class_size[c];
		list_len(c);
	}
	ck_assert_uint_eq(sum, mc->grown);
	ck_assert_uint_le(mc->grown, GM_CACHE_THREAD_BYTES);
}

/* n mallocs of size then n frees, last first (glibc's bench-malloc-simple). */
static void
burst(void **v, unsigned n, size_t size)
{
	for (unsigned i = 0; i < n; i++) {
		v[i] = gm_malloc(size);
		ck_assert_ptr_nonnull(v[i]);
		memset(v[i], 0x5a, size);
	}
	for (unsigned i = n; i-- > 0;)
		gm_free(v[i]);
}

START_TEST(cap_grows_for_bursts)
{
	unsigned c = gm_size_class(64), n = 1600;
	void **v = calloc(n, sizeof(void *));
	struct gomem_memstats a, b;
	uint64_t inuse;

	gm_opt.scavenge = false;
	gm_read_memstats(&a);
	burst(v, 1, 64);
	ck_assert_uint_eq(gm_tls_mcache->max[c], cap_base(c));
	/* Bursts longer than the list make it grow, doubling, to hold a burst. */
	for (int r = 0; r < 13; r++)
		burst(v, n, 64);
	ck_assert_uint_ge(gm_tls_mcache->max[c], n);
	ck_assert_uint_le(gm_tls_mcache->max[c], cap_limit(c));
	check_grown();
	/* Now a burst is served by the list alone: no span is taken or given back. */
	inuse = atomic_load(&gm_heap.inuse);
	ck_assert_uint_ge(list_len(c), n);
	for (unsigned i = 0; i < n; i++)
		v[i] = gm_malloc(64);
	ck_assert_uint_eq(atomic_load(&gm_heap.inuse), inuse);
	for (unsigned i = n; i-- > 0;)
		gm_free(v[i]);
	ck_assert_uint_ge(list_len(c), n);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, 14 * n + 1);
	ck_assert_uint_eq(b.Frees - a.Frees, 14 * n + 1);
	ck_assert_uint_eq(b.HeapObjects, a.HeapObjects);
	ck_identities(&b);
	/* Thread exit and fork hand the lists back: caps return to their base. */
	gm_mcache_release_all(gm_tls_mcache);
	gm_mcentral_drain_all();
	ck_assert_uint_eq(gm_tls_mcache->max[c], cap_base(c));
	ck_assert_uint_eq(gm_tls_mcache->grown, 0);
	check_grown();
	ck_heap_ok();
	free(v);
}
END_TEST

START_TEST(cap_bounds)
{
	/* Large objects: the bound in bytes stops the list before GM_CACHE_LIST_OBJS. */
	unsigned c = gm_size_class(1024), n = 2000;
	void **v = calloc(n, sizeof(void *));

	gm_opt.scavenge = false;
	for (int r = 0; r < 12; r++)
		burst(v, cap_limit(c) + 100, 1024);
	ck_assert_uint_eq(gm_tls_mcache->max[c], cap_limit(c));
	ck_assert_uint_lt(cap_limit(c), GM_CACHE_LIST_OBJS);
	check_grown();
	/* Bursts in every class: the thread's budget holds, halving older lists. */
	for (unsigned k = 1; k < GM_NUM_CLASSES; k++) {
		unsigned m = cap_limit(k) + 64 < n ? cap_limit(k) + 64 : n;

		for (int r = 0; r < 8; r++)
			burst(v, m, gm_class_size[k]);
		check_grown();
	}
	ck_assert_uint_gt(gm_tls_mcache->grown, GM_CACHE_THREAD_BYTES / 2);
	gm_mcache_release_all(gm_tls_mcache);
	gm_mcentral_drain_all();
	ck_heap_ok();
	free(v);
}
END_TEST

START_TEST(cap_shrinks_when_only_freeing)
{
	unsigned c = gm_size_class(XFER_SIZE), n = 1600, big = 20000, base, grown;
	void **v = calloc(big, sizeof(void *));
	struct xfer x = { .v = v, .n = big };
	pthread_t t;

	gm_opt.scavenge = false;
	for (int r = 0; r < 12; r++)
		burst(v, n, XFER_SIZE);
	grown = gm_tls_mcache->max[c];
	base = cap_base(c);
	ck_assert_uint_gt(grown, base);
	/* Another thread allocates, this one frees: many more frees than four
	 * times the list's bound with no malloc between them (the thread only
	 * frees), the cap halves at each 255 overflows and the extra objects
	 * go back to mcentral. */
	pthread_create(&t, NULL, alloc_all, &x);
	pthread_join(t, NULL);
	for (unsigned i = 0; i < big; i++)
		gm_free(v[i]);
	ck_assert_uint_le(gm_tls_mcache->max[c], grown / 4);
	ck_assert_uint_le(list_len(c), gm_tls_mcache->max[c]);
	check_grown();
	gm_mcache_release_all(gm_tls_mcache);
	gm_mcentral_drain_all();
	ck_heap_ok();
	free(v);
}
END_TEST

/*
 * Free all of x (XFER_SIZE) in this thread, a consumer: after four bounds of its
 * list freed with no malloc, the cap holds GM_TC_MULTI batches, and each
 * overflow gives all but one back at once (one lock of the class).
 */
static void *
free_consumer_check(void *arg)
{
	struct xfer *x = arg;
	unsigned c = gm_size_class(XFER_SIZE), b = gm_class_batch[c];
	unsigned multi = GM_TC_MULTI * b < cap_limit(c) ? GM_TC_MULTI * b : cap_limit(c);
	unsigned drops = 0, big = 0;
	uint32_t prev = 0, len;
	gm_mcache *mc;

	for (unsigned i = 0; i < x->n; i++) {
		gm_free(x->v[i]);
		mc = gm_tls_mcache;
		len = mc->max[c] - mc->room[c];
		if (i != 0 && len <= prev && i >= x->n / 2) {
			/* An overflow gave objects back before the push. */
			drops++;
			big += prev + 1 - len == multi - b;
		}
		prev = len;
	}
	mc = gm_tls_mcache;
	ck_assert_uint_eq(mc->max[c], multi);
	ck_assert_uint_eq(mc->grown, (uint64_t)(multi - cap_base(c)) * XFER_SIZE);
	ck_assert_uint_le(list_len(c), multi);
	/* In the second half, every overflow gave all but one batch back. */
	ck_assert_uint_ge(drops, x->n / 2 / multi);
	ck_assert_uint_eq(big, drops);
	check_grown();
	return NULL;
}

/* rounds times: this thread allocates n objects of XFER_SIZE, a new one runs fn
 * on them (it frees them all). */
static void
free_in_thread(unsigned n, int rounds, void *(*fn)(void *))
{
	void **v = calloc(n, sizeof(void *));
	struct xfer x = { .v = v, .n = n };
	pthread_t t;

	gm_opt.scavenge = false;
	for (int r = 0; r < rounds; r++) {
		for (unsigned i = 0; i < n; i++)
			v[i] = gm_malloc(XFER_SIZE);
		pthread_create(&t, NULL, fn, &x);
		pthread_join(t, NULL);
	}
	gm_mcache_release_all(gm_tls_mcache);
	gm_mcentral_drain_all();
	ck_heap_ok();
	free(v);
}

START_TEST(cap_consumer_gives_back_batches)
{
	free_in_thread(40000, 1, free_consumer_check);
}
END_TEST

START_TEST(cap_freeing_thread_never_grows)
{
	/* A thread that only frees a run shorter than four bounds of its
	 * list keeps its caps at the base. */
	free_in_thread(5000, 4, free_grown_check);
}
END_TEST

START_TEST(free_os_pages_inside_spans)
{
	check_parking(gm_size_class(256));  /* one-page spans */
	check_parking(gm_size_class(3000)); /* objects across OS pages */
	check_parking(gm_size_class(10000));
}
END_TEST

/* The objects of a batch (a tagged list) into v; how many. */
static unsigned
batch_objs(void *head, void **v, unsigned max)
{
	unsigned n = 0;

	for (void *p = head; p != NULL && n < max; p = gm_link_take(p))
		v[n++] = p;
	return n;
}

/* Free objects on the span of p (its class's lock). */
static unsigned
span_nfree(unsigned c, void *p)
{
	unsigned n;

	gm_lock_acquire(&gm_central[c].lock);
	n = gm_span_of((uintptr_t)p)->nfree;
	gm_lock_release(&gm_central[c].lock);
	return n;
}

/*
 * The transfer cache: a whole batch given back is the next refill's, the
 * same objects in the same order, without going through its spans; at
 * most tcmax batches are kept (the rest go to the spans), a batch of
 * another length goes to the spans, and draining it gives the spans back
 * to the heap.
 */
/*
 * Take a batch of class c as a thread cache would give it back: its links
 * tagged (a whole batch from the transfer cache has them so already).
 */
static unsigned
take_batch(unsigned c, unsigned want, void **head, bool *whole)
{
	unsigned n = gm_mcentral_alloc_batch(c, want, head, whole);

	(void)c;
	if (!*whole)
		for (uintptr_t *p = *head, *next; p != NULL; p = next) {
			next = (uintptr_t *)p[0];
			p[0] = gm_link_enc(next);
		}
	return n;
}

START_TEST(transfer_cache_hands_batches_whole)
{
	unsigned c = gm_size_class(64), b = gm_class_batch[c], max = gm_central[c].tcmax;
	void **heads = calloc(max + 2, sizeof(void *));
	void *v[64], *w[64], *h;
	uint64_t inuse0;
	bool whole;

	gm_opt.scavenge = false;
	ck_assert_uint_le(b, 64);
	gm_mcentral_drain(c);
	inuse0 = atomic_load(&gm_heap.inuse);
	ck_assert_uint_eq(take_batch(c, b, &h, &whole), b);
	ck_assert(!whole);
	ck_assert_uint_eq(batch_objs(h, v, 64), b);
	unsigned nf = span_nfree(c, v[0]);
	gm_mcentral_free_batch(c, h, b);
	ck_assert_uint_eq(tc_len(c), 1);
	ck_assert_uint_eq(span_nfree(c, v[0]), nf); /* the span was not touched */
	ck_assert_uint_eq(take_batch(c, b, &h, &whole), b);
	ck_assert(whole);
	ck_assert_uint_eq(tc_len(c), 0);
	ck_assert_uint_eq(batch_objs(h, w, 64), b);
	for (unsigned i = 0; i < b; i++)
		ck_assert_ptr_eq(w[i], v[i]);
	gm_mcentral_free_batch(c, h, b);

	/* Fill it past its bound: one batch more goes to its spans. */
	for (unsigned i = 1; i < max + 1; i++)
		ck_assert_uint_eq(take_batch(c, b, &heads[i], &whole), b);
	for (unsigned i = 1; i < max + 1; i++)
		gm_mcentral_free_batch(c, heads[i], b);
	ck_assert_uint_eq(tc_len(c), max);

	/* A part batch never enters it. */
	ck_assert_uint_eq(take_batch(c, b - 1, &h, &whole), b - 1);
	ck_assert(!whole);
	ck_assert_uint_eq(tc_len(c), max);
	ck_assert_uint_eq(batch_objs(h, v, 64), b - 1);
	nf = span_nfree(c, v[0]);
	gm_mspan *sp = gm_span_of((uintptr_t)v[0]);
	gm_mcentral_free_batch(c, h, b - 1);
	ck_assert_uint_eq(tc_len(c), max);
	/* Onto its span: more free there, or (all free) the span back in
	 * the heap, where it may have merged into a free neighbour. */
	uint8_t st = gm_span_state(sp);
	ck_assert_msg(st == GM_SPAN_FREE || st == GM_SPAN_DEAD || span_nfree(c, v[0]) > nf,
		      "a part batch did not go back to its span (state %u, %u free, %u before)",
		      st, span_nfree(c, v[0]), nf);

	/* Emptied, every span goes back to the heap. */
	ck_assert_uint_gt(atomic_load(&gm_heap.inuse), inuse0);
	gm_mcentral_drain(c);
	ck_assert_uint_eq(tc_len(c), 0);
	ck_assert_uint_le(atomic_load(&gm_heap.inuse), inuse0);
	ck_heap_ok();
	free(heads);
}
END_TEST

/*
 * Past its idle bound, a transfer cache keeps its batches while refills
 * take from it, and gives the excess back to the spans at the scavenger's
 * first trim after they stop.
 */
START_TEST(transfer_cache_trims_when_idle)
{
	unsigned c = gm_size_class(64), b = gm_class_batch[c], base = gm_central[c].tcbase;
	unsigned n = base + 16;
	void **heads = calloc(n, sizeof(void *)), *h;
	uint64_t inuse;
	bool whole;

	gm_opt.scavenge = false;
	ck_assert_uint_lt(n, gm_central[c].tcmax);
	gm_mcentral_drain(c);
	gm_mcentral_trim_idle(); /* no refill since: the flags are clear */
	for (unsigned i = 0; i < n; i++)
		ck_assert_uint_eq(take_batch(c, b, &heads[i], &whole), b);
	for (unsigned i = 0; i < n; i++)
		gm_mcentral_free_batch(c, heads[i], b);
	ck_assert_uint_eq(tc_len(c), n);
	/* A refill takes from it: the next trim keeps everything. */
	ck_assert_uint_eq(take_batch(c, b, &h, &whole), b);
	ck_assert(whole);
	gm_mcentral_free_batch(c, h, b);
	gm_mcentral_trim_idle();
	ck_assert_uint_eq(tc_len(c), n);
	/* None since: down to the idle bound, the rest on the spans. */
	inuse = atomic_load(&gm_heap.inuse);
	gm_mcentral_trim_idle();
	ck_assert_uint_eq(tc_len(c), base);
	ck_assert_uint_le(atomic_load(&gm_heap.inuse), inuse);
	gm_mcentral_drain(c);
	ck_heap_ok();
	free(heads);
}
END_TEST

/* Its bounds, class by class: slots, objects and bytes. */
START_TEST(transfer_cache_bounds)
{
	for (unsigned c = 1; c < GM_NUM_CLASSES; c++) {
		uint64_t objs = (uint64_t)gm_central[c].tcmax * gm_class_batch[c];

		ck_assert_uint_ge(gm_central[c].tcmax, 1);
		ck_assert_uint_le(gm_central[c].tcmax, GM_TC_SLOTS);
		ck_assert_uint_le(objs, GM_TC_OBJS);
		ck_assert_uint_le(objs * gm_class_size[c], GM_TC_BYTES);
		objs = (uint64_t)gm_central[c].tcbase * gm_class_batch[c];
		ck_assert_uint_ge(gm_central[c].tcbase, 1);
		ck_assert_uint_le(gm_central[c].tcbase, gm_central[c].tcmax);
		ck_assert_uint_le(objs, GM_TC_IDLE_OBJS);
		ck_assert_uint_le(objs * gm_class_size[c], GM_TC_IDLE_BYTES);
	}
	ck_assert_uint_eq(gm_central[GM_SPANCLASS_LARGE].tcmax, 0);
}
END_TEST

/* A consumer thread's whole batches reach the producer through it. */
static void *
free_batches(void *arg)
{
	struct xfer *x = arg;
	unsigned c = gm_size_class(64);

	for (unsigned i = 0; i < x->n; i++)
		gm_free(x->v[i]);
	/* Whole batches are there. */
	gm_lock_acquire(&gm_central[c].lock);
	x->n = gm_central[c].ntc;
	gm_lock_release(&gm_central[c].lock);
	return NULL;
}

/*
 * n objects of 64 B allocated here, freed by another thread (free_batches);
 * returns the transfer cache's length when that thread was done, before
 * its exit.  Objects of spans nobody owns: an owned span takes its objects
 * back itself (remote_free_goes_home).
 */
static unsigned
hand_off(void **v, unsigned n)
{
	struct xfer x = { .v = v, .n = n };
	pthread_t t;

	gm_opt.scavenge = false;
	gm_opt.ownspans = 0;
	gm_mcentral_drain(gm_size_class(64));
	for (unsigned i = 0; i < n; i++)
		v[i] = gm_malloc(64);
	pthread_create(&t, NULL, free_batches, &x);
	pthread_join(t, NULL);
	/* Its cache, an orphan, back as the scavenger gives it. */
	gm_mcache_orphans_release(UINT64_MAX);
	return x.n;
}

START_TEST(transfer_cache_hand_off)
{
	unsigned c = gm_size_class(64), n = 4 * gm_class_batch[c];
	void **v = calloc(n, sizeof(void *));

	/* The freeing thread's list (2 batches at its base cap) overflowed
	 * twice, a whole batch each time. */
	ck_assert_uint_eq(hand_off(v, n), 2);
	/* Its list, given back, went as whole batches too, and they stay
	 * there for the next thread. */
	ck_assert_uint_eq(tc_len(c), 4);
	gm_mcache_release_all(gm_tls_mcache);
	gm_mcentral_drain_all();
	ck_heap_ok();
	free(v);
}
END_TEST

/* A producer: allocate x->n objects of 64 B, noting the transfer cache's
 * length after the first malloc (x->v[0] gets it) and at the end (x->n). */
static void *
produce(void *arg)
{
	struct xfer *x = arg;
	unsigned c = gm_size_class(64), n = x->n;

	for (unsigned i = 0; i < n; i++) {
		x->v[i] = gm_malloc(64);
		if (i == 0)
			x->v[n] = (void *)(uintptr_t)tc_len(c);
	}
	x->n = tc_len(c);
	return NULL;
}

/*
 * Several batches move under one lock: a thread's exit gives its list back
 * as whole batches, and a producer's refill takes as many whole batches as
 * its cap holds from the second refill in a row on.
 */
START_TEST(transfer_cache_moves_several_batches)
{
	unsigned c = gm_size_class(64), b = gm_class_batch[c], n = 8 * b, after1;
	void **v = calloc(n + 1, sizeof(void *)), **w = calloc(3 * b + 1, sizeof(void *));
	struct xfer y = { .v = w, .n = 3 * b };
	pthread_t t;

	/* The consumer's overflows give a batch each, its orphan the rest. */
	hand_off(v, n);
	ck_assert_uint_eq(tc_len(c), 8);
	/* A new thread: its first refill takes a batch; at the next (no
	 * overflow between) its cap doubles and it takes 4, as many as the
	 * cap holds. */
	pthread_create(&t, NULL, produce, &y);
	pthread_join(t, NULL);
	after1 = (unsigned)(uintptr_t)w[3 * b];
	ck_assert_uint_eq(after1, 7);
	ck_assert_uint_eq(y.n, 3);
	/* Every object once, and a sound heap. */
	for (unsigned i = 0; i < 3 * b; i++)
		for (unsigned j = i + 1; j < 3 * b; j++)
			ck_assert_ptr_ne(w[i], w[j]);
	for (unsigned i = 0; i < 3 * b; i++)
		gm_free(w[i]);
	gm_mcache_release_all(gm_tls_mcache);
	gm_mcentral_drain_all();
	ck_heap_ok();
	free(v);
	free(w);
}
END_TEST

/*
 * For a child that ends the process on a bad free: no scavenger, no owned
 * spans (refills go to the transfer cache and the spans), a pipe in fd;
 * fork's result.
 */
static pid_t
fork_with_pipe(int fd[2])
{
	pid_t pid;

	gm_opt.scavenge = false;
	gm_opt.ownspans = 0;
	ck_assert_int_eq(pipe(fd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	return pid;
}

/*
 * The child pid wrote a block's address on fd, then its stderr: it must
 * have stopped with SIGABRT and a message naming the block as a double free.
 */
static void
expect_child_names(int fd, pid_t pid)
{
	void *p = NULL;
	char msg[256] = "", want[64];
	ssize_t got = 0, r;
	int st;

	ck_assert_int_eq(read(fd, &p, sizeof(p)), sizeof(p));
	while (got < (ssize_t)sizeof(msg) - 1 &&
	       (r = read(fd, msg + got, sizeof(msg) - 1 - (size_t)got)) > 0)
		got += r;
	close(fd);
	waitpid(pid, &st, 0);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "child status %d: %s", st, msg);
	snprintf(want, sizeof(want), "double free (or write after free) of %p\n", p);
	ck_assert_msg(strstr(msg, want) != NULL, "message: %s, wanted %s", msg, want);
}

/*
 * A block freed again while it is on its span's free list (a part batch
 * goes there): the second free leaves a tagged link in it, which the walk
 * that takes objects off the span finds, and stops the process naming the
 * block, where it used to follow that word as a plain link.
 */
START_TEST(span_list_double_free)
{
	unsigned c = gm_size_class(64), b = gm_class_batch[c];
	void *v[64], *h, *p = NULL;
	bool whole;
	int fd[2];
	pid_t pid = fork_with_pipe(fd);
	if (pid == 0) {
		gm_free(gm_malloc(64)); /* this thread has a cache */
		take_batch(c, b - 1, &h, &whole);
		batch_objs(h, v, 64);
		gm_mcentral_free_batch(c, h, b - 1); /* a part batch: to the span */
		p = v[(b - 1) / 2];
		if (write(fd[1], &p, sizeof(p)) != sizeof(p))
			_exit(2);
		dup2(fd[1], 2);
		gm_free(p); /* p was freed already: it is on its span's list */
		for (unsigned i = 0; i < 64; i++)
			gm_mcentral_alloc_batch(c, b, &h, &whole);
		_exit(0);
	}
	close(fd[1]);
	expect_child_names(fd[0], pid);
}
END_TEST

/*
 * gm_mcache_release gives the first n objects of a list back as whole
 * batches for the transfer cache, the first objects first, at most
 * GM_TC_MULTI of them, or GM_TC_MULTI - 1 and the rest as one list when
 * more than GM_TC_MULTI batches' worth goes; each batch is a tagged list of
 * exactly a batch's objects, in the list's order; the list keeps the rest,
 * still tagged, and its room counts what left; every object not in a
 * whole batch is back on its span.
 */
START_TEST(release_cuts_batches)
{
	unsigned c = gm_size_class(64), b = gm_class_batch[c], M = GM_TC_MULTI;
	unsigned lens[] = {1, b - 1, b, b + 1, 2 * b, M * b - 1, M * b, M * b + 1, (M + 1) * b,
			   3 * M * b + 5};
	gm_mcache *mc;
	void **v = calloc(3 * M * b + 5, sizeof(void *)); /* glibc */
	uint32_t max0;

	gm_opt.scavenge = false;
	gm_free(gm_malloc(64)); /* this thread has a cache */
	mc = gm_tls_mcache;
	max0 = mc->max[c];
	ck_assert_uint_ge(gm_central[c].tcmax, M + 1);
	for (unsigned t = 0; t < sizeof(lens) / sizeof(lens[0]); t++) {
		for (unsigned cut = 0; cut < 3; cut++) {
			unsigned L = lens[t], n = cut == 0 ? L : cut == 1 ? L / 2 : UINT32_MAX;
			unsigned r = n < L ? n : L, whole, i;

			if (n == 0)
				continue;
			for (i = 0; i < L; i++)
				v[i] = gm_malloc(64);
			/* Nothing else on the list, nothing in the transfer cache. */
			gm_mcache_release(mc, c, UINT32_MAX);
			gm_mcentral_drain(c);
			ck_assert_ptr_null(mc->free[c]);
			for (i = 0; i < L; i++)
				*(uintptr_t *)v[i] = gm_link_enc(i + 1 < L ? v[i + 1] : NULL);
			mc->max[c] = L > max0 ? L : max0;
			mc->room[c] = mc->max[c] - L;
			mc->free[c] = v[0];

			gm_mcache_release(mc, c, n);

			ck_assert_uint_eq(list_len(c), L - r);
			ck_assert_ptr_eq(mc->free[c], r < L ? v[r] : NULL);
			whole = r <= M * b ? r / b : M - 1;
			ck_assert_msg(tc_len(c) == whole, "L %u n %u: %u batches, want %u", L, n,
				      tc_len(c), whole);
			/* The transfer cache hands out its last batch first. */
			void *h[GM_TC_MULTI];

			for (unsigned k = whole; k-- > 0;) {
				void *w[64];
				bool isw;

				ck_assert_uint_eq(gm_mcentral_alloc_batch(c, b, &h[k], &isw), b);
				ck_assert(isw);
				ck_assert_uint_eq(batch_objs(h[k], w, 64), b);
				for (unsigned j = 0; j < b; j++)
					ck_assert_ptr_eq(w[j], v[k * b + j]);
			}
			for (unsigned k = 0; k < whole; k++)
				gm_mcentral_free_batch(c, h[k], b);
			gm_mcentral_drain(c);
			/* The list's rest back to the spans. */
			gm_mcache_release(mc, c, UINT32_MAX);
			gm_mcentral_drain(c);
			mc->max[c] = max0;
			mc->room[c] = max0;
			ck_heap_ok();
		}
	}
	free(v);
}
END_TEST

/*
 * A block freed again while its batch sits in the transfer cache: the
 * thread's list hands it out, then the batch, taken whole at the next
 * refill; that malloc finds the block's link taken (0), and stops the
 * process naming the block, before it follows that word as a link.
 */
START_TEST(transfer_cache_double_free)
{
	unsigned c = gm_size_class(64), b = gm_class_batch[c];
	void *v[64], *h, *p = NULL;
	bool whole;
	int fd[2];
	pid_t pid = fork_with_pipe(fd); /* without owned spans the refill goes to the transfer cache */
	if (pid == 0) {
		gm_free(gm_malloc(64)); /* this thread has a cache */
		gm_mcache_release(gm_tls_mcache, c, UINT32_MAX);
		gm_mcentral_drain(c); /* the batch below is the only one there */
		take_batch(c, b, &h, &whole);
		batch_objs(h, v, 64);
		gm_mcentral_free_batch(c, h, b);
		p = v[b / 2];
		if (write(fd[1], &p, sizeof(p)) != sizeof(p))
			_exit(2);
		dup2(fd[1], 2);
		gm_free(p); /* p was freed already: it is in the transfer cache */
		for (unsigned i = 0; i < 2 * b; i++)
			gm_malloc(64);
		_exit(0);
	}
	close(fd[1]);
	expect_child_names(fd[0], pid);
}
END_TEST

/*
 * Owned spans.  The main thread's cache owns the span it allocates from;
 * another thread's frees of its objects go back to that span (its
 * thread-free list), not on the freeing thread's list, so the freeing
 * thread's own allocations come from elsewhere (no object of a line the
 * first thread writes); the owner gets them back when its list runs dry.
 */
struct home {
	void **v;
	unsigned n, c;
	bool *owned; /* v[i]'s span was the main thread's at free time */
	unsigned foreign; /* the freeing thread's allocations among v[] */
};

static bool
in_list(void *head, void *p)
{
	for (void *q = head; q != NULL; q = gm_link_take(q))
		if (q == p)
			return true;
	return false;
}

static void *
free_then_alloc(void *arg)
{
	struct home *h = arg;
	void *mine[256];

	for (unsigned i = 0; i < h->n; i++)
		gm_free(h->v[i]);
	for (unsigned i = 0; i < h->n; i++)
		if (h->owned[i])
			ck_assert_msg(!in_list(gm_tls_mcache->free[h->c], h->v[i]),
				      "an owned span's object joined the freeing thread's list");
	for (unsigned i = 0; i < h->n; i++) {
		mine[i] = gm_malloc(gm_class_size[h->c]);
		for (unsigned j = 0; j < h->n; j++)
			if (h->owned[j] && mine[i] == h->v[j])
				h->foreign++;
	}
	for (unsigned i = 0; i < h->n; i++)
		gm_free(mine[i]);
	return NULL;
}

START_TEST(remote_free_goes_home)
{
	unsigned c = gm_size_class(48), n = 100, nowned = 0, back = 0;
	void *v[100], *w[4096];
	bool owned[100];
	struct home h = { v, n, c, owned, 0 };
	struct gomem_memstats a, b;
	gm_mspan *s;
	pthread_t t;
	unsigned pending = 0;

	gm_opt.scavenge = false;
	ck_assert_uint_le(n, gm_class_nelems[c]);
	gm_read_memstats(&a);
	for (unsigned i = 0; i < n; i++) {
		v[i] = gm_malloc(48);
		memset(v[i], 0x11, 48);
	}
	for (unsigned i = 0; i < n; i++) {
		s = gm_span_of((uintptr_t)v[i]);
		owned[i] = s->owner == gm_tls_mcache;
		nowned += owned[i];
	}
	ck_assert_uint_gt(nowned, 0);
	pthread_create(&t, NULL, free_then_alloc, &h);
	pthread_join(t, NULL);
	ck_assert_uint_eq(h.foreign, 0);
	/* They wait on the thread-free list of the span this thread owns. */
	s = gm_tls_mcache->own[c];
	ck_assert_ptr_nonnull(s);
	for (void *q = gm_xfree_head(s->xfree); q != NULL; q = gm_link_take(q))
		pending++;
	ck_assert_uint_eq(pending, nowned);
	ck_assert_uint_eq(gm_xfree_count(s->xfree), nowned);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, 2 * n);
	ck_assert_uint_eq(b.Frees - a.Frees, 2 * n);
	ck_assert_uint_eq(b.HeapAlloc, a.HeapAlloc);
	ck_identities(&b);
	/* The owner allocates them again, before its span's other objects
	 * run out (bounded: a span's worth plus the list). */
	for (unsigned i = 0; i < 4096 && back < nowned; i++) {
		w[i] = gm_malloc(48);
		for (unsigned j = 0; j < n; j++)
			if (owned[j] && w[i] == v[j])
				back++;
		if (back == nowned) {
			for (unsigned k = 0; k <= i; k++)
				gm_free(w[k]);
			break;
		}
		ck_assert_uint_lt(i, (unsigned)(gm_class_nelems[c] + 2 * gm_class_batch[c]));
	}
	ck_assert_uint_eq(back, nowned);
	gm_mcache_release_all(gm_tls_mcache);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.HeapAlloc, a.HeapAlloc);
	ck_assert_uint_eq(b.Mallocs - b.Frees, a.Mallocs - a.Frees);
	ck_identities(&b);
	ck_heap_ok();
}
END_TEST

/*
 * The same with a sampled block in the owned span (the profile's blocks stay
 * in their spans by default, and the span's fastclass is 0): every object
 * still goes home, to the span's thread-free list, the sampled one by the
 * checked way, where the profile takes it out of the live samples first.
 */
START_TEST(remote_free_beside_a_sample_goes_home)
{
	unsigned n = 100, k = 60, nowned = 0, pending = 0;
	void *v[100];
	bool owned[100];
	struct xfer x = { .v = v, .n = n };
	size_t live0 = gm_prof.count;
	struct gomem_memstats a, b;
	gm_mspan *s;
	pthread_t t;

	gm_opt.scavenge = false;
	gm_opt.profile_rate = 512 * 1024;
	gm_tls_mcache->next_sample = INT64_MAX;
	gm_read_memstats(&a);
	for (unsigned i = 0; i < n; i++) {
		if (i == k)
			gm_tls_mcache->next_sample = 0; /* v[k] is sampled */
		v[i] = gm_malloc(48);
		gm_tls_mcache->next_sample = INT64_MAX;
	}
	ck_assert_uint_eq(gm_prof.count, live0 + 1);
	s = gm_span_of((uintptr_t)v[k]);
	ck_assert_ptr_eq(s->owner, gm_tls_mcache);
	ck_assert_uint_eq(s->nsampled, 1);
	ck_assert_uint_eq(s->fastclass, 0);
	for (unsigned i = 0; i < n; i++) {
		owned[i] = gm_span_of((uintptr_t)v[i]) == s;
		nowned += owned[i];
	}
	ck_assert_uint_gt(nowned, 1);
	pthread_create(&t, NULL, free_all, &x);
	pthread_join(t, NULL);
	ck_assert_uint_eq(gm_prof.count, live0);
	ck_assert_uint_eq(s->nsampled, 0);
	for (void *q = gm_xfree_head(s->xfree); q != NULL; q = gm_link_take(q))
		pending++;
	ck_assert_uint_eq(pending, nowned);
	ck_assert_uint_eq(gm_xfree_count(s->xfree), nowned);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, n);
	ck_assert_uint_eq(b.Frees - a.Frees, n);
	ck_assert_uint_eq(b.HeapAlloc, a.HeapAlloc);
	ck_identities(&b);
	gm_tls_mcache->next_sample = gm_prof_next(gm_tls_mcache);
	gm_mcache_release_all(gm_tls_mcache);
	ck_heap_ok();
}
END_TEST

/* GOMEMDEBUG=ownspans=0: no span has an owner; frees stay with the freeing thread. */
static void *
free_keep_local(void *arg)
{
	struct home *h = arg;

	for (unsigned i = 0; i < h->n; i++)
		gm_free(h->v[i]);
	for (unsigned i = 0; i < h->n; i++)
		h->foreign += in_list(gm_tls_mcache->free[h->c], h->v[i]);
	return NULL;
}

START_TEST(ownspans_off_frees_stay_local)
{
	unsigned c = gm_size_class(48), n = 20;
	void *v[20];
	bool owned[20];
	struct home h = { v, n, c, owned, 0 };
	pthread_t t;

	gm_opt.ownspans = 0;
	gm_mcache_release_all(gm_tls_mcache);
	for (unsigned i = 0; i < n; i++) {
		v[i] = gm_malloc(48);
		ck_assert_ptr_null(gm_span_of((uintptr_t)v[i])->owner);
	}
	ck_assert_ptr_null(gm_tls_mcache->own[c]);
	pthread_create(&t, NULL, free_keep_local, &h);
	pthread_join(t, NULL);
	/* Its list holds them all (n is under its cap: none went to mcentral). */
	ck_assert_uint_le(n, 2 * gm_class_batch[c]);
	ck_assert_uint_eq(h.foreign, n);
	gm_opt.ownspans = GM_OWNSPANS_DEFAULT;
	ck_heap_ok();
}
END_TEST

/*
 * Passive false sharing (Hoard's cache-scratch): the main thread allocates
 * 2 x 64 blocks of 8..64 B (the classes caches own) back to back and deals
 * them out to two threads alternately; each frees its 64 and allocates 64
 * of the same sizes.  The blocks the two threads then hold (and write) must
 * share no pair of cache lines (SCRATCH_PAIR: x86's adjacent-line
 * prefetcher fetches lines in aligned pairs, so two threads writing the two
 * halves of one slow each other as if they shared a line), which they do if
 * a thread gets back the blocks it freed.  With ownspans=0 they do: the
 * check can fail.
 */
#define SCRATCH_PAIR 128
static pthread_barrier_t scratch_barrier;

struct scratch {
	void *blk[64];
	size_t size[64];
	void *got[64];
	bool unowned[64]; /* blk[i]'s span was not the dealer's */
};

/* Was p dealt out from a span the dealer did not own? */
static bool
scratch_unowned(const struct scratch *sc, const void *p)
{
	for (unsigned k = 0; k < 2; k++)
		for (unsigned i = 0; i < 64; i++)
			if (sc[k].blk[i] == p && sc[k].unowned[i])
				return true;
	return false;
}

static void *
scratch_thread(void *arg)
{
	struct scratch *sc = arg;

	for (unsigned i = 0; i < 64; i++)
		gm_free(sc->blk[i]);
	for (unsigned i = 0; i < 64; i++)
		sc->got[i] = gm_malloc(sc->size[i]);
	/* Both threads live until both have allocated (a thread's exit hands
	 * its spans back, where the other could take them). */
	pthread_barrier_wait(&scratch_barrier);
	return NULL;
}

static unsigned
scratch_shared_lines(bool own)
{
	static struct scratch sc[2];
	unsigned shared = 0, nunowned = 0;
	uint64_t x = 12345;
	pthread_t t[2];

	gm_opt.ownspans = own ? GM_OWNSPANS_DEFAULT : 0;
	gm_mcache_release_all(gm_tls_mcache);
	for (unsigned i = 0; i < 64; i++) {
		for (unsigned k = 0; k < 2; k++) {
			x = x * 6364136223846793005u + 1442695040888963407u;
			sc[k].size[i] = 8 + (x >> 33) % (GM_OWNSPANS_DEFAULT - 7);
			sc[k].blk[i] = gm_malloc(sc[k].size[i]);
		}
	}
	/* (A block can come from a fragmented span taken unowned.) */
	for (unsigned i = 0; i < 64; i++) {
		for (unsigned k = 0; k < 2; k++) {
			sc[k].unowned[i] =
				gm_span_of((uintptr_t)sc[k].blk[i])->owner != gm_tls_mcache;
			nunowned += sc[k].unowned[i];
		}
	}
	if (own)
		ck_assert_uint_le(nunowned, 32);
	pthread_barrier_init(&scratch_barrier, NULL, 2);
	for (unsigned k = 0; k < 2; k++)
		pthread_create(&t[k], NULL, scratch_thread, &sc[k]);
	for (unsigned k = 0; k < 2; k++)
		pthread_join(t[k], NULL);
	pthread_barrier_destroy(&scratch_barrier);
	for (unsigned i = 0; i < 64; i++) {
		for (unsigned j = 0; j < 64; j++) {
			uintptr_t a = (uintptr_t)sc[0].got[i], b = (uintptr_t)sc[1].got[j];

			/* Blocks of spans nobody owned stay with their freer. */
			if (own && (scratch_unowned(sc, sc[0].got[i]) ||
				    scratch_unowned(sc, sc[1].got[j])))
				continue;
			if (a / SCRATCH_PAIR <= (b + sc[1].size[j] - 1) / SCRATCH_PAIR &&
			    b / SCRATCH_PAIR <= (a + sc[0].size[i] - 1) / SCRATCH_PAIR)
				shared++;
		}
	}
	for (unsigned i = 0; i < 64; i++) {
		gm_free(sc[0].got[i]);
		gm_free(sc[1].got[i]);
	}
	gm_mcache_release_all(gm_tls_mcache);
	gm_opt.ownspans = GM_OWNSPANS_DEFAULT;
	ck_heap_ok();
	return shared;
}

START_TEST(no_passive_false_sharing)
{
	ck_assert_uint_eq(scratch_shared_lines(true), 0);
	ck_assert_uint_gt(scratch_shared_lines(false), 0);
}
END_TEST

/*
 * Stress: threads hand each other objects of several classes through a
 * mailbox and free what they receive, while spans change owner under them:
 * workers exit and new ones start (their spans are given up while others
 * push onto them), workers hand their whole cache back now and then, and a
 * thread parks free pages of mcentral's spans.  Every object carries a
 * tag its allocator wrote, checked by whoever frees it (an object handed
 * out twice shows); at the end the counts are exact and every span is
 * back.  Bounded: 1.5 s or 400 rounds a worker.
 */
#define ST_SLOTS   512
#define ST_WORKERS 4
#define ST_GENS	   6

static void *_Atomic st_slot[ST_SLOTS];
static _Atomic bool st_stop;
static _Atomic uint64_t st_deadline;

static uint64_t
st_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
st_check_free(void *p)
{
	size_t n = gm_usable_size(p);
	uint64_t tag = ((uint64_t *)p)[0];

	ck_assert_uint_ge(n, 8);
	ck_assert_uint_eq(((uint64_t *)p)[n / 8 - 1], tag);
	gm_free(p);
}

static void *
st_worker(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg, seq = 0, x = id * 0x9e3779b97f4a7c15u + 1;

	for (unsigned r = 0; r < 400 && st_now() < atomic_load(&st_deadline); r++) {
		for (unsigned k = 0; k < 64; k++) {
			size_t n;
			uint64_t *p, tag = (id << 40) | ++seq;
			void *old;

			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			n = 8 + (x % 8) * (x % 3 == 0 ? 72 : 8); /* 8..512 B */
			p = gm_malloc(n);
			ck_assert_ptr_nonnull(p);
			p[0] = tag;
			p[gm_usable_size(p) / 8 - 1] = tag;
			old = atomic_exchange(&st_slot[(x >> 20) % ST_SLOTS], p);
			if (old != NULL)
				st_check_free(old);
		}
		if (r % 50 == 49)
			gm_mcache_release_all(gm_tls_mcache);
	}
	return NULL;
}

static void *
st_parker(void *arg)
{
	(void)arg;
	while (!atomic_load(&st_stop)) {
		gm_mcentral_scavenge_all();
		usleep(1000);
	}
	return NULL;
}

START_TEST(owners_change_under_remote_frees)
{
	pthread_t w[ST_WORKERS], pk;
	struct gomem_memstats a, b;
	uint64_t inuse0;

	gm_opt.scavenge = false;
	gm_mcache_release_all(gm_tls_mcache);
	gm_read_memstats(&a);
	inuse0 = atomic_load(&gm_heap.inuse);
	atomic_store(&st_deadline, st_now() + 1500000000u);
	pthread_create(&pk, NULL, st_parker, NULL);
	for (unsigned g = 0; g < ST_GENS; g++) {
		/* Generation g: workers start (taking the last one's caches),
		 * run, and exit. */
		for (unsigned i = 0; i < ST_WORKERS; i++)
			pthread_create(&w[i], NULL, st_worker, (void *)(uintptr_t)(g * ST_WORKERS + i + 1));
		for (unsigned i = 0; i < ST_WORKERS; i++)
			pthread_join(w[i], NULL);
	}
	atomic_store(&st_stop, true);
	pthread_join(pk, NULL);
	/* The last generations' caches wait as orphans: back, as the
	 * scavenger gives them. */
	gm_mcache_orphans_release(UINT64_MAX);
	for (unsigned i = 0; i < ST_SLOTS; i++) {
		void *p = atomic_exchange(&st_slot[i], NULL);

		if (p != NULL)
			st_check_free(p);
	}
	gm_mcache_release_all(gm_tls_mcache);
	gm_mcentral_drain_all();
	gm_read_memstats(&b);
	ck_assert_uint_gt(b.Mallocs - a.Mallocs, 0);
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, b.Frees - a.Frees);
	ck_assert_uint_eq(b.HeapAlloc, a.HeapAlloc);
	ck_identities(&b);
	ck_heap_ok();
	/* Every span came back: no object was lost on a thread-free list. */
	ck_assert_uint_le(atomic_load(&gm_heap.inuse), inuse0);
}
END_TEST

/*
 * A producer (its list refilled twice with no overflow between) takes the
 * transfer cache's whole batches before what other threads sent home to
 * the span it owns; the span's thread-free list waits for a refill that
 * finds the transfer cache empty, which gives the span up or takes from it.
 */
START_TEST(producer_takes_batches_before_its_span)
{
	unsigned c = gm_size_class(32), n = 4 * gm_class_batch[c], nkeep = 0, ntc;
	void **v = calloc(n, sizeof(void *)), **keep = calloc(4096, sizeof(void *)), *first, *p;
	struct xfer x = { .v = v, .n = n, .size = 32 }, y = { .v = v, .n = n };
	struct xfer one = { .v = &first, .n = 1 };
	gm_mcache *mc;
	gm_mspan *s;
	pthread_t t;

	ck_assert_uint_le(32, GM_OWNSPANS_DEFAULT);
	gm_opt.scavenge = false;
	gm_free(gm_malloc(1000)); /* the thread's real cache */
	mc = gm_tls_mcache;
	gm_mcache_release_all(mc);
	gm_mcentral_drain(c);
	mc->next_sample = INT64_MAX;
	/* The first refill finds the transfer cache empty: the cache owns a span. */
	first = gm_malloc(32);
	s = mc->own[c];
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_eq(gm_span_of((uintptr_t)first), s);
	/* Another thread sends an object of it home. */
	pthread_create(&t, NULL, free_all, &one);
	pthread_join(t, NULL);
	ck_assert_uint_eq(gm_xfree_count(s->xfree), 1);
	/* Whole batches of spans nobody owns into the transfer cache: a
	 * thread allocates, another frees (its list overflows), and their
	 * caches, orphans, go back. */
	gm_opt.ownspans = 0;
	pthread_create(&t, NULL, alloc_all, &x);
	pthread_join(t, NULL);
	pthread_create(&t, NULL, free_all, &y);
	pthread_join(t, NULL);
	gm_mcache_orphans_release(UINT64_MAX);
	gm_opt.ownspans = GM_OWNSPANS_DEFAULT;
	ntc = tc_len(c);
	ck_assert_uint_ge(ntc, 2);
	/* This thread's list empty, its next malloc is a producer's refill. */
	while (mc->free[c] != NULL)
		keep[nkeep++] = gm_malloc(32);
	ck_assert(mc->refilled[c]);
	p = keep[nkeep++] = gm_malloc(32);
	ck_assert_uint_lt(tc_len(c), ntc);
	ck_assert_ptr_ne(gm_span_of((uintptr_t)p), s);
	ck_assert_ptr_eq(mc->own[c], s);
	ck_assert_uint_eq(gm_xfree_count(s->xfree), 1);
	/* The transfer cache out and the list empty, the next refill merges
	 * the thread-free list (giving the span up) or takes it. */
	while (tc_len(c) != 0 || mc->free[c] != NULL) {
		keep[nkeep++] = gm_malloc(32);
		ck_assert_uint_lt(nkeep, 4000);
	}
	keep[nkeep++] = gm_malloc(32);
	ck_assert_uint_eq(gm_xfree_count(s->xfree), 0);
	for (unsigned i = 0; i < nkeep; i++)
		gm_free(keep[i]);
	gm_mcache_release_all(mc);
	gm_mcentral_drain_all();
	ck_heap_ok();
	free(keep);
	free(v);
}
END_TEST

/*
 * These tests count objects on lists and spans: a sample that moves its
 * block to a span of its own (GOMEMDEBUG=sampspans=1, mprof.c, "Sampled
 * blocks") puts the object it took off the list back, one more than they
 * expect.  Its own test is in check_mprof.c.
 */
static void
spans_setup(void)
{
	gm_opt.sampspans = false;
}

int
main(void)
{
	Suite *s = suite_create("mcentral");
	TCase *tc = tcase_create("spans");

	gm_ensure_init();
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, spans_setup, NULL);
	tcase_add_test(tc, refill_and_release_to_heap);
	tcase_add_test(tc, fresh_span_listed_whole);
	tcase_add_test(tc, remote_free_returns_spans);
	tcase_add_test(tc, thread_exit_hands_cache_back);
	tcase_add_test(tc, caches_own_their_lines);
	tcase_add_test(tc, orphan_cache_adopted);
	tcase_add_test(tc, producer_consumer);
	tcase_add_test(tc, free_os_pages_inside_spans);
	tcase_add_test(tc, cap_grows_for_bursts);
	tcase_add_test(tc, cap_bounds);
	tcase_add_test(tc, cap_shrinks_when_only_freeing);
	tcase_add_test(tc, cap_freeing_thread_never_grows);
	tcase_add_test(tc, cap_consumer_gives_back_batches);
	tcase_add_test(tc, transfer_cache_hands_batches_whole);
	tcase_add_test(tc, transfer_cache_bounds);
	tcase_add_test(tc, transfer_cache_trims_when_idle);
	tcase_add_test(tc, transfer_cache_hand_off);
	tcase_add_test(tc, transfer_cache_moves_several_batches);
	tcase_add_test(tc, release_cuts_batches);
	tcase_add_test(tc, transfer_cache_double_free);
	tcase_add_test(tc, span_list_double_free);
	suite_add_tcase(s, tc);
	tc = tcase_create("owner");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, remote_free_goes_home);
	tcase_add_test(tc, remote_free_beside_a_sample_goes_home);
	tcase_add_test(tc, ownspans_off_frees_stay_local);
	tcase_add_test(tc, no_passive_false_sharing);
	tcase_add_test(tc, owners_change_under_remote_frees);
	tcase_add_test(tc, producer_takes_batches_before_its_span);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
