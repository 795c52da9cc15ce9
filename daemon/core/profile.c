/*
 * profile.c: the heap profile store (see profile.h).
 *
 * Per watched process: where its table is, the newest copy, up to
 * PROFILE_HIST older copies at least PROFILE_SPACING_NS apart (about three
 * minutes of deltas), and its symboliser.  The pull thread copies each
 * table and symbolises its new addresses without the lock, then swaps
 * the copy in under it.  A reader (an HTTP thread, a save) copies what it
 * needs under the lock (struct psnap: the newest copy, the base of a
 * delta, a reference to the symboliser) and symbolises and encodes
 * outside it, so a first read of a process's debug information stalls no
 * request for another process nor the pull thread (core/dwsym.c has its
 * own locks).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <poll.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "core/dwsym.h"
#include "core/leaks.h"
#include "core/pprofpb.h"
#include "core/proc.h"
#include "core/procprof.h"
#include "core/profile.h"
#include "encode/json.h"

#define PROFILE_HIST 16
#define PROFILE_HIST_BYTES ((size_t)16 << 20) /* of older copies per process */
/* Of every copy over all processes: a host of many large heaps cannot make
 * gomemd grow past this (the oldest copies go first, then new ones wait). */
#define PROFILE_TOTAL_BYTES ((size_t)256 << 20)
#define PROFILE_SPACING_NS (10ull * 1000000000u)
#define PROFILE_MAX_PROCS 4096
#define PROFILE_PRUNE_NS (60ull * 1000000000u)

struct pstate {
	int pid;
	uint64_t start_ns; /* the process's start: a reused pid is another life */
	char comm[16], unit[128];
	uint64_t addr;     /* of its table; 0 until found */
	bool have_cur, exited, saved, lib_exit;
	struct procprof cur;
	struct procprof hist[PROFILE_HIST]; /* oldest first */
	size_t nhist;
	struct dwsym_proc *sym; /* the store's reference */
	uint64_t find_fail_ns; /* last failed search for the table (retry later) */
	struct pstate *next;
};

static pthread_mutex_t profile_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t profile_cond = PTHREAD_COND_INITIALIZER;
static struct pstate *plist;
static struct profile_config pcfg;
static char *state_dir;
static bool running, stopping;

/* Exits waiting for the pull thread (profile_on_lib_exit), oldest first. */
#define PROFILE_MAX_EXITS 64
struct pexit {
	int pid, pidfd; /* pidfd: -1 if pidfd_open failed */
	uint64_t addr;
};
static struct pexit pexits[PROFILE_MAX_EXITS];
static size_t npexits;

static void pexits_run(void);
static pthread_t pthr;
static struct profile_stats pstats;

/* ---- the store ---- */

static struct pstate *
pfind_locked(int pid)
{
	struct pstate *p;

	for (p = plist; p != NULL; p = p->next)
		if (p->pid == pid)
			return p;
	return NULL;
}

static void
pclear(struct pstate *p)
{
	size_t i;

	if (p->have_cur)
		procprof_free(&p->cur);
	for (i = 0; i < p->nhist; i++)
		procprof_free(&p->hist[i]);
	p->nhist = 0;
	p->have_cur = false;
	dwsym_proc_close(p->sym);
	p->sym = NULL;
	p->addr = 0;
}

static void
pfree(struct pstate *p)
{
	pclear(p);
	free(p);
}

/* Drop the oldest copies while they take more than PROFILE_HIST_BYTES. */
static void
phist_trim_locked(struct pstate *p)
{
	size_t total = 0, i;

	for (i = 0; i < p->nhist; i++)
		total += p->hist[i].rawlen + p->hist[i].nbuckets * sizeof(struct procprof_bucket);
	while (p->nhist > 1 && total > PROFILE_HIST_BYTES) {
		total -= p->hist[0].rawlen + p->hist[0].nbuckets * sizeof(struct procprof_bucket);
		procprof_free(&p->hist[0]);
		memmove(&p->hist[0], &p->hist[1], (p->nhist - 1) * sizeof(p->hist[0]));
		p->nhist--;
	}
}

/* Bytes a copy holds. */
static size_t
pcopy_bytes(const struct procprof *c)
{
	return c->rawlen + c->nbuckets * sizeof(struct procprof_bucket);
}

/* Bytes every copy of every process holds (lock held). */
static size_t
ptotal_locked(void)
{
	const struct pstate *p;
	size_t total = 0, i;

	for (p = plist; p != NULL; p = p->next) {
		if (p->have_cur)
			total += pcopy_bytes(&p->cur);
		for (i = 0; i < p->nhist; i++)
			total += pcopy_bytes(&p->hist[i]);
	}
	return total;
}

/* Free the oldest history copy of any process; the bytes freed, 0 if there is none. */
static size_t
pdrop_oldest_locked(void)
{
	struct pstate *p, *old = NULL;
	size_t n;

	for (p = plist; p != NULL; p = p->next)
		if (p->nhist > 0 && (old == NULL || p->hist[0].read_ns < old->hist[0].read_ns))
			old = p;
	if (old == NULL)
		return 0;
	n = pcopy_bytes(&old->hist[0]);
	procprof_free(&old->hist[0]);
	memmove(&old->hist[0], &old->hist[1], (old->nhist - 1) * sizeof(old->hist[0]));
	old->nhist--;
	return n;
}

