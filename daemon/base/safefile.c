/*
 * safefile.c: opening a file that a watched process names, safely.
 *
 * See safefile.h for the threat.  Two ways in, tried in this order:
 *
 *   1. /proc/PID/map_files/START-END: the kernel's own link to the file
 *      mapped there, deleted or not.  Nothing the user does to the path
 *      changes what it refers to.  Following it needs CAP_SYS_ADMIN (or
 *      CAP_CHECKPOINT_RESTORE) and ptrace access to PID.
 *   2. The path, resolved beneath /proc/PID/root by openat2() with
 *      RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS.
 *
 * Both give an O_PATH descriptor first: the file is not opened, so neither
 * a FIFO nor a device can block or act.  It is fstat()ed, and only once it
 * is known to be the regular file of the maps line is it reopened for
 * reading through /proc/self/fd.
 *
 * Either way the result must be a regular file with the device and inode
 * of the maps line, and it is opened O_NONBLOCK | O_NOCTTY | O_CLOEXEC.
 * Reads are bounded: safefile_read_all() refuses files above a caller's
 * limit.  Nothing here takes a lock; none of it can sleep on the target.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "safefile.h"

/* ---- maps lines ---- */

/* Parse a hex number ending at a delimiter; advance *p past it. */
static int parse_hex(const char **p, char delim, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	int n = 0;

	for (; *s != delim; s++, n++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return -1;
		if (n == 16)
			return -1; /* more than 64 bits */
		x = x << 4 | (uint64_t)d;
	}
	if (n == 0)
		return -1;
	*v = x;
	*p = s + 1;
	return 0;
}

/* Parse a decimal number ending at a space; advance *p past it. */
static int parse_dec(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (x > (UINT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	if (*s != ' ' && *s != '\0' && *s != '\n')
		return -1;
	*v = x;
	*p = s;
	return 0;
}

/*
 * Parse one line of /proc/PID/maps:
 *   START-END PERMS OFFSET MAJOR:MINOR INODE [PATH]
 * 0 on success, -1 if the line is malformed.
 */
int safefile_parse_map(const char *line, struct safefile_map *m)
{
	const char *p = line;
	uint64_t major, minor;
	size_t n;

	memset(m, 0, sizeof *m);
	if (parse_hex(&p, '-', &m->start) != 0 || parse_hex(&p, ' ', &m->end) != 0 ||
	    m->end <= m->start)
		return -1;
	for (n = 0; n < 4; n++) {
		if (p[n] == '\0' || p[n] == ' ')
			return -1;
		m->perms[n] = p[n];
	}
	p += 4;
	if (*p++ != ' ')
		return -1;
	if (parse_hex(&p, ' ', &m->offset) != 0 || parse_hex(&p, ':', &major) != 0 ||
	    parse_hex(&p, ' ', &minor) != 0 || major > 0xfff || minor > 0xfffff)
		return -1;
	m->dev_major = (unsigned)major;
	m->dev_minor = (unsigned)minor;
	if (parse_dec(&p, &m->inode) != 0)
		return -1;
	while (*p == ' ')
		p++;
	n = strcspn(p, "\n");
	if (n >= sizeof m->path)
		return -1;
	memcpy(m->path, p, n);
	m->path[n] = '\0';
	if (n > 10 && strcmp(m->path + n - 10, " (deleted)") == 0) {
		m->deleted = 1;
		m->path[n - 10] = '\0';
	}
	return 0;
}

/*
 * Read the next whole line of /proc/PID/maps into line (cap bytes): 1, or
 * 0 at the end.  A line that does not fit (the kernel prints a path up to
 * 4095 bytes, each newline in it as four) is dropped whole: read in pieces,
 * its tail, which the path's owner wrote, would parse as a line of its own,
 * with the range, inode and path they chose.
 */
int safefile_maps_line(FILE *f, char *line, size_t cap)
{
	int c;

	while (fgets(line, (int)cap, f) != NULL) {
		size_t n = strlen(line);

		if (n > 0 && line[n - 1] == '\n')
			return 1;
		/* Too long, or cut at the end of the file: skip to its end. */
		while ((c = getc(f)) != EOF && c != '\n')
			;
	}
	return 0;
}

/* ---- opening ---- */

/*
 * Whether an open descriptor is the regular file the maps line names.  0 if
 * so, else -1 with err saying what it is instead.
 */
int safefile_check(int fd, const struct safefile_map *m, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: fstat: %s", m->path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file but %s", m->path,
			 S_ISLNK(st.st_mode)			      ? "a symbolic link"
			 : S_ISFIFO(st.st_mode)			      ? "a FIFO"
			 : S_ISDIR(st.st_mode)			      ? "a directory"
			 : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
								      : "a socket");
		return -1;
	}
	if (major(st.st_dev) != m->dev_major || minor(st.st_dev) != m->dev_minor ||
	    (uint64_t)st.st_ino != m->inode) {
		snprintf(err, errlen,
			 "%s: is %u:%u inode %" PRIu64 ", the process maps %u:%u inode %" PRIu64,
			 m->path, major(st.st_dev), minor(st.st_dev), (uint64_t)st.st_ino,
			 m->dev_major, m->dev_minor, m->inode);
		return -1;
	}
	return 0;
}

/*
 * Judge an O_PATH descriptor (which never blocks: the file is not opened),
 * then open the file it names for reading.  Closes pfd.  -1 with err.
 */
