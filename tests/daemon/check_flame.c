/*
 * check_flame.c: unit tests of daemon/routes/flame.c's flame_encode(), the
 * call tree behind GET /profile/flame.
 *
 * The input is a profile.proto written here field by field with protobuf-c
 * and gzipped with zlib, as pprof files are; the output is read back with
 * cJSON.  The expected trees follow pprof's own rules: locations list the
 * leaf first, a location's line[0] is its innermost inlined function, and
 * drop_frames (Prune) removes the first allocator frame below the first
 * frame of the program together with everything below it, but nothing
 * while no program frame has been seen yet.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cjson/cJSON.h>

#include "check_run.h"
#include "base/obuf.h"
#include "core/profile.pb-c.h"
#include "encode/json.h"
#include "routes/routes.h"

typedef Perftools__Profiles__Profile PbProfile;
typedef Perftools__Profiles__Sample PbSample;
typedef Perftools__Profiles__Location PbLocation;
typedef Perftools__Profiles__Line PbLine;
typedef Perftools__Profiles__Function PbFunction;
typedef Perftools__Profiles__ValueType PbValueType;

static char *strs[] = {"",
		       "alloc_objects",
		       "count",
		       "alloc_space",
		       "bytes",
		       "inuse_objects",
		       "inuse_space",
		       "main",
		       "site_a",
		       "site_b",
		       "operator new(unsigned long)",
		       "malloc",
		       "helper_inl",
		       "strdup"};
enum { S_MAIN = 7, S_A, S_B, S_NEW, S_MALLOC, S_INL, S_STRDUP };
/* function id i names strs[fn_name[i]] */
static const int64_t fn_name[] = {0, S_MAIN, S_A, S_B, S_NEW, S_MALLOC, S_INL, S_STRDUP};

static unsigned char *gzip_bytes(const void *in, size_t n, size_t *outlen)
{
	z_stream z;
	size_t cap = deflateBound(NULL, n) + 64;
	unsigned char *out = malloc(cap);

	memset(&z, 0, sizeof z);
	ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	*outlen = z.total_out;
	deflateEnd(&z);
	return out;
}

/*
 * The test profile, gzipped.  Samples (locations leaf first):
 *   1: malloc < site_a < main                         10 1000  5 600
 *   2: malloc < operator new < [helper_inl site_b] < main   20 3000  0   0
 *   3: malloc < 0x1234 (no symbol) < main              1  100  1 100
 *   4: malloc < strdup (no program frame at all)       2   50  2  50
 *   5: site_a < main (a delta below zero: counts as 0) 0    0 -3 -300
 */
