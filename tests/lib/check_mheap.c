/*
 * check_mheap.c: the page heap and the OS memory states.
 *
 * Spans are taken from and given back to gm_heap directly; after each step
 * the heap invariants (gm_mheap_check: map entries, no adjacent free runs,
 * gauges equal a full walk) hold, coalescing restores single free runs, and
 * each transition moves HeapSys/HeapIdle/HeapInuse/HeapReleased as Go's
 * definitions say.
 */
#include "testutil.h"
#include "malloc_fast.h"

#include <sys/mman.h>

#include <errno.h>

struct g {
	uint64_t sys, inuse, idle, released;
};

static struct g
gauges(void)
{
	struct g g;

	gm_lock_acquire(&gm_heap.lock);
	g.sys = atomic_load(&gm_stat_heap_sys);
	g.inuse = atomic_load(&gm_heap.inuse);
	g.idle = atomic_load(&gm_heap.idle);
	g.released = atomic_load(&gm_heap.released);
	gm_lock_release(&gm_heap.lock);
	return g;
}

START_TEST(alloc_free_accounting)
{
	struct g a, b, c;
	gm_mspan *s;

	gm_opt.scavenge = false;
	a = gauges();
	s = gm_mheap_alloc(10, GM_SPANCLASS_LARGE, 0);
	ck_assert_ptr_nonnull(s);
	b = gauges();
	ck_assert_uint_eq(b.sys, b.inuse + b.idle);
	ck_assert_uint_eq(b.inuse - a.inuse, 10 * GM_PAGE_SIZE);
	/* Heap growth maps 4 MiB multiples; the span's pages leave idle. */
	ck_assert_uint_eq((b.sys - a.sys) % ((size_t)4 << 20), 0);
	ck_assert_uint_eq(a.idle + (b.sys - a.sys) - 10 * GM_PAGE_SIZE, b.idle);
	ck_assert_uint_eq(s->start % GM_PAGE_SIZE, 0);
	ck_assert_ptr_eq(gm_span_of(s->start), s);
	ck_assert_ptr_eq(gm_span_of(s->start + 10 * GM_PAGE_SIZE - 1), s);
	ck_heap_ok();
	memset((void *)s->start, 0xab, 10 * GM_PAGE_SIZE);
	gm_mheap_free(s);
	c = gauges();
	ck_assert_uint_eq(c.inuse, a.inuse);
	ck_assert_uint_eq(c.idle, b.idle + 10 * GM_PAGE_SIZE);
	ck_assert_uint_eq(c.sys, b.sys);
	ck_heap_ok();
}
END_TEST

START_TEST(fresh_pages_count_as_released)
{
	struct g a, b;
	gm_mspan *s;

	gm_opt.scavenge = false;
	gm_mheap_scavenge(SIZE_MAX, true);
	a = gauges();
	ck_assert_uint_eq(a.idle, a.released);
	/* A fresh span's pages were released: taking them lowers HeapReleased. */
	s = gm_mheap_alloc(3, GM_SPANCLASS_LARGE, 0);
	ck_assert_ptr_nonnull(s);
	b = gauges();
	ck_assert_uint_eq(a.released + (b.sys - a.sys) - b.released, 3 * GM_PAGE_SIZE);
	ck_assert_int_eq(s->needzero, 0);
	ck_heap_ok();
	gm_mheap_free(s);
	ck_heap_ok();
}
END_TEST

/*
 * A span of a small class carved from released pages comes with the window
 * of GM_POPULATE_PAGES heap pages from its start (as far as the free run
 * after it goes) faulted in by one madvise: every OS page of it resident
 * (mincore) before anything writes it, HeapReleased lower by the window
 * while only the span's pages leave HeapIdle, and errno untouched.  A large
 * span is left to fault on touch.  Under GM_POPULATE_AHEAD_MIN of HeapInuse
 * (a short program's heap) the window is the span alone.
 */
