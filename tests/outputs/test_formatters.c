/*
 * test_formatters.c: unit tests of gomemd's output formatters against
 * synthetic snapshots: Go encoding/json floats and strings, the expvar
 * framing, Prometheus exposition, cgroup/unit parsing and the static file
 * resolver.  The expected strings were produced by Go 1.19's encoding/json.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/cgroup.h"
#include "base/obuf.h"
#include "base/utf8.h"
#include "encode/expvar.h"
#include "encode/json.h"
#include "encode/prom.h"
#include "http/static.h"

static char *
fmt_float(double f)
{
	struct obuf b;

	obuf_init(&b, 0);
	gojson_float(&b, f);
	return obuf_take(&b, NULL);
}

static char *
fmt_string(const char *s, size_t n)
{
	struct obuf b;

	obuf_init(&b, 0);
	gojson_string(&b, s, n);
	return obuf_take(&b, NULL);
}

/* A length that would wrap len + n + 1 marks the buffer bad, no overflow or hang. */
START_TEST(test_obuf_overflow)
{
	struct obuf b;

	obuf_init(&b, 0);
	obuf_adds(&b, "ab");
	obuf_add(&b, "x", (size_t)-1);
	ck_assert_int_eq(b.bad, 1);
	ck_assert_uint_eq(b.len, 2);
	obuf_add(&b, "x", (size_t)-3);
	ck_assert_ptr_null(obuf_take(&b, NULL));
}
END_TEST

START_TEST(test_go_float)
{
	static const struct {
		double f;
		const char *want;
	} cases[] = {
		{ 0, "0" },
		{ 1, "1" },
		{ -1, "-1" },
		{ 0.5, "0.5" },
		{ 5e-7, "5e-7" },
		{ 1e-6, "0.000001" },
		{ 9.99999e-7, "9.99999e-7" },
		{ 1e21, "1e+21" },
		{ 1e20, "100000000000000000000" },
		{ 0.1, "0.1" },
		{ 1.0 / 3, "0.3333333333333333" },
		{ 2.5e-10, "2.5e-10" },
		{ 1e-100, "1e-100" },
		{ 1.7976931348623157e308, "1.7976931348623157e+308" },
		{ 5e-324, "5e-324" },
		{ 12345.678, "12345.678" },
		{ 1e6, "1000000" },
		{ 0.000123, "0.000123" },
		{ 3.141592653589793, "3.141592653589793" },
		{ -2.5e-8, "-2.5e-8" },
		{ 0.0001234567890123, "0.0001234567890123" },
		{ 3e21, "3e+21" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = fmt_float(cases[i].f);

		ck_assert_str_eq(got, cases[i].want);
		free(got);
	}
}
END_TEST

START_TEST(test_go_string)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
		{ "plain", 0, "\"plain\"" },
		{ "a\"b\\c", 0, "\"a\\\"b\\\\c\"" },
		{ "<script>&amp;</script>", 0,
		  "\"\\u003cscript\\u003e\\u0026amp;\\u003c/script\\u003e\"" },
		{ "tab\there\nnl\rcr", 0, "\"tab\\there\\nnl\\rcr\"" },
		{ "\x00\x01\x08\x0c\x1f\x7f", 6, "\"\\u0000\\u0001\\u0008\\u000c\\u001f\x7f\"" },
		{ "\xe2\x80\xa8\xe2\x80\xa9", 0, "\"\\u2028\\u2029\"" },
		{ "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80", 0,
		  "\"h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80\"" },
		{ "\xff\xfe bad", 0, "\"\\ufffd\\ufffd bad\"" },
		{ "\xed\xa0\x80", 0, "\"\\ufffd\\ufffd\\ufffd\"" },
		{ "\xc0\xaf", 0, "\"\\ufffd\\ufffd\"" },
		{ "\xf4\x90\x80\x80", 0, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
		{ "\xe2\x82", 0, "\"\\ufffd\\ufffd\"" },
		{ "\xef\xbf\xbd", 0, "\"\xef\xbf\xbd\"" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = cases[i].len ? cases[i].len : strlen(cases[i].in);
		char *got = fmt_string(cases[i].in, n);

		ck_assert_str_eq(got, cases[i].want);
		free(got);
	}
}
END_TEST

START_TEST(test_cmdline)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
		{ "a\0b\0", 4, "[\"a\",\"b\"]" },
		{ "a\0\0b\0", 5, "[\"a\",\"\",\"b\"]" },
		{ "a b", 3, "[\"a b\"]" },
		{ "", 0, "[]" },
		{ "x<y\0", 4, "[\"x\\u003cy\"]" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct obuf b;
		char *got;

		obuf_init(&b, 0);
		gojson_cmdline(&b, cases[i].in, cases[i].len);
		got = obuf_take(&b, NULL);
		ck_assert_str_eq(got, cases[i].want);
		free(got);
	}
}
END_TEST

