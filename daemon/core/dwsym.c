/*
 * dwsym.c: addresses to functions, files, lines and inlined frames (libdw).
 *
 * See dwsym.h.  For an address in a module with DWARF, the scopes that
 * contain it (dwarf_getscopes) run from the innermost inlined body out to
 * the function that holds them; each inlined body is one frame, placed at
 * the line being executed for the innermost and at its caller's
 * DW_AT_call_file:DW_AT_call_line for the others.  Without DWARF the ELF
 * symbol (symtab or dynsym) names the frame.
 *
 * Objects are shared between processes.  A struct shmod is one object file
 * (keyed by its GNU build ID when root owns it and only root may write it,
 * else by build ID, device, inode, size and mtime) with a
 * Dwfl of its own in which the object sits at its link-time addresses
 * (dwfl_report_elf, base 0), so an address of any process that maps it is
 * looked up at pc - bias, that process's load bias.  libc with libc6-dbg
 * costs its DWARF index once for a hundred processes, and what an offset
 * resolved to is kept with the object, for every process.  A process keeps
 * only its mappings (struct pmod: where each object is, its bias) and its
 * own pc -> location cache (the location names its mapping for pprof).
 * An address in no object the process had reads its maps again (at most
 * once a second), so a library dlopen'ed after the first lookup resolves.
 *
 * At most DWSYM_OPEN_MODULES objects, of at most DWSYM_OPEN_BYTES of files,
 * have libdw state at once; the least recently used is ended (its resolved
 * offsets stay) and reopened through a process that maps it when an offset
 * not yet resolved comes.
 *
 * Locks, in the order taken: a process's lock (its cache) -> an object's
 * lock (its Dwfl and resolved offsets) -> tab_lock (the table of objects,
 * reference counts, the LRU clock and the counters; a leaf).  Reading an
 * object's DWARF happens under that object's lock only.
 */
#include "config.h"

#include "core/dwsym.h"
#include "base/log.h"
#include "base/safefile.h"
#include "base/utf8.h"

#include <dwarf.h>
#include <errno.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DWSYM_MAX_CACHE ((size_t)1 << 20)   /* addresses remembered per process */
#define DWSYM_MAX_RESOLVED ((size_t)1 << 21) /* offsets remembered over all objects */
#define DWSYM_MAX_MODULES 4096               /* objects mapped by one process */
#define DWSYM_MAX_MAPS 65536                 /* lines of /proc/PID/maps read */
#define DWSYM_MAX_LOADS 16                   /* PT_LOAD headers kept per object */
#define DWSYM_MAX_ELF ((off_t)1 << 32)
#define DWSYM_OPEN_MODULES 32
#define DWSYM_RESCAN_NS 1000000000ull        /* a process's maps reread at most this often */
#define DWSYM_OPEN_BYTES ((uint64_t)512 << 20)

/* libstdc++'s demangler (C linkage). */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

/* What an object offset resolved to (shared by every process). */
struct shsym {
	uint64_t key; /* (offset * 2 + return_addr) + 1; 0 empty */
	unsigned nframes;
	bool lines;
	struct dwsym_frame *frames;
};

struct elf_load {
	uint64_t offset, vaddr, filesz;
};

/* One object file, shared by the processes that map it. */
struct shmod {
	char key[224];		/* "b:" build ID, or "f:" build ID:dev:ino:size:mtime */
	char build_id[129];	/* hex, "" when none */
	struct elf_load loads[DWSYM_MAX_LOADS];
	unsigned nloads;
	unsigned refs;		/* processes and holders (tab_lock) */
	uint64_t used;		/* LRU clock of the last lookup (tab_lock) */
	uint64_t bytes;		/* its files' sizes, while open (tab_lock) */
	bool open;		/* dwfl != NULL, as tab_lock sees it */
	pthread_mutex_t lock;	/* guards the fields below */
	Dwfl *dwfl;		/* NULL: not loaded now */
	Dwfl_Module *mod;
	bool has_functions, has_lines;
	struct shsym *cache;
	size_t cap, used_slots;
	struct shmod *next;
};

/* One object as one process maps it. */
struct pmod {
	struct shmod *sh;
	uint64_t bias;		  /* process address - object address */
	struct safefile_map first; /* a mapping of it, to reopen the file */
};

struct dwsym_entry {
	uint64_t key; /* pc * 2 + return_addr; 0 empty */
	struct dwsym_loc *loc;
};

