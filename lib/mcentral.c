/*
 * mcentral.c: central free lists, one per span class.
 *
 * As in Go up to 1.2 (mcentral.c, MCentral_AllocList / MCentral_FreeList)
 * and in tcmalloc: a span's free objects are kept on the span itself, under
 * the class's lock.  Spans with free objects sit on the partial list.  Thread
 * caches take objects in batches (gm_mcentral_alloc_batch) and give them back
 * in batches (gm_mcentral_free_batch) when their lists grow past a limit, so
 * the lock is taken once per batch, never per object, and a free from any
 * thread needs no atomic operation: it goes on the freeing thread's list.
 * A span whose objects have all come back is returned to the heap, where it
 * coalesces with free neighbours.
 *
 * Protected by mcentral.lock: partial, every span's freelist and nfree.
 * Lock order: mcentral.lock before gm_heap.lock.
 */
#include "internal.h"

gm_mcentral gm_central[GM_NUM_SPANCLASSES];
uint16_t gm_class_batch[GM_NUM_SPANCLASSES];

/* Set up the central lists and the batch sizes. */
void
gm_mcentral_init(void)
{
	unsigned i;

	for (i = 0; i < GM_NUM_SPANCLASSES; i++) {
		unsigned size = gm_class_size[i];
		unsigned b = size ? (unsigned)(32768 / size) : 0;

		pthread_mutex_init(&gm_central[i].lock, NULL);
		gm_central[i].spanclass = (uint8_t)i;
		gm_central[i].partial = NULL;
		/* tcmalloc's num_objects_to_move: 32 KiB worth, 2 to 32 objects. */
		gm_class_batch[i] = (uint16_t)(b < 2 ? 2 : b > 32 ? 32 : b);
	}
	gm_class_batch[GM_SPANCLASS_LARGE] = 0;
}

static void
gm_partial_insert_locked(gm_mcentral *c, gm_mspan *s)
{
	s->prev = NULL;
	s->next = c->partial;
	if (s->next != NULL)
		s->next->prev = s;
	c->partial = s;
	gm_span_set_state(s, GM_SPAN_PARTIAL);
}

static void
gm_partial_remove_locked(gm_mcentral *c, gm_mspan *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		c->partial = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	gm_span_set_state(s, GM_SPAN_EMPTY);
}

/* Link the objects of a fresh span onto its free list. */
static void
gm_span_build_list(gm_mspan *s)
{
	uintptr_t p = s->start, sz = s->elemsize;
	unsigned i;

	for (i = 0; i + 1 < s->nelems; i++, p += sz)
		*(void **)p = (void *)(p + sz);
	*(void **)p = NULL;
	s->freelist = (void *)s->start;
	s->nfree = s->nelems;
}

/*
 * Take up to want objects of spanclass; returns how many, linked from
 * *head through their first words (the last links to NULL).  0 when out of
 * memory.
 */
unsigned
gm_mcentral_alloc_batch(uint8_t spanclass, unsigned want, void **head)
{
	gm_mcentral *c = &gm_central[spanclass];
	void *first = NULL, **link = &first;
	unsigned n = 0;
	gm_mspan *s;

	pthread_mutex_lock(&c->lock);
	while (n < want) {
		void *p;

		s = c->partial;
		if (s == NULL) {
			/* Grow: a fresh span from the heap, outside our lock. */
			pthread_mutex_unlock(&c->lock);
			s = gm_mheap_alloc(gm_class_npages[spanclass], spanclass, 0);
			if (s != NULL)
				gm_span_build_list(s);
			pthread_mutex_lock(&c->lock);
			if (s == NULL)
				break;
			gm_partial_insert_locked(c, s);
		}
		/* Take objects off the span, up to what is wanted. */
		p = s->freelist;
		while (p != NULL && n < want) {
			*link = p;
			link = (void **)p;
			p = *(void **)p;
			s->nfree--;
			n++;
		}
		s->freelist = p;
		if (p == NULL)
			gm_partial_remove_locked(c, s);
	}
	pthread_mutex_unlock(&c->lock);
	*link = NULL;
	*head = first;
	return n;
}

/*
 * Give back n objects of spanclass linked from head.  Spans that become
 * entirely free go back to the heap.
 */
void
gm_mcentral_free_batch(uint8_t spanclass, void *head, unsigned n)
{
	gm_mcentral *c = &gm_central[spanclass];
	void *p = head, *next;
	unsigned i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < n && p != NULL; i++, p = next) {
		gm_mspan *s = gm_span_of((uintptr_t)p);

		next = *(void **)p;
		*(void **)p = s->freelist;
		s->freelist = p;
		if (++s->nfree == 1)
			gm_partial_insert_locked(c, s);
		if (s->nfree == s->nelems) {
			gm_partial_remove_locked(c, s);
			s->freelist = NULL;
			s->nfree = 0;
			gm_mheap_free(s);
		}
	}
	pthread_mutex_unlock(&c->lock);
}