/* A snapshot with distinct, recognisable values. */
static void
synth(struct gomem_memstats *ms, unsigned long long base)
{
	int i;

	memset(ms, 0, sizeof *ms);
	ms->size = sizeof *ms;
	ms->version = GOMEM_MEMSTATS_VERSION;
	ms->Alloc = ms->HeapAlloc = base + 1000;
	ms->TotalAlloc = base + 5000;
	ms->Sys = base + 9000;
	ms->Mallocs = 70;
	ms->Frees = 30;
	ms->HeapObjects = 40;
	ms->LastGC = 1500000000ULL * 1000000000ULL + 250000000ULL;
	ms->GCCPUFraction = 5e-7;
	ms->EnableGC = 1;
	ms->PauseNs[255] = 42;
	for (i = 0; i < GOMEM_NUM_BYSIZE; i++) {
		ms->BySize[i].Size = (unsigned)i * 16;
		ms->BySize[i].Mallocs = (unsigned long long)i;
	}
	ms->ScavengeCPUNs = 1500000;
	ms->TimeNs = 1700000000ULL * 1000000000ULL;
	ms->Seq = 7;
}

START_TEST(test_expvar_shape)
{
	static const char *const order[] = {
#define K_(n, ...) #n,
#define K1_(n) #n,
		GOMEM_MEMSTATS_GO_FIELDS(K_, K1_, K1_, K_, K1_, K1_)
#undef K_
#undef K1_
	};
	struct gomem_memstats ms;
	const char *cmd = "/usr/bin/app\0-port=8080\0";
	char *body, *ms_json;
	size_t len;
	cJSON *root, *m, *it;
	int i;

	synth(&ms, 0);
	body = expvar_format(cmd, 24, NULL, 0, &ms, &len);
	ck_assert_ptr_nonnull(body);
	ck_assert_uint_eq(strlen(body), len);
	{
		static const char head[] =
			"{\n\"cmdline\": [\"/usr/bin/app\",\"-port=8080\"],\n\"memstats\": {\"Alloc\":1000,";

		ck_assert(strncmp(body, head, sizeof head - 1) == 0);
	}
	ck_assert_str_eq(body + len - 4, "}\n}\n");
	/* Exactly four newlines: the framing. */
	{
		int nl = 0;
		const char *q;

		for (q = body; *q != '\0'; q++)
			nl += *q == '\n';
		ck_assert_int_eq(nl, 4);
	}
	ck_assert_ptr_nonnull(strstr(body, "\"GCCPUFraction\":5e-7,\"EnableGC\":true,\"DebugGC\":false,"));
	ck_assert_ptr_nonnull(strstr(body, "\"BySize\":[{\"Size\":0,\"Mallocs\":0,\"Frees\":0},{\"Size\":16,"));

	/* The memstats value alone: parse and check order, lengths and types. */
	ms_json = strstr(body, "\"memstats\": ") + 12;
	root = cJSON_Parse(ms_json);
	ck_assert_ptr_nonnull(root);
	i = 0;
	cJSON_ArrayForEach(it, root)
	{
		ck_assert_int_lt(i, (int)(sizeof order / sizeof order[0]));
		ck_assert_str_eq(it->string, order[i]);
		i++;
	}
	ck_assert_int_eq(i, 32);
	m = cJSON_GetObjectItemCaseSensitive(root, "PauseNs");
	ck_assert_int_eq(cJSON_GetArraySize(m), 256);
	ck_assert_int_eq((int)cJSON_GetArrayItem(m, 255)->valuedouble, 42);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "PauseEnd")), 256);
	m = cJSON_GetObjectItemCaseSensitive(root, "BySize");
	ck_assert_int_eq(cJSON_GetArraySize(m), 61);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "EnableGC")));
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(root, "DebugGC")));
	cJSON_Delete(root);
	free(body);
}
END_TEST

