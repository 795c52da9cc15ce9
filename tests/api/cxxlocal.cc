// cxxlocal.cc: a C++ module that cxx_local.c loads RTLD_LOCAL, as Python
// loads an extension module: its libstdc++ is in no global scope.
#include <cstddef>
#include <new>

extern "C" int cxxlocal_huge_new(void);

// Where the block goes, so that the compiler does not drop the new/delete pair.
static char *volatile sink;

// 1 if a new that cannot be met throws std::bad_alloc (caught here).
extern "C" int
cxxlocal_huge_new(void)
{
	volatile std::size_t n = ~static_cast<std::size_t>(0) / 2;

	try {
		sink = new char[n];
		delete[] sink;
		return 0;
	} catch (const std::bad_alloc &) {
		return 1;
	}
}
