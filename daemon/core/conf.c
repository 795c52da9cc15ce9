/*
 * conf.c: gomemd's configuration.  Defaults, then the config file
 * (`key = value` lines, `#` comments, the same keys as the long options
 * without dashes, `library` repeatable), then the command line; a library
 * list on the command line replaces the file's.  SIGHUP builds a new
 * configuration the same way and main.c applies the difference.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "base/xmalloc.h"
#include "core/conf.h"

#ifndef GOMEM_DEFAULT_LIBRARY
#define GOMEM_DEFAULT_LIBRARY "/usr/local/lib/libgomem.so.0"
#endif

enum {
	OPT_HISTORY = 256,
	OPT_HISTORY_INTERVAL,
	OPT_MAX_CONN,
	OPT_PER_IP,
	OPT_TIMEOUT,
	OPT_THREADS,
	OPT_VERSION,
	OPT_PROFILE,
	OPT_NO_PROFILE,
	OPT_STATE_DIR,
	OPT_SOCKET,
	OPT_SOCKET_MODE,
	OPT_SOCKET_CONN,
	OPT_WEB_CONFIG,
	OPT_ALLOW_HOST,
	OPT_HEADER_TIMEOUT,
	OPT_HASH_PASSWORD, /* handled by main() before the configuration */
};

static const struct option long_opts[] = {
    {"listen", required_argument, NULL, 'l'},
    {"library", required_argument, NULL, 'L'},
    {"config", required_argument, NULL, 'c'},
    {"grace", required_argument, NULL, 'g'},
    {"verbose", no_argument, NULL, 'v'},
    {"foreground", no_argument, NULL, 'f'},
    {"history", required_argument, NULL, OPT_HISTORY},
    {"history-interval", required_argument, NULL, OPT_HISTORY_INTERVAL},
    {"max-connections", required_argument, NULL, OPT_MAX_CONN},
    {"per-ip-limit", required_argument, NULL, OPT_PER_IP},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"profile", no_argument, NULL, OPT_PROFILE},
    {"no-profile", no_argument, NULL, OPT_NO_PROFILE},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"socket-mode", required_argument, NULL, OPT_SOCKET_MODE},
    {"socket-connections", required_argument, NULL, OPT_SOCKET_CONN},
    {"web-config", required_argument, NULL, OPT_WEB_CONFIG},
    {"allow-host", required_argument, NULL, OPT_ALLOW_HOST},
    {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
    {"hash-password", no_argument, NULL, OPT_HASH_PASSWORD},
    {NULL, 0, NULL, 0},
};

/* Print the usage text. */
void conf_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: gomemd [options]\n"
	    "  -l, --listen ADDR:PORT     HTTP address (default 127.0.0.1:6060)\n"
	    "  -L, --library PATH         libgomem to attach to for all processes (repeatable;\n"
	    "                             default " GOMEM_DEFAULT_LIBRARY ")\n"
	    "  -c, --config FILE          read `key = value` settings (same keys as the options)\n"
	    "  -g, --grace SECONDS        keep exited processes this long (default 30)\n"
	    "  -v, --verbose              debug logging\n"
	    "  -f, --foreground           accepted for compatibility; gomemd never forks\n"
	    "      --history N            history points per process (default 900)\n"
	    "      --history-interval MS  at most one history point per MS (default 1000)\n"
	    "      --max-connections N    HTTP connection limit (default 256)\n"
	    "      --per-ip-limit N       HTTP connections per client address (default 64; a\n"
	    "                             quarter per user for clients on this host)\n"
	    "      --timeout SECONDS      idle HTTP connection timeout (default 10)\n"
	    "      --threads N            HTTP threads (default 2)\n"
	    "      --no-profile           do not read the processes' heap profiles (default: read\n"
	    "                             each one every history interval; --profile: on)\n"
	    "      --state-dir DIR        keep ended processes' last profile and MemStats here\n"
	    "                             (default /var/lib/gomemd; \"\" for none; config keys\n"
	    "                             state_max_count, state_max_bytes, state_max_age)\n"
	    "      --socket PATH          unix socket (default " GOMEMD_DEFAULT_SOCKET
	    "; \"\" none)\n"
	    "      --socket-mode MODE     its permissions (default 0660, group gomem)\n"
	    "      --socket-connections N its own connection budget (default 32)\n"
	    "      --web-config FILE      TLS and basic-auth users (Prometheus exporter-toolkit)\n"
	    "      --allow-host NAME      a Host name beyond loopback to answer (repeatable)\n"
	    "      --header-timeout SECS  deadline for a whole request, header and body (default 5)\n"
	    "      --hash-password        print the bcrypt hash of a password read from stdin\n");
}

