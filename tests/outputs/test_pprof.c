/*
 * test_pprof.c: unit tests of gomemd's profile.proto encoder (daemon/encode/pprof.c)
 * against a profile decoded by hand, byte for byte: field numbers and wire
 * types of google/pprof proto/profile.proto, packed repeated fields,
 * string_table[0] = "", Go's heap sample types; plus the gzip framing and
 * Go's scaleHeapSample.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/obuf.h"
#include "encode/pprof.h"

START_TEST(test_varint)
{
	struct obuf b;
	static const unsigned char want[] = {
	    0x00, 0x01, 0x7f, 0x80, 0x01, 0xac, 0x02,			/* 0 1 127 128 300 */
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, /* 2^64-1 */
	};

	obuf_init(&b, 0);
	pb_varint(&b, 0);
	pb_varint(&b, 1);
	pb_varint(&b, 127);
	pb_varint(&b, 128);
	pb_varint(&b, 300);
	pb_varint(&b, UINT64_MAX);
	ck_assert_uint_eq(b.len, sizeof want);
	ck_assert_mem_eq(b.data, want, sizeof want);
	b.len = 0;
	pb_uint(&b, 5, 0); /* proto3 default: omitted */
	ck_assert_uint_eq(b.len, 0);
	pb_uint(&b, 12, 4096);	  /* key (12 << 3 | 0) = 0x60 */
	pb_bytes(&b, 6, "ab", 2); /* key (6 << 3 | 2) = 0x32 */
	ck_assert_uint_eq(b.len, 7);
	ck_assert_mem_eq(b.data,
			 "\x60\x80\x20\x32\x02"
			 "ab",
			 7);
	obuf_free(&b);
}
END_TEST

#define S(lit) 0x32, sizeof(lit) - 1
static const unsigned char want_profile[] = {
    /* sample_type (1) x4: ValueType {type = 1, unit = 2} */
    0x0a,
    0x04,
    0x08,
    0x01,
    0x10,
    0x02, /* alloc_objects/count */
    0x0a,
    0x04,
    0x08,
    0x03,
    0x10,
    0x04, /* alloc_space/bytes */
    0x0a,
    0x04,
    0x08,
    0x05,
    0x10,
    0x02, /* inuse_objects/count */
    0x0a,
    0x04,
    0x08,
    0x06,
    0x10,
    0x04, /* inuse_space/bytes */
    /* sample (2): location_id packed [1], value packed [1 300 0 0], label {key "bytes", num 300} */
    0x12,
    0x11,
    0x0a,
    0x01,
    0x01,
    0x12,
    0x05,
    0x01,
    0xac,
    0x02,
    0x00,
    0x00,
    0x1a,
    0x05,
    0x08,
    0x04,
    0x18,
    0xac,
    0x02,
    /* mapping (3): id 1, start 0x1000, limit 0x2000, offset 0 (omitted), file 7, build_id 8,
       has_functions */
    0x1a,
    0x0e,
    0x08,
    0x01,
    0x10,
    0x80,
    0x20,
    0x18,
    0x80,
    0x40,
    0x28,
    0x07,
    0x30,
    0x08,
    0x38,
    0x01,
    /* location (4): id 1, mapping_id 1, address 0x1234, line {function_id 1} */
    0x22,
    0x0b,
    0x08,
    0x01,
    0x10,
    0x01,
    0x18,
    0xb4,
    0x24,
    0x22,
    0x02,
    0x08,
    0x01,
    /* function (5): id 1, name 9, system_name 9 */
    0x2a,
    0x06,
    0x08,
    0x01,
    0x10,
    0x09,
    0x18,
    0x09,
    /* time_nanos (9) 5 */
    0x48,
    0x05,
    /* period_type (11) space/bytes */
    0x5a,
    0x04,
    0x08,
    0x0a,
    0x10,
    0x04,
    /* period (12) 4096 */
    0x60,
    0x80,
    0x20,
    /* string_table (6) */
    0x32,
    0x00,
    S("alloc_objects"),
    'a',
    'l',
    'l',
    'o',
    'c',
    '_',
    'o',
    'b',
    'j',
    'e',
    'c',
    't',
    's',
    S("count"),
    'c',
    'o',
    'u',
    'n',
    't',
    S("alloc_space"),
    'a',
    'l',
    'l',
    'o',
    'c',
    '_',
    's',
    'p',
    'a',
    'c',
    'e',
    S("bytes"),
    'b',
    'y',
    't',
    'e',
    's',
    S("inuse_objects"),
    'i',
    'n',
    'u',
    's',
    'e',
    '_',
    'o',
    'b',
    'j',
    'e',
    'c',
    't',
    's',
    S("inuse_space"),
    'i',
    'n',
    'u',
    's',
    'e',
    '_',
    's',
    'p',
    'a',
    'c',
    'e',
    S("/bin/x"),
    '/',
    'b',
    'i',
    'n',
    '/',
    'x',
    S("ab"),
    'a',
    'b',
    S("f"),
    'f',
    S("space"),
    's',
    'p',
    'a',
    'c',
    'e',
};
#undef S

