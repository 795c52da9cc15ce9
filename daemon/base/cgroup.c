/* cgroup.c: cgroup path and systemd unit of a process. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/cgroup.h"
#include "base/procfs.h"

/* Copy n bytes of s into a sized buffer, truncating. */
static void copy_n(char *dst, size_t dstsz, const char *s, size_t n)
{
	if (dstsz == 0)
		return;
	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Does [s, s+n) end with suffix? */
static int ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n > k && memcmp(s + n - k, suffix, k) == 0;
}

int cgroup_parse(const char *text, char *path, size_t pathsz)
{
	const char *line, *end, *best = NULL, *bestend = NULL, *c1, *c2;
	int rank = 0, r;

	copy_n(path, pathsz, "", 0);
	for (line = text; *line != '\0'; line = *end ? end + 1 : end) {
		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		/* hierarchy-ID:controller-list:cgroup-path */
		c1 = memchr(line, ':', (size_t)(end - line));
		if (c1 == NULL)
			continue;
		c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1));
		if (c2 == NULL)
			continue;
		if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1)
			r = 3;
		else if (c2 - c1 - 1 == 12 && memcmp(c1 + 1, "name=systemd", 12) == 0)
			r = 2;
		else
			r = 1;
		if (r > rank) {
			rank = r;
			best = c2 + 1;
			bestend = end;
		}
	}
	if (best == NULL)
		return -1;
	copy_n(path, pathsz, best, (size_t)(bestend - best));
	return 0;
}

void cgroup_unit(const char *path, char *unit, size_t unitsz)
{
	const char *p = path, *q;
	size_t n;

	copy_n(unit, unitsz, "", 0);
	while (*p != '\0') {
		while (*p == '/')
			p++;
		q = strchr(p, '/');
		n = q != NULL ? (size_t)(q - p) : strlen(p);
		if (ends_with(p, n, ".service") || ends_with(p, n, ".scope"))
			copy_n(unit, unitsz, p, n);
		p += n;
	}
}

int cgroup_read(int pid, char *path, size_t pathsz, char *unit, size_t unitsz)
{
	char text[4096];

	copy_n(path, pathsz, "", 0);
	copy_n(unit, unitsz, "", 0);
	if (procfs_read(pid, "cgroup", text, sizeof text) < 0)
		return -ENOENT;
	if (cgroup_parse(text, path, pathsz) != 0)
		return -ENOENT;
	cgroup_unit(path, unit, unitsz);
	return 0;
}
