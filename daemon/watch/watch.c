/*
 * watch.c: which processes gomemd watches.  The only file that uses both
 * the BPF side (core/attach.c: links and the "watched" map) and the process
 * table (core/proc.c), so neither of those knows the other.
 *
 * A process is watched from its first snapshot record (a library attached
 * for all processes fired in it), from the start-up scan, or from an
 * explicit attach; it stops being watched on DELETE (muted in BPF, dropped
 * from the table) or when the sweep drops it after its exit.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/log.h"
#include "base/procfs.h"
#include "base/safefile.h"
#include "core/attach.h"
#include "core/proc.h"
#include "core/profile.h"
#include "watch/watch.h"

#define WATCH_MAX_MAPS 65536 /* lines of /proc/PID/maps read */

/*
 * Find the libgomem a process maps, from /proc/PID/maps alone: nothing the
 * process names is opened, stat()ed or followed.  A mapping whose device
 * and inode are an attached library wins (whatever its name); else the
 * first file named libgomem*.so*.  0 with *m filled (its path without any
 * " (deleted)", m->deleted set), or -1.
 */
int watch_find_library(int pid, struct safefile_map *m)
{
	char mpath[64], line[PATH_MAX + 128];
	struct safefile_map cur;
	int have_other = 0;
	unsigned lines = 0;
	FILE *f;

	snprintf(mpath, sizeof mpath, "/proc/%d/maps", pid);
	f = fopen(mpath, "re");
	if (f == NULL)
		return -1;
	/* The process's owner sets the number of lines (vm.max_map_count): the
	 * main thread reads at most as many as the symbolizer does. */
	while (lines++ < WATCH_MAX_MAPS && safefile_maps_line(f, line, sizeof line)) {
		const char *base;

		if (safefile_parse_map(line, &cur) != 0 || cur.inode == 0 || cur.path[0] != '/')
			continue;
		if (attach_is_library(makedev(cur.dev_major, cur.dev_minor), (ino_t)cur.inode)) {
			*m = cur;
			fclose(f);
			return 0;
		}
		base = strrchr(cur.path, '/') + 1;
		if (!have_other && strncmp(base, "libgomem", 8) == 0 &&
		    strstr(base, ".so") != NULL) {
			*m = cur;
			have_other = 1;
		}
	}
	fclose(f);
	return have_other ? 0 : -1;
}

/* Whether a maps line names an attached library. */
static int mapped_attached(const struct safefile_map *m)
{
	return attach_is_library(makedev(m->dev_major, m->dev_minor), (ino_t)m->inode);
}

/* Add a process to the table and watch its exit in BPF; 0 if added, 1 if known. */
static int watch_add(int pid, const char *library)
{
	int rc = proc_add(pid, library);

	attach_watch(pid);
	return rc;
}

/*
 * A snapshot record.  A pid without a live entry is added unless the user
 * detached it: records queued before DELETE muted it must not bring the
 * process back.
 */
void watch_on_snapshot(int pid, const char *comm, const struct gomem_memstats *snap, size_t len,
		       const char *version)
{
	char lib[PATH_MAX];
	struct safefile_map m;

	if (proc_on_snapshot(pid, comm, snap, len, version, 0, NULL) != PROC_UNKNOWN)
		return;
	if (attach_is_muted(pid))
		return;
	/* born from a record: which library fired it? */
	if (watch_find_library(pid, &m) != 0)
		lib[0] = '\0';
	else
		snprintf(lib, sizeof lib, "%.4000s%s", m.path, m.deleted ? " (deleted)" : "");
	if (proc_on_snapshot(pid, comm, snap, len, version, 1, lib[0] ? lib : NULL) == PROC_NEW)
		attach_watch(pid); /* a reused pid must not inherit a mute */
}

/*
 * Per-pid links on the executable of pid (named path to users): the file is
 * opened once and the links made on that descriptor, so libbpf's reading
 * of the notes and the kernel's uprobes are on the one inode, whatever the
 * process execs meanwhile (through the path, a setuid program exec'd in
 * between would get breakpoints and semaphore increments at offsets the
 * user's file chose).  A process that exec'd or ended while it was attached
 * loses the links again.  attach_pid's 0 or 1 (had: the links it had), or
 * -1 with err and errno.
 */
static int watch_attach_exe(int pid, const char *path, char *had, size_t hadlen, char *err,
			    size_t errlen)
{
	uint64_t born = procfs_start_ticks(pid);
	char fdpath[64];
	dev_t dev;
	ino_t ino;
	struct stat st;
	int fd, rc;

	fd = safefile_open_exe(pid, &dev, &ino, err, errlen);
	if (fd < 0) {
		errno = ENOENT;
		return -1;
	}
	if (attach_check_notes(fd, err, errlen) != 0) {
		close(fd);
		errno = ENOENT;
		return -1;
	}
	snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
	rc = attach_pid(pid, fdpath, path, had, hadlen);
	close(fd);
	if (rc < 0) {
		snprintf(err, errlen,
			 "process %d has no gomem USDT probes (no libgomem mapped and none in its "
			 "executable)",
			 pid);
		errno = ENOENT;
		return -1;
	}
	if (rc == 0 && (born == 0 || procfs_start_ticks(pid) != born || stat(path, &st) != 0 ||
			st.st_dev != dev || st.st_ino != ino)) {
		attach_forget(pid, 0);
		snprintf(err, errlen, "process %d exec'd or ended while it was attached", pid);
		errno = ESRCH;
		return -1;
	}
	return rc;
}

