/*
 * mapguard.c: surviving a file that shrinks under a mapping.
 *
 * See mapguard.h.  The handler runs on the thread that faulted, inside the
 * parser's read, so it uses system calls only (no allocation, no lock, no
 * stdio).  On SIGBUS with si_code BUS_ADRERR (an access past the end of the
 * file a mapping shows, the only way a read of an intact file can fault
 * that way) it finds the mapping in /proc/self/maps and maps private zero
 * pages over the rest of it, from the faulting page to its end: one
 * replacement per mapping, so a file shrunk again and again splits the
 * mapping once and no more (each split is a kernel VMA, and a process has
 * at most vm.max_map_count of them).  When the parser unmaps its mapping
 * the zero pages go with it.
 *
 * Every other SIGBUS (a hardware memory error, a fault fetching code, a
 * mapping that cannot be found or replaced, one sent by kill) gets the
 * default action: the handler resets it and raises the signal again.
 */
#include "config.h"

#include "base/mapguard.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

static uint64_t pages_replaced; /* atomic */
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

/* Does the maps line at p (up to end) start with a range that holds addr?  Its end in *hi. */
static int range_holds(const char *p, const char *end, uintptr_t addr, uintptr_t *hi)
{
	uintptr_t lo;

	return hex_field(&p, end, &lo) && p < end && *p++ == '-' && hex_field(&p, end, hi) &&
	       addr >= lo && addr < *hi;
}

/*
 * The end of the mapping of this process that holds addr, from
 * /proc/self/maps read with system calls only; 0 when not found.
 */
static uintptr_t mapping_end(uintptr_t addr)
{
	char buf[4096];
	size_t have = 0;
	uintptr_t found = 0;
	int skip = 0; /* in the rest of a line longer than buf */
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	while (found == 0) {
		ssize_t n = read(fd, buf + have, sizeof buf - have);
		const char *line = buf, *nl;

		if (n <= 0)
			break;
		have += (size_t)n;
		/* Every whole line in the buffer: "start-end perms ..." */
		while ((nl = memchr(line, '\n', (size_t)(buf + have - line))) != NULL) {
			uintptr_t hi;

			if (!skip && range_holds(line, nl, addr, &hi)) {
				found = hi;
				break;
			}
			skip = 0;
			line = nl + 1;
		}
		if (found != 0)
			break;
		if (line == buf && have == sizeof buf) {
			/* No end of line in a full buffer: the line's start was
			 * looked at (a mapping's range comes first); skip to its
			 * end, so that no part of a long path passes for a range. */
			uintptr_t hi;

			if (!skip && range_holds(buf, buf + have, addr, &hi))
				found = hi;
			skip = 1;
			have = 0;
			continue;
		}
		have = (size_t)(buf + have - line);
		memmove(buf, line, have);
	}
	close(fd);
	return found;
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	int saved = errno;
	uintptr_t page = (uintptr_t)si->si_addr & ~(page_size - 1), end = 0;
	int ok = si->si_code == BUS_ADRERR && page != 0;

#if defined(__x86_64__)
	/* Code that faults is not a parser reading a file. */
	if (ok && ((uintptr_t)((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RIP] &
		   ~(page_size - 1)) == page)
		ok = 0;
#else
	(void)uctx;
#endif
	if (ok)
		end = mapping_end(page);
	if (ok && end > page &&
	    mmap((void *)page, end - page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
		__atomic_add_fetch(&pages_replaced, (end - page) / page_size, __ATOMIC_RELAXED);
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
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL);
}

uint64_t mapguard_pages(void)
{
	return __atomic_load_n(&pages_replaced, __ATOMIC_RELAXED);
}
