/*
 * heartbeat.h: noticing a stalled loop.
 *
 * Each loop that must keep turning (the main loop, the ring-buffer
 * collector, the symboliser) owns one struct heartbeat and beats it every
 * turn; the beat is one atomic store, no lock.  Anyone may ask whether a
 * set of heartbeats is healthy: /healthz answers 503 with the reason, and
 * the main loop sends systemd WATCHDOG=1 only while all are.
 */
#ifndef GOMEMD_HEARTBEAT_H
#define GOMEMD_HEARTBEAT_H

#include <stddef.h>
#include <stdint.h>

struct heartbeat {
	const char *name;  /* "collector", ... */
	uint64_t limit_ns; /* stalled when no beat for longer */
	uint64_t last_ns;  /* atomic: time of the last beat, 0 before the first */
	uint64_t busy;	   /* atomic: what the loop is doing (a heartbeat_what code), 0 idle */
};

void heartbeat_init(struct heartbeat *hb, const char *name, uint64_t limit_ns, uint64_t now_ns);
void heartbeat_beat(struct heartbeat *hb, uint64_t now_ns);
void heartbeat_busy(struct heartbeat *hb, const char *what);
int heartbeat_check(struct heartbeat *const *hbs, size_t n, uint64_t now_ns, char *reason,
		    size_t len);
void heartbeat_register(struct heartbeat *hb);
int heartbeat_check_all(uint64_t now_ns, char *reason, size_t len);

#endif /* GOMEMD_HEARTBEAT_H */
