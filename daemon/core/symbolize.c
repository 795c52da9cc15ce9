/*
 * symbolize.c: PCs -> function names from ELF symbol tables (see
 * symbolize.h).  The cache of loaded files is shared by all processes (libc
 * is loaded once), reference counted by the struct sym_maps that use it and
 * bounded: past SYM_CACHE_MAX files, unreferenced ones are evicted.
 *
 * Threads: sym_lookup() runs on the collector thread and never reads a
 * file: a mapping whose ELF file is not cached yet is queued for the
 * loader thread, and the lookup answers "pending" (the profile resolves
 * such PCs again when it is served).  The loader opens the file the way
 * base/safefile.c does (never blocking, never following a link, only the
 * mapped inode), skips files over SAFEFILE_MAX_READ, and beats its own
 * heartbeat, so a slow file is reported by /healthz instead of freezing
 * collection.  cache_lock guards the cache, req_lock the queue; neither is
 * held while a file is read.  Names returned stay valid while a sym_maps
 * referencing the file lives (the profile copies them).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/heartbeat.h"
#include "base/log.h"
#include "base/safefile.h"
#include "base/xmalloc.h"
#include "core/symbolize.h"

#define SYM_CACHE_MAX	  256
#define SYM_MAX_MAPPINGS  4096
#define SYM_MAX_QUEUE	  64		       /* files waiting for the loader */
#define SYM_LOAD_LIMIT_NS (30 * 1000000000ull) /* one file: stalled beyond this */

struct sym {
	uint64_t addr, size;
	const char *name;
};

struct sym_load {
	uint64_t vaddr, offset, filesz;
};

struct sym_elf {
	struct sym_elf *next;
	dev_t dev;
	ino_t ino;
	off_t fsize;
	int64_t mtime_ns;
	int refs;
	struct sym *syms;
	size_t nsyms;
	char *names; /* pool the names point into */
	struct sym_load *loads;
	size_t nloads;
	char build_id[2 * 64 + 1];
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sym_elf *cache; /* cache_lock */
static size_t ncache;	      /* cache_lock */

static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* sized symbols first: they win the dedup below */
	return (x->size == 0) - (y->size == 0);
}

/* Read the GNU build-id note of e into hex. */
static void read_build_id(Elf *e, char *out, size_t outlen)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	out[0] = '\0';
	while ((scn = elf_nextscn(e, scn)) != NULL) {
		Elf_Data *d;
		GElf_Nhdr nh;
		size_t off = 0, noff, doff, i;

		if (gelf_getshdr(scn, &sh) == NULL || sh.sh_type != SHT_NOTE)
			continue;
		if ((d = elf_getdata(scn, NULL)) == NULL)
			continue;
		while ((off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
			const unsigned char *desc = (const unsigned char *)d->d_buf + doff;

			if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
			    memcmp((const char *)d->d_buf + noff, "GNU", 4) != 0)
				continue;
			for (i = 0; i < nh.n_descsz && 2 * i + 2 < outlen; i++)
				snprintf(out + 2 * i, 3, "%02x", desc[i]);
			return;
		}
	}
}

