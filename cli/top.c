/*
 * top.c: `gomem top`, the watched processes live, like top(1).
 *
 *   gomem top [-b] [-d SECONDS] [-n ITERATIONS] [-s COLUMN] [--server ADDR]
 *
 * Every SECONDS (default 2) it reads GET /memstats (every watched process's
 * latest MemStats, one request) and shows one line per live process: its
 * heap (HeapAlloc, HeapInuse, HeapReleased), RSS, live objects, and rates
 * from the process's two latest snapshots: bytes allocated per second
 * (TotalAlloc's delta over the delta of the snapshots' own times), mallocs,
 * frees, and bytes the scavenger returned per second.  A rate needs two
 * snapshots, so the first screen shows "-".
 *
 * Interactive (a terminal, no -b): plain ANSI with termios, the alternate
 * screen, keys to sort (see KEYS), q to quit; the terminal is restored on
 * exit, on SIGINT, SIGTERM and SIGHUP, and when gomemd goes away (die()
 * runs the atexit handler); ^Z gives it back until the job continues.  A resize redraws at once.
 * Batch (-b, or stdout is not a terminal): plain lines, exact integers, two more columns
 * (TOTALALLOC and the snapshot's time SNAPTIME in seconds) so a script can
 * check the rates, no terminal control.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define TOP_MAX_ROWS 4096 /* processes shown; gomemd watches fewer in practice */

enum col {
	C_PID,
	C_COMM,
	C_HEAPALLOC,
	C_HEAPINUSE,
	C_RELEASED,
	C_RSS,
	C_OBJECTS,
	C_ALLOCRATE,
	C_MALLOCRATE,
	C_FREERATE,
	C_SCAVRATE,
	C_NCOLS
};

/* Column names (also -s's argument, case-insensitive) and sort keys. */
static const struct {
	const char *name;
	char key;
	int width;
} cols[C_NCOLS] = {
    {"PID", 'p', 8},	   {"COMM", 'c', -15}, {"HEAPALLOC", 'h', 10}, {"HEAPINUSE", 'i', 10},
    {"RELEASED", 'e', 10}, {"RSS", 'r', 10},   {"OBJECTS", 'o', 9},    {"ALLOC/s", 'a', 10},
    {"MALLOC/s", 'm', 9},  {"FREE/s", 'f', 9}, {"SCAV/s", 's', 9},
};

#define KEYS                                                                                       \
	"sort: p pid, c comm, h heap, i inuse, e released, r rss, o objects, "                     \
	"a alloc/s, m malloc/s, f free/s, s scav/s; R reverse; space refresh; q quit"

struct row {
	int pid;
	char comm[17];
	int have_snap;
	unsigned long long heap_alloc, heap_inuse, released, rss, objects;
	unsigned long long total_alloc, mallocs, frees, scav, time_ns;
	int have_rate;
	double rate[4]; /* alloc bytes, mallocs, frees, scavenged bytes per second */
};

static struct row *rows, *prev;
static size_t nrows, nprev;
static enum col sort_col = C_HEAPALLOC;
static int sort_reverse;

static volatile sig_atomic_t got_stop, got_winch, got_tstp;
static int tty_on;
static struct termios tty_saved;

/* Put the terminal back: main screen, cursor, line discipline. */
static void tty_restore(void)
{
	static const char out[] = "\033[?25h\033[?1049l";

	if (!tty_on)
		return;
	tty_on = 0;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &tty_saved);
	if (write(STDOUT_FILENO, out, sizeof out - 1) < 0) {
		/* nothing more to do on a closed terminal */
	}
}

static void on_stop(int sig)
{
	(void)sig;
	got_stop = 1;
}

static void on_winch(int sig)
{
	(void)sig;
	got_winch = 1;
}

static void on_tstp(int sig)
{
	(void)sig;
	got_tstp = 1;
}

/* Raw keys, no echo, the alternate screen, no cursor.  0, or -1 if stdin is no terminal. */
static int tty_setup(void)
{
	static int registered;
	struct termios t;

	if (tcgetattr(STDIN_FILENO, &tty_saved) != 0)
		return -1;
	t = tty_saved;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) != 0)
		return -1;
	tty_on = 1;
	if (!registered)
		atexit(tty_restore);
	registered = 1;
	fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout);
	return 0;
}

