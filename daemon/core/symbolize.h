/*
 * symbolize.h: PCs of a live process -> ELF symbols (bcc's syms__load_pid
 * approach on libelf).  /proc/PID/maps gives the mapping of a PC; the
 * mapping's file is opened through /proc/PID/root (else map_files), its
 * .symtab and .dynsym loaded once and cached by file identity (dev, inode,
 * size, mtime) together with its GNU build-id; address - start + offset is
 * the file offset, which a PT_LOAD header turns into an ELF vaddr looked up
 * in the sorted symbols.
 */
#ifndef GOMEMD_SYMBOLIZE_H
#define GOMEMD_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

struct sym_elf;

/* One executable mapping of a process. */
struct sym_mapping {
	uint64_t start, limit, offset;
	char *path; /* as /proc/PID/maps names it ("[vdso]" etc. too) */
	unsigned long long inode;
	unsigned dev_major, dev_minor; /* as the maps line states them */
	int deleted;		       /* the maps line said " (deleted)" */
	struct sym_elf *elf;	       /* NULL until loaded, or when it cannot be */
	int elf_tried;
};

/* A process's executable mappings, sorted by start. */
struct sym_maps {
	int pid;
	struct sym_mapping *v;
	size_t n;
};

/* Read /proc/PID/maps (executable mappings); 0 on success. */
int sym_maps_load(struct sym_maps *m, int pid);
void sym_maps_free(struct sym_maps *m);
/* The mapping holding pc, or NULL. */
struct sym_mapping *sym_maps_find(struct sym_maps *m, uint64_t pc);

/*
 * Symbolize pc (a return address: pc - 1 is looked up) in mapping mp of
 * process pid.  Returns the function name (owned by the cache, valid until
 * sym_cache_fini) or NULL.  *build_id gets the mapping's build-id in hex
 * ("" if none) and *has_syms whether the file had symbols: 1 or 0, or -1
 * when the file is still being loaded (queued for the loader thread; never
 * read here): ask again later.
 */
const char *sym_lookup(int pid, struct sym_mapping *mp, uint64_t pc, const char **build_id,
		       int *has_syms);

/* Files currently cached. */
size_t sym_cache_count(void);
void sym_cache_fini(void);

#endif /* GOMEMD_SYMBOLIZE_H */
