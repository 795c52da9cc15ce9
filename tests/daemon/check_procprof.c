/*
 * check_procprof.c: gomemd's reader of the in-process heap profile.
 *
 * A live process (sites.c, libgomem preloaded) is found and read from
 * outside; its three sites, told apart by the code ranges the workload
 * prints itself, come out in the right order and, scaled as Go scales heap
 * samples, within 10% of the bytes it allocated and kept.  Hostile tables
 * (built in this process's own memory and read through the same syscall)
 * give errors, never a crash or an unbounded allocation.
 */
#include <check.h>

#include "../common/suite.h"
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/leaks.h"
#include "core/procprof.h"

#define MB 200

struct child {
	pid_t pid;
	FILE *out;
	int in;
	unsigned long long start_ns;
	uintptr_t lo[3], hi[3];
};

/* Start sites.c with libgomem preloaded at the given rate. */
static void
start_sites(struct child *c, const char *rate)
{
	const char *top = getenv("top_builddir") ? getenv("top_builddir") : "../..";
	char lib[4096], pre[4200], rt[64], line[512];
	int in[2], out[2];

	snprintf(lib, sizeof(lib), "%s/lib/.libs/libgomem.so.0", top);
	ck_assert_msg(realpath(lib, pre + 11) != NULL, "no %s", lib);
	memcpy(pre, "LD_PRELOAD=", 11);
	snprintf(rt, sizeof(rt), "GOMEM_PROFILE_RATE=%s", rate);
	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(out), 0);
	c->pid = fork();
	ck_assert_int_ge(c->pid, 0);
	if (c->pid == 0) {
		char *argv[] = { "./sites", "200", NULL }, *envp[] = { pre, rt, NULL };

		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execve("./sites", argv, envp);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->in = in[1];
	c->out = fdopen(out[0], "r");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), c->out));
	ck_assert_int_eq(sscanf(line, "ready %*d %llu %lx %lx %lx %lx %lx %lx", &c->start_ns, &c->lo[0],
				&c->hi[0], &c->lo[1], &c->hi[1], &c->lo[2], &c->hi[2]),
			 7);
}

