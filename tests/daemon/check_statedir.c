/*
 * check_statedir.c: ended processes' profiles and MemStats survive in the
 * state directory, are found again by a fresh reader (a restarted gomemd),
 * are pruned by count (shared fairly between owners), size and age, and nothing planted in the directory is
 * followed or read without bound.
 */
#include <check.h>

#include "../common/suite.h"
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/procfs.h"
#include "core/statedir.h"

static char dir[64];

static void
setup(void)
{
	char err[256];

	snprintf(dir, sizeof(dir), "/tmp/statedir-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_msg(statedir_init(dir, err, sizeof(err)) == 0, "%s", err);
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static void
save(pid_t pid, uint64_t start, uint64_t ended, const char *comm, const char *how, int code,
     size_t heapbytes)
{
	struct statedir_entry e = { .pid = pid, .start_ns = start, .ended_ns = ended, .end.code = code };
	char *heap = malloc(heapbytes + 1), err[256];

	memset(heap, 'h', heapbytes);
	snprintf(e.comm, sizeof(e.comm), "%s", comm);
	snprintf(e.end.how, sizeof(e.end.how), "%s", how);
	ck_assert_msg(statedir_save(dir, &e, heap, heapbytes, "{\"HeapAlloc\":1}", 15, err,
				    sizeof(err)) == 0,
		      "%s", err);
	free(heap);
}

START_TEST(save_list_load)
{
	struct statedir_entry *v, e;
	void *buf;
	size_t n, len;

	save(100, 5, 1000, "first", "exit", 0, 10);
	save(200, 6, 3000, "oomed", "oom", 9, 20);
	save(300, 7, 2000, "bad\ncomm\x01", "signal", 9, 30);
	/* The same life saved twice: one entry, the newer. */
	save(100, 5, 1500, "first", "exit", 3, 11);
	n = statedir_list(dir, &v);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(v[0].pid, 200); /* most recently ended first */
	ck_assert_str_eq(v[0].end.how, "oom");
	ck_assert_int_eq(v[0].end.code, 9);
	ck_assert_int_eq(v[1].pid, 300);
	ck_assert_str_eq(v[1].comm, "bad?comm?"); /* no line breaks from the process */
	ck_assert_int_eq(v[2].pid, 100);
	ck_assert_int_eq(v[2].end.code, 3);
	ck_assert_uint_eq(v[2].bytes, 11 + 15 + strlen("pid 100\nstart 5\nended 1500\ncomm first\nhow exit\ncode 3\n"));
	free(v);
	ck_assert_int_eq(statedir_load(dir, 200, "heap.pb.gz", 1 << 20, &buf, &len, &e), 0);
	ck_assert_uint_eq(len, 20);
	ck_assert_int_eq(memcmp(buf, "hhhhhhhhhhhhhhhhhhhh", 20), 0);
	ck_assert_str_eq(e.comm, "oomed");
	free(buf);
	ck_assert_int_eq(statedir_load(dir, 200, "memstats.json", 1 << 20, &buf, &len, NULL), 0);
	ck_assert_str_eq(buf, "{\"HeapAlloc\":1}");
	free(buf);
	/* Bounded: a file bigger than asked for is refused. */
	ck_assert_int_eq(statedir_load(dir, 200, "heap.pb.gz", 19, &buf, &len, NULL), -1);
	ck_assert_int_eq(statedir_load(dir, 999, "heap.pb.gz", 1 << 20, &buf, &len, NULL), -1);
}
END_TEST

/* wait(2) statuses built as the kernel builds them, independently of <sys/wait.h>. */
#define EXITED(code) (((code) & 0xff) << 8)
#define KILLED(sig, core) ((sig) | ((core) ? 0x80 : 0))

START_TEST(how_it_ended)
{
	static const struct {
		int status, oom;
		const char *how;
		int code, exit_code, sig, core;
	} cases[] = {
		{ EXITED(3), 0, "exited", 3, 3, 0, 0 },
		{ EXITED(0), 0, "exited", 0, 0, 0, 0 },
		{ EXITED(255), 0, "exited", 255, 255, 0, 0 },
		{ KILLED(9, 0), 1, "killed", 9, -1, 9, 0 },
		{ KILLED(11, 1), 0, "killed", 11, -1, 11, 1 },
		{ KILLED(6, 1), 0, "killed", 6, -1, 6, 1 },
	};
	struct statedir_entry *v;
	size_t i, n;
	char err[256];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct statedir_entry e = { .pid = (pid_t)(300 + i), .start_ns = 7, .ended_ns = 100 + i };

		proc_end_set_status(&e.end, cases[i].status, 1, cases[i].oom);
		ck_assert_str_eq(e.end.how, cases[i].how);
		ck_assert_int_eq(e.end.code, cases[i].code);
		ck_assert_int_eq(proc_end_exit_code(&e.end), cases[i].exit_code);
		ck_assert_int_eq(proc_end_signal(&e.end), cases[i].sig);
		ck_assert_int_eq(proc_end_core_dumped(&e.end), cases[i].core);
		snprintf(e.comm, sizeof(e.comm), "c%zu", i);
		ck_assert_msg(statedir_save(dir, &e, NULL, 0, NULL, 0, err, sizeof(err)) == 0, "%s", err);
	}
	/* An exec into an image without libgomem, and a vanished process: no status. */
	{
		struct statedir_entry e = { .pid = 400, .start_ns = 7, .ended_ns = 50 };

		snprintf(e.end.how, sizeof(e.end.how), "exec");
		snprintf(e.end.exec_comm, sizeof(e.end.exec_comm), "sh\nhow x");
		ck_assert_int_eq(statedir_save(dir, &e, NULL, 0, NULL, 0, err, sizeof(err)), 0);
		e.pid = 401;
		snprintf(e.end.how, sizeof(e.end.how), "vanished");
		e.end.exec_comm[0] = 0;
		ck_assert_int_eq(statedir_save(dir, &e, NULL, 0, NULL, 0, err, sizeof(err)), 0);
	}
	/* A fresh reader (a restarted gomemd) finds the same. */
	n = statedir_list(dir, &v);
	ck_assert_uint_eq(n, 8);
	for (i = 0; i < n; i++) {
		const struct statedir_entry *e = &v[i];

		if (e->pid >= 400) {
			ck_assert_int_eq(e->end.have_status, 0);
			ck_assert_int_eq(e->end.oom_known, 0);
			ck_assert_int_eq(proc_end_exit_code(&e->end), -1);
			ck_assert_int_eq(proc_end_signal(&e->end), 0);
			ck_assert_str_eq(e->end.how, e->pid == 400 ? "exec" : "vanished");
			/* the new image's name cannot add a line to info */
			ck_assert_str_eq(e->end.exec_comm, e->pid == 400 ? "sh?how x" : "");
			continue;
		}
		ck_assert_int_eq(e->end.have_status, 1);
		ck_assert_int_eq(e->end.oom_known, 1);
		ck_assert_int_eq(e->end.status, cases[e->pid - 300].status);
		ck_assert_int_eq(e->end.oom_killed, cases[e->pid - 300].oom);
		ck_assert_str_eq(e->end.how, cases[e->pid - 300].how);
		ck_assert_int_eq(proc_end_core_dumped(&e->end), cases[e->pid - 300].core);
	}
	free(v);
}
END_TEST

START_TEST(prune_by_count_size_age)
{
	struct statedir_limits lim = { 0, 0, 0 };
	struct statedir_entry *v;
	size_t n;

	for (int i = 1; i <= 6; i++)
		save(i, (uint64_t)i, (uint64_t)i * 1000000000u, "w", "exit", 0, 1000);
	lim.max_count = 4;
	statedir_prune(dir, &lim, 7000000000u);
	n = statedir_list(dir, &v);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(v[3].pid, 3); /* the oldest two went */
	free(v);
	/* Size: about 1.1 KB each; 2.5 KB keeps the newest two. */
	lim.max_count = 0;
	lim.max_bytes = 2500;
	statedir_prune(dir, &lim, 7000000000u);
	n = statedir_list(dir, &v);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(v[0].pid, 6);
	free(v);
	/* Age: ended 2 s and 1 s before "now" = 7 s; keep 1.5 s. */
	lim.max_bytes = 0;
	lim.max_age_s = 1;
	statedir_prune(dir, &lim, 7000000000u + 500000000u);
	n = statedir_list(dir, &v);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(v[0].pid, 6);
	free(v);
}
END_TEST

/* As save(), with an owner. */
static void
save_owned(pid_t pid, uint64_t ended, uid_t uid)
{
	struct statedir_entry e = { .pid = pid, .start_ns = (uint64_t)pid, .ended_ns = ended,
				    .uid = uid, .have_uid = 1 };
	char err[256];

	snprintf(e.comm, sizeof(e.comm), "u%u", (unsigned)uid);
	snprintf(e.end.how, sizeof(e.end.how), "exited");
	ck_assert_msg(statedir_save(dir, &e, NULL, 0, "{}", 2, err, sizeof(err)) == 0, "%s", err);
}

/* One user's many short-lived processes cannot push another's records out. */
START_TEST(prune_count_shared_by_owners)
{
	struct statedir_limits lim = { 10, 0, 0 };
	struct statedir_entry *v;
	size_t n, i, mine = 0, theirs = 0;

	save_owned(1, 1000, 1000); /* the victim's, oldest of all */
	save_owned(2, 2000, 1000);
	save_owned(3, 3000, 0);
	for (i = 0; i < 30; i++) /* then a flood by uid 65534 */
		save_owned((pid_t)(100 + i), 10000 + i, 65534);
	statedir_prune(dir, &lim, 7000000000u);
	n = statedir_list(dir, &v);
	ck_assert_uint_eq(n, 10);
	for (i = 0; i < n; i++) {
		ck_assert(v[i].have_uid);
		if (v[i].uid == 65534) {
			theirs++;
			ck_assert_int_ge(v[i].pid, 123); /* the flood keeps its newest 7 */
		} else {
			mine++;
		}
	}
	ck_assert_uint_eq(mine, 3);
	ck_assert_uint_eq(theirs, 7);
	free(v);
	/* Down to 4: the flood gives up entries until it has as many as uid
	 * 1000 (2); between the two, the older entry goes: uid 1000's first. */
	lim.max_count = 4;
	statedir_prune(dir, &lim, 7000000000u);
	n = statedir_list(dir, &v);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(v[0].pid, 129);
	ck_assert_int_eq(v[1].pid, 128);
	ck_assert_int_eq(v[2].pid, 3);
	ck_assert_int_eq(v[3].pid, 2);
	free(v);
}
END_TEST

/*
 * A setuid-root program that a user runs has a /proc/PID that is root's
 * (its effective uid): records take the real uid, so that user cannot file
 * records as root's by running such a program many times (and push out
 * root's own by the owners' shares).
 */
START_TEST(owner_is_the_real_uid)
{
	int fds[2];
	pid_t child;
	uid_t owner = 12345, real = 12345;
	char c;

	if (getuid() != 0)
		return; /* needs to become another user */
	ck_assert_int_eq(pipe(fds), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		if (setresuid(65534, 0, 0) != 0) /* as a setuid-root program run by nobody */
			_exit(1);
		(void)write(fds[1], "x", 1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	ck_assert_int_eq(procfs_owner(child, &owner), 0);
	ck_assert_int_eq(procfs_real_uid(child, &real), 0);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(fds[0]);
	ck_assert_uint_eq(owner, 0);
	ck_assert_uint_eq(real, 65534);
	ck_assert_int_eq(procfs_real_uid(getpid(), &real), 0);
	ck_assert_uint_eq(real, getuid());
}
END_TEST

START_TEST(planted_files_are_not_followed)
{
	char path[256], err[256];
	struct statedir_entry *v;
	void *buf;
	size_t len, n;
	int fd;

	save(42, 1, 1000, "x", "exit", 0, 4);
	/* Replace heap.pb.gz by a symlink to a secret: not read. */
	snprintf(path, sizeof(path), "%s/42-1/heap.pb.gz", dir);
	unlink(path);
	ck_assert_int_eq(symlink("/etc/shadow", path), 0);
	ck_assert_int_eq(statedir_load(dir, 42, "heap.pb.gz", 1 << 20, &buf, &len, NULL), -1);
	/* A directory that is not ours, a symlinked entry, a huge info: ignored. */
	snprintf(path, sizeof(path), "%s/not-an-entry", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/43-1", dir);
	ck_assert_int_eq(symlink("/tmp", path), 0);
	snprintf(path, sizeof(path), "%s/44-1", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/44-1/info", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
	close(fd);
	n = statedir_list(dir, &v);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(v[0].pid, 42);
	free(v);
	/* A state directory that is a symlink is refused. */
	snprintf(path, sizeof(path), "%s/link", dir);
	ck_assert_int_eq(symlink(dir, path), 0);
	ck_assert_int_eq(statedir_init(path, err, sizeof(err)), -1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("statedir");
	TCase *tc = tcase_create("statedir");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, save_list_load);
	tcase_add_test(tc, how_it_ended);
	tcase_add_test(tc, prune_by_count_size_age);
	tcase_add_test(tc, prune_count_shared_by_owners);
	tcase_add_test(tc, owner_is_the_real_uid);
	tcase_add_test(tc, planted_files_are_not_followed);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
