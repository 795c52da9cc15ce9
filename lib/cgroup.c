/*
 * cgroup.c: the soft memory limit follows the process's memory cgroup.
 *
 * A process in a memory cgroup is OOM-killed when the cgroup's memory passes
 * its hard limit, whatever the allocator holds idle.  So unless GOMEMLIMIT
 * (or gomem_set_memory_limit) says otherwise, the soft limit is derived from
 * the cgroup:
 *
 *   cgroup v1  memory.limit_in_bytes
 *   cgroup v2  memory.max, and memory.high (past which the kernel throttles)
 *
 * the smallest over the process's cgroup and its ancestors up to the root of
 * the mount (a limit on a parent binds its children).  Values of 2^62 and
 * more ("max", or v1's LONG_MAX rounded to a page) mean no limit.
 *
 * Headroom rule: the cgroup charges everything the process uses (code,
 * stacks, page cache, kernel memory, metadata outside the heap), while the
 * soft limit bounds retained heap pages (HeapSys - HeapReleased).  So the
 * soft limit is the cgroup limit minus 10% of it or 8 MiB, whichever is
 * more, but never less than half the cgroup limit: 256 MiB gives 230.4 MiB,
 * 64 MiB gives 56 MiB.  The scavenger then keeps retained memory under 95%
 * of that, and works at full pace with no age rule while above it.
 *
 * Where: the memory hierarchy's line of /proc/self/cgroup (v1: the line
 * naming "memory"; v2: the "0::" line, used only when no v1 hierarchy has
 * the memory controller) gives the path; the matching mount in
 * /proc/self/mountinfo (its root and mount point) turns it into a
 * directory.  This is found once, not at start (reading those /proc files
 * and a limit file per level took 0.15-0.2 ms of every process start), but
 * by the first of: the scavenger thread, GM_CGROUP_FIRST_NS (20 ms) after
 * it starts (the only user of the limit while the program runs: a process
 * that ends sooner never reads the files), a reader of the statistics
 * (MemoryLimit and its source must be right when first read), or
 * gomem_set_memory_limit (which returns the previous limit).  gm_cgroup_ensure runs the
 * discovery; it is called without any gomem lock held (it takes
 * gm_heap.lock to publish what it found).  The scavenger thread then
 * re-reads the limit files every GM_CGROUP_POLL_NS, so a changed limit is
 * followed within about half a second.
 *
 * Nothing here allocates: files are read with open/read/close into stack
 * buffers, and the directory is kept in static storage written once by the
 * discovery under gm_heap.lock and read only after gm_cg_found says so.
 * The applied limit and its source live in gm_heap under gm_heap.lock.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define GM_CG_LINE	   4096
#define GM_CG_UNLIMITED	   (UINT64_C(1) << 62)
#define GM_CG_HEADROOM_MIN ((uint64_t)8 << 20)

/* The process's memory cgroup, written once by gm_cgroup_ensure. */
static struct {
	char dir[GM_CG_PATH]; /* its directory */
	size_t mntlen;	      /* length of the mount point at the start of dir */
	int version;	      /* 1, 2, or 0 when there is none */
} gm_cg;

/* ---- Reading files without malloc ---- */

/*
 * A line reader over an open file: calls fn for every complete line (without
 * its newline) until fn returns nonzero.  Lines longer than the buffer are
 * skipped.  Returns fn's nonzero value, 0 at the end, -1 if the file failed.
 */
static int gm_cg_lines(const char *path, int (*fn)(char *line, void *arg), void *arg)
{
	char buf[GM_CG_LINE];
	size_t have = 0;
	bool skipping = false;
	int fd, rc = 0;

	fd = gm_sys_open(path);
	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t r = gm_sys_read(fd, buf + have, sizeof(buf) - 1 - have);
		char *p, *nl;

		if (r <= 0)
			break;
		have += (size_t)r;
		buf[have] = 0;
		p = buf;
		while ((nl = memchr(p, '\n', have - (size_t)(p - buf))) != NULL) {
			*nl = 0;
			if (!skipping && (rc = fn(p, arg)) != 0)
				goto out;
			skipping = false;
			p = nl + 1;
		}
		have -= (size_t)(p - buf);
		memmove(buf, p, have);
		if (have == sizeof(buf) - 1) {
			/* A line longer than the buffer: drop it to its end. */
			skipping = true;
			have = 0;
		}
	}
	if (have > 0 && !skipping) {
		buf[have] = 0;
		rc = fn(buf, arg);
	}
