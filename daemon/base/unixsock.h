/*
 * unixsock.h: gomemd's unix socket: made safely, and who is at the other
 * end of a connection (SO_PEERCRED, SO_PEERGROUPS).
 */
#ifndef GOMEMD_UNIXSOCK_H
#define GOMEMD_UNIXSOCK_H

#include <stddef.h>
#include <sys/types.h>

#define UNIXSOCK_MAX_GROUPS 64

struct unixsock_cred {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t groups[UNIXSOCK_MAX_GROUPS]; /* supplementary, as many as fit */
	size_t ngroups;
};

int unixsock_listen(const char *path, mode_t mode, const char *group, int backlog, char *err,
		    size_t errlen);
int unixsock_cred(int fd, struct unixsock_cred *c);
int unixsock_group(const char *name, gid_t *gid);

#endif /* GOMEMD_UNIXSOCK_H */