/* The copy to take a delta from: the newest at least `seconds` old. */
static const struct procprof *
pbase_locked(const struct pstate *p, unsigned seconds)
{
	uint64_t want;
	size_t i;

	if (seconds == 0 || !p->have_cur)
		return NULL;
	want = p->cur.read_ns - (uint64_t)seconds * 1000000000u;
	for (i = p->nhist; i-- > 0;)
		if (p->hist[i].read_ns <= want)
			return &p->hist[i];
	return p->nhist > 0 ? &p->hist[0] : NULL;
}

/* Resolve every address of a copy now, while the process maps its files. */
static void
presolve(struct dwsym_proc *sym, const struct procprof *c)
{
	size_t i;
	unsigned j;

	if (sym == NULL)
		return;
	for (i = 0; i < c->nbuckets; i++)
		for (j = 0; j < c->buckets[i].depth; j++)
			(void)dwsym_proc_lookup(sym, c->buckets[i].pcs[j], true);
}

/*
 * What a reader needs of a process, copied under the lock so it can
 * symbolise and encode without it.
 */
struct psnap {
	int pid;
	char comm[16], unit[128];
	struct procprof cur, base;
	bool have_base;
	struct dwsym_proc *sym; /* a reference, or NULL */
};

/* Copy p's newest copy (and the base `seconds` back when not 0); lock held. */
static void
psnap_take_locked(const struct pstate *p, unsigned seconds, struct psnap *s)
{
	const struct procprof *base = pbase_locked(p, seconds);

	memset(s, 0, sizeof *s);
	s->pid = p->pid;
	memcpy(s->comm, p->comm, sizeof s->comm);
	memcpy(s->unit, p->unit, sizeof s->unit);
	procprof_dup(&p->cur, &s->cur);
	if (base != NULL) {
		procprof_dup(base, &s->base);
		s->have_base = true;
	}
	s->sym = dwsym_proc_hold(p->sym);
}

static void
psnap_free(struct psnap *s)
{
	procprof_free(&s->cur);
	if (s->have_base)
		procprof_free(&s->base);
	dwsym_proc_close(s->sym);
	s->sym = NULL;
}

/* Copy pid's table (at addr_hint when not 0) and swap it in. */
static void
pull(int pid, uint64_t addr_hint)
{
	struct procprof copy;
	struct dwsym_proc *sym = NULL;
	struct pstate *p;
	uint64_t addr, now = now_mono_ns();
	size_t total, freed;
	char err[256];

	pthread_mutex_lock(&profile_lock);
	p = pfind_locked(pid);
	if (p == NULL || p->exited ||
	    (addr_hint == 0 && p->addr == 0 && p->find_fail_ns != 0 &&
	     now - p->find_fail_ns < 10 * PROFILE_SPACING_NS)) {
		pthread_mutex_unlock(&profile_lock);
		return;
	}
	addr = addr_hint != 0 ? addr_hint : p->addr;
	sym = dwsym_proc_hold(p->sym);
	pthread_mutex_unlock(&profile_lock);

	if (addr == 0 && procprof_find(pid, &addr, err, sizeof err) != 0) {
		log_debug("process %d: no heap profile: %s", pid, err);
		pthread_mutex_lock(&profile_lock);
		if ((p = pfind_locked(pid)) != NULL)
			p->find_fail_ns = now;
		pstats.pull_errors++;
		pthread_mutex_unlock(&profile_lock);
		dwsym_proc_close(sym);
		return;
	}
	if (procprof_read(pid, addr, NULL, &copy, err, sizeof err) != 0) {
		log_debug("process %d: reading its heap profile: %s", pid, err);
		pthread_mutex_lock(&profile_lock);
		if ((p = pfind_locked(pid)) != NULL)
			p->addr = 0; /* look again: it may have exec'd */
		pstats.pull_errors++;
		pthread_mutex_unlock(&profile_lock);
		dwsym_proc_close(sym);
		return;
	}
	if (sym == NULL && (sym = dwsym_proc_open(pid, err, sizeof err)) == NULL)
		log_debug("process %d: no symbols: %s", pid, err);
	presolve(sym, &copy);

	pthread_mutex_lock(&profile_lock);
	pstats.pulls++;
	p = pfind_locked(pid);
	if (p == NULL || p->exited) {
		procprof_free(&copy);
		dwsym_proc_close(sym);
		pthread_mutex_unlock(&profile_lock);
		return;
	}
	if (p->sym == NULL)
		p->sym = dwsym_proc_hold(sym);
	p->addr = addr;
	/* The cap over all processes: drop the oldest history first. */
	total = ptotal_locked() + pcopy_bytes(&copy);
	while (total > PROFILE_TOTAL_BYTES && (freed = pdrop_oldest_locked()) != 0)
		total -= freed;
	if (total > PROFILE_TOTAL_BYTES) {
		pstats.dropped_cap++;
		procprof_free(&copy);
		pthread_mutex_unlock(&profile_lock);
		dwsym_proc_close(sym);
		return;
	}
	if (p->have_cur) {
		if (p->nhist == 0 ||
		    p->cur.read_ns - p->hist[p->nhist - 1].read_ns >= PROFILE_SPACING_NS) {
			if (p->nhist == PROFILE_HIST) {
				procprof_free(&p->hist[0]);
				memmove(&p->hist[0], &p->hist[1], (PROFILE_HIST - 1) * sizeof(p->hist[0]));
				p->nhist--;
			}
			p->hist[p->nhist++] = p->cur;
			phist_trim_locked(p);
		} else {
			procprof_free(&p->cur);
		}
	}
	p->cur = copy;
	p->have_cur = true;
	pthread_mutex_unlock(&profile_lock);
	dwsym_proc_close(sym);
}

