/*
 * check_malloc.c: the allocation paths of malloc.c: small sizes,
 * alignment rules, realloc in place, large objects, bad
 * frees.
 */
#include <sys/mman.h>

#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>

/*
 * GCC assumes malloc's result is word aligned whatever the size
 * (MALLOC_ABI_ALIGNMENT; its test gcc.dg/mallign.c aborts on malloc(1) & 7),
 * and glibc gives 16 from 16 B up.  Checked for every size 0..64 and every
 * allocation function, with many blocks live so that no slot is reused.
 */
START_TEST(every_small_size_aligned)
{
	static void *v[65][16];

	for (int round = 0; round < 2; round++) {
		for (size_t n = 0; n <= 64; n++) {
			size_t want = n >= 16 ? 16 : 8;

			for (int k = 0; k < 16; k++) {
				void *p = NULL;

				switch (k % 8) {
				case 0: p = gm_malloc(n); break;
				case 1: p = gm_calloc(1, n); break;
				case 2: p = gm_realloc(NULL, n); break;
				case 3: p = gm_memalign(8, n); break;
				case 4: ck_assert_int_eq(gm_posix_memalign(&p, 8, n), 0); break;
				case 5: p = gm_aligned_alloc(8, n); break;
				case 6: p = gm_realloc(gm_malloc(n / 2 + 1), n ? n : 1); break;
				case 7: p = gm_reallocarray(NULL, 1, n); break;
				}
				ck_assert_ptr_nonnull(p);
				ck_assert_msg((uintptr_t)p % want == 0, "size %zu fn %d: %p", n, k % 8, p);
				ck_assert_uint_ge(gm_usable_size(p), n);
				memset(p, 0x5a, n);
				v[n][k] = p;
			}
		}
		/* Free in an order unlike the allocation order, then go again. */
		for (size_t n = 65; n-- > 0;)
			for (int k = 0; k < 16; k++)
				gm_free(v[n][k]);
	}
	ck_heap_ok();
}
END_TEST

START_TEST(small_sizes_take_their_class)
{
	struct gomem_memstats a, b;
	char *v[64];
	int spaced8 = 0;

	gm_read_memstats(&a);
	for (int i = 0; i < 64; i++) {
		v[i] = gm_malloc(1 + i % 16);
		memset(v[i], i, 1 + i % 16);
	}
	gm_read_memstats(&b);
	/* 1..8 B: one 8 B object each (32 of them); 9..16 B: one 16 B object
	 * each (32).  No tiny allocator: TinyAllocs stays 0. */
	ck_assert_uint_eq(b.BySize[1].Mallocs - a.BySize[1].Mallocs, 32);
	ck_assert_uint_eq(b.BySize[2].Mallocs - a.BySize[2].Mallocs, 32);
	ck_assert_uint_eq(b.HeapAlloc - a.HeapAlloc, 32 * 8 + 32 * 16);
	ck_assert_uint_eq(b.TinyAllocs, 0);
	for (int i = 0; i < 64; i++) {
		size_t n = 1 + i % 16;

		ck_assert_uint_eq(gm_usable_size(v[i]), n <= 8 ? 8 : 16);
		for (size_t j = 0; j < n; j++)
			ck_assert_int_eq(v[i][j], i);
		/* 8 B objects at 8-byte spacing: some start at 8 mod 16. */
		if (n <= 8 && (uintptr_t)v[i] % 16 == 8)
			spaced8++;
	}
	ck_assert_int_gt(spaced8, 0);
	for (int i = 0; i < 64; i++)
		gm_free(v[i]);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.HeapObjects, a.HeapObjects);
	ck_assert_uint_eq(b.HeapAlloc, a.HeapAlloc);
	ck_identities(&b);
}
END_TEST

static void *
free_one(void *arg)
{
	gm_free(arg);
	return NULL;
}

START_TEST(small_cross_thread)
{
	struct gomem_memstats a, b;
	void *v[4000];
	pthread_t t;

	gm_read_memstats(&a);
	for (int i = 0; i < 4000; i++)
		v[i] = gm_malloc(1 + i % 15);
	for (int i = 0; i < 4000; i += 2) {
		pthread_create(&t, NULL, free_one, v[i]);
		pthread_join(t, NULL);
		if (i % 400 == 0)
			gm_free(gm_malloc(20000)); /* unrelated traffic */
	}
	for (int i = 1; i < 4000; i += 2)
		gm_free(v[i]);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.HeapObjects, a.HeapObjects);
	ck_assert_uint_eq(b.HeapAlloc, a.HeapAlloc);
	ck_identities(&b);
}
END_TEST