/* Load symbols and PT_LOADs of an open ELF file; NULL if not ELF. */
static struct sym_elf *elf_load(int fd, const struct stat *st)
{
	struct sym_elf *se;
	size_t i, nph, namelen = 0, cap = 0, k;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	Elf *e;
	int pass;

	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (e == NULL || elf_kind(e) != ELF_K_ELF) {
		if (e != NULL)
			elf_end(e);
		return NULL;
	}
	se = xcalloc(1, sizeof *se);
	se->dev = st->st_dev;
	se->ino = st->st_ino;
	se->fsize = st->st_size;
	se->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	if (elf_getphdrnum(e, &nph) == 0) {
		se->loads = xcalloc(nph + 1, sizeof *se->loads);
		for (i = 0; i < nph; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(e, (int)i, &ph) == NULL || ph.p_type != PT_LOAD)
				continue;
			se->loads[se->nloads].vaddr = ph.p_vaddr;
			se->loads[se->nloads].offset = ph.p_offset;
			se->loads[se->nloads].filesz = ph.p_filesz;
			se->nloads++;
		}
	}
	read_build_id(e, se->build_id, sizeof se->build_id);

	/* pass 0 sizes the name pool, pass 1 fills it (.symtab before .dynsym) */
	for (pass = 0; pass < 2; pass++) {
		int want;

		for (want = 0; want < 2; want++) {
			scn = NULL;
			while ((scn = elf_nextscn(e, scn)) != NULL) {
				Elf_Data *d;
				size_t n;

				if (gelf_getshdr(scn, &sh) == NULL ||
				    sh.sh_type != (want == 0 ? SHT_SYMTAB : SHT_DYNSYM) ||
				    sh.sh_entsize == 0 || (d = elf_getdata(scn, NULL)) == NULL)
					continue;
				n = sh.sh_size / sh.sh_entsize;
				for (i = 0; i < n; i++) {
					GElf_Sym s;
					const char *name;
					size_t len;

					if (gelf_getsym(d, (int)i, &s) == NULL || s.st_value == 0 ||
					    s.st_shndx == SHN_UNDEF ||
					    (GELF_ST_TYPE(s.st_info) != STT_FUNC &&
					     GELF_ST_TYPE(s.st_info) != STT_GNU_IFUNC))
						continue;
					name = elf_strptr(e, sh.sh_link, s.st_name);
					if (name == NULL || name[0] == '\0')
						continue;
					len = strlen(name) + 1;
					if (pass == 0) {
						namelen += len;
						cap++;
						continue;
					}
					memcpy(se->names + namelen, name, len);
					se->syms[se->nsyms].addr = s.st_value;
					se->syms[se->nsyms].size = s.st_size;
					se->syms[se->nsyms].name = se->names + namelen;
					se->nsyms++;
					namelen += len;
				}
			}
		}
		if (pass == 0) {
			se->names = xcalloc(namelen + 1, 1);
			se->syms = xcalloc(cap + 1, sizeof *se->syms);
			namelen = 0;
		}
	}
	elf_end(e);

	/* sort; keep one symbol per address (.symtab's first, sized first) */
	qsort(se->syms, se->nsyms, sizeof *se->syms, sym_cmp);
	for (i = 0, k = 0; i < se->nsyms; i++) {
		if (k > 0 && se->syms[k - 1].addr == se->syms[i].addr)
			continue;
		se->syms[k++] = se->syms[i];
	}
	se->nsyms = k;
	return se;
}

static void elf_free(struct sym_elf *se)
{
	free(se->syms);
	free(se->names);
	free(se->loads);
	free(se);
}

/* Drop unreferenced files while the cache is over its bound (lock held). */
static void cache_trim_locked(void)
{
	struct sym_elf **pp, *se;

	for (pp = &cache; ncache > SYM_CACHE_MAX && (se = *pp) != NULL;) {
		if (se->refs == 0) {
			*pp = se->next;
			ncache--;
			elf_free(se);
			continue;
		}
		pp = &se->next;
	}
}

/* The cached file with the mapping's device and inode, or NULL; a reference. */
static struct sym_elf *cache_find(const struct sym_mapping *mp)
{
	dev_t dev = makedev(mp->dev_major, mp->dev_minor);
	struct sym_elf *se;

	pthread_mutex_lock(&cache_lock);
	for (se = cache; se != NULL; se = se->next)
		if (se->dev == dev && (unsigned long long)se->ino == mp->inode)
			break;
	if (se != NULL)
		se->refs++;
	pthread_mutex_unlock(&cache_lock);
	return se;
}

/* ---- the loader thread ---- */

struct sym_req {
	struct sym_req *next;
	int pid;
	struct safefile_map m;
};

static pthread_mutex_t req_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t req_cond = PTHREAD_COND_INITIALIZER;
static struct sym_req *req_head, *req_tail; /* under req_lock */
static size_t nreq;			    /* under req_lock */
static int loader_state;		    /* under req_lock: 0 none, 1 running, 2 stopping */
static pthread_t loader;
static struct heartbeat loader_beat;
static int loader_beat_registered; /* under req_lock */

/*
 * Load one file: open it safely, read its symbols, put it in the cache.
 * Runs on the loader thread with no lock held while reading.
 */
