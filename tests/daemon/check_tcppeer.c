/*
 * check_tcppeer.c: unit tests of daemon/base/tcppeer.c against the real
 * kernel: the owner of a loopback connection's client socket over IPv4,
 * IPv6 and IPv4 mapped into IPv6, a client that changed its uid (as root),
 * a client that closed its socket (not root's), a listener in another
 * network namespace (systemd's PrivateNetwork=), a local client from an
 * address that is not loopback, and no socket at all.
 */
#include <arpa/inet.h>
#include <check.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sched.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/tcppeer.h"
#include "check_run.h"

/* ss as addr:port of family fam; its length. */
static socklen_t fill(struct sockaddr_storage *ss, int fam, const char *addr, in_port_t port)
{
	memset(ss, 0, sizeof *ss);
	if (fam == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = port;
		ck_assert_int_eq(inet_pton(AF_INET, addr, &in->sin_addr), 1);
		return sizeof *in;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	in6->sin6_family = AF_INET6;
	in6->sin6_port = port;
	ck_assert_int_eq(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1);
	return sizeof *in6;
}

/* A listener on addr (family fam, port 0); its fd, *port set. */
static int listen_on(int fam, const char *addr, int v6only, in_port_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = fill(&ss, fam, addr, 0);
	int fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	ck_assert_int_ge(fd, 0);
	if (fam == AF_INET6)
		ck_assert_int_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only),
				 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&ss, len), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*port = fam == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
			       : ((struct sockaddr_in6 *)&ss)->sin6_port;
	return fd;
}

/* A client socket of family fam connected to addr:port; its fd. */
static int dial(int fam, const char *addr, in_port_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = fill(&ss, fam, addr, port);
	int fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&ss, len), 0);
	return fd;
}

/* Accept on l, ask for the client's uid; 0 with *uid, or -1 (errno in *err). */
static int accepted_uid(int l, uid_t *uid, int *err)
{
	int c = accept4(l, NULL, NULL, SOCK_CLOEXEC), r;

	ck_assert_int_ge(c, 0);
	r = tcppeer_uid_fd(c, uid);
	*err = errno;
	close(c);
	return r;
}

/* The three families: the uid is this process's. */
START_TEST(test_own_uid)
{
	static const struct {
		int lfam, v6only, cfam;
		const char *laddr, *caddr;
	} cases[] = {
	    {AF_INET, 0, AF_INET, "127.0.0.1", "127.0.0.1"},
	    {AF_INET, 0, AF_INET, "127.0.0.5", "127.0.0.5"},
	    {AF_INET6, 1, AF_INET6, "::1", "::1"},
	    /* a dual-stack listener, an IPv4 client: ::ffff:127.0.0.1 */
	    {AF_INET6, 0, AF_INET, "::", "127.0.0.1"},
	    /* an IPv4 listener, an IPv6 client of a mapped address */
	    {AF_INET, 0, AF_INET6, "127.0.0.1", "::ffff:127.0.0.1"},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		in_port_t port;
		int l = listen_on(cases[i].lfam, cases[i].laddr, cases[i].v6only, &port);
		int c = dial(cases[i].cfam, cases[i].caddr, port), err;
		uid_t uid = (uid_t)-1;

		ck_assert_msg(accepted_uid(l, &uid, &err) == 0, "case %zu: %s", i, strerror(err));
		ck_assert_msg(uid == getuid(), "case %zu: uid %u, want %u", i, (unsigned)uid,
			      (unsigned)getuid());
		close(c);
		close(l);
	}
}
END_TEST

/* A client that switched to another uid before it made its socket. */
START_TEST(test_other_uid)
{
	in_port_t port;
	int l, p[2], err;
	uid_t uid = (uid_t)-1;
	pid_t pid;
	char ok;

	if (geteuid() != 0)
		return; /* needs root to change uid; the run says so in its log */
	l = listen_on(AF_INET, "127.0.0.1", 0, &port);
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char c;

		close(p[0]);
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(1);
		int fd = dial(AF_INET, "127.0.0.1", port);

		(void)write(p[1], "c", 1);
		/* hold the socket until the parent has asked */
		(void)read(fd, &c, 1);
		_exit(0);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &ok, 1), 1);
	ck_assert_int_eq(accepted_uid(l, &uid, &err), 0);
	ck_assert_uint_eq(uid, 65534);
	close(p[0]);
	close(l);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}
END_TEST