static void *
alloc_n(void *arg)
{
	return gm_malloc((size_t)(uintptr_t)arg);
}

/*
 * malloc_usable_size answers from free's page table for object starts
 * (gm_usable_size_fast) and through the span for everything else: the two
 * agree, the answer is the block's class (the smallest that holds the
 * request, 16-byte aligned from 16 B), and neither the owner's code in the
 * page table (a block another thread's cache carved) nor sampling (class 0
 * there) changes it.
 */
START_TEST(usable_size_fast_agrees_with_span)
{
	uint64_t rate = gm_prof_set_rate(0);
	pthread_t t;
	void *q;
	size_t n;

	for (n = 0; n <= GM_MAX_SMALL; n++) {
		void *p = gm_malloc(n);
		size_t u = gm_usable_size(p);

		/* The class: no smaller class holds n (17..24 B skip Go's 24). */
		ck_assert_uint_ge(u, n);
		ck_assert_uint_eq(u, gm_class_size[gm_size_class(n ? n : 1)]);
		ck_assert_uint_eq(u, gm_usable_size_slow(p));
		/* Inside the block: what is left of it, through the span. */
		ck_assert_uint_eq(gm_usable_size((char *)p + u / 2), u - u / 2);
		gm_free(p);
	}

	/* Blocks of another thread's span carry its owner code. */
	for (n = 16; n <= 4096; n *= 2) {
		ck_assert_int_eq(pthread_create(&t, NULL, alloc_n, (void *)(uintptr_t)n), 0);
		ck_assert_int_eq(pthread_join(t, &q), 0);
		ck_assert_uint_eq(gm_usable_size(q), n);
		gm_free(q);
	}

	/* Every block sampled: its span's fastclass is 0, the span answers. */
	gm_prof_set_rate(1);
	for (n = 1; n <= 4096; n += 61) {
		void *p = gm_malloc(n);

		ck_assert_uint_eq(gm_usable_size(p), gm_class_size[gm_size_class(n)]);
		gm_free(p);
	}
	gm_prof_set_rate(rate);

	/* Not small objects. */
	q = gm_malloc(100000);
	ck_assert_uint_ge(gm_usable_size(q), 100000);
	ck_assert_uint_eq(gm_usable_size(q) % GM_PAGE_SIZE, 0);
	gm_free(q);
	ck_assert_uint_eq(gm_usable_size(NULL), 0);
	ck_assert_uint_eq(gm_usable_size(&n), 0);
	ck_heap_ok();
}
END_TEST

/*
 * A thread's first refill of a class takes at most a span's worth of
 * objects, its second a whole batch: a program that mallocs one 1 KiB block
 * gets one 8 KiB span written, not the 32 KiB of a batch (four spans).
 * Returns how many classes were checked.
 */
static void *first_refills(void *arg)
{
	gm_mcache *mc;
	uintptr_t checked = 0;
	unsigned c;

	(void)arg;
	gm_free(gm_malloc(8)); /* the thread's cache */
	mc = gm_tls_mcache;
	for (c = 1; c < GM_NUM_CLASSES; c++) {
		uint32_t nel = gm_class_nelems[c], batch = gm_class_batch[c];
		void *blocks[2 * GM_BATCH_MAX + 2];
		unsigned k = 0, taken;

		if (nel >= batch || mc->warm[c] || mc->free[c] != NULL)
			continue;
		blocks[k++] = gm_malloc(gm_class_size[c]);
		taken = mc->max[c] - (uint32_t)mc->room[c] + 1;
		ck_assert_msg(taken <= nel, "class %u: first refill took %u, span holds %u", c,
			      taken, nel);
		ck_assert_uint_ge(taken, 1);
		/* Empty the list: the next malloc refills a whole batch. */
		while (mc->free[c] != NULL)
			blocks[k++] = gm_malloc(gm_class_size[c]);
		blocks[k++] = gm_malloc(gm_class_size[c]);
		taken = mc->max[c] - (uint32_t)mc->room[c] + 1;
		ck_assert_msg(taken == batch, "class %u: second refill took %u, batch %u", c, taken,
			      batch);
		while (k > 0)
			gm_free(blocks[--k]);
		checked++;
	}
	return (void *)checked;
}

