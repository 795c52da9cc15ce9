/* clock.h: monotonic and wall clocks in ns (clock.c). */
#ifndef GOMEMD_CLOCK_H
#define GOMEMD_CLOCK_H

#include <stdint.h>

uint64_t now_mono_ns(void);
uint64_t now_real_ns(void);

#endif /* GOMEMD_CLOCK_H */
