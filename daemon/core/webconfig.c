/*
 * webconfig.c: reading the exporter-toolkit web config with libyaml and
 * checking basic-auth passwords with libxcrypt.
 *
 * The document is loaded whole (it is at most WEBCONFIG_MAX_BYTES) and
 * walked at the three levels the format has.  As the exporter-toolkit reads
 * it strictly, an unknown key is an error, and every error names the file,
 * line and column.  Nothing is kept from a file that fails: the caller's
 * struct is only filled on success.
 */
#include "config.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "webconfig.h"

struct ctx {
	yaml_document_t *doc;
	const char *name, *basedir;
	char *err;
	size_t errlen;
};

/* Format an error at a node's position; returns -1. */
static int __attribute__((format(printf, 3, 4)))
fail(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n != NULL)
		snprintf(c->err, c->errlen, "%s:%zu:%zu: %s", c->name, n->start_mark.line + 1,
			 n->start_mark.column + 1, msg);
	else
		snprintf(c->err, c->errlen, "%s: %s", c->name, msg);
	return -1;
}

/* A scalar's text (NUL-terminated by libyaml), or NULL after an error. */
static const char *scalar(struct ctx *c, const yaml_node_t *n, const char *what)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE) {
		fail(c, n, "%s must be a string", what);
		return NULL;
	}
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
		fail(c, n, "%s contains a NUL byte", what);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

/* Resolve a file name against the config's directory into *out (malloc'ed). */
static int file_name(struct ctx *c, const yaml_node_t *n, const char *what, char **out)
{
	const char *v = scalar(c, n, what);
	size_t need;

	if (v == NULL)
		return -1;
	if (v[0] == '\0')
		return fail(c, n, "%s is empty", what);
	need = strlen(v) + strlen(c->basedir) + 2;
	if (need > PATH_MAX)
		return fail(c, n, "%s is too long", what);
	*out = malloc(need);
	if (*out == NULL)
		return fail(c, n, "out of memory");
	if (v[0] == '/') {
		memcpy(*out, v, strlen(v) + 1);
	} else {
		size_t dl = strlen(c->basedir);

		memcpy(*out, c->basedir, dl);
		(*out)[dl] = '/';
		memcpy(*out + dl + 1, v, strlen(v) + 1);
	}
	return 0;
}

/* TLS10..TLS13 -> 10..13. */
static int tls_version(struct ctx *c, const yaml_node_t *n, const char *what, int *out)
{
	static const char *const names[] = {"TLS10", "TLS11", "TLS12", "TLS13"};
	const char *v = scalar(c, n, what);
	int i;

	if (v == NULL)
		return -1;
	for (i = 0; i < 4; i++)
		if (strcmp(v, names[i]) == 0) {
			*out = 10 + i;
			return 0;
		}
	return fail(c, n, "%s: \"%s\" is not one of TLS10, TLS11, TLS12, TLS13", what, v);
}

static const char *const auth_names[] = {
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
};

/* The exporter-toolkit name of a client_auth_type. */
const char *webconfig_client_auth_name(enum webconfig_client_auth a)
{
	return (unsigned)a < sizeof auth_names / sizeof auth_names[0] ? auth_names[a] : "?";
}