START_TEST(fresh_small_spans_populate_ahead)
{
	const size_t os = gm_os_page_size();
	unsigned char vec[GM_POPULATE_PAGES * GM_PAGE_SIZE / 4096 + 16 * GM_PAGE_SIZE / 4096];
	uint8_t c = (uint8_t)gm_size_class(3000);
	size_t i, n, ahead = 0, win;
	gm_mspan *s, *r, *l, *hold;
	struct g a, b;

	ck_assert_uint_le(gm_class_size[c], 4096);
	gm_opt.scavenge = false;
	gm_mheap_scavenge(SIZE_MAX, true);
	a = gauges();
	if (a.inuse + gm_class_spanpages[c] * GM_PAGE_SIZE < GM_POPULATE_AHEAD_MIN) {
		/* A small heap: the span's pages only. */
		s = gm_mheap_alloc(gm_class_spanpages[c], c, 0);
		ck_assert_ptr_nonnull(s);
		b = gauges();
		ck_assert_uint_eq(a.released + (b.sys - a.sys) - b.released,
				  s->npages * GM_PAGE_SIZE);
		gm_mheap_free(s);
		gm_mheap_scavenge(SIZE_MAX, true);
	}
	/* A heap past the bound (held by a large span). */
	hold = gm_mheap_alloc(GM_POPULATE_AHEAD_MIN / GM_PAGE_SIZE, GM_SPANCLASS_LARGE, 0);
	ck_assert_ptr_nonnull(hold);
	a = gauges();
	ck_assert_uint_ge(a.inuse, GM_POPULATE_AHEAD_MIN);
	errno = 4242;
	s = gm_mheap_alloc(gm_class_spanpages[c], c, 0);
	ck_assert_int_eq(errno, 4242);
	ck_assert_ptr_nonnull(s);
	b = gauges();
	n = s->npages;
	ck_assert_uint_lt(n, GM_POPULATE_PAGES);
	/* The rest of the run the span was carved from, if any. */
	r = gm_span_of(s->start + n * GM_PAGE_SIZE);
	if (r != NULL && gm_span_state(r) == GM_SPAN_FREE && r->start == s->start + n * GM_PAGE_SIZE)
		ahead = r->npages < GM_POPULATE_PAGES - n ? r->npages : GM_POPULATE_PAGES - n;
	ck_assert_uint_gt(ahead, 0); /* a heap after a full scavenge has room */
	win = (n + ahead) * GM_PAGE_SIZE;
	/* Growth may have mapped more: count from the new HeapSys. */
	ck_assert_uint_eq(a.released + (b.sys - a.sys) - b.released, win);
	ck_assert_uint_eq(a.idle + (b.sys - a.sys) - b.idle, n * GM_PAGE_SIZE);
	ck_assert_int_eq(mincore((void *)s->start, win, vec), 0);
	for (i = 0; i < win / os; i++)
		ck_assert_msg(vec[i] & 1, "page %zu of the window is not resident", i);
	ck_heap_ok();

	/* A large span's released pages stay out until touched. */
	l = gm_mheap_alloc(16, GM_SPANCLASS_LARGE, 0);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(mincore((void *)l->start, 16 * GM_PAGE_SIZE, vec), 0);
	for (i = 0; i < 16 * GM_PAGE_SIZE / os; i++) {
		uintptr_t p = l->start + i * os;

		if (p < s->start || p >= s->start + win)
			ck_assert_msg(!(vec[i] & 1), "large span page %zu resident", i);
	}
	gm_mheap_free(l);
	gm_mheap_free(s);
	gm_mheap_free(hold);
	ck_heap_ok();
}
END_TEST

START_TEST(coalesce_neighbours)
{
	gm_mspan *s[8];
	uintptr_t base;
	int i;

	gm_opt.scavenge = false;
	/* Eight adjacent 2-page spans out of one run. */
	for (i = 0; i < 8; i++) {
		s[i] = gm_mheap_alloc(2, GM_SPANCLASS_LARGE, 0);
		ck_assert_ptr_nonnull(s[i]);
	}
	for (i = 1; i < 8; i++)
		if (s[i]->start != s[i - 1]->start + 2 * GM_PAGE_SIZE)
			break;
	ck_assert_msg(i == 8, "spans not carved contiguously");
	base = s[0]->start;
	/* Free every other one, then the rest: each free merges both sides. */
	for (i = 0; i < 8; i += 2)
		gm_mheap_free(s[i]);
	ck_heap_ok();
	for (i = 1; i < 8; i += 2)
		gm_mheap_free(s[i]);
	ck_heap_ok();
	/* The whole range is one free run again: a 16-page span fits at base. */
	{
		gm_mspan *f = gm_span_of(base);

		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(f->state, GM_SPAN_FREE);
		ck_assert_uint_ge(f->npages, 16);
		ck_assert_ptr_null(gm_span_of(base + GM_PAGE_SIZE)); /* interior */
	}
}
END_TEST