/* Encode a snapshot (a delta when it has a base) into a builder. */
static void
padd(struct pprof_builder *b, const struct psnap *s, bool labels)
{
	char pidstr[16];
	struct pprof_label l[3] = { { "pid", pidstr, 0 }, { "comm", s->comm, 0 },
				    { "unit", s->unit, 0 } };
	size_t nl = labels ? (s->unit[0] ? 3 : 2) : 0;

	snprintf(pidstr, sizeof pidstr, "%d", s->pid);
	pprof_builder_add(b, &s->cur, s->have_base ? &s->base : NULL, s->sym, l, nl);
}

/* The MemStats JSON of pid from the process table, or NULL. */
/* ... as /memstats?pid=N has it (Go's fields, ours in "Extra"); *info: the rest. */
static char *
memstats_json(int pid, size_t *len, struct proc_info *info)
{
	struct gomem_memstats snap;
	struct obuf b;
	struct json j;

	*len = 0;
	memset(info, 0, sizeof(*info));
	if (proc_copy(pid, info, &snap) < 0 || !info->have_snap)
		return NULL;
	obuf_init(&b, 8192);
	json_init(&j, &b);
	json_memstats_go(&j, &snap, 1); /* opens the object */
	json_key(&j, "Extra");
	json_object(&j);
	json_memstats_extra(&j, &snap);
	json_end(&j);
	json_end(&j);
	return obuf_take(&b, len);
}

/* Write p's last profile and MemStats to the state directory. */
static void
psave(int pid)
{
	struct statedir_entry e;
	struct proc_info *info;
	unsigned char *pb = NULL;
	size_t pblen = 0, mslen = 0, histlen = 0;
	void *hist;
	struct pprof_builder *b;
	struct pstate *p;
	struct psnap snap;
	char *ms, err[256];
	bool have_heap;
	int rc;

	if (state_dir == NULL)
		return;
	info = xcalloc(1, sizeof(*info));
	ms = memstats_json(pid, &mslen, info);
	hist = proc_history_pack(pid, &histlen);
	pthread_mutex_lock(&profile_lock);
	p = pfind_locked(pid);
	/* Without a profile (profiles off, or it ended before the first pull)
	   the record keeps its MemStats, history and how it ended. */
	if (p == NULL || p->saved || (!p->have_cur && ms == NULL)) {
		pthread_mutex_unlock(&profile_lock);
		free(ms);
		free(info);
		free(hist);
		return;
	}
	p->saved = true;
	have_heap = p->have_cur;
	if (have_heap)
		psnap_take_locked(p, 0, &snap);
	memset(&e, 0, sizeof e);
	e.pid = pid;
	e.start_ns = p->start_ns;
	e.ended_ns = now_real_ns();
	snprintf(e.comm, sizeof e.comm, "%s", p->comm);
	/* How it ended, from the kernel (proc.c); without that, whether it ran
	   its exit handlers (the library's gomem:exit) or vanished. */
	e.end = info->end;
	e.cmdline = info->cmdline;
	e.cmdline_len = info->cmdline_len;
	e.uid = info->uid;
	e.have_uid = info->have_uid;
	e.history = hist;
	e.history_len = histlen;
	if (e.end.how[0] == 0 || (strcmp(e.end.how, "vanished") == 0 && p->lib_exit))
		snprintf(e.end.how, sizeof e.end.how, "%s", p->lib_exit ? "exited" : "vanished");
	pthread_mutex_unlock(&profile_lock);
	rc = 0;
	if (have_heap) {
		b = pprof_builder_new();
		padd(b, &snap, false);
		rc = pprof_builder_finish(b, &pb, &pblen);
		pprof_builder_free(b);
		psnap_free(&snap);
	}
	if (rc == 0 && statedir_save(state_dir, &e, pb, pblen, ms, mslen, err, sizeof err) == 0) {
		log_info("process %d (%s) ended: its %s kept in %s", pid, e.comm,
			 have_heap ? "heap profile and MemStats are" : "MemStats are (no heap profile)",
			 state_dir);
		pthread_mutex_lock(&profile_lock);
		pstats.saved++;
		pthread_mutex_unlock(&profile_lock);
	} else {
		log_warnx("process %d: cannot keep its heap profile: %s", pid,
			  rc == 0 ? err : "encoding failed");
		pthread_mutex_lock(&profile_lock);
		pstats.save_errors++;
		pthread_mutex_unlock(&profile_lock);
	}
	free(pb);
	free(ms);
	free(info);
	free(hist);
}

