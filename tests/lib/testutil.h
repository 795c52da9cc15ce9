/* testutil.h: helpers shared by the core unit tests. */
#ifndef GM_TESTUTIL_H
#define GM_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#include "../common/rss.h"
#include "../common/suite.h"

/* The heap invariants of mheap.c hold. */
#define ck_heap_ok()                                                                  \
	do {                                                                          \
		char why_[128];                                                       \
		int rc_ = gm_mheap_check(why_, sizeof(why_));                         \
		ck_assert_msg(rc_ == 0, "heap check: %s", why_);                      \
	} while (0)

/* Go's MemStats identities (go-allocator-facts.md §7). */
static inline void
ck_identities(const struct gomem_memstats *m)
{
	ck_assert_uint_eq(m->Alloc, m->HeapAlloc);
	ck_assert_uint_eq(m->HeapSys, m->HeapInuse + m->HeapIdle);
	ck_assert_uint_ge(m->HeapIdle, m->HeapReleased);
	ck_assert_uint_ge(m->HeapInuse, m->HeapAlloc);
	ck_assert_uint_eq(m->HeapObjects, m->Mallocs - m->Frees);
	ck_assert_uint_ge(m->Mallocs, m->Frees);
	ck_assert_uint_eq(m->Sys, m->HeapSys + m->StackSys + m->MSpanSys + m->MCacheSys +
					  m->BuckHashSys + m->GCSys + m->OtherSys);
	ck_assert_uint_le(m->MSpanInuse, m->MSpanSys);
	ck_assert_uint_le(m->MCacheInuse, m->MCacheSys);
	ck_assert_uint_le(m->StackInuse, m->StackSys);
	ck_assert_uint_ge(m->TotalAlloc, m->HeapAlloc);
	{
		unsigned long long s = 0;
		unsigned i;

		for (i = 0; i < GOMEM_NUM_BYSIZE; i++)
			s += m->BySize[i].Mallocs;
		ck_assert_uint_le(s, m->Mallocs);
	}
}

#endif
