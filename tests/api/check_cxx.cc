// check_cxx.cc: C++'s operator new and delete, as libgomem.so exports them.
//
// Every form (plain, array, nothrow, aligned, sized delete) must come from
// gomem, return blocks 8-byte aligned (16 from 16 B up, and the asked
// alignment), be counted in gomem's MemStats, and fail as the standard
// says: the new-handler first, then std::bad_alloc, or nullptr for the
// nothrow forms (also when the handler throws).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <new>

#include "gomem.h"

static int failures;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			std::fprintf(stderr, "check_cxx: %s:%d: ", __FILE__, __LINE__); \
			std::fprintf(stderr, __VA_ARGS__);                     \
			std::fputc('\n', stderr);                              \
			failures++;                                            \
		}                                                              \
	} while (0)

static bool
aligned(const void *p, size_t a)
{
	return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0;
}

static void
check_symbols_are_gomem()
{
	const char *names[] = { "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnwmSt11align_val_t",
				"_ZnamSt11align_val_tRKSt9nothrow_t", "_ZdlPv", "_ZdlPvm",
				"_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t" };
	Dl_info mine, theirs;

	CHECK(dladdr(reinterpret_cast<void *>(&gomem_version), &mine) != 0, "dladdr(gomem_version)");
	for (const char *n : names) {
		void *f = dlsym(RTLD_DEFAULT, n);

		CHECK(f != nullptr && dladdr(f, &theirs) != 0 &&
			      std::strcmp(theirs.dli_fname, mine.dli_fname) == 0,
		      "%s resolves to %s, not gomem's %s", n, f ? theirs.dli_fname : "(none)",
		      mine.dli_fname);
	}
}

// Every size 0..64 through every form, many blocks live at once.
static void
check_alignment_every_size()
{
	enum { FORMS = 8, PER = 8 };
	static void *v[65][FORMS][PER];
	static const size_t al[FORMS] = { 0, 0, 0, 0, 8, 32, 64, 4096 };
	struct gomem_memstats a, b;

	gomem_read_memstats(&a);
	for (size_t n = 0; n <= 64; n++) {
		for (int f = 0; f < FORMS; f++) {
			for (int k = 0; k < PER; k++) {
				void *p = nullptr;

				switch (f) {
				case 0: p = ::operator new(n); break;
				case 1: p = ::operator new[](n); break;
				case 2: p = ::operator new(n, std::nothrow); break;
				case 3: p = new char[n]; break;
				default:
					p = ::operator new(n, std::align_val_t(al[f]));
					break;
				}
				size_t want = n >= 16 ? 16 : 8;

				if (al[f] > want)
					want = al[f];
				CHECK(p != nullptr, "form %d size %zu: null", f, n);
				CHECK(aligned(p, want), "form %d size %zu: %p not %zu-aligned", f, n, p,
				      want);
				std::memset(p, 0x5a, n);
				v[n][f][k] = p;
			}
		}
	}
	gomem_read_memstats(&b);
	CHECK(b.Mallocs - a.Mallocs >= 65 * FORMS * PER, "gomem counted %llu of %d news",
	      static_cast<unsigned long long>(b.Mallocs - a.Mallocs), 65 * FORMS * PER);
	for (size_t n = 0; n <= 64; n++) {
		for (int k = 0; k < PER; k++) {
			::operator delete(v[n][0][k], n); // sized
			::operator delete[](v[n][1][k]);
			::operator delete(v[n][2][k], std::nothrow);
			delete[] static_cast<char *>(v[n][3][k]);
			for (int f = 4; f < FORMS; f++)
				::operator delete(v[n][f][k], n, std::align_val_t(al[f]));
		}
	}
	gomem_read_memstats(&a);
	CHECK(a.Frees - b.Frees >= 65 * FORMS * PER, "gomem counted %llu of %d deletes",
	      static_cast<unsigned long long>(a.Frees - b.Frees), 65 * FORMS * PER);
}

struct alignas(64) Line {
	char c[64];
};

static void
check_objects()
{
	Line *l = new Line[3];
	std::max_align_t *m = new std::max_align_t;

	CHECK(aligned(l, 64), "new Line[3] = %p", static_cast<void *>(l));
	CHECK(aligned(m, alignof(std::max_align_t)), "new max_align_t = %p", static_cast<void *>(m));
	delete[] l;
	delete m;
}

static int handler_calls;

static void
handler_once()
{
	handler_calls++;
	std::set_new_handler(nullptr); // the next failure throws
}

static void
handler_throws()
{
	handler_calls++;
	throw std::bad_alloc();
}

static void
check_failure()
{
	const size_t huge = SIZE_MAX / 2;
	bool threw = false;

	try {
		void *p = ::operator new(huge);
		::operator delete(p);
	} catch (const std::bad_alloc &) {
		threw = true;
	}
	CHECK(threw, "operator new(huge) did not throw std::bad_alloc");
	threw = false;
	try {
		void *p = ::operator new[](huge, std::align_val_t(64));
		::operator delete[](p, std::align_val_t(64));
	} catch (const std::bad_alloc &) {
		threw = true;
	}
	CHECK(threw, "aligned operator new[](huge) did not throw std::bad_alloc");
	CHECK(::operator new(huge, std::nothrow) == nullptr, "nothrow new(huge) not null");
	CHECK(::operator new[](huge, std::align_val_t(128), std::nothrow) == nullptr,
	      "nothrow aligned new[](huge) not null");

	// The handler runs before the throw, and a retry follows it.
	std::set_new_handler(handler_once);
	threw = false;
	try {
		void *p = ::operator new(huge);
		::operator delete(p);
	} catch (const std::bad_alloc &) {
		threw = true;
	}
	CHECK(threw && handler_calls == 1, "handler called %d times, threw %d", handler_calls,
	      threw);
	std::set_new_handler(handler_once);
	handler_calls = 0;
	CHECK(::operator new(huge, std::nothrow) == nullptr && handler_calls == 1,
	      "nothrow: handler called %d times", handler_calls);

	// A handler that throws: the nothrow forms answer nullptr all the same
	// (they call the throwing form and catch), the plain and the aligned.
	handler_calls = 0;
	std::set_new_handler(handler_throws);
	CHECK(::operator new(huge, std::nothrow) == nullptr, "nothrow new, throwing handler");
	CHECK(::operator new[](huge, std::align_val_t(64), std::nothrow) == nullptr,
	      "nothrow aligned new[], throwing handler");
	CHECK(handler_calls == 2, "throwing handler called %d times, not 2", handler_calls);
	std::set_new_handler(nullptr);
}

int
main()
{
	check_symbols_are_gomem();
	check_alignment_every_size();
	check_objects();
	check_failure();
	if (failures != 0) {
		std::fprintf(stderr, "check_cxx: %d failures\n", failures);
		return 1;
	}
	std::printf("check_cxx: all passed\n");
	return 0;
}
