/*
 * export_cxx.c: C++'s replaceable operator new and delete, exported by
 * libgomem.so under their Itanium C++ ABI names, as every peer allocator
 * does, so that `new` in a program costs one call into the allocator rather
 * than libstdc++'s operator new calling malloc.
 *
 * The library is C and links no C++ runtime.  Failure follows the standard
 * ([new.delete.single]): while the allocation fails, call the new-handler
 * if there is one and try again; without one, the throwing forms throw
 * std::bad_alloc and the nothrow forms return NULL.  The handler and the
 * throw are libstdc++'s own, std::get_new_handler and std::__throw_bad_alloc,
 * looked up with dlsym the first time an allocation fails (in the global
 * scope, else in a runtime loaded RTLD_LOCAL): any program that calls
 * operator new has loaded a C++ runtime that has them.  If none is found
 * the process aborts with a message rather than return NULL from a
 * throwing new.  A nothrow new whose new-handler throws answers NULL: the
 * runtime's own nothrow new catches it (gm_new_nothrow_failed).
 */
#include "malloc_fast.h"

#include <dlfcn.h>
#include <errno.h>

typedef void (*gm_new_handler)(void);

/* libstdc++'s entry points, found on first failure (NULL: not yet). */
static gm_new_handler (*_Atomic gm_get_new_handler)(void);
static void (*_Atomic gm_throw_bad_alloc)(void);

static const char *const gm_cxx_runtimes[] = {"libstdc++.so.6", "libc++.so.1"};

/* A loaded C++ runtime's own definition of name (never ours), or NULL.  A
 * failed new loads nothing: RTLD_NOLOAD. */
static void *gm_cxx_runtime_sym(const char *name)
{
	for (size_t i = 0; i < sizeof(gm_cxx_runtimes) / sizeof(gm_cxx_runtimes[0]); i++) {
		void *h = dlopen(gm_cxx_runtimes[i], RTLD_LAZY | RTLD_NOLOAD), *f;

		if (h != NULL && (f = dlsym(h, name)) != NULL)
			return f;
	}
	return NULL;
}

/*
 * A C++ runtime's function, from the global scope or else from a runtime
 * loaded RTLD_LOCAL: Python loads extension modules so, and a module's
 * libstdc++ is then in no global scope, while its operator new is ours.
 */
static void *gm_cxx_sym(const char *name)
{
	void *f = dlsym(RTLD_DEFAULT, name);

	if (f == NULL)
		f = gm_cxx_runtime_sym(name);
	if (f == NULL)
		gm_throw("gomem: operator new failed and no C++ runtime to report it");
	return f;
}

/* std::get_new_handler() of the program's C++ runtime. */
static gm_new_handler gm_current_new_handler(void)
{
	gm_new_handler (*get)(void) =
	    atomic_load_explicit(&gm_get_new_handler, memory_order_acquire);

	if (get == NULL) {
		get = (gm_new_handler(*)(void))gm_cxx_sym("_ZSt15get_new_handlerv");
		atomic_store_explicit(&gm_get_new_handler, get, memory_order_release);
	}
	return get();
}

/* An allocation failed: call the new-handler and say whether to retry;
 * without a handler, throw std::bad_alloc. */
static gm_noinline bool gm_new_failed(void)
{
	gm_new_handler h = gm_current_new_handler();

	if (h != NULL) {
		h(); /* frees memory, throws, or ends the process */
		return true;
	}
	if (atomic_load_explicit(&gm_throw_bad_alloc, memory_order_acquire) == NULL)
		atomic_store_explicit(&gm_throw_bad_alloc,
				      (void (*)(void))gm_cxx_sym("_ZSt17__throw_bad_allocv"),
				      memory_order_release);
	atomic_load_explicit(&gm_throw_bad_alloc, memory_order_acquire)();
	gm_throw("gomem: std::__throw_bad_alloc returned");
}

/* One more try at n bytes (align 0: malloc's alignment). */
static void *gm_new_try(size_t n, size_t align)
{
	return align == 0 ? gm_malloc(n) : gm_aligned_alloc(align, n);
}

/*
 * A nothrow new failed.  Without a new-handler: NULL.  With one, the
 * standard's nothrow forms call the throwing form and answer NULL for its
 * exception ([new.delete.single]); the handler may well throw bad_alloc,
 * which this C file cannot catch.  The C++ runtime's own nothrow new can:
 * it calls the throwing new, which is ours (the handler, a retry, then
 * std::bad_alloc), inside its try.  Without a runtime to find (it cannot
 * happen in a program that calls operator new), the handler is called
 * here, as before.
 */
static gm_noinline void *gm_new_nothrow_failed(size_t n, size_t align)
{
	static const char nothrow_tag; /* any std::nothrow_t: it has no state */
	void *(*plain)(size_t, const void *);
	void *(*aligned)(size_t, size_t, const void *);
	void *p = NULL;

	if (gm_current_new_handler() == NULL)
		return NULL;
	if (align == 0) {
		plain = (void *(*)(size_t, const void *))gm_cxx_runtime_sym("_ZnwmRKSt9nothrow_t");
		if (plain != NULL)
			return plain(n, &nothrow_tag);
	} else {
		aligned = (void *(*)(size_t, size_t, const void *))gm_cxx_runtime_sym(
		    "_ZnwmSt11align_val_tRKSt9nothrow_t");
		if (aligned != NULL)
			return aligned(n, align, &nothrow_tag);
	}
	for (gm_new_handler h; p == NULL && (h = gm_current_new_handler()) != NULL;) {
		h();
		p = gm_new_try(n, align);
	}
	return p;
}