static void
stop_child(struct child *c)
{
	int st;

	close(c->in);
	ck_assert_int_eq(waitpid(c->pid, &st, 0), c->pid);
	fclose(c->out);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Which site a bucket's stack passes through; -1 none. */
static int
site_of(const struct child *c, const struct procprof_bucket *b)
{
	for (unsigned i = 0; i < b->depth; i++)
		for (int s = 0; s < 3; s++)
			if (b->pcs[i] > c->lo[s] && b->pcs[i] <= c->hi[s])
				return s;
	return -1;
}

START_TEST(reads_a_live_process)
{
	/* Truth: 6:3:1 of MB MiB, half kept (sites.c). */
	const double alloc_truth[3] = { 0.6 * (MB << 20), 0.3 * (MB << 20), 0.1 * (MB << 20) };
	double alloc[3] = { 0 }, inuse[3] = { 0 };
	uint64_t oldest[3] = { 0 }, addr = 0, sampled = 0;
	struct procprof p, q;
	struct child c;
	char err[256] = "";

	start_sites(&c, "4096");
	ck_assert_msg(procprof_find(c.pid, &addr, err, sizeof(err)) == 0, "find: %s", err);
	ck_assert_msg(procprof_read(c.pid, addr, NULL, &p, err, sizeof(err)) == 0, "read: %s", err);
	ck_assert(p.consistent);
	ck_assert_uint_eq(p.rate, 4096);
	ck_assert_uint_eq(p.lost, 0);
	ck_assert_uint_gt(p.nbuckets, 3);
	for (size_t i = 0; i < p.nbuckets; i++) {
		const struct procprof_bucket *b = &p.buckets[i];
		int s = site_of(&c, b);
		double o, ab, ib;

		sampled += b->alloc_objects;
		ck_assert_uint_le(b->depth, GOMEM_PROFILE_MAX_DEPTH);
		if (s < 0)
			continue;
		ck_assert_uint_eq(b->size, 4096u >> s);
		procprof_scale(b->alloc_objects, b->alloc_bytes, p.rate, &o, &ab);
		procprof_scale(b->alloc_objects - b->free_objects, b->alloc_bytes - b->free_bytes,
			       p.rate, &o, &ib);
		alloc[s] += ab;
		inuse[s] += ib;
		if (b->oldest_ns != 0 && (oldest[s] == 0 || b->oldest_ns < oldest[s]))
			oldest[s] = b->oldest_ns;
	}
	ck_assert_uint_le(sampled, p.samples);
	for (int s = 0; s < 3; s++)
		printf("site %c: alloc %.1f MB (truth %.1f), in use %.1f MB (truth %.1f)\n", 'a' + s,
		       alloc[s] / 1e6, alloc_truth[s] / 1e6, inuse[s] / 1e6, alloc_truth[s] / 2e6);
	for (int s = 0; s < 3; s++) {
		ck_assert_msg(fabs(alloc[s] / alloc_truth[s] - 1) < 0.10, "site %d alloc %.0f truth %.0f",
			      s, alloc[s], alloc_truth[s]);
		ck_assert_msg(fabs(inuse[s] / (alloc_truth[s] / 2) - 1) < 0.10,
			      "site %d inuse %.0f truth %.0f", s, inuse[s], alloc_truth[s] / 2);
		ck_assert_uint_ge(oldest[s], c.start_ns);
		ck_assert_uint_le(oldest[s], p.read_ns);
	}
	ck_assert(alloc[0] > alloc[1] && alloc[1] > alloc[2]);
	ck_assert(inuse[0] > inuse[1] && inuse[1] > inuse[2]);

	/* The process is idle: a second reader (a restarted gomemd) sees the same. */
	ck_assert_int_eq(procprof_read(c.pid, addr, NULL, &q, err, sizeof(err)), 0);
	ck_assert_uint_eq(q.gen, p.gen);
	ck_assert_uint_eq(q.nbuckets, p.nbuckets);
	ck_assert_int_eq(memcmp(q.raw, p.raw, p.rawlen), 0);
	procprof_free(&p);
	procprof_free(&q);
	stop_child(&c);
}
END_TEST

START_TEST(no_table_is_an_error)
{
	char err[256] = "";
	uint64_t addr = 1;
	struct procprof p;
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execl("/bin/sleep", "sleep", "5", (char *)NULL);
		_exit(127);
	}
	usleep(100000);
	ck_assert_int_eq(procprof_find(pid, &addr, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "gomem_profile"));
	ck_assert_int_eq(procprof_read(pid, 0x1000, NULL, &p, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot read"));
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}
END_TEST

/* ---- hostile tables, in this process's memory ---- */

static struct gomem_profile fake;
static uint64_t chunk[4096];

/* A valid table: two buckets in one chunk. */
static void
make_fake(void)
{
	struct gomem_profile_bucket *b = (void *)chunk;

	memset(&fake, 0, sizeof(fake));
	memset(chunk, 0, sizeof(chunk));
	fake.size = sizeof(fake);
	fake.version = GOMEM_PROFILE_VERSION;
	fake.magic = GOMEM_PROFILE_MAGIC;
	fake.rate = 1;
	fake.chunk_size = sizeof(chunk);
	fake.nchunks = 1;
	fake.chunk[0] = (uintptr_t)chunk;
	b->alloc_objects = 3;
	b->alloc_bytes = 48;
	b->size = 16;
	b->depth = 2;
	b->pcs[0] = 0x1111;
	b->pcs[1] = 0x2222;
	b = (void *)((char *)chunk + sizeof(*b) + 16);
	b->alloc_objects = 1;
	b->alloc_bytes = 32;
	b->free_objects = 5; /* more freed than allocated: a torn or lying copy */
	b->free_bytes = 160;
	b->oldest_ns = 7;
	b->size = 32;
	b->depth = 0;
	fake.chunk_used[0] = 2 * sizeof(*b) + 16;
	fake.nbuckets = 2;
}

static int
read_fake(struct procprof *p, char *err, size_t errlen)
{
	struct procprof_limits lim = { 0, 0, 3, 1 };

	return procprof_read(getpid(), (uintptr_t)&fake, &lim, p, err, errlen);
}

/* Create dir (a mkdtemp template)/name for a hostile ELF file; eh gets
 * its identification.  The file's descriptor. */
static int
elf_file(char *dir, const char *name, Elf64_Ehdr *eh)
{
	char path[64];
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/%s", dir, name);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* A child maps the file (fd, in dir) at offset 0: the lookup in it finds
 * nothing and grows this process by less than max_kib.  Then the file goes. */
static void
lookup_finds_nothing(int fd, const char *dir, long max_kib)
{
	struct rusage before, after;
	char err[256] = "", cmd[96];
	uint64_t addr = 0;
	int st;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED)
			_exit(1);
		pause();
		_exit(0);
	}
	usleep(100000);
	getrusage(RUSAGE_SELF, &before);
	ck_assert_int_eq(procprof_find(pid, &addr, err, sizeof(err)), -1);
	getrusage(RUSAGE_SELF, &after);
	ck_assert_msg(after.ru_maxrss - before.ru_maxrss < max_kib, "the lookup grew by %ld KiB",
		      after.ru_maxrss - before.ru_maxrss);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(fd);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/*
 * A mapped file named *gomem* whose symbol table names gomem_profile in a
 * string table of 1 GiB (sparse): the lookup must not read it (libelf reads
 * a string table whole), so it finds nothing, quickly and in little memory.
 */
START_TEST(huge_string_table_is_not_read)
{
	const size_t huge = (size_t)1 << 30;
	char dir[] = "/tmp/check_procprof.XXXXXX";
	Elf64_Ehdr eh = {.e_type = ET_DYN, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
			 .e_phoff = 64, .e_ehsize = 64, .e_phentsize = sizeof(Elf64_Phdr),
			 .e_phnum = 1, .e_shentsize = sizeof(Elf64_Shdr), .e_shnum = 3};
	Elf64_Phdr ph = {.p_type = PT_LOAD, .p_flags = PF_R, .p_filesz = 0x1000,
			 .p_memsz = 0x1000, .p_align = 0x1000};
	Elf64_Sym sym[2] = {{0},
			    {.st_name = 1, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_OBJECT),
			     .st_shndx = 1, .st_value = 0x100, .st_size = 4096}};
	Elf64_Shdr sh[3] = {{0},
			    {.sh_type = SHT_SYMTAB, .sh_offset = 0x1000, .sh_size = sizeof sym,
			     .sh_link = 2, .sh_entsize = sizeof(Elf64_Sym)},
			    {.sh_type = SHT_STRTAB, .sh_offset = 0x2000, .sh_size = huge}};
	int fd = elf_file(dir, "gomem-huge.so", &eh);

	eh.e_shoff = 0x2000 + huge;
	ck_assert(pwrite(fd, &eh, sizeof eh, 0) == sizeof eh &&
		  pwrite(fd, &ph, sizeof ph, 64) == sizeof ph &&
		  pwrite(fd, sym, sizeof sym, 0x1000) == sizeof sym &&
		  pwrite(fd, "\0gomem_profile", 15, 0x2000) == 15 &&
		  pwrite(fd, sh, sizeof sh, (off_t)eh.e_shoff) == sizeof sh);
	lookup_finds_nothing(fd, dir, 256 * 1024);
}
END_TEST

/*
 * A mapped file named *gomem* with 48 symbol tables of 8 MiB, all over the
 * same (sparse) bytes: each passes the per-table limit, and libelf keeps
 * every table it reads until the end.  The lookup reads one table of each
 * kind, as a linker writes, not 384 MiB.
 */
START_TEST(many_symbol_tables_are_not_read)
{
	enum { NTAB = 48 };
	const size_t tab = ((size_t)8 << 20) / sizeof(Elf64_Sym) * sizeof(Elf64_Sym);
	char dir[] = "/tmp/check_procprof.XXXXXX";
	Elf64_Ehdr eh = {.e_type = ET_DYN, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
			 .e_phoff = 64, .e_ehsize = 64, .e_phentsize = sizeof(Elf64_Phdr),
			 .e_phnum = 1, .e_shentsize = sizeof(Elf64_Shdr), .e_shnum = NTAB + 2};
	Elf64_Phdr ph = {.p_type = PT_LOAD, .p_flags = PF_R, .p_filesz = 0x1000,
			 .p_memsz = 0x1000, .p_align = 0x1000};
	Elf64_Shdr sh[NTAB + 2];
	int fd = elf_file(dir, "gomem-many.so", &eh), i;

	memset(sh, 0, sizeof sh);
	sh[1] = (Elf64_Shdr){.sh_type = SHT_STRTAB, .sh_offset = 0x1000, .sh_size = 16};
	for (i = 2; i < NTAB + 2; i++)
		sh[i] = (Elf64_Shdr){.sh_type = SHT_SYMTAB, .sh_offset = 0x2000, .sh_size = tab,
				     .sh_link = 1, .sh_entsize = sizeof(Elf64_Sym)};
	eh.e_shoff = 0x2000 + tab;
	ck_assert(pwrite(fd, &eh, sizeof eh, 0) == sizeof eh &&
		  pwrite(fd, &ph, sizeof ph, 64) == sizeof ph &&
		  pwrite(fd, sh, sizeof sh, (off_t)eh.e_shoff) == sizeof sh);
	lookup_finds_nothing(fd, dir, 64 * 1024);
}
END_TEST

START_TEST(parses_and_clamps)
{
	struct procprof p;
	char err[256] = "";

	make_fake();
	ck_assert_msg(read_fake(&p, err, sizeof(err)) == 0, "%s", err);
	ck_assert(p.consistent);
	ck_assert_uint_eq(p.nbuckets, 2);
	ck_assert_uint_eq(p.buckets[0].depth, 2);
	ck_assert_uint_eq(p.buckets[0].pcs[1], 0x2222);
	ck_assert_uint_eq(p.buckets[1].free_objects, 1);
	ck_assert_uint_eq(p.buckets[1].free_bytes, 32);
	ck_assert_uint_eq(p.buckets[1].oldest_ns, 0);
	procprof_free(&p);
	/* The exit handshake writes the ack word. */
	ck_assert_int_eq(procprof_ack_exit(getpid(), (uintptr_t)&fake), 0);
	ck_assert_uint_eq(fake.exit_ack, 1);
}
END_TEST

/* Version 2: the oldest live sample per bucket comes from the live table. */
START_TEST(ages_from_live_table)
{
	static struct gomem_profile_live live[8];
	uint64_t b0 = (uintptr_t)chunk, b1 = b0 + sizeof(struct gomem_profile_bucket) + 16;
	struct gomem_profile_bucket *first = (void *)chunk;
	struct procprof p;
	char err[256] = "";

	make_fake();
	fake.start_ns = 1000;
	first->oldest_ns = 5; /* ignored in version 2 */
	memset(live, 0, sizeof(live));
	live[0] = (struct gomem_profile_live){ 0x5000, b0, 3000 };
	live[1] = (struct gomem_profile_live){ 1, b0, 1500 };	  /* deleted */
	live[2] = (struct gomem_profile_live){ 0x6000, b0 | 1, 2000 }; /* the writer's bit */
	live[3] = (struct gomem_profile_live){ 0x7000, b0 + 8, 1200 };  /* not a record */
	live[4] = (struct gomem_profile_live){ 0x8000, b0, 999 };	  /* before the start */
	live[5] = (struct gomem_profile_live){ 0x9000, b1, 1100 };	  /* no live samples */
	fake.live = (uintptr_t)live;
	fake.live_cap = 8;
	ck_assert_msg(read_fake(&p, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(p.buckets[0].oldest_ns, 2000);
	ck_assert_uint_eq(p.buckets[1].oldest_ns, 0);
	procprof_free(&p);
	/* A table that cannot be read leaves no ages, and the copy stands. */
	fake.live = 8;
	ck_assert_msg(read_fake(&p, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(p.nbuckets, 2);
	ck_assert_uint_eq(p.buckets[0].oldest_ns, 0);
	procprof_free(&p);
	/* Version 1: the record's own field. */
	fake.version = 1;
	ck_assert_msg(read_fake(&p, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(p.buckets[0].oldest_ns, 5);
	procprof_free(&p);
}
END_TEST

START_TEST(rejects_hostile_headers)
{
	struct procprof p;
	char err[256];

	make_fake();
	fake.magic ^= 1;
	ck_assert_int_eq(read_fake(&p, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "magic"));
	make_fake();
	fake.nchunks = 100000;
	ck_assert_int_eq(read_fake(&p, err, sizeof(err)), -1);
	make_fake();
	fake.chunk_used[0] = fake.chunk_size + 8;
	ck_assert_int_eq(read_fake(&p, err, sizeof(err)), -1);
	make_fake();
	fake.chunk_size = 1u << 30;
	ck_assert_int_eq(read_fake(&p, err, sizeof(err)), -1);
	make_fake();
	fake.size = 8;
	ck_assert_int_eq(read_fake(&p, err, sizeof(err)), -1);
	/* Over the caller's byte limit. */
	make_fake();
	{
		struct procprof_limits lim = { 64, 0, 1, 1 };

		ck_assert_int_eq(procprof_read(getpid(), (uintptr_t)&fake, &lim, &p, err, sizeof(err)), -1);
		ck_assert_ptr_nonnull(strstr(err, "limit"));
	}
	/* A chunk pointing at unmapped memory. */
	make_fake();
	fake.chunk[0] = 0x10;
	ck_assert_int_eq(read_fake(&p, err, sizeof(err)), -1);
}
END_TEST

START_TEST(rejects_hostile_records)
{
	struct gomem_profile_bucket *b = (void *)chunk;
	struct procprof p;
	char err[256];

	make_fake();
	b->depth = 1000;
	ck_assert_int_eq(read_fake(&p, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "corrupt"));
	make_fake();
	b->depth = 60; /* runs past chunk_used */
	ck_assert_int_eq(read_fake(&p, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "past"));
	make_fake();
	{
		struct procprof_limits lim = { 0, 1, 1, 1 };

		ck_assert_int_eq(procprof_read(getpid(), (uintptr_t)&fake, &lim, &p, err, sizeof(err)), -1);
		ck_assert_ptr_nonnull(strstr(err, "buckets"));
	}
}
END_TEST

START_TEST(busy_writer_is_retried_then_refused)
{
	struct procprof p;
	char err[256];

	make_fake();
	fake.gen = 5; /* odd: a writer died in the middle, or lies */
	ck_assert_int_eq(read_fake(&p, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "busy"));
}
END_TEST

/*
 * A writer changes the table while the reader copies it, as a seqlock
 * writer does (gen odd while it changes): even, two records; odd, many.
 * A copy can end on a try that found the writer busy after an earlier try
 * had read the chunks; what is parsed must be that earlier try's bytes,
 * never the length the busy try's header named (which ran past the
 * buffer).  Every record in the chunk is valid, so anything else parsed
 * is memory the reader never copied.
 */
enum { FLIP_SMALL = 2, FLIP_BIG = 200 };
static int flip_stop;

static void *
flipper(void *arg)
{
	const size_t rec = sizeof(struct gomem_profile_bucket);
	volatile unsigned spin;

	(void)arg;
	while (!__atomic_load_n(&flip_stop, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&fake.gen, fake.gen + 1, __ATOMIC_RELEASE); /* odd */
		__atomic_store_n(&fake.chunk_used[0], FLIP_BIG * rec, __ATOMIC_RELEASE);
		__atomic_store_n(&fake.nbuckets, FLIP_BIG, __ATOMIC_RELEASE);
		for (spin = 0; spin < 3000; spin++)
			;
		__atomic_store_n(&fake.chunk_used[0], FLIP_SMALL * rec, __ATOMIC_RELEASE);
		__atomic_store_n(&fake.nbuckets, FLIP_SMALL, __ATOMIC_RELEASE);
		__atomic_store_n(&fake.gen, fake.gen + 1, __ATOMIC_RELEASE); /* even */
		for (spin = 0; spin < 3000; spin++)
			;
	}
	return NULL;
}

START_TEST(busy_try_after_a_read_keeps_the_read)
{
	struct procprof_limits lim = { 0, 0, 2, 1 };
	struct gomem_profile_bucket *b;
	pthread_t t;
	unsigned i, k, ok = 0;

	make_fake();
	memset(chunk, 0, sizeof(chunk));
	for (i = 0; i < FLIP_BIG; i++) {
		b = (void *)((char *)chunk + i * sizeof(*b));
		b->alloc_objects = 1;
		b->alloc_bytes = 16;
		b->size = 16;
	}
	fake.chunk_used[0] = FLIP_SMALL * sizeof(*b);
	fake.nbuckets = FLIP_SMALL;
	fake.gen = 2;
	flip_stop = 0;
	ck_assert_int_eq(pthread_create(&t, NULL, flipper, NULL), 0);
	for (i = 0; i < 20000; i++) {
		struct procprof p;
		char err[256] = "";

		if (procprof_read(getpid(), (uintptr_t)&fake, &lim, &p, err, sizeof(err)) != 0) {
			ck_assert_msg(strstr(err, "busy") != NULL, "read %u: %s", i, err);
			continue;
		}
		ok++;
		ck_assert_uint_ge(p.nbuckets, FLIP_SMALL);
		ck_assert_uint_le(p.nbuckets, FLIP_BIG);
		for (k = 0; k < p.nbuckets; k++)
			ck_assert_msg(p.buckets[k].size == 16 && p.buckets[k].alloc_objects == 1,
				      "read %u: bucket %u of %zu was never copied", i, k,
				      p.nbuckets);
		procprof_free(&p);
	}
	__atomic_store_n(&flip_stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	ck_assert_uint_gt(ok, 0);
}
END_TEST

START_TEST(scale_is_go_scale)
{
	double o, b;

	/* Go's scaleHeapSample: 10 samples of 512 KiB at 512 KiB stand for 10/(1-1/e). */
	procprof_scale(10, 10 * 524288, 524288, &o, &b);
	ck_assert_double_eq_tol(o, 10 / (1 - exp(-1)), 1e-9);
	ck_assert_double_eq_tol(b, 10 * 524288 / (1 - exp(-1)), 1e-3);
	procprof_scale(10, 160, 1, &o, &b);
	ck_assert_double_eq(o, 10);
	procprof_scale(0, 0, 524288, &o, &b);
	ck_assert_double_eq(b, 0);
}
END_TEST

/* ---- the leak view over two copies ---- */

static uint64_t pcs_a[2] = { 0x1000, 0x2000 }, pcs_b[1] = { 0x3000 };

static void
set_bucket(struct procprof_bucket *b, uint64_t size, uint64_t allocs, uint64_t frees,
	   uint64_t oldest, const uint64_t *pcs, unsigned depth)
{
	memset(b, 0, sizeof(*b));
	b->size = size;
	b->alloc_objects = allocs;
	b->alloc_bytes = allocs * size;
	b->free_objects = frees;
	b->free_bytes = frees * size;
	b->oldest_ns = allocs > frees ? oldest : 0;
	b->pcs = pcs;
	b->depth = depth;
}

START_TEST(leaks_ranked_by_growth_then_age)
{
	struct procprof_bucket nb[4], tb[2];
	struct procprof now = { .pid = 7, .addr = 0x100, .start_ns = 1, .rate = 1, .nbuckets = 4,
				.buckets = nb };
	struct procprof then = now;
	struct leak_site *v;
	size_t n;

	then.nbuckets = 2;
	then.buckets = tb;
	set_bucket(&tb[0], 64, 10, 0, 100, pcs_a, 2);  /* steady */
	set_bucket(&tb[1], 1024, 40, 20, 300, pcs_b, 1);
	set_bucket(&nb[0], 64, 30, 20, 100, pcs_a, 2);  /* churned, 10 live then and now */
	set_bucket(&nb[1], 1024, 90, 40, 300, pcs_b, 1); /* 20 -> 50 live: +30 KiB */
	set_bucket(&nb[2], 16, 1000, 0, 500, pcs_a, 1); /* new: +16000 B */
	set_bucket(&nb[3], 1024, 30, 0, 200, pcs_b, 0); /* new: +30 KiB, older */

	n = leaks_rank(&now, &then, 10, &v);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(v[0].bucket, 3); /* same growth as 1, older sample */
	ck_assert_uint_eq(v[1].bucket, 1);
	ck_assert_double_eq(v[1].growth_bytes, 30 * 1024);
	ck_assert_double_eq(v[1].inuse_bytes, 50 * 1024);
	ck_assert_uint_eq(v[1].oldest_ns, 300);
	ck_assert_uint_eq(v[2].bucket, 2);
	ck_assert_double_eq(v[2].growth_objects, 1000);
	free(v);
	n = leaks_rank(&now, &then, 1, &v);
	ck_assert_uint_eq(n, 1);
	free(v);

	/* Another table (the pid exec'd): nothing matches, all live counts as growth. */
	then.start_ns = 2;
	n = leaks_rank(&now, &then, 10, &v);
	ck_assert_uint_eq(n, 4);
	ck_assert_double_eq(v[0].growth_bytes, 50 * 1024);
	free(v);
	/* A bucket of then whose stack differs is not the same bucket. */
	then.start_ns = 1;
	tb[1].pcs = pcs_a;
	ck_assert_ptr_null(procprof_then(&now, &then, 1));
	ck_assert_ptr_eq(procprof_then(&now, &then, 0), &tb[0]);
	ck_assert_ptr_null(procprof_then(&now, &then, 2));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("procprof");
	TCase *tl = tcase_create("live");
	TCase *th = tcase_create("hostile");

	if (geteuid() != 0) {
		printf("SKIP: process_vm_readv of another process needs root here\n");
		return 77;
	}
	tcase_set_timeout(tl, 120);
	tcase_add_test(tl, reads_a_live_process);
	tcase_add_test(tl, no_table_is_an_error);
	tcase_add_test(tl, huge_string_table_is_not_read);
	tcase_add_test(tl, many_symbol_tables_are_not_read);
	suite_add_tcase(s, tl);
	tcase_add_test(th, parses_and_clamps);
	tcase_add_test(th, ages_from_live_table);
	tcase_add_test(th, rejects_hostile_headers);
	tcase_add_test(th, rejects_hostile_records);
	tcase_add_test(th, busy_writer_is_retried_then_refused);
	tcase_add_test(th, busy_try_after_a_read_keeps_the_read);
	tcase_add_test(th, scale_is_go_scale);
	tcase_add_test(th, leaks_ranked_by_growth_then_age);
	suite_add_tcase(s, th);
	return run_suite(s);
}
