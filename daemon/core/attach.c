/*
 * attach.c: loading the BPF programs and attaching them.
 *
 * Each library in the configuration gets the six USDT programs attached for
 * all processes (pid -1): the uprobes live on the file's inode, so processes
 * that map it later are covered at once and the kernel raises the probe
 * semaphores in processes already running.  A process that loaded libgomem
 * from another path (or linked it statically) gets its own per-pid links
 * (attach_pid).  Detaching a pid that the global links cover cannot remove
 * the uprobe from that one process, so the pid is muted in the BPF "watched"
 * map instead and its records are dropped in the kernel.
 *
 * libbpf's USDT manager is not thread-safe, so every attach and detach, of
 * libraries (main thread) and of pids (HTTP threads too), holds pid_lock,
 * which also guards libs[], pids[] and the profile switch.  The skeleton
 * pointer is written only before the HTTP server starts and after it stops.
 * Nothing here knows the process table: watch/ decides what to attach.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/perf_event.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gelf.h>
#include <libelf.h>

#include "gomem.skel.h"
#include "gomem.h"

#include "base/log.h"
#include "base/procfs.h"
#include "base/xmalloc.h"
#include "core/attach.h"
#include "core/conf.h"
#include "base/safefile.h"

#define NPROBES 7

/*
 * Files attached through a process's mapping (attach_mapped: any user may
 * ask, for a process of theirs) have a budget of their own beside the
 * configured libraries', so no user fills the table: at most
 * ATTACH_MAPPED_MAX in all and ATTACH_MAPPED_PER_UID for the processes of
 * one user other than root.  They stay attached while gomemd runs (a
 * process mapping one may not be watched yet: nothing says when the last
 * one is gone), so a user's share is spent once.
 */
#define ATTACH_MAPPED_MAX     32
#define ATTACH_MAPPED_PER_UID 4
#define ATTACH_SLOTS	      (GOMEMD_MAX_LIBS + ATTACH_MAPPED_MAX)

struct lib_links {
	char *path; /* configured path; for a mapped inode "PATH (deleted)" or PATH */
	int mapped; /* attached through a process's mapping (attach_mapped), not configured */
	uid_t uid;  /* mapped: the owner of the process it was attached for */
	dev_t dev;
	ino_t ino;
	struct bpf_link *links[NPROBES];
};

struct pid_links {
	int pid;
	uint64_t start; /* the process's start time (procfs_start_ticks) */
	char path[PATH_MAX + 64];
	struct bpf_link *links[NPROBES];
};

static const char *const probe_names[NPROBES] = {"init",	  "memstats",	 "scavenge",
						 "arena_grow", "sample_alloc", "sample_free",
						 "exit"};

/* skel, exit_link, exec_link, exit_how: written before the HTTP server starts and after it
 * stops. */
static struct gomem_bpf *skel;
static int attach_profile; /* pid_lock */
static struct bpf_link *exit_link, *exec_link;
static const char *exit_how = "none";
static struct lib_links libs[ATTACH_SLOTS]; /* pid_lock */
static int nlibs;			       /* pid_lock */
static pthread_mutex_t pid_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pid_links *pids; /* pid_lock */
static int npids;	       /* pid_lock */

/* Attach the sampling probes too from now on (heap profiles). */
void attach_set_profile(int on)
{
	pthread_mutex_lock(&pid_lock);
	attach_profile = on;
	pthread_mutex_unlock(&pid_lock);
}

/* Forward libbpf's messages to the log (debug only: its EPERM text misleads). */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char msg[1024];
	size_t n;

	if (!log_is_verbose() || level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(msg, sizeof msg, fmt, ap);
	n = strlen(msg);
	if (n > 0 && msg[n - 1] == '\n')
		msg[n - 1] = '\0';
	log_debug("%s", msg);
	return 0;
}

