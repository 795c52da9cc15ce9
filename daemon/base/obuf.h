/*
 * obuf.h: a growable output buffer for the HTTP formatters (prom.c, expvar.c,
 * sse.c).  Appends never fail: on out of memory the buffer is marked bad and
 * further appends are dropped; obuf_take() then returns NULL.
 */
#ifndef GOMEMD_OBUF_H
#define GOMEMD_OBUF_H

#include <stddef.h>

struct obuf {
	char *data;
	size_t len;
	size_t cap;
	int bad;
};

void obuf_init(struct obuf *b, size_t hint);
void obuf_free(struct obuf *b);
void obuf_add(struct obuf *b, const void *p, size_t n);
void obuf_adds(struct obuf *b, const char *s);
void obuf_addc(struct obuf *b, char c);
void obuf_printf(struct obuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void obuf_u64(struct obuf *b, unsigned long long v);
/* Hand the NUL-terminated data to the caller (free with free()); NULL if bad. */
char *obuf_take(struct obuf *b, size_t *len);

#endif /* GOMEMD_OBUF_H */
