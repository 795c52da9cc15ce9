/*
 * fuzz_procelf.c: libFuzzer harness for the heap profile table's lookup
 * (daemon/core/procprof.c, elf_find_symbol): gomemd reads the symbol table
 * of any file named *gomem* that a watched process maps, so every byte is
 * hostile.  The input is the file, handed over as a memfd, read with pread
 * as gomemd reads it; the bounds on the tables libelf reads whole keep a
 * run within the RSS limit.  Included, not linked, to reach the static
 * function.
 */
#include "../../daemon/core/procprof.c"

#include <sys/mman.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t value = 0, load0 = 0;
	int fd = memfd_create("procelf", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	elf_version(EV_CURRENT);
	if (write(fd, data, size) == (ssize_t)size && elf_find_symbol(fd, &value, &load0) == 0 &&
	    load0 % 4096 != 0)
		abort(); /* the first PT_LOAD's address is page-aligned by construction */
	close(fd);
	return 0;
}
