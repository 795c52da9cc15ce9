/*
 * webconfig.h: the web configuration file (--web-config), in the format of
 * the Prometheus exporter-toolkit that node_exporter and most exporters
 * read: TLS for the listener and bcrypt basic-auth users.
 *
 *   tls_server_config:
 *     cert_file: server.crt
 *     key_file: server.key
 *     client_auth_type: RequireAndVerifyClientCert   # optional
 *     client_ca_file: clients.crt                    # with the Verify types
 *     min_version: TLS12                             # optional
 *   basic_auth_users:
 *     alice: $2y$10$...                              # bcrypt, htpasswd -nBC 10
 *
 * Relative file names are relative to the web config file's directory, as
 * the exporter-toolkit has them.
 */
#ifndef GOMEMD_WEBCONFIG_H
#define GOMEMD_WEBCONFIG_H

#include <stddef.h>

/* exporter-toolkit's client_auth_type values, Go's tls.ClientAuthType. */
enum webconfig_client_auth {
	WEBCONFIG_NO_CLIENT_CERT,
	WEBCONFIG_REQUEST_CLIENT_CERT,
	WEBCONFIG_REQUIRE_ANY_CLIENT_CERT,
	WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN,
	WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT,
};

struct webconfig_user {
	char *name;
	char *hash; /* bcrypt: $2a$, $2b$ or $2y$, cost, 53 characters */
};

struct webconfig {
	char *cert_file, *key_file; /* both or neither; absolute */
	char *client_ca_file;	    /* NULL or absolute */
	enum webconfig_client_auth client_auth;
	int min_tls, max_tls; /* 10..13 (TLS10..TLS13), 0: unset */
	struct webconfig_user *users;
	size_t nusers;
};

/* The largest web config file read. */
#define WEBCONFIG_MAX_BYTES (64u << 10)

int webconfig_parse(const char *text, size_t len, const char *name, const char *basedir,
		    struct webconfig *wc, char *err, size_t errlen);
int webconfig_load(const char *path, struct webconfig *wc, char *err, size_t errlen);
void webconfig_free(struct webconfig *wc);
int webconfig_has_tls(const struct webconfig *wc);
int webconfig_has_auth(const struct webconfig *wc);
int webconfig_check_user(const struct webconfig *wc, const char *user, const char *password);
const char *webconfig_client_auth_name(enum webconfig_client_auth a);

#endif /* GOMEMD_WEBCONFIG_H */