/*
 * mods is reserved for DWSYM_MAX_MODULES entries up front (pages are touched
 * only as entries are written), so it never moves: locations point into it
 * and pprof numbers mappings by index.  An entry never changes once counted
 * in nmods, which only grows (a rescan appends objects mapped since) and is
 * read without the lock by dwsym_proc_modules.
 */
struct dwsym_proc {
	pid_t pid;
	unsigned refs; /* tab_lock */
	pthread_mutex_t lock; /* guards everything below but the entries before nmods */
	struct dwsym_module *mods;
	struct pmod *pm;
	size_t nmods, pmcap; /* nmods: atomic stores, under lock */
	uint64_t rescan_ns;  /* CLOCK_MONOTONIC of the last read of the maps */
	struct dwsym_entry *cache;
	size_t cap, used;
	struct dwsym_loc **stale; /* replaced locations, freed with dp (readers may hold them) */
	size_t nstale, stalecap;
};

static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shmod *shlist;
static uint64_t lru_clock;
static size_t open_limit = DWSYM_OPEN_MODULES;
static uint64_t open_bytes_limit = DWSYM_OPEN_BYTES;
static struct dwsym_stats stats; /* tab_lock */

static pthread_once_t elf_once = PTHREAD_ONCE_INIT;

static char *debuginfo_path; /* NULL: libdw's default, /usr/lib/debug and beside */

