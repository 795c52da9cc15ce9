/*
 * dwsym.c: addresses to functions, files, lines and inlined frames (libdw).
 *
 * See dwarf.h.  For an address in a module with DWARF, the scopes that
 * contain it (dwarf_getscopes) run from the innermost inlined body out to
 * the function that holds them; each inlined body is one frame, placed at
 * the line being executed for the innermost and at its caller's
 * DW_AT_call_file:DW_AT_call_line for the others.  Without DWARF the ELF
 * symbol (symtab or dynsym) names the frame.
 */
#include "config.h"

#include "core/dwsym.h"
#include "base/log.h"
#include "base/safefile.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DWSYM_MAX_CACHE ((size_t)1 << 20) /* addresses remembered per process */
#define DWSYM_MAX_MODULES 4096

/* libstdc++'s demangler (C linkage). */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

struct dwsym_entry {
	uint64_t key; /* pc * 2 + return_addr; 0 empty */
	struct dwsym_loc *loc;
};

struct dwsym_proc {
	pid_t pid;
	Dwfl *dwfl;
	struct dwsym_module *mods;
	size_t nmods;
	struct dwsym_entry *cache;
	size_t cap, used;
};

static char *debuginfo_path; /* NULL: libdw's default, /usr/lib/debug and beside */

/*
 * The process whose modules libdw is opening on this thread: libdw opens a
 * module's file lazily (when it is first symbolised), from the callbacks below.
 */
static __thread pid_t dwsym_pid;

/*
 * A module's file, opened so a watched process cannot make gomemd block or
 * follow a link: the path in /proc/PID/maps is the process owner's choice (it
 * may now be a FIFO, a symlink or another file), so the file is reached
 * through /proc/PID/map_files/START-END, or beneath /proc/PID/root without
 * following links, non-blocking, and only if it is the regular file with the
 * device and inode the maps line states (base/safefile.c).  libdw's own
 * dwfl_linux_proc_find_elf opens the path as it is; it still serves the
 * pseudo-modules ("[vdso]"), which it reads from the process's memory.
 */
static int
find_elf_safe(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
	      char **file_name, Elf **elfp)
{
	struct safefile_map m;
	Dwarf_Addr lo = 0;
	char line[4352], path[64], err[256];
	FILE *f;
	int fd = -1;

	if (modname == NULL || modname[0] != '/')
		return dwfl_linux_proc_find_elf(mod, userdata, modname, base, file_name, elfp);
	dwfl_module_info(mod, NULL, &lo, NULL, NULL, NULL, NULL, NULL);
	snprintf(path, sizeof path, "/proc/%d/maps", (int)dwsym_pid);
	if (dwsym_pid <= 0 || (f = fopen(path, "re")) == NULL)
		return -1;
	while (fd < 0 && fgets(line, sizeof line, f) != NULL) {
		if (safefile_parse_map(line, &m) != 0 || m.inode == 0 || lo < m.start ||
		    lo >= m.end || strcmp(m.path, modname) != 0)
			continue;
		fd = safefile_open((int)dwsym_pid, &m, SAFEFILE_ANY, err, sizeof err);
		if (fd < 0)
			log_debug("process %d: not opening %s: %s", (int)dwsym_pid, modname, err);
	}
	fclose(f);
	if (fd >= 0) {
		*file_name = strdup(modname);
		*elfp = NULL;
	}
	return fd;
}

/*
 * Separate debug information by build ID only, under the debug directory
 * (root's tree: /usr/lib/debug/.build-id/xx/rest.debug).  libdw's standard
 * search also tries the .gnu_debuglink name beside the module, in a
 * directory the watched process's owner may control.
 */
static int
find_debuginfo_safe(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
		    const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
		    char **debuginfo_file_name)
{
	return dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
					    debuglink_crc, debuginfo_file_name);
}