static unsigned char *test_profile(size_t *len)
{
	PbProfile p = PERFTOOLS__PROFILES__PROFILE__INIT;
	PbValueType vt[4], *vtp[4];
	PbFunction fn[8], *fnp[7];
	PbLocation loc[7], *locp[7];
	PbLine line[8], *l1[1], *l2[1], *l3[2], *l4[1], *l5[1], *l7[1];
	PbSample smp[5], *smpp[5];
	static uint64_t ids[5][4] = {{5, 2, 1}, {5, 4, 3, 1}, {5, 6, 1}, {5, 7}, {2, 1}};
	static const size_t nids[5] = {3, 4, 3, 2, 2};
	static int64_t vals[5][4] = {{10, 1000, 5, 600},
				     {20, 3000, 0, 0},
				     {1, 100, 1, 100},
				     {2, 50, 2, 50},
				     {0, 0, -3, -300}};
	unsigned char *raw, *gz;
	size_t i, n;

	for (i = 0; i < 4; i++) {
		perftools__profiles__value_type__init(&vt[i]);
		vtp[i] = &vt[i];
	}
	/* alloc_objects/count, alloc_space/bytes, inuse_objects/count, inuse_space/bytes */
	vt[0].type = 1, vt[0].unit = 2;
	vt[1].type = 3, vt[1].unit = 4;
	vt[2].type = 5, vt[2].unit = 2;
	vt[3].type = 6, vt[3].unit = 4;
	for (i = 1; i < 8; i++) {
		perftools__profiles__function__init(&fn[i]);
		fn[i].id = i;
		fn[i].name = fn_name[i];
		fnp[i - 1] = &fn[i];
	}
	for (i = 0; i < 8; i++)
		perftools__profiles__line__init(&line[i]);
	line[0].function_id = 1; /* main */
	line[1].function_id = 2; /* site_a */
	line[2].function_id = 6; /* helper_inl, inlined into */
	line[3].function_id = 3; /* site_b */
	line[4].function_id = 4; /* operator new */
	line[5].function_id = 5; /* malloc */
	line[6].function_id = 7; /* strdup */
	l1[0] = &line[0];
	l2[0] = &line[1];
	l3[0] = &line[2];
	l3[1] = &line[3];
	l4[0] = &line[4];
	l5[0] = &line[5];
	l7[0] = &line[6];
	for (i = 0; i < 7; i++) {
		perftools__profiles__location__init(&loc[i]);
		loc[i].id = i + 1;
		loc[i].address = 0x1000 + 0x100 * i;
		locp[i] = &loc[i];
	}
	loc[0].n_line = 1, loc[0].line = l1;
	loc[1].n_line = 1, loc[1].line = l2;
	loc[2].n_line = 2, loc[2].line = l3;
	loc[3].n_line = 1, loc[3].line = l4;
	loc[4].n_line = 1, loc[4].line = l5;
	loc[5].address = 0x1234; /* no line: shown by address */
	loc[6].n_line = 1, loc[6].line = l7;
	for (i = 0; i < 5; i++) {
		perftools__profiles__sample__init(&smp[i]);
		smp[i].n_location_id = nids[i];
		smp[i].location_id = ids[i];
		smp[i].n_value = 4;
		smp[i].value = vals[i];
		smpp[i] = &smp[i];
	}
	p.n_sample_type = 4;
	p.sample_type = vtp;
	p.n_sample = 5;
	p.sample = smpp;
	p.n_location = 7;
	p.location = locp;
	p.n_function = 7;
	p.function = fnp;
	p.n_string_table = sizeof strs / sizeof strs[0];
	p.string_table = strs;
	p.period = 4096;
	n = perftools__profiles__profile__get_packed_size(&p);
	raw = malloc(n);
	perftools__profiles__profile__pack(&p, raw);
	gz = gzip_bytes(raw, n, len);
	free(raw);
	return gz;
}

/* flame_encode() of gz in an object, parsed; NULL when it failed. */
static cJSON *encode(const void *gz, size_t len, size_t nodes)
{
	struct obuf b;
	struct json j;
	cJSON *root;
	char *text;
	size_t n;

	obuf_init(&b, 1024);
	json_init(&j, &b);
	json_object(&j);
	if (flame_encode(gz, len, nodes, &j) != 0) {
		obuf_free(&b);
		return NULL;
	}
	json_end(&j);
	text = obuf_take(&b, &n);
	ck_assert_ptr_nonnull(text);
	root = cJSON_ParseWithLength(text, n);
	ck_assert_msg(root != NULL, "not JSON: %s", text);
	free(text);
	return root;
}

/* The path of frame i from the root ("root/main/site_a"), checking parents come first. */
static void path_of(const cJSON *frames, int i, char *out, size_t cap)
{
	const cJSON *f = cJSON_GetArrayItem(frames, i);
	int parent = cJSON_GetArrayItem(f, 1)->valueint;

	out[0] = '\0';
	if (parent >= 0) {
		ck_assert_int_lt(parent, i);
		path_of(frames, parent, out, cap);
		strncat(out, "/", cap - strlen(out) - 1);
	}
	strncat(out, cJSON_GetArrayItem(f, 0)->valuestring, cap - strlen(out) - 1);
}

