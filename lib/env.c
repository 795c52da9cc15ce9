/*
 * env.c: options from the environment, read once at start without malloc.
 *
 *   GOMEMLIMIT=N[B|KiB|MiB|GiB|TiB] | off    soft memory limit (Go's syntax)
 *   GOMEMDEBUG=key=value,...                  like GODEBUG:
 *       scavenge=0      no background scavenger
 *       scavtrace=1     one line per scavenger cycle on stderr
 *       check=1         heap invariant walk on every snapshot
 *       exitstats=1     malloc_stats' text on stderr at exit
 *       scavwindow=MS   window of the in-use peak the goal follows (default 100)
 *       scavage=MS      how long a free run stays idle before release (150)
 *       cgroup=0        do not derive the soft limit from the memory cgroup
 *       safelink=1      masked, checked free-list links, double frees found
 *                       at free (slow paths only)
 *       ownspans=N      caches own spans of classes up to N bytes (0: none,
 *                       frees stay with the freeing thread)
 *       populate=0      fresh pages of small-object spans fault in on
 *                       touch, not 64 KiB at a time (mheap.c)
 *       sampspans=1     sampled small blocks get spans of their own
 *                       (mprof.c, "Sampled blocks")
 *   GOMEM_PROFILE_RATE=N                      bytes per allocation sample
 *                                             (default 524288, 0 = off)
 *   GOMEM_STATS_INTERVAL_MS=N                 memstats probe interval
 *                                             (default 1000, minimum 10)
 *
 * A malformed value is reported once on stderr and ignored.
 */
#include "internal.h"

#include <sys/auxv.h>

#include <stdlib.h>
#include <string.h>

gm_options gm_opt = {
    .memory_limit = INT64_MAX,
    .cgroup = true,
    .scavenge = true,
    .scavthread = true,
    .populate = true,
    .ownspans = GM_OWNSPANS_DEFAULT,
    .stats_interval_ns = 1000000000u,
    .release_delay_ns = 100000000u,
    .profile_rate = 512 * 1024,
    .scav_age_ns = 150000000u,
    .scav_delay_ns = GM_SCAV_DELAY_NS,
    .init_repeat_ns = 30000000000u,
};

/*
 * getenv without surprises: it only scans environ, never allocates.  In a
 * secure-execution program (setuid, setgid or file capabilities: AT_SECURE)
 * nothing is read, as glibc ignores MALLOC_* there: the caller's
 * environment must not set the limit, the checks or the traces of a
 * program that runs with more privilege than the caller has.
 */
const char *gm_getenv(const char *name)
{
	if (getauxval(AT_SECURE) != 0)
		return NULL;
	return getenv(name);
}

static void gm_env_warn(const char *name, const char *value)
{
	gm_write_str(2, "gomem: ignoring malformed ");
	gm_write_str(2, name);
	gm_write_str(2, "=");
	gm_write_str(2, value);
	gm_write_str(2, "\n");
}

/* Parse a decimal number of at most 19 digits; advance *s. */
static int gm_parse_u64(const char **s, uint64_t *out)
{
	uint64_t v = 0;
	int n = 0;

	while (**s >= '0' && **s <= '9') {
		if (n++ == 19)
			return -1;
		v = v * 10 + (uint64_t)(**s - '0');
		(*s)++;
	}
	if (n == 0)
		return -1;
	*out = v;
	return 0;
}

/* Parse Go's GOMEMLIMIT syntax into bytes; INT64_MAX for "off". */
int gm_parse_bytes(const char *s, int64_t *out)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} units[] = {{"", 0}, {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}};
	uint64_t v;
	size_t i;

	if (strcmp(s, "off") == 0) {
		*out = INT64_MAX;
		return 0;
	}
	if (gm_parse_u64(&s, &v) != 0)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s, units[i].suffix) == 0) {
			if (units[i].shift && v > (UINT64_C(1) << (63 - units[i].shift)) - 1)
				return -1;
			v <<= units[i].shift;
			if (v > INT64_MAX)
				return -1;
			*out = (int64_t)v;
			return 0;
		}
	}
	return -1;
}

