/*
 * tcppeer.c: the owner of a local TCP client's socket.
 *
 * One SOCK_DIAG_BY_FAMILY request without NLM_F_DUMP is the kernel's exact
 * lookup (inet_diag_find_one_icsk): the socket whose local end is the
 * client's address and port and whose remote end is ours.  The kernel
 * answers inside sendmsg(), so the reply is read without waiting; nothing
 * here blocks.  Any client is asked about, not only one from a loopback
 * address: a local user may connect from the host's other addresses too
 * (its own LAN or docker bridge address), and a remote client's socket is
 * simply not found.  The answer is checked against the question (a lookup
 * that found no connected socket may return a listener bound to the
 * client's port, whose remote end is empty; a socket its process has
 * closed reports uid 0, root's), and anything unexpected is "unknown": the
 * caller then keys the client by its address.
 *
 * The lookup runs in the network namespace of the netlink socket.  Under
 * systemd gomemd has a network of its own (PrivateNetwork=yes) and its
 * listening sockets come from gomemd.socket, in the host's: there the unit
 * passes a sock_diag socket as well (ListenNetlink=inet-diag), made in the
 * same namespace as the listeners, and every lookup uses it, one at a time
 * (diag_lock: the socket is shared, and each reply is read before the
 * next question; a reply left unread would also wake systemd's activation
 * after gomemd stops).  Without one, each lookup makes its own socket.
 */
#include "config.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcppeer.h"

static pthread_mutex_t diag_lock = PTHREAD_MUTEX_INITIALIZER;
static int diag_fd = -1; /* a passed sock_diag socket, or -1 (under diag_lock) */
static __u32 diag_seq;	 /* the last question's number on it (under diag_lock) */

/*
 * Is fd a netlink sock_diag socket (one systemd passed)?  Then lookups use
 * it from now on, and 1 is returned; else 0, and nothing changes.
 */
int tcppeer_use_diag_socket(int fd)
{
	int dom = 0, proto = -1;
	socklen_t dl = sizeof dom, pl = sizeof proto;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &dl) != 0 || dom != AF_NETLINK ||
	    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &pl) != 0 || proto != NETLINK_SOCK_DIAG)
		return 0;
	pthread_mutex_lock(&diag_lock);
	diag_fd = fd;
	pthread_mutex_unlock(&diag_lock);
	return 1;
}

/* A state a connected client socket can be in while its peer answers. */
static int connected_state(unsigned state)
{
	switch (state) {
	case TCP_ESTABLISHED:
	case TCP_FIN_WAIT1:
	case TCP_FIN_WAIT2:
	case TCP_CLOSE_WAIT:
	case TCP_CLOSING:
	case TCP_LAST_ACK:
		return 1;
	default:
		return 0;
	}
}

/*
 * One end of the connection as sock_diag wants it: its family, address words
 * and port (network order).  -1 for anything but IPv4 and IPv6.
 */
static int diag_end(const struct sockaddr *sa, int *family, __be32 addr[4], __be16 *port)
{
	memset(addr, 0, 4 * sizeof addr[0]);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		*family = AF_INET;
		addr[0] = in->sin_addr.s_addr;
		*port = in->sin_port;
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		*family = AF_INET6;
		memcpy(addr, &in6->sin6_addr, 16);
		*port = in6->sin6_port;
		return 0;
	}
	return -1;
}

/*
 * An IPv6 pair of v4-mapped addresses as the IPv4 pair: the kernel keeps
 * such a connection as an IPv4 one, asked about as one (a dual-stack
 * listener's client) and sometimes answered as IPv6 (an IPv6 socket
 * connected to a mapped address).
 */
static void fold_mapped(int *family, __be32 src[4], __be32 dst[4])
{
	if (*family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED((struct in6_addr *)src) ||
	    !IN6_IS_ADDR_V4MAPPED((struct in6_addr *)dst))
		return;
	*family = AF_INET;
	src[0] = src[3], dst[0] = dst[3];
	src[1] = src[2] = src[3] = dst[1] = dst[2] = dst[3] = 0;
}

/*
 * The uid owning the TCP socket whose local end is peer and whose remote
 * end is local (the client of our connection local <- peer), if that
 * socket is on this host, in the netlink socket's network namespace.
 * 0 with *uid set, or -1 with errno (ENOENT: no such socket, a remote
 * client's; EPROTO: an answer that does not match the question).
 */
