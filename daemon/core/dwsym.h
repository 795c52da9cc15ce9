/*
 * dwsym.h: symbols people can read, from elfutils libdw.  (Not dwarf.h:
 * that name is elfutils' own header.)
 *
 * A struct dwsym_proc describes one process's mapped objects (reported from
 * /proc/PID/maps while it lives) and turns an address into its frames:
 * function (C++ names demangled), file and line, and the functions inlined
 * there, innermost first, as pprof's Location.line wants them.  Debug
 * information is found where libdw's standard search looks: in the object,
 * beside it (.debug), and under /usr/lib/debug, by build ID
 * (/usr/lib/debug/.build-id/xx/rest.debug) too, which is how Debian's -dbg
 * and -dbgsym packages install it; a debuginfod client cache is used when
 * DEBUGINFOD_URLS is set in gomemd's environment.  Objects without debug
 * information still give their ELF symbol names.
 *
 * Results are cached per address.  A dwsym_proc is used by one thread at a
 * time (the caller locks); it holds no global state.
 */
#ifndef GOMEMD_DWSYM_H
#define GOMEMD_DWSYM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DWSYM_MAX_INLINE 16 /* frames per address */

struct dwsym_frame {
	const char *function; /* demangled; "" when unknown */
	const char *system_name; /* as in the object (mangled), or function */
	const char *file;     /* "" when unknown */
	int line;             /* 0 when unknown */
};

struct dwsym_module {
	const char *path;     /* as mapped */
	const char *build_id; /* hex, "" when none */
	uint64_t start, end;  /* mapped range */
	uint64_t offset;      /* file offset of start */
	bool has_functions, has_lines;
};

struct dwsym_loc {
	uint64_t pc;
	const struct dwsym_module *module; /* NULL: not in a mapped object */
	unsigned nframes;                  /* 0: no symbol at all */
	const struct dwsym_frame *frames;  /* innermost (inlined) first */
};

struct dwsym_proc;

/* Report pid's mapped objects; NULL with a reason in err. */
struct dwsym_proc *dwsym_proc_open(pid_t pid, char *err, size_t errlen);

/*
 * The frames at pc.  A return address (every frame of a stack but the
 * first) is looked up at pc - 1, inside the call.  The result lives as long
 * as the dwsym_proc.
 */
const struct dwsym_loc *dwsym_proc_lookup(struct dwsym_proc *dp, uint64_t pc, bool return_addr);

/* The modules reported, for pprof's Mapping table. */
size_t dwsym_proc_modules(struct dwsym_proc *dp, const struct dwsym_module **mods);

/*
 * Free libdw's state for the process (its debug information: megabytes for a
 * libc with separate debug info) but keep every address resolved so far; a
 * lookup of a new address reports the process again, if it still runs.
 */
void dwsym_proc_release(struct dwsym_proc *dp);
bool dwsym_proc_is_open(const struct dwsym_proc *dp);

void dwsym_proc_close(struct dwsym_proc *dp);

/* C++ (Itanium ABI) demangling; a copy of name when it is not mangled. */
char *dwsym_demangle(const char *name);

#endif /* GOMEMD_DWSYM_H */