/* ---- the pull thread ---- */

struct live {
	int pid, exited;
	uint64_t start_ns;
	char comm[16], unit[128];
};

struct live_list {
	struct live *v;
	size_t n, cap;
};

static int
collect_live(const struct proc *pr, void *arg)
{
	struct live_list *l = arg;
	struct proc_info info;

	if (l->n == PROFILE_MAX_PROCS)
		return 1;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	proc_info_locked(pr, &info);
	l->v[l->n].pid = info.pid;
	l->v[l->n].exited = info.exited;
	l->v[l->n].start_ns = info.start_time_ns;
	memcpy(l->v[l->n].comm, info.comm, sizeof info.comm);
	snprintf(l->v[l->n].unit, sizeof l->v[l->n].unit, "%s", info.unit);
	l->n++;
	return 0;
}

/* One round: note the table's processes, pull the live, save the ended. */
static void
pround(void)
{
	struct live_list l = { NULL, 0, 0 };
	size_t i;

	proc_rdlock();
	proc_foreach(collect_live, &l);
	proc_unlock();
	for (i = 0; i < l.n; i++) {
		struct pstate *p;
		bool save = false;

		pthread_mutex_lock(&profile_lock);
		p = pfind_locked(l.v[i].pid);
		if (p != NULL && p->start_ns != l.v[i].start_ns && l.v[i].start_ns != 0) {
			pclear(p); /* the pid was reused */
			p->saved = p->exited = false;
			p->start_ns = l.v[i].start_ns;
		}
		if (p == NULL) {
			p = xcalloc(1, sizeof(*p));
			p->pid = l.v[i].pid;
			p->start_ns = l.v[i].start_ns;
			p->next = plist;
			plist = p;
		}
		memcpy(p->comm, l.v[i].comm, sizeof p->comm);
		memcpy(p->unit, l.v[i].unit, sizeof p->unit);
		if (l.v[i].exited && !p->exited) {
			p->exited = true;
			save = !p->saved;
		}
		pthread_mutex_unlock(&profile_lock);
		if (save)
			psave(l.v[i].pid);
		else if (!l.v[i].exited && pcfg.enabled)
			pull(l.v[i].pid, 0);
		pexits_run(); /* an exiting process waits: not behind the whole round */
	}
	free(l.v);
}

static void *
pthread_main(void *arg)
{
	uint64_t last_prune = 0;

	(void)arg;
	pthread_mutex_lock(&profile_lock);
	while (!stopping) {
		struct timespec ts;
		uint64_t now;

		pthread_mutex_unlock(&profile_lock);
		pexits_run();
		pround();
		now = now_mono_ns();
		if (state_dir != NULL && now - last_prune >= PROFILE_PRUNE_NS) {
			statedir_prune(state_dir, &pcfg.limits, now_real_ns());
			last_prune = now;
		}
		pthread_mutex_lock(&profile_lock);
		if (stopping)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += pcfg.interval_ms / 1000;
		ts.tv_nsec += (long)(pcfg.interval_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&profile_cond, &profile_lock, &ts);
	}
	pthread_mutex_unlock(&profile_lock);
	return NULL;
}

void
profile_start(const struct profile_config *cfg)
{
	char err[256];

	pcfg = *cfg;
	if (pcfg.interval_ms < 10)
		pcfg.interval_ms = 1000;
	if (cfg->state_dir != NULL && cfg->state_dir[0] != 0) {
		if (statedir_init(cfg->state_dir, err, sizeof err) == 0)
			state_dir = xstrdup(cfg->state_dir);
		else
			log_warnx("%s: profiles of ended processes will not be kept", err);
	}
	if (!cfg->enabled)
		log_info("heap profiles off (--no-profile)%s",
			 state_dir != NULL ? "; ended processes' MemStats are still kept" : "");
	/* With profiles off the thread only keeps ended processes' records. */
	if (!cfg->enabled && state_dir == NULL)
		return;
	if (pthread_create(&pthr, NULL, pthread_main, NULL) != 0) {
		log_warn("heap profile thread");
		return;
	}
	running = true;
}

void
profile_fini(void)
{
	struct pstate *p;

	if (running) {
		pthread_mutex_lock(&profile_lock);
		stopping = true;
		pthread_cond_signal(&profile_cond);
		pthread_mutex_unlock(&profile_lock);
		pthread_join(pthr, NULL);
		running = false;
	}
	pthread_mutex_lock(&profile_lock);
	while ((p = plist) != NULL) {
		plist = p->next;
		pfree(p);
	}
	while (npexits > 0)
		if (pexits[--npexits].pidfd >= 0)
			close(pexits[npexits].pidfd);
	pthread_mutex_unlock(&profile_lock);
	free(state_dir);
	state_dir = NULL;
}

