/*
 * leaks.c: rank stacks by in-use growth (see leaks.h).
 */
#include "config.h"

#include "core/leaks.h"

#include <stdlib.h>

#include "core/procprof.h"

static int
cmp_site(const void *a, const void *b)
{
	const struct leak_site *x = a, *y = b;

	if (x->growth_bytes != y->growth_bytes)
		return x->growth_bytes < y->growth_bytes ? 1 : -1;
	if (x->oldest_ns != y->oldest_ns)
		return x->oldest_ns < y->oldest_ns ? -1 : 1;
	return x->bucket < y->bucket ? -1 : x->bucket > y->bucket;
}

size_t
leaks_rank(const struct procprof *now, const struct procprof *then, size_t max,
	   struct leak_site **out)
{
	struct leak_site *v = NULL;
	size_t i, n = 0;

	*out = NULL;
	if (now->nbuckets == 0 || max == 0)
		return 0;
	v = calloc(now->nbuckets, sizeof(*v));
	if (v == NULL)
		return 0;
	for (i = 0; i < now->nbuckets; i++) {
		const struct procprof_bucket *b = &now->buckets[i];
		const struct procprof_bucket *old = procprof_then(now, then, i);
		uint64_t live = b->alloc_objects - b->free_objects;
		uint64_t was = old != NULL ? old->alloc_objects - old->free_objects : 0;
		struct leak_site *s;

		if (live <= was)
			continue;
		s = &v[n++];
		s->bucket = i;
		procprof_scale(live, live * b->size, now->rate, &s->inuse_objects, &s->inuse_bytes);
		procprof_scale(live - was, (live - was) * b->size, now->rate, &s->growth_objects,
			       &s->growth_bytes);
		s->oldest_ns = b->oldest_ns;
	}
	qsort(v, n, sizeof(*v), cmp_site);
	if (n > max)
		n = max;
	*out = v;
	return n;
}
