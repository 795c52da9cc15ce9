/*
 * tcppeer.h: who owns the other end of a TCP connection from this host.
 *
 * Every local user can connect from any loopback address (and from the
 * host's other addresses), so the address says nothing about who is
 * calling.  The kernel knows the client socket's
 * owner: sock_diag (NETLINK_SOCK_DIAG) looks a TCP socket up by its exact
 * four-tuple and reports its uid, as `ss -e` shows it.  The lookup is in
 * the netlink socket's network namespace: under systemd's PrivateNetwork=
 * that is a socket the unit passes (tcppeer_use_diag_socket).
 */
#ifndef GOMEMD_TCPPEER_H
#define GOMEMD_TCPPEER_H

#include <sys/socket.h>
#include <sys/types.h>

int tcppeer_use_diag_socket(int fd);
int tcppeer_uid(const struct sockaddr *local, const struct sockaddr *peer, uid_t *uid);
int tcppeer_uid_fd(int fd, uid_t *uid);

#endif /* GOMEMD_TCPPEER_H */