void
profile_on_exit(int pid)
{
	(void)pid;
	/* The pull thread saves it on its next round; wake it. */
	pthread_mutex_lock(&profile_lock);
	pthread_cond_signal(&profile_cond);
	pthread_mutex_unlock(&profile_lock);
}

void
profile_on_exec(int pid, int has_lib)
{
	struct pstate *p;

	if (!has_lib)
		return; /* it ends: its last copy is saved as it is */
	/* A new image: the old table, copies and symbols describe another program. */
	pthread_mutex_lock(&profile_lock);
	if ((p = pfind_locked(pid)) != NULL) {
		pclear(p);
		p->lib_exit = false;
		p->find_fail_ns = 0;
	}
	pthread_mutex_unlock(&profile_lock);
}

void
profile_sweep(void)
{
	struct live_list s = { NULL, 0, 0 };
	struct pstate **pp, *p;

	proc_rdlock();
	proc_foreach(collect_live, &s);
	proc_unlock();
	pthread_mutex_lock(&profile_lock);
	for (pp = &plist; (p = *pp) != NULL;) {
		size_t i;

		for (i = 0; i < s.n && s.v[i].pid != p->pid; i++)
			;
		if (i < s.n) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		pfree(p);
	}
	pthread_mutex_unlock(&profile_lock);
	free(s.v);
}

/* ---- readers ---- */

/*
 * A request for pid's profile: copy its table now if the process table
 * has it alive (the pull thread may not have met it yet), so the answer
 * is as fresh as Go's heap endpoint's.  addr: where the table is, when the
 * process said so (gomem:exit), else 0.
 */
static void
prefresh_at(int pid, uint64_t addr)
{
	struct proc_info info;
	struct pstate *p;

	if (!running || !pcfg.enabled || proc_copy(pid, &info, NULL) < 0 || info.exited)
		return;
	pthread_mutex_lock(&profile_lock);
	p = pfind_locked(pid);
	if (p == NULL) {
		p = xcalloc(1, sizeof(*p));
		p->pid = pid;
		p->start_ns = info.start_time_ns;
		memcpy(p->comm, info.comm, sizeof p->comm);
		snprintf(p->unit, sizeof p->unit, "%s", info.unit);
		p->next = plist;
		plist = p;
	}
	pthread_mutex_unlock(&profile_lock);
	pull(pid, addr);
}

static void
prefresh(int pid)
{
	prefresh_at(pid, 0);
}

/*
 * gomem:exit: the process waits (up to 250 ms) until we say we have its
 * final table.  The copy is the pull thread's (pexits_run): here, on the
 * collector's thread, which also reads every ring buffer and sweeps, the
 * exit is only queued.  The queue is bounded and holds a pid once: a
 * process that fires the probe in a loop takes one slot and costs one
 * copy at a time.  A pidfd taken now tells, at the acknowledgement, that
 * the pid is still that process: the word is written into no other.
 */
void
profile_on_lib_exit(int pid, uint64_t addr)
{
	bool queued = false;
	int pidfd;
	size_t i;

	if (running) {
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		pthread_mutex_lock(&profile_lock);
		for (i = 0; i < npexits && pexits[i].pid != pid; i++)
			;
		if (i < npexits) { /* already queued: the latest table's address */
			pexits[i].addr = addr;
			queued = true;
		} else if (npexits < PROFILE_MAX_EXITS) {
			pexits[npexits++] = (struct pexit){ pid, pidfd, addr };
			pidfd = -1;
			queued = true;
			pthread_cond_signal(&profile_cond);
		}
		pthread_mutex_unlock(&profile_lock);
		if (pidfd >= 0)
			close(pidfd);
		if (queued)
			return;
		log_debug("process %d: %d exits queued; its table is not copied", pid,
			  PROFILE_MAX_EXITS);
	}
	if (procprof_ack_exit(pid, addr) != 0)
		log_debug("process %d: cannot acknowledge its exit: %s", pid, strerror(errno));
}

/* Copy the queued exits' tables, then acknowledge each (the pull thread). */
static void
pexits_run(void)
{
	struct pstate *p;
	struct pexit e;

	for (;;) {
		pthread_mutex_lock(&profile_lock);
		if (npexits == 0) {
			pthread_mutex_unlock(&profile_lock);
			return;
		}
		e = pexits[0];
		memmove(pexits, pexits + 1, --npexits * sizeof(*pexits));
		pthread_mutex_unlock(&profile_lock);
		prefresh_at(e.pid, e.addr);
		pthread_mutex_lock(&profile_lock);
		if ((p = pfind_locked(e.pid)) != NULL)
			p->lib_exit = true;
		pthread_mutex_unlock(&profile_lock);
		if (e.pidfd >= 0) {
			struct pollfd pf = { e.pidfd, POLLIN, 0 };
			int gone = poll(&pf, 1, 0) != 0; /* readable: it ended */

			close(e.pidfd);
			if (gone)
				continue;
		}
		if (procprof_ack_exit(e.pid, e.addr) != 0)
			log_debug("process %d: cannot acknowledge its exit: %s", e.pid,
				  strerror(errno));
	}
}