/* tls_server_config: a mapping. */
static int parse_tls(struct ctx *c, const yaml_node_t *map, struct webconfig *wc)
{
	yaml_node_pair_t *p;
	const yaml_node_t *cert = NULL;

	if (map->type != YAML_MAPPING_NODE)
		return fail(c, map, "tls_server_config must be a mapping");
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		const char *key = scalar(c, k, "a key");
		char **slot = NULL;
		size_t i;

		if (key == NULL)
			return -1;
		if (strcmp(key, "cert_file") == 0) {
			slot = &wc->cert_file;
			cert = k;
		} else if (strcmp(key, "key_file") == 0) {
			slot = &wc->key_file;
		} else if (strcmp(key, "client_ca_file") == 0) {
			slot = &wc->client_ca_file;
		} else if (strcmp(key, "client_auth_type") == 0) {
			const char *s = scalar(c, v, key);

			if (s == NULL)
				return -1;
			for (i = 0; i < sizeof auth_names / sizeof auth_names[0]; i++)
				if (strcmp(s, auth_names[i]) == 0)
					break;
			if (i == sizeof auth_names / sizeof auth_names[0])
				return fail(c, v, "client_auth_type: unknown \"%s\"", s);
			wc->client_auth = (enum webconfig_client_auth)i;
			continue;
		} else if (strcmp(key, "min_version") == 0) {
			if (tls_version(c, v, key, &wc->min_tls) != 0)
				return -1;
			continue;
		} else if (strcmp(key, "max_version") == 0) {
			if (tls_version(c, v, key, &wc->max_tls) != 0)
				return -1;
			continue;
		} else {
			return fail(c, k,
				    "tls_server_config: unknown or unsupported key \"%s\" (gomemd "
				    "reads cert_file, key_file, client_ca_file, client_auth_type, "
				    "min_version, max_version)",
				    key);
		}
		if (*slot != NULL)
			return fail(c, k, "%s given twice", key);
		if (file_name(c, v, key, slot) != 0)
			return -1;
	}
	if ((wc->cert_file == NULL) != (wc->key_file == NULL))
		return fail(c, cert != NULL ? cert : map,
			    "tls_server_config needs both cert_file and key_file");
	if (wc->cert_file == NULL)
		return fail(c, map, "tls_server_config without cert_file and key_file");
	if ((wc->client_auth == WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN ||
	     wc->client_auth == WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT) &&
	    wc->client_ca_file == NULL)
		return fail(c, map, "client_auth_type %s needs client_ca_file",
			    auth_names[wc->client_auth]);
	if (wc->client_ca_file != NULL && wc->client_auth == WEBCONFIG_NO_CLIENT_CERT)
		wc->client_auth =
		    WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT; /* as exporter-toolkit */
	if (wc->min_tls && wc->max_tls && wc->min_tls > wc->max_tls)
		return fail(c, map, "min_version is above max_version");
	return 0;
}

/* Whether s is a bcrypt hash libxcrypt accepts as a setting. */
static int is_bcrypt(const char *s)
{
	if (strlen(s) != 60 || s[0] != '$' || s[1] != '2' ||
	    (s[2] != 'a' && s[2] != 'b' && s[2] != 'y') || s[3] != '$')
		return 0;
	return crypt_checksalt(s) == CRYPT_SALT_OK;
}

/* basic_auth_users: a mapping of user name to bcrypt hash. */
static int parse_users(struct ctx *c, const yaml_node_t *map, struct webconfig *wc)
{
	yaml_node_pair_t *p;
	size_t n, i;

	if (map->type != YAML_MAPPING_NODE)
		return fail(c, map, "basic_auth_users must be a mapping of user: bcrypt hash");
	n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	wc->users = calloc(n ? n : 1, sizeof *wc->users);
	if (wc->users == NULL)
		return fail(c, map, "out of memory");
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		const char *user = scalar(c, k, "a user name");
		const char *hash;

		if (user == NULL)
			return -1;
		if (user[0] == '\0' || strchr(user, ':') != NULL)
			return fail(c, k, "user name \"%s\": empty or with a ':'", user);
		hash = scalar(c, v, "a password hash");
		if (hash == NULL)
			return -1;
		if (!is_bcrypt(hash))
			return fail(c, v,
				    "user %s: not a bcrypt hash ($2y$, cost, 53 characters; make "
				    "one with htpasswd -nBC 10 %s)",
				    user, user);
		for (i = 0; i < wc->nusers; i++)
			if (strcmp(wc->users[i].name, user) == 0)
				return fail(c, k, "user %s given twice", user);
		wc->users[wc->nusers].name = strdup(user);
		wc->users[wc->nusers].hash = strdup(hash);
		if (wc->users[wc->nusers].name == NULL || wc->users[wc->nusers].hash == NULL) {
			free(wc->users[wc->nusers].name);
			free(wc->users[wc->nusers].hash);
			return fail(c, k, "out of memory");
		}
		wc->nusers++;
	}
	return 0;
}

/*
 * Parse a web config held in text[0..len).  name labels errors; basedir
 * resolves relative file names.  0 and *wc filled, or -1 with err and *wc
 * untouched.
 */
int webconfig_parse(const char *text, size_t len, const char *name, const char *basedir,
		    struct webconfig *wc, char *err, size_t errlen)
{
	struct ctx c = {NULL, name, basedir, err, errlen};
	struct webconfig n;
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	yaml_node_pair_t *p;
	int rc = -1, seen_tls = 0, seen_users = 0;