/* Set the defaults. */
static void conf_defaults(struct gomemd_config *c)
{
	memset(c, 0, sizeof *c);
	c->listen = xstrdup("127.0.0.1:6060");
	c->grace_s = 30;
	c->history_len = 900;
	c->history_interval_ms = 1000;
	c->max_connections = 256;
	c->per_ip_limit = 64;
	c->conn_timeout_s = 10;
	c->http_threads = 2;
	c->profile = 1;
	c->state_dir = xstrdup("/var/lib/gomemd");
	c->state_max_count = 100;
	c->state_max_bytes = 256ull << 20;
	c->state_max_age_s = 7 * 86400;
	c->socket = xstrdup(GOMEMD_DEFAULT_SOCKET);
	c->socket_mode = 0660;
	c->socket_connections = 32;
	c->header_timeout_s = 5;
}

/* Free what a configuration owns. */
void conf_free(struct gomemd_config *c)
{
	int i;

	free(c->listen);
	free(c->config_file);
	free(c->state_dir);
	free(c->socket);
	free(c->web_config);
	for (i = 0; i < c->nlibraries; i++)
		free(c->libraries[i]);
	for (i = 0; i < c->nallow_hosts; i++)
		free(c->allow_hosts[i]);
	memset(c, 0, sizeof *c);
}

/* Split "ADDR:PORT" (or "[V6]:PORT"); 0 on success. */
int conf_split_listen(const char *s, char *addr, size_t addrlen, unsigned *port)
{
	const char *colon, *a = s;
	size_t alen;
	char *end;
	unsigned long p;

	colon = strrchr(s, ':');
	if (colon == NULL || colon == s)
		return -1;
	alen = (size_t)(colon - s);
	if (s[0] == '[') {
		if (colon[-1] != ']')
			return -1;
		a = s + 1;
		alen -= 2;
	}
	if (alen == 0 || alen >= addrlen)
		return -1;
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p > 65535)
		return -1;
	*port = (unsigned)p;
	return 0;
}

/* Parse an unsigned number within [lo, hi]. */
static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Add a library path, made absolute. */
static int add_library(struct gomemd_config *c, const char *path, char *err, size_t errlen)
{
	char buf[PATH_MAX];

	if (c->nlibraries == GOMEMD_MAX_LIBS) {
		snprintf(err, errlen, "too many libraries (at most %d)", GOMEMD_MAX_LIBS);
		return -1;
	}
	if (realpath(path, buf) == NULL) {
		if (path[0] != '/') {
			snprintf(err, errlen, "library %s: %s", path, strerror(errno));
			return -1;
		}
		snprintf(buf, sizeof buf, "%s", path); /* attach.c warns if still missing */
	}
	c->libraries[c->nlibraries++] = xstrdup(buf);
	return 0;
}

/* Whether key is name, a '_' standing for a '-'. */
static int key_is(const char *key, const char *name)
{
	for (; *key != '\0' && *name != '\0'; key++, name++)
		if (*key != *name && !(*key == '_' && *name == '-'))
			return 0;
	return *key == *name;
}

