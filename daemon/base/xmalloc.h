/* xmalloc.h: allocation that dies on failure (xmalloc.c). */
#ifndef GOMEMD_XMALLOC_H
#define GOMEMD_XMALLOC_H

#include <stddef.h>

void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
int xasprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* GOMEMD_XMALLOC_H */
