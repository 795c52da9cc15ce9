/*
 * gomemd.h: the one internal header of gomemd (tmux style: prototypes grouped
 * by the file that defines them; a function's prefix names its file).
 *
 * How the daemon fits together
 * ----------------------------
 *   main.c     arguments, config reload (SIGHUP), the event loop (epoll over
 *              the BPF ring buffer, a signalfd and a 1 s timerfd), shutdown.
 *   config.c   defaults < config file (`key = value`) < command line.
 *   attach.c   loads the BPF skeleton, attaches the USDT programs to each
 *              library for all processes (pid -1) or to one pid; mutes pids.
 *   collect.c  ring buffer callback: records -> proc.c.
 *   proc.c     the process table: per-process state, latest snapshot,
 *              history ring, /proc readers, startup scan, exit sweep.
 *   json.c     JSON helpers on cJSON (exact uint64), MemStats -> JSON from
 *              the X-macros of gomem_memstats.h.
 *   http.c     libmicrohttpd server, route table, reply helpers.
 *   api.c      the route handlers: /memstats, /processes, /healthz.
 *   log.c      logging, fatal(), x-allocators.
 *   profile.c  heap profiles from allocation samples (profile.h), served as
 *              pprof by pprof.c, symbolized by symbolize.c.
 *
 * Interfaces for new features (Prometheus, expvar, SSE, dashboard)
 * ----------------------------------------------------------------
 *   - Add a route: write `int handler(struct http_req *)` (api.c style) and
 *     add one line to `http_routes[]` in http.c.  Reply with http_reply(),
 *     http_reply_json() or http_reply_error(); query arguments with
 *     http_arg(); pids with http_parse_pid().  The server runs an internal
 *     epoll thread pool with MHD_ALLOW_SUSPEND_RESUME set (for SSE).
 *   - Read processes: proc_foreach() calls you for every process with the
 *     table read-locked (do not block, do not call other proc_* functions
 *     that lock); proc_find_locked() inside it; proc_copy() copies one
 *     process's info and latest snapshot out; proc_copy_history() copies its
 *     history ring oldest first.
 *   - New data: proc_generation() is a counter bumped for every snapshot or
 *     process change; proc_wait_generation() blocks on a condvar until it
 *     moves (SSE); proc_subscribe() registers a callback run in the
 *     collector thread after each snapshot, table write-locked (keep it short).
 *   - JSON: json_u64() (exact, via cJSON raw numbers), json_memstats() (Go
 *     order), json_proc_info().  Field lists always come from the X-macros.
 *
 * Threads: the main thread runs the collector and owns attach state; HTTP
 * handlers run in libmicrohttpd threads and only touch the process table
 * through proc_* (rwlock `proc_table.lock`) and attach_pid()/detach_pid()
 * (mutex in attach.c).
 */
#ifndef GOMEMD_H
#define GOMEMD_H

#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "gomem_memstats.h"

#define GOMEMD_MAX_LIBS 64
#define GOMEMD_MAX_HOSTS 16

struct safefile_map;
struct MHD_Connection;
#define GOMEMD_DEFAULT_SOCKET "/run/gomemd/gomemd.sock"

/* log.c */
extern int log_verbose;
void log_init(int verbose);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
int xasprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t now_mono_ns(void);
uint64_t now_real_ns(void);

/* config.c */
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
	int profile;			/* attach the sampling probes (heap profiles) */
	char *config_file;
	char *socket;			/* unix socket path, "" for none */
	int socket_explicit;		/* given by the user: failing to make it is fatal */
	unsigned socket_mode;		/* its permission bits */
	unsigned socket_connections;	/* its own connection budget */
	char *web_config;		/* exporter-toolkit web config file, or NULL */
	char *allow_hosts[GOMEMD_MAX_HOSTS]; /* Host names beyond loopback */
	int nallow_hosts;
	unsigned header_timeout_s;	/* whole request header deadline */
};
int config_build(struct gomemd_config *c, int argc, char **argv, char *err, size_t errlen);
void config_free(struct gomemd_config *c);
int config_split_listen(const char *s, char *addr, size_t addrlen, unsigned *port);
void config_usage(FILE *f);

/* attach.c */
int attach_open(char *err, size_t errlen);
int attach_libraries(char *const *libs, int nlibs);
extern int attach_profile; /* attach sample_alloc/sample_free too */
void attach_refresh(void);
int attach_pid(int pid, char *err, size_t errlen);
int attach_mapped(int pid, const struct safefile_map *m, char *err, size_t errlen);
int attach_is_configured(const char *path);
int detach_pid(int pid);
void attach_forget(int pid);
int attach_unmute(int pid);
int attach_is_muted(int pid);
int attach_watch(int pid);
int attach_is_library(dev_t dev, ino_t ino);
const char *attach_library_for(dev_t dev, ino_t ino);
int attach_ringbuf_fd(void);
int attach_exit_traced(void);
uint64_t attach_drops(int reason);
int attach_nlinks(void);
void attach_close(void);
struct gomem_bpf *attach_skel(void);

/* collect.c */
int collect_open(void);
int collect_epoll_fd(void);
int collect_consume(void);
void collect_close(void);
uint64_t collect_events(void);

/* proc.c */
struct gomem_hist_point {
#define GOMEM_HIST_FIELDS(X)                                                                       \
	X(TimeNs) X(HeapAlloc) X(HeapInuse) X(HeapIdle) X(HeapReleased) X(Sys) X(RSS) X(Mallocs)   \
	X(Frees)
#define GOMEM_HIST_DECL_(n) uint64_t n;
	GOMEM_HIST_FIELDS(GOMEM_HIST_DECL_)
#undef GOMEM_HIST_DECL_
};

