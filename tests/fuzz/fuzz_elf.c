/*
 * fuzz_elf.c: libFuzzer harness for the symboliser (daemon/core/dwsym.c over
 * elfutils libdw): a watched process chooses the files root parses, so every
 * byte is hostile.  The input is the file, handed over as a memfd and
 * reported to libdw as an offline module; a few addresses are resolved the
 * way dwsym resolves a process's PCs (symbol, file:line, inlined frames,
 * demangled names).  Included, not linked, to reach the static resolver.
 */
#include "../../daemon/core/dwsym.c"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *no_debuginfo_path;
static const Dwfl_Callbacks offline_callbacks = {
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = &no_debuginfo_path,
};

static void
free_frame(struct dwsym_frame *f)
{
	free((char *)f->function);
	free((char *)f->system_name);
	free((char *)f->file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t pcs[] = {1, 0x1000, 0x1001, 0x401000, 0x7fff, ~0ull >> 1};
	struct dwsym_frame fr[DWSYM_MAX_INLINE];
	const unsigned char *bits;
	GElf_Addr vaddr, lo, hi;
	Dwfl_Module *mod;
	Dwfl *dwfl;
	char path[64];
	int fd, i, n;
	unsigned k, j;
	bool lines;

	fd = memfd_create("lib.so", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	dwfl = dwfl_begin(&offline_callbacks);
	if (dwfl == NULL) {
		close(fd);
		return 0;
	}
	/* libdw takes the descriptor (and closes it with the Dwfl). */
	mod = dwfl_report_offline(dwfl, "lib.so", path, fd);
	dwfl_report_end(dwfl, NULL, NULL);
	if (mod != NULL) {
		dwfl_module_info(mod, NULL, &lo, &hi, NULL, NULL, NULL, NULL);
		n = dwfl_module_build_id(mod, &bits, &vaddr);
		(void)n;
		for (i = 0; i < (int)(sizeof pcs / sizeof pcs[0]) + 2; i++) {
			uint64_t pc = i < 2 ? (i == 0 ? lo : (lo + hi) / 2) : pcs[i - 2];

			k = module_frames(mod, pc, fr, &lines);
			if (k > DWSYM_MAX_INLINE)
				abort();
			for (j = 0; j < k; j++) {
				if (fr[j].function == NULL || fr[j].file == NULL)
					abort();
				free_frame(&fr[j]);
			}
		}
	} else {
		close(fd);
	}
	dwfl_end(dwfl);
	return 0;
}
