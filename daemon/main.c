/*
 * main.c: gomemd, the gomem daemon.
 *
 * Order of start: configuration, BPF load (or a clear message naming the
 * missing privilege and exit 1), USDT attach for every configured library,
 * ring buffer, scan of running processes, HTTP, readiness (sd_notify).
 * Then one epoll loop in this thread: ring buffer records, signals (via
 * signalfd; SIGTERM/SIGINT stop, SIGHUP reloads) and a 1 s timer for the
 * exit sweep.  Stop: HTTP first (no handler runs any more), then links,
 * ring buffer and BPF object, so nothing stays attached.
 */
#include "config.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#if HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#else
#define sd_notify(unset, msg) ((void)(unset), (void)(msg), 0)
#define sd_watchdog_enabled(unset, usec) ((void)(unset), (void)(usec), 0)
#endif

#include "base/clock.h"
#include "base/heartbeat.h"
#include "base/log.h"
#include "base/mapguard.h"
#include "base/xmalloc.h"
#include "core/attach.h"
#include "core/conf.h"
#include "core/proc.h"
#include "core/profile.h"
#include "http/guard.h"
#include "http/server.h"
#include "routes/routes.h"
#include "watch/collect.h"
#include "watch/watch.h"

/* main's reference to the published configuration (conf_get). */
static const struct gomemd_config *cfg;

/*
 * The main loop's heartbeat: it collects the ring buffer, sweeps and
 * answers signals, so a loop that stops turning is a daemon that stops
 * working.  Beaten every turn (at least once a second, the timer);
 * /healthz reports it (base/heartbeat.c's registry), and systemd's
 * watchdog gets WATCHDOG=1 only from a turning loop.
 */
#define MAIN_LOOP_LIMIT_NS (10 * 1000000000ull)
static struct heartbeat main_beat;

/* Whether HTTP settings differ (a restart of the server is needed). */
static int http_changed(const struct gomemd_config *a, const struct gomemd_config *b)
{
	int i, hosts = a->nallow_hosts != b->nallow_hosts;

	for (i = 0; !hosts && i < a->nallow_hosts; i++)
		hosts = strcmp(a->allow_hosts[i], b->allow_hosts[i]) != 0;
	/* the web config is reread on every reload: its files may have changed */
	return strcmp(a->listen, b->listen) != 0 || a->max_connections != b->max_connections ||
	       a->per_ip_limit != b->per_ip_limit || a->conn_timeout_s != b->conn_timeout_s ||
	       a->http_threads != b->http_threads || strcmp(a->socket, b->socket) != 0 ||
	       a->socket_mode != b->socket_mode || a->socket_connections != b->socket_connections ||
	       a->header_timeout_s != b->header_timeout_s || hosts || a->web_config != NULL ||
	       b->web_config != NULL;
}

/* SIGHUP: rebuild the configuration and apply what changed. */
static void reload(int argc, char **argv)
{
	struct gomemd_config n;
	char err[512];
	int restart;

	sd_notify(0, "RELOADING=1");
	if (conf_build(&n, argc, argv, err, sizeof err) != 0) {
		log_warnx("reload: %s; keeping the old configuration", err);
		conf_free(&n);
		sd_notify(0, "READY=1");
		return;
	}
	log_init(n.verbose);
	proc_set_history_interval(n.history_interval_ms);
	if (n.history_len != cfg->history_len)
		log_warnx("reload: history length changes need a restart");
	if (n.profile != cfg->profile || strcmp(n.state_dir, cfg->state_dir) != 0)
		log_warnx("reload: heap profile settings change at the next restart");
	attach_libraries(n.libraries, n.nlibraries);
	restart = http_changed(cfg, &n);
	if (restart) {
		http_stop();
		if (http_start(&n, routes_table, routes_count, err, sizeof err) != 0) {
			log_warnx("reload: %s; back to %s", err, cfg->listen);
			if (http_start(cfg, routes_table, routes_count, err, sizeof err) != 0)
				fatalx("%s", err);
			free(n.listen);
			n.listen = xstrdup(cfg->listen);
		}
	}
	conf_publish(&n); /* readers of the old copy keep it until they put it */
	conf_put(cfg);
	cfg = conf_get();
	watch_scan();
	log_info("configuration reloaded%s", restart ? " (HTTP restarted)" : "");
	sd_notify(0, "READY=1");
}

/* Once a second: say when files read for their ELF shrank under gomemd (base/mapguard.c). */
static void note_shrunk_files(void)
{
	static uint64_t told;
	uint64_t n = mapguard_pages();

	if (n != told)
		log_warnx("%llu page(s) of files read for their ELF were past the files' ends: "
			  "a watched process's file shrank while gomemd read it (read as zeros)",
			  (unsigned long long)(n - told));
	told = n;
}

/*
 * --hash-password: read a password from standard input (one line) and
 * print its bcrypt hash for the web config's basic_auth_users, as
 * `htpasswd -nBC 10` would.  0, or 1 on error.
 */