/* The values of the frame at path, or fail. */
static void expect(const cJSON *root, const char *path, long long ao, long long as, long long io,
		   long long is)
{
	const cJSON *frames = cJSON_GetObjectItem(root, "Frames");
	char p[256];
	int i;

	for (i = 0; i < cJSON_GetArraySize(frames); i++) {
		const cJSON *f = cJSON_GetArrayItem(frames, i);

		path_of(frames, i, p, sizeof p);
		if (strcmp(p, path) != 0)
			continue;
		ck_assert_int_eq((long long)cJSON_GetArrayItem(f, 2)->valuedouble, ao);
		ck_assert_int_eq((long long)cJSON_GetArrayItem(f, 3)->valuedouble, as);
		ck_assert_int_eq((long long)cJSON_GetArrayItem(f, 4)->valuedouble, io);
		ck_assert_int_eq((long long)cJSON_GetArrayItem(f, 5)->valuedouble, is);
		return;
	}
	ck_abort_msg("no frame %s", path);
}

START_TEST(tree)
{
	size_t len;
	unsigned char *gz = test_profile(&len);
	cJSON *r = encode(gz, len, 3000);

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(cJSON_GetObjectItem(r, "Rate")->valueint, 4096);
	ck_assert_int_eq(cJSON_GetObjectItem(r, "TotalNodes")->valueint, 8);
	ck_assert_int_eq(cJSON_GetObjectItem(r, "Nodes")->valueint, 8);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r, "Frames")), 8);
	ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "Types"), 3)->valuestring,
			 "inuse_space");
	expect(r, "root", 33, 4150, 8, 750);
	expect(r, "root/main", 31, 4100, 6, 700);
	expect(r, "root/main/site_a", 10, 1000, 5, 600);
	/* the inlined frame below its caller; operator new and malloc dropped */
	expect(r, "root/main/site_b", 20, 3000, 0, 0);
	expect(r, "root/main/site_b/helper_inl", 20, 3000, 0, 0);
	expect(r, "root/main/0x1234", 1, 100, 1, 100);
	/* no program frame: nothing dropped, as pprof's Prune */
	expect(r, "root/strdup", 2, 50, 2, 50);
	expect(r, "root/strdup/malloc", 2, 50, 2, 50);
	cJSON_Delete(r);
	free(gz);
}
END_TEST

START_TEST(bounded)
{
	size_t len;
	unsigned char *gz = test_profile(&len);
	cJSON *r = encode(gz, len, 3), *frames;

	/* by the biggest share of any total: site_a has 600/750 of inuse_space */
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(cJSON_GetObjectItem(r, "Nodes")->valueint, 3);
	ck_assert_int_eq(cJSON_GetObjectItem(r, "TotalNodes")->valueint, 8);
	frames = cJSON_GetObjectItem(r, "Frames");
	ck_assert_int_eq(cJSON_GetArraySize(frames), 3);
	expect(r, "root/main/site_a", 10, 1000, 5, 600);
	/* what was cut still counts in its ancestors */
	expect(r, "root/main", 31, 4100, 6, 700);
	expect(r, "root", 33, 4150, 8, 750);
	cJSON_Delete(r);
	/* then site_b (3000/4150 of alloc_space) before its callee of the same size */
	r = encode(gz, len, 4);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r, "Frames")), 4);
	expect(r, "root/main/site_b", 20, 3000, 0, 0);
	cJSON_Delete(r);
	r = encode(gz, len, 1);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r, "Frames")), 1);
	expect(r, "root", 33, 4150, 8, 750);
	cJSON_Delete(r);
	free(gz);
}
END_TEST

START_TEST(bad_input)
{
	static const unsigned char junk[] = "not gzip at all";
	static const unsigned char notpb[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	size_t len, n;
	unsigned char *gz = test_profile(&len), *z;
	void *zeros;

	ck_assert_ptr_null(encode(junk, sizeof junk, 10));
	ck_assert_ptr_null(encode(gz, len / 2, 10)); /* truncated */
	z = gzip_bytes(notpb, sizeof notpb, &n);
	ck_assert_ptr_null(encode(z, n, 10));
	free(z);
	/* 65 MiB inflated: over the bound, refused without inflating it all */
	zeros = calloc(1, (size_t)65 << 20);
	z = gzip_bytes(zeros, (size_t)65 << 20, &n);
	free(zeros);
	ck_assert_ptr_null(encode(z, n, 10));
	free(z);
	free(gz);
}
END_TEST

int main(void)
{
	CHECK_RUN("flame", NULL, NULL, tree, bounded, bad_input);
}
