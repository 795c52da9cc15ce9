/*
 * routes.h: gomemd's HTTP routes, one file per family; table.c is the only
 * file that names every handler.
 */
#ifndef GOMEMD_ROUTES_H
#define GOMEMD_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "http/server.h"

/* table.c */
extern const struct http_route routes_table[];
extern const size_t routes_count;
int routes_init(uint64_t start_mono_ns);
void routes_fini(void);

/* memstats.c */
int memstats_http(struct http_req *req);
void memstats_fini(void);
/* processes.c */
int processes_list(struct http_req *req);
int processes_item(struct http_req *req);
/* health.c */
void health_init(uint64_t start_mono_ns);
int health_http(struct http_req *req);
/* metrics.c */
int metrics_http(struct http_req *req);
/* vars.c */
int vars_http(struct http_req *req);
/* events.c */
int events_init(void);
int events_http(struct http_req *req);
/* history.c */
int history_http(struct http_req *req);
/* heapprof.c */
int heapprof_heap(struct http_req *req);
int heapprof_top(struct http_req *req);
int heapprof_leaks(struct http_req *req);
/* flame.c */
struct json;
int flame_http(struct http_req *req);
int flame_encode(const void *gz, size_t len, size_t max_nodes, struct json *j);
/* dashboard.c */
int dashboard_http(struct http_req *req);

#endif /* GOMEMD_ROUTES_H */
