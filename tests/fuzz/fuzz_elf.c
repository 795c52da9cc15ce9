/*
 * fuzz_elf.c: libFuzzer harness for the symboliser's ELF reader
 * (daemon/core/symbolize.c over libelf): a watched process chooses the files
 * root parses, so every byte is hostile.  The input is the file, handed
 * over as a memfd; the symbol table and PT_LOADs are read and a few
 * addresses looked up.  Included, not linked, to reach the static reader.
 */
#include "../../daemon/core/symbolize.c"

#include <sys/mman.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t pcs[] = {1, 0x1000, 0x1001, 0x401000, 0x7fff, ~0ull};
	struct sym_mapping mp;
	struct sym_elf *se;
	const char *bid;
	struct stat st;
	int fd, has;
	size_t i;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return 0;
	fd = memfd_create("lib.so", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if ((size > 0 && write(fd, data, size) != (ssize_t)size) || fstat(fd, &st) != 0) {
		close(fd);
		return 0;
	}
	se = elf_load(fd, &st);
	close(fd);
	if (se == NULL)
		return 0;
	memset(&mp, 0, sizeof mp);
	mp.start = 0x1000;
	mp.limit = 0x100000;
	mp.elf = se;
	mp.elf_tried = 1;
	for (i = 0; i < sizeof pcs / sizeof pcs[0]; i++) {
		const char *name = sym_lookup(0, &mp, pcs[i], &bid, &has);

		if (name != NULL && strlen(name) == 0)
			abort();
	}
	for (i = 1; i < se->nsyms; i++)
		if (se->syms[i - 1].addr >= se->syms[i].addr)
			abort(); /* sorted, one symbol per address */
	elf_free(se);
	return 0;
}