int
profile_known(int pid)
{
	struct statedir_entry *v;
	size_t n, i;
	int known;

	pthread_mutex_lock(&profile_lock);
	known = pfind_locked(pid) != NULL && pfind_locked(pid)->have_cur;
	pthread_mutex_unlock(&profile_lock);
	if (known || state_dir == NULL)
		return known;
	n = statedir_list(state_dir, &v);
	for (i = 0; i < n && !known; i++)
		known = v[i].pid == pid;
	free(v);
	return known;
}

static int
pfinish(struct pprof_builder *b, char **out, size_t *outlen)
{
	unsigned char *buf;
	int rc = pprof_builder_finish(b, &buf, outlen);

	pprof_builder_free(b);
	*out = (char *)buf;
	return rc;
}

int
profile_pprof(int pid, unsigned seconds, char **out, size_t *outlen)
{
	struct pprof_builder *b;
	struct pstate *p;
	struct psnap snap;
	void *buf;

	prefresh(pid);
	pthread_mutex_lock(&profile_lock);
	p = pfind_locked(pid);
	if (p != NULL && p->have_cur) {
		psnap_take_locked(p, seconds, &snap);
		pthread_mutex_unlock(&profile_lock);
		b = pprof_builder_new();
		padd(b, &snap, false);
		psnap_free(&snap);
		return pfinish(b, out, outlen);
	}
	pthread_mutex_unlock(&profile_lock);
	if (state_dir != NULL &&
	    statedir_load(state_dir, pid, "heap.pb.gz", STATEDIR_MAX_FILE, &buf, outlen, NULL) == 0) {
		*out = buf;
		return 0;
	}
	return -1;
}

int
profile_pprof_all(unsigned seconds, char **out, size_t *outlen)
{
	struct pprof_builder *b = pprof_builder_new();
	struct pstate *p;
	int *pids = NULL;
	size_t n = 0, cap = 0, i;

	/* One process at a time: a copy of one table at most is held here. */
	pthread_mutex_lock(&profile_lock);
	for (p = plist; p != NULL; p = p->next) {
		if (!p->have_cur || p->exited)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			pids = xrealloc(pids, cap * sizeof(*pids));
		}
		pids[n++] = p->pid;
	}
	pthread_mutex_unlock(&profile_lock);
	for (i = 0; i < n; i++) {
		struct psnap snap;
		bool have;

		pthread_mutex_lock(&profile_lock);
		p = pfind_locked(pids[i]);
		have = p != NULL && p->have_cur && !p->exited;
		if (have)
			psnap_take_locked(p, seconds, &snap);
		pthread_mutex_unlock(&profile_lock);
		if (!have)
			continue;
		padd(b, &snap, true);
		psnap_free(&snap);
	}
	free(pids);
	return pfinish(b, out, outlen);
}

/* Name of a frame: the outermost function inlined at pc, or its address. */
static char *
frame_name(struct dwsym_proc *sym, uint64_t pc, bool skip_wrappers)
{
	const struct dwsym_loc *l = sym != NULL ? dwsym_proc_lookup(sym, pc, true) : NULL;
	char *s;

	if (l != NULL && l->nframes > 0) {
		const char *fn = l->frames[l->nframes - 1].function;

		if (skip_wrappers && pprof_is_wrapper(fn))
			return NULL;
		return xstrdup(fn);
	}
	xasprintf(&s, "0x%llx", (unsigned long long)pc);
	return s;
}

/* Value array of bucket i (alloc_objects, alloc_space, inuse_objects, inuse_space). */
static void
bucket_values(const struct procprof *c, const struct procprof_bucket *bk, int64_t v[4])
{
	double o, b;

	procprof_scale(bk->alloc_objects, bk->alloc_bytes, c->rate, &o, &b);
	v[0] = (int64_t)o;
	v[1] = (int64_t)b;
	procprof_scale(bk->alloc_objects - bk->free_objects, bk->alloc_bytes - bk->free_bytes,
		       c->rate, &o, &b);
	v[2] = (int64_t)o;
	v[3] = (int64_t)b;
}

/* A bucket's counts as sampled, in bucket_values' order (Go's legacy text). */
static void
raw_values(const struct procprof_bucket *bk, int64_t v[4])
{
	v[0] = (int64_t)bk->alloc_objects;
	v[1] = (int64_t)bk->alloc_bytes;
	v[2] = (int64_t)(bk->alloc_objects - bk->free_objects);
	v[3] = (int64_t)(bk->alloc_bytes - bk->free_bytes);
}

static int
cmp_site(const void *a, const void *b)
{
	const struct profile_site *x = a, *y = b;

	if (x->v[3] != y->v[3])
		return x->v[3] < y->v[3] ? 1 : -1;
	return x->v[1] < y->v[1] ? 1 : x->v[1] > y->v[1] ? -1 : 0;
}

/*
 * A site's name hashed with a per-call seed (FNV-1a from the seed): the
 * names come from the watched process's ELF files, and one request may
 * group a million buckets, so a lookup must not be a scan of every site.
 */
