/*
 * check_webconfig.c: unit tests of daemon/core/webconfig.c, the reader of
 * the Prometheus exporter-toolkit web config.
 *
 * Expectations: the exporter-toolkit's documented format and strictness
 * (unknown keys are errors), error positions counted by hand in the test
 * documents, and the bcrypt test vector of OpenBSD's and Openwall's
 * crypt_blowfish ("U*U" with salt $2a$05$CCC...).
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_run.h"
#include "core/webconfig.h"

#define VECTOR	     "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW" /* "U*U" */
#define VECTOR_EMPTY "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy" /* "" */

static int parse(const char *text, struct webconfig *wc, char *err, size_t errlen)
{
	return webconfig_parse(text, strlen(text), "web.yml", "/etc/gomemd", wc, err, errlen);
}

/* Assert that text fails with an error starting with prefix and containing what. */
static void assert_fails(const char *text, const char *prefix, const char *what)
{
	struct webconfig wc;
	char err[512];

	memset(&wc, 0x5a, sizeof wc);
	ck_assert_int_eq(parse(text, &wc, err, sizeof err), -1);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "error \"%s\", want prefix \"%s\"",
		      err, prefix);
	ck_assert_msg(strstr(err, what) != NULL, "error \"%s\" lacks \"%s\"", err, what);
	ck_assert_int_eq(((unsigned char *)&wc)[0], 0x5a); /* untouched */
}

START_TEST(test_full)
{
	struct webconfig wc;
	char err[512];

	ck_assert_int_eq(parse("# gomemd\n"
			       "tls_server_config:\n"
			       "  cert_file: server.crt\n"
			       "  key_file: /etc/ssl/private/server.key\n"
			       "  client_auth_type: VerifyClientCertIfGiven\n"
			       "  client_ca_file: \"ca/clients.pem\"\n"
			       "  min_version: TLS12\n"
			       "basic_auth_users:\n"
			       "  alice: " VECTOR "\n"
			       "  'bob': '" VECTOR_EMPTY "'\n",
			       &wc, err, sizeof err),
			 0);
	ck_assert_str_eq(wc.cert_file, "/etc/gomemd/server.crt");
	ck_assert_str_eq(wc.key_file, "/etc/ssl/private/server.key");
	ck_assert_str_eq(wc.client_ca_file, "/etc/gomemd/ca/clients.pem");
	ck_assert_int_eq(wc.client_auth, WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN);
	ck_assert_str_eq(webconfig_client_auth_name(wc.client_auth), "VerifyClientCertIfGiven");
	ck_assert_int_eq(wc.min_tls, 12);
	ck_assert_int_eq(wc.max_tls, 0);
	ck_assert_uint_eq(wc.nusers, 2);
	ck_assert(webconfig_has_tls(&wc));
	ck_assert(webconfig_has_auth(&wc));
	ck_assert_int_eq(webconfig_check_user(&wc, "alice", "U*U"), 1);
	ck_assert_int_eq(webconfig_check_user(&wc, "alice", "U*V"), 0);
	ck_assert_int_eq(webconfig_check_user(&wc, "alice", ""), 0);
	ck_assert_int_eq(webconfig_check_user(&wc, "bob", ""), 1);
	ck_assert_int_eq(webconfig_check_user(&wc, "bob", "U*U"), 0);
	ck_assert_int_eq(webconfig_check_user(&wc, "carol", "U*U"), 0); /* unknown user */
	ck_assert_int_eq(webconfig_check_user(&wc, "Alice", "U*U"), 0); /* names are exact */
	webconfig_free(&wc);
}
END_TEST

START_TEST(test_minimal_forms)
{
	struct webconfig wc;
	char err[512];

	/* an empty file and an empty mapping are valid: no TLS, no users */
	ck_assert_int_eq(parse("", &wc, err, sizeof err), 0);
	ck_assert(!webconfig_has_tls(&wc) && !webconfig_has_auth(&wc));
	ck_assert_int_eq(webconfig_check_user(&wc, "alice", "U*U"), 0);
	webconfig_free(&wc);
	ck_assert_int_eq(parse("{}\n", &wc, err, sizeof err), 0);
	webconfig_free(&wc);
	/* users only, flow style */
	ck_assert_int_eq(parse("basic_auth_users: {alice: '" VECTOR "'}\n", &wc, err, sizeof err),
			 0);
	ck_assert(!webconfig_has_tls(&wc) && webconfig_has_auth(&wc));
	webconfig_free(&wc);
	/* a CA without a type means RequireAndVerifyClientCert, as the toolkit does */
	ck_assert_int_eq(parse("tls_server_config:\n  cert_file: a\n  key_file: b\n"
			       "  client_ca_file: c\n",
			       &wc, err, sizeof err),
			 0);
	ck_assert_int_eq(wc.client_auth, WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT);
	webconfig_free(&wc);
}
END_TEST

