/*
 * procfs.h: the one reader of /proc files (procfs.c).  Every read is bounded
 * by the caller's buffer (or an explicit maximum) and never follows anything
 * the watched process controls beyond the /proc file itself.
 */
#ifndef GOMEMD_PROCFS_H
#define GOMEMD_PROCFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read up to len - 1 bytes of a file, NUL-terminated; the length or -1. */
ssize_t procfs_read_path(const char *path, char *buf, size_t len);
/* The same for /proc/PID/name. */
ssize_t procfs_read(int pid, const char *name, char *buf, size_t len);
/*
 * Read all of /proc/PID/name, at most max bytes, into a malloc'd buffer
 * (NUL-terminated; free with free()).  0 or -errno.
 */
int procfs_read_alloc(int pid, const char *name, size_t max, char **buf, size_t *len);
/* Whether /proc/PID exists. */
int procfs_alive(int pid);
int procfs_owner(int pid, uid_t *uid);
int procfs_real_uid(int pid, uid_t *uid);
/* Start time in clock ticks since boot (stat field 22); 0 if gone or a zombie. */
uint64_t procfs_start_ticks(int pid);
/* The thread-group leader's name (/proc/PID/comm without the newline); 0 or -1. */
int procfs_comm(int pid, char *buf, size_t len);
/* Resident set size in bytes (/proc/PID/statm); 0 if unknown. */
uint64_t procfs_rss(int pid);

#endif /* GOMEMD_PROCFS_H */
