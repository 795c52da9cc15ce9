/*
 * statedir.c: ended processes' last profile and MemStats on disk (see
 * statedir.h).
 */
#include "config.h"

#include "core/statedir.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define STATEDIR_MAX_ENTRIES 100000
#define STATEDIR_INFO_MAX 4096
#define STATEDIR_CMDLINE_MAX 1024

static const char *const entry_files[] = { "info", "heap.pb.gz", "memstats.json", "cmdline",
					   "history.bin" };
#define NFILES (sizeof(entry_files) / sizeof(entry_files[0]))

static int
open_dir(const char *dir)
{
	return open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

void
proc_end_set_status(struct proc_end *e, int status, int oom_known, int oom_killed)
{
	e->have_status = 1;
	e->status = status;
	e->oom_known = oom_known;
	e->oom_killed = oom_known && oom_killed;
	if (WIFSIGNALED(status)) {
		snprintf(e->how, sizeof(e->how), "killed");
		e->code = WTERMSIG(status);
	} else {
		snprintf(e->how, sizeof(e->how), "exited");
		e->code = WEXITSTATUS(status);
	}
}

int
proc_end_exit_code(const struct proc_end *e)
{
	if (e->have_status)
		return WIFEXITED(e->status) ? WEXITSTATUS(e->status) : -1;
	return strcmp(e->how, "exited") == 0 ? e->code : -1;
}

int
proc_end_signal(const struct proc_end *e)
{
	if (e->have_status)
		return WIFSIGNALED(e->status) ? WTERMSIG(e->status) : 0;
	return strcmp(e->how, "killed") == 0 ? e->code : 0;
}

int
proc_end_core_dumped(const struct proc_end *e)
{
	return e->have_status && WIFSIGNALED(e->status) && WCOREDUMP(e->status);
}

int
statedir_init(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create state directory %s: %s", dir, strerror(errno));
		return -1;
	}
	fd = open_dir(dir);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "state directory %s is not a directory (or is a symlink)", dir);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Write len bytes to a new file name in dirfd. */
static int
write_file(int dirfd, const char *name, const void *buf, size_t len)
{
	const char *p = buf;
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return close(fd);
}

/* One line of info: no newlines or control bytes from the process. */
static void
clean(char *dst, size_t dstlen, const char *src)
{
	size_t i;

	for (i = 0; src != NULL && src[i] != 0 && i + 1 < dstlen; i++)
		dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? '?' : src[i];
	dst[i] = 0;
}

/* Remove an entry directory and the files we put in it. */
static void
remove_entry(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	size_t i;

	if (fd >= 0) {
		for (i = 0; i < NFILES; i++)
			unlinkat(fd, entry_files[i], 0);
		close(fd);
	}
	unlinkat(dirfd, name, AT_REMOVEDIR);
}