static void load_one(const struct sym_req *r)
{
	struct sym_elf *se;
	struct stat st;
	char err[256];
	int fd;

	fd = safefile_open(r->pid, &r->m, SAFEFILE_ANY, err, sizeof err);
	if (fd < 0) {
		log_debug("symbols: process %d: %s", r->pid, err);
		return;
	}
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size > SAFEFILE_MAX_READ) {
		log_debug("symbols: %s: larger than %u MiB, not read", r->m.path,
			  SAFEFILE_MAX_READ >> 20);
		close(fd);
		return;
	}
	se = elf_load(fd, &st);
	close(fd);
	if (se == NULL)
		return;
	log_debug("symbols: %s: %zu functions, build-id %s", r->m.path, se->nsyms,
		  se->build_id[0] ? se->build_id : "none");
	pthread_mutex_lock(&cache_lock);
	se->refs = 0; /* users take their references through cache_find */
	se->next = cache;
	cache = se;
	ncache++;
	cache_trim_locked();
	pthread_mutex_unlock(&cache_lock);
}

/* The loader: serve the queue until told to stop, beating each turn. */
static void *loader_main(void *arg)
{
	struct sym_req *r;
	struct timespec ts;

	(void)arg;
	pthread_mutex_lock(&req_lock);
	while (loader_state == 1) {
		heartbeat_beat(&loader_beat, now_mono_ns());
		if (req_head == NULL) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&req_cond, &req_lock, &ts);
			continue;
		}
		r = req_head;
		req_head = r->next;
		if (req_head == NULL)
			req_tail = NULL;
		nreq--;
		pthread_mutex_unlock(&req_lock);
		heartbeat_busy(&loader_beat, "reading a file's symbols");
		load_one(r);
		heartbeat_busy(&loader_beat, NULL);
		free(r);
		pthread_mutex_lock(&req_lock);
	}
	pthread_mutex_unlock(&req_lock);
	return NULL;
}

/* Queue mapping mp of pid for the loader (dropped when the queue is full). */
static void request_load(int pid, const struct sym_mapping *mp)
{
	struct sym_req *r;
	pthread_condattr_t ca;

	if (mp->path[0] != '/' || strlen(mp->path) >= sizeof r->m.path)
		return;
	r = xcalloc(1, sizeof *r);
	r->pid = pid;
	r->m.start = mp->start;
	r->m.end = mp->limit;
	r->m.offset = mp->offset;
	r->m.dev_major = mp->dev_major;
	r->m.dev_minor = mp->dev_minor;
	r->m.inode = mp->inode;
	r->m.deleted = mp->deleted;
	memcpy(r->m.path, mp->path, strlen(mp->path) + 1);
	pthread_mutex_lock(&req_lock);
	if (loader_state == 0) {
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&req_cond, &ca);
		pthread_condattr_destroy(&ca);
		if (!loader_beat_registered) { /* once: the registry keeps it for good */
			heartbeat_init(&loader_beat, "symbol loader", SYM_LOAD_LIMIT_NS,
				       now_mono_ns());
			heartbeat_register(&loader_beat);
			loader_beat_registered = 1;
		}
		heartbeat_beat(&loader_beat, now_mono_ns());
		loader_state = 1;
		if (pthread_create(&loader, NULL, loader_main, NULL) != 0) {
			loader_state = 0;
			log_warn("symbol loader thread");
		}
	}
	if (loader_state != 1 || nreq >= SYM_MAX_QUEUE) {
		pthread_mutex_unlock(&req_lock);
		free(r);
		return;
	}
	if (req_tail != NULL)
		req_tail->next = r;
	else
		req_head = r;
	req_tail = r;
	nreq++;
	pthread_cond_signal(&req_cond);
	pthread_mutex_unlock(&req_lock);
}

/* Stop the loader thread and drop what it had queued. */
static void loader_stop(void)
{
	struct sym_req *r;
	int joined = 0;

	pthread_mutex_lock(&req_lock);
	if (loader_state == 1) {
		loader_state = 2;
		pthread_cond_signal(&req_cond);
		joined = 1;
	}
	pthread_mutex_unlock(&req_lock);
	if (joined)
		pthread_join(loader, NULL);
	pthread_mutex_lock(&req_lock);
	while ((r = req_head) != NULL) {
		req_head = r->next;
		free(r);
	}
	req_tail = NULL;
	nreq = 0;
	loader_state = 0;
	pthread_mutex_unlock(&req_lock);
}

