/*
 * u64map.h: a u64 -> u32 hash map (u64map.c).  Key 0 is reserved (empty
 * slot); callers map 0 to another key.  A zeroed struct is an empty map.
 * Not thread-safe: the owner's lock covers it.
 */
#ifndef GOMEMD_U64MAP_H
#define GOMEMD_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct u64map {
	uint64_t *keys;
	uint32_t *vals;
	size_t cap, n;
};

int u64map_get(const struct u64map *m, uint64_t k, uint32_t *v);
void u64map_put(struct u64map *m, uint64_t k, uint32_t v);
int u64map_del(struct u64map *m, uint64_t k);
void u64map_free(struct u64map *m);

#endif /* GOMEMD_U64MAP_H */
