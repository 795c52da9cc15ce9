/*
 * gcc_input.c: compiled by preload_gcc.sh with and without libgomem
 * preloaded.  Macro expansion makes cc1 build and optimise a hundred
 * functions, so the compiler allocates plenty (about a second of cc1);
 * the program prints results that depend only on the code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define R10(M, b) M(b##0) M(b##1) M(b##2) M(b##3) M(b##4) M(b##5) M(b##6) M(b##7) M(b##8) M(b##9)
#define R100(M, b) R10(M, b##0) R10(M, b##1) R10(M, b##2) R10(M, b##3) R10(M, b##4) \
	R10(M, b##5) R10(M, b##6) R10(M, b##7) R10(M, b##8) R10(M, b##9)

struct rec {
	int key;
	double weight;
	char name[24];
};

#define FN(n)                                                                      \
	static unsigned long fn_##n(unsigned long x)                               \
	{                                                                          \
		struct rec r = {(int)(x % 97), (double)x / (n##UL + 1), "f" #n};  \
		unsigned long acc = x ^ n##UL;                                     \
		for (int i = 0; i < (int)(n##UL % 7) + 3; i++) {                   \
			switch ((acc + (unsigned long)i) % 5) {                    \
			case 0: acc = acc * 2654435761UL + (unsigned long)r.key; break; \
			case 1: acc ^= acc >> 13; break;                           \
			case 2: acc += (unsigned long)(r.weight * 1000.0); break;  \
			case 3: acc = (acc << 7) | (acc >> 57); break;             \
			default: acc += strlen(r.name); break;                     \
			}                                                          \
		}                                                                  \
		return acc;                                                        \
	}
R100(FN, 1)

#define REF(n) fn_##n,
static unsigned long (*const table[])(unsigned long) = {
	R100(REF, 1)
};

static int
cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	if (x->key != y->key)
		return x->key - y->key;
	return strcmp(x->name, y->name);
}

int
main(void)
{
	size_t n = sizeof(table) / sizeof(table[0]), i;
	struct rec *recs = malloc(n * sizeof(*recs));
	unsigned long acc = 1;

	if (recs == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		acc = table[i](acc + i);
		recs[i].key = (int)(acc % 1000);
		recs[i].weight = (double)(acc % 10007) / 7.0;
		snprintf(recs[i].name, sizeof(recs[i].name), "r%zu", i);
	}
	qsort(recs, n, sizeof(*recs), cmp_rec);
	printf("functions %zu, final %016lx\n", n, acc);
	for (i = 0; i < n; i += n / 10)
		printf("%4zu %4d %10.3f %s\n", i, recs[i].key, recs[i].weight, recs[i].name);
	free(recs);
	return 0;
}