static void tiny_profile(struct obuf *b)
{
	static const struct pprof_mapping m = {0x1000, 0x2000, 0, "/bin/x", "ab", 1};
	static const struct pprof_location l = {0x1234, 0, 0};
	static const char *const fn[] = {"f"};
	static const uint32_t locs[] = {0};
	struct pprof_sample s = {locs, 1, {1, 300, 0, 0}, 300};
	struct pprof_heap h = {4096, 5, &m, 1, &l, 1, fn, 1, &s, 1};

	obuf_init(b, 0);
	ck_assert_int_eq(pprof_encode_heap(&h, b), 0);
}

START_TEST(test_profile_bytes)
{
	struct obuf b;
	size_t i;

	tiny_profile(&b);
	for (i = 0; i < b.len && i < sizeof want_profile; i++)
		ck_assert_msg((unsigned char)b.data[i] == want_profile[i],
			      "byte %zu: got 0x%02x, want 0x%02x", i, (unsigned char)b.data[i],
			      want_profile[i]);
	ck_assert_uint_eq(b.len, sizeof want_profile);
	obuf_free(&b);
}
END_TEST

START_TEST(test_gzip)
{
	unsigned char out[1024];
	struct obuf b;
	z_stream z;
	char *gz;
	size_t n;

	tiny_profile(&b);
	ck_assert_int_eq(pprof_gzip(b.data, b.len, &gz, &n), 0);
	ck_assert_uint_ge(n, 18);
	ck_assert_int_eq((unsigned char)gz[0], 0x1f); /* gzip magic */
	ck_assert_int_eq((unsigned char)gz[1], 0x8b);
	memset(&z, 0, sizeof z);
	ck_assert_int_eq(inflateInit2(&z, 31), Z_OK);
	z.next_in = (Bytef *)gz;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = sizeof out;
	ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
	ck_assert_uint_eq(z.total_out, b.len);
	ck_assert_mem_eq(out, b.data, b.len);
	inflateEnd(&z);
	free(gz);
	obuf_free(&b);
}
END_TEST

START_TEST(test_scale)
{
	int64_t c, v;

	/* one sample of a block the size of the rate: scale 1/(1-e^-1) */
	pprof_scale(1, 4096, 4096, &c, &v);
	ck_assert_int_eq(c, 1);
	ck_assert_int_eq(v, (int64_t)(4096 / (1 - exp(-1.0))));
	/* small blocks: about rate/size objects per sample */
	pprof_scale(10, 160, 524288, &c, &v);
	ck_assert(fabs((double)c - 10 * 524288 / 16.0) < 10 * 524288 / 16.0 * 0.001);
	/* big blocks are always sampled: no scaling to speak of */
	pprof_scale(3, 3 << 24, 524288, &c, &v);
	ck_assert_int_eq(c, 3);
	ck_assert_int_eq(v, 3 << 24);
	/* rate <= 1: every allocation was recorded */
	pprof_scale(7, 70, 1, &c, &v);
	ck_assert_int_eq(c, 7);
	ck_assert_int_eq(v, 70);
	pprof_scale(0, 0, 4096, &c, &v);
	ck_assert_int_eq(c, 0);
	ck_assert_int_eq(v, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pprof");
	TCase *tc = tcase_create("encoder");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_varint);
	tcase_add_test(tc, test_profile_bytes);
	tcase_add_test(tc, test_gzip);
	tcase_add_test(tc, test_scale);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