START_TEST(first_refill_takes_a_span)
{
	pthread_t t;
	void *n;

	/* A sample that moves its block to a span of its own (sampspans=1)
	 * puts the object it took back on the list: one more than the refill
	 * took. */
	gm_opt.sampspans = false;
	ck_assert_int_eq(pthread_create(&t, NULL, first_refills, NULL), 0);
	ck_assert_int_eq(pthread_join(t, &n), 0);
	/* Classes of 1 KiB and more hold fewer objects a span than a batch. */
	ck_assert_uint_ge((uintptr_t)n, 10);
	ck_heap_ok();
}
END_TEST

START_TEST(alignment_rules)
{
	for (size_t n = 16; n <= 70000; n += (n < 2048 ? 1 : 97)) {
		void *p = gm_malloc(n);

		ck_assert_uint_eq((uintptr_t)p % 16, 0);
		ck_assert_uint_ge(gm_usable_size(p), n);
		gm_free(p);
	}
	for (size_t al = 16; al <= ((size_t)1 << 22); al <<= 1) {
		size_t sizes[] = { 1, 17, al - 1, al, al + 1, 3 * al + 5, 40000 };

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			void *p = NULL;

			ck_assert_int_eq(gm_posix_memalign(&p, al, sizes[i]), 0);
			ck_assert_msg((uintptr_t)p % al == 0, "align %zu size %zu", al, sizes[i]);
			ck_assert_uint_ge(gm_usable_size(p), sizes[i]);
			memset(p, 0x5a, sizes[i]);
			gm_free(p);
		}
	}
	{
		void *p = (void *)1;

		ck_assert_int_eq(gm_posix_memalign(&p, 24, 10), EINVAL);
		ck_assert_int_eq(gm_posix_memalign(&p, 0, 10), EINVAL);
		ck_assert_ptr_eq(p, (void *)1);
		errno = 0;
		ck_assert_ptr_null(gm_aligned_alloc(48, 100));
		ck_assert_int_eq(errno, EINVAL);
		p = gm_memalign(48, 100); /* glibc: rounds up to 64 */
		ck_assert_uint_eq((uintptr_t)p % 64, 0);
		gm_free(p);
	}
}
END_TEST

/*
 * An aligned small request takes the smallest class that holds it and whose
 * size is a multiple of the alignment (a span starts on a page, so all its
 * objects are then aligned), found here by scanning Go's table; none: a
 * page-aligned large block.
 */
START_TEST(aligned_takes_the_smallest_fitting_class)
{
	for (size_t al = 32; al <= GM_PAGE_SIZE; al <<= 1) {
		for (size_t n = 1; n <= GM_MAX_SMALL; n += (n < 2048 ? 7 : 61)) {
			size_t want = 0;
			void *p = NULL;

			for (unsigned c = 1; c < GM_NUM_CLASSES && want == 0; c++)
				if (gm_class_size[c] >= n && gm_class_size[c] >= al &&
				    gm_class_size[c] % al == 0)
					want = gm_class_size[c];
			ck_assert_int_eq(gm_posix_memalign(&p, al, n), 0);
			ck_assert_msg((uintptr_t)p % al == 0, "align %zu size %zu: %p", al, n, p);
			if (want != 0)
				ck_assert_msg(gm_usable_size(p) == want,
					      "align %zu size %zu: usable %zu, class size %zu", al, n,
					      gm_usable_size(p), want);
			else
				ck_assert_uint_ge(gm_usable_size(p), n);
			memset(p, 0x5a, n);
			gm_free(p);
		}
	}
	ck_heap_ok();
}
END_TEST

