/*
 * cgroup.h: where a process runs: its cgroup path and systemd unit, read
 * from /proc/PID/cgroup, so metrics can be aggregated by service.
 */
#ifndef GOMEMD_CGROUP_H
#define GOMEMD_CGROUP_H

#include <stddef.h>

/*
 * Pick the cgroup path out of the text of /proc/PID/cgroup: the cgroup v2
 * line "0::/path", else the v1 "name=systemd" hierarchy, else the first line.
 * Returns 0, or -1 when there is no line at all.
 */
int cgroup_parse(const char *text, char *path, size_t pathsz);
/*
 * The systemd unit of a cgroup path: its last component that ends in
 * ".service" or ".scope" ("" if none).  "/user.slice/user-1000.slice/
 * user@1000.service/app.slice/foo.service" gives "foo.service".
 */
void cgroup_unit(const char *path, char *unit, size_t unitsz);
/* Both for a live process; 0 or -errno (path and unit then ""). */
int cgroup_read(int pid, char *path, size_t pathsz, char *unit, size_t unitsz);

#endif /* GOMEMD_CGROUP_H */