/* Apply one setting; `from` names its origin for messages. */
static int conf_set(struct gomemd_config *c, const char *key, const char *val, const char *from,
		    char *err, size_t errlen)
{
	char addr[256];
	unsigned u;

	if (strcmp(key, "listen") == 0) {
		if (conf_split_listen(val, addr, sizeof addr, &u) != 0)
			goto bad;
		free(c->listen);
		c->listen = xstrdup(val);
	} else if (strcmp(key, "library") == 0) {
		return add_library(c, val, err, errlen);
	} else if (strcmp(key, "grace") == 0) {
		if (parse_uint(val, 0, 86400, &c->grace_s) != 0)
			goto bad;
	} else if (strcmp(key, "verbose") == 0) {
		if (parse_uint(val, 0, 9, &u) != 0) {
			if (strcmp(val, "yes") && strcmp(val, "true"))
				goto bad;
			u = 1;
		}
		c->verbose = (int)u;
	} else if (strcmp(key, "foreground") == 0) {
		/* accepted for compatibility: gomemd never forks */
	} else if (strcmp(key, "history") == 0) {
		if (parse_uint(val, 2, 1000000, &c->history_len) != 0)
			goto bad;
	} else if (strcmp(key, "history-interval") == 0 || strcmp(key, "history_interval") == 0) {
		if (parse_uint(val, 10, 3600000, &c->history_interval_ms) != 0)
			goto bad;
	} else if (strcmp(key, "max-connections") == 0 || strcmp(key, "max_connections") == 0) {
		if (parse_uint(val, 1, 65536, &c->max_connections) != 0)
			goto bad;
	} else if (strcmp(key, "per-ip-limit") == 0 || strcmp(key, "per_ip_limit") == 0) {
		if (parse_uint(val, 0, 65536, &c->per_ip_limit) != 0)
			goto bad;
	} else if (strcmp(key, "timeout") == 0) {
		if (parse_uint(val, 0, 3600, &c->conn_timeout_s) != 0)
			goto bad;
	} else if (strcmp(key, "profile") == 0) {
		if (strcmp(val, "on") == 0 || strcmp(val, "1") == 0 || strcmp(val, "yes") == 0 ||
		    strcmp(val, "true") == 0)
			c->profile = 1;
		else if (strcmp(val, "off") == 0 || strcmp(val, "0") == 0 ||
			 strcmp(val, "no") == 0 || strcmp(val, "false") == 0)
			c->profile = 0;
		else
			goto bad;
	} else if (strcmp(key, "state_dir") == 0 || strcmp(key, "state-dir") == 0) {
		if (val[0] != 0 && val[0] != '/')
			goto bad;
		free(c->state_dir);
		c->state_dir = xstrdup(val);
	} else if (strcmp(key, "state_max_count") == 0) {
		if (parse_uint(val, 0, 1000000, &c->state_max_count) != 0)
			goto bad;
	} else if (strcmp(key, "state_max_bytes") == 0) {
		char *end;

		errno = 0;
		c->state_max_bytes = strtoull(val, &end, 10);
		if (errno != 0 || end == val || *end != 0)
			goto bad;
	} else if (strcmp(key, "state_max_age") == 0) {
		if (parse_uint(val, 0, 100u * 365 * 86400, &c->state_max_age_s) != 0)
			goto bad;
	} else if (key_is(key, "socket")) {
		if (val[0] != '\0' && val[0] != '/')
			goto bad;
		free(c->socket);
		c->socket = xstrdup(val);
		c->socket_explicit = 1;
	} else if (key_is(key, "socket-mode")) {
		char *end;
		unsigned long m = strtoul(val, &end, 8);

		if (val[0] == '\0' || *end != '\0' || m > 0777)
			goto bad;
		c->socket_mode = (unsigned)m;
	} else if (key_is(key, "socket-connections")) {
		if (parse_uint(val, 1, 1024, &c->socket_connections) != 0)
			goto bad;
	} else if (key_is(key, "web-config")) {
		if (val[0] == '\0')
			goto bad;
		free(c->web_config);
		c->web_config = xstrdup(val);
	} else if (key_is(key, "allow-host")) {
		if (val[0] == '\0' || strpbrk(val, " /:@") != NULL)
			goto bad;
		if (c->nallow_hosts == GOMEMD_MAX_HOSTS) {
			snprintf(err, errlen, "%s: more than %d allow-host names", from,
				 GOMEMD_MAX_HOSTS);
			return -1;
		}
		c->allow_hosts[c->nallow_hosts++] = xstrdup(val);
	} else if (key_is(key, "header-timeout")) {
		if (parse_uint(val, 1, 600, &c->header_timeout_s) != 0)
			goto bad;
	} else if (strcmp(key, "threads") == 0) {
		if (parse_uint(val, 1, 64, &c->http_threads) != 0)
			goto bad;
	} else {
		snprintf(err, errlen, "%s: unknown key \"%s\"", from, key);
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "%s: bad value for %s: \"%s\"", from, key, val);
	return -1;
}