/* Name the capabilities gomemd lacks to load tracing programs, "" if none. */
static void missing_caps(char *buf, size_t len)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	unsigned long long eff;

	buf[0] = '\0';
	if (syscall(SYS_capget, &hdr, data) != 0)
		return;
	eff = (unsigned long long)data[1].effective << 32 | data[0].effective;
	if (eff & (1ull << CAP_SYS_ADMIN))
		return;
	snprintf(buf, len, "%s%s%s", (eff & (1ull << CAP_BPF)) ? "" : "CAP_BPF",
		 ((eff & (1ull << CAP_BPF)) || (eff & (1ull << CAP_PERFMON))) ? "" : " and ",
		 (eff & (1ull << CAP_PERFMON)) ? "" : "CAP_PERFMON");
}

/*
 * Whether this process may create uprobes: open a uprobe perf event on the
 * first byte of our own executable for ourselves and close it at once (the
 * ELF header is not executed, so nothing fires).  The permission check sits
 * in the uprobe PMU's event_init, before any probe exists: since Linux 6.15
 * it wants CAP_SYS_ADMIN, CAP_PERFMON no longer suffices.  0 if allowed,
 * else -1 with err naming what is missing.
 */
static int uprobe_allowed(char *err, size_t errlen)
{
	struct perf_event_attr attr;
	char buf[32];
	ssize_t n;
	int fd, e, type;

	fd = open("/sys/bus/event_source/devices/uprobe/type", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen,
			 "the kernel has no uprobe PMU "
			 "(/sys/bus/event_source/devices/uprobe/type: %s)",
			 strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0; /* cannot tell: let the attach itself decide */
	buf[n] = '\0';
	type = atoi(buf);
	memset(&attr, 0, sizeof attr);
	attr.size = sizeof attr;
	attr.type = (__u32)type;
	attr.config1 = (__u64)(uintptr_t) "/proc/self/exe"; /* uprobe_path */
	attr.config2 = 0;				    /* probe_offset */
	fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	e = errno;
	if (e != EACCES && e != EPERM)
		return 0; /* not a privilege problem: the attach reports it */
	snprintf(err, errlen,
		 "creating uprobes needs CAP_SYS_ADMIN (CAP_BPF and CAP_PERFMON are not enough "
		 "since Linux 6.15): %s; see gomemd(8), PRIVILEGES",
		 strerror(e));
	return -1;
}

/*
 * Attach one of a tracepoint's two programs: the BTF one (raw tracepoint,
 * no tracefs needed) when it was loaded, else or when it fails the classic
 * one (needs tracefs mounted).  *how says which; NULL when neither.
 */
static struct bpf_link *attach_tracepoint(struct bpf_program *btf, struct bpf_program *classic,
					  const char *name, const char **how)
{
	struct bpf_link *l = NULL;

	*how = "none";
	if (bpf_program__autoload(btf)) {
		l = bpf_program__attach(btf);
		if (l != NULL) {
			*how = "tp_btf";
			return l;
		}
		log_debug("tp_btf/%s: %s", name, strerror(errno));
	}
	if (bpf_program__autoload(classic)) {
		l = bpf_program__attach(classic);
		if (l != NULL) {
			*how = "tracepoint";
			return l;
		}
		log_debug("tracepoint sched/%s: %s", name, strerror(errno));
	}
	return NULL;
}

/*
 * Open and load the BPF programs and attach the exit and exec tracepoints.
 * On failure err says what is missing, in words a user can act on.
 */
int attach_open(char *err, size_t errlen)
{
	const char *exec_how;
	char missing[64];
	int e;

	libbpf_set_print(libbpf_print);
	missing_caps(missing, sizeof missing);

	skel = gomem_bpf__open();
	if (skel == NULL) {
		e = errno;
		snprintf(err, errlen, "opening BPF object: %s", strerror(e));
		return -1;
	}
	/*
	 * A BTF tracepoint does not load on a kernel whose BTF lacks it; the
	 * classic programs load anywhere (only their attach needs tracefs).
	 */
	if (libbpf_find_vmlinux_btf_id("sched_process_exit", BPF_TRACE_RAW_TP) < 0)
		bpf_program__set_autoload(skel->progs.gomem_exit, false);
	if (libbpf_find_vmlinux_btf_id("sched_process_exec", BPF_TRACE_RAW_TP) < 0)
		bpf_program__set_autoload(skel->progs.gomem_exec, false);
	e = gomem_bpf__load(skel);
	if (e != 0) {
		e = -e;
		if (e == EPERM || e == EACCES || missing[0] != '\0') {
			snprintf(
			    err, errlen,
			    "loading BPF programs needs CAP_BPF and CAP_PERFMON (or root)%s%s: %s",
			    missing[0] ? "; missing " : "", missing, strerror(e));
		} else {
			snprintf(err, errlen,
				 "loading BPF programs: %s (needs a kernel with BPF, BTF, "
				 "uprobes and BPF ring buffers; run with -v for details)",
				 strerror(e));
		}
		gomem_bpf__destroy(skel);
		skel = NULL;
		return -1;
	}

	/* step: can we make uprobes at all?  Without, gomemd would watch nothing. */
	if (uprobe_allowed(err, errlen) != 0) {
		gomem_bpf__destroy(skel);
		skel = NULL;
		return -1;
	}

	/* step: exit and exec notification; without them proc.c's /proc sweep still works */
	exit_link = attach_tracepoint(skel->progs.gomem_exit, skel->progs.gomem_exit_tp,
				      "sched_process_exit", &exit_how);
	if (exit_link == NULL)
		log_warnx("cannot attach sched_process_exit, neither as a BTF tracepoint nor "
			  "through tracefs: exits are noticed by /proc polling only, without "
			  "their exit status (run with -v for details)");
	exec_link = attach_tracepoint(skel->progs.gomem_exec, skel->progs.gomem_exec_tp,
				      "sched_process_exec", &exec_how);
	if (exec_link == NULL)
		log_warnx("cannot attach sched_process_exec: an exec in a watched process "
			  "goes unnoticed (run with -v for details)");
	log_debug("exit tracepoint: %s; exec tracepoint: %s", exit_how, exec_how);
	return 0;
}

/* Whether the exit tracepoint is attached. */
int attach_exit_traced(void)
{
	return exit_link != NULL;
}

/* How exits are traced: "tp_btf", "tracepoint" (tracefs) or "none". */
const char *attach_exit_how(void)
{
	return exit_how;
}

/* Attach the seven programs to a binary for pid (-1: all); count the links made (pid_lock held). */
static int attach_probes(struct bpf_link **links, int pid, const char *path)
{
	struct bpf_program *progs[NPROBES] = {
	    skel->progs.gomem_init,	    skel->progs.gomem_memstats,
	    skel->progs.gomem_scavenge,	    skel->progs.gomem_arena_grow,
	    skel->progs.gomem_sample_alloc, skel->progs.gomem_sample_free,
	    skel->progs.gomem_lib_exit};
	int i, n = 0;

	for (i = 0; i < NPROBES; i++) {
		/* The per-sample probes only when asked for (gomemd pulls profiles). */
		if ((i == 4 || i == 5) && !attach_profile) {
			links[i] = NULL;
			continue;
		}
		links[i] =
		    bpf_program__attach_usdt(progs[i], pid, path, "gomem", probe_names[i], NULL);
		if (links[i] == NULL) {
			log_debug("no gomem:%s in %s (pid %d): %s", probe_names[i], path, pid,
				  strerror(errno));
			continue;
		}
		n++;
	}
	if (links[1] == NULL) { /* no memstats probe: useless */
		for (i = 0; i < NPROBES; i++) {
			bpf_link__destroy(links[i]);
			links[i] = NULL;
		}
		return 0;
	}
	return n;
}

/* Destroy a set of links. */
static void destroy_links(struct bpf_link **links)
{
	int i;

	for (i = 0; i < NPROBES; i++) {
		bpf_link__destroy(links[i]);
		links[i] = NULL;
	}
}

/*
 * Make the set of libraries attached for all processes equal to libs[]:
 * detach those no longer listed, attach new ones.  Returns how many are
 * attached afterwards.
 */
/* How many of libs[] are configured (mapped 0), or mapped (1) for uid
 * (any uid when uid is (uid_t)-1); pid_lock held. */
static int count_libs(int mapped, uid_t uid)
{
	int i, n = 0;

	for (i = 0; i < nlibs; i++)
		n += libs[i].mapped == mapped && (uid == (uid_t)-1 || libs[i].uid == uid);
	return n;
}

int attach_libraries(char *const *want, int nwant)
{
	struct lib_links keep[ATTACH_SLOTS];
	int i, j, nkeep = 0;
	struct stat st;

	pthread_mutex_lock(&pid_lock);
	for (i = 0; i < nlibs; i++) {
		for (j = 0; j < nwant; j++)
			if (strcmp(libs[i].path, want[j]) == 0)
				break;
		if (j < nwant || libs[i].mapped) {
			keep[nkeep++] = libs[i];
		} else {
			log_info("detaching from %s", libs[i].path);
			destroy_links(libs[i].links);
			free(libs[i].path);
		}
	}
	memcpy(libs, keep, sizeof(keep[0]) * (size_t)nkeep);
	nlibs = nkeep;

	for (j = 0; j < nwant; j++) {
		struct lib_links *l = &libs[nlibs];

		for (i = 0; i < nlibs; i++)
			if (!libs[i].mapped && strcmp(libs[i].path, want[j]) == 0)
				break;
		if (i < nlibs)
			continue;
		/* attach_refresh() may have filled the configured libraries' part */
		if (count_libs(0, (uid_t)-1) == GOMEMD_MAX_LIBS) {
			log_warnx("library %s: too many attached files (at most %d)", want[j],
				  GOMEMD_MAX_LIBS);
			break;
		}
		if (stat(want[j], &st) != 0) {
			log_warn("library %s", want[j]);
			continue;
		}
		memset(l, 0, sizeof *l);
		if (attach_probes(l->links, -1, want[j]) == 0) {
			log_warnx(
			    "library %s: no gomem USDT probes could be attached (run with -v)",
			    want[j]);
			continue;
		}
		l->path = xstrdup(want[j]);
		l->dev = st.st_dev;
		l->ino = st.st_ino;
		nlibs++;
		log_info("attached to %s for all processes", want[j]);
	}
	i = nlibs;
	pthread_mutex_unlock(&pid_lock);
	return i;
}

/*
 * Once a second: a library replaced on disk (package upgrade, make
 * install) has a new inode, and uprobes live on inodes, so processes
 * started from now on would go unseen.  Attach to the new inode too; the
 * old links stay for the processes still mapping the old file.
 */
void attach_refresh(void)
{
	struct stat st;
	int i, j, n;

	pthread_mutex_lock(&pid_lock);
	n = nlibs;
	for (i = 0; i < n && count_libs(0, (uid_t)-1) < GOMEMD_MAX_LIBS; i++) {
		if (libs[i].mapped || stat(libs[i].path, &st) != 0 ||
		    (st.st_dev == libs[i].dev && st.st_ino == libs[i].ino))
			continue;
		for (j = 0; j < nlibs; j++)
			if (libs[j].dev == st.st_dev && libs[j].ino == st.st_ino)
				break;
		if (j < nlibs)
			continue; /* attached already */
		memset(&libs[nlibs], 0, sizeof libs[nlibs]);
		if (attach_probes(libs[nlibs].links, -1, libs[i].path) == 0)
			continue;
		libs[nlibs].path = xstrdup(libs[i].path);
		libs[nlibs].dev = st.st_dev;
		libs[nlibs].ino = st.st_ino;
		nlibs++;
		log_info("%s was replaced on disk: attached to the new file too", libs[i].path);
	}
	pthread_mutex_unlock(&pid_lock);
}

/*
 * libbpf reads every USDT note of a file, for each of the seven probes,
 * with pid_lock held (the main thread and the attach requests wait): a file
 * the process's owner wrote may carry millions.  A normal libgomem has 8
 * notes, a large program a few thousand (under 1 MiB of them).
 */
#define ATTACH_MAX_NOTE_BYTES (1u << 20)

int attach_check_notes(int fd, char *err, size_t errlen)
{
	uint64_t total = 0;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr sh;
	Elf *e;
	int rc = 0;

	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (e == NULL || elf_kind(e) != ELF_K_ELF || elf_getshdrstrndx(e, &shstrndx) != 0) {
		snprintf(err, errlen, "not an ELF file: %s", elf_errmsg(-1));
		elf_end(e);
		return -1;
	}
	while ((scn = elf_nextscn(e, scn)) != NULL && total <= ATTACH_MAX_NOTE_BYTES) {
		const char *name;

		if (gelf_getshdr(scn, &sh) == NULL)
			continue;
		name = elf_strptr(e, shstrndx, sh.sh_name);
		if (name != NULL && strcmp(name, ".note.stapsdt") == 0)
			total += sh.sh_size;
	}
	if (total > ATTACH_MAX_NOTE_BYTES) {
		snprintf(err, errlen, "over %u bytes of USDT notes (.note.stapsdt): not read",
			 ATTACH_MAX_NOTE_BYTES);
		rc = -1;
	}
	elf_end(e);
	return rc;
}

/* Whether a library with this inode is attached for all processes. */
int attach_is_library(dev_t dev, ino_t ino)
{
	int i, found = 0;

	pthread_mutex_lock(&pid_lock);
	for (i = 0; i < nlibs && !found; i++)
		found = libs[i].dev == dev && libs[i].ino == ino;
	pthread_mutex_unlock(&pid_lock);
	return found;
}

/* Set a pid's state in the BPF "watched" map. */
static int watch_set(int pid, unsigned state)
{
	__u32 key = (__u32)pid, val = state;

	return bpf_map__update_elem(skel->maps.watched, &key, sizeof key, &val, sizeof val, 0);
}

/* Watch a pid's exit before its first record arrives. */
int attach_watch(int pid)
{
	return watch_set(pid, GOMEM_WATCH_ON);
}

/* Whether the user detached this pid (DELETE /processes/N). */
int attach_is_muted(int pid)
{
	__u32 key = (__u32)pid, val = 0;

	if (bpf_map__lookup_elem(skel->maps.watched, &key, sizeof key, &val, sizeof val, 0) != 0)
		return 0;
	return val == GOMEM_WATCH_MUTED;
}

/* Let a muted pid's records through again. */
int attach_unmute(int pid)
{
	return watch_set(pid, GOMEM_WATCH_ON);
}

/* Whether path is a configured library (not one attached through a mapping). */
int attach_is_configured(const char *path)
{
	int i, yes = 0;

	pthread_mutex_lock(&pid_lock);
	for (i = 0; i < nlibs; i++)
		if (!libs[i].mapped && strcmp(libs[i].path, path) == 0)
			yes = 1;
	pthread_mutex_unlock(&pid_lock);
	return yes;
}

/*
 * Attach the probes for all processes to the file that maps line m of
 * process pid names: a libgomem copy at another path, or a configured
 * library deleted (replaced) since the process mapped it.  The file is
 * opened by base/safefile.c, which never blocks or follows a link and
 * checks device and inode, before pid_lock is taken; libbpf then reads it
 * through /proc/self/fd.  Uprobes live on the inode, so every process
 * mapping this very file is covered.  0 (also when attached already) or -1
 * with err.
 */
int attach_mapped(int pid, const struct safefile_map *m, char *err, size_t errlen)
{
	dev_t dev = makedev(m->dev_major, m->dev_minor);
	char fdpath[64];
	int fd, i, rc = 0;
	uid_t uid;

	if (procfs_owner(pid, &uid) != 0) {
		snprintf(err, errlen, "process %d: no owner to read", pid);
		return -1;
	}
	fd = safefile_open(pid, m, SAFEFILE_ANY, err, errlen);
	if (fd < 0)
		return -1;
	if (attach_check_notes(fd, err, errlen) != 0) {
		char why[256];

		snprintf(why, sizeof why, "%s", err);
		snprintf(err, errlen, "%s: %s", m->path, why);
		close(fd);
		return -1;
	}
	snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
	pthread_mutex_lock(&pid_lock);
	for (i = 0; i < nlibs; i++)
		if (libs[i].dev == dev && libs[i].ino == (ino_t)m->inode)
			break;
	if (i < nlibs) {
		/* attached already */
	} else if (count_libs(1, (uid_t)-1) >= ATTACH_MAPPED_MAX) {
		snprintf(err, errlen, "%s: too many files attached through mappings (at most %d)",
			 m->path, ATTACH_MAPPED_MAX);
		rc = -1;
	} else if (uid != 0 && count_libs(1, uid) >= ATTACH_MAPPED_PER_UID) {
		snprintf(err, errlen,
			 "%s: uid %u has %d files attached through mappings already (at most %d "
			 "a user)",
			 m->path, (unsigned)uid, count_libs(1, uid), ATTACH_MAPPED_PER_UID);
		rc = -1;
	} else {
		memset(&libs[nlibs], 0, sizeof libs[nlibs]);
		if (attach_probes(libs[nlibs].links, -1, fdpath) == 0) {
			snprintf(err, errlen, "%s: no gomem USDT probes in it", m->path);
			rc = -1;
		} else {
			xasprintf(&libs[nlibs].path, "%s%s", m->path,
				  m->deleted ? " (deleted)" : "");
			libs[nlibs].mapped = 1;
			libs[nlibs].uid = uid;
			libs[nlibs].dev = dev;
			libs[nlibs].ino = (ino_t)m->inode;
			nlibs++;
			log_info("attached to %s%s (inode %llu, mapped by process %d) for all "
				 "processes",
				 m->path, m->deleted ? " (deleted)" : "",
				 (unsigned long long)m->inode, pid);
		}
	}
	pthread_mutex_unlock(&pid_lock);
	close(fd);
	return rc;
}

/*
 * Give pid its own links to the binary at path (as gomemd opens it; name is
 * what the user sees).  0 when attached now; 1 when it had links already,
 * with their name in had; -1 when path has no gomem probes.
 */
int attach_pid(int pid, const char *path, const char *name, char *had, size_t hadlen)
{
	struct bpf_link *links[NPROBES] = {0};
	uint64_t start = procfs_start_ticks(pid);
	int i;

	pthread_mutex_lock(&pid_lock);
	for (i = 0; i < npids; i++) {
		if (pids[i].pid != pid)
			continue;
		if (pids[i].start == start && start != 0) {
			snprintf(had, hadlen, "%s", pids[i].path);
			pthread_mutex_unlock(&pid_lock);
			return 1;
		}
		/* Made for a process that is gone, whose pid this one reuses. */
		destroy_links(pids[i].links);
		pids[i] = pids[--npids];
		break;
	}
	if (attach_probes(links, pid, path) == 0) {
		pthread_mutex_unlock(&pid_lock);
		return -1;
	}
	pids = xrealloc(pids, sizeof(*pids) * (size_t)(npids + 1));
	pids[npids].pid = pid;
	pids[npids].start = start;
	snprintf(pids[npids].path, sizeof pids[npids].path, "%s", name);
	memcpy(pids[npids].links, links, sizeof links);
	npids++;
	pthread_mutex_unlock(&pid_lock);
	return 0;
}

/* Destroy pid's own links, if it has any; 1 if it had. */
/* Destroy pid's per-pid links; with only_gone, only if made for a process
 * that is no longer there (not for a new one with the pid).  Whether it
 * had some that were destroyed. */
static int drop_pid_links(int pid, int only_gone)
{
	uint64_t now = only_gone ? procfs_start_ticks(pid) : 0;
	int i, had = 0;

	pthread_mutex_lock(&pid_lock);
	for (i = 0; i < npids; i++) {
		if (pids[i].pid != pid || (only_gone && now != 0 && pids[i].start == now))
			continue;
		destroy_links(pids[i].links);
		pids[i] = pids[--npids];
		had = 1;
		break;
	}
	pthread_mutex_unlock(&pid_lock);
	return had;
}

/*
 * Stop watching a process: destroy its per-pid links if it has any and mute
 * it in BPF (the links for all processes still fire in it).
 */
int attach_detach_pid(int pid)
{
	watch_set(pid, GOMEM_WATCH_MUTED); /* first: destroying links takes a while */
	return drop_pid_links(pid, 0);
}

/*
 * Forget a process that is gone: destroy its per-pid links and its entry in
 * the "watched" map (a reused pid must not inherit a mute).  With
 * only_gone, per-pid links made for a new process that reuses the pid
 * stay (the table's sweep drops an entry some time after its end).
 */
void attach_forget(int pid, int only_gone)
{
	__u32 key = (__u32)pid;

	drop_pid_links(pid, only_gone);
	if (skel != NULL)
		bpf_map__delete_elem(skel->maps.watched, &key, sizeof key, 0);
}

/* The ring buffer map's fd. */
int attach_ringbuf_fd(void)
{
	return bpf_map__fd(skel->maps.events);
}

/* Records dropped for a reason, summed over CPUs. */
uint64_t attach_drops(int reason)
{
	int ncpu = libbpf_num_possible_cpus();
	__u32 key = (__u32)reason;
	uint64_t sum = 0;
	__u64 *vals;
	int i;

	if (skel == NULL || ncpu <= 0)
		return 0;
	vals = xcalloc((size_t)ncpu, sizeof(*vals));
	if (bpf_map__lookup_elem(skel->maps.drops, &key, sizeof key, vals,
				 sizeof(*vals) * (size_t)ncpu, 0) == 0)
		for (i = 0; i < ncpu; i++)
			sum += vals[i];
	free(vals);
	return sum;
}

/*
 * Kernel memory of the BPF maps: the sum of the "memlock:" lines the kernel
 * reports in /proc/self/fdinfo for each map; -1 if not loaded.
 */
long long attach_map_bytes(void)
{
	struct bpf_map *map;
	long long sum = 0;
	char path[64], line[128];
	FILE *f;
	int fd;

	if (skel == NULL || skel->obj == NULL)
		return -1;
	bpf_object__for_each_map(map, skel->obj)
	{
		fd = bpf_map__fd(map);
		if (fd < 0)
			continue;
		snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
		f = fopen(path, "re");
		if (f == NULL)
			continue;
		while (fgets(line, sizeof line, f) != NULL)
			if (strncmp(line, "memlock:", 8) == 0)
				sum += strtoll(line + 8, NULL, 10);
		fclose(f);
	}
	return sum;
}

/* Number of live USDT links (libraries and pids). */
int attach_nlinks(void)
{
	int i, j, n = 0;

	pthread_mutex_lock(&pid_lock); /* libs[] changes on SIGHUP, pids[] on any attach */
	for (i = 0; i < nlibs; i++)
		for (j = 0; j < NPROBES; j++)
			n += libs[i].links[j] != NULL;
	for (i = 0; i < npids; i++)
		for (j = 0; j < NPROBES; j++)
			n += pids[i].links[j] != NULL;
	pthread_mutex_unlock(&pid_lock);
	return n;
}

/*
 * Destroy every link and the BPF object.  One at a time, under pid_lock:
 * destroying a USDT link returns its spec IDs to libbpf's per-object USDT
 * manager (a realloc of man->free_spec_ids), so links destroyed from
 * several threads at once free the same array twice ("double free
 * detected in tcache 2").  The kernel serializes most of the uprobe
 * removal anyway (measured: 53 links take ~7 s either way).
 */
void attach_close(void)
{
	struct bpf_link **all;
	size_t n = 0;
	int i, j;

	pthread_mutex_lock(&pid_lock);
	all = xcalloc((size_t)(nlibs + npids) * NPROBES + 2, sizeof(*all));
	for (i = 0; i < nlibs; i++) {
		for (j = 0; j < NPROBES; j++)
			if (libs[i].links[j] != NULL)
				all[n++] = libs[i].links[j];
		free(libs[i].path);
	}
	nlibs = 0;
	for (i = 0; i < npids; i++)
		for (j = 0; j < NPROBES; j++)
			if (pids[i].links[j] != NULL)
				all[n++] = pids[i].links[j];
	free(pids);
	pids = NULL;
	npids = 0;
	if (exit_link != NULL)
		all[n++] = exit_link;
	if (exec_link != NULL)
		all[n++] = exec_link;
	exit_link = exec_link = NULL;
	exit_how = "none";
	for (i = 0; i < (int)n; i++)
		bpf_link__destroy(all[i]);
	pthread_mutex_unlock(&pid_lock);
	free(all);
	gomem_bpf__destroy(skel);
	skel = NULL;
}
