/*
 * procprof.c: read a process's heap profile table from outside.
 *
 * See procprof.h.  The reader follows the protocol of gomem_profile.h:
 * header (even gen), the chunks' records, gen again; retry when it moved;
 * then (version 2) the live samples' table for the buckets' oldest sample
 * times.  All sizes come from the process and are checked before use.
 */
#include "config.h"

#include "core/procprof.h"

#include "base/safefile.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <libelf.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PROCPROF_MAX_MAPS 4096     /* lines of /proc/PID/maps looked at */
#define PROCPROF_MAX_ELF ((off_t)1 << 31)
#define PROCPROF_MAX_SYMTAB ((uint64_t)64 << 20) /* bytes of a symbol or string table read */
#define PROCPROF_MAX_HEADERS 65536u		  /* program or section headers read */
#define PROCPROF_SYMBOL "gomem_profile"

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- finding the table ---- */

/*
 * st_value of `gomem_profile` in the ELF file fd and the vaddr of its first
 * PT_LOAD (the one at file offset 0); 0 when found.  Read with pread: the
 * file's owner may truncate it at any moment, and a mapped file would fault.
 */
static int
elf_find_symbol(int fd, uint64_t *value, uint64_t *load0)
{
	Elf *e;
	Elf_Scn *scn = NULL;
	size_t nph, nsh, i;
	int rc = -1, found_load = 0;
	unsigned seen = 0; /* 1: a .dynsym read, 2: a .symtab */

	/* libelf reads each table it is asked for whole: every count and
	 * size is bounded first (a hostile file names gigabytes). */
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (e == NULL)
		return -1;
	if (elf_kind(e) != ELF_K_ELF || gelf_getclass(e) != ELFCLASS64 ||
	    elf_getphdrnum(e, &nph) != 0 || nph > PROCPROF_MAX_HEADERS ||
	    elf_getshdrnum(e, &nsh) != 0 || nsh > PROCPROF_MAX_HEADERS)
		goto out;
	for (i = 0; i < nph && i < 256; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(e, (int)i, &ph) != NULL && ph.p_type == PT_LOAD &&
		    ph.p_offset == 0) {
			*load0 = ph.p_vaddr & ~(uint64_t)0xfff;
			found_load = 1;
			break;
		}
	}
	if (!found_load)
		goto out;
	/* One table of each kind, as a linker writes: libelf keeps each table
	 * it reads until elf_end, so thousands of headers naming the same
	 * bytes would each cost PROCPROF_MAX_SYMTAB. */
	while (rc != 0 && (scn = elf_nextscn(e, scn)) != NULL) {
		GElf_Shdr sh, strh;
		Elf_Scn *strs;
		Elf_Data *d;
		size_t n;

		if (gelf_getshdr(scn, &sh) == NULL ||
		    (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB))
			continue;
		if (seen & (sh.sh_type == SHT_DYNSYM ? 1 : 2))
			continue;
		seen |= sh.sh_type == SHT_DYNSYM ? 1 : 2;
		if (sh.sh_entsize == 0 ||
		    sh.sh_size > PROCPROF_MAX_SYMTAB || (strs = elf_getscn(e, sh.sh_link)) == NULL ||
		    gelf_getshdr(strs, &strh) == NULL || strh.sh_size > PROCPROF_MAX_SYMTAB ||
		    (d = elf_getdata(scn, NULL)) == NULL)
			continue;
		n = sh.sh_size / sh.sh_entsize;
		for (i = 0; i < n; i++) {
			GElf_Sym s;
			const char *name;

			if (gelf_getsym(d, (int)i, &s) == NULL || s.st_shndx == SHN_UNDEF ||
			    GELF_ST_TYPE(s.st_info) != STT_OBJECT ||
			    s.st_size < offsetof(struct gomem_profile, chunk))
				continue;
			name = elf_strptr(e, sh.sh_link, s.st_name);
			if (name != NULL && strcmp(name, PROCPROF_SYMBOL) == 0) {
				*value = s.st_value;
				rc = 0;
				break;
			}
		}
	}