/* Read a config file. */
static int conf_load_file(struct gomemd_config *c, const char *path, char *err, size_t errlen)
{
	char line[1024], from[PATH_MAX + 32], *k, *v, *e;
	unsigned lineno = 0;
	FILE *f;

	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		lineno++;
		if ((e = strchr(line, '#')) != NULL)
			*e = '\0';
		for (k = line; isspace((unsigned char)*k); k++)
			;
		if (*k == '\0')
			continue;
		snprintf(from, sizeof from, "%s:%u", path, lineno);
		v = strchr(k, '=');
		if (v == NULL) {
			snprintf(err, errlen, "%s: expected `key = value`", from);
			fclose(f);
			return -1;
		}
		for (e = v; e > k && isspace((unsigned char)e[-1]); e--)
			;
		*e = '\0';
		for (v++; isspace((unsigned char)*v); v++)
			;
		for (e = v + strlen(v); e > v && isspace((unsigned char)e[-1]); e--)
			;
		*e = '\0';
		if (conf_set(c, k, v, from, err, errlen) != 0) {
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

/*
 * Build a configuration from defaults, the file named by --config and the
 * command line.  Returns 0, -1 with err set, or 1 when --help/--version
 * asked to exit.
 */
int conf_build(struct gomemd_config *c, int argc, char **argv, char *err, size_t errlen)
{
	char *cfgfile = NULL;
	int ch, nlibs_file, cmdline_libs = 0;
	const char *key;

	conf_defaults(c);
	err[0] = '\0';

	/* pass 1: --config, --help, --version */
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "l:L:c:g:vfh", long_opts, NULL)) != -1) {
		if (ch == 'c') {
			free(cfgfile);
			cfgfile = xstrdup(optarg);
		} else if (ch == 'L') {
			cmdline_libs = 1;
		} else if (ch == 'h') {
			free(cfgfile);
			conf_usage(stdout);
			return 1;
		} else if (ch == OPT_VERSION) {
			free(cfgfile);
			printf("gomemd %s\n", PACKAGE_VERSION);
			return 1;
		} else if (ch == '?') {
			snprintf(err, errlen, "unknown or incomplete option: %s", argv[optind - 1]);
			free(cfgfile);
			return -1;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument: %s", argv[optind]);
		free(cfgfile);
		return -1;
	}

	/* pass 2: the file */
	if (cfgfile != NULL) {
		char abs[PATH_MAX];

		c->config_file = xstrdup(realpath(cfgfile, abs) ? abs : cfgfile);
		free(cfgfile);
		if (conf_load_file(c, c->config_file, err, errlen) != 0)
			return -1;
	}
	nlibs_file = c->nlibraries;
	if (cmdline_libs) {
		for (int i = 0; i < nlibs_file; i++)
			free(c->libraries[i]);
		c->nlibraries = 0;
	}

	/* pass 3: the command line wins */
	optind = 0;
	while ((ch = getopt_long(argc, argv, "l:L:c:g:vfh", long_opts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			key = "listen";
			break;
		case 'L':
			key = "library";
			break;
		case 'g':
			key = "grace";
			break;
		case 'v':
			c->verbose++;
			continue;
		case 'f':
			continue; /* accepted for compatibility */
		case OPT_PROFILE:
			c->profile = 1;
			continue;
		case OPT_NO_PROFILE:
			c->profile = 0;
			continue;
		case OPT_STATE_DIR:
			key = "state-dir";
			break;
		case OPT_HISTORY:
			key = "history";
			break;
		case OPT_HISTORY_INTERVAL:
			key = "history-interval";
			break;
		case OPT_MAX_CONN:
			key = "max-connections";
			break;
		case OPT_PER_IP:
			key = "per-ip-limit";
			break;
		case OPT_TIMEOUT:
			key = "timeout";
			break;
		case OPT_THREADS:
			key = "threads";
			break;
		case OPT_SOCKET:
			key = "socket";
			break;
		case OPT_SOCKET_MODE:
			key = "socket-mode";
			break;
		case OPT_SOCKET_CONN:
			key = "socket-connections";
			break;
		case OPT_WEB_CONFIG:
			key = "web-config";
			break;
		case OPT_ALLOW_HOST:
			key = "allow-host";
			break;
		case OPT_HEADER_TIMEOUT:
			key = "header-timeout";
			break;
		default:
			continue;
		}
		if (conf_set(c, key, optarg, "command line", err, errlen) != 0)
			return -1;
	}
	if (c->nlibraries == 0)
		add_library(c, GOMEM_DEFAULT_LIBRARY, err, errlen);
	return 0;
}

/* ---- the published configuration ---- */

/*
 * A published configuration and the number of references to it: one for
 * being the current one, one per conf_get() not yet put.  conf_lock guards
 * `current` and every refs; the configuration itself never changes once
 * published, so readers use it without any lock.
 */
struct conf_ref {
	struct gomemd_config c; /* first: a config pointer is a conf_ref pointer */
	unsigned refs;
};

static pthread_mutex_t conf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conf_ref *current;

/* Drop one reference (conf_lock held); the configuration to free, or NULL. */
static struct conf_ref *conf_unref_locked(struct conf_ref *r)
{
	return --r->refs == 0 ? r : NULL;
}

/* Free a configuration nobody references any more. */
static void conf_destroy(struct conf_ref *r)
{
	if (r == NULL)
		return;
	conf_free(&r->c);
	free(r);
}

/* Make r (NULL: none) the current configuration and drop the old one's reference. */
static void conf_swap(struct conf_ref *r)
{
	struct conf_ref *old;

	pthread_mutex_lock(&conf_lock);
	old = current;
	current = r;
	old = old != NULL ? conf_unref_locked(old) : NULL;
	pthread_mutex_unlock(&conf_lock);
	conf_destroy(old);
}

/*
 * Publish c (a configuration built by conf_build) as the current one; its
 * contents move into the published copy and c is left empty.  The previous
 * one is freed when its last reader puts it.
 */
void conf_publish(struct gomemd_config *c)
{
	struct conf_ref *r = xcalloc(1, sizeof *r);

	r->c = *c;
	memset(c, 0, sizeof *c);
	r->refs = 1;
	conf_swap(r);
}

/* Withdraw the current configuration (at exit); freed when its last reader puts it. */
void conf_unpublish(void)
{
	conf_swap(NULL);
}

/*
 * A reference to the current configuration, read-only and valid until
 * conf_put(), whatever reloads happen meanwhile; NULL before the first
 * conf_publish().
 */
const struct gomemd_config *conf_get(void)
{
	struct conf_ref *r;

	pthread_mutex_lock(&conf_lock);
	r = current;
	if (r != NULL)
		r->refs++;
	pthread_mutex_unlock(&conf_lock);
	return r != NULL ? &r->c : NULL;
}

/* Drop a reference from conf_get(). */
void conf_put(const struct gomemd_config *c)
{
	struct conf_ref *r = (struct conf_ref *)(uintptr_t)c, *dead;

	if (c == NULL)
		return;
	pthread_mutex_lock(&conf_lock);
	dead = conf_unref_locked(r);
	pthread_mutex_unlock(&conf_lock);
	conf_destroy(dead);
}