/* The writer: nesting, commas, escaping, exact integers, a cached prefix. */
START_TEST(test_json_writer)
{
	struct gomem_memstats ms;
	struct obuf b, pre;
	struct json j, pj;
	cJSON *root, *x;
	char *text, *ptext;
	size_t len, plen;

	obuf_init(&b, 64);
	json_init(&j, &b);
	json_object(&j);
	json_kv_u64(&j, "Big", 18446744073709551615ull);
	json_key(&j, "List");
	json_array(&j);
	json_u64(&j, 1);
	json_object(&j);
	json_end(&j);
	json_array(&j);
	json_end(&j);
	json_null(&j);
	json_str(&j, "a\"<b>\xff", 6);
	json_end(&j);
	json_kv_bool(&j, "T", 1);
	json_key(&j, "F");
	json_f64(&j, 0.25);
	json_end(&j);
	text = obuf_take(&b, &len);
	ck_assert_str_eq(text, "{\"Big\":18446744073709551615,\"List\":[1,{},[],null,"
			       "\"a\\\"\\u003cb\\u003e\\ufffd\"],\"T\":true,\"F\":0.25}");
	root = cJSON_Parse(text); /* an independent parser agrees */
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "List")), 5);
	cJSON_Delete(root);
	free(text);

	/* A prefix rendered once, continued by another writer: the same bytes. */
	synth(&ms, 1ull << 60);
	obuf_init(&pre, 256);
	json_init(&pj, &pre);
	json_memstats_go(&pj, &ms, 0);
	json_key(&pj, "Extra");
	json_object(&pj);
	json_memstats_extra(&pj, &ms);
	ptext = obuf_take(&pre, &plen);
	obuf_init(&b, 256);
	json_init(&j, &b);
	json_array(&j);
	json_u64(&j, 7);
	json_raw_open(&j, ptext, plen, "}}");
	json_kv_u64(&j, "Added", 9);
	json_end(&j);
	json_end(&j);
	json_end(&j);
	text = obuf_take(&b, &len);
	root = cJSON_Parse(text);
	ck_assert_ptr_nonnull(root);
	x = cJSON_GetArrayItem(root, 1);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(x, "PauseNs")); /* compact */
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(x, "BySize"));
	ck_assert_ptr_nonnull(strstr(text, "\"HeapAlloc\":1152921504606847976,")); /* exact */
	x = cJSON_GetObjectItemCaseSensitive(x, "Extra");
	ck_assert_int_eq((int)cJSON_GetObjectItemCaseSensitive(x, "Seq")->valuedouble, 7);
	ck_assert_int_eq((int)cJSON_GetObjectItemCaseSensitive(x, "Added")->valuedouble, 9);
	ck_assert_int_eq((int)cJSON_GetObjectItemCaseSensitive(x, "StructVersion")->valuedouble,
			 GOMEM_MEMSTATS_VERSION);
	ck_assert_str_eq(text + len - 13, ",\"Added\":9}}]");
	cJSON_Delete(root);
	free(text);
	free(ptext);
}
END_TEST

/* Number of lines in text that start with prefix. */
static int
count_lines(const char *text, const char *prefix)
{
	const char *p = text;
	int n = 0;
	size_t k = strlen(prefix);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, prefix, k) == 0)
			n++;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return n;
}