/* Apply one GOMEMDEBUG key=value pair (not NUL-terminated: len bytes). */
static int gm_env_debug_pair(const char *p, size_t len)
{
	const char *eq = memchr(p, '=', len);
	const char *v;
	uint64_t n;
	size_t klen;

	if (eq == NULL)
		return -1;
	klen = (size_t)(eq - p);
	v = eq + 1;
	if (gm_parse_u64(&v, &n) != 0 || v != p + len)
		return -1;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(p, k, klen) == 0)
	if (KEY("scavenge"))
		gm_opt.scavenge = n != 0;
	else if (KEY("scavthread"))
		gm_opt.scavthread = n != 0;
	else if (KEY("scavtrace"))
		gm_opt.scavtrace = n != 0;
	else if (KEY("check"))
		gm_opt.check = n != 0;
	else if (KEY("exitstats"))
		gm_opt.exitstats = n != 0;
	else if (KEY("scavwindow")) /* 10 ms to an hour: 0 made the thread spin */
		gm_opt.release_delay_ns = (n < 10 ? 10 : n > 3600000u ? 3600000u : n) * 1000000u;
	else if (KEY("scavage"))
		gm_opt.scav_age_ns = (n > 3600000u ? 3600000u : n) * 1000000u;
	else if (KEY("scavdelay"))
		gm_opt.scav_delay_ns = (n > 3600000u ? 3600000u : n) * 1000000u;
	else if (KEY("initrepeat"))
		gm_opt.init_repeat_ns = (n > 3600000u ? 3600000u : n) * 1000000u;
	else if (KEY("cgroup"))
		gm_opt.cgroup = n != 0;
	else if (KEY("safelink"))
		gm_opt.safelink = n != 0;
	else if (KEY("populate"))
		gm_opt.populate = n != 0;
	else if (KEY("sampspans"))
		gm_opt.sampspans = n != 0;
	else if (KEY("ownspans"))
		gm_opt.ownspans = n > GM_MAX_SMALL ? GM_MAX_SMALL : (uint32_t)n;
	else
		return -1;
#undef KEY
	return 0;
}

/* Read the environment into gm_opt. */
void gm_env_init(void)
{
	const char *v;

	if ((v = gm_getenv("GOMEMLIMIT")) != NULL && *v != 0) {
		int64_t lim;

		if (gm_parse_bytes(v, &lim) == 0) {
			/* Go's 0 is a limit (of nothing): 0 means none here. */
			gm_opt.memory_limit = lim == 0 ? 1 : lim;
			gm_opt.memory_limit_set = true;
		} else
			gm_env_warn("GOMEMLIMIT", v);
	}
	if ((v = gm_getenv("GOMEMDEBUG")) != NULL && *v != 0) {
		const char *p = v;
		bool bad = false;

		while (*p != 0) {
			const char *e = strchr(p, ',');
			size_t len = e ? (size_t)(e - p) : strlen(p);

			if (len > 0 && gm_env_debug_pair(p, len) != 0)
				bad = true;
			p += len;
			if (*p == ',')
				p++;
		}
		if (bad)
			gm_env_warn("GOMEMDEBUG", v);
	}
	if ((v = gm_getenv("GOMEM_PROFILE_RATE")) != NULL && *v != 0) {
		const char *p = v;
		uint64_t r;

		/* gomem_set_profile_rate's int64_t, as Go's int MemProfileRate. */
		if (gm_parse_u64(&p, &r) == 0 && *p == 0 && r <= INT64_MAX)
			gm_opt.profile_rate = r;
		else
			gm_env_warn("GOMEM_PROFILE_RATE", v);
	}
	if ((v = gm_getenv("GOMEM_STATS_INTERVAL_MS")) != NULL && *v != 0) {
		const char *p = v;
		uint64_t ms;

		if (gm_parse_u64(&p, &ms) == 0 && *p == 0 && ms > 0 && ms < 86400000u) {
			if (ms < 10)
				ms = 10;
			gm_opt.stats_interval_ns = ms * 1000000u;
		} else {
			gm_env_warn("GOMEM_STATS_INTERVAL_MS", v);
		}
	}
}