out:
	gm_sys_close(fd);
	return rc;
}

/* ---- Finding the cgroup ---- */

struct gm_cg_find {
	char path[GM_CG_PATH]; /* the cgroup's path in its hierarchy */
	int version;	       /* 1 or 2 once found */
	char *dir;	       /* out: the cgroup's directory */
	size_t dirlen;
	size_t *mntlen; /* out: length of the mount point in dir */
};

/* Does the comma-separated list have the word w? */
static bool gm_cg_has_word(const char *list, size_t len, const char *w)
{
	size_t wl = strlen(w), i = 0;

	while (i < len) {
		size_t j = i;

		while (j < len && list[j] != ',')
			j++;
		if (j - i == wl && memcmp(list + i, w, wl) == 0)
			return true;
		i = j + 1;
	}
	return false;
}

/* One line of /proc/self/cgroup: "id:controllers:path".  The path is
 * written unescaped, but the kernel refuses a cgroup name with a newline
 * (mkdir fails with EINVAL, v1 and v2), so a line is a whole entry. */
static int gm_cg_proc_line(char *line, void *arg)
{
	struct gm_cg_find *f = arg;
	char *c1 = strchr(line, ':'), *c2;
	size_t plen;

	if (c1 == NULL || (c2 = strchr(c1 + 1, ':')) == NULL)
		return 0;
	plen = strlen(c2 + 1);
	if (plen >= sizeof(f->path) || c2[1] != '/')
		return 0;
	if (gm_cg_has_word(c1 + 1, (size_t)(c2 - c1 - 1), "memory")) {
		memcpy(f->path, c2 + 1, plen + 1);
		f->version = 1;
		return 1; /* v1 memory hierarchy: it is the one */
	}
	if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1 && f->version == 0) {
		memcpy(f->path, c2 + 1, plen + 1);
		f->version = 2; /* unless a v1 line names memory later */
	}
	return 0;
}

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void gm_cg_unescape(char *s)
{
	char *d = s;

	while (*s != 0) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = 0;
}

/*
 * One line of /proc/self/mountinfo:
 *   id parent major:minor root mountpoint options [optional...] - fstype source superopts
 */
static int gm_cg_mount_line(char *line, void *arg)
{
	struct gm_cg_find *f = arg;
	char *field[6], *p = line, *fstype, *superopts, *sep;
	size_t i, rlen, mlen, rest;

	for (i = 0; i < 6; i++) {
		while (*p == ' ')
			p++;
		if (*p == 0)
			return 0;
		field[i] = p;
		while (*p != ' ' && *p != 0)
			p++;
		if (*p == ' ')
			*p++ = 0;
	}
	sep = strstr(p, " - ");
	if (sep == NULL) {
		if (strncmp(p, "- ", 2) != 0)
			return 0;
		sep = p - 1;
	}
	fstype = sep + 3;
	p = strchr(fstype, ' ');
	if (p == NULL)
		return 0;
	*p++ = 0;
	p = strchr(p, ' '); /* past the source */
	superopts = p != NULL ? p + 1 : (char *)"";
	if (f->version == 1) {
		if (strcmp(fstype, "cgroup") != 0 ||
		    !gm_cg_has_word(superopts, strlen(superopts), "memory"))
			return 0;
	} else if (strcmp(fstype, "cgroup2") != 0) {
		return 0;
	}
	gm_cg_unescape(field[3]);
	gm_cg_unescape(field[4]);
	/* The cgroup must lie under the mount's root: strip the root. */
	rlen = strlen(field[3]);
	if (rlen == 1 && field[3][0] == '/')
		rlen = 0;
	if (strncmp(f->path, field[3], rlen) != 0 || (f->path[rlen] != '/' && f->path[rlen] != 0))
		return 0;
	mlen = strlen(field[4]);
	rest = strlen(f->path + rlen);
	if (mlen + rest + 1 > f->dirlen)
		return 0;
	memcpy(f->dir, field[4], mlen);
	memcpy(f->dir + mlen, f->path + rlen, rest + 1);
	/* Drop a trailing slash (the path "/" of the root cgroup). */
	if (mlen + rest > 1 && f->dir[mlen + rest - 1] == '/')
		f->dir[mlen + rest - 1] = 0;
	*f->mntlen = mlen;
	return 1;
}