static const Dwfl_Callbacks proc_callbacks = {
	.find_elf = find_elf_safe,
	.find_debuginfo = find_debuginfo_safe,
	.debuginfo_path = &debuginfo_path,
};

static const struct dwsym_loc unknown_loc;

static char *
xstrdup0(const char *s)
{
	char *d = strdup(s != NULL ? s : "");

	if (d == NULL)
		abort();
	return d;
}

char *
dwsym_demangle(const char *name)
{
	int status = -1;
	char *d;

	if (name == NULL)
		return xstrdup0("");
	if (name[0] == '_' && name[1] == 'Z') {
		d = __cxa_demangle(name, NULL, NULL, &status);
		if (d != NULL && status == 0)
			return d;
		free(d);
	}
	return xstrdup0(name);
}

/* ---- modules ---- */

static int
collect_module(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr start, void *arg)
{
	struct dwsym_proc *dp = arg;
	struct dwsym_module *m;
	const unsigned char *bits;
	GElf_Addr vaddr;
	Dwarf_Addr lo, hi;
	int n;

	(void)start;
	dwfl_module_info(mod, NULL, &lo, &hi, NULL, NULL, NULL, NULL);
	/* Reopened after dwsym_proc_release: the module list is kept. */
	for (size_t i = 0; i < dp->nmods; i++) {
		if (dp->mods[i].start == lo && strcmp(dp->mods[i].path, name) == 0) {
			*userdata = (void *)(uintptr_t)(i + 1);
			return DWARF_CB_OK;
		}
	}
	if (dp->nmods == DWSYM_MAX_MODULES)
		return DWARF_CB_ABORT;
	m = &dp->mods[dp->nmods];
	m->path = xstrdup0(name);
	m->start = lo;
	m->end = hi;
	m->offset = 0;
	{
		GElf_Addr bias;

		(void)dwfl_module_getelf(mod, &bias); /* the build ID is read with the ELF */
	}
	n = dwfl_module_build_id(mod, &bits, &vaddr);
	if (n > 0 && n <= 64) {
		char *hex = malloc((size_t)n * 2 + 1);

		if (hex == NULL)
			abort();
		for (int i = 0; i < n; i++)
			snprintf(hex + 2 * i, 3, "%02x", bits[i]);
		m->build_id = hex;
	} else {
		m->build_id = xstrdup0("");
	}
	*userdata = (void *)(uintptr_t)(dp->nmods + 1);
	dp->nmods++;
	return DWARF_CB_OK;
}

/* Report dp->pid's mappings to a new Dwfl; -1 with a reason in err. */
static int
dwsym_report(struct dwsym_proc *dp, char *err, size_t errlen)
{
	int rc;

	dwsym_pid = dp->pid;
	dp->dwfl = dwfl_begin(&proc_callbacks);
	if (dp->dwfl == NULL) {
		snprintf(err, errlen, "libdw: %s", dwfl_errmsg(-1));
		return -1;
	}
	rc = dwfl_linux_proc_report(dp->dwfl, dp->pid);
	if (rc != 0 || dwfl_report_end(dp->dwfl, NULL, NULL) != 0) {
		snprintf(err, errlen, "cannot read the mappings of pid %d: %s", (int)dp->pid,
			 rc > 0 ? strerror(rc) : dwfl_errmsg(-1));
		dwfl_end(dp->dwfl);
		dp->dwfl = NULL;
		return -1;
	}
	dwfl_getmodules(dp->dwfl, collect_module, dp, 0);
	return 0;
}

struct dwsym_proc *
dwsym_proc_open(pid_t pid, char *err, size_t errlen)
{
	struct dwsym_proc *dp = calloc(1, sizeof(*dp));

	if (dp == NULL)
		abort();
	dp->pid = pid;
	dp->mods = calloc(DWSYM_MAX_MODULES, sizeof(*dp->mods));
	if (dp->mods == NULL)
		abort();
	if (dwsym_report(dp, err, errlen) != 0) {
		free(dp->mods);
		free(dp);
		return NULL;
	}
	return dp;
}