/* Every object is reported with its descriptor: libdw never opens a path itself. */
static int
find_elf_none(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
	      char **file_name, Elf **elfp)
{
	(void)mod, (void)userdata, (void)modname, (void)base, (void)file_name, (void)elfp;
	return -1;
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

static const Dwfl_Callbacks obj_callbacks = {
	.find_elf = find_elf_none,
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
dwsym_clean(const char *s)
{
	size_t n = s != NULL ? strnlen(s, DWSYM_MAX_NAME + 1) : 0, i, k;
	bool cut = n > DWSYM_MAX_NAME;
	char *d;

	if (cut) {
		/* Room for the mark, at the start of a character (the bytes
		 * from DWSYM_MAX_NAME - 3 on are there to read). */
		for (i = 0; i < DWSYM_MAX_NAME - 3; i += k) {
			k = utf8_seq_len((const unsigned char *)s + i, n - i);
			if (k == 0)
				k = 1;
			if (i + k > DWSYM_MAX_NAME - 3)
				break;
		}
		n = i;
	}
	d = malloc(n + (cut ? 4 : 1));
	if (d == NULL)
		abort();
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		d[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (cut) {
		memcpy(d + n, "...", 3);
		n += 3;
	}
	d[n] = 0;
	return d;
}

char *
dwsym_demangle(const char *name)
{
	int status = -1;
	char *d, *c;

	if (name == NULL)
		return xstrdup0("");
	/* A longer name is nobody's (the demangler recurses on its input). */
	if (name[0] == '_' && name[1] == 'Z' && strnlen(name, DWSYM_MAX_NAME + 1) <= DWSYM_MAX_NAME) {
		d = __cxa_demangle(name, NULL, NULL, &status);
		if (d != NULL && status == 0) {
			c = dwsym_clean(d);
			free(d);
			return c;
		}
		free(d);
	}
	return dwsym_clean(name);
}

/* ---- objects ---- */

static void
elf_init(void)
{
	elf_version(EV_CURRENT);
}

/*
 * The build ID and PT_LOAD headers of the ELF file fd, read with pread (a
 * file the process owner may truncate is not mapped here; libdw, which
 * maps the objects it loads, is covered by base/mapguard.c).  0 or -1.
 */
static int
elf_identity(int fd, char *build_id, size_t idlen, struct elf_load *loads, unsigned *nloads)
{
	Elf *e;
	size_t nph, i;
	int rc = -1;

	build_id[0] = 0;
	*nloads = 0;
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (e == NULL)
		return -1;
	if (elf_kind(e) != ELF_K_ELF || elf_getphdrnum(e, &nph) != 0)
		goto out;
	for (i = 0; i < nph && i < 256; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(e, (int)i, &ph) == NULL)
			continue;
		if (ph.p_type == PT_LOAD && *nloads < DWSYM_MAX_LOADS) {
			loads[*nloads].offset = ph.p_offset;
			loads[*nloads].vaddr = ph.p_vaddr;
			loads[*nloads].filesz = ph.p_filesz;
			(*nloads)++;
		} else if (ph.p_type == PT_NOTE && build_id[0] == 0 && ph.p_filesz < (1u << 20)) {
			Elf_Data *d = elf_getdata_rawchunk(e, (int64_t)ph.p_offset,
							   (size_t)ph.p_filesz, ELF_T_NHDR);
			size_t off = 0, noff, doff;
			GElf_Nhdr nh;

			while (d != NULL && (off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
				if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
				    memcmp((const char *)d->d_buf + noff, "GNU", 4) != 0 ||
				    nh.n_descsz == 0 || nh.n_descsz * 2 + 1 > idlen)
					continue;
				for (size_t k = 0; k < nh.n_descsz; k++)
					snprintf(build_id + 2 * k, 3, "%02x",
						 ((const unsigned char *)d->d_buf)[doff + k]);
				break;
			}
		}
	}
	rc = *nloads > 0 ? 0 : -1;
out:
	elf_end(e);
	return rc;
}

/* The object address that file offset off is loaded at; -1 when no PT_LOAD has it. */
static int
offset_vaddr(const struct shmod *sh, uint64_t off, uint64_t *vaddr)
{
	for (unsigned i = 0; i < sh->nloads; i++) {
		const struct elf_load *l = &sh->loads[i];
		uint64_t lo = l->offset & ~(uint64_t)0xfff;

		if (off >= lo && off < l->offset + l->filesz + 0x1000) {
			*vaddr = l->vaddr - (l->offset - off);
			return 0;
		}
	}
	return -1;
}

/* Load sh's object from fd (consumed) into a Dwfl of its own; sh->lock held. */
static int
shmod_load(struct shmod *sh, int fd, const char *name)
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	struct stat st;
	uint64_t bytes = 0;
	const char *debugfile = NULL;
	char hex[129] = "";
	int n;

	if (fstat(fd, &st) == 0)
		bytes = (uint64_t)st.st_size;
	sh->dwfl = dwfl_begin(&obj_callbacks);
	if (sh->dwfl == NULL) {
		close(fd);
		return -1;
	}
	dwfl_report_begin(sh->dwfl);
	sh->mod = dwfl_report_elf(sh->dwfl, name, name, fd, 0, true);
	if (sh->mod == NULL) {
		log_debug("%s: %s", name, dwfl_errmsg(-1));
		close(fd);
		goto fail;
	}
	if (dwfl_report_end(sh->dwfl, NULL, NULL) != 0)
		goto fail;
	/* The file is the object the key says (it may have been replaced). */
	n = dwfl_module_build_id(sh->mod, &bits, &vaddr);
	if (n > 0 && n <= 64)
		for (int i = 0; i < n; i++)
			snprintf(hex + 2 * i, 3, "%02x", bits[i]);
	if (strcmp(hex, sh->build_id) != 0) {
		log_debug("%s: build ID %s, expected %s", name, hex, sh->build_id);
		goto fail;
	}
	{
		Dwarf_Addr bias;

		if (dwfl_module_getdwarf(sh->mod, &bias) != NULL)
			dwfl_module_info(sh->mod, NULL, NULL, NULL, NULL, NULL, NULL, &debugfile);
	}
	if (debugfile != NULL && stat(debugfile, &st) == 0)
		bytes += (uint64_t)st.st_size;
	pthread_mutex_lock(&tab_lock);
	sh->open = true;
	sh->bytes = bytes;
	stats.open++;
	stats.open_bytes += bytes;
	stats.loads++;
	pthread_mutex_unlock(&tab_lock);
	return 0;
fail:
	dwfl_end(sh->dwfl);
	sh->dwfl = NULL;
	sh->mod = NULL;
	return -1;
}

/* End sh's libdw state; sh->lock held. */
static void
shmod_unload(struct shmod *sh)
{
	if (sh->dwfl == NULL)
		return;
	dwfl_end(sh->dwfl);
	sh->dwfl = NULL;
	sh->mod = NULL;
	pthread_mutex_lock(&tab_lock);
	sh->open = false;
	stats.open--;
	stats.open_bytes -= sh->bytes;
	sh->bytes = 0;
	pthread_mutex_unlock(&tab_lock);
}

static void
free_frames(struct dwsym_frame *fr, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free((char *)fr[i].function);
		free((char *)fr[i].system_name);
		free((char *)fr[i].file);
	}
	free(fr);
}

