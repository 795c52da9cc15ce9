/*
 * u64map.c: a u64 -> u32 open-addressing hash map (linear probing, load at
 * most 1/2, key 0 marks an empty slot).  See u64map.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "base/u64map.h"
#include "base/xmalloc.h"

/* Scramble a key (the finalizer of MurmurHash3). */
static size_t mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return (size_t)k;
}

/* Look k up; 1 and *v if present. */
int u64map_get(const struct u64map *m, uint64_t k, uint32_t *v)
{
	size_t i;

	if (m->cap == 0)
		return 0;
	for (i = mix(k) & (m->cap - 1); m->keys[i] != 0; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == k) {
			*v = m->vals[i];
			return 1;
		}
	}
	return 0;
}

/* Insert or replace k. */
void u64map_put(struct u64map *m, uint64_t k, uint32_t v)
{
	size_t i;

	if (2 * (m->n + 1) > m->cap) {
		struct u64map g = {0};
		size_t j;

		g.cap = m->cap ? 2 * m->cap : 64;
		g.keys = xcalloc(g.cap, sizeof *g.keys);
		g.vals = xcalloc(g.cap, sizeof *g.vals);
		for (j = 0; j < m->cap; j++)
			if (m->keys[j] != 0)
				u64map_put(&g, m->keys[j], m->vals[j]);
		free(m->keys);
		free(m->vals);
		*m = g;
	}
	for (i = mix(k) & (m->cap - 1); m->keys[i] != 0; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == k) {
			m->vals[i] = v;
			return;
		}
	}
	m->keys[i] = k;
	m->vals[i] = v;
	m->n++;
}

/* Remove k (backward-shift deletion: no tombstones); 1 if it was there. */
int u64map_del(struct u64map *m, uint64_t k)
{
	size_t i, j, h, mask = m->cap - 1;

	if (m->cap == 0)
		return 0;
	for (i = mix(k) & mask; m->keys[i] != k; i = (i + 1) & mask)
		if (m->keys[i] == 0)
			return 0;
	for (j = (i + 1) & mask; m->keys[j] != 0; j = (j + 1) & mask) {
		h = mix(m->keys[j]) & mask;
		/* move j to the hole at i unless its home lies cyclically in (i, j] */
		if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->keys[i] = 0;
	m->n--;
	return 1;
}

/* Free the map's memory; it is empty and usable again. */
void u64map_free(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}
