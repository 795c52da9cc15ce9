/*
 * heartbeat.c: liveness of the daemon's loops.  See heartbeat.h.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>

#include "heartbeat.h"

/* Start a heartbeat as if it had just beaten. */
void heartbeat_init(struct heartbeat *hb, const char *name, uint64_t limit_ns, uint64_t now_ns)
{
	hb->name = name;
	hb->limit_ns = limit_ns;
	__atomic_store_n(&hb->busy, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&hb->last_ns, now_ns, __ATOMIC_RELEASE);
}

/* The loop turned: one store, callable from any thread, no lock. */
void heartbeat_beat(struct heartbeat *hb, uint64_t now_ns)
{
	__atomic_store_n(&hb->last_ns, now_ns, __ATOMIC_RELEASE);
}

/*
 * Say what the loop is about to do (a string with static storage, or NULL
 * for nothing), so that a stall can be reported with its cause.
 */
void heartbeat_busy(struct heartbeat *hb, const char *what)
{
	__atomic_store_n(&hb->busy, (uint64_t)(uintptr_t)what, __ATOMIC_RELEASE);
}

/*
 * Whether every heartbeat beat within its limit: 0 if so, else -1 with
 * reason naming the first stalled loop, how long and what it was doing.
 */
int heartbeat_check(struct heartbeat *const *hbs, size_t n, uint64_t now_ns, char *reason,
		    size_t len)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t last = __atomic_load_n(&hbs[i]->last_ns, __ATOMIC_ACQUIRE);
		const char *what =
		    (const char *)(uintptr_t)__atomic_load_n(&hbs[i]->busy, __ATOMIC_ACQUIRE);

		if (now_ns <= last || now_ns - last <= hbs[i]->limit_ns)
			continue;
		snprintf(reason, len, "%s stalled: no progress for %.1f s (limit %.1f s)%s%s",
			 hbs[i]->name, (double)(now_ns - last) / 1e9,
			 (double)hbs[i]->limit_ns / 1e9, what != NULL ? " while " : "",
			 what != NULL ? what : "");
		return -1;
	}
	if (len > 0)
		reason[0] = '\0';
	return 0;
}

/*
 * The registry /healthz checks: each loop registers its heartbeat once
 * (it must live for the rest of the process).  Slots are filled under
 * reg_lock and published by the count, which readers load with acquire.
 */
#define HEARTBEAT_MAX 8
static struct heartbeat *registry[HEARTBEAT_MAX];
static size_t nregistered; /* atomic */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

/* Add a heartbeat to the registry (ignored past HEARTBEAT_MAX). */
void heartbeat_register(struct heartbeat *hb)
{
	size_t n;

	pthread_mutex_lock(&reg_lock);
	n = __atomic_load_n(&nregistered, __ATOMIC_RELAXED);
	if (n < HEARTBEAT_MAX) {
		registry[n] = hb;
		__atomic_store_n(&nregistered, n + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&reg_lock);
}

/* heartbeat_check() over every registered heartbeat. */
int heartbeat_check_all(uint64_t now_ns, char *reason, size_t len)
{
	size_t n = __atomic_load_n(&nregistered, __ATOMIC_ACQUIRE);

	return heartbeat_check(registry, n, now_ns, reason, len);
}
