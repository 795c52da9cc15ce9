/*
 * attach.h: the BPF side (attach.c): the skeleton, the USDT links for
 * libraries and for single pids, the "watched" map (mute, watch, forget),
 * the ring buffer's fd and the drop counters.
 */
#ifndef GOMEMD_ATTACH_H
#define GOMEMD_ATTACH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

int attach_open(char *err, size_t errlen);
void attach_close(void);
void attach_set_profile(int on);
int attach_libraries(char *const *libs, int nlibs);
void attach_refresh(void);
int attach_is_library(dev_t dev, ino_t ino);
int attach_pid(int pid, const char *path, const char *name, char *had, size_t hadlen);
struct safefile_map;
int attach_mapped(int pid, const struct safefile_map *m, char *err, size_t errlen);
int attach_check_notes(int fd, char *err, size_t errlen);
int attach_is_configured(const char *path);
int attach_detach_pid(int pid);
void attach_forget(int pid, int only_gone);
int attach_watch(int pid);
int attach_unmute(int pid);
int attach_is_muted(int pid);
int attach_ringbuf_fd(void);
int attach_exit_traced(void);
/* How exits are traced: "tp_btf", "tracepoint" (through tracefs) or "none". */
const char *attach_exit_how(void);
uint64_t attach_drops(int reason);
int attach_nlinks(void);
long long attach_map_bytes(void);

#endif /* GOMEMD_ATTACH_H */
