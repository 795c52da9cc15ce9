/*
 * check_msize.c: the size classes are Go's.
 *
 * The table is re-derived here from the rules of Go's mksizeclasses.go
 * (go-allocator-facts.md §1), independently of lib/msize.c, and compared
 * class by class; then every request size 0..32768 is checked to map to the
 * smallest class that fits, and divmagic to give exact object indexes.
 */
#include "testutil.h"
#include "malloc_fast.h"

struct cls {
	unsigned size, npages;
};

/* Go's generator: steps by align, chop waste <= 1/8, merge, round up. */
static int
gen_classes(struct cls *out)
{
	int n = 1;
	unsigned align = 8, size;

	out[0].size = 0;
	out[0].npages = 0;
	for (size = align; size <= 32768; size += align) {
		unsigned allocsize = 8192, npages, objects;

		if ((size & (size - 1)) == 0) {
			if (size >= 2048)
				align = 256;
			else if (size >= 128)
				align = size / 8;
			else if (size >= 32)
				align = 16;
		}
		while (allocsize % size > allocsize / 8)
			allocsize += 8192;
		npages = allocsize / 8192;
		objects = allocsize / size;
		if (n > 1 && npages == out[n - 1].npages &&
		    allocsize / out[n - 1].size == objects) {
			out[n - 1].size = size;
			continue;
		}
		out[n].size = size;
		out[n].npages = npages;
		n++;
	}
	/* Increase object sizes if it reduces waste: (span/objs) &^ 127. */
	for (int i = 1; i < n; i++) {
		unsigned span = out[i].npages * 8192, objs = span / out[i].size;
		unsigned nsize = (span / objs) & ~127u;

		if (nsize > out[i].size)
			out[i].size = nsize;
	}
	return n;
}

START_TEST(table_matches_go_generator)
{
	struct cls c[100];
	int n = gen_classes(c);

	ck_assert_int_eq(n, GM_NUM_CLASSES);
	for (int i = 1; i < n; i++) {
		ck_assert_msg(gm_class_size[i] == c[i].size, "class %d size %u, Go %u", i,
			      gm_class_size[i], c[i].size);
		ck_assert_msg(gm_class_npages[i] == c[i].npages, "class %d npages %u, Go %u", i,
			      gm_class_npages[i], c[i].npages);
	}
	ck_assert_uint_eq(gm_class_size[1], 8);
	ck_assert_uint_eq(gm_class_size[67], 32768);
	ck_assert_uint_eq(gm_class_size[52], 9472); /* 8448 rounded up */
}
END_TEST

START_TEST(every_size_maps_to_smallest_fitting_class)
{
	for (size_t n = 1; n <= GM_MAX_SMALL; n++) {
		unsigned c = gm_size_class(n);

		ck_assert_msg(c >= 1 && c < GM_NUM_CLASSES, "size %zu class %u", n, c);
		ck_assert_msg(gm_class_size[c] >= n, "size %zu class %u too small", n, c);
		/* Up to 8 B the 8 B class (8-aligned at 8-byte spacing); from
		 * 9 B the smallest class that fits and keeps 16-byte alignment
		 * (every block of 16 B or more is 16-byte aligned). */
		if (n <= 8) {
			ck_assert_msg(gm_class_size[c] == 8, "size %zu: class %u", n, c);
			continue;
		}
		ck_assert_msg(gm_class_size[c] >= 16 && gm_class_size[c] % 16 == 0,
			      "size %zu: class %u unaligned", n, c);
		ck_assert_msg(gm_class_size[c - 1] < n || gm_class_size[c - 1] < 16 ||
				      gm_class_size[c - 1] % 16 != 0,
			      "size %zu: class %u not smallest", n, c);
	}
	/* malloc's fast table agrees, 0 included. */
	for (size_t n = 0; n <= GM_SMALL_MAX - 8; n++)
		ck_assert_uint_eq(gm_small.cls[n], gm_size_class(n ? n : 1));
	/* The link tag: random top 16 bits, neither 0 nor all ones, and no
	 * low bit, so a tagged link decodes to the address it was made of,
	 * and no address of ours carries a top bit. */
	ck_assert_uint_eq(gm_link_tag & (((uintptr_t)1 << GM_LINK_TAG_SHIFT) - 1), 0);
	ck_assert_uint_ne(gm_link_tag >> GM_LINK_TAG_SHIFT, 0);
	ck_assert_uint_ne(gm_link_tag >> GM_LINK_TAG_SHIFT, 0xffff);
	{
		void *p = gm_malloc(16);

		ck_assert(gm_link_ok(gm_link_enc(p) ^ gm_link_tag));
		ck_assert(!gm_link_ok(gm_link_enc(p)));
		ck_assert(!gm_link_ok(0 ^ gm_link_tag)); /* a taken object's word 0 */
		ck_assert_ptr_eq((void *)(gm_link_enc(p) ^ gm_link_tag), p);
		gm_free(p);
	}
}
END_TEST

