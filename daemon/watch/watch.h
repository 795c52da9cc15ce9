/*
 * watch.h: deciding which processes gomemd watches (watch.c): the only code
 * that uses both the BPF side (core/attach) and the process table
 * (core/proc).
 */
#ifndef GOMEMD_WATCH_H
#define GOMEMD_WATCH_H

#include <stddef.h>
#include <sys/types.h>

#include "gomem_memstats.h"

/* A snapshot record: update the table, or start watching a new process. */
void watch_on_snapshot(int pid, const char *comm, const struct gomem_memstats *snap, size_t len,
		       const char *version);
/* Watch pid (POST /processes/N/attach): 0, or -1 with err and errno (ESRCH, ENOENT). */
int watch_attach(int pid, char *err, size_t errlen);
/* Stop watching pid (DELETE /processes/N); 0 if it was watched. */
int watch_detach(int pid);
/* Add the running processes that map an attached library; how many were added. */
int watch_scan(void);
/* Once a second: exits, dropped processes and profiles, replaced libraries. */
void watch_sweep(unsigned grace_s);
/*
 * The libgomem pid maps: a mapped file with the inode of an attached
 * library, else one named libgomem*.so*.  Its path as the process sees it
 * and its inode as stat() reports it from here.  0 or -1.
 */
struct safefile_map;
int watch_find_library(int pid, struct safefile_map *m);

#endif /* GOMEMD_WATCH_H */