START_TEST(realloc_in_place_and_moves)
{
	char *p = gm_malloc(100), *q;

	memset(p, 7, 100);
	q = gm_realloc(p, 110); /* same class (112) */
	ck_assert_ptr_eq(q, p);
	q = gm_realloc(p, 5000);
	ck_assert_ptr_ne(q, p);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(q[i], 7);
	/* Large: grow in place while the pages after it are free. */
	p = gm_malloc(100000);
	memset(p, 3, 100000);
	q = gm_realloc(p, 200000);
	for (int i = 0; i < 100000; i += 999)
		ck_assert_int_eq(q[i], 3);
	p = gm_realloc(q, 50000); /* shrink in place */
	ck_assert_ptr_eq(p, q);
	ck_assert_uint_ge(gm_usable_size(p), 50000);
	ck_assert_uint_lt(gm_usable_size(p), 100000);
	gm_free(p);
	ck_assert_ptr_null(gm_realloc(gm_malloc(10), 0));
	errno = 0;
	ck_assert_ptr_null(gm_reallocarray(NULL, SIZE_MAX / 2, 3));
	ck_assert_int_eq(errno, ENOMEM);
	ck_heap_ok();
}
END_TEST

START_TEST(realloc_moves_big_blocks)
{
	const size_t mib = (size_t)1 << 20, big = 4 * mib;
	char *v[3], *p = NULL, *q;
	unsigned char vec[1024];
	struct gomem_memstats m;
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);

	/* Three big blocks: one of them is followed by another, so it cannot
	 * grow in place and realloc must move it. */
	for (int i = 0; i < 3; i++)
		v[i] = gm_malloc(big);
	for (int i = 0; i < 3 && p == NULL; i++)
		for (int j = 0; j < 3; j++)
			if (v[j] == v[i] + big)
				p = v[i];
	ck_assert_msg(p != NULL, "no two of three 4 MiB blocks are adjacent");
	for (size_t i = 0; i < big; i += ps)
		memset(p + i, (int)(i / ps * 31 + 7), ps);
	q = gm_realloc(p, 3 * big);
	ck_assert_ptr_ne(q, p);
	for (size_t i = 0; i < big; i += ps) {
		ck_assert_int_eq((unsigned char)q[i], (unsigned char)(i / ps * 31 + 7));
		ck_assert_int_eq((unsigned char)q[i + ps - 1], (unsigned char)(i / ps * 31 + 7));
	}
	memset(q + big, 1, 2 * big); /* the new part is usable */
	/* The pages moved: none is left behind at the old address (a copy
	 * would leave all of them resident until the scavenger runs). */
	ck_assert_int_eq(mincore(p, big, vec), 0);
	for (size_t i = 0; i < big / ps; i++)
		ck_assert_msg((vec[i] & 1) == 0, "old page %zu still resident", i);
	/* And the heap counts them released. */
	ck_heap_ok();
	gm_read_memstats(&m);
	ck_identities(&m);
	ck_assert_uint_ge(m.HeapReleased, big);
	for (int i = 0; i < 3; i++)
		if (v[i] != p)
			gm_free(v[i]);
	gm_free(q);
	ck_heap_ok();
}
END_TEST

