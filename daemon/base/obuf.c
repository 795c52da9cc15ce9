/* obuf.c: growable output buffer. */
#include "config.h"

#include "base/obuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Make room for n more bytes plus a NUL. */
static int obuf_grow(struct obuf *b, size_t n)
{
	size_t need, cap;
	char *p;

	if (b->bad)
		return -1;
	if (n >= SIZE_MAX - b->len) { /* len + n + 1 would wrap */
		b->bad = 1;
		return -1;
	}
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need
					 : cap * 2; /* doubling would wrap to 0: loop forever */
	p = realloc(b->data, cap);
	if (p == NULL) {
		b->bad = 1;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

/* Start an empty buffer with room for about hint bytes. */
void obuf_init(struct obuf *b, size_t hint)
{
	memset(b, 0, sizeof *b);
	if (hint > 0)
		obuf_grow(b, hint);
}

/* Release the buffer's memory. */
void obuf_free(struct obuf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

/* Append n bytes. */
void obuf_add(struct obuf *b, const void *p, size_t n)
{
	if (obuf_grow(b, n) != 0)
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* Append a C string. */
void obuf_adds(struct obuf *b, const char *s)
{
	obuf_add(b, s, strlen(s));
}

/* Append one byte. */
void obuf_addc(struct obuf *b, char c)
{
	obuf_add(b, &c, 1);
}

/* Append printf-formatted text. */
void obuf_printf(struct obuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || obuf_grow(b, (size_t)n) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Append an unsigned decimal number (the hot path of every formatter). */
void obuf_u64(struct obuf *b, unsigned long long v)
{
	char tmp[24];
	size_t i = sizeof tmp;

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	obuf_add(b, tmp + i, sizeof tmp - i);
}

/* Hand the data over; the buffer is left empty. */
char *obuf_take(struct obuf *b, size_t *len)
{
	char *p;

	if (b->bad) {
		obuf_free(b);
		return NULL;
	}
	if (b->data == NULL && obuf_grow(b, 0) != 0)
		return NULL;
	p = b->data;
	if (len != NULL)
		*len = b->len;
	memset(b, 0, sizeof *b);
	return p;
}