	memset(&n, 0, sizeof n);
	if (len > WEBCONFIG_MAX_BYTES)
		return fail(&c, NULL, "larger than %u bytes", WEBCONFIG_MAX_BYTES);
	if (!yaml_parser_initialize(&parser))
		return fail(&c, NULL, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "%s:%zu:%zu: %s%s%s", name, parser.problem_mark.line + 1,
			 parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "bad YAML", parser.context ? " " : "",
			 parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return -1;
	}
	c.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root == NULL) { /* empty file: no TLS, no users; valid as for the toolkit */
		rc = 0;
		goto out;
	}
	if (root->type != YAML_MAPPING_NODE) {
		fail(&c, root, "the top level must be a mapping");
		goto out;
	}
	for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&doc, p->value);
		const char *key = scalar(&c, k, "a key");

		if (key == NULL)
			goto out;
		if (strcmp(key, "tls_server_config") == 0 && !seen_tls++) {
			if (parse_tls(&c, v, &n) != 0)
				goto out;
		} else if (strcmp(key, "basic_auth_users") == 0 && !seen_users++) {
			if (parse_users(&c, v, &n) != 0)
				goto out;
		} else if (strcmp(key, "tls_server_config") == 0 ||
			   strcmp(key, "basic_auth_users") == 0) {
			fail(&c, k, "%s given twice", key);
			goto out;
		} else {
			fail(&c, k,
			     "unknown or unsupported key \"%s\" (gomemd reads tls_server_config "
			     "and basic_auth_users)",
			     key);
			goto out;
		}
	}
	rc = 0;
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (rc == 0)
		*wc = n;
	else
		webconfig_free(&n);
	return rc;
}

/* Read and parse a web config file (at most WEBCONFIG_MAX_BYTES). */
int webconfig_load(const char *path, struct webconfig *wc, char *err, size_t errlen)
{
	char *buf, *dir, *slash;
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_size > (off_t)WEBCONFIG_MAX_BYTES) {
		snprintf(err, errlen, "%s: larger than %u bytes", path, WEBCONFIG_MAX_BYTES);
		close(fd);
		return -1;
	}
	buf = malloc(WEBCONFIG_MAX_BYTES + 1);
	if (buf == NULL) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	while (got <= WEBCONFIG_MAX_BYTES &&
	       (n = read(fd, buf + got, WEBCONFIG_MAX_BYTES + 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (got > WEBCONFIG_MAX_BYTES) {
		free(buf);
		snprintf(err, errlen, "%s: larger than %u bytes", path, WEBCONFIG_MAX_BYTES);
		return -1;
	}
	dir = strdup(path);
	if (dir == NULL) {
		free(buf);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	rc = webconfig_parse(buf, got, path, dir, wc, err, errlen);
	free(dir);
	free(buf);
	return rc;
}

/* Free what a web config owns. */
void webconfig_free(struct webconfig *wc)
{
	size_t i;

	free(wc->cert_file);
	free(wc->key_file);
	free(wc->client_ca_file);
	for (i = 0; i < wc->nusers; i++) {
		free(wc->users[i].name);
		free(wc->users[i].hash);
	}
	free(wc->users);
	memset(wc, 0, sizeof *wc);
}

/* Whether the listener is to use TLS. */
int webconfig_has_tls(const struct webconfig *wc)
{
	return wc->cert_file != NULL;
}

/* Whether basic auth is configured. */
int webconfig_has_auth(const struct webconfig *wc)
{
	return wc->nusers > 0;
}

/*
 * Whether user and password match a configured user: 1 yes, 0 no.  For an
 * unknown user the password is still hashed, against the first user's hash
 * (same cost), so the time taken does not tell which user names exist.
 */
int webconfig_check_user(const struct webconfig *wc, const char *user, const char *password)
{
	struct crypt_data *cd;
	const char *hash = NULL, *out;
	size_t i, hl;
	unsigned char diff = 0;
	int ok;

	if (wc->nusers == 0)
		return 0;
	for (i = 0; i < wc->nusers; i++)
		if (strcmp(wc->users[i].name, user) == 0)
			hash = wc->users[i].hash;
	cd = calloc(1, sizeof *cd); /* 32 KiB: not on a server thread's stack */
	if (cd == NULL)
		return 0;
	out = crypt_r(password, hash != NULL ? hash : wc->users[0].hash, cd);
	ok = out != NULL && out[0] != '*';
	if (ok) {
		const char *h = hash != NULL ? hash : wc->users[0].hash;

		hl = strlen(h);
		ok = strlen(out) == hl;
		for (i = 0; ok && i < hl; i++)
			diff |= (unsigned char)(out[i] ^ h[i]);
	}
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return ok && diff == 0 && hash != NULL;
}
