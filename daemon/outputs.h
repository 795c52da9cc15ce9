/*
 * outputs.h: the routes that speak other tools' languages: /metrics
 * (Prometheus), /debug/vars (Go expvar), /events (Server-Sent Events),
 * /memstats/history (the dashboard's chart seed) and the dashboard itself.
 * The formatting lives in prom.c, expvar.c, sse.c and static.c; this file
 * reads the process table and glues them to http.c's route table.
 */
#ifndef GOMEMD_OUTPUTS_H
#define GOMEMD_OUTPUTS_H

struct http_req;

/* Start the event stream and subscribe to snapshots; 0 or -errno. */
int outputs_init(void);
/* End the event streams; call before the HTTP server stops. */
void outputs_shutdown(void);
/* Where the dashboard files are: $GOMEMD_WEB_DIR, else the installed copy. */
const char *outputs_web_dir(void);

int out_metrics(struct http_req *req);
int out_debug_vars(struct http_req *req);
int out_events(struct http_req *req);
int out_history(struct http_req *req);
int out_static(struct http_req *req);

#endif /* GOMEMD_OUTPUTS_H */
