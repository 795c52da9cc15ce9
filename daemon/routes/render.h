/* render.h: a process's identity and counters as JSON (render.c). */
#ifndef GOMEMD_RENDER_H
#define GOMEMD_RENDER_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/proc.h"

cJSON *json_proc_info(const struct proc_info *info);
void json_daemon_extra(cJSON *x, const struct proc_info *info);
cJSON *json_cmdline(const struct proc_info *info);

/* A walk over the table into a pid-ordered array (walk_array). */
struct walk {
	struct walk_item {
		int pid;
		cJSON *json;
	} *items;
	size_t n, cap;
	int with_snap;		   /* add each process's MemStats */
	int full;		   /* arrays in each MemStats */
	uint64_t nsnap;		   /* live processes with a snapshot */
	struct gomem_memstats tot; /* only the summed fields are used */
	uint64_t rss;
};
cJSON *walk_array(struct walk *w);

#endif /* GOMEMD_RENDER_H */
