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
 * An object mapped by many processes (libc, libgomem, one binary run a
 * hundred times) is read once: its DWARF and what its offsets resolved to
 * are shared by build ID (a file root owns) or by file; a process holds
 * only its mappings and a cache of its addresses.  A bounded number of
 * objects keep libdw's state loaded (least recently used ended first).
 *
 * Thread-safe: every function may be called from any thread; a lookup
 * that reads an object's DWARF blocks lookups in that object and that
 * process only.  Files are opened through base/safefile.c (the inode the
 * maps line names, no link followed, never blocking); separate debug
 * information is looked for by build ID only.
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
};

struct dwsym_loc {
	uint64_t pc;
	const struct dwsym_module *module; /* NULL: not in a mapped object */
	unsigned nframes;                  /* 0: no symbol at all */
	const struct dwsym_frame *frames;  /* innermost (inlined) first */
	bool lines;                        /* frames[0] has a file and line */
};

/* The shared objects, over all processes. */
struct dwsym_stats {
	uint64_t modules;     /* objects known (each once, however many map it) */
	uint64_t open;        /* of them with libdw's state loaded now */
	uint64_t open_bytes;  /* their files' sizes (object and debug file) */
	uint64_t loads;       /* times an object's libdw state was loaded */
	uint64_t evictions;   /* times one was ended to stay in the limits */
	uint64_t shared_hits; /* a process's object found already known */
	uint64_t resolved;    /* object offsets resolved and kept */
};

struct dwsym_proc;

/* Report pid's mapped objects; NULL with a reason in err. */
struct dwsym_proc *dwsym_proc_open(pid_t pid, char *err, size_t errlen);

/*
 * The frames at pc.  A return address (every frame of a stack but the
 * first) is looked up at pc - 1, inside the call.  The result lives as long
 * as the dwsym_proc.  An address in no object known reads the process's
 * maps again (at most once a second): objects mapped since are added.
 */
const struct dwsym_loc *dwsym_proc_lookup(struct dwsym_proc *dp, uint64_t pc, bool return_addr);

/* The modules reported, for pprof's Mapping table. */
size_t dwsym_proc_modules(struct dwsym_proc *dp, const struct dwsym_module **mods);

/* Another reference to dp (dwsym_proc_close drops one; the last frees it). */
struct dwsym_proc *dwsym_proc_hold(struct dwsym_proc *dp);
void dwsym_proc_close(struct dwsym_proc *dp);

void dwsym_stats(struct dwsym_stats *out);

/*
 * Objects with libdw's state loaded at once, and the bytes of their files
 * (0: the defaults, 32 and 512 MiB).  Resolved offsets outlive an object's
 * unloading; a new offset loads it again through a process that maps it.
 */
void dwsym_set_limits(size_t open_modules, uint64_t open_bytes);

/* C++ (Itanium ABI) demangling; a copy of name when it is not mangled. */
char *dwsym_demangle(const char *name);

/*
 * Names and file names come from the watched process's objects, whose owner
 * wrote them: each is kept, and sent, as at most DWSYM_MAX_NAME bytes (a
 * longer one is cut at the start of a character and ends in "..."), with
 * every control byte as '?' (a newline would end a line of the text
 * profile, ?debug=1).  Demangled names are too; a mangled name longer than
 * that is not demangled.  A new string (malloc).
 */
#define DWSYM_MAX_NAME 4096
char *dwsym_clean(const char *s);

#endif /* GOMEMD_DWSYM_H */