bool
dwsym_proc_is_open(const struct dwsym_proc *dp)
{
	return dp != NULL && dp->dwfl != NULL;
}

void
dwsym_proc_release(struct dwsym_proc *dp)
{
	if (dp == NULL || dp->dwfl == NULL)
		return;
	dwfl_end(dp->dwfl);
	dp->dwfl = NULL;
}

size_t
dwsym_proc_modules(struct dwsym_proc *dp, const struct dwsym_module **mods)
{
	*mods = dp->mods;
	return dp->nmods;
}

/* ---- frames ---- */

/* The linkage (mangled) name of a subprogram or inlined body, else its name. */
static const char *
die_name(Dwarf_Die *die)
{
	Dwarf_Attribute a;
	const char *s = NULL;

	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &a) != NULL ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a) != NULL)
		s = dwarf_formstring(&a);
	if (s == NULL && dwarf_attr_integrate(die, DW_AT_name, &a) != NULL)
		s = dwarf_formstring(&a);
	return s;
}

/* Where an inlined body was called from, in its caller. */
static void
call_site(Dwarf_Die *cu, Dwarf_Die *inl, const char **file, int *line)
{
	Dwarf_Attribute a;
	Dwarf_Word v;
	Dwarf_Files *files;
	size_t nfiles;

	*file = NULL;
	*line = 0;
	if (dwarf_attr(inl, DW_AT_call_line, &a) != NULL && dwarf_formudata(&a, &v) == 0)
		*line = (int)v;
	if (dwarf_attr(inl, DW_AT_call_file, &a) != NULL && dwarf_formudata(&a, &v) == 0 &&
	    dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && v < nfiles)
		*file = dwarf_filesrc(files, v, NULL, NULL);
}

static void
set_frame(struct dwsym_frame *f, const char *name, const char *file, int line)
{
	f->system_name = xstrdup0(name);
	f->function = dwsym_demangle(name);
	f->file = xstrdup0(file);
	f->line = line;
}

/* Fill fr with the frames at addr in mod; returns how many. */
static unsigned
module_frames(Dwfl_Module *mod, Dwarf_Addr addr, struct dwsym_frame *fr, bool *lines)
{
	const char *symname, *file = NULL;
	Dwarf_Die *cu, *scopes = NULL;
	Dwfl_Line *ln;
	Dwarf_Addr bias;
	GElf_Sym sym;
	GElf_Off off;
	unsigned n = 0;
	int line = 0, ns, i;

	symname = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
	ln = dwfl_module_getsrc(mod, addr);
	if (ln != NULL)
		file = dwfl_lineinfo(ln, NULL, &line, NULL, NULL, NULL);
	*lines = file != NULL && line > 0;
	cu = dwfl_module_addrdie(mod, addr, &bias);
	if (cu != NULL && (ns = dwarf_getscopes(cu, addr - bias, &scopes)) > 0) {
		/* dwarf_getscopes follows an inlined body to its abstract origin;
		   the chain of the concrete DIEs that contain it gives the callers. */
		Dwarf_Die inner = scopes[0], *chain = NULL;

		free(scopes);
		scopes = NULL;
		ns = dwarf_getscopes_die(&inner, &chain);
		scopes = chain;
		for (i = 0; i < ns && n < DWSYM_MAX_INLINE; i++) {
			int tag = dwarf_tag(&scopes[i]);
			const char *name;

			if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine)
				continue;
			name = die_name(&scopes[i]);
			set_frame(&fr[n++], name != NULL ? name : symname, file, line);
			if (tag == DW_TAG_subprogram)
				break;
			call_site(cu, &scopes[i], &file, &line);
		}
	}
	free(scopes);
	if (n == 0 && symname != NULL)
		set_frame(&fr[n++], symname, file, line);
	return n;
}

