/*
 * mfixalloc.c: fixed-size allocator for the allocator's own metadata.
 *
 * Like Go's fixalloc: a free list in front of a bump region carved from
 * 64 KiB chunks of OS memory that are never returned.  Memory obtained is
 * counted in the caller's *Sys counter; inuse gives the *Inuse field.  The
 * caller serialises calls (gm_heap.lock for spans and mcaches).
 */
#include "internal.h"

#define GM_FIXALLOC_CHUNK ((size_t)64 << 10)

/* Set up f for objects of size bytes, counting OS memory in *stat. */
void gm_fixalloc_init(gm_fixalloc *f, size_t size, _Atomic uint64_t *stat)
{
	f->size = (size + 15) & ~(size_t)15;
	f->list = NULL;
	f->chunk = 0;
	f->nchunk = 0;
	f->inuse = 0;
	f->stat = stat;
}

/* A zeroed object, or NULL when the OS is out of memory. */
void *gm_fixalloc_alloc(gm_fixalloc *f)
{
	void *p;

	if (f->list != NULL) {
		p = f->list;
		f->list = *(void **)p;
		__builtin_memset(p, 0, f->size);
		f->inuse += f->size;
		return p;
	}
	if (f->nchunk < f->size) {
		void *c = gm_sys_alloc(GM_FIXALLOC_CHUNK, f->stat);

		if (c == NULL)
			return NULL;
		f->chunk = (uintptr_t)c;
		f->nchunk = GM_FIXALLOC_CHUNK;
	}
	p = (void *)f->chunk;
	f->chunk += f->size;
	f->nchunk -= f->size;
	f->inuse += f->size;
	return p;
}

/* Put p back on the free list. */
void gm_fixalloc_free(gm_fixalloc *f, void *p)
{
	f->inuse -= f->size;
	*(void **)p = f->list;
	f->list = p;
}