/*
 * Attach to one process.  A process mapping an attached library needs
 * nothing more than unmuting; one mapping another libgomem (or a
 * configured one deleted since) gets that very file attached for all its
 * processes (attach_mapped: opened through base/safefile.c, so a FIFO or a
 * symlink at its path is never opened); one without (libgomem linked
 * statically) gets per-pid links on its executable (watch_attach_exe).
 * 0 on success.
 */
int watch_attach(int pid, char *err, size_t errlen)
{
	char path[PATH_MAX + 64], had[PATH_MAX + 64];
	struct safefile_map m;
	int rc;

	if (!procfs_alive(pid)) {
		snprintf(err, errlen, "no process %d", pid);
		errno = ESRCH;
		return -1;
	}
	if (watch_find_library(pid, &m) == 0) {
		int was = mapped_attached(&m);

		if (!was && attach_mapped(pid, &m, err, errlen) != 0) {
			errno = ENOENT;
			return -1;
		}
		attach_unmute(pid);
		watch_add(pid, m.path);
		if (!was)
			proc_set_attached(pid, 1);
		return 0;
	}
	snprintf(path, sizeof path, "/proc/%d/exe", pid);
	rc = watch_attach_exe(pid, path, had, sizeof had, err, errlen);
	if (rc < 0)
		return -1;
	attach_unmute(pid);
	if (rc == 1) { /* attached already */
		watch_add(pid, had);
		return 0;
	}
	watch_add(pid, path);
	proc_set_attached(pid, 1);
	log_info("attached to process %d (%s)", pid, path);
	return 0;
}

/* Stop watching pid: mute it in BPF, drop its links and its entry. */
int watch_detach(int pid)
{
	attach_detach_pid(pid);
	return proc_remove(pid);
}

/* An exec unsettled this long is decided from the process's mappings. */
#define EXEC_SETTLE_NS (500 * 1000000ull)

/*
 * Settle the execs of watched processes: a new image that maps libgomem
 * keeps its entry and starts its profile afresh; one that does not (a shell, a program started
 * without LD_PRELOAD) ends the entry with How "exec", so its last profile and MemStats are kept as
 * those of a process that ended.
 */
static void settle_execs(void)
{
	struct safefile_map m;
	int *pids;
	size_t n, i;

	n = proc_exec_pending(EXEC_SETTLE_NS, &pids);
	for (i = 0; i < n; i++) {
		int has = watch_find_library(pids[i], &m) == 0;

		if (!has && !procfs_alive(pids[i]))
			continue; /* it exited meanwhile: the exit record or the sweep says so */
		proc_exec_settle(pids[i], has);
		profile_on_exec(pids[i], has);
		if (!has)
			profile_on_exit(pids[i]);
	}
	free(pids);
}

/*
 * Once a second: processes gone for the grace period leave the table and
 * the "watched" map, their profiles go, execs are settled, and libraries
 * replaced on disk get attached again.
 */
void watch_sweep(unsigned grace_s)
{
	int *dropped;
	size_t n, i;

	n = proc_sweep(grace_s, &dropped);
	for (i = 0; i < n; i++)
		attach_forget(dropped[i], 1);
	free(dropped);
	settle_execs();
	profile_sweep();
	attach_refresh();
}

/*
 * Find processes that already map libgomem: those mapping an attached
 * library are added (the kernel has raised their semaphores); those mapping
 * one from another path are only logged (attach them with POST
 * /processes/N/attach or gomem attach).  Returns how many were added.
 */
int watch_scan(void)
{
	struct safefile_map m;
	struct dirent *d;
	int n = 0, self = getpid();
	char err[256];
	DIR *dir;

	dir = opendir("/proc");
	if (dir == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		char *end;
		long pid = strtol(d->d_name, &end, 10);

		if (!isdigit((unsigned char)d->d_name[0]) || *end || pid == self ||
		    attach_is_muted((int)pid))
			continue; /* a pid the user detached stays detached */
		if (watch_find_library((int)pid, &m) != 0)
			continue;
		/*
		 * A configured library replaced on disk while this process
		 * kept the old one (a package upgrade before gomemd restarted):
		 * attach the old inode, reached through map_files.
		 */
		if (!mapped_attached(&m) && m.deleted && attach_is_configured(m.path) &&
		    attach_mapped((int)pid, &m, err, sizeof err) != 0)
			log_warnx("process %ld maps %s (deleted): %s", pid, m.path, err);
		if (mapped_attached(&m)) {
			if (watch_add((int)pid, m.path) == 0)
				n++;
		} else {
			/*
			 * Another copy of libgomem: per-pid links cost a uprobe
			 * each (and ~0.25 s each to remove), so only on request.
			 */
			log_debug("process %ld maps %s (not a configured library): "
				  "POST /processes/%ld/attach to watch it",
				  pid, m.path, pid);
		}
	}
	closedir(dir);
	return n;
}
