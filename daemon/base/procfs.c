/*
 * procfs.c: reading /proc.  See procfs.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/obuf.h"
#include "base/procfs.h"

/* Read a small file into buf (NUL-terminated); returns the length or -1. */
ssize_t procfs_read_path(const char *path, char *buf, size_t len)
{
	ssize_t n, total = 0;
	int fd;

	if (len == 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -1;
	while ((size_t)total < len - 1) {
		n = read(fd, buf + total, len - 1 - (size_t)total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += n;
	}
	close(fd);
	buf[total] = '\0';
	return total;
}

/* Read /proc/PID/name into buf. */
ssize_t procfs_read(int pid, const char *name, char *buf, size_t len)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
	return procfs_read_path(path, buf, len);
}

/* Read all of /proc/PID/name, at most max bytes. */
int procfs_read_alloc(int pid, const char *name, size_t max, char **buf, size_t *len)
{
	char path[64], chunk[4096];
	struct obuf b;
	ssize_t n = 0;
	int fd, err;

	snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	obuf_init(&b, 256);
	while (b.len < max) {
		size_t want = max - b.len < sizeof chunk ? max - b.len : sizeof chunk;

		n = read(fd, chunk, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		obuf_add(&b, chunk, (size_t)n);
	}
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err != 0) {
		obuf_free(&b);
		return err;
	}
	*buf = obuf_take(&b, len);
	return *buf == NULL ? -ENOMEM : 0;
}

/* The owner of /proc/PID (the process's effective uid; root for one that is
 * not dumpable); 0, or -1 if it is gone. */
int procfs_owner(int pid, uid_t *uid)
{
	char path[32];
	struct stat st;

	snprintf(path, sizeof path, "/proc/%d", pid);
	if (stat(path, &st) != 0)
		return -1;
	*uid = st.st_uid;
	return 0;
}

/*
 * The real uid of a process (the first field of Uid: in its status): who
 * ran it, where /proc/PID's owner is its effective uid (root for a
 * setuid-root program a user ran); 0, or -1.
 */
int procfs_real_uid(int pid, uid_t *uid)
{
	char buf[2048], *p;
	ssize_t n = procfs_read(pid, "status", buf, sizeof buf - 1);
	unsigned long v;
	char *end;

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "\nUid:");
	if (p == NULL)
		return -1;
	v = strtoul(p + 5, &end, 10);
	if (end == p + 5 || v > (uid_t)-1)
		return -1;
	*uid = (uid_t)v;
	return 0;
}

/* Whether a process exists. */
int procfs_alive(int pid)
{
	char path[64];
	struct stat st;

	/* not access(2): it drops the capabilities of a non-root uid, and
	 * under hidepid=invisible only CAP_SYS_PTRACE shows other users' pids */
	snprintf(path, sizeof path, "/proc/%d", pid);
	return stat(path, &st) == 0;
}

/* A process's start time in clock ticks since boot, 0 if gone or a zombie. */
uint64_t procfs_start_ticks(int pid)
{
	char buf[1024], *p;
	unsigned long long v = 0;
	int field;

	if (procfs_read(pid, "stat", buf, sizeof buf) <= 0)
		return 0;
	p = strrchr(buf, ')'); /* comm may hold ") " itself: the last one ends it */
	if (p == NULL || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return 0;
	/* after ") " comes field 3 (state); starttime is field 22 */
	for (field = 3, p += 2; field < 22 && *p; p++)
		if (*p == ' ')
			field++;
	if (sscanf(p, "%llu", &v) != 1)
		return 0;
	return v;
}

/* A process's comm (thread-group leader's name). */
int procfs_comm(int pid, char *buf, size_t len)
{
	ssize_t n = procfs_read(pid, "comm", buf, len);

	if (n <= 0)
		return -1;
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return 0;
}

/* Resident set size in bytes, 0 if unknown. */
uint64_t procfs_rss(int pid)
{
	static long page_size;
	unsigned long long size, resident;
	char buf[256];
	long ps;

	if (procfs_read(pid, "statm", buf, sizeof buf) <= 0)
		return 0;
	if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return 0;
	ps = __atomic_load_n(&page_size, __ATOMIC_RELAXED);
	if (ps == 0) {
		ps = sysconf(_SC_PAGESIZE);
		__atomic_store_n(&page_size, ps, __ATOMIC_RELAXED);
	}
	return resident * (uint64_t)ps;
}
