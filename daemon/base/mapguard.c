/*
 * mapguard.c: surviving a file that shrinks under a mapping.
 *
 * See mapguard.h.  The handler runs on the thread that faulted, inside the
 * parser's read, so it uses system calls only (no allocation, no lock, no
 * stdio), on a descriptor of /proc/self/maps opened at install.  On SIGBUS
 * with si_code BUS_ADRERR (an access past the end of the file a mapping
 * shows, the only way a read of an intact file can fault that way) in a
 * private, non-executable mapping of a file (how parsers map what they
 * read), it maps private zero pages over the rest of that mapping, from the
 * faulting page to its end: one replacement per mapping, so a file shrunk
 * again and again splits the mapping once and no more (each split is a
 * kernel VMA, and a process has at most vm.max_map_count of them).  When
 * the parser unmaps its mapping the zero pages go with it.  A thread that
 * faulted on the same page as another finds no file there any more (the
 * other replaced it, and the kernel may have merged the zeros with an
 * anonymous neighbour): it replaces nothing and retries the access, once.
 *
 * Every other SIGBUS (a hardware memory error, a fault fetching code, a
 * shared or executable mapping, one that cannot be found or replaced, one
 * sent by kill) gets the default action: the handler resets it and raises
 * the signal again.
 */
#include "config.h"

#include "base/mapguard.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

static uint64_t pages_replaced; /* atomic */
/* Odd while a handler replaces a mapping, and 2 more after each (atomic). */
static uint64_t replacing;
static uintptr_t page_size;

/* Parse the hex at *p up to a non-hex byte; advance *p.  0 when none. */
static int hex_field(const char **p, const char *end, uintptr_t *v)
{
	const char *s = *p;
	uintptr_t x = 0;
	int n = 0;

	for (; s < end && n < 17; s++, n++) {
		char c = *s;
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			break;
		x = x << 4 | d;
	}
	if (n == 0 || n > 16)
		return 0;
	*p = s;
	*v = x;
	return 1;
}

uint64_t mapguard_pages(void)
{
	return __atomic_load_n(&pages_replaced, __ATOMIC_RELAXED);
}

/* What the mapping at a faulting address is (mapping_find). */
enum map_kind {
	MG_NONE,	/* not found, or a mapping the handler leaves alone */
	MG_FILE,	/* a private, non-executable mapping of a file: replace */
	MG_ANON,	/* no file behind it: another thread replaced it already */
};

/* Skip a field and the spaces after it; 0 at the end. */
static int next_field(const char **p, const char *end)
{
	while (*p < end && **p != ' ')
		(*p)++;
	while (*p < end && **p == ' ')
		(*p)++;
	return *p < end;
}

/*
 * The maps line at p (up to end): "start-end perms offset dev inode path".
 * When its range holds addr, its end in *hi and what it is; else MG_NONE.
 */
static enum map_kind line_holds(const char *p, const char *end, uintptr_t addr, uintptr_t *hi)
{
	const char *perms;
	uintptr_t lo, inode = 0;

	if (!hex_field(&p, end, &lo) || p >= end || *p++ != '-' || !hex_field(&p, end, hi) ||
	    addr < lo || addr >= *hi || !next_field(&p, end) || end - p < 4)
		return MG_NONE;
	perms = p;
	if (!next_field(&p, end) || !next_field(&p, end) || !next_field(&p, end))
		return MG_NONE; /* perms, offset, dev: at the inode now */
	for (; p < end && *p >= '0' && *p <= '9'; p++)
		inode = inode * 10 + (uintptr_t)(*p - '0');
	if (inode == 0)
		return MG_ANON;
	/* Private and not code: what a parser maps to read a file. */
	return perms[2] != 'x' && perms[3] == 'p' ? MG_FILE : MG_NONE;
}

static int maps_fd = -1; /* /proc/self/maps, opened at install: no open in the handler */

/*
 * What the mapping of this process that holds addr is, and its end, from
 * /proc/self/maps read with pread (no allocation, no lock of ours).
 */
