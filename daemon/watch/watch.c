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
#include <unistd.h>

#include "base/log.h"
#include "base/procfs.h"
#include "core/attach.h"
#include "core/proc.h"
#include "core/profile.h"
#include "watch/watch.h"

/*
 * Find the libgomem a process maps: a mapped file with the inode of an
 * attached library, else one named libgomem*.so*.  Fills its path (as the
 * process sees it) and the inode as stat() reports it from here.
 */
int watch_find_library(int pid, char *path, size_t len, dev_t *dev, ino_t *ino)
{
	char mpath[64], line[PATH_MAX + 128], other[PATH_MAX] = "";
	dev_t odev = 0;
	ino_t oino = 0;
	FILE *f;

	snprintf(mpath, sizeof mpath, "/proc/%d/maps", pid);
	f = fopen(mpath, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		char full[PATH_MAX + 64], *file, *base;
		unsigned long long inode;
		struct stat st;
		size_t n;

		file = strchr(line, '/');
		if (file == NULL || sscanf(line, "%*s %*s %*s %*s %llu", &inode) != 1 || inode == 0)
			continue;
		n = strlen(file);
		if (n > 0 && file[n - 1] == '\n')
			file[--n] = '\0';
		base = strrchr(file, '/') + 1;
		if (strncmp(base, "libgomem", 8) != 0 || strstr(base, ".so") == NULL) {
			/* any name: the inode of an attached library? */
			snprintf(full, sizeof full, "/proc/%d/root%s", pid, file);
			if (stat(full, &st) != 0 || st.st_ino != (ino_t)inode ||
			    !attach_is_library(st.st_dev, st.st_ino))
				continue;
		} else {
			snprintf(full, sizeof full, "/proc/%d/root%s", pid, file);
			if (stat(full, &st) != 0)
				continue;
			if (!attach_is_library(st.st_dev, st.st_ino)) {
				if (other[0] == '\0') {
					snprintf(other, sizeof other, "%s", file);
					odev = st.st_dev;
					oino = st.st_ino;
				}
				continue;
			}
		}
		snprintf(path, len, "%s", file);
		*dev = st.st_dev;
		*ino = st.st_ino;
		fclose(f);
		return 0;
	}
	fclose(f);
	if (other[0] == '\0')
		return -1;
	snprintf(path, len, "%s", other);
	*dev = odev;
	*ino = oino;
	return 0;
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
	dev_t dev;
	ino_t ino;

	if (proc_on_snapshot(pid, comm, snap, len, version, 0, NULL) != PROC_UNKNOWN)
		return;
	if (attach_is_muted(pid))
		return;
	/* born from a record: which library fired it? */
	if (watch_find_library(pid, lib, sizeof lib, &dev, &ino) != 0)
		lib[0] = '\0';
	if (proc_on_snapshot(pid, comm, snap, len, version, 1, lib[0] ? lib : NULL) == PROC_NEW)
		attach_watch(pid); /* a reused pid must not inherit a mute */
}

/*
 * Attach to one process.  A process mapping an attached library needs
 * nothing more than unmuting; otherwise its libgomem (or, when none is
 * mapped, its executable) gets per-pid links.  0 on success.
 */
int watch_attach(int pid, char *err, size_t errlen)
{
	char lib[PATH_MAX], path[PATH_MAX + 64], had[PATH_MAX + 64];
	const char *name;
	dev_t dev;
	ino_t ino;
	int found, rc;

	if (!procfs_alive(pid)) {
		snprintf(err, errlen, "no process %d", pid);
		errno = ESRCH;
		return -1;
	}
	found = watch_find_library(pid, lib, sizeof lib, &dev, &ino) == 0;
	if (found && attach_is_library(dev, ino)) {
		attach_unmute(pid);
		watch_add(pid, lib);
		return 0;
	}
	if (found)
		snprintf(path, sizeof path, "/proc/%d/root%s", pid, lib);
	else
		snprintf(path, sizeof path, "/proc/%d/exe", pid);
	name = found ? lib : path;
	rc = attach_pid(pid, path, name, had, sizeof had);
	if (rc < 0) {
		snprintf(err, errlen, "process %d has no gomem USDT probes (%s)", pid,
			 found ? lib : "no libgomem mapped and none in its executable");
		errno = ENOENT;
		return -1;
	}
	attach_unmute(pid);
	if (rc == 1) { /* attached already */
		watch_add(pid, had);
		return 0;
	}
	watch_add(pid, name);
	proc_set_attached(pid, 1);
	log_info("attached to process %d (%s)", pid, name);
	return 0;
}

/* Stop watching pid: mute it in BPF, drop its links and its entry. */
int watch_detach(int pid)
{
	attach_detach_pid(pid);
	return proc_remove(pid);
}

/*
 * Once a second: processes gone for the grace period leave the table and
 * the "watched" map, their profiles go, and libraries replaced on disk get
 * attached again.
 */
void watch_sweep(unsigned grace_s)
{
	int *dropped;
	size_t n, i;

	n = proc_sweep(grace_s, &dropped);
	for (i = 0; i < n; i++)
		attach_forget(dropped[i]);
	free(dropped);
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
	char path[PATH_MAX];
	struct dirent *d;
	int n = 0, self = getpid();
	dev_t dev;
	ino_t ino;
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
		if (watch_find_library((int)pid, path, sizeof path, &dev, &ino) != 0)
			continue;
		if (attach_is_library(dev, ino)) {
			if (watch_add((int)pid, path) == 0)
				n++;
		} else {
			/*
			 * Another copy of libgomem: per-pid links cost a uprobe
			 * each (and ~0.25 s each to remove), so only on request.
			 */
			log_debug("process %ld maps %s (not a configured library): "
				  "POST /processes/%ld/attach to watch it",
				  pid, path, pid);
		}
	}
	closedir(dir);
	return n;
}