/* Drop a reference to sh; the last frees it. */
static void
shmod_put(struct shmod *sh)
{
	struct shmod **pp;
	bool last;

	pthread_mutex_lock(&tab_lock);
	last = --sh->refs == 0;
	if (last) {
		for (pp = &shlist; *pp != sh; pp = &(*pp)->next)
			;
		*pp = sh->next;
		stats.modules--;
		stats.resolved -= sh->used_slots;
	}
	pthread_mutex_unlock(&tab_lock);
	if (!last)
		return;
	pthread_mutex_lock(&sh->lock);
	shmod_unload(sh);
	pthread_mutex_unlock(&sh->lock);
	for (size_t i = 0; i < sh->cap; i++)
		if (sh->cache[i].key != 0)
			free_frames(sh->cache[i].frames, sh->cache[i].nframes);
	free(sh->cache);
	pthread_mutex_destroy(&sh->lock);
	free(sh);
}

/*
 * The shared object for the object file fd, found or
 * made (with a reference); fd is consumed.  NULL when it is no ELF object.
 */
static struct shmod *
shmod_get(int fd)
{
	struct shmod *sh, *fresh;
	struct stat st;

	fresh = calloc(1, sizeof(*fresh));
	if (fresh == NULL)
		abort();
	if (fstat(fd, &st) != 0 || st.st_size > DWSYM_MAX_ELF ||
	    elf_identity(fd, fresh->build_id, sizeof fresh->build_id, fresh->loads,
			 &fresh->nloads) != 0) {
		close(fd);
		free(fresh);
		return NULL;
	}
	/*
	 * By build ID alone only a file root owns and nobody else may write (a
	 * system library, in any container): another file could copy libc's
	 * ID, and its symbols would then name every process's libc frames.
	 */
	if (fresh->build_id[0] != 0 && st.st_uid == 0 && (st.st_mode & 022) == 0)
		snprintf(fresh->key, sizeof fresh->key, "b:%s", fresh->build_id);
	else
		snprintf(fresh->key, sizeof fresh->key, "f:%s:%llu:%llu:%lld:%lld.%09ld",
			 fresh->build_id, (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino, (long long)st.st_size,
			 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	pthread_mutex_lock(&tab_lock);
	for (sh = shlist; sh != NULL; sh = sh->next)
		if (strcmp(sh->key, fresh->key) == 0)
			break;
	if (sh != NULL) {
		sh->refs++;
		stats.shared_hits++;
		pthread_mutex_unlock(&tab_lock);
		close(fd);
		free(fresh);
		return sh;
	}
	fresh->refs = 1;
	pthread_mutex_init(&fresh->lock, NULL);
	fresh->next = shlist;
	shlist = fresh;
	stats.modules++;
	pthread_mutex_unlock(&tab_lock);
	/* Its DWARF is read when an address in it is first looked up. */
	close(fd);
	return fresh;
}

/*
 * Keep at most open_limit objects, of open_bytes_limit bytes, loaded: end
 * the least recently used, but never keep's nor one busy in another
 * thread (it is ended on a later call).  No lock held.
 */
static void
shmod_trim(const struct shmod *keep)
{
	for (;;) {
		struct shmod *sh, *lru = NULL;

		pthread_mutex_lock(&tab_lock);
		if (stats.open <= open_limit && stats.open_bytes <= open_bytes_limit) {
			pthread_mutex_unlock(&tab_lock);
			return;
		}
		for (sh = shlist; sh != NULL; sh = sh->next)
			if (sh->open && sh != keep && (lru == NULL || sh->used < lru->used))
				lru = sh;
		if (lru != NULL)
			lru->refs++;
		pthread_mutex_unlock(&tab_lock);
		if (lru == NULL)
			return;
		if (pthread_mutex_trylock(&lru->lock) != 0) {
			shmod_put(lru);
			return;
		}
		shmod_unload(lru);
		pthread_mutex_lock(&tab_lock);
		stats.evictions++;
		pthread_mutex_unlock(&tab_lock);
		pthread_mutex_unlock(&lru->lock);
		shmod_put(lru);
	}
}

/* ---- processes ---- */

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Report pid's mapped objects into dp, after those it has: the objects
 * mapped since the last read (dlopen) are appended; -1 with a reason in err.
 * dp->lock held (or dp not yet shared).
 */
static int
proc_report(struct dwsym_proc *dp, char *err, size_t errlen)
{
	struct safefile_map *m;
	char path[64], *line;
	size_t linecap = 8192, known = dp->nmods, n = dp->nmods;
	unsigned nlines = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/maps", (int)dp->pid);
	f = fopen(path, "re");
	if (f == NULL) {
		snprintf(err, errlen, "cannot read the mappings of pid %d: %s", (int)dp->pid,
			 strerror(errno));
		return -1;
	}
	m = malloc(sizeof(*m));
	line = malloc(linecap);
	if (m == NULL || line == NULL)
		abort();
	while (safefile_maps_line(f, line, linecap) && nlines++ < DWSYM_MAX_MAPS) {
		struct pmod *pm;
		struct shmod *sh;
		uint64_t vaddr;
		char why[256];
		size_t i;
		int fd;

		if (safefile_parse_map(line, m) != 0 || m->inode == 0 || m->path[0] != '/')
			continue;
		for (i = 0; i < n; i++) {
			const struct safefile_map *o = &dp->pm[i].first;

			if (o->inode == m->inode && o->dev_major == m->dev_major &&
			    o->dev_minor == m->dev_minor && strcmp(o->path, m->path) == 0)
				break;
		}
		if (i < n) { /* another segment of an object: extend a new one only */
			if (i >= known && m->start < dp->mods[i].start)
				dp->mods[i].start = m->start;
			if (i >= known && m->end > dp->mods[i].end)
				dp->mods[i].end = m->end;
			continue;
		}
		if (n == DWSYM_MAX_MODULES)
			break;
		fd = safefile_open((int)dp->pid, m, SAFEFILE_ANY, why, sizeof why);
		if (fd < 0) {
			log_debug("process %d: not opening %s: %s", (int)dp->pid, m->path, why);
			continue;
		}
		sh = shmod_get(fd);
		if (sh == NULL)
			continue;
		if (offset_vaddr(sh, m->offset, &vaddr) != 0) {
			shmod_put(sh);
			continue;
		}
		if (n == dp->pmcap) {
			dp->pmcap = dp->pmcap ? dp->pmcap * 2 : 32;
			dp->pm = realloc(dp->pm, dp->pmcap * sizeof(*dp->pm));
			if (dp->pm == NULL)
				abort();
		}
		pm = &dp->pm[n];
		pm->sh = sh;
		pm->bias = m->start - vaddr;
		pm->first = *m;
		memset(&dp->mods[n], 0, sizeof(dp->mods[0]));
		dp->mods[n].path = xstrdup0(m->path);
		dp->mods[n].build_id = xstrdup0(sh->build_id);
		dp->mods[n].start = m->start;
		dp->mods[n].end = m->end;
		dp->mods[n].offset = m->offset;
		n++;
	}
	fclose(f);
	free(line);
	free(m);
	dp->rescan_ns = mono_ns();
	__atomic_store_n(&dp->nmods, n, __ATOMIC_RELEASE); /* the new entries are complete */
	return 0;
}

struct dwsym_proc *
dwsym_proc_open(pid_t pid, char *err, size_t errlen)
{
	struct dwsym_proc *dp = calloc(1, sizeof(*dp));

	if (dp == NULL)
		abort();
	pthread_once(&elf_once, elf_init);
	dp->pid = pid;
	dp->refs = 1;
	dp->mods = mmap(NULL, DWSYM_MAX_MODULES * sizeof(*dp->mods), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (dp->mods == MAP_FAILED)
		abort();
	pthread_mutex_init(&dp->lock, NULL);
	if (proc_report(dp, err, errlen) != 0) {
		pthread_mutex_destroy(&dp->lock);
		munmap(dp->mods, DWSYM_MAX_MODULES * sizeof(*dp->mods));
		free(dp->pm);
		free(dp);
		return NULL;
	}
	return dp;
}

struct dwsym_proc *
dwsym_proc_hold(struct dwsym_proc *dp)
{
	if (dp != NULL) {
		pthread_mutex_lock(&tab_lock);
		dp->refs++;
		pthread_mutex_unlock(&tab_lock);
	}
	return dp;
}

size_t
dwsym_proc_modules(struct dwsym_proc *dp, const struct dwsym_module **mods)
{
	*mods = dp->mods;
	return __atomic_load_n(&dp->nmods, __ATOMIC_ACQUIRE);
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
	f->system_name = dwsym_clean(name);
	f->function = dwsym_demangle(name);
	f->file = dwsym_clean(file);
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

/* ---- lookups ---- */

static struct shsym *
shslot(struct shsym *v, size_t cap, uint64_t key)
{
	size_t mask = cap - 1, i = (size_t)((key * 0x9e3779b97f4a7c15u) >> 20) & mask;

	while (v[i].key != 0 && v[i].key != key)
		i = (i + 1) & mask;
	return &v[i];
}

/*
 * What object address addr of sh resolves to, cached for every process;
 * sh->lock held.  pm: the process's mapping, to load the object through
 * when it is not loaded now.  NULL when the object cannot be read or the
 * cache is full.
 */
static const struct shsym *
shmod_resolve(struct shmod *sh, const struct pmod *pm, pid_t pid, uint64_t addr, bool return_addr)
{
	struct dwsym_frame fr[DWSYM_MAX_INLINE];
	uint64_t key = (addr * 2 + (return_addr ? 1 : 0)) + 1;
	struct shsym *e;
	bool full;

	if (sh->cap != 0) {
		e = shslot(sh->cache, sh->cap, key);
		if (e->key != 0)
			return e;
	}
	pthread_mutex_lock(&tab_lock);
	full = stats.resolved >= DWSYM_MAX_RESOLVED;
	pthread_mutex_unlock(&tab_lock);
	if (full)
		return NULL;
	if (sh->dwfl == NULL) {
		char why[256];
		int fd = safefile_open((int)pid, &pm->first, SAFEFILE_ANY, why, sizeof why);

		if (fd < 0) {
			log_debug("process %d: not opening %s: %s", (int)pid, pm->first.path, why);
			return NULL;
		}
		if (shmod_load(sh, fd, pm->first.path) != 0)
			return NULL;
	}
	if ((sh->used_slots + 1) * 2 > sh->cap) {
		struct shsym *old = sh->cache;
		size_t oldcap = sh->cap;

		sh->cap = oldcap ? oldcap * 2 : 256;
		sh->cache = calloc(sh->cap, sizeof(*sh->cache));
		if (sh->cache == NULL)
			abort();
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].key != 0)
				*shslot(sh->cache, sh->cap, old[i].key) = old[i];
		free(old);
	}
	e = shslot(sh->cache, sh->cap, key);
	e->key = key;
	e->nframes = module_frames(sh->mod, return_addr && addr > 0 ? addr - 1 : addr, fr, &e->lines);
	if (e->nframes > 0) {
		e->frames = malloc(e->nframes * sizeof(*e->frames));
		if (e->frames == NULL)
			abort();
		memcpy(e->frames, fr, e->nframes * sizeof(*e->frames));
		sh->has_functions = true;
		sh->has_lines |= e->lines;
	}
	sh->used_slots++;
	pthread_mutex_lock(&tab_lock);
	stats.resolved++;
	pthread_mutex_unlock(&tab_lock);
	return e;
}

/* The module of addr in dp, dp->nmods if none; dp->lock held. */
static size_t
find_module(const struct dwsym_proc *dp, uint64_t addr)
{
	size_t i;

	for (i = 0; i < dp->nmods; i++)
		if (addr >= dp->mods[i].start && addr < dp->mods[i].end)
			break;
	return i;
}

/*
 * addr is in no object dp knows: read the maps again, at most once per
 * DWSYM_RESCAN_NS (an address in no file, such as JIT code, would otherwise
 * reread them on every lookup); whether an object was added.  dp->lock held.
 */
static bool
rescan(struct dwsym_proc *dp)
{
	size_t before = dp->nmods;
	char err[256];

	if (mono_ns() - dp->rescan_ns < DWSYM_RESCAN_NS)
		return false;
	if (proc_report(dp, err, sizeof err) != 0) {
		dp->rescan_ns = mono_ns();
		log_debug("%s", err);
		return false;
	}
	return dp->nmods > before;
}

/* dp->lock held. */
static struct dwsym_loc *
resolve(struct dwsym_proc *dp, uint64_t pc, bool return_addr, bool *loaded)
{
	struct dwsym_loc *loc = calloc(1, sizeof(*loc));
	uint64_t addr = return_addr && pc > 0 ? pc - 1 : pc;
	const struct shsym *s;
	struct shmod *sh;
	size_t i;

	if (loc == NULL)
		abort();
	loc->pc = pc;
	i = find_module(dp, addr);
	if (i == dp->nmods && rescan(dp))
		i = find_module(dp, addr);
	if (i == dp->nmods)
		return loc;
	loc->module = &dp->mods[i];
	sh = dp->pm[i].sh;
	pthread_mutex_lock(&sh->lock);
	*loaded = sh->dwfl == NULL;
	s = shmod_resolve(sh, &dp->pm[i], dp->pid, pc - dp->pm[i].bias, return_addr);
	*loaded = *loaded && sh->dwfl != NULL;
	if (s != NULL) {
		loc->nframes = s->nframes;
		loc->frames = s->frames; /* the object's, alive while dp holds it */
		loc->lines = s->lines;
	}
	pthread_mutex_unlock(&sh->lock);
	pthread_mutex_lock(&tab_lock);
	sh->used = ++lru_clock;
	pthread_mutex_unlock(&tab_lock);
	return loc;
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
	const struct dwsym_loc *loc = &unknown_loc;
	struct shmod *keep = NULL;
	struct dwsym_entry *e;
	bool loaded = false;

	if (key == 0 || pc > (UINT64_MAX >> 1))
		return &unknown_loc;
	pthread_mutex_lock(&dp->lock);
	if ((dp->used + 1) * 2 > dp->cap) {
		struct dwsym_entry *old = dp->cache;
		size_t oldcap = dp->cap, i;

		if (dp->used >= DWSYM_MAX_CACHE)
			goto out;
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
		e->loc = resolve(dp, pc, return_addr, &loaded);
		dp->used++;
	} else if (e->loc->module == NULL && mono_ns() - dp->rescan_ns >= DWSYM_RESCAN_NS) {
		/* in no object when first seen: perhaps one was dlopen'ed there since */
		struct dwsym_loc *again = resolve(dp, pc, return_addr, &loaded);

		if (again->module != NULL && dp->nstale < DWSYM_MAX_CACHE) {
			if (dp->nstale == dp->stalecap) {
				dp->stalecap = dp->stalecap ? dp->stalecap * 2 : 16;
				dp->stale = realloc(dp->stale, dp->stalecap * sizeof(*dp->stale));
				if (dp->stale == NULL)
					abort();
			}
			dp->stale[dp->nstale++] = e->loc; /* a reader may still hold it */
			e->loc = again;
		} else {
			free(again);
		}
	}
	loc = e->loc;
	if (loaded && loc->module != NULL)
		keep = dp->pm[loc->module - dp->mods].sh;
out:
	pthread_mutex_unlock(&dp->lock);
	if (loaded)
		shmod_trim(keep);
	return loc;
}

void
dwsym_proc_close(struct dwsym_proc *dp)
{
	size_t i;
	bool last;

	if (dp == NULL)
		return;
	pthread_mutex_lock(&tab_lock);
	last = --dp->refs == 0;
	pthread_mutex_unlock(&tab_lock);
	if (!last)
		return;
	for (i = 0; i < dp->cap; i++)
		if (dp->cache[i].key != 0)
			free(dp->cache[i].loc);
	free(dp->cache);
	for (i = 0; i < dp->nstale; i++)
		free(dp->stale[i]);
	free(dp->stale);
	for (i = 0; i < dp->nmods; i++) {
		free((char *)dp->mods[i].path);
		free((char *)dp->mods[i].build_id);
		shmod_put(dp->pm[i].sh);
	}
	munmap(dp->mods, DWSYM_MAX_MODULES * sizeof(*dp->mods));
	free(dp->pm);
	pthread_mutex_destroy(&dp->lock);
	free(dp);
}

void
dwsym_stats(struct dwsym_stats *out)
{
	pthread_mutex_lock(&tab_lock);
	*out = stats;
	pthread_mutex_unlock(&tab_lock);
}

void
dwsym_set_limits(size_t open_modules, uint64_t open_bytes)
{
	pthread_mutex_lock(&tab_lock);
	open_limit = open_modules ? open_modules : DWSYM_OPEN_MODULES;
	open_bytes_limit = open_bytes ? open_bytes : DWSYM_OPEN_BYTES;
	pthread_mutex_unlock(&tab_lock);
	shmod_trim(NULL);
}
