/* health.c: GET /healthz, liveness and self counters. */
#include "config.h"

#include <microhttpd.h>

#include "gomem.h"

#include "base/clock.h"
#include "core/attach.h"
#include "core/proc.h"
#include "encode/json.h"
#include "http/server.h"
#include "routes/routes.h"
#include "watch/collect.h"

static uint64_t health_start_ns; /* written before the server starts */

/* Remember when gomemd started. */
void
health_init(uint64_t start_mono_ns)
{
	health_start_ns = start_mono_ns;
}

/* GET /healthz: liveness and self counters. */
int
health_http(struct http_req *req)
{
	cJSON *o = cJSON_CreateObject(), *d;

	cJSON_AddStringToObject(o, "status", "ok");
	cJSON_AddStringToObject(o, "version", PACKAGE_VERSION);
	json_add_u64(o, "UptimeNs", now_mono_ns() - health_start_ns);
	json_add_u64(o, "Processes", proc_count());
	json_add_u64(o, "Links", (uint64_t)attach_nlinks());
	cJSON_AddBoolToObject(o, "ExitTraced", attach_exit_traced());
	json_add_u64(o, "Events", collect_events());
	json_add_u64(o, "Requests", http_requests());
	d = cJSON_CreateObject();
	json_add_u64(d, "RingBuffer", attach_drops(GOMEM_DROP_RINGBUF));
	json_add_u64(d, "Read", attach_drops(GOMEM_DROP_READ));
	json_add_u64(d, "Watched", attach_drops(GOMEM_DROP_WATCHED));
	cJSON_AddItemToObject(o, "Drops", d);
	return http_reply_json(req, MHD_HTTP_OK, o);
}
