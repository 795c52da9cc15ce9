/*
 * safefile.h: opening a file that a watched process names.
 *
 * A path read from /proc/PID/maps is chosen by whoever owns PID: it may have
 * been replaced by a FIFO (an open would block forever), a symlink (root
 * would open what the user chose), a device, or a different file.  These
 * functions open such a file so that it can never block or follow a link,
 * and only if it is the very inode the maps line states.
 */
#ifndef GOMEMD_SAFEFILE_H
#define GOMEMD_SAFEFILE_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

/* One line of /proc/PID/maps. */
struct safefile_map {
	uint64_t start, end; /* [start, end) */
	uint64_t offset;     /* file offset of start */
	unsigned dev_major, dev_minor;
	uint64_t inode;	 /* 0: anonymous */
	char perms[5];	 /* "r-xp" */
	int deleted;	 /* the path ended in " (deleted)" (removed from the line) */
	char path[4096]; /* "" when anonymous */
};

/* How safefile_open() may reach the file. */
enum {
	SAFEFILE_MAP_FILES = 1, /* /proc/PID/map_files/START-END (CAP_SYS_ADMIN) */
	SAFEFILE_ROOT_PATH = 2, /* the path, beneath /proc/PID/root, no link followed */
	SAFEFILE_ANY = SAFEFILE_MAP_FILES | SAFEFILE_ROOT_PATH,
};

/* Largest file safefile_read_all() reads. */
#define SAFEFILE_MAX_READ (256u << 20)

int safefile_parse_map(const char *line, struct safefile_map *m);
int safefile_maps_line(FILE *f, char *line, size_t cap);
int safefile_open(int pid, const struct safefile_map *m, int how, char *err, size_t errlen);
int safefile_check(int fd, const struct safefile_map *m, char *err, size_t errlen);
int safefile_open_exe(int pid, dev_t *dev, ino_t *ino, char *err, size_t errlen);
ssize_t safefile_pread(int fd, void *buf, size_t len, off_t off);
void *safefile_read_all(int fd, size_t max, size_t *lenp, char *err, size_t errlen);

#endif /* GOMEMD_SAFEFILE_H */