static uint64_t
site_hash(const char *fn, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;

	for (; *fn != 0; fn++)
		h = (h ^ (unsigned char)*fn) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

void
profile_top(int pid, size_t want, struct profile_top *out)
{
	struct profile_site *sites = NULL;
	int64_t *best = NULL;
	size_t nsites = 0, i, k, nslot = 16, at, *slot;
	uint64_t seed = now_mono_ns() ^ (uint64_t)(uintptr_t)&nsites;
	struct pstate *p;
	struct psnap snap;

	prefresh(pid);
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&profile_lock);
	p = pfind_locked(pid);
	if (p == NULL || !p->have_cur) {
		pthread_mutex_unlock(&profile_lock);
		return;
	}
	psnap_take_locked(p, 0, &snap);
	pthread_mutex_unlock(&profile_lock);
	out->rate = snap.cur.rate;
	out->samples = snap.cur.samples;
	out->buckets = snap.cur.nbuckets;
	sites = xcalloc(snap.cur.nbuckets + 1, sizeof(*sites));
	best = xcalloc(snap.cur.nbuckets + 1, sizeof(*best));
	while (nslot < 2 * (snap.cur.nbuckets + 1))
		nslot *= 2;
	slot = xcalloc(nslot, sizeof(*slot));
	for (i = 0; i < snap.cur.nbuckets; i++) {
		const struct procprof_bucket *bk = &snap.cur.buckets[i];
		char *fn = NULL;
		int64_t v[4];
		unsigned j;

		out->live_samples += bk->alloc_objects - bk->free_objects;
		bucket_values(&snap.cur, bk, v);
		for (k = 0; k < 4; k++)
			out->total[k] += v[k];
		/* Group by the first frame outside the allocator and its wrappers. */
		for (j = 0; j < bk->depth && fn == NULL; j++)
			fn = frame_name(snap.sym, bk->pcs[j], true);
		if (fn == NULL)
			fn = xstrdup("?");
		at = site_hash(fn, seed) & (nslot - 1);
		while (slot[at] != 0 && strcmp(sites[slot[at] - 1].function, fn) != 0)
			at = (at + 1) & (nslot - 1);
		if (slot[at] == 0) {
			k = nsites;
			sites[nsites++].function = fn;
			slot[at] = nsites;
		} else {
			k = slot[at] - 1;
			free(fn);
		}
		for (j = 0; j < 4; j++)
			sites[k].v[j] += v[j];
		if (v[3] + v[1] > best[k] || sites[k].stack == NULL) {
			size_t d = bk->depth < PROFILE_TOP_DEPTH ? bk->depth : PROFILE_TOP_DEPTH;

			for (j = 0; j < sites[k].nstack; j++)
				free(sites[k].stack[j]);
			free(sites[k].stack);
			sites[k].stack = xcalloc(d + 1, sizeof(char *));
			sites[k].nstack = d;
			for (j = 0; j < d; j++)
				sites[k].stack[j] = frame_name(snap.sym, bk->pcs[j], false);
			best[k] = v[3] + v[1];
		}
	}
	psnap_free(&snap);
	free(best);
	free(slot);
	qsort(sites, nsites, sizeof(*sites), cmp_site);
	for (k = want; k < nsites; k++) {
		free(sites[k].function);
		for (i = 0; i < sites[k].nstack; i++)
			free(sites[k].stack[i]);
		free(sites[k].stack);
	}
	out->sites = sites;
	out->nsites = nsites < want ? nsites : want;
}

void
profile_top_free(struct profile_top *t)
{
	size_t i, j;

	for (i = 0; i < t->nsites; i++) {
		free(t->sites[i].function);
		for (j = 0; j < t->sites[i].nstack; j++)
			free(t->sites[i].stack[j]);
		free(t->sites[i].stack);
	}
	free(t->sites);
	memset(t, 0, sizeof *t);
}

int
profile_text(int pid, struct obuf *b)
{
	struct pstate *p;
	struct psnap snap;
	const struct procprof *c = &snap.cur;
	int64_t tot[4] = { 0, 0, 0, 0 };
	size_t i;

	prefresh(pid);
	pthread_mutex_lock(&profile_lock);
	p = pfind_locked(pid);
	if (p == NULL || !p->have_cur) {
		pthread_mutex_unlock(&profile_lock);
		obuf_adds(b, "heap profile: 0: 0 [0: 0] @ heap/0\n");
		return -1;
	}
	psnap_take_locked(p, 0, &snap);
	pthread_mutex_unlock(&profile_lock);
	for (i = 0; i < c->nbuckets; i++) {
		int64_t v[4];

		raw_values(&c->buckets[i], v);
		for (int k = 0; k < 4; k++)
			tot[k] += v[k];
	}
	/* Go's legacy form: in use, then [allocated], @ heap/2*rate; the
	 * counts as sampled (a reader scales them, as it does Go's). */
	obuf_printf(b, "heap profile: %lld: %lld [%lld: %lld] @ heap/%llu\n", (long long)tot[2],
		    (long long)tot[3], (long long)tot[0], (long long)tot[1],
		    (unsigned long long)c->rate * 2);
	for (i = 0; i < c->nbuckets; i++) {
		const struct procprof_bucket *bk = &c->buckets[i];
		int64_t v[4];
		unsigned j;

		raw_values(bk, v);
		obuf_printf(b, "%lld: %lld [%lld: %lld] @", (long long)v[2], (long long)v[3],
			    (long long)v[0], (long long)v[1]);
		for (j = 0; j < bk->depth; j++)
			obuf_printf(b, " %#llx", (unsigned long long)bk->pcs[j]);
		obuf_addc(b, '\n');
		for (j = 0; j < bk->depth; j++) {
			const struct dwsym_loc *l =
				snap.sym != NULL ? dwsym_proc_lookup(snap.sym, bk->pcs[j], true) : NULL;

			if (l == NULL || l->nframes == 0)
				continue;
			obuf_printf(b, "#\t%#llx\t%s\t%s:%d\n", (unsigned long long)bk->pcs[j],
				    l->frames[l->nframes - 1].function, l->frames[0].file,
				    l->frames[0].line);
		}
		obuf_addc(b, '\n');
	}
	psnap_free(&snap);
	return 0;
}