static void signals(int interactive)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop; /* no SA_RESTART: poll() returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (interactive) {
		sa.sa_handler = on_winch;
		sigaction(SIGWINCH, &sa, NULL);
		sa.sa_handler = on_tstp;
		sigaction(SIGTSTP, &sa, NULL);
	}
}

/* ^Z: give the terminal back, stop, and take it again when continued. */
static void suspend(void)
{
	struct sigaction sa;

	tty_restore();
	fflush(stdout);
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGTSTP, &sa, NULL);
	raise(SIGTSTP); /* stopped here until SIGCONT */
	sa.sa_handler = on_tstp;
	sigaction(SIGTSTP, &sa, NULL);
	if (tty_setup() != 0)
		got_stop = 1; /* the terminal is gone */
}

static const cJSON *item(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* The previous screen's row of pid, or NULL. */
static const struct row *prev_of(int pid)
{
	size_t i;

	for (i = 0; i < nprev; i++)
		if (prev[i].pid == pid)
			return &prev[i];
	return NULL;
}

/*
 * Rates of r from p, the same process one refresh ago: the counters'
 * deltas over the delta of the snapshots' times.  The same snapshot again
 * (gomemd had no newer one) keeps p's rates; counters that went back (the
 * pid was reused) give none.
 */
static void rates(struct row *r, const struct row *p)
{
	double dt;

	if (p == NULL || !p->have_snap || !r->have_snap)
		return;
	if (r->time_ns == p->time_ns) {
		r->have_rate = p->have_rate;
		memcpy(r->rate, p->rate, sizeof r->rate);
		return;
	}
	if (r->time_ns < p->time_ns || r->total_alloc < p->total_alloc || r->mallocs < p->mallocs ||
	    r->frees < p->frees || r->scav < p->scav)
		return;
	dt = (double)(r->time_ns - p->time_ns) / 1e9;
	r->rate[0] = (double)(r->total_alloc - p->total_alloc) / dt;
	r->rate[1] = (double)(r->mallocs - p->mallocs) / dt;
	r->rate[2] = (double)(r->frees - p->frees) / dt;
	r->rate[3] = (double)(r->scav - p->scav) / dt;
	r->have_rate = 1;
}

/* One GET /memstats into rows (the old rows become prev). */
static void fetch(void)
{
	cJSON *root = get_json("GET", "/memstats"), *p;
	struct row *t = prev;

	prev = rows;
	nprev = nrows;
	rows = t;
	nrows = 0;
	if (rows == NULL)
		rows = calloc(TOP_MAX_ROWS, sizeof(*rows));
	if (rows == NULL)
		die("out of memory");
	cJSON_ArrayForEach(p, item(root, "Processes"))
	{
		const cJSON *ms = item(p, "MemStats"), *ex = item(ms, "Extra"),
			    *comm = item(p, "Comm");
		struct row *r;

		if (nrows == TOP_MAX_ROWS)
			break;
		if (cJSON_IsTrue(item(p, "Exited")))
			continue;
		r = &rows[nrows++];
		memset(r, 0, sizeof *r);
		r->pid = (int)num(item(p, "Pid"));
		snprintf(r->comm, sizeof r->comm, "%s",
			 cJSON_IsString(comm) ? comm->valuestring : "?");
		r->rss = num(item(p, "RSS"));
		if (!cJSON_IsObject(ms))
			continue;
		r->have_snap = 1;
		r->heap_alloc = num(item(ms, "HeapAlloc"));
		r->heap_inuse = num(item(ms, "HeapInuse"));
		r->released = num(item(ms, "HeapReleased"));
		r->objects = num(item(ms, "HeapObjects"));
		r->total_alloc = num(item(ms, "TotalAlloc"));
		r->mallocs = num(item(ms, "Mallocs"));
		r->frees = num(item(ms, "Frees"));
		r->scav = num(item(ex, "ScavengeReleasedTotal"));
		r->time_ns = num(item(ex, "TimeNs"));
		rates(r, prev_of(r->pid));
	}
	cJSON_Delete(root);
}

/* A row's value in column c, for sorting (rates unknown sort lowest). */
static double value(const struct row *r, enum col c)
{
	switch (c) {
	case C_PID:
		return r->pid;
	case C_HEAPALLOC:
		return (double)r->heap_alloc;
	case C_HEAPINUSE:
		return (double)r->heap_inuse;
	case C_RELEASED:
		return (double)r->released;
	case C_RSS:
		return (double)r->rss;
	case C_OBJECTS:
		return (double)r->objects;
	case C_ALLOCRATE:
		return r->have_rate ? r->rate[0] : -1;
	case C_MALLOCRATE:
		return r->have_rate ? r->rate[1] : -1;
	case C_FREERATE:
		return r->have_rate ? r->rate[2] : -1;
	case C_SCAVRATE:
		return r->have_rate ? r->rate[3] : -1;
	default:
		return 0;
	}
}

/* Biggest first (names: a to z; pid: smallest first), then by pid; R reverses. */
static int cmp_rows(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c;

	if (sort_col == C_COMM)
		c = strcmp(x->comm, y->comm);
	else if (sort_col == C_PID)
		c = 0;
	else {
		double u = value(x, sort_col), v = value(y, sort_col);

		c = u < v ? 1 : u > v ? -1 : 0;
	}
	if (c == 0)
		c = x->pid < y->pid ? -1 : x->pid > y->pid;
	return sort_reverse ? -c : c;
}

/* A count or byte value for the screen: exact in batch mode, short otherwise. */
static const char *fmt_val(double v, int bytes, int batch, char *buf, size_t len)
{
	if (batch)
		snprintf(buf, len, "%.0f", v);
	else if (bytes)
		human((unsigned long long)v, buf, len);
	else if (v >= 1e9)
		snprintf(buf, len, "%.2fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, len, "%.2fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
	return buf;
}

/* Append to line (of at most width visible bytes). */
static void put(char *line, size_t cap, size_t width, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put(char *line, size_t cap, size_t width, const char *fmt, ...)
{
	size_t n = strlen(line), limit = width + 1 < cap ? width + 1 : cap;
	va_list ap;

	if (n + 1 >= limit)
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, limit - n, fmt, ap); /* cut at the terminal's width */
	va_end(ap);
}

/* Draw one screen (interactive: width x height of the terminal) or one batch block. */
static void draw(int batch, unsigned iter)
{
	char line[1024], v[32];
	size_t width = sizeof line - 1, height = (size_t)-1, i, shown;
	unsigned long long heap = 0, rss = 0;
	double arate = 0;
	time_t now = time(NULL);
	struct tm tm;
	int c;

	if (!batch) {
		struct winsize ws;

		if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
			width = ws.ws_col < sizeof line - 1 ? ws.ws_col : sizeof line - 1;
			height = ws.ws_row;
		}
		fputs("\033[H", stdout);
	}
	qsort(rows, nrows, sizeof(*rows), cmp_rows);
	for (i = 0; i < nrows; i++) {
		heap += rows[i].heap_alloc;
		rss += rows[i].rss;
		arate += rows[i].have_rate ? rows[i].rate[0] : 0;
	}
	localtime_r(&now, &tm);
	line[0] = '\0';
	put(line, sizeof line, width, "gomem top - %02d:%02d:%02d  %zu processes  heap %s",
	    tm.tm_hour, tm.tm_min, tm.tm_sec, nrows, human(heap, v, sizeof v));
	put(line, sizeof line, width, "  rss %s", human(rss, v, sizeof v));
	put(line, sizeof line, width, "  alloc %s/s  sorted by %s%s",
	    human((unsigned long long)arate, v, sizeof v), cols[sort_col].name,
	    sort_reverse ? " (reversed)" : "");
	if (batch)
		printf("%s  iteration %u\n", line, iter);
	else
		printf("%s\033[K\n", line);
	if (!batch) {
		line[0] = '\0';
		put(line, sizeof line, width, "%s", KEYS);
		printf("\033[2m%s\033[0m\033[K\n", line);
	}
	line[0] = '\0';
	for (c = 0; c < C_NCOLS; c++)
		put(line, sizeof line, width, "%*s ", cols[c].width, cols[c].name);
	if (batch)
		put(line, sizeof line, width, "%14s %20s", "TOTALALLOC", "SNAPTIME");
	printf(batch ? "%s\n" : "\033[7m%s\033[K\033[0m\n", line);
	shown = batch ? nrows : (height > 4 ? height - 4 : 0);
	for (i = 0; i < nrows && i < shown; i++) {
		const struct row *r = &rows[i];

		line[0] = '\0';
		put(line, sizeof line, width, "%8d %-15.15s ", r->pid, r->comm);
		if (!r->have_snap) {
			put(line, sizeof line, width, "(no snapshot yet)");
		} else {
			double vals[] = {(double)r->heap_alloc, (double)r->heap_inuse,
					 (double)r->released, (double)r->rss, (double)r->objects};

			for (c = C_HEAPALLOC; c <= C_OBJECTS; c++)
				put(line, sizeof line, width, "%*s ", cols[c].width,
				    fmt_val(vals[c - C_HEAPALLOC], c != C_OBJECTS, batch, v,
					    sizeof v));
			for (c = C_ALLOCRATE; c <= C_SCAVRATE; c++)
				put(line, sizeof line, width, "%*s ", cols[c].width,
				    r->have_rate ? fmt_val(r->rate[c - C_ALLOCRATE],
							   c == C_ALLOCRATE || c == C_SCAVRATE,
							   batch, v, sizeof v)
						 : "-");
			if (batch)
				put(line, sizeof line, width, "%14llu %10llu.%09llu",
				    r->total_alloc, r->time_ns / 1000000000ull,
				    r->time_ns % 1000000000ull);
		}
		printf(batch ? "%s\n" : "%s\033[K\n", line);
	}
	if (batch)
		putchar('\n');
	else
		fputs("\033[J", stdout);
	fflush(stdout);
}

/* The column named s (case-insensitive, "/s" optional), or -1. */
static int col_named(const char *s)
{
	char a[16];
	int c;

	for (c = 0; c < C_NCOLS; c++) {
		size_t n = strcspn(cols[c].name, "/");

		snprintf(a, sizeof a, "%.*s", (int)n, cols[c].name);
		if (strcasecmp(s, cols[c].name) == 0 || strcasecmp(s, a) == 0)
			return c;
	}
	return -1;
}

/* A key from the user; 1 to quit. */
static int key(int ch)
{
	int c;

	if (ch == 'q' || ch == 'Q' || ch == 3 /* ^C */)
		return 1;
	if (ch == 'R') {
		sort_reverse = !sort_reverse;
		return 0;
	}
	for (c = 0; c < C_NCOLS; c++)
		if (cols[c].key == ch)
			sort_col = (enum col)c;
	return 0;
}

static void __attribute__((noreturn)) top_usage(void)
{
	fprintf(stderr, "usage: gomem top [-b] [-d SECONDS] [-n ITERATIONS] [-s COLUMN] "
			"[--server ADDR:PORT]\n"
			"columns for -s: pid comm heapalloc heapinuse released rss objects "
			"alloc malloc free scav\n");
	exit(2);
}

int cmd_top(int argc, char **argv)
{
	double delay = 2;
	unsigned long iters = 0, it;
	int batch = 0, i;
	char *end;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-b") == 0) {
			batch = 1;
		} else if (strcmp(a, "-d") == 0 && i + 1 < argc) {
			delay = strtod(argv[++i], &end);
			if (*end != '\0' || end == argv[i] || !(delay >= 0.1 && delay <= 86400))
				die("-d %s: want seconds from 0.1 to 86400", argv[i]);
		} else if (strcmp(a, "-n") == 0 && i + 1 < argc) {
			iters = strtoul(argv[++i], &end, 10);
			if (*end != '\0' || argv[i][0] < '0' || argv[i][0] > '9' || iters == 0)
				die("-n %s: want a count of at least 1", argv[i]);
		} else if (strcmp(a, "-s") == 0 && i + 1 < argc) {
			int c = col_named(argv[++i]);

			if (c < 0)
				die("-s %s: no such column", argv[i]);
			sort_col = (enum col)c;
		} else if (strcmp(a, "--server") == 0 && i + 1 < argc) {
			server = argv[++i];
		} else if (strncmp(a, "--server=", 9) == 0) {
			server = a + 9;
		} else {
			top_usage();
		}
	}
	if (!batch && (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)))
		batch = 1; /* like top: no terminal, plain lines */
	fetch(); /* before touching the terminal: an unreachable server is a plain error */
	if (!batch && tty_setup() != 0)
		batch = 1;
	signals(!batch);
	for (it = 1;; it++) {
		struct timespec t0, t1;
		int wait_ms;

		draw(batch, (unsigned)it);
		if (iters != 0 && it >= iters)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (;;) {
			struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
			long spent;

			if (got_stop)
				goto out;
			if (got_tstp) {
				got_tstp = 0;
				suspend();
				got_winch = 1; /* the screen is the shell's now: draw it all */
			}
			if (got_winch) {
				got_winch = 0;
				draw(batch, (unsigned)it);
			}
			clock_gettime(CLOCK_MONOTONIC, &t1);
			spent =
			    (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
			wait_ms = (int)(delay * 1000) - (int)spent;
			if (wait_ms <= 0)
				break;
			if (batch) {
				struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};

				nanosleep(&ts, NULL); /* EINTR: look at the flags again */
				continue;
			}
			if (poll(&pfd, 1, wait_ms) > 0) {
				char ch;

				if (read(STDIN_FILENO, &ch, 1) == 1) {
					if (key(ch))
						goto out;
					if (ch == ' ')
						break;
					draw(batch, (unsigned)it); /* a new sort at once */
				}
			}
		}
		fetch();
	}
out:
	tty_restore();
	return 0;
}