int
statedir_save(const char *dir, const struct statedir_entry *e, const void *heap, size_t heaplen,
	      const void *memstats, size_t memstatslen, char *err, size_t errlen)
{
	char name[64], tmp[80], info[512], comm[64], how[16], ecomm[16];
	int dirfd, fd, n, rc = -1;

	dirfd = open_dir(dir);
	if (dirfd < 0) {
		snprintf(err, errlen, "cannot open state directory %s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(name, sizeof(name), "%d-%llu", (int)e->pid, (unsigned long long)e->start_ns);
	snprintf(tmp, sizeof(tmp), ".tmp-%s", name);
	remove_entry(dirfd, tmp);
	if (mkdirat(dirfd, tmp, 0700) != 0) {
		snprintf(err, errlen, "cannot create %s/%s: %s", dir, tmp, strerror(errno));
		goto out;
	}
	fd = openat(dirfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		goto fail;
	clean(comm, sizeof(comm), e->comm);
	clean(how, sizeof(how), e->end.how);
	clean(ecomm, sizeof(ecomm), e->end.exec_comm);
	n = snprintf(info, sizeof(info), "pid %d\nstart %llu\nended %llu\ncomm %s\nhow %s\ncode %d\n",
		     (int)e->pid, (unsigned long long)e->start_ns, (unsigned long long)e->ended_ns,
		     comm, how[0] ? how : "unknown", e->end.code);
	if (e->end.have_status)
		n += snprintf(info + n, sizeof(info) - (size_t)n, "status %d\n", e->end.status);
	if (e->end.oom_known)
		n += snprintf(info + n, sizeof(info) - (size_t)n, "oom %d\n", e->end.oom_killed);
	if (ecomm[0] != 0)
		n += snprintf(info + n, sizeof(info) - (size_t)n, "exec_comm %s\n", ecomm);
	if (e->have_uid)
		n += snprintf(info + n, sizeof(info) - (size_t)n, "uid %u\n", (unsigned)e->uid);
	if (write_file(fd, "info", info, (size_t)n) != 0 ||
	    (heap != NULL && write_file(fd, "heap.pb.gz", heap, heaplen) != 0) ||
	    (memstats != NULL && write_file(fd, "memstats.json", memstats, memstatslen) != 0) ||
	    (e->cmdline_len > 0 &&
	     write_file(fd, "cmdline", e->cmdline,
			e->cmdline_len < STATEDIR_CMDLINE_MAX ? e->cmdline_len : STATEDIR_CMDLINE_MAX) !=
		 0) ||
	    (e->history_len > 0 && write_file(fd, "history.bin", e->history, e->history_len) != 0)) {
		close(fd);
		goto fail;
	}
	close(fd);
	/* A previous entry of the same life (saved twice) is replaced. */
	remove_entry(dirfd, name);
	if (renameat(dirfd, tmp, dirfd, name) != 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	snprintf(err, errlen, "cannot save %s/%s: %s", dir, name, strerror(errno));
	remove_entry(dirfd, tmp);
out:
	close(dirfd);
	return rc;
}

/* Read at most maxlen bytes of name in dirfd; -1 when bigger or absent. */
static int
read_file(int dirfd, const char *name, size_t maxlen, void **buf, size_t *len)
{
	struct stat st;
	char *b;
	size_t got = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > maxlen) {
		close(fd);
		return -1;
	}
	b = malloc((size_t)st.st_size + 1);
	if (b == NULL) {
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	b[got] = 0;
	*buf = b;
	*len = got;
	return 0;
}

/* Parse an entry directory's info; 0 when it is one of ours. */
static int
read_entry(int dirfd, const char *name, struct statedir_entry *e)
{
	void *buf;
	size_t len, i;
	char *line, *save = NULL;
	int fd, have = 0;

	memset(e, 0, sizeof(*e));
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (read_file(fd, "info", STATEDIR_INFO_MAX, &buf, &len) != 0) {
		close(fd);
		return -1;
	}
	for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(line, ' ');

		if (v == NULL)
			continue;
		*v++ = 0;
		if (strcmp(line, "pid") == 0)
			e->pid = (pid_t)strtol(v, NULL, 10), have |= 1;
		else if (strcmp(line, "start") == 0)
			e->start_ns = strtoull(v, NULL, 10), have |= 2;
		else if (strcmp(line, "ended") == 0)
			e->ended_ns = strtoull(v, NULL, 10);
		else if (strcmp(line, "comm") == 0)
			clean(e->comm, sizeof(e->comm), v);
		else if (strcmp(line, "how") == 0)
			clean(e->end.how, sizeof(e->end.how), v);
		else if (strcmp(line, "code") == 0)
			e->end.code = (int)strtol(v, NULL, 10);
		else if (strcmp(line, "status") == 0)
			e->end.status = (int)(strtol(v, NULL, 10) & 0xffff), e->end.have_status = 1;
		else if (strcmp(line, "oom") == 0)
			e->end.oom_killed = strtol(v, NULL, 10) != 0, e->end.oom_known = 1;
		else if (strcmp(line, "exec_comm") == 0)
			clean(e->end.exec_comm, sizeof(e->end.exec_comm), v);
		else if (strcmp(line, "uid") == 0)
			e->uid = (uid_t)strtoul(v, NULL, 10), e->have_uid = 1;
	}
	free(buf);
	for (i = 0; i < NFILES; i++) {
		struct stat st;

		if (fstatat(fd, entry_files[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			e->bytes += (uint64_t)st.st_size;
	}
	close(fd);
	return have == 3 && e->pid > 0 ? 0 : -1;
}

static int
cmp_recent(const void *a, const void *b)
{
	const struct statedir_entry *x = a, *y = b;

	if (x->ended_ns != y->ended_ns)
		return x->ended_ns < y->ended_ns ? 1 : -1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

size_t
statedir_list(const char *dir, struct statedir_entry **out)
{
	struct statedir_entry *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *d;
	DIR *dp;
	int fd;

	*out = NULL;
	fd = open_dir(dir);
	if (fd < 0 || (dp = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((d = readdir(dp)) != NULL && n < STATEDIR_MAX_ENTRIES) {
		struct statedir_entry e;
		char name[64];

		if (d->d_name[0] == '.' || read_entry(dirfd(dp), d->d_name, &e) != 0)
			continue;
		/* Only directories named as we name them. */
		snprintf(name, sizeof(name), "%d-%llu", (int)e.pid, (unsigned long long)e.start_ns);
		if (strcmp(name, d->d_name) != 0)
			continue;
		if (n == cap) {
			struct statedir_entry *nv;

			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL)
				break;
			v = nv;
		}
		v[n++] = e;
	}
	closedir(dp);
	qsort(v, n, sizeof(*v), cmp_recent);
	*out = v;
	return n;
}

int
statedir_load(const char *dir, pid_t pid, const char *name, size_t maxlen, void **buf,
	      size_t *len, struct statedir_entry *e)
{
	struct statedir_entry *v;
	size_t n = statedir_list(dir, &v), i;
	char ent[64];
	int dirfd, efd, rc = -1;

	for (i = 0; i < n && v[i].pid != pid; i++)
		;
	if (i == n || (dirfd = open_dir(dir)) < 0) {
		free(v);
		return -1;
	}
	snprintf(ent, sizeof(ent), "%d-%llu", (int)v[i].pid, (unsigned long long)v[i].start_ns);
	efd = openat(dirfd, ent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (efd >= 0) {
		rc = read_file(efd, name, maxlen < STATEDIR_MAX_FILE ? maxlen : STATEDIR_MAX_FILE,
			       buf, len);
		close(efd);
	}
	if (rc == 0 && e != NULL)
		*e = v[i];
	close(dirfd);
	free(v);
	return rc;
}

/* Whose an entry is, for sharing the count limit ((uid_t)-1: not recorded). */
static uid_t
entry_owner(const struct statedir_entry *e)
{
	return e->have_uid ? e->uid : (uid_t)-1;
}

struct owner {
	uid_t uid;
	size_t count;  /* its entries kept so far */
	size_t oldest; /* index of its oldest kept entry */
};

/*
 * Over the count limit, the owner with the most entries gives up its
 * oldest, one at a time: a user whose short-lived processes end by the
 * hundred cannot push every other user's records out (oldest first over
 * all entries would let it).  Between owners with as many, the older entry
 * goes.  drop[] marks what goes; v is most recent first.
 */
static void
prune_count(const struct statedir_entry *v, size_t n, bool *drop, size_t kept, size_t max_count)
{
	struct owner *o = calloc(n ? n : 1, sizeof(*o));
	size_t no = 0, i, k, best;

	if (o == NULL) {
		for (i = n; kept > max_count && i-- > 0;)
			if (!drop[i])
				drop[i] = true, kept--;
		return;
	}
	for (i = n; i-- > 0;) { /* oldest first: the first seen of an owner is its oldest */
		if (drop[i])
			continue;
		for (k = 0; k < no && o[k].uid != entry_owner(&v[i]); k++)
			;
		if (k == no)
			o[no++] = (struct owner){entry_owner(&v[i]), 0, i};
		o[k].count++;
	}
	while (kept > max_count) {
		for (best = 0, k = 1; k < no; k++)
			if (o[k].count > o[best].count ||
			    (o[k].count == o[best].count && o[k].oldest > o[best].oldest))
				best = k;
		drop[o[best].oldest] = true;
		kept--;
		if (--o[best].count == 0)
			continue;
		for (i = o[best].oldest; i-- > 0;)
			if (!drop[i] && entry_owner(&v[i]) == o[best].uid)
				break;
		o[best].oldest = i;
	}
	free(o);
}

void
statedir_prune(const char *dir, const struct statedir_limits *lim, uint64_t now_ns)
{
	struct statedir_entry *v;
	size_t n = statedir_list(dir, &v), i, kept = 0;
	uint64_t bytes = 0;
	int dirfd = open_dir(dir);
	bool *drop = calloc(n ? n : 1, sizeof(*drop));

	if (dirfd < 0 || drop == NULL)
		goto out;
	/* Age and size: the oldest go. */
	for (i = 0; i < n; i++) {
		bool old = lim->max_age_s != 0 && now_ns > v[i].ended_ns &&
			   (now_ns - v[i].ended_ns) / 1000000000u > lim->max_age_s;

		bytes += v[i].bytes;
		drop[i] = old || (lim->max_bytes != 0 && bytes > lim->max_bytes);
		kept += !drop[i];
	}
	if (lim->max_count != 0 && kept > lim->max_count)
		prune_count(v, n, drop, kept, lim->max_count);
	for (i = 0; i < n; i++) {
		char name[64];

		if (!drop[i])
			continue;
		snprintf(name, sizeof(name), "%d-%llu", (int)v[i].pid, (unsigned long long)v[i].start_ns);
		remove_entry(dirfd, name);
	}
out:
	if (dirfd >= 0)
		close(dirfd);
	free(drop);
	free(v);
}