START_TEST(page_map_across_arenas)
{
	/* A span longer than an arena crosses at least one arena boundary:
	 * a large object's span maps at its ends only (its start is all free
	 * and realloc look up, its ends all coalescing does), and so does the
	 * free run once freed (interior pointers find nothing). */
	size_t np = GM_ARENA_PAGES + GM_ARENA_PAGES / 4, i;
	gm_mspan *s = gm_mheap_alloc(np, GM_SPANCLASS_LARGE, 0), *f;
	uintptr_t base;

	ck_assert_ptr_nonnull(s);
	base = s->start;
	ck_assert_uint_ne(base >> GM_ARENA_SHIFT, (base + (np - 1) * GM_PAGE_SIZE) >> GM_ARENA_SHIFT);
	ck_assert_ptr_eq(gm_span_of(base), s);
	for (i = 1; i + 1 < np; i++)
		ck_assert_ptr_null(gm_span_of(base + i * GM_PAGE_SIZE));
	ck_assert_ptr_eq(gm_span_of(base + (np - 1) * GM_PAGE_SIZE + 5), s);
	ck_heap_ok();
	gm_mheap_free(s);
	ck_heap_ok();
	f = gm_span_of(base);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(f->state, GM_SPAN_FREE);
	for (i = 1; i + 1 < f->npages; i++)
		ck_assert_ptr_null(gm_span_of(f->start + i * GM_PAGE_SIZE));
	ck_assert_ptr_eq(gm_span_of(f->start + (f->npages - 1) * GM_PAGE_SIZE), f);
}
END_TEST

/* Free's page table entry of a through the arena map, as gm_fast_entry had it. */
static uintptr_t
map_entry(uintptr_t a)
{
	gm_heaparena *ha = gm_arena_at((a >> GM_ARENA_SHIFT) & (GM_ARENA_L2_ENTRIES - 1));

	return ha->fast[(a >> GM_PAGE_SHIFT) & (GM_ARENA_PAGES - 1)];
}

START_TEST(free_entry_first_arena_shortcut)
{
	/* gm_fast_entry's shortcut to the first arena gives what the map
	 * gives, for the first arena's pages, another arena's small span,
	 * and addresses no arena holds (NULL, low, high, non-canonical). */
	static const uintptr_t low[] = {0, 8, 4096, ((uintptr_t)1 << GM_ARENA_SHIFT) - 1};
	static const uintptr_t odd[] = {(uintptr_t)1 << GM_ARENA_SHIFT, (uintptr_t)1 << 46,
					(uintptr_t)1 << 47, ~(uintptr_t)0};
	static gm_mspan *kept[GM_ARENA_PAGES];
	gm_mspan *big, *s;
	size_t i, n = 0, used = 0;
	uintptr_t first, a;

	gm_free(gm_malloc(16));
	first = gm_afirst.idx;
	ck_assert_uint_ne(first, 0);
	ck_assert_ptr_eq(gm_afirst.fast, gm_arena_at(first)->fast);
	/* A span bigger than an arena makes another; then small spans until
	 * one is outside the first arena (its free pages run out first). */
	big = gm_mheap_alloc(GM_ARENA_PAGES + 1, GM_SPANCLASS_LARGE, 0);
	ck_assert_ptr_nonnull(big);
	for (;;) {
		s = gm_mheap_alloc(1, 1, 0);
		ck_assert_ptr_nonnull(s);
		if (s->start >> GM_ARENA_SHIFT != first)
			break;
		ck_assert_uint_lt(n, GM_ARENA_PAGES);
		kept[n++] = s;
	}
	ck_assert_uint_eq(gm_afirst.idx, first); /* set once */
	a = s->start + 16;
	ck_assert_uint_ne(map_entry(a), 0);
	ck_assert_uint_eq(gm_fast_entry(a), map_entry(a));
	for (i = 0; i < GM_ARENA_PAGES; i++) {
		a = (first << GM_ARENA_SHIFT) + i * GM_PAGE_SIZE + 8;
		ck_assert_uint_eq(gm_fast_entry(a), map_entry(a));
		used += gm_fast_entry(a) != 0;
	}
	ck_assert_uint_gt(used, 0); /* the first malloc's span at least */
	for (i = 0; i < sizeof low / sizeof low[0]; i++) /* arena 0 never exists */
		ck_assert_uint_eq(gm_fast_entry(low[i]), 0);
	for (i = 0; i < sizeof odd / sizeof odd[0]; i++)
		ck_assert_uint_eq(gm_fast_entry(odd[i]), map_entry(odd[i]));
	gm_mheap_free(s);
	while (n > 0)
		gm_mheap_free(kept[--n]);
	gm_mheap_free(big);
	ck_heap_ok();
}
END_TEST

