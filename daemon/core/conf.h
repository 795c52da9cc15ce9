/*
 * conf.h: gomemd's configuration (conf.c): defaults < config file
 * (`key = value`) < command line.
 */
#ifndef GOMEMD_CONF_H
#define GOMEMD_CONF_H

#include <stddef.h>
#include <stdio.h>

#define GOMEMD_MAX_LIBS	      64 /* configured, and attached through a mapping */
#define GOMEMD_MAX_HOSTS      16
#define GOMEMD_DEFAULT_SOCKET "/run/gomemd/gomemd.sock"

struct gomemd_config {
	char *listen;			  /* "ADDR:PORT" as given */
	char *libraries[GOMEMD_MAX_LIBS]; /* absolute paths, resolved */
	int nlibraries;
	unsigned grace_s; /* keep dead processes this long */
	int verbose;
	unsigned history_len;	      /* points in each history ring */
	unsigned history_interval_ms; /* at most one point per interval */
	unsigned max_connections;
	unsigned per_ip_limit;
	unsigned conn_timeout_s;
	unsigned http_threads;
	int profile;			/* pull heap profiles from the processes (default on) */
	char *state_dir;		/* ended processes' profiles (default /var/lib/gomemd) */
	unsigned state_max_count;	/* entries kept there */
	unsigned long long state_max_bytes;
	unsigned state_max_age_s;
	char *config_file;
	char *socket;			     /* unix socket path, "" for none */
	int socket_explicit;		     /* given by the user: failing to make it is fatal */
	unsigned socket_mode;		     /* its permission bits */
	unsigned socket_connections;	     /* its own connection budget */
	char *web_config;		     /* exporter-toolkit web config file, or NULL */
	char *allow_hosts[GOMEMD_MAX_HOSTS]; /* Host names beyond loopback */
	int nallow_hosts;
	unsigned header_timeout_s; /* whole request header deadline */
};

int conf_build(struct gomemd_config *c, int argc, char **argv, char *err, size_t errlen);
void conf_free(struct gomemd_config *c);
int conf_split_listen(const char *s, char *addr, size_t addrlen, unsigned *port);
void conf_usage(FILE *f);

/*
 * The published configuration (RCU-like: immutable copies, one pointer
 * swapped on reload, the old copy freed when its last reader is done).
 * The main thread publishes; any thread reads between conf_get() and
 * conf_put() without further locking.
 */
void conf_publish(struct gomemd_config *c);
void conf_unpublish(void);
const struct gomemd_config *conf_get(void);
void conf_put(const struct gomemd_config *c);

#endif /* GOMEMD_CONF_H */