START_TEST(test_errors_name_the_line)
{
	assert_fails("tls_server_config:\n  cert_file: a\n  key_file: b\nhttp_server_config:\n"
		     "  http2: false\n",
		     "web.yml:4:1: ", "unknown or unsupported key \"http_server_config\"");
	assert_fails("tls_server_config:\n  cert_file: a\n  keyfile: b\n",
		     "web.yml:3:3: ", "\"keyfile\"");
	assert_fails("tls_server_config:\n  cert_file: a\n",
		     "web.yml:2:3: ", "both cert_file and key_file");
	assert_fails("tls_server_config:\n  cert_file: a\n  key_file: b\n"
		     "  client_auth_type: RequireAndVerifyClientCert\n",
		     "web.yml:2:3: ", "needs client_ca_file");
	assert_fails("tls_server_config:\n  cert_file: a\n  key_file: b\n"
		     "  client_auth_type: Sometimes\n",
		     "web.yml:4:21: ", "unknown \"Sometimes\"");
	assert_fails("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: SSL3\n",
		     "web.yml:4:16: ", "TLS10, TLS11, TLS12, TLS13");
	assert_fails("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n"
		     "  max_version: TLS12\n",
		     "web.yml:2:3: ", "min_version is above max_version");
	assert_fails("basic_auth_users:\n  alice: secret\n", "web.yml:2:10: ", "not a bcrypt hash");
	assert_fails("basic_auth_users:\n  alice: $1$abc$0123456789012345678901\n",
		     "web.yml:2:10: ", "not a bcrypt hash");
	assert_fails("basic_auth_users:\n  alice: " VECTOR "\n  alice: " VECTOR "\n",
		     "web.yml:3:3: ", "user alice given twice");
	assert_fails("basic_auth_users:\n  'a:b': " VECTOR "\n", "web.yml:2:3: ", "with a ':'");
	assert_fails("basic_auth_users:\n  - alice\n", "web.yml:2:3: ", "must be a mapping");
	assert_fails("tls_server_config: yes\n", "web.yml:1:20: ", "must be a mapping");
	assert_fails("- a\n- b\n", "web.yml:1:1: ", "top level must be a mapping");
	assert_fails("tls_server_config:\n  cert_file: [a]\n",
		     "web.yml:2:14: ", "must be a string");
	assert_fails("tls_server_config:\n  cert_file: \"\"\n  key_file: b\n",
		     "web.yml:2:14: ", "is empty");
	assert_fails("basic_auth_users:\n  alice: \"x\\0y\"\n", "web.yml:2:10: ", "NUL byte");
	/* YAML syntax errors carry libyaml's position */
	assert_fails("tls_server_config:\n  cert_file: a\n key_file: b\n", "web.yml:3:", "");
	assert_fails("basic_auth_users: {alice: 'x'\n", "web.yml:2:", "");
	assert_fails("tls_server_config:\n\tcert_file: a\n", "web.yml:2:", "");
}
END_TEST

START_TEST(test_load_file)
{
	char dir[] = "/tmp/check_webconfig.XXXXXX", path[256], fifo[256], big[256], err[512];
	struct webconfig wc;
	FILE *f;
	int i;

	alarm(10);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/web.yml", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n"
		"basic_auth_users:\n  alice: %s\n",
		VECTOR);
	fclose(f);
	ck_assert_int_eq(webconfig_load(path, &wc, err, sizeof err), 0);
	snprintf(big, sizeof big, "%s/s.crt", dir);
	ck_assert_str_eq(wc.cert_file, big);
	webconfig_free(&wc);

	/* a FIFO is refused at once, not waited on */
	snprintf(fifo, sizeof fifo, "%s/fifo.yml", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(webconfig_load(fifo, &wc, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "not a regular file") != NULL, "%s", err);

	/* too large */
	snprintf(big, sizeof big, "%s/big.yml", dir);
	f = fopen(big, "w");
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < 70000; i++)
		fputs("#\n", f);
	fclose(f);
	ck_assert_int_eq(webconfig_load(big, &wc, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "larger than") != NULL, "%s", err);

	/* missing */
	ck_assert_int_eq(webconfig_load("/nonexistent/web.yml", &wc, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "No such file") != NULL, "%s", err);
	unlink(path);
	unlink(fifo);
	unlink(big);
	rmdir(dir);
	alarm(0);
}
END_TEST

START_TEST(test_installed_example)
{
	const char *srcdir = getenv("srcdir");
	struct webconfig wc;
	char path[4096], err[512];

	snprintf(path, sizeof path, "%s/../../daemon/web-config.yml.example",
		 srcdir != NULL ? srcdir : ".");
	ck_assert_msg(webconfig_load(path, &wc, err, sizeof err) == 0, "%s", err);
	ck_assert(webconfig_has_tls(&wc) && webconfig_has_auth(&wc));
	ck_assert_int_eq(webconfig_check_user(&wc, "prometheus", "U*U"), 1);
	webconfig_free(&wc);
}
END_TEST

int main(void)
{
	CHECK_RUN("webconfig", NULL, NULL, test_full, test_minimal_forms, test_errors_name_the_line,
		  test_load_file, test_installed_example);
}
