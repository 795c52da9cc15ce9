/* utf8.h: UTF-8 validation (utf8.c). */
#ifndef GOMEMD_UTF8_H
#define GOMEMD_UTF8_H

#include <stddef.h>

/*
 * Length of the valid UTF-8 sequence at s (n bytes left, n > 0), 0 where
 * Go's utf8.DecodeRune would return RuneError with size 1.
 */
size_t utf8_seq_len(const unsigned char *s, size_t n);

#endif /* GOMEMD_UTF8_H */