START_TEST(small_span_maps_every_page)
{
	/* Objects live on every page of a small-object span: each page maps to
	 * it (free looks up the object's page), and none once it is freed. */
	unsigned c = 1;
	size_t i, np;
	gm_mspan *s;
	uintptr_t base;

	while (c < GM_NUM_CLASSES && gm_class_npages[c] < 3)
		c++;
	ck_assert_uint_lt(c, GM_NUM_CLASSES);
	np = gm_class_npages[c];
	s = gm_mheap_alloc(np, (uint8_t)c, 0);
	ck_assert_ptr_nonnull(s);
	base = s->start;
	for (i = 0; i < np; i++)
		ck_assert_ptr_eq(gm_span_of(base + i * GM_PAGE_SIZE + 100), s);
	ck_heap_ok();
	gm_mheap_free(s);
	ck_heap_ok();
	for (i = 1; i + 1 < np; i++)
		ck_assert_ptr_ne(gm_span_of(base + i * GM_PAGE_SIZE), s);
}
END_TEST

START_TEST(aligned_and_resize)
{
	gm_mspan *s = gm_mheap_alloc(3, GM_SPANCLASS_LARGE, 64); /* 512 KiB aligned */

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->start % (64 * GM_PAGE_SIZE), 0);
	ck_heap_ok();
	ck_assert(gm_mheap_try_resize(s, 1));
	ck_assert_uint_eq(s->npages, 1);
	ck_heap_ok();
	/* The pages just given back are free: growing into them works. */
	ck_assert(gm_mheap_try_resize(s, 5));
	ck_assert_uint_eq(s->npages, 5);
	ck_assert_ptr_eq(gm_span_of(s->start + 4 * GM_PAGE_SIZE), s);
	ck_assert_ptr_null(gm_span_of(s->start + 1 * GM_PAGE_SIZE)); /* the old last page */
	ck_heap_ok();
	/* Shrinking moves the last page's entry back. */
	ck_assert(gm_mheap_try_resize(s, 2));
	ck_assert_ptr_eq(gm_span_of(s->start + 1 * GM_PAGE_SIZE), s);
	ck_assert_ptr_ne(gm_span_of(s->start + 4 * GM_PAGE_SIZE), s);
	ck_heap_ok();
	gm_mheap_free(s);
	ck_heap_ok();
}
END_TEST

START_TEST(multi_arena_object)
{
	/* 100 MiB needs two contiguous arenas. */
	size_t np = ((size_t)100 << 20) / GM_PAGE_SIZE;
	gm_mspan *s = gm_mheap_alloc(np, GM_SPANCLASS_LARGE, 0);

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_eq(gm_span_of(s->start + (np - 1) * GM_PAGE_SIZE), s);
	ck_assert_ptr_null(gm_span_of(s->start + ((size_t)99 << 20) - 1));
	ck_heap_ok();
	gm_mheap_free(s);
	ck_heap_ok();
}
END_TEST

