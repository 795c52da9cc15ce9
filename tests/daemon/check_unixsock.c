/*
 * check_unixsock.c: unit tests of daemon/base/unixsock.c: the socket's
 * mode and group, a stale socket replaced, a live one and a regular file
 * left alone, and a peer's credentials as the kernel reports them (a child
 * that changed its uid and groups, when run as root).
 */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/unixsock.h"
#include "check_run.h"

static char dir[64], path[128];

static void setup(void)
{
	strcpy(dir, "/tmp/check_unixsock.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/gomemd.sock", dir);
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

/* Connect to path; the fd or -1. */
static int dial(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

START_TEST(test_listen_mode_and_replace)
{
	char err[256];
	struct stat st;
	gid_t gid;
	int fd, fd2;
	FILE *f;

	fd = unixsock_listen(path, 0660, "root", 8, err, sizeof err);
	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0660);
	ck_assert_int_eq(unixsock_group("root", &gid), 0);
	ck_assert_int_eq(gid, 0);
	if (geteuid() == 0)
		ck_assert_int_eq(st.st_gid, 0);
	/* a live server is not displaced */
	fd2 = unixsock_listen(path, 0660, NULL, 8, err, sizeof err);
	ck_assert_int_eq(fd2, -1);
	ck_assert_ptr_nonnull(strstr(err, "another server"));
	/* a stale one (server gone) is */
	close(fd);
	fd = unixsock_listen(path, 0600, NULL, 8, err, sizeof err);
	ck_assert_msg(fd >= 0, "%s", err);
	close(fd);
	/* an unknown group is a warning, the socket is made */
	unlink(path);
	fd = unixsock_listen(path, 0660, "no-such-group-gomem-test", 8, err, sizeof err);
	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(strstr(err, "no group no-such-group-gomem-test"));
	close(fd);
	/* a regular file is never replaced */
	unlink(path);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(unixsock_listen(path, 0660, NULL, 8, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "not a socket"));
	ck_assert_int_eq(unixsock_listen("relative.sock", 0660, NULL, 8, err, sizeof err), -1);
}
END_TEST

START_TEST(test_peer_credentials)
{
	struct unixsock_cred c;
	char err[256];
	int lfd, cfd;
	pid_t child;
	size_t i;
	int has_group = 0;

	lfd = unixsock_listen(path, 0666, NULL, 8, err, sizeof err);
	ck_assert_msg(lfd >= 0, "%s", err);
	if (geteuid() == 0)
		chmod(dir, 0755);
	child = fork();
	if (child == 0) {
		if (geteuid() == 0) {
			gid_t groups[] = {4242, 4343};

			if (setgroups(2, groups) != 0 || setgid(4141) != 0 || setuid(65534) != 0)
				_exit(2);
		}
		if (dial() < 0)
			_exit(3);
		pause();
		_exit(0);
	}
	cfd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(cfd, 0);
	ck_assert_int_eq(unixsock_cred(cfd, &c), 0);
	ck_assert_int_eq(c.pid, child);
	if (geteuid() == 0) {
		ck_assert_int_eq(c.uid, 65534);
		ck_assert_int_eq(c.gid, 4141);
		for (i = 0; i < c.ngroups; i++)
			has_group += c.groups[i] == 4242 || c.groups[i] == 4343;
		ck_assert_int_eq(has_group, 2);
	} else {
		ck_assert_int_eq(c.uid, geteuid());
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(cfd);
	close(lfd);
}
END_TEST

int main(void)
{
	CHECK_RUN("unixsock", setup, teardown, test_listen_mode_and_replace, test_peer_credentials);
}