static int hash_password(void)
{
	char line[1024], setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *out;
	size_t n;

	if (fgets(line, sizeof line, stdin) == NULL) {
		fprintf(stderr, "gomemd: --hash-password reads the password from standard input\n");
		return 1;
	}
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	cd = xcalloc(1, sizeof *cd);
	if (crypt_gensalt_rn("$2b$", 10, NULL, 0, setting, sizeof setting) == NULL ||
	    (out = crypt_r(line, setting, cd)) == NULL || out[0] == '*') {
		fprintf(stderr, "gomemd: bcrypt failed: %s\n", strerror(errno));
		explicit_bzero(line, sizeof line);
		free(cd);
		return 1;
	}
	printf("%s\n", out);
	explicit_bzero(line, sizeof line);
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return 0;
}

int main(int argc, char **argv)
{
	struct itimerspec its = {{1, 0}, {1, 0}};
	struct epoll_event ev, evs[8];
	int efd, sfd, tfd, rbfd, n, i, rc, running = 1, watchdog;
	uint64_t start_ns, watchdog_usec = 0;
	struct signalfd_siginfo si;
	struct gomemd_config first;
	char err[512];
	sigset_t set;

	if (argc == 2 && strcmp(argv[1], "--hash-password") == 0)
		return hash_password();
	start_ns = now_mono_ns();
	rc = conf_build(&first, argc, argv, err, sizeof err);
	if (rc != 0) {
		conf_free(&first);
		if (rc > 0)
			return 0;
		fprintf(stderr, "gomemd: %s (see gomemd --help)\n", err);
		return 2;
	}
	conf_publish(&first);
	cfg = conf_get();
	log_init(cfg->verbose);

	/* signals are handled through a signalfd: block them before any thread starts */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A watched process's ELF file truncated while it is read: zeros, not SIGBUS. */
	if (mapguard_install() != 0)
		log_warn("installing the SIGBUS handler");

	proc_init(cfg->history_len, cfg->history_interval_ms);
	if (attach_open(err, sizeof err) != 0) {
		fprintf(stderr, "gomemd: %s\n", err);
		return 1;
	}
	/* Heap profiles come from the processes' own tables, not per-sample probes. */
	attach_set_profile(0);
	{
		struct profile_config pc = {
		    .enabled = cfg->profile,
		    .interval_ms = cfg->history_interval_ms,
		    .state_dir = cfg->state_dir[0] != 0 ? cfg->state_dir : NULL,
		    .limits = {cfg->state_max_count, cfg->state_max_bytes, cfg->state_max_age_s},
		};

		profile_start(&pc);
	}
	if (attach_libraries(cfg->libraries, cfg->nlibraries) == 0)
		log_warnx("no library attached; only POST /processes/N/attach will find processes");
	if (collect_open() != 0) {
		fprintf(stderr, "gomemd: ring buffer: %s\n", strerror(errno));
		attach_close();
		return 1;
	}
	if (routes_init(start_ns) != 0)
		log_warnx("event stream: cannot subscribe to snapshots");
	n = watch_scan();
	if (n > 0)
		log_info("found %d running process%s with libgomem", n, n == 1 ? "" : "es");
	if (http_start(cfg, routes_table, routes_count, err, sizeof err) != 0) {
		fprintf(stderr, "gomemd: %s\n", err);
		collect_close();
		attach_close();
		return 1;
	}
	log_info("serving http://%s/ (%d USDT links)", http_where(), attach_nlinks());

	efd = epoll_create1(EPOLL_CLOEXEC);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	rbfd = collect_epoll_fd();
	if (efd < 0 || sfd < 0 || tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) != 0)
		fatal("event loop setup");
	ev.events = EPOLLIN;
	ev.data.fd = sfd;
	epoll_ctl(efd, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.fd = tfd;
	epoll_ctl(efd, EPOLL_CTL_ADD, tfd, &ev);
	ev.data.fd = rbfd;
	epoll_ctl(efd, EPOLL_CTL_ADD, rbfd, &ev);
	sd_notify(0, "READY=1\nSTATUS=collecting");
	/* WATCHDOG=1 only to a service manager that asked for it: the notify
	 * socket is a datagram socket, and a listener that does not read it
	 * would block the loop once its queue is full. */
	watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;

	heartbeat_init(&main_beat, "main loop", MAIN_LOOP_LIMIT_NS, now_mono_ns());
	heartbeat_register(&main_beat);
	while (running) {
		heartbeat_beat(&main_beat, now_mono_ns());
		heartbeat_busy(&main_beat, NULL);
		n = epoll_wait(efd, evs, 8, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == rbfd) {
				heartbeat_busy(&main_beat, "collecting records");
				collect_consume();
			} else if (fd == tfd) {
				uint64_t ticks;

				if (read(tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
					log_warn("timerfd");
				heartbeat_busy(&main_beat, "collecting records");
				collect_consume(); /* exits queued behind snapshots first */
				heartbeat_busy(&main_beat, "sweeping");
				guard_sweep(now_mono_ns());
				watch_sweep(cfg->grace_s);
				note_shrunk_files();
				if (watchdog)
					sd_notify(0, "WATCHDOG=1"); /* this loop turns */
			} else if (fd == sfd) {
				while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
					if (si.ssi_signo == SIGHUP) {
						reload(argc, argv);
					} else {
						log_info("signal %u: stopping", si.ssi_signo);
						running = 0;
					}
				}
			}
		}
	}

	sd_notify(0, "STOPPING=1");
	http_stop();
	routes_fini();
	collect_close();
	attach_close();
	proc_fini();
	profile_fini();
	close(efd);
	close(sfd);
	close(tfd);
	conf_put(cfg);
	conf_unpublish();
	return 0;
}