int tcppeer_uid(const struct sockaddr *local, const struct sockaddr *peer, uid_t *uid)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req;
	union {
		struct nlmsghdr nlh;
		char buf[1024];
	} ans;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	struct sockaddr_nl from;
	socklen_t fromlen = sizeof from;
	const struct inet_diag_msg *m;
	__be32 src[4], dst[4];
	int fam, fam_l, fam_p, fd, saved;
	ssize_t n;

	memset(&req, 0, sizeof req);
	if (diag_end(peer, &fam_p, req.r.id.idiag_src, &req.r.id.idiag_sport) != 0 ||
	    diag_end(local, &fam_l, req.r.id.idiag_dst, &req.r.id.idiag_dport) != 0 ||
	    fam_p != fam_l) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	fold_mapped(&fam_p, req.r.id.idiag_src, req.r.id.idiag_dst);
	req.nlh.nlmsg_len = sizeof req;
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST;
	req.r.sdiag_family = (__u8)fam_p;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = ~0u;
	req.r.id.idiag_cookie[0] = req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

	pthread_mutex_lock(&diag_lock);
	fd = diag_fd;
	req.nlh.nlmsg_seq = ++diag_seq;
	if (fd >= 0) {
		/* whatever an earlier failure left unread */
		while (recv(fd, &ans, sizeof ans, MSG_DONTWAIT) >= 0)
			;
	} else {
		fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    NETLINK_SOCK_DIAG);
	}
	n = -1;
	if (fd >= 0 && sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) ==
			   (ssize_t)sizeof req)
		n = recvfrom(fd, &ans, sizeof ans, MSG_DONTWAIT, (struct sockaddr *)&from,
			     &fromlen);
	saved = errno;
	if (fd >= 0 && fd != diag_fd)
		close(fd);
	pthread_mutex_unlock(&diag_lock);
	if (n < 0) {
		errno = saved == EAGAIN ? ENOENT : saved;
		return -1;
	}
	if (fromlen < sizeof from || from.nl_pid != 0 || (size_t)n < sizeof ans.nlh ||
	    ans.nlh.nlmsg_len > (size_t)n || ans.nlh.nlmsg_seq != req.nlh.nlmsg_seq) {
		errno = EPROTO;
		return -1;
	}
	if (ans.nlh.nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(&ans.nlh);

		errno = ans.nlh.nlmsg_len >= NLMSG_LENGTH(sizeof *e) && e->error < 0 ? -e->error
										     : EPROTO;
		return -1;
	}
	if (ans.nlh.nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    ans.nlh.nlmsg_len < NLMSG_LENGTH(sizeof *m)) {
		errno = EPROTO;
		return -1;
	}
	m = NLMSG_DATA(&ans.nlh);
	memcpy(src, m->id.idiag_src, sizeof src);
	memcpy(dst, m->id.idiag_dst, sizeof dst);
	fam = m->idiag_family;
	fold_mapped(&fam, src, dst);
	/* The very socket asked for, connected to us (not a listener, nor
	 * a socket still connecting: a 4-tuple reused since), and still a
	 * process's (inode 0: a closed socket or a time-wait one, whose uid
	 * the kernel reports as 0). */
	if (fam != fam_p || !connected_state(m->idiag_state) || m->idiag_inode == 0 ||
	    m->id.idiag_sport != req.r.id.idiag_sport ||
	    m->id.idiag_dport != req.r.id.idiag_dport ||
	    memcmp(src, req.r.id.idiag_src, sizeof src) != 0 ||
	    memcmp(dst, req.r.id.idiag_dst, sizeof dst) != 0) {
		errno = EPROTO;
		return -1;
	}
	*uid = m->idiag_uid;
	return 0;
}

/* The same for an accepted connection's fd. */
int tcppeer_uid_fd(int fd, uid_t *uid)
{
	struct sockaddr_storage local, peer;
	socklen_t llen = sizeof local, plen = sizeof peer;

	if (getsockname(fd, (struct sockaddr *)&local, &llen) != 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &plen) != 0)
		return -1;
	return tcppeer_uid((struct sockaddr *)&local, (struct sockaddr *)&peer, uid);
}
