/* health.c: GET /healthz, liveness and self counters. */
#include "config.h"

#include <microhttpd.h>

#include "gomem.h"

#include "base/clock.h"
#include "base/heartbeat.h"
#include "core/attach.h"
#include "core/proc.h"
#include "base/obuf.h"
#include "encode/json.h"
#include "http/reply.h"
#include "routes/routes.h"
#include "watch/collect.h"

static uint64_t health_start_ns; /* written before the server starts */

/* Remember when gomemd started. */
void health_init(uint64_t start_mono_ns)
{
	health_start_ns = start_mono_ns;
}

/* GET /healthz: liveness and self counters. */
int health_http(struct http_req *req)
{
	char why[256];
	int stalled = heartbeat_check_all(now_mono_ns(), why, sizeof why) != 0;
	struct obuf b;
	struct json j;

	obuf_init(&b, 512);
	json_init(&j, &b);
	json_object(&j);
	json_kv_str(&j, "Status", stalled ? "stalled" : "ok");
	if (stalled)
		json_kv_str(&j, "Reason", why);
	json_kv_str(&j, "Version", PACKAGE_VERSION);
	json_kv_u64(&j, "UptimeNs", now_mono_ns() - health_start_ns);
	json_kv_u64(&j, "Processes", proc_count());
	json_kv_u64(&j, "Links", (uint64_t)attach_nlinks());
	json_kv_bool(&j, "ExitTraced", attach_exit_traced());
	json_kv_str(&j, "ExitTracepoint", attach_exit_how());
	json_kv_u64(&j, "Events", collect_events());
	json_kv_u64(&j, "Requests", http_requests());
	json_key(&j, "Drops");
	json_object(&j);
	json_kv_u64(&j, "RingBuffer", attach_drops(GOMEM_DROP_RINGBUF));
	json_kv_u64(&j, "Read", attach_drops(GOMEM_DROP_READ));
	json_kv_u64(&j, "Watched", attach_drops(GOMEM_DROP_WATCHED));
	json_kv_u64(&j, "Rate", attach_drops(GOMEM_DROP_RATE));
	json_end(&j);
	json_end(&j);
	return http_reply_json(req, stalled ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK, &b);
}
