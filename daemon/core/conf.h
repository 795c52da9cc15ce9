/*
 * conf.h: gomemd's configuration (conf.c): defaults < config file
 * (`key = value`) < command line.
 */
#ifndef GOMEMD_CONF_H
#define GOMEMD_CONF_H

#include <stddef.h>
#include <stdio.h>

#define GOMEMD_MAX_LIBS 16

struct gomemd_config {
	char *listen;			/* "ADDR:PORT" as given */
	int listen_explicit;		/* given by the user (file or --listen) */
	char *libraries[GOMEMD_MAX_LIBS]; /* absolute paths, resolved */
	int nlibraries;
	unsigned grace_s;		/* keep dead processes this long */
	int verbose;
	int foreground;
	unsigned history_len;		/* points in each history ring */
	unsigned history_interval_ms;	/* at most one point per interval */
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
};

int conf_build(struct gomemd_config *c, int argc, char **argv, char *err, size_t errlen);
void conf_free(struct gomemd_config *c);
int conf_split_listen(const char *s, char *addr, size_t addrlen, unsigned *port);
void conf_usage(FILE *f);

#endif /* GOMEMD_CONF_H */
