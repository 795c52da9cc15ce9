/*
 * msize.c: size classes.
 *
 * Go's 67 size classes from 8 B to 32 KiB, with the number of 8 KiB pages
 * each class's span takes (runtime/sizeclasses.go; the same table since Go
 * 1.19).  Requests are rounded up to a class: sizes up to 1024 B through an
 * 8-byte-step table, larger ones through a 128-byte-step table.  The object
 * index inside a span is a multiply by the inverse of the size's odd part
 * and a rotate (gm_obj_index), which also says whether an offset starts an
 * object.  Rounding waste is
 * at most 12.5% and span tail waste at most 12.5%.  Differences from Go:
 * the spans of classes up to 1 KiB may take GM_SMALL_SPAN_PAGES pages, a
 * whole number of Go's spans.  It is 1 (Go's own): 8 (64 KiB spans) kept
 * larson's span structs in L1 (D1 misses per free 1.19 -> 0.78), but one
 * survivor pins a whole 64 KiB span, and cgchurn (tests/lib/cgroup.sh: 500 B
 * objects, one in 256 kept) peaked at 336 MB of RSS instead of 208-234 MB,
 * and was OOM-killed in its 256 MiB cgroup when the machine was loaded.
 * requests of 17..24 B skip the 24 B class, which cannot keep 16-byte
 * alignment (see gm_msize_init), and there is no tiny allocator: requests of
 * 0..8 B take the 8 B class (internal.h); tests/lib/check_msize.c
 * re-derives the table from Go's generator rules.
 */
#include "internal.h"

const uint32_t gm_class_size[GM_NUM_CLASSES] = {
    0,	   8,	  16,	 24,	32,    48,    64,    80,    96,	   112,	  128,	 144,
    160,   176,	  192,	 208,	224,   240,   256,   288,   320,   352,	  384,	 416,
    448,   480,	  512,	 576,	640,   704,   768,   896,   1024,  1152,  1280,	 1408,
    1536,  1792,  2048,	 2304,	2688,  3072,  3200,  3456,  4096,  4864,  5376,	 6144,
    6528,  6784,  6912,	 8192,	9472,  9728,  10240, 10880, 12288, 13568, 14336, 16384,
    18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768,
};

const uint8_t gm_class_npages[GM_NUM_CLASSES] = {
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,	 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2,	 3, 1, 3,
    2, 3, 4, 5, 6, 1, 7, 6, 5, 4, 3, 5, 7, 2, 9, 7, 5, 8, 3, 10, 7, 4,
};

uint8_t gm_size_to_class8[GM_SMALL_MAX / GM_SMALL_DIV + 1];
gm_small_tables gm_small;
uint8_t gm_size_to_class128[(GM_MAX_SMALL - GM_SMALL_MAX) / GM_LARGE_DIV + 1];
uint64_t gm_class_inv[GM_NUM_CLASSES];
uint8_t gm_class_shift[GM_NUM_CLASSES];
uint16_t gm_class_nelems[GM_NUM_CLASSES];
uint8_t gm_class_aligned[GM_ALIGN_ROWS][GM_NUM_CLASSES];

/*
 * gm_class_aligned[k][c]: the first class from c up whose size is a
 * multiple of 32 << k, so all its objects fall on such multiples (a span
 * starts on a page); GM_NUM_CLASSES when none does.
 */
static void gm_msize_align_init(void)
{
	unsigned k, c, d;

	for (k = 0; k < GM_ALIGN_ROWS; k++) {
		d = GM_NUM_CLASSES;
		for (c = GM_NUM_CLASSES; c-- > 0;) {
			if (c > 0 && gm_class_size[c] % (32u << k) == 0)
				d = c;
			gm_class_aligned[k][c] = (uint8_t)d;
		}
	}
}
uint8_t gm_class_spanpages[GM_NUM_CLASSES];

/* Fill the lookup tables: entry i is the smallest class holding i steps. */
void gm_msize_init(void)
{
	unsigned c = 1;
	size_t i;

	for (i = 0; i < sizeof(gm_size_to_class8); i++) {
		size_t n = i * GM_SMALL_DIV;

		while (c < GM_NUM_CLASSES - 1 && gm_class_size[c] < n)
			c++;
		gm_size_to_class8[i] = (uint8_t)c;
	}
	for (i = 0; i < sizeof(gm_size_to_class128); i++) {
		size_t n = GM_SMALL_MAX + i * GM_LARGE_DIV;

		while (c < GM_NUM_CLASSES - 1 && gm_class_size[c] < n)
			c++;
		gm_size_to_class128[i] = (uint8_t)c;
	}
	for (c = 1; c < GM_NUM_CLASSES; c++) {
		unsigned k = (unsigned)__builtin_ctz(gm_class_size[c]);
		uint64_t m = gm_class_size[c] >> k, x = m;

		/* Newton's iteration doubles the correct low bits: 3 -> 96. */
		for (i = 0; i < 5; i++)
			x *= 2 - m * x;
		gm_class_inv[c] = x;
		gm_class_shift[c] = (uint8_t)k;
		gm_class_spanpages[c] = gm_class_npages[c];
		if (gm_class_size[c] <= GM_SMALL_MAX)
			gm_class_spanpages[c] *= GM_SMALL_SPAN_PAGES / gm_class_npages[c];
		gm_class_nelems[c] =
		    (uint16_t)(gm_class_spanpages[c] * GM_PAGE_SIZE / gm_class_size[c]);
	}
	/*
	 * Blocks of 16 B or more are 16-byte aligned, as glibc's are: Go's 24 B
	 * class only gives 8, so requests of 17..24 B use the 32 B class.  The
	 * 8 B class takes 0..8 B at 8-byte spacing (8-aligned, as every peer's
	 * 8 B class and GCC's MALLOC_ABI_ALIGNMENT want).
	 */
	gm_size_to_class8[3] = 4;
	for (i = 0; i < sizeof(gm_small.cls); i++)
		gm_small.cls[i] = gm_size_to_class8[(i + GM_SMALL_DIV - 1) / GM_SMALL_DIV];
	gm_msize_align_init();
}