/* What proc_copy() hands out: everything about a process but the history. */
struct proc_info {
	int pid;
	char comm[16];
	char cmdline[1024];	/* arguments separated by NUL */
	size_t cmdline_len;
	uint64_t start_time_ns;	/* wall clock, ns since the epoch */
	char library[256];	/* libgomem path it maps, "" if unknown */
	char version[32];	/* from gomem:init, "" if not seen */
	int have_snap;
	uint64_t snap_age_ns;	/* now - time the snapshot arrived */
	uint64_t snaps;		/* snapshots received */
	uint64_t rss_bytes;	/* /proc/PID/statm at the last snapshot */
	int exited;
	uint64_t exited_age_ns;
	uint64_t scavenge_events, scavenge_bytes, scavenge_ns;
	uint64_t arena_grows, arena_bytes;
	int attached_pid;	/* has its own per-pid attachment */
	char cgroup[256];	/* cgroup path (cgroup.c), "" if unknown */
	char unit[128];		/* systemd unit from the cgroup, "" if none */
};

struct proc;
typedef void (*proc_hook_fn)(const struct proc *p, void *arg);

void proc_init(unsigned history_len, unsigned history_interval_ms);
uint64_t proc_start_ticks(int pid);
void proc_set_history_interval(unsigned ms);
void proc_fini(void);
void proc_rdlock(void);
void proc_unlock(void);
int proc_foreach(int (*fn)(const struct proc *p, void *arg), void *arg);
const struct proc *proc_find_locked(int pid);
void proc_info_locked(const struct proc *p, struct proc_info *out);
const struct gomem_memstats *proc_snap_locked(const struct proc *p);
cJSON *proc_snap_json_locked(const struct proc *p);
cJSON *proc_snap_json_compact_locked(const struct proc *p);
int proc_copy(int pid, struct proc_info *info, struct gomem_memstats *snap);
char *proc_snap_text(int pid, struct proc_info *info, int *rc);
size_t proc_copy_history(int pid, struct gomem_hist_point *out, size_t max);
size_t proc_count(void);
uint64_t proc_generation(void);
uint64_t proc_wait_generation(uint64_t seen, int timeout_ms);
int proc_subscribe(proc_hook_fn fn, void *arg);

/* Writers (collector thread and the handlers of POST/DELETE). */
void proc_on_snapshot(int pid, const char *comm, const struct gomem_memstats *snap, size_t len,
		      const char *version);
void proc_on_scavenge(int pid, uint64_t bytes, uint64_t ns);
void proc_on_arena_grow(int pid, uint64_t bytes);
void proc_on_exit(int pid);
int proc_add(int pid, const char *library);
int proc_remove(int pid);
void proc_set_attached(int pid, int on);
void proc_sweep(unsigned grace_s);
int proc_scan(void);
int proc_read_comm(int pid, char *buf, size_t len);
int proc_find_library(int pid, struct safefile_map *m);
int proc_alive(int pid);

/* json.c */
cJSON *json_u64(uint64_t v);
cJSON *json_i64(int64_t v);
cJSON *json_string(const char *s, size_t n);
void json_add_string(cJSON *o, const char *name, const char *s);
void json_add_u64(cJSON *o, const char *name, uint64_t v);
cJSON *json_memstats(const struct gomem_memstats *m, const struct proc_info *info);
cJSON *json_memstats_opt(const struct gomem_memstats *m, const struct proc_info *info, int arrays);
cJSON *json_proc_info(const struct proc_info *info);
void json_daemon_extra(cJSON *x, const struct proc_info *info);
cJSON *json_cmdline(const struct proc_info *info);
char *json_print(const cJSON *root);

/* http.c */
struct MHD_Connection;
struct http_req {
	struct MHD_Connection *conn;
	const char *method;
	const char *url;	/* path, without the query */
	const char *rest;	/* url after the route's prefix */
};
typedef int (*http_handler_fn)(struct http_req *req);
struct http_route {
	const char *path;	/* exact path, or prefix when prefix != 0 */
	int prefix;
	const char *allow;	/* methods for 405's Allow header; NULL: the handler checks */
	http_handler_fn fn;
};
int http_listen_is_loopback(const char *listen);
const char *http_where(void);
int http_queue_error(struct MHD_Connection *conn, unsigned status, const char *msg,
		     const char *hname, const char *hvalue);
int http_start(const struct gomemd_config *c, char *err, size_t errlen);
void http_stop(void);
int http_reply(struct http_req *req, unsigned status, const char *ctype, char *body, size_t len);
int http_reply_hdr(struct http_req *req, unsigned status, const char *ctype, char *body, size_t len,
		   const char *hname, const char *hvalue);
int http_reply_json(struct http_req *req, unsigned status, cJSON *root);
int http_reply_error(struct http_req *req, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int http_reply_405(struct http_req *req, const char *allow);
const char *http_arg(struct http_req *req, const char *key);
int http_parse_pid(const char *s, int *pid);
uint64_t http_requests(void);

/* api.c */
int api_memstats(struct http_req *req);
int api_processes(struct http_req *req);
int api_process_item(struct http_req *req);
int api_healthz(struct http_req *req);
void api_fini(void);

/* main.c */
extern const struct gomemd_config *gomemd_cfg;
int gomemd_stalled(char *why, size_t len);
extern uint64_t gomemd_start_mono_ns;

#endif /* GOMEMD_H */