int
profile_leaks(int pid, unsigned seconds, size_t want, struct json *j)
{
	struct leak_site *v;
	struct pstate *p;
	struct psnap snap;
	uint64_t now = now_real_ns();
	const struct procprof *base, *c = &snap.cur;
	size_t n, i;

	prefresh(pid);
	pthread_mutex_lock(&profile_lock);
	p = pfind_locked(pid);
	if (p == NULL || !p->have_cur) {
		pthread_mutex_unlock(&profile_lock);
		return -1;
	}
	psnap_take_locked(p, seconds, &snap);
	pthread_mutex_unlock(&profile_lock);
	base = snap.have_base ? &snap.base : NULL;
	n = leaks_rank(c, base, want, &v);
	json_object(j);
	json_kv_u64(j, "Pid", (uint64_t)pid);
	json_kv_u64(j, "Rate", c->rate);
	json_kv_u64(j, "WindowSeconds",
		    base != NULL ? (c->read_ns - base->read_ns) / 1000000000u
				 : (c->read_ns - c->start_ns) / 1000000000u);
	json_key(j, "Leaks");
	json_array(j);
	for (i = 0; i < n; i++) {
		const struct procprof_bucket *bk = &c->buckets[v[i].bucket];
		char *fn = NULL;
		unsigned k;

		for (k = 0; k < bk->depth && fn == NULL; k++)
			fn = frame_name(snap.sym, bk->pcs[k], true);
		json_object(j);
		json_kv_str(j, "Function", fn != NULL ? fn : "?");
		free(fn);
		json_kv_u64(j, "GrowthBytes", (uint64_t)v[i].growth_bytes);
		json_kv_u64(j, "GrowthObjects", (uint64_t)v[i].growth_objects);
		json_kv_u64(j, "InuseBytes", (uint64_t)v[i].inuse_bytes);
		json_kv_u64(j, "InuseObjects", (uint64_t)v[i].inuse_objects);
		json_kv_u64(j, "BlockSize", bk->size);
		json_kv_u64(j, "OldestAgeSeconds",
			    v[i].oldest_ns != 0 && now > v[i].oldest_ns
				    ? (now - v[i].oldest_ns) / 1000000000u
				    : 0);
		json_key(j, "Stack");
		json_array(j);
		for (k = 0; k < bk->depth && k < PROFILE_TOP_DEPTH; k++) {
			char *f = frame_name(snap.sym, bk->pcs[k], false);

			json_cstr(j, f);
			free(f);
		}
		json_end(j);
		json_end(j);
	}
	json_end(j);
	json_end(j);
	psnap_free(&snap);
	free(v);
	return 0;
}

void
profile_stats(struct profile_stats *out)
{
	struct dwsym_stats ds;
	struct pstate *p;

	pthread_mutex_lock(&profile_lock);
	*out = pstats;
	out->samples = out->lost = out->truncated = out->buckets = out->processes = 0;
	for (p = plist; p != NULL; p = p->next) {
		if (!p->have_cur)
			continue;
		out->processes++;
		out->samples += p->cur.samples;
		out->lost += p->cur.lost + p->cur.lost_frees;
		out->truncated += p->cur.truncated;
		out->buckets += p->cur.nbuckets;
	}
	out->bytes = ptotal_locked();
	pthread_mutex_unlock(&profile_lock);
	dwsym_stats(&ds);
	out->sym_objects = ds.modules;
	out->sym_loaded = ds.open;
	out->sym_loaded_bytes = ds.open_bytes;
	out->sym_loads = ds.loads;
	out->sym_evictions = ds.evictions;
}

size_t
profile_exited(struct statedir_entry **out)
{
	*out = NULL;
	return state_dir != NULL ? statedir_list(state_dir, out) : 0;
}

int
profile_ended_file(int pid, const char *name, size_t maxlen, void **buf, size_t *len,
		   struct statedir_entry *e)
{
	if (state_dir == NULL)
		return -1;
	return statedir_load(state_dir, pid, name, maxlen, buf, len, e);
}