static void cache_put(struct sym_elf *se)
{
	if (se == NULL)
		return;
	pthread_mutex_lock(&cache_lock);
	se->refs--;
	cache_trim_locked();
	pthread_mutex_unlock(&cache_lock);
}

/* Read /proc/PID/maps: the executable mappings. */
int sym_maps_load(struct sym_maps *m, int pid)
{
	char path[64], line[PATH_MAX + 128];
	size_t cap = 0;
	FILE *f;

	sym_maps_free(m);
	m->pid = pid;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -1;
	snprintf(path, sizeof path, "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL && m->n < SYM_MAX_MAPPINGS) {
		struct safefile_map sm;

		if (safefile_parse_map(line, &sm) != 0 || strchr(sm.perms, 'x') == NULL)
			continue;
		if (m->n == cap) {
			cap = cap ? 2 * cap : 32;
			m->v = xrealloc(m->v, cap * sizeof *m->v);
		}
		memset(&m->v[m->n], 0, sizeof m->v[m->n]);
		m->v[m->n].start = sm.start;
		m->v[m->n].limit = sm.end;
		m->v[m->n].offset = sm.offset;
		m->v[m->n].inode = sm.inode;
		m->v[m->n].dev_major = sm.dev_major;
		m->v[m->n].dev_minor = sm.dev_minor;
		m->v[m->n].deleted = sm.deleted;
		m->v[m->n].path = xstrdup(sm.path[0] ? sm.path : "[anon]");
		m->n++;
	}
	fclose(f);
	return 0;
}

void sym_maps_free(struct sym_maps *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		cache_put(m->v[i].elf);
		free(m->v[i].path);
	}
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

struct sym_mapping *sym_maps_find(struct sym_maps *m, uint64_t pc)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) { /* /proc/PID/maps is sorted by address */
		size_t mid = lo + (hi - lo) / 2;

		if (pc < m->v[mid].start)
			hi = mid;
		else if (pc >= m->v[mid].limit)
			lo = mid + 1;
		else
			return &m->v[mid];
	}
	return NULL;
}

const char *sym_lookup(int pid, struct sym_mapping *mp, uint64_t pc, const char **build_id,
		       int *has_syms)
{
	struct sym_elf *se;
	uint64_t off, vaddr = 0;
	size_t i, lo, hi;
	int found = 0;

	*build_id = "";
	*has_syms = 0;
	if (mp->elf == NULL)
		mp->elf = cache_find(mp);
	if (mp->elf == NULL) {
		if (!mp->elf_tried) { /* the loader reads it; until then: pending */
			mp->elf_tried = 1;
			request_load(pid, mp);
		}
		*has_syms = -1;
		return NULL;
	}
	se = mp->elf;
	*build_id = se->build_id;
	*has_syms = se->nsyms > 0;
	off = pc - 1 - mp->start + mp->offset; /* return address: the call is before it */
	for (i = 0; i < se->nloads; i++) {
		if (off >= se->loads[i].offset && off < se->loads[i].offset + se->loads[i].filesz) {
			vaddr = off - se->loads[i].offset + se->loads[i].vaddr;
			found = 1;
			break;
		}
	}
	if (!found || se->nsyms == 0)
		return NULL;
	lo = 0;
	hi = se->nsyms;
	while (lo < hi) { /* the last symbol at or below vaddr */
		size_t mid = lo + (hi - lo) / 2;

		if (se->syms[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	i = lo - 1;
	if (se->syms[i].size != 0 && vaddr >= se->syms[i].addr + se->syms[i].size)
		return NULL; /* in a gap between functions */
	return se->syms[i].name;
}

size_t sym_cache_count(void)
{
	size_t n;

	pthread_mutex_lock(&cache_lock);
	n = ncache;
	pthread_mutex_unlock(&cache_lock);
	return n;
}

void sym_cache_fini(void)
{
	struct sym_elf *se, *next;

	loader_stop();
	pthread_mutex_lock(&cache_lock);
	for (se = cache; se != NULL; se = next) {
		next = se->next;
		elf_free(se);
	}
	cache = NULL;
	ncache = 0;
	pthread_mutex_unlock(&cache_lock);
}