/* A client that closed its socket is nobody's: not root's 0. */
START_TEST(test_closed_client)
{
	in_port_t port;
	int l = listen_on(AF_INET, "127.0.0.1", 0, &port);
	int c = dial(AF_INET, "127.0.0.1", port), err;
	uid_t uid = 12345;

	close(c);
	ck_assert_int_eq(accepted_uid(l, &uid, &err), -1);
	ck_assert_uint_eq(uid, 12345);
	close(l);
}
END_TEST

/*
 * gomemd in a network namespace of its own (systemd's PrivateNetwork=),
 * its listener made in the host's: its own sock_diag socket finds nothing
 * there; one made beside the listener (the unit's ListenNetlink=) does.
 * In a child, which leaves the test's namespace alone.
 */
START_TEST(test_other_netns)
{
	in_port_t port;
	int l, c, a, nl, status;
	pid_t pid;

	if (geteuid() != 0)
		return; /* unshare(CLONE_NEWNET) needs CAP_SYS_ADMIN */
	l = listen_on(AF_INET, "127.0.0.1", 0, &port);
	c = dial(AF_INET, "127.0.0.1", port);
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(a, 0);
	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	ck_assert_int_ge(nl, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		uid_t uid = 12345;

		if (unshare(CLONE_NEWNET) != 0)
			_exit(10);
		if (tcppeer_uid_fd(a, &uid) == 0)
			_exit(11); /* found from the wrong namespace */
		if (tcppeer_use_diag_socket(l) || !tcppeer_use_diag_socket(nl))
			_exit(12); /* a TCP socket taken for a diag one, or nl refused */
		if (tcppeer_uid_fd(a, &uid) != 0 || uid != 0)
			_exit(13);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
	close(nl);
	close(a);
	close(c);
	close(l);
}
END_TEST

/* No such socket (a remote client's), and ends that are not IP. */
START_TEST(test_no_socket)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(1)};
	struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons(2)};
	struct sockaddr_un u = {.sun_family = AF_UNIX};
	uid_t uid = 12345;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	inet_pton(AF_INET, "192.0.2.7", &b.sin_addr);
	errno = 0;
	ck_assert_int_eq(tcppeer_uid((struct sockaddr *)&a, (struct sockaddr *)&b, &uid), -1);
	ck_assert(errno == ENOENT || errno == EPROTO);
	b.sin_addr = a.sin_addr;
	errno = 0;
	ck_assert_int_eq(tcppeer_uid((struct sockaddr *)&a, (struct sockaddr *)&b, &uid), -1);
	ck_assert(errno == ENOENT || errno == EPROTO);
	errno = 0;
	ck_assert_int_eq(tcppeer_uid((struct sockaddr *)&a, (struct sockaddr *)&u, &uid), -1);
	ck_assert_int_eq(errno, EAFNOSUPPORT);
	ck_assert_uint_eq(uid, 12345);
}
END_TEST

/*
 * A local user need not connect from loopback: from the host's own other
 * address to a loopback listener, and to a listener beyond loopback, the
 * owner is found too.  In a network namespace of the child's own, whose lo
 * gets 192.0.2.7 (the host's network is left alone).
 */
START_TEST(test_local_not_loopback)
{
	int status;
	pid_t pid;

	if (geteuid() != 0)
		return; /* a network namespace needs CAP_SYS_ADMIN */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		static const char *const listen_at[] = {"127.0.0.1", "192.0.2.7"};
		size_t i;

		if (unshare(CLONE_NEWNET) != 0 ||
		    system("ip link set lo up && ip addr add 192.0.2.7/32 dev lo") != 0)
			_exit(10);
		for (i = 0; i < 2; i++) {
			struct sockaddr_in from = {.sin_family = AF_INET};
			in_port_t port;
			int l = listen_on(AF_INET, listen_at[i], 0, &port), c, err;
			uid_t uid = 12345;

			c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			inet_pton(AF_INET, "192.0.2.7", &from.sin_addr);
			if (bind(c, (struct sockaddr *)&from, sizeof from) != 0)
				_exit(11);
			{
				struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = port};

				inet_pton(AF_INET, listen_at[i], &to.sin_addr);
				if (connect(c, (struct sockaddr *)&to, sizeof to) != 0)
					_exit(12);
			}
			if (accepted_uid(l, &uid, &err) != 0 || uid != getuid())
				_exit(13 + (int)i);
			close(c);
			close(l);
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
}
END_TEST

int main(void)
{
	if (geteuid() != 0)
		printf(
		    "check_tcppeer: not root: the other-uid and namespace cases check nothing\n");
	CHECK_RUN("tcppeer", NULL, NULL, test_own_uid, test_other_uid, test_closed_client,
		  test_other_netns, test_no_socket, test_local_not_loopback);
}
