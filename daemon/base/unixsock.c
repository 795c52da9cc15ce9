/*
 * unixsock.c: the listening unix socket and its peers' credentials.
 *
 * unixsock_listen() replaces a stale socket left by a crash but never
 * another file, and refuses when a live gomemd answers on the path.  The
 * socket's directory must be writable by gomemd only (systemd's
 * RuntimeDirectory=gomemd): between bind() and chmod() the socket has the
 * process umask's mode, which the unit sets to 0077.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "unixsock.h"

/* The gid of a group name; 0 if found, -1 if not. */
int unixsock_group(const char *name, gid_t *gid)
{
	struct group gr, *res = NULL;
	char buf[4096];

	if (getgrnam_r(name, &gr, buf, sizeof buf, &res) != 0 || res == NULL)
		return -1;
	*gid = gr.gr_gid;
	return 0;
}

/* Whether something accepts connections at a socket path. */
static int live_socket(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), live;

	if (fd < 0)
		return 0;
	live = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 || errno == EAGAIN;
	close(fd);
	return live;
}

/*
 * Make a listening stream socket at path with the given mode, owned by
 * group (NULL or unknown: the process's group, with a note in err).
 * Returns the fd, or -1 with err.  err is also set, to a warning, when the
 * group does not exist but the socket was made.
 */
int unixsock_listen(const char *path, mode_t mode, const char *group, int backlog, char *err,
		    size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	gid_t gid;
	int fd;

	err[0] = '\0';
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (path[0] != '/' || strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "socket %s: not an absolute path of at most %zu bytes", path,
			 sizeof sa.sun_path - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "socket %s: exists and is not a socket; not replaced",
				 path);
			return -1;
		}
		if (live_socket(&sa)) {
			snprintf(err, errlen, "socket %s: another server answers there", path);
			return -1;
		}
		if (unlink(path) != 0) {
			snprintf(err, errlen, "socket %s: removing the stale socket: %s", path,
				 strerror(errno));
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket %s: %s", path, strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(path, mode) != 0 ||
	    listen(fd, backlog) != 0) {
		snprintf(err, errlen, "socket %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (group != NULL) {
		if (unixsock_group(group, &gid) != 0)
			snprintf(err, errlen,
				 "socket %s: no group %s; only root and %s's own "
				 "group may connect",
				 path, group, "gomemd");
		else if (chown(path, (uid_t)-1, gid) != 0)
			snprintf(err, errlen, "socket %s: giving it to group %s: %s", path, group,
				 strerror(errno));
	}
	return fd;
}

/* The credentials of a connected peer; 0 or -1 with errno. */
int unixsock_cred(int fd, struct unixsock_cred *c)
{
	struct ucred uc;
	socklen_t len = sizeof uc;
	socklen_t glen = sizeof c->groups;

	memset(c, 0, sizeof *c);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0)
		return -1;
	c->pid = uc.pid;
	c->uid = uc.uid;
	c->gid = uc.gid;
	/* Linux 4.13+: the supplementary groups; ERANGE when more than fit */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, c->groups, &glen) == 0)
		c->ngroups = glen / sizeof c->groups[0];
	else if (errno == ERANGE)
		c->ngroups = 0; /* too many to judge by: treated as none */
	return 0;
}
