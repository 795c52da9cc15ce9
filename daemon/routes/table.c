/*
 * table.c: the route table, the one place that names every handler.  Keep
 * the most specific prefix first; the dashboard's "/" prefix comes last.
 */
#include "config.h"

#include <stddef.h>

#include "http/server.h"
#include "routes/render.h"
#include "routes/routes.h"

const struct http_route routes_table[] = {
    {"/memstats", 0, "GET", memstats_http},
    {"/processes", 0, "GET", processes_list},
    {"/processes/", 1, NULL, processes_item},
    {"/healthz", 0, "GET", health_http},
    {"/metrics", 0, "GET", metrics_http},
    {"/debug/vars", 0, "GET", vars_http},
    {"/events", 0, "GET", events_http},
    {"/memstats/history", 0, "GET", history_http},
    {"/debug/pprof/heap", 0, "GET", heapprof_heap},
    {"/profile/top", 0, "GET", heapprof_top},
    {"/profile/flame", 0, "GET", flame_http},
    {"/leaks", 0, "GET", heapprof_leaks},
    {"/", 1, NULL, dashboard_http},
};
const size_t routes_count = sizeof routes_table / sizeof routes_table[0];

/* Set up what the routes keep (before the collector and the server run). */
int routes_init(uint64_t start_mono_ns)
{
	health_init(start_mono_ns);
	return events_init();
}

/* Free what the routes keep (after the server stopped). */
void routes_fini(void)
{
	memstats_fini();
	render_fini();
}
