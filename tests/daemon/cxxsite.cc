// cxxsite.cc: a C++ allocation site for check_dwarf.c.  Prints the return
// address of a call made inside store::Cache::grow(int) and waits until
// stdin reaches end of file.
#include <cstdint>
#include <cstdio>
#include <unistd.h>

extern "C" __attribute__((noinline)) uintptr_t
cxxsite_here(void)
{
	uintptr_t r = (uintptr_t)__builtin_return_address(0);
	__asm__ volatile("" ::: "memory");
	return r;
}

namespace store {
struct Cache {
	static uintptr_t grow(int n);
};

static int *volatile keep;

__attribute__((noinline)) uintptr_t
Cache::grow(int n)
{
	keep = new int[n];
	uintptr_t r = cxxsite_here();
	__asm__ volatile("" ::: "memory"); // no tail call
	delete[] keep;
	return r;
}
} // namespace store

int
main()
{
	char c;

	std::printf("%lx\n", (unsigned long)store::Cache::grow(16));
	std::fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
