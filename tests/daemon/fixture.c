/*
 * fixture.c: libgomem-fixture.so, a stand-in for libgomem with the same USDT
 * probes (lib/probes.h, with semaphores) and a stats struct of known values.
 * It lets the daemon tests check what libgomem cannot produce on demand:
 * uint64 values above 2^53 (exact JSON), probes firing at a fixed interval,
 * scavenge and arena_grow records.
 *
 * Values: field number i (counting Go's uint64 fields from 1) holds
 * base + i, where base is $FIXTURE_BASE (default 1000); with FIXTURE_BASE=big
 * it is 2^64 - 1000, so every field is above 2^53.  BySize[k] = {Size k*16,
 * Mallocs base+k, Frees k}.  Seq counts snapshots.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gomem_memstats.h"
#include "probes.h"

GM_PROBE_SEMAPHORE(init);
GM_PROBE_SEMAPHORE(memstats);
GM_PROBE_SEMAPHORE(scavenge);
GM_PROBE_SEMAPHORE(arena_grow);

#define FIXTURE_VERSION "0.0.0-fixture"

static struct gomem_memstats fx;
static unsigned long long seq;
static pthread_mutex_t fx_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((visibility("default"))) const char *gomem_version(void);
__attribute__((visibility("default"))) void gomem_read_memstats(struct gomem_memstats *m);

/* Fill a snapshot (lock held). */
static void
fill(struct gomem_memstats *m)
{
	const char *b = getenv("FIXTURE_BASE"), *fv = getenv("FIXTURE_F64");
	unsigned long long base = 1000, i = 0;
	/* The float64 fields: 0.25, or NaN or +Inf (any bits a process may write). */
	double f64 = fv == NULL ? 0.25 : strcmp(fv, "nan") == 0 ? NAN : strcmp(fv, "inf") == 0 ? INFINITY : 0.25;
	struct timespec ts;
	int k;

	if (b != NULL && strcmp(b, "big") == 0)
		base = ~0ull - 1000;
	else if (b != NULL)
		base = strtoull(b, NULL, 10);
	memset(m, 0, sizeof *m);
	m->size = sizeof *m;
	m->version = GOMEM_MEMSTATS_VERSION;
#define F_U64(n, ...) m->n = base + ++i;
#define F_U64A(n) m->n[0] = base;
#define F_U32(n) m->n = 7;
#define F_F64(n, ...) m->n = f64;
#define F_BOOL(n) m->n = 1;
#define F_BYSZ(n)                                                                          \
	for (k = 0; k < GOMEM_NUM_BYSIZE; k++) {                                           \
		m->n[k].Size = (unsigned)k * 16;                                           \
		m->n[k].Mallocs = base + (unsigned)k;                                      \
		m->n[k].Frees = (unsigned)k;                                               \
	}
	GOMEM_MEMSTATS_GO_FIELDS(F_U64, F_U64A, F_U32, F_F64, F_BOOL, F_BYSZ)
	clock_gettime(CLOCK_REALTIME, &ts);
	m->Seq = ++seq;
	m->TimeNs = (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
	m->Pid = (unsigned long long)getpid();
	m->Threads = 2;
}

const char *
gomem_version(void)
{
	return FIXTURE_VERSION;
}

void
gomem_read_memstats(struct gomem_memstats *m)
{
	pthread_mutex_lock(&fx_lock);
	fill(&fx);
	*m = fx;
	pthread_mutex_unlock(&fx_lock);
	if (GM_PROBE_ENABLED(memstats))
		GM_PROBE2(memstats, m, sizeof *m);
}

/* The background thread: a memstats record every interval while traced. */
static void *
ticker(void *arg)
{
	const char *e = getenv("GOMEM_STATS_INTERVAL_MS");
	long ms = e ? atol(e) : 1000;
	int inited = 0;

	(void)arg;
	if (ms < 10)
		ms = 10;
	for (;;) {
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

		nanosleep(&ts, NULL);
		pthread_mutex_lock(&fx_lock);
		if (!inited && GM_PROBE_ENABLED(init)) {
			fill(&fx);
			GM_PROBE3(init, FIXTURE_VERSION, &fx, sizeof fx);
			inited = 1;
		}
		if (GM_PROBE_ENABLED(memstats)) {
			fill(&fx);
			GM_PROBE2(memstats, &fx, sizeof fx);
		}
		pthread_mutex_unlock(&fx_lock);
		if (GM_PROBE_ENABLED(scavenge))
			GM_PROBE2(scavenge, 65536, 1234);
		if (GM_PROBE_ENABLED(arena_grow))
			GM_PROBE2(arena_grow, &fx, 64 << 20);
	}
	return NULL;
}

__attribute__((constructor)) static void
fixture_init(void)
{
	pthread_t t;

	pthread_mutex_lock(&fx_lock);
	fill(&fx);
	pthread_mutex_unlock(&fx_lock);
	if (GM_PROBE_ENABLED(init))
		GM_PROBE3(init, FIXTURE_VERSION, &fx, sizeof fx);
	if (pthread_create(&t, NULL, ticker, NULL) == 0)
		pthread_detach(t);
}
