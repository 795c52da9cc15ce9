/*
 * api_util.h: helpers shared by the tests of the exported malloc API.
 *
 * Everything here is header-only and allocation-free, so it can run inside a
 * forked child of a multithreaded parent or right before a deliberate crash.
 */
#ifndef GOMEM_API_UTIL_H
#define GOMEM_API_UTIL_H

#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* xorshift64*: deterministic, cheap, good enough to pick sizes. */
static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* A size in [lo, hi]. */
static inline size_t rng_range(uint64_t *s, size_t lo, size_t hi)
{
	return lo + (size_t)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

/* The byte that belongs at offset i of a block tagged with seed. */
static inline unsigned char pattern_byte(uint64_t seed, size_t i)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL + (uint64_t)i * 0xBF58476D1CE4E5B9ULL;

	x ^= x >> 29;
	return (unsigned char)(x ^ (x >> 8));
}

static inline void pattern_fill(void *p, size_t n, uint64_t seed)
{
	unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = pattern_byte(seed, i);
}

/* Offset of the first byte that differs from the pattern, or (size_t)-1. */
static inline size_t pattern_check(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != pattern_byte(seed, i))
			return i;
	return (size_t)-1;
}

/* Offset of the first nonzero byte, or (size_t)-1. */
static inline size_t zero_check(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return i;
	return (size_t)-1;
}

static inline int is_aligned(const void *p, size_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

/*
 * The alignment promised for malloc(n): 16 for n >= 16, else 8 (GCC's
 * MALLOC_ABI_ALIGNMENT assumes a word whatever the size, malloc(0) too).
 */
static inline size_t promised_align(size_t n)
{
	return n >= 16 ? 16 : 8;
}

/*
 * Name of the object that defines symbol sym in the global scope, or NULL.
 * Used to prove that malloc and friends really resolve to libgomem.
 */
static inline const char *symbol_owner(const char *sym)
{
	Dl_info info;
	void *addr = dlsym(RTLD_DEFAULT, sym);

	if (addr == NULL || dladdr(addr, &info) == 0)
		return NULL;
	return info.dli_fname;
}

/* Write a string to fd with write(2) only. */
static inline void write_str(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

#endif /* GOMEM_API_UTIL_H */