START_TEST(test_prom)
{
	struct gomem_memstats a, b;
	struct prom_proc procs[3] = {
		{ 101, "app", "/usr/bin/app", "app.service", "/system.slice/app.service", &a, 0.25, 4096 },
		{ 202, "we\"ird\\na\nme", "/x", "", "/", &b, 1.5, 0 },
		{ 303, "nosnap", "", "", "", NULL, 0, 0 },
	};
	static struct prom_self self = {
		.events_received = 10, .dropped_ringbuf = 2, .dropped_rate = 3,
		.bpf_map_bytes = -1, .sse_clients = 1, .sse_dropped = 5,
	};
	char *out;
	size_t len;

	synth(&a, 0);
	synth(&b, 1000000);
	self.http_counts[200 - 100] = 7;
	self.http_counts[404 - 100] = 1;
	out = prom_format(procs, 3, &self, &len);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(count_lines(out, "# HELP go_memstats_heap_alloc_bytes "), 1);
	ck_assert_int_eq(count_lines(out, "# TYPE go_memstats_heap_alloc_bytes gauge"), 1);
	ck_assert_int_eq(count_lines(out, "# TYPE go_memstats_alloc_bytes_total counter"), 1);
	ck_assert_int_eq(count_lines(out, "go_memstats_heap_alloc_bytes{"), 2);
	ck_assert_ptr_nonnull(strstr(out, "go_memstats_heap_alloc_bytes{pid=\"101\",comm=\"app\"} 1000\n"));
	ck_assert_ptr_nonnull(strstr(
		out, "go_memstats_heap_alloc_bytes{pid=\"202\",comm=\"we\\\"ird\\\\na\\nme\"} 1001000\n"));
	ck_assert_ptr_nonnull(
		strstr(out, "go_memstats_last_gc_time_seconds{pid=\"101\",comm=\"app\"} 1500000000.25\n"));
	ck_assert_ptr_nonnull(strstr(out, "go_memstats_gc_cpu_fraction{pid=\"101\",comm=\"app\"} 5e-7\n"));
	ck_assert_ptr_nonnull(
		strstr(out, "gomem_scavenge_cpu_seconds_total{pid=\"101\",comm=\"app\"} 0.0015\n"));
	ck_assert_ptr_nonnull(strstr(out, "# TYPE gomem_snapshots_total counter\n"));
	ck_assert_ptr_nonnull(strstr(out, "gomemd_process_info{pid=\"101\",comm=\"app\",exe=\"/usr/bin/app\","
					  "unit=\"app.service\",cgroup=\"/system.slice/app.service\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(out, "gomemd_process_info{pid=\"303\","));
	ck_assert_ptr_null(strstr(out, "go_memstats_heap_alloc_bytes{pid=\"303\""));
	ck_assert_ptr_nonnull(strstr(out, "gomemd_watched_processes 3\n"));
	ck_assert_ptr_nonnull(strstr(out, "gomemd_http_requests_total{code=\"200\"} 7\n"));
	ck_assert_ptr_nonnull(strstr(out, "gomemd_http_requests_total{code=\"404\"} 1\n"));
	ck_assert_ptr_null(strstr(out, "gomemd_http_requests_total{code=\"500\"}"));
	ck_assert_ptr_null(strstr(out, "gomemd_bpf_map_bytes"));
	ck_assert_ptr_nonnull(strstr(out, "gomemd_events_dropped_total{reason=\"ringbuf\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(out, "gomemd_events_dropped_total{reason=\"rate\"} 3\n"));
	ck_assert_ptr_null(strstr(out, "PauseTotalNs"));
	ck_assert_int_eq(count_lines(out, "# HELP gomemd_process_resident_memory_bytes"), 1);
	free(out);

	/* No processes: HELP/TYPE only, still valid. */
	out = prom_format(NULL, 0, &self, &len);
	ck_assert_ptr_nonnull(strstr(out, "gomemd_watched_processes 0\n"));
	free(out);
}
END_TEST

START_TEST(test_cgroup)
{
	static const struct {
		const char *text, *path, *unit;
	} cases[] = {
		{ "0::/system.slice/foo.service\n", "/system.slice/foo.service", "foo.service" },
		{ "0::/user.slice/user-1000.slice/user@1000.service/app.slice/bar.service\n",
		  "/user.slice/user-1000.slice/user@1000.service/app.slice/bar.service", "bar.service" },
		{ "0::/user.slice/user-0.slice/session-3.scope\n", "/user.slice/user-0.slice/session-3.scope",
		  "session-3.scope" },
		{ "0::/\n", "/", "" },
		{ "0::/system.slice/docker-ab12.scope/inner\n", "/system.slice/docker-ab12.scope/inner",
		  "docker-ab12.scope" },
		{ "12:memory:/x\n1:name=systemd:/system.slice/old.service\n0::/\n", "/", "" },
		{ "12:memory:/x\n1:name=systemd:/system.slice/old.service\n", "/system.slice/old.service",
		  "old.service" },
		{ "0::/my.slice/notaservice\n", "/my.slice/notaservice", "" },
	};
	char path[256], unit[128];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_int_eq(cgroup_parse(cases[i].text, path, sizeof path), 0);
		ck_assert_str_eq(path, cases[i].path);
		cgroup_unit(path, unit, sizeof unit);
		ck_assert_str_eq(unit, cases[i].unit);
	}
	ck_assert_int_eq(cgroup_parse("", path, sizeof path), -1);
	ck_assert_int_eq(cgroup_read(getpid(), path, sizeof path, unit, sizeof unit), 0);
	ck_assert(path[0] == '/');
}
END_TEST

START_TEST(test_static)
{
	char dir[] = "/tmp/gomem-static-XXXXXX", p[PATH_MAX], got[PATH_MAX], want[PATH_MAX];
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(p, sizeof p, "%s/web", dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/web/index.html", dir);
	f = fopen(p, "w");
	fputs("<html></html>\n", f);
	fclose(f);
	snprintf(p, sizeof p, "%s/web/sub", dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/web/sub/app.js", dir);
	f = fopen(p, "w");
	fputs("1;\n", f);
	fclose(f);
	snprintf(p, sizeof p, "%s/secret", dir);
	f = fopen(p, "w");
	fputs("no\n", f);
	fclose(f);
	snprintf(p, sizeof p, "%s/web/escape", dir);
	ck_assert_int_eq(symlink("../secret", p), 0);
	snprintf(p, sizeof p, "%s/web/inside", dir);
	ck_assert_int_eq(symlink("sub/app.js", p), 0);

	snprintf(p, sizeof p, "%s/web", dir);
	snprintf(want, sizeof want, "%s/web/index.html", dir);
	ck_assert_int_eq(static_resolve(p, "/", got, sizeof got), 0);
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(static_resolve(p, "/index.html", got, sizeof got), 0);
	snprintf(want, sizeof want, "%s/web/sub/app.js", dir);
	ck_assert_int_eq(static_resolve(p, "/sub/app.js", got, sizeof got), 0);
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(static_resolve(p, "//sub//app.js", got, sizeof got), 0);
	ck_assert_int_eq(static_resolve(p, "/inside", got, sizeof got), 0);
	ck_assert_int_eq(static_resolve(p, "/../secret", got, sizeof got), -EACCES);
	ck_assert_int_eq(static_resolve(p, "/sub/../../secret", got, sizeof got), -EACCES);
	ck_assert_int_eq(static_resolve(p, "/sub/./app.js", got, sizeof got), -EACCES);
	ck_assert_int_eq(static_resolve(p, "/.hidden", got, sizeof got), -EACCES);
	ck_assert_int_eq(static_resolve(p, "/sub\\..\\..\\secret", got, sizeof got), -EACCES);
	ck_assert_int_eq(static_resolve(p, "/escape", got, sizeof got), -EACCES);
	ck_assert_int_eq(static_resolve(p, "relative", got, sizeof got), -EACCES);
	ck_assert_int_eq(static_resolve(p, "/missing.js", got, sizeof got), -ENOENT);
	ck_assert_int_eq(static_resolve(p, "/sub", got, sizeof got), -ENOENT);
	ck_assert_int_eq(static_resolve(p, "//etc/passwd", got, sizeof got), -ENOENT);

	ck_assert_str_eq(static_content_type("a/index.html"), "text/html; charset=utf-8");
	ck_assert_str_eq(static_content_type("x/uPlot.iife.min.js"), "text/javascript; charset=utf-8");
	ck_assert_str_eq(static_content_type("uPlot.min.css"), "text/css; charset=utf-8");
	ck_assert_str_eq(static_content_type("vendor/LICENSE"), "text/plain; charset=utf-8");
	ck_assert_str_eq(static_content_type("blob"), "application/octet-stream");

	snprintf(p, sizeof p, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(p), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("outputs");
	TCase *tc = tcase_create("formatters");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_obuf_overflow);
	tcase_add_test(tc, test_go_float);
	tcase_add_test(tc, test_go_string);
	tcase_add_test(tc, test_cmdline);
	tcase_add_test(tc, test_expvar_shape);
	tcase_add_test(tc, test_json_writer);
	tcase_add_test(tc, test_prom);
	tcase_add_test(tc, test_cgroup);
	tcase_add_test(tc, test_static);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