START_TEST(calloc_zeroes_reused_memory)
{
	for (size_t n = 1; n < 100000; n = n * 3 + 1) {
		unsigned char *p = gm_malloc(n);

		memset(p, 0xff, n);
		gm_free(p);
		p = gm_calloc(1, n);
		for (size_t i = 0; i < n; i++)
			ck_assert_int_eq(p[i], 0);
		gm_free(p);
	}
	errno = 0;
	ck_assert_ptr_null(gm_calloc(SIZE_MAX / 2, 3));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(gm_malloc(SIZE_MAX));
	ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

/*
 * Large calloc zeroes a reused block by madvise or by memset, as the
 * measured touch rate and costs say (malloc.c).  Either way every byte
 * reads zero: checked over the first reused block (the lazy way, timed),
 * rounds with nothing touched and with all touched, and the one-in-256
 * lazy probes.
 */
START_TEST(large_calloc_zeroes_both_ways)
{
	const size_t sizes[] = { 300 << 10, 1 << 20, (1 << 20) + 12345 };

	for (int round = 0; round < 700; round++) {
		size_t n = sizes[round % 3];
		unsigned char *p = gm_malloc(n);
		size_t i;

		/* Dirty it, then calloc it back (the same pages come back). */
		memset(p, 0xff, n);
		gm_free(p);
		p = gm_calloc(1, n);
		ck_assert_ptr_nonnull(p);
		for (i = 0; i < n; i += sizeof(uint64_t)) {
			uint64_t w = 0;

			memcpy(&w, p + i, sizeof(w) <= n - i ? sizeof(w) : n - i);
			if (w != 0)
				break;
		}
		ck_assert_msg(i >= n, "round %d size %zu: byte %zu not zero", round, n, i);
		/* Touch all of it in later rounds: the mode moves to memset. */
		if (round >= 100)
			memset(p, 0xee, n);
		gm_free(p);
	}
	ck_heap_ok();
}
END_TEST

/*
 * The zeroing costs follow the fast samples (malloc.c, gm_zero_learn): one
 * slow call (a preempted madvise, another CPU's TLB flush) moves the
 * figure by a quarter at most, so the mode does not flip on it; a lasting
 * change is followed within a few samples; a faster sample halves the
 * distance.
 */
START_TEST(zero_costs_follow_fast_samples)
{
	_Atomic uint64_t fig = 0;
	int i;

	gm_zero_learn(&fig, 700);
	ck_assert_uint_eq(atomic_load(&fig) | 1, 701);
	for (i = 0; i < 10; i++)
		gm_zero_learn(&fig, 700);
	gm_zero_learn(&fig, 150000); /* one call that waited */
	ck_assert_uint_le(atomic_load(&fig), 701 + 701 / 4 + 1);
	for (i = 0; i < 4; i++)
		gm_zero_learn(&fig, 700);
	ck_assert_uint_le(atomic_load(&fig), 720);
	/* The machine got ten times slower: followed within 40 samples. */
	for (i = 0; i < 40; i++)
		gm_zero_learn(&fig, 7000);
	ck_assert_uint_ge(atomic_load(&fig), 6000);
	ck_assert_uint_le(atomic_load(&fig), 7001);
	gm_zero_learn(&fig, 1000);
	ck_assert_uint_le(atomic_load(&fig), 4001);
}
END_TEST

/*
 * Learning how to zero a large calloc (giving a block or its first 64 KiB
 * back to the OS, timed) costs a memset-mode program a fault per page
 * given back, at the next memset.  Where a fault costs 9 us and a memset
 * of 1 MiB 7.4 us (a paravirtualized guest), the steps go far enough apart
 * that they cost at most 1% of the memsets between them; where a fault
 * costs 0.8 us and the memset 15 us they keep their base spacing.
 */
START_TEST(zero_learning_costs_one_percent)
{
	const size_t mib = (size_t)1 << 20;
	uint64_t e;

	/* The whole block: a madvise of 256 resident pages, 256 faults. */
	e = gm_zero_every(4096, 58000, 9000, 7400, mib, 256);
	ck_assert_uint_ge((e + 1) * 7400, 100 * (58000 + 256 * 9000));
	e = gm_zero_every(4096, 33000, 800, 15000, mib, 256);
	ck_assert_uint_eq(e, 4096);
	/* The 64 KiB probe: 16 faults. */
	e = gm_zero_every(256, 2300, 9000, 7400, mib, 16);
	ck_assert_uint_ge((e + 1) * 7400, 100 * (2300 + 16 * 9000));
	ck_assert_uint_le(e * 7400, 100 * (2300 + 16 * 9000));
	ck_assert_uint_eq(gm_zero_every(256, 700, 800, 15000, mib, 16), 256);
	/* Unknown figures keep the base; no spacing grows past the bound
	 * (a program may change its ways). */
	ck_assert_uint_eq(gm_zero_every(256, 0, 0, 0, mib, 16), 256);
	ck_assert_uint_le(gm_zero_every(256, 1000000, 1000000, 1, mib, 256), 65536);
}
END_TEST

/*
 * A large calloc zeroes only the pages that may hold old data: pages
 * released to the OS read as zero already, and writing them would fault
 * them back in.  A dirty 8 MiB block is freed, the top of its run is
 * released, and calloc takes the same pages back: the released ones must
 * still be out of memory (mincore), and every byte must read zero.
 */
START_TEST(large_calloc_skips_released_pages)
{
	const size_t big = (size_t)8 << 20, ps = (size_t)sysconf(_SC_PAGESIZE);
	static unsigned char vec[((size_t)8 << 20) / 4096];
	unsigned char *p, *q;
	size_t released, resident = 0, i;

	gm_opt.scavenge = false;
	/* Programs that write all they calloc: zeroing goes to memset (the
	 * lazy way releases whole blocks, and would hide the difference). */
	for (i = 0; i < 64; i++) {
		p = gm_calloc(1, (size_t)1 << 20);
		memset(p, 1, (size_t)1 << 20);
		gm_free(p);
	}
	gm_mheap_scavenge(SIZE_MAX, true); /* every free run is released */
	p = gm_malloc(big);
	ck_assert_ptr_nonnull(p);
	memset(p, 0xab, big);
	gm_free(p);
	/* Its run is now the only one with resident pages: release its top. */
	released = gm_mheap_scavenge(1, true);
	ck_assert_uint_gt(released, 0);
	ck_assert_uint_lt(released, big);
	q = gm_calloc(1, big);
	ck_assert_ptr_eq(q, p); /* the same best fit as before */
	ck_assert_int_eq(mincore(q, big, vec), 0);
	for (i = 0; i < big / ps; i++)
		resident += vec[i] & 1;
	ck_assert_msg(resident * ps <= big - released,
		      "%zu of %zu pages resident after calloc, %zu bytes were released", resident,
		      big / ps, released);
	for (i = 0; i < big; i += sizeof(uint64_t)) {
		uint64_t w;

		memcpy(&w, q + i, sizeof(w));
		if (w != 0)
			break;
	}
	ck_assert_msg(i >= big, "byte %zu not zero", i);
	ck_heap_ok();
	gm_free(q);
	ck_heap_ok();
}
END_TEST

/*
 * 8 B objects sit 8 bytes apart: freeing one (its tagged link) writes
 * nothing of its neighbours, and they come back whole through reuse.
 */
START_TEST(eight_byte_frees_leave_neighbours)
{
	uint64_t *v[256];

	for (int i = 0; i < 256; i++) {
		v[i] = gm_malloc(8);
		*v[i] = 0x5a5a5a5a00000000u | (uint64_t)i;
	}
	for (int round = 0; round < 4; round++) {
		for (int i = round % 2; i < 256; i += 2)
			gm_free(v[i]);
		for (int i = 1 - round % 2; i < 256; i += 2)
			ck_assert_uint_eq(*v[i], 0x5a5a5a5a00000000u | (uint64_t)i);
		for (int i = round % 2; i < 256; i += 2) {
			v[i] = gm_malloc(8);
			*v[i] = 0x5a5a5a5a00000000u | (uint64_t)i;
		}
	}
	for (int i = 0; i < 256; i++) {
		ck_assert_uint_eq(*v[i], 0x5a5a5a5a00000000u | (uint64_t)i);
		gm_free(v[i]);
	}
	ck_heap_ok();
}
END_TEST

START_TEST(malloc_zero_unique)
{
	void *a = gm_malloc(0), *b = gm_malloc(0);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	gm_free(a);
	gm_free(b);
	gm_free(NULL);
}
END_TEST

static void
double_free(void *p)
{
	gm_free(p);
	gm_free(p);
}

static void
just_free(void *p)
{
	gm_free(p);
}

START_TEST(bad_frees_name_the_pointer)
{
	char hex[32];
	void *p = gm_malloc(32), *big = gm_malloc(1 << 20);
	int stackvar;

	snprintf(hex, sizeof(hex), "%p", p);
	expect_death(double_free, p, hex);
	snprintf(hex, sizeof(hex), "%p", big);
	expect_death(double_free, big, hex);
	snprintf(hex, sizeof(hex), "%p", (void *)&stackvar);
	expect_death(just_free, &stackvar, hex);
	snprintf(hex, sizeof(hex), "%p", (char *)p + 8);
	expect_death(just_free, (char *)p + 8, hex);
	{
		char *e = gm_malloc(8), *f = gm_malloc(8);

		snprintf(hex, sizeof(hex), "%p", (void *)e);
		expect_death(double_free, e, hex);
		snprintf(hex, sizeof(hex), "%p", (void *)(e + 4));
		expect_death(just_free, e + 4, hex);
		gm_free(e);
		gm_free(f);
	}
	gm_free(p);
	gm_free(big);
}
END_TEST

/* A thread that frees a large block and exits. */
static void *
large_free_exit(void *arg)
{
	gm_free(gm_malloc((size_t)(uintptr_t)arg));
	return NULL;
}

/*
 * The thread's large cache (malloc.c): the last large block freed comes
 * back for the next malloc of its page count, and the counts stay exact
 * (Go's definitions: the free counts at free, the pages stay in use);
 * calloc takes it and zeroes it; other sizes and blocks over 4 MiB do not
 * use it, nor blocks of
 * another size than the last large malloc's; a new free gives the one
 * before back; thread exit and the scavenger's drain give it
 * back to the heap.
 */
START_TEST(large_cache_reuses_and_counts)
{
	struct gomem_memstats a, b;
	const size_t mib = (size_t)1 << 20;
	char *p, *q, *r, *z, *big;
	pthread_t t;

	gm_opt.scavenge = false;
	gm_lcache_release(gm_tls_mcache);
	gm_read_memstats(&a);
	p = gm_malloc(mib);
	memset(p, 7, 4096);
	gm_free(p);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, 1);
	ck_assert_uint_eq(b.Frees - a.Frees, 1);
	ck_assert_uint_eq(b.LargeFrees - a.LargeFrees, 1);
	ck_assert_uint_eq(b.HeapAlloc, a.HeapAlloc);
	ck_assert_uint_eq(b.HeapInuse, a.HeapInuse + mib); /* kept, in use */
	ck_identities(&b);
	/* Same page count: the same block, counted as a new malloc. */
	q = gm_malloc(mib - 100);
	ck_assert_ptr_eq(q, p);
	ck_assert_uint_eq(gm_usable_size(q), mib);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.Mallocs - a.Mallocs, 2);
	ck_assert_uint_eq(b.LargeAllocs - a.LargeAllocs, 2);
	ck_assert_uint_eq(b.HeapAlloc, a.HeapAlloc + mib);
	ck_assert_uint_eq(b.HeapInuse, a.HeapInuse + mib);
	/* Another size does not take it, and a block of another size than
	 * the thread's last large malloc is not kept (a growing buffer's old
	 * blocks go back to the heap, where a neighbour may grow into them). */
	r = gm_malloc(2 * mib);
	ck_assert_ptr_ne(r, q);
	gm_free(q);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.HeapInuse, a.HeapInuse + 2 * mib);
	gm_free(r);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.HeapAlloc, a.HeapAlloc);
	ck_assert_uint_eq(b.HeapInuse, a.HeapInuse + 2 * mib);
	/* calloc takes the cached block too, and zeroes what it held: a loop
	 * of calloc and free stays on one block. */
	r = gm_malloc(2 * mib);
	memset(r, 0x5a, 2 * mib);
	gm_free(r);
	z = gm_calloc(1, 2 * mib);
	ck_assert_ptr_eq(z, r);
	for (size_t i = 0; i < 2 * mib; i++)
		if (z[i] != 0)
			ck_abort_msg("byte %zu of the cached block calloc took is %d", i, z[i]);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.HeapAlloc, a.HeapAlloc + 2 * mib);
	gm_free(z);
	/* Over 4 MiB: straight back to the heap. */
	big = gm_malloc(8 * mib);
	gm_free(big);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.HeapInuse, a.HeapInuse + 2 * mib);
	ck_assert_uint_eq(b.Mallocs - b.Frees, a.Mallocs - a.Frees);
	ck_identities(&b);
	ck_heap_ok();
	gm_lcache_drain_all(); /* the scavenger's, and gomem_free_os_memory's */
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.HeapInuse, a.HeapInuse);
	/* A thread's exit gives its cached block back. */
	pthread_create(&t, NULL, large_free_exit, (void *)(uintptr_t)(3 * mib));
	pthread_join(t, NULL);
	gm_read_memstats(&b);
	ck_assert_uint_eq(b.HeapInuse, a.HeapInuse);
	ck_assert_uint_eq(b.HeapAlloc, a.HeapAlloc);
	ck_identities(&b);
	ck_heap_ok();
}
END_TEST