/*
 * Find the memory cgroup's directory from a cgroup file and a mountinfo
 * file (normally /proc/self/...).  Returns 1 or 2 (the version) with dir and
 * *mntlen (the mount point's length in dir) set, or 0 when there is none.
 */
int gm_cgroup_find(const char *proc_cgroup, const char *mountinfo, char *dir, size_t dirlen,
		   size_t *mntlen)
{
	struct gm_cg_find f;

	memset(&f, 0, sizeof(f));
	f.dir = dir;
	f.dirlen = dirlen;
	f.mntlen = mntlen;
	if (gm_cg_lines(proc_cgroup, gm_cg_proc_line, &f) < 0 || f.version == 0)
		return 0;
	if (gm_cg_lines(mountinfo, gm_cg_mount_line, &f) != 1)
		return 0;
	return f.version;
}

/* ---- Reading the limit ---- */

/* A limit file's value in bytes; UINT64_MAX for none, missing or malformed. */
static uint64_t gm_cg_value(char *path, size_t plen, const char *file)
{
	char buf[64];
	size_t flen = strlen(file);
	uint64_t v = 0;
	ssize_t n;
	char *p;

	if (plen + flen + 2 > GM_CG_PATH)
		return UINT64_MAX;
	path[plen] = '/';
	memcpy(path + plen + 1, file, flen + 1);
	n = gm_read_small(path, buf, sizeof(buf));
	path[plen] = 0;
	if (n <= 0)
		return UINT64_MAX;
	if (strncmp(buf, "max", 3) == 0 && (buf[3] == '\n' || buf[3] == 0))
		return UINT64_MAX;
	for (p = buf; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return UINT64_MAX;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == buf || (*p != '\n' && *p != 0) || v >= GM_CG_UNLIMITED)
		return UINT64_MAX;
	return v != 0 ? v : 1; /* 0 is the tightest limit; 0 means none here */
}

/*
 * The smallest limit over the cgroup directory dir (version 1 or 2) and its
 * ancestors down to mntlen bytes (the mount point): bytes, 0 for none, with
 * *source set to the file that gave it (GOMEM_LIMIT_CGROUP_*).
 */
uint64_t gm_cgroup_read_limit(const char *dir, size_t mntlen, int version, unsigned *source)
{
	char path[GM_CG_PATH];
	size_t len = strlen(dir);
	uint64_t best = UINT64_MAX, v;

	*source = GOMEM_LIMIT_NONE;
	if (len >= sizeof(path) || mntlen > len)
		return 0;
	memcpy(path, dir, len + 1);
	for (;;) {
		if (version == 1) {
			v = gm_cg_value(path, len, "memory.limit_in_bytes");
			if (v < best) {
				best = v;
				*source = GOMEM_LIMIT_CGROUP_V1;
			}
		} else {
			v = gm_cg_value(path, len, "memory.max");
			if (v < best) {
				best = v;
				*source = GOMEM_LIMIT_CGROUP_MAX;
			}
			v = gm_cg_value(path, len, "memory.high");
			if (v < best) {
				best = v;
				*source = GOMEM_LIMIT_CGROUP_HIGH;
			}
		}
		if (len <= mntlen)
			break; /* read the mount point's own files last */
		/* Up one level: drop the last component and its slash. */
		while (len > mntlen && path[len - 1] != '/')
			len--;
		if (len > mntlen)
			len--;
		path[len] = 0;
	}
	return best == UINT64_MAX ? 0 : best;
}

/* The soft limit for a cgroup limit: the headroom rule at the top. */
uint64_t gm_cgroup_soft_limit(uint64_t cg)
{
	uint64_t room = cg / 10 > GM_CG_HEADROOM_MIN ? cg / 10 : GM_CG_HEADROOM_MIN;

	if (room > cg / 2)
		room = cg / 2;
	return cg - room;
}

/* ---- The process's cgroup ---- */