out:
	elf_end(e);
	return rc;
}

/*
 * Look for the symbol in the object of maps line m of pid, opened by
 * base/safefile.c: never a link followed, never a FIFO or device opened,
 * only the inode the line names.
 */
static int
try_mapping(pid_t pid, const struct safefile_map *m, uint64_t *addr)
{
	struct stat st;
	uint64_t value, load0;
	char why[256];
	int fd, rc = -1;

	fd = safefile_open((int)pid, m, SAFEFILE_ANY, why, sizeof why);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && st.st_size <= PROCPROF_MAX_ELF &&
	    elf_find_symbol(fd, &value, &load0) == 0 && m->start >= load0) {
		*addr = m->start - load0 + value;
		rc = 0;
	}
	close(fd);
	return rc;
}

int
procprof_find(pid_t pid, uint64_t *addr, char *err, size_t errlen)
{
	char path[64], line[PATH_MAX + 128];
	char exe[PATH_MAX + 1];
	struct safefile_map m, exe_map;
	int have_exe = 0;
	unsigned lines = 0;
	ssize_t n;
	FILE *f;

	elf_version(EV_CURRENT);
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = 0;
	if (n > 10 && strcmp(exe + n - 10, " (deleted)") == 0)
		exe[n - 10] = 0; /* as safefile_parse_map gives the path */
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (f == NULL) {
		set_err(err, errlen, "cannot read %s", path);
		return -1;
	}
	while (safefile_maps_line(f, line, sizeof(line)) && lines++ < PROCPROF_MAX_MAPS) {
		if (safefile_parse_map(line, &m) != 0 || m.offset != 0 || m.inode == 0 ||
		    m.path[0] != '/')
			continue;
		if (exe[0] != 0 && strcmp(m.path, exe) == 0 && !have_exe) {
			exe_map = m;
			have_exe = 1;
			continue;
		}
		if (strstr(strrchr(m.path, '/'), "gomem") != NULL && try_mapping(pid, &m, addr) == 0) {
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	/* Linked in statically: the executable itself. */
	if (have_exe && try_mapping(pid, &exe_map, addr) == 0)
		return 0;
	set_err(err, errlen, "no %s symbol in the objects of the process", PROCPROF_SYMBOL);
	return -1;
}

/* ---- reading it ---- */

/* Read exactly len bytes at remote address addr of pid; 0 or -1. */
static int
peek(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };
	ssize_t n;

	if (len == 0)
		return 0;
	if (addr + len < addr)
		return -1;
	n = process_vm_readv(pid, &l, 1, &r, 1, 0);
	return n == (ssize_t)len ? 0 : -1;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Check the header; the total bytes of records in *total. */
static int
check_header(const struct gomem_profile *h, const struct procprof_limits *lim, size_t *total,
	     char *err, size_t errlen)
{
	size_t sum = 0;
	unsigned i;

	if (h->magic != GOMEM_PROFILE_MAGIC) {
		set_err(err, errlen, "%s", "not a gomem profile table (bad magic)");
		return -1;
	}
	if (h->version < 1 || h->size < sizeof(*h)) {
		set_err(err, errlen, "%s", "unsupported profile table version or size");
		return -1;
	}
	if (h->chunk_size == 0 || h->chunk_size > (64u << 20) || h->nchunks > GOMEM_PROFILE_MAX_CHUNKS) {
		set_err(err, errlen, "%s", "profile table header out of range");
		return -1;
	}
	for (i = 0; i < h->nchunks; i++) {
		if (h->chunk_used[i] > h->chunk_size || h->chunk[i] == 0 || (h->chunk_used[i] & 7)) {
			set_err(err, errlen, "%s", "profile table chunk out of range");
			return -1;
		}
		sum += (size_t)h->chunk_used[i];
	}
	if (sum > lim->max_bytes) {
		set_err(err, errlen, "%s", "profile table larger than the read limit");
		return -1;
	}
	*total = sum;
	return 0;
}

/* Parse the records in p->raw into p->buckets; checks every record. */
static int
parse_records(struct procprof *p, const struct procprof_limits *lim, char *err, size_t errlen)
{
	const unsigned char *at = p->raw, *end = at + p->rawlen;
	size_t n = 0, cap = 0;

	while (at < end) {
		const struct gomem_profile_bucket *r = (const void *)at;
		struct procprof_bucket *b;
		size_t len;

		if ((size_t)(end - at) < sizeof(*r) || r->depth > GOMEM_PROFILE_MAX_DEPTH) {
			set_err(err, errlen, "%s", "corrupt bucket record");
			return -1;
		}
		len = sizeof(*r) + (size_t)r->depth * sizeof(uint64_t);
		if ((size_t)(end - at) < len) {
			set_err(err, errlen, "%s", "bucket record runs past its chunk");
			return -1;
		}
		if (n == lim->max_buckets) {
			set_err(err, errlen, "%s", "more buckets than the read limit");
			return -1;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct procprof_bucket *nb = realloc(p->buckets, ncap * sizeof(*nb));

			if (nb == NULL) {
				set_err(err, errlen, "%s", "out of memory");
				return -1;
			}
			p->buckets = nb;
			cap = ncap;
		}
		b = &p->buckets[n++];
		b->alloc_objects = r->alloc_objects;
		b->alloc_bytes = r->alloc_bytes;
		/* A torn or hostile copy: never more freed than allocated. */
		b->free_objects = r->free_objects < r->alloc_objects ? r->free_objects : r->alloc_objects;
		b->free_bytes = r->free_bytes < r->alloc_bytes ? r->free_bytes : r->alloc_bytes;
		/* Version 2 writers leave it 0: read_live finds it. */
		b->oldest_ns = p->version < 2 && b->free_objects < b->alloc_objects ? r->oldest_ns : 0;
		b->size = r->size;
		b->depth = r->depth;
		b->truncated = (r->flags & GOMEM_PROFILE_TRUNCATED) != 0;
		b->pcs = (const uint64_t *)r->pcs;
		at += len;
	}
	p->nbuckets = n;
	return 0;
}

/* ---- leak ages from the live table (version 2) ---- */

struct rec_addr {
	uint64_t addr; /* of the record in the process */
	size_t i;      /* its bucket */
};

static int
cmp_rec_addr(const void *a, const void *b)
{
	const struct rec_addr *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static const struct rec_addr *
find_rec(const struct rec_addr *v, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].addr == addr)
			return &v[mid];
		if (v[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * Each bucket's oldest live sample, from the table at h->live: entries
 * that name a record of the copy (its address in the process, from the
 * chunk it was read from), of a bucket with live samples, at a time between
 * the table's start and the copy.  The table changes and moves under the
 * reader, so an entry may be stale or torn: such an entry names no record,
 * or a record the sample did not belong to, which can only make an age
 * too young or too old by the life of one sample.  If the read fails, the
 * ages stay 0.  Reads at most PROCPROF_MAX_LIVE entries, in pieces.
 */
static void
read_live(pid_t pid, const struct gomem_profile *h, struct procprof *p)
{
	enum { PIECE = 4096 };
	struct gomem_profile_live *buf = NULL;
	struct rec_addr *v = NULL;
	size_t off = 0, chunk = 0, cap = h->live_cap, i;

	if (h->live == 0 || cap == 0 || p->nbuckets == 0)
		return;
	if (cap > PROCPROF_MAX_LIVE)
		cap = PROCPROF_MAX_LIVE;
	v = malloc(p->nbuckets * sizeof(*v));
	buf = malloc(PIECE * sizeof(*buf));
	if (v == NULL || buf == NULL)
		goto out;
	/* Each record's address in the process: its chunk's, plus its offset there. */
	for (i = 0; i < p->nbuckets; i++) {
		size_t at = (size_t)((const unsigned char *)p->buckets[i].pcs -
				     (const unsigned char *)p->raw) -
			    sizeof(struct gomem_profile_bucket);

		while (chunk < h->nchunks && at >= off + h->chunk_used[chunk])
			off += h->chunk_used[chunk++];
		if (chunk == h->nchunks)
			goto out;
		v[i].addr = h->chunk[chunk] + (at - off);
		v[i].i = i;
	}
	qsort(v, p->nbuckets, sizeof(*v), cmp_rec_addr);
	for (size_t base = 0; base < cap; base += PIECE) {
		size_t n = cap - base < PIECE ? cap - base : PIECE;

		if (peek(pid, h->live + base * sizeof(*buf), buf, n * sizeof(*buf)) != 0) {
			for (i = 0; i < p->nbuckets; i++) /* moved or unmapped: no ages this time */
				p->buckets[i].oldest_ns = 0;
			goto out;
		}
		for (i = 0; i < n; i++) {
			const struct rec_addr *r;
			struct procprof_bucket *b;

			if (buf[i].ptr <= 1 || buf[i].time_ns < h->start_ns ||
			    buf[i].time_ns > p->read_ns + 60000000000ull)
				continue;
			r = find_rec(v, p->nbuckets, buf[i].bucket & ~1ull);
			if (r == NULL)
				continue;
			b = &p->buckets[r->i];
			if (b->free_objects < b->alloc_objects &&
			    (b->oldest_ns == 0 || buf[i].time_ns < b->oldest_ns))
				b->oldest_ns = buf[i].time_ns;
		}
	}
out:
	free(v);
	free(buf);
}

int
procprof_read(pid_t pid, uint64_t addr, const struct procprof_limits *limits,
	      struct procprof *out, char *err, size_t errlen)
{
	struct procprof_limits lim = { PROCPROF_MAX_BYTES, PROCPROF_MAX_BUCKETS, PROCPROF_MAX_TRIES,
				       PROCPROF_RETRY_US };
	struct gomem_profile h, hr; /* hr, rtotal: the try whose chunks buf holds */
	struct timespec pause;
	unsigned char *buf = NULL;
	size_t total = 0, rtotal = 0, bufcap = 0;
	uint64_t gen2;
	unsigned tries, i;
	bool got = false;

	if (limits != NULL) {
		if (limits->max_bytes)
			lim.max_bytes = limits->max_bytes;
		if (limits->max_buckets)
			lim.max_buckets = limits->max_buckets;
		if (limits->max_tries)
			lim.max_tries = limits->max_tries;
		if (limits->retry_us)
			lim.retry_us = limits->retry_us;
	}
	pause.tv_sec = 0;
	pause.tv_nsec = (long)lim.retry_us * 1000;
	memset(out, 0, sizeof(*out));
	memset(&hr, 0, sizeof(hr));
	out->pid = pid;
	out->addr = addr;
	for (tries = 1; tries <= lim.max_tries; tries++) {
		size_t off = 0;

		if (tries > 1)
			nanosleep(&pause, NULL);
		if (peek(pid, addr, &h, sizeof(h)) != 0) {
			set_err(err, errlen, "cannot read the profile table: %s", strerror(errno));
			goto fail;
		}
		if (check_header(&h, &lim, &total, err, errlen) != 0)
			goto fail;
		if (h.gen & 1)
			continue; /* a writer is busy */
		if (total > bufcap) {
			unsigned char *nb = realloc(buf, total);

			if (nb == NULL) {
				set_err(err, errlen, "%s", "out of memory");
				goto fail;
			}
			buf = nb;
			bufcap = total;
		}
		for (i = 0; i < h.nchunks; i++) {
			if (peek(pid, h.chunk[i], buf + off, (size_t)h.chunk_used[i]) != 0) {
				set_err(err, errlen, "cannot read a profile chunk: %s", strerror(errno));
				goto fail;
			}
			off += (size_t)h.chunk_used[i];
		}
		/* A later try may see a busy writer and a larger total: what is
		 * parsed is this try's header and length, never a later one's. */
		got = true;
		hr = h;
		rtotal = total;
		if (peek(pid, addr + offsetof(struct gomem_profile, gen), &gen2, sizeof(gen2)) != 0) {
			set_err(err, errlen, "cannot read the profile table: %s", strerror(errno));
			goto fail;
		}
		if (gen2 == h.gen) {
			out->consistent = true;
			break;
		}
	}
	if (!got) {
		set_err(err, errlen, "%s", "the profile table stayed busy");
		goto fail;
	}
	out->tries = tries > lim.max_tries ? lim.max_tries : tries;
	out->version = hr.version;
	out->gen = hr.gen;
	out->rate = hr.rate;
	out->start_ns = hr.start_ns;
	out->samples = hr.samples;
	out->lost = hr.lost;
	out->lost_frees = hr.lost_frees;
	out->truncated = hr.truncated;
	out->read_ns = now_ns();
	out->raw = buf;
	out->rawlen = rtotal;
	if (parse_records(out, &lim, err, errlen) != 0) {
		procprof_free(out);
		return -1;
	}
	if (hr.version >= 2)
		read_live(pid, &hr, out);
	return 0;
fail:
	free(buf);
	out->raw = NULL;
	return -1;
}

void
procprof_free(struct procprof *p)
{
	free(p->buckets);
	free(p->raw);
	p->buckets = NULL;
	p->raw = NULL;
	p->nbuckets = 0;
	p->rawlen = 0;
}

void
procprof_dup(const struct procprof *src, struct procprof *dst)
{
	*dst = *src;
	dst->raw = NULL;
	dst->buckets = NULL;
	if (src->rawlen > 0) {
		dst->raw = malloc(src->rawlen);
		if (dst->raw == NULL)
			abort();
		memcpy(dst->raw, src->raw, src->rawlen);
	}
	if (src->nbuckets > 0) {
		dst->buckets = malloc(src->nbuckets * sizeof(*dst->buckets));
		if (dst->buckets == NULL)
			abort();
		memcpy(dst->buckets, src->buckets, src->nbuckets * sizeof(*dst->buckets));
	}
	/* The stacks point into the records: into the copy's now. */
	for (size_t i = 0; i < src->nbuckets; i++)
		dst->buckets[i].pcs = (const uint64_t *)((unsigned char *)dst->raw +
			((const unsigned char *)src->buckets[i].pcs - (const unsigned char *)src->raw));
}

const struct procprof_bucket *
procprof_then(const struct procprof *now, const struct procprof *then, size_t i)
{
	const struct procprof_bucket *a, *b;

	if (then == NULL || i >= then->nbuckets || i >= now->nbuckets || then->pid != now->pid ||
	    then->start_ns != now->start_ns || then->addr != now->addr)
		return NULL;
	a = &now->buckets[i];
	b = &then->buckets[i];
	if (a->size != b->size || a->depth != b->depth ||
	    memcmp(a->pcs, b->pcs, a->depth * sizeof(uint64_t)) != 0)
		return NULL;
	return b;
}

int
procprof_ack_exit(pid_t pid, uint64_t addr)
{
	uint64_t one = 1;
	struct iovec l = { &one, sizeof(one) };
	struct iovec r = { (void *)(uintptr_t)(addr + offsetof(struct gomem_profile, exit_ack)),
			   sizeof(one) };

	return process_vm_writev(pid, &l, 1, &r, 1, 0) == (ssize_t)sizeof(one) ? 0 : -1;
}

void
procprof_scale(uint64_t count, uint64_t bytes, uint64_t rate, double *objects,
	       double *scaled_bytes)
{
	double avg, scale = 1;

	if (count > 0 && rate > 1) {
		avg = (double)bytes / (double)count;
		scale = 1 / (1 - exp(-avg / (double)rate));
	}
	*objects = (double)count * scale;
	*scaled_bytes = (double)bytes * scale;
}