START_TEST(waste_bounds)
{
	for (unsigned c = 1; c < GM_NUM_CLASSES; c++) {
		/* A span is a whole number of Go's spans: 64 KiB (or Go's,
		 * if bigger) up to 1 KiB objects, Go's above. */
		size_t span = gm_class_spanpages[c] * GM_PAGE_SIZE;
		size_t objs = span / gm_class_size[c];
		size_t tail = span - objs * gm_class_size[c];

		ck_assert_uint_eq(gm_class_spanpages[c] % gm_class_npages[c], 0);
		if (gm_class_size[c] <= 1024)
			ck_assert_uint_eq(span, (size_t)GM_SMALL_SPAN_PAGES * GM_PAGE_SIZE);
		else
			ck_assert_uint_eq(gm_class_spanpages[c], gm_class_npages[c]);

		ck_assert_uint_eq(gm_class_nelems[c], objs);
		ck_assert_msg(tail * 8 <= span, "class %u tail waste %zu of %zu", c, tail, span);
		if (gm_class_size[c] >= 128) {
			/* Worst-case waste (round-up of the smallest request plus the
			 * tail), the fact sheet's "max waste" column: under 16.7%. */
			size_t worst = gm_class_size[c - 1] + 1;
			size_t waste = (gm_class_size[c] - worst) * objs + tail;

			ck_assert_msg(waste * 1000 <= span * 167, "class %u max waste", c);
		}
		ck_assert_uint_le(objs, GM_SMALL_SPAN_PAGES * GM_PAGE_SIZE / 8);
	}
}
END_TEST

START_TEST(object_index_exact)
{
	for (unsigned c = 1; c < GM_NUM_CLASSES; c++) {
		uint64_t size = gm_class_size[c], span = gm_class_spanpages[c] * GM_PAGE_SIZE;
		uint64_t nelems = gm_class_nelems[c];

		ck_assert_uint_eq(size >> gm_class_shift[c] << gm_class_shift[c], size);
		ck_assert_uint_eq((size >> gm_class_shift[c]) % 2, 1);
		/* Every offset of the span, and some before it and past it. */
		for (uint64_t o = 0; o < span + 3 * size; o++) {
			uint64_t off = o - 2 * size; /* wraps below 0 */
			uint64_t idx = gm_obj_index(off, gm_class_inv[c], gm_class_shift[c]);
			bool start = off < nelems * size && off % size == 0;

			if (start ? idx != off / size : idx < nelems)
				ck_abort_msg("class %u offset %lld index %llu", c, (long long)off,
					     (unsigned long long)idx);
		}
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("msize");
	TCase *tc = tcase_create("classes");

	gm_ensure_init();
	tcase_add_test(tc, table_matches_go_generator);
	tcase_add_test(tc, every_size_maps_to_smallest_fitting_class);
	tcase_add_test(tc, waste_bounds);
	tcase_add_test(tc, object_index_exact);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
