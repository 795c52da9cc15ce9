/*
 * cxx_local.c: operator new failing in a C++ module that a C program
 * loaded RTLD_LOCAL (Python and its extension modules).  The module's new
 * is libgomem's; its libstdc++ is not in the global scope, where libgomem
 * first looks for std::get_new_handler and std::__throw_bad_alloc.  The
 * failure must still be std::bad_alloc, caught by the module, not an abort.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "gomem.h"

int main(void)
{
	void *h = dlopen("./.libs/cxxlocal.so", RTLD_NOW | RTLD_LOCAL), *nw;
	int (*f)(void);
	Dl_info di;

	/* The module's operator new[] must be libgomem's (the global scope's). */
	nw = dlsym(RTLD_DEFAULT, "_Znam");
	if (nw == NULL || dladdr(nw, &di) == 0 || strstr(di.dli_fname, "libgomem") == NULL) {
		fprintf(stderr, "cxx_local: operator new[] is not libgomem %s's\n", gomem_version());
		return 1;
	}
	if (h == NULL) {
		fprintf(stderr, "cxx_local: %s\n", dlerror());
		return 1;
	}
	if (dlsym(RTLD_DEFAULT, "_ZSt15get_new_handlerv") != NULL) {
		fprintf(stderr, "cxx_local: libstdc++ is in the global scope: nothing tested\n");
		return 1;
	}
	f = (int (*)(void))dlsym(h, "cxxlocal_huge_new");
	if (f == NULL) {
		fprintf(stderr, "cxx_local: %s\n", dlerror());
		return 1;
	}
	if (f() != 1) {
		fprintf(stderr, "cxx_local: a new of half the address space did not throw\n");
		return 1;
	}
	printf("cxx_local: std::bad_alloc from a module loaded RTLD_LOCAL\n");
	return 0;
}