/*
 * A thread that fills its cache's list of 64-byte blocks, then waits while
 * the main thread forks.
 */
static pthread_barrier_t fork_bar;
static gm_mcache *fork_peer;

static void *
fork_peer_main(void *arg)
{
	void *v[64];

	(void)arg;
	for (int i = 0; i < 64; i++)
		v[i] = gm_malloc(64);
	for (int i = 0; i < 64; i++)
		gm_free(v[i]);
	fork_peer = gm_tls_mcache;
	pthread_barrier_wait(&fork_bar); /* filled */
	pthread_barrier_wait(&fork_bar); /* forked */
	return NULL;
}

/*
 * The parent forks while another thread is halfway through giving a batch
 * back (gm_mcache_release has made the first blocks' links plain and not
 * yet cut them off its list): the child gives that thread's cache back
 * without taking those plain links for a double free, and its heap checks
 * out.
 */
START_TEST(fork_child_takes_back_torn_caches)
{
	unsigned c = gm_size_class(64);
	pthread_t t;
	uintptr_t *q;
	pid_t pid;
	int st;

	pthread_barrier_init(&fork_bar, NULL, 2);
	ck_assert_int_eq(pthread_create(&t, NULL, fork_peer_main, NULL), 0);
	pthread_barrier_wait(&fork_bar);
	/* The peer's release in progress: its first three links made plain. */
	q = fork_peer->free[c];
	ck_assert_ptr_nonnull(q);
	for (int i = 0; i < 3 && q != NULL; i++) {
		q[0] ^= gm_link_tag;
		ck_assert(gm_link_ok(q[0]));
		q = (uintptr_t *)q[0];
	}
	pid = fork();
	if (pid == 0) {
		char why[128];
		void *p = gm_malloc(64);

		gm_free(p);
		_exit(gm_mheap_check(why, sizeof(why)) == 0 ? 0 : 7);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	/* Tag the peer's links again before it exits and releases its cache. */
	q = fork_peer->free[c];
	for (int i = 0; i < 3 && q != NULL; i++) {
		uintptr_t next = q[0];

		q[0] = gm_link_enc((void *)next);
		q = (uintptr_t *)next;
	}
	pthread_barrier_wait(&fork_bar);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&fork_bar);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
}
END_TEST