static int reopen_checked(int pfd, const struct safefile_map *m, char *err, size_t errlen)
{
	char self[64];
	int fd;

	if (safefile_check(pfd, m, err, errlen) != 0) {
		close(pfd);
		errno = EPERM;
		return -1;
	}
	snprintf(self, sizeof self, "/proc/self/fd/%d", pfd);
	fd = open(self, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	close(pfd);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", m->path, strerror(errno));
		return -1;
	}
	if (safefile_check(fd, m, err, errlen) != 0) { /* cannot change, but cheap */
		close(fd);
		return -1;
	}
	return fd;
}

/* An O_PATH descriptor through /proc/PID/map_files; -1 with errno. */
static int path_map_files(int pid, const struct safefile_map *m)
{
	char link[96];

	snprintf(link, sizeof link, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, pid, m->start,
		 m->end);
	return open(link, O_PATH | O_CLOEXEC);
}

/* An O_PATH descriptor for the path beneath /proc/PID/root; -1 with err. */
static int path_root(int pid, const struct safefile_map *m, char *err, size_t errlen)
{
	struct open_how how;
	char dir[64];
	int rootfd, pfd;

	if (m->path[0] != '/') {
		snprintf(err, errlen, "\"%s\": not an absolute path", m->path);
		return -1;
	}
	snprintf(dir, sizeof dir, "/proc/%d/root", pid);
	rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	memset(&how, 0, sizeof how);
	how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	pfd = (int)syscall(SYS_openat2, rootfd, m->path + 1, &how, sizeof how);
	close(rootfd);
	if (pfd < 0)
		snprintf(err, errlen, "%s: %s", m->path,
			 errno == ELOOP ? "a symbolic link on the way" : strerror(errno));
	return pfd;
}

/*
 * Open the file that maps line m of process pid names, for reading, by the
 * ways allowed in how (SAFEFILE_*).  Returns a descriptor of a regular file
 * with the line's device and inode, or -1 with err saying why not.
 */
int safefile_open(int pid, const struct safefile_map *m, int how, char *err, size_t errlen)
{
	char why[256] = "";
	int pfd;

	if (m->inode == 0 || m->path[0] == '\0') {
		snprintf(err, errlen, "mapping %" PRIx64 "-%" PRIx64 " is not a file", m->start,
			 m->end);
		return -1;
	}
	if (how & SAFEFILE_MAP_FILES) {
		pfd = path_map_files(pid, m);
		if (pfd >= 0)
			return reopen_checked(pfd, m, err, errlen);
		snprintf(why, sizeof why, "/proc/%d/map_files: %s", pid, strerror(errno));
	}
	if ((how & SAFEFILE_ROOT_PATH) && !m->deleted) {
		pfd = path_root(pid, m, err, errlen);
		return pfd < 0 ? -1 : reopen_checked(pfd, m, err, errlen);
	}
	if (m->deleted)
		snprintf(err, errlen, "%s (deleted): only /proc/%d/map_files reaches it%s%s",
			 m->path, pid, why[0] ? "; " : "", why);
	else
		snprintf(err, errlen, "%s", why[0] ? why : "no way to open it allowed");
	return -1;
}

/*
 * The file pid executes, for reading: the inode /proc/PID/exe names at the
 * call, opened as safefile_open opens a mapped file (judged through an
 * O_PATH descriptor first, never blocking on a FIFO or a device).  Its
 * device and inode go to *dev and *ino.  -1 with err.
 */
int safefile_open_exe(int pid, dev_t *dev, ino_t *ino, char *err, size_t errlen)
{
	struct safefile_map m;
	struct stat st;
	int pfd;

	memset(&m, 0, sizeof m);
	snprintf(m.path, sizeof m.path, "/proc/%d/exe", pid);
	pfd = open(m.path, O_PATH | O_CLOEXEC);
	if (pfd < 0 || fstat(pfd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", m.path, strerror(errno));
		if (pfd >= 0)
			close(pfd);
		return -1;
	}
	m.dev_major = major(st.st_dev);
	m.dev_minor = minor(st.st_dev);
	m.inode = (uint64_t)st.st_ino;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return reopen_checked(pfd, &m, err, errlen);
}

/* ---- bounded reads ---- */

/* pread until len bytes or end of file; bytes read or -1. */
ssize_t safefile_pread(int fd, void *buf, size_t len, off_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, off + (off_t)got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/*
 * Read a whole regular file of at most max bytes into a malloc'ed buffer.
 * NULL with err if it is larger, shrank or grew while read, or unreadable.
 */
void *safefile_read_all(int fd, size_t max, size_t *lenp, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t size;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		return NULL;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > max) {
		snprintf(err, errlen, "file of %lld bytes, more than the %zu allowed",
			 (long long)st.st_size, max);
		return NULL;
	}
	size = (size_t)st.st_size;
	buf = malloc(size + 1);
	if (buf == NULL) {
		snprintf(err, errlen, "out of memory for %zu bytes", size);
		return NULL;
	}
	n = safefile_pread(fd, buf, size + 1, 0); /* one more: did it grow? */
	if (n < 0 || (size_t)n != size) {
		snprintf(err, errlen, "%s", n < 0 ? strerror(errno) : "file changed while read");
		free(buf);
		return NULL;
	}
	buf[size] = '\0';
	*lenp = size;
	return buf;
}