START_TEST(scavenge_transitions)
{
	struct g a, b, c;
	gm_mspan *s;
	size_t n = 64; /* 512 KiB */

	gm_opt.scavenge = false;
	s = gm_mheap_alloc(n, GM_SPANCLASS_LARGE, 0);
	ck_assert_ptr_nonnull(s);
	memset((void *)s->start, 1, n * GM_PAGE_SIZE); /* Ready and resident */
	gm_mheap_free(s);
	a = gauges();
	ck_assert_uint_gt(a.idle, a.released);
	/* Ready -> Prepared: released grows by what was idle and resident. */
	gm_mheap_scavenge(SIZE_MAX, true);
	b = gauges();
	ck_assert_uint_eq(b.released, b.idle);
	ck_assert_uint_eq(b.sys, a.sys);
	ck_assert_uint_eq(b.inuse, a.inuse);
	ck_heap_ok();
	/* Prepared -> Ready on reuse: released shrinks by the pages taken. */
	s = gm_mheap_alloc(n, GM_SPANCLASS_LARGE, 0);
	ck_assert_ptr_nonnull(s);
	c = gauges();
	ck_assert_uint_eq(b.released - c.released, n * GM_PAGE_SIZE);
	ck_assert_int_eq(s->needzero, 0); /* released pages read as zero */
	for (size_t i = 0; i < n * GM_PAGE_SIZE; i += 4096)
		ck_assert_int_eq(((unsigned char *)s->start)[i], 0);
	gm_mheap_free(s);
	ck_heap_ok();
}
END_TEST

/*
 * The heap's base is random in each process (one of GM_HINT_SLOTS arenas
 * above Go's 0xc000000000), so a program keeps the address-space
 * randomisation it has without the library.  Four fresh processes (this
 * program again, through execv) report where their first block is: each
 * within the hint range, and not all at one place (odds 2^-60 by chance).
 * Where the range cannot be mapped (under a sanitizer) there is nothing
 * to check.
 */