/* While p, an allocation of n bytes (align 0: malloc's alignment), is NULL:
 * the new-handler, then another try. */
static void *gm_new_retry(void *p, size_t n, size_t align, bool nothrow)
{
	if (gm_unlikely(p == NULL) && nothrow)
		return gm_new_nothrow_failed(n, align);
	while (gm_unlikely(p == NULL) && gm_new_failed())
		p = gm_new_try(n, align);
	return p;
}

/* The slow paths of new and new[] (gm_malloc_fast_or): out of line, so
 * that the two are malloc's fast path with no frame of their own. */
static gm_noinline void *gm_new_slow(size_t n, gm_mcache *mc)
{
	return gm_new_retry(gm_malloc_slow(n, mc), n, 0, false);
}

static gm_noinline void *gm_new_slow_nothrow(size_t n, gm_mcache *mc)
{
	return gm_new_retry(gm_malloc_slow(n, mc), n, 0, true);
}

/* operator new of every form: align 0 = the default (16 from 16 B up). */
static inline void *gm_new(size_t n, size_t align, bool nothrow)
{
	if (align != 0)
		return gm_new_retry(gm_aligned_alloc(align, n), n, align, nothrow);
	return gm_malloc_fast_or(n, nothrow ? gm_new_slow_nothrow : gm_new_slow);
}

#define GM_NEW(name, ...)    GM_API void *name(__VA_ARGS__)
#define GM_DELETE(name, ...) GM_API void name(__VA_ARGS__)

/* The declarations keep -Wmissing-prototypes quiet: C++ declares them. */
void *_Znwm(size_t n);
void *_Znam(size_t n);
void *_ZnwmRKSt9nothrow_t(size_t n, const void *nt);
void *_ZnamRKSt9nothrow_t(size_t n, const void *nt);
void *_ZnwmSt11align_val_t(size_t n, size_t al);
void *_ZnamSt11align_val_t(size_t n, size_t al);
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt);
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt);
void _ZdlPv(void *p);
void _ZdaPv(void *p);
void _ZdlPvm(void *p, size_t n);
void _ZdaPvm(void *p, size_t n);
void _ZdlPvRKSt9nothrow_t(void *p, const void *nt);
void _ZdaPvRKSt9nothrow_t(void *p, const void *nt);
void _ZdlPvSt11align_val_t(void *p, size_t al);
void _ZdaPvSt11align_val_t(void *p, size_t al);
void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al);
void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al);
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt);
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt);

/* new(size_t), new[](size_t) */
GM_NEW(_Znwm, size_t n)
{
	return gm_new(n, 0, false);
}
GM_NEW(_Znam, size_t n)
{
	return gm_new(n, 0, false);
}
/* new(size_t, nothrow_t const &), new[] */
GM_NEW(_ZnwmRKSt9nothrow_t, size_t n, const void *nt)
{
	return gm_new(n, 0, true);
}
GM_NEW(_ZnamRKSt9nothrow_t, size_t n, const void *nt)
{
	return gm_new(n, 0, true);
}
/* new(size_t, align_val_t), new[] */
GM_NEW(_ZnwmSt11align_val_t, size_t n, size_t al)
{
	return gm_new(n, al, false);
}
GM_NEW(_ZnamSt11align_val_t, size_t n, size_t al)
{
	return gm_new(n, al, false);
}
/* new(size_t, align_val_t, nothrow_t const &), new[] */
GM_NEW(_ZnwmSt11align_val_tRKSt9nothrow_t, size_t n, size_t al, const void *nt)
{
	return gm_new(n, al, true);
}
GM_NEW(_ZnamSt11align_val_tRKSt9nothrow_t, size_t n, size_t al, const void *nt)
{
	return gm_new(n, al, true);
}

/* Every delete is free: the size and alignment are the block's own. */
GM_DELETE(_ZdlPv, void *p)
{
	gm_free_fast(p);
}
GM_DELETE(_ZdaPv, void *p)
{
	gm_free_fast(p);
}
GM_DELETE(_ZdlPvm, void *p, size_t n)
{
	gm_free_fast(p);
}
GM_DELETE(_ZdaPvm, void *p, size_t n)
{
	gm_free_fast(p);
}
GM_DELETE(_ZdlPvRKSt9nothrow_t, void *p, const void *nt)
{
	gm_free_fast(p);
}
GM_DELETE(_ZdaPvRKSt9nothrow_t, void *p, const void *nt)
{
	gm_free_fast(p);
}
GM_DELETE(_ZdlPvSt11align_val_t, void *p, size_t al)
{
	gm_free_fast(p);
}
GM_DELETE(_ZdaPvSt11align_val_t, void *p, size_t al)
{
	gm_free_fast(p);
}
GM_DELETE(_ZdlPvmSt11align_val_t, void *p, size_t n, size_t al)
{
	gm_free_fast(p);
}
GM_DELETE(_ZdaPvmSt11align_val_t, void *p, size_t n, size_t al)
{
	gm_free_fast(p);
}
GM_DELETE(_ZdlPvSt11align_val_tRKSt9nothrow_t, void *p, size_t al, const void *nt)
{
	gm_free_fast(p);
}
GM_DELETE(_ZdaPvSt11align_val_tRKSt9nothrow_t, void *p, size_t al, const void *nt)
{
	gm_free_fast(p);
}