/* Apply a cgroup limit read just now, unless the limit was set otherwise (lock held). */
static void gm_cgroup_apply_locked(uint64_t cg, unsigned source)
{
	gm_heap.cgroup_limit = cg;
	if (gm_heap.limit_source != GOMEM_LIMIT_ENV && gm_heap.limit_source != GOMEM_LIMIT_API) {
		uint64_t soft = cg != 0 ? gm_cgroup_soft_limit(cg) : 0;

		atomic_store_explicit(&gm_heap.limit, soft, memory_order_relaxed);
		gm_heap.limit_source = cg != 0 ? source : GOMEM_LIMIT_NONE;
	}
}

/*
 * Set the soft limit from the program (gomem_set_memory_limit): bytes, 0 or
 * INT64_MAX for none, negative to only ask.  Returns the previous limit,
 * INT64_MAX for none.  An explicit limit ends following the cgroup.
 */
int64_t gm_set_memory_limit(int64_t limit)
{
	uint64_t old;

	gm_ensure_init();
	gm_cgroup_ensure(); /* the previous limit may be the cgroup's */
	gm_lock_acquire(&gm_heap.lock);
	old = atomic_load_explicit(&gm_heap.limit, memory_order_relaxed);
	if (limit >= 0) {
		/* 0 is Go's tightest limit; 0 means none here, so it is kept as 1. */
		atomic_store_explicit(&gm_heap.limit,
				      limit == INT64_MAX ? 0 : limit == 0 ? 1 : (uint64_t)limit,
				      memory_order_relaxed);
		gm_heap.limit_source = GOMEM_LIMIT_API;
	}
	gm_lock_release(&gm_heap.lock);
	if (limit >= 0)
		gm_scav_wake();
	return old != 0 ? (int64_t)old : INT64_MAX;
}

/* 1 once gm_cg is written (release; read with acquire). */
static _Atomic int gm_cg_found;

/*
 * Find the cgroup once, unless GOMEMDEBUG cgroup=0; no gomem lock held.
 * Callers that race both read the files (the same answer) and the first to
 * take gm_heap.lock publishes it.  Nobody waits for another thread, so a
 * fork while a discovery runs elsewhere leaves the child to do its own
 * (a pthread_once would stay "in progress" there for ever).
 */
void gm_cgroup_ensure(void)
{
	char dir[GM_CG_PATH];
	size_t mntlen = 0;
	unsigned source = 0;
	uint64_t cg = 0;
	int version;

	if (!gm_opt.cgroup || atomic_load_explicit(&gm_cg_found, memory_order_acquire))
		return;
	version =
	    gm_cgroup_find("/proc/self/cgroup", "/proc/self/mountinfo", dir, sizeof(dir), &mntlen);
	if (version != 0)
		cg = gm_cgroup_read_limit(dir, mntlen, version, &source);
	gm_lock_acquire(&gm_heap.lock);
	if (!atomic_load_explicit(&gm_cg_found, memory_order_relaxed)) {
		if (version != 0) {
			memcpy(gm_cg.dir, dir, sizeof(dir));
			gm_cg.mntlen = mntlen;
			gm_cg.version = version;
			gm_cgroup_apply_locked(cg, source);
		}
		atomic_store_explicit(&gm_cg_found, 1, memory_order_release);
	}
	gm_lock_release(&gm_heap.lock);
}

/* Does the scavenger thread need to poll the cgroup?  Finds it first. */
bool gm_cgroup_following(void)
{
	unsigned src;

	gm_cgroup_ensure();
	if (gm_cg.version == 0)
		return false;
	gm_lock_acquire(&gm_heap.lock);
	src = gm_heap.limit_source;
	gm_lock_release(&gm_heap.lock);
	return src != GOMEM_LIMIT_ENV && src != GOMEM_LIMIT_API;
}

/* From the scavenger thread: re-read the limit and follow it. */
void gm_cgroup_poll(void)
{
	unsigned source;
	uint64_t cg;

	if (gm_cg.version == 0)
		return;
	cg = gm_cgroup_read_limit(gm_cg.dir, gm_cg.mntlen, gm_cg.version, &source);
	gm_lock_acquire(&gm_heap.lock);
	gm_cgroup_apply_locked(cg, source);
	gm_lock_release(&gm_heap.lock);
}