static uintptr_t
child_heap_base(char *self)
{
	char buf[64], *argv[] = { self, NULL };
	ssize_t n, got = 0;
	int fd[2], st;
	pid_t pid;

	ck_assert_int_eq(pipe(fd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		setenv("CHECK_MHEAP_BASE", "1", 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(fd[1]);
	while (got < (ssize_t)sizeof(buf) - 1 &&
	       (n = read(fd[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	buf[got] = 0;
	close(fd[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
	return (uintptr_t)strtoull(buf, NULL, 16);
}

START_TEST(heap_base_is_random)
{
	const uintptr_t lo = GM_HINT_BASE;
	uintptr_t b[4];
	bool differ = false;
	void *v;

	/* Under TSan the hint range is its shadow (under ASan, its lower
	 * part): the heap goes wherever mmap puts it (gm_arena_reserve's
	 * fallback). */
	v = mmap((void *)lo, GM_ARENA_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (v != MAP_FAILED)
		munmap(v, GM_ARENA_SIZE);
	if (v != (void *)lo) {
		fprintf(stderr, "heap_base_is_random: %#lx is taken here (a sanitizer's shadow), "
				"not checked\n",
			(unsigned long)lo);
		return;
	}
	for (int i = 0; i < 4; i++) {
		b[i] = child_heap_base("check_mheap");
		ck_assert_msg(b[i] >= lo && b[i] < lo + GM_HINT_SLOTS * GM_ARENA_SIZE,
			      "heap at %#lx", (unsigned long)b[i]);
		if (i > 0 && b[i] >> GM_ARENA_SHIFT != b[0] >> GM_ARENA_SHIFT)
			differ = true;
	}
	ck_assert_msg(differ, "four processes put their heap at %#lx",
		      (unsigned long)b[0]);
}
END_TEST

/* gm_lock: the word says who holds it (the fork handlers rely on it). */
static gm_lock owner_lock;
static uint64_t owner_count; /* written only under owner_lock */
static _Atomic uint32_t owner_token[2];

static void *owner_worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg, i;

	for (i = 0; i < 200000; i++) {
		gm_lock_acquire(&owner_lock);
		if (!gm_lock_mine(&owner_lock))
			return (void *)1;
		owner_count++;
		gm_lock_release(&owner_lock);
	}
	atomic_store(&owner_token[id], gm_lock_token());
	return NULL;
}

/*
 * Every word the fork handlers write in the parent, and in the child when
 * it is not as it should be already, lies on the two pages that start at
 * gm_central (init.c): after fork each page written is a page copied.
 * (AddressSanitizer puts red zones between globals: not there.)
 */
START_TEST(fork_writes_two_pages)
{
#if defined(__SANITIZE_ADDRESS__)
	return;
#else
	const uintptr_t first = (uintptr_t)&gm_central[0], end = first + 2 * 4096;
	const struct {
		const void *p;
		size_t n;
	} w[] = {
	    {&gm_central[0].lock, sizeof(gm_lock)},
	    {&gm_central[GM_NUM_SPANCLASSES - 1].lock, sizeof(gm_lock)},
	    {&gm_heap.lock, sizeof(gm_lock)},
	    {&gm_registry_.lock, sizeof(pthread_mutex_t)},
	    {&gm_snap_lock, sizeof(pthread_mutex_t)},
	    {&gm_scav.lock, sizeof(pthread_mutex_t)},
	    {&gm_scav, sizeof(gm_scav)},
	    {&gm_prof.lock, sizeof(gm_lock)},
	};
	unsigned i;

	if (sysconf(_SC_PAGESIZE) != 4096)
		return;
	ck_assert_uint_eq(first % 4096, 0);
	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		ck_assert_msg((uintptr_t)w[i].p >= first && (uintptr_t)w[i].p + w[i].n <= end,
			      "word %u at %p is off the pages [%p, %p)", i, w[i].p, (void *)first,
			      (void *)end);
	}
#endif
}
END_TEST

START_TEST(lock_knows_its_owner)
{
	gm_lock l = {0};
	pthread_t t[2];
	uint32_t v;
	void *r;
	unsigned i;

	ck_assert(!gm_lock_mine(&l));
	gm_lock_acquire(&l);
	ck_assert(gm_lock_mine(&l));
	ck_assert_uint_eq(l.v, gm_lock_token());
	ck_assert_uint_ne(l.v, 0);
	gm_lock_release(&l);
	ck_assert_uint_eq(l.v, 0);
	ck_assert(!gm_lock_mine(&l));
	/* The fork handlers' token is nobody's. */
	gm_lock_acquire_as(&l, GM_LOCK_FORK);
	ck_assert(!gm_lock_mine(&l));
	gm_lock_release(&l);
	/* Two threads: mutual exclusion, each its own token, and a waiter
	 * that slept sets the sleepers bit that makes the owner wake it. */
	gm_lock_acquire(&owner_lock);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, owner_worker, (void *)(uintptr_t)i), 0);
	/* Past the waiters' spin (60 us) they sleep; a loaded machine may
	 * take a while to run them at all. */
	for (i = 0; i < 5000; i++) {
		if (__atomic_load_n(&owner_lock.v, __ATOMIC_RELAXED) & GM_LOCK_SLEEPERS)
			break;
		usleep(1000);
	}
	v = __atomic_load_n(&owner_lock.v, __ATOMIC_RELAXED);
	ck_assert_uint_eq(v & ~GM_LOCK_SLEEPERS, gm_lock_token());
	ck_assert_msg(v & GM_LOCK_SLEEPERS, "no sleeper marked in 5 s");
	gm_lock_release(&owner_lock);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(pthread_join(t[i], &r), 0);
		ck_assert_ptr_null(r);
	}
	ck_assert_uint_eq(owner_count, 400000);
	ck_assert_uint_eq(owner_lock.v, 0);
	ck_assert_uint_ne(owner_token[0], owner_token[1]);
	ck_assert_uint_ne(owner_token[0], gm_lock_token());
	ck_assert_uint_ne(owner_token[1], gm_lock_token());
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("mheap");
	TCase *tc = tcase_create("heap");

	gm_ensure_init();
	if (getenv("CHECK_MHEAP_BASE") != NULL) {
		/* heap_base_is_random's child: where the first block is. */
		printf("%lx\n", (unsigned long)(uintptr_t)gm_malloc(64));
		return 0;
	}
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, alloc_free_accounting);
	tcase_add_test(tc, fresh_pages_count_as_released);
	tcase_add_test(tc, fresh_small_spans_populate_ahead);
	tcase_add_test(tc, coalesce_neighbours);
	tcase_add_test(tc, page_map_across_arenas);
	tcase_add_test(tc, free_entry_first_arena_shortcut);
	tcase_add_test(tc, small_span_maps_every_page);
	tcase_add_test(tc, aligned_and_resize);
	tcase_add_test(tc, multi_arena_object);
	tcase_add_test(tc, scavenge_transitions);
	tcase_add_test(tc, heap_base_is_random);
	tcase_add_test(tc, lock_knows_its_owner);
	tcase_add_test(tc, fork_writes_two_pages);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