/*
 * Every malloc and free reads gm_link_tag: nothing written while the program
 * runs may share its cache line, or each such write costs every thread a
 * miss on its next call (the heap profile's header did, at every sample).
 * The line's bytes must stay the same across a run of sampled allocations.
 */
START_TEST(link_tag_line_stays_clean)
{
	const unsigned char *line = (const unsigned char *)((uintptr_t)&gm_link_tag & ~(uintptr_t)63);
	unsigned char before[64];
	unsigned long long samples = gomem_profile.samples;
	enum { N = 4096 };
	static void *p[N];

	memcpy(before, line, sizeof(before));
	for (int round = 0; round < 16; round++) {
		for (int i = 0; i < N; i++)
			p[i] = gm_malloc(1024);
		for (int i = 0; i < N; i++)
			gm_free(p[i]);
	}
	/* 64 MiB at the default rate: about 128 samples. */
	ck_assert_uint_gt(gomem_profile.samples, samples);
	ck_assert_msg(memcmp(before, line, sizeof(before)) == 0,
		      "the line of gm_link_tag was written while sampling");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("malloc");
	TCase *tc = tcase_create("paths");

	gm_ensure_init();
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, every_small_size_aligned);
	tcase_add_test(tc, link_tag_line_stays_clean);
	tcase_add_test(tc, small_sizes_take_their_class);
	tcase_add_test(tc, small_cross_thread);
	tcase_add_test(tc, usable_size_fast_agrees_with_span);
	tcase_add_test(tc, alignment_rules);
	tcase_add_test(tc, aligned_takes_the_smallest_fitting_class);
	tcase_add_test(tc, realloc_in_place_and_moves);
	tcase_add_test(tc, realloc_moves_big_blocks);
	tcase_add_test(tc, calloc_zeroes_reused_memory);
	tcase_add_test(tc, large_calloc_zeroes_both_ways);
	tcase_add_test(tc, zero_costs_follow_fast_samples);
	tcase_add_test(tc, zero_learning_costs_one_percent);
	tcase_add_test(tc, large_calloc_skips_released_pages);
	tcase_add_test(tc, eight_byte_frees_leave_neighbours);
	tcase_add_test(tc, malloc_zero_unique);
	tcase_add_test(tc, bad_frees_name_the_pointer);
	tcase_add_test(tc, large_cache_reuses_and_counts);
	tcase_add_test(tc, fork_child_takes_back_torn_caches);
	tcase_add_test(tc, first_refill_takes_a_span);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