static enum map_kind mapping_find(uintptr_t addr, uintptr_t *hi)
{
	char buf[4096];
	size_t have = 0;
	off_t off = 0;
	int skip = 0; /* in the rest of a line longer than buf */

	if (maps_fd < 0)
		return MG_NONE;
	for (;;) {
		ssize_t n = pread(maps_fd, buf + have, sizeof buf - have, off);
		const char *line = buf, *nl;
		enum map_kind k;

		if (n <= 0)
			return MG_NONE;
		off += n;
		have += (size_t)n;
		/* Every whole line in the buffer. */
		while ((nl = memchr(line, '\n', (size_t)(buf + have - line))) != NULL) {
			if (!skip && (k = line_holds(line, nl, addr, hi)) != MG_NONE)
				return k;
			skip = 0;
			line = nl + 1;
		}
		if (line == buf && have == sizeof buf) {
			/* No end of line in a full buffer: the line's fields were
			 * looked at (they come first, the path last); skip to its
			 * end, so that no part of a long path passes for a line. */
			if (!skip && (k = line_holds(buf, buf + have, addr, hi)) != MG_NONE)
				return k;
			skip = 1;
			have = 0;
			continue;
		}
		have = (size_t)(buf + have - line);
		memmove(buf, line, have);
	}
}

/* The page this thread last returned to as replaced by another, and the
 * replacement count then: the same page again with no replacement since
 * is a fault that is not ours. */
static __thread uintptr_t retried_page;
static __thread uint64_t retried_gen;

/* replacing, once no other thread is in the middle of a replacement (one
 * mmap; bounded all the same: a child forked meanwhile would wait for ever). */
static uint64_t replacing_settled(void)
{
	uint64_t g;

	for (int i = 0; (g = __atomic_load_n(&replacing, __ATOMIC_ACQUIRE)) & 1 && i < 100000; i++)
		sched_yield();
	return g;
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	int saved = errno, moved = 0;
	uintptr_t page = (uintptr_t)si->si_addr & ~(page_size - 1), end = 0;
	enum map_kind k = MG_NONE;
	uint64_t gen0 = replacing_settled();

	if (si->si_code == BUS_ADRERR && page != 0) {
		k = mapping_find(page, &end);
		/* Another thread replaced a mapping while this one read the
		 * maps file in pieces: the lines moved between the reads, and
		 * this page's may have been missed.  Wait for it to finish. */
		moved = k == MG_NONE && replacing_settled() != gen0;
	}
#if defined(__x86_64__)
	/* Code that faults is not a parser reading a file. */
	if (((uintptr_t)((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RIP] & ~(page_size - 1)) ==
	    page)
		k = MG_NONE, moved = 0;
#else
	(void)uctx;
#endif
	if ((k == MG_ANON || moved) &&
	    (retried_page != page || retried_gen != replacing_settled())) {
		/* Two threads faulted on one page, and the other replaced it
		 * (and the kernel may have merged the zeros with a neighbour):
		 * the access works now.  The same fault again, with nothing
		 * replaced in between, is not one of ours. */
		retried_page = page;
		retried_gen = replacing_settled();
	} else if (k == MG_FILE && end > page) {
		void *z;

		__atomic_add_fetch(&replacing, 1, __ATOMIC_ACQ_REL);
		z = mmap((void *)page, end - page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (z != MAP_FAILED)
			__atomic_add_fetch(&pages_replaced, (end - page) / page_size,
					   __ATOMIC_RELAXED);
		__atomic_add_fetch(&replacing, 1, __ATOMIC_ACQ_REL);
		if (z == MAP_FAILED) {
			signal(sig, SIG_DFL);
			raise(sig);
		}
	} else {
		/* Default action: delivered when the handler returns (a fault
		 * would also come again), and ends the process. */
		signal(sig, SIG_DFL);
		raise(sig);
	}
	errno = saved;
}

int mapguard_install(void)
{
	struct sigaction sa;

	page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
	if (maps_fd < 0)
		maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (maps_fd < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL);
}