static struct dwsym_loc *
resolve(struct dwsym_proc *dp, uint64_t pc, bool return_addr)
{
	struct dwsym_frame fr[DWSYM_MAX_INLINE];
	struct dwsym_loc *loc = calloc(1, sizeof(*loc));
	Dwarf_Addr addr = return_addr && pc > 0 ? pc - 1 : pc;
	Dwfl_Module *mod;
	void **ud = NULL;
	bool lines = false;

	if (loc == NULL)
		abort();
	loc->pc = pc;
	if (dp->dwfl == NULL) { /* released: report the process again (it may be gone) */
		char err[256];

		if (dwsym_report(dp, err, sizeof err) != 0)
			return loc;
	}
	mod = dwfl_addrmodule(dp->dwfl, addr);
	if (mod == NULL)
		return loc;
	dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	if (ud != NULL && *ud != NULL && (uintptr_t)*ud <= dp->nmods)
		loc->module = &dp->mods[(uintptr_t)*ud - 1];
	loc->nframes = module_frames(mod, addr, fr, &lines);
	if (loc->nframes > 0) {
		struct dwsym_frame *copy = malloc(loc->nframes * sizeof(*copy));

		if (copy == NULL)
			abort();
		memcpy(copy, fr, loc->nframes * sizeof(*copy));
		loc->frames = copy;
		if (loc->module != NULL) {
			struct dwsym_module *m = (struct dwsym_module *)loc->module;

			m->has_functions = true;
			m->has_lines |= lines;
		}
	}
	return loc;
}

static void
free_loc(struct dwsym_loc *loc)
{
	for (unsigned i = 0; i < loc->nframes; i++) {
		free((char *)loc->frames[i].function);
		free((char *)loc->frames[i].system_name);
		free((char *)loc->frames[i].file);
	}
	free((void *)loc->frames);
	free(loc);
}

static struct dwsym_entry *
slot(struct dwsym_proc *dp, uint64_t key)
{
	size_t mask = dp->cap - 1, i = (size_t)((key * 0x9e3779b97f4a7c15u) >> 20) & mask;

	while (dp->cache[i].key != 0 && dp->cache[i].key != key)
		i = (i + 1) & mask;
	return &dp->cache[i];
}

const struct dwsym_loc *
dwsym_proc_lookup(struct dwsym_proc *dp, uint64_t pc, bool return_addr)
{
	uint64_t key = pc * 2 + (return_addr ? 1 : 0);
	struct dwsym_entry *e;

	dwsym_pid = dp->pid; /* libdw may open the module's file now */
	if (key == 0 || pc > (UINT64_MAX >> 1))
		return &unknown_loc;
	if ((dp->used + 1) * 2 > dp->cap) {
		struct dwsym_entry *old = dp->cache;
		size_t oldcap = dp->cap, i;

		if (dp->used >= DWSYM_MAX_CACHE)
			return &unknown_loc;
		dp->cap = oldcap ? oldcap * 2 : 1024;
		dp->cache = calloc(dp->cap, sizeof(*dp->cache));
		if (dp->cache == NULL)
			abort();
		for (i = 0; i < oldcap; i++)
			if (old[i].key != 0)
				*slot(dp, old[i].key) = old[i];
		free(old);
	}
	e = slot(dp, key);
	if (e->key == 0) {
		e->key = key;
		e->loc = resolve(dp, pc, return_addr);
		dp->used++;
	}
	return e->loc;
}

void
dwsym_proc_close(struct dwsym_proc *dp)
{
	size_t i;

	if (dp == NULL)
		return;
	for (i = 0; i < dp->cap; i++)
		if (dp->cache[i].key != 0)
			free_loc(dp->cache[i].loc);
	free(dp->cache);
	for (i = 0; i < dp->nmods; i++) {
		free((char *)dp->mods[i].path);
		free((char *)dp->mods[i].build_id);
	}
	free(dp->mods);
	if (dp->dwfl != NULL)
		dwfl_end(dp->dwfl);
	free(dp);
}
