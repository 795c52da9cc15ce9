/* collect.h: the ring buffer consumer (collect.c), main thread only. */
#ifndef GOMEMD_COLLECT_H
#define GOMEMD_COLLECT_H

#include <stdint.h>

int collect_open(void);
int collect_epoll_fd(void);
int collect_consume(void);
void collect_close(void);
/* Records consumed since start (any thread). */
uint64_t collect_events(void);

#endif /* GOMEMD_COLLECT_H */
